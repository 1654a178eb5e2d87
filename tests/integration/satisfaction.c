/*
 * satisfaction.c - the month's ratings per agency, service and question
 * (GET /v1/stats/satisfaction): counted when the citizen rates, never linked to the
 * citizen or the dossier, and shown as numbers only from 5 ratings on a cell.
 */
#include <time.h>
#include "hoso_test.h"

static ht_world W;

/* A dossier taken to 10 (result returned) and rated by its citizen. */
static void finish_and_rate(int thai_do, int thoi_gian)
{
    char code[128], path[256], op[80];
    ht_resp r;
    long long v = 1;
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    for (int i = 0; i < 4; i++) {
        static const int path_to[] = {2, 4, 9, 10};
        if (ht_transition(&W.c, &W.off, code, path_to[i], v, &r) != 200)
            HT_EXPECT_REPLY(&r, 200, NULL);
        v = ht_jint(ht_dossier_of(&r), "version");
        ht_resp_free(&r);
    }
    ht_op_id(op, sizeof op);
    snprintf(path, sizeof path, "/v1/dossiers/%s/rating", code);
    json_t *b = json_pack("{s:s, s:{s:i, s:i}}", "op_id", op, "answers", "thai_do", thai_do, "thoi_gian", thoi_gian);
    ht_mp_callj(&W.c, "POST", path, W.cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
}

static json_t *cell(const json_t *reply, const char *question)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(reply, "rows"), i, row)
        if (strcmp(ht_jstr(row, "question"), question) == 0)
            return row;
    return NULL;
}

static void test_counted_and_suppressed_below_five(void)
{
    ht_resp r;
    char month[8], path[64];
    time_t now = time(NULL) + 7 * 3600; /* the month in Asia/Ho_Chi_Minh */
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(month, sizeof month, "%Y-%m", &tm);
    snprintf(path, sizeof path, "/v1/stats/satisfaction?month=%s", month);

    ht_world_start(&W, NULL);
    for (int i = 0; i < 4; i++)
        finish_and_rate(5, 3 + (i % 2));
    ht_json_call(&W.c, "GET", path, W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *c = cell(r.json, "thai_do");
    EXPECT(c != NULL);
    EXPECT_INT(ht_jint(c, "count"), 4);
    EXPECT(json_is_true(json_object_get(c, "suppressed")));
    EXPECT(json_object_get(c, "avg") == NULL && json_object_get(c, "dist") == NULL);
    ht_resp_free(&r);

    finish_and_rate(4, 4);
    ht_json_call(&W.c, "GET", path, W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    c = cell(r.json, "thai_do");
    EXPECT_INT(ht_jint(c, "count"), 5);
    EXPECT(json_object_get(c, "suppressed") == NULL);
    EXPECT(json_real_value(json_object_get(c, "avg")) > 4.79 && json_real_value(json_object_get(c, "avg")) < 4.81);
    EXPECT_INT(ht_jint(c, "dist.3"), 1); /* one 4 */
    EXPECT_INT(ht_jint(c, "dist.4"), 4); /* four 5s */
    c = cell(r.json, "thoi_gian");
    EXPECT_INT(ht_jint(c, "count"), 5);
    EXPECT_STR(ht_jstr(c, "service"), W.svc.code);
    EXPECT_INT(json_object_size(c), 6); /* agency, service, question, count, avg, dist: nobody's name */
    ht_resp_free(&r);

    /* Another month has nothing; a month is required. */
    ht_json_call(&W.c, "GET", "/v1/stats/satisfaction?month=2020-01", W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(json_object_get(r.json, "rows")), 0);
    ht_resp_free(&r);
    ht_json_call(&W.c, "GET", "/v1/stats/satisfaction?month=2026-13", W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    ht_resp_free(&r);
    ht_json_call(&W.c, "GET", "/v1/stats/satisfaction", W.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 403, "FORBIDDEN");
    ht_resp_free(&r);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_counted_and_suppressed_below_five))
