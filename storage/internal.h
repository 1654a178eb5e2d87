/*
 * storage/internal.h - what the files of libhoso_storage share: the store and
 * transaction structs, the table ids, LMDB access with error translation, and the
 * small msgpack helpers the table codecs use. Nothing here is part of the contract.
 */
#ifndef HOSO_STORAGE_INTERNAL_H
#define HOSO_STORAGE_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <lmdb.h>
#include <msgpack.h>
#include "hoso_storage.h"

#define HOSO__SCHEMA_VERSION 1
#define HOSO__KEY_BYTES 32
#define HOSO__ID_HEX 32 /* account ids / owners: fixed width in every key */

/* The named tables: X(enum suffix, LMDB name). */
#define HOSO__DBS(X)                                                                    \
    X(META, "meta")                                                                     \
    X(ACCOUNTS, "accounts")                                                             \
    X(SESSIONS, "sessions")                                                             \
    X(SERVICES, "services")                                                             \
    X(DOSSIERS, "dossiers")                                                             \
    X(OWNER_DOSSIERS, "owner_dossiers")                                                 \
    X(AGENCY_DOSSIERS, "agency_dossiers")                                               \
    X(FEED, "feed")                                                                     \
    X(FEED_HEAD, "feed_head")                                                           \
    X(LOG, "log")                                                                       \
    X(OPS, "ops")                                                                       \
    X(PAPERS, "papers")                                                                 \
    X(RATINGS, "ratings")                                                               \
    X(FEEDBACK, "feedback")                                                             \
    X(CURSORS, "cursors")                                                               \
    X(DELIVERIES, "deliveries")                                                         \
    X(SUBSCRIPTIONS, "subscriptions")                                                   \
    X(CODE_SUBSCRIPTIONS, "code_subscriptions")                                         \
    X(DUE, "due")                                                                       \
    X(OVERDUE, "overdue")                                                               \
    X(SATISFACTION, "satisfaction")                                                     \
    X(STATS, "stats")                                                                   \
    X(SYNCED, "synced")                                                                 \
    X(MESSAGES, "messages")                                                             \
    X(UPLOADS, "uploads")                                                               \
    X(FILES, "files")                                                                   \
    X(FILE_REFS, "file_refs")                                                           \
    X(FILE_EXPIRY, "file_expiry")

enum {
#define HOSO__DB_ENUM(id, name) HOSO__DB_##id,
    HOSO__DBS(HOSO__DB_ENUM)
#undef HOSO__DB_ENUM
    HOSO__DB_COUNT
};

struct hoso_store {
    MDB_env *env;
    MDB_dbi dbi[HOSO__DB_COUNT];
    uint8_t *seal_key; /* sodium_malloc'ed, read-only after open */
    uint8_t *id_key;   /* sodium_malloc'ed, read-only after open */
    uint8_t *mac_key;  /* sodium_malloc'ed, read-only after open: hoso_store_mac */
    uint8_t key_check[32]; /* keyed hash of a constant: shows which key made the store */
    char key_path[PATH_MAX];
    char dir[PATH_MAX];        /* the data dir (uploads/ and files/ live under it) */
    char epoch[33];
    int read_only;
    uint64_t gen;      /* this open among the process's opens (txn.c) */
    size_t map_size;
    unsigned max_readers;
    _Atomic uint64_t log_head; /* last global seq committed by this process (or at open) */
    atomic_int full;           /* the last commit failed for lack of space (txn.c) */
    uint64_t feed_max_events;  /* retention per owner feed, 0 = keep all (feed.c) */
    int64_t feed_max_age_ms;
    hoso_seq_source seq_next;  /* daily dossier numbers from outside (cluster), or NULL */
    void *seq_ctx;
};

struct hoso_txn {
    hoso_store *s;
    MDB_txn *txn;
    hoso_txn *parent;
    int rdonly;
    int err;           /* sticky: a failed write leaves the txn good only for abort */
    int saw_full;      /* top level: a write of it or of a child ran out of space */
    hoso_event *ev;    /* events appended in this txn (children join on commit) */
    size_t nev, cap;
    uint64_t last_gseq;
};

/* Key files (env.c): read one (a regular 0600 file of HOSO__KEY_BYTES), or create one
 * at path without ever exposing a partial file (an existing file is kept). Both print
 * why they fail. Errors: IO. */
int hoso__read_key_file(const char *path, uint8_t *key);
int hoso__create_secret_file(const char *path, const uint8_t *key, size_t len);
/* Writes all len bytes to fd, again after EINTR (env.c): 0, STORAGE_FULL (ENOSPC) or
 * IO, with errno as write(2) left it. */
int hoso__write_all(int fd, const void *p, size_t len);

/* The bytes free for the data dir's file system (txn.c): 0, or -1 if unknown. */
int hoso__disk_free(hoso_store *s, uint64_t *out);
/* 1 if the data dir's file system is (nearly) out of space (txn.c). */
int hoso__disk_full(hoso_store *s);

/* Gives the store a new random epoch (env.c): after a restore. Errors: storage's. */
int hoso__new_epoch(hoso_store *s);

/* MDB_* -> HOSO_E* (the one place LMDB errors are translated). */
int hoso__mdb_err(int rc);

/* Table access. get: 0, NOT_FOUND or the txn's sticky error. put/del record any
 * failure other than KEYEXIST/NOTFOUND as the txn's sticky error, since LMDB allows
 * only abort after it. put with MDB_NOOVERWRITE returns ALREADY_EXISTS. */
int hoso__get(hoso_txn *t, int db, const void *k, size_t klen, MDB_val *v);
int hoso__put(hoso_txn *t, int db, const void *k, size_t klen, const void *v, size_t vlen,
              unsigned flags);
int hoso__del(hoso_txn *t, int db, const void *k, size_t klen);
/* 0 if t can write, BAD_REQUEST for a read txn, or its sticky error. */
int hoso__writable(hoso_txn *t);
/* Opens a cursor on db. Errors as hoso__get. */
int hoso__cursor(hoso_txn *t, int db, MDB_cursor **out);
/* Records a write failure as sticky (returns err). */
int hoso__fail(hoso_txn *t, int err);

/* Adds an appended event to t's collection (takes ownership of body). */
int hoso__txn_add_event(hoso_txn *t, const hoso_event *ev);

/* Owner feed bounds (feed.c). feed_head's value is the head BE64, followed by the
 * first retained seq BE64 once something was trimmed (8 bytes alone: first is 1). */
int hoso__feed_head_get(hoso_txn *t, const char *owner, uint64_t *head, uint64_t *first);
int hoso__feed_head_put(hoso_txn *t, const char *owner, uint64_t head, uint64_t first);
/* Trims owner's oldest entries by the store's retention as of `at`, never touching
 * entries >= keep_from; moves *first past what it deleted and counts it in *n.
 * Errors: CORRUPT, STORAGE_FULL, IO. */
int hoso__feed_trim(hoso_txn *t, const char *owner, uint64_t keep_from, int64_t at, uint64_t *first,
                    uint64_t *n);

/* Log append (log.c): writes the entry for global seq and moves the head in meta. */
int hoso__log_append(hoso_txn *t, const char *owner, const char *agency, hoso_event_type type,
                     int64_t at, const hoso_dossier *d, uint64_t message_seq, uint64_t *gseq_out);
int hoso__log_head(hoso_txn *t, uint64_t *seq, uint8_t hash[32]);

/* Dossiers (dossiers.c). Decodes a stored dossier value into doc's zone; with
 * status != 0 a dossier in another status is skipped before unsealing (returns 1). */
int hoso__dossier_from_value(hoso_txn *t, const void *val, size_t len, int status, hoso_doc *doc,
                             hoso_dossier *out);
/* Index keys: owner(32) + created BE + code; len(agency) + agency + created BE + code. */
#define HOSO__INDEX_KEY_MAX 511
int hoso__owner_prefix(const char *owner, uint8_t *buf, size_t *len);
int hoso__agency_prefix(const char *agency, uint8_t *buf, size_t *len);

/* Random bytes as lowercase hex (2n chars + NUL). */
void hoso__random_hex(char *out, size_t nbytes);

/* ---------------------------------------------------------------------------------- */
/* Indexes added after stores existed, by their meta marker: a new store marks them
 * built (env.c), an older one builds each once (hoso__build_once). */
#define HOSO__MARK_DUE "due_index"
#define HOSO__MARK_SATISFACTION "satisfaction_index"
#define HOSO__MARK_STATS "stats_v2" /* counters by channel, rebuilt from histories */
#define HOSO__BUILT_MARKS HOSO__MARK_DUE, HOSO__MARK_SATISFACTION, HOSO__MARK_STATS
/* Unless meta holds `marker`: calls row(ctx, value, &counted) for every value of db, in
 * one pass (row decodes, writes other tables, sets counted), then writes the marker.
 * *count is the rows counted (0 when built before). Errors: row's, storage's. */
int hoso__build_once(hoso_txn *t, const char *marker, int db, int (*row)(void *ctx, const msgpack_object *v, int *counted),
                     void *ctx, uint64_t *count);

/* Due-date indexes (due.c): called by hoso_dossier_put with the stored dossier's
 * status and due_at before the change (old_status 0 for a new dossier); sets *cleared
 * when the change ends an overdue mark (left as it is otherwise). */
int hoso__due_update(hoso_txn *t, const hoso_dossier *d, int64_t old_status, int64_t old_due, int *cleared);

/* Codec helpers (codec.c). */

/* Makes doc usable: a doc whose zone has chunk_size 0 (zeroed) is initialized here;
 * an initialized one is used as is. Errors: NOMEM. */
int hoso__doc_ready(hoso_doc *doc);
/* Unpacks exactly one object from buf into tmp (which references buf). CORRUPT when
 * malformed or followed by trailing bytes. Destroy tmp with msgpack_unpacked_destroy. */
int hoso__unpack(msgpack_unpacked *tmp, const void *buf, size_t len);
/* Unpacks buf into doc's zone after copying it there: the objects live as long as doc. */
int hoso__unpack_zone(hoso_doc *doc, const void *buf, size_t len, msgpack_object *out);
/* A str field copied into out (cut to fit n-1 bytes); "" when absent or nil. CORRUPT
 * when present as another type (out is then ""). */
int hoso__mcopy(const msgpack_object *map, const char *key, char *out, size_t n);
/* Integer field or def when absent; CORRUPT when present but not an integer. */
int hoso__mint(const msgpack_object *map, const char *key, int64_t def, int64_t *out);
/* Vietnam (UTC+7) civil date of t: "YYYYMMDD" (buf >= 9) and "YYYY-MM" (buf >= 8). */
void hoso__vn_yyyymmdd(int64_t t_ms, char buf[9]);
void hoso__vn_month(int64_t t_ms, char buf[8]);

#endif
