/*
 * codec.c - what the table codecs share beyond protocol's msgpack helpers: strict
 * unpacking of stored values into the caller's doc (LMDB memory is gone when the txn
 * ends), integer fields of stored maps, and Vietnam civil dates for keys.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "internal.h"

#define VN_OFFSET_MS (7 * 3600 * 1000LL)

int hoso__doc_ready(hoso_doc *doc)
{
    if (doc->zone.chunk_size != 0) return 0;
    memset(&doc->root, 0, sizeof doc->root);
    return msgpack_zone_init(&doc->zone, 2048) ? 0 : HOSO_ENOMEM;
}

int hoso__unpack(msgpack_unpacked *tmp, const void *buf, size_t len)
{
    size_t off = 0;
    msgpack_unpacked_init(tmp);
    msgpack_unpack_return r = msgpack_unpack_next(tmp, buf, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR) return HOSO_ENOMEM;
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) return HOSO_ECORRUPT;
    return 0;
}

int hoso__unpack_zone(hoso_doc *doc, const void *buf, size_t len, msgpack_object *out)
{
    int rc = hoso__doc_ready(doc);
    if (rc) return rc;
    char *copy = msgpack_zone_malloc(&doc->zone, len ? len : 1);
    if (!copy) return HOSO_ENOMEM;
    memcpy(copy, buf, len);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack(copy, len, &off, &doc->zone, out);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR) return HOSO_ENOMEM;
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) return HOSO_ECORRUPT;
    return 0;
}

int hoso__mint(const msgpack_object *map, const char *key, int64_t def, int64_t *out)
{
    const msgpack_object *o = hoso_map_get(map, key);
    if (!o || o->type == MSGPACK_OBJECT_NIL) {
        *out = def;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_BOOLEAN) {
        *out = o->via.boolean;
        return 0;
    }
    return HOSO_ECORRUPT;
}

/* Vietnam has had no DST since 1975: UTC+7 fixed, so gmtime of a shifted instant
 * gives the civil date without touching the process time zone. */
static void vn_tm(int64_t t_ms, struct tm *tm)
{
    int64_t ms = t_ms + VN_OFFSET_MS;
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    gmtime_r(&secs, tm);
}

void hoso__vn_yyyymmdd(int64_t t_ms, char buf[9])
{
    struct tm tm;
    char tmp[40];
    vn_tm(t_ms, &tm);
    snprintf(tmp, sizeof tmp, "%04d%02d%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday);
    memcpy(buf, tmp, 8);
    buf[8] = '\0';
}

void hoso__vn_month(int64_t t_ms, char buf[8])
{
    struct tm tm;
    char tmp[40];
    vn_tm(t_ms, &tm);
    snprintf(tmp, sizeof tmp, "%04d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1);
    memcpy(buf, tmp, 7);
    buf[7] = '\0';
}

void hoso__random_hex(char *out, size_t nbytes)
{
    uint8_t b[64];
    if (nbytes > sizeof b) nbytes = sizeof b;
    randombytes_buf(b, nbytes);
    sodium_bin2hex(out, nbytes * 2 + 1, b, nbytes);
}

int hoso__mcopy(const msgpack_object *map, const char *key, char *out, size_t n)
{
    const msgpack_object *o = hoso_map_get(map, key);
    out[0] = '\0';
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL) return 0;
    if (o->type != MSGPACK_OBJECT_STR) return HOSO_ECORRUPT;
    size_t len = o->via.str.size < n - 1 ? o->via.str.size : n - 1;
    memcpy(out, o->via.str.ptr, len);
    out[len] = '\0';
    return 0;
}

int hoso__build_once(hoso_txn *t, const char *marker, int db, int (*row)(void *ctx, const msgpack_object *v, int *counted),
                     void *ctx, uint64_t *count)
{
    MDB_cursor *c = NULL;
    MDB_val k, v, m;
    msgpack_unpacked u;
    int rc, mrc;
    *count = 0;
    rc = hoso__get(t, HOSO__DB_META, marker, strlen(marker), &m);
    if (rc == 0) return 0; /* built before */
    if (rc != HOSO_ENOT_FOUND) return rc;
    if ((rc = hoso__cursor(t, db, &c)) != 0) return rc;
    msgpack_unpacked_init(&u);
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        int counted = 0;
        msgpack_unpacked_destroy(&u);
        msgpack_unpacked_init(&u);
        if ((rc = hoso__unpack(&u, v.mv_data, v.mv_size)) != 0 || (rc = row(ctx, &u.data, &counted)) != 0) break;
        *count += counted != 0;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    msgpack_unpacked_destroy(&u);
    mdb_cursor_close(c);
    if (rc == 0) rc = hoso__put(t, HOSO__DB_META, marker, strlen(marker), "1", 1, 0);
    return rc;
}
