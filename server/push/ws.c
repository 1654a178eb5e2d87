/*
 * ws.c - GET /v1/ws: the live push channel over WebSocket (RFC 6455 on an h2o socket).
 * One hoso_ws per connection: authentication (header or first frame), one
 * subscription (the caller's owner feed, or an agency stream for officers and bots),
 * replay of the feed from storage, live events from the hub, acks, pings, limits and
 * closing.
 *
 * Order without gap or duplicate: the subscription joins the hub's index before the
 * first read of storage, so every event is either in a snapshot read later or arrives
 * live afterwards. While replaying, live events are ignored and the replay reads on
 * until a snapshot has nothing after the last sent seq; live events then go out only
 * when their seq is exactly last_sent + 1 (older ones are duplicates and dropped, a
 * newer one means a gap, which is filled by replaying again).
 *
 * The framing is here, on the socket h2o hands over after the 101: a connection holds
 * only what it has queued and the bytes of a frame not yet whole, so an idle
 * subscriber costs a few hundred bytes beside its socket (a general WebSocket library
 * keeps two 4 KiB buffers per connection for its whole life). Frames go out in the
 * order they were queued, one write of many frames at a time; a frame of a close or a
 * slow consumer jumps the queue.
 *
 * Lifetime: the connection is freed by destroy() only, never while h2o runs one of its
 * callbacks further up the stack (depth counts them), and h2o calls no callback of a
 * socket after h2o_socket_close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/websocket.h>
#include <openssl/sha.h>
#include <sodium.h>
#include "push.h"

#define MAX_FRAME (64 * 1024)       /* larger client frames: error, then 1009 */
#define MAX_FRAME_HARD (256 * 1024) /* larger still: 1009 at once, no error frame */
#define FLOOD_WINDOW_MS 1000
#define FLOOD_MAX_FRAMES 500
#define CLOSE_GRACE_MS 5000
#define WRITE_BATCH 64              /* frames per socket write */
#define REMOTE_PAGE 256             /* events per page of a feed read from another node */

/* Close codes (docs/protocol.md). */
enum {
    WS_NORMAL = 1000,
    WS_GOING_AWAY = 1001,
    WS_PROTOCOL = 1002,
    WS_INVALID_PAYLOAD = 1007,
    WS_POLICY = 1008,
    WS_TOO_BIG = 1009,
    WS_INTERNAL = 1011,
    WS_TRY_AGAIN = 1013,
    WS_IDLE = 4000,
    WS_UNAUTHORIZED = 4001,
    WS_FORBIDDEN = 4003,
    WS_SLOW = 4008,
    WS_EXPIRED = 4010,
};

/* Opcodes (RFC 6455 5.2). */
enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

enum ws_state { WS_OPEN, WS_REPLAY, WS_LIVE };

/* A frame to send, header and payload in one allocation. */
typedef struct out_frame {
    struct out_frame *next;
    size_t len, payload;
    int data; /* a data frame (a slow consumer's close drops those not yet written) */
    uint8_t bytes[];
} out_frame;

struct hoso_ws {
    hoso_hub_member m;
    h2o_socket_t *sock;           /* NULL until the 101 is written, and after close */
    hoso_worker *w;
    hoso_hub *hub;
    hoso_server *srv;
    enum ws_state state;
    int json;                     /* the client speaks JSON text frames */
    int authed;
    hoso_caller who;
    uint64_t last_sent;           /* owner stream: last seq queued */
    uint64_t replayed;            /* events sent by the current replay */
    uint64_t acked;
    int64_t opened_ms, last_recv_ms, last_ping_ms, close_by_ms;
    int64_t window_ms;
    unsigned window_frames;
    int closing;                  /* no more client frames are looked at */
    int close_queued;             /* our close frame is queued or sent */
    int close_sent;               /* ... and written */
    int peer_closed;              /* the client's close frame came */
    int mode_set;                 /* the first data frame chose JSON or msgpack */
    int depth;                    /* inside one of h2o's callbacks */
    int gone;                     /* to be freed when depth is back to 0 */
    /* Output: queued frames, and those of the write in flight. */
    out_frame *head, *tail, *inflight;
    size_t queued_msgs, queued_bytes;
    /* A fragmented message being put together (rare: phones send whole frames). */
    uint8_t *frag;
    size_t frag_len;
    int frag_op;
    /* Cluster mode, a caller whose account is on another node (hoso_remote_ops). */
    struct ws_remote *rs;         /* its state; NULL for a caller this node holds */
    int remote;                   /* the owner feed is read from that node */
    int auth_pending;             /* its caller is being looked up: frames wait */
    unsigned pending;             /* remote callbacks still to come */
    int released;                 /* out of the hub and closed; freed once pending is 0 */
};

/* What a connection of a caller held by another node needs beside (allocated apart, so
 * that the many idle local connections do not carry it). */
struct ws_remote {
    int fetching;                 /* a page of its feed is on its way */
    int first_page;               /* ... and it answers the subscribe */
    int watching;                 /* its live events come to this node */
    uint64_t sub_since;
    uint64_t live_seen;           /* the highest live seq that came, sent or not */
    unsigned live_gen;            /* the broker's connection generation it follows */
    char token[128];              /* for the pages of the feed */
};

static void queue_close(hoso_ws *c, uint16_t code, const char *reason);
static void flush_out(hoso_ws *c);
static void remote_fetch(hoso_ws *c, uint64_t since, const char *epoch);
static void read_frames(hoso_ws *c);
static void on_read(h2o_socket_t *sock, const char *err);

/* ---------------------------------------------------------------------------------- */
/* Lifetime */

static void free_frames(out_frame *f)
{
    while (f != NULL) {
        out_frame *next = f->next;
        free(f);
        f = next;
    }
}

/* Out of the hub, the socket closed, the buffers freed: all but the struct, which a
 * remote callback still to come may need to look at. */
static void release(hoso_ws *c)
{
    if (c->released)
        return;
    c->released = 1;
    hoso__hub_leave(c->hub, &c->m);
    hoso_metrics_ws_conns(-1);
    if (c->rs != NULL && c->rs->watching)
        c->srv->app.remote->unwatch(c->who.account);
    if (c->rs != NULL)
        c->rs->watching = 0;
    if (c->sock != NULL) {
        c->sock->data = NULL;
        h2o_socket_close(c->sock);
        c->sock = NULL;
    }
    free_frames(c->head);
    free_frames(c->inflight);
    c->head = c->tail = c->inflight = NULL;
    free(c->frag);
    c->frag = NULL;
    if (c->rs != NULL)
        sodium_memzero(c->rs->token, sizeof c->rs->token);
}

static void free_ws(hoso_ws *c)
{
    free(c->rs);
    free(c);
}

static void destroy(hoso_ws *c)
{
    if (c->depth > 0) {
        c->gone = 1; /* freed when the callback running returns */
        return;
    }
    release(c);
    if (c->pending > 0) {
        c->gone = 1; /* freed by the last remote callback */
        return;
    }
    free_ws(c);
}

/* A remote callback came back: 1 when the connection is still served, 0 when it was
 * released meanwhile (then freed here if nothing else is to come). */
static int back(hoso_ws *c)
{
    c->pending--;
    atomic_fetch_sub(&c->w->inflight, 1);
    if (c->released || c->gone) {
        if (c->released && c->pending == 0 && c->depth == 0)
            free_ws(c);
        return 0;
    }
    return 1;
}

/* Leaves one of h2o's callbacks: the connection goes if it asked to meanwhile.
 * Returns 1 when it was freed. */
static int leave(hoso_ws *c)
{
    if (--c->depth == 0 && c->gone) {
        destroy(c);
        return 1;
    }
    return 0;
}

/* Both close frames have passed and nothing is left to write: the TCP connection goes. */
static int maybe_finish(hoso_ws *c)
{
    if (c->close_sent && c->peer_closed && c->inflight == NULL && c->head == NULL) {
        destroy(c);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Sending */

static size_t queued_bytes(hoso_ws *c)
{
    return c->queued_bytes;
}

static size_t queued_msgs(hoso_ws *c)
{
    return c->queued_msgs;
}

/* A replay stops filling the queue at half the slow-consumer limits, so that it never
 * trips them by itself. */
static int replay_room(hoso_ws *c)
{
    const hoso_config *cfg = &c->srv->cfg;
    return queued_bytes(c) <= cfg->ws_max_pending / 2 && queued_msgs(c) <= cfg->ws_max_pending_msgs / 2;
}

/* A server frame (unmasked) of opcode with payload p[0..n): queued at the tail, or at
 * the head (urgent). */
static int queue_frame(hoso_ws *c, int opcode, const void *p, size_t n, int urgent)
{
    size_t h = n < 126 ? 2 : n <= 0xffff ? 4 : 10;
    out_frame *f = malloc(sizeof(*f) + h + n);
    if (f == NULL)
        return HOSO_ENOMEM;
    f->next = NULL;
    f->len = h + n;
    f->payload = n;
    f->data = opcode == OP_TEXT || opcode == OP_BINARY;
    f->bytes[0] = (uint8_t)(0x80 | opcode);
    if (h == 2) {
        f->bytes[1] = (uint8_t)n;
    } else if (h == 4) {
        f->bytes[1] = 126;
        f->bytes[2] = (uint8_t)(n >> 8);
        f->bytes[3] = (uint8_t)n;
    } else {
        f->bytes[1] = 127;
        hoso_be64_put(f->bytes + 2, (uint64_t)n);
    }
    if (n > 0)
        memcpy(f->bytes + h, p, n);
    if (urgent) {
        f->next = c->head;
        c->head = f;
        if (c->tail == NULL)
            c->tail = f;
    } else {
        if (c->tail != NULL)
            c->tail->next = f;
        else
            c->head = f;
        c->tail = f;
    }
    c->queued_msgs++;
    c->queued_bytes += n;
    return 0;
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    hoso_ws *c = sock->data;
    if (c == NULL)
        return;
    for (out_frame *f = c->inflight; f != NULL; f = f->next) {
        c->queued_msgs--;
        c->queued_bytes -= f->payload;
        if ((f->bytes[0] & 0x0f) == OP_CLOSE)
            c->close_sent = 1;
    }
    free_frames(c->inflight);
    c->inflight = NULL;
    if (err != NULL) {
        destroy(c);
        return;
    }
    c->depth++;
    if (!maybe_finish(c)) {
        flush_out(c);
        /* A replay that paused for this queue to drain reads on now rather than at its
         * next poll. */
        if (c->state == WS_REPLAY && !c->closing && replay_room(c))
            hoso__hub_want_replay(c->hub, &c->m);
    }
    leave(c);
}

/* Writes what is queued, many frames at once, when no write is in flight. */
static void flush_out(hoso_ws *c)
{
    h2o_iovec_t bufs[WRITE_BATCH];
    size_t n = 0;
    if (c->sock == NULL || c->inflight != NULL || c->head == NULL || c->gone)
        return;
    out_frame **tail = &c->inflight;
    while (c->head != NULL && n < WRITE_BATCH) {
        out_frame *f = c->head;
        c->head = f->next;
        f->next = NULL;
        *tail = f;
        tail = &f->next;
        bufs[n++] = h2o_iovec_init(f->bytes, f->len);
        if ((f->bytes[0] & 0x0f) == OP_CLOSE) {
            /* nothing goes after a close frame */
            for (out_frame *g = c->head; g != NULL; g = g->next) {
                c->queued_msgs--;
                c->queued_bytes -= g->payload;
            }
            free_frames(c->head);
            c->head = NULL;
            break;
        }
    }
    if (c->head == NULL)
        c->tail = NULL;
    h2o_socket_write(c->sock, bufs, n, on_written);
}

/* Queues one msgpack frame, as JSON text for a JSON client. */
static int send_frame(hoso_ws *c, const void *mp, size_t len)
{
    char *text = NULL;
    size_t tlen = 0;
    int r;
    if (c->close_queued)
        return HOSO_EUNAVAILABLE;
    if (!c->json)
        return queue_frame(c, OP_BINARY, mp, len, 0);
    if (hoso_msgpack_to_json(mp, len, &text, &tlen) != 0)
        return HOSO_ENOMEM;
    r = queue_frame(c, OP_TEXT, text, tlen, 0);
    free(text);
    return r;
}

typedef int (*pack_fn)(msgpack_packer *pk, void *arg);

static int send_packed(hoso_ws *c, pack_fn fn, void *arg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int err;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    err = fn(&pk, arg) != 0 ? HOSO_ENOMEM : send_frame(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

typedef struct error_arg {
    int err;
    const char *message;
} error_arg;

static int pack_error(msgpack_packer *pk, void *p)
{
    error_arg *a = p;
    return msgpack_pack_map(pk, 3) || hoso_pack_kcstr(pk, "type", "error") || hoso_pack_kcstr(pk, "code", hoso_err_code(a->err)) ||
           hoso_pack_kcstr(pk, "message", a->message);
}

/* The close frame, after what is queued (urgent: before the data frames not yet
 * written, which are dropped). */
static void queue_close_ex(hoso_ws *c, uint16_t code, const char *reason, int urgent)
{
    /* A close reason is at most 123 bytes of UTF-8: cut on a character boundary, as a
     * reason split inside a character fails the client's close handshake. */
    uint8_t payload[125];
    size_t len = strlen(reason);
    if (len > 123) {
        len = 123;
        while (len > 0 && ((unsigned char)reason[len] & 0xc0) == 0x80)
            len--;
    }
    if (c->close_queued)
        return;
    c->close_queued = 1;
    c->closing = 1;
    if (c->close_by_ms == 0)
        c->close_by_ms = hoso_now_ms() + CLOSE_GRACE_MS;
    if (urgent) {
        out_frame **pp = &c->head, *keep = NULL, **kt = &keep;
        while (*pp != NULL) {
            out_frame *f = *pp;
            *pp = f->next;
            f->next = NULL;
            if (f->data) {
                c->queued_msgs--;
                c->queued_bytes -= f->payload;
                free(f);
            } else {
                *kt = f;
                kt = &f->next;
            }
        }
        c->head = keep;
        c->tail = NULL;
        for (out_frame *f = keep; f != NULL; f = f->next)
            c->tail = f;
    }
    size_t n = 0;
    if (code != 0) {
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        memcpy(payload + 2, reason, len);
        n = 2 + len;
    }
    if (queue_frame(c, OP_CLOSE, payload, n, 0) != 0)
        c->close_sent = 1; /* out of memory: as if sent, the grace timer ends it */
}

static void queue_close(hoso_ws *c, uint16_t code, const char *reason)
{
    queue_close_ex(c, code, reason, 0);
}

/* An error frame, then the close frame. */
static void fail(hoso_ws *c, uint16_t code, int err, const char *message)
{
    error_arg a = {err, message};
    if (c->closing)
        return;
    send_packed(c, pack_error, &a);
    queue_close(c, code, message);
}

/* The slow-consumer check after queueing: a client that does not read its frames gets
 * closed instead of growing the server's memory. */
static void check_pending(hoso_ws *c)
{
    const hoso_config *cfg = &c->srv->cfg;
    if (c->closing)
        return;
    /* One frame bigger than the limit alone is not a backlog. */
    if ((queued_bytes(c) > cfg->ws_max_pending && queued_msgs(c) > 1) || queued_msgs(c) > cfg->ws_max_pending_msgs) {
        hoso_metrics_ws_slow_close();
        queue_close_ex(c, WS_SLOW, "slow consumer, resume with since", 1);
    }
}

/* ---------------------------------------------------------------------------------- */
/* What the hub calls */

/* A live event's frame: the hub's msgpack, or its JSON made once for every JSON client
 * of this hub (the conversion costs more than the send). */
static int send_event(hoso_ws *c, const uint8_t *mp, size_t len, hoso_hub_json *json, int k)
{
    if (!c->json)
        return send_frame(c, mp, len);
    if (json->text[k] == NULL && !json->failed[k] && hoso_msgpack_to_json(mp, len, &json->text[k], &json->len[k]) != 0)
        json->failed[k] = 1;
    if (json->text[k] == NULL)
        return HOSO_ENOMEM;
    return queue_frame(c, OP_TEXT, json->text[k], json->len[k], 0);
}

int hoso__ws_deliver(hoso_ws *c, const hoso_hub_event *e, int agency_stream, hoso_hub_json *json)
{
    int queued = 0;
    /* A remote feed's page and the live events come by different roads: one that came
     * while a page was on its way is remembered, so the replay reads on to it. */
    if (!agency_stream && c->remote && e->seq > c->rs->live_seen)
        c->rs->live_seen = e->seq;
    if (c->closing || c->state != WS_LIVE)
        return 0; /* a replay in progress reads these from storage */
    if (agency_stream) {
        if (send_event(c, e->aframe, e->aframe_len, json, 1) == 0)
            queued = 1;
    } else if (e->seq == c->last_sent + 1) {
        if (send_event(c, e->frame, e->frame_len, json, 0) == 0) {
            c->last_sent = e->seq;
            queued = 1;
        }
    } else if (e->seq > c->last_sent + 1) {
        c->state = WS_REPLAY;
        c->replayed = 0;
        hoso__hub_want_replay(c->hub, &c->m);
        return 0;
    }
    if (queued)
        hoso_metrics_ws_delivered(1);
    check_pending(c);
    return queued;
}

void hoso__ws_flush(hoso_ws *c)
{
    flush_out(c);
}

typedef struct replay_ctx {
    hoso_ws *c;
    size_t sent;
    int gap;
    int paused; /* the send queue reached half its limits: read on once it drains */
} replay_ctx;


static int on_replayed(void *p, uint64_t seq, const void *body, size_t len)
{
    replay_ctx *rc = p;
    hoso_ws *c = rc->c;
    msgpack_sbuffer sb;
    int err;
    if (seq != c->last_sent + 1) {
        rc->gap = 1;
        return 1;
    }
    if (!replay_room(c)) {
        rc->paused = 1;
        return 1;
    }
    msgpack_sbuffer_init(&sb);
    err = hoso__hub_frame(body, len, NULL, 0, &sb);
    if (err == 0)
        err = send_frame(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (err != 0)
        return err;
    c->last_sent = seq;
    rc->sent++;
    return 0;
}

size_t hoso__ws_replay(hoso_ws *c, size_t budget, int *again)
{
    replay_ctx rc = {c, 0, 0, 0};
    hoso_txn *txn = NULL;
    int more = 0, err;

    *again = 0;
    if (c->closing || c->state != WS_REPLAY)
        return 0;
    if (c->remote) {
        /* The feed is on the owner's node: one page at a time, when the queue has room. */
        if (!c->rs->fetching && replay_room(c))
            remote_fetch(c, c->last_sent, NULL);
        else if (!c->rs->fetching)
            *again = 1;
        return 0;
    }
    /* Read on only while the client keeps up: a replay never trips the slow-consumer
     * limit by itself. */
    if (!replay_room(c)) {
        *again = 1;
        return 0;
    }
    if ((err = hoso__worker_read(c->w, &txn)) != 0) {
        fail(c, WS_INTERNAL, err, "storage unavailable");
        return 0;
    }
    err = hoso_feed_read(txn, c->who.account, c->last_sent, (unsigned)budget, on_replayed, &rc, &more);
    hoso_txn_reset(txn);
    hoso_metrics_ws_delivered(rc.sent);
    c->replayed += rc.sent;
    if (err == HOSO_ECURSOR_EXPIRED || rc.gap) {
        /* Trimmed while replaying: the client has to start over from a snapshot. */
        fail(c, WS_EXPIRED, HOSO_ECURSOR_EXPIRED, "the feed moved past this cursor, fetch the snapshot");
        return rc.sent;
    }
    if (err < 0) {
        fail(c, WS_INTERNAL, err, "replay failed");
        return rc.sent;
    }
    if (more || rc.paused) {
        *again = 1;
        return rc.sent;
    }
    /* Nothing after last_sent in this snapshot: whatever commits later comes live. */
    c->state = WS_LIVE;
    hoso_metrics_ws_replay(c->replayed);
    return rc.sent;
}

void hoso__ws_tick(hoso_ws *c, int64_t now)
{
    const hoso_config *cfg = &c->srv->cfg;
    if (c->sock == NULL)
        return; /* upgrade still being written */
    /* The broker lost NATS since: live events of that time never came here, so the
     * feed is read again from the last one sent. */
    if (c->remote && c->rs->watching && !c->closing && c->srv->app.remote->generation() != c->rs->live_gen) {
        c->rs->live_gen = c->srv->app.remote->generation();
        if (c->state == WS_LIVE) {
            c->state = WS_REPLAY;
            c->replayed = 0;
            hoso__hub_want_replay(c->hub, &c->m);
        }
    }
    if (c->closing) {
        if (now >= c->close_by_ms)
            destroy(c); /* the peer never completed the closing handshake */
        return;
    }
    if (!c->authed && now - c->opened_ms >= (int64_t)cfg->ws_auth_ms) {
        fail(c, WS_UNAUTHORIZED, HOSO_EUNAUTHORIZED, "unauthorized: no token in time");
    } else if (now - c->last_recv_ms >= (int64_t)cfg->ws_idle_ms) {
        queue_close(c, WS_IDLE, "idle");
    } else if (now - c->last_ping_ms >= (int64_t)cfg->ws_ping_ms) {
        queue_frame(c, OP_PING, NULL, 0, 0);
        c->last_ping_ms = now;
    } else {
        return;
    }
    flush_out(c);
}

void hoso__ws_shutdown(hoso_ws *c, int force)
{
    if (force) {
        if (c->sock != NULL)
            destroy(c);
        return;
    }
    c->closing = 1;
    queue_close(c, WS_GOING_AWAY, "server shutting down");
    flush_out(c);
}

/* ---------------------------------------------------------------------------------- */
/* Client messages */

/* ---------------------------------------------------------------------------------- */
/* Callers held by another node (cluster mode) */

static void on_remote_auth(void *arg, int err, const hoso_caller *who)
{
    hoso_ws *c = arg;
    if (!back(c))
        return;
    c->auth_pending = 0;
    c->depth++;
    if (err == 0) {
        c->who = *who;
        c->authed = 1;
        c->remote = 1;
    } else if (err == HOSO_EUNAUTHORIZED) {
        fail(c, WS_UNAUTHORIZED, err, "unauthorized: invalid or expired token");
    } else {
        fail(c, WS_TRY_AGAIN, HOSO_EUNAVAILABLE, "the account's node cannot be reached, try again later");
    }
    /* The frames that came behind the auth frame (a subscribe, typically) are read now. */
    if (c->sock != NULL && !c->peer_closed) {
        h2o_socket_read_start(c->sock, on_read);
        if (c->sock->input->size > 0)
            read_frames(c);
    }
    if (!c->gone && !maybe_finish(c))
        flush_out(c);
    leave(c);
}

/* 1 when the token's account is on another node and its lookup started (the frames
 * after it wait for the answer); 0 when this node holds it. */
static int remote_auth(hoso_ws *c, const char *token, size_t len)
{
    const hoso_remote_ops *ops = c->srv->app.remote;
    if (ops == NULL || !ops->foreign(token, len))
        return 0;
    if (c->rs == NULL && (c->rs = calloc(1, sizeof(*c->rs))) == NULL) {
        fail(c, WS_INTERNAL, HOSO_ENOMEM, "out of memory");
        return 1;
    }
    if (len >= sizeof c->rs->token) {
        fail(c, WS_UNAUTHORIZED, HOSO_EUNAUTHORIZED, "unauthorized: invalid or expired token");
        return 1;
    }
    memcpy(c->rs->token, token, len);
    c->rs->token[len] = '\0';
    c->auth_pending = 1;
    c->pending++;
    /* Counted like a writer op: the worker's stop waits for the answer. */
    atomic_fetch_add(&c->w->inflight, 1);
    if (ops->auth(c->w, token, len, on_remote_auth, c) != 0) {
        atomic_fetch_sub(&c->w->inflight, 1);
        c->pending--;
        c->auth_pending = 0;
        fail(c, WS_TRY_AGAIN, HOSO_EUNAVAILABLE, "the account's node cannot be reached, try again later");
        return 1;
    }
    if (c->sock != NULL)
        h2o_socket_read_stop(c->sock);
    return 1;
}

typedef struct subscribed_arg {
    const char *epoch, *agency;
    uint64_t head;
    int recovered;
} subscribed_arg;

static int pack_subscribed(msgpack_packer *pk, void *p);

static void on_page(void *arg, hoso_feed_page *p)
{
    hoso_ws *c = arg;
    const hoso_remote_ops *ops = c->srv->app.remote;
    size_t sent = 0;
    if (!back(c)) {
        ops->page_free(p);
        return;
    }
    c->rs->fetching = 0;
    c->depth++;
    if (c->closing) {
        /* nothing more to send */
    } else if (p->err == HOSO_EUNAUTHORIZED) {
        fail(c, WS_UNAUTHORIZED, p->err, "unauthorized: invalid or expired token");
    } else if (p->err == HOSO_ECURSOR_EXPIRED) {
        fail(c, WS_EXPIRED, p->err, "the feed moved past this cursor, fetch the snapshot");
    } else if (p->err != 0) {
        fail(c, WS_TRY_AGAIN, HOSO_EUNAVAILABLE, "the node of this feed cannot be reached, try again later");
    } else if (!c->rs->first_page && !p->recovered) {
        /* Trimmed (or restored) between two pages. */
        fail(c, WS_EXPIRED, HOSO_ECURSOR_EXPIRED, "the feed moved past this cursor, fetch the snapshot");
    } else {
        if (c->rs->first_page) {
            subscribed_arg a = {p->epoch, NULL, p->head, p->recovered};
            c->rs->first_page = 0;
            send_packed(c, pack_subscribed, &a);
            c->last_sent = p->recovered ? c->rs->sub_since : p->head;
            c->replayed = 0;
        }
        for (size_t i = 0; i < p->n && !c->closing; i++) {
            msgpack_sbuffer sb;
            if (p->items[i].seq <= c->last_sent)
                continue;
            if (p->items[i].seq != c->last_sent + 1) {
                fail(c, WS_EXPIRED, HOSO_ECURSOR_EXPIRED, "the feed moved past this cursor, fetch the snapshot");
                break;
            }
            msgpack_sbuffer_init(&sb);
            int err = hoso__hub_frame(p->items[i].body, p->items[i].len, NULL, 0, &sb);
            if (err == 0)
                err = send_frame(c, sb.data, sb.size);
            msgpack_sbuffer_destroy(&sb);
            if (err != 0) {
                fail(c, WS_INTERNAL, err, "replay failed");
                break;
            }
            c->last_sent = p->items[i].seq;
            sent++;
        }
        hoso_metrics_ws_delivered(sent);
        c->replayed += sent;
        if (!c->closing && (p->more || c->rs->live_seen > c->last_sent)) {
            if (replay_room(c))
                remote_fetch(c, c->last_sent, NULL);
            else
                hoso__hub_want_replay(c->hub, &c->m); /* on when the queue drains */
        } else if (!c->closing) {
            c->state = WS_LIVE;
            hoso_metrics_ws_replay(c->replayed);
        }
    }
    ops->page_free(p);
    if (!c->gone && !maybe_finish(c))
        flush_out(c);
    leave(c);
}

static void remote_fetch(hoso_ws *c, uint64_t since, const char *epoch)
{
    const hoso_remote_ops *ops = c->srv->app.remote;
    c->rs->fetching = 1;
    c->pending++;
    atomic_fetch_add(&c->w->inflight, 1);
    if (ops->feed(c->w, c->rs->token, since, epoch, REMOTE_PAGE, on_page, c) != 0) {
        atomic_fetch_sub(&c->w->inflight, 1);
        c->pending--;
        c->rs->fetching = 0;
        fail(c, WS_TRY_AGAIN, HOSO_EUNAVAILABLE, "the node of this feed cannot be reached, try again later");
    }
}

static int authenticate(hoso_ws *c, hoso_txn *txn, const char *token, size_t len)
{
    int err = hoso_authenticate(txn, token, len, hoso_now_ms(), &c->who);
    if (err == 0)
        c->authed = 1;
    return err;
}

typedef struct msg_auth {
    hoso_str type, token;
} msg_auth;
typedef struct msg_subscribe {
    hoso_str type, epoch, agency;
    int64_t since;
    int has_since;
} msg_subscribe;
typedef struct msg_ack {
    hoso_str type;
    int64_t seq;
} msg_ack;
typedef struct msg_ping {
    hoso_str type;
} msg_ping;

#define NOPRES ((size_t)-1)
static const hoso_field auth_fields[] = {
    {"type", HOSO_F_STR, 1, offsetof(msg_auth, type), NOPRES, 1, 32, NULL},
    {"token", HOSO_F_STR, 1, offsetof(msg_auth, token), NOPRES, 1, 127, NULL},
};
static const hoso_field subscribe_fields[] = {
    {"type", HOSO_F_STR, 1, offsetof(msg_subscribe, type), NOPRES, 1, 32, NULL},
    {"since", HOSO_F_INT, 0, offsetof(msg_subscribe, since), offsetof(msg_subscribe, has_since), 0, INT64_MAX, NULL},
    {"epoch", HOSO_F_STR, 0, offsetof(msg_subscribe, epoch), NOPRES, 1, 64, NULL},
    {"agency", HOSO_F_STR, 0, offsetof(msg_subscribe, agency), NOPRES, 1, 47, NULL},
};
static const hoso_field ack_fields[] = {
    {"type", HOSO_F_STR, 1, offsetof(msg_ack, type), NOPRES, 1, 32, NULL},
    {"seq", HOSO_F_INT, 1, offsetof(msg_ack, seq), NOPRES, 0, INT64_MAX, NULL},
};
static const hoso_field ping_fields[] = {
    {"type", HOSO_F_STR, 1, offsetof(msg_ping, type), NOPRES, 1, 32, NULL},
};
#define DESC(n, f, t) {n, f, sizeof(f) / sizeof(f[0]), NULL, 0, sizeof(t)}
static const hoso_msg_desc auth_desc = DESC("auth", auth_fields, msg_auth);
static const hoso_msg_desc subscribe_desc = DESC("subscribe", subscribe_fields, msg_subscribe);
static const hoso_msg_desc ack_desc = DESC("ack", ack_fields, msg_ack);
static const hoso_msg_desc ping_desc = DESC("ping", ping_fields, msg_ping);

static void on_auth(hoso_ws *c, void *m)
{
    msg_auth *a = m;
    hoso_txn *txn = NULL;
    int err;
    if (c->authed || c->auth_pending) {
        fail(c, WS_POLICY, HOSO_EBAD_REQUEST, "already authenticated");
        return;
    }
    if (remote_auth(c, a->token.ptr, a->token.len))
        return;
    if ((err = hoso__worker_read(c->w, &txn)) == 0) {
        err = authenticate(c, txn, a->token.ptr, a->token.len);
        hoso_txn_reset(txn);
    }
    if (err == HOSO_EUNAUTHORIZED)
        fail(c, WS_UNAUTHORIZED, err, "unauthorized: invalid or expired token");
    else if (err != 0)
        fail(c, WS_INTERNAL, err, "authentication failed");
}

static int pack_subscribed(msgpack_packer *pk, void *p)
{
    subscribed_arg *a = p;
    return msgpack_pack_map(pk, a->agency != NULL ? 5 : 4) || hoso_pack_kcstr(pk, "type", "subscribed") ||
           hoso_pack_kcstr(pk, "epoch", a->epoch) || hoso_pack_cstr(pk, "head") || msgpack_pack_uint64(pk, a->head) ||
           hoso_pack_cstr(pk, "recovered") || (a->recovered ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ||
           (a->agency != NULL && hoso_pack_kcstr(pk, "agency", a->agency));
}

static int stop_probe(void *ctx, uint64_t seq, const void *body, size_t len)
{
    return 1;
}

static void subscribe_agency(hoso_ws *c, msg_subscribe *s)
{
    hoso_store_stats st;
    char agency[48];
    snprintf(agency, sizeof(agency), "%s", s->agency.ptr);
    if (!(c->who.role == HOSO_ROLE_ADMIN ||
          ((c->who.role == HOSO_ROLE_OFFICER || c->who.role == HOSO_ROLE_BOT) && strcmp(c->who.agency, agency) == 0))) {
        fail(c, WS_FORBIDDEN, HOSO_EFORBIDDEN, "forbidden: not this account's agency");
        return;
    }
    memset(&st, 0, sizeof(st));
    hoso_store_stats_get(c->srv->store, &st);
    hoso__hub_subscribe(c->hub, &c->m, HOSO_SUB_AGENCY, agency);
    subscribed_arg a = {hoso_store_epoch(c->srv->store), agency, st.log_head, 0};
    send_packed(c, pack_subscribed, &a);
    c->state = WS_LIVE;
}

static void on_subscribe(hoso_ws *c, void *m)
{
    msg_subscribe *s = m;
    const char *epoch = hoso_store_epoch(c->srv->store);
    hoso_txn *txn = NULL;
    uint64_t head = 0;
    int recovered = 1, err;

    if (h2o_linklist_is_linked(&c->m.sub)) {
        fail(c, WS_POLICY, HOSO_EBAD_REQUEST, "already subscribed");
        return;
    }
    if (s->agency.ptr != NULL) {
        subscribe_agency(c, s);
        return;
    }
    if (!s->has_since) {
        fail(c, WS_INVALID_PAYLOAD, HOSO_EVALIDATION_FAILED, "since is required");
        return;
    }
    /* Join the index first: from here every commit reaches this connection live or is
     * in the snapshots read below. */
    hoso__hub_subscribe(c->hub, &c->m, HOSO_SUB_OWNER, c->who.account);
    if (c->remote) {
        /* The same on another node's feed: its live events come here from now on, then
         * its pages are read (the answer to this subscribe comes with the first). */
        if (c->srv->app.remote->watch(c->who.account) != 0) {
            fail(c, WS_TRY_AGAIN, HOSO_EUNAVAILABLE, "live events cannot be followed now, try again later");
            return;
        }
        c->rs->watching = 1;
        c->rs->live_gen = c->srv->app.remote->generation();
        c->state = WS_REPLAY;
        c->rs->first_page = 1;
        c->rs->sub_since = (uint64_t)s->since;
        remote_fetch(c, c->rs->sub_since, s->epoch.ptr);
        return;
    }
    if ((err = hoso__worker_read(c->w, &txn)) != 0 || (err = hoso_feed_head(txn, c->who.account, &head)) != 0) {
        if (txn != NULL)
            hoso_txn_reset(txn);
        fail(c, WS_INTERNAL, err, "storage unavailable");
        return;
    }
    if (s->epoch.ptr != NULL && strcmp(s->epoch.ptr, epoch) != 0) {
        recovered = 0;
    } else {
        err = hoso_feed_read(txn, c->who.account, (uint64_t)s->since, 1, stop_probe, NULL, NULL);
        if (err == HOSO_ECURSOR_EXPIRED) {
            recovered = 0;
        } else if (err < 0) {
            hoso_txn_reset(txn);
            fail(c, WS_INTERNAL, err, "storage unavailable");
            return;
        }
    }
    hoso_txn_reset(txn);
    subscribed_arg a = {epoch, NULL, head, recovered};
    send_packed(c, pack_subscribed, &a);
    c->last_sent = recovered ? (uint64_t)s->since : head;
    c->replayed = 0;
    if (c->last_sent < head) {
        c->state = WS_REPLAY;
        hoso__hub_want_replay(c->hub, &c->m);
    } else {
        c->state = WS_LIVE;
        hoso_metrics_ws_replay(0);
    }
}

static void on_ack(hoso_ws *c, void *m)
{
    msg_ack *a = m;
    /* Nothing is buffered per connection past what is queued to send, so the ack only
     * moves the client's position that metrics and diagnostics see. */
    if ((uint64_t)a->seq > c->acked && (uint64_t)a->seq <= c->last_sent)
        c->acked = (uint64_t)a->seq;
    hoso_metrics_ws_ack();
}

static int pack_pong(msgpack_packer *pk, void *arg)
{
    return msgpack_pack_map(pk, 1) || hoso_pack_kcstr(pk, "type", "pong");
}

static void on_app_ping(hoso_ws *c, void *m)
{
    send_packed(c, pack_pong, NULL);
}

/* The client messages, one row each. */
static const struct {
    const char *type;
    const hoso_msg_desc *desc;
    void (*fn)(hoso_ws *c, void *msg);
    int needs_auth;
} MESSAGES[] = {
    {"auth", &auth_desc, on_auth, 0},
    {"subscribe", &subscribe_desc, on_subscribe, 1},
    {"ack", &ack_desc, on_ack, 1},
    {"ping", &ping_desc, on_app_ping, 0},
};

static void on_frame(hoso_ws *c, const uint8_t *data, size_t len, int text)
{
    hoso_limits lim;
    hoso_errinfo ei;
    hoso_doc doc;
    union {
        msg_auth a;
        msg_subscribe s;
        msg_ack k;
        msg_ping p;
    } msg;
    const msgpack_object *type;
    int err;

    memset(&doc, 0, sizeof(doc));
    memset(&ei, 0, sizeof(ei));
    if (len > MAX_FRAME) {
        fail(c, WS_TOO_BIG, HOSO_EPAYLOAD_TOO_LARGE, "frame larger than 64 KiB");
        return;
    }
    hoso_limits_default(&lim);
    lim.max_body = MAX_FRAME;
    err = text ? hoso_doc_from_json(&doc, data, len, &lim, &ei) : hoso_doc_from_msgpack(&doc, data, len, &lim, &ei);
    if (err != 0) {
        fail(c, WS_INVALID_PAYLOAD, HOSO_EBAD_REQUEST, text ? "invalid JSON" : "invalid msgpack");
        return;
    }
    type = hoso_map_get(&doc.root, "type");
    if (type == NULL || type->type != MSGPACK_OBJECT_STR) {
        fail(c, WS_INVALID_PAYLOAD, HOSO_EBAD_REQUEST, "a frame is a map with a string type");
        goto Exit;
    }
    for (size_t i = 0; i < sizeof(MESSAGES) / sizeof(MESSAGES[0]); i++) {
        if (!hoso_obj_streq(type, MESSAGES[i].type))
            continue;
        if (MESSAGES[i].needs_auth && !c->authed) {
            fail(c, WS_UNAUTHORIZED, HOSO_EUNAUTHORIZED, "unauthorized: authenticate first");
            goto Exit;
        }
        if (hoso_decode(MESSAGES[i].desc, &doc, &doc.root, &msg, &ei) != 0) {
            char m[200];
            if (ei.nfields > 0)
                snprintf(m, sizeof(m), "%s: %s", ei.fields[0].field, ei.fields[0].problem);
            else
                snprintf(m, sizeof(m), "malformed %s frame", MESSAGES[i].type);
            fail(c, WS_INVALID_PAYLOAD, HOSO_EVALIDATION_FAILED, m);
            goto Exit;
        }
        MESSAGES[i].fn(c, &msg);
        goto Exit;
    }
    fail(c, WS_INVALID_PAYLOAD, HOSO_EBAD_REQUEST, "unknown frame type");
Exit:
    hoso_doc_destroy(&doc);
}

/* One whole message from the client (a data frame, or fragments put together). */
static void on_message(hoso_ws *c, const uint8_t *data, size_t len, int text)
{
    if (c->closing)
        return;
    if (!c->mode_set) {
        c->mode_set = 1;
        c->json = text;
    }
    on_frame(c, data, len, text);
}

/* Counts a frame against the flood limit; 1 when it is one too many. */
static int flooded(hoso_ws *c, int64_t now)
{
    if (now - c->window_ms >= FLOOD_WINDOW_MS) {
        c->window_ms = now;
        c->window_frames = 0;
    }
    if (++c->window_frames > FLOOD_MAX_FRAMES) {
        fail(c, WS_POLICY, HOSO_ERATE_LIMITED, "too many frames");
        return 1;
    }
    return 0;
}

/* A broken frame: close 1002, and nothing more is read. */
static void protocol_error(hoso_ws *c, uint16_t code, const char *why)
{
    queue_close_ex(c, code, why, 1);
    c->peer_closed = 1; /* nothing more is read: the close frame written, it ends */
    h2o_socket_read_stop(c->sock);
}

/* Parses the whole frames in the socket's input. RFC 6455 5.2: client frames are
 * masked, no RSV bit is set (no extension was agreed), control frames are short and
 * whole, a length takes the fewest bytes that can hold it. */
static void read_frames(hoso_ws *c)
{
    h2o_buffer_t *in = c->sock->input;
    size_t off = 0;
    while (!c->peer_closed && !c->auth_pending && c->sock != NULL && in->size - off >= 2) {
        uint8_t *p = (uint8_t *)in->bytes + off;
        size_t avail = in->size - off;
        unsigned fin = p[0] & 0x80, rsv = p[0] & 0x70, op = p[0] & 0x0f, masked = p[1] & 0x80, len7 = p[1] & 0x7f;
        size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
        uint64_t n = len7;
        if (avail < hl)
            break;
        if (len7 == 126)
            n = ((uint64_t)p[2] << 8) | p[3];
        else if (len7 == 127)
            n = hoso_be64_get(p + 2);
        if (rsv || !masked || (op > OP_BINARY && op < OP_CLOSE) || op > OP_PONG ||
            (op >= OP_CLOSE && (n > 125 || !fin)) || (len7 == 126 && n < 126) ||
            (len7 == 127 && (n < 65536 || (n >> 63) != 0))) {
            protocol_error(c, WS_PROTOCOL, "protocol error");
            break;
        }
        if (n > MAX_FRAME_HARD || (op <= OP_BINARY && c->frag_len + n > MAX_FRAME_HARD)) {
            protocol_error(c, WS_TOO_BIG, "frame too large");
            break;
        }
        hl += 4; /* the mask key */
        if (avail < hl || avail - hl < n)
            break; /* the rest of the frame is still on its way */
        uint8_t *mask = p + hl - 4, *pl = p + hl;
        for (uint64_t k = 0; k < n; k++)
            pl[k] ^= mask[k & 3];
        off += hl + (size_t)n;
        int64_t now = hoso_now_ms();
        c->last_recv_ms = now;
        if (!c->closing && flooded(c, now))
            continue;
        switch (op) {
        case OP_PING:
            if (!c->close_queued)
                queue_frame(c, OP_PONG, pl, (size_t)n, 1);
            break;
        case OP_PONG:
            break;
        case OP_CLOSE: {
            c->peer_closed = 1;
            uint16_t code = n >= 2 ? (uint16_t)((pl[0] << 8) | pl[1]) : 0;
            if (!c->close_queued) {
                /* echo the code, as RFC 6455 5.5.1 wants */
                c->close_queued = 1;
                c->closing = 1;
                c->close_by_ms = now + CLOSE_GRACE_MS;
                uint8_t echo[2] = {(uint8_t)(code >> 8), (uint8_t)code};
                if (queue_frame(c, OP_CLOSE, echo, code ? 2 : 0, 0) != 0)
                    c->close_sent = 1;
            }
            break;
        }
        case OP_CONT:
            if (c->frag_op == 0) {
                protocol_error(c, WS_PROTOCOL, "continuation without a message");
                break;
            }
            /* fall through */
        default: /* text, binary */
            if (op != OP_CONT && c->frag_op != 0) {
                protocol_error(c, WS_PROTOCOL, "a new message inside a fragmented one");
                break;
            }
            if (fin && op != OP_CONT) {
                on_message(c, pl, (size_t)n, op == OP_TEXT);
                break;
            }
            uint8_t *nb = realloc(c->frag, c->frag_len + (size_t)n + 1);
            if (nb == NULL) {
                protocol_error(c, WS_INTERNAL, "out of memory");
                break;
            }
            c->frag = nb;
            memcpy(c->frag + c->frag_len, pl, (size_t)n);
            c->frag_len += (size_t)n;
            if (op != OP_CONT)
                c->frag_op = (int)op;
            if (fin) {
                on_message(c, c->frag, c->frag_len, c->frag_op == OP_TEXT);
                free(c->frag);
                c->frag = NULL;
                c->frag_len = 0;
                c->frag_op = 0;
            }
        }
    }
    if (c->sock != NULL)
        h2o_buffer_consume(&c->sock->input, c->peer_closed ? c->sock->input->size : off);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    hoso_ws *c = sock->data;
    if (c == NULL)
        return;
    if (err != NULL) {
        destroy(c);
        return;
    }
    c->depth++;
    read_frames(c);
    if (!c->gone && !maybe_finish(c))
        flush_out(c);
    leave(c);
}

/* The 101 is written (sock), or the connection failed (NULL). */
static void on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
    hoso_ws *c = data;
    if (sock == NULL) {
        destroy(c);
        return;
    }
    c->sock = sock;
    sock->data = c;
    h2o_buffer_consume(&sock->input, reqsize);
    if (c->auth_pending)
        return; /* the frames are read once the caller is known (on_remote_auth) */
    h2o_socket_read_start(sock, on_read);
    c->depth++;
    if (sock->input->size > 0)
        read_frames(c); /* frames that came right behind the handshake */
    if (!c->gone && !maybe_finish(c))
        flush_out(c);
    leave(c);
}

/* ---------------------------------------------------------------------------------- */
/* GET /v1/ws */

/* Sec-WebSocket-Accept: base64(SHA-1(key + the RFC 6455 GUID)), key the client's 24
 * characters. */
static void accept_key(char out[29], const char *key)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[SHA_DIGEST_LENGTH], in[24 + sizeof(guid)];
    size_t n = 24; /* h2o checked it is 24 characters; it is not NUL-terminated */
    memcpy(in, key, n);
    memcpy(in + n, guid, sizeof(guid) - 1);
    SHA1(in, n + sizeof(guid) - 1, md);
    sodium_bin2base64(out, 29, md, sizeof(md), sodium_base64_VARIANT_ORIGINAL);
}

int hoso_route_ws(hoso_req *r)
{
    h2o_req_t *req = r->h2o;
    const char *key = NULL;
    char accept[29];
    hoso_ws *c;
    int token_err = 0;

    if (atomic_load(&r->srv->stopping) || r->worker->hub == NULL || hoso__hub_stopping(r->worker->hub))
        return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "the server is shutting down");
    if (req->version >= 0x200 || h2o_is_websocket_handshake(req, &key) != 0 || key == NULL)
        return hoso_fail(&r->err, HOSO_EBAD_REQUEST, "a WebSocket upgrade (HTTP/1.1) is required here");
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return HOSO_ENOMEM;
    c->w = r->worker;
    c->hub = r->worker->hub;
    c->srv = r->srv;
    c->opened_ms = c->last_recv_ms = c->last_ping_ms = c->window_ms = hoso_now_ms();

    /* A token in the header authenticates now; a bad one is refused over the socket
     * like a bad auth frame, so every client sees the same close code. */
    const char *tok = NULL;
    size_t tlen = 0;
    int has = hoso__req_bearer(r, &tok, &tlen);
    int remote = 0;
    if (has > 0 && r->srv->app.remote != NULL && r->srv->app.remote->foreign(tok, tlen))
        remote = 1; /* looked up once the connection is in the hub, below */
    else if (has != 0)
        token_err = has > 0 ? authenticate(c, r->rtxn, tok, tlen) : HOSO_EUNAUTHORIZED;
    hoso__req_finished(r, 101, 0);
    accept_key(accept, key);
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0, NULL, accept,
                          strlen(accept));
    hoso__hub_join(c->hub, &c->m, c);
    hoso_metrics_ws_conns(1);
    if (remote)
        remote_auth(c, tok, tlen);
    if (token_err == HOSO_EUNAUTHORIZED)
        fail(c, WS_UNAUTHORIZED, token_err, "unauthorized: invalid or expired token");
    else if (token_err != 0)
        fail(c, WS_INTERNAL, token_err, "authentication failed");
    /* The request and its pool end with the upgrade; nothing of r is kept. */
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, c);
    return HOSO_ASYNC;
}
