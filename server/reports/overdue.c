/*
 * overdue.c - the overdue scheduler: one thread that sleeps until the earliest due
 * time in the `due` index (or a commit that may have moved it), then hands the writer
 * an op that fires every due time already past. The index holds only open dossiers
 * not yet fired, so an idle dossier costs nothing, and firing removes the entry in the
 * same transaction as the event: exactly once, across restarts too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "domain/domain.h"
#include "reports/reports.h"

#define BATCH 256          /* due times fired by one op */
#define IDLE_MS 60000      /* a look at the index at least this often */
#define RETRY_MS 1000      /* while fired ones wait for their commit */

static struct {
    hoso_server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int started, stop, kick;
    atomic_int queued; /* an op is with the writer */
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct fire_list {
    char code[BATCH][96];
    int64_t due[BATCH];
    size_t n;
} fire_list;

static int collect(void *ctx, const char *code, int64_t due_at)
{
    fire_list *l = ctx;
    snprintf(l->code[l->n], sizeof l->code[0], "%s", code);
    l->due[l->n++] = due_at;
    return 0;
}

/* Writer thread. */
static int fire_apply(hoso_wop *op, hoso_txn *t)
{
    fire_list *l = op->data;
    int ret;
    /* Strictly past: a dossier is overdue once now > due_at. */
    if ((ret = hoso_due_scan(t, op->now - 1, BATCH, collect, l)) != 0)
        return hoso_wop_fail(op, ret, "cannot read the due dates");
    for (size_t i = 0; i < l->n; i++)
        if ((ret = hoso__dossier_fire_due(t, op, l->code[i], l->due[i])) != 0)
            return hoso_wop_fail(op, ret, "cannot mark dossier %s overdue", l->code[i]);
    atomic_store(&S.queued, 0);
    if (l->n > 0)
        hoso_log(HOSO_LOG_INFO, "overdue: %zu dossier%s passed their due time", l->n, l->n == 1 ? "" : "s");
    return 0;
}

static void wait_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!S.stop && !S.kick)
        if (pthread_cond_timedwait(&S.cond, &S.lock, &ts) == ETIMEDOUT)
            break;
    S.kick = 0;
}

static void *overdue_main(void *arg)
{
    hoso_txn *t = NULL;
    (void)arg;
    pthread_mutex_lock(&S.lock);
    while (!S.stop) {
        int64_t first = 0, now;
        pthread_mutex_unlock(&S.lock);
        int rc = t == NULL ? hoso_txn_read(hoso_server_store(S.srv), &t) : hoso_txn_renew(t);
        if (rc == 0) {
            rc = hoso_due_first(t, &first);
            hoso_txn_reset(t);
        }
        if (rc != 0)
            hoso_log(HOSO_LOG_ERROR, "overdue: cannot read the due dates: %s", hoso_err_message(rc));
        now = hoso_now_ms();
        if (rc == 0 && first != 0 && first < now && !atomic_exchange(&S.queued, 1)) {
            fire_list *l = calloc(1, sizeof(*l));
            if (l == NULL || hoso_writer_submit_own(S.srv, fire_apply, l, free) != 0)
                atomic_store(&S.queued, 0);
        }
        pthread_mutex_lock(&S.lock);
        if (rc != 0 || (first != 0 && first < now))
            wait_ms(RETRY_MS); /* the op's commit kicks us sooner */
        else
            wait_ms(first == 0 || first - now + 1 > IDLE_MS ? IDLE_MS : first - now + 1);
    }
    pthread_mutex_unlock(&S.lock);
    if (t != NULL)
        hoso_txn_abort(t);
    return NULL;
}

/* Writer thread, after each commit: a due date may have been set, moved or fired. */
static void on_commit(void *ctx, const hoso_event *ev, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        if (ev[i].type == HOSO_EV_DOSSIER_STATUS || ev[i].type == HOSO_EV_DOSSIER_UPDATED ||
            ev[i].type == HOSO_EV_DOSSIER_OVERDUE) {
            pthread_mutex_lock(&S.lock);
            S.kick = 1;
            pthread_cond_signal(&S.cond);
            pthread_mutex_unlock(&S.lock);
            return;
        }
}

typedef struct backfill {
    uint64_t armed, ratings, dossiers;
} backfill;

/* The indexes a store made before them lacks: due dates, satisfaction aggregates, the
 * per-channel monitoring counters. */
static int backfill_apply(hoso_wop *op, hoso_txn *t)
{
    backfill *b = op->data;
    int rc = hoso_due_backfill(t, &b->armed);
    if (rc == 0)
        rc = hoso_satisfaction_backfill(t, &b->ratings);
    if (rc == 0)
        rc = hoso__counters_rebuild(t, op->now, &b->dossiers);
    return rc ? hoso_wop_fail(op, rc, "cannot build the due-date, satisfaction and counter indexes") : 0;
}

int hoso_overdue_start(hoso_server *srv)
{
    backfill b = {0, 0, 0};
    hoso_errinfo ei;
    int rc;
    /* A data dir from before the due-date index: arm its open dossiers once (one
     * transaction, before the first request; the ones already past fire at once). */
    memset(&ei, 0, sizeof ei);
    if ((rc = hoso_run_job(hoso_server_store(srv), backfill_apply, &b, hoso_now_ms(), &ei)) != 0) {
        hoso_log(HOSO_LOG_ERROR, "overdue: %s", ei.message[0] ? ei.message : hoso_err_message(rc));
        return rc;
    }
    if (b.armed > 0)
        hoso_log(HOSO_LOG_INFO, "overdue: due-date index built, %llu open dossier%s with a due date",
                 (unsigned long long)b.armed, b.armed == 1 ? "" : "s");
    if (b.ratings > 0)
        hoso_log(HOSO_LOG_INFO, "satisfaction aggregates built from %llu rating%s", (unsigned long long)b.ratings,
                 b.ratings == 1 ? "" : "s");
    if (b.dossiers > 0)
        hoso_log(HOSO_LOG_INFO, "monitoring counters rebuilt from the histories of %llu dossier%s",
                 (unsigned long long)b.dossiers, b.dossiers == 1 ? "" : "s");
    S.srv = srv;
    S.stop = S.kick = 0;
    atomic_store(&S.queued, 0);
    pthread_cond_init(&S.cond, NULL);
    if ((rc = hoso_server_add_event_sink(srv, on_commit, NULL)) != 0)
        return rc;
    if (pthread_create(&S.thread, NULL, overdue_main, NULL) != 0)
        return HOSO_EINTERNAL;
    S.started = 1;
    return 0;
}

void hoso_overdue_stop(void)
{
    if (!S.started)
        return;
    pthread_mutex_lock(&S.lock);
    S.stop = 1;
    pthread_cond_signal(&S.cond);
    pthread_mutex_unlock(&S.lock);
    pthread_join(S.thread, NULL);
    S.started = 0;
}
