/* Unit tests of server/core/writer.c that need no worker: the one op initializer, a
 * write run in place, and the op_id rules of nested ops (what POST /v1/sync and every
 * queued op rely on). */
#include "fixture.h"
#include "core/runtime.h" /* a server with its writer alone: test_barrier */

static int applied;

/* Stores a cursor named after the op's first parameter; fails on request. */
static int apply_cursor(hoso_wop *op, hoso_txn *t)
{
    msgpack_packer pk;
    applied++;
    int err = hoso_cursor_put(t, op->params[0], (uint64_t)applied);
    if (err != 0)
        return err;
    if (strcmp(op->params[1], "fail") == 0)
        return hoso_wop_fail(op, HOSO_EVALIDATION_FAILED, "refused on purpose");
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_kint(&pk, "n", applied);
    op->http_status = 201;
    return 0;
}

static uint64_t cursor(const char *name)
{
    hoso_txn *t;
    uint64_t pos = 99;
    EXPECT_INT(hoso_txn_read(g_store, &t), 0);
    EXPECT_INT(hoso_cursor_get(t, name, &pos), 0);
    hoso_txn_abort(t);
    return pos;
}

static void test_init(void)
{
    hoso_wop op;
    hoso_caller who = citizen();
    snprintf(who.agency, sizeof(who.agency), "000.00.12.H29");
    memset(&op, 0x5a, sizeof(op));
    hoso_wop_init(&op, apply_cursor, &who, 1234);
    EXPECT(op.apply == apply_cursor);
    EXPECT_STR(op.who.account, CITIZEN);
    EXPECT_STR(op.who.agency, "000.00.12.H29");
    EXPECT_INT(op.who.role, HOSO_ROLE_CITIZEN);
    EXPECT_INT(op.now, 1234);
    EXPECT_INT(op.http_status, 200);
    EXPECT_INT(op.reply.size, 0);
    EXPECT_STR(op.op_id, "");
    EXPECT_STR(op.params[0], "");
    EXPECT(op.data == NULL && op.free_data == NULL && op.has_body == 0 && op.result == 0);
    EXPECT_INT(op.err.err, 0);
    hoso_wop_destroy(&op);
    /* The server itself is nobody. */
    hoso_wop_init(&op, apply_cursor, NULL, 1);
    EXPECT_STR(op.who.account, "");
    hoso_wop_destroy(&op);
}

static void test_run_write(void)
{
    hoso_wop op;
    store_new();
    hoso_wop_init(&op, apply_cursor, NULL, hoso_now_ms());
    snprintf(op.params[0], sizeof(op.params[0]), "a");
    EXPECT_INT(hoso_run_write(g_store, &op), 0);
    EXPECT_INT(op.http_status, 201);
    hoso_wop_destroy(&op);
    EXPECT_INT(cursor("a"), 1);

    /* A failed op leaves nothing of itself and says why. */
    hoso_wop_init(&op, apply_cursor, NULL, hoso_now_ms());
    snprintf(op.params[0], sizeof(op.params[0]), "b");
    snprintf(op.params[1], sizeof(op.params[1]), "fail");
    EXPECT_INT(hoso_run_write(g_store, &op), HOSO_EVALIDATION_FAILED);
    EXPECT_INT(op.http_status, 422);
    EXPECT_STR(op.err.message, "refused on purpose");
    hoso_wop_destroy(&op);
    EXPECT_INT(cursor("b"), 0);
}

/* Runs the same two ops (one succeeding, one refused) twice with the same op_ids inside
 * one outer op, as POST /v1/sync does with a repeated queue. */
typedef struct replay {
    int dup[4];
    int status[4];
    char body[4][64];
} replay;

static int apply_outer(hoso_wop *outer, hoso_txn *t)
{
    replay *rp = outer->data;
    for (int i = 0; i < 4; i++) {
        hoso_wop op;
        hoso_wop_init(&op, apply_cursor, &outer->who, outer->now);
        snprintf(op.op_id, sizeof(op.op_id), "op-%d", i % 2);
        snprintf(op.params[0], sizeof(op.params[0]), "c%d", i % 2);
        if (i % 2 == 1)
            snprintf(op.params[1], sizeof(op.params[1]), "fail");
        rp->dup[i] = hoso_wop_run_nested(t, &op);
        rp->status[i] = op.http_status;
        snprintf(rp->body[i], sizeof(rp->body[i]), "%.*s", (int)op.reply.size, op.reply.data);
        hoso_wop_destroy(&op);
    }
    return 0;
}

static void test_op_id_replays(void)
{
    hoso_wop outer;
    hoso_caller who = citizen();
    replay rp;
    memset(&rp, 0, sizeof(rp));
    store_new();
    hoso_wop_init(&outer, apply_outer, &who, hoso_now_ms());
    outer.data = &rp;
    EXPECT_INT(hoso_run_write(g_store, &outer), 0);
    hoso_wop_destroy(&outer);
    /* First runs apply; repeats get the stored reply, 4xx included, and apply is not
     * called again. */
    EXPECT_INT(rp.dup[0], 0);
    EXPECT_INT(rp.dup[1], 0);
    EXPECT_INT(rp.dup[2], 1);
    EXPECT_INT(rp.dup[3], 1);
    EXPECT_INT(rp.status[0], 201);
    EXPECT_INT(rp.status[2], 201);
    EXPECT_INT(rp.status[1], 422);
    EXPECT_INT(rp.status[3], 422);
    EXPECT_STR(rp.body[2], rp.body[0]);
    EXPECT_STR(rp.body[3], rp.body[1]);
    EXPECT_INT(applied, 2);
    /* The refused op's changes are gone; the first one's stay. */
    EXPECT_INT(cursor("c0"), 1);
    EXPECT_INT(cursor("c1"), 0);
}

/* An own op that takes its time: the barrier must wait for its commit. */
static int apply_slow(hoso_wop *op, hoso_txn *t)
{
    (void)op;
    usleep(200 * 1000);
    return hoso_cursor_put(t, "barrier", 7);
}

/* What a thread queued for the writer is on disk once hoso_writer_barrier returns (the
 * delivery engine saves its cursor only then: the portal's synced count is queued). */
static void test_barrier(void)
{
    hoso_server *srv = calloc(1, sizeof(*srv));
    store_new();
    srv->store = g_store;
    pthread_mutex_init(&srv->sinks_lock, NULL);
    EXPECT_INT(hoso__writer_start(srv, &srv->writer), 0);
    EXPECT_INT(hoso_writer_barrier(srv, 1000), 0); /* nothing queued: at once */
    EXPECT_INT(hoso_writer_submit_own(srv, apply_slow, NULL, NULL), 0);
    EXPECT_INT(hoso_writer_barrier(srv, 5000), 0);
    EXPECT_INT(cursor("barrier"), 7);
    /* a stopped writer makes nobody wait */
    hoso__writer_stop(srv->writer);
    EXPECT_INT(hoso_writer_barrier(srv, 5000), 0);
    hoso__writer_free(srv->writer);
    pthread_mutex_destroy(&srv->sinks_lock);
    free(srv);
}

UNIT_MAIN(UNIT(test_init), UNIT(test_run_write), UNIT(test_op_id_replays), UNIT(test_barrier))
