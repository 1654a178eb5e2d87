/*
 * ws.c - the blocking WebSocket client of the push tests (RFC 6455, client side).
 */
#define _GNU_SOURCE
#include "ws.h"
#include "hoso_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

/* The RFC 6455 example key and its accept value. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int send_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads what is there, waiting up to timeout_ms. 1 read, 0 timeout, -1 EOF/error. */
static int fill(ht_ws *ws, int timeout_ms)
{
    struct pollfd p = {ws->fd, POLLIN, 0};
    int r;
    if (ws->fd < 0) return -1;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) return -1;
    if (ws->cap - ws->len < 65536) {
        ws->cap = ws->cap ? ws->cap * 2 : 131072;
        ws->buf = realloc(ws->buf, ws->cap);
    }
    ssize_t n;
    do n = recv(ws->fd, ws->buf + ws->len, ws->cap - ws->len, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        ws->eof = 1;
        return -1;
    }
    ws->len += (size_t)n;
    return 1;
}

static void consume(ht_ws *ws, size_t n)
{
    memmove(ws->buf, ws->buf + n, ws->len - n);
    ws->len -= n;
}

int ht_ws_connect(ht_ws *ws, int port, const char *token, const char *src, int rcvbuf)
{
    char req[1024], auth[400] = "";
    memset(ws, 0, sizeof(*ws));
    ws->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ws->fd < 0) return -1;
    int one = 1;
    setsockopt(ws->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(ws->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (rcvbuf > 0) setsockopt(ws->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct timeval tv = {10, 0};
    setsockopt(ws->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (src) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &s.sin_addr);
        if (bind(ws->fd, (struct sockaddr *)&s, sizeof(s)) != 0) goto Fail;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(ws->fd, (struct sockaddr *)&a, sizeof(a)) != 0) goto Fail;
    if (token) snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    snprintf(req, sizeof(req),
             "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             port, auth);
    if (send_all(ws->fd, req, strlen(req)) != 0) goto Fail;
    int64_t deadline = ht_mono_ms() + 10000;
    char *end = NULL;
    while (!(end = ws->buf ? memmem(ws->buf, ws->len, "\r\n\r\n", 4) : NULL)) {
        int left = (int)(deadline - ht_mono_ms());
        if (left <= 0 || fill(ws, left) <= 0) goto Fail;
    }
    size_t hlen = (size_t)(end - (char *)ws->buf) + 4;
    char *head = strndup((char *)ws->buf, hlen);
    consume(ws, hlen);
    sscanf(head, "HTTP/1.%*d %d", &ws->status);
    int ok = ws->status == 101 && strcasestr(head, "sec-websocket-accept: " WS_ACCEPT) != NULL &&
             strcasestr(head, "upgrade: websocket") != NULL;
    free(head);
    if (!ok) goto Fail;
    return 0;
Fail:
    if (ws->fd >= 0) close(ws->fd);
    ws->fd = -1;
    return -1;
}

int ht_ws_send(ht_ws *ws, int opcode, const void *data, size_t len)
{
    uint8_t hdr[14], mask[4];
    size_t h = 0;
    if (ws->fd < 0) return -1;
    hdr[h++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    for (int i = 0; i < 4; i++) mask[i] = (uint8_t)rand();
    memcpy(hdr + h, mask, 4);
    h += 4;
    uint8_t *out = malloc(h + len + 1);
    memcpy(out, hdr, h);
    for (size_t i = 0; i < len; i++) out[h + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
    int r = send_all(ws->fd, out, h + len);
    free(out);
    return r;
}

int ht_ws_send_json(ht_ws *ws, const json_t *msg)
{
    if (ws->json) {
        char *t = json_dumps(msg, JSON_COMPACT);
        int r = ht_ws_send(ws, HT_WS_TEXT, t, strlen(t));
        free(t);
        return r;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ht_pack_json(&pk, msg);
    int r = ht_ws_send(ws, HT_WS_BINARY, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return r;
}

/* One whole frame from the buffer: 1 with it, 0 when incomplete. Server frames are
 * never masked and never fragmented by hosod; continuation frames are still joined. */
static int parse(ht_ws *ws, ht_ws_frame *f)
{
    if (ws->len < 2) return 0;
    const uint8_t *b = ws->buf;
    size_t h = 2;
    uint64_t len = b[1] & 0x7f;
    if (len == 126) {
        if (ws->len < 4) return 0;
        len = (uint64_t)b[2] << 8 | b[3];
        h = 4;
    } else if (len == 127) {
        if (ws->len < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
        h = 10;
    }
    if (b[1] & 0x80) h += 4;
    if (ws->len < h + len) return 0;
    f->opcode = b[0] & 0x0f;
    f->len = (size_t)len;
    f->data = malloc(f->len + 1);
    memcpy(f->data, b + h, f->len);
    f->data[f->len] = 0;
    consume(ws, h + (size_t)len);
    return 1;
}

int ht_ws_recv(ht_ws *ws, ht_ws_frame *f, int timeout_ms)
{
    int64_t deadline = ht_mono_ms() + timeout_ms;
    memset(f, 0, sizeof(*f));
    for (;;) {
        if (ws->close_code) return -1;
        while (parse(ws, f)) {
            if (f->opcode == HT_WS_PING) {
                ht_ws_send(ws, HT_WS_PONG, f->data, f->len);
                ws->pings++;
            } else if (f->opcode == HT_WS_CLOSE) {
                ws->close_code = f->len >= 2 ? (f->data[0] << 8 | f->data[1]) : 1005;
                snprintf(ws->close_reason, sizeof(ws->close_reason), "%.*s", f->len > 2 ? (int)f->len - 2 : 0,
                         f->len > 2 ? (char *)f->data + 2 : "");
                ht_ws_frame_free(f);
                return -1;
            } else if (f->opcode != HT_WS_PONG) {
                return 1;
            }
            ht_ws_frame_free(f);
        }
        if (ws->eof) return -1;
        int left = (int)(deadline - ht_mono_ms());
        if (left < 0) left = 0;
        int r = fill(ws, left);
        if (r < 0) continue; /* parse what is left, then report the close */
        if (r == 0) return 0;
    }
}

void ht_ws_frame_free(ht_ws_frame *f)
{
    free(f->data);
    f->data = NULL;
}

json_t *ht_ws_frame_json(const ht_ws_frame *f)
{
    json_t *j = NULL;
    if (f->opcode == HT_WS_TEXT) {
        j = json_loadb((char *)f->data, f->len, 0, NULL);
    } else {
        msgpack_zone z;
        msgpack_object o;
        size_t off = 0;
        msgpack_zone_init(&z, 4096);
        if (msgpack_unpack((char *)f->data, f->len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS)
            j = ht_json_from_msgpack(&o);
        msgpack_zone_destroy(&z);
    }
    if (!j) ht_fail("a server frame is neither msgpack nor JSON");
    return j;
}

json_t *ht_ws_recv_json(ht_ws *ws, int timeout_ms)
{
    ht_ws_frame f;
    if (ht_ws_recv(ws, &f, timeout_ms) != 1) return NULL;
    json_t *j = ht_ws_frame_json(&f);
    ht_ws_frame_free(&f);
    return j;
}

int ht_ws_wait_close(ht_ws *ws, int timeout_ms)
{
    int64_t deadline = ht_mono_ms() + timeout_ms;
    ht_ws_frame f;
    for (;;) {
        int left = (int)(deadline - ht_mono_ms());
        if (left < 0) return -1;
        int r = ht_ws_recv(ws, &f, left);
        if (r == 1) {
            ht_ws_frame_free(&f);
            continue;
        }
        if (r == 0) return -1;
        return ws->close_code;
    }
}

int ht_ws_buffered(const ht_ws *ws)
{
    return ws->len > 0;
}

void ht_ws_close(ht_ws *ws)
{
    if (ws->fd >= 0 && !ws->eof) {
        uint8_t code[2] = {1000 >> 8, 1000 & 0xff};
        ht_ws_send(ws, HT_WS_CLOSE, code, 2);
    }
    ht_ws_drop(ws);
}

void ht_ws_drop(ht_ws *ws)
{
    if (ws->fd >= 0) close(ws->fd);
    ws->fd = -1;
    free(ws->buf);
    ws->buf = NULL;
    ws->len = ws->cap = 0;
}

json_t *ht_ws_expect(ht_ws *ws, const char *type, int timeout_ms)
{
    json_t *j = ht_ws_recv_json(ws, timeout_ms);
    if (!j)
        ht_fail("expected a \"%s\" frame, got %s (close %d \"%s\")", type, ws->close_code || ws->eof ? "the end" : "nothing",
                ws->close_code, ws->close_reason);
    const char *t = ht_jstr(j, "type");
    if (!t || strcmp(t, type) != 0) ht_fail("expected a \"%s\" frame, got %s", type, ht_dump(j));
    return j;
}

json_t *ht_ws_subscribe(ht_ws *ws, long long since, const char *epoch)
{
    json_t *m = json_pack("{s:s}", "type", "subscribe");
    if (since >= 0) json_object_set_new(m, "since", json_integer(since));
    if (epoch) json_object_set_new(m, "epoch", json_string(epoch));
    if (ht_ws_send_json(ws, m) != 0) ht_fail("sending subscribe failed");
    json_decref(m);
    return ht_ws_expect(ws, "subscribed", 10000);
}

json_t *ht_ws_open_subscribed(ht_ws *ws, int port, const char *token, long long since)
{
    if (ht_ws_connect(ws, port, token, NULL, 0) != 0) ht_fail("WebSocket upgrade failed: HTTP %d", ws->status);
    return ht_ws_subscribe(ws, since, NULL);
}
