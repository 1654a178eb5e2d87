/*
 * status.c - the dossier status machine (national portal codes 1..10) as one table.
 */
#include <stddef.h>

#include "hoso_protocol.h"

/* Every allowed move, exactly as the status table of docs/protocol.md lists them. A
 * withdrawal carries the citizen's reason; acceptance sets the due date (computed when
 * the officer gives none); 6 -> 4 is the officer recording the payment. */
static const hoso_transition transitions[] = {
    {1, 2, HOSO_ACTOR_OFFICER, HOSO_NEED_DUE_AT},
    {1, 3, HOSO_ACTOR_OFFICER, HOSO_NEED_REASON},
    {1, 7, HOSO_ACTOR_CITIZEN, HOSO_NEED_REASON},
    {2, 4, HOSO_ACTOR_OFFICER, 0},
    {2, 5, HOSO_ACTOR_OFFICER, HOSO_NEED_PAPERS_REQUIRED},
    {2, 7, HOSO_ACTOR_CITIZEN, HOSO_NEED_REASON},
    {4, 5, HOSO_ACTOR_OFFICER, HOSO_NEED_PAPERS_REQUIRED},
    {4, 6, HOSO_ACTOR_OFFICER, HOSO_NEED_FEE},
    {4, 8, HOSO_ACTOR_OFFICER, HOSO_NEED_REASON},
    {4, 9, HOSO_ACTOR_OFFICER, HOSO_NEED_RESULT},
    {5, 4, HOSO_ACTOR_CITIZEN, 0},
    {5, 7, HOSO_ACTOR_CITIZEN, HOSO_NEED_REASON},
    {6, 4, HOSO_ACTOR_OFFICER, 0},
    {9, 10, HOSO_ACTOR_OFFICER, 0},
};

typedef struct status_row {
    const char *name_vi;
    const char *slug;
    int final;
} status_row;

static const status_row statuses[HOSO_ST_MAX + 1] = {
    [HOSO_ST_SUBMITTED] = {"Mới đăng ký", "submitted", 0},
    [HOSO_ST_ACCEPTED] = {"Được tiếp nhận", "accepted", 0},
    [HOSO_ST_REFUSED] = {"Không được tiếp nhận", "refused", 1},
    [HOSO_ST_PROCESSING] = {"Đang xử lý", "processing", 0},
    [HOSO_ST_SUPPLEMENT] = {"Yêu cầu bổ sung giấy tờ", "supplement", 0},
    [HOSO_ST_PAYMENT] = {"Yêu cầu thực hiện nghĩa vụ tài chính", "payment", 0},
    [HOSO_ST_WITHDRAWN] = {"Công dân yêu cầu rút hồ sơ", "withdrawn", 1},
    [HOSO_ST_STOPPED] = {"Dừng xử lý", "stopped", 1},
    [HOSO_ST_DONE] = {"Đã xử lý xong", "done", 0},
    [HOSO_ST_RETURNED] = {"Đã trả kết quả", "returned", 1},
};

static int status_valid(int status)
{
    return status >= HOSO_ST_MIN && status <= HOSO_ST_MAX;
}

const hoso_transition *hoso_status_transition(int from, int to)
{
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
        if (transitions[i].from == from && transitions[i].to == to)
            return &transitions[i];
    return NULL;
}

int hoso_status_check(int from, int to, hoso_actor actor)
{
    if (!status_valid(from) || !status_valid(to))
        return HOSO_EILLEGAL_TRANSITION;
    const hoso_transition *t = hoso_status_transition(from, to);
    if (t == NULL || t->actor != actor)
        return HOSO_EILLEGAL_TRANSITION;
    return 0;
}

int hoso_status_is_final(int status)
{
    return status_valid(status) && statuses[status].final;
}

const char *hoso_status_name_vi(int status)
{
    return status_valid(status) ? statuses[status].name_vi : "?";
}

const char *hoso_status_slug(int status)
{
    return status_valid(status) ? statuses[status].slug : "?";
}
