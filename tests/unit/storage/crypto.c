/*
 * tests/unit/storage/crypto.c - sealing, account ids and password hashes (storage/crypto.c)
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

static void test_seal_open_round_trip(void)
{
    hoso_store *s = store_new(0);
    uint8_t *ct = NULL, *pt = NULL;
    size_t clen = 0, plen = 0;
    const char *msg = "so dien thoai 0912345678";
    EXPECT_INT(hoso_seal(s, msg, strlen(msg), "AD", 2, &ct, &clen), 0);
    EXPECT_INT(clen, 24 + strlen(msg) + 16);
    EXPECT(memmem(ct, clen, "0912345678", 10) == NULL);
    EXPECT_INT(hoso_open(s, ct, clen, "AD", 2, &pt, &plen), 0);
    EXPECT_INT(plen, strlen(msg));
    EXPECT_MEM(pt, msg, plen);
    free(pt);
    /* Same plaintext twice: fresh nonce, different ciphertext. */
    uint8_t *ct2 = NULL;
    size_t clen2 = 0;
    EXPECT_INT(hoso_seal(s, msg, strlen(msg), "AD", 2, &ct2, &clen2), 0);
    EXPECT(memcmp(ct, ct2, clen) != 0);
    free(ct2);
    free(ct);
    hoso_store_close(s);
}

static void test_seal_empty(void)
{
    hoso_store *s = store_new(0);
    uint8_t *ct = NULL, *pt = NULL;
    size_t clen = 0, plen = 1;
    EXPECT_INT(hoso_seal(s, "", 0, NULL, 0, &ct, &clen), 0);
    EXPECT_INT(hoso_open(s, ct, clen, NULL, 0, &pt, &plen), 0);
    EXPECT_INT(plen, 0);
    free(pt);
    free(ct);
    hoso_store_close(s);
}

static void test_open_detects_tampering(void)
{
    hoso_store *s = store_new(0);
    uint8_t *ct = NULL, *pt = NULL;
    size_t clen = 0, plen = 0;
    EXPECT_INT(hoso_seal(s, "hello", 5, "code-1", 6, &ct, &clen), 0);
    /* Wrong associated data: a value moved to another record. */
    EXPECT_INT(hoso_open(s, ct, clen, "code-2", 6, &pt, &plen), HOSO_ECORRUPT);
    EXPECT(pt == NULL);
    for (size_t i = 0; i < clen; i++) {
        ct[i] ^= 0x01;
        EXPECT_INT(hoso_open(s, ct, clen, "code-1", 6, &pt, &plen), HOSO_ECORRUPT);
        ct[i] ^= 0x01;
    }
    EXPECT_INT(hoso_open(s, ct, clen - 1, "code-1", 6, &pt, &plen), HOSO_ECORRUPT);
    EXPECT_INT(hoso_open(s, ct, 10, "code-1", 6, &pt, &plen), HOSO_ECORRUPT);
    EXPECT_INT(hoso_open(s, ct, clen, "code-1", 6, &pt, &plen), 0);
    free(pt);
    free(ct);
    hoso_store_close(s);
}

static void test_account_id(void)
{
    hoso_store *s = store_new(0);
    char a[33], b[33], c[33];
    hoso_account_id_for(s, "079123456789", a);
    hoso_account_id_for(s, "079123456789", b);
    hoso_account_id_for(s, "079123456788", c);
    EXPECT_INT(strlen(a), 32);
    EXPECT_STR(a, b);
    EXPECT(strcmp(a, c) != 0);
    for (int i = 0; i < 32; i++) EXPECT(strchr("0123456789abcdef", a[i]) != NULL);
    hoso_store_close(s);

    /* Keyed: another data dir (another key) gives another id for the same login. */
    char first[sizeof g_dir];
    strcpy(first, g_dir);
    hoso_store *s2 = store_new(0);
    hoso_account_id_for(s2, "079123456789", c);
    EXPECT(strcmp(a, c) != 0);
    hoso_store_close(s2);
    cleanup();
    strcpy(g_dir, first);
}

static void test_password(void)
{
    char h[256];
    EXPECT_INT(hoso_password_hash("mat-khau-1", h, sizeof h), 0);
    EXPECT(strncmp(h, "$argon2id$", 10) == 0);
    EXPECT_INT(hoso_password_verify(h, "mat-khau-1"), 0);
    EXPECT_INT(hoso_password_verify(h, "mat-khau-2"), HOSO_EUNAUTHORIZED);
    EXPECT_INT(hoso_password_verify("garbage", "mat-khau-1"), HOSO_EUNAUTHORIZED);
    EXPECT_INT(hoso_password_hash("x", h, 10), HOSO_EBAD_REQUEST);
}

UNIT_MAIN(UNIT(test_seal_open_round_trip), UNIT(test_seal_empty), UNIT(test_open_detects_tampering),
          UNIT(test_account_id), UNIT(test_password))
