/*
 * cluster.c - the cluster file and the shard arithmetic. Pure functions: no NATS here.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "broker.h"

static int bad(const char *path, const char *what)
{
    fprintf(stderr, "hosod: cluster file %s: %s\n", path, what);
    return HOSO_EBAD_REQUEST;
}

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

/* "0-21" or "7" */
static int parse_range(const char *s, unsigned *first, unsigned *last)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    unsigned long a = strtoul(s, &end, 10), b = a;
    if (*end == '-') {
        if (!isdigit((unsigned char)end[1]))
            return -1;
        b = strtoul(end + 1, &end, 10);
    }
    if (errno != 0 || *end != '\0' || a > b || b >= HOSO_CLUSTER_MAX_SHARDS)
        return -1;
    *first = (unsigned)a;
    *last = (unsigned)b;
    return 0;
}

int hoso_cluster_load(const char *path, hoso_cluster *out)
{
    json_error_t je;
    char msg[256];
    int rc = HOSO_EBAD_REQUEST;
    memset(out, 0, sizeof(*out));
    snprintf(out->file, sizeof(out->file), "%s", path);
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        fprintf(stderr, "hosod: cluster file %s: %s (line %d)\n", path, je.text, je.line);
        return errno == ENOENT ? HOSO_EIO : HOSO_EBAD_REQUEST;
    }
    json_t *nats = json_object_get(root, "nats"), *shards = json_object_get(root, "shards"),
           *nodes = json_object_get(root, "nodes");
    if (!json_is_string(nats) || strncmp(json_string_value(nats), "nats://", 7) != 0 ||
        strlen(json_string_value(nats)) >= sizeof(out->nats_url)) {
        rc = bad(path, "\"nats\" must be a nats://HOST:PORT URL");
        goto Exit;
    }
    snprintf(out->nats_url, sizeof(out->nats_url), "%s", json_string_value(nats));
    if (!json_is_integer(shards) || json_integer_value(shards) < 1 ||
        json_integer_value(shards) > HOSO_CLUSTER_MAX_SHARDS) {
        snprintf(msg, sizeof msg, "\"shards\" must be a number of shards 1..%d", HOSO_CLUSTER_MAX_SHARDS);
        rc = bad(path, msg);
        goto Exit;
    }
    out->shards = (unsigned)json_integer_value(shards);
    if (!json_is_array(nodes) || json_array_size(nodes) == 0 || json_array_size(nodes) > HOSO_CLUSTER_MAX_NODES) {
        snprintf(msg, sizeof msg, "\"nodes\" must be a list of 1..%d nodes", HOSO_CLUSTER_MAX_NODES);
        rc = bad(path, msg);
        goto Exit;
    }
    unsigned char *held = calloc(out->shards, 1);
    if (held == NULL) {
        rc = HOSO_ENOMEM;
        goto Exit;
    }
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) {
        json_t *id = json_object_get(n, "id"), *sh = json_object_get(n, "shards");
        hoso_cluster_node *cn = &out->nodes[out->nnodes];
        if (!json_is_string(id) || !valid_id(json_string_value(id))) {
            snprintf(msg, sizeof msg, "node %zu: \"id\" must be 1..32 of A-Z a-z 0-9 - _", i);
            rc = bad(path, msg);
            free(held);
            goto Exit;
        }
        snprintf(cn->id, sizeof cn->id, "%s", json_string_value(id));
        if (hoso_cluster_node_get(out, cn->id) != NULL) {
            snprintf(msg, sizeof msg, "node id %s is listed twice", cn->id);
            rc = bad(path, msg);
            free(held);
            goto Exit;
        }
        if (sh == NULL) {
            /* A node of no shard: it answers by asking the others (WebSockets, forwards). */
            cn->first = 1;
            cn->last = 0;
        } else if (!json_is_string(sh) || parse_range(json_string_value(sh), &cn->first, &cn->last) != 0 ||
                   cn->last >= out->shards) {
            snprintf(msg, sizeof msg, "node %s: \"shards\" must be a range FIRST-LAST within 0-%u", cn->id,
                     out->shards - 1);
            rc = bad(path, msg);
            free(held);
            goto Exit;
        }
        for (unsigned s = cn->first; cn->first <= cn->last && s <= cn->last; s++) {
            if (held[s]) {
                snprintf(msg, sizeof msg, "shard %u is held by two nodes", s);
                rc = bad(path, msg);
                free(held);
                goto Exit;
            }
            held[s] = 1;
        }
        out->nnodes++;
    }
    for (unsigned s = 0; s < out->shards; s++) {
        if (!held[s]) {
            snprintf(msg, sizeof msg, "shard %u is held by no node", s);
            rc = bad(path, msg);
            free(held);
            goto Exit;
        }
    }
    free(held);
    rc = 0;
Exit:
    json_decref(root);
    return rc;
}

const hoso_cluster_node *hoso_cluster_node_get(const hoso_cluster *c, const char *id)
{
    for (unsigned i = 0; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].id, id) == 0)
            return &c->nodes[i];
    return NULL;
}

const hoso_cluster_node *hoso_cluster_shard_node(const hoso_cluster *c, unsigned shard)
{
    for (unsigned i = 0; i < c->nnodes; i++)
        if (shard >= c->nodes[i].first && shard <= c->nodes[i].last)
            return &c->nodes[i];
    return NULL;
}

unsigned hoso_cluster_shard_of(const char *account, unsigned shards)
{
    /* The account id is already a keyed hash of the login (hoso_account_id_for): its
     * leading bits are as good as any other hash of it, and the same on every node. */
    uint32_t v = 0;
    for (int i = 0; i < 8 && account[i] != '\0'; i++) {
        int c = account[i];
        v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return shards > 0 ? v % shards : 0;
}

int hoso_cluster_token_shard(const char *token, size_t len, int *staff)
{
    int v = 0;
    size_t i;
    for (i = 0; i < len && i < 4 && token[i] >= '0' && token[i] <= '9'; i++)
        v = v * 10 + (token[i] - '0');
    if (i == 0 || i > 3 || i >= len)
        return -1;
    *staff = token[i] == 's';
    if (*staff)
        i++;
    if (i >= len || token[i] != '.')
        return -1;
    return v;
}
