/*
 * ws_stress.c - the push channel's ordering promise under load: no gap and no
 * duplicate while events are committed during the replay, many clients reconnecting
 * at random with `since` while officers keep moving dossiers, and the slow-consumer
 * close. Every client must end with exactly its owner's feed, in order.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include "hoso_test.h"
#include "ws.h"

typedef struct doss {
    char code[128];
    long long version;
    int status;
    int owner; /* index of the citizen */
} doss;

/* Moves d to `to` as officer on c, keeping its version; fails unless 200. */
static void step(ht_conn *c, const ht_user *off, doss *d, int to)
{
    ht_resp r;
    ht_transition(c, off, d->code, to, d->version, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    d->version = ht_jint(ht_dossier_of(&r), "version");
    d->status = to;
    ht_resp_free(&r);
}

/* Submits a dossier for u and brings it to status 4, from where 4 -> 6 -> 4 can be
 * repeated without end. */
static void prepare(ht_conn *c, const ht_user *u, const ht_user *off, const ht_service *svc, doss *d, int owner)
{
    memset(d, 0, sizeof(*d));
    ht_submit(c, u, svc, d->code, sizeof(d->code));
    d->owner = owner;
    d->version = -1;
    step(c, off, d, 2);
    step(c, off, d, 4);
}

static long long head_of(int port, const char *token)
{
    ht_ws ws;
    json_t *sub = ht_ws_open_subscribed(&ws, port, token, 1LL << 40);
    long long h = ht_jint(sub, "head");
    json_decref(sub);
    ht_ws_close(&ws);
    return h;
}

/* ---------------------------------------------------------------------------------- */
/* Officers moving dossiers in a thread. */

typedef struct mover {
    pthread_t th;
    int port;
    const ht_user *off;
    doss *d;
    size_t nd;
    int moves;                /* how many to make */
    int *per_owner;           /* moves counted per citizen (owned by this mover) */
    atomic_int done;
} mover;

static void *mover_main(void *p)
{
    mover *m = p;
    ht_conn c;
    ht_conn_init(&c, m->port);
    for (int i = 0; i < m->moves; i++) {
        doss *d = &m->d[i % m->nd];
        step(&c, m->off, d, d->status == 4 ? 6 : 4);
        m->per_owner[d->owner]++;
    }
    ht_conn_close(&c);
    atomic_store(&m->done, 1);
    return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* A client that keeps its position across connections. */

typedef struct client {
    ht_ws ws;
    int connected;
    long long last;           /* last seq received, over all its connections */
    int owner;
    int64_t reconnect_at;
    unsigned connects;
} client;

static void client_connect(client *cl, int port, const char *token, const char *src)
{
    if (ht_ws_connect(&cl->ws, port, token, src, 0) != 0) ht_fail("upgrade failed: HTTP %d", cl->ws.status);
    json_t *sub = ht_ws_subscribe(&cl->ws, cl->last, NULL);
    if (!json_is_true(ht_j(sub, "recovered"))) ht_fail("resume at %lld not recovered: %s", cl->last, ht_dump(sub));
    if (ht_jint(sub, "head") < cl->last) ht_fail("head behind the client: %s", ht_dump(sub));
    json_decref(sub);
    cl->connected = 1;
    cl->connects++;
}

/* Reads what is ready (waiting up to ms); every event must be last + 1. */
static void client_read(client *cl, int ms)
{
    for (;;) {
        ht_ws_frame f;
        int r = ht_ws_recv(&cl->ws, &f, ms);
        if (r == 0) return;
        if (r < 0) ht_fail("client closed by the server: %d %s", cl->ws.close_code, cl->ws.close_reason);
        json_t *j = ht_ws_frame_json(&f);
        ht_ws_frame_free(&f);
        if (strcmp(ht_jstr(j, "type") ? ht_jstr(j, "type") : "", "event") != 0)
            ht_fail("expected an event, got %s", ht_dump(j));
        long long seq = ht_jint(j, "seq");
        if (seq != cl->last + 1) ht_fail("gap or duplicate: after %lld came %lld", cl->last, seq);
        cl->last = seq;
        json_decref(j);
        ms = 0;
    }
}

/* ---------------------------------------------------------------------------------- */

/* Clients join with since=0 while a thread commits moves on the same feed: each sees
 * exactly 1..head, in order, whatever was committed during its replay. */
static void test_no_gap_during_replay(void)
{
    ht_server s;
    ht_conn c;
    ht_service svc;
    ht_user cit, off;
    doss d[3];
    int per_owner[1] = {0};
    client cl[6];

    ht_server_start(&s, NULL);
    ht_conn_init(&c, s.port);
    ht_service_pick(&c, &svc, 0, NULL);
    ht_citizen_new(&c, &cit);
    ht_officer_new(&s, &c, svc.agency, &off);
    for (int i = 0; i < 3; i++) prepare(&c, &cit, &off, &svc, &d[i], 0);
    /* Some history first, so that replays take a while. */
    for (int i = 0; i < 60; i++) step(&c, &off, &d[i % 3], d[i % 3].status == 4 ? 6 : 4);

    mover m = {.port = s.port, .off = &off, .d = d, .nd = 3, .moves = 240, .per_owner = per_owner};
    pthread_create(&m.th, NULL, mover_main, &m);
    memset(cl, 0, sizeof(cl));
    int joined = 0;
    while (!m.done) {
        /* A new client from 0 every few rounds, up to 6, some dropping out and
         * starting over from 0 again. */
        client *x = &cl[joined % 6];
        if (x->connected) ht_ws_close(&x->ws);
        memset(x, 0, sizeof(*x));
        client_connect(x, s.port, cit.token, NULL);
        joined++;
        for (int k = 0; k < 6; k++)
            if (cl[k].connected) client_read(&cl[k], 5);
    }
    pthread_join(m.th, NULL);
    long long head = head_of(s.port, cit.token);
    EXPECT(head >= 300);
    int64_t deadline = ht_mono_ms() + 15000;
    for (int k = 0; k < 6; k++) {
        if (!cl[k].connected) continue;
        while (cl[k].last < head && ht_mono_ms() < deadline) client_read(&cl[k], 50);
        EXPECT_INT(cl[k].last, head);
        client_read(&cl[k], 100); /* and nothing after head */
        EXPECT_INT(cl[k].last, head);
        ht_ws_close(&cl[k].ws);
    }
    EXPECT(joined >= 3);
    ht_service_free(&svc);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

#define CITIZENS 20
#define OFFICERS 4

/* Many clients, several per citizen, disconnecting (cleanly or not) and resuming
 * with since = last seen while officers make 5,000 moves (1,200 under ASan). */
static void test_reconnect_storm(void)
{
    ht_server s;
    ht_conn c;
    ht_service svc;
    ht_user cit[CITIZENS], off[OFFICERS];
    doss d[CITIZENS * 2];
    int per_owner[OFFICERS][CITIZENS];
    long long base[CITIZENS];
    mover m[OFFICERS];
    /* 500 clients, as the push issue asked; fewer under ASan, which makes each connection slower. */
#ifdef __SANITIZE_ADDRESS__
    int nclients = 200, moves = 300;
#else
    /* 500 clients and 5,000 officer moves (4 officers x 1250). */
    int nclients = 500, moves = 1250;
#endif
    const char *env = getenv("HOSO_WS_CLIENTS");
    if (env && atoi(env) > 0) nclients = atoi(env) > 1000 ? 1000 : atoi(env);

    ht_server_start(&s, NULL);
    ht_conn_init(&c, s.port);
    ht_service_pick(&c, &svc, 0, NULL);
    for (int i = 0; i < OFFICERS; i++) ht_officer_new(&s, &c, svc.agency, &off[i]);
    for (int i = 0; i < CITIZENS; i++) ht_citizen_new(&c, &cit[i]);
    for (int i = 0; i < CITIZENS * 2; i++) prepare(&c, &cit[i % CITIZENS], &off[0], &svc, &d[i], i % CITIZENS);
    for (int i = 0; i < CITIZENS; i++) base[i] = head_of(s.port, cit[i].token);
    memset(per_owner, 0, sizeof(per_owner));

    client *cl = calloc((size_t)nclients, sizeof(*cl));
    struct pollfd *pfd = calloc((size_t)nclients, sizeof(*pfd));
    char src[32];
    for (int i = 0; i < nclients; i++) {
        cl[i].owner = i % CITIZENS;
        snprintf(src, sizeof(src), "127.0.0.%d", 2 + i % 8);
        client_connect(&cl[i], s.port, cit[cl[i].owner].token, src);
    }
    /* Each officer moves its own share of the dossiers: no version conflicts. */
    for (int i = 0; i < OFFICERS; i++) {
        m[i] = (mover){.port = s.port, .off = &off[i], .d = d + i * (CITIZENS * 2 / OFFICERS),
                       .nd = CITIZENS * 2 / OFFICERS, .moves = moves, .per_owner = per_owner[i]};
        pthread_create(&m[i].th, NULL, mover_main, &m[i]);
    }
    srand(42);
    int64_t t0 = ht_mono_ms(), deadline = t0 + 40000;
    unsigned drops = 0;
    int officers_done = 0;
    long long head[CITIZENS];
    for (;;) {
        if (ht_mono_ms() > deadline) ht_fail("the clients did not catch up within 40 s");
        if (!officers_done) {
            officers_done = 1;
            for (int i = 0; i < OFFICERS; i++) officers_done &= m[i].done;
            if (officers_done) {
                for (int i = 0; i < OFFICERS; i++) pthread_join(m[i].th, NULL);
                for (int i = 0; i < CITIZENS; i++) head[i] = head_of(s.port, cit[i].token);
            }
        }
        int64_t now = ht_mono_ms();
        int n = 0, behind = 0;
        for (int i = 0; i < nclients; i++) {
            if (!cl[i].connected) {
                if (now >= cl[i].reconnect_at) {
                    snprintf(src, sizeof(src), "127.0.0.%d", 2 + (i + (int)cl[i].connects) % 8);
                    client_connect(&cl[i], s.port, cit[cl[i].owner].token, src);
                }
                behind = 1;
                continue;
            }
            if (officers_done && cl[i].last < head[cl[i].owner]) behind = 1;
            pfd[n].fd = cl[i].ws.fd;
            pfd[n].events = POLLIN;
            pfd[n].revents = (short)i; /* remembered below through the index */
            n++;
        }
        if (officers_done && !behind) break;
        /* poll() overwrites revents: keep the client index aside. */
        int idx[1024];
        for (int k = 0; k < n && k < 1024; k++) {
            idx[k] = pfd[k].revents;
            pfd[k].revents = 0;
        }
        poll(pfd, (nfds_t)n, 20);
        for (int k = 0; k < n && k < 1024; k++) {
            client *x = &cl[idx[k]];
            if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) || ht_ws_buffered(&x->ws)) client_read(x, 0);
        }
        /* Random drops while the officers work: half clean closes, half vanishing. */
        for (int k = 0; k < 3 && !officers_done; k++) {
            client *x = &cl[rand() % nclients];
            if (rand() % 2 == 0 && x->connected) {
                if (rand() % 2) ht_ws_close(&x->ws);
                else ht_ws_drop(&x->ws);
                x->connected = 0;
                x->reconnect_at = ht_mono_ms() + rand() % 50;
                drops++;
            }
        }
    }
    /* Every feed holds exactly the setup's events plus the moves on its dossiers, and
     * every client saw exactly that feed, in order (checked at each frame). */
    for (int i = 0; i < CITIZENS; i++) {
        long long moves = 0;
        for (int k = 0; k < OFFICERS; k++) moves += per_owner[k][i];
        if (head[i] != base[i] + moves)
            ht_fail("citizen %d: head %lld, expected %lld + %lld moves", i, head[i], base[i], moves);
    }
    for (int i = 0; i < nclients; i++) {
        EXPECT_INT(cl[i].last, head[cl[i].owner]);
        ht_ws_close(&cl[i].ws);
    }
    fprintf(stderr, "%d clients, %u drops, %d moves, %lld ms\n", nclients, drops, OFFICERS * moves,
            (long long)(ht_mono_ms() - t0));
    EXPECT(drops >= 10);
    free(cl);
    free(pfd);
    ht_service_free(&svc);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

/* A client that never reads while its feed grows is closed with 4008; a reading
 * client on the same feed is not, and the slow one resumes with since. */
static void test_slow_consumer(void)
{
    ht_server s;
    ht_conn c;
    ht_service svc;
    ht_user cit, off;
    doss d;
    client fast;
    ht_ws slow;

    ht_server_start(&s, "--ws-max-pending 16384");
    ht_conn_init(&c, s.port);
    ht_service_pick(&c, &svc, 0, NULL);
    ht_citizen_new(&c, &cit);
    ht_officer_new(&s, &c, svc.agency, &off);
    prepare(&c, &cit, &off, &svc, &d, 0);
    long long h = head_of(s.port, cit.token);
    memset(&fast, 0, sizeof(fast));
    fast.last = h;
    client_connect(&fast, s.port, cit.token, NULL);
    if (ht_ws_connect(&slow, s.port, cit.token, NULL, 2048) != 0) ht_fail("upgrade failed");
    json_decref(ht_ws_subscribe(&slow, h, NULL));
    int moves = 0;
    while (ht_metric(&c, "hoso_ws_slow_consumer_closes_total") < 1) {
        if (moves >= 3000) ht_fail("no slow-consumer close after %d events", moves);
        for (int i = 0; i < 20; i++, moves++) {
            step(&c, &off, &d, d.status == 4 ? 6 : 4);
            /* The reading client keeps up, so it never has a backlog. */
            int64_t until = ht_mono_ms() + 5000;
            while (fast.last < h + moves + 1 && ht_mono_ms() < until) client_read(&fast, 20);
        }
    }
    /* The slow client reads now: the events that got through, then close 4008. */
    long long last = h;
    for (;;) {
        json_t *e = ht_ws_recv_json(&slow, 10000);
        if (!e) break;
        EXPECT_INT(ht_jint(e, "seq"), last + 1);
        last++;
        json_decref(e);
    }
    EXPECT_INT(slow.close_code, 4008);
    EXPECT(last < h + moves);
    ht_ws_drop(&slow);
    /* It resumes where it was. */
    client again = {.last = last};
    client_connect(&again, s.port, cit.token, NULL);
    int64_t deadline = ht_mono_ms() + 10000;
    while ((again.last < h + moves || fast.last < h + moves) && ht_mono_ms() < deadline) {
        client_read(&again, 20);
        client_read(&fast, 20);
    }
    EXPECT_INT(again.last, h + moves);
    EXPECT_INT(fast.last, h + moves);
    ht_ws_close(&again.ws);
    ht_ws_close(&fast.ws);
    ht_service_free(&svc);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

UNIT_MAIN(UNIT(test_no_gap_during_replay), UNIT(test_reconnect_storm), UNIT(test_slow_consumer))
