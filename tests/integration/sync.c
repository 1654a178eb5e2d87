/*
 * sync.c - offline sync against a real hosod: reading the owner feed by pages, the
 * cursors that must start over (another epoch, ahead of the head, trimmed away), the
 * snapshot to start over from, and the offline queue of POST /v1/sync: in order, once
 * per op_id whichever way the op came, stale versions refused with the current
 * dossier, malformed items refused while the others apply.
 */
#include "hoso_test.h"

typedef ht_world fixture;

/* GET path as the citizen; the caller frees out. */
static void get(fixture *f, const char *path, ht_resp *out)
{
    ht_mp_call(&f->c, "GET", path, f->cit.token, NULL, out);
}

static void read_page(fixture *f, long long since, int limit, const char *epoch, ht_resp *out)
{
    char path[256];
    int n = snprintf(path, sizeof(path), "/v1/sync?since=%lld", since);
    if (limit > 0) n += snprintf(path + n, sizeof(path) - (size_t)n, "&limit=%d", limit);
    if (epoch) snprintf(path + n, sizeof(path) - (size_t)n, "&epoch=%s", epoch);
    get(f, path, out);
}

static long long snapshot_head(fixture *f, char *epoch, size_t n)
{
    ht_resp r;
    get(f, "/v1/sync/snapshot", &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    long long head = ht_jint(r.json, "head");
    if (epoch) snprintf(epoch, n, "%s", ht_jstr(r.json, "epoch"));
    ht_resp_free(&r);
    return head;
}

/* Moves code through the given statuses as the officer. */
static void move(fixture *f, const char *code, const int *to, int n)
{
    for (int i = 0; i < n; i++) {
        ht_resp r;
        ht_transition(&f->c, &f->off, code, to[i], -1, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        ht_resp_free(&r);
    }
}

static const int TO_SUPPLEMENT[] = {2, 4, 5};
static const int TO_RETURNED[] = {2, 4, 9, 10};

/* ---------------------------------------------------------------------------------- */

static void test_read_pages(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    char code[128], epoch[64];
    ht_submit(&f.c, &f.cit, &f.svc, code, sizeof(code));
    move(&f, code, TO_SUPPLEMENT, 3);
    ht_submit(&f.c, &f.cit, &f.svc, code, sizeof(code));
    long long head = snapshot_head(&f, epoch, sizeof(epoch));
    if (head < 6) ht_fail("expected at least 6 events, head is %lld", head);

    /* Pages of 2 from 0: seqs 1..head, contiguous, `next` the last seq, `more` until the end. */
    long long since = 0, seen = 0, papers = 0;
    for (int page = 0; page < 100; page++) {
        ht_resp r;
        read_page(&f, since, 2, epoch, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        EXPECT_STR(ht_jstr(r.json, "epoch"), epoch);
        json_t *ev = ht_j(r.json, "events");
        EXPECT(json_is_array(ev));
        EXPECT(json_array_size(ev) <= 2);
        size_t i;
        json_t *e;
        json_array_foreach(ev, i, e) {
            EXPECT_INT(ht_jint(e, "seq"), since + 1 + (long long)i);
            EXPECT(ht_jint(e, "at") > 0);
            const char *type = ht_jstr(e, "type");
            EXPECT(type != NULL);
            if (strcmp(type, "paper.added") == 0) {
                /* The event carries the paper itself. */
                EXPECT(ht_jstr(e, "paper.type") != NULL);
                EXPECT(ht_jstr(e, "paper.id") != NULL);
                papers++;
            } else {
                EXPECT(ht_jstr(e, "dossier.code") != NULL);
            }
        }
        seen += (long long)json_array_size(ev);
        long long next = ht_jint(r.json, "next");
        EXPECT_INT(next, since + (long long)json_array_size(ev));
        int more = json_is_true(ht_j(r.json, "more"));
        ht_resp_free(&r);
        since = next;
        if (!more) break;
    }
    EXPECT_INT(seen, head);
    EXPECT_INT(since, head);
    /* The submits put their new papers in the vault, with an event each. */
    json_t *given = ht_valid_papers(&f.svc);
    EXPECT(papers >= (long long)json_array_size(given));
    json_decref(given);

    /* At the head: nothing, next stays, no more. Without a limit: everything at once. */
    ht_resp r;
    read_page(&f, head, 0, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(ht_j(r.json, "events")), 0);
    EXPECT_INT(ht_jint(r.json, "next"), head);
    EXPECT(json_is_false(ht_j(r.json, "more")));
    ht_resp_free(&r);
    read_page(&f, 0, 0, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(ht_j(r.json, "events")), head);
    ht_resp_free(&r);

    /* Another citizen's feed is its own. */
    ht_user other;
    ht_citizen_new(&f.c, &other);
    ht_mp_call(&f.c, "GET", "/v1/sync?since=0", other.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(ht_j(r.json, "events")), 0);
    ht_resp_free(&r);
    /* Officers have no feed here. */
    ht_mp_call(&f.c, "GET", "/v1/sync?since=0", f.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 403, "FORBIDDEN");
    ht_resp_free(&r);
    ht_world_stop(&f);
}

static void test_cursor_expired(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    char code[128], epoch[64];
    ht_submit(&f.c, &f.cit, &f.svc, code, sizeof(code));
    long long head = snapshot_head(&f, epoch, sizeof(epoch));
    ht_resp r;

    read_page(&f, 0, 0, "00000000000000000000000000000000", &r);
    HT_EXPECT_REPLY(&r, 410, "CURSOR_EXPIRED");
    ht_resp_free(&r);
    read_page(&f, head + 1, 0, epoch, &r);
    HT_EXPECT_REPLY(&r, 410, "CURSOR_EXPIRED");
    ht_resp_free(&r);
    read_page(&f, head + 1000, 0, NULL, &r);
    HT_EXPECT_REPLY(&r, 410, "CURSOR_EXPIRED");
    ht_resp_free(&r);
    read_page(&f, 0, 0, epoch, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);

    get(&f, "/v1/sync?since=abc", &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "since"));
    ht_resp_free(&r);
    get(&f, "/v1/sync?since=0&limit=0", &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "limit"));
    ht_resp_free(&r);
    /* A limit over 1000 is capped, not refused. */
    get(&f, "/v1/sync?since=0&limit=5000", &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    ht_mp_call(&f.c, "GET", "/v1/sync?since=0", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    ht_resp_free(&r);
    ht_world_stop(&f);
}

static void test_retention_and_snapshot(void)
{
    fixture f;
    ht_world_start(&f, "--feed-max-events 5");
    char code[128], code2[128], epoch[64];
    /* 12 changes: 2 submits (with their papers' events) and officer moves. */
    ht_submit(&f.c, &f.cit, &f.svc, code, sizeof(code));
    move(&f, code, TO_RETURNED, 4);
    ht_submit(&f.c, &f.cit, &f.svc, code2, sizeof(code2));
    move(&f, code2, TO_SUPPLEMENT, 3);
    long long head = snapshot_head(&f, epoch, sizeof(epoch));
    for (int i = 0; head < 12 && i < 12; i++) {
        ht_submit(&f.c, &f.cit, &f.svc, code2, sizeof(code2));
        head = snapshot_head(&f, NULL, 0);
    }
    if (head < 12) ht_fail("expected 12 events, head is %lld", head);

    /* Only the last 5 are kept: a cursor before them is expired, head - 5 is not. */
    ht_resp r;
    read_page(&f, 0, 0, epoch, &r);
    HT_EXPECT_REPLY(&r, 410, "CURSOR_EXPIRED");
    ht_resp_free(&r);
    read_page(&f, head - 6, 0, epoch, &r);
    HT_EXPECT_REPLY(&r, 410, "CURSOR_EXPIRED");
    ht_resp_free(&r);
    read_page(&f, head - 5, 0, epoch, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(ht_j(r.json, "events")), 5);
    EXPECT_INT(ht_jint(r.json, "events.0.seq"), head - 4);
    ht_resp_free(&r);

    /* Start over: the snapshot has every dossier and paper, and the feed goes on from
     * its head with no gap. */
    get(&f, "/v1/sync/snapshot", &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(ht_jint(r.json, "head"), head);
    EXPECT_STR(ht_jstr(r.json, "epoch"), epoch);
    long ndossiers = ht_count_list(&f.c, f.cit.token, "/v1/dossiers");
    EXPECT_INT(json_array_size(ht_j(r.json, "dossiers")), ndossiers);
    EXPECT(json_array_size(ht_j(r.json, "papers")) >= 1);
    size_t i;
    json_t *d;
    int found = 0;
    json_array_foreach(ht_j(r.json, "dossiers"), i, d) found += strcmp(ht_jstr(d, "code"), code) == 0 &&
                                                                 ht_jint(d, "status") == 10;
    EXPECT_INT(found, 1);
    ht_resp_free(&r);

    read_page(&f, head, 0, epoch, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(ht_j(r.json, "events")), 0);
    ht_resp_free(&r);
    char path[256];
    snprintf(path, sizeof(path), "/v1/dossiers/%s/rating", code);
    json_t *b = json_pack("{s:{s:i}, s:s}", "answers", "overall", 4, "op_id", "rate-after-snapshot");
    ht_mp_callj(&f.c, "POST", path, f.cit.token, b, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    json_decref(b);
    read_page(&f, head, 0, epoch, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(ht_j(r.json, "events")), 1);
    EXPECT_INT(ht_jint(r.json, "events.0.seq"), head + 1);
    EXPECT_STR(ht_jstr(r.json, "events.0.type"), "dossier.updated");
    EXPECT_STR(ht_jstr(r.json, "events.0.dossier.code"), code);
    EXPECT_INT(ht_jint(r.json, "next"), head + 1);
    ht_resp_free(&r);
    ht_world_stop(&f);
}

/* ---------------------------------------------------------------------------------- */
/* The offline queue */

static json_t *op_json(const char *kind, const char *op_id, const char *code)
{
    json_t *o = json_pack("{s:s, s:s}", "op_id", op_id, "kind", kind);
    if (code) json_object_set_new(o, "code", json_string(code));
    return o;
}

static void post_sync(fixture *f, json_t *ops, ht_resp *out)
{
    json_t *body = json_pack("{s:O}", "ops", ops);
    ht_mp_callj(&f->c, "POST", "/v1/sync", f->cit.token, body, out);
    json_decref(body);
}

typedef struct batch {
    json_t *ops;
    char supp[3][128], ret[128], wd[128];
} batch;

/* 5 dossiers made beforehand (3 waiting for supplements, 1 returned, 1 new), then 50
 * ops: 40 submits, 3 supplements, a withdraw with the right base_version, a rating and
 * 5 feedbacks, interleaved. */
static void make_batch(fixture *f, batch *b)
{
    for (int i = 0; i < 3; i++) {
        ht_submit(&f->c, &f->cit, &f->svc, b->supp[i], sizeof(b->supp[i]));
        move(f, b->supp[i], TO_SUPPLEMENT, 3);
    }
    ht_submit(&f->c, &f->cit, &f->svc, b->ret, sizeof(b->ret));
    move(f, b->ret, TO_RETURNED, 4);
    ht_submit(&f->c, &f->cit, &f->svc, b->wd, sizeof(b->wd));
    b->ops = json_array();
    int nsubmit = 0, nsupp = 0, nfb = 0;
    for (int i = 0; i < 50; i++) {
        char id[64];
        json_t *o;
        snprintf(id, sizeof(id), "batch-%02d", i);
        if (i % 10 == 3 && nsupp < 3) {
            o = op_json("supplement", id, b->supp[nsupp++]);
            json_object_set_new(o, "form", ht_valid_form(&f->svc));
        } else if (i == 17) {
            o = op_json("withdraw", id, b->wd);
            json_object_set_new(o, "reason", json_string("Tôi nộp nhầm thủ tục"));
            json_object_set_new(o, "base_version", json_integer(1));
        } else if (i == 29) {
            o = op_json("rate", id, b->ret);
            json_object_set_new(o, "answers", json_pack("{s:i, s:i}", "overall", 5, "thai_do", 4));
        } else if (i % 10 == 8 && nfb < 5) {
            nfb++;
            o = op_json("feedback", id, NULL);
            json_object_set_new(o, "text", json_string("Ứng dụng dễ dùng"));
        } else {
            nsubmit++;
            o = ht_valid_submit(&f->svc, id);
            json_object_set_new(o, "kind", json_string("submit"));
        }
        json_array_append_new(b->ops, o);
    }
    if (nsubmit != 40 || nsupp != 3 || nfb != 5) ht_fail("batch mix %d/%d/%d", nsubmit, nsupp, nfb);
}

/* Checks one reply of the 50-op batch: every result `want` ("applied"/"duplicate"), in
 * the order sent, with the dossier each op changed. */
static void check_batch_reply(const batch *b, const ht_resp *r, const char *want)
{
    HT_EXPECT_REPLY(r, 200, NULL);
    json_t *res = ht_j(r->json, "results");
    EXPECT_INT(json_array_size(res), 50);
    char last_code[128] = "";
    for (size_t i = 0; i < 50; i++) {
        json_t *x = json_array_get(res, i), *o = json_array_get(b->ops, i);
        const char *kind = ht_jstr(o, "kind");
        EXPECT_STR(ht_jstr(x, "op_id"), ht_jstr(o, "op_id"));
        if (strcmp(ht_jstr(x, "status"), want) != 0)
            ht_fail("op %zu (%s): %s, expected %s", i, kind, ht_dump(x), want);
        if (strcmp(kind, "feedback") == 0) continue;
        const char *code = ht_jstr(x, "dossier.code");
        EXPECT(code != NULL);
        if (ht_jstr(o, "code")) EXPECT_STR(code, ht_jstr(o, "code"));
        if (strcmp(kind, "submit") == 0) {
            /* Submitted in order: the daily sequence in the codes grows with the ops. */
            if (strcmp(code, last_code) <= 0) ht_fail("op %zu got %s after %s", i, code, last_code);
            snprintf(last_code, sizeof(last_code), "%s", code);
        } else if (strcmp(kind, "supplement") == 0) {
            EXPECT_INT(ht_jint(x, "dossier.status"), 4);
        } else if (strcmp(kind, "withdraw") == 0) {
            EXPECT_INT(ht_jint(x, "dossier.status"), 7);
        } else if (strcmp(kind, "rate") == 0) {
            EXPECT(json_is_true(ht_j(x, "dossier.rated")));
        }
    }
}

static void test_batch_applied_in_order(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    batch b;
    make_batch(&f, &b);
    long long head0 = snapshot_head(&f, NULL, 0);
    ht_resp r;
    post_sync(&f, b.ops, &r);
    check_batch_reply(&b, &r, "applied");
    long long head = ht_jint(r.json, "head");
    EXPECT_INT(head, snapshot_head(&f, NULL, 0));
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 45);

    /* The feed saw the changes in the order of the queue. */
    ht_resp fr;
    read_page(&f, head0, 1000, NULL, &fr);
    HT_EXPECT_REPLY(&fr, 200, NULL);
    size_t i, k = 0, matched = 0;
    json_t *e;
    json_array_foreach(ht_j(fr.json, "events"), i, e) {
        if (strcmp(ht_jstr(e, "type"), "paper.added") == 0) continue;
        json_t *x = NULL;
        while (k < 50 && !(x = ht_j(json_array_get(ht_j(r.json, "results"), k), "dossier"))) k++;
        if (!x) ht_fail("event %s has no op", ht_dump(e));
        EXPECT_STR(ht_jstr(e, "dossier.code"), ht_jstr(x, "code"));
        EXPECT_INT(ht_jint(e, "dossier.version"), ht_jint(x, "version"));
        k++;
        matched++;
    }
    EXPECT_INT(matched, 45);
    EXPECT_INT(ht_jint(fr.json, "next"), head);
    ht_resp_free(&fr);
    ht_resp_free(&r);

    /* The metrics count the batch. */
    EXPECT_INT(ht_metric(&f.c, "hoso_sync_ops_total{status=\"applied\"}"), 50);
    json_decref(b.ops);
    ht_world_stop(&f);
}

static void test_same_batch_is_duplicate(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    batch b;
    make_batch(&f, &b);
    ht_resp r1, r2;
    post_sync(&f, b.ops, &r1);
    check_batch_reply(&b, &r1, "applied");
    long long head = snapshot_head(&f, NULL, 0);
    post_sync(&f, b.ops, &r2);
    check_batch_reply(&b, &r2, "duplicate");
    /* The first results, nothing changed. */
    for (size_t i = 0; i < 50; i++) {
        json_t *a = json_deep_copy(json_array_get(ht_j(r1.json, "results"), i));
        json_t *c = json_deep_copy(json_array_get(ht_j(r2.json, "results"), i));
        json_object_del(a, "status");
        json_object_del(c, "status");
        if (!json_equal(a, c)) ht_fail("op %zu: first %s, again %s", i, ht_dump(a), ht_dump(c));
        json_decref(a);
        json_decref(c);
    }
    EXPECT_INT(ht_jint(r2.json, "head"), head);
    EXPECT_INT(snapshot_head(&f, NULL, 0), head);
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 45);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    json_decref(b.ops);
    ht_world_stop(&f);
}

static void test_endpoint_and_sync_share_op_ids(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    ht_resp r1, r2;
    /* First on the endpoint, then in the queue. */
    json_t *body = ht_valid_submit(&f.svc, "shared-1");
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", f.cit.token, body, &r1);
    HT_EXPECT_REPLY(&r1, 201, NULL);
    long long head = snapshot_head(&f, NULL, 0);
    json_object_set_new(body, "kind", json_string("submit"));
    json_t *ops = json_pack("[O]", body);
    post_sync(&f, ops, &r2);
    HT_EXPECT_REPLY(&r2, 200, NULL);
    EXPECT_STR(ht_jstr(r2.json, "results.0.status"), "duplicate");
    EXPECT_STR(ht_jstr(r2.json, "results.0.dossier.code"), ht_jstr(ht_dossier_of(&r1), "code"));
    EXPECT_INT(ht_jint(r2.json, "head"), head);
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 1);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    json_decref(ops);
    json_decref(body);

    /* First in the queue, then on the endpoint: the endpoint's own first reply. */
    body = ht_valid_submit(&f.svc, "shared-2");
    json_object_set_new(body, "kind", json_string("submit"));
    ops = json_pack("[O]", body);
    post_sync(&f, ops, &r1);
    HT_EXPECT_REPLY(&r1, 200, NULL);
    EXPECT_STR(ht_jstr(r1.json, "results.0.status"), "applied");
    json_object_del(body, "kind");
    ht_mp_callj(&f.c, "POST", "/v1/dossiers", f.cit.token, body, &r2);
    HT_EXPECT_REPLY(&r2, 201, NULL);
    EXPECT_STR(ht_jstr(ht_dossier_of(&r2), "code"), ht_jstr(r1.json, "results.0.dossier.code"));
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 2);
    ht_resp_free(&r1);
    ht_resp_free(&r2);
    json_decref(ops);
    json_decref(body);
    ht_world_stop(&f);
}

static void test_stale_base_version(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    char code[128], code2[128];
    ht_submit(&f.c, &f.cit, &f.svc, code, sizeof(code));
    move(&f, code, TO_SUPPLEMENT, 3);
    ht_submit(&f.c, &f.cit, &f.svc, code2, sizeof(code2));
    move(&f, code2, TO_SUPPLEMENT, 1);
    /* The app queued both while the dossiers were at version 1. */
    json_t *ops = json_array();
    json_t *o = op_json("supplement", "stale-1", code);
    json_object_set_new(o, "form", ht_valid_form(&f.svc));
    json_object_set_new(o, "base_version", json_integer(1));
    json_array_append_new(ops, o);
    o = op_json("withdraw", "stale-2", code2);
    json_object_set_new(o, "reason", json_string("Không cần nữa"));
    json_object_set_new(o, "base_version", json_integer(1));
    json_array_append_new(ops, o);
    o = op_json("withdraw", "fresh-3", code2);
    json_object_set_new(o, "reason", json_string("Không cần nữa"));
    json_object_set_new(o, "base_version", json_integer(2));
    json_array_append_new(ops, o);
    ht_resp r;
    post_sync(&f, ops, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_STR(ht_jstr(r.json, "results.0.status"), "rejected");
    EXPECT_STR(ht_jstr(r.json, "results.0.error.code"), "VERSION_CONFLICT");
    EXPECT_STR(ht_jstr(r.json, "results.0.dossier.code"), code);
    EXPECT_INT(ht_jint(r.json, "results.0.dossier.version"), 4);
    EXPECT_INT(ht_jint(r.json, "results.0.dossier.status"), 5);
    EXPECT_STR(ht_jstr(r.json, "results.1.status"), "rejected");
    EXPECT_STR(ht_jstr(r.json, "results.1.error.code"), "VERSION_CONFLICT");
    EXPECT_INT(ht_jint(r.json, "results.1.dossier.version"), 2);
    EXPECT_STR(ht_jstr(r.json, "results.2.status"), "applied");
    EXPECT_INT(ht_jint(r.json, "results.2.dossier.status"), 7);
    ht_resp_free(&r);
    /* Nothing was merged into the stale one. */
    ht_get_dossier(&f.c, f.cit.token, code, &r);
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "version"), 4);
    EXPECT_INT(ht_jint(ht_dossier_of(&r), "status"), 5);
    ht_resp_free(&r);
    /* The conflict is the op's stored result: sent again, it is a duplicate of it. */
    post_sync(&f, ops, &r);
    EXPECT_STR(ht_jstr(r.json, "results.0.status"), "duplicate");
    EXPECT_STR(ht_jstr(r.json, "results.0.error.code"), "VERSION_CONFLICT");
    EXPECT_STR(ht_jstr(r.json, "results.2.status"), "duplicate");
    ht_resp_free(&r);
    json_decref(ops);
    ht_world_stop(&f);
}

static void test_malformed_items(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    char code[128];
    ht_submit(&f.c, &f.cit, &f.svc, code, sizeof(code));
    json_t *ops = json_array();
    json_t *o = op_json("feedback", "ok-0", NULL);
    json_object_set_new(o, "text", json_string("Tốt"));
    json_array_append_new(ops, o);
    json_array_append_new(ops, json_string("not a map"));
    o = json_pack("{s:s, s:s}", "kind", "feedback", "text", "no op_id");
    json_array_append_new(ops, o);
    o = op_json("transfer", "bad-kind", NULL);
    json_array_append_new(ops, o);
    o = ht_valid_submit(&f.svc, "bad-form");
    json_object_set_new(o, "kind", json_string("submit"));
    json_object_set_new(ht_j(o, "form"), "no_such_field", json_string("x"));
    json_array_append_new(ops, o);
    o = op_json("withdraw", "no-code", NULL);
    json_object_set_new(o, "reason", json_string("x"));
    json_array_append_new(ops, o);
    o = op_json("withdraw", "empty-reason", code);
    json_object_set_new(o, "reason", json_string(""));
    json_array_append_new(ops, o);
    o = op_json("withdraw", "unknown-dossier", "000.00.00.X00-000000-0000");
    json_object_set_new(o, "reason", json_string("x"));
    json_array_append_new(ops, o);
    o = ht_valid_submit(&f.svc, "ok-8");
    json_object_set_new(o, "kind", json_string("submit"));
    json_array_append_new(ops, o);
    o = op_json("withdraw", "ok-9", code);
    json_object_set_new(o, "reason", json_string("Nộp lại sau"));
    json_array_append_new(ops, o);

    ht_resp r;
    post_sync(&f, ops, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    static const struct {
        const char *status, *code, *field;
    } want[] = {
        {"applied", NULL, NULL},
        {"rejected", "VALIDATION_FAILED", "op"},
        {"rejected", "VALIDATION_FAILED", "op_id"},
        {"rejected", "VALIDATION_FAILED", "kind"},
        {"rejected", "VALIDATION_FAILED", "form.no_such_field"},
        {"rejected", "VALIDATION_FAILED", "code"},
        {"rejected", "VALIDATION_FAILED", "reason"},
        {"rejected", "NOT_FOUND", NULL},
        {"applied", NULL, NULL},
        {"applied", NULL, NULL},
    };
    json_t *res = ht_j(r.json, "results");
    EXPECT_INT(json_array_size(res), 10);
    for (size_t i = 0; i < 10; i++) {
        json_t *x = json_array_get(res, i);
        if (strcmp(ht_jstr(x, "status"), want[i].status) != 0)
            ht_fail("item %zu: %s, expected %s", i, ht_dump(x), want[i].status);
        if (want[i].code) EXPECT_STR(ht_jstr(x, "error.code"), want[i].code);
        if (want[i].field) {
            int named = 0;
            size_t k;
            json_t *fe;
            json_array_foreach(ht_j(x, "error.details.fields"), k, fe) named |= strcmp(ht_jstr(fe, "field"), want[i].field) == 0;
            if (!named) ht_fail("item %zu does not name %s: %s", i, want[i].field, ht_dump(x));
        }
    }
    EXPECT_STR(ht_jstr(json_array_get(res, 8), "dossier.service"), f.svc.code);
    EXPECT_INT(ht_jint(json_array_get(res, 9), "dossier.status"), 7);
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 2);
    ht_resp_free(&r);
    json_decref(ops);
    ht_world_stop(&f);
}

static void test_malformed_bodies(void)
{
    fixture f;
    ht_world_start(&f, NULL);
    ht_resp r;
    json_t *ops = json_array();
    for (int i = 0; i < 501; i++) {
        char id[32];
        snprintf(id, sizeof(id), "many-%d", i);
        json_t *o = op_json("feedback", id, NULL);
        json_object_set_new(o, "text", json_string("x"));
        json_array_append_new(ops, o);
    }
    post_sync(&f, ops, &r);
    HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
    EXPECT(ht_err_names_field(&r, "ops"));
    ht_resp_free(&r);
    json_decref(ops);

    static const char *const bodies[] = {"{}", "{\"ops\": 5}", "{\"ops\": [], \"op_id\": \"x\"}"};
    for (size_t i = 0; i < 3; i++) {
        ht_json_call(&f.c, "POST", "/v1/sync", f.cit.token, bodies[i], &r);
        HT_EXPECT_REPLY(&r, 422, "VALIDATION_FAILED");
        ht_resp_free(&r);
    }
    ht_json_call(&f.c, "POST", "/v1/sync", f.cit.token, "[1, 2]", &r);
    HT_EXPECT_REPLY(&r, 400, "BAD_REQUEST");
    ht_resp_free(&r);
    ht_json_call(&f.c, "POST", "/v1/sync", f.cit.token, "{\"ops\": [", &r);
    HT_EXPECT_REPLY(&r, 400, "BAD_REQUEST");
    ht_resp_free(&r);
    /* An empty queue is fine: no results, the head. */
    ht_json_call(&f.c, "POST", "/v1/sync", f.cit.token, "{\"ops\": []}", &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT_INT(json_array_size(ht_j(r.json, "results")), 0);
    EXPECT_INT(ht_jint(r.json, "head"), 0);
    ht_resp_free(&r);
    EXPECT_INT(ht_count_list(&f.c, f.cit.token, "/v1/dossiers"), 0);
    ht_world_stop(&f);
}

UNIT_MAIN(UNIT(test_read_pages), UNIT(test_cursor_expired), UNIT(test_retention_and_snapshot),
          UNIT(test_batch_applied_in_order), UNIT(test_same_batch_is_duplicate),
          UNIT(test_endpoint_and_sync_share_op_ids), UNIT(test_stale_base_version), UNIT(test_malformed_items),
          UNIT(test_malformed_bodies))
