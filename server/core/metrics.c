/*
 * metrics.c - Prometheus counters and histograms. Every counter is a relaxed atomic in
 * a fixed array indexed by route and status slot, so a request never takes a lock or
 * allocates to be counted; rendering reads the arrays without stopping anyone (the
 * exposition may be a few increments inconsistent, which Prometheus tolerates).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "runtime.h"

#define MAX_ROUTES 64
#define UNMATCHED MAX_ROUTES /* requests that matched no route: 404, 405 */

static const int status_slots[] = {200, 201, 204, 400, 401, 403, 404, 405, 409, 410,
                                   413, 415, 422, 429, 500, 503, 0 /* other */};
#define NSTATUS (sizeof(status_slots) / sizeof(status_slots[0]))

/* Upper bounds in microseconds; the exposition prints them in seconds. */
static const uint64_t lat_bounds[] = {250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
                                      1000000, 2500000};
#define NLAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

static const uint64_t batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define NBATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))

typedef struct histo_lat {
    _Atomic uint64_t b[NLAT + 1]; /* last: +Inf */
    _Atomic uint64_t sum_usec; /* the count is the sum of the buckets */
} histo_lat;

static struct {
    _Atomic uint64_t requests[MAX_ROUTES + 1][NSTATUS];
    histo_lat latency[MAX_ROUTES + 1];
    _Atomic uint64_t batch[NBATCH + 1];
    _Atomic uint64_t batch_sum, batch_count;
    histo_lat commit;
    _Atomic uint64_t commits;
    _Atomic uint64_t sync_reads, sync_events, snapshots, snapshot_dossiers, snapshot_papers;
    _Atomic uint64_t sync_ops[3]; /* applied, duplicate, rejected */
} M;

/* Sign-in refusals by cause, in the order of hoso_metrics_throttled's names. */
static const char *const THROTTLE_BY[] = {"account", "address", "registrations", "busy", "bot", "lookup"};
#define NTHROTTLE (sizeof(THROTTLE_BY) / sizeof(THROTTLE_BY[0]))
static _Atomic uint64_t throttled[NTHROTTLE];

void hoso_metrics_throttled(const char *by)
{
    for (size_t i = 0; i < NTHROTTLE; i++)
        if (strcmp(by, THROTTLE_BY[i]) == 0)
            atomic_fetch_add_explicit(&throttled[i], 1, memory_order_relaxed);
}

/* WebSocket push. Bounds of the replay histogram are event counts. */
static const uint64_t replay_bounds[] = {0, 1, 10, 100, 1000, 10000};
#define NREPLAY (sizeof(replay_bounds) / sizeof(replay_bounds[0]))
/* Push delay bounds in microseconds: finer than the request histogram's, since a
 * live event is expected within a millisecond of its commit. */
static const uint64_t push_bounds[] = {50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000};
#define NPUSH (sizeof(push_bounds) / sizeof(push_bounds[0]))

static struct {
    _Atomic int64_t conns;
    _Atomic uint64_t delivered, acks, slow_closes;
    _Atomic uint64_t replay[NREPLAY + 1], replay_sum, replay_count;
    _Atomic uint64_t push[NPUSH + 1], push_sum_usec;
} WS;

/* The route table the counters are indexed by (one per process). */
static const hoso_route *routes;
static size_t nroutes;

void hoso__metrics_init(const hoso_route *table, size_t n)
{
    memset(&M, 0, sizeof(M));
    memset(&WS, 0, sizeof(WS));
    memset(throttled, 0, sizeof(throttled));
    routes = table;
    nroutes = n;
}

static size_t route_slot(const hoso_route *route)
{
    if (route == NULL || routes == NULL || route < routes || route >= routes + nroutes)
        return UNMATCHED;
    size_t i = (size_t)(route - routes);
    return i < MAX_ROUTES ? i : UNMATCHED;
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i + 1 < NSTATUS; i++)
        if (status_slots[i] == status)
            return i;
    return NSTATUS - 1;
}

static void lat_observe(histo_lat *h, uint64_t usec)
{
    size_t i = 0;
    while (i < NLAT && usec > lat_bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_usec, usec, memory_order_relaxed);
}

static uint64_t ld(_Atomic uint64_t *p);

static uint64_t lat_count(histo_lat *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= NLAT; i++)
        n += ld(&h->b[i]);
    return n;
}

void hoso_metrics_request(const hoso_route *route, int http_status, uint64_t usec)
{
    size_t r = route_slot(route);
    atomic_fetch_add_explicit(&M.requests[r][status_slot(http_status)], 1, memory_order_relaxed);
    lat_observe(&M.latency[r], usec);
}

void hoso_metrics_batch(size_t ops, uint64_t commit_usec)
{
    size_t i = 0;
    while (i < NBATCH && ops > batch_bounds[i])
        i++;
    atomic_fetch_add_explicit(&M.batch[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.batch_sum, ops, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.batch_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.commits, 1, memory_order_relaxed);
    lat_observe(&M.commit, commit_usec);
}

void hoso_metrics_sync_read(size_t events)
{
    atomic_fetch_add_explicit(&M.sync_reads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.sync_events, events, memory_order_relaxed);
}

void hoso_metrics_sync_snapshot(size_t dossiers, size_t papers)
{
    atomic_fetch_add_explicit(&M.snapshots, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.snapshot_dossiers, dossiers, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.snapshot_papers, papers, memory_order_relaxed);
}

void hoso_metrics_sync_ops(size_t applied, size_t duplicate, size_t rejected)
{
    atomic_fetch_add_explicit(&M.sync_ops[0], applied, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.sync_ops[1], duplicate, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.sync_ops[2], rejected, memory_order_relaxed);
}


void hoso_metrics_ws_conns(int delta)
{
    atomic_fetch_add_explicit(&WS.conns, delta, memory_order_relaxed);
}

void hoso_metrics_ws_delivered(uint64_t n)
{
    atomic_fetch_add_explicit(&WS.delivered, n, memory_order_relaxed);
}

void hoso_metrics_ws_push_delay(uint64_t usec, uint64_t deliveries)
{
    size_t i = 0;
    while (i < NPUSH && usec > push_bounds[i])
        i++;
    atomic_fetch_add_explicit(&WS.push[i], deliveries, memory_order_relaxed);
    atomic_fetch_add_explicit(&WS.push_sum_usec, usec * deliveries, memory_order_relaxed);
}

void hoso_metrics_ws_replay(uint64_t events)
{
    size_t i = 0;
    while (i < NREPLAY && events > replay_bounds[i])
        i++;
    atomic_fetch_add_explicit(&WS.replay[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&WS.replay_sum, events, memory_order_relaxed);
    atomic_fetch_add_explicit(&WS.replay_count, 1, memory_order_relaxed);
}

void hoso_metrics_ws_ack(void)
{
    atomic_fetch_add_explicit(&WS.acks, 1, memory_order_relaxed);
}

void hoso_metrics_ws_slow_close(void)
{
    atomic_fetch_add_explicit(&WS.slow_closes, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------------- */
/* Rendering */


void hoso_sbuf_printf(msgpack_sbuffer *buf, const char *fmt, ...)
{
    char stack[1024], *p = stack;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof(stack), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(stack)) {
        if ((p = malloc((size_t)n + 1)) == NULL)
            return; /* a line that does not fit in memory is left out */
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    msgpack_sbuffer_write(buf, p, (size_t)n);
    if (p != stack)
        free(p);
}

static uint64_t ld(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static void render_ws(hoso_server *srv, msgpack_sbuffer *buf)
{
    uint64_t cum = 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        hoso_sbuf_printf(buf, "# HELP process_max_fds Maximum number of open file descriptors.\n"
                 "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    hoso_sbuf_printf(buf, "# HELP hoso_ws_connections Open WebSocket connections.\n"
             "# TYPE hoso_ws_connections gauge\nhoso_ws_connections %lld\n"
             "# HELP hoso_ws_subscriptions Active WebSocket subscriptions.\n"
             "# TYPE hoso_ws_subscriptions gauge\nhoso_ws_subscriptions %lld\n",
        (long long)atomic_load_explicit(&WS.conns, memory_order_relaxed),
        (long long)atomic_load(&srv->ws_subscriptions));
    hoso_sbuf_printf(buf, "# HELP hoso_ws_events_delivered_total Event frames queued to WebSocket clients (live and replay).\n"
             "# TYPE hoso_ws_events_delivered_total counter\nhoso_ws_events_delivered_total %llu\n"
             "# HELP hoso_ws_acks_total Ack frames received.\n"
             "# TYPE hoso_ws_acks_total counter\nhoso_ws_acks_total %llu\n"
             "# HELP hoso_ws_slow_consumer_closes_total Connections closed with 4008.\n"
             "# TYPE hoso_ws_slow_consumer_closes_total counter\nhoso_ws_slow_consumer_closes_total %llu\n",
        (unsigned long long)ld(&WS.delivered), (unsigned long long)ld(&WS.acks),
        (unsigned long long)ld(&WS.slow_closes));
    hoso_sbuf_printf(buf, "# HELP hoso_ws_replay_events Events replayed from storage per subscription.\n"
             "# TYPE hoso_ws_replay_events histogram\n");
    for (size_t i = 0; i < NREPLAY; i++) {
        cum += ld(&WS.replay[i]);
        hoso_sbuf_printf(buf, "hoso_ws_replay_events_bucket{le=\"%llu\"} %llu\n", (unsigned long long)replay_bounds[i],
            (unsigned long long)cum);
    }
    cum += ld(&WS.replay[NREPLAY]);
    hoso_sbuf_printf(buf, "hoso_ws_replay_events_bucket{le=\"+Inf\"} %llu\nhoso_ws_replay_events_sum %llu\n"
             "hoso_ws_replay_events_count %llu\n",
        (unsigned long long)cum, (unsigned long long)ld(&WS.replay_sum), (unsigned long long)ld(&WS.replay_count));
    hoso_sbuf_printf(buf, "# HELP hoso_ws_push_delay_seconds Time from an event's commit (in cluster mode: its "
             "arrival from its node) to its frame handed to the subscriber's socket, one per delivery.\n"
             "# TYPE hoso_ws_push_delay_seconds histogram\n");
    cum = 0;
    for (size_t i = 0; i < NPUSH; i++) {
        cum += ld(&WS.push[i]);
        hoso_sbuf_printf(buf, "hoso_ws_push_delay_seconds_bucket{le=\"%g\"} %llu\n", (double)push_bounds[i] / 1e6,
            (unsigned long long)cum);
    }
    cum += ld(&WS.push[NPUSH]);
    hoso_sbuf_printf(buf, "hoso_ws_push_delay_seconds_bucket{le=\"+Inf\"} %llu\nhoso_ws_push_delay_seconds_sum %.6f\n"
             "hoso_ws_push_delay_seconds_count %llu\n",
        (unsigned long long)cum, (double)ld(&WS.push_sum_usec) / 1e6, (unsigned long long)cum);
}

static const char *route_label(size_t r)
{
    return r == UNMATCHED ? "unmatched" : routes[r].name;
}

static void render_lat(msgpack_sbuffer *buf, const char *name, const char *labels, histo_lat *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] != '\0' ? "," : "";
    for (size_t i = 0; i < NLAT; i++) {
        cum += ld(&h->b[i]);
        hoso_sbuf_printf(buf, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, (double)lat_bounds[i] / 1e6,
            (unsigned long long)cum);
    }
    cum += ld(&h->b[NLAT]);
    hoso_sbuf_printf(buf, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    const char *open = labels[0] != '\0' ? "{" : "", *close = labels[0] != '\0' ? "}" : "";
    hoso_sbuf_printf(buf, "%s_sum%s%s%s %.6f\n", name, open, labels, close, (double)ld(&h->sum_usec) / 1e6);
    hoso_sbuf_printf(buf, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)cum);
}

void hoso_metrics_render(hoso_server *srv, msgpack_sbuffer *buf)
{
    size_t nr = nroutes < MAX_ROUTES ? nroutes : MAX_ROUTES;
    char labels[128];

    hoso_sbuf_printf(buf, "# HELP hoso_http_requests_total HTTP requests by route and status.\n"
             "# TYPE hoso_http_requests_total counter\n");
    for (size_t r = 0; r <= nr; r++) {
        size_t slot = r == nr ? UNMATCHED : r;
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = ld(&M.requests[slot][s]);
            if (v == 0)
                continue;
            if (status_slots[s] != 0)
                hoso_sbuf_printf(buf, "hoso_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_label(slot),
                    status_slots[s], (unsigned long long)v);
            else
                hoso_sbuf_printf(buf, "hoso_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", route_label(slot),
                    (unsigned long long)v);
        }
    }

    hoso_sbuf_printf(buf, "# HELP hoso_http_request_duration_seconds Time from request to reply, by route.\n"
             "# TYPE hoso_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= nr; r++) {
        size_t slot = r == nr ? UNMATCHED : r;
        if (lat_count(&M.latency[slot]) == 0)
            continue;
        snprintf(labels, sizeof(labels), "route=\"%s\"", route_label(slot));
        render_lat(buf, "hoso_http_request_duration_seconds", labels, &M.latency[slot]);
    }

    hoso_sbuf_printf(buf, "# HELP hoso_writer_batch_size Operations committed together in one transaction.\n"
             "# TYPE hoso_writer_batch_size histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < NBATCH; i++) {
        cum += ld(&M.batch[i]);
        hoso_sbuf_printf(buf, "hoso_writer_batch_size_bucket{le=\"%llu\"} %llu\n", (unsigned long long)batch_bounds[i],
            (unsigned long long)cum);
    }
    cum += ld(&M.batch[NBATCH]);
    hoso_sbuf_printf(buf, "hoso_writer_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    hoso_sbuf_printf(buf, "hoso_writer_batch_size_sum %llu\nhoso_writer_batch_size_count %llu\n",
        (unsigned long long)ld(&M.batch_sum), (unsigned long long)ld(&M.batch_count));
    hoso_sbuf_printf(buf, "# HELP hoso_writer_commits_total Write transactions committed.\n"
             "# TYPE hoso_writer_commits_total counter\nhoso_writer_commits_total %llu\n",
        (unsigned long long)ld(&M.commits));
    hoso_sbuf_printf(buf, "# HELP hoso_writer_commit_duration_seconds Time to commit one batch (fsync included).\n"
             "# TYPE hoso_writer_commit_duration_seconds histogram\n");
    render_lat(buf, "hoso_writer_commit_duration_seconds", "", &M.commit);

    hoso_sbuf_printf(buf, "# HELP hoso_sync_reads_total Feed pages served by GET /v1/sync.\n"
             "# TYPE hoso_sync_reads_total counter\nhoso_sync_reads_total %llu\n"
             "# HELP hoso_sync_events_total Events returned by GET /v1/sync.\n"
             "# TYPE hoso_sync_events_total counter\nhoso_sync_events_total %llu\n",
        (unsigned long long)ld(&M.sync_reads), (unsigned long long)ld(&M.sync_events));
    hoso_sbuf_printf(buf, "# HELP hoso_sync_snapshots_total Snapshots served by GET /v1/sync/snapshot.\n"
             "# TYPE hoso_sync_snapshots_total counter\nhoso_sync_snapshots_total %llu\n"
             "# HELP hoso_sync_snapshot_items_total Dossiers and papers sent in snapshots.\n"
             "# TYPE hoso_sync_snapshot_items_total counter\n"
             "hoso_sync_snapshot_items_total{kind=\"dossier\"} %llu\n"
             "hoso_sync_snapshot_items_total{kind=\"paper\"} %llu\n",
        (unsigned long long)ld(&M.snapshots), (unsigned long long)ld(&M.snapshot_dossiers),
        (unsigned long long)ld(&M.snapshot_papers));
    hoso_sbuf_printf(buf, "# HELP hoso_sync_ops_total Offline queue items of POST /v1/sync by result.\n"
             "# TYPE hoso_sync_ops_total counter\n"
             "hoso_sync_ops_total{status=\"applied\"} %llu\nhoso_sync_ops_total{status=\"duplicate\"} %llu\n"
             "hoso_sync_ops_total{status=\"rejected\"} %llu\n",
        (unsigned long long)ld(&M.sync_ops[0]), (unsigned long long)ld(&M.sync_ops[1]),
        (unsigned long long)ld(&M.sync_ops[2]));

    render_ws(srv, buf);
    if (srv != NULL && srv->app.metrics != NULL)
        srv->app.metrics(buf);

    hoso_sbuf_printf(buf, "# HELP hoso_auth_throttled_total Requests refused with 429 by throttling, by cause.\n"
             "# TYPE hoso_auth_throttled_total counter\n");
    for (size_t i = 0; i < NTHROTTLE; i++)
        hoso_sbuf_printf(buf, "hoso_auth_throttled_total{by=\"%s\"} %llu\n", THROTTLE_BY[i],
            (unsigned long long)atomic_load_explicit(&throttled[i], memory_order_relaxed));

    if (srv != NULL) {
        hoso_store_stats st;
        memset(&st, 0, sizeof(st));
        if (hoso_store_stats_get(srv->store, &st) == 0) {
            hoso_sbuf_printf(buf, "# HELP hoso_lmdb_used_bytes Pages in use times page size.\n"
                     "# TYPE hoso_lmdb_used_bytes gauge\nhoso_lmdb_used_bytes %llu\n",
                (unsigned long long)st.used_bytes);
            hoso_sbuf_printf(buf, "# HELP hoso_storage_full 1 while writes fail for lack of space (map or disk), else 0.\n"
                     "# TYPE hoso_storage_full gauge\nhoso_storage_full %d\n"
                     "# HELP hoso_disk_free_bytes Free space of the data dir's file system.\n"
                     "# TYPE hoso_disk_free_bytes gauge\nhoso_disk_free_bytes %llu\n",
                st.full, (unsigned long long)st.disk_free);
            hoso_sbuf_printf(buf, "# HELP hoso_lmdb_map_size_bytes Configured LMDB map size.\n"
                     "# TYPE hoso_lmdb_map_size_bytes gauge\nhoso_lmdb_map_size_bytes %llu\n",
                (unsigned long long)st.map_size);
            hoso_sbuf_printf(buf, "# HELP hoso_log_head Last global log sequence.\n"
                     "# TYPE hoso_log_head gauge\nhoso_log_head %llu\n",
                (unsigned long long)st.log_head);
            hoso_sbuf_printf(buf, "# HELP hoso_lmdb_readers Reader slots in use / available.\n"
                     "# TYPE hoso_lmdb_readers gauge\nhoso_lmdb_readers{kind=\"used\"} %u\n"
                     "hoso_lmdb_readers{kind=\"max\"} %u\n",
                st.readers_used, st.max_readers);
        }
        hoso_sbuf_printf(buf, "# HELP hoso_process_start_time_seconds Start time of hosod since the Unix epoch.\n"
                 "# TYPE hoso_process_start_time_seconds gauge\nhoso_process_start_time_seconds %.3f\n",
            (double)srv->started_at_ms / 1e3);
        hoso_sbuf_printf(buf, "# HELP hoso_workers HTTP worker threads.\n# TYPE hoso_workers gauge\nhoso_workers %u\n",
            srv->nworkers);
        long conns = atomic_load_explicit(&srv->nconns, memory_order_relaxed);
        hoso_sbuf_printf(buf, "# HELP hoso_http_connections Open client connections.\n"
                 "# TYPE hoso_http_connections gauge\nhoso_http_connections %ld\n",
            conns);
        hoso_sbuf_printf(buf, "# HELP hoso_http_max_connections Client connections allowed at once (--max-connections).\n"
                 "# TYPE hoso_http_max_connections gauge\nhoso_http_max_connections %ld\n"
                 "# HELP hoso_http_connections_refused_total Connections answered 503 and closed at once: at "
                 "--max-connections (limit) or out of open files (files).\n"
                 "# TYPE hoso_http_connections_refused_total counter\n"
                 "hoso_http_connections_refused_total{reason=\"limit\"} %llu\n"
                 "hoso_http_connections_refused_total{reason=\"files\"} %llu\n",
            srv->max_conns, (unsigned long long)atomic_load(&srv->refused_limit),
            (unsigned long long)atomic_load(&srv->refused_files));
    }
}
