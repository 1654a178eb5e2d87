/*
 * ops.c - operations endpoints: /healthz, /metrics (Prometheus text) and
 * /v1/stats (per agency and service counters, Decree 42/2022 art. 16 monitoring).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
 * days of each (agency, service), optionally within ?from=YYYYMMDD&to=YYYYMMDD. */

typedef struct stat_sum {
    char agency[48], service[64];
    uint64_t received, on_time, late, overdue, by_status[11];
} stat_sum;

typedef struct stat_ctx {
    stat_sum *rows;
    size_t n, cap;
    const char *from, *to, *agency;
    int nomem;
} stat_ctx;

static int on_stat_row(void *arg, const hoso_stat_row *row)
{
    stat_ctx *c = arg;
    if ((c->from != NULL && strcmp(row->day, c->from) < 0) || (c->to != NULL && strcmp(row->day, c->to) > 0))
        return 0;
    if (c->agency != NULL && strcmp(row->agency, c->agency) != 0)
        return 0;
    stat_sum *s = NULL;
    /* Rows come in key order, so a new (agency, service) is always the last one. */
    if (c->n > 0 && strcmp(c->rows[c->n - 1].agency, row->agency) == 0 &&
        strcmp(c->rows[c->n - 1].service, row->service) == 0) {
        s = &c->rows[c->n - 1];
    } else {
        if (c->n == c->cap) {
            size_t cap = c->cap != 0 ? c->cap * 2 : 32;
            stat_sum *nr = realloc(c->rows, cap * sizeof(*nr));
            if (nr == NULL) {
                c->nomem = 1;
                return 1;
            }
            c->rows = nr;
            c->cap = cap;
        }
        s = &c->rows[c->n++];
        memset(s, 0, sizeof(*s));
        snprintf(s->agency, sizeof(s->agency), "%s", row->agency);
        snprintf(s->service, sizeof(s->service), "%s", row->service);
    }
    s->received += row->c[HOSO_STAT_RECEIVED];
    s->on_time += row->c[HOSO_STAT_EARLY] + row->c[HOSO_STAT_ON_TIME];
    s->late += row->c[HOSO_STAT_LATE];
    s->overdue += row->c[HOSO_STAT_OVERDUE];
    for (int i = 0; i < 11; i++)
        s->by_status[i] += row->by_status[i];
    return 0;
}

/* "YYYYMMDD", a real calendar date: the day keys of the stats table. */
static int is_day(const char *s)
{
    char iso[11];
    if (strlen(s) != 8 || strspn(s, "0123456789") != 8)
        return 0;
    snprintf(iso, sizeof(iso), "%.4s-%.2s-%.2s", s, s + 4, s + 6);
    return hoso_date_parse(iso, 10, NULL, NULL, NULL);
}

int hoso_route_stats(hoso_req *r)
{
    char from[16], to[16], agency[48];
    stat_ctx c;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int err;

    memset(&c, 0, sizeof(c));
    msgpack_sbuffer_init(&sb);
    c.from = hoso_req_query(r, "from", from, sizeof(from));
    c.to = hoso_req_query(r, "to", to, sizeof(to));
    if (c.from != NULL && !is_day(c.from))
        hoso_fail_field(&r->err, "from", "must be a date YYYYMMDD");
    if (c.to != NULL && !is_day(c.to))
        hoso_fail_field(&r->err, "to", "must be a date YYYYMMDD");
    if (r->err.err != 0) {
        err = r->err.err;
        goto Exit;
    }
    c.agency = hoso_req_query(r, "agency", agency, sizeof(agency));
    /* Officers see their own agency only. */
    if (r->who.role == HOSO_ROLE_OFFICER)
        c.agency = r->who.agency;
    err = hoso_stats_each(r->rtxn, c.agency, c.to, on_stat_row, &c);
    if (c.nomem)
        err = HOSO_ENOMEM;
    if (err < 0)
        goto Exit;
    err = 0;

    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "rows");
    msgpack_pack_array(&pk, c.n);
    for (size_t i = 0; i < c.n; i++) {
        const stat_sum *s = &c.rows[i];
        size_t nst = 0;
        for (int st = HOSO_ST_MIN; st <= HOSO_ST_MAX; st++)
            nst += s->by_status[st] != 0;
        msgpack_pack_map(&pk, 7);
        hoso_pack_cstr(&pk, "agency");
        hoso_pack_cstr(&pk, s->agency);
        hoso_pack_cstr(&pk, "service");
        hoso_pack_cstr(&pk, s->service);
        hoso_pack_cstr(&pk, "received");
        msgpack_pack_uint64(&pk, s->received);
        hoso_pack_cstr(&pk, "on_time");
        msgpack_pack_uint64(&pk, s->on_time);
        hoso_pack_cstr(&pk, "late");
        msgpack_pack_uint64(&pk, s->late);
        hoso_pack_cstr(&pk, "overdue");
        msgpack_pack_uint64(&pk, s->overdue);
        hoso_pack_cstr(&pk, "by_status");
        msgpack_pack_map(&pk, nst);
        for (int st = HOSO_ST_MIN; st <= HOSO_ST_MAX; st++) {
            if (s->by_status[st] == 0)
                continue;
            char key[4];
            snprintf(key, sizeof(key), "%d", st);
            hoso_pack_cstr(&pk, key);
            msgpack_pack_uint64(&pk, s->by_status[st]);
        }
    }
    hoso_reply(r, 200, sb.data, sb.size);

Exit:
    free(c.rows);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* /v1/stats/satisfaction?month=YYYY-MM[&agency=]: the ratings of a month per agency,
 * service and question. A cell of fewer than SAT_MIN ratings shows its count only, so
 * that no small group of assessors can be singled out (Decree 42/2022 art. 13). */

#define SAT_MIN 5

static int on_sat_row(void *ctx, const hoso_satisfaction_row *row)
{
    msgpack_packer *pk = ctx;
    int small = row->count < SAT_MIN;
    if (msgpack_pack_map(pk, small ? 5 : 6) || hoso_pack_kcstr(pk, "agency", row->agency) ||
        hoso_pack_kcstr(pk, "service", row->service) || hoso_pack_kcstr(pk, "question", row->question) ||
        hoso_pack_kint(pk, "count", (int64_t)row->count))
        return HOSO_ENOMEM;
    if (small)
        return hoso_pack_cstr(pk, "suppressed") || msgpack_pack_true(pk) ? HOSO_ENOMEM : 0;
    if (hoso_pack_cstr(pk, "avg") || msgpack_pack_double(pk, (double)row->sum / (double)row->count) ||
        hoso_pack_cstr(pk, "dist") || msgpack_pack_array(pk, 5))
        return HOSO_ENOMEM;
    for (int i = 0; i < 5; i++)
        if (msgpack_pack_uint64(pk, row->dist[i]))
            return HOSO_ENOMEM;
    return 0;
}

static int count_sat(void *ctx, const hoso_satisfaction_row *row)
{
    (void)row;
    (*(size_t *)ctx)++;
    return 0;
}

int hoso_route_stats_satisfaction(hoso_req *r)
{
    char month[16], agency[48];
    const char *m = hoso_req_query(r, "month", month, sizeof(month));
    const char *a = hoso_req_query(r, "agency", agency, sizeof(agency));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n = 0;
    int err;
    if (m == NULL || strlen(m) != 7 || m[4] != '-' || strspn(m, "0123456789-") != 7 || m[5] > '1' ||
        (m[5] == '1' && m[6] > '2') || (m[5] == '0' && m[6] == '0'))
        return hoso_fail_field(&r->err, "month", "required: a month YYYY-MM");
    if (r->who.role == HOSO_ROLE_OFFICER)
        a = r->who.agency; /* officers see their own agency only */
    if ((err = hoso_satisfaction_each(r->rtxn, m, a, count_sat, &n)) != 0)
        return hoso_fail(&r->err, err, "cannot read the ratings");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 3) || hoso_pack_kcstr(&pk, "month", m) || hoso_pack_kint(&pk, "min_count", SAT_MIN) ||
        hoso_pack_cstr(&pk, "rows") || msgpack_pack_array(&pk, n) ||
        (err = hoso_satisfaction_each(r->rtxn, m, a, on_sat_row, &pk)) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return hoso_fail(&r->err, err ? err : HOSO_ENOMEM, "cannot build the satisfaction table");
    }
    hoso_reply(r, 200, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
