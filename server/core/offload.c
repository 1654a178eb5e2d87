/*
 * offload.c - blocking work (password hashing) on libuv's thread pool, so that a
 * worker's event loop keeps serving other requests meanwhile. The request is resumed
 * on its own worker when the work is done, or forgotten if the client went away.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include "runtime.h"

/* Argon2id takes ~0.1 s and 64 MiB per call: more than this many waiting at once means
 * a flood of sign-ins, and queueing them all would only make every one of them time out. */
#define OFFLOAD_MAX_PENDING 256

static atomic_int pending;

typedef struct offload_job offload_job;

/* Lives in the request's pool: h2o disposes it with the request, which tells the job
 * the request is gone. */
typedef struct offload_link {
    offload_job *job;
} offload_link;

struct offload_job {
    uv_work_t work;
    hoso_req *r;           /* NULL once the request was disposed */
    offload_link *link;
    int (*fn)(void *data);
    hoso_offload_done done;
    void (*free_data)(void *data);
    void *data;
    int result;
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
    atomic_fetch_sub(&pending, 1);
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

int hoso_req_offload(hoso_req *r, int (*fn)(void *data), hoso_offload_done done, void (*free_data)(void *data),
                     void *data)
{
    offload_job *job;
    if (atomic_fetch_add(&pending, 1) >= OFFLOAD_MAX_PENDING) {
        atomic_fetch_sub(&pending, 1);
        if (free_data != NULL)
            free_data(data);
        return hoso_fail(&r->err, HOSO_ERATE_LIMITED, "too many sign-ins at once; retry in a moment");
    }
    if ((job = calloc(1, sizeof(*job))) == NULL) {
        atomic_fetch_sub(&pending, 1);
        if (free_data != NULL)
            free_data(data);
        return HOSO_ENOMEM;
    }
    job->r = r;
    job->fn = fn;
    job->done = done;
    job->free_data = free_data;
    job->data = data;
    job->work.data = job;
    job->link = h2o_mem_alloc_shared(&r->h2o->pool, sizeof(*job->link), on_link_dispose);
    job->link->job = job;
    if (uv_queue_work(&r->worker->loop, &job->work, run_work, after_work) != 0) {
        job->link->job = NULL;
        atomic_fetch_sub(&pending, 1);
        if (free_data != NULL)
            free_data(data);
        free(job);
        return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "cannot schedule the work");
    }
    return HOSO_ASYNC;
}
