/*
 * codec.c - msgpack helpers shared by the table codecs: copying decoded values into
 * the caller's doc zone (LMDB memory is gone when the txn ends), strict unpacking of
 * stored values, and Vietnam civil dates for keys.
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

const msgpack_object *hoso__mget(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int hoso__zmem(msgpack_zone *z, const void *p, size_t len, hoso_str *out)
{
    char *c = msgpack_zone_malloc(z, len + 1);
    if (!c) return HOSO_ENOMEM;
    if (len) memcpy(c, p, len);
    c[len] = '\0';
    out->ptr = c;
    out->len = len;
    return 0;
}

int hoso__zstr(msgpack_zone *z, const msgpack_object *o, hoso_str *out)
{
    if (!o || o->type == MSGPACK_OBJECT_NIL) return hoso__zmem(z, "", 0, out);
    if (o->type == MSGPACK_OBJECT_STR) return hoso__zmem(z, o->via.str.ptr, o->via.str.size, out);
    if (o->type == MSGPACK_OBJECT_BIN) return hoso__zmem(z, o->via.bin.ptr, o->via.bin.size, out);
    return HOSO_ECORRUPT;
}

int hoso__mint(const msgpack_object *map, const char *key, int64_t def, int64_t *out)
{
    const msgpack_object *o = hoso__mget(map, key);
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

int hoso__pack_kcstr(msgpack_packer *pk, const char *key, const char *v)
{
    return hoso_pack_cstr(pk, key) || hoso_pack_cstr(pk, v ? v : "");
}

int hoso__pack_kstr(msgpack_packer *pk, const char *key, const hoso_str *v)
{
    return hoso_pack_cstr(pk, key) || hoso_pack_str(pk, v->ptr ? v->ptr : "", v->ptr ? v->len : 0);
}

int hoso__pack_kint(msgpack_packer *pk, const char *key, int64_t v)
{
    return hoso_pack_cstr(pk, key) || msgpack_pack_int64(pk, v);
}

int hoso__pack_kbin(msgpack_packer *pk, const char *key, const void *p, size_t len)
{
    return hoso_pack_cstr(pk, key) || msgpack_pack_bin(pk, len) || msgpack_pack_bin_body(pk, p, len);
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
