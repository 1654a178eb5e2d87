/*
 * portal.c - the portal mirror against the fake national portal (a process of its
 * own): every status change reaches it, in order per dossier, through an outage, a
 * share of failed calls, expired sessions, a dossier it refuses for good, and kill -9.
 */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "hoso_test.h"

enum { MAX_DOSSIERS = 1000, STEPS = 10 };

/* Each dossier walks 1 2 4 5 4 5 4 6 4 9: ten events, every kind of actor. */
static const int PATH[STEPS] = {1, 2, 4, 5, 4, 5, 4, 6, 4, 9};

typedef struct track {
    char code[64];
    long long version;
    int n; /* events made */
} track;

static ht_world W;
static ht_portal P;
static ht_user admin;
static track T[MAX_DOSSIERS];

static void admin_login(void)
{
    char args[256];
    memset(&admin, 0, sizeof admin);
    snprintf(admin.login, sizeof admin.login, "quantri%d", (int)getpid());
    snprintf(admin.password, sizeof admin.password, "Quan-tri-%d-Pass!", (int)getpid());
    snprintf(args, sizeof args, "create-admin --username '%s' --password '%s'", admin.login, admin.password);
    free(ht_admin(&W.s, args));
    ht_login(&W.c, &admin, 1);
}

/* The next event of dossier t: a submission, an officer's move, or the citizen's
 * supplement (5 -> 4). */
static void step(track *t)
{
    ht_resp r;
    int to = PATH[t->n];
    if (t->n == 0) {
        ht_submit(&W.c, &W.cit, &W.svc, t->code, sizeof t->code);
        t->version = 1;
    } else if (to == 4 && PATH[t->n - 1] == 5) {
        char path[256], op[80];
        ht_op_id(op, sizeof op);
        snprintf(path, sizeof path, "/v1/dossiers/%s/supplement", t->code);
        json_t *b = json_pack("{s:o, s:I, s:s}", "form", ht_valid_form(&W.svc), "base_version", (json_int_t)t->version,
                              "op_id", op);
        ht_mp_callj(&W.c, "POST", path, W.cit.token, b, &r);
        json_decref(b);
        HT_EXPECT_REPLY(&r, 200, NULL);
        t->version = ht_jint(ht_dossier_of(&r), "version");
        ht_resp_free(&r);
    } else {
        if (ht_transition(&W.c, &W.off, t->code, to, t->version, &r) != 200)
            HT_EXPECT_REPLY(&r, 200, NULL);
        t->version = ht_jint(ht_dossier_of(&r), "version");
        ht_resp_free(&r);
    }
    t->n++;
}

/* Steps [from, to) of the first n dossiers, dossier after dossier within each step so
 * that the log interleaves them. */
static void steps(int n, int from, int to)
{
    for (int s = from; s < to; s++)
        for (int i = 0; i < n; i++)
            step(&T[i]);
}

static json_t *mirror(void)
{
    ht_resp r;
    ht_json_call(&W.c, "GET", "/v1/admin/mirror", admin.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *j = json_incref(r.json);
    ht_resp_free(&r);
    return j;
}

/* Waits (at most secs) until the mirror has nothing left after its cursor and nothing
 * in flight, and set aside exactly `parked` deliveries. */
static json_t *wait_caught_up(int secs, long long parked)
{
    int64_t end = ht_mono_ms() + secs * 1000;
    json_t *m = NULL;
    while (ht_mono_ms() < end) {
        json_decref(m);
        m = mirror();
        if (ht_jint(m, "lag_events") == 0 && ht_jint(m, "in_flight") == 0 &&
            ht_jint(m, "dead_letter_count") + ht_jint(m, "waiting_behind") == parked)
            return m;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ht_fail("the mirror did not catch up in %d s: %s", secs, ht_dump(m));
}

/* The statuses the portal recorded for code as progress (CapNhatTienDoHoSoMC) in the
 * order it accepted them, and the last status of its dossier record. */
static int recorded(const json_t *rec, const char *code, int *out, int max, int *last_sync)
{
    size_t i;
    json_t *e;
    int n = 0;
    *last_sync = 0;
    json_array_foreach(rec, i, e) {
        if (strcmp(ht_jstr(e, "mahoso"), code) != 0)
            continue;
        int st = atoi(ht_jstr(e, "status"));
        if (strcmp(ht_jstr(e, "service"), "DongBoHoSoMC") == 0)
            *last_sync = st;
        else if (n < max)
            out[n++] = st;
    }
    return n;
}

/* Without a crash every change arrives exactly once, in order. */
static void expect_exact(const json_t *rec, int n)
{
    for (int i = 0; i < n; i++) {
        int got[64], last;
        int k = recorded(rec, T[i].code, got, 64, &last);
        if (k != T[i].n)
            ht_fail("dossier %s: the portal holds %d progress entries, %d changes were made", T[i].code, k, T[i].n);
        for (int s = 0; s < k; s++)
            if (got[s] != PATH[s])
                ht_fail("dossier %s: progress %d is status %d, expected %d (out of order)", T[i].code, s, got[s], PATH[s]);
        EXPECT_INT(last, PATH[T[i].n - 1]);
    }
}

/* After a crash a change may arrive again (at-least-once), but never out of order:
 * the record is the changes in order, with runs of earlier ones sent again, and it
 * ends with the last change. */
static void expect_at_least_once(const json_t *rec, int n)
{
    for (int i = 0; i < n; i++) {
        int got[256], last, k = recorded(rec, T[i].code, got, 256, &last), next = 0;
        for (int s = 0; s < k; s++) {
            if (next < T[i].n && got[s] == PATH[next]) {
                next++;
                continue;
            }
            /* A repeat: it must restart an earlier run of the same changes. */
            int ok = 0;
            for (int j = 0; j < next && !ok; j++)
                ok = got[s] == PATH[j];
            if (!ok)
                ht_fail("dossier %s: status %d at record %d is no change that was made", T[i].code, got[s], s);
        }
        if (next != T[i].n)
            ht_fail("dossier %s: only %d of %d changes reached the portal in order", T[i].code, next, T[i].n);
        EXPECT_INT(got[k - 1], PATH[T[i].n - 1]);
        EXPECT_INT(last, PATH[T[i].n - 1]);
    }
}

/* The month's dossiers the monitoring counters saw synced to the portal (the report's
 * totals.portal_synced), once it reaches want or 10 s pass: the mirror counts a
 * dossier through a writer op after the portal took it. */
static long long synced_total(long long want)
{
    char path[96];
    long long n = -1;
    time_t now = time(NULL) + 7 * 3600; /* the month in Asia/Ho_Chi_Minh */
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(path, sizeof path, "/v1/reports/monthly?month=%Y-%m", &tm);
    for (int64_t end = ht_mono_ms() + 10000; n != want && ht_mono_ms() < end;) {
        ht_resp r;
        ht_json_call(&W.c, "GET", path, admin.token, NULL, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        n = ht_jint(r.json, "totals.portal_synced");
        ht_resp_free(&r);
        if (n != want) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return n;
}

static void start(const char *portal_args, int portal_up)
{
    char args[512];
    memset(&P, 0, sizeof P);
    memset(T, 0, sizeof T);
    if (portal_up)
        ht_portal_start(&P, 0, portal_args);
    else
        P.port = ht_free_port();
    ht_portal_serve_args(&P, args, sizeof args);
    ht_world_start(&W, args);
    admin_login();
}

/* 10,000 changes across 1,000 dossiers: the first half while the portal is down, the
 * rest while it fails a fifth of its calls (503, a dropped connection, or a 200 whose
 * body is not JSON or has no error_code). */
static void test_outage_then_failures(void)
{
    start(NULL, 0);
    steps(MAX_DOSSIERS, 0, 5);
    json_t *m = mirror();
    EXPECT(ht_jint(m, "lag_events") > 0);
    EXPECT(ht_jstr(m, "last_error.message") != NULL);
    json_decref(m);

    ht_portal_start(&P, P.port, "--fail-rate 10 --drop-rate 6 --garbage-rate 4");
    steps(MAX_DOSSIERS, 5, STEPS);
    m = wait_caught_up(120, 0);
    EXPECT(ht_jint(m, "retried") > 0);
    json_decref(m);
    json_t *rec = ht_portal_records(&P);
    expect_exact(rec, MAX_DOSSIERS);
    json_decref(rec);
    EXPECT_INT(synced_total(MAX_DOSSIERS), MAX_DOSSIERS);

    /* The metrics say the same. */
    EXPECT(ht_metric(&W.c, "hoso_consumer_lag_events{consumer=\"portal\"}") == 0);
    EXPECT(ht_metric(&W.c, "hoso_consumer_deliveries_total{consumer=\"portal\",outcome=\"sent\"}") >= MAX_DOSSIERS * STEPS);
    ht_world_stop(&W);
    ht_portal_stop(&P);
}

/* kill -9 twice while the mirror is behind: nothing is lost, the cursor moves on. */
static void test_kill9_during_delivery(void)
{
    enum { N = 200 };
    /* The changes are made while the portal is down, so that all of them are still to
     * deliver when it comes back, slowly, and hosod is killed. */
    start(NULL, 0);
    steps(N, 0, STEPS);
    ht_portal_start(&P, P.port, "--slow-ms 20");
    long long saved = 0; /* the cursor a restart found: saved cursors never go back */
    for (int round = 0; round < 2; round++) {
        json_t *m = mirror();
        long long before = ht_jint(m, "cursor");
        json_decref(m);
        /* Let some deliveries land, then crash with the rest in flight. */
        int64_t end = ht_mono_ms() + 10000;
        long long lag = 0;
        while (ht_mono_ms() < end) {
            m = mirror();
            long long cur = ht_jint(m, "cursor");
            lag = ht_jint(m, "lag_events");
            json_decref(m);
            if (cur > before + 100 || lag == 0)
                break;
        }
        EXPECT(lag > 0); /* the crash comes with deliveries still to make */
        ht_server_kill9(&W.s);
        ht_server_restart(&W.s);
        ht_conn_close(&W.c);
        ht_conn_init(&W.c, W.s.port);
        ht_login(&W.c, &admin, 1);
        /* What was acknowledged in the last moments before the kill may be sent
         * again (at-least-once), so the cursor may restart a little behind where it
         * was; never behind what an earlier restart found. */
        m = mirror();
        EXPECT(ht_jint(m, "cursor") >= saved);
        saved = ht_jint(m, "cursor");
        json_decref(m);
        fprintf(stderr, "round %d: killed past cursor %lld, restarted at %lld\n", round, before + 100, saved);
    }
    json_decref(wait_caught_up(60, 0));
    json_t *rec = ht_portal_records(&P);
    expect_at_least_once(rec, N);
    json_decref(rec);
    /* Sent twice or not, each dossier counts once as synced in the monthly report. */
    EXPECT_INT(synced_total(N), N);
    ht_world_stop(&W);
    ht_portal_stop(&P);
}

/* Sessions expire every 37 calls; one dossier is refused for good and waits as a dead
 * letter while the others flow; after the fix an operator's retry sends it, in order. */
static void test_session_expiry_and_dead_letter(void)
{
    enum { N = 40 };
    char args[128];
    start(NULL, 0);
    steps(N, 0, 4);
    snprintf(args, sizeof args, "--expire-every 37 --reject %s", T[7].code);
    ht_portal_start(&P, P.port, args);
    /* The refused dossier: its first event is dead, its three later ones wait. */
    json_t *m = wait_caught_up(60, 4);
    EXPECT_INT(ht_jint(m, "dead_letter_count"), 1);
    EXPECT_INT(ht_jint(m, "waiting_behind"), 3);
    EXPECT_STR(ht_jstr(ht_j(m, "dead_letters"), "0.code"), T[7].code);
    EXPECT(strstr(ht_jstr(ht_j(m, "dead_letters"), "0.reason"), "error_code 2") != NULL);
    EXPECT(ht_jint(m, "session_renewals") > 0);
    json_decref(m);
    /* Later changes of the refused dossier wait too; the others keep flowing. */
    step(&T[7]);
    step(&T[8]);
    json_decref(wait_caught_up(30, 5));

    ht_portal_control(&P, json_pack("{s:s}", "reject", ""));
    ht_resp r;
    ht_json_call(&W.c, "POST", "/v1/admin/mirror/retry", admin.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 202, NULL);
    ht_resp_free(&r);
    json_decref(wait_caught_up(30, 0));
    json_t *rec = ht_portal_records(&P);
    expect_exact(rec, N);
    json_decref(rec);

    /* Only an admin sees the mirror. */
    ht_json_call(&W.c, "GET", "/v1/admin/mirror", W.off.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 403, "FORBIDDEN");
    ht_resp_free(&r);
    ht_world_stop(&W);
    ht_portal_stop(&P);
}

/* The mirror's settings: all five or none, and a config file only its owner can read. */
static void test_configuration(void)
{
    char path[PATH_MAX], *out = NULL;
    const char *hosod = ht_hosod();
    snprintf(path, sizeof path, "%s/portal-%d.conf", ht_tmpdir(), (int)getpid());
    FILE *f = fopen(path, "w");
    if (f == NULL)
        ht_fail("cannot write %s", path);
    fprintf(f, "# the mirror's account\nauth_url = http://127.0.0.1:1/auth\nurl=http://127.0.0.1:1/api\nuser=mirror\n"
               "password=mirror-pass\nagency=000.00.00.H29\nretry_max_ms=2000\n");
    fclose(f);
    chmod(path, 0644);
    EXPECT_INT(ht_sh(&out, "'%s' serve --data /nonexistent --portal-config '%s' 2>&1", hosod, path), 2);
    EXPECT(strstr(out, "mode 0600") != NULL);
    free(out);
    EXPECT_INT(ht_sh(&out, "'%s' serve --data /nonexistent --portal-url http://127.0.0.1:1/api 2>&1", hosod), 2);
    EXPECT(strstr(out, "--portal-auth-url") != NULL);
    free(out);

    chmod(path, 0600);
    char args[PATH_MAX + 32];
    snprintf(args, sizeof args, "--portal-config %s", path);
    ht_server_start(&W.s, args);
    ht_server_stop(&W.s);
    EXPECT_INT(ht_sh(&out, "grep -c 'portal mirror on: http://127.0.0.1:1/api' '%s'", W.s.log), 0);
    free(out);
    EXPECT_INT(ht_sh(&out, "grep -c 'mirror-pass' '%s'", W.s.log), 1); /* the password is never logged */
    free(out);
    unlink(path);
}

/* The mirror over TLS: the portal's certificate is checked against the CA given and
 * against the URL's host name; a portal it cannot trust gets nothing. */
static void test_tls(void)
{
    char certs[200], pargs[512], args[1024];
    if (snprintf(certs, sizeof certs, "%s/portal-certs-XXXXXX", ht_tmpdir()) >= (int)sizeof certs)
        ht_fail("the scratch dir's path is too long");
    if (mkdtemp(certs) == NULL)
        ht_fail("mkdtemp failed");
    /* A CA and a certificate for the name localhost only (no address). */
    if (ht_sh(NULL,
              "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
              "-out ca.pem -days 2 -subj '/CN=hoso portal test CA' 2>/dev/null && "
              "printf 'subjectAltName=DNS:localhost\\n' > ext && "
              "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout portal.key -out portal.csr "
              "-subj '/CN=localhost' 2>/dev/null && "
              "openssl x509 -req -in portal.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out portal.pem -days 2 "
              "-extfile ext 2>/dev/null && "
              "printf 'subjectAltName=DNS:example.test\\n' > ext2 && "
              "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.csr "
              "-subj '/CN=example.test' 2>/dev/null && "
              "openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out other.pem -days 2 "
              "-extfile ext2 2>/dev/null",
              certs) != 0)
        ht_fail("openssl could not make the test certificates");
    memset(&P, 0, sizeof P);
    memset(T, 0, sizeof T);
    snprintf(pargs, sizeof pargs, "--tls-cert %s/portal.pem --tls-key %s/portal.key", certs, certs);
    ht_portal_start(&P, 0, pargs);

    /* Trusted (the CA given) and the right name: every change arrives. */
    snprintf(args, sizeof args,
             "--portal-auth-url https://localhost:%d/auth --portal-url https://localhost:%d/api --portal-user mirror "
             "--portal-password mirror-pass --portal-agency 000.00.00.H29 --portal-retry-min 20 --portal-retry-max 300 "
             "--portal-ca %s/ca.pem",
             P.port, P.port, certs);
    ht_world_start(&W, args);
    admin_login();
    steps(3, 0, 3);
    json_decref(wait_caught_up(30, 0));
    json_t *rec = ht_portal_records(&P);
    expect_exact(rec, 3);
    json_decref(rec);
    ht_world_stop(&W);

    /* The system's CAs do not know the test CA; an address is not the certificate's name;
     * a certificate from the right CA for another name. */
    const char *bad[] = {"https://localhost:%d/%s --portal-auth-url https://localhost:%d/auth",
                         "https://127.0.0.1:%d/%s --portal-auth-url https://127.0.0.1:%d/auth --portal-ca %s/ca.pem",
                         "https://localhost:%d/%s --portal-auth-url https://localhost:%d/auth --portal-ca %s/ca.pem"};
    for (int i = 0; i < 3; i++) {
        char url[512];
        if (i == 2) { /* the same portal, now with a certificate for example.test */
            ht_portal_stop(&P);
            snprintf(pargs, sizeof pargs, "--tls-cert %s/other.pem --tls-key %s/other.key", certs, certs);
            ht_portal_start(&P, P.port, pargs);
        }
        snprintf(url, sizeof url, bad[i], P.port, "api", P.port, certs);
        snprintf(args, sizeof args, "--portal-url %s --portal-user mirror --portal-password mirror-pass "
                                    "--portal-agency 000.00.00.H29 --portal-retry-min 20 --portal-retry-max 300", url);
        memset(T, 0, sizeof T);
        rec = ht_portal_records(&P);
        size_t before = json_array_size(rec);
        json_decref(rec);
        ht_world_start(&W, args);
        admin_login();
        steps(1, 0, 2);
        int64_t end = ht_mono_ms() + 5000;
        json_t *m = NULL;
        while (ht_mono_ms() < end) {
            json_decref(m);
            m = mirror();
            if (ht_jstr(m, "last_error.message") != NULL)
                break;
        }
        if (ht_jstr(m, "last_error.message") == NULL || ht_jint(m, "sent") != 0)
            ht_fail("case %d: the mirror trusted a portal it should not: %s", i, ht_dump(m));
        json_decref(m);
        rec = ht_portal_records(&P);
        EXPECT_INT(json_array_size(rec), before); /* the portal got nothing */
        json_decref(rec);
        ht_world_stop(&W);
    }
    ht_portal_stop(&P);
}

/* A result with a file: its name goes to the portal in DanhSachGiayToKetQua (the fake
 * portal checks the items' fields and records how many). */
static void test_result_files_named(void)
{
    char code[96], loc[128], id[128], h[600], path[160];
    uint8_t pdf[2048];
    ht_resp r;
    start(NULL, 1);
    ht_submit(&W.c, &W.cit, &W.svc, code, sizeof code);
    memset(pdf, 'x', sizeof pdf);
    memcpy(pdf, "%PDF-1.4\n", 9);
    snprintf(h, sizeof h, "Tus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\nUpload-Length: %zu\r\n", W.off.token,
             sizeof pdf);
    ht_http(&W.c, "POST", "/v1/uploads", h, NULL, 0, &r);
    HT_EXPECT_REPLY(&r, 201, NULL);
    if (!ht_resp_header(&r, "Location", loc, sizeof loc)) ht_fail("no Location");
    snprintf(id, sizeof id, "%s", loc + strlen("/v1/uploads/"));
    ht_resp_free(&r);
    snprintf(h, sizeof h,
             "Tus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\nContent-Type: application/offset+octet-stream\r\n"
             "Upload-Offset: 0\r\n",
             W.off.token);
    ht_http(&W.c, "PATCH", loc, h, pdf, sizeof pdf, &r);
    EXPECT_INT(r.status, 204);
    ht_resp_free(&r);
    long long v = 1;
    for (int to = 2; to <= 4; to += 2) {
        EXPECT_INT(ht_transition(&W.c, &W.off, code, to, v, &r), 200);
        v = ht_jint(ht_dossier_of(&r), "version");
        ht_resp_free(&r);
    }
    snprintf(path, sizeof path, "/v1/agency/dossiers/%s/transitions", code);
    json_t *b = json_pack("{s:i, s:I, s:s, s:[s]}", "to", 9, "version", (json_int_t)v, "result", "Giấy phép", "result_files", id);
    ht_mp_callj(&W.c, "POST", path, W.off.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    json_decref(wait_caught_up(30, 0));
    json_t *rec = ht_portal_records(&P);
    size_t i;
    json_t *line;
    int named = 0;
    json_array_foreach(rec, i, line)
        if (strcmp(ht_jstr(line, "service"), "DongBoHoSoMC") == 0 && strcmp(ht_jstr(line, "status"), "9") == 0)
            named = (int)ht_jint(line, "result_files");
    EXPECT_INT(named, 1);
    json_decref(rec);
    ht_world_stop(&W);
    ht_portal_stop(&P);
}

UNIT_MAIN(UNIT(test_result_files_named), UNIT(test_configuration), UNIT(test_tls), UNIT(test_outage_then_failures), UNIT(test_kill9_during_delivery), UNIT(test_session_expiry_and_dead_letter))
