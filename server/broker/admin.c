/*
 * admin.c - operator commands through the cluster (`hosod admin ... --cluster FILE`):
 * the command runs on the node that holds the record (an account's shard), or on
 * every node (the catalogue), whichever node's data dir the operator named.
 *
 * The tool opens that data dir only for the cluster's key: it signs each command with
 * a MAC under a subkey of secret.key, bound to the subject it goes to and good for a
 * minute, so nothing else on the message bus can make an account, nor send a command
 * to another node than the one it was made for. A command replayed within its minute
 * changes nothing more (an account exists already, the same catalogue, the same
 * secret). The node checks the MAC and runs the command with
 * the executor main.c registered (server/tools/), on nats.c's thread, as the offline
 * command would beside a running server.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define ADMIN_TTL_MS 60000
#define ADMIN_TIMEOUT_MS 10000

static hoso_admin_exec executor;

void hoso_broker_set_admin(hoso_admin_exec fn)
{
    executor = fn;
}

/* The MAC of a command: its purpose, the subject it is sent to (a command signed for
 * one node is refused by another), the payload and the expiry. */
static void command_mac(hoso_store *s, const char *subject, const void *payload, size_t len, int64_t exp,
                        uint8_t mac[32])
{
    msgpack_sbuffer sp;
    msgpack_sbuffer_init(&sp);
    msgpack_sbuffer_write(&sp, "hoso-admin", 11);
    msgpack_sbuffer_write(&sp, subject, strlen(subject) + 1);
    msgpack_sbuffer_write(&sp, payload, len);
    msgpack_sbuffer_write(&sp, (const char *)&exp, sizeof exp);
    hoso_store_mac(s, sp.data, sp.size, mac);
    msgpack_sbuffer_destroy(&sp);
}

/* [payload (bin), expires (ms), mac (bin 32)] */
static void sign(hoso_store *s, const char *subject, const void *payload, size_t len, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    uint8_t mac[32];
    int64_t exp = hoso_now_ms() + ADMIN_TTL_MS;
    command_mac(s, subject, payload, len, exp, mac);
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_bin(&pk, len);
    msgpack_pack_bin_body(&pk, payload, len);
    msgpack_pack_int64(&pk, exp);
    msgpack_pack_bin(&pk, sizeof mac);
    msgpack_pack_bin_body(&pk, mac, sizeof mac);
}

static void reply(natsConnection *nc, const char *to, int ok, const char *msg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    hoso_pack_cstr(&pk, "ok");
    ok ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    hoso_pack_kcstr(&pk, "message", msg);
    natsConnection_Publish(nc, to, sb.data, (int)sb.size);
    msgpack_sbuffer_destroy(&sb);
}

void hoso__admin_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub, (void)closure;
    const char *to = natsMsg_GetReply(msg);
    hoso_store *s = hoso_server_store(hoso__broker_server());
    msgpack_unpacked u, cmd;
    char why[256] = "";
    msgpack_unpacked_init(&u);
    msgpack_unpacked_init(&cmd);
    if (to == NULL)
        goto Exit;
    const msgpack_object *a = NULL;
    if (msgpack_unpack_next(&u, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), NULL) ==
            MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 3)
        a = u.data.via.array.ptr;
    if (a == NULL || a[0].type != MSGPACK_OBJECT_BIN || a[2].type != MSGPACK_OBJECT_BIN ||
        a[2].via.bin.size != 32 || a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        reply(nc, to, 0, "not a signed admin command");
        goto Exit;
    }
    int64_t exp = (int64_t)a[1].via.u64, now = hoso_now_ms();
    uint8_t want[32];
    command_mac(s, natsMsg_GetSubject(msg), a[0].via.bin.ptr, a[0].via.bin.size, exp, want);
    if (sodium_memcmp(want, a[2].via.bin.ptr, 32) != 0) {
        reply(nc, to, 0, "the command is not signed with this cluster's secret.key");
        goto Exit;
    }
    if (exp < now || exp > now + 2 * ADMIN_TTL_MS) {
        reply(nc, to, 0, "the command expired (check the clocks of this machine and the node)");
        goto Exit;
    }
    if (msgpack_unpack_next(&cmd, a[0].via.bin.ptr, a[0].via.bin.size, NULL) != MSGPACK_UNPACK_SUCCESS ||
        executor == NULL) {
        reply(nc, to, 0, "the node cannot run admin commands");
        goto Exit;
    }
    int err = executor(s, &cmd.data, why, sizeof why);
    reply(nc, to, err == 0, err == 0 ? hoso__broker_me()->id : why[0] ? why : hoso_err_message(err));
Exit:
    msgpack_unpacked_destroy(&cmd);
    msgpack_unpacked_destroy(&u);
    natsMsg_Destroy(msg);
}

int hoso_cluster_admin_send(const hoso_cluster *c, hoso_store *s, int shard, const void *cmd, size_t len,
                            const char *what)
{
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    msgpack_sbuffer sb;
    int failed = 0;
    if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, c->nats_url) != NATS_OK ||
        natsOptions_SetTimeout(opts, 2000) != NATS_OK || natsOptions_SetName(opts, "hosod-admin") != NATS_OK ||
        natsConnection_Connect(&nc, opts) != NATS_OK) {
        natsOptions_Destroy(opts);
        fprintf(stderr, "hosod %s: cannot reach NATS at %s\n", what, c->nats_url);
        return 1;
    }
    natsOptions_Destroy(opts);
    msgpack_sbuffer_init(&sb);
    if ((int64_t)len + 256 > natsConnection_GetMaxPayload(nc)) {
        fprintf(stderr, "hosod %s: the command is larger than NATS carries (%" PRId64 " bytes; raise max_payload)\n",
                what, natsConnection_GetMaxPayload(nc));
        failed = 1;
    }
    /* One node (the shard's), or each node in turn. */
    for (unsigned i = 0; !failed && i < c->nnodes; i++) {
        const hoso_cluster_node *n = &c->nodes[i];
        if (shard >= 0 && ((unsigned)shard < n->first || (unsigned)shard > n->last))
            continue;
        char subj[64];
        natsMsg *r = NULL;
        if (shard >= 0)
            snprintf(subj, sizeof subj, "hoso.admin.%d", shard);
        else
            snprintf(subj, sizeof subj, "hoso.admin.node.%s", n->id);
        sb.size = 0;
        sign(s, subj, cmd, len, &sb);
        natsStatus st = natsConnection_Request(&r, nc, subj, sb.data, (int)sb.size, ADMIN_TIMEOUT_MS);
        if (st != NATS_OK) {
            fprintf(stderr, "hosod %s: node %s %s\n", what, n->id,
                    st == NATS_NO_RESPONDERS ? "is down: start it and run the command again" : "did not answer in time");
            failed = 1;
            continue;
        }
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        int ok = 0;
        char msg[256] = "no reply";
        if (msgpack_unpack_next(&u, natsMsg_GetData(r), (size_t)natsMsg_GetDataLength(r), NULL) ==
            MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *o = hoso_map_get(&u.data, "ok"), *m = hoso_map_get(&u.data, "message");
            ok = o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
            if (m != NULL && m->type == MSGPACK_OBJECT_STR)
                snprintf(msg, sizeof msg, "%.*s", (int)m->via.str.size, m->via.str.ptr);
        }
        msgpack_unpacked_destroy(&u);
        natsMsg_Destroy(r);
        if (!ok) {
            fprintf(stderr, "hosod %s: node %s: %s\n", what, n->id, msg);
            failed = 1;
        } else {
            fprintf(stderr, "hosod %s: done on node %s\n", what, n->id);
        }
    }
    msgpack_sbuffer_destroy(&sb);
    natsConnection_Destroy(nc);
    return failed;
}

int hoso_cluster_query(const hoso_cluster *c, const void *query, size_t len,
                       int (*each)(void *ctx, const char *node, const void *data, size_t len), void *ctx, char *why,
                       size_t whysz)
{
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    int rc = 0;
    if (natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, c->nats_url) != NATS_OK ||
        natsOptions_SetTimeout(opts, 2000) != NATS_OK || natsOptions_SetName(opts, "hosod-query") != NATS_OK ||
        natsConnection_Connect(&nc, opts) != NATS_OK) {
        natsOptions_Destroy(opts);
        snprintf(why, whysz, "cannot reach NATS at %s", c->nats_url);
        return HOSO_EUNAVAILABLE;
    }
    natsOptions_Destroy(opts);
    for (unsigned i = 0; i < c->nnodes && rc == 0; i++) {
        const hoso_cluster_node *n = &c->nodes[i];
        if (n->first > n->last)
            continue; /* a node of no shard counts nothing */
        char subj[64];
        natsMsg *r = NULL;
        snprintf(subj, sizeof subj, "hoso.q.node.%s", n->id);
        natsStatus st = natsConnection_Request(&r, nc, subj, query, (int)len, ADMIN_TIMEOUT_MS);
        if (st != NATS_OK) {
            snprintf(why, whysz, "node %s %s", n->id, st == NATS_NO_RESPONDERS ? "is down" : "did not answer in time");
            rc = HOSO_EUNAVAILABLE;
            break;
        }
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        const msgpack_object *a = NULL;
        if (msgpack_unpack_next(&u, natsMsg_GetData(r), (size_t)natsMsg_GetDataLength(r), NULL) == MSGPACK_UNPACK_SUCCESS &&
            u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 2)
            a = u.data.via.array.ptr;
        if (a != NULL && a[0].type == MSGPACK_OBJECT_BOOLEAN && a[0].via.boolean && a[1].type == MSGPACK_OBJECT_BIN) {
            if ((rc = each(ctx, n->id, a[1].via.bin.ptr, a[1].via.bin.size)) != 0)
                snprintf(why, whysz, "node %s sent counters that do not add up", n->id);
        } else {
            snprintf(why, whysz, "node %s could not answer: %.*s", n->id,
                     a != NULL && a[1].type == MSGPACK_OBJECT_STR ? (int)a[1].via.str.size : 0,
                     a != NULL && a[1].type == MSGPACK_OBJECT_STR ? a[1].via.str.ptr : "");
            rc = HOSO_EUNAVAILABLE;
        }
        msgpack_unpacked_destroy(&u);
        natsMsg_Destroy(r);
    }
    natsConnection_Destroy(nc);
    return rc;
}
