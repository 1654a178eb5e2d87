/*
 * txn.c - read and write transactions, table access with sticky write errors, and the
 * events a write transaction collects for publishing after commit.
 *
 * Reads never go back in time on one thread. LMDB 0.9.24 (unchanged in 0.9.31) has a
 * reader/meta race: a read transaction takes the txnid from mti_txnid and copies the
 * meta page of that parity later without checking it again. A writer two commits
 * ahead rewrites that page before it publishes its own txnid, so one renew can copy
 * the newer meta while the next renew still reads the older txnid and copies the
 * older page: the thread sees a snapshot older than the one it saw before (a false
 * CURSOR_EXPIRED, or a replayed event missing). The txnid cannot tell, so every
 * top-level commit counts itself in meta (COMMIT_SEQ), and a read transaction whose
 * count is below what its thread last saw of that store is renewed again.
 */
#include <sched.h>
#include <sys/statvfs.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define COMMIT_SEQ "commit_seq"
#define RENEW_TRIES 1000

/* What this thread last saw: the store (by its open generation) and its count. */
static __thread uint64_t seen_gen, seen_seq;

static uint64_t commit_seq(MDB_txn *txn, MDB_dbi meta)
{
    MDB_val k = {sizeof(COMMIT_SEQ) - 1, (void *)COMMIT_SEQ}, v;
    if (mdb_get(txn, meta, &k, &v) != 0 || v.mv_size != 8) return 0;
    return hoso_be64_get(v.mv_data);
}

/* Renews t until its snapshot is no older than the last one this thread saw. */
static int monotonic(hoso_txn *t)
{
    for (int tries = 0;; tries++) {
        uint64_t seq = commit_seq(t->txn, t->s->dbi[HOSO__DB_META]);
        if (seen_gen != t->s->gen) {
            seen_gen = t->s->gen;
            seen_seq = seq;
            return 0;
        }
        if (seq >= seen_seq) {
            seen_seq = seq;
            return 0;
        }
        if (tries == RENEW_TRIES) return HOSO_EIO;
        mdb_txn_reset(t->txn);
        sched_yield();
        int rc = mdb_txn_renew(t->txn);
        if (rc) return hoso__mdb_err(rc);
    }
}

int hoso_txn_read(hoso_store *s, hoso_txn **out)
{
    hoso_txn *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) return HOSO_ENOMEM;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
    if (rc) {
        free(t);
        return hoso__mdb_err(rc);
    }
    t->s = s;
    t->rdonly = 1;
    if ((rc = monotonic(t)) != 0) {
        mdb_txn_abort(t->txn);
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void hoso_txn_reset(hoso_txn *t)
{
    mdb_txn_reset(t->txn);
}

int hoso_txn_renew(hoso_txn *t)
{
    int rc = mdb_txn_renew(t->txn);
    if (rc) return hoso__mdb_err(rc);
    if ((rc = monotonic(t)) != 0) mdb_txn_reset(t->txn);
    return rc;
}

int hoso_txn_write(hoso_store *s, hoso_txn *parent, hoso_txn **out)
{
    *out = NULL;
    if (s->read_only) return HOSO_EIO;
    if (parent && (parent->rdonly || parent->err)) return parent->rdonly ? HOSO_EBAD_REQUEST : parent->err;
    hoso_txn *t = calloc(1, sizeof *t);
    if (!t) return HOSO_ENOMEM;
    int rc = mdb_txn_begin(s->env, parent ? parent->txn : NULL, 0, &t->txn);
    if (rc) {
        free(t);
        return hoso__mdb_err(rc);
    }
    t->s = s;
    t->parent = parent;
    *out = t;
    return 0;
}

static void free_events(hoso_txn *t)
{
    hoso_events_free(t->ev, t->nev);
    t->ev = NULL;
    t->nev = t->cap = 0;
}

/* A child's events move to the parent after the child committed; the parent's
 * array grows first so that the move itself cannot fail half-way. */
static int reserve(hoso_txn *t, size_t more)
{
    if (t->nev + more <= t->cap) return 0;
    size_t cap = t->cap ? t->cap * 2 : 8;
    while (cap < t->nev + more) cap *= 2;
    hoso_event *ev = realloc(t->ev, cap * sizeof *ev);
    if (!ev) return HOSO_ENOMEM;
    t->ev = ev;
    t->cap = cap;
    return 0;
}

/* LMDB reports a write that the file system cut short as EIO, the same as a failing
 * disk. When the file system of the data dir has less than a few pages left, the
 * cause was a full disk: the operator frees space and writes resume. */
int hoso__disk_free(hoso_store *s, uint64_t *out)
{
    const char *path = NULL;
    struct statvfs st;
    if (mdb_env_get_path(s->env, &path) != 0 || statvfs(path, &st) != 0) return -1;
    *out = (uint64_t)st.f_bavail * st.f_frsize;
    return 0;
}

int hoso__disk_full(hoso_store *s)
{
    uint64_t free_bytes;
    return hoso__disk_free(s, &free_bytes) == 0 && free_bytes < (uint64_t)1 << 20;
}

/* Counts a top-level commit (see the top of this file). */
static int count_commit(hoso_txn *t)
{
    uint8_t v[8];
    hoso_be64_put(v, commit_seq(t->txn, t->s->dbi[HOSO__DB_META]) + 1);
    return hoso__put(t, HOSO__DB_META, COMMIT_SEQ, sizeof(COMMIT_SEQ) - 1, v, sizeof v, 0);
}

int hoso_txn_commit(hoso_txn *t)
{
    int rc = t->err;
    if (rc == 0 && t->parent) rc = reserve(t->parent, t->nev);
    if (rc == 0 && !t->parent && !t->rdonly) rc = count_commit(t);
    if (rc != 0) {
        hoso_txn_abort(t);
        return rc;
    }
    if (t->rdonly) {
        mdb_txn_abort(t->txn);
    } else if ((rc = mdb_txn_commit(t->txn)) != 0) {
        /* LMDB freed the txn already; only our part remains. */
        rc = hoso__mdb_err(rc);
        if (rc == HOSO_EIO && hoso__disk_full(t->s)) rc = HOSO_ESTORAGE_FULL;
        /* Only a top-level commit says whether the disk took the batch. */
        if (rc == HOSO_ESTORAGE_FULL || !t->parent)
            atomic_store(&t->s->full, rc == HOSO_ESTORAGE_FULL || t->saw_full);
        free_events(t);
        free(t);
        return rc;
    }
    if (!t->parent) atomic_store(&t->s->full, t->saw_full);
    if (t->parent) {
        if (t->nev) memcpy(t->parent->ev + t->parent->nev, t->ev, t->nev * sizeof *t->ev);
        t->parent->nev += t->nev;
        if (t->last_gseq > t->parent->last_gseq) t->parent->last_gseq = t->last_gseq;
        free(t->ev);
    } else {
        if (t->last_gseq) atomic_store(&t->s->log_head, t->last_gseq);
        free_events(t);
    }
    free(t);
    return 0;
}

void hoso_txn_abort(hoso_txn *t)
{
    if (!t) return;
    mdb_txn_abort(t->txn);
    free_events(t);
    free(t);
}

hoso_store *hoso_txn_store(hoso_txn *t)
{
    return t->s;
}

int hoso_txn_take_events(hoso_txn *t, hoso_event **out, size_t *n)
{
    *out = t->ev;
    *n = t->nev;
    t->ev = NULL;
    t->nev = t->cap = 0;
    return 0;
}

void hoso_events_free(hoso_event *ev, size_t n)
{
    if (!ev) return;
    for (size_t i = 0; i < n; i++) free(ev[i].body);
    free(ev);
}

int hoso__txn_add_event(hoso_txn *t, const hoso_event *ev)
{
    int rc = reserve(t, 1);
    if (rc) {
        free(ev->body);
        return hoso__fail(t, rc);
    }
    t->ev[t->nev++] = *ev;
    if (ev->gseq > t->last_gseq) t->last_gseq = ev->gseq;
    return 0;
}

/* ---------------------------------------------------------------------------------- */

int hoso__fail(hoso_txn *t, int err)
{
    if (err && !t->err) t->err = err;
    if (err == HOSO_ESTORAGE_FULL) {
        /* The op fails and its child is aborted, but the batch may commit: the flag
         * stays up until a commit runs into no shortage at all. */
        hoso_txn *root = t;
        while (root->parent) root = root->parent;
        root->saw_full = 1;
        atomic_store(&t->s->full, 1);
    }
    return err;
}

int hoso__writable(hoso_txn *t)
{
    if (t->rdonly) return HOSO_EBAD_REQUEST;
    return t->err;
}

int hoso__get(hoso_txn *t, int db, const void *k, size_t klen, MDB_val *v)
{
    if (t->err) return t->err;
    MDB_val key = {klen, (void *)k};
    return hoso__mdb_err(mdb_get(t->txn, t->s->dbi[db], &key, v));
}

int hoso__put(hoso_txn *t, int db, const void *k, size_t klen, const void *v, size_t vlen,
              unsigned flags)
{
    int rc = hoso__writable(t);
    if (rc) return rc;
    if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(t->s->env)) return HOSO_EBAD_REQUEST;
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    rc = mdb_put(t->txn, t->s->dbi[db], &key, &val, flags);
    if (rc == MDB_KEYEXIST) return HOSO_EALREADY_EXISTS;
    return hoso__fail(t, hoso__mdb_err(rc));
}

int hoso__del(hoso_txn *t, int db, const void *k, size_t klen)
{
    int rc = hoso__writable(t);
    if (rc) return rc;
    MDB_val key = {klen, (void *)k};
    rc = mdb_del(t->txn, t->s->dbi[db], &key, NULL);
    if (rc == MDB_NOTFOUND) return HOSO_ENOT_FOUND;
    return hoso__fail(t, hoso__mdb_err(rc));
}

int hoso__cursor(hoso_txn *t, int db, MDB_cursor **out)
{
    if (t->err) return t->err;
    return hoso__mdb_err(mdb_cursor_open(t->txn, t->s->dbi[db], out));
}
