/*
 * env.c - the LMDB environment: opening the data dir, the key file and its check, the
 * named tables, epoch and schema version, statistics, and LMDB error translation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <sodium.h>
#include "internal.h"

#define DEFAULT_MAP_SIZE ((size_t)16 << 30)
#define DEFAULT_MAX_READERS 1024
#define KDF_CONTEXT "hoso_key"
#define KEY_CHECK_TEXT "hoso key check v1"

static const char *const DB_NAMES[HOSO__DB_COUNT] = {
#define HOSO__DB_NAME(id, name) name,
    HOSO__DBS(HOSO__DB_NAME)
#undef HOSO__DB_NAME
};

int hoso__mdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return HOSO_ENOT_FOUND;
    case MDB_KEYEXIST:
        return HOSO_EALREADY_EXISTS;
    case MDB_MAP_FULL:
        return HOSO_ESTORAGE_FULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return HOSO_ECORRUPT;
    case ENOMEM:
        return HOSO_ENOMEM;
    case ENOSPC:
        /* The disk filled before the map did: same remedy for the operator. */
        return HOSO_ESTORAGE_FULL;
    default:
        return HOSO_EIO;
    }
}

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "hoso: cannot create %s: %s\n", path, strerror(errno));
    return HOSO_EIO;
}

int hoso__write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 && errno == ENOSPC ? HOSO_ESTORAGE_FULL : HOSO_EIO;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes a new 0600 file at path without ever exposing a partial one: the bytes go to
 * a temporary name first and link() publishes it, failing if path already exists. */
int hoso__create_secret_file(const char *path, const uint8_t *key, size_t len)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = HOSO_EIO;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) return HOSO_EIO;
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "hoso: cannot create %s: %s\n", tmp, strerror(errno));
        goto Exit;
    }
    if (hoso__write_all(fd, key, len) != 0 || fsync(fd) != 0) {
        fprintf(stderr, "hoso: cannot write %s: %s\n", tmp, strerror(errno));
        goto Exit;
    }
    if (link(tmp, path) != 0) {
        /* Another process created it first: keep theirs, the caller reads it back. */
        if (errno != EEXIST) {
            fprintf(stderr, "hoso: cannot create %s: %s\n", path, strerror(errno));
            goto Exit;
        }
    }
    rc = 0;
Exit:
    if (fd >= 0) close(fd);
    unlink(tmp);
    return rc;
}

int hoso__read_key_file(const char *path, uint8_t *key)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = HOSO_EIO;
    struct stat st;
    if (fd < 0) {
        fprintf(stderr, "hoso: cannot open key file %s: %s\n", path, strerror(errno));
        goto Exit;
    }
    if (fstat(fd, &st) != 0) goto Exit;
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        fprintf(stderr, "hoso: key file %s must be a regular file of mode 0600 (is %03o)\n", path,
                (unsigned)(st.st_mode & 0777));
        goto Exit;
    }
    if (st.st_size != HOSO__KEY_BYTES) {
        fprintf(stderr, "hoso: key file %s has %lld bytes, expected %d\n", path, (long long)st.st_size,
                HOSO__KEY_BYTES);
        goto Exit;
    }
    size_t got = 0;
    while (got < HOSO__KEY_BYTES) {
        ssize_t n = read(fd, key + got, HOSO__KEY_BYTES - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fprintf(stderr, "hoso: cannot read key file %s\n", path);
            goto Exit;
        }
        got += (size_t)n;
    }
    rc = 0;
Exit:
    if (fd >= 0) close(fd);
    return rc;
}

/* The master key never serves two purposes: the sealing key and the account id key
 * are derived from it, and only they stay in memory. */
static int load_keys(hoso_store *s, const char *dir)
{
    char path[PATH_MAX];
    uint8_t *master = sodium_malloc(HOSO__KEY_BYTES);
    int rc = HOSO_ENOMEM;
    s->seal_key = sodium_malloc(HOSO__KEY_BYTES);
    s->id_key = sodium_malloc(HOSO__KEY_BYTES);
    s->mac_key = sodium_malloc(HOSO__KEY_BYTES);
    if (!master || !s->seal_key || !s->id_key || !s->mac_key) goto Exit;
    rc = HOSO_EIO;
    if (snprintf(path, sizeof path, "%s/secret.key", dir) >= (int)sizeof path) goto Exit;
    if (access(path, F_OK) != 0) {
        if (errno != ENOENT || s->read_only) {
            fprintf(stderr, "hoso: no key file %s: %s\n", path, strerror(errno));
            goto Exit;
        }
        /* A new key would make every sealed value unreadable: only a new store gets one. */
        char data[PATH_MAX];
        if (snprintf(data, sizeof data, "%s/lmdb/data.mdb", dir) >= (int)sizeof data) goto Exit;
        if (access(data, F_OK) == 0) {
            fprintf(stderr, "hoso: %s holds data but its key file %s is missing\n", dir, path);
            goto Exit;
        }
        randombytes_buf(master, HOSO__KEY_BYTES);
        if ((rc = hoso__create_secret_file(path, master, HOSO__KEY_BYTES)) != 0) goto Exit;
    }
    if ((rc = hoso__read_key_file(path, master)) != 0) goto Exit;
    crypto_kdf_derive_from_key(s->seal_key, HOSO__KEY_BYTES, 1, KDF_CONTEXT, master);
    crypto_kdf_derive_from_key(s->id_key, HOSO__KEY_BYTES, 2, KDF_CONTEXT, master);
    crypto_kdf_derive_from_key(s->mac_key, HOSO__KEY_BYTES, 4, KDF_CONTEXT, master);
    /* The check is a third subkey's hash of a constant: it tells keys apart and says
     * nothing about the other two. */
    uint8_t check_key[crypto_generichash_KEYBYTES];
    crypto_kdf_derive_from_key(check_key, sizeof check_key, 3, KDF_CONTEXT, master);
    crypto_generichash(s->key_check, sizeof s->key_check, (const uint8_t *)KEY_CHECK_TEXT,
                       sizeof(KEY_CHECK_TEXT) - 1, check_key, sizeof check_key);
    sodium_memzero(check_key, sizeof check_key);
    snprintf(s->key_path, sizeof s->key_path, "%s", path);
    sodium_mprotect_readonly(s->seal_key);
    sodium_mprotect_readonly(s->id_key);
    sodium_mprotect_readonly(s->mac_key);
    rc = 0;
Exit:
    if (master) sodium_free(master); /* sodium_free wipes it */
    return rc;
}

/* Schema version and epoch live in meta; both are made by the first open. */
/* A new random epoch stored in txn, as hex into hex (a client that saw another epoch
 * reloads everything). */
static int put_new_epoch(hoso_store *s, MDB_txn *txn, char hex[33])
{
    uint8_t buf[16];
    MDB_val k = {5, "epoch"}, v = {sizeof buf, buf};
    randombytes_buf(buf, sizeof buf);
    int rc = mdb_put(txn, s->dbi[HOSO__DB_META], &k, &v, 0);
    if (rc) return hoso__mdb_err(rc);
    sodium_bin2hex(hex, 33, buf, sizeof buf);
    return 0;
}

static int init_meta(hoso_store *s, MDB_txn *txn)
{
    MDB_val k = {6, "schema"}, v;
    uint8_t buf[16];
    int rc = mdb_get(txn, s->dbi[HOSO__DB_META], &k, &v);
    if (rc == MDB_NOTFOUND && !s->read_only) {
        hoso_be64_put(buf, HOSO__SCHEMA_VERSION);
        v.mv_size = 8, v.mv_data = buf;
        rc = mdb_put(txn, s->dbi[HOSO__DB_META], &k, &v, 0);
        if (rc) return hoso__mdb_err(rc);
        /* A new store keeps its indexes from the first write: nothing to build later
         * (storage/due.c, ratings.c build them once for stores made before them). */
        static const char *const BUILT[] = {HOSO__BUILT_MARKS};
        for (size_t i = 0; i < sizeof BUILT / sizeof BUILT[0]; i++) {
            MDB_val bk = {strlen(BUILT[i]), (void *)BUILT[i]}, bv = {1, "1"};
            if ((rc = mdb_put(txn, s->dbi[HOSO__DB_META], &bk, &bv, 0)) != 0) return hoso__mdb_err(rc);
        }
        rc = mdb_get(txn, s->dbi[HOSO__DB_META], &k, &v);
    }
    if (rc) return rc == MDB_NOTFOUND ? HOSO_ECORRUPT : hoso__mdb_err(rc);
    if (v.mv_size != 8) return HOSO_ECORRUPT;
    uint64_t ver = hoso_be64_get(v.mv_data);
    if (ver > HOSO__SCHEMA_VERSION) {
        fprintf(stderr, "hoso: data schema %llu is newer than this build (%d)\n", (unsigned long long)ver,
                HOSO__SCHEMA_VERSION);
        return HOSO_ECORRUPT;
    }

    k.mv_size = 5, k.mv_data = "epoch";
    rc = mdb_get(txn, s->dbi[HOSO__DB_META], &k, &v);
    if (rc == MDB_NOTFOUND && !s->read_only) {
        if ((rc = put_new_epoch(s, txn, s->epoch)) != 0) return rc;
    } else {
        if (rc) return rc == MDB_NOTFOUND ? HOSO_ECORRUPT : hoso__mdb_err(rc);
        if (v.mv_size != 16) return HOSO_ECORRUPT;
        sodium_bin2hex(s->epoch, sizeof s->epoch, v.mv_data, 16);
    }

    /* A store made before the key check gets it at its next writable open. */
    k.mv_size = 9, k.mv_data = "key_check";
    rc = mdb_get(txn, s->dbi[HOSO__DB_META], &k, &v);
    if (rc == MDB_NOTFOUND && !s->read_only) {
        v.mv_size = sizeof s->key_check, v.mv_data = s->key_check;
        if ((rc = mdb_put(txn, s->dbi[HOSO__DB_META], &k, &v, 0)) != 0) return hoso__mdb_err(rc);
        return 0;
    }
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return hoso__mdb_err(rc);
    if (v.mv_size != sizeof s->key_check || sodium_memcmp(v.mv_data, s->key_check, sizeof s->key_check) != 0) {
        fprintf(stderr, "hoso: the key file %s does not match the data in this data dir: it was made with another "
                        "key (restore the key file that goes with this data)\n",
                s->key_path);
        return HOSO_EKEY_MISMATCH;
    }
    return 0;
}

static int open_tables(hoso_store *s)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
    if (rc) {
        rc = hoso__mdb_err(rc);
        goto Exit;
    }
    for (int i = 0; i < HOSO__DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, DB_NAMES[i], s->read_only ? 0 : MDB_CREATE, &s->dbi[i]);
        if (rc) {
            fprintf(stderr, "hoso: cannot open table %s: %s\n", DB_NAMES[i], mdb_strerror(rc));
            rc = rc == MDB_NOTFOUND ? HOSO_ECORRUPT : hoso__mdb_err(rc);
            goto Exit;
        }
    }
    if ((rc = init_meta(s, txn)) != 0) goto Exit;
    hoso_txn t = {.s = s, .txn = txn, .rdonly = 1};
    uint64_t head = 0;
    uint8_t hash[32];
    if ((rc = hoso__log_head(&t, &head, hash)) != 0) goto Exit;
    atomic_store(&s->log_head, head);
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) rc = hoso__mdb_err(rc);
Exit:
    if (txn) mdb_txn_abort(txn);
    return rc;
}

int hoso_store_open(hoso_store **out, const char *dir, const hoso_store_options *opt)
{
    hoso_store *s = NULL;
    char path[PATH_MAX];
    int rc, dead = 0;
    *out = NULL;
    if (sodium_init() < 0) {
        fprintf(stderr, "hoso: libsodium failed to initialize\n");
        return HOSO_EIO;
    }
    if (!(s = calloc(1, sizeof *s))) return HOSO_ENOMEM;
    static _Atomic uint64_t opens;
    s->gen = atomic_fetch_add(&opens, 1) + 1;
    s->read_only = opt && opt->read_only;
    s->map_size = opt && opt->map_size ? opt->map_size : 0;
    s->max_readers = opt && opt->max_readers ? opt->max_readers : DEFAULT_MAX_READERS;
    s->feed_max_events = opt ? opt->feed_max_events : 0;
    s->feed_max_age_ms = opt && opt->feed_max_age_ms > 0 ? opt->feed_max_age_ms : 0;

    rc = HOSO_EIO;
    if (snprintf(path, sizeof path, "%s/lmdb", dir) >= (int)sizeof path) goto Exit;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (opt && opt->must_exist && !hoso_store_exists(dir)) {
        fprintf(stderr, "hoso: %s holds no hoso data (no lmdb/data.mdb in it)\n", dir);
        rc = HOSO_ENOT_FOUND;
        goto Exit;
    }
    if (!s->read_only && ((rc = mkdir_p(dir)) != 0 || (rc = mkdir_p(path)) != 0)) goto Exit;
    if ((rc = load_keys(s, dir)) != 0) goto Exit;

    if ((rc = mdb_env_create(&s->env)) != 0) {
        s->env = NULL;
        rc = hoso__mdb_err(rc);
        goto Exit;
    }
    /* No MDB_WRITEMAP (nested transactions need it off), no MDB_NOSYNC (a 2xx promises
     * durability), no MDB_NOTLS (read transactions stay bound to their thread). */
    /* Without a size LMDB keeps the one stored in the file (the last size a writer
     * set), so a map grown with --map-size stays grown; only a smaller one than the
     * default is raised to it, after the open. */
    if ((rc = mdb_env_set_maxdbs(s->env, HOSO__DB_COUNT + 4)) != 0 ||
        (s->map_size && (rc = mdb_env_set_mapsize(s->env, s->map_size)) != 0) ||
        (rc = mdb_env_set_maxreaders(s->env, s->max_readers)) != 0 ||
        (rc = mdb_env_open(s->env, path, s->read_only ? MDB_RDONLY : 0, 0600)) != 0) {
        fprintf(stderr, "hoso: cannot open LMDB environment %s: %s\n", path, mdb_strerror(rc));
        rc = hoso__mdb_err(rc);
        goto Exit;
    }
    if (!s->map_size && !s->read_only) {
        MDB_envinfo info;
        mdb_env_info(s->env, &info);
        if (info.me_mapsize < DEFAULT_MAP_SIZE && (rc = mdb_env_set_mapsize(s->env, DEFAULT_MAP_SIZE)) != 0) {
            fprintf(stderr, "hoso: cannot size the LMDB map of %s: %s\n", path, mdb_strerror(rc));
            rc = hoso__mdb_err(rc);
            goto Exit;
        }
    }
    /* Slots left by crashed processes would otherwise pin old pages forever. */
    mdb_reader_check(s->env, &dead);
    if ((rc = open_tables(s)) != 0) goto Exit;
    *out = s;
    s = NULL;
Exit:
    if (s) hoso_store_close(s);
    return rc;
}

int hoso__new_epoch(hoso_store *s)
{
    MDB_txn *txn = NULL;
    char epoch[sizeof s->epoch];
    int rc;
    if (s->read_only) return HOSO_EIO;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) return hoso__mdb_err(rc);
    if ((rc = put_new_epoch(s, txn, epoch)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) return hoso__mdb_err(rc);
    memcpy(s->epoch, epoch, sizeof epoch);
    return 0;
}

int hoso_store_exists(const char *dir)
{
    char data[PATH_MAX];
    if (snprintf(data, sizeof data, "%s/lmdb/data.mdb", dir) >= (int)sizeof data) return 0;
    return access(data, F_OK) == 0;
}

void hoso_store_close(hoso_store *s)
{
    if (!s) return;
    if (s->env) mdb_env_close(s->env);
    /* sodium_free wipes the memory before releasing it. */
    if (s->seal_key) sodium_free(s->seal_key);
    if (s->id_key) sodium_free(s->id_key);
    if (s->mac_key) sodium_free(s->mac_key);
    free(s);
}

const char *hoso_store_epoch(const hoso_store *s)
{
    return s->epoch;
}

void hoso_store_key_check(const hoso_store *s, char out[65])
{
    sodium_bin2hex(out, 65, s->key_check, sizeof s->key_check);
}

void hoso_store_mac(const hoso_store *s, const void *data, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, data, len, s->mac_key, HOSO__KEY_BYTES);
}

void hoso_store_set_seq_source(hoso_store *s, hoso_seq_source next, void *ctx)
{
    s->seq_next = next;
    s->seq_ctx = ctx;
}

int hoso_store_stats_get(hoso_store *s, hoso_store_stats *st)
{
    MDB_envinfo info;
    MDB_stat ms;
    int rc;
    memset(st, 0, sizeof *st);
    if ((rc = mdb_env_info(s->env, &info)) != 0 || (rc = mdb_env_stat(s->env, &ms)) != 0)
        return hoso__mdb_err(rc);
    st->map_size = info.me_mapsize;
    st->full = atomic_load(&s->full);
    hoso__disk_free(s, &st->disk_free);
    st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
    st->readers_used = info.me_numreaders;
    st->max_readers = info.me_maxreaders;
    /* Kept in memory so that a thread holding its read txn can still ask. */
    st->log_head = atomic_load(&s->log_head);
    return 0;
}
