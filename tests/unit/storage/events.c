/*
 * tests/unit/storage/events.c - owner feeds, event collection and the hash-chained log (storage/events.c, storage/log.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

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
