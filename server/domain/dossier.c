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

/* The statistics of one change: a submission is received; a move is counted by its
 * new status, and the move to 9 (result ready) decides on time or late against due_at.
 * Each dossier reaches 9 at most once, so it is counted once. */
static int count(hoso_txn *t, const hoso_dossier *d, hoso_change_kind kind, int64_t at)
{
    int on_time = 0, late = 0;
    if (kind == HOSO_CHANGE_SUBMIT)
        return hoso_stats_bump(t, d->agency.ptr, d->service.ptr, at, HOSO_ST_SUBMITTED, 1, 0, 0, 0);
    if (kind != HOSO_CHANGE_STATUS)
        return 0;
    if (d->status == HOSO_ST_DONE) {
        if (d->due_at == 0 || at <= d->due_at)
            on_time = 1;
        else
            late = 1;
    }
    return hoso_stats_bump(t, d->agency.ptr, d->service.ptr, at, (int)d->status, 0, on_time, late, 0);
}

int hoso__dossier_change(hoso_txn *t, const hoso_wop *op, hoso_doc *doc, hoso_dossier *d, hoso_change_kind kind,
                         int status, const char *note, size_t note_len)
{
    static const hoso_event_type events[] = {
        [HOSO_CHANGE_SUBMIT] = HOSO_EV_DOSSIER_CREATED,
        [HOSO_CHANGE_STATUS] = HOSO_EV_DOSSIER_STATUS,
        [HOSO_CHANGE_NOTE] = HOSO_EV_DOSSIER_UPDATED,
        [HOSO_CHANGE_FIELDS] = HOSO_EV_DOSSIER_UPDATED,
    };
    int ret = 0;

    if (kind != HOSO_CHANGE_FIELDS) {
        int st = kind == HOSO_CHANGE_SUBMIT ? HOSO_ST_SUBMITTED : kind == HOSO_CHANGE_STATUS ? status : (int)d->status;
        if ((ret = add_history(doc, d, st, op->now, op->who.account, note, note_len)) != 0)
            return ret;
    }
    d->version++;
    if ((ret = hoso_dossier_put(t, d, kind == HOSO_CHANGE_SUBMIT)) != 0 ||
        (ret = hoso_event_append(t, d->owner.ptr, d->agency.ptr, events[kind], op->now, d, NULL)) != 0)
        return ret;
    return count(t, d, kind, op->now);
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
         * statistics count it (status 0: no move). */
        if ((ret = hoso_event_append(t, d.owner.ptr, d.agency.ptr, HOSO_EV_DOSSIER_OVERDUE, op->now, &d, NULL)) == 0)
            ret = hoso_stats_bump(t, d.agency.ptr, d.service.ptr, op->now, 0, 0, 0, 0, 1);
    }
    hoso_doc_destroy(&doc);
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
