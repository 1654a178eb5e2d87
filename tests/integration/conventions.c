/*
 * conventions.c - the HTTP conventions a client may count on: HEAD wherever GET works
 * and never a body (a body after a HEAD reply would be read as the next response on
 * the same connection), Allow on 405, WWW-Authenticate on 401, Idempotent-Replayed on
 * a stored reply, X-Request-Id on every reply and in the log, malformed stats dates
 * refused, a conditional GET of a dossier (ETag, If-None-Match, 304), and a log that
 * neither leaks tokens nor grows without bound.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include "hoso_test.h"

static char *read_log(const ht_server *s)
{
    char *out = NULL;
    ht_sh(&out, "cat '%s'", s->log);
    return out;
}

static void test_head(void)
{
    ht_world w;
    ht_resp r, g;
    char code[128], path[256];
    ht_world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    snprintf(path, sizeof path, "/v1/dossiers/%s", code);
    char auth[400];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\nAccept: application/json\r\n", w.cit.token);

    /* Each HEAD on the same keep-alive connection, then a GET: a stray body would be
     * parsed as the GET's status line. */
    static const char *const heads[] = {"/healthz", "/v1/services", NULL, "/v1/no-such-thing", "/v1/dossiers/X-0"};
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        const char *p = heads[i] ? heads[i] : path;
        EXPECT_INT(ht_http(&w.c, "HEAD", p, auth, NULL, 0, &r), 0);
        EXPECT_INT(r.len, 0);
        /* Nothing after the headers: neither read with them nor arriving later. */
        EXPECT_INT(w.c.len, 0);
        struct pollfd pfd = {.fd = w.c.fd, .events = POLLIN};
        EXPECT_INT(poll(&pfd, 1, 100), 0);
        EXPECT_INT(ht_http(&w.c, "GET", p, auth, NULL, 0, &g), 0);
        EXPECT_INT(r.status, g.status);
        char a[32], b[32];
        EXPECT(ht_resp_header(&r, "Content-Length", a, sizeof a) != NULL);
        EXPECT(ht_resp_header(&g, "Content-Length", b, sizeof b) != NULL);
        EXPECT_STR(a, b);
        EXPECT_STR(r.ctype, g.ctype);
        ht_resp_free(&r);
        ht_resp_free(&g);
    }
    EXPECT_INT(ht_http(&w.c, "HEAD", "/v1/dossiers", NULL, NULL, 0, &r), 0);
    EXPECT_INT(r.status, 401);
    EXPECT_INT(r.len, 0);
    ht_resp_free(&r);
    EXPECT_INT(ht_http(&w.c, "GET", "/healthz", NULL, NULL, 0, &g), 0);
    HT_EXPECT_REPLY(&g, 200, NULL);
    ht_resp_free(&g);
    ht_world_stop(&w);
}

/* GET path as token with Accept ctype and If-None-Match inm (NULL: none). */
static int cond_get(ht_conn *c, const char *path, const char *token, const char *ctype, const char *inm,
                    const char *method, ht_resp *r)
{
    char h[1200];
    int n = snprintf(h, sizeof h, "Authorization: Bearer %s\r\nAccept: %s\r\n", token, ctype);
    if (inm != NULL)
        snprintf(h + n, sizeof h - (size_t)n, "If-None-Match: %s\r\n", inm);
    return ht_http(c, method, path, h, NULL, 0, r);
}

static void test_conditional_get(void)
{
    ht_world w;
    ht_resp r;
    ht_user other;
    char code[128], path[256], etag[128], jtag[128], v[128], inm[512];
    ht_world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    snprintf(path, sizeof path, "/v1/dossiers/%s", code);

    /* The full reply names its version: ETag, private, revalidated each time. */
    EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/msgpack", NULL, "GET", &r), 0);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(ht_resp_header(&r, "ETag", etag, sizeof etag) != NULL);
    EXPECT(etag[0] == '"' && etag[strlen(etag) - 1] == '"');
    EXPECT_STR(ht_resp_header(&r, "Cache-Control", v, sizeof v), "private, no-cache");
    EXPECT(ht_resp_header(&r, "Vary", v, sizeof v) != NULL && strstr(v, "accept") != NULL);
    ht_resp_free(&r);

    /* Unchanged: 304, no body, the same tag; on the same keep-alive connection after. */
    EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/msgpack", etag, "GET", &r), 0);
    EXPECT_INT(r.status, 304);
    EXPECT_INT(r.len, 0);
    EXPECT_STR(ht_resp_header(&r, "ETag", v, sizeof v), etag);
    ht_resp_free(&r);
    /* Weak comparison, lists, several lines and "*" all match; other tags do not. */
    const char *hits[] = {"W/%s", "\"nope\", %s", "\"a\",W/\"b\" ,  %s", "*"};
    for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++) {
        snprintf(inm, sizeof inm, hits[i], etag);
        EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/msgpack", inm, "GET", &r), 0);
        if (r.status != 304)
            ht_fail("If-None-Match: %s gave %d, not 304", inm, r.status);
        ht_resp_free(&r);
    }
    char two[600];
    snprintf(two, sizeof two, "\"x\"\r\nIf-None-Match: %s", etag);
    EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/msgpack", two, "GET", &r), 0);
    EXPECT_INT(r.status, 304);
    ht_resp_free(&r);
    const char *misses[] = {"\"nope\"", "garbage", "\"unterminated", "W/", "\"nope\", *"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/msgpack", misses[i], "GET", &r), 0);
        HT_EXPECT_REPLY(&r, 200, NULL);
        EXPECT(ht_dossier_of(&r) != NULL);
        ht_resp_free(&r);
    }
    /* HEAD revalidates the same way. */
    EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/msgpack", etag, "HEAD", &r), 0);
    EXPECT_INT(r.status, 304);
    ht_resp_free(&r);

    /* JSON is another representation: its own tag, and the msgpack tag is no match. */
    EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/json", etag, "GET", &r), 0);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(ht_resp_header(&r, "ETag", jtag, sizeof jtag) != NULL);
    EXPECT(strcmp(jtag, etag) != 0);
    ht_resp_free(&r);
    EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/json", jtag, "GET", &r), 0);
    EXPECT_INT(r.status, 304);
    ht_resp_free(&r);

    /* Nobody learns a dossier exists from a 304: someone else's gets 404 for any tag. */
    ht_citizen_new(&w.c, &other);
    EXPECT_INT(cond_get(&w.c, path, other.token, "application/msgpack", "*", "GET", &r), 0);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);
    EXPECT_INT(cond_get(&w.c, path, other.token, "application/msgpack", etag, "GET", &r), 0);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);
    EXPECT_INT(cond_get(&w.c, "/v1/dossiers/NO-SUCH-CODE", w.cit.token, "application/msgpack", "*", "GET", &r), 0);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);

    /* A move changes the tag: the old one gets the new dossier, which the officer (an
     * agency reader) sees with the same tag as the citizen. */
    EXPECT_INT(ht_transition(&w.c, &w.off, code, 2, -1, &r), 200);
    ht_resp_free(&r);
    EXPECT_INT(cond_get(&w.c, path, w.cit.token, "application/msgpack", etag, "GET", &r), 0);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "status"), 2);
    EXPECT(ht_resp_header(&r, "ETag", v, sizeof v) != NULL);
    EXPECT(strcmp(v, etag) != 0);
    snprintf(etag, sizeof etag, "%s", v);
    ht_resp_free(&r);
    EXPECT_INT(cond_get(&w.c, path, w.off.token, "application/msgpack", etag, "GET", &r), 0);
    EXPECT_INT(r.status, 304);
    ht_resp_free(&r);
    ht_world_stop(&w);
}

static void test_headers(void)
{
    ht_world w;
    ht_resp r;
    char v[128];
    ht_world_start(&w, NULL);

    ht_mp_call(&w.c, "DELETE", "/v1/dossiers", w.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 405, "METHOD_NOT_ALLOWED");
    EXPECT(ht_resp_header(&r, "Allow", v, sizeof v) != NULL);
    EXPECT(strstr(v, "GET") && strstr(v, "HEAD") && strstr(v, "POST") && !strstr(v, "DELETE"));
    ht_resp_free(&r);
    ht_mp_call(&w.c, "GET", "/v1/auth/login", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 405, "METHOD_NOT_ALLOWED");
    EXPECT_STR(ht_resp_header(&r, "Allow", v, sizeof v), "POST");
    ht_resp_free(&r);

    ht_mp_call(&w.c, "GET", "/v1/dossiers", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    EXPECT(ht_resp_header(&r, "WWW-Authenticate", v, sizeof v) && strncmp(v, "Bearer", 6) == 0);
    ht_resp_free(&r);
    ht_mp_call(&w.c, "GET", "/v1/dossiers", "not-a-token", NULL, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    EXPECT(ht_resp_header(&r, "WWW-Authenticate", v, sizeof v) != NULL);
    ht_resp_free(&r);

    /* The stored reply of a repeated op_id says so; the first one does not. */
    json_t *body = ht_valid_submit(&w.svc, NULL);
    ht_mp_callj(&w.c, "POST", "/v1/dossiers", w.cit.token, body, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    EXPECT(ht_resp_header(&r, "Idempotent-Replayed", v, sizeof v) == NULL);
    ht_resp_free(&r);
    ht_mp_callj(&w.c, "POST", "/v1/dossiers", w.cit.token, body, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    EXPECT_STR(ht_resp_header(&r, "Idempotent-Replayed", v, sizeof v), "true");
    ht_resp_free(&r);
    json_decref(body);

    /* Dates of /v1/stats are real YYYYMMDD days. */
    ht_mp_call(&w.c, "GET", "/v1/stats?from=2026-11-01&to=20261131", w.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "from"));
    EXPECT(ht_err_names_field(&r, "to"));
    ht_resp_free(&r);
    ht_mp_call(&w.c, "GET", "/v1/stats?from=20261101&to=20261130", w.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);

    /* X-Request-Id: the client's when sane, else one of the server's, and in the log. */
    ht_http(&w.c, "GET", "/healthz", "X-Request-Id: trace-42.a_b\r\n", NULL, 0, &r);
    EXPECT_STR(ht_resp_header(&r, "X-Request-Id", v, sizeof v), "trace-42.a_b");
    ht_resp_free(&r);
    ht_http(&w.c, "GET", "/healthz", "X-Request-Id: bad id\r\n", NULL, 0, &r);
    EXPECT(ht_resp_header(&r, "X-Request-Id", v, sizeof v) && strcmp(v, "bad id") != 0 && strlen(v) >= 8);
    char made[160];
    snprintf(made, sizeof made, "id=%s ", v);
    ht_resp_free(&r);
    ht_world_stop(&w);

    char *log = read_log(&w.s);
    EXPECT(strstr(log, "id=trace-42.a_b method=GET route=healthz status=200") != NULL);
    EXPECT(strstr(log, made) != NULL);
    EXPECT(strstr(log, "route=dossier_submit status=201") != NULL);
    /* No token, password or id number of the citizen reaches the log. */
    EXPECT(strstr(log, w.cit.token) == NULL);
    EXPECT(strstr(log, w.cit.password) == NULL);
    EXPECT(strstr(log, w.cit.login) == NULL);
    free(log);
}

static void test_json_log(void)
{
    ht_server s;
    ht_conn c;
    ht_resp r;
    ht_server_start(&s, "--log-format json");
    ht_conn_init(&c, s.port);
    ht_http(&c, "GET", "/healthz", "X-Request-Id: json-1\r\n", NULL, 0, &r);
    ht_resp_free(&r);
    ht_conn_close(&c);
    ht_server_stop(&s);
    char *log = read_log(&s), *save = NULL;
    int found = 0;
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j) ht_fail("log line is not JSON: %s", line);
        EXPECT(ht_jstr(j, "time") && ht_jstr(j, "level") && ht_jstr(j, "msg"));
        if (ht_jstr(j, "id") && strcmp(ht_jstr(j, "id"), "json-1") == 0) {
            EXPECT_STR(ht_jstr(j, "msg"), "request");
            EXPECT_STR(ht_jstr(j, "route"), "healthz");
            EXPECT_INT(ht_jint(j, "status"), 200);
            found = 1;
        }
        json_decref(j);
    }
    EXPECT(found);
    free(log);
}

/* 20,000 unknown HTTP/2 frames make h2o print a line each: the log keeps a handful. */
static void test_library_lines_are_limited(void)
{
    ht_server s;
    ht_server_start(&s, "--log-level warn");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_INT(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    EXPECT_INT(write(fd, preface, sizeof preface - 1), sizeof preface - 1);
    EXPECT_INT(write(fd, settings, sizeof settings), sizeof settings);
    uint8_t frames[17 * 1000];
    for (int i = 0; i < 1000; i++) {
        uint8_t *f = frames + 17 * i;
        memcpy(f, (uint8_t[]){0, 0, 8, 0xfe, 0, 0, 0, 0, 0}, 9);
        memset(f + 9, 'x', 8);
    }
    for (int k = 0; k < 20; k++) {
        size_t off = 0;
        while (off < sizeof frames) {
            ssize_t n = write(fd, frames + off, sizeof frames - off);
            if (n <= 0) ht_fail("the server closed the connection after %d thousand frames", k);
            off += (size_t)n;
        }
    }
    usleep(300 * 1000);
    close(fd);
    ht_server_stop(&s);
    char *out = NULL;
    ht_sh(&out, "grep -c 'source=stderr' '%s'", s.log);
    int lines = atoi(out);
    free(out);
    if (lines < 1 || lines > 60) ht_fail("%d library lines for 20000 frames", lines);
    /* The rest is counted when the server stops. */
    ht_sh(&out, "grep -c 'repeated' '%s'", s.log);
    EXPECT(atoi(out) >= 1);
    free(out);
}

UNIT_MAIN(UNIT(test_head), UNIT(test_conditional_get), UNIT(test_headers), UNIT(test_json_log), UNIT(test_library_lines_are_limited))
