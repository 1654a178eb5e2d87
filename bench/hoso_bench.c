/*
 * hoso_bench.c - load generator for hosod.
 *
 *   hoso-bench port [HOST]
 *       prints a free TCP port on HOST (default 127.0.0.1)
 *   hoso-bench setup --url http://127.0.0.1:PORT [--service CODE]
 *       registers and logs in one citizen, submits one dossier and prints
 *       service=, agency=, code= and token= lines for bench/run.sh
 *   hoso-bench push --url http://127.0.0.1:PORT --admin USER:PASS --tokens FILE
 *                   [--subscribers 10000] [--events 10000] [--rate 1000]
 *       N citizens (tokens from hoso-seed) each subscribed to their own feed; an admin
 *       moves their dossiers at a fixed rate; time from each move to its citizen;
 *       --drops N: halfway, N of them lose their connection at once and resume from
 *       their last seq (every feed is checked for gaps and duplicates)
 *   hoso-bench catchup --url http://127.0.0.1:PORT [--events 10000] [--clients 8]
 *       fills one citizen's feed, then reads it back from seq 0 over WebSocket and over
 *       GET /v1/sync: events/s, and every seq once and in order
 *   hoso-bench submit --url http://127.0.0.1:PORT [--clients 64] [--duration 10]
 *                     [--requests N] [--max-total 9000] [--sources 8] [--service CODE] [--rate N]
 *       N clients, each its own citizen on its own keep-alive connection, submit
 *       dossiers with unique op_ids for a bounded time; prints submissions/s, latency
 *       percentiles, errors and the writer's average commit batch (from /metrics).
 *
 * One thread per client with a blocking socket: what is measured is how many
 * submissions the server makes durable per second while many clients wait on group
 * commit at once, which needs clients that each wait for their reply before sending
 * the next one, not a generator that multiplexes cleverly. Bodies are msgpack, the
 * format the mobile app uses.
 */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <msgpack.h>
#include "hoso_protocol.h"

#define HOSO_BENCH_IO_TIMEOUT_S 15   /* no single request may hang the run */
/* Registration and login hash a password (argon2id, ~0.15 s each here) and hosod may
 * run those one after another: 64 clients logging in at once can wait ~20 s. */
#define HOSO_BENCH_SETUP_TIMEOUT_S 120
#define HOSO_BENCH_MAX_CLIENTS 1024
#define HOSO_BENCH_MAX_SOURCES 250   /* 127.0.0.1 .. 127.0.0.250 */
#define HOSO_BENCH_PASSWORD "Bench-Passw0rd-2026"
#define HOSO_BENCH_MAX_HEAD 16384

/* ---------------------------------------------------------------------------------- */
/* Small utilities. */

static double hoso_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hoso_bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void hoso_bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hoso-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

typedef struct hoso_bench_buf {
    char *p;
    size_t len, cap;
} hoso_bench_buf;

static void hoso_bench_buf_reserve(hoso_bench_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        hoso_bench_die("out of memory");
    b->p = p;
    b->cap = cap;
}

static void hoso_bench_buf_append(hoso_bench_buf *b, const void *data, size_t len)
{
    hoso_bench_buf_reserve(b, len);
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

/* ---------------------------------------------------------------------------------- */
/* Target and connections. */

typedef struct hoso_bench_target {
    char host[64];
    uint16_t port;
    struct sockaddr_in addr;
    int loopback; /* 127.0.0.0/8: several source addresses may be used */
} hoso_bench_target;

static void hoso_bench_parse_url(const char *url, hoso_bench_target *t)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    const char *colon = strchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof(t->host))
        hoso_bench_die("--url must look like http://127.0.0.1:8080, got %s", url);
    memcpy(t->host, p, (size_t)(colon - p));
    t->host[colon - p] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (port <= 0 || port > 65535 || (*end != '\0' && *end != '/'))
        hoso_bench_die("bad port in --url %s", url);
    t->port = (uint16_t)port;
    memset(&t->addr, 0, sizeof(t->addr));
    t->addr.sin_family = AF_INET;
    t->addr.sin_port = htons(t->port);
    if (inet_pton(AF_INET, t->host, &t->addr.sin_addr) != 1)
        hoso_bench_die("--url host must be a numeric IPv4 address, got %s", t->host);
    t->loopback = (ntohl(t->addr.sin_addr.s_addr) >> 24) == 127;
}

typedef struct hoso_bench_conn {
    const hoso_bench_target *target;
    int fd;
    unsigned source;    /* 0: let the kernel choose; k: bind to 127.0.0.k */
    int timeout_s;      /* send/receive timeout; 0 = HOSO_BENCH_IO_TIMEOUT_S */
    hoso_bench_buf in;  /* received bytes not consumed yet */
    size_t used;        /* requests sent on this connection */
} hoso_bench_conn;

typedef struct hoso_bench_resp {
    int status;
    hoso_bench_buf body;
    int close; /* the server will close after this reply */
} hoso_bench_resp;

static void hoso_bench_conn_close(hoso_bench_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in.len = 0;
    c->used = 0;
}

static void hoso_bench_set_timeout(int fd, int secs)
{
    struct timeval tv = {.tv_sec = secs ? secs : HOSO_BENCH_IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int hoso_bench_conn_open(hoso_bench_conn *c)
{
    hoso_bench_conn_close(c);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Loopback offers about 28k ephemeral ports per (source, destination) pair, so
     * many connections are spread over several 127.0.0.x source addresses. */
    if (c->source && c->target->loopback) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl((127u << 24) | c->source);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    hoso_bench_set_timeout(fd, c->timeout_s);
    if (connect(fd, (const struct sockaddr *)&c->target->addr, sizeof(c->target->addr)) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    c->fd = fd;
    return 0;
}

static int hoso_bench_send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into c->in. 0 on data, -ECONNRESET on EOF, -errno otherwise. */
static int hoso_bench_fill(hoso_bench_conn *c)
{
    hoso_bench_buf_reserve(&c->in, 16384);
    for (;;) {
        ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->in.p[c->in.len] = '\0';
            return 0;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno != EINTR)
            return -errno;
    }
}

static void hoso_bench_consume(hoso_bench_conn *c, size_t n)
{
    memmove(c->in.p, c->in.p + n, c->in.len - n);
    c->in.len -= n;
}

/* Finds "\r\n" in c->in at or after off, filling as needed. Returns its index or <0. */
static long hoso_bench_find_crlf(hoso_bench_conn *c, size_t off)
{
    for (;;) {
        for (size_t i = off; i + 1 < c->in.len; i++)
            if (c->in.p[i] == '\r' && c->in.p[i + 1] == '\n')
                return (long)i;
        if (c->in.len > HOSO_BENCH_MAX_HEAD + off)
            return -EMSGSIZE;
        int r = hoso_bench_fill(c);
        if (r)
            return r;
    }
}

static int hoso_bench_read_body_bytes(hoso_bench_conn *c, hoso_bench_buf *body, size_t n)
{
    while (c->in.len < n) {
        int r = hoso_bench_fill(c);
        if (r)
            return r;
    }
    hoso_bench_buf_append(body, c->in.p, n);
    hoso_bench_consume(c, n);
    return 0;
}

/* Reads one HTTP/1.1 response (status line, headers, body by Content-Length, chunked
 * or until close). */
static int hoso_bench_read_resp(hoso_bench_conn *c, hoso_bench_resp *resp)
{
    resp->status = 0;
    resp->body.len = 0;
    resp->close = 0;
    int r;
    /* the head ends with an empty line */
    char *end;
    while ((end = c->in.len ? strstr(c->in.p, "\r\n\r\n") : NULL) == NULL) {
        if (c->in.len > HOSO_BENCH_MAX_HEAD)
            return -EMSGSIZE;
        if ((r = hoso_bench_fill(c)) != 0)
            return r;
    }
    size_t headlen = (size_t)(end - c->in.p) + 4;
    int minor = 1;
    if (sscanf(c->in.p, "HTTP/1.%d %d", &minor, &resp->status) != 2)
        return -EPROTO;
    if (minor == 0)
        resp->close = 1;
    long long clen = -1;
    int chunked = 0;
    for (char *line = strstr(c->in.p, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "content-length:", 15) == 0)
            clen = strtoll(line + 15, NULL, 10);
        else if (strncasecmp(line, "transfer-encoding:", 18) == 0)
            chunked = strstr(line, "chunked") != NULL && strstr(line, "chunked") < strstr(line, "\r\n");
        else if (strncasecmp(line, "connection:", 11) == 0) {
            const char *v = line + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                resp->close = 1;
        }
    }
    hoso_bench_consume(c, headlen);
    if (resp->status == 204 || resp->status == 304 || (resp->status >= 100 && resp->status < 200))
        return 0;
    if (chunked) {
        for (;;) {
            long i = hoso_bench_find_crlf(c, 0);
            if (i < 0)
                return (int)i;
            size_t n = (size_t)strtoull(c->in.p, NULL, 16);
            hoso_bench_consume(c, (size_t)i + 2);
            if (n == 0) {
                /* trailers end with an empty line */
                for (;;) {
                    long j = hoso_bench_find_crlf(c, 0);
                    if (j < 0)
                        return (int)j;
                    hoso_bench_consume(c, (size_t)j + 2);
                    if (j == 0)
                        return 0;
                }
            }
            if ((r = hoso_bench_read_body_bytes(c, &resp->body, n)) != 0)
                return r;
            long k = hoso_bench_find_crlf(c, 0);
            if (k < 0)
                return (int)k;
            hoso_bench_consume(c, (size_t)k + 2);
        }
    }
    if (clen >= 0)
        return hoso_bench_read_body_bytes(c, &resp->body, (size_t)clen);
    /* neither length nor chunks: the body ends when the server closes */
    resp->close = 1;
    for (;;) {
        hoso_bench_buf_append(&resp->body, c->in.p, c->in.len);
        c->in.len = 0;
        r = hoso_bench_fill(c);
        if (r == -ECONNRESET)
            return 0;
        if (r)
            return r;
    }
}

/* One request/reply on c, reconnecting when needed. A keep-alive connection may be
 * closed by the server just as a request goes out; when a reused connection fails
 * before any reply byte arrives, the request is sent once more on a new connection
 * (submissions carry op_ids, so a repeat cannot create a second dossier). */
static int hoso_bench_http_ex(hoso_bench_conn *c, const char *method, const char *path, const char *token,
                              const char *ctype, const char *extra, const void *body, size_t blen,
                              hoso_bench_resp *resp);

static int hoso_bench_http(hoso_bench_conn *c, const char *method, const char *path, const char *token,
                           const void *body, size_t blen, hoso_bench_resp *resp)
{
    return hoso_bench_http_ex(c, method, path, token, "application/msgpack", "", body, blen, resp);
}

/* One request with a body of type ctype and more header lines (extra, each ending in
 * CRLF). */
static int hoso_bench_http_ex(hoso_bench_conn *c, const char *method, const char *path, const char *token,
                              const char *ctype, const char *extra, const void *body, size_t blen,
                              hoso_bench_resp *resp)
{
    char head[1024], auth[256] = "", clen[128] = "";
    if (token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    if (body)
        snprintf(clen, sizeof(clen), "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, blen);
    int hl = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s:%u\r\nAccept: application/msgpack\r\n%s%s%s\r\n",
                      method, path, c->target->host, c->target->port, auth, clen, extra);
    if (hl <= 0 || (size_t)hl >= sizeof(head))
        return -ENAMETOOLONG;
    for (int attempt = 0;; attempt++) {
        int reused = c->fd >= 0 && c->used > 0;
        int r = 0;
        if (c->fd < 0 && (r = hoso_bench_conn_open(c)) != 0)
            return r;
        /* one buffer, one send: a split write would cost the server an extra wakeup */
        hoso_bench_buf out = {0};
        hoso_bench_buf_append(&out, head, (size_t)hl);
        if (body)
            hoso_bench_buf_append(&out, body, blen);
        r = hoso_bench_send_all(c->fd, out.p, out.len);
        free(out.p);
        c->used++;
        if (r == 0)
            r = hoso_bench_read_resp(c, resp);
        if (r == 0) {
            if (resp->close)
                hoso_bench_conn_close(c);
            return 0;
        }
        hoso_bench_conn_close(c);
        if (!(reused && attempt == 0 && (r == -ECONNRESET || r == -EPIPE)))
            return r;
    }
}

/* ---------------------------------------------------------------------------------- */
/* msgpack helpers for replies. */

static const msgpack_object *hoso_bench_get(const msgpack_object *o, const char *key)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
            memcmp(kv->key.via.str.ptr, key, klen) == 0)
            return &kv->val;
    }
    return NULL;
}

/* Copies a str object into out (NUL-terminated); 0 or -1 if absent/not a string/too long. */
static int hoso_bench_str(const msgpack_object *o, char *out, size_t outsz)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= outsz)
        return -1;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

static int hoso_bench_unpack(msgpack_unpacked *u, const hoso_bench_buf *b)
{
    msgpack_unpacked_init(u);
    size_t off = 0;
    if (b->len == 0 || msgpack_unpack_next(u, b->p, b->len, &off) != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(u);
        return -1;
    }
    return 0;
}

/* A short description of an error reply: "409 ALREADY_EXISTS: message". */
static void hoso_bench_describe(const hoso_bench_resp *resp, char *out, size_t outsz)
{
    char code[64] = "?", msg[160] = "";
    msgpack_unpacked u;
    if (hoso_bench_unpack(&u, &resp->body) == 0) {
        const msgpack_object *e = hoso_bench_get(&u.data, "error");
        hoso_bench_str(hoso_bench_get(e, "code"), code, sizeof(code));
        hoso_bench_str(hoso_bench_get(e, "message"), msg, sizeof(msg));
        msgpack_unpacked_destroy(&u);
    } else if (resp->body.len) {
        snprintf(msg, sizeof(msg), "%.120s", resp->body.p);
    }
    snprintf(out, outsz, "%d %s: %s", resp->status, code, msg);
}

/* ---------------------------------------------------------------------------------- */
/* The service to submit to, and the request body built from its form fields. */

typedef struct hoso_bench_service {
    char code[64], agency[64];
    msgpack_sbuffer form;   /* encoded form map */
    msgpack_sbuffer papers; /* encoded papers array, empty when no paper is required */
} hoso_bench_service;

/* A value that passes the field's type check: text, number, date or enum. */
static void hoso_bench_pack_value(msgpack_packer *pk, const msgpack_object *field)
{
    char type[16] = "text";
    hoso_bench_str(hoso_bench_get(field, "type"), type, sizeof(type));
    if (strcmp(type, "number") == 0) {
        msgpack_pack_int(pk, 1);
    } else if (strcmp(type, "date") == 0) {
        hoso_pack_cstr(pk, "1990-01-01");
    } else if (strcmp(type, "enum") == 0) {
        const msgpack_object *opts = hoso_bench_get(field, "options");
        if (opts && opts->type == MSGPACK_OBJECT_ARRAY && opts->via.array.size > 0) {
            msgpack_pack_object(pk, opts->via.array.ptr[0]);
        } else {
            hoso_pack_cstr(pk, "1");
        }
    } else {
        hoso_pack_cstr(pk, "Kiểm thử tải");
    }
}

static size_t hoso_bench_required_papers(const msgpack_object *svc)
{
    const msgpack_object *papers = hoso_bench_get(svc, "papers");
    size_t n = 0;
    if (papers && papers->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < papers->via.array.size; i++) {
            const msgpack_object *req = hoso_bench_get(&papers->via.array.ptr[i], "required");
            n += req && req->type == MSGPACK_OBJECT_BOOLEAN && req->via.boolean;
        }
    return n;
}

/* Picks the service (by code, else the first one that needs no paper, else the first)
 * from GET /v1/services and builds its form. */
static void hoso_bench_pick_service(hoso_bench_conn *c, const char *want, hoso_bench_service *out)
{
    hoso_bench_resp resp = {0};
    int r = hoso_bench_http(c, "GET", "/v1/services", NULL, NULL, 0, &resp);
    if (r)
        hoso_bench_die("GET /v1/services: %s", strerror(-r));
    if (resp.status != 200) {
        char d[256];
        hoso_bench_describe(&resp, d, sizeof(d));
        hoso_bench_die("GET /v1/services: %s", d);
    }
    msgpack_unpacked u;
    if (hoso_bench_unpack(&u, &resp.body))
        hoso_bench_die("GET /v1/services: reply is not msgpack");
    /* the catalogue is an array, or a map holding it (e.g. {services: [...]}) */
    const msgpack_object *list = &u.data;
    if (list->type == MSGPACK_OBJECT_MAP) {
        list = hoso_bench_get(&u.data, "services");
        for (uint32_t i = 0; list == NULL && i < u.data.via.map.size; i++)
            if (u.data.via.map.ptr[i].val.type == MSGPACK_OBJECT_ARRAY)
                list = &u.data.via.map.ptr[i].val;
    }
    if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size == 0)
        hoso_bench_die("GET /v1/services: no service in the catalogue");
    const msgpack_object *svc = NULL;
    for (uint32_t i = 0; i < list->via.array.size && svc == NULL; i++) {
        const msgpack_object *s = &list->via.array.ptr[i];
        char code[64];
        if (want ? hoso_bench_str(hoso_bench_get(s, "code"), code, sizeof(code)) == 0 && strcmp(code, want) == 0
                 : hoso_bench_required_papers(s) == 0)
            svc = s;
    }
    if (svc == NULL && want)
        hoso_bench_die("service %s is not in the catalogue", want);
    if (svc == NULL)
        svc = &list->via.array.ptr[0];
    if (hoso_bench_str(hoso_bench_get(svc, "code"), out->code, sizeof(out->code)) ||
        hoso_bench_str(hoso_bench_get(svc, "agency"), out->agency, sizeof(out->agency)))
        hoso_bench_die("GET /v1/services: service without code or agency");

    msgpack_sbuffer_init(&out->form);
    msgpack_sbuffer_init(&out->papers);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out->form, msgpack_sbuffer_write);
    const msgpack_object *form = hoso_bench_get(svc, "form");
    uint32_t nform = form && form->type == MSGPACK_OBJECT_ARRAY ? form->via.array.size : 0;
    msgpack_pack_map(&pk, nform);
    for (uint32_t i = 0; i < nform; i++) {
        const msgpack_object *f = &form->via.array.ptr[i];
        const msgpack_object *key = hoso_bench_get(f, "key");
        if (key == NULL || key->type != MSGPACK_OBJECT_STR)
            hoso_bench_die("service %s: form field without key", out->code);
        msgpack_pack_object(&pk, *key);
        hoso_bench_pack_value(&pk, f);
    }
    size_t nreq = hoso_bench_required_papers(svc);
    if (nreq) {
        msgpack_packer_init(&pk, &out->papers, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, nreq);
        const msgpack_object *papers = hoso_bench_get(svc, "papers");
        for (uint32_t i = 0; i < papers->via.array.size; i++) {
            const msgpack_object *p = &papers->via.array.ptr[i];
            const msgpack_object *req = hoso_bench_get(p, "required");
            if (!(req && req->type == MSGPACK_OBJECT_BOOLEAN && req->via.boolean))
                continue;
            msgpack_pack_map(&pk, 3);
            hoso_pack_cstr(&pk, "type");
            msgpack_pack_object(&pk, *hoso_bench_get(p, "type"));
            hoso_pack_cstr(&pk, "number");
            hoso_pack_cstr(&pk, "BENCH-0001");
            hoso_pack_cstr(&pk, "issuer");
            hoso_pack_cstr(&pk, "Bench");
        }
    }
    msgpack_unpacked_destroy(&u);
    free(resp.body.p);
}

/* Encodes {service, form, papers?, op_id} into sb (cleared first). */
static void hoso_bench_submit_body(const hoso_bench_service *s, const char *op_id, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, s->papers.size ? 4 : 3);
    hoso_pack_cstr(&pk, "service");
    hoso_pack_cstr(&pk, s->code);
    /* msgpack is concatenative: the pre-encoded form is appended as it is */
    hoso_pack_cstr(&pk, "form");
    msgpack_sbuffer_write(sb, s->form.data, s->form.size);
    if (s->papers.size) {
        hoso_pack_cstr(&pk, "papers");
        msgpack_sbuffer_write(sb, s->papers.data, s->papers.size);
    }
    hoso_pack_cstr(&pk, "op_id");
    hoso_pack_cstr(&pk, op_id);
}

/* ---------------------------------------------------------------------------------- */
/* Citizens. */

static unsigned hoso_bench_seed;
/* submissions started by all clients, checked against --max-total */
static _Atomic unsigned long hoso_bench_started;

/* A 12-digit citizen id that looks like a real one (province 001, born 1990) and is
 * unique within a run: the last six digits come from a per-run random base. */
static void hoso_bench_citizen_id(unsigned idx, char out[13])
{
    snprintf(out, 13, "001090%06u", (hoso_bench_seed + idx) % 1000000u);
}

/* Registers citizen idx (already registered is fine) and logs in. 0 or -1 with msg. */
/* Sign-ups and sign-ins are hashed on a few threads with a bounded queue: when many
 * clients start at once some get 429 and, like a real app, try again a little later.
 * At most 40 tries over about half a minute. */
static int hoso_bench_http_patient(hoso_bench_conn *c, const char *method, const char *path, const void *body,
                                   size_t len, hoso_bench_resp *resp)
{
    int r = 0;
    for (int i = 0; i < 40; i++) {
        if ((r = hoso_bench_http(c, method, path, NULL, body, len, resp)) != 0 || resp->status != 429)
            return r;
        usleep((useconds_t)(100 + 20 * i) * 1000 + (useconds_t)(rand() % 100) * 1000);
    }
    return r;
}

static int hoso_bench_citizen_login(hoso_bench_conn *c, unsigned idx, char *token, size_t tokensz, char *msg,
                                    size_t msgsz)
{
    char id[13], phone[16];
    hoso_bench_citizen_id(idx, id);
    snprintf(phone, sizeof(phone), "09%s", id + 4);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    hoso_pack_cstr(&pk, "id_number");
    hoso_pack_cstr(&pk, id);
    hoso_pack_cstr(&pk, "full_name");
    hoso_pack_cstr(&pk, "Nguyễn Văn Thử");
    hoso_pack_cstr(&pk, "phone");
    hoso_pack_cstr(&pk, phone);
    hoso_pack_cstr(&pk, "password");
    hoso_pack_cstr(&pk, HOSO_BENCH_PASSWORD);
    hoso_bench_resp resp = {0};
    int ret = -1;
    int r = hoso_bench_http_patient(c, "POST", "/v1/auth/register", sb.data, sb.size, &resp);
    if (r) {
        snprintf(msg, msgsz, "register: %s", strerror(-r));
        goto Exit;
    }
    if (resp.status / 100 != 2 && resp.status != 409) {
        char d[200];
        hoso_bench_describe(&resp, d, sizeof(d));
        snprintf(msg, msgsz, "register %s: %s", id, d);
        goto Exit;
    }
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 2);
    hoso_pack_cstr(&pk, "id_number");
    hoso_pack_cstr(&pk, id);
    hoso_pack_cstr(&pk, "password");
    hoso_pack_cstr(&pk, HOSO_BENCH_PASSWORD);
    if ((r = hoso_bench_http_patient(c, "POST", "/v1/auth/login", sb.data, sb.size, &resp)) != 0) {
        snprintf(msg, msgsz, "login: %s", strerror(-r));
        goto Exit;
    }
    if (resp.status != 200) {
        char d[200];
        hoso_bench_describe(&resp, d, sizeof(d));
        snprintf(msg, msgsz, "login %s: %s", id, d);
        goto Exit;
    }
    msgpack_unpacked u;
    if (hoso_bench_unpack(&u, &resp.body)) {
        snprintf(msg, msgsz, "login: reply is not msgpack");
        goto Exit;
    }
    if (hoso_bench_str(hoso_bench_get(&u.data, "token"), token, tokensz) == 0)
        ret = 0;
    else
        snprintf(msg, msgsz, "login: no token in the reply");
    msgpack_unpacked_destroy(&u);
Exit:
    free(resp.body.p);
    msgpack_sbuffer_destroy(&sb);
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* /metrics: the writer's batch size histogram. */

typedef struct hoso_bench_batches {
    int found;
    double sum, count;               /* hoso_writer_batch_size: ops, commits */
    double commit_sum, commit_count; /* hoso_writer_commit_duration_seconds */
} hoso_bench_batches;

/* Adds the value of metric `name` on line to *dst when the line is that metric
 * ("name value" or "name{labels} value"; label sets are summed). */
static int hoso_bench_metric(const char *line, const char *name, double *dst)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0 || (line[n] != ' ' && line[n] != '{'))
        return 0;
    const char *v = line + n;
    if (*v == '{' && (v = strchr(v, '}')) == NULL)
        return 0;
    *dst += strtod(v + (*v == '}'), NULL);
    return 1;
}

static void hoso_bench_read_batches(const hoso_bench_target *t, hoso_bench_batches *b)
{
    memset(b, 0, sizeof(*b));
    hoso_bench_conn c = {.target = t, .fd = -1};
    hoso_bench_resp resp = {0};
    if (hoso_bench_http(&c, "GET", "/metrics", NULL, NULL, 0, &resp) == 0 && resp.status == 200) {
        for (char *line = resp.body.p; line && *line;) {
            b->found |= hoso_bench_metric(line, "hoso_writer_batch_size_sum", &b->sum);
            hoso_bench_metric(line, "hoso_writer_batch_size_count", &b->count);
            hoso_bench_metric(line, "hoso_writer_commit_duration_seconds_sum", &b->commit_sum);
            hoso_bench_metric(line, "hoso_writer_commit_duration_seconds_count", &b->commit_count);
            char *nl = strchr(line, '\n');
            line = nl ? nl + 1 : NULL;
        }
    }
    hoso_bench_conn_close(&c);
    free(resp.body.p);
    free(c.in.p);
}

/* ---------------------------------------------------------------------------------- */
/* Load. */

typedef struct hoso_bench_opts {
    hoso_bench_target target;
    unsigned clients, sources;
    double duration;
    unsigned long requests; /* per client; 0 = until the duration is over */
    unsigned long max_total; /* all clients together; 0 = no limit */
    const char *service;
    double rate;            /* submit: all clients together per second, open loop; 0 = closed loop */
    /* transition: each client files its dossiers before the clock starts, then moves
     * them (1->2, then 2->4) with the officer's token */
    int transition;
    char officer_token[256];
    /* read: GET this path with this token (any server: nginx ignores the token) */
    const char *read_path, *read_token;
} hoso_bench_opts;

typedef struct hoso_bench_client {
    pthread_t thread;
    unsigned idx;
    const hoso_bench_opts *opts;
    const hoso_bench_service *svc;
    pthread_barrier_t *logged_in, *go;
    const double *start; /* set by the main thread between the two barriers */
    /* results */
    int setup_failed;
    char setup_msg[256];
    unsigned long ok, errors;
    char first_error[256];
    double *lat; /* seconds, one per successful submission */
    size_t nlat, caplat;
    double finished;
    /* transition: this client's dossiers and their versions */
    char (*codes)[96];
    int64_t *version;
    unsigned long ndos;
} hoso_bench_client;

static long long hoso_bench_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long hoso_bench_must(hoso_bench_conn *c, const char *path, const char *token, msgpack_sbuffer *sb,
                                 char *code, size_t codesz);

/* One latency more in a growing array. */
static void hoso_bench_lat_add(double **v, size_t *n, size_t *cap, double x)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        double *p = realloc(*v, *cap * sizeof(*p));
        if (p == NULL)
            hoso_bench_die("out of memory");
        *v = p;
    }
    (*v)[(*n)++] = x;
}

/* Counts a failed request and keeps the first one's description. */
static void hoso_bench_note_error(unsigned long *errors, char *first, size_t n, int r, const hoso_bench_resp *resp)
{
    if ((*errors)++ != 0)
        return;
    if (r)
        snprintf(first, n, "transport: %s", strerror(-r));
    else
        hoso_bench_describe(resp, first, n);
}

/* The dossier version in a reply ({dossier: {...}} or the dossier itself), or -1. */
static long long hoso_bench_version_of(const hoso_bench_resp *resp)
{
    msgpack_unpacked u;
    long long version = -1;
    if (hoso_bench_unpack(&u, &resp->body) != 0)
        return -1;
    const msgpack_object *d = hoso_bench_get(&u.data, "dossier");
    const msgpack_object *v = hoso_bench_get(d ? d : &u.data, "version");
    if (v != NULL && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        version = (long long)v->via.u64;
    msgpack_unpacked_destroy(&u);
    return version;
}

/* The body of an officer's move to status `to` (2 and 4; 2 sets a due date). */
static void hoso_bench_move_body(msgpack_sbuffer *sb, int to, int64_t version)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, to == 2 ? 3 : 2);
    hoso_pack_cstr(&pk, "to");
    msgpack_pack_int(&pk, to);
    hoso_pack_cstr(&pk, "version");
    msgpack_pack_int64(&pk, version);
    if (to == 2) {
        hoso_pack_cstr(&pk, "due_at");
        msgpack_pack_int64(&pk, hoso_bench_epoch_ms() + 7LL * 86400000);
    }
}

static void *hoso_bench_client_main(void *arg)
{
    hoso_bench_client *cl = arg;
    const hoso_bench_opts *o = cl->opts;
    hoso_bench_conn c = {.target = &o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
    c.source = o->sources > 1 ? 1 + cl->idx % o->sources : 0;
    char token[128];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hoso_bench_resp resp = {0};

    if (o->read_path != NULL)
        snprintf(token, sizeof(token), "%s", o->read_token);
    else
        cl->setup_failed = hoso_bench_citizen_login(&c, cl->idx, token, sizeof(token), cl->setup_msg,
                                                    sizeof(cl->setup_msg));
    if (!cl->setup_failed && o->transition) {
        /* Two moves per dossier: enough dossiers for this client's share of
         * --max-total, filed before the clock starts. */
        unsigned long moves = o->max_total ? o->max_total : 400ul * o->clients;
        if (o->rate > 0 && o->rate * o->duration < (double)moves)
            moves = (unsigned long)(o->rate * o->duration) + o->clients;
        cl->ndos = (moves + 2 * o->clients - 1) / (2 * o->clients);
        cl->codes = calloc(cl->ndos, sizeof(*cl->codes));
        cl->version = calloc(cl->ndos, sizeof(*cl->version));
        if (cl->codes == NULL || cl->version == NULL)
            hoso_bench_die("out of memory");
        for (unsigned long k = 0; k < cl->ndos; k++) {
            char op_id[80];
            snprintf(op_id, sizeof(op_id), "bench-tr-%u-%u-%lu", hoso_bench_seed, cl->idx, k);
            hoso_bench_submit_body(cl->svc, op_id, &sb);
            cl->version[k] = hoso_bench_must(&c, "/v1/dossiers", token, &sb, cl->codes[k], sizeof(cl->codes[k]));
        }
    }
    /* every client waits here, so the clock starts with all of them logged in */
    pthread_barrier_wait(cl->logged_in);
    pthread_barrier_wait(cl->go);
    if (cl->setup_failed)
        goto Exit;
    c.timeout_s = HOSO_BENCH_IO_TIMEOUT_S;
    if (c.fd >= 0)
        hoso_bench_set_timeout(c.fd, c.timeout_s);
    double start = *cl->start, deadline = start + o->duration;
    for (unsigned long n = 0; (o->requests == 0 || n < o->requests) && hoso_bench_now() < deadline; n++) {
        if (o->transition && n >= 2 * cl->ndos)
            break; /* before taking a share of --max-total that this client cannot use */
        if (o->max_total && atomic_fetch_add(&hoso_bench_started, 1) >= o->max_total)
            break;
        char op_id[80], path[160];
        const char *method = "POST", *method_path = "/v1/dossiers", *as = token;
        unsigned long k = 0;
        if (o->read_path != NULL) {
            method = "GET";
            method_path = o->read_path;
        } else if (o->transition) {
            k = n % cl->ndos;
            hoso_bench_move_body(&sb, n < cl->ndos ? 2 : 4, cl->version[k]);
            snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", cl->codes[k]);
            method_path = path;
            as = o->officer_token;
        } else {
            snprintf(op_id, sizeof(op_id), "bench-%u-%u-%lu", hoso_bench_seed, cl->idx, n);
            hoso_bench_submit_body(cl->svc, op_id, &sb);
        }
        double t0 = hoso_bench_now();
        if (o->rate > 0) {
            /* Open loop: this client's nth submission is due at a fixed time, and its
             * latency counts from then, so a slow reply cannot hide the queue behind it
             * (no coordinated omission). The clients' schedules interleave. */
            double due = start + ((double)n * o->clients + cl->idx) / o->rate;
            if (due >= deadline)
                break;
            if (due > t0)
                usleep((useconds_t)((due - t0) * 1e6));
            t0 = due;
        }
        int r = o->read_path != NULL ? hoso_bench_http(&c, method, method_path, as, NULL, 0, &resp)
                                     : hoso_bench_http(&c, method, method_path, as, sb.data, sb.size, &resp);
        double t1 = hoso_bench_now();
        if (r == 0 && resp.status / 100 == 2) {
            if (o->transition)
                cl->version[k] = hoso_bench_version_of(&resp);
            hoso_bench_lat_add(&cl->lat, &cl->nlat, &cl->caplat, t1 - t0);
            cl->ok++;
            continue;
        }
        hoso_bench_note_error(&cl->errors, cl->first_error, sizeof(cl->first_error), r, &resp);
        /* a failing server must not turn the loop into a busy spin */
        if (r)
            usleep(10000);
    }
Exit:
    cl->finished = hoso_bench_now();
    hoso_bench_conn_close(&c);
    free(c.in.p);
    free(resp.body.p);
    msgpack_sbuffer_destroy(&sb);
    return NULL;
}

static int hoso_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double hoso_bench_pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static int hoso_bench_submit(const hoso_bench_opts *o)
{
    hoso_bench_conn c = {.target = &o->target, .fd = -1};
    hoso_bench_service svc;
    if (o->read_path == NULL) {
        hoso_bench_pick_service(&c, o->service, &svc);
    } else {
        memset(&svc, 0, sizeof(svc));
        msgpack_sbuffer_init(&svc.form);
        msgpack_sbuffer_init(&svc.papers);
    }
    hoso_bench_conn_close(&c);
    free(c.in.p);

    hoso_bench_client *cls = calloc(o->clients, sizeof(*cls));
    if (cls == NULL)
        hoso_bench_die("out of memory");
    /* Two rendezvous: after every client has logged in (the main thread then reads the
     * metrics and takes the start time) and before the load starts. A barrier orders
     * the main thread's writes before every client's reads. */
    pthread_barrier_t logged_in, go;
    pthread_barrier_init(&logged_in, NULL, o->clients + 1);
    pthread_barrier_init(&go, NULL, o->clients + 1);
    double start = 0, t_setup = hoso_bench_now();
    for (unsigned i = 0; i < o->clients; i++) {
        cls[i] = (hoso_bench_client){.idx = i, .opts = o, .svc = &svc, .logged_in = &logged_in, .go = &go,
                                     .start = &start};
        int r = pthread_create(&cls[i].thread, NULL, hoso_bench_client_main, &cls[i]);
        if (r)
            hoso_bench_die("pthread_create: %s", strerror(r));
    }
    pthread_barrier_wait(&logged_in);
    double setup_s = hoso_bench_now() - t_setup;
    hoso_bench_batches before = {0}, after = {0};
    if (o->read_path == NULL)
        hoso_bench_read_batches(&o->target, &before);
    start = hoso_bench_now();
    pthread_barrier_wait(&go);

    unsigned long ok = 0, errors = 0;
    unsigned failed_setup = 0;
    size_t nlat = 0;
    double end = start;
    const char *first_error = NULL, *first_setup = NULL;
    for (unsigned i = 0; i < o->clients; i++) {
        pthread_join(cls[i].thread, NULL);
        ok += cls[i].ok;
        errors += cls[i].errors;
        nlat += cls[i].nlat;
        if (cls[i].finished > end)
            end = cls[i].finished;
        if (cls[i].setup_failed && failed_setup++ == 0)
            first_setup = cls[i].setup_msg;
        if (cls[i].errors && first_error == NULL)
            first_error = cls[i].first_error;
    }
    if (o->read_path == NULL)
        hoso_bench_read_batches(&o->target, &after);

    double *lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
    if (lat == NULL)
        hoso_bench_die("out of memory");
    size_t k = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        memcpy(lat + k, cls[i].lat, cls[i].nlat * sizeof(*lat));
        k += cls[i].nlat;
    }
    qsort(lat, nlat, sizeof(*lat), hoso_bench_cmp_double);
    double secs = end - start;
    double rate = secs > 0 ? (double)ok / secs : 0;
    double p50 = hoso_bench_pct(lat, nlat, 50) * 1e3, p90 = hoso_bench_pct(lat, nlat, 90) * 1e3,
           p99 = hoso_bench_pct(lat, nlat, 99) * 1e3, pmax = nlat ? lat[nlat - 1] * 1e3 : 0;
    double commits = after.count - before.count, ops = after.sum - before.sum;
    int have_batches = before.found && after.found && commits > 0;
    double ncommit = after.commit_count - before.commit_count;

    printf("%s %s%s, %u clients over %u source address(es), setup %.1f s\n", o->read_path ? "GET" : "service",
           o->read_path ? o->read_path : svc.code, o->read_path ? "" : " (a submission each)", o->clients, o->sources > 1 && o->target.loopback ? (o->sources < o->clients ? o->sources : o->clients) : 1,
           setup_s);
    if (failed_setup)
        printf("clients that could not log in: %u (first: %s)\n", failed_setup, first_setup);
    if (o->rate > 0)
        printf("open loop: %.0f %s/s asked for, latency from each one's scheduled time\n", o->rate,
               o->read_path ? "reads" : o->transition ? "moves" : "submissions");
    printf("%s: %lu ok, %lu errors in %.2f s = %.1f per second%s\n",
           o->read_path ? "reads" : o->transition ? "moves" : "submissions", ok,
           errors, secs, rate,
           o->max_total && ok + errors >= o->max_total ? " (stopped at --max-total)" : "");
    if (first_error)
        printf("first error: %s\n", first_error);
    double p999 = hoso_bench_pct(lat, nlat, 99.9) * 1e3;
    printf("latency: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n", p50, p90, p99, p999, pmax);
    if (have_batches)
        printf("writer: %.0f commits for %.0f ops, average batch %.2f ops per commit\n", commits, ops,
               ops / commits);
    else if (o->read_path == NULL)
        printf("writer: no hoso_writer_batch_size change in /metrics\n");
    if (ncommit > 0)
        printf("writer: average commit (fsync included) %.2f ms\n",
               (after.commit_sum - before.commit_sum) / ncommit * 1e3);
    /* one machine-readable line for bench/run.sh */
    printf("RESULT clients=%u ok=%lu errors=%lu setup_failed=%u setup_s=%.1f seconds=%.2f rate=%.1f p50_ms=%.2f "
           "p90_ms=%.2f p99_ms=%.2f max_ms=%.2f target_rate=%.0f commits=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f",
           o->clients, ok, errors, failed_setup, setup_s, secs, rate, p50, p90, p99, pmax, o->rate,
           have_batches ? commits : 0, p50 * 1e3, p99 * 1e3, p999 * 1e3);
    if (have_batches)
        printf(" batch_avg=%.2f", ops / commits);
    else
        printf(" batch_avg=n/a");
    if (ncommit > 0)
        printf(" commit_ms=%.2f", (after.commit_sum - before.commit_sum) / ncommit * 1e3);
    else
        printf(" commit_ms=n/a");
    printf("\n");

    for (unsigned i = 0; i < o->clients; i++) {
        free(cls[i].lat);
        free(cls[i].codes);
        free(cls[i].version);
    }
    free(cls);
    free(lat);
    pthread_barrier_destroy(&logged_in);
    pthread_barrier_destroy(&go);
    msgpack_sbuffer_destroy(&svc.form);
    msgpack_sbuffer_destroy(&svc.papers);
    /* a move refused (a stale version: 409) means the run did not measure moves */
    return (ok > 0 && failed_setup == 0 && (!o->transition || errors == 0)) ? 0 : 1;
}

/* Registers a citizen, submits one dossier and prints what bench/run.sh needs. */
static int hoso_bench_setup(const hoso_bench_opts *o)
{
    hoso_bench_conn c = {.target = &o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
    hoso_bench_service svc;
    hoso_bench_pick_service(&c, o->service, &svc);
    char token[128], msg[256];
    if (hoso_bench_citizen_login(&c, 0, token, sizeof(token), msg, sizeof(msg)))
        hoso_bench_die("%s", msg);
    char op_id[64];
    snprintf(op_id, sizeof(op_id), "bench-setup-%u", hoso_bench_seed);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hoso_bench_submit_body(&svc, op_id, &sb);
    hoso_bench_resp resp = {0};
    int r = hoso_bench_http(&c, "POST", "/v1/dossiers", token, sb.data, sb.size, &resp);
    if (r)
        hoso_bench_die("POST /v1/dossiers: %s", strerror(-r));
    if (resp.status / 100 != 2) {
        char d[256];
        hoso_bench_describe(&resp, d, sizeof(d));
        hoso_bench_die("POST /v1/dossiers: %s", d);
    }
    msgpack_unpacked u;
    if (hoso_bench_unpack(&u, &resp.body))
        hoso_bench_die("POST /v1/dossiers: reply is not msgpack");
    /* the reply is {dossier: {...}}, or the dossier itself */
    const msgpack_object *d = hoso_bench_get(&u.data, "dossier");
    char code[96];
    if (hoso_bench_str(hoso_bench_get(d ? d : &u.data, "code"), code, sizeof(code)))
        hoso_bench_die("POST /v1/dossiers: no dossier code in the reply");
    printf("service=%s\nagency=%s\ncode=%s\ntoken=%s\n", svc.code, svc.agency, code, token);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&svc.form);
    msgpack_sbuffer_destroy(&svc.papers);
    free(resp.body.p);
    hoso_bench_conn_close(&c);
    free(c.in.p);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Delivery latency: dossiers moved by an officer, one at a time at a gentle pace, with
 * the time each move was acknowledged. bench/run.sh joins these with the times the
 * fake portal and bot-relay received the change. */

typedef struct hoso_bench_moves {
    const char *officer;  /* USER:PASS */
    const char *bot;      /* USER:PASS, or NULL: no subscription */
    const char *callback; /* the bot's callback URL */
    unsigned long count;
    unsigned long pace_ms;
} hoso_bench_moves;

static void hoso_bench_staff_login(hoso_bench_conn *c, const char *userpass, char *token, size_t n)
{
    char user[128];
    const char *colon = strchr(userpass, ':');
    if (colon == NULL || (size_t)(colon - userpass) >= sizeof(user))
        hoso_bench_die("expected USER:PASS, got %s", userpass);
    memcpy(user, userpass, (size_t)(colon - userpass));
    user[colon - userpass] = '\0';
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    hoso_pack_cstr(&pk, "username");
    hoso_pack_cstr(&pk, user);
    hoso_pack_cstr(&pk, "password");
    hoso_pack_cstr(&pk, colon + 1);
    hoso_bench_resp resp = {0};
    msgpack_unpacked u;
    if (hoso_bench_http_patient(c, "POST", "/v1/auth/login", sb.data, sb.size, &resp) != 0 || resp.status != 200 ||
        hoso_bench_unpack(&u, &resp.body) != 0 || hoso_bench_str(hoso_bench_get(&u.data, "token"), token, n) != 0)
        hoso_bench_die("login of %s failed (HTTP %d)", user, resp.status);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    free(resp.body.p);
}

/* One request that must succeed; returns the reply's dossier version when it has one. */
static long long hoso_bench_must(hoso_bench_conn *c, const char *path, const char *token, msgpack_sbuffer *sb,
                                 char *code, size_t codesz)
{
    hoso_bench_resp resp = {0};
    msgpack_unpacked u;
    int r = hoso_bench_http(c, "POST", path, token, sb->data, sb->size, &resp);
    if (r != 0)
        hoso_bench_die("POST %s: %s", path, strerror(-r));
    if (resp.status / 100 != 2) {
        char d[256];
        hoso_bench_describe(&resp, d, sizeof(d));
        hoso_bench_die("POST %s: %s", path, d);
    }
    long long version = hoso_bench_version_of(&resp);
    if (code != NULL && hoso_bench_unpack(&u, &resp.body) == 0) {
        const msgpack_object *d = hoso_bench_get(&u.data, "dossier");
        if (d == NULL || hoso_bench_str(hoso_bench_get(d, "code"), code, codesz) != 0)
            hoso_bench_die("POST %s: no dossier code in the reply", path);
        msgpack_unpacked_destroy(&u);
    }
    free(resp.body.p);
    return version;
}

static int hoso_bench_run_moves(const hoso_bench_opts *o, const hoso_bench_moves *m)
{
    hoso_bench_conn c = {.target = &o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
    hoso_bench_service svc;
    char citizen[128], officer[128], bot[128] = "", msg[256], id[13], last4[5];
    hoso_bench_pick_service(&c, o->service, &svc);
    if (hoso_bench_citizen_login(&c, 0, citizen, sizeof(citizen), msg, sizeof(msg)))
        hoso_bench_die("%s", msg);
    hoso_bench_citizen_id(0, id);
    snprintf(last4, sizeof(last4), "%s", id + 8); /* the phone is "09" + id[4..]: its last 4 are id's */
    hoso_bench_staff_login(&c, m->officer, officer, sizeof(officer));
    if (m->bot != NULL)
        hoso_bench_staff_login(&c, m->bot, bot, sizeof(bot));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    c.timeout_s = HOSO_BENCH_IO_TIMEOUT_S;
    for (unsigned long i = 0; i < m->count; i++) {
        char op_id[80], code[96], path[192];
        snprintf(op_id, sizeof(op_id), "bench-moves-%u-%lu", hoso_bench_seed, i);
        hoso_bench_submit_body(&svc, op_id, &sb);
        hoso_bench_must(&c, "/v1/dossiers", citizen, &sb, code, sizeof(code));
        if (m->bot != NULL) {
            msgpack_sbuffer_clear(&sb);
            msgpack_pack_map(&pk, 4);
            hoso_pack_cstr(&pk, "code");
            hoso_pack_cstr(&pk, code);
            hoso_pack_cstr(&pk, "phone_last4");
            hoso_pack_cstr(&pk, last4);
            hoso_pack_cstr(&pk, "chat_ref");
            hoso_pack_cstr(&pk, "bench");
            hoso_pack_cstr(&pk, "callback_url");
            hoso_pack_cstr(&pk, m->callback);
            hoso_bench_must(&c, "/v1/bot/subscriptions", bot, &sb, NULL, 0);
        }
        snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", code);
        long long version = 1;
        for (int to = 2; to <= 4; to += 2) {
            hoso_bench_move_body(&sb, to, version);
            version = hoso_bench_must(&c, path, officer, &sb, NULL, 0);
            printf("ACK %s %d %lld\n", code, to, hoso_bench_epoch_ms());
            usleep((useconds_t)m->pace_ms * 1000);
        }
    }
    printf("RESULT moves=%lu\n", m->count * 2);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&svc.form);
    msgpack_sbuffer_destroy(&svc.papers);
    hoso_bench_conn_close(&c);
    free(c.in.p);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Uploads: each client sends a file of --size bytes in pieces of --piece bytes, with tus
 * to hosod, or (--raw-path P) as PUT P/<client>-<piece> to a server that only stores
 * bodies (nginx's DAV module): the same bytes in the same pieces. */

typedef struct hoso_bench_up {
    unsigned long size, piece;
    const char *raw; /* NULL: tus */
    unsigned long cpu_pid; /* the server's pid: its CPU time during the uploads (sign-ins excluded) */
} hoso_bench_up;

/* user + system CPU seconds of process pid (all threads), or -1. */
static double hoso_bench_cpu_s(unsigned long pid)
{
    char path[64], buf[1024];
    unsigned long ut, st;
    snprintf(path, sizeof path, "/proc/%lu/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct hoso_bench_upc {
    pthread_t thread;
    unsigned idx;
    const hoso_bench_opts *o;
    const hoso_bench_up *u;
    pthread_barrier_t *ready, *go;
    int failed;
    char msg[256];
    unsigned long bytes, retries;
    double *lat;
    size_t nlat;
} hoso_bench_upc;

static void *hoso_bench_up_main(void *arg)
{
    hoso_bench_upc *cl = arg;
    const hoso_bench_up *u = cl->u;
    hoso_bench_conn c = {.target = &cl->o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
    c.source = cl->o->sources > 1 ? 1 + cl->idx % cl->o->sources : 0;
    char token[128] = "", id[64] = "", path[256], extra[256];
    hoso_bench_resp resp = {0};
    unsigned char *data = malloc(u->size);
    if (data == NULL) hoso_bench_die("out of memory");
    for (unsigned long i = 0; i < u->size; i++) data[i] = (unsigned char)(i * 2654435761u >> 13);
    memcpy(data, "%PDF-1.7\n", 9);
    cl->lat = calloc(u->size / u->piece + 2, sizeof(double));
    /* Sign-ins are throttled (argon2id): 100 at once get some 429s; wait and retry. */
    for (int attempt = 0; !u->raw && attempt < 300; attempt++) {
        if ((cl->failed = hoso_bench_citizen_login(&c, cl->idx, token, sizeof token, cl->msg, sizeof cl->msg)) == 0)
            break;
        usleep(200000);
    }
    pthread_barrier_wait(cl->ready);
    pthread_barrier_wait(cl->go);
    if (cl->failed) goto Exit;
    c.timeout_s = HOSO_BENCH_IO_TIMEOUT_S;
    if (!u->raw) {
        snprintf(extra, sizeof extra, "Tus-Resumable: 1.0.0\r\nUpload-Length: %lu\r\n", u->size);
        if (hoso_bench_http_ex(&c, "POST", "/v1/uploads", token, "", extra, NULL, 0, &resp) != 0 || resp.status != 201) {
            cl->failed = 1;
            hoso_bench_describe(&resp, cl->msg, sizeof cl->msg);
            goto Exit;
        }
        msgpack_unpacked un;
        if (hoso_bench_unpack(&un, &resp.body) != 0 ||
            hoso_bench_str(hoso_bench_get(hoso_bench_get(&un.data, "upload"), "id"), id, sizeof id) != 0) {
            cl->failed = 1;
            snprintf(cl->msg, sizeof cl->msg, "no upload id in the reply");
            goto Exit;
        }
        msgpack_unpacked_destroy(&un);
    }
    for (unsigned long off = 0, k = 0; off < u->size; off += u->piece, k++) {
        size_t n = u->size - off < u->piece ? u->size - off : u->piece;
        double t0 = hoso_bench_now();
        int r;
        if (u->raw) {
            snprintf(path, sizeof path, "%s/%u-%u-%lu", u->raw, hoso_bench_seed, cl->idx, k);
            r = hoso_bench_http_ex(&c, "PUT", path, NULL, "application/octet-stream", "", data + off, n, &resp);
        } else {
            snprintf(path, sizeof path, "/v1/uploads/%s", id);
            snprintf(extra, sizeof extra, "Tus-Resumable: 1.0.0\r\nUpload-Offset: %lu\r\n", off);
            r = hoso_bench_http_ex(&c, "PATCH", path, token, "application/offset+octet-stream", extra, data + off, n,
                                   &resp);
        }
        if (r == 0 && resp.status == 429 && cl->retries++ < 1000) {
            /* The server is writing as many pieces as it takes at once: as a tus client
             * does, send the same piece again a moment later. */
            usleep(20000);
            off -= u->piece;
            k--;
            continue;
        }
        if (r != 0 || resp.status / 100 != 2) {
            cl->failed = 1;
            if (r) snprintf(cl->msg, sizeof cl->msg, "transport: %s", strerror(-r));
            else hoso_bench_describe(&resp, cl->msg, sizeof cl->msg);
            goto Exit;
        }
        cl->lat[cl->nlat++] = hoso_bench_now() - t0;
        cl->bytes += n;
    }
Exit:
    hoso_bench_conn_close(&c);
    free(c.in.p);
    free(resp.body.p);
    free(data);
    return NULL;
}

static int hoso_bench_upload(const hoso_bench_opts *o, const hoso_bench_up *u)
{
    hoso_bench_upc *cl = calloc(o->clients, sizeof *cl);
    pthread_barrier_t ready, go;
    if (cl == NULL) hoso_bench_die("out of memory");
    pthread_barrier_init(&ready, NULL, o->clients + 1);
    pthread_barrier_init(&go, NULL, o->clients + 1);
    for (unsigned i = 0; i < o->clients; i++) {
        cl[i] = (hoso_bench_upc){.idx = i, .o = o, .u = u, .ready = &ready, .go = &go};
        if (pthread_create(&cl[i].thread, NULL, hoso_bench_up_main, &cl[i]) != 0) hoso_bench_die("pthread_create");
    }
    pthread_barrier_wait(&ready);
    fprintf(stderr, "hoso-bench upload: %u clients x %lu bytes in pieces of %lu (%s) ...\n", o->clients, u->size,
            u->piece, u->raw ? "PUT" : "tus");
    double cpu0 = u->cpu_pid ? hoso_bench_cpu_s(u->cpu_pid) : -1;
    double t0 = hoso_bench_now();
    pthread_barrier_wait(&go);
    unsigned long bytes = 0, retries = 0;
    size_t nlat = 0, failed = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        pthread_join(cl[i].thread, NULL);
        bytes += cl[i].bytes;
        retries += cl[i].retries;
        nlat += cl[i].nlat;
        if (cl[i].failed && failed++ == 0) fprintf(stderr, "client %u: %s\n", i, cl[i].msg);
    }
    double secs = hoso_bench_now() - t0;
    double cpu1 = u->cpu_pid ? hoso_bench_cpu_s(u->cpu_pid) : -1;
    double cpu_us_mib = cpu0 >= 0 && cpu1 >= 0 && bytes ? (cpu1 - cpu0) * 1e6 / ((double)bytes / 1048576.0) : 0;
    double *all = calloc(nlat + 1, sizeof *all);
    size_t k = 0;
    for (unsigned i = 0; i < o->clients; i++) {
        for (size_t j = 0; j < cl[i].nlat; j++) all[k++] = cl[i].lat[j];
        free(cl[i].lat);
    }
    qsort(all, k, sizeof *all, hoso_bench_cmp_double);
    printf("RESULT bytes=%lu seconds=%.2f mib_s=%.1f pieces=%zu p50_ms=%.2f p99_ms=%.2f failed=%zu retried_429=%lu "
           "cpu_us_per_mib=%.0f\n",
           bytes, secs, (double)bytes / 1048576.0 / secs, k, k ? 1000 * hoso_bench_pct(all, k, 50) : 0.0,
           k ? 1000 * hoso_bench_pct(all, k, 99) : 0.0, failed, retries, cpu_us_mib);
    free(all);
    free(cl);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------------------------- */
/* Fan-out: one event to N subscribers, and what an idle subscriber costs the server.
 *
 * hosod: N WebSockets, all with the officer's token, each subscribed to the agency
 * stream; a second thread moves --events dossiers of that agency (1 -> 2), one every
 * --pace-ms (open loop: each move's latency counts from its scheduled time, so a slow
 * server cannot hide its queue). The reference (--mqtt HOST:PORT): N MQTT 3.1.1
 * connections subscribed at QoS 0 to one topic, and a publisher sending --events
 * messages of --payload bytes at the same pace. One thread multiplexes every
 * subscriber with epoll; a delivery's latency is its receipt minus its event's
 * scheduled time, on the same monotonic clock. With --pid, the server's RSS before the
 * subscribers connect and after they have sat subscribed for --settle-ms gives the
 * memory one idle subscribed connection costs. */

typedef struct hoso_bench_fan {
    unsigned long subscribers, events, pace_ms, pid, settle_ms, payload;
    int json;            /* hosod: JSON text frames instead of msgpack (the app's) */
    const char *officer; /* USER:PASS: hosod (push: an admin, who may move any dossier) */
    const char *mqtt;    /* HOST:PORT: the MQTT reference */
    const char *tokens;  /* push: "TOKEN ..." lines (hoso-seed --tokens), one citizen each */
    unsigned long rate;  /* push: moves per second */
    unsigned long drops; /* push: subscribers dropped at once halfway, then resumed from their seq */
    /* push, a day's mix: GETs of the moved dossiers by their citizens and new
     * submissions by the first citizens, per second, open loop, beside the moves */
    unsigned long reads, submits;
} hoso_bench_fan;

#define HOSO_BENCH_PUSH_MOVERS 8

enum { FAN_CONNECTING, FAN_HANDSHAKE, FAN_SUBSCRIBING, FAN_READY, FAN_DEAD };

typedef struct hoso_bench_sub {
    int fd, state;
    unsigned char *buf;
    size_t len, cap;
    uint8_t *seen;     /* one byte per event: duplicates show */
    long long last_seq; /* push: the last seq of its own feed it got, -1 before the first subscribe */
} hoso_bench_sub;

typedef struct hoso_bench_fanrun {
    const hoso_bench_opts *o;
    const hoso_bench_fan *f;
    hoso_bench_target mq; /* the broker, in --mqtt mode */
    char token[256], agency[64], sub_frame[160];
    size_t sub_len;
    int sub_op; /* 1 text, 2 binary */
    char (*codes)[96];    /* hosod: the dossier of each event */
    size_t ncodes;
    int *slot;            /* open addressing: code hash -> event index + 1 */
    size_t nslot;
    _Atomic uint64_t *due_ns; /* each event's scheduled time, 0 until it is due */
    double t0;            /* the monotonic origin of due_ns */
    double *lat;          /* seconds, one per delivery */
    size_t nlat, caplat;
    unsigned long dup, bad, moves_failed;
    size_t sample_len; /* bytes of one delivered event (its payload) */
    double first_due, last_rx;
    atomic_int mover_done;
    pthread_t mover;
    /* push: each event is one move of one citizen's dossier, delivered to that
     * citizen's own feed subscription */
    char (*tokens)[64];       /* each subscriber's token */
    long *owner;              /* event -> its subscriber */
    int *to;                  /* event -> the status it moves to */
    int64_t *version;         /* event -> the dossier's version before the move */
    _Atomic uint64_t *ack_ns; /* event -> when its 200 arrived, 0 until then */
    uint8_t *seen_ev;         /* event -> deliveries */
    double *lat_ack;          /* seconds from the move's 200 to receipt */
    size_t nlat_ack;
    _Atomic unsigned long next_move, push_failed;
    atomic_int movers_left;
    hoso_bench_sub *subs;
    /* push --reads/--submits: the side load, due on the moves' schedule */
    double run_s;
    _Atomic unsigned long next_read, next_submit;
    hoso_bench_service svc;
    /* push: each feed's seqs, checked across reconnects */
    unsigned long seq_gaps, seq_dups, not_recovered, reconnects;
} hoso_bench_fanrun;

static uint64_t hoso_bench_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void hoso_bench_fan_index(hoso_bench_fanrun *fr)
{
    fr->nslot = 1;
    while (fr->nslot < fr->ncodes * 2 + 2)
        fr->nslot *= 2;
    if ((fr->slot = calloc(fr->nslot, sizeof(*fr->slot))) == NULL)
        hoso_bench_die("out of memory");
    for (size_t i = 0; i < fr->ncodes; i++) {
        size_t k = hoso_bench_hash(fr->codes[i], strlen(fr->codes[i])) & (fr->nslot - 1);
        while (fr->slot[k])
            k = (k + 1) & (fr->nslot - 1);
        fr->slot[k] = (int)i + 1;
    }
}

/* The event index a payload names, or -1. hosod: the dossier code after the agency
 * prefix in a dossier.status event; MQTT: the first 8 digits. */
static long hoso_bench_fan_event(hoso_bench_fanrun *fr, const unsigned char *p, size_t n)
{
    if (fr->f->mqtt) {
        if (n < 8)
            return -1;
        long v = 0;
        for (int i = 0; i < 8; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -1;
            v = v * 10 + (p[i] - '0');
        }
        return v < (long)fr->f->events ? v : -1;
    }
    /* JSON or msgpack alike: the strings are there as they are. The dossier's code is
     * the only string that starts with the agency and a dash. */
    const char *s = (const char *)p, *end = s + n;
    if (!memmem(s, n, "dossier.status", 14))
        return -1;
    if (fr->f->tokens) {
        /* push: citizens of every agency; msgpack frames, the dossier's "code" is the
         * first map key of that name */
        const unsigned char *k = memmem(p, n, "\xa4" "code", 5), *v;
        size_t len;
        if (k == NULL || (v = k + 5) >= p + n)
            return -1;
        if ((*v & 0xe0) == 0xa0) {
            len = *v & 0x1f;
            v++;
        } else if (*v == 0xd9 && v + 1 < p + n) {
            len = v[1];
            v += 2;
        } else {
            return -1;
        }
        if (v + len > p + n)
            return -1;
        size_t h = hoso_bench_hash((const char *)v, len) & (fr->nslot - 1);
        for (; fr->slot[h]; h = (h + 1) & (fr->nslot - 1)) {
            const char *code = fr->codes[fr->slot[h] - 1];
            if (strlen(code) == len && memcmp(code, v, len) == 0)
                return fr->slot[h] - 1;
        }
        return -1;
    }
    char key[80];
    int kl = snprintf(key, sizeof(key), "%s-", fr->agency);
    const char *c = memmem(s, n, key, (size_t)kl), *q = c;
    if (c == NULL)
        return -1;
    while (q < end && (isalnum((unsigned char)*q) || *q == '.' || *q == '-'))
        q++;
    size_t k = hoso_bench_hash(c, (size_t)(q - c)) & (fr->nslot - 1);
    for (; fr->slot[k]; k = (k + 1) & (fr->nslot - 1)) {
        const char *code = fr->codes[fr->slot[k] - 1];
        if (strlen(code) == (size_t)(q - c) && memcmp(code, c, (size_t)(q - c)) == 0)
            return fr->slot[k] - 1;
    }
    return -1;
}

static void hoso_bench_fan_delivered(hoso_bench_fanrun *fr, hoso_bench_sub *s, long ev)
{
    uint64_t due = atomic_load_explicit(&fr->due_ns[ev], memory_order_acquire);
    double now = hoso_bench_now();
    if (fr->f->tokens) {
        if (fr->seen_ev[ev]++) {
            fr->dup++;
            return;
        }
        if (s != NULL && fr->owner[ev] != (long)(s - fr->subs)) {
            fr->bad++; /* someone else's dossier on this feed */
            return;
        }
        uint64_t ack = atomic_load_explicit(&fr->ack_ns[ev], memory_order_acquire);
        /* The event may overtake its own 200: that counts as no time at all. */
        double from_ack = ack ? now - (fr->t0 + (double)ack / 1e9) : 0;
        fr->lat_ack[fr->nlat_ack++] = from_ack > 0 ? from_ack : 0;
    } else if (s->seen[ev]++) {
        fr->dup++;
        return;
    }
    if (due == 0) { /* cannot happen: an event comes after its move */
        fr->bad++;
        return;
    }
    hoso_bench_lat_add(&fr->lat, &fr->nlat, &fr->caplat, now - (fr->t0 + (double)due / 1e9));
    fr->last_rx = now;
}

/* A client's WebSocket frame (masked, as RFC 6455 wants from clients). */
static int hoso_bench_ws_send(int fd, int opcode, const void *p, size_t n)
{
    unsigned char f[14 + 256];
    if (n > 256)
        return -EMSGSIZE;
    size_t h = 0;
    f[h++] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        f[h++] = (unsigned char)(0x80 | n);
    } else {
        f[h++] = 0x80 | 126;
        f[h++] = (unsigned char)(n >> 8);
        f[h++] = (unsigned char)n;
    }
    unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(f + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        f[h + i] = ((const unsigned char *)p)[i] ^ mask[i & 3];
    return send(fd, f, h + n, MSG_NOSIGNAL) == (ssize_t)(h + n) ? 0 : -EIO;
}

/* The upgrade request of GET /v1/ws with token, into buf; returns its length. */
static int hoso_bench_ws_upgrade(char *buf, size_t n, const hoso_bench_target *t, const char *token)
{
    return snprintf(buf, n,
                    "GET /v1/ws HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: aG9zby1iZW5jaC1rZXkxMg==\r\n"
                    "Authorization: Bearer %s\r\n\r\n",
                    t->host, t->port, token);
}

/* {type: "subscribe", since} in msgpack, into sb (cleared first): a citizen's own feed. */
static void hoso_bench_since_frame(msgpack_sbuffer *sb, uint64_t since)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    hoso_pack_cstr(&pk, "type");
    hoso_pack_cstr(&pk, "subscribe");
    hoso_pack_cstr(&pk, "since");
    msgpack_pack_uint64(&pk, since);
}

/* MQTT's remaining-length varint. */
static size_t hoso_bench_mqtt_len(unsigned char *out, size_t n)
{
    size_t k = 0;
    do {
        unsigned char b = n % 128;
        n /= 128;
        out[k++] = (unsigned char)(n ? b | 0x80 : b);
    } while (n);
    return k;
}

static int hoso_bench_mqtt_connect(int fd, const char *client_id)
{
    unsigned char p[128], body[96];
    size_t idl = strlen(client_id), b = 0;
    memcpy(body, "\0\4MQTT\4\2\0\0", 10); /* level 4, clean session, no keep-alive */
    b = 10;
    body[b++] = (unsigned char)(idl >> 8);
    body[b++] = (unsigned char)idl;
    memcpy(body + b, client_id, idl);
    b += idl;
    size_t h = 0;
    p[h++] = 0x10;
    h += hoso_bench_mqtt_len(p + h, b);
    memcpy(p + h, body, b);
    return send(fd, p, h + b, MSG_NOSIGNAL) == (ssize_t)(h + b) ? 0 : -EIO;
}

static const char hoso_bench_topic[] = "hoso/agency/bench";

static int hoso_bench_mqtt_subscribe(int fd)
{
    unsigned char p[64];
    size_t tl = sizeof(hoso_bench_topic) - 1, h = 0;
    p[h++] = 0x82;
    p[h++] = (unsigned char)(2 + 2 + tl + 1);
    p[h++] = 0;
    p[h++] = 1; /* packet id */
    p[h++] = 0;
    p[h++] = (unsigned char)tl;
    memcpy(p + h, hoso_bench_topic, tl);
    h += tl;
    p[h++] = 0; /* QoS 0 */
    return send(fd, p, h, MSG_NOSIGNAL) == (ssize_t)h ? 0 : -EIO;
}

static void hoso_bench_sub_reserve(hoso_bench_sub *s, size_t extra)
{
    if (s->len + extra <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + extra)
        cap *= 2;
    if ((s->buf = realloc(s->buf, cap)) == NULL)
        hoso_bench_die("out of memory");
    s->cap = cap;
}

/* Consumes whole messages of s->buf. */
/* push: a frame on a citizen's own feed. The "subscribed" answer sets where its feed
 * stands (the head the first time; after a drop the server must have recovered from
 * the seq the client sent); each event must carry the next seq. */
static void hoso_bench_push_frame(hoso_bench_fanrun *fr, hoso_bench_sub *s, const unsigned char *p, size_t n,
                                  int subscribing)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)p, n, NULL) != MSGPACK_UNPACK_SUCCESS) {
        s->state = FAN_DEAD;
        return;
    }
    char type[16] = "";
    hoso_bench_str(hoso_bench_get(&u.data, "type"), type, sizeof(type));
    const msgpack_object *seq = hoso_bench_get(&u.data, subscribing ? "head" : "seq");
    long long v = seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (long long)seq->via.u64 : -1;
    if (subscribing) {
        const msgpack_object *rec = hoso_bench_get(&u.data, "recovered");
        int recovered = rec && rec->type == MSGPACK_OBJECT_BOOLEAN && rec->via.boolean;
        if (strcmp(type, "subscribed") != 0 || v < 0) {
            s->state = FAN_DEAD;
        } else {
            if (s->last_seq >= 0 && !recovered) {
                fr->not_recovered++; /* the app would have to load its snapshot */
                s->last_seq = v;
            } else if (s->last_seq < 0) {
                s->last_seq = v;
            }
            s->state = FAN_READY;
        }
    } else if (strcmp(type, "event") == 0 && v >= 0) {
        if (v <= s->last_seq)
            fr->seq_dups++;
        else if (v != s->last_seq + 1)
            fr->seq_gaps++;
        if (v > s->last_seq)
            s->last_seq = v;
    }
    msgpack_unpacked_destroy(&u);
}

static void hoso_bench_sub_parse(hoso_bench_fanrun *fr, hoso_bench_sub *s)
{
    size_t off = 0;
    if (s->state == FAN_HANDSHAKE && !fr->f->mqtt) {
        unsigned char *e = memmem(s->buf, s->len, "\r\n\r\n", 4);
        if (e == NULL)
            return;
        if (s->len < 12 || memcmp(s->buf, "HTTP/1.1 101", 12) != 0) {
            s->state = FAN_DEAD;
            return;
        }
        off = (size_t)(e - s->buf) + 4;
        s->state = FAN_SUBSCRIBING;
        if (fr->f->tokens && s->last_seq >= 0) {
            /* back after a drop: from the last seq it got */
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            hoso_bench_since_frame(&sb, (uint64_t)s->last_seq);
            if (hoso_bench_ws_send(s->fd, 2, sb.data, sb.size) != 0)
                s->state = FAN_DEAD;
            msgpack_sbuffer_destroy(&sb);
        } else if (hoso_bench_ws_send(s->fd, fr->sub_op, fr->sub_frame, fr->sub_len) != 0) {
            s->state = FAN_DEAD;
        }
    }
    while (s->state != FAN_DEAD && s->len - off >= 2) {
        const unsigned char *p = s->buf + off;
        size_t avail = s->len - off, hl, n;
        if (fr->f->mqtt) {
            /* fixed header: type byte, varint length */
            size_t mult = 1;
            n = 0;
            hl = 1;
            do {
                if (hl >= avail)
                    goto More;
                n += (p[hl] & 127u) * mult;
                mult *= 128;
            } while (p[hl++] & 128);
            if (avail < hl + n)
                goto More;
            unsigned type = p[0] >> 4;
            if (type == 2 && s->state == FAN_HANDSHAKE) { /* CONNACK */
                if (n < 2 || p[hl + 1] != 0 || hoso_bench_mqtt_subscribe(s->fd) != 0)
                    s->state = FAN_DEAD;
                else
                    s->state = FAN_SUBSCRIBING;
            } else if (type == 9) { /* SUBACK */
                s->state = n >= 3 && p[hl + 2] == 0 ? FAN_READY : FAN_DEAD;
            } else if (type == 3 && n >= 2) { /* PUBLISH, QoS 0: topic, then payload */
                size_t tl = ((size_t)p[hl] << 8) | p[hl + 1];
                if (2 + tl <= n) {
                    long ev = hoso_bench_fan_event(fr, p + hl + 2 + tl, n - 2 - tl);
                    if (ev >= 0) {
                        fr->sample_len = n - 2 - tl;
                        hoso_bench_fan_delivered(fr, s, ev);
                    }
                }
            }
            off += hl + n;
            continue;
        }
        n = p[1] & 0x7f;
        hl = 2;
        if (n == 126) {
            if (avail < 4)
                break;
            n = ((size_t)p[2] << 8) | p[3];
            hl = 4;
        } else if (n == 127) {
            if (avail < 10)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = (n << 8) | p[2 + i];
            hl = 10;
        }
        if (avail < hl + n)
            break;
        int op = p[0] & 0x0f;
        const unsigned char *pl = p + hl;
        if (op == 9) {
            if (hoso_bench_ws_send(s->fd, 10, pl, n < 125 ? n : 0) != 0)
                s->state = FAN_DEAD;
        } else if (op == 8) {
            s->state = FAN_DEAD;
        } else if (op == 1 || op == 2) {
            if (s->state == FAN_SUBSCRIBING && fr->f->tokens) {
                hoso_bench_push_frame(fr, s, pl, n, 1);
            } else if (s->state == FAN_SUBSCRIBING) {
                s->state = memmem(pl, n, "subscribed", 10) ? FAN_READY : FAN_DEAD;
            } else {
                if (fr->f->tokens)
                    hoso_bench_push_frame(fr, s, pl, n, 0);
                long ev = hoso_bench_fan_event(fr, pl, n);
                if (ev >= 0) {
                    fr->sample_len = n;
                    hoso_bench_fan_delivered(fr, s, ev);
                }
            }
        }
        off += hl + n;
    }
More:
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

/* The process's anonymous resident memory: what its connections cost, without the
 * pages of a store it has mapped in (hosod reads LMDB through mmap). */
static long hoso_bench_rss_kib(unsigned long pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%lu/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* The events, at the pace: officer moves (hosod) or publishes (MQTT). */
static void *hoso_bench_fan_mover(void *arg)
{
    hoso_bench_fanrun *fr = arg;
    const hoso_bench_fan *f = fr->f;
    hoso_bench_conn c = {.target = f->mqtt ? &fr->mq : &fr->o->target, .fd = -1};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    unsigned char *pub = NULL;
    size_t publen = 0;
    if (f->mqtt) {
        char id[32];
        snprintf(id, sizeof(id), "hoso-bench-pub-%u", hoso_bench_seed);
        unsigned char ack[4];
        if (hoso_bench_conn_open(&c) != 0 || hoso_bench_mqtt_connect(c.fd, id) != 0 ||
            recv(c.fd, ack, 4, MSG_WAITALL) != 4 || ack[0] != 0x20 || ack[3] != 0)
            hoso_bench_die("the MQTT publisher could not connect to %s", f->mqtt);
        size_t tl = sizeof(hoso_bench_topic) - 1, n = 2 + tl + f->payload;
        if ((pub = malloc(16 + n)) == NULL)
            hoso_bench_die("out of memory");
        publen = 0;
        pub[publen++] = 0x30;
        publen += hoso_bench_mqtt_len(pub + publen, n);
        pub[publen++] = 0;
        pub[publen++] = (unsigned char)tl;
        memcpy(pub + publen, hoso_bench_topic, tl);
        publen += tl;
        memset(pub + publen, 'x', f->payload);
        publen += f->payload;
    }
    double start = hoso_bench_now() + 0.05;
    for (unsigned long i = 0; i < f->events; i++) {
        double due = start + (double)i * (double)f->pace_ms / 1e3, now = hoso_bench_now();
        if (due > now)
            usleep((useconds_t)((due - now) * 1e6));
        if (f->pace_ms == 0)
            due = hoso_bench_now(); /* closed loop: from the send */
        atomic_store_explicit(&fr->due_ns[i], (uint64_t)((due - fr->t0) * 1e9), memory_order_release);
        if (i == 0)
            fr->first_due = due;
        if (f->mqtt) {
            char idx[24];
            snprintf(idx, sizeof(idx), "%08lu", i % 100000000ul);
            memcpy(pub + publen - f->payload, idx, f->payload < 8 ? f->payload : 8);
            if (hoso_bench_send_all(c.fd, (const char *)pub, publen) != 0)
                hoso_bench_die("the MQTT publisher lost its connection");
            continue;
        }
        char path[192];
        snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", fr->codes[i]);
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_map(&pk, 3);
        hoso_pack_cstr(&pk, "to");
        msgpack_pack_int(&pk, 2);
        hoso_pack_cstr(&pk, "version");
        msgpack_pack_int64(&pk, 1);
        hoso_pack_cstr(&pk, "due_at");
        msgpack_pack_int64(&pk, hoso_bench_epoch_ms() + 7LL * 86400000);
        hoso_bench_resp resp = {0};
        if (hoso_bench_http(&c, "POST", path, fr->token, sb.data, sb.size, &resp) != 0 || resp.status != 200)
            fr->moves_failed++;
        free(resp.body.p);
    }
    free(pub);
    msgpack_sbuffer_destroy(&sb);
    hoso_bench_conn_close(&c);
    free(c.in.p);
    atomic_store(&fr->mover_done, 1);
    return NULL;
}

/* push: one of HOSO_BENCH_PUSH_MOVERS threads, each on its own connection, taking the
 * next move when its time comes (open loop: the schedule does not wait for replies). */
static void *hoso_bench_push_mover(void *arg)
{
    hoso_bench_fanrun *fr = arg;
    const hoso_bench_fan *f = fr->f;
    hoso_bench_conn c = {.target = &fr->o->target, .fd = -1};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (;;) {
        unsigned long i = atomic_fetch_add(&fr->next_move, 1);
        if (i >= fr->ncodes)
            break;
        double due = fr->first_due + (double)i / (double)f->rate, now = hoso_bench_now();
        if (due > now)
            usleep((useconds_t)((due - now) * 1e6));
        atomic_store_explicit(&fr->due_ns[i], (uint64_t)((due - fr->t0) * 1e9), memory_order_release);
        char path[192];
        snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", fr->codes[i]);
        msgpack_sbuffer_clear(&sb);
        int extra = fr->to[i] == 2 || fr->to[i] == 9;
        msgpack_pack_map(&pk, 2 + extra);
        hoso_pack_cstr(&pk, "to");
        msgpack_pack_int(&pk, fr->to[i]);
        hoso_pack_cstr(&pk, "version");
        msgpack_pack_int64(&pk, fr->version[i]);
        if (fr->to[i] == 2) {
            hoso_pack_cstr(&pk, "due_at");
            msgpack_pack_int64(&pk, hoso_bench_epoch_ms() + 7LL * 86400000);
        } else if (fr->to[i] == 9) {
            hoso_pack_cstr(&pk, "result");
            hoso_pack_cstr(&pk, "Đã cấp giấy chứng nhận");
        }
        hoso_bench_resp resp = {0};
        if (hoso_bench_http(&c, "POST", path, fr->token, sb.data, sb.size, &resp) == 0 && resp.status == 200)
            atomic_store_explicit(&fr->ack_ns[i], (uint64_t)((hoso_bench_now() - fr->t0) * 1e9), memory_order_release);
        else
            atomic_fetch_add(&fr->push_failed, 1);
        free(resp.body.p);
    }
    msgpack_sbuffer_destroy(&sb);
    hoso_bench_conn_close(&c);
    free(c.in.p);
    if (atomic_fetch_sub(&fr->movers_left, 1) == 1)
        atomic_store(&fr->mover_done, 1);
    return NULL;
}

/* push --reads R --submits S: threads beside the movers, each on its own connection,
 * taking the next read (a citizen's GET of one of the dossiers being moved) or
 * submission (a new dossier of one of the first 64 citizens) when its time comes:
 * open loop, latency from the scheduled time, for as long as the moves last. */
typedef struct hoso_bench_side {
    pthread_t thread;
    hoso_bench_fanrun *fr;
    int submit;
    double *lat; /* seconds, one per success */
    size_t nlat, cap;
    unsigned long errors;
    char first_error[256];
} hoso_bench_side;

/* Each side thread waits for its reply: enough of them that the rate asked for is
 * sent on time (a read takes well under 4 ms, a durable submission under 25 ms). */
#define HOSO_BENCH_SIDE_MAX 32
static unsigned hoso_bench_side_threads(unsigned long rate, int submit)
{
    unsigned long n = (rate + (submit ? 39 : 249)) / (submit ? 40 : 250);
    return n < 2 ? 2 : n > HOSO_BENCH_SIDE_MAX ? HOSO_BENCH_SIDE_MAX : (unsigned)n;
}

static void *hoso_bench_side_main(void *arg)
{
    hoso_bench_side *sd = arg;
    hoso_bench_fanrun *fr = sd->fr;
    const hoso_bench_fan *f = fr->f;
    hoso_bench_conn c = {.target = &fr->o->target, .fd = -1};
    unsigned long rate = sd->submit ? f->submits : f->reads;
    unsigned long total = (unsigned long)((double)rate * fr->run_s);
    _Atomic unsigned long *next = sd->submit ? &fr->next_submit : &fr->next_read;
    unsigned long writers = f->subscribers < 64 ? f->subscribers : 64;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hoso_bench_resp resp = {0};
    for (;;) {
        unsigned long i = atomic_fetch_add(next, 1);
        if (i >= total)
            break;
        double due = fr->first_due + (double)i / (double)rate, now = hoso_bench_now();
        if (due > now)
            usleep((useconds_t)((due - now) * 1e6));
        int r, want;
        if (sd->submit) {
            char op_id[80];
            snprintf(op_id, sizeof(op_id), "bench-mix-%u-%lu", hoso_bench_seed, i);
            hoso_bench_submit_body(&fr->svc, op_id, &sb);
            r = hoso_bench_http(&c, "POST", "/v1/dossiers", fr->tokens[i % writers], sb.data, sb.size, &resp);
            want = 201;
        } else {
            char path[160];
            size_t k = (size_t)((i * 7919u) % fr->ncodes); /* spread over the moved dossiers */
            snprintf(path, sizeof(path), "/v1/dossiers/%s", fr->codes[k]);
            r = hoso_bench_http(&c, "GET", path, fr->tokens[fr->owner[k]], NULL, 0, &resp);
            want = 200;
        }
        double t1 = hoso_bench_now();
        if (r == 0 && resp.status == want) {
            hoso_bench_lat_add(&sd->lat, &sd->nlat, &sd->cap, t1 - due);
            continue;
        }
        hoso_bench_note_error(&sd->errors, sd->first_error, sizeof(sd->first_error), r, &resp);
        if (r)
            usleep(10000);
    }
    msgpack_sbuffer_destroy(&sb);
    free(resp.body.p);
    hoso_bench_conn_close(&c);
    free(c.in.p);
    return NULL;
}

/* Merges the side threads of one kind: ok count, errors, p50/p99 in ms. */
static void hoso_bench_side_sum(hoso_bench_side *sides, size_t n, int submit, unsigned long *ok,
                                unsigned long *errors, double *p50, double *p99, const char **first_error)
{
    size_t total = 0, k = 0;
    *errors = 0;
    for (size_t i = 0; i < n; i++)
        if (sides[i].submit == submit)
            total += sides[i].nlat, *errors += sides[i].errors;
    double *all = malloc((total ? total : 1) * sizeof(*all));
    if (all == NULL)
        hoso_bench_die("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (sides[i].submit != submit)
            continue;
        memcpy(all + k, sides[i].lat, sides[i].nlat * sizeof(*all));
        k += sides[i].nlat;
        if (sides[i].errors && *first_error == NULL)
            *first_error = sides[i].first_error;
    }
    qsort(all, total, sizeof(*all), hoso_bench_cmp_double);
    *ok = total;
    *p50 = hoso_bench_pct(all, total, 50) * 1e3;
    *p99 = hoso_bench_pct(all, total, 99) * 1e3;
    free(all);
}

/* The server's own push delay (hoso_ws_push_delay_seconds, from each event's commit
 * to its frame handed to the socket), as its cumulative buckets. */
typedef struct hoso_bench_histo {
    double le[32], cum[32]; /* le: seconds; the last one +Inf */
    size_t n;
} hoso_bench_histo;

static void hoso_bench_read_histo(const hoso_bench_target *t, hoso_bench_histo *h)
{
    hoso_bench_conn c = {.target = t, .fd = -1};
    hoso_bench_resp resp = {0};
    const char *name = "hoso_ws_push_delay_seconds_bucket{le=\"";
    size_t nl = strlen(name);
    h->n = 0;
    if (hoso_bench_http(&c, "GET", "/metrics", NULL, NULL, 0, &resp) == 0 && resp.status == 200) {
        for (char *line = resp.body.p; line && *line && h->n < 32;) {
            if (strncmp(line, name, nl) == 0) {
                char *v = line + nl, *sp = strchr(v, ' ');
                h->le[h->n] = strncmp(v, "+Inf", 4) == 0 ? INFINITY : strtod(v, NULL);
                h->cum[h->n++] = sp ? strtod(sp + 1, NULL) : 0;
            }
            char *eol = strchr(line, '\n');
            line = eol ? eol + 1 : NULL;
        }
    }
    hoso_bench_conn_close(&c);
    free(resp.body.p);
    free(c.in.p);
}

/* Percentile p of the deliveries counted between two reads, as the upper bound in ms
 * of the bucket that holds it ("0.25"; ">1000" past the last bound; "n/a" without
 * the histogram or deliveries). Returns the deliveries counted. */
static double hoso_bench_histo_pct(const hoso_bench_histo *a, const hoso_bench_histo *b, double p, char *out,
                                   size_t outsz)
{
    snprintf(out, outsz, "n/a");
    if (b->n == 0 || (a->n != 0 && a->n != b->n))
        return 0;
    double total = b->cum[b->n - 1] - (a->n ? a->cum[a->n - 1] : 0);
    if (total <= 0)
        return 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->cum[i] - (a->n ? a->cum[i] : 0) >= p / 100.0 * total) {
            if (isinf(b->le[i]))
                snprintf(out, outsz, ">%g", i > 0 ? b->le[i - 1] * 1e3 : 0);
            else
                snprintf(out, outsz, "%g", b->le[i] * 1e3);
            break;
        }
    }
    return total;
}

/* push: the subscribers' tokens, and the moves: each citizen's dossiers that an
 * officer can move on (1->2, 2->4, 4->9, 6->4, 9->10), taken round robin, each once. */
static void hoso_bench_push_setup(hoso_bench_fanrun *fr)
{
    const hoso_bench_fan *f = fr->f;
    FILE *in = fopen(f->tokens, "r");
    if (in == NULL)
        hoso_bench_die("cannot read %s: %s", f->tokens, strerror(errno));
    if ((fr->tokens = calloc(f->subscribers, sizeof(*fr->tokens))) == NULL)
        hoso_bench_die("out of memory");
    char line[256];
    unsigned long n = 0;
    while (n < f->subscribers && fgets(line, sizeof(line), in)) {
        line[strcspn(line, " \r\n")] = '\0';
        if (line[0] != '\0')
            snprintf(fr->tokens[n++], sizeof(fr->tokens[0]), "%.63s", line);
    }
    fclose(in);
    if (n < f->subscribers)
        hoso_bench_die("%s has %lu tokens, not --subscribers %lu (hoso-seed --sessions)", f->tokens, n, f->subscribers);

    /* Each citizen's dossiers (the seeded ones: at most 100 each). */
    typedef struct { char code[96]; int to; int64_t version; } cand;
    cand *cands = calloc(f->subscribers * 16, sizeof(*cands));
    unsigned *ncand = calloc(f->subscribers, sizeof(*ncand));
    if (cands == NULL || ncand == NULL)
        hoso_bench_die("out of memory");
    hoso_bench_conn c = {.target = &fr->o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
    double next_progress = hoso_bench_now() + 1;
    for (unsigned long i = 0; i < f->subscribers; i++) {
        hoso_bench_resp resp = {0};
        msgpack_unpacked u;
        if (hoso_bench_http(&c, "GET", "/v1/dossiers?limit=100", fr->tokens[i], NULL, 0, &resp) != 0 ||
            resp.status != 200 || hoso_bench_unpack(&u, &resp.body) != 0)
            hoso_bench_die("GET /v1/dossiers as subscriber %lu failed (HTTP %d)", i, resp.status);
        const msgpack_object *list = hoso_bench_get(&u.data, "dossiers");
        for (uint32_t k = 0; list && list->type == MSGPACK_OBJECT_ARRAY && k < list->via.array.size && ncand[i] < 16;
             k++) {
            const msgpack_object *d = &list->via.array.ptr[k];
            const msgpack_object *st = hoso_bench_get(d, "status"), *v = hoso_bench_get(d, "version");
            static const int next[11] = {0, 2, 4, 0, 9, 0, 4, 0, 0, 10, 0};
            if (st == NULL || v == NULL || st->type != MSGPACK_OBJECT_POSITIVE_INTEGER || st->via.u64 > 10 ||
                next[st->via.u64] == 0)
                continue;
            cand *x = &cands[i * 16 + ncand[i]];
            if (hoso_bench_str(hoso_bench_get(d, "code"), x->code, sizeof(x->code)) != 0)
                continue;
            x->to = next[st->via.u64];
            x->version = (int64_t)v->via.u64;
            ncand[i]++;
        }
        msgpack_unpacked_destroy(&u);
        free(resp.body.p);
        if (hoso_bench_now() >= next_progress) {
            fprintf(stderr, "hoso-bench: read the dossiers of %lu of %lu citizens\n", i, f->subscribers);
            next_progress += 1;
        }
    }
    hoso_bench_conn_close(&c);
    free(c.in.p);

    fr->codes = calloc(f->events, sizeof(*fr->codes));
    fr->owner = calloc(f->events, sizeof(*fr->owner));
    fr->to = calloc(f->events, sizeof(*fr->to));
    fr->version = calloc(f->events, sizeof(*fr->version));
    fr->ack_ns = calloc(f->events, sizeof(*fr->ack_ns));
    fr->seen_ev = calloc(f->events, 1);
    fr->lat_ack = calloc(f->events, sizeof(*fr->lat_ack));
    if (!fr->codes || !fr->owner || !fr->to || !fr->version || !fr->ack_ns || !fr->seen_ev || !fr->lat_ack)
        hoso_bench_die("out of memory");
    size_t m = 0;
    for (unsigned round = 0; round < 16 && m < f->events; round++)
        for (unsigned long i = 0; i < f->subscribers && m < f->events; i++) {
            if (round >= ncand[i])
                continue;
            const cand *x = &cands[i * 16 + round];
            snprintf(fr->codes[m], sizeof(fr->codes[0]), "%s", x->code);
            fr->owner[m] = (long)i;
            fr->to[m] = x->to;
            fr->version[m] = x->version;
            m++;
        }
    if (m < f->events) {
        /* Earlier runs moved these citizens' dossiers on: they file new ones (status
         * 1, which the admin moves to 2), round robin, before the clock starts. */
        hoso_bench_conn fc = {.target = &fr->o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
        hoso_bench_service svc;
        msgpack_sbuffer body;
        msgpack_sbuffer_init(&body);
        hoso_bench_pick_service(&fc, fr->o->service, &svc);
        fprintf(stderr, "hoso-bench: only %zu dossiers of these citizens can still be moved; they file %lu more\n", m,
                f->events - m);
        next_progress = hoso_bench_now() + 1;
        for (unsigned long i = 0; m < f->events; i = (i + 1) % f->subscribers) {
            char op_id[80];
            snprintf(op_id, sizeof(op_id), "bench-topup-%u-%zu", hoso_bench_seed, m);
            hoso_bench_submit_body(&svc, op_id, &body);
            fr->version[m] =
                hoso_bench_must(&fc, "/v1/dossiers", fr->tokens[i], &body, fr->codes[m], sizeof(fr->codes[0]));
            fr->owner[m] = (long)i;
            fr->to[m] = 2;
            m++;
            if (hoso_bench_now() >= next_progress) {
                fprintf(stderr, "hoso-bench: filed %zu of %lu\n", m, f->events);
                next_progress += 1;
            }
        }
        msgpack_sbuffer_destroy(&body);
        msgpack_sbuffer_destroy(&svc.form);
        msgpack_sbuffer_destroy(&svc.papers);
        hoso_bench_conn_close(&fc);
        free(fc.in.p);
    }
    fr->ncodes = m;
    free(cands);
    free(ncand);
    hoso_bench_fan_index(fr);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    /* ahead of any head: nothing replayed, live from now (recovered: false) */
    hoso_bench_since_frame(&sb, 9007199254740991ull);
    memcpy(fr->sub_frame, sb.data, sb.size);
    fr->sub_len = sb.size;
    fr->sub_op = 2;
    msgpack_sbuffer_destroy(&sb);
}

/* Starts subscriber idx's connection (non-blocking, from 127.0.0.(1 + idx % sources)). */
static void hoso_bench_sub_open(hoso_bench_fanrun *fr, int ep, const hoso_bench_target *to, unsigned long idx)
{
    hoso_bench_sub *s = &fr->subs[idx];
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->fd < 0)
        hoso_bench_die("socket: %s (subscriber %lu)", strerror(errno), idx);
    if (to->loopback && fr->o->sources > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl((127u << 24) | (unsigned)(1 + idx % fr->o->sources));
        if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)) != 0)
            hoso_bench_die("bind 127.0.0.%lu: %s", 1 + idx % fr->o->sources, strerror(errno));
    }
    if (connect(s->fd, (const struct sockaddr *)&to->addr, sizeof(to->addr)) != 0 && errno != EINPROGRESS)
        hoso_bench_die("connect: %s (subscriber %lu)", strerror(errno), idx);
    s->state = FAN_CONNECTING;
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u64 = idx};
    epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &e);
}

/* One epoll event of subscriber idx: the connection completing (then the WebSocket
 * upgrade, or MQTT's CONNECT), or bytes to parse. upgrade/ul: the agency stream's
 * shared upgrade request. */
static void hoso_bench_sub_io(hoso_bench_fanrun *fr, int ep, unsigned long idx, uint32_t events, char *upgrade,
                              size_t upsz, int ul, size_t room)
{
    hoso_bench_sub *s = &fr->subs[idx];
    const hoso_bench_fan *f = fr->f;
    if (s->state == FAN_CONNECTING && (events & EPOLLOUT)) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = idx};
        epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e);
        if (err) {
            s->state = FAN_DEAD;
        } else if (f->mqtt) {
            char id[40];
            snprintf(id, sizeof(id), "hoso-bench-%u-%lu", hoso_bench_seed, idx);
            s->state = hoso_bench_mqtt_connect(s->fd, id) == 0 ? FAN_HANDSHAKE : FAN_DEAD; /* CONNACK next */
        } else {
            if (f->tokens) /* each citizen with its own token */
                ul = hoso_bench_ws_upgrade(upgrade, upsz, &fr->o->target, fr->tokens[idx]);
            s->state = send(s->fd, upgrade, (size_t)ul, MSG_NOSIGNAL) == ul ? FAN_HANDSHAKE : FAN_DEAD;
        }
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && s->state != FAN_DEAD && s->state != FAN_CONNECTING) {
        hoso_bench_sub_reserve(s, room);
        ssize_t r = recv(s->fd, s->buf + s->len, s->cap - s->len, 0);
        if (r > 0) {
            s->len += (size_t)r;
            hoso_bench_sub_parse(fr, s);
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
            s->state = FAN_DEAD;
        }
    }
}

static int hoso_bench_fanout(const hoso_bench_opts *o, const hoso_bench_fan *f)
{
    hoso_bench_fanrun fr = {.o = o, .f = f};
    struct rlimit rl;
    /* one descriptor per subscriber, and some to spare */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && f->subscribers + 64 > rl.rlim_cur)
        hoso_bench_die("--subscribers %lu needs %lu descriptors; this process may open %lu (ulimit -n)",
                       f->subscribers, f->subscribers + 64, (unsigned long)rl.rlim_cur);
    const hoso_bench_target *to = &o->target;
    if (f->mqtt) {
        char url[128];
        snprintf(url, sizeof(url), "http://%s", f->mqtt);
        hoso_bench_parse_url(url, &fr.mq);
        to = &fr.mq;
    } else if (f->tokens) {
        hoso_bench_conn c = {.target = &o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
        hoso_bench_staff_login(&c, f->officer, fr.token, sizeof(fr.token));
        if (f->submits)
            hoso_bench_pick_service(&c, o->service, &fr.svc);
        hoso_bench_conn_close(&c);
        free(c.in.p);
        hoso_bench_push_setup(&fr);
    } else {
        /* The dossiers to move, filed first: their creation is not part of the run. */
        hoso_bench_conn c = {.target = &o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
        hoso_bench_service svc;
        char citizen[256], msg[256];
        hoso_bench_pick_service(&c, o->service, &svc);
        snprintf(fr.agency, sizeof(fr.agency), "%s", svc.agency);
        if (hoso_bench_citizen_login(&c, 0, citizen, sizeof(citizen), msg, sizeof(msg)))
            hoso_bench_die("%s", msg);
        hoso_bench_staff_login(&c, f->officer, fr.token, sizeof(fr.token));
        if ((fr.codes = calloc(f->events, sizeof(*fr.codes))) == NULL)
            hoso_bench_die("out of memory");
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        for (unsigned long i = 0; i < f->events; i++) {
            char op_id[80];
            snprintf(op_id, sizeof(op_id), "bench-fan-%u-%lu", hoso_bench_seed, i);
            hoso_bench_submit_body(&svc, op_id, &sb);
            hoso_bench_must(&c, "/v1/dossiers", citizen, &sb, fr.codes[i], sizeof(fr.codes[i]));
        }
        fr.ncodes = f->events;
        hoso_bench_fan_index(&fr);
        if (f->json) {
            fr.sub_len = (size_t)snprintf(fr.sub_frame, sizeof(fr.sub_frame), "{\"type\":\"subscribe\",\"agency\":\"%s\"}",
                                          fr.agency);
            fr.sub_op = 1;
        } else {
            msgpack_sbuffer_clear(&sb);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_map(&pk, 2);
            hoso_pack_cstr(&pk, "type");
            hoso_pack_cstr(&pk, "subscribe");
            hoso_pack_cstr(&pk, "agency");
            hoso_pack_cstr(&pk, fr.agency);
            if (sb.size > sizeof(fr.sub_frame))
                hoso_bench_die("agency code too long");
            memcpy(fr.sub_frame, sb.data, sb.size);
            fr.sub_len = sb.size;
            fr.sub_op = 2;
        }
        msgpack_sbuffer_destroy(&sb);
        msgpack_sbuffer_destroy(&svc.form);
        msgpack_sbuffer_destroy(&svc.papers);
        hoso_bench_conn_close(&c);
        free(c.in.p);
    }
    fr.due_ns = calloc(f->events, sizeof(*fr.due_ns));
    hoso_bench_sub *subs = calloc(f->subscribers, sizeof(*subs));
    /* one byte per subscriber and event (push: per event, each has one receiver) */
    uint8_t *seen = f->tokens ? NULL : calloc(f->subscribers, f->events);
    if (!fr.due_ns || !subs || (!seen && !f->tokens))
        hoso_bench_die("out of memory");
    fr.subs = subs;
    fr.t0 = hoso_bench_now();
    long rss0 = f->pid ? hoso_bench_rss_kib(f->pid) : -1;

    /* Connect everyone, at most 256 handshakes in flight. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        hoso_bench_die("epoll_create1: %s", strerror(errno));
    char upgrade[512];
    int ul = hoso_bench_ws_upgrade(upgrade, sizeof(upgrade), &o->target, fr.token);
    unsigned long opened = 0, ready = 0, dead = 0, pending = 0;
    double t_connect = hoso_bench_now(), deadline = t_connect + 60 + (double)f->subscribers / 200;
    struct epoll_event evs[256];
    double next_progress = t_connect + 1;
    while (ready + dead < f->subscribers && hoso_bench_now() < deadline) {
        while (opened < f->subscribers && pending < 256) {
            hoso_bench_sub *s = &subs[opened];
            s->seen = seen ? seen + opened * f->events : NULL;
            s->last_seq = -1;
            hoso_bench_sub_open(&fr, ep, to, opened);
            opened++;
            pending++;
        }
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            hoso_bench_sub *s = &subs[evs[i].data.u64];
            int was = s->state;
            hoso_bench_sub_io(&fr, ep, (unsigned long)evs[i].data.u64, evs[i].events, upgrade, sizeof(upgrade), ul, 4096);
            if (s->state == FAN_READY && was != FAN_READY) {
                ready++;
                pending--;
                /* idle from now on: the buffer goes, as a phone keeps little */
                free(s->buf);
                s->buf = NULL;
                s->len = s->cap = 0;
            } else if (s->state == FAN_DEAD && was != FAN_DEAD) {
                dead++;
                if (was != FAN_READY)
                    pending--;
            }
        }
        if (hoso_bench_now() >= next_progress) {
            fprintf(stderr, "hoso-bench: %lu of %lu subscribed, %lu failed\n", ready, f->subscribers, dead);
            next_progress += 1;
        }
    }
    double connect_s = hoso_bench_now() - t_connect;
    if (ready == 0)
        hoso_bench_die("no subscriber got through (%lu failed)", dead);

    /* Idle, subscribed: what does each one hold on the server? */
    double settle_end = hoso_bench_now() + (double)f->settle_ms / 1e3;
    while (hoso_bench_now() < settle_end) {
        int n = epoll_wait(ep, evs, 256, 50);
        for (int i = 0; i < n; i++) {
            hoso_bench_sub *s = &subs[evs[i].data.u64];
            if (s->state == FAN_DEAD)
                continue;
            hoso_bench_sub_reserve(s, 4096);
            ssize_t r = recv(s->fd, s->buf + s->len, s->cap - s->len, 0);
            if (r > 0) {
                s->len += (size_t)r;
                hoso_bench_sub_parse(&fr, s);
            }
        }
    }
    long rss1 = f->pid ? hoso_bench_rss_kib(f->pid) : -1;

    /* The events. */
    fr.t0 = fr.t0; /* due times are relative to the origin taken above */
    /* the server's push histogram before the events: the run's share is the difference */
    hoso_bench_histo srv_before;
    memset(&srv_before, 0, sizeof(srv_before));
    if (!f->mqtt)
        hoso_bench_read_histo(&o->target, &srv_before);
    pthread_t movers[HOSO_BENCH_PUSH_MOVERS];
    unsigned nmovers = f->tokens ? HOSO_BENCH_PUSH_MOVERS : 1;
    unsigned long expected = ready * f->events;
    double run_s = (double)f->events * (double)f->pace_ms / 1e3;
    if (f->tokens) {
        /* a move to a subscriber that did not get through is not expected */
        expected = 0;
        for (size_t k = 0; k < fr.ncodes; k++)
            expected += subs[fr.owner[k]].state == FAN_READY;
        run_s = (double)f->events / (double)f->rate;
        fr.first_due = hoso_bench_now() + 0.05;
        atomic_store(&fr.movers_left, (int)nmovers);
    }
    for (unsigned k = 0; k < nmovers; k++) {
        int r = pthread_create(&movers[k], NULL, f->tokens ? hoso_bench_push_mover : hoso_bench_fan_mover, &fr);
        if (r)
            hoso_bench_die("pthread_create: %s", strerror(r));
    }
    hoso_bench_side sides[2 * HOSO_BENCH_SIDE_MAX];
    size_t nsides = 0;
    fr.run_s = run_s;
    for (int submit = 0; f->tokens && submit < 2; submit++) {
        unsigned long rate = submit ? f->submits : f->reads;
        if (rate == 0)
            continue;
        for (unsigned k = 0; k < hoso_bench_side_threads(rate, submit); k++) {
            sides[nsides] = (hoso_bench_side){.fr = &fr, .submit = submit};
            int r = pthread_create(&sides[nsides].thread, NULL, hoso_bench_side_main, &sides[nsides]);
            if (r)
                hoso_bench_die("pthread_create: %s", strerror(r));
            nsides++;
        }
    }
    double quiet_since = 0, hard = hoso_bench_now() + run_s + 120;
    /* push --drops: halfway through the moves, that many subscribers lose their
     * connection at once and come back (at most 256 handshakes at a time), each
     * subscribing from the last seq it got. */
    double storm_at = fr.first_due + run_s / 2, storm_done = 0;
    unsigned long *queue = NULL, nqueue = 0, qhead = 0, rpending = 0;
    int stormed = !(f->tokens && f->drops);
    while (hoso_bench_now() < hard) {
        if (!stormed && hoso_bench_now() >= storm_at) {
            stormed = 1;
            if ((queue = calloc(f->subscribers, sizeof(*queue))) == NULL)
                hoso_bench_die("out of memory");
            for (unsigned long k = 0; k < f->subscribers && nqueue < f->drops; k++) {
                if (subs[k].state != FAN_READY)
                    continue;
                close(subs[k].fd); /* leaves the epoll set with it */
                subs[k].fd = -1;
                subs[k].len = 0;
                subs[k].state = FAN_CONNECTING;
                queue[nqueue++] = k;
            }
            fr.reconnects = nqueue;
            fprintf(stderr, "hoso-bench: dropped %lu subscribers at once\n", nqueue);
        }
        while (qhead < nqueue && rpending < 256) {
            hoso_bench_sub_open(&fr, ep, to, queue[qhead++]);
            rpending++;
        }
        int n = epoll_wait(ep, evs, 256, 20);
        for (int i = 0; i < n; i++) {
            hoso_bench_sub *s = &subs[evs[i].data.u64];
            int was = s->state;
            if (s->state == FAN_DEAD)
                continue;
            hoso_bench_sub_io(&fr, ep, (unsigned long)evs[i].data.u64, evs[i].events, upgrade, sizeof(upgrade), ul,
                              16384);
            if (s->state == FAN_READY && was != FAN_READY) {
                rpending--; /* back after the drop */
                if (qhead == nqueue && rpending == 0 && nqueue > 0)
                    storm_done = hoso_bench_now();
            } else if (s->state == FAN_DEAD && was != FAN_DEAD) {
                dead++;
                if (was != FAN_READY)
                    rpending--;
            }
        }
        int settled = stormed && qhead == nqueue && rpending == 0;
        if (fr.nlat >= expected && atomic_load(&fr.mover_done) && settled)
            break;
        /* everything moved and nothing arrived for 3 s: what is missing stays missing */
        if (atomic_load(&fr.mover_done) && settled) {
            if (n > 0 || quiet_since == 0)
                quiet_since = hoso_bench_now();
            else if (hoso_bench_now() - quiet_since > 3)
                break;
        }
    }
    for (unsigned k = 0; k < nmovers; k++)
        pthread_join(movers[k], NULL);
    for (size_t k = 0; k < nsides; k++)
        pthread_join(sides[k].thread, NULL);
    fr.moves_failed += atomic_load(&fr.push_failed);

    qsort(fr.lat, fr.nlat, sizeof(*fr.lat), hoso_bench_cmp_double);
    double span = fr.last_rx - fr.first_due;
    double rate = span > 0 ? (double)fr.nlat / span : 0;
    double p50 = hoso_bench_pct(fr.lat, fr.nlat, 50) * 1e3, p90 = hoso_bench_pct(fr.lat, fr.nlat, 90) * 1e3,
           p99 = hoso_bench_pct(fr.lat, fr.nlat, 99) * 1e3, p999 = hoso_bench_pct(fr.lat, fr.nlat, 99.9) * 1e3,
           pmax = fr.nlat ? fr.lat[fr.nlat - 1] * 1e3 : 0;
    double per_conn = rss0 >= 0 && rss1 >= 0 ? (double)(rss1 - rss0) / (double)ready : -1;
    unsigned long missing = expected > fr.nlat ? expected - fr.nlat : 0;
    printf("%s: %lu of %lu subscribers ready in %.1f s (%lu failed)\n", f->mqtt ? "mqtt" : "hosod", ready,
           f->subscribers, connect_s, dead);
    if (per_conn >= 0)
        printf("server RSS %ld KiB before, %ld KiB with %lu idle subscribers: %.2f KiB each\n", rss0, rss1, ready,
               per_conn);
    if (f->tokens)
        printf("%lu moves at %lu/s, each to its citizen's own feed: ", f->events, f->rate);
    else
        printf("%lu events at %lu ms pace, ", f->events, f->pace_ms);
    printf("%lu deliveries of %lu (%lu missing, %lu duplicate, %lu failed moves) in %.2f s = %.0f deliveries/s\n",
           fr.nlat, expected, missing, fr.dup, fr.moves_failed, span, rate);
    printf("latency from the event's scheduled time: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
           p50, p90, p99, p999, pmax);
    double a50 = 0, a99 = 0, a999 = 0, amax = 0, move_p50 = 0, move_p99 = 0;
    double read_p50 = 0, read_p99 = 0, sub_p50 = 0, sub_p99 = 0;
    unsigned long reads_ok = 0, reads_err = 0, subs_ok = 0, subs_err = 0;
    char srv_push[3][16];
    double srv_n = 0;
    hoso_bench_histo srv_after;
    if (f->tokens) {
        qsort(fr.lat_ack, fr.nlat_ack, sizeof(*fr.lat_ack), hoso_bench_cmp_double);
        a50 = hoso_bench_pct(fr.lat_ack, fr.nlat_ack, 50) * 1e3;
        a99 = hoso_bench_pct(fr.lat_ack, fr.nlat_ack, 99) * 1e3;
        a999 = hoso_bench_pct(fr.lat_ack, fr.nlat_ack, 99.9) * 1e3;
        amax = fr.nlat_ack ? fr.lat_ack[fr.nlat_ack - 1] * 1e3 : 0;
        printf("latency from the move's 200 (its commit): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms; "
               "%lu on the wrong feed\n",
               a50, a99, a999, amax, fr.bad);
        printf("feeds: %lu seq gaps, %lu seq duplicates; %lu dropped and resumed (all back %.2f s after the drop), "
               "%lu not recovered\n",
               fr.seq_gaps, fr.seq_dups, fr.reconnects, storm_done > 0 ? storm_done - storm_at : 0.0,
               fr.not_recovered);
        /* each move from its scheduled send to its 200 */
        size_t nm = 0;
        for (size_t k = 0; k < fr.ncodes; k++) {
            uint64_t due = atomic_load(&fr.due_ns[k]), ack = atomic_load(&fr.ack_ns[k]);
            if (due && ack)
                fr.lat_ack[nm++] = ack > due ? (double)(ack - due) / 1e9 : 0; /* deliveries' copy was sorted above */
        }
        qsort(fr.lat_ack, nm, sizeof(*fr.lat_ack), hoso_bench_cmp_double);
        move_p50 = hoso_bench_pct(fr.lat_ack, nm, 50) * 1e3;
        move_p99 = hoso_bench_pct(fr.lat_ack, nm, 99) * 1e3;
        printf("moves: %zu answered 200, from the scheduled send: p50 %.2f ms, p99 %.2f ms\n", nm, move_p50, move_p99);
        const char *side_err = NULL;
        if (f->reads) {
            hoso_bench_side_sum(sides, nsides, 0, &reads_ok, &reads_err, &read_p50, &read_p99, &side_err);
            printf("reads: %lu ok, %lu errors at %lu/s, from the scheduled send: p50 %.2f ms, p99 %.2f ms\n",
                   reads_ok, reads_err, f->reads, read_p50, read_p99);
        }
        if (f->submits) {
            hoso_bench_side_sum(sides, nsides, 1, &subs_ok, &subs_err, &sub_p50, &sub_p99, &side_err);
            printf("submissions: %lu ok, %lu errors at %lu/s, from the scheduled send: p50 %.2f ms, p99 %.2f ms\n",
                   subs_ok, subs_err, f->submits, sub_p50, sub_p99);
        }
        if (side_err)
            printf("first error of the reads or submissions: %s\n", side_err);
    }
    memset(&srv_after, 0, sizeof(srv_after));
    if (!f->mqtt)
        hoso_bench_read_histo(&o->target, &srv_after);
    srv_n = hoso_bench_histo_pct(&srv_before, &srv_after, 50, srv_push[0], sizeof(srv_push[0]));
    hoso_bench_histo_pct(&srv_before, &srv_after, 99, srv_push[1], sizeof(srv_push[1]));
    hoso_bench_histo_pct(&srv_before, &srv_after, 99.9, srv_push[2], sizeof(srv_push[2]));
    if (srv_n > 0)
        printf("server, from each event's commit to its frame handed to the socket (hoso_ws_push_delay_seconds, "
               "%.0f deliveries): p50 <= %s ms, p99 <= %s ms, p99.9 <= %s ms\n",
               srv_n, srv_push[0], srv_push[1], srv_push[2]);
    printf("RESULT subscribers=%lu ready=%lu events=%lu deliveries=%lu missing=%lu duplicates=%lu moves_failed=%lu "
           "seconds=%.2f rate=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f rss_kib_per_conn=%.2f "
           "connect_s=%.1f event_bytes=%zu ack_p50_ms=%.2f ack_p99_ms=%.2f ack_p999_ms=%.2f ack_max_ms=%.2f wrong_feed=%lu "
           "reconnects=%lu back_s=%.2f seq_gaps=%lu seq_dups=%lu not_recovered=%lu move_p50_ms=%.2f move_p99_ms=%.2f "
           "reads_ok=%lu reads_err=%lu read_p50_ms=%.2f read_p99_ms=%.2f submits_ok=%lu submits_err=%lu "
           "submit_p50_ms=%.2f submit_p99_ms=%.2f srv_push_p50_ms=%s srv_push_p99_ms=%s srv_push_p999_ms=%s\n",
           f->subscribers, ready, f->events, fr.nlat, missing, fr.dup, fr.moves_failed, span, rate, p50, p90, p99,
           p999, pmax, per_conn, connect_s, fr.sample_len, a50, a99, a999, amax, fr.bad, fr.reconnects,
           storm_done > 0 ? storm_done - storm_at : 0.0, fr.seq_gaps, fr.seq_dups, fr.not_recovered, move_p50,
           move_p99, reads_ok, reads_err, read_p50, read_p99, subs_ok, subs_err, sub_p50, sub_p99, srv_push[0],
           srv_push[1], srv_push[2]);
    for (unsigned long i = 0; i < f->subscribers; i++) {
        if (subs[i].fd > 0)
            close(subs[i].fd);
        free(subs[i].buf);
    }
    close(ep);
    free(subs);
    free(seen);
    free(fr.lat);
    free(fr.codes);
    free(fr.slot);
    free((void *)fr.due_ns);
    free(fr.tokens);
    free(fr.owner);
    free(fr.to);
    free(fr.version);
    free((void *)fr.ack_ns);
    free(fr.seen_ev);
    free(fr.lat_ack);
    free(queue);
    for (size_t k = 0; k < nsides; k++)
        free(sides[k].lat);
    if (fr.svc.form.data != NULL) {
        msgpack_sbuffer_destroy(&fr.svc.form);
        msgpack_sbuffer_destroy(&fr.svc.papers);
    }
    return missing == 0 && fr.dup == 0 && fr.bad == 0 && fr.moves_failed == 0 && dead == 0 && fr.seq_gaps == 0 &&
                   fr.seq_dups == 0 && fr.not_recovered == 0 && qhead == nqueue && rpending == 0
               ? 0
               : 1;
}

/* Prints a port that was free on host a moment ago (bind to port 0, then release). */
/* ---------------------------------------------------------------------------------- */
/* Catch-up: a citizen whose app was away while --events events reached its feed comes
 * back and reads them all, once over WebSocket (subscribe since 0: the replay, then
 * live) and once over HTTP (GET /v1/sync pages of 1000). Each path must deliver every
 * seq from 1 to the feed's head exactly once and in order; the rate is events per
 * second from the request to the last event. The feed is filled by --clients
 * connections submitting dossiers as that citizen (one dossier.created each); hosod
 * must keep at least --events entries per citizen (--feed-max-events). */

typedef struct hoso_bench_filler {
    pthread_t thread;
    const hoso_bench_opts *o;
    const hoso_bench_service *svc;
    const char *token;
    unsigned long from, to; /* op numbers of this filler */
    _Atomic unsigned long *done;
} hoso_bench_filler;

static void *hoso_bench_fill_main(void *arg)
{
    hoso_bench_filler *f = arg;
    hoso_bench_conn c = {.target = &f->o->target, .fd = -1};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (unsigned long i = f->from; i < f->to; i++) {
        char op_id[80];
        snprintf(op_id, sizeof(op_id), "bench-catchup-%u-%lu", hoso_bench_seed, i);
        msgpack_sbuffer_clear(&sb);
        hoso_bench_submit_body(f->svc, op_id, &sb);
        hoso_bench_must(&c, "/v1/dossiers", f->token, &sb, NULL, 0);
        atomic_fetch_add(f->done, 1);
    }
    msgpack_sbuffer_destroy(&sb);
    hoso_bench_conn_close(&c);
    free(c.in.p);
    return NULL;
}

/* Checks that seq is the next one expected; counts what is not. */
static void hoso_bench_catchup_seq(long long seq, long long *last, unsigned long *gaps, unsigned long *dups)
{
    if (seq <= *last)
        (*dups)++;
    else if (seq != *last + 1)
        (*gaps)++;
    if (seq > *last)
        *last = seq;
}

/* Reads one WebSocket frame from c (answering pings); returns its opcode, with the
 * payload in *pl / *n (valid until the next call), or < 0. */
static int hoso_bench_ws_frame(hoso_bench_conn *c, size_t *consumed, const unsigned char **pl, size_t *n)
{
    if (*consumed) {
        hoso_bench_consume(c, *consumed);
        *consumed = 0;
    }
    for (;;) {
        const unsigned char *p = (const unsigned char *)c->in.p;
        size_t avail = c->in.len, hl = 2, len;
        if (avail >= 2) {
            len = p[1] & 0x7f;
            if (len == 126 && avail >= 4) {
                len = ((size_t)p[2] << 8) | p[3];
                hl = 4;
            } else if (len == 127 && avail >= 10) {
                len = 0;
                for (int i = 0; i < 8; i++)
                    len = (len << 8) | p[2 + i];
                hl = 10;
            } else if (len >= 126) {
                goto More;
            }
            if (avail >= hl + len) {
                int op = p[0] & 0x0f;
                if (op == 9) {
                    if (hoso_bench_ws_send(c->fd, 10, p + hl, len < 125 ? len : 0) != 0)
                        return -EIO;
                    hoso_bench_consume(c, hl + len);
                    continue;
                }
                *pl = p + hl;
                *n = len;
                *consumed = hl + len;
                return op;
            }
        }
    More:;
        int r = hoso_bench_fill(c);
        if (r)
            return r;
    }
}

static long long hoso_bench_int_of(const msgpack_object *o)
{
    if (o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (long long)o->via.u64;
    return -1;
}

static int hoso_bench_catchup(const hoso_bench_opts *o, unsigned long events)
{
    hoso_bench_conn c = {.target = &o->target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
    hoso_bench_service svc;
    char token[256], msg[256];
    hoso_bench_pick_service(&c, o->service, &svc);
    if (hoso_bench_citizen_login(&c, 0, token, sizeof(token), msg, sizeof(msg)))
        hoso_bench_die("%s", msg);

    /* Fill the feed. */
    unsigned nfill = o->clients < 16 ? o->clients : 16;
    _Atomic unsigned long done = 0;
    hoso_bench_filler fills[16];
    double t0 = hoso_bench_now();
    for (unsigned i = 0; i < nfill; i++) {
        fills[i] = (hoso_bench_filler){.o = o, .svc = &svc, .token = token, .done = &done,
                                     .from = events * i / nfill, .to = events * (i + 1) / nfill};
        if (pthread_create(&fills[i].thread, NULL, hoso_bench_fill_main, &fills[i]) != 0)
            hoso_bench_die("pthread_create failed");
    }
    for (;;) {
        unsigned long d = atomic_load(&done);
        if (d >= events)
            break;
        fprintf(stderr, "catchup: filling the feed: %lu/%lu events\n", d, events);
        usleep(1000 * 1000);
    }
    for (unsigned i = 0; i < nfill; i++)
        pthread_join(fills[i].thread, NULL);
    fprintf(stderr, "catchup: %lu events in the feed in %.1f s\n", events, hoso_bench_now() - t0);

    /* 1. WebSocket: subscribe since 0. */
    char req[768];
    int rl = hoso_bench_ws_upgrade(req, sizeof(req), &o->target, token);
    hoso_bench_conn ws = {.target = &o->target, .fd = -1};
    int r;
    if ((r = hoso_bench_conn_open(&ws)) != 0 || (r = hoso_bench_send_all(ws.fd, req, (size_t)rl)) != 0)
        hoso_bench_die("WebSocket connect: %s", strerror(-r));
    char *end;
    while ((end = memmem(ws.in.p ? ws.in.p : "", ws.in.len, "\r\n\r\n", 4)) == NULL)
        if ((r = hoso_bench_fill(&ws)) != 0)
            hoso_bench_die("WebSocket handshake: %s", strerror(-r));
    if (ws.in.len < 12 || memcmp(ws.in.p, "HTTP/1.1 101", 12) != 0)
        hoso_bench_die("WebSocket handshake refused: %.40s", ws.in.p);
    hoso_bench_consume(&ws, (size_t)(end - ws.in.p) + 4);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hoso_bench_since_frame(&sb, 0);
    double ws_t0 = hoso_bench_now(), ws_first = 0;
    if (hoso_bench_ws_send(ws.fd, 2, sb.data, sb.size) != 0)
        hoso_bench_die("WebSocket subscribe: send failed");
    long long head = -1, last = 0;
    unsigned long ws_events = 0, ws_gaps = 0, ws_dups = 0;
    size_t consumed = 0, ws_bytes = 0;
    while (head < 0 || last < head) {
        const unsigned char *pl = NULL;
        size_t n = 0;
        int op = hoso_bench_ws_frame(&ws, &consumed, &pl, &n);
        if (op < 0)
            hoso_bench_die("WebSocket: %s after %lu events", strerror(-op), ws_events);
        if (op == 8)
            hoso_bench_die("WebSocket closed by the server after %lu events: %.*s", ws_events,
                           n > 2 ? (int)(n - 2) : 0, n > 2 ? (const char *)pl + 2 : "");
        if (op != 1 && op != 2)
            continue;
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, (const char *)pl, n, NULL) != MSGPACK_UNPACK_SUCCESS)
            hoso_bench_die("WebSocket: a frame that is not msgpack");
        char type[32] = "";
        hoso_bench_str(hoso_bench_get(&u.data, "type"), type, sizeof(type));
        if (strcmp(type, "subscribed") == 0) {
            head = hoso_bench_int_of(hoso_bench_get(&u.data, "head"));
            const msgpack_object *rec = hoso_bench_get(&u.data, "recovered");
            if (head < (long long)events || rec == NULL || rec->type != MSGPACK_OBJECT_BOOLEAN || !rec->via.boolean)
                hoso_bench_die("subscribe since 0: head %lld, not recovered (is --feed-max-events >= %lu?)", head,
                               events);
        } else if (strcmp(type, "event") == 0) {
            if (ws_events++ == 0)
                ws_first = hoso_bench_now();
            ws_bytes += n;
            hoso_bench_catchup_seq(hoso_bench_int_of(hoso_bench_get(&u.data, "seq")), &last, &ws_gaps, &ws_dups);
        } else {
            hoso_bench_die("WebSocket: unexpected %s frame", type[0] ? type : "untyped");
        }
        msgpack_unpacked_destroy(&u);
    }
    double ws_s = hoso_bench_now() - ws_t0;
    hoso_bench_conn_close(&ws);
    free(ws.in.p);

    /* 2. HTTP: GET /v1/sync, 1000 at a time. */
    hoso_bench_resp resp = {0};
    char path[160], epoch[80] = "";
    if ((r = hoso_bench_http(&c, "GET", "/healthz", NULL, NULL, 0, &resp)) != 0 || resp.status != 200)
        hoso_bench_die("GET /healthz failed");
    msgpack_unpacked u;
    if (hoso_bench_unpack(&u, &resp.body) != 0 || hoso_bench_str(hoso_bench_get(&u.data, "epoch"), epoch, sizeof(epoch)))
        hoso_bench_die("GET /healthz: no epoch");
    msgpack_unpacked_destroy(&u);
    long long since = 0, sync_last = 0;
    unsigned long sync_events = 0, sync_gaps = 0, sync_dups = 0, pages = 0;
    double sync_t0 = hoso_bench_now();
    while (since < head) {
        snprintf(path, sizeof(path), "/v1/sync?since=%lld&limit=1000&epoch=%s", since, epoch);
        if ((r = hoso_bench_http(&c, "GET", path, token, NULL, 0, &resp)) != 0)
            hoso_bench_die("GET /v1/sync: %s", strerror(-r));
        if (resp.status != 200) {
            char d[200];
            hoso_bench_describe(&resp, d, sizeof(d));
            hoso_bench_die("GET %s: %s", path, d);
        }
        if (hoso_bench_unpack(&u, &resp.body) != 0)
            hoso_bench_die("GET /v1/sync: reply is not msgpack");
        const msgpack_object *evs = hoso_bench_get(&u.data, "events");
        if (evs == NULL || evs->type != MSGPACK_OBJECT_ARRAY || evs->via.array.size == 0)
            hoso_bench_die("GET /v1/sync: no events after %lld of %lld", since, head);
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            hoso_bench_catchup_seq(hoso_bench_int_of(hoso_bench_get(&evs->via.array.ptr[i], "seq")), &sync_last,
                                   &sync_gaps, &sync_dups);
            sync_events++;
        }
        since = hoso_bench_int_of(hoso_bench_get(&u.data, "next"));
        pages++;
        msgpack_unpacked_destroy(&u);
    }
    double sync_s = hoso_bench_now() - sync_t0;
    free(resp.body.p);

    printf("catchup: %lld events in the feed\n", head);
    printf("websocket: %lu events in %.3f s (%.0f events/s, %.1f MB/s), first after %.2f ms, %lu gaps, %lu duplicates\n",
           ws_events, ws_s, (double)ws_events / ws_s, (double)ws_bytes / ws_s / 1e6, (ws_first - ws_t0) * 1e3,
           ws_gaps, ws_dups);
    printf("sync: %lu events in %lu pages in %.3f s (%.0f events/s), %lu gaps, %lu duplicates\n", sync_events, pages,
           sync_s, (double)sync_events / sync_s, sync_gaps, sync_dups);
    printf("RESULT events=%lld ws_events=%lu ws_seconds=%.3f ws_rate=%.0f ws_first_ms=%.2f ws_gaps=%lu ws_dups=%lu "
           "sync_events=%lu sync_seconds=%.3f sync_rate=%.0f sync_gaps=%lu sync_dups=%lu\n",
           head, ws_events, ws_s, (double)ws_events / ws_s, (ws_first - ws_t0) * 1e3, ws_gaps, ws_dups, sync_events,
           sync_s, (double)sync_events / sync_s, sync_gaps, sync_dups);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&svc.form);
    msgpack_sbuffer_destroy(&svc.papers);
    hoso_bench_conn_close(&c);
    free(c.in.p);
    return ws_gaps || ws_dups || sync_gaps || sync_dups || ws_events != (unsigned long)head ||
                   sync_events != (unsigned long)head
               ? 1
               : 0;
}

static int hoso_bench_port(const char *host)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        hoso_bench_die("not a numeric IPv4 address: %s", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        hoso_bench_die("cannot bind %s: %s", host, strerror(errno));
    printf("%u\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

static void hoso_bench_usage(void)
{
    fputs("usage: hoso-bench port [HOST]\n"
          "       hoso-bench setup --url http://HOST:PORT [--service CODE]\n"
          "       hoso-bench submit --url http://HOST:PORT [--clients 64] [--duration 10] [--requests N]\n"
          "                         [--max-total 9000] [--sources 8] [--service CODE] [--rate N (open loop)]\n"
          "       hoso-bench read --url http://HOST:PORT --path /PATH --token TOKEN [--clients 32] [--duration 10]\n"
          "                         [--rate N (open loop)] [--sources 8]\n"
          "       hoso-bench transition --url http://HOST:PORT --officer USER:PASS [--clients 64] [--duration 10]\n"
          "                         [--max-total 9000 (moves)] [--service CODE] [--rate N (open loop)]\n"
          "       hoso-bench moves --url http://HOST:PORT --officer USER:PASS [--count 200] [--pace-ms 20]\n"
          "       hoso-bench upload --url http://HOST:PORT [--clients 8] [--size BYTES] [--piece BYTES]\n"
          "                         [--raw-path /PATH (PUT each piece there instead of tus)] [--cpu-pid PID]\n"
          "                         [--bot USER:PASS --callback URL] [--service CODE]\n"
          "       hoso-bench fanout --url http://HOST:PORT --officer USER:PASS [--subscribers 1000]\n"
          "                         [--events 200] [--pace-ms 5] [--pid PID] [--settle-ms 2000] [--sources 8]\n"
          "                         [--frames msgpack|json]\n"
          "       hoso-bench fanout --mqtt HOST:PORT [--payload BYTES] (the same, against an MQTT broker)\n"
          "       hoso-bench catchup --url http://HOST:PORT [--events 10000] [--clients 8] [--service CODE]\n"
          "       hoso-bench push --url http://HOST:PORT --admin USER:PASS --tokens FILE [--subscribers 10000]\n"
          "                       [--events 10000] [--rate 1000] [--sources 16] [--drops N]\n"
          "                       [--reads R --submits S (a day's mix: GETs and submissions per second)]\n",
          stderr);
    exit(2);
}

static unsigned long hoso_bench_num(const char *opt, const char *v, unsigned long min, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || n < min || n > max)
        hoso_bench_die("%s must be a number in %lu..%lu, got %s", opt, min, max, v);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        hoso_bench_usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "port") == 0)
        return hoso_bench_port(argc > 2 ? argv[2] : "127.0.0.1");
    if (strcmp(cmd, "setup") != 0 && strcmp(cmd, "submit") != 0 && strcmp(cmd, "moves") != 0 &&
        strcmp(cmd, "upload") != 0 && strcmp(cmd, "fanout") != 0 && strcmp(cmd, "catchup") != 0 &&
        strcmp(cmd, "push") != 0 && strcmp(cmd, "transition") != 0 && strcmp(cmd, "read") != 0)
        hoso_bench_usage();

    /* A bounded default total keeps every run short and every row comparable. */
    hoso_bench_opts o = {.clients = 64, .sources = 8, .duration = 10, .max_total = 9000};
    hoso_bench_moves m = {.count = 200, .pace_ms = 20};
    hoso_bench_up up = {.size = 10u << 20, .piece = 1u << 20};
    hoso_bench_fan fan = {.subscribers = 1000, .events = 200, .pace_ms = 5, .settle_ms = 2000, .payload = 1000};
    const char *url = NULL;
    int events_given = 0, clients_given = 0, subscribers_given = 0, sources_given = 0, max_total_given = 0;
    /* every option takes a value: they come in pairs */
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            hoso_bench_usage();
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--clients") == 0)
            o.clients = (unsigned)hoso_bench_num(a, v, 1, HOSO_BENCH_MAX_CLIENTS), clients_given = 1;
        else if (strcmp(a, "--duration") == 0)
            o.duration = (double)hoso_bench_num(a, v, 1, 600);
        else if (strcmp(a, "--requests") == 0)
            o.requests = hoso_bench_num(a, v, 0, 100000000);
        else if (strcmp(a, "--max-total") == 0)
            o.max_total = hoso_bench_num(a, v, 0, 100000000), max_total_given = 1;
        else if (strcmp(a, "--path") == 0 && v[0] == '/')
            o.read_path = v;
        else if (strcmp(a, "--token") == 0)
            o.read_token = v;
        else if (strcmp(a, "--sources") == 0)
            o.sources = (unsigned)hoso_bench_num(a, v, 1, HOSO_BENCH_MAX_SOURCES), sources_given = 1;
        else if (strcmp(a, "--service") == 0)
            o.service = v;
        else if (strcmp(a, "--officer") == 0 || strcmp(a, "--admin") == 0)
            m.officer = v;
        else if (strcmp(a, "--tokens") == 0)
            fan.tokens = v;
        else if (strcmp(a, "--rate") == 0)
            fan.rate = hoso_bench_num(a, v, 1, 100000), o.rate = (double)fan.rate;
        else if (strcmp(a, "--drops") == 0)
            fan.drops = hoso_bench_num(a, v, 0, 1000000);
        else if (strcmp(a, "--reads") == 0)
            fan.reads = hoso_bench_num(a, v, 0, 1000000);
        else if (strcmp(a, "--submits") == 0)
            fan.submits = hoso_bench_num(a, v, 0, 100000);
        else if (strcmp(a, "--bot") == 0)
            m.bot = v;
        else if (strcmp(a, "--callback") == 0)
            m.callback = v;
        else if (strcmp(a, "--count") == 0)
            m.count = hoso_bench_num(a, v, 1, 100000);
        else if (strcmp(a, "--pace-ms") == 0)
            m.pace_ms = fan.pace_ms = hoso_bench_num(a, v, 0, 10000);
        else if (strcmp(a, "--size") == 0)
            up.size = hoso_bench_num(a, v, 16, 1ul << 32);
        else if (strcmp(a, "--piece") == 0)
            up.piece = hoso_bench_num(a, v, 16, 64ul << 20);
        else if (strcmp(a, "--raw-path") == 0)
            up.raw = v;
        else if (strcmp(a, "--cpu-pid") == 0)
            up.cpu_pid = hoso_bench_num(a, v, 1, 1ul << 30);
        else if (strcmp(a, "--subscribers") == 0)
            fan.subscribers = hoso_bench_num(a, v, 1, 1000000), subscribers_given = 1;
        else if (strcmp(a, "--events") == 0)
            fan.events = hoso_bench_num(a, v, 1, 1000000), events_given = 1;
        else if (strcmp(a, "--pid") == 0)
            fan.pid = hoso_bench_num(a, v, 1, 1ul << 30);
        else if (strcmp(a, "--settle-ms") == 0)
            fan.settle_ms = hoso_bench_num(a, v, 0, 600000);
        else if (strcmp(a, "--payload") == 0)
            fan.payload = hoso_bench_num(a, v, 8, 1ul << 20);
        else if (strcmp(a, "--mqtt") == 0)
            fan.mqtt = v;
        else if (strcmp(a, "--frames") == 0 && (strcmp(v, "json") == 0 || strcmp(v, "msgpack") == 0))
            fan.json = strcmp(v, "json") == 0;
        else
            hoso_bench_usage();
    }
    if (strcmp(cmd, "catchup") == 0 && !clients_given)
        o.clients = 8; /* connections filling the feed */
    if (strcmp(cmd, "fanout") == 0 && fan.mqtt != NULL && url == NULL)
        url = "http://127.0.0.1:1"; /* unused: the broker is --mqtt */
    if (url == NULL)
        hoso_bench_usage();
    hoso_bench_parse_url(url, &o.target);
    /* a random base keeps citizen ids and op_ids of one run apart from earlier runs */
    if (getrandom(&hoso_bench_seed, sizeof(hoso_bench_seed), 0) != sizeof(hoso_bench_seed))
        hoso_bench_seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    hoso_bench_seed %= 1000000u;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(cmd, "upload") == 0)
        return hoso_bench_upload(&o, &up);
    if (strcmp(cmd, "catchup") == 0)
        return hoso_bench_catchup(&o, events_given ? fan.events : 10000);
    if (strcmp(cmd, "push") == 0) {
        if (m.officer == NULL || fan.tokens == NULL)
            hoso_bench_usage();
        fan.officer = m.officer;
        if (!events_given)
            fan.events = 10000;
        if (!subscribers_given)
            fan.subscribers = 10000;
        if (fan.rate == 0)
            fan.rate = 1000;
        if (!sources_given)
            o.sources = 16;
        return hoso_bench_fanout(&o, &fan);
    }
    if (strcmp(cmd, "fanout") == 0) {
        if (fan.mqtt == NULL && m.officer == NULL)
            hoso_bench_usage();
        fan.officer = m.officer;
        return hoso_bench_fanout(&o, &fan);
    }
    if (strcmp(cmd, "read") == 0) {
        if (o.read_path == NULL || o.read_token == NULL)
            hoso_bench_usage();
        if (!clients_given)
            o.clients = 32;
        if (!max_total_given)
            o.max_total = 0;
        return hoso_bench_submit(&o);
    }
    if (strcmp(cmd, "transition") == 0) {
        if (m.officer == NULL)
            hoso_bench_usage();
        hoso_bench_conn c = {.target = &o.target, .fd = -1, .timeout_s = HOSO_BENCH_SETUP_TIMEOUT_S};
        hoso_bench_staff_login(&c, m.officer, o.officer_token, sizeof(o.officer_token));
        hoso_bench_conn_close(&c);
        free(c.in.p);
        o.transition = 1;
        return hoso_bench_submit(&o);
    }
    if (strcmp(cmd, "moves") == 0) {
        if (m.officer == NULL || (m.bot != NULL) != (m.callback != NULL))
            hoso_bench_usage();
        return hoso_bench_run_moves(&o, &m);
    }
    return strcmp(cmd, "setup") == 0 ? hoso_bench_setup(&o) : hoso_bench_submit(&o);
}
