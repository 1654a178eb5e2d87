/*
 * vault.c - the citizen's paper vault (kho giấy tờ): checking papers, attaching those
 * given with a dossier, and finding still-valid papers to reuse, so that a paper given
 * once is not asked for again (Circular 32/2017/TT-BTTTT).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "domain.h"

/* 1 if p is valid at now: valid_until 0 (no expiry) or later than now. */
static int paper_valid(const hoso_paper *p, int64_t now)
{
    return p->valid_until == 0 || p->valid_until > now;
}

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

    if (hoso__has(&p->file) && (p->file.len != 32 || strspn(p->file.ptr, "0123456789abcdef") < 32)) {
        field_name(f, sizeof(f), prefix, "file");
        bad = hoso_fail_field(ei, f, "must be the id of a file you uploaded (32 hex characters)");
    }
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
    return hoso_zone_str(&doc->zone, v->via.str.ptr, v->via.str.size, out);
}

/* Reads one inline paper map into p (strings copied into doc) and checks it: either
 * a new paper {type, number, issuer, valid_until?, sha256?} or a reference to a vault
 * paper {id, type}. Errors: VALIDATION_FAILED, NOMEM. */
static int paper_parse(hoso_doc *doc, const msgpack_object *o, const char *prefix, hoso_paper *p,
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
        else if (hoso_obj_streq(k, "file"))
            r = paper_str(doc, v, &p->file, prefix, "file", ei);
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
        int r = paper_parse(doc, &arr->via.array.ptr[i], prefix, &p, ei);
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
    return hoso__papers_push(ctx, p);
}

int hoso__vault_load(hoso_txn *t, const char *owner, hoso_doc *doc, hoso__papers *ps)
{
    return hoso_paper_each(t, owner, doc, vault_one, ps);
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
        if (!str_eq(&p->type, type) || !paper_valid(p, now)) continue;
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
        int r = paper_parse(doc, &arr->via.array.ptr[i], prefix, &p, &op->err);
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
            else if (!paper_valid(same, op->now))
                ret = hoso_fail_field(&op->err, f, "the paper has expired");
            else if ((r = hoso__papers_push(out, same)) != 0)
                return r;
            continue;
        }
        if (!paper_valid(&p, op->now)) {
            char f[64];
            snprintf(f, sizeof(f), "%s.valid_until", prefix);
            ret = hoso_fail_field(&op->err, f, "the paper has expired");
            continue;
        }
        char ff[48];
        snprintf(ff, sizeof ff, "%s.file", prefix);
        if ((r = hoso__file_check(t, &op->who, &p.file, ff, &op->err, NULL)) != 0) {
            if (r == HOSO_ENOMEM || r == HOSO_EIO || r == HOSO_ECORRUPT) return r;
            ret = r;
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
            if (hoso_zone_str(&doc->zone, id, 32, &p.id) != 0) return HOSO_ENOMEM;
            p.added_at = op->now;
            if (!ret) {
                if ((r = hoso_paper_put(t, op->who.account, &p)) != 0) return r;
                if ((r = hoso_event_append_paper(t, op->who.account, op->now, &p, NULL)) != 0)
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
        ret = hoso_zone_str(&doc->zone, sb.data ? sb.data : "", sb.size, out);
    }
    msgpack_sbuffer_destroy(&sb);
    return ret;
}

int hoso__file_check(hoso_txn *t, const hoso_caller *who, const hoso_str *file, const char *field, hoso_errinfo *ei,
                     hoso_file *out)
{
    char id[33];
    hoso_file rec;
    int rc;
    if (!hoso__has(file)) return 0;
    if (file->len != 32 || strspn(file->ptr, "0123456789abcdef") < 32)
        return hoso_fail_field(ei, field, "must be the id of a file you uploaded (32 hex characters)");
    snprintf(id, sizeof id, "%.*s", 32, file->ptr);
    rc = hoso_file_get(t, id, &rec);
    /* An unused file past its expiry is about to be swept: not one to use. */
    int mine = rc == 0 && strcmp(rec.owner, who->account) == 0 && (rec.expires == 0 || rec.expires > hoso_now_ms());
    if (mine && out != NULL) *out = rec;
    sodium_memzero(&rec, sizeof rec);
    if (rc != 0 && rc != HOSO_ENOT_FOUND) return rc;
    return mine ? 0 : hoso_fail_field(ei, field, "no finished upload of yours with this id");
}

int hoso__files_grant(hoso_txn *t, const hoso__papers *papers, const char *agency, const char *account)
{
    for (size_t i = 0; i < papers->n; i++) {
        const hoso_str *f = &papers->v[i].file;
        char id[33];
        int rc;
        if (!hoso__has(f) || f->len != 32) continue;
        snprintf(id, sizeof id, "%.*s", 32, f->ptr);
        if ((rc = hoso_file_grant(t, id, agency, account)) != 0) return rc;
    }
    return 0;
}
