/*
 * tests/unit/storage/cursors.c - consumer cursors (storage/cursors.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void test_cursors(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    uint64_t pos = 1;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_cursor_get(t, "portal", &pos), 0);
    EXPECT_INT(pos, 0);
    EXPECT_INT(hoso_cursor_put(t, "portal", 41), 0);
    EXPECT_INT(hoso_cursor_put(t, "webhook:zalo", 3), 0);
    EXPECT_INT(hoso_cursor_put(t, "portal", 42), 0);
    EXPECT_INT(hoso_cursor_put(t, "", 1), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
    s = store_open(0);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_cursor_get(t, "portal", &pos), 0);
    EXPECT_INT(pos, 42);
    EXPECT_INT(hoso_cursor_get(t, "webhook:zalo", &pos), 0);
    EXPECT_INT(pos, 3);
    hoso_txn_abort(t);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_cursors))
