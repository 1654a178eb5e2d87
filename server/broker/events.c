/*
 * events.c - the consumers of the cluster's stream (DESIGN.md "Durable events for
 * consumers"): the portal mirror and the webhooks read HOSO_EVENTS on one node at a
 * time, the holder of their lease, and each delivery runs on the node of the event's
 * shard (hoso.sink.<shard>), where its dossier, subscriptions and counters are. The
 * delivery engine (server/consumers/) keeps its guarantees: in order per dossier,
 * retried with backoff, set aside when refused; this file gives it the stream as its
 * source and the other nodes as its sink.
 *
 * Leases: KV HOSO_CLUSTER lease.<name> = "<node> <cursor> <consumer>" (node "-" once
 * released). The holder rewrites it every LEASE_RENEW_MS, compare-and-set on its
 * revision; a node that sees one revision for LEASE_TTL_MS takes it over,
 * compare-and-set again (one of several wins). A holder that cannot renew for
 * LEASE_FENCE_MS starts nothing more (no pull, no delivery), before anyone else may
 * start; each delivery carries the lease's revision, and the dossier's node runs none
 * for a lower revision than one it saw. A node that stops releases its leases; another
 * takes them at its next look (within a second).
 *
 * Cursor: each holder reads through a durable pull consumer of its own
 * (<name>_<node>), acknowledging all up to the engine's cursor (AckAll); the lease
 * record carries the cursor too. The node that takes a lease starts its consumer right
 * after the higher of the last holder's floor and the record's cursor, and removes the
 * last holder's consumer (a holder that wakes up late pulls nothing from the new
 * one). What came after that position is asked again; the dossier's node answers a
 * delivery it made already without making it twice. The stream has no holes: a jump
 * in positions means events lost in transit, and the consumer is read again from the
 * cursor rather than acknowledged past them.
 *
 * Threads: the source runs on the engine thread (its fetches on a thread of their own,
 * so that the engine's loop never waits on NATS); the leases on a thread of their own;
 * hoso.sink.<shard> and the replies arrive on nats.c's threads and reach the engine
 * through hoso_engine_exec and the sink's poll.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <nats/nats.h>
#include "internal.h"

#define STREAM "HOSO_EVENTS"
#define LEASE_RENEW_MS 1000
#define LEASE_TTL_MS 3000
#define LEASE_FENCE_MS 2000
#define RING 8192             /* reply subjects kept for acknowledgement (> the engine's window) */
#define FETCH_MAX 256
#define FETCH_WAIT_MS 100     /* a pull waits this long for new events */
#define QUEUE_MAX 2048        /* events fetched ahead of the engine */
#define SINK_TIMEOUT_MS 30000 /* a delivery on another node (the portal's own timeout is 10 s) */
#define MAX_SOURCES 4
#define SINK_MAX_AGE_MS 60000 /* a delivery asked longer ago than this is not run (a replay) */

typedef struct acked {
    uint64_t seq;
    char *reply;
} acked;

/* An event fetched ahead, with the subject that acknowledges it. */
typedef struct fetched {
    hoso_log_entry e;
    char *reply;
} fetched;

/* One consumer of the stream: its source side (the engine thread, and a fetch thread
 * that pulls ahead so that the engine's loop never waits on the network), and its
 * lease (broker thread). */
typedef struct jsource {
    char name[32];
    char consumer[64];      /* this node's durable consumer: <name>_<node> */
    int from_head;
    natsSubscription *sub;
    pthread_t fetcher;
    int fetching;
    atomic_int fetch_stop;
    uint64_t next_pos;      /* fetch thread: the position the next event must have */
    atomic_uint incarnation; /* the consumer was made again (fetch thread, under qlock) */
    unsigned seen_incarnation; /* engine thread: the one its ring of replies belongs to */
    pthread_mutex_t qlock;
    fetched *q;        /* ring of QUEUE_MAX */
    size_t qfirst, qcount;
    acked *ring;
    _Atomic uint64_t head, committed, hint;
    /* the lease */
    _Atomic int64_t fresh_until; /* the engine reads only before this (mono ms): a holder
                                    that could not renew stops before another may start */
    int held;
    uint64_t rev, seen_rev;
    _Atomic uint64_t token;  /* the lease's revision: the fencing token of deliveries */
    int64_t seen_at, renewed_at;
    char holder[33];
    char prev_consumer[64];  /* the last holder's durable consumer (from the record) */
} jsource;

static struct {
    pthread_mutex_t lock;
    jsource *src[MAX_SOURCES];
    unsigned n;
    natsSubscription *sink_sub[HOSO_CLUSTER_MAX_SHARDS];
    unsigned nsink;
    pthread_t leaser;
    int leasing;
    atomic_int stop;
    _Atomic unsigned n_takeovers, n_remote_runs, n_already;
} E = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int connected(void)
{
    return hoso__broker_conn() != NULL && natsConnection_Status(hoso__broker_conn()) == NATS_CONN_STATUS_CONNECTED;
}

/* ---------------------------------------------------------------------------------- */
/* Events on the wire: what the outbox publishes, and what hoso.sink.<shard> carries. */

void hoso__event_pack(msgpack_packer *pk, const hoso_log_entry *e, uint64_t seq, unsigned shard, uint32_t extra)
{
    msgpack_pack_map(pk, 10 + extra);
    hoso_pack_cstr(pk, "seq");
    msgpack_pack_uint64(pk, seq);
    hoso_pack_cstr(pk, "shard");
    msgpack_pack_unsigned_int(pk, shard);
    hoso_pack_kcstr(pk, "owner", e->owner);
    hoso_pack_kcstr(pk, "agency", e->agency);
    hoso_pack_kcstr(pk, "code", e->code);
    hoso_pack_kcstr(pk, "type", hoso_event_type_name(e->type));
    hoso_pack_kint(pk, "at", e->at);
    hoso_pack_kint(pk, "status", e->status);
    hoso_pack_kint(pk, "version", e->version);
    hoso_pack_cstr(pk, "message_seq");
    msgpack_pack_uint64(pk, e->message_seq);
}

uint64_t hoso__map_u64(const msgpack_object *m, const char *key)
{
    const msgpack_object *o = hoso_map_get(m, key);
    return o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

int64_t hoso__map_i64(const msgpack_object *m, const char *key)
{
    const msgpack_object *o = hoso_map_get(m, key);
    if (o == NULL)
        return 0;
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)o->via.u64
           : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : 0;
}

int hoso__map_str(const msgpack_object *m, const char *key, char *out, size_t n)
{
    const msgpack_object *o = hoso_map_get(m, key);
    out[0] = '\0';
    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= n)
        return -1;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

/* An event as its node logged it: seq its node's, node_seq the same, shard its own.
 * 0, or BAD_REQUEST (not an event). */
int hoso__event_unpack(const msgpack_object *m, hoso_log_entry *e)
{
    char type[32];
    memset(e, 0, sizeof(*e));
    if (m->type != MSGPACK_OBJECT_MAP || (e->seq = hoso__map_u64(m, "seq")) == 0)
        return HOSO_EBAD_REQUEST;
    e->node_seq = e->seq;
    e->shard = (unsigned)hoso__map_u64(m, "shard");
    hoso__map_str(m, "owner", e->owner, sizeof e->owner);
    hoso__map_str(m, "agency", e->agency, sizeof e->agency);
    hoso__map_str(m, "code", e->code, sizeof e->code);
    hoso__map_str(m, "type", type, sizeof type);
    e->at = hoso__map_i64(m, "at");
    e->status = hoso__map_i64(m, "status");
    e->version = hoso__map_i64(m, "version");
    e->message_seq = hoso__map_u64(m, "message_seq");
    for (int i = HOSO_EV_DOSSIER_CREATED; i <= HOSO_EV_LAST; i++)
        if (strcmp(type, hoso_event_type_name((hoso_event_type)i)) == 0)
            e->type = (hoso_event_type)i;
    return e->type != 0 ? 0 : HOSO_EBAD_REQUEST;
}

/* A stream message as the engine's entry: seq is the stream's position. An event that
 * cannot be read still takes its place (with no dossier, so every sink skips it). */
static void from_stream(natsMsg *m, uint64_t pos, hoso_log_entry *e)
{
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &off) != MSGPACK_UNPACK_SUCCESS ||
        hoso__event_unpack(&u.data, e) != 0) {
        hoso_log(HOSO_LOG_WARN, "cluster: stream event %" PRIu64 " cannot be read; the consumers pass over it", pos);
        memset(e, 0, sizeof(*e));
    }
    msgpack_unpacked_destroy(&u);
    e->seq = pos;
}

/* ---------------------------------------------------------------------------------- */
/* The source: the stream through the consumer's durable pull consumer (engine thread) */

static void ring_clear(jsource *j)
{
    for (size_t i = 0; i < RING; i++) {
        free(j->ring[i].reply);
        j->ring[i].reply = NULL;
        j->ring[i].seq = 0;
    }
}

static void queue_clear(jsource *j)
{
    pthread_mutex_lock(&j->qlock);
    for (; j->qcount > 0; j->qcount--, j->qfirst = (j->qfirst + 1) % QUEUE_MAX)
        free(j->q[j->qfirst].reply);
    j->qfirst = 0;
    pthread_mutex_unlock(&j->qlock);
}

/* Pulls the consumer's events ahead of the engine, as they come (long polls of
 * FETCH_WAIT_MS), and wakes the engine when there are new ones. */
static int fresh(const jsource *j)
{
    return hoso__mono_ms() < atomic_load(&j->fresh_until);
}

/* This node's durable consumer made afresh to deliver from right after cur, bound to
 * j->sub (the last holder's consumer is removed: its node may still pull from it, and
 * must get nothing). Fetch thread or, before it runs, the engine thread. */
static int make_consumer(jsource *j, uint64_t cur)
{
    jsCtx *js = hoso__broker_js();
    jsConsumerInfo *ci = NULL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    if (!connected())
        return HOSO_EUNAVAILABLE;
    if (j->sub != NULL)
        natsSubscription_Destroy(j->sub);
    j->sub = NULL;
    const char *olds[] = {j->prev_consumer, j->consumer};
    for (size_t i = 0; i < 2; i++)
        if (olds[i][0] != '\0' && js_DeleteConsumer(js, STREAM, olds[i], NULL, &jerr) != NATS_OK &&
            jerr != JSConsumerNotFoundErr)
            return HOSO_EUNAVAILABLE;
    if (js_GetStreamInfo(&si, js, STREAM, NULL, &jerr) != NATS_OK)
        return HOSO_EUNAVAILABLE;
    /* Events older than the stream keeps (90 days) are gone: from its first. */
    j->next_pos = cur + 1 > si->State.FirstSeq ? cur + 1 : si->State.FirstSeq;
    jsStreamInfo_Destroy(si);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = j->consumer;
    cc.FilterSubject = "hoso.ev.>";
    cc.AckPolicy = js_AckAll;
    cc.AckWait = (int64_t)600 * 1000000000LL; /* the holder acknowledges; redeliveries only churn */
    cc.MaxAckPending = 4 * RING;
    cc.MaxDeliver = -1;
    cc.DeliverPolicy = js_DeliverByStartSequence;
    cc.OptStartSeq = j->next_pos > 0 ? j->next_pos : 1;
    if ((s = js_AddConsumer(&ci, js, STREAM, &cc, NULL, &jerr)) != NATS_OK) {
        hoso_log(HOSO_LOG_WARN, "cluster: cannot create the consumer %s: %s (%d)", j->consumer, natsStatus_GetText(s),
                 (int)jerr);
        return HOSO_EUNAVAILABLE;
    }
    jsConsumerInfo_Destroy(ci);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = STREAM;
    so.Consumer = j->consumer;
    if ((s = js_PullSubscribe(&j->sub, js, "hoso.ev.>", j->consumer, NULL, &so, &jerr)) != NATS_OK) {
        hoso_log(HOSO_LOG_WARN, "cluster: cannot read the consumer %s: %s (%d)", j->consumer, natsStatus_GetText(s),
                 (int)jerr);
        j->sub = NULL;
        return HOSO_EUNAVAILABLE;
    }
    return 0;
}

/* The consumer again from the last committed position, on the fetch thread: what the
 * engine's window holds past it is passed over (pos <= after), what went missing
 * comes; the engine drops its old reply subjects (they would acknowledge by the old
 * consumer's sequence numbers) when it sees the new incarnation. */
static void remake(jsource *j, const char *why)
{
    hoso_log(HOSO_LOG_WARN, "cluster: the %s consumer is read again from position %" PRIu64 ": %s", j->name,
             (uint64_t)atomic_load(&j->committed), why);
    while (!atomic_load(&j->fetch_stop)) {
        pthread_mutex_lock(&j->qlock);
        for (; j->qcount > 0; j->qcount--, j->qfirst = (j->qfirst + 1) % QUEUE_MAX)
            free(j->q[j->qfirst].reply);
        atomic_fetch_add(&j->incarnation, 1);
        pthread_mutex_unlock(&j->qlock);
        if (make_consumer(j, atomic_load(&j->committed)) == 0)
            return;
        usleep(1000000);
    }
}

/* Positions between from and to (exclusive) that the stream does not hold (removed by
 * an operator): 1 when every one of them is such a hole, 0 when one exists (it was
 * lost on its way here). At most 1024 are asked for; past that, a hole is assumed. */
static int only_holes(uint64_t from, uint64_t to)
{
    for (uint64_t p = from; p < to && p < from + 1024; p++) {
        natsMsg *m = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetMsg(&m, hoso__broker_js(), STREAM, p, NULL, &jerr);
        natsMsg_Destroy(m);
        if (s != NATS_NOT_FOUND)
            return 0;
    }
    return 1;
}

/* Pulls the consumer's events ahead of the engine, as they come (long polls of
 * FETCH_WAIT_MS), and wakes the engine when there are new ones. */
static void *fetch_main(void *arg)
{
    jsource *j = arg;
    while (!atomic_load(&j->fetch_stop)) {
        natsMsgList list = {NULL, 0};
        jsFetchRequest fr;
        size_t room;
        pthread_mutex_lock(&j->qlock);
        room = QUEUE_MAX - j->qcount;
        pthread_mutex_unlock(&j->qlock);
        /* Nothing is pulled for a lease not known to be ours: the events would be
         * delivered to this node, and the next holder would not see them. */
        if (room < FETCH_MAX || !connected() || !fresh(j)) {
            usleep(20000);
            continue;
        }
        if (j->sub == NULL) {
            remake(j, "its consumer could not be made");
            continue;
        }
        jsFetchRequest_Init(&fr);
        fr.Batch = FETCH_MAX;
        fr.Expires = (int64_t)FETCH_WAIT_MS * 1000000;
        jsErrCode jerr = 0;
        natsStatus s = natsSubscription_FetchRequest(&list, j->sub, &fr);
        if (s != NATS_OK && list.Count == 0) {
            jsConsumerInfo *ci = NULL;
            if (s != NATS_TIMEOUT && connected() &&
                js_GetConsumerInfo(&ci, hoso__broker_js(), STREAM, j->consumer, NULL, &jerr) == NATS_NOT_FOUND)
                remake(j, "its consumer was removed");
            else
                usleep(s == NATS_TIMEOUT ? 0 : 100000); /* NATS away */
            jsConsumerInfo_Destroy(ci);
            continue;
        }
        int again = 0;
        for (int i = 0; i < list.Count && !again; i++) {
            natsMsg *m = list.Msgs[i];
            jsMsgMetaData *meta = NULL;
            if (natsMsg_GetMetaData(&meta, m) != NATS_OK)
                continue;
            uint64_t pos = meta->Sequence.Stream;
            if (pos + meta->NumPending > atomic_load(&j->head))
                atomic_store(&j->head, pos + meta->NumPending);
            jsMsgMetaData_Destroy(meta);
            if (pos < j->next_pos)
                continue; /* delivered again */
            /* A jump over positions the stream holds: they were sent to this node and
             * never arrived (a connection lost mid-batch); acknowledging past them
             * would lose them. Over positions it does not hold (removed): go on. */
            if (pos > j->next_pos && !only_holes(j->next_pos, pos)) {
                again = 1;
                break;
            }
            j->next_pos = pos + 1;
            pthread_mutex_lock(&j->qlock);
            fetched *f = &j->q[(j->qfirst + j->qcount) % QUEUE_MAX];
            from_stream(m, pos, &f->e);
            f->reply = natsMsg_GetReply(m) != NULL ? strdup(natsMsg_GetReply(m)) : NULL;
            j->qcount++;
            pthread_mutex_unlock(&j->qlock);
        }
        natsMsgList_Destroy(&list);
        if (again)
            remake(j, "events sent to this node went missing on the way");
        hoso_engine_wake();
    }
    return NULL;
}

static void stop_fetching(jsource *j)
{
    if (j->fetching) {
        atomic_store(&j->fetch_stop, 1);
        pthread_join(j->fetcher, NULL); /* within a pull's wait */
        j->fetching = 0;
    }
    if (j->sub != NULL)
        natsSubscription_Destroy(j->sub);
    j->sub = NULL;
    queue_clear(j);
}

/* The consumer and its fetch thread. Engine thread. */
static int open_consumer(jsource *j, uint64_t cur)
{
    int rc = make_consumer(j, cur);
    if (rc != 0)
        return rc;
    queue_clear(j);
    atomic_store(&j->fetch_stop, 0);
    if (pthread_create(&j->fetcher, NULL, fetch_main, j) != 0) {
        natsSubscription_Destroy(j->sub);
        j->sub = NULL;
        return HOSO_EINTERNAL;
    }
    j->fetching = 1;
    return 0;
}

static int src_begin(void *ctx, uint64_t *cursor)
{
    jsource *j = ctx;
    jsCtx *js = hoso__broker_js();
    jsErrCode jerr = 0;
    uint64_t cur = atomic_load(&j->hint);
    int known = cur > 0, rc;
    if (!connected())
        return HOSO_EUNAVAILABLE;
    /* Where the last holder (or this node, before) stands: the higher of what its
     * consumer acknowledged and what the lease record says. */
    const char *names[] = {j->prev_consumer, j->consumer};
    for (size_t i = 0; i < 2; i++) {
        jsConsumerInfo *ci = NULL;
        if (names[i][0] == '\0')
            continue;
        natsStatus s = js_GetConsumerInfo(&ci, js, STREAM, names[i], NULL, &jerr);
        if (s == NATS_OK) {
            known = 1;
            if (ci->AckFloor.Stream > cur)
                cur = ci->AckFloor.Stream;
            jsConsumerInfo_Destroy(ci);
        } else if (s != NATS_NOT_FOUND) {
            return HOSO_EUNAVAILABLE;
        }
    }
    if (!known && j->from_head) {
        /* Never run in this cluster: from the stream's end, as a new consumer of a
         * node's log starts at its head. */
        jsStreamInfo *si = NULL;
        if (js_GetStreamInfo(&si, js, STREAM, NULL, &jerr) != NATS_OK)
            return HOSO_EUNAVAILABLE;
        cur = si->State.LastSeq;
        jsStreamInfo_Destroy(si);
    }
    stop_fetching(j);
    ring_clear(j);
    j->seen_incarnation = atomic_load(&j->incarnation);
    if ((rc = open_consumer(j, cur)) != 0)
        return rc;
    atomic_store(&j->committed, cur);
    atomic_store(&j->head, cur);
    *cursor = cur;
    return 0;
}

static int src_read(void *ctx, uint64_t after, size_t limit, int (*fn)(void *fctx, const hoso_log_entry *e), void *fctx)
{
    jsource *j = ctx;
    int rc = 0;
    if (!j->fetching)
        return HOSO_EUNAVAILABLE;
    if (!fresh(j))
        return 0; /* the lease is not known to be ours any more: start nothing new */
    pthread_mutex_lock(&j->qlock);
    if (atomic_load(&j->incarnation) != j->seen_incarnation) {
        ring_clear(j); /* replies of the consumer's previous incarnation */
        j->seen_incarnation = atomic_load(&j->incarnation);
    }
    for (size_t n = 0; j->qcount > 0 && n < limit && rc == 0; j->qcount--, j->qfirst = (j->qfirst + 1) % QUEUE_MAX) {
        fetched *f = &j->q[j->qfirst];
        if (f->e.seq <= after) {
            free(f->reply); /* delivered again: already in the window */
            continue;
        }
        acked *a = &j->ring[f->e.seq % RING];
        free(a->reply);
        a->seq = f->e.seq;
        a->reply = f->reply;
        rc = fn(fctx, &f->e);
        n++;
    }
    pthread_mutex_unlock(&j->qlock);
    return rc < 0 ? rc : 0;
}

static int src_head(void *ctx, uint64_t *pos)
{
    jsource *j = ctx;
    *pos = atomic_load(&j->head);
    return 0;
}

static int src_get(void *ctx, uint64_t pos, hoso_log_entry *out)
{
    jsource *j = ctx;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    (void)j;
    natsStatus s = js_GetMsg(&m, hoso__broker_js(), STREAM, pos, NULL, &jerr);
    if (s == NATS_NOT_FOUND)
        return HOSO_ENOT_FOUND;
    if (s != NATS_OK)
        return HOSO_EUNAVAILABLE;
    from_stream(m, pos, out);
    natsMsg_Destroy(m);
    return 0;
}

static int src_commit(void *ctx, uint64_t pos)
{
    jsource *j = ctx;
    acked *a = &j->ring[pos % RING];
    if (a->seq != pos || a->reply == NULL)
        return 0; /* not read through this consumer (before a restart of it): a later one is */
    /* AckAll: everything up to pos. Not waited for (the engine's loop runs deliveries
     * too): a lost acknowledgement is made good by the next one, and the lease record
     * carries the cursor as well. */
    if (natsConnection_PublishString(hoso__broker_conn(), a->reply, "+ACK") != NATS_OK)
        return HOSO_EUNAVAILABLE;
    atomic_store(&j->committed, pos);
    return 0;
}

static void src_end(void *ctx)
{
    jsource *j = ctx;
    stop_fetching(j); /* the durable consumer stays: the next holder reads its floor */
    ring_clear(j);
}

static int src_fresh(void *ctx)
{
    return fresh(ctx);
}

static int make_source(const char *name, int from_head, hoso_source *out)
{
    jsource *j = calloc(1, sizeof(*j));
    if (j == NULL || (j->ring = calloc(RING, sizeof(acked))) == NULL ||
        (j->q = calloc(QUEUE_MAX, sizeof(fetched))) == NULL) {
        if (j != NULL)
            free(j->ring);
        free(j);
        return HOSO_ENOMEM;
    }
    pthread_mutex_init(&j->qlock, NULL);
    snprintf(j->name, sizeof j->name, "%s", name);
    snprintf(j->consumer, sizeof j->consumer, "%s_%s", name, hoso__broker_me()->id);
    j->from_head = from_head;
    pthread_mutex_lock(&E.lock);
    if (E.n == MAX_SOURCES) {
        pthread_mutex_unlock(&E.lock);
        free(j->ring);
        free(j->q);
        free(j);
        return HOSO_EINTERNAL;
    }
    E.src[E.n++] = j;
    pthread_mutex_unlock(&E.lock);
    *out = (hoso_source){j, src_head, src_read, src_get, src_begin, src_commit, src_end, src_fresh};
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The remote sink: each job to the node of its shard (engine thread, replies from
 * nats.c's threads through a queue the engine's poll empties) */

typedef struct rjob {
    struct rjob *next;
    uint64_t id;
    hoso_job *job;
    int64_t deadline;
} rjob;

typedef struct rreply {
    struct rreply *next;
    uint64_t id;
    int result;
    int64_t retry_after_ms;
    char why[256];
} rreply;

typedef struct rsink {
    char name[32];
    struct jsource *src; /* the source of the same name: its lease's revision */
    char inbox[96];
    natsSubscription *sub;
    rjob *flight;
    uint64_t next_id;
    pthread_mutex_t lock;
    rreply *replies;
} rsink;

static void on_sink_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    rsink *rs = closure;
    const char *dot = strrchr(natsMsg_GetSubject(msg), '.');
    rreply *r = calloc(1, sizeof(*r));
    if (r != NULL && dot != NULL) {
        r->id = strtoull(dot + 1, NULL, 10);
        r->result = HOSO_SENT_RETRY;
        const void *body = NULL;
        size_t blen = 0;
        if (natsMsg_IsNoResponders(msg)) {
            snprintf(r->why, sizeof r->why, "the node of this dossier's shard is down (no responders)");
        } else if (hoso__signed_open(natsMsg_GetSubject(msg), natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                                     &body, &blen) != 0) {
            /* Not from a node: not an answer (the deadline answers for a lost one). */
            free(r);
            natsMsg_Destroy(msg);
            return;
        } else {
            msgpack_unpacked u;
            size_t off = 0;
            msgpack_unpacked_init(&u);
            if (msgpack_unpack_next(&u, body, blen, &off) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
                uint64_t res = hoso__map_u64(&u.data, "r");
                r->result = res <= HOSO_SENT_REFUSED ? (int)res : HOSO_SENT_RETRY;
                r->retry_after_ms = hoso__map_i64(&u.data, "ra");
                hoso__map_str(&u.data, "why", r->why, sizeof r->why);
            } else {
                snprintf(r->why, sizeof r->why, "an unreadable answer from the node of this dossier");
            }
            msgpack_unpacked_destroy(&u);
        }
        pthread_mutex_lock(&rs->lock);
        r->next = rs->replies;
        rs->replies = r;
        pthread_mutex_unlock(&rs->lock);
        hoso_engine_wake();
        r = NULL;
    }
    free(r);
    natsMsg_Destroy(msg);
}

static rjob *take_flight(rsink *rs, uint64_t id)
{
    for (rjob **p = &rs->flight; *p != NULL; p = &(*p)->next)
        if ((*p)->id == id) {
            rjob *f = *p;
            *p = f->next;
            return f;
        }
    return NULL;
}

static void rs_send(void *ctx, hoso_job *job)
{
    rsink *rs = ctx;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char subj[32], reply[128];
    rjob *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        hoso_job_done(job, HOSO_SENT_RETRY, 0, "out of memory");
        return;
    }
    f->id = ++rs->next_id;
    f->job = job;
    f->deadline = hoso__mono_ms() + SINK_TIMEOUT_MS;
    snprintf(subj, sizeof subj, "hoso.sink.%u", job->e.shard);
    snprintf(reply, sizeof reply, "%s.%" PRIu64, rs->inbox, f->id);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    hoso__event_pack(&pk, &job->e, job->e.node_seq, job->e.shard, 5);
    hoso_pack_kcstr(&pk, "consumer", rs->name);
    hoso_pack_kint(&pk, "attempt", job->attempt);
    hoso_pack_kint(&pk, "pos", (int64_t)job->e.seq);
    /* The fencing token: a node that took the lease over has a higher one, and the
     * shard's node runs nothing for a lower one after it saw the higher. */
    hoso_pack_cstr(&pk, "lease");
    msgpack_pack_uint64(&pk, rs->src != NULL ? atomic_load(&rs->src->token) : 0);
    hoso_pack_kint(&pk, "sent_at", hoso_now_ms()); /* "at" is the event's own time */
    msgpack_sbuffer signed_;
    msgpack_sbuffer_init(&signed_);
    hoso__signed_wrap(subj, sb.data, sb.size, &signed_);
    natsStatus s = natsConnection_PublishRequest(hoso__broker_conn(), subj, reply, signed_.data, (int)signed_.size);
    msgpack_sbuffer_destroy(&signed_);
    msgpack_sbuffer_destroy(&sb);
    if (s != NATS_OK) {
        free(f);
        hoso_job_done(job, HOSO_SENT_RETRY, 0, "NATS is unreachable");
        return;
    }
    f->next = rs->flight;
    rs->flight = f;
}

static void rs_poll(void *ctx)
{
    rsink *rs = ctx;
    pthread_mutex_lock(&rs->lock);
    rreply *r = rs->replies;
    rs->replies = NULL;
    pthread_mutex_unlock(&rs->lock);
    while (r != NULL) {
        rreply *next = r->next;
        rjob *f = take_flight(rs, r->id);
        if (f != NULL) {
            hoso_job_done(f->job, (hoso_sent)r->result, r->retry_after_ms, r->why[0] ? r->why : NULL);
            free(f);
        }
        free(r);
        r = next;
    }
    int64_t now = hoso__mono_ms();
    for (rjob **p = &rs->flight; *p != NULL;) {
        rjob *f = *p;
        if (f->deadline > now) {
            p = &f->next;
            continue;
        }
        *p = f->next;
        hoso_job_done(f->job, HOSO_SENT_RETRY, 0, "no answer from the node of this dossier's shard in time");
        free(f);
    }
}

static void rs_stop(void *ctx)
{
    rsink *rs = ctx;
    while (rs->flight != NULL) {
        rjob *f = rs->flight;
        rs->flight = f->next;
        hoso_job_done(f->job, HOSO_SENT_RETRY, 0, "this node stopped delivering");
        free(f);
    }
    pthread_mutex_lock(&rs->lock);
    while (rs->replies != NULL) {
        rreply *r = rs->replies;
        rs->replies = r->next;
        free(r);
    }
    pthread_mutex_unlock(&rs->lock);
}

static void rs_free(void *ctx)
{
    rsink *rs = ctx;
    if (rs->sub != NULL) {
        /* An answer being handled on a NATS thread finishes before rs goes. */
        if (natsSubscription_Drain(rs->sub) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(rs->sub, 2000);
        natsSubscription_Destroy(rs->sub);
    }
    rs_stop(rs);
    pthread_mutex_destroy(&rs->lock);
    free(rs);
}

static int make_remote_sink(const hoso_sink *local, hoso_sink *out)
{
    rsink *rs = calloc(1, sizeof(*rs));
    natsInbox *inbox = NULL;
    char sub[128];
    if (rs == NULL)
        return HOSO_ENOMEM;
    snprintf(rs->name, sizeof rs->name, "%s", local->name);
    pthread_mutex_init(&rs->lock, NULL);
    /* Its source is made first (hoso_engine_cluster): found here once, not under the
     * lock the lease thread holds across its KV calls on every send. */
    pthread_mutex_lock(&E.lock);
    for (unsigned i = 0; i < E.n; i++)
        if (strcmp(E.src[i]->name, rs->name) == 0)
            rs->src = E.src[i];
    pthread_mutex_unlock(&E.lock);
    if (natsInbox_Create(&inbox) != NATS_OK) {
        free(rs);
        return HOSO_ENOMEM;
    }
    snprintf(rs->inbox, sizeof rs->inbox, "%s", (const char *)inbox);
    natsInbox_Destroy(inbox);
    snprintf(sub, sizeof sub, "%s.*", rs->inbox);
    if (natsConnection_Subscribe(&rs->sub, hoso__broker_conn(), sub, on_sink_reply, rs) != NATS_OK) {
        free(rs);
        return HOSO_EUNAVAILABLE;
    }
    *out = *local;
    out->ctx = rs;
    out->send = rs_send;
    out->stop = rs_stop;
    out->free = rs_free;
    out->poll = rs_poll;
    return 0;
}

const hoso_engine_cluster hoso_broker_engine_hooks = {make_source, make_remote_sink};

/* ---------------------------------------------------------------------------------- */
/* The shard node's side: hoso.sink.<shard> runs a delivery with this node's sink */

/* What this node delivered last, per consumer and dossier: the seq of the dossier's
 * event in this node's log. A holder that took the lease over sends again what came
 * after the last acknowledged position, and some of it was delivered already: sent
 * again, an older status would reach the portal after a newer one. A bounded cache
 * (direct-mapped: a dossier it forgot is simply sent again). */
#define DONE_SLOTS 16384
typedef struct done_slot {
    char code[64];
    uint64_t seq;
} done_slot;
static struct {
    pthread_mutex_t lock;
    char name[MAX_SOURCES][32];
    done_slot *slots[MAX_SOURCES];
} D = {.lock = PTHREAD_MUTEX_INITIALIZER};

static done_slot *done_at(const char *name, const char *code)
{
    size_t k = 0;
    for (; k < MAX_SOURCES && D.name[k][0] != '\0' && strcmp(D.name[k], name) != 0; k++)
        ;
    if (k == MAX_SOURCES)
        return NULL;
    if (D.name[k][0] == '\0') {
        if ((D.slots[k] = calloc(DONE_SLOTS, sizeof(done_slot))) == NULL)
            return NULL;
        snprintf(D.name[k], sizeof D.name[k], "%s", name);
    }
    uint32_t h = 2166136261u;
    for (const char *p = code; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &D.slots[k][h % DONE_SLOTS];
}

/* 1 when event seq of dossier code was delivered already (or a later one was). */
static int done_before(const char *name, const char *code, uint64_t seq)
{
    int yes = 0;
    pthread_mutex_lock(&D.lock);
    done_slot *d = code[0] != '\0' ? done_at(name, code) : NULL;
    yes = d != NULL && strcmp(d->code, code) == 0 && d->seq >= seq;
    pthread_mutex_unlock(&D.lock);
    return yes;
}

static void done_now(const char *name, const char *code, uint64_t seq)
{
    pthread_mutex_lock(&D.lock);
    done_slot *d = code[0] != '\0' ? done_at(name, code) : NULL;
    if (d != NULL && (strcmp(d->code, code) != 0 || d->seq < seq)) {
        snprintf(d->code, sizeof d->code, "%s", code);
        d->seq = seq;
    }
    pthread_mutex_unlock(&D.lock);
}

typedef struct exec_ctx {
    char *reply;
    char name[32];
    char code[64];
    uint64_t seq;
} exec_ctx;

/* The answer's context of a delivery another node asked for (reply: its inbox). */
static exec_ctx *exec_ctx_new(const char *reply)
{
    exec_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx != NULL && (ctx->reply = strdup(reply)) == NULL) {
        free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static void exec_done(void *ctx, hoso_sent result, int64_t retry_after_ms, const char *reason)
{
    exec_ctx *x = ctx;
    char *reply = x->reply;
    if (result == HOSO_SENT_OK)
        done_now(x->name, x->code, x->seq);
    free(x);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_kint(&pk, "r", result);
    hoso_pack_kint(&pk, "ra", retry_after_ms);
    hoso_pack_kcstr(&pk, "why", reason != NULL ? reason : "");
    hoso__signed_publish(reply, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    free(reply);
}

/* 1 unless a delivery of consumer name with a higher token was seen here: the node
 * that asked lost the lease to the one that sent the higher. */
static int token_current(const char *name, uint64_t token)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static struct {
        char name[32];
        uint64_t token;
        int64_t at; /* when the highest was last heard */
    } seen[MAX_SOURCES];
    int ok = 1;
    int64_t now = hoso__mono_ms();
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < MAX_SOURCES; i++) {
        if (seen[i].name[0] == '\0')
            snprintf(seen[i].name, sizeof seen[i].name, "%s", name);
        if (strcmp(seen[i].name, name) != 0)
            continue;
        /* A higher one not heard of for a while is forgotten: the bucket may have been
         * made again (revisions from 1), and its holder would be refused for ever. */
        if (token < seen[i].token && now - seen[i].at < SINK_MAX_AGE_MS) {
            ok = 0;
        } else if (token >= seen[i].token || now - seen[i].at >= SINK_MAX_AGE_MS) {
            seen[i].token = token;
            seen[i].at = now;
        }
        break;
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

static void on_sink(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub, (void)closure;
    msgpack_unpacked u;
    size_t off = 0;
    hoso_log_entry e;
    char name[32];
    const char *reply = natsMsg_GetReply(msg);
    const void *body = NULL;
    size_t blen = 0;
    msgpack_unpacked_init(&u);
    /* Only a node of the cluster asks for a delivery (it would reach the portal). */
    int is_signed = hoso__signed_open(natsMsg_GetSubject(msg), natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &body, &blen) == 0;
    if (reply != NULL && is_signed && msgpack_unpack_next(&u, body, blen, &off) == MSGPACK_UNPACK_SUCCESS &&
        hoso__event_unpack(&u.data, &e) == 0 && hoso__map_str(&u.data, "consumer", name, sizeof name) == 0 && name[0] != '\0') {
        exec_ctx *ctx = exec_ctx_new(reply);
        int64_t sent = hoso__map_i64(&u.data, "sent_at"), age = hoso_now_ms() - sent;
        if (ctx != NULL) {
            snprintf(ctx->name, sizeof ctx->name, "%s", name);
            snprintf(ctx->code, sizeof ctx->code, "%s", e.code);
            ctx->seq = e.seq;
        }
        if (ctx == NULL) {
            /* out of memory: the holder's deadline answers */
        } else if (age > SINK_MAX_AGE_MS || age < -SINK_MAX_AGE_MS) {
            exec_done(ctx, HOSO_SENT_RETRY, 0, "a delivery asked too long ago (or clocks apart): not run");
        } else if (!token_current(name, hoso__map_u64(&u.data, "lease"))) {
            exec_done(ctx, HOSO_SENT_RETRY, 0, "another node holds the lease now");
        } else if (done_before(name, e.code, e.seq)) {
            atomic_fetch_add(&E.n_already, 1);
            exec_done(ctx, HOSO_SENT_OK, 0, NULL); /* delivered before a takeover */
        } else {
            atomic_fetch_add(&E.n_remote_runs, 1);
            if (hoso_engine_exec(name, &e, (unsigned)hoso__map_u64(&u.data, "attempt"), exec_done, ctx) != 0)
                exec_done(ctx, HOSO_SENT_RETRY, 0, "the node of this dossier is stopping");
        }
    } else if (reply != NULL) {
        exec_ctx *ctx = exec_ctx_new(reply);
        if (ctx != NULL)
            exec_done(ctx, HOSO_SENT_REFUSED, 0,
                      is_signed ? "not an event this node can deliver" : "not signed by a node of the cluster");
    }
    msgpack_unpacked_destroy(&u);
    natsMsg_Destroy(msg);
}

static void *lease_main(void *arg);

int hoso__events_start(void)
{
    const hoso_cluster_node *me = hoso__broker_me();
    for (unsigned sh = me->first; sh <= me->last; sh++) {
        char subj[32];
        snprintf(subj, sizeof subj, "hoso.sink.%u", sh);
        if (natsConnection_Subscribe(&E.sink_sub[E.nsink], hoso__broker_conn(), subj, on_sink, NULL) != NATS_OK)
            return HOSO_EINTERNAL;
        E.nsink++;
    }
    atomic_store(&E.stop, 0);
    if (pthread_create(&E.leaser, NULL, lease_main, NULL) != 0)
        return HOSO_EINTERNAL;
    E.leasing = 1;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Leases (their own thread) */

static void lease_key(const jsource *j, char *key, size_t n)
{
    snprintf(key, n, "lease.%s", j->name);
}

/* The lease is this node's, at revision rev, as of sent (when the write that proved it
 * left: the fence counts from there, so a slow answer does not stretch it past the
 * time another node waits). Every renewal tells the engine again: a word lost while it
 * started is not lost for good. */
static void got(jsource *j, uint64_t rev, int64_t sent, const char *was, uint64_t cursor, const char *consumer)
{
    j->rev = j->seen_rev = rev;
    j->renewed_at = j->seen_at = sent;
    atomic_store(&j->fresh_until, sent + LEASE_FENCE_MS);
    if (!j->held) {
        j->held = 1;
        /* The token is the revision the lease was taken at, not renewed at: requests
         * of one holder reach a node on several threads (a subscription each), and a
         * renewal between two of them must not make the earlier one look stale. The
         * next holder's is higher than any of this one's. */
        atomic_store(&j->token, rev);
        atomic_store(&j->hint, cursor);
        snprintf(j->prev_consumer, sizeof j->prev_consumer, "%s",
                 consumer != NULL && strcmp(consumer, j->consumer) != 0 ? consumer : "");
        atomic_fetch_add(&E.n_takeovers, 1);
        hoso_log(HOSO_LOG_INFO, "cluster: this node took the lease of the %s consumer%s%s", j->name,
                 was[0] ? " from " : "", was);
    }
    hoso_engine_lease(j->name, 1);
}

static void lost(jsource *j, const char *why)
{
    atomic_store(&j->fresh_until, 0);
    if (!j->held)
        return;
    j->held = 0;
    hoso_log(HOSO_LOG_WARN, "cluster: this node gives up the lease of the %s consumer: %s", j->name, why);
    hoso_engine_lease(j->name, 0);
}

/* A lease record: "<holder> <cursor> <consumer>", holder "-" once released. */
static void parse_record(const char *v, char holder[33], unsigned long long *cur, char consumer[64])
{
    holder[0] = consumer[0] = '\0';
    *cur = 0;
    if (v != NULL)
        sscanf(v, "%32s %llu %63s", holder, cur, consumer);
    if (strcmp(holder, "-") == 0)
        holder[0] = '\0';
}

static void lease_tick(jsource *j, kvStore *kv, const char *me)
{
    char key[64], mine[160], holder[33], consumer[64];
    unsigned long long cur = 0;
    kvEntry *e = NULL;
    uint64_t rev = 0, nrev = 0;
    lease_key(j, key, sizeof key);
    snprintf(mine, sizeof mine, "%s %" PRIu64 " %s", me, (uint64_t)atomic_load(&j->committed), j->consumer);
    natsStatus s = kvStore_Get(&e, kv, key);
    int64_t now = hoso__mono_ms(); /* after the read: what it saw is this recent */
    if (s != NATS_OK && s != NATS_NOT_FOUND) {
        if (j->held && now - j->renewed_at >= LEASE_FENCE_MS)
            lost(j, "NATS cannot be reached to renew it");
        return;
    }
    parse_record(e != NULL ? kvEntry_ValueString(e) : NULL, holder, &cur, consumer);
    if (e != NULL) {
        rev = kvEntry_Revision(e);
        kvEntry_Destroy(e);
    }
    if (holder[0] == '\0') {
        /* Free (never taken, or released by a node that stopped). */
        s = rev == 0 ? kvStore_CreateString(&nrev, kv, key, mine) : kvStore_UpdateString(&nrev, kv, key, mine, rev);
        if (s == NATS_OK)
            got(j, nrev, now, "", cur, consumer);
        else
            lost(j, "another node took it");
        return;
    }
    if (strcmp(holder, me) == 0) {
        /* Ours (or ours from before a restart): renew it. */
        if (kvStore_UpdateString(&nrev, kv, key, mine, rev) == NATS_OK)
            got(j, nrev, now, j->held ? "" : "its record, which named this node already (a lapse or a restart)", cur,
                consumer);
        else
            lost(j, "another node took it");
        return;
    }
    lost(j, "another node took it");
    if (rev != j->seen_rev || strcmp(holder, j->holder) != 0) {
        j->seen_rev = rev;
        j->seen_at = now;
        snprintf(j->holder, sizeof j->holder, "%s", holder);
        return;
    }
    if (now - j->seen_at >= LEASE_TTL_MS) {
        /* Not renewed for the lease's time: its node is gone. */
        if (kvStore_UpdateString(&nrev, kv, key, mine, rev) == NATS_OK) {
            char was[64];
            snprintf(was, sizeof was, "%s (silent for %" PRId64 " ms)", holder, now - j->seen_at);
            got(j, nrev, now, was, cur, consumer);
        }
    }
}

/* The leases have a thread of their own: nothing else this node waits on (an outbox
 * round, a slow request) may hold up a renewal. */
static void *lease_main(void *arg)
{
    (void)arg;
    int64_t last = 0;
    while (!atomic_load(&E.stop)) {
        int64_t now = hoso__mono_ms();
        kvStore *kv = hoso__broker_kv_cluster();
        if (now - last >= LEASE_RENEW_MS && kv != NULL) {
            last = now;
            pthread_mutex_lock(&E.lock);
            for (unsigned i = 0; i < E.n; i++)
                lease_tick(E.src[i], kv, hoso__broker_me()->id);
            pthread_mutex_unlock(&E.lock);
        }
        usleep(50000);
    }
    return NULL;
}

void hoso__events_stop(void)
{
    kvStore *kv = hoso__broker_kv_cluster();
    if (E.leasing) {
        atomic_store(&E.stop, 1);
        pthread_join(E.leaser, NULL);
        E.leasing = 0;
    }
    for (unsigned i = 0; i < E.nsink; i++)
        natsSubscription_Destroy(E.sink_sub[i]);
    E.nsink = 0;
    pthread_mutex_lock(&E.lock);
    for (unsigned i = 0; i < E.n; i++) {
        jsource *j = E.src[i];
        char key[64];
        uint64_t nrev;
        /* Released: the next node to look takes it at once, not after the lease's time. */
        if (j->held && kv != NULL && connected()) {
            char rec[160];
            lease_key(j, key, sizeof key);
            snprintf(rec, sizeof rec, "- %" PRIu64 " %s", (uint64_t)atomic_load(&j->committed), j->consumer);
            kvStore_UpdateString(&nrev, kv, key, rec, j->rev);
        }
        src_end(j);
        free(j->ring);
        free(j->q);
        free(j);
    }
    E.n = 0;
    pthread_mutex_unlock(&E.lock);
}

/* What `hosod cluster status` shows of a lease: holder and cursor ("" when free). */
int hoso__lease_read(kvStore *kv, const char *name, char holder[33], char consumer[64], uint64_t *cursor,
                     uint64_t *rev)
{
    char key[64];
    kvEntry *e = NULL;
    unsigned long long cur = 0;
    snprintf(key, sizeof key, "lease.%s", name);
    natsStatus s = kvStore_Get(&e, kv, key);
    holder[0] = consumer[0] = '\0';
    *cursor = *rev = 0;
    if (s == NATS_NOT_FOUND)
        return 0;
    if (s != NATS_OK)
        return HOSO_EUNAVAILABLE;
    parse_record(kvEntry_ValueString(e), holder, &cur, consumer);
    *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    *cursor = cur;
    return 0;
}

void hoso__events_metrics(msgpack_sbuffer *out)
{
    int held[MAX_SOURCES];
    char names[MAX_SOURCES][32];
    unsigned n;
    pthread_mutex_lock(&E.lock);
    n = E.n;
    for (unsigned i = 0; i < n; i++) {
        held[i] = E.src[i]->held;
        snprintf(names[i], sizeof names[i], "%s", E.src[i]->name);
    }
    pthread_mutex_unlock(&E.lock);
    hoso_sbuf_printf(out, "# HELP hoso_cluster_lease_held 1 while this node delivers for the cluster's consumer.\n"
                          "# TYPE hoso_cluster_lease_held gauge\n");
    for (unsigned i = 0; i < n; i++)
        hoso_sbuf_printf(out, "hoso_cluster_lease_held{consumer=\"%s\"} %d\n", names[i], held[i]);
    hoso_sbuf_printf(out,
                     "# HELP hoso_cluster_lease_takeovers_total Leases this node took (at start, or from a silent node).\n"
                     "# TYPE hoso_cluster_lease_takeovers_total counter\nhoso_cluster_lease_takeovers_total %u\n"
                     "# HELP hoso_cluster_deliveries_run_total Deliveries this node ran for the lease holder.\n"
                     "# TYPE hoso_cluster_deliveries_run_total counter\nhoso_cluster_deliveries_run_total %u\n"
                     "# HELP hoso_cluster_deliveries_already_done_total Deliveries asked again after a takeover that "
                     "this node had made already (not sent twice).\n"
                     "# TYPE hoso_cluster_deliveries_already_done_total counter\nhoso_cluster_deliveries_already_done_total %u\n",
                     atomic_load(&E.n_takeovers), atomic_load(&E.n_remote_runs), atomic_load(&E.n_already));
}
