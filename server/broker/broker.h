/*
 * server/broker/ - cluster mode: several hosod nodes joined by NATS (DESIGN.md "Scale
 * beyond one machine"). Without `--cluster` none of this runs and hosod is the single
 * node it always was.
 *
 * What is here:
 * - cluster.c: the cluster file (NATS URL, the number of shards S, which node holds
 *   which shards) and the shard of an account: a keyed hash of the account id, so the
 *   same citizen lands on the same shard on every node (they share secret.key).
 * - nats.c: the node's NATS side, on nats.c's own threads (never a blocking NATS call
 *   on a worker loop): the key check and the node record in JetStream KV, forwarding
 *   of requests for foreign shards over `hoso.rpc.<shard>`, the outbox of committed
 *   events to the JetStream stream HOSO_EVENTS, the cluster-wide dossier sequence.
 * - relay.c: runs a request forwarded to this node through its own HTTP listener, so
 *   the reply is byte for byte what a single node sends.
 * - events.c: the portal mirror and webhooks as consumers of the stream under a lease
 *   (one node at a time delivers; each delivery runs on the dossier's node).
 * - files.c: an officer's uploads copied to the node of the dossier they are for.
 * - status.c: `hosod cluster status`.
 *
 * Threads: hoso_broker_forward runs on a worker; dossier numbers are asked for by the
 * writer (the store's sequence source); the rest runs on the broker's and nats.c's
 * threads.
 */
#ifndef HOSO_SERVER_BROKER_H
#define HOSO_SERVER_BROKER_H

#include <stdint.h>
#include "core/internal.h"
#include "consumers/consumers.h"

#define HOSO_CLUSTER_MAX_NODES 64
#define HOSO_CLUSTER_MAX_SHARDS 1000 /* a token's shard prefix is at most 3 digits */

typedef struct hoso_cluster_node {
    char id[33];      /* [A-Za-z0-9_-], 1..32 */
    unsigned first, last; /* the node's shards: first..last; none when first > last */
} hoso_cluster_node;

typedef struct hoso_cluster {
    char nats_url[256];
    unsigned shards;  /* S */
    hoso_cluster_node nodes[HOSO_CLUSTER_MAX_NODES];
    unsigned nnodes;
    char file[PATH_MAX];
} hoso_cluster;

/* Reads and checks the cluster file (JSON: {"nats": "nats://HOST:PORT", "shards": S,
 * "nodes": [{"id": "n1", "shards": "0-21"}, ...]}): every shard 0..S-1 held by exactly
 * one node, node ids unique. A node without "shards" holds none (a front node for
 * connections). Prints what is wrong on stderr. Errors: IO, BAD_REQUEST. */
int hoso_cluster_load(const char *path, hoso_cluster *out);
/* The node of that id, or NULL. */
const hoso_cluster_node *hoso_cluster_node_get(const hoso_cluster *c, const char *id);
/* The node that holds shard, or NULL. */
const hoso_cluster_node *hoso_cluster_shard_node(const hoso_cluster *c, unsigned shard);
/* The shard of an account id (32 hex): its first 32 bits modulo shards. */
unsigned hoso_cluster_shard_of(const char *account, unsigned shards);
/* The shard a token names in clear ("17.xxxx" a citizen's, "17s.xxxx" staff's: an
 * officer, admin or bot), or -1 when it names none; *staff tells which. */
int hoso_cluster_token_shard(const char *token, size_t len, int *staff);

/* ---------------------------------------------------------------------------------- */
/* The node's broker (one per process). */

/* Connects to NATS, checks this node's key against the cluster's (the first node to
 * start records it), makes the stream and buckets when missing, and starts serving
 * this node's shards. Prints why it fails. Main thread, before the workers start.
 * Errors: UNAVAILABLE (NATS unreachable), KEY_MISMATCH (another key or shard count),
 * INTERNAL. */
int hoso_broker_start(hoso_server *srv, const hoso_cluster *c, const char *node_id);
/* First step of a stop, before the workers go: no more live events to the hubs. */
void hoso_broker_quiesce(void);
/* Stops serving shards and publishing; flushes what it can. Main thread. */
void hoso_broker_stop(void);
/* 1 when this process is a cluster node. */
int hoso_broker_active(void);
/* The shard of an account in this cluster; this node's shard check. */
unsigned hoso_broker_shard_of(const char *account);
int hoso_broker_owns(unsigned shard);
/* The token prefix of an account ("17." a citizen's, "17s." staff's), "" on a single
 * node. */
void hoso_broker_token_prefix(const char *account, hoso_role role, char out[8]);

/* The runtime's forward hook (hoso_app.forward): for a request that belongs to a
 * foreign shard, sends it to that shard's node and relays the reply (HOSO_ASYNC);
 * 0 when this node answers it. Worker thread. */
int hoso_broker_forward(hoso_req *r);

/* Questions to every node (cluster-wide reports): each node answers a query (msgpack)
 * with the executor main.c registers (server/reports/): 0 with out filled, or HOSO_E*
 * with why. Queries and answers hold no personal data (counters). */
typedef int (*hoso_query_exec)(hoso_store *s, const msgpack_object *q, msgpack_sbuffer *out, char *why, size_t whysz);
void hoso_broker_set_query(hoso_query_exec fn);
/* The answers of every node that holds shards, in the cluster file's order. */
typedef struct hoso_gathered {
    char tag[96];          /* the caller's, as given */
    size_t n;
    struct hoso_gathered_part {
        char node[33];
        char *data;
        size_t len;
    } *parts;
    char why[200];         /* with a result of UNAVAILABLE: which node failed how */
    msgpack_sbuffer query;
} hoso_gathered;
/* Worker thread: asks every node the query on the broker's threads, then runs
 * done(r, g, result) on r's worker (result 0, or UNAVAILABLE with g->why); done owns g
 * (hoso_gathered_free). Returns HOSO_ASYNC, or an error with r->err. */
int hoso_broker_gather(hoso_req *r, const void *query, size_t len, const char *tag, hoso_offload_done done);
void hoso_gathered_free(void *g);

/* What the WebSocket push uses of the cluster (live.c): hoso_app.remote. */
extern const hoso_remote_ops hoso_broker_remote_ops;

/* The delivery engine's cluster mode (events.c): the stream as its consumers' source,
 * the shard's node as their sink, leases so that one node at a time delivers. */
extern const hoso_engine_cluster hoso_broker_engine_hooks;

/* Prometheus lines of the broker (hoso_app.metrics). */
void hoso_broker_metrics(msgpack_sbuffer *out);

/* Admin commands through the cluster (admin.c). The node runs a command with the
 * executor main.c registers (server/tools/): 0, or HOSO_E* with why filled. */
typedef int (*hoso_admin_exec)(hoso_store *s, const msgpack_object *cmd, char *why, size_t whysz);
void hoso_broker_set_admin(hoso_admin_exec fn);
/* The tool's side: sends cmd (msgpack), signed with s's key, to the node of shard (or
 * to every node when shard < 0) and waits for each; prints each node's outcome on
 * stderr, prefixed with what. Returns 0 when every node ran it, else 1. */
int hoso_cluster_admin_send(const hoso_cluster *c, hoso_store *s, int shard, const void *cmd, size_t len,
                            const char *what);

/* The tool's side of a question to every node that holds shards (hosod report
 * --cluster): each(ctx, node, answer) per node in the file's order. Errors:
 * UNAVAILABLE (NATS, or a node down: why), each's non-zero return. */
int hoso_cluster_query(const hoso_cluster *c, const void *query, size_t len,
                       int (*each)(void *ctx, const char *node, const void *data, size_t len), void *ctx, char *why,
                       size_t whysz);

/* hosod cluster ...: the offline side (status). Returns the exit code. */
int hoso_cluster_cmd(int argc, char **argv);

/* relay.c: executes forwarded requests against this node's own listener. */
int hoso__relay_start(const char *host, unsigned port, unsigned threads);
void hoso__relay_stop(void);
/* Queues request bytes (HTTP/1.1) and calls back reply(ctx, bytes, len) on a relay
 * thread with the raw reply (len 0: failed). ctx owned by the callback. */
int hoso__relay_submit(void *req, size_t len, int head, void (*reply)(void *ctx, const char *resp, size_t len),
                       void *ctx);

#endif
