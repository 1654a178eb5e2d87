/*
 * client_offline.c - the SDK's offline outbox against a real hosod. With the server
 * down, 200 ops are queued (submits and feedback: the other kinds need server state);
 * then hosod comes back on the same port and the outbox is flushed while the flush is
 * interrupted three times: a proxy between client and server swallows the reply to
 * one flush request (the server applied it, the client never heard), the client's
 * connections are dropped, and hosod is killed with SIGKILL and started again. Every
 * op must be answered exactly once, the server must hold exactly one dossier per
 * submit, and the client's local copy (from events or the snapshot) must equal the
 * server's snapshot.
 */
#include "hoso_test.h"
#include "hoso_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define NOPS 200
#define NSUBMIT 150



/* ---------------------------------------------------------------------------------- */
/* A loopback TCP proxy that can lose one reply: once armed, the next connection whose
 * request starts with "POST /v1/sync" or "POST /v1/dossiers" is forwarded to hosod,
 * and closed, without a byte of the reply, as soon as hosod starts answering (it
 * answers only after the change is durable). */
typedef struct proxy {
    int lfd, port, upstream;
    atomic_int armed, cuts, stop;
    pthread_t th;
} proxy;

typedef struct pconn {
    proxy *p;
    int a, b;
} pconn;

static void *relay(void *arg)
{
    pconn *pc = arg;
    char buf[65536];
    int victim = 0, first = 1;
    for (int rounds = 0; rounds < 1000000 && !atomic_load(&pc->p->stop); rounds++) {
        struct pollfd fds[2] = {{pc->a, POLLIN, 0}, {pc->b, POLLIN, 0}};
        int n = poll(fds, 2, 100);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (fds[0].revents) {
            ssize_t r = read(pc->a, buf, sizeof(buf));
            if (r <= 0) break;
            if (first) {
                first = 0;
                int expected = 1;
                if ((r >= 13 && (memcmp(buf, "POST /v1/sync", 13) == 0 || memcmp(buf, "POST /v1/dossiers", 17) == 0)) &&
                    atomic_compare_exchange_strong(&pc->p->armed, &expected, 0))
                    victim = 1;
            }
            if (write(pc->b, buf, (size_t)r) != r) break;
        }
        if (fds[1].revents) {
            ssize_t r = read(pc->b, buf, sizeof(buf));
            if (r <= 0) break;
            if (victim) {
                atomic_fetch_add(&pc->p->cuts, 1);
                break;
            }
            if (write(pc->a, buf, (size_t)r) != r) break;
        }
    }
    close(pc->a);
    close(pc->b);
    free(pc);
    return NULL;
}

static void *proxy_main(void *arg)
{
    proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd pf = {p->lfd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0) continue;
        int a = accept(p->lfd, NULL, NULL);
        if (a < 0) continue;
        int b = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->upstream)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (b < 0 || connect(b, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            /* hosod is down: the client sees the connection close, as with no route. */
            close(a);
            if (b >= 0) close(b);
            continue;
        }
        pconn *pc = calloc(1, sizeof(*pc));
        pc->p = p;
        pc->a = a;
        pc->b = b;
        pthread_t t;
        if (pthread_create(&t, NULL, relay, pc) != 0) ht_fail("pthread_create");
        pthread_detach(t);
    }
    return NULL;
}

static void proxy_start(proxy *p, int upstream)
{
    memset(p, 0, sizeof(*p));
    p->upstream = upstream;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(p->lfd, 64) ||
        getsockname(p->lfd, (struct sockaddr *)&sa, &sl))
        ht_fail("proxy: %s", strerror(errno));
    p->port = ntohs(sa.sin_port);
    if (pthread_create(&p->th, NULL, proxy_main, p) != 0) ht_fail("pthread_create");
}

static void proxy_stop(proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->th, NULL);
    close(p->lfd);
}

typedef struct op_rec {
    char op_id[80];
    int submit;
    int answered;   /* times on_op_done reported it */
    int queued_cb;  /* the call's own callback said "queued" */
} op_rec;

typedef struct world {
    ht_world w;
    hoso_client *c;
    uv_loop_t loop;
    op_rec ops[NOPS];
    int nops;
    int answered, duplicates, rejected;
    int done;
    int cut_at, drop_at, kill_at, cut, dropped, killed;
    proxy px;
    int events;
} world;

static world W;

static op_rec *find_op(const char *op_id)
{
    for (int i = 0; i < W.nops; i++)
        if (strcmp(W.ops[i].op_id, op_id) == 0) return &W.ops[i];
    return NULL;
}

static void on_queued(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    op_rec *o = ud;
    if (r->error.err) ht_fail("op %d failed at once: %s %s", (int)(o - W.ops), r->error.code, r->error.message);
    if (!r->queued) ht_fail("op %d was answered while hosod is down", (int)(o - W.ops));
    snprintf(o->op_id, sizeof(o->op_id), "%s", r->op_id);
    o->queued_cb++;
}

static void on_op_done(hoso_client *c, const hoso_client_op *op, const char *status, const hoso_dossier *d,
                       const hoso_client_error *err, void *ud)
{
    op_rec *o = find_op(op->op_id);
    if (!o) ht_fail("on_op_done for an unknown op %s", op->op_id);
    o->answered++;
    W.answered++;
    if (strcmp(status, "duplicate") == 0) W.duplicates++;
    if (err) {
        W.rejected++;
        fprintf(stderr, "rejected %s (%s): %s %s %s\n", op->op_id, op->kind, err->code, err->message, err->details);
    }
    if (o->submit && !err && !d) ht_fail("an applied submit came without its dossier");
}

static void on_event(hoso_client *c, const hoso_client_event *ev, void *ud)
{
    W.events++;
}

static void on_sync_done(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    if (r->error.err) ht_fail("sync: %s %s", r->error.code, r->error.message);
    W.done = 1;
}

/* Interrupts the flush from the loop while it runs. */
static void on_tick(uv_timer_t *t)
{
    if (!W.cut && W.answered >= W.cut_at) {
        W.cut = 1;
        atomic_store(&W.px.armed, 1);
    }
    if (!W.dropped && W.answered >= W.drop_at) {
        W.dropped = 1;
        hoso_client_drop_connections(W.c);
    }
    if (!W.killed && W.answered >= W.kill_at) {
        W.killed = 1;
        ht_server_kill9(&W.w.s);
        ht_server_restart_same_port(&W.w.s);
    }
}

/* First text field of the service's form: where each submit writes its number. */
static const char *text_field(const ht_service *svc)
{
    json_t *form = json_object_get(svc->svc, "form"), *f;
    size_t i;
    json_array_foreach(form, i, f) {
        if (strcmp(ht_jstr(f, "type") ? ht_jstr(f, "type") : "", "text") == 0) return ht_jstr(f, "key");
    }
    return NULL;
}

static void collect_cached(const void *buf, size_t len, void *ud)
{
    json_t *arr = ud;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, NULL) == MSGPACK_UNPACK_SUCCESS)
        json_array_append_new(arr, ht_json_from_msgpack(&u.data));
    msgpack_unpacked_destroy(&u);
}

/* code -> the whole dossier, for a list of dossiers. */
static json_t *index_of(const json_t *arr)
{
    json_t *idx = json_object(), *d;
    size_t i;
    json_array_foreach(arr, i, d) json_object_set(idx, ht_jstr(d, "code"), d);
    return idx;
}

static void test_offline_queue_flush_exactly_once(void)
{
    char state[PATH_MAX];

    memset(&W, 0, sizeof(W));
    ht_world_start(&W.w, NULL);
    const char *tf = text_field(&W.w.svc);
    if (!tf) ht_fail("service %s has no text field", W.w.svc.code);

    snprintf(state, sizeof(state), "%s/client-XXXXXX", ht_tmpdir());
    if (!mkdtemp(state)) ht_fail("mkdtemp: %s", strerror(errno));
    /* Does this hosod serve POST /v1/sync? Then a lost reply shows as duplicates. */
    ht_resp probe;
    ht_mp_call(&W.w.c, "GET", "/v1/sync/snapshot", W.w.cit.token, NULL, &probe);
    int has_sync = probe.status == 200;
    ht_resp_free(&probe);
    proxy_start(&W.px, W.w.s.port);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", W.px.port);
    uv_loop_init(&W.loop);
    hoso_client_options opt = {.base_url = url, .state_dir = state, .batch_size = 20, .backoff_min_ms = 50,
                               .backoff_max_ms = 400, .request_timeout_ms = 5000};
    hoso_client_callbacks cbs = {.on_op_done = on_op_done, .on_event = on_event};
    EXPECT_INT(hoso_client_new(&W.c, &W.loop, &opt, &cbs), 0);

    /* Log in while online: the token is kept in the local store. */
    EXPECT_INT(hoso_client_login(W.c, W.w.cit.login, NULL, W.w.cit.password, on_sync_done, NULL), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &W.done, 20000), 0);
    W.done = 0;

    /* The network goes away: hosod dies. */
    ht_server_kill9(&W.w.s);
    for (int i = 0; i < NOPS; i++) {
        op_rec *o = &W.ops[W.nops++];
        /* Mostly submits; every fourth op is feedback. */
        o->submit = i % 4 != 3;
        if (o->submit) {
            json_t *form = ht_valid_form(&W.w.svc), *papers = ht_valid_papers(&W.w.svc);
            json_object_set_new(form, tf, json_sprintf("offline-%03d", i));
            msgpack_sbuffer s1, s2;
            msgpack_unpacked u1, u2;
            ht_msgpack_of(form, &s1, &u1);
            ht_msgpack_of(papers, &s2, &u2);
            EXPECT_INT(hoso_client_submit(W.c, W.w.svc.code, &u1.data, &u2.data, on_queued, o), 0);
            msgpack_unpacked_destroy(&u1);
            msgpack_unpacked_destroy(&u2);
            msgpack_sbuffer_destroy(&s1);
            msgpack_sbuffer_destroy(&s2);
            json_decref(form);
            json_decref(papers);
        } else {
            char text[64];
            snprintf(text, sizeof(text), "Góp ý ngoại tuyến số %d", i);
            EXPECT_INT(hoso_client_feedback(W.c, text, i % 8 == 3 ? W.w.svc.code : NULL, on_queued, o), 0);
        }
    }
    int nsubmit = 0;
    for (int i = 0; i < NOPS; i++) nsubmit += W.ops[i].submit;
    EXPECT_INT(hoso_client_outbox_len(W.c), NOPS);
    /* Every call learns that its op is queued once the first attempt fails. */
    int64_t deadline = ht_mono_ms() + 20000;
    for (;;) {
        int n = 0;
        for (int i = 0; i < NOPS; i++) n += W.ops[i].queued_cb;
        if (n == NOPS) break;
        if (ht_mono_ms() > deadline) ht_fail("only %d of %d calls reported queued", n, NOPS);
        hoso_client_run_for(W.c, 20);
    }
    EXPECT_INT(W.answered, 0);
    EXPECT_INT(hoso_client_outbox_len(W.c), NOPS);

    /* hosod comes back on the same port; the retry timer flushes the outbox. Lose a
     * reply once a tenth went through, drop the connections at a fifth, and SIGKILL
     * hosod at a half. */
    W.cut_at = NOPS / 10;
    W.drop_at = NOPS / 5;
    W.kill_at = NOPS / 2;
    ht_server_restart_same_port(&W.w.s);
    uv_timer_t tick;
    uv_timer_init(&W.loop, &tick);
    uv_timer_start(&tick, on_tick, 1, 1);
    deadline = ht_mono_ms() + 90000;
    while (hoso_client_outbox_len(W.c) > 0 || W.answered < NOPS) {
        if (ht_mono_ms() > deadline)
            ht_fail("outbox not flushed: %zu left, %d answered", hoso_client_outbox_len(W.c), W.answered);
        hoso_client_run_for(W.c, 20);
    }
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    EXPECT(W.cut && W.dropped && W.killed);
    EXPECT_INT(atomic_load(&W.px.cuts), 1);
    /* The batch whose reply was lost was applied: its resend is answered "duplicate". */
    if (has_sync && W.duplicates < 1) ht_fail("the resent batch was not answered as duplicates");
    EXPECT_INT(W.rejected, 0);
    EXPECT_INT(W.answered, NOPS);
    for (int i = 0; i < NOPS; i++)
        if (W.ops[i].answered != 1) ht_fail("op %d (%s) answered %d times", i, W.ops[i].op_id, W.ops[i].answered);
    printf("flushed %d ops (%d submits), %d answered as duplicates after the interruptions\n", NOPS, nsubmit,
           W.duplicates);

    /* Pull the feed: events (or the snapshot) give the client its view. */
    W.done = 0;
    EXPECT_INT(hoso_client_sync(W.c, on_sync_done, NULL), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &W.done, 30000), 0);

    /* The server: one dossier per submit, each form number exactly once. */
    ht_conn_close(&W.w.c);
    ht_conn_init(&W.w.c, W.w.s.port);
    EXPECT_INT(ht_count_list(&W.w.c, W.w.cit.token, "/v1/dossiers"), nsubmit);
    ht_resp snap;
    ht_mp_call(&W.w.c, "GET", "/v1/sync/snapshot", W.w.cit.token, NULL, &snap);
    json_t *server_list;
    if (snap.status == 200) {
        server_list = json_incref(json_object_get(snap.json, "dossiers"));
    } else {
        /* A server without the sync endpoints: the dossier list is its state. */
        ht_resp lr;
        ht_mp_call(&W.w.c, "GET", "/v1/dossiers?limit=100", W.w.cit.token, NULL, &lr);
        server_list = json_array();
        json_t *d;
        size_t i;
        json_array_foreach(json_object_get(lr.json, "dossiers"), i, d) json_array_append(server_list, d);
        char path[600];
        for (int page = 0; page < 10 && ht_jstr(lr.json, "next") && ht_jstr(lr.json, "next")[0]; page++) {
            snprintf(path, sizeof(path), "/v1/dossiers?limit=100&cursor=%s", ht_jstr(lr.json, "next"));
            ht_resp_free(&lr);
            ht_mp_call(&W.w.c, "GET", path, W.w.cit.token, NULL, &lr);
            json_array_foreach(json_object_get(lr.json, "dossiers"), i, d) json_array_append(server_list, d);
        }
        ht_resp_free(&lr);
    }
    EXPECT_INT(json_array_size(server_list), nsubmit);
    int seen[NOPS] = {0};
    json_t *d;
    size_t i;
    json_array_foreach(server_list, i, d) {
        const char *mark = json_string_value(json_object_get(json_object_get(d, "form"), tf));
        int k = -1;
        if (!mark || sscanf(mark, "offline-%d", &k) != 1 || k < 0 || k >= NOPS) ht_fail("dossier without its mark");
        seen[k]++;
    }
    for (int k = 0; k < NOPS; k++)
        if (W.ops[k].submit && seen[k] != 1) ht_fail("submit %d is on the server %d times", k, seen[k]);

    /* The client's view equals the server's. */
    json_t *mine = json_array();
    EXPECT_INT(hoso_client_cached_each(W.c, collect_cached, mine), 0);
    json_t *a = index_of(server_list), *b = index_of(mine);
    if (json_object_size(a) != json_object_size(b))
        ht_fail("client has %zu dossiers, server %zu", json_object_size(b), json_object_size(a));
    const char *k;
    json_t *sv;
    json_object_foreach(a, k, sv) {
        json_t *cv = json_object_get(b, k);
        if (!cv || !json_equal(sv, cv))
            ht_fail("dossier %s differs:\n server %s\n client %s", k, ht_dump(sv), cv ? ht_dump(cv) : "(none)");
    }
    printf("client view = server view: %zu dossiers, %d feed events\n", json_object_size(a), W.events);
    json_decref(a);
    json_decref(b);
    json_decref(mine);
    json_decref(server_list);
    ht_resp_free(&snap);

    hoso_client_free(W.c);
    uv_run(&W.loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&W.loop), 0);
    proxy_stop(&W.px);
    ht_world_stop(&W.w);
}

/* Queued ops survive the client being closed: a new client on the same state dir
 * sends them. */
static void test_outbox_survives_restart(void)
{
    char state[PATH_MAX], url[64];
    memset(&W, 0, sizeof(W));
    ht_world_start(&W.w, NULL);
    ht_sdk_paths(&W.w.s, state, url);
    hoso_client_options opt = {.base_url = url, .state_dir = state, .backoff_min_ms = 50, .backoff_max_ms = 200};
    hoso_client_callbacks cbs = {.on_op_done = on_op_done};

    uv_loop_init(&W.loop);
    EXPECT_INT(hoso_client_new(&W.c, &W.loop, &opt, &cbs), 0);
    EXPECT_INT(hoso_client_login(W.c, W.w.cit.login, NULL, W.w.cit.password, on_sync_done, NULL), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &W.done, 20000), 0);
    /* A dossier filed while online, for messages written while offline. */
    char code[96];
    ht_submit(&W.w.c, &W.w.cit, &W.w.svc, code, sizeof code);
    ht_server_kill9(&W.w.s);
    /* 60 submits: a full batch of the default size (50), with real forms, then more. */
    for (int i = 0; i < 60; i++) {
        op_rec *o = &W.ops[W.nops++];
        o->submit = 1;
        json_t *form = ht_valid_form(&W.w.svc), *papers = ht_valid_papers(&W.w.svc);
        msgpack_sbuffer s1, s2;
        msgpack_unpacked u1, u2;
        ht_msgpack_of(form, &s1, &u1);
        ht_msgpack_of(papers, &s2, &u2);
        EXPECT_INT(hoso_client_submit(W.c, W.w.svc.code, &u1.data, &u2.data, on_queued, o), 0);
        msgpack_unpacked_destroy(&u1);
        msgpack_unpacked_destroy(&u2);
        msgpack_sbuffer_destroy(&s1);
        msgpack_sbuffer_destroy(&s2);
        json_decref(form);
        json_decref(papers);
    }
    /* And three messages on the dossier filed before. */
    for (int i = 0; i < 3; i++) {
        char text[64];
        snprintf(text, sizeof text, "Tin nhắn ngoại tuyến %d", i);
        EXPECT_INT(hoso_client_message(W.c, code, text, NULL, 0, on_queued, &W.ops[W.nops++]), 0);
    }
    hoso_client_run_for(W.c, 100);
    hoso_client_free(W.c);
    uv_run(&W.loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&W.loop), 0);

    ht_server_restart_same_port(&W.w.s);
    uv_loop_init(&W.loop);
    EXPECT_INT(hoso_client_new(&W.c, &W.loop, &opt, &cbs), 0);
    EXPECT_INT(hoso_client_outbox_len(W.c), 63);
    W.done = 0;
    EXPECT_INT(hoso_client_sync(W.c, on_sync_done, NULL), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &W.done, 20000), 0);
    EXPECT_INT(hoso_client_outbox_len(W.c), 0);
    EXPECT_INT(W.answered, 63);
    EXPECT_INT(W.rejected, 0);
    ht_conn_close(&W.w.c);
    ht_conn_init(&W.w.c, W.w.s.port);
    EXPECT_INT(ht_count_list(&W.w.c, W.w.cit.token, "/v1/dossiers"), 61);
    /* The messages, once each, in the order they were written. */
    char path[160];
    ht_resp mr;
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    ht_mp_call(&W.w.c, "GET", path, W.w.cit.token, NULL, &mr);
    HT_EXPECT_REPLY(&mr, 200, NULL);
    EXPECT_INT(json_array_size(json_object_get(mr.json, "messages")), 3);
    EXPECT_STR(ht_jstr(mr.json, "messages.2.text"), "Tin nhắn ngoại tuyến 2");
    ht_resp_free(&mr);
    hoso_client_free(W.c);
    uv_run(&W.loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&W.loop), 0);
    ht_world_stop(&W.w);
}

UNIT_MAIN(UNIT(test_offline_queue_flush_exactly_once), UNIT(test_outbox_survives_restart))
