/*
 * upload.c - a file to the server over tus 1.0 (docs/protocol.md 4.5b), in pieces, and
 * resumed: a piece that fails for the network (or a 5xx, 409) is not sent again blind;
 * after a backoff the client asks the server where the upload stands (HEAD) and goes on
 * from that offset, so a phone that loses its network mid-photo sends each byte about
 * once. The server's refusals (4xx) end the upload with their error.
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
#define MAX_TRIES 30 /* network failures in a row before giving up */

typedef struct upload {
    hoso_client *c;
    int fd;
    uint64_t size, off;
    char name[256];
    char id[40];
    int tries;
    uv_timer_t timer;
    hoso_client_cb cb;
    void *ud;
    uint8_t *buf;
} upload;

static void step(upload *u);
static void resync(upload *u);

static void on_timer_closed(uv_handle_t *h)
{
    upload *u = h->data;
    u->c->open_handles--;
    free(u->buf);
    free(u);
}

static void finish(upload *u, const hoso_client_error *err)
{
    hoso_client_reply r;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked un;
    memset(&r, 0, sizeof r);
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&un);
    if (err) {
        r.error = *err;
    } else {
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        hoso_pack_cstr(&pk, "file");
        msgpack_pack_map(&pk, 3);
        hoso_pack_kcstr(&pk, "id", u->id);
        hoso_pack_kint(&pk, "size", (int64_t)u->size);
        hoso_pack_kcstr(&pk, "name", u->name);
        if (msgpack_unpack_next(&un, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS) r.body = &un.data;
        r.op_id = u->id;
    }
    if (u->cb) u->cb(u->c, &r, u->ud);
    msgpack_unpacked_destroy(&un);
    msgpack_sbuffer_destroy(&sb);
    close(u->fd);
    uv_close((uv_handle_t *)&u->timer, on_timer_closed);
}

static void fail(upload *u, int err, int status, const char *body, size_t len, const char *why)
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
        }
    }
    msgpack_unpacked_destroy(&un);
    finish(u, &e);
}

static void on_backoff(uv_timer_t *t)
{
    resync(t->data);
}

/* The network (or the server, for now) failed: wait, then ask where we stand. */
static void later(upload *u, const char *why)
{
    if (++u->tries > MAX_TRIES) {
        fail(u, HOSO_EUNAVAILABLE, 0, NULL, 0, why);
        return;
    }
    unsigned ms = u->c->opt.backoff_min_ms << (u->tries < 6 ? u->tries - 1 : 5);
    if (ms > u->c->opt.backoff_max_ms) ms = u->c->opt.backoff_max_ms;
    uv_timer_start(&u->timer, on_backoff, ms, 0);
}

static int transient(int err, int status)
{
    return err != 0 || status >= 500 || status == 409 || status == 429 || status == 0;
}

static void on_head(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                    const hoso__http_headers *h, void *ud)
{
    upload *u = ud;
    (void)c;
    if (err == 0 && status == 200 && h->upload_offset[0]) {
        u->off = strtoull(h->upload_offset, NULL, 10);
        if (u->off >= u->size) finish(u, NULL); /* the last reply was lost: it is done */
        else step(u);
        return;
    }
    if (!transient(err, status)) {
        fail(u, status == 404 ? HOSO_ENOT_FOUND : HOSO_EBAD_REQUEST, status, body, len, "the upload is gone");
        return;
    }
    later(u, err ? why : "the server cannot tell where the upload stands");
}

static void resync(upload *u)
{
    char path[96];
    static const char *const hdrs[] = {"tus-resumable:", "1.0.0", NULL};
    if (u->id[0] == '\0') {
        step(u); /* not created yet: create it */
        return;
    }
    snprintf(path, sizeof path, "/v1/uploads/%s", u->id);
    if (hoso__http_send2(u->c, "HEAD", path, NULL, 0, NULL, hdrs, on_head, u) != 0) later(u, "out of memory");
}

static void on_patch(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                     const hoso__http_headers *h, void *ud)
{
    upload *u = ud;
    (void)c;
    if (err == 0 && status == 204) {
        u->off = h->upload_offset[0] ? strtoull(h->upload_offset, NULL, 10) : u->off;
        u->tries = 0;
        if (u->off >= u->size) finish(u, NULL);
        else step(u);
        return;
    }
    if (!transient(err, status)) {
        fail(u, status == 415 ? HOSO_EUNSUPPORTED_MEDIA_TYPE : status == 413 ? HOSO_EPAYLOAD_TOO_LARGE
                                                                             : HOSO_EBAD_REQUEST,
             status, body, len, "the server refused the upload");
        return;
    }
    later(u, err ? why : "the server could not take the piece");
}

static void on_create(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                      const hoso__http_headers *h, void *ud)
{
    upload *u = ud;
    msgpack_unpacked un;
    (void)c;
    (void)h;
    if (err == 0 && status == 201) {
        msgpack_unpacked_init(&un);
        if (msgpack_unpack_next(&un, body, len, NULL) == MSGPACK_UNPACK_SUCCESS)
            hoso__obj_cstr(hoso_map_get(hoso_map_get(&un.data, "upload"), "id"), u->id, sizeof u->id);
        msgpack_unpacked_destroy(&un);
        if (u->id[0] == '\0') {
            fail(u, HOSO_EBAD_REQUEST, status, NULL, 0, "the server gave no upload id");
            return;
        }
        u->tries = 0;
        step(u);
        return;
    }
    if (!transient(err, status) || status == 409) {
        fail(u, status == 413 ? HOSO_EPAYLOAD_TOO_LARGE : status == 401 ? HOSO_EUNAUTHORIZED : HOSO_EBAD_REQUEST,
             status, body, len, "the server refused the upload");
        return;
    }
    later(u, err ? why : "the server could not start the upload");
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
            later(u, "out of memory");
        return;
    }
    size_t n = u->size - u->off < PIECE ? (size_t)(u->size - u->off) : PIECE;
    ssize_t got = pread(u->fd, u->buf, n, (off_t)u->off);
    if (got != (ssize_t)n) {
        fail(u, HOSO_EIO, 0, NULL, 0, "cannot read the file (did it change?)");
        return;
    }
    snprintf(off_s, sizeof off_s, "%llu", (unsigned long long)u->off);
    snprintf(path, sizeof path, "/v1/uploads/%s", u->id);
    const char *hdrs[] = {"tus-resumable:", "1.0.0", "upload-offset:", off_s, NULL};
    if (hoso__http_send2(u->c, "PATCH", path, u->buf, n, "application/offset+octet-stream", hdrs, on_patch, u) != 0)
        later(u, "out of memory");
}

int hoso_client_upload(hoso_client *c, const char *file, const char *name, hoso_client_cb cb, void *ud)
{
    struct stat st;
    upload *u;
    if (!file) return HOSO_EBAD_REQUEST;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? HOSO_ENOT_FOUND : HOSO_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return HOSO_EBAD_REQUEST;
    }
    if (!(u = calloc(1, sizeof *u)) || !(u->buf = malloc(PIECE))) {
        if (u) free(u);
        close(fd);
        return HOSO_ENOMEM;
    }
    u->c = c;
    u->fd = fd;
    u->size = (uint64_t)st.st_size;
    const char *base = strrchr(file, '/');
    snprintf(u->name, sizeof u->name, "%s", name ? name : base ? base + 1 : file);
    u->cb = cb;
    u->ud = ud;
    uv_timer_init(c->loop, &u->timer);
    u->timer.data = u;
    c->open_handles++;
    step(u);
    return 0;
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
