/*
 * transitions.c - the status machine as the server enforces it: every move not in the
 * status table of docs/protocol.md is 409 ILLEGAL_TRANSITION from every reachable status, a stale
 * version is 409 VERSION_CONFLICT, and a move without the data its target status needs
 * is 422 VALIDATION_FAILED naming the missing field. Refused moves change nothing.
 */
#include "hoso_test.h"

/* Officer moves allowed by docs/protocol.md (citizen moves are 1->7, 2->7, 5->4, 5->7). */
static int officer_may(int from, int to)
{
    static const int ok[][2] = {{1, 2}, {1, 3}, {2, 4}, {2, 5}, {4, 5}, {4, 6}, {4, 8}, {4, 9}, {6, 4}, {9, 10}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (ok[i][0] == from && ok[i][1] == to) return 1;
    return 0;
}

typedef ht_world fixture;

static long long version_of(fixture *f, const char *code, int *status)
{
    ht_resp r;
    ht_get_dossier(&f->c, f->cit.token, code, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    long long v = ht_jint(ht_dossier_of(&r), "version");
    if (status) *status = (int)ht_jint(ht_dossier_of(&r), "status");
    ht_resp_free(&r);
    return v;
}

static void move_ok(fixture *f, const char *code, int to)
{
    ht_resp r;
    ht_transition(&f->c, &f->off, code, to, -1, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "status"), to);
    ht_resp_free(&r);
}

static void citizen_post(fixture *f, const char *code, const char *what, json_t *body, ht_resp *r)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/dossiers/%s/%s", code, what);
    char op[80];
    ht_op_id(op, sizeof(op));
    json_object_set_new(body, "op_id", json_string(op));
    if (ht_mp_callj(&f->c, "POST", path, f->cit.token, body, r) != 0) ht_fail("POST %s: no reply", path);
    json_decref(body);
}

static void withdraw(fixture *f, const char *code, ht_resp *r)
{
    citizen_post(f, code, "withdraw", json_pack("{s:s}", "reason", "Tôi không còn nhu cầu"), r);
}

/* A dossier brought to `status` along a legal path. */
static void reach(fixture *f, int status, char *code, size_t n)
{
    static const int path_to[11][5] = {
        [1] = {0},           [2] = {2, 0},          [3] = {3, 0},       [4] = {2, 4, 0},
        [5] = {2, 4, 5, 0},  [6] = {2, 4, 6, 0},    [7] = {0},          [8] = {2, 4, 8, 0},
        [9] = {2, 4, 9, 0},  [10] = {2, 4, 9, 10, 0},
    };
    ht_submit(&f->c, &f->cit, &f->svc, code, n);
    for (int i = 0; path_to[status][i]; i++) move_ok(f, code, path_to[status][i]);
    if (status == 7) {
        ht_resp r;
        withdraw(f, code, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        EXPECT_INT(ht_jint(ht_dossier_of(&r), "status"), 7);
        ht_resp_free(&r);
    }
    int st;
    version_of(f, code, &st);
    EXPECT_INT(st, status);
}

static void test_illegal_officer_moves(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    int tried = 0;
    for (int from = 1; from <= 10; from++) {
        char code[128];
        reach(&f, from, code, sizeof(code));
        long long v = version_of(&f, code, NULL);
        for (int to = 1; to <= 10; to++) {
            if (officer_may(from, to)) continue;
            ht_resp r;
            ht_transition(&f.c, &f.off, code, to, v, &r);
            if (r.status != 409 || strcmp(ht_err_code(&r), "ILLEGAL_TRANSITION") != 0)
                fprintf(stderr, "move %d -> %d:\n", from, to);
            HT_EXPECT_REPLY(&r, 409, "ILLEGAL_TRANSITION");
            ht_resp_free(&r);
            tried++;
        }
        int st;
        EXPECT_INT(version_of(&f, code, &st), v);
        EXPECT_INT(st, from);
    }
    EXPECT_INT(tried, 100 - 10);
    ht_world_stop(&f);
}

/* The moves that only the citizen may make, and the citizen's illegal ones. */
static void test_citizen_moves(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    char code[128];
    ht_resp r;

    /* 2 -> 7 and 5 -> 7 are the citizen's; 4 -> 7 is not. */
    reach(&f, 2, code, sizeof(code));
    withdraw(&f, code, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "status"), 7);
    ht_resp_free(&r);
    reach(&f, 5, code, sizeof(code));
    withdraw(&f, code, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    for (int st = 3; st <= 10; st++) {
        if (st == 5) continue;
        reach(&f, st, code, sizeof(code));
        long long v = version_of(&f, code, NULL);
        withdraw(&f, code, &r);
        if (r.status != 409) fprintf(stderr, "withdraw from %d\n", st);
        HT_EXPECT_REPLY(&r, 409, "ILLEGAL_TRANSITION");
        ht_resp_free(&r);
        /* Supplementing is only for a dossier waiting for papers (5). */
        citizen_post(&f, code, "supplement", json_pack("{s:o}", "form", ht_valid_form(&f.svc)), &r);
        if (r.status != 409) fprintf(stderr, "supplement from %d\n", st);
        HT_EXPECT_REPLY(&r, 409, "ILLEGAL_TRANSITION");
        ht_resp_free(&r);
        EXPECT_INT(version_of(&f, code, NULL), v);
    }
    /* 6 -> 4 when paid is the officer's. */
    reach(&f, 6, code, sizeof(code));
    move_ok(&f, code, 4);
    ht_world_stop(&f);
}

static void test_version_conflict(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    char code[128];
    /* Accepted first, so that a stale version (older than the current one) is still a
     * valid version number. */
    reach(&f, 2, code, sizeof(code));
    long long v = version_of(&f, code, NULL);
    EXPECT(v >= 2);
    ht_resp r;
    long long wrong[] = {v - 1, 1, v + 1, v + 1000};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        ht_transition(&f.c, &f.off, code, 4, wrong[i], &r);
        HT_EXPECT_REPLY(&r, 409, "VERSION_CONFLICT");
        ht_resp_free(&r);
    }
    /* Two officers move from the same version: exactly one wins. */
    ht_transition(&f.c, &f.off, code, 4, v, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    ht_transition(&f.c, &f.off, code, 5, v, &r);
    HT_EXPECT_REPLY(&r, 409, "VERSION_CONFLICT");
    /* The conflict carries the current dossier so the caller can rebase. */
    json_t *cur = ht_j(r.json, "error.details.dossier");
    EXPECT(cur != NULL);
    EXPECT_INT(ht_jint(cur, "version"), v + 1);
    ht_resp_free(&r);
    int st;
    EXPECT_INT(version_of(&f, code, &st), v + 1);
    EXPECT_INT(st, 4);

    /* A citizen's stale base_version is refused too, never merged. */
    move_ok(&f, code, 5);
    long long v5 = version_of(&f, code, NULL);
    char op[80];
    ht_op_id(op, sizeof(op));
    char path[256];
    snprintf(path, sizeof(path), "/v1/dossiers/%s/supplement", code);
    json_t *b = json_pack("{s:o, s:I, s:s}", "form", ht_valid_form(&f.svc), "base_version", (json_int_t)(v5 - 1), "op_id", op);
    ht_mp_callj(&f.c, "POST", path, f.cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 409, "VERSION_CONFLICT");
    ht_resp_free(&r);
    EXPECT_INT(version_of(&f, code, &st), v5);
    EXPECT_INT(st, 5);
    ht_world_stop(&f);
}

/* Each target status needs its own data; without it the move is 422 naming the field. */
static void test_required_fields(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    static const struct {
        int from, to;
        const char *field;
    } cases[] = {
        {1, 3, "reason"}, {4, 8, "reason"}, {4, 6, "fee"}, {4, 5, "papers_required"}, {2, 5, "papers_required"},
        {4, 9, "result"},
    };
    char at[11][128] = {{0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int from = cases[i].from;
        if (!at[from][0]) reach(&f, from, at[from], sizeof(at[from]));
        const char *code = at[from];
        long long v = version_of(&f, code, NULL);
        json_t *b = json_pack("{s:i, s:I, s:s}", "to", cases[i].to, "version", (json_int_t)v, "note", "thiếu dữ liệu");
        char path[256];
        snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", code);
        ht_resp r;
        ht_mp_callj(&f.c, "POST", path, f.off.token, b, &r);
        json_decref(b);
        HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
        if (!ht_err_names_field(&r, cases[i].field))
            ht_fail("%d -> %d without %s: details do not name it: %s", from, cases[i].to, cases[i].field, ht_dump(r.json));
        ht_resp_free(&r);
        int st;
        EXPECT_INT(version_of(&f, code, &st), v);
        EXPECT_INT(st, from);
    }

    /* The transition message itself: to and version are required. */
    const char *code = at[1];
    long long v = version_of(&f, code, NULL);
    char path[256];
    snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", code);
    json_t *bodies[] = {json_pack("{s:I, s:s}", "version", (json_int_t)v, "note", "x"),
                        json_pack("{s:i, s:s}", "to", 2, "note", "x")};
    const char *missing[] = {"to", "version"};
    for (int i = 0; i < 2; i++) {
        ht_resp r;
        ht_mp_callj(&f.c, "POST", path, f.off.token, bodies[i], &r);
        json_decref(bodies[i]);
        HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
        if (!ht_err_names_field(&r, missing[i])) ht_fail("missing %s not named: %s", missing[i], ht_dump(r.json));
        ht_resp_free(&r);
    }
    /* Withdrawing needs the citizen's reason. */
    ht_resp r;
    citizen_post(&f, code, "withdraw", json_object(), &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    if (!ht_err_names_field(&r, "reason")) ht_fail("withdraw without reason: %s", ht_dump(r.json));
    ht_resp_free(&r);
    EXPECT_INT(version_of(&f, code, NULL), v);
    ht_world_stop(&f);
}

UNIT_MAIN(UNIT(test_illegal_officer_moves), UNIT(test_citizen_moves), UNIT(test_version_conflict),
          UNIT(test_required_fields))
