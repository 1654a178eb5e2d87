/*
 * bot-relay - an example chatbot backend: receives hosod's webhooks, checks that each
 * one is genuine, and prints the chat message it would send.
 *
 * A webhook is accepted only when
 *   - webhook-signature holds a v1 signature equal (compared in constant time) to
 *     base64(HMAC-SHA256(secret, webhook-id "." webhook-timestamp "." body)), where
 *     secret is the base64 after "whsec_";
 *   - webhook-timestamp is within the tolerance (default 300 s) of this machine's clock,
 *     so a captured request cannot be replayed later;
 *   - webhook-id was not seen before (the last 4096 ids are kept): a repeat is answered
 *     200 so hosod stops sending it, but it is not passed on to the chat again.
 * Others are refused: 401 for a bad signature, 400 for a stale or missing timestamp.
 *
 * Each accepted webhook is printed on stdout as one JSON line
 * {"id", "chat_ref", "code", "status", "message", "received_ms"}; refusals and repeats
 * go to stderr.
 *
 * usage: bot-relay --secret whsec_... | --secret-file FILE [--listen ADDR:PORT]
 *                  [--tolerance SECONDS]
 * The default listen address is 127.0.0.1:8090; port 0 picks a free one. It prints
 * "listening on ADDR:PORT" on stderr once ready. SIGINT/SIGTERM stop it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#define MAX_REQUEST (256 * 1024)
#define SEEN 4096

static uint8_t secret[128];
static size_t secret_len;
static long tolerance = 300;
static char seen[SEEN][128]; /* ring of recent webhook-ids */
static size_t seen_next;

typedef struct conn {
    uv_tcp_t tcp;
    char *buf;
    size_t len, cap;
} conn;

typedef struct wreq {
    uv_write_t w;
    char *data;
} wreq;

static void on_closed(uv_handle_t *h)
{
    conn *c = h->data;
    free(c->buf);
    free(c);
}

static void on_written(uv_write_t *w, int status)
{
    wreq *r = (wreq *)w;
    (void)status;
    free(r->data);
    free(r);
}

static void reply(conn *c, int status, const char *text)
{
    wreq *r = malloc(sizeof(*r));
    const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : status == 401 ? "Unauthorized"
                                                                                               : "Error";
    if (r == NULL)
        return;
    size_t n = strlen(text) + 256;
    if ((r->data = malloc(n)) == NULL) {
        free(r);
        return;
    }
    int len = snprintf(r->data, n, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       status, reason, strlen(text), text);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
    if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        free(r->data);
        free(r);
    }
}

/* The value of header name in head (up to the blank line), copied into out. */
static const char *header(const char *head, size_t hlen, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *l = head; l < head + hlen;) {
        const char *eol = memchr(l, '\n', (size_t)(head + hlen - l));
        if (eol == NULL)
            break;
        if ((size_t)(eol - l) > nl + 1 && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = (size_t)(eol - v);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            if (vl >= n)
                return NULL;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
        l = eol + 1;
    }
    return NULL;
}

/* 1 if one of the space-separated "v1,<base64>" signatures matches. */
static int signature_ok(const char *id, const char *ts, const char *body, size_t blen, const char *sigs)
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char want[sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)id, strlen(id));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, blen);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2base64(want, sizeof want, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    size_t wl = strlen(want);
    int ok = 0;
    for (const char *p = sigs; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        /* Constant time over the signature bytes; the lengths are public. */
        if (n == wl + 3 && strncmp(p, "v1,", 3) == 0 && sodium_memcmp(p + 3, want, wl) == 0)
            ok = 1;
        p += n;
    }
    return ok;
}

static int seen_before(const char *id)
{
    for (size_t i = 0; i < SEEN; i++)
        if (seen[i][0] && strcmp(seen[i], id) == 0)
            return 1;
    snprintf(seen[seen_next], sizeof seen[0], "%s", id);
    seen_next = (seen_next + 1) % SEEN;
    return 0;
}

/* One request: head[0..hlen) and its body. */
static void handle(conn *c, const char *head, size_t hlen, const char *body, size_t blen)
{
    char id[128], ts[32], sigs[1024];
    if (!header(head, hlen, "webhook-id", id, sizeof id) || !header(head, hlen, "webhook-timestamp", ts, sizeof ts) ||
        !header(head, hlen, "webhook-signature", sigs, sizeof sigs)) {
        fprintf(stderr, "refused: webhook headers missing\n");
        reply(c, 400, "{\"error\":\"webhook-id, webhook-timestamp and webhook-signature are required\"}");
        return;
    }
    char *end;
    long long t = strtoll(ts, &end, 10);
    long long now = (long long)time(NULL);
    if (*end != '\0' || t < now - tolerance || t > now + tolerance) {
        fprintf(stderr, "refused %s: timestamp %s is outside the tolerance\n", id, ts);
        reply(c, 400, "{\"error\":\"stale or future timestamp\"}");
        return;
    }
    if (!signature_ok(id, ts, body, blen, sigs)) {
        fprintf(stderr, "refused %s: bad signature\n", id);
        reply(c, 401, "{\"error\":\"bad signature\"}");
        return;
    }
    if (seen_before(id)) {
        fprintf(stderr, "dropped %s: already delivered\n", id);
        reply(c, 200, "{\"duplicate\":true}");
        return;
    }
    json_t *j = json_loadb(body, blen, 0, NULL), *d = json_object_get(j, "data");
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    json_t *line = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:I}", "id", id, "type", json_object_get(j, "type"),
                             "chat_ref", json_object_get(d, "chat_ref"), "code", json_object_get(d, "code"), "status",
                             json_object_get(d, "status"), "message", json_object_get(d, "message"), "from",
                             json_object_get(d, "from"), "received_ms",
                             (json_int_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
        fflush(stdout);
    }
    free(text);
    json_decref(line);
    json_decref(j);
    reply(c, 200, "{\"ok\":true}");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    if (c->cap - c->len < 16384) {
        size_t cap = c->cap ? c->cap * 2 : 32768;
        char *nb = cap <= MAX_REQUEST * 2 ? realloc(c->buf, cap) : NULL;
        if (nb == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = nb;
        c->cap = cap;
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    c->len += (size_t)n;
    for (;;) { /* every whole request in the buffer (keep-alive) */
        char *eoh = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (eoh == NULL) {
            if (c->len > MAX_REQUEST)
                uv_close((uv_handle_t *)s, on_closed);
            return;
        }
        size_t hlen = (size_t)(eoh - c->buf) + 2, clen = 0;
        char v[32], *end = NULL;
        /* Only a plain Content-Length body: a chunked one (which hosod never sends) or
         * a length that is not a number is refused, and the connection closed. */
        if (header(c->buf, hlen, "transfer-encoding", v, sizeof v) ||
            (header(c->buf, hlen, "content-length", v, sizeof v) && ((clen = strtoul(v, &end, 10)), *end != '\0'))) {
            reply(c, 400, "{\"error\":\"send a body with a Content-Length\"}");
            uv_close((uv_handle_t *)s, on_closed);
            return;
        }
        if (clen > MAX_REQUEST) {
            uv_close((uv_handle_t *)s, on_closed);
            return;
        }
        size_t total = hlen + 2 + clen;
        if (c->len < total)
            return;
        handle(c, c->buf, hlen, c->buf + hlen + 2, clen);
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
    }
}

static void on_conn(uv_stream_t *server, int status)
{
    conn *c;
    if (status != 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

static int set_secret(const char *s)
{
    if (strncmp(s, "whsec_", 6) != 0 ||
        sodium_base642bin(secret, sizeof secret, s + 6, strlen(s + 6), NULL, &secret_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || secret_len < 16) {
        fprintf(stderr, "bot-relay: the secret must be whsec_ followed by base64 (as hosod admin create-bot prints it)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8090";
    int have_secret = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            printf("usage: bot-relay --secret whsec_... | --secret-file FILE [--listen ADDR:PORT] [--tolerance SECONDS]\n"
                   "Receives hosod's signed webhooks, verifies signature, timestamp (default tolerance 300 s)\n"
                   "and webhook-id (repeats are dropped), and prints each chat message as a JSON line.\n");
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "bot-relay: %s needs a value (see --help)\n", o);
            return 2;
        }
        i++;
        if (strcmp(o, "--secret") == 0) {
            if (set_secret(v) != 0)
                return 2;
            have_secret = 1;
        } else if (strcmp(o, "--secret-file") == 0) {
            char line[512] = "";
            FILE *f = fopen(v, "r");
            if (f == NULL || fgets(line, sizeof line, f) == NULL) {
                fprintf(stderr, "bot-relay: cannot read %s: %s\n", v, strerror(errno));
                if (f)
                    fclose(f);
                return 2;
            }
            fclose(f);
            line[strcspn(line, "\r\n")] = '\0';
            if (set_secret(line) != 0)
                return 2;
            have_secret = 1;
        } else if (strcmp(o, "--listen") == 0) {
            listen = v;
        } else if (strcmp(o, "--tolerance") == 0) {
            tolerance = strtol(v, NULL, 10);
            if (tolerance <= 0) {
                fprintf(stderr, "bot-relay: --tolerance takes seconds > 0\n");
                return 2;
            }
        } else {
            fprintf(stderr, "bot-relay: unknown option %s (see --help)\n", o);
            return 2;
        }
    }
    if (sodium_init() < 0 || !have_secret) {
        fprintf(stderr, "bot-relay: --secret or --secret-file is required (see --help)\n");
        return 2;
    }
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host) {
        fprintf(stderr, "bot-relay: --listen takes ADDR:PORT\n");
        return 2;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    struct sockaddr_storage sa;
    if (uv_ip4_addr(host, atoi(colon + 1), (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, atoi(colon + 1), (struct sockaddr_in6 *)&sa) != 0) {
        fprintf(stderr, "bot-relay: %s is not an IP address\n", host);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_signal_t sigint, sigterm;
    uv_tcp_init(loop, &server);
    int r = uv_tcp_bind(&server, (struct sockaddr *)&sa, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&server, 128, on_conn);
    if (r != 0) {
        fprintf(stderr, "bot-relay: cannot listen on %s: %s\n", listen, uv_strerror(r));
        return 1;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    char name[64] = "";
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
    if (bound.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&bound, name, sizeof name);
    else
        uv_ip6_name((struct sockaddr_in6 *)&bound, name, sizeof name);
    fprintf(stderr, "listening on %s:%d\n", name,
            ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                             : ((struct sockaddr_in6 *)&bound)->sin6_port));
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
