/*
 * tests/unit/storage/stats.c - usage counters per agency, service and Vietnam day (storage/stats.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

typedef struct rows {
    char agency[8][32], service[8][32], day[8][16];
    hoso_stat_row r[8];
    int n;
} rows;

static int on_row(void *ctx, const hoso_stat_row *row)
{
    rows *s = ctx;
    EXPECT(s->n < 8);
    snprintf(s->agency[s->n], 32, "%s", row->agency);
    snprintf(s->service[s->n], 32, "%s", row->service);
    snprintf(s->day[s->n], 16, "%s", row->day);
    s->r[s->n++] = *row;
    return 0;
}

static void test_stats_bump_each(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    int64_t late_night = 1795453199999LL; /* 2026-11-23 23:59:59.999 in Hanoi */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night, 1, 1, 0, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night, 1, 1, 0, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night, 10, 0, 1, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "1.001", late_night + 1, 10, 0, 0, 1, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "AB", "1", late_night, 2, 0, 0, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "A", "B1", late_night, 2, 0, 0, 0, 0), 0);
    EXPECT_INT(hoso_stats_bump(t, "", "1", late_night, 2, 0, 0, 0, 0), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);

    rows r = {0};
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_stats_each(t, on_row, &r), 0);
    hoso_txn_abort(t);
    EXPECT_INT(r.n, 4);
    EXPECT_STR(r.agency[0], "A");
    EXPECT_STR(r.service[0], "1.001");
    EXPECT_STR(r.day[0], "20261123");
    EXPECT_INT(r.r[0].received, 2);
    EXPECT_INT(r.r[0].on_time, 1);
    EXPECT_INT(r.r[0].late, 0);
    EXPECT_INT(r.r[0].by_status[1], 2);
    EXPECT_INT(r.r[0].by_status[10], 1);
    EXPECT_STR(r.day[1], "20261124");
    EXPECT_INT(r.r[1].late, 1);
    EXPECT_INT(r.r[1].by_status[10], 1);
    EXPECT_STR(r.service[2], "B1");
    EXPECT_STR(r.agency[3], "AB");
    EXPECT_STR(r.service[3], "1");
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_stats_bump_each))
