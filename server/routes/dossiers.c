/*
 * dossiers.c - the citizen's side of a dossier: submit, list, read, supplement,
 * withdraw, rate, and general feedback. The changes are rows of the citizen-op table
 * (server/domain/citizen_ops.c): each endpoint runs its row's check on the worker and
 * queues its row's apply for the writer.
 */
#include <stdio.h>
#include <string.h>
#include "domain/domain.h"
#include "routes.h"

int hoso_route_dossier_list(hoso_req *r)
{
    char cursor[128];
    unsigned limit;
    int status, ret;
    if ((ret = hoso__parse_paging(r, &status, cursor, sizeof(cursor), &limit)) != 0)
        return ret;
    return hoso__reply_dossier_list(r, hoso_dossier_list_owner, r->who.account, status, cursor, limit);
}

/* A dossier's entity tag: its version changes with every change (the only way a
 * dossier is stored bumps it), the data dir's epoch with a restore, and the letter
 * with the representation. */
static void dossier_etag(hoso_req *r, const hoso_dossier *d, char *out, size_t n)
{
    snprintf(out, n, "\"%.16s.%lld.%c\"", hoso_store_epoch(hoso_server_store(r->srv)), (long long)d->version,
             r->json ? 'j' : 'm');
}

int hoso_route_dossier_get(hoso_req *r)
{
    hoso_doc doc;
    hoso_dossier d;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char etag[64];
    int ret, conditional = hoso_req_has_header(r, "if-none-match");

    if ((ret = hoso_doc_init(&doc)) != 0)
        return ret;
    msgpack_sbuffer_init(&sb);
    /* A client revalidating its copy: the head of the record decides, nothing is
     * unsealed, and an unchanged dossier costs a 304 without a body. */
    ret = conditional ? hoso_dossier_head(r->rtxn, r->params[0], &doc, &d)
                      : hoso_dossier_get(r->rtxn, r->params[0], &doc, &d);
    if (ret == HOSO_ENOT_FOUND || (ret == 0 && !hoso__dossier_visible(&r->who, &d))) {
        ret = hoso_fail(&r->err, HOSO_ENOT_FOUND, "no such dossier");
        goto Exit;
    }
    if (ret != 0)
        goto Exit;
    dossier_etag(r, &d, etag, sizeof etag);
    if (conditional) {
        if (hoso_req_etag_matches(r, etag)) {
            hoso_reply_revalidated(r, etag);
            ret = hoso_reply_raw(r, 304, NULL, NULL, 0);
            goto Exit;
        }
        /* the same read transaction: the same version, the same tag */
        if ((ret = hoso_dossier_get(r->rtxn, r->params[0], &doc, &d)) != 0)
            goto Exit;
    }
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 1) || hoso_pack_cstr(&pk, "dossier") || hoso_dossier_encode(&pk, &d)) {
        ret = HOSO_ENOMEM;
        goto Exit;
    }
    hoso_reply_revalidated(r, etag);
    ret = hoso_reply(r, 200, sb.data, sb.size);
Exit:
    msgpack_sbuffer_destroy(&sb);
    hoso_doc_destroy(&doc);
    return ret;
}

/* The row's check on the worker, so malformed requests never reach the writer, then
 * the row's apply queued for the writer. */
static int endpoint(hoso_req *r, int which)
{
    const hoso__citizen_op *k = &hoso__citizen_ops[which];
    hoso_wop *op;
    int ret;

    if ((ret = k->check(r->rtxn, &r->body, &r->body.root, &r->err)) != 0)
        return ret;
    if ((op = hoso_wop_new(r, k->apply)) == NULL)
        return HOSO_ENOMEM;
    return hoso_writer_submit(r, op);
}

int hoso_route_dossier_submit(hoso_req *r)
{
    return endpoint(r, HOSO_OP_SUBMIT);
}

int hoso_route_dossier_supplement(hoso_req *r)
{
    return endpoint(r, HOSO_OP_SUPPLEMENT);
}

int hoso_route_dossier_withdraw(hoso_req *r)
{
    return endpoint(r, HOSO_OP_WITHDRAW);
}

int hoso_route_dossier_rating(hoso_req *r)
{
    return endpoint(r, HOSO_OP_RATE);
}

int hoso_route_feedback(hoso_req *r)
{
    return endpoint(r, HOSO_OP_FEEDBACK);
}
