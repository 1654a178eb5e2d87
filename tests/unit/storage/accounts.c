/*
 * tests/unit/storage/accounts.c - accounts with sealed personal fields, roles (storage/accounts.c)
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

static void sample_account(hoso_store *s, hoso_account *a)
{
    memset(a, 0, sizeof *a);
    hoso_account_id_for(s, "079123456789", a->id);
    a->role = HOSO_ROLE_CITIZEN;
    a->login = hs("079123456789");
    a->full_name = hs("Tran Thi Mai");
    a->phone = hs("0912345678");
    a->pwhash = hs("$argon2id$v=19$m=65536,t=2,p=1$fake");
    a->created_at = 1700000000000LL;
}

static void test_put_get(void)
{
    hoso_store *s = store_new(0);
    hoso_account a, got;
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    sample_account(s, &a);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_account_put(t, &a), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_account_get(t, a.id, &doc, &got), 0);
    hoso_txn_abort(t);
    /* The strings live in doc, not in LMDB memory. */
    EXPECT_STR(got.id, a.id);
    EXPECT_INT(got.role, HOSO_ROLE_CITIZEN);
    EXPECT_STR(got.login.ptr, "079123456789");
    EXPECT_STR(got.full_name.ptr, "Tran Thi Mai");
    EXPECT_INT(got.full_name.len, 12);
    EXPECT_STR(got.phone.ptr, "0912345678");
    EXPECT_STR(got.pwhash.ptr, a.pwhash.ptr);
    EXPECT_STR(got.agency.ptr, "");
    EXPECT_STR(got.bot_secret.ptr, "");
    EXPECT_INT(got.created_at, 1700000000000LL);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);

    size_t rows = 0;
    EXPECT(!raw_contains("accounts", "0912345678", &rows));
    EXPECT(!raw_contains("accounts", "Tran Thi Mai", NULL));
    EXPECT(!raw_contains("accounts", "079123456789", NULL));
    EXPECT_INT(rows, 1);
}

static void test_officer_and_bot(void)
{
    hoso_store *s = store_new(0);
    hoso_account a, got;
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    memset(&a, 0, sizeof a);
    hoso_account_id_for(s, "bot-zalo", a.id);
    a.role = HOSO_ROLE_BOT;
    a.login = hs("bot-zalo");
    a.agency = hs("000.00.12.H29");
    a.scopes = hs("lookup subscribe");
    a.bot_secret = hs("s3cr3t-hmac-key");
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_account_put(t, &a), 0);
    EXPECT_INT(hoso_account_get(t, a.id, &doc, &got), 0);
    EXPECT_INT(got.role, HOSO_ROLE_BOT);
    EXPECT_STR(got.agency.ptr, "000.00.12.H29");
    EXPECT_STR(got.scopes.ptr, "lookup subscribe");
    EXPECT_STR(got.bot_secret.ptr, "s3cr3t-hmac-key");
    EXPECT_INT(hoso_account_get(t, "00000000000000000000000000000000", &doc, &got), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    EXPECT(!raw_contains("accounts", "s3cr3t-hmac-key", NULL));
}

/* A sealed value copied under another id no longer opens. */
static void test_moved_value_is_corrupt(void)
{
    hoso_store *s = store_new(0);
    hoso_account a, got;
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    sample_account(s, &a);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_account_put(t, &a), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);

    char path[128];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {32, a.id}, v, k2 = {32, "ffffffffffffffffffffffffffffffff"};
    snprintf(path, sizeof path, "%s/lmdb", g_dir);
    EXPECT_INT(mdb_env_create(&env), 0);
    EXPECT_INT(mdb_env_set_maxdbs(env, 32), 0);
    EXPECT_INT(mdb_env_open(env, path, 0, 0600), 0);
    EXPECT_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    EXPECT_INT(mdb_dbi_open(txn, "accounts", 0, &dbi), 0);
    EXPECT_INT(mdb_get(txn, dbi, &k, &v), 0);
    EXPECT_INT(mdb_put(txn, dbi, &k2, &v, 0), 0);
    EXPECT_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    s = store_open(0);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_account_get(t, "ffffffffffffffffffffffffffffffff", &doc, &got), HOSO_ECORRUPT);
    EXPECT_INT(hoso_account_get(t, a.id, &doc, &got), 0);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

static void test_roles(void)
{
    EXPECT_STR(hoso_role_name(HOSO_ROLE_CITIZEN), "citizen");
    EXPECT_STR(hoso_role_name(HOSO_ROLE_OFFICER), "officer");
    EXPECT_STR(hoso_role_name(HOSO_ROLE_BOT), "bot");
    EXPECT_STR(hoso_role_name(HOSO_ROLE_ADMIN), "admin");
    EXPECT_INT(hoso_role_parse("officer"), HOSO_ROLE_OFFICER);
    EXPECT_INT(hoso_role_parse("admin"), HOSO_ROLE_ADMIN);
    EXPECT_INT(hoso_role_parse("root"), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_role_parse(NULL), HOSO_EBAD_REQUEST);
}

UNIT_MAIN(UNIT(test_put_get), UNIT(test_officer_and_bot), UNIT(test_moved_value_is_corrupt), UNIT(test_roles))
