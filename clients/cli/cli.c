/*
 * cli.c - the `hoso` command, a thin tool over libhoso_client: each subcommand makes
 * one or two calls and runs the loop until they complete. Exit 0 on success (a change
 * kept in the offline queue is a success), 1 on an error (printed on stderr with its
 * code), 2 on a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "cli.h"

#define CLI_TIMEOUT_MS 60000
#define CLI_MAX_ITEMS 200

static const char usage_text[] =
    "usage: hoso [--server URL] [--state DIR] [--ca-file PEM] [--json] COMMAND ...\n"
    "  login --id-number N | --username U [--password P]\n"
    "  logout\n"
    "  services [--agency A] [--q TEXT]\n"
    "  submit SERVICE [--field k=v ...] [--paper type=..,number=..,issuer=..[,valid_until=MS] ...]\n"
    "  status CODE\n"
    "  message CODE TEXT [--file ID ...]  (to the officers of the dossier's agency; queued offline)\n"
    "  messages CODE [--after SEQ]\n"
    "  attach FILE [--name NAME]     (a photo or scan, JPEG/PNG/PDF: prints the file id;\n"
    "                                 offline, the op id that stands for it until it is sent)\n"
    "  download ID [--out FILE]\n"
    "  list [--status N]\n"
    "  watch [--count N] [--timeout S]\n"
    "  sync\n"
    "  officer move CODE STATUS [--note T] [--reason T] [--fee VND] [--result T]\n"
    "                           [--papers-required a,b] [--due-at MS|YYYY-MM-DD]\n"
    "Every command takes --help.\n"
    "The server is --server, else $HOSO_SERVER, else the one of the last login (kept in the\n"
    "state dir), else http://127.0.0.1:8080. The state dir is --state, else $HOSO_STATE, else\n"
    "~/.hoso: the token, the local copy and the offline queue.\n"
    "An https:// server's certificate is verified against the system's authorities, or\n"
    "against --ca-file (else $HOSO_CA_FILE) for a private CA.\n"
    "Statuses (national portal codes):\n"
    "   1 Mới đăng ký                            6 Yêu cầu thực hiện nghĩa vụ tài chính\n"
    "   2 Được tiếp nhận                         7 Công dân yêu cầu rút hồ sơ\n"
    "   3 Không được tiếp nhận                   8 Dừng xử lý\n"
    "   4 Đang xử lý                             9 Đã xử lý xong\n"
    "   5 Yêu cầu bổ sung giấy tờ               10 Đã trả kết quả\n";

/* The server remembered in the state dir by the last successful login. */
static void server_path(const char *state, char *out, size_t n)
{
    snprintf(out, n, "%s/server", state);
}

static int remembered_server(const char *state, char *out, size_t n)
{
    char path[4200];
    server_path(state, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fgets(out, (int)n, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
    return ok && out[0] ? 0 : -1;
}

static void remember_server(const char *state, const char *server)
{
    char path[4200];
    server_path(state, path, sizeof(path));
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%s\n", server);
    fclose(f);
}

static int usage(const char *why)
{
    if (why) fprintf(stderr, "hoso: %s\n", why);
    fputs(usage_text, stderr);
    return 2;
}

/* A usage error that names the argument at fault. */
static int bad_arg(const char *cmd, const char *arg, int needs_value)
{
    char why[256];
    snprintf(why, sizeof(why), needs_value ? "%s: %s needs a value" : "%s: unknown argument %s", cmd, arg);
    return usage(why);
}

/* Value of `--name V` at argv[*i]; advances *i. NULL when it is not that option. */
static const char *opt_val(int argc, char **argv, int *i, const char *name, int *bad)
{
    if (strcmp(argv[*i], name) != 0) return NULL;
    if (*i + 1 >= argc) {
        *bad = 1;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

static void run(cli *x)
{
    hoso_client_error e;
    if (hoso_client_run_until(x->c, &x->done, CLI_TIMEOUT_MS)) {
        memset(&e, 0, sizeof(e));
        snprintf(e.code, sizeof(e.code), "TIMEOUT");
        snprintf(e.message, sizeof(e.message), "no answer within %d s", CLI_TIMEOUT_MS / 1000);
        cli_error(x, &e);
    }
    x->done = 0;
}

int cli_signed_in(cli *x)
{
    if (hoso_client_token(x->c)) return 1;
    fprintf(stderr, "hoso: chưa đăng nhập (not signed in): run hoso login first\n");
    x->rc = 1;
    return 0;
}

static int call_failed(cli *x, int rc)
{
    if (!rc) return 0;
    hoso_client_error e;
    memset(&e, 0, sizeof(e));
    e.err = rc;
    snprintf(e.code, sizeof(e.code), "%s", hoso_err_code(rc));
    snprintf(e.message, sizeof(e.message), "%s", hoso_err_message(rc));
    cli_error(x, &e);
    return 1;
}

/* ---------------------------------------------------------------------------------- */

static void on_login(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (x->json) {
        cli_print_json(r->body);
    } else {
        printf("Đã đăng nhập (%s, tài khoản %s).\n", hoso_client_role(c), hoso_client_account_id(c));
    }
}

static void read_password(char *buf, size_t cap)
{
    struct termios old, now;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fputs("Mật khẩu: ", stderr);
        now = old;
        now.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &now);
    }
    if (!fgets(buf, (int)cap, stdin)) buf[0] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
}

static int cmd_login(cli *x, int argc, char **argv)
{
    const char *id = NULL, *user = NULL, *pw = NULL, *v;
    char buf[256];
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--id-number", &bad))) id = v;
        else if ((v = opt_val(argc, argv, &i, "--username", &bad))) user = v;
        else if ((v = opt_val(argc, argv, &i, "--password", &bad))) pw = v;
        else return bad_arg("login", argv[i], bad);
    }
    if ((!id) == (!user)) return usage("login: give exactly one of --id-number, --username");
    if (!pw) {
        read_password(buf, sizeof(buf));
        pw = buf;
    }
    if (call_failed(x, hoso_client_login(x->c, id, user, pw, on_login, x))) return 1;
    run(x);
    return x->rc;
}

static void on_done_print(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (x->json) cli_print_json(r->body);
}

static int cmd_logout(cli *x, int argc, char **argv)
{
    if (argc) return usage("logout takes no arguments");
    if (call_failed(x, hoso_client_logout(x->c, on_done_print, x))) return 1;
    run(x);
    if (!x->rc && !x->json) printf("Đã đăng xuất.\n");
    return x->rc;
}

static void on_services(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (x->json) cli_print_json(r->body);
    else cli_print_services(r);
}

static int cmd_services(cli *x, int argc, char **argv)
{
    const char *agency = NULL, *q = NULL, *v;
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--agency", &bad))) agency = v;
        else if ((v = opt_val(argc, argv, &i, "--q", &bad))) q = v;
        else return bad_arg("services", argv[i], bad);
    }
    if (call_failed(x, hoso_client_services(x->c, agency, q, on_services, x))) return 1;
    run(x);
    return x->rc;
}

/* ---------------------------------------------------------------------------------- */
/* submit */

typedef struct svc_kinds {
    cli *x;
    char keys[64][64];
    int kinds[64];
    size_t n;
} svc_kinds;

static void on_service_def(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    svc_kinds *k = ud;
    k->x->done = 1;
    const msgpack_object *s = r->body ? hoso_map_get(r->body, "service") : NULL;
    hoso_service svc;
    hoso_doc doc = {0};
    if (r->error.err || !s) return; /* offline: values stay strings */
    msgpack_zone_init(&doc.zone, 4096);
    if (hoso_service_decode(&doc, s, &svc, NULL) == 0)
        for (size_t i = 0; i < svc.nform && k->n < 64; i++, k->n++) {
            snprintf(k->keys[k->n], sizeof(k->keys[0]), "%s", svc.form[i].key.ptr);
            k->kinds[k->n] = svc.form[i].kind;
        }
    hoso_doc_destroy(&doc);
}

/* Packs a form value: numbers for number fields (or k:=N), strings otherwise. */
static int pack_value(msgpack_packer *pk, const char *v, int number)
{
    if (number) {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (*v && !*end && !errno) return msgpack_pack_int64(pk, n);
        double d = strtod(v, &end);
        if (*v && !*end) return msgpack_pack_double(pk, d);
        return -1;
    }
    return hoso_pack_cstr(pk, v);
}

static void on_submit(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (x->json) {
        if (r->queued) printf("{\"queued\":true,\"op_id\":\"%s\"}\n", r->op_id);
        else cli_print_json(r->body);
        return;
    }
    if (r->queued) {
        printf("Chưa gửi được (%s): hồ sơ được giữ trong hàng đợi (op %s) và sẽ tự gửi khi có kết nối.\n",
               r->error.message, r->op_id);
    } else if (r->dossier) {
        printf("Đã nộp hồ sơ %s — %s\n", r->dossier->code.ptr, hoso_status_name_vi((int)r->dossier->status));
    } else {
        printf("Đã gửi (op %s).\n", r->op_id);
    }
}

static int cmd_submit(cli *x, int argc, char **argv)
{
    const char *fields[64], *papers[32], *v;
    size_t nf = 0, np = 0;
    int bad = 0;
    if (argc < 1 || argv[0][0] == '-') return usage("submit: SERVICE is required");
    const char *service = argv[0];
    for (int i = 1; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--field", &bad))) {
            if (nf == 64 || !strchr(v, '=')) return usage("submit: --field k=v (at most 64)");
            fields[nf++] = v;
        } else if ((v = opt_val(argc, argv, &i, "--paper", &bad))) {
            if (np == 32) return usage("submit: at most 32 papers");
            papers[np++] = v;
        } else {
            return bad_arg("submit", argv[i], bad);
        }
    }
    /* The catalogue says which fields are numbers; offline, k:=N says so. */
    svc_kinds kinds = {.x = x};
    if (!cli_signed_in(x)) return 1;
    if (hoso_client_service_get(x->c, service, on_service_def, &kinds) == 0) {
        /* The request's own deadline (15 s) ends it first: its callback never runs
         * after this wait, into the submit's. */
        hoso_client_run_until(x->c, &x->done, CLI_TIMEOUT_MS);
        x->done = 0;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = 0;
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, (uint32_t)nf);
    for (size_t i = 0; i < nf && !rc; i++) {
        const char *eq = strchr(fields[i], '=');
        int raw = eq > fields[i] && eq[-1] == ':';
        size_t kl = (size_t)(eq - fields[i]) - (raw ? 1 : 0);
        int number = raw;
        for (size_t k = 0; k < kinds.n; k++)
            if (strlen(kinds.keys[k]) == kl && memcmp(kinds.keys[k], fields[i], kl) == 0)
                number = number || kinds.kinds[k] == HOSO_FK_NUMBER;
        hoso_pack_str(&pk, fields[i], kl);
        if (pack_value(&pk, eq + 1, number)) rc = usage("submit: a number field needs a number");
    }
    msgpack_pack_array(&pk, (uint32_t)np);
    for (size_t i = 0; i < np && !rc; i++) {
        char buf[1024], *save = NULL;
        const char *kv[8][2];
        uint32_t n = 0;
        snprintf(buf, sizeof(buf), "%s", papers[i]);
        for (char *t = strtok_r(buf, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(t, '=');
            if (!eq) {
                rc = usage("submit: --paper type=..,number=..,issuer=..");
                break;
            }
            *eq = 0;
            kv[n][0] = t;
            kv[n][1] = eq + 1;
            n++;
        }
        if (rc) break;
        msgpack_pack_map(&pk, n);
        for (uint32_t k = 0; k < n; k++) {
            hoso_pack_cstr(&pk, kv[k][0]);
            pack_value(&pk, kv[k][1], strcmp(kv[k][0], "valid_until") == 0);
        }
    }
    if (!rc) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *form = &u.data.via.array.ptr[0], *pp = &u.data.via.array.ptr[1];
            if (call_failed(x, hoso_client_submit(x->c, service, form, np ? pp : NULL, on_submit, x))) rc = 1;
            else run(x);
        }
        msgpack_unpacked_destroy(&u);
        rc = rc ? rc : x->rc;
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* message, messages */

static void on_message(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (x->json) {
        if (r->queued) printf("{\"queued\":true,\"op_id\":\"%s\"}\n", r->op_id);
        else cli_print_json(r->body);
    } else if (r->queued) {
        printf("Chưa gửi được (%s): tin nhắn được giữ trong hàng đợi (op %s) và sẽ tự gửi khi có kết nối.\n",
               r->error.message, r->op_id);
    } else {
        printf("Đã gửi tin nhắn (op %s).\n", r->op_id);
    }
}

static int cmd_message(cli *x, int argc, char **argv)
{
    const char *files[10], *v;
    size_t nfiles = 0;
    int bad = 0;
    if (argc < 2 || argv[0][0] == '-') return usage("message CODE TEXT [--file ID ...]");
    for (int i = 2; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--file", &bad))) {
            if (nfiles == 10) return usage("message: at most 10 --file");
            files[nfiles++] = v;
        } else {
            return bad_arg("message", argv[i], bad);
        }
    }
    if (!cli_signed_in(x)) return 1;
    if (call_failed(x, hoso_client_message(x->c, argv[0], argv[1], files, nfiles, on_message, x))) return 1;
    run(x);
    return x->rc;
}

static void on_messages(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (x->json) return cli_print_json(r->body);
    const msgpack_object *list = r->body ? hoso_map_get(r->body, "messages") : NULL;
    if (!list || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size == 0) {
        printf("Chưa có tin nhắn.\n");
        return;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *m = &list->via.array.ptr[i], *seq = hoso_map_get(m, "seq"),
                             *from = hoso_map_get(m, "from"), *text = hoso_map_get(m, "text");
        int officer = from && from->type == MSGPACK_OBJECT_STR && from->via.str.size == 7 &&
                      memcmp(from->via.str.ptr, "officer", 7) == 0;
        printf("#%llu %s: %.*s\n", seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (unsigned long long)seq->via.u64 : 0ULL,
               officer ? "Cán bộ" : "Công dân", text && text->type == MSGPACK_OBJECT_STR ? (int)text->via.str.size : 0,
               text && text->type == MSGPACK_OBJECT_STR ? text->via.str.ptr : "");
    }
}

static int cmd_messages(cli *x, int argc, char **argv)
{
    unsigned long long after = 0;
    int bad = 0;
    const char *v;
    if (argc < 1 || argv[0][0] == '-') return usage("messages CODE [--after SEQ]");
    for (int i = 1; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--after", &bad))) {
            char *end;
            after = strtoull(v, &end, 10);
            if (*end || v[0] == '-') return usage("messages: --after takes a message seq");
        } else {
            return bad_arg("messages", argv[i], bad);
        }
    }
    if (!cli_signed_in(x)) return 1;
    if (call_failed(x, hoso_client_messages(x->c, argv[0], after, 0, on_messages, x))) return 1;
    run(x);
    return x->rc;
}

/* ---------------------------------------------------------------------------------- */
/* attach, download */

static void on_attached(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (r->queued) {
        /* The op_id stands for the file in later commands until the upload is done. */
        if (x->json) printf("{\"queued\":true,\"op_id\":\"%s\"}\n", r->op_id);
        else printf("%s\n", r->op_id);
        fprintf(stderr, "hoso: not sent yet (%s): the file waits in the queue and goes when the server is back\n",
                r->error.message);
        return;
    }
    const msgpack_object *id = r->body ? hoso_map_get(hoso_map_get(r->body, "file"), "id") : NULL;
    if (x->json) cli_print_json(r->body);
    else if (id && id->type == MSGPACK_OBJECT_STR) printf("%.*s\n", (int)id->via.str.size, id->via.str.ptr);
}

static int cmd_attach(cli *x, int argc, char **argv)
{
    const char *name = NULL, *v;
    int bad = 0;
    if (argc < 1 || argv[0][0] == '-') return usage("attach FILE [--name NAME]");
    for (int i = 1; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--name", &bad))) name = v;
        else return bad_arg("attach", argv[i], bad);
    }
    if (!cli_signed_in(x)) return 1;
    int rc = hoso_client_upload(x->c, argv[0], name, NULL, on_attached, x);
    if (rc == HOSO_ENOT_FOUND || rc == HOSO_EBAD_REQUEST || rc == HOSO_EIO) {
        fprintf(stderr, "hoso: cannot read %s (a regular, non-empty file)\n", argv[0]);
        return 1;
    }
    if (call_failed(x, rc)) return 1;
    /* Pieces and retries take longer than one request: wait up to 10 minutes. */
    hoso_client_run_until(x->c, &x->done, 600000);
    return x->done ? x->rc : 1;
}

static void on_downloaded(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
}

static int cmd_download(cli *x, int argc, char **argv)
{
    const char *out = NULL, *v;
    int bad = 0;
    if (argc < 1 || argv[0][0] == '-') return usage("download ID [--out FILE]");
    for (int i = 1; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--out", &bad))) out = v;
        else return bad_arg("download", argv[i], bad);
    }
    if (!cli_signed_in(x)) return 1;
    if (call_failed(x, hoso_client_download(x->c, argv[0], out ? out : argv[0], on_downloaded, x))) return 1;
    run(x);
    if (x->rc == 0 && !x->json) printf("Đã tải về %s\n", out ? out : argv[0]);
    return x->rc;
}

/* ---------------------------------------------------------------------------------- */
/* status, list */

/* No HTTP reply at all: the network or the server is down. */
static int is_offline(const hoso_client_error *e)
{
    return e->err == HOSO_EUNAVAILABLE && e->http_status == 0;
}

static void on_status(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (is_offline(&r->error)) {
        x->offline = 1;
        x->last_err = r->error;
        return;
    }
    if (r->error.err) return cli_error(x, &r->error);
    if (x->json) cli_print_json(r->body);
    else if (r->dossier) cli_print_dossier(r->dossier, 1);
}

static int cmd_status(cli *x, int argc, char **argv)
{
    if (argc != 1) return usage("status CODE");
    if (!cli_signed_in(x)) return 1;
    if (call_failed(x, hoso_client_get(x->c, argv[0], on_status, x))) return 1;
    run(x);
    if (x->offline) {
        /* Offline, the last known copy is still worth showing, marked as such. */
        void *buf = NULL;
        size_t len = 0;
        if (hoso_client_cached_dossier(x->c, argv[0], &buf, &len) == 0 && cli_print_cached(x, buf, len, 0) == 0) {
            fprintf(stderr, "hoso: ngoại tuyến (%s): thông tin lưu trên máy, có thể chưa mới nhất\n",
                    x->last_err.message);
        } else {
            cli_error(x, &x->last_err);
        }
        free(buf);
    }
    return x->rc;
}

typedef struct cached_list {
    cli *x;
    int status;
    size_t n;
    msgpack_sbuffer items; /* --json: the matching dossiers, concatenated */
} cached_list;

static void print_cached_item(const void *buf, size_t len, void *ud)
{
    cached_list *l = ud;
    hoso_doc doc = {0};
    hoso_limits lim;
    hoso_limits_default(&lim);
    if (l->status && hoso_doc_from_msgpack(&doc, buf, len, &lim, NULL) == 0) {
        const msgpack_object *st = hoso_map_get(&doc.root, "status");
        int match = st && st->type == MSGPACK_OBJECT_POSITIVE_INTEGER && (int)st->via.u64 == l->status;
        hoso_doc_destroy(&doc);
        if (!match) return;
    }
    if (l->x->json) {
        msgpack_sbuffer_write(&l->items, buf, len);
        l->n++;
    } else if (cli_print_cached(l->x, buf, len, 1) == 0) {
        l->n++;
    }
}

/* --json offline: the online shape {dossiers, next: ""} plus cached: true. */
static void print_cached_list(cached_list *l)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "dossiers");
    msgpack_pack_array(&pk, (uint32_t)l->n);
    msgpack_sbuffer_write(&sb, l->items.data, l->items.size);
    hoso_pack_cstr(&pk, "next");
    hoso_pack_cstr(&pk, "");
    hoso_pack_cstr(&pk, "cached");
    msgpack_pack_true(&pk);
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS) cli_print_json(&u.data);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

typedef struct lister {
    cli *x;
    int status, officer;
    size_t total, pages;
    char next[512];
} lister;

static void on_list(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    lister *l = ud;
    l->x->done = 1;
    if (is_offline(&r->error) && l->pages == 0 && !l->officer) {
        l->x->offline = 1;
        l->x->last_err = r->error;
        return;
    }
    if (r->error.err) return cli_error(l->x, &r->error);
    if (l->x->json) cli_print_json(r->body);
    else
        for (size_t i = 0; i < r->ndossiers; i++) cli_print_dossier_line(&r->dossiers[i]);
    l->total += r->ndossiers;
    snprintf(l->next, sizeof(l->next), "%s", r->next ? r->next : "");
}

static int cmd_list(cli *x, int argc, char **argv)
{
    lister l = {.x = x};
    const char *v;
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--status", &bad))) l.status = atoi(v);
        else return bad_arg("list", argv[i], bad);
    }
    if (l.status < 0 || l.status > HOSO_ST_MAX) return usage("list: --status 1..10");
    if (!cli_signed_in(x)) return 1;
    int officer = strcmp(hoso_client_role(x->c), "citizen") != 0 && hoso_client_role(x->c)[0];
    l.officer = officer;
    do {
        int rc = officer ? hoso_client_agency_list(x->c, l.status, l.next[0] ? l.next : NULL, 100, on_list, &l)
                         : hoso_client_list(x->c, l.status, l.next[0] ? l.next : NULL, 100, on_list, &l);
        if (call_failed(x, rc)) return 1;
        run(x);
    } while (!x->rc && !x->offline && l.next[0] && ++l.pages < CLI_MAX_ITEMS);
    if (x->offline) {
        cached_list cl = {.x = x, .status = l.status};
        msgpack_sbuffer_init(&cl.items);
        hoso_client_cached_each(x->c, print_cached_item, &cl);
        if (x->json) print_cached_list(&cl);
        msgpack_sbuffer_destroy(&cl.items);
        l.total = cl.n;
        fprintf(stderr, "hoso: ngoại tuyến (%s): danh sách lưu trên máy, có thể chưa mới nhất\n",
                x->last_err.message);
    }
    if (!x->rc && !x->json) printf("(%zu hồ sơ)\n", l.total);
    return x->rc;
}

/* ---------------------------------------------------------------------------------- */
/* sync, watch */

static void on_op_done(hoso_client *c, const hoso_client_op *op, const char *status, const hoso_dossier *d,
                       const hoso_client_error *err, void *ud)
{
    cli *x = ud;
    if (!x->syncing) return; /* the waiting command reports its own op */
    if (err) fprintf(stderr, "hoso: op %s (%s) rejected: %s: %s\n", op->op_id, op->kind, err->code, err->message);
    else if (!x->json) printf("Đã gửi %s %s%s%s\n", op->kind, status, d ? " " : "", d ? d->code.ptr : "");
}

static void on_event(hoso_client *c, const hoso_client_event *ev, void *ud)
{
    cli *x = ud;
    int counted = strcmp(ev->type, "dossier.status") == 0;
    if (x->watching && !counted) return;
    if (x->json) cli_print_json(ev->raw);
    else cli_print_event(ev);
    if (x->watching && counted && x->count > 0 && ++x->seen >= x->count) x->done = 1;
}

static void on_snapshot(hoso_client *c, const hoso_client_snapshot *s, void *ud)
{
    cli *x = ud;
    if (x->json) {
        if (s->raw) cli_print_json(s->raw);
        return;
    }
    printf("Đồng bộ lại toàn bộ: %zu hồ sơ (đến sự kiện #%" PRIu64 ").\n", s->ndossiers, s->head);
}

static void on_sync(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    cli *x = ud;
    x->done = 1;
    if (r->error.err) return cli_error(x, &r->error);
    if (!x->json)
        printf("Đã đồng bộ: còn %zu thao tác chờ gửi, sự kiện cuối #%" PRIu64 ".\n", hoso_client_outbox_len(c),
               hoso_client_last_seq(c));
}

static int cmd_sync(cli *x, int argc, char **argv)
{
    if (argc) return usage("sync takes no arguments");
    x->syncing = 1;
    if (!cli_signed_in(x)) return 1;
    if (call_failed(x, hoso_client_sync(x->c, on_sync, x))) return 1;
    run(x);
    return x->rc;
}

static cli *g_watch;
static int g_interrupted;
static void on_sigint(uv_signal_t *s, int sig)
{
    g_interrupted = 1;
    g_watch->done = 1;
}

static void on_push_state(hoso_client *c, hoso_push_state st, const hoso_client_error *why, void *ud)
{
    cli *x = ud;
    if (x->watching && st == HOSO_PUSH_OFF && why) {
        cli_error(x, why); /* refused (token): retrying cannot help */
        x->done = 1;
        return;
    }
    if (x->watching && !x->json && why && why->message[0]) fprintf(stderr, "hoso: %s\n", why->message);
    if (x->watching && st == HOSO_PUSH_LIVE && !x->json) {
        fprintf(stderr, "hoso: đang theo dõi (Ctrl-C để dừng)\n");
    }
}

static int cmd_watch(cli *x, int argc, char **argv)
{
    long timeout_s = 0;
    const char *v;
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        if ((v = opt_val(argc, argv, &i, "--count", &bad))) x->count = atol(v);
        else if ((v = opt_val(argc, argv, &i, "--timeout", &bad))) timeout_s = atol(v);
        else return bad_arg("watch", argv[i], bad);
    }
    if (x->count < 0 || timeout_s < 0) return usage("watch: --count and --timeout are >= 0");
    if (!cli_signed_in(x)) return 1;
    uv_signal_t sig;
    g_watch = x;
    uv_signal_init(&x->loop, &sig);
    uv_signal_start(&sig, on_sigint, SIGINT);
    x->watching = 1;
    if (call_failed(x, hoso_client_push_start(x->c))) return 1;
    hoso_client_run_until(x->c, &x->done, timeout_s > 0 ? (unsigned)(timeout_s * 1000) : 0);
    /* Closing the handle restores the default SIGINT action. After a Ctrl-C, a second
     * SIGINT (timeout(1) and shells also signal the process group) must not kill the
     * clean shutdown: ignore it, with SIGINT blocked in between so none slips through. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    uv_close((uv_handle_t *)&sig, NULL);
    if (g_interrupted) signal(SIGINT, SIG_IGN);
    sigprocmask(SIG_SETMASK, &old, NULL);
    hoso_client_push_stop(x->c);
    hoso_client_run_for(x->c, 10);
    if (x->count > 0 && x->seen < x->count && !x->rc) {
        hoso_client_error e = {.err = HOSO_EUNAVAILABLE};
        snprintf(e.code, sizeof(e.code), "TIMEOUT");
        snprintf(e.message, sizeof(e.message), "%ld of %ld status changes before the timeout", x->seen, x->count);
        cli_error(x, &e);
    }
    return x->rc;
}

/* ---------------------------------------------------------------------------------- */
/* officer move */

int cli_officer(cli *x, int argc, char **argv);

int main(int argc, char **argv)
{
    cli x;
    char state[4096], saved[1024];
    const char *server = NULL, *st = getenv("HOSO_STATE"), *ca = getenv("HOSO_CA_FILE");
    int i = 1;
    memset(&x, 0, sizeof(x));
    if (st && st[0]) {
        snprintf(state, sizeof(state), "%s", st);
    } else {
        const char *home = getenv("HOME");
        snprintf(state, sizeof(state), "%s/.hoso", home && home[0] ? home : ".");
    }
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) x.json = 1;
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) server = argv[++i];
        else if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc) ca = argv[++i];
        else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) snprintf(state, sizeof(state), "%s", argv[++i]);
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return fputs(usage_text, stdout), 0;
        else {
            fprintf(stderr, "hoso: unknown option %s\n", argv[i]);
            return usage(NULL);
        }
    }
    if (i >= argc) return usage(NULL);
    const char *cmd = argv[i++];
    int (*fn)(cli *, int, char **) = NULL;
    static const struct {
        const char *name;
        int (*fn)(cli *, int, char **);
    } cmds[] = {{"login", cmd_login}, {"logout", cmd_logout}, {"services", cmd_services}, {"submit", cmd_submit},
                {"status", cmd_status}, {"list", cmd_list}, {"watch", cmd_watch}, {"sync", cmd_sync},
                {"message", cmd_message}, {"messages", cmd_messages}, {"attach", cmd_attach},
                {"download", cmd_download},
                {"officer", cli_officer}};
    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
        if (strcmp(cmd, cmds[k].name) == 0) fn = cmds[k].fn;
    if (!fn) return usage("unknown command");
    for (int k = i; k < argc; k++)
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) return fputs(usage_text, stdout), 0;
    int server_given = server != NULL || (getenv("HOSO_SERVER") && getenv("HOSO_SERVER")[0]);
    if (!server) server = getenv("HOSO_SERVER");
    if (!server || !server[0]) server = remembered_server(state, saved, sizeof(saved)) == 0 ? saved : "http://127.0.0.1:8080";

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&x.loop);
    hoso_client_options opt = {.base_url = server, .state_dir = state, .ca_file = ca && ca[0] ? ca : NULL};
    hoso_client_callbacks cbs = {.on_op_done = on_op_done, .on_event = on_event, .on_snapshot = on_snapshot,
                                 .on_push_state = on_push_state, .ud = &x};
    int rc = hoso_client_new(&x.c, &x.loop, &opt, &cbs);
    if (rc) {
        fprintf(stderr, "hoso: %s: cannot start (server %s, state %s): %s\n", hoso_err_code(rc), server, state,
                hoso_err_message(rc));
        return rc == HOSO_EBAD_REQUEST ? 2 : 1;
    }
    rc = fn(&x, argc - i, argv + i);
    if (rc == 0 && strcmp(cmd, "login") == 0 && server_given) remember_server(state, server);
    hoso_client_free(x.c);
    uv_run(&x.loop, UV_RUN_NOWAIT);
    uv_loop_close(&x.loop);
    return rc;
}
