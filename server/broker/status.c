/*
 * status.c - `hosod cluster status --cluster FILE [--json]`: what an operator asks of a
 * cluster. Reads NATS only (the node records each node rewrites every second, the
 * stream, the cluster's settings), so it runs anywhere the NATS server is reachable.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <nats/nats.h>
#include "internal.h"

#define STATUS_USAGE "hosod cluster status --cluster FILE [--json]\n"
#define NODE_STALE_MS 3000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *kv_string(kvStore *kv, const char *key)
{
    kvEntry *e = NULL;
    char *out = NULL;
    if (kv != NULL && kvStore_Get(&e, kv, key) == NATS_OK) {
        const char *v = kvEntry_ValueString(e);
        out = v != NULL ? strdup(v) : NULL;
        kvEntry_Destroy(e);
    }
    return out;
}

static int cmd_status(int argc, char **argv)
{
    const char *file = NULL;
    int as_json = 0, rc = 1;
    hoso_cluster c;
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    jsCtx *js = NULL;
    kvStore *kv_cluster = NULL, *kv_nodes = NULL;
    jsStreamInfo *si = NULL;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: " STATUS_USAGE "\n"
                   "The cluster as NATS sees it: each node (up when it wrote its record in the last\n"
                   "%d s), its shards, its outbox (events published to JetStream / committed), the\n"
                   "stream HOSO_EVENTS, the consumers' leases (which node delivers to the portal and\n"
                   "to the bots, and how far they are) and the NATS server. Exit 0 when every node is\n"
                   "up, 3 when some node is not, 1 when NATS cannot be reached.\n",
                   NODE_STALE_MS / 1000);
            return 0;
        } else if (strcmp(argv[i], "--cluster") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else {
            fprintf(stderr, "hosod cluster status: unknown option %s (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (file == NULL) {
        fprintf(stderr, "hosod cluster status: --cluster FILE is required\n");
        return 2;
    }
    if (hoso_cluster_load(file, &c) != 0)
        return 2;
    if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, c.nats_url) != NATS_OK ||
        natsOptions_SetTimeout(opts, 2000) != NATS_OK || natsOptions_SetName(opts, "hosod-cluster-status") != NATS_OK ||
        natsConnection_Connect(&nc, opts) != NATS_OK) {
        fprintf(stderr, "hosod cluster status: cannot reach NATS at %s\n", c.nats_url);
        goto Exit;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    jsErrCode jerr = 0;
    natsStatus s = natsConnection_JetStream(&js, nc, &jo);
    if (s == NATS_OK)
        s = js_GetStreamInfo(&si, js, "HOSO_EVENTS", NULL, &jerr);
    if (s != NATS_OK && s != NATS_NOT_FOUND) {
        fprintf(stderr, "hosod cluster status: JetStream is not answering at %s (is nats-server run with -js?)\n",
                c.nats_url);
        goto Exit;
    }
    js_KeyValue(&kv_cluster, js, "HOSO_CLUSTER");
    js_KeyValue(&kv_nodes, js, "HOSO_NODES");

    json_t *out = json_object(), *nodes = json_array();
    char server_version[64] = "";
    natsConnection_GetConnectedServerId(nc, server_version, sizeof server_version);
    json_object_set_new(out, "nats", json_pack("{s:s,s:s}", "url", c.nats_url, "server_id", server_version));
    json_object_set_new(out, "shards", json_integer(c.shards));
    char *keycheck = kv_string(kv_cluster, "keycheck"), *shards = kv_string(kv_cluster, "shards");
    json_object_set_new(out, "keycheck", keycheck ? json_string(keycheck) : json_null());
    json_object_set_new(out, "shards_recorded", shards ? json_integer(atoll(shards)) : json_null());
    if (si != NULL)
        json_object_set_new(out, "stream",
                            json_pack("{s:s,s:I,s:I,s:I}", "name", "HOSO_EVENTS", "events", (json_int_t)si->State.Msgs,
                                      "bytes", (json_int_t)si->State.Bytes, "last_seq", (json_int_t)si->State.LastSeq));
    else
        json_object_set_new(out, "stream", json_null());
    int all_up = 1;
    int64_t now = wall_ms();
    for (unsigned i = 0; i < c.nnodes; i++) {
        char key[64], range[24];
        snprintf(key, sizeof key, "node.%s", c.nodes[i].id);
        if (c.nodes[i].first <= c.nodes[i].last)
            snprintf(range, sizeof range, "%u-%u", c.nodes[i].first, c.nodes[i].last);
        else
            snprintf(range, sizeof range, "none");
        char *rec = kv_string(kv_nodes, key);
        json_t *n = rec != NULL ? json_loads(rec, 0, NULL) : NULL;
        free(rec);
        if (n == NULL)
            n = json_object();
        json_object_set_new(n, "id", json_string(c.nodes[i].id));
        json_object_set_new(n, "shards", json_string(range));
        json_int_t at = json_integer_value(json_object_get(n, "at"));
        int up = at > 0 && now - at < NODE_STALE_MS;
        json_object_set_new(n, "state", json_string(up ? "up" : at > 0 ? "down" : "never seen"));
        if (at > 0)
            json_object_set_new(n, "seen_ms_ago", json_integer(now - at));
        if (!up)
            all_up = 0;
        json_array_append_new(nodes, n);
    }
    json_object_set_new(out, "nodes", nodes);
    /* The consumers: who holds each lease, where its durable consumer stands. */
    json_t *consumers = json_array();
    const char *names[] = {"portal", "webhooks"};
    for (size_t i = 0; i < 2 && kv_cluster != NULL; i++) {
        char holder[33] = "", consumer[64] = "";
        uint64_t cursor = 0, rev = 0;
        jsConsumerInfo *ci = NULL;
        json_t *x = json_pack("{s:s}", "name", names[i]);
        if (hoso__lease_read(kv_cluster, names[i], holder, consumer, &cursor, &rev) != 0) {
            json_decref(x);
            continue;
        }
        if (rev == 0) {
            json_object_set_new(x, "state", json_string("never run"));
        } else if (holder[0] == '\0') {
            json_object_set_new(x, "state", json_string("free (taken within a second by a running node)"));
        } else {
            const char *state = "held";
            for (size_t k = 0; k < json_array_size(nodes); k++) {
                json_t *n = json_array_get(nodes, k);
                if (strcmp(json_string_value(json_object_get(n, "id")), holder) == 0 &&
                    strcmp(json_string_value(json_object_get(n, "state")), "up") != 0)
                    state = "held by a node that is not up (another takes it over within 3 s)";
            }
            json_object_set_new(x, "holder", json_string(holder));
            json_object_set_new(x, "state", json_string(state));
        }
        if (consumer[0] != '\0')
            json_object_set_new(x, "consumer", json_string(consumer));
        if (consumer[0] != '\0' && js_GetConsumerInfo(&ci, js, "HOSO_EVENTS", consumer, NULL, &jerr) == NATS_OK) {
            uint64_t last = si != NULL ? si->State.LastSeq : 0;
            if (ci->AckFloor.Stream > cursor)
                cursor = ci->AckFloor.Stream;
            json_object_set_new(x, "acknowledged", json_integer((json_int_t)cursor));
            json_object_set_new(x, "lag_events", json_integer((json_int_t)(last > cursor ? last - cursor : 0)));
            jsConsumerInfo_Destroy(ci);
        }
        json_array_append_new(consumers, x);
    }
    json_object_set_new(out, "consumers", consumers);
    if (as_json) {
        char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
    } else {
        printf("cluster %s: %u nodes, %u shards, NATS %s\n", file, c.nnodes, c.shards, c.nats_url);
        printf("key check: %s\n", keycheck ? "recorded (every node that joined has the same secret.key)" : "not recorded yet (no node has joined)");
        if (si != NULL)
            printf("stream HOSO_EVENTS: %" PRIu64 " events, %" PRIu64 " bytes, last seq %" PRIu64 "\n", si->State.Msgs,
                   si->State.Bytes, si->State.LastSeq);
        else
            printf("stream HOSO_EVENTS: not made yet\n");
        printf("%-12s %-9s %-10s %-22s %-12s %s\n", "NODE", "SHARDS", "STATE", "LISTEN", "SEEN", "OUTBOX (published/committed)");
        for (size_t i = 0; i < json_array_size(nodes); i++) {
            json_t *n = json_array_get(nodes, i), *ob = json_object_get(n, "outbox");
            char seen[32] = "-", outbox[64] = "-";
            if (json_object_get(n, "seen_ms_ago"))
                snprintf(seen, sizeof seen, "%.1f s ago",
                         (double)json_integer_value(json_object_get(n, "seen_ms_ago")) / 1000.0);
            if (ob != NULL) {
                json_int_t p = json_integer_value(json_object_get(ob, "published")),
                           h = json_integer_value(json_object_get(ob, "head"));
                snprintf(outbox, sizeof outbox, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " (lag %" JSON_INTEGER_FORMAT ")",
                         p, h, h > p ? h - p : 0);
            }
            const char *listen = json_string_value(json_object_get(n, "listen"));
            printf("%-12s %-9s %-10s %-22s %-12s %s\n", json_string_value(json_object_get(n, "id")),
                   json_string_value(json_object_get(n, "shards")), json_string_value(json_object_get(n, "state")),
                   listen ? listen : "-", seen, outbox);
        }
        printf("%-12s %-12s %-12s %-10s %s\n", "CONSUMER", "HOLDER", "ACKNOWLEDGED", "LAG", "STATE");
        for (size_t i = 0; i < json_array_size(consumers); i++) {
            json_t *x = json_array_get(consumers, i);
            const char *h = json_string_value(json_object_get(x, "holder"));
            char ack[24] = "-", lag[24] = "-";
            if (json_object_get(x, "acknowledged") != NULL) {
                snprintf(ack, sizeof ack, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(x, "acknowledged")));
                snprintf(lag, sizeof lag, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(x, "lag_events")));
            }
            printf("%-12s %-12s %-12s %-10s %s\n", json_string_value(json_object_get(x, "name")), h ? h : "-", ack, lag,
                   json_string_value(json_object_get(x, "state")));
        }
    }
    free(keycheck);
    free(shards);
    json_decref(out);
    rc = all_up ? 0 : 3;
Exit:
    jsStreamInfo_Destroy(si);
    kvStore_Destroy(kv_cluster);
    kvStore_Destroy(kv_nodes);
    jsCtx_Destroy(js);
    if (nc != NULL)
        natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return rc;
}

int hoso_cluster_cmd(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fprintf(argc < 1 ? stderr : stdout, "usage: " STATUS_USAGE);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    fprintf(stderr, "hosod cluster: unknown command %s\nusage: " STATUS_USAGE, argv[0]);
    return 2;
}
