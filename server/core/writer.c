/*
 * writer.c - the single writer thread and its group commit. Workers queue ops; the
 * writer takes everything queued (up to max_batch), runs each op in a nested
 * transaction of one batch transaction, commits the batch with one fsync, publishes
 * the committed events, then posts each op back to the worker that owns its request.
 * A worker replies only once the op comes back, so a 2xx means the write is durable.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"

typedef struct op_cancel op_cancel;

/* An op with what the runtime needs to route its reply back. Everything after `op`
 * belongs to the worker thread except `next`, which the queue lock protects. */
typedef struct wop_rt {
    hoso_wop op;
    h2o_multithread_message_t msg;
    hoso_worker *worker;
    hoso_req *req; /* NULL once the client went away */
    op_cancel *cancel;
    uint64_t ticket; /* its place in the queue (hoso_writer_barrier) */
    struct wop_rt *next;
} wop_rt;

/* Lives in the request's pool; h2o calls on_cancel_dispose when the request is freed.
 * Both that and the delivery run on the worker thread, so no lock is needed. */
struct op_cancel {
    wop_rt *w;
};

struct hoso_writer {
    hoso_server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wop_rt *head, *tail;
    int stopping, exited;
    /* Ops queued so far, and of those the ones whose batch is over (committed or
     * failed): hoso_writer_barrier waits on done_cond for the second to pass a value
     * of the first. */
    uint64_t enqueued, finished;
    pthread_cond_t done_cond;
};

/* ---------------------------------------------------------------------------------- */
/* Ops */

void hoso_wop_init(hoso_wop *op, hoso_wop_fn apply, const hoso_caller *who, int64_t now_ms)
{
    memset(op, 0, sizeof(*op));
    op->apply = apply;
    if (who != NULL)
        op->who = *who;
    op->now = now_ms;
    op->http_status = 200;
    msgpack_sbuffer_init(&op->reply);
}

void hoso_wop_destroy(hoso_wop *op)
{
    if (op->free_data != NULL && op->data != NULL)
        op->free_data(op->data);
    op->data = NULL;
    if (op->has_body)
        hoso_doc_destroy(&op->body);
    op->has_body = 0;
    msgpack_sbuffer_destroy(&op->reply);
}

hoso_wop *hoso_wop_new(hoso_req *r, hoso_wop_fn apply)
{
    wop_rt *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    hoso_wop *op = &w->op;
    hoso_wop_init(op, apply, r->authed ? &r->who : NULL, hoso_now_ms());
    op->_private = w;
    for (size_t i = 0; i < r->nparams && i < 3; i++)
        if (r->params[i] != NULL)
            snprintf(op->params[i], sizeof(op->params[i]), "%s", r->params[i]);
    if (r->has_body) {
        /* The zone holds no pointer into itself, so moving the struct moves the arena. */
        op->body = r->body;
        op->has_body = 1;
        r->has_body = 0;
        memset(&r->body, 0, sizeof(r->body));
        const msgpack_object *id = hoso_map_get(&op->body.root, "op_id");
        if (id != NULL && id->type == MSGPACK_OBJECT_STR && id->via.str.size > 0 &&
            id->via.str.size < sizeof(op->op_id)) {
            memcpy(op->op_id, id->via.str.ptr, id->via.str.size);
            op->op_id[id->via.str.size] = '\0';
        }
    }
    return op;
}

static void wop_free(wop_rt *w)
{
    hoso_wop_destroy(&w->op);
    free(w);
}

int hoso_wop_fail(hoso_wop *op, int err, const char *fmt, ...)
{
    op->err.err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->err.message, sizeof(op->err.message), fmt, ap);
    va_end(ap);
    op->result = err;
    return err;
}

/* Replaces op's reply with the error shape for err. */
static void set_error_reply(hoso_wop *op, int err)
{
    msgpack_packer pk;
    op->result = err;
    op->reply.size = 0;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    hoso_encode_error(&pk, err, &op->err);
    op->http_status = hoso_err_http_status(err);
}

/* Runs one op inside parent. Afterwards op->reply holds what the client gets and
 * op->result says whether it succeeded; the op's changes are in parent only if so.
 * Returns 1 when the op_id had a stored reply (apply was not called), else 0. */
static int run_one(hoso_store *s, hoso_txn *parent, hoso_wop *op)
{
    hoso_txn *child = NULL;
    int idem = op->op_id[0] != '\0' && op->who.account[0] != '\0';
    int err;

    if ((err = hoso_txn_write(s, parent, &child)) != 0)
        goto Exit;
    if (idem) {
        hoso_doc d;
        hoso_str body = {NULL, 0};
        int status = 0;
        msgpack_zone_init(&d.zone, 512);
        err = hoso_op_get(child, op->who.account, op->op_id, &d, &status, &body);
        if (err == 0) {
            op->reply.size = 0;
            msgpack_sbuffer_write(&op->reply, body.ptr, body.len);
            op->http_status = status;
            op->result = 0; /* the stored reply, error or not, is the answer */
            op->replayed = 1;
            hoso_doc_destroy(&d);
            hoso_txn_abort(child);
            child = NULL;
            return 1;
        }
        hoso_doc_destroy(&d);
        if (err != HOSO_ENOT_FOUND)
            goto Exit;
    }
    op->result = 0;
    op->reply.size = 0;
    err = op->apply(op, child);
    if (err == 0 && op->result < 0)
        err = op->result;
    if (err == 0) {
        if (idem && (err = hoso_op_put(child, op->who.account, op->op_id, op->http_status, op->reply.data,
                                       op->reply.size, op->now)) != 0)
            goto Exit;
        err = hoso_txn_commit(child);
        child = NULL;
        goto Exit;
    }
    /* The op failed: undo its partial changes, then remember a client error (4xx) in a
     * fresh child so a retry with the same op_id gets the same answer. */
    hoso_txn_abort(child);
    child = NULL;
    set_error_reply(op, err);
    if (idem && op->http_status < 500 && hoso_txn_write(s, parent, &child) == 0) {
        if (hoso_op_put(child, op->who.account, op->op_id, op->http_status, op->reply.data, op->reply.size, op->now) == 0)
            hoso_txn_commit(child);
        else
            hoso_txn_abort(child);
        child = NULL;
    }
    return 0;

Exit:
    if (child != NULL)
        hoso_txn_abort(child);
    if (err != 0)
        set_error_reply(op, err);
    return 0;
}

int hoso_wop_run_nested(hoso_txn *parent, hoso_wop *op)
{
    return run_one(hoso_txn_store(parent), parent, op);
}

int hoso_run_write(hoso_store *s, hoso_wop *op)
{
    hoso_txn *t = NULL;
    hoso_event *ev = NULL;
    size_t nev = 0;
    int err;

    if ((err = hoso_txn_write(s, NULL, &t)) != 0)
        return err;
    run_one(s, t, op);
    if (hoso_txn_take_events(t, &ev, &nev) == 0)
        hoso_events_free(ev, nev);
    if ((err = hoso_txn_commit(t)) != 0)
        return err;
    return op->result;
}

int hoso_run_job(hoso_store *s, hoso_wop_fn apply, void *data, int64_t now_ms, hoso_errinfo *err_out)
{
    hoso_wop op;
    hoso_wop_init(&op, apply, NULL, now_ms);
    op.data = data;
    int err = hoso_run_write(s, &op);
    if (err_out != NULL)
        *err_out = op.err;
    hoso_wop_destroy(&op);
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* Delivery on the worker */

static void on_cancel_dispose(void *p)
{
    op_cancel *c = p;
    if (c->w != NULL)
        c->w->req = NULL;
}

static void deliver(wop_rt *w)
{
    if (w->req != NULL) {
        /* Detach first: sending may end the request and run on_cancel_dispose. */
        w->cancel->w = NULL;
        hoso__http_send_op(w->req, &w->op);
    }
    atomic_fetch_sub(&w->worker->inflight, 1);
    wop_free(w);
}

void hoso__writer_on_done(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        deliver(H2O_STRUCT_FROM_MEMBER(wop_rt, msg, m));
    }
}

/* Appends w to the writer's queue; 0 when the writer is stopping (w not queued). */
static int enqueue(hoso_writer *wr, wop_rt *w)
{
    pthread_mutex_lock(&wr->lock);
    if (wr->stopping) {
        pthread_mutex_unlock(&wr->lock);
        return 0;
    }
    w->ticket = ++wr->enqueued;
    if (wr->tail != NULL)
        wr->tail->next = w;
    else
        wr->head = w;
    wr->tail = w;
    pthread_cond_signal(&wr->cond);
    pthread_mutex_unlock(&wr->lock);
    return 1;
}

static void post_back(wop_rt *w)
{
    if (w->worker == NULL) { /* the server's own op: nobody waits for a reply */
        if (w->op.result != 0)
            hoso_log(HOSO_LOG_ERROR, "internal write failed: %s",
                     w->op.err.message[0] ? w->op.err.message : hoso_err_message(w->op.result));
        wop_free(w);
        return;
    }
    h2o_multithread_send_message(&w->worker->done_rx, &w->msg);
}

int hoso_writer_submit_own(hoso_server *srv, hoso_wop_fn apply, void *data, void (*free_data)(void *data))
{
    hoso_writer *wr = srv->writer;
    wop_rt *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        if (free_data != NULL)
            free_data(data);
        return HOSO_ENOMEM;
    }
    hoso_wop_init(&w->op, apply, NULL, hoso_now_ms());
    w->op._private = w;
    w->op.data = data;
    w->op.free_data = free_data;
    if (!enqueue(wr, w)) {
        wop_free(w);
        return HOSO_EUNAVAILABLE;
    }
    return 0;
}

int hoso_writer_submit(hoso_req *r, hoso_wop *op)
{
    wop_rt *w = op->_private;
    hoso_writer *wr = r->srv->writer;

    w->worker = r->worker;
    w->req = r;
    w->cancel = h2o_mem_alloc_shared(&r->h2o->pool, sizeof(*w->cancel), on_cancel_dispose);
    w->cancel->w = w;
    atomic_fetch_add(&w->worker->inflight, 1);

    if (wr != NULL && enqueue(wr, w))
        return HOSO_ASYNC;
    /* Shutting down: answer now rather than queue an op nobody will run. */
    op->err.err = 0;
    hoso_fail(&op->err, HOSO_EUNAVAILABLE, "the server is shutting down");
    set_error_reply(op, HOSO_EUNAVAILABLE);
    deliver(w);
    return HOSO_ASYNC;
}

/* ---------------------------------------------------------------------------------- */
/* The writer thread */

static void run_batch(hoso_writer *wr, wop_rt *list, size_t n)
{
    hoso_store *s = wr->srv->store;
    hoso_txn *t = NULL;
    hoso_event *ev = NULL;
    size_t nev = 0;
    uint64_t t0 = hoso__now_usec();
    int err;

    if ((err = hoso_txn_write(s, NULL, &t)) == 0) {
        for (wop_rt *w = list; w != NULL; w = w->next)
            run_one(s, t, &w->op);
        if (hoso_txn_take_events(t, &ev, &nev) != 0) {
            ev = NULL;
            nev = 0;
        }
        err = hoso_txn_commit(t);
    }
    if (err != 0) {
        /* Nothing of the batch is on disk: every op in it fails the same way, and a
         * client may retry with the same op_id. */
        if (ev != NULL)
            hoso_events_free(ev, nev);
        ev = NULL;
        nev = 0;
        hoso_log(HOSO_LOG_ERROR, "batch of %zu ops not committed: %s", n, hoso_err_message(err));
        for (wop_rt *w = list; w != NULL; w = w->next) {
            memset(&w->op.err, 0, sizeof(w->op.err));
            hoso_fail(&w->op.err, HOSO_EUNAVAILABLE, "the write could not be committed (%s)",
                      hoso_err_message(err));
            set_error_reply(&w->op, HOSO_EUNAVAILABLE);
        }
    }
    hoso_metrics_batch(n, hoso__now_usec() - t0);
    if (nev > 0) {
        hoso__server_publish(wr->srv, ev, nev);
        hoso_events_free(ev, nev);
    }
    while (list != NULL) {
        wop_rt *next = list->next;
        list->next = NULL;
        post_back(list);
        list = next;
    }
}

static void *writer_main(void *arg)
{
    hoso_writer *wr = arg;
    unsigned max_batch = wr->srv->cfg.max_batch != 0 ? wr->srv->cfg.max_batch : 1024;

    for (;;) {
        pthread_mutex_lock(&wr->lock);
        while (wr->head == NULL && !wr->stopping)
            pthread_cond_wait(&wr->cond, &wr->lock);
        if (wr->head == NULL) {
            pthread_mutex_unlock(&wr->lock);
            break;
        }
        wop_rt *list = wr->head, *last = list;
        size_t n = 1;
        while (last->next != NULL && n < max_batch) {
            last = last->next;
            n++;
        }
        wr->head = last->next;
        if (wr->head == NULL)
            wr->tail = NULL;
        last->next = NULL;
        uint64_t ticket = last->ticket;
        pthread_mutex_unlock(&wr->lock);
        run_batch(wr, list, n); /* frees the ops */
        pthread_mutex_lock(&wr->lock);
        wr->finished = ticket;
        pthread_cond_broadcast(&wr->done_cond);
        pthread_mutex_unlock(&wr->lock);
    }
    pthread_mutex_lock(&wr->lock);
    wr->exited = 1;
    pthread_cond_broadcast(&wr->done_cond);
    pthread_mutex_unlock(&wr->lock);
    return NULL;
}

int hoso_writer_barrier(hoso_server *srv, int timeout_ms)
{
    hoso_writer *wr = srv != NULL ? srv->writer : NULL;
    struct timespec until;
    int rc = 0;
    if (wr == NULL)
        return 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wr->lock);
    uint64_t want = wr->enqueued;
    while (wr->finished < want && !wr->exited && rc == 0)
        rc = pthread_cond_timedwait(&wr->done_cond, &wr->lock, &until);
    int done = wr->finished >= want;
    pthread_mutex_unlock(&wr->lock);
    return done ? 0 : HOSO_EUNAVAILABLE;
}

int hoso__writer_start(hoso_server *srv, hoso_writer **out)
{
    hoso_writer *wr = calloc(1, sizeof(*wr));
    if (wr == NULL)
        return HOSO_ENOMEM;
    wr->srv = srv;
    pthread_mutex_init(&wr->lock, NULL);
    pthread_cond_init(&wr->cond, NULL);
    pthread_cond_init(&wr->done_cond, NULL);
    if (pthread_create(&wr->thread, NULL, writer_main, wr) != 0) {
        pthread_mutex_destroy(&wr->lock);
        pthread_cond_destroy(&wr->cond);
        pthread_cond_destroy(&wr->done_cond);
        free(wr);
        return HOSO_EINTERNAL;
    }
    *out = wr;
    return 0;
}

void hoso__writer_stop(hoso_writer *wr)
{
    if (wr == NULL)
        return;
    pthread_mutex_lock(&wr->lock);
    wr->stopping = 1;
    pthread_cond_signal(&wr->cond);
    pthread_mutex_unlock(&wr->lock);
    pthread_join(wr->thread, NULL);
}

void hoso__writer_free(hoso_writer *wr)
{
    if (wr == NULL)
        return;
    pthread_mutex_destroy(&wr->lock);
    pthread_cond_destroy(&wr->cond);
    pthread_cond_destroy(&wr->done_cond);
    free(wr);
}
