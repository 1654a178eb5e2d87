/*
 * storage/ - libhoso_storage: everything hoso keeps on disk; no networking.
 *
 * hoso_storage.h - the LMDB store: environment, named tables, key encodings,
 * transactions, the owner feeds and the hash-chained global log, encryption at rest.
 * No networking and no event loop.
 *
 * Errors: 0 or a negative HOSO_E* (hoso_protocol.h). LMDB errors are translated in
 * storage/ only: MDB_MAP_FULL -> HOSO_ESTORAGE_FULL, MDB_NOTFOUND -> HOSO_ENOT_FOUND,
 * MDB_CORRUPTED/MDB_PAGE_NOTFOUND -> HOSO_ECORRUPT, anything else -> HOSO_EIO (ENOSPC
 * from the disk is STORAGE_FULL too: the operator's remedy is the same).
 *
 * Threads: a hoso_store is shared by all threads. Read transactions belong to the
 * thread that began them (the store is opened without MDB_NOTLS); a thread keeps one
 * and resets/renews it per request. Exactly one thread (the writer) runs write
 * transactions; admin commands in another process are serialized by LMDB's lock.
 *
 * Memory: values returned by *_get functions are borrowed from LMDB and valid only
 * until the transaction ends or the next write in it; decoders copy into the caller's
 * hoso_doc zone what must outlive that.
 *
 * hoso_doc rule: every function taking a hoso_doc accepts either a zeroed doc (zone
 * chunk_size == 0), which it initializes (msgpack_zone_init, 2048), or one already
 * initialized, whose zone it keeps appending to (one doc may serve several gets and a
 * whole list page). Once a call returned (even with an error) the doc is initialized;
 * release it with hoso_doc_destroy(). doc->root is not used by storage getters.
 *
 * Failed writes: when LMDB fails a write (MAP_FULL, disk full, I/O) the transaction
 * is poisoned: every later call on it returns the same error, and commit aborts it and
 * returns that error, so no half-written change is ever committed. For a nested
 * transaction only the child is poisoned; abort it and the parent goes on.
 */
#ifndef HOSO_STORAGE_H
#define HOSO_STORAGE_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include <sodium.h>
#include <sys/types.h>
#include "hoso_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------- */
typedef struct hoso_store hoso_store;

typedef struct hoso_store_options {
    size_t map_size;      /* bytes; 0: the size the store was last given, at least
                             16 GiB (sparse) */
    unsigned max_readers; /* default 1024 */
    int read_only;        /* audit/backup: open without creating anything */
    int must_exist;       /* refuse (NOT_FOUND) a dir that holds no store instead of
                             making a new one: every command but a first start */
    /* Owner feed retention, applied by hoso_event_append (see hoso_feed_bounds).
     * 0 keeps everything. */
    uint64_t feed_max_events; /* most entries kept per owner */
    int64_t feed_max_age_ms;  /* entries older than this before the newest are dropped */
} hoso_store_options;

/* Opens (creating if absent, unless must_exist) the data dir: LMDB env in DIR/lmdb/,
 * the key file DIR/secret.key (32 random bytes, mode 0600, created on first start,
 * kept in sodium_malloc'ed memory), all named tables, the epoch (16 random bytes made
 * at first start, stored in meta), the schema version and the key check (a keyed hash
 * made at first start: a store opened with another key file is refused instead of
 * failing on every sealed value). Runs mdb_reader_check. Prints why on stderr.
 * Errors: NOT_FOUND (must_exist and DIR holds no store), KEY_MISMATCH, IO (cannot
 * create dir, lock, bad key file mode/size), CORRUPT (schema newer than this build),
 * NOMEM. */
int hoso_store_open(hoso_store **out, const char *dir, const hoso_store_options *opt);
void hoso_store_close(hoso_store *s);
/* 1 if DIR holds a store (DIR/lmdb/data.mdb exists). */
int hoso_store_exists(const char *dir);

/* The data dir's epoch as 32 lowercase hex chars + NUL. */
const char *hoso_store_epoch(const hoso_store *s);
/* The keyed hash that shows which secret.key the store was made with, as 64 hex
 * chars + NUL: two stores (or two cluster nodes) with the same value use the same key,
 * and the value tells nothing of the key. */
void hoso_store_key_check(const hoso_store *s, char out[65]);
/* A keyed BLAKE2b-256 of data under a subkey of secret.key of its own: what stores of
 * one key (the nodes of a cluster) use to vouch to each other. */
void hoso_store_mac(const hoso_store *s, const void *data, size_t len, uint8_t out[32]);
/* Where daily dossier numbers come from when they must be unique beyond this store
 * (cluster mode): next(ctx, agency, yymmdd, &n) gives the next number of that agency
 * and day, or an error (UNAVAILABLE) that fails the submission. NULL: the store's own
 * counter in meta. Set before the writer starts. */
typedef int (*hoso_seq_source)(void *ctx, const char *agency, const char *yymmdd, uint64_t *n);
void hoso_store_set_seq_source(hoso_store *s, hoso_seq_source next, void *ctx);

typedef struct hoso_store_stats {
    uint64_t map_size, used_bytes; /* configured map, pages in use * page size */
    uint64_t disk_free;            /* bytes free for the data dir's file system */
    int full;                      /* the last commit failed: no space (map or disk) */
    uint64_t log_head;             /* last global seq, 0 if empty */
    unsigned readers_used, max_readers;
} hoso_store_stats;
/* Needs no transaction (safe while the thread holds its read txn). log_head is the
 * head at open or at this process's last commit that appended events. Errors: IO. */
int hoso_store_stats_get(hoso_store *s, hoso_store_stats *st);

/* Whole data dirs (backup.c) ------------------------------------------------------ */
/* Progress of a long copy: bytes done of about total (total may be 0: unknown). */
typedef void (*hoso_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct hoso_backup_options {
    int force;                 /* replace `to` (and `to`.key) if they exist */
    int no_key;                /* leave the key file out (kept apart by the operator) */
    hoso_progress_fn progress; /* called at most once a second, and once at the end
                                  with done == total */
    void *ctx;
} hoso_backup_options;

/* Copies the environment (compacting) to the new file `to` (a consistent snapshot of a
 * running store), then the key file next to it as `to`.key (0600) unless no_key. opt
 * may be NULL. Errors: NOT_FOUND (the folder of `to` does not exist), ALREADY_EXISTS
 * (`to` or its key exists and not force), STORAGE_FULL, IO, NOMEM. */
int hoso_store_backup(hoso_store *s, const char *to, const hoso_backup_options *opt);

/* Restores the backup file `from` with its key file (key_from, default `from`.key)
 * into the data dir `dir` (created if absent), under the serving lock. The backup is
 * opened with its key first (a wrong key is KEY_MISMATCH and changes nothing) and gets
 * a new epoch, so every client cursor of before is CURSOR_EXPIRED. A dir that holds a
 * store is refused unless force, which moves its lmdb/ and secret.key into
 * dir/replaced.<time>/ rather than deleting them. epoch_out (may be NULL) gets the new
 * epoch. Prints why it fails. Errors: NOT_FOUND (from or its key unreadable),
 * ALREADY_EXISTS, LOCKED (a server runs on dir), KEY_MISMATCH, STORAGE_FULL, IO. */
int hoso_store_restore(const char *from, const char *key_from, const char *dir, int force, char epoch_out[33]);

/* The serving lock of a data dir: DIR/hosod.lock, held (flock) until hoso_dir_unlock or
 * the process ends, with the holder's pid written in it. One serving process per data
 * dir; offline commands that LMDB makes safe beside a server do not take it.
 * Errors: LOCKED (*holder gets the other process's pid, 0 if unknown), IO. */
int hoso_dir_lock(const char *dir, int *fd_out, long *holder);
void hoso_dir_unlock(int fd);

/* ---------------------------------------------------------------------------------- */
/* Transactions. A hoso_txn wraps an MDB_txn. Write transactions also collect the
 * events appended through hoso_event_append() so the writer can publish them after
 * commit. */
typedef struct hoso_txn hoso_txn;

/* A read transaction for the calling thread. LMDB allows one live read txn per thread
 * (a second one fails with IO): keep one and reset/renew it. Errors: IO, NOMEM. */
int hoso_txn_read(hoso_store *s, hoso_txn **out);
/* Releases the snapshot but keeps the reader slot; renew before reuse. */
void hoso_txn_reset(hoso_txn *t);
int hoso_txn_renew(hoso_txn *t);

/* The writer's transaction. With parent != NULL a nested transaction whose changes
 * (and collected events) join the parent on commit, vanish on abort: the writer runs
 * each request in its own child so one failing request leaves the batch intact.
 * Errors: IO, STORAGE_FULL, NOMEM. */
int hoso_txn_write(hoso_store *s, hoso_txn *parent, hoso_txn **out);
/* Commits and frees t. On error t is aborted and freed. Errors: STORAGE_FULL (the map
 * or the file system is full: nothing of t is kept, and later commits succeed once
 * space is made), IO. */
int hoso_txn_commit(hoso_txn *t);
/* Aborts and frees t (read or write). */
void hoso_txn_abort(hoso_txn *t);
hoso_store *hoso_txn_store(hoso_txn *t);

/* ---------------------------------------------------------------------------------- */
/* Encryption at rest (XChaCha20-Poly1305, key from the key file). The output is
 * nonce(24) || ciphertext || tag(16); ad binds it to its record (e.g. dossier code).
 * *out is malloc'ed; caller frees. Errors: NOMEM; CORRUPT when opening fails. */
int hoso_seal(const hoso_store *s, const void *pt, size_t len, const void *ad, size_t adlen,
              uint8_t **out, size_t *outlen);
int hoso_open(const hoso_store *s, const void *ct, size_t len, const void *ad, size_t adlen,
              uint8_t **out, size_t *outlen);
/* Keyed BLAKE2b-128 of a login name (id number or username) as 32 hex chars + NUL:
 * the account id. Indexes never hold personal data, only these ids. */
void hoso_account_id_for(const hoso_store *s, const char *login, char out[33]);

/* ---------------------------------------------------------------------------------- */
/* Accounts, sessions. */
typedef enum hoso_role { HOSO_ROLE_CITIZEN = 1, HOSO_ROLE_OFFICER, HOSO_ROLE_BOT, HOSO_ROLE_ADMIN } hoso_role;
const char *hoso_role_name(hoso_role r); /* "citizen", ... */
int hoso_role_parse(const char *s);      /* role or HOSO_EBAD_REQUEST */

typedef struct hoso_account {
    char id[33];
    hoso_role role;
    hoso_str login;     /* id number (citizens) or username */
    hoso_str full_name, phone, agency;
    hoso_str scopes;    /* space-separated, bots */
    hoso_str pwhash;    /* crypto_pwhash_str (argon2id) */
    hoso_str bot_secret;/* bots: HMAC secret for webhooks */
    int64_t created_at;
} hoso_account;

/* Puts (insert or replace) the account; full_name and phone are stored sealed (so are
 * login, an id number for citizens, and bot_secret), with the id as associated data.
 * Errors: BAD_REQUEST (empty id), STORAGE_FULL, IO, NOMEM. */
int hoso_account_put(hoso_txn *t, const hoso_account *a);
/* Gets by id into strings copied into doc's zone. Errors: NOT_FOUND, CORRUPT, IO. */
int hoso_account_get(hoso_txn *t, const char *id, hoso_doc *doc, hoso_account *out);
/* The same without opening the sealed part: id, role, agency, scopes, pwhash and
 * created_at are set; login, full_name, phone and bot_secret stay empty. What request
 * authentication uses. Errors as hoso_account_get. */
int hoso_account_get_public(hoso_txn *t, const char *id, hoso_doc *doc, hoso_account *out);

/* Argon2id (crypto_pwhash_str, interactive limits). out >= crypto_pwhash_STRBYTES. */
int hoso_password_hash(const char *password, char *out, size_t outsz);
int hoso_password_verify(const char *hash, const char *password); /* 0 or UNAUTHORIZED */

typedef struct hoso_session {
    char account[33];
    int64_t expires_at;
} hoso_session;
/* Makes a random 32-byte token (43 chars base64url + NUL in token_out) and stores
 * BLAKE2b(token) -> session. Only the hash is kept. */
int hoso_session_create(hoso_txn *t, const char *account, int64_t expires_at, char token_out[48]);
/* The same with prefix (at most 15 chars, "" for none) written in clear before the
 * random part ("17.xxxx": the shard that holds the account, in cluster mode); the
 * whole token is what is looked up. */
int hoso_session_create_prefixed(hoso_txn *t, const char *account, int64_t expires_at, const char *prefix,
                                 char token_out[64]);
/* Looks a token up. Errors: UNAUTHORIZED (unknown or expired at now_ms). */
int hoso_session_get(hoso_txn *t, const char *token, int64_t now_ms, hoso_session *out);
/* Deleting an unknown token is not an error (logout is idempotent). */
int hoso_session_delete(hoso_txn *t, const char *token);

/* ---------------------------------------------------------------------------------- */
/* Services catalogue: code -> hoso_service encoding (plain). */
int hoso_service_put(hoso_txn *t, const hoso_service *svc);
int hoso_service_get(hoso_txn *t, const char *code, hoso_doc *doc, hoso_service *out);
/* Calls fn for each service in code order; stops when fn returns non-zero (returned). */
int hoso_service_each(hoso_txn *t, int (*fn)(void *ctx, const hoso_service *svc), void *ctx);

/* ---------------------------------------------------------------------------------- */
/* Dossiers. The stored value is the hoso_dossier encoding with form and papers sealed
 * (ad = code). owner_dossiers and agency_dossiers index by created time. */

/* Next code {agency}-{YYMMDD}-{NNNN} from the per-agency daily sequence in meta for the
 * Vietnam date of now_ms; NNNN has a fifth digit past 9,999 in one day.
 * Errors: STORAGE_FULL, IO. */
int hoso_dossier_next_code(hoso_txn *t, const char *agency, int64_t now_ms, char out[64]);
/* Inserts or replaces; maintains the two indexes on insert (is_new), keyed by
 * submitted_at, which must therefore never change. owner must be a 32-hex account id,
 * code at most 80 bytes. Errors: ALREADY_EXISTS (is_new and the code exists),
 * BAD_REQUEST, STORAGE_FULL, IO, NOMEM. */
int hoso_dossier_put(hoso_txn *t, const hoso_dossier *d, int is_new);
/* What a put replaced: the stored status and due date before it, and whether it ended
 * an overdue mark (the dossier left the open statuses, or its due date changed). */
typedef struct hoso_put_info {
    int64_t old_status, old_due;
    int overdue_cleared;
} hoso_put_info;
/* hoso_dossier_put that also fills *info (zeros for a new dossier). */
int hoso_dossier_store(hoso_txn *t, const hoso_dossier *d, int is_new, hoso_put_info *info);
/* Gets and unseals into doc's zone. Errors: NOT_FOUND, CORRUPT, IO. */
int hoso_dossier_get(hoso_txn *t, const char *code, hoso_doc *doc, hoso_dossier *out);
/* Only code, service, agency, owner, status and version, with nothing unsealed: enough
 * to check who may see it and whether a client's copy is current. Errors: as _get. */
int hoso_dossier_head(hoso_txn *t, const char *code, hoso_doc *doc, hoso_dossier *out);

/* Page through one owner's (or one agency's) dossiers, newest first. cursor is opaque
 * (NULL/"" = start); *next is set to the cursor of the next page ("" at the end), 
 * written into next_buf (>= 128). status 0 = any. fn gets each dossier.
 * limit 0 = 50, at most 1000. The dossiers fn sees live in doc's zone (the page grows
 * it). A non-zero return of fn stops the walk and is returned.
 * Errors: BAD_REQUEST (bad cursor, owner not 32 hex), CORRUPT, IO. */
typedef int (*hoso_dossier_fn)(void *ctx, const hoso_dossier *d);
int hoso_dossier_list_owner(hoso_txn *t, const char *owner, int status, const char *cursor,
                            unsigned limit, hoso_doc *doc, hoso_dossier_fn fn, void *ctx,
                            char next_buf[128]);
int hoso_dossier_list_agency(hoso_txn *t, const char *agency, int status, const char *cursor,
                             unsigned limit, hoso_doc *doc, hoso_dossier_fn fn, void *ctx,
                             char next_buf[128]);

/* ---------------------------------------------------------------------------------- */
/* Events: the owner feed and the global, hash-chained log, written together. */
typedef enum hoso_event_type {
    HOSO_EV_DOSSIER_CREATED = 1, /* "dossier.created" */
    HOSO_EV_DOSSIER_STATUS,      /* "dossier.status" */
    HOSO_EV_DOSSIER_UPDATED,     /* "dossier.updated" */
    HOSO_EV_PAPER_ADDED,         /* "paper.added" */
    HOSO_EV_MESSAGE,             /* "message" */
    HOSO_EV_DOSSIER_OVERDUE,     /* "dossier.overdue": its due time passed while it was open */
} hoso_event_type;
#define HOSO_EV_LAST HOSO_EV_DOSSIER_OVERDUE
const char *hoso_event_type_name(hoso_event_type t);

/* A committed event as handed to the push hub, mirror and stats. */
typedef struct hoso_event {
    uint64_t gseq;        /* global log seq */
    uint64_t seq;         /* owner feed seq */
    char owner[33];
    char agency[48];
    hoso_event_type type;
    int64_t at;
    uint8_t *body;        /* msgpack {seq, at, type, dossier} as sent to the owner */
    size_t body_len;
} hoso_event;

/* Appends an event for `owner` (dossier event: body_obj is the dossier map packed by
 * the caller): next feed seq, feed entry, feed_head, and a log entry {seq, prev hash,
 * owner, agency, type, at, code, status, version} chained to the previous log entry.
 * The feed entry is sealed at rest (it holds the form); the log holds no personal data.
 * d may be NULL (message events): dossier nil, code "". The event is also collected in
 * t for publishing after commit. Errors: BAD_REQUEST (owner not 32 hex, agency >= 48
 * bytes), STORAGE_FULL, IO, NOMEM. */
int hoso_event_append(hoso_txn *t, const char *owner, const char *agency, hoso_event_type type,
                      int64_t at, const hoso_dossier *d, uint64_t *seq_out);
/* Messages on a dossier between its citizen and its agency's officers: code \0 seq
 * BE64 -> sealed {from, by, text, at} (ad = the key). The wire shape is {code, seq,
 * from: "citizen"|"officer", text, files: [], at}; `by` (the account) stays inside. */
typedef struct hoso_message {
    hoso_str code, by, text;
    hoso_str files;   /* msgpack bytes of an array of file ids, or empty */
    const char *from; /* "citizen" or "officer" */
    uint64_t seq;     /* 1, 2, ... per dossier */
    int64_t at;
} hoso_message;
int hoso_message_encode(msgpack_packer *pk, const hoso_message *m);
/* Stores m as the dossier's next message (sets m->seq). Errors: BAD_REQUEST (code
 * empty or over 80 bytes, from not citizen/officer), STORAGE_FULL, IO, NOMEM. */
int hoso_message_put(hoso_txn *t, hoso_message *m);
/* fn with each message of code after seq `after`, oldest first, at most limit (1..1000;
 * 0 = 100); *more when more follow. The message's strings live until fn returns.
 * Errors: fn's non-zero return, CORRUPT, storage's. */
int hoso_message_list(hoso_txn *t, const char *code, uint64_t after, unsigned limit,
                      int (*fn)(void *ctx, const hoso_message *m), void *ctx, int *more);
/* Appends a `message` event for the dossier's owner: as hoso_event_append (the log
 * entry names d's code, status and version), with the body {seq, at, type: "message",
 * message}. Errors as hoso_event_append. */
int hoso_event_append_message(hoso_txn *t, const hoso_dossier *d, int64_t at, const hoso_message *m,
                              uint64_t *seq_out);
/* Resumable uploads (tus) and files (storage/uploads.c). An upload's id is 32 hex
 * characters and becomes its file's id when it completes. key/nonce are clear in
 * memory and sealed at rest; sha is the running crypto_hash_sha256_state of the bytes
 * received so far, magic their first bytes (for the media type). */
typedef struct hoso_upload {
    char id[33], owner[33];
    uint64_t length, offset;
    int64_t created, expires;
    char name[256], type[128];   /* from Upload-Metadata (filename, filetype) */
    uint8_t key[32], nonce[24];
    uint8_t sha[sizeof(crypto_hash_sha256_state)];
    uint8_t magic[16];
    size_t nmagic;
} hoso_upload;
typedef struct hoso_file {
    char id[33], owner[33];
    uint64_t size;
    uint8_t sha256[32];
    char media_type[64], name[256];
    int64_t created;
    int64_t expires;   /* until a paper, message or result uses it; 0 once used */
    uint8_t key[32], nonce[24];
} hoso_file;
int hoso_upload_put(hoso_txn *t, const hoso_upload *u);
/* Errors: NOT_FOUND, CORRUPT, storage's. */
int hoso_upload_get(hoso_txn *t, const char *id, hoso_upload *u);
int hoso_upload_del(hoso_txn *t, const char *id);
/* fn with (at most limit) uploads whose expiry passed by now_ms; finished: the upload
 * became a file (its record kept so that a client who lost the last reply learns it). */
int hoso_upload_expired(hoso_txn *t, int64_t now_ms, size_t limit,
                        int (*fn)(void *ctx, const char *id, const char *owner, int finished), void *ctx);
/* Errors: ALREADY_EXISTS, storage's. */
int hoso_file_put(hoso_txn *t, const hoso_file *f);
/* Lets the officers of agency and/or the account (either may be NULL) read file id
 * (a dossier of theirs references it), and keeps the file from expiring (both NULL:
 * only that, e.g. a paper of the vault). */
int hoso_file_grant(hoso_txn *t, const char *id, const char *agency, const char *account);
/* 1 if file id was granted to agency or account. */
int hoso_file_granted(hoso_txn *t, const char *id, const char *agency, const char *account);
/* fn with (at most limit, 64) files unused past their expiry; fn may delete them. */
int hoso_file_expired(hoso_txn *t, int64_t now_ms, size_t limit, int (*fn)(void *ctx, const char *id), void *ctx);
/* Removes a file's record (its bytes are the caller's: hoso_blob_remove). */
int hoso_file_del(hoso_txn *t, const char *id);
int hoso_file_get(hoso_txn *t, const char *id, hoso_file *f);
/* An account's uploads: open ones, and bytes announced today (Vietnam day). Reads
 * the usage into *use (before the change), then applies open_delta and add_bytes
 * when either is non-zero. */
typedef struct hoso_upload_usage {
    uint64_t open, bytes_today;
} hoso_upload_usage;
int hoso_upload_quota(hoso_txn *t, const char *owner, int64_t now_ms, int open_delta, uint64_t add_bytes,
                      hoso_upload_usage *use);
/* Bytes, outside any transaction. write: encrypts the n bytes of buf in place and writes
 * them at off of the upload's part file (DIR/uploads/<id>), fdatasync'ed (STORAGE_FULL on
 * ENOSPC); buf holds ciphertext afterwards; only offset 0 creates the part (NOT_FOUND when it
 * is gone or shorter than off); finish: links
 * it as DIR/files/<id>, durably (the part's name stays until the caller removes it after the
 * commit); remove: unlinks the part (part 1) or the file; open /
 * read: a file's bytes, decrypted (read returns what pread did). */
int hoso_blob_write(hoso_store *s, const hoso_upload *u, uint64_t off, void *buf, size_t n);
int hoso_blob_finish(hoso_store *s, const char *id);
void hoso_blob_remove(hoso_store *s, const char *id, int part);
int hoso_blob_open(hoso_store *s, const char *id, int *fd);
ssize_t hoso_blob_read(int fd, const hoso_file *f, uint64_t off, void *buf, size_t n);
/* At start, before any request: removes what a crash or a race left under DIR/uploads
 * (a part with no open upload: ended, swept, or finished and committed) and DIR/files
 * (bytes with no file record: linked, then the commit never came). *parts and *files
 * get the counts. Errors: storage's (a name that cannot be removed is skipped). */
int hoso_blobs_tidy(hoso_store *s, size_t *parts, size_t *files);

/* The events collected by a committed top-level write transaction, detached: the
 * caller owns the array and each body (hoso_events_free). Call right before commit. */
int hoso_txn_take_events(hoso_txn *t, hoso_event **out, size_t *n);
void hoso_events_free(hoso_event *ev, size_t n);

/* Appends a paper.added event for `owner`: as hoso_event_append, with the body
 * {seq, at, type: "paper.added", paper} (the paper's wire shape, sealed at rest like
 * every feed entry). The log entry names no code and no paper. Errors as
 * hoso_event_append. */
int hoso_event_append_paper(hoso_txn *t, const char *owner, int64_t at, const hoso_paper *p,
                            uint64_t *seq_out);

/* Owner feed head (0 if none). */
int hoso_feed_head(hoso_txn *t, const char *owner, uint64_t *head);
/* The retained part of the owner's feed: entries first..head are readable (first is 1
 * until something was trimmed; an owner without events has first 1, head 0). A
 * cursor `since` can be served iff first - 1 <= since <= head.
 * Retention (storage/feed.c): each hoso_event_append trims the owner's oldest entries
 * while there are more than feed_max_events, or while they are older than
 * feed_max_age_ms before the new event's `at`, at most 1024 entries per append (a
 * store opened with smaller limits catches up over later appends). The newest entry
 * is never trimmed. Errors: BAD_REQUEST (owner not 32 hex), CORRUPT, IO. */
int hoso_feed_bounds(hoso_txn *t, const char *owner, uint64_t *first, uint64_t *head);
/* Calls fn for the owner's events with since < seq, at most limit (0 = 100, at most
 * 1000); body (unsealed) is valid only during fn. *more set when more remain. A
 * non-zero return of fn stops and is returned. A cursor outside the retained feed
 * (since < first - 1: trimmed; since > head: another data dir or a restore) is
 * CURSOR_EXPIRED. Errors: CURSOR_EXPIRED, BAD_REQUEST (owner not 32 hex), CORRUPT, IO. */
int hoso_feed_read(hoso_txn *t, const char *owner, uint64_t since, unsigned limit,
                   int (*fn)(void *ctx, uint64_t seq, const void *body, size_t len), void *ctx,
                   int *more);
/* Applies the store's retention to one owner's feed now, as an append at now_ms would
 * (bounded the same way); *trimmed (may be NULL) counts the deleted entries. For a
 * sweep over owners that no longer receive events. Errors: BAD_REQUEST, STORAGE_FULL,
 * CORRUPT, IO. */
int hoso_feed_trim(hoso_txn *t, const char *owner, int64_t now_ms, uint64_t *trimmed);

/* Walks the global log from the first entry, recomputing the chain. Returns 0 and the
 * count if intact; HOSO_ECORRUPT with *bad_seq = first broken entry otherwise (an entry
 * changed after its successor was written, a missing entry, or a last entry that does
 * not match the head kept in meta), and a sentence in why. */
int hoso_log_verify(hoso_txn *t, uint64_t *count, uint64_t *bad_seq, char *why, size_t whylen);

/* ---------------------------------------------------------------------------------- */
/* Idempotency: account + op_id -> {status, body} (the first reply), kept >= 7 days.
 * The body is sealed at rest (a reply may hold a dossier). get: body copied into doc's
 * zone; NOT_FOUND when the op is new. Errors also: BAD_REQUEST (account not 32 hex,
 * empty op_id), CORRUPT, STORAGE_FULL, IO. */
int hoso_op_get(hoso_txn *t, const char *account, const char *op_id, hoso_doc *doc, int *http_status,
                hoso_str *body);
int hoso_op_put(hoso_txn *t, const char *account, const char *op_id, int http_status,
                const void *body, size_t len, int64_t now_ms);

/* Papers vault: owner + paper id -> sealed paper. */
int hoso_paper_put(hoso_txn *t, const char *owner, const hoso_paper *p);
/* Calls fn for each paper of owner in id order, strings in doc. Returns 0 once the
 * walk ended (also for an empty vault), fn's non-zero return when fn stopped it, or
 * BAD_REQUEST (owner not 32 hex), CORRUPT, IO. */
int hoso_paper_each(hoso_txn *t, const char *owner, hoso_doc *doc,
                    int (*fn)(void *ctx, const hoso_paper *p), void *ctx);

/* Ratings: random id -> {service, agency, month "YYYY-MM", answers}. No owner, no code. */
int hoso_rating_put(hoso_txn *t, const char *service, const char *agency, int64_t at,
                    const msgpack_object *answers);
/* Satisfaction aggregates, kept by hoso_rating_put in the same transaction: agency \0
 * service \0 month "YYYY-MM" \0 question -> {count, sum, dist[5]} (scores 1..5). No
 * rating is linked to a person or a dossier. */
typedef struct hoso_satisfaction_row {
    const char *agency, *service, *month, *question;
    uint64_t count, sum, dist[5];
} hoso_satisfaction_row;
/* fn for each row of month (all agencies when agency is NULL or ""), in key order.
 * Errors: BAD_REQUEST (month not YYYY-MM), CORRUPT, IO. */
int hoso_satisfaction_each(hoso_txn *t, const char *month, const char *agency,
                           int (*fn)(void *ctx, const hoso_satisfaction_row *row), void *ctx);
/* Builds the aggregates once from the ratings of a store made before them (meta
 * "satisfaction_index"); *count is the ratings read (0 when done before). */
int hoso_satisfaction_backfill(hoso_txn *t, uint64_t *count);
/* Feedback: random id -> {text (sealed), service, at}. */
int hoso_feedback_put(hoso_txn *t, const char *text, const char *service, int64_t at);

/* Monitoring counters (Decree 42/2022 art. 16), one row per agency, service, channel
 * and Vietnam day (of the change): what moved that day. The rules that decide what a
 * change counts are the domain's (server/domain/dossier.c); storage adds them up. */
typedef enum hoso_stat_counter {
    HOSO_STAT_RECEIVED,        /* dossiers submitted */
    HOSO_STAT_ACCEPTED,        /* 1 -> 2 */
    HOSO_STAT_REFUSED,         /* 1 -> 3 */
    HOSO_STAT_WITHDRAWN,       /* -> 7 */
    HOSO_STAT_STOPPED,         /* -> 8 */
    HOSO_STAT_SUPPLEMENTS,     /* -> 5 */
    HOSO_STAT_FEE_REQUESTS,    /* -> 6 */
    HOSO_STAT_EARLY,           /* -> 9 before the due date's day */
    HOSO_STAT_ON_TIME,         /* -> 9 on the due date's day, not after due_at */
    HOSO_STAT_LATE,            /* -> 9 after due_at */
    HOSO_STAT_RETURNED,        /* 9 -> 10 */
    HOSO_STAT_OVERDUE,         /* due times that passed while the dossier was open */
    HOSO_STAT_OVERDUE_CLEARED, /* overdue marks ended (result, final status, apology) */
    HOSO_STAT_PAPERS_REUSED,   /* papers taken from the citizen's vault */
    HOSO_STAT_PAPERS_GIVEN,    /* papers given with the submission */
    HOSO_STAT_PORTAL_SYNCED,   /* dossiers first synced to the national portal (day received) */
    HOSO_STAT_FEEDBACK,        /* feedback texts about the service */
    /* Time spent in each step, as sums (ms) and counts of spans; a span ends when the
     * dossier leaves the step, and is counted that day. */
    HOSO_STAT_RECEPTION_MS, HOSO_STAT_RECEPTION_N,   /* in 1 */
    HOSO_STAT_PROCESSING_MS, HOSO_STAT_PROCESSING_N, /* in 2 and 4 */
    HOSO_STAT_SUPPLEMENT_MS, HOSO_STAT_SUPPLEMENT_N, /* in 5 */
    HOSO_STAT_PAYMENT_MS, HOSO_STAT_PAYMENT_N,       /* in 6 */
    HOSO_STAT_RETURN_MS, HOSO_STAT_RETURN_N,         /* in 9 */
    /* Acceptance (first 2) to result (9) of each finished dossier. */
    HOSO_STAT_RESOLVE_MS, HOSO_STAT_RESOLVE_N,
    HOSO_STAT_N
} hoso_stat_counter;
/* days[d]: finished dossiers whose result came d Vietnam days after the day they
 * were accepted; the last cell holds that many days or more. */
#define HOSO_STAT_DAYS 64
typedef struct hoso_stat_row {
    const char *agency, *service, *channel, *day; /* day "YYYYMMDD" */
    uint64_t c[HOSO_STAT_N];
    uint64_t by_status[11]; /* moves into each status */
    uint64_t days[HOSO_STAT_DAYS];
} hoso_stat_row;
/* Adds delta's numbers to the row of (agency, service, channel, Vietnam day of at);
 * delta's strings are not used. Errors: BAD_REQUEST (empty agency, channel longer
 * than 32), CORRUPT, storage's. */
int hoso_stats_add(hoso_txn *t, const char *agency, const char *service, const char *channel, int64_t at,
                   const hoso_stat_row *delta);
/* Calls fn with each row in key order (agency, service, channel, day): only agency's
 * when agency is not NULL or "", only days up to to_day "YYYYMMDD" when not NULL. */
int hoso_stats_each(hoso_txn *t, const char *agency, const char *to_day,
                    int (*fn)(void *ctx, const hoso_stat_row *row), void *ctx);
/* A store made before these counters rebuilds them once from the dossiers' histories:
 * begin empties the table and sets *needed when that is still to do; end marks it
 * done (meta "stats_v2"). */
int hoso_stats_rebuild_begin(hoso_txn *t, int *needed);
int hoso_stats_rebuild_end(hoso_txn *t);
/* Marks code as synced to the national portal: 0 the first time, ALREADY_EXISTS after. */
int hoso_synced_mark(hoso_txn *t, const char *code, int64_t at);
/* fn with each stored dossier in code order (opened, as hoso_dossier_get gives it;
 * doc is reset between calls). Errors: fn's non-zero return, CORRUPT, storage's. */
int hoso_dossier_each(hoso_txn *t, hoso_doc *doc, int (*fn)(void *ctx, const hoso_dossier *d), void *ctx);

/* Consumer cursors (portal mirror, webhooks). An unknown name is at 0. */
int hoso_cursor_get(hoso_txn *t, const char *name, uint64_t *pos);
int hoso_cursor_put(hoso_txn *t, const char *name, uint64_t pos);

/* Due dates. hoso_dossier_put keeps two indexes: `due` (due_at BE64 + code) holds every
 * open dossier whose due time has not fired yet, `overdue` (agency + due_at + code) the
 * ones that fired, until they end or get a new due date. A dossier is open while its
 * status is neither final nor 9 (result ready). */
/* fn for each entry of `due` with due_at <= until, earliest first, at most limit. */
int hoso_due_scan(hoso_txn *t, int64_t until, size_t limit,
                  int (*fn)(void *ctx, const char *code, int64_t due_at), void *ctx);
/* The earliest due_at still to fire, 0 when none. */
int hoso_due_first(hoso_txn *t, int64_t *due_at);
/* Moves code from `due` to `overdue` (its due time fired). Errors: NOT_FOUND (not due
 * at due_at any more), STORAGE_FULL, IO. */
int hoso_due_fire(hoso_txn *t, const char *code, int64_t due_at, const char *agency);
/* Builds the due-date indexes once for a store made before they existed (meta
 * "due_index" marks it done): every open dossier with a due date is armed, so the
 * ones already past fire at once. *count is how many were armed (0 when done before).
 * Errors: CORRUPT, STORAGE_FULL, IO. */
int hoso_due_backfill(hoso_txn *t, uint64_t *count);
/* Drops a `due` entry that no longer matches its dossier (not an error when absent). */
int hoso_due_forget(hoso_txn *t, const char *code, int64_t due_at);
/* fn for the agency's overdue dossiers, the longest overdue first, at most limit,
 * starting after (after_due, after_code) when after_code is not NULL. */
int hoso_overdue_each(hoso_txn *t, const char *agency, int64_t after_due, const char *after_code, size_t limit,
                      int (*fn)(void *ctx, const char *code, int64_t due_at), void *ctx);

/* Bot webhook subscriptions: id -> {bot, code, chat_ref (sealed), callback_url,
 * created_at, ended_at, end_reason}; code_subscriptions (code + NUL + id) lists the
 * active ones of a dossier. */
typedef struct hoso_subscription {
    char id[33];          /* 32 hex */
    char bot[33];         /* the bot's account id */
    char code[64];        /* the dossier */
    char chat_ref[257];   /* the bot's reference of the chat (sealed at rest) */
    char callback_url[2049];
    int64_t created_at;
    uint64_t from_seq;    /* the log's head when it was made: later changes only */
    int64_t ended_at;     /* 0 while active */
    char end_reason[32];  /* "deleted", "gone" (410), "final" (the dossier ended) */
} hoso_subscription;
/* Insert or replace; an ended one leaves the dossier's active list. Errors:
 * BAD_REQUEST (id not 32 hex, empty code), STORAGE_FULL, IO, NOMEM. */
int hoso_subscription_put(hoso_txn *t, const hoso_subscription *s);
/* Errors: NOT_FOUND, CORRUPT, IO, NOMEM. */
int hoso_subscription_get(hoso_txn *t, const char *id, hoso_subscription *out);
/* Calls fn for each active subscription of code (id order); returns as hoso_log_scan. */
int hoso_subscription_each_active(hoso_txn *t, const char *code,
                                  int (*fn)(void *ctx, const hoso_subscription *s), void *ctx);

/* One entry of the global log as a consumer reads it (no personal data). */
typedef struct hoso_log_entry {
    uint64_t seq;
    char owner[33];
    char agency[48];
    char code[64];        /* "" for events without a dossier */
    hoso_event_type type;
    int64_t at, status, version;
    uint64_t message_seq; /* a message event: the message's seq in the dossier's thread */
    /* Read from the cluster's stream (server/broker/): seq is the stream's position,
     * node_seq the entry's seq in its node's log, shard the shard it belongs to. 0 and
     * 0 for an entry of this node's log. */
    uint64_t node_seq;
    unsigned shard;
} hoso_log_entry;
/* The entry at seq. Errors: NOT_FOUND, CORRUPT, IO. */
int hoso_log_get(hoso_txn *t, uint64_t seq, hoso_log_entry *out);
/* Calls fn for the entries after `after`, in order, at most limit of them. Returns 0
 * at the end or after limit, fn's non-zero return when fn stopped it, CORRUPT, IO. */
int hoso_log_scan(hoso_txn *t, uint64_t after, size_t limit,
                  int (*fn)(void *ctx, const hoso_log_entry *e), void *ctx);
/* The last seq of the log (0 when empty), as committed in t's snapshot. */
int hoso_log_last(hoso_txn *t, uint64_t *seq);

/* Deliveries a consumer set aside: consumer + seq -> {code, reason, at, dead}. A dead
 * one was refused for good and waits for an operator; the others wait behind a dead
 * one of the same dossier (or subscription). */
typedef struct hoso_delivery {
    uint64_t seq;       /* the log entry */
    char code[64];      /* the dossier code (or subscription id) that orders it */
    char reason[256];   /* why it was refused ("" for one waiting behind) */
    int64_t at;         /* when it was set aside */
    int dead;
} hoso_delivery;
int hoso_delivery_put(hoso_txn *t, const char *consumer, const hoso_delivery *d);
/* Deleting one that is not there is not an error. */
int hoso_delivery_del(hoso_txn *t, const char *consumer, uint64_t seq);
/* Calls fn for the consumer's deliveries with seq > after, in seq order, at most limit
 * (0 = all). Returns as hoso_log_scan. */
int hoso_delivery_scan(hoso_txn *t, const char *consumer, uint64_t after, size_t limit,
                       int (*fn)(void *ctx, const hoso_delivery *d), void *ctx);

#ifdef __cplusplus
}
#endif
#endif
