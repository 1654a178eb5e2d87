/*
 * scenario.c - the whole life of one dossier, written once and run over each wire
 * (msgpack, JSON over the test client, JSON through curl): the same contract must hold
 * whatever the encoding.
 */
#define _GNU_SOURCE
#include "hoso_test.h"

#include <time.h>

static void call(ht_client *c, const char *method, const char *path, const char *token, json_t *body,
                 ht_resp *out)
{
    if (ht_call(c, method, path, token, body, out) != 0) ht_fail("%s %s: no reply", method, path);
    if (body) json_decref(body);
}

/* The dossier code is {agency}-{YYMMDD}-{NNNN} with the Vietnam (UTC+7) civil date. */
static void check_code(const char *code, const char *agency, int64_t at_ms)
{
    time_t t = (time_t)(at_ms / 1000) + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    char want[160];
    snprintf(want, sizeof(want), "%s-%02d%02d%02d-", agency, tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday);
    size_t wl = strlen(want);
    if (strncmp(code, want, wl) != 0 || strlen(code) != wl + 4 || strspn(code + wl, "0123456789") != 4)
        ht_fail("dossier code \"%s\" is not %sNNNN", code, want);
}

static void expect_status(ht_client *c, const char *token, const char *code, int status, long long version)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/dossiers/%s", code);
    ht_resp r;
    call(c, "GET", path, token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *d = ht_dossier_of(&r);
    EXPECT_INT(ht_jint(d, "status"), status);
    if (version >= 0) EXPECT_INT(ht_jint(d, "version"), version);
    ht_resp_free(&r);
}

static json_t *transition_body(int to, long long version)
{
    json_t *b = json_pack("{s:i, s:I, s:s}", "to", to, "version", (json_int_t)version, "note", "Cán bộ ghi chú bước xử lý");
    if (to == 5) json_object_set_new(b, "papers_required", json_pack("[s]", "giay_khai_sinh"));
    if (to == 9) json_object_set_new(b, "result", json_string("Giấy chứng nhận đã sẵn sàng"));
    return b;
}

/* Officer moves the dossier; checks the reply carries the new status and version. */
static long long move(ht_client *c, const ht_user *off, const char *code, int to, long long version)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", code);
    ht_resp r;
    call(c, "POST", path, off->token, transition_body(to, version), &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *d = ht_dossier_of(&r);
    EXPECT_STR(ht_jstr(d, "code"), code);
    EXPECT_INT(ht_jint(d, "status"), to);
    EXPECT_INT(ht_jint(d, "version"), version + 1);
    if (to == 2 && ht_jint(d, "due_at") <= ht_jint(d, "submitted_at"))
        ht_fail("accepted dossier has due_at %lld not after submitted_at %lld", ht_jint(d, "due_at"),
                ht_jint(d, "submitted_at"));
    ht_resp_free(&r);
    return version + 1;
}

void ht_lifecycle(ht_wire wire)
{
    ht_server s;
    ht_server_start(&s, NULL);
    ht_client c;
    ht_client_init(&c, &s, wire);
    ht_resp r;
    int64_t t0 = ht_now_ms();

    /* Citizen registers and logs in over this wire. */
    ht_user cit = {0};
    snprintf(cit.login, sizeof(cit.login), "079203%06d", (int)(getpid() % 1000000));
    snprintf(cit.password, sizeof(cit.password), "Mat-khau-Vung-Tau-2026");
    call(&c, "POST", "/v1/auth/register", NULL,
         json_pack("{s:s, s:s, s:s, s:s}", "id_number", cit.login, "full_name", "Trần Thị Bích Ngọc", "phone",
                   "0987654321", "password", cit.password),
         &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    EXPECT_STR(ht_jstr(r.json, "account.role"), "citizen");
    ht_resp_free(&r);
    /* The same id number twice is refused. */
    call(&c, "POST", "/v1/auth/register", NULL,
         json_pack("{s:s, s:s, s:s, s:s}", "id_number", cit.login, "full_name", "Người khác", "phone", "0911111111",
                   "password", "Mat-khau-khac-123"),
         &r);
    HT_EXPECT_REPLY(&r, 409, "ALREADY_EXISTS");
    ht_resp_free(&r);
    call(&c, "POST", "/v1/auth/login", NULL, json_pack("{s:s, s:s}", "id_number", cit.login, "password", cit.password),
         &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(ht_jstr(r.json, "token") != NULL);
    EXPECT(ht_jint(r.json, "expires_at") > t0);
    /* The account shows a keyed id, never the id number, the phone or a hash. */
    json_t *acct = ht_j(r.json, "account");
    EXPECT(json_is_object(acct));
    char aid[64];
    snprintf(aid, sizeof(aid), "%s", ht_jstr(acct, "id") ? ht_jstr(acct, "id") : "");
    EXPECT(strlen(aid) == 32 && strspn(aid, "0123456789abcdef") == 32);
    EXPECT_STR(ht_jstr(acct, "role"), "citizen");
    if (strstr(r.body, cit.login) || strstr(r.body, "0987654321") || strstr(r.body, cit.password) ||
        json_object_get(acct, "phone") || json_object_get(acct, "password") || json_object_get(acct, "password_hash"))
        ht_fail("login reply discloses personal data: %s", r.body);
    snprintf(cit.token, sizeof(cit.token), "%s", ht_jstr(r.json, "token"));
    ht_resp_free(&r);

    /* Catalogue: list and one service by code. */
    ht_service svc;
    ht_service_pick(&c.conn, &svc, 0, NULL);
    char path[256];
    snprintf(path, sizeof(path), "/v1/services/%s", svc.code);
    call(&c, "GET", path, NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *one = json_object_get(r.json, "service");
    EXPECT_STR(ht_jstr(one, "code"), svc.code);
    EXPECT_STR(ht_jstr(one, "agency"), svc.agency);
    EXPECT(json_is_array(json_object_get(one, "form")));
    const char *level = ht_jstr(one, "level");
    EXPECT(level && (strcmp(level, "full") == 0 || strcmp(level, "partial") == 0));
    ht_resp_free(&r);
    call(&c, "GET", "/v1/services/9.999999", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);

    /* Submit. */
    call(&c, "POST", "/v1/dossiers", cit.token, ht_valid_submit(&svc, NULL), &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    json_t *d = ht_dossier_of(&r);
    char code[128];
    snprintf(code, sizeof(code), "%s", ht_jstr(d, "code") ? ht_jstr(d, "code") : "");
    check_code(code, svc.agency, ht_now_ms());
    EXPECT_STR(ht_jstr(d, "service"), svc.code);
    EXPECT_STR(ht_jstr(d, "agency"), svc.agency);
    EXPECT_INT(ht_jint(d, "status"), 1);
    long long v = ht_jint(d, "version");
    EXPECT_INT(v, 1);
    EXPECT(json_is_array(json_object_get(r.json, "reused_papers")));
    EXPECT_STR(ht_jstr(d, "owner"), aid);
    EXPECT_INT(ht_jint(d, "due_at"), 0);
    EXPECT(ht_jint(d, "submitted_at") >= t0 - 1000 && ht_jint(d, "submitted_at") <= ht_now_ms() + 1000);
    EXPECT(json_is_object(json_object_get(d, "form")));
    EXPECT(json_is_array(json_object_get(d, "history")));
    EXPECT_INT(json_array_size(json_object_get(d, "history")), 1);
    EXPECT(json_is_false(json_object_get(d, "rated")));
    ht_resp_free(&r);

    /* The form comes back exactly as submitted (it is sealed at rest, not altered). */
    expect_status(&c, cit.token, code, 1, v);
    snprintf(path, sizeof(path), "/v1/dossiers/%s", code);
    call(&c, "GET", path, cit.token, NULL, &r);
    json_t *form = ht_valid_form(&svc);
    if (!json_equal(json_object_get(ht_dossier_of(&r), "form"), form))
        ht_fail("form changed: sent %s, got %s", ht_dump(form), ht_dump(json_object_get(ht_dossier_of(&r), "form")));
    json_decref(form);
    ht_resp_free(&r);

    /* Officer of the service's agency. */
    ht_user off;
    ht_officer_new(&s, &c.conn, svc.agency, &off);
    call(&c, "POST", "/v1/auth/login", NULL, json_pack("{s:s, s:s}", "username", off.login, "password", off.password),
         &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    snprintf(off.token, sizeof(off.token), "%s", ht_jstr(r.json, "token"));
    ht_resp_free(&r);
    call(&c, "GET", "/v1/agency/dossiers", off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *items = ht_items(&r, "dossiers");
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(items, i, e) found += ht_jstr(e, "code") && strcmp(ht_jstr(e, "code"), code) == 0;
    EXPECT_INT(found, 1);
    ht_resp_free(&r);

    v = move(&c, &off, code, 2, v);
    v = move(&c, &off, code, 4, v);
    v = move(&c, &off, code, 5, v);
    expect_status(&c, cit.token, code, 5, v);
    snprintf(path, sizeof(path), "/v1/dossiers/%s", code);
    call(&c, "GET", path, cit.token, NULL, &r);
    EXPECT_STR(ht_jstr(ht_dossier_of(&r), "papers_required[0]"), "giay_khai_sinh");
    ht_resp_free(&r);

    /* Citizen supplements: 5 -> 4. */
    char op[80];
    ht_op_id(op, sizeof(op));
    snprintf(path, sizeof(path), "/v1/dossiers/%s/supplement", code);
    call(&c, "POST", path, cit.token, json_pack("{s:o, s:s}", "form", ht_valid_form(&svc), "op_id", op), &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "status"), 4);
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "version"), v + 1);
    /* Supplementing clears the list of papers asked for. */
    json_t *pr = json_object_get(ht_dossier_of(&r), "papers_required");
    EXPECT(pr == NULL || json_is_null(pr) || json_array_size(pr) == 0);
    v++;
    ht_resp_free(&r);

    /* Rating before the result is returned is refused. */
    snprintf(path, sizeof(path), "/v1/dossiers/%s/rating", code);
    ht_op_id(op, sizeof(op));
    call(&c, "POST", path, cit.token, json_pack("{s:{s:i}, s:s}", "answers", "overall", 5, "op_id", op), &r);
    HT_EXPECT_REPLY(&r, 409, "ILLEGAL_TRANSITION");
    ht_resp_free(&r);

    v = move(&c, &off, code, 9, v);
    v = move(&c, &off, code, 10, v);

    /* Rating once; a second one is refused. */
    ht_op_id(op, sizeof(op));
    call(&c, "POST", path, cit.token,
         json_pack("{s:{s:i, s:i}, s:s}", "answers", "overall", 5, "timeliness", 4, "op_id", op), &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(json_is_true(json_object_get(ht_dossier_of(&r), "rated")));
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "version"), v + 1);
    v++;
    ht_resp_free(&r);
    ht_op_id(op, sizeof(op));
    call(&c, "POST", path, cit.token, json_pack("{s:{s:i}, s:s}", "answers", "overall", 1, "op_id", op), &r);
    HT_EXPECT_REPLY(&r, 409, "ALREADY_EXISTS");
    ht_resp_free(&r);

    /* The history shows every step, in order, with times and actors. */
    snprintf(path, sizeof(path), "/v1/dossiers/%s", code);
    call(&c, "GET", path, cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    d = ht_dossier_of(&r);
    EXPECT_INT(ht_jint(d, "status"), 10);
    EXPECT(json_is_true(json_object_get(d, "rated")));
    EXPECT_INT(ht_jint(d, "version"), v);
    EXPECT_STR(ht_jstr(d, "result"), "Giấy chứng nhận đã sẵn sàng");
    EXPECT(ht_jint(d, "due_at") > 0);
    static const int steps[] = {1, 2, 4, 5, 4, 9, 10};
    /* Who made each step: the citizen submits and supplements, the officer the rest. */
    static const int by_citizen[] = {1, 0, 0, 0, 1, 0, 0};
    json_t *hist = json_object_get(d, "history");
    if (json_array_size(hist) != sizeof(steps) / sizeof(steps[0])) ht_fail("history: %s", ht_dump(hist));
    long long prev = t0 - 1000;
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        json_t *h = json_array_get(hist, k);
        EXPECT_INT(ht_jint(h, "status"), steps[k]);
        long long at = ht_jint(h, "at");
        if (at < prev || at > ht_now_ms() + 1000) ht_fail("history[%zu].at %lld out of order: %s", k, at, ht_dump(hist));
        prev = at;
        EXPECT_STR(ht_jstr(h, "by"), by_citizen[k] ? aid : off.id);
        EXPECT(json_object_get(h, "note") != NULL);
    }
    ht_resp_free(&r);

    /* The officer sees the same dossier; the citizen's list has exactly it. */
    expect_status(&c, off.token, code, 10, -1);
    call(&c, "GET", "/v1/dossiers", cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    items = ht_items(&r, "dossiers");
    EXPECT_INT(json_array_size(items), 1);
    EXPECT_STR(ht_jstr(items, "0.code"), code);
    ht_resp_free(&r);

    /* Logout ends the token. */
    call(&c, "POST", "/v1/auth/logout", cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(json_is_true(json_object_get(r.json, "ok")));
    ht_resp_free(&r);
    call(&c, "GET", "/v1/dossiers", cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    ht_resp_free(&r);
    call(&c, "POST", "/v1/auth/logout", cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    ht_resp_free(&r);

    ht_service_free(&svc);
    ht_client_close(&c);
    ht_server_stop(&s);
}
