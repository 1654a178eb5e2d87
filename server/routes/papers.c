/*
 * papers.c - the citizen's paper vault (kho giấy tờ): papers given once and
 * still valid are reused by later dossiers instead of being asked for again
 * (Circular 32/2017/TT-BTTTT).
 */
#include <stdlib.h>
#include <string.h>
#include "domain/domain.h"
#include "routes.h"

int hoso_route_papers_list(hoso_req *r)
{
    hoso__items c;
    hoso_doc doc;
    msgpack_sbuffer out;
    msgpack_packer pk;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    hoso__items_init(&c);
    msgpack_sbuffer_init(&out);
    if ((ret = hoso_paper_each(r->rtxn, r->who.account, &doc, hoso__items_add_paper, &c)) != 0) goto Exit;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    if ((ret = hoso__items_pack(&pk, "papers", &c)) != 0) goto Exit;
    ret = hoso_reply(r, 200, out.data, out.size);
Exit:
    hoso__items_destroy(&c);
    msgpack_sbuffer_destroy(&out);
    hoso_doc_destroy(&doc);
    return ret;
}

static void paper_from_req(const hoso_req_paper *q, hoso_paper *p)
{
    memset(p, 0, sizeof(*p));
    p->type = q->type;
    p->number = q->number;
    p->issuer = q->issuer;
    p->sha256 = q->sha256;
    p->file = q->file;
    p->valid_until = q->has_valid_until ? q->valid_until : 0;
}

static int paper_apply(hoso_wop *op, hoso_txn *t)
{
    hoso_req_paper q;
    hoso_paper p;
    hoso_doc doc;
    hoso__papers vault = {0};
    char id[33];
    msgpack_packer pk;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(&hoso_msg_paper, &op->body, &op->body.root, &q, &op->err)) != 0) goto Exit;
    paper_from_req(&q, &p);
    if ((ret = hoso__file_check(t, &op->who, &p.file, "file", &op->err, NULL)) != 0) goto Exit;
    if ((ret = hoso__vault_load(t, op->who.account, &doc, &vault)) != 0) goto Exit;
    for (size_t i = 0; i < vault.n; i++) {
        const hoso_paper *v = &vault.v[i];
        if (v->type.len == p.type.len && v->number.len == p.number.len &&
            memcmp(v->type.ptr, p.type.ptr, p.type.len) == 0 && memcmp(v->number.ptr, p.number.ptr, p.number.len) == 0) {
            ret = hoso_wop_fail(op, HOSO_EALREADY_EXISTS, "the vault already holds this paper (id %.*s)",
                                (int)v->id.len, v->id.ptr);
            goto Exit;
        }
    }
    hoso__paper_new_id(id);
    p.id.ptr = id;
    p.id.len = 32;
    p.added_at = op->now;
    if ((ret = hoso_paper_put(t, op->who.account, &p)) != 0) goto Exit;
    if (hoso__has(&p.file)) {
        char fid[33];
        snprintf(fid, sizeof fid, "%.*s", (int)(p.file.len < 32 ? p.file.len : 32), p.file.ptr);
        if ((ret = hoso_file_grant(t, fid, NULL, NULL)) != 0) goto Exit; /* kept with the paper */
    }
    if ((ret = hoso_event_append_paper(t, op->who.account, op->now, &p, NULL)) != 0) goto Exit;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "paper");
    if (hoso_paper_encode(&pk, &p)) {
        ret = HOSO_ENOMEM;
        goto Exit;
    }
    op->http_status = 201;
Exit:
    hoso__papers_free(&vault);
    hoso_doc_destroy(&doc);
    return ret;
}

int hoso_route_paper_add(hoso_req *r)
{
    hoso_req_paper q;
    hoso_paper p;
    hoso_wop *op;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_paper, &r->body, &r->body.root, &q, &r->err)) != 0) return ret;
    paper_from_req(&q, &p);
    if ((ret = hoso__paper_check(&p, "", &r->err)) != 0) return ret;
    if (!(op = hoso_wop_new(r, paper_apply))) return HOSO_ENOMEM;
    return hoso_writer_submit(r, op);
}
