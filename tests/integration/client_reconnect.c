/*
 * client_reconnect.c - push through the SDK across a server crash: the client
 * subscribes over WebSocket, an officer moves the dossier, hosod is killed with SIGKILL
 * and started again on the same data dir and port, more moves follow (one before the
 * client is back, one after). Every event must reach on_event once, in seq order,
 * with no gap, and the status changes in the order they were made. A client whose
 * stored epoch is not the server's (a restore from backup) starts over from the
 * snapshot, over push and over GET /v1/sync, and continues after its head.
 */
#include "hoso_test.h"
#include "hoso_client.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define MAX_EVENTS 256


typedef struct world {
    uv_loop_t loop;
    hoso_client *c;
    uint64_t seqs[MAX_EVENTS];
    int statuses[MAX_EVENTS];
    int nev, nstatus;
    int live, lives, drops;
    int snapshots;
    size_t snap_dossiers;
    uint64_t snap_head;
    char code[128];
} world;

static world W;

static void on_event(hoso_client *c, const hoso_client_event *ev, void *ud)
{
    if (W.nev == MAX_EVENTS) ht_fail("too many events");
    uint64_t want = W.nev ? W.seqs[W.nev - 1] + 1 : 1;
    if (ev->seq != want) ht_fail("event seq %llu, expected %llu (gap or duplicate)", (unsigned long long)ev->seq,
                                 (unsigned long long)want);
    W.seqs[W.nev++] = ev->seq;
    if (ev->dossier && strcmp(ev->dossier->code.ptr, W.code) == 0 && strncmp(ev->type, "dossier.", 8) == 0)
        W.statuses[W.nstatus++] = (int)ev->dossier->status;
}

static void on_push_state(hoso_client *c, hoso_push_state st, const hoso_client_error *why, void *ud)
{
    if (st == HOSO_PUSH_LIVE) {
        W.live = 1;
        W.lives++;
    } else {
        if (W.live) W.drops++;
        W.live = 0;
    }
}

static void on_login(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    if (r->error.err) ht_fail("login: %s %s", r->error.code, r->error.message);
    *(int *)ud = 1;
}

/* Runs the loop until the last status seen is `st`. */
static void wait_status(int st, int ms)
{
    int64_t deadline = ht_mono_ms() + ms;
    while (!(W.nstatus > 0 && W.statuses[W.nstatus - 1] == st)) {
        if (ht_mono_ms() > deadline)
            ht_fail("status %d not pushed within %d ms (%d statuses seen, last %d, live %d)", st, ms, W.nstatus,
                    W.nstatus ? W.statuses[W.nstatus - 1] : 0, W.live);
        hoso_client_run_for(W.c, 20);
    }
}

static void move(ht_server *s, const ht_user *off, int to)
{
    ht_conn c;
    ht_resp r;
    ht_conn_init(&c, s->port);
    int st = ht_transition(&c, off, W.code, to, -1, &r);
    if (st != 200) ht_fail("move to %d: %d %s", to, st, r.body);
    ht_resp_free(&r);
    ht_conn_close(&c);
}

static void test_push_survives_server_restart(void)
{
    ht_world w;
    char state[PATH_MAX], url[64];

    memset(&W, 0, sizeof(W));
    ht_world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, W.code, sizeof(W.code));
    ht_conn_close(&w.c);

    ht_sdk_paths(&w.s, state, url);
    uv_loop_init(&W.loop);
    hoso_client_options opt = {.base_url = url, .state_dir = state, .backoff_min_ms = 100, .backoff_max_ms = 1000};
    hoso_client_callbacks cbs = {.on_event = on_event, .on_push_state = on_push_state};
    EXPECT_INT(hoso_client_new(&W.c, &W.loop, &opt, &cbs), 0);
    int done = 0;
    EXPECT_INT(hoso_client_login(W.c, w.cit.login, NULL, w.cit.password, on_login, &done), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &done, 20000), 0);

    /* The feed replays from 0: the submit is the first dossier event. */
    EXPECT_INT(hoso_client_push_start(W.c), 0);
    wait_status(1, 10000);
    move(&w.s, &w.off, 2);
    wait_status(2, 10000);

    /* Crash. The client notices and retries with backoff. */
    ht_server_kill9(&w.s);
    int64_t deadline = ht_mono_ms() + 10000;
    while (W.live) {
        if (ht_mono_ms() > deadline) ht_fail("the client did not notice the crash");
        hoso_client_run_for(W.c, 20);
    }
    ht_server_restart_same_port(&w.s);
    /* A move made while the client is still away comes by replay... */
    move(&w.s, &w.off, 4);
    wait_status(4, 20000);
    EXPECT(W.live);
    /* ... and the next one live. */
    move(&w.s, &w.off, 5);
    wait_status(5, 10000);

    static const int want[] = {1, 2, 4, 5};
    EXPECT_INT(W.nstatus, 4);
    for (int i = 0; i < 4; i++) EXPECT_INT(W.statuses[i], want[i]);
    EXPECT(W.lives >= 2);
    EXPECT(W.drops >= 1);

    /* Nothing is left behind on the server's side of the feed. */
    ht_conn_init(&w.c, w.s.port);
    ht_resp r;
    ht_mp_call(&w.c, "GET", "/v1/sync?since=0&limit=1000", w.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(json_object_get(r.json, "events")), W.nev);
    EXPECT_INT(hoso_client_last_seq(W.c), W.seqs[W.nev - 1]);
    printf("%d events in order across %d connections\n", W.nev, W.lives);
    ht_resp_free(&r);
    ht_conn_close(&w.c);

    hoso_client_push_stop(W.c);
    hoso_client_free(W.c);
    uv_run(&W.loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&W.loop), 0);
    ht_world_stop(&w);
}

static void on_snapshot(hoso_client *c, const hoso_client_snapshot *snap, void *ud)
{
    W.snapshots++;
    W.snap_dossiers = snap->ndossiers;
    W.snap_head = snap->head;
    /* Events go on after the snapshot's head. */
    W.nev = 0;
    if (snap->head) W.seqs[W.nev++] = snap->head;
}

/* What a restore from backup looks like to a phone: its stored epoch is unknown. */
static void set_foreign_epoch(const char *state)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/client.mdb", state);
    EXPECT_INT(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    EXPECT_INT(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    EXPECT_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    EXPECT_INT(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {5, (void *)"epoch"}, v = {14, (void *)"not-this-epoch"};
    EXPECT_INT(mdb_put(txn, dbi, &k, &v, 0), 0);
    EXPECT_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void on_synced(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    if (r->error.err) ht_fail("sync: %s %s", r->error.code, r->error.message);
    *(int *)ud = 1;
}

static void open_client(const char *state, const char *url)
{
    hoso_client_options opt = {.base_url = url, .state_dir = state, .backoff_min_ms = 100, .backoff_max_ms = 1000};
    hoso_client_callbacks cbs = {.on_event = on_event, .on_push_state = on_push_state, .on_snapshot = on_snapshot};
    uv_loop_init(&W.loop);
    EXPECT_INT(hoso_client_new(&W.c, &W.loop, &opt, &cbs), 0);
}

static void close_client(void)
{
    hoso_client_free(W.c);
    uv_run(&W.loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&W.loop), 0);
    W.c = NULL;
}

static void test_foreign_epoch_starts_from_snapshot(void)
{
    ht_world w;
    char state[PATH_MAX], url[64], code2[128];

    memset(&W, 0, sizeof(W));
    ht_world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, W.code, sizeof(W.code));
    ht_submit(&w.c, &w.cit, &w.svc, code2, sizeof(code2));
    ht_sdk_paths(&w.s, state, url);

    /* Pull the feed once: the client learns the real epoch. */
    open_client(state, url);
    int done = 0;
    EXPECT_INT(hoso_client_login(W.c, w.cit.login, NULL, w.cit.password, on_login, &done), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &done, 20000), 0);
    done = 0;
    EXPECT_INT(hoso_client_sync(W.c, on_synced, &done), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &done, 20000), 0);
    EXPECT_INT(W.snapshots, 0);
    char epoch[128];
    snprintf(epoch, sizeof(epoch), "%s", hoso_client_epoch(W.c));
    EXPECT(epoch[0] != 0);
    close_client();

    /* Over GET /v1/sync: 410, then the snapshot. */
    set_foreign_epoch(state);
    open_client(state, url);
    W.nev = 0;
    done = 0;
    EXPECT_INT(hoso_client_sync(W.c, on_synced, &done), 0);
    EXPECT_INT(hoso_client_run_until(W.c, &done, 20000), 0);
    EXPECT_INT(W.snapshots, 1);
    EXPECT_INT(W.snap_dossiers, 2);
    EXPECT_STR(hoso_client_epoch(W.c), epoch);
    close_client();

    /* Over push: recovered false, the snapshot, then live events after its head. */
    set_foreign_epoch(state);
    open_client(state, url);
    W.snapshots = 0;
    W.nev = 0;
    W.nstatus = 0;
    EXPECT_INT(hoso_client_push_start(W.c), 0);
    int64_t deadline = ht_mono_ms() + 10000;
    while (W.snapshots == 0) {
        if (ht_mono_ms() > deadline) ht_fail("no snapshot after subscribing with a foreign epoch");
        hoso_client_run_for(W.c, 20);
    }
    EXPECT_INT(W.snap_dossiers, 2);
    EXPECT_STR(hoso_client_epoch(W.c), epoch);
    move(&w.s, &w.off, 2);
    wait_status(2, 10000);
    EXPECT_INT(W.nstatus, 1);
    EXPECT_INT(W.seqs[1], W.snap_head + 1);
    hoso_client_push_stop(W.c);
    close_client();

    ht_world_stop(&w);
}

UNIT_MAIN(UNIT(test_push_survives_server_restart), UNIT(test_foreign_epoch_starts_from_snapshot))
