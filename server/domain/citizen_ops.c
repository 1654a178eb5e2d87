/*
 * citizen_ops.c - the changes a citizen makes to a dossier (submit, supplement,
 * withdraw, rate), general feedback, and messages (messages.c), one row each of
 * hoso__citizen_ops. The row's
 * check runs on the worker, so malformed requests never reach the writer; what depends
 * on the dossier's current state is decided in the row's apply, the writer op, against
 * the state it is about to change: a check made earlier on the worker could be stale,
 * and would also break op_id replays (the second try of a supplement that succeeded
 * would meet status 4 and be refused instead of receiving the stored reply).
 *
 * The endpoints (server/routes/dossiers.c) and the offline queue of POST /v1/sync
 * (server/routes/sync.c) both go through these rows, so a change follows the same
 * rules whichever way it arrives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domain.h"

#define NOTE_SUBMITTED ""
#define NOTE_SUPPLEMENTED "Công dân đã bổ sung hồ sơ"

static int check_channel(const hoso_str *ch, hoso_errinfo *ei)
{
    if (!hoso__has(ch)) return 0;
    if (ch->len > 16) return hoso_fail_field(ei, "channel", "at most 16 characters");
    for (size_t i = 0; i < ch->len; i++) {
        char c = ch->ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return hoso_fail_field(ei, "channel", "only a-z, 0-9 and _ (e.g. \"app\", \"zalo\")");
    }
    return 0;
}

/* The service a request names; unknown services are a field problem of the request. */
static int load_service(hoso_txn *t, const hoso_str *code, hoso_doc *doc, hoso_service *svc, hoso_errinfo *ei)
{
    int ret = hoso_service_get(t, code->ptr, doc, svc);
    if (ret == HOSO_ENOT_FOUND) return hoso_fail_field(ei, "service", "no service with this code");
    return ret;
}

static int pack_form(hoso_doc *doc, const msgpack_object *form, hoso_str *out)
{
    static const msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
    return hoso_zone_pack(&doc->zone, form != NULL ? form : &empty, out);
}

/* ---------------------------------------------------------------------------------- */
/* Submit */

static int submit_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_submit q;
    hoso_service svc;
    hoso_dossier d;
    hoso_doc doc;
    hoso__papers vault = {0}, attached = {0}, reused = {0};
    char code[64];
    msgpack_packer pk;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(&hoso_msg_submit, &op->body, &op->body.root, &q, &op->err)) != 0) goto Exit;
    if ((ret = load_service(t, &q.service, &doc, &svc, &op->err)) != 0) goto Exit;
    /* Checked on the worker already; again here in case the catalogue changed since. */
    if ((ret = hoso_form_validate(&svc, q.form, &op->err)) != 0) goto Exit;
    if ((ret = hoso__vault_load(t, op->who.account, &doc, &vault)) != 0) goto Exit;
    ret = hoso__papers_take_inline(op, t, &doc, q.papers, &vault, &attached);
    if (ret && ret != HOSO_EVALIDATION_FAILED) goto Exit;

    /* Required papers not given: take them from the vault while still valid. */
    for (size_t i = 0; i < svc.npapers; i++) {
        const hoso_paper_req *need = &svc.papers[i];
        int have = 0;
        if (!need->required) continue;
        for (size_t j = 0; j < attached.n && !have; j++)
            have = attached.v[j].type.len == need->type.len &&
                   memcmp(attached.v[j].type.ptr, need->type.ptr, need->type.len) == 0;
        if (have) continue;
        const hoso_paper *p = hoso__vault_find(&vault, &need->type, op->now);
        if (p) {
            int r = hoso__papers_push(&attached, p);
            if (!r) r = hoso__papers_push(&reused, p);
            if (r) {
                ret = r;
                goto Exit;
            }
        } else {
            char f[64];
            snprintf(f, sizeof(f), "papers.%.*s", (int)need->type.len, need->type.ptr);
            ret = hoso_fail_field(&op->err, f, "required");
        }
    }
    if (ret) goto Exit;

    memset(&d, 0, sizeof(d));
    if ((ret = hoso_dossier_next_code(t, svc.agency.ptr, op->now, code)) != 0) goto Exit;
    d.service = svc.code;
    d.agency = svc.agency;
    d.channel = q.channel;
    d.submitted_at = op->now;
    hoso_str none = {"", 0};
    ret = HOSO_ENOMEM;
    if (hoso_zone_str(&doc.zone, code, strlen(code), &d.code) ||
        hoso_zone_str(&doc.zone, op->who.account, strlen(op->who.account), &d.owner) ||
        (!hoso__has(&d.channel) && hoso_zone_str(&doc.zone, "app", 3, &d.channel)) ||
        pack_form(&doc, q.form, &d.form) || hoso__papers_join(&doc, &none, &attached, &d.papers))
        goto Exit;
    if ((ret = hoso__dossier_submit(t, op, &doc, &d, NOTE_SUBMITTED, (unsigned)(attached.n - reused.n),
                                    (unsigned)reused.n)) != 0 ||
        (ret = hoso__files_grant(t, &attached, d.agency.ptr, NULL)) != 0)
        goto Exit;

    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    hoso_pack_cstr(&pk, "dossier");
    if (hoso_dossier_encode(&pk, &d)) {
        ret = HOSO_ENOMEM;
        goto Exit;
    }
    hoso_pack_cstr(&pk, "reused_papers");
    msgpack_pack_array(&pk, (uint32_t)reused.n);
    for (size_t i = 0; i < reused.n; i++) hoso_pack_str(&pk, reused.v[i].id.ptr, reused.v[i].id.len);
    op->http_status = 201;
Exit:
    hoso__papers_free(&vault);
    hoso__papers_free(&attached);
    hoso__papers_free(&reused);
    hoso_doc_destroy(&doc);
    return ret;
}

static int submit_check(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei)
{
    hoso_req_submit q;
    hoso_service svc;
    hoso_doc doc;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_submit, body, root, &q, ei)) != 0) return ret;
    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    check_channel(&q.channel, ei);
    hoso__papers_check(&doc, q.papers, ei);
    if (q.form && q.form->type != MSGPACK_OBJECT_MAP) hoso_fail_field(ei, "form", "must be a map");
    ret = load_service(rtxn, &q.service, &doc, &svc, ei);
    if (ret == 0 && (!q.form || q.form->type == MSGPACK_OBJECT_MAP)) {
        msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
        hoso_form_validate(&svc, q.form ? q.form : &empty, ei);
    }
    if (ret == 0 && ei->err) ret = ei->err;
    hoso_doc_destroy(&doc);
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* Supplement: new form values win over old ones; papers are appended. */

static int merge_form(hoso_doc *doc, const hoso_str *old, const msgpack_object *add, msgpack_object *merged,
                      hoso_str *out)
{
    msgpack_object o;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t keep = 0;
    int ret;

    if ((ret = hoso__ops_unpack(doc, old, &o)) != 0) return ret;
    if (o.type != MSGPACK_OBJECT_MAP && o.type != MSGPACK_OBJECT_NIL) return HOSO_ECORRUPT;
    uint32_t nold = o.type == MSGPACK_OBJECT_MAP ? o.via.map.size : 0;
    uint32_t nadd = add ? add->via.map.size : 0;
    for (uint32_t i = 0; i < nold; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key;
        int replaced = 0;
        for (uint32_t j = 0; j < nadd && !replaced; j++) replaced = msgpack_object_equal(*k, add->via.map.ptr[j].key);
        keep += !replaced;
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, keep + nadd);
    for (uint32_t i = 0; i < nold; i++) {
        const msgpack_object_kv *kv = &o.via.map.ptr[i];
        int replaced = 0;
        for (uint32_t j = 0; j < nadd && !replaced; j++) replaced = msgpack_object_equal(kv->key, add->via.map.ptr[j].key);
        if (!replaced) msgpack_pack_object(&pk, kv->key), msgpack_pack_object(&pk, kv->val);
    }
    for (uint32_t j = 0; j < nadd; j++)
        msgpack_pack_object(&pk, add->via.map.ptr[j].key), msgpack_pack_object(&pk, add->via.map.ptr[j].val);
    ret = hoso_zone_str(&doc->zone, sb.data ? sb.data : "", sb.size, out);
    msgpack_sbuffer_destroy(&sb);
    if (ret) return ret;
    return hoso__ops_unpack(doc, out, merged);
}

static int supplement_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_supplement q;
    hoso_dossier d;
    hoso_service svc;
    hoso_doc doc;
    hoso__papers vault = {0}, added = {0};
    msgpack_object merged;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(&hoso_msg_supplement, &op->body, &op->body.root, &q, &op->err)) != 0) goto Exit;
    if ((ret = hoso__wop_load_dossier(op, t, 0, &doc, &d)) != 0) goto Exit;
    if (q.has_base_version && q.base_version != d.version) {
        ret = hoso__wop_conflict(op, &d, q.base_version);
        goto Exit;
    }
    if (d.status != HOSO_ST_SUPPLEMENT || hoso_status_check((int)d.status, HOSO_ST_PROCESSING, HOSO_ACTOR_CITIZEN)) {
        ret = hoso_wop_fail(op, HOSO_EILLEGAL_TRANSITION,
                            "only a dossier waiting for supplements (status 5) can be supplemented; it is in status %d (%s)",
                            (int)d.status, hoso_status_name_vi((int)d.status));
        goto Exit;
    }
    if ((ret = hoso_service_get(t, d.service.ptr, &doc, &svc)) != 0) {
        ret = hoso_wop_fail(op, ret, "cannot read the dossier's service");
        goto Exit;
    }
    if ((ret = merge_form(&doc, &d.form, q.form, &merged, &d.form)) != 0) goto Exit;
    if ((ret = hoso_form_validate(&svc, &merged, &op->err)) != 0) goto Exit;
    if ((ret = hoso__vault_load(t, op->who.account, &doc, &vault)) != 0) goto Exit;
    if ((ret = hoso__papers_take_inline(op, t, &doc, q.papers, &vault, &added)) != 0) goto Exit;
    if ((ret = hoso__papers_join(&doc, &d.papers, &added, &d.papers)) != 0) goto Exit;
    d.papers_required.ptr = NULL;
    d.papers_required.len = 0;
    if ((ret = hoso__dossier_change(t, op, &doc, &d, HOSO_CHANGE_STATUS, HOSO_ST_PROCESSING, NOTE_SUPPLEMENTED,
                                    strlen(NOTE_SUPPLEMENTED))) != 0 ||
        (ret = hoso__files_grant(t, &added, d.agency.ptr, NULL)) != 0)
        goto Exit;
    ret = hoso__wop_reply_dossier(op, 200, &d);
Exit:
    hoso__papers_free(&vault);
    hoso__papers_free(&added);
    hoso_doc_destroy(&doc);
    return ret;
}

static int supplement_check(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei)
{
    hoso_req_supplement q;
    hoso_doc doc;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_supplement, body, root, &q, ei)) != 0) return ret;
    if (q.form && q.form->type != MSGPACK_OBJECT_MAP && q.form->type != MSGPACK_OBJECT_NIL)
        hoso_fail_field(ei, "form", "must be a map");
    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    hoso__papers_check(&doc, q.papers, ei);
    hoso_doc_destroy(&doc);
    int nform = q.form && q.form->type == MSGPACK_OBJECT_MAP ? (int)q.form->via.map.size : 0;
    int npapers = q.papers && q.papers->type == MSGPACK_OBJECT_ARRAY ? (int)q.papers->via.array.size : 0;
    if (!ei->err && nform + npapers == 0) hoso_fail_field(ei, "papers", "give the papers or form fields asked for");
    return ei->err;
}

/* ---------------------------------------------------------------------------------- */
/* Withdraw */

static int withdraw_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_withdraw q;
    hoso_dossier d;
    hoso_doc doc;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(&hoso_msg_withdraw, &op->body, &op->body.root, &q, &op->err)) != 0) goto Exit;
    if ((ret = hoso__wop_load_dossier(op, t, 0, &doc, &d)) != 0) goto Exit;
    if (q.has_base_version && q.base_version != d.version) {
        ret = hoso__wop_conflict(op, &d, q.base_version);
        goto Exit;
    }
    if (hoso_status_check((int)d.status, HOSO_ST_WITHDRAWN, HOSO_ACTOR_CITIZEN)) {
        ret = hoso_wop_fail(op, HOSO_EILLEGAL_TRANSITION, "a dossier in status %d (%s) cannot be withdrawn",
                            (int)d.status, hoso_status_name_vi((int)d.status));
        goto Exit;
    }
    d.reason = q.reason;
    if ((ret = hoso__dossier_change(t, op, &doc, &d, HOSO_CHANGE_STATUS, HOSO_ST_WITHDRAWN, q.reason.ptr,
                                    q.reason.len)) != 0)
        goto Exit;
    ret = hoso__wop_reply_dossier(op, 200, &d);
Exit:
    hoso_doc_destroy(&doc);
    return ret;
}

static int withdraw_check(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei)
{
    hoso_req_withdraw q;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_withdraw, body, root, &q, ei)) != 0) return ret;
    if (!hoso__has(&q.reason) || q.reason.len > 2000) return hoso_fail_field(ei, "reason", "must be 1 to 2000 bytes");
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Rating: stored apart from the dossier and its owner so that the assessor stays
 * anonymous (Decree 42/2022 art. 13); the dossier only remembers that it was rated. */

static int rating_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_rating q;
    hoso_dossier d;
    hoso_doc doc;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(&hoso_msg_rating, &op->body, &op->body.root, &q, &op->err)) != 0) goto Exit;
    if ((ret = hoso__wop_load_dossier(op, t, 0, &doc, &d)) != 0) goto Exit;
    if (d.status != HOSO_ST_RETURNED) {
        ret = hoso_wop_fail(op, HOSO_EILLEGAL_TRANSITION, "a dossier can be rated once its result is returned "
                            "(status 10); it is in status %d (%s)", (int)d.status, hoso_status_name_vi((int)d.status));
        goto Exit;
    }
    if (d.rated) {
        ret = hoso_wop_fail(op, HOSO_EALREADY_EXISTS, "this dossier has been rated already");
        goto Exit;
    }
    if ((ret = hoso_rating_put(t, d.service.ptr, d.agency.ptr, op->now, q.answers)) != 0) goto Exit;
    d.rated = 1;
    if ((ret = hoso__dossier_change(t, op, &doc, &d, HOSO_CHANGE_FIELDS, 0, NULL, 0)) != 0) goto Exit;
    ret = hoso__wop_reply_dossier(op, 200, &d);
Exit:
    hoso_doc_destroy(&doc);
    return ret;
}

static int rating_check(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei)
{
    hoso_req_rating q;
    /* The descriptor checks the answers (1..64 questions, scores 1..5). */
    return hoso_decode(&hoso_msg_rating, body, root, &q, ei);
}

/* ---------------------------------------------------------------------------------- */
/* Feedback (kiến nghị, phản ánh): not tied to a dossier. */

static int feedback_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_feedback q;
    msgpack_packer pk;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_feedback, &op->body, &op->body.root, &q, &op->err)) != 0) return ret;
    const char *service = hoso__has(&q.service) ? q.service.ptr : "";
    if ((ret = hoso_feedback_put(t, q.text.ptr, service, op->now)) != 0 ||
        (ret = hoso__count_feedback(t, service, op->now)) != 0)
        return ret;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "ok");
    msgpack_pack_true(&pk);
    op->http_status = 201;
    return 0;
}

static int feedback_check(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei)
{
    hoso_req_feedback q;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_feedback, body, root, &q, ei)) != 0) return ret;
    if (!hoso__has(&q.text) || q.text.len > 4000) return hoso_fail_field(ei, "text", "must be 1 to 4000 bytes");
    if (hoso__has(&q.service)) {
        hoso_doc doc;
        hoso_service svc;
        if ((ret = hoso_doc_init(&doc)) != 0) return ret;
        ret = load_service(rtxn, &q.service, &doc, &svc, ei);
        hoso_doc_destroy(&doc);
    }
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* The table */

const hoso__citizen_op hoso__citizen_ops[] = {
    [HOSO_OP_SUBMIT] = {"submit", 0, submit_check, submit_apply},
    [HOSO_OP_SUPPLEMENT] = {"supplement", 1, supplement_check, supplement_apply},
    [HOSO_OP_WITHDRAW] = {"withdraw", 1, withdraw_check, withdraw_apply},
    [HOSO_OP_RATE] = {"rate", 1, rating_check, rating_apply},
    [HOSO_OP_FEEDBACK] = {"feedback", 0, feedback_check, feedback_apply},
    [HOSO_OP_MESSAGE] = {"message", 1, hoso__message_check, hoso__message_apply_citizen},
};
const size_t hoso__ncitizen_ops = sizeof(hoso__citizen_ops) / sizeof(hoso__citizen_ops[0]);

const hoso__citizen_op *hoso__citizen_op_find(const char *kind, size_t len)
{
    for (size_t i = 0; i < hoso__ncitizen_ops; i++)
        if (strlen(hoso__citizen_ops[i].kind) == len && memcmp(hoso__citizen_ops[i].kind, kind, len) == 0)
            return &hoso__citizen_ops[i];
    return NULL;
}
