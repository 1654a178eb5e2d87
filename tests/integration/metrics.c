/*
 * metrics.c - the operations endpoints: /healthz answers, /metrics (Prometheus text)
 * counts requests by route and status and shows the writer's batches once something
 * was written. Read both with the test client and with curl, as a scraper would.
 */
#include <sys/resource.h>
#include "hoso_test.h"

static void test_healthz(void)
{
    ht_server s;
    ht_server_start(&s, NULL);
    ht_conn c;
    ht_conn_init(&c, s.port);
    ht_resp r;
    ht_http(&c, "GET", "/healthz", NULL, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    /* A plain probe (no Accept) gets JSON. */
    EXPECT(strstr(r.ctype, "application/json") != NULL);
    EXPECT_STR(ht_jstr(r.json, "status"), "ok");
    ht_resp_free(&r);
    ht_json_call(&c, "GET", "/healthz", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_STR(ht_jstr(r.json, "status"), "ok");
    const char *epoch = ht_jstr(r.json, "epoch");
    EXPECT(epoch && strlen(epoch) == 32);
    ht_resp_free(&r);
    /* Unknown paths and methods are errors in the one shape. */
    ht_mp_call(&c, "GET", "/v1/nothing-here", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);
    ht_mp_call(&c, "DELETE", "/v1/services", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 405, "METHOD_NOT_ALLOWED");
    ht_resp_free(&r);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

static void test_metrics_after_writes(void)
{
    ht_server s;
    ht_server_start(&s, NULL);
    ht_conn c;
    ht_conn_init(&c, s.port);
    ht_user u;
    ht_citizen_new(&c, &u);
    ht_service svc;
    ht_service_pick(&c, &svc, 0, NULL);
    char code[128];
    for (int i = 0; i < 5; i++) ht_submit(&c, &u, &svc, code, sizeof(code));
    ht_resp r;
    ht_get_dossier(&c, u.token, "000.00.00.X00-000101-0000", &r);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);

    ht_http(&c, "GET", "/metrics", NULL, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(strncmp(r.ctype, "text/plain", 10) == 0);
    const char *m = r.body;
    double submits = ht_metric_sample(m, "hoso_http_requests_total{route=\"dossier_submit\",status=\"201\"}");
    if (submits < 5) ht_fail("dossier_submit 201 counter is %g, want >= 5:\n%.3000s", submits, m);
    EXPECT(ht_metric_sample(m, "hoso_http_requests_total{route=\"dossier_get\",status=\"404\"}") >= 1);
    EXPECT(ht_metric_sample(m, "hoso_http_requests_total{route=\"auth_register\"") >= 1);
    EXPECT(ht_metric_sample(m, "hoso_http_request_duration_seconds_count{route=\"dossier_submit\"") >= 5);
    /* Five submits at least were written: at least one commit, and the batch
     * histogram counts every op written. */
    EXPECT(ht_metric_sample(m, "hoso_writer_commits_total") >= 1);
    double ops = ht_metric_sample(m, "hoso_writer_batch_size_sum");
    if (ops < 5) ht_fail("hoso_writer_batch_size_sum is %g, want >= 5", ops);
    EXPECT(ht_metric_sample(m, "hoso_writer_batch_size_count") >= 1);
    EXPECT(ht_metric_sample(m, "hoso_writer_batch_size_bucket{le=\"+Inf\"}") == ht_metric_sample(m, "hoso_writer_batch_size_count"));
    EXPECT(ht_metric_sample(m, "hoso_writer_commit_duration_seconds_count") >= 1);
    EXPECT(ht_metric_sample(m, "hoso_log_head") >= 5);
    ht_resp_free(&r);

    /* The same exposition through curl. */
    char *out = NULL;
    int rc = ht_sh(&out, "curl -sS --max-time 10 http://127.0.0.1:%d/metrics", s.port);
    EXPECT_INT(rc, 0);
    EXPECT(ht_metric_sample(out, "hoso_http_requests_total{route=\"metrics\",status=\"200\"}") >= 1);
    free(out);
    ht_service_free(&svc);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

/* Started with a low soft limit on open files (as a shell's 1024), hosod raises it to
 * the hard limit: each subscribed phone holds a descriptor. */
static void test_open_files_limit(void)
{
    struct rlimit mine, low;
    EXPECT_INT(getrlimit(RLIMIT_NOFILE, &mine), 0);
    if (mine.rlim_max <= 256) {
        printf("skip: the hard limit on open files is %llu\n", (unsigned long long)mine.rlim_max);
        return;
    }
    low = mine;
    low.rlim_cur = 256;
    EXPECT_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    ht_server s;
    ht_server_start(&s, NULL); /* inherits 256 */
    EXPECT_INT(setrlimit(RLIMIT_NOFILE, &mine), 0);
    ht_conn c;
    ht_conn_init(&c, s.port);
    ht_resp r;
    ht_http(&c, "GET", "/metrics", NULL, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    double want = mine.rlim_max == RLIM_INFINITY ? (double)(1 << 20) : (double)mine.rlim_max;
    double got = ht_metric_sample(r.body, "process_max_fds");
    if (got != want)
        ht_fail("process_max_fds is %g, want the hard limit %g", got, want);
    ht_resp_free(&r);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

UNIT_MAIN(UNIT(test_healthz), UNIT(test_metrics_after_writes), UNIT(test_open_files_limit))
