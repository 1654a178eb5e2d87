/*
 * server/runtime.h - the hosod runtime shared by server.c, http.c, router.c, writer.c,
 * metrics.c and route_ops.c: the server and worker structures, the writer and the
 * router. Route handlers use internal.h only.
 *
 * Threads: a hoso_worker is touched only by its own thread once started, except for
 * the atomic counters and the multithread receiver (h2o_multithread_send_message is
 * safe from any thread). The writer owns every write transaction.
 */
#ifndef HOSO_SERVER_RUNTIME_H
#define HOSO_SERVER_RUNTIME_H

#include <pthread.h>
#include <uv.h>
#include "internal.h"

#define HOSO_VERSION "0.1.0"
#define HOSO_MAX_SINKS 8

typedef struct hoso_writer hoso_writer;
typedef struct hoso_hub hoso_hub;
typedef struct hoso_ws hoso_ws;

struct hoso_worker {
    hoso_server *srv;
    unsigned index;
    pthread_t thread;
    int started;
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    int listening;
    hoso_txn *rtxn;                    /* this thread's read txn, reset between requests */
    h2o_multithread_receiver_t done_rx;/* writer -> worker: ops with their results */
    uv_async_t ctl;                    /* main -> worker: look at stop_phase */
    atomic_long inflight;              /* ops submitted by this worker, not yet answered */
    atomic_long conns;                 /* open connections */
    atomic_int stop_phase;             /* 1: stop accepting, 2: leave the loop */
    int finished;                      /* the loop ended (see park_forever in server.c) */
    hoso_hub *hub;                     /* push hub of this worker's WebSocket connections */
};

struct hoso_server {
    hoso_config cfg;
    hoso_store *store;
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *hostconf;
    hoso_worker *workers;
    unsigned nworkers;
    hoso_writer *writer;
    int64_t started_at_ms;
    atomic_int stopping;
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

/* router.c ------------------------------------------------------------------------- */
/* Matches method and path (no query) against hoso_routes. Path parameters are
 * percent-decoded, NUL-terminated copies in pool. Returns 0 with *out set,
 * HOSO_ENOT_FOUND when no pattern matches the path, HOSO_EMETHOD_NOT_ALLOWED when one
 * does for another method, HOSO_EBAD_REQUEST for a parameter that decodes to '/' or
 * NUL. */
int hoso__route_match(const char *method, size_t mlen, const char *path, size_t plen, h2o_mem_pool_t *pool,
                      const hoso_route **out, const char *params[3], size_t *nparams);

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
/* Sends op's reply (or error) on req: used by the writer's delivery on the worker. */
void hoso__http_send_op(h2o_req_t *req, const hoso_route *route, int json, uint64_t start_usec,
                        hoso_wop *op);
/* Monotonic microseconds. */
uint64_t hoso__now_usec(void);
/* When r arrived (hoso__now_usec), for the latency of its deferred reply. */
uint64_t hoso__req_start_usec(hoso_req *r);

/* server.c ------------------------------------------------------------------------- */
/* Defaults of `hosod serve` (DESIGN.md). */
void hoso_config_default(hoso_config *cfg);
/* Runs the server until SIGINT/SIGTERM. Main thread only, once per process: the
 * worker threads stay parked after the stop until the process exits. Returns 0 after
 * a clean stop, or the error that kept it from starting (already printed). */
int hoso_server_run(const hoso_config *cfg);
/* Hands committed events to every registered sink (writer thread). */
void hoso__server_publish(hoso_server *srv, const hoso_event *ev, size_t n);

/* hub.c: the push hub, one per worker ---------------------------------------------- */
/* Committed events travel from the writer to every worker's hub once per batch (one
 * h2o_multithread message per worker, a refcounted array of events). Each hub indexes
 * its worker's WebSocket connections by subscription (owner id or agency) and hands
 * each event to the connections that want it. */

/* An event as the hub hands it to a connection. The frames are ready-made msgpack
 * {type: "event", seq, at, event, dossier|paper} for the owner's stream and the same
 * plus {owner, gseq} for an agency stream (docs/protocol.md). Shared, read-only. */
typedef struct hoso_hub_event {
    uint64_t gseq, seq;
    char owner[33];
    char agency[48];
    const uint8_t *frame, *aframe;
    size_t frame_len, aframe_len;
} hoso_hub_event;

enum { HOSO_SUB_NONE, HOSO_SUB_OWNER, HOSO_SUB_AGENCY };

/* The hub's bookkeeping inside a connection; ws.c embeds it, hub.c owns the links. */
typedef struct hoso_hub_member {
    hoso_ws *ws;
    h2o_linklist_t all;    /* every connection of the hub */
    h2o_linklist_t sub;    /* the index bucket of its subscription */
    h2o_linklist_t replay; /* connections with replay work queued */
    h2o_linklist_t drain;  /* connections waiting to send their close frame */
    h2o_linklist_t dirty;  /* touched by the batch being delivered */
    int kind;              /* HOSO_SUB_* */
    uint32_t hash;
    char key[48];          /* owner id or agency code */
} hoso_hub_member;

/* Creates w->hub on w's loop (main thread, before the worker thread starts).
 * Errors: NOMEM. */
int hoso__hub_init(hoso_worker *w);
/* Stop phase 1 on the worker: every connection gets close 1001, those still open
 * 300 ms later are dropped. */
void hoso__hub_stop(hoso_worker *w);
/* After the worker's loop ended (main thread, the writer is joined): frees undelivered
 * batches, unregisters the receiver and closes the hub's handles; the uv_run that
 * follows frees the hub. */
void hoso__hub_dispose(hoso_worker *w);
/* The event sink (hoso_server_add_event_sink, ctx = the server): writer thread. */
void hoso__hub_publish(void *srv, const hoso_event *ev, size_t n);
/* Builds the event frame from a stored feed body {seq, at, type, ...}: `type` becomes
 * `event`, and owner/gseq are added when owner != NULL. Appends to out.
 * Errors: CORRUPT (not a map), NOMEM. Any thread. */
int hoso__hub_frame(const void *body, size_t len, const char *owner, uint64_t gseq, msgpack_sbuffer *out);

/* Worker thread only. */
void hoso__hub_join(hoso_hub *h, hoso_hub_member *m, hoso_ws *ws);
void hoso__hub_leave(hoso_hub *h, hoso_hub_member *m);
void hoso__hub_subscribe(hoso_hub *h, hoso_hub_member *m, int kind, const char *key);
void hoso__hub_want_replay(hoso_hub *h, hoso_hub_member *m);
void hoso__hub_want_drain(hoso_hub *h, hoso_hub_member *m);
int hoso__hub_stopping(const hoso_hub *h);

/* ws.c: what the hub calls on a connection (worker thread). The functions marked
 * "may free" may destroy the connection: the caller must not touch it afterwards. */
void hoso__ws_deliver(hoso_ws *ws, const hoso_hub_event *ev, int agency_stream);
void hoso__ws_flush(hoso_ws *ws);                              /* may free */
void hoso__ws_tick(hoso_ws *ws, int64_t now_ms);               /* may free */
/* Sends up to budget replayed events; returns how many and sets *again when work
 * remains. */
size_t hoso__ws_replay(hoso_ws *ws, size_t budget, int *again);
void hoso__ws_drain(hoso_ws *ws);                              /* may free */
void hoso__ws_shutdown(hoso_ws *ws, int force);                /* may free */

/* metrics.c ------------------------------------------------------------------------ */
void hoso__metrics_init(void);

/* admin.c -------------------------------------------------------------------------- */
/* `hosod admin ...`, `hosod backup ...`, `hosod audit ...`: argv starts at the
 * subcommand word. Returns the process exit code (2 for usage errors). */
int hoso__cmd_admin(int argc, char **argv);
int hoso__cmd_backup(int argc, char **argv);
int hoso__cmd_audit(int argc, char **argv);
/* Creates an account (argon2id hash of password; bots also get a random webhook
 * secret, hex, copied to secret_out). id_out gets the account id. Runs its own write
 * transaction (hoso_run_write), so not while this process's writer runs.
 * Errors: ALREADY_EXISTS, STORAGE_FULL, IO, NOMEM. */
int hoso__account_create(hoso_store *s, hoso_role role, const char *username, const char *password,
                         const char *agency, const char *scopes, const char *full_name, char id_out[33],
                         char *secret_out, size_t secret_sz);

/* demo.c --------------------------------------------------------------------------- */
/* hoso_demo_seed, also writing the demo credentials to data_dir/demo-credentials.txt
 * (mode 0600) when data_dir is not NULL. */
int hoso__demo_seed_in(hoso_store *s, int with_accounts, const char *data_dir);

#endif
