/*
 * agency.c - the single-window side: officers (and admins) list their agency's
 * dossiers, move them through the national status table, and record apologies for
 * overdue ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "domain/domain.h"
#include "routes.h"

#define APOLOGY_PREFIX "apology: "

int hoso_route_agency_list(hoso_req *r)
{
    char cursor[128], agency[64];
    const char *who = NULL;
    unsigned limit;
    int status, ret;

    if ((ret = hoso__parse_paging(r, &status, cursor, sizeof(cursor), &limit)) != 0) return ret;
    if (r->who.role == HOSO_ROLE_ADMIN) {
        /* An admin belongs to no agency: the list must say whose dossiers it wants. */
        who = hoso_req_query(r, "agency", agency, sizeof(agency));
        if (!who || !who[0]) return hoso_fail_field(&r->err, "agency", "required for admin accounts");
    } else {
        if (!r->who.agency[0]) return hoso_fail(&r->err, HOSO_EFORBIDDEN, "this account belongs to no agency");
        who = r->who.agency;
    }
    char flag[8];
    const char *overdue = hoso_req_query(r, "overdue", flag, sizeof(flag));
    if (overdue != NULL && strcmp(overdue, "1") == 0)
        return hoso__reply_dossier_list(r, hoso__dossier_list_overdue, who, status, cursor, limit);
    if (overdue != NULL && strcmp(overdue, "0") != 0)
        return hoso_fail_field(&r->err, "overdue", "must be 1 (or 0)");
    return hoso__reply_dossier_list(r, hoso_dossier_list_agency, who, status, cursor, limit);
}

/* ---------------------------------------------------------------------------------- */
/* Transitions */

static int strings_array(const msgpack_object *a)
{
    if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size == 0 || a->via.array.size > 50) return 0;
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        const msgpack_object *s = &a->via.array.ptr[i];
        if (s->type != MSGPACK_OBJECT_STR || s->via.str.size == 0 || s->via.str.size > 200) return 0;
    }
    return 1;
}

/* Checks what the row of the table asks for, naming each missing field. */
static int check_needs(unsigned needs, const hoso_req_transition *q, hoso_errinfo *ei)
{
    int bad = 0;
    if ((needs & HOSO_NEED_REASON) && !hoso__has(&q->reason)) bad = hoso_fail_field(ei, "reason", "required");
    if ((needs & HOSO_NEED_FEE) && (!q->has_fee || q->fee <= 0))
        bad = hoso_fail_field(ei, "fee", "required: the amount in VND, > 0");
    if ((needs & HOSO_NEED_PAPERS_REQUIRED) && !strings_array(q->papers_required))
        bad = hoso_fail_field(ei, "papers_required", "required: a non-empty array of paper names");
    if ((needs & HOSO_NEED_RESULT) && !hoso__has(&q->result)) bad = hoso_fail_field(ei, "result", "required");
    return bad ? HOSO_EVALIDATION_FAILED : 0;
}

/* The result's files (the officer's own uploads): kept on the dossier as [{id, name,
 * type, size}], readable by the dossier's citizen and its agency's officers. */
static int result_files(hoso_wop *op, hoso_txn *t, hoso_doc *doc, hoso_dossier *d, const msgpack_object *ids)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int ret = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, ids->via.array.size);
    for (uint32_t i = 0; i < ids->via.array.size && ret == 0; i++) {
        const msgpack_object *o = &ids->via.array.ptr[i];
        char field[32];
        hoso_file f;
        int rc;
        snprintf(field, sizeof field, "result_files[%u]", i);
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0) {
            ret = hoso_fail_field(&op->err, field, "must be the id of a file you uploaded");
            break;
        }
        memset(&f, 0, sizeof f);
        hoso_str id = {o->via.str.ptr, o->via.str.size};
        if ((ret = hoso__file_check(t, &op->who, &id, field, &op->err, &f)) != 0) {
            /* a field error, or the store's */
        } else if ((rc = hoso_file_grant(t, f.id, d->agency.ptr, d->owner.ptr)) != 0) {
            ret = hoso_wop_fail(op, rc, "cannot record the file");
        } else if (msgpack_pack_map(&pk, 4) || hoso_pack_kcstr(&pk, "id", f.id) || hoso_pack_kcstr(&pk, "name", f.name) ||
                   hoso_pack_kcstr(&pk, "type", f.media_type) || hoso_pack_kint(&pk, "size", (int64_t)f.size)) {
            ret = HOSO_ENOMEM;
        }
        sodium_memzero(&f, sizeof f);
    }
    if (ret == 0 && hoso_zone_str(&doc->zone, sb.data, sb.size, &d->result_files) != 0) ret = HOSO_ENOMEM;
    msgpack_sbuffer_destroy(&sb);
    return ret;
}

int hoso__transition_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_transition q;
    hoso_dossier d;
    hoso_doc doc;
    const hoso_transition *row;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(&hoso_msg_transition, &op->body, &op->body.root, &q, &op->err)) != 0) goto Exit;
    if ((ret = hoso__wop_load_dossier(op, t, 1, &doc, &d)) != 0) goto Exit;
    if (q.version != d.version) {
        ret = hoso__wop_conflict(op, &d, q.version);
        goto Exit;
    }
    int from = (int)d.status, to = (int)q.to;
    if (hoso_status_check(from, to, HOSO_ACTOR_OFFICER) != 0) {
        row = hoso_status_transition(from, to);
        ret = hoso_wop_fail(op, HOSO_EILLEGAL_TRANSITION, "cannot move from %d (%s) to %d (%s)%s", from,
                            hoso_status_name_vi(from), to, hoso_status_name_vi(to),
                            row ? ": only the citizen makes this move" : "");
        goto Exit;
    }
    row = hoso_status_transition(from, to);
    unsigned needs = row ? row->needs : 0;
    if ((ret = check_needs(needs, &q, &op->err)) != 0) goto Exit;
    if (needs & HOSO_NEED_DUE_AT) {
        if (q.has_due_at) {
            if (q.due_at <= op->now) {
                ret = hoso_fail_field(&op->err, "due_at", "must be in the future");
                goto Exit;
            }
            d.due_at = q.due_at;
        } else {
            hoso_service svc;
            if ((ret = hoso_service_get(t, d.service.ptr, &doc, &svc)) != 0) {
                ret = hoso_wop_fail(op, ret, "cannot read the dossier's service");
                goto Exit;
            }
            d.due_at = hoso_add_working_days(op->now, svc.processing_days);
        }
    }
    if (needs & HOSO_NEED_REASON) d.reason = q.reason;
    if (needs & HOSO_NEED_RESULT) d.result = q.result;
    if (q.result_files != NULL && q.result_files->type == MSGPACK_OBJECT_ARRAY && q.result_files->via.array.size > 0) {
        if (to != HOSO_ST_DONE) {
            ret = hoso_fail_field(&op->err, "result_files", "only with the move to 9 (the result)");
            goto Exit;
        }
        if ((ret = result_files(op, t, &doc, &d, q.result_files)) != 0) goto Exit;
    }
    if (needs & HOSO_NEED_FEE) d.fee = q.fee;
    if (needs & HOSO_NEED_PAPERS_REQUIRED) {
        if ((ret = hoso_zone_pack(&doc.zone, q.papers_required, &d.papers_required)) != 0) goto Exit;
    }
    /* The history line shows the officer's note, or else what the move carried. */
    const hoso_str *note = hoso__has(&q.note)                                ? &q.note
                           : (needs & HOSO_NEED_REASON) && hoso__has(&q.reason) ? &q.reason
                           : (needs & HOSO_NEED_RESULT) && hoso__has(&q.result) ? &q.result
                                                                                : NULL;
    if ((ret = hoso__dossier_change(t, op, &doc, &d, HOSO_CHANGE_STATUS, to, note ? note->ptr : "",
                                    note ? note->len : 0)) != 0)
        goto Exit;
    ret = hoso__wop_reply_dossier(op, 200, &d);
Exit:
    hoso_doc_destroy(&doc);
    return ret;
}

int hoso_route_agency_transition(hoso_req *r)
{
    hoso_req_transition q;
    hoso_wop *op;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_transition, &r->body, &r->body.root, &q, &r->err)) != 0) return ret;
    if (q.to < HOSO_ST_MIN || q.to > HOSO_ST_MAX) hoso_fail_field(&r->err, "to", "must be a status code 1..10");
    if (q.version < 1) hoso_fail_field(&r->err, "version", "must be the dossier's current version (>= 1)");
    if (q.note.len > 2000) hoso_fail_field(&r->err, "note", "at most 2000 bytes");
    if (q.reason.len > 2000) hoso_fail_field(&r->err, "reason", "at most 2000 bytes");
    if (q.result.len > 2000) hoso_fail_field(&r->err, "result", "at most 2000 bytes");
    if (q.has_fee && q.fee < 0) hoso_fail_field(&r->err, "fee", "must be >= 0");
    if (q.papers_required && q.papers_required->type != MSGPACK_OBJECT_NIL && !strings_array(q.papers_required))
        hoso_fail_field(&r->err, "papers_required", "must be a non-empty array of paper names");
    if (r->err.err) return r->err.err;
    if (!(op = hoso_wop_new(r, hoso__transition_apply))) return HOSO_ENOMEM;
    return hoso_writer_submit(r, op);
}

/* ---------------------------------------------------------------------------------- */
/* Apology (thư xin lỗi): an overdue dossier gets a new due date, kept in its history;
 * the national table has no status for it, so the status stays. */

static int apology_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_apology q;
    hoso_dossier d;
    hoso_doc doc;
    char note[2100];
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(&hoso_msg_apology, &op->body, &op->body.root, &q, &op->err)) != 0) goto Exit;
    if ((ret = hoso__wop_load_dossier(op, t, 1, &doc, &d)) != 0) goto Exit;
    if (hoso_status_is_final((int)d.status)) {
        ret = hoso_wop_fail(op, HOSO_EILLEGAL_TRANSITION, "the dossier is closed (status %d, %s): no apology to make",
                            (int)d.status, hoso_status_name_vi((int)d.status));
        goto Exit;
    }
    if (d.due_at == 0 || op->now <= d.due_at) {
        ret = hoso_wop_fail(op, HOSO_EILLEGAL_TRANSITION,
                            d.due_at == 0 ? "the dossier has no due date yet, so it cannot be overdue"
                                          : "the dossier is not overdue: an apology is recorded only after its due date");
        goto Exit;
    }
    if (q.new_due_at <= op->now) {
        ret = hoso_fail_field(&op->err, "new_due_at", "must be in the future");
        goto Exit;
    }
    d.due_at = q.new_due_at;
    int n = snprintf(note, sizeof(note), APOLOGY_PREFIX "%.*s", (int)q.reason.len, q.reason.ptr);
    if (n < 0 || (size_t)n >= sizeof(note)) n = (int)sizeof(note) - 1;
    if ((ret = hoso__dossier_change(t, op, &doc, &d, HOSO_CHANGE_NOTE, 0, note, (size_t)n)) != 0) goto Exit;
    ret = hoso__wop_reply_dossier(op, 200, &d);
Exit:
    hoso_doc_destroy(&doc);
    return ret;
}

int hoso_route_agency_apology(hoso_req *r)
{
    hoso_req_apology q;
    hoso_wop *op;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_apology, &r->body, &r->body.root, &q, &r->err)) != 0) return ret;
    if (!hoso__has(&q.reason) || q.reason.len > 2000) hoso_fail_field(&r->err, "reason", "must be 1 to 2000 bytes");
    if (q.new_due_at <= hoso_now_ms()) hoso_fail_field(&r->err, "new_due_at", "must be in the future");
    if (r->err.err) return r->err.err;
    if (!(op = hoso_wop_new(r, apology_apply))) return HOSO_ENOMEM;
    return hoso_writer_submit(r, op);
}
