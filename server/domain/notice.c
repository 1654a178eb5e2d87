/*
 * notice.c - a dossier told in one Vietnamese sentence for a chat: where it is, by
 * when, and what the citizen must do next. No personal data: no name, no form field,
 * since a chatbot lookup is verified by four digits only.
 */
#include <stdio.h>
#include <string.h>
#include "domain.h"

/* "dd/mm/yyyy" of t in Vietnam time (UTC+7, no DST). */
static void vn_date(int64_t t_ms, char out[11])
{
    char ymd[15];
    hoso_vn_portal_time(t_ms, ymd); /* yyyyMMddHHmmss */
    snprintf(out, 11, "%.2s/%.2s/%.4s", ymd + 6, ymd + 4, ymd);
}

/* The papers an officer asked for, "a, b, c", from their msgpack array. */
static void papers_asked(const hoso_dossier *d, char *out, size_t n)
{
    msgpack_unpacked u;
    size_t off = 0, w = 0;
    out[0] = '\0';
    if (d->papers_required.ptr == NULL || d->papers_required.len == 0)
        return;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, d->papers_required.ptr, d->papers_required.len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < u.data.via.array.size; i++) {
            const msgpack_object *p = &u.data.via.array.ptr[i];
            if (p->type != MSGPACK_OBJECT_STR)
                continue;
            int k = snprintf(out + w, n - w, "%s%.*s", w ? ", " : "", (int)p->via.str.size, p->via.str.ptr);
            if (k < 0 || (size_t)k >= n - w)
                break;
            w += (size_t)k;
        }
    }
    msgpack_unpacked_destroy(&u);
}

int hoso__dossier_overdue(const hoso_dossier *d, int64_t now_ms)
{
    return d->due_at > 0 && now_ms > d->due_at && !hoso_status_is_final((int)d->status) &&
           d->status != HOSO_ST_DONE;
}

int hoso__dossier_notice(const hoso_dossier *d, const char *service_name, int64_t now, char *out, size_t n)
{
    char due[11] = "", next[700] = "", papers[400];
    int st = (int)d->status;
    if (d->due_at > 0)
        vn_date(d->due_at, due);
    switch (st) {
    case HOSO_ST_SUBMITTED:
        snprintf(next, sizeof next, "Hồ sơ đang chờ cơ quan tiếp nhận.");
        break;
    case HOSO_ST_ACCEPTED:
    case HOSO_ST_PROCESSING:
        if (hoso__dossier_overdue(d, now))
            snprintf(next, sizeof next, "Hồ sơ đã quá hạn trả kết quả (%s); cơ quan sẽ thông báo ngày hẹn mới.", due);
        else if (d->due_at > 0)
            snprintf(next, sizeof next, "Ngày hẹn trả kết quả: %s. Công dân chưa cần làm gì thêm.", due);
        else
            snprintf(next, sizeof next, "Công dân chưa cần làm gì thêm.");
        break;
    case HOSO_ST_SUPPLEMENT:
        papers_asked(d, papers, sizeof papers);
        snprintf(next, sizeof next, "Cơ quan đề nghị bổ sung: %s. Vui lòng bổ sung qua ứng dụng.",
                 papers[0] ? papers : "giấy tờ theo yêu cầu");
        break;
    case HOSO_ST_PAYMENT:
        snprintf(next, sizeof next, "Vui lòng nộp phí, lệ phí %lld đồng để hồ sơ được xử lý tiếp.", (long long)d->fee);
        break;
    case HOSO_ST_REFUSED:
    case HOSO_ST_STOPPED:
        snprintf(next, sizeof next, "Lý do: %.*s.", (int)(d->reason.len < 500 ? d->reason.len : 500),
                 d->reason.ptr != NULL ? d->reason.ptr : "");
        break;
    case HOSO_ST_WITHDRAWN:
        snprintf(next, sizeof next, "Hồ sơ đã được rút theo yêu cầu của công dân.");
        break;
    case HOSO_ST_DONE:
        snprintf(next, sizeof next, "Kết quả đã sẵn sàng: vui lòng nhận tại bộ phận một cửa.");
        break;
    case HOSO_ST_RETURNED:
        snprintf(next, sizeof next, "Kết quả đã được trả. Mời công dân đánh giá mức độ hài lòng trong ứng dụng.");
        break;
    }
    int k = snprintf(out, n, "Hồ sơ %s (%s) tại cơ quan %s: %s. %s", d->code.ptr, service_name, d->agency.ptr,
                     hoso_status_name_vi(st), next);
    return k < 0 || (size_t)k >= n ? HOSO_ENOMEM : 0;
}
