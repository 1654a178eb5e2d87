/*
 * overdue.c - the overdue scheduler: at a dossier's due time hosod appends
 * dossier.overdue to the citizen's feed and lists the dossier in
 * GET /v1/agency/dossiers?overdue=1, exactly once per due date, across restarts (a
 * due time that passed while hosod was down fires at start); an apology with a new
 * due date clears the mark and re-arms it; a result clears it.
 */
#include <time.h>
#include "hoso_test.h"

static ht_world W;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* dossier.overdue events of code in the citizen's feed. */
static int overdue_events(const char *code)
{
    ht_resp r;
    int n = 0;
    ht_json_call(&W.c, "GET", "/v1/sync?since=0&limit=1000", W.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *items = ht_items(&r, "events");
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) {
        const char *type = ht_jstr(e, "type");
        const char *c = ht_jstr(e, "dossier.code");
        if (type && c && strcmp(type, "dossier.overdue") == 0 && strcmp(c, code) == 0)
            n++;
    }
    ht_resp_free(&r);
    return n;
}

/* 1 if code is in the officer's overdue list. */
static int listed_overdue(const char *code)
{
    ht_resp r;
    int found = 0;
    ht_json_call(&W.c, "GET", "/v1/agency/dossiers?overdue=1", W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *items = ht_items(&r, "dossiers");
    size_t i;
    json_t *d;
    json_array_foreach(items, i, d)
        found |= ht_jstr(d, "code") != NULL && strcmp(ht_jstr(d, "code"), code) == 0;
    ht_resp_free(&r);
    return found;
}

static void wait_events(const char *code, int want)
{
    int64_t end = ht_mono_ms() + 8000;
    while (overdue_events(code) < want && ht_mono_ms() < end)
        sleep_ms(100);
    EXPECT_INT(overdue_events(code), want);
}

static long long accept_due(const char *code, int64_t due_in_ms)
{
    ht_resp r;
    char path[256], body[128];
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/transitions", code);
    snprintf(body, sizeof body, "{\"to\":2,\"version\":1,\"due_at\":%lld}", (long long)(ht_now_ms() + due_in_ms));
    ht_json_call(&W.c, "POST", path, W.off.token, body, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    long long v = ht_jint(ht_dossier_of(&r), "version");
    ht_resp_free(&r);
    return v;
}

static void test_fires_once_rearms_and_clears(void)
{
    char code[128], path[256], body[256];
    ht_resp r;
    ht_world_start(&W, NULL);
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    long long v = accept_due(code, 1200);
    EXPECT_INT(overdue_events(code), 0);
    EXPECT(!listed_overdue(code));
    wait_events(code, 1);
    EXPECT(listed_overdue(code));

    /* Moving on while late does not fire again. */
    if (ht_transition(&W.c, &W.off, code, 4, v, &r) != 200)
        HT_EXPECT_REPLY(&r, 200, NULL);
    v = ht_jint(ht_dossier_of(&r), "version");
    ht_resp_free(&r);
    sleep_ms(1500);
    EXPECT_INT(overdue_events(code), 1);
    EXPECT(listed_overdue(code));

    /* An apology with a new due date clears the mark and re-arms it. */
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/apology", code);
    snprintf(body, sizeof body, "{\"new_due_at\":%lld,\"reason\":\"Cần xác minh thêm\"}", (long long)(ht_now_ms() + 1200));
    ht_json_call(&W.c, "POST", path, W.off.token, body, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    v = ht_jint(ht_dossier_of(&r), "version");
    ht_resp_free(&r);
    EXPECT(!listed_overdue(code));
    wait_events(code, 2);
    EXPECT(listed_overdue(code));

    /* The result is ready: not overdue any more. */
    if (ht_transition(&W.c, &W.off, code, 9, v, &r) != 200)
        HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    EXPECT(!listed_overdue(code));

    /* The day's statistics count both due times that passed. */
    ht_json_call(&W.c, "GET", "/v1/stats", W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(ht_jint(r.json, "rows.0.overdue"), 2);
    ht_resp_free(&r);

    /* A bad flag is refused. */
    ht_json_call(&W.c, "GET", "/v1/agency/dossiers?overdue=yes", W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    ht_resp_free(&r);
    ht_world_stop(&W);
}

/* A due time that passes while hosod is down fires at the next start, once. */
static void test_due_time_passed_while_down(void)
{
    char code[128];
    ht_world_start(&W, NULL);
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    accept_due(code, 800);
    ht_server_stop(&W.s);
    sleep_ms(1500);
    ht_server_restart(&W.s);
    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    wait_events(code, 1);
    EXPECT(listed_overdue(code));
    ht_server_stop(&W.s);
    ht_server_restart(&W.s);
    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    sleep_ms(1000);
    EXPECT_INT(overdue_events(code), 1);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_fires_once_rearms_and_clears), UNIT(test_due_time_passed_while_down))
