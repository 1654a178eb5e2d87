/*
 * webhooks.c - bot subscriptions and signed webhooks, end to end: hosod POSTs each
 * change of a subscribed dossier to clients/bot-relay (a process of its own), which
 * verifies the signature, the timestamp and the webhook-id. A receiver that is down
 * for a while gets every change afterwards, in order; the final status ends the
 * subscription; callback URLs into the operator's network are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sodium.h>
#include "hoso_test.h"

static void wait_statuses(const ht_relay *r, const int *want, int n)
{
    ht_relay_wait(r, want, n, 15);
}

static void bot_new(ht_world *w, ht_user *bot, char *secret, size_t n)
{
    char args[256];
    memset(bot, 0, sizeof *bot);
    snprintf(bot->login, sizeof bot->login, "zalo-bot-%d-%ld", (int)getpid(), (long)random());
    snprintf(bot->password, sizeof bot->password, "mat-khau-bot-%d", (int)getpid());
    snprintf(args, sizeof args, "create-bot --username %s --password %s --scopes 'lookup subscribe' --json", bot->login,
             bot->password);
    char *out = ht_admin(&w->s, args);
    json_t *j = json_loads(out, 0, NULL);
    if (j == NULL || ht_jstr(j, "webhook_secret") == NULL)
        ht_fail("create-bot --json printed no webhook_secret: %s", out);
    snprintf(secret, n, "%s", ht_jstr(j, "webhook_secret"));
    json_decref(j);
    free(out);
    ht_login(&w->c, bot, 1);
}

static int subscribe(ht_world *w, const ht_user *bot, const char *code, const char *url, ht_resp *r)
{
    char body[1024];
    const char *phone = w->cit.phone;
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"phone_last4\":\"%s\",\"chat_ref\":\"zalo:4217\",\"callback_url\":\"%s\"}",
             code, phone + strlen(phone) - 4, url);
    return ht_json_call(&w->c, "POST", "/v1/bot/subscriptions", bot->token, body, r);
}

static void move(ht_world *w, const char *code, int to, long long *version)
{
    ht_resp r;
    if (ht_transition(&w->c, &w->off, code, to, *version, &r) != 200)
        HT_EXPECT_REPLY(&r, 200, NULL);
    *version = ht_jint(ht_dossier_of(&r), "version");
    ht_resp_free(&r);
}

static void citizen_supplement(ht_world *w, const char *code, long long *version)
{
    ht_resp r;
    char path[256], op[80];
    ht_op_id(op, sizeof op);
    snprintf(path, sizeof path, "/v1/dossiers/%s/supplement", code);
    json_t *b = json_pack("{s:o, s:I, s:s}", "form", ht_valid_form(&w->svc), "base_version", (json_int_t)*version, "op_id", op);
    ht_mp_callj(&w->c, "POST", path, w->cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 200, NULL);
    *version = ht_jint(ht_dossier_of(&r), "version");
    ht_resp_free(&r);
}

static void test_webhooks_in_order_through_an_outage(void)
{
    ht_world w;
    ht_user bot, other;
    ht_relay rl;
    char secret[128], other_secret[128], code[128], url[128], id[64];
    long long version = 1;
    ht_resp r;

    memset(&rl, 0, sizeof rl);
    ht_world_start(&w, "--webhook-allow-private");
    bot_new(&w, &bot, secret, sizeof secret);
    ht_relay_start(&rl, 0, secret);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rl.port);

    subscribe(&w, &bot, code, url, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    snprintf(id, sizeof id, "%s", ht_jstr(r.json, "subscription.id"));
    EXPECT(json_is_true(ht_j(r.json, "subscription.active")));
    ht_resp_free(&r);

    /* Live: each move reaches the bot, signed and in order. */
    move(&w, code, 2, &version);
    move(&w, code, 4, &version);
    wait_statuses(&rl, (const int[]){2, 4}, 2);

    /* The receiver is down for a while: nothing is lost, nothing reordered. */
    ht_relay_stop(&rl);
    move(&w, code, 5, &version);
    citizen_supplement(&w, code, &version);
    move(&w, code, 9, &version);
    struct timespec ts = {1, 500 * 1000000L};
    nanosleep(&ts, NULL);
    ht_relay_start(&rl, rl.port, secret);
    wait_statuses(&rl, (const int[]){2, 4, 5, 4, 9}, 5);

    /* The final status is delivered, then the subscription ends by itself. */
    move(&w, code, 10, &version);
    wait_statuses(&rl, (const int[]){2, 4, 5, 4, 9, 10}, 6);
    char path[128];
    snprintf(path, sizeof path, "/v1/bot/subscriptions/%s", id);
    int64_t end = ht_mono_ms() + 5000;
    for (;;) {
        ht_json_call(&w.c, "GET", path, bot.token, NULL, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        if (json_is_false(ht_j(r.json, "subscription.active")) || ht_mono_ms() > end)
            break;
        ht_resp_free(&r);
    }
    EXPECT(json_is_false(ht_j(r.json, "subscription.active")));
    EXPECT_STR(ht_jstr(r.json, "subscription.end_reason"), "final");
    ht_resp_free(&r);

    /* Another bot sees no such subscription; a final dossier takes no new one. */
    bot_new(&w, &other, other_secret, sizeof other_secret);
    ht_json_call(&w.c, "GET", path, other.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);
    subscribe(&w, &bot, code, url, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    ht_resp_free(&r);

    /* A subscription deleted by its bot gets nothing more. */
    char code2[128];
    long long v2 = 1;
    ht_submit(&w.c, &w.cit, &w.svc, code2, sizeof code2);
    subscribe(&w, &bot, code2, url, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    snprintf(path, sizeof path, "/v1/bot/subscriptions/%s", ht_jstr(r.json, "subscription.id"));
    ht_resp_free(&r);
    ht_json_call(&w.c, "DELETE", path, bot.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 204, NULL);
    ht_resp_free(&r);
    move(&w, code2, 2, &v2);
    nanosleep(&ts, NULL);
    wait_statuses(&rl, (const int[]){2, 4, 5, 4, 9, 10}, 6);

    ht_relay_stop(&rl);
    ht_world_stop(&w);
}

/* A receiver down while more than a window (1,024) of other changes is committed: its
 * dossier's changes are set aside and retried from storage, the other changes flow
 * on, and once the receiver is back it gets them all, in order. */
static void test_down_receiver_does_not_hold_up_the_rest(void)
{
    ht_world w;
    ht_user bot;
    ht_relay rl;
    char secret[128], code[128], other[128], url[128];
    long long version = 1;
    ht_resp r;

    memset(&rl, 0, sizeof rl);
    ht_world_start(&w, "--webhook-allow-private");
    bot_new(&w, &bot, secret, sizeof secret);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    rl.port = ht_free_port(); /* nobody listens there yet */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rl.port);
    subscribe(&w, &bot, code, url, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    move(&w, code, 2, &version);
    move(&w, code, 4, &version);
    for (int i = 0; i < 1100; i++)
        ht_submit(&w.c, &w.cit, &w.svc, other, sizeof other);
    /* The consumer's cursor passes the stuck dossier: everything else is delivered. */
    int64_t end = ht_mono_ms() + 30000;
    while (ht_metric(&w.c, "hoso_consumer_lag_events{consumer=\"webhooks\"}") > 0 && ht_mono_ms() < end) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    EXPECT(ht_metric(&w.c, "hoso_consumer_lag_events{consumer=\"webhooks\"}") == 0);
    EXPECT(ht_metric(&w.c, "hoso_consumer_parked{consumer=\"webhooks\"}") >= 2);
    /* An operator sees the same, and why. */
    ht_user admin;
    memset(&admin, 0, sizeof admin);
    snprintf(admin.login, sizeof admin.login, "quantri-wh-%d", (int)getpid());
    snprintf(admin.password, sizeof admin.password, "Quan-tri-%d-Pass!", (int)getpid());
    char args[256];
    snprintf(args, sizeof args, "create-admin --username '%s' --password '%s'", admin.login, admin.password);
    free(ht_admin(&w.s, args));
    ht_login(&w.c, &admin, 1);
    ht_json_call(&w.c, "GET", "/v1/admin/mirror?consumer=webhooks", admin.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(json_is_true(ht_j(r.json, "on")));
    EXPECT(ht_jint(r.json, "waiting_behind") >= 2);
    EXPECT_INT(ht_jint(r.json, "dead_letter_count"), 0);
    EXPECT(ht_jstr(r.json, "last_error.message") != NULL);
    ht_resp_free(&r);
    ht_json_call(&w.c, "GET", "/v1/admin/mirror?consumer=nobody", admin.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    ht_resp_free(&r);
    ht_relay_start(&rl, rl.port, secret);
    ht_relay_wait(&rl, (const int[]){2, 4}, 2, 60);
    /* The retries' backoff may have outlasted the server's keep-alive: a new connection. */
    ht_conn_close(&w.c);
    ht_conn_init(&w.c, w.s.port);
    move(&w, code, 5, &version);
    ht_relay_wait(&rl, (const int[]){2, 4, 5}, 3, 60);
    ht_relay_stop(&rl);
    ht_world_stop(&w);
}

/* bot-relay refuses a forged signature and a stale timestamp, and drops a repeat. */
static void test_relay_checks(void)
{
    ht_relay rl;
    uint8_t key[24];
    char secret[80], b64[64];
    memset(&rl, 0, sizeof rl);
    randombytes_buf(key, sizeof key);
    sodium_bin2base64(b64, sizeof b64, key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
    snprintf(secret, sizeof secret, "whsec_%s", b64);
    ht_relay_start(&rl, 0, secret);

    const char *body = "{\"type\":\"dossier.status\",\"data\":{\"code\":\"X\",\"status\":4,\"chat_ref\":\"zalo:4217\","
                       "\"message\":\"Hồ sơ X: Đang xử lý\"}}";
    struct {
        const char *id;
        long long ts_shift;
        int forge;
        int status;
    } cases[] = {
        {"msg_1", 0, 0, 200},   /* genuine */
        {"msg_1", 0, 0, 200},   /* the same id again: answered, not passed on */
        {"msg_2", 0, 1, 401},   /* signed with another secret */
        {"msg_3", -600, 0, 400}, /* ten minutes old */
        {"msg_4", 600, 0, 400},  /* from the future */
        {"msg_5", 0, 2, 401},   /* a genuine signature over another body */
        {"msg_6", 0, 3, 401},   /* a genuine signature of another id */
    };
    ht_conn c;
    ht_conn_init(&c, rl.port);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ts[32], headers[512], sig[64], signed_text[1024];
        uint8_t mac[32], k2[24];
        snprintf(ts, sizeof ts, "%lld", (long long)time(NULL) + cases[i].ts_shift);
        /* forge 2 and 3 sign something else than what is sent, with the right key */
        snprintf(signed_text, sizeof signed_text, "%s.%s.%s", cases[i].forge == 3 ? "msg_other" : cases[i].id, ts,
                 cases[i].forge == 2 ? "{\"data\":{\"status\":10}}" : body);
        if (cases[i].forge == 1)
            randombytes_buf(k2, sizeof k2);
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, cases[i].forge == 1 ? k2 : key, sizeof key);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)signed_text, strlen(signed_text));
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_bin2base64(sig, sizeof sig, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
        snprintf(headers, sizeof headers,
                 "Content-Type: application/json\r\nwebhook-id: %s\r\nwebhook-timestamp: %s\r\nwebhook-signature: v1,%s\r\n",
                 cases[i].id, ts, sig);
        ht_resp r;
        if (ht_http(&c, "POST", "/hook", headers, body, strlen(body), &r) != 0)
            ht_fail("bot-relay did not answer case %zu", i);
        if (r.status != cases[i].status)
            ht_fail("case %zu (%s): bot-relay answered %d, expected %d: %s", i, cases[i].id, r.status, cases[i].status,
                    r.body);
        ht_resp_free(&r);
    }
    ht_conn_close(&c);
    int got[8];
    EXPECT_INT(ht_relay_statuses(&rl, got, 8), 1); /* only the genuine one reached the chat */
    ht_relay_stop(&rl);
}

/* Without --webhook-allow-private a callback must be https to a public address. */
static void test_callback_urls_into_private_networks_refused(void)
{
    ht_world w;
    ht_user bot;
    char secret[128], code[128];
    ht_resp r;
    ht_world_start(&w, NULL);
    bot_new(&w, &bot, secret, sizeof secret);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    const char *bad[] = {
        "http://example.com/hook",          /* not https */
        "https://127.0.0.1/hook",           /* loopback */
        "https://10.1.2.3/hook",            /* private */
        "https://169.254.169.254/latest",   /* cloud metadata */
        "https://[::1]/hook",               /* IPv6 loopback */
        "https://[::ffff:192.168.1.1]/hook", /* IPv4-mapped private */
        "https://localhost/hook",           /* a name that resolves to loopback */
        "https://localhost./hook",          /* the same, fully qualified */
        "https://2130706433/hook",          /* 127.0.0.1 as one number */
        "https://0x7f.1/hook",              /* 127.0.0.1 in hex and short form */
        "https://203.0.114.1/hook",         /* a public address, but https needs a host name */
        "https://user@example.com/hook",    /* credentials in the URL */
        "ftp://example.com/hook",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        subscribe(&w, &bot, code, bad[i], &r);
        if (r.status != 422)
            ht_fail("callback %s: got %d, expected 422: %s", bad[i], r.status, r.body);
        EXPECT(ht_err_names_field(&r, "callback_url"));
        ht_resp_free(&r);
    }
    /* A wrong verifier looks like an unknown code. */
    char body[512];
    snprintf(body, sizeof body, "{\"code\":\"%s\",\"phone_last4\":\"0000\",\"chat_ref\":\"c\",\"callback_url\":\"https://bot.example.vn/\"}",
             code);
    if (strcmp(w.cit.phone + strlen(w.cit.phone) - 4, "0000") != 0) {
        ht_json_call(&w.c, "POST", "/v1/bot/subscriptions", bot.token, body, &r);
        HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
        ht_resp_free(&r);
    }
    ht_world_stop(&w);
}

/* A message on the dossier's thread reaches the bot too, in order with the changes:
 * `message` is its text, `from` who wrote it. */
static void test_messages_reach_the_bot(void)
{
    ht_world w;
    ht_user bot;
    ht_relay rl;
    char secret[128], code[128], url[128], path[200], op[80], line[4096];
    long long version = 1;
    ht_resp r;
    memset(&rl, 0, sizeof rl);
    ht_world_start(&w, "--webhook-allow-private");
    bot_new(&w, &bot, secret, sizeof secret);
    ht_relay_start(&rl, 0, secret);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rl.port);
    subscribe(&w, &bot, code, url, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    move(&w, code, 2, &version);
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages", code);
    json_t *b = json_pack("{s:s}", "text", "Hồ sơ cần bản chụp CCCD mặt sau.");
    ht_mp_callj(&w.c, "POST", path, w.off.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    ht_op_id(op, sizeof op);
    b = json_pack("{s:s, s:s}", "text", "Hồ sơ: tôi gửi ngay ạ.", "op_id", op);
    ht_mp_callj(&w.c, "POST", path, w.cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    move(&w, code, 4, &version);
    wait_statuses(&rl, (const int[]){2, 2, 2, 4}, 4);
    FILE *f = fopen(rl.out, "r");
    const char *want_type[] = {"dossier.status", "message", "message", "dossier.status"};
    const char *want_from[] = {NULL, "officer", "citizen", NULL};
    for (int i = 0; i < 4 && f != NULL && fgets(line, sizeof line, f) != NULL; i++) {
        json_t *j = json_loads(line, 0, NULL);
        EXPECT_STR(ht_jstr(j, "type"), want_type[i]);
        if (want_from[i] != NULL) EXPECT_STR(ht_jstr(j, "from"), want_from[i]);
        if (i == 1) EXPECT_STR(ht_jstr(j, "message"), "Hồ sơ cần bản chụp CCCD mặt sau.");
        json_decref(j);
    }
    if (f != NULL) fclose(f);
    ht_relay_stop(&rl);
    unlink(rl.out);
    ht_world_stop(&w);
}

UNIT_MAIN(UNIT(test_webhooks_in_order_through_an_outage), UNIT(test_messages_reach_the_bot), UNIT(test_down_receiver_does_not_hold_up_the_rest),
          UNIT(test_relay_checks),
          UNIT(test_callback_urls_into_private_networks_refused))
