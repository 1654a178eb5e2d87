/*
 * upload.c - files to the server over tus 1.0 (docs/protocol.md 4.5b), through the
 * outbox. hoso_client_upload copies the file into STATE_DIR/uploads/<op_id> and queues
 * an "upload" op; when the outbox reaches it, the copy is sent in pieces of 512 KiB.
 * The server's upload id is written into the op as soon as the server gives it, so a
 * dropped connection, a closed app or a reboot does not restart the file: the next
 * flush asks the server where the upload stands (HEAD) and goes on from that offset.
 * Ops queued after an upload may name it by its op_id (a paper's file, a message's
 * files): the outbox sends them after it, with the server's file id in its place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "internal.h"

#define PIECE (512 * 1024)
#define MAX_RESYNCS 5 /* 409s in a row (another writer?) before trying again later */

typedef struct upload {
    hoso_client *c;
    uint64_t outbox_id;
    int fd;
    uint64_t size, off;
    char op_id[HOSO__OPID_LEN + 1];
    char name[256];
    char id[40];
    int resyncs, recreated;
    hoso__upload_cb done;
    void *ud;
    uint8_t *buf;
} upload;

static void step(upload *u);
static void resync(upload *u);

void hoso__upload_copy_path(const hoso_client *c, const char *op_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/uploads/%s", c->state_dir, op_id);
}

void hoso__upload_file_id(hoso_client *c, const char *op_id, char out[40])
{
    char key[48];
    snprintf(key, sizeof key, "file:%s", op_id);
    if (hoso__store_meta_get(&c->store, key, out, 40) != 0) out[0] = '\0';
}

int hoso_client_upload_file_id(hoso_client *c, const char *op_id, char out[40])
{
    if (!op_id || strlen(op_id) != HOSO__OPID_LEN) return HOSO_EBAD_REQUEST;
    hoso__upload_file_id(c, op_id, out);
    return out[0] ? 0 : HOSO_ENOT_FOUND;
}

static void end(upload *u, hoso__upload_end how, const hoso_client_error *err)
{
    hoso__upload_cb done = u->done;
    void *ud = u->ud;
    hoso_client *c = u->c;
    char id[40];
    snprintf(id, sizeof id, "%s", u->id);
    if (u->fd >= 0) close(u->fd);
    free(u->buf);
    free(u);
    done(c, how, how == HOSO__UPLOAD_DONE ? id : NULL, err, ud);
}

static void end_error(upload *u, hoso__upload_end how, int err, int status, const char *body, size_t len,
                      const char *why)
{
    hoso_client_error e;
    memset(&e, 0, sizeof e);
    e.err = err;
    e.http_status = status;
    snprintf(e.code, sizeof e.code, "%s", hoso_err_code(err));
    snprintf(e.message, sizeof e.message, "%s", why);
    /* The server's error body names the reason: keep its code and message. */
    msgpack_unpacked un;
    msgpack_unpacked_init(&un);
    if (body && len && msgpack_unpack_next(&un, body, len, NULL) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *eo = hoso_map_get(&un.data, "error");
        if (eo) {
            hoso__obj_cstr(hoso_map_get(eo, "code"), e.code, sizeof e.code);
            hoso__obj_cstr(hoso_map_get(eo, "message"), e.message, sizeof e.message);
            e.err = hoso__err_from_code(e.code);
        }
    }
    msgpack_unpacked_destroy(&un);
    end(u, how, &e);
}

/* How a reply that is not the expected success ends this attempt. */
static void trouble(upload *u, int err, const char *why, int status, const char *body, size_t len,
                    const char *what)
{
    if (err) end_error(u, HOSO__UPLOAD_RETRY, HOSO_EUNAVAILABLE, 0, NULL, 0, why);
    else if (status == 401 || status == 403)
        end_error(u, HOSO__UPLOAD_SIGNED_OUT, HOSO_EUNAUTHORIZED, status, body, len, what);
    else if (status >= 500 || status == 429 || status == 408)
        end_error(u, HOSO__UPLOAD_RETRY, HOSO_EUNAVAILABLE, status, body, len, what);
    else
        end_error(u, HOSO__UPLOAD_REFUSED,
                  status == 415   ? HOSO_EUNSUPPORTED_MEDIA_TYPE
                  : status == 413 ? HOSO_EPAYLOAD_TOO_LARGE
                                  : HOSO_EBAD_REQUEST,
                  status, body, len, what);
}

/* The server forgot the upload (expired after 24 h offline, or ended): the copy is
 * still here, so start it again, once per attempt. */
static int start_over(upload *u)
{
    if (u->recreated) return 0;
    u->recreated = 1;
    u->id[0] = '\0';
    u->off = 0;
    step(u);
    return 1;
}

static void progress(upload *u)
{
    hoso_client *c = u->c;
    if (c->cbs.on_upload_progress) c->cbs.on_upload_progress(c, u->op_id, u->off, u->size, c->cbs.ud);
}

static void on_head(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                    const hoso__http_headers *h, void *ud)
{
    upload *u = ud;
    (void)c;
    if (err == 0 && status == 200 && h->upload_offset[0]) {
        u->off = strtoull(h->upload_offset, NULL, 10);
        if (u->off > u->size) {
            end_error(u, HOSO__UPLOAD_REFUSED, HOSO_EBAD_REQUEST, status, NULL, 0,
                      "the server holds more bytes than the file has");
            return;
        }
        progress(u);
        if (u->off == u->size) end(u, HOSO__UPLOAD_DONE, NULL); /* the last reply was lost */
        else step(u);
        return;
    }
    if (err == 0 && (status == 404 || status == 410) && start_over(u)) return;
    trouble(u, err, why, status, body, len, "the server cannot tell where the upload stands");
}

static void resync(upload *u)
{
    char path[96];
    static const char *const hdrs[] = {"tus-resumable:", "1.0.0", NULL};
    snprintf(path, sizeof path, "/v1/uploads/%s", u->id);
    if (hoso__http_send2(u->c, "HEAD", path, NULL, 0, NULL, hdrs, on_head, u) != 0)
        end_error(u, HOSO__UPLOAD_RETRY, HOSO_ENOMEM, 0, NULL, 0, "out of memory");
}

static void on_patch(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                     const hoso__http_headers *h, void *ud)
{
    upload *u = ud;
    (void)c;
    if (err == 0 && status == 204) {
        u->off = h->upload_offset[0] ? strtoull(h->upload_offset, NULL, 10) : u->off;
        u->resyncs = 0;
        progress(u);
        if (u->off >= u->size) end(u, HOSO__UPLOAD_DONE, NULL);
        else step(u);
        return;
    }
    /* 409: the server is elsewhere (a piece whose reply was lost landed): ask where. */
    if (err == 0 && status == 409 && ++u->resyncs <= MAX_RESYNCS) {
        resync(u);
        return;
    }
    if (err == 0 && (status == 404 || status == 410) && start_over(u)) return;
    trouble(u, err, why, status == 409 ? 503 : status, body, len, "the server did not take the piece");
}

static void on_create(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                      const hoso__http_headers *h, void *ud)
{
    upload *u = ud;
    msgpack_unpacked un;
    (void)h;
    if (err == 0 && status == 201) {
        msgpack_unpacked_init(&un);
        if (msgpack_unpack_next(&un, body, len, NULL) == MSGPACK_UNPACK_SUCCESS)
            hoso__obj_cstr(hoso_map_get(hoso_map_get(&un.data, "upload"), "id"), u->id, sizeof u->id);
        msgpack_unpacked_destroy(&un);
        if (u->id[0] == '\0') {
            end_error(u, HOSO__UPLOAD_REFUSED, HOSO_EBAD_REQUEST, status, NULL, 0, "the server gave no upload id");
            return;
        }
        /* Kept with the op before any byte is sent: after a restart the flush resumes
         * this upload instead of starting another. */
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 5);
        hoso_pack_kcstr(&pk, "op_id", u->op_id);
        hoso_pack_kcstr(&pk, "kind", "upload");
        hoso_pack_kcstr(&pk, "name", u->name);
        hoso_pack_kint(&pk, "size", (int64_t)u->size);
        hoso_pack_kcstr(&pk, "upload", u->id);
        int rc = hoso__store_outbox_set(&c->store, u->outbox_id, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        if (rc == HOSO_ENOT_FOUND) {
            end_error(u, HOSO__UPLOAD_REFUSED, rc, 0, NULL, 0, "the upload left the outbox");
            return;
        }
        if (rc) {
            end_error(u, HOSO__UPLOAD_RETRY, rc, 0, NULL, 0, "cannot keep the upload's id");
            return;
        }
        step(u);
        return;
    }
    trouble(u, err, why, status, body, len, "the server refused the upload");
}

/* The next request: create, or send the piece at u->off. */
static void step(upload *u)
{
    char len_s[24], off_s[24], meta[400], b64[360], path[96];
    if (u->id[0] == '\0') {
        snprintf(len_s, sizeof len_s, "%llu", (unsigned long long)u->size);
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)u->name, strlen(u->name),
                          sodium_base64_VARIANT_ORIGINAL);
        snprintf(meta, sizeof meta, "filename %s", b64);
        const char *hdrs[] = {"tus-resumable:", "1.0.0", "upload-length:", len_s, "upload-metadata:", meta, NULL};
        if (hoso__http_send2(u->c, "POST", "/v1/uploads", NULL, 0, NULL, hdrs, on_create, u) != 0)
            end_error(u, HOSO__UPLOAD_RETRY, HOSO_ENOMEM, 0, NULL, 0, "out of memory");
        return;
    }
    size_t n = u->size - u->off < PIECE ? (size_t)(u->size - u->off) : PIECE;
    ssize_t got = pread(u->fd, u->buf, n, (off_t)u->off);
    if (got != (ssize_t)n) {
        end_error(u, HOSO__UPLOAD_REFUSED, HOSO_EIO, 0, NULL, 0, "cannot read the queued copy of the file");
        return;
    }
    snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)u->off);
    snprintf(path, sizeof path, "/v1/uploads/%s", u->id);
    const char *hdrs[] = {"tus-resumable:", "1.0.0", "upload-offset:", off_s, NULL};
    if (hoso__http_send2(u->c, "PATCH", path, u->buf, n, "application/offset+octet-stream", hdrs, on_patch, u) != 0)
        end_error(u, HOSO__UPLOAD_RETRY, HOSO_ENOMEM, 0, NULL, 0, "out of memory");
}

int hoso__upload_run(hoso_client *c, uint64_t outbox_id, const void *op, size_t len, hoso__upload_cb done,
                     void *ud)
{
    hoso_doc od = {0};
    hoso_limits lim;
    char copy[1200];
    upload *u = calloc(1, sizeof *u);
    if (!u) return HOSO_ENOMEM;
    u->c = c;
    u->fd = -1;
    u->outbox_id = outbox_id;
    u->done = done;
    u->ud = ud;
    hoso_limits_default(&lim);
    if (hoso_doc_from_msgpack(&od, op, len, &lim, NULL) == 0) {
        hoso__obj_cstr(hoso_map_get(&od.root, "op_id"), u->op_id, sizeof u->op_id);
        hoso__obj_cstr(hoso_map_get(&od.root, "name"), u->name, sizeof u->name);
        hoso__obj_cstr(hoso_map_get(&od.root, "upload"), u->id, sizeof u->id);
        const msgpack_object *sz = hoso_map_get(&od.root, "size");
        if (sz && sz->type == MSGPACK_OBJECT_POSITIVE_INTEGER) u->size = sz->via.u64;
    }
    hoso_doc_destroy(&od);
    if (strlen(u->op_id) != HOSO__OPID_LEN || u->size == 0) {
        end_error(u, HOSO__UPLOAD_REFUSED, HOSO_EBAD_REQUEST, 0, NULL, 0, "the queued upload is not valid");
        return 0;
    }
    hoso__upload_copy_path(c, u->op_id, copy, sizeof copy);
    struct stat st;
    if ((u->fd = open(copy, O_RDONLY | O_CLOEXEC)) < 0 || fstat(u->fd, &st) != 0 || (uint64_t)st.st_size != u->size) {
        end_error(u, HOSO__UPLOAD_REFUSED, HOSO_EIO, 0, NULL, 0, "the queued copy of the file is gone or changed");
        return 0;
    }
    if (!(u->buf = malloc(PIECE))) {
        end_error(u, HOSO__UPLOAD_RETRY, HOSO_ENOMEM, 0, NULL, 0, "out of memory");
        return 0;
    }
    if (u->id[0]) resync(u); /* begun before: go on from where the server stands */
    else step(u);
    return 0;
}

/* Copies src into dst (a new file) and makes it durable: the op that names it is
 * written next, and must never point at half a copy. */
static int copy_durably(int src, const char *dst, const char *dir)
{
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc = HOSO_EIO;
    char *buf = malloc(1 << 16);
    if (out < 0 || !buf) goto Exit;
    for (;;) {
        ssize_t n = read(src, buf, 1 << 16);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto Exit;
        if (n == 0) break;
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(out, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                rc = errno == ENOSPC ? HOSO_ESTORAGE_FULL : HOSO_EIO;
                goto Exit;
            }
            w += k;
        }
    }
    if (fsync(out) != 0) goto Exit;
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) goto Exit;
    rc = fsync(d) == 0 ? 0 : HOSO_EIO;
    close(d);
Exit:
    free(buf);
    if (out >= 0 && close(out) != 0 && rc == 0) rc = HOSO_EIO;
    if (rc) unlink(dst);
    return rc;
}

int hoso_client_upload(hoso_client *c, const char *file, const char *name, char op_id_out[33], hoso_client_cb cb,
                       void *ud)
{
    struct stat st;
    char op_id[HOSO__OPID_LEN + 1], dir[1100], copy[1200], nm[256];
    if (!file) return HOSO_EBAD_REQUEST;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? HOSO_ENOT_FOUND : HOSO_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return HOSO_EBAD_REQUEST;
    }
    const char *base = strrchr(file, '/');
    snprintf(nm, sizeof nm, "%s", name ? name : base ? base + 1 : file);
    hoso__make_op_id(op_id);
    snprintf(dir, sizeof dir, "%s/uploads", c->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        close(fd);
        return HOSO_EIO;
    }
    hoso__upload_copy_path(c, op_id, copy, sizeof copy);
    int rc = copy_durably(fd, copy, dir);
    close(fd);
    if (rc) return rc;

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    hoso_pack_kcstr(&pk, "op_id", op_id);
    hoso_pack_kcstr(&pk, "kind", "upload");
    hoso_pack_kcstr(&pk, "name", nm);
    hoso_pack_kint(&pk, "size", (int64_t)st.st_size);
    rc = hoso__outbox_enqueue(c, &sb, op_id, cb, ud);
    msgpack_sbuffer_destroy(&sb);
    if (rc) unlink(copy);
    else if (op_id_out) memcpy(op_id_out, op_id, sizeof op_id);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Downloads */

typedef struct download {
    hoso_client_cb cb;
    void *ud;
    char out[1024];
} download;

static void on_download(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                        const hoso__http_headers *h, void *ud)
{
    download *d = ud;
    hoso_client_reply r;
    (void)h;
    memset(&r, 0, sizeof r);
    if (err != 0) {
        r.error.err = err;
        snprintf(r.error.code, sizeof r.error.code, "%s", hoso_err_code(err));
        snprintf(r.error.message, sizeof r.error.message, "%s", why);
    } else if (status != 200) {
        msgpack_unpacked un;
        r.error.err = status == 404 ? HOSO_ENOT_FOUND : HOSO_EBAD_REQUEST;
        r.error.http_status = status;
        snprintf(r.error.code, sizeof r.error.code, "%s", hoso_err_code(r.error.err));
        snprintf(r.error.message, sizeof r.error.message, "HTTP %d", status);
        msgpack_unpacked_init(&un);
        if (len && msgpack_unpack_next(&un, body, len, NULL) == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *eo = hoso_map_get(&un.data, "error");
            if (eo) {
                hoso__obj_cstr(hoso_map_get(eo, "code"), r.error.code, sizeof r.error.code);
                hoso__obj_cstr(hoso_map_get(eo, "message"), r.error.message, sizeof r.error.message);
            }
        }
        msgpack_unpacked_destroy(&un);
    } else {
        /* Written whole under a temporary name, then renamed: never half a file. */
        char tmp[1100];
        snprintf(tmp, sizeof tmp, "%s.part", d->out);
        FILE *f = fopen(tmp, "wb");
        if (!f || fwrite(body, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
            rename(tmp, d->out) != 0) {
            if (f) fclose(f);
            unlink(tmp);
            r.error.err = HOSO_EIO;
            snprintf(r.error.code, sizeof r.error.code, "%s", hoso_err_code(HOSO_EIO));
            snprintf(r.error.message, sizeof r.error.message, "cannot write %.120s: %s", d->out, strerror(errno));
        }
    }
    r.error.http_status = r.error.http_status ? r.error.http_status : status;
    if (d->cb) d->cb(c, &r, d->ud);
    free(d);
}

int hoso_client_download(hoso_client *c, const char *id, const char *out, hoso_client_cb cb, void *ud)
{
    char path[96];
    download *d;
    if (!id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32 || !out || strlen(out) >= 1000)
        return HOSO_EBAD_REQUEST;
    if (!(d = calloc(1, sizeof *d))) return HOSO_ENOMEM;
    d->cb = cb;
    d->ud = ud;
    snprintf(d->out, sizeof d->out, "%s", out);
    snprintf(path, sizeof path, "/v1/files/%s", id);
    int rc = hoso__http_send2(c, "GET", path, NULL, 0, NULL, NULL, on_download, d);
    if (rc) free(d);
    return rc;
}
