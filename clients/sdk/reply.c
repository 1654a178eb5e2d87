/*
 * reply.c - turns an HTTP outcome into a hoso_client_reply: the body decoded with the
 * protocol library's strict decoder, the single error shape mapped back to HOSO_E*,
 * and the dossier, dossier list or service list decoded when the reply has them. A
 * reply the client cannot read is an error of its own, never a crash.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

void hoso__obj_cstr(const msgpack_object *o, char *buf, size_t cap)
{
    buf[0] = 0;
    if (!o || o->type != MSGPACK_OBJECT_STR || cap == 0) return;
    size_t n = o->via.str.size < cap - 1 ? o->via.str.size : cap - 1;
    memcpy(buf, o->via.str.ptr, n);
    buf[n] = 0;
}

int hoso__err_from_code(const char *code)
{
    /* The first row with that wire code is the canonical one (INTERNAL before NOMEM). */
    for (int e = 1; e < HOSO__ERR_COUNT; e++)
        if (strcmp(hoso_err_code(-e), code) == 0) return -e;
    return HOSO_EINTERNAL;
}

void hoso__error_from_obj(hoso_client_error *e, int http_status, const msgpack_object *obj, int err)
{
    memset(e, 0, sizeof(*e));
    e->http_status = http_status;
    const msgpack_object *eo = obj ? hoso_map_get(obj, "error") : NULL;
    if (eo && eo->type == MSGPACK_OBJECT_MAP) {
        hoso__obj_cstr(hoso_map_get(eo, "code"), e->code, sizeof(e->code));
        hoso__obj_cstr(hoso_map_get(eo, "message"), e->message, sizeof(e->message));
        const msgpack_object *f = hoso_map_get(hoso_map_get(eo, "details"), "fields");
        size_t n = 0;
        for (uint32_t i = 0; f && f->type == MSGPACK_OBJECT_ARRAY && i < f->via.array.size; i++) {
            char fld[72], prob[100];
            hoso__obj_cstr(hoso_map_get(&f->via.array.ptr[i], "field"), fld, sizeof(fld));
            hoso__obj_cstr(hoso_map_get(&f->via.array.ptr[i], "problem"), prob, sizeof(prob));
            int w = snprintf(e->details + n, sizeof(e->details) - n, "%s%s: %s", n ? "; " : "", fld, prob);
            if (w < 0 || (size_t)w >= sizeof(e->details) - n) break;
            n += (size_t)w;
        }
    }
    if (e->code[0]) {
        e->err = hoso__err_from_code(e->code);
    } else {
        e->err = err ? err : HOSO_EINTERNAL;
        snprintf(e->code, sizeof(e->code), "%s", hoso_err_code(e->err));
    }
    if (!e->message[0]) snprintf(e->message, sizeof(e->message), "%s", hoso_err_message(e->err));
}

void hoso__reply_error(hoso__reply *r, int err, int http_status, const char *code, const char *fmt, ...)
{
    memset(r, 0, sizeof(*r));
    r->pub.error.err = err;
    r->pub.error.http_status = http_status;
    snprintf(r->pub.error.code, sizeof(r->pub.error.code), "%s", code ? code : hoso_err_code(err));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->pub.error.message, sizeof(r->pub.error.message), fmt, ap);
    va_end(ap);
}

/* Decodes root.<key> (an array) with dec into a malloc'ed array of `size`-byte items. */
static int decode_list(hoso__reply *r, const char *key, size_t size, void **out, size_t *n,
                       int (*dec)(hoso_doc *, const msgpack_object *, void *, hoso_errinfo *))
{
    const msgpack_object *a = hoso_map_get(&r->doc.root, key);
    *out = NULL;
    *n = 0;
    if (!a || a->type != MSGPACK_OBJECT_ARRAY) return 0;
    char *items = calloc(a->via.array.size ? a->via.array.size : 1, size);
    if (!items) return HOSO_ENOMEM;
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        hoso_errinfo ei = {0};
        int rc = dec(&r->doc, &a->via.array.ptr[i], items + *n * size, &ei);
        if (rc) {
            free(items);
            return rc;
        }
        (*n)++;
    }
    *out = items;
    return 0;
}

static int dec_dossier(hoso_doc *d, const msgpack_object *o, void *out, hoso_errinfo *ei)
{
    return hoso_dossier_decode(d, o, out, ei);
}
static int dec_service(hoso_doc *d, const msgpack_object *o, void *out, hoso_errinfo *ei)
{
    return hoso_service_decode(d, o, out, ei);
}

void hoso__reply_from_http(hoso__reply *r, int err, const char *why, int status, const char *body, size_t len)
{
    hoso_limits lim;
    hoso_errinfo ei = {0};
    memset(r, 0, sizeof(*r));
    if (err) {
        hoso__reply_error(r, err, 0, NULL, "%s", why && why[0] ? why : hoso_err_message(err));
        return;
    }
    hoso_limits_default(&lim);
    lim.max_body = HOSO__HTTP_MAX_REPLY_BYTES;
    lim.max_array = 100000;
    lim.max_map = 100000;
    int have = 0;
    if (len > 0) {
        have = hoso_doc_from_msgpack(&r->doc, body, len, &lim, &ei) == 0;
        /* A proxy or an old server may answer JSON despite Accept. */
        if (!have) have = hoso_doc_from_json(&r->doc, body, len, &lim, &ei) == 0;
    }
    if (have) r->pub.body = &r->doc.root;
    if (status < 200 || status >= 300) {
        int base = status == 404 ? HOSO_ENOT_FOUND
                   : status == 401 ? HOSO_EUNAUTHORIZED
                   : status == 503 ? HOSO_EUNAVAILABLE
                   : status >= 500 ? HOSO_EINTERNAL
                                   : HOSO_EBAD_REQUEST;
        hoso__error_from_obj(&r->pub.error, status, r->pub.body, base);
        return;
    }
    if (!have && len > 0) {
        hoso__reply_error(r, HOSO_EBAD_REQUEST, status, "BAD_REPLY", "the server's reply could not be read");
        return;
    }
    if (!have) return;
    const msgpack_object *d = hoso_map_get(&r->doc.root, "dossier");
    if (d && d->type == MSGPACK_OBJECT_MAP) {
        if (hoso_dossier_decode(&r->doc, d, &r->one, &ei) == 0) r->pub.dossier = &r->one;
    }
    void *list = NULL;
    size_t n = 0;
    int rc = decode_list(r, "dossiers", sizeof(hoso_dossier), &list, &n, dec_dossier);
    if (rc == 0) {
        r->list = list;
        r->pub.dossiers = r->list;
        r->pub.ndossiers = n;
        rc = decode_list(r, "services", sizeof(hoso_service), &list, &n, dec_service);
    }
    if (rc == 0) {
        r->svcs = list;
        r->pub.services = r->svcs;
        r->pub.nservices = n;
    }
    const msgpack_object *next = hoso_map_get(&r->doc.root, "next");
    if (next && next->type == MSGPACK_OBJECT_STR) {
        /* The zone keeps the bytes alive; copy them NUL-terminated there. */
        char *s = msgpack_zone_malloc(&r->doc.zone, next->via.str.size + 1);
        if (s) {
            memcpy(s, next->via.str.ptr, next->via.str.size);
            s[next->via.str.size] = 0;
            r->pub.next = s;
        }
    }
    if (rc) {
        r->pub.error.err = HOSO_EBAD_REQUEST;
        r->pub.error.http_status = status;
        snprintf(r->pub.error.code, sizeof(r->pub.error.code), "BAD_REPLY");
        snprintf(r->pub.error.message, sizeof(r->pub.error.message), "a list in the server's reply could not be read");
    }
}

void hoso__reply_destroy(hoso__reply *r)
{
    free(r->list);
    free(r->svcs);
    hoso_doc_destroy(&r->doc);
    memset(r, 0, sizeof(*r));
}

void hoso__cache_dossier_obj(hoso_client *c, const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_MAP) return;
    const msgpack_object *code = hoso_map_get(o, "code"), *ver = hoso_map_get(o, "version");
    if (!code || code->type != MSGPACK_OBJECT_STR || code->via.str.size == 0 || code->via.str.size > 120) return;
    char key[128];
    hoso__obj_cstr(code, key, sizeof(key));
    int64_t v = ver && ver->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)ver->via.u64 : 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *o) == 0) hoso__store_dossier_put(&c->store, key, v, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}
