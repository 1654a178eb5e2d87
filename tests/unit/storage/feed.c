/*
 * tests/unit/storage/feed.c - owner feed retention and bounds (storage/feed.c), and
 * paper.added events that carry the paper (storage/events.c).
 */
#define _GNU_SOURCE
#include "fixture.h"

#define DAY_MS (24LL * 3600 * 1000)

static hoso_store *store_with(const char *reuse_dir, uint64_t max_events, int64_t max_age_ms)
{
    hoso_store_options o = {.feed_max_events = max_events, .feed_max_age_ms = max_age_ms};
    hoso_store *s = NULL;
    if (!reuse_dir) {
        strcpy(g_dir, "/tmp/hoso-unit-XXXXXX");
        EXPECT(mkdtemp(g_dir) != NULL);
        atexit(cleanup);
    }
    EXPECT_INT(hoso_store_open(&s, g_dir, &o), 0);
    return s;
}

/* n message events for owner at times at0, at0 + step, ..., each in its own commit. */
static void append_n(hoso_store *s, const char *owner, int n, int64_t at0, int64_t step)
{
    for (int i = 0; i < n; i++) {
        hoso_txn *t = NULL;
        EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
        EXPECT_INT(hoso_event_append(t, owner, "", HOSO_EV_MESSAGE, at0 + i * step, NULL, NULL), 0);
        EXPECT_INT(hoso_txn_commit(t), 0);
    }
}

static void bounds(hoso_store *s, const char *owner, uint64_t want_first, uint64_t want_head)
{
    hoso_txn *t = NULL;
    uint64_t first = 0, head = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_feed_bounds(t, owner, &first, &head), 0);
    EXPECT_INT(first, want_first);
    EXPECT_INT(head, want_head);
    hoso_txn_abort(t);
}

typedef struct seen {
    uint64_t seq[64];
    size_t n;
} seen;

static int on_event(void *ctx, uint64_t seq, const void *body, size_t len)
{
    seen *sn = ctx;
    if (sn->n < 64) sn->seq[sn->n++] = seq;
    return 0;
}

static int read_from(hoso_store *s, const char *owner, uint64_t since, seen *sn)
{
    hoso_txn *t = NULL;
    int more = 0;
    memset(sn, 0, sizeof *sn);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    int rc = hoso_feed_read(t, owner, since, 1000, on_event, sn, &more);
    hoso_txn_abort(t);
    return rc;
}

static void count_rows(void *ctx, MDB_val *k, MDB_val *v)
{
    size_t *n = ctx;
    if (k->mv_size >= 32 && memcmp(k->mv_data, OWNER_A, 32) == 0) (*n)++;
}

static void test_untrimmed_feed_keeps_everything(void)
{
    hoso_store *s = store_with(NULL, 0, 0);
    seen sn;
    append_n(s, OWNER_A, 12, 1000, 1);
    bounds(s, OWNER_A, 1, 12);
    EXPECT_INT(read_from(s, OWNER_A, 0, &sn), 0);
    EXPECT_INT(sn.n, 12);
    bounds(s, OWNER_B, 1, 0);
    EXPECT_INT(read_from(s, OWNER_B, 0, &sn), 0);
    EXPECT_INT(sn.n, 0);
    hoso_store_close(s);
}

static void test_trim_by_count(void)
{
    hoso_store *s = store_with(NULL, 5, 0);
    seen sn;
    append_n(s, OWNER_A, 12, 1000, 1);
    append_n(s, OWNER_B, 3, 1000, 1);
    bounds(s, OWNER_A, 8, 12);
    bounds(s, OWNER_B, 1, 3);
    /* since = first - 1 is still complete; anything older would skip events. */
    EXPECT_INT(read_from(s, OWNER_A, 7, &sn), 0);
    EXPECT_INT(sn.n, 5);
    EXPECT_INT(sn.seq[0], 8);
    EXPECT_INT(sn.seq[4], 12);
    EXPECT_INT(read_from(s, OWNER_A, 6, &sn), HOSO_ECURSOR_EXPIRED);
    EXPECT_INT(read_from(s, OWNER_A, 0, &sn), HOSO_ECURSOR_EXPIRED);
    EXPECT_INT(read_from(s, OWNER_A, 12, &sn), 0);
    EXPECT_INT(sn.n, 0);
    EXPECT_INT(read_from(s, OWNER_A, 13, &sn), HOSO_ECURSOR_EXPIRED);
    EXPECT_INT(read_from(s, OWNER_B, 0, &sn), 0);
    EXPECT_INT(sn.n, 3);
    hoso_store_close(s);
    /* On disk: exactly the five retained entries of OWNER_A. */
    size_t rows = 0;
    raw_walk("feed", count_rows, &rows);
    EXPECT_INT(rows, 5);
}

static void test_trim_by_age(void)
{
    hoso_store *s = store_with(NULL, 0, 30 * DAY_MS);
    seen sn;
    int64_t t0 = 1700000000000LL;
    /* One event a day for 40 days: the entries 30 days or more older than the newest go. */
    append_n(s, OWNER_A, 40, t0, DAY_MS);
    bounds(s, OWNER_A, 10, 40);
    EXPECT_INT(read_from(s, OWNER_A, 9, &sn), 0);
    EXPECT_INT(sn.n, 31);
    EXPECT_INT(read_from(s, OWNER_A, 8, &sn), HOSO_ECURSOR_EXPIRED);
    hoso_store_close(s);
}

static void test_newest_entry_is_never_trimmed(void)
{
    hoso_store *s = store_with(NULL, 1, DAY_MS);
    seen sn;
    append_n(s, OWNER_A, 3, 1700000000000LL, 10 * DAY_MS);
    bounds(s, OWNER_A, 3, 3);
    EXPECT_INT(read_from(s, OWNER_A, 2, &sn), 0);
    EXPECT_INT(sn.n, 1);
    EXPECT_INT(sn.seq[0], 3);

    /* hoso_feed_trim a long time later keeps the newest entry too. */
    hoso_txn *t = NULL;
    uint64_t n = 99;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_feed_trim(t, OWNER_A, 1700000000000LL + 1000 * DAY_MS, &n), 0);
    EXPECT_INT(n, 0);
    EXPECT_INT(hoso_feed_trim(t, "short", 0, &n), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);
    bounds(s, OWNER_A, 3, 3);
    hoso_store_close(s);
}

static void test_explicit_trim_and_reopen_with_smaller_limit(void)
{
    hoso_store *s = store_with(NULL, 0, 0);
    int64_t t0 = 1700000000000LL;
    append_n(s, OWNER_A, 20, t0, DAY_MS);
    hoso_store_close(s);

    /* Reopened with retention: nothing changes until a write applies it. */
    s = store_with(g_dir, 8, 15 * DAY_MS);
    bounds(s, OWNER_A, 1, 20);
    hoso_txn *t = NULL;
    uint64_t n = 0;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    /* At the newest event's time: 15 days keeps 5..20 by age, 8 entries keeps 13..20. */
    EXPECT_INT(hoso_feed_trim(t, OWNER_A, t0 + 19 * DAY_MS, &n), 0);
    EXPECT_INT(n, 12);
    EXPECT_INT(hoso_txn_commit(t), 0);
    bounds(s, OWNER_A, 13, 20);
    /* A read txn cannot trim. */
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_feed_trim(t, OWNER_A, t0, &n), HOSO_EBAD_REQUEST);
    hoso_txn_abort(t);
    /* The next appends go on from the trimmed feed. */
    append_n(s, OWNER_A, 2, t0 + 20 * DAY_MS, DAY_MS);
    bounds(s, OWNER_A, 15, 22);
    hoso_store_close(s);
}

static void test_trim_rolls_back_with_the_transaction(void)
{
    hoso_store *s = store_with(NULL, 3, 0);
    append_n(s, OWNER_A, 3, 1000, 1);
    hoso_txn *t = NULL, *child = NULL;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_txn_write(s, t, &child), 0);
    EXPECT_INT(hoso_event_append(child, OWNER_A, "", HOSO_EV_MESSAGE, 2000, NULL, NULL), 0);
    hoso_txn_abort(child);
    EXPECT_INT(hoso_txn_commit(t), 0);
    bounds(s, OWNER_A, 1, 3);
    seen sn;
    EXPECT_INT(read_from(s, OWNER_A, 0, &sn), 0);
    EXPECT_INT(sn.n, 3);
    hoso_store_close(s);
}

/* A paper.added event carries the paper, sealed at rest like every feed entry. */
typedef struct body_ctx {
    msgpack_unpacked u;
    char buf[1024]; /* the body is borrowed during the callback; unpacked strings point into it */
    int got;
} body_ctx;

static int keep_body(void *ctx, uint64_t seq, const void *body, size_t len)
{
    body_ctx *b = ctx;
    size_t off = 0;
    EXPECT(len <= sizeof b->buf);
    memcpy(b->buf, body, len);
    EXPECT_INT(msgpack_unpack_next(&b->u, b->buf, len, &off), MSGPACK_UNPACK_SUCCESS);
    b->got = 1;
    return 0;
}

static void test_paper_event_carries_the_paper(void)
{
    hoso_store *s = store_with(NULL, 0, 0);
    hoso_paper p = {0};
    p.id = hs("0ac933fea30b6cc2c59bed4af34a37e1");
    p.type = hs("cccd");
    p.number = hs("079123456789");
    p.issuer = hs("Cuc Canh sat QLHC ve TTXH");
    p.added_at = 1234;
    hoso_txn *t = NULL;
    uint64_t seq = 0;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_event_append_paper(t, OWNER_A, 1234, &p, &seq), 0);
    EXPECT_INT(seq, 1);
    EXPECT_INT(hoso_event_append_paper(t, OWNER_A, 1234, NULL, &seq), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_event_append_paper(t, "short", 1234, &p, &seq), HOSO_EBAD_REQUEST);
    hoso_event *ev = NULL;
    size_t nev = 0;
    EXPECT_INT(hoso_txn_take_events(t, &ev, &nev), 0);
    EXPECT_INT(nev, 1);
    EXPECT_INT(ev[0].type, HOSO_EV_PAPER_ADDED);
    hoso_events_free(ev, nev);
    EXPECT_INT(hoso_txn_commit(t), 0);

    body_ctx b;
    msgpack_unpacked_init(&b.u);
    b.got = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_feed_read(t, OWNER_A, 0, 10, keep_body, &b, NULL), 0);
    hoso_txn_abort(t);
    EXPECT(b.got);
    const msgpack_object *paper = hoso_map_get(&b.u.data, "paper");
    EXPECT(paper != NULL);
    EXPECT(hoso_map_get(&b.u.data, "dossier") == NULL);
    EXPECT(hoso_obj_streq(hoso_map_get(&b.u.data, "type"), "paper.added"));
    EXPECT(hoso_obj_streq(hoso_map_get(paper, "number"), "079123456789"));
    EXPECT(hoso_obj_streq(hoso_map_get(paper, "id"), "0ac933fea30b6cc2c59bed4af34a37e1"));
    msgpack_unpacked_destroy(&b.u);
    uint64_t count = 0, bad = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, NULL, 0), 0);
    EXPECT_INT(count, 1);
    hoso_txn_abort(t);
    hoso_store_close(s);
    /* Neither the feed nor the log holds the number in the clear. */
    EXPECT(!raw_contains("feed", "079123456789", NULL));
    EXPECT(!raw_contains("log", "079123456789", NULL));
}

UNIT_MAIN(UNIT(test_untrimmed_feed_keeps_everything), UNIT(test_trim_by_count), UNIT(test_trim_by_age),
          UNIT(test_newest_entry_is_never_trimmed), UNIT(test_explicit_trim_and_reopen_with_smaller_limit),
          UNIT(test_trim_rolls_back_with_the_transaction), UNIT(test_paper_event_carries_the_paper))
