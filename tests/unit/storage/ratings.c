/*
 * tests/unit/storage/ratings.c - anonymous ratings and sealed feedback (storage/ratings.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void test_ratings_and_feedback(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "q1");
    msgpack_pack_int(&pk, 5);
    msgpack_unpacked_init(&u);
    EXPECT_INT(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_rating_put(t, "1.001", "A", 1795453199999LL, &u.data), 0);
    EXPECT_INT(hoso_rating_put(t, "1.001", "A", 1795453199999LL, &u.data), 0);
    EXPECT_INT(hoso_feedback_put(t, "can bo Nguyen Van C rat tan tinh", "1.001", 1000), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    size_t n = 0;
    EXPECT(raw_contains("ratings", "2026-11", &n));
    EXPECT_INT(n, 2);
    EXPECT(!raw_contains("ratings", OWNER_A, NULL));
    EXPECT(!raw_contains("feedback", "Nguyen Van C", &n));
    EXPECT_INT(n, 1);
}

UNIT_MAIN(UNIT(test_ratings_and_feedback))
