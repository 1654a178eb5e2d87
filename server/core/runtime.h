/*
 * runtime.h - the inside of hosod's runtime, shared by the files of server/core/ and by
 * server/push/ (the one designed interface between the two): the server and worker
 * structures, the router, the writer's internals and the HTTP helpers. Everything else
 * uses internal.h only.
 *
 * Threads: a hoso_worker is touched only by its own thread once started, except for
 * the atomic counters and the multithread receiver (h2o_multithread_send_message is
 * safe from any thread). The writer owns every write transaction.
 */
#ifndef HOSO_SERVER_CORE_RUNTIME_H
#define HOSO_SERVER_CORE_RUNTIME_H

#include <pthread.h>
#include <h2o.h>
#include <uv.h>
#include "internal.h"

#define HOSO_MAX_SINKS 8

typedef struct hoso_writer hoso_writer;
typedef struct hoso_hub hoso_hub;

struct hoso_worker {
    hoso_server *srv;
    unsigned index;
    pthread_t thread;
    int started;
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;                     /* this worker's SO_REUSEPORT socket */
    uv_poll_t listen_poll;             /* accepts by hand (server.c: on_listen) */
    int listening;                     /* listen_poll started */
    hoso_txn *rtxn;                    /* this thread's read txn (hoso__worker_read) */
    h2o_multithread_receiver_t done_rx;/* writer -> worker: ops with their results */
    h2o_multithread_receiver_t offload_rx; /* registration threads -> worker (offload.c) */
    h2o_multithread_receiver_t post_rx;    /* any thread -> worker: hoso_worker_post */
    uv_async_t ctl;                    /* main -> worker: look at stop_phase */
    uv_check_t log_flush;              /* after each turn: the request lines (log.c) */
    atomic_long inflight;              /* ops submitted by this worker, not yet answered */
    atomic_long conns;                 /* open connections */
    int spare_fd;                      /* kept open to accept and shed when out of files */
    uv_timer_t relisten;               /* accepting again after a pause out of files */
    int draining;                      /* stop phase 1 seen: not accepting any more */
    _Atomic int64_t paused_warned_ms;  /* the last "not accepting" warning */
    atomic_int stop_phase;             /* 1: stop accepting, 2: leave the loop */
    int finished;                      /* the loop ended (see park_forever in server.c) */
    hoso_hub *hub;                     /* push hub of this worker's WebSocket connections */
    _Atomic(SSL_CTX *) tls_next;       /* main -> worker: a reloaded TLS context (tls.c) */
};

struct hoso_server {
    hoso_config cfg;
    hoso_app app;
    hoso_store *store;
    int lock_fd;            /* the data dir's serving lock (hoso_dir_lock) */
    SSL_CTX *tls;           /* --tls-cert/--tls-key: the context of the first start */
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *hostconf;
    hoso_worker *workers;
    unsigned nworkers;
    hoso_writer *writer;
    int64_t started_at_ms;
    atomic_int stopping;
    long max_conns;                    /* client connections over all workers */
    atomic_long nconns;                /* open client connections, counted against max_conns */
    _Atomic uint64_t refused_limit, refused_files; /* connections shed: at max_conns, out of files */
    _Atomic int64_t shed_warned_ms[2];  /* the last warning of each (server.c: warn_shed) */
    /* WebSocket subscriptions over all hubs. The writer frames a committed batch for
     * push only when this is non-zero: a subscription joins its hub before its first
     * storage read, so one that appears after the writer looked reads those commits
     * from storage instead. */
    atomic_long ws_subscriptions;
    pthread_mutex_t sinks_lock;
    size_t nsinks;
    struct {
        hoso_event_sink fn;
        void *ctx;
    } sinks[HOSO_MAX_SINKS];
};

/* server.c ------------------------------------------------------------------------- */
/* This worker's read transaction, renewed (made on first use): the one place a worker
 * renews it, for requests and WebSocket steps alike. The caller resets it with
 * hoso_txn_reset when its step is done. Worker thread only. Errors: storage's. */
int hoso__worker_read(hoso_worker *w, hoso_txn **out);
/* Hands committed events to every registered sink (writer thread). */
void hoso__server_publish(hoso_server *srv, const hoso_event *ev, size_t n);

/* router.c ------------------------------------------------------------------------- */
/* Matches method and path (no query) against the table routes[0..n); HEAD matches a
 * GET route. Path parameters are percent-decoded, NUL-terminated copies in pool.
 * Returns 0 with *out set, HOSO_ENOT_FOUND when no pattern matches the path,
 * HOSO_EMETHOD_NOT_ALLOWED when one does for other methods (then allow, when not NULL,
 * lists them: "GET, HEAD, POST"), HOSO_EBAD_REQUEST for a parameter that decodes to '/'
 * or NUL, or that holds a malformed escape. */
int hoso__route_match(const hoso_route *routes, size_t n, const char *method, size_t mlen, const char *path,
                      size_t plen, h2o_mem_pool_t *pool, const hoso_route **out, const char *params[3],
                      size_t *nparams, char *allow, size_t allow_sz);

/* Percent-decoding of URL parts into out (NUL-terminated, at most outsz-1 bytes).
 * HOSO_URL_FORM also turns '+' into a space (query strings) and copies a malformed
 * escape as it is; without it (path segments) a malformed escape is an error. A
 * decoded NUL is always an error, and so is a decoded '/' with HOSO_URL_SEGMENT.
 * Returns the decoded length, or -1. */
enum { HOSO_URL_FORM = 1, HOSO_URL_SEGMENT = 2 };
long hoso__url_decode(const char *s, size_t len, unsigned flags, char *out, size_t outsz);

/* negotiate.c: content negotiation, pure functions of header values ----------------- */
/* The body type a Content-Type value names (parameters ignored). */
enum { HOSO_BODY_MSGPACK, HOSO_BODY_JSON, HOSO_BODY_OTHER };
int hoso__body_type(const char *ctype, size_t len);
/* 1 when the reply should be JSON: Accept prefers JSON over msgpack by q-value, or
 * names neither (wildcards included) and the request body was JSON or the route
 * replies JSON by default (route_flags & HOSO_R_JSON). */
int hoso__wants_json(const char *accept, size_t len, unsigned route_flags, int body_is_json);

/* writer.c ------------------------------------------------------------------------- */
/* Starts the writer thread. Errors: NOMEM, INTERNAL. */
int hoso__writer_start(hoso_server *srv, hoso_writer **out);
/* Refuses new ops (they get UNAVAILABLE), runs everything already queued, then joins
 * the thread. The struct stays valid for workers still submitting until
 * hoso__writer_free, called once the workers are gone. Main thread only. */
void hoso__writer_stop(hoso_writer *w);
void hoso__writer_free(hoso_writer *w);
/* Worker side: the receiver callback for finished ops (registered on ctx.queue). */
void hoso__writer_on_done(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages);

/* http.c --------------------------------------------------------------------------- */
/* Registers the one root handler on the host config. */
void hoso__http_register(hoso_server *srv, h2o_hostconf_t *hostconf);
/* Sends op's reply (or error) for r: the writer's delivery on r's worker, while the
 * request is alive. */
void hoso__http_send_op(hoso_req *r, hoso_wop *op);
/* Monotonic microseconds. */
uint64_t hoso__now_usec(void);
/* Counts r as answered with status and a body of bytes: its latency (since it
 * arrived) in the metrics, and its line in the request log. */
void hoso__req_finished(hoso_req *r, int status, size_t bytes);
/* The token of r's Authorization header: 1 with *token and *len set, 0 when there is
 * no Authorization header, -1 when it is not a Bearer token. */
int hoso__req_bearer(hoso_req *r, const char **token, size_t *len);

/* tls.c ---------------------------------------------------------------------------- */
/* A server TLS context from PEM files (TLS 1.2+, AEAD with forward secrecy, ALPN h2 and
 * http/1.1). Logs why it fails. Errors: IO, NOMEM. */
int hoso__tls_context(const char *cert, const char *key, SSL_CTX **out);
/* SIGHUP (main thread): builds the context anew and hands it to every worker; on
 * failure the old one stays, and the log says why. */
void hoso__tls_reload(hoso_server *srv);
/* On a worker: takes a context handed over by hoso__tls_reload, if any. */
void hoso__tls_take(hoso_worker *w);

/* offload.c ------------------------------------------------------------------------ */
/* Worker side: the receiver callback for hashed registrations (on ctx.queue). */
void hoso__offload_on_done(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages);

/* metrics.c ------------------------------------------------------------------------ */
/* Zeroes every counter and names the request counters after routes[0..n). */
void hoso__metrics_init(const hoso_route *routes, size_t n);

#endif
