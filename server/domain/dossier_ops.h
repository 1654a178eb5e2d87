/*
 * dossier_ops.h - domain helpers shared by the route handlers (route_*.c): who may see
 * a dossier, applying a status move, the paper vault rules, reply packing and paging.
 *
 * Threads: functions taking a hoso_req run on the worker that owns it; functions
 * taking a hoso_wop or a write hoso_txn run on the writer inside op->apply. The rest
 * are pure and reentrant.
 *
 * Memory: strings and arrays these helpers make for a dossier or paper are allocated
 * in the hoso_doc passed with it and live until hoso_doc_destroy().
 */
#ifndef HOSO_DOSSIER_OPS_H
#define HOSO_DOSSIER_OPS_H

#include "internal.h"

/* An empty doc usable as an arena (hoso_doc_destroy releases it). Errors: NOMEM. */
int hoso__doc_init(hoso_doc *doc);
/* NUL-terminated copy of s[0..len) in doc's zone; ptr NULL on NOMEM. */
hoso_str hoso__ops_zstr(hoso_doc *doc, const char *s, size_t len);
/* Copies the bytes of sb into doc's zone as a hoso_str (msgpack bytes). */
hoso_str hoso__ops_zbytes(hoso_doc *doc, const msgpack_sbuffer *sb);
/* 1 if the str s (NULL-safe) is set and non-empty. */
static inline int hoso__has(const hoso_str *s)
{
    return s && s->ptr && s->len > 0;
}

/* 1 if the caller may read d: its owner, an officer of its agency, or an admin. Every
 * other caller must get NOT_FOUND, the same reply as for a missing code. */
int hoso__dossier_visible(const char *account, hoso_role role, const char *agency, const hoso_dossier *d);

/* Loads the dossier named by op->params[0] in the writer transaction. `officer`:
 * visible to officers of its agency and admins (agency routes); otherwise only to the
 * owner (citizen routes). Errors: NOT_FOUND (also when not visible), CORRUPT, IO. */
int hoso__wop_load_dossier(hoso_wop *op, hoso_txn *t, int officer, hoso_doc *doc, hoso_dossier *d);

/* Appends {status, at, by, note} to d->history (new array in doc) and, when status
 * differs, moves d there. Always bumps d->version. Errors: NOMEM. */
int hoso__dossier_step(hoso_doc *doc, hoso_dossier *d, int status, int64_t at, const char *by,
                       const char *note, size_t note_len);

/* Stores d (replacing) and appends `type` to its owner's feed. Errors: storage's. */
int hoso__dossier_save(hoso_txn *t, const hoso_dossier *d, hoso_event_type type, int64_t at);

/* Counts a status change in the stats. Moving to 9 (result ready) decides on time or
 * late against due_at; each dossier reaches 9 at most once, so it is counted once. */
int hoso__dossier_stats(hoso_txn *t, const hoso_dossier *d, int64_t at);

/* Sets op's reply to 409 {error: {code: "VERSION_CONFLICT", message, details:
 * {dossier, version}}} and returns 0: the conflict is a result, stored with the op_id
 * like any 4xx, and it carries the current dossier so the app can show or rebase it. */
int hoso__wop_conflict(hoso_wop *op, const hoso_dossier *d, int64_t sent_version);

/* Sets op's reply to {dossier} with status http_status. Returns 0 or NOMEM. */
int hoso__wop_reply_dossier(hoso_wop *op, int http_status, const hoso_dossier *d);

/* Lists ---------------------------------------------------------------------------- */
/* Items packed apart while a walk counts them, then spliced behind their array header:
 * a list's length is known only after the walk. */
typedef struct hoso__items {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    uint32_t n;
    int err; /* NOMEM once packing an item failed (the walk was stopped) */
} hoso__items;
void hoso__items_init(hoso__items *it);
void hoso__items_destroy(hoso__items *it);
/* Walk callbacks (storage's hoso_dossier_fn and hoso_paper_each's fn) packing each item
 * into ctx, a hoso__items. They stop the walk (return 1) when packing fails. */
int hoso__items_add_dossier(void *ctx, const hoso_dossier *d);
int hoso__items_add_paper(void *ctx, const hoso_paper *p);
/* Packs `key: [items]` into pk. Returns 0 or NOMEM. */
int hoso__items_pack(msgpack_packer *pk, const char *key, const hoso__items *it);

/* Papers -------------------------------------------------------------------------- */
/* Checks a paper's fields (type [a-z0-9_]{1,48}, number 1..64 bytes, issuer 1..200,
 * valid_until >= 0, sha256 empty or 64 hex). Problems are named "<prefix>.<field>".
 * Returns 0 or VALIDATION_FAILED. */
int hoso__paper_check(const hoso_paper *p, const char *prefix, hoso_errinfo *ei);
/* Reads one inline paper map into p (strings copied into doc) and checks it: either
 * a new paper {type, number, issuer, valid_until?, sha256?} or a reference to a vault
 * paper {id, type}. Errors: VALIDATION_FAILED, NOMEM. */
int hoso__paper_parse(hoso_doc *doc, const msgpack_object *o, const char *prefix, hoso_paper *p,
                      hoso_errinfo *ei);
/* Checks an array of inline paper maps (worker side). NULL is fine. */
int hoso__papers_check(hoso_doc *doc, const msgpack_object *arr, hoso_errinfo *ei);
/* 1 if p is valid at now: valid_until 0 (no expiry) or later than now. */
static inline int hoso__paper_valid(const hoso_paper *p, int64_t now)
{
    return p->valid_until == 0 || p->valid_until > now;
}
/* A fresh random paper id (32 hex chars + NUL). */
void hoso__paper_new_id(char out[33]);

/* A growable list of papers; strings live in the doc they were parsed/read into. */
typedef struct hoso__papers {
    hoso_paper *v;
    size_t n, cap;
} hoso__papers;
int hoso__papers_push(hoso__papers *ps, const hoso_paper *p); /* NOMEM */
void hoso__papers_free(hoso__papers *ps);
/* Reads the owner's vault into ps (strings in doc). Errors: storage's. */
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
/* Unpacks stored msgpack bytes into an object in doc. Errors: CORRUPT. */
int hoso__ops_unpack(hoso_doc *doc, const hoso_str *bytes, msgpack_object *out);

/* Citizen changes (route_dossier.c) ---------------------------------------------- */
/* One row per change a citizen makes, shared by its endpoint and by the offline queue
 * of POST /v1/sync (route_sync.c), so both follow the same rules:
 * - check runs on the worker (rtxn: the request's read txn) against the request body
 *   `root`, decoding into `body`'s zone: what depends only on the request and the
 *   catalogue. Returns 0 or an error with ei filled (VALIDATION_FAILED names fields).
 * - apply is the writer op: op->body.root is the same map, op->params[0] the dossier
 *   code when on_dossier. It decides what depends on the stored state and sets
 *   op->reply / op->http_status as the endpoint answers. */
typedef struct hoso__citizen_op {
    const char *kind; /* "submit", "supplement", "withdraw", "rate", "feedback" */
    int on_dossier;   /* names a dossier: the path's {code}, or a sync item's code */
    int (*check)(hoso_txn *rtxn, hoso_doc *body, const msgpack_object *root, hoso_errinfo *ei);
    hoso_wop_fn apply;
} hoso__citizen_op;
extern const hoso__citizen_op hoso__citizen_ops[];
extern const size_t hoso__ncitizen_ops;
/* The row whose kind is kind[0..len), or NULL. */
const hoso__citizen_op *hoso__citizen_op_find(const char *kind, size_t len);

/* Reading helpers (worker) ---------------------------------------------------------- */
/* Parses ?status=&cursor=&limit= for the list routes: status 0 = any, limit default
 * 20 and capped at 100. Errors: VALIDATION_FAILED (field status or limit). */
int hoso__parse_paging(hoso_req *r, int *status, char *cursor, size_t cursor_sz, unsigned *limit);

typedef int (*hoso__list_fn)(hoso_txn *t, const char *who, int status, const char *cursor, unsigned limit,
                             hoso_doc *doc, hoso_dossier_fn fn, void *ctx, char next_buf[128]);
/* Runs a list function and replies {dossiers: [...], next}. */
int hoso__reply_dossier_list(hoso_req *r, hoso__list_fn list, const char *who, int status, const char *cursor,
                             unsigned limit);

#endif
