/*
 * http.h - outbound HTTP/1.1 POSTs on the engine loop with h2o's http1client: one
 * keep-alive pool per peer, a connect-and-I/O timeout, TLS with certificate and host
 * name verification for https URLs. Engine thread only.
 */
#ifndef HOSO_SERVER_CONSUMERS_HTTP_H
#define HOSO_SERVER_CONSUMERS_HTTP_H

#include <h2o.h>
#include <h2o/http1client.h>

#define HOSO_HTTP_MAX_REPLY (1024 * 1024)

typedef struct hoso_http {
    uv_loop_t *loop;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t getaddr_rx;
    h2o_timeout_t timeout;
    h2o_http1client_ctx_t ctx;
    SSL_CTX *ssl;
    h2o_linklist_t calls; /* in flight, for hoso_http_dispose */
    uint64_t deadline_ms; /* a whole call, connect to last byte: 3 x the I/O timeout */
} hoso_http;

/* One peer: a URL and the pool of its kept-alive connections. */
typedef struct hoso_peer {
    char *url_text;
    h2o_url_t url;
    h2o_socketpool_t pool;
    int pooled;
} hoso_peer;

/* status 0 with err set when no reply came (connect refused, timeout, dropped, cut
 * off, too long). retry_after_ms is the reply's Retry-After (seconds), 0 if none. */
typedef void (*hoso_http_cb)(void *data, int status, const char *body, size_t len, int64_t retry_after_ms,
                             const char *err);

/* ca_file "" uses the system's trust store. Errors: NOMEM, IO (CA file). */
int hoso_http_init(hoso_http *h, uv_loop_t *loop, unsigned timeout_ms, const char *ca_file);
/* Makes OpenSSL itself check, during every handshake of h, that the certificate names
 * one of hosts (names, or one address): h2o checks DNS names only, not addresses.
 * For a client that calls known hosts (the portal). Errors: BAD_REQUEST (addresses
 * mixed with names, or two addresses), NOMEM. */
int hoso_http_expect_hosts(hoso_http *h, const char *const *hosts, size_t n);
/* Cancels every call in flight (their callbacks are not called). The resolver queue
 * stays registered on the loop (see http.c): dispose only when the process stops. */
void hoso_http_dispose(hoso_http *h);
/* BAD_REQUEST for a URL that is not http(s)://host[:port]/path. */
int hoso_peer_init(hoso_peer *p, const char *url, size_t pool_size);
/* The pool's timer runs on h's loop: set it once the loop is running. */
void hoso_peer_dispose(hoso_peer *p);
/* POSTs body (Content-Type: application/json plus extra_headers, each ending in CRLF)
 * to p; cb is called exactly once unless the call is cancelled by hoso_http_dispose. */
void hoso_http_post(hoso_http *h, hoso_peer *p, const char *extra_headers, const char *body, size_t len,
                    hoso_http_cb cb, void *data);

/* The same to a numeric address (IPv4 or IPv6 text) that was resolved and checked by
 * the caller, without a pool: tls_name (NULL for http) is the name the certificate must
 * carry (and the SNI), authority the Host header. */
void hoso_http_post_addr(hoso_http *h, const char *addr, uint16_t port, const char *tls_name, const char *authority,
                         const char *path, const char *extra_headers, const char *body, size_t len, hoso_http_cb cb,
                         void *data);

#endif
