/*
 * deliveries.c - what a consumer set aside (dead letters and the deliveries waiting
 * behind them): consumer name + NUL + seq BE64 -> msgpack {code, reason, at, dead}.
 * Holds no personal data: a dossier code and the peer's reason.
 */
#include <string.h>
#include "internal.h"

#define NAME_MAX_LEN 96

static int make_key(const char *consumer, uint64_t seq, uint8_t *key, size_t *len)
{
    size_t n = consumer ? strlen(consumer) : 0;
    if (n == 0 || n > NAME_MAX_LEN) return HOSO_EBAD_REQUEST;
    memcpy(key, consumer, n);
    key[n] = '\0';
    hoso_be64_put(key + n + 1, seq);
    *len = n + 1 + 8;
    return 0;
}

int hoso_delivery_put(hoso_txn *t, const char *consumer, const hoso_delivery *d)
{
    uint8_t key[NAME_MAX_LEN + 9];
    size_t klen;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc = make_key(consumer, d->seq, key, &klen);
    if (rc) return rc;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 4) || hoso_pack_kcstr(&pk, "code", d->code) ||
        hoso_pack_kcstr(&pk, "reason", d->reason) || hoso_pack_kint(&pk, "at", d->at) ||
        hoso_pack_kint(&pk, "dead", d->dead ? 1 : 0))
        rc = HOSO_ENOMEM;
    else
        rc = hoso__put(t, HOSO__DB_DELIVERIES, key, klen, sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_delivery_del(hoso_txn *t, const char *consumer, uint64_t seq)
{
    uint8_t key[NAME_MAX_LEN + 9];
    size_t klen;
    int rc = make_key(consumer, seq, key, &klen);
    if (rc) return rc;
    rc = hoso__del(t, HOSO__DB_DELIVERIES, key, klen);
    return rc == HOSO_ENOT_FOUND ? 0 : rc;
}

int hoso_delivery_scan(hoso_txn *t, const char *consumer, uint64_t after, size_t limit,
                       int (*fn)(void *ctx, const hoso_delivery *d), void *ctx)
{
    uint8_t key[NAME_MAX_LEN + 9];
    size_t klen, n = 0;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    msgpack_unpacked u;
    int rc = make_key(consumer, after + 1, key, &klen), mrc;
    if (rc) return rc;
    if ((rc = hoso__cursor(t, HOSO__DB_DELIVERIES, &c)) != 0) return rc;
    msgpack_unpacked_init(&u);
    k.mv_size = klen;
    k.mv_data = key;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0 && (limit == 0 || n < limit);
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        hoso_delivery d;
        int64_t dead = 0;
        /* Past this consumer's keys: another name (or a longer one with this prefix). */
        if (k.mv_size != klen || memcmp(k.mv_data, key, klen - 8) != 0) break;
        memset(&d, 0, sizeof d);
        d.seq = hoso_be64_get((const uint8_t *)k.mv_data + klen - 8);
        msgpack_unpacked_destroy(&u);
        msgpack_unpacked_init(&u);
        if ((rc = hoso__unpack(&u, v.mv_data, v.mv_size)) != 0 || (rc = hoso__mint(&u.data, "at", 0, &d.at)) != 0 ||
            (rc = hoso__mint(&u.data, "dead", 0, &dead)) != 0)
            break;
        d.dead = dead != 0;
        (void)hoso__mcopy(&u.data, "code", d.code, sizeof d.code);
        (void)hoso__mcopy(&u.data, "reason", d.reason, sizeof d.reason);
        if ((rc = fn(ctx, &d)) != 0) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    msgpack_unpacked_destroy(&u);
    mdb_cursor_close(c);
    return rc;
}
