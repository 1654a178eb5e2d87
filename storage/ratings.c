/*
 * ratings.c - satisfaction ratings and feedback under random ids. A rating keeps only
 * service, agency and month so the assessor stays anonymous (Decree 42/2022 art. 13);
 * feedback text may name people, so it is sealed. The satisfaction aggregates (per
 * agency, service, month and question) are kept here too, in the same transaction.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define ID_BYTES 16

static int agg_rating(hoso_txn *t, const char *agency, const char *service, const char *month,
                      const msgpack_object *answers);

int hoso_rating_put(hoso_txn *t, const char *service, const char *agency, int64_t at,
                    const msgpack_object *answers)
{
    uint8_t id[ID_BYTES];
    char month[8];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    randombytes_buf(id, sizeof id);
    hoso__vn_month(at, month);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 4) || hoso_pack_kcstr(&pk, "service", service) ||
        hoso_pack_kcstr(&pk, "agency", agency) || hoso_pack_kcstr(&pk, "month", month) ||
        hoso_pack_cstr(&pk, "answers") || (answers ? msgpack_pack_object(&pk, *answers) : msgpack_pack_nil(&pk)))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_RATINGS, id, sizeof id, sb.data, sb.size, MDB_NOOVERWRITE);
    if (rc == 0) rc = agg_rating(t, agency, service ? service : "", month, answers);
Exit:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_feedback_put(hoso_txn *t, const char *text, const char *service, int64_t at)
{
    uint8_t id[ID_BYTES], *sealed = NULL;
    size_t slen = 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    if (!text) text = "";
    randombytes_buf(id, sizeof id);
    if ((rc = hoso_seal(t->s, text, strlen(text), id, sizeof id, &sealed, &slen)) != 0) goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 3) || hoso_pack_kbin(&pk, "text", sealed, slen) ||
        hoso_pack_kcstr(&pk, "service", service) || hoso_pack_kint(&pk, "at", at))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_FEEDBACK, id, sizeof id, sb.data, sb.size, MDB_NOOVERWRITE);
Exit:
    msgpack_sbuffer_destroy(&sb);
    free(sealed);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Satisfaction aggregates: agency \0 service \0 month \0 question -> {count, sum, dist}. */

#define AGG_KEY_MAX 480

static int agg_key(const char *agency, const char *service, const char *month, const char *q, size_t qlen,
                   char *key, size_t *klen)
{
    size_t a = strlen(agency), s = strlen(service), m = strlen(month);
    if (a == 0 || m != 7 || qlen == 0 || a + s + m + qlen + 3 > AGG_KEY_MAX) return HOSO_EBAD_REQUEST;
    memcpy(key, agency, a + 1);
    memcpy(key + a + 1, service, s + 1);
    memcpy(key + a + s + 2, month, m + 1);
    memcpy(key + a + s + m + 3, q, qlen);
    *klen = a + s + m + 3 + qlen;
    return 0;
}

/* A cell's value {count, sum, dist[5]}. Errors: CORRUPT. */
static int agg_decode(const MDB_val *v, uint64_t *count, uint64_t *sum, uint64_t dist[5])
{
    msgpack_unpacked u;
    int64_t c = 0, s = 0;
    int rc;
    msgpack_unpacked_init(&u);
    if ((rc = hoso__unpack(&u, v->mv_data, v->mv_size)) == 0 && (rc = hoso__mint(&u.data, "count", 0, &c)) == 0 &&
        (rc = hoso__mint(&u.data, "sum", 0, &s)) == 0) {
        const msgpack_object *d = hoso_map_get(&u.data, "dist");
        *count = (uint64_t)c;
        *sum = (uint64_t)s;
        for (uint32_t i = 0; d && d->type == MSGPACK_OBJECT_ARRAY && i < d->via.array.size && i < 5; i++)
            dist[i] = d->via.array.ptr[i].via.u64;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* Adds one answer (score 1..5) to its cell. */
static int agg_add(hoso_txn *t, const char *agency, const char *service, const char *month, const char *q, size_t qlen,
                   int64_t score)
{
    char key[AGG_KEY_MAX];
    size_t klen;
    uint64_t count = 0, sum = 0, dist[5] = {0};
    MDB_val v;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    if (score < 1 || score > 5) return 0; /* the descriptor allows 1..5 only */
    if ((rc = agg_key(agency, service, month, q, qlen, key, &klen)) != 0) return rc;
    rc = hoso__get(t, HOSO__DB_SATISFACTION, key, klen, &v);
    if (rc == 0) {
        if ((rc = agg_decode(&v, &count, &sum, dist)) != 0) return rc;
    } else if (rc != HOSO_ENOT_FOUND) {
        return rc;
    }
    count++;
    sum += (uint64_t)score;
    dist[score - 1]++;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (!(msgpack_pack_map(&pk, 3) || hoso_pack_kint(&pk, "count", (int64_t)count) ||
          hoso_pack_kint(&pk, "sum", (int64_t)sum) || hoso_pack_cstr(&pk, "dist") || msgpack_pack_array(&pk, 5) ||
          msgpack_pack_uint64(&pk, dist[0]) || msgpack_pack_uint64(&pk, dist[1]) || msgpack_pack_uint64(&pk, dist[2]) ||
          msgpack_pack_uint64(&pk, dist[3]) || msgpack_pack_uint64(&pk, dist[4])))
        rc = hoso__put(t, HOSO__DB_SATISFACTION, key, klen, sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Adds a rating's answers (a map question -> score) to the aggregates. */
static int agg_rating(hoso_txn *t, const char *agency, const char *service, const char *month,
                      const msgpack_object *answers)
{
    int rc = 0;
    if (answers == NULL || answers->type != MSGPACK_OBJECT_MAP) return 0;
    for (uint32_t i = 0; i < answers->via.map.size && rc == 0; i++) {
        const msgpack_object *k = &answers->via.map.ptr[i].key, *v = &answers->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) continue;
        rc = agg_add(t, agency, service, month, k->via.str.ptr, k->via.str.size, (int64_t)v->via.u64);
    }
    return rc;
}

int hoso_satisfaction_each(hoso_txn *t, const char *month, const char *agency,
                           int (*fn)(void *ctx, const hoso_satisfaction_row *row), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    char prefix[AGG_KEY_MAX];
    size_t plen = 0;
    int rc, mrc;
    if (month == NULL || strlen(month) != 7 || month[4] != '-') return HOSO_EBAD_REQUEST;
    if (agency != NULL && agency[0] != '\0') {
        plen = strlen(agency) + 1;
        if (plen >= AGG_KEY_MAX) return HOSO_EBAD_REQUEST;
        memcpy(prefix, agency, plen);
    }
    if ((rc = hoso__cursor(t, HOSO__DB_SATISFACTION, &c)) != 0) return rc;
    k.mv_size = plen;
    k.mv_data = prefix;
    for (mrc = plen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        char key[AGG_KEY_MAX + 1];
        hoso_satisfaction_row row;
        if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)) break;
        if (k.mv_size > AGG_KEY_MAX) { rc = HOSO_ECORRUPT; break; }
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        memset(&row, 0, sizeof row);
        row.agency = key;
        size_t a = strnlen(key, k.mv_size);
        if (a + 1 >= k.mv_size) { rc = HOSO_ECORRUPT; break; }
        row.service = key + a + 1;
        size_t s = strnlen(row.service, k.mv_size - a - 1);
        if (a + s + 2 + 8 > k.mv_size) { rc = HOSO_ECORRUPT; break; }
        row.month = row.service + s + 1;
        if (strncmp(row.month, month, 7) != 0 || row.month[7] != '\0') continue;
        row.question = row.month + 8;
        if ((rc = agg_decode(&v, &row.count, &row.sum, row.dist)) != 0 || (rc = fn(ctx, &row)) != 0) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

/* One rating of a store from before the aggregates. */
static int backfill_row(void *ctx, const msgpack_object *v, int *counted)
{
    char agency[256], service[128], month[16];
    int rc;
    if ((rc = hoso__mcopy(v, "agency", agency, sizeof agency)) != 0 ||
        (rc = hoso__mcopy(v, "service", service, sizeof service)) != 0 ||
        (rc = hoso__mcopy(v, "month", month, sizeof month)) != 0)
        return rc;
    if (agency[0] == '\0' || strlen(month) != 7) return 0;
    *counted = 1;
    return agg_rating(ctx, agency, service, month, hoso_map_get(v, "answers"));
}

int hoso_satisfaction_backfill(hoso_txn *t, uint64_t *count)
{
    return hoso__build_once(t, HOSO__MARK_SATISFACTION, HOSO__DB_RATINGS, backfill_row, t, count);
}
