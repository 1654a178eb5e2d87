/*
 * dossiers.c - dossiers table and its indexes, and the daily code sequence.
 *
 * Stored value: a msgpack map with the public fields and history in the clear (code,
 * service, agency, owner, status, version, channel, submitted_at, due_at, history,
 * rated, reason, result, fee, papers_required as msgpack bytes) plus `sealed`: bin =
 * hoso_seal(msgpack {form: bin, papers: bin}, ad = code). The indexes hold only ids,
 * times and codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define NFIELDS 16

int hoso__owner_prefix(const char *owner, uint8_t *buf, size_t *len)
{
    if (!owner || strlen(owner) != HOSO__ID_HEX) return HOSO_EBAD_REQUEST;
    memcpy(buf, owner, HOSO__ID_HEX);
    *len = HOSO__ID_HEX;
    return 0;
}

/* A length byte first: "A" + time can never be read as a prefix of "AB" + time. */
int hoso__agency_prefix(const char *agency, uint8_t *buf, size_t *len)
{
    size_t n = agency ? strlen(agency) : 0;
    if (n == 0 || n > 255 || n + 1 + 8 + 100 > HOSO__INDEX_KEY_MAX) return HOSO_EBAD_REQUEST;
    buf[0] = (uint8_t)n;
    memcpy(buf + 1, agency, n);
    *len = n + 1;
    return 0;
}

static int seq_key(const char *agency, const char *yymmdd, char *buf, size_t bufsz, size_t *len)
{
    int n = snprintf(buf, bufsz, "seq%c%s%c%s", 0, agency, 0, yymmdd);
    if (n < 0 || (size_t)n >= bufsz) return HOSO_EBAD_REQUEST;
    *len = (size_t)n;
    return 0;
}

int hoso_dossier_next_code(hoso_txn *t, const char *agency, int64_t now_ms, char out[64])
{
    char day[7], key[128];
    uint8_t val[8];
    size_t klen = 0;
    uint64_t n = 0;
    MDB_val v;
    out[0] = '\0';
    int rc = hoso__writable(t);
    if (rc) return rc;
    if (!agency[0] || strchr(agency, '-')) return HOSO_EBAD_REQUEST;
    hoso_vn_yymmdd(now_ms, day);
    if ((rc = seq_key(agency, day, key, sizeof key, &klen)) != 0) return rc;
    rc = hoso__get(t, HOSO__DB_META, key, klen, &v);
    if (rc == 0) {
        if (v.mv_size != 8) return HOSO_ECORRUPT;
        n = hoso_be64_get(v.mv_data);
    } else if (rc != HOSO_ENOT_FOUND) {
        return rc;
    }
    /* The national format has four digits. An agency that takes more than 9,999
     * dossiers in one day gets a fifth rather than a refusal: a 503 would only make every
     * app retry until midnight, and the code stays unique. */
    uint64_t num = n + 1;
    if (t->s->seq_next != NULL) {
        /* Numbers shared with other stores (cluster mode): the source hands them out;
         * meta keeps the highest this store used, for the operator's eye. */
        if ((rc = t->s->seq_next(t->s->seq_ctx, agency, day, &num)) != 0) return rc;
        if (num == 0) return HOSO_EINTERNAL;
    }
    n = num > n ? num : n;
    int w = snprintf(out, 64, "%s-%s-%04llu", agency, day, (unsigned long long)num);
    if (w < 0 || w >= 64) {
        out[0] = '\0';
        return HOSO_EBAD_REQUEST;
    }
    hoso_be64_put(val, n);
    if ((rc = hoso__put(t, HOSO__DB_META, key, klen, val, sizeof val, 0)) != 0) out[0] = '\0';
    return rc;
}

static int pack_sealed(const hoso_dossier *d, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int rfiles = d->result_files.ptr != NULL && d->result_files.len > 0;
    return msgpack_pack_map(&pk, 2 + rfiles) ||
           hoso_pack_kbin(&pk, "form", d->form.ptr, d->form.ptr ? d->form.len : 0) ||
           hoso_pack_kbin(&pk, "papers", d->papers.ptr, d->papers.ptr ? d->papers.len : 0) ||
           (rfiles && hoso_pack_kbin(&pk, "result_files", d->result_files.ptr, d->result_files.len));
}

static int pack_history(msgpack_packer *pk, const hoso_dossier *d)
{
    if (hoso_pack_cstr(pk, "history") || msgpack_pack_array(pk, (uint32_t)d->nhistory)) return -1;
    for (size_t i = 0; i < d->nhistory; i++) {
        const hoso_history *h = &d->history[i];
        if (msgpack_pack_map(pk, 4) || hoso_pack_kint(pk, "status", h->status) || hoso_pack_kint(pk, "at", h->at) ||
            hoso_pack_kstr(pk, "by", &h->by) || hoso_pack_kstr(pk, "note", &h->note))
            return -1;
    }
    return 0;
}

static int pack_stored(const hoso_dossier *d, const uint8_t *sealed, size_t slen, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    return msgpack_pack_map(&pk, NFIELDS) || hoso_pack_kstr(&pk, "code", &d->code) ||
           hoso_pack_kstr(&pk, "service", &d->service) || hoso_pack_kstr(&pk, "agency", &d->agency) ||
           hoso_pack_kstr(&pk, "owner", &d->owner) || hoso_pack_kint(&pk, "status", d->status) ||
           hoso_pack_kint(&pk, "version", d->version) || hoso_pack_kstr(&pk, "channel", &d->channel) ||
           hoso_pack_kint(&pk, "submitted_at", d->submitted_at) || hoso_pack_kint(&pk, "due_at", d->due_at) ||
           pack_history(&pk, d) || hoso_pack_cstr(&pk, "rated") ||
           (d->rated ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) ||
           hoso_pack_kstr(&pk, "reason", &d->reason) || hoso_pack_kstr(&pk, "result", &d->result) ||
           hoso_pack_kint(&pk, "fee", d->fee) ||
           hoso_pack_kbin(&pk, "papers_required", d->papers_required.ptr,
                           d->papers_required.ptr ? d->papers_required.len : 0) ||
           hoso_pack_kbin(&pk, "sealed", sealed, slen);
}

static int index_key(uint8_t *key, size_t plen, int64_t created, const hoso_str *code, size_t *klen)
{
    if (plen + 8 + code->len > HOSO__INDEX_KEY_MAX) return HOSO_EBAD_REQUEST;
    hoso_be64_put(key + plen, (uint64_t)created);
    memcpy(key + plen + 8, code->ptr, code->len);
    *klen = plen + 8 + code->len;
    return 0;
}

int hoso_dossier_put(hoso_txn *t, const hoso_dossier *d, int is_new)
{
    hoso_put_info info;
    return hoso_dossier_store(t, d, is_new, &info);
}

int hoso_dossier_store(hoso_txn *t, const hoso_dossier *d, int is_new, hoso_put_info *info)
{
    msgpack_sbuffer sec, val;
    uint8_t *sealed = NULL, okey[HOSO__INDEX_KEY_MAX], akey[HOSO__INDEX_KEY_MAX];
    size_t slen = 0, olen = 0, alen = 0;
    int rc;
    memset(info, 0, sizeof *info);
    msgpack_sbuffer_init(&sec);
    msgpack_sbuffer_init(&val);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    rc = HOSO_EBAD_REQUEST;
    /* Cursors carry created + code in 128 chars of base64: bound the code. */
    if (!d->code.ptr || d->code.len == 0 || d->code.len > 80) goto Exit;
    if (is_new) {
        if ((rc = hoso__owner_prefix(d->owner.ptr, okey, &olen)) != 0 ||
            (rc = index_key(okey, olen, d->submitted_at, &d->code, &olen)) != 0 ||
            (rc = hoso__agency_prefix(d->agency.ptr, akey, &alen)) != 0 ||
            (rc = index_key(akey, alen, d->submitted_at, &d->code, &alen)) != 0)
            goto Exit;
    }
    /* The due-date indexes follow the status and due date: read the stored ones (clear
     * fields, no opening) before they are replaced. */
    int64_t old_status = 0, old_due = 0;
    if (!is_new) {
        MDB_val ov;
        msgpack_unpacked u;
        if ((rc = hoso__get(t, HOSO__DB_DOSSIERS, d->code.ptr, d->code.len, &ov)) == 0) {
            msgpack_unpacked_init(&u);
            if ((rc = hoso__unpack(&u, ov.mv_data, ov.mv_size)) == 0 &&
                (rc = hoso__mint(&u.data, "status", 0, &old_status)) == 0)
                rc = hoso__mint(&u.data, "due_at", 0, &old_due);
            msgpack_unpacked_destroy(&u);
        } else if (rc == HOSO_ENOT_FOUND) {
            rc = 0;
        }
        if (rc) goto Exit;
    }
    info->old_status = old_status;
    info->old_due = old_due;
    if ((rc = hoso__due_update(t, d, old_status, old_due, &info->overdue_cleared)) != 0) goto Exit;
    rc = HOSO_ENOMEM;
    if (pack_sealed(d, &sec) != 0) goto Exit;
    if ((rc = hoso_seal(t->s, sec.data, sec.size, d->code.ptr, d->code.len, &sealed, &slen)) != 0) goto Exit;
    rc = HOSO_ENOMEM;
    if (pack_stored(d, sealed, slen, &val) != 0) goto Exit;
    rc = hoso__put(t, HOSO__DB_DOSSIERS, d->code.ptr, d->code.len, val.data, val.size,
                   is_new ? MDB_NOOVERWRITE : 0);
    if (rc || !is_new) goto Exit;
    if ((rc = hoso__put(t, HOSO__DB_OWNER_DOSSIERS, okey, olen, "", 0, 0)) != 0) goto Exit;
    rc = hoso__put(t, HOSO__DB_AGENCY_DOSSIERS, akey, alen, "", 0, 0);
Exit:
    if (sec.data) sodium_memzero(sec.data, sec.size);
    msgpack_sbuffer_destroy(&sec);
    msgpack_sbuffer_destroy(&val);
    free(sealed);
    return rc;
}

static int decode_history(msgpack_zone *z, const msgpack_object *arr, hoso_dossier *out)
{
    if (!arr || arr->type == MSGPACK_OBJECT_NIL) return 0;
    if (arr->type != MSGPACK_OBJECT_ARRAY) return HOSO_ECORRUPT;
    uint32_t n = arr->via.array.size;
    if (n == 0) return 0;
    hoso_history *h = msgpack_zone_malloc(z, n * sizeof *h);
    if (!h) return HOSO_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &arr->via.array.ptr[i];
        int rc;
        if ((rc = hoso__mint(e, "status", 0, &h[i].status)) != 0 || (rc = hoso__mint(e, "at", 0, &h[i].at)) != 0 ||
            (rc = hoso_zone_obj_str(z, hoso_map_get(e, "by"), &h[i].by)) != 0 ||
            (rc = hoso_zone_obj_str(z, hoso_map_get(e, "note"), &h[i].note)) != 0)
            return rc;
    }
    out->history = h;
    out->nhistory = n;
    return 0;
}

static int decode_sealed(hoso_txn *t, msgpack_zone *z, const msgpack_object *sealed, hoso_dossier *out)
{
    msgpack_unpacked u;
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    int rc;
    msgpack_unpacked_init(&u);
    rc = HOSO_ECORRUPT;
    if (!sealed || sealed->type != MSGPACK_OBJECT_BIN) goto Exit;
    if ((rc = hoso_open(t->s, sealed->via.bin.ptr, sealed->via.bin.size, out->code.ptr, out->code.len, &pt,
                        &ptlen)) != 0)
        goto Exit;
    if ((rc = hoso__unpack(&u, pt, ptlen)) != 0) goto Exit;
    if ((rc = hoso_zone_obj_str(z, hoso_map_get(&u.data, "form"), &out->form)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(&u.data, "papers"), &out->papers)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(&u.data, "result_files"), &out->result_files)) != 0)
        goto Exit;
Exit:
    if (pt) {
        sodium_memzero(pt, ptlen);
        free(pt);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* head_only: code, service, agency, owner, status and version, nothing unsealed. */
static int from_value(hoso_txn *t, const void *val, size_t len, int status, int head_only, hoso_doc *doc,
                      hoso_dossier *out)
{
    msgpack_unpacked u;
    msgpack_zone *z = &doc->zone;
    int64_t rated = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = hoso__doc_ready(doc)) != 0) return rc;
    if ((rc = hoso__unpack(&u, val, len)) != 0) goto Exit;
    const msgpack_object *m = &u.data;
    if ((rc = hoso__mint(m, "status", 0, &out->status)) != 0) goto Exit;
    if (status && out->status != status) {
        rc = 1;
        goto Exit;
    }
    if (head_only) {
        if ((rc = hoso_zone_obj_str(z, hoso_map_get(m, "code"), &out->code)) != 0 ||
            (rc = hoso_zone_obj_str(z, hoso_map_get(m, "service"), &out->service)) != 0 ||
            (rc = hoso_zone_obj_str(z, hoso_map_get(m, "agency"), &out->agency)) != 0 ||
            (rc = hoso_zone_obj_str(z, hoso_map_get(m, "owner"), &out->owner)) != 0 ||
            (rc = hoso__mint(m, "version", 0, &out->version)) != 0)
            goto Exit;
        if (out->code.len == 0) rc = HOSO_ECORRUPT;
        goto Exit;
    }
    if ((rc = hoso_zone_obj_str(z, hoso_map_get(m, "code"), &out->code)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(m, "service"), &out->service)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(m, "agency"), &out->agency)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(m, "owner"), &out->owner)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(m, "channel"), &out->channel)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(m, "reason"), &out->reason)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(m, "result"), &out->result)) != 0 ||
        (rc = hoso_zone_obj_str(z, hoso_map_get(m, "papers_required"), &out->papers_required)) != 0 ||
        (rc = hoso__mint(m, "version", 0, &out->version)) != 0 ||
        (rc = hoso__mint(m, "submitted_at", 0, &out->submitted_at)) != 0 ||
        (rc = hoso__mint(m, "due_at", 0, &out->due_at)) != 0 || (rc = hoso__mint(m, "fee", 0, &out->fee)) != 0 ||
        (rc = hoso__mint(m, "rated", 0, &rated)) != 0 ||
        (rc = decode_history(z, hoso_map_get(m, "history"), out)) != 0)
        goto Exit;
    out->rated = rated != 0;
    if (out->code.len == 0) {
        rc = HOSO_ECORRUPT;
        goto Exit;
    }
    rc = decode_sealed(t, z, hoso_map_get(m, "sealed"), out);
Exit:
    msgpack_unpacked_destroy(&u);
    if (rc < 0) memset(out, 0, sizeof *out);
    return rc;
}

int hoso__dossier_from_value(hoso_txn *t, const void *val, size_t len, int status, hoso_doc *doc,
                             hoso_dossier *out)
{
    return from_value(t, val, len, status, 0, doc, out);
}

static int get(hoso_txn *t, const char *code, int head_only, hoso_doc *doc, hoso_dossier *out)
{
    MDB_val v;
    memset(out, 0, sizeof *out);
    int rc = hoso__doc_ready(doc);
    if (rc) return rc;
    if (!code[0]) return HOSO_ENOT_FOUND;
    if ((rc = hoso__get(t, HOSO__DB_DOSSIERS, code, strlen(code), &v)) != 0) return rc;
    return from_value(t, v.mv_data, v.mv_size, 0, head_only, doc, out);
}

int hoso_dossier_get(hoso_txn *t, const char *code, hoso_doc *doc, hoso_dossier *out)
{
    return get(t, code, 0, doc, out);
}

int hoso_dossier_head(hoso_txn *t, const char *code, hoso_doc *doc, hoso_dossier *out)
{
    return get(t, code, 1, doc, out);
}

int hoso_dossier_each(hoso_txn *t, hoso_doc *doc, int (*fn)(void *ctx, const hoso_dossier *d), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    hoso_dossier d;
    int rc = hoso__cursor(t, HOSO__DB_DOSSIERS, &c), mrc;
    if (rc) return rc;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        hoso_doc_destroy(doc);
        memset(doc, 0, sizeof *doc);
        if ((rc = hoso__dossier_from_value(t, v.mv_data, v.mv_size, 0, doc, &d)) != 0 || (rc = fn(ctx, &d)) != 0)
            break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

int hoso_synced_mark(hoso_txn *t, const char *code, int64_t at)
{
    uint8_t v[8];
    size_t len = strlen(code);
    if (len == 0 || len > 80) return HOSO_EBAD_REQUEST;
    hoso_be64_put(v, (uint64_t)at);
    return hoso__put(t, HOSO__DB_SYNCED, code, len, v, sizeof v, MDB_NOOVERWRITE);
}
