/*
 * http.c - the HTTP transport: one libwebsockets client connection per request, on
 * the client's uv loop. lws owns the connection; we own the request record, which
 * outlives the connection until its callback has run and its timer is closed. Each
 * request has a deadline of its own because lws's timeouts cover the connect and the
 * idle phases, not the whole exchange.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"


struct hoso__http_req {
    hoso__http_req *next, **pprev; /* c->reqs while in flight */
    hoso_client *c;
    struct lws *wsi;
    uv_timer_t timer; /* deadline, and the deferred completion */
    char method[8];
    char path[1024];
    unsigned char *body; /* LWS_PRE bytes, then blen bytes */
    size_t blen;
    int auth;
    char *resp;
    size_t rlen, rcap;
    int status;
    int in_connect;  /* inside lws_client_connect_via_info: defer the callback */
    int finished;    /* outcome decided; the wsi is detached */
    int err;
    char why[160];
    hoso__http_cb cb;
    hoso__http_cb2 cb2;   /* instead of cb: also the reply headers an upload needs */
    void *ud;
    char ctype[48];       /* the body's type, when not msgpack */
    char extra[6][2][96]; /* more request headers ("name:", value) */
    int nextra;
    hoso__http_headers got;
};

static void req_on_close(uv_handle_t *h)
{
    hoso__http_req *r = h->data;
    hoso_client *c = r->c;
    free(r->body);
    free(r->resp);
    free(r);
    c->open_handles--;
}

/* Runs the callback and releases the record. */
static void req_complete(hoso__http_req *r)
{
    uv_timer_stop(&r->timer);
    if (r->cb) r->cb(r->c, r->err, r->why, r->status, r->resp ? r->resp : "", r->rlen, r->ud);
    if (r->cb2) r->cb2(r->c, r->err, r->why, r->status, r->resp ? r->resp : "", r->rlen, &r->got, r->ud);
    r->cb = NULL;
    r->cb2 = NULL;
    uv_close((uv_handle_t *)&r->timer, req_on_close);
}

static void on_deferred(uv_timer_t *t)
{
    req_complete(t->data);
}

static void on_deadline(uv_timer_t *t);

/* Decides the outcome once: detaches from lws and from the in-flight list. The
 * callback runs now, or from the loop when we are still inside the connect call. */
static void req_finish(hoso__http_req *r, int err, const char *why)
{
    if (r->finished) return;
    r->finished = 1;
    r->err = err;
    if (why) snprintf(r->why, sizeof(r->why), "%s", why);
    if (r->wsi) {
        lws_set_opaque_user_data(r->wsi, NULL);
        if (err) lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        r->wsi = NULL;
    }
    if (r->pprev) {
        *r->pprev = r->next;
        if (r->next) r->next->pprev = r->pprev;
        r->pprev = NULL;
        r->next = NULL;
    }
    if (r->in_connect || r->c->freeing || r->c->dropping) {
        uv_timer_stop(&r->timer);
        uv_timer_start(&r->timer, on_deferred, 0, 0);
    } else {
        req_complete(r);
    }
}

static void on_deadline(uv_timer_t *t)
{
    hoso__http_req *r = t->data;
    req_finish(r, HOSO_EUNAVAILABLE, "the server did not answer in time");
}

static int http_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    hoso__http_req *r = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (r) {
            char why[160];
            snprintf(why, sizeof(why), "cannot reach the server: %s", in ? (const char *)in : "connection failed");
            r->wsi = NULL; /* lws closes it itself */
            lws_set_opaque_user_data(wsi, NULL);
            req_finish(r, HOSO_EUNAVAILABLE, why);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!r) return -1;
        unsigned char **p = in, *end = *p + len;
        static const char mp[] = "application/msgpack";
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"accept:", (const unsigned char *)mp,
                                        (int)strlen(mp), p, end))
            return -1;
        if (r->auth && r->c->token[0]) {
            char v[HOSO__TOKEN_MAX + 16];
            int n = snprintf(v, sizeof(v), "Bearer %s", r->c->token);
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)"authorization:", (unsigned char *)v, n,
                                            p, end))
                return -1;
        }
        for (int i = 0; i < r->nextra; i++)
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)r->extra[i][0], (const unsigned char *)r->extra[i][1],
                                            (int)strlen(r->extra[i][1]), p, end))
                return -1;
        if (r->body) {
            char cl[32];
            const char *ct = r->ctype[0] ? r->ctype : mp;
            int n = snprintf(cl, sizeof(cl), "%zu", r->blen);
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-type:",
                                            (const unsigned char *)ct, (int)strlen(ct), p, end) ||
                lws_add_http_header_by_name(wsi, (const unsigned char *)"content-length:", (unsigned char *)cl,
                                            n, p, end))
                return -1;
            lws_client_http_body_pending(wsi, 1);
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (!r || !r->body) return r ? 0 : -1;
        /* lws buffers what the socket does not take at once. */
        if (lws_write(wsi, r->body + LWS_PRE, r->blen, LWS_WRITE_HTTP_FINAL) < 0) return -1;
        lws_client_http_body_pending(wsi, 0);
        return 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (r) {
            r->status = (int)lws_http_client_http_response(wsi);
            if (r->cb2 && lws_hdr_custom_copy(wsi, r->got.upload_offset, (int)sizeof r->got.upload_offset,
                                              "upload-offset:", 14) < 0)
                r->got.upload_offset[0] = '\0';
            /* A reply to HEAD has no body, whatever its Content-Length says (an error's
             * names the body a GET would get): lws would wait for it. It is complete. */
            if (strcmp(r->method, "HEAD") == 0) {
                req_finish(r, 0, NULL);
                return -1;
            }
        }
        return r ? 0 : -1;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        if (!r) return -1;
        char buf[LWS_PRE + 8192];
        char *px = buf + LWS_PRE;
        int n = (int)sizeof(buf) - LWS_PRE;
        if (lws_http_client_read(wsi, &px, &n) < 0) return -1;
        return 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (!r) return -1;
        if (r->rlen + len + 1 > r->rcap) {
            size_t cap = r->rcap ? r->rcap : 4096;
            while (cap < r->rlen + len + 1) cap *= 2;
            char *nb = cap <= HOSO__HTTP_MAX_REPLY_BYTES ? realloc(r->resp, cap) : NULL;
            if (!nb) {
                req_finish(r, HOSO_EUNAVAILABLE, "the reply is too large");
                return -1;
            }
            r->resp = nb;
            r->rcap = cap;
        }
        memcpy(r->resp + r->rlen, in, len);
        r->rlen += len;
        r->resp[r->rlen] = 0;
        return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (r) req_finish(r, 0, NULL);
        /* One request per connection: close it rather than keep it idle. */
        return -1;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (r) {
            r->wsi = NULL;
            lws_set_opaque_user_data(wsi, NULL);
            req_finish(r, HOSO_EUNAVAILABLE, "the connection closed before the reply");
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"hoso-http", http_lws_cb, 0, 0, 0, NULL, 0},
    {"hoso-push", hoso__push_lws_cb, 0, 8192, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int hoso__lws_init(hoso_client *c)
{
    struct lws_context_creation_info info;
    void *loops[1] = {c->loop};
    memset(&info, 0, sizeof(info));
    /* lws logs every refused connection at error level; an app that is offline
     * expects those, so only HOSO_CLIENT_LWS_LOG turns the log on. */
    const char *lvl = getenv("HOSO_CLIENT_LWS_LOG");
    lws_set_log_level(lvl ? atoi(lvl) : 0, NULL);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = loops;
    /* Server certificates are verified against this file, or the system's store. */
    if (c->ca_file[0] != '\0')
        info.client_ssl_ca_filepath = c->ca_file;
    info.user = c;
    /* lws clears c->lws when the context is finally freed (see hoso__lws_destroy). */
    info.pcontext = &c->lws;
    c->lws = lws_create_context(&info);
    return c->lws ? 0 : HOSO_EINTERNAL;
}

void hoso__lws_destroy(hoso_client *c)
{
    /* On a foreign loop, destruction has phases: the first call closes every
     * connection and lws's own uv handles, which needs the loop to run; a later call,
     * once they are closed, frees the context (and sets c->lws to NULL through
     * info.pcontext). */
    for (int round = 0; c->lws && round < 4; round++) {
        lws_context_destroy(c->lws);
        for (int i = 0; i < 64 && c->lws; i++)
            if (!uv_run(c->loop, UV_RUN_NOWAIT)) break;
    }
}

static int send_req(hoso_client *c, const char *method, const char *path, const void *body, size_t len, int auth,
                    hoso__http_cb cb, hoso__http_cb2 cb2, const char *ctype, const char *const *hdrs, void *ud);

int hoso__http_send(hoso_client *c, const char *method, const char *path, const void *body, size_t len,
                    int auth, hoso__http_cb cb, void *ud)
{
    return send_req(c, method, path, body, len, auth, cb, NULL, NULL, NULL, ud);
}

int hoso__http_send2(hoso_client *c, const char *method, const char *path, const void *body, size_t len,
                     const char *ctype, const char *const *hdrs, hoso__http_cb2 cb, void *ud)
{
    return send_req(c, method, path, body, len, 1, NULL, cb, ctype, hdrs, ud);
}

static int send_req(hoso_client *c, const char *method, const char *path, const void *body, size_t len, int auth,
                    hoso__http_cb cb, hoso__http_cb2 cb2, const char *ctype, const char *const *hdrs, void *ud)
{
    hoso__http_req *r = calloc(1, sizeof(*r));
    if (!r) return HOSO_ENOMEM;
    r->c = c;
    r->cb = cb;
    r->cb2 = cb2;
    r->ud = ud;
    if (ctype) snprintf(r->ctype, sizeof r->ctype, "%s", ctype);
    for (int i = 0; hdrs && hdrs[2 * i] && i < 6; i++) {
        snprintf(r->extra[i][0], sizeof r->extra[i][0], "%s", hdrs[2 * i]);
        snprintf(r->extra[i][1], sizeof r->extra[i][1], "%s", hdrs[2 * i + 1]);
        r->nextra = i + 1;
    }
    r->auth = auth;
    snprintf(r->method, sizeof(r->method), "%s", method);
    if ((size_t)snprintf(r->path, sizeof(r->path), "%s%s", c->prefix, path) >= sizeof(r->path)) {
        free(r);
        return HOSO_EBAD_REQUEST;
    }
    if (body) {
        if (!(r->body = malloc(LWS_PRE + len + 1))) {
            free(r);
            return HOSO_ENOMEM;
        }
        memcpy(r->body + LWS_PRE, body, len);
        r->blen = len;
    }
    uv_timer_init(c->loop, &r->timer);
    r->timer.data = r;
    c->open_handles++;
    r->next = c->reqs;
    if (c->reqs) c->reqs->pprev = &r->next;
    c->reqs = r;
    r->pprev = &c->reqs;
    uv_timer_start(&r->timer, on_deadline, c->opt.request_timeout_ms, 0);

    struct lws_client_connect_info i;
    memset(&i, 0, sizeof(i));
    i.context = c->lws;
    i.address = c->host;
    i.port = c->port;
    i.path = r->path;
    i.host = c->host;
    i.origin = c->host;
    i.method = r->method;
    i.local_protocol_name = "hoso-http";
    i.opaque_user_data = r;
    i.alpn = "http/1.1";
    i.ssl_connection = LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
    if (c->tls) {
        i.ssl_connection |= LCCSCF_USE_SSL;
        if (c->opt.insecure_tls)
            i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    }
    r->in_connect = 1;
    struct lws *w = lws_client_connect_via_info(&i);
    r->in_connect = 0;
    if (w && !r->finished) r->wsi = w;
    if (!w && !r->finished) {
        r->wsi = NULL;
        r->in_connect = 1; /* still "inside the call" for the caller */
        req_finish(r, HOSO_EUNAVAILABLE, "cannot reach the server: connect failed");
        r->in_connect = 0;
    }
    return 0;
}

void hoso__http_drop_all(hoso_client *c)
{
    /* The callbacks run later, from the loop, not inside the caller's call. */
    c->dropping = 1;
    /* req_finish unlinks the head each time. */
    for (int guard = 0; c->reqs && guard < 100000; guard++)
        req_finish(c->reqs, HOSO_EUNAVAILABLE, "the connection was dropped");
    c->dropping = 0;
}
