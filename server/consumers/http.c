/*
 * http.c - outbound POSTs on the engine loop (see http.h). A call owns its request
 * bytes and the reply gathered so far; h2o's client calls back at most three times
 * (connected, head, body) and the call ends at the first failure or at the end of
 * the body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "core/internal.h"
#include "consumers/http.h"

typedef struct call {
    h2o_linklist_t link;
    hoso_http *h;
    h2o_http1client_t *client;
    h2o_iovec_t req[2];
    char *head;
    char *body;
    size_t body_len;
    int status;
    int64_t retry_after_ms;
    char *reply;
    size_t reply_len, reply_cap;
    hoso_http_cb cb;
    void *data;
    int connecting; /* inside h2o_http1client_connect: finish only marks it done */
    int done;
    uv_timer_t watch;  /* the call's deadline and the size of what the peer sent */
    uint64_t deadline; /* uv_now ms */
} call;

#define WATCH_MS 250

static void on_watch_closed(uv_handle_t *h)
{
    call *c = h->data;
    free(c->head);
    free(c->body);
    free(c->reply);
    free(c);
}

/* Frees c once its timer is closed (the loop's next turn). */
static void release(call *c)
{
    uv_timer_stop(&c->watch);
    uv_close((uv_handle_t *)&c->watch, on_watch_closed);
}

static void finish(call *c, int status, const char *err)
{
    h2o_linklist_unlink(&c->link);
    c->client = NULL; /* h2o closes it once we return */
    c->cb(c->data, status, c->reply ? c->reply : "", c->reply_len, c->retry_after_ms, err);
    if (c->connecting) {
        c->done = 1; /* hoso_http_post_addr releases it */
        return;
    }
    release(c);
}

/* A peer that answers too slowly in total (a byte now and then keeps h2o's I/O
 * timeout from firing) or sends a head larger than a reply may be is cut off. */
static void on_watch(uv_timer_t *t)
{
    call *c = t->data;
    h2o_http1client_t *cl = c->client;
    const char *why = NULL;
    if (uv_now(t->loop) >= c->deadline)
        why = "the peer took too long to answer";
    else if (cl != NULL && cl->sock != NULL && cl->sock->input != NULL && cl->sock->input->size > HOSO_HTTP_MAX_REPLY)
        why = "the reply is too long";
    if (why == NULL)
        return;
    if (cl != NULL)
        h2o_http1client_cancel(cl); /* no callback from h2o after this */
    c->client = NULL;
    finish(c, 0, why);
}

static int append(call *c, const char *p, size_t n)
{
    if (c->reply_len + n > HOSO_HTTP_MAX_REPLY)
        return -1;
    if (c->reply_len + n + 1 > c->reply_cap) {
        size_t cap = c->reply_cap ? c->reply_cap : 1024;
        while (cap < c->reply_len + n + 1)
            cap *= 2;
        char *r = realloc(c->reply, cap);
        if (r == NULL)
            return -1;
        c->reply = r;
        c->reply_cap = cap;
    }
    memcpy(c->reply + c->reply_len, p, n);
    c->reply_len += n;
    c->reply[c->reply_len] = '\0';
    return 0;
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
    call *c = client->data;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        finish(c, 0, "the reply was cut off");
        return -1;
    }
    if (append(c, client->sock->input->bytes, client->sock->input->size) != 0) {
        finish(c, 0, "the reply is too long");
        return -1;
    }
    h2o_buffer_consume(&client->sock->input, client->sock->input->size);
    if (errstr == h2o_http1client_error_is_eos)
        finish(c, c->status, NULL);
    return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr, int minor_version, int status,
                                       h2o_iovec_t msg, h2o_header_t *headers, size_t num_headers, int rlen)
{
    call *c = client->data;
    (void)minor_version, (void)msg, (void)rlen;
    if (errstr != NULL && errstr != h2o_http1client_error_is_eos) {
        finish(c, 0, errstr);
        return NULL;
    }
    c->status = status;
    for (size_t i = 0; i < num_headers; i++) {
        if (headers[i].name == &H2O_TOKEN_RETRY_AFTER->buf) {
            size_t secs = h2o_strtosize(headers[i].value.base, headers[i].value.len);
            if (secs != SIZE_MAX && secs <= 86400)
                c->retry_after_ms = (int64_t)secs * 1000;
        }
    }
    if (errstr == h2o_http1client_error_is_eos) {
        finish(c, status, NULL);
        return NULL;
    }
    return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr, h2o_iovec_t **reqbufs,
                                          size_t *reqbufcnt, int *method_is_head)
{
    call *c = client->data;
    if (errstr != NULL) {
        finish(c, 0, errstr);
        return NULL;
    }
    *reqbufs = c->req;
    *reqbufcnt = 2;
    *method_is_head = 0;
    return on_head;
}

static call *new_call(const char *path, size_t plen, const char *authority, size_t alen, const char *extra_headers,
                      const char *body, size_t len, hoso_http_cb cb, void *data)
{
    call *c = calloc(1, sizeof(*c));
    size_t cap = 512 + plen + alen + (extra_headers ? strlen(extra_headers) : 0);
    int n;
    if (c == NULL || (c->body = malloc(len ? len : 1)) == NULL || (c->head = malloc(cap)) == NULL) {
        if (c != NULL)
            free(c->body);
        free(c);
        cb(data, 0, "", 0, 0, "out of memory");
        return NULL;
    }
    c->cb = cb;
    c->data = data;
    memcpy(c->body, body, len);
    c->body_len = len;
    n = snprintf(c->head, cap,
                 "POST %.*s HTTP/1.1\r\nHost: %.*s\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
                 "User-Agent: hosod/" HOSO_VERSION "\r\nContent-Length: %zu\r\n%s\r\n",
                 (int)plen, path, (int)alen, authority, len, extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= cap) {
        free(c->head);
        free(c->body);
        free(c);
        cb(data, 0, "", 0, 0, "the request head is too long");
        return NULL;
    }
    c->req[0] = h2o_iovec_init(c->head, (size_t)n);
    c->req[1] = h2o_iovec_init(c->body, len);
    return c;
}

static void watch_start(hoso_http *h, call *c)
{
    uv_timer_init(h->loop, &c->watch);
    c->watch.data = c;
    c->deadline = uv_now(h->loop) + h->deadline_ms;
    uv_timer_start(&c->watch, on_watch, WATCH_MS, WATCH_MS);
}

void hoso_http_post(hoso_http *h, hoso_peer *p, const char *extra_headers, const char *body, size_t len,
                    hoso_http_cb cb, void *data)
{
    call *c = new_call(p->url.path.base, p->url.path.len, p->url.authority.base, p->url.authority.len, extra_headers,
                       body, len, cb, data);
    if (c == NULL)
        return;
    c->h = h;
    h2o_linklist_insert(&h->calls, &c->link);
    watch_start(h, c);
    h2o_http1client_connect_with_pool(&c->client, c, &h->ctx, &p->pool, on_connect);
}

void hoso_http_post_addr(hoso_http *h, const char *addr, uint16_t port, const char *tls_name, const char *authority,
                         const char *path, const char *extra_headers, const char *body, size_t len, hoso_http_cb cb,
                         void *data)
{
    call *c = new_call(path, strlen(path), authority, strlen(authority), extra_headers, body, len, cb, data);
    if (c == NULL)
        return;
    c->h = h;
    h2o_linklist_insert(&h->calls, &c->link);
    watch_start(h, c);
    c->connecting = 1;
    h2o_http1client_connect(&c->client, c, &h->ctx, h2o_iovec_init(addr, strlen(addr)), port, tls_name != NULL,
                            on_connect);
    c->connecting = 0;
    if (c->done) { /* failed at once: finish ran inside the connect */
        release(c);
        return;
    }
    /* h2o took the address as the TLS name; the handshake (later, on the loop) must
     * check the certificate against the URL's host instead. */
    if (tls_name != NULL && c->client != NULL) {
        free(c->client->ssl.server_name);
        c->client->ssl.server_name = h2o_strdup(NULL, tls_name, strlen(tls_name)).base;
    }
}

int hoso_http_init(hoso_http *h, uv_loop_t *loop, unsigned timeout_ms, const char *ca_file)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h2o_linklist_init_anchor(&h->calls);
    if ((h->ssl = SSL_CTX_new(TLS_client_method())) == NULL)
        return HOSO_ENOMEM;
    SSL_CTX_set_min_proto_version(h->ssl, TLS1_2_VERSION);
    if (ca_file != NULL && ca_file[0] != '\0') {
        if (SSL_CTX_load_verify_locations(h->ssl, ca_file, NULL) != 1) {
            hoso_log(HOSO_LOG_ERROR, "cannot load the CA file %s", ca_file);
            SSL_CTX_free(h->ssl);
            return HOSO_EIO;
        }
    } else {
        SSL_CTX_set_default_verify_paths(h->ssl);
    }
    /* h2o checks the host name against the certificate; OpenSSL the chain. */
    SSL_CTX_set_verify(h->ssl, SSL_VERIFY_PEER, NULL);
    /* h2o resolves names on threads of its own (not libuv's pool, where sign-ins
     * hash): a few, so that one slow name server does not hold up every lookup. */
    if (h2o_hostinfo_max_threads < 4)
        h2o_hostinfo_max_threads = 4;
    h->queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(h->queue, &h->getaddr_rx, h2o_hostinfo_getaddr_receiver);
    h2o_timeout_init(loop, &h->timeout, timeout_ms);
    h->deadline_ms = 3 * (uint64_t)timeout_ms;
    h->ctx.loop = loop;
    h->ctx.getaddr_receiver = &h->getaddr_rx;
    h->ctx.io_timeout = &h->timeout;
    h->ctx.ssl_ctx = h->ssl;
    return 0;
}

int hoso_http_expect_hosts(hoso_http *h, const char *const *hosts, size_t n)
{
    X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(h->ssl);
    const char *ip = NULL;
    int names = 0;
    unsigned char bin[16];
    for (size_t i = 0; i < n; i++) {
        if (inet_pton(AF_INET, hosts[i], bin) == 1 || inet_pton(AF_INET6, hosts[i], bin) == 1) {
            if (ip != NULL && strcmp(ip, hosts[i]) != 0)
                return HOSO_EBAD_REQUEST;
            ip = hosts[i];
        } else if ((names++ == 0 ? X509_VERIFY_PARAM_set1_host(vp, hosts[i], 0)
                                 : X509_VERIFY_PARAM_add1_host(vp, hosts[i], 0)) != 1) {
            return HOSO_ENOMEM;
        }
    }
    if (ip != NULL && (names > 0 || X509_VERIFY_PARAM_set1_ip_asc(vp, ip) != 1))
        return HOSO_EBAD_REQUEST;
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return 0;
}

void hoso_http_dispose(hoso_http *h)
{
    while (!h2o_linklist_is_empty(&h->calls)) {
        call *c = H2O_STRUCT_FROM_MEMBER(call, link, h->calls.next);
        h2o_linklist_unlink(&c->link);
        if (c->client != NULL)
            h2o_http1client_cancel(c->client);
        c->client = NULL;
        release(c);
    }
    /* The resolver queue stays: a name lookup that h2o's resolver thread already runs
     * cannot be cancelled and posts its answer to this queue later. Its open handle
     * keeps the engine's loop from closing, so the engine (and this struct) is left to
     * the process's exit (hoso_engine_stop). */
    h2o_timeout_dispose(h->loop, &h->timeout);
    if (h->ssl != NULL)
        SSL_CTX_free(h->ssl);
    h->ssl = NULL;
}

int hoso_peer_init(hoso_peer *p, const char *url, size_t pool_size)
{
    memset(p, 0, sizeof(*p));
    if ((p->url_text = strdup(url)) == NULL)
        return HOSO_ENOMEM;
    if (h2o_url_parse(p->url_text, SIZE_MAX, &p->url) != 0 ||
        (p->url.scheme != &H2O_URL_SCHEME_HTTP && p->url.scheme != &H2O_URL_SCHEME_HTTPS)) {
        free(p->url_text);
        p->url_text = NULL;
        return HOSO_EBAD_REQUEST;
    }
    h2o_socketpool_init_by_hostport(&p->pool, p->url.host, h2o_url_get_port(&p->url),
                                    p->url.scheme == &H2O_URL_SCHEME_HTTPS, pool_size);
    p->pooled = 1;
    return 0;
}

void hoso_peer_dispose(hoso_peer *p)
{
    if (p->pooled)
        h2o_socketpool_dispose(&p->pool);
    p->pooled = 0;
    free(p->url_text);
    p->url_text = NULL;
}
