/*
 * papers.c - the citizen's papers vault: owner(32) + paper id -> sealed hoso_paper
 * encoding, with the key as associated data.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

int hoso_paper_put(hoso_txn *t, const char *owner, const hoso_paper *p)
{
    uint8_t key[HOSO__INDEX_KEY_MAX], *sealed = NULL;
    size_t klen = 0, slen = 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0 || (rc = hoso__owner_prefix(owner, key, &klen)) != 0) goto Exit;
    rc = HOSO_EBAD_REQUEST;
    if (!p->id.ptr || p->id.len == 0 || klen + p->id.len > HOSO__INDEX_KEY_MAX) goto Exit;
    memcpy(key + klen, p->id.ptr, p->id.len);
    klen += p->id.len;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if ((rc = hoso_paper_encode(&pk, p)) != 0) {
        rc = rc < 0 && rc > -HOSO__ERR_COUNT ? rc : HOSO_ENOMEM;
        goto Exit;
    }
    if ((rc = hoso_seal(t->s, sb.data, sb.size, key, klen, &sealed, &slen)) != 0) goto Exit;
    rc = hoso__put(t, HOSO__DB_PAPERS, key, klen, sealed, slen, 0);
Exit:
    if (sb.data) sodium_memzero(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    free(sealed);
    return rc;
}

static int decode(hoso_txn *t, hoso_doc *doc, const MDB_val *k, const MDB_val *v, hoso_paper *out)
{
    hoso_errinfo ei;
    msgpack_object root;
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    int rc;
    memset(&ei, 0, sizeof ei);
    memset(out, 0, sizeof *out);
    if ((rc = hoso_open(t->s, v->mv_data, v->mv_size, k->mv_data, k->mv_size, &pt, &ptlen)) != 0) goto Exit;
    if ((rc = hoso__unpack_zone(doc, pt, ptlen, &root)) != 0) goto Exit;
    if (hoso_paper_decode(doc, &root, out, &ei) != 0) rc = HOSO_ECORRUPT;
Exit:
    if (pt) {
        sodium_memzero(pt, ptlen);
        free(pt);
    }
    return rc;
}

int hoso_paper_each(hoso_txn *t, const char *owner, hoso_doc *doc,
                    int (*fn)(void *ctx, const hoso_paper *p), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint8_t prefix[HOSO__ID_HEX];
    size_t plen = 0;
    int rc, mrc;
    if ((rc = hoso__doc_ready(doc)) != 0 || (rc = hoso__owner_prefix(owner, prefix, &plen)) != 0) return rc;
    if ((rc = hoso__cursor(t, HOSO__DB_PAPERS, &c)) != 0) return rc;
    k = (MDB_val){plen, prefix};
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        hoso_paper p;
        if (k.mv_size <= plen || memcmp(k.mv_data, prefix, plen) != 0) break;
        if ((rc = decode(t, doc, &k, &v, &p)) != 0 || (rc = fn(ctx, &p)) != 0) goto Exit;
    }
    rc = mrc == 0 || mrc == MDB_NOTFOUND ? 0 : hoso__mdb_err(mrc);
Exit:
    mdb_cursor_close(c);
    return rc;
}
