/*
 * server/push/ - live push over WebSocket: the hub of each worker (subscriptions, the
 * committed batches the writer posts, timers, replay scheduling) and the connections
 * (authentication, replay from the owner feed, live events, acks, limits, closing).
 *
 * push.h - the one designed interface between push and server/core/: core creates,
 * stops and disposes a hub per worker and registers hoso__hub_publish as an event sink;
 * the route table names hoso_route_ws. The hub and the connections talk to each other
 * through the rest of this header.
 */
#ifndef HOSO_SERVER_PUSH_H
#define HOSO_SERVER_PUSH_H

#include "core/runtime.h"

typedef struct hoso_ws hoso_ws;

/* GET /v1/ws: upgrades to WebSocket (ws.c). */
int hoso_route_ws(hoso_req *r);

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
    h2o_linklist_t dirty;  /* touched by the batch being delivered */
    int kind;              /* HOSO_SUB_* */
    uint32_t hash;
    char key[48];          /* owner id or agency code */
} hoso_hub_member;

/* index.c: a hub's subscriptions by (kind, key) ------------------------------------ */
typedef struct hoso_sub_index {
    h2o_linklist_t *buckets; /* chains of hoso_hub_member.sub */
    size_t nbuckets;         /* a power of two */
    size_t n;                /* members indexed */
} hoso_sub_index;
/* An empty index. Errors: NOMEM. */
int hoso__index_init(hoso_sub_index *ix);
/* Frees the buckets; members still indexed are left dangling (unlink them first). */
void hoso__index_dispose(hoso_sub_index *ix);
/* Indexes m under (kind, key) (key truncated to 47 bytes). Returns 1 when added, 0
 * when m was indexed already (it keeps its first subscription). */
int hoso__index_add(hoso_sub_index *ix, hoso_hub_member *m, int kind, const char *key);
/* Returns 1 when m was indexed and is removed, 0 when it was not indexed. */
int hoso__index_remove(hoso_sub_index *ix, hoso_hub_member *m);
/* Calls fn(ctx, m) for every member indexed under exactly (kind, key); fn must not add
 * or remove members. */
void hoso__index_each(const hoso_sub_index *ix, int kind, const char *key,
                      void (*fn)(void *ctx, hoso_hub_member *m), void *ctx);

/* hub.c: life of the hub ------------------------------------------------------------ */
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
/* The event sink (hoso_server_add_event_sink, ctx = the server): writer thread. In
 * cluster mode it feeds owner streams only (agency events come back through NATS). */
void hoso__hub_publish(void *srv, const hoso_event *ev, size_t n);
/* The same for the streams of `which` (HOSO_HUB_OWNER, HOSO_HUB_AGENCY, or both).
 * Any thread. */
enum { HOSO_HUB_OWNER = 1, HOSO_HUB_AGENCY = 2 };
void hoso__hub_publish_from(hoso_server *srv, const hoso_event *ev, size_t n, unsigned which);
/* Builds the event frame from a stored feed body {seq, at, type, ...}: `type` becomes
 * `event`, and owner/gseq are added when owner != NULL. Appends to out.
 * Errors: CORRUPT (not a map), NOMEM. Any thread. */
int hoso__hub_frame(const void *body, size_t len, const char *owner, uint64_t gseq, msgpack_sbuffer *out);

/* Worker thread only. */
void hoso__hub_join(hoso_hub *h, hoso_hub_member *m, hoso_ws *ws);
void hoso__hub_leave(hoso_hub *h, hoso_hub_member *m);
void hoso__hub_subscribe(hoso_hub *h, hoso_hub_member *m, int kind, const char *key);
void hoso__hub_want_replay(hoso_hub *h, hoso_hub_member *m);
int hoso__hub_stopping(const hoso_hub *h);

/* ws.c: what the hub calls on a connection (worker thread). The functions marked
 * "may free" may destroy the connection: the caller must not touch it afterwards. */
/* An event's frames as JSON text, made once per hub for all its JSON clients (NULL
 * until the first one asks; freed by the hub after the delivery). */
typedef struct hoso_hub_json {
    char *text[2]; /* [0] owner frame, [1] agency frame */
    size_t len[2];
    int failed[2];
} hoso_hub_json;
/* Queues a live event on the connection; 1 when a frame was queued (0: closing,
 * replaying, a duplicate, a gap that starts a replay, or a failed send). */
int hoso__ws_deliver(hoso_ws *ws, const hoso_hub_event *ev, int agency_stream, hoso_hub_json *json);
void hoso__ws_flush(hoso_ws *ws);                              /* may free */
void hoso__ws_tick(hoso_ws *ws, int64_t now_ms);               /* may free */
/* Sends up to budget replayed events; returns how many and sets *again when work
 * remains. */
size_t hoso__ws_replay(hoso_ws *ws, size_t budget, int *again);
void hoso__ws_shutdown(hoso_ws *ws, int force);                /* may free */

#endif
