/*
 * data_dir.c - what an operator does to a data dir, through the real hosod binary: a
 * key file that does not match is refused by every command, one server per data dir,
 * no command makes a data dir without --create, and a backup restored with a new
 * epoch sends every client back to its snapshot instead of letting it miss the history
 * that diverged. A store whose map (--map-size) is full refuses writes with 503 and
 * takes them again, everything kept, once restarted with a larger map.
 */
#include <sys/stat.h>
#include "hoso_test.h"


static void test_other_key_refused_everywhere(void)
{
    ht_world w;
    char key[PATH_MAX + 16], *out = NULL;
    ht_world_start(&w, NULL);
    ht_server_stop(&w.s);
    snprintf(key, sizeof key, "%s/secret.key", w.s.dir);
    EXPECT_INT(ht_sh(NULL, "head -c 32 /dev/urandom > '%s.new' && chmod 600 '%s.new' && mv '%s.new' '%s'", key, key,
                     key, key),
               0);
    /* serve, admin, backup and audit each refuse it and name the file. */
    EXPECT_INT(ht_hosod_out(&out, "serve --listen 127.0.0.1:0 --data '%s' --quiet", w.s.dir), 1);
    ht_expect_has(out, key);
    ht_expect_has(out, "does not match");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "admin create-admin --data '%s' --username a2 --password 'long enough'", w.s.dir), 1);
    ht_expect_has(out, key);
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "backup --data '%s' --to '%s/b.mdb'", w.s.dir, w.s.dir), 1);
    ht_expect_has(out, key);
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "audit verify --data '%s'", w.s.dir), 1);
    ht_expect_has(out, key);
    free(out);
    ht_service_free(&w.svc);
    ht_conn_close(&w.c);
}

static void test_one_server_per_dir(void)
{
    ht_server s;
    char *out = NULL;
    ht_server_start(&s, NULL);
    EXPECT_INT(ht_hosod_out(&out, "serve --listen 127.0.0.1:0 --data '%s' --quiet", s.dir), 1);
    char pid[64];
    snprintf(pid, sizeof pid, "pid %d", (int)s.pid);
    ht_expect_has(out, "served by another hosod");
    ht_expect_has(out, pid);
    free(out);
    /* Offline commands still work beside it. */
    out = ht_admin(&s, "create-admin --username beside --password 'long enough'");
    free(out);
    /* A restore does not. */
    char backup[PATH_MAX];
    snprintf(backup, sizeof backup, "%s/lock-%d.mdb", ht_tmpdir(), (int)getpid());
    EXPECT_INT(ht_hosod_out(&out, "backup --data '%s' --to '%s' --force", s.dir, backup), 0);
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "restore --from '%s' --data '%s' --force", backup, s.dir), 1);
    ht_expect_has(out, "stop it first");
    free(out);
    ht_server_stop(&s);
    /* Once it stopped (or died: kill -9 releases the lock too), the dir is free. */
    ht_server_restart(&s);
    ht_server_kill9(&s);
    ht_server_restart(&s);
    ht_server_stop(&s);
    ht_sh(NULL, "rm -f '%s' '%s.key'", backup, backup);
}

static void test_no_dir_without_create(void)
{
    char dir[PATH_MAX], *out = NULL;
    struct stat st;
    snprintf(dir, sizeof dir, "%s/mistyped-%d", ht_tmpdir(), (int)getpid());
    EXPECT_INT(ht_hosod_out(&out, "serve --listen 127.0.0.1:0 --data '%s' --quiet", dir), 1);
    ht_expect_has(out, "--create");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "admin create-admin --data '%s' --username a --password 'long enough'", dir), 1);
    ht_expect_has(out, "holds no hoso data");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "backup --data '%s' --to '%s.mdb'", dir, dir), 1);
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "audit verify --data '%s'", dir), 1);
    free(out);
    EXPECT(stat(dir, &st) != 0);
}

/* The scenario of the trust issue: a node restored at feed head N that then writes a
 * different N+1 must not let an app whose cursor is at N+1 think it is up to date. */
static void test_restore_expires_cursors(void)
{
    ht_world w;
    ht_resp r;
    char code[128], path[256], epoch[64], backup[PATH_MAX], *out = NULL;
    ht_world_start(&w, NULL);
    for (int i = 0; i < 3; i++) ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    ht_mp_call(&w.c, "GET", "/v1/sync?since=0", w.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    long long head = ht_jint(r.json, "next");
    snprintf(epoch, sizeof epoch, "%s", ht_jstr(r.json, "epoch"));
    ht_resp_free(&r);

    snprintf(backup, sizeof backup, "%s/restore-%d.mdb", ht_tmpdir(), (int)getpid());
    EXPECT_INT(ht_hosod_out(&out, "backup --data '%s' --to '%s'", w.s.dir, backup), 0);
    ht_expect_has(out, "backup written to");
    free(out);
    /* Not twice to the same name without --force. */
    EXPECT_INT(ht_hosod_out(&out, "backup --data '%s' --to '%s'", w.s.dir, backup), 1);
    ht_expect_has(out, "--force");
    free(out);
    /* The app syncs one more event, then the node is restored from before it. */
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    ht_server_stop(&w.s);
    EXPECT_INT(ht_hosod_out(&out, "restore --from '%s' --data '%s'", backup, w.s.dir), 1);
    ht_expect_has(out, "--force");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "restore --from '%s' --data '%s' --force", backup, w.s.dir), 0);
    ht_expect_has(out, "new epoch");
    free(out);
    ht_server_restart(&w.s);
    ht_conn_close(&w.c);
    ht_conn_init(&w.c, w.s.port);
    ht_login(&w.c, &w.cit, 0);
    /* The restored node writes its own next event. */
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));

    snprintf(path, sizeof path, "/v1/sync?since=%lld&epoch=%s", head + 1, epoch);
    ht_mp_call(&w.c, "GET", path, w.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 410, "CURSOR_EXPIRED");
    ht_resp_free(&r);
    ht_mp_call(&w.c, "GET", "/v1/sync/snapshot", w.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(strcmp(ht_jstr(r.json, "epoch"), epoch) != 0);
    EXPECT_INT(json_array_size(ht_j(r.json, "dossiers")), 4);
    ht_resp_free(&r);
    ht_world_stop(&w);
    ht_sh(NULL, "rm -f '%s' '%s.key'", backup, backup);
}

/* hosod again on w's data dir with serve arguments extra, the citizen signed in anew. */
static void restart_with(ht_world *w, const char *extra)
{
    ht_server_stop(&w->s);
    snprintf(w->s.extra, sizeof w->s.extra, "%s", extra);
    ht_server_restart(&w->s);
    ht_conn_close(&w->c);
    ht_conn_init(&w->c, w->s.port);
    ht_login(&w->c, &w->cit, 0);
}

static void test_map_size(void)
{
    ht_world w;
    ht_resp r;
    char *out = NULL, code[128];
    static char codes[2000][64];
    int ncodes;

    static const char *const bad[] = {"12X", "512K", "0", "", "99999999T", "16777217T", "65T"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_INT(ht_hosod_out(&out, "serve --data '%s/none' --map-size '%s'", ht_tmpdir(), bad[i]), 2);
        EXPECT(out != NULL && strstr(out, "--map-size takes 1M..64T bytes") != NULL);
        free(out);
    }

    ht_world_start(&w, "--map-size 1M");
    EXPECT_INT(ht_metric(&w.c, "hoso_lmdb_map_size_bytes"), 1048576);
    ncodes = ht_submit_until_full(&w.c, &w.cit, &w.svc, codes, 2000);
    EXPECT(ncodes > 5);
    EXPECT_INT(ht_metric(&w.c, "hoso_storage_full"), 1);

    /* A larger map: what was acknowledged is there, and writes go on. */
    restart_with(&w, "--map-size 64M");
    EXPECT_INT(ht_metric(&w.c, "hoso_lmdb_map_size_bytes"), 67108864);
    for (int i = 0; i < ncodes; i++) {
        ht_get_dossier(&w.c, w.cit.token, codes[i], &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        ht_resp_free(&r);
    }
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code);
    EXPECT_INT(ht_metric(&w.c, "hoso_storage_full"), 0);

    /* A map grown past the default stays grown when the flag is left out. */
    restart_with(&w, "--map-size 20G");
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof code); /* a commit stores the size */
    EXPECT_INT(ht_metric(&w.c, "hoso_lmdb_map_size_bytes"), 21474836480.0);
    restart_with(&w, "");
    EXPECT_INT(ht_metric(&w.c, "hoso_lmdb_map_size_bytes"), 21474836480.0);
    ht_world_stop(&w);
}

static void test_help(void)
{
    static const char *const cmds[] = {"--help", "serve --help", "admin --help", "admin create-officer --help",
                                       "admin create-bot --help", "admin create-admin --help",
                                       "admin import-services --help", "backup --help", "restore --help",
                                       "audit verify --help", "audit --help"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char *out = NULL;
        /* stdout only: help goes there, and exits 0. */
        int rc = ht_sh(&out, "'%s' %s 2>/dev/null", ht_hosod(), cmds[i]);
        if (rc != 0 || !strstr(out, "usage")) ht_fail("hosod %s: exit %d, stdout:\n%s", cmds[i], rc, out);
        free(out);
    }
    char *out = NULL;
    EXPECT_INT(ht_hosod_out(&out, "backup --data x --bogus"), 2);
    ht_expect_has(out, "--bogus");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "serve --bogus"), 2);
    ht_expect_has(out, "--bogus");
    free(out);
    EXPECT_INT(ht_hosod_out(&out, "admin make-coffee"), 2);
    ht_expect_has(out, "make-coffee");
    free(out);
}

UNIT_MAIN(UNIT(test_other_key_refused_everywhere), UNIT(test_map_size), UNIT(test_one_server_per_dir), UNIT(test_no_dir_without_create),
          UNIT(test_restore_expires_cursors), UNIT(test_help))
