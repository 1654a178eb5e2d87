/*
 * uploads.c - papers as files: the tus 1.0 resumable upload protocol on /v1/uploads
 * (core, creation, termination, checksum, expiration) and GET /v1/files/{id}.
 *
 * A PATCH's bytes are encrypted and written to the upload's part file and fdatasync'ed
 * on libuv's pool (never on a worker's loop, nor on the writer), then the writer
 * commits the new offset and the running sha256: the 204 comes after both, so an
 * acknowledged offset survives kill -9, and bytes written past the committed offset by
 * a PATCH that did not finish are simply written again. One PATCH per upload at a time
 * (a lock in this process). The last piece turns the upload into a file: its media type
 * is read from its first bytes (JPEG, PNG, PDF), its part file renamed under files/.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/sha.h>
#include <sodium.h>
#include "routes.h"

#define TUS_VERSION "1.0.0"
#define EXPIRY_MS (24LL * 3600 * 1000)
#define MAX_OPEN_UPLOADS 20                   /* per account */
#define MAX_BYTES_PER_DAY (500ULL << 20)      /* per account, announced Upload-Length */
#define SWEEP 32                              /* expired uploads removed per creation */

/* ---------------------------------------------------------------------------------- */
/* Helpers */

static void tus_headers(hoso_req *r)
{
    hoso_reply_header(r, "tus-resumable", TUS_VERSION);
}

/* Every request but OPTIONS names the protocol version (412 otherwise). */
static int tus_check(hoso_req *r)
{
    char v[32];
    if (hoso_req_header(r, "tus-resumable", v, sizeof v) != NULL && strcmp(v, TUS_VERSION) == 0) return 0;
    hoso_reply_header(r, "tus-version", TUS_VERSION);
    return hoso_fail(&r->err, HOSO_EPRECONDITION_FAILED, "send Tus-Resumable: " TUS_VERSION);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || !isdigit((unsigned char)s[0]) || strlen(s) > 19) return -1;
    *out = strtoull(s, &end, 10);
    return *end == '\0' ? 0 : -1;
}

static void http_date(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Copies valid UTF-8 src into dst (cap bytes with the NUL), cut before a character that
 * does not fit whole: a long name shortened, never broken. */
static void utf8_copy(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n < len)
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Upload-Metadata: "key base64,key base64". Copies filename and filetype. */
static int parse_metadata(const char *m, char *name, size_t nn, char *type, size_t tn)
{
    name[0] = type[0] = '\0';
    if (m == NULL) return 0;
    while (*m) {
        const char *end = strchr(m, ','), *sp;
        size_t len = end ? (size_t)(end - m) : strlen(m);
        char key[64], val[512];
        size_t vlen = 0;
        while (len > 0 && *m == ' ') m++, len--;
        sp = memchr(m, ' ', len);
        size_t klen = sp ? (size_t)(sp - m) : len;
        if (klen == 0 || klen >= sizeof key) return -1;
        memcpy(key, m, klen);
        key[klen] = '\0';
        if (sp) {
            const char *b64 = sp + 1;
            size_t blen = len - klen - 1;
            if (sodium_base642bin((unsigned char *)val, sizeof val - 1, b64, blen, NULL, &vlen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0)
                return -1;
        }
        val[vlen] = '\0';
        if (strlen(val) != vlen || !hoso_utf8_valid(val, vlen)) return -1;
        if (strcmp(key, "filename") == 0) utf8_copy(name, nn, val, vlen);
        if (strcmp(key, "filetype") == 0) utf8_copy(type, tn, val, vlen);
        m += len;
        if (*m == ',') m++;
    }
    return 0;
}

/* The media type of a file from its first bytes, or NULL: what a paper may be. */
static const char *sniff(const uint8_t *b, size_t n)
{
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "image/jpeg";
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
    if (n >= 5 && memcmp(b, "%PDF-", 5) == 0) return "application/pdf";
    return NULL;
}

/* In-process lock: one PATCH per upload at a time. */
#define LOCKS 1024
static pthread_mutex_t lock_mu = PTHREAD_MUTEX_INITIALIZER;
static char locked[LOCKS][33];

/* 0 taken, -2 held by another PATCH, -1 no free slot. */
static int lock_take(const char *id)
{
    int rc = -1, free_slot = -1;
    pthread_mutex_lock(&lock_mu);
    for (int i = 0; i < LOCKS; i++) {
        if (locked[i][0] == '\0') {
            if (free_slot < 0) free_slot = i;
        } else if (strcmp(locked[i], id) == 0) {
            free_slot = -2;
            break;
        }
    }
    if (free_slot >= 0) {
        snprintf(locked[free_slot], sizeof locked[0], "%s", id);
        rc = 0;
    } else if (free_slot == -2) {
        rc = -2;
    }
    pthread_mutex_unlock(&lock_mu);
    return rc;
}

static void lock_release(const char *id)
{
    pthread_mutex_lock(&lock_mu);
    for (int i = 0; i < LOCKS; i++)
        if (strcmp(locked[i], id) == 0) locked[i][0] = '\0';
    pthread_mutex_unlock(&lock_mu);
}

/* The caller's upload {id} in t, or NOT_FOUND (another account's, or expired, looks
 * the same). */
static int own_upload(hoso_req *r, hoso_txn *t, const char *id, const hoso_caller *who, int64_t now, hoso_upload *u)
{
    int rc = hoso_upload_get(t, id, u);
    if (rc == 0 && (strcmp(u->owner, who->account) != 0 || u->expires <= now)) rc = HOSO_ENOT_FOUND;
    if (rc == HOSO_ENOT_FOUND && r != NULL) return hoso_fail(&r->err, rc, "no such upload");
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* OPTIONS /v1/uploads */

int hoso_route_upload_options(hoso_req *r)
{
    char max[32];
    snprintf(max, sizeof max, "%llu", (unsigned long long)hoso_server_config(r->srv)->max_file);
    tus_headers(r);
    hoso_reply_header(r, "tus-version", TUS_VERSION);
    hoso_reply_header(r, "tus-extension", "creation,termination,checksum,expiration");
    hoso_reply_header(r, "tus-max-size", max);
    hoso_reply_header(r, "tus-checksum-algorithm", "sha1,sha256");
    return hoso_reply_raw(r, 204, NULL, NULL, 0);
}

/* ---------------------------------------------------------------------------------- */
/* POST /v1/uploads: creation */

typedef struct create_data {
    hoso_upload u;
    uint64_t max_file;
    int refused; /* the quota's 429, committed with the sweep */
} create_data;

typedef struct sweep {
    hoso_txn *t;
    int64_t now;
} sweep;

static int sweep_one(void *ctx, const char *id, const char *owner, int finished)
{
    sweep *sw = ctx;
    hoso_upload_usage use;
    int rc = hoso_upload_del(sw->t, id);
    if (rc == 0 && !finished) rc = hoso_upload_quota(sw->t, owner, sw->now, -1, 0, &use); /* finished: counted then */
    if (rc == 0) hoso_blob_remove(hoso_txn_store(sw->t), id, 1);
    return rc;
}

static int sweep_file(void *ctx, const char *id)
{
    sweep *sw = ctx;
    int rc = hoso_file_del(sw->t, id);
    if (rc == 0) {
        hoso_blob_remove(hoso_txn_store(sw->t), id, 0);
        hoso_blob_remove(hoso_txn_store(sw->t), id, 1); /* a part name left by a lost reply */
    }
    return rc == HOSO_ENOT_FOUND ? 0 : rc;
}

static void create_reply(hoso_req *r, hoso_wop *op)
{
    create_data *d = op->data;
    char loc[64], date[64];
    if (op->result != 0 || d->refused) return;
    snprintf(loc, sizeof loc, "/v1/uploads/%s", d->u.id);
    http_date(d->u.expires, date, sizeof date);
    hoso_reply_header(r, "location", loc);
    hoso_reply_header(r, "upload-expires", date);
}

static int create_apply(hoso_wop *op, hoso_txn *t)
{
    create_data *d = op->data;
    hoso_upload_usage use;
    msgpack_packer pk;
    int rc;
    /* Expired uploads of anyone go first: they free their owners' quota and disk. */
    sweep sw = {t, op->now};
    rc = hoso_upload_expired(t, op->now, SWEEP, sweep_one, &sw);
    if (rc == 0) rc = hoso_file_expired(t, op->now, SWEEP, sweep_file, &sw);
    if (rc != 0) return hoso_wop_fail(op, rc, "cannot sweep expired uploads");
    if ((rc = hoso_upload_quota(t, d->u.owner, op->now, 0, 0, &use)) != 0)
        return hoso_wop_fail(op, rc, "cannot read the upload quota");
    if (use.open >= MAX_OPEN_UPLOADS || use.bytes_today + d->u.length > MAX_BYTES_PER_DAY) {
        /* Refused, but committed: the sweep above stays done. */
        hoso_errinfo ei;
        msgpack_packer epk;
        memset(&ei, 0, sizeof ei);
        if (use.open >= MAX_OPEN_UPLOADS)
            hoso_fail(&ei, HOSO_ERATE_LIMITED, "%d uploads are open: finish or delete one first", MAX_OPEN_UPLOADS);
        else
            hoso_fail(&ei, HOSO_ERATE_LIMITED, "the day's upload allowance (%llu MiB) would be passed",
                      (unsigned long long)(MAX_BYTES_PER_DAY >> 20));
        op->reply.size = 0;
        msgpack_packer_init(&epk, &op->reply, msgpack_sbuffer_write);
        hoso_encode_error(&epk, HOSO_ERATE_LIMITED, &ei);
        op->http_status = 429;
        d->refused = 1;
        return 0;
    }
    d->u.created = op->now;
    d->u.expires = op->now + EXPIRY_MS;
    if ((rc = hoso_upload_put(t, &d->u)) != 0 || (rc = hoso_upload_quota(t, d->u.owner, op->now, 1, d->u.length, &use)) != 0)
        return hoso_wop_fail(op, rc, "cannot store the upload");
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 1) || hoso_pack_cstr(&pk, "upload") || msgpack_pack_map(&pk, 4) ||
        hoso_pack_kcstr(&pk, "id", d->u.id) || hoso_pack_kint(&pk, "length", (int64_t)d->u.length) ||
        hoso_pack_kint(&pk, "offset", 0) || hoso_pack_kint(&pk, "expires_at", d->u.expires))
        return hoso_wop_fail(op, HOSO_ENOMEM, "out of memory");
    op->http_status = 201;
    return 0;
}

static void free_create(void *p)
{
    if (p) sodium_memzero(p, sizeof(create_data));
    free(p);
}

int hoso_route_upload_create(hoso_req *r)
{
    char len_s[32], meta[2048];
    uint64_t length;
    create_data *d;
    hoso_wop *op;
    int rc;
    tus_headers(r);
    if ((rc = tus_check(r)) != 0) return rc;
    if (hoso_req_header(r, "upload-defer-length", len_s, sizeof len_s) != NULL)
        return hoso_fail_field(&r->err, "Upload-Defer-Length", "not supported: send Upload-Length");
    if (parse_u64(hoso_req_header(r, "upload-length", len_s, sizeof len_s), &length) != 0 || length == 0)
        return hoso_fail_field(&r->err, "Upload-Length", "required: the file's size in bytes (1 or more)");
    if (length > hoso_server_config(r->srv)->max_file)
        return hoso_fail(&r->err, HOSO_EPAYLOAD_TOO_LARGE, "a file may have at most %llu bytes (Tus-Max-Size)",
                         (unsigned long long)hoso_server_config(r->srv)->max_file);
    if (hoso_req_header(r, "upload-metadata", meta, sizeof meta) == NULL && hoso_req_has_header(r, "upload-metadata"))
        return hoso_fail_field(&r->err, "Upload-Metadata", "too long: at most 2047 bytes");
    if ((d = calloc(1, sizeof *d)) == NULL) return HOSO_ENOMEM;
    if (parse_metadata(hoso_req_header(r, "upload-metadata", meta, sizeof meta), d->u.name, sizeof d->u.name, d->u.type,
                       sizeof d->u.type) != 0) {
        free_create(d);
        return hoso_fail_field(&r->err, "Upload-Metadata", "must be key base64 pairs, UTF-8 values");
    }
    uint8_t rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(d->u.id, sizeof d->u.id, rnd, sizeof rnd);
    snprintf(d->u.owner, sizeof d->u.owner, "%s", r->who.account);
    d->u.length = length;
    randombytes_buf(d->u.key, sizeof d->u.key);
    randombytes_buf(d->u.nonce, sizeof d->u.nonce);
    crypto_hash_sha256_init((crypto_hash_sha256_state *)(void *)d->u.sha);
    if ((op = hoso_wop_new(r, create_apply)) == NULL) {
        free_create(d);
        return HOSO_ENOMEM;
    }
    op->data = d;
    op->free_data = free_create;
    op->on_reply = create_reply;
    return hoso_writer_submit(r, op);
}

/* ---------------------------------------------------------------------------------- */
/* HEAD /v1/uploads/{id} */

int hoso_route_upload_head(hoso_req *r)
{
    hoso_upload u;
    char v[64];
    int rc;
    tus_headers(r);
    hoso_reply_header(r, "cache-control", "no-store");
    if ((rc = tus_check(r)) != 0) return rc;
    if ((rc = own_upload(r, r->rtxn, r->params[0], &r->who, hoso_now_ms(), &u)) != 0) return rc;
    snprintf(v, sizeof v, "%llu", (unsigned long long)u.offset);
    hoso_reply_header(r, "upload-offset", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)u.length);
    hoso_reply_header(r, "upload-length", v);
    http_date(u.expires, v, sizeof v);
    hoso_reply_header(r, "upload-expires", v);
    if (u.offset >= u.length) {
        snprintf(v, sizeof v, "/v1/files/%s", u.id);
        hoso_reply_header(r, "file-location", v);
    }
    sodium_memzero(&u, sizeof u);
    return hoso_reply_raw(r, 200, NULL, NULL, 0);
}

/* ---------------------------------------------------------------------------------- */
/* PATCH /v1/uploads/{id} */

typedef struct patch_data {
    hoso_upload u;          /* as read on the worker; u.offset is where this piece goes */
    hoso_store *store;
    uint8_t *piece;
    size_t len;
    uint64_t new_offset;
    char file_type[64];     /* set when the upload became a file */
    int refused;            /* not a JPEG, PNG or PDF: the upload is gone */
    int locked;
} patch_data;

static void free_patch(void *p)
{
    patch_data *d = p;
    if (d == NULL) return;
    if (d->locked) lock_release(d->u.id);
    free(d->piece);
    sodium_memzero(&d->u, sizeof d->u);
    free(d);
}

/* libuv's pool: the running sha256, the first bytes, then the bytes on disk. */
static int patch_write(void *p)
{
    patch_data *d = p;
    crypto_hash_sha256_state st;
    /* The offset read on the worker may be older than the lock: another PATCH may have
     * committed since. Under the lock nothing else commits, so check it afresh before a
     * byte is written. */
    hoso_txn *t = NULL;
    hoso_upload cur;
    int rc = hoso_txn_read(d->store, &t);
    if (rc == 0) {
        rc = hoso_upload_get(t, d->u.id, &cur);
        hoso_txn_abort(t);
        if (rc == 0 && cur.offset != d->u.offset) rc = HOSO_EOFFSET_MISMATCH;
        sodium_memzero(&cur, sizeof cur);
    }
    if (rc != 0) return rc;
    memcpy(&st, d->u.sha, sizeof st);
    crypto_hash_sha256_update(&st, d->piece, d->len);
    memcpy(d->u.sha, &st, sizeof st);
    /* magic holds the file's first bytes: bytes [offset, offset + len) of this piece
     * extend it while it is short (nmagic == offset then). */
    while (d->u.nmagic < sizeof d->u.magic && d->u.nmagic >= d->u.offset && d->u.nmagic - d->u.offset < d->len) {
        d->u.magic[d->u.nmagic] = d->piece[d->u.nmagic - d->u.offset];
        d->u.nmagic++;
    }
    return hoso_blob_write(d->store, &d->u, d->u.offset, d->piece, d->len);
}

static void patch_reply(hoso_req *r, hoso_wop *op)
{
    patch_data *d = op->data;
    char v[32];
    /* Committed: the next PATCH may come as soon as this reply is out. */
    if (d->locked) {
        lock_release(d->u.id);
        d->locked = 0;
    }
    if (op->result != 0 || d->refused) return; /* the error reply */
    snprintf(v, sizeof v, "%llu", (unsigned long long)d->new_offset);
    hoso_reply_header(r, "upload-offset", v);
    if (d->file_type[0] != '\0') {
        char loc[64];
        snprintf(loc, sizeof loc, "/v1/files/%s", d->u.id);
        hoso_reply_header(r, "file-location", loc);
        hoso_blob_remove(d->store, d->u.id, 1); /* committed: the part's name goes */
    }
    hoso_reply_raw(r, 204, NULL, NULL, 0);
}

static int patch_apply(hoso_wop *op, hoso_txn *t)
{
    patch_data *d = op->data;
    hoso_upload cur;
    hoso_upload_usage use;
    int rc;
    if ((rc = own_upload(NULL, t, d->u.id, &op->who, op->now, &cur)) != 0)
        return hoso_wop_fail(op, rc, rc == HOSO_ENOT_FOUND ? "no such upload" : "cannot read the upload");
    if (cur.offset != d->u.offset) {
        sodium_memzero(&cur, sizeof cur);
        return hoso_wop_fail(op, HOSO_EOFFSET_MISMATCH, "the upload moved on meanwhile");
    }
    sodium_memzero(&cur, sizeof cur);
    d->u.offset = d->new_offset;
    /* The media type shows in the first bytes: a file that is not one of the kinds a
     * paper may be is refused as soon as they are in, and nothing of it is kept. The
     * refusal commits (the upload's end) and replies 415. */
    const char *type = sniff(d->u.magic, d->u.nmagic);
    if (type == NULL && (d->u.nmagic >= 8 || d->u.offset == d->u.length)) {
        hoso_errinfo ei;
        msgpack_packer pk;
        if ((rc = hoso_upload_del(t, d->u.id)) != 0 ||
            (rc = hoso_upload_quota(t, d->u.owner, op->now, -1, 0, &use)) != 0)
            return hoso_wop_fail(op, rc, "cannot end the upload");
        hoso_blob_remove(d->store, d->u.id, 1);
        memset(&ei, 0, sizeof ei);
        hoso_fail(&ei, HOSO_EUNSUPPORTED_MEDIA_TYPE,
                  "the file is not a JPEG, PNG or PDF (read from its first bytes); the upload was ended");
        op->reply.size = 0;
        msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
        hoso_encode_error(&pk, HOSO_EUNSUPPORTED_MEDIA_TYPE, &ei);
        op->http_status = 415;
        d->refused = 1;
        return 0;
    }
    if (d->u.offset < d->u.length) {
        if ((rc = hoso_upload_put(t, &d->u)) != 0) return hoso_wop_fail(op, rc, "cannot store the upload");
        return 0;
    }
    /* The last piece: the upload becomes a file. Its record stays, finished, until it
     * expires: a client whose last 204 was lost asks HEAD and learns it is done. */
    if ((rc = hoso_upload_put(t, &d->u)) != 0 || (rc = hoso_upload_quota(t, d->u.owner, op->now, -1, 0, &use)) != 0)
        return hoso_wop_fail(op, rc, "cannot end the upload");
    hoso_file f;
    memset(&f, 0, sizeof f);
    snprintf(f.id, sizeof f.id, "%s", d->u.id);
    snprintf(f.owner, sizeof f.owner, "%s", d->u.owner);
    f.size = d->u.length;
    crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)d->u.sha, f.sha256);
    snprintf(f.media_type, sizeof f.media_type, "%s", type);
    snprintf(f.name, sizeof f.name, "%s", d->u.name);
    f.created = op->now;
    f.expires = op->now + EXPIRY_MS; /* until a paper, a message or a result uses it */
    memcpy(f.key, d->u.key, sizeof f.key);
    memcpy(f.nonce, d->u.nonce, sizeof f.nonce);
    rc = hoso_blob_finish(d->store, d->u.id);
    if (rc == 0) rc = hoso_file_put(t, &f);
    sodium_memzero(&f, sizeof f);
    if (rc != 0) return hoso_wop_fail(op, rc, "cannot keep the file");
    snprintf(d->file_type, sizeof d->file_type, "%s", type);
    return 0;
}

static int patch_written(hoso_req *r, void *p, int result)
{
    patch_data *d = p;
    hoso_wop *op;
    if (result != 0) {
        free_patch(d);
        return hoso_fail(&r->err, result,
                         result == HOSO_ESTORAGE_FULL      ? "the disk is full; what was acknowledged is kept"
                         : result == HOSO_EOFFSET_MISMATCH ? "the upload moved on meanwhile; HEAD it and go on from there"
                         : result == HOSO_ENOT_FOUND       ? "the upload's bytes are gone; start it again"
                                                           : "cannot write the piece");
    }
    if ((op = hoso_wop_new(r, patch_apply)) == NULL) {
        free_patch(d);
        return HOSO_ENOMEM;
    }
    op->data = d;
    op->free_data = free_patch;
    op->on_reply = patch_reply;
    return hoso_writer_submit(r, op);
}

/* Upload-Checksum: "sha1 <base64>" or "sha256 <base64>" of this piece. */
static int check_checksum(hoso_req *r, const void *piece, size_t len)
{
    char h[160], want[64];
    size_t wlen = 0;
    uint8_t got[32];
    if (hoso_req_header(r, "upload-checksum", h, sizeof h) == NULL) {
        if (!hoso_req_has_header(r, "upload-checksum")) return 0;
        return hoso_fail_field(&r->err, "Upload-Checksum", "too long: algorithm base64, at most 159 bytes");
    }
    char *sp = strchr(h, ' ');
    if (sp == NULL) return hoso_fail_field(&r->err, "Upload-Checksum", "must be: algorithm base64");
    *sp = '\0';
    if (sodium_base642bin((unsigned char *)want, sizeof want, sp + 1, strlen(sp + 1), NULL, &wlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return hoso_fail_field(&r->err, "Upload-Checksum", "the checksum is not base64");
    if (strcmp(h, "sha256") == 0 && wlen == 32) {
        crypto_hash_sha256(got, piece, len);
    } else if (strcmp(h, "sha1") == 0 && wlen == 20) {
        SHA1(piece, len, got);
    } else {
        return hoso_fail(&r->err, HOSO_EBAD_REQUEST, "Upload-Checksum: sha1 or sha256 of the right length");
    }
    if (sodium_memcmp(got, want, wlen) != 0)
        return hoso_fail(&r->err, HOSO_ECHECKSUM_MISMATCH, "the piece does not match its Upload-Checksum; send it again");
    return 0;
}

int hoso_route_upload_patch(hoso_req *r)
{
    char v[64];
    uint64_t off;
    const void *piece;
    size_t len;
    patch_data *d;
    int rc;
    tus_headers(r);
    if ((rc = tus_check(r)) != 0) return rc;
    if (hoso_req_header(r, "content-type", v, sizeof v) == NULL || strcmp(v, "application/offset+octet-stream") != 0)
        return hoso_fail(&r->err, HOSO_EUNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/offset+octet-stream");
    if (parse_u64(hoso_req_header(r, "upload-offset", v, sizeof v), &off) != 0)
        return hoso_fail_field(&r->err, "Upload-Offset", "required: where this piece starts");
    if ((d = calloc(1, sizeof *d)) == NULL) return HOSO_ENOMEM;
    if ((rc = own_upload(r, r->rtxn, r->params[0], &r->who, hoso_now_ms(), &d->u)) != 0) {
        free_patch(d);
        return rc;
    }
    if (off != d->u.offset) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)d->u.offset);
        hoso_reply_header(r, "upload-offset", v);
        free_patch(d);
        return hoso_fail(&r->err, HOSO_EOFFSET_MISMATCH, "the upload is at offset %s; HEAD it and go on from there", v);
    }
    hoso_req_entity(r, &piece, &len);
    if (len > d->u.length - d->u.offset) {
        free_patch(d);
        return hoso_fail(&r->err, HOSO_EPAYLOAD_TOO_LARGE, "the piece goes past Upload-Length");
    }
    if (len == 0) {
        /* Nothing to write: the offset as it is. */
        snprintf(v, sizeof v, "%llu", (unsigned long long)d->u.offset);
        free_patch(d);
        hoso_reply_header(r, "upload-offset", v);
        return hoso_reply_raw(r, 204, NULL, NULL, 0);
    }
    if ((rc = check_checksum(r, piece, len)) != 0) {
        free_patch(d);
        return rc;
    }
    if ((rc = lock_take(d->u.id)) != 0) {
        free_patch(d);
        if (rc == -1) return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "too many uploads in progress; try again");
        return hoso_fail(&r->err, HOSO_EOFFSET_MISMATCH, "another PATCH of this upload is in progress");
    }
    d->locked = 1;
    d->store = hoso_server_store(r->srv);
    d->new_offset = off + len;
    /* The request's body may go with the request: the pool works on a copy. */
    if ((d->piece = malloc(len)) == NULL) {
        free_patch(d);
        return HOSO_ENOMEM;
    }
    memcpy(d->piece, piece, len);
    d->len = len;
    return hoso_req_offload(r, HOSO_OFFLOAD_UPLOAD, patch_write, patch_written, free_patch, d);
}

/* ---------------------------------------------------------------------------------- */
/* DELETE /v1/uploads/{id}: termination */

static int delete_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_upload u;
    hoso_upload_usage use;
    int rc = own_upload(NULL, t, op->params[0], &op->who, op->now, &u);
    int finished = rc == 0 && u.offset >= u.length;
    sodium_memzero(&u, sizeof u);
    if (rc != 0) return hoso_wop_fail(op, rc, rc == HOSO_ENOT_FOUND ? "no such upload" : "cannot read the upload");
    if ((rc = hoso_upload_del(t, op->params[0])) != 0 ||
        (!finished && (rc = hoso_upload_quota(t, op->who.account, op->now, -1, 0, &use)) != 0))
        return hoso_wop_fail(op, rc, "cannot end the upload");
    hoso_blob_remove(hoso_txn_store(t), op->params[0], 1);
    return 0;
}

static void delete_reply(hoso_req *r, hoso_wop *op)
{
    if (op->result == 0) hoso_reply_raw(r, 204, NULL, NULL, 0);
}

int hoso_route_upload_delete(hoso_req *r)
{
    hoso_wop *op;
    int rc;
    tus_headers(r);
    if ((rc = tus_check(r)) != 0) return rc;
    if ((op = hoso_wop_new(r, delete_apply)) == NULL) return HOSO_ENOMEM;
    op->on_reply = delete_reply;
    return hoso_writer_submit(r, op);
}

/* ---------------------------------------------------------------------------------- */
/* GET /v1/files/{id} */

typedef struct file_stream {
    hoso_file f;
    int fd;
    uint64_t off;
} file_stream;

static ssize_t file_read(void *ctx, void *buf, size_t cap)
{
    file_stream *s = ctx;
    ssize_t n = hoso_blob_read(s->fd, &s->f, s->off, buf, cap);
    if (n > 0) s->off += (uint64_t)n;
    return n;
}

static void file_done(void *ctx)
{
    file_stream *s = ctx;
    close(s->fd);
    sodium_memzero(&s->f, sizeof s->f);
    free(s);
}

/* "bytes=a-b", "bytes=a-", "bytes=-n": one range of size bytes into [*from, *to].
 * 1 parsed, 0 no usable Range (serve all), -1 unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    uint64_t a = 0, b = 0;
    char *end;
    if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL) return 0;
    const char *p = h + 6;
    if (*p == '-') {
        b = strtoull(p + 1, &end, 10);
        if (*end || end == p + 1) return 0;
        if (b == 0 || size == 0) return -1;
        *from = b >= size ? 0 : size - b;
        *to = size - 1;
        return 1;
    }
    if (!isdigit((unsigned char)*p)) return 0;
    a = strtoull(p, &end, 10);
    if (*end != '-') return 0;
    p = end + 1;
    if (*p == '\0') b = size ? size - 1 : 0;
    else {
        b = strtoull(p, &end, 10);
        if (*end || b < a) return 0;
        if (b >= size) b = size - 1;
    }
    if (a >= size) return -1;
    *from = a;
    *to = b;
    return 1;
}

/* Content-Disposition with the original name: an ASCII fallback and RFC 5987 UTF-8. */
static void disposition(const char *name, char *out, size_t n)
{
    char ascii[256], enc[800];
    size_t ai = 0, ei = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && ai < sizeof ascii - 1; p++)
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '/') ascii[ai++] = (char)*p;
        else if (*p < 0x80 || (*p & 0xc0) == 0xc0) ascii[ai++] = '_';
    ascii[ai] = '\0';
    for (const unsigned char *p = (const unsigned char *)name; *p && ei < sizeof enc - 4; p++) {
        if (isalnum(*p) || strchr("-._~", *p)) enc[ei++] = (char)*p;
        else ei += (size_t)snprintf(enc + ei, sizeof enc - ei, "%%%02X", *p);
    }
    enc[ei] = '\0';
    if (name[0] == '\0') snprintf(out, n, "attachment");
    else snprintf(out, n, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
}

int hoso_route_file_get(hoso_req *r)
{
    file_stream *s;
    char etag[80], hdr[1280], range[96]; /* hdr: a 255-byte name, ASCII and %-escaped */
    uint64_t from = 0, to = 0;
    int rc;
    if ((s = calloc(1, sizeof *s)) == NULL) return HOSO_ENOMEM;
    s->fd = -1;
    rc = hoso_file_get(r->rtxn, r->params[0], &s->f);
    /* The owner, admins, the officers of an agency whose dossier references it, and the
     * citizen of a dossier it came with (a result, an officer's message). */
    if (rc == 0 && strcmp(s->f.owner, r->who.account) != 0 && r->who.role != HOSO_ROLE_ADMIN &&
        !hoso_file_granted(r->rtxn, s->f.id, r->who.role == HOSO_ROLE_OFFICER ? r->who.agency : NULL, r->who.account))
        rc = HOSO_ENOT_FOUND;
    if (rc == 0) rc = hoso_blob_open(hoso_server_store(r->srv), s->f.id, &s->fd);
    if (rc != 0) {
        sodium_memzero(&s->f, sizeof s->f);
        free(s);
        return hoso_fail(&r->err, rc, rc == HOSO_ENOT_FOUND ? "no such file" : "cannot read the file");
    }
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, s->f.sha256, 32);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    hoso_reply_header(r, "etag", etag);
    hoso_reply_header(r, "accept-ranges", "bytes");
    hoso_reply_header(r, "cache-control", "private, max-age=31536000, immutable");
    hoso_reply_header(r, "x-content-type-options", "nosniff");
    disposition(s->f.name, hdr, sizeof hdr);
    hoso_reply_header(r, "content-disposition", hdr);
    if (hoso_req_etag_matches(r, etag)) {
        file_done(s);
        return hoso_reply_raw(r, 304, NULL, NULL, 0);
    }
    int ranged = parse_range(hoso_req_header(r, "range", range, sizeof range), s->f.size, &from, &to);
    if (ranged < 0) {
        snprintf(hdr, sizeof hdr, "bytes */%llu", (unsigned long long)s->f.size);
        hoso_reply_header(r, "content-range", hdr);
        file_done(s);
        return hoso_reply_raw(r, 416, NULL, NULL, 0);
    }
    if (ranged > 0) {
        snprintf(hdr, sizeof hdr, "bytes %llu-%llu/%llu", (unsigned long long)from, (unsigned long long)to,
                 (unsigned long long)s->f.size);
        hoso_reply_header(r, "content-range", hdr);
        s->off = from;
        char type[64];
        snprintf(type, sizeof type, "%s", s->f.media_type);
        return hoso_reply_stream(r, 206, type, to - from + 1, file_read, file_done, s);
    }
    char type[64];
    snprintf(type, sizeof type, "%s", s->f.media_type);
    return hoso_reply_stream(r, 200, type, s->f.size, file_read, file_done, s);
}
