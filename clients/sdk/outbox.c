/*
 * outbox.c - the offline queue. An op is on disk before anything is sent and leaves
 * the disk only when the server answered it (applied, duplicate or rejected), so a
 * crash, a dropped connection or a lost reply can only lead to a resend with the same
 * op_id, which the server answers with its first result. Ops go out in order, in
 * batches through POST /v1/sync, or one by one through their own endpoints when the
 * server has no /v1/sync (404). One flush runs at a time; a failed flush is retried on
 * a timer with capped exponential backoff and jitter while ops wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct hoso__pending {
    hoso__pending *next;
    uint64_t id;
    char op_id[HOSO__OPID_LEN + 1];
    hoso_client_cb cb;
    void *ud;
};

struct hoso__flush_waiter {
    struct hoso__flush_waiter *next;
    hoso__done_cb done;
    void *ud;
};

#define HOSO__BATCH_MAX 500

typedef struct batch {
    size_t n;
    uint64_t ids[HOSO__BATCH_MAX];
    void *bufs[HOSO__BATCH_MAX];
    size_t lens[HOSO__BATCH_MAX];
    int answered[HOSO__BATCH_MAX];
} batch;

static void start_flush(hoso_client *c);

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->bufs[i]);
    free(b);
}

static void on_flush_timer(uv_timer_t *t)
{
    start_flush(t->data);
}

void hoso__outbox_kick(hoso_client *c)
{
    if (c->freeing) return;
    if (c->flushing) {
        c->flush_again = 1;
        return;
    }
    /* Always from the loop: a caller's callback never runs inside its own call. */
    uv_timer_stop(&c->flush_timer);
    uv_timer_start(&c->flush_timer, on_flush_timer, 0, 0);
}

static hoso__pending *pending_take(hoso_client *c, uint64_t id)
{
    for (hoso__pending **pp = &c->pending; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            hoso__pending *p = *pp;
            *pp = p->next;
            return p;
        }
    return NULL;
}

static void notify_waiters(hoso_client *c, const hoso_client_error *err)
{
    struct hoso__flush_waiter *w = c->waiters;
    c->waiters = NULL;
    while (w) {
        struct hoso__flush_waiter *next = w->next;
        w->done(c, err, w->ud);
        free(w);
        w = next;
    }
}

/* Every caller still waiting learns that its op is queued (not lost). */
static void report_queued(hoso_client *c, const hoso_client_error *why)
{
    hoso__pending *p = c->pending;
    c->pending = NULL;
    while (p) {
        hoso__pending *next = p->next;
        hoso_client_reply r;
        memset(&r, 0, sizeof(r));
        r.queued = 1;
        r.op_id = p->op_id;
        /* Informational: the op is safe in the outbox; err stays 0. */
        snprintf(r.error.message, sizeof(r.error.message), "%s", why ? why->message : "");
        if (p->cb) p->cb(c, &r, p->ud);
        free(p);
        p = next;
    }
}

static void flush_failed(hoso_client *c, const hoso_client_error *err, int retry)
{
    c->flushing = 0;
    c->flush_again = 0;
    report_queued(c, err);
    if (retry && !c->freeing) {
        unsigned ms = hoso__backoff_ms(c, c->flush_attempt);
        if (c->flush_attempt < 30) c->flush_attempt++;
        uv_timer_stop(&c->flush_timer);
        uv_timer_start(&c->flush_timer, on_flush_timer, ms, 0);
    }
    notify_waiters(c, err);
}

/* The server answered op i: drop it from the disk, cache its dossier, tell the caller
 * and on_op_done. result: the result map (or the endpoint's reply), may be NULL. */
static void op_answered(hoso_client *c, batch *b, size_t i, const char *status, const msgpack_object *dossier,
                        const hoso_client_error *err, const msgpack_object *result)
{
    hoso_doc od = {0}, dd = {0};
    hoso_limits lim;
    hoso_errinfo ei = {0};
    hoso_dossier d;
    const hoso_dossier *dp = NULL;
    char op_id[80], kind[16], code[128];
    hoso_client_op op;

    b->answered[i] = 1;
    hoso__store_outbox_del(&c->store, b->ids[i]);
    hoso_limits_default(&lim);
    memset(&op, 0, sizeof(op));
    if (hoso_doc_from_msgpack(&od, b->bufs[i], b->lens[i], &lim, &ei) == 0) {
        hoso__obj_cstr(hoso_map_get(&od.root, "op_id"), op_id, sizeof(op_id));
        hoso__obj_cstr(hoso_map_get(&od.root, "kind"), kind, sizeof(kind));
        hoso__obj_cstr(hoso_map_get(&od.root, "code"), code, sizeof(code));
        op.op_id = op_id;
        op.kind = kind;
        op.code = code[0] ? code : NULL;
        op.body = &od.root;
    }
    if (dossier && dossier->type == MSGPACK_OBJECT_MAP) {
        hoso__cache_dossier_obj(c, dossier);
        /* Decoding needs a doc that owns the copies: decode into dd's zone. */
        msgpack_zone_init(&dd.zone, 4096);
        if (hoso_dossier_decode(&dd, dossier, &d, &ei) == 0) dp = &d;
    }
    hoso__pending *p = pending_take(c, b->ids[i]);
    if (p) {
        hoso_client_reply r;
        memset(&r, 0, sizeof(r));
        if (err) r.error = *err;
        r.op_id = p->op_id;
        r.body = result;
        r.dossier = dp;
        if (p->cb) p->cb(c, &r, p->ud);
        free(p);
    }
    if (c->cbs.on_op_done && op.op_id) c->cbs.on_op_done(c, &op, status, dp, err, c->cbs.ud);
    if (c->cbs.on_rejected && op.op_id && err) c->cbs.on_rejected(c, &op, err, dp, c->cbs.ud);
    hoso_doc_destroy(&dd);
    hoso_doc_destroy(&od);
}

/* ---------------------------------------------------------------------------------- */
/* POST /v1/sync */

static void on_sync_reply(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                          void *ud)
{
    batch *b = ud;
    hoso__reply r;
    hoso_client_error e;
    size_t done = 0;
    hoso__reply_from_http(&r, err, why, status, body, len);
    if (err) {
        flush_failed(c, &r.pub.error, 1);
        goto Exit;
    }
    if (status == 404 || status == 405) {
        /* This server has no /v1/sync: send each op to its own endpoint. */
        c->sync_api = HOSO__SYNC_NO;
        c->flushing = 0;
        start_flush(c);
        goto Exit;
    }
    if (status == 401 || status == 403) {
        flush_failed(c, &r.pub.error, 0);
        goto Exit;
    }
    if (status >= 400 && status < 500 && status != 429 && status != 408) {
        /* The batch as a whole was refused (too large, or one op broke decoding):
         * split it until the op at fault stands alone, then reject that op. */
        if (b->n > 1) {
            c->batch_cur = (unsigned)(b->n / 2);
            c->flushing = 0;
            start_flush(c);
            goto Exit;
        }
        op_answered(c, b, 0, "rejected", NULL, &r.pub.error, r.pub.body);
        c->flushing = 0;
        start_flush(c);
        goto Exit;
    }
    if (status < 200 || status >= 300 || !r.pub.body) {
        flush_failed(c, &r.pub.error, 1);
        goto Exit;
    }
    c->sync_api = HOSO__SYNC_YES;
    const msgpack_object *res = hoso_map_get(r.pub.body, "results");
    if (res && res->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t k = 0; k < res->via.array.size; k++) {
            const msgpack_object *o = &res->via.array.ptr[k];
            char op_id[80], st[16];
            hoso__obj_cstr(hoso_map_get(o, "op_id"), op_id, sizeof(op_id));
            hoso__obj_cstr(hoso_map_get(o, "status"), st, sizeof(st));
            for (size_t i = 0; i < b->n; i++) {
                if (b->answered[i]) continue;
                hoso_doc od = {0};
                hoso_limits lim;
                char mine[80];
                hoso_limits_default(&lim);
                if (hoso_doc_from_msgpack(&od, b->bufs[i], b->lens[i], &lim, NULL)) continue;
                hoso__obj_cstr(hoso_map_get(&od.root, "op_id"), mine, sizeof(mine));
                hoso_doc_destroy(&od);
                if (strcmp(mine, op_id) != 0) continue;
                if (strcmp(st, "applied") == 0 || strcmp(st, "duplicate") == 0) {
                    op_answered(c, b, i, st, hoso_map_get(o, "dossier"), NULL, o);
                    done++;
                } else if (strcmp(st, "rejected") == 0) {
                    hoso__error_from_obj(&e, 0, o, HOSO_EBAD_REQUEST);
                    e.http_status = hoso_err_http_status(e.err);
                    const msgpack_object *cur = hoso_map_get(o, "dossier");
                    if (!cur) cur = hoso_map_get(hoso_map_get(hoso_map_get(o, "error"), "details"), "dossier");
                    op_answered(c, b, i, "rejected", cur, &e, o);
                    done++;
                }
                break;
            }
        }
    }
    if (done == 0) {
        hoso__reply_error(&r, HOSO_EUNAVAILABLE, status, NULL, "the server answered none of the ops");
        flush_failed(c, &r.pub.error, 1);
        goto Exit;
    }
    c->flush_attempt = 0;
    c->flushing = 0;
    start_flush(c);
Exit:
    hoso__reply_destroy(&r);
    batch_free(b);
}

/* ---------------------------------------------------------------------------------- */
/* One op through its endpoint (servers without /v1/sync). */

static int op_request(const void *buf, size_t len, char *path, size_t cap, msgpack_sbuffer *sb)
{
    hoso_doc od = {0};
    hoso_limits lim;
    char kind[16], code[128], ec[400];
    int rc = HOSO_EBAD_REQUEST;
    hoso_limits_default(&lim);
    if (hoso_doc_from_msgpack(&od, buf, len, &lim, NULL) || od.root.type != MSGPACK_OBJECT_MAP) goto Exit;
    hoso__obj_cstr(hoso_map_get(&od.root, "kind"), kind, sizeof(kind));
    hoso__obj_cstr(hoso_map_get(&od.root, "code"), code, sizeof(code));
    /* Codes are [0-9A-Za-z.-]; anything else would be a corrupt op. */
    if (strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-_") != strlen(code)) goto Exit;
    snprintf(ec, sizeof(ec), "%s", code);
    if (strcmp(kind, "submit") == 0) snprintf(path, cap, "/v1/dossiers");
    else if (strcmp(kind, "feedback") == 0) snprintf(path, cap, "/v1/feedback");
    else if (!code[0]) goto Exit;
    else if (strcmp(kind, "supplement") == 0) snprintf(path, cap, "/v1/dossiers/%s/supplement", ec);
    else if (strcmp(kind, "withdraw") == 0) snprintf(path, cap, "/v1/dossiers/%s/withdraw", ec);
    else if (strcmp(kind, "rate") == 0) snprintf(path, cap, "/v1/dossiers/%s/rating", ec);
    else if (strcmp(kind, "message") == 0) snprintf(path, cap, "/v1/dossiers/%s/messages", ec);
    else goto Exit;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    /* The endpoint's body is the queued op without the queue's own fields. */
    static const char *const queue_keys[] = {"kind", "code", NULL};
    if (hoso_pack_map_without(&pk, &od.root, queue_keys, 0) != 0) goto Exit;
    rc = 0;
Exit:
    hoso_doc_destroy(&od);
    return rc;
}

static void on_op_reply(hoso_client *c, int err, const char *why, int status, const char *body, size_t len,
                        void *ud)
{
    batch *b = ud;
    hoso__reply r;
    hoso__reply_from_http(&r, err, why, status, body, len);
    if (err || status >= 500 || status == 429 || status == 408) {
        flush_failed(c, &r.pub.error, 1);
    } else if (status == 401 || status == 403) {
        flush_failed(c, &r.pub.error, 0);
    } else {
        const msgpack_object *d = r.pub.body ? hoso_map_get(r.pub.body, "dossier") : NULL;
        if (status >= 200 && status < 300) {
            op_answered(c, b, 0, "applied", d, NULL, r.pub.body);
        } else {
            const msgpack_object *det = hoso_map_get(hoso_map_get(r.pub.body, "error"), "details");
            op_answered(c, b, 0, "rejected", hoso_map_get(det, "dossier"), &r.pub.error, r.pub.body);
        }
        c->flush_attempt = 0;
        c->flushing = 0;
        start_flush(c);
    }
    hoso__reply_destroy(&r);
    batch_free(b);
}

/* ---------------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------------- */
/* Uploads in the outbox, and the ops that name them. */

static int op_kind_is(const void *buf, size_t len, const char *kind)
{
    hoso_doc od = {0};
    hoso_limits lim;
    char k[16] = "";
    hoso_limits_default(&lim);
    if (hoso_doc_from_msgpack(&od, buf, len, &lim, NULL) == 0) hoso__obj_cstr(hoso_map_get(&od.root, "kind"), k, sizeof(k));
    hoso_doc_destroy(&od);
    return strcmp(k, kind) == 0;
}

#define MAX_REFS 64

typedef struct refs {
    size_t n;
    char ids[MAX_REFS][40];
} refs;

/* A str that is an upload's op_id gets the file id the server gave that upload. */
static int swap_ref(hoso_client *c, msgpack_object *o, refs *r)
{
    char op_id[HOSO__OPID_LEN + 1];
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size != HOSO__OPID_LEN || r->n == MAX_REFS) return 0;
    memcpy(op_id, o->via.str.ptr, HOSO__OPID_LEN);
    op_id[HOSO__OPID_LEN] = '\0';
    hoso__upload_file_id(c, op_id, r->ids[r->n]);
    if (!r->ids[r->n][0]) return 0;
    o->via.str.ptr = r->ids[r->n];
    o->via.str.size = (uint32_t)strlen(r->ids[r->n]);
    r->n++;
    return 1;
}

/* Rewrites papers[].file and files[] of op i that name uploads by op_id. */
static void resolve_refs(hoso_client *c, batch *b, size_t i)
{
    hoso_doc od = {0};
    hoso_limits lim;
    refs *r = calloc(1, sizeof(*r));
    int swapped = 0;
    hoso_limits_default(&lim);
    if (!r || hoso_doc_from_msgpack(&od, b->bufs[i], b->lens[i], &lim, NULL) != 0 ||
        od.root.type != MSGPACK_OBJECT_MAP)
        goto Exit;
    for (uint32_t k = 0; k < od.root.via.map.size; k++) {
        msgpack_object_kv *kv = &od.root.via.map.ptr[k];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_ARRAY) continue;
        int papers = kv->key.via.str.size == 6 && memcmp(kv->key.via.str.ptr, "papers", 6) == 0;
        int files = kv->key.via.str.size == 5 && memcmp(kv->key.via.str.ptr, "files", 5) == 0;
        for (uint32_t j = 0; (papers || files) && j < kv->val.via.array.size; j++) {
            msgpack_object *e = &kv->val.via.array.ptr[j];
            if (files) swapped |= swap_ref(c, e, r);
            else if (e->type == MSGPACK_OBJECT_MAP)
                for (uint32_t m = 0; m < e->via.map.size; m++) {
                    msgpack_object_kv *p = &e->via.map.ptr[m];
                    if (p->key.type == MSGPACK_OBJECT_STR && p->key.via.str.size == 4 &&
                        memcmp(p->key.via.str.ptr, "file", 4) == 0)
                        swapped |= swap_ref(c, &p->val, r);
                }
        }
    }
    if (swapped) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (msgpack_pack_object(&pk, od.root) == 0) {
            size_t n = sb.size;
            free(b->bufs[i]);
            b->bufs[i] = msgpack_sbuffer_release(&sb);
            b->lens[i] = n;
        }
        msgpack_sbuffer_destroy(&sb);
    }
Exit:
    free(r);
    hoso_doc_destroy(&od);
}

static void on_upload_end(hoso_client *c, hoso__upload_end end, const char *file_id, const hoso_client_error *err,
                          void *ud)
{
    batch *b = ud;
    hoso_doc od = {0};
    hoso_limits lim;
    char op_id[HOSO__OPID_LEN + 1] = "", name[256] = "", copy[1200], key[48];
    int64_t size = 0;
    hoso_limits_default(&lim);
    if (hoso_doc_from_msgpack(&od, b->bufs[0], b->lens[0], &lim, NULL) == 0) {
        hoso__obj_cstr(hoso_map_get(&od.root, "op_id"), op_id, sizeof(op_id));
        hoso__obj_cstr(hoso_map_get(&od.root, "name"), name, sizeof(name));
        const msgpack_object *sz = hoso_map_get(&od.root, "size");
        if (sz && sz->type == MSGPACK_OBJECT_POSITIVE_INTEGER) size = (int64_t)sz->via.u64;
    }
    hoso_doc_destroy(&od);
    if (end == HOSO__UPLOAD_RETRY || end == HOSO__UPLOAD_SIGNED_OUT) {
        flush_failed(c, err, end == HOSO__UPLOAD_RETRY);
        batch_free(b);
        return;
    }
    if (end == HOSO__UPLOAD_DONE) {
        /* Remembered before the op leaves the outbox: ops queued after it name it. */
        snprintf(key, sizeof(key), "file:%s", op_id);
        int rc = hoso__store_meta_put(&c->store, key, file_id);
        if (rc) {
            hoso_client_error e;
            hoso__error_from_obj(&e, 0, NULL, rc);
            flush_failed(c, &e, 1);
            batch_free(b);
            return;
        }
    }
    hoso__upload_copy_path(c, op_id, copy, sizeof(copy));
    unlink(copy);
    if (end == HOSO__UPLOAD_DONE) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_unpacked un;
        msgpack_sbuffer_init(&sb);
        msgpack_unpacked_init(&un);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        hoso_pack_cstr(&pk, "file");
        msgpack_pack_map(&pk, 3);
        hoso_pack_kcstr(&pk, "id", file_id);
        hoso_pack_kint(&pk, "size", size);
        hoso_pack_kcstr(&pk, "name", name);
        const msgpack_object *res = NULL;
        if (msgpack_unpack_next(&un, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS) res = &un.data;
        /* on_op_done's op carries the file id too: after a restart nobody else waits. */
        msgpack_sbuffer ob;
        msgpack_sbuffer_init(&ob);
        msgpack_packer_init(&pk, &ob, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 6);
        hoso_pack_kcstr(&pk, "op_id", op_id);
        hoso_pack_kcstr(&pk, "kind", "upload");
        hoso_pack_kcstr(&pk, "name", name);
        hoso_pack_kint(&pk, "size", size);
        hoso_pack_kcstr(&pk, "upload", file_id);
        hoso_pack_kcstr(&pk, "file", file_id);
        free(b->bufs[0]);
        b->lens[0] = ob.size;
        b->bufs[0] = msgpack_sbuffer_release(&ob);
        op_answered(c, b, 0, "applied", NULL, NULL, res);
        msgpack_unpacked_destroy(&un);
        msgpack_sbuffer_destroy(&sb);
    } else {
        op_answered(c, b, 0, "rejected", NULL, err, NULL);
    }
    batch_free(b);
    c->flush_attempt = 0;
    c->flushing = 0;
    start_flush(c);
}

static void start_flush(hoso_client *c)
{
    hoso_client_error e;
    batch *b = NULL;
    int rc;
    if (c->freeing || c->flushing) return;
    uv_timer_stop(&c->flush_timer);
    c->flush_again = 0;
    if (!(b = calloc(1, sizeof(*b)))) {
        hoso__error_from_obj(&e, 0, NULL, HOSO_ENOMEM);
        flush_failed(c, &e, 1);
        return;
    }
    size_t max = c->sync_api == HOSO__SYNC_NO ? 1 : (c->batch_cur ? c->batch_cur : c->opt.batch_size);
    if (max > HOSO__BATCH_MAX) max = HOSO__BATCH_MAX;
    if ((rc = hoso__store_outbox_head(&c->store, max, b->ids, b->bufs, b->lens, &b->n))) {
        batch_free(b);
        hoso__error_from_obj(&e, 0, NULL, rc);
        flush_failed(c, &e, 1);
        return;
    }
    if (b->n == 0) {
        batch_free(b);
        c->flush_attempt = 0;
        c->batch_cur = 0;
        report_queued(c, NULL); /* none should be left; be safe */
        notify_waiters(c, NULL);
        return;
    }
    if (!c->token[0]) {
        batch_free(b);
        hoso__error_from_obj(&e, 401, NULL, HOSO_EUNAUTHORIZED);
        snprintf(e.message, sizeof(e.message), "not logged in: the ops wait in the outbox");
        flush_failed(c, &e, 0);
        return;
    }
    c->flushing = 1;
    /* An upload goes alone; the ops before it go first, those after it wait for it. */
    for (size_t i = 0; i < b->n; i++) {
        if (!op_kind_is(b->bufs[i], b->lens[i], "upload")) continue;
        size_t keep = i == 0 ? 1 : i;
        for (size_t j = keep; j < b->n; j++) free(b->bufs[j]);
        b->n = keep;
        break;
    }
    if (op_kind_is(b->bufs[0], b->lens[0], "upload")) {
        if ((rc = hoso__upload_run(c, b->ids[0], b->bufs[0], b->lens[0], on_upload_end, b))) {
            batch_free(b);
            hoso__error_from_obj(&e, 0, NULL, rc);
            flush_failed(c, &e, 1);
        }
        return;
    }
    for (size_t i = 0; i < b->n; i++) resolve_refs(c, b, i);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (c->sync_api != HOSO__SYNC_NO) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        hoso_pack_cstr(&pk, "ops");
        msgpack_pack_array(&pk, (uint32_t)b->n);
        for (size_t i = 0; i < b->n; i++) msgpack_sbuffer_write(&sb, b->bufs[i], b->lens[i]);
        rc = hoso__http_send(c, "POST", "/v1/sync", sb.data, sb.size, 1, on_sync_reply, b);
    } else {
        char path[512];
        rc = op_request(b->bufs[0], b->lens[0], path, sizeof(path), &sb);
        if (rc) {
            /* An op we cannot even turn into a request would block the queue forever. */
            hoso__error_from_obj(&e, 0, NULL, HOSO_EBAD_REQUEST);
            snprintf(e.message, sizeof(e.message), "the queued op is not valid");
            op_answered(c, b, 0, "rejected", NULL, &e, NULL);
            batch_free(b);
            msgpack_sbuffer_destroy(&sb);
            c->flushing = 0;
            hoso__outbox_kick(c);
            return;
        }
        rc = hoso__http_send(c, "POST", path, sb.data, sb.size, 1, on_op_reply, b);
    }
    msgpack_sbuffer_destroy(&sb);
    if (rc) {
        batch_free(b);
        hoso__error_from_obj(&e, 0, NULL, rc);
        flush_failed(c, &e, 1);
    }
}

int hoso__outbox_enqueue(hoso_client *c, msgpack_sbuffer *op, const char *op_id, hoso_client_cb cb, void *ud)
{
    uint64_t id;
    hoso__pending *p = calloc(1, sizeof(*p));
    if (!p) return HOSO_ENOMEM;
    int rc = hoso__store_outbox_push(&c->store, op->data, op->size, &id);
    if (rc) {
        free(p);
        return rc;
    }
    p->id = id;
    snprintf(p->op_id, sizeof(p->op_id), "%s", op_id);
    p->cb = cb;
    p->ud = ud;
    /* Appended at the tail: answers come in outbox order. */
    hoso__pending **pp = &c->pending;
    while (*pp) pp = &(*pp)->next;
    *pp = p;
    hoso__outbox_kick(c);
    return 0;
}

void hoso__outbox_cancel(hoso_client *c)
{
    hoso_client_error e;
    hoso__error_from_obj(&e, 0, NULL, HOSO_EUNAVAILABLE);
    snprintf(e.message, sizeof(e.message), "cancelled: the client is closing");
    uv_timer_stop(&c->flush_timer);
    report_queued(c, &e);
    notify_waiters(c, &e);
}

int hoso__outbox_wait(hoso_client *c, hoso__done_cb done, void *ud)
{
    struct hoso__flush_waiter *w = calloc(1, sizeof(*w));
    if (!w) return HOSO_ENOMEM;
    w->done = done;
    w->ud = ud;
    w->next = c->waiters;
    c->waiters = w;
    hoso__outbox_kick(c);
    return 0;
}
