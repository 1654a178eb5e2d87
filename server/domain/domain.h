/*
 * server/domain/ - the dossier rules: who may see a dossier, the one path by which a
 * dossier changes (history, version, storage, feed and log event, statistics), the
 * paper vault, the citizen-op table shared by the endpoints and the offline queue,
 * and list paging. Knows storage and core's request and op types; no h2o type.
 *
 * domain.h - the rules the route handlers (server/routes/) call.
 *
 * Threads: functions taking a hoso_req run on the worker that owns it; functions
 * taking a hoso_wop or a write hoso_txn run on the writer inside op->apply. The rest
 * are pure and reentrant.
 *
 * Memory: strings and arrays these helpers make for a dossier or paper are allocated
 * in the hoso_doc passed with it and live until hoso_doc_destroy().
 */
#ifndef HOSO_SERVER_DOMAIN_H
#define HOSO_SERVER_DOMAIN_H

#include "core/internal.h"

/* 1 if the str s (NULL-safe) is set and non-empty. */
static inline int hoso__has(const hoso_str *s)
{
    return s && s->ptr && s->len > 0;
}

/* Dossiers (dossier.c) --------------------------------------------------------------- */
/* 1 if the caller may read d: its owner, an officer of its agency, or an admin. Every
 * other caller must get NOT_FOUND, the same reply as for a missing code. */
int hoso__dossier_visible(const hoso_caller *who, const hoso_dossier *d);

/* Loads the dossier named by op->params[0] in the writer transaction. `officer`:
 * visible to officers of its agency and admins (agency routes); otherwise only to the
 * owner (citizen routes). Errors: NOT_FOUND (also when not visible), CORRUPT, IO. */
int hoso__wop_load_dossier(hoso_wop *op, hoso_txn *t, int officer, hoso_doc *doc, hoso_dossier *d);

/* What a change does to a dossier. */
typedef enum hoso_change_kind {
    HOSO_CHANGE_SUBMIT, /* a new dossier enters status 1: history line, dossier.created,
                           counted as received */
    HOSO_CHANGE_STATUS, /* a move to `status`: history line, dossier.status, counted by
                           status, the time spent in the step it ends, and (the move
                           to 9) early, on time or late */
    HOSO_CHANGE_NOTE,   /* a history line that keeps the status (an apology):
                           dossier.updated, counted only when it ends an overdue mark */
    HOSO_CHANGE_FIELDS, /* fields only (rated): no history line, dossier.updated, not
                           counted */
} hoso_change_kind;

/* The one way a dossier changes, inside the writer op that makes the change: appends
 * the history line {status, at: op->now, by: op's caller, note} when the kind has one,
 * bumps the version, stores d (a new dossier for SUBMIT), appends the event to its
 * owner's feed and the global log, and counts the change in the monitoring counters,
 * all in t. Counters and the consumers of the log see every change because nothing
 * else stores a dossier. `status` is the new status for STATUS and is ignored
 * otherwise. New strings live in doc. Errors: NOMEM, storage's. */
int hoso__dossier_change(hoso_txn *t, const hoso_wop *op, hoso_doc *doc, hoso_dossier *d, hoso_change_kind kind,
                         int status, const char *note, size_t note_len);
/* SUBMIT through hoso__dossier_change, counting the papers given with it and those
 * taken from the citizen's vault. */
int hoso__dossier_submit(hoso_txn *t, const hoso_wop *op, hoso_doc *doc, hoso_dossier *d, const char *note,
                         unsigned papers_given, unsigned papers_reused);

/* The due time of code (due_at) passed (writer op apply, op->now past it): when the
 * dossier is still open with that due date, appends dossier.overdue to its owner's feed
 * and the log and moves it to the overdue index; a stale entry is dropped. Exactly once
 * per due date: the entry leaves `due` in the same transaction. Errors: storage's. */
int hoso__dossier_fire_due(hoso_txn *t, const hoso_wop *op, const char *code, int64_t due_at);

/* The national portal took code's record for the first time (the mirror): counted
 * once per dossier, on the day it was received. Unknown codes count nothing. */
int hoso__dossier_count_synced(hoso_txn *t, const char *code, int64_t now_ms);
/* A feedback text about service (may be ""): counted for the service's agency. */
int hoso__count_feedback(hoso_txn *t, const char *service, int64_t now_ms);
/* A store made before the per-channel counters: rebuilds them once from every
 * dossier's history (*dossiers: how many were read; 0 when built before). Papers
 * reused, synced and feedback before the rebuild are not in histories and stay 0. */
int hoso__counters_rebuild(hoso_txn *t, int64_t now_ms, uint64_t *dossiers);

/* Sets op's reply to 409 {error: {code: "VERSION_CONFLICT", message, details:
 * {dossier, version}}} and returns 0: the conflict is a result, stored with the op_id
 * like any 4xx, and it carries the current dossier so the app can show or rebase it. */
int hoso__wop_conflict(hoso_wop *op, const hoso_dossier *d, int64_t sent_version);

/* Sets op's reply to {dossier} with status http_status. Returns 0 or NOMEM. */
int hoso__wop_reply_dossier(hoso_wop *op, int http_status, const hoso_dossier *d);

/* The dossier in one Vietnamese sentence for a chat (notice.c): code, service name,
 * agency, status name, the due date, and what the citizen must do next; no personal
 * data. Errors: NOMEM (out too small). */
int hoso__dossier_notice(const hoso_dossier *d, const char *service_name, int64_t now_ms, char *out, size_t n);
/* 1 if the dossier is past its due date and its result is not out yet (notice.c). */
int hoso__dossier_overdue(const hoso_dossier *d, int64_t now_ms);

/* Messages (messages.c) ------------------------------------------------------------- */
/* Writer op applies: a message on dossier op->params[0] from its citizen (the citizen-op
 * row "message") or from an officer of its agency / an admin. Reply 201 {message}.
 * The checks run on the worker. Errors: NOT_FOUND (not the caller's dossier), storage's. */
int hoso__message_apply_citizen(hoso_wop *op, hoso_txn *t);
int hoso__message_apply_officer(hoso_wop *op, hoso_txn *t);
int hoso__message_check(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei);
int hoso__message_check_officer(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei);

/* Lists (lists.c) -------------------------------------------------------------------- */
/* Items packed apart while a walk counts them, then spliced behind their array header:
 * a list's length is known only after the walk. */
typedef struct hoso__items {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    uint32_t n;
} hoso__items;
void hoso__items_init(hoso__items *it);
void hoso__items_destroy(hoso__items *it);
/* Walk callbacks (storage's hoso_dossier_fn, hoso_paper_each's and
 * hoso_service_each's fn) packing each item into ctx, a hoso__items. They stop the
 * walk with NOMEM when packing fails, which the walk returns. */
int hoso__items_add_dossier(void *ctx, const hoso_dossier *d);
int hoso__items_add_paper(void *ctx, const hoso_paper *p);
int hoso__items_add_service(void *ctx, const hoso_service *svc);
/* Packs `key: [items]` into pk. Returns 0 or NOMEM. */
int hoso__items_pack(msgpack_packer *pk, const char *key, const hoso__items *it);

/* Parses ?status=&cursor=&limit= for the list routes: status 0 = any, limit default
 * 20 and capped at 100. Errors: VALIDATION_FAILED (field status or limit). */
int hoso__parse_paging(hoso_req *r, int *status, char *cursor, size_t cursor_sz, unsigned *limit);

typedef int (*hoso__list_fn)(hoso_txn *t, const char *who, int status, const char *cursor, unsigned limit,
                             hoso_doc *doc, hoso_dossier_fn fn, void *ctx, char next_buf[128]);
/* The agency's overdue dossiers (status ignored), the longest overdue first. */
int hoso__dossier_list_overdue(hoso_txn *t, const char *agency, int status, const char *cursor, unsigned limit,
                               hoso_doc *doc, hoso_dossier_fn fn, void *ctx, char next_buf[128]);
/* Runs a list function and replies {dossiers: [...], next}. */
int hoso__reply_dossier_list(hoso_req *r, hoso__list_fn list, const char *who, int status, const char *cursor,
                             unsigned limit);

/* Papers (vault.c) ------------------------------------------------------------------- */
/* Checks a paper's fields (type [a-z0-9_]{1,48}, number 1..64 bytes, issuer 1..200,
 * valid_until >= 0, sha256 empty or 64 hex). Problems are named "<prefix>.<field>".
 * Returns 0 or VALIDATION_FAILED. */
int hoso__paper_check(const hoso_paper *p, const char *prefix, hoso_errinfo *ei);
/* Checks an array of inline paper maps (worker side). NULL is fine. */
int hoso__papers_check(hoso_doc *doc, const msgpack_object *arr, hoso_errinfo *ei);
/* A fresh random paper id (32 hex chars + NUL). */
void hoso__paper_new_id(char out[33]);

/* A growable list of papers; strings live in the doc they were parsed/read into. */
typedef struct hoso__papers {
    hoso_paper *v;
    size_t n, cap;
} hoso__papers;
int hoso__papers_push(hoso__papers *ps, const hoso_paper *p); /* NOMEM */
/* Files in dossiers (vault.c): *file (may be empty) must name an unexpired finished
 * upload of the caller's; otherwise a field error naming `field`. *out (may be NULL)
 * gets the file. Errors: VALIDATION_FAILED, storage's. */
int hoso__file_check(hoso_txn *t, const hoso_caller *who, const hoso_str *file, const char *field, hoso_errinfo *ei,
                     hoso_file *out);
/* The files of papers become readable by the officers of agency (and by account, when
 * not NULL), and stop expiring. */
int hoso__files_grant(hoso_txn *t, const hoso__papers *papers, const char *agency, const char *account);

void hoso__papers_free(hoso__papers *ps);
/* Reads the owner's vault into ps (strings in doc). Errors: storage's, NOMEM. */
int hoso__vault_load(hoso_txn *t, const char *owner, hoso_doc *doc, hoso__papers *ps);
/* The vault paper of `type` valid at now (the one valid longest), or NULL. */
const hoso_paper *hoso__vault_find(const hoso__papers *vault, const hoso_str *type, int64_t now);
/* Takes the inline papers of a submit/supplement (arr may be NULL). A reference {id}
 * attaches that vault paper (unknown id, other type or expired: a field problem). A
 * new paper must not be expired; it gets the id of the vault paper with the same type
 * and number, or else a new id and is stored in the vault with a paper.added event,
 * so that it is not asked for again (Circular 32/2017). All are appended to out.
 * Errors: VALIDATION_FAILED (in op->err), NOMEM, storage's. */
int hoso__papers_take_inline(hoso_wop *op, hoso_txn *t, hoso_doc *doc, const msgpack_object *arr,
                             hoso__papers *vault, hoso__papers *out);
/* msgpack bytes (in doc) of the array `old` (msgpack bytes of an array, may be empty)
 * followed by the papers in add. Errors: CORRUPT (old is not an array), NOMEM. */
int hoso__papers_join(hoso_doc *doc, const hoso_str *old, const hoso__papers *add, hoso_str *out);
/* Unpacks stored msgpack bytes into an object in doc (empty bytes: nil).
 * Errors: CORRUPT. */
int hoso__ops_unpack(hoso_doc *doc, const hoso_str *bytes, msgpack_object *out);

/* The citizen's changes (citizen_ops.c) --------------------------------------------- */
/* One row per change a citizen makes, shared by its endpoint and by the offline queue
 * of POST /v1/sync, so both follow the same rules:
 * - check runs on the worker (rtxn: the request's read txn) against the request body
 *   `root`, decoding into `body`'s zone: what depends only on the request and the
 *   catalogue. Returns 0 or an error with ei filled (VALIDATION_FAILED names fields).
 * - apply is the writer op: op->body.root is the same map, op->params[0] the dossier
 *   code when on_dossier. It decides what depends on the stored state and sets
 *   op->reply / op->http_status as the endpoint answers. */
typedef struct hoso__citizen_op {
    const char *kind; /* "submit", "supplement", "withdraw", "rate", "feedback", "message" */
    int on_dossier;   /* names a dossier: the path's {code}, or a sync item's code */
    int (*check)(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei);
    hoso_wop_fn apply;
} hoso__citizen_op;
enum { HOSO_OP_SUBMIT, HOSO_OP_SUPPLEMENT, HOSO_OP_WITHDRAW, HOSO_OP_RATE, HOSO_OP_FEEDBACK, HOSO_OP_MESSAGE };
extern const hoso__citizen_op hoso__citizen_ops[];
extern const size_t hoso__ncitizen_ops;
/* The row whose kind is kind[0..len), or NULL. */
const hoso__citizen_op *hoso__citizen_op_find(const char *kind, size_t len);

#endif
