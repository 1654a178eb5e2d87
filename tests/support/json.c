/*
 * json.c - bodies and replies: JSON values packed as msgpack, msgpack replies seen as
 * JSON, path lookups and the checks every test makes on error replies. Tests assert on
 * one representation (jansson) whatever the wire format was; the conversion here is
 * independent of libhoso_protocol so that a codec bug cannot hide itself.
 */
#define _GNU_SOURCE
#include "hoso_test.h"

#include <ctype.h>
#include <stdarg.h>

void ht_pack_json(msgpack_packer *pk, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *e;
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach((json_t *)v, k, e) {
            hoso_pack_cstr(pk, k);
            ht_pack_json(pk, e);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, e) ht_pack_json(pk, e);
        break;
    }
    case JSON_STRING:
        hoso_pack_str(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        break;
    }
}

json_t *ht_jsonf(const char *fmt, ...)
{
    va_list ap;
    char *txt = NULL;
    va_start(ap, fmt);
    if (vasprintf(&txt, fmt, ap) < 0) ht_fail("vasprintf");
    va_end(ap);
    json_error_t e;
    json_t *v = json_loads(txt, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) ht_fail("bad JSON in test (%s at %d:%d): %s", e.text, e.line, e.column, txt);
    free(txt);
    return v;
}

static json_t *hex_string(const char *p, size_t n)
{
    char *h = malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) sprintf(h + 2 * i, "%02x", (unsigned char)p[i]);
    h[2 * n] = 0;
    json_t *s = json_string(h);
    free(h);
    return s;
}

json_t *ht_json_from_msgpack(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: {
        /* Invalid UTF-8 in a reply is kept visible instead of failing the parse. */
        json_t *s = json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
        return s;
    }
    case MSGPACK_OBJECT_BIN:
        return hex_string(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_EXT:
        return hex_string(o->via.ext.ptr, o->via.ext.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, ht_json_from_msgpack(&o->via.array.ptr[i]));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char kb[128];
            char *key = kb;
            if (k->type == MSGPACK_OBJECT_STR) {
                key = strndup(k->via.str.ptr, k->via.str.size);
            } else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                snprintf(kb, sizeof(kb), "%llu", (unsigned long long)k->via.u64);
            } else {
                snprintf(kb, sizeof(kb), "?key%u", i);
            }
            json_object_set_new(m, key, ht_json_from_msgpack(&o->via.map.ptr[i].val));
            if (key != kb) free(key);
        }
        return m;
    }
    }
    return json_null();
}

json_t *ht_j(const json_t *root, const char *path)
{
    const json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        char tok[128];
        size_t n = 0;
        while (*p == '.' || *p == '[' || *p == ']') p++;
        if (!*p) break;
        while (*p && *p != '.' && *p != '[' && *p != ']' && n < sizeof(tok) - 1) tok[n++] = *p++;
        tok[n] = 0;
        if (json_is_array(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            cur = *end || i < 0 ? NULL : json_array_get(cur, (size_t)i);
        } else if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else {
            cur = NULL;
        }
    }
    return (json_t *)cur;
}

long long ht_jint(const json_t *root, const char *path)
{
    json_t *v = ht_j(root, path);
    return json_is_integer(v) ? (long long)json_integer_value(v) : LLONG_MIN;
}

const char *ht_jstr(const json_t *root, const char *path)
{
    json_t *v = ht_j(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *ht_err_code(const ht_resp *r)
{
    const char *c = r->json ? ht_jstr(r->json, "error.code") : NULL;
    return c ? c : "";
}

int ht_err_names_field(const ht_resp *r, const char *field)
{
    json_t *fields = r->json ? ht_j(r->json, "error.details.fields") : NULL;
    size_t i;
    json_t *e;
    size_t fl = strlen(field);
    json_array_foreach(fields, i, e) {
        const char *f = ht_jstr(e, "field");
        if (!f) continue;
        size_t l = strlen(f);
        if (strcmp(f, field) == 0) return 1;
        if (l > fl && strcmp(f + l - fl, field) == 0 && (f[l - fl - 1] == '.' || f[l - fl - 1] == ']'))
            return 1;
        /* "papers[0]" names "papers" too. */
        if (strncmp(f, field, fl) == 0 && (f[fl] == '.' || f[fl] == '[')) return 1;
    }
    return 0;
}

json_t *ht_dossier_of(const ht_resp *r)
{
    if (!r->json) return NULL;
    json_t *d = json_object_get(r->json, "dossier");
    return json_is_object(d) ? d : r->json;
}

json_t *ht_items(const ht_resp *r, const char *hint)
{
    if (!r->json) return NULL;
    if (json_is_array(r->json)) return r->json;
    const char *names[] = {hint, "dossiers", "services", "items", "events", "papers"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *a = names[i] ? json_object_get(r->json, names[i]) : NULL;
        if (json_is_array(a)) return a;
    }
    return NULL;
}

const char *ht_dump(const json_t *v)
{
    static _Thread_local char ring[4][4096];
    static _Thread_local int at;
    char *buf = ring[at++ & 3];
    if (!v) return "(none)";
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, 4096, "%s", s ? s : "(unprintable)");
    free(s);
    return buf;
}

void ht__expect_reply(const char *file, int line, const char *what, const ht_resp *r, int status, const char *code)
{
    int ok = r->status == status;
    const char *got = ht_err_code(r);
    if (ok && code) {
        ok = 0;
        for (const char *p = code; *p;) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            if (strlen(got) == n && strncmp(got, p, n) == 0) ok = 1;
            p += n + (bar ? 1 : 0);
        }
    } else if (ok && !code && *got) {
        ok = 0;
    }
    if (!ok) {
        fprintf(stderr, "%s:%d: %s: got %d %s, expected %d %s\n  body (%zu bytes, %s): %.600s\n", file, line, what,
                r->status, *got ? got : "(no error code)", status, code ? code : "(success)", r->len, r->ctype,
                r->json ? ht_dump(r->json) : (r->body ? r->body : ""));
        exit(1);
    }
}

void ht_msgpack_of(const json_t *v, msgpack_sbuffer *sb, msgpack_unpacked *u)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    ht_pack_json(&pk, v);
    msgpack_unpacked_init(u);
    if (msgpack_unpack_next(u, sb->data, sb->size, NULL) != MSGPACK_UNPACK_SUCCESS)
        ht_fail("a JSON value does not repack as msgpack: %s", ht_dump(v));
}
