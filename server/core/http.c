/*
 * http.c - the one h2o handler of hosod: route lookup, content negotiation, body
 * decoding, bearer authentication, the handler call, and every reply (including the
 * single error shape). Runs on the worker thread that owns the request.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sodium.h>
#include "runtime.h"

/* The request as the runtime keeps it: the handler sees `r`, the runtime also needs
 * the arrival time and whether a reply went out. Lives in the h2o request pool. */
typedef struct req_full {
    hoso_req r;
    uint64_t start_usec;
    int replied;
    int head;          /* a HEAD request: the GET route's headers, never a body */
    char allow[48];    /* 405: the methods the path takes */
    char id[40];       /* request id, echoed in X-Request-Id and logged */
} req_full;

typedef struct root_handler {
    h2o_handler_t super;
    hoso_server *srv;
} root_handler;

static h2o_generator_t no_generator = {NULL, NULL};

uint64_t hoso__now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void hoso__req_finished(hoso_req *r, int status, size_t bytes)
{
    req_full *f = (req_full *)r;
    uint64_t usec = hoso__now_usec() - f->start_usec;
    hoso_metrics_request(r->route, status, usec);
    if (hoso_log_enabled(HOSO_LOG_INFO)) {
        h2o_iovec_t m = r->h2o->method;
        char method[16];
        snprintf(method, sizeof(method), "%.*s", (int)(m.len < 15 ? m.len : 15), m.base);
        hoso_log_req lr = {f->id, method, r->route != NULL ? r->route->name : "unmatched", status, usec, bytes};
        hoso_log_request(&lr);
    }
}

int hoso__req_bearer(hoso_req *r, const char **token, size_t *len)
{
    static const char bearer[] = "Bearer ";
    const size_t blen = sizeof(bearer) - 1;
    ssize_t i = h2o_find_header(&r->h2o->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t h = r->h2o->headers.entries[i].value;
    if (h.len <= blen || strncasecmp(h.base, bearer, blen) != 0)
        return -1;
    *token = h.base + blen;
    *len = h.len - blen;
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* Sending */

static const char *reason_for(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 412: return "Precondition Failed";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 460: return "Checksum Mismatch";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "OK";
    }
}

static void add_header(h2o_req_t *req, const h2o_token_t *token, const char *v)
{
    h2o_add_header(&req->pool, &req->res.headers, token, NULL, v, strlen(v));
}

/* Status, reason and the headers every reply carries. */
static void start_headers(req_full *f, int status, const char *ctype, uint64_t len, int replayed)
{
    h2o_req_t *req = f->r.h2o;
    req->res.status = status;
    req->res.reason = reason_for(status);
    req->res.content_length = status == 204 || status == 304 ? SIZE_MAX : len;
    if (ctype != NULL)
        add_header(req, H2O_TOKEN_CONTENT_TYPE, ctype);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, f->id, strlen(f->id));
    if (status == 401)
        add_header(req, H2O_TOKEN_WWW_AUTHENTICATE, "Bearer realm=\"hoso\"");
    if (req->scheme == &H2O_URL_SCHEME_HTTPS)
        add_header(req, H2O_TOKEN_STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    if (status == 405 && f->allow[0] != '\0')
        add_header(req, H2O_TOKEN_ALLOW, f->allow);
    if (replayed)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("idempotent-replayed"), 0, NULL,
                              H2O_STRLIT("true"));
    if ((status == 429 || status == 503) && f->r.retry_after_ms > 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%lld", (long long)((f->r.retry_after_ms + 999) / 1000));
        /* h2o keeps the pointer: the value must live as long as the request. */
        add_header(req, H2O_TOKEN_RETRY_AFTER, h2o_strdup(&req->pool, secs, SIZE_MAX).base);
    }
}

static void send_raw(req_full *f, int status, const char *ctype, const void *body, size_t len, int replayed)
{
    h2o_req_t *req = f->r.h2o;
    start_headers(f, status, ctype, len, replayed);
    hoso__req_finished(&f->r, status, len);
    h2o_start_response(req, &no_generator);
    if (f->head || status == 204 || status == 304) {
        /* The headers of the GET reply, Content-Length included, and no body: a body
         * would be read as the next response by a keep-alive client. */
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    h2o_iovec_t buf = h2o_strdup(&req->pool, body != NULL ? body : "", len);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

/* Sends a msgpack body, converted to JSON when the caller asked for JSON. */
static void send_msgpack(req_full *f, int status, const void *body, size_t len, int replayed)
{
    if (!f->r.json) {
        send_raw(f, status, "application/msgpack", body, len, replayed);
        return;
    }
    char *text = NULL;
    size_t tlen = 0;
    if (len == 0) {
        send_raw(f, status, "application/json", "", 0, replayed);
        return;
    }
    if (hoso_msgpack_to_json(body, len, &text, &tlen) != 0) {
        static const char fallback[] = "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"reply encoding failed\"}}";
        send_raw(f, 500, "application/json", fallback, sizeof(fallback) - 1, 0);
        return;
    }
    send_raw(f, status, "application/json", text, tlen, replayed);
    free(text);
}

static void send_error(req_full *f, int err, const hoso_errinfo *ei)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    hoso_encode_error(&pk, err, ei);
    send_msgpack(f, hoso_err_http_status(err), sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
}

void hoso__http_send_op(hoso_req *r, hoso_wop *op)
{
    req_full *f = (req_full *)r;
    if (op->on_reply != NULL) {
        op->on_reply(r, op);
        if (f->replied)
            return;
    }
    f->replied = 1;
    send_msgpack(f, op->http_status != 0 ? op->http_status : 200, op->reply.data, op->reply.size, op->replayed);
}

int hoso_reply(hoso_req *r, int http_status, const void *msgpack, size_t len)
{
    req_full *f = (req_full *)r;
    if (f->replied)
        return 0;
    f->replied = 1;
    send_msgpack(f, http_status, msgpack, len, 0);
    return 0;
}

int hoso_reply_error(hoso_req *r, int err, const hoso_errinfo *ei)
{
    req_full *f = (req_full *)r;
    if (f->replied)
        return 0;
    f->replied = 1;
    send_error(f, err, ei);
    return 0;
}

void hoso_reply_header(hoso_req *r, const char *name, const char *value)
{
    h2o_req_t *req = r->h2o;
    h2o_iovec_t n = h2o_strdup(&req->pool, name, SIZE_MAX);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, SIZE_MAX);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 0, NULL, v.base, v.len);
}

void hoso_reply_revalidated(hoso_req *r, const char *etag)
{
    h2o_req_t *req = r->h2o;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, h2o_strdup(&req->pool, etag, SIZE_MAX).base,
                   strlen(etag));
    /* Personal: no shared cache keeps it, and the client asks again each time. */
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "private, no-cache");
    add_header(req, H2O_TOKEN_VARY, "accept, authorization");
}

static void skip_ows(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == ','))
        (*p)++;
}

int hoso_req_etag_matches(hoso_req *r, const char *etag)
{
    ssize_t i = h2o_find_header(&r->h2o->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    if (i < 0)
        return 0;
    if (etag[0] == 'W' && etag[1] == '/')
        etag += 2;
    size_t elen = strlen(etag);
    /* Every If-None-Match line, each a comma-separated list of entity tags. */
    for (; i >= 0; i = h2o_find_header(&r->h2o->headers, H2O_TOKEN_IF_NONE_MATCH, i)) {
        h2o_iovec_t v = r->h2o->headers.entries[i].value;
        const char *p = v.base, *end = v.base + v.len;
        int first = 1;
        for (skip_ows(&p, end); p < end; skip_ows(&p, end), first = 0) {
            if (*p == '*') {
                /* "*" alone, never inside a list */
                const char *q = p + 1;
                while (q < end && (*q == ' ' || *q == '\t'))
                    q++;
                return first && q == end;
            }
            if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
                p += 2;
            if (p >= end || *p != '"')
                return 0; /* not a list of entity tags: no match, the full reply */
            const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
            if (q == NULL)
                return 0;
            if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
                return 1;
            p = q + 1;
        }
    }
    return 0;
}

const char *hoso_req_header(hoso_req *r, const char *name, char *buf, size_t bufsz)
{
    ssize_t i = h2o_find_header_by_str(&r->h2o->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = r->h2o->headers.entries[i].value;
    if (v.len >= bufsz)
        return NULL;
    memcpy(buf, v.base, v.len);
    buf[v.len] = '\0';
    return buf;
}

int hoso_req_has_header(hoso_req *r, const char *name)
{
    return h2o_find_header_by_str(&r->h2o->headers, name, strlen(name), -1) >= 0;
}

void hoso_req_entity(hoso_req *r, const void **ptr, size_t *len)
{
    *ptr = r->h2o->entity.base != NULL ? r->h2o->entity.base : "";
    *len = r->h2o->entity.base != NULL ? r->h2o->entity.len : 0;
}

/* A streamed reply: the generator asks for the next piece each time h2o has sent the
 * last one. Lives in the request's pool; done runs when the response ends or the
 * request is disposed (the client went away), whichever comes first. */
typedef struct stream_gen {
    h2o_generator_t super;
    req_full *f;
    ssize_t (*read)(void *ctx, void *buf, size_t cap);
    void (*done)(void *ctx);
    void *ctx;
    uint64_t left;
    char *buf;
    int finished;
} stream_gen;

#define STREAM_PIECE (64 * 1024)

static void stream_end(stream_gen *g)
{
    if (g->finished)
        return;
    g->finished = 1;
    g->done(g->ctx);
}

static void stream_next(stream_gen *g)
{
    h2o_req_t *req = g->f->r.h2o;
    size_t want = g->left < STREAM_PIECE ? (size_t)g->left : STREAM_PIECE;
    ssize_t n = want > 0 ? g->read(g->ctx, g->buf, want) : 0;
    if (n < 0 || (want > 0 && n == 0)) {
        /* Headers are out: all that is left is to cut the response short. */
        stream_end(g);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    g->left -= (uint64_t)n;
    h2o_iovec_t piece = h2o_iovec_init(g->buf, (size_t)n);
    int last = g->left == 0;
    if (last)
        stream_end(g);
    h2o_send(req, &piece, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void stream_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    stream_next((stream_gen *)self);
}

static void stream_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    stream_end((stream_gen *)self);
}

static void stream_dispose(void *p)
{
    stream_end(p);
}

int hoso_reply_stream(hoso_req *r, int http_status, const char *content_type, uint64_t len,
                      ssize_t (*read)(void *ctx, void *buf, size_t cap), void (*done)(void *ctx), void *ctx)
{
    req_full *f = (req_full *)r;
    h2o_req_t *req = r->h2o;
    if (f->replied) {
        done(ctx);
        return 0;
    }
    f->replied = 1;
    stream_gen *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), stream_dispose);
    memset(g, 0, sizeof(*g));
    g->super.proceed = stream_proceed;
    g->super.stop = stream_stop;
    g->f = f;
    g->read = read;
    g->done = done;
    g->ctx = ctx;
    g->left = f->head ? 0 : len;
    g->buf = h2o_mem_alloc_pool(&req->pool, STREAM_PIECE);
    start_headers(f, http_status, content_type, len, 0);
    hoso__req_finished(r, http_status, len);
    h2o_start_response(req, &g->super);
    if (f->head || len == 0) {
        stream_end(g);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return 0;
    }
    stream_next(g);
    return 0;
}

int hoso_reply_raw(hoso_req *r, int http_status, const char *content_type, const void *body, size_t len)
{
    req_full *f = (req_full *)r;
    if (f->replied)
        return 0;
    f->replied = 1;
    send_raw(f, http_status, content_type, body, len, 0);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The client's address */

static int parse_addr(const char *s, size_t len, struct sockaddr_storage *ss)
{
    char buf[INET6_ADDRSTRLEN + 1];
    memset(ss, 0, sizeof(*ss));
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        ss->ss_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        ss->ss_family = AF_INET6;
        return 0;
    }
    return -1;
}

/* A v4 peer reaching a dual-stack socket shows up as ::ffff:a.b.c.d; compare and
 * print it as the v4 address the operator wrote in --trusted-proxy. */
static void unmap_v4(struct sockaddr_storage *ss)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (ss->ss_family != AF_INET6)
        return;
    const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
    if (memcmp(a, prefix, sizeof(prefix)) != 0)
        return;
    struct sockaddr_in v4;
    memset(&v4, 0, sizeof(v4));
    v4.sin_family = AF_INET;
    memcpy(&v4.sin_addr, a + 12, 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &v4, sizeof(v4));
}

static int trusted(const hoso_config *cfg, const struct sockaddr_storage *ss)
{
    const uint8_t *a = ss->ss_family == AF_INET ? (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr
                                                : (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    for (unsigned i = 0; i < cfg->ntrusted; i++) {
        unsigned bits = cfg->trusted[i].bits, k;
        if (cfg->trusted[i].family != ss->ss_family)
            continue;
        for (k = 0; k + 8 <= bits && a[k / 8] == cfg->trusted[i].addr[k / 8]; k += 8)
            ;
        if (k + 8 <= bits)
            continue;
        if (k < bits) {
            uint8_t mask = (uint8_t)(0xff << (8 - (bits - k)));
            if ((a[k / 8] & mask) != (cfg->trusted[i].addr[k / 8] & mask))
                continue;
        }
        return 1;
    }
    return 0;
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
    const void *a = ss->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                                             : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (inet_ntop(ss->ss_family, a, out, (socklen_t)n) == NULL)
        out[0] = '\0';
}

#define HOSO_XFF_MAX_HEADERS 16

void hoso_req_peer(hoso_req *r, char *out, size_t n)
{
    const hoso_config *cfg = &r->srv->cfg;
    struct sockaddr_storage ss;
    h2o_conn_t *conn = r->h2o->conn;

    out[0] = '\0';
    memset(&ss, 0, sizeof(ss));
    if (conn->callbacks->get_peername == NULL ||
        conn->callbacks->get_peername(conn, (struct sockaddr *)&ss) == 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return;
    unmap_v4(&ss);
    /* Walk X-Forwarded-For from the right while the hop that added it is trusted: the
     * first address added by a hop we do not trust is the client's as far as anyone
     * can tell. Several X-Forwarded-For headers form one list in order (RFC 9110
     * 5.3), so the walk starts at the end of the last one. Without trusted proxies
     * the header is ignored: a client could write anything in it. */
    if (cfg->ntrusted > 0 && trusted(cfg, &ss)) {
        /* Only the rightmost headers can name trusted hops; keep the last few. */
        ssize_t idx[HOSO_XFF_MAX_HEADERS], i = -1;
        size_t nh = 0;
        while ((i = h2o_find_header_by_str(&r->h2o->headers, H2O_STRLIT("x-forwarded-for"), i)) != -1)
            idx[nh++ % HOSO_XFF_MAX_HEADERS] = i;
        for (size_t k = 0; k < nh && k < HOSO_XFF_MAX_HEADERS; k++) {
            h2o_iovec_t v = r->h2o->headers.entries[idx[(nh - 1 - k) % HOSO_XFF_MAX_HEADERS]].value;
            size_t end = v.len;
            while (end > 0) {
                size_t b = end;
                while (b > 0 && v.base[b - 1] != ',')
                    b--;
                struct sockaddr_storage hop;
                if (parse_addr(v.base + b, end - b, &hop) != 0)
                    goto Done; /* garbage: stop at the last hop we could read */
                unmap_v4(&hop);
                ss = hop;
                if (!trusted(cfg, &ss))
                    goto Done;
                end = b > 0 ? b - 1 : 0;
            }
        }
    }
Done:
    addr_text(&ss, out, n);
}

/* ---------------------------------------------------------------------------------- */
/* Requests and replies as HTTP/1.1 bytes (cluster forwarding) */

/* Headers that belong to one connection, or that the receiving side writes itself. */
static int hop_header(const char *name, size_t len)
{
    static const char *const hop[] = {"connection", "keep-alive", "transfer-encoding", "content-length", "te",
                                      "upgrade", "proxy-connection", "x-forwarded-for", "x-request-id", "expect",
                                      "http2-settings", "date", "server", "strict-transport-security"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (strlen(hop[i]) == len && strncasecmp(hop[i], name, len) == 0)
            return 1;
    return 0;
}

static void sbuf_add(msgpack_sbuffer *out, const void *p, size_t n)
{
    msgpack_sbuffer_write(out, p, n);
}

int hoso_req_http1(hoso_req *r, msgpack_sbuffer *out)
{
    req_full *f = (req_full *)r;
    h2o_req_t *req = r->h2o;
    char peer[64], line[96];
    size_t before = out->size;

    sbuf_add(out, req->method.base, req->method.len);
    sbuf_add(out, " ", 1);
    sbuf_add(out, req->path.base, req->path.len);
    sbuf_add(out, " HTTP/1.1\r\nhost: ", 17);
    sbuf_add(out, req->authority.base, req->authority.len);
    sbuf_add(out, "\r\n", 2);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h->name->len == 4 && strncasecmp(h->name->base, "host", 4) == 0)
            continue;
        if (hop_header(h->name->base, h->name->len))
            continue;
        sbuf_add(out, h->name->base, h->name->len);
        sbuf_add(out, ": ", 2);
        sbuf_add(out, h->value.base, h->value.len);
        sbuf_add(out, "\r\n", 2);
    }
    hoso_req_peer(r, peer, sizeof peer);
    if (peer[0] != '\0') {
        int n = snprintf(line, sizeof line, "x-forwarded-for: %s\r\n", peer);
        sbuf_add(out, line, (size_t)n);
    }
    int n = snprintf(line, sizeof line, "x-request-id: %s\r\ncontent-length: %zu\r\n\r\n", f->id,
                     req->entity.base != NULL ? req->entity.len : 0);
    sbuf_add(out, line, (size_t)n);
    if (req->entity.base != NULL)
        sbuf_add(out, req->entity.base, req->entity.len);
    /* msgpack_sbuffer_write aborts the process on NOMEM rather than returning. */
    return out->size > before ? 0 : HOSO_ENOMEM;
}

int hoso_reply_http1(hoso_req *r, const char *resp, size_t len)
{
    req_full *f = (req_full *)r;
    h2o_req_t *req = r->h2o;
    const char *end = resp + len, *p, *hdr_end = NULL;
    uint64_t clen = 0;
    int status, has_clen = 0;

    if (f->replied)
        return 0;
    for (p = resp; p + 3 < end; p++)
        if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r' && p[3] == '\n') {
            hdr_end = p;
            break;
        }
    if (hdr_end == NULL || len < 12 || memcmp(resp, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)resp[9]))
        return HOSO_EINTERNAL;
    status = atoi(resp + 9);
    if (status < 100 || status > 599)
        return HOSO_EINTERNAL;
    const char *body = hdr_end + 4;
    size_t blen = (size_t)(end - body);
    f->replied = 1;
    req->res.status = status;
    req->res.reason = reason_for(status);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, f->id, strlen(f->id));
    if (req->scheme == &H2O_URL_SCHEME_HTTPS)
        add_header(req, H2O_TOKEN_STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    p = memchr(resp, '\n', (size_t)(hdr_end - resp));
    while (p != NULL && p < hdr_end) {
        const char *ls = p + 1, *le = ls;
        while (le < hdr_end && *le != '\r')
            le++;
        const char *colon = memchr(ls, ':', (size_t)(le - ls));
        if (colon != NULL && colon > ls) {
            size_t nl = (size_t)(colon - ls);
            const char *v = colon + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            if (nl == 14 && strncasecmp(ls, "content-length", 14) == 0) {
                clen = strtoull(v, NULL, 10);
                has_clen = 1;
            } else if (!hop_header(ls, nl)) {
                char *name = h2o_mem_alloc_pool(&req->pool, nl + 1);
                for (size_t k = 0; k < nl; k++)
                    name[k] = (char)tolower((unsigned char)ls[k]);
                name[nl] = '\0';
                h2o_iovec_t val = h2o_strdup(&req->pool, v, (size_t)(le - v));
                h2o_add_header_by_str(&req->pool, &req->res.headers, name, nl, 1, NULL, val.base, val.len);
            }
        }
        p = le < hdr_end ? le + 1 : NULL;
    }
    /* HEAD: the Content-Length of the GET reply, and no body. */
    req->res.content_length = status == 204 || status == 304 ? SIZE_MAX : f->head && has_clen ? clen : blen;
    hoso__req_finished(r, status, blen);
    h2o_start_response(req, &no_generator);
    if (f->head || status == 204 || status == 304 || blen == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return 0;
    }
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, blen);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Query strings */

const char *hoso_req_query(hoso_req *r, const char *name, char *buf, size_t bufsz)
{
    h2o_req_t *req = r->h2o;
    if (req->query_at == SIZE_MAX || bufsz == 0)
        return NULL;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nlen = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp != NULL ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        const char *kend = eq != NULL ? eq : pend;
        if ((size_t)(kend - q) == nlen && memcmp(q, name, nlen) == 0) {
            const char *v = eq != NULL ? eq + 1 : pend;
            return hoso__url_decode(v, (size_t)(pend - v), HOSO_URL_FORM, buf, bufsz) >= 0 ? buf : NULL;
        }
        q = pend + 1;
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Negotiation */

static h2o_iovec_t header_value(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

static int wants_json(h2o_req_t *req, const hoso_route *route, int body_is_json)
{
    h2o_iovec_t accept = header_value(req, H2O_TOKEN_ACCEPT);
    return hoso__wants_json(accept.base, accept.len, route != NULL ? route->flags : 0, body_is_json);
}

/* ---------------------------------------------------------------------------------- */
/* Steps before the handler. Each returns 0 or an error with details in r->err. */

static int decode_body(hoso_req *r)
{
    h2o_req_t *req = r->h2o;
    hoso_server *srv = r->srv;
    size_t len = req->entity.base != NULL ? req->entity.len : 0;

    if (len > srv->cfg.limits.max_body)
        return hoso_fail(&r->err, HOSO_EPAYLOAD_TOO_LARGE, "the body is larger than %zu bytes",
                         srv->cfg.limits.max_body);
    h2o_iovec_t ct = header_value(req, H2O_TOKEN_CONTENT_TYPE);
    int json = 0;
    if (ct.base != NULL) {
        int type = hoso__body_type(ct.base, ct.len);
        if (type == HOSO_BODY_OTHER)
            return hoso_fail(&r->err, HOSO_EUNSUPPORTED_MEDIA_TYPE, "content type %.*s is not supported",
                             (int)(ct.len > 64 ? 64 : ct.len), ct.base);
        json = type == HOSO_BODY_JSON;
    }
    if (len == 0)
        return hoso_fail(&r->err, HOSO_EBAD_REQUEST, "a request body is required");
    int err = json ? hoso_doc_from_json(&r->body, req->entity.base, len, &srv->cfg.limits, &r->err)
                   : hoso_doc_from_msgpack(&r->body, req->entity.base, len, &srv->cfg.limits, &r->err);
    if (err != 0)
        return err;
    r->has_body = 1;
    return 0;
}

static unsigned role_bit(hoso_role role)
{
    switch (role) {
    case HOSO_ROLE_CITIZEN: return HOSO_R_CITIZEN;
    case HOSO_ROLE_OFFICER: return HOSO_R_OFFICER;
    case HOSO_ROLE_BOT: return HOSO_R_BOT;
    case HOSO_ROLE_ADMIN: return HOSO_R_ADMIN;
    }
    return 0;
}

static int check_role(hoso_req *r);

static int authenticate(hoso_req *r)
{
    const char *tok = NULL;
    size_t len = 0;
    int err, has = hoso__req_bearer(r, &tok, &len);

    if (has == 0)
        return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "an Authorization: Bearer token is required");
    if (has < 0 || len >= sizeof(r->token))
        return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "malformed Authorization header");
    memcpy(r->token, tok, len);
    r->token[len] = '\0';
    if ((err = hoso_authenticate(r->rtxn, r->token, len, hoso_now_ms(), &r->who)) != 0)
        return err == HOSO_EUNAUTHORIZED ? hoso_fail(&r->err, err, "invalid or expired token") : err;
    r->authed = 1;
    return check_role(r);
}

/* The route takes the caller's role. */
static int check_role(hoso_req *r)
{
    unsigned allowed = r->route->flags & (HOSO_R_CITIZEN | HOSO_R_OFFICER | HOSO_R_BOT | HOSO_R_ADMIN);
    if (allowed != 0 && (allowed & role_bit(r->who.role)) == 0)
        return hoso_fail(&r->err, HOSO_EFORBIDDEN, "%s %s account may not use this",
                         r->who.role == HOSO_ROLE_OFFICER || r->who.role == HOSO_ROLE_ADMIN ? "an" : "a",
                         hoso_role_name(r->who.role));
    return 0;
}

/* ---------------------------------------------------------------------------------- */

/* The client's X-Request-Id when it is a sane token (a proxy or an app correlating its
 * own logs), else a new one: a per-thread random prefix and a counter. */
static void request_id(h2o_req_t *req, char *out, size_t sz)
{
    static __thread uint32_t prefix;
    static __thread uint64_t count;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        size_t k = 0;
        while (k < v.len && k < sz - 1 &&
               (isalnum((unsigned char)v.base[k]) || v.base[k] == '-' || v.base[k] == '_' || v.base[k] == '.'))
            k++;
        if (k == v.len && k > 0) {
            memcpy(out, v.base, k);
            out[k] = '\0';
            return;
        }
    }
    if (prefix == 0)
        prefix = randombytes_random() | 1;
    snprintf(out, sz, "%08x%08llx", prefix, (unsigned long long)++count);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    root_handler *h = (root_handler *)self;
    hoso_worker *w = H2O_STRUCT_FROM_MEMBER(hoso_worker, ctx, req->conn->ctx);
    req_full *f = h2o_mem_alloc_pool(&req->pool, sizeof(*f));
    hoso_req *r = &f->r;
    int err;

    memset(f, 0, sizeof(*f));
    f->start_usec = hoso__now_usec();
    r->h2o = req;
    r->worker = w;
    r->srv = h->srv;

    request_id(req, f->id, sizeof(f->id));
    f->head = req->method.len == 4 && memcmp(req->method.base, "HEAD", 4) == 0;
    err = hoso__route_match(h->srv->app.routes, h->srv->app.nroutes, req->method.base, req->method.len,
                            req->path_normalized.base, req->path_normalized.len, &req->pool, &r->route, r->params,
                            &r->nparams, f->allow, sizeof(f->allow));
    if (err != 0) {
        r->route = NULL;
        r->json = wants_json(req, NULL, 0);
        if (err == HOSO_EMETHOD_NOT_ALLOWED)
            hoso_fail(&r->err, err, "%.*s is not allowed on %.*s", (int)req->method.len, req->method.base,
                      (int)(req->path_normalized.len > 200 ? 200 : req->path_normalized.len),
                      req->path_normalized.base);
        goto Exit;
    }
    {
        h2o_iovec_t ct = header_value(req, H2O_TOKEN_CONTENT_TYPE);
        int body_json = ct.base != NULL && hoso__body_type(ct.base, ct.len) == HOSO_BODY_JSON;
        r->json = wants_json(req, r->route, body_json);
    }
    /* Cluster mode: a request of another node's shard is answered there. */
    if (h->srv->app.forward != NULL && (err = h->srv->app.forward(r)) != 0) {
        if (err == HOSO_ASYNC)
            err = 0;
        goto Exit;
    }
    /* Authentication comes before decoding: an anonymous client must not make a worker
     * parse a megabyte of JSON, and a bad token is 401 whatever the body holds. */
    if ((err = hoso__worker_read(w, &r->rtxn)) != 0)
        goto Exit;
    /* A caller another node of the cluster vouched for (the forward hook set it) still
     * needs a role the route takes. */
    if ((r->route->flags & HOSO_R_AUTH) && (err = r->authed ? check_role(r) : authenticate(r)) != 0)
        goto Exit;
    if ((r->route->flags & HOSO_R_BODY) && (err = decode_body(r)) != 0)
        goto Exit;
    if ((r->route->flags & HOSO_R_RAW) && req->entity.base != NULL && req->entity.len > h->srv->cfg.limits.max_body) {
        err = hoso_fail(&r->err, HOSO_EPAYLOAD_TOO_LARGE, "the body is larger than %zu bytes: send it in pieces",
                        h->srv->cfg.limits.max_body);
        goto Exit;
    }
    err = r->route->fn(r);
    if (err == HOSO_ASYNC)
        err = 0;
    else if (err == 0 && !f->replied)
        err = hoso_fail(&r->err, HOSO_EINTERNAL, "the handler produced no reply");

Exit:
    if (err < 0 && !f->replied) {
        /* Handlers may set only r->err or only return a code; the returned code wins. */
        if (r->err.err != 0 && r->err.err != err)
            r->err.err = err;
        hoso_reply_error(r, err, &r->err);
    }
    if (r->has_body) {
        hoso_doc_destroy(&r->body);
        r->has_body = 0;
    }
    if (r->rtxn != NULL)
        hoso_txn_reset(r->rtxn);
    return 0;
}

void hoso__http_register(hoso_server *srv, h2o_hostconf_t *hostconf)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    root_handler *h = (root_handler *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
}
