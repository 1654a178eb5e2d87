/*
 * tables.c - the two monitoring tables of the API: GET /v1/stats (per agency and
 * service, summed over days) and GET /v1/stats/satisfaction (ratings of a month per
 * agency, service and question). Each is built in two steps: a node's raw part from
 * its store, then the reply from one part (a single node) or from every node's (a
 * cluster), summed; so the two answer alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "reports/reports.h"

#define SAT_MIN 5 /* a satisfaction cell under this shows its count only (Decree 42 art. 13) */

/* ---------------------------------------------------------------------------------- */
/* Rows keyed by strings, summed */

typedef struct trow {
    char k[3][64];      /* agency, service, question ("" for stats) */
    uint64_t v[16];     /* the numbers, in the table's order */
} trow;

typedef struct table {
    trow *rows;
    size_t n, cap;
    size_t nk, nv;
    int nomem;
} table;

static int trow_cmp(const void *a, const void *b)
{
    const trow *x = a, *y = b;
    for (int i = 0; i < 3; i++) {
        int r = strcmp(x->k[i], y->k[i]);
        if (r != 0)
            return r;
    }
    return 0;
}

/* The row of keys among the sorted first n0, or a new one at the end. */
static trow *table_row(table *t, size_t n0, const char *const *keys)
{
    trow key;
    memset(&key, 0, sizeof key);
    for (size_t i = 0; i < t->nk; i++)
        snprintf(key.k[i], sizeof key.k[i], "%s", keys[i]);
    trow *r = n0 > 0 ? bsearch(&key, t->rows, n0, sizeof *r, trow_cmp) : NULL;
    if (r != NULL)
        return r;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        trow *nr = realloc(t->rows, cap * sizeof *nr);
        if (nr == NULL) {
            t->nomem = 1;
            return NULL;
        }
        t->rows = nr;
        t->cap = cap;
    }
    r = &t->rows[t->n++];
    *r = key;
    return r;
}

/* A part: [[key..., number..., [array of numbers]?]...] with nk keys and nv numbers
 * (the last nl of them in one array when nl > 0, as the part packs them). */
static int table_add_part(table *t, const void *raw, size_t len, size_t nl)
{
    msgpack_unpacked u;
    int rc = HOSO_ECORRUPT;
    size_t n0 = t->n;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, raw, len, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_ARRAY) {
        rc = 0;
        size_t width = t->nk + (t->nv - nl) + (nl > 0);
        for (uint32_t i = 0; rc == 0 && i < u.data.via.array.size; i++) {
            const msgpack_object *o = &u.data.via.array.ptr[i];
            const char *keys[3];
            char kb[3][64];
            if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != width) {
                rc = HOSO_ECORRUPT;
                break;
            }
            const msgpack_object *a = o->via.array.ptr;
            for (size_t k = 0; k < t->nk && rc == 0; k++) {
                if (a[k].type != MSGPACK_OBJECT_STR || a[k].via.str.size >= sizeof kb[k])
                    rc = HOSO_ECORRUPT;
                else
                    snprintf(kb[k], sizeof kb[k], "%.*s", (int)a[k].via.str.size, a[k].via.str.ptr);
                keys[k] = kb[k];
            }
            trow *r = rc == 0 ? table_row(t, n0, keys) : NULL;
            if (rc == 0 && r == NULL)
                rc = HOSO_ENOMEM;
            for (size_t v = 0; rc == 0 && v < t->nv - nl; v++) {
                if (a[t->nk + v].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                    rc = HOSO_ECORRUPT;
                else
                    r->v[v] += a[t->nk + v].via.u64;
            }
            if (rc == 0 && nl > 0) {
                const msgpack_object *arr = &a[width - 1];
                if (arr->type != MSGPACK_OBJECT_ARRAY || arr->via.array.size != nl)
                    rc = HOSO_ECORRUPT;
                for (size_t v = 0; rc == 0 && v < nl; v++) {
                    if (arr->via.array.ptr[v].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                        rc = HOSO_ECORRUPT;
                    else
                        r->v[t->nv - nl + v] += arr->via.array.ptr[v].via.u64;
                }
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    /* A part lists each key once, so its new rows never meet each other. */
    if (t->n > 1)
        qsort(t->rows, t->n, sizeof *t->rows, trow_cmp);
    return t->nomem ? HOSO_ENOMEM : rc;
}

/* ---------------------------------------------------------------------------------- */
/* /v1/stats */

/* v: received, on_time, late, overdue, then by_status[0..10] */
#define ST_NV (4 + 11)

typedef struct stat_ctx {
    table t;
    const char *from, *to, *agency;
} stat_ctx;

static int on_stat_row(void *arg, const hoso_stat_row *row)
{
    stat_ctx *c = arg;
    if ((c->from != NULL && strcmp(row->day, c->from) < 0) || (c->to != NULL && strcmp(row->day, c->to) > 0))
        return 0;
    if (c->agency != NULL && strcmp(row->agency, c->agency) != 0)
        return 0;
    trow *r;
    /* Rows come in key order, so a new (agency, service) is always the last one. */
    if (c->t.n > 0 && strcmp(c->t.rows[c->t.n - 1].k[0], row->agency) == 0 &&
        strcmp(c->t.rows[c->t.n - 1].k[1], row->service) == 0) {
        r = &c->t.rows[c->t.n - 1];
    } else {
        const char *keys[2] = {row->agency, row->service};
        if ((r = table_row(&c->t, 0, keys)) == NULL)
            return 1;
    }
    r->v[0] += row->c[HOSO_STAT_RECEIVED];
    r->v[1] += row->c[HOSO_STAT_EARLY] + row->c[HOSO_STAT_ON_TIME];
    r->v[2] += row->c[HOSO_STAT_LATE];
    r->v[3] += row->c[HOSO_STAT_OVERDUE];
    for (int i = 0; i < 11; i++)
        r->v[4 + i] += row->by_status[i];
    return 0;
}

static void pack_rows_raw(const table *t, size_t nl, msgpack_packer *pk)
{
    msgpack_pack_array(pk, t->n);
    for (size_t i = 0; i < t->n; i++) {
        const trow *r = &t->rows[i];
        msgpack_pack_array(pk, t->nk + (t->nv - nl) + (nl > 0));
        for (size_t k = 0; k < t->nk; k++)
            hoso_pack_cstr(pk, r->k[k]);
        for (size_t v = 0; v < t->nv - nl; v++)
            msgpack_pack_uint64(pk, r->v[v]);
        if (nl > 0) {
            msgpack_pack_array(pk, nl);
            for (size_t v = t->nv - nl; v < t->nv; v++)
                msgpack_pack_uint64(pk, r->v[v]);
        }
    }
}

int hoso_stats_raw(hoso_txn *txn, const char *from, const char *to, const char *agency, msgpack_sbuffer *out)
{
    stat_ctx c;
    msgpack_packer pk;
    memset(&c, 0, sizeof c);
    c.t.nk = 2;
    c.t.nv = ST_NV;
    c.from = from;
    c.to = to;
    c.agency = agency != NULL && agency[0] != '\0' ? agency : NULL;
    int err = hoso_stats_each(txn, c.agency, to, on_stat_row, &c);
    if (c.t.nomem)
        err = HOSO_ENOMEM;
    if (err >= 0) {
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        pack_rows_raw(&c.t, 11, &pk);
        err = 0;
    }
    free(c.t.rows);
    return err;
}

int hoso_stats_table(const void *const *parts, const size_t *lens, size_t n, msgpack_sbuffer *out)
{
    table t;
    msgpack_packer pk;
    int err = 0;
    memset(&t, 0, sizeof t);
    t.nk = 2;
    t.nv = ST_NV;
    for (size_t i = 0; i < n && err == 0; i++)
        err = table_add_part(&t, parts[i], lens[i], 11);
    if (err == 0) {
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        hoso_pack_cstr(&pk, "rows");
        msgpack_pack_array(&pk, t.n);
        for (size_t i = 0; i < t.n; i++) {
            const trow *r = &t.rows[i];
            size_t nst = 0;
            for (int st = HOSO_ST_MIN; st <= HOSO_ST_MAX; st++)
                nst += r->v[4 + st] != 0;
            msgpack_pack_map(&pk, 7);
            hoso_pack_kcstr(&pk, "agency", r->k[0]);
            hoso_pack_kcstr(&pk, "service", r->k[1]);
            hoso_pack_cstr(&pk, "received");
            msgpack_pack_uint64(&pk, r->v[0]);
            hoso_pack_cstr(&pk, "on_time");
            msgpack_pack_uint64(&pk, r->v[1]);
            hoso_pack_cstr(&pk, "late");
            msgpack_pack_uint64(&pk, r->v[2]);
            hoso_pack_cstr(&pk, "overdue");
            msgpack_pack_uint64(&pk, r->v[3]);
            hoso_pack_cstr(&pk, "by_status");
            msgpack_pack_map(&pk, nst);
            for (int st = HOSO_ST_MIN; st <= HOSO_ST_MAX; st++) {
                if (r->v[4 + st] == 0)
                    continue;
                char key[4];
                snprintf(key, sizeof(key), "%d", st);
                hoso_pack_cstr(&pk, key);
                msgpack_pack_uint64(&pk, r->v[4 + st]);
            }
        }
    }
    free(t.rows);
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* /v1/stats/satisfaction */

/* v: count, sum, then dist[0..4] */
static int on_sat_row(void *ctx, const hoso_satisfaction_row *row)
{
    table *t = ctx;
    const char *keys[3] = {row->agency, row->service, row->question};
    trow *r = table_row(t, 0, keys);
    if (r == NULL)
        return 1;
    r->v[0] += row->count;
    r->v[1] += row->sum;
    for (int i = 0; i < 5; i++)
        r->v[2 + i] += row->dist[i];
    return 0;
}

int hoso_satisfaction_raw(hoso_txn *txn, const char *month, const char *agency, msgpack_sbuffer *out)
{
    table t;
    msgpack_packer pk;
    memset(&t, 0, sizeof t);
    t.nk = 3;
    t.nv = 7;
    int err = hoso_satisfaction_each(txn, month, agency, on_sat_row, &t);
    if (t.nomem)
        err = HOSO_ENOMEM;
    if (err >= 0) {
        /* The store's order is (agency, service, question) within a month. */
        if (t.n > 1)
            qsort(t.rows, t.n, sizeof *t.rows, trow_cmp);
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        pack_rows_raw(&t, 5, &pk);
        err = 0;
    }
    free(t.rows);
    return err;
}

int hoso_satisfaction_table(const char *month, const void *const *parts, const size_t *lens, size_t n,
                            msgpack_sbuffer *out)
{
    table t;
    msgpack_packer pk;
    int err = 0;
    memset(&t, 0, sizeof t);
    t.nk = 3;
    t.nv = 7;
    for (size_t i = 0; i < n && err == 0; i++)
        err = table_add_part(&t, parts[i], lens[i], 5);
    if (err == 0) {
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        if (msgpack_pack_map(&pk, 3) || hoso_pack_kcstr(&pk, "month", month) || hoso_pack_kint(&pk, "min_count", SAT_MIN) ||
            hoso_pack_cstr(&pk, "rows") || msgpack_pack_array(&pk, t.n))
            err = HOSO_ENOMEM;
        for (size_t i = 0; i < t.n && err == 0; i++) {
            const trow *r = &t.rows[i];
            /* A cell of fewer than SAT_MIN ratings shows its count only, so that no small
             * group of assessors can be singled out. */
            int small = r->v[0] < SAT_MIN;
            if (msgpack_pack_map(&pk, small ? 5 : 6) || hoso_pack_kcstr(&pk, "agency", r->k[0]) ||
                hoso_pack_kcstr(&pk, "service", r->k[1]) || hoso_pack_kcstr(&pk, "question", r->k[2]) ||
                hoso_pack_kint(&pk, "count", (int64_t)r->v[0])) {
                err = HOSO_ENOMEM;
            } else if (small) {
                if (hoso_pack_cstr(&pk, "suppressed") || msgpack_pack_true(&pk))
                    err = HOSO_ENOMEM;
            } else if (hoso_pack_cstr(&pk, "avg") || msgpack_pack_double(&pk, (double)r->v[1] / (double)r->v[0]) ||
                       hoso_pack_cstr(&pk, "dist") || msgpack_pack_array(&pk, 5)) {
                err = HOSO_ENOMEM;
            } else {
                for (int d = 0; d < 5; d++)
                    if (msgpack_pack_uint64(&pk, r->v[2 + d]))
                        err = HOSO_ENOMEM;
            }
        }
    }
    free(t.rows);
    return err;
}
