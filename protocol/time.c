/*
 * time.c - clock and Asia/Ho_Chi_Minh civil dates. Vietnam has kept UTC+7 without
 * daylight saving since 1975, so the offset is a constant: no TZ database, no
 * localtime(), nothing that depends on the process environment.
 */
#include <stdio.h>
#include <time.h>

#include "hoso_protocol.h"

#define MS_PER_DAY INT64_C(86400000)
#define VN_OFFSET_MS (INT64_C(7) * 3600 * 1000)

int64_t hoso_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
 * civil_from_days), valid far beyond any timestamp we store. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Splits t into the Vietnam day number and the milliseconds into that day. */
static void vn_split(int64_t t_ms, int64_t *day, int64_t *ms_of_day)
{
    int64_t local = t_ms + VN_OFFSET_MS;
    *day = floor_div(local, MS_PER_DAY);
    *ms_of_day = local - *day * MS_PER_DAY;
}

void hoso_vn_yymmdd(int64_t t_ms, char buf[7])
{
    int64_t day, ms, y;
    unsigned m, d;
    vn_split(t_ms, &day, &ms);
    civil_from_days(day, &y, &m, &d);
    unsigned yy = (unsigned)(((y % 100) + 100) % 100);
    snprintf(buf, 7, "%02u%02u%02u", yy, m % 100, d % 100);
}

void hoso_vn_portal_time(int64_t t_ms, char buf[15])
{
    int64_t day, ms, y;
    unsigned m, d;
    vn_split(t_ms, &day, &ms);
    civil_from_days(day, &y, &m, &d);
    int64_t s = ms / 1000;
    /* Years outside 0..9999 cannot be written in this format; clamp rather than
     * overflow the buffer. */
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    unsigned hh = (unsigned)(s / 3600) % 24, mi = (unsigned)(s / 60) % 60, ss = (unsigned)s % 60;
    snprintf(buf, 15, "%04u%02u%02u%02u%02u%02u", (unsigned)y % 10000, m % 100, d % 100, hh, mi, ss);
}

/* 0 = Monday ... 6 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int64_t day)
{
    return (int)(((day % 7) + 7 + 3) % 7);
}

int64_t hoso_add_working_days(int64_t t_ms, int64_t n)
{
    if (n <= 0)
        return t_ms;
    int64_t day, ms;
    vn_split(t_ms, &day, &ms);
    /* Whole weeks are 5 working days each; the remaining 1..5 days are stepped one by
     * one so that a start on a weekend lands on the right day. */
    int64_t weeks = (n - 1) / 5;
    int64_t rest = n - weeks * 5;
    int64_t end = day;
    while (rest > 0) {
        end++;
        if (weekday(end) < 5)
            rest--;
    }
    end += weeks * 7;
    return t_ms + (end - day) * MS_PER_DAY;
}

int hoso_date_parse(const char *s, size_t len, int *y, int *m, int *d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    int v[3] = {0, 0, 0}, part = 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 4 || i == 7) {
            part++;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v[part] = v[part] * 10 + (s[i] - '0');
    }
    int leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1)
        return 0;
    if (v[2] > mdays[v[1] - 1] + (v[1] == 2 && leap))
        return 0;
    if (y)
        *y = v[0];
    if (m)
        *m = v[1];
    if (d)
        *d = v[2];
    return 1;
}
