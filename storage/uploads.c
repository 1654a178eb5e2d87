/*
 * uploads.c - resumable uploads and the files they become (see hoso_storage.h).
 *
 * Tables: uploads (id -> the upload's state, its key sealed), files (id -> the file's
 * metadata, its key sealed), and the per-account quota in meta ("upq:" + owner).
 * Bytes live under the data dir: uploads/<id> while the upload runs, then files/<id>
 * (a rename: the bytes are never copied). Each file has its own random key; its bytes
 * are XChaCha20 with that key and a random nonce, at the same offsets as the plain
 * bytes, so a chunk can be written and a range read at any offset. The key is sealed
 * under the server key (AEAD, the id as associated data): destroying the record erases
 * the file. The sha256 of the plain bytes is kept, incrementally, with the upload.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "internal.h"

/* ---------------------------------------------------------------------------------- */
/* Blobs */

static int blob_path(hoso_store *s, const char *id, int part, char *out, size_t n)
{
    if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32) return HOSO_EBAD_REQUEST;
    return snprintf(out, n, "%s/%s/%s", s->dir, part ? "uploads" : "files", id) >= (int)n ? HOSO_EIO : 0;
}

static int ensure_dir(hoso_store *s, const char *name)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", s->dir, name) >= (int)sizeof path) return HOSO_EIO;
    if (mkdir(path, 0700) != 0 && errno != EEXIST) return HOSO_EIO;
    return 0;
}

/* XChaCha20 keystream XOR at any byte offset: whole 64-byte blocks from the block
 * counter, the first partial block through a scratch block. */
static void xor_at(uint8_t *buf, size_t n, uint64_t off, const uint8_t key[32], const uint8_t nonce[24])
{
    size_t head = (size_t)(off % 64);
    uint64_t block = off / 64;
    if (head != 0) {
        uint8_t tmp[64] = {0};
        size_t k = 64 - head < n ? 64 - head : n;
        memcpy(tmp + head, buf, k);
        crypto_stream_xchacha20_xor_ic(tmp, tmp, 64, nonce, block, key);
        memcpy(buf, tmp + head, k);
        sodium_memzero(tmp, sizeof tmp);
        buf += k;
        n -= k;
        block++;
    }
    if (n > 0) crypto_stream_xchacha20_xor_ic(buf, buf, n, nonce, block, key);
}

int hoso_blob_write(hoso_store *s, const hoso_upload *u, uint64_t off, void *buf, size_t n)
{
    char path[PATH_MAX];
    uint8_t *ct = buf;
    int fd = -1, rc;
    if ((rc = blob_path(s, u->id, 1, path, sizeof path)) != 0 || (rc = ensure_dir(s, "uploads")) != 0) return rc;
    /* In place: a piece in flight costs its own size once, not twice. */
    if (n > 0) xor_at(ct, n, off, u->key, u->nonce);
    rc = HOSO_EIO;
    /* Only the first piece makes the part: a later one whose part is gone (or shorter
     * than its offset) must not make a sparse file that would finish as garbage. */
    if ((fd = open(path, O_WRONLY | O_CLOEXEC | (off == 0 ? O_CREAT : 0), 0600)) < 0) {
        rc = errno == ENOENT ? HOSO_ENOT_FOUND : HOSO_EIO;
        goto Exit;
    }
    struct stat st;
    if (off > 0 && (fstat(fd, &st) != 0 || (uint64_t)st.st_size < off)) {
        rc = HOSO_ENOT_FOUND;
        goto Exit;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(fd, ct + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = errno == ENOSPC || errno == EDQUOT ? HOSO_ESTORAGE_FULL : HOSO_EIO;
            goto Exit;
        }
        done += (size_t)w;
    }
    /* What is acknowledged is on disk: the offset is committed only after this. */
    if (fdatasync(fd) != 0) {
        rc = errno == ENOSPC ? HOSO_ESTORAGE_FULL : HOSO_EIO;
        goto Exit;
    }
    rc = 0;
Exit:
    if (fd >= 0) close(fd);
    return rc;
}

int hoso_blob_finish(hoso_store *s, const char *id)
{
    char from[PATH_MAX], to[PATH_MAX], dir[PATH_MAX];
    int rc, fd;
    if ((rc = blob_path(s, id, 1, from, sizeof from)) != 0 || (rc = blob_path(s, id, 0, to, sizeof to)) != 0 ||
        (rc = ensure_dir(s, "files")) != 0)
        return rc;
    /* A second name, not a rename: if the commit that records the file fails, the part
     * is still there for the piece to be sent again (same key, same bytes). The part's
     * name is removed once the file is committed. */
    if (link(from, to) != 0 && errno != EEXIST) return HOSO_EIO;
    /* The new name is durable once the directory is. */
    if (snprintf(dir, sizeof dir, "%s/files", s->dir) >= (int)sizeof dir) return HOSO_EIO;
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        rc = fsync(fd) == 0 ? 0 : HOSO_EIO;
        close(fd);
    }
    return rc;
}

void hoso_blob_remove(hoso_store *s, const char *id, int part)
{
    char path[PATH_MAX];
    if (blob_path(s, id, part, path, sizeof path) == 0) unlink(path);
}

int hoso_blob_open(hoso_store *s, const char *id, int *fd)
{
    char path[PATH_MAX];
    int rc = blob_path(s, id, 0, path, sizeof path);
    if (rc) return rc;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    return *fd >= 0 ? 0 : errno == ENOENT ? HOSO_ENOT_FOUND : HOSO_EIO;
}

ssize_t hoso_blob_read(int fd, const hoso_file *f, uint64_t off, void *buf, size_t n)
{
    ssize_t r;
    do r = pread(fd, buf, n, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r > 0) xor_at(buf, (size_t)r, off, f->key, f->nonce);
    return r;
}

/* 1 if id (a name under uploads/ or files/) is still needed, 0 if not, <0 on error. */
static int blob_wanted(hoso_txn *t, const char *id, int part)
{
    MDB_val v;
    int rc;
    if (!part) {
        rc = hoso__get(t, HOSO__DB_FILES, id, 32, &v);
        return rc == 0 ? 1 : rc == HOSO_ENOT_FOUND ? 0 : rc;
    }
    hoso_upload u;
    rc = hoso_upload_get(t, id, &u);
    int open = rc == 0 && u.offset < u.length;
    sodium_memzero(&u, sizeof u);
    /* A corrupt record cannot be resumed either: its part goes with the next sweep. */
    return rc == 0 || rc == HOSO_ENOT_FOUND || rc == HOSO_ECORRUPT ? open : rc;
}

static int tidy_dir(hoso_store *s, hoso_txn *t, int part, size_t *removed)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct dirent *e;
    int rc = 0;
    if (snprintf(dir, sizeof dir, "%s/%s", s->dir, part ? "uploads" : "files") >= (int)sizeof dir) return HOSO_EIO;
    DIR *d = opendir(dir);
    if (d == NULL) return errno == ENOENT ? 0 : HOSO_EIO;
    while (rc >= 0 && (e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 32 || strspn(e->d_name, "0123456789abcdef") != 32) continue;
        if ((rc = blob_wanted(t, e->d_name, part)) != 0) continue;
        if (blob_path(s, e->d_name, part, path, sizeof path) == 0 && unlink(path) == 0) (*removed)++;
    }
    closedir(d);
    return rc < 0 ? rc : 0;
}

int hoso_blobs_tidy(hoso_store *s, size_t *parts, size_t *files)
{
    hoso_txn *t = NULL;
    int rc = hoso_txn_read(s, &t);
    *parts = *files = 0;
    if (rc) return rc;
    rc = tidy_dir(s, t, 1, parts);
    if (rc == 0) rc = tidy_dir(s, t, 0, files);
    hoso_txn_abort(t);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Records */

static int seal_key(hoso_txn *t, const char *id, const uint8_t key[32], const uint8_t nonce[24], uint8_t **out,
                    size_t *len)
{
    uint8_t both[56];
    memcpy(both, key, 32);
    memcpy(both + 32, nonce, 24);
    int rc = hoso_seal(t->s, both, sizeof both, id, strlen(id), out, len);
    sodium_memzero(both, sizeof both);
    return rc;
}

static int open_key(hoso_txn *t, const char *id, const msgpack_object *o, uint8_t key[32], uint8_t nonce[24])
{
    uint8_t *pt = NULL;
    size_t n = 0;
    int rc;
    if (!o || o->type != MSGPACK_OBJECT_BIN) return HOSO_ECORRUPT;
    if ((rc = hoso_open(t->s, o->via.bin.ptr, o->via.bin.size, id, strlen(id), &pt, &n)) != 0) return rc;
    if (n != 56) rc = HOSO_ECORRUPT;
    else {
        memcpy(key, pt, 32);
        memcpy(nonce, pt + 32, 24);
    }
    sodium_memzero(pt, n);
    free(pt);
    return rc;
}

static int get_bin(const msgpack_object *m, const char *k, void *out, size_t n, size_t *got)
{
    const msgpack_object *o = hoso_map_get(m, k);
    if (!o || o->type == MSGPACK_OBJECT_NIL) {
        if (got) *got = 0;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size > n || (!got && o->via.bin.size != n)) return HOSO_ECORRUPT;
    memcpy(out, o->via.bin.ptr, o->via.bin.size);
    if (got) *got = o->via.bin.size;
    return 0;
}

int hoso_upload_put(hoso_txn *t, const hoso_upload *u)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t *sealed = NULL;
    size_t slen = 0;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0 || (rc = seal_key(t, u->id, u->key, u->nonce, &sealed, &slen)) != 0) goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 10) || hoso_pack_kcstr(&pk, "owner", u->owner) ||
        hoso_pack_kint(&pk, "length", (int64_t)u->length) || hoso_pack_kint(&pk, "offset", (int64_t)u->offset) ||
        hoso_pack_kint(&pk, "created", u->created) || hoso_pack_kint(&pk, "expires", u->expires) ||
        hoso_pack_kcstr(&pk, "name", u->name) || hoso_pack_kcstr(&pk, "type", u->type) ||
        hoso_pack_kbin(&pk, "sha", u->sha, sizeof u->sha) || hoso_pack_kbin(&pk, "magic", u->magic, u->nmagic) ||
        hoso_pack_kbin(&pk, "key", sealed, slen))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_UPLOADS, u->id, strlen(u->id), sb.data, sb.size, 0);
Exit:
    free(sealed);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_upload_get(hoso_txn *t, const char *id, hoso_upload *u)
{
    MDB_val v;
    msgpack_unpacked m;
    int64_t length = 0, offset = 0;
    int rc;
    memset(u, 0, sizeof *u);
    if (strlen(id) != 32) return HOSO_ENOT_FOUND;
    if ((rc = hoso__get(t, HOSO__DB_UPLOADS, id, strlen(id), &v)) != 0) return rc;
    snprintf(u->id, sizeof u->id, "%s", id);
    if ((rc = hoso__unpack(&m, v.mv_data, v.mv_size)) == 0 &&
        (rc = hoso__mcopy(&m.data, "owner", u->owner, sizeof u->owner)) == 0 &&
        (rc = hoso__mint(&m.data, "length", 0, &length)) == 0 && (rc = hoso__mint(&m.data, "offset", 0, &offset)) == 0 &&
        (rc = hoso__mint(&m.data, "created", 0, &u->created)) == 0 &&
        (rc = hoso__mint(&m.data, "expires", 0, &u->expires)) == 0 &&
        (rc = hoso__mcopy(&m.data, "name", u->name, sizeof u->name)) == 0 &&
        (rc = hoso__mcopy(&m.data, "type", u->type, sizeof u->type)) == 0 &&
        (rc = get_bin(&m.data, "sha", u->sha, sizeof u->sha, NULL)) == 0 &&
        (rc = get_bin(&m.data, "magic", u->magic, sizeof u->magic, &u->nmagic)) == 0)
        rc = open_key(t, id, hoso_map_get(&m.data, "key"), u->key, u->nonce);
    msgpack_unpacked_destroy(&m);
    u->length = (uint64_t)length;
    u->offset = (uint64_t)offset;
    return rc;
}

int hoso_upload_del(hoso_txn *t, const char *id)
{
    return hoso__del(t, HOSO__DB_UPLOADS, id, strlen(id));
}

int hoso_upload_expired(hoso_txn *t, int64_t now_ms, size_t limit,
                        int (*fn)(void *ctx, const char *id, const char *owner, int finished), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    size_t n = 0;
    int rc = hoso__cursor(t, HOSO__DB_UPLOADS, &c), mrc;
    if (rc) return rc;
    /* Open uploads are few (each account has at most a handful, and they end within a
     * day), so a walk is cheap; limit bounds one sweep. */
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && n < limit; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        msgpack_unpacked m;
        int64_t expires = 0, offset = 0, length = 0;
        char id[33], owner[33];
        if (k.mv_size != 32) continue;
        memcpy(id, k.mv_data, 32);
        id[32] = '\0';
        if ((rc = hoso__unpack(&m, v.mv_data, v.mv_size)) == 0 && (rc = hoso__mint(&m.data, "expires", 0, &expires)) == 0 &&
            (rc = hoso__mint(&m.data, "offset", 0, &offset)) == 0 && (rc = hoso__mint(&m.data, "length", 0, &length)) == 0)
            rc = hoso__mcopy(&m.data, "owner", owner, sizeof owner);
        msgpack_unpacked_destroy(&m);
        if (rc == HOSO_ECORRUPT) {
            /* Unreadable, so never resumable: dropped (its part with the next start's
             * tidy), rather than failing every creation's sweep. */
            if ((mrc = mdb_cursor_del(c, 0)) != 0) {
                rc = hoso__mdb_err(mrc);
                break;
            }
            rc = 0;
            n++;
            continue;
        }
        if (rc) break;
        if (expires > now_ms) continue;
        n++;
        if ((rc = fn(ctx, id, owner, offset >= length)) != 0) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

/* file_expiry: expires BE64 + id, the order the sweep walks. */
static void expiry_key(const hoso_file *f, uint8_t key[8 + 32])
{
    hoso_be64_put(key, (uint64_t)f->expires);
    memcpy(key + 8, f->id, 32);
}

/* Drops f's expiry entry (none when it has no expiry). */
static int expiry_del(hoso_txn *t, const hoso_file *f)
{
    uint8_t key[8 + 32];
    int rc;
    if (f->expires <= 0) return 0;
    expiry_key(f, key);
    return (rc = hoso__del(t, HOSO__DB_FILE_EXPIRY, key, sizeof key)) == HOSO_ENOT_FOUND ? 0 : rc;
}

int hoso_file_put(hoso_txn *t, const hoso_file *f)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t *sealed = NULL;
    size_t slen = 0;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0 || (rc = seal_key(t, f->id, f->key, f->nonce, &sealed, &slen)) != 0) goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 8) || hoso_pack_kcstr(&pk, "owner", f->owner) ||
        hoso_pack_kint(&pk, "size", (int64_t)f->size) || hoso_pack_kbin(&pk, "sha256", f->sha256, 32) ||
        hoso_pack_kcstr(&pk, "type", f->media_type) || hoso_pack_kcstr(&pk, "name", f->name) ||
        hoso_pack_kint(&pk, "created", f->created) || hoso_pack_kint(&pk, "expires", f->expires) ||
        hoso_pack_kbin(&pk, "key", sealed, slen))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_FILES, f->id, strlen(f->id), sb.data, sb.size, MDB_NOOVERWRITE);
    if (rc == 0 && f->expires > 0) {
        uint8_t key[8 + 32];
        expiry_key(f, key);
        rc = hoso__put(t, HOSO__DB_FILE_EXPIRY, key, sizeof key, "", 0, 0);
    }
Exit:
    free(sealed);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_file_get(hoso_txn *t, const char *id, hoso_file *f)
{
    MDB_val v;
    msgpack_unpacked m;
    int64_t size = 0;
    int rc;
    memset(f, 0, sizeof *f);
    if (strlen(id) != 32) return HOSO_ENOT_FOUND;
    if ((rc = hoso__get(t, HOSO__DB_FILES, id, strlen(id), &v)) != 0) return rc;
    snprintf(f->id, sizeof f->id, "%s", id);
    if ((rc = hoso__unpack(&m, v.mv_data, v.mv_size)) == 0 &&
        (rc = hoso__mcopy(&m.data, "owner", f->owner, sizeof f->owner)) == 0 &&
        (rc = hoso__mint(&m.data, "size", 0, &size)) == 0 && (rc = get_bin(&m.data, "sha256", f->sha256, 32, NULL)) == 0 &&
        (rc = hoso__mcopy(&m.data, "type", f->media_type, sizeof f->media_type)) == 0 &&
        (rc = hoso__mcopy(&m.data, "name", f->name, sizeof f->name)) == 0 &&
        (rc = hoso__mint(&m.data, "created", 0, &f->created)) == 0 &&
        (rc = hoso__mint(&m.data, "expires", 0, &f->expires)) == 0)
        rc = open_key(t, id, hoso_map_get(&m.data, "key"), f->key, f->nonce);
    msgpack_unpacked_destroy(&m);
    f->size = (uint64_t)size;
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Quota: "upq:" + owner -> {open, day, bytes} */

static void quota_key(const char *owner, char *key, size_t n) { snprintf(key, n, "upq:%s", owner); }

int hoso_upload_quota(hoso_txn *t, const char *owner, int64_t now_ms, int open_delta, uint64_t add_bytes,
                      hoso_upload_usage *use)
{
    char key[48], day[9];
    MDB_val v;
    msgpack_unpacked m;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int64_t open = 0, bytes = 0;
    char stored_day[9] = "";
    int rc;
    quota_key(owner, key, sizeof key);
    hoso__vn_yyyymmdd(now_ms, day);
    rc = hoso__get(t, HOSO__DB_META, key, strlen(key), &v);
    if (rc == 0) {
        if ((rc = hoso__unpack(&m, v.mv_data, v.mv_size)) == 0 && (rc = hoso__mint(&m.data, "open", 0, &open)) == 0 &&
            (rc = hoso__mint(&m.data, "bytes", 0, &bytes)) == 0)
            rc = hoso__mcopy(&m.data, "day", stored_day, sizeof stored_day);
        msgpack_unpacked_destroy(&m);
    } else if (rc == HOSO_ENOT_FOUND) {
        rc = 0;
    }
    if (rc) return rc;
    if (strcmp(stored_day, day) != 0) bytes = 0; /* a new day */
    use->open = (uint64_t)(open > 0 ? open : 0);
    use->bytes_today = (uint64_t)bytes;
    if (open_delta == 0 && add_bytes == 0) return 0;
    open += open_delta;
    if (open < 0) open = 0;
    bytes += (int64_t)add_bytes;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (!msgpack_pack_map(&pk, 3) && !hoso_pack_kint(&pk, "open", open) && !hoso_pack_kcstr(&pk, "day", day) &&
        !hoso_pack_kint(&pk, "bytes", bytes))
        rc = hoso__put(t, HOSO__DB_META, key, strlen(key), sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Who else may read a file: file id \0 "a:" agency, or file id \0 "u:" account. */

static int ref_key(const char *id, char kind, const char *who, char *key, size_t *klen)
{
    size_t w = strlen(who);
    if (strlen(id) != 32 || w == 0 || 32 + 1 + 2 + w > HOSO__INDEX_KEY_MAX) return HOSO_EBAD_REQUEST;
    memcpy(key, id, 32);
    key[32] = '\0';
    key[33] = kind;
    key[34] = ':';
    memcpy(key + 35, who, w);
    *klen = 35 + w;
    return 0;
}

/* The file is used: it no longer expires. */
static int keep(hoso_txn *t, const char *id)
{
    hoso_file f;
    int rc = hoso_file_get(t, id, &f);
    if (rc == 0 && f.expires > 0 && (rc = expiry_del(t, &f)) == 0) {
        f.expires = 0;
        if ((rc = hoso__del(t, HOSO__DB_FILES, f.id, 32)) == 0) rc = hoso_file_put(t, &f);
    }
    sodium_memzero(&f, sizeof f);
    return rc;
}

int hoso_file_expired(hoso_txn *t, int64_t now_ms, size_t limit, int (*fn)(void *ctx, const char *id), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    size_t n = 0;
    char ids[64][33];
    int rc = hoso__cursor(t, HOSO__DB_FILE_EXPIRY, &c), mrc;
    if (rc) return rc;
    if (limit > 64) limit = 64;
    /* Collected first: fn deletes entries of this table. */
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && n < limit; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 + 32) continue;
        if ((int64_t)hoso_be64_get(k.mv_data) > now_ms) break;
        memcpy(ids[n], (const uint8_t *)k.mv_data + 8, 32);
        ids[n++][32] = '\0';
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    for (size_t i = 0; i < n && rc == 0; i++) rc = fn(ctx, ids[i]);
    return rc;
}

int hoso_file_del(hoso_txn *t, const char *id)
{
    hoso_file f;
    int rc = hoso_file_get(t, id, &f);
    if (rc == 0) rc = expiry_del(t, &f);
    sodium_memzero(&f, sizeof f);
    if (rc == 0) rc = hoso__del(t, HOSO__DB_FILES, id, strlen(id));
    return rc;
}

int hoso_file_grant(hoso_txn *t, const char *id, const char *agency, const char *account)
{
    char key[HOSO__INDEX_KEY_MAX];
    size_t klen;
    int rc = keep(t, id);
    if (rc) return rc;
    if (agency && agency[0] && ((rc = ref_key(id, 'a', agency, key, &klen)) != 0 ||
                                (rc = hoso__put(t, HOSO__DB_FILE_REFS, key, klen, "", 0, 0)) != 0))
        return rc;
    if (account && account[0] && ((rc = ref_key(id, 'u', account, key, &klen)) != 0 ||
                                  (rc = hoso__put(t, HOSO__DB_FILE_REFS, key, klen, "", 0, 0)) != 0))
        return rc;
    return 0;
}

int hoso_file_granted(hoso_txn *t, const char *id, const char *agency, const char *account)
{
    char key[HOSO__INDEX_KEY_MAX];
    size_t klen;
    MDB_val v;
    if (agency && agency[0] && ref_key(id, 'a', agency, key, &klen) == 0 &&
        hoso__get(t, HOSO__DB_FILE_REFS, key, klen, &v) == 0)
        return 1;
    if (account && account[0] && ref_key(id, 'u', account, key, &klen) == 0 &&
        hoso__get(t, HOSO__DB_FILE_REFS, key, klen, &v) == 0)
        return 1;
    return 0;
}
