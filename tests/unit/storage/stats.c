/*
 * tests/unit/storage/stats.c - usage counters per agency, service and Vietnam day (storage/stats.c)
 */
#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wunused-function"
#include <ftw.h>
#include <lmdb.h>
#include <sys/stat.h>
#include "../unit.h"
#include "hoso_storage.h"

/* Fixture: a fresh data dir under /tmp per test process, removed at exit. */
static char g_dir[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

static void cleanup(void)
{
    if (g_dir[0]) nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static hoso_store *store_open(size_t map_size)
{
    hoso_store_options o = {.map_size = map_size};
    hoso_store *s = NULL;
    EXPECT_INT(hoso_store_open(&s, g_dir, &o), 0);
    return s;
}

static hoso_store *store_new(size_t map_size)
{
    strcpy(g_dir, "/tmp/hoso-unit-XXXXXX");
    EXPECT(mkdtemp(g_dir) != NULL);
    atexit(cleanup);
    return store_open(map_size);
}

/* Raw LMDB access to check what is really on disk. The store must be closed: LMDB
 * forbids opening one environment twice in a process. fn sees every key/value. */
static void raw_walk(const char *db, void (*fn)(void *ctx, MDB_val *k, MDB_val *v), void *ctx)
{
    char path[128];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    snprintf(path, sizeof path, "%s/lmdb", g_dir);
    EXPECT_INT(mdb_env_create(&env), 0);
    EXPECT_INT(mdb_env_set_maxdbs(env, 32), 0);
    EXPECT_INT(mdb_env_open(env, path, 0, 0600), 0);
    EXPECT_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    EXPECT_INT(mdb_dbi_open(txn, db, 0, &dbi), 0);
    EXPECT_INT(mdb_cursor_open(txn, dbi, &c), 0);
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) fn(ctx, &k, &v);
    mdb_cursor_close(c);
    EXPECT_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

typedef struct raw_find_ctx {
    const void *needle;
    size_t len;
    int found;
    size_t rows;
} raw_find_ctx;

static void raw_find_fn(void *ctx, MDB_val *k, MDB_val *v)
{
    raw_find_ctx *f = ctx;
    f->rows++;
    if (memmem(k->mv_data, k->mv_size, f->needle, f->len) || memmem(v->mv_data, v->mv_size, f->needle, f->len))
        f->found = 1;
}

/* 1 if any key or value of db contains s; *rows counts them. */
static int raw_contains(const char *db, const char *s, size_t *rows)
{
    raw_find_ctx f = {s, strlen(s), 0, 0};
    raw_walk(db, raw_find_fn, &f);
    if (rows) *rows = f.rows;
    return f.found;
}

/* A dossier with a personal form; strings point at static data or into fb. */
#define OWNER_A "0123456789abcdef0123456789abcdef"
#define OWNER_B "fedcba9876543210fedcba9876543210"
#define FORM_SECRET "Nguyen Van Bi mat 079123456789"

static hoso_history g_hist[2] = {
    {1, 1000, {"citizen", 7}, {"", 0}},
    {2, 2000, {"officer", 7}, {"received at desk 3", 18}},
};

static hoso_str hs(const char *s)
{
    return (hoso_str){s, strlen(s)};
}

static void make_dossier(hoso_dossier *d, msgpack_sbuffer *fb, const char *code, const char *owner,
                         const char *agency, int64_t submitted_at, int status)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(fb);
    msgpack_packer_init(&pk, fb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "full_name");
    hoso_pack_cstr(&pk, FORM_SECRET);
    size_t formlen = fb->size;
    msgpack_pack_array(&pk, 0); /* papers: [] right after the form */
    memset(d, 0, sizeof *d);
    d->code = hs(code);
    d->service = hs("1.001");
    d->agency = hs(agency);
    d->owner = hs(owner);
    d->channel = hs("app");
    d->status = status;
    d->version = 1;
    d->submitted_at = submitted_at;
    d->form = (hoso_str){fb->data, formlen};
    d->papers = (hoso_str){fb->data + formlen, fb->size - formlen};
    d->history = g_hist;
    d->nhistory = 1;
}

typedef struct rows {
    char agency[8][32], service[8][32], day[8][16];
    hoso_stat_row r[8];
    int n;
} rows;

static int on_row(void *ctx, const hoso_stat_row *row)
{
    rows *s = ctx;
    EXPECT(s->n < 8);
    snprintf(s->agency[s->n], 32, "%s", row->agency);
    snprintf(s->service[s->n], 32, "%s", row->service);
    snprintf(s->day[s->n], 16, "%s", row->day);
    s->r[s->n++] = *row;
    return 0;
}

static void test_stats_bump_each(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    int64_t late_night = 1795453199999LL; /* 2026-11-23 23:59:59.999 in Hanoi */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night, 1, 1, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night, 1, 1, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night, 10, 0, 1, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night + 1, 10, 0, 0, 1), 0);
    EXPECT_INT(hoso_stats_bump(t, "AB", "1", late_night, 2, 0, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "B1", late_night, 2, 0, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "", "1", late_night, 2, 0, 0, 0), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);

    rows r = {0};
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_stats_each(t, on_row, &r), 0);
    hoso_txn_abort(t);
    EXPECT_INT(r.n, 4);
    EXPECT_STR(r.agency[0], "A");
    EXPECT_STR(r.service[0], "1.001");
    EXPECT_STR(r.day[0], "20261123");
    EXPECT_INT(r.r[0].received, 2);
    EXPECT_INT(r.r[0].on_time, 1);
    EXPECT_INT(r.r[0].late, 0);
    EXPECT_INT(r.r[0].by_status[1], 2);
    EXPECT_INT(r.r[0].by_status[10], 1);
    EXPECT_STR(r.day[1], "20261124");
    EXPECT_INT(r.r[1].late, 1);
    EXPECT_INT(r.r[1].by_status[10], 1);
    EXPECT_STR(r.service[2], "B1");
    EXPECT_STR(r.agency[3], "AB");
    EXPECT_STR(r.service[3], "1");
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_stats_bump_each))
