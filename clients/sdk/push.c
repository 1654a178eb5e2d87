/*
 * push.c - live events over a WebSocket to /v1/ws: authenticate with the token in the
 * upgrade request, subscribe from the last seq (with the epoch), hand each event to
 * the feed (once, in seq order), ack it, and reconnect after any loss with capped
 * exponential backoff and jitter. When the server cannot resume (`recovered: false`)
 * the snapshot is fetched first and the events that arrive meanwhile wait for it.
 *
 * Frames are msgpack maps (binary frames); a JSON text frame is read too. The
 * connection is owned by lws; ours is the hoso__push record, which the wsi reaches
 * through its opaque pointer until we detach it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define HOSO__PUSH_MAX_FRAME ((size_t)8 << 20)
#define HOSO__PUSH_PING_MS 25000
#define HOSO__PUSH_SILENT_MS 60000
#define HOSO__PUSH_MAX_HELD 20000 /* events held while a snapshot loads */

struct hoso__push {
    hoso_client *c;
    struct lws *wsi;
    hoso_push_state state;
    uv_timer_t timer; /* reconnect delay, or the ping/silence watchdog while connected */
    unsigned attempt;
    int want_subscribe, want_ping;
    uint64_t ack_seq, acked;
    char *rx;
    size_t rlen, rcap;
    uint64_t last_rx;  /* uv_now of the last frame or pong */
    uint64_t last_ping;
    int loading;       /* snapshot in flight */
    msgpack_sbuffer held; /* events (msgpack maps, concatenated) that wait for it */
    size_t nheld;
    int closing;       /* hoso_client_push_stop: free after the timer closed */
    int timer_closed;
    int resync; /* reconnect once the snapshot is loaded */
    int denied; /* the server refused the token: no retry until push_start again */
};

static void connect_now(hoso__push *p);
static void push_free(hoso__push *p);

static void set_state(hoso__push *p, hoso_push_state st, const hoso_client_error *why)
{
    if (p->state == st) return;
    p->state = st;
    if (p->c->cbs.on_push_state) p->c->cbs.on_push_state(p->c, st, why, p->c->cbs.ud);
}

static void on_timer(uv_timer_t *t);

/* Detaches from the wsi (lws closes it) and schedules the next attempt. */
static void lost(hoso__push *p, const char *why)
{
    hoso_client_error e;
    if (p->wsi) {
        lws_set_opaque_user_data(p->wsi, NULL);
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        p->wsi = NULL;
    }
    p->rlen = 0;
    if (p->closing || p->c->freeing || p->denied || p->resync) return;
    hoso__error_from_obj(&e, 0, NULL, HOSO_EUNAVAILABLE);
    snprintf(e.message, sizeof(e.message), "push: %s", why);
    set_state(p, HOSO_PUSH_CONNECTING, &e);
    unsigned ms = hoso__backoff_ms(p->c, p->attempt);
    if (p->attempt < 30) p->attempt++;
    uv_timer_stop(&p->timer);
    uv_timer_start(&p->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    hoso__push *p = t->data;
    if (!p->wsi) {
        connect_now(p);
        return;
    }
    /* Connected: the watchdog. The server pings every 25 s; we ping too, so that a
     * half-open connection (a phone that changed network) is noticed. */
    uint64_t now = uv_now(p->c->loop);
    if (now - p->last_rx > HOSO__PUSH_SILENT_MS) {
        lost(p, "the server went silent");
        return;
    }
    if (now - p->last_ping >= HOSO__PUSH_PING_MS) {
        p->last_ping = now;
        p->want_ping = 1;
        lws_callback_on_writable(p->wsi);
    }
    uv_timer_start(&p->timer, on_timer, HOSO__PUSH_PING_MS / 5, 0);
}

static void deliver_held(hoso__push *p)
{
    size_t off = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    while (off < p->held.size &&
           msgpack_unpack_next(&u, p->held.data, p->held.size, &off) == MSGPACK_UNPACK_SUCCESS) {
        hoso__feed_event(p->c, &u.data);
        p->ack_seq = p->c->last_seq;
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_clear(&p->held);
    p->nheld = 0;
    if (p->wsi && p->ack_seq > p->acked) lws_callback_on_writable(p->wsi);
}

static void on_snapshot_done(hoso_client *c, const hoso_client_error *err, void *ud)
{
    hoso__push *p = ud;
    p->loading = 0;
    if (p->closing) {
        if (p->timer_closed) push_free(p);
        return;
    }
    if (err) {
        /* Without the snapshot the feed cannot continue: start over later. */
        msgpack_sbuffer_clear(&p->held);
        p->nheld = 0;
        p->resync = 0;
        lost(p, err->message);
        return;
    }
    deliver_held(p);
    if (p->resync) {
        p->resync = 0;
        p->attempt = 0;
        uv_timer_stop(&p->timer);
        uv_timer_start(&p->timer, on_timer, 0, 0);
    }
}

/* The event map inside a frame: {type: event, event: {...}} or the frame itself with
 * the feed type under `event` / `kind`. Returns the event map to deliver, packed. */
static int event_of(const msgpack_object *f, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    const msgpack_object *inner = hoso_map_get(f, "event");
    if (inner && inner->type == MSGPACK_OBJECT_MAP) return msgpack_pack_object(&pk, *inner);
    const msgpack_object *kind = inner && inner->type == MSGPACK_OBJECT_STR ? inner : hoso_map_get(f, "kind");
    /* Rebuild the feed shape {seq, at, type, dossier, ...} with the feed type. */
    static const char *const frame_keys[] = {"type", "event", "kind", NULL};
    if (hoso_pack_map_without(&pk, f, frame_keys, kind ? 1 : 0) != 0) return -1;
    if (kind) {
        hoso_pack_cstr(&pk, "type");
        msgpack_pack_object(&pk, *kind);
    }
    return 0;
}

static void on_frame(hoso__push *p, const char *buf, size_t len)
{
    hoso_doc doc = {0};
    hoso_limits lim;
    char type[32];
    hoso_limits_default(&lim);
    lim.max_body = HOSO__PUSH_MAX_FRAME;
    lim.max_array = 100000;
    if (hoso_doc_from_msgpack(&doc, buf, len, &lim, NULL) && hoso_doc_from_json(&doc, buf, len, &lim, NULL))
        return; /* not ours to crash on: ignore a frame we cannot read */
    if (doc.root.type != MSGPACK_OBJECT_MAP) goto Exit;
    hoso__obj_cstr(hoso_map_get(&doc.root, "type"), type, sizeof(type));
    if (strcmp(type, "subscribed") == 0) {
        char epoch[HOSO__EPOCH_MAX];
        const msgpack_object *rec = hoso_map_get(&doc.root, "recovered");
        int recovered = !rec || rec->type != MSGPACK_OBJECT_BOOLEAN || rec->via.boolean;
        hoso__obj_cstr(hoso_map_get(&doc.root, "epoch"), epoch, sizeof(epoch));
        p->attempt = 0;
        set_state(p, HOSO_PUSH_LIVE, NULL);
        /* Back online: what waits in the outbox can go now. */
        hoso__outbox_kick(p->c);
        if (!recovered) {
            p->loading = 1;
            if (hoso__feed_snapshot(p->c, on_snapshot_done, p)) {
                p->loading = 0;
                lost(p, "cannot fetch the snapshot");
            }
        } else if (epoch[0]) {
            hoso__set_epoch(p->c, epoch);
        }
    } else if (strcmp(type, "error") == 0) {
        /* The error frame is {type: error, code, message}; the close follows. */
        hoso_client_error e;
        char code[32];
        memset(&e, 0, sizeof(e));
        hoso__obj_cstr(hoso_map_get(&doc.root, "code"), code, sizeof(code));
        e.err = code[0] ? hoso__err_from_code(code) : HOSO_EBAD_REQUEST;
        snprintf(e.code, sizeof(e.code), "%s", hoso_err_code(e.err));
        hoso__obj_cstr(hoso_map_get(&doc.root, "message"), e.message, sizeof(e.message));
        if (e.err == HOSO_ECURSOR_EXPIRED && !p->loading) {
            /* The feed moved past our seq while replaying: load the snapshot, then
             * subscribe again from its head. */
            p->resync = 1;
            lost(p, e.message);
            p->loading = 1;
            if (hoso__feed_snapshot(p->c, on_snapshot_done, p)) {
                p->loading = 0;
                p->resync = 0;
                lost(p, "cannot fetch the snapshot");
            }
        } else if (e.err == HOSO_EUNAUTHORIZED || e.err == HOSO_EFORBIDDEN) {
            /* Retrying cannot help until the app logs in again. */
            p->denied = 1;
            lost(p, e.message);
            p->state = HOSO_PUSH_CONNECTING; /* so that set_state reports OFF */
            set_state(p, HOSO_PUSH_OFF, &e);
        } else {
            lost(p, e.message[0] ? e.message : "the server reported an error");
        }
    } else if (hoso_map_get(&doc.root, "seq")) {
        /* "event", or any frame that carries a feed seq. */
        msgpack_sbuffer ev;
        msgpack_sbuffer_init(&ev);
        if (event_of(&doc.root, &ev) == 0) {
            if (p->loading) {
                if (p->nheld < HOSO__PUSH_MAX_HELD) {
                    msgpack_sbuffer_write(&p->held, ev.data, ev.size);
                    p->nheld++;
                } else if (!p->resync) {
                    /* Dropping an event would leave a gap: drop the connection
                     * instead, and resubscribe from the last seq once the snapshot
                     * and the held events are delivered. */
                    p->resync = 1;
                    lost(p, "too many events while the snapshot loads");
                }
            } else {
                hoso_doc ed = {0};
                if (hoso_doc_from_msgpack(&ed, ev.data, ev.size, &lim, NULL) == 0) {
                    hoso__feed_event(p->c, &ed.root);
                    p->ack_seq = p->c->last_seq;
                    if (p->wsi && p->ack_seq > p->acked) lws_callback_on_writable(p->wsi);
                }
                hoso_doc_destroy(&ed);
            }
        }
        msgpack_sbuffer_destroy(&ev);
    }
    /* pong, ping and unknown types: forward compatible, nothing to do. */
Exit:
    hoso_doc_destroy(&doc);
}

static int write_frame(struct lws *wsi, const msgpack_sbuffer *sb, enum lws_write_protocol kind)
{
    unsigned char buf[LWS_PRE + 512];
    if (sb->size > sizeof(buf) - LWS_PRE) return -1;
    memcpy(buf + LWS_PRE, sb->data, sb->size);
    return lws_write(wsi, buf + LWS_PRE, sb->size, kind) < (int)sb->size ? -1 : 0;
}

static int on_writable(hoso__push *p, struct lws *wsi)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (p->want_subscribe) {
        p->want_subscribe = 0;
        int ep = p->c->epoch[0] != 0;
        msgpack_pack_map(&pk, 2 + ep);
        hoso_pack_cstr(&pk, "type");
        hoso_pack_cstr(&pk, "subscribe");
        hoso_pack_cstr(&pk, "since");
        msgpack_pack_uint64(&pk, p->c->last_seq);
        if (ep) {
            hoso_pack_cstr(&pk, "epoch");
            hoso_pack_cstr(&pk, p->c->epoch);
        }
        rc = write_frame(wsi, &sb, LWS_WRITE_BINARY);
    } else if (p->want_ping) {
        p->want_ping = 0;
        unsigned char buf[LWS_PRE + 4];
        rc = lws_write(wsi, buf + LWS_PRE, 0, LWS_WRITE_PING) < 0 ? -1 : 0;
    } else if (p->ack_seq > p->acked) {
        /* One ack for everything delivered so far: acks are cumulative. */
        msgpack_pack_map(&pk, 2);
        hoso_pack_cstr(&pk, "type");
        hoso_pack_cstr(&pk, "ack");
        hoso_pack_cstr(&pk, "seq");
        msgpack_pack_uint64(&pk, p->ack_seq);
        rc = write_frame(wsi, &sb, LWS_WRITE_BINARY);
        if (rc == 0) p->acked = p->ack_seq;
    }
    msgpack_sbuffer_destroy(&sb);
    if (rc == 0 && (p->want_subscribe || p->want_ping || p->ack_seq > p->acked)) lws_callback_on_writable(wsi);
    return rc;
}

int hoso__push_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    hoso__push *p = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!p) return -1;
        unsigned char **pp = in, *end = *pp + len;
        char v[HOSO__TOKEN_MAX + 16];
        int n = snprintf(v, sizeof(v), "Bearer %s", p->c->token);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"authorization:", (unsigned char *)v, n, pp, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!p) return -1;
        p->last_rx = p->last_ping = uv_now(p->c->loop);
        p->want_subscribe = 1;
        p->acked = p->ack_seq = 0;
        lws_callback_on_writable(wsi);
        uv_timer_stop(&p->timer);
        uv_timer_start(&p->timer, on_timer, HOSO__PUSH_PING_MS / 5, 0);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!p) return -1;
        p->last_rx = uv_now(p->c->loop);
        if (p->rlen + len > HOSO__PUSH_MAX_FRAME) {
            lost(p, "a frame was too large");
            return -1;
        }
        if (p->rlen + len > p->rcap) {
            size_t cap = p->rcap ? p->rcap : 4096;
            while (cap < p->rlen + len) cap *= 2;
            char *nb = realloc(p->rx, cap);
            if (!nb) {
                lost(p, "out of memory");
                return -1;
            }
            p->rx = nb;
            p->rcap = cap;
        }
        memcpy(p->rx + p->rlen, in, len);
        p->rlen += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            size_t n = p->rlen;
            p->rlen = 0;
            on_frame(p, p->rx, n);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        if (p) p->last_rx = uv_now(p->c->loop);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!p) return -1;
        return on_writable(p, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (p) {
            char why[160];
            snprintf(why, sizeof(why), "cannot connect: %s", in ? (const char *)in : "error");
            p->wsi = NULL;
            lws_set_opaque_user_data(wsi, NULL);
            lost(p, why);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (p) {
            p->wsi = NULL;
            lws_set_opaque_user_data(wsi, NULL);
            lost(p, "the connection closed");
        }
        return 0;
    default:
        return 0;
    }
}

static void connect_now(hoso__push *p)
{
    hoso_client *c = p->c;
    char path[HOSO__URL_MAX + 16]; /* lws copies the connect strings */
    if (!c->token[0]) {
        lost(p, "not logged in");
        return;
    }
    snprintf(path, sizeof(path), "%s/v1/ws", c->prefix);
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof(i));
    i.context = c->lws;
    i.address = c->host;
    i.port = c->port;
    i.path = path;
    i.host = c->host;
    i.origin = c->host;
    i.local_protocol_name = "hoso-push";
    i.opaque_user_data = p;
    i.alpn = "http/1.1";
    if (c->tls) {
        i.ssl_connection = LCCSCF_USE_SSL;
        if (c->opt.insecure_tls) i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    }
    set_state(p, HOSO_PUSH_CONNECTING, NULL);
    p->wsi = NULL;
    struct lws *w = lws_client_connect_via_info(&i);
    /* A connect error may have run `lost` already, inside the call. */
    if (w && lws_get_opaque_user_data(w) == p) p->wsi = w;
    else if (!w && !uv_is_active((uv_handle_t *)&p->timer)) lost(p, "connect failed");
}

int hoso_client_push_start(hoso_client *c)
{
    if (c->push && !c->push->denied) return 0;
    if (c->push) hoso_client_push_stop(c);
    hoso__push *p = calloc(1, sizeof(*p));
    if (!p) return HOSO_ENOMEM;
    p->c = c;
    msgpack_sbuffer_init(&p->held);
    uv_timer_init(c->loop, &p->timer);
    p->timer.data = p;
    c->open_handles++;
    c->push = p;
    /* From the loop, like every other callback. */
    uv_timer_start(&p->timer, on_timer, 0, 0);
    return 0;
}

static void push_free(hoso__push *p)
{
    msgpack_sbuffer_destroy(&p->held);
    free(p->rx);
    free(p);
}

static void on_push_closed(uv_handle_t *h)
{
    hoso__push *p = h->data;
    p->c->open_handles--;
    /* A snapshot request in flight still points at p: it frees p when it ends. */
    if (p->loading) p->timer_closed = 1;
    else push_free(p);
}

void hoso_client_push_stop(hoso_client *c)
{
    hoso__push *p = c->push;
    if (!p) return;
    c->push = NULL;
    p->closing = 1;
    if (p->wsi) {
        lws_set_opaque_user_data(p->wsi, NULL);
        lws_set_timeout(p->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        p->wsi = NULL;
    }
    uv_timer_stop(&p->timer);
    p->state = HOSO_PUSH_OFF;
    if (c->cbs.on_push_state) c->cbs.on_push_state(c, HOSO_PUSH_OFF, NULL, c->cbs.ud);
    uv_close((uv_handle_t *)&p->timer, on_push_closed);
}

hoso_push_state hoso_client_push_state(const hoso_client *c)
{
    return c->push ? c->push->state : HOSO_PUSH_OFF;
}

void hoso__push_drop(hoso_client *c)
{
    if (c->push && c->push->wsi) lost(c->push, "the connection was dropped");
}
