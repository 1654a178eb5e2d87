/*
 * bots.c - what chatbots on social networks call: a dossier's status for a chat (scope
 * `lookup`), and webhook subscriptions to its later changes (scope `subscribe`), both
 * verified by the last four digits of its owner's phone.
 *
 * A wrong verifier and an unknown code get the same answer, so a bot cannot learn
 * which codes exist. Wrong verifiers are throttled per code (4 digits are 10,000
 * guesses), and every bot's lookups are a rate.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
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

/* The checks a lookup and a subscription share: the bot's scope and rate, the code's
 * throttle, the dossier (of the bot's agency, if it has one) and the verifier. 0 with
 * d in doc, or an error with r->err set. */
static int verify(hoso_req *r, const char *scope, const hoso_str *code, const hoso_str *last4, hoso_doc *doc,
                  hoso_dossier *d)
{
    int64_t now = hoso_now_ms(), wait = 0;
    int ret;
    if (!hoso_caller_has_scope(&r->who, scope))
        return hoso_fail(&r->err, HOSO_EFORBIDDEN, "this bot has no %s scope", scope);
    if (hoso_throttle_rate(HOSO_THROTTLE_BOT, r->who.account, now, &wait) != 0) {
        r->retry_after_ms = wait;
        hoso_metrics_throttled("bot");
        return hoso_fail(&r->err, HOSO_ERATE_LIMITED, "too many lookups from this bot");
    }
    if (hoso_throttle_attempt(HOSO_THROTTLE_LOOKUP_CODE, code->ptr, now, &wait) != 0) {
        r->retry_after_ms = wait;
        hoso_metrics_throttled("lookup");
        return hoso_fail(&r->err, HOSO_ERATE_LIMITED, "too many wrong lookups of this code; try again later");
    }
    ret = hoso_dossier_get(r->rtxn, code->ptr, doc, d);
    if (ret != 0 && ret != HOSO_ENOT_FOUND)
        return ret;
    /* A bot of an agency sees that agency's dossiers; a bot of none (a province's own
     * chat channel) sees every agency's. */
    if (ret == HOSO_ENOT_FOUND || (r->who.agency[0] != '\0' && strcmp(r->who.agency, d->agency.ptr) != 0) ||
        !phone_matches(r->rtxn, d, last4))
        return not_found(r);
    hoso_throttle_refund(HOSO_THROTTLE_LOOKUP_CODE, code->ptr); /* the right verifier */
    return 0;
}

int hoso_route_bot_lookup(hoso_req *r)
{
    hoso_req_bot_lookup q;
    hoso_doc doc;
    hoso_dossier d;
    hoso_service svc;
    int64_t now = hoso_now_ms();
    char notice[1200];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int ret;

    if (!hoso_caller_has_scope(&r->who, "lookup"))
        return hoso_fail(&r->err, HOSO_EFORBIDDEN, "this bot has no lookup scope");
    if ((ret = hoso_decode(&hoso_msg_bot_lookup, &r->body, &r->body.root, &q, &r->err)) != 0)
        return ret;
    if ((ret = hoso_doc_init(&doc)) != 0)
        return ret;
    msgpack_sbuffer_init(&sb);
    if ((ret = verify(r, "lookup", &q.code, &q.phone_last4, &doc, &d)) != 0)
        goto Exit;
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

/* ---------------------------------------------------------------------------------- */
/* Webhook subscriptions. A callback URL must be https and resolve only to public
 * addresses, so that a bot cannot make hosod call into the operator's own network
 * (--webhook-allow-private lifts both for tests and single-host setups). The engine
 * checks the address again at each delivery (server/consumers/webhooks.c). */

#define MAX_SUBS_PER_DOSSIER 10
#define MAX_SUBS_PER_BOT_DOSSIER 3

typedef struct sub_data {
    hoso_subscription s;
    char host[256];
    uint16_t port;
    int allow_private;
    char op_id[80];  /* the body's, kept for the op made after the check */
    char why[160];   /* why the URL was refused, from the resolver thread */
} sub_data;

static int url_refused(hoso_req *r, const char *why)
{
    hoso_fail(&r->err, HOSO_EVALIDATION_FAILED, "callback_url: %s", why);
    return hoso_fail_field(&r->err, "callback_url", why);
}

/* libuv's pool: every address the name resolves to must be public. */
static int resolve_check(void *data)
{
    sub_data *sd = data;
    struct addrinfo hints, *res = NULL;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", sd->port);
    int rc = getaddrinfo(sd->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(sd->why, sizeof sd->why, "the host name does not resolve (%s)", gai_strerror(rc));
        return 0;
    }
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next)
        if (!sd->allow_private && !hoso_addr_is_public(a->ai_addr)) {
            snprintf(sd->why, sizeof sd->why, "the host resolves to a loopback, private or reserved address");
            break;
        }
    freeaddrinfo(res);
    return 0;
}

static int pack_sub(msgpack_packer *pk, const hoso_subscription *s)
{
    return msgpack_pack_map(pk, 1) || hoso_pack_cstr(pk, "subscription") || msgpack_pack_map(pk, 8) ||
           hoso_pack_kcstr(pk, "id", s->id) || hoso_pack_kcstr(pk, "code", s->code) ||
           hoso_pack_kcstr(pk, "chat_ref", s->chat_ref) || hoso_pack_kcstr(pk, "callback_url", s->callback_url) ||
           hoso_pack_kint(pk, "created_at", s->created_at) || hoso_pack_cstr(pk, "active") ||
           (s->ended_at == 0 ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ||
           hoso_pack_kint(pk, "ended_at", s->ended_at) || hoso_pack_kcstr(pk, "end_reason", s->end_reason);
}

typedef struct sub_count {
    const char *bot;
    int all, mine;
} sub_count;

static int count_one(void *ctx, const hoso_subscription *s)
{
    sub_count *n = ctx;
    n->all++;
    n->mine += strcmp(s->bot, n->bot) == 0;
    return 0;
}

static int subscribe_apply(hoso_wop *op, hoso_txn *t)
{
    sub_data *sd = op->data;
    msgpack_packer pk;
    sub_count n = {sd->s.bot, 0, 0};
    hoso_doc doc;
    hoso_dossier d;
    int ret;
    /* Again in the write: the dossier may have become final since the request read it. */
    memset(&doc, 0, sizeof doc);
    ret = hoso_dossier_get(t, sd->s.code, &doc, &d);
    int final = ret == 0 && hoso_status_is_final((int)d.status);
    hoso_doc_destroy(&doc);
    if (ret != 0)
        return hoso_wop_fail(op, ret, "no dossier with this code and phone number");
    if (final)
        return hoso_wop_fail(op, HOSO_EVALIDATION_FAILED, "the dossier is in a final status: nothing more will change");
    if ((ret = hoso_subscription_each_active(t, sd->s.code, count_one, &n)) != 0)
        return hoso_wop_fail(op, ret, "cannot read the dossier's subscriptions");
    if (n.mine >= MAX_SUBS_PER_BOT_DOSSIER || n.all >= MAX_SUBS_PER_DOSSIER)
        return hoso_wop_fail(op, HOSO_EVALIDATION_FAILED,
                             "a dossier has at most %d active subscriptions, %d of them from one bot",
                             MAX_SUBS_PER_DOSSIER, MAX_SUBS_PER_BOT_DOSSIER);
    sd->s.created_at = op->now;
    if ((ret = hoso_log_last(t, &sd->s.from_seq)) != 0)
        return hoso_wop_fail(op, ret, "cannot read the log's head");
    if ((ret = hoso_subscription_put(t, &sd->s)) != 0)
        return hoso_wop_fail(op, ret, "cannot store the subscription");
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    if (pack_sub(&pk, &sd->s))
        return hoso_wop_fail(op, HOSO_ENOMEM, "cannot encode the subscription");
    op->http_status = 201;
    return 0;
}

static int subscribe_checked(hoso_req *r, void *data, int result)
{
    sub_data *sd = data;
    hoso_wop *op;
    if (result != 0 || sd->why[0] != '\0') {
        int ret = url_refused(r, sd->why[0] ? sd->why : "cannot be checked");
        free(sd);
        return ret;
    }
    /* The body is gone by now: the op takes its op_id from sd. */
    if ((op = hoso_wop_new(r, subscribe_apply)) == NULL) {
        free(sd);
        return HOSO_ENOMEM;
    }
    snprintf(op->op_id, sizeof op->op_id, "%s", sd->op_id);
    op->data = sd;
    op->free_data = free;
    return hoso_writer_submit(r, op);
}

int hoso_route_bot_subscribe(hoso_req *r)
{
    hoso_req_bot_subscribe q;
    hoso_doc doc;
    hoso_dossier d;
    sub_data *sd = NULL;
    const char *path;
    int https = 0, ret;
    uint8_t rnd[16];

    if (!hoso_caller_has_scope(&r->who, "subscribe"))
        return hoso_fail(&r->err, HOSO_EFORBIDDEN, "this bot has no subscribe scope");
    if ((ret = hoso_decode(&hoso_msg_bot_subscribe, &r->body, &r->body.root, &q, &r->err)) != 0)
        return ret;
    if ((sd = calloc(1, sizeof(*sd))) == NULL)
        return HOSO_ENOMEM;
    sd->allow_private = hoso_server_config(r->srv)->webhook_allow_private;
    if (hoso_url_split(q.callback_url.ptr, &https, sd->host, sizeof sd->host, &sd->port, &path) != 0) {
        free(sd);
        return url_refused(r, "must be an absolute http(s) URL without user, fragment or spaces");
    }
    if (!https && !sd->allow_private) {
        free(sd);
        return url_refused(r, "must be https");
    }
    /* Certificates name hosts: an https URL to a bare address could never be verified. */
    unsigned char bin[16];
    if (https && (inet_pton(AF_INET, sd->host, bin) == 1 || inet_pton(AF_INET6, sd->host, bin) == 1)) {
        free(sd);
        return url_refused(r, "an https callback needs a host name (a certificate names a host, not an address)");
    }
    if ((ret = hoso_doc_init(&doc)) != 0) {
        free(sd);
        return ret;
    }
    ret = verify(r, "subscribe", &q.code, &q.phone_last4, &doc, &d);
    if (ret == 0 && hoso_status_is_final((int)d.status))
        ret = hoso_fail(&r->err, HOSO_EVALIDATION_FAILED, "the dossier is in a final status: nothing more will change");
    hoso_doc_destroy(&doc);
    if (ret != 0) {
        free(sd);
        return ret;
    }
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(sd->s.id, sizeof sd->s.id, rnd, sizeof rnd);
    snprintf(sd->s.bot, sizeof sd->s.bot, "%s", r->who.account);
    snprintf(sd->s.code, sizeof sd->s.code, "%s", q.code.ptr);
    snprintf(sd->s.chat_ref, sizeof sd->s.chat_ref, "%s", q.chat_ref.ptr);
    snprintf(sd->s.callback_url, sizeof sd->s.callback_url, "%s", q.callback_url.ptr);
    if (q.op_id.ptr != NULL)
        snprintf(sd->op_id, sizeof sd->op_id, "%s", q.op_id.ptr);
    return hoso_req_offload(r, HOSO_OFFLOAD_RESOLVE, resolve_check, subscribe_checked, free, sd);
}

/* The caller's own subscription {id}, or NOT_FOUND (another bot's looks the same). */
static int own_sub(hoso_req *r, hoso_txn *t, const char *id, hoso_subscription *s)
{
    int ret = hoso_subscription_get(t, id, s);
    if (ret == 0 && strcmp(s->bot, r->who.account) != 0)
        ret = HOSO_ENOT_FOUND;
    if (ret == HOSO_ENOT_FOUND)
        return hoso_fail(&r->err, HOSO_ENOT_FOUND, "no such subscription");
    return ret;
}

int hoso_route_bot_subscription_get(hoso_req *r)
{
    hoso_subscription *s = malloc(sizeof(*s));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int ret;
    if (s == NULL)
        return HOSO_ENOMEM;
    if ((ret = own_sub(r, r->rtxn, r->params[0], s)) == 0) {
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        ret = pack_sub(&pk, s) ? HOSO_ENOMEM : hoso_reply(r, 200, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    sodium_memzero(s, sizeof(*s));
    free(s);
    return ret;
}

static int unsubscribe_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_subscription s;
    int ret = hoso_subscription_get(t, op->params[0], &s);
    if (ret == 0 && strcmp(s.bot, op->who.account) != 0)
        ret = HOSO_ENOT_FOUND;
    if (ret == HOSO_ENOT_FOUND)
        return hoso_wop_fail(op, ret, "no such subscription");
    if (ret != 0)
        return hoso_wop_fail(op, ret, "cannot read the subscription");
    if (s.ended_at == 0) {
        s.ended_at = op->now;
        snprintf(s.end_reason, sizeof s.end_reason, "deleted");
        if ((ret = hoso_subscription_put(t, &s)) != 0)
            return hoso_wop_fail(op, ret, "cannot end the subscription");
    }
    op->http_status = 204;
    return 0;
}

int hoso_route_bot_unsubscribe(hoso_req *r)
{
    hoso_wop *op = hoso_wop_new(r, unsubscribe_apply);
    return op != NULL ? hoso_writer_submit(r, op) : HOSO_ENOMEM;
}
