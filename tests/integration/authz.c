/*
 * authz.c - who may see and change a dossier. Someone else's dossier is NOT_FOUND with
 * the very reply a missing code gets (its existence is not disclosed), an officer of
 * another agency sees nothing of it, citizens cannot use agency routes, and every
 * route behind a token refuses a missing, malformed or ended one with 401.
 */
#define _GNU_SOURCE
#include "hoso_test.h"

typedef struct fixture {
    ht_server s;
    ht_conn c;
    ht_user a, b, off, other_off;
    ht_service svc;
    char code[128];
} fixture;

static void setup(fixture *f)
{
    ht_server_start(&f->s, NULL);
    ht_conn_init(&f->c, f->s.port);
    ht_citizen_new(&f->c, &f->a);
    ht_citizen_new(&f->c, &f->b);
    ht_service_pick(&f->c, &f->svc, 0, NULL);
    ht_officer_new(&f->s, &f->c, f->svc.agency, &f->off);
    /* Another agency: from the catalogue when it has one, else an agency with no
     * services at all, which must see nothing either. */
    ht_service other;
    ht_service_pick(&f->c, &other, 0, f->svc.agency);
    ht_officer_new(&f->s, &f->c, strcmp(other.agency, f->svc.agency) ? other.agency : "000.00.99.Z99", &f->other_off);
    ht_service_free(&other);
    ht_submit(&f->c, &f->a, &f->svc, f->code, sizeof(f->code));
}

static void teardown(fixture *f)
{
    ht_service_free(&f->svc);
    ht_conn_close(&f->c);
    ht_server_stop(&f->s);
}

/* A code of the right shape that was never issued. */
static void missing_code(const fixture *f, char *buf, size_t n)
{
    snprintf(buf, n, "%s", f->code);
    size_t l = strlen(buf);
    if (l >= 4) memcpy(buf + l - 4, "9999", 4);
}

static void expect_same_error(const ht_resp *x, const ht_resp *y)
{
    if (x->status != y->status || !json_equal(x->json, y->json))
        ht_fail("replies differ: %d %s vs %d %s", x->status, ht_dump(x->json), y->status, ht_dump(y->json));
}

static void test_other_citizen_not_found(void)
{
    fixture f;
    setup(&f);
    char missing[128];
    missing_code(&f, missing, sizeof(missing));
    ht_resp theirs, none, mine;
    ht_get_dossier(&f.c, f.b.token, f.code, &theirs);
    HT_EXPECT_REPLY(&theirs, 404, "NOT_FOUND");
    ht_get_dossier(&f.c, f.b.token, missing, &none);
    HT_EXPECT_REPLY(&none, 404, "NOT_FOUND");
    expect_same_error(&theirs, &none);
    ht_resp_free(&theirs);
    ht_resp_free(&none);

    /* Changing it is refused the same way, and leaves it as it was. */
    static const char *actions[] = {"supplement", "withdraw", "rating"};
    for (size_t i = 0; i < 3; i++) {
        json_t *body = i == 0 ? json_pack("{s:o}", "form", ht_valid_form(&f.svc))
                     : i == 1 ? json_pack("{s:s}", "reason", "rút hộ")
                              : json_pack("{s:{s:i}}", "answers", "overall", 1);
        char op[80];
        ht_op_id(op, sizeof(op));
        json_object_set_new(body, "op_id", json_string(op));
        char p1[256], p2[256];
        snprintf(p1, sizeof(p1), "/v1/dossiers/%s/%s", f.code, actions[i]);
        snprintf(p2, sizeof(p2), "/v1/dossiers/%s/%s", missing, actions[i]);
        ht_mp_callj(&f.c, "POST", p1, f.b.token, body, &theirs);
        HT_EXPECT_REPLY(&theirs, 404, "NOT_FOUND");
        ht_op_id(op, sizeof(op));
        json_object_set_new(body, "op_id", json_string(op));
        ht_mp_callj(&f.c, "POST", p2, f.b.token, body, &none);
        HT_EXPECT_REPLY(&none, 404, "NOT_FOUND");
        expect_same_error(&theirs, &none);
        ht_resp_free(&theirs);
        ht_resp_free(&none);
        json_decref(body);
    }
    ht_get_dossier(&f.c, f.a.token, f.code, &mine);
    HT_EXPECT_REPLY(&mine, 200, NULL);
    EXPECT_INT(ht_jint(ht_dossier_of(&mine), "status"), 1);
    EXPECT_INT(json_array_size(ht_j(ht_dossier_of(&mine), "history")), 1);
    ht_resp_free(&mine);

    /* B's own list does not show A's dossier. */
    EXPECT_INT(ht_count_list(&f.c, f.b.token, "/v1/dossiers"), 0);
    EXPECT_INT(ht_count_list(&f.c, f.a.token, "/v1/dossiers"), 1);
    teardown(&f);
}

static void test_other_agency_not_found(void)
{
    fixture f;
    setup(&f);
    char missing[128];
    missing_code(&f, missing, sizeof(missing));
    ht_resp theirs, none;
    ht_get_dossier(&f.c, f.other_off.token, f.code, &theirs);
    HT_EXPECT_REPLY(&theirs, 404, "NOT_FOUND");
    ht_get_dossier(&f.c, f.other_off.token, missing, &none);
    HT_EXPECT_REPLY(&none, 404, "NOT_FOUND");
    expect_same_error(&theirs, &none);
    ht_resp_free(&theirs);
    ht_resp_free(&none);

    ht_transition(&f.c, &f.other_off, f.code, 2, 1, &theirs);
    HT_EXPECT_REPLY(&theirs, 404, "NOT_FOUND");
    ht_resp_free(&theirs);
    char path[256];
    snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/apology", f.code);
    json_t *b = json_pack("{s:I, s:s}", "new_due_at", (json_int_t)(ht_now_ms() + 86400000LL * 10), "reason", "xin lỗi");
    ht_mp_callj(&f.c, "POST", path, f.other_off.token, b, &theirs);
    json_decref(b);
    HT_EXPECT_REPLY(&theirs, 404, "NOT_FOUND");
    ht_resp_free(&theirs);

    EXPECT_INT(ht_count_list(&f.c, f.other_off.token, "/v1/agency/dossiers"), 0);
    EXPECT_INT(ht_count_list(&f.c, f.off.token, "/v1/agency/dossiers"), 1);
    /* The right agency still can. */
    ht_transition(&f.c, &f.off, f.code, 2, -1, &theirs);
    HT_EXPECT_REPLY(&theirs, 200, NULL);
    ht_resp_free(&theirs);
    teardown(&f);
}

static void test_roles_forbidden(void)
{
    fixture f;
    setup(&f);
    ht_resp r;
    ht_mp_call(&f.c, "GET", "/v1/agency/dossiers", f.a.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 403, "FORBIDDEN");
    ht_resp_free(&r);
    /* The owner is a citizen: owning the dossier does not make agency routes open. */
    ht_user as_officer = f.a;
    ht_transition(&f.c, &as_officer, f.code, 2, 1, &r);
    HT_EXPECT_REPLY(&r, 403, "FORBIDDEN");
    ht_resp_free(&r);
    ht_mp_call(&f.c, "GET", "/v1/stats", f.a.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 403, "FORBIDDEN");
    ht_resp_free(&r);
    /* Officers do not file dossiers for themselves. */
    json_t *b = ht_valid_submit(&f.svc, NULL);
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", f.off.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 403, "FORBIDDEN");
    ht_resp_free(&r);
    EXPECT_INT(ht_count_list(&f.c, f.off.token, "/v1/agency/dossiers"), 1);
    int st;
    ht_get_dossier(&f.c, f.a.token, f.code, &r);
    st = (int)ht_jint(ht_dossier_of(&r), "status");
    ht_resp_free(&r);
    EXPECT_INT(st, 1);
    teardown(&f);
}

static void test_unauthorized(void)
{
    fixture f;
    setup(&f);
    /* A token that was valid and is ended by logout. */
    ht_user gone;
    ht_citizen_new(&f.c, &gone);
    ht_resp r;
    ht_mp_call(&f.c, "POST", "/v1/auth/logout", gone.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    /* The citizen's real token with its last character changed. */
    char altered[256];
    snprintf(altered, sizeof(altered), "%s", f.a.token);
    size_t l = strlen(altered);
    altered[l - 1] = altered[l - 1] == 'A' ? 'B' : 'A';
    char *huge = malloc(9001);
    memset(huge, 'x', 9000);
    huge[9000] = 0;

    char logout_hdr[400], basic_hdr[400];
    snprintf(logout_hdr, sizeof(logout_hdr), "Authorization: Bearer %s\r\n", gone.token);
    snprintf(basic_hdr, sizeof(basic_hdr), "Authorization: Basic %s\r\n", f.a.token);
    char altered_hdr[400];
    snprintf(altered_hdr, sizeof(altered_hdr), "Authorization: Bearer %s\r\n", altered);
    char *huge_hdr = NULL;
    if (asprintf(&huge_hdr, "Authorization: Bearer %s\r\n", huge) < 0) ht_fail("asprintf");
    const char *auths[] = {
        "",                                   /* no token */
        "Authorization: Bearer\r\n",          /* empty */
        "Authorization: Bearer \r\n",
        "Authorization: Bearer garbage\r\n",  /* garbage */
        "Authorization: Bearer ../../etc/passwd\r\n",
        "Authorization: bearer%00\r\n",
        basic_hdr,                            /* wrong scheme, right secret */
        logout_hdr,                           /* logged out */
        altered_hdr,                          /* forged */
        huge_hdr,
    };
    char code_path[256], trans_path[256];
    snprintf(code_path, sizeof(code_path), "/v1/dossiers/%s", f.code);
    snprintf(trans_path, sizeof(trans_path), "/v1/agency/dossiers/%s/transitions", f.code);
    struct {
        const char *method, *path;
    } routes[] = {
        {"GET", "/v1/dossiers"}, {"GET", code_path}, {"POST", "/v1/dossiers"}, {"GET", "/v1/agency/dossiers"},
        {"POST", trans_path},    {"GET", "/v1/papers"}, {"POST", "/v1/auth/logout"}, {"GET", "/v1/stats"},
    };
    json_t *body = ht_valid_submit(&f.svc, NULL);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ht_pack_json(&pk, body);
    json_decref(body);
    for (size_t i = 0; i < sizeof(auths) / sizeof(auths[0]); i++)
        for (size_t k = 0; k < sizeof(routes) / sizeof(routes[0]); k++) {
            char *hdr = NULL;
            int post = strcmp(routes[k].method, "POST") == 0;
            if (asprintf(&hdr, "Accept: application/msgpack\r\n%s%s", post ? "Content-Type: application/msgpack\r\n" : "",
                         auths[i]) < 0)
                ht_fail("asprintf");
            ht_http(&f.c, routes[k].method, routes[k].path, hdr, post ? sb.data : NULL, post ? sb.size : 0, &r);
            if (r.status != 401) fprintf(stderr, "%s %s with [%.60s]\n", routes[k].method, routes[k].path, auths[i]);
            HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
            ht_resp_free(&r);
            free(hdr);
        }
    msgpack_sbuffer_destroy(&sb);
    free(huge);
    free(huge_hdr);
    /* Nothing was filed by all those attempts; the real token still works. */
    EXPECT_INT(ht_count_list(&f.c, f.a.token, "/v1/dossiers"), 1);
    EXPECT_INT(ht_count_list(&f.c, f.off.token, "/v1/agency/dossiers"), 1);
    /* Logging in with a wrong password is 401 as well, not a hint which part was wrong. */
    json_t *b1 = json_pack("{s:s, s:s}", "id_number", f.a.login, "password", "sai-mat-khau");
    json_t *b2 = json_pack("{s:s, s:s}", "id_number", "001099999999", "password", "sai-mat-khau");
    ht_resp r1, r2;
    ht_mp_callj(&f.c, "POST", "/v1/auth/login", NULL, b1, &r1);
    ht_mp_callj(&f.c, "POST", "/v1/auth/login", NULL, b2, &r2);
    HT_EXPECT_REPLY(&r1, 401, "UNAUTHORIZED");
    HT_EXPECT_REPLY(&r2, 401, "UNAUTHORIZED");
    expect_same_error(&r1, &r2);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    json_decref(b1);
    json_decref(b2);
    teardown(&f);
}

/* A session ends after its time (30 days). The server is restarted with its clock moved
 * past expires_at (libfaketime) on the same data dir: the old token is refused, a new
 * login works. */
static void test_expired_token(void)
{
    const char *lib = ht_faketime_lib();
    if (!lib) {
        fprintf(stderr, "SKIP test_expired_token: libfaketime not installed (Debian package faketime)\n");
        return;
    }
    ht_server s;
    ht_server_start(&s, NULL);
    ht_conn c;
    ht_conn_init(&c, s.port);
    ht_user u;
    ht_citizen_new(&c, &u);
    json_t *b = json_pack("{s:s, s:s}", "id_number", u.login, "password", u.password);
    ht_resp r;
    ht_mp_callj(&c, "POST", "/v1/auth/login", NULL, b, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    long long expires = ht_jint(r.json, "expires_at");
    char token[256];
    snprintf(token, sizeof(token), "%s", ht_jstr(r.json, "token"));
    ht_resp_free(&r);
    long long days = (expires - ht_now_ms()) / 86400000LL + 2;
    EXPECT(days > 1 && days < 400);
    ht_conn_close(&c);
    ht_server_stop(&s);

    /* Still valid a day before it ends... */
    snprintf(s.env, sizeof(s.env), "LD_PRELOAD=%s FAKETIME=+%lldd ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0", lib,
             days - 3);
    ht_server_restart(&s);
    ht_conn_init(&c, s.port);
    ht_mp_call(&c, "GET", "/v1/dossiers", token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    ht_conn_close(&c);
    ht_server_stop(&s);

    /* ...and refused after. */
    snprintf(s.env, sizeof(s.env), "LD_PRELOAD=%s FAKETIME=+%lldd ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0", lib,
             days);
    ht_server_restart(&s);
    ht_conn_init(&c, s.port);
    ht_mp_call(&c, "GET", "/v1/dossiers", token, NULL, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    ht_resp_free(&r);
    ht_mp_call(&c, "POST", "/v1/auth/logout", token, NULL, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    ht_resp_free(&r);
    ht_mp_callj(&c, "POST", "/v1/auth/login", NULL, b, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(ht_jint(r.json, "expires_at") > expires);
    snprintf(token, sizeof(token), "%s", ht_jstr(r.json, "token"));
    ht_resp_free(&r);
    ht_mp_call(&c, "GET", "/v1/dossiers", token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    json_decref(b);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

UNIT_MAIN(UNIT(test_expired_token), UNIT(test_other_citizen_not_found), UNIT(test_other_agency_not_found), UNIT(test_roles_forbidden),
          UNIT(test_unauthorized))
