/*
 * hub.c - the push hub of one worker. The writer's event sink turns every committed
 * batch into one refcounted array of ready-made frames and posts it once to each
 * worker; the worker's hub looks each event up in its two indexes (owner id, agency)
 * and hands it to the connections subscribed there (ws.c). The hub also drives the
 * per-connection timers (ping, idle, auth and close deadlines), the bounded replay
 * from storage and the stop of the worker.
 *
 * Threads: hoso__hub_publish runs on the writer, hoso__hub_publish_from also on the
 * cluster broker's threads; everything else on the worker that
 * owns the hub. A batch is read-only once posted; the last worker to release it
 * frees it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "push.h"

/* Replayed events per timer run over all connections of the hub, and per connection:
 * a big replay never keeps the loop from its other connections for long. */
#define REPLAY_BUDGET 512
#define REPLAY_CHUNK 64
/* Retry period of a replay waiting for its connection's send queue to drain. */
#define REPLAY_WAIT_MS 10
#define STOP_GRACE_MS 300

typedef struct batch batch;

typedef struct batch_msg {
    h2o_multithread_message_t msg;
    batch *b;
    uint64_t queued; /* this worker's frames of the batch, for the push delay */
} batch_msg;

struct batch {
    _Atomic size_t refs;
    uint64_t born_usec; /* when the writer (after its commit) or the cluster bus handed it over */
    size_t n;
    hoso_hub_event *ev;
    uint8_t **bufs; /* frames, freed with the batch */
    size_t nbufs;
    batch_msg msgs[]; /* one per worker */
};

struct hoso_hub {
    hoso_worker *w;
    h2o_multithread_receiver_t rx;
    uv_timer_t tick, replay_timer, stop_timer;
    int open_handles;
    int stopping;
    h2o_linklist_t all, replaying;
    hoso_sub_index subs;
    unsigned tick_ms;
};

/* ---------------------------------------------------------------------------------- */
/* Frames */

int hoso__hub_frame(const void *body, size_t len, const char *owner, uint64_t gseq, msgpack_sbuffer *out)
{
    msgpack_zone zone;
    msgpack_object root;
    msgpack_packer pk;
    size_t off = 0;
    int err = HOSO_ECORRUPT;

    msgpack_zone_init(&zone, 2048);
    if (msgpack_unpack((const char *)body, len, &off, &zone, &root) != MSGPACK_UNPACK_SUCCESS ||
        root.type != MSGPACK_OBJECT_MAP)
        goto Exit;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    err = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 1 + root.via.map.size + (owner != NULL ? 2 : 0)) != 0 || hoso_pack_cstr(&pk, "type") ||
        hoso_pack_cstr(&pk, "event"))
        goto Exit;
    /* The stored body's `type` is the event type; on the wire `type` names the frame,
     * so the event type travels as `event`. */
    for (uint32_t i = 0; i < root.via.map.size; i++) {
        const msgpack_object_kv *kv = &root.via.map.ptr[i];
        if (hoso_obj_streq(&kv->key, "type")) {
            if (hoso_pack_cstr(&pk, "event"))
                goto Exit;
        } else if (msgpack_pack_object(&pk, kv->key)) {
            goto Exit;
        }
        if (msgpack_pack_object(&pk, kv->val))
            goto Exit;
    }
    if (owner != NULL &&
        (hoso_pack_cstr(&pk, "owner") || hoso_pack_cstr(&pk, owner) || hoso_pack_cstr(&pk, "gseq") ||
         msgpack_pack_uint64(&pk, gseq)))
        goto Exit;
    err = 0;
Exit:
    msgpack_zone_destroy(&zone);
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* Batches: built on the writer thread, released by each worker. */

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->nbufs; i++)
        free(b->bufs[i]);
    free(b->bufs);
    free(b->ev);
    free(b);
}

static void batch_release(batch *b)
{
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        batch_free(b);
}

static int build_event(batch *b, hoso_hub_event *e, const hoso_event *src, unsigned which)
{
    msgpack_sbuffer sb;
    int err;

    e->gseq = src->gseq;
    e->seq = src->seq;
    memcpy(e->owner, src->owner, sizeof(e->owner));
    memcpy(e->agency, src->agency, sizeof(e->agency));
    /* An index key left empty matches no subscription. */
    if (!(which & HOSO_HUB_AGENCY))
        e->agency[0] = '\0';
    /* The agency's frame (with owner and gseq) only for an event an agency follows. */
    for (int agency = 0; agency < (e->agency[0] != '\0' ? 2 : 1); agency++) {
        msgpack_sbuffer_init(&sb);
        if ((err = hoso__hub_frame(src->body, src->body_len, agency ? src->owner : NULL, src->gseq, &sb)) != 0) {
            msgpack_sbuffer_destroy(&sb);
            return err;
        }
        size_t len = sb.size;
        uint8_t *p = (uint8_t *)msgpack_sbuffer_release(&sb);
        b->bufs[b->nbufs++] = p;
        if (agency) {
            e->aframe = p;
            e->aframe_len = len;
        } else {
            e->frame = p;
            e->frame_len = len;
        }
    }
    if (!(which & HOSO_HUB_OWNER))
        e->owner[0] = '\0';
    return 0;
}

void hoso__hub_publish(void *ctx, const hoso_event *ev, size_t n)
{
    hoso_server *srv = ctx;
    hoso__hub_publish_from(srv, ev, n, srv->app.remote != NULL ? HOSO_HUB_OWNER : HOSO_HUB_OWNER | HOSO_HUB_AGENCY);
}

void hoso__hub_publish_from(hoso_server *srv, const hoso_event *ev, size_t n, unsigned which)
{
    unsigned nw = srv->nworkers;
    batch *b;

    if (n == 0 || nw == 0 || srv->workers == NULL || atomic_load(&srv->ws_subscriptions) == 0)
        return;
    uint64_t born = hoso__now_usec(); /* before the framing: the delay counts it */
    if ((b = calloc(1, sizeof(*b) + nw * sizeof(batch_msg))) == NULL ||
        (b->ev = calloc(n, sizeof(*b->ev))) == NULL || (b->bufs = calloc(2 * n, sizeof(*b->bufs))) == NULL)
        goto Fail;
    for (size_t i = 0; i < n; i++) {
        if (build_event(b, &b->ev[b->n], &ev[i], which) != 0) {
            /* A body that does not decode never reaches anyone live; a subscriber
             * finds the gap and reads the entry from storage. */
            hoso_log(HOSO_LOG_ERROR, "push: event %llu of an owner feed could not be framed",
                    (unsigned long long)ev[i].seq);
            continue;
        }
        b->n++;
    }
    size_t nhubs = 0;
    for (unsigned i = 0; i < nw; i++)
        nhubs += srv->workers[i].hub != NULL;
    if (nhubs == 0) {
        batch_free(b);
        return;
    }
    atomic_store(&b->refs, nhubs);
    b->born_usec = born;
    for (unsigned i = 0; i < nw; i++) {
        hoso_worker *w = &srv->workers[i];
        if (w->hub == NULL)
            continue;
        b->msgs[i].b = b;
        h2o_multithread_send_message(&w->hub->rx, &b->msgs[i].msg);
    }
    return;
Fail:
    hoso_log(HOSO_LOG_ERROR, "push: out of memory, %zu events not pushed live", n);
    if (b != NULL) {
        free(b->bufs);
        free(b->ev);
        free(b);
    }
}

void hoso__hub_subscribe(hoso_hub *h, hoso_hub_member *m, int kind, const char *key)
{
    if (!hoso__index_add(&h->subs, m, kind, key))
        return;
    atomic_fetch_add(&h->w->srv->ws_subscriptions, 1);
}

void hoso__hub_join(hoso_hub *h, hoso_hub_member *m, hoso_ws *ws)
{
    memset(m, 0, sizeof(*m));
    m->ws = ws;
    h2o_linklist_insert(&h->all, &m->all);
}

void hoso__hub_leave(hoso_hub *h, hoso_hub_member *m)
{
    if (hoso__index_remove(&h->subs, m)) {
        atomic_fetch_sub(&h->w->srv->ws_subscriptions, 1);
    }
    if (h2o_linklist_is_linked(&m->all))
        h2o_linklist_unlink(&m->all);
    if (h2o_linklist_is_linked(&m->replay))
        h2o_linklist_unlink(&m->replay);
    if (h2o_linklist_is_linked(&m->dirty))
        h2o_linklist_unlink(&m->dirty);
}

int hoso__hub_stopping(const hoso_hub *h)
{
    return h->stopping;
}

/* ---------------------------------------------------------------------------------- */
/* Delivery on the worker */

typedef struct delivery {
    h2o_linklist_t *dirty;
    const hoso_hub_event *e;
    int agency_stream;
    hoso_hub_json json;
    uint64_t queued;
} delivery;

static void deliver_one(void *ctx, hoso_hub_member *m)
{
    delivery *d = ctx;
    d->queued += (uint64_t)hoso__ws_deliver(m->ws, d->e, d->agency_stream, &d->json);
    if (!h2o_linklist_is_linked(&m->dirty))
        h2o_linklist_insert(d->dirty, &m->dirty);
}

static void on_batches(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    hoso_hub *h = H2O_STRUCT_FROM_MEMBER(hoso_hub, rx, rx);
    h2o_linklist_t dirty;

    h2o_linklist_init_anchor(&dirty);
    for (h2o_linklist_t *l = messages->next; l != messages; l = l->next) {
        batch_msg *bm = H2O_STRUCT_FROM_MEMBER(batch_msg, msg.link, l);
        batch *b = bm->b;
        bm->queued = 0;
        for (size_t i = 0; h->subs.n > 0 && i < b->n; i++) {
            delivery d = {&dirty, &b->ev[i], 0, {{NULL, NULL}, {0, 0}, {0, 0}}, 0};
            hoso__index_each(&h->subs, HOSO_SUB_OWNER, d.e->owner, deliver_one, &d);
            if (d.e->agency[0] != '\0') {
                d.agency_stream = 1;
                hoso__index_each(&h->subs, HOSO_SUB_AGENCY, d.e->agency, deliver_one, &d);
            }
            bm->queued += d.queued;
            free(d.json.text[0]);
            free(d.json.text[1]);
        }
    }
    /* One send per touched connection for the whole lot. Flushing may free that
     * connection only, which unlinks it from `dirty` as well. */
    while (!h2o_linklist_is_empty(&dirty)) {
        hoso_hub_member *m = H2O_STRUCT_FROM_MEMBER(hoso_hub_member, dirty, dirty.next);
        h2o_linklist_unlink(&m->dirty);
        hoso__ws_flush(m->ws);
    }
    /* Every frame of these batches is now written or queued behind a write in
     * progress: the delay since each batch's commit is counted once per frame, as of
     * the end of the whole pass (an upper bound for the connections flushed first).
     * Connections copied what they queued: the batches may go. */
    uint64_t now = hoso__now_usec();
    while (!h2o_linklist_is_empty(messages)) {
        batch_msg *bm = H2O_STRUCT_FROM_MEMBER(batch_msg, msg.link, messages->next);
        h2o_linklist_unlink(&bm->msg.link);
        if (bm->queued > 0)
            hoso_metrics_ws_push_delay(now > bm->b->born_usec ? now - bm->b->born_usec : 0, bm->queued);
        batch_release(bm->b);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Timers */

static void on_tick(uv_timer_t *t)
{
    hoso_hub *h = H2O_STRUCT_FROM_MEMBER(hoso_hub, tick, t);
    int64_t now = hoso_now_ms();
    h2o_linklist_t *l = h->all.next;
    while (l != &h->all) {
        hoso_hub_member *m = H2O_STRUCT_FROM_MEMBER(hoso_hub_member, all, l);
        l = l->next; /* the tick may free this connection, never another one */
        hoso__ws_tick(m->ws, now);
    }
}

static void on_replay(uv_timer_t *t)
{
    hoso_hub *h = H2O_STRUCT_FROM_MEMBER(hoso_hub, replay_timer, t);
    size_t budget = REPLAY_BUDGET, count = 0, progress = 0;

    for (h2o_linklist_t *l = h->replaying.next; l != &h->replaying; l = l->next)
        count++;
    /* Round robin: each connection in turn gets a chunk, then goes to the back; a few
     * replaying connections share the whole budget. */
    size_t chunk = count > 0 ? budget / count : budget;
    if (chunk < REPLAY_CHUNK)
        chunk = REPLAY_CHUNK;
    while (count-- > 0 && budget > 0 && !h2o_linklist_is_empty(&h->replaying)) {
        hoso_hub_member *m = H2O_STRUCT_FROM_MEMBER(hoso_hub_member, replay, h->replaying.next);
        int again = 0;
        h2o_linklist_unlink(&m->replay);
        size_t n = hoso__ws_replay(m->ws, budget < chunk ? budget : chunk, &again);
        budget -= n;
        progress += n;
        if (again)
            h2o_linklist_insert(&h->replaying, &m->replay);
        hoso__ws_flush(m->ws);
    }
    /* Not 0 from inside the timer's own callback: libuv before 1.48 runs such a timer
     * again in the same pass, before any I/O, and the loop would replay until every
     * queue is half full without serving anyone else. 1 ms lets I/O in between. */
    if (!h2o_linklist_is_empty(&h->replaying))
        uv_timer_start(&h->replay_timer, on_replay, progress > 0 ? 1 : REPLAY_WAIT_MS, 0);
}

void hoso__hub_want_replay(hoso_hub *h, hoso_hub_member *m)
{
    if (!h2o_linklist_is_linked(&m->replay))
        h2o_linklist_insert(&h->replaying, &m->replay);
    /* On the next turn of the loop, also when the timer was waiting REPLAY_WAIT_MS for
     * a send queue to drain: a connection calls this when its queue did. */
    uv_timer_start(&h->replay_timer, on_replay, 0, 0);
}

/* ---------------------------------------------------------------------------------- */
/* Life of the hub */

int hoso__hub_init(hoso_worker *w)
{
    const hoso_config *cfg = &w->srv->cfg;
    hoso_hub *h = calloc(1, sizeof(*h));
    unsigned tick;

    if (h == NULL || hoso__index_init(&h->subs) != 0) {
        free(h);
        return HOSO_ENOMEM;
    }
    h->w = w;
    h2o_linklist_init_anchor(&h->all);
    h2o_linklist_init_anchor(&h->replaying);
    h2o_multithread_register_receiver(w->ctx.queue, &h->rx, on_batches);
    uv_timer_init(&w->loop, &h->tick);
    uv_timer_init(&w->loop, &h->replay_timer);
    uv_timer_init(&w->loop, &h->stop_timer);
    h->open_handles = 3;
    /* Deadlines are checked a few times per period so none is late by much; one timer
     * walks all connections, which stays cheap at one run per second. */
    tick = 1000;
    if (cfg->ws_ping_ms / 4 < tick)
        tick = cfg->ws_ping_ms / 4;
    if (cfg->ws_idle_ms / 4 < tick)
        tick = cfg->ws_idle_ms / 4;
    if (cfg->ws_auth_ms / 4 < tick)
        tick = cfg->ws_auth_ms / 4;
    if (tick < 20)
        tick = 20;
    h->tick_ms = tick;
    uv_timer_start(&h->tick, on_tick, tick, tick);
    /* The tick alone must not keep a stopping loop alive. */
    uv_unref((uv_handle_t *)&h->tick);
    w->hub = h;
    return 0;
}

static void each_shutdown(hoso_hub *h, int force)
{
    size_t count = 0;
    for (h2o_linklist_t *l = h->all.next; l != &h->all; l = l->next)
        count++;
    h2o_linklist_t *l = h->all.next;
    while (count-- > 0 && l != &h->all) {
        hoso_hub_member *m = H2O_STRUCT_FROM_MEMBER(hoso_hub_member, all, l);
        l = l->next;
        hoso__ws_shutdown(m->ws, force);
    }
}

static void on_stop_grace(uv_timer_t *t)
{
    hoso_hub *h = H2O_STRUCT_FROM_MEMBER(hoso_hub, stop_timer, t);
    each_shutdown(h, 1);
}

void hoso__hub_stop(hoso_worker *w)
{
    hoso_hub *h = w->hub;
    if (h == NULL || h->stopping)
        return;
    h->stopping = 1;
    each_shutdown(h, 0);
    uv_timer_start(&h->stop_timer, on_stop_grace, STOP_GRACE_MS, 0);
}

static void on_handle_closed(uv_handle_t *handle)
{
    hoso_hub *h = handle->data;
    if (--h->open_handles == 0) {
        hoso__index_dispose(&h->subs);
        free(h);
    }
}

void hoso__hub_dispose(hoso_worker *w)
{
    hoso_hub *h = w->hub;
    if (h == NULL)
        return;
    /* The writer is joined: nobody posts any more, and what was posted but not
     * delivered is only released. */
    while (!h2o_linklist_is_empty(&h->rx._messages)) {
        batch_msg *bm = H2O_STRUCT_FROM_MEMBER(batch_msg, msg.link, h->rx._messages.next);
        h2o_linklist_unlink(&bm->msg.link);
        batch_release(bm->b);
    }
    h2o_multithread_unregister_receiver(w->ctx.queue, &h->rx);
    w->hub = NULL;
    uv_handle_t *handles[] = {(uv_handle_t *)&h->tick, (uv_handle_t *)&h->replay_timer,
                              (uv_handle_t *)&h->stop_timer};
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++) {
        handles[i]->data = h;
        uv_close(handles[i], on_handle_closed);
    }
}
