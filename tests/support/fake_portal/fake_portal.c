/*
 * fake_portal - a stand-in for the National Public Service Portal's integration API,
 * run as its own process by the mirror tests (never in production).
 *
 *   POST /auth  {username, password}                 -> {error_code: 0, session}
 *   POST /api   {session, madonvi, service, ...}     -> {error_code, message[, data]}
 *   POST /control {fail_rate, drop_rate, slow_ms, reject, expire_every, expire_now}
 *
 * It validates what the real portal is known to require (field names, date format
 * yyyyMMddHHmmss, status codes, isUpdating against what it holds, a dossier before its
 * progress), answers error_code 401 for an expired session, and appends every accepted
 * call to the record file as one JSON line: {service, mahoso, status, at, updating,
 * received_ms} (received_ms: this machine's clock, for the bench's delivery latency).
 * Faults on request: a share of calls answered 503 (fail_rate %), dropped without a
 * reply (drop_rate %), or answered 200 with a body that is not JSON or has no
 * error_code (garbage_rate %; the call is not processed), each call slowed by slow_ms, every session expired after
 * expire_every calls, and dossier `reject` refused for good (error_code 2).
 *
 * usage: fake_portal --record FILE [--port P] [--user U --password P] [--agency CODE]
 *                    [--fail-rate PCT] [--drop-rate PCT] [--slow-ms MS] [--reject CODE]
 *                    [--expire-every N] [--garbage-rate PCT] [--tls-cert PEM --tls-key PEM]
 * With --tls-cert and --tls-key it speaks HTTPS only.
 * Prints "port N" on stdout once listening; SIGTERM stops it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static struct {
    pthread_mutex_t lock;
    FILE *record;
    const char *user, *password, *agency;
    int fail_rate, drop_rate, slow_ms, expire_every, garbage_rate;
    char reject[64];
    unsigned long calls;
    unsigned long session_gen;   /* sessions of an older generation are expired */
    json_t *known;               /* mahoso -> status (dossiers the portal holds) */
    unsigned seed;
} P = {PTHREAD_MUTEX_INITIALIZER, NULL, "mirror", "mirror-pass", "000.00.00.H29", 0, 0, 0, 0, 0, "", 0, 1, NULL, 1};

static SSL_CTX *tls; /* --tls-cert/--tls-key: HTTPS */

/* One connection's byte stream, plain or TLS. */
typedef struct stream {
    int fd;
    SSL *ssl;
} stream;

static ssize_t s_read(stream *st, void *buf, size_t n)
{
    if (st->ssl == NULL)
        return read(st->fd, buf, n);
    int r = SSL_read(st->ssl, buf, (int)(n > INT32_MAX ? INT32_MAX : n));
    return r > 0 ? r : -1;
}

static int s_write(stream *st, const void *buf, size_t n)
{
    if (st->ssl == NULL)
        return write(st->fd, buf, n) == (ssize_t)n;
    return SSL_write(st->ssl, buf, (int)n) == (int)n;
}

static int roll(int pct)
{
    return pct > 0 && (int)(rand_r(&P.seed) % 100) < pct;
}

static json_t *reply(int code, const char *msg)
{
    return json_pack("{s:i, s:s}", "error_code", code, "message", msg);
}

static int is_date(const char *s)
{
    if (s[0] == '\0')
        return 1;
    if (strlen(s) != 14)
        return 0;
    for (int i = 0; i < 14; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    int mo = (s[4] - '0') * 10 + (s[5] - '0'), d = (s[6] - '0') * 10 + (s[7] - '0');
    int h = (s[8] - '0') * 10 + (s[9] - '0'), mi = (s[10] - '0') * 10 + (s[11] - '0');
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int status_ok(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return s[0] != '\0' && *end == '\0' && v >= 1 && v <= 10;
}

/* A field problem as the message of error_code 3, or NULL when the record is whole. */
static const char *check_fields(const json_t *rec, const char *const *names, size_t n, char *why, size_t whylen)
{
    if (!json_is_object(rec))
        return "data[0] is not an object";
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(rec, names[i]);
        if (!json_is_string(v)) {
            snprintf(why, whylen, "field %s is missing or not a string", names[i]);
            return why;
        }
        const char *s = json_string_value(v);
        if (strncmp(names[i], "Ngay", 4) == 0 || strcmp(names[i], "ThoiDiemXuLy") == 0) {
            if (!is_date(s)) {
                snprintf(why, whylen, "field %s is not yyyyMMddHHmmss: %s", names[i], s);
                return why;
            }
        }
    }
    return NULL;
}

static const char *const DOSSIER_FIELDS[] = {"MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "ChuHoSo",
                                             "LoaiDoiTuong", "SoDienThoai", "TrichYeuHoSo", "NgayTiepNhan",
                                             "NgayHenTra", "TrangThaiHoSo", "NgayTra", "KenhThucHien", "DonViXuLy",
                                             "HinhThuc"};
static const char *const PROGRESS_FIELDS[] = {"MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy",
                                              "NoiDungXuLy", "TrangThai", "NgayBatDau", "NgayKetThucTheoQuyDinh"};

static void record(const char *service, const char *mahoso, const char *status, const char *at, const char *updating,
                   size_t result_files)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "service", service, "mahoso", mahoso, "status", status,
                             "at", at, "updating", updating, "received_ms",
                             (json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, "result_files",
                             (json_int_t)result_files);
    char *text = json_dumps(line, JSON_COMPACT);
    fprintf(P.record, "%s\n", text);
    fflush(P.record);
    free(text);
    json_decref(line);
}

/* The integration endpoint, under the lock. */
static json_t *api(const json_t *req)
{
    char why[256];
    const char *session = json_string_value(json_object_get(req, "session"));
    const char *service = json_string_value(json_object_get(req, "service"));
    const char *madonvi = json_string_value(json_object_get(req, "madonvi"));
    char expect[32];
    snprintf(expect, sizeof expect, "s%lu-", P.session_gen);
    if (session == NULL || strncmp(session, expect, strlen(expect)) != 0)
        return reply(401, "Session invalid or expired");
    if (P.expire_every > 0 && ++P.calls % (unsigned long)P.expire_every == 0) {
        P.session_gen++; /* this call and every later one with the old session fail */
        return reply(401, "Session invalid or expired");
    }
    if (madonvi == NULL || strcmp(madonvi, P.agency) != 0)
        return reply(3, "madonvi is missing or not this unit's");
    if (service == NULL)
        return reply(3, "service is missing");
    if (strcmp(service, "TraCuuHoSo") == 0) {
        const char *code = json_string_value(json_object_get(req, "mahoso"));
        if (code == NULL)
            return reply(3, "mahoso is missing");
        json_t *r = reply(0, "ok");
        json_t *st = json_object_get(P.known, code);
        json_object_set_new(r, "data", st ? json_pack("[{s:s, s:O}]", "MaHoSo", code, "TrangThaiHoSo", st) : json_array());
        return r;
    }
    const json_t *data = json_object_get(req, "data");
    const json_t *rec = json_is_array(data) && json_array_size(data) == 1 ? json_array_get(data, 0) : NULL;
    if (rec == NULL)
        return reply(3, "data must be an array of one record");
    const char *code = json_string_value(json_object_get(rec, "MaHoSo"));
    if (code != NULL && P.reject[0] && strcmp(code, P.reject) == 0)
        return reply(2, "Hồ sơ bị từ chối: dữ liệu không hợp lệ");
    if (strcmp(service, "DongBoHoSoMC") == 0) {
        const char *bad = check_fields(rec, DOSSIER_FIELDS, sizeof DOSSIER_FIELDS / sizeof *DOSSIER_FIELDS, why, sizeof why);
        if (bad)
            return reply(3, bad);
        const char *upd = json_string_value(json_object_get(req, "isUpdating"));
        const char *st = json_string_value(json_object_get(rec, "TrangThaiHoSo"));
        if (!status_ok(st))
            return reply(3, "TrangThaiHoSo must be 1..10");
        if (strcmp(json_string_value(json_object_get(rec, "KenhThucHien")), "2") != 0 ||
            strcmp(json_string_value(json_object_get(rec, "LoaiDoiTuong")), "1") != 0)
            return reply(3, "KenhThucHien and LoaiDoiTuong must be 2 and 1 for a citizen online");
        if (utf8_chars(json_string_value(json_object_get(rec, "TrichYeuHoSo"))) > 1000)
            return reply(3, "TrichYeuHoSo is longer than 1000 characters");
        const json_t *files = json_object_get(rec, "DanhSachGiayToKetQua");
        if (files != NULL) {
            size_t i;
            const json_t *f;
            if (!json_is_array(files))
                return reply(3, "DanhSachGiayToKetQua must be an array");
            json_array_foreach(files, i, f) if (!json_is_string(json_object_get(f, "TenGiayTo")) ||
                                                !json_is_string(json_object_get(f, "MaGiayTo")))
                return reply(3, "DanhSachGiayToKetQua items need TenGiayTo and MaGiayTo");
        }
        int known = json_object_get(P.known, code) != NULL;
        if (upd == NULL || (strcmp(upd, "True") != 0 && strcmp(upd, "False") != 0))
            return reply(3, "isUpdating must be \"True\" or \"False\"");
        if (known != (strcmp(upd, "True") == 0))
            return reply(4, known ? "Hồ sơ đã tồn tại (isUpdating must be True)" : "Hồ sơ không tồn tại (isUpdating must be False)");
        json_object_set_new(P.known, code, json_string(st));
        record(service, code, st, json_string_value(json_object_get(rec, "NgayTiepNhan")), upd,
               json_array_size(json_object_get(rec, "DanhSachGiayToKetQua")));
        return reply(0, "ok");
    }
    if (strcmp(service, "CapNhatTienDoHoSoMC") == 0) {
        const char *bad = check_fields(rec, PROGRESS_FIELDS, sizeof PROGRESS_FIELDS / sizeof *PROGRESS_FIELDS, why, sizeof why);
        if (bad)
            return reply(3, bad);
        if (json_object_get(P.known, code) == NULL)
            return reply(4, "Hồ sơ không tồn tại: DongBoHoSoMC first");
        const char *st = json_string_value(json_object_get(rec, "TrangThai"));
        if (!status_ok(st))
            return reply(3, "TrangThai must be 1..10");
        record(service, code, st, json_string_value(json_object_get(rec, "ThoiDiemXuLy")), "", 0);
        return reply(0, "ok");
    }
    return reply(3, "unknown service");
}

static json_t *handle(const char *path, const char *body, size_t len, int *http_status)
{
    json_t *req = json_loadb(body, len, 0, NULL), *r;
    *http_status = 200;
    if (req == NULL || !json_is_object(req)) {
        json_decref(req);
        *http_status = 400;
        return reply(3, "the body is not a JSON object");
    }
    pthread_mutex_lock(&P.lock);
    if (strcmp(path, "/auth") == 0) {
        const char *u = json_string_value(json_object_get(req, "username"));
        const char *p = json_string_value(json_object_get(req, "password"));
        if (u && p && strcmp(u, P.user) == 0 && strcmp(p, P.password) == 0) {
            char s[64];
            snprintf(s, sizeof s, "s%lu-%u", P.session_gen, rand_r(&P.seed));
            r = json_pack("{s:i, s:s, s:s}", "error_code", 0, "message", "ok", "session", s);
        } else {
            r = reply(1, "Sai tên đăng nhập hoặc mật khẩu");
        }
    } else if (strcmp(path, "/api") == 0) {
        r = api(req);
    } else if (strcmp(path, "/control") == 0) {
        json_t *v;
        if ((v = json_object_get(req, "fail_rate")) != NULL) P.fail_rate = (int)json_integer_value(v);
        if ((v = json_object_get(req, "drop_rate")) != NULL) P.drop_rate = (int)json_integer_value(v);
        if ((v = json_object_get(req, "slow_ms")) != NULL) P.slow_ms = (int)json_integer_value(v);
        if ((v = json_object_get(req, "garbage_rate")) != NULL) P.garbage_rate = (int)json_integer_value(v);
        if ((v = json_object_get(req, "expire_every")) != NULL) P.expire_every = (int)json_integer_value(v);
        if ((v = json_object_get(req, "reject")) != NULL) snprintf(P.reject, sizeof P.reject, "%s", json_string_value(v) ? json_string_value(v) : "");
        if (json_is_true(json_object_get(req, "expire_now"))) P.session_gen++;
        r = reply(0, "ok");
    } else {
        *http_status = 404;
        r = reply(3, "no such endpoint");
    }
    pthread_mutex_unlock(&P.lock);
    json_decref(req);
    return r;
}

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[1 << 16];
    size_t have = 0;
    stream st = {fd, NULL};
    if (tls != NULL) {
        if ((st.ssl = SSL_new(tls)) == NULL || SSL_set_fd(st.ssl, fd) != 1 || SSL_accept(st.ssl) != 1)
            goto Close; /* a client that does not trust us gives up here */
    }
    for (;;) {
        char *end = NULL;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            if (have == sizeof buf)
                goto Close;
            ssize_t n = s_read(&st, buf + have, sizeof buf - have);
            if (n <= 0)
                goto Close;
            have += (size_t)n;
        }
        size_t head = (size_t)(end - buf) + 4, clen = 0;
        char path[128] = "";
        sscanf(buf, "POST %127s HTTP/1.1", path);
        for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
            if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
                clen = strtoul(l + 17, NULL, 10);
        if (head + clen > sizeof buf)
            goto Close;
        while (have < head + clen) {
            ssize_t n = s_read(&st, buf + have, sizeof buf - have);
            if (n <= 0)
                goto Close;
            have += (size_t)n;
        }
        int drop, fail, slow, garbage;
        pthread_mutex_lock(&P.lock);
        int control = strcmp(path, "/control") == 0;
        drop = !control && roll(P.drop_rate);
        fail = !control && !drop && roll(P.fail_rate);
        garbage = !control && !drop && !fail && roll(P.garbage_rate);
        slow = control ? 0 : P.slow_ms;
        pthread_mutex_unlock(&P.lock);
        if (slow > 0)
            usleep((useconds_t)slow * 1000);
        if (drop)
            goto Close;
        int status = 503;
        char *text;
        if (garbage) { /* a proxy's error page, or JSON without error_code */
            status = 200;
            text = strdup(rand_r(&P.seed) % 2 ? "<html><body>502 Bad Gateway</body></html>" : "{\"ok\":true}");
        } else {
            json_t *r = fail ? reply(-1, "Hệ thống bận") : handle(path, buf + head, clen, &status);
            text = json_dumps(r, JSON_COMPACT);
            json_decref(r);
        }
        char hdr[256];
        int hl = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                          status, status == 200 ? "OK" : "Error", strlen(text), fail ? "Retry-After: 0\r\n" : "");
        int ok = s_write(&st, hdr, (size_t)hl) && s_write(&st, text, strlen(text));
        free(text);
        if (!ok)
            goto Close;
        memmove(buf, buf + head + clen, have - head - clen);
        have -= head + clen;
    }
Close:
    if (st.ssl != NULL)
        SSL_free(st.ssl);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *rec = NULL, *cert = NULL, *key = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--port") == 0) port = atoi(v);
        else if (strcmp(o, "--record") == 0) rec = v;
        else if (strcmp(o, "--user") == 0) P.user = v;
        else if (strcmp(o, "--password") == 0) P.password = v;
        else if (strcmp(o, "--agency") == 0) P.agency = v;
        else if (strcmp(o, "--fail-rate") == 0) P.fail_rate = atoi(v);
        else if (strcmp(o, "--drop-rate") == 0) P.drop_rate = atoi(v);
        else if (strcmp(o, "--slow-ms") == 0) P.slow_ms = atoi(v);
        else if (strcmp(o, "--expire-every") == 0) P.expire_every = atoi(v);
        else if (strcmp(o, "--garbage-rate") == 0) P.garbage_rate = atoi(v);
        else if (strcmp(o, "--reject") == 0) snprintf(P.reject, sizeof P.reject, "%s", v);
        else if (strcmp(o, "--tls-cert") == 0) cert = v;
        else if (strcmp(o, "--tls-key") == 0) key = v;
        else {
            fprintf(stderr, "fake_portal: unknown option %s\n", o);
            return 2;
        }
    }
    if (rec == NULL || (P.record = fopen(rec, "a+")) == NULL) {
        fprintf(stderr, "fake_portal: --record FILE is needed (and must open)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (cert != NULL || key != NULL) {
        if (cert == NULL || key == NULL || (tls = SSL_CTX_new(TLS_server_method())) == NULL ||
            SSL_CTX_use_certificate_chain_file(tls, cert) != 1 || SSL_CTX_use_PrivateKey_file(tls, key, SSL_FILETYPE_PEM) != 1) {
            fprintf(stderr, "fake_portal: --tls-cert and --tls-key must name a PEM chain and its key\n");
            return 2;
        }
    }
    P.seed = (unsigned)getpid();
    /* The dossiers a previous run accepted (the portal came back with its data). */
    P.known = json_object();
    char line[4096];
    rewind(P.record);
    while (fgets(line, sizeof line, P.record) != NULL) {
        json_t *j = json_loads(line, 0, NULL);
        if (j && json_string_value(json_object_get(j, "service")) != NULL &&
            strcmp(json_string_value(json_object_get(j, "service")), "DongBoHoSoMC") == 0)
            json_object_set(P.known, json_string_value(json_object_get(j, "mahoso")), json_object_get(j, "status"));
        json_decref(j);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t alen = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 128) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "fake_portal: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, serve_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&at);
    }
}
