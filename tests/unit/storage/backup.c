/* Unit tests of storage/backup.c: the serving lock, backups that refuse to overwrite
 * and can leave the key out, and restores that check the key, keep what they replace
 * and give the data dir a new epoch. */
#include "fixture.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void put_dossier(hoso_store *s, const char *code)
{
    hoso_txn *t = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    make_dossier(&d, &fb, code, OWNER_A, "A", 1000, 1);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    EXPECT_INT(hoso_event_append(t, OWNER_A, "A", HOSO_EV_DOSSIER_CREATED, 1000, &d, NULL), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    msgpack_sbuffer_destroy(&fb);
}

static int has_dossier(hoso_store *s, const char *code)
{
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    hoso_dossier d;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    int rc = hoso_dossier_get(t, code, &doc, &d);
    hoso_doc_destroy(&doc);
    hoso_txn_abort(t);
    return rc == 0;
}

static void test_backup_refuses_overwrite(void)
{
    hoso_store *s = store_new(0);
    char to[128], missing[128], key[140];
    hoso_backup_options force = {.force = 1}, nokey = {.no_key = 1};
    put_dossier(s, "A-1");
    snprintf(to, sizeof to, "%s/b.mdb", g_dir);
    snprintf(key, sizeof key, "%s.key", to);
    snprintf(missing, sizeof missing, "%s/no/such/folder/b.mdb", g_dir);
    EXPECT_INT(hoso_store_backup(s, missing, NULL), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_store_backup(s, to, NULL), 0);
    EXPECT_INT(access(key, F_OK), 0);
    EXPECT_INT(hoso_store_backup(s, to, NULL), HOSO_EALREADY_EXISTS);
    /* --force writes the store as it is now over the old backup. */
    put_dossier(s, "A-2");
    EXPECT_INT(hoso_store_backup(s, to, &force), 0);
    char dir[160];
    snprintf(dir, sizeof dir, "%s/forced", g_dir);
    EXPECT_INT(hoso_store_restore(to, NULL, dir, 0, NULL), 0);
    hoso_store *back = NULL;
    EXPECT_INT(hoso_store_open(&back, dir, NULL), 0);
    EXPECT_INT(has_dossier(back, "A-2"), 1);
    hoso_store_close(back);
    /* --force --no-key over a backup with a key: the old key goes with it. */
    hoso_backup_options force_nokey = {.force = 1, .no_key = 1};
    EXPECT_INT(hoso_store_backup(s, to, &force_nokey), 0);
    EXPECT(access(key, F_OK) != 0);
    /* Without the key: only the data file is written. */
    snprintf(to, sizeof to, "%s/k.mdb", g_dir);
    snprintf(key, sizeof key, "%s.key", to);
    EXPECT_INT(hoso_store_backup(s, to, &nokey), 0);
    EXPECT_INT(access(to, F_OK), 0);
    EXPECT(access(key, F_OK) != 0);
    hoso_store_close(s);
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    uint64_t *last = ctx;
    EXPECT(done >= *last);
    *last = done;
}

static void test_restore_new_epoch(void)
{
    hoso_store *s = store_new(0);
    char to[128], dir[128], epoch[33], old_epoch[33], restored[33];
    uint64_t done = 0;
    hoso_backup_options bo = {.progress = progress, .ctx = &done};
    put_dossier(s, "A-1");
    strcpy(old_epoch, hoso_store_epoch(s));
    snprintf(to, sizeof to, "%s/b.mdb", g_dir);
    EXPECT_INT(hoso_store_backup(s, to, &bo), 0);
    EXPECT(done > 0);
    /* What comes after the backup is not in it. */
    put_dossier(s, "A-2");
    hoso_store_close(s);

    snprintf(dir, sizeof dir, "%s/restored", g_dir);
    EXPECT_INT(hoso_store_restore(to, NULL, dir, 0, epoch), 0);
    EXPECT(strcmp(epoch, old_epoch) != 0);
    EXPECT_INT(hoso_store_open(&s, dir, NULL), 0);
    EXPECT_STR(hoso_store_epoch(s), epoch);
    EXPECT_INT(has_dossier(s, "A-1"), 1);
    EXPECT_INT(has_dossier(s, "A-2"), 0);
    uint64_t count = 0, bad = 0;
    hoso_txn *t = NULL;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, NULL, 0), 0);
    EXPECT_INT(count, 1);
    hoso_txn_abort(t);
    hoso_store_close(s);

    /* Into a dir with data: refused, unless --force, which keeps the old data aside. */
    EXPECT_INT(hoso_store_restore(to, NULL, dir, 0, restored), HOSO_EALREADY_EXISTS);
    EXPECT_INT(hoso_store_restore(to, NULL, dir, 1, restored), 0);
    EXPECT(strcmp(restored, epoch) != 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test -f %s/replaced.*/lmdb/data.mdb && test -f %s/replaced.*/secret.key", dir, dir);
    EXPECT_INT(system(cmd), 0);
}

static void test_restore_checks_key(void)
{
    hoso_store *s = store_new(0);
    char to[128], dir[128], key[400], other[128];
    uint8_t k[32];
    put_dossier(s, "A-1");
    snprintf(to, sizeof to, "%s/b.mdb", g_dir);
    EXPECT_INT(hoso_store_backup(s, to, NULL), 0);
    hoso_store_close(s);
    snprintf(other, sizeof other, "%s/other.key", g_dir);
    memset(k, 9, sizeof k);
    int fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
    EXPECT(fd >= 0);
    EXPECT_INT(write(fd, k, sizeof k), sizeof k);
    close(fd);
    snprintf(dir, sizeof dir, "%s/restored", g_dir);
    EXPECT_INT(hoso_store_restore(to, other, dir, 0, NULL), HOSO_EKEY_MISMATCH);
    EXPECT_INT(hoso_store_exists(dir), 0);
    /* Nothing of the attempt is left behind. */
    snprintf(key, sizeof key, "ls -A %s | grep -v hosod.lock | grep -q .", dir);
    EXPECT(system(key) != 0);
    EXPECT_INT(hoso_store_restore(to, NULL, dir, 0, NULL), 0);
    EXPECT_INT(hoso_store_exists(dir), 1);

    /* A key file alone in a data dir (its data lost) is not data to refuse over, but
     * it is put aside, never deleted: it may be the only copy of a key. */
    snprintf(dir, sizeof dir, "%s/lone", g_dir);
    EXPECT_INT(mkdir(dir, 0700), 0);
    snprintf(key, sizeof key, "%s/secret.key", dir);
    EXPECT_INT(link(other, key), 0);
    EXPECT_INT(hoso_store_restore(to, NULL, dir, 0, NULL), 0);
    EXPECT_INT(hoso_store_exists(dir), 1);
    snprintf(key, sizeof key, "cmp -s %s %s/replaced.*/secret.key", other, dir);
    EXPECT_INT(system(key), 0);
}

static void test_lock_one_holder(void)
{
    hoso_store_close(store_new(0));
    int fd = -1, fd2 = -1;
    long holder = 0;
    EXPECT_INT(hoso_dir_lock(g_dir, &fd, &holder), 0);
    /* Another process is refused and told who holds it. */
    pid_t pid = fork();
    if (pid == 0) {
        int f = -1;
        long h = 0;
        int rc = hoso_dir_lock(g_dir, &f, &h);
        _exit(rc == HOSO_ELOCKED && h == (long)getppid() ? 0 : 1);
    }
    int st = 0;
    EXPECT_INT(waitpid(pid, &st, 0), pid);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* A restore while the server runs is refused too. */
    char to[128];
    snprintf(to, sizeof to, "%s/b.mdb", g_dir);
    hoso_store *s = store_open(0);
    EXPECT_INT(hoso_store_backup(s, to, NULL), 0);
    hoso_store_close(s);
    EXPECT_INT(hoso_store_restore(to, NULL, g_dir, 1, NULL), HOSO_ELOCKED);
    hoso_dir_unlock(fd);
    EXPECT_INT(hoso_dir_lock(g_dir, &fd2, &holder), 0);
    hoso_dir_unlock(fd2);
}

UNIT_MAIN(UNIT(test_backup_refuses_overwrite), UNIT(test_restore_new_epoch), UNIT(test_restore_checks_key),
          UNIT(test_lock_one_holder))
