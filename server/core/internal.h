/*
 * server/core/ - hosod's runtime: configuration, workers (h2o on libuv), HTTP, the
 * router, the writer (group commit), the offload pool, metrics. It knows no route and
 * no tool: main.c hands it the route table and the seed (hoso_app).
 *
 * internal.h - what the rest of hosod uses of core: configuration, the caller, the
 * request and reply API of route handlers, writer ops, offloading, the event sinks and
 * metrics. No h2o type appears here; route handlers that need h2o itself (the
 * WebSocket upgrade) include it on their own.
 *
 * Threads: route handlers run on the worker thread that owns the request. Writer ops
 * (hoso_wop.apply) run on the single writer thread inside a nested write transaction.
 * A reply is always produced on the owning worker.
 */
#ifndef HOSO_SERVER_CORE_INTERNAL_H
#define HOSO_SERVER_CORE_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include "hoso_protocol.h"
#include "hoso_storage.h"

#define HOSO_VERSION "0.1.0"

/* Log levels and formats (log.c, below). */
typedef enum hoso_log_level { HOSO_LOG_DEBUG, HOSO_LOG_INFO, HOSO_LOG_WARN, HOSO_LOG_ERROR } hoso_log_level;
typedef enum hoso_log_format { HOSO_LOG_TEXT, HOSO_LOG_JSON } hoso_log_format;

/* ---------------------------------------------------------------------------------- */
/* Configuration (command line of `hosod serve`). */
typedef struct hoso_config {
    char host[64];          /* default 127.0.0.1 */
    uint16_t port;          /* default 8080 */
    char data_dir[PATH_MAX];/* default ./var */
    unsigned workers;       /* default: number of cores */
    /* --max-connections N: client connections over all workers; 0 means the open files
     * limit less a reserve for everything else (server.c) */
    unsigned max_connections;
    hoso_limits limits;     /* body limit etc.: --max-body BYTES */
    int64_t session_ttl_ms; /* default 30 days */
    unsigned max_batch;     /* writer: most ops in one commit, default 1024 */
    uint64_t map_size;      /* --map-size BYTES: the LMDB map (0: the store's default, 16 GiB) */
    int demo;               /* --demo: seed the demo catalogue and demo accounts */
    int create;             /* --create: make the data dir and a new store when it holds none */
    char tls_cert[PATH_MAX];/* --tls-cert FILE: PEM chain; with tls_key, HTTPS only */
    char tls_key[PATH_MAX]; /* --tls-key FILE: PEM private key */
    int quiet;
    /* Reverse proxies whose X-Forwarded-For names the client (--trusted-proxy
     * ADDR[/BITS], up to 8): from any other peer the header is ignored. */
    struct {
        int family;             /* AF_INET or AF_INET6 */
        uint8_t addr[16];
        unsigned bits;
    } trusted[8];
    unsigned ntrusted;
    hoso_log_level log_level;   /* --log-level, default info (a line per request) */
    hoso_log_format log_format; /* --log-format text|json, default text */
    /* Owner feed retention (GET /v1/sync): 0 means the default below. */
    uint64_t feed_max_events;   /* --feed-max-events N: entries kept per owner */
    unsigned feed_max_age_days; /* --feed-max-age-days D: age kept before the newest */
    /* WebSocket push (server/push/ws.c) */
    size_t ws_max_pending;      /* bytes queued for one connection before 4008; --ws-max-pending, 1 MiB */
    size_t ws_max_pending_msgs; /* frames queued for one connection before 4008; 1000 */
    unsigned ws_ping_ms;        /* ping period; --ws-ping MS, 25 s */
    unsigned ws_idle_ms;        /* close after this long without a frame; --ws-idle MS, 60 s */
    unsigned ws_auth_ms;        /* close 4001 without a token by then; --ws-auth-timeout MS, 10 s */
    /* Bot webhooks: also allow http and loopback/private addresses as callback URLs
     * (--webhook-allow-private; tests and single-host setups). */
    int webhook_allow_private;
    /* Uploads (server/routes/uploads.c): the largest file, --max-file BYTES, 10 MiB. */
    uint64_t max_file;
    /* Cluster mode: 1 when this node's shards hold the account (an id of 32 hex); NULL
     * on a single node, which holds every account. The seed creates only those. */
    int (*holds_account)(const char *account);
} hoso_config;

#define HOSO_FEED_MAX_EVENTS_DEFAULT 10000
#define HOSO_FEED_MAX_AGE_DAYS_DEFAULT 30

/* Defaults of `hosod serve` (docs/operations.md). */
void hoso_config_default(hoso_config *cfg);
/* Fills the feed retention of the store options from cfg (defaults for zeros): what
 * the store that `hosod serve` opens trims to. */
void hoso_config_feed_retention(const hoso_config *cfg, hoso_store_options *so);

typedef struct hoso_server hoso_server;
typedef struct hoso_worker hoso_worker;
struct hoso_route;

/* ---------------------------------------------------------------------------------- */
/* The caller: who a request or a writer op acts for. Filled once by authentication
 * (hoso_authenticate) from the account's clear fields; copied whole into every writer
 * op, so a field added here reaches every op. */
typedef struct hoso_caller {
    char account[33]; /* account id (32 hex), "" when anonymous */
    hoso_role role;
    char agency[48];  /* officers and bots: their agency code; "" for none */
    char scopes[64];  /* bots: space-separated scopes ("lookup subscribe"); "" for none */
} hoso_caller;

/* 1 if who's scopes name scope. */
int hoso_caller_has_scope(const hoso_caller *who, const char *scope);

/* Looks the bearer token up in t and fills *who from the account's clear fields: id,
 * role, agency (the sealed personal data is not opened). Both HTTP and the WebSocket
 * handshake authenticate here. Any thread with a read transaction.
 * Errors: UNAUTHORIZED (empty or over-long token, unknown or expired session, account
 * gone), CORRUPT, IO. */
int hoso_authenticate(hoso_txn *t, const char *token, size_t len, int64_t now_ms, hoso_caller *who);

/* ---------------------------------------------------------------------------------- */
/* Requests as route handlers see them. */
typedef struct hoso_req {
    struct st_h2o_req_t *h2o;
    hoso_worker *worker;
    hoso_server *srv;
    const struct hoso_route *route;
    int json;                   /* reply in JSON (Accept / request content type) */
    int has_body;
    hoso_doc body;              /* decoded body (msgpack or JSON), when has_body */
    const char *params[3];      /* path parameters ({} in the pattern), NUL-terminated */
    size_t nparams;
    hoso_txn *rtxn;             /* this worker's read txn, renewed for this request */
    int authed;
    hoso_caller who;            /* the caller when authed */
    char token[64];             /* the bearer token when authed */
    hoso_errinfo err;           /* filled by handlers that return an error */
    int64_t retry_after_ms;     /* with a 429: sent as Retry-After (seconds, rounded up) */
} hoso_req;

/* The client's address as text: the peer's, or the last address of X-Forwarded-For
 * that is not a trusted proxy when the peer is one (hoso_config.trusted). "" when
 * unknown. Worker thread. */
void hoso_req_peer(hoso_req *r, char *out, size_t n);

/* A handler returns 0 once it replied, HOSO_ASYNC after handing an op to the writer,
 * or a negative HOSO_E* (with details in r->err) for the runtime to reply with. */
#define HOSO_ASYNC 1
typedef int (*hoso_route_fn)(hoso_req *r);

enum {
    HOSO_R_AUTH = 1 << 0,        /* Bearer token required (401 otherwise) */
    HOSO_R_BODY = 1 << 1,        /* a msgpack/JSON body is decoded into r->body */
    HOSO_R_JSON = 1 << 2,        /* reply JSON unless msgpack is asked (bots) */
    HOSO_R_RAW = 1 << 3,         /* the body is bytes for the handler (hoso_req_entity), at
                                    most max_body, never decoded */
    HOSO_R_CITIZEN = 1 << 8,     /* roles allowed (with AUTH); none set = any role */
    HOSO_R_OFFICER = 1 << 9,
    HOSO_R_BOT = 1 << 10,
    HOSO_R_ADMIN = 1 << 11,
};

typedef struct hoso_route {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/v1/dossiers/{}/supplement": {} matches one segment */
    hoso_route_fn fn;
    unsigned flags;
    const char *name;    /* metrics label, e.g. "dossier_get" */
} hoso_route;

/* Replies. body is a msgpack object; the runtime converts it to JSON when r->json.
 * Return 0 so handlers can `return hoso_reply(...)`. */
int hoso_reply(hoso_req *r, int http_status, const void *msgpack, size_t len);
int hoso_reply_error(hoso_req *r, int err, const hoso_errinfo *ei);
/* Raw reply (metrics text, healthz). content_type NULL: none (204, 304). */
int hoso_reply_raw(hoso_req *r, int http_status, const char *content_type, const void *body, size_t len);
/* A header for the reply about to be sent (name lower-case; both copied). */
void hoso_reply_header(hoso_req *r, const char *name, const char *value);
/* The headers of a personal reply a client keeps and revalidates: ETag (etag copied),
 * Cache-Control: private, no-cache, and Vary: accept, authorization. */
void hoso_reply_revalidated(hoso_req *r, const char *etag);
/* A streamed reply of len bytes: read(ctx, buf, cap) fills the next piece (> 0 bytes,
 * or < 0 to abort the response), called on r's worker as the client takes them;
 * done(ctx) runs once when the response ends or the client went away. */
int hoso_reply_stream(hoso_req *r, int http_status, const char *content_type, uint64_t len,
                      ssize_t (*read)(void *ctx, void *buf, size_t cap), void (*done)(void *ctx), void *ctx);
/* A request header's value (first occurrence; name lower-case) copied into buf; NULL
 * if absent or longer than bufsz-1. */
const char *hoso_req_header(hoso_req *r, const char *name, char *buf, size_t bufsz);
/* 1 if the request's If-None-Match names etag (a quoted entity tag; W/ prefixes are
 * ignored on both sides, the weak comparison RFC 9110 asks for) or is "*". */
int hoso_req_etag_matches(hoso_req *r, const char *etag);
/* 1 if the request has header `name` (tells a value too long for hoso_req_header's
 * buffer from an absent one). */
int hoso_req_has_header(hoso_req *r, const char *name);
/* The raw body of a HOSO_R_RAW route (len 0 and ptr "" when none). */
void hoso_req_entity(hoso_req *r, const void **ptr, size_t *len);
/* Query parameter `name` URL-decoded into buf; NULL if absent or longer than bufsz-1. */
const char *hoso_req_query(hoso_req *r, const char *name, char *buf, size_t bufsz);

/* ---------------------------------------------------------------------------------- */
/* Writer ops. A handler that changes state builds an op and submits it; the writer
 * runs op->apply inside a nested transaction of the current batch, commits the batch
 * (one fsync for many ops), then the owning worker sends op's reply, or drops it if
 * the client went away meanwhile. apply must not touch the request (it may be gone):
 * everything it needs is in the op.
 *
 * Idempotency is generic: when op->op_id is set, the writer first looks up
 * (account, op_id); if found, the stored reply is sent and apply is not called.
 * Otherwise the reply apply produced (success or 4xx error) is stored with the op in
 * the same transaction. 5xx results are not stored, so a retry can succeed. */
typedef struct hoso_wop hoso_wop;
typedef int (*hoso_wop_fn)(hoso_wop *op, hoso_txn *txn);

struct hoso_wop {
    hoso_wop_fn apply;       /* writer thread; 0 with op->reply set, or HOSO_E* + op->err */
    void *data;              /* handler data owned by the op ... */
    void (*free_data)(void *data); /* ... freed with it (may be NULL) */
    hoso_doc body;           /* the request body, moved from the request (may be empty) */
    int has_body;
    hoso_caller who;         /* the caller (account "" when anonymous or the server itself) */
    char op_id[80];          /* idempotency key, "" = none */
    char params[3][96];      /* copies of the path parameters */
    int64_t now;             /* ms, taken when the request arrived */
    /* When set, runs on the request's worker instead of the msgpack reply, after the op
     * ran (op->result 0 or HOSO_E* with op->err): replies with headers of its own. */
    void (*on_reply)(hoso_req *r, hoso_wop *op);
    /* results, set by apply */
    int http_status;         /* default 200 */
    msgpack_sbuffer reply;   /* msgpack body */
    hoso_errinfo err;
    int result;              /* 0 or HOSO_E* */
    int replayed;            /* the reply is the one stored under op_id (Idempotent-Replayed) */
    /* runtime private */
    void *_private;
};

/* The one way to start an op, queued or run in place: zeroes op, sets apply, the
 * caller (NULL: the server itself), the time and the default 200 reply. Release with
 * hoso_wop_destroy. Any thread. */
void hoso_wop_init(hoso_wop *op, hoso_wop_fn apply, const hoso_caller *who, int64_t now_ms);
/* Frees what the op owns: its reply, its body and data (free_data). */
void hoso_wop_destroy(hoso_wop *op);
/* A new queued op for r (hoso_wop_init with r's caller): moves r->body into it, copies
 * the path params, takes op_id from the body's "op_id" when present. NULL on NOMEM. */
hoso_wop *hoso_wop_new(hoso_req *r, hoso_wop_fn apply);
/* Queues op for the writer; the runtime owns it from here. Returns HOSO_ASYNC. */
int hoso_writer_submit(hoso_req *r, hoso_wop *op);
/* Queues an op of the server's own (no request, no reply: the overdue scheduler) for
 * the writer, so that it commits with a batch and its events are published like any
 * other's. data is freed with free_data after the op ran. Any thread. Errors: NOMEM,
 * UNAVAILABLE (stopping; data freed). */
int hoso_writer_submit_own(hoso_server *srv, hoso_wop_fn apply, void *data, void (*free_data)(void *data));
/* Waits until every op queued before the call has had its batch committed (or failed),
 * at most timeout_ms: what a thread queued with hoso_writer_submit_own is on disk
 * before that thread writes something that depends on it in a transaction of its own.
 * Any thread but the writer. Errors: UNAVAILABLE (timed out, or the writer stopped
 * first). */
int hoso_writer_barrier(hoso_server *srv, int timeout_ms);
/* For ops run by the server itself (demo seeding, admin commands): runs op in one
 * transaction synchronously on the calling thread, which must not be inside another
 * write transaction of this store. Returns the commit's error or op->result. */
int hoso_run_write(hoso_store *s, hoso_wop *op);
/* hoso_run_write of a new op of the server's own (apply, data, now): the error it
 * explains into *err_out when err_out is not NULL. */
int hoso_run_job(hoso_store *s, hoso_wop_fn apply, void *data, int64_t now_ms, hoso_errinfo *err_out);

/* Runs op inside parent (a write transaction of the writer thread) in its own child,
 * with the op_id rules above: for ops made inside another op's apply (POST /v1/sync).
 * Returns 1 when op->op_id had a stored reply (apply not called: a duplicate), else 0;
 * op->result, op->http_status and op->reply tell the outcome, as for a queued op. */
int hoso_wop_run_nested(hoso_txn *parent, hoso_wop *op);

/* Sets op->err (message from fmt) and op->result to err; returns err. */
int hoso_wop_fail(hoso_wop *op, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------------------- */
/* Blocking work off the event loop (server/core/offload.c). fn(data) runs on libuv's
 * thread pool; then, on r's worker and only if the request is still alive, done(r, data,
 * fn's result) runs and owns data: it replies (0), submits a writer op (HOSO_ASYNC), or
 * returns HOSO_E* with r->err for the runtime to reply. If the client went away,
 * free_data(data) is called instead. By the time done runs, r->body and r->rtxn are
 * gone (r->who stays): keep what done needs in data (or in a writer op made before).
 * Returns HOSO_ASYNC, or RATE_LIMITED (too many pending, data freed), NOMEM. */
typedef int (*hoso_offload_done)(hoso_req *r, void *data, int result);
/* Budgets of waiting work: registrations have their own, so a flood of them never
 * keeps a citizen from signing in. */
enum {
    HOSO_OFFLOAD_LOGIN,
    HOSO_OFFLOAD_REGISTER,
    HOSO_OFFLOAD_RESOLVE, /* DNS of callback URLs */
    HOSO_OFFLOAD_UPLOAD,  /* an upload's piece to disk (write + fdatasync) */
    HOSO_OFFLOAD_BROKER   /* handed to the cluster broker (hoso_req_hand_off) */
};
int hoso_req_offload(hoso_req *r, int budget, int (*fn)(void *data), hoso_offload_done done,
                     void (*free_data)(void *data), void *data);
/* Work another thread already waits for (the cluster broker): start(ticket, data) runs
 * at once on r's worker and hands the ticket over without blocking; that thread calls
 * hoso_ticket_finish(ticket, result) exactly once when done, and from then on done
 * runs as for hoso_req_offload (or free_data, when the client went away). start
 * returns 0, or HOSO_E* (with r->err) when it could not hand it over (then the ticket
 * is dropped and data freed). Returns HOSO_ASYNC, or as hoso_req_offload. */
typedef struct offload_job hoso_ticket;
int hoso_req_hand_off(hoso_req *r, int (*start)(hoso_ticket *t, void *data), hoso_offload_done done,
                      void (*free_data)(void *data), void *data);
/* Any thread, once per ticket. */
void hoso_ticket_finish(hoso_ticket *t, int result);

/* Runs fn(arg) on worker w's loop, from any thread. Errors: NOMEM (fn will not run). */
int hoso_worker_post(hoso_worker *w, void (*fn)(void *arg), void *arg);

/* ---------------------------------------------------------------------------------- */
/* Cluster mode as the WebSocket push sees it (server/push/ws.c): a connection whose
 * token belongs to another node's shard learns its caller, reads its feed and gets its
 * live events through these; main.c hands the broker's in (hoso_app.remote). The
 * callbacks run on the worker given. */
typedef struct hoso_feed_page {
    int err;              /* 0, UNAUTHORIZED, CURSOR_EXPIRED, UNAVAILABLE */
    char epoch[33];       /* the epoch of the node that holds the feed */
    uint64_t head;        /* its last seq */
    int recovered;        /* since was within the feed (and the epoch the same) */
    int more;             /* more events after these */
    size_t n;
    struct hoso_feed_item {
        uint64_t seq;
        const void *body; /* the stored feed body {seq, at, type, ...} */
        size_t len;
    } *items;
    void *priv;
} hoso_feed_page;
typedef struct hoso_remote_ops {
    /* 1 when the token names a shard of another node. */
    int (*foreign)(const char *token, size_t len);
    /* The caller of token, from its node: done(arg, 0 or HOSO_E*, who) on w. */
    int (*auth)(hoso_worker *w, const char *token, size_t len,
                void (*done)(void *arg, int err, const hoso_caller *who), void *arg);
    /* The token's owner feed after since (at most limit events), from its node; epoch
     * (may be NULL) is the client's: done(arg, page) on w, page freed with page_free. */
    int (*feed)(hoso_worker *w, const char *token, uint64_t since, const char *epoch, unsigned limit,
                void (*done)(void *arg, hoso_feed_page *page), void *arg);
    void (*page_free)(hoso_feed_page *page);
    /* Live events of owner reach this node's hubs from the call on (counted: every
     * watch has its unwatch). */
    int (*watch)(const char *owner);
    void (*unwatch)(const char *owner);
    /* Changes each time the broker's connection to NATS comes back: live events may
     * have been lost in between. */
    unsigned (*generation)(void);
} hoso_remote_ops;
/* Events committed on another node, handed to this node's hubs: to owner streams, or
 * (agency) to agency streams only. Any thread. */
void hoso_server_push_remote(hoso_server *srv, const hoso_event *ev, size_t n, int agency);

/* ---------------------------------------------------------------------------------- */
/* A request as bytes and a reply from bytes (cluster forwarding, server/broker/). */
/* Appends r as an HTTP/1.1 request to out: request line, its end-to-end headers, an
 * X-Forwarded-For with the client's address (hoso_req_peer) in place of any it had,
 * X-Request-Id, Content-Length and the body. Worker thread. Errors: NOMEM. */
int hoso_req_http1(hoso_req *r, msgpack_sbuffer *out);
/* Replies to r with an HTTP/1.1 response in resp (what another hosod sent for the
 * same request): its status, end-to-end headers and body. Errors: BAD_GATEWAY-ish
 * INTERNAL when resp is not one (nothing sent). */
int hoso_reply_http1(hoso_req *r, const char *resp, size_t len);

/* ---------------------------------------------------------------------------------- */
/* Sign-in throttling (server/core/throttle.c). Any thread. */
enum {
    HOSO_THROTTLE_ACCOUNT,     /* failed sign-ins of an account */
    HOSO_THROTTLE_ADDRESS,     /* failed sign-ins from an address */
    HOSO_THROTTLE_REGISTER,    /* registrations from an address */
    HOSO_THROTTLE_LOOKUP_CODE, /* bot lookups of a dossier code with a wrong verifier */
    HOSO_THROTTLE_BOT,         /* a bot's lookups, as a rate (hoso_throttle_rate) */
    HOSO_THROTTLE_KINDS
};
/* Counts one attempt of key (of kind) and returns 0, or RATE_LIMITED with
 * *retry_after_ms set, counting nothing, while the key must wait. */
int hoso_throttle_attempt(int kind, const char *key, int64_t now_ms, int64_t *retry_after_ms);
/* Gives back the count of an attempt that turned out right (an address's sign-in, a
 * lookup with the right verifier). */
void hoso_throttle_refund(int kind, const char *key);
/* Forgets key (an account after a successful sign-in). */
void hoso_throttle_clear(int kind, const char *key);
/* The throttling key of a source address: itself, or its /64 for IPv6. */
void hoso_throttle_addr_key(const char *addr, char *out, size_t n);
/* A rate with a burst (HOSO_THROTTLE_BOT): takes one token for key; RATE_LIMITED with
 * *retry_after_ms when none is left. */
int hoso_throttle_rate(int kind, const char *key, int64_t now_ms, int64_t *retry_after_ms);

/* ---------------------------------------------------------------------------------- */
/* Committed events, handed from the writer to every worker's push hub and, later, to
 * the consumers. The interface stays explicit so a broker can replace it across nodes. */
typedef void (*hoso_event_sink)(void *ctx, const hoso_event *ev, size_t n);
/* Registers a sink called on the writer thread after each commit with that batch's
 * events (borrowed for the call). Up to 8 sinks; NOMEM beyond. Any thread. */
int hoso_server_add_event_sink(hoso_server *srv, hoso_event_sink fn, void *ctx);

/* ---------------------------------------------------------------------------------- */
/* The log (server/core/log.c): lines on stderr with a UTC timestamp, text or JSON, each
 * written whole. Any thread. Never log a token or personal data. */
/* Sets the level and format, and routes stdio's stderr (libraries, older messages)
 * through the log with a limit on repeated lines. Main thread, before other threads
 * start. Errors: NOMEM. */
int hoso_log_setup(hoso_log_level min, hoso_log_format format);
/* Writes the counts of repeated stderr lines held back so far (at stop). */
void hoso_log_flush(void);
/* "debug", "info", "warn", "error" -> *out; -1 for anything else. */
int hoso_log_level_parse(const char *s, hoso_log_level *out);
/* 1 if lines of level are written. */
int hoso_log_enabled(hoso_log_level level);
void hoso_log(hoso_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One request, at level info. */
typedef struct hoso_log_req {
    const char *id;     /* request id (X-Request-Id) */
    const char *method;
    const char *route;  /* route name, "unmatched" */
    int status;
    uint64_t usec;      /* arrival to reply */
    size_t bytes;       /* reply body */
} hoso_log_req;
/* One request, at level info. Gathered per thread and written by
 * hoso_log_thread_flush, which every worker calls once per turn of its loop. */
void hoso_log_request(const hoso_log_req *r);
/* Writes what this thread gathered. */
void hoso_log_thread_flush(void);

/* ---------------------------------------------------------------------------------- */
/* Metrics (server/core/metrics.c). Lock-free counters; safe from any thread. */
void hoso_metrics_request(const hoso_route *route, int http_status, uint64_t usec);
void hoso_metrics_batch(size_t ops, uint64_t commit_usec);
/* WebSocket push: open connections (a gauge, +1/-1; the subscriptions gauge is
 * srv->ws_subscriptions), event frames queued, the size of each finished replay,
 * acks received, slow consumers closed. */
void hoso_metrics_ws_conns(int delta);
void hoso_metrics_ws_delivered(uint64_t n);
void hoso_metrics_ws_replay(uint64_t events);
/* usec from a batch's commit to its frames handed to the sockets, for n deliveries. */
void hoso_metrics_ws_push_delay(uint64_t usec, uint64_t deliveries);
void hoso_metrics_ws_ack(void);
void hoso_metrics_ws_slow_close(void);
/* A sign-in or registration refused with 429: by account, address, registrations
 * from one address, or a full hashing queue ("busy"). */
void hoso_metrics_throttled(const char *by);
/* Offline sync: a GET /v1/sync that returned `events`; a snapshot of that many
 * dossiers and papers; the items of one POST /v1/sync by result. */
void hoso_metrics_sync_read(size_t events);
void hoso_metrics_sync_snapshot(size_t dossiers, size_t papers);
void hoso_metrics_sync_ops(size_t applied, size_t duplicate, size_t rejected);
/* Appends the Prometheus text exposition of every counter and of srv's gauges to out
 * (a line that does not fit in memory is left out). */
void hoso_metrics_render(hoso_server *srv, msgpack_sbuffer *out);
/* Appends printf's text to buf (any length; a text that does not fit in memory is left
 * out). For the text forms: metrics, reports. */
void hoso_sbuf_printf(msgpack_sbuffer *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------------------- */
/* The server (server/core/server.c). */
hoso_store *hoso_server_store(hoso_server *srv);
const hoso_config *hoso_server_config(hoso_server *srv);

/* What the composition root (main.c) hands the runtime: the route table, and the
 * seeding run once the data dir is open, before the writer starts and anything is
 * served (the catalogue, demo accounts). seed may be NULL. */
typedef struct hoso_app {
    const hoso_route *routes;
    size_t nroutes;
    int (*seed)(hoso_store *s, const hoso_config *cfg);
    /* Services beside the HTTP workers (the delivery engine): started after the
     * writer, before the first request; stopped after the writer committed its last
     * batch, before the store closes. metrics appends their Prometheus lines. Any of
     * them may be NULL. */
    int (*start)(hoso_server *srv, void *arg);
    void (*stop)(void *arg);
    void (*metrics)(msgpack_sbuffer *out);
    void *arg;
    /* Cluster mode: called for each matched request before authentication; returns 0
     * when this node answers it, HOSO_ASYNC when it went to another node (which
     * answers through the hook), or HOSO_E* with r->err. NULL on a single node. When
     * another node vouched for the caller, the hook sets r->who, r->token and
     * r->authed, and the runtime checks only the route's roles. */
    int (*forward)(hoso_req *r);
    /* Cluster mode: the WebSocket side of the broker (NULL on a single node). In
     * cluster mode agency streams get their events from the broker only (each node's
     * own included), owner streams from the writer and, for owners held elsewhere,
     * from the broker. */
    const hoso_remote_ops *remote;
    /* Called first when the server stops, before the workers do: services that hand
     * work to the workers from their own threads stop doing so. May be NULL. */
    void (*quiesce)(void *arg);
} hoso_app;

/* Runs the server until SIGINT/SIGTERM. Main thread only, once per process: the
 * worker threads stay parked after the stop until the process exits. Returns 0 after
 * a clean stop, or the error that kept it from starting (already printed). */
int hoso_server_run(const hoso_config *cfg, const hoso_app *app);

#endif
