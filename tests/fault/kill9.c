/*
 * kill9.c - durability across crashes. Eight clients submit dossiers as fast as the
 * server takes them; hosod is killed with SIGKILL in the middle, restarted on the same
 * data dir, and every dossier it acknowledged (201: "durable") must be there, intact,
 * with the code, service, status and version it was acknowledged with. No dossier may
 * be half-written, no code may be issued twice, and the hash chain of the global log
 * must verify. Three crashes in a row on the same data dir.
 */
#include "hoso_test.h"

#include <pthread.h>

enum { NTHREADS = 8, ROUNDS = 3, MAX_ACKS_PER_ROUND = 2000, LOAD_MS = 1000 };

typedef struct ack {
    char code[128];
    char service[96];
    long long status, version;
    int owner; /* thread index */
} ack;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ack acks[ROUNDS * MAX_ACKS_PER_ROUND];
static int nacks, round_acks;
static int stop;
static int unexpected; /* replies other than 201 or a dropped connection */
static char unexpected_msg[512];

static ht_server srv;
static ht_user users[NTHREADS];
static ht_service services[3];

static int acked_by(int owner)
{
    int n = 0;
    for (int i = 0; i < nacks; i++) n += acks[i].owner == owner;
    return n;
}

static void *client(void *arg)
{
    int me = (int)(intptr_t)arg;
    ht_conn c;
    ht_conn_init(&c, srv.port);
    const ht_service *svc = &services[me % 3];
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&lock);
        int full = round_acks >= MAX_ACKS_PER_ROUND;
        pthread_mutex_unlock(&lock);
        if (full) break;
        json_t *b = ht_valid_submit(svc, NULL);
        ht_resp r;
        int rc = ht_mp_callj(&c, "POST", "/v1/dossiers", users[me].token, b, &r);
        json_decref(b);
        if (rc != 0) {
            /* The server is gone (killed): this client stops. A request that was in
             * flight may or may not have been committed; it was not acknowledged. */
            ht_resp_free(&r);
            break;
        }
        if (r.status == 201) {
            json_t *d = ht_dossier_of(&r);
            pthread_mutex_lock(&lock);
            ack *a = &acks[nacks++];
            round_acks++;
            snprintf(a->code, sizeof(a->code), "%s", ht_jstr(d, "code") ? ht_jstr(d, "code") : "");
            snprintf(a->service, sizeof(a->service), "%s", ht_jstr(d, "service") ? ht_jstr(d, "service") : "");
            a->status = ht_jint(d, "status");
            a->version = ht_jint(d, "version");
            a->owner = me;
            pthread_mutex_unlock(&lock);
        } else {
            pthread_mutex_lock(&lock);
            if (!unexpected++)
                snprintf(unexpected_msg, sizeof(unexpected_msg), "%d %.400s", r.status, r.json ? ht_dump(r.json) : "");
            pthread_mutex_unlock(&lock);
        }
        ht_resp_free(&r);
    }
    ht_conn_close(&c);
    return NULL;
}

/* Reads the owner's whole list, decoding every dossier with the protocol's own decoder:
 * a half-written record would fail here. Returns the number listed. */
static long list_and_decode(ht_conn *c, int owner)
{
    long total = 0;
    char cursor[256] = "";
    for (int page = 0; page < 200; page++) {
        char path[512];
        snprintf(path, sizeof(path), "/v1/dossiers?limit=100%s%s", cursor[0] ? "&cursor=" : "", cursor);
        ht_resp r;
        if (ht_mp_call(c, "GET", path, users[owner].token, NULL, &r) != 0) ht_fail("GET %s: no reply", path);
        HT_EXPECT_REPLY(&r, 200, NULL);
        hoso_doc doc;
        hoso_limits lim;
        hoso_limits_default(&lim);
        lim.max_body = 64u << 20;
        hoso_errinfo ei = {0};
        if (hoso_doc_from_msgpack(&doc, r.body, r.len, &lim, &ei) != 0)
            ht_fail("list page does not decode: %s", ei.message);
        const msgpack_object *arr = hoso_map_get(&doc.root, "dossiers");
        if (!arr || arr->type != MSGPACK_OBJECT_ARRAY) ht_fail("list reply has no dossiers array: %s", ht_dump(r.json));
        for (uint32_t i = 0; i < arr->via.array.size; i++) {
            hoso_dossier d;
            memset(&ei, 0, sizeof(ei));
            if (hoso_dossier_decode(&doc, &arr->via.array.ptr[i], &d, &ei) != 0)
                ht_fail("listed dossier %u does not decode: %s (%s)", i, ei.message,
                        ht_dump(json_array_get(json_object_get(r.json, "dossiers"), i)));
            if (!d.code.ptr || d.code.len == 0 || d.status < 1 || d.status > 10 || d.version < 1 || d.nhistory < 1 ||
                !d.service.ptr || d.service.len == 0)
                ht_fail("listed dossier is incomplete: %s", ht_dump(json_array_get(json_object_get(r.json, "dossiers"), i)));
        }
        total += arr->via.array.size;
        json_t *next = json_object_get(r.json, "next");
        cursor[0] = 0;
        if (json_is_string(next)) snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        int more = arr->via.array.size > 0 && cursor[0];
        hoso_doc_destroy(&doc);
        ht_resp_free(&r);
        if (!more) break;
    }
    return total;
}

static void verify(int rounds_done)
{
    ht_conn c;
    ht_conn_init(&c, srv.port);
    for (int i = 0; i < NTHREADS; i++) ht_login(&c, &users[i], 0);
    for (int i = 0; i < nacks; i++) {
        ht_resp r;
        ht_get_dossier(&c, users[acks[i].owner].token, acks[i].code, &r);
        if (r.status != 200) fprintf(stderr, "acknowledged dossier %s lost after kill -9\n", acks[i].code);
        HT_EXPECT_REPLY(&r, 200, NULL);
        json_t *d = ht_dossier_of(&r);
        EXPECT_STR(ht_jstr(d, "code"), acks[i].code);
        EXPECT_STR(ht_jstr(d, "service"), acks[i].service);
        EXPECT_INT(ht_jint(d, "status"), acks[i].status);
        EXPECT_INT(ht_jint(d, "version"), acks[i].version);
        EXPECT(json_is_object(json_object_get(d, "form")));
        EXPECT_INT(json_array_size(json_object_get(d, "history")), 1);
        ht_resp_free(&r);
    }
    for (int o = 0; o < NTHREADS; o++) {
        long listed = list_and_decode(&c, o);
        long acked = acked_by(o);
        /* At most one request per client and crash was in flight unacknowledged. */
        if (listed < acked || listed > acked + rounds_done)
            ht_fail("owner %d lists %ld dossiers, acknowledged %ld (+ at most %d in flight)", o, listed, acked,
                    rounds_done);
    }
    ht_conn_close(&c);
    char *out = NULL;
    int rc = ht_sh(&out, "'%s' audit verify --data '%s' 2>&1", ht_hosod(), srv.dir);
    if (rc != 0) ht_fail("hosod audit verify exited %d: %s", rc, out);
    free(out);
}

static int cmp_code(const void *a, const void *b)
{
    return strcmp(((const ack *)a)->code, ((const ack *)b)->code);
}

static void test_kill9_durability(void)
{
    ht_server_start(&srv, NULL);
    ht_conn c;
    ht_conn_init(&c, srv.port);
    for (int i = 0; i < NTHREADS; i++) ht_citizen_new(&c, &users[i]);
    for (int i = 0; i < 3; i++) ht_service_pick(&c, &services[i], i, NULL);
    ht_conn_close(&c);

    for (int round = 1; round <= ROUNDS; round++) {
        if (round > 1) {
            ht_conn_init(&c, srv.port);
            for (int i = 0; i < NTHREADS; i++) ht_login(&c, &users[i], 0);
            ht_conn_close(&c);
        }
        __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
        round_acks = 0;
        int before = nacks;
        pthread_t th[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) pthread_create(&th[i], NULL, client, (void *)(intptr_t)i);
        /* Let the load build up, then crash the server under it. */
        int64_t start = ht_mono_ms();
        while (ht_mono_ms() - start < LOAD_MS) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
            pthread_mutex_lock(&lock);
            int full = round_acks >= MAX_ACKS_PER_ROUND * 3 / 4;
            pthread_mutex_unlock(&lock);
            if (full) break;
        }
        ht_server_kill9(&srv);
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
        fprintf(stderr, "round %d: %d dossiers acknowledged before kill -9\n", round, nacks - before);
        if (unexpected) ht_fail("%d submits were answered other than 201, first: %s", unexpected, unexpected_msg);
        EXPECT(nacks - before > 0);

        ht_server_restart(&srv);
        verify(round);
    }

    /* No code was issued twice, across three crashes. */
    qsort(acks, (size_t)nacks, sizeof(acks[0]), cmp_code);
    for (int i = 1; i < nacks; i++)
        if (strcmp(acks[i].code, acks[i - 1].code) == 0) ht_fail("code %s acknowledged twice", acks[i].code);
    for (int i = 0; i < 3; i++) ht_service_free(&services[i]);
    ht_server_stop(&srv);
}

UNIT_MAIN(UNIT(test_kill9_durability))
