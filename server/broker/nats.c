/*
 * nats.c - a cluster node's NATS side (DESIGN.md "Scale beyond one machine").
 *
 * Threads. nats.c runs its own I/O and delivery threads; the broker adds one thread of
 * its own (outbox, node record, forward deadlines). Workers only publish (buffered,
 * never waits for the network) and hand tickets over; replies come back on nats.c's
 * delivery thread and reach the worker through the ticket (hoso_ticket_finish). The
 * writer asks for dossier numbers (seq_next) and waits for a KV compare-and-set only
 * when this node holds none for that agency and day.
 *
 * Subjects and buckets:
 *   hoso.rpc.<shard>          requests forwarded to the node of the shard (request/reply)
 *   hoso.ev.<agency>.<shard>  committed events, stream HOSO_EVENTS, Nats-Msg-Id epoch:seq
 *   KV HOSO_CLUSTER           keycheck, shards: what every node must agree on
 *   KV HOSO_NODES             node.<id>: each node's record, rewritten every second
 *   KV HOSO_SEQ               seq.<agency>.<YYMMDD>: the next free dossier number
 * and in the other files: hoso.sink.<shard> and the consumers' leases (events.c),
 * hoso.file.<shard> (files.c), hoso.auth, hoso.q (staff.c), hoso.live, hoso.feed
 * (live.c), hoso.admin (admin.c).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <nats/nats.h>
#include <sodium.h>
#include "internal.h"

#define STREAM "HOSO_EVENTS"
#define OUTBOX_BATCH 512
#define OUTBOX_SAVE_MS 200
#define HEARTBEAT_MS 1000
#define PENDING_BUCKETS 1024
#define SEQ_BLOCK_MAX 64
#define SEQ_SLOTS 64
#define RELAY_THREADS 8

/* A forwarded request, owned by its ticket's job (freed with fwd_free). While it waits
 * for its reply it is also in the pending table, and whoever takes it out of the table
 * (the reply, the deadline, a failed publish) finishes the ticket: exactly one does. */
typedef struct fwd {
    struct fwd *next;       /* pending bucket chain */
    uint64_t id;
    hoso_ticket *ticket;
    int64_t deadline;
    int64_t probe_at;       /* when to ask whether the shard's node is still there */
    unsigned shard;
    int why;                /* for an error reply: FWD_* */
    msgpack_sbuffer req;
    char *resp;
    size_t resp_len;
} fwd;

enum { FWD_OK, FWD_NO_RESPONDERS, FWD_TIMEOUT, FWD_RELAY_FAILED, FWD_NOT_SENT, FWD_TOO_LARGE, FWD_BUS_DOWN };

/* The shard node's reply when the real one is larger than NATS carries. */
#define TOO_LARGE "!too-large"

/* Numbers of one agency and day this node reserved in KV and has not used. */
typedef struct seq_slot {
    char key[96];
    uint64_t next, end;     /* [next, end) */
    unsigned block;         /* size of the next reservation */
    int64_t reserved_at;
} seq_slot;

static struct broker {
    int active;
    hoso_server *srv;
    hoso_cluster c;
    const hoso_cluster_node *me;
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv_cluster, *kv_nodes, *kv_seq, *kv_loc;
    natsSubscription *rpc_sub[HOSO_CLUSTER_MAX_SHARDS], *auth_sub[HOSO_CLUSTER_MAX_SHARDS],
        *admin_sub[HOSO_CLUSTER_MAX_SHARDS], *feed_sub[HOSO_CLUSTER_MAX_SHARDS], *ping_sub[HOSO_CLUSTER_MAX_SHARDS];
    unsigned nrpc;
    natsSubscription *inbox_sub, *admin_node_sub, *query_sub;
    char inbox[96];
    int64_t started_at;
    /* pending forwards */
    pthread_mutex_t plock;
    fwd *pending[PENDING_BUCKETS];
    uint64_t next_id;
    /* the broker thread */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop, wake;
    /* outbox */
    _Atomic uint64_t out_pos; /* the last seq JetStream acknowledged */
    uint64_t out_saved;     /* the last seq written to the cursor */
    _Atomic uint64_t out_head;
    atomic_int pub_failed;  /* an async publish of this round failed */
    /* dossier numbers (writer thread only) */
    seq_slot seq[SEQ_SLOTS];
    /* counters */
    atomic_ullong n_forwarded, n_forward_unavailable, n_relayed, n_published, n_publish_errors, n_seq_reserved,
        n_seq_conflicts, n_unsigned;
    atomic_int connected;
} B = {.plock = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hoso_broker_active(void)
{
    return B.active;
}

unsigned hoso_broker_shard_of(const char *account)
{
    return hoso_cluster_shard_of(account, B.c.shards);
}

int hoso_broker_owns(unsigned shard)
{
    return B.me != NULL && shard >= B.me->first && shard <= B.me->last;
}

void hoso_broker_token_prefix(const char *account, hoso_role role, char out[8])
{
    out[0] = '\0';
    if (B.active)
        snprintf(out, 8, "%u%s.", hoso_broker_shard_of(account), role == HOSO_ROLE_CITIZEN ? "" : "s");
}

natsConnection *hoso__broker_conn(void)
{
    return B.nc;
}

const hoso_cluster *hoso__broker_cluster(void)
{
    return &B.c;
}

const hoso_cluster_node *hoso__broker_me(void)
{
    return B.me;
}

kvStore *hoso__broker_kv_loc(void)
{
    return B.kv_loc;
}

kvStore *hoso__broker_kv_cluster(void)
{
    return B.kv_cluster;
}

jsCtx *hoso__broker_js(void)
{
    return B.js;
}

hoso_server *hoso__broker_server(void)
{
    return B.srv;
}

/* ---------------------------------------------------------------------------------- */
/* Signed messages between nodes */

static void bus_mac(const char *subject, const void *body, size_t len, uint8_t mac[32])
{
    static const char label[] = "hoso-bus:";
    size_t sl = strlen(subject) + 1; /* with its NUL: the subject ends where the body starts */
    size_t n = sizeof label - 1 + sl + len;
    uint8_t small[2048]; /* a live event or an answer: no allocation on the writer's path */
    uint8_t *buf = n <= sizeof small ? small : malloc(n);
    if (buf == NULL) {
        randombytes_buf(mac, 32); /* matches nothing */
        return;
    }
    memcpy(buf, label, sizeof label - 1);
    memcpy(buf + sizeof label - 1, subject, sl);
    memcpy(buf + sizeof label - 1 + sl, body, len);
    hoso_store_mac(hoso_server_store(B.srv), buf, n, mac);
    if (buf != small)
        free(buf);
}

int hoso__signed_wrap(const char *subject, const void *body, size_t len, msgpack_sbuffer *out)
{
    uint8_t mac[32];
    msgpack_packer pk;
    bus_mac(subject, body, len, mac);
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_bin(&pk, sizeof mac);
    msgpack_pack_bin_body(&pk, mac, sizeof mac);
    msgpack_pack_bin(&pk, len);
    msgpack_pack_bin_body(&pk, body, len);
    return 0;
}

void hoso__signed_publish(const char *subject, const void *body, size_t len)
{
    msgpack_sbuffer sig;
    msgpack_sbuffer_init(&sig);
    hoso__signed_wrap(subject, body, len, &sig);
    if (B.nc != NULL)
        natsConnection_Publish(B.nc, subject, sig.data, (int)sig.size);
    msgpack_sbuffer_destroy(&sig);
}

int hoso__signed_open(const char *subject, const void *data, size_t len, const void **body, size_t *blen)
{
    msgpack_zone z;
    msgpack_object o;
    uint8_t mac[32];
    int rc = HOSO_EBAD_REQUEST;
    msgpack_zone_init(&z, 256);
    if (msgpack_unpack(data, len, NULL, &z, &o) == MSGPACK_UNPACK_SUCCESS && o.type == MSGPACK_OBJECT_ARRAY &&
        o.via.array.size == 2 && o.via.array.ptr[0].type == MSGPACK_OBJECT_BIN &&
        o.via.array.ptr[0].via.bin.size == 32 && o.via.array.ptr[1].type == MSGPACK_OBJECT_BIN) {
        const msgpack_object *b = &o.via.array.ptr[1];
        bus_mac(subject, b->via.bin.ptr, b->via.bin.size, mac);
        /* The body is the message's last bytes, whether the zone copied it or not. */
        if (sodium_memcmp(mac, o.via.array.ptr[0].via.bin.ptr, 32) == 0 && b->via.bin.size <= len) {
            *body = (const char *)data + len - b->via.bin.size;
            *blen = b->via.bin.size;
            rc = 0;
        }
    }
    msgpack_zone_destroy(&z);
    if (rc != 0)
        atomic_fetch_add(&B.n_unsigned, 1);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Forwarding: the front node's side */

static void pending_put(fwd *f)
{
    pthread_mutex_lock(&B.plock);
    f->id = ++B.next_id;
    fwd **b = &B.pending[f->id % PENDING_BUCKETS];
    f->next = *b;
    *b = f;
    pthread_mutex_unlock(&B.plock);
}

static fwd *pending_take(uint64_t id)
{
    pthread_mutex_lock(&B.plock);
    fwd **p = &B.pending[id % PENDING_BUCKETS];
    while (*p != NULL && (*p)->id != id)
        p = &(*p)->next;
    fwd *f = *p;
    if (f != NULL)
        *p = f->next;
    pthread_mutex_unlock(&B.plock);
    return f;
}

static void fwd_free(void *p)
{
    fwd *f = p;
    msgpack_sbuffer_destroy(&f->req);
    free(f->resp);
    free(f);
}

static int fwd_start(hoso_ticket *t, void *data)
{
    fwd *f = data;
    char subj[32], reply[128];
    f->ticket = t;
    f->probe_at = hoso__mono_ms() + HOSO__PROBE_AFTER_MS;
    f->deadline = f->probe_at - HOSO__PROBE_AFTER_MS + HOSO__FORWARD_TIMEOUT_MS;
    pending_put(f);
    snprintf(subj, sizeof subj, "hoso.rpc.%u", f->shard);
    snprintf(reply, sizeof reply, "%s.%" PRIu64, B.inbox, f->id);
    uint64_t id = f->id;
    /* Buffered by nats.c (its reconnect buffer while the server is away): no wait for
     * the network here. */
    natsStatus s = natsConnection_PublishRequest(B.nc, subj, reply, f->req.data, (int)f->req.size);
    if (s != NATS_OK && pending_take(id) == f)
        return HOSO_EUNAVAILABLE; /* not handed over */
    return 0;
}

static void finish(fwd *f, int why)
{
    f->why = why;
    hoso_ticket_finish(f->ticket, why == FWD_OK ? 0 : HOSO_EUNAVAILABLE);
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub, (void)closure;
    const char *subj = natsMsg_GetSubject(msg), *dot = strrchr(subj, '.');
    fwd *f = dot != NULL ? pending_take(strtoull(dot + 1, NULL, 10)) : NULL;
    if (f != NULL) {
        int len = natsMsg_GetDataLength(msg);
        if (natsMsg_IsNoResponders(msg)) {
            finish(f, FWD_NO_RESPONDERS);
        } else if (len == (int)sizeof(TOO_LARGE) - 1 && memcmp(natsMsg_GetData(msg), TOO_LARGE, (size_t)len) == 0) {
            finish(f, FWD_TOO_LARGE);
        } else if (len <= 0 || (f->resp = malloc((size_t)len)) == NULL) {
            finish(f, FWD_RELAY_FAILED);
        } else {
            memcpy(f->resp, natsMsg_GetData(msg), (size_t)len);
            f->resp_len = (size_t)len;
            finish(f, FWD_OK);
        }
    }
    natsMsg_Destroy(msg);
}

/* Takes every pending forward that match(f, arg) says out of the table and finishes it
 * with why: whoever takes a forward out is the one who finishes it. */
static void finish_where(int (*match)(const fwd *f, const void *arg), const void *arg, int why)
{
    fwd *taken = NULL;
    pthread_mutex_lock(&B.plock);
    for (unsigned i = 0; i < PENDING_BUCKETS; i++) {
        fwd **p = &B.pending[i];
        while (*p != NULL) {
            if (match(*p, arg)) {
                fwd *f = *p;
                *p = f->next;
                f->next = taken;
                taken = f;
            } else {
                p = &(*p)->next;
            }
        }
    }
    pthread_mutex_unlock(&B.plock);
    while (taken != NULL) {
        fwd *f = taken;
        taken = f->next;
        finish(f, why);
    }
}

static int of_shard(const fwd *f, const void *arg)
{
    return f->shard == *(const unsigned *)arg;
}

static int past_deadline(const fwd *f, const void *arg)
{
    return f->deadline <= *(const int64_t *)arg;
}

static int any_fwd(const fwd *f, const void *arg)
{
    (void)f, (void)arg;
    return 1;
}

/* Broker thread: forwards waiting past HOSO__PROBE_AFTER_MS ask whether their node is
 * still there (one ping per shard); those of a node gone answer 503 now. */
static void probe_pending(void)
{
    int64_t now = hoso__mono_ms();
    unsigned shards[16], n = 0;
    pthread_mutex_lock(&B.plock);
    for (unsigned i = 0; i < PENDING_BUCKETS && n < 16; i++)
        for (fwd *f = B.pending[i]; f != NULL && n < 16; f = f->next)
            if (f->probe_at != 0 && f->probe_at <= now) {
                f->probe_at = 0;
                unsigned k;
                for (k = 0; k < n && shards[k] != f->shard; k++)
                    ;
                if (k == n)
                    shards[n++] = f->shard;
            }
    pthread_mutex_unlock(&B.plock);
    for (unsigned k = 0; k < n; k++)
        if (!hoso__shard_alive(shards[k]))
            finish_where(of_shard, &shards[k], FWD_NO_RESPONDERS);
}

/* Broker thread: answers the forwards whose node did not reply in time. */
static void sweep_deadlines(void)
{
    int64_t now = hoso__mono_ms();
    probe_pending();
    finish_where(past_deadline, &now, FWD_TIMEOUT);
}

static int fwd_done(hoso_req *r, void *data, int result)
{
    fwd *f = data;
    unsigned shard = f->shard;
    int why = result == 0 ? FWD_OK : f->why;
    if (why == FWD_OK && hoso_reply_http1(r, f->resp, f->resp_len) == 0) {
        atomic_fetch_add(&B.n_forwarded, 1);
        fwd_free(f);
        return 0;
    }
    fwd_free(f);
    atomic_fetch_add(&B.n_forward_unavailable, 1);
    const hoso_cluster_node *n = hoso_cluster_shard_node(&B.c, shard);
    r->retry_after_ms = 1000;
    if (why == FWD_TOO_LARGE)
        return hoso_fail(&r->err, HOSO_EUNAVAILABLE,
                         "the reply from shard %u (node %s) is larger than the cluster's messages can carry "
                         "(nats-server max_payload)", shard, n != NULL ? n->id : "?");
    return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "shard %u (node %s) %s; retry in a moment", shard,
                     n != NULL ? n->id : "?",
                     why == FWD_NO_RESPONDERS ? "is down"
                     : why == FWD_TIMEOUT     ? "did not answer in time"
                     : why == FWD_BUS_DOWN    ? "is out of reach: the cluster's message bus went down"
                                              : "could not answer");
}

/* The shard of a sign-in or registration: that of the account its login names. -1
 * when the body names none (this node answers with the error a single node gives). */
static int login_shard(hoso_req *r)
{
    const void *body;
    size_t len;
    char ctype[512];
    hoso_doc doc;
    hoso_errinfo ei;
    int shard = -1;
    hoso_req_entity(r, &body, &len);
    if (len == 0 || len > hoso_server_config(r->srv)->limits.max_body)
        return -1;
    const char *ct = hoso_req_header(r, "content-type", ctype, sizeof ctype);
    if (ct == NULL && hoso_req_has_header(r, "content-type"))
        return -2; /* too long to tell: refused, never answered by the wrong node */
    int json = ct != NULL && strncasecmp(ct, "application/json", 16) == 0;
    memset(&ei, 0, sizeof ei);
    if ((json ? hoso_doc_from_json(&doc, body, len, &hoso_server_config(r->srv)->limits, &ei)
              : hoso_doc_from_msgpack(&doc, body, len, &hoso_server_config(r->srv)->limits, &ei)) != 0)
        return -1;
    const msgpack_object *id = hoso_map_get(&doc.root, "id_number");
    if (id == NULL || id->type != MSGPACK_OBJECT_STR)
        id = hoso_map_get(&doc.root, "username");
    if (id != NULL && id->type == MSGPACK_OBJECT_STR && id->via.str.size > 0 && id->via.str.size < 128) {
        char login[128], account[33];
        memcpy(login, id->via.str.ptr, id->via.str.size);
        login[id->via.str.size] = '\0';
        hoso_account_id_for(hoso_server_store(r->srv), login, account);
        shard = (int)hoso_broker_shard_of(account);
    }
    hoso_doc_destroy(&doc);
    return shard;
}

int hoso_broker_forward(hoso_req *r)
{
    const struct hoso_route *rt = r->route;
    char auth[160];
    int shard = -1;
    int staff = 0, err;
    if (!B.active)
        return 0;
    /* Another node vouched for the caller and sent the request here on purpose. */
    if ((err = hoso__staff_vouched(r)) != 0)
        return err < 0 ? err : 0;
    if (rt->flags & HOSO_R_AUTH) {
        const char *a = hoso_req_header(r, "authorization", auth, sizeof auth);
        if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
            return 0;
        shard = hoso_cluster_token_shard(a + 7, strlen(a + 7), &staff);
        if (shard >= 0 && (unsigned)shard < B.c.shards && staff)
            return hoso__staff_forward(r, (unsigned)shard);
    } else if (strcmp(rt->name, "auth_register") == 0 || strcmp(rt->name, "auth_login") == 0) {
        if ((shard = login_shard(r)) == -2)
            return hoso_fail(&r->err, HOSO_EUNSUPPORTED_MEDIA_TYPE, "the Content-Type is too long");
    }
    /* Anything else (the catalogue, health, metrics, WebSocket) every node answers; a
     * token that names no shard of this cluster gets this node's 401. */
    if (shard < 0 || (unsigned)shard >= B.c.shards || hoso_broker_owns((unsigned)shard))
        return 0;
    /* While NATS is away a forward would only wait in nats.c's reconnect buffer: the
     * client hears at once that its shard cannot be reached now. */
    if (natsConnection_Status(B.nc) != NATS_CONN_STATUS_CONNECTED) {
        atomic_fetch_add(&B.n_forward_unavailable, 1);
        r->retry_after_ms = 1000;
        return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "shard %d is out of reach: the cluster's message bus is down; "
                         "retry in a moment", shard);
    }
    fwd *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return HOSO_ENOMEM;
    f->shard = (unsigned)shard;
    msgpack_sbuffer_init(&f->req);
    err = hoso_req_http1(r, &f->req);
    if (err == 0 && f->req.size > (size_t)natsConnection_GetMaxPayload(B.nc)) {
        err = hoso_fail(&r->err, HOSO_EPAYLOAD_TOO_LARGE,
                        "the request is larger than the cluster can carry (%" PRId64 " bytes): send it in pieces",
                        natsConnection_GetMaxPayload(B.nc));
    }
    if (err != 0) {
        fwd_free(f);
        return err;
    }
    err = hoso_req_hand_off(r, fwd_start, fwd_done, fwd_free, f);
    if (err == HOSO_EUNAVAILABLE) {
        atomic_fetch_add(&B.n_forward_unavailable, 1);
        r->retry_after_ms = 1000;
        hoso_fail(&r->err, err, "the cluster's message bus is unreachable; retry in a moment");
    }
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* Forwarding: the shard node's side */

typedef struct rpc_ctx {
    char reply[128];
} rpc_ctx;

static void rpc_answer(void *ctx, const char *resp, size_t len)
{
    rpc_ctx *c = ctx;
    if (len > 0 && (int64_t)len > natsConnection_GetMaxPayload(B.nc)) {
        /* The front node says why rather than wait for a reply that cannot come. */
        hoso_log(HOSO_LOG_WARN, "cluster: a reply of %zu bytes is larger than NATS carries (max_payload %" PRId64 ")",
                 len, natsConnection_GetMaxPayload(B.nc));
        resp = TOO_LARGE;
        len = sizeof(TOO_LARGE) - 1;
    }
    /* An empty reply tells the front node the request could not run here. */
    natsConnection_Publish(B.nc, c->reply, len > 0 ? resp : NULL, (int)len);
    atomic_fetch_add(&B.n_relayed, 1);
    free(c);
}

static void on_rpc(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub, (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    int len = natsMsg_GetDataLength(msg);
    rpc_ctx *c;
    char *copy;
    if (reply == NULL || strlen(reply) >= sizeof(c->reply) || len <= 0) {
        natsMsg_Destroy(msg);
        return;
    }
    c = malloc(sizeof(*c));
    copy = malloc((size_t)len);
    if (c == NULL || copy == NULL) {
        natsConnection_Publish(nc, reply, NULL, 0);
        free(c);
        free(copy);
        natsMsg_Destroy(msg);
        return;
    }
    snprintf(c->reply, sizeof c->reply, "%s", reply);
    memcpy(copy, natsMsg_GetData(msg), (size_t)len);
    natsMsg_Destroy(msg);
    int head = len >= 5 && memcmp(copy, "HEAD ", 5) == 0;
    if (hoso__relay_submit(copy, (size_t)len, head, rpc_answer, c) != 0)
        rpc_answer(c, NULL, 0);
}

/* hoso.ping.<shard>: the node is there. */
static void on_ping(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub, (void)closure;
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_Publish(nc, natsMsg_GetReply(msg), NULL, 0);
    natsMsg_Destroy(msg);
}

int hoso__shard_alive(unsigned shard)
{
    char subj[32];
    natsMsg *r = NULL;
    snprintf(subj, sizeof subj, "hoso.ping.%u", shard);
    natsStatus s = natsConnection_Request(&r, B.nc, subj, NULL, 0, 300);
    if (s == NATS_OK)
        natsMsg_Destroy(r);
    return s != NATS_NO_RESPONDERS;
}

natsStatus hoso__request(unsigned shard, const char *subj, const void *data, int len, int64_t timeout_ms,
                         natsMsg **reply)
{
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    *reply = NULL;
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&sub, B.nc, (const char *)inbox);
    if (s == NATS_OK)
        s = natsSubscription_AutoUnsubscribe(sub, 1);
    if (s == NATS_OK)
        s = natsConnection_PublishRequest(B.nc, subj, (const char *)inbox, data, len);
    if (s == NATS_OK) {
        int64_t first = timeout_ms < HOSO__PROBE_AFTER_MS ? timeout_ms : HOSO__PROBE_AFTER_MS;
        s = natsSubscription_NextMsg(reply, sub, first);
        if (s == NATS_TIMEOUT && timeout_ms > first)
            s = hoso__shard_alive(shard) ? natsSubscription_NextMsg(reply, sub, timeout_ms - first) : NATS_NO_RESPONDERS;
    }
    if (s == NATS_OK && natsMsg_IsNoResponders(*reply))
        s = NATS_NO_RESPONDERS;
    if (s != NATS_OK && *reply != NULL) {
        natsMsg_Destroy(*reply);
        *reply = NULL;
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    return s;
}

/* ---------------------------------------------------------------------------------- */
/* Dossier numbers: KV compare-and-set on seq.<agency>.<YYMMDD> */

/* Reserves count numbers of key: *first is the first. Writer thread (blocking). */
static int seq_reserve(const char *key, unsigned count, uint64_t *first)
{
    /* The writer waits here, every commit of the node behind it: a bounded wait, and
     * only a lost race is tried again. */
    int64_t deadline = hoso__mono_ms() + 3000;
    for (int attempt = 0; attempt < 32 && hoso__mono_ms() < deadline; attempt++) {
        kvEntry *e = NULL;
        uint64_t have = 0, rev = 0, newrev = 0;
        char val[32];
        natsStatus s = kvStore_Get(&e, B.kv_seq, key);
        if (s == NATS_OK) {
            const char *v = kvEntry_ValueString(e);
            have = v != NULL ? strtoull(v, NULL, 10) : 0;
            rev = kvEntry_Revision(e);
            kvEntry_Destroy(e);
        } else if (s != NATS_NOT_FOUND) {
            hoso_log(HOSO_LOG_WARN, "cluster: cannot read %s: %s", key, natsStatus_GetText(s));
            return HOSO_EUNAVAILABLE;
        }
        snprintf(val, sizeof val, "%" PRIu64, have + count);
        s = rev == 0 ? kvStore_CreateString(&newrev, B.kv_seq, key, val)
                     : kvStore_UpdateString(&newrev, B.kv_seq, key, val, rev);
        if (s == NATS_OK) {
            *first = have + 1;
            atomic_fetch_add(&B.n_seq_reserved, count);
            return 0;
        }
        /* Another node took the numbers first (JetStream's "wrong last sequence"):
         * read again. Anything else (a timeout, no JetStream leader) fails now. */
        const char *why = nats_GetLastError(NULL);
        if (s == NATS_TIMEOUT || natsConnection_Status(B.nc) != NATS_CONN_STATUS_CONNECTED ||
            why == NULL || (strstr(why, "wrong last sequence") == NULL && strstr(why, "exists") == NULL)) {
            hoso_log(HOSO_LOG_WARN, "cluster: cannot reserve %s: %s (%s)", key, natsStatus_GetText(s),
                     why != NULL ? why : "");
            return HOSO_EUNAVAILABLE;
        }
        atomic_fetch_add(&B.n_seq_conflicts, 1);
    }
    return HOSO_EUNAVAILABLE;
}

static int seq_next(void *ctx, const char *agency, const char *yymmdd, uint64_t *n)
{
    (void)ctx;
    char key[96];
    /* KV keys take letters, digits and - _ . = /; an agency code is already of those. */
    int w = snprintf(key, sizeof key, "seq.%s.%s", agency, yymmdd);
    if (w < 0 || (size_t)w >= sizeof key)
        return HOSO_EBAD_REQUEST;
    for (char *p = key; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.' || *p == '='))
            *p = '_';
    seq_slot *slot = NULL, *oldest = &B.seq[0];
    for (unsigned i = 0; i < SEQ_SLOTS; i++) {
        if (strcmp(B.seq[i].key, key) == 0) {
            slot = &B.seq[i];
            break;
        }
        if (B.seq[i].reserved_at < oldest->reserved_at)
            oldest = &B.seq[i];
    }
    if (slot == NULL) {
        slot = oldest;
        memset(slot, 0, sizeof(*slot));
        snprintf(slot->key, sizeof slot->key, "%s", key);
        slot->block = 1;
    }
    if (slot->next < slot->end) {
        *n = slot->next++;
        return 0;
    }
    if (natsConnection_Status(B.nc) != NATS_CONN_STATUS_CONNECTED) {
        hoso_log(HOSO_LOG_WARN, "cluster: no dossier number for %s while NATS is unreachable", key);
        return HOSO_EUNAVAILABLE;
    }
    /* The block grows while numbers go fast (used up within a second) and shrinks when
     * they do not, so a busy agency costs few round trips and a quiet one leaves few
     * numbers unused at the end of the day. */
    int64_t now = hoso__mono_ms();
    if (slot->reserved_at != 0)
        slot->block = now - slot->reserved_at < 1000 ? (slot->block * 2 > SEQ_BLOCK_MAX ? SEQ_BLOCK_MAX : slot->block * 2)
                                                     : (slot->block / 2 ? slot->block / 2 : 1);
    uint64_t first;
    int err = seq_reserve(key, slot->block, &first);
    if (err != 0)
        return err;
    slot->next = first;
    slot->end = first + slot->block;
    slot->reserved_at = now;
    *n = slot->next++;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The outbox: committed events to JetStream, each once */

static void on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js, (void)closure;
    atomic_store(&B.pub_failed, 1);
    atomic_fetch_add(&B.n_publish_errors, 1);
    hoso_log(HOSO_LOG_DEBUG, "cluster: publish failed: %s", pae->ErrText != NULL ? pae->ErrText : "?");
}

typedef struct pub_round {
    uint64_t last;
    unsigned n;
    int failed;
} pub_round;

static void subject_token(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (; in[k] != '\0' && k + 1 < n; k++) {
        char c = in[k];
        out[k] = isalnum((unsigned char)c) || c == '-' || c == '_' ? c : '_';
    }
    if (k == 0 && n > 1)
        out[k++] = '_';
    out[k] = '\0';
}

static int publish_entry(void *ctx, const hoso_log_entry *e)
{
    pub_round *pr = ctx;
    char subj[160], agency[64], msgid[64];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    natsMsg *msg = NULL;
    unsigned shard = e->owner[0] != '\0' ? hoso_broker_shard_of(e->owner) : B.me->first;

    subject_token(e->agency, agency, sizeof agency);
    snprintf(subj, sizeof subj, "hoso.ev.%s.%u", agency, shard);
    snprintf(msgid, sizeof msgid, "%s:%" PRIu64, hoso_store_epoch(hoso_server_store(B.srv)), e->seq);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    hoso__event_pack(&pk, e, e->seq, shard, 2);
    hoso_pack_kcstr(&pk, "epoch", hoso_store_epoch(hoso_server_store(B.srv)));
    hoso_pack_kcstr(&pk, "node", B.me->id);
    natsStatus s = natsMsg_Create(&msg, subj, NULL, sb.data, (int)sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = msgid;
        s = js_PublishMsgAsync(B.js, &msg, &po);
        natsMsg_Destroy(msg); /* NULL when the library took it */
    }
    /* A new dossier's shard goes to the locator (KV HOSO_LOC, through its stream's
     * subject), acknowledged with the events: officers on any node find it there. */
    if (s == NATS_OK && e->type == HOSO_EV_DOSSIER_CREATED && e->code[0] != '\0') {
        char loc[128], val[16];
        natsMsg *lm = NULL;
        snprintf(loc, sizeof loc, "$KV.HOSO_LOC.%s", e->code);
        snprintf(val, sizeof val, "%u", shard);
        s = natsMsg_Create(&lm, loc, NULL, val, (int)strlen(val));
        if (s == NATS_OK) {
            s = js_PublishMsgAsync(B.js, &lm, NULL);
            natsMsg_Destroy(lm);
        }
    }
    if (s != NATS_OK) {
        pr->failed = 1;
        return 1;
    }
    pr->last = e->seq;
    pr->n++;
    return 0;
}

static int cursor_apply(hoso_wop *op, hoso_txn *t)
{
    uint64_t *pos = op->data;
    uint64_t have = 0;
    int err = hoso_cursor_get(t, "outbox", &have);
    /* Never backwards: a late save must not undo a newer one. */
    if (err == 0 && *pos > have)
        err = hoso_cursor_put(t, "outbox", *pos);
    return err != 0 ? hoso_wop_fail(op, err, "cannot save the outbox cursor") : 0;
}

static void save_cursor(int sync)
{
    if (B.out_pos <= B.out_saved)
        return;
    uint64_t *pos = malloc(sizeof *pos);
    if (pos == NULL)
        return;
    *pos = B.out_pos;
    int err = sync ? hoso_run_job(hoso_server_store(B.srv), cursor_apply, pos, hoso_now_ms(), NULL)
                   : hoso_writer_submit_own(B.srv, cursor_apply, pos, free);
    if (sync)
        free(pos);
    if (err == 0)
        B.out_saved = B.out_pos;
}

/* One round: what the log holds past the cursor, up to a batch, published and
 * acknowledged. Returns the number published. */
static unsigned outbox_round(void)
{
    hoso_txn *t = NULL;
    uint64_t head = 0;
    pub_round pr = {0, 0, 0};
    if (hoso_txn_read(hoso_server_store(B.srv), &t) != 0)
        return 0;
    if (hoso_log_last(t, &head) == 0)
        atomic_store(&B.out_head, head);
    if (head > B.out_pos && natsConnection_Status(B.nc) == NATS_CONN_STATUS_CONNECTED) {
        atomic_store(&B.pub_failed, 0);
        hoso_log_scan(t, B.out_pos, OUTBOX_BATCH, publish_entry, &pr);
    }
    hoso_txn_abort(t);
    if (pr.n == 0)
        return 0;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    natsStatus s = js_PublishAsyncComplete(B.js, &po);
    if (s != NATS_OK || pr.failed || atomic_load(&B.pub_failed)) {
        /* Whatever was not acknowledged goes again from the cursor next round; the
         * stream drops the ones it had (Nats-Msg-Id). */
        natsMsgList pending;
        if (js_PublishAsyncGetPendingList(&pending, B.js) == NATS_OK)
            natsMsgList_Destroy(&pending);
        return 0;
    }
    B.out_pos = pr.last;
    atomic_fetch_add(&B.n_published, pr.n);
    return pr.n;
}

/* Writer thread, after each commit: wake the outbox. */
static void on_commit(void *ctx, const hoso_event *ev, size_t n)
{
    (void)ctx;
    /* Live push for other nodes' WebSockets (and every node's agency streams). */
    if (n > 0 && B.nc != NULL)
        hoso__live_publish(ev, n);
    pthread_mutex_lock(&B.lock);
    B.wake = 1;
    pthread_cond_signal(&B.cond);
    pthread_mutex_unlock(&B.lock);
}

/* ---------------------------------------------------------------------------------- */
/* The node record */

static void put_node_record(void)
{
    char val[512];
    const hoso_config *cfg = hoso_server_config(B.srv);
    char range[32] = "";
    if (B.me->first <= B.me->last)
        snprintf(range, sizeof range, "%u-%u", B.me->first, B.me->last);
    snprintf(val, sizeof val,
             "{\"id\":\"%s\",\"shards\":\"%s\",\"listen\":\"%s:%u\",\"pid\":%ld,\"started_at\":%" PRId64
             ",\"at\":%" PRId64 ",\"outbox\":{\"published\":%" PRIu64 ",\"head\":%" PRIu64
             "},\"forwarded\":%llu,\"relayed\":%llu}",
             B.me->id, range, cfg->host, cfg->port, (long)getpid(), B.started_at, wall_ms(),
             B.out_pos, (uint64_t)atomic_load(&B.out_head), (unsigned long long)atomic_load(&B.n_forwarded),
             (unsigned long long)atomic_load(&B.n_relayed));
    char key[64];
    snprintf(key, sizeof key, "node.%s", B.me->id);
    uint64_t rev;
    kvStore_PutString(&rev, B.kv_nodes, key, val);
}

static void *broker_main(void *arg)
{
    (void)arg;
    int64_t last_beat = 0, last_save = 0;
    pthread_mutex_lock(&B.lock);
    while (!B.stop) {
        if (!B.wake) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&B.cond, &B.lock, &ts);
        }
        B.wake = 0;
        pthread_mutex_unlock(&B.lock);

        sweep_deadlines();
        while (outbox_round() == OUTBOX_BATCH && !B.stop)
            ;
        int64_t now = hoso__mono_ms();
        if (now - last_save >= OUTBOX_SAVE_MS) {
            save_cursor(0);
            last_save = now;
        }
        if (now - last_beat >= HEARTBEAT_MS && natsConnection_Status(B.nc) == NATS_CONN_STATUS_CONNECTED) {
            put_node_record();
            last_beat = now;
        }
        pthread_mutex_lock(&B.lock);
    }
    pthread_mutex_unlock(&B.lock);
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Start and stop */

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    atomic_store(&B.connected, 0);
    /* The replies of the forwards on their way went with the connection: their
     * clients hear it now rather than at the deadline. */
    finish_where(any_fwd, NULL, FWD_BUS_DOWN);
    hoso_log(HOSO_LOG_WARN, "cluster: lost NATS; forwarding waits, local requests go on");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    atomic_store(&B.connected, 1);
    hoso__live_reconnected();
    hoso_log(HOSO_LOG_INFO, "cluster: NATS is back");
    on_commit(NULL, NULL, 0);
}

static int nats_fail(const char *what, natsStatus s, int err)
{
    hoso_log(HOSO_LOG_ERROR, "cluster: %s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
    return err;
}

/* The stream and the buckets, made by the first node that finds them missing. */
static int ensure_assets(void)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, B.js, STREAM, NULL, &jerr);
    if (s == NATS_NOT_FOUND) {
        jsStreamConfig sc;
        const char *subjects[] = {"hoso.ev.>"};
        jsStreamConfig_Init(&sc);
        sc.Name = STREAM;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        /* Re-publishes after a crash fall in this window and are dropped as duplicates:
         * a day covers any restart an operator would make. */
        sc.Duplicates = (int64_t)24 * 3600 * 1000000000LL;
        /* The stream is the cluster's record of events for its consumers, not the
         * archive (each node's log is): 90 days, then the oldest go. */
        sc.MaxAge = (int64_t)90 * 24 * 3600 * 1000000000LL;
        s = js_AddStream(&si, B.js, &sc, NULL, &jerr);
        if (s != NATS_OK && jerr != JSStreamNameExistErr)
            return nats_fail("cannot create the stream " STREAM, s, HOSO_EUNAVAILABLE);
    } else if (s != NATS_OK) {
        return nats_fail("cannot read the stream " STREAM " (is JetStream on? nats-server -js)", s,
                         HOSO_EUNAVAILABLE);
    }
    jsStreamInfo_Destroy(si);
    struct {
        const char *name;
        kvStore **kv;
    } buckets[] = {{"HOSO_CLUSTER", &B.kv_cluster}, {"HOSO_NODES", &B.kv_nodes}, {"HOSO_SEQ", &B.kv_seq},
                     {"HOSO_LOC", &B.kv_loc}};
    for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
        s = js_KeyValue(buckets[i].kv, B.js, buckets[i].name);
        if (s == NATS_NOT_FOUND) {
            kvConfig kc;
            kvConfig_Init(&kc);
            kc.Bucket = buckets[i].name;
            kc.History = 1;
            kc.StorageType = js_FileStorage;
            s = js_CreateKeyValue(buckets[i].kv, B.js, &kc);
            if (s != NATS_OK)
                s = js_KeyValue(buckets[i].kv, B.js, buckets[i].name);
        }
        if (s != NATS_OK)
            return nats_fail("cannot open a key-value bucket", s, HOSO_EUNAVAILABLE);
    }
    return 0;
}

/* What every node must agree on: the key (by its check value) and the shard count. */
static int agree(const char *key, const char *mine, const char *what)
{
    kvEntry *e = NULL;
    uint64_t rev;
    natsStatus s = kvStore_Get(&e, B.kv_cluster, key);
    if (s == NATS_NOT_FOUND) {
        if (kvStore_CreateString(&rev, B.kv_cluster, key, mine) == NATS_OK)
            return 0;
        s = kvStore_Get(&e, B.kv_cluster, key);
    }
    if (s != NATS_OK)
        return nats_fail("cannot read the cluster's settings", s, HOSO_EUNAVAILABLE);
    int same = kvEntry_ValueString(e) != NULL && strcmp(kvEntry_ValueString(e), mine) == 0;
    if (!same)
        hoso_log(HOSO_LOG_ERROR, "cluster: this node's %s differs from the cluster's (%.16s... here, %.16s... there): %s",
                 key, mine, kvEntry_ValueString(e) ? kvEntry_ValueString(e) : "", what);
    kvEntry_Destroy(e);
    return same ? 0 : HOSO_EKEY_MISMATCH;
}

int hoso_broker_start(hoso_server *srv, const hoso_cluster *c, const char *node_id)
{
    natsOptions *opts = NULL;
    natsStatus s;
    char name[96], check[65], shards[16];
    int err;

    memset(B.pending, 0, sizeof B.pending);
    B.srv = srv;
    B.c = *c;
    if ((B.me = hoso_cluster_node_get(&B.c, node_id)) == NULL) {
        hoso_log(HOSO_LOG_ERROR, "cluster: node %s is not in %s", node_id, c->file);
        return HOSO_EBAD_REQUEST;
    }
    B.started_at = wall_ms();
    snprintf(name, sizeof name, "hosod-%s", B.me->id);
    if ((s = natsOptions_Create(&opts)) != NATS_OK || (s = natsOptions_SetURL(opts, c->nats_url)) != NATS_OK ||
        (s = natsOptions_SetName(opts, name)) != NATS_OK ||
        (s = natsOptions_SetMaxReconnect(opts, -1)) != NATS_OK ||
        (s = natsOptions_SetReconnectWait(opts, 250)) != NATS_OK ||
        (s = natsOptions_SetTimeout(opts, 2000)) != NATS_OK ||
        (s = natsOptions_SetPingInterval(opts, 2000)) != NATS_OK ||
        (s = natsOptions_SetMaxPingsOut(opts, 2)) != NATS_OK ||
        (s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL)) != NATS_OK ||
        (s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL)) != NATS_OK) {
        natsOptions_Destroy(opts);
        return nats_fail("cannot set up the NATS connection", s, HOSO_EINTERNAL);
    }
    s = natsConnection_Connect(&B.nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        hoso_log(HOSO_LOG_ERROR, "cluster: cannot reach NATS at %s: %s", c->nats_url, natsStatus_GetText(s));
        return HOSO_EUNAVAILABLE;
    }
    atomic_store(&B.connected, 1);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    jo.PublishAsync.ErrHandler = on_pub_error;
    jo.PublishAsync.MaxPending = 4 * OUTBOX_BATCH;
    if ((s = natsConnection_JetStream(&B.js, B.nc, &jo)) != NATS_OK) {
        err = nats_fail("cannot use JetStream", s, HOSO_EUNAVAILABLE);
        goto Fail;
    }
    if ((err = ensure_assets()) != 0)
        goto Fail;
    hoso_store_key_check(hoso_server_store(srv), check);
    snprintf(shards, sizeof shards, "%u", c->shards);
    if ((err = agree("keycheck", check, "copy the cluster's secret.key into this node's data dir before it joins")) != 0 ||
        (err = agree("shards", shards, "every node's cluster file must name the same number of shards")) != 0)
        goto Fail;
    /* Each shard is recorded with the node that first served it: two nodes whose
     * files disagree never both serve one (their stores would part ways). */
    for (unsigned sh = B.me->first; sh <= B.me->last; sh++) {
        char key[32];
        snprintf(key, sizeof key, "shard.%u", sh);
        if ((err = agree(key, B.me->id, "another node holds this shard; if it moved, delete the key "
                                        "from the KV bucket HOSO_CLUSTER first (nats kv del HOSO_CLUSTER shard.N)")) != 0)
            goto Fail;
    }

    /* Where the replies to this node's forwards come back. */
    natsInbox *inbox = NULL;
    if ((s = natsInbox_Create(&inbox)) != NATS_OK) {
        err = nats_fail("cannot make an inbox", s, HOSO_EINTERNAL);
        goto Fail;
    }
    snprintf(B.inbox, sizeof B.inbox, "%s", (const char *)inbox);
    natsInbox_Destroy(inbox);
    char sub[128];
    snprintf(sub, sizeof sub, "%s.*", B.inbox);
    if ((s = natsConnection_Subscribe(&B.inbox_sub, B.nc, sub, on_reply, NULL)) != NATS_OK ||
        (s = natsSubscription_SetPendingLimits(B.inbox_sub, -1, 512 * 1024 * 1024)) != NATS_OK) {
        err = nats_fail("cannot subscribe to the inbox", s, HOSO_EINTERNAL);
        goto Fail;
    }
    const hoso_config *cfg = hoso_server_config(srv);
    const char *host = strcmp(cfg->host, "0.0.0.0") == 0 ? "127.0.0.1" : strcmp(cfg->host, "::") == 0 ? "::1" : cfg->host;
    if ((err = hoso__relay_start(host, cfg->port, RELAY_THREADS)) != 0 || (err = hoso__staff_start()) != 0 ||
        (err = hoso__live_start()) != 0 || (err = hoso__events_start()) != 0 ||
        (err = hoso__files_start()) != 0)
        goto Fail;
    for (unsigned sh = B.me->first; sh <= B.me->last; sh++) {
        char subj[32];
        snprintf(subj, sizeof subj, "hoso.rpc.%u", sh);
        if ((s = natsConnection_Subscribe(&B.rpc_sub[B.nrpc], B.nc, subj, on_rpc, NULL)) != NATS_OK) {
            err = nats_fail("cannot serve a shard", s, HOSO_EINTERNAL);
            goto Fail;
        }
        natsSubscription_SetPendingLimits(B.rpc_sub[B.nrpc], -1, 512 * 1024 * 1024);
        snprintf(subj, sizeof subj, "hoso.auth.%u", sh);
        if ((s = natsConnection_Subscribe(&B.auth_sub[B.nrpc], B.nc, subj, hoso__staff_on_auth, NULL)) != NATS_OK ||
            (snprintf(subj, sizeof subj, "hoso.admin.%u", sh),
             s = natsConnection_Subscribe(&B.admin_sub[B.nrpc], B.nc, subj, hoso__admin_on_msg, NULL)) != NATS_OK ||
            (snprintf(subj, sizeof subj, "hoso.feed.%u", sh),
             s = natsConnection_Subscribe(&B.feed_sub[B.nrpc], B.nc, subj, hoso__live_on_feed, NULL)) != NATS_OK ||
            (snprintf(subj, sizeof subj, "hoso.ping.%u", sh),
             s = natsConnection_Subscribe(&B.ping_sub[B.nrpc], B.nc, subj, on_ping, NULL)) != NATS_OK) {
            B.nrpc++;
            err = nats_fail("cannot serve a shard", s, HOSO_EINTERNAL);
            goto Fail;
        }
        B.nrpc++;
    }
    {
        /* Commands for every node (the catalogue), shards or none. */
        char subj[64];
        snprintf(subj, sizeof subj, "hoso.admin.node.%s", B.me->id);
        if ((s = natsConnection_Subscribe(&B.admin_node_sub, B.nc, subj, hoso__admin_on_msg, NULL)) != NATS_OK ||
            (snprintf(subj, sizeof subj, "hoso.q.node.%s", B.me->id),
             s = natsConnection_Subscribe(&B.query_sub, B.nc, subj, hoso__query_on_msg, NULL)) != NATS_OK) {
            err = nats_fail("cannot subscribe to the node's subjects", s, HOSO_EINTERNAL);
            goto Fail;
        }
    }
    if ((s = natsConnection_FlushTimeout(B.nc, 2000)) != NATS_OK) {
        err = nats_fail("cannot reach NATS", s, HOSO_EUNAVAILABLE);
        goto Fail;
    }
    {
        hoso_txn *t = NULL;
        if ((err = hoso_txn_read(hoso_server_store(srv), &t)) == 0) {
            uint64_t pos = 0;
            err = hoso_cursor_get(t, "outbox", &pos);
            hoso_txn_abort(t);
            B.out_pos = pos;
        }
        if (err != 0)
            goto Fail;
        B.out_saved = B.out_pos;
    }
    hoso_store_set_seq_source(hoso_server_store(srv), seq_next, NULL);
    if ((err = hoso_server_add_event_sink(srv, on_commit, NULL)) != 0)
        goto Fail;
    B.stop = 0;
    if (pthread_create(&B.thread, NULL, broker_main, NULL) != 0) {
        err = HOSO_EINTERNAL;
        goto Fail;
    }
    B.thread_started = 1;
    B.active = 1;
    if (B.me->first <= B.me->last)
        hoso_log(HOSO_LOG_INFO, "cluster: node %s serves shards %u-%u of %u over %s", B.me->id, B.me->first, B.me->last,
                 c->shards, c->nats_url);
    else
        hoso_log(HOSO_LOG_INFO, "cluster: node %s holds no shard of %u and answers through the others over %s",
                 B.me->id, c->shards, c->nats_url);
    return 0;
Fail:
    hoso_broker_stop();
    return err;
}

void hoso_broker_quiesce(void)
{
    if (B.active)
        hoso__live_stop();
}

void hoso_broker_stop(void)
{
    if (B.thread_started) {
        pthread_mutex_lock(&B.lock);
        B.stop = 1;
        pthread_cond_signal(&B.cond);
        pthread_mutex_unlock(&B.lock);
        pthread_join(B.thread, NULL);
        B.thread_started = 0;
        /* The writer has stopped: the last position goes in directly. */
        if (B.nc != NULL && natsConnection_Status(B.nc) == NATS_CONN_STATUS_CONNECTED)
            outbox_round();
        save_cursor(1);
    }
    for (unsigned i = 0; i < B.nrpc; i++) {
        natsSubscription_Destroy(B.rpc_sub[i]);
        natsSubscription_Destroy(B.auth_sub[i]);
        natsSubscription_Destroy(B.admin_sub[i]);
        natsSubscription_Destroy(B.feed_sub[i]);
        natsSubscription_Destroy(B.ping_sub[i]);
        B.auth_sub[i] = B.admin_sub[i] = B.feed_sub[i] = B.ping_sub[i] = NULL;
    }
    B.nrpc = 0;
    hoso__events_stop();
    hoso__files_stop();
    hoso__live_stop();
    hoso__staff_stop();
    hoso__relay_stop();
    if (B.inbox_sub != NULL)
        natsSubscription_Destroy(B.inbox_sub);
    if (B.admin_node_sub != NULL)
        natsSubscription_Destroy(B.admin_node_sub);
    if (B.query_sub != NULL)
        natsSubscription_Destroy(B.query_sub);
    B.inbox_sub = B.admin_node_sub = B.query_sub = NULL;
    sweep_deadlines();
    kvStore_Destroy(B.kv_cluster);
    kvStore_Destroy(B.kv_nodes);
    kvStore_Destroy(B.kv_seq);
    kvStore_Destroy(B.kv_loc);
    B.kv_cluster = B.kv_nodes = B.kv_seq = B.kv_loc = NULL;
    jsCtx_Destroy(B.js);
    B.js = NULL;
    if (B.nc != NULL) {
        natsConnection_Close(B.nc);
        natsConnection_Destroy(B.nc);
    }
    B.nc = NULL;
    if (B.srv != NULL)
        hoso_store_set_seq_source(hoso_server_store(B.srv), NULL, NULL);
    B.active = 0;
}

void hoso_broker_metrics(msgpack_sbuffer *out)
{
    if (!B.active)
        return;
    hoso_sbuf_printf(out,
                     "# HELP hoso_cluster_forwarded_total Requests answered by another node's shard.\n"
                     "# TYPE hoso_cluster_forwarded_total counter\nhoso_cluster_forwarded_total %llu\n"
                     "# HELP hoso_cluster_forward_unavailable_total Forwards answered 503: the shard's node was down, "
                     "late or unreachable.\n"
                     "# TYPE hoso_cluster_forward_unavailable_total counter\nhoso_cluster_forward_unavailable_total %llu\n"
                     "# HELP hoso_cluster_relayed_total Requests of this node's shards that came from other nodes.\n"
                     "# TYPE hoso_cluster_relayed_total counter\nhoso_cluster_relayed_total %llu\n"
                     "# HELP hoso_cluster_outbox_published_total Events published to JetStream and acknowledged.\n"
                     "# TYPE hoso_cluster_outbox_published_total counter\nhoso_cluster_outbox_published_total %llu\n"
                     "# HELP hoso_cluster_outbox_publish_errors_total Publishes that failed (sent again).\n"
                     "# TYPE hoso_cluster_outbox_publish_errors_total counter\nhoso_cluster_outbox_publish_errors_total %llu\n"
                     "# HELP hoso_cluster_outbox_lag Committed events not yet acknowledged by JetStream.\n"
                     "# TYPE hoso_cluster_outbox_lag gauge\nhoso_cluster_outbox_lag %llu\n"
                     "# HELP hoso_cluster_seq_reserved_total Dossier numbers reserved in the cluster's KV.\n"
                     "# TYPE hoso_cluster_seq_reserved_total counter\nhoso_cluster_seq_reserved_total %llu\n"
                     "# HELP hoso_cluster_seq_conflicts_total Reservations another node won first (retried).\n"
                     "# TYPE hoso_cluster_seq_conflicts_total counter\nhoso_cluster_seq_conflicts_total %llu\n"
                     "# HELP hoso_cluster_nats_connected 1 while the node is connected to NATS.\n"
                     "# TYPE hoso_cluster_nats_connected gauge\nhoso_cluster_nats_connected %d\n",
                     (unsigned long long)atomic_load(&B.n_forwarded),
                     (unsigned long long)atomic_load(&B.n_forward_unavailable),
                     (unsigned long long)atomic_load(&B.n_relayed), (unsigned long long)atomic_load(&B.n_published),
                     (unsigned long long)atomic_load(&B.n_publish_errors),
                     (unsigned long long)(atomic_load(&B.out_head) > B.out_pos ? atomic_load(&B.out_head) - B.out_pos : 0),
                     (unsigned long long)atomic_load(&B.n_seq_reserved),
                     (unsigned long long)atomic_load(&B.n_seq_conflicts), atomic_load(&B.connected));
    hoso_sbuf_printf(out,
                     "# HELP hoso_cluster_unsigned_refused_total Messages on NATS that no node of the cluster signed "
                     "(a client that is not a node, or another key), refused.\n"
                     "# TYPE hoso_cluster_unsigned_refused_total counter\nhoso_cluster_unsigned_refused_total %llu\n",
                     (unsigned long long)atomic_load(&B.n_unsigned));
    hoso__live_metrics(out);
    hoso__events_metrics(out);
}
