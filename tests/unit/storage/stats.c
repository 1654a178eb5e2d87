/*
 * tests/unit/storage/stats.c - monitoring counters per agency, service, channel and
 * Vietnam day (storage/stats.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

typedef struct rows {
    char agency[8][32], service[8][32], channel[8][32], day[8][16];
    hoso_stat_row r[8];
    int n;
} rows;

static int on_row(void *ctx, const hoso_stat_row *row)
{
    rows *s = ctx;
    EXPECT(s->n < 8);
    snprintf(s->agency[s->n], 32, "%s", row->agency);
    snprintf(s->service[s->n], 32, "%s", row->service);
    snprintf(s->channel[s->n], 32, "%s", row->channel);
    snprintf(s->day[s->n], 16, "%s", row->day);
    s->r[s->n++] = *row;
    return 0;
}

static hoso_stat_row one(int counter, int status, int day)
{
    hoso_stat_row x;
    memset(&x, 0, sizeof x);
    if (counter >= 0) x.c[counter] = 1;
    if (status >= 0) x.by_status[status] = 1;
    if (day >= 0) x.days[day] = 1;
    return x;
}

static void test_stats_add_each(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    int64_t late_night = 1795453199999LL; /* 2026-11-23 23:59:59.999 in Hanoi */
    hoso_stat_row x;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    x = one(HOSO_STAT_RECEIVED, 1, -1);
    EXPECT_INT(hoso_stats_add(t, "A", "1.001", "app", late_night, &x), 0);
    EXPECT_INT(hoso_stats_add(t, "A", "1.001", "app", late_night, &x), 0);
    x = one(HOSO_STAT_EARLY, 9, 3);
    EXPECT_INT(hoso_stats_add(t, "A", "1.001", "app", late_night, &x), 0);
    x = one(HOSO_STAT_LATE, 9, HOSO_STAT_DAYS - 1);
    EXPECT_INT(hoso_stats_add(t, "A", "1.001", "app", late_night + 1, &x), 0);
    x = one(HOSO_STAT_RECEIVED, 1, -1);
    EXPECT_INT(hoso_stats_add(t, "A", "1.001", "zalo", late_night, &x), 0);
    EXPECT_INT(hoso_stats_add(t, "AB", "1", "app", late_night, &x), 0);
    EXPECT_INT(hoso_stats_add(t, "A", "B1", "app", late_night, &x), 0);
    EXPECT_INT(hoso_stats_add(t, "", "1", "app", late_night, &x), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_stats_add(t, "A", "1", "a-channel-name-longer-than-32-bytes", late_night, &x), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);

    rows r = {0};
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_stats_each(t, NULL, NULL, on_row, &r), 0);
    EXPECT_INT(r.n, 5);
    EXPECT_STR(r.agency[0], "A");
    EXPECT_STR(r.service[0], "1.001");
    EXPECT_STR(r.channel[0], "app");
    EXPECT_STR(r.day[0], "20261123");
    EXPECT_INT(r.r[0].c[HOSO_STAT_RECEIVED], 2);
    EXPECT_INT(r.r[0].c[HOSO_STAT_EARLY], 1);
    EXPECT_INT(r.r[0].c[HOSO_STAT_LATE], 0);
    EXPECT_INT(r.r[0].by_status[1], 2);
    EXPECT_INT(r.r[0].by_status[9], 1);
    EXPECT_INT(r.r[0].days[3], 1);
    EXPECT_STR(r.day[1], "20261124");
    EXPECT_INT(r.r[1].c[HOSO_STAT_LATE], 1);
    EXPECT_INT(r.r[1].days[HOSO_STAT_DAYS - 1], 1);
    EXPECT_STR(r.channel[2], "zalo");
    EXPECT_STR(r.service[3], "B1");
    EXPECT_STR(r.agency[4], "AB");
    EXPECT_STR(r.service[4], "1");

    /* One agency only ("A" is not a prefix match of "AB"), and days up to a bound. */
    memset(&r, 0, sizeof r);
    EXPECT_INT(hoso_stats_each(t, "AB", NULL, on_row, &r), 0);
    EXPECT_INT(r.n, 1);
    EXPECT_STR(r.agency[0], "AB");
    memset(&r, 0, sizeof r);
    EXPECT_INT(hoso_stats_each(t, "A", "20261123", on_row, &r), 0);
    EXPECT_INT(r.n, 3);
    memset(&r, 0, sizeof r);
    EXPECT_INT(hoso_stats_each(t, "Z", NULL, on_row, &r), 0);
    EXPECT_INT(r.n, 0);
    hoso_txn_abort(t);
    hoso_store_close(s);
}

/* A row of a store made before channels reads with channel "", and its counters in
 * the order they had. The rebuild empties the table once, then never again. */
static void test_rebuild_once(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    int needed = -1;
    hoso_stat_row x = one(HOSO_STAT_RECEIVED, 1, -1);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    /* A new store is built already. */
    EXPECT_INT(hoso_stats_rebuild_begin(t, &needed), 0);
    EXPECT_INT(needed, 0);
    EXPECT_INT(hoso_stats_add(t, "A", "1", "app", 1795453199999LL, &x), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    rows r = {0};
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_stats_each(t, NULL, NULL, on_row, &r), 0);
    hoso_txn_abort(t);
    EXPECT_INT(r.n, 1);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_stats_add_each), UNIT(test_rebuild_once))
