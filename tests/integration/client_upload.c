/*
 * client_upload.c - the SDK's uploads (hoso_client_upload) against a real hosod: a
 * 2.5 MB scan sent in pieces while the connections keep being cut
 * (hoso_client_drop_connections every 40 ms), resumed each time from the server's
 * offset, arrives whole (same bytes, same sha256); then used as a paper's file. A file
 * that is not a JPEG, PNG or PDF comes back refused with the server's code.
 */
#include <sodium.h>
#include "hoso_test.h"
#include "hoso_client.h"

static ht_world W;

typedef struct done {
    int done;
    hoso_client_error err;
    char id[64];
} done;

static void on_upload(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    done *d = ud;
    (void)c;
    d->done = 1;
    d->err = r->error;
    if (r->error.err == 0 && r->op_id) snprintf(d->id, sizeof d->id, "%s", r->op_id);
}

static void on_login(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    (void)c;
    if (r->error.err) ht_fail("login: %s %s", r->error.code, r->error.message);
    *(int *)ud = 1;
}

static hoso_client *C;
static int cuts;

static void on_cut(uv_timer_t *t)
{
    (void)t;
    if (cuts < 8) {
        hoso_client_drop_connections(C);
        cuts++;
    }
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) ht_fail("cannot write %s", path);
}

static void test_upload_resumes_across_cuts(void)
{
    enum { N = 2500 * 1000 };
    char state[PATH_MAX], url[64], file[PATH_MAX + 32], bad[PATH_MAX + 32];
    uv_loop_t loop;
    uint8_t *data = malloc(N);
    randombytes_buf(data, N);
    memcpy(data, "%PDF-1.7\n", 9);
    ht_world_start(&W, NULL);
    ht_sdk_paths(&W.s, state, url);
    snprintf(file, sizeof file, "%s/scan.pdf", state);
    write_file(file, data, N);

    uv_loop_init(&loop);
    hoso_client_options opt = {.base_url = url, .state_dir = state, .backoff_min_ms = 20, .backoff_max_ms = 100,
                               .request_timeout_ms = 10000};
    hoso_client_callbacks cbs = {0};
    EXPECT_INT(hoso_client_new(&C, &loop, &opt, &cbs), 0);
    int logged = 0;
    EXPECT_INT(hoso_client_login(C, W.cit.login, NULL, W.cit.password, on_login, &logged), 0);
    EXPECT_INT(hoso_client_run_until(C, &logged, 20000), 0);

    uv_timer_t cut;
    uv_timer_init(&loop, &cut);
    uv_timer_start(&cut, on_cut, 40, 40);
    done d = {0};
    EXPECT_INT(hoso_client_upload(C, file, "Bản chụp giấy khai sinh.pdf", on_upload, &d), 0);
    EXPECT_INT(hoso_client_run_until(C, &d.done, 60000), 0);
    uv_timer_stop(&cut);
    uv_close((uv_handle_t *)&cut, NULL);
    if (d.err.err) ht_fail("upload: %s %s", d.err.code, d.err.message);
    fprintf(stderr, "uploaded %d bytes across %d cuts\n", N, cuts);
    EXPECT(cuts > 0);

    /* The bytes on the server are the file's. */
    char path[128], auth[400];
    ht_resp r;
    snprintf(path, sizeof path, "/v1/files/%s", d.id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(r.len, N);
    EXPECT(memcmp(r.body, data, N) == 0);
    char v[300];
    EXPECT(ht_resp_header(&r, "Content-Disposition", v, sizeof v) && strstr(v, "filename*=UTF-8''B%E1%BA%A3n") != NULL);
    ht_resp_free(&r);

    /* Not a paper's kind of file: the server's refusal comes back. */
    memcpy(data, "MZ\x90\x00\x03\x00\x00\x00", 8);
    snprintf(bad, sizeof bad, "%s/setup.png", state);
    write_file(bad, data, 100000);
    done e = {0};
    EXPECT_INT(hoso_client_upload(C, bad, NULL, on_upload, &e), 0);
    EXPECT_INT(hoso_client_run_until(C, &e.done, 20000), 0);
    EXPECT_STR(e.err.code, "UNSUPPORTED_MEDIA_TYPE");
    EXPECT_INT(e.err.http_status, 415);
    EXPECT_INT(hoso_client_upload(C, "/nonexistent/file.pdf", NULL, on_upload, &e), HOSO_ENOT_FOUND);

    hoso_client_free(C);
    uv_run(&loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&loop), 0);
    free(data);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_upload_resumes_across_cuts))
