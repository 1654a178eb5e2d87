/*
 * disk_full.c - a data dir whose file system fills up: writes are refused with 503
 * UNAVAILABLE "storage is full" (not an I/O error), the metric says so, nothing that was
 * acknowledged is lost, and writes resume once space is freed. Runs on a small tmpfs,
 * which needs root (CI runs as root); elsewhere it says it was skipped.
 */
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include "hoso_test.h"

#define MAX_CODES 4000

static char g_mnt[PATH_MAX];

/* A failing test exits early: the tmpfs must not outlive it. */
static void unmount(void)
{
    if (g_mnt[0] != '\0' && umount2(g_mnt, MNT_DETACH) == 0)
        rmdir(g_mnt);
}

static void test_full_disk(void)
{
    char *mnt = g_mnt, filler[PATH_MAX + 16], data[PATH_MAX + 16], *out = NULL;
    static char codes[MAX_CODES][64];
    int ncodes = 0;

    snprintf(g_mnt, sizeof g_mnt, "%s/tmpfs-%d", ht_tmpdir(), (int)getpid());
    EXPECT_INT(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=6m") != 0) {
        int e = errno;
        rmdir(mnt);
        g_mnt[0] = '\0';
        UNIT_SKIP("cannot mount a tmpfs here (%s); CI runs this as root", strerror(e));
    }
    atexit(unmount);
    /* A megabyte to free later, then a data dir on what is left. */
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    EXPECT_INT(ht_sh(NULL, "head -c 1048576 /dev/zero > '%s'", filler), 0);
    snprintf(data, sizeof data, "%s/data", mnt);

    ht_world w;
    memset(&w, 0, sizeof w);
    ht_server_start(&w.s, NULL);
    ht_server_stop(&w.s);
    /* The world's server, moved onto the tmpfs: same data dir layout, restarted there. */
    EXPECT_INT(ht_sh(NULL, "cp -a '%s' '%s'", w.s.dir, data), 0);
    snprintf(w.s.dir, sizeof w.s.dir, "%.*s", (int)sizeof w.s.dir - 1, data);
    snprintf(w.s.log, sizeof w.s.log, "%s/hosod.log", ht_tmpdir());
    ht_server_restart(&w.s);
    ht_conn_init(&w.c, w.s.port);
    ht_citizen_new(&w.c, &w.cit);
    ht_service_pick(&w.c, &w.svc, 0, NULL);

    /* Submit until the disk is full. */
    ht_resp r;
    ncodes = ht_submit_until_full(&w.c, &w.cit, &w.svc, codes, MAX_CODES);
    EXPECT(ncodes > 10);
    EXPECT_INT(ht_metric(&w.c, "hoso_storage_full"), 1);
    /* Reads still work. */
    ht_get_dossier(&w.c, w.cit.token, codes[0], &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);

    /* Space comes back: so do writes. */
    EXPECT_INT(unlink(filler), 0);
    char code[128];
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    EXPECT_INT(ht_metric(&w.c, "hoso_storage_full"), 0);

    /* Everything acknowledged is there after a restart, and the log chain holds. */
    ht_server_stop(&w.s);
    ht_server_restart(&w.s);
    ht_conn_close(&w.c);
    ht_conn_init(&w.c, w.s.port);
    ht_login(&w.c, &w.cit, 0);
    for (int i = 0; i < ncodes; i += 7) {
        ht_get_dossier(&w.c, w.cit.token, codes[i], &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        ht_resp_free(&r);
    }
    ht_get_dossier(&w.c, w.cit.token, code, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    EXPECT_INT(ht_count_list(&w.c, w.cit.token, "/v1/dossiers"), ncodes + 1);
    ht_server_stop(&w.s);
    EXPECT_INT(ht_sh(&out, "'%s' audit verify --data '%s'", ht_hosod(), data), 0);
    free(out);
    ht_service_free(&w.svc);
    ht_conn_close(&w.c);
    EXPECT_INT(umount(mnt), 0);
    rmdir(mnt);
    g_mnt[0] = '\0';
}

UNIT_MAIN(UNIT(test_full_disk))
