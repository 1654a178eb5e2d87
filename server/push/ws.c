/*
 * ws.c - GET /v1/ws: the live push channel over WebSocket (h2o + wslay). One
 * hoso_ws per connection: authentication (header or first frame), one subscription
 * (the caller's owner feed, or an agency stream for officers and bots), replay of the
 * feed from storage, live events from the hub, acks, pings, limits and closing.
 *
 * Order without gap or duplicate: the subscription joins the hub's index before the
 * first read of storage, so every event is either in a snapshot read later or arrives
 * live afterwards. While replaying, live events are ignored and the replay reads on
 * until a snapshot has nothing after the last sent seq; live events then go out only
 * when their seq is exactly last_sent + 1 (older ones are duplicates and dropped, a
 * newer one means a gap, which is filled by replaying again).
 *
 * h2o's WebSocket layer frees its connection when it reports the close (callback with
 * arg NULL), and h2o_websocket_proceed may report it from inside. So: message
 * callbacks only queue frames and never close; every proceed goes through kick(),
 * which frees the connection afterwards if it went away meanwhile; nothing is
 * proceeded or freed before the upgrade completed (conn->sock is NULL until then).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <h2o/websocket.h>
#include "push.h"

#define MAX_FRAME (64 * 1024)       /* larger client frames: error, then 1009 */
#define MAX_FRAME_HARD (256 * 1024) /* wslay drops larger ones itself with 1009 */
#define FLOOD_WINDOW_MS 1000
#define FLOOD_MAX_FRAMES 500
#define CLOSE_GRACE_MS 5000

/* Close codes (docs/protocol.md). */
enum {
    WS_GOING_AWAY = 1001,
    WS_PROTOCOL = 1002,
    WS_INVALID_PAYLOAD = 1007,
    WS_POLICY = 1008,
    WS_TOO_BIG = 1009,
    WS_INTERNAL = 1011,
    WS_IDLE = 4000,
    WS_UNAUTHORIZED = 4001,
    WS_FORBIDDEN = 4003,
    WS_SLOW = 4008,
    WS_EXPIRED = 4010,
};

enum ws_state { WS_OPEN, WS_REPLAY, WS_LIVE };

struct hoso_ws {
    hoso_hub_member m;
    h2o_websocket_conn_t *conn;
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
    int close_queued;
    uint16_t close_code;          /* close frame to send once the error frame left */
    char close_reason[64];
    int mode_set;                 /* the first data frame chose JSON or msgpack */
    int depth;                    /* inside kick() */
    uint8_t head[14];             /* a frame header held back until its payload */
    size_t head_len;
    /* The client's stream as frames, watched before wslay parses it (recv_checked). */
    uint8_t in_head[14];          /* the header being read */
    size_t in_have;               /* bytes of it so far */
    uint64_t in_skip;             /* payload bytes left of the current frame */
    int proto_error;              /* a header broke RFC 6455: nothing more is read */
    int gone;                     /* h2o reported the connection closed */
};

/* ---------------------------------------------------------------------------------- */
/* Lifetime */

static void destroy(hoso_ws *c)
{
    hoso__hub_leave(c->hub, &c->m);
    hoso_metrics_ws_conns(-1);
    h2o_websocket_close(c->conn);
    free(c);
}

/* Lets h2o write what is queued and read what came in. Returns 1 when the connection
 * was freed: the caller must not touch it then. */
static int kick(hoso_ws *c)
{
    if (c->conn->sock == NULL)
        return 0; /* the upgrade's own completion proceeds */
    c->depth++;
    h2o_websocket_proceed(c->conn);
    c->depth--;
    if (c->gone && c->depth == 0) {
        destroy(c);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Sending */

static size_t queued_bytes(hoso_ws *c)
{
    return wslay_event_get_queued_msg_length(c->conn->ws_ctx);
}

static size_t queued_msgs(hoso_ws *c)
{
    return wslay_event_get_queued_msg_count(c->conn->ws_ctx);
}

/* wslay hands a frame's header and its payload to the send callback separately, and
 * h2o writes each call on its own (one write in flight at a time): two syscalls and
 * two loop turns per frame. The header is held back and written with its payload. */
static ssize_t send_joined(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
    h2o_websocket_conn_t *conn = user;
    hoso_ws *c = conn->data;
    uint8_t stack[4096], *buf = stack;
    ssize_t r;

    if (h2o_socket_is_writing(conn->sock)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if ((flags & WSLAY_MSG_MORE) && c->head_len == 0 && len <= sizeof(c->head)) {
        memcpy(c->head, data, len);
        c->head_len = len;
        return (ssize_t)len;
    }
    if (c->head_len == 0)
        return conn->ws_callbacks.send_callback(ctx, data, len, flags, user);
    if (c->head_len + len > sizeof(stack) && (buf = malloc(c->head_len + len)) == NULL) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    memcpy(buf, c->head, c->head_len);
    memcpy(buf + c->head_len, data, len);
    r = conn->ws_callbacks.send_callback(ctx, buf, c->head_len + len, flags, user);
    if (r >= 0)
        r = (ssize_t)len; /* h2o takes all or nothing */
    c->head_len = 0;
    if (buf != stack)
        free(buf);
    return r;
}

static void queue_close(hoso_ws *c, uint16_t code, const char *reason);

/* wslay refuses a control frame over 125 bytes, a fragmented one and a 64-bit length
 * with its top bit set, but its refusal makes h2o drop the connection before the close
 * frame 1002 that wslay queued is sent. So the headers are checked here first: on a
 * violation wslay gets only the bytes before that frame, the close 1002 is queued,
 * and nothing the client sends afterwards is read. Returns how many bytes of buf[0..n)
 * come before a broken header, or n. */
static size_t scan_frames(hoso_ws *c, const uint8_t *buf, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (c->in_skip > 0) {
            size_t k = (uint64_t)(n - i) < c->in_skip ? n - i : (size_t)c->in_skip;
            c->in_skip -= k;
            i += k;
            continue;
        }
        size_t start = i;
        c->in_head[c->in_have++] = buf[i++];
        if (c->in_have < 2)
            continue;
        unsigned len7 = c->in_head[1] & 0x7f, mask = (c->in_head[1] & 0x80) ? 4 : 0;
        size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + mask;
        if (c->in_have < need)
            continue;
        unsigned opcode = c->in_head[0] & 0x0f, fin = c->in_head[0] & 0x80;
        uint64_t len = len7;
        if (len7 == 126)
            len = ((uint64_t)c->in_head[2] << 8) | c->in_head[3];
        else if (len7 == 127)
            len = hoso_be64_get(c->in_head + 2);
        c->in_have = 0;
        /* RFC 6455 5.2: control frames are short and whole, a length takes the fewest
         * bytes that can hold it, and a 64-bit length has its top bit clear. */
        if ((opcode >= 8 && (len > 125 || !fin)) || (len7 == 126 && len < 126) ||
            (len7 == 127 && (len < 65536 || (len >> 63) != 0))) {
            /* The broken header began in this chunk at most need bytes back. */
            size_t begin = start + 1 >= need ? start + 1 - need : 0;
            c->proto_error = 1;
            return begin;
        }
        c->in_skip = len;
    }
    return n;
}

static ssize_t recv_checked(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    h2o_websocket_conn_t *conn = user;
    hoso_ws *c = conn->data;
    ssize_t n;

    if (c->proto_error) {
        /* Drain and drop: the connection is closing. */
        uint8_t sink[4096];
        while (conn->ws_callbacks.recv_callback(ctx, sink, sizeof(sink), flags, user) > 0) {
        }
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if ((n = conn->ws_callbacks.recv_callback(ctx, buf, len, flags, user)) <= 0)
        return n;
    size_t ok = scan_frames(c, buf, (size_t)n);
    if (c->proto_error) {
        queue_close(c, WS_PROTOCOL, "protocol error");
        if (ok == 0) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        return (ssize_t)ok;
    }
    return n;
}

/* Queues one msgpack frame, as JSON text for a JSON client. */
static int send_frame(hoso_ws *c, const void *mp, size_t len)
{
    struct wslay_event_msg msg = {WSLAY_BINARY_FRAME, mp, len};
    char *text = NULL;
    size_t tlen = 0;
    int r;

    if (c->json) {
        if (hoso_msgpack_to_json(mp, len, &text, &tlen) != 0)
            return HOSO_ENOMEM;
        msg.opcode = WSLAY_TEXT_FRAME;
        msg.msg = (const uint8_t *)text;
        msg.msg_length = tlen;
    }
    r = wslay_event_queue_msg(c->conn->ws_ctx, &msg);
    free(text);
    return r == 0 ? 0 : HOSO_EUNAVAILABLE;
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

static void queue_close(hoso_ws *c, uint16_t code, const char *reason)
{
    /* A close reason is at most 123 bytes of UTF-8: cut on a character boundary, as a
     * reason split inside a character fails the client's close handshake. */
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
    wslay_event_queue_close(c->conn->ws_ctx, code, (const uint8_t *)reason, len);
}

/* An error frame, then the close frame once the error frame is on its way. */
static void fail(hoso_ws *c, uint16_t code, int err, const char *message)
{
    error_arg a = {err, message};
    if (c->closing)
        return;
    c->closing = 1;
    c->close_by_ms = hoso_now_ms() + CLOSE_GRACE_MS;
    if (send_packed(c, pack_error, &a) != 0) {
        queue_close(c, code, message);
        return;
    }
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", message);
    for (size_t n = strlen(c->close_reason); n > 0 && ((unsigned char)c->close_reason[n - 1] & 0x80); n--) {
        /* Drop a character the copy may have cut in two (and any non-ASCII tail). */
        c->close_reason[n - 1] = '\0';
    }
    hoso__hub_want_drain(c->hub, &c->m);
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
        queue_close(c, WS_SLOW, "slow consumer, resume with since");
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
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)json->text[k], json->len[k]};
    return wslay_event_queue_msg(c->conn->ws_ctx, &msg) == 0 ? 0 : HOSO_EUNAVAILABLE;
}

void hoso__ws_deliver(hoso_ws *c, const hoso_hub_event *e, int agency_stream, hoso_hub_json *json)
{
    if (c->closing || c->state != WS_LIVE)
        return; /* a replay in progress reads these from storage */
    if (agency_stream) {
        if (send_event(c, e->aframe, e->aframe_len, json, 1) == 0)
            hoso_metrics_ws_delivered(1);
    } else if (e->seq == c->last_sent + 1) {
        if (send_event(c, e->frame, e->frame_len, json, 0) == 0) {
            c->last_sent = e->seq;
            hoso_metrics_ws_delivered(1);
        }
    } else if (e->seq > c->last_sent + 1) {
        c->state = WS_REPLAY;
        c->replayed = 0;
        hoso__hub_want_replay(c->hub, &c->m);
        return;
    }
    check_pending(c);
}

void hoso__ws_flush(hoso_ws *c)
{
    kick(c);
}

typedef struct replay_ctx {
    hoso_ws *c;
    size_t sent;
    int gap;
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
    const hoso_config *cfg = &c->srv->cfg;
    replay_ctx rc = {c, 0, 0};
    hoso_txn *txn = NULL;
    int more = 0, err;

    *again = 0;
    if (c->closing || c->state != WS_REPLAY)
        return 0;
    /* Read on only while the client keeps up: a replay never trips the slow-consumer
     * limit by itself. */
    if (queued_bytes(c) > cfg->ws_max_pending / 2 || queued_msgs(c) > cfg->ws_max_pending_msgs / 2) {
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
    if (more) {
        *again = 1;
        return rc.sent;
    }
    /* Nothing after last_sent in this snapshot: whatever commits later comes live. */
    c->state = WS_LIVE;
    hoso_metrics_ws_replay(c->replayed);
    return rc.sent;
}

void hoso__ws_drain(hoso_ws *c)
{
    if (c->close_queued)
        return;
    if (c->conn->sock == NULL || queued_msgs(c) > 0) {
        hoso__hub_want_drain(c->hub, &c->m);
        return;
    }
    queue_close(c, c->close_code, c->close_reason);
    kick(c);
}

void hoso__ws_tick(hoso_ws *c, int64_t now)
{
    const hoso_config *cfg = &c->srv->cfg;
    if (c->conn->sock == NULL)
        return; /* upgrade still being written */
    if (c->closing) {
        if (now >= c->close_by_ms && c->depth == 0)
            destroy(c); /* the peer never completed the closing handshake */
        return;
    }
    if (!c->authed && now - c->opened_ms >= (int64_t)cfg->ws_auth_ms) {
        fail(c, WS_UNAUTHORIZED, HOSO_EUNAUTHORIZED, "unauthorized: no token in time");
    } else if (now - c->last_recv_ms >= (int64_t)cfg->ws_idle_ms) {
        queue_close(c, WS_IDLE, "idle");
    } else if (now - c->last_ping_ms >= (int64_t)cfg->ws_ping_ms) {
        struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
        wslay_event_queue_msg(c->conn->ws_ctx, &ping);
        c->last_ping_ms = now;
    } else {
        return;
    }
    kick(c);
}

void hoso__ws_shutdown(hoso_ws *c, int force)
{
    if (force) {
        if (c->conn->sock != NULL && c->depth == 0)
            destroy(c);
        return;
    }
    c->closing = 1;
    queue_close(c, WS_GOING_AWAY, "server shutting down");
    kick(c);
}

/* ---------------------------------------------------------------------------------- */
/* Client messages */

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
    if (c->authed) {
        fail(c, WS_POLICY, HOSO_EBAD_REQUEST, "already authenticated");
        return;
    }
    if ((err = hoso__worker_read(c->w, &txn)) == 0) {
        err = authenticate(c, txn, a->token.ptr, a->token.len);
        hoso_txn_reset(txn);
    }
    if (err == HOSO_EUNAUTHORIZED)
        fail(c, WS_UNAUTHORIZED, err, "unauthorized: invalid or expired token");
    else if (err != 0)
        fail(c, WS_INTERNAL, err, "authentication failed");
}

typedef struct subscribed_arg {
    const char *epoch, *agency;
    uint64_t head;
    int recovered;
} subscribed_arg;

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
    /* Nothing is buffered per connection past what wslay queues, so the ack only
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

/* h2o's callback: a message, or NULL when the connection is gone. Runs inside
 * h2o_websocket_proceed for messages, so it only queues. */
static void on_ws(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    hoso_ws *c = conn->data;
    int64_t now;

    if (arg == NULL) {
        c->gone = 1;
        if (c->depth == 0)
            destroy(c);
        return;
    }
    now = hoso_now_ms();
    c->last_recv_ms = now;
    if (c->closing)
        return;
    if (now - c->window_ms >= FLOOD_WINDOW_MS) {
        c->window_ms = now;
        c->window_frames = 0;
    }
    if (++c->window_frames > FLOOD_MAX_FRAMES) {
        fail(c, WS_POLICY, HOSO_ERATE_LIMITED, "too many frames");
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return; /* ping, pong and close are wslay's */
    if (!c->mode_set) {
        c->mode_set = 1;
        c->json = arg->opcode == WSLAY_TEXT_FRAME;
    }
    on_frame(c, arg->msg, arg->msg_length, arg->opcode == WSLAY_TEXT_FRAME);
}

/* ---------------------------------------------------------------------------------- */
/* GET /v1/ws */

int hoso_route_ws(hoso_req *r)
{
    h2o_req_t *req = r->h2o;
    const char *key = NULL;
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
    if (has != 0)
        token_err = has > 0 ? authenticate(c, r->rtxn, tok, tlen) : HOSO_EUNAUTHORIZED;
    hoso__req_finished(r, 101, 0);
    c->conn = h2o_upgrade_to_websocket(req, key, c, on_ws);
    wslay_event_config_set_max_recv_msg_length(c->conn->ws_ctx, MAX_FRAME_HARD);
    struct wslay_event_callbacks cbs = c->conn->ws_callbacks;
    cbs.send_callback = send_joined;
    cbs.recv_callback = recv_checked;
    wslay_event_config_set_callbacks(c->conn->ws_ctx, &cbs);
    hoso__hub_join(c->hub, &c->m, c);
    hoso_metrics_ws_conns(1);
    if (token_err == HOSO_EUNAUTHORIZED)
        fail(c, WS_UNAUTHORIZED, token_err, "unauthorized: invalid or expired token");
    else if (token_err != 0)
        fail(c, WS_INTERNAL, token_err, "authentication failed");
    /* The request and its pool end with the upgrade; nothing of r is kept. */
    return HOSO_ASYNC;
}
