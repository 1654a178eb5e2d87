/*
 * backup.c - what an operator does to a data dir as a whole: the serving lock, a
 * backup of a running store, and restoring one into a data dir with a new epoch.
 *
 * A restored store is an older past of the data dir: every client cursor taken after
 * the backup names events that the restored store never had, or will have with other
 * contents. The new epoch makes every such cursor CURSOR_EXPIRED, so apps reload the
 * snapshot instead of silently skipping what diverged.
 */
#define _GNU_SOURCE /* pipe2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "internal.h"

#define LOCK_FILE "hosod.lock"
#define CHUNK (1 << 20)

/* ---------------------------------------------------------------------------------- */
/* The serving lock */

int hoso_dir_lock(const char *dir, int *fd_out, long *holder)
{
    char path[PATH_MAX], buf[32];
    int fd;

    *fd_out = -1;
    if (holder) *holder = 0;
    if (snprintf(path, sizeof path, "%s/%s", dir, LOCK_FILE) >= (int)sizeof path) return HOSO_EIO;
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "hoso: cannot open the lock file %s: %s\n", path, strerror(errno));
        return HOSO_EIO;
    }
    /* flock belongs to this open file: it goes when the process does, kill -9 too. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        if (busy && holder) {
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            buf[n > 0 ? n : 0] = '\0';
            *holder = strtol(buf, NULL, 10);
        }
        if (!busy) fprintf(stderr, "hoso: cannot lock %s: %s\n", path, strerror(errno));
        close(fd);
        return busy ? HOSO_ELOCKED : HOSO_EIO;
    }
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        fprintf(stderr, "hoso: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        return HOSO_EIO;
    }
    *fd_out = fd;
    return 0;
}

void hoso_dir_unlock(int fd)
{
    if (fd >= 0) close(fd);
}

/* ---------------------------------------------------------------------------------- */
/* Copies with progress */

typedef struct pump {
    int in, out;
    uint64_t total, done;
    hoso_progress_fn progress;
    void *ctx;
    int err;
} pump;

/* Moves everything from in to out, reporting at most once a second. */
static void *pump_main(void *arg)
{
    pump *p = arg;
    uint8_t *buf = malloc(CHUNK);
    time_t last = time(NULL);
    if (!buf) {
        p->err = HOSO_ENOMEM;
        /* Drain, or the writer of the pipe blocks for ever. */
        char sink[4096];
        while (read(p->in, sink, sizeof sink) > 0) {}
        return NULL;
    }
    for (;;) {
        ssize_t n = read(p->in, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0) p->err = HOSO_EIO;
            break;
        }
        if (!p->err && (p->err = hoso__write_all(p->out, buf, (size_t)n)) != 0)
            fprintf(stderr, "hoso: writing the copy failed: %s\n", strerror(errno));
        p->done += (uint64_t)n;
        if (p->progress && time(NULL) != last) {
            last = time(NULL);
            p->progress(p->ctx, p->done, p->total);
        }
    }
    free(buf);
    /* The last report is the whole: the compacted copy is often smaller than the map. */
    if (p->progress) p->progress(p->ctx, p->done, p->done);
    return NULL;
}

/* A new file at path holding the store's compacted copy; fsync'ed. */
static int copy_store(hoso_store *s, const char *path, hoso_progress_fn progress, void *ctx)
{
    int fds[2] = {-1, -1}, out = -1, rc = HOSO_EIO, mrc;
    pthread_t th;
    hoso_store_stats st;
    pump p;

    memset(&p, 0, sizeof p);
    if ((out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "hoso: cannot create %s: %s\n", path, strerror(errno));
        return HOSO_EIO;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) goto Exit;
    if (hoso_store_stats_get(s, &st) == 0) p.total = st.used_bytes;
    p.in = fds[0];
    p.out = out;
    p.progress = progress;
    p.ctx = ctx;
    if (pthread_create(&th, NULL, pump_main, &p) != 0) goto Exit;
    /* A consistent snapshot of a running store; mdb_env_copy2 would want a directory. */
    mrc = mdb_env_copyfd2(s->env, fds[1], MDB_CP_COMPACT);
    close(fds[1]);
    fds[1] = -1;
    pthread_join(th, NULL);
    if (mrc != 0) {
        fprintf(stderr, "hoso: copying the store failed: %s\n", mdb_strerror(mrc));
        rc = hoso__mdb_err(mrc);
        goto Exit;
    }
    if ((rc = p.err) != 0) goto Exit;
    rc = fsync(out) == 0 ? 0 : HOSO_EIO;
Exit:
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    close(out);
    return rc;
}

/* The folder part of path into dir: "." when it has none, "/" for the root. -1 when
 * it does not fit. */
static int parent_dir(const char *path, char dir[PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= PATH_MAX) return -1;
    if (slash == NULL)
        strcpy(dir, ".");
    else if (n == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return 0;
}

/* The folder part of path exists and is a directory. */
static int parent_exists(const char *path)
{
    char dir[PATH_MAX];
    struct stat st;
    return parent_dir(path, dir) == 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---------------------------------------------------------------------------------- */
/* Backup */

static int copy_file(const char *from, const char *to, mode_t mode);

/* Uploaded files (DIR/files/<32 hex>): copies every one from `from` into the new
 * directory `to` (each fsync'ed, then the directory). Files never change once made, so
 * copying them after the store's snapshot gives every file that snapshot names.
 * *count gets how many. A missing `from` copies nothing and makes no `to`. */
static int copy_files_dir(const char *from, const char *to, uint64_t *count)
{
    char a[PATH_MAX + 64], b[PATH_MAX + 64];
    struct dirent *e;
    int rc = 0, fd;
    *count = 0;
    DIR *d = opendir(from);
    if (d == NULL) return errno == ENOENT ? 0 : HOSO_EIO;
    if (mkdir(to, 0700) != 0) {
        closedir(d);
        fprintf(stderr, "hoso: cannot create %s: %s\n", to, strerror(errno));
        return HOSO_EIO;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 32 || strspn(e->d_name, "0123456789abcdef") != 32) continue;
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        if (access(a, F_OK) != 0 && errno == ENOENT) continue; /* swept since: unused, so not needed */
        if ((rc = copy_file(a, b, 0600)) == 0) (*count)++;
        else if (rc == HOSO_ENOT_FOUND) rc = 0; /* swept between the two looks */
    }
    closedir(d);
    if (rc == 0 && (fd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        if (fsync(fd) != 0) rc = HOSO_EIO;
        close(fd);
    }
    return rc;
}

/* Removes a directory made by copy_files_dir (its files, then itself). */
static void remove_files_dir(const char *dir)
{
    char p[PATH_MAX + 64];
    struct dirent *e;
    DIR *d = opendir(dir);
    if (d == NULL) return;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 32) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* fsync of the folder holding path, so that a rename into it survives a crash. */
static void sync_parent(const char *path)
{
    char dir[PATH_MAX];
    if (parent_dir(path, dir) != 0) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int hoso_store_backup(hoso_store *s, const char *to, const hoso_backup_options *opt)
{
    char tmp[PATH_MAX], keypath[PATH_MAX], keytmp[PATH_MAX], files[PATH_MAX], filestmp[PATH_MAX + 32],
        filesrc[PATH_MAX + 8];
    uint64_t nfiles = 0;
    uint8_t *master = NULL;
    int rc = HOSO_EIO, force = opt && opt->force, with_key = !(opt && opt->no_key);

    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", to, (long)getpid()) >= (int)sizeof tmp ||
        snprintf(keypath, sizeof keypath, "%s.key", to) >= (int)sizeof keypath ||
        snprintf(keytmp, sizeof keytmp, "%s.key.new.%ld", to, (long)getpid()) >= (int)sizeof keytmp ||
        snprintf(files, sizeof files, "%s.files", to) >= (int)sizeof files)
        return HOSO_EIO;
    snprintf(filestmp, sizeof filestmp, "%s.tmp.%ld", files, (long)getpid());
    snprintf(filesrc, sizeof filesrc, "%s/files", s->dir);
    if (!parent_exists(to)) {
        fprintf(stderr, "hoso: the folder of %s does not exist: create it first\n", to);
        return HOSO_ENOT_FOUND;
    }
    if (!force && (access(to, F_OK) == 0 || (with_key && access(keypath, F_OK) == 0))) {
        fprintf(stderr, "hoso: %s exists already: give another name, or --force to replace it\n",
                access(to, F_OK) == 0 ? to : keypath);
        return HOSO_EALREADY_EXISTS;
    }
    unlink(tmp);
    unlink(keytmp);
    remove_files_dir(filestmp);
    if ((rc = copy_store(s, tmp, opt ? opt->progress : NULL, opt ? opt->ctx : NULL)) != 0) goto Exit;
    /* The uploaded files the snapshot names, beside it in FILE.files/ (encrypted as
     * they are on disk; their keys are in the store). */
    if ((rc = copy_files_dir(filesrc, filestmp, &nfiles)) != 0) goto Exit;
    /* Both files are written in full before either takes its name: a failure never
     * leaves a backup next to the key of another one. */
    if (with_key) {
        if (!(master = sodium_malloc(HOSO__KEY_BYTES))) {
            rc = HOSO_ENOMEM;
            goto Exit;
        }
        if ((rc = hoso__read_key_file(s->key_path, master)) != 0 ||
            (rc = hoso__create_secret_file(keytmp, master, HOSO__KEY_BYTES)) != 0)
            goto Exit;
    }
    if (rename(tmp, to) != 0) {
        fprintf(stderr, "hoso: cannot rename %s to %s: %s\n", tmp, to, strerror(errno));
        rc = HOSO_EIO;
        goto Exit;
    }
    if (with_key && rename(keytmp, keypath) != 0) {
        fprintf(stderr, "hoso: cannot rename %s to %s: %s\n", keytmp, keypath, strerror(errno));
        unlink(to); /* never a backup beside another backup's key */
        rc = HOSO_EIO;
        goto Exit;
    }
    if (!with_key && force)
        unlink(keypath); /* the key of the backup this one replaces */
    remove_files_dir(files); /* those of the backup this one replaces */
    if (access(filestmp, F_OK) == 0 && rename(filestmp, files) != 0) {
        fprintf(stderr, "hoso: cannot rename %s to %s: %s\n", filestmp, files, strerror(errno));
        rc = HOSO_EIO;
        goto Exit;
    }
    if (nfiles > 0) fprintf(stderr, "hoso: %llu uploaded files copied to %s\n", (unsigned long long)nfiles, files);
    sync_parent(to);
Exit:
    remove_files_dir(filestmp);
    unlink(tmp);
    unlink(keytmp);
    if (master) sodium_free(master);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Restore */

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = HOSO_EIO;
    uint8_t *buf = NULL;
    if (in < 0) {
        fprintf(stderr, "hoso: cannot open %s: %s\n", from, strerror(errno));
        return errno == ENOENT ? HOSO_ENOT_FOUND : HOSO_EIO;
    }
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0 || !(buf = malloc(CHUNK))) {
        fprintf(stderr, "hoso: cannot create %s: %s\n", to, strerror(errno));
        goto Exit;
    }
    for (;;) {
        ssize_t n = read(in, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = HOSO_EIO;
            goto Exit;
        }
        if (n == 0) break;
        if ((rc = hoso__write_all(out, buf, (size_t)n)) != 0) {
            fprintf(stderr, "hoso: writing %s failed: %s\n", to, strerror(errno));
            goto Exit;
        }
    }
    rc = fsync(out) == 0 ? 0 : HOSO_EIO;
Exit:
    free(buf);
    if (out >= 0) close(out);
    close(in);
    return rc;
}

/* Moves what the data dir holds (lmdb/, secret.key: either may be there alone) into a
 * new DIR/replaced.<time>/, never deleting it, then moves the staged lmdb/ and
 * secret.key in. On any failure what was moved is moved back, and the data dir is as
 * it was. */
static int swap_in(const char *dir, const char *stage)
{
    static const char *const names[] = {"lmdb", "secret.key", "files"};
    enum { N = 3 };
    char aside[PATH_MAX], from[PATH_MAX + 64], to[PATH_MAX + 64];
    int moved[N] = {0}, placed[N] = {0}, have_aside = 0, rc = HOSO_EIO;

    if (snprintf(aside, sizeof aside, "%s/replaced.%lld", dir, (long long)time(NULL)) >= (int)sizeof aside)
        return HOSO_EIO;
    for (int i = 0; i < N; i++) {
        snprintf(from, sizeof from, "%s/%s", dir, names[i]);
        if (access(from, F_OK) != 0)
            continue;
        if (!have_aside && mkdir(aside, 0700) != 0) {
            fprintf(stderr, "hoso: cannot create %s: %s\n", aside, strerror(errno));
            goto Undo;
        }
        have_aside = 1;
        snprintf(to, sizeof to, "%s/%s", aside, names[i]);
        if (rename(from, to) != 0) {
            fprintf(stderr, "hoso: cannot move %s to %s: %s\n", from, to, strerror(errno));
            goto Undo;
        }
        moved[i] = 1;
    }
    for (int i = 0; i < N; i++) {
        snprintf(from, sizeof from, "%s/%s", stage, names[i]);
        snprintf(to, sizeof to, "%s/%s", dir, names[i]);
        if (i == 2 && access(from, F_OK) != 0)
            continue; /* a backup without uploaded files */
        if (rename(from, to) != 0) {
            fprintf(stderr, "hoso: cannot move %s to %s: %s\n", from, to, strerror(errno));
            goto Undo;
        }
        placed[i] = 1;
    }
    sync_parent(to);
    if (have_aside)
        fprintf(stderr, "hoso: what the data dir held before is kept in %s\n", aside);
    return 0;
Undo:
    for (int i = 0; i < N; i++) {
        if (placed[i]) {
            snprintf(from, sizeof from, "%s/%s", dir, names[i]);
            snprintf(to, sizeof to, "%s/%s", stage, names[i]);
            if (rename(from, to) != 0)
                fprintf(stderr, "hoso: cannot move %s back to %s: %s\n", from, to, strerror(errno));
        }
        if (moved[i]) {
            snprintf(from, sizeof from, "%s/%s", aside, names[i]);
            snprintf(to, sizeof to, "%s/%s", dir, names[i]);
            if (rename(from, to) != 0)
                fprintf(stderr, "hoso: cannot move %s back to %s: %s\n", from, to, strerror(errno));
        }
    }
    if (have_aside)
        rmdir(aside);
    return rc;
}

int hoso_store_restore(const char *from, const char *key_from, const char *dir, int force, char epoch_out[33])
{
    char stage[PATH_MAX], lmdb[PATH_MAX], key[PATH_MAX], keysrc[PATH_MAX], p[PATH_MAX + 64];
    hoso_store *s = NULL;
    hoso_store_options so;
    int rc = HOSO_EIO, lock = -1;
    long holder = 0;

    if (!key_from) {
        if (snprintf(keysrc, sizeof keysrc, "%s.key", from) >= (int)sizeof keysrc) return HOSO_EIO;
        key_from = keysrc;
    }
    if (access(from, R_OK) != 0 || access(key_from, R_OK) != 0) {
        fprintf(stderr, "hoso: cannot read %s: %s\n", access(from, R_OK) != 0 ? from : key_from, strerror(errno));
        return HOSO_ENOT_FOUND;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "hoso: cannot create %s: %s\n", dir, strerror(errno));
        return HOSO_EIO;
    }
    if ((rc = hoso_dir_lock(dir, &lock, &holder)) != 0) {
        if (rc == HOSO_ELOCKED)
            fprintf(stderr, "hoso: %s is served by a running hosod (pid %ld): stop it first\n", dir, holder);
        return rc;
    }
    if (hoso_store_exists(dir) && !force) {
        fprintf(stderr, "hoso: %s already holds data: restore into an empty data dir, or --force to put the "
                        "current data aside and replace it\n", dir);
        rc = HOSO_EALREADY_EXISTS;
        goto Exit;
    }
    /* Staged next to its place, checked with its key and given its new epoch, then
     * swapped in: a failure at any step leaves the data dir as it was. */
    if (snprintf(stage, sizeof stage, "%s/restore.%ld", dir, (long)getpid()) >= (int)sizeof stage ||
        snprintf(lmdb, sizeof lmdb, "%s/lmdb", stage) >= (int)sizeof lmdb ||
        snprintf(key, sizeof key, "%s/secret.key", stage) >= (int)sizeof key ||
        snprintf(p, sizeof p, "%s/data.mdb", lmdb) >= (int)sizeof p) {
        rc = HOSO_EIO;
        goto Exit;
    }
    if (mkdir(stage, 0700) != 0 || mkdir(lmdb, 0700) != 0) {
        fprintf(stderr, "hoso: cannot create %s: %s\n", lmdb, strerror(errno));
        rc = HOSO_EIO;
        goto Cleanup;
    }
    if ((rc = copy_file(from, p, 0600)) != 0 || (rc = copy_file(key_from, key, 0600)) != 0) goto Cleanup;
    {
        char fsrc[PATH_MAX + 8], fdst[PATH_MAX + 8];
        uint64_t nfiles = 0;
        snprintf(fsrc, sizeof fsrc, "%s.files", from);
        snprintf(fdst, sizeof fdst, "%s/files", stage);
        if ((rc = copy_files_dir(fsrc, fdst, &nfiles)) != 0) goto Cleanup;
    }
    memset(&so, 0, sizeof so);
    so.must_exist = 1;
    if ((rc = hoso_store_open(&s, stage, &so)) != 0) {
        if (rc == HOSO_EKEY_MISMATCH) fprintf(stderr, "hoso: the key file %s does not go with the backup %s\n", key_from, from);
        goto Cleanup;
    }
    if ((rc = hoso__new_epoch(s)) != 0) goto Cleanup;
    if (epoch_out) memcpy(epoch_out, hoso_store_epoch(s), 33);
    hoso_store_close(s);
    s = NULL;
    rc = swap_in(dir, stage);
Cleanup:
    if (s) hoso_store_close(s);
    /* What is left of the stage after a swap or a failure. */
    snprintf(p, sizeof p, "%s/files", stage);
    remove_files_dir(p);
    unlink(key);
    snprintf(p, sizeof p, "%s/data.mdb", lmdb);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", lmdb);
    unlink(p);
    rmdir(lmdb);
    rmdir(stage);
Exit:
    hoso_dir_unlock(lock);
    return rc;
}
