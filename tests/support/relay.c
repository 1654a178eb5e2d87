/*
 * relay.c - clients/bot-relay as the tests' webhook receiver: a real process that
 * verifies each webhook's signature, timestamp and id, and prints what it passes on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "hoso_test.h"

void ht_relay_start(ht_relay *r, int port, const char *secret)
{
    const char *bin = getenv("HOSO_BOT_RELAY");
    int fds[2];
    char listen[64], line[128] = "";
    if (bin == NULL)
        ht_fail("HOSO_BOT_RELAY is not set (run the tests through ctest)");
    if (r->out[0] == '\0') {
        snprintf(r->out, sizeof r->out, "%s/relay-%d.jsonl", ht_tmpdir(), (int)getpid());
        unlink(r->out); /* a file left by an earlier run with the same pid */
    }
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    if (pipe(fds) != 0)
        ht_fail("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(r->out, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execl(bin, bin, "--secret", secret, "--listen", listen, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    ht_child_track(pid);
    FILE *f = fdopen(fds[0], "r");
    if (f == NULL || fgets(line, sizeof line, f) == NULL || sscanf(line, "listening on 127.0.0.1:%d", &r->port) != 1)
        ht_fail("bot-relay did not start: %s", line);
    fclose(f);
    r->pid = pid;
}

void ht_relay_stop(ht_relay *r)
{
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    ht_child_untrack(r->pid);
    r->pid = 0;
}

/* The statuses the relay passed on to the chat, in order. */
int ht_relay_statuses(const ht_relay *r, int *out, int max)
{
    char line[4096];
    int n = 0;
    FILE *f = fopen(r->out, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL && n < max) {
        json_t *j = json_loads(line, 0, NULL);
        if (j == NULL)
            ht_fail("bot-relay printed a line that is not JSON: %s", line);
        out[n++] = (int)ht_jint(j, "status");
        EXPECT_STR(ht_jstr(j, "chat_ref"), "zalo:4217");
        EXPECT(ht_jstr(j, "message") != NULL && strstr(ht_jstr(j, "message"), "Hồ sơ") != NULL);
        json_decref(j);
    }
    fclose(f);
    return n;
}

void ht_relay_wait(const ht_relay *r, const int *want, int n, int secs)
{
    int got[64], k = 0;
    int64_t end = ht_mono_ms() + secs * 1000;
    while (ht_mono_ms() < end) {
        k = ht_relay_statuses(r, got, 64);
        if (k >= n)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (k != n)
        ht_fail("the bot got %d webhooks, expected %d", k, n);
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            ht_fail("webhook %d carried status %d, expected %d (out of order or missing)", i, got[i], want[i]);
}

