/*
 * server.c - starting, stopping and killing the hosod under test, running its admin
 * subcommands, and checking its log for sanitizer reports.
 */
#define _GNU_SOURCE
#include "hoso_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

/* Every hosod started by this process, so that a test that fails half-way (exit(1)
 * from an EXPECT) does not leave a server running. */
#define HT_MAX_CHILDREN 16
static pid_t children[HT_MAX_CHILDREN];
static int atexit_set;

static void kill_children(void)
{
    for (int i = 0; i < HT_MAX_CHILDREN; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
}

/* Data dirs made by this process: removed when the test passes, kept for a look at
 * the data and hosod.log when it fails. */
#define HT_MAX_DIRS 16
static char *dirs[HT_MAX_DIRS];

static void remove_dirs(int status, void *arg)
{
    for (int i = 0; i < HT_MAX_DIRS; i++) {
        if (!dirs[i]) continue;
        if (status == 0) {
            char *cmd = NULL;
            if (asprintf(&cmd, "rm -rf '%s'", dirs[i]) >= 0 && system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", dirs[i]);
            free(cmd);
        } else {
            fprintf(stderr, "hosod data dir and log kept in %s\n", dirs[i]);
        }
        free(dirs[i]);
        dirs[i] = NULL;
    }
}

static void dir_add(const char *dir)
{
    for (int i = 0; i < HT_MAX_DIRS; i++)
        if (!dirs[i]) {
            dirs[i] = strdup(dir);
            return;
        }
}

void ht_child_track(pid_t pid)
{
    if (!atexit_set) {
        /* on_exit handlers run in reverse order: the servers are killed first. */
        on_exit(remove_dirs, NULL);
        atexit(kill_children);
        atexit_set = 1;
    }
    for (int i = 0; i < HT_MAX_CHILDREN; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
}

void ht_child_untrack(pid_t pid)
{
    for (int i = 0; i < HT_MAX_CHILDREN; i++)
        if (children[i] == pid) children[i] = 0;
}

void ht_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

const char *ht_hosod(void)
{
    const char *p = getenv("HOSOD");
    if (!p || !*p) ht_fail("HOSOD is not set (path of the hosod binary)");
    return p;
}

const char *ht_tmpdir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0]) {
        const char *t = getenv("HOSO_TEST_TMP");
        snprintf(dir, sizeof(dir), "%s", t && *t ? t : "/tmp/hoso-test");
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) ht_fail("mkdir %s: %s", dir, strerror(errno));
    }
    return dir;
}

int64_t ht_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ht_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Binding port 0 and closing leaves a small window in which another process could
 * take the port; on a test machine that is rare enough, and start fails loudly then. */
int ht_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        ht_fail("cannot get a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static void print_log_tail(const ht_server *s, size_t max)
{
    FILE *f = fopen(s->log, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    if (sz > (long)max) fseek(f, sz - (long)max, SEEK_SET);
    else fseek(f, 0, SEEK_SET);
    char buf[4096];
    size_t n;
    fprintf(stderr, "---- %s (last %zu bytes) ----\n", s->log, max);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of log ----\n");
    fclose(f);
}

void ht_server_check_log(const ht_server *s)
{
    static const char *bad[] = {"ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                                "WARNING: ThreadSanitizer"};
    FILE *f = fopen(s->log, "r");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *txt = malloc((size_t)sz + 1);
    size_t n = fread(txt, 1, (size_t)sz, f);
    txt[n] = 0;
    fclose(f);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *p = strstr(txt, bad[i]);
        if (p) {
            /* Show the report itself, not only the end of the log. */
            fprintf(stderr, "hosod log has \"%s\":\n%.*s\n", bad[i], (int)(n - (size_t)(p - txt) < 6000 ? n - (size_t)(p - txt) : 6000), p);
            free(txt);
            ht_fail("sanitizer report in %s", s->log);
        }
    }
    free(txt);
}

static void spawn(ht_server *s, int keep_port)
{
    if (!keep_port) s->port = ht_free_port();
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    char extra[sizeof(s->extra)];
    snprintf(extra, sizeof(extra), "%s", s->extra);
    const char *argv[48];
    int argc = 0;
    argv[argc++] = ht_hosod();
    argv[argc++] = "serve";
    argv[argc++] = "--listen";
    argv[argc++] = listen;
    argv[argc++] = "--data";
    argv[argc++] = s->dir;
    argv[argc++] = "--create";
    argv[argc++] = "--workers";
    argv[argc++] = "2";
    argv[argc++] = "--quiet";
    for (char *save = NULL, *t = strtok_r(extra, " ", &save); t && argc < 46; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) ht_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        /* If the test process dies without its exit handler (SIGKILL, a crash), the
         * server must not outlive it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0) _exit(126);
        /* Extra environment, e.g. LD_PRELOAD of libfaketime to move the clock. */
        char env[sizeof(s->env)];
        snprintf(env, sizeof(env), "%s", s->env);
        for (char *save = NULL, *t = strtok_r(env, " ", &save); t; t = strtok_r(NULL, " ", &save))
            putenv(strdup(t));
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        close(nul);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    ht_child_track(pid);

    int64_t deadline = ht_mono_ms() + 10000;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            ht_child_untrack(pid);
            s->pid = 0;
            print_log_tail(s, 4000);
            ht_fail("hosod exited during start (status 0x%x), args: %s", st, s->extra);
        }
        int ok;
        if (strstr(s->extra, "--tls-cert") != NULL) {
            /* HTTPS only: the probe is curl's, without checking the test's certificate. */
            ok = ht_sh(NULL, "curl -skf --max-time 2 -o /dev/null https://127.0.0.1:%d/healthz", s->port) == 0;
        } else {
            ht_conn c;
            ht_conn_init(&c, s->port);
            ht_resp r;
            int rc = ht_http(&c, "GET", "/healthz", NULL, NULL, 0, &r);
            ok = rc == 0 && r.status == 200;
            ht_resp_free(&r);
            ht_conn_close(&c);
        }
        if (ok) break;
        if (ht_mono_ms() > deadline) {
            print_log_tail(s, 4000);
            ht_fail("hosod did not answer GET /healthz with 200 within 10 s on port %d", s->port);
        }
        sleep_ms(30);
    }
}

const char *ht_faketime_lib(void)
{
    static const char *paths[] = {"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                                  "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                                  "/usr/lib/faketime/libfaketimeMT.so.1"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], R_OK) == 0) return paths[i];
    return NULL;
}

/* A fresh data dir for s, removed at exit unless the test fails. */
static void server_dir(ht_server *s, const char *extra_args)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->extra, sizeof(s->extra), "%s", extra_args ? extra_args : "");
    if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/hosod-XXXXXX", ht_tmpdir()) >= sizeof(s->dir))
        ht_fail("the test dir path %s is too long", ht_tmpdir());
    if (!mkdtemp(s->dir)) ht_fail("mkdtemp %s: %s", s->dir, strerror(errno));
    snprintf(s->log, sizeof(s->log), "%s/hosod.log", s->dir);
    dir_add(s->dir);
}

void ht_server_start(ht_server *s, const char *extra_args)
{
    server_dir(s, extra_args);
    spawn(s, 0);
}

void ht_server_start_keyed(ht_server *s, const char *extra_args, const char *key_file)
{
    server_dir(s, extra_args);
    if (ht_sh(NULL, "cp '%s' '%s/secret.key' && chmod 600 '%s/secret.key'", key_file, s->dir, s->dir) != 0)
        ht_fail("cannot copy %s into %s", key_file, s->dir);
    spawn(s, 0);
}

int ht_hosod_out(char **out, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return ht_sh(out, "'%s' %s 2>&1", ht_hosod(), args);
}

void ht_expect_has(const char *out, const char *what)
{
    if (!out || !strstr(out, what)) ht_fail("expected \"%s\" in:\n%s", what, out ? out : "(nothing)");
}

void ht_server_restart(ht_server *s)
{
    if (s->pid) ht_fail("ht_server_restart: hosod is still running");
    spawn(s, 0);
}

void ht_server_restart_same_port(ht_server *s)
{
    if (s->pid) ht_fail("ht_server_restart_same_port: hosod is still running");
    spawn(s, 1);
}

/* Waits for pid up to ms; returns 1 and the status when it exited. */
static int wait_bounded(pid_t pid, int ms, int *st)
{
    int64_t deadline = ht_mono_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid) return 1;
        if (r < 0 && errno != EINTR) return 1;
        if (ht_mono_ms() > deadline) return 0;
        sleep_ms(10);
    }
}

void ht_server_stop(ht_server *s)
{
    if (!s->pid) return;
    pid_t pid = s->pid;
    int st = 0;
    kill(pid, SIGTERM);
    /* Sanitizer builds spend a while writing their leak report on exit. */
    int exited = wait_bounded(pid, 10000, &st);
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    ht_child_untrack(pid);
    s->pid = 0;
    ht_server_check_log(s);
    if (!exited) {
        print_log_tail(s, 3000);
        ht_fail("hosod did not exit within 10 s of SIGTERM");
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM)) {
        print_log_tail(s, 3000);
        ht_fail("hosod ended badly after SIGTERM: %s %d", WIFEXITED(st) ? "exit" : "signal",
                WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
}

void ht_server_kill9(ht_server *s)
{
    if (!s->pid) return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    ht_child_untrack(s->pid);
    s->pid = 0;
    ht_server_check_log(s);
}

static char *read_all(FILE *f)
{
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 1024) out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    return out;
}

int ht_sh(char **out, const char *fmt, ...)
{
    va_list ap;
    char *cmd = NULL;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0) ht_fail("vasprintf");
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    FILE *p = popen(cmd, "r");
    if (!p) ht_fail("popen %s: %s", cmd, strerror(errno));
    char *txt = read_all(p);
    int st = pclose(p);
    free(cmd);
    if (out) *out = txt;
    else free(txt);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *ht_admin(const ht_server *s, const char *args)
{
    char *out = NULL;
    int rc = ht_sh(&out, "'%s' admin %s --data '%s' 2>>'%s'", ht_hosod(), args, s->dir, s->log);
    if (rc != 0) {
        fprintf(stderr, "stdout: %s\n", out);
        print_log_tail(s, 1500);
        ht_fail("hosod admin %s: exit %d", args, rc);
    }
    return out;
}

void ht_sdk_paths(const ht_server *s, char state[PATH_MAX], char url[64])
{
    if ((size_t)snprintf(state, PATH_MAX, "%.*s/client-XXXXXX", PATH_MAX - 32, ht_tmpdir()) >= PATH_MAX ||
        !mkdtemp(state))
        ht_fail("mkdtemp %s: %s", state, strerror(errno));
    snprintf(url, 64, "http://127.0.0.1:%d", s->port);
}
