/*
 * json.c - the JSON edge: JSON text -> msgpack objects in a doc's zone (jansson), and
 * msgpack -> compact JSON text for bots and curl.
 */
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* jansson's parser recurses once per level up to its own limit of 2048, which is deep
 * for a small worker stack; counting brackets first (outside strings) rejects deep input
 * before jansson descends into it. */
static int json_depth_ok(const char *s, size_t len, unsigned max_depth, hoso_errinfo *ei)
{
    unsigned depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "nested deeper than %u levels (byte %zu)", max_depth, i);
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

static int from_json(msgpack_zone *z, const json_t *j, msgpack_object *o, unsigned depth,
                     const hoso_limits *lim, hoso_errinfo *ei)
{
    int r = 0;
    memset(o, 0, sizeof(*o));
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(j), i = 0;
        if (depth + 1 > lim->max_depth)
            return hoso_fail(ei, HOSO_EBAD_REQUEST, "nested deeper than %u levels", lim->max_depth);
        if (n > lim->max_map)
            return hoso_fail(ei, HOSO_EBAD_REQUEST, "object of %zu members has more than %zu", n, lim->max_map);
        o->type = MSGPACK_OBJECT_MAP;
        o->via.map.size = (uint32_t)n;
        if (n == 0)
            return 0;
        if ((o->via.map.ptr = msgpack_zone_malloc(z, n * sizeof(msgpack_object_kv))) == NULL)
            return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val) {
            hoso_str k;
            size_t klen = strlen(key);
            if (klen > lim->max_str)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "key of %zu bytes is longer than %zu", klen, lim->max_str);
            if (hoso_zone_str(z, key, klen, &k) != 0)
                return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
            msgpack_object_kv *kv = &o->via.map.ptr[i++];
            kv->key.type = MSGPACK_OBJECT_STR;
            kv->key.via.str.ptr = k.ptr;
            kv->key.via.str.size = (uint32_t)k.len;
            if ((r = from_json(z, val, &kv->val, depth + 1, lim, ei)) != 0)
                return r;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (depth + 1 > lim->max_depth)
            return hoso_fail(ei, HOSO_EBAD_REQUEST, "nested deeper than %u levels", lim->max_depth);
        if (n > lim->max_array)
            return hoso_fail(ei, HOSO_EBAD_REQUEST, "array of %zu elements has more than %zu", n, lim->max_array);
        o->type = MSGPACK_OBJECT_ARRAY;
        o->via.array.size = (uint32_t)n;
        if (n == 0)
            return 0;
        if ((o->via.array.ptr = msgpack_zone_malloc(z, n * sizeof(msgpack_object))) == NULL)
            return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
            if ((r = from_json(z, json_array_get(j, i), &o->via.array.ptr[i], depth + 1, lim, ei)) != 0)
                return r;
        return 0;
    }
    case JSON_STRING: {
        size_t n = json_string_length(j);
        hoso_str s;
        if (n > lim->max_str)
            return hoso_fail(ei, HOSO_EBAD_REQUEST, "string of %zu bytes is longer than %zu", n, lim->max_str);
        if (hoso_zone_str(z, json_string_value(j), n, &s) != 0)
            return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        o->type = MSGPACK_OBJECT_STR;
        o->via.str.ptr = s.ptr;
        o->via.str.size = (uint32_t)n;
        return 0;
    }
    case JSON_INTEGER: {
        json_int_t v = json_integer_value(j);
        if (v >= 0) {
            o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            o->via.u64 = (uint64_t)v;
        } else {
            o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
            o->via.i64 = v;
        }
        return 0;
    }
    case JSON_REAL:
        o->type = MSGPACK_OBJECT_FLOAT64;
        o->via.f64 = json_real_value(j);
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = json_is_true(j);
        return 0;
    case JSON_NULL:
        o->type = MSGPACK_OBJECT_NIL;
        return 0;
    }
    return hoso_fail(ei, HOSO_EBAD_REQUEST, "unsupported JSON value");
}

int hoso_doc_from_json(hoso_doc *doc, const void *buf, size_t len, const hoso_limits *lim,
                       hoso_errinfo *ei)
{
    hoso_limits l;
    json_t *j = NULL;
    json_error_t jerr;
    int r = 0, zone = 0;

    memset(doc, 0, sizeof(*doc));
    if (lim != NULL)
        l = *lim;
    else
        hoso_limits_default(&l);
    if (l.max_depth == 0 || l.max_depth > HOSO__MSGPACK_MAX_DEPTH)
        l.max_depth = HOSO__MSGPACK_MAX_DEPTH;
    if (len > l.max_body) {
        r = hoso_fail(ei, HOSO_EPAYLOAD_TOO_LARGE, "the body has %zu bytes, more than %zu", len, l.max_body);
        goto Exit;
    }
    if ((r = json_depth_ok(buf, len, l.max_depth, ei)) != 0)
        goto Exit;
    /* JSON_ALLOW_NUL is on so that "\u0000" in a string reaches hoso_decode, which names
     * the field, exactly as a NUL inside a msgpack string does. */
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (j == NULL) {
        r = hoso_fail(ei, HOSO_EBAD_REQUEST, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                      jerr.text);
        goto Exit;
    }
    if (!msgpack_zone_init(&doc->zone, 4096)) {
        r = hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        goto Exit;
    }
    zone = 1;
    r = from_json(&doc->zone, j, &doc->root, 0, &l, ei);

Exit:
    if (j != NULL)
        json_decref(j);
    if (r != 0 && zone) {
        msgpack_zone_destroy(&doc->zone);
        memset(doc, 0, sizeof(*doc));
    }
    return r;
}

/* ---- msgpack -> JSON text ------------------------------------------------------- */

typedef struct jbuf {
    char *p;
    size_t len, cap;
    int oom;
} jbuf;

static void jb_put(jbuf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void jb_cstr(jbuf *b, const char *s)
{
    jb_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const uint8_t *p, size_t avail)
{
    size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || n > avail || p[0] == 0)
        return 0;
    return hoso_utf8_valid(p, n) ? n : 0;
}

/* Bytes that are not valid UTF-8 become U+FFFD: the output must stay valid JSON. */
static void jb_string(jbuf *b, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    jb_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jb_put(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[8];
            switch (c) {
            case '\n': jb_cstr(b, "\\n"); break;
            case '\r': jb_cstr(b, "\\r"); break;
            case '\t': jb_cstr(b, "\\t"); break;
            case '\b': jb_cstr(b, "\\b"); break;
            case '\f': jb_cstr(b, "\\f"); break;
            default:
                snprintf(e, sizeof(e), "\\u%04x", c);
                jb_cstr(b, e);
            }
            i++;
        } else if (c < 0x80) {
            size_t j = i;
            while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
                j++;
            jb_put(b, p + i, j - i);
            i = j;
        } else {
            size_t k = utf8_seq(p + i, n - i);
            if (k == 0) {
                jb_cstr(b, "\\ufffd");
                i++;
            } else {
                jb_put(b, p + i, k);
                i += k;
            }
        }
    }
    jb_put(b, "\"", 1);
}

static void jb_real(jbuf *b, double v, int f32)
{
    char t[40];
    if (!isfinite(v)) {
        jb_cstr(b, "null");
        return;
    }
    /* The shortest form that reads back as the same number: 0.8, not
     * 0.80000000000000004. */
    for (int prec = f32 ? 6 : 15; prec <= (f32 ? 9 : 17); prec++) {
        snprintf(t, sizeof(t), "%.*g", prec, v);
        if (f32 ? (float)strtod(t, NULL) == (float)v : strtod(t, NULL) == v)
            break;
    }
    jb_cstr(b, t);
    if (strpbrk(t, ".eE") == NULL)
        jb_cstr(b, ".0");
}

static void jb_value(jbuf *b, const msgpack_object *o);

static void jb_key(jbuf *b, const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR) {
        jb_string(b, k->via.str.ptr, k->via.str.size);
        return;
    }
    jbuf t = {0};
    jb_value(&t, k);
    if (t.oom)
        b->oom = 1;
    else
        jb_string(b, t.p, t.len);
    free(t.p);
}

/* Depth is bounded by the scan that precedes it (at most HOSO__MSGPACK_MAX_DEPTH). */
static void jb_value(jbuf *b, const msgpack_object *o)
{
    char t[32];
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        jb_cstr(b, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        jb_cstr(b, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(t, sizeof(t), "%llu", (unsigned long long)o->via.u64);
        jb_cstr(b, t);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(t, sizeof(t), "%lld", (long long)o->via.i64);
        jb_cstr(b, t);
        break;
    case MSGPACK_OBJECT_FLOAT32:
        jb_real(b, o->via.f64, 1);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        jb_real(b, o->via.f64, 0);
        break;
    case MSGPACK_OBJECT_STR:
        jb_string(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN: {
        size_t n = sodium_base64_ENCODED_LEN(o->via.bin.size, sodium_base64_VARIANT_ORIGINAL);
        char *e = malloc(n);
        if (e == NULL) {
            b->oom = 1;
            break;
        }
        sodium_bin2base64(e, n, (const unsigned char *)o->via.bin.ptr, o->via.bin.size,
                          sodium_base64_VARIANT_ORIGINAL);
        jb_put(b, "\"", 1);
        jb_cstr(b, e);
        jb_put(b, "\"", 1);
        free(e);
        break;
    }
    case MSGPACK_OBJECT_ARRAY:
        jb_put(b, "[", 1);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                jb_put(b, ",", 1);
            jb_value(b, &o->via.array.ptr[i]);
        }
        jb_put(b, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP:
        jb_put(b, "{", 1);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                jb_put(b, ",", 1);
            jb_key(b, &o->via.map.ptr[i].key);
            jb_put(b, ":", 1);
            jb_value(b, &o->via.map.ptr[i].val);
        }
        jb_put(b, "}", 1);
        break;
    default:
        /* ext never passes the scan */
        jb_cstr(b, "null");
        break;
    }
}

int hoso_msgpack_to_json(const void *buf, size_t len, char **out, size_t *outlen)
{
    hoso_limits lim = {len, HOSO__MSGPACK_MAX_DEPTH, len, len, len};
    msgpack_zone zone;
    msgpack_object root;
    jbuf b = {0};
    int r = 0, zoned = 0;

    *out = NULL;
    if (outlen)
        *outlen = 0;
    if (len == 0 || hoso__msgpack_scan(buf, len, &lim, HOSO__SCAN_ANY_KEYS, NULL) != 0) {
        r = HOSO_EBAD_REQUEST;
        goto Exit;
    }
    if (!msgpack_zone_init(&zone, 4096)) {
        r = HOSO_ENOMEM;
        goto Exit;
    }
    zoned = 1;
    size_t off = 0;
    int u = msgpack_unpack(buf, len, &off, &zone, &root);
    if (u == MSGPACK_UNPACK_NOMEM_ERROR) {
        r = HOSO_ENOMEM;
        goto Exit;
    }
    if (u != MSGPACK_UNPACK_SUCCESS || off != len) {
        r = HOSO_EBAD_REQUEST;
        goto Exit;
    }
    jb_value(&b, &root);
    if (b.oom) {
        r = HOSO_ENOMEM;
        goto Exit;
    }
    *out = b.p;
    if (outlen)
        *outlen = b.len;
    b.p = NULL;

Exit:
    free(b.p);
    if (zoned)
        msgpack_zone_destroy(&zone);
    return r;
}
