/* Unit tests of protocol/status.c: the status machine against docs/protocol.md's table. */
#include "../unit.h"
#include "hoso_protocol.h"

/* The allowed moves, written out again from docs/protocol.md rather than read from the
 * library's table. */
static const struct {
    int from, to;
    hoso_actor actor;
    unsigned needs;
} allowed[] = {
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
#define NALLOWED (sizeof(allowed) / sizeof(allowed[0]))

static int find(int from, int to)
{
    for (size_t i = 0; i < NALLOWED; i++)
        if (allowed[i].from == from && allowed[i].to == to)
            return (int)i;
    return -1;
}

static void test_allowed_moves(void)
{
    for (size_t i = 0; i < NALLOWED; i++) {
        const hoso_transition *t = hoso_status_transition(allowed[i].from, allowed[i].to);
        EXPECT(t != NULL);
        EXPECT_INT(t->actor, allowed[i].actor);
        EXPECT_INT(t->needs, allowed[i].needs);
        EXPECT_INT(hoso_status_check(allowed[i].from, allowed[i].to, allowed[i].actor), 0);
        hoso_actor other = allowed[i].actor == HOSO_ACTOR_CITIZEN ? HOSO_ACTOR_OFFICER : HOSO_ACTOR_CITIZEN;
        EXPECT_INT(hoso_status_check(allowed[i].from, allowed[i].to, other), HOSO_EILLEGAL_TRANSITION);
    }
}

static void test_everything_else_rejected(void)
{
    int rejected = 0;
    for (int from = 0; from <= 11; from++)
        for (int to = 0; to <= 11; to++) {
            if (find(from, to) >= 0)
                continue;
            EXPECT(hoso_status_transition(from, to) == NULL);
            EXPECT_INT(hoso_status_check(from, to, HOSO_ACTOR_OFFICER), HOSO_EILLEGAL_TRANSITION);
            EXPECT_INT(hoso_status_check(from, to, HOSO_ACTOR_CITIZEN), HOSO_EILLEGAL_TRANSITION);
            rejected++;
        }
    EXPECT_INT(rejected, 12 * 12 - (int)NALLOWED);
    EXPECT_INT(hoso_status_check(-1, 2, HOSO_ACTOR_OFFICER), HOSO_EILLEGAL_TRANSITION);
    EXPECT_INT(hoso_status_check(1, 2, (hoso_actor)0), HOSO_EILLEGAL_TRANSITION);
}

static void test_final_statuses(void)
{
    for (int s = -1; s <= 12; s++) {
        int want = s == 3 || s == 7 || s == 8 || s == 10;
        EXPECT_INT(hoso_status_is_final(s), want);
        if (want)
            for (int to = 0; to <= 11; to++)
                EXPECT(hoso_status_transition(s, to) == NULL);
    }
}

static void test_names(void)
{
    EXPECT_STR(hoso_status_name_vi(1), "Mới đăng ký");
    EXPECT_STR(hoso_status_name_vi(2), "Được tiếp nhận");
    EXPECT_STR(hoso_status_name_vi(3), "Không được tiếp nhận");
    EXPECT_STR(hoso_status_name_vi(4), "Đang xử lý");
    EXPECT_STR(hoso_status_name_vi(5), "Yêu cầu bổ sung giấy tờ");
    EXPECT_STR(hoso_status_name_vi(6), "Yêu cầu thực hiện nghĩa vụ tài chính");
    EXPECT_STR(hoso_status_name_vi(7), "Công dân yêu cầu rút hồ sơ");
    EXPECT_STR(hoso_status_name_vi(8), "Dừng xử lý");
    EXPECT_STR(hoso_status_name_vi(9), "Đã xử lý xong");
    EXPECT_STR(hoso_status_name_vi(10), "Đã trả kết quả");
    EXPECT_STR(hoso_status_name_vi(0), "?");
    EXPECT_STR(hoso_status_name_vi(11), "?");
    EXPECT_STR(hoso_status_slug(1), "submitted");
    EXPECT_STR(hoso_status_slug(2), "accepted");
    EXPECT_STR(hoso_status_slug(3), "refused");
    EXPECT_STR(hoso_status_slug(4), "processing");
    EXPECT_STR(hoso_status_slug(5), "supplement");
    EXPECT_STR(hoso_status_slug(6), "payment");
    EXPECT_STR(hoso_status_slug(7), "withdrawn");
    EXPECT_STR(hoso_status_slug(8), "stopped");
    EXPECT_STR(hoso_status_slug(9), "done");
    EXPECT_STR(hoso_status_slug(10), "returned");
    EXPECT_STR(hoso_status_slug(-3), "?");
}

UNIT_MAIN(UNIT(test_allowed_moves), UNIT(test_everything_else_rejected), UNIT(test_final_statuses),
          UNIT(test_names))
