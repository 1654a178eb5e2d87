/*
 * tests/unit/storage/sessions.c - sessions keyed by the token hash (storage/sessions.c)
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

static void test_create_get_expire_delete(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_session se;
    char tok[48], tok2[48];
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_session_create(t, OWNER_A, 5000, tok), 0);
    EXPECT_INT(hoso_session_create(t, OWNER_B, 9000, tok2), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    EXPECT_INT(strlen(tok), 43);
    EXPECT(strcmp(tok, tok2) != 0);
    for (size_t i = 0; i < 43; i++)
        EXPECT(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", tok[i]) != NULL);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_session_get(t, tok, 4999, &se), 0);
    EXPECT_STR(se.account, OWNER_A);
    EXPECT_INT(se.expires_at, 5000);
    EXPECT_INT(hoso_session_get(t, tok, 5000, &se), HOSO_EUNAUTHORIZED);
    EXPECT_STR(se.account, "");
    EXPECT_INT(hoso_session_get(t, tok2, 5000, &se), 0);
    EXPECT_STR(se.account, OWNER_B);
    EXPECT_INT(hoso_session_get(t, "not-a-token", 0, &se), HOSO_EUNAUTHORIZED);
    hoso_txn_abort(t);

    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_session_delete(t, tok2), 0);
    EXPECT_INT(hoso_session_delete(t, tok2), 0);
    EXPECT_INT(hoso_session_get(t, tok2, 0, &se), HOSO_EUNAUTHORIZED);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);

    /* Only the hash is kept. */
    size_t rows = 0;
    EXPECT(!raw_contains("sessions", tok, &rows));
    EXPECT_INT(rows, 1);
}

static void test_read_txn_cannot_write(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    char tok[48];
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_session_create(t, OWNER_A, 1, tok), HOSO_EBAD_REQUEST);
    EXPECT_STR(tok, "");
    hoso_txn_abort(t);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_create_get_expire_delete), UNIT(test_read_txn_cannot_write))
