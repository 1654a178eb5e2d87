/*
 * portal.c - running the fake national portal (tests/support/fake_portal) as a
 * process of its own, telling it which faults to play, and reading its record.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "hoso_test.h"

void ht_portal_start(ht_portal *p, int port, const char *args)
{
    const char *bin = getenv("HOSO_FAKE_PORTAL");
    int fds[2];
    static unsigned n;
    if (bin == NULL || bin[0] == '\0')
        ht_fail("HOSO_FAKE_PORTAL is not set (run the tests through ctest)");
    if (p->record[0] == '\0') {
        snprintf(p->record, sizeof p->record, "%s/portal-%d-%u.jsonl", ht_tmpdir(), (int)getpid(), n++);
        unlink(p->record);
    }
    snprintf(p->args, sizeof p->args, "%s", args ? args : "");
    if (pipe(fds) != 0)
        ht_fail("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        ht_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        char portbuf[16], *argv[40];
        int k = 0;
        snprintf(portbuf, sizeof portbuf, "%d", port);
        argv[k++] = (char *)bin;
        argv[k++] = "--record";
        argv[k++] = p->record;
        argv[k++] = "--port";
        argv[k++] = portbuf;
        char *copy = strdup(p->args), *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t && k < 38; t = strtok_r(NULL, " ", &save))
            argv[k++] = t;
        argv[k] = NULL;
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(bin, argv);
        _exit(127);
    }
    close(fds[1]);
    ht_child_track(pid);
    FILE *f = fdopen(fds[0], "r");
    char line[64] = "";
    if (f == NULL || fgets(line, sizeof line, f) == NULL || sscanf(line, "port %d", &p->port) != 1)
        ht_fail("the fake portal did not start (args %s)", p->args);
    fclose(f);
    p->pid = pid;
}

void ht_portal_stop(ht_portal *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    ht_child_untrack(p->pid);
    p->pid = 0;
}

void ht_portal_control(ht_portal *p, json_t *body)
{
    ht_conn c;
    ht_resp r;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    ht_conn_init(&c, p->port);
    if (ht_http(&c, "POST", "/control", "Content-Type: application/json\r\n", text, strlen(text), &r) != 0 ||
        r.status != 200)
        ht_fail("the fake portal refused /control %s", text);
    ht_resp_free(&r);
    ht_conn_close(&c);
    free(text);
}

void ht_portal_serve_args(const ht_portal *p, char *out, size_t n)
{
    snprintf(out, n,
             "--portal-auth-url http://127.0.0.1:%d/auth --portal-url http://127.0.0.1:%d/api "
             "--portal-user mirror --portal-password mirror-pass --portal-agency 000.00.00.H29 "
             "--portal-retry-min 20 --portal-retry-max 500 --portal-timeout 3000",
             p->port, p->port);
}

json_t *ht_portal_records(const ht_portal *p)
{
    json_t *all = json_array();
    char line[4096];
    FILE *f = fopen(p->record, "r");
    if (f == NULL)
        return all;
    while (fgets(line, sizeof line, f) != NULL) {
        json_t *j = json_loads(line, 0, NULL);
        if (j == NULL)
            ht_fail("the portal record holds a line that is not JSON: %s", line);
        json_array_append_new(all, j);
    }
    fclose(f);
    return all;
}
