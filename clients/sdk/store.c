/*
 * store.c - the client's own small LMDB file (STATE_DIR/client.mdb): the session, the
 * feed position, the outbox of ops not yet answered, and the last known copy of each
 * dossier. Every write is its own transaction: an op must be on disk before it is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "internal.h"

#define HOSO__STORE_MAP_SIZE ((size_t)256 << 20) /* sparse; a phone keeps little */

static int map_err(int rc)
{
    if (rc == 0) return 0;
    if (rc == ENOMEM) return HOSO_ENOMEM;
    if (rc == MDB_MAP_FULL || rc == ENOSPC) return HOSO_ESTORAGE_FULL;
    if (rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) return HOSO_ECORRUPT;
    return HOSO_EIO;
}

int hoso__store_open(hoso__store *s, const char *dir)
{
    char path[4096];
    MDB_txn *txn = NULL;
    int rc;
    memset(s, 0, sizeof(*s));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return HOSO_EIO;
    if ((size_t)snprintf(path, sizeof(path), "%s/client.mdb", dir) >= sizeof(path)) return HOSO_EBAD_REQUEST;
    if ((rc = mdb_env_create(&s->env))) return map_err(rc);
    mdb_env_set_maxdbs(s->env, 4);
    mdb_env_set_mapsize(s->env, HOSO__STORE_MAP_SIZE);
    /* NOSUBDIR: one file (plus its -lock) the app can find by name. NOTLS: several
     * tool processes (the CLI, a test) may open it, each on its loop thread. */
    if ((rc = mdb_env_open(s->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600))) goto Exit;
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn))) goto Exit;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta))) goto Exit;
    if ((rc = mdb_dbi_open(txn, "outbox", MDB_CREATE, &s->outbox))) goto Exit;
    if ((rc = mdb_dbi_open(txn, "dossiers", MDB_CREATE, &s->dossiers))) goto Exit;
    rc = mdb_txn_commit(txn);
    txn = NULL;
Exit:
    if (txn) mdb_txn_abort(txn);
    if (rc) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return map_err(rc);
}

void hoso__store_close(hoso__store *s)
{
    if (s->env) mdb_env_close(s->env);
    s->env = NULL;
}

int hoso__store_meta_get(hoso__store *s, const char *key, char *buf, size_t cap)
{
    MDB_txn *txn = NULL;
    MDB_val k = {strlen(key), (void *)key}, v;
    buf[0] = 0;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return map_err(rc);
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        size_t n = v.mv_size < cap - 1 ? v.mv_size : cap - 1;
        memcpy(buf, v.mv_data, n);
        buf[n] = 0;
    } else if (rc == MDB_NOTFOUND) {
        rc = 0;
    }
    mdb_txn_abort(txn);
    return map_err(rc);
}

int hoso__store_meta_put(hoso__store *s, const char *key, const char *val)
{
    MDB_txn *txn = NULL;
    MDB_val k = {strlen(key), (void *)key}, v = {strlen(val), (void *)val};
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    rc = val[0] ? mdb_put(txn, s->meta, &k, &v, 0) : mdb_del(txn, s->meta, &k, NULL);
    if (rc == MDB_NOTFOUND) rc = 0;
    if (rc) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    return map_err(mdb_txn_commit(txn));
}

int hoso__store_outbox_push(hoso__store *s, const void *op, size_t len, uint64_t *id)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint8_t key[8];
    uint64_t next = 1;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_cursor_open(txn, s->outbox, &cur))) goto Exit;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8) next = hoso_be64_get(k.mv_data) + 1;
    else if (rc != MDB_NOTFOUND && rc != 0) goto Exit;
    mdb_cursor_close(cur);
    cur = NULL;
    /* An empty outbox restarts at the last sequence used, kept in meta, so a sequence
     * never repeats: a callback may still hold an older id. */
    {
        MDB_val mk = {6, (void *)"obxseq"}, mv;
        if (mdb_get(txn, s->meta, &mk, &mv) == 0 && mv.mv_size == 8) {
            uint64_t last = hoso_be64_get(mv.mv_data);
            if (last + 1 > next) next = last + 1;
        }
        uint8_t b[8];
        hoso_be64_put(b, next);
        mv.mv_size = 8;
        mv.mv_data = b;
        if ((rc = mdb_put(txn, s->meta, &mk, &mv, 0))) goto Exit;
    }
    hoso_be64_put(key, next);
    k.mv_size = 8;
    k.mv_data = key;
    v.mv_size = len;
    v.mv_data = (void *)op;
    if ((rc = mdb_put(txn, s->outbox, &k, &v, MDB_APPEND))) goto Exit;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc == 0) *id = next;
Exit:
    if (cur) mdb_cursor_close(cur);
    if (txn) mdb_txn_abort(txn);
    return map_err(rc);
}

int hoso__store_outbox_head(hoso__store *s, size_t max, uint64_t *ids, void **bufs, size_t *lens, size_t *n)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    *n = 0;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_cursor_open(txn, s->outbox, &cur))) goto Exit;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8) continue;
        void *copy = malloc(v.mv_size ? v.mv_size : 1);
        if (!copy) {
            rc = ENOMEM;
            goto Exit;
        }
        memcpy(copy, v.mv_data, v.mv_size);
        ids[*n] = hoso_be64_get(k.mv_data);
        bufs[*n] = copy;
        lens[*n] = v.mv_size;
        (*n)++;
    }
    if (rc == MDB_NOTFOUND) rc = 0;
Exit:
    if (rc) {
        for (size_t i = 0; i < *n; i++) free(bufs[i]);
        *n = 0;
    }
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return map_err(rc);
}

int hoso__store_outbox_del(hoso__store *s, uint64_t id)
{
    MDB_txn *txn = NULL;
    uint8_t key[8];
    hoso_be64_put(key, id);
    MDB_val k = {8, key};
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    rc = mdb_del(txn, s->outbox, &k, NULL);
    if (rc && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    return map_err(mdb_txn_commit(txn));
}

int hoso__store_outbox_set(hoso__store *s, uint64_t id, const void *op, size_t len)
{
    MDB_txn *txn = NULL;
    uint8_t key[8];
    hoso_be64_put(key, id);
    MDB_val k = {8, key}, v;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_get(txn, s->outbox, &k, &v)) == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return HOSO_ENOT_FOUND;
    }
    v.mv_size = len;
    v.mv_data = (void *)op;
    if (rc || (rc = mdb_put(txn, s->outbox, &k, &v, 0))) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    return map_err(mdb_txn_commit(txn));
}

size_t hoso__store_outbox_count(hoso__store *s)
{
    MDB_txn *txn = NULL;
    MDB_stat st;
    size_t n = 0;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) return 0;
    if (mdb_stat(txn, s->outbox, &st) == 0) n = st.ms_entries;
    mdb_txn_abort(txn);
    return n;
}

/* The version of a stored dossier map, or -1. */
static int64_t stored_version(const void *buf, size_t len)
{
    hoso_doc doc = {0};
    hoso_limits lim;
    int64_t v = -1;
    hoso_limits_default(&lim);
    if (hoso_doc_from_msgpack(&doc, buf, len, &lim, NULL) == 0) {
        const msgpack_object *o = hoso_map_get(&doc.root, "version");
        if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) v = (int64_t)o->via.u64;
    }
    hoso_doc_destroy(&doc);
    return v;
}

int hoso__store_dossier_put(hoso__store *s, const char *code, int64_t version, const void *buf, size_t len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {strlen(code), (void *)code}, v;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    /* Replies and events may arrive out of order across connections: never replace a
     * newer copy with an older one. */
    if (mdb_get(txn, s->dossiers, &k, &v) == 0 && stored_version(v.mv_data, v.mv_size) > version) {
        mdb_txn_abort(txn);
        return 0;
    }
    v.mv_size = len;
    v.mv_data = (void *)buf;
    if ((rc = mdb_put(txn, s->dossiers, &k, &v, 0))) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    return map_err(mdb_txn_commit(txn));
}

int hoso__store_dossier_get(hoso__store *s, const char *code, void **buf, size_t *len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {strlen(code), (void *)code}, v;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), err = 0;
    if (rc) return map_err(rc);
    rc = mdb_get(txn, s->dossiers, &k, &v);
    if (rc == MDB_NOTFOUND) {
        err = HOSO_ENOT_FOUND;
    } else if (rc) {
        err = map_err(rc);
    } else if (!(*buf = malloc(v.mv_size ? v.mv_size : 1))) {
        err = HOSO_ENOMEM;
    } else {
        memcpy(*buf, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    mdb_txn_abort(txn);
    return err;
}

int hoso__store_dossier_clear(hoso__store *s)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_drop(txn, s->dossiers, 0))) {
        mdb_txn_abort(txn);
        return map_err(rc);
    }
    return map_err(mdb_txn_commit(txn));
}

int hoso__store_dossier_each(hoso__store *s, void (*fn)(const void *buf, size_t len, void *ud), void *ud)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc) return map_err(rc);
    if ((rc = mdb_cursor_open(txn, s->dossiers, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
            fn(v.mv_data, v.mv_size, ud);
        if (rc == MDB_NOTFOUND) rc = 0;
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return map_err(rc);
}
