/*
 * server.c - `hosod serve`: opens the store, seeds the catalogue, starts the writer and
 * the HTTP workers (one uv loop, h2o context and SO_REUSEPORT listener each), waits for
 * SIGINT/SIGTERM, then stops in order: no new connections, the writer finishes what is
 * queued, workers deliver those replies, the loops end, the store closes.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "push/push.h"

/* An accepted connection: h2o keeps the uv handle's data for itself, so the worker
 * is found through this wrapper in the close callback. */
typedef struct conn {
    uv_tcp_t tcp;
    hoso_worker *w;
} conn;

/* A server whose workers could not be disposed (connections still open at exit). */
static hoso_server *leftover;

void hoso_config_default(hoso_config *cfg)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    cfg->port = 8080;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./var");
    cfg->workers = n > 0 ? (unsigned)n : 1;
    hoso_limits_default(&cfg->limits);
    cfg->session_ttl_ms = 30LL * 24 * 3600 * 1000;
    cfg->max_batch = 1024;
    cfg->ws_max_pending = 1 << 20;
    cfg->max_file = 10u << 20;
    cfg->ws_max_pending_msgs = 1000;
    cfg->ws_ping_ms = 25000;
    cfg->ws_idle_ms = 60000;
    cfg->ws_auth_ms = 10000;
    cfg->log_level = HOSO_LOG_INFO;
    cfg->log_format = HOSO_LOG_TEXT;
}

void hoso_config_feed_retention(const hoso_config *cfg, hoso_store_options *so)
{
    unsigned days = cfg->feed_max_age_days ? cfg->feed_max_age_days : HOSO_FEED_MAX_AGE_DAYS_DEFAULT;
    so->feed_max_events = cfg->feed_max_events ? cfg->feed_max_events : HOSO_FEED_MAX_EVENTS_DEFAULT;
    so->feed_max_age_ms = (int64_t)days * 24 * 3600 * 1000;
}

hoso_store *hoso_server_store(hoso_server *srv)
{
    return srv->store;
}

const hoso_config *hoso_server_config(hoso_server *srv)
{
    return &srv->cfg;
}

int hoso_server_add_event_sink(hoso_server *srv, hoso_event_sink fn, void *ctx)
{
    int err = 0;
    pthread_mutex_lock(&srv->sinks_lock);
    if (srv->nsinks == HOSO_MAX_SINKS) {
        err = HOSO_ENOMEM;
    } else {
        srv->sinks[srv->nsinks].fn = fn;
        srv->sinks[srv->nsinks].ctx = ctx;
        srv->nsinks++;
    }
    pthread_mutex_unlock(&srv->sinks_lock);
    return err;
}

void hoso__server_publish(hoso_server *srv, const hoso_event *ev, size_t n)
{
    pthread_mutex_lock(&srv->sinks_lock);
    for (size_t i = 0; i < srv->nsinks; i++)
        srv->sinks[i].fn(srv->sinks[i].ctx, ev, n);
    pthread_mutex_unlock(&srv->sinks_lock);
}

int hoso__worker_read(hoso_worker *w, hoso_txn **out)
{
    int err;
    if (w->rtxn == NULL) {
        if ((err = hoso_txn_read(w->srv->store, &w->rtxn)) != 0) {
            w->rtxn = NULL;
            return err;
        }
    } else if ((err = hoso_txn_renew(w->rtxn)) != 0) {
        return err;
    }
    *out = w->rtxn;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* The data dir */

/* A mistyped --data must not start an empty server beside the real data: only
 * --create makes a new store. Then the serving lock, so that a second hosod on the
 * same dir is refused instead of interleaving its commits and pushes with ours. */
static int open_data_dir(hoso_server *srv)
{
    const char *dir = srv->cfg.data_dir;
    hoso_store_options so;
    long holder = 0;
    int err;

    if (!hoso_store_exists(dir)) {
        if (!srv->cfg.create) {
            hoso_log(HOSO_LOG_ERROR, "%s holds no hoso data: check --data, or add --create to make a new data dir there",
                    dir);
            return HOSO_ENOT_FOUND;
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            hoso_log(HOSO_LOG_ERROR, "cannot create the data dir %s: %s", dir, strerror(errno));
            return HOSO_EIO;
        }
    }
    if ((err = hoso_dir_lock(dir, &srv->lock_fd, &holder)) != 0) {
        if (err == HOSO_ELOCKED)
            hoso_log(HOSO_LOG_ERROR, "%s is served by another hosod (pid %ld): one server per data dir", dir, holder);
        return err;
    }
    memset(&so, 0, sizeof(so));
    so.max_readers = 1024 > srv->cfg.workers * 4 + 64 ? 1024 : srv->cfg.workers * 4 + 64;
    hoso_config_feed_retention(&srv->cfg, &so);
    so.map_size = (size_t)srv->cfg.map_size;
    if ((err = hoso_store_open(&srv->store, dir, &so)) != 0) {
        hoso_log(HOSO_LOG_ERROR, "cannot open the data dir %s: %s", dir, hoso_err_message(err));
        return err;
    }
    /* Upload bytes a crash or a race left behind: nothing serves them, nothing else
     * would ever remove them. */
    size_t parts = 0, files = 0;
    if ((err = hoso_blobs_tidy(srv->store, &parts, &files)) != 0)
        hoso_log(HOSO_LOG_WARN, "cannot tidy %s/uploads and files: %s", dir, hoso_err_message(err));
    else if (parts + files > 0)
        hoso_log(HOSO_LOG_INFO, "removed %zu upload parts and %zu files that nothing refers to", parts, files);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Listening sockets */

/* Each worker binds its own socket to the same address; SO_REUSEPORT lets the kernel
 * spread connections over them, since a libuv loop cannot hand a connection to
 * another loop. With port 0 the first bind picks the port and the others follow. */
static int open_listener(hoso_server *srv, int reuseport, int *fd_out)
{
    struct addrinfo hints, *ai = NULL;
    char port[8];
    int fd = -1, one = 1, err = HOSO_EIO;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(port, sizeof(port), "%u", srv->cfg.port);
    if (getaddrinfo(srv->cfg.host, port, &hints, &ai) != 0 || ai == NULL) {
        hoso_log(HOSO_LOG_ERROR, "%s is not a numeric address", srv->cfg.host);
        goto Exit;
    }
    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        hoso_log(HOSO_LOG_ERROR, "cannot listen on %s:%u: %s", srv->cfg.host, srv->cfg.port, strerror(errno));
        goto Exit;
    }
    if (srv->cfg.port == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            srv->cfg.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                           : ((struct sockaddr_in *)&ss)->sin_port);
    }
    *fd_out = fd;
    fd = -1;
    err = 0;
Exit:
    if (fd >= 0)
        close(fd);
    if (ai != NULL)
        freeaddrinfo(ai);
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* Workers */

static void on_conn_close(uv_handle_t *h)
{
    conn *c = (conn *)h;
    atomic_fetch_sub(&c->w->conns, 1);
    atomic_fetch_sub(&c->w->srv->nconns, 1);
    free(c);
}

/* What a connection past --max-connections, or one shed out of files, reads before
 * the close: the error shape of every 503 (plain HTTP only; a TLS client gets the
 * close alone). */
#define BUSY_BODY "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections; retry later\"}}"
static const char busy_reply[] = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                                 "retry-after: 5\r\nconnection: close\r\ncontent-length: 78\r\n\r\n" BUSY_BODY;
_Static_assert(sizeof(BUSY_BODY) - 1 == 78, "content-length of busy_reply");

/* Connections taken from the queue per wake-up: the loop's other work is never
 * kept waiting behind a burst of connections. */
#define ACCEPT_BATCH 64

/* 1 at most once a minute for *last (monotonic ms of the last 1), from any thread. */
static int minute_passed(_Atomic int64_t *last)
{
    int64_t now = (int64_t)(hoso__now_usec() / 1000), was = atomic_load(last);
    return (was == 0 || now - was >= 60000) && atomic_compare_exchange_strong(last, &was, now);
}

/* Warns at most once a minute per cause, with the count so far. */
static void warn_shed(hoso_server *srv, int files)
{
    if (!minute_passed(&srv->shed_warned_ms[files]))
        return;
    hoso_log(HOSO_LOG_WARN, "connections: %s (%llu so far; hoso_http_connections_refused_total)",
             files ? "out of open files, connections that cannot be accepted are refused with 503; raise the "
                     "limit (process_max_fds) or lower --max-connections"
                   : "at --max-connections, new connections get 503",
             (unsigned long long)atomic_load(files ? &srv->refused_files : &srv->refused_limit));
}

/* The 503, then the close. What the client already sent is read away first: a close
 * with unread bytes would be a reset, which may destroy the reply before it is read. */
static void refuse(hoso_worker *w, int fd, int files)
{
    char scratch[4096];
    if (w->srv->tls == NULL && write(fd, busy_reply, sizeof(busy_reply) - 1) < 0) {
        /* the close says it as well */
    }
    for (int i = 0; i < 4 && recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) > 0; i++) {
    }
    close(fd);
    atomic_fetch_add(files ? &w->srv->refused_files : &w->srv->refused_limit, 1);
    warn_shed(w->srv, files);
}

static void on_relisten(uv_timer_t *t);
static void on_listen(uv_poll_t *p, int status, int events);

/* Out of files with connections queued: pause for a second rather than be woken for
 * them again and again (the poll is level-triggered). They wait in the queue. */
static void pause_listening(hoso_worker *w, const char *why)
{
    uv_poll_stop(&w->listen_poll);
    w->listening = 0;
    if (!w->draining)
        uv_timer_start(&w->relisten, on_relisten, 1000, 0);
    if (minute_passed(&w->paused_warned_ms))
        hoso_log(HOSO_LOG_WARN, "worker %u: not accepting for a second (%s); connections for this worker wait "
                 "in its queue", w->index, why);
}

static void on_relisten(uv_timer_t *t)
{
    hoso_worker *w = H2O_STRUCT_FROM_MEMBER(hoso_worker, relisten, t);
    if (w->draining || w->listening)
        return;
    if (w->spare_fd < 0)
        w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w->listening = 1;
    uv_poll_start(&w->listen_poll, UV_READABLE, on_listen);
}

/* The accept loop is hosod's, not libuv's: libuv retries an accept that fails with
 * EMFILE without going back to the loop once its own reserve descriptor is gone, and
 * a worker then serves nobody, for good. Out of files, each queued connection is
 * taken through the worker's spare descriptor and refused; when there is not even
 * that, accepting pauses. */
static void on_listen(uv_poll_t *p, int status, int events)
{
    hoso_worker *w = H2O_STRUCT_FROM_MEMBER(hoso_worker, listen_poll, p);
    hoso_server *srv = w->srv;
    (void)events;
    if (status != 0) {
        /* libuv stopped the poll on an error of the socket: try again in a second */
        pause_listening(w, uv_strerror(status));
        return;
    }
    for (int n = 0; n < ACCEPT_BATCH && w->listening; n++) {
        int fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK)
                return; /* the queue is empty */
            if (err == EINTR || err == ECONNABORTED || err == EPROTO)
                continue;
            if (err != EMFILE && err != ENFILE) {
                /* the connection stays queued and the poll would wake at once again */
                pause_listening(w, strerror(err));
                return;
            }
            if (w->spare_fd < 0) {
                pause_listening(w, "out of open files");
                return;
            }
            close(w->spare_fd);
            fd = accept4(w->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            err = errno;
            if (fd >= 0)
                refuse(w, fd, 1);
            w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0 && (err == EAGAIN || err == EWOULDBLOCK))
                return;
            if (fd < 0 && (err == EMFILE || err == ENFILE)) /* another thread took the descriptor */
                pause_listening(w, "out of open files");
            continue;
        }
        if (atomic_fetch_add(&srv->nconns, 1) >= srv->max_conns) {
            atomic_fetch_sub(&srv->nconns, 1);
            refuse(w, fd, 0);
            continue;
        }
        conn *c = malloc(sizeof(*c));
        if (c == NULL) {
            atomic_fetch_sub(&srv->nconns, 1);
            close(fd);
            continue;
        }
        c->w = w;
        uv_tcp_init(&w->loop, &c->tcp);
        if (uv_tcp_open(&c->tcp, fd) != 0) {
            atomic_fetch_sub(&srv->nconns, 1);
            close(fd); /* libuv owns it only once opened */
            uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
            continue;
        }
        /* Without TCP_NODELAY small replies wait for delayed ACKs (docs/benchmarks.md). */
        uv_tcp_nodelay(&c->tcp, 1);
        atomic_fetch_add(&w->conns, 1);
        h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_close);
        h2o_accept(&w->accept_ctx, sock);
    }
}

static void on_listen_closed(uv_handle_t *h)
{
    hoso_worker *w = H2O_STRUCT_FROM_MEMBER(hoso_worker, listen_poll, (uv_poll_t *)h);
    close(w->listen_fd); /* after libuv let go of it */
    w->listen_fd = -1;
}

/* No new connections: the socket closes (its queue is reset), the poll handle goes. */
static void stop_listening(hoso_worker *w)
{
    uv_timer_stop(&w->relisten);
    w->listening = 0;
    if (w->listen_fd >= 0 && !uv_is_closing((uv_handle_t *)&w->listen_poll))
        uv_close((uv_handle_t *)&w->listen_poll, on_listen_closed);
}

static void on_ctl(uv_async_t *a)
{
    hoso_worker *w = H2O_STRUCT_FROM_MEMBER(hoso_worker, ctl, a);
    int phase = atomic_load(&w->stop_phase);
    hoso__tls_take(w);
    if (phase >= 1 && !w->draining) {
        w->draining = 1;
        stop_listening(w);
        /* Persistent HTTP/1 connections close after their next reply, HTTP/2 gets GOAWAY. */
        h2o_context_request_shutdown(&w->ctx);
        /* WebSocket connections get close 1001; h2o knows nothing of them. */
        hoso__hub_stop(w);
    }
    if (phase >= 2)
        uv_stop(&w->loop);
}

static void on_log_flush(uv_check_t *c)
{
    hoso_log_thread_flush();
}

/* hoso_worker_post: a function to run on a worker, from any thread. */
typedef struct post_msg {
    h2o_multithread_message_t msg;
    void (*fn)(void *arg);
    void *arg;
} post_msg;

static void on_post(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    (void)rx;
    while (!h2o_linklist_is_empty(messages)) {
        post_msg *m = H2O_STRUCT_FROM_MEMBER(post_msg, msg.link, messages->next);
        h2o_linklist_unlink(&m->msg.link);
        m->fn(m->arg);
        free(m);
    }
}

int hoso_worker_post(hoso_worker *w, void (*fn)(void *arg), void *arg)
{
    post_msg *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return HOSO_ENOMEM;
    m->fn = fn;
    m->arg = arg;
    h2o_multithread_send_message(&w->post_rx, &m->msg);
    return 0;
}

void hoso_server_push_remote(hoso_server *srv, const hoso_event *ev, size_t n, int agency)
{
    /* Once stopping, the hubs are on their way out (app->quiesce ends these calls). */
    if (atomic_load(&srv->stopping))
        return;
    hoso__hub_publish_from(srv, ev, n, agency ? HOSO_HUB_AGENCY : HOSO_HUB_OWNER);
}

static int worker_init(hoso_server *srv, hoso_worker *w, unsigned index, int fd)
{
    int r;
    w->srv = srv;
    w->index = index;
    uv_loop_init(&w->loop);
    w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w->listen_fd = -1;
    uv_timer_init(&w->loop, &w->relisten);
    uv_unref((uv_handle_t *)&w->relisten);
    /* The host is registered on the shared globalconf before any context exists. */
    h2o_context_init(&w->ctx, &w->loop, &srv->globalconf);
    h2o_multithread_register_receiver(w->ctx.queue, &w->done_rx, hoso__writer_on_done);
    h2o_multithread_register_receiver(w->ctx.queue, &w->offload_rx, hoso__offload_on_done);
    h2o_multithread_register_receiver(w->ctx.queue, &w->post_rx, on_post);
    uv_async_init(&w->loop, &w->ctl, on_ctl);
    uv_check_init(&w->loop, &w->log_flush);
    uv_check_start(&w->log_flush, on_log_flush);
    uv_unref((uv_handle_t *)&w->log_flush);
    if (hoso__hub_init(w) != 0) {
        close(fd);
        hoso_log(HOSO_LOG_ERROR, "worker %u: out of memory", index);
        return HOSO_ENOMEM;
    }
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = srv->globalconf.hosts;
    if (srv->tls != NULL) {
        SSL_CTX_up_ref(srv->tls);
        w->accept_ctx.ssl_ctx = srv->tls;
    }
    if ((r = uv_poll_init_socket(&w->loop, &w->listen_poll, fd)) != 0) {
        close(fd);
        hoso_log(HOSO_LOG_ERROR, "worker %u cannot listen: %s", index, uv_strerror(r));
        return HOSO_EIO;
    }
    w->listen_fd = fd; /* from here stop_listening closes it */
    if ((r = uv_poll_start(&w->listen_poll, UV_READABLE, on_listen)) != 0) {
        hoso_log(HOSO_LOG_ERROR, "worker %u cannot listen: %s", index, uv_strerror(r));
        return HOSO_EIO;
    }
    w->listening = 1;
    return 0;
}

/* h2o 2.2 keeps per-thread caches (socket buffers, pool chunks, HTTP/2 write
 * buffers) in thread-local storage with no call to release them. A worker thread that
 * exited would turn them into leaks; instead a finished worker reports and then parks
 * until the process exits, which reclaims its caches with everything else. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;

static void park_forever(hoso_worker *w)
{
    pthread_mutex_lock(&park_lock);
    w->finished = 1;
    pthread_cond_broadcast(&park_cond);
    for (;;)
        pthread_cond_wait(&park_cond, &park_lock);
}

static void wait_finished(hoso_worker *w)
{
    pthread_mutex_lock(&park_lock);
    while (!w->finished)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
}

static void *worker_main(void *arg)
{
    hoso_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    hoso_log_thread_flush();
    /* The read txn is bound to this thread: end it here. */
    if (w->rtxn != NULL) {
        hoso_txn_abort(w->rtxn);
        w->rtxn = NULL;
    }
    park_forever(w);
    return NULL;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Frees a worker's loop and context once no connection is left. With connections
 * still open (a client keeping an idle keep-alive past the grace period) h2o cannot
 * dispose its context, so the loop is left as is for the process exit to reclaim.
 * Returns 1 when disposed. */
static int worker_dispose(hoso_worker *w)
{
    /* A hash still running would post its result to this worker's queue. */
    if (atomic_load(&w->conns) != 0 || atomic_load(&w->inflight) != 0)
        return 0;
    stop_listening(w);
    uv_close((uv_handle_t *)&w->relisten, NULL);
    if (w->spare_fd >= 0)
        close(w->spare_fd);
    w->spare_fd = -1;
    uv_close((uv_handle_t *)&w->ctl, NULL);
    uv_close((uv_handle_t *)&w->log_flush, NULL);
    /* h2o_context_request_shutdown armed the HTTP/2 GOAWAY timer; dispose asserts that
     * no timer is pending. */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->done_rx);
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->offload_rx);
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->post_rx);
    hoso__hub_dispose(w);
    h2o_context_dispose(&w->ctx);
    if (w->accept_ctx.ssl_ctx != NULL)
        SSL_CTX_free(w->accept_ctx.ssl_ctx);
    w->accept_ctx.ssl_ctx = NULL;
    hoso__tls_take(w); /* a reload that came too late is freed with the rest */
    if (w->accept_ctx.ssl_ctx != NULL)
        SSL_CTX_free(w->accept_ctx.ssl_ctx);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0) {
        uv_walk(&w->loop, close_walk, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
    }
    return 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long total(hoso_server *srv, int conns)
{
    long n = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        n += atomic_load(conns ? &srv->workers[i].conns : &srv->workers[i].inflight);
    return n;
}

static void tell_workers(hoso_server *srv, int phase)
{
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (!srv->workers[i].started)
            continue;
        atomic_store(&srv->workers[i].stop_phase, phase);
        uv_async_send(&srv->workers[i].ctl);
    }
}

/* ---------------------------------------------------------------------------------- */

/* A server of WebSockets holds one descriptor per connected phone, and the soft limit
 * on open files is often 1024: it is raised to the hard limit, which only the
 * operator can raise (LimitNOFILE= in a systemd unit, ulimit -Hn). /metrics shows the
 * limit in force as process_max_fds. */
static void raise_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_max < 4096)
        hoso_log(HOSO_LOG_WARN, "open files: the hard limit is %llu, so fewer WebSocket clients than that can "
                 "connect; raise it (LimitNOFILE=, ulimit -Hn)", (unsigned long long)rl.rlim_max);
    if (rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    /* "unlimited" is not a valid soft limit for descriptors: the kernel's own cap is */
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
    if (rl.rlim_cur <= was)
        return;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        hoso_log(HOSO_LOG_WARN, "open files: the limit stays %llu (%s)", (unsigned long long)was, strerror(errno));
        return;
    }
    hoso_log(HOSO_LOG_INFO, "open files: limit raised from %llu to %llu", (unsigned long long)was,
             (unsigned long long)rl.rlim_cur);
}

/* --max-connections, or what the open files limit leaves after a reserve for the
 * store, the log, uploads being written, and the portal's, bots' and cluster's own
 * connections. */
static long connection_cap(const hoso_config *cfg)
{
    struct rlimit rl;
    if (cfg->max_connections > 0)
        return (long)cfg->max_connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 10000000)
        return 10000000;
    long n = (long)rl.rlim_cur;
    return n >= 1024 ? n - 256 : n - n / 4;
}

int hoso_server_run(const hoso_config *cfg, const hoso_app *app)
{
    hoso_server *srv = calloc(1, sizeof(*srv));
    sigset_t sigs;
    int err = 0, sig = 0, all_disposed = 1, services = 0;
    unsigned i;

    if (srv == NULL)
        return HOSO_ENOMEM;
    srv->cfg = *cfg;
    srv->app = *app;
    srv->lock_fd = -1;
    if (srv->cfg.workers == 0)
        srv->cfg.workers = 1;
    srv->started_at_ms = hoso_now_ms();
    pthread_mutex_init(&srv->sinks_lock, NULL);
    hoso__metrics_init(app->routes, app->nroutes);
    if ((err = hoso_log_setup(srv->cfg.log_level, srv->cfg.log_format)) != 0)
        goto Exit;
    raise_open_files();
    srv->max_conns = connection_cap(&srv->cfg);

    /* Threads inherit the mask: only the main thread takes the stop signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((err = open_data_dir(srv)) != 0)
        goto Exit;
    if (srv->cfg.tls_cert[0] != '\0' && (err = hoso__tls_context(srv->cfg.tls_cert, srv->cfg.tls_key, &srv->tls)) != 0)
        goto Exit;
    if (app->seed != NULL && (err = app->seed(srv->store, &srv->cfg)) != 0) {
        hoso_log(HOSO_LOG_ERROR, "seeding the catalogue failed: %s", hoso_err_message(err));
        goto Exit;
    }

    h2o_config_init(&srv->globalconf);
    /* h2o 2.2 answers a body over max_request_entity_size with its own plain-text 413
     * before any handler runs. Well above our limit, so that every oversized body a
     * client is likely to send gets our error shape (and the body never gets decoded). */
    srv->globalconf.max_request_entity_size = srv->cfg.limits.max_body * 16;
    srv->hostconf = h2o_config_register_host(&srv->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    hoso__http_register(srv, srv->hostconf);

    if ((err = hoso__writer_start(srv, &srv->writer)) != 0)
        goto Exit;

    srv->nworkers = srv->cfg.workers;
    if ((srv->workers = calloc(srv->nworkers, sizeof(*srv->workers))) == NULL) {
        err = HOSO_ENOMEM;
        goto Exit;
    }
    /* SO_REUSEPORT would also let a second hosod share the port silently: make sure
     * nobody listens there first. */
    if (srv->cfg.port != 0) {
        int probe = -1;
        if ((err = open_listener(srv, 0, &probe)) != 0)
            goto Exit;
        close(probe);
    }
    for (i = 0; i < srv->nworkers; i++) {
        int fd = -1;
        if ((err = open_listener(srv, 1, &fd)) != 0)
            goto Exit;
        if ((err = worker_init(srv, &srv->workers[i], i, fd)) != 0) {
            srv->workers[i].started = 1; /* initialised: dispose it below */
            goto Exit;
        }
        srv->workers[i].started = 1;
    }
    /* Every hub exists before the first commit can be published to it. */
    if ((err = hoso_server_add_event_sink(srv, hoso__hub_publish, srv)) != 0)
        goto Exit;
    if (app->start != NULL) {
        if ((err = app->start(srv, app->arg)) != 0)
            goto Exit;
        services = 1;
    }
    for (i = 0; i < srv->nworkers; i++) {
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            err = HOSO_EINTERNAL;
            goto Exit;
        }
    }
    if (!srv->cfg.quiet)
        printf("hosod listening on %s://%s%s%s:%u (%u workers, data %s, epoch %s)\n", srv->tls != NULL ? "https" : "http",
               strchr(srv->cfg.host, ':') ? "[" : "", srv->cfg.host, strchr(srv->cfg.host, ':') ? "]" : "",
               srv->cfg.port, srv->nworkers, srv->cfg.data_dir, hoso_store_epoch(srv->store));
    fflush(stdout);

    /* SIGHUP reloads the certificate; SIGINT and SIGTERM stop. */
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        hoso__tls_reload(srv);
    }
    if (!srv->cfg.quiet)
        hoso_log(HOSO_LOG_INFO, "%s, stopping", sig == SIGINT ? "interrupted" : "terminated");

Exit:
    atomic_store(&srv->stopping, 1);
    /* Other threads stop handing work to the workers before these start to go. */
    if (services && app->quiesce != NULL)
        app->quiesce(app->arg);
    tell_workers(srv, 1);
    /* Everything queued is committed and its replies posted to the workers. */
    hoso__writer_stop(srv->writer);
    for (int t = 0; t < 500 && srv->workers != NULL && total(srv, 0) > 0; t++)
        sleep_ms(10);
    for (int t = 0; t < 100 && srv->workers != NULL && total(srv, 1) > 0; t++)
        sleep_ms(10);
    tell_workers(srv, 2);
    for (i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
        hoso_worker *w = &srv->workers[i];
        if (!w->started)
            continue;
        if (w->thread != 0)
            wait_finished(w);
        if (!worker_dispose(w))
            all_disposed = 0;
    }
    /* After the workers: their last requests may still ask the services (status,
     * metrics); after the writer: no commit is announced to them any more. */
    if (services && app->stop != NULL)
        app->stop(app->arg);
    hoso__writer_free(srv->writer);
    srv->writer = NULL;
    if (srv->hostconf != NULL && all_disposed)
        h2o_config_dispose(&srv->globalconf);
    if (srv->store != NULL)
        hoso_store_close(srv->store);
    hoso_dir_unlock(srv->lock_fd);
    if (srv->tls != NULL)
        SSL_CTX_free(srv->tls);
    hoso_log_flush();
    pthread_mutex_destroy(&srv->sinks_lock);
    if (all_disposed) {
        free(srv->workers);
        free(srv);
    } else {
        /* The workers stay reachable until exit, which reclaims them. */
        leftover = srv;
    }
    return err;
}
