/*
 * internal.h - what the files of server/broker/ share with each other (nats.c owns the
 * connection and the buckets; staff.c and relay.c use them).
 */
#ifndef HOSO_SERVER_BROKER_INTERNAL_H
#define HOSO_SERVER_BROKER_INTERNAL_H

#include <pthread.h>
#include <nats/nats.h>
#include "broker.h"

/* pool.c: the monotonic clock in ms. */
int64_t hoso__mono_ms(void);

/* pool.c: a queue and the threads that take from it. Items embed hoso__qitem first. */
#define HOSO__POOL_MAX 32
typedef struct hoso__qitem {
    struct hoso__qitem *next;
} hoso__qitem;
typedef struct hoso__pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    hoso__qitem *head, *tail;
    int stop;
    pthread_t th[HOSO__POOL_MAX];
    unsigned n;
} hoso__pool;
#define HOSO__POOL_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, {0}, 0}
/* Starts threads (at most HOSO__POOL_MAX) running main(arg). Errors: INTERNAL. */
int hoso__pool_start(hoso__pool *p, unsigned threads, void *(*main)(void *arg), void *arg);
/* What is queued is taken first; then the threads are joined. */
void hoso__pool_stop(hoso__pool *p);
/* Queues it. Errors: UNAVAILABLE (stopped or never started). */
int hoso__pool_put(hoso__pool *p, hoso__qitem *it);
/* The next item, waiting for one; NULL once stopped and empty. */
hoso__qitem *hoso__pool_take(hoso__pool *p);

/* nats.c: the node's connection, its cluster and itself, the locator bucket (dossier
 * code -> shard), and its server. Valid while the broker runs. */
natsConnection *hoso__broker_conn(void);
const hoso_cluster *hoso__broker_cluster(void);
const hoso_cluster_node *hoso__broker_me(void);
kvStore *hoso__broker_kv_loc(void);
kvStore *hoso__broker_kv_cluster(void);
jsCtx *hoso__broker_js(void);
hoso_server *hoso__broker_server(void);
/* A forward's deadline, in ms (the front node answers 503 past it). */
#define HOSO__FORWARD_TIMEOUT_MS 8000
/* A request not answered by then asks whether its shard's node is still there
 * (hoso.ping.<shard>): a node that just died can have been sent the request before
 * NATS saw it go, and then only a probe tells, well within a second. */
#define HOSO__PROBE_AFTER_MS 400
/* 1 unless the node of shard is known to be down (no responders to a ping). Blocking,
 * up to 300 ms: not on a worker. */
int hoso__shard_alive(unsigned shard);
/* A request to subj on the node of shard, probed as above: NATS_OK with *reply (not a
 * no-responders message), NATS_NO_RESPONDERS, NATS_TIMEOUT or another error. */
natsStatus hoso__request(unsigned shard, const char *subj, const void *data, int len, int64_t timeout_ms,
                         natsMsg **reply);

/* staff.c: requests of officers, admins and bots. */
/* Starts and stops the staff threads. */
int hoso__staff_start(void);
void hoso__staff_stop(void);
/* Where a staff request goes: kinds of routes. */
enum { HOSO__STAFF_HOME, HOSO__STAFF_DOSSIER, HOSO__STAFF_LIST, HOSO__STAFF_ANY };
/* Hands r (a staff token of shard home) to the staff threads: worker thread. Returns
 * HOSO_ASYNC, 0 when this node answers it alone (the account's own things, here), or
 * an error with r->err. */
int hoso__staff_forward(hoso_req *r, unsigned home);
/* A request that carries a caller another node vouched for (x-hoso-caller): 1 with
 * r->who, r->token and r->authed set; 0 when it carries none; UNAUTHORIZED (r->err)
 * when the voucher is not good. Worker thread. */
int hoso__staff_vouched(hoso_req *r);
/* The node's side of hoso.auth.<shard>: the caller of a token (nats.c's thread). */
void hoso__staff_on_auth(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);

/* staff.c: the caller of token from the node of shard (or this node's store when it
 * holds it): 0, UNAUTHORIZED, UNAVAILABLE. Blocking: staff threads only. */
int hoso__staff_whoami(unsigned shard, const char *token, hoso_caller *who);
/* Runs fn(arg) on a staff thread. Errors: UNAVAILABLE (stopping), NOMEM. */
int hoso__staff_run(void (*fn)(void *arg), void *arg);

/* live.c: live push across nodes. */
int hoso__live_start(void);
void hoso__live_stop(void);
/* Writer thread, after a commit: the events to hoso.live.* . */
void hoso__live_publish(const hoso_event *ev, size_t n);
/* The node's side of hoso.feed.<shard> (nats.c's thread). */
void hoso__live_on_feed(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
void hoso__live_metrics(msgpack_sbuffer *out);
/* NATS is back: WebSockets of remote owners read their feeds again. */
void hoso__live_reconnected(void);

/* staff.c: the node's side of hoso.q.node.<id> (nats.c's thread). */
void hoso__query_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);

/* nats.c: a message between nodes signed with the cluster's key (every node has it),
 * for subjects whose messages carry no token: [mac, body], the mac over the subject
 * and the body (a message is good on its own subject only). open: 0 with body
 * pointing into data; BAD_REQUEST when no node of the cluster signed it. */
int hoso__signed_wrap(const char *subject, const void *body, size_t len, msgpack_sbuffer *out);
int hoso__signed_open(const char *subject, const void *data, size_t len, const void **body, size_t *blen);
/* Publishes body on subject, signed. */
void hoso__signed_publish(const char *subject, const void *body, size_t len);

/* events.c: the cluster's consumers (portal mirror, webhooks) under leases. */
/* An event on the wire (the stream, hoso.sink.<shard>): a map of 10 + extra pairs, the
 * caller packs the extra ones after. */
void hoso__event_pack(msgpack_packer *pk, const hoso_log_entry *e, uint64_t seq, unsigned shard, uint32_t extra);
/* Its entry back (seq and node_seq the node's). Errors: BAD_REQUEST. */
int hoso__event_unpack(const msgpack_object *m, hoso_log_entry *e);
/* Fields of a msgpack map: 0 (or "") when absent or of another type; map_str
 * returns -1 then (or when the string does not fit n with its NUL). */
uint64_t hoso__map_u64(const msgpack_object *m, const char *key);
int64_t hoso__map_i64(const msgpack_object *m, const char *key);
int hoso__map_str(const msgpack_object *m, const char *key, char *out, size_t n);
/* Serves hoso.sink.<shard> for this node's shards. Errors: INTERNAL. */
int hoso__events_start(void);
/* Releases the leases this node holds (after the engine stopped). */
void hoso__events_stop(void);
void hoso__events_metrics(msgpack_sbuffer *out);
/* A lease's record: holder ("" free), the durable consumer it reads, cursor, revision
 * (0: never taken). Errors: UNAVAILABLE. */
int hoso__lease_read(kvStore *kv, const char *name, char holder[33], char consumer[64], uint64_t *cursor,
                     uint64_t *rev);

/* files.c: an officer's uploads to the node of the dossier they are for. */
int hoso__files_start(void);
void hoso__files_stop(void);
/* Copies file id, an upload of account who, from the node of shard from to the node of
 * shard to (nothing when they are one node, it is there already, or it is not who's
 * upload). Blocking: staff threads only. Errors: UNAVAILABLE (a node down or slow),
 * INTERNAL, with why. */
int hoso__files_copy(unsigned from, unsigned to, const char *who, const char *id, char *why, size_t whysz);

/* admin.c: the node's side of hoso.admin.<shard> (nats.c's thread). */
void hoso__admin_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);

#endif
