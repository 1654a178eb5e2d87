/*
 * tests/unit/storage/papers.c - the sealed papers vault (storage/papers.c)
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

typedef struct vault {
    char ids[8][32];
    char numbers[8][32];
    int64_t valid_until[8];
    int n;
} vault;

static int on_paper(void *ctx, const hoso_paper *p)
{
    vault *v = ctx;
    snprintf(v->ids[v->n], 32, "%s", p->id.ptr);
    snprintf(v->numbers[v->n], 32, "%s", p->number.ptr);
    v->valid_until[v->n] = p->valid_until;
    v->n++;
    return 0;
}

static hoso_paper paper(const char *id, const char *number, int64_t valid_until)
{
    hoso_paper p = {0};
    p.id = hs(id);
    p.type = hs("cccd");
    p.number = hs(number);
    p.issuer = hs("Cuc CSQLHC");
    p.valid_until = valid_until;
    p.added_at = 1000;
    return p;
}

static void test_put_each_sealed(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    hoso_paper p1 = paper("p1", "079123456789", 2000000000000LL), p2 = paper("p2", "079000000001", 0);
    hoso_paper p3 = paper("p1", "079999999999", 0);
    EXPECT_INT(hoso_paper_put(t, OWNER_A, &p1), 0);
    EXPECT_INT(hoso_paper_put(t, OWNER_A, &p2), 0);
    EXPECT_INT(hoso_paper_put(t, OWNER_B, &p3), 0);
    EXPECT_INT(hoso_paper_put(t, "short", &p3), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);

    vault v = {0};
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_paper_each(t, OWNER_A, &doc, on_paper, &v), 0);
    EXPECT_INT(v.n, 2);
    EXPECT_STR(v.ids[0], "p1");
    EXPECT_STR(v.numbers[0], "079123456789");
    EXPECT_INT(v.valid_until[0], 2000000000000LL);
    EXPECT_STR(v.ids[1], "p2");
    memset(&v, 0, sizeof v);
    EXPECT_INT(hoso_paper_each(t, OWNER_B, &doc, on_paper, &v), 0);
    EXPECT_INT(v.n, 1);
    EXPECT_STR(v.numbers[0], "079999999999");
    memset(&v, 0, sizeof v);
    EXPECT_INT(hoso_paper_each(t, "00000000000000000000000000000000", &doc, on_paper, &v), 0);
    EXPECT_INT(v.n, 0);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    EXPECT(!raw_contains("papers", "079123456789", NULL));
}

UNIT_MAIN(UNIT(test_put_each_sealed))
