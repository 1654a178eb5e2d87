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
