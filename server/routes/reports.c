/*
 * reports.c - GET /v1/reports/monthly?month=YYYY-MM[&agency=CODE][&format=json|csv|html]:
 * the monthly report (server/reports/monthly.c) for admins (every agency, or one) and
 * officers (their own agency only), read in the request's read transaction.
 */
#include <string.h>
#include "reports/reports.h"
#include "routes/routes.h"

int hoso_route_report_monthly(hoso_req *r)
{
    char month[16], agency[48], fmt[16];
    const char *m = hoso_req_query(r, "month", month, sizeof month);
    const char *a = hoso_req_query(r, "agency", agency, sizeof agency);
    const char *f = hoso_req_query(r, "format", fmt, sizeof fmt);
    hoso_report *rep = NULL;
    msgpack_sbuffer sb;
    int format = hoso_report_format(f), err;
    if (m == NULL)
        return hoso_fail_field(&r->err, "month", "required: a month YYYY-MM");
    if (format < 0)
        return hoso_fail_field(&r->err, "format", "one of json, csv, html");
    if (r->who.role == HOSO_ROLE_OFFICER) {
        if (a != NULL && strcmp(a, r->who.agency) != 0)
            return hoso_fail(&r->err, HOSO_EFORBIDDEN, "an officer sees the report of their own agency only");
        a = r->who.agency;
    }
    if ((err = hoso_report_build(r->rtxn, m, a, &rep, &r->err)) != 0)
        return err;
    msgpack_sbuffer_init(&sb);
    /* JSON and msgpack follow the request's negotiation like every reply. */
    err = hoso_report_render(rep, format == HOSO_REPORT_JSON ? HOSO_REPORT_MSGPACK : format, &sb);
    hoso_report_free(rep);
    if (err != 0) {
        msgpack_sbuffer_destroy(&sb);
        return hoso_fail(&r->err, err, "cannot build the report");
    }
    if (format == HOSO_REPORT_CSV)
        hoso_reply_raw(r, 200, "text/csv; charset=utf-8", sb.data, sb.size);
    else if (format == HOSO_REPORT_HTML)
        hoso_reply_raw(r, 200, "text/html; charset=utf-8", sb.data, sb.size);
    else
        hoso_reply(r, 200, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
