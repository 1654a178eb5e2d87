/*
 * bots.c - chatbots: a bot account made with `hosod admin create-bot --json` gets a
 * Standard Webhooks secret (and a new one with rotate-bot-secret), signs in, and looks
 * a dossier up by code and the last four digits of its owner's phone. A wrong verifier
 * and an unknown code get the same reply, wrong verifiers of one code are throttled,
 * the bot's scopes and agency are enforced, and the reply's sentence says what the
 * citizen must do next without any personal data.
 */
#include "hoso_test.h"

static void bot_new(ht_world *w, const char *name, const char *extra, ht_user *bot, char *secret, size_t n)
{
    char args[512];
    snprintf(args, sizeof args, "create-bot --username %s --password 'mat-khau-bot-1' --json %s", name, extra);
    char *out = ht_admin(&w->s, args);
    json_t *j = json_loads(out, 0, NULL);
    if (!j) ht_fail("create-bot --json printed: %s", out);
    if (secret) snprintf(secret, n, "%s", ht_jstr(j, "webhook_secret") ? ht_jstr(j, "webhook_secret") : "");
    EXPECT(ht_jstr(j, "account") != NULL);
    json_decref(j);
    free(out);
    memset(bot, 0, sizeof *bot);
    snprintf(bot->login, sizeof bot->login, "%s", name);
    snprintf(bot->password, sizeof bot->password, "mat-khau-bot-1");
    ht_login(&w->c, bot, 1);
}

static int lookup(ht_world *w, const ht_user *bot, const char *code, const char *last4, ht_resp *r)
{
    char body[256];
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"phone_last4\":\"%s\"}", code, last4);
    ht_json_call(&w->c, "POST", "/v1/bot/lookup", bot->token, body, r);
    return r->status;
}

static void test_secret(void)
{
    ht_world w;
    ht_user bot;
    char secret[128], *out;
    ht_world_start(&w, NULL);
    bot_new(&w, "zalo-bot", "--scopes lookup", &bot, secret, sizeof secret);
    /* whsec_ and the base64 of 32 bytes. */
    EXPECT(strncmp(secret, "whsec_", 6) == 0);
    EXPECT_INT(strlen(secret), 6 + 44);
    out = ht_admin(&w.s, "rotate-bot-secret --username zalo-bot --json");
    json_t *j = json_loads(out, 0, NULL);
    EXPECT(j != NULL && ht_jstr(j, "webhook_secret") != NULL);
    EXPECT(strncmp(ht_jstr(j, "webhook_secret"), "whsec_", 6) == 0);
    EXPECT(strcmp(ht_jstr(j, "webhook_secret"), secret) != 0);
    json_decref(j);
    free(out);
    /* Only bots have secrets to rotate. */
    char *err = NULL;
    EXPECT_INT(ht_sh(&err, "'%s' admin rotate-bot-secret --data '%s' --username %s 2>&1", ht_hosod(), w.s.dir,
                     w.off.login),
               1);
    EXPECT(strstr(err, "not a bot") != NULL);
    free(err);
    ht_world_stop(&w);
}

static void test_lookup(void)
{
    ht_world w;
    ht_user bot, nolookup;
    ht_resp r, g;
    char code[128], other_code[128];
    ht_world_start(&w, NULL);
    bot_new(&w, "zalo-bot", "--scopes 'lookup subscribe'", &bot, NULL, 0);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    const char *last4 = w.cit.phone + strlen(w.cit.phone) - 4;

    EXPECT_INT(lookup(&w, &bot, code, last4, &r), 200);
    EXPECT_STR(ht_jstr(r.json, "code"), code);
    EXPECT_INT(ht_jint(r.json, "status"), 1);
    EXPECT_STR(ht_jstr(r.json, "status_name"), "Mới đăng ký");
    const char *msg = ht_jstr(r.json, "message");
    EXPECT(msg && strstr(msg, code) && strstr(msg, "chờ cơ quan tiếp nhận"));
    /* Nothing personal: no name, no form, no owner. */
    EXPECT(ht_j(r.json, "form") == NULL && ht_j(r.json, "owner") == NULL);
    EXPECT(strstr(r.body, "Nguyễn Văn An") == NULL);
    ht_resp_free(&r);

    /* After a request for papers, the sentence says which. */
    EXPECT_INT(ht_transition(&w.c, &w.off, code, 2, -1, &g), 200);
    ht_resp_free(&g);
    EXPECT_INT(ht_transition(&w.c, &w.off, code, 5, -1, &g), 200);
    ht_resp_free(&g);
    EXPECT_INT(lookup(&w, &bot, code, last4, &r), 200);
    EXPECT(strstr(ht_jstr(r.json, "message"), "bổ sung") != NULL);
    ht_resp_free(&r);

    /* A wrong verifier and an unknown code: the same 404. */
    char wrong[16];
    snprintf(wrong, sizeof wrong, "%04d", (atoi(last4) + 1) % 10000);
    EXPECT_INT(lookup(&w, &bot, code, wrong, &r), 404);
    EXPECT_INT(lookup(&w, &bot, "000.00.12.H29-000101-0001", last4, &g), 404);
    EXPECT_STR(ht_jstr(r.json, "error.message"), ht_jstr(g.json, "error.message"));
    ht_resp_free(&r);
    ht_resp_free(&g);
    /* Malformed verifiers are a field problem. */
    EXPECT_INT(lookup(&w, &bot, code, "12a4", &r), 422);
    EXPECT(ht_err_names_field(&r, "phone_last4"));
    ht_resp_free(&r);

    /* Guessing one code's verifier is throttled, even with the right one in the end;
     * other codes are not held up. */
    ht_submit(&w.c, &w.cit, &w.svc, other_code, sizeof other_code);
    /* The right verifier gives its count back: a bot may look a dossier up often. */
    for (int i = 0; i < 6; i++) {
        EXPECT_INT(lookup(&w, &bot, code, last4, &r), 200);
        ht_resp_free(&r);
    }
    /* So the one wrong guess above is all that counts: 5 more are answered. */
    int limited = 0, answered = 0;
    for (int i = 0; i < 8 && !limited; i++) {
        int st = lookup(&w, &bot, code, wrong, &r);
        limited = st == 429;
        answered += st == 404;
        if (limited) {
            char v[16];
            EXPECT(ht_resp_header(&r, "Retry-After", v, sizeof v) != NULL);
        }
        ht_resp_free(&r);
    }
    EXPECT(limited);
    EXPECT_INT(answered, 5);
    EXPECT_INT(lookup(&w, &bot, code, last4, &r), 429);
    ht_resp_free(&r);
    EXPECT_INT(lookup(&w, &bot, other_code, last4, &r), 200);
    ht_resp_free(&r);

    /* Scopes and roles. */
    bot_new(&w, "notify-only", "--scopes subscribe", &nolookup, NULL, 0);
    EXPECT_INT(lookup(&w, &nolookup, other_code, last4, &r), 403);
    ht_resp_free(&r);
    EXPECT_INT(lookup(&w, &w.cit, other_code, last4, &r), 403);
    ht_resp_free(&r);
    ht_world_stop(&w);
}

/* A bot of one agency sees only that agency's dossiers. */
static void test_agency_bot(void)
{
    ht_world w;
    ht_user bot;
    ht_service other;
    ht_resp r;
    char code[128], code2[128], extra[160];
    ht_world_start(&w, NULL);
    ht_service_pick(&w.c, &other, 0, w.svc.agency);
    if (strcmp(other.agency, w.svc.agency) == 0) ht_fail("the demo catalogue has one agency only");
    snprintf(extra, sizeof extra, "--scopes lookup --agency %s", w.svc.agency);
    bot_new(&w, "agency-bot", extra, &bot, NULL, 0);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    ht_submit(&w.c, &w.cit, &other, code2, sizeof code2);
    const char *last4 = w.cit.phone + strlen(w.cit.phone) - 4;
    EXPECT_INT(lookup(&w, &bot, code, last4, &r), 200);
    ht_resp_free(&r);
    EXPECT_INT(lookup(&w, &bot, code2, last4, &r), 404);
    ht_resp_free(&r);
    ht_service_free(&other);
    ht_world_stop(&w);
}

UNIT_MAIN(UNIT(test_secret), UNIT(test_lookup), UNIT(test_agency_bot))
