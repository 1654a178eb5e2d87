/*
 * stats.c - monitoring counters per agency, service, channel and Vietnam day (Decree
 * 42/2022 art. 16): agency \0 service \0 channel \0 YYYYMMDD -> {c: [counters in
 * hoso_stat_counter order], s: [moves into each status], h: [resolve days]}.
 * The arrays only grow at their end, so a row written by an older hosod reads with
 * zeros for the counters it did not know, and h drops its trailing zeros.
 * The NUL separators keep "A"/"BC" and "AB"/"C" apart and keep rows of one agency
 * together in key order.
 */
#include <stdio.h>
#include <string.h>
#include "internal.h"

#define NSTATUS 11
#define CHANNEL_MAX 32

static int row_key(const char *agency, const char *service, const char *channel, int64_t at, char *key,
                   size_t *len)
{
    char day[9];
    size_t a = strlen(agency), s = strlen(service), c = strlen(channel);
    if (a == 0 || c > CHANNEL_MAX || a + s + c + 3 + 8 > HOSO__INDEX_KEY_MAX) return HOSO_EBAD_REQUEST;
    hoso__vn_yyyymmdd(at, day);
    memcpy(key, agency, a + 1);
    memcpy(key + a + 1, service, s + 1);
    memcpy(key + a + s + 2, channel, c + 1);
    memcpy(key + a + s + c + 3, day, 8);
    *len = a + s + c + 3 + 8;
    return 0;
}

static int decode_array(const msgpack_object *o, uint64_t *out, size_t n)
{
    if (o->type != MSGPACK_OBJECT_ARRAY) return HOSO_ECORRUPT;
    for (uint32_t i = 0; i < o->via.array.size && i < n; i++) {
        if (o->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) return HOSO_ECORRUPT;
        out[i] = o->via.array.ptr[i].via.u64;
    }
    return 0;
}

static int decode_row(const MDB_val *v, hoso_stat_row *row)
{
    msgpack_unpacked u;
    int rc = hoso__unpack(&u, v->mv_data, v->mv_size);
    if (rc) goto Exit;
    rc = HOSO_ECORRUPT;
    if (u.data.type != MSGPACK_OBJECT_MAP) goto Exit;
    rc = 0;
    for (uint32_t i = 0; i < u.data.via.map.size && rc == 0; i++) {
        const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 1) continue;
        switch (kv->key.via.str.ptr[0]) {
        case 'c': rc = decode_array(&kv->val, row->c, HOSO_STAT_N); break;
        case 's': rc = decode_array(&kv->val, row->by_status, NSTATUS); break;
        case 'h': rc = decode_array(&kv->val, row->days, HOSO_STAT_DAYS); break;
        default: break;
        }
    }
Exit:
    msgpack_unpacked_destroy(&u);
    return rc;
}

static int pack_array(msgpack_packer *pk, const char *key, const uint64_t *v, size_t n)
{
    if (hoso_pack_cstr(pk, key) || msgpack_pack_array(pk, (uint32_t)n)) return -1;
    for (size_t i = 0; i < n; i++)
        if (msgpack_pack_uint64(pk, v[i])) return -1;
    return 0;
}

int hoso_stats_add(hoso_txn *t, const char *agency, const char *service, const char *channel, int64_t at,
                   const hoso_stat_row *delta)
{
    char key[HOSO__INDEX_KEY_MAX];
    size_t klen = 0, ndays = HOSO_STAT_DAYS;
    hoso_stat_row row;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    MDB_val v;
    int rc;
    msgpack_sbuffer_init(&sb);
    memset(&row, 0, sizeof row);
    if ((rc = hoso__writable(t)) != 0 ||
        (rc = row_key(agency ? agency : "", service ? service : "", channel ? channel : "", at, key, &klen)) != 0)
        goto Exit;
    rc = hoso__get(t, HOSO__DB_STATS, key, klen, &v);
    if (rc == 0) rc = decode_row(&v, &row);
    else if (rc == HOSO_ENOT_FOUND) rc = 0;
    if (rc) goto Exit;
    for (int i = 0; i < HOSO_STAT_N; i++) row.c[i] += delta->c[i];
    for (int i = 0; i < NSTATUS; i++) row.by_status[i] += delta->by_status[i];
    for (int i = 0; i < HOSO_STAT_DAYS; i++) row.days[i] += delta->days[i];
    while (ndays > 0 && row.days[ndays - 1] == 0) ndays--;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 3) || pack_array(&pk, "c", row.c, HOSO_STAT_N) ||
        pack_array(&pk, "s", row.by_status, NSTATUS) || pack_array(&pk, "h", row.days, ndays))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_STATS, key, klen, sb.data, sb.size, 0);
Exit:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Splits a key into its NUL-separated parts (copied to buf, NUL-terminated). A row of
 * a store made before channels has three parts; it reads with channel "". */
static int split_key(const MDB_val *k, char *buf, hoso_stat_row *row)
{
    const char *part[4];
    size_t n = 0, start = 0;
    if (k->mv_size < 2 + 8 || k->mv_size > HOSO__INDEX_KEY_MAX) return HOSO_ECORRUPT;
    memcpy(buf, k->mv_data, k->mv_size);
    buf[k->mv_size] = '\0';
    for (size_t i = 0; i <= k->mv_size && n < 4; i++)
        if (buf[i] == '\0') {
            part[n++] = buf + start;
            start = i + 1;
        }
    if (n < 3 || start != k->mv_size + 1 || strlen(part[n - 1]) != 8) return HOSO_ECORRUPT;
    row->agency = part[0];
    row->service = part[1];
    row->channel = n == 4 ? part[2] : "";
    row->day = part[n - 1];
    return 0;
}

int hoso_stats_each(hoso_txn *t, const char *agency, const char *to_day,
                    int (*fn)(void *ctx, const hoso_stat_row *row), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    size_t alen = agency && agency[0] ? strlen(agency) + 1 : 0;
    int rc = hoso__cursor(t, HOSO__DB_STATS, &c), mrc;
    if (rc) return rc;
    if (alen) {
        k.mv_data = (void *)agency;
        k.mv_size = alen;
        mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    } else {
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    }
    for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        char key[HOSO__INDEX_KEY_MAX + 1];
        hoso_stat_row row;
        if (alen && (k.mv_size < alen || memcmp(k.mv_data, agency, alen) != 0)) break;
        memset(&row, 0, sizeof row);
        if ((rc = split_key(&k, key, &row)) != 0) goto Exit;
        if (to_day && strcmp(row.day, to_day) > 0) continue;
        if ((rc = decode_row(&v, &row)) != 0 || (rc = fn(ctx, &row)) != 0) goto Exit;
    }
    rc = mrc == MDB_NOTFOUND || mrc == 0 ? 0 : hoso__mdb_err(mrc);
Exit:
    mdb_cursor_close(c);
    return rc;
}

int hoso_stats_rebuild_begin(hoso_txn *t, int *needed)
{
    MDB_val m;
    int rc;
    *needed = 0;
    if ((rc = hoso__writable(t)) != 0) return rc;
    rc = hoso__get(t, HOSO__DB_META, HOSO__MARK_STATS, strlen(HOSO__MARK_STATS), &m);
    if (rc != HOSO_ENOT_FOUND) return rc; /* 0: built before */
    if ((rc = mdb_drop(t->txn, t->s->dbi[HOSO__DB_STATS], 0)) != 0) return hoso__fail(t, hoso__mdb_err(rc));
    *needed = 1;
    return 0;
}

int hoso_stats_rebuild_end(hoso_txn *t)
{
    return hoso__put(t, HOSO__DB_META, HOSO__MARK_STATS, strlen(HOSO__MARK_STATS), "1", 1, 0);
}
