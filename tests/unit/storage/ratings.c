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

static int count_cells(void *ctx, const hoso_satisfaction_row *row)
{
    (*(uint64_t *)ctx) += row->count;
    return 0;
}

/* The satisfaction aggregates follow the ratings, and are built once for an old store. */
static void test_satisfaction_aggregates(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    uint64_t n = 0, total = 0;
    int64_t at = 1764547200000LL; /* 2025-12-01 */
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    hoso_pack_cstr(&pk, "thai_do");
    msgpack_pack_int(&pk, 5);
    hoso_pack_cstr(&pk, "thoi_gian");
    msgpack_pack_int(&pk, 3);
    msgpack_unpacked_init(&u);
    EXPECT_INT(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_rating_put(t, "1.001", "A", at, &u.data), 0);
    EXPECT_INT(hoso_rating_put(t, "1.001", "A", at, &u.data), 0);
    EXPECT_INT(hoso_satisfaction_each(t, "2025-12", NULL, count_cells, &total), 0);
    EXPECT_INT(total, 4); /* 2 ratings x 2 questions */
    EXPECT_INT(hoso_satisfaction_backfill(t, &n), 0); /* a new store: nothing to build */
    EXPECT_INT(n, 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
    /* As a store from before the aggregates: no marker, no cells. */
    raw_del_meta("satisfaction_index");
    {
        char path[128];
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        snprintf(path, sizeof path, "%s/lmdb", g_dir);
        EXPECT_INT(mdb_env_create(&env), 0);
        EXPECT_INT(mdb_env_set_maxdbs(env, 64), 0);
        EXPECT_INT(mdb_env_open(env, path, 0, 0600), 0);
        EXPECT_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
        EXPECT_INT(mdb_dbi_open(txn, "satisfaction", 0, &dbi), 0);
        EXPECT_INT(mdb_drop(txn, dbi, 0), 0);
        EXPECT_INT(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
    }
    s = store_open(0);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    total = 0;
    EXPECT_INT(hoso_satisfaction_each(t, "2025-12", NULL, count_cells, &total), 0);
    EXPECT_INT(total, 0);
    EXPECT_INT(hoso_satisfaction_backfill(t, &n), 0);
    EXPECT_INT(n, 2);
    EXPECT_INT(hoso_satisfaction_each(t, "2025-12", "A", count_cells, &total), 0);
    EXPECT_INT(total, 4);
    total = 0;
    EXPECT_INT(hoso_satisfaction_each(t, "2025-11", NULL, count_cells, &total), 0);
    EXPECT_INT(total, 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_satisfaction_aggregates), UNIT(test_ratings_and_feedback))
