/*
 * due.c - the due-date indexes (see hoso_storage.h): `due` is due_at BE64 + code, for
 * the open dossiers whose due time has not fired; `overdue` is agency prefix + due_at
 * BE64 + code, for those that fired. Both hold no personal data. hoso_dossier_put
 * keeps them right on every change; the overdue scheduler moves entries from one to
 * the other.
 */
#include <string.h>
#include "internal.h"

#define CODE_MAX 80

/* Open: neither final nor 9 (result ready): a due time still matters. */
static int open_status(int64_t status)
{
    return status > 0 && !hoso_status_is_final((int)status) && status != HOSO_ST_DONE;
}

static int due_key(int64_t due_at, const char *code, size_t clen, uint8_t *key, size_t *klen)
{
    if (clen == 0 || clen > CODE_MAX) return HOSO_EBAD_REQUEST;
    hoso_be64_put(key, (uint64_t)due_at);
    memcpy(key + 8, code, clen);
    *klen = 8 + clen;
    return 0;
}

static int overdue_key(const char *agency, int64_t due_at, const char *code, size_t clen, uint8_t *key, size_t *klen)
{
    size_t plen;
    int rc = hoso__agency_prefix(agency, key, &plen);
    if (rc) return rc;
    if (clen == 0 || clen > CODE_MAX) return HOSO_EBAD_REQUEST;
    hoso_be64_put(key + plen, (uint64_t)due_at);
    memcpy(key + plen + 8, code, clen);
    *klen = plen + 8 + clen;
    return 0;
}

static int del_ok(int rc) { return rc == HOSO_ENOT_FOUND ? 0 : rc; }

int hoso__due_update(hoso_txn *t, const hoso_dossier *d, int64_t old_status, int64_t old_due, int *cleared)
{
    uint8_t key[HOSO__INDEX_KEY_MAX];
    size_t klen;
    MDB_val v;
    int rc, fired = 0;
    const char *code = d->code.ptr, *agency = d->agency.ptr;
    size_t clen = d->code.len;
    int was = old_due > 0 && open_status(old_status), is = d->due_at > 0 && open_status(d->status);
    if (was && (!is || old_due != d->due_at)) {
        /* The old due time no longer applies: not to fire, and not overdue any more. */
        if ((rc = due_key(old_due, code, clen, key, &klen)) != 0 ||
            (rc = del_ok(hoso__del(t, HOSO__DB_DUE, key, klen))) != 0 ||
            (rc = overdue_key(agency, old_due, code, clen, key, &klen)) != 0)
            return rc;
        rc = hoso__del(t, HOSO__DB_OVERDUE, key, klen);
        if (rc == 0) *cleared = 1;
        else if (rc != HOSO_ENOT_FOUND) return rc;
    }
    if (!is || (was && old_due == d->due_at)) return 0; /* nothing new to arm */
    /* Armed unless this due time already fired (a dossier moved on after being late). */
    if ((rc = overdue_key(agency, d->due_at, code, clen, key, &klen)) != 0) return rc;
    rc = hoso__get(t, HOSO__DB_OVERDUE, key, klen, &v);
    if (rc == 0) fired = 1;
    else if (rc != HOSO_ENOT_FOUND) return rc;
    if (fired) return 0;
    if ((rc = due_key(d->due_at, code, clen, key, &klen)) != 0) return rc;
    return hoso__put(t, HOSO__DB_DUE, key, klen, "", 0, 0);
}

int hoso_due_scan(hoso_txn *t, int64_t until, size_t limit,
                  int (*fn)(void *ctx, const char *code, int64_t due_at), void *ctx)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    size_t n = 0;
    int rc, mrc;
    char code[CODE_MAX + 1];
    if ((rc = hoso__cursor(t, HOSO__DB_DUE, &c)) != 0) return rc;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && n < limit;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        if (k.mv_size <= 8 || k.mv_size > 8 + CODE_MAX) { rc = HOSO_ECORRUPT; break; }
        int64_t due = (int64_t)hoso_be64_get(k.mv_data);
        if (due > until) break;
        memcpy(code, (const uint8_t *)k.mv_data + 8, k.mv_size - 8);
        code[k.mv_size - 8] = '\0';
        if ((rc = fn(ctx, code, due)) != 0) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

int hoso_due_first(hoso_txn *t, int64_t *due_at)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc, mrc;
    *due_at = 0;
    if ((rc = hoso__cursor(t, HOSO__DB_DUE, &c)) != 0) return rc;
    mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (mrc == 0 && k.mv_size > 8) *due_at = (int64_t)hoso_be64_get(k.mv_data);
    else if (mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

int hoso_due_fire(hoso_txn *t, const char *code, int64_t due_at, const char *agency)
{
    uint8_t key[HOSO__INDEX_KEY_MAX];
    size_t klen, clen = strlen(code);
    int rc;
    if ((rc = due_key(due_at, code, clen, key, &klen)) != 0 || (rc = hoso__del(t, HOSO__DB_DUE, key, klen)) != 0 ||
        (rc = overdue_key(agency, due_at, code, clen, key, &klen)) != 0)
        return rc;
    return hoso__put(t, HOSO__DB_OVERDUE, key, klen, "", 0, 0);
}

int hoso_due_forget(hoso_txn *t, const char *code, int64_t due_at)
{
    uint8_t key[HOSO__INDEX_KEY_MAX];
    size_t klen;
    int rc = due_key(due_at, code, strlen(code), key, &klen);
    return rc ? rc : del_ok(hoso__del(t, HOSO__DB_DUE, key, klen));
}

int hoso_overdue_each(hoso_txn *t, const char *agency, int64_t after_due, const char *after_code, size_t limit,
                      int (*fn)(void *ctx, const char *code, int64_t due_at), void *ctx)
{
    uint8_t key[HOSO__INDEX_KEY_MAX];
    size_t plen, klen, n = 0;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    char code[CODE_MAX + 1];
    int rc, mrc;
    if ((rc = hoso__agency_prefix(agency, key, &plen)) != 0) return rc;
    klen = plen;
    if (after_code != NULL && after_code[0] != '\0') {
        size_t clen = strlen(after_code);
        if (clen > CODE_MAX) return HOSO_EBAD_REQUEST;
        hoso_be64_put(key + plen, (uint64_t)after_due);
        memcpy(key + plen + 8, after_code, clen);
        klen = plen + 8 + clen;
    }
    if ((rc = hoso__cursor(t, HOSO__DB_OVERDUE, &c)) != 0) return rc;
    k.mv_size = klen;
    k.mv_data = key;
    mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    /* Past the cursor's own entry. */
    if (mrc == 0 && klen > plen && k.mv_size == klen && memcmp(k.mv_data, key, klen) == 0)
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    for (; mrc == 0 && n < limit; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        if (k.mv_size <= plen + 8 || k.mv_size > plen + 8 + CODE_MAX || memcmp(k.mv_data, key, plen) != 0) break;
        int64_t due = (int64_t)hoso_be64_get((const uint8_t *)k.mv_data + plen);
        memcpy(code, (const uint8_t *)k.mv_data + plen + 8, k.mv_size - plen - 8);
        code[k.mv_size - plen - 8] = '\0';
        if ((rc = fn(ctx, code, due)) != 0) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

/* One dossier of a store from before the index: armed as if new. */
static int backfill_row(void *ctx, const msgpack_object *v, int *counted)
{
    hoso_txn *t = ctx;
    hoso_dossier d;
    char code[CODE_MAX + 1], agency[256];
    int rc;
    memset(&d, 0, sizeof d);
    /* The clear fields are enough: code, agency, status, due_at. */
    if ((rc = hoso__mint(v, "status", 0, &d.status)) != 0 || (rc = hoso__mint(v, "due_at", 0, &d.due_at)) != 0 ||
        (rc = hoso__mcopy(v, "code", code, sizeof code)) != 0 || (rc = hoso__mcopy(v, "agency", agency, sizeof agency)) != 0)
        return rc;
    if (d.due_at <= 0 || code[0] == '\0' || agency[0] == '\0') return 0;
    d.code = (hoso_str){code, strlen(code)};
    d.agency = (hoso_str){agency, strlen(agency)};
    int cleared = 0;
    *counted = open_status(d.status);
    return hoso__due_update(t, &d, 0, 0, &cleared);
}

int hoso_due_backfill(hoso_txn *t, uint64_t *count)
{
    return hoso__build_once(t, HOSO__MARK_DUE, HOSO__DB_DOSSIERS, backfill_row, t, count);
}
