/*
 * internal.h - what the files of libhoso_client share: the client struct, the local
 * store, the HTTP transport, reply decoding, the outbox and the feed.
 */
#ifndef HOSO_CLIENT_INTERNAL_H
#define HOSO_CLIENT_INTERNAL_H

#include <lmdb.h>
#include <libwebsockets.h>
#include "hoso_client.h"

#define HOSO__URL_MAX 256
#define HOSO__TOKEN_MAX 256
#define HOSO__EPOCH_MAX 80
#define HOSO__OPID_LEN 32 /* hex characters */
#define HOSO__HTTP_MAX_REPLY_BYTES ((size_t)32 << 20)

/* ---------------------------------------------------------------------------------- */
/* Local store (store.c): STATE_DIR/client.mdb. */
typedef struct hoso__store {
    MDB_env *env;
    MDB_dbi meta;     /* name -> value (token, account, role, seq, epoch) */
    MDB_dbi outbox;   /* be64 local sequence -> op map (msgpack) */
    MDB_dbi dossiers; /* code -> dossier (msgpack, wire shape) */
} hoso__store;

int hoso__store_open(hoso__store *s, const char *dir);
void hoso__store_close(hoso__store *s);
/* Copies the value of `key` into buf (NUL-terminated, truncated to cap-1); "" if absent. */
int hoso__store_meta_get(hoso__store *s, const char *key, char *buf, size_t cap);
int hoso__store_meta_put(hoso__store *s, const char *key, const char *val);
/* Appends an op; *id gets its local sequence. Durable when it returns 0. */
int hoso__store_outbox_push(hoso__store *s, const void *op, size_t len, uint64_t *id);
/* The first `max` ops in order, copied: ids[i], bufs[i] (malloc'ed), lens[i]. *n gets
 * the count. The caller frees each bufs[i]. */
int hoso__store_outbox_head(hoso__store *s, size_t max, uint64_t *ids, void **bufs, size_t *lens, size_t *n);
int hoso__store_outbox_del(hoso__store *s, uint64_t id);
/* Replaces op `id` (an upload that learned its server id); NOT_FOUND when it is gone. */
int hoso__store_outbox_set(hoso__store *s, uint64_t id, const void *op, size_t len);
size_t hoso__store_outbox_count(hoso__store *s);
/* Stores a dossier unless the cached one has a higher version. */
int hoso__store_dossier_put(hoso__store *s, const char *code, int64_t version, const void *buf, size_t len);
int hoso__store_dossier_get(hoso__store *s, const char *code, void **buf, size_t *len);
int hoso__store_dossier_clear(hoso__store *s);
int hoso__store_dossier_each(hoso__store *s, void (*fn)(const void *buf, size_t len, void *ud), void *ud);

/* ---------------------------------------------------------------------------------- */
/* HTTP transport (http.c). */
typedef struct hoso__http_req hoso__http_req;
/* err 0: an HTTP reply arrived (status, body); err < 0: none did (UNAVAILABLE with a
 * message in why). body is borrowed for the call. */
typedef void (*hoso__http_cb)(hoso_client *c, int err, const char *why, int status, const char *body,
                              size_t len, void *ud);
/* Sends method path (relative to the base URL, with query) with an optional msgpack
 * body (copied) and the bearer token when auth. cb runs once, later, from the loop. */
int hoso__http_send(hoso_client *c, const char *method, const char *path, const void *body, size_t len,
                    int auth, hoso__http_cb cb, void *ud);
/* The reply headers hoso__http_send2 gives back. */
typedef struct hoso__http_headers {
    char upload_offset[24]; /* Upload-Offset, "" if absent */
} hoso__http_headers;
typedef void (*hoso__http_cb2)(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                               const hoso__http_headers *h, void *ud);
/* hoso__http_send with the token, a body of type ctype (NULL: msgpack; the body may be
 * raw bytes), more request headers (hdrs: "name:", value, ..., NULL; at most 6), and
 * the reply's Upload-Offset. */
int hoso__http_send2(hoso_client *c, const char *method, const char *path, const void *body, size_t len,
                     const char *ctype, const char *const *hdrs, hoso__http_cb2 cb, void *ud);
/* Fails every request in flight with UNAVAILABLE (their callbacks run later). */
void hoso__http_drop_all(hoso_client *c);
int hoso__lws_init(hoso_client *c);
void hoso__lws_destroy(hoso_client *c);
/* lws callback of the push protocol (push.c). */
/* Drops the push connection; it reconnects after its backoff. */
void hoso__push_drop(hoso_client *c);
int hoso__push_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/* ---------------------------------------------------------------------------------- */
/* Replies (reply.c). */
typedef struct hoso__reply {
    hoso_client_reply pub;
    hoso_doc doc;
    hoso_dossier one;
    hoso_dossier *list;
    hoso_service *svcs;
} hoso__reply;

/* Builds a reply from an HTTP outcome: decodes the body, maps error replies to
 * HOSO_E* codes, decodes dossier / dossiers / services when present. */
void hoso__reply_from_http(hoso__reply *r, int err, const char *why, int status, const char *body, size_t len);
/* A reply that carries only an error. */
void hoso__reply_error(hoso__reply *r, int err, int http_status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void hoso__reply_destroy(hoso__reply *r);
/* Maps a wire code ("VERSION_CONFLICT") to HOSO_E*; INTERNAL when unknown. */
int hoso__err_from_code(const char *code);
/* Fills e from an {error: {code, message}} map (or from err alone when obj is NULL). */
void hoso__error_from_obj(hoso_client_error *e, int http_status, const msgpack_object *obj, int err);
/* Copies a msgpack str object into buf, NUL-terminated; "" when not a str. */
void hoso__obj_cstr(const msgpack_object *o, char *buf, size_t cap);
/* Caches the dossier (the reply's, or one decoded from a map). */
void hoso__cache_dossier_obj(hoso_client *c, const msgpack_object *o);

/* ---------------------------------------------------------------------------------- */
/* Outbox (outbox.c) and feed (feed.c). */
typedef struct hoso__pending hoso__pending;
/* Completion of a multi-step job: err NULL on success. */
typedef void (*hoso__done_cb)(hoso_client *c, const hoso_client_error *err, void *ud);
/* Runs done when the current (or a new) flush ends: outbox empty (err NULL) or failed. */
int hoso__outbox_wait(hoso_client *c, hoso__done_cb done, void *ud);
void hoso__outbox_kick(hoso_client *c);
void hoso__outbox_cancel(hoso_client *c);
int hoso__outbox_enqueue(hoso_client *c, msgpack_sbuffer *op, const char *op_id, hoso_client_cb cb, void *ud);
/* Uploads (upload.c). An upload op ({op_id, kind: "upload", name, size, upload?}) sends
 * STATE_DIR/uploads/<op_id> with tus; done gets how it ended. */
typedef enum hoso__upload_end {
    HOSO__UPLOAD_DONE = 0,     /* the server has the file: file_id */
    HOSO__UPLOAD_REFUSED,      /* the server refused it for good (err) */
    HOSO__UPLOAD_RETRY,        /* network or server trouble: try again later (err) */
    HOSO__UPLOAD_SIGNED_OUT,   /* 401/403: wait for a login (err) */
} hoso__upload_end;
typedef void (*hoso__upload_cb)(hoso_client *c, hoso__upload_end end, const char *file_id,
                                const hoso_client_error *err, void *ud);
int hoso__upload_run(hoso_client *c, uint64_t outbox_id, const void *op, size_t len, hoso__upload_cb done,
                     void *ud);
/* STATE_DIR/uploads/<op_id> into buf. */
void hoso__upload_copy_path(const hoso_client *c, const char *op_id, char *buf, size_t cap);
/* The server file id a finished upload op got ("" if none): meta "file:<op_id>". */
void hoso__upload_file_id(hoso_client *c, const char *op_id, char out[40]);

/* Pulls the feed after the last seq; done runs once. */
int hoso__feed_pull(hoso_client *c, hoso__done_cb done, void *ud);
/* Delivers one event map (push or pull): dedupes by seq, caches, on_event, stores seq.
 * Returns 0, or BAD_REQUEST for an event without a seq. */
int hoso__feed_event(hoso_client *c, const msgpack_object *ev);
/* Fetches GET /v1/sync/snapshot and applies it (on_snapshot); done as above. */
int hoso__feed_snapshot(hoso_client *c, hoso__done_cb done, void *ud);
void hoso__set_seq(hoso_client *c, uint64_t seq);
void hoso__set_epoch(hoso_client *c, const char *epoch);

/* Backoff: min * 2^attempt capped at max, jittered by +-20 %. */
unsigned hoso__backoff_ms(const hoso_client *c, unsigned attempt);
/* Random lower-case hex op id (HOSO__OPID_LEN characters + NUL). */
void hoso__make_op_id(char out[HOSO__OPID_LEN + 1]);

/* ---------------------------------------------------------------------------------- */
typedef enum hoso__sync_api { HOSO__SYNC_UNKNOWN = 0, HOSO__SYNC_YES, HOSO__SYNC_NO } hoso__sync_api;

typedef struct hoso__push hoso__push;

struct hoso_client {
    uv_loop_t *loop;
    hoso_client_callbacks cbs;
    hoso_client_options opt;
    /* base URL parts */
    int tls;
    char host[HOSO__URL_MAX];
    int port;
    char prefix[HOSO__URL_MAX]; /* path prefix without trailing '/', usually "" */
    char ca_file[HOSO__URL_MAX]; /* opt.ca_file, copied; "" for the system's */
    char state_dir[1024];        /* opt.state_dir, copied */

    hoso__store store;
    char token[HOSO__TOKEN_MAX];
    char account_id[96];
    char role[16];
    char epoch[HOSO__EPOCH_MAX];
    uint64_t last_seq;

    struct lws_context *lws;
    hoso__http_req *reqs; /* in flight */
    unsigned open_handles; /* uv handles still to close before the memory can go */
    int freeing;
    int dropping; /* inside hoso__http_drop_all: defer the callbacks */

    /* outbox */
    hoso__sync_api sync_api;
    int flushing;
    int flush_again;
    unsigned flush_attempt;
    unsigned batch_cur; /* smaller batches after the server refused a large one */
    uv_timer_t flush_timer;
    hoso__pending *pending; /* callers waiting for their op's answer */
    /* waiters for the end of the current flush (hoso_client_sync) */
    struct hoso__flush_waiter *waiters;

    hoso__push *push;
};

#endif
