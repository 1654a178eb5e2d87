/*
 * tls.c - hosod over TLS, with a certificate authority the test makes with openssl:
 * curl over HTTP/1.1 and HTTP/2 (ALPN), TLS 1.1 refused, an unknown authority refused,
 * Strict-Transport-Security on replies, the C SDK over HTTPS and WSS verifying the
 * certificate (and refusing without the CA), and a certificate reloaded on SIGHUP
 * while a WebSocket stays open and keeps receiving events.
 */
#define _GNU_SOURCE /* strcasestr */
#include <signal.h>
#include <uv.h>
#include "hoso_client.h"
#include "hoso_test.h"

static char g_certs[PATH_MAX];

/* A CA and a server certificate for 127.0.0.1 signed by it, named NAME.pem/NAME.key. */
static void make_certs(void)
{
    snprintf(g_certs, sizeof g_certs, "%s/certs-XXXXXX", ht_tmpdir());
    if (!mkdtemp(g_certs)) ht_fail("mkdtemp: %s", strerror(errno));
    int rc = ht_sh(NULL,
                   "cd '%s' && "
                   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
                   "-days 2 -subj '/CN=hoso test CA' 2>/dev/null && "
                   "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext && "
                   "for n in first second; do "
                   "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $n.key -out $n.csr "
                   "-subj \"/CN=hoso $n\" 2>/dev/null && "
                   "openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 2 "
                   "-extfile ext 2>/dev/null || exit 1; done && "
                   "cp first.pem srv.pem && cp first.key srv.key",
                   g_certs);
    if (rc != 0) ht_fail("openssl could not make the test certificates");
}

/* curl over TLS with the test CA; returns curl's exit status, output in *out. */
static int curl(char **out, const ht_server *s, const char *args)
{
    return ht_sh(out, "curl -sS --max-time 10 --cacert '%s/ca.pem' %s 2>&1", g_certs, args);
}

static json_t *curl_json(const ht_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *curl_json(const ht_server *s, const char *fmt, ...)
{
    char args[4096], *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char full[4400];
    snprintf(full, sizeof full, "--fail-with-body -H Content-Type:application/json -H Accept:application/json %s",
             args);
    if (curl(&out, s, full) != 0) ht_fail("curl %s:\n%s", args, out);
    json_t *j = json_loads(out, 0, NULL);
    if (!j) ht_fail("not JSON: %s", out);
    free(out);
    return j;
}

static struct {
    uv_loop_t loop;
    hoso_client *c;
    int live, drops, events, done, login_err;
    char last_type[32];
} C;

static void on_event(hoso_client *c, const hoso_client_event *ev, void *ud)
{
    C.events++;
    snprintf(C.last_type, sizeof C.last_type, "%s", ev->type);
}

static void on_push_state(hoso_client *c, hoso_push_state st, const hoso_client_error *why, void *ud)
{
    if (st == HOSO_PUSH_LIVE) C.live = 1;
    else if (C.live) C.live = 0, C.drops++;
}

static void on_login(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    C.login_err = r->error.err;
    C.done = 1;
}

static void client_open(const ht_server *s, const char *ca)
{
    char state[PATH_MAX], url[64], caf[PATH_MAX + 16];
    ht_sdk_paths(s, state, url);
    snprintf(url, sizeof url, "https://127.0.0.1:%d", s->port);
    snprintf(caf, sizeof caf, "%s/ca.pem", g_certs);
    memset(&C, 0, sizeof C);
    uv_loop_init(&C.loop);
    hoso_client_options opt = {.base_url = url, .state_dir = state, .ca_file = ca ? caf : NULL,
                               .backoff_min_ms = 100, .backoff_max_ms = 500, .request_timeout_ms = 5000};
    hoso_client_callbacks cbs = {.on_event = on_event, .on_push_state = on_push_state};
    EXPECT_INT(hoso_client_new(&C.c, &C.loop, &opt, &cbs), 0);
}

static void client_close(void)
{
    hoso_client_free(C.c);
    uv_run(&C.loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&C.loop), 0);
}

static void wait_for(const int *flag, int want, int ms, const char *what)
{
    int64_t deadline = ht_mono_ms() + ms;
    while (*flag < want) {
        if (ht_mono_ms() > deadline) ht_fail("%s: not within %d ms", what, ms);
        hoso_client_run_for(C.c, 20);
    }
}

static void test_tls(void)
{
    ht_server s;
    char extra[PATH_MAX * 2 + 64], url[128], *out = NULL;
    make_certs();
    snprintf(extra, sizeof extra, "--tls-cert %s/srv.pem --tls-key %s/srv.key", g_certs, g_certs);
    ht_server_start(&s, extra);
    snprintf(url, sizeof url, "https://127.0.0.1:%d", s.port);

    /* HTTP/1.1 and HTTP/2 by ALPN, HSTS on the reply. */
    char args[512];
    snprintf(args, sizeof args, "--http1.1 -D - -o /dev/null %s/healthz", url);
    EXPECT_INT(curl(&out, &s, args), 0);
    if (!strstr(out, "HTTP/1.1 200") || !strcasestr(out, "strict-transport-security: max-age="))
        ht_fail("HTTP/1.1 over TLS:\n%s", out);
    free(out);
    snprintf(args, sizeof args, "--http2 -o /dev/null -w '%%{http_version}' %s/healthz", url);
    EXPECT_INT(curl(&out, &s, args), 0);
    EXPECT_STR(out, "2");
    free(out);
    /* TLS 1.1 and an authority the client does not know are refused. */
    snprintf(args, sizeof args, "--tls-max 1.1 %s/healthz", url);
    EXPECT(curl(&out, &s, args) != 0);
    free(out);
    EXPECT(ht_sh(&out, "curl -sS --max-time 10 %s/healthz 2>&1", url) != 0);
    free(out);
    /* Plain HTTP on the TLS port gets nothing useful. */
    EXPECT(ht_sh(&out, "curl -sSf --max-time 5 http://127.0.0.1:%d/healthz 2>&1", s.port) != 0);
    free(out);

    /* A citizen and an officer, over HTTPS. */
    json_t *svcs = curl_json(&s, "%s/v1/services", url), *svc = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(svcs, "services"), i, it) if (strcmp(ht_jstr(it, "code"), "1.001193") == 0) svc = it;
    if (!svc) ht_fail("no service 1.001193 in the catalogue");
    ht_service service = {.svc = json_incref(svc)};
    snprintf(service.code, sizeof service.code, "%s", ht_jstr(svc, "code"));
    snprintf(service.agency, sizeof service.agency, "%s", ht_jstr(svc, "agency"));
    json_decref(svcs);
    json_t *reg = curl_json(&s, "-d '{\"id_number\":\"001099000777\",\"full_name\":\"Lê Văn Cường\",\"phone\":\"0912345678\","
                                "\"password\":\"matkhau-tls\"}' %s/v1/auth/register", url);
    json_decref(reg);
    char admin[256];
    snprintf(admin, sizeof admin, "create-officer --username tls-officer --password 'mat-khau-tls-1' --agency %s",
             service.agency);
    free(ht_admin(&s, admin));
    json_t *ol = curl_json(&s, "-d '{\"username\":\"tls-officer\",\"password\":\"mat-khau-tls-1\"}' %s/v1/auth/login", url);
    char officer[128];
    snprintf(officer, sizeof officer, "%s", ht_jstr(ol, "token"));
    json_decref(ol);

    /* Without the private CA the SDK refuses the server. */
    client_open(&s, NULL);
    EXPECT_INT(hoso_client_login(C.c, "001099000777", NULL, "matkhau-tls", on_login, NULL), 0);
    wait_for(&C.done, 1, 10000, "login without the CA");
    EXPECT(C.login_err != 0);
    client_close();

    /* With it: login, then push over WSS. */
    client_open(&s, "ca");
    EXPECT_INT(hoso_client_login(C.c, "001099000777", NULL, "matkhau-tls", on_login, NULL), 0);
    wait_for(&C.done, 1, 10000, "login");
    EXPECT_INT(C.login_err, 0);
    EXPECT_INT(hoso_client_push_start(C.c), 0);
    wait_for(&C.live, 1, 10000, "push live over WSS");
    json_t *body = ht_valid_submit(&service, NULL);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/submit.json", g_certs);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    json_t *sub = curl_json(&s, "-H 'Authorization: Bearer %s' -d @%s %s/v1/dossiers", hoso_client_token(C.c), path, url);
    char code[128];
    snprintf(code, sizeof code, "%s", ht_jstr(ht_j(sub, "dossier"), "code"));
    json_decref(sub);
    wait_for(&C.events, 1, 10000, "the dossier.created event over WSS");

    /* A new certificate on SIGHUP: new connections get it, the open WebSocket stays. */
    EXPECT_INT(ht_sh(NULL, "cd '%s' && cp second.pem srv.pem.new && cp second.key srv.key.new && "
                           "mv srv.pem.new srv.pem && mv srv.key.new srv.key", g_certs), 0);
    EXPECT_INT(kill(s.pid, SIGHUP), 0);
    int64_t deadline = ht_mono_ms() + 10000;
    for (;;) {
        int rc = ht_sh(&out, "openssl s_client -connect 127.0.0.1:%d -CAfile '%s/ca.pem' </dev/null 2>/dev/null | "
                             "openssl x509 -noout -subject", s.port, g_certs);
        int reloaded = rc == 0 && strstr(out, "hoso second") != NULL;
        free(out);
        if (reloaded) break;
        if (ht_mono_ms() > deadline) ht_fail("the new certificate was not served after SIGHUP");
        hoso_client_run_for(C.c, 100);
    }
    int before = C.events;
    json_t *mv = curl_json(&s, "-H 'Authorization: Bearer %s' -d '{\"to\":2,\"version\":1}' "
                               "%s/v1/agency/dossiers/%s/transitions", officer, url, code);
    json_decref(mv);
    wait_for(&C.events, before + 1, 10000, "an event after the reload");
    EXPECT_INT(C.drops, 0);
    EXPECT_STR(C.last_type, "dossier.status");
    /* A bad certificate file on SIGHUP keeps the old one. */
    EXPECT_INT(ht_sh(NULL, "echo broken > '%s/srv.pem'", g_certs), 0);
    EXPECT_INT(kill(s.pid, SIGHUP), 0);
    usleep(300 * 1000);
    snprintf(args, sizeof args, "-o /dev/null -w '%%{http_code}' %s/healthz", url);
    EXPECT_INT(curl(&out, &s, args), 0);
    EXPECT_STR(out, "200");
    free(out);
    client_close();
    ht_service_free(&service);
    ht_server_stop(&s);
    ht_sh(&out, "grep -c 'certificate was not reloaded' '%s'", s.log);
    EXPECT(atoi(out) >= 1);
    free(out);
}

UNIT_MAIN(UNIT(test_tls))
