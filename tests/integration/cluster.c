/*
 * cluster.c - cluster mode with a real nats-server (JetStream) and three hosod nodes on
 * this machine: to a citizen, any node behaves like one hosod; dossier codes stay
 * unique across nodes; a killed node costs only its own citizens a fast 503 and no
 * acknowledged write; every committed event reaches JetStream exactly once, across a
 * node's kill -9 and a restart of nats-server; and a node with another key, or a bad
 * cluster file, is refused.
 */
#define _GNU_SOURCE /* memmem */
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include "hoso_test.h"
#include "ws.h"
#include <sodium.h>
#include <nats/nats.h>

#define SHARDS 12

#define CITIZENS 9

static void move_via(ht_cluster *c, int k, const ht_user *off, const char *code, int to);

typedef struct citizen {
    ht_user u;
    unsigned shard;
    int node;            /* index of the node that holds it */
    char codes[16][64];  /* acknowledged dossiers */
    int ncodes;
} citizen;

/* Registers and signs in citizens through rotating nodes until every node holds at
 * least two of them. */
static void citizens_new(ht_cluster *c, citizen *cs, int n)
{
    int per_node[HT_CLUSTER_MAX] = {0};
    for (int i = 0, tries = 0; i < n; tries++) {
        if (tries > 400)
            ht_fail("could not spread %d citizens over the nodes", n);
        ht_conn conn;
        ht_conn_init(&conn, c->node[tries % c->nnodes].port);
        citizen *z = &cs[i];
        memset(z, 0, sizeof(*z));
        ht_citizen_new(&conn, &z->u);
        ht_conn_close(&conn);
        z->shard = ht_cluster_shard_of(c, z->u.id);
        z->node = ht_cluster_node_of(c, z->shard);
        /* Fill every node to two first, then take anyone. */
        int need = 0;
        for (int k = 0; k < c->nnodes; k++)
            need += per_node[k] < 2 ? 2 - per_node[k] : 0;
        if (per_node[z->node] >= 2 && need >= n - i)
            continue;
        per_node[z->node]++;
        /* The token names the shard in clear. */
        char want[16];
        snprintf(want, sizeof want, "%u.", z->shard);
        if (strncmp(z->u.token, want, strlen(want)) != 0)
            ht_fail("token %.8s... does not start with its shard %s", z->u.token, want);
        i++;
    }
}

/* A cluster of nodes (holding the shards) and front nodes, citizens spread over it, and
 * a service of its catalogue. */
static void cluster_with(ht_cluster *c, int nodes, int front, const char *extra, citizen *cs, int n, ht_service *svc)
{
    ht_conn conn;
    ht_cluster_start_front(c, nodes, front, SHARDS, extra);
    citizens_new(c, cs, n);
    ht_conn_init(&conn, c->node[0].port);
    ht_service_pick(&conn, svc, 0, NULL);
    ht_conn_close(&conn);
}

static void test_any_node_answers(void)
{
    ht_cluster c;
    citizen cs[CITIZENS];
    ht_service svc;
    cluster_with(&c, 3, 0, "--demo", cs, CITIZENS, &svc);
    /* Each citizen submits through every node; all codes are of one agency and day, and
     * distinct across the cluster. */
    char all[CITIZENS * 3][64];
    int nall = 0;
    for (int i = 0; i < CITIZENS; i++) {
        for (int k = 0; k < c.nnodes; k++) {
            ht_conn conn;
            ht_conn_init(&conn, c.node[k].port);
            ht_submit(&conn, &cs[i].u, &svc, cs[i].codes[cs[i].ncodes], sizeof cs[i].codes[0]);
            snprintf(all[nall++], 64, "%s", cs[i].codes[cs[i].ncodes++]);
            ht_conn_close(&conn);
        }
    }
    for (int i = 0; i < nall; i++)
        for (int j = i + 1; j < nall; j++)
            if (strcmp(all[i], all[j]) == 0)
                ht_fail("two dossiers got the code %s", all[i]);
    /* A read through any node is the same reply, byte for byte, with the same ETag. */
    for (int i = 0; i < CITIZENS; i++) {
        char path[128], first_etag[128] = "", etag[128];
        char *first = NULL;
        size_t first_len = 0;
        snprintf(path, sizeof path, "/v1/dossiers/%s", cs[i].codes[0]);
        for (int k = 0; k < c.nnodes; k++) {
            ht_conn conn;
            ht_resp r;
            ht_conn_init(&conn, c.node[k].port);
            ht_mp_call(&conn, "GET", path, cs[i].u.token, NULL, &r);
            HT_EXPECT_REPLY(&r, 200, NULL);
            if (!ht_resp_header(&r, "etag", etag, sizeof etag))
                ht_fail("no ETag from node %d", k + 1);
            if (k == 0) {
                first = malloc(r.len);
                memcpy(first, r.body, r.len);
                first_len = r.len;
                snprintf(first_etag, sizeof first_etag, "%s", etag);
            } else if (r.len != first_len || memcmp(r.body, first, r.len) != 0 || strcmp(etag, first_etag) != 0) {
                ht_fail("node %d answers GET %s differently from node 1", k + 1, path);
            }
            /* Revalidation works through any node too. */
            char hdr[200];
            snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nIf-None-Match: %s\r\n", cs[i].u.token, etag);
            ht_resp nm;
            ht_http(&conn, "GET", path, hdr, NULL, 0, &nm);
            EXPECT_INT(nm.status, 304);
            ht_resp_free(&nm);
            /* The citizen's list through any node holds all of its dossiers. */
            EXPECT_INT(ht_count_list(&conn, cs[i].u.token, "/v1/dossiers"), c.nnodes);
            ht_resp_free(&r);
            ht_conn_close(&conn);
        }
        free(first);
        /* Another citizen's dossier is not found, whichever node is asked. */
        ht_conn conn;
        ht_resp r;
        ht_conn_init(&conn, c.node[(i + 1) % c.nnodes].port);
        ht_mp_call(&conn, "GET", path, cs[(i + 1) % CITIZENS].u.token, NULL, &r);
        HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    /* Sign-in errors come from the account's node, the same as on one node. */
    {
        ht_conn conn;
        ht_resp r;
        ht_conn_init(&conn, c.node[(cs[0].node + 1) % c.nnodes].port);
        json_t *b = json_pack("{s:s, s:s}", "id_number", cs[0].u.login, "password", "wrong password");
        ht_mp_callj(&conn, "POST", "/v1/auth/login", NULL, b, &r);
        json_decref(b);
        HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    /* Every event went to JetStream once; the forwards show in the metrics. */
    ht_cluster_wait_outbox(&c, 10000);
    {
        ht_conn conn;
        ht_conn_init(&conn, c.node[0].port);
        if (ht_metric(&conn, "hoso_cluster_forwarded_total") < 1)
            ht_fail("node 1 counts no forwarded request");
        EXPECT_INT((int)ht_metric(&conn, "hoso_cluster_nats_connected"), 1);
        ht_conn_close(&conn);
    }
    ht_service_free(&svc);
    ht_cluster_stop(&c);
}

/* A load of submissions from several threads, each citizen through a node other than
 * its own, keeping what was acknowledged. Bounded in count and time. */
typedef struct load {
    ht_cluster *c;
    citizen *z;
    ht_service *svc;
    atomic_int *stop;
    int acked, failed;
    char codes[400][64];
} load;

static void *load_main(void *arg)
{
    load *l = arg;
    int64_t end = ht_mono_ms() + 20000;
    ht_conn conn;
    ht_conn_init(&conn, l->c->node[(l->z->node + 1) % l->c->nnodes].port);
    for (int i = 0; i < 400 && !atomic_load(l->stop) && ht_mono_ms() < end; i++) {
        json_t *b = ht_valid_submit(l->svc, NULL);
        ht_resp r;
        if (ht_mp_callj(&conn, "POST", "/v1/dossiers", l->z->u.token, b, &r) == 0 && r.status == 201) {
            snprintf(l->codes[l->acked++], 64, "%s", ht_jstr(ht_dossier_of(&r), "code"));
        } else {
            l->failed++;
        }
        json_decref(b);
        ht_resp_free(&r);
    }
    ht_conn_close(&conn);
    return NULL;
}

static void test_node_killed_under_load(void)
{
    ht_cluster c;
    citizen cs[6];
    ht_service svc;
    ht_conn conn;
    cluster_with(&c, 3, 0, "--demo", cs, 6, &svc);

    atomic_int stop = 0;
    load *ls = calloc(6, sizeof(load));
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        ls[i] = (load){.c = &c, .z = &cs[i], .svc = &svc, .stop = &stop};
        pthread_create(&th[i], NULL, load_main, &ls[i]);
    }
    /* Node 2 dies under the load. */
    while (ls[0].acked + ls[1].acked < 20)
        usleep(10000);
    ht_server_kill9(&c.node[1]);
    /* Its citizens get 503 UNAVAILABLE at once through the other nodes; the others do
     * not notice. */
    for (int i = 0; i < 6; i++) {
        ht_conn_init(&conn, c.node[cs[i].node == 0 ? 2 : 0].port);
        ht_resp r;
        int64_t t0 = ht_mono_ms();
        ht_mp_call(&conn, "GET", "/v1/dossiers", cs[i].u.token, NULL, &r);
        int64_t took = ht_mono_ms() - t0;
        if (cs[i].node == 1) {
            HT_EXPECT_REPLY(&r, 503, "UNAVAILABLE");
            if (took > 1000)
                ht_fail("a down shard took %lld ms to answer 503", (long long)took);
            if (!strstr(ht_jstr(r.json, "error.message"), "n2"))
                ht_fail("the 503 does not name the node: %s", r.body);
            char ra[16];
            if (!ht_resp_header(&r, "retry-after", ra, sizeof ra) || strcmp(ra, "1") != 0)
                ht_fail("the 503 has no Retry-After: 1");
        } else {
            HT_EXPECT_REPLY(&r, 200, NULL);
        }
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    usleep(300000);
    ht_server_restart_same_port(&c.node[1]);
    atomic_store(&stop, 1);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    /* Nothing acknowledged is missing, through any node. */
    int total = 0;
    for (int i = 0; i < 6; i++) {
        ht_conn_init(&conn, c.node[(cs[i].node + 2) % 3].port);
        for (int k = 0; k < ls[i].acked; k++) {
            ht_resp r;
            ht_get_dossier(&conn, cs[i].u.token, ls[i].codes[k], &r);
            HT_EXPECT_REPLY(&r, 200, NULL);
            ht_resp_free(&r);
        }
        total += ls[i].acked;
        ht_conn_close(&conn);
    }
    if (total < 40)
        ht_fail("only %d submissions were acknowledged", total);
    /* Each committed event reached JetStream once, the killed node's included. */
    ht_cluster_wait_outbox(&c, 15000);
    free(ls);
    ht_service_free(&svc);
    ht_cluster_stop(&c);
}

static void test_nats_restarted(void)
{
    ht_cluster c;
    citizen cs[3];
    ht_service svc;
    ht_conn conn;
    cluster_with(&c, 3, 0, "--demo", cs, 3, &svc);
    /* Numbers reserved before the outage. */
    for (int i = 0; i < 3; i++) {
        ht_conn_init(&conn, c.node[cs[i].node].port);
        ht_submit(&conn, &cs[i].u, &svc, cs[i].codes[cs[i].ncodes], 64);
        cs[i].ncodes++;
        ht_conn_close(&conn);
    }
    ht_nats_stop(&c.nats, 1);
    /* Without NATS a node keeps answering its own citizens and taking their writes;
     * a forward gets 503 rather than hanging. */
    for (int i = 0; i < 3; i++) {
        ht_conn_init(&conn, c.node[cs[i].node].port);
        json_t *paper = ht_jsonf("{\"type\": \"cccd\", \"number\": \"0010990%05d\", \"issuer\": \"C06\", \"op_id\": "
                                 "\"paper-%d-%d\"}",
                                 i, i, (int)getpid());
        ht_resp r;
        ht_mp_callj(&conn, "POST", "/v1/papers", cs[i].u.token, paper, &r);
        json_decref(paper);
        if (r.status != 200 && r.status != 201)
            HT_EXPECT_REPLY(&r, 201, NULL);
        ht_resp_free(&r);
        ht_mp_call(&conn, "GET", "/v1/dossiers", cs[i].u.token, NULL, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        ht_resp_free(&r);
        ht_conn_close(&conn);

        ht_conn_init(&conn, c.node[(cs[i].node + 1) % 3].port);
        int64_t t0 = ht_mono_ms();
        ht_mp_call(&conn, "GET", "/v1/dossiers", cs[i].u.token, NULL, &r);
        HT_EXPECT_REPLY(&r, 503, "UNAVAILABLE");
        if (ht_mono_ms() - t0 > 2000)
            ht_fail("a forward without NATS took %lld ms", (long long)(ht_mono_ms() - t0));
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    ht_nats_start(&c.nats, c.nats.port);
    /* Once NATS is back, forwarding works again and the events of the outage flow. */
    int64_t deadline = ht_mono_ms() + 10000;
    for (;;) {
        ht_conn_init(&conn, c.node[(cs[0].node + 1) % 3].port);
        ht_resp r;
        ht_mp_call(&conn, "GET", "/v1/dossiers", cs[0].u.token, NULL, &r);
        int st = r.status;
        ht_resp_free(&r);
        ht_conn_close(&conn);
        if (st == 200)
            break;
        if (ht_mono_ms() > deadline)
            ht_fail("forwarding did not come back within 10 s of NATS (last status %d)", st);
        usleep(100000);
    }
    for (int i = 0; i < 3; i++) {
        ht_conn_init(&conn, c.node[(cs[i].node + 1) % 3].port);
        ht_submit(&conn, &cs[i].u, &svc, cs[i].codes[cs[i].ncodes], 64);
        cs[i].ncodes++;
        ht_conn_close(&conn);
    }
    ht_cluster_wait_outbox(&c, 15000);
    ht_service_free(&svc);
    ht_cluster_stop(&c);
}


static void test_refused_and_status(void)
{
    ht_cluster c;
    char *out = NULL, file[PATH_MAX + 32], dir[PATH_MAX];
    ht_cluster_start(&c, 2, 4, NULL);
    /* A node whose secret.key is not the cluster's does not join. */
    snprintf(dir, sizeof dir, "%s/otherkey-XXXXXX", ht_tmpdir());
    if (!mkdtemp(dir))
        ht_fail("mkdtemp");
    EXPECT_INT(ht_hosod_out(&out, "serve --listen 127.0.0.1:%d --data '%s' --create --quiet --cluster '%s' --node n2",
                     ht_free_port(), dir, c.file),
               1);
    ht_expect_has(out, "secret.key");
    free(out);
    /* Cluster files that cannot be right, each with its reason. */
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"nats\": \"nats://127.0.0.1:1\", \"shards\": 4, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-2\"}]}",
         "shard 3 is held by no node"},
        {"{\"nats\": \"nats://127.0.0.1:1\", \"shards\": 4, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-3\"}, {\"id\": "
         "\"b\", \"shards\": \"3-3\"}]}",
         "shard 3 is held by two nodes"},
        {"{\"nats\": \"http://x\", \"shards\": 4, \"nodes\": []}", "nats://"},
        {"{\"nats\": \"nats://127.0.0.1:1\", \"shards\": 0, \"nodes\": []}", "\"shards\""},
        {"{\"nats\": \"nats://127.0.0.1:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a b\", \"shards\": \"0-1\"}]}",
         "\"id\""},
    };
    snprintf(file, sizeof file, "%s/bad.json", c.nats.dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(file, "w");
        fputs(bad[i].json, f);
        fclose(f);
        EXPECT_INT(ht_hosod_out(&out, "serve --data '%s' --cluster '%s' --node a", dir, file), 2);
        ht_expect_has(out, bad[i].why);
        free(out);
    }
    /* A file that gives a node's shards to another node: that node is refused, the
     * shards stay with the node that serves them. */
    {
        char other[PATH_MAX + 32], dir2[PATH_MAX];
        snprintf(other, sizeof other, "%s/moved.json", c.nats.dir);
        FILE *mf = fopen(other, "w");
        fprintf(mf, "{\"nats\": \"nats://127.0.0.1:%d\", \"shards\": 4, \"nodes\": [{\"id\": \"n1\", \"shards\": "
                    "\"0-1\"}, {\"id\": \"n7\", \"shards\": \"2-3\"}]}",
                c.nats.port);
        fclose(mf);
        snprintf(dir2, sizeof dir2, "%s/moved-XXXXXX", ht_tmpdir());
        if (!mkdtemp(dir2))
            ht_fail("mkdtemp");
        EXPECT_INT(ht_sh(NULL, "cp '%s/secret.key' '%s/'", c.node[0].dir, dir2), 0);
        EXPECT_INT(ht_hosod_out(&out, "serve --listen 127.0.0.1:%d --data '%s' --create --quiet --cluster '%s' --node n7",
                         ht_free_port(), dir2, other),
                   1);
        ht_expect_has(out, "another node holds this shard");
        free(out);
    }
    EXPECT_INT(ht_hosod_out(&out, "serve --data '%s' --cluster '%s' --node n9", dir, c.file), 2);
    ht_expect_has(out, "n9");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "serve --data '%s' --cluster '%s'", dir, c.file), 2);
    ht_expect_has(out, "--node");
    free(out);
    /* The status: both nodes up (exit 0), then one down (exit 3). */
    EXPECT_INT(ht_hosod_out(&out, "cluster status --cluster '%s'", c.file), 0);
    ht_expect_has(out, "n1");
    ht_expect_has(out, "up");
    ht_expect_has(out, "HOSO_EVENTS");
    free(out);
    /* The subjects whose requests carry no token take only what a node of the cluster
     * signed: a bare request and a forged signature are refused. */
    {
        natsConnection *nc = NULL;
        char url[64];
        static const char forged[] = "\x92\xc4\x20" "0123456789abcdef0123456789abcdef" "\xc4\x03" "abc";
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", c.nats.port);
        if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
            ht_fail("cannot reach nats-server at %s", url);
        ht_conn mc;
        ht_conn_init(&mc, c.node[0].port); /* shard 0's node */
        double refused = ht_metric(&mc, "hoso_cluster_unsigned_refused_total"),
               in = ht_metric(&mc, "hoso_cluster_live_received_total");
        const char *subjects[] = {"hoso.file.0", "hoso.sink.0"};
        for (size_t i = 0; i < 2; i++)
            for (int f = 0; f < 2; f++) {
                natsMsg *m = NULL;
                const char *data = f ? forged : "\x81\xa2op\xa3get";
                int len = f ? (int)sizeof forged - 1 : 7;
                if (natsConnection_Request(&m, nc, subjects[i], data, len, 3000) != NATS_OK)
                    ht_fail("no answer on %s", subjects[i]);
                if (memmem(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), "not signed", 10) == NULL)
                    ht_fail("%s took a request no node signed", subjects[i]);
                natsMsg_Destroy(m);
            }
        /* Live events too: a forged one reaches no hub, and the node counts it. */
        natsConnection_Publish(nc, "hoso.live.agency.x", forged, (int)sizeof forged - 1);
        natsConnection_Publish(nc, "hoso.live.agency.x", "\x95\x01\x01\xa1x\xa1x\xc4\x00", 9);
        natsConnection_Flush(nc);
        int64_t until = ht_mono_ms() + 5000;
        while (ht_metric(&mc, "hoso_cluster_unsigned_refused_total") < refused + 6 && ht_mono_ms() < until)
            usleep(50000);
        EXPECT(ht_metric(&mc, "hoso_cluster_unsigned_refused_total") >= refused + 6); /* 4 requests, 2 events */
        EXPECT(ht_metric(&mc, "hoso_cluster_live_received_total") == in);
        ht_conn_close(&mc);
        natsConnection_Destroy(nc);
    }
    ht_server_kill9(&c.node[1]);
    int64_t deadline = ht_mono_ms() + 8000;
    int rc;
    while ((rc = ht_hosod_out(&out, "cluster status --cluster '%s'", c.file)) != 3 && ht_mono_ms() < deadline) {
        free(out);
        usleep(200000);
    }
    EXPECT_INT(rc, 3);
    ht_expect_has(out, "down");
    free(out);
    ht_nats_stop(&c.nats, 0);
    EXPECT_INT(ht_hosod_out(&out, "cluster status --cluster '%s'", c.file), 1);
    ht_expect_has(out, "cannot reach NATS");
    free(out);
    ht_server_stop(&c.node[0]);
}


/* Officers, bots and admins: their account lives on one node, the dossiers they work on
 * on all of them. Made through the cluster from any node's data dir; an officer's list
 * through any node holds every shard's dossiers, in order, page by page; moves and
 * lookups reach the dossier's node whichever node they came to. */
static void test_staff_across_nodes(void)
{
    ht_cluster c;
    citizen cs[6];
    ht_service svc;
    ht_user off;
    char *out = NULL;
    ht_conn conn;
    cluster_with(&c, 3, 0, NULL, cs, 6, &svc);

    /* The officer is made through node 3's data dir, and lands where its shard is. */
    memset(&off, 0, sizeof off);
    snprintf(off.login, sizeof off.login, "canbo_%d", (int)getpid());
    snprintf(off.password, sizeof off.password, "Can-bo-mat-khau-1");
    EXPECT_INT(ht_hosod_out(&out, "admin create-officer --cluster '%s' --data '%s' --username %s --password %s --agency %s",
                     c.file, c.node[2].dir, off.login, off.password, svc.agency),
               0);
    ht_expect_has(out, "done on node");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "admin create-officer --cluster '%s' --data '%s' --username %s --password %s --agency %s",
                     c.file, c.node[0].dir, off.login, off.password, svc.agency),
               1);
    ht_expect_has(out, "exists already");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "admin create-bot --cluster '%s' --data '%s' --username bot_%d --password Bot-mat-khau-1 "
                           "--scopes lookup --json",
                     c.file, c.node[1].dir, (int)getpid()),
               0);
    ht_expect_has(out, "webhook_secret");
    free(out);
    /* The catalogue goes to every node. */
    char cat[PATH_MAX + 32];
    snprintf(cat, sizeof cat, "%s/cat.json", c.nats.dir);
    FILE *f = fopen(cat, "w");
    fprintf(f, "[%s]", ht_dump(svc.svc));
    fclose(f);
    EXPECT_INT(ht_hosod_out(&out, "admin import-services --cluster '%s' --data '%s' '%s'", c.file, c.node[0].dir, cat), 0);
    ht_expect_has(out, "n1");
    ht_expect_has(out, "n2");
    ht_expect_has(out, "n3");
    free(out);

    /* Dossiers on every node. */
    char codes[12][64];
    int ncodes = 0;
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 2; k++) {
            ht_conn_init(&conn, c.node[(i + k) % 3].port);
            ht_submit(&conn, &cs[i].u, &svc, codes[ncodes++], 64);
            ht_conn_close(&conn);
        }
    ht_cluster_wait_outbox(&c, 10000); /* the locator of each code is in */

    for (int k = 0; k < c.nnodes; k++) {
        ht_conn_init(&conn, c.node[k].port);
        ht_login(&conn, &off, 1);
        if (!strstr(off.token, "s."))
            ht_fail("an officer's token does not say staff: %.6s", off.token);
        /* The list, 5 at a time, through node k: every dossier once, newest first. */
        char path[512], cursor[1024] = "";
        int seen = 0;
        long long last_at = LLONG_MAX;
        for (int page = 0; page < 10; page++) {
            snprintf(path, sizeof path, "/v1/agency/dossiers?limit=5%s%s", cursor[0] ? "&cursor=" : "", cursor);
            ht_resp r;
            ht_mp_call(&conn, "GET", path, off.token, NULL, &r);
            HT_EXPECT_REPLY(&r, 200, NULL);
            json_t *items = ht_items(&r, "dossiers");
            for (size_t i = 0; i < json_array_size(items); i++) {
                json_t *d = json_array_get(items, i);
                long long at = ht_jint(d, "submitted_at");
                if (at > last_at)
                    ht_fail("the list is out of order at %s", ht_jstr(d, "code"));
                last_at = at;
                int found = 0;
                for (int j = 0; j < ncodes; j++)
                    found |= strcmp(codes[j], ht_jstr(d, "code")) == 0;
                if (!found)
                    ht_fail("the list has %s, which nobody submitted", ht_jstr(d, "code"));
                seen++;
            }
            snprintf(cursor, sizeof cursor, "%s", ht_jstr(r.json, "next") ? ht_jstr(r.json, "next") : "");
            ht_resp_free(&r);
            if (!cursor[0])
                break;
        }
        EXPECT_INT(seen, ncodes);
        ht_resp r;
        ht_mp_call(&conn, "GET", "/v1/agency/dossiers?cursor=not-one", off.token, NULL, &r);
        HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
        ht_resp_free(&r);
        /* A merged cursor whose node position would write a second request into the
         * forwarded one is refused, and the nodes keep answering in step. */
        {
            msgpack_sbuffer sb;
            msgpack_packer pk;
            char b64[1024], path[1200];
            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_map(&pk, (uint32_t)c.nnodes);
            for (int n = 0; n < c.nnodes; n++) {
                char id[16];
                snprintf(id, sizeof id, "n%d", n + 1);
                const char *v = n == 0 ? "A HTTP/1.1\r\nhost: x\r\n\r\nGET /v1/services" : "";
                msgpack_pack_str(&pk, strlen(id));
                msgpack_pack_str_body(&pk, id, strlen(id));
                msgpack_pack_str(&pk, strlen(v));
                msgpack_pack_str_body(&pk, v, strlen(v));
            }
            sodium_bin2base64(b64, sizeof b64, (const unsigned char *)sb.data, sb.size,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            msgpack_sbuffer_destroy(&sb);
            snprintf(path, sizeof path, "/v1/agency/dossiers?cursor=m%s", b64);
            ht_mp_call(&conn, "GET", path, off.token, NULL, &r);
            HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
            ht_resp_free(&r);
        }
        ht_conn_close(&conn);
    }
    /* Each dossier accepted through a node, read by its citizen through another. */
    for (int j = 0; j < ncodes; j++) {
        ht_resp r;
        ht_conn_init(&conn, c.node[j % 3].port);
        EXPECT_INT(ht_transition(&conn, &off, codes[j], 2, 1, &r), 200);
        ht_resp_free(&r);
        ht_conn_close(&conn);
        ht_conn_init(&conn, c.node[(j + 1) % 3].port);
        ht_get_dossier(&conn, cs[j / 2].u.token, codes[j], &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        EXPECT_INT((int)ht_jint(ht_dossier_of(&r), "status"), 2);
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    {
        /* The status filter goes to every node; an unknown code is 404 from any. */
        ht_conn_init(&conn, c.node[1].port);
        EXPECT_INT(ht_count_list(&conn, off.token, "/v1/agency/dossiers?status=2"), ncodes);
        EXPECT_INT(ht_count_list(&conn, off.token, "/v1/agency/dossiers?status=1"), 0);
        ht_resp r;
        EXPECT_INT(ht_transition(&conn, &off, "000.00.12.H29-991231-9999", 4, 1, &r), 404);
        ht_resp_free(&r);
        /* A voucher a client made up is refused. */
        char hdr[512];
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nx-hoso-caller: eyJhIjoxfQ.bm9wZQ\r\n", off.token);
        ht_http(&conn, "GET", "/v1/agency/dossiers", hdr, NULL, 0, &r);
        EXPECT_INT(r.status, 401);
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    /* The monthly report through any node counts every node's dossiers: received and
     * accepted add up to all of them, in JSON and in CSV. */
    {
        char month[8], path[128];
        time_t now = time(NULL) + 7 * 3600; /* the report's days are Asia/Ho_Chi_Minh's */
        strftime(month, sizeof month, "%Y-%m", gmtime(&now));
        snprintf(path, sizeof path, "/v1/reports/monthly?month=%s", month);
        for (int k = 0; k < c.nnodes; k++) {
            ht_resp r;
            ht_conn_init(&conn, c.node[k].port);
            ht_json_call(&conn, "GET", path, off.token, NULL, &r);
            HT_EXPECT_REPLY(&r, 200, NULL);
            EXPECT_INT((int)ht_jint(r.json, "totals.received"), ncodes);
            EXPECT_INT((int)ht_jint(r.json, "totals.accepted"), ncodes);
            ht_resp_free(&r);
            ht_conn_close(&conn);
        }
        /* The same through `hosod report --cluster`, from anywhere NATS is reached. */
        char *out = NULL;
        EXPECT_INT(ht_hosod_out(&out, "report --cluster '%s' --month %s --agency %s 2>/dev/null", c.file, month,
                                svc.agency),
                   0);
        json_t *rep = out != NULL ? json_loads(out, 0, NULL) : NULL;
        if (rep == NULL || ht_jint(rep, "totals.received") != ncodes)
            ht_fail("hosod report --cluster: %s", out ? out : "(nothing)");
        json_decref(rep);
        free(out);
        /* A node down: the report says so rather than leave its shards out. */
        ht_server_kill9(&c.node[1]);
        EXPECT_INT(ht_hosod_out(&out, "report --cluster '%s' --month %s", c.file, month), 1);
        ht_expect_has(out, "n2 is down");
        free(out);
        ht_conn_init(&conn, c.node[0].port);
        ht_resp r;
        ht_json_call(&conn, "GET", path, off.token, NULL, &r);
        if (r.status == 200)
            ht_fail("a report with node 2 down: %s", r.body);
        HT_EXPECT_REPLY(&r, 503, "UNAVAILABLE");
        ht_resp_free(&r);
        ht_conn_close(&conn);
        ht_server_restart_same_port(&c.node[1]);
    }
    /* Stats and satisfaction through any node: every node's counters, summed. Six
     * dossiers of citizens on every node are returned and rated. */
    {
        char path[128], month[8];
        time_t now = time(NULL) + 7 * 3600;
        strftime(month, sizeof month, "%Y-%m", gmtime(&now));
        for (int j = 0; j < 6; j++) {
            move_via(&c, j % 3, &off, codes[j * 2], 4);
            move_via(&c, (j + 1) % 3, &off, codes[j * 2], 9);
            move_via(&c, (j + 2) % 3, &off, codes[j * 2], 10);
            ht_resp r;
            ht_conn_init(&conn, c.node[(j + 1) % 3].port);
            json_t *b = ht_jsonf("{\"answers\": {\"q1\": %d}, \"op_id\": \"rate-%d-%d\"}", 1 + j % 5, j, (int)getpid());
            snprintf(path, sizeof path, "/v1/dossiers/%s/rating", codes[j * 2]);
            ht_mp_callj(&conn, "POST", path, cs[j].u.token, b, &r);
            json_decref(b);
            HT_EXPECT_REPLY(&r, 200, NULL);
            ht_resp_free(&r);
            ht_conn_close(&conn);
        }
        for (int k = 0; k < c.nnodes; k++) {
            ht_resp r;
            ht_conn_init(&conn, c.node[k].port);
            ht_json_call(&conn, "GET", "/v1/stats", off.token, NULL, &r);
            HT_EXPECT_REPLY(&r, 200, NULL);
            long long received = 0;
            json_t *rows = ht_j(r.json, "rows");
            for (size_t i = 0; i < json_array_size(rows); i++)
                received += ht_jint(json_array_get(rows, i), "received");
            EXPECT_INT((int)received, ncodes);
            ht_resp_free(&r);
            snprintf(path, sizeof path, "/v1/stats/satisfaction?month=%s", month);
            ht_json_call(&conn, "GET", path, off.token, NULL, &r);
            HT_EXPECT_REPLY(&r, 200, NULL);
            json_t *row = json_array_get(ht_j(r.json, "rows"), 0);
            /* Six ratings from three nodes make one cell of 6: shown, with its average. */
            EXPECT_INT((int)ht_jint(row, "count"), 6);
            if (ht_j(row, "avg") == NULL)
                ht_fail("a cell of 6 ratings summed over the nodes is suppressed: %s", ht_dump(r.json));
            ht_resp_free(&r);
            ht_conn_close(&conn);
        }
    }
    /* A bot looks a dossier up through a node that does not hold it. */
    {
        ht_user bot;
        memset(&bot, 0, sizeof bot);
        snprintf(bot.login, sizeof bot.login, "bot_%d", (int)getpid());
        snprintf(bot.password, sizeof bot.password, "Bot-mat-khau-1");
        ht_conn_init(&conn, c.node[2].port);
        ht_login(&conn, &bot, 1);
        json_t *b = json_pack("{s:s, s:s}", "code", codes[1], "phone_last4", cs[0].u.phone + strlen(cs[0].u.phone) - 4);
        ht_resp r;
        ht_mp_callj(&conn, "POST", "/v1/bot/lookup", bot.token, b, &r);
        json_decref(b);
        HT_EXPECT_REPLY(&r, 200, NULL);
        EXPECT_INT((int)ht_jint(r.json, "status"), 2);
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    ht_service_free(&svc);
    ht_cluster_stop(&c);
}

/* An officer made through the cluster, signed in through node k. */
static void officer_new(ht_cluster *c, const ht_service *svc, int k, ht_user *off)
{
    char *out = NULL;
    memset(off, 0, sizeof(*off));
    static int made;
    snprintf(off->login, sizeof off->login, "canbo_ws_%d_%d", (int)getpid(), made++);
    snprintf(off->password, sizeof off->password, "Can-bo-mat-khau-2");
    snprintf(off->agency, sizeof off->agency, "%s", svc->agency);
    if (ht_hosod_out(&out, "admin create-officer --cluster '%s' --data '%s' --username %s --password %s --agency %s", c->file,
              c->node[0].dir, off->login, off->password, svc->agency) != 0)
        ht_fail("create-officer through the cluster: %s", out);
    free(out);
    ht_conn conn;
    ht_conn_init(&conn, c->node[k].port);
    ht_login(&conn, off, 1);
    ht_conn_close(&conn);
}

static void move_via(ht_cluster *c, int k, const ht_user *off, const char *code, int to)
{
    ht_conn conn;
    ht_resp r;
    ht_conn_init(&conn, c->node[k].port);
    if (ht_transition(&conn, off, code, to, -1, &r) != 200)
        ht_fail("move %s to %d through node %d: %s", code, to, k + 1, r.body);
    ht_resp_free(&r);
    ht_conn_close(&conn);
}

/* The next event must be seq (and of that event type when not NULL). */
static void expect_seq(ht_ws *ws, long long seq, const char *event)
{
    json_t *e = ht_ws_expect(ws, "event", 10000);
    if (ht_jint(e, "seq") != seq || (event && strcmp(ht_jstr(e, "event") ? ht_jstr(e, "event") : "", event) != 0))
        ht_fail("expected event seq %lld %s, got %s", seq, event ? event : "", ht_dump(e));
    json_decref(e);
}

/* A phone on any node: its feed replayed from its own node, then live events of moves
 * made on a third node, and after a drop, a reconnect to yet another node resumes
 * with no gap and no repeat. An officer's agency stream on one node gets the events
 * of every node. */
static void test_push_any_node(void)
{
    ht_cluster c;
    citizen cs[3];
    ht_service svc;
    ht_user off;
    char code[64];
    /* Three nodes hold the shards; a fourth holds none and only serves connections. */
    ht_conn conn;
    int front = 3;
    cluster_with(&c, 3, 1, NULL, cs, 3, &svc);
    citizen *z = &cs[0];
    int home = z->node, other = (home + 1) % 3, third = (home + 2) % 3;
    officer_new(&c, &svc, third, &off);

    ht_conn_init(&conn, c.node[home].port);
    ht_submit(&conn, &z->u, &svc, code, sizeof code);
    ht_conn_close(&conn);

    /* The officer's agency stream, on a node that is not the dossier's. */
    ht_ws aws;
    if (ht_ws_connect(&aws, c.node[other].port, off.token, NULL, 0) != 0)
        ht_fail("the officer's upgrade failed: %d", aws.status);
    json_t *asub = ht_jsonf("{\"type\": \"subscribe\", \"agency\": \"%s\"}", svc.agency);
    ht_ws_send_json(&aws, asub);
    json_decref(asub);
    json_decref(ht_ws_expect(&aws, "subscribed", 10000));

    /* The phone on another node than its own: the whole feed, then live. */
    ht_ws ws;
    json_t *sub = ht_ws_open_subscribed(&ws, c.node[other].port, z->u.token, 0);
    long long head = ht_jint(sub, "head");
    const char *epoch = ht_jstr(sub, "epoch");
    char ep[64];
    snprintf(ep, sizeof ep, "%s", epoch ? epoch : "");
    if (head < 1 || !ht_jint(sub, "recovered"))
        ht_fail("subscribed through another node: %s", ht_dump(sub));
    json_decref(sub);
    for (long long q = 1; q <= head; q++)
        expect_seq(&ws, q, NULL);
    move_via(&c, third, &off, code, 2);
    expect_seq(&ws, head + 1, "dossier.status");
    /* The agency stream got it too, with its owner. */
    json_t *ae = ht_ws_expect(&aws, "event", 10000);
    if (strcmp(ht_jstr(ae, "dossier.code") ? ht_jstr(ae, "dossier.code") : "", code) != 0 || !ht_jstr(ae, "owner"))
        ht_fail("agency stream: %s", ht_dump(ae));
    json_decref(ae);

    /* Dropped; two moves happen meanwhile; back through the front node, auth frame. */
    ht_ws_drop(&ws);
    move_via(&c, other, &off, code, 4);
    move_via(&c, front, &off, code, 5);
    ht_ws ws2;
    if (ht_ws_connect(&ws2, c.node[front].port, NULL, NULL, 0) != 0)
        ht_fail("upgrade failed: %d", ws2.status);
    json_t *auth = json_pack("{s:s, s:s}", "type", "auth", "token", z->u.token);
    ht_ws_send_json(&ws2, auth);
    json_decref(auth);
    sub = ht_ws_subscribe(&ws2, head + 1, ep);
    if (!ht_jint(sub, "recovered") || ht_jint(sub, "head") != head + 3)
        ht_fail("resume through the third node: %s", ht_dump(sub));
    json_decref(sub);
    expect_seq(&ws2, head + 2, "dossier.status");
    expect_seq(&ws2, head + 3, "dossier.status");
    /* Live again, from a move on the dossier's own node. */
    ht_conn_init(&conn, c.node[home].port);
    json_t *supp = ht_jsonf("{\"op_id\": \"supp-%d\", \"papers\": [{\"type\": \"cccd\", \"number\": \"001099000001\", "
                            "\"issuer\": \"C06\"}]}",
                            (int)getpid());
    char path[160];
    snprintf(path, sizeof path, "/v1/dossiers/%s/supplement", code);
    ht_resp r;
    ht_mp_callj(&conn, "POST", path, z->u.token, supp, &r);
    json_decref(supp);
    ht_resp_free(&r);
    ht_conn_close(&conn);
    json_t *e = ht_ws_expect(&ws2, "event", 10000);
    if (ht_jint(e, "seq") <= head + 3)
        ht_fail("after the resume: %s", ht_dump(e));
    long long next = ht_jint(e, "seq") + 1;
    json_decref(e);
    move_via(&c, third, &off, code, 9);
    /* Whatever the supplement added (a paper, the status), the seqs follow on. */
    for (;;) {
        e = ht_ws_expect(&ws2, "event", 10000);
        if (ht_jint(e, "seq") != next)
            ht_fail("expected seq %lld, got %s", next, ht_dump(e));
        next++;
        int done = ht_jint(e, "dossier.status") == 9;
        json_decref(e);
        if (done)
            break;
    }
    /* A token that is no one's, on a node that does not hold its shard. */
    ht_ws bad;
    char fake[64];
    snprintf(fake, sizeof fake, "%u.not-a-session-token-at-all", z->shard);
    if (ht_ws_connect(&bad, c.node[other].port, fake, NULL, 0) != 0)
        ht_fail("upgrade failed: %d", bad.status);
    EXPECT_INT(ht_ws_wait_close(&bad, 10000), 4001);
    ht_ws_close(&bad);
    ht_ws_close(&ws2);
    ht_ws_close(&aws);
    {
        /* The pages came from the phone's own node, the live events from NATS. */
        ht_conn_init(&conn, c.node[home].port);
        if (ht_metric(&conn, "hoso_cluster_feed_pages_total") < 2)
            ht_fail("the phone's node served no feed page");
        ht_conn_close(&conn);
        ht_conn_init(&conn, c.node[front].port);
        if (ht_metric(&conn, "hoso_cluster_live_received_total") < 1)
            ht_fail("the front node received no live event");
        /* Its list of the agency holds the dossier, though it holds no shard. */
        EXPECT_INT(ht_count_list(&conn, off.token, "/v1/agency/dossiers"), 1);
        ht_conn_close(&conn);
        int rc;
        json_t *st = ht_cluster_status(&c, &rc);
        EXPECT_INT(rc, 0);
        EXPECT_STR(ht_jstr(json_array_get(json_object_get(st, "nodes"), 3), "shards"), "none");
        json_decref(st);
    }
    ht_service_free(&svc);
    ht_cluster_stop(&c);
}

/* The portal on a cluster: every node mirrors its own shards' statuses to the national
 * portal; each dossier's statuses arrive in order, whichever node it lives on, and a
 * node killed with statuses still to send sends them once it is back. */
static void test_portal_every_status(void)
{
    enum { PER = 3 };
    ht_cluster c;
    ht_portal portal;
    citizen cs[4];
    ht_service svc;
    ht_user off;
    char args[512], codes[4 * PER][64];
    int ncodes = 0;
    memset(&portal, 0, sizeof portal);
    ht_portal_start(&portal, 0, NULL);
    ht_portal_serve_args(&portal, args, sizeof args);
    ht_conn conn;
    cluster_with(&c, 2, 0, args, cs, 4, &svc);
    officer_new(&c, &svc, 1, &off);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < PER; k++) {
            ht_conn_init(&conn, c.node[(i + k) % 2].port);
            ht_submit(&conn, &cs[i].u, &svc, codes[ncodes++], 64);
            ht_conn_close(&conn);
        }
    ht_cluster_wait_outbox(&c, 10000); /* the codes are in the locator */
    /* The portal goes away for more than a minute (the events are then older than
     * any delivery request may be: a request's age is not its event's); every dossier
     * moves twice; node 2 dies with its dossiers' statuses still to send, and comes
     * back after the portal. */
    ht_portal_stop(&portal);
    int64_t down = ht_mono_ms();
    for (int j = 0; j < ncodes; j++) {
        move_via(&c, j % 2, &off, codes[j], 2);
        move_via(&c, (j + 1) % 2, &off, codes[j], 4);
    }
    while (ht_mono_ms() < down + 62000)
        usleep(200000);
    ht_server_kill9(&c.node[1]);
    ht_portal_start(&portal, portal.port, NULL);
    ht_server_restart_same_port(&c.node[1]);
    /* Each dossier's statuses, in the order the portal took them: 1, 2, 4 (a change
     * sent again after the kill repeats one already taken, never goes back). */
    int64_t deadline = ht_mono_ms() + 30000;
    for (;;) {
        json_t *rec = ht_portal_records(&portal);
        int done = 0;
        for (int j = 0; j < ncodes; j++) {
            int want[] = {1, 2, 4}, next = 0, last = 0;
            for (size_t k = 0; k < json_array_size(rec); k++) {
                json_t *x = json_array_get(rec, k);
                const char *m = ht_jstr(x, "mahoso");
                if (m == NULL || strcmp(m, codes[j]) != 0)
                    continue;
                const char *sst = ht_jstr(x, "status"); /* the portal's fields are strings */
                int st = sst != NULL ? atoi(sst) : 0;
                if (st < last)
                    ht_fail("dossier %s went back from status %d to %d at the portal", codes[j], last, st);
                last = st;
                if (next < 3 && st == want[next])
                    next++;
            }
            done += next == 3;
        }
        json_decref(rec);
        if (done == ncodes)
            break;
        if (ht_mono_ms() > deadline)
            ht_fail("after 30 s only %d of %d dossiers had every status at the portal", done, ncodes);
        usleep(200000);
    }
    ht_service_free(&svc);
    ht_cluster_stop(&c);
    ht_portal_stop(&portal);
}

/* The node index that holds consumer name's lease by `hosod cluster status`, -1 when
 * none does. */
static int lease_holder(ht_cluster *c, const char *name)
{
    int rc, at = -1;
    json_t *st = ht_cluster_status(c, &rc);
    json_t *cons = st ? json_object_get(st, "consumers") : NULL;
    for (size_t i = 0; i < json_array_size(cons); i++) {
        json_t *x = json_array_get(cons, i);
        const char *h = ht_jstr(x, "holder");
        if (strcmp(ht_jstr(x, "name"), name) == 0 && h != NULL && h[0] == 'n')
            at = atoi(h + 1) - 1;
    }
    json_decref(st);
    return at;
}

/* How many of the running nodes say they hold consumer name's lease. */
static int lease_held_count(ht_cluster *c, const char *name, int skip)
{
    char prefix[96];
    int n = 0;
    snprintf(prefix, sizeof prefix, "hoso_cluster_lease_held{consumer=\"%s\"", name);
    for (int k = 0; k < c->nnodes; k++) {
        if (k == skip)
            continue;
        ht_conn conn;
        ht_conn_init(&conn, c->node[k].port);
        n += ht_metric(&conn, prefix) == 1;
        ht_conn_close(&conn);
    }
    return n;
}

/* Waits until each of codes[0..n) has the statuses want[0..nwant) at the portal, in
 * that order (a status sent again after a takeover repeats one already taken, never
 * goes back). */
static void expect_portal_statuses(ht_portal *portal, char (*codes)[64], int n, const int *want, int nwant, int ms)
{
    int64_t deadline = ht_mono_ms() + ms;
    for (;;) {
        json_t *rec = ht_portal_records(portal);
        int done = 0;
        char missing[512] = "";
        for (int j = 0; j < n; j++) {
            int next = 0, last = 0;
            for (size_t k = 0; k < json_array_size(rec); k++) {
                json_t *x = json_array_get(rec, k);
                const char *m = ht_jstr(x, "mahoso");
                if (m == NULL || strcmp(m, codes[j]) != 0)
                    continue;
                const char *sst = ht_jstr(x, "status");
                int st = sst != NULL ? atoi(sst) : 0;
                if (st < last)
                    ht_fail("dossier %s went back from status %d to %d at the portal", codes[j], last, st);
                last = st;
                if (next < nwant && st == want[next])
                    next++;
            }
            done += next == nwant;
            if (next < nwant && strlen(missing) + 80 < sizeof missing)
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), " %s (last status %d)",
                         codes[j], last);
        }
        json_decref(rec);
        if (done == n)
            return;
        if (ht_mono_ms() > deadline)
            ht_fail("after %d ms only %d of %d dossiers had every status at the portal; missing:%s", ms, done, n,
                    missing);
        usleep(200000);
    }
}

/* One node at a time mirrors the whole cluster to the portal, reading the stream under
 * a lease; killed with kill -9, another node takes the lease over within seconds and
 * the portal still gets every status of every dossier in order, those of the dead
 * node's own dossiers once it is back. */
static void test_portal_lease_moves(void)
{
    enum { PER = 2, N = 6 };
    ht_cluster c;
    ht_portal portal;
    citizen cs[N];
    ht_service svc;
    ht_user off;
    char args[512], codes[N * PER][64], live[N * PER][64], dead[N * PER][64];
    int ncodes = 0, nlive = 0, ndead = 0, owner[N * PER];
    memset(&portal, 0, sizeof portal);
    ht_portal_start(&portal, 0, NULL);
    ht_portal_serve_args(&portal, args, sizeof args);
    cluster_with(&c, 3, 0, args, cs, N, &svc);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < PER; k++) {
            ht_conn conn;
            ht_conn_init(&conn, c.node[(i + k) % 3].port);
            owner[ncodes] = cs[i].node;
            ht_submit(&conn, &cs[i].u, &svc, codes[ncodes++], 64);
            ht_conn_close(&conn);
        }

    /* One node holds the portal's lease; exactly one says so. */
    int64_t deadline = ht_mono_ms() + 10000;
    int h;
    while ((h = lease_holder(&c, "portal")) < 0) {
        if (ht_mono_ms() > deadline)
            ht_fail("no node took the portal's lease in 10 s");
        usleep(100000);
    }
    if (lease_held_count(&c, "portal", -1) != 1)
        ht_fail("%d nodes say they hold the portal's lease", lease_held_count(&c, "portal", -1));
    /* An officer whose account lives on another node than the holder (his moves go on
     * while the holder is dead). */
    for (int tries = 0;; tries++) {
        officer_new(&c, &svc, (h + 1) % 3, &off);
        if (ht_cluster_node_of(&c, ht_cluster_shard_of(&c, off.id)) != h)
            break;
        if (tries > 30)
            ht_fail("every officer landed on node %d", h + 1);
    }
    for (int j = 0; j < ncodes; j++)
        memcpy(owner[j] == h ? dead[ndead++] : live[nlive++], codes[j], sizeof codes[j]);
    if (nlive == 0 || ndead == 0)
        ht_fail("the dossiers are not spread: %d on the holder, %d elsewhere", ndead, nlive);

    ht_server_kill9(&c.node[h]);
    int64_t killed = ht_mono_ms();
    /* An operator removes an event from the stream before anyone delivered it (a new
     * dossier's creation): the next holder reads across the hole. */
    {
        int k = 0;
        while (k < N && cs[k].node == h)
            k++;
        char extra[64];
        ht_conn conn;
        ht_conn_init(&conn, c.node[cs[k].node].port);
        ht_submit(&conn, &cs[k].u, &svc, extra, sizeof extra);
        ht_conn_close(&conn);
        natsConnection *nc = NULL;
        jsCtx *js = NULL;
        char url[64];
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", c.nats.port);
        if (natsConnection_ConnectTo(&nc, url) != NATS_OK || natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
            ht_fail("cannot reach JetStream at %s", url);
        int removed = 0;
        for (int64_t until = ht_mono_ms() + 10000; !removed && ht_mono_ms() < until; usleep(50000)) {
            jsStreamInfo *si = NULL;
            if (js_GetStreamInfo(&si, js, "HOSO_EVENTS", NULL, NULL) != NATS_OK)
                continue;
            for (uint64_t p = si->State.LastSeq; p > 0 && p + 20 > si->State.LastSeq && !removed; p--) {
                natsMsg *m = NULL;
                if (js_GetMsg(&m, js, "HOSO_EVENTS", p, NULL, NULL) == NATS_OK &&
                    memmem(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), extra, strlen(extra)) != NULL)
                    removed = js_DeleteMsg(js, "HOSO_EVENTS", p, NULL, NULL) == NATS_OK;
                natsMsg_Destroy(m);
            }
            jsStreamInfo_Destroy(si);
        }
        if (!removed)
            ht_fail("the new dossier's event did not reach the stream, or could not be removed");
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
    }
    for (int j = 0; j < nlive; j++) {
        move_via(&c, (h + 1 + j % 2) % 3, &off, live[j], 2);
        move_via(&c, (h + 2 - j % 2) % 3, &off, live[j], 4);
    }
    /* Another node takes the lease over and the other nodes' dossiers reach the portal
     * while the old holder is still dead. */
    int h2;
    while ((h2 = lease_holder(&c, "portal")) < 0 || h2 == h) {
        if (ht_mono_ms() > killed + 10000)
            ht_fail("the portal's lease did not move off the killed node %d in 10 s", h + 1);
        usleep(100000);
    }
    static const int moved[] = {1, 2, 4}, moved_again[] = {1, 2, 4, 5};
    expect_portal_statuses(&portal, live, nlive, moved, 3, 20000);
    if (lease_held_count(&c, "portal", h) != 1)
        ht_fail("after the takeover %d running nodes say they hold the lease", lease_held_count(&c, "portal", h));

    /* Back: its own dossiers' moves reach the portal through the new holder; it does
     * not take the lease back. */
    ht_server_restart_same_port(&c.node[h]);
    for (int j = 0; j < ndead; j++) {
        move_via(&c, (h + 1) % 3, &off, dead[j], 2);
        move_via(&c, h, &off, dead[j], 4);
    }
    expect_portal_statuses(&portal, codes, ncodes, moved, 3, 30000);
    if (lease_holder(&c, "portal") != h2 || lease_held_count(&c, "portal", -1) != 1)
        ht_fail("the lease moved again after the old holder came back (now node %d)", lease_holder(&c, "portal") + 1);

    /* The holder hangs (SIGSTOP) for longer than the lease: another node takes over,
     * and when the hung one wakes up it starts nothing more, gives the lease up, and
     * every status still arrives in order. */
    ht_user off2 = off;
    for (int tries = 0; ht_cluster_node_of(&c, ht_cluster_shard_of(&c, off2.id)) == h2; tries++) {
        if (tries > 30)
            ht_fail("every officer landed on node %d", h2 + 1);
        officer_new(&c, &svc, (h2 + 1) % 3, &off2);
    }
    char others[N * PER][64];
    int nothers = 0;
    for (int j = 0; j < ncodes; j++)
        if (owner[j] != h2)
            memcpy(others[nothers++], codes[j], sizeof codes[j]);
    kill(c.node[h2].pid, SIGSTOP);
    for (int j = 0; j < nothers; j++)
        move_via(&c, (h2 + 1 + j % 2) % 3, &off2, others[j], 5);
    int h3;
    int64_t stopped = ht_mono_ms();
    while ((h3 = lease_holder(&c, "portal")) < 0 || h3 == h2) {
        if (ht_mono_ms() > stopped + 10000)
            ht_fail("the portal's lease did not move off the hung node %d in 10 s", h2 + 1);
        usleep(100000);
    }
    expect_portal_statuses(&portal, others, nothers, moved_again, 4, 20000);
    kill(c.node[h2].pid, SIGCONT);
    int64_t woke = ht_mono_ms();
    while (lease_held_count(&c, "portal", -1) != 1) {
        if (ht_mono_ms() > woke + 5000)
            ht_fail("%d nodes say they hold the portal's lease after the hung one woke up",
                    lease_held_count(&c, "portal", -1));
        usleep(100000);
    }
    if (lease_holder(&c, "portal") != h3)
        ht_fail("the lease went back to the node that hung");
    expect_portal_statuses(&portal, others, nothers, moved_again, 4, 5000);
    ht_service_free(&svc);
    ht_cluster_stop(&c);
    ht_portal_stop(&portal);
}

/* A bot made through the cluster gets the webhooks of a dossier that lives on another
 * node than its own account, signed, in order, through whichever nodes the moves and
 * the subscription went; after rotate-bot-secret through the cluster, the next
 * webhook is signed with the new secret (every node has it). */
static void test_webhooks_any_node(void)
{
    ht_cluster c;
    citizen cs[CITIZENS];
    ht_service svc;
    ht_user off, bot;
    ht_relay rl;
    ht_resp r;
    char *out = NULL, secret[128], code[64], url[128], body[1024];
    memset(&rl, 0, sizeof rl);
    cluster_with(&c, 3, 0, "--webhook-allow-private", cs, CITIZENS, &svc);
    officer_new(&c, &svc, 0, &off);

    memset(&bot, 0, sizeof bot);
    snprintf(bot.login, sizeof bot.login, "zalo-bot-%d", (int)getpid());
    snprintf(bot.password, sizeof bot.password, "mat-khau-bot-%d", (int)getpid());
    if (ht_sh(&out, "'%s' admin create-bot --cluster '%s' --data '%s' --username %s --password %s "
                    "--scopes 'lookup subscribe' --json 2>/dev/null", ht_hosod(), c.file, c.node[2].dir, bot.login,
              bot.password) != 0)
        ht_fail("create-bot through the cluster: %s", out);
    json_t *j = json_loads(out, 0, NULL);
    snprintf(secret, sizeof secret, "%s", j ? ht_jstr(j, "webhook_secret") : "");
    json_decref(j);
    free(out);
    ht_conn conn;
    ht_conn_init(&conn, c.node[1].port);
    ht_login(&conn, &bot, 1);
    ht_conn_close(&conn);
    int home = ht_cluster_node_of(&c, ht_cluster_shard_of(&c, bot.id)), who = 0;
    while (who < CITIZENS && cs[who].node == home)
        who++;
    if (who == CITIZENS)
        ht_fail("every citizen lives on the bot's node");
    citizen *z = &cs[who];

    ht_relay_start(&rl, 0, secret);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rl.port);
    ht_conn_init(&conn, c.node[(z->node + 1) % 3].port);
    ht_submit(&conn, &z->u, &svc, code, sizeof code);
    ht_conn_close(&conn);
    ht_cluster_wait_outbox(&c, 10000); /* the code is in the locator */
    snprintf(body, sizeof body,
             "{\"code\":\"%s\",\"phone_last4\":\"%s\",\"chat_ref\":\"zalo:4217\",\"callback_url\":\"%s\"}", code,
             z->u.phone + strlen(z->u.phone) - 4, url);
    ht_conn_init(&conn, c.node[(z->node + 2) % 3].port);
    if (ht_json_call(&conn, "POST", "/v1/bot/subscriptions", bot.token, body, &r) != 201)
        HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    ht_conn_close(&conn);

    move_via(&c, 0, &off, code, 2);
    move_via(&c, 1, &off, code, 4);
    ht_relay_wait(&rl, (const int[]){2, 4}, 2, 20);

    /* A new secret, on every node: the relay only takes webhooks signed with it. */
    ht_relay_stop(&rl);
    if (ht_sh(&out, "'%s' admin rotate-bot-secret --cluster '%s' --data '%s' --username %s --json 2>/dev/null",
              ht_hosod(), c.file, c.node[0].dir, bot.login) != 0)
        ht_fail("rotate-bot-secret through the cluster: %s", out);
    j = json_loads(out, 0, NULL);
    snprintf(secret, sizeof secret, "%s", j ? ht_jstr(j, "webhook_secret") : "");
    json_decref(j);
    free(out);
    ht_relay_start(&rl, rl.port, secret);
    move_via(&c, 2, &off, code, 5);
    ht_relay_wait(&rl, (const int[]){2, 4, 5}, 3, 20);
    ht_relay_stop(&rl);
    ht_service_free(&svc);
    ht_cluster_stop(&c);
}

/* An upload of u's through node k (tus: create, then one PATCH): its id. */
static void upload_via(ht_cluster *c, int k, const ht_user *u, const uint8_t *data, size_t n, char id[64])
{
    char h[1024], path[128], loc[128];
    ht_conn conn;
    ht_resp r;
    ht_conn_init(&conn, c->node[k].port);
    /* filename ket-qua.pdf, filetype application/pdf */
    snprintf(h, sizeof h,
             "Tus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\nUpload-Length: %zu\r\n"
             "Upload-Metadata: filename a2V0LXF1YS5wZGY=,filetype YXBwbGljYXRpb24vcGRm\r\n",
             u->token, n);
    ht_http(&conn, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    if (!ht_resp_header(&r, "Location", loc, sizeof loc) || strncmp(loc, "/v1/uploads/", 12) != 0)
        ht_fail("no Location");
    snprintf(id, 64, "%.63s", loc + 12);
    ht_resp_free(&r);
    snprintf(h, sizeof h,
             "Tus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n",
             u->token);
    snprintf(path, sizeof path, "/v1/uploads/%s", id);
    ht_http(&conn, "PATCH", path, h, data, n, &r);
    HT_EXPECT_REPLY(&r, 204, NULL);
    ht_resp_free(&r);
    ht_conn_close(&conn);
}

/* An officer's uploads live on the officer's node; his message with a file and his
 * result with its file, on a dossier of another node, work as on one hosod: the
 * dossier's node gets the files (in pieces, checked), and the citizen reads the very
 * bytes through any node. A file that is not his is refused by name. */
static void test_officer_files_any_node(void)
{
    ht_cluster c;
    citizen cs[CITIZENS];
    ht_service svc;
    ht_user off;
    ht_resp r;
    char code[64], result[64], attached[64], path[256], auth[300];
    size_t n = 600 * 1024 + 17; /* three pieces */
    uint8_t *pdf = malloc(n);
    memcpy(pdf, "%PDF-1.7\n", 9);
    for (size_t i = 9; i < n; i++)
        pdf[i] = (uint8_t)(i * 2654435761u >> 13);
    cluster_with(&c, 3, 0, NULL, cs, CITIZENS, &svc);
    officer_new(&c, &svc, 0, &off);
    int home = ht_cluster_node_of(&c, ht_cluster_shard_of(&c, off.id)), who = 0;
    while (who < CITIZENS && cs[who].node == home)
        who++;
    if (who == CITIZENS)
        ht_fail("every citizen lives on the officer's node");
    citizen *z = &cs[who];
    ht_conn conn;
    ht_conn_init(&conn, c.node[home].port);
    ht_submit(&conn, &z->u, &svc, code, sizeof code);
    ht_conn_close(&conn);
    ht_cluster_wait_outbox(&c, 10000); /* the code is in the locator */
    move_via(&c, 0, &off, code, 2);
    move_via(&c, 1, &off, code, 4);

    /* Uploaded through a third node: they land on the officer's. */
    upload_via(&c, (home + 2) % 3, &off, pdf, n, result);
    upload_via(&c, (home + 1) % 3, &off, pdf, 4096, attached);

    ht_conn_init(&conn, c.node[(z->node + 1) % 3].port);
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages", code);
    json_t *body = json_pack("{s:s, s:s, s:[s]}", "text", "Bản scan kết quả", "op_id", "cluster-files-msg", "files",
                             attached);
    ht_mp_callj(&conn, "POST", path, off.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);

    ht_resp got;
    ht_get_dossier(&conn, z->u.token, code, &got);
    long long v = ht_jint(ht_dossier_of(&got), "version");
    ht_resp_free(&got);
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/transitions", code);
    body = json_pack("{s:i, s:I, s:s, s:[s]}", "to", 9, "version", (json_int_t)v, "result", "Giấy phép điện tử",
                     "result_files", "0123456789abcdef0123456789abcdef");
    ht_mp_callj(&conn, "POST", path, off.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "result_files[0]"));
    ht_resp_free(&r);
    body = json_pack("{s:i, s:I, s:s, s:[s]}", "to", 9, "version", (json_int_t)v, "result", "Giấy phép điện tử",
                     "result_files", result);
    ht_mp_callj(&conn, "POST", path, off.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_STR(ht_jstr(r.json, "dossier.result_files.0.id"), result);
    EXPECT_STR(ht_jstr(r.json, "dossier.result_files.0.name"), "ket-qua.pdf");
    EXPECT_INT(ht_jint(r.json, "dossier.result_files.0.size"), (long long)n);
    ht_resp_free(&r);
    ht_conn_close(&conn);

    /* The citizen reads both, byte for byte, through every node. */
    for (int k = 0; k < 3; k++) {
        ht_conn_init(&conn, c.node[k].port);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", z->u.token);
        snprintf(path, sizeof path, "/v1/files/%s", result);
        ht_http(&conn, "GET", path, auth, NULL, 0, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        if (r.len != n || memcmp(r.body, pdf, n) != 0)
            ht_fail("the result read through node %d differs from the upload (%zu bytes, want %zu)", k + 1, r.len, n);
        ht_resp_free(&r);
        snprintf(path, sizeof path, "/v1/files/%s", attached);
        ht_http(&conn, "GET", path, auth, NULL, 0, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        if (r.len != 4096 || memcmp(r.body, pdf, 4096) != 0)
            ht_fail("the message's file read through node %d differs from the upload", k + 1);
        ht_resp_free(&r);
        ht_conn_close(&conn);
    }
    free(pdf);
    ht_service_free(&svc);
    ht_cluster_stop(&c);
}

UNIT_MAIN(UNIT(test_any_node_answers), UNIT(test_staff_across_nodes), UNIT(test_push_any_node),
          UNIT(test_portal_every_status), UNIT(test_portal_lease_moves), UNIT(test_webhooks_any_node), UNIT(test_officer_files_any_node),
          UNIT(test_node_killed_under_load), UNIT(test_nats_restarted),
          UNIT(test_refused_and_status))
