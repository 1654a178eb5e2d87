/*
 * tests/unit/storage/ops.c - idempotency records (storage/ops.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void test_ops(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    hoso_str body;
    int status = 0;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_op_get(t, OWNER_A, "op-1", &doc, &status, &body), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_op_put(t, OWNER_A, "op-1", 201, "\x81\xa1x\x01", 4, 1000), 0);
    EXPECT_INT(hoso_op_put(t, OWNER_B, "op-1", 422, "", 0, 1000), 0);
    EXPECT_INT(hoso_op_put(t, "short", "op-1", 200, "", 0, 1000), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_op_put(t, OWNER_A, "", 200, "", 0, 1000), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_op_get(t, OWNER_A, "op-1", &doc, &status, &body), 0);
    EXPECT_INT(status, 201);
    EXPECT_INT(body.len, 4);
    EXPECT_MEM(body.ptr, "\x81\xa1x\x01", 4);
    EXPECT_INT(hoso_op_get(t, OWNER_B, "op-1", &doc, &status, &body), 0);
    EXPECT_INT(status, 422);
    EXPECT_INT(body.len, 0);
    EXPECT_INT(hoso_op_get(t, OWNER_A, "op-2", &doc, &status, &body), HOSO_ENOT_FOUND);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

/* A stored reply may hold a whole dossier: sealed at rest. */
static void test_body_sealed(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    const char *reply = "{dossier: {form: " FORM_SECRET "}}";
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_op_put(t, OWNER_A, "op-9", 201, reply, strlen(reply), 1000), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
    EXPECT(!raw_contains("ops", FORM_SECRET, NULL));
}

UNIT_MAIN(UNIT(test_ops), UNIT(test_body_sealed))
