/*
 * webhooks.c - the sink that POSTs each change of a dossier to the bots subscribed to
 * it, signed the Standard Webhooks way:
 *
 *   webhook-id: <subscription id>_<log seq>        (the same on every retry)
 *   webhook-timestamp: <Unix seconds>
 *   webhook-signature: v1,<base64 HMAC-SHA256(secret, id "." timestamp "." body)>
 *
 * where secret is the bot's whsec_ secret, base64-decoded. The body is
 * {type, timestamp, data: {subscription_id, chat_ref, code, status, status_name,
 * agency, due_at, overdue, message, seq}}. The key is the dossier code, so one
 * dossier's changes reach its bots in order.
 *
 * Each delivery resolves the callback host again and refuses a loopback, private or
 * reserved address unless --webhook-allow-private (a name that resolved to a public
 * address when the bot subscribed may not anymore): that ends the subscription. A 2xx
 * acknowledges; 410 ends the subscription; 429, 5xx and network failures are retried
 * (for that dossier only: one bot's receiver being down does not pause the others);
 * any other 4xx is retried too (a clock off by minutes, a secret being rotated) and
 * ends the subscription after REFUSE_AFTER attempts. No subscription can turn a change
 * into a dead letter that would hold up the other bots of the dossier. After a final
 * status (3, 7, 8, 10) is delivered, the dossier's subscriptions end.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>
#include "consumers/consumers.h"
#include "consumers/http.h"
#include "domain/domain.h"

#define MAX_TARGETS 10
#define REFUSE_AFTER 8 /* attempts: about 2 minutes of backoff */

struct wjob;

typedef struct target {
    struct wjob *j;
    hoso_subscription sub;
    uint8_t secret[64];
    size_t secret_len;
    char host[256], authority[300];
    const char *path;
    uint16_t port;
    int https;
    char portstr[8];
    h2o_hostinfo_getaddr_req_t *gai; /* while h2o's resolver looks the host up */
    hoso_sent result;
    int gone;      /* 410: the receiver ended it */
    int refused;   /* refused REFUSE_AFTER times, or the host turned private */
    char why[200];
} target;

typedef struct wjob {
    h2o_linklist_t all;
    struct whook *w;
    hoso_job *job;
    target *t;
    size_t nt, left;
    json_t *body; /* the payload; each target sets its subscription_id and chat_ref in it */
    int64_t retry_after_ms;
    uint64_t t0;
} wjob;

typedef struct whook {
    hoso_consumer *c;
    int ready, stopped, allow_private;
    hoso_http http;
    hoso_txn *rtxn;
    h2o_linklist_t live;
} whook;

/* "whsec_" + base64 of the key. */
static int decode_secret(const char *s, uint8_t *out, size_t max, size_t *len)
{
    if (s == NULL || strncmp(s, "whsec_", 6) != 0)
        return -1;
    return sodium_base642bin(out, max, s + 6, strlen(s + 6), NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL);
}

/* ---------------------------------------------------------------------------------- */

static void end_subs_apply_one(hoso_txn *t, const char *id, const char *reason, int64_t now, int *rc)
{
    hoso_subscription s;
    if (*rc != 0 || hoso_subscription_get(t, id, &s) != 0 || s.ended_at != 0)
        return;
    s.ended_at = now;
    snprintf(s.end_reason, sizeof s.end_reason, "%s", reason);
    *rc = hoso_subscription_put(t, &s);
    sodium_memzero(&s, sizeof s);
}

typedef struct ends {
    wjob *j;
    int final;
} ends;

static int end_apply(hoso_wop *op, hoso_txn *t)
{
    ends *e = op->data;
    int rc = 0;
    for (size_t i = 0; i < e->j->nt; i++) {
        target *tg = &e->j->t[i];
        if (tg->gone)
            end_subs_apply_one(t, tg->sub.id, "gone", op->now, &rc);
        else if (tg->refused)
            end_subs_apply_one(t, tg->sub.id, "refused", op->now, &rc);
        else if (e->final && tg->result == HOSO_SENT_OK)
            end_subs_apply_one(t, tg->sub.id, "final", op->now, &rc);
    }
    return rc ? hoso_wop_fail(op, rc, "cannot end the subscriptions") : 0;
}

static void job_finish(wjob *j)
{
    hoso_sent res = HOSO_SENT_OK;
    const char *why = NULL;
    int any_end = 0;
    for (size_t i = 0; i < j->nt; i++) {
        target *t = &j->t[i];
        if (t->result == HOSO_SENT_RETRY) {
            res = HOSO_SENT_RETRY;
            why = t->why;
        } else if (t->result == HOSO_SENT_REFUSED && res == HOSO_SENT_OK) {
            res = HOSO_SENT_REFUSED;
            why = t->why;
        }
        any_end |= t->gone | t->refused;
    }
    int final = hoso_status_is_final((int)j->job->e.status) && j->job->e.type == HOSO_EV_DOSSIER_STATUS;
    if (res != HOSO_SENT_RETRY && (any_end || final) && !j->w->stopped) {
        ends e = {j, final && res == HOSO_SENT_OK};
        hoso_errinfo ei;
        memset(&ei, 0, sizeof ei);
        if (hoso_run_job(hoso_consumer_store(j->w->c), end_apply, &e, hoso_now_ms(), &ei) != 0) {
            res = HOSO_SENT_RETRY;
            why = "cannot end the subscriptions (storage)";
        }
    }
    char reason[256];
    snprintf(reason, sizeof reason, "%s", why ? why : "");
    hoso_job *job = j->job;
    h2o_linklist_unlink(&j->all);
    sodium_memzero(j->t, j->nt * sizeof(*j->t));
    free(j->t);
    json_decref(j->body);
    free(j);
    hoso_job_done(job, res, 0, reason[0] ? reason : NULL);
}

static void target_done(target *t, hoso_sent result, const char *fmt, const char *detail)
{
    wjob *j = t->j;
    t->result = result;
    if (fmt != NULL)
        snprintf(t->why, sizeof t->why, fmt, t->sub.id, detail ? detail : "");
    if (--j->left == 0 && !j->w->stopped)
        job_finish(j);
}

static void on_reply(void *data, int status, const char *body, size_t len, int64_t retry_after_ms, const char *err)
{
    target *t = data;
    char st[64];
    (void)body, (void)len;
    hoso_consumer_observe_call(t->j->w->c, uv_hrtime() / 1000 - t->j->t0);
    if (retry_after_ms > t->j->retry_after_ms)
        t->j->retry_after_ms = retry_after_ms;
    snprintf(st, sizeof st, "HTTP %d", status);
    if (status == 0)
        target_done(t, HOSO_SENT_RETRY, "subscription %s: %s", err ? err : "no reply");
    else if (status >= 200 && status < 300)
        target_done(t, HOSO_SENT_OK, NULL, NULL);
    else if (status == 410) {
        t->gone = 1;
        target_done(t, HOSO_SENT_OK, NULL, NULL);
    } else if (status == 429 || status >= 500)
        target_done(t, HOSO_SENT_RETRY, "subscription %s: the receiver answered %s", st);
    else if (t->j->job->attempt + 1 >= REFUSE_AFTER) {
        hoso_log(HOSO_LOG_WARN, "webhooks: subscription %s ends: its receiver refused %d times (%s)", t->sub.id,
                 REFUSE_AFTER, st);
        t->refused = 1;
        target_done(t, HOSO_SENT_OK, NULL, NULL);
    } else
        target_done(t, HOSO_SENT_RETRY, "subscription %s: the receiver refused it with %s", st);
}

static void post(target *t, const char *addr)
{
    wjob *j = t->j;
    char id[80], ts[24], headers[512], sig_b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    json_t *data = json_object_get(j->body, "data");
    snprintf(id, sizeof id, "%s_%llu", t->sub.id, (unsigned long long)j->job->e.seq);
    snprintf(ts, sizeof ts, "%lld", (long long)(hoso_now_ms() / 1000));
    /* Targets are posted one after the other on this thread: each overwrites these. */
    json_object_set_new(data, "subscription_id", json_string(t->sub.id));
    json_object_set_new(data, "chat_ref", json_string(t->sub.chat_ref));
    char *text = json_dumps(j->body, JSON_COMPACT);
    if (text == NULL) {
        target_done(t, HOSO_SENT_RETRY, "subscription %s: out of memory%s", "");
        return;
    }
    crypto_auth_hmacsha256_init(&st, t->secret, t->secret_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)text, strlen(text));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(sig_b64, sizeof sig_b64, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    snprintf(headers, sizeof headers, "webhook-id: %s\r\nwebhook-timestamp: %s\r\nwebhook-signature: v1,%s\r\n", id, ts,
             sig_b64);
    hoso_http_post_addr(&j->w->http, addr, t->port, t->https ? t->host : NULL, t->authority, t->path, headers, text,
                        strlen(text), on_reply, t);
    sodium_memzero(text, strlen(text));
    free(text);
}

/* h2o's resolver (threads of its own, not libuv's pool that sign-ins hash on). */
static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    target *t = data;
    char addr[INET6_ADDRSTRLEN] = "";
    (void)req;
    t->gai = NULL;
    if (errstr != NULL) {
        target_done(t, HOSO_SENT_RETRY, "subscription %s: the callback host does not resolve (%s)", errstr);
        return;
    }
    for (struct addrinfo *a = res; a != NULL && addr[0] == '\0'; a = a->ai_next) {
        if (!t->j->w->allow_private && !hoso_addr_is_public(a->ai_addr))
            continue;
        if (a->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, addr, sizeof addr);
        else if (a->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, addr, sizeof addr);
    }
    if (addr[0] == '\0') {
        hoso_log(HOSO_LOG_WARN, "webhooks: subscription %s ends: its callback host now resolves to a loopback, "
                 "private or reserved address", t->sub.id);
        t->refused = 1;
        target_done(t, HOSO_SENT_OK, NULL, NULL);
        return;
    }
    post(t, addr);
}

/* ---------------------------------------------------------------------------------- */

typedef struct collect {
    wjob *j;
    hoso_txn *t;
    hoso_doc *doc;
} collect;

static int add_target(void *ctx, const hoso_subscription *s)
{
    collect *co = ctx;
    wjob *j = co->j;
    hoso_account a;
    if (j->nt == MAX_TARGETS)
        return 1;
    if (j->job->e.seq <= s->from_seq)
        return 0; /* a change from before the subscription */
    target *t = &j->t[j->nt];
    memset(t, 0, sizeof(*t));
    t->j = j;
    t->sub = *s;
    if (hoso_account_get(co->t, s->bot, co->doc, &a) != 0 ||
        decode_secret(a.bot_secret.ptr, t->secret, sizeof t->secret, &t->secret_len) != 0)
        return 0; /* the bot is gone or has no secret: nothing to sign with */
    if (hoso_url_split(t->sub.callback_url, &t->https, t->host, sizeof t->host, &t->port, &t->path) != 0)
        return 0;
    snprintf(t->authority, sizeof t->authority, "%s%s%s:%u", strchr(t->host, ':') ? "[" : "", t->host,
             strchr(t->host, ':') ? "]" : "", t->port);
    j->nt++;
    return 0;
}

/* The payload's common part, from the dossier as of this change. */
typedef struct thread_msg {
    char from[16];
    char *text;
} thread_msg;

static int copy_message(void *ctx, const hoso_message *m)
{
    thread_msg *tm = ctx;
    snprintf(tm->from, sizeof tm->from, "%s", m->from);
    tm->text = strndup(m->text.ptr, m->text.len);
    return tm->text == NULL ? HOSO_ENOMEM : 0;
}

static json_t *build_body(hoso_txn *t, const hoso_log_entry *e)
{
    hoso_doc doc;
    hoso_dossier d;
    hoso_service svc;
    char notice[1200], at[40];
    memset(&doc, 0, sizeof doc);
    if (hoso_dossier_get(t, e->code, &doc, &d) != 0) {
        hoso_doc_destroy(&doc);
        return NULL;
    }
    d.status = e->status; /* the sentence speaks of this change, not of a later one */
    const char *name = d.service.ptr;
    if (hoso_service_get(t, d.service.ptr, &doc, &svc) == 0)
        name = svc.name.ptr;
    if (hoso__dossier_notice(&d, name, hoso_now_ms(), notice, sizeof notice) != 0)
        notice[0] = '\0';
    time_t secs = (time_t)(e->at / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *b = json_pack("{s:s, s:s, s:{s:s, s:I, s:s, s:s, s:s, s:I, s:b, s:s, s:I}}", "type",
                          hoso_event_type_name(e->type), "timestamp", at, "data", "code", e->code, "status",
                          (json_int_t)e->status, "status_name", hoso_status_name_vi((int)e->status), "service", name,
                          "agency", d.agency.ptr ? d.agency.ptr : "", "due_at", (json_int_t)d.due_at, "overdue",
                          hoso__dossier_overdue(&d, hoso_now_ms()), "message", notice, "seq", (json_int_t)e->seq);
    hoso_doc_destroy(&doc);
    if (b != NULL && e->type == HOSO_EV_MESSAGE) {
        /* A message of the dossier's thread: `message` is its text (what a bot forwards
         * to the chat), with who wrote it and its place in the thread. */
        thread_msg tm = {"", NULL};
        json_t *data = json_object_get(b, "data");
        if (e->message_seq == 0 || hoso_message_list(t, e->code, e->message_seq - 1, 1, copy_message, &tm, NULL) != 0 ||
            tm.text == NULL) {
            free(tm.text);
            json_decref(b);
            return NULL;
        }
        json_object_set_new(data, "message", json_string(tm.text));
        json_object_set_new(data, "from", json_string(tm.from));
        json_object_set_new(data, "message_seq", json_integer((json_int_t)e->message_seq));
        free(tm.text);
    }
    return b;
}

static void wh_send(void *ctx, hoso_job *job)
{
    whook *w = ctx;
    wjob *j;
    hoso_doc doc;
    int rc;
    w->c = job->consumer;
    if (!w->ready) {
        if (hoso_http_init(&w->http, hoso_consumer_loop(w->c), 10000, NULL) != 0) {
            hoso_job_done(job, HOSO_SENT_RETRY, 0, "the HTTP client cannot start");
            return;
        }
        w->ready = 1;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL || (j->t = calloc(MAX_TARGETS, sizeof(target))) == NULL) {
        free(j);
        hoso_job_done(job, HOSO_SENT_RETRY, 0, "out of memory");
        return;
    }
    j->w = w;
    j->job = job;
    memset(&doc, 0, sizeof doc);
    rc = w->rtxn ? hoso_txn_renew(w->rtxn) : hoso_txn_read(hoso_consumer_store(w->c), &w->rtxn);
    if (rc == 0) {
        collect co = {j, w->rtxn, &doc};
        rc = hoso_subscription_each_active(w->rtxn, job->e.code, add_target, &co);
        if (rc == 1)
            rc = 0;
        if (rc == 0 && j->nt > 0 && (j->body = build_body(w->rtxn, &job->e)) == NULL)
            rc = HOSO_ENOMEM;
        hoso_txn_reset(w->rtxn);
    }
    hoso_doc_destroy(&doc);
    if (rc != 0 || j->nt == 0) {
        free(j->t);
        json_decref(j->body);
        free(j);
        if (rc != 0)
            hoso_job_done(job, HOSO_SENT_RETRY, 0, "cannot read the subscriptions");
        else
            hoso_job_done(job, HOSO_SENT_OK, 0, NULL); /* nobody subscribed */
        return;
    }
    h2o_linklist_insert(&w->live, &j->all);
    j->left = j->nt + 1; /* + this loop: a target that fails at once cannot end the job under it */
    j->t0 = uv_hrtime() / 1000;
    for (size_t i = 0; i < j->nt; i++) {
        target *t = &j->t[i];
        snprintf(t->portstr, sizeof t->portstr, "%u", t->port);
        t->gai = h2o_hostinfo_getaddr(&w->http.getaddr_rx, h2o_iovec_init(t->host, strlen(t->host)),
                                      h2o_iovec_init(t->portstr, strlen(t->portstr)), AF_UNSPEC, SOCK_STREAM,
                                      IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, t);
    }
    if (--j->left == 0)
        job_finish(j);
}

static void wh_stop(void *ctx)
{
    whook *w = ctx;
    w->stopped = 1;
    if (w->ready)
        hoso_http_dispose(&w->http); /* calls in flight end without a callback */
    /* Every job ends now: what it had not delivered is after the saved cursor. A
     * cancelled lookup never calls back. */
    while (!h2o_linklist_is_empty(&w->live)) {
        wjob *j = H2O_STRUCT_FROM_MEMBER(wjob, all, w->live.next);
        for (size_t i = 0; i < j->nt; i++)
            if (j->t[i].gai != NULL)
                h2o_hostinfo_getaddr_cancel(j->t[i].gai);
        h2o_linklist_unlink(&j->all);
        hoso_job_done(j->job, HOSO_SENT_RETRY, 0, "stopping");
        free(j->t);
        json_decref(j->body);
        free(j);
    }
    if (w->rtxn != NULL) {
        hoso_txn_abort(w->rtxn);
        w->rtxn = NULL;
    }
}

static void wh_free(void *ctx)
{
    free(ctx);
}

int hoso_webhook_sink(int allow_private, hoso_sink *out)
{
    whook *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return HOSO_ENOMEM;
    w->allow_private = allow_private;
    h2o_linklist_init_anchor(&w->live);
    memset(out, 0, sizeof(*out));
    out->name = "webhooks";
    out->ctx = w;
    out->max_inflight = 64;
    out->retry_min_ms = 1000;
    out->retry_max_ms = 300000;
    out->from_head = 1;
    out->key = hoso_dossier_event_key;
    out->send = wh_send;
    out->stop = wh_stop;
    out->free = wh_free;
    return 0;
}
