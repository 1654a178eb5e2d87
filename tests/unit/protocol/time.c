/* Unit tests of protocol/time.c: Vietnam civil dates (UTC+7) and working days. */
#include "../unit.h"
#include "hoso_protocol.h"

/* 2026-11-23T00:00:00Z, a Monday. */
#define MON_2026_11_23 INT64_C(1795392000000)
#define HOUR INT64_C(3600000)
#define DAY (24 * HOUR)

static void test_epoch_constant(void)
{
    char b[15];
    hoso_vn_portal_time(MON_2026_11_23, b);
    EXPECT_STR(b, "20261123070000");
}

static void test_yymmdd_across_midnight(void)
{
    char b[7];
    hoso_vn_yymmdd(MON_2026_11_23 + 16 * HOUR + 59 * 60000, b); /* 23:59 in Hanoi */
    EXPECT_STR(b, "261123");
    hoso_vn_yymmdd(MON_2026_11_23 + 17 * HOUR, b); /* 00:00 on the 24th in Hanoi */
    EXPECT_STR(b, "261124");
    hoso_vn_yymmdd(MON_2026_11_23 + 17 * HOUR + 30 * 60000, b); /* 17:30Z */
    EXPECT_STR(b, "261124");
    hoso_vn_yymmdd(MON_2026_11_23 - 7 * HOUR - 1, b); /* 23:59:59.999 on the 22nd */
    EXPECT_STR(b, "261122");
    hoso_vn_yymmdd(MON_2026_11_23 - 7 * HOUR, b);
    EXPECT_STR(b, "261123");
}

static void test_portal_time(void)
{
    char b[15];
    hoso_vn_portal_time(MON_2026_11_23 + 17 * HOUR + 30 * 60000 + 5000, b);
    EXPECT_STR(b, "20261124003005");
    hoso_vn_portal_time(0, b);
    EXPECT_STR(b, "19700101070000");
    /* New year crosses in Vietnam 7 hours before UTC. */
    hoso_vn_portal_time(INT64_C(1798736400000) - 1, b); /* 2026-12-31T16:59:59.999Z */
    EXPECT_STR(b, "20261231235959");
    hoso_vn_portal_time(INT64_C(1798736400000), b);
    EXPECT_STR(b, "20270101000000");
    /* Leap day 2028. */
    hoso_vn_portal_time(INT64_C(1835395200000), b); /* 2028-02-29T00:00Z */
    EXPECT_STR(b, "20280229070000");
    hoso_vn_portal_time(-1, b); /* before the epoch */
    EXPECT_STR(b, "19700101065959");
}

static void test_working_days(void)
{
    int64_t mon10 = MON_2026_11_23 + 3 * HOUR; /* Monday 10:00 in Hanoi */
    EXPECT_INT(hoso_add_working_days(mon10, 0), mon10);
    EXPECT_INT(hoso_add_working_days(mon10, 1), mon10 + DAY);
    EXPECT_INT(hoso_add_working_days(mon10, 4), mon10 + 4 * DAY);   /* Friday */
    EXPECT_INT(hoso_add_working_days(mon10, 5), mon10 + 7 * DAY);   /* next Monday */
    EXPECT_INT(hoso_add_working_days(mon10, 10), mon10 + 14 * DAY);
    EXPECT_INT(hoso_add_working_days(mon10, 12), mon10 + 16 * DAY); /* Wednesday */
    int64_t fri = mon10 + 4 * DAY;
    EXPECT_INT(hoso_add_working_days(fri, 1), mon10 + 7 * DAY);
    int64_t sat = mon10 + 5 * DAY, sun = mon10 + 6 * DAY;
    EXPECT_INT(hoso_add_working_days(sat, 1), mon10 + 7 * DAY);
    EXPECT_INT(hoso_add_working_days(sun, 1), mon10 + 7 * DAY);
    EXPECT_INT(hoso_add_working_days(sat, 5), mon10 + 11 * DAY);    /* Friday */
    EXPECT_INT(hoso_add_working_days(sat, 6), mon10 + 14 * DAY);
}

static void test_working_days_use_vietnam_weekday(void)
{
    /* Friday 2026-11-27 18:00Z is already Saturday 01:00 in Hanoi: one working day
     * later is Monday 01:00 in Hanoi, i.e. Sunday 18:00Z. */
    int64_t t = MON_2026_11_23 + 4 * DAY + 18 * HOUR;
    char b[15];
    hoso_vn_portal_time(hoso_add_working_days(t, 1), b);
    EXPECT_STR(b, "20261130010000");
    /* Friday 16:00Z is Friday 23:00 in Hanoi: next working day is Monday 23:00. */
    t = MON_2026_11_23 + 4 * DAY + 16 * HOUR;
    hoso_vn_portal_time(hoso_add_working_days(t, 1), b);
    EXPECT_STR(b, "20261130230000");
}

static void test_now(void)
{
    int64_t a = hoso_now_ms();
    EXPECT(a > INT64_C(1700000000000));
    EXPECT(hoso_now_ms() >= a);
}

static void test_date_parse(void)
{
    int y, m, d;
    EXPECT(hoso_date_parse("2024-02-29", 10, &y, &m, &d));
    EXPECT_INT(y, 2024);
    EXPECT_INT(m, 2);
    EXPECT_INT(d, 29);
    EXPECT(hoso_date_parse("2000-02-29", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("1900-02-29", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-02-29", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-04-31", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-13-01", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-00-10", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-01-00", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("0000-01-01", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-1-01", 9, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026/01/01", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-01-0a", 10, NULL, NULL, NULL));
    EXPECT(!hoso_date_parse("2026-01-011", 11, NULL, NULL, NULL));
    EXPECT(hoso_date_parse("2026-12-31", 10, NULL, NULL, NULL));
}

UNIT_MAIN(UNIT(test_epoch_constant), UNIT(test_yymmdd_across_midnight), UNIT(test_portal_time),
          UNIT(test_working_days), UNIT(test_working_days_use_vietnam_weekday), UNIT(test_now),
          UNIT(test_date_parse))
