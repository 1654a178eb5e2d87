/*
 * clients/sdk/ - libhoso_client, the C SDK a mobile app embeds.
 *
 * hoso_client.h - the C SDK that the mobile app embeds: the v1 HTTP API, an offline
 * outbox in a local LMDB file, and live push over WebSocket, all on the caller's libuv
 * loop (libwebsockets 4.1 attached to it as a foreign loop).
 *
 * Threads: a hoso_client belongs to the thread that runs its uv loop. Every function
 * here must be called on that thread, and every callback runs on it, from inside
 * uv_run(). Nothing here blocks except the hoso_client_run_* helpers, which run the
 * loop themselves.
 *
 * Errors: functions return 0 or a negative HOSO_E* code (hoso_protocol.h). Results of
 * requests arrive in a hoso_client_reply; a network failure is HOSO_EUNAVAILABLE with
 * the wire code "UNAVAILABLE" and a message that says what failed.
 *
 * Memory: strings passed in are copied before the call returns. Everything a callback
 * receives (replies, events, decoded dossiers) is borrowed: valid only until the
 * callback returns. Copy what must outlive it (hoso_msgpack_to_json, or repack the
 * msgpack_object).
 *
 * Offline outbox: submit, supplement, withdraw, rate, feedback, message and upload are written to
 * STATE_DIR/client.mdb with a client-made op_id before anything is sent, and removed
 * only once the server answered them (applied, duplicate or rejected). While the
 * server cannot be reached such a call completes with reply->queued = 1; the outbox is
 * flushed in order later (POST /v1/sync in batches, or the per-op endpoints when the
 * server has no /v1/sync), and the on_op_done callback reports each op's outcome.
 */
#ifndef HOSO_CLIENT_H
#define HOSO_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <msgpack.h>
#include "hoso_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hoso_client hoso_client;

/* An error as the client saw it: err is HOSO_E* (0 when there is none), code the wire
 * code ("VERSION_CONFLICT", "UNAVAILABLE" for network failures), http_status 0 when no
 * HTTP reply arrived. */
typedef struct hoso_client_error {
    int err;
    int http_status;
    char code[32];
    char message[200];
    char details[400]; /* VALIDATION_FAILED: "field: problem; ..." (may be truncated) */
} hoso_client_error;

/* The outcome of one request. Borrowed: valid during the callback only. */
typedef struct hoso_client_reply {
    hoso_client_error error;      /* error.err == 0 on success */
    int queued;                   /* 1: kept in the outbox, not answered yet (error.err
                                     is 0; error.message says why it was not sent) */
    const char *op_id;            /* the op's id for outbox calls, else NULL */
    const msgpack_object *body;   /* the decoded reply body, or NULL */
    const hoso_dossier *dossier;  /* reply.dossier decoded, when the reply has one */
    const hoso_dossier *dossiers; /* list replies (GET /v1/dossiers, agency list) */
    size_t ndossiers;
    const hoso_service *services; /* GET /v1/services */
    size_t nservices;
    const char *next;             /* list cursor; "" on the last page */
} hoso_client_reply;

typedef void (*hoso_client_cb)(hoso_client *c, const hoso_client_reply *r, void *ud);

/* One op of the outbox, as given to on_op_done. kind: "submit", "supplement",
 * "withdraw", "rate", "feedback", "message", "upload"; code: the dossier code or NULL; body: the op as
 * sent to POST /v1/sync ({op_id, kind, code?, ...fields}). */
typedef struct hoso_client_op {
    const char *op_id;
    const char *kind;
    const char *code;
    const msgpack_object *body;
} hoso_client_op;

/* One event of the owner feed: {seq, at, type, dossier}. dossier is NULL for types
 * without one (paper.added). */
typedef struct hoso_client_event {
    uint64_t seq;
    int64_t at;
    const char *type; /* "dossier.created", "dossier.status", "dossier.updated", ... */
    const hoso_dossier *dossier;
    const msgpack_object *raw; /* the whole event map */
} hoso_client_event;

/* GET /v1/sync/snapshot: the full state; the feed continues after head. */
typedef struct hoso_client_snapshot {
    const hoso_dossier *dossiers;
    size_t ndossiers;
    uint64_t head;
    const char *epoch;
    const msgpack_object *raw;
} hoso_client_snapshot;

/* Push connection state, for on_push_state. */
typedef enum hoso_push_state {
    HOSO_PUSH_OFF = 0,        /* not started, or stopped */
    HOSO_PUSH_CONNECTING = 1, /* connecting, or waiting to reconnect */
    HOSO_PUSH_LIVE = 2,       /* subscribed: events arrive */
} hoso_push_state;

/* Callbacks for things that are not the answer to one call. Each may be NULL. */
typedef struct hoso_client_callbacks {
    /* An outbox op was answered by the server. status: "applied", "duplicate" (the
     * server had applied it before: a retry) or "rejected" (err says why; the op is
     * dropped from the outbox and will not be retried). dossier: the dossier the op
     * made or changed, when the answer carried one. */
    void (*on_op_done)(hoso_client *c, const hoso_client_op *op, const char *status,
                       const hoso_dossier *dossier, const hoso_client_error *err, void *ud);
    /* A rejected op, after on_op_done: the app shows err to the citizen (with the
     * current dossier on VERSION_CONFLICT) and may make a new op from it. */
    void (*on_rejected)(hoso_client *c, const hoso_client_op *op, const hoso_client_error *err,
                        const hoso_dossier *current, void *ud);
    /* A feed event, in seq order, each seq once. The seq is stored as seen only after
     * this returns, so an event whose callback did not return (crash) comes again. */
    void (*on_event)(hoso_client *c, const hoso_client_event *ev, void *ud);
    /* The feed could not be resumed (another epoch, or a cursor older than the retained
     * feed): this is the full state; events continue after snap->head. */
    void (*on_snapshot)(hoso_client *c, const hoso_client_snapshot *snap, void *ud);
    void (*on_push_state)(hoso_client *c, hoso_push_state st, const hoso_client_error *why, void *ud);
    void *ud;
    /* An upload op moved: `sent` of `total` bytes are on the server (after each piece,
     * and when a resumed upload learns its offset). For a progress bar. */
    void (*on_upload_progress)(hoso_client *c, const char *op_id, uint64_t sent, uint64_t total, void *ud);
} hoso_client_callbacks;

typedef struct hoso_client_options {
    const char *base_url;      /* "http://127.0.0.1:8080"; https:// uses TLS (ws/wss follow) */
    const char *state_dir;     /* holds client.mdb; created (0700) if missing */
    unsigned request_timeout_ms; /* whole request; 0: 15000 */
    unsigned batch_size;       /* ops per POST /v1/sync; 0: 50 (max 500) */
    unsigned backoff_min_ms;   /* reconnect/retry backoff: 0: 500 */
    unsigned backoff_max_ms;   /* 0: 30000; each delay is jittered by +-20 % */
    const char *ca_file;       /* https: PEM file of the authorities to trust (a private CA);
                                  NULL: the system's. The certificate must name the URL's host. */
    int insecure_tls;          /* accept self-signed certificates, any host name (tests only) */
} hoso_client_options;

/* Creates a client on `loop` (not owned; it must outlive the client). Opens (or makes)
 * the local store. Nothing is sent until a call or hoso_client_push_start.
 * Errors: BAD_REQUEST (URL not http/https, or too long; ca_file too long), IO (state dir or LMDB),
 * NOMEM, INTERNAL (libwebsockets context). */
int hoso_client_new(hoso_client **out, uv_loop_t *loop, const hoso_client_options *opt,
                    const hoso_client_callbacks *cbs);
/* Cancels what is in flight (requests fail with UNAVAILABLE; outbox calls still
 * waiting complete as queued), stops push, closes the store and frees the client. It
 * runs the loop itself (about 2 s at most) so that the cancelled callbacks run and
 * libwebsockets closes its uv handles; afterwards the loop holds nothing of the client.
 * Must not be called from a callback of this client. */
void hoso_client_free(hoso_client *c);

/* The token from the last login (borrowed until the next login/logout), or NULL. */
const char *hoso_client_token(const hoso_client *c);
/* Account id of the last login ("" if unknown), and its role ("citizen", "officer"...). */
const char *hoso_client_account_id(const hoso_client *c);
const char *hoso_client_role(const hoso_client *c);
/* Last feed seq delivered to on_event (0: none) and the feed's epoch ("" unknown). */
uint64_t hoso_client_last_seq(const hoso_client *c);
const char *hoso_client_epoch(const hoso_client *c);
/* Number of ops waiting in the outbox. */
size_t hoso_client_outbox_len(hoso_client *c);

/* ---------------------------------------------------------------------------------- */
/* Calls. Each sends one request (or queues an op) and calls cb exactly once, later,
 * from the loop (never from inside the call itself). A call returns 0 or an error
 * (NOMEM, IO, BAD_REQUEST for invalid arguments); on error cb is not called. */

/* POST /v1/auth/login with exactly one of id_number / username. On success the token,
 * account id and role are kept in the store (they replace the previous ones). */
int hoso_client_login(hoso_client *c, const char *id_number, const char *username, const char *password,
                      hoso_client_cb cb, void *ud);
/* POST /v1/auth/logout and forget the token (also when the server cannot be reached). */
int hoso_client_logout(hoso_client *c, hoso_client_cb cb, void *ud);
/* GET /v1/services[?agency=&q=]: reply->services. agency, q may be NULL. */
int hoso_client_services(hoso_client *c, const char *agency, const char *q, hoso_client_cb cb, void *ud);
/* GET /v1/services/{code}: the service map is reply->body's "service". */
int hoso_client_service_get(hoso_client *c, const char *code, hoso_client_cb cb, void *ud);
/* GET /v1/dossiers/{code}: reply->dossier. */
int hoso_client_get(hoso_client *c, const char *code, hoso_client_cb cb, void *ud);
/* GET /v1/dossiers/{code}/messages?after=&limit=: the thread, oldest first, in
 * reply->body ({messages: [{code, seq, from, text, files, at}], next, more}); limit 0:
 * 100. Not queued: it reads. */
int hoso_client_messages(hoso_client *c, const char *code, uint64_t after, unsigned limit, hoso_client_cb cb,
                         void *ud);
/* GET /v1/dossiers[?status=&cursor=&limit=]: reply->dossiers and reply->next.
 * status 0: any; cursor NULL: first page; limit 0: server default. */
int hoso_client_list(hoso_client *c, int status, const char *cursor, unsigned limit, hoso_client_cb cb,
                     void *ud);
/* GET /v1/agency/dossiers (officers) with the same parameters. */
int hoso_client_agency_list(hoso_client *c, int status, const char *cursor, unsigned limit, hoso_client_cb cb,
                            void *ud);

/* Outbox calls. The op (with a fresh op_id, given to cb as reply->op_id) is durable in
 * the local store when the call returns 0. Ops are sent with the token of the moment:
 * let the outbox drain (hoso_client_outbox_len() == 0) before logging out. form: a map, papers: an array of paper maps
 * (see docs/protocol.md), answers: a map question -> 1..5; each may be NULL where the
 * endpoint allows it. The objects are copied. base_version 0: not sent. */
int hoso_client_submit(hoso_client *c, const char *service, const msgpack_object *form,
                       const msgpack_object *papers, hoso_client_cb cb, void *ud);
int hoso_client_supplement(hoso_client *c, const char *code, const msgpack_object *form,
                           const msgpack_object *papers, int64_t base_version, hoso_client_cb cb, void *ud);
int hoso_client_withdraw(hoso_client *c, const char *code, const char *reason, int64_t base_version,
                         hoso_client_cb cb, void *ud);
int hoso_client_rate(hoso_client *c, const char *code, const msgpack_object *answers, hoso_client_cb cb,
                     void *ud);
int hoso_client_feedback(hoso_client *c, const char *text, const char *service, hoso_client_cb cb, void *ud);
/* Uploads the file at path (a photo or scan: JPEG, PNG or PDF) as `name` (NULL: the
 * file's own name), through the outbox like the calls above: the file is first copied
 * into STATE_DIR/uploads/ (so the app may delete its own), then sent with tus in
 * pieces of 512 KiB when the outbox reaches it. A dropped connection, a closed app or a
 * reboot does not restart it: the next flush asks the server where the upload stands
 * and goes on from there (on_upload_progress reports the bytes). It completes with
 * {file: {id, size, name}} in reply->body, with the server's refusal (415 for a file
 * that is not a JPEG, PNG or PDF, 413 over the size limit), or queued. op_id (may be
 * NULL) gets the op's id when the call returns 0. The file id, or the op_id before the
 * file id is known, may be used as a paper's `file`, in a message's
 * files or (officers) in result_files: ops queued after the upload are sent after it,
 * with the server's id in place of the op_id. Errors: NOT_FOUND, BAD_REQUEST (not a
 * regular non-empty file), IO, STORAGE_FULL (the copy). */
int hoso_client_upload(hoso_client *c, const char *path, const char *name, char op_id[33], hoso_client_cb cb,
                       void *ud);
/* The server's file id of a finished upload op (on_op_done's op->body also has it as
 * `file`): 0, or NOT_FOUND while it is not done (or was refused). */
int hoso_client_upload_file_id(hoso_client *c, const char *op_id, char out[40]);
/* GET /v1/files/{id} into the file out (written whole, then renamed into place). */
int hoso_client_download(hoso_client *c, const char *id, const char *out, hoso_client_cb cb, void *ud);
/* A message to the officers of the dossier's agency (1..4000 bytes of UTF-8) with up to
 * 10 files (file ids or upload op_ids; files may be NULL when nfiles is 0); the reply's
 * body is {message}. Officers' messages arrive as `message` events. */
int hoso_client_message(hoso_client *c, const char *code, const char *text, const char *const *files,
                        size_t nfiles, hoso_client_cb cb, void *ud);

/* An officer move (POST /v1/agency/dossiers/{code}/transitions): sent at once, never
 * queued (it needs the current version). Fields that are NULL / 0 are not sent. */
typedef struct hoso_client_transition {
    int to;
    int64_t version;
    const char *note, *reason, *result;
    int64_t fee, due_at;
    const char *const *papers_required;
    size_t npapers_required;
} hoso_client_transition;
int hoso_client_transition_send(hoso_client *c, const char *code, const hoso_client_transition *t,
                                hoso_client_cb cb, void *ud);

/* Flushes the outbox now (it is also flushed after each outbox call and, while ops
 * wait, on a backoff timer), then pulls the feed after the last seq
 * (GET /v1/sync, or the snapshot when the cursor expired), delivering on_op_done,
 * on_event and on_snapshot. cb (may be NULL) runs once both are done: error set when
 * the server could not be reached or refused; ops that could not be sent stay queued.
 * When the server has no /v1/sync, the pull reads GET /v1/dossiers instead and reports
 * it as a snapshot (head = the last seq). */
int hoso_client_sync(hoso_client *c, hoso_client_cb cb, void *ud);

/* Drops every open connection as a network loss would: requests in flight fail with
 * UNAVAILABLE (outbox ops stay queued), push reconnects after its backoff. */
void hoso_client_drop_connections(hoso_client *c);

/* ---------------------------------------------------------------------------------- */
/* Push: a WebSocket to /v1/ws that subscribes from the last seq, delivers on_event,
 * acks, and reconnects with capped exponential backoff and jitter until stopped. */
int hoso_client_push_start(hoso_client *c);
void hoso_client_push_stop(hoso_client *c);
hoso_push_state hoso_client_push_state(const hoso_client *c);

/* ---------------------------------------------------------------------------------- */
/* Synchronous helpers for tools and tests: run the client's loop until *done != 0 or
 * timeout_ms passed (0: no limit, use with care). Returns 0, or HOSO_EUNAVAILABLE on
 * timeout. Must not be called from a callback. */
int hoso_client_run_until(hoso_client *c, const int *done, unsigned timeout_ms);
/* Runs the loop for ms milliseconds. */
void hoso_client_run_for(hoso_client *c, unsigned ms);

/* The local copy of a dossier (kept from replies, events and snapshots) as msgpack
 * bytes, malloc'ed: caller frees. Returns 0, NOT_FOUND, NOMEM or IO. */
int hoso_client_cached_dossier(hoso_client *c, const char *code, void **buf, size_t *len);
/* Calls fn for every cached dossier in code order (values borrowed for the call). */
int hoso_client_cached_each(hoso_client *c, void (*fn)(const void *buf, size_t len, void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
