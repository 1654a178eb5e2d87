/*
 * feed.c - the owner feed on the client: events delivered once each and in seq order
 * (from GET /v1/sync or from push), the snapshot that starts over when the cursor
 * cannot be resumed, and hoso_client_sync (flush the outbox, then pull). The last seq
 * is stored after on_event returns, so a crash inside the callback means the event
 * comes again rather than never.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define HOSO__PULL_PAGE 200
#define HOSO__PULL_MAX_PAGES 10000 /* 2M events: a bound, not a limit anyone meets */

typedef struct pull {
    hoso__done_cb done;
    void *ud;
    unsigned pages;
    int listing; /* fallback: reading GET /v1/dossiers pages */
} pull;

static void pull_done(hoso_client *c, pull *p, const hoso_client_error *err)
{
    hoso__done_cb done = p->done;
    void *ud = p->ud;
    free(p);
    if (done) done(c, err, ud);
}

static uint64_t obj_u64(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

int hoso__feed_event(hoso_client *c, const msgpack_object *ev)
{
    const msgpack_object *so = hoso_map_get(ev, "seq");
    if (!so || so->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return HOSO_EBAD_REQUEST;
    uint64_t seq = so->via.u64;
    if (seq <= c->last_seq) return 0; /* seen already (a replay overlaps) */
    char type[48];
    hoso__obj_cstr(hoso_map_get(ev, "type"), type, sizeof(type));
    const msgpack_object *dob = hoso_map_get(ev, "dossier");
    hoso_doc dd = {0};
    hoso_dossier d;
    hoso_errinfo ei = {0};
    hoso_client_event e;
    memset(&e, 0, sizeof(e));
    e.seq = seq;
    const msgpack_object *at = hoso_map_get(ev, "at");
    e.at = at && at->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)at->via.u64 : 0;
    e.type = type;
    e.raw = ev;
    if (dob && dob->type == MSGPACK_OBJECT_MAP) {
        hoso__cache_dossier_obj(c, dob);
        msgpack_zone_init(&dd.zone, 4096);
        if (hoso_dossier_decode(&dd, dob, &d, &ei) == 0) e.dossier = &d;
    }
    if (c->cbs.on_event) c->cbs.on_event(c, &e, c->cbs.ud);
    hoso_doc_destroy(&dd);
    hoso__set_seq(c, seq);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Snapshot, and the fallback that rebuilds it from the dossier list. */

static void collect(const void *buf, size_t len, void *ud)
{
    msgpack_sbuffer *sb = ud;
    msgpack_sbuffer_write(sb, buf, len);
}

/* Delivers on_snapshot from the dossiers now cached. */
static void deliver_cached_snapshot(hoso_client *c, const char *epoch, const msgpack_object *raw)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    size_t n = 0;
    hoso__store_dossier_each(&c->store, collect, &sb);
    /* Count by decoding the concatenation as an array: prepend its header. */
    msgpack_sbuffer all;
    msgpack_packer pk;
    msgpack_sbuffer_init(&all);
    msgpack_packer_init(&pk, &all, msgpack_sbuffer_write);
    {
        msgpack_unpacked u;
        size_t off = 0;
        msgpack_unpacked_init(&u);
        while (off < sb.size && msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) n++;
        msgpack_unpacked_destroy(&u);
    }
    msgpack_pack_array(&pk, (uint32_t)n);
    msgpack_sbuffer_write(&all, sb.data, sb.size);
    hoso_doc doc = {0};
    hoso_limits lim;
    hoso_limits_default(&lim);
    lim.max_array = 1000000;
    lim.max_body = (size_t)1 << 30;
    hoso_dossier *ds = NULL;
    size_t nd = 0;
    if (hoso_doc_from_msgpack(&doc, all.data, all.size, &lim, NULL) == 0 && n > 0 &&
        (ds = calloc(n, sizeof(*ds)))) {
        for (uint32_t i = 0; i < doc.root.via.array.size; i++)
            if (hoso_dossier_decode(&doc, &doc.root.via.array.ptr[i], &ds[nd], NULL) == 0) nd++;
    }
    hoso_client_snapshot s;
    memset(&s, 0, sizeof(s));
    s.dossiers = ds;
    s.ndossiers = nd;
    s.head = c->last_seq;
    s.epoch = epoch;
    s.raw = raw;
    if (c->cbs.on_snapshot) c->cbs.on_snapshot(c, &s, c->cbs.ud);
    free(ds);
    hoso_doc_destroy(&doc);
    msgpack_sbuffer_destroy(&all);
    msgpack_sbuffer_destroy(&sb);
}

static void list_page(hoso_client *c, pull *p, const char *cursor);

static void on_list_page(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    pull *p = ud;
    if (r->error.err) {
        pull_done(c, p, &r->error);
        return;
    }
    /* calls.c cached every dossier of the page. */
    if (r->next && r->next[0] && ++p->pages < HOSO__PULL_MAX_PAGES) {
        list_page(c, p, r->next);
        return;
    }
    deliver_cached_snapshot(c, c->epoch, NULL);
    pull_done(c, p, NULL);
}

static void list_page(hoso_client *c, pull *p, const char *cursor)
{
    hoso_client_error e;
    int rc = hoso_client_list(c, 0, cursor, 100, on_list_page, p);
    if (rc) {
        hoso__error_from_obj(&e, 0, NULL, rc);
        pull_done(c, p, &e);
    }
}

static void start_listing(hoso_client *c, pull *p)
{
    p->listing = 1;
    p->pages = 0;
    hoso__store_dossier_clear(&c->store);
    list_page(c, p, NULL);
}

static void on_snapshot_reply(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                              void *ud)
{
    pull *p = ud;
    hoso__reply r;
    hoso__reply_from_http(&r, err, why, status, body, len);
    if (status == 404 && !err) {
        hoso__reply_destroy(&r);
        start_listing(c, p);
        return;
    }
    if (r.pub.error.err || !r.pub.body) {
        pull_done(c, p, &r.pub.error);
        hoso__reply_destroy(&r);
        return;
    }
    char epoch[HOSO__EPOCH_MAX];
    hoso__obj_cstr(hoso_map_get(r.pub.body, "epoch"), epoch, sizeof(epoch));
    hoso__store_dossier_clear(&c->store);
    const msgpack_object *ds = hoso_map_get(r.pub.body, "dossiers");
    if (ds && ds->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < ds->via.array.size; i++) hoso__cache_dossier_obj(c, &ds->via.array.ptr[i]);
    hoso__set_epoch(c, epoch);
    hoso__set_seq(c, obj_u64(hoso_map_get(r.pub.body, "head")));
    hoso_client_snapshot s;
    memset(&s, 0, sizeof(s));
    s.dossiers = r.pub.dossiers;
    s.ndossiers = r.pub.ndossiers;
    s.head = c->last_seq;
    s.epoch = c->epoch;
    s.raw = r.pub.body;
    if (c->cbs.on_snapshot) c->cbs.on_snapshot(c, &s, c->cbs.ud);
    hoso__reply_destroy(&r);
    pull_done(c, p, NULL);
}

int hoso__feed_snapshot(hoso_client *c, hoso__done_cb done, void *ud)
{
    pull *p = calloc(1, sizeof(*p));
    if (!p) return HOSO_ENOMEM;
    p->done = done;
    p->ud = ud;
    int rc = hoso__http_send(c, "GET", "/v1/sync/snapshot", NULL, 0, 1, on_snapshot_reply, p);
    if (rc) free(p);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* GET /v1/sync pages. */

static int send_pull(hoso_client *c, pull *p);

static void on_pull_reply(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                          void *ud)
{
    pull *p = ud;
    hoso__reply r;
    hoso__reply_from_http(&r, err, why, status, body, len);
    if (!err && status == 404) {
        hoso__reply_destroy(&r);
        start_listing(c, p);
        return;
    }
    if (!err && (status == 410 || strcmp(r.pub.error.code, "CURSOR_EXPIRED") == 0)) {
        hoso__reply_destroy(&r);
        hoso__done_cb done = p->done;
        void *dud = p->ud;
        free(p);
        int rc = hoso__feed_snapshot(c, done, dud);
        if (rc && done) {
            hoso_client_error e;
            hoso__error_from_obj(&e, 0, NULL, rc);
            done(c, &e, dud);
        }
        return;
    }
    if (r.pub.error.err || !r.pub.body) {
        pull_done(c, p, &r.pub.error);
        hoso__reply_destroy(&r);
        return;
    }
    char epoch[HOSO__EPOCH_MAX];
    hoso__obj_cstr(hoso_map_get(r.pub.body, "epoch"), epoch, sizeof(epoch));
    if (epoch[0]) hoso__set_epoch(c, epoch);
    const msgpack_object *evs = hoso_map_get(r.pub.body, "events");
    if (evs && evs->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < evs->via.array.size; i++) hoso__feed_event(c, &evs->via.array.ptr[i]);
    const msgpack_object *more = hoso_map_get(r.pub.body, "more");
    int again = more && more->type == MSGPACK_OBJECT_BOOLEAN && more->via.boolean;
    uint64_t next = obj_u64(hoso_map_get(r.pub.body, "next"));
    hoso__reply_destroy(&r);
    /* `next` may be past events this account cannot see: move the cursor anyway. */
    if (next > c->last_seq) hoso__set_seq(c, next);
    if (again && ++p->pages < HOSO__PULL_MAX_PAGES) {
        int rc = send_pull(c, p);
        if (rc) {
            hoso_client_error e;
            hoso__error_from_obj(&e, 0, NULL, rc);
            pull_done(c, p, &e);
        }
        return;
    }
    pull_done(c, p, NULL);
}

static int send_pull(hoso_client *c, pull *p)
{
    char path[512];
    int n = snprintf(path, sizeof(path), "/v1/sync?since=%" PRIu64 "&limit=%d", c->last_seq, HOSO__PULL_PAGE);
    if (c->epoch[0]) {
        char enc[3 * HOSO__EPOCH_MAX + 1];
        size_t k = 0;
        for (const char *s = c->epoch; *s && k + 4 < sizeof(enc); s++) {
            if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_')
                enc[k++] = *s;
            else
                k += (size_t)snprintf(enc + k, sizeof(enc) - k, "%%%02X", (unsigned char)*s);
        }
        enc[k] = 0;
        snprintf(path + n, sizeof(path) - (size_t)n, "&epoch=%s", enc);
    }
    return hoso__http_send(c, "GET", path, NULL, 0, 1, on_pull_reply, p);
}

int hoso__feed_pull(hoso_client *c, hoso__done_cb done, void *ud)
{
    pull *p = calloc(1, sizeof(*p));
    if (!p) return HOSO_ENOMEM;
    p->done = done;
    p->ud = ud;
    int rc = send_pull(c, p);
    if (rc) free(p);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* hoso_client_sync: flush, then pull. */

typedef struct syncjob {
    hoso_client_cb cb;
    void *ud;
} syncjob;

static void sync_finish(hoso_client *c, const hoso_client_error *err, void *ud)
{
    syncjob *j = ud;
    hoso_client_reply r;
    memset(&r, 0, sizeof(r));
    if (err) r.error = *err;
    if (j->cb) j->cb(c, &r, j->ud);
    free(j);
}

static void sync_flushed(hoso_client *c, const hoso_client_error *err, void *ud)
{
    if (err) {
        sync_finish(c, err, ud);
        return;
    }
    int rc = hoso__feed_pull(c, sync_finish, ud);
    if (rc) {
        hoso_client_error e;
        hoso__error_from_obj(&e, 0, NULL, rc);
        sync_finish(c, &e, ud);
    }
}

int hoso_client_sync(hoso_client *c, hoso_client_cb cb, void *ud)
{
    syncjob *j = calloc(1, sizeof(*j));
    if (!j) return HOSO_ENOMEM;
    j->cb = cb;
    j->ud = ud;
    int rc = hoso__outbox_wait(c, sync_flushed, j);
    if (rc) free(j);
    return rc;
}
