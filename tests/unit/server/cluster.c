/* Unit tests of server/broker/cluster.c: the cluster file's checks, the shard of an
 * account, and the shard a token names in clear. */
#include <stdio.h>
#include <unistd.h>
#include "../unit.h"
#include "broker/broker.h"
#include "broker/internal.h"

/* Writes json to a scratch file and loads it. */
static int load(const char *json, hoso_cluster *c)
{
    char path[] = "/tmp/hoso-cluster-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -100;
    FILE *f = fdopen(fd, "w");
    fputs(json, f);
    fclose(f);
    int rc = hoso_cluster_load(path, c);
    unlink(path);
    return rc;
}

static void test_load(void)
{
    hoso_cluster c;
    EXPECT_INT(load("{\"nats\": \"nats://127.0.0.1:4222\", \"shards\": 64, \"nodes\": [{\"id\": \"n1\", \"shards\": "
                    "\"0-31\"}, {\"id\": \"n2\", \"shards\": \"32-63\"}, {\"id\": \"edge-1\"}]}",
                    &c),
               0);
    EXPECT_INT((int)c.shards, 64);
    EXPECT_INT((int)c.nnodes, 3);
    EXPECT_STR(c.nats_url, "nats://127.0.0.1:4222");
    EXPECT_STR(hoso_cluster_shard_node(&c, 0)->id, "n1");
    EXPECT_STR(hoso_cluster_shard_node(&c, 31)->id, "n1");
    EXPECT_STR(hoso_cluster_shard_node(&c, 32)->id, "n2");
    EXPECT(hoso_cluster_shard_node(&c, 64) == NULL);
    /* A node of no shard holds none. */
    const hoso_cluster_node *e = hoso_cluster_node_get(&c, "edge-1");
    EXPECT(e != NULL && e->first > e->last);
    EXPECT(hoso_cluster_node_get(&c, "n3") == NULL);
    /* Single-shard ranges. */
    EXPECT_INT(load("{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"0\"}, "
                    "{\"id\": \"b\", \"shards\": \"1\"}]}",
                    &c),
               0);
}

static void test_load_refuses(void)
{
    static const char *const bad[] = {
        "not json",
        "{\"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-1\"}]}",
        "{\"nats\": \"tls://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-1\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 1001, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-1000\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-0\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-1\"}, {\"id\": \"b\", "
        "\"shards\": \"1\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-1\"}, {\"id\": \"a\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"1-0\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"0-2\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a/b\", \"shards\": \"0-1\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": [{\"id\": \"a\", \"shards\": \"x\"}]}",
        "{\"nats\": \"nats://h:1\", \"shards\": 2, \"nodes\": []}",
    };
    hoso_cluster c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (load(bad[i], &c) == 0)
            UNIT__FAIL("accepted: %s", bad[i]);
}

static void test_shard_of(void)
{
    /* The leading 32 bits of the id, modulo the shards: the same on every node. */
    EXPECT_INT((int)hoso_cluster_shard_of("00000000aaaaaaaaaaaaaaaaaaaaaaaa", 64), 0);
    EXPECT_INT((int)hoso_cluster_shard_of("00000041aaaaaaaaaaaaaaaaaaaaaaaa", 64), 1);
    EXPECT_INT((int)hoso_cluster_shard_of("ffffffff00000000000000000000000", 1000), (int)(0xffffffffu % 1000));
    EXPECT_INT((int)hoso_cluster_shard_of("FFFFFFFF00000000000000000000000", 1000), (int)(0xffffffffu % 1000));
    EXPECT_INT((int)hoso_cluster_shard_of("5e26d7e2ba986d8b5e294ef541b346d1", 12), (int)(0x5e26d7e2u % 12));
}

static void test_token_shard(void)
{
    int staff = -1;
    EXPECT_INT(hoso_cluster_token_shard("17.abc", 6, &staff), 17);
    EXPECT_INT(staff, 0);
    EXPECT_INT(hoso_cluster_token_shard("17s.abc", 7, &staff), 17);
    EXPECT_INT(staff, 1);
    EXPECT_INT(hoso_cluster_token_shard("0.x", 3, &staff), 0);
    EXPECT_INT(hoso_cluster_token_shard("999.x", 5, &staff), 999);
    /* Tokens of a single node (base64url, no shard), and the malformed. */
    EXPECT_INT(hoso_cluster_token_shard("T7dsK6YKq", 9, &staff), -1);
    EXPECT_INT(hoso_cluster_token_shard("1234.x", 6, &staff), -1);
    EXPECT_INT(hoso_cluster_token_shard("17", 2, &staff), -1);
    EXPECT_INT(hoso_cluster_token_shard("17s", 3, &staff), -1);
    EXPECT_INT(hoso_cluster_token_shard("17x.abc", 7, &staff), -1);
    EXPECT_INT(hoso_cluster_token_shard(".abc", 4, &staff), -1);
    EXPECT_INT(hoso_cluster_token_shard("", 0, &staff), -1);
    /* Only len bytes are looked at. */
    EXPECT_INT(hoso_cluster_token_shard("17.abc", 2, &staff), -1);
}

/* An event on the wire: one map holding the event and the caller's extra pairs, and
 * nothing after it; read back as it was. */
static void test_event_wire(void)
{
    hoso_log_entry e, back;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;
    memset(&e, 0, sizeof e);
    e.type = HOSO_EV_DOSSIER_STATUS;
    snprintf(e.owner, sizeof e.owner, "0123456789abcdef0123456789abcdef");
    snprintf(e.agency, sizeof e.agency, "000.00.12.H29");
    snprintf(e.code, sizeof e.code, "000.00.12.H29-261207-0001");
    e.at = 1796000000000;
    e.status = 4;
    e.version = 3;
    e.message_seq = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    hoso__event_pack(&pk, &e, 42, 7, 2);
    hoso_pack_kint(&pk, "sent_at", 5);
    hoso_pack_kcstr(&pk, "consumer", "portal");
    msgpack_unpacked_init(&u);
    EXPECT(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    EXPECT_INT((int)off, (int)sb.size);
    EXPECT(u.data.type == MSGPACK_OBJECT_MAP);
    EXPECT(hoso_map_get(&u.data, "sent_at") != NULL && hoso_map_get(&u.data, "consumer") != NULL);
    EXPECT_INT(hoso__event_unpack(&u.data, &back), 0);
    EXPECT_INT((int)back.seq, 42);
    EXPECT_INT((int)back.node_seq, 42);
    EXPECT_INT((int)back.shard, 7);
    EXPECT_STR(back.code, e.code);
    EXPECT_STR(back.owner, e.owner);
    EXPECT_STR(back.agency, e.agency);
    EXPECT(back.type == e.type && back.at == e.at && back.status == 4 && back.version == 3);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

UNIT_MAIN(UNIT(test_load), UNIT(test_load_refuses), UNIT(test_shard_of), UNIT(test_token_shard),
          UNIT(test_event_wire))
