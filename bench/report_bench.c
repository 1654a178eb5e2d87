/*
 * report_bench.c - hoso-report-bench: how long the monthly report takes on a month of
 * many dossiers. It fills a fresh data dir's monitoring counters as a month of
 * --dossiers dossiers would (each received, accepted, moved to processing and to a
 * result, some asking for supplements; spread over --agencies x --services x 3
 * channels x 31 days), through the same hoso_stats_add the writer uses, then times
 * building the report and writing it in each form.
 *
 * usage: hoso-report-bench --data DIR [--dossiers N] [--agencies A] [--services S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "reports/reports.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *data = NULL;
    long dossiers = 1000000, agencies = 200, services = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--data") == 0) data = argv[i + 1];
        else if (strcmp(argv[i], "--dossiers") == 0) dossiers = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--agencies") == 0) agencies = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--services") == 0) services = atol(argv[i + 1]);
        else {
            fprintf(stderr, "usage: hoso-report-bench --data DIR [--dossiers N] [--agencies A] [--services S]\n");
            return 2;
        }
    }
    if (data == NULL || dossiers <= 0 || agencies <= 0 || services <= 0) {
        fprintf(stderr, "usage: hoso-report-bench --data DIR [--dossiers N] [--agencies A] [--services S]\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    hoso_store_options so;
    hoso_store *s = NULL;
    memset(&so, 0, sizeof so);
    so.map_size = (size_t)8 << 30;
    if (hoso_store_open(&s, data, &so) != 0) {
        fprintf(stderr, "hoso-report-bench: cannot open %s\n", data);
        return 1;
    }
    /* 2026-10-01 09:00 in Hanoi, then one day per 1/31 of the dossiers. */
    const int64_t day0 = 1790820000000LL, day_ms = 86400000LL;
    double t0 = now_s();
    long done = 0, rows = (long)agencies * services * 3 * 31;
    /* One counter row per cell, holding that cell's share of the month. */
    hoso_txn *t = NULL;
    for (long cell = 0; cell < rows; cell++) {
        long a = cell / (services * 3 * 31), sv = cell / (3 * 31) % services, ch = cell / 31 % 3, d = cell % 31;
        long n = dossiers / rows + (cell < dossiers % rows);
        if (n == 0) continue;
        char agency[32], service[32];
        static const char *const chans[3] = {"app", "zalo", "counter"};
        snprintf(agency, sizeof agency, "000.%02ld.%02ld.H%02ld", a / 100, a % 100, a % 63);
        snprintf(service, sizeof service, "1.%06ld", sv);
        hoso_stat_row x;
        memset(&x, 0, sizeof x);
        x.c[HOSO_STAT_RECEIVED] = (uint64_t)n;
        x.c[HOSO_STAT_ACCEPTED] = (uint64_t)n;
        x.c[HOSO_STAT_SUPPLEMENTS] = (uint64_t)n / 10;
        x.c[HOSO_STAT_EARLY] = (uint64_t)n / 2;
        x.c[HOSO_STAT_ON_TIME] = (uint64_t)(n - n / 2 - n / 8);
        x.c[HOSO_STAT_LATE] = (uint64_t)n / 8;
        x.c[HOSO_STAT_PAPERS_GIVEN] = 2 * (uint64_t)n;
        x.c[HOSO_STAT_RESOLVE_MS] = (uint64_t)n * 5 * (uint64_t)day_ms;
        x.c[HOSO_STAT_RESOLVE_N] = (uint64_t)n;
        x.c[HOSO_STAT_PROCESSING_MS] = (uint64_t)n * 4 * (uint64_t)day_ms;
        x.c[HOSO_STAT_PROCESSING_N] = (uint64_t)n;
        x.by_status[1] = x.by_status[2] = x.by_status[9] = (uint64_t)n;
        x.days[3] = (uint64_t)n / 2;
        x.days[7] = (uint64_t)(n - n / 2);
        if (t == NULL && hoso_txn_write(s, NULL, &t) != 0) return 1;
        if (hoso_stats_add(t, agency, service, chans[ch], day0 + d * day_ms, &x) != 0) {
            fprintf(stderr, "hoso-report-bench: cannot write the counters\n");
            return 1;
        }
        done += n;
        if (cell % 20000 == 19999) {
            if (hoso_txn_commit(t) != 0) return 1;
            t = NULL;
        }
    }
    if (t != NULL && hoso_txn_commit(t) != 0) return 1;
    printf("seeded %ld dossiers' counters in %ld rows (%ld agencies x %ld services x 3 channels x 31 days) in %.1f s\n",
           done, rows, agencies, services, now_s() - t0);

    static const char *const forms[] = {"json", "csv", "html"};
    for (int f = 0; f < 3; f++) {
        hoso_report *rep = NULL;
        hoso_errinfo ei;
        msgpack_sbuffer sb;
        memset(&ei, 0, sizeof ei);
        msgpack_sbuffer_init(&sb);
        double b0 = now_s();
        if (hoso_txn_read(s, &t) != 0 || hoso_report_build(t, "2026-10", NULL, &rep, &ei) != 0) return 1;
        double b1 = now_s();
        if (hoso_report_render(rep, hoso_report_format(forms[f]), &sb) != 0) return 1;
        double b2 = now_s();
        hoso_txn_abort(t);
        printf("report 2026-10, %s: read %.3f s, written %.3f s, %.1f MB\n", forms[f], b1 - b0, b2 - b1,
               (double)sb.size / 1e6);
        hoso_report_free(rep);
        msgpack_sbuffer_destroy(&sb);
    }
    hoso_store_close(s);
    return 0;
}
