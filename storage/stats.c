/*
 * stats.c - usage counters per agency, service and Vietnam day (Decree 42/2022
 * art. 16): agency \0 service \0 YYYYMMDD -> {received, on_time, late, by_status,
 * overdue} (a row written before overdue existed reads as 0).
 * The NUL separators keep "A"/"BC" and "AB"/"C" apart and keep rows of one agency
 * together in key order.
 */
#include <stdio.h>
#include <string.h>
#include "internal.h"

#define NSTATUS 11

static int row_key(const char *agency, const char *service, int64_t at, char *key, size_t *len)
{
    char day[9];
    size_t a = strlen(agency), s = strlen(service);
    if (a == 0 || a + s + 2 + 8 > HOSO__INDEX_KEY_MAX) return HOSO_EBAD_REQUEST;
    hoso__vn_yyyymmdd(at, day);
    memcpy(key, agency, a + 1);
    memcpy(key + a + 1, service, s + 1);
    memcpy(key + a + s + 2, day, 8);
    *len = a + s + 2 + 8;
    return 0;
}

static int decode_row(const MDB_val *v, hoso_stat_row *row)
{
    msgpack_unpacked u;
    int64_t x;
    int rc = hoso__unpack(&u, v->mv_data, v->mv_size);
    if (rc) goto Exit;
    if ((rc = hoso__mint(&u.data, "received", 0, &x)) != 0) goto Exit;
    row->received = (uint64_t)x;
    if ((rc = hoso__mint(&u.data, "on_time", 0, &x)) != 0) goto Exit;
    row->on_time = (uint64_t)x;
    if ((rc = hoso__mint(&u.data, "late", 0, &x)) != 0) goto Exit;
    row->late = (uint64_t)x;
    if ((rc = hoso__mint(&u.data, "overdue", 0, &x)) != 0) goto Exit;
    row->overdue = (uint64_t)x;
    const msgpack_object *bs = hoso_map_get(&u.data, "by_status");
    if (bs && bs->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < bs->via.array.size && i < NSTATUS; i++) {
            if (bs->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                rc = HOSO_ECORRUPT;
                goto Exit;
            }
            row->by_status[i] = bs->via.array.ptr[i].via.u64;
        }
    }
Exit:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int hoso_stats_bump(hoso_txn *t, const char *agency, const char *service, int64_t at, int status,
                    int received, int on_time, int late, int overdue)
{
    char key[HOSO__INDEX_KEY_MAX];
    size_t klen = 0;
    hoso_stat_row row;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    MDB_val v;
    int rc;
    msgpack_sbuffer_init(&sb);
    memset(&row, 0, sizeof row);
    if ((rc = hoso__writable(t)) != 0 || (rc = row_key(agency, service ? service : "", at, key, &klen)) != 0)
        goto Exit;
    rc = hoso__get(t, HOSO__DB_STATS, key, klen, &v);
    if (rc == 0) rc = decode_row(&v, &row);
    else if (rc == HOSO_ENOT_FOUND) rc = 0;
    if (rc) goto Exit;
    row.received += (uint64_t)(received > 0 ? received : 0);
    row.on_time += (uint64_t)(on_time > 0 ? on_time : 0);
    row.late += (uint64_t)(late > 0 ? late : 0);
    row.overdue += (uint64_t)(overdue > 0 ? overdue : 0);
    if (status >= HOSO_ST_MIN && status <= HOSO_ST_MAX) row.by_status[status]++;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 5) || hoso_pack_kint(&pk, "received", (int64_t)row.received) ||
        hoso_pack_kint(&pk, "overdue", (int64_t)row.overdue) ||
        hoso_pack_kint(&pk, "on_time", (int64_t)row.on_time) || hoso_pack_kint(&pk, "late", (int64_t)row.late) ||
        hoso_pack_cstr(&pk, "by_status") || msgpack_pack_array(&pk, NSTATUS))
        goto Exit;
    for (int i = 0; i < NSTATUS; i++)
        if (msgpack_pack_uint64(&pk, row.by_status[i])) goto Exit;
    rc = hoso__put(t, HOSO__DB_STATS, key, klen, sb.data, sb.size, 0);
Exit:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_stats_each(hoso_txn *t, int (*fn)(void *ctx, const hoso_stat_row *row), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc = hoso__cursor(t, HOSO__DB_STATS, &c), mrc;
    if (rc) return rc;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        /* Copy the key so the row's strings are NUL-terminated. */
        char key[HOSO__INDEX_KEY_MAX + 1], day[9];
        hoso_stat_row row;
        memset(&row, 0, sizeof row);
        if (k.mv_size < 2 + 8 || k.mv_size > HOSO__INDEX_KEY_MAX) {
            rc = HOSO_ECORRUPT;
            goto Exit;
        }
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        size_t a = strnlen(key, k.mv_size);
        if (a + 1 >= k.mv_size) {
            rc = HOSO_ECORRUPT;
            goto Exit;
        }
        size_t s = strnlen(key + a + 1, k.mv_size - a - 1);
        if (a + 1 + s + 1 + 8 != k.mv_size) {
            rc = HOSO_ECORRUPT;
            goto Exit;
        }
        memcpy(day, key + a + s + 2, 8);
        day[8] = '\0';
        row.agency = key;
        row.service = key + a + 1;
        row.day = day;
        if ((rc = decode_row(&v, &row)) != 0 || (rc = fn(ctx, &row)) != 0) goto Exit;
    }
    rc = mrc == MDB_NOTFOUND ? 0 : hoso__mdb_err(mrc);
Exit:
    mdb_cursor_close(c);
    return rc;
}
