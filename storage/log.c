/*
 * log.c - the global, hash-chained log: global seq BE64 -> msgpack {seq, prev, owner,
 * agency, type, at, code, status, version}, where prev is the BLAKE2b-256 of the
 * previous entry's full value bytes (zeros for the first). meta "log_head" holds the
 * last seq and the hash of the last entry, so tampering with the newest entry is
 * caught too.
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define HEAD_KEY "log_head"

int hoso__log_head(hoso_txn *t, uint64_t *seq, uint8_t hash[32])
{
    MDB_val v;
    int rc = hoso__get(t, HOSO__DB_META, HEAD_KEY, sizeof HEAD_KEY - 1, &v);
    if (rc == HOSO_ENOT_FOUND) {
        *seq = 0;
        memset(hash, 0, 32);
        return 0;
    }
    if (rc) return rc;
    if (v.mv_size != 8 + 32) return HOSO_ECORRUPT;
    *seq = hoso_be64_get(v.mv_data);
    memcpy(hash, (const uint8_t *)v.mv_data + 8, 32);
    return 0;
}

int hoso__log_append(hoso_txn *t, const char *owner, const char *agency, hoso_event_type type,
                     int64_t at, const hoso_dossier *d, uint64_t message_seq, uint64_t *gseq_out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t prev[32], key[8], head[8 + 32];
    uint64_t seq = 0;
    hoso_str empty = {"", 0};
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__log_head(t, &seq, prev)) != 0) goto Exit;
    seq++;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 9 + (message_seq != 0)) || hoso_pack_kint(&pk, "seq", (int64_t)seq) ||
        hoso_pack_kbin(&pk, "prev", prev, sizeof prev) || hoso_pack_kcstr(&pk, "owner", owner) ||
        hoso_pack_kcstr(&pk, "agency", agency) || hoso_pack_kcstr(&pk, "type", hoso_event_type_name(type)) ||
        hoso_pack_kint(&pk, "at", at) || hoso_pack_kstr(&pk, "code", d ? &d->code : &empty) ||
        hoso_pack_kint(&pk, "status", d ? d->status : 0) || hoso_pack_kint(&pk, "version", d ? d->version : 0) ||
        (message_seq != 0 && hoso_pack_kint(&pk, "message", (int64_t)message_seq)))
        goto Exit;
    hoso_be64_put(key, seq);
    if ((rc = hoso__put(t, HOSO__DB_LOG, key, sizeof key, sb.data, sb.size, MDB_NOOVERWRITE)) != 0) {
        /* An existing entry at head+1 means meta and the log disagree. */
        if (rc == HOSO_EALREADY_EXISTS) rc = hoso__fail(t, HOSO_ECORRUPT);
        goto Exit;
    }
    hoso_be64_put(head, seq);
    crypto_generichash(head + 8, 32, (const uint8_t *)sb.data, sb.size, NULL, 0);
    if ((rc = hoso__put(t, HOSO__DB_META, HEAD_KEY, sizeof HEAD_KEY - 1, head, sizeof head, 0)) != 0) goto Exit;
    *gseq_out = seq;
Exit:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int broken(uint64_t seq, uint64_t *bad_seq, char *why, size_t whylen, const char *fmt,
                  unsigned long long a)
{
    *bad_seq = seq;
    if (why && whylen) snprintf(why, whylen, fmt, a);
    return HOSO_ECORRUPT;
}

int hoso_log_verify(hoso_txn *t, uint64_t *count, uint64_t *bad_seq, char *why, size_t whylen)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    msgpack_unpacked u;
    uint8_t prev[32] = {0}, head_hash[32];
    uint64_t expect = 1, head = 0;
    int rc, mrc;
    *count = 0;
    *bad_seq = 0;
    if (why && whylen) why[0] = '\0';
    msgpack_unpacked_init(&u);
    if ((rc = hoso__log_head(t, &head, head_hash)) != 0) goto Exit;
    if ((rc = hoso__cursor(t, HOSO__DB_LOG, &c)) != 0) goto Exit;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        int64_t seq = 0;
        if (k.mv_size != 8 || hoso_be64_get(k.mv_data) != expect) {
            rc = broken(expect, bad_seq, why, whylen, "entry %llu is missing", (unsigned long long)expect);
            goto Exit;
        }
        msgpack_unpacked_destroy(&u);
        if (hoso__unpack(&u, v.mv_data, v.mv_size) != 0 || hoso__mint(&u.data, "seq", 0, &seq) != 0 ||
            (uint64_t)seq != expect) {
            rc = broken(expect, bad_seq, why, whylen, "entry %llu does not decode or names another seq",
                        (unsigned long long)expect);
            goto Exit;
        }
        const msgpack_object *p = hoso_map_get(&u.data, "prev");
        if (!p || p->type != MSGPACK_OBJECT_BIN || p->via.bin.size != 32 || memcmp(p->via.bin.ptr, prev, 32) != 0) {
            /* The successor remembers the hash of its predecessor: a mismatch means the
             * predecessor was changed after the successor was written. */
            if (expect == 1)
                rc = broken(1, bad_seq, why, whylen, "entry %llu does not start the chain", 1);
            else
                rc = broken(expect - 1, bad_seq, why, whylen, "entry %llu does not match the hash its successor recorded",
                            (unsigned long long)(expect - 1));
            goto Exit;
        }
        crypto_generichash(prev, sizeof prev, v.mv_data, v.mv_size, NULL, 0);
        (*count)++;
        expect++;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        rc = hoso__mdb_err(mrc);
        goto Exit;
    }
    if (head != *count) {
        rc = broken(head > *count ? *count + 1 : head + 1, bad_seq, why, whylen,
                    "the log head names seq %llu", (unsigned long long)head);
        goto Exit;
    }
    if (head && memcmp(prev, head_hash, 32) != 0) {
        rc = broken(head, bad_seq, why, whylen, "entry %llu does not match the hash kept in the head",
                    (unsigned long long)head);
        goto Exit;
    }
    rc = 0;
Exit:
    if (c) mdb_cursor_close(c);
    msgpack_unpacked_destroy(&u);
    return rc;
}

static int decode_entry(const MDB_val *k, const MDB_val *v, hoso_log_entry *e)
{
    msgpack_unpacked u;
    char type[32];
    int64_t seq = 0, message = 0;
    int rc;
    memset(e, 0, sizeof(*e));
    if (k->mv_size != 8) return HOSO_ECORRUPT;
    msgpack_unpacked_init(&u);
    if ((rc = hoso__unpack(&u, v->mv_data, v->mv_size)) == 0 && (rc = hoso__mint(&u.data, "seq", 0, &seq)) == 0 &&
        (rc = hoso__mint(&u.data, "at", 0, &e->at)) == 0 && (rc = hoso__mint(&u.data, "status", 0, &e->status)) == 0 &&
        (rc = hoso__mint(&u.data, "version", 0, &e->version)) == 0 &&
        (rc = hoso__mint(&u.data, "message", 0, &message)) == 0 &&
        (rc = hoso__mcopy(&u.data, "owner", e->owner, sizeof e->owner)) == 0 &&
        (rc = hoso__mcopy(&u.data, "agency", e->agency, sizeof e->agency)) == 0 &&
        (rc = hoso__mcopy(&u.data, "code", e->code, sizeof e->code)) == 0 &&
        (rc = hoso__mcopy(&u.data, "type", type, sizeof type)) == 0) {
        e->seq = hoso_be64_get(k->mv_data);
        e->message_seq = (uint64_t)message;
        if ((uint64_t)seq != e->seq) rc = HOSO_ECORRUPT;
        for (int i = HOSO_EV_DOSSIER_CREATED; i <= HOSO_EV_LAST; i++)
            if (strcmp(type, hoso_event_type_name((hoso_event_type)i)) == 0) e->type = (hoso_event_type)i;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

int hoso_log_get(hoso_txn *t, uint64_t seq, hoso_log_entry *out)
{
    uint8_t key[8];
    MDB_val k = {sizeof key, key}, v;
    hoso_be64_put(key, seq);
    int rc = hoso__get(t, HOSO__DB_LOG, key, sizeof key, &v);
    return rc ? rc : decode_entry(&k, &v, out);
}

int hoso_log_last(hoso_txn *t, uint64_t *seq)
{
    uint8_t hash[32];
    return hoso__log_head(t, seq, hash);
}

int hoso_log_scan(hoso_txn *t, uint64_t after, size_t limit, int (*fn)(void *ctx, const hoso_log_entry *e),
                  void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint8_t key[8];
    hoso_log_entry e;
    size_t n = 0;
    int rc, mrc;
    if ((rc = hoso__cursor(t, HOSO__DB_LOG, &c)) != 0) return rc;
    hoso_be64_put(key, after + 1);
    k.mv_size = sizeof key;
    k.mv_data = key;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0 && n < limit;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        if ((rc = decode_entry(&k, &v, &e)) != 0 || (rc = fn(ctx, &e)) != 0) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}
