/*
 * sync.c - offline sync for the citizen's app: reading the owner feed from a
 * cursor, the snapshot to start over from, and the offline queue applied in order.
 *
 * The feed is the owner's own change stream (storage/events.c); its retention is set
 * here from the command line (storage/feed.c trims). A cursor carries the data dir's
 * epoch: a cursor from another epoch (a restore, another node), from before the
 * retained feed or from ahead of the head would silently skip or repeat events, so it
 * is CURSOR_EXPIRED and the app reloads the snapshot, whose head is read in the same
 * transaction as its dossiers and papers.
 *
 * The queue: each item is one row of hoso__citizen_ops, checked on the worker with
 * the row's check and applied by the row's apply inside one writer op, each item in
 * its own nested transaction so that a refused item leaves the others in place. Items
 * keep the endpoint's op_id rules: the first reply is stored under (account, op_id)
 * whichever way the op came, and a repeat returns it as "duplicate".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domain/domain.h"
#include "routes.h"

#define READ_LIMIT_DEFAULT 100
#define READ_LIMIT_MAX 1000
#define MAX_OPS 500
#define SNAPSHOT_PAGE 1000
/* Bounds the snapshot walk; far above what one citizen files. */
#define SNAPSHOT_MAX_PAGES 1000

static int expired(hoso_req *r)
{
    return hoso_fail(&r->err, HOSO_ECURSOR_EXPIRED,
                     "the cursor is not in the retained feed of this server; load GET /v1/sync/snapshot and "
                     "continue from its head");
}

/* ---------------------------------------------------------------------------------- */
/* GET /v1/sync?since=N&limit=M&epoch=E */

typedef struct read_ctx {
    msgpack_sbuffer items;
    uint32_t n;
    uint64_t last;
} read_ctx;

static int read_one(void *ctx, uint64_t seq, const void *body, size_t len)
{
    read_ctx *c = ctx;
    /* The stored body is one msgpack object, the event as the owner sees it. */
    if (msgpack_sbuffer_write(&c->items, body, len) != 0) return HOSO_ENOMEM;
    c->n++;
    c->last = seq;
    return 0;
}

int hoso_route_sync_read(hoso_req *r)
{
    char buf[256];
    const char *s;
    uint64_t since = 0, limit = READ_LIMIT_DEFAULT;
    const char *epoch = hoso_store_epoch(hoso_server_store(r->srv));
    read_ctx c = {.n = 0, .last = 0};
    msgpack_sbuffer out;
    msgpack_packer pk;
    int more = 0, ret;

    if ((s = hoso_req_query(r, "since", buf, sizeof(buf))) != NULL && s[0] &&
        hoso_parse_u64(s, INT64_MAX, &since) != 0)
        hoso_fail_field(&r->err, "since", "must be a seq: an integer >= 0");
    if ((s = hoso_req_query(r, "limit", buf, sizeof(buf))) != NULL && s[0]) {
        if (hoso_parse_u64(s, INT64_MAX, &limit) != 0 || limit == 0)
            hoso_fail_field(&r->err, "limit", "must be 1..1000");
        else if (limit > READ_LIMIT_MAX)
            limit = READ_LIMIT_MAX;
    }
    if (r->err.err) return r->err.err;
    /* A cursor from another data dir names other events under the same seqs. */
    if ((s = hoso_req_query(r, "epoch", buf, sizeof(buf))) != NULL && s[0] && strcmp(s, epoch) != 0)
        return expired(r);

    msgpack_sbuffer_init(&c.items);
    msgpack_sbuffer_init(&out);
    ret = hoso_feed_read(r->rtxn, r->who.account, since, (unsigned)limit, read_one, &c, &more);
    if (ret == HOSO_ECURSOR_EXPIRED) ret = expired(r);
    if (ret) goto Exit;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    hoso_pack_cstr(&pk, "events");
    msgpack_pack_array(&pk, c.n);
    if (c.items.size) msgpack_sbuffer_write(&out, c.items.data, c.items.size);
    hoso_pack_cstr(&pk, "next");
    msgpack_pack_uint64(&pk, c.n ? c.last : since);
    hoso_pack_cstr(&pk, "more");
    if (more)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    hoso_pack_cstr(&pk, "epoch");
    hoso_pack_cstr(&pk, epoch);
    hoso_metrics_sync_read(c.n);
    ret = hoso_reply(r, 200, out.data, out.size);
Exit:
    msgpack_sbuffer_destroy(&c.items);
    msgpack_sbuffer_destroy(&out);
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* GET /v1/sync/snapshot: everything is read from the request's one read transaction,
 * so `head` is exactly the feed position of the dossiers and papers returned. */

int hoso_route_sync_snapshot(hoso_req *r)
{
    hoso__items ds, ps;
    hoso_doc doc;
    char cursor[128] = "", next[128];
    uint64_t head = 0;
    msgpack_sbuffer out;
    msgpack_packer pk;
    int ret = 0;

    memset(&doc, 0, sizeof(doc));
    hoso__items_init(&ds);
    hoso__items_init(&ps);
    msgpack_sbuffer_init(&out);
    for (unsigned page = 0; page < SNAPSHOT_MAX_PAGES; page++) {
        /* A doc per page: the page's dossiers are packed, then their memory goes. */
        if ((ret = hoso_doc_init(&doc)) != 0) goto Exit;
        next[0] = '\0';
        ret = hoso_dossier_list_owner(r->rtxn, r->who.account, 0, cursor, SNAPSHOT_PAGE, &doc, hoso__items_add_dossier,
                                      &ds, next);
        hoso_doc_destroy(&doc);
        if (ret) goto Exit;
        if (!next[0]) break;
        memcpy(cursor, next, sizeof(cursor));
    }
    if ((ret = hoso_doc_init(&doc)) != 0) goto Exit;
    ret = hoso_paper_each(r->rtxn, r->who.account, &doc, hoso__items_add_paper, &ps);
    hoso_doc_destroy(&doc);
    if (ret) goto Exit;
    if ((ret = hoso_feed_head(r->rtxn, r->who.account, &head)) != 0) goto Exit;

    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    if ((ret = hoso__items_pack(&pk, "dossiers", &ds)) != 0 || (ret = hoso__items_pack(&pk, "papers", &ps)) != 0)
        goto Exit;
    hoso_pack_cstr(&pk, "head");
    msgpack_pack_uint64(&pk, head);
    hoso_pack_cstr(&pk, "epoch");
    hoso_pack_cstr(&pk, hoso_store_epoch(hoso_server_store(r->srv)));
    hoso_metrics_sync_snapshot(ds.n, ps.n);
    ret = hoso_reply(r, 200, out.data, out.size);
Exit:
    hoso__items_destroy(&ds);
    hoso__items_destroy(&ps);
    msgpack_sbuffer_destroy(&out);
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* POST /v1/sync {ops: [{op_id, kind, code?, ...the endpoint's fields}]} */

/* One queued item as the worker left it for the writer. */
typedef struct sync_item {
    const hoso__citizen_op *kind;  /* NULL: refused on the worker, see pre */
    msgpack_object body;           /* the item without kind and code, in the op's body */
    char op_id[80];
    char code[96];
    uint8_t *pre;                  /* refused: its packed result, malloc'ed */
    size_t pre_len;
} sync_item;

typedef struct sync_plan {
    sync_item *items;
    size_t n;
} sync_plan;

static void plan_free(void *p)
{
    sync_plan *plan = p;
    for (size_t i = 0; i < plan->n; i++) free(plan->items[i].pre);
    free(plan->items);
    free(plan);
}

enum { RES_APPLIED, RES_DUPLICATE, RES_REJECTED };
static const char *const RES_NAMES[] = {"applied", "duplicate", "rejected"};

/* Packs {op_id, status, ...reply} from an op's reply: a success reply's fields
 * (dossier, reused_papers, ...) or an error reply's `error`; a VERSION_CONFLICT also
 * lifts the current dossier to the top so the app can rebase on it. */
static int pack_result(msgpack_packer *pk, const char *op_id, int res, const void *reply, size_t len)
{
    msgpack_unpacked u;
    const msgpack_object *current = NULL;
    uint32_t n = 0;
    int ret = 0;

    msgpack_unpacked_init(&u);
    if (len) {
        size_t off = 0;
        if (msgpack_unpack_next(&u, reply, len, &off) != MSGPACK_UNPACK_SUCCESS || u.data.type != MSGPACK_OBJECT_MAP) {
            ret = HOSO_ECORRUPT;
            goto Exit;
        }
        n = u.data.via.map.size;
        const msgpack_object *err = hoso_map_get(&u.data, "error");
        if (err && hoso_map_get(&u.data, "dossier") == NULL)
            current = hoso_map_get(hoso_map_get(err, "details"), "dossier");
    }
    msgpack_pack_map(pk, 2 + n + (current != NULL));
    hoso_pack_cstr(pk, "op_id");
    hoso_pack_cstr(pk, op_id);
    hoso_pack_cstr(pk, "status");
    hoso_pack_cstr(pk, RES_NAMES[res]);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_object(pk, u.data.via.map.ptr[i].key);
        msgpack_pack_object(pk, u.data.via.map.ptr[i].val);
    }
    if (current) {
        hoso_pack_cstr(pk, "dossier");
        msgpack_pack_object(pk, *current);
    }
Exit:
    msgpack_unpacked_destroy(&u);
    return ret;
}

/* Runs one item in its own transaction under parent, with the endpoint's op_id rules
 * (hoso_wop_run_nested): a stored reply is a duplicate; a result, success or 4xx, is
 * stored with the op. Packs the item's result into pk. A 5xx is returned: then nothing
 * of the batch is kept and the app resends it. */
static int run_item(hoso_wop *batch, hoso_txn *parent, const sync_item *it, msgpack_packer *pk, int *res)
{
    hoso_wop op;
    int ret, dup;

    hoso_wop_init(&op, it->kind->apply, &batch->who, batch->now);
    snprintf(op.op_id, sizeof(op.op_id), "%s", it->op_id);
    snprintf(op.params[0], sizeof(op.params[0]), "%s", it->code);
    /* The item's own zone for what apply decodes; its map stays in the batch body. */
    if ((ret = hoso_doc_init(&op.body)) != 0) goto Exit;
    op.body.root = it->body;
    op.has_body = 1;

    dup = hoso_wop_run_nested(parent, &op);
    if (op.result < 0 && op.http_status >= 500) {
        ret = op.result;
        goto Exit;
    }
    /* A VERSION_CONFLICT is a stored result too, but the op was not applied. */
    *res = dup ? RES_DUPLICATE : op.http_status < 400 ? RES_APPLIED : RES_REJECTED;
    ret = pack_result(pk, it->op_id, *res, op.reply.data, op.reply.size);
Exit:
    hoso_wop_destroy(&op);
    return ret;
}

static int sync_apply(hoso_wop *op, hoso_txn *t)
{
    sync_plan *plan = op->data;
    msgpack_sbuffer results;
    msgpack_packer rpk, pk;
    size_t count[3] = {0, 0, 0};
    uint64_t head = 0;
    int ret = 0;

    msgpack_sbuffer_init(&results);
    msgpack_packer_init(&rpk, &results, msgpack_sbuffer_write);
    for (size_t i = 0; i < plan->n; i++) {
        const sync_item *it = &plan->items[i];
        int res = RES_REJECTED;
        if (!it->kind)
            msgpack_sbuffer_write(&results, (const char *)it->pre, it->pre_len);
        else if ((ret = run_item(op, t, it, &rpk, &res)) != 0)
            goto Exit;
        count[res]++;
    }
    if ((ret = hoso_feed_head(t, op->who.account, &head)) != 0) goto Exit;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    hoso_pack_cstr(&pk, "results");
    msgpack_pack_array(&pk, (uint32_t)plan->n);
    if (results.size && msgpack_sbuffer_write(&op->reply, results.data, results.size) != 0) {
        ret = HOSO_ENOMEM;
        goto Exit;
    }
    hoso_pack_cstr(&pk, "head");
    msgpack_pack_uint64(&pk, head);
    op->http_status = 200;
    hoso_metrics_sync_ops(count[RES_APPLIED], count[RES_DUPLICATE], count[RES_REJECTED]);
Exit:
    if (ret) hoso_wop_fail(op, ret, "the offline queue could not be applied; send it again");
    msgpack_sbuffer_destroy(&results);
    return ret;
}

/* Refuses an item on the worker: its result is packed now and copied in order later.
 * Like the endpoint's own request checks, such a refusal is not stored with the op_id. */
static int refuse(sync_item *it, const char *op_id, int err, const hoso_errinfo *ei)
{
    msgpack_sbuffer sb, er;
    msgpack_packer pk;
    int ret;

    /* The error reply as the endpoint would send it. */
    msgpack_sbuffer_init(&er);
    msgpack_packer_init(&pk, &er, msgpack_sbuffer_write);
    hoso_encode_error(&pk, err, ei);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    ret = pack_result(&pk, op_id, RES_REJECTED, er.data, er.size);
    msgpack_sbuffer_destroy(&er);
    if (ret) {
        msgpack_sbuffer_destroy(&sb);
        return ret;
    }
    it->kind = NULL;
    it->pre_len = sb.size;
    it->pre = (uint8_t *)msgpack_sbuffer_release(&sb);
    return it->pre || !it->pre_len ? 0 : HOSO_ENOMEM;
}

/* Copies the str object o into buf (NUL-terminated); -1 if not a str of 1..max bytes. */
static int obj_cstr(const msgpack_object *o, char *buf, size_t max)
{
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size > max) return -1;
    if (!hoso_utf8_valid(o->via.str.ptr, o->via.str.size)) return -1;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return 0;
}

/* Reads one item: op_id, kind and code are the queue's own fields; what remains is the
 * endpoint's body, checked by the kind's row as the endpoint would. */
static int plan_item(hoso_req *r, const msgpack_object *o, sync_item *it)
{
    hoso_errinfo ei;
    static const char *const queue_keys[] = {"kind", "code", NULL};
    const msgpack_object *kind, *code;
    int ret;

    memset(&ei, 0, sizeof(ei));
    if (o->type != MSGPACK_OBJECT_MAP) {
        hoso_fail_field(&ei, "op", "must be a map {op_id, kind, ...}");
        return refuse(it, "", HOSO_EVALIDATION_FAILED, &ei);
    }
    if (obj_cstr(hoso_map_get(o, "op_id"), it->op_id, 64) != 0) hoso_fail_field(&ei, "op_id", "must be 1 to 64 bytes");
    kind = hoso_map_get(o, "kind");
    if (!kind || kind->type != MSGPACK_OBJECT_STR)
        hoso_fail_field(&ei, "kind", "required: submit, supplement, withdraw, rate, feedback or message");
    else if (!(it->kind = hoso__citizen_op_find(kind->via.str.ptr, kind->via.str.size)))
        hoso_fail_field(&ei, "kind", "unknown kind: submit, supplement, withdraw, rate, feedback or message");
    code = hoso_map_get(o, "code");
    if (it->kind && it->kind->on_dossier && obj_cstr(code, it->code, sizeof(it->code) - 1) != 0)
        hoso_fail_field(&ei, "code", "required: the dossier's code");
    else if (it->kind && !it->kind->on_dossier && code)
        hoso_fail_field(&ei, "code", "unknown field");
    if (ei.err) return refuse(it, it->op_id, ei.err, &ei);

    /* The endpoint's body: the item without kind and code (op_id stays: the endpoints
     * take it too). The pairs live in the request's zone, which the op takes over. */
    if ((ret = hoso_map_without(&r->body.zone, o, queue_keys, &it->body)) != 0) return ret;
    ret = it->kind->check(r->rtxn, &r->body, &it->body, &ei);
    if (ret == HOSO_ENOMEM || (ret && hoso_err_http_status(ret) >= 500)) return ret;
    if (ret) return refuse(it, it->op_id, ret, &ei);
    return 0;
}

int hoso_route_sync_apply(hoso_req *r)
{
    const msgpack_object *root = &r->body.root, *ops;
    sync_plan *plan = NULL;
    hoso_wop *op;
    int ret;

    if (root->type != MSGPACK_OBJECT_MAP) return hoso_fail(&r->err, HOSO_EBAD_REQUEST, "the body must be a map {ops: [...]}");
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        if (!hoso_obj_streq(k, "ops")) {
            char f[40] = "?";
            if (k->type == MSGPACK_OBJECT_STR)
                snprintf(f, sizeof(f), "%.*s", (int)(k->via.str.size < 32 ? k->via.str.size : 32), k->via.str.ptr);
            hoso_fail_field(&r->err, f, "unknown field");
        }
    }
    ops = hoso_map_get(root, "ops");
    if (!ops || ops->type != MSGPACK_OBJECT_ARRAY)
        hoso_fail_field(&r->err, "ops", "required: an array of operations");
    else if (ops->via.array.size > MAX_OPS)
        hoso_fail_field(&r->err, "ops", "at most 500 operations per request; send the rest in another");
    if (r->err.err) return r->err.err;

    if (!(plan = calloc(1, sizeof(*plan))) ||
        (ops->via.array.size && !(plan->items = calloc(ops->via.array.size, sizeof(*plan->items))))) {
        free(plan);
        return HOSO_ENOMEM;
    }
    for (uint32_t i = 0; i < ops->via.array.size; i++, plan->n++)
        if ((ret = plan_item(r, &ops->via.array.ptr[i], &plan->items[i])) != 0) {
            plan->n++;
            plan_free(plan);
            return ret;
        }
    if (!(op = hoso_wop_new(r, sync_apply))) {
        plan_free(plan);
        return HOSO_ENOMEM;
    }
    op->data = plan;
    op->free_data = plan_free;
    return hoso_writer_submit(r, op);
}
