/*
 * tests/unit/storage/services.c - the services catalogue (storage/services.c)
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

static void make_service(hoso_service *svc, hoso_form_field *f, hoso_paper_req *p, hoso_str *opts, const char *code)
{
    memset(svc, 0, sizeof *svc);
    opts[0] = hs("nam");
    opts[1] = hs("nu");
    f[0] = (hoso_form_field){hs("full_name"), hs("Ho va ten"), HOSO_FK_TEXT, 1, NULL, 0};
    f[1] = (hoso_form_field){hs("sex"), hs("Gioi tinh"), HOSO_FK_ENUM, 0, opts, 2};
    p[0] = (hoso_paper_req){hs("cccd"), hs("Can cuoc cong dan"), 1};
    svc->code = hs(code);
    svc->name = hs("Dang ky khai sinh");
    svc->agency = hs("000.00.12.H29");
    svc->level = hs("full");
    svc->processing_days = 3;
    svc->fee = 8000;
    svc->form = f;
    svc->nform = 2;
    svc->papers = p;
    svc->npapers = 1;
}

static int count_services(void *ctx, const hoso_service *svc)
{
    char *seen = ctx;
    strcat(seen, svc->code.ptr);
    strcat(seen, ";");
    return 0;
}

static int stop_at_first(void *ctx, const hoso_service *svc)
{
    return 7;
}

static void test_put_get_each(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_service svc, got;
    hoso_form_field f[2];
    hoso_paper_req p[1];
    hoso_str opts[2];
    hoso_doc doc = {0};
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    make_service(&svc, f, p, opts, "1.002");
    EXPECT_INT(hoso_service_put(t, &svc), 0);
    make_service(&svc, f, p, opts, "1.001");
    EXPECT_INT(hoso_service_put(t, &svc), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_service_get(t, "1.001", &doc, &got), 0);
    EXPECT_INT(hoso_service_get(t, "9.999", &doc, &got), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_service_get(t, "1.001", &doc, &got), 0);
    char seen[64] = "";
    EXPECT_INT(hoso_service_each(t, count_services, seen), 0);
    EXPECT_STR(seen, "1.001;1.002;");
    EXPECT_INT(hoso_service_each(t, stop_at_first, NULL), 7);
    hoso_txn_abort(t);
    EXPECT_STR(got.code.ptr, "1.001");
    EXPECT_STR(got.name.ptr, "Dang ky khai sinh");
    EXPECT_STR(got.agency.ptr, "000.00.12.H29");
    EXPECT_STR(got.level.ptr, "full");
    EXPECT_INT(got.processing_days, 3);
    EXPECT_INT(got.fee, 8000);
    EXPECT_INT(got.nform, 2);
    EXPECT_STR(got.form[1].key.ptr, "sex");
    EXPECT_INT(got.form[1].kind, HOSO_FK_ENUM);
    EXPECT_INT(got.form[1].noptions, 2);
    EXPECT_STR(got.form[1].options[1].ptr, "nu");
    EXPECT_INT(got.npapers, 1);
    EXPECT_STR(got.papers[0].type.ptr, "cccd");
    EXPECT_INT(got.papers[0].required, 1);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_put_get_each))
