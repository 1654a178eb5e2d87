/*
 * cluster.c - test support for cluster mode: a real nats-server with JetStream (the
 * Debian package) as a child process, and hosod nodes joined by it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include "hoso_test.h"

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

void ht_nats_start(ht_nats *n, int port)
{
    if (n->dir[0] == '\0') {
        snprintf(n->dir, sizeof n->dir, "%s/nats-XXXXXX", ht_tmpdir());
        if (!mkdtemp(n->dir))
            ht_fail("mkdtemp %s: %s", n->dir, strerror(errno));
        snprintf(n->log, sizeof n->log, "%s/nats.log", n->dir);
    }
    if (port != 0)
        n->port = port;
    else if (n->port == 0)
        n->port = ht_free_port();
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", n->port);
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        ht_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(n->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", portstr, "-sd", n->dir, (char *)NULL);
        _exit(127);
    }
    n->pid = pid;
    ht_child_track(pid);
    for (int64_t deadline = ht_mono_ms() + 10000; !port_open(n->port);) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            ht_child_untrack(pid);
            n->pid = 0;
            ht_fail("nats-server exited during start (is the nats-server package installed? see %s)", n->log);
        }
        if (ht_mono_ms() > deadline)
            ht_fail("nats-server did not listen on %d within 10 s (see %s)", n->port, n->log);
        nap(20);
    }
}

void ht_nats_stop(ht_nats *n, int hard)
{
    if (n->pid == 0)
        return;
    kill(n->pid, hard ? SIGKILL : SIGTERM);
    waitpid(n->pid, NULL, 0);
    ht_child_untrack(n->pid);
    n->pid = 0;
}

void ht_cluster_start(ht_cluster *c, int nnodes, unsigned shards, const char *extra)
{
    ht_cluster_start_front(c, nnodes, 0, shards, extra);
}

void ht_cluster_start_front(ht_cluster *c, int nnodes, int nfront, unsigned shards, const char *extra)
{
    if (nnodes < 1 || nnodes + nfront > HT_CLUSTER_MAX)
        ht_fail("ht_cluster_start: 1..%d nodes", HT_CLUSTER_MAX);
    memset(c, 0, sizeof(*c));
    c->nnodes = nnodes + nfront;
    c->nholders = nnodes;
    c->shards = shards;
    ht_nats_start(&c->nats, 0);
    snprintf(c->file, sizeof c->file, "%s/cluster.json", c->nats.dir);
    FILE *f = fopen(c->file, "w");
    if (f == NULL)
        ht_fail("cannot write %s", c->file);
    fprintf(f, "{\"nats\": \"nats://127.0.0.1:%d\", \"shards\": %u, \"nodes\": [", c->nats.port, shards);
    for (int i = 0; i < nnodes; i++) {
        unsigned first = shards * (unsigned)i / (unsigned)nnodes, last = shards * (unsigned)(i + 1) / (unsigned)nnodes - 1;
        fprintf(f, "%s{\"id\": \"n%d\", \"shards\": \"%u-%u\"}", i ? ", " : "", i + 1, first, last);
    }
    for (int i = nnodes; i < nnodes + nfront; i++)
        fprintf(f, ", {\"id\": \"n%d\"}", i + 1);
    fprintf(f, "]}\n");
    fclose(f);
    for (int i = 0; i < c->nnodes; i++) {
        char args[PATH_MAX + 128], key[PATH_MAX + 16];
        snprintf(args, sizeof args, "--cluster %s --node n%d %s", c->file, i + 1, extra ? extra : "");
        if (i == 0) {
            ht_server_start(&c->node[0], args);
        } else {
            snprintf(key, sizeof key, "%s/secret.key", c->node[0].dir);
            ht_server_start_keyed(&c->node[i], args, key);
        }
    }
}

void ht_cluster_stop(ht_cluster *c)
{
    for (int i = 0; i < c->nnodes; i++)
        ht_server_stop(&c->node[i]);
    ht_nats_stop(&c->nats, 0);
}

int ht_cluster_node_of(const ht_cluster *c, unsigned shard)
{
    for (int i = 0; i < c->nholders; i++) {
        unsigned first = c->shards * (unsigned)i / (unsigned)c->nholders,
                 last = c->shards * (unsigned)(i + 1) / (unsigned)c->nholders - 1;
        if (shard >= first && shard <= last)
            return i;
    }
    ht_fail("shard %u is held by no node", shard);
}

unsigned ht_cluster_shard_of(const ht_cluster *c, const char *account)
{
    char lead[9];
    snprintf(lead, sizeof lead, "%.8s", account);
    return (unsigned)(strtoul(lead, NULL, 16) % c->shards);
}

json_t *ht_cluster_status(const ht_cluster *c, int *rc)
{
    char *out = NULL;
    *rc = ht_sh(&out, "'%s' cluster status --cluster '%s' --json", ht_hosod(), c->file);
    json_t *j = out != NULL ? json_loads(out, 0, NULL) : NULL;
    free(out);
    return j;
}

void ht_cluster_wait_outbox(const ht_cluster *c, int ms)
{
    int64_t deadline = ht_mono_ms() + ms;
    char last[512] = "";
    for (;;) {
        int rc;
        json_t *st = ht_cluster_status(c, &rc);
        long long events = st ? ht_jint(st, "stream.events") : -1, heads = 0;
        int caught_up = st != NULL && events >= 0;
        for (size_t i = 0; st != NULL && i < json_array_size(json_object_get(st, "nodes")); i++) {
            json_t *n = json_array_get(json_object_get(st, "nodes"), i);
            long long p = ht_jint(n, "outbox.published"), h = ht_jint(n, "outbox.head");
            if (p == LLONG_MIN || h == LLONG_MIN || p != h)
                caught_up = 0;
            heads += h;
        }
        snprintf(last, sizeof last, "%s", st ? ht_dump(st) : "(no status)");
        json_decref(st);
        if (caught_up && events == heads)
            return;
        /* Node records are rewritten every second: a count above the heads may only be
         * a record behind, until the deadline says otherwise. */
        if (ht_mono_ms() > deadline)
            ht_fail("the outbox did not settle within %d ms (stream events %lld, committed %lld%s): %s", ms, events,
                    heads, events > heads ? ": duplicates in the stream" : "", last);
        nap(100);
    }
}
