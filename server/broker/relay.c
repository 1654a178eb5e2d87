/*
 * relay.c - runs requests forwarded from other nodes through this node's own HTTP
 * listener: the same router, authentication, limits and handlers as any request, so
 * the reply is byte for byte what a single node sends, and no second way of executing
 * a request exists to drift from the first.
 *
 * A few threads, each with one keep-alive connection to the listener (blocking I/O
 * with timeouts; these threads do nothing else). A connection idle for a few seconds
 * is replaced before use rather than risk the server closing it under a request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define RELAY_IO_TIMEOUT_S 10
#define RELAY_IDLE_MS 4000
#define RELAY_MAX_REPLY (64u << 20)

typedef struct relay_job {
    hoso__qitem q;
    char *req;
    size_t len;
    int head;
    void (*reply)(void *ctx, const char *resp, size_t len);
    void *ctx;
} relay_job;

static struct {
    hoso__pool pool;
    struct sockaddr_storage addr;
    socklen_t alen;
} R = {.pool = HOSO__POOL_INIT};

static int dial(void)
{
    int fd = socket(R.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct timeval tv = {RELAY_IO_TIMEOUT_S, 0};
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&R.addr, R.alen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response into out. Returns 1 with *keep set when the connection may be
 * used again, 0 when nothing at all came back (the connection was already closed),
 * -1 on a broken or oversized response. */
static int read_response(int fd, int head, msgpack_sbuffer *out, int *keep)
{
    char buf[16384];
    size_t hdr = 0, need = 0;
    int have_hdr = 0;
    *keep = 1;
    for (;;) {
        if (have_hdr && out->size >= need)
            return 1;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return out->size == 0 ? 0 : -1;
        if (out->size + (size_t)r > RELAY_MAX_REPLY)
            return -1;
        msgpack_sbuffer_write(out, buf, (size_t)r);
        if (have_hdr)
            continue;
        const char *d = out->data, *end = NULL;
        for (size_t i = 0; i + 3 < out->size; i++)
            if (d[i] == '\r' && d[i + 1] == '\n' && d[i + 2] == '\r' && d[i + 3] == '\n') {
                end = d + i;
                break;
            }
        if (end == NULL)
            continue;
        hdr = (size_t)(end - d) + 4;
        have_hdr = 1;
        if (out->size < 12 || memcmp(d, "HTTP/1.", 7) != 0)
            return -1;
        int status = atoi(d + 9);
        uint64_t clen = 0;
        int has_clen = 0;
        for (const char *p = memchr(d, '\n', hdr); p != NULL && p < end; p = memchr(p + 1, '\n', (size_t)(end - p))) {
            const char *ls = p + 1;
            if (strncasecmp(ls, "content-length:", 15) == 0) {
                clen = strtoull(ls + 15, NULL, 10);
                has_clen = 1;
            } else if (strncasecmp(ls, "transfer-encoding:", 18) == 0) {
                return -1; /* hosod always sends a length; anything else is not one of its replies */
            } else if (strncasecmp(ls, "connection:", 11) == 0) {
                const char *v = ls + 11;
                while (*v == ' ')
                    v++;
                if (strncasecmp(v, "close", 5) == 0)
                    *keep = 0;
            }
        }
        if (head || status == 204 || status == 304 || status < 200)
            need = hdr;
        else if (has_clen)
            need = hdr + clen;
        else
            return -1;
        if (need > RELAY_MAX_REPLY)
            return -1;
    }
}

/* The value of header `name` (lower case, with its colon) in the header block of
 * buf[0..len), copied into out; "" when absent. */
static void header_of(const char *buf, size_t len, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (size_t i = 0; i + 2 + nl < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\r')
            return; /* the end of the headers */
        if (strncasecmp(buf + i + 1, name, nl) == 0) {
            const char *v = buf + i + 1 + nl, *end = buf + len;
            while (v < end && *v == ' ')
                v++;
            size_t k = 0;
            while (v < end && *v != '\r' && *v != '\n' && k + 1 < n)
                out[k++] = *v++;
            out[k] = '\0';
            return;
        }
    }
}

/* GET, HEAD and OPTIONS may go again on a fresh connection; anything else might have
 * run already, so it fails instead (the client retries with its op_id). */
static int safe_to_resend(const char *req)
{
    return strncmp(req, "GET ", 4) == 0 || strncmp(req, "HEAD ", 5) == 0 || strncmp(req, "OPTIONS ", 8) == 0;
}

static void *relay_main(void *arg)
{
    (void)arg;
    int fd = -1;
    int64_t last_use = 0;
    msgpack_sbuffer resp;
    msgpack_sbuffer_init(&resp);
    for (;;) {
        relay_job *j = (relay_job *)hoso__pool_take(&R.pool);
        if (j == NULL)
            break;

        int rc = -1, keep = 0;
        for (int attempt = 0; attempt < 2; attempt++) {
            if (fd >= 0 && hoso__mono_ms() - last_use > RELAY_IDLE_MS) {
                close(fd);
                fd = -1;
            }
            int fresh = fd < 0;
            if (fd < 0 && (fd = dial()) < 0)
                break;
            resp.size = 0;
            rc = write_all(fd, j->req, j->len) == 0 ? read_response(fd, j->head, &resp, &keep) : 0;
            last_use = hoso__mono_ms();
            if (rc != 1 || !keep) {
                close(fd);
                fd = -1;
            }
            /* A reused connection the server had closed: nothing was read, so a safe
             * request may go once more on a new one. */
            if (rc == 0 && !fresh && safe_to_resend(j->req))
                continue;
            break;
        }
        /* Each reply must be the one of its request (the same X-Request-Id): a reply
         * that is not means the connection is out of step, and it is not used. */
        if (rc == 1) {
            char want[64], got[64];
            header_of(j->req, j->len, "x-request-id:", want, sizeof want);
            header_of(resp.data, resp.size, "x-request-id:", got, sizeof got);
            if (want[0] != '\0' && strcmp(want, got) != 0) {
                hoso_log(HOSO_LOG_WARN, "cluster: a relayed reply was not its request's: connection dropped");
                rc = -1;
                if (fd >= 0) {
                    close(fd);
                    fd = -1;
                }
            }
        }
        if (rc == 1)
            j->reply(j->ctx, resp.data, resp.size);
        else
            j->reply(j->ctx, NULL, 0);
        free(j->req);
        free(j);
    }
    if (fd >= 0)
        close(fd);
    msgpack_sbuffer_destroy(&resp);
    return NULL;
}

int hoso__relay_start(const char *host, unsigned port, unsigned threads)
{
    struct addrinfo hints, *ai = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(portstr, sizeof portstr, "%u", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL) {
        hoso_log(HOSO_LOG_ERROR, "cluster: the listen address %s must be a numeric address to relay to", host);
        return HOSO_EBAD_REQUEST;
    }
    memcpy(&R.addr, ai->ai_addr, ai->ai_addrlen);
    R.alen = ai->ai_addrlen;
    freeaddrinfo(ai);
    return hoso__pool_start(&R.pool, threads, relay_main, NULL);
}

void hoso__relay_stop(void)
{
    hoso__pool_stop(&R.pool);
}

int hoso__relay_submit(void *req, size_t len, int head, void (*reply)(void *ctx, const char *resp, size_t len),
                       void *ctx)
{
    relay_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        free(req);
        return HOSO_ENOMEM;
    }
    j->req = req;
    j->len = len;
    j->head = head;
    j->reply = reply;
    j->ctx = ctx;
    if (hoso__pool_put(&R.pool, &j->q) != 0) {
        free(req);
        free(j);
        return HOSO_EUNAVAILABLE;
    }
    return 0;
}
