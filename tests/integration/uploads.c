/*
 * uploads.c - papers as files over the tus 1.0 protocol, against a real hosod with a
 * raw HTTP client: every header of the core, creation, termination, checksum and
 * expiration extensions, wrong offsets and checksums, the media type read from the
 * bytes, quotas; kill -9 in the middle of a piece and the upload resumed to the right
 * sha256; the file read back whole and by range, with its ETag, by its owner only, and
 * never in the clear on disk.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <lmdb.h>
#include <sodium.h>
#include "hoso_test.h"

static ht_world W;

static void hdrs(char *out, size_t n, const ht_user *u, const char *more)
{
    snprintf(out, n, "Tus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n%s", u->token, more ? more : "");
}

static void header_is(const ht_resp *r, const char *name, const char *want)
{
    char v[512];
    if (!ht_resp_header(r, name, v, sizeof v)) ht_fail("no %s header (status %d)", name, r->status);
    if (strcmp(v, want) != 0) ht_fail("%s is \"%s\", expected \"%s\" in:\n%s", name, v, want, r->head);
}

/* POST /v1/uploads: the new upload's id. */
static void create(const ht_user *u, size_t length, const char *filename, char id[128])
{
    char h[1024], meta[512] = "", b64[400];
    ht_resp r;
    if (filename) {
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)filename, strlen(filename),
                          sodium_base64_VARIANT_ORIGINAL);
        snprintf(meta, sizeof meta, "Upload-Metadata: filename %s,filetype aW1hZ2UvcG5n\r\n", b64);
    }
    char more[700];
    snprintf(more, sizeof more, "Upload-Length: %zu\r\n%s", length, meta);
    hdrs(h, sizeof h, u, more);
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    header_is(&r, "Tus-Resumable", "1.0.0");
    char loc[128], exp[64];
    if (!ht_resp_header(&r, "Location", loc, sizeof loc) || strncmp(loc, "/v1/uploads/", 12) != 0)
        ht_fail("no Location");
    EXPECT(ht_resp_header(&r, "Upload-Expires", exp, sizeof exp) != NULL && strstr(exp, "GMT") != NULL);
    snprintf(id, 128, "%s", loc + 12);
    ht_resp_free(&r);
}

static int patch(const ht_user *u, const char *id, size_t off, const void *p, size_t n, const char *extra, ht_resp *r)
{
    char h[1024], more[512], path[192];
    snprintf(more, sizeof more, "Content-Type: application/offset+octet-stream\r\nUpload-Offset: %zu\r\n%s", off,
             extra ? extra : "");
    hdrs(h, sizeof h, u, more);
    snprintf(path, sizeof path, "/v1/uploads/%s", id);
    ht_http(&W.c, "PATCH", path, h, p, n, r);
    return r->status;
}

static long long head_offset(const ht_user *u, const char *id)
{
    char h[512], path[192], v[32];
    ht_resp r;
    hdrs(h, sizeof h, u, NULL);
    snprintf(path, sizeof path, "/v1/uploads/%s", id);
    ht_http(&W.c, "HEAD", path, h, NULL, 0, &r);
    long long off = -1;
    if (r.status == 200 && ht_resp_header(&r, "Upload-Offset", v, sizeof v)) off = atoll(v);
    else if (r.status != 404) ht_fail("HEAD: %d", r.status);
    ht_resp_free(&r);
    return off;
}

/* n bytes that read as a PNG, and one more (a piece past the end reads it). */
static uint8_t *fake_png(size_t n)
{
    uint8_t *b = malloc(n + 1);
    randombytes_buf(b, n + 1);
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    return b;
}

static void test_tus_protocol(void)
{
    enum { N = 300000 };
    char id[128], h[1024], path[192], v[256], sum[128], b64[64];
    ht_resp r;
    uint8_t *data = fake_png(N);
    ht_world_start(&W, NULL);

    /* OPTIONS: what this server speaks, without a token. */
    ht_http(&W.c, "OPTIONS", "/v1/uploads", NULL, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 204, NULL);
    header_is(&r, "Tus-Resumable", "1.0.0");
    header_is(&r, "Tus-Version", "1.0.0");
    header_is(&r, "Tus-Extension", "creation,termination,checksum,expiration");
    header_is(&r, "Tus-Max-Size", "10485760");
    header_is(&r, "Tus-Checksum-Algorithm", "sha1,sha256");
    ht_resp_free(&r);

    /* Creation: the protocol version, a length, and at most Tus-Max-Size. */
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\nUpload-Length: 10\r\n", W.cit.token);
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 412, "PRECONDITION_FAILED");
    header_is(&r, "Tus-Version", "1.0.0");
    ht_resp_free(&r);
    hdrs(h, sizeof h, &W.cit, NULL);
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "Upload-Length"));
    ht_resp_free(&r);
    hdrs(h, sizeof h, &W.cit, "Upload-Length: 10485761\r\n");
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 413, "PAYLOAD_TOO_LARGE");
    ht_resp_free(&r);
    snprintf(h, sizeof h, "Tus-Resumable: 1.0.0\r\nUpload-Length: 10\r\n");
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    ht_resp_free(&r);

    create(&W.cit, N, "Giấy khai sinh.png", id);
    EXPECT_INT(head_offset(&W.cit, id), 0);
    snprintf(path, sizeof path, "/v1/uploads/%s", id);
    hdrs(h, sizeof h, &W.cit, NULL);
    ht_http(&W.c, "HEAD", path, h, NULL, 0, &r);
    header_is(&r, "Upload-Length", "300000");
    header_is(&r, "Cache-Control", "no-store");
    ht_resp_free(&r);

    /* PATCH: the right type, the right offset. */
    hdrs(h, sizeof h, &W.cit, "Content-Type: application/octet-stream\r\nUpload-Offset: 0\r\n");
    ht_http(&W.c, "PATCH", path, h, data, 10, &r);
    HT_EXPECT_REPLY(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    ht_resp_free(&r);
    EXPECT_INT(patch(&W.cit, id, 5, data + 5, 10, NULL, &r), 409);
    HT_EXPECT_REPLY(&r, 409, "OFFSET_MISMATCH");
    header_is(&r, "Upload-Offset", "0");
    ht_resp_free(&r);

    /* A piece with its sha256: acknowledged with the new offset. */
    uint8_t d32[32];
    crypto_hash_sha256(d32, data, 100000);
    sodium_bin2base64(b64, sizeof b64, d32, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(sum, sizeof sum, "Upload-Checksum: sha256 %s\r\n", b64);
    EXPECT_INT(patch(&W.cit, id, 0, data, 100000, sum, &r), 204);
    header_is(&r, "Upload-Offset", "100000");
    header_is(&r, "Tus-Resumable", "1.0.0");
    ht_resp_free(&r);
    /* A piece that does not match its checksum is not kept. */
    EXPECT_INT(patch(&W.cit, id, 100000, data + 100000, 100000, sum, &r), 460);
    HT_EXPECT_REPLY(&r, 460, "CHECKSUM_MISMATCH");
    ht_resp_free(&r);
    EXPECT_INT(head_offset(&W.cit, id), 100000);
    /* sha1 too (the wrong length for its algorithm is a 400). */
    unsigned char s1[20];
    crypto_hash_sha256(d32, data + 100000, 100000);
    {
        /* SHA-1 by hand is not in libsodium: use the shell's. */
        char *hex = NULL, tmp[PATH_MAX + 32];
        snprintf(tmp, sizeof tmp, "%s/piece.bin", W.s.dir);
        FILE *f = fopen(tmp, "wb");
        EXPECT(f && fwrite(data + 100000, 1, 100000, f) == 100000 && fclose(f) == 0);
        EXPECT_INT(ht_sh(&hex, "sha1sum '%s' | cut -c1-40", tmp), 0);
        for (int i = 0; i < 20; i++) sscanf(hex + 2 * i, "%2hhx", &s1[i]);
        free(hex);
    }
    sodium_bin2base64(b64, sizeof b64, s1, 20, sodium_base64_VARIANT_ORIGINAL);
    snprintf(sum, sizeof sum, "Upload-Checksum: sha1 %s\r\n", b64);
    EXPECT_INT(patch(&W.cit, id, 100000, data + 100000, 100000, sum, &r), 204);
    ht_resp_free(&r);
    EXPECT_INT(patch(&W.cit, id, 200000, data + 200000, 10, "Upload-Checksum: md5 AAAA\r\n", &r), 400);
    ht_resp_free(&r);
    /* Another account sees no such upload. */
    ht_user other;
    ht_citizen_new(&W.c, &other);
    EXPECT_INT(head_offset(&other, id), -1);
    EXPECT_INT(patch(&other, id, 200000, data + 200000, 10, NULL, &r), 404);
    ht_resp_free(&r);
    /* Past Upload-Length: refused. The last piece makes the file. */
    EXPECT_INT(patch(&W.cit, id, 200000, data + 200000, 100001, NULL, &r), 413);
    ht_resp_free(&r);
    EXPECT_INT(patch(&W.cit, id, 200000, data + 200000, 100000, NULL, &r), 204);
    char floc[192];
    snprintf(floc, sizeof floc, "/v1/files/%s", id);
    header_is(&r, "File-Location", floc);
    header_is(&r, "Upload-Offset", "300000");
    ht_resp_free(&r);
    /* A client whose last reply was lost learns from HEAD that it is done. */
    EXPECT_INT(head_offset(&W.cit, id), N);
    hdrs(h, sizeof h, &W.cit, NULL);
    ht_http(&W.c, "HEAD", path, h, NULL, 0, &r);
    header_is(&r, "File-Location", floc);
    ht_resp_free(&r);

    /* The file: whole, with its sha256 as ETag, its type, its name. */
    char auth[400], want_etag[80], hex[65];
    crypto_hash_sha256(d32, data, N);
    sodium_bin2hex(hex, sizeof hex, d32, 32);
    snprintf(want_etag, sizeof want_etag, "\"%s\"", hex);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", floc, auth, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(r.len, N);
    EXPECT(memcmp(r.body, data, N) == 0);
    header_is(&r, "ETag", want_etag);
    header_is(&r, "Content-Type", "image/png");
    EXPECT(ht_resp_header(&r, "Content-Disposition", v, sizeof v) &&
           strstr(v, "filename*=UTF-8''Gi%E1%BA%A5y%20khai%20sinh.png") != NULL);
    ht_resp_free(&r);
    /* Cached copies revalidate; ranges. */
    snprintf(h, sizeof h, "%sIf-None-Match: %s\r\n", auth, want_etag);
    ht_http(&W.c, "GET", floc, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 304, NULL);
    ht_resp_free(&r);
    snprintf(h, sizeof h, "%sRange: bytes=100-199\r\n", auth);
    ht_http(&W.c, "GET", floc, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 206, NULL);
    EXPECT_INT(r.len, 100);
    EXPECT(memcmp(r.body, data + 100, 100) == 0);
    header_is(&r, "Content-Range", "bytes 100-199/300000");
    ht_resp_free(&r);
    snprintf(h, sizeof h, "%sRange: bytes=-7\r\n", auth);
    ht_http(&W.c, "GET", floc, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 206, NULL);
    EXPECT(r.len == 7 && memcmp(r.body, data + N - 7, 7) == 0);
    ht_resp_free(&r);
    snprintf(h, sizeof h, "%sRange: bytes=300000-\r\n", auth);
    ht_http(&W.c, "GET", floc, h, NULL, 0, &r);
    EXPECT_INT(r.status, 416);
    header_is(&r, "Content-Range", "bytes */300000");
    ht_resp_free(&r);
    /* Nobody else reads it; an admin does not need to be its owner (tested elsewhere). */
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", other.token);
    ht_http(&W.c, "GET", floc, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", W.off.token);
    ht_http(&W.c, "GET", floc, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);
    /* On disk the bytes are not the file's. */
    char *out = NULL;
    EXPECT_INT(ht_sh(&out, "head -c 8 '%s/files/%s' | od -An -tx1", W.s.dir, id), 0);
    EXPECT(strstr(out, "89 50 4e 47") == NULL);
    free(out);
    free(data);
    ht_world_stop(&W);
}

static void test_refusals_termination_quota(void)
{
    char id[128], path[192], h[512];
    ht_resp r;
    ht_world_start(&W, NULL);
    /* A renamed executable: refused as soon as its first bytes are in, and gone. */
    create(&W.cit, 4096, "anh.png", id);
    uint8_t elf[4096];
    randombytes_buf(elf, sizeof elf);
    memcpy(elf, "\x7f" "ELF\x02\x01\x01\x00", 8);
    EXPECT_INT(patch(&W.cit, id, 0, elf, 1024, NULL, &r), 415);
    HT_EXPECT_REPLY(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    ht_resp_free(&r);
    EXPECT_INT(head_offset(&W.cit, id), -1);
    /* Termination. */
    create(&W.cit, 100, NULL, id);
    snprintf(path, sizeof path, "/v1/uploads/%s", id);
    hdrs(h, sizeof h, &W.cit, NULL);
    ht_http(&W.c, "DELETE", path, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 204, NULL);
    ht_resp_free(&r);
    EXPECT_INT(head_offset(&W.cit, id), -1);
    ht_http(&W.c, "DELETE", path, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);
    /* At most 20 open uploads per account. */
    for (int i = 0; i < 20; i++) create(&W.cit, 100, NULL, id);
    hdrs(h, sizeof h, &W.cit, "Upload-Length: 100\r\n");
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 429, "RATE_LIMITED");
    ht_resp_free(&r);
    /* Ending one makes room. */
    snprintf(path, sizeof path, "/v1/uploads/%s", id);
    ht_http(&W.c, "DELETE", path, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 204, NULL);
    ht_resp_free(&r);
    create(&W.cit, 100, NULL, id);
    ht_world_stop(&W);
}

/* kill -9 while a piece is on its way: what was acknowledged is kept, the rest is sent
 * again from the offset HEAD gives, and the file has the right sha256. */
static void test_kill9_mid_upload(void)
{
    enum { N = 3 * 1000 * 1000, PIECE = 1000 * 1000 };
    char id[128], h[1024];
    ht_resp r;
    uint8_t *data = malloc(N);
    randombytes_buf(data, N);
    memcpy(data, "%PDF-1.7\n", 9);
    ht_world_start(&W, NULL);
    create(&W.cit, N, "ket-qua.pdf", id);
    EXPECT_INT(patch(&W.cit, id, 0, data, PIECE, NULL, &r), 204);
    ht_resp_free(&r);
    /* The second piece goes out on a socket of its own; hosod dies under it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)W.s.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_INT(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    int hl = snprintf(h, sizeof h,
                      "PATCH /v1/uploads/%s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
                      id, W.cit.token, PIECE, PIECE);
    EXPECT(write(fd, h, (size_t)hl) == hl);
    EXPECT(write(fd, data + PIECE, PIECE) == PIECE);
    ht_server_kill9(&W.s);
    close(fd);
    ht_server_restart(&W.s);
    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    long long off = head_offset(&W.cit, id);
    fprintf(stderr, "after kill -9: offset %lld\n", off);
    EXPECT(off == PIECE || off == 2 * PIECE);
    while (off < N) {
        size_t n = N - off < PIECE ? (size_t)(N - off) : PIECE;
        EXPECT_INT(patch(&W.cit, id, (size_t)off, data + off, n, NULL, &r), 204);
        ht_resp_free(&r);
        off += (long long)n;
    }
    char path[192], auth[400];
    snprintf(path, sizeof path, "/v1/files/%s", id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    header_is(&r, "Content-Type", "application/pdf");
    EXPECT_INT(r.len, N);
    EXPECT(memcmp(r.body, data, N) == 0);
    uint8_t d32[32];
    char hex[65], etag[80];
    crypto_hash_sha256(d32, data, N);
    sodium_bin2hex(hex, sizeof hex, d32, 32);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    header_is(&r, "ETag", etag);
    ht_resp_free(&r);
    free(data);
    ht_world_stop(&W);
}

/* A backup carries the uploaded files: restored over the data dir (whose own files/
 * goes aside), the file reads back the same. */
static void test_backup_keeps_files(void)
{
    enum { N = 5000 };
    char id[128], path[192], auth[400], bak[PATH_MAX], *out = NULL;
    ht_resp r;
    uint8_t *data = fake_png(N);
    ht_world_start(&W, NULL);
    create(&W.cit, N, "so-ho-khau.png", id);
    EXPECT_INT(patch(&W.cit, id, 0, data, N, NULL, &r), 204);
    ht_resp_free(&r);
    snprintf(bak, sizeof bak, "%s/backup-%d.mdb", ht_tmpdir(), (int)getpid());
    EXPECT_INT(ht_sh(&out, "'%s' backup --data '%s' --to '%s' --force 2>&1", ht_hosod(), W.s.dir, bak), 0);
    EXPECT(strstr(out, "1 uploaded files copied") != NULL);
    free(out);
    ht_server_stop(&W.s);
    EXPECT_INT(ht_sh(&out, "'%s' restore --from '%s' --data '%s' --force 2>&1", ht_hosod(), bak, W.s.dir), 0);
    free(out);
    ht_server_restart(&W.s);
    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    snprintf(path, sizeof path, "/v1/files/%s", id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(r.len == N && memcmp(r.body, data, N) == 0);
    ht_resp_free(&r);
    EXPECT_INT(ht_sh(NULL, "rm -rf '%s' '%s.key' '%s.files'", bak, bak, bak), 0);
    free(data);
    ht_world_stop(&W);
}

/* One whole upload of data (n bytes) by u: the file's id. */
static void upload(const ht_user *u, const uint8_t *data, size_t n, const char *name, char id[128])
{
    ht_resp r;
    create(u, n, name, id);
    EXPECT_INT(patch(u, id, 0, data, n, NULL, &r), 204);
    ht_resp_free(&r);
}

static int file_status(const ht_user *u, const char *id)
{
    char path[192], auth[400];
    ht_resp r;
    snprintf(path, sizeof path, "/v1/files/%s", id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", u->token);
    ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
    int st = r.status;
    ht_resp_free(&r);
    return st;
}

/* Files travel with papers, messages and results; the people of the dossier read them,
 * nobody else. */
static void test_files_in_dossiers(void)
{
    char a[128], b[128], c[128], other_file[128], path[256];
    ht_resp r;
    uint8_t *png = fake_png(2000), pdf[3000];
    randombytes_buf(pdf, sizeof pdf);
    memcpy(pdf, "%PDF-1.4\n", 9);
    ht_world_start(&W, NULL);
    ht_user other, off2;
    ht_service svc2;
    ht_citizen_new(&W.c, &other);
    ht_service_pick(&W.c, &svc2, 0, W.svc.agency);
    ht_officer_new(&W.s, &W.c, svc2.agency, &off2);
    ht_service_free(&svc2);
    upload(&W.cit, png, 2000, "cccd-mat-truoc.png", a);
    upload(&other, png, 2000, "khac.png", other_file);
    EXPECT_INT(file_status(&W.off, a), 404); /* not in any dossier yet */

    /* A paper of the submission carries a photo of it. */
    json_t *body = ht_valid_submit(&W.svc, NULL);
    json_t *papers = json_object_get(body, "papers");
    if (json_array_size(papers) == 0) ht_fail("service %s needs no paper", W.svc.code);
    json_object_set_new(json_array_get(papers, 0), "file", json_string(other_file));
    ht_mp_callj(&W.c, "POST", "/v1/dossiers", W.cit.token, body, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "papers[0].file"));
    ht_resp_free(&r);
    json_object_set_new(json_array_get(papers, 0), "file", json_string(a));
    json_object_set_new(body, "op_id", json_string("files-submit-1"));
    ht_mp_callj(&W.c, "POST", "/v1/dossiers", W.cit.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 201, NULL);
    char code[96];
    snprintf(code, sizeof code, "%s", ht_jstr(r.json, "dossier.code"));
    EXPECT_STR(ht_jstr(r.json, "dossier.papers.0.file"), a);
    ht_resp_free(&r);
    EXPECT_INT(file_status(&W.off, a), 200);   /* the dossier's agency */
    EXPECT_INT(file_status(&off2, a), 404);    /* another agency */
    EXPECT_INT(file_status(&other, a), 404);   /* another citizen */

    /* A message with a photo. */
    upload(&W.cit, png, 2000, "bo-sung.png", b);
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", code);
    body = json_pack("{s:s, s:s, s:[s]}", "text", "Ảnh bổ sung", "op_id", "files-msg-1", "files", b);
    ht_mp_callj(&W.c, "POST", path, W.cit.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 201, NULL);
    EXPECT_STR(ht_jstr(r.json, "message.files.0"), b);
    ht_resp_free(&r);
    body = json_pack("{s:s, s:s, s:[s]}", "text", "x", "op_id", "files-msg-2", "files", other_file);
    ht_mp_callj(&W.c, "POST", path, W.cit.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    ht_resp_free(&r);
    body = json_pack("{s:s, s:s, s:[s]}", "text", "x", "op_id", "files-msg-3", "files", "");
    ht_mp_callj(&W.c, "POST", path, W.cit.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "files[0]"));
    ht_resp_free(&r);
    EXPECT_INT(file_status(&W.off, b), 200);

    /* The result, signed: the officer's upload goes with the move to 9. */
    upload(&W.off, pdf, sizeof pdf, "giay-khai-sinh-ban-dien-tu.pdf", c);
    long long v = 1;
    for (int to = 2; to <= 4; to += 2) {
        EXPECT_INT(ht_transition(&W.c, &W.off, code, to, v, &r), 200);
        v = ht_jint(ht_dossier_of(&r), "version");
        ht_resp_free(&r);
    }
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/transitions", code);
    body = json_pack("{s:i, s:I, s:s, s:[s]}", "to", 9, "version", (json_int_t)v, "result", "Giấy khai sinh điện tử",
                     "result_files", c);
    ht_mp_callj(&W.c, "POST", path, W.off.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_STR(ht_jstr(r.json, "dossier.result_files.0.id"), c);
    EXPECT_STR(ht_jstr(r.json, "dossier.result_files.0.name"), "giay-khai-sinh-ban-dien-tu.pdf");
    EXPECT_STR(ht_jstr(r.json, "dossier.result_files.0.type"), "application/pdf");
    ht_resp_free(&r);
    EXPECT_INT(file_status(&W.cit, c), 200);   /* the dossier's citizen */
    EXPECT_INT(file_status(&other, c), 404);
    /* Read back, the dossier still names it. */
    ht_get_dossier(&W.c, W.cit.token, code, &r);
    EXPECT_STR(ht_jstr(ht_dossier_of(&r), "result_files.0.id"), c);
    ht_resp_free(&r);

    /* The vault keeps a paper's file. */
    body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op_id", "files-paper-1", "type", "giay_xac_nhan_cu_tru", "number",
                     "XN-9", "issuer", "Công an phường", "file", a);
    ht_mp_callj(&W.c, "POST", "/v1/papers", W.cit.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 201, NULL);
    EXPECT_STR(ht_jstr(r.json, "paper.file"), a);
    ht_resp_free(&r);
    free(png);
    ht_world_stop(&W);
}

/* A finished file that nothing uses expires a day later (removed by a later creation);
 * one a paper uses stays. hosod's clock is moved a day on with libfaketime. */
static void test_unused_files_expire(void)
{
    const char *lib = ht_faketime_lib();
    if (!lib) {
        fprintf(stderr, "SKIP test_unused_files_expire: libfaketime not installed (Debian package faketime)\n");
        return;
    }
    char unused[128], kept[128], fresh[128], path[PATH_MAX + 160];
    ht_resp r;
    uint8_t *png = fake_png(1000);
    ht_world_start(&W, NULL);
    upload(&W.cit, png, 1000, "nhap.png", unused);
    upload(&W.cit, png, 1000, "cccd.png", kept);
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op_id", "keep-1", "type", "cccd", "number", "001099000111",
                          "issuer", "Cục CS QLHC", "file", kept);
    ht_mp_callj(&W.c, "POST", "/v1/papers", W.cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    ht_server_stop(&W.s);
    snprintf(W.s.env, sizeof W.s.env, "LD_PRELOAD=%s FAKETIME=+25h ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0", lib);
    ht_server_restart(&W.s);
    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    EXPECT_INT(file_status(&W.cit, unused), 200); /* expired, not yet swept */
    create(&W.cit, 100, NULL, fresh);              /* a creation sweeps */
    EXPECT_INT(file_status(&W.cit, unused), 404);
    EXPECT_INT(file_status(&W.cit, kept), 200);
    snprintf(path, sizeof path, "%s/files/%s", W.s.dir, unused);
    EXPECT(access(path, F_OK) != 0);
    free(png);
    ht_world_stop(&W);
}

/* What a crash or a race leaves is cleared at the next start; a broken upload record
 * does not stop new uploads; headers too long for the server are named, not ignored;
 * a long name is shortened on a character boundary; pieces sent back to back all go
 * in. */
static void test_leftovers_and_limits(void)
{
    enum { N = 100000 };
    char id[128], h[4096], path[PATH_MAX + 64], stray[33], b64[1024], name[3100];
    ht_resp r;
    uint8_t *data = fake_png(N);
    ht_world_start(&W, NULL);
    create(&W.cit, N, "mot-nua.png", id);
    EXPECT_INT(patch(&W.cit, id, 0, data, N / 2, NULL, &r), 204);
    ht_resp_free(&r);
    ht_server_kill9(&W.s);

    /* A part whose upload is gone, bytes no file record names, a record that does not
     * decode. */
    uint8_t rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(stray, sizeof stray, rnd, sizeof rnd);
    EXPECT_INT(ht_sh(NULL, "mkdir -p '%s/files' && printf junk > '%s/uploads/%s' && printf junk > '%s/files/%s'", W.s.dir, W.s.dir, stray, W.s.dir,
                     stray), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    snprintf(path, sizeof path, "%s/lmdb", W.s.dir);
    EXPECT_INT(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 64);
    EXPECT_INT(mdb_env_open(env, path, 0, 0600), 0);
    EXPECT_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    EXPECT_INT(mdb_dbi_open(txn, "uploads", 0, &dbi), 0);
    MDB_val k = {32, stray}, v = {1, "\xc1"};
    EXPECT_INT(mdb_put(txn, dbi, &k, &v, 0), 0);
    EXPECT_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    ht_server_restart(&W.s);
    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    EXPECT_INT(ht_sh(NULL, "test ! -e '%s/uploads/%s' && test ! -e '%s/files/%s'", W.s.dir, stray, W.s.dir, stray), 0);
    EXPECT_INT(ht_sh(NULL, "grep -q 'removed 1 upload parts and 1 files that nothing refers to' '%s/hosod.log'",
                     W.s.dir), 0);
    /* The open upload kept its part, and goes on. */
    EXPECT_INT(head_offset(&W.cit, id), N / 2);
    EXPECT_INT(patch(&W.cit, id, N / 2, data + N / 2, N / 2, NULL, &r), 204);
    ht_resp_free(&r);
    /* A creation sweeps the broken record away instead of failing on it. */
    char id2[128];
    create(&W.cit, 64 * 1024, NULL, id2);

    /* Headers longer than the server reads are refused by name. */
    char big[3000];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(name, sizeof name, "Upload-Length: 10\r\nUpload-Metadata: filename %.2990s\r\n", big);
    hdrs(h, sizeof h, &W.cit, name);
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "Upload-Metadata"));
    ht_resp_free(&r);
    char more[400];
    snprintf(more, sizeof more, "Upload-Checksum: sha256 %.300s\r\n", big);
    EXPECT_INT(patch(&W.cit, id2, 0, data, 1000, more, &r), 422);
    EXPECT(ht_err_names_field(&r, "Upload-Checksum"));
    ht_resp_free(&r);

    /* 64 pieces back to back on one connection: each 204. */
    for (int i = 0; i < 64; i++) {
        EXPECT_INT(patch(&W.cit, id2, (size_t)i * 1024, data + i * 1024, 1024, NULL, &r), 204);
        ht_resp_free(&r);
    }

    /* "a" and 100 times "ệ" (301 bytes): kept as "a" and 84 whole characters. */
    size_t nl = 0;
    name[nl++] = 'a';
    for (int i = 0; i < 100; i++) nl += (size_t)snprintf(name + nl, sizeof name - nl, "ệ");
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)name, nl, sodium_base64_VARIANT_ORIGINAL);
    char meta[1200], loc[128];
    snprintf(meta, sizeof meta, "Upload-Length: 1000\r\nUpload-Metadata: filename %s\r\n", b64);
    hdrs(h, sizeof h, &W.cit, meta);
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    EXPECT(ht_resp_header(&r, "Location", loc, sizeof loc) != NULL);
    ht_resp_free(&r);
    EXPECT_INT(patch(&W.cit, loc + 12, 0, data, 1000, NULL, &r), 204);
    ht_resp_free(&r);
    char auth[400], cd[1400];
    snprintf(path, sizeof path, "/v1/files/%s", loc + 12);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(ht_resp_header(&r, "Content-Disposition", cd, sizeof cd) != NULL);
    const char *enc = strstr(cd, "filename*=UTF-8''");
    EXPECT(enc != NULL);
    if (enc) {
        enc += strlen("filename*=UTF-8''");
        int chars = 0;
        for (const char *p = enc + 1; strncmp(p, "%E1%BB%87", 9) == 0; p += 9) chars++;
        EXPECT_INT(chars, 84);
        EXPECT_INT((int)strlen(enc), 1 + 84 * 9);
    }
    ht_resp_free(&r);
    free(data);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_leftovers_and_limits), UNIT(test_tus_protocol), UNIT(test_unused_files_expire), UNIT(test_files_in_dossiers), UNIT(test_backup_keeps_files), UNIT(test_refusals_termination_quota), UNIT(test_kill9_mid_upload))
