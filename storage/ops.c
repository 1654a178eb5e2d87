/*
 * ops.c - idempotency: account(32) + op_id -> {status, body, at}, the first reply to
 * an op, so a retried op_id gets the same answer and changes nothing. The body is a
 * reply that may carry a whole dossier, form included: it is sealed (ad = the key).
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

static int op_key(const char *account, const char *op_id, uint8_t *key, size_t *len)
{
    size_t n = op_id ? strlen(op_id) : 0;
    if (!account || strlen(account) != HOSO__ID_HEX || n == 0 || HOSO__ID_HEX + n > HOSO__INDEX_KEY_MAX)
        return HOSO_EBAD_REQUEST;
    memcpy(key, account, HOSO__ID_HEX);
    memcpy(key + HOSO__ID_HEX, op_id, n);
    *len = HOSO__ID_HEX + n;
    return 0;
}

int hoso_op_get(hoso_txn *t, const char *account, const char *op_id, hoso_doc *doc, int *http_status,
                hoso_str *body)
{
    uint8_t key[HOSO__INDEX_KEY_MAX];
    size_t klen = 0;
    msgpack_unpacked u;
    MDB_val v;
    int64_t st = 0;
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    int rc;
    msgpack_unpacked_init(&u);
    *http_status = 0;
    memset(body, 0, sizeof *body);
    if ((rc = hoso__doc_ready(doc)) != 0 || (rc = op_key(account, op_id, key, &klen)) != 0) goto Exit;
    if ((rc = hoso__get(t, HOSO__DB_OPS, key, klen, &v)) != 0) goto Exit;
    if ((rc = hoso__unpack(&u, v.mv_data, v.mv_size)) != 0) goto Exit;
    const msgpack_object *b = hoso_map_get(&u.data, "body");
    if ((rc = hoso__mint(&u.data, "status", 0, &st)) != 0) goto Exit;
    if (!b || b->type != MSGPACK_OBJECT_BIN) {
        rc = HOSO_ECORRUPT;
        goto Exit;
    }
    if ((rc = hoso_open(t->s, b->via.bin.ptr, b->via.bin.size, key, klen, &pt, &ptlen)) != 0 ||
        (rc = hoso_zone_str(&doc->zone, (const char *)pt, ptlen, body)) != 0)
        goto Exit;
    *http_status = (int)st;
Exit:
    free(pt);
    msgpack_unpacked_destroy(&u);
    return rc;
}

int hoso_op_put(hoso_txn *t, const char *account, const char *op_id, int http_status,
                const void *body, size_t len, int64_t now_ms)
{
    uint8_t key[HOSO__INDEX_KEY_MAX];
    size_t klen = 0, slen = 0;
    uint8_t *sealed = NULL;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0 || (rc = op_key(account, op_id, key, &klen)) != 0) goto Exit;
    if ((rc = hoso_seal(t->s, body ? body : "", body ? len : 0, key, klen, &sealed, &slen)) != 0) goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 3) || hoso_pack_kint(&pk, "status", http_status) ||
        hoso_pack_kbin(&pk, "body", sealed, slen) || hoso_pack_kint(&pk, "at", now_ms))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_OPS, key, klen, sb.data, sb.size, 0);
Exit:
    free(sealed);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}
