/*
 * tests/unit/storage/dossiers.c - stored dossiers, sealing of the form, daily codes (storage/dossiers.c)
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

#include <time.h>

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void test_put_get_round_trip(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d, got;
    msgpack_sbuffer fb;
    hoso_doc doc = {0};
    make_dossier(&d, &fb, "000.00.12.H29-261123-0001", OWNER_A, "000.00.12.H29", 1700000000123LL, 2);
    d.nhistory = 2;
    d.version = 2;
    d.due_at = 1700900000000LL;
    d.rated = 1;
    d.reason = hs("");
    d.result = hs("giay phep so 12");
    d.fee = 150000;
    d.papers_required = (hoso_str){"\x91\xa3" "CMT", 5}; /* ["CMT"] */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), HOSO_EALREADY_EXISTS);
    EXPECT_INT(hoso_txn_commit(t), 0);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_get(t, "000.00.12.H29-261123-0001", &doc, &got), 0);
    EXPECT_INT(hoso_dossier_get(t, "000.00.12.H29-261123-0002", &doc, &got), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_dossier_get(t, "000.00.12.H29-261123-0001", &doc, &got), 0);
    hoso_txn_abort(t);
    EXPECT_STR(got.code.ptr, "000.00.12.H29-261123-0001");
    EXPECT_STR(got.service.ptr, "1.001");
    EXPECT_STR(got.agency.ptr, "000.00.12.H29");
    EXPECT_STR(got.owner.ptr, OWNER_A);
    EXPECT_STR(got.channel.ptr, "app");
    EXPECT_INT(got.status, 2);
    EXPECT_INT(got.version, 2);
    EXPECT_INT(got.submitted_at, 1700000000123LL);
    EXPECT_INT(got.due_at, 1700900000000LL);
    EXPECT_INT(got.rated, 1);
    EXPECT_STR(got.reason.ptr, "");
    EXPECT_STR(got.result.ptr, "giay phep so 12");
    EXPECT_INT(got.fee, 150000);
    EXPECT_INT(got.papers_required.len, 5);
    EXPECT_MEM(got.papers_required.ptr, "\x91\xa3" "CMT", 5);
    EXPECT_INT(got.form.len, d.form.len);
    EXPECT_MEM(got.form.ptr, d.form.ptr, d.form.len);
    EXPECT_INT(got.papers.len, 1);
    EXPECT_MEM(got.papers.ptr, "\x90", 1);
    EXPECT_INT(got.nhistory, 2);
    EXPECT_INT(got.history[1].status, 2);
    EXPECT_INT(got.history[1].at, 2000);
    EXPECT_STR(got.history[1].by.ptr, "officer");
    EXPECT_STR(got.history[1].note.ptr, "received at desk 3");
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    msgpack_sbuffer_destroy(&fb);

    size_t rows = 0;
    EXPECT(!raw_contains("dossiers", FORM_SECRET, &rows));
    EXPECT_INT(rows, 1);
    EXPECT(raw_contains("dossiers", "giay phep so 12", NULL)); /* public fields in the clear */
    EXPECT(!raw_contains("owner_dossiers", FORM_SECRET, NULL));
    EXPECT(!raw_contains("agency_dossiers", FORM_SECRET, NULL));
}

static void test_replace_keeps_indexes(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d, got;
    msgpack_sbuffer fb;
    hoso_doc doc = {0};
    make_dossier(&d, &fb, "A-261123-0001", OWNER_A, "A", 5000, 1);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    d.status = 2;
    d.version = 2;
    d.nhistory = 2;
    EXPECT_INT(hoso_dossier_put(t, &d, 0), 0);
    EXPECT_INT(hoso_dossier_get(t, "A-261123-0001", &doc, &got), 0);
    EXPECT_INT(got.status, 2);
    EXPECT_INT(got.nhistory, 2);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    msgpack_sbuffer_destroy(&fb);
    size_t rows = 0;
    raw_contains("owner_dossiers", "x", &rows);
    EXPECT_INT(rows, 1);
    raw_contains("agency_dossiers", "x", &rows);
    EXPECT_INT(rows, 1);
}

static void test_bad_input(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    char code[64];
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    make_dossier(&d, &fb, "A-261123-0001", "short-owner", "A", 5000, 1);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), HOSO_EBAD_REQUEST);
    d.owner = hs(OWNER_A);
    d.agency = hs("");
    EXPECT_INT(hoso_dossier_put(t, &d, 1), HOSO_EBAD_REQUEST);
    d.code = hs("");
    EXPECT_INT(hoso_dossier_put(t, &d, 0), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_dossier_next_code(t, "", 0, code), HOSO_EBAD_REQUEST);
    /* Bad input is no write failure: the txn still commits. */
    EXPECT_INT(hoso_txn_commit(t), 0);
    msgpack_sbuffer_destroy(&fb);
    hoso_store_close(s);
}

static void test_next_code_across_vietnam_midnight(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    char code[64];
    int64_t before = utc_ms(2026, 11, 23, 16, 59, 59, 999); /* 23:59:59.999 on 23/11 in Hanoi */
    int64_t after = utc_ms(2026, 11, 23, 17, 0, 0, 0);      /* 00:00 on 24/11 in Hanoi */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", utc_ms(2026, 11, 23, 0, 0, 0, 0), code), 0);
    EXPECT_STR(code, "000.00.12.H29-261123-0001");
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", before, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261123-0002");
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", after, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261124-0001");
    /* Per agency: another agency starts at 1 the same day; "000.00.12.H2" is no prefix trap. */
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H2", before, code), 0);
    EXPECT_STR(code, "000.00.12.H2-261123-0001");
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", before, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261123-0003");
    EXPECT_INT(hoso_txn_commit(t), 0);

    /* Committed sequences survive; an aborted one is handed out again. */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", after, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261124-0002");
    hoso_txn_abort(t);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", after, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261124-0002");
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
}

static void test_next_code_limit(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    char code[64];
    int64_t now = utc_ms(2026, 1, 2, 3, 0, 0, 0);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    for (int i = 1; i <= 9999; i++) EXPECT_INT(hoso_dossier_next_code(t, "X", now, code), 0);
    EXPECT_STR(code, "X-260102-9999");
    EXPECT_INT(hoso_dossier_next_code(t, "X", now, code), HOSO_EUNAVAILABLE);
    EXPECT_INT(hoso_dossier_next_code(t, "X", now + 86400000LL, code), 0);
    EXPECT_STR(code, "X-260103-0001");
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_put_get_round_trip), UNIT(test_replace_keeps_indexes), UNIT(test_bad_input),
          UNIT(test_next_code_across_vietnam_midnight), UNIT(test_next_code_limit))
