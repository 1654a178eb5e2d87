/*
 * dossier_ops.c - domain rules shared by the route handlers: visibility, status steps
 * with history, saving with the owner's event, stats, the paper vault checks and the
 * list/reply packing.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "dossier_ops.h"

int hoso__doc_init(hoso_doc *doc)
{
    memset(doc, 0, sizeof(*doc));
    if (!msgpack_zone_init(&doc->zone, 4096)) return HOSO_ENOMEM;
    doc->root.type = MSGPACK_OBJECT_NIL;
    return 0;
}

hoso_str hoso__ops_zstr(hoso_doc *doc, const char *s, size_t len)
{
    hoso_str out = {NULL, 0};
    char *p = msgpack_zone_malloc(&doc->zone, len + 1);
    if (!p) return out;
    if (len) memcpy(p, s, len);
    p[len] = '\0';
    out.ptr = p;
    out.len = len;
    return out;
}

hoso_str hoso__ops_zbytes(hoso_doc *doc, const msgpack_sbuffer *sb)
{
    return hoso__ops_zstr(doc, sb->data ? sb->data : "", sb->size);
}

int hoso__dossier_visible(const char *account, hoso_role role, const char *agency, const hoso_dossier *d)
{
    if (role == HOSO_ROLE_ADMIN) return 1;
    if (role == HOSO_ROLE_OFFICER)
        return agency && agency[0] && d->agency.ptr && strcmp(agency, d->agency.ptr) == 0;
    return account && account[0] && d->owner.ptr && strcmp(account, d->owner.ptr) == 0;
}

int hoso__wop_load_dossier(hoso_wop *op, hoso_txn *t, int officer, hoso_doc *doc, hoso_dossier *d)
{
    int ret = hoso_dossier_get(t, op->params[0], doc, d);
    if (ret && ret != HOSO_ENOT_FOUND) return hoso_wop_fail(op, ret, "cannot read the dossier");
    /* Agency routes serve officers and admins, citizen routes the owner only; the
     * reply is the same whether the code is unknown or belongs to someone else. */
    int role_ok = officer ? (op->role == HOSO_ROLE_ADMIN || op->role == HOSO_ROLE_OFFICER)
                          : op->role == HOSO_ROLE_CITIZEN;
    if (ret || !role_ok || !hoso__dossier_visible(op->account, op->role, op->agency, d))
        return hoso_wop_fail(op, HOSO_ENOT_FOUND, "no such dossier");
    return 0;
}

int hoso__dossier_step(hoso_doc *doc, hoso_dossier *d, int status, int64_t at, const char *by,
                       const char *note, size_t note_len)
{
    hoso_history *h = msgpack_zone_malloc(&doc->zone, sizeof(*h) * (d->nhistory + 1));
    if (!h) return HOSO_ENOMEM;
    if (d->nhistory) memcpy(h, d->history, sizeof(*h) * d->nhistory);
    hoso_history *e = &h[d->nhistory];
    e->status = status;
    e->at = at;
    e->by = hoso__ops_zstr(doc, by, strlen(by));
    e->note = hoso__ops_zstr(doc, note ? note : "", note ? note_len : 0);
    if (!e->by.ptr || !e->note.ptr) return HOSO_ENOMEM;
    d->history = h;
    d->nhistory++;
    d->status = status;
    d->version++;
    return 0;
}

int hoso__dossier_save(hoso_txn *t, const hoso_dossier *d, hoso_event_type type, int64_t at)
{
    int ret = hoso_dossier_put(t, d, type == HOSO_EV_DOSSIER_CREATED);
    if (ret) return ret;
    return hoso_event_append(t, d->owner.ptr, d->agency.ptr, type, at, d, NULL);
}

int hoso__dossier_stats(hoso_txn *t, const hoso_dossier *d, int64_t at)
{
    int on_time = 0, late = 0;
    if (d->status == HOSO_ST_DONE) {
        if (d->due_at == 0 || at <= d->due_at)
            on_time = 1;
        else
            late = 1;
    }
    return hoso_stats_bump(t, d->agency.ptr, d->service.ptr, at, (int)d->status, 0, on_time, late);
}

static void pack_kv(msgpack_packer *pk, const char *k)
{
    hoso_pack_cstr(pk, k);
}

int hoso__wop_conflict(hoso_wop *op, const hoso_dossier *d, int64_t sent_version)
{
    char msg[160];
    msgpack_packer pk;

    snprintf(msg, sizeof(msg), "the dossier is at version %lld, not %lld; reload it and try again",
             (long long)d->version, (long long)sent_version);
    op->reply.size = 0;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pack_kv(&pk, "error");
    msgpack_pack_map(&pk, 3);
    pack_kv(&pk, "code");
    hoso_pack_cstr(&pk, hoso_err_code(HOSO_EVERSION_CONFLICT));
    pack_kv(&pk, "message");
    hoso_pack_cstr(&pk, msg);
    pack_kv(&pk, "details");
    msgpack_pack_map(&pk, 2);
    pack_kv(&pk, "version");
    msgpack_pack_int64(&pk, d->version);
    pack_kv(&pk, "dossier");
    if (hoso_dossier_encode(&pk, d)) return hoso_wop_fail(op, HOSO_ENOMEM, "cannot encode the dossier");
    op->http_status = hoso_err_http_status(HOSO_EVERSION_CONFLICT);
    return 0;
}

int hoso__wop_reply_dossier(hoso_wop *op, int http_status, const hoso_dossier *d)
{
    msgpack_packer pk;
    op->reply.size = 0;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pack_kv(&pk, "dossier");
    if (hoso_dossier_encode(&pk, d)) return hoso_wop_fail(op, HOSO_ENOMEM, "cannot encode the dossier");
    op->http_status = http_status;
    return 0;
}

/* Papers ---------------------------------------------------------------------------- */

static void field_name(char *buf, size_t sz, const char *prefix, const char *field)
{
    if (prefix && prefix[0])
        snprintf(buf, sz, "%s.%s", prefix, field);
    else
        snprintf(buf, sz, "%s", field);
}

int hoso__paper_check(const hoso_paper *p, const char *prefix, hoso_errinfo *ei)
{
    char f[64];
    int bad = 0;

    if (!hoso__has(&p->type) || p->type.len > 48) {
        field_name(f, sizeof(f), prefix, "type");
        bad = hoso_fail_field(ei, f, "must be 1 to 48 characters");
    } else {
        for (size_t i = 0; i < p->type.len; i++) {
            unsigned char c = (unsigned char)p->type.ptr[i];
            if (!(islower(c) || isdigit(c) || c == '_')) {
                field_name(f, sizeof(f), prefix, "type");
                bad = hoso_fail_field(ei, f, "only a-z, 0-9 and _ (e.g. \"cccd\")");
                break;
            }
        }
    }
    if (!hoso__has(&p->number) || p->number.len > 64) {
        field_name(f, sizeof(f), prefix, "number");
        bad = hoso_fail_field(ei, f, "must be 1 to 64 bytes");
    }
    if (!hoso__has(&p->issuer) || p->issuer.len > 200) {
        field_name(f, sizeof(f), prefix, "issuer");
        bad = hoso_fail_field(ei, f, "must be 1 to 200 bytes");
    }
    if (p->valid_until < 0) {
        field_name(f, sizeof(f), prefix, "valid_until");
        bad = hoso_fail_field(ei, f, "must be 0 (no expiry) or a time in ms");
    }
    if (hoso__has(&p->sha256)) {
        int ok = p->sha256.len == 64;
        for (size_t i = 0; ok && i < 64; i++) ok = isxdigit((unsigned char)p->sha256.ptr[i]) != 0;
        if (!ok) {
            field_name(f, sizeof(f), prefix, "sha256");
            bad = hoso_fail_field(ei, f, "must be 64 hex characters");
        }
    }
    return bad ? HOSO_EVALIDATION_FAILED : 0;
}

static int paper_str(hoso_doc *doc, const msgpack_object *v, hoso_str *out, const char *prefix, const char *key,
                     hoso_errinfo *ei)
{
    char f[64];
    if (v->type != MSGPACK_OBJECT_STR) {
        field_name(f, sizeof(f), prefix, key);
        return hoso_fail_field(ei, f, "must be a string");
    }
    *out = hoso__ops_zstr(doc, v->via.str.ptr, v->via.str.size);
    return out->ptr ? 0 : HOSO_ENOMEM;
}

int hoso__paper_parse(hoso_doc *doc, const msgpack_object *o, const char *prefix, hoso_paper *p,
                      hoso_errinfo *ei)
{
    char f[64];
    int ret = 0;

    memset(p, 0, sizeof(*p));
    if (o->type != MSGPACK_OBJECT_MAP) return hoso_fail_field(ei, prefix, "must be a map");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        int r = 0;
        if (hoso_obj_streq(k, "id"))
            r = paper_str(doc, v, &p->id, prefix, "id", ei);
        else if (hoso_obj_streq(k, "type"))
            r = paper_str(doc, v, &p->type, prefix, "type", ei);
        else if (hoso_obj_streq(k, "number"))
            r = paper_str(doc, v, &p->number, prefix, "number", ei);
        else if (hoso_obj_streq(k, "issuer"))
            r = paper_str(doc, v, &p->issuer, prefix, "issuer", ei);
        else if (hoso_obj_streq(k, "sha256"))
            r = paper_str(doc, v, &p->sha256, prefix, "sha256", ei);
        else if (hoso_obj_streq(k, "valid_until")) {
            if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
                p->valid_until = (int64_t)v->via.u64;
            else if (v->type != MSGPACK_OBJECT_NIL) {
                field_name(f, sizeof(f), prefix, "valid_until");
                r = hoso_fail_field(ei, f, "must be 0 or a time in ms");
            }
        } else {
            char key[40] = "?";
            if (k->type == MSGPACK_OBJECT_STR)
                snprintf(key, sizeof(key), "%.*s", (int)(k->via.str.size < 32 ? k->via.str.size : 32),
                         k->via.str.ptr);
            field_name(f, sizeof(f), prefix, key);
            r = hoso_fail_field(ei, f, "unknown field");
        }
        if (r == HOSO_ENOMEM) return r;
        if (r) ret = r;
    }
    if (ret) return ret;
    if (hoso__has(&p->id)) {
        /* A reference to a paper of the caller's vault: the vault's copy is used, so
         * only the id (and the type, which must match) matter here. */
        if (p->id.len > 64) return hoso_fail_field(ei, prefix, "id: at most 64 characters");
        return 0;
    }
    return hoso__paper_check(p, prefix, ei);
}

int hoso__papers_check(hoso_doc *doc, const msgpack_object *arr, hoso_errinfo *ei)
{
    int ret = 0;
    if (!arr || arr->type == MSGPACK_OBJECT_NIL) return 0;
    if (arr->type != MSGPACK_OBJECT_ARRAY) return hoso_fail_field(ei, "papers", "must be an array");
    if (arr->via.array.size > 100) return hoso_fail_field(ei, "papers", "at most 100 papers");
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        char prefix[32];
        hoso_paper p;
        snprintf(prefix, sizeof(prefix), "papers[%u]", i);
        int r = hoso__paper_parse(doc, &arr->via.array.ptr[i], prefix, &p, ei);
        if (r == HOSO_ENOMEM) return r;
        if (r) ret = r;
    }
    return ret;
}

void hoso__paper_new_id(char out[33])
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 33, raw, sizeof(raw));
}

int hoso__papers_push(hoso__papers *ps, const hoso_paper *p)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        hoso_paper *v = realloc(ps->v, cap * sizeof(*v));
        if (!v) return HOSO_ENOMEM;
        ps->v = v;
        ps->cap = cap;
    }
    ps->v[ps->n++] = *p;
    return 0;
}

void hoso__papers_free(hoso__papers *ps)
{
    free(ps->v);
    memset(ps, 0, sizeof(*ps));
}

static int vault_one(void *ctx, const hoso_paper *p)
{
    return hoso__papers_push(ctx, p) ? 1 : 0;
}

int hoso__vault_load(hoso_txn *t, const char *owner, hoso_doc *doc, hoso__papers *ps)
{
    int ret = hoso_paper_each(t, owner, doc, vault_one, ps);
    if (ret == HOSO_ENOT_FOUND) ret = 0;
    return ret > 0 ? HOSO_ENOMEM : ret;
}

static int str_eq(const hoso_str *a, const hoso_str *b)
{
    return a->ptr && b->ptr && a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

const hoso_paper *hoso__vault_find(const hoso__papers *vault, const hoso_str *type, int64_t now)
{
    const hoso_paper *best = NULL;
    for (size_t i = 0; i < vault->n; i++) {
        const hoso_paper *p = &vault->v[i];
        if (!str_eq(&p->type, type) || !hoso__paper_valid(p, now)) continue;
        /* Prefer no expiry, then the latest expiry. */
        if (!best || (best->valid_until != 0 && (p->valid_until == 0 || p->valid_until > best->valid_until)))
            best = p;
    }
    return best;
}

int hoso__papers_take_inline(hoso_wop *op, hoso_txn *t, hoso_doc *doc, const msgpack_object *arr,
                             hoso__papers *vault, hoso__papers *out)
{
    int ret = 0;
    if (!arr || arr->type != MSGPACK_OBJECT_ARRAY) return 0;
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        char prefix[32];
        hoso_paper p;
        const hoso_paper *same = NULL;
        snprintf(prefix, sizeof(prefix), "papers[%u]", i);
        int r = hoso__paper_parse(doc, &arr->via.array.ptr[i], prefix, &p, &op->err);
        if (r == HOSO_ENOMEM) return r;
        if (r) {
            ret = r;
            continue;
        }
        if (hoso__has(&p.id)) {
            char f[64];
            for (size_t j = 0; j < vault->n && !same; j++)
                if (str_eq(&vault->v[j].id, &p.id)) same = &vault->v[j];
            snprintf(f, sizeof(f), "%s.id", prefix);
            if (!same)
                ret = hoso_fail_field(&op->err, f, "no paper with this id in your vault");
            else if (hoso__has(&p.type) && !str_eq(&same->type, &p.type))
                ret = hoso_fail_field(&op->err, f, "this vault paper is of another type");
            else if (!hoso__paper_valid(same, op->now))
                ret = hoso_fail_field(&op->err, f, "the paper has expired");
            else if ((r = hoso__papers_push(out, same)) != 0)
                return r;
            continue;
        }
        if (!hoso__paper_valid(&p, op->now)) {
            char f[64];
            snprintf(f, sizeof(f), "%s.valid_until", prefix);
            ret = hoso_fail_field(&op->err, f, "the paper has expired");
            continue;
        }
        for (size_t j = 0; j < vault->n && !same; j++)
            if (str_eq(&vault->v[j].type, &p.type) && str_eq(&vault->v[j].number, &p.number)) same = &vault->v[j];
        if (same) {
            p.id = same->id;
            p.added_at = same->added_at;
        } else {
            char id[33];
            hoso__paper_new_id(id);
            p.id = hoso__ops_zstr(doc, id, 32);
            p.added_at = op->now;
            if (!p.id.ptr) return HOSO_ENOMEM;
            if (!ret) {
                if ((r = hoso_paper_put(t, op->account, &p)) != 0) return r;
                if ((r = hoso_event_append_paper(t, op->account, op->now, &p, NULL)) != 0)
                    return r;
                if ((r = hoso__papers_push(vault, &p)) != 0) return r;
            }
        }
        if ((r = hoso__papers_push(out, &p)) != 0) return r;
    }
    return ret;
}

int hoso__ops_unpack(hoso_doc *doc, const hoso_str *bytes, msgpack_object *out)
{
    size_t off = 0;
    if (!bytes->ptr || bytes->len == 0) {
        out->type = MSGPACK_OBJECT_NIL;
        return 0;
    }
    if (msgpack_unpack(bytes->ptr, bytes->len, &off, &doc->zone, out) != MSGPACK_UNPACK_SUCCESS)
        return HOSO_ECORRUPT;
    return 0;
}

int hoso__papers_join(hoso_doc *doc, const hoso_str *old, const hoso__papers *add, hoso_str *out)
{
    msgpack_object o;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t nold = 0;
    int ret;

    if ((ret = hoso__ops_unpack(doc, old, &o)) != 0) return ret;
    if (o.type == MSGPACK_OBJECT_ARRAY)
        nold = o.via.array.size;
    else if (o.type != MSGPACK_OBJECT_NIL)
        return HOSO_ECORRUPT;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, nold + (uint32_t)add->n);
    for (uint32_t i = 0; i < nold; i++) msgpack_pack_object(&pk, o.via.array.ptr[i]);
    for (size_t i = 0; i < add->n; i++)
        if (hoso_paper_encode(&pk, &add->v[i])) ret = HOSO_ENOMEM;
    if (!ret) {
        *out = hoso__ops_zbytes(doc, &sb);
        if (!out->ptr) ret = HOSO_ENOMEM;
    }
    msgpack_sbuffer_destroy(&sb);
    return ret;
}

/* Reading helpers ---------------------------------------------------------------- */

static int parse_uint(const char *s, long long max, long long *out)
{
    char *end;
    if (!s[0] || !isdigit((unsigned char)s[0])) return -1;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0 || v > max) return -1;
    *out = v;
    return 0;
}

int hoso__parse_paging(hoso_req *r, int *status, char *cursor, size_t cursor_sz, unsigned *limit)
{
    char buf[32];
    long long v;
    const char *s;

    *status = 0;
    *limit = 20;
    cursor[0] = '\0';
    if ((s = hoso_req_query(r, "status", buf, sizeof(buf))) != NULL && s[0]) {
        if (parse_uint(s, HOSO_ST_MAX, &v) || v < HOSO_ST_MIN)
            return hoso_fail_field(&r->err, "status", "must be a status code 1..10");
        *status = (int)v;
    }
    if ((s = hoso_req_query(r, "limit", buf, sizeof(buf))) != NULL && s[0]) {
        if (parse_uint(s, 1000000, &v) || v < 1) return hoso_fail_field(&r->err, "limit", "must be 1..100");
        *limit = v > 100 ? 100 : (unsigned)v;
    }
    if (hoso_req_query(r, "cursor", cursor, cursor_sz) == NULL) cursor[0] = '\0';
    return 0;
}

void hoso__items_init(hoso__items *it)
{
    memset(it, 0, sizeof(*it));
    msgpack_sbuffer_init(&it->buf);
    msgpack_packer_init(&it->pk, &it->buf, msgpack_sbuffer_write);
}

void hoso__items_destroy(hoso__items *it)
{
    msgpack_sbuffer_destroy(&it->buf);
}

int hoso__items_add_dossier(void *ctx, const hoso_dossier *d)
{
    hoso__items *it = ctx;
    if (hoso_dossier_encode(&it->pk, d)) {
        it->err = HOSO_ENOMEM;
        return 1;
    }
    it->n++;
    return 0;
}

int hoso__items_add_paper(void *ctx, const hoso_paper *p)
{
    hoso__items *it = ctx;
    if (hoso_paper_encode(&it->pk, p)) {
        it->err = HOSO_ENOMEM;
        return 1;
    }
    it->n++;
    return 0;
}

int hoso__items_pack(msgpack_packer *pk, const char *key, const hoso__items *it)
{
    if (hoso_pack_cstr(pk, key) || msgpack_pack_array(pk, it->n)) return HOSO_ENOMEM;
    if (it->buf.size && pk->callback(pk->data, it->buf.data, it->buf.size)) return HOSO_ENOMEM;
    return 0;
}

int hoso__reply_dossier_list(hoso_req *r, hoso__list_fn list, const char *who, int status, const char *cursor,
                             unsigned limit)
{
    hoso__items c;
    hoso_doc doc;
    char next[128] = "";
    msgpack_sbuffer out;
    msgpack_packer pk;
    int ret;

    if ((ret = hoso__doc_init(&doc)) != 0) return ret;
    hoso__items_init(&c);
    msgpack_sbuffer_init(&out);
    ret = list(r->rtxn, who, status, cursor, limit, &doc, hoso__items_add_dossier, &c, next);
    if (ret == 0 && c.err) ret = c.err;
    if (ret == HOSO_EBAD_REQUEST) {
        hoso_fail_field(&r->err, "cursor", "not a cursor of this list");
        ret = HOSO_EVALIDATION_FAILED;
    }
    if (ret) goto Exit;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    if ((ret = hoso__items_pack(&pk, "dossiers", &c)) != 0) goto Exit;
    hoso_pack_cstr(&pk, "next");
    hoso_pack_cstr(&pk, next);
    ret = hoso_reply(r, 200, out.data, out.size);
Exit:
    hoso_doc_destroy(&doc);
    hoso__items_destroy(&c);
    msgpack_sbuffer_destroy(&out);
    return ret;
}
