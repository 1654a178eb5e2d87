/*
 * engine.c - the delivery engine: one libuv loop thread running every consumer of the
 * global log (see consumers.h for the guarantees).
 *
 * A consumer holds a window of at most WINDOW entries of the source (hoso_source: this
 * node's LMDB log, a broker later) after its cursor. A pump
 * walks the window in log order and starts each entry whose key has no earlier entry
 * still undone (so one key is never sent out of order) while the sink has room. An
 * entry is done when the peer acknowledged it, or when it was set aside in the
 * `deliveries` table: refused for good (dead), or behind a dead one of its key
 * (parked). The cursor moves over the done prefix of the window and is saved at most
 * every SAVE_MS, together with what was set aside, in one short write transaction of
 * its own (LMDB serializes it with the writer's). A crash loses at most what was
 * acknowledged since the last save, which is sent again: at-least-once.
 *
 * Parked keys are the only state that grows with the backlog of problems, and only by
 * the number of refused keys; the entries themselves stay in LMDB. An operator's retry
 * replays a parked key's entries from the table in order, one at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "consumers/consumers.h"

#define WINDOW 1024
#define SAVE_MS 200
#define TICK_MS 100
#define put hoso_sbuf_printf /* the metrics text writes many pieces */
#define WARN_MS 10000
#define SPILL_ATTEMPTS 3   /* failures of the head key before it may be set aside ... */
#define SPILL_OK_MS 10000  /* ... while another delivery succeeded this recently */
#define MAX_CONSUMERS 4

enum { S_WAIT, S_FLIGHT, S_DONE };

typedef struct slot {
    hoso_log_entry e;
    char key[64];
    int state;
    unsigned attempts;
    uint64_t not_before; /* monotonic ms */
    hoso_job job;
} slot;

/* A key with deliveries set aside. */
typedef struct parked {
    char key[64];
    uint64_t count;      /* entries of this key in the table */
    int dead;            /* one of them waits for an operator */
    int retrying;        /* an operator asked: replay them in order */
    int flight;          /* a replayed entry is with the sink */
    unsigned attempts;
    uint64_t not_before;
    hoso_job job;
} parked;

/* A write waiting for the next save: put (a set-aside delivery) or delete. */
typedef struct pending {
    int del;
    hoso_delivery d;
} pending;

struct hoso_consumer {
    hoso_engine *eng;
    hoso_sink sink;
    char name[32];        /* in metrics and status: the sink's, "-exec" added for an executor */
    hoso_source src;
    int shared;           /* reads a shared source under a lease (cluster mode) */
    atomic_int held;      /* ... the broker's word on the lease */
    int active;           /* ... engine thread: reading it (held, and begun) */
    int exec;             /* runs other nodes' deliveries only: no window, no cursor */
    uint64_t next_read;   /* a shared source is asked again for new events after this (mono ms) */
    _Atomic uint64_t head;
    uint64_t cursor, saved, scanned;
    slot *win;
    size_t first, count; /* ring of WINDOW */
    parked **parked; /* each allocated alone: a job in flight points into one */
    size_t nparked, capparked;
    parked **pindex;  /* find_parked's index into the list */
    size_t pindex_cap;
    pending *pend;
    size_t npend, cappend;
    unsigned inflight;
    uint64_t pause_until; /* the peer is down: no new job before */
    unsigned streak;      /* transient failures in a row (any key) */
    int streak_logged;    /* this streak's warning was written */
    uint64_t last_ok;     /* monotonic ms of the last acknowledged delivery, 0 if none */
    uint64_t last_warn;   /* when (monotonic ms): at most one every WARN_MS */
    int queued_write;     /* the sink queued a writer op since the last save (save: the barrier) */
    int stopped;
    /* shared with other threads (status, metrics) */
    pthread_mutex_t lock;
    hoso_consumer_status st;
    uint64_t lat_b[12], lat_sum_usec;
    _Atomic uint64_t renewals;
    atomic_int retry_asked;
};

struct hoso_engine {
    hoso_server *srv;
    hoso_store *store;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake; /* new commits, a retry, the stop */
    uv_timer_t tick;
    atomic_int stopping;
    _Atomic uint64_t head; /* last committed global seq seen by the sink */
    hoso_consumer *c[MAX_CONSUMERS];
    size_t nc;
    uint64_t last_save;
    hoso_txn *rtxn;
    hoso_source src;
    /* deliveries other nodes asked this one to run (hoso_engine_exec) */
    pthread_mutex_t xlock;
    struct exec_req *xhead;
};

/* One delivery run for another node. */
typedef struct exec_req {
    struct exec_req *next;
    char name[32];
    hoso_log_entry e;
    unsigned attempt;
    hoso_exec_done done;
    void *ctx;
    hoso_job job;
} exec_req;

static _Atomic(hoso_engine *) the_engine;
/* Held while another thread hands the engine a lease change or a delivery, and while
 * the stop takes the engine away: nothing reaches its loop after that. */
static pthread_mutex_t the_lock = PTHREAD_MUTEX_INITIALIZER;
static hoso_consumer *by_name(hoso_engine *eng, const char *name);

static const uint64_t LAT_MS[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}; /* +Inf last */

hoso_engine *hoso_engine_get(void) { return the_engine; }
uv_loop_t *hoso_consumer_loop(hoso_consumer *c) { return &c->eng->loop; }
hoso_store *hoso_consumer_store(hoso_consumer *c) { return c->eng->store; }
hoso_server *hoso_consumer_server(hoso_consumer *c) { return c->eng->srv; }
void hoso_consumer_queued_write(hoso_consumer *c) { c->queued_write = 1; }
void hoso_consumer_count_renewal(hoso_consumer *c) { atomic_fetch_add(&c->renewals, 1); }

static uint64_t mono_ms(void) { return uv_hrtime() / 1000000; }

int hoso_dossier_event_key(void *ctx, const hoso_log_entry *e, char *key, size_t n)
{
    (void)ctx;
    if (e->code[0] == '\0' || (e->type != HOSO_EV_DOSSIER_CREATED && e->type != HOSO_EV_DOSSIER_STATUS &&
                               e->type != HOSO_EV_DOSSIER_UPDATED && e->type != HOSO_EV_DOSSIER_OVERDUE &&
                               e->type != HOSO_EV_MESSAGE))
        return 1;
    snprintf(key, n, "%s", e->code);
    return 0;
}

void hoso_consumer_observe_call(hoso_consumer *c, uint64_t usec)
{
    size_t i = 0;
    while (i < sizeof LAT_MS / sizeof LAT_MS[0] && usec > LAT_MS[i] * 1000)
        i++;
    pthread_mutex_lock(&c->lock);
    c->lat_b[i]++;
    c->lat_sum_usec += usec;
    pthread_mutex_unlock(&c->lock);
}

static slot *at(hoso_consumer *c, size_t i) { return &c->win[(c->first + i) % WINDOW]; }

/* Parked keys are looked up for every undone window entry on every pump: an
 * open-addressing index (at most half full) beside the list. */
static uint32_t key_hash(const char *key)
{
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

static void index_put(parked **tab, size_t cap, parked *p)
{
    for (size_t i = key_hash(p->key) & (cap - 1);; i = (i + 1) & (cap - 1))
        if (tab[i] == NULL) {
            tab[i] = p;
            return;
        }
}

/* Rebuilds the index for the list (after a removal, or to grow). */
static int index_rebuild(hoso_consumer *c, size_t cap)
{
    parked **tab = calloc(cap, sizeof(*tab));
    if (tab == NULL)
        return HOSO_ENOMEM;
    for (size_t i = 0; i < c->nparked; i++)
        index_put(tab, cap, c->parked[i]);
    free(c->pindex);
    c->pindex = tab;
    c->pindex_cap = cap;
    return 0;
}

static parked *find_parked(hoso_consumer *c, const char *key)
{
    if (c->nparked == 0)
        return NULL;
    for (size_t i = key_hash(key) & (c->pindex_cap - 1);; i = (i + 1) & (c->pindex_cap - 1)) {
        if (c->pindex[i] == NULL)
            return NULL;
        if (strcmp(c->pindex[i]->key, key) == 0)
            return c->pindex[i];
    }
}

static parked *add_parked(hoso_consumer *c, const char *key)
{
    parked *p = find_parked(c, key);
    if (p != NULL)
        return p;
    if (c->nparked == c->capparked) {
        size_t cap = c->capparked ? c->capparked * 2 : 16;
        parked **np = realloc(c->parked, cap * sizeof(*np));
        if (np == NULL)
            return NULL;
        c->parked = np;
        c->capparked = cap;
    }
    if ((c->nparked + 1) * 2 > c->pindex_cap &&
        index_rebuild(c, c->pindex_cap ? c->pindex_cap * 2 : 32) != 0)
        return NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    c->parked[c->nparked++] = p;
    snprintf(p->key, sizeof p->key, "%s", key);
    index_put(c->pindex, c->pindex_cap, p);
    return p;
}

static void drop_parked(hoso_consumer *c, parked *p)
{
    for (size_t i = 0; i < c->nparked; i++)
        if (c->parked[i] == p) {
            c->parked[i] = c->parked[--c->nparked];
            free(p);
            /* Open addressing has no cheap removal: refill the index in place (a
             * removal is rare next to lookups, and needs no memory this way). */
            memset(c->pindex, 0, c->pindex_cap * sizeof(*c->pindex));
            for (size_t k = 0; k < c->nparked; k++)
                index_put(c->pindex, c->pindex_cap, c->parked[k]);
            return;
        }
}

static int add_pending(hoso_consumer *c, int del, const hoso_delivery *d)
{
    if (c->npend == c->cappend) {
        size_t cap = c->cappend ? c->cappend * 2 : 16;
        pending *np = realloc(c->pend, cap * sizeof(*np));
        if (np == NULL)
            return HOSO_ENOMEM;
        c->pend = np;
        c->cappend = cap;
    }
    c->pend[c->npend].del = del;
    c->pend[c->npend].d = *d;
    c->npend++;
    return 0;
}

/* Full jitter: uniform in [0, min(cap, min * 2^attempts)), at least the peer's wish. */
static uint64_t backoff_ms(const hoso_sink *s, unsigned attempts, int64_t retry_after_ms)
{
    uint64_t lim = s->retry_min_ms;
    for (unsigned i = 0; i < attempts && lim < s->retry_max_ms; i++)
        lim *= 2;
    if (lim > s->retry_max_ms)
        lim = s->retry_max_ms;
    uint64_t d = lim > 0 ? randombytes_uniform((uint32_t)(lim > UINT32_MAX ? UINT32_MAX : lim)) : 0;
    if (retry_after_ms > 0 && (uint64_t)retry_after_ms > d)
        d = (uint64_t)retry_after_ms;
    return d;
}

static void set_error(hoso_consumer *c, const char *reason)
{
    pthread_mutex_lock(&c->lock);
    snprintf(c->st.last_error, sizeof c->st.last_error, "%s", reason ? reason : "unknown failure");
    c->st.last_error_at = hoso_now_ms();
    pthread_mutex_unlock(&c->lock);
}

/* ---------------------------------------------------------------------------------- */
/* Storage: the window's source (the log) and the saves. */

static int read_begin(hoso_engine *eng, hoso_txn **t)
{
    int rc;
    if (eng->rtxn == NULL)
        rc = hoso_txn_read(eng->store, &eng->rtxn);
    else
        rc = hoso_txn_renew(eng->rtxn);
    *t = eng->rtxn;
    return rc;
}

static void read_end(hoso_engine *eng)
{
    if (eng->rtxn != NULL)
        hoso_txn_reset(eng->rtxn);
}

static int load_one(void *ctx, const hoso_log_entry *e)
{
    hoso_consumer *c = ctx;
    slot *s = at(c, c->count);
    memset(s, 0, sizeof(*s));
    s->e = *e;
    if (c->sink.key(c->sink.ctx, e, s->key, sizeof s->key) != 0)
        s->state = S_DONE;
    c->count++;
    c->scanned = e->seq;
    return 0;
}

/* Tops the window up from the log. */
static void refill(hoso_consumer *c)
{
    hoso_source *src = &c->src;
    uint64_t last = 0;
    if (c->shared) {
        /* Nothing announces the stream's new events here: ask, at most every 25 ms
         * while it has nothing new. */
        uint64_t now = mono_ms();
        size_t had = c->count;
        int rc = 0;
        if (c->count == WINDOW || now < c->next_read)
            return;
        if ((rc = src->read(src->ctx, c->scanned, WINDOW - c->count, load_one, c)) != 0 || c->count == had)
            c->next_read = now + (rc != 0 ? 1000 : 25);
        if (rc != 0)
            hoso_log(HOSO_LOG_WARN, "%s: reading the cluster's stream after %llu failed: %s", c->sink.name,
                     (unsigned long long)c->scanned, hoso_err_message(rc));
        if (src->head(src->ctx, &last) == 0 && last > atomic_load(&c->head))
            atomic_store(&c->head, last);
        return;
    }
    if (c->count == WINDOW || c->scanned >= atomic_load(&c->eng->head))
        return;
    int rc = src->head(src->ctx, &last);
    if (rc == 0 && last > c->scanned)
        rc = src->read(src->ctx, c->scanned, WINDOW - c->count, load_one, c);
    if (rc != 0)
        hoso_log(HOSO_LOG_ERROR, "%s: reading the log after %llu failed: %s", c->sink.name,
                 (unsigned long long)c->scanned, hoso_err_message(rc));
    /* Another process's commits (an admin tool) are not announced: the head follows
     * what the log holds. */
    if (last > atomic_load(&c->eng->head))
        atomic_store(&c->eng->head, last);
}

/* The source of this node: its own LMDB log, read on the engine thread. */
static int lmdb_head(void *ctx, uint64_t *pos)
{
    hoso_engine *eng = ctx;
    hoso_txn *t;
    int rc = read_begin(eng, &t);
    if (rc == 0)
        rc = hoso_log_last(t, pos);
    read_end(eng);
    return rc;
}

static int lmdb_read(void *ctx, uint64_t after, size_t limit, int (*fn)(void *fctx, const hoso_log_entry *e),
                     void *fctx)
{
    hoso_engine *eng = ctx;
    hoso_txn *t;
    int rc = read_begin(eng, &t);
    if (rc == 0)
        rc = hoso_log_scan(t, after, limit, fn, fctx);
    read_end(eng);
    return rc;
}

static int lmdb_get(void *ctx, uint64_t pos, hoso_log_entry *out)
{
    hoso_engine *eng = ctx;
    hoso_txn *t;
    int rc = read_begin(eng, &t);
    if (rc == 0)
        rc = hoso_log_get(t, pos, out);
    read_end(eng);
    return rc;
}

typedef struct save_job {
    hoso_consumer *c;
    uint64_t cursor;
    int put_cursor;
} save_job;

static int save_apply(hoso_wop *op, hoso_txn *t)
{
    save_job *sj = op->data;
    hoso_consumer *c = sj->c;
    int rc = 0;
    for (size_t i = 0; i < c->npend && rc == 0; i++)
        rc = c->pend[i].del ? hoso_delivery_del(t, c->sink.name, c->pend[i].d.seq)
                            : hoso_delivery_put(t, c->sink.name, &c->pend[i].d);
    if (rc == 0 && sj->put_cursor)
        rc = hoso_cursor_put(t, c->sink.name, sj->cursor);
    return rc ? hoso_wop_fail(op, rc, "saving the %s cursor failed", c->sink.name) : 0;
}

/* Writes the set-aside deliveries and the cursor. On failure both stay pending. */
static int save(hoso_consumer *c)
{
    save_job sj = {c, c->cursor, !c->shared};
    hoso_errinfo ei;
    int rc = 0;
    if (c->exec || (c->cursor == c->saved && c->npend == 0))
        return 0;
    /* A sink's own writes for what it delivered (the portal's synced count) went to
     * the writer's queue: on disk before the cursor passes those entries, or a crash
     * in between would lose them with the entries never sent again. */
    if (c->queued_write) {
        if (hoso_writer_barrier(c->eng->srv, 5000) != 0) {
            hoso_log(HOSO_LOG_WARN, "%s: the writer did not finish its queue in 5 s: the cursor waits", c->sink.name);
            return HOSO_EUNAVAILABLE;
        }
        c->queued_write = 0;
    }
    /* A shared source's cursor is the source's; what was set aside stays in this
     * node's store. The set-aside entries go first: the cursor passes them. */
    if (c->npend > 0 || !c->shared) {
        memset(&ei, 0, sizeof ei);
        rc = hoso_run_job(c->eng->store, save_apply, &sj, hoso_now_ms(), &ei);
        if (rc != 0) {
            hoso_log(HOSO_LOG_ERROR, "%s: saving the cursor failed: %s", c->sink.name,
                     ei.message[0] ? ei.message : hoso_err_message(rc));
            return rc;
        }
        c->npend = 0;
    }
    if (c->shared && sj.cursor != c->saved && (rc = c->src.commit(c->src.ctx, sj.cursor)) != 0) {
        hoso_log(HOSO_LOG_WARN, "%s: the cluster's stream did not take the cursor %llu: %s", c->sink.name,
                 (unsigned long long)sj.cursor, hoso_err_message(rc));
        return rc;
    }
    c->saved = sj.cursor;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The pump */

static void start_job(hoso_consumer *c, hoso_job *job, const hoso_log_entry *e, unsigned attempt, void *slot_or_parked,
                      int replay)
{
    memset(job, 0, sizeof(*job));
    job->e = *e;
    job->attempt = attempt;
    job->consumer = c;
    job->_slot = slot_or_parked;
    job->_replay = replay;
    c->inflight++;
    c->sink.send(c->sink.ctx, job);
}

/* Sets a window entry aside behind its parked key. */
static int park_slot(hoso_consumer *c, slot *s, parked *p)
{
    hoso_delivery d;
    memset(&d, 0, sizeof d);
    d.seq = s->e.seq;
    snprintf(d.code, sizeof d.code, "%s", s->key);
    d.at = hoso_now_ms();
    if (add_pending(c, 0, &d) != 0)
        return HOSO_ENOMEM;
    p->count++;
    s->state = S_DONE;
    return 0;
}

/* One pass over the table: the first entry of each key that is due is sent, after the
 * read transaction ended (a sink may read the store in send, and a thread holds one
 * read transaction at a time). */
#define REPLAY_SCAN_MAX 4096
#define REPLAY_BATCH 64

typedef struct replay_ctx {
    hoso_consumer *c;
    uint64_t now;
    hoso_txn *t;
    size_t visited;
    parked *seen[REPLAY_BATCH]; /* retrying keys whose first entry this pass has met */
    size_t nseen;
    parked *start[REPLAY_BATCH]; /* ... and those of them to send, with their entry */
    uint64_t seq[REPLAY_BATCH];
    size_t nstart;
    unsigned room;
} replay_ctx;

static int replay_one(void *ctx, const hoso_delivery *d)
{
    replay_ctx *rc = ctx;
    hoso_consumer *c = rc->c;
    if (++rc->visited > REPLAY_SCAN_MAX || rc->nstart >= rc->room || rc->nseen == REPLAY_BATCH)
        return 1;
    parked *p = find_parked(c, d->code);
    if (p == NULL || !p->retrying)
        return 0; /* dead keys wait for an operator */
    for (size_t i = 0; i < rc->nseen; i++)
        if (rc->seen[i] == p)
            return 0; /* not this key's first entry */
    rc->seen[rc->nseen++] = p;
    if (p->flight || p->not_before > rc->now)
        return 0;
    rc->seq[rc->nstart] = d->seq;
    rc->start[rc->nstart++] = p;
    return 0;
}

/* Keys set aside and being retried (an operator's retry, or a key that kept failing)
 * send their entries from the table, oldest first, one at a time per key. */
static void pump_replay(hoso_consumer *c, uint64_t now)
{
    replay_ctx *rc;
    int due = 0, ret;
    for (size_t i = 0; i < c->nparked && !due; i++)
        due = c->parked[i]->retrying && !c->parked[i]->flight && c->parked[i]->not_before <= now;
    /* What was set aside in memory must be in the table before the table is read. */
    if (!due || c->inflight >= c->sink.max_inflight || save(c) != 0 || (rc = calloc(1, sizeof(*rc))) == NULL)
        return;
    rc->c = c;
    rc->now = now;
    rc->room = c->sink.max_inflight - c->inflight;
    if ((ret = read_begin(c->eng, &rc->t)) == 0) {
        ret = hoso_delivery_scan(rc->t, c->sink.name, 0, 0, replay_one, rc);
        if (ret == 1)
            ret = 0;
    }
    read_end(c->eng);
    for (size_t i = 0; i < rc->nstart && ret == 0; i++) {
        hoso_log_entry e;
        parked *p = rc->start[i];
        if ((ret = c->src.get(c->src.ctx, rc->seq[i], &e)) != 0)
            break;
        p->flight = 1;
        start_job(c, &p->job, &e, p->attempts, p, 1);
    }
    if (ret != 0)
        hoso_log(HOSO_LOG_ERROR, "%s: replaying set-aside deliveries failed: %s", c->sink.name, hoso_err_message(ret));
    free(rc);
}

/* Keys with an undone entry earlier in the window: an open-addressing set. */
#define BUSY_SLOTS (WINDOW * 2)
static const char *busy[BUSY_SLOTS];

static int busy_add(const char *key)
{
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (size_t i = h % BUSY_SLOTS;; i = (i + 1) % BUSY_SLOTS) {
        if (busy[i] == NULL) {
            busy[i] = key;
            return 1;
        }
        if (strcmp(busy[i], key) == 0)
            return 0;
    }
}

/* The lease came: read the stream from the cursor the source keeps. */
static void activate(hoso_consumer *c)
{
    uint64_t cursor = 0;
    int rc = c->src.begin(c->src.ctx, &cursor);
    if (rc != 0) {
        uint64_t now = mono_ms();
        if (c->last_warn == 0 || now - c->last_warn >= WARN_MS) {
            hoso_log(HOSO_LOG_WARN, "%s: holds the lease but cannot read the cluster's stream yet: %s", c->sink.name,
                     hoso_err_message(rc));
            c->last_warn = now;
        }
        return; /* the next pump tries again */
    }
    c->first = c->count = 0;
    c->cursor = c->saved = c->scanned = cursor;
    c->pause_until = 0;
    c->next_read = 0;
    c->active = 1;
    hoso_log(HOSO_LOG_INFO, "%s: this node delivers for the cluster now (it holds the lease), after stream "
             "position %llu", c->sink.name, (unsigned long long)cursor);
}

/* The lease went (or the engine stops): what is in flight is answered, what was done
 * is committed, and the rest is the next holder's. */
static void deactivate(hoso_consumer *c, const char *why)
{
    c->stopped = 1;
    c->sink.stop(c->sink.ctx);
    save(c);
    c->src.end(c->src.ctx);
    c->first = c->count = 0;
    c->active = 0;
    hoso_log(HOSO_LOG_INFO, "%s: this node stops delivering for the cluster (%s), at stream position %llu",
             c->sink.name, why, (unsigned long long)c->saved);
}

static void pump(hoso_consumer *c)
{
    uint64_t now = mono_ms();
    if (c->exec)
        return;
    if (c->shared) {
        int held = atomic_load(&c->held);
        if (held && !c->active) {
            c->stopped = 0;
            activate(c);
        } else if (!held && c->active) {
            deactivate(c, "the lease went to another node");
        }
        if (!c->active || !c->src.fresh(c->src.ctx))
            return;
    }
    if (c->stopped)
        return;
    if (atomic_exchange(&c->retry_asked, 0)) {
        for (size_t i = 0; i < c->nparked; i++) {
            c->parked[i]->retrying = 1;
            c->parked[i]->attempts = 0;
            c->parked[i]->not_before = 0;
        }
    }
    for (int round = 0; round < 2; round++) {
        refill(c);
        int paused = c->pause_until > now;
        if (!paused)
            pump_replay(c, now);
        memset(busy, 0, sizeof busy);
        for (size_t i = 0; i < c->count; i++) {
            slot *s = at(c, i);
            if (s->state == S_DONE)
                continue;
            parked *p = find_parked(c, s->key);
            if (p != NULL && s->state == S_WAIT) {
                if (park_slot(c, s, p) != 0)
                    busy_add(s->key); /* out of memory: it waits in the window */
                continue;
            }
            if (!busy_add(s->key))
                continue; /* an earlier entry of this key is not done */
            if (s->state == S_WAIT && !paused && s->not_before <= now && c->inflight < c->sink.max_inflight) {
                s->state = S_FLIGHT; /* before: the sink may answer within send */
                start_job(c, &s->job, &s->e, s->attempts, s, 0);
            }
        }
        /* A full window behind a key that keeps failing while others get through: set
         * that key aside (it is retried from the table), so that the cursor and the
         * other keys move on. When nothing gets through (the peer is down), the window
         * just waits: setting every key aside would only churn the table. */
        if (c->count == WINDOW && at(c, 0)->state == S_WAIT && at(c, 0)->attempts >= SPILL_ATTEMPTS &&
            c->last_ok != 0 && now - c->last_ok < SPILL_OK_MS && c->pause_until <= now) {
            slot *h = at(c, 0);
            parked *p = add_parked(c, h->key);
            if (p != NULL) {
                hoso_log(HOSO_LOG_WARN, "%s: %s keeps failing with %d events behind it; its events are set aside "
                         "and retried on their own", c->sink.name, h->key, WINDOW);
                p->retrying = 1;
                p->attempts = h->attempts;
                p->not_before = h->not_before;
                for (size_t i = 0; i < c->count; i++)
                    if (at(c, i)->state == S_WAIT && strcmp(at(c, i)->key, h->key) == 0)
                        park_slot(c, at(c, i), p);
            }
        }
        /* The cursor moves over the done prefix. */
        size_t n = 0;
        while (n < c->count && at(c, n)->state == S_DONE)
            n++;
        if (n > 0) {
            c->cursor = at(c, n - 1)->e.seq;
            c->first = (c->first + n) % WINDOW;
            c->count -= n;
        }
        if (c->count == 0 && c->scanned > c->cursor)
            c->cursor = c->scanned;
        if (n == 0)
            break; /* nothing freed: no reason to read more now */
    }
    if (c->npend > 0)
        save(c); /* set-aside entries are on disk before a replay looks for them */

    uint64_t head = c->shared ? atomic_load(&c->head) : atomic_load(&c->eng->head);
    pthread_mutex_lock(&c->lock);
    c->st.held = c->active;
    c->st.cursor = c->cursor;
    c->st.head = head > c->cursor ? head : c->cursor;
    c->st.lag_events = head > c->cursor ? head - c->cursor : 0;
    c->st.lag_ms = 0;
    for (size_t i = 0; i < c->count; i++)
        if (at(c, i)->state != S_DONE) {
            int64_t age = hoso_now_ms() - at(c, i)->e.at;
            c->st.lag_ms = age > 0 ? age : 0;
            break;
        }
    c->st.inflight = c->inflight;
    uint64_t np = 0;
    for (size_t i = 0; i < c->nparked; i++)
        np += c->parked[i]->count;
    c->st.parked = np;
    pthread_mutex_unlock(&c->lock);
}

void hoso_job_done(hoso_job *job, hoso_sent result, int64_t retry_after_ms, const char *reason)
{
    hoso_consumer *c = job->consumer;
    uint64_t now = mono_ms();
    c->inflight--;
    if (result == HOSO_SENT_OK) {
        if (c->streak_logged)
            hoso_log(HOSO_LOG_INFO, "%s: delivering again after %u failures", c->sink.name, c->streak);
        c->streak_logged = 0;
        c->streak = 0;
        c->last_ok = now;
        c->pause_until = 0;
        pthread_mutex_lock(&c->lock);
        c->st.sent++;
        pthread_mutex_unlock(&c->lock);
    } else if (result == HOSO_SENT_RETRY || result == HOSO_SENT_PEER_DOWN) {
        /* Logged once per streak, and at most every WARN_MS: an outage is one line,
         * not one per event. */
        c->streak++;
        if (!c->streak_logged && (c->last_warn == 0 || now - c->last_warn >= WARN_MS)) {
            hoso_log(HOSO_LOG_WARN, "%s: delivery failed, retrying with backoff: %s", c->sink.name,
                     reason ? reason : "unknown failure");
            c->streak_logged = 1;
            c->last_warn = now;
        }
        set_error(c, reason);
        pthread_mutex_lock(&c->lock);
        c->st.retried++;
        pthread_mutex_unlock(&c->lock);
        if (result == HOSO_SENT_PEER_DOWN || retry_after_ms > 0)
            c->pause_until = now + backoff_ms(&c->sink, c->streak - 1, retry_after_ms);
    } else {
        hoso_log(HOSO_LOG_WARN, "%s: event %llu of %s refused for good (dead letter): %s", c->sink.name,
                 (unsigned long long)job->e.seq, job->e.code, reason ? reason : "");
        set_error(c, reason);
        pthread_mutex_lock(&c->lock);
        c->st.dead++;
        pthread_mutex_unlock(&c->lock);
    }

    if (c->exec) {
        exec_req *x = job->_slot;
        x->done(x->ctx, result, retry_after_ms, reason);
        free(x);
        return;
    }
    if (c->stopped) {
        /* Stopping: whatever was not acknowledged stays after the saved cursor. */
        if (job->_replay)
            ((parked *)job->_slot)->flight = 0;
        else if (result == HOSO_SENT_OK)
            ((slot *)job->_slot)->state = S_DONE;
        return;
    }
    if (job->_replay) {
        parked *p = job->_slot;
        hoso_delivery d;
        memset(&d, 0, sizeof d);
        d.seq = job->e.seq;
        snprintf(d.code, sizeof d.code, "%s", p->key);
        p->flight = 0;
        if (result == HOSO_SENT_OK) {
            p->attempts = 0;
            add_pending(c, 1, &d);
            if (--p->count == 0)
                drop_parked(c, p);
            else if (save(c) != 0) /* the next replay must not find this one again: wait for a save */
                p->not_before = now + 1000;
        } else if (result == HOSO_SENT_REFUSED) {
            snprintf(d.reason, sizeof d.reason, "%s", reason ? reason : "refused");
            d.at = hoso_now_ms();
            d.dead = 1;
            add_pending(c, 0, &d);
            p->dead = 1;
            p->retrying = 0;
        } else {
            p->not_before = now + backoff_ms(&c->sink, p->attempts++, retry_after_ms);
        }
    } else {
        slot *s = job->_slot;
        if (result == HOSO_SENT_OK) {
            s->state = S_DONE;
        } else if (result == HOSO_SENT_REFUSED) {
            hoso_delivery d;
            parked *p = add_parked(c, s->key);
            memset(&d, 0, sizeof d);
            d.seq = s->e.seq;
            snprintf(d.code, sizeof d.code, "%s", s->key);
            snprintf(d.reason, sizeof d.reason, "%s", reason ? reason : "refused");
            d.at = hoso_now_ms();
            d.dead = 1;
            if (p != NULL && add_pending(c, 0, &d) == 0) {
                p->count++;
                p->dead = 1;
                s->state = S_DONE;
            } else {
                s->state = S_WAIT; /* out of memory: try again later */
                s->not_before = now + 1000;
            }
        } else {
            s->state = S_WAIT;
            s->not_before = now + backoff_ms(&c->sink, s->attempts++, retry_after_ms);
        }
    }
    uv_async_send(&c->eng->wake); /* pump after the sink's callback has returned */
}

/* ---------------------------------------------------------------------------------- */
/* The thread */

static int load_parked(void *ctx, const hoso_delivery *d)
{
    hoso_consumer *c = ctx;
    parked *p = add_parked(c, d->code);
    if (p == NULL)
        return HOSO_ENOMEM;
    p->count++;
    if (d->dead)
        p->dead = 1;
    p->retrying = !p->dead; /* set aside behind a failing key, not refused: keep retrying */
    return 0;
}

static void unref_open(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_unref(h);
}

static hoso_consumer *exec_of(hoso_engine *eng, const char *name)
{
    for (size_t i = 0; i < eng->nc; i++)
        if (eng->c[i]->exec && strcmp(eng->c[i]->sink.name, name) == 0)
            return eng->c[i];
    return NULL;
}

/* Starts the deliveries other nodes asked for (or refuses them: stopping). */
static void run_execs(hoso_engine *eng, int refuse)
{
    pthread_mutex_lock(&eng->xlock);
    exec_req *x = eng->xhead, *rev = NULL;
    eng->xhead = NULL;
    pthread_mutex_unlock(&eng->xlock);
    while (x != NULL) { /* queued newest first: back to arrival order */
        exec_req *next = x->next;
        x->next = rev;
        rev = x;
        x = next;
    }
    for (x = rev; x != NULL;) {
        exec_req *next = x->next;
        hoso_consumer *c = exec_of(eng, x->name);
        if (refuse || c == NULL) {
            x->done(x->ctx, HOSO_SENT_RETRY, 0,
                    refuse ? "the node is stopping"
                           : strcmp(x->name, "portal") == 0 ? "the portal mirror is off on the node of this dossier "
                                                              "(give every node the same --portal-* settings)"
                                                            : "the node of this dossier has no such consumer");
            free(x);
        } else {
            start_job(c, &x->job, &x->e, x->attempt, x, 0);
        }
        x = next;
    }
}

static void poll_sinks(hoso_engine *eng)
{
    for (size_t i = 0; i < eng->nc; i++)
        if (eng->c[i]->sink.poll != NULL)
            eng->c[i]->sink.poll(eng->c[i]->sink.ctx);
}

static void on_wake(uv_async_t *h)
{
    hoso_engine *eng = h->data;
    if (atomic_load(&eng->stopping)) {
        run_execs(eng, 1);
        for (size_t i = 0; i < eng->nc; i++) {
            hoso_consumer *c = eng->c[i];
            if (c->shared) {
                if (c->active)
                    deactivate(c, "hosod stops");
                continue;
            }
            save(c);
            c->stopped = 1;
            c->sink.stop(c->sink.ctx);
            save(c); /* what the stop settled */
        }
        uv_close((uv_handle_t *)&eng->wake, NULL);
        uv_close((uv_handle_t *)&eng->tick, NULL);
        /* A handle left open on purpose (h2o's resolver queue, see http.c) must not
         * keep the loop running. */
        uv_walk(&eng->loop, unref_open, NULL);
        return;
    }
    run_execs(eng, 0);
    poll_sinks(eng);
    for (size_t i = 0; i < eng->nc; i++)
        pump(eng->c[i]);
}

static void on_tick(uv_timer_t *h)
{
    hoso_engine *eng = h->data;
    uint64_t now = mono_ms();
    poll_sinks(eng);
    for (size_t i = 0; i < eng->nc; i++)
        pump(eng->c[i]);
    if (now - eng->last_save >= SAVE_MS) {
        eng->last_save = now;
        for (size_t i = 0; i < eng->nc; i++)
            save(eng->c[i]);
    }
}

/* h2o keeps per-thread caches (socket buffers) in thread-local storage that nothing
 * releases: as the HTTP workers do (server/core/server.c), the engine thread reports
 * that it finished and then parks until the process exits, rather than exit and leak
 * them. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int engine_finished;

static void *engine_main(void *arg)
{
    hoso_engine *eng = arg;
    uv_run(&eng->loop, UV_RUN_DEFAULT);
    /* The sinks' handles are closed by their stop; let them finish closing. */
    for (int i = 0; i < 100 && uv_run(&eng->loop, UV_RUN_NOWAIT) != 0; i++)
        uv_sleep(10);
    pthread_mutex_lock(&park_lock);
    engine_finished = 1;
    pthread_cond_broadcast(&park_cond);
    for (;;)
        pthread_cond_wait(&park_cond, &park_lock);
    return NULL;
}

/* The writer's event sink: new commits. Writer thread. */
static void on_commit(void *ctx, const hoso_event *ev, size_t n)
{
    hoso_engine *eng = ctx;
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].gseq > last)
            last = ev[i].gseq;
    if (last > atomic_load(&eng->head))
        atomic_store(&eng->head, last);
    uv_async_send(&eng->wake);
}

/* What a consumer reads: this node's log, a shared source (src) under a lease, or
 * nothing (it runs deliveries other nodes ask for). */
enum { READS_LOG, READS_SHARED, RUNS_FOR_OTHERS };

static int add_consumer(hoso_engine *eng, const hoso_sink *sink, int kind, const hoso_source *src)
{
    hoso_consumer *c = calloc(1, sizeof(*c));
    hoso_txn *t;
    int rc = 0;
    if (c == NULL || (c->win = calloc(kind == RUNS_FOR_OTHERS ? 1 : WINDOW, sizeof(slot))) == NULL) {
        free(c);
        return HOSO_ENOMEM;
    }
    c->eng = eng;
    c->sink = *sink;
    c->src = src != NULL ? *src : eng->src;
    c->shared = kind == READS_SHARED;
    c->exec = kind == RUNS_FOR_OTHERS;
    snprintf(c->name, sizeof c->name, "%s%s", sink->name, c->exec ? "-exec" : "");
    pthread_mutex_init(&c->lock, NULL);
    c->st.on = 1;
    c->st.cluster = kind != READS_LOG;
    if (!c->exec && (rc = read_begin(eng, &t)) == 0) {
        if (kind == READS_LOG)
            rc = hoso_cursor_get(t, sink->name, &c->cursor);
        if (rc == 0)
            rc = hoso_delivery_scan(t, sink->name, 0, 0, load_parked, c);
    }
    if (!c->exec)
        read_end(eng);
    if (rc != 0) {
        hoso_log(HOSO_LOG_ERROR, "%s: reading its cursor failed: %s", sink->name, hoso_err_message(rc));
        pthread_mutex_destroy(&c->lock);
        for (size_t k = 0; k < c->nparked; k++)
            free(c->parked[k]);
        free(c->parked);
        free(c->pindex);
        free(c->win);
        free(c);
        return rc;
    }
    if (kind == READS_LOG && c->cursor == 0 && sink->from_head)
        c->cursor = atomic_load(&eng->head);
    c->saved = c->scanned = c->cursor;
    c->st.cursor = c->st.head = c->cursor; /* the status is right before the first pump too */
    eng->c[eng->nc++] = c;
    return 0;
}

/* A sink as this node's consumer of its log, or in cluster mode as the executor of
 * its deliveries here plus the cluster's consumer of that name (under a lease). */
static int add_sink(hoso_engine *eng, const hoso_sink *sink, const hoso_engine_cluster *cl)
{
    hoso_sink remote;
    hoso_source src;
    int rc;
    if (cl == NULL) {
        if ((rc = add_consumer(eng, sink, READS_LOG, NULL)) != 0)
            sink->free(sink->ctx);
        return rc;
    }
    if ((rc = add_consumer(eng, sink, RUNS_FOR_OTHERS, NULL)) != 0) {
        sink->free(sink->ctx);
        return rc;
    }
    /* The source first: the remote sink finds it by name. */
    if ((rc = cl->source(sink->name, sink->from_head, &src)) != 0 || (rc = cl->remote_sink(sink, &remote)) != 0)
        return rc;
    if ((rc = add_consumer(eng, &remote, READS_SHARED, &src)) != 0)
        remote.free(remote.ctx);
    return rc;
}

int hoso_engine_start(hoso_server *srv, const hoso_portal_config *pc, const hoso_engine_cluster *cl)
{
    hoso_engine *eng;
    uint64_t head = 0;
    int rc;
    if ((eng = calloc(1, sizeof(*eng))) == NULL)
        return HOSO_ENOMEM;
    eng->srv = srv;
    eng->store = hoso_server_store(srv);
    eng->src = (hoso_source){eng, lmdb_head, lmdb_read, lmdb_get, NULL, NULL, NULL, NULL};
    pthread_mutex_init(&eng->xlock, NULL);
    rc = eng->src.head(eng->src.ctx, &head);
    atomic_store(&eng->head, head);
    if (rc == 0 && pc != NULL && hoso_portal_configured(pc)) {
        hoso_sink sink;
        if ((rc = hoso_portal_sink(pc, &sink)) == 0)
            rc = add_sink(eng, &sink, cl);
    }
    if (rc == 0) {
        hoso_sink sink;
        if ((rc = hoso_webhook_sink(hoso_server_config(srv)->webhook_allow_private, &sink)) == 0)
            rc = add_sink(eng, &sink, cl);
    }
    if (rc != 0)
        goto Fail;
    if (by_name(eng, "portal") == NULL)
        hoso_log(HOSO_LOG_INFO, "portal mirror off (no --portal-url): statuses are not sent to the national portal");
    else if (cl != NULL)
        hoso_log(HOSO_LOG_INFO, "portal mirror on: %s, for the whole cluster while this node holds its lease, "
                 "and for this node's dossiers on the holder's behalf", pc->url);
    else
        hoso_log(HOSO_LOG_INFO, "portal mirror on: %s, cursor %llu of %llu", pc->url,
                 (unsigned long long)by_name(eng, "portal")->cursor, (unsigned long long)head);
    uv_loop_init(&eng->loop);
    uv_async_init(&eng->loop, &eng->wake, on_wake);
    eng->wake.data = eng;
    uv_timer_init(&eng->loop, &eng->tick);
    eng->tick.data = eng;
    uv_timer_start(&eng->tick, on_tick, TICK_MS, TICK_MS);
    if (pthread_create(&eng->thread, NULL, engine_main, eng) != 0) {
        rc = HOSO_EINTERNAL;
        uv_close((uv_handle_t *)&eng->wake, NULL);
        uv_close((uv_handle_t *)&eng->tick, NULL);
        uv_run(&eng->loop, UV_RUN_NOWAIT);
        uv_loop_close(&eng->loop);
        goto Fail;
    }
    the_engine = eng;
    if ((rc = hoso_server_add_event_sink(srv, on_commit, eng)) != 0) {
        hoso_engine_stop(); /* nothing would tell it of new commits */
        return rc;
    }
    uv_async_send(&eng->wake); /* a backlog from before the start */
    return 0;
Fail:
    for (size_t i = 0; i < eng->nc; i++) {
        eng->c[i]->sink.free(eng->c[i]->sink.ctx);
        for (size_t k = 0; k < eng->c[i]->nparked; k++)
            free(eng->c[i]->parked[k]);
        free(eng->c[i]->pindex);
        free(eng->c[i]->win);
        free(eng->c[i]->parked);
        free(eng->c[i]);
    }
    if (eng->rtxn != NULL)
        hoso_txn_abort(eng->rtxn);
    free(eng);
    return rc;
}

void hoso_engine_stop(void)
{
    pthread_mutex_lock(&the_lock);
    hoso_engine *eng = the_engine;
    the_engine = NULL;
    pthread_mutex_unlock(&the_lock);
    if (eng == NULL)
        return;
    atomic_store(&eng->stopping, 1);
    uv_async_send(&eng->wake);
    pthread_mutex_lock(&park_lock);
    while (!engine_finished)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    if (uv_loop_close(&eng->loop) != 0)
        return; /* a handle is still open: leave the engine to the process's exit */
    for (size_t i = 0; i < eng->nc; i++) {
        hoso_consumer *c = eng->c[i];
        c->sink.free(c->sink.ctx);
        pthread_mutex_destroy(&c->lock);
        for (size_t k = 0; k < c->nparked; k++)
            free(c->parked[k]);
        free(c->win);
        free(c->parked);
        free(c->pindex);
        free(c->pend);
        free(c);
    }
    if (eng->rtxn != NULL)
        hoso_txn_abort(eng->rtxn);
    free(eng);
}

static hoso_consumer *by_name(hoso_engine *eng, const char *name)
{
    for (size_t i = 0; eng != NULL && i < eng->nc; i++)
        if (!eng->c[i]->exec && strcmp(eng->c[i]->sink.name, name) == 0)
            return eng->c[i];
    return NULL;
}

void hoso_engine_lease(const char *name, int held)
{
    pthread_mutex_lock(&the_lock);
    hoso_engine *eng = the_engine;
    hoso_consumer *c = by_name(eng, name);
    if (c != NULL && c->shared) {
        atomic_store(&c->held, held);
        uv_async_send(&eng->wake);
    }
    pthread_mutex_unlock(&the_lock);
}

void hoso_engine_wake(void)
{
    pthread_mutex_lock(&the_lock);
    if (the_engine != NULL)
        uv_async_send(&the_engine->wake);
    pthread_mutex_unlock(&the_lock);
}

int hoso_engine_exec(const char *name, const hoso_log_entry *e, unsigned attempt, hoso_exec_done done, void *ctx)
{
    exec_req *x;
    if ((x = calloc(1, sizeof(*x))) == NULL)
        return HOSO_ENOMEM;
    snprintf(x->name, sizeof x->name, "%s", name);
    x->e = *e;
    x->attempt = attempt;
    x->done = done;
    x->ctx = ctx;
    pthread_mutex_lock(&the_lock);
    hoso_engine *eng = the_engine;
    if (eng == NULL) {
        pthread_mutex_unlock(&the_lock);
        free(x);
        return HOSO_EUNAVAILABLE;
    }
    pthread_mutex_lock(&eng->xlock);
    x->next = eng->xhead;
    eng->xhead = x;
    pthread_mutex_unlock(&eng->xlock);
    uv_async_send(&eng->wake);
    pthread_mutex_unlock(&the_lock);
    return 0;
}

static void status_of(hoso_engine *eng, hoso_consumer *c, hoso_consumer_status *out);

int hoso_engine_status(hoso_engine *eng, const char *name, hoso_consumer_status *out)
{
    hoso_consumer *c = by_name(eng, name);
    memset(out, 0, sizeof(*out));
    if (c == NULL)
        return HOSO_ENOT_FOUND;
    status_of(eng, c, out);
    return 0;
}

static void status_of(hoso_engine *eng, hoso_consumer *c, hoso_consumer_status *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->st;
    pthread_mutex_unlock(&c->lock);
    out->renewals = atomic_load(&c->renewals);
    /* The head moves with every commit, the status only with the engine's pumps. */
    uint64_t head = c->shared ? atomic_load(&c->head) : atomic_load(&eng->head);
    if (head > out->head) {
        out->head = head;
        out->lag_events = head - out->cursor;
    }
}

int hoso_engine_retry(hoso_engine *eng, const char *name)
{
    hoso_consumer *c = by_name(eng, name);
    if (c == NULL)
        return HOSO_ENOT_FOUND;
    atomic_store(&c->retry_asked, 1);
    uv_async_send(&eng->wake);
    return 0;
}

void hoso_engine_metrics(msgpack_sbuffer *out)
{
    hoso_engine *eng = the_engine;
    hoso_consumer_status sts[MAX_CONSUMERS];
    if (eng == NULL || eng->nc == 0)
        return;
    /* One snapshot per consumer: every family below shows the same moment. */
    for (size_t i = 0; i < eng->nc; i++)
        status_of(eng, eng->c[i], &sts[i]);
    put(out, "# HELP hoso_consumer_lag_events Log entries after the consumer's cursor.\n"
             "# TYPE hoso_consumer_lag_events gauge\n");
    for (size_t i = 0; i < eng->nc; i++) {
        const hoso_consumer_status *st = &sts[i];
        put(out, "hoso_consumer_lag_events{consumer=\"%s\"} %llu\n", eng->c[i]->name,
            (unsigned long long)st->lag_events);
    }
    put(out, "# HELP hoso_consumer_lag_seconds Age of the oldest event not yet delivered.\n"
             "# TYPE hoso_consumer_lag_seconds gauge\n");
    for (size_t i = 0; i < eng->nc; i++) {
        const hoso_consumer_status *st = &sts[i];
        put(out, "hoso_consumer_lag_seconds{consumer=\"%s\"} %.3f\n", eng->c[i]->name, (double)st->lag_ms / 1e3);
    }
    put(out, "# HELP hoso_consumer_deliveries_total Deliveries by outcome: sent, retried, dead (refused for good).\n"
             "# TYPE hoso_consumer_deliveries_total counter\n");
    for (size_t i = 0; i < eng->nc; i++) {
        const hoso_consumer_status *st = &sts[i];
        const char *n = eng->c[i]->name;
        put(out,
            "hoso_consumer_deliveries_total{consumer=\"%s\",outcome=\"sent\"} %llu\n"
            "hoso_consumer_deliveries_total{consumer=\"%s\",outcome=\"retried\"} %llu\n"
            "hoso_consumer_deliveries_total{consumer=\"%s\",outcome=\"dead\"} %llu\n",
            n, (unsigned long long)st->sent, n, (unsigned long long)st->retried, n, (unsigned long long)st->dead);
    }
    put(out, "# HELP hoso_consumer_parked Deliveries set aside: dead letters and those waiting behind them.\n"
             "# TYPE hoso_consumer_parked gauge\n");
    for (size_t i = 0; i < eng->nc; i++) {
        const hoso_consumer_status *st = &sts[i];
        put(out, "hoso_consumer_parked{consumer=\"%s\"} %llu\n", eng->c[i]->name, (unsigned long long)st->parked);
    }
    put(out, "# HELP hoso_consumer_session_renewals_total Peer sessions obtained again (expired or refused).\n"
             "# TYPE hoso_consumer_session_renewals_total counter\n");
    for (size_t i = 0; i < eng->nc; i++)
        put(out, "hoso_consumer_session_renewals_total{consumer=\"%s\"} %llu\n", eng->c[i]->name,
            (unsigned long long)atomic_load(&eng->c[i]->renewals));
    put(out, "# HELP hoso_consumer_call_duration_seconds Time of one call to the peer.\n"
             "# TYPE hoso_consumer_call_duration_seconds histogram\n");
    for (size_t i = 0; i < eng->nc; i++) {
        hoso_consumer *c = eng->c[i];
        uint64_t b[12], sum, cum = 0;
        pthread_mutex_lock(&c->lock);
        memcpy(b, c->lat_b, sizeof b);
        sum = c->lat_sum_usec;
        pthread_mutex_unlock(&c->lock);
        for (size_t k = 0; k < 11; k++) {
            cum += b[k];
            put(out, "hoso_consumer_call_duration_seconds_bucket{consumer=\"%s\",le=\"%.3f\"} %llu\n", c->name,
                (double)LAT_MS[k] / 1e3, (unsigned long long)cum);
        }
        cum += b[11];
        put(out, "hoso_consumer_call_duration_seconds_bucket{consumer=\"%s\",le=\"+Inf\"} %llu\n", c->name,
            (unsigned long long)cum);
        put(out, "hoso_consumer_call_duration_seconds_sum{consumer=\"%s\"} %.6f\n", c->name, (double)sum / 1e6);
        put(out, "hoso_consumer_call_duration_seconds_count{consumer=\"%s\"} %llu\n", c->name,
            (unsigned long long)cum);
    }
}
