/*
 * services.c - the public catalogue: code -> hoso_service encoding, in the clear (it
 * holds no personal data).
 */
#include <string.h>
#include "internal.h"

int hoso_service_put(hoso_txn *t, const hoso_service *svc)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    rc = HOSO_EBAD_REQUEST;
    if (!svc->code.ptr || svc->code.len == 0) goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if ((rc = hoso_service_encode(&pk, svc)) != 0) {
        rc = rc < 0 && rc > -HOSO__ERR_COUNT ? rc : HOSO_ENOMEM;
        goto Exit;
    }
    rc = hoso__put(t, HOSO__DB_SERVICES, svc->code.ptr, svc->code.len, sb.data, sb.size, 0);
Exit:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int decode(hoso_doc *doc, const MDB_val *v, hoso_service *out)
{
    hoso_errinfo ei;
    msgpack_object root;
    memset(&ei, 0, sizeof ei);
    int rc = hoso__unpack_zone(doc, v->mv_data, v->mv_size, &root);
    if (rc) return rc;
    if (hoso_service_decode(doc, &root, out, &ei) != 0) return HOSO_ECORRUPT;
    return 0;
}

int hoso_service_get(hoso_txn *t, const char *code, hoso_doc *doc, hoso_service *out)
{
    MDB_val v;
    memset(out, 0, sizeof *out);
    int rc = hoso__doc_ready(doc);
    if (rc) return rc;
    if (!code[0]) return HOSO_ENOT_FOUND;
    if ((rc = hoso__get(t, HOSO__DB_SERVICES, code, strlen(code), &v)) != 0) return rc;
    return decode(doc, &v, out);
}

int hoso_service_each(hoso_txn *t, int (*fn)(void *ctx, const hoso_service *svc), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc = hoso__cursor(t, HOSO__DB_SERVICES, &c);
    if (rc) return rc;
    for (int op = MDB_FIRST;; op = MDB_NEXT) {
        /* One short-lived doc per service: the callback sees it only while it runs. */
        hoso_doc doc;
        hoso_service svc;
        int mrc = mdb_cursor_get(c, &k, &v, op);
        if (mrc == MDB_NOTFOUND) break;
        if (mrc) {
            rc = hoso__mdb_err(mrc);
            goto Exit;
        }
        memset(&doc, 0, sizeof doc);
        memset(&svc, 0, sizeof svc);
        rc = decode(&doc, &v, &svc);
        if (rc == 0) rc = fn(ctx, &svc);
        if (doc.zone.chunk_size) msgpack_zone_destroy(&doc.zone);
        if (rc) goto Exit;
    }
    rc = 0;
Exit:
    mdb_cursor_close(c);
    return rc;
}
