/*
 * tests/unit/storage/events.c - owner feeds, event collection and the hash-chained log (storage/events.c, storage/log.c)
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

static void append(hoso_txn *t, const char *owner, const char *agency, const char *code, int status,
                   hoso_event_type type, uint64_t want_seq)
{
    hoso_dossier d;
    msgpack_sbuffer fb;
    uint64_t seq = 0;
    make_dossier(&d, &fb, code, owner, agency, 1000, status);
    EXPECT_INT(hoso_event_append(t, owner, agency, type, 5000 + (int64_t)want_seq, &d, &seq), 0);
    EXPECT_INT(seq, want_seq);
    msgpack_sbuffer_destroy(&fb);
}

typedef struct seen {
    uint64_t seqs[16];
    int n;
} seen;

static int on_event(void *ctx, uint64_t seq, const void *body, size_t len)
{
    seen *s = ctx;
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    EXPECT_INT(msgpack_unpack_next(&u, body, len, &off), MSGPACK_UNPACK_SUCCESS);
    EXPECT_INT(off, len);
    const msgpack_object *m = &u.data;
    EXPECT_INT(m->type, MSGPACK_OBJECT_MAP);
    EXPECT_INT(m->via.map.size, 4);
    EXPECT(hoso_obj_streq(&m->via.map.ptr[0].key, "seq"));
    EXPECT_INT(m->via.map.ptr[0].val.via.u64, seq);
    EXPECT(hoso_obj_streq(&m->via.map.ptr[2].key, "type"));
    const msgpack_object *dossier = hoso_map_get(m, "dossier");
    EXPECT(dossier != NULL && dossier->type == MSGPACK_OBJECT_MAP);
    EXPECT(hoso_map_get(dossier, "code") != NULL);
    s->seqs[s->n++] = seq;
    msgpack_unpacked_destroy(&u);
    return 0;
}

static void test_feed_seqs_per_owner(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    uint64_t head = 9;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_feed_head(t, OWNER_A, &head), 0);
    EXPECT_INT(head, 0);
    append(t, OWNER_A, "A", "A-1", 1, HOSO_EV_DOSSIER_CREATED, 1);
    append(t, OWNER_B, "A", "A-2", 1, HOSO_EV_DOSSIER_CREATED, 1);
    append(t, OWNER_A, "A", "A-1", 2, HOSO_EV_DOSSIER_STATUS, 2);
    hoso_event *ev = NULL;
    size_t n = 0;
    EXPECT_INT(hoso_txn_take_events(t, &ev, &n), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    EXPECT_INT(n, 3);
    EXPECT_INT(ev[0].gseq, 1);
    EXPECT_INT(ev[1].gseq, 2);
    EXPECT_INT(ev[2].gseq, 3);
    EXPECT_INT(ev[2].seq, 2);
    EXPECT_STR(ev[2].owner, OWNER_A);
    EXPECT_STR(ev[2].agency, "A");
    EXPECT_INT(ev[2].type, HOSO_EV_DOSSIER_STATUS);
    EXPECT_INT(ev[2].at, 5002);
    seen one = {0};
    EXPECT_INT(on_event(&one, 2, ev[2].body, ev[2].body_len), 0);
    hoso_events_free(ev, n);

    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    append(t, OWNER_A, "A", "A-1", 4, HOSO_EV_DOSSIER_STATUS, 3);
    EXPECT_INT(hoso_txn_commit(t), 0);

    seen sn = {0};
    int more = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_feed_head(t, OWNER_A, &head), 0);
    EXPECT_INT(head, 3);
    EXPECT_INT(hoso_feed_read(t, OWNER_A, 0, 0, on_event, &sn, &more), 0);
    EXPECT_INT(sn.n, 3);
    EXPECT_INT(sn.seqs[0], 1);
    EXPECT_INT(sn.seqs[2], 3);
    EXPECT_INT(more, 0);
    memset(&sn, 0, sizeof sn);
    EXPECT_INT(hoso_feed_read(t, OWNER_A, 1, 1, on_event, &sn, &more), 0);
    EXPECT_INT(sn.n, 1);
    EXPECT_INT(sn.seqs[0], 2);
    EXPECT_INT(more, 1);
    memset(&sn, 0, sizeof sn);
    EXPECT_INT(hoso_feed_read(t, OWNER_A, 3, 10, on_event, &sn, &more), 0);
    EXPECT_INT(sn.n, 0);
    EXPECT_INT(more, 0);
    EXPECT_INT(hoso_feed_read(t, OWNER_A, 4, 10, on_event, &sn, &more), HOSO_ECURSOR_EXPIRED);
    memset(&sn, 0, sizeof sn);
    EXPECT_INT(hoso_feed_read(t, OWNER_B, 0, 10, on_event, &sn, &more), 0);
    EXPECT_INT(sn.n, 1);
    hoso_txn_abort(t);
    hoso_store_close(s);

    /* The feed carries whole dossiers: sealed at rest. */
    size_t rows = 0;
    EXPECT(!raw_contains("feed", FORM_SECRET, &rows));
    EXPECT_INT(rows, 4);
    EXPECT(!raw_contains("log", FORM_SECRET, NULL));
}

static void test_event_type_names(void)
{
    EXPECT_STR(hoso_event_type_name(HOSO_EV_DOSSIER_CREATED), "dossier.created");
    EXPECT_STR(hoso_event_type_name(HOSO_EV_DOSSIER_STATUS), "dossier.status");
    EXPECT_STR(hoso_event_type_name(HOSO_EV_DOSSIER_UPDATED), "dossier.updated");
    EXPECT_STR(hoso_event_type_name(HOSO_EV_PAPER_ADDED), "paper.added");
    EXPECT_STR(hoso_event_type_name(HOSO_EV_MESSAGE), "message");
}

static void test_event_without_dossier(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    uint64_t seq = 0, count = 0, bad = 0;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_event_append(t, OWNER_A, "", HOSO_EV_MESSAGE, 1, NULL, &seq), 0);
    EXPECT_INT(seq, 1);
    EXPECT_INT(hoso_event_append(t, "bad-owner", "", HOSO_EV_MESSAGE, 1, NULL, &seq), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, NULL, 0), 0);
    EXPECT_INT(count, 1);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
}

static hoso_store *five_entries(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    for (uint64_t i = 1; i <= 5; i++) {
        EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
        append(t, i % 2 ? OWNER_A : OWNER_B, "A", "A-1", (int)i, HOSO_EV_DOSSIER_STATUS, (i + 1) / 2);
        EXPECT_INT(hoso_txn_commit(t), 0);
    }
    return s;
}

static void verify(int want_rc, uint64_t want_count, uint64_t want_bad)
{
    hoso_store *s = store_open(0);
    hoso_txn *t = NULL;
    uint64_t count = 0, bad = 0;
    char why[128];
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, why, sizeof why), want_rc);
    if (want_rc) {
        EXPECT_INT(bad, want_bad);
        EXPECT(why[0] != '\0');
    } else {
        EXPECT_INT(count, want_count);
    }
    hoso_txn_abort(t);
    hoso_store_close(s);
}

/* Rewrites log entry seq with one byte of it changed, or deletes it (flip < 0). */
static void tamper(uint64_t seq, int flip)
{
    char path[128];
    uint8_t key[8], buf[512];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {8, key}, v;
    hoso_be64_put(key, seq);
    snprintf(path, sizeof path, "%s/lmdb", g_dir);
    EXPECT_INT(mdb_env_create(&env), 0);
    EXPECT_INT(mdb_env_set_maxdbs(env, 32), 0);
    EXPECT_INT(mdb_env_open(env, path, 0, 0600), 0);
    EXPECT_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    EXPECT_INT(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    if (flip < 0) {
        EXPECT_INT(mdb_del(txn, dbi, &k, NULL), 0);
    } else {
        EXPECT_INT(mdb_get(txn, dbi, &k, &v), 0);
        EXPECT(v.mv_size <= sizeof buf);
        memcpy(buf, v.mv_data, v.mv_size);
        /* The status value: "status" then a positive fixint. */
        uint8_t *st = memmem(buf, v.mv_size, "status", 6);
        EXPECT(st != NULL);
        st[6] ^= (uint8_t)flip;
        v.mv_data = buf;
        EXPECT_INT(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    EXPECT_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_log_chain_ok(void)
{
    hoso_store_close(five_entries());
    verify(0, 5, 0);
}

static void test_log_tampered_middle(void)
{
    hoso_store_close(five_entries());
    tamper(3, 0x08);
    verify(HOSO_ECORRUPT, 0, 3);
}

static void test_log_tampered_first(void)
{
    hoso_store_close(five_entries());
    tamper(1, 0x04);
    verify(HOSO_ECORRUPT, 0, 1);
}

static void test_log_tampered_last(void)
{
    hoso_store_close(five_entries());
    tamper(5, 0x02);
    verify(HOSO_ECORRUPT, 0, 5);
}

static void test_log_entry_deleted(void)
{
    hoso_store_close(five_entries());
    tamper(2, -1);
    verify(HOSO_ECORRUPT, 0, 2);
}

static void test_log_tail_deleted(void)
{
    hoso_store_close(five_entries());
    tamper(5, -1);
    verify(HOSO_ECORRUPT, 0, 5);
}

UNIT_MAIN(UNIT(test_feed_seqs_per_owner), UNIT(test_event_type_names), UNIT(test_event_without_dossier),
          UNIT(test_log_chain_ok), UNIT(test_log_tampered_middle), UNIT(test_log_tampered_first),
          UNIT(test_log_tampered_last), UNIT(test_log_entry_deleted), UNIT(test_log_tail_deleted))
