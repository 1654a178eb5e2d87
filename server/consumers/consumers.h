/*
 * server/consumers/ - the delivery engine: consumers of the global log (the portal
 * mirror, bot webhooks) on their own libuv loop thread, never inside the writer.
 *
 * Each consumer reads the log from its own cursor (LMDB table `cursors`), delivers in
 * order per key (the dossier code), and moves its cursor only past events the peer
 * acknowledged or that were set aside (table `deliveries`): at-least-once, never out
 * of order for one key. A transient failure is retried with capped exponential
 * backoff and full jitter; a permanent refusal parks the event as a dead letter, and
 * the key's later events wait behind it while other keys keep flowing. At most a
 * window of events is held in memory whatever the backlog: when the window is full
 * behind a key that keeps failing, that key's events are set aside too and retried
 * from the table, so other keys keep flowing.
 *
 * Threads: everything runs on the engine thread except the functions marked "any
 * thread" (the writer's event sink, the admin routes).
 */
#ifndef HOSO_SERVER_CONSUMERS_H
#define HOSO_SERVER_CONSUMERS_H

#include <stdint.h>
#include <uv.h>
#include "core/internal.h"

/* ---------------------------------------------------------------------------------- */
/* The portal mirror's settings (`hosod serve --portal-*`, or a config file). */
typedef struct hoso_portal_config {
    char auth_url[512];      /* POST {username, password} -> {error_code: 0, session} */
    char url[512];           /* POST {session, madonvi, service, ...} */
    char user[128];
    char password[256];
    char agency[64];         /* madonvi */
    char ca_file[PATH_MAX];  /* extra CA bundle for https (default: the system's) */
    unsigned timeout_ms;     /* connect and response timeout (default 10000) */
    unsigned retry_min_ms;   /* first backoff (default 500) */
    unsigned retry_max_ms;   /* backoff cap (default 60000) */
    unsigned max_inflight;   /* dossiers sent at once (default 16) */
} hoso_portal_config;

void hoso_portal_config_default(hoso_portal_config *pc);
/* 1 when the mirror is configured (the five settings are there). */
int hoso_portal_configured(const hoso_portal_config *pc);
/* Reads KEY=VALUE lines (auth_url, url, user, password, agency, ca_file, timeout_ms,
 * retry_min_ms, retry_max_ms, max_inflight; # comments) from path, which must be a
 * regular file readable by its owner only. Prints why it fails. Errors: IO,
 * BAD_REQUEST. */
int hoso_portal_config_file(const char *path, hoso_portal_config *pc);

/* ---------------------------------------------------------------------------------- */
/* The engine. */
typedef struct hoso_engine hoso_engine;
typedef struct hoso_consumer hoso_consumer;

/* What a sink says of one delivery. */
typedef enum hoso_sent {
    HOSO_SENT_OK,        /* acknowledged: the event is done */
    HOSO_SENT_RETRY,     /* failed for now (5xx, bad reply): retry this event later */
    HOSO_SENT_PEER_DOWN, /* the peer is unreachable or overloaded: retry, and pause the consumer */
    HOSO_SENT_REFUSED,   /* refused for good: a dead letter */
} hoso_sent;

/* Where committed events come from, in order, each with its position (the global log
 * seq): this node's LMDB log today (hoso_lmdb_source), a broker's stream later. The
 * consumers' own state (cursors, set-aside deliveries) stays in the node's store. */
typedef struct hoso_source {
    void *ctx;
    /* The last position committed (0 when none), as far as the source knows. */
    int (*head)(void *ctx, uint64_t *pos);
    /* fn for the events after `after`, in order, at most limit; returns as hoso_log_scan. */
    int (*read)(void *ctx, uint64_t after, size_t limit, int (*fn)(void *fctx, const hoso_log_entry *e), void *fctx);
    /* The event at pos. Errors: NOT_FOUND, CORRUPT, IO. */
    int (*get)(void *ctx, uint64_t pos, hoso_log_entry *out);
    /* A shared source (the cluster's stream, read under a lease) keeps the cursor
     * itself; NULL for this node's log, whose cursor is in the node's store.
     * begin: this node starts reading (it got the lease): the cursor to start after.
     * commit: everything up to pos is done. end: this node stops reading. */
    int (*begin)(void *ctx, uint64_t *cursor);
    int (*commit)(void *ctx, uint64_t pos);
    void (*end)(void *ctx);
    /* 0 once the lease is not known to be this node's any more (it could not renew):
     * nothing new is started, before another node may take over. */
    int (*fresh)(void *ctx);
} hoso_source;

/* One delivery handed to a sink; the sink answers with hoso_job_done exactly once,
 * on the engine thread. */
typedef struct hoso_job {
    hoso_log_entry e;
    unsigned attempt;     /* 0 for the first */
    hoso_consumer *consumer;
    void *sink_data;      /* the sink's own, per job */
    /* engine private */
    void *_slot;
    int _replay;
} hoso_job;

/* The peer side of a consumer. */
typedef struct hoso_sink {
    const char *name;     /* cursor and metrics name: "portal" */
    void *ctx;
    unsigned max_inflight;
    unsigned retry_min_ms, retry_max_ms;
    int from_head;        /* a consumer never run before starts at the log's head, not at 0 */
    /* The ordering key of e (a dossier code) into key; 0 when e concerns this sink,
     * 1 to skip it (it is done at once). */
    int (*key)(void *ctx, const hoso_log_entry *e, char *key, size_t n);
    /* Starts delivering job; answers later (or at once) with hoso_job_done. */
    void (*send)(void *ctx, hoso_job *job);
    /* Stops: every job in flight is answered (RETRY) or forgotten; nothing is sent after. */
    void (*stop)(void *ctx);
    void (*free)(void *ctx);
    /* Optional: called on every turn of the engine's loop (answers that came from other
     * threads, deadlines); such a sink wakes the loop with hoso_engine_wake. */
    void (*poll)(void *ctx);
} hoso_sink;

/* The key of both sinks: the dossier code of dossier events (created, status,
 * updated, overdue) and messages; 1 (skip) for the others. */
int hoso_dossier_event_key(void *ctx, const hoso_log_entry *e, char *key, size_t n);

/* Ends a job: reason (may be NULL) explains a failure, retry_after_ms (0 = none) is
 * the peer's Retry-After. Engine thread. */
void hoso_job_done(hoso_job *job, hoso_sent result, int64_t retry_after_ms, const char *reason);
/* The engine's loop (for a sink's I/O). */
uv_loop_t *hoso_consumer_loop(hoso_consumer *c);
hoso_store *hoso_consumer_store(hoso_consumer *c);
hoso_server *hoso_consumer_server(hoso_consumer *c);
/* The sink queued a writer op for a delivery it finished (hoso_writer_submit_own): the
 * cursor is saved past that delivery only once the op is committed. Engine thread. */
void hoso_consumer_queued_write(hoso_consumer *c);

/* Cluster mode (server/broker/ provides it): each consumer reads the cluster's
 * stream on one node at a time, the holder of its lease, and each delivery runs on
 * the node that holds the event's shard (its dossier, subscriptions and counters are
 * there), through that node's own sink (hoso_engine_exec). */
typedef struct hoso_engine_cluster {
    /* The stream as the source of consumer name; from_head as its sink's. The name is
     * then one the broker keeps a lease for (hoso_engine_lease). */
    int (*source)(const char *name, int from_head, hoso_source *out);
    /* A sink that hands each job to the node of its event's shard (made after the
     * source of the same name). */
    int (*remote_sink)(const hoso_sink *local, hoso_sink *out);
} hoso_engine_cluster;

/* Starts the engine thread with the portal mirror when pc is configured (pc may be
 * NULL), registering its event sink on srv; in cluster mode when cl is given. Logs
 * whether the mirror is on. The engine is the process's (hoso_engine_get). Errors:
 * NOMEM, INTERNAL, IO. */
int hoso_engine_start(hoso_server *srv, const hoso_portal_config *pc, const hoso_engine_cluster *cl);
/* Cluster mode: this node holds (1) or no longer holds (0) the lease of consumer name.
 * Any thread. */
void hoso_engine_lease(const char *name, int held);
/* A turn of the engine's loop soon (a sink's poll has something). Any thread. */
void hoso_engine_wake(void);
/* Cluster mode: runs one delivery of another node's consumer with this node's sink of
 * that name; done(ctx, ...) follows once, on the engine thread. Any thread. Errors:
 * UNAVAILABLE (no engine, stopping), NOMEM. */
typedef void (*hoso_exec_done)(void *ctx, hoso_sent result, int64_t retry_after_ms, const char *reason);
int hoso_engine_exec(const char *name, const hoso_log_entry *e, unsigned attempt, hoso_exec_done done, void *ctx);
/* Stops the thread after saving every cursor (after the writer stopped). */
void hoso_engine_stop(void);
hoso_engine *hoso_engine_get(void);

/* What GET /v1/admin/mirror shows of a consumer. Any thread. */
typedef struct hoso_consumer_status {
    int on;                    /* the consumer exists (the mirror is configured) */
    int cluster, held;         /* cluster mode: whether this node holds its lease */
    uint64_t cursor, head;     /* head: the log's last seq */
    uint64_t lag_events;
    int64_t lag_ms;            /* age of the oldest event not yet delivered, 0 if none */
    unsigned inflight;
    uint64_t parked;           /* deliveries set aside (dead letters and those behind them) */
    uint64_t sent, retried, dead, renewals;
    char last_error[256];
    int64_t last_error_at;     /* ms, 0 if none */
} hoso_consumer_status;
/* NOT_FOUND when no consumer has that name. */
int hoso_engine_status(hoso_engine *eng, const char *name, hoso_consumer_status *out);
/* Re-queues the consumer's dead letters (and what waits behind them). Any thread.
 * Errors: NOT_FOUND. */
int hoso_engine_retry(hoso_engine *eng, const char *name);
/* Sinks count their own kind of event (session renewals). Any thread. */
void hoso_consumer_count_renewal(hoso_consumer *c);
/* One call to the peer took usec (the call latency histogram). Engine thread. */
void hoso_consumer_observe_call(hoso_consumer *c, uint64_t usec);
/* Prometheus lines of every consumer (hoso_metrics_render's extension). */
void hoso_engine_metrics(msgpack_sbuffer *out);

/* ---------------------------------------------------------------------------------- */
/* The portal sink (portal.c). Errors: NOMEM, BAD_REQUEST (a URL it cannot use). */
int hoso_portal_sink(const hoso_portal_config *pc, hoso_sink *out);
/* The bot webhook sink (webhooks.c). Errors: NOMEM. */
int hoso_webhook_sink(int allow_private, hoso_sink *out);

#endif
