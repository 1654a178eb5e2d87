/*
 * client_cli.c - the `hoso` command ($HOSO_CLI) against a real hosod, as a person and
 * as a script would use it: login, services, submit, status, list, officer move, sync,
 * and watch receiving status changes live, in human and --json output; exit codes
 * (1 for errors with the code on stderr, 2 for usage), reads from the local copy
 * while offline, and the offline queue.
 */
#include "hoso_test.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef struct who {
    char state[PATH_MAX];
} who;

static ht_world W;

static const char *cli_path(void)
{
    const char *p = getenv("HOSO_CLI");
    if (!p || !p[0]) ht_fail("HOSO_CLI is not set");
    return p;
}

/* Runs `hoso --server URL --state DIR ARGS 2>&1`; returns the exit status, *out the
 * output (caller frees). */
static int hoso(char **out, const who *w, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int hoso(char **out, const who *w, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    char *o = NULL;
    int rc = ht_sh(&o, "'%s' --server http://127.0.0.1:%d --state '%s' %s 2>&1", cli_path(), W.s.port, w->state, args);
    if (out) *out = o;
    else free(o);
    return rc;
}

static void expect_has(const char *out, const char *what)
{
    if (!out || !strstr(out, what)) ht_fail("expected \"%s\" in the output:\n%s", what, out ? out : "(none)");
}

static json_t *parse(const char *out)
{
    json_error_t je;
    json_t *j = json_loads(out, JSON_DECODE_ANY, &je);
    if (!j) ht_fail("not JSON (%s):\n%s", je.text, out);
    return j;
}

static void new_state(who *w)
{
    snprintf(w->state, sizeof(w->state), "%s/cli-XXXXXX", ht_tmpdir());
    if (!mkdtemp(w->state)) ht_fail("mkdtemp: %s", strerror(errno));
}

/* --field and --paper arguments for a valid submit of svc. */
static void submit_args(const ht_service *svc, char *buf, size_t cap)
{
    json_t *form = ht_valid_form(svc), *papers = ht_valid_papers(svc), *v, *p;
    const char *k;
    size_t n = 0, i;
    n += (size_t)snprintf(buf + n, cap - n, "'%s'", svc->code);
    json_object_foreach(form, k, v) {
        if (json_is_string(v)) n += (size_t)snprintf(buf + n, cap - n, " --field '%s=%s'", k, json_string_value(v));
        else n += (size_t)snprintf(buf + n, cap - n, " --field '%s:=%lld'", k, (long long)json_integer_value(v));
    }
    json_array_foreach(papers, i, p) {
        n += (size_t)snprintf(buf + n, cap - n, " --paper 'type=%s,number=%s,issuer=%s'", ht_jstr(p, "type"),
                              ht_jstr(p, "number"), ht_jstr(p, "issuer"));
    }
    json_decref(form);
    json_decref(papers);
}

/* Starts `hoso watch ...` in the background; its output is read by watch_end. */
static FILE *watch_begin(const who *w, const char *args)
{
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd), "'%s' --server http://127.0.0.1:%d --state '%s' %s 2>&1", cli_path(), W.s.port,
             w->state, args);
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (!f) ht_fail("popen: %s", strerror(errno));
    return f;
}

static int watch_end(FILE *f, char **out)
{
    size_t cap = 8192, len = 0, n;
    char *buf = malloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 1024) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(f);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void)
{
    who c, o;
    char *out = NULL, args[8192], code[128], code2[128];
    json_t *j;

    ht_world_start(&W, NULL);
    new_state(&c);
    new_state(&o);

    /* login, as a person and as a script */
    EXPECT_INT(hoso(&out, &c, "login --id-number %s --password '%s'", W.cit.login, W.cit.password), 0);
    expect_has(out, "Đã đăng nhập");
    free(out);
    EXPECT_INT(hoso(&out, &o, "--json login --username %s --password '%s'", W.off.login, W.off.password), 0);
    j = parse(out);
    EXPECT_STR(ht_jstr(j, "account.role"), "officer");
    json_decref(j);
    free(out);
    /* the password prompt reads stdin when it is not a terminal */
    EXPECT_INT(hoso(&out, &o, "login --username %s < /dev/null", W.off.login), 1);
    expect_has(out, "VALIDATION_FAILED");
    free(out);
    EXPECT_INT(hoso(&out, &o, "--json login --username %s --password '%s'", W.off.login, W.off.password), 0);
    free(out);

    /* services */
    EXPECT_INT(hoso(&out, &c, "services"), 0);
    expect_has(out, W.svc.code);
    free(out);
    EXPECT_INT(hoso(&out, &c, "--json services --agency '%s'", W.svc.agency), 0);
    j = parse(out);
    EXPECT(json_array_size(json_object_get(j, "services")) > 0);
    json_decref(j);
    free(out);

    /* submit, human and --json */
    submit_args(&W.svc, args, sizeof(args));
    EXPECT_INT(hoso(&out, &c, "submit %s", args), 0);
    expect_has(out, "Đã nộp hồ sơ");
    if (sscanf(strstr(out, "Đã nộp hồ sơ ") + strlen("Đã nộp hồ sơ "), "%127s", code) != 1) ht_fail("no code");
    free(out);
    EXPECT_INT(hoso(&out, &c, "--json submit %s", args), 0);
    j = parse(out);
    EXPECT_INT(ht_jint(j, "dossier.status"), 1);
    snprintf(code2, sizeof(code2), "%s", ht_jstr(j, "dossier.code"));
    json_decref(j);
    free(out);

    /* status and list */
    EXPECT_INT(hoso(&out, &c, "status %s", code), 0);
    expect_has(out, code);
    expect_has(out, "Mới đăng ký");
    expect_has(out, "Tiến trình");
    free(out);
    EXPECT_INT(hoso(&out, &c, "--json status %s", code), 0);
    j = parse(out);
    EXPECT_STR(ht_jstr(j, "dossier.code"), code);
    EXPECT_INT(json_array_size(ht_j(j, "dossier.history")), 1);
    json_decref(j);
    free(out);
    EXPECT_INT(hoso(&out, &c, "list"), 0);
    expect_has(out, code);
    expect_has(out, code2);
    expect_has(out, "(2 hồ sơ)");
    free(out);
    EXPECT_INT(hoso(&out, &c, "--json list --status 2"), 0);
    j = parse(out);
    EXPECT_INT(json_array_size(json_object_get(j, "dossiers")), 0);
    json_decref(j);
    free(out);

    /* officer move (reads the version first) */
    EXPECT_INT(hoso(&out, &o, "officer move %s 2 --note 'Đã tiếp nhận'", code), 0);
    expect_has(out, "Được tiếp nhận");
    free(out);
    EXPECT_INT(hoso(&out, &o, "list --status 2"), 0);
    expect_has(out, code);
    free(out);
    EXPECT_INT(hoso(&out, &c, "status %s", code), 0);
    expect_has(out, "Đã tiếp nhận");
    free(out);

    /* watch: bring the feed position up to date, then two status changes live */
    EXPECT_INT(hoso(&out, &c, "sync"), 0);
    free(out);
    FILE *wf = watch_begin(&c, "watch --count 2 --timeout 30");
    usleep(300000);
    EXPECT_INT(hoso(&out, &o, "--json officer move %s 4", code), 0);
    j = parse(out);
    EXPECT_INT(ht_jint(j, "dossier.status"), 4);
    json_decref(j);
    free(out);
    EXPECT_INT(hoso(&out, &o, "officer move %s 5 --papers-required 'Giấy A,Giấy B'", code), 0);
    free(out);
    EXPECT_INT(watch_end(wf, &out), 0);
    expect_has(out, "Đang xử lý");
    expect_has(out, "Yêu cầu bổ sung giấy tờ");
    free(out);

    /* watch --json: one JSON event per line */
    wf = watch_begin(&c, "--json watch --count 1 --timeout 30");
    EXPECT_INT(hoso(&out, &o, "officer move %s 3 --reason 'Hồ sơ không thuộc thẩm quyền'", code2), 0);
    free(out);
    EXPECT_INT(watch_end(wf, &out), 0);
    j = parse(out);
    EXPECT_STR(ht_jstr(j, "type"), "dossier.status");
    EXPECT_INT(ht_jint(j, "dossier.status"), 3);
    json_decref(j);
    free(out);

    /* errors: code on stderr and exit 1; usage errors exit 2 */
    EXPECT_INT(hoso(&out, &c, "status 000.00.00.H00-000000-0000"), 1);
    expect_has(out, "NOT_FOUND");
    free(out);
    EXPECT_INT(hoso(&out, &o, "officer move %s 9", code), 1);
    expect_has(out, "ILLEGAL_TRANSITION");
    free(out);
    EXPECT_INT(hoso(&out, &c, "frobnicate"), 2);
    free(out);
    EXPECT_INT(hoso(&out, &o, "officer move %s 99", code), 2);
    free(out);
    EXPECT_INT(hoso(&out, &c, "submit"), 2);
    free(out);

    /* Ctrl-C ends watch normally */
    EXPECT_INT(ht_sh(NULL, "timeout --preserve-status -s INT 2 '%s' --server http://127.0.0.1:%d --state '%s' watch",
                     cli_path(), W.s.port, c.state),
               0);

    /* offline reads answer from the local copy, kept current by replies and events */
    EXPECT_INT(ht_sh(&out, "'%s' --server http://127.0.0.1:1 --state '%s' status %s 2>&1", cli_path(), c.state, code),
               0);
    expect_has(out, "Yêu cầu bổ sung giấy tờ");
    expect_has(out, "ngoại tuyến");
    free(out);
    EXPECT_INT(ht_sh(&out, "'%s' --json --server http://127.0.0.1:1 --state '%s' list 2>/dev/null", cli_path(),
                     c.state),
               0);
    j = parse(out);
    EXPECT(json_is_true(json_object_get(j, "cached")));
    EXPECT_INT(json_array_size(json_object_get(j, "dossiers")), 2);
    json_decref(j);
    free(out);

    /* offline: the submit is queued (exit 0), and `sync` sends it later */
    char *o2 = NULL;
    EXPECT_INT(ht_sh(&o2, "'%s' --json --server http://127.0.0.1:1 --state '%s' submit %s 2>&1", cli_path(), c.state,
                     args),
               0);
    j = parse(o2);
    EXPECT(json_is_true(json_object_get(j, "queued")));
    json_decref(j);
    free(o2);
    EXPECT_INT(hoso(&out, &c, "sync"), 0);
    expect_has(out, "submit applied");
    free(out);
    EXPECT_INT(hoso(&out, &c, "list"), 0);
    expect_has(out, "(3 hồ sơ)");
    free(out);

    ht_world_stop(&W);
}

/* What a person at a terminal meets: the server is remembered after a login, a
 * command without a login says how to sign in, --help names the statuses, and list
 * columns line up although Vietnamese status names take more bytes than columns. */
static void test_cli_conveniences(void)
{
    who c;
    char *out = NULL, code[128];
    ht_world_start(&W, NULL);
    new_state(&c);
    EXPECT_INT(ht_sh(&out, "'%s' --state '%s' list 2>&1", cli_path(), c.state), 1);
    expect_has(out, "hoso login");
    free(out);
    EXPECT_INT(hoso(&out, &c, "login --id-number %s --password '%s'", W.cit.login, W.cit.password), 0);
    free(out);
    /* Two dossiers in different statuses. */
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    ht_resp r;
    EXPECT_INT(ht_transition(&W.c, &W.off, code, 2, -1, &r), 200);
    ht_resp_free(&r);
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    /* No --server: the one of the login. */
    EXPECT_INT(ht_sh(&out, "'%s' --state '%s' list 2>&1", cli_path(), c.state), 0);
    expect_has(out, "Được tiếp nhận");
    expect_has(out, "Mới đăng ký");
    /* The time column starts at the same character on both lines. */
    int col[2], n = 0;
    for (char *line = out; line && *line && n < 2; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        const char *t = strstr(line, " 20");
        const char *eol = strchr(line, '\n');
        if (!t || (eol && t > eol) || !strstr(line, "-")) continue;
        int chars = 0;
        for (const char *p = line; p < t; p++) chars += ((unsigned char)*p & 0xc0) != 0x80;
        col[n++] = chars;
    }
    free(out);
    EXPECT_INT(n, 2);
    EXPECT_INT(col[0], col[1]);
    EXPECT_INT(ht_sh(&out, "'%s' --help", cli_path()), 0);
    expect_has(out, "10 Đã trả kết quả");
    free(out);
    /* A message on the dossier, and the thread with the officer's answer. */
    EXPECT_INT(hoso(&out, &c, "message %s 'Tôi cần nộp bản gốc không?'", code), 0);
    expect_has(out, "Đã gửi tin nhắn");
    free(out);
    char path[200];
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/messages", code);
    json_t *b = json_pack("{s:s}", "text", "Không cần, bản chụp là đủ.");
    ht_mp_callj(&W.c, "POST", path, W.off.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    EXPECT_INT(hoso(&out, &c, "messages %s", code), 0);
    expect_has(out, "#1 Công dân: Tôi cần nộp bản gốc không?");
    expect_has(out, "#2 Cán bộ: Không cần, bản chụp là đủ.");
    free(out);
    EXPECT_INT(hoso(&out, &c, "--json messages %s --after 1", code), 0);
    json_t *j = parse(out);
    EXPECT_INT(json_array_size(json_object_get(j, "messages")), 1);
    json_decref(j);
    free(out);
    EXPECT_INT(hoso(&out, &c, "message %s", code), 2);
    free(out);
    /* A photo up, and down again. */
    char img[PATH_MAX + 32], back[PATH_MAX + 32], fid[64] = "";
    snprintf(img, sizeof img, "%s/anh.png", c.state);
    snprintf(back, sizeof back, "%s/tai-ve.png", c.state);
    EXPECT_INT(ht_sh(NULL, "printf '\\211PNG\\r\\n\\032\\n' > '%s' && head -c 700000 /dev/urandom >> '%s'", img, img), 0);
    EXPECT_INT(hoso(&out, &c, "attach '%s' --name 'Ảnh CCCD.png'", img), 0);
    EXPECT(sscanf(out, "%63s", fid) == 1 && strlen(fid) == 32);
    free(out);
    EXPECT_INT(hoso(&out, &c, "download %s --out '%s'", fid, back), 0);
    expect_has(out, "Đã tải về");
    free(out);
    EXPECT_INT(ht_sh(NULL, "cmp -s '%s' '%s'", img, back), 0);
    /* The photo with a message, then in the thread. */
    EXPECT_INT(hoso(&out, &c, "--json message %s 'Ảnh CCCD đây ạ' --file %s", code, fid), 0);
    j = parse(out);
    EXPECT_STR(json_string_value(json_array_get(json_object_get(json_object_get(j, "message"), "files"), 0)), fid);
    json_decref(j);
    free(out);
    EXPECT_INT(hoso(&out, &c, "download 0123456789abcdef0123456789abcdef --out '%s'", back), 1);
    expect_has(out, "NOT_FOUND");
    free(out);
    EXPECT_INT(ht_sh(&out, "'%s' submit --help", cli_path()), 0);
    expect_has(out, "usage");
    free(out);
    /* Unknown arguments are named. */
    EXPECT_INT(ht_sh(&out, "'%s' --state '%s' list --bogus 2>&1", cli_path(), c.state), 2);
    expect_has(out, "--bogus");
    free(out);
    EXPECT_INT(ht_sh(&out, "'%s' --frobnicate list 2>&1", cli_path()), 2);
    expect_has(out, "--frobnicate");
    free(out);
    ht_world_stop(&W);
}

UNIT_MAIN(UNIT(test_cli), UNIT(test_cli_conveniences))
