/*
 * http.c - a small blocking HTTP/1.1 client: one keep-alive connection, Content-Length,
 * chunked and read-until-close replies, and a curl-driven variant for tests that want a
 * real independent client.
 */
#define _GNU_SOURCE
#include "hoso_test.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

void ht_conn_init(ht_conn *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->port = port;
}

static void conn_drop(ht_conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->len = 0;
}

void ht_conn_close(ht_conn *c)
{
    conn_drop(c);
    free(c->buf);
    c->buf = NULL;
    c->cap = 0;
}

static int conn_open(ht_conn *c)
{
    conn_drop(c);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more bytes into c->buf; returns bytes read, 0 on EOF, -1 on error/timeout. */
static ssize_t fill(ht_conn *c)
{
    if (c->cap - c->len < 16384) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = realloc(c->buf, c->cap);
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r > 0) c->len += (size_t)r;
        return r;
    }
}

static void consume(ht_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static char *find_crlf2(ht_conn *c)
{
    if (!c->buf) return NULL;
    c->buf[c->len] = 0;
    return memmem(c->buf, c->len, "\r\n\r\n", 4);
}

const char *ht_resp_header(const ht_resp *r, const char *name, char *buf, size_t n)
{
    if (!r->head) return NULL;
    size_t nl = strlen(name);
    for (const char *p = r->head; *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol) eol = p + strlen(p);
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= n) vl = n - 1;
            memcpy(buf, v, vl);
            buf[vl] = 0;
            return buf;
        }
        p = *eol ? eol + 2 : eol;
    }
    return NULL;
}

/* Appends n body bytes from the connection to body. */
static int read_exact(ht_conn *c, char **body, size_t *blen, size_t n)
{
    while (c->len < n) {
        ssize_t r = fill(c);
        if (r <= 0) return -1;
    }
    *body = realloc(*body, *blen + n + 1);
    memcpy(*body + *blen, c->buf, n);
    *blen += n;
    (*body)[*blen] = 0;
    consume(c, n);
    return 0;
}

static int read_line(ht_conn *c, char *line, size_t n)
{
    for (;;) {
        char *e = c->buf ? memmem(c->buf, c->len, "\r\n", 2) : NULL;
        if (e) {
            size_t l = (size_t)(e - c->buf);
            if (l >= n) return -1;
            memcpy(line, c->buf, l);
            line[l] = 0;
            consume(c, l + 2);
            return 0;
        }
        if (fill(c) <= 0) return -1;
    }
}

static void parse_body(ht_resp *out)
{
    if (out->len == 0) return;
    int want_mp = strstr(out->ctype, "msgpack") != NULL;
    int want_json = strstr(out->ctype, "json") != NULL;
    /* Bytes of another type (a file, CSV, HTML) are not guessed at: random bytes can read
     * as a msgpack header asking for gigabytes. */
    if (out->ctype[0] && !want_mp && !want_json) return;
    if (want_mp || !want_json) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        if (msgpack_unpack_next(&u, out->body, out->len, &off) == MSGPACK_UNPACK_SUCCESS && off == out->len) {
            out->json = ht_json_from_msgpack(&u.data);
            out->is_msgpack = 1;
        }
        msgpack_unpacked_destroy(&u);
        if (out->json) return;
    }
    if (want_json || !want_mp) out->json = json_loadb(out->body, out->len, JSON_DECODE_ANY, NULL);
}

static int read_response(ht_conn *c, const char *method, ht_resp *out)
{
    char *hend;
    for (;;) {
        while (!(hend = find_crlf2(c)))
            if (fill(c) <= 0) return -1;
        size_t hlen = (size_t)(hend - c->buf);
        int status = 0;
        if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1) return -1;
        const char *first_eol = strstr(c->buf, "\r\n");
        size_t skip = (size_t)(first_eol - c->buf) + 2;
        free(out->head);
        out->head = strndup(c->buf + skip, hlen + 2 > skip ? hlen + 2 - skip : 0);
        consume(c, hlen + 4);
        out->status = status;
        if (status >= 100 && status < 200) continue; /* 100 Continue: the real reply follows */
        break;
    }
    char v[128];
    if (ht_resp_header(out, "Content-Type", v, sizeof(v))) {
        snprintf(out->ctype, sizeof(out->ctype), "%s", v);
        for (char *p = out->ctype; *p; p++) *p = (char)tolower((unsigned char)*p);
    }
    out->body = calloc(1, 1);
    out->len = 0;
    int close_after = ht_resp_header(out, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0;
    if (strcmp(method, "HEAD") == 0 || out->status == 204 || out->status == 304) {
    } else if (ht_resp_header(out, "Transfer-Encoding", v, sizeof(v)) && strcasestr(v, "chunked")) {
        char line[256];
        for (;;) {
            if (read_line(c, line, sizeof(line)) != 0) return -1;
            unsigned long n = strtoul(line, NULL, 16);
            if (n == 0) {
                /* Trailers until the empty line. */
                do {
                    if (read_line(c, line, sizeof(line)) != 0) return -1;
                } while (line[0]);
                break;
            }
            if (read_exact(c, &out->body, &out->len, n) != 0) return -1;
            if (read_line(c, line, sizeof(line)) != 0 || line[0]) return -1;
        }
    } else if (ht_resp_header(out, "Content-Length", v, sizeof(v))) {
        if (read_exact(c, &out->body, &out->len, strtoul(v, NULL, 10)) != 0) return -1;
    } else {
        for (;;) {
            ssize_t r = fill(c);
            if (r < 0) return -1;
            if (r == 0) break;
        }
        out->body = realloc(out->body, c->len + 1);
        memcpy(out->body, c->buf, c->len);
        out->len = c->len;
        out->body[out->len] = 0;
        c->len = 0;
        close_after = 1;
    }
    if (close_after) conn_drop(c);
    parse_body(out);
    return 0;
}

void ht_resp_free(ht_resp *r)
{
    free(r->head);
    free(r->body);
    if (r->json) json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

int ht_http(ht_conn *c, const char *method, const char *path, const char *headers, const void *body,
            size_t len, ht_resp *out)
{
    memset(out, 0, sizeof(*out));
    char *req = NULL;
    int hl;
    if (body)
        hl = asprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Length: %zu\r\n\r\n", method, path,
                      c->port, headers ? headers : "", len);
    else
        hl = asprintf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", method, path, c->port,
                      headers ? headers : "");
    if (hl < 0) ht_fail("asprintf");
    int rc = -1;
    /* A kept-alive connection may have been closed by the server while idle; then the
     * request was not seen and is sent again once on a new connection. */
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0;
        if (!reused && conn_open(c) != 0) break;
        c->len = 0;
        int sent = send_all(c->fd, req, (size_t)hl) == 0 && (!body || send_all(c->fd, body, len) == 0);
        /* When sending failed part-way (a body over the limit, answered early and
         * closed), the server's reply may still be waiting to be read. */
        if (read_response(c, method, out) == 0) {
            rc = 0;
            break;
        }
        int got_nothing = out->status == 0;
        free(out->head);
        free(out->body);
        if (out->json) json_decref(out->json);
        memset(out, 0, sizeof(*out));
        conn_drop(c);
        if (!(reused && got_nothing && sent)) break;
    }
    free(req);
    return rc;
}

int ht_mp_call(ht_conn *c, const char *method, const char *path, const char *token,
               const msgpack_sbuffer *body, ht_resp *out)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof(hdr), "Accept: application/msgpack\r\n%s", body ? "Content-Type: application/msgpack\r\n" : "");
    if (token) snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Authorization: Bearer %s\r\n", token);
    return ht_http(c, method, path, hdr, body ? body->data : NULL, body ? body->size : 0, out);
}

int ht_mp_callj(ht_conn *c, const char *method, const char *path, const char *token, json_t *body,
                ht_resp *out)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (body) ht_pack_json(&pk, body);
    int rc = ht_mp_call(c, method, path, token, body ? &sb : NULL, out);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int ht_json_call(ht_conn *c, const char *method, const char *path, const char *token, const char *json,
                 ht_resp *out)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof(hdr), "Accept: application/json\r\n%s", json ? "Content-Type: application/json\r\n" : "");
    if (token) snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Authorization: Bearer %s\r\n", token);
    return ht_http(c, method, path, hdr, json, json ? strlen(json) : 0, out);
}

/* curl writes the body to a file and prints the status and content type; the request
 * body goes through a file too, so nothing in it meets the shell. */
int ht_curl(const ht_server *s, const char *method, const char *path, const char *token, const char *json,
            ht_resp *out)
{
    memset(out, 0, sizeof(*out));
    static int seq;
    char in[PATH_MAX + 64], outf[PATH_MAX + 64];
    snprintf(in, sizeof(in), "%s/curl-in-%d", s->dir, seq);
    snprintf(outf, sizeof(outf), "%s/curl-out-%d", s->dir, seq++);
    if (json) {
        FILE *f = fopen(in, "w");
        if (!f) ht_fail("fopen %s", in);
        fputs(json, f);
        fclose(f);
    }
    char auth[400] = "";
    if (token) snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s'", token);
    char dataopt[PATH_MAX + 160] = "";
    if (json) snprintf(dataopt, sizeof(dataopt), "-H 'Content-Type: application/json' --data-binary '@%s'", in);
    char *meta = NULL;
    int rc = ht_sh(&meta,
                   "curl -sS --max-time 10 -X %s -H 'Accept: application/json' %s %s -o '%s' "
                   "-w '%%{http_code} %%{content_type}' 'http://127.0.0.1:%d%s'",
                   method, auth, dataopt, outf, s->port, path);
    if (rc != 0) {
        free(meta);
        return -1;
    }
    char ct[128] = "";
    sscanf(meta, "%d %127s", &out->status, ct);
    free(meta);
    snprintf(out->ctype, sizeof(out->ctype), "%s", ct);
    FILE *f = fopen(outf, "r");
    out->body = calloc(1, 1);
    if (f) {
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        out->body = realloc(out->body, (size_t)sz + 1);
        out->len = fread(out->body, 1, (size_t)sz, f);
        out->body[out->len] = 0;
        fclose(f);
    }
    unlink(in);
    unlink(outf);
    if (out->len) out->json = json_loadb(out->body, out->len, JSON_DECODE_ANY, NULL);
    return 0;
}

void ht_client_init(ht_client *c, const ht_server *s, ht_wire wire)
{
    ht_conn_init(&c->conn, s->port);
    c->srv = s;
    c->wire = wire;
}

void ht_client_close(ht_client *c)
{
    ht_conn_close(&c->conn);
}

int ht_call(ht_client *c, const char *method, const char *path, const char *token, const json_t *body,
            ht_resp *out)
{
    if (c->wire == HT_MSGPACK) return ht_mp_callj(&c->conn, method, path, token, (json_t *)body, out);
    char *txt = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = c->wire == HT_JSON ? ht_json_call(&c->conn, method, path, token, txt, out)
                                : ht_curl(c->srv, method, path, token, txt, out);
    free(txt);
    if (rc == 0 && out->len > 0 && !strstr(out->ctype, "application/json"))
        ht_fail("%s %s: asked for JSON, got Content-Type \"%s\": %.300s", method, path, out->ctype, out->body);
    if (rc == 0 && out->len > 0 && !out->json)
        ht_fail("%s %s: reply is not JSON: %.300s", method, path, out->body);
    return rc;
}

double ht_metric_sample(const char *text, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (*p == '#')
            continue;
        if (strncmp(p, prefix, pl) == 0 && (strchr(prefix, '{') || p[pl] == ' ' || p[pl] == '{')) {
            const char *sp = strchr(p, ' ');
            const char *eol = strchr(p, '\n');
            if (sp && (!eol || sp < eol))
                return strtod(sp + 1, NULL);
        }
    }
    return -1;
}

double ht_metric(ht_conn *c, const char *prefix)
{
    ht_resp r;
    double v = -1;
    if (ht_http(c, "GET", "/metrics", NULL, NULL, 0, &r) == 0 && r.status == 200)
        v = ht_metric_sample(r.body, prefix);
    ht_resp_free(&r);
    return v;
}
