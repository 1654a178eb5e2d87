/*
 * messages.c - a dossier's thread: POST and GET /v1/dossiers/{code}/messages (its
 * citizen) and /v1/agency/dossiers/{code}/messages (officers of its agency, admins).
 * Posting is a writer op (server/domain/messages.c); listing reads the thread in the
 * request's read transaction, oldest first, `after` a seq.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "domain/domain.h"
#include "routes.h"

int hoso_route_dossier_message_post(hoso_req *r)
{
    const hoso__citizen_op *k = &hoso__citizen_ops[HOSO_OP_MESSAGE];
    hoso_wop *op;
    int ret;
    if ((ret = k->check(r->rtxn, &r->body, &r->body.root, &r->err)) != 0) return ret;
    if ((op = hoso_wop_new(r, k->apply)) == NULL) return HOSO_ENOMEM;
    return hoso_writer_submit(r, op);
}

int hoso_route_agency_message_post(hoso_req *r)
{
    hoso_wop *op;
    int ret;
    if ((ret = hoso__message_check_officer(r->rtxn, &r->body, &r->body.root, &r->err)) != 0) return ret;
    if ((op = hoso_wop_new(r, hoso__message_apply_officer)) == NULL) return HOSO_ENOMEM;
    return hoso_writer_submit(r, op);
}

typedef struct lister {
    msgpack_packer *pk;
    uint32_t n;
    uint64_t last;
} lister;

static int one(void *ctx, const hoso_message *m)
{
    lister *l = ctx;
    l->n++;
    l->last = m->seq;
    return hoso_message_encode(l->pk, m);
}

/* {messages: [...], next, more}: next is the seq to pass as `after` for the page after. */
static int list(hoso_req *r, int officer)
{
    char buf[32];
    const char *after_s = hoso_req_query(r, "after", buf, sizeof buf);
    char lbuf[16];
    const char *limit_s = hoso_req_query(r, "limit", lbuf, sizeof lbuf);
    uint64_t after = 0;
    unsigned long limit = 100;
    hoso_doc doc;
    hoso_dossier d;
    msgpack_sbuffer items, sb;
    msgpack_packer ipk, pk;
    lister l;
    int more = 0, ret;
    if (after_s != NULL) {
        char *end;
        errno = 0;
        after = strtoull(after_s, &end, 10);
        if (errno || *end || after_s[0] < '0' || after_s[0] > '9')
            hoso_fail_field(&r->err, "after", "must be a message seq (0 or more)");
    }
    if (limit_s != NULL) {
        char *end;
        limit = strtoul(limit_s, &end, 10);
        if (*end || limit < 1 || limit > 1000) hoso_fail_field(&r->err, "limit", "must be 1 to 1000");
    }
    if (r->err.err) return r->err.err;
    /* The caller's role matches the path (the route table), and the dossier must be
     * theirs: the reply is the same whether the code is unknown or someone else's. */
    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    ret = hoso_dossier_get(r->rtxn, r->params[0], &doc, &d);
    int role_ok = officer ? r->who.role != HOSO_ROLE_CITIZEN : r->who.role == HOSO_ROLE_CITIZEN;
    if (ret == HOSO_ENOT_FOUND || (ret == 0 && (!role_ok || !hoso__dossier_visible(&r->who, &d)))) {
        hoso_doc_destroy(&doc);
        return hoso_fail(&r->err, HOSO_ENOT_FOUND, "no such dossier");
    }
    hoso_doc_destroy(&doc);
    if (ret != 0) return hoso_fail(&r->err, ret, "cannot read the dossier");
    msgpack_sbuffer_init(&items);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&ipk, &items, msgpack_sbuffer_write);
    l = (lister){&ipk, 0, after};
    ret = hoso_message_list(r->rtxn, r->params[0], after, (unsigned)limit, one, &l, &more);
    if (ret == 0) {
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (msgpack_pack_map(&pk, 3) || hoso_pack_cstr(&pk, "messages") || msgpack_pack_array(&pk, l.n) ||
            (items.size && msgpack_sbuffer_write(&sb, items.data, items.size)) || hoso_pack_kint(&pk, "next", (int64_t)l.last) ||
            hoso_pack_cstr(&pk, "more") || (more ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)))
            ret = HOSO_ENOMEM;
    }
    if (ret == 0) hoso_reply(r, 200, sb.data, sb.size);
    else hoso_fail(&r->err, ret, "cannot read the messages");
    msgpack_sbuffer_destroy(&items);
    msgpack_sbuffer_destroy(&sb);
    return ret;
}

int hoso_route_dossier_messages(hoso_req *r) { return list(r, 0); }
int hoso_route_agency_messages(hoso_req *r) { return list(r, 1); }
