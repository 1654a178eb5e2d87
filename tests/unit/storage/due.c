/*
 * tests/unit/storage/due.c - the due-date indexes kept by hoso_dossier_put
 * (storage/due.c): armed while open with a due date, moved by firing, cleared by a new
 * due date or the end, and built once for a store made before them.
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

typedef struct got {
    char code[8][64];
    int64_t due[8];
    int n;
} got;

static int on_due(void *ctx, const char *code, int64_t due_at)
{
    got *g = ctx;
    snprintf(g->code[g->n], sizeof g->code[0], "%s", code);
    g->due[g->n++] = due_at;
    return 0;
}

static got due_until(hoso_txn *t, int64_t until)
{
    got g;
    memset(&g, 0, sizeof g);
    EXPECT_INT(hoso_due_scan(t, until, 8, on_due, &g), 0);
    return g;
}

static got overdue_of(hoso_txn *t, const char *agency)
{
    got g;
    memset(&g, 0, sizeof g);
    EXPECT_INT(hoso_overdue_each(t, agency, 0, NULL, 8, on_due, &g), 0);
    return g;
}

static void test_armed_fired_cleared(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    int64_t first = -1;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    make_dossier(&d, &fb, "A-1", OWNER_A, "A", 1000, 1);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    EXPECT_INT(due_until(t, INT64_MAX).n, 0); /* no due date yet */

    d.status = 2;
    d.due_at = 5000;
    EXPECT_INT(hoso_dossier_put(t, &d, 0), 0);
    EXPECT_INT(hoso_due_first(t, &first), 0);
    EXPECT_INT(first, 5000);
    EXPECT_INT(due_until(t, 4999).n, 0);
    got g = due_until(t, 5000);
    EXPECT_INT(g.n, 1);
    EXPECT_STR(g.code[0], "A-1");

    /* Fired: out of due, into overdue; moving on with the same due date does not re-arm. */
    EXPECT_INT(hoso_due_fire(t, "A-1", 5000, "A"), 0);
    EXPECT_INT(due_until(t, INT64_MAX).n, 0);
    EXPECT_INT(overdue_of(t, "A").n, 1);
    d.status = 4;
    EXPECT_INT(hoso_dossier_put(t, &d, 0), 0);
    EXPECT_INT(due_until(t, INT64_MAX).n, 0);
    EXPECT_INT(overdue_of(t, "A").n, 1);
    EXPECT_INT(overdue_of(t, "B").n, 0);

    /* A new due date clears the mark and arms again. */
    d.due_at = 9000;
    EXPECT_INT(hoso_dossier_put(t, &d, 0), 0);
    EXPECT_INT(overdue_of(t, "A").n, 0);
    EXPECT_INT(due_until(t, INT64_MAX).due[0], 9000);

    /* Result ready (9): nothing to watch. */
    d.status = 9;
    EXPECT_INT(hoso_dossier_put(t, &d, 0), 0);
    EXPECT_INT(due_until(t, INT64_MAX).n, 0);
    EXPECT_INT(hoso_due_first(t, &first), 0);
    EXPECT_INT(first, 0);
    EXPECT_INT(hoso_due_fire(t, "A-1", 9000, "A"), HOSO_ENOT_FOUND);
    msgpack_sbuffer_destroy(&fb);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
}

static void test_backfill_once(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    uint64_t n = 9;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    make_dossier(&d, &fb, "A-2", OWNER_A, "A", 1000, 4);
    d.due_at = 7000;
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    /* A new store has its index from the start: nothing to build. */
    EXPECT_INT(hoso_due_backfill(t, &n), 0);
    EXPECT_INT(n, 0);
    /* As a store from before the index: no entry, no marker. */
    EXPECT_INT(hoso_due_forget(t, "A-2", 7000), 0);
    EXPECT_INT(due_until(t, INT64_MAX).n, 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
    raw_del_meta("due_index");
    s = store_open(0);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_due_backfill(t, &n), 0);
    EXPECT_INT(n, 1);
    EXPECT_INT(due_until(t, INT64_MAX).due[0], 7000);
    EXPECT_INT(hoso_due_backfill(t, &n), 0); /* once */
    EXPECT_INT(n, 0);
    msgpack_sbuffer_destroy(&fb);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_armed_fired_cleared), UNIT(test_backfill_once))
