/*
 * client_ops.c - every outbox kind through the SDK against a real hosod, online:
 * submit, supplement (5 -> 4) with base_version, withdraw, rate, feedback; and the
 * refusals, which leave the outbox and reach on_rejected with the error (and the
 * current dossier for VERSION_CONFLICT) instead of being retried forever.
 */
#include "hoso_test.h"
#include "hoso_client.h"

#include <errno.h>

typedef struct world {
    uv_loop_t loop;
    hoso_client *c;
    int done;
    hoso_client_error err;
    char code[128];
    long long status, version;
    int rejected;
    char rejected_code[32];
    long long rejected_version; /* the current dossier given with the refusal */
} world;

static world W;

static void on_reply(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    W.done = 1;
    W.err = r->error;
    if (r->queued) ht_fail("op queued while hosod is up: %s", r->error.message);
    if (r->dossier) {
        snprintf(W.code, sizeof(W.code), "%s", r->dossier->code.ptr);
        W.status = r->dossier->status;
        W.version = r->dossier->version;
    }
}

static void on_rejected(hoso_client *c, const hoso_client_op *op, const hoso_client_error *err,
                        const hoso_dossier *cur, void *ud)
{
    W.rejected++;
    snprintf(W.rejected_code, sizeof(W.rejected_code), "%s", err->code);
    W.rejected_version = cur ? cur->version : -1;
}

static void wait_reply(void)
{
    if (hoso_client_run_until(W.c, &W.done, 20000)) ht_fail("no reply within 20 s");
    W.done = 0;
}

static void officer_move(ht_server *s, const ht_user *off, const char *code, int to)
{
    ht_conn c;
    ht_resp r;
    ht_conn_init(&c, s->port);
    if (ht_transition(&c, off, code, to, -1, &r) != 200) ht_fail("move to %d: %s", to, r.body);
    ht_resp_free(&r);
    ht_conn_close(&c);
}

static void submit(const ht_service *svc)
{
    json_t *form = ht_valid_form(svc), *papers = ht_valid_papers(svc);
    msgpack_sbuffer s1, s2;
    msgpack_unpacked u1, u2;
    ht_msgpack_of(form, &s1, &u1);
    ht_msgpack_of(papers, &s2, &u2);
    EXPECT_INT(hoso_client_submit(W.c, svc->code, &u1.data, &u2.data, on_reply, NULL), 0);
    wait_reply();
    msgpack_unpacked_destroy(&u1);
    msgpack_unpacked_destroy(&u2);
    msgpack_sbuffer_destroy(&s1);
    msgpack_sbuffer_destroy(&s2);
    json_decref(form);
    json_decref(papers);
    if (W.err.err) ht_fail("submit: %s %s %s", W.err.code, W.err.message, W.err.details);
    EXPECT_INT(W.status, 1);
}

static void test_every_kind(void)
{
    ht_world w;
    char state[PATH_MAX], url[64], first[128];

    memset(&W, 0, sizeof(W));
    ht_world_start(&w, NULL);
    ht_sdk_paths(&w.s, state, url);
    uv_loop_init(&W.loop);
    hoso_client_options opt = {.base_url = url, .state_dir = state};
    hoso_client_callbacks cbs = {.on_rejected = on_rejected};
    EXPECT_INT(hoso_client_new(&W.c, &W.loop, &opt, &cbs), 0);
    EXPECT_INT(hoso_client_login(W.c, w.cit.login, NULL, w.cit.password, on_reply, NULL), 0);
    wait_reply();
    EXPECT_INT(W.err.err, 0);
    EXPECT_STR(hoso_client_role(W.c), "citizen");

    /* submit, then the officer asks for papers: 1 -> 2 -> 5 */
    submit(&w.svc);
    snprintf(first, sizeof(first), "%s", W.code);
    officer_move(&w.s, &w.off, first, 2);
    officer_move(&w.s, &w.off, first, 5);

    /* a supplement with a stale base_version is refused with the current dossier */
    json_t *pj = ht_jsonf("[{\"type\":\"giay_bo_sung\",\"number\":\"BS-1\",\"issuer\":\"UBND\"}]");
    msgpack_sbuffer sb;
    msgpack_unpacked u;
    ht_msgpack_of(pj, &sb, &u);
    EXPECT_INT(hoso_client_supplement(W.c, first, NULL, &u.data, 1, on_reply, NULL), 0);
    wait_reply();
    EXPECT_STR(W.err.code, "VERSION_CONFLICT");
    EXPECT_INT(W.rejected, 1);
    EXPECT_STR(W.rejected_code, "VERSION_CONFLICT");
    EXPECT_INT(W.rejected_version, 3);
    EXPECT_INT(hoso_client_outbox_len(W.c), 0);
    /* the same with the current version: 5 -> 4 */
    EXPECT_INT(hoso_client_supplement(W.c, first, NULL, &u.data, 3, on_reply, NULL), 0);
    wait_reply();
    EXPECT_INT(W.err.err, 0);
    EXPECT_INT(W.status, 4);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    json_decref(pj);

    /* withdrawing while processing (4) is not a citizen move */
    EXPECT_INT(hoso_client_withdraw(W.c, first, "Tôi đổi ý", 0, on_reply, NULL), 0);
    wait_reply();
    EXPECT_STR(W.err.code, "ILLEGAL_TRANSITION");
    EXPECT_INT(W.rejected, 2);

    /* 4 -> 9 -> 10, then a rating, once */
    officer_move(&w.s, &w.off, first, 9);
    officer_move(&w.s, &w.off, first, 10);
    json_t *aj = ht_jsonf("{\"thai_do\":5,\"thoi_gian\":4}");
    ht_msgpack_of(aj, &sb, &u);
    EXPECT_INT(hoso_client_rate(W.c, first, &u.data, on_reply, NULL), 0);
    wait_reply();
    EXPECT_INT(W.err.err, 0);
    EXPECT_INT(hoso_client_rate(W.c, first, &u.data, on_reply, NULL), 0);
    wait_reply();
    EXPECT_STR(W.err.code, "ALREADY_EXISTS");
    EXPECT_INT(W.rejected, 3);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    json_decref(aj);

    /* a second dossier, withdrawn while new (1 -> 7) */
    submit(&w.svc);
    EXPECT_INT(hoso_client_withdraw(W.c, W.code, "Nộp nhầm thủ tục", 1, on_reply, NULL), 0);
    wait_reply();
    EXPECT_INT(W.err.err, 0);
    EXPECT_INT(W.status, 7);

    /* feedback */
    EXPECT_INT(hoso_client_feedback(W.c, "Ứng dụng dễ dùng", w.svc.code, on_reply, NULL), 0);
    wait_reply();
    EXPECT_INT(W.err.err, 0);

    /* reads: get and list */
    EXPECT_INT(hoso_client_get(W.c, first, on_reply, NULL), 0);
    wait_reply();
    EXPECT_INT(W.status, 10);
    EXPECT_INT(hoso_client_outbox_len(W.c), 0);

    hoso_client_free(W.c);
    uv_run(&W.loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&W.loop), 0);
    ht_world_stop(&w);
}

UNIT_MAIN(UNIT(test_every_kind))
