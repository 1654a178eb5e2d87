/*
 * reports.c - GET /v1/reports/monthly?month=YYYY-MM[&agency=CODE][&format=json|csv|html]:
 * the monthly report (server/reports/monthly.c) for admins (every agency, or one) and
 * officers (their own agency only), read in the request's read transaction. In cluster
 * mode every node that holds shards sends its counters of the month and this node sums
 * them (a node that does not answer makes it 503: a report never misses a shard).
 */
#include <stdlib.h>
#include <string.h>
#include "broker/broker.h"
#include "reports/reports.h"
#include "routes/routes.h"

static int report_gather(hoso_req *r, const char *month, const char *agency, int format);
static int report_reply(hoso_req *r, hoso_report *rep, int format);

int hoso_route_report_monthly(hoso_req *r)
{
    char month[16], agency[48], fmt[16];
    const char *m = hoso_req_query(r, "month", month, sizeof month);
    const char *a = hoso_req_query(r, "agency", agency, sizeof agency);
    const char *f = hoso_req_query(r, "format", fmt, sizeof fmt);
    hoso_report *rep = NULL;
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
    if (hoso_broker_active())
        return report_gather(r, m, a, format);
    if ((err = hoso_report_build(r->rtxn, m, a, &rep, &r->err)) != 0)
        return err;
    return report_reply(r, rep, format);
}

/* Cluster mode: every node's counters of the month, summed here. */
static int report_gathered(hoso_req *r, void *data, int result)
{
    hoso_gathered *g = data;
    hoso_report *rep = NULL;
    int format = atoi(g->tag), err = 0;
    const char *month = strchr(g->tag, '|');
    if (result != 0)
        err = hoso_fail(&r->err, HOSO_EUNAVAILABLE, "%s", g->why);
    else if ((err = hoso_report_empty(month != NULL ? month + 1 : "", &rep, &r->err)) == 0)
        for (size_t i = 0; i < g->n && err == 0; i++)
            if ((err = hoso_report_add_raw(rep, g->parts[i].data, g->parts[i].len)) != 0)
                err = hoso_fail(&r->err, HOSO_EINTERNAL, "node %s sent counters that do not add up", g->parts[i].node);
    hoso_gathered_free(g);
    if (err != 0) {
        hoso_report_free(rep);
        if (err == HOSO_EUNAVAILABLE)
            r->retry_after_ms = 1000;
        return err;
    }
    return report_reply(r, rep, format);
}

static int report_gather(hoso_req *r, const char *month, const char *agency, int format)
{
    msgpack_sbuffer q;
    char tag[64];
    hoso_report *probe = NULL;
    /* A bad month is the same 422 as on one node, before asking anyone. */
    if (hoso_report_empty(month, &probe, &r->err) != 0)
        return HOSO_EVALIDATION_FAILED;
    hoso_report_free(probe);
    const char *kv[] = {"month", month, "agency", agency};
    msgpack_sbuffer_init(&q);
    hoso_reports_query_pack(&q, "report", kv, 4);
    snprintf(tag, sizeof tag, "%d|%s", format, month);
    int err = hoso_broker_gather(r, q.data, q.size, tag, report_gathered);
    msgpack_sbuffer_destroy(&q);
    return err;
}

/* The report in format, as the reply (rep freed). */
static int report_reply(hoso_req *r, hoso_report *rep, int format)
{
    msgpack_sbuffer sb;
    int err;
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
