/*
 * ops.c - operations endpoints: /healthz, /metrics (Prometheus text), /v1/stats (per
 * agency and service counters, Decree 42/2022 art. 16 monitoring) and
 * /v1/stats/satisfaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "broker/broker.h"
#include "reports/reports.h"
#include "routes.h"

int hoso_route_healthz(hoso_req *r)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "status");
    hoso_pack_cstr(&pk, "ok");
    hoso_pack_cstr(&pk, "epoch");
    hoso_pack_cstr(&pk, hoso_store_epoch(hoso_server_store(r->srv)));
    hoso_pack_cstr(&pk, "version");
    hoso_pack_cstr(&pk, HOSO_VERSION);
    hoso_reply(r, 200, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

int hoso_route_metrics(hoso_req *r)
{
    msgpack_sbuffer text;
    msgpack_sbuffer_init(&text);
    hoso_metrics_render(r->srv, &text);
    hoso_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text.data, text.size);
    msgpack_sbuffer_destroy(&text);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* /v1/stats: the store keeps one row per agency, service and day; the reply sums the
 * days of each (agency, service), optionally within ?from=YYYYMMDD&to=YYYYMMDD.
 * /v1/stats/satisfaction?month=YYYY-MM[&agency=]: the ratings of a month per agency,
 * service and question, a cell of too few ratings showing its count only. Both are
 * server/reports/tables.c's; in cluster mode every node that holds shards sends its
 * part and this node sums them (503 when one does not answer). */

/* "YYYYMMDD", a real calendar date: the day keys of the stats table. */
static int is_day(const char *s)
{
    char iso[11];
    if (strlen(s) != 8 || strspn(s, "0123456789") != 8)
        return 0;
    snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2s", s, s + 4, s + 6);
    return hoso_date_parse(iso, 10, NULL, NULL, NULL);
}

/* The reply from every node's part (cluster mode). g->tag: "stats" or "sat|MONTH". */
static int table_gathered(hoso_req *r, void *data, int result)
{
    hoso_gathered *g = data;
    msgpack_sbuffer sb;
    int err = 0;
    msgpack_sbuffer_init(&sb);
    if (result != 0) {
        r->retry_after_ms = 1000;
        err = hoso_fail(&r->err, HOSO_EUNAVAILABLE, "%s", g->why);
    } else {
        const void **parts = calloc(g->n + 1, sizeof(*parts));
        size_t *lens = calloc(g->n + 1, sizeof(*lens));
        if (parts == NULL || lens == NULL) {
            err = HOSO_ENOMEM;
        } else {
            for (size_t i = 0; i < g->n; i++) {
                parts[i] = g->parts[i].data;
                lens[i] = g->parts[i].len;
            }
            err = strncmp(g->tag, "sat|", 4) == 0 ? hoso_satisfaction_table(g->tag + 4, parts, lens, g->n, &sb)
                                                   : hoso_stats_table(parts, lens, g->n, &sb);
            if (err != 0)
                err = hoso_fail(&r->err, err == HOSO_ECORRUPT ? HOSO_EINTERNAL : err,
                                "a node sent counters that do not add up");
        }
        free(parts);
        free(lens);
    }
    hoso_gathered_free(g);
    if (err == 0)
        hoso_reply(r, 200, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

/* The query for every node (cluster mode): {q: kind, keys...}. */
static int gather_table(hoso_req *r, const char *kind, const char *const *kv, size_t nkv, const char *tag)
{
    msgpack_sbuffer q;
    msgpack_sbuffer_init(&q);
    hoso_reports_query_pack(&q, kind, kv, nkv);
    int err = hoso_broker_gather(r, q.data, q.size, tag, table_gathered);
    msgpack_sbuffer_destroy(&q);
    return err;
}

/* A single node: its own part (raw, made with result err, destroyed here) is the
 * whole table. */
static int local_table(hoso_req *r, int err, msgpack_sbuffer *raw, const char *sat_month)
{
    msgpack_sbuffer sb;
    const void *parts[1] = {raw->data};
    size_t lens[1] = {raw->size};
    msgpack_sbuffer_init(&sb);
    if (err == 0)
        err = sat_month != NULL ? hoso_satisfaction_table(sat_month, parts, lens, 1, &sb)
                                : hoso_stats_table(parts, lens, 1, &sb);
    if (err == 0)
        hoso_reply(r, 200, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(raw);
    return err;
}

int hoso_route_stats(hoso_req *r)
{
    char from[16], to[16], agency[48];
    const char *f = hoso_req_query(r, "from", from, sizeof(from));
    const char *t = hoso_req_query(r, "to", to, sizeof(to));
    if (f != NULL && !is_day(f))
        hoso_fail_field(&r->err, "from", "must be a date YYYYMMDD");
    if (t != NULL && !is_day(t))
        hoso_fail_field(&r->err, "to", "must be a date YYYYMMDD");
    if (r->err.err != 0)
        return r->err.err;
    const char *a = hoso_req_query(r, "agency", agency, sizeof(agency));
    /* Officers see their own agency only. */
    if (r->who.role == HOSO_ROLE_OFFICER)
        a = r->who.agency;
    if (hoso_broker_active()) {
        const char *kv[] = {"from", f, "to", t, "agency", a};
        return gather_table(r, "stats", kv, 6, "stats");
    }
    msgpack_sbuffer raw;
    msgpack_sbuffer_init(&raw);
    return local_table(r, hoso_stats_raw(r->rtxn, f, t, a, &raw), &raw, NULL);
}

int hoso_route_stats_satisfaction(hoso_req *r)
{
    char month[16], agency[48], tag[32];
    const char *m = hoso_req_query(r, "month", month, sizeof(month));
    const char *a = hoso_req_query(r, "agency", agency, sizeof(agency));
    if (m == NULL || strlen(m) != 7 || m[4] != '-' || strspn(m, "0123456789-") != 7 || m[5] > '1' ||
        (m[5] == '1' && m[6] > '2') || (m[5] == '0' && m[6] == '0'))
        return hoso_fail_field(&r->err, "month", "required: a month YYYY-MM");
    if (r->who.role == HOSO_ROLE_OFFICER)
        a = r->who.agency; /* officers see their own agency only */
    if (hoso_broker_active()) {
        const char *kv[] = {"month", m, "agency", a};
        snprintf(tag, sizeof tag, "sat|%s", m);
        return gather_table(r, "satisfaction", kv, 4, tag);
    }
    msgpack_sbuffer raw;
    msgpack_sbuffer_init(&raw);
    int err = local_table(r, hoso_satisfaction_raw(r->rtxn, m, a, &raw), &raw, m);
    return err != 0 ? hoso_fail(&r->err, err, "cannot read the ratings") : 0;
}
