/*
 * dossier_list.c - paging through one owner's or one agency's dossiers, newest first,
 * over the owner_dossiers / agency_dossiers indexes.
 *
 * The cursor is base64url(created BE64 || code) of the last dossier returned: the next
 * page starts right below that index key, so dossiers added meanwhile (newer) do not
 * shift the pages already seen.
 */
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define DEFAULT_LIMIT 50
#define MAX_LIMIT 1000
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

typedef struct list_args {
    int status;
    unsigned limit;
    hoso_doc *doc;
    hoso_dossier_fn fn;
    void *ctx;
} list_args;

static int make_cursor(const uint8_t *tail, size_t len, char next_buf[128])
{
    if (sodium_base64_ENCODED_LEN(len, B64) > 128) return HOSO_EBAD_REQUEST;
    sodium_bin2base64(next_buf, 128, tail, len, B64);
    return 0;
}

static int stored_status(const MDB_val *v, int64_t *status)
{
    msgpack_unpacked u;
    int rc = hoso__unpack(&u, v->mv_data, v->mv_size);
    if (rc == 0) rc = hoso__mint(&u.data, "status", 0, status);
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* Positions c on the greatest key below seek (a key inside or right after the prefix
 * range); MDB_NOTFOUND when there is none. */
static int seek_below(MDB_cursor *c, const uint8_t *seek, size_t len, MDB_val *k, MDB_val *v)
{
    *k = (MDB_val){len, (void *)seek};
    int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) return mdb_cursor_get(c, k, v, MDB_LAST);
    if (rc) return rc;
    return mdb_cursor_get(c, k, v, MDB_PREV);
}

static int list(hoso_txn *t, int db, uint8_t *prefix, size_t plen, const char *cursor, const list_args *a,
                char next_buf[128])
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint8_t seek[HOSO__INDEX_KEY_MAX], last[HOSO__INDEX_KEY_MAX];
    size_t slen, lastlen = 0;
    unsigned limit = a->limit == 0 ? DEFAULT_LIMIT : a->limit > MAX_LIMIT ? MAX_LIMIT : a->limit, count = 0;
    int rc, mrc;

    memcpy(seek, prefix, plen);
    if (cursor && cursor[0]) {
        size_t n = 0, room = sizeof seek - plen;
        if (sodium_base642bin(seek + plen, room, cursor, strlen(cursor), NULL, &n, NULL, B64) != 0 || n <= 8)
            return HOSO_EBAD_REQUEST;
        slen = plen + n;
    } else {
        /* Above every key of the prefix: codes are ASCII, never 0xff. */
        memset(seek + plen, 0xff, 9);
        slen = plen + 9;
    }
    if ((rc = hoso__cursor(t, db, &c)) != 0) return rc;
    for (mrc = seek_below(c, seek, slen, &k, &v); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
        if (k.mv_size <= plen + 8 || memcmp(k.mv_data, prefix, plen) != 0) break;
        const char *code = (const char *)k.mv_data + plen + 8;
        size_t codelen = k.mv_size - plen - 8;
        MDB_val dv;
        hoso_dossier d;
        if ((rc = hoso__get(t, HOSO__DB_DOSSIERS, code, codelen, &dv)) == HOSO_ENOT_FOUND) continue;
        if (rc) goto Exit;
        if (count == limit) {
            /* Something remains only if it passes the filter: peek without unsealing. */
            int64_t st = 0;
            if (a->status && (rc = stored_status(&dv, &st)) != 0) goto Exit;
            if (a->status && st != a->status) continue;
            rc = make_cursor(last, lastlen, next_buf);
            goto Exit;
        }
        if ((rc = hoso__dossier_from_value(t, dv.mv_data, dv.mv_size, a->status, a->doc, &d)) < 0) goto Exit;
        if (rc == 1) continue;
        lastlen = k.mv_size - plen;
        memcpy(last, (const uint8_t *)k.mv_data + plen, lastlen);
        count++;
        if ((rc = a->fn(a->ctx, &d)) != 0) goto Exit;
    }
    rc = mrc == 0 || mrc == MDB_NOTFOUND ? 0 : hoso__mdb_err(mrc);
Exit:
    mdb_cursor_close(c);
    return rc;
}

static int copy_cursor(const char *cursor, char cur[128])
{
    size_t n = cursor ? strlen(cursor) : 0;
    if (n >= 128) return HOSO_EBAD_REQUEST;
    memcpy(cur, cursor ? cursor : "", n + 1);
    return 0;
}

int hoso_dossier_list_owner(hoso_txn *t, const char *owner, int status, const char *cursor,
                            unsigned limit, hoso_doc *doc, hoso_dossier_fn fn, void *ctx,
                            char next_buf[128])
{
    uint8_t prefix[HOSO__INDEX_KEY_MAX];
    size_t plen = 0;
    list_args a = {status, limit, doc, fn, ctx};
    char cur[128];
    /* The caller may pass next_buf as the cursor: copy it before clearing next_buf. */
    int rc = hoso__doc_ready(doc);
    if (rc == 0) rc = copy_cursor(cursor, cur);
    next_buf[0] = '\0';
    if (rc == 0) rc = hoso__owner_prefix(owner, prefix, &plen);
    return rc ? rc : list(t, HOSO__DB_OWNER_DOSSIERS, prefix, plen, cur, &a, next_buf);
}

int hoso_dossier_list_agency(hoso_txn *t, const char *agency, int status, const char *cursor,
                             unsigned limit, hoso_doc *doc, hoso_dossier_fn fn, void *ctx,
                             char next_buf[128])
{
    uint8_t prefix[HOSO__INDEX_KEY_MAX];
    size_t plen = 0;
    list_args a = {status, limit, doc, fn, ctx};
    char cur[128];
    /* The caller may pass next_buf as the cursor: copy it before clearing next_buf. */
    int rc = hoso__doc_ready(doc);
    if (rc == 0) rc = copy_cursor(cursor, cur);
    next_buf[0] = '\0';
    if (rc == 0) rc = hoso__agency_prefix(agency, prefix, &plen);
    return rc ? rc : list(t, HOSO__DB_AGENCY_DOSSIERS, prefix, plen, cur, &a, next_buf);
}
