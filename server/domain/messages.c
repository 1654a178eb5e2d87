/*
 * messages.c - the thread between a dossier's citizen and its agency's officers
 * (Circular 22/2019 art. 6). A message does not change the dossier (no version, no
 * history line); it is stored sealed in the dossier's thread and appended as a
 * `message` event to the citizen's feed and the log in the same transaction, so the
 * app hears it through sync and push and the agency's stream carries it too.
 */
#include <string.h>
#include "domain.h"

static int reply_message(hoso_wop *op, const hoso_message *m)
{
    msgpack_packer pk;
    op->reply.size = 0;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 1) || hoso_pack_cstr(&pk, "message") || hoso_message_encode(&pk, m))
        return hoso_wop_fail(op, HOSO_ENOMEM, "cannot encode the message");
    op->http_status = 201;
    return 0;
}

/* Writer thread: the message of op->body on dossier op->params[0], from the citizen
 * (officer 0) or an officer of its agency. */
static int post(hoso_wop *op, hoso_txn *t, int officer)
{
    hoso_req_message q;
    hoso_message m;
    hoso_dossier d;
    hoso_doc doc;
    int ret;
    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if ((ret = hoso_decode(officer ? &hoso_msg_agency_message : &hoso_msg_message, &op->body, &op->body.root, &q,
                           &op->err)) != 0 ||
        (ret = hoso__wop_load_dossier(op, t, officer, &doc, &d)) != 0)
        goto Exit;
    memset(&m, 0, sizeof m);
    m.code = d.code;
    m.from = officer ? "officer" : "citizen";
    m.by = (hoso_str){op->who.account, strlen(op->who.account)};
    m.text = q.text;
    m.at = op->now;
    /* Files: each an upload of the sender's, then readable by the dossier's agency and
     * its citizen. */
    if (q.files != NULL && q.files->via.array.size > 0) {
        const msgpack_object *a = q.files;
        for (uint32_t i = 0; i < a->via.array.size && ret == 0; i++) {
            char prefix[32];
            const msgpack_object *f = &a->via.array.ptr[i];
            snprintf(prefix, sizeof prefix, "files[%u]", i);
            if (f->type != MSGPACK_OBJECT_STR || f->via.str.size == 0) {
                ret = hoso_fail_field(&op->err, prefix, "must be the id of a file you uploaded");
                break;
            }
            hoso_str id = {f->via.str.ptr, f->via.str.size};
            if ((ret = hoso__file_check(t, &op->who, &id, prefix, &op->err, NULL)) != 0) break;
            char cid[33];
            snprintf(cid, sizeof cid, "%.*s", 32, id.ptr);
            if ((ret = hoso_file_grant(t, cid, d.agency.ptr, d.owner.ptr)) != 0) {
                ret = hoso_wop_fail(op, ret, "cannot store the message");
                break;
            }
        }
        if (ret != 0) goto Exit;
        if ((ret = hoso_zone_pack(&doc.zone, a, &m.files)) != 0) goto Exit;
    }
    if ((ret = hoso_message_put(t, &m)) != 0 || (ret = hoso_event_append_message(t, &d, op->now, &m, NULL)) != 0) {
        ret = hoso_wop_fail(op, ret, "cannot store the message");
        goto Exit;
    }
    ret = reply_message(op, &m);
Exit:
    hoso_doc_destroy(&doc);
    return ret;
}

int hoso__message_apply_citizen(hoso_wop *op, hoso_txn *t) { return post(op, t, 0); }
int hoso__message_apply_officer(hoso_wop *op, hoso_txn *t) { return post(op, t, 1); }

int hoso__message_check(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei)
{
    hoso_req_message q;
    (void)rtxn;
    return hoso_decode(&hoso_msg_message, body, root, &q, ei);
}

int hoso__message_check_officer(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei)
{
    hoso_req_message q;
    (void)rtxn;
    return hoso_decode(&hoso_msg_agency_message, body, root, &q, ei);
}
