/*
 * live.c - live push from any node (DESIGN.md, cluster mode). After each commit the
 * node publishes every owner event on core NATS hoso.live.<owner> and every agency
 * event on hoso.live.agency.<agency>. A node serving a WebSocket of an owner held
 * elsewhere watches that owner's subject (one NATS subscription per owner, shared by
 * the node's connections) and reads the feed after `since` from the owner's node
 * (hoso.feed.<shard>); ws.c joins both by seq as for a local owner: subscribe first,
 * then replay, then live, a gap filled by reading again. Agency streams get every
 * node's agency events (each node subscribes to hoso.live.agency.>), their own
 * node's included, so that all of them arrive by one road.
 *
 * Threads: the publishes run on the writer (buffered by nats.c), the subscriptions'
 * callbacks on nats.c's threads, the lookups (auth, feed pages) on the staff threads;
 * answers reach the connection's worker through hoso_worker_post.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define FEED_TIMEOUT_MS 5000
#define WATCH_BUCKETS 4096

typedef struct watch {
    struct watch *next;
    char owner[33];
    unsigned refs;
    natsSubscription *sub;
} watch;

static struct {
    pthread_mutex_t lock;
    watch *buckets[WATCH_BUCKETS];
    size_t nwatched;
    natsSubscription *agency_sub;
    atomic_ullong n_live_in, n_live_out, n_pages;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------------------------- */
/* The committing node's side */

static void agency_token(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (; in[k] != '\0' && k + 1 < n; k++)
        out[k] = isalnum((unsigned char)in[k]) || in[k] == '-' || in[k] == '_' ? in[k] : '_';
    out[k] = '\0';
}

void hoso__live_publish(const hoso_event *ev, size_t n)
{
    natsConnection *nc = hoso__broker_conn();
    msgpack_sbuffer sb, sig;
    msgpack_packer pk;
    char subj[128], tok[64];
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&sig);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < n; i++) {
        const hoso_event *e = &ev[i];
        sb.size = 0;
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, e->seq);
        msgpack_pack_uint64(&pk, e->gseq);
        msgpack_pack_bin(&pk, e->body_len);
        msgpack_pack_bin_body(&pk, e->body, e->body_len);
        snprintf(subj, sizeof subj, "hoso.live.%s", e->owner);
        /* Signed: a phone sees only what a node of the cluster committed. */
        sig.size = 0;
        hoso__signed_wrap(subj, sb.data, sb.size, &sig);
        natsConnection_Publish(nc, subj, sig.data, (int)sig.size);
        if (e->agency[0] == '\0')
            continue;
        sb.size = 0;
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint64(&pk, e->seq);
        msgpack_pack_uint64(&pk, e->gseq);
        hoso_pack_cstr(&pk, e->owner);
        hoso_pack_cstr(&pk, e->agency);
        msgpack_pack_bin(&pk, e->body_len);
        msgpack_pack_bin_body(&pk, e->body, e->body_len);
        agency_token(e->agency, tok, sizeof tok);
        snprintf(subj, sizeof subj, "hoso.live.agency.%s", tok);
        sig.size = 0;
        hoso__signed_wrap(subj, sb.data, sb.size, &sig);
        natsConnection_Publish(nc, subj, sig.data, (int)sig.size);
    }
    atomic_fetch_add(&L.n_live_out, n);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&sig);
}

/* hoso.feed.<shard>: {token, since, limit, epoch?} -> {err?, epoch, head, recovered,
 * more, events: [[seq, body], ...]}. The token names the owner, as on one node. */
typedef struct feed_reply {
    msgpack_packer *pk;
    msgpack_sbuffer items;
    msgpack_packer ipk;
    unsigned n;
    size_t budget; /* bytes a page may hold: half of what NATS carries */
} feed_reply;

static int feed_item(void *ctx, uint64_t seq, const void *body, size_t len)
{
    feed_reply *fr = ctx;
    /* A page stops short of what NATS can carry; the rest comes in the next ones. */
    if (fr->n > 0 && fr->items.size + len + 32 > fr->budget)
        return 1;
    msgpack_pack_array(&fr->ipk, 2);
    msgpack_pack_uint64(&fr->ipk, seq);
    msgpack_pack_bin(&fr->ipk, len);
    msgpack_pack_bin_body(&fr->ipk, body, len);
    fr->n++;
    return 0;
}

static int probe(void *ctx, uint64_t seq, const void *body, size_t len)
{
    (void)ctx, (void)seq, (void)body, (void)len;
    return 1;
}

void hoso__live_on_feed(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub, (void)closure;
    const char *to = natsMsg_GetReply(msg);
    hoso_store *s = hoso_server_store(hoso__broker_server());
    msgpack_unpacked u;
    msgpack_sbuffer out;
    msgpack_packer pk;
    feed_reply fr;
    char token[160] = "", epoch[64] = "";
    uint64_t since = 0, head = 0, limit = 100;
    int err = HOSO_EBAD_REQUEST, more = 0, recovered = 1;
    hoso_txn *t = NULL;
    hoso_caller who;

    msgpack_unpacked_init(&u);
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    memset(&fr, 0, sizeof fr);
    msgpack_sbuffer_init(&fr.items);
    msgpack_packer_init(&fr.ipk, &fr.items, msgpack_sbuffer_write);
    if (to == NULL)
        goto Exit;
    if (msgpack_unpack_next(&u, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), NULL) ==
            MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *tk = hoso_map_get(&u.data, "token"), *sn = hoso_map_get(&u.data, "since"),
                             *lm = hoso_map_get(&u.data, "limit"), *ep = hoso_map_get(&u.data, "epoch");
        if (tk != NULL && tk->type == MSGPACK_OBJECT_STR && tk->via.str.size < sizeof token && sn != NULL &&
            sn->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            memcpy(token, tk->via.str.ptr, tk->via.str.size);
            since = sn->via.u64;
            if (lm != NULL && lm->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                limit = lm->via.u64 > 1000 ? 1000 : lm->via.u64 == 0 ? 1 : lm->via.u64;
            if (ep != NULL && ep->type == MSGPACK_OBJECT_STR && ep->via.str.size < sizeof epoch)
                memcpy(epoch, ep->via.str.ptr, ep->via.str.size);
            err = 0;
        }
    }
    if (err == 0 && (err = hoso_txn_read(s, &t)) == 0) {
        if ((err = hoso_authenticate(t, token, strlen(token), hoso_now_ms(), &who)) == 0 &&
            (err = hoso_feed_head(t, who.account, &head)) == 0) {
            if (epoch[0] != '\0' && strcmp(epoch, hoso_store_epoch(s)) != 0)
                recovered = 0;
            else if ((err = hoso_feed_read(t, who.account, since, 1, probe, NULL, NULL)) == HOSO_ECURSOR_EXPIRED)
                recovered = 0, err = 0;
            else if (err > 0)
                err = 0;
            if (err == 0 && recovered && since < head) {
                fr.budget = (size_t)natsConnection_GetMaxPayload(nc) / 2;
                err = hoso_feed_read(t, who.account, since, (unsigned)limit, feed_item, &fr, &more);
                if (err == 1)
                    err = 0, more = 1; /* stopped at the page's size */
            }
        }
        hoso_txn_abort(t);
    }
    atomic_fetch_add(&L.n_pages, 1);
    if (err != 0) {
        msgpack_pack_map(&pk, 1);
        hoso_pack_kcstr(&pk, "err", hoso_err_code(err));
    } else {
        msgpack_pack_map(&pk, 5);
        hoso_pack_kcstr(&pk, "epoch", hoso_store_epoch(s));
        hoso_pack_cstr(&pk, "head");
        msgpack_pack_uint64(&pk, head);
        hoso_pack_cstr(&pk, "recovered");
        recovered ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        hoso_pack_cstr(&pk, "more");
        more ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        hoso_pack_cstr(&pk, "events");
        msgpack_pack_array(&pk, fr.n);
        msgpack_sbuffer_write(&out, fr.items.data, fr.items.size);
    }
    natsConnection_Publish(nc, to, out.data, (int)out.size);
Exit:
    sodium_memzero(token, sizeof token);
    msgpack_sbuffer_destroy(&fr.items);
    msgpack_sbuffer_destroy(&out);
    msgpack_unpacked_destroy(&u);
    natsMsg_Destroy(msg);
}

/* ---------------------------------------------------------------------------------- */
/* The serving node's side: live events in */

/* A live message: [seq, gseq, body] on hoso.live.<owner>, or [seq, gseq, owner, agency,
 * body] on hoso.live.agency.<agency>; handed to this node's hubs. */
static void on_live(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    int agency = closure != NULL;
    const char *subj = natsMsg_GetSubject(msg);
    msgpack_unpacked u;
    hoso_event ev;
    const void *data = NULL;
    size_t len = 0;
    memset(&ev, 0, sizeof ev);
    msgpack_unpacked_init(&u);
    if (hoso__signed_open(subj, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &data, &len) == 0 &&
        msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == (agency ? 5u : 3u)) {
        const msgpack_object *a = u.data.via.array.ptr, *body = &a[agency ? 4 : 2];
        int ok = a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                 body->type == MSGPACK_OBJECT_BIN;
        if (agency)
            ok = ok && a[2].type == MSGPACK_OBJECT_STR && a[2].via.str.size < sizeof ev.owner &&
                 a[3].type == MSGPACK_OBJECT_STR && a[3].via.str.size < sizeof ev.agency;
        else
            ok = ok && strlen(subj) == 10 + 32;
        if (ok) {
            ev.seq = a[0].via.u64;
            ev.gseq = a[1].via.u64;
            if (agency) {
                memcpy(ev.owner, a[2].via.str.ptr, a[2].via.str.size);
                memcpy(ev.agency, a[3].via.str.ptr, a[3].via.str.size);
            } else {
                memcpy(ev.owner, subj + 10, 32);
            }
            ev.body = (uint8_t *)body->via.bin.ptr;
            ev.body_len = body->via.bin.size;
            hoso_server_push_remote(hoso__broker_server(), &ev, 1, agency);
            atomic_fetch_add(&L.n_live_in, 1);
        }
    }
    msgpack_unpacked_destroy(&u);
    natsMsg_Destroy(msg);
}

int hoso__live_start(void)
{
    natsStatus s = natsConnection_Subscribe(&L.agency_sub, hoso__broker_conn(), "hoso.live.agency.>", on_live, (void *)1);
    if (s == NATS_OK)
        natsSubscription_SetPendingLimits(L.agency_sub, -1, 256 * 1024 * 1024);
    return s == NATS_OK ? 0 : HOSO_EUNAVAILABLE;
}

void hoso__live_stop(void)
{
    pthread_mutex_lock(&L.lock);
    for (unsigned i = 0; i < WATCH_BUCKETS; i++) {
        while (L.buckets[i] != NULL) {
            watch *wt = L.buckets[i];
            L.buckets[i] = wt->next;
            natsSubscription_Destroy(wt->sub);
            free(wt);
        }
    }
    L.nwatched = 0;
    pthread_mutex_unlock(&L.lock);
    if (L.agency_sub != NULL)
        natsSubscription_Destroy(L.agency_sub);
    L.agency_sub = NULL;
}

static unsigned bucket_of(const char *owner)
{
    uint32_t h = 2166136261u;
    for (const char *p = owner; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % WATCH_BUCKETS;
}

static int op_watch(const char *owner)
{
    int err = 0;
    pthread_mutex_lock(&L.lock);
    watch **b = &L.buckets[bucket_of(owner)], *wt = *b;
    while (wt != NULL && strcmp(wt->owner, owner) != 0)
        wt = wt->next;
    if (wt != NULL) {
        wt->refs++;
    } else if ((wt = calloc(1, sizeof(*wt))) == NULL) {
        err = HOSO_ENOMEM;
    } else {
        char subj[64];
        snprintf(wt->owner, sizeof wt->owner, "%s", owner);
        snprintf(subj, sizeof subj, "hoso.live.%s", owner);
        /* Sent ahead of this connection's first feed request on the same connection,
         * so the NATS server has it before the owner's node reads the snapshot. */
        if (natsConnection_Subscribe(&wt->sub, hoso__broker_conn(), subj, on_live, NULL) != NATS_OK) {
            free(wt);
            err = HOSO_EUNAVAILABLE;
        } else {
            wt->refs = 1;
            wt->next = *b;
            *b = wt;
            L.nwatched++;
        }
    }
    pthread_mutex_unlock(&L.lock);
    return err;
}

static void op_unwatch(const char *owner)
{
    pthread_mutex_lock(&L.lock);
    watch **p = &L.buckets[bucket_of(owner)];
    while (*p != NULL && strcmp((*p)->owner, owner) != 0)
        p = &(*p)->next;
    watch *wt = *p;
    if (wt != NULL && --wt->refs == 0) {
        *p = wt->next;
        natsSubscription_Unsubscribe(wt->sub);
        natsSubscription_Destroy(wt->sub);
        free(wt);
        L.nwatched--;
    }
    pthread_mutex_unlock(&L.lock);
}

/* ---------------------------------------------------------------------------------- */
/* The serving node's side: lookups on the staff threads */

static int op_foreign(const char *token, size_t len)
{
    int staff = 0, shard = hoso_cluster_token_shard(token, len, &staff);
    return shard >= 0 && (unsigned)shard < hoso__broker_cluster()->shards && !hoso_broker_owns((unsigned)shard);
}

typedef struct auth_job {
    hoso_worker *w;
    char token[160];
    unsigned shard;
    void (*done)(void *arg, int err, const hoso_caller *who);
    void *arg;
    int err;
    hoso_caller who;
} auth_job;

static void auth_answer(void *p)
{
    auth_job *j = p;
    j->done(j->arg, j->err, &j->who);
    sodium_memzero(j->token, sizeof j->token);
    free(j);
}

static void auth_run(void *p)
{
    auth_job *j = p;
    j->err = hoso__staff_whoami(j->shard, j->token, &j->who);
    if (hoso_worker_post(j->w, auth_answer, j) != 0)
        free(j); /* the worker is gone with its connections */
}

static int op_auth(hoso_worker *w, const char *token, size_t len, void (*done)(void *arg, int err, const hoso_caller *who),
                   void *arg)
{
    int staff = 0, shard = hoso_cluster_token_shard(token, len, &staff);
    auth_job *j;
    if (shard < 0 || len >= sizeof j->token || (j = calloc(1, sizeof(*j))) == NULL)
        return HOSO_ENOMEM;
    j->w = w;
    memcpy(j->token, token, len);
    j->shard = (unsigned)shard;
    j->done = done;
    j->arg = arg;
    if (hoso__staff_run(auth_run, j) != 0) {
        free(j);
        return HOSO_EUNAVAILABLE;
    }
    return 0;
}

typedef struct feed_job {
    hoso_worker *w;
    char token[160];
    char epoch[64];
    unsigned shard, limit;
    uint64_t since;
    void (*done)(void *arg, hoso_feed_page *page);
    void *arg;
    hoso_feed_page page;
    natsMsg *reply;
    msgpack_unpacked u;
} feed_job;

static void op_page_free(hoso_feed_page *p)
{
    feed_job *j = p->priv;
    free(p->items);
    msgpack_unpacked_destroy(&j->u);
    if (j->reply != NULL)
        natsMsg_Destroy(j->reply);
    sodium_memzero(j->token, sizeof j->token);
    free(j);
}

static void feed_answer(void *p)
{
    feed_job *j = p;
    j->done(j->arg, &j->page);
}

static void feed_decode(feed_job *j)
{
    hoso_feed_page *p = &j->page;
    const msgpack_object *root = &j->u.data, *o;
    if (msgpack_unpack_next(&j->u, natsMsg_GetData(j->reply), (size_t)natsMsg_GetDataLength(j->reply), NULL) !=
            MSGPACK_UNPACK_SUCCESS ||
        root->type != MSGPACK_OBJECT_MAP) {
        p->err = HOSO_EUNAVAILABLE;
        return;
    }
    if ((o = hoso_map_get(root, "err")) != NULL) {
        p->err = o->type == MSGPACK_OBJECT_STR && o->via.str.size == 12 && memcmp(o->via.str.ptr, "UNAUTHORIZED", 12) == 0
                     ? HOSO_EUNAUTHORIZED
                 : o->type == MSGPACK_OBJECT_STR && o->via.str.size == 14 && memcmp(o->via.str.ptr, "CURSOR_EXPIRED", 14) == 0
                     ? HOSO_ECURSOR_EXPIRED
                     : HOSO_EUNAVAILABLE;
        return;
    }
    const msgpack_object *ep = hoso_map_get(root, "epoch"), *hd = hoso_map_get(root, "head"),
                         *rc = hoso_map_get(root, "recovered"), *mr = hoso_map_get(root, "more"),
                         *ev = hoso_map_get(root, "events");
    if (ep == NULL || ep->type != MSGPACK_OBJECT_STR || ep->via.str.size >= sizeof p->epoch || hd == NULL ||
        hd->type != MSGPACK_OBJECT_POSITIVE_INTEGER || rc == NULL || rc->type != MSGPACK_OBJECT_BOOLEAN || mr == NULL ||
        mr->type != MSGPACK_OBJECT_BOOLEAN || ev == NULL || ev->type != MSGPACK_OBJECT_ARRAY) {
        p->err = HOSO_EUNAVAILABLE;
        return;
    }
    memcpy(p->epoch, ep->via.str.ptr, ep->via.str.size);
    p->head = hd->via.u64;
    p->recovered = rc->via.boolean;
    p->more = mr->via.boolean;
    if (ev->via.array.size > 0 && (p->items = calloc(ev->via.array.size, sizeof(*p->items))) == NULL) {
        p->err = HOSO_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < ev->via.array.size; i++) {
        const msgpack_object *it = &ev->via.array.ptr[i];
        if (it->type != MSGPACK_OBJECT_ARRAY || it->via.array.size != 2 ||
            it->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || it->via.array.ptr[1].type != MSGPACK_OBJECT_BIN) {
            p->err = HOSO_EUNAVAILABLE;
            return;
        }
        p->items[p->n].seq = it->via.array.ptr[0].via.u64;
        p->items[p->n].body = it->via.array.ptr[1].via.bin.ptr;
        p->items[p->n].len = it->via.array.ptr[1].via.bin.size;
        p->n++;
    }
}

static void feed_run(void *p)
{
    feed_job *j = p;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char subj[32];
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, j->epoch[0] ? 4 : 3);
    hoso_pack_kcstr(&pk, "token", j->token);
    hoso_pack_cstr(&pk, "since");
    msgpack_pack_uint64(&pk, j->since);
    hoso_pack_cstr(&pk, "limit");
    msgpack_pack_unsigned_int(&pk, j->limit);
    if (j->epoch[0])
        hoso_pack_kcstr(&pk, "epoch", j->epoch);
    snprintf(subj, sizeof subj, "hoso.feed.%u", j->shard);
    natsStatus s = hoso__request(j->shard, subj, sb.data, (int)sb.size, FEED_TIMEOUT_MS, &j->reply);
    sodium_memzero(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (s != NATS_OK) {
        j->reply = NULL;
        j->page.err = HOSO_EUNAVAILABLE;
    } else {
        feed_decode(j);
    }
    if (hoso_worker_post(j->w, feed_answer, j) != 0)
        op_page_free(&j->page);
}

static int op_feed(hoso_worker *w, const char *token, uint64_t since, const char *epoch, unsigned limit,
                   void (*done)(void *arg, hoso_feed_page *page), void *arg)
{
    int staff = 0, shard = hoso_cluster_token_shard(token, strlen(token), &staff);
    feed_job *j;
    if (shard < 0 || strlen(token) >= sizeof j->token || (j = calloc(1, sizeof(*j))) == NULL)
        return HOSO_ENOMEM;
    j->w = w;
    snprintf(j->token, sizeof j->token, "%s", token);
    if (epoch != NULL)
        snprintf(j->epoch, sizeof j->epoch, "%s", epoch);
    j->shard = (unsigned)shard;
    j->since = since;
    j->limit = limit;
    j->done = done;
    j->arg = arg;
    j->page.priv = j;
    msgpack_unpacked_init(&j->u);
    if (hoso__staff_run(feed_run, j) != 0) {
        msgpack_unpacked_destroy(&j->u);
        free(j);
        return HOSO_EUNAVAILABLE;
    }
    return 0;
}

static atomic_uint live_gen;

void hoso__live_reconnected(void)
{
    atomic_fetch_add(&live_gen, 1);
}

static unsigned op_generation(void)
{
    return atomic_load(&live_gen);
}

const hoso_remote_ops hoso_broker_remote_ops = {op_foreign,  op_auth,    op_feed,      op_page_free,
                                                op_watch,    op_unwatch, op_generation};

void hoso__live_metrics(msgpack_sbuffer *out)
{
    pthread_mutex_lock(&L.lock);
    size_t watched = L.nwatched;
    pthread_mutex_unlock(&L.lock);
    hoso_sbuf_printf(out,
                     "# HELP hoso_cluster_live_published_total Events this node published for live push.\n"
                     "# TYPE hoso_cluster_live_published_total counter\nhoso_cluster_live_published_total %llu\n"
                     "# HELP hoso_cluster_live_received_total Live events of other nodes handed to this node's hubs.\n"
                     "# TYPE hoso_cluster_live_received_total counter\nhoso_cluster_live_received_total %llu\n"
                     "# HELP hoso_cluster_feed_pages_total Feed pages this node read for other nodes' WebSockets.\n"
                     "# TYPE hoso_cluster_feed_pages_total counter\nhoso_cluster_feed_pages_total %llu\n"
                     "# HELP hoso_cluster_watched_owners Owners of other nodes whose live events this node follows.\n"
                     "# TYPE hoso_cluster_watched_owners gauge\nhoso_cluster_watched_owners %zu\n",
                     (unsigned long long)atomic_load(&L.n_live_out), (unsigned long long)atomic_load(&L.n_live_in),
                     (unsigned long long)atomic_load(&L.n_pages), watched);
}
