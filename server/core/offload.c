/*
 * offload.c - blocking work (password hashing) off the event loop, so that a worker's
 * loop keeps serving other requests meanwhile. The request is resumed on its own
 * worker when the work is done, or forgotten if the client went away.
 *
 * Argon2id takes ~0.1 s and 64 MiB per call. Sign-ins hash on libuv's pool
 * (UV_THREADPOOL_SIZE threads, 4 unless set: main.c); registrations, which anyone may
 * send without an account, hash on two threads of their own (REGISTER_THREADS), so a
 * flood of them never delays a citizen's sign-in. At most 6 x 64 MiB are in use at
 * once. Each kind also has a bound on what may wait: past it, 429 at once, since
 * queueing everything would only make every one of them time out.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "runtime.h"

#define REGISTER_THREADS 2

static const int MAX_PENDING[] = {[HOSO_OFFLOAD_LOGIN] = 128, [HOSO_OFFLOAD_REGISTER] = 32,
                                  [HOSO_OFFLOAD_RESOLVE] = 32, [HOSO_OFFLOAD_UPLOAD] = 64,
                                  [HOSO_OFFLOAD_BROKER] = 8192};

static atomic_int pending[5];

typedef struct offload_job offload_job;

/* Lives in the request's pool: h2o disposes it with the request, which tells the job
 * the request is gone. */
typedef struct offload_link {
    offload_job *job;
} offload_link;

struct offload_job {
    uv_work_t work;
    h2o_multithread_message_t msg; /* registrations: back to the worker */
    hoso_worker *worker;
    offload_job *next;             /* registrations: the pool's queue */
    hoso_req *r;           /* NULL once the request was disposed */
    offload_link *link;
    int (*fn)(void *data);
    hoso_offload_done done;
    void (*free_data)(void *data);
    void *data;
    int result;
    int budget;
};

static void on_link_dispose(void *p)
{
    offload_link *l = p;
    if (l->job != NULL)
        l->job->r = NULL;
}

static void run_work(uv_work_t *w)
{
    offload_job *job = w->data;
    job->result = job->fn(job->data);
}

static void after_work(uv_work_t *w, int status)
{
    offload_job *job = w->data;
    hoso_req *r = job->r;
    atomic_fetch_sub(&pending[job->budget], 1);
    atomic_fetch_sub(&job->worker->inflight, 1);
    if (r == NULL) {
        if (job->free_data != NULL)
            job->free_data(job->data);
        free(job);
        return;
    }
    job->link->job = NULL;
    /* The callback owns data from here (it may hand it to a writer op). */
    int err = job->done(r, job->data, status == UV_ECANCELED ? HOSO_EUNAVAILABLE : job->result);
    free(job);
    if (err < 0)
        hoso_reply_error(r, err, &r->err);
}

/* ---------------------------------------------------------------------------------- */
/* The registrations' own threads */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    offload_job *head, *tail;
    pthread_once_t once;
    int ok;
} RP = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, PTHREAD_ONCE_INIT, 0};

static void *register_thread(void *arg)
{
    for (;;) {
        pthread_mutex_lock(&RP.lock);
        while (RP.head == NULL)
            pthread_cond_wait(&RP.cond, &RP.lock);
        offload_job *job = RP.head;
        RP.head = job->next;
        if (RP.head == NULL)
            RP.tail = NULL;
        pthread_mutex_unlock(&RP.lock);
        job->result = job->fn(job->data);
        h2o_multithread_send_message(&job->worker->offload_rx, &job->msg);
    }
    return NULL;
}

/* The threads live as long as the process, parked while there is nothing to hash. */
static void start_register_threads(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < REGISTER_THREADS; i++) {
        pthread_t th;
        if (pthread_create(&th, &attr, register_thread, NULL) == 0)
            RP.ok = 1;
    }
    pthread_attr_destroy(&attr);
}

void hoso__offload_on_done(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        offload_job *job = H2O_STRUCT_FROM_MEMBER(offload_job, msg, m);
        after_work(&job->work, 0);
    }
}

/* ---------------------------------------------------------------------------------- */

/* A job of budget for r, counted as pending and as the worker's in-flight work, its
 * link in the request's pool; NULL with an error in *err (data freed) when the budget
 * is full or memory is short. */
static offload_job *job_new(hoso_req *r, int budget, hoso_offload_done done, void (*free_data)(void *data),
                            void *data, int *err)
{
    offload_job *job;
    if (atomic_fetch_add(&pending[budget], 1) >= MAX_PENDING[budget]) {
        atomic_fetch_sub(&pending[budget], 1);
        if (free_data != NULL)
            free_data(data);
        if (budget != HOSO_OFFLOAD_BROKER)
            hoso_metrics_throttled("busy");
        r->retry_after_ms = 1000;
        *err = hoso_fail(&r->err, HOSO_ERATE_LIMITED,
                         budget == HOSO_OFFLOAD_RESOLVE  ? "too many callback URLs being checked at once; retry in a moment"
                         : budget == HOSO_OFFLOAD_BROKER ? "too many requests waiting for other nodes; retry in a moment"
                         : budget == HOSO_OFFLOAD_UPLOAD ? "too many upload pieces being written at once; send this "
                                                           "one again in a moment"
                                                         : "too many sign-ins at once; retry in a moment");
        return NULL;
    }
    if ((job = calloc(1, sizeof(*job))) == NULL) {
        atomic_fetch_sub(&pending[budget], 1);
        if (free_data != NULL)
            free_data(data);
        *err = HOSO_ENOMEM;
        return NULL;
    }
    job->r = r;
    job->budget = budget;
    job->done = done;
    job->free_data = free_data;
    job->data = data;
    job->work.data = job;
    job->worker = r->worker;
    job->link = h2o_mem_alloc_shared(&r->h2o->pool, sizeof(*job->link), on_link_dispose);
    job->link->job = job;
    /* Counted like a writer op, so that a stop waits for it before the loops end. */
    atomic_fetch_add(&r->worker->inflight, 1);
    return job;
}

/* Undoes job_new for a job that never started: data freed, nothing left. */
static void job_drop(offload_job *job)
{
    job->link->job = NULL;
    atomic_fetch_sub(&job->worker->inflight, 1);
    atomic_fetch_sub(&pending[job->budget], 1);
    if (job->free_data != NULL)
        job->free_data(job->data);
    free(job);
}

int hoso_req_offload(hoso_req *r, int budget, int (*fn)(void *data), hoso_offload_done done,
                     void (*free_data)(void *data), void *data)
{
    offload_job *job;
    int err;
    if ((job = job_new(r, budget, done, free_data, data, &err)) == NULL)
        return err;
    job->fn = fn;
    /* Registrations and callback-URL lookups (a name server may take seconds) run on
     * threads of their own, never ahead of a citizen's sign-in in libuv's pool. */
    if (budget == HOSO_OFFLOAD_REGISTER || budget == HOSO_OFFLOAD_RESOLVE) {
        pthread_once(&RP.once, start_register_threads);
        if (RP.ok) {
            pthread_mutex_lock(&RP.lock);
            if (RP.tail != NULL)
                RP.tail->next = job;
            else
                RP.head = job;
            RP.tail = job;
            pthread_cond_signal(&RP.cond);
            pthread_mutex_unlock(&RP.lock);
            return HOSO_ASYNC;
        }
    }
    if (uv_queue_work(&r->worker->loop, &job->work, run_work, after_work) != 0) {
        job_drop(job);
        return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "cannot schedule the work");
    }
    return HOSO_ASYNC;
}

/* ---------------------------------------------------------------------------------- */
/* Hand-off to a thread that answers later (the cluster broker) */

int hoso_req_hand_off(hoso_req *r, int (*start)(hoso_ticket *t, void *data), hoso_offload_done done,
                      void (*free_data)(void *data), void *data)
{
    int err;
    offload_job *job = job_new(r, HOSO_OFFLOAD_BROKER, done, free_data, data, &err);
    if (job == NULL)
        return err;
    if ((err = start(job, data)) != 0) {
        job_drop(job); /* not handed over: nobody else holds the ticket */
        return err;
    }
    return HOSO_ASYNC;
}

void hoso_ticket_finish(hoso_ticket *t, int result)
{
    t->result = result;
    h2o_multithread_send_message(&t->worker->offload_rx, &t->msg);
}
