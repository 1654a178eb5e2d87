/*
 * txn.c - read and write transactions, table access with sticky write errors, and the
 * events a write transaction collects for publishing after commit.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

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
    *out = t;
    return 0;
}

void hoso_txn_reset(hoso_txn *t)
{
    mdb_txn_reset(t->txn);
}

int hoso_txn_renew(hoso_txn *t)
{
    return hoso__mdb_err(mdb_txn_renew(t->txn));
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

int hoso_txn_commit(hoso_txn *t)
{
    int rc = t->err;
    if (rc == 0 && t->parent) rc = reserve(t->parent, t->nev);
    if (rc != 0) {
        hoso_txn_abort(t);
        return rc;
    }
    if (t->rdonly) {
        mdb_txn_abort(t->txn);
    } else if ((rc = mdb_txn_commit(t->txn)) != 0) {
        /* LMDB freed the txn already; only our part remains. */
        rc = hoso__mdb_err(rc);
        free_events(t);
        free(t);
        return rc;
    }
    if (t->parent) {
        memcpy(t->parent->ev + t->parent->nev, t->ev, t->nev * sizeof *t->ev);
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
