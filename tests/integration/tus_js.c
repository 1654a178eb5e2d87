/*
 * tus_js.c - the upload endpoint checked by an independent tus client: tus-js-client
 * (the one web and React Native apps embed, pinned in tests/tus/package-lock.json and
 * installed by scripts/install-deps) run by node from tests/tus/conformance.mjs. It
 * uploads a scan in pieces, resumes a cut upload from a new Upload that knows only the
 * URL, ends one with DELETE, and meets the refusals (415 for a renamed executable, 401
 * without a token, 409 for a wrong offset). This side then reads back what the server
 * kept: the same bytes under the file id, the UTF-8 name from the metadata, nothing for
 * the ended upload.
 */
#define _GNU_SOURCE
#include <libgen.h>
#include <sodium.h>
#include <sys/stat.h>
#include "hoso_test.h"

static ht_world W;

static uint8_t *write_file(const char *dir, const char *name, size_t n, const char *magic, size_t mlen)
{
    char path[PATH_MAX + 64];
    uint8_t *b = malloc(n);
    randombytes_buf(b, n);
    memcpy(b, magic, mlen);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) ht_fail("cannot write %s", path);
    return b;
}

/* The file id is the last part of the upload URL. */
static const char *url_id(const char *url)
{
    const char *s = url ? strrchr(url, '/') : NULL;
    return s ? s + 1 : "";
}

static void expect_file(const char *id, const uint8_t *bytes, size_t n, const char *name_part)
{
    char path[128], auth[400], v[400];
    ht_resp r;
    snprintf(path, sizeof path, "/v1/files/%s", id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(r.len, n);
    EXPECT(r.len == n && memcmp(r.body, bytes, n) == 0);
    if (name_part) EXPECT(ht_resp_header(&r, "Content-Disposition", v, sizeof v) && strstr(v, name_part) != NULL);
    ht_resp_free(&r);
}

static void test_tus_js_client(void)
{
    char src[PATH_MAX], tus_dir[PATH_MAX + 16], files[PATH_MAX + 16], cmd[4 * PATH_MAX], line[2048];
    snprintf(src, sizeof src, "%s", __FILE__);
    snprintf(tus_dir, sizeof tus_dir, "%s/../tus", dirname(src));
    if (ht_sh(NULL, "node --version >/dev/null 2>&1") != 0)
        ht_fail("node is not installed: run scripts/install-deps");
    if (ht_sh(NULL, "test -f '%s/node_modules/tus-js-client/package.json'", tus_dir) != 0)
        ht_fail("tus-js-client is not installed in %s: run scripts/install-deps", tus_dir);

    ht_world_start(&W, NULL);
    snprintf(files, sizeof files, "%s/tus-files", W.s.dir);
    if (mkdir(files, 0700) != 0) ht_fail("mkdir %s", files);
    static const char png[] = "\x89PNG\r\n\x1a\n";
    uint8_t *scan = write_file(files, "scan.png", 1300 * 1000, png, 8);
    uint8_t *resume = write_file(files, "resume.png", 800 * 1000, png, 8);
    free(write_file(files, "gone.png", 600 * 1000, png, 8));
    free(write_file(files, "setup.exe", 300 * 1000, "MZ\x90\x00\x03\x00", 6));

    snprintf(cmd, sizeof cmd, "cd '%s' && timeout 60 node conformance.mjs http://127.0.0.1:%d '%s' '%s'", tus_dir,
             W.s.port, W.cit.token, files);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) ht_fail("popen: %s", cmd);
    int steps = 0;
    while (fgets(line, sizeof line, p)) {
        fprintf(stderr, "tus-js-client: %s", line);
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) continue;
        const char *step = ht_jstr(j, "step");
        EXPECT(json_is_true(json_object_get(j, "ok")));
        if (strcmp(step, "upload") == 0) {
            EXPECT(ht_jint(j, "pieces") >= 5); /* 1.3 MB in 256 KiB pieces */
            expect_file(url_id(ht_jstr(j, "url")), scan, 1300 * 1000, "filename*=UTF-8''Gi%E1%BA%A5y");
        } else if (strcmp(step, "resume") == 0) {
            EXPECT_INT(ht_jint(j, "cut_at"), 256 * 1024);
            expect_file(url_id(ht_jstr(j, "url")), resume, 800 * 1000, NULL);
        } else if (strcmp(step, "terminate") == 0) {
            char path[128], h[400];
            ht_resp r;
            snprintf(path, sizeof path, "/v1/uploads/%s", url_id(ht_jstr(j, "url")));
            snprintf(h, sizeof h, "Authorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n", W.cit.token);
            ht_http(&W.c, "HEAD", path, h, NULL, 0, &r);
            EXPECT_INT(r.status, 404);
            ht_resp_free(&r);
        }
        steps++;
        json_decref(j);
    }
    int st = pclose(p);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT_INT(steps, 6);
    free(scan);
    free(resume);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_tus_js_client))
