/*
 * portal.c - the sink that mirrors dossier statuses to the National Public Service
 * Portal (DVCQG), in the integration style of provincial systems:
 *
 *   POST auth_url {username, password}                   -> {error_code: 0, session}
 *   POST url {session, madonvi, service: "TraCuuHoSo", mahoso}
 *   POST url {session, madonvi, service: "DongBoHoSoMC", isUpdating, data: [dossier]}
 *   POST url {session, madonvi, service: "CapNhatTienDoHoSoMC", data: [progress]}
 *
 * Every reply is {error_code, message}, 0 meaning success. A status event makes the
 * three calls in that order (a look-up tells new from known); a dossier.updated event
 * (a note, a new due date) only the first two. A reply that says the session is
 * invalid renews it once and repeats the call. The dossier is opened only to build a
 * call: personal data never reaches the log.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>
#include "consumers/consumers.h"
#include "consumers/http.h"
#include "domain/domain.h"

enum { STEP_LOOKUP, STEP_SYNC, STEP_PROGRESS, STEP_END };
static const char *const STEP_SERVICE[] = {"TraCuuHoSo", "DongBoHoSoMC", "CapNhatTienDoHoSoMC"};
enum { SESSION_NONE, SESSION_PENDING, SESSION_READY };

typedef struct pjob {
    h2o_linklist_t link; /* waiting for a session */
    h2o_linklist_t all;  /* every live pjob (portal_stop frees them) */
    struct portal *p;
    hoso_job *job;
    int step;
    int known;           /* the portal has the dossier (TraCuuHoSo) */
    int renewed;         /* the session was renewed once for this job */
    uint64_t gen;        /* the session generation the call used */
    uint64_t t0;
    json_t *dossier, *progress; /* built once, at the first call that needs them */
} pjob;

typedef struct portal {
    hoso_portal_config cfg;
    hoso_consumer *c;
    int ready;
    hoso_http http;
    hoso_peer auth, api;
    int session_state;
    char session[512];
    uint64_t session_gen;
    h2o_linklist_t waiting; /* pjobs waiting for the session */
    h2o_linklist_t live;    /* pjobs not yet answered */
    int stopped;
    hoso_txn *rtxn;
} portal;

void hoso_portal_config_default(hoso_portal_config *pc)
{
    memset(pc, 0, sizeof(*pc));
    pc->timeout_ms = 10000;
    pc->retry_min_ms = 500;
    pc->retry_max_ms = 60000;
    pc->max_inflight = 16;
}

int hoso_portal_configured(const hoso_portal_config *pc)
{
    return pc->url[0] && pc->auth_url[0] && pc->user[0] && pc->password[0] && pc->agency[0];
}

/* ---------------------------------------------------------------------------------- */
/* Building the calls */

/* s cut to at most max bytes without splitting a UTF-8 sequence. */
static json_t *str_max(const char *s, size_t len, size_t max)
{
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    return json_stringn(s, len);
}

static json_t *when(int64_t ms)
{
    char buf[15];
    if (ms <= 0)
        return json_string("");
    hoso_vn_portal_time(ms, buf);
    return json_string(buf);
}

static const char *zs(const hoso_str *s) { return s->ptr ? s->ptr : ""; }

/* The time the dossier first reached status (0 if never). */
static int64_t first_at(const hoso_dossier *d, int status)
{
    for (size_t i = 0; i < d->nhistory; i++)
        if (d->history[i].status == status)
            return d->history[i].at;
    return 0;
}

/* The dossier record and, for a status event, the progress entry of that event. */
static int build(portal *p, const hoso_log_entry *e, json_t **dossier, json_t **progress, char *why, size_t whylen)
{
    hoso_txn *t;
    hoso_doc doc, sdoc, odoc, bdoc;
    hoso_dossier d;
    hoso_service svc;
    hoso_account owner, by;
    int rc;
    memset(&doc, 0, sizeof doc);
    memset(&sdoc, 0, sizeof sdoc);
    memset(&odoc, 0, sizeof odoc);
    memset(&bdoc, 0, sizeof bdoc);
    memset(&svc, 0, sizeof svc);
    memset(&owner, 0, sizeof owner);
    memset(&by, 0, sizeof by);
    *dossier = *progress = NULL;
    rc = p->rtxn ? hoso_txn_renew(p->rtxn) : hoso_txn_read(hoso_consumer_store(p->c), &p->rtxn);
    if (rc != 0) {
        snprintf(why, whylen, "reading the dossier failed: %s", hoso_err_message(rc));
        return HOSO_SENT_RETRY;
    }
    t = p->rtxn;
    if ((rc = hoso_dossier_get(t, e->code, &doc, &d)) != 0) {
        snprintf(why, whylen, "dossier %s cannot be read: %s", e->code, hoso_err_message(rc));
        rc = rc == HOSO_ENOT_FOUND ? HOSO_SENT_REFUSED : HOSO_SENT_RETRY;
        goto Exit;
    }
    if (hoso_service_get(t, zs(&d.service), &sdoc, &svc) != 0)
        memset(&svc, 0, sizeof svc);
    if (hoso_account_get(t, zs(&d.owner), &odoc, &owner) != 0)
        memset(&owner, 0, sizeof owner);

    /* The history entry this event added (same status and time), else the latest. */
    const hoso_history *h = NULL;
    for (size_t i = d.nhistory; i-- > 0;)
        if (d.history[i].status == e->status && d.history[i].at == e->at) {
            h = &d.history[i];
            break;
        }
    char summary[1100];
    snprintf(summary, sizeof summary, "%s%s%s", zs(&svc.name), svc.name.len ? " - " : "", e->code);
    int64_t received = first_at(&d, HOSO_ST_ACCEPTED);
    *dossier = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:s, s:s, s:s}",
                         "MaHoSo", e->code, "MaTTHC", zs(&d.service), "TenTTHC", zs(&svc.name),
                         "MaLinhVuc", "", "TenLinhVuc", "", "ChuHoSo", zs(&owner.full_name), "LoaiDoiTuong", "1",
                         "SoDienThoai", zs(&owner.phone), "TrichYeuHoSo", str_max(summary, strlen(summary), 1000),
                         "NgayTiepNhan", when(received ? received : d.submitted_at), "NgayHenTra", when(d.due_at),
                         "TrangThaiHoSo", "", "NgayTra",
                         when(first_at(&d, HOSO_ST_RETURNED)), "KenhThucHien", "2", "DonViXuLy", zs(&d.agency),
                         "HinhThuc", "0");
    if (*dossier != NULL)
        json_object_set_new(*dossier, "TrangThaiHoSo", json_sprintf("%lld", (long long)e->status));
    if (*dossier != NULL && d.result_files.len > 0) {
        /* The result's files, by name (the bytes stay with hosod: the app fetches them). */
        msgpack_unpacked u;
        size_t off = 0;
        json_t *list = json_array();
        msgpack_unpacked_init(&u);
        if (list != NULL && msgpack_unpack_next(&u, d.result_files.ptr, d.result_files.len, &off) == MSGPACK_UNPACK_SUCCESS &&
            u.data.type == MSGPACK_OBJECT_ARRAY)
            for (uint32_t i = 0; i < u.data.via.array.size; i++) {
                const msgpack_object *f = &u.data.via.array.ptr[i], *id = hoso_map_get(f, "id"),
                                     *nm = hoso_map_get(f, "name");
                if (!id || id->type != MSGPACK_OBJECT_STR) continue;
                json_array_append_new(list, json_pack("{s:s%, s:s%}", "MaGiayTo", id->via.str.ptr, (size_t)id->via.str.size,
                                                      "TenGiayTo", nm && nm->type == MSGPACK_OBJECT_STR ? nm->via.str.ptr : "",
                                                      nm && nm->type == MSGPACK_OBJECT_STR ? (size_t)nm->via.str.size : 0));
            }
        msgpack_unpacked_destroy(&u);
        if (list != NULL) json_object_set_new(*dossier, "DanhSachGiayToKetQua", list);
    }
    if (e->type == HOSO_EV_DOSSIER_CREATED || e->type == HOSO_EV_DOSSIER_STATUS) {
        const char *name = zs(&owner.full_name);
        if (h != NULL && h->by.len > 0 && strcmp(zs(&h->by), zs(&d.owner)) != 0 &&
            hoso_account_get(t, zs(&h->by), &bdoc, &by) == 0)
            name = zs(&by.full_name);
        char content[4200]; /* a note is at most 2,000 characters; str_max cuts on a character */
        snprintf(content, sizeof content, "%s%s%.*s", hoso_status_name_vi((int)e->status),
                 h != NULL && h->note.len ? ": " : "", h != NULL ? (int)h->note.len : 0, h != NULL ? zs(&h->note) : "");
        *progress = json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:o, s:o}", "MaHoSo", e->code, "NguoiXuLy", name,
                              "ChucDanh", by.role == HOSO_ROLE_OFFICER ? "Cán bộ" : "", "ThoiDiemXuLy", when(e->at),
                              "PhongBanXuLy", zs(&d.agency), "NoiDungXuLy", str_max(content, strlen(content), 1000),
                              "TrangThai", "", "NgayBatDau", when(e->at), "NgayKetThucTheoQuyDinh", when(d.due_at));
        if (*progress != NULL)
            json_object_set_new(*progress, "TrangThai", json_sprintf("%lld", (long long)e->status));
    }
    rc = *dossier != NULL && (*progress != NULL || e->type == HOSO_EV_DOSSIER_UPDATED) ? HOSO_SENT_OK : HOSO_SENT_RETRY;
    if (rc != HOSO_SENT_OK)
        snprintf(why, whylen, "out of memory building the call");
Exit:
    hoso_txn_reset(t);
    hoso_doc_destroy(&doc);
    hoso_doc_destroy(&sdoc);
    hoso_doc_destroy(&odoc);
    hoso_doc_destroy(&bdoc);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Calls */

static void run(pjob *pj);

/* Writer thread: the monitoring counters count each dossier the portal took, once. */
static int synced_apply(hoso_wop *op, hoso_txn *t)
{
    int rc = hoso__dossier_count_synced(t, op->data, op->now);
    return rc ? hoso_wop_fail(op, rc, "cannot count %s as synced", (const char *)op->data) : 0;
}

static void finish(pjob *pj, hoso_sent result, int64_t retry_after_ms, const char *reason)
{
    hoso_job *job = pj->job;
    /* The record went in (a first sync, or the created event, which a restart may
     * deliver again after the portal took it): count it. The op is dropped only when
     * hosod is stopping; the counter then misses this dossier. */
    if (result == HOSO_SENT_OK && (!pj->known || job->e.type == HOSO_EV_DOSSIER_CREATED)) {
        char *code = strdup(job->e.code);
        if (code != NULL && hoso_writer_submit_own(hoso_consumer_server(job->consumer), synced_apply, code, free) == 0)
            hoso_consumer_queued_write(job->consumer);
    }
    h2o_linklist_unlink(&pj->all);
    if (h2o_linklist_is_linked(&pj->link))
        h2o_linklist_unlink(&pj->link);
    json_decref(pj->dossier);
    json_decref(pj->progress);
    free(pj);
    hoso_job_done(job, result, retry_after_ms, reason);
}

/* A session-invalid reply: error_code 401, or a message naming the session. */
static int session_refused(const json_t *reply)
{
    const char *msg = json_string_value(json_object_get(reply, "message"));
    json_int_t code = json_integer_value(json_object_get(reply, "error_code"));
    if (code == 401)
        return 1;
    if (msg == NULL)
        return 0;
    char low[256];
    size_t i;
    for (i = 0; msg[i] && i < sizeof low - 1; i++)
        low[i] = (char)tolower((unsigned char)msg[i]);
    low[i] = '\0';
    return strstr(low, "session") != NULL;
}

/* Classifies an HTTP outcome; 0 with *reply (JSON object with an integer error_code)
 * when the call went through, else finishes pj and returns -1. */
static int check_reply(pjob *pj, int status, const char *body, size_t len, int64_t retry_after_ms, const char *err,
                       const char *what, json_t **reply)
{
    char why[300];
    *reply = NULL;
    hoso_consumer_observe_call(pj->p->c, (uv_hrtime() / 1000) - pj->t0);
    if (status == 0) {
        snprintf(why, sizeof why, "%s: %s", what, err ? err : "no reply");
        finish(pj, HOSO_SENT_PEER_DOWN, 0, why);
        return -1;
    }
    if (status == 429 || status == 503) {
        snprintf(why, sizeof why, "%s: HTTP %d", what, status);
        finish(pj, HOSO_SENT_PEER_DOWN, retry_after_ms, why);
        return -1;
    }
    if (status >= 500) {
        snprintf(why, sizeof why, "%s: HTTP %d", what, status);
        finish(pj, HOSO_SENT_RETRY, retry_after_ms, why);
        return -1;
    }
    json_t *j = json_loadb(body, len, 0, NULL);
    if (status >= 400 && status != 401) {
        const char *m = j ? json_string_value(json_object_get(j, "message")) : NULL;
        snprintf(why, sizeof why, "%s: HTTP %d%s%.200s", what, status, m ? ": " : "", m ? m : "");
        json_decref(j);
        finish(pj, HOSO_SENT_REFUSED, 0, why);
        return -1;
    }
    if (j == NULL || !json_is_object(j) || !json_is_integer(json_object_get(j, "error_code"))) {
        snprintf(why, sizeof why, "%s: HTTP %d with a reply that is not JSON with an error_code", what, status);
        json_decref(j);
        finish(pj, HOSO_SENT_RETRY, 0, why);
        return -1;
    }
    *reply = j;
    return 0;
}

static void login_done(void *data, int status, const char *body, size_t len, int64_t retry_after_ms, const char *err);

static void login(portal *p)
{
    json_t *b = json_pack("{s:s, s:s}", "username", p->cfg.user, "password", p->cfg.password);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    p->session_state = SESSION_PENDING;
    if (text == NULL) {
        login_done(p, 0, "", 0, 0, "out of memory");
        return;
    }
    hoso_http_post(&p->http, &p->auth, NULL, text, strlen(text), login_done, p);
    free(text);
}

static void login_done(void *data, int status, const char *body, size_t len, int64_t retry_after_ms, const char *err)
{
    portal *p = data;
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *s = j ? json_string_value(json_object_get(j, "session")) : NULL;
    char why[300];
    if (p->stopped) {
        json_decref(j);
        return;
    }
    if (j != NULL && json_integer_value(json_object_get(j, "error_code")) == 0 && json_is_integer(json_object_get(j, "error_code")) &&
        s != NULL && s[0] != '\0' && strlen(s) < sizeof p->session) {
        snprintf(p->session, sizeof p->session, "%s", s);
        p->session_state = SESSION_READY;
        if (p->session_gen++ > 0)
            hoso_consumer_count_renewal(p->c);
        json_decref(j);
        while (!h2o_linklist_is_empty(&p->waiting)) {
            pjob *pj = H2O_STRUCT_FROM_MEMBER(pjob, link, p->waiting.next);
            h2o_linklist_unlink(&pj->link);
            run(pj);
        }
        return;
    }
    if (status == 0)
        snprintf(why, sizeof why, "portal sign-in: %s", err ? err : "no reply");
    else if (j == NULL)
        snprintf(why, sizeof why, "portal sign-in: HTTP %d with a reply that is not JSON", status);
    else
        snprintf(why, sizeof why, "portal sign-in refused (HTTP %d): %.200s", status,
                 json_string_value(json_object_get(j, "message")) ? json_string_value(json_object_get(j, "message")) : "no session");
    json_decref(j);
    p->session_state = SESSION_NONE;
    /* Every waiting job backs off: the mirror cannot work without a session. */
    while (!h2o_linklist_is_empty(&p->waiting)) {
        pjob *pj = H2O_STRUCT_FROM_MEMBER(pjob, link, p->waiting.next);
        h2o_linklist_unlink(&pj->link);
        finish(pj, HOSO_SENT_PEER_DOWN, retry_after_ms, why);
    }
}

static void call_done(void *data, int status, const char *body, size_t len, int64_t retry_after_ms, const char *err)
{
    pjob *pj = data;
    portal *p = pj->p;
    json_t *r;
    char why[300];
    if (p->stopped) {
        finish(pj, HOSO_SENT_RETRY, 0, "stopping");
        return;
    }
    if (check_reply(pj, status, body, len, retry_after_ms, err, STEP_SERVICE[pj->step], &r) != 0)
        return;
    json_int_t code = json_integer_value(json_object_get(r, "error_code"));
    if (code != 0 && (status == 401 || session_refused(r))) {
        json_decref(r);
        if (pj->renewed) {
            finish(pj, HOSO_SENT_RETRY, 0, "the portal refused a session it had just given");
            return;
        }
        pj->renewed = 1;
        if (p->session_state == SESSION_READY && p->session_gen == pj->gen)
            p->session_state = SESSION_NONE; /* the first to see it expire renews it */
        run(pj);
        return;
    }
    if (code != 0) {
        const char *m = json_string_value(json_object_get(r, "message"));
        snprintf(why, sizeof why, "%s: error_code %lld: %.200s", STEP_SERVICE[pj->step], (long long)code, m ? m : "");
        json_decref(r);
        finish(pj, HOSO_SENT_REFUSED, 0, why);
        return;
    }
    if (pj->step == STEP_LOOKUP) {
        const json_t *d = json_object_get(r, "data");
        pj->known = (json_is_array(d) && json_array_size(d) > 0) || (json_is_object(d) && json_object_size(d) > 0);
    }
    json_decref(r);
    pj->step++;
    if (pj->step == STEP_PROGRESS && pj->job->e.type == HOSO_EV_DOSSIER_UPDATED)
        pj->step = STEP_END;
    if (pj->step == STEP_END)
        finish(pj, HOSO_SENT_OK, 0, NULL);
    else
        run(pj);
}

static void run(pjob *pj)
{
    portal *p = pj->p;
    json_t *body;
    char why[300];
    if (p->session_state != SESSION_READY) {
        h2o_linklist_insert(&p->waiting, &pj->link);
        if (p->session_state == SESSION_NONE)
            login(p);
        return;
    }
    body = json_pack("{s:s, s:s, s:s}", "session", p->session, "madonvi", p->cfg.agency, "service", STEP_SERVICE[pj->step]);
    if (body == NULL) {
        finish(pj, HOSO_SENT_RETRY, 0, "out of memory");
        return;
    }
    if (pj->step == STEP_LOOKUP) {
        json_object_set_new(body, "mahoso", json_string(pj->job->e.code));
    } else {
        /* Both calls of a change send records of the same read of the dossier (and a
         * renewed session repeats a call with them): it is opened once per delivery. */
        hoso_sent r = pj->dossier != NULL ? HOSO_SENT_OK
                                          : build(p, &pj->job->e, &pj->dossier, &pj->progress, why, sizeof why);
        if (r != HOSO_SENT_OK) {
            json_decref(body);
            finish(pj, r, 0, why);
            return;
        }
        if (pj->step == STEP_SYNC) {
            json_object_set_new(body, "isUpdating", json_string(pj->known ? "True" : "False"));
            json_object_set_new(body, "data", json_pack("[O]", pj->dossier));
        } else {
            json_object_set_new(body, "data", json_pack("[O]", pj->progress));
        }
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        finish(pj, HOSO_SENT_RETRY, 0, "out of memory");
        return;
    }
    pj->gen = p->session_gen;
    pj->t0 = uv_hrtime() / 1000;
    hoso_http_post(&p->http, &p->api, NULL, text, strlen(text), call_done, pj);
    /* The body held personal data: leave nothing of it in freed memory. */
    sodium_memzero(text, strlen(text));
    free(text);
}

/* ---------------------------------------------------------------------------------- */
/* The sink */

/* The dossier events, but dossier.overdue: the portal's status table has no such step. */
static int portal_key(void *ctx, const hoso_log_entry *e, char *key, size_t n)
{
    /* The portal has a call for neither: its own scheduler sees due dates, and the
     * thread between citizen and officer is not mirrored. */
    return e->type == HOSO_EV_DOSSIER_OVERDUE || e->type == HOSO_EV_MESSAGE ? 1 : hoso_dossier_event_key(ctx, e, key, n);
}

static void portal_send(void *ctx, hoso_job *job)
{
    portal *p = ctx;
    pjob *pj;
    p->c = job->consumer;
    if (!p->ready) {
        int rc = hoso_http_init(&p->http, hoso_consumer_loop(p->c), p->cfg.timeout_ms, p->cfg.ca_file);
        if (rc != 0) {
            hoso_job_done(job, HOSO_SENT_PEER_DOWN, 0, "the HTTP client cannot start (CA file?)");
            return;
        }
        char auth_host[256], api_host[256];
        snprintf(auth_host, sizeof auth_host, "%.*s", (int)p->auth.url.host.len, p->auth.url.host.base);
        snprintf(api_host, sizeof api_host, "%.*s", (int)p->api.url.host.len, p->api.url.host.base);
        const char *hosts[] = {auth_host, api_host};
        if (hoso_http_expect_hosts(&p->http, hosts, 2) != 0) {
            hoso_log(HOSO_LOG_ERROR, "portal: the two portal URLs must name hosts, or the same address");
            hoso_http_dispose(&p->http);
            hoso_job_done(job, HOSO_SENT_PEER_DOWN, 0, "the portal URLs name two different addresses");
            return;
        }
        h2o_socketpool_set_timeout(&p->auth.pool, hoso_consumer_loop(p->c), 2000);
        h2o_socketpool_set_timeout(&p->api.pool, hoso_consumer_loop(p->c), 2000);
        p->ready = 1;
    }
    if ((pj = calloc(1, sizeof(*pj))) == NULL) {
        hoso_job_done(job, HOSO_SENT_RETRY, 0, "out of memory");
        return;
    }
    pj->p = p;
    pj->job = job;
    h2o_linklist_insert(&p->live, &pj->all);
    run(pj);
}

static void portal_stop(void *ctx)
{
    portal *p = ctx;
    p->stopped = 1;
    /* Jobs waiting for a session end now; calls in flight are cancelled (their jobs
     * stay after the saved cursor and are sent again after the restart). */
    while (!h2o_linklist_is_empty(&p->waiting)) {
        pjob *pj = H2O_STRUCT_FROM_MEMBER(pjob, link, p->waiting.next);
        h2o_linklist_unlink(&pj->link);
        finish(pj, HOSO_SENT_RETRY, 0, "stopping");
    }
    if (p->ready)
        hoso_http_dispose(&p->http); /* cancels the calls: no callback comes */
    while (!h2o_linklist_is_empty(&p->live)) {
        pjob *pj = H2O_STRUCT_FROM_MEMBER(pjob, all, p->live.next);
        finish(pj, HOSO_SENT_RETRY, 0, "stopping");
    }
    if (p->ready) {
        hoso_peer_dispose(&p->auth);
        hoso_peer_dispose(&p->api);
        p->ready = 0;
    }
    if (p->rtxn != NULL) {
        hoso_txn_abort(p->rtxn);
        p->rtxn = NULL;
    }
}

static void portal_free(void *ctx)
{
    portal *p = ctx;
    hoso_peer_dispose(&p->auth);
    hoso_peer_dispose(&p->api);
    sodium_memzero(p->cfg.password, sizeof p->cfg.password);
    sodium_memzero(p->session, sizeof p->session);
    free(p);
}

int hoso_portal_sink(const hoso_portal_config *pc, hoso_sink *out)
{
    portal *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return HOSO_ENOMEM;
    p->cfg = *pc;
    h2o_linklist_init_anchor(&p->waiting);
    h2o_linklist_init_anchor(&p->live);
    if (hoso_peer_init(&p->auth, pc->auth_url, 4) != 0 || hoso_peer_init(&p->api, pc->url, pc->max_inflight)) {
        hoso_log(HOSO_LOG_ERROR, "portal: --portal-url and --portal-auth-url must be http:// or https:// URLs");
        portal_free(p);
        return HOSO_EBAD_REQUEST;
    }
    memset(out, 0, sizeof(*out));
    out->name = "portal";
    out->ctx = p;
    out->max_inflight = pc->max_inflight ? pc->max_inflight : 16;
    out->retry_min_ms = pc->retry_min_ms ? pc->retry_min_ms : 500;
    out->retry_max_ms = pc->retry_max_ms ? pc->retry_max_ms : 60000;
    out->key = portal_key;
    out->send = portal_send;
    out->stop = portal_stop;
    out->free = portal_free;
    return 0;
}
