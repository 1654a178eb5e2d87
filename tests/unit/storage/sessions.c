/*
 * tests/unit/storage/sessions.c - sessions keyed by the token hash (storage/sessions.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void test_create_get_expire_delete(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_session se;
    char tok[48], tok2[48];
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_session_create(t, OWNER_A, 5000, tok), 0);
    EXPECT_INT(hoso_session_create(t, OWNER_B, 9000, tok2), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    EXPECT_INT(strlen(tok), 43);
    EXPECT(strcmp(tok, tok2) != 0);
    for (size_t i = 0; i < 43; i++)
        EXPECT(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", tok[i]) != NULL);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_session_get(t, tok, 4999, &se), 0);
    EXPECT_STR(se.account, OWNER_A);
    EXPECT_INT(se.expires_at, 5000);
    EXPECT_INT(hoso_session_get(t, tok, 5000, &se), HOSO_EUNAUTHORIZED);
    EXPECT_STR(se.account, "");
    EXPECT_INT(hoso_session_get(t, tok2, 5000, &se), 0);
    EXPECT_STR(se.account, OWNER_B);
    EXPECT_INT(hoso_session_get(t, "not-a-token", 0, &se), HOSO_EUNAUTHORIZED);
    hoso_txn_abort(t);

    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_session_delete(t, tok2), 0);
    EXPECT_INT(hoso_session_delete(t, tok2), 0);
    EXPECT_INT(hoso_session_get(t, tok2, 0, &se), HOSO_EUNAUTHORIZED);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);

    /* Only the hash is kept. */
    size_t rows = 0;
    EXPECT(!raw_contains("sessions", tok, &rows));
    EXPECT_INT(rows, 1);
}

static void test_read_txn_cannot_write(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    char tok[48];
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_session_create(t, OWNER_A, 1, tok), HOSO_EBAD_REQUEST);
    EXPECT_STR(tok, "");
    hoso_txn_abort(t);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_create_get_expire_delete), UNIT(test_read_txn_cannot_write))
