/*
 * idempotency.c - an op_id makes a change happen once. Repeating it (a retry after a
 * lost reply, the offline outbox sent twice, two connections racing) returns the first
 * reply and stores nothing more; another op_id is another change.
 */
#include "hoso_test.h"

#include <pthread.h>

typedef ht_world fixture;

static void expect_same_reply(const ht_resp *a, const ht_resp *b)
{
    if (a->status != b->status || !json_equal(a->json, b->json))
        ht_fail("the repeated op got another reply:\n first  %d %s\n second %d %s", a->status, ht_dump(a->json),
                b->status, ht_dump(b->json));
}

static void test_submit_twice(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    json_t *body = ht_valid_submit(&f.svc, "app-outbox-0001");
    ht_resp r1, r2, r3;
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", f.cit.token, body, &r1);
    HT_EXPECT_REPLY(&r1, 201, NULL);
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", f.cit.token, body, &r2);
    expect_same_reply(&r1, &r2);
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 1);

    /* Same op_id, different (valid) content: still the first result, nothing new. */
    json_object_set_new(body, "channel", json_string("zalo"));
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", f.cit.token, body, &r3);
    expect_same_reply(&r1, &r3);
    EXPECT_STR(ht_jstr(ht_dossier_of(&r3), "channel"), "app");
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 1);
    ht_resp_free(&r3);

    /* A new op_id is a new dossier. */
    json_decref(body);
    body = ht_valid_submit(&f.svc, "app-outbox-0002");
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", f.cit.token, body, &r3);
    HT_EXPECT_REPLY(&r3, 201, NULL);
    if (strcmp(ht_jstr(ht_dossier_of(&r3), "code"), ht_jstr(ht_dossier_of(&r1), "code")) == 0)
        ht_fail("a new op_id returned the old dossier %s", ht_jstr(ht_dossier_of(&r1), "code"));
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 2);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    ht_resp_free(&r3);
    json_decref(body);

    /* op_ids belong to an account: another citizen's same op_id is its own dossier. */
    ht_user other;
    ht_citizen_new(&f.c, &other);
    body = ht_valid_submit(&f.svc, "app-outbox-0001");
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", other.token, body, &r1);
    HT_EXPECT_REPLY(&r1, 201, NULL);
    ht_resp_free(&r1);
    json_decref(body);
    EXPECT_INT(ht_count_list(&f.c, other.token, "/v1/dossiers"), 1);
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 2);
    EXPECT_INT(ht_count_list(&f.c, f.off.token, "/v1/agency/dossiers"), 3);
    ht_world_stop(&f);
}

typedef struct racer {
    int port;
    const char *token;
    json_t *body;
    pthread_barrier_t *go;
    int status;
    char code[128];
    json_t *reply;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    ht_conn c;
    ht_conn_init(&c, r->port);
    ht_resp resp;
    /* Connect first so that the requests leave together. */
    ht_mp_call(&c, "GET", "/healthz", NULL, NULL, &resp);
    ht_resp_free(&resp);
    pthread_barrier_wait(r->go);
    if (ht_mp_callj(&c, "POST", "/v1/dossiers", r->token, r->body, &resp) == 0) {
        r->status = resp.status;
        r->reply = resp.json ? json_incref(resp.json) : NULL;
    }
    ht_resp_free(&resp);
    ht_conn_close(&c);
    return NULL;
}

static void test_concurrent_same_op(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    enum { N = 6 };
    for (int round = 0; round < 5; round++) {
        char op[64];
        snprintf(op, sizeof(op), "race-%d", round);
        json_t *body = ht_valid_submit(&f.svc, op);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        racer rs[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            rs[i] = (racer){.port = f.s.port, .token = f.cit.token, .body = body, .go = &go};
            pthread_create(&th[i], NULL, race, &rs[i]);
        }
        for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < N; i++) {
            EXPECT_INT(rs[i].status, 201);
            if (!json_equal(rs[i].reply, rs[0].reply))
                ht_fail("racer %d got %s, racer 0 got %s", i, ht_dump(rs[i].reply), ht_dump(rs[0].reply));
        }
        for (int i = 0; i < N; i++) json_decref(rs[i].reply);
        json_decref(body);
        EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), round + 1);
    }
    ht_world_stop(&f);
}

/* Changes to a dossier: replaying the op after the dossier moved on still returns the
 * first reply (not ILLEGAL_TRANSITION), and the version moved once. */
static void test_replayed_changes(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    char code[128];
    ht_submit(&f.c, &f.cit, &f.svc, code, sizeof(code));
    ht_resp r1, r2;
    char path[256];
    long long v = -1;
    static const int to[] = {2, 4, 5};
    for (int i = 0; i < 3; i++) {
        ht_transition(&f.c, &f.off, code, to[i], -1, &r1);
        HT_EXPECT_REPLY(&r1, 200, NULL);
        v = ht_jint(ht_dossier_of(&r1), "version");
        ht_resp_free(&r1);
    }
    snprintf(path, sizeof(path), "/v1/dossiers/%s/supplement", code);
    json_t *b = json_pack("{s:o, s:s}", "form", ht_valid_form(&f.svc), "op_id", "supp-1");
    ht_mp_callj(&f.c, "POST", path, f.cit.token, b, &r1);
    HT_EXPECT_REPLY(&r1, 200, NULL);
    EXPECT_INT(ht_jint(ht_dossier_of(&r1), "version"), v + 1);
    ht_mp_callj(&f.c, "POST", path, f.cit.token, b, &r2);
    expect_same_reply(&r1, &r2);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    json_decref(b);

    /* Rating before the result is returned: refused, and the refusal is stored. */
    char rpath[256];
    snprintf(rpath, sizeof(rpath), "/v1/dossiers/%s/rating", code);
    json_t *early = json_pack("{s:{s:i}, s:s}", "answers", "overall", 5, "op_id", "rate-1");
    ht_resp refused;
    ht_mp_callj(&f.c, "POST", rpath, f.cit.token, early, &refused);
    HT_EXPECT_REPLY(&refused, 409, "ILLEGAL_TRANSITION");

    /* The officer's transition with an op_id, replayed after the dossier moved on. */
    snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", code);
    b = json_pack("{s:i, s:I, s:s, s:s, s:s}", "to", 9, "version", (json_int_t)(v + 1), "note", "xong", "result",
                  "Giấy phép", "op_id", "officer-op-9");
    ht_mp_callj(&f.c, "POST", path, f.off.token, b, &r1);
    HT_EXPECT_REPLY(&r1, 200, NULL);
    ht_resp t;
    ht_transition(&f.c, &f.off, code, 10, v + 2, &t);
    HT_EXPECT_REPLY(&t, 200, NULL);
    ht_resp_free(&t);
    ht_mp_callj(&f.c, "POST", path, f.off.token, b, &r2);
    expect_same_reply(&r1, &r2);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    json_decref(b);

    ht_get_dossier(&f.c, f.cit.token, code, &r1);
    EXPECT_INT(ht_jint(ht_dossier_of(&r1), "status"), 10);
    EXPECT_INT(ht_jint(ht_dossier_of(&r1), "version"), v + 3);
    EXPECT_INT(json_array_size(ht_j(ht_dossier_of(&r1), "history")), 7);
    ht_resp_free(&r1);

    /* A refused op stays refused: the rating sent before status 10 with op "rate-1"
     * is refused again now that the dossier is at 10, and rated stays false. */
    ht_mp_callj(&f.c, "POST", rpath, f.cit.token, early, &r1);
    expect_same_reply(&refused, &r1);
    ht_resp_free(&r1);
    ht_resp_free(&refused);
    json_decref(early);
    ht_get_dossier(&f.c, f.cit.token, code, &r1);
    EXPECT(json_is_false(json_object_get(ht_dossier_of(&r1), "rated")));
    ht_resp_free(&r1);
    /* A new op_id rates; replaying it is the first rating, not "already rated". */
    b = json_pack("{s:{s:i}, s:s}", "answers", "overall", 5, "op_id", "rate-2");
    ht_mp_callj(&f.c, "POST", rpath, f.cit.token, b, &r1);
    HT_EXPECT_REPLY(&r1, 200, NULL);
    ht_mp_callj(&f.c, "POST", rpath, f.cit.token, b, &r2);
    expect_same_reply(&r1, &r2);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    json_decref(b);
    ht_get_dossier(&f.c, f.cit.token, code, &r1);
    EXPECT_INT(ht_jint(ht_dossier_of(&r1), "version"), v + 4);
    ht_resp_free(&r1);
    ht_world_stop(&f);
}

UNIT_MAIN(UNIT(test_submit_twice), UNIT(test_concurrent_same_op), UNIT(test_replayed_changes))
