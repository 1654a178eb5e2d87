/*
 * tests/unit/storage/env.c - opening, key file, epoch, stats, backup, map full (storage/env.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

#include <fcntl.h>

static void test_reopen_keeps_epoch_and_key(void)
{
    hoso_store *s = store_new(0);
    char epoch[33], id[33], id2[33];
    uint8_t *ct = NULL, *pt = NULL;
    size_t clen = 0, plen = 0;
    strcpy(epoch, hoso_store_epoch(s));
    EXPECT_INT(strlen(epoch), 32);
    hoso_account_id_for(s, "079123456789", id);
    EXPECT_INT(hoso_seal(s, "abc", 3, "x", 1, &ct, &clen), 0);
    hoso_store_close(s);

    s = store_open(0);
    EXPECT_STR(hoso_store_epoch(s), epoch);
    hoso_account_id_for(s, "079123456789", id2);
    EXPECT_STR(id2, id);
    EXPECT_INT(hoso_open(s, ct, clen, "x", 1, &pt, &plen), 0);
    EXPECT_MEM(pt, "abc", 3);
    free(pt);
    free(ct);
    hoso_store_close(s);

    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/secret.key", g_dir);
    EXPECT_INT(stat(path, &st), 0);
    EXPECT_INT(st.st_mode & 0777, 0600);
    EXPECT_INT(st.st_size, 32);
}

static void test_epoch_differs_per_dir(void)
{
    hoso_store *s = store_new(0);
    char epoch[33], first[sizeof g_dir];
    strcpy(epoch, hoso_store_epoch(s));
    hoso_store_close(s);
    strcpy(first, g_dir);
    s = store_new(0);
    EXPECT(strcmp(epoch, hoso_store_epoch(s)) != 0);
    hoso_store_close(s);
    cleanup();
    strcpy(g_dir, first);
}

static void test_key_file_mode_refused(void)
{
    hoso_store *s = store_new(0), *s2 = NULL;
    char path[128];
    hoso_store_close(s);
    snprintf(path, sizeof path, "%s/secret.key", g_dir);
    EXPECT_INT(chmod(path, 0640), 0);
    EXPECT_INT(hoso_store_open(&s2, g_dir, NULL), HOSO_EIO);
    EXPECT(s2 == NULL);
    EXPECT_INT(chmod(path, 0600), 0);
    EXPECT_INT(hoso_store_open(&s2, g_dir, NULL), 0);
    hoso_store_close(s2);
}

static void test_key_file_size_refused(void)
{
    hoso_store *s = store_new(0), *s2 = NULL;
    char path[128];
    hoso_store_close(s);
    snprintf(path, sizeof path, "%s/secret.key", g_dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    EXPECT(fd >= 0);
    EXPECT_INT(write(fd, "x", 1), 1);
    close(fd);
    EXPECT_INT(hoso_store_open(&s2, g_dir, NULL), HOSO_EIO);
    EXPECT(s2 == NULL);
}

static void test_missing_key_file_refused(void)
{
    hoso_store *s = store_new(0), *s2 = NULL;
    char path[128];
    hoso_store_close(s);
    snprintf(path, sizeof path, "%s/secret.key", g_dir);
    EXPECT_INT(unlink(path), 0);
    EXPECT_INT(hoso_store_open(&s2, g_dir, NULL), HOSO_EIO);
    EXPECT(s2 == NULL);
    EXPECT_INT(access(path, F_OK), -1);
}

static void test_read_only_open(void)
{
    hoso_store *s = NULL;
    hoso_store_options ro = {.read_only = 1};
    strcpy(g_dir, "/tmp/hoso-unit-XXXXXX");
    EXPECT(mkdtemp(g_dir) != NULL);
    atexit(cleanup);
    /* Nothing to open yet: read-only never creates. */
    EXPECT(hoso_store_open(&s, g_dir, &ro) != 0);
    s = store_open(0);
    char epoch[33];
    strcpy(epoch, hoso_store_epoch(s));
    hoso_store_close(s);
    EXPECT_INT(hoso_store_open(&s, g_dir, &ro), 0);
    EXPECT_STR(hoso_store_epoch(s), epoch);
    hoso_txn *t = NULL;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), HOSO_EIO);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    uint64_t pos = 9;
    EXPECT_INT(hoso_cursor_get(t, "mirror", &pos), 0);
    EXPECT_INT(pos, 0);
    hoso_txn_abort(t);
    hoso_store_close(s);
}

static void test_stats(void)
{
    hoso_store *s = store_new(64 << 20);
    hoso_store_stats st;
    EXPECT_INT(hoso_store_stats_get(s, &st), 0);
    EXPECT_INT(st.map_size, 64 << 20);
    EXPECT_INT(st.max_readers, 1024);
    EXPECT_INT(st.log_head, 0);
    EXPECT(st.used_bytes > 0 && st.used_bytes < st.map_size);

    hoso_txn *t = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    make_dossier(&d, &fb, "A-261123-0001", OWNER_A, "A", 1000, 1);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_event_append(t, OWNER_A, "A", HOSO_EV_DOSSIER_CREATED, 1000, &d, NULL), 0);
    EXPECT_INT(hoso_event_append(t, OWNER_A, "A", HOSO_EV_DOSSIER_STATUS, 1001, &d, NULL), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    EXPECT_INT(hoso_store_stats_get(s, &st), 0);
    EXPECT_INT(st.log_head, 2);
    /* Works while this thread holds its read txn. */
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_store_stats_get(s, &st), 0);
    EXPECT(st.readers_used >= 1);
    hoso_txn_abort(t);
    hoso_store_close(s);
    msgpack_sbuffer_destroy(&fb);

    s = store_open(0);
    EXPECT_INT(hoso_store_stats_get(s, &st), 0);
    EXPECT_INT(st.log_head, 2);
    hoso_store_close(s);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *in = fopen(from, "rb");
    EXPECT(in != NULL);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
    EXPECT(fd >= 0);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) EXPECT_INT(write(fd, buf, n), n);
    fclose(in);
    close(fd);
}

static void test_backup_opens_as_store(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    char to[128], dir2[160], path[200], epoch[33];
    make_dossier(&d, &fb, "A-261123-0001", OWNER_A, "A", 1000, 1);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    EXPECT_INT(hoso_event_append(t, OWNER_A, "A", HOSO_EV_DOSSIER_CREATED, 1000, &d, NULL), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    strcpy(epoch, hoso_store_epoch(s));

    snprintf(to, sizeof to, "%s/backup.mdb", g_dir);
    EXPECT_INT(hoso_store_backup(s, to, NULL), 0);
    hoso_store_close(s);
    msgpack_sbuffer_destroy(&fb);

    struct stat st;
    snprintf(path, sizeof path, "%s.key", to);
    EXPECT_INT(stat(path, &st), 0);
    EXPECT_INT(st.st_mode & 0777, 0600);

    /* Restore by hand: DIR2/lmdb/data.mdb and DIR2/secret.key. */
    snprintf(dir2, sizeof dir2, "%s/restored", g_dir);
    EXPECT_INT(mkdir(dir2, 0700), 0);
    snprintf(path, sizeof path, "%s/lmdb", dir2);
    EXPECT_INT(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/lmdb/data.mdb", dir2);
    copy_file(to, path, 0600);
    snprintf(path, sizeof path, "%s/secret.key", dir2);
    char keyfrom[140];
    snprintf(keyfrom, sizeof keyfrom, "%s.key", to);
    copy_file(keyfrom, path, 0600);

    EXPECT_INT(hoso_store_open(&s, dir2, NULL), 0);
    EXPECT_STR(hoso_store_epoch(s), epoch);
    hoso_doc doc = {0};
    hoso_dossier got;
    uint64_t count = 0, bad = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_get(t, "A-261123-0001", &doc, &got), 0);
    EXPECT_INT(got.form.len, d.form.len);
    EXPECT(memmem(got.form.ptr, got.form.len, FORM_SECRET, strlen(FORM_SECRET)) != NULL);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, NULL, 0), 0);
    EXPECT_INT(count, 1);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

/* Fills a 1 MiB map with dossiers + events, one commit each, until STORAGE_FULL. */
static void test_map_full(void)
{
    hoso_store *s = store_new(1 << 20);
    char code[64], big[4096];
    int committed = 0, rc = 0;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 100000 && rc == 0; i++) {
        hoso_txn *t = NULL;
        hoso_dossier d;
        msgpack_sbuffer fb;
        EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
        EXPECT_INT(hoso_dossier_next_code(t, "A", 1795453200000LL, code), 0);
        make_dossier(&d, &fb, code, OWNER_A, "A", 1000 + i, 1);
        d.reason = hs(big);
        rc = hoso_dossier_put(t, &d, 1);
        if (rc == 0) rc = hoso_event_append(t, OWNER_A, "A", HOSO_EV_DOSSIER_CREATED, 1000 + i, &d, NULL);
        if (rc == 0) {
            hoso_stat_row x;
            memset(&x, 0, sizeof x);
            x.c[HOSO_STAT_RECEIVED] = 1;
            rc = hoso_stats_add(t, "A", "1.001", "app", 1000 + i, &x);
        }
        if (rc == 0) {
            rc = hoso_txn_commit(t);
            if (rc == 0) committed++;
        } else {
            /* Poisoned: every later call repeats the error, commit refuses. */
            uint64_t pos;
            EXPECT_INT(hoso_cursor_put(t, "x", 1), rc);
            EXPECT_INT(hoso_cursor_get(t, "x", &pos), rc);
            EXPECT_INT(hoso_txn_commit(t), rc);
        }
        msgpack_sbuffer_destroy(&fb);
    }
    EXPECT_INT(rc, HOSO_ESTORAGE_FULL);
    EXPECT(committed > 10);
    hoso_store_close(s);

    s = store_open(1 << 20);
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    hoso_dossier got;
    uint64_t head = 0, count = 0, bad = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    for (int i = 1; i <= committed; i++) {
        snprintf(code, sizeof code, "A-261124-%04d", i);
        EXPECT_INT(hoso_dossier_get(t, code, &doc, &got), 0);
        EXPECT_INT(got.reason.len, sizeof big - 1);
    }
    snprintf(code, sizeof code, "A-261124-%04d", committed + 1);
    EXPECT_INT(hoso_dossier_get(t, code, &doc, &got), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_feed_head(t, OWNER_A, &head), 0);
    EXPECT_INT(head, committed);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, NULL, 0), 0);
    EXPECT_INT(count, committed);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

/* In a nested batch a child hitting MAP_FULL is aborted alone; what the parent
 * commits is complete. */
static void test_map_full_nested(void)
{
    hoso_store *s = store_new(1 << 20);
    hoso_txn *parent = NULL;
    char code[64], big[8192];
    int ok = 0, rc = 0;
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    EXPECT_INT(hoso_txn_write(s, NULL, &parent), 0);
    for (int i = 0; i < 100000 && rc == 0; i++) {
        hoso_txn *child = NULL;
        hoso_dossier d;
        msgpack_sbuffer fb;
        EXPECT_INT(hoso_txn_write(s, parent, &child), 0);
        EXPECT_INT(hoso_dossier_next_code(child, "B", 1795453200000LL, code), 0);
        make_dossier(&d, &fb, code, OWNER_B, "B", 1000 + i, 1);
        d.result = hs(big);
        rc = hoso_dossier_put(child, &d, 1);
        if (rc == 0) rc = hoso_event_append(child, OWNER_B, "B", HOSO_EV_DOSSIER_CREATED, 1000 + i, &d, NULL);
        if (rc == 0) {
            EXPECT_INT(hoso_txn_commit(child), 0);
            ok++;
        } else {
            hoso_txn_abort(child);
        }
        msgpack_sbuffer_destroy(&fb);
    }
    EXPECT_INT(rc, HOSO_ESTORAGE_FULL);
    hoso_event *ev = NULL;
    size_t nev = 0;
    EXPECT_INT(hoso_txn_take_events(parent, &ev, &nev), 0);
    EXPECT_INT(nev, ok);
    hoso_events_free(ev, nev);
    int crc = hoso_txn_commit(parent);
    EXPECT(crc == 0 || crc == HOSO_ESTORAGE_FULL);
    hoso_store_close(s);

    s = store_open(0);
    hoso_txn *t = NULL;
    uint64_t head = 0, count = 0, bad = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_feed_head(t, OWNER_B, &head), 0);
    EXPECT_INT(head, crc == 0 ? ok : 0);
    EXPECT_INT(hoso_log_verify(t, &count, &bad, NULL, 0), 0);
    EXPECT_INT(count, head);
    hoso_txn_abort(t);
    hoso_store_close(s);
}

/* One op of a batch finds no room and is undone; the batch commits the rest. The store
 * says it is full (hoso_storage_full) until a commit runs into no shortage. */
static void test_map_full_flag_outlives_the_batch(void)
{
    hoso_store *s = store_new(1 << 20);
    hoso_txn *parent = NULL, *child = NULL;
    hoso_store_stats st;
    hoso_dossier d;
    msgpack_sbuffer fb;
    char code[64];
    size_t n = 2 << 20;
    char *huge = malloc(n + 1);
    EXPECT(huge != NULL);
    memset(huge, 'z', n);
    huge[n] = '\0';
    EXPECT_INT(hoso_txn_write(s, NULL, &parent), 0);
    EXPECT_INT(hoso_txn_write(s, parent, &child), 0);
    EXPECT_INT(hoso_dossier_next_code(child, "B", 1795453200000LL, code), 0);
    make_dossier(&d, &fb, code, OWNER_B, "B", 1000, 1);
    d.result = (hoso_str){huge, n}; /* two MiB in a map of one */
    EXPECT_INT(hoso_dossier_put(child, &d, 1), HOSO_ESTORAGE_FULL);
    hoso_txn_abort(child);
    EXPECT_INT(hoso_txn_commit(parent), 0);
    EXPECT_INT(hoso_store_stats_get(s, &st), 0);
    EXPECT_INT(st.full, 1);
    EXPECT_INT(hoso_txn_write(s, NULL, &parent), 0);
    EXPECT_INT(hoso_txn_commit(parent), 0);
    EXPECT_INT(hoso_store_stats_get(s, &st), 0);
    EXPECT_INT(st.full, 0);
    msgpack_sbuffer_destroy(&fb);
    free(huge);
    hoso_store_close(s);
}

/* A store remembers which key made it: another 32-byte key file is refused by name,
 * before any sealed value is read with it. */
static void test_other_key_refused(void)
{
    hoso_store *s = store_new(0);
    char path[128];
    uint8_t other[32];
    hoso_store_close(s);
    snprintf(path, sizeof path, "%s/secret.key", g_dir);
    EXPECT_INT(unlink(path), 0);
    memset(other, 7, sizeof other);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    EXPECT(fd >= 0);
    EXPECT_INT(write(fd, other, sizeof other), sizeof other);
    close(fd);
    hoso_store_options ro = {.read_only = 1};
    EXPECT_INT(hoso_store_open(&s, g_dir, NULL), HOSO_EKEY_MISMATCH);
    EXPECT_INT(hoso_store_open(&s, g_dir, &ro), HOSO_EKEY_MISMATCH);
}

/* must_exist: a dir without a store is refused and left as it was. */
static void test_must_exist(void)
{
    char dir[64];
    hoso_store *s = NULL;
    hoso_store_options o = {.must_exist = 1};
    strcpy(dir, "/tmp/hoso-unit-XXXXXX");
    EXPECT(mkdtemp(dir) != NULL);
    EXPECT_INT(hoso_store_exists(dir), 0);
    EXPECT_INT(hoso_store_open(&s, dir, &o), HOSO_ENOT_FOUND);
    char path[128];
    snprintf(path, sizeof path, "%s/lmdb", dir);
    EXPECT(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/secret.key", dir);
    EXPECT(access(path, F_OK) != 0);
    EXPECT_INT(rmdir(dir), 0);
    s = store_new(0);
    hoso_store_close(s);
    EXPECT_INT(hoso_store_exists(g_dir), 1);
    EXPECT_INT(hoso_store_open(&s, g_dir, &o), 0);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_reopen_keeps_epoch_and_key), UNIT(test_epoch_differs_per_dir), UNIT(test_key_file_mode_refused),
          UNIT(test_key_file_size_refused), UNIT(test_missing_key_file_refused), UNIT(test_read_only_open), UNIT(test_stats),
          UNIT(test_backup_opens_as_store), UNIT(test_map_full), UNIT(test_map_full_nested),
          UNIT(test_map_full_flag_outlives_the_batch),
          UNIT(test_other_key_refused), UNIT(test_must_exist))
