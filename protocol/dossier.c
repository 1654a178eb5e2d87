/*
 * dossier.c - the dossier and paper records: one encoding for the wire and for the
 * stored value.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int pack_hstr(msgpack_packer *pk, const hoso_str *s)
{
    return hoso_pack_str(pk, s->ptr ? s->ptr : "", s->len);
}

/* form and papers are kept as msgpack bytes (they are sealed separately at rest) and go
 * out as the objects they encode, appended verbatim. */
static int pack_raw(msgpack_packer *pk, const hoso_str *bytes, int empty_map)
{
    if (bytes->len == 0)
        return empty_map ? msgpack_pack_map(pk, 0) : msgpack_pack_array(pk, 0);
    return pk->callback(pk->data, bytes->ptr, bytes->len);
}

int hoso_dossier_encode(msgpack_packer *pk, const hoso_dossier *d)
{
    int has_reason = d->reason.len > 0, has_result = d->result.len > 0, has_fee = d->fee > 0,
        has_preq = d->papers_required.len > 0;
    int r = 0;

    int has_rfiles = d->result_files.ptr != NULL && d->result_files.len > 0;
    r |= msgpack_pack_map(pk, 13 + has_reason + has_result + has_fee + has_preq + has_rfiles);
    r |= hoso_pack_cstr(pk, "code");
    r |= pack_hstr(pk, &d->code);
    r |= hoso_pack_cstr(pk, "service");
    r |= pack_hstr(pk, &d->service);
    r |= hoso_pack_cstr(pk, "agency");
    r |= pack_hstr(pk, &d->agency);
    r |= hoso_pack_cstr(pk, "owner");
    r |= pack_hstr(pk, &d->owner);
    r |= hoso_pack_cstr(pk, "status");
    r |= msgpack_pack_int64(pk, d->status);
    r |= hoso_pack_cstr(pk, "version");
    r |= msgpack_pack_int64(pk, d->version);
    r |= hoso_pack_cstr(pk, "channel");
    r |= pack_hstr(pk, &d->channel);
    r |= hoso_pack_cstr(pk, "submitted_at");
    r |= msgpack_pack_int64(pk, d->submitted_at);
    r |= hoso_pack_cstr(pk, "due_at");
    r |= msgpack_pack_int64(pk, d->due_at);
    r |= hoso_pack_cstr(pk, "form");
    r |= pack_raw(pk, &d->form, 1);
    r |= hoso_pack_cstr(pk, "papers");
    r |= pack_raw(pk, &d->papers, 0);
    r |= hoso_pack_cstr(pk, "history");
    r |= msgpack_pack_array(pk, d->nhistory);
    for (size_t i = 0; i < d->nhistory; i++) {
        const hoso_history *h = &d->history[i];
        r |= msgpack_pack_map(pk, 4);
        r |= hoso_pack_cstr(pk, "status");
        r |= msgpack_pack_int64(pk, h->status);
        r |= hoso_pack_cstr(pk, "at");
        r |= msgpack_pack_int64(pk, h->at);
        r |= hoso_pack_cstr(pk, "by");
        r |= pack_hstr(pk, &h->by);
        r |= hoso_pack_cstr(pk, "note");
        r |= pack_hstr(pk, &h->note);
    }
    r |= hoso_pack_cstr(pk, "rated");
    r |= d->rated ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    if (has_reason) {
        r |= hoso_pack_cstr(pk, "reason");
        r |= pack_hstr(pk, &d->reason);
    }
    if (has_result) {
        r |= hoso_pack_cstr(pk, "result");
        r |= pack_hstr(pk, &d->result);
    }
    if (has_fee) {
        r |= hoso_pack_cstr(pk, "fee");
        r |= msgpack_pack_int64(pk, d->fee);
    }
    if (has_preq) {
        r |= hoso_pack_cstr(pk, "papers_required");
        r |= pack_raw(pk, &d->papers_required, 0);
    }
    if (has_rfiles) {
        r |= hoso_pack_cstr(pk, "result_files");
        r |= pack_raw(pk, &d->result_files, 0);
    }
    return r ? HOSO_ENOMEM : 0;
}

#define NOPRES ((size_t)-1)

static const hoso_field history_fields[] = {
    {"status", HOSO_F_INT, 1, offsetof(hoso_history, status), NOPRES, HOSO_ST_MIN, HOSO_ST_MAX, NULL},
    {"at", HOSO_F_INT, 1, offsetof(hoso_history, at), NOPRES, 0, 0, NULL},
    {"by", HOSO_F_STR, 0, offsetof(hoso_history, by), NOPRES, 0, 0, NULL},
    {"note", HOSO_F_STR, 0, offsetof(hoso_history, note), NOPRES, 0, 0, NULL},
};
static const hoso_msg_desc history_desc = {"history", history_fields, 4, NULL, HOSO_DESC_OPEN,
                                           sizeof(hoso_history)};

/* Records are read leniently about extra keys (HOSO_DESC_OPEN) so that an older client
 * or a rollback can read what a newer server wrote. The scalar members decode straight
 * into hoso_dossier; form, papers, papers_required and history are converted below. */
static const hoso_field dossier_fields[] = {
    {"code", HOSO_F_STR, 1, offsetof(hoso_dossier, code), NOPRES, 1, 64, NULL},
    {"service", HOSO_F_STR, 1, offsetof(hoso_dossier, service), NOPRES, 1, 64, NULL},
    {"agency", HOSO_F_STR, 1, offsetof(hoso_dossier, agency), NOPRES, 1, 64, NULL},
    {"owner", HOSO_F_STR, 1, offsetof(hoso_dossier, owner), NOPRES, 1, 64, NULL},
    {"status", HOSO_F_INT, 1, offsetof(hoso_dossier, status), NOPRES, HOSO_ST_MIN, HOSO_ST_MAX, NULL},
    {"version", HOSO_F_INT, 1, offsetof(hoso_dossier, version), NOPRES, 1, INT64_MAX, NULL},
    {"channel", HOSO_F_STR, 0, offsetof(hoso_dossier, channel), NOPRES, 0, 0, NULL},
    {"submitted_at", HOSO_F_INT, 1, offsetof(hoso_dossier, submitted_at), NOPRES, 0, 0, NULL},
    {"due_at", HOSO_F_INT, 0, offsetof(hoso_dossier, due_at), NOPRES, 0, 0, NULL},
    {"rated", HOSO_F_BOOL, 0, offsetof(hoso_dossier, rated), NOPRES, 0, 0, NULL},
    {"reason", HOSO_F_STR, 0, offsetof(hoso_dossier, reason), NOPRES, 0, 0, NULL},
    {"result", HOSO_F_STR, 0, offsetof(hoso_dossier, result), NOPRES, 0, 0, NULL},
    {"fee", HOSO_F_INT, 0, offsetof(hoso_dossier, fee), NOPRES, 0, INT64_MAX, NULL},
};
static const hoso_msg_desc dossier_desc = {"dossier", dossier_fields, sizeof(dossier_fields) / sizeof(dossier_fields[0]),
                                           NULL, HOSO_DESC_OPEN, sizeof(hoso_dossier)};

/* Keeps member `key` as msgpack bytes when it has the expected container type. */
static int pack_member(hoso_doc *doc, const msgpack_object *root, const char *key, msgpack_object_type type,
                       hoso_str *out, hoso_errinfo *ei)
{
    const msgpack_object *v = hoso_map_get(root, key);
    if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (v->type != type)
        return hoso_fail_field(ei, key, type == MSGPACK_OBJECT_MAP ? "must be a map" : "must be an array");
    if (hoso_zone_pack(&doc->zone, v, out) != 0)
        return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
    return 0;
}

static int decode_history(hoso_doc *doc, const msgpack_object *h, hoso_dossier *out, hoso_errinfo *ei)
{
    char name[32];
    int bad = 0;
    if (h == NULL || h->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (h->type != MSGPACK_OBJECT_ARRAY)
        return hoso_fail_field(ei, "history", "must be an array");
    if (h->via.array.size == 0)
        return 0;
    out->nhistory = h->via.array.size;
    if ((out->history = msgpack_zone_malloc(&doc->zone, out->nhistory * sizeof(hoso_history))) == NULL)
        return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
    for (size_t i = 0; i < out->nhistory; i++) {
        memset(&out->history[i], 0, sizeof(hoso_history));
        snprintf(name, sizeof(name), "history[%u]", (unsigned)i);
        int r = hoso__decode_at(&history_desc, doc, &h->via.array.ptr[i], &out->history[i], name, ei);
        if (r == HOSO_ENOMEM)
            return r;
        if (r != 0)
            bad = r;
    }
    return bad;
}

int hoso_dossier_decode(hoso_doc *doc, const msgpack_object *root, hoso_dossier *out, hoso_errinfo *ei)
{
    int r = hoso_decode(&dossier_desc, doc, root, out, ei);
    if (r != 0 && r != HOSO_EVALIDATION_FAILED)
        return r;
    /* Keep going after field problems so that all of them are reported at once. */
    int r2;
    if ((r2 = pack_member(doc, root, "form", MSGPACK_OBJECT_MAP, &out->form, ei)) != 0 && (r = r2) == HOSO_ENOMEM)
        return r;
    if ((r2 = pack_member(doc, root, "papers", MSGPACK_OBJECT_ARRAY, &out->papers, ei)) != 0 &&
        (r = r2) == HOSO_ENOMEM)
        return r;
    if ((r2 = pack_member(doc, root, "papers_required", MSGPACK_OBJECT_ARRAY, &out->papers_required, ei)) != 0 &&
        (r = r2) == HOSO_ENOMEM)
        return r;
    if ((r2 = pack_member(doc, root, "result_files", MSGPACK_OBJECT_ARRAY, &out->result_files, ei)) != 0 &&
        (r = r2) == HOSO_ENOMEM)
        return r;
    if ((r2 = decode_history(doc, hoso_map_get(root, "history"), out, ei)) != 0)
        r = r2;
    if (r == HOSO_EVALIDATION_FAILED && ei != NULL)
        ei->err = r;
    return r;
}

int hoso_paper_encode(msgpack_packer *pk, const hoso_paper *p)
{
    int has_sha = p->sha256.len > 0, has_file = p->file.len > 0;
    int r = 0;
    r |= msgpack_pack_map(pk, 6 + has_sha + has_file);
    r |= hoso_pack_cstr(pk, "id");
    r |= pack_hstr(pk, &p->id);
    r |= hoso_pack_cstr(pk, "type");
    r |= pack_hstr(pk, &p->type);
    r |= hoso_pack_cstr(pk, "number");
    r |= pack_hstr(pk, &p->number);
    r |= hoso_pack_cstr(pk, "issuer");
    r |= pack_hstr(pk, &p->issuer);
    r |= hoso_pack_cstr(pk, "valid_until");
    r |= msgpack_pack_int64(pk, p->valid_until);
    r |= hoso_pack_cstr(pk, "added_at");
    r |= msgpack_pack_int64(pk, p->added_at);
    if (has_sha) {
        r |= hoso_pack_cstr(pk, "sha256");
        r |= pack_hstr(pk, &p->sha256);
    }
    if (has_file) {
        r |= hoso_pack_cstr(pk, "file");
        r |= pack_hstr(pk, &p->file);
    }
    return r ? HOSO_ENOMEM : 0;
}

static const hoso_field paper_fields[] = {
    {"id", HOSO_F_STR, 1, offsetof(hoso_paper, id), NOPRES, 1, 64, NULL},
    {"type", HOSO_F_STR, 1, offsetof(hoso_paper, type), NOPRES, 1, 64, NULL},
    {"number", HOSO_F_STR, 0, offsetof(hoso_paper, number), NOPRES, 0, 0, NULL},
    {"issuer", HOSO_F_STR, 0, offsetof(hoso_paper, issuer), NOPRES, 0, 0, NULL},
    {"valid_until", HOSO_F_INT, 0, offsetof(hoso_paper, valid_until), NOPRES, 0, INT64_MAX, NULL},
    {"added_at", HOSO_F_INT, 0, offsetof(hoso_paper, added_at), NOPRES, 0, 0, NULL},
    {"sha256", HOSO_F_STR, 0, offsetof(hoso_paper, sha256), NOPRES, 0, 64, NULL},
    {"file", HOSO_F_STR, 0, offsetof(hoso_paper, file), NOPRES, 0, 32, NULL},
};
static const hoso_msg_desc paper_desc = {"paper", paper_fields, sizeof(paper_fields) / sizeof(paper_fields[0]),
                                         NULL, HOSO_DESC_OPEN, sizeof(hoso_paper)};

int hoso_paper_decode(hoso_doc *doc, const msgpack_object *root, hoso_paper *out, hoso_errinfo *ei)
{
    return hoso_decode(&paper_desc, doc, root, out, ei);
}
