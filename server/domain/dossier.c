/*
 * dossier.c - a dossier's visibility, and the one path by which it changes.
 *
 * Every change of a dossier goes through hoso__dossier_change: the history line, the
 * version, the stored dossier, the owner's feed entry with the global log entry, and
 * the statistics are written together in the writer's transaction. Nothing else in
 * hosod stores a dossier, so the statistics and every consumer of the log (push, and
 * the portal mirror reading it later) see each change exactly once.
 */
#include <stdio.h>
#include <string.h>
#include "domain.h"

int hoso__dossier_visible(const hoso_caller *who, const hoso_dossier *d)
{
    if (who->role == HOSO_ROLE_ADMIN)
        return 1;
    if (who->role == HOSO_ROLE_OFFICER)
        return who->agency[0] != '\0' && d->agency.ptr != NULL && strcmp(who->agency, d->agency.ptr) == 0;
    return who->account[0] != '\0' && d->owner.ptr != NULL && strcmp(who->account, d->owner.ptr) == 0;
}

int hoso__wop_load_dossier(hoso_wop *op, hoso_txn *t, int officer, hoso_doc *doc, hoso_dossier *d)
{
    int ret = hoso_dossier_get(t, op->params[0], doc, d);
    if (ret != 0 && ret != HOSO_ENOT_FOUND)
        return hoso_wop_fail(op, ret, "cannot read the dossier");
    /* Agency routes serve officers and admins, citizen routes the owner only; the
     * reply is the same whether the code is unknown or belongs to someone else. */
    int role_ok = officer ? (op->who.role == HOSO_ROLE_ADMIN || op->who.role == HOSO_ROLE_OFFICER)
                          : op->who.role == HOSO_ROLE_CITIZEN;
    if (ret != 0 || !role_ok || !hoso__dossier_visible(&op->who, d))
        return hoso_wop_fail(op, HOSO_ENOT_FOUND, "no such dossier");
    return 0;
}

/* Appends {status, at, by, note} to d->history (a new array in doc) and moves d to
 * status. */
static int add_history(hoso_doc *doc, hoso_dossier *d, int status, int64_t at, const char *by, const char *note,
                       size_t note_len)
{
    hoso_history *h = msgpack_zone_malloc(&doc->zone, sizeof(*h) * (d->nhistory + 1));
    if (h == NULL)
        return HOSO_ENOMEM;
    if (d->nhistory != 0)
        memcpy(h, d->history, sizeof(*h) * d->nhistory);
    hoso_history *e = &h[d->nhistory];
    e->status = status;
    e->at = at;
    if (hoso_zone_str(&doc->zone, by, strlen(by), &e->by) != 0 ||
        hoso_zone_str(&doc->zone, note != NULL ? note : "", note != NULL ? note_len : 0, &e->note) != 0)
        return HOSO_ENOMEM;
    d->history = h;
    d->nhistory++;
    d->status = status;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Monitoring counters (Decree 42/2022 art. 16): what each change counts. */

#define DAY_MS (24LL * 3600 * 1000)
#define VN_OFFSET_MS (7LL * 3600 * 1000) /* Asia/Ho_Chi_Minh, no daylight saving */

static int64_t vn_day(int64_t ms) { return (ms + VN_OFFSET_MS) / DAY_MS; }

static const char *cstr(const hoso_str *s) { return s->ptr != NULL ? s->ptr : ""; }

static int add(hoso_txn *t, const hoso_dossier *d, int64_t at, const hoso_stat_row *x)
{
    return hoso_stats_add(t, cstr(&d->agency), cstr(&d->service), cstr(&d->channel), at, x);
}

/* The step whose time a status counts (its *_MS counter, *_N follows), or -1. */
static int step_of(int64_t status)
{
    switch (status) {
    case HOSO_ST_SUBMITTED: return HOSO_STAT_RECEPTION_MS;
    case HOSO_ST_ACCEPTED:
    case HOSO_ST_PROCESSING: return HOSO_STAT_PROCESSING_MS;
    case HOSO_ST_SUPPLEMENT: return HOSO_STAT_SUPPLEMENT_MS;
    case HOSO_ST_PAYMENT: return HOSO_STAT_PAYMENT_MS;
    case HOSO_ST_DONE: return HOSO_STAT_RETURN_MS;
    default: return -1;
    }
}

/* Counts into x the move recorded by d's history line i (i >= 1, a new status):
 * the move itself, the span of the step it ends (from the line that entered the step;
 * apology lines keep the status and do not end it), and for the result (9) early / on
 * time / late against d->due_at and the days since acceptance. */
static void count_move(const hoso_dossier *d, size_t i, hoso_stat_row *x)
{
    const hoso_history *h = d->history;
    int64_t to = h[i].status, at = h[i].at;
    int from_step = step_of(h[i - 1].status);
    if (to >= HOSO_ST_MIN && to <= HOSO_ST_MAX) x->by_status[to]++;
    switch (to) {
    case HOSO_ST_ACCEPTED: x->c[HOSO_STAT_ACCEPTED]++; break;
    case HOSO_ST_REFUSED: x->c[HOSO_STAT_REFUSED]++; break;
    case HOSO_ST_SUPPLEMENT: x->c[HOSO_STAT_SUPPLEMENTS]++; break;
    case HOSO_ST_PAYMENT: x->c[HOSO_STAT_FEE_REQUESTS]++; break;
    case HOSO_ST_WITHDRAWN: x->c[HOSO_STAT_WITHDRAWN]++; break;
    case HOSO_ST_STOPPED: x->c[HOSO_STAT_STOPPED]++; break;
    case HOSO_ST_RETURNED: x->c[HOSO_STAT_RETURNED]++; break;
    default: break;
    }
    if (from_step >= 0 && from_step != step_of(to)) {
        size_t j = i - 1;
        while (j > 0 && step_of(h[j - 1].status) == from_step) j--;
        x->c[from_step] += (uint64_t)(at > h[j].at ? at - h[j].at : 0);
        x->c[from_step + 1]++;
    }
    if (to != HOSO_ST_DONE) return;
    /* Early: before the due date's (Vietnam) day; on time: that day, not after due_at;
     * late: after due_at. No due date: on time. */
    if (d->due_at != 0 && at > d->due_at) x->c[HOSO_STAT_LATE]++;
    else if (d->due_at != 0 && vn_day(at) < vn_day(d->due_at)) x->c[HOSO_STAT_EARLY]++;
    else x->c[HOSO_STAT_ON_TIME]++;
    for (size_t k = 0; k < i; k++)
        if (h[k].status == HOSO_ST_ACCEPTED) {
            int64_t days = vn_day(at) - vn_day(h[k].at);
            x->c[HOSO_STAT_RESOLVE_MS] += (uint64_t)(at > h[k].at ? at - h[k].at : 0);
            x->c[HOSO_STAT_RESOLVE_N]++;
            x->days[days < 0 ? 0 : days >= HOSO_STAT_DAYS ? HOSO_STAT_DAYS - 1 : days]++;
            break;
        }
}

static int count(hoso_txn *t, const hoso_dossier *d, hoso_change_kind kind, int64_t at, const hoso_put_info *info,
                 const hoso_stat_row *extra)
{
    hoso_stat_row x;
    if (kind == HOSO_CHANGE_SUBMIT) {
        x = *extra;
        x.c[HOSO_STAT_RECEIVED] = 1;
        x.by_status[HOSO_ST_SUBMITTED] = 1;
    } else if (kind == HOSO_CHANGE_STATUS && d->nhistory >= 2) {
        memset(&x, 0, sizeof x);
        count_move(d, d->nhistory - 1, &x);
    } else if (info->overdue_cleared) {
        memset(&x, 0, sizeof x);
    } else {
        return 0; /* an apology that ends no mark, a rating: nothing to count */
    }
    if (info->overdue_cleared) x.c[HOSO_STAT_OVERDUE_CLEARED]++;
    return add(t, d, at, &x);
}

static int change(hoso_txn *t, const hoso_wop *op, hoso_doc *doc, hoso_dossier *d, hoso_change_kind kind,
                  int status, const char *note, size_t note_len, const hoso_stat_row *extra)
{
    static const hoso_event_type events[] = {
        [HOSO_CHANGE_SUBMIT] = HOSO_EV_DOSSIER_CREATED,
        [HOSO_CHANGE_STATUS] = HOSO_EV_DOSSIER_STATUS,
        [HOSO_CHANGE_NOTE] = HOSO_EV_DOSSIER_UPDATED,
        [HOSO_CHANGE_FIELDS] = HOSO_EV_DOSSIER_UPDATED,
    };
    hoso_put_info info;
    int ret = 0;

    if (kind != HOSO_CHANGE_FIELDS) {
        int st = kind == HOSO_CHANGE_SUBMIT ? HOSO_ST_SUBMITTED : kind == HOSO_CHANGE_STATUS ? status : (int)d->status;
        if ((ret = add_history(doc, d, st, op->now, op->who.account, note, note_len)) != 0)
            return ret;
    }
    d->version++;
    if ((ret = hoso_dossier_store(t, d, kind == HOSO_CHANGE_SUBMIT, &info)) != 0 ||
        (ret = hoso_event_append(t, d->owner.ptr, d->agency.ptr, events[kind], op->now, d, NULL)) != 0)
        return ret;
    return count(t, d, kind, op->now, &info, extra);
}

int hoso__dossier_change(hoso_txn *t, const hoso_wop *op, hoso_doc *doc, hoso_dossier *d, hoso_change_kind kind,
                         int status, const char *note, size_t note_len)
{
    static const hoso_stat_row none;
    return change(t, op, doc, d, kind, status, note, note_len, &none);
}

int hoso__dossier_submit(hoso_txn *t, const hoso_wop *op, hoso_doc *doc, hoso_dossier *d, const char *note,
                         unsigned papers_given, unsigned papers_reused)
{
    hoso_stat_row extra;
    memset(&extra, 0, sizeof extra);
    extra.c[HOSO_STAT_PAPERS_GIVEN] = papers_given;
    extra.c[HOSO_STAT_PAPERS_REUSED] = papers_reused;
    return change(t, op, doc, d, HOSO_CHANGE_SUBMIT, 0, note, note != NULL ? strlen(note) : 0, &extra);
}

int hoso__dossier_fire_due(hoso_txn *t, const hoso_wop *op, const char *code, int64_t due_at)
{
    hoso_doc doc;
    hoso_dossier d;
    int ret;
    memset(&doc, 0, sizeof doc);
    ret = hoso_dossier_get(t, code, &doc, &d);
    if (ret == HOSO_ENOT_FOUND || (ret == 0 && (d.due_at != due_at || !hoso__dossier_overdue(&d, op->now)))) {
        ret = hoso_due_forget(t, code, due_at); /* no longer this dossier's due time */
    } else if (ret == 0 && (ret = hoso_due_fire(t, code, due_at, d.agency.ptr)) == 0) {
        /* The dossier itself does not change (no version, no history line); the day's
         * counters count it. */
        if ((ret = hoso_event_append(t, d.owner.ptr, d.agency.ptr, HOSO_EV_DOSSIER_OVERDUE, op->now, &d, NULL)) == 0) {
            hoso_stat_row x;
            memset(&x, 0, sizeof x);
            x.c[HOSO_STAT_OVERDUE] = 1;
            ret = add(t, &d, op->now, &x);
        }
    }
    hoso_doc_destroy(&doc);
    return ret;
}

int hoso__dossier_count_synced(hoso_txn *t, const char *code, int64_t now_ms)
{
    hoso_doc doc;
    hoso_dossier d;
    hoso_stat_row x;
    int ret;
    memset(&doc, 0, sizeof doc);
    if ((ret = hoso_dossier_get(t, code, &doc, &d)) == HOSO_ENOT_FOUND) return 0;
    if (ret == 0 && (ret = hoso_synced_mark(t, code, now_ms)) == 0) {
        memset(&x, 0, sizeof x);
        x.c[HOSO_STAT_PORTAL_SYNCED] = 1;
        ret = add(t, &d, d.submitted_at, &x);
    } else if (ret == HOSO_EALREADY_EXISTS) {
        ret = 0; /* counted before */
    }
    hoso_doc_destroy(&doc);
    return ret;
}

int hoso__count_feedback(hoso_txn *t, const char *service, int64_t now_ms)
{
    hoso_doc doc;
    hoso_service svc;
    hoso_stat_row x;
    int ret;
    if (service == NULL || service[0] == '\0') return 0; /* about no agency in particular */
    memset(&doc, 0, sizeof doc);
    if ((ret = hoso_service_get(t, service, &doc, &svc)) == 0) {
        memset(&x, 0, sizeof x);
        x.c[HOSO_STAT_FEEDBACK] = 1;
        ret = hoso_stats_add(t, cstr(&svc.agency), service, "", now_ms, &x);
    } else if (ret == HOSO_ENOT_FOUND) {
        ret = 0;
    }
    hoso_doc_destroy(&doc);
    return ret;
}

/* Open: a due time still matters (not final, result not out). */
static int open_status(int64_t status)
{
    return status >= HOSO_ST_MIN && !hoso_status_is_final((int)status) && status != HOSO_ST_DONE;
}

typedef struct rebuild {
    hoso_txn *t;
    int64_t now;
    uint64_t n;
} rebuild;

static int rebuild_one(void *ctx, const hoso_dossier *d)
{
    rebuild *rb = ctx;
    hoso_stat_row x;
    int ret;
    if (d->nhistory == 0) return 0;
    memset(&x, 0, sizeof x);
    x.c[HOSO_STAT_RECEIVED] = 1;
    x.by_status[HOSO_ST_SUBMITTED] = 1;
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    if (d->papers.ptr != NULL && msgpack_unpack_next(&u, d->papers.ptr, d->papers.len, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY)
        x.c[HOSO_STAT_PAPERS_GIVEN] = u.data.via.array.size;
    msgpack_unpacked_destroy(&u);
    if ((ret = add(rb->t, d, d->history[0].at, &x)) != 0) return ret;
    for (size_t i = 1; i < d->nhistory; i++) {
        if (d->history[i].status == d->history[i - 1].status) continue; /* an apology line */
        memset(&x, 0, sizeof x);
        count_move(d, i, &x);
        if ((ret = add(rb->t, d, d->history[i].at, &x)) != 0) return ret;
    }
    /* Overdue: open when the (last) due time passed; cleared by the next move out of
     * the open statuses. */
    if (d->due_at > 0 && d->due_at < rb->now) {
        size_t i = 0;
        while (i + 1 < d->nhistory && d->history[i + 1].at <= d->due_at) i++;
        if (open_status(d->history[i].status)) {
            memset(&x, 0, sizeof x);
            x.c[HOSO_STAT_OVERDUE] = 1;
            if ((ret = add(rb->t, d, d->due_at + 1, &x)) != 0) return ret;
            while (i < d->nhistory && open_status(d->history[i].status)) i++;
            if (i < d->nhistory) {
                memset(&x, 0, sizeof x);
                x.c[HOSO_STAT_OVERDUE_CLEARED] = 1;
                if ((ret = add(rb->t, d, d->history[i].at, &x)) != 0) return ret;
            }
        }
    }
    rb->n++;
    return 0;
}

int hoso__counters_rebuild(hoso_txn *t, int64_t now_ms, uint64_t *dossiers)
{
    rebuild rb = {t, now_ms, 0};
    hoso_doc doc;
    int needed = 0, ret;
    *dossiers = 0;
    if ((ret = hoso_stats_rebuild_begin(t, &needed)) != 0 || !needed) return ret;
    memset(&doc, 0, sizeof doc);
    ret = hoso_dossier_each(t, &doc, rebuild_one, &rb);
    hoso_doc_destroy(&doc);
    if (ret == 0) ret = hoso_stats_rebuild_end(t);
    *dossiers = rb.n;
    return ret;
}

int hoso__wop_conflict(hoso_wop *op, const hoso_dossier *d, int64_t sent_version)
{
    char msg[160];
    msgpack_packer pk;

    snprintf(msg, sizeof(msg), "the dossier is at version %lld, not %lld; reload it and try again",
             (long long)d->version, (long long)sent_version);
    op->reply.size = 0;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 1) || hoso_pack_cstr(&pk, "error") || msgpack_pack_map(&pk, 3) ||
        hoso_pack_kcstr(&pk, "code", hoso_err_code(HOSO_EVERSION_CONFLICT)) || hoso_pack_kcstr(&pk, "message", msg) ||
        hoso_pack_cstr(&pk, "details") || msgpack_pack_map(&pk, 2) || hoso_pack_kint(&pk, "version", d->version) ||
        hoso_pack_cstr(&pk, "dossier") || hoso_dossier_encode(&pk, d))
        return hoso_wop_fail(op, HOSO_ENOMEM, "cannot encode the dossier");
    op->http_status = hoso_err_http_status(HOSO_EVERSION_CONFLICT);
    return 0;
}

int hoso__wop_reply_dossier(hoso_wop *op, int http_status, const hoso_dossier *d)
{
    msgpack_packer pk;
    op->reply.size = 0;
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 1) || hoso_pack_cstr(&pk, "dossier") || hoso_dossier_encode(&pk, d))
        return hoso_wop_fail(op, HOSO_ENOMEM, "cannot encode the dossier");
    op->http_status = http_status;
    return 0;
}
