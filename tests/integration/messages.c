/*
 * messages.c - a dossier's thread between its citizen and its agency's officers:
 * POST/GET /v1/dossiers/{code}/messages and /v1/agency/dossiers/{code}/messages, each
 * message a `message` event in the citizen's feed (sync and live push) and on the
 * agency's stream; nobody else reads or writes a thread; op_id replays; the offline
 * queue; and the text sealed at rest.
 */
#include "hoso_test.h"
#include "ws.h"

static ht_world W;

static json_t *post(const char *path, const ht_user *u, json_t *body, int want, const char *code)
{
    ht_resp r;
    ht_mp_callj(&W.c, "POST", path, u->token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, want, code);
    json_t *j = json_incref(r.json);
    ht_resp_free(&r);
    return j;
}

static json_t *get(const char *path, const ht_user *u, int want)
{
    ht_resp r;
    ht_json_call(&W.c, "GET", path, u->token, NULL, &r);
    HT_EXPECT_REPLY(&r, want, want == 403 ? "FORBIDDEN" : want == 404 ? "NOT_FOUND" : want == 422 ? "VALIDATION_FAILED" : NULL);
    json_t *j = json_incref(r.json);
    ht_resp_free(&r);
    return j;
}

static json_t *citizen_says(const char *code, const char *text, const char *op_id)
{
    char path[160], op[80];
    if (op_id == NULL) {
        ht_op_id(op, sizeof op);
        op_id = op;
    }
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    return post(path, &W.cit, json_pack("{s:s, s:s}", "text", text, "op_id", op_id), 201, NULL);
}

static json_t *officer_says(const char *code, const char *text)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages", code);
    return post(path, &W.off, json_pack("{s:s}", "text", text), 201, NULL);
}

static void test_thread_both_ways_live(void)
{
    char code[96], path[200];
    ht_world_start(&W, NULL);
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);

    /* The citizen's app and the officer's agency stream, both live. */
    ht_ws cit, off;
    json_t *head = get("/v1/sync?since=0", &W.cit, 200);
    json_decref(ht_ws_open_subscribed(&cit, W.s.port, W.cit.token, ht_jint(head, "next")));
    json_decref(head);
    EXPECT_INT(ht_ws_connect(&off, W.s.port, W.off.token, NULL, 0), 0);
    json_t *m = json_pack("{s:s, s:s}", "type", "subscribe", "agency", W.svc.agency);
    ht_ws_send_json(&off, m);
    json_decref(m);
    json_decref(ht_ws_expect(&off, "subscribed", 10000));

    json_t *r = citizen_says(code, "Tôi cần bổ sung giấy tờ gì?", NULL);
    EXPECT_STR(ht_jstr(r, "message.code"), code);
    EXPECT_INT(ht_jint(r, "message.seq"), 1);
    EXPECT_STR(ht_jstr(r, "message.from"), "citizen");
    EXPECT_STR(ht_jstr(r, "message.text"), "Tôi cần bổ sung giấy tờ gì?");
    EXPECT(json_is_array(ht_j(r, "message.files")));
    EXPECT(ht_j(r, "message.by") == NULL); /* who wrote it stays inside */
    json_decref(r);
    json_t *e = ht_ws_expect(&off, "event", 10000);
    EXPECT_STR(ht_jstr(e, "event"), "message");
    EXPECT_STR(ht_jstr(e, "message.text"), "Tôi cần bổ sung giấy tờ gì?");
    EXPECT_STR(ht_jstr(e, "message.code"), code);
    json_decref(e);
    e = ht_ws_expect(&cit, "event", 10000); /* the citizen's own, on their other devices */
    EXPECT_STR(ht_jstr(e, "event"), "message");
    json_decref(e);

    r = officer_says(code, "Anh/chị bổ sung bản sao giấy khai sinh.");
    EXPECT_INT(ht_jint(r, "message.seq"), 2);
    EXPECT_STR(ht_jstr(r, "message.from"), "officer");
    json_decref(r);
    e = ht_ws_expect(&cit, "event", 10000);
    EXPECT_STR(ht_jstr(e, "event"), "message");
    EXPECT_STR(ht_jstr(e, "message.from"), "officer");
    EXPECT_STR(ht_jstr(e, "message.text"), "Anh/chị bổ sung bản sao giấy khai sinh.");
    json_decref(e);
    json_decref(ht_ws_expect(&off, "event", 10000));
    ht_ws_close(&cit);
    ht_ws_close(&off);

    /* The thread, oldest first, from both sides, paged with after and limit. */
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    json_t *l = get(path, &W.cit, 200);
    EXPECT_INT(json_array_size(json_object_get(l, "messages")), 2);
    EXPECT_STR(ht_jstr(l, "messages.0.from"), "citizen");
    EXPECT_STR(ht_jstr(l, "messages.1.from"), "officer");
    EXPECT_INT(ht_jint(l, "next"), 2);
    EXPECT(json_is_false(json_object_get(l, "more")));
    json_decref(l);
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages?limit=1", code);
    l = get(path, &W.off, 200);
    EXPECT_INT(json_array_size(json_object_get(l, "messages")), 1);
    EXPECT(json_is_true(json_object_get(l, "more")));
    EXPECT_INT(ht_jint(l, "next"), 1);
    json_decref(l);
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages?after=1", code);
    l = get(path, &W.off, 200);
    EXPECT_INT(json_array_size(json_object_get(l, "messages")), 1);
    EXPECT_INT(ht_jint(l, "messages.0.seq"), 2);
    json_decref(l);

    /* Sync carries them as message events; the dossier itself did not change. */
    json_t *s = get("/v1/sync?since=0", &W.cit, 200);
    int n = 0;
    size_t i;
    json_array_foreach(json_object_get(s, "events"), i, e) n += strcmp(ht_jstr(e, "type"), "message") == 0;
    EXPECT_INT(n, 2);
    json_decref(s);
    ht_resp g;
    ht_get_dossier(&W.c, W.cit.token, code, &g);
    EXPECT_INT(ht_jint(ht_dossier_of(&g), "version"), 1);
    ht_resp_free(&g);
    ht_world_stop(&W);
}

static void test_only_its_people(void)
{
    char code[96], path[200];
    ht_world_start(&W, NULL);
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    json_decref(citizen_says(code, "Xin chào", NULL));

    /* Another citizen, an officer of another agency: the same 404 as an unknown code. */
    ht_user other, off2;
    ht_service svc2;
    ht_citizen_new(&W.c, &other);
    ht_service_pick(&W.c, &svc2, 0, W.svc.agency);
    if (strcmp(svc2.agency, W.svc.agency) == 0) ht_fail("the catalogue has one agency only");
    ht_officer_new(&W.s, &W.c, svc2.agency, &off2);
    ht_service_free(&svc2);
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    json_decref(get(path, &other, 404));
    json_decref(post(path, &other, json_pack("{s:s, s:s}", "text", "x", "op_id", "o-1"), 404, "NOT_FOUND"));
    json_decref(get("/v1/dossiers/000.00.12.H29-000000-0000/messages", &W.cit, 404));
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages", code);
    json_decref(get(path, &off2, 404));
    json_decref(post(path, &off2, json_pack("{s:s}", "text", "x"), 404, "NOT_FOUND"));
    /* Each side on its own path only. */
    json_decref(get(path, &W.cit, 403));
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    json_decref(post(path, &W.off, json_pack("{s:s, s:s}", "text", "x", "op_id", "o-2"), 403, "FORBIDDEN"));

    /* Bad input: a clear 422 naming the field, and nothing stored. */
    json_decref(post(path, &W.cit, json_pack("{s:s, s:s}", "text", "", "op_id", "o-3"), 422, "VALIDATION_FAILED"));
    char *big = malloc(4002);
    memset(big, 'a', 4001);
    big[4001] = '\0';
    ht_resp r;
    json_t *b = json_pack("{s:s, s:s}", "text", big, "op_id", "o-4");
    ht_mp_callj(&W.c, "POST", path, W.cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "text"));
    ht_resp_free(&r);
    free(big);
    b = json_pack("{s:s}", "text", "no op id");
    ht_mp_callj(&W.c, "POST", path, W.cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "op_id"));
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages?after=x", code);
    json_decref(get(path, &W.cit, 422));
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    json_t *l = get(path, &W.cit, 200);
    EXPECT_INT(json_array_size(json_object_get(l, "messages")), 1);
    json_decref(l);
    ht_world_stop(&W);
}

/* A repeated op_id gets the first reply and stores nothing more; the offline queue
 * (POST /v1/sync) sends messages like any op; the text never rests in the clear. */
static void test_replay_queue_and_sealed(void)
{
    char code[96], path[200], marker[64];
    ht_world_start(&W, NULL);
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    json_t *a = citizen_says(code, "Lần đầu", "msg-op-1");
    json_t *b = citizen_says(code, "Lần đầu", "msg-op-1");
    EXPECT(json_equal(a, b));
    json_decref(a);
    json_decref(b);

    snprintf(marker, sizeof marker, "NHAN-DANG-%d-%lld", (int)getpid(), (long long)ht_now_ms());
    json_t *q = json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "ops", "op_id", "msg-op-2", "kind", "message", "code", code,
                          "text", marker);
    ht_resp r;
    ht_mp_callj(&W.c, "POST", "/v1/sync", W.cit.token, q, &r);
    json_decref(q);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_STR(ht_jstr(r.json, "results.0.status"), "applied");
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    json_t *l = get(path, &W.cit, 200);
    EXPECT_INT(json_array_size(json_object_get(l, "messages")), 2);
    EXPECT_STR(ht_jstr(l, "messages.1.text"), marker);
    json_decref(l);

    /* Neither the thread nor the feed holds the text in the clear. */
    ht_server_stop(&W.s);
    EXPECT_INT(ht_sh(NULL, "! grep -rqa '%s' '%s'", marker, W.s.dir), 0);
    ht_server_restart(&W.s);
    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    l = get(path, &W.cit, 200);
    EXPECT_STR(ht_jstr(l, "messages.1.text"), marker);
    json_decref(l);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_thread_both_ways_live), UNIT(test_only_its_people), UNIT(test_replay_queue_and_sealed))
