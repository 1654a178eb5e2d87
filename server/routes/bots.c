/*
 * bots.c - what chatbots on social networks call (scope `lookup`): a dossier's status
 * for a chat, verified by the last four digits of its owner's phone.
 *
 * A wrong verifier and an unknown code get the same answer, so a bot cannot learn
 * which codes exist. Wrong verifiers are throttled per code (4 digits are 10,000
 * guesses), and every bot's lookups are a rate.
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "domain/domain.h"
#include "routes.h"

static int not_found(hoso_req *r)
{
    return hoso_fail(&r->err, HOSO_ENOT_FOUND, "no dossier with this code and phone number");
}

/* 1 if the owner's phone ends with the 4 digits given (compared in constant time). */
static int phone_matches(hoso_txn *t, const hoso_dossier *d, const hoso_str *last4)
{
    hoso_doc doc;
    hoso_account a;
    int ok = 0;
    memset(&doc, 0, sizeof(doc));
    if (hoso_account_get(t, d->owner.ptr, &doc, &a) == 0 && a.phone.ptr != NULL && a.phone.len >= 4)
        ok = sodium_memcmp(a.phone.ptr + a.phone.len - 4, last4->ptr, 4) == 0;
    hoso_doc_destroy(&doc);
    return ok;
}

int hoso_route_bot_lookup(hoso_req *r)
{
    hoso_req_bot_lookup q;
    hoso_doc doc;
    hoso_dossier d;
    hoso_service svc;
    int64_t now = hoso_now_ms(), wait = 0;
    char notice[1200];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int ret;

    if (!hoso_caller_has_scope(&r->who, "lookup"))
        return hoso_fail(&r->err, HOSO_EFORBIDDEN, "this bot has no lookup scope");
    if (hoso_throttle_rate(HOSO_THROTTLE_BOT, r->who.account, now, &wait) != 0) {
        r->retry_after_ms = wait;
        hoso_metrics_throttled("bot");
        return hoso_fail(&r->err, HOSO_ERATE_LIMITED, "too many lookups from this bot");
    }
    if ((ret = hoso_decode(&hoso_msg_bot_lookup, &r->body, &r->body.root, &q, &r->err)) != 0)
        return ret;
    if (hoso_throttle_attempt(HOSO_THROTTLE_LOOKUP_CODE, q.code.ptr, now, &wait) != 0) {
        r->retry_after_ms = wait;
        hoso_metrics_throttled("lookup");
        return hoso_fail(&r->err, HOSO_ERATE_LIMITED, "too many wrong lookups of this code; try again later");
    }
    if ((ret = hoso_doc_init(&doc)) != 0)
        return ret;
    msgpack_sbuffer_init(&sb);
    ret = hoso_dossier_get(r->rtxn, q.code.ptr, &doc, &d);
    if (ret != 0 && ret != HOSO_ENOT_FOUND)
        goto Exit;
    /* A bot of an agency sees that agency's dossiers; a bot of none (a province's own
     * chat channel) sees every agency's. */
    if (ret == HOSO_ENOT_FOUND || (r->who.agency[0] != '\0' && strcmp(r->who.agency, d.agency.ptr) != 0) ||
        !phone_matches(r->rtxn, &d, &q.phone_last4)) {
        ret = not_found(r);
        goto Exit;
    }
    hoso_throttle_refund(HOSO_THROTTLE_LOOKUP_CODE, q.code.ptr); /* the right verifier */
    const char *service_name = d.service.ptr;
    if (hoso_service_get(r->rtxn, d.service.ptr, &doc, &svc) == 0)
        service_name = svc.name.ptr;
    if ((ret = hoso__dossier_notice(&d, service_name, now, notice, sizeof(notice))) != 0)
        goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 11) || hoso_pack_kstr(&pk, "code", &d.code) || hoso_pack_kstr(&pk, "service", &d.service) ||
        hoso_pack_kcstr(&pk, "service_name", service_name) || hoso_pack_kstr(&pk, "agency", &d.agency) ||
        hoso_pack_kint(&pk, "status", d.status) || hoso_pack_kcstr(&pk, "status_name", hoso_status_name_vi((int)d.status)) ||
        hoso_pack_kint(&pk, "version", d.version) || hoso_pack_kint(&pk, "submitted_at", d.submitted_at) ||
        hoso_pack_kint(&pk, "due_at", d.due_at) || hoso_pack_cstr(&pk, "overdue") ||
        (hoso__dossier_overdue(&d, now) ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) ||
        hoso_pack_kcstr(&pk, "message", notice)) {
        ret = HOSO_ENOMEM;
        goto Exit;
    }
    ret = hoso_reply(r, 200, sb.data, sb.size);
Exit:
    msgpack_sbuffer_destroy(&sb);
    hoso_doc_destroy(&doc);
    return ret;
}
