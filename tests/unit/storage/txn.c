/*
 * tests/unit/storage/txn.c - read, write and nested transactions with their events (storage/txn.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void put_with_event(hoso_txn *t, const char *code, const char *owner)
{
    hoso_dossier d;
    msgpack_sbuffer fb;
    make_dossier(&d, &fb, code, owner, "A", 1000, 1);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    EXPECT_INT(hoso_event_append(t, owner, "A", HOSO_EV_DOSSIER_CREATED, 1000, &d, NULL), 0);
    msgpack_sbuffer_destroy(&fb);
}

static int exists(hoso_store *s, const char *code)
{
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    hoso_dossier d;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    int rc = hoso_dossier_get(t, code, &doc, &d);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    EXPECT(rc == 0 || rc == HOSO_ENOT_FOUND);
    return rc == 0;
}

static void test_nested_abort_and_commit(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *batch = NULL, *c1 = NULL, *c2 = NULL, *c3 = NULL;
    EXPECT_INT(hoso_txn_write(s, NULL, &batch), 0);
    EXPECT(hoso_txn_store(batch) == s);

    EXPECT_INT(hoso_txn_write(s, batch, &c1), 0);
    put_with_event(c1, "A-1", OWNER_A);
    EXPECT_INT(hoso_txn_commit(c1), 0);

    EXPECT_INT(hoso_txn_write(s, batch, &c2), 0);
    put_with_event(c2, "A-2", OWNER_A);
    put_with_event(c2, "B-1", OWNER_B);
    hoso_txn_abort(c2);

    EXPECT_INT(hoso_txn_write(s, batch, &c3), 0);
    put_with_event(c3, "A-3", OWNER_A);
    /* A grandchild joins c3 when it commits. */
    hoso_txn *g = NULL;
    EXPECT_INT(hoso_txn_write(s, c3, &g), 0);
    put_with_event(g, "B-2", OWNER_B);
    EXPECT_INT(hoso_txn_commit(g), 0);
    EXPECT_INT(hoso_txn_commit(c3), 0);

    hoso_event *ev = NULL;
    size_t n = 0;
    EXPECT_INT(hoso_txn_take_events(batch, &ev, &n), 0);
    EXPECT_INT(n, 3);
    /* The aborted child's seqs are handed out again: no gap in feed or log. */
    EXPECT_INT(ev[0].gseq, 1);
    EXPECT_INT(ev[1].gseq, 2);
    EXPECT_INT(ev[2].gseq, 3);
    EXPECT_INT(ev[1].seq, 2);
    EXPECT_STR(ev[2].owner, OWNER_B);
    EXPECT_INT(ev[2].seq, 1);
    hoso_events_free(ev, n);
    /* Taken once: nothing left. */
    EXPECT_INT(hoso_txn_take_events(batch, &ev, &n), 0);
    EXPECT_INT(n, 0);
    hoso_events_free(ev, n);
    EXPECT_INT(hoso_txn_commit(batch), 0);

    EXPECT(exists(s, "A-1"));
    EXPECT(!exists(s, "A-2"));
    EXPECT(!exists(s, "B-1"));
    EXPECT(exists(s, "A-3"));
    EXPECT(exists(s, "B-2"));

    hoso_txn *t = NULL;
    uint64_t head = 0, count = 0, bad = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_feed_head(t, OWNER_A, &head), 0);
    EXPECT_INT(head, 2);
    EXPECT_INT(hoso_feed_head(t, OWNER_B, &head), 0);
    EXPECT_INT(head, 1);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, NULL, 0), 0);
    EXPECT_INT(count, 3);
    hoso_txn_abort(t);
    hoso_store_close(s);
}

static void test_top_level_abort(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    put_with_event(t, "A-1", OWNER_A);
    hoso_txn_abort(t);
    EXPECT(!exists(s, "A-1"));
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    put_with_event(t, "A-1", OWNER_A);
    /* Events not taken are dropped with the txn. */
    EXPECT_INT(hoso_txn_commit(t), 0);
    EXPECT(exists(s, "A-1"));
    hoso_store_close(s);
}

static void test_read_reset_renew(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *r = NULL, *w = NULL;
    uint64_t pos = 0;
    EXPECT_INT(hoso_txn_read(s, &r), 0);
    EXPECT_INT(hoso_cursor_get(r, "mirror", &pos), 0);
    EXPECT_INT(pos, 0);

    EXPECT_INT(hoso_txn_write(s, NULL, &w), 0);
    EXPECT_INT(hoso_cursor_put(w, "mirror", 7), 0);
    EXPECT_INT(hoso_txn_commit(w), 0);
    /* The snapshot does not move until renewed. */
    EXPECT_INT(hoso_cursor_get(r, "mirror", &pos), 0);
    EXPECT_INT(pos, 0);
    hoso_txn_reset(r);
    EXPECT_INT(hoso_txn_renew(r), 0);
    EXPECT_INT(hoso_cursor_get(r, "mirror", &pos), 0);
    EXPECT_INT(pos, 7);
    /* Read txns cannot write or nest writes. */
    EXPECT_INT(hoso_cursor_put(r, "mirror", 8), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_write(s, r, &w), HOSO_EBAD_REQUEST);
    hoso_txn_abort(r);
    hoso_store_close(s);
}

#include <pthread.h>
#include <stdatomic.h>

typedef struct reader_arg {
    hoso_store *s;
    atomic_int *stop;
    int reads;
} reader_arg;

/* A worker: one read txn per thread, reset/renewed per "request". */
static void *reader(void *p)
{
    reader_arg *a = p;
    hoso_txn *t = NULL;
    uint64_t last = 0;
    EXPECT_INT(hoso_txn_read(a->s, &t), 0);
    hoso_txn_reset(t);
    while (!atomic_load(a->stop)) {
        uint64_t pos = 0, head = 0;
        EXPECT_INT(hoso_txn_renew(t), 0);
        EXPECT_INT(hoso_cursor_get(t, "n", &pos), 0);
        EXPECT_INT(hoso_feed_head(t, OWNER_A, &head), 0);
        /* Both were written in the same txn: a snapshot sees both or neither. */
        EXPECT_INT(pos, head);
        EXPECT(pos >= last);
        last = pos;
        hoso_txn_reset(t);
        a->reads++;
    }
    hoso_txn_abort(t);
    return NULL;
}

static void test_readers_on_threads(void)
{
    hoso_store *s = store_new(0);
    atomic_int stop = 0;
    pthread_t th[3];
    reader_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (reader_arg){s, &stop, 0};
        EXPECT_INT(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    for (uint64_t i = 1; i <= 50; i++) {
        hoso_txn *w = NULL;
        EXPECT_INT(hoso_txn_write(s, NULL, &w), 0);
        EXPECT_INT(hoso_event_append(w, OWNER_A, "A", HOSO_EV_MESSAGE, 1, NULL, NULL), 0);
        EXPECT_INT(hoso_cursor_put(w, "n", i), 0);
        EXPECT_INT(hoso_txn_commit(w), 0);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) EXPECT_INT(pthread_join(th[i], NULL), 0);
    hoso_store_stats st;
    EXPECT_INT(hoso_store_stats_get(s, &st), 0);
    EXPECT_INT(st.log_head, 50);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_nested_abort_and_commit), UNIT(test_top_level_abort), UNIT(test_read_reset_renew), UNIT(test_readers_on_threads))
