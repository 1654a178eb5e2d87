/*
 * client_upload.c - the SDK's uploads (hoso_client_upload) against a real hosod: a
 * 2.5 MB scan sent in pieces while the connections keep being cut
 * (hoso_client_drop_connections every 40 ms), resumed each time from the server's
 * offset, arrives whole (same bytes, same sha256). A file that is not a JPEG, PNG or
 * PDF comes back refused with the server's code. And the outbox: a scan and the
 * dossier that names it by op_id, queued while hosod is down, survive the app closing
 * twice (once mid-upload, which resumes from the server's offset, not from 0), and
 * arrive in order with the server's file id in the paper; a message names a second
 * upload the same way.
 */
#include <sodium.h>
#include <unistd.h>
#include <lmdb.h>
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
    if (r->queued) return; /* a cut: the outbox goes on with it */
    d->done = 1;
    d->err = r->error;
    const msgpack_object *id = r->body ? hoso_map_get(hoso_map_get(r->body, "file"), "id") : NULL;
    if (r->error.err == 0 && id && id->type == MSGPACK_OBJECT_STR)
        snprintf(d->id, sizeof d->id, "%.*s", (int)id->via.str.size, id->via.str.ptr);
}

static void on_login(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    (void)c;
    if (r->error.err) ht_fail("login: %s %s", r->error.code, r->error.message);
    *(int *)ud = 1;
}

static hoso_client *C;
static int cuts, max_cuts = 8;

static void on_cut(uv_timer_t *t)
{
    (void)t;
    if (cuts < max_cuts) {
        hoso_client_drop_connections(C);
        cuts++;
    }
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) ht_fail("cannot write %s", path);
}

/* ---------------------------------------------------------------------------------- */
/* What the outbox reports. */

static struct {
    uint64_t first_sent; /* the first progress report of this client: where it resumed */
    uint64_t sent;
    uint64_t stop_at;    /* stop the loop once this many bytes are on the server */
    int stop, nprog;
    int applied, rejected, uploads_ended;
    hoso_client_error err; /* of the last rejected op */
    char upload_file[40], code[96];
    char prog_op[33]; /* the upload the last progress report was about */
} R;

static void on_progress(hoso_client *c, const char *op_id, uint64_t sent, uint64_t total, void *ud)
{
    (void)c;
    (void)ud;
    EXPECT(sent <= total);
    if (strcmp(op_id, R.prog_op) != 0) { /* another upload */
        snprintf(R.prog_op, sizeof R.prog_op, "%s", op_id);
        R.sent = 0;
    }
    if (R.nprog++ == 0) R.first_sent = sent;
    EXPECT(sent >= R.sent); /* never backwards, within one client or across restarts */
    R.sent = sent;
    if (R.stop_at && sent >= R.stop_at && sent < total) R.stop = 1;
}

static void on_done(hoso_client *c, const hoso_client_op *op, const char *status, const hoso_dossier *d,
                    const hoso_client_error *err, void *ud)
{
    (void)c;
    (void)ud;
    if (strcmp(status, "rejected") == 0) {
        R.rejected++;
        R.uploads_ended += strcmp(op->kind, "upload") == 0;
        if (err) R.err = *err;
        fprintf(stderr, "rejected %s: %s %s\n", op->kind, err ? err->code : "", err ? err->message : "");
        return;
    }
    R.applied++;
    if (strcmp(op->kind, "upload") == 0) {
        R.uploads_ended++;
        const msgpack_object *f = hoso_map_get(op->body, "file");
        EXPECT(f && f->type == MSGPACK_OBJECT_STR && f->via.str.size == 32);
        if (f) snprintf(R.upload_file, sizeof R.upload_file, "%.*s", (int)f->via.str.size, f->via.str.ptr);
    } else if (strcmp(op->kind, "submit") == 0 && d) {
        snprintf(R.code, sizeof R.code, "%s", d->code.ptr);
    }
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
    hoso_client_callbacks cbs = {.on_op_done = on_done, .on_upload_progress = on_progress};
    memset(&R, 0, sizeof R);
    EXPECT_INT(hoso_client_new(&C, &loop, &opt, &cbs), 0);
    int logged = 0;
    EXPECT_INT(hoso_client_login(C, W.cit.login, NULL, W.cit.password, on_login, &logged), 0);
    EXPECT_INT(hoso_client_run_until(C, &logged, 20000), 0);

    uv_timer_t cut;
    uv_timer_init(&loop, &cut);
    uv_timer_start(&cut, on_cut, 40, 40);
    done d = {0};
    EXPECT_INT(hoso_client_upload(C, file, "Bản chụp giấy khai sinh.pdf", NULL, on_upload, &d), 0);
    /* The first cut reports it queued; on_op_done tells when the server has it all. */
    EXPECT_INT(hoso_client_run_until(C, &R.uploads_ended, 60000), 0);
    uv_timer_stop(&cut);
    uv_close((uv_handle_t *)&cut, NULL);
    if (R.rejected) ht_fail("upload: %s %s", R.err.code, R.err.message);
    EXPECT_INT(R.sent, N);
    snprintf(d.id, sizeof d.id, "%s", R.upload_file);
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
    EXPECT_INT(hoso_client_upload(C, bad, NULL, NULL, on_upload, &e), 0);
    EXPECT_INT(hoso_client_run_until(C, &e.done, 20000), 0);
    EXPECT_STR(e.err.code, "UNSUPPORTED_MEDIA_TYPE");
    EXPECT_INT(e.err.http_status, 415);
    EXPECT_INT(hoso_client_upload(C, "/nonexistent/file.pdf", NULL, NULL, on_upload, &e), HOSO_ENOT_FOUND);

    hoso_client_free(C);
    uv_run(&loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(&loop), 0);
    free(data);
    ht_world_stop(&W);
}

static void on_queued(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    (void)c;
    (void)ud;
    if (!r->queued && r->error.err) ht_fail("op %s: %s %s", r->op_id ? r->op_id : "?", r->error.code, r->error.message);
}

static void client_open(uv_loop_t *loop, const hoso_client_options *opt)
{
    hoso_client_callbacks cbs = {.on_op_done = on_done, .on_upload_progress = on_progress};
    uv_loop_init(loop);
    EXPECT_INT(hoso_client_new(&C, loop, opt, &cbs), 0);
}

static void client_close(uv_loop_t *loop)
{
    hoso_client_free(C);
    uv_run(loop, UV_RUN_NOWAIT);
    EXPECT_INT(uv_loop_close(loop), 0);
}

static void on_synced(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    (void)c;
    (void)r;
    *(int *)ud = 1;
}

static void test_upload_waits_in_outbox_across_restarts(void)
{
    enum { N = 3 * 1000 * 1000 };
    char state[PATH_MAX], url[64], file[PATH_MAX + 32], file2[PATH_MAX + 32];
    char up_op[33] = "", up2_op[33] = "";
    uv_loop_t loop;
    uint8_t *data = malloc(N);
    randombytes_buf(data, N);
    memcpy(data, "%PDF-1.7\n", 9);
    memset(&R, 0, sizeof R);
    ht_world_start(&W, NULL);
    ht_sdk_paths(&W.s, state, url);
    snprintf(file, sizeof file, "%s/../scan-offline.pdf", state);
    write_file(file, data, N);
    hoso_client_options opt = {.base_url = url, .state_dir = state, .backoff_min_ms = 50, .backoff_max_ms = 200,
                               .request_timeout_ms = 10000};

    /* Signed in, then the network is gone: the scan and the dossier naming it queue. */
    client_open(&loop, &opt);
    int logged = 0;
    EXPECT_INT(hoso_client_login(C, W.cit.login, NULL, W.cit.password, on_login, &logged), 0);
    EXPECT_INT(hoso_client_run_until(C, &logged, 20000), 0);
    ht_server_kill9(&W.s);
    EXPECT_INT(hoso_client_upload(C, file, "Sổ hộ khẩu.pdf", up_op, on_queued, NULL), 0);
    EXPECT_INT(unlink(file), 0); /* the app's own copy may go: the outbox has one */
    json_t *form = ht_valid_form(&W.svc), *papers = ht_valid_papers(&W.svc);
    msgpack_sbuffer s1, s2;
    msgpack_unpacked u1, u2;
    EXPECT_INT((int)strlen(up_op), 32);
    json_object_set_new(json_array_get(papers, 0), "file", json_string(up_op));
    ht_msgpack_of(form, &s1, &u1);
    ht_msgpack_of(papers, &s2, &u2);
    EXPECT_INT(hoso_client_submit(C, W.svc.code, &u1.data, &u2.data, on_queued, NULL), 0);
    msgpack_unpacked_destroy(&u1);
    msgpack_unpacked_destroy(&u2);
    msgpack_sbuffer_destroy(&s1);
    msgpack_sbuffer_destroy(&s2);
    json_decref(form);
    json_decref(papers);
    hoso_client_run_for(C, 100);
    EXPECT_INT(hoso_client_outbox_len(C), 2);
    EXPECT_INT(R.applied + R.rejected, 0);
    client_close(&loop);

    /* Back online; the app closes after about a third of the scan. */
    ht_server_restart_same_port(&W.s);
    client_open(&loop, &opt);
    R.stop_at = N / 3;
    int synced = 0;
    EXPECT_INT(hoso_client_sync(C, on_synced, &synced), 0);
    EXPECT_INT(hoso_client_run_until(C, &R.stop, 30000), 0);
    uint64_t cut_at = R.sent;
    EXPECT(cut_at >= (uint64_t)N / 3 && cut_at < (uint64_t)N);
    EXPECT_INT(hoso_client_outbox_len(C), 2);
    client_close(&loop);

    /* Opened again: it goes on from the server's offset, then the dossier follows. */
    R.nprog = 0;
    R.stop_at = 0;
    client_open(&loop, &opt);
    synced = 0;
    EXPECT_INT(hoso_client_sync(C, on_synced, &synced), 0);
    EXPECT_INT(hoso_client_run_until(C, &synced, 30000), 0);
    EXPECT_INT(hoso_client_outbox_len(C), 0);
    EXPECT_INT(R.rejected, 0);
    EXPECT_INT(R.applied, 2);
    EXPECT(R.first_sent >= cut_at); /* resumed, not restarted */
    EXPECT_INT(R.sent, N);
    char id[40];
    EXPECT_INT(hoso_client_upload_file_id(C, up_op, id), 0);
    EXPECT_STR(id, R.upload_file);
    EXPECT((int)strlen(R.code) > 0);

    ht_conn_close(&W.c);
    ht_conn_init(&W.c, W.s.port);
    char path[160], auth[400];
    ht_resp r;
    snprintf(path, sizeof path, "/v1/dossiers/%s", R.code);
    ht_mp_call(&W.c, "GET", path, W.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_STR(ht_jstr(r.json, "dossier.papers.0.file"), R.upload_file);
    ht_resp_free(&r);
    snprintf(path, sizeof path, "/v1/files/%s", R.upload_file);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(r.len, N);
    EXPECT(r.len == N && memcmp(r.body, data, N) == 0);
    ht_resp_free(&r);
    /* The outbox's copy is gone once the server has the file. */
    char copy[PATH_MAX + 64];
    snprintf(copy, sizeof copy, "%s/uploads/%s", state, up_op);
    EXPECT(access(copy, F_OK) != 0);

    /* A message with one more photo, named by the upload's op_id. */
    snprintf(file2, sizeof file2, "%s/../answer.pdf", state);
    write_file(file2, data, 200000);
    EXPECT_INT(hoso_client_upload(C, file2, NULL, up2_op, on_queued, NULL), 0);
    const char *files[] = {up2_op};
    EXPECT_INT(hoso_client_message(C, R.code, "Tôi gửi thêm bản chụp.", files, 1, on_queued, NULL), 0);
    synced = 0;
    EXPECT_INT(hoso_client_sync(C, on_synced, &synced), 0);
    EXPECT_INT(hoso_client_run_until(C, &synced, 30000), 0);
    EXPECT_INT(R.applied, 4);
    snprintf(path, sizeof path, "/v1/dossiers/%s/messages", R.code);
    ht_mp_call(&W.c, "GET", path, W.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    char id2[40];
    EXPECT_INT(R.uploads_ended, 2);
    EXPECT_INT(hoso_client_upload_file_id(C, up2_op, id2), 0);
    EXPECT_STR(id2, R.upload_file); /* the last upload's, from on_op_done */
    EXPECT(strcmp(id2, id) != 0);
    EXPECT_STR(ht_jstr(r.json, "messages.0.files.0"), id2);
    ht_resp_free(&r);

    client_close(&loop);
    free(data);
    ht_world_stop(&W);
}

/* The server's id of the first queued upload, read from the client's store. */
static void queued_upload_id(const char *state, char out[40])
{
    char path[PATH_MAX + 16];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    out[0] = '\0';
    snprintf(path, sizeof path, "%s/client.mdb", state);
    EXPECT_INT(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    EXPECT_INT(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
    EXPECT_INT(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    EXPECT_INT(mdb_dbi_open(txn, "outbox", 0, &dbi), 0);
    EXPECT_INT(mdb_cursor_open(txn, dbi, &cur), 0);
    if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0) {
        msgpack_unpacked un;
        msgpack_unpacked_init(&un);
        if (msgpack_unpack_next(&un, v.mv_data, v.mv_size, NULL) == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *u = hoso_map_get(&un.data, "upload");
            if (u && u->type == MSGPACK_OBJECT_STR && u->via.str.size < 40)
                snprintf(out, 40, "%.*s", (int)u->via.str.size, u->via.str.ptr);
        }
        msgpack_unpacked_destroy(&un);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* The server no longer has the upload (ended, or expired during a long time offline):
 * the SDK sends the whole file again from its copy instead of failing forever. */
static void test_upload_gone_on_server_starts_again(void)
{
    enum { N = 2 * 1000 * 1000 };
    char state[PATH_MAX], url[64], file[PATH_MAX + 32], up_id[40], path[128], h[400];
    uv_loop_t loop;
    uint8_t *data = malloc(N);
    randombytes_buf(data, N);
    memcpy(data, "\xff\xd8\xff\xe0", 4); /* a JPEG */
    memset(&R, 0, sizeof R);
    ht_world_start(&W, NULL);
    ht_sdk_paths(&W.s, state, url);
    snprintf(file, sizeof file, "%s/../photo.jpg", state);
    write_file(file, data, N);
    hoso_client_options opt = {.base_url = url, .state_dir = state, .backoff_min_ms = 50, .backoff_max_ms = 200,
                               .request_timeout_ms = 10000};
    client_open(&loop, &opt);
    int logged = 0;
    EXPECT_INT(hoso_client_login(C, W.cit.login, NULL, W.cit.password, on_login, &logged), 0);
    EXPECT_INT(hoso_client_run_until(C, &logged, 20000), 0);
    R.stop_at = N / 2;
    EXPECT_INT(hoso_client_upload(C, file, NULL, NULL, on_queued, NULL), 0);
    EXPECT_INT(hoso_client_run_until(C, &R.stop, 30000), 0);
    client_close(&loop);

    queued_upload_id(state, up_id);
    EXPECT_INT((int)strlen(up_id), 32);
    snprintf(path, sizeof path, "/v1/uploads/%s", up_id);
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n", W.cit.token);
    ht_resp r;
    ht_http(&W.c, "DELETE", path, h, NULL, 0, &r);
    EXPECT_INT(r.status, 204);
    ht_resp_free(&r);

    R.nprog = 0;
    R.sent = 0;
    R.stop_at = 0;
    client_open(&loop, &opt);
    int synced = 0;
    EXPECT_INT(hoso_client_sync(C, on_synced, &synced), 0);
    EXPECT_INT(hoso_client_run_until(C, &synced, 30000), 0);
    EXPECT_INT(R.rejected, 0);
    EXPECT_INT(R.uploads_ended, 1);
    EXPECT(R.first_sent < (uint64_t)N / 2); /* from the start again */
    EXPECT(strcmp(R.upload_file, up_id) != 0);
    snprintf(path, sizeof path, "/v1/files/%s", R.upload_file);
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", W.cit.token);
    ht_http(&W.c, "GET", path, h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(r.len == N && memcmp(r.body, data, N) == 0);
    ht_resp_free(&r);
    client_close(&loop);
    free(data);
    ht_world_stop(&W);
}

/* ---------------------------------------------------------------------------------- */
/* The whole story on a flaky network (issue: papers as files). */

static struct {
    int officer_msgs; /* `message` events from an officer, live on the push channel */
    int result_ready; /* a dossier.status event to 9 */
} E;

static void on_event(hoso_client *c, const hoso_client_event *ev, void *ud)
{
    (void)c;
    (void)ud;
    if (strcmp(ev->type, "message") == 0) {
        const msgpack_object *from = hoso_map_get(hoso_map_get(ev->raw, "message"), "from");
        if (from && from->type == MSGPACK_OBJECT_STR && from->via.str.size == 7 &&
            memcmp(from->via.str.ptr, "officer", 7) == 0)
            E.officer_msgs++;
    } else if (strcmp(ev->type, "dossier.status") == 0 && ev->dossier && ev->dossier->status == 9) {
        E.result_ready++;
    }
}

static void on_downloaded(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    (void)c;
    if (r->error.err) ht_fail("download: %s %s", r->error.code, r->error.message);
    *(int *)ud = 1;
}

/* A citizen photographs three papers and files the dossier while the network keeps
 * dropping (every 15 ms, 40 times), answers the officer's question with one more photo, and
 * downloads the signed result; another citizen reads none of it. */
static void test_flaky_citizen_files_and_gets_the_result(void)
{
    static const size_t sizes[3] = {300 * 1000, 700 * 1000, 1200 * 1000};
    char state[PATH_MAX], url[64], file[PATH_MAX + 32], ops[4][33], path[256], auth[400];
    uint8_t *photos[4];
    uv_loop_t loop;
    ht_resp r;
    memset(&R, 0, sizeof R);
    memset(&E, 0, sizeof E);
    ht_world_start(&W, NULL);
    ht_sdk_paths(&W.s, state, url);

    /* The service's paper types, one photo each. */
    snprintf(path, sizeof path, "/v1/services/%s", W.svc.code);
    ht_mp_call(&W.c, "GET", path, W.cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *kinds = json_deep_copy(ht_j(r.json, "service.papers"));
    ht_resp_free(&r);
    EXPECT(json_array_size(kinds) >= 3);
    json_t *papers = json_array();
    for (int i = 0; i < 4; i++) {
        size_t n = i < 3 ? sizes[i] : 400 * 1000;
        photos[i] = malloc(n);
        randombytes_buf(photos[i], n);
        memcpy(photos[i], "\xff\xd8\xff\xe0", 4);
    }

    hoso_client_options opt = {.base_url = url, .state_dir = state, .backoff_min_ms = 20, .backoff_max_ms = 100,
                               .request_timeout_ms = 10000};
    hoso_client_callbacks cbs = {.on_op_done = on_done, .on_event = on_event, .on_upload_progress = on_progress};
    uv_loop_init(&loop);
    EXPECT_INT(hoso_client_new(&C, &loop, &opt, &cbs), 0);
    int logged = 0;
    EXPECT_INT(hoso_client_login(C, W.cit.login, NULL, W.cit.password, on_login, &logged), 0);
    EXPECT_INT(hoso_client_run_until(C, &logged, 20000), 0);
    EXPECT_INT(hoso_client_push_start(C), 0);
    uv_timer_t cut;
    uv_timer_init(&loop, &cut);
    cuts = 0;
    max_cuts = 40;
    uv_timer_start(&cut, on_cut, 15, 15);

    for (int i = 0; i < 3; i++) {
        snprintf(file, sizeof file, "%s/../giay-%d.jpg", state, i);
        write_file(file, photos[i], sizes[i]);
        EXPECT_INT(hoso_client_upload(C, file, NULL, ops[i], on_queued, NULL), 0);
        json_t *k = json_array_get(kinds, (size_t)i);
        char number[32];
        snprintf(number, sizeof number, "SO-%d", i + 1);
        json_array_append_new(papers, json_pack("{s:s, s:s, s:s, s:s}", "type", json_string_value(json_object_get(k, "type")),
                                                "number", number, "issuer", "Công an phường Tràng Tiền", "file", ops[i]));
    }
    json_t *form = ht_valid_form(&W.svc);
    msgpack_sbuffer s1, s2;
    msgpack_unpacked u1, u2;
    ht_msgpack_of(form, &s1, &u1);
    ht_msgpack_of(papers, &s2, &u2);
    EXPECT_INT(hoso_client_submit(C, W.svc.code, &u1.data, &u2.data, on_queued, NULL), 0);
    msgpack_unpacked_destroy(&u1);
    msgpack_unpacked_destroy(&u2);
    msgpack_sbuffer_destroy(&s1);
    msgpack_sbuffer_destroy(&s2);
    json_decref(form);
    json_decref(papers);
    json_decref(kinds);
    int synced = 0;
    EXPECT_INT(hoso_client_sync(C, on_synced, &synced), 0);
    for (int i = 0; i < 100 && hoso_client_outbox_len(C) > 0; i++) {
        synced = 0;
        EXPECT_INT(hoso_client_sync(C, on_synced, &synced), 0);
        EXPECT_INT(hoso_client_run_until(C, &synced, 30000), 0);
    }
    EXPECT_INT(hoso_client_outbox_len(C), 0);
    EXPECT_INT(R.rejected, 0);
    EXPECT_INT(R.applied, 4);
    EXPECT((int)strlen(R.code) > 0);
    fprintf(stderr, "filed %s with 3 photos across %d cuts\n", R.code, cuts);

    /* The dossier holds the three files, each the bytes photographed. */
    ht_get_dossier(&W.c, W.cit.token, R.code, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    char fids[3][40];
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "papers.%d.file", i);
        snprintf(fids[i], sizeof fids[i], "%s", ht_jstr(ht_dossier_of(&r), key));
        char want[40];
        EXPECT_INT(hoso_client_upload_file_id(C, ops[i], want), 0);
        EXPECT_STR(fids[i], want);
    }
    ht_resp_free(&r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", W.off.token);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/v1/files/%s", fids[i]);
        ht_http(&W.c, "GET", path, auth, NULL, 0, &r); /* the agency's officer reads them */
        HT_EXPECT_REPLY(&r, 200, NULL);
        EXPECT(r.len == sizes[i] && memcmp(r.body, photos[i], sizes[i]) == 0);
        ht_resp_free(&r);
    }

    /* The officer asks; the question arrives live; the citizen answers with a photo. */
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages", R.code);
    json_t *body = json_pack("{s:s}", "text", "Ảnh CCCD bị mờ, anh/chị chụp lại giúp.");
    ht_mp_callj(&W.c, "POST", path, W.off.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    for (int i = 0; i < 300 && E.officer_msgs == 0; i++) hoso_client_run_for(C, 50);
    EXPECT_INT(E.officer_msgs, 1);
    snprintf(file, sizeof file, "%s/../cccd-chup-lai.jpg", state);
    write_file(file, photos[3], 400 * 1000);
    EXPECT_INT(hoso_client_upload(C, file, NULL, ops[3], on_queued, NULL), 0);
    const char *files[] = {ops[3]};
    EXPECT_INT(hoso_client_message(C, R.code, "Tôi gửi lại ảnh CCCD.", files, 1, on_queued, NULL), 0);
    for (int i = 0; i < 100 && hoso_client_outbox_len(C) > 0; i++) {
        synced = 0;
        EXPECT_INT(hoso_client_sync(C, on_synced, &synced), 0);
        EXPECT_INT(hoso_client_run_until(C, &synced, 30000), 0);
    }
    EXPECT_INT(R.applied, 6);
    char answer[40];
    EXPECT_INT(hoso_client_upload_file_id(C, ops[3], answer), 0);
    ht_mp_call(&W.c, "GET", path, W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_STR(ht_jstr(r.json, "messages.1.from"), "citizen");
    EXPECT_STR(ht_jstr(r.json, "messages.1.files.0"), answer);
    ht_resp_free(&r);

    /* The signed result, uploaded by the officer, goes with the move to 9. */
    char h[1024], loc[128];
    static const char pdf[] = "%PDF-1.7\n% giay khai sinh ban dien tu, ky so\n%%EOF\n";
    snprintf(h, sizeof h, "Tus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\nUpload-Length: %zu\r\n"
             "Upload-Metadata: filename a2V0LXF1YS5wZGY=\r\n", W.off.token, sizeof pdf - 1);
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    EXPECT(ht_resp_header(&r, "Location", loc, sizeof loc) != NULL);
    ht_resp_free(&r);
    snprintf(h, sizeof h, "Tus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\nUpload-Offset: 0\r\n"
             "Content-Type: application/offset+octet-stream\r\n", W.off.token);
    ht_http(&W.c, "PATCH", loc, h, pdf, sizeof pdf - 1, &r);
    EXPECT_INT(r.status, 204);
    ht_resp_free(&r);
    const char *result_id = loc + strlen("/v1/uploads/");
    long long v = 1;
    for (int to = 2; to <= 4; to += 2) {
        EXPECT_INT(ht_transition(&W.c, &W.off, R.code, to, v, &r), 200);
        v = ht_jint(ht_dossier_of(&r), "version");
        ht_resp_free(&r);
    }
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/transitions", R.code);
    body = json_pack("{s:i, s:I, s:s, s:[s]}", "to", 9, "version", (json_int_t)v, "result", "Đã có kết quả",
                     "result_files", result_id);
    ht_mp_callj(&W.c, "POST", path, W.off.token, body, &r);
    json_decref(body);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    for (int i = 0; i < 300 && E.result_ready == 0; i++) hoso_client_run_for(C, 50);
    EXPECT_INT(E.result_ready, 1);
    uv_timer_stop(&cut);
    char out[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/../ket-qua.pdf", state);
    int got = 0;
    EXPECT_INT(hoso_client_download(C, result_id, out, on_downloaded, &got), 0);
    EXPECT_INT(hoso_client_run_until(C, &got, 20000), 0);
    EXPECT_INT(ht_sh(NULL, "printf '%%s' '%s' | cmp -s - '%s'", pdf, out), 0);

    /* Nobody else: another citizen gets 404 for every one of these files. */
    ht_user other;
    ht_citizen_new(&W.c, &other);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", other.token);
    const char *all[] = {fids[0], fids[1], fids[2], answer, result_id};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "/v1/files/%s", all[i]);
        ht_http(&W.c, "GET", path, auth, NULL, 0, &r);
        EXPECT_INT(r.status, 404);
        ht_resp_free(&r);
    }

    uv_close((uv_handle_t *)&cut, NULL);
    hoso_client_push_stop(C);
    client_close(&loop);
    for (int i = 0; i < 4; i++) free(photos[i]);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_upload_resumes_across_cuts), UNIT(test_upload_waits_in_outbox_across_restarts),
          UNIT(test_upload_gone_on_server_starts_again), UNIT(test_flaky_citizen_files_and_gets_the_result))
