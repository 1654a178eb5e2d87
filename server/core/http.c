/*
 * http.c - the one h2o handler of hosod: route lookup, content negotiation, body
 * decoding, bearer authentication, the handler call, and every reply (including the
 * single error shape). Runs on the worker thread that owns the request.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "runtime.h"

/* The request as the runtime keeps it: the handler sees `r`, the runtime also needs
 * the arrival time and whether a reply went out. Lives in the h2o request pool. */
typedef struct req_full {
    hoso_req r;
    uint64_t start_usec;
    int replied;
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

uint64_t hoso__req_start_usec(hoso_req *r)
{
    return ((req_full *)r)->start_usec;
}

/* ---------------------------------------------------------------------------------- */
/* Sending */

static const char *reason_for(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "OK";
    }
}

static void send_raw(h2o_req_t *req, const hoso_route *route, uint64_t start_usec, int status, const char *ctype,
                     const void *body, size_t len)
{
    h2o_iovec_t buf = h2o_strdup(&req->pool, body != NULL ? body : "", len);
    req->res.status = status;
    req->res.reason = reason_for(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    hoso_metrics_request(route, status, hoso__now_usec() - start_usec);
    h2o_start_response(req, &no_generator);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

/* Sends a msgpack body, converted to JSON when the caller asked for JSON. */
static void send_msgpack(h2o_req_t *req, const hoso_route *route, uint64_t start_usec, int json, int status,
                         const void *body, size_t len)
{
    if (!json) {
        send_raw(req, route, start_usec, status, "application/msgpack", body, len);
        return;
    }
    char *text = NULL;
    size_t tlen = 0;
    if (len == 0) {
        send_raw(req, route, start_usec, status, "application/json", "", 0);
        return;
    }
    if (hoso_msgpack_to_json(body, len, &text, &tlen) != 0) {
        static const char fallback[] = "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"reply encoding failed\"}}";
        send_raw(req, route, start_usec, 500, "application/json", fallback, sizeof(fallback) - 1);
        return;
    }
    send_raw(req, route, start_usec, status, "application/json", text, tlen);
    free(text);
}

static void send_error(h2o_req_t *req, const hoso_route *route, uint64_t start_usec, int json, int err,
                       const hoso_errinfo *ei)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (ei != NULL && ei->err == 0 && ei->message[0] == '\0' && ei->nfields == 0)
        ei = NULL;
    hoso_encode_error(&pk, err, ei);
    send_msgpack(req, route, start_usec, json, hoso_err_http_status(err), sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

void hoso__http_send_op(h2o_req_t *req, const hoso_route *route, int json, uint64_t start_usec, hoso_wop *op)
{
    send_msgpack(req, route, start_usec, json, op->http_status != 0 ? op->http_status : 200, op->reply.data,
                 op->reply.size);
}

int hoso_reply(hoso_req *r, int http_status, const void *msgpack, size_t len)
{
    req_full *f = (req_full *)r;
    if (f->replied)
        return 0;
    f->replied = 1;
    send_msgpack(r->h2o, r->route, f->start_usec, r->json, http_status, msgpack, len);
    return 0;
}

int hoso_reply_error(hoso_req *r, int err, const hoso_errinfo *ei)
{
    req_full *f = (req_full *)r;
    if (f->replied)
        return 0;
    f->replied = 1;
    send_error(r->h2o, r->route, f->start_usec, r->json, err, ei);
    return 0;
}

int hoso_reply_raw(hoso_req *r, int http_status, const char *content_type, const void *body, size_t len)
{
    req_full *f = (req_full *)r;
    if (f->replied)
        return 0;
    f->replied = 1;
    send_raw(r->h2o, r->route, f->start_usec, http_status, content_type, body, len);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Query strings */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes application/x-www-form-urlencoded text into buf; 0 or -1 when it does not
 * fit or carries a NUL. */
static int form_decode(const char *s, size_t len, char *buf, size_t bufsz)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            i += 2;
        }
        if (c == 0 || n + 1 >= bufsz)
            return -1;
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    return 0;
}

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
            return form_decode(v, (size_t)(pend - v), buf, bufsz) == 0 ? buf : NULL;
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

/* The media type of a header item, without parameters or surrounding blanks. */
static h2o_iovec_t media_type(const char *s, size_t len)
{
    size_t b = 0, e;
    while (b < len && (s[b] == ' ' || s[b] == '\t'))
        b++;
    e = b;
    while (e < len && s[e] != ';' && s[e] != ',')
        e++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    return h2o_iovec_init(s + b, e - b);
}

static int is_type(h2o_iovec_t t, const char *want)
{
    size_t n = strlen(want);
    return t.len == n && strncasecmp(t.base, want, n) == 0;
}

static int is_msgpack(h2o_iovec_t t)
{
    return is_type(t, "application/msgpack") || is_type(t, "application/x-msgpack") ||
           is_type(t, "application/vnd.msgpack");
}

/* The q-values Accept gives JSON and msgpack (-1 when not named; wildcards name
 * neither, so curl's "any type" leaves the route's default). */
static void accept_q(h2o_iovec_t accept, double *qj, double *qm)
{
    *qj = *qm = -1;
    const char *s = accept.base, *end = accept.base + accept.len;
    while (s != NULL && s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *iend = comma != NULL ? comma : end;
        h2o_iovec_t t = media_type(s, (size_t)(iend - s));
        double q = 1;
        for (const char *p = s; p + 2 < iend; p++) {
            if (p[0] == ';') {
                const char *v = p + 1;
                while (v < iend && *v == ' ')
                    v++;
                if (v + 2 <= iend && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                    char tmp[16];
                    size_t n = (size_t)(iend - v - 2) < sizeof(tmp) - 1 ? (size_t)(iend - v - 2) : sizeof(tmp) - 1;
                    memcpy(tmp, v + 2, n);
                    tmp[n] = '\0';
                    q = strtod(tmp, NULL);
                }
            }
        }
        if (is_type(t, "application/json") && q > *qj)
            *qj = q;
        else if (is_msgpack(t) && q > *qm)
            *qm = q;
        s = comma != NULL ? comma + 1 : NULL;
    }
}

static int wants_json(h2o_req_t *req, const hoso_route *route, int body_is_json)
{
    double qj, qm;
    accept_q(header_value(req, H2O_TOKEN_ACCEPT), &qj, &qm);
    if (qm > 0 && qm > qj)
        return 0;
    if (qj > 0 && qj > qm)
        return 1;
    return body_is_json || (route != NULL && (route->flags & HOSO_R_JSON));
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
        h2o_iovec_t t = media_type(ct.base, ct.len);
        if (is_type(t, "application/json"))
            json = 1;
        else if (!is_msgpack(t))
            return hoso_fail(&r->err, HOSO_EUNSUPPORTED_MEDIA_TYPE, "content type %.*s is not supported",
                             (int)(t.len > 64 ? 64 : t.len), t.base);
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

static int authenticate(hoso_req *r)
{
    h2o_iovec_t h = header_value(r->h2o, H2O_TOKEN_AUTHORIZATION);
    static const char bearer[] = "Bearer ";
    const size_t blen = sizeof(bearer) - 1;
    hoso_session sess;
    int err;

    if (h.base == NULL)
        return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "an Authorization: Bearer token is required");
    if (h.len <= blen || strncasecmp(h.base, bearer, blen) != 0 || h.len - blen >= sizeof(r->token))
        return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "malformed Authorization header");
    memcpy(r->token, h.base + blen, h.len - blen);
    r->token[h.len - blen] = '\0';
    if ((err = hoso_session_get(r->rtxn, r->token, hoso_now_ms(), &sess)) != 0) {
        if (err == HOSO_EUNAUTHORIZED || err == HOSO_ENOT_FOUND)
            return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "invalid or expired token");
        return err;
    }
    msgpack_zone_init(&r->acct_doc.zone, 1024);
    r->authed = 1; /* acct_doc now needs destroying */
    if ((err = hoso_account_get_public(r->rtxn, sess.account, &r->acct_doc, &r->acct)) != 0) {
        if (err == HOSO_ENOT_FOUND)
            return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "the account of this token is gone");
        return err;
    }
    unsigned allowed = r->route->flags & (HOSO_R_CITIZEN | HOSO_R_OFFICER | HOSO_R_BOT | HOSO_R_ADMIN);
    if (allowed != 0 && (allowed & role_bit(r->acct.role)) == 0)
        return hoso_fail(&r->err, HOSO_EFORBIDDEN, "a %s account may not use this", hoso_role_name(r->acct.role));
    return 0;
}

static int renew_read_txn(hoso_req *r)
{
    hoso_worker *w = r->worker;
    if (w->rtxn == NULL) {
        int err = hoso_txn_read(r->srv->store, &w->rtxn);
        if (err != 0) {
            w->rtxn = NULL;
            return err;
        }
    } else {
        int err = hoso_txn_renew(w->rtxn);
        if (err != 0)
            return err;
    }
    r->rtxn = w->rtxn;
    return 0;
}

/* ---------------------------------------------------------------------------------- */

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

    err = hoso__route_match(req->method.base, req->method.len, req->path_normalized.base, req->path_normalized.len,
                            &req->pool, &r->route, r->params, &r->nparams);
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
        int body_json = ct.base != NULL && is_type(media_type(ct.base, ct.len), "application/json");
        r->json = wants_json(req, r->route, body_json);
    }
    /* Authentication comes before decoding: an anonymous client must not make a worker
     * parse a megabyte of JSON, and a bad token is 401 whatever the body holds. */
    if ((err = renew_read_txn(r)) != 0)
        goto Exit;
    if ((r->route->flags & HOSO_R_AUTH) && (err = authenticate(r)) != 0)
        goto Exit;
    if ((r->route->flags & HOSO_R_BODY) && (err = decode_body(r)) != 0)
        goto Exit;
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
    if (r->authed)
        hoso_doc_destroy(&r->acct_doc);
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
