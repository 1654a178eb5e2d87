/*
 * http2.c - hosod speaks HTTP/2 over cleartext as well as HTTP/1.1: checked with the
 * real curl, both with prior knowledge and through the HTTP/1.1 Upgrade, on a public
 * route and on an authenticated one with a JSON body.
 */
#include "hoso_test.h"

/* Runs curl with args; returns its stdout (the -w output at the end). */
static char *curl_out(const char *fmt, const char *a, const char *b)
{
    char *out = NULL;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), fmt, a, b);
    int st = ht_sh(&out, "%s", cmd);
    if (st != 0) ht_fail("curl exited %d: %s", st, cmd);
    return out;
}

static void test_h2c(void)
{
    ht_server s;
    ht_conn c;
    ht_user u;
    char url[128], auth[400];
    ht_server_start(&s, NULL);
    ht_conn_init(&c, s.port);
    ht_citizen_new(&c, &u);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", s.port);
    char *out = curl_out("curl -sS --max-time 10 --http2-prior-knowledge -w ' %%{http_version} %%{http_code}' %s%s", url, "");
    EXPECT(strstr(out, "\"status\":\"ok\"") != NULL);
    EXPECT(strstr(out, " 2 200") != NULL);
    free(out);

    out = curl_out("curl -sS --max-time 10 --http2 -w ' %%{http_version} %%{http_code}' %s%s", url, "");
    EXPECT(strstr(out, " 2 200") != NULL);
    free(out);

    /* An authenticated route with a JSON body, and an error in the one shape. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/feedback", s.port);
    snprintf(auth, sizeof(auth), "-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "
                                 "-H 'Accept: application/json'", u.token);
    out = curl_out("curl -sS --max-time 10 --http2-prior-knowledge %s -d '{\"text\":\"Thủ tục nhanh\",\"op_id\":\"h2-1\"}' "
                   "-w ' %%{http_version} %%{http_code}' %s", auth, url);
    EXPECT(strstr(out, " 2 201") != NULL);
    free(out);
    out = curl_out("curl -sS --max-time 10 --http2-prior-knowledge %s -d '{\"op_id\":\"h2-2\"}' "
                   "-w ' %%{http_version} %%{http_code}' %s", auth, url);
    EXPECT(strstr(out, "\"VALIDATION_FAILED\"") != NULL);
    EXPECT(strstr(out, " 2 422") != NULL);
    free(out);

    ht_conn_close(&c);
    ht_server_stop(&s);
}

UNIT_MAIN(UNIT(test_h2c))
