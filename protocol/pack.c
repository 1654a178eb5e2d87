/*
 * pack.c - the msgpack helpers every layer shares: lookups in decoded maps, copies into
 * a message's arena, key/value packing, maps with some keys left out, and decimal
 * parsing. One copy here, so that storage, hosod and the clients read and write maps
 * the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int hoso_doc_init(hoso_doc *doc)
{
    memset(doc, 0, sizeof(*doc));
    if (!msgpack_zone_init(&doc->zone, 4096))
        return HOSO_ENOMEM;
    doc->root.type = MSGPACK_OBJECT_NIL;
    return 0;
}

const msgpack_object *hoso_map_get(const msgpack_object *obj, const char *key)
{
    if (obj == NULL || obj->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *k = &obj->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && memcmp(k->via.str.ptr, key, n) == 0)
            return &obj->via.map.ptr[i].val;
    }
    return NULL;
}

int hoso_obj_streq(const msgpack_object *o, const char *s)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR)
        return 0;
    size_t n = strlen(s);
    return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

int hoso_zone_str(msgpack_zone *z, const char *s, size_t len, hoso_str *out)
{
    char *p = msgpack_zone_malloc(z, len + 1);
    if (p == NULL)
        return HOSO_ENOMEM;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    out->ptr = p;
    out->len = len;
    return 0;
}

int hoso_zone_obj_str(msgpack_zone *z, const msgpack_object *o, hoso_str *out)
{
    if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
        return hoso_zone_str(z, "", 0, out);
    if (o->type == MSGPACK_OBJECT_STR)
        return hoso_zone_str(z, o->via.str.ptr, o->via.str.size, out);
    if (o->type == MSGPACK_OBJECT_BIN)
        return hoso_zone_str(z, o->via.bin.ptr, o->via.bin.size, out);
    return HOSO_ECORRUPT;
}

int hoso_zone_pack(msgpack_zone *z, const msgpack_object *o, hoso_str *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int r;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *o) != 0)
        r = HOSO_ENOMEM;
    else
        r = hoso_zone_str(z, sb.data != NULL ? sb.data : "", sb.size, out);
    msgpack_sbuffer_destroy(&sb);
    return r;
}

int hoso_pack_kcstr(msgpack_packer *pk, const char *key, const char *v)
{
    return hoso_pack_cstr(pk, key) || hoso_pack_cstr(pk, v != NULL ? v : "");
}

int hoso_pack_kstr(msgpack_packer *pk, const char *key, const hoso_str *v)
{
    return hoso_pack_cstr(pk, key) || hoso_pack_str(pk, v->ptr != NULL ? v->ptr : "", v->ptr != NULL ? v->len : 0);
}

int hoso_pack_kint(msgpack_packer *pk, const char *key, int64_t v)
{
    return hoso_pack_cstr(pk, key) || msgpack_pack_int64(pk, v);
}

int hoso_pack_kbin(msgpack_packer *pk, const char *key, const void *p, size_t len)
{
    return hoso_pack_cstr(pk, key) || msgpack_pack_bin(pk, len) || msgpack_pack_bin_body(pk, p, len);
}

static int dropped(const msgpack_object *key, const char *const drop[])
{
    for (size_t i = 0; drop[i] != NULL; i++)
        if (hoso_obj_streq(key, drop[i]))
            return 1;
    return 0;
}

static uint32_t kept_pairs(const msgpack_object *map, const char *const drop[])
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        n += !dropped(&map->via.map.ptr[i].key, drop);
    return n;
}

int hoso_pack_map_without(msgpack_packer *pk, const msgpack_object *map, const char *const drop[], uint32_t extra)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return HOSO_EBAD_REQUEST;
    if (msgpack_pack_map(pk, kept_pairs(map, drop) + extra) != 0)
        return HOSO_ENOMEM;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (dropped(&kv->key, drop))
            continue;
        if (msgpack_pack_object(pk, kv->key) != 0 || msgpack_pack_object(pk, kv->val) != 0)
            return HOSO_ENOMEM;
    }
    return 0;
}

int hoso_map_without(msgpack_zone *z, const msgpack_object *map, const char *const drop[], msgpack_object *out)
{
    msgpack_object_kv *kv;
    uint32_t n = 0;

    if (map->type != MSGPACK_OBJECT_MAP)
        return HOSO_EBAD_REQUEST;
    kv = msgpack_zone_malloc(z, sizeof(*kv) * (map->via.map.size != 0 ? map->via.map.size : 1));
    if (kv == NULL)
        return HOSO_ENOMEM;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (!dropped(&map->via.map.ptr[i].key, drop))
            kv[n++] = map->via.map.ptr[i];
    out->type = MSGPACK_OBJECT_MAP;
    out->via.map.size = n;
    out->via.map.ptr = kv;
    return 0;
}

int hoso_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || s[0] == '\0')
        return -1;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (d > max || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
