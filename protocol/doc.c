/*
 * doc.c - strict msgpack decoding into a per-message arena (hoso_doc), and the small
 * helpers over decoded objects.
 *
 * Hostile input is scanned before msgpack-c unpacks it: msgpack-c reserves room for
 * every element a container header announces and fails with NOMEM past 32 nested
 * containers, so depth, sizes and the element counts are checked on the raw bytes
 * first, without allocating and without recursion.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void hoso_limits_default(hoso_limits *lim)
{
    lim->max_body = 1024 * 1024;
    lim->max_depth = 16;
    lim->max_str = 64 * 1024;
    lim->max_array = 1000;
    lim->max_map = 256;
}

static uint64_t be_read(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

typedef struct scan_frame {
    uint64_t left; /* items still expected: elements, or 2 per map pair */
    int map;
} scan_frame;

enum { SCAN_SCALAR, SCAN_STR, SCAN_BIN, SCAN_ARRAY, SCAN_MAP };

int hoso__msgpack_scan(const uint8_t *p, size_t len, const hoso_limits *lim, unsigned flags,
                       hoso_errinfo *ei)
{
    scan_frame stack[HOSO__MSGPACK_MAX_DEPTH];
    unsigned max_depth = lim->max_depth;
    if (max_depth == 0 || max_depth > HOSO__MSGPACK_MAX_DEPTH)
        max_depth = HOSO__MSGPACK_MAX_DEPTH;
    unsigned depth = 0;
    size_t pos = 0;

    for (;;) {
        if (pos >= len)
            return hoso_fail(ei, HOSO_EBAD_REQUEST, "malformed msgpack: truncated at byte %zu", pos);
        int is_key = depth > 0 && stack[depth - 1].map && stack[depth - 1].left % 2 == 0;
        size_t at = pos;
        uint8_t b = p[pos++];
        int kind = SCAN_SCALAR;
        size_t hdr = 0;     /* bytes of length/count after the type byte */
        uint64_t n = 0;     /* payload bytes (scalar), length (str/bin), count (containers) */

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            n = 0;
        } else if (b >= 0x80 && b <= 0x8f) {
            kind = SCAN_MAP, n = b & 0x0f;
        } else if (b >= 0x90 && b <= 0x9f) {
            kind = SCAN_ARRAY, n = b & 0x0f;
        } else if (b >= 0xa0 && b <= 0xbf) {
            kind = SCAN_STR, n = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xc5: case 0xc6:
                kind = SCAN_BIN, hdr = (size_t)1 << (b - 0xc4);
                break;
            case 0xd9: case 0xda: case 0xdb:
                kind = SCAN_STR, hdr = (size_t)1 << (b - 0xd9);
                break;
            case 0xdc: case 0xdd:
                kind = SCAN_ARRAY, hdr = b == 0xdc ? 2 : 4;
                break;
            case 0xde: case 0xdf:
                kind = SCAN_MAP, hdr = b == 0xde ? 2 : 4;
                break;
            case 0xca: n = 4; break;
            case 0xcb: n = 8; break;
            case 0xcc: case 0xd0: n = 1; break;
            case 0xcd: case 0xd1: n = 2; break;
            case 0xce: case 0xd2: n = 4; break;
            case 0xcf: case 0xd3: n = 8; break;
            case 0xc7: case 0xc8: case 0xc9:
            case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "msgpack ext types are not accepted (byte %zu)", at);
            default:
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "malformed msgpack: invalid type byte 0x%02x at byte %zu",
                                 b, at);
            }
            if (hdr > 0) {
                if (len - pos < hdr)
                    return hoso_fail(ei, HOSO_EBAD_REQUEST, "malformed msgpack: truncated at byte %zu", at);
                n = be_read(p + pos, hdr);
                pos += hdr;
            }
        }
        if (is_key && kind != SCAN_STR && !(flags & HOSO__SCAN_ANY_KEYS))
            return hoso_fail(ei, HOSO_EBAD_REQUEST, "map keys must be strings (byte %zu)", at);

        size_t rest = len - pos;
        if (kind == SCAN_SCALAR || kind == SCAN_STR || kind == SCAN_BIN) {
            if ((kind == SCAN_STR || kind == SCAN_BIN) && n > lim->max_str)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "string of %llu bytes is longer than %zu (byte %zu)",
                                 (unsigned long long)n, lim->max_str, at);
            if (n > rest)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "malformed msgpack: truncated at byte %zu", at);
            pos += (size_t)n;
        } else {
            int map = kind == SCAN_MAP;
            if (map && n > lim->max_map)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "map of %llu pairs has more than %zu (byte %zu)",
                                 (unsigned long long)n, lim->max_map, at);
            if (!map && n > lim->max_array)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "array of %llu elements has more than %zu (byte %zu)",
                                 (unsigned long long)n, lim->max_array, at);
            if (depth + 1 > max_depth)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "nested deeper than %u levels (byte %zu)", max_depth, at);
            uint64_t items = map ? n * 2 : n;
            if (items > rest)
                return hoso_fail(ei, HOSO_EBAD_REQUEST, "malformed msgpack: truncated at byte %zu", at);
            if (items > 0) {
                stack[depth].left = items;
                stack[depth].map = map;
                depth++;
                continue;
            }
        }
        /* One item is complete: count it in its container, closing every container
         * that this completes. */
        while (depth > 0 && --stack[depth - 1].left == 0)
            depth--;
        if (depth == 0)
            break;
    }
    if (pos != len)
        return hoso_fail(ei, HOSO_EBAD_REQUEST, "trailing bytes after the msgpack object (%zu of %zu used)", pos, len);
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const msgpack_object *x = &(*(const msgpack_object_kv *const *)a)->key;
    const msgpack_object *y = &(*(const msgpack_object_kv *const *)b)->key;
    if (x->via.str.size != y->via.str.size)
        return x->via.str.size < y->via.str.size ? -1 : 1;
    return memcmp(x->via.str.ptr, y->via.str.ptr, x->via.str.size);
}

static int keys_equal(const msgpack_object *x, const msgpack_object *y)
{
    return x->type == MSGPACK_OBJECT_STR && y->type == MSGPACK_OBJECT_STR &&
           x->via.str.size == y->via.str.size && memcmp(x->via.str.ptr, y->via.str.ptr, x->via.str.size) == 0;
}

static int map_duplicates(const msgpack_object_map *m, hoso_errinfo *ei)
{
    const msgpack_object *dup = NULL;
    if (m->size <= 16) {
        for (uint32_t i = 1; i < m->size && !dup; i++)
            for (uint32_t j = 0; j < i; j++)
                if (keys_equal(&m->ptr[i].key, &m->ptr[j].key)) {
                    dup = &m->ptr[i].key;
                    break;
                }
    } else {
        /* Sorting keeps a hostile body of many large maps linear-logarithmic. */
        const msgpack_object_kv **v = malloc(m->size * sizeof(*v));
        if (v == NULL)
            return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < m->size; i++)
            v[i] = &m->ptr[i];
        qsort(v, m->size, sizeof(*v), key_cmp);
        for (uint32_t i = 1; i < m->size && !dup; i++)
            if (keys_equal(&v[i]->key, &v[i - 1]->key))
                dup = &v[i]->key;
        free(v);
    }
    if (dup != NULL) {
        int n = dup->via.str.size > 64 ? 64 : (int)dup->via.str.size;
        return hoso_fail(ei, HOSO_EBAD_REQUEST, "duplicate map key \"%.*s\"", n, dup->via.str.ptr);
    }
    return 0;
}

/* Recursion is bounded: the scanner already limited the depth to at most
 * HOSO__MSGPACK_MAX_DEPTH. */
int hoso__check_duplicates(const msgpack_object *o, hoso_errinfo *ei)
{
    int r = 0;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size && r == 0; i++)
            r = hoso__check_duplicates(&o->via.array.ptr[i], ei);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        r = map_duplicates(&o->via.map, ei);
        for (uint32_t i = 0; i < o->via.map.size && r == 0; i++)
            r = hoso__check_duplicates(&o->via.map.ptr[i].val, ei);
    }
    return r;
}

int hoso_doc_from_msgpack(hoso_doc *doc, const void *buf, size_t len, const hoso_limits *lim,
                          hoso_errinfo *ei)
{
    hoso_limits def;
    int r = 0, zone = 0;
    memset(doc, 0, sizeof(*doc));
    if (lim == NULL) {
        hoso_limits_default(&def);
        lim = &def;
    }
    if (len > lim->max_body) {
        r = hoso_fail(ei, HOSO_EPAYLOAD_TOO_LARGE, "the body has %zu bytes, more than %zu", len, lim->max_body);
        goto Exit;
    }
    if (len == 0) {
        r = hoso_fail(ei, HOSO_EBAD_REQUEST, "empty body");
        goto Exit;
    }
    if ((r = hoso__msgpack_scan(buf, len, lim, 0, ei)) != 0)
        goto Exit;
    if (!msgpack_zone_init(&doc->zone, 4096)) {
        r = hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        goto Exit;
    }
    zone = 1;
    /* msgpack-c points strings into the input; the copy makes the tree live exactly as
     * long as the doc, whatever happens to the caller's buffer. */
    char *copy = msgpack_zone_malloc(&doc->zone, len);
    if (copy == NULL) {
        r = hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        goto Exit;
    }
    memcpy(copy, buf, len);
    size_t off = 0;
    switch (msgpack_unpack(copy, len, &off, &doc->zone, &doc->root)) {
    case MSGPACK_UNPACK_SUCCESS:
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        r = hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        goto Exit;
    default:
        r = hoso_fail(ei, HOSO_EBAD_REQUEST, "malformed msgpack");
        goto Exit;
    }
    if (off != len) {
        r = hoso_fail(ei, HOSO_EBAD_REQUEST, "trailing bytes after the msgpack object");
        goto Exit;
    }
    r = hoso__check_duplicates(&doc->root, ei);

Exit:
    if (r != 0 && zone) {
        msgpack_zone_destroy(&doc->zone);
        memset(doc, 0, sizeof(*doc));
    }
    return r;
}

void hoso_doc_destroy(hoso_doc *doc)
{
    /* A doc that failed to decode, or was destroyed already, is all zeros: a zone
     * that was initialized always has a chunk size. */
    if (doc == NULL || doc->zone.chunk_size == 0)
        return;
    msgpack_zone_destroy(&doc->zone);
    memset(doc, 0, sizeof(*doc));
}

int hoso_utf8_valid(const void *s, size_t len)
{
    const uint8_t *p = s, *end = p + len;
    while (p < end) {
        uint8_t c = *p;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0)
            n = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            n = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            n = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if ((size_t)(end - p) < n)
            return 0;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n;
    }
    return 1;
}
