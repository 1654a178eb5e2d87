/*
 * feed.c - the retained part of each owner feed: its bounds (first retained seq and
 * head, both in feed_head) and the trimming that keeps a feed within the store's
 * retention (feed_max_events entries, feed_max_age_ms of age).
 *
 * Seqs of one owner are contiguous from first to head, so trimming deletes by key from
 * `first` upwards and never needs a cursor. Age is read from the entry itself: the
 * feed value is sealed, and unsealing the oldest entry once per append is cheaper than
 * keeping a second, clear copy of every event time.
 *
 * Trimming is bounded per call (TRIM_BUDGET) so that an append never turns into a long
 * delete inside the writer's batch; a store reopened with a much smaller limit catches
 * up over the following appends. Readers learn what is gone from `first`: a cursor
 * before first - 1 would skip events, so it is CURSOR_EXPIRED and the app starts over
 * from the snapshot.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define TRIM_BUDGET 1024

int hoso__feed_head_get(hoso_txn *t, const char *owner, uint64_t *head, uint64_t *first)
{
    MDB_val v;
    *head = 0;
    *first = 1;
    if (!owner || strlen(owner) != HOSO__ID_HEX) return HOSO_EBAD_REQUEST;
    int rc = hoso__get(t, HOSO__DB_FEED_HEAD, owner, HOSO__ID_HEX, &v);
    if (rc == HOSO_ENOT_FOUND) return 0;
    if (rc) return rc;
    if (v.mv_size != 8 && v.mv_size != 16) return HOSO_ECORRUPT;
    *head = hoso_be64_get(v.mv_data);
    if (v.mv_size == 16) *first = hoso_be64_get((const uint8_t *)v.mv_data + 8);
    if (*first == 0 || *first > *head + 1) return HOSO_ECORRUPT;
    return 0;
}

int hoso__feed_head_put(hoso_txn *t, const char *owner, uint64_t head, uint64_t first)
{
    uint8_t val[16];
    hoso_be64_put(val, head);
    hoso_be64_put(val + 8, first);
    /* Untrimmed feeds keep the original 8-byte value. */
    return hoso__put(t, HOSO__DB_FEED_HEAD, owner, HOSO__ID_HEX, val, first > 1 ? 16 : 8, 0);
}

int hoso_feed_bounds(hoso_txn *t, const char *owner, uint64_t *first, uint64_t *head)
{
    return hoso__feed_head_get(t, owner, head, first);
}

/* The `at` of the feed entry under key, from its sealed body. */
static int entry_at(hoso_txn *t, const uint8_t *key, size_t klen, const MDB_val *v, int64_t *at)
{
    uint8_t *body = NULL;
    size_t blen = 0;
    msgpack_unpacked u;
    int rc = hoso_open(t->s, v->mv_data, v->mv_size, key, klen, &body, &blen);
    if (rc) return rc;
    msgpack_unpacked_init(&u);
    rc = hoso__unpack(&u, body, blen);
    if (rc == 0) rc = hoso__mint(&u.data, "at", 0, at);
    msgpack_unpacked_destroy(&u);
    free(body);
    return rc;
}

int hoso__feed_trim(hoso_txn *t, const char *owner, uint64_t keep_from, int64_t at, uint64_t *first,
                    uint64_t *n)
{
    const hoso_store *s = t->s;
    uint8_t key[HOSO__ID_HEX + 8];
    uint64_t by_count = 0; /* entries below this go whatever their age */
    int64_t cutoff = 0;
    int rc = 0;

    if (s->feed_max_events && keep_from > s->feed_max_events) by_count = keep_from - s->feed_max_events + 1;
    if (s->feed_max_age_ms > 0 && at > s->feed_max_age_ms) cutoff = at - s->feed_max_age_ms;
    if (by_count <= *first && cutoff == 0) return 0;
    memcpy(key, owner, HOSO__ID_HEX);
    for (unsigned i = 0; i < TRIM_BUDGET && *first < keep_from; i++) {
        MDB_val v;
        hoso_be64_put(key + HOSO__ID_HEX, *first);
        if (*first >= by_count) {
            int64_t eat = 0;
            if (cutoff == 0) break;
            rc = hoso__get(t, HOSO__DB_FEED, key, sizeof key, &v);
            if (rc == 0) rc = entry_at(t, key, sizeof key, &v, &eat);
            if (rc == HOSO_ENOT_FOUND) rc = HOSO_ECORRUPT; /* a hole between first and head */
            if (rc) return rc;
            if (eat >= cutoff) break;
        }
        rc = hoso__del(t, HOSO__DB_FEED, key, sizeof key);
        if (rc == HOSO_ENOT_FOUND) rc = HOSO_ECORRUPT;
        if (rc) return rc;
        (*first)++;
        if (n) (*n)++;
    }
    return 0;
}

int hoso_feed_trim(hoso_txn *t, const char *owner, int64_t now_ms, uint64_t *trimmed)
{
    uint64_t head = 0, first = 1, n = 0, was;
    int rc;
    if (trimmed) *trimmed = 0;
    if ((rc = hoso__writable(t)) != 0) return rc;
    if ((rc = hoso__feed_head_get(t, owner, &head, &first)) != 0) return rc;
    was = first;
    /* The newest entry stays, as it would after an append: keep_from is the head. */
    if (head == 0 || (rc = hoso__feed_trim(t, owner, head, now_ms, &first, &n)) != 0) return rc;
    if (first != was && (rc = hoso__feed_head_put(t, owner, head, first)) != 0) return rc;
    if (trimmed) *trimmed = n;
    return 0;
}
