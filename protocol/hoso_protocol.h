/*
 * protocol/ - libhoso_protocol: the wire contract and its codecs; no I/O.
 *
 * hoso_protocol.h - the v1 wire contract: error vocabulary, status machine, message
 * types, msgpack codec and JSON bridge. No I/O; shared by hosod and the clients.
 *
 * Thread safety: every function here is reentrant; nothing keeps global state except
 * the constant tables.
 *
 * Memory: a decoded message lives in a hoso_doc (one msgpack_zone arena per message).
 * Every pointer that a decode function stores in a message struct points into that
 * arena and is valid until hoso_doc_destroy(). Encoders append to a caller-owned
 * msgpack_sbuffer.
 */
#ifndef HOSO_PROTOCOL_H
#define HOSO_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------
 * Errors. One table makes the enum, the wire code, the HTTP status and the message.
 * Functions return 0 or a negative HOSO_E* value. Several internal errors share one
 * wire code (e.g. NOMEM and IO are both INTERNAL on the wire).
 *   X(name, wire code, http status, default message)
 * ---------------------------------------------------------------------------------- */
#define HOSO_ERRORS(X)                                                                  \
    X(BAD_REQUEST, "BAD_REQUEST", 400, "the request is malformed")                      \
    X(UNAUTHORIZED, "UNAUTHORIZED", 401, "missing, invalid or expired token")           \
    X(FORBIDDEN, "FORBIDDEN", 403, "not allowed for this account")                      \
    X(NOT_FOUND, "NOT_FOUND", 404, "no such resource")                                  \
    X(METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", 405, "method not allowed on this path")  \
    X(ILLEGAL_TRANSITION, "ILLEGAL_TRANSITION", 409, "this status change is not allowed") \
    X(VERSION_CONFLICT, "VERSION_CONFLICT", 409, "the dossier changed since that version") \
    X(ALREADY_EXISTS, "ALREADY_EXISTS", 409, "it exists already")                       \
    X(CURSOR_EXPIRED, "CURSOR_EXPIRED", 410, "the cursor is older than the retained feed") \
    X(PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", 413, "the body is larger than allowed")   \
    X(UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", 415, "send application/msgpack or application/json") \
    X(VALIDATION_FAILED, "VALIDATION_FAILED", 422, "some fields are invalid")           \
    X(RATE_LIMITED, "RATE_LIMITED", 429, "too many requests")                           \
    X(INTERNAL, "INTERNAL", 500, "internal error")                                      \
    X(NOMEM, "INTERNAL", 500, "out of memory")                                          \
    X(IO, "INTERNAL", 500, "storage input/output error")                                \
    X(CORRUPT, "INTERNAL", 500, "stored data is corrupt")                               \
    X(UNAVAILABLE, "UNAVAILABLE", 503, "temporarily unavailable")                       \
    X(STORAGE_FULL, "UNAVAILABLE", 503, "storage is full")                             \
    X(LOCKED, "UNAVAILABLE", 503, "the data dir is in use by another process")          \
    X(KEY_MISMATCH, "INTERNAL", 500, "the key file does not match this data dir")       \
    X(PRECONDITION_FAILED, "PRECONDITION_FAILED", 412, "a required precondition header is missing or unsupported") \
    X(OFFSET_MISMATCH, "OFFSET_MISMATCH", 409, "Upload-Offset is not the upload's offset") \
    X(CHECKSUM_MISMATCH, "CHECKSUM_MISMATCH", 460, "the piece does not match its Upload-Checksum")

enum {
    HOSO_OK = 0,
#define HOSO__ERR_ENUM(name, wire, http, msg) HOSO__ERRNO_##name,
    HOSO__ERR_FIRST = 0,
    HOSO_ERRORS(HOSO__ERR_ENUM)
#undef HOSO__ERR_ENUM
    HOSO__ERR_COUNT
};
/* The public values are negative: HOSO_EBAD_REQUEST == -1, ... */
#define HOSO__ERR_NEG(name, wire, http, msg) HOSO_E##name = -HOSO__ERRNO_##name,
enum { HOSO_ERRORS(HOSO__ERR_NEG) };
#undef HOSO__ERR_NEG

/* Wire code ("BAD_REQUEST"...), HTTP status and default message of err (< 0).
 * Unknown values map to INTERNAL / 500. Never NULL. */
const char *hoso_err_code(int err);
int hoso_err_http_status(int err);
const char *hoso_err_message(int err);

/* Details that go with an error reply. VALIDATION_FAILED lists fields. */
#define HOSO_ERRINFO_MAX_FIELDS 16
typedef struct hoso_errinfo {
    int err;             /* HOSO_E*, 0 when unset */
    char message[200];   /* specific message; empty: use hoso_err_message(err) */
    size_t nfields;
    struct {
        char field[64];  /* dotted path, e.g. "form.birth_date", "papers[2].type" */
        char problem[96];/* "required", "must be a string", "unknown field", ... */
    } fields[HOSO_ERRINFO_MAX_FIELDS];
} hoso_errinfo;

/* Sets ei->err and a printf-style message. Returns err (so `return hoso_fail(...)`). */
int hoso_fail(hoso_errinfo *ei, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds a field problem (ignored past HOSO_ERRINFO_MAX_FIELDS) and sets ei->err to
 * VALIDATION_FAILED if unset. Returns HOSO_EVALIDATION_FAILED. */
int hoso_fail_field(hoso_errinfo *ei, const char *field, const char *problem);

/* Appends the single error shape {error: {code, message, details?: {fields: [{field,
 * problem}]}}} as msgpack. err < 0; ei may be NULL. */
int hoso_encode_error(msgpack_packer *pk, int err, const hoso_errinfo *ei);

/* ------------------------------------------------------------------------------------
 * Status machine (national portal codes 1..10), one table.
 * ---------------------------------------------------------------------------------- */
enum hoso_status {
    HOSO_ST_SUBMITTED = 1,   /* Mới đăng ký */
    HOSO_ST_ACCEPTED = 2,    /* Được tiếp nhận */
    HOSO_ST_REFUSED = 3,     /* Không được tiếp nhận */
    HOSO_ST_PROCESSING = 4,  /* Đang xử lý */
    HOSO_ST_SUPPLEMENT = 5,  /* Yêu cầu bổ sung giấy tờ */
    HOSO_ST_PAYMENT = 6,     /* Yêu cầu thực hiện nghĩa vụ tài chính */
    HOSO_ST_WITHDRAWN = 7,   /* Công dân yêu cầu rút hồ sơ */
    HOSO_ST_STOPPED = 8,     /* Dừng xử lý */
    HOSO_ST_DONE = 9,        /* Đã xử lý xong */
    HOSO_ST_RETURNED = 10,   /* Đã trả kết quả */
};
#define HOSO_ST_MIN 1
#define HOSO_ST_MAX 10

typedef enum hoso_actor { HOSO_ACTOR_CITIZEN = 1, HOSO_ACTOR_OFFICER = 2 } hoso_actor;

/* What a transition must carry, besides `note`. */
enum {
    HOSO_NEED_REASON = 1 << 0,          /* 3, 8 (and 7: the citizen's reason) */
    HOSO_NEED_DUE_AT = 1 << 1,          /* 2: due date (computed if absent) */
    HOSO_NEED_FEE = 1 << 2,             /* 6: amount */
    HOSO_NEED_PAPERS_REQUIRED = 1 << 3, /* 5: list of papers to supplement */
    HOSO_NEED_RESULT = 1 << 4,          /* 9: description of the result */
};

typedef struct hoso_transition {
    uint8_t from, to;
    hoso_actor actor;
    unsigned needs; /* HOSO_NEED_* */
} hoso_transition;

/* The row for from->to, or NULL if the move is not in the table. */
const hoso_transition *hoso_status_transition(int from, int to);
/* 0 if `actor` may move from->to, HOSO_EILLEGAL_TRANSITION otherwise (also for codes
 * outside 1..10). */
int hoso_status_check(int from, int to, hoso_actor actor);
/* 1 for the final statuses 3, 7, 8, 10. */
int hoso_status_is_final(int status);
/* Vietnamese name ("Mới đăng ký"), or "?" */
const char *hoso_status_name_vi(int status);
/* English slug ("submitted", "accepted", ...), or "?" */
const char *hoso_status_slug(int status);

/* ------------------------------------------------------------------------------------
 * Decoding: limits and the decoded document.
 * ---------------------------------------------------------------------------------- */
typedef struct hoso_limits {
    size_t max_body;    /* bytes; default 1 MiB */
    unsigned max_depth; /* nesting of maps/arrays; default 16 */
    size_t max_str;     /* bytes of one string; default 64 KiB */
    size_t max_array;   /* elements of one array; default 1000 */
    size_t max_map;     /* pairs of one map; default 256 */
} hoso_limits;

/* The defaults above. */
void hoso_limits_default(hoso_limits *lim);

typedef struct hoso_doc {
    msgpack_zone zone;   /* arena of this message */
    msgpack_object root; /* the decoded tree */
} hoso_doc;

/* Decodes one msgpack object that must span the whole buffer. On success doc owns an
 * arena the caller releases with hoso_doc_destroy(); on error nothing is left to free.
 * Errors: PAYLOAD_TOO_LARGE (len > max_body), BAD_REQUEST (malformed, trailing bytes,
 * too deep, string/array/map over its limit, non-string map key, ext types), NOMEM. */
int hoso_doc_from_msgpack(hoso_doc *doc, const void *buf, size_t len, const hoso_limits *lim,
                          hoso_errinfo *ei);
/* Same for one JSON text (UTF-8). Integers become msgpack ints, reals floats, null nil.
 * Errors as above; BAD_REQUEST carries jansson's line/column in the message. */
int hoso_doc_from_json(hoso_doc *doc, const void *buf, size_t len, const hoso_limits *lim,
                       hoso_errinfo *ei);
/* Releases the arena. Safe on a doc whose decode failed and on one destroyed already
 * (both are all zeros); doc may be NULL. */
void hoso_doc_destroy(hoso_doc *doc);

/* Converts one msgpack object (a reply we produced) to compact JSON text. *out is
 * malloc'ed and NUL-terminated; caller frees. bin becomes base64 string; non-string
 * keys are stringified; invalid UTF-8 in strings becomes U+FFFD; NaN and infinities
 * become null. Errors: BAD_REQUEST (not exactly one msgpack object, or ext types), NOMEM. */
int hoso_msgpack_to_json(const void *buf, size_t len, char **out, size_t *outlen);

/* Helpers over decoded objects. */
typedef struct hoso_str {
    const char *ptr; /* NUL-terminated copy in the doc's zone when set by a decoder */
    size_t len;
} hoso_str;
/* 1 if s[0..len) is valid UTF-8 (shortest forms, no surrogates, <= U+10FFFF) and holds
 * no NUL byte: what every decoded string must be. */
int hoso_utf8_valid(const void *s, size_t len);
/* 1 if s[0..len) is exactly "YYYY-MM-DD" and a real Gregorian calendar date (year
 * 0001..9999); *y, *m, *d are set when not NULL. */
int hoso_date_parse(const char *s, size_t len, int *y, int *m, int *d);

/* ------------------------------------------------------------------------------------
 * msgpack helpers shared by every layer (pack.c). They return 0 or a negative HOSO_E*
 * unless said otherwise; the hoso_pack_k* shortcuts return msgpack's 0 / -1 so that
 * they chain with ||.
 * ---------------------------------------------------------------------------------- */
/* An empty doc usable as an arena (root nil); hoso_doc_destroy releases it.
 * Errors: NOMEM. */
int hoso_doc_init(hoso_doc *doc);
/* Map lookup by key; NULL if obj is not a map or the key is absent. */
const msgpack_object *hoso_map_get(const msgpack_object *obj, const char *key);
/* 1 if o is a str equal to s. */
int hoso_obj_streq(const msgpack_object *o, const char *s);
/* Copies s[0..len) NUL-terminated into the zone. Errors: NOMEM. */
int hoso_zone_str(msgpack_zone *z, const char *s, size_t len, hoso_str *out);
/* Copies a str or bin object into the zone; nil (or o NULL) gives "".
 * Errors: CORRUPT (another type), NOMEM. */
int hoso_zone_obj_str(msgpack_zone *z, const msgpack_object *o, hoso_str *out);
/* Re-encodes o as msgpack bytes in the zone (form and papers are kept as bytes).
 * Errors: NOMEM. */
int hoso_zone_pack(msgpack_zone *z, const msgpack_object *o, hoso_str *out);
/* key: value pairs. A NULL string (or hoso_str ptr) packs as "". */
int hoso_pack_kcstr(msgpack_packer *pk, const char *key, const char *v);
int hoso_pack_kstr(msgpack_packer *pk, const char *key, const hoso_str *v);
int hoso_pack_kint(msgpack_packer *pk, const char *key, int64_t v);
int hoso_pack_kbin(msgpack_packer *pk, const char *key, const void *p, size_t len);
/* Packs map without the pairs whose key is in drop (a NULL-terminated list), with a
 * header counting `extra` more pairs that the caller packs right after.
 * Errors: BAD_REQUEST (map is not a map), NOMEM. */
int hoso_pack_map_without(msgpack_packer *pk, const msgpack_object *map, const char *const drop[], uint32_t extra);
/* The same as an object: *out shares map's keys and values, its pair array lives in
 * the zone. Errors: BAD_REQUEST (not a map), NOMEM. */
int hoso_map_without(msgpack_zone *z, const msgpack_object *map, const char *const drop[], msgpack_object *out);
/* Parses a decimal integer made of digits only (no sign, no blanks) that is <= max.
 * Returns 0 with *out set, or -1. */
int hoso_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Big-endian integers: keys that sort in numeric order (storage, the SDK's outbox). */
static inline void hoso_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static inline uint64_t hoso_be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

/* ------------------------------------------------------------------------------------
 * Message schemas. A request struct is filled by hoso_decode() from a decoded root map
 * according to its descriptor: unknown fields, missing required fields, wrong types and
 * out-of-range values are all reported in ei->fields at once (VALIDATION_FAILED), or
 * BAD_REQUEST when the root is not a map.
 * ---------------------------------------------------------------------------------- */
typedef enum hoso_ftype {
    HOSO_F_STR,    /* hoso_str; min/max are byte lengths */
    HOSO_F_INT,    /* int64_t; min/max are the range */
    HOSO_F_BOOL,   /* int */
    HOSO_F_MAP,    /* const msgpack_object * (a map) */
    HOSO_F_ARRAY,  /* const msgpack_object * (an array); max = elements */
    HOSO_F_ANY,    /* const msgpack_object * */
} hoso_ftype;

typedef struct hoso_field {
    const char *name;
    hoso_ftype type;
    unsigned required : 1;
    size_t offset;      /* offsetof() in the request struct */
    size_t present_off; /* offsetof() of an int set to 1 when present, or (size_t)-1 */
    int64_t min, max;   /* 0,0 means no limit */
    /* HOSO_F_ARRAY: each element must be a map valid against elem (problems named
     * "papers[2].type"); HOSO_F_MAP: the map itself is checked against elem. The
     * elements are validated only, not copied out. NULL: no element check. */
    const struct hoso_msg_desc *elem;
} hoso_field;

/* hoso_msg_desc.flags */
enum {
    HOSO_DESC_OPEN = 1 << 0, /* ignore unknown fields (stored records, forward compat) */
};

typedef struct hoso_msg_desc {
    const char *name; /* "register", "submit", ... for messages */
    const hoso_field *fields;
    size_t nfields;
    /* Cross-field rules run after the fields (e.g. "exactly one of id_number /
     * username"): obj is the message map, prefix the name of obj in problems ("" at
     * the root). Adds problems with hoso_fail_field and returns 0 or
     * HOSO_EVALIDATION_FAILED. NULL: none. */
    int (*check)(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei);
    unsigned flags; /* HOSO_DESC_* */
    size_t size;    /* sizeof the struct hoso_decode fills (it zeroes that many bytes) */
} hoso_msg_desc;

/* Fills `out` (zeroed first) from root. Strings are copied NUL-terminated into the
 * doc's zone; a string with a NUL byte or invalid UTF-8 is a field problem. A nil value
 * counts as absent (JSON clients send null for "not given"). Returns 0,
 * HOSO_EBAD_REQUEST, HOSO_EVALIDATION_FAILED or HOSO_ENOMEM. */
int hoso_decode(const hoso_msg_desc *desc, hoso_doc *doc, const msgpack_object *root, void *out,
                hoso_errinfo *ei);

/* v1 requests ---------------------------------------------------------------------- */
typedef struct hoso_req_register {
    hoso_str id_number, full_name, phone, password;
} hoso_req_register;
typedef struct hoso_req_login {
    hoso_str id_number, username, password; /* exactly one of id_number / username */
} hoso_req_login;
typedef struct hoso_req_submit {
    hoso_str service, op_id, channel;
    const msgpack_object *form;   /* map key -> value */
    const msgpack_object *papers; /* array of paper maps (see hoso_req_paper) or NULL */
} hoso_req_submit;
typedef struct hoso_req_supplement {
    const msgpack_object *form, *papers;
    hoso_str op_id;
    int64_t base_version;
    int has_base_version;
} hoso_req_supplement;
typedef struct hoso_req_withdraw {
    hoso_str reason, op_id;
    int64_t base_version;
    int has_base_version;
} hoso_req_withdraw;
/* A message on a dossier: the citizen's (op_id required, like every citizen op) or an
 * officer's (op_id optional). text is 1..4000 bytes of UTF-8. */
typedef struct hoso_req_message {
    hoso_str text, op_id;
    const msgpack_object *files; /* array of up to 10 file ids (uploads of the sender's), or NULL */
} hoso_req_message;
typedef struct hoso_req_rating {
    const msgpack_object *answers; /* map question -> int 1..5 */
    hoso_str op_id;
} hoso_req_rating;
typedef struct hoso_req_feedback {
    hoso_str text, service, op_id;
} hoso_req_feedback;
typedef struct hoso_req_paper {
    hoso_str type, number, issuer, sha256, op_id, file;
    int64_t valid_until; /* ms; 0 = no expiry */
    int has_valid_until;
} hoso_req_paper;
typedef struct hoso_req_transition {
    int64_t to, version, due_at, fee;
    int has_due_at, has_fee;
    hoso_str note, reason, result, op_id;
    const msgpack_object *papers_required; /* array of strings */
    const msgpack_object *result_files;    /* the move to 9: array of file ids (the officer's uploads) */
} hoso_req_transition;
typedef struct hoso_req_apology {
    int64_t new_due_at;
    hoso_str reason, op_id;
} hoso_req_apology;

typedef struct hoso_req_bot_lookup {
    hoso_str code, phone_last4; /* the dossier, and the last 4 digits of its owner's phone */
} hoso_req_bot_lookup;

typedef struct hoso_req_bot_subscribe {
    hoso_str code, phone_last4; /* verified as for a lookup */
    hoso_str chat_ref;          /* the bot's own reference of the chat, sent back in each webhook */
    hoso_str callback_url;      /* where the webhooks go (https, public address) */
    hoso_str op_id;             /* optional idempotency key */
} hoso_req_bot_subscribe;

extern const hoso_msg_desc hoso_msg_register, hoso_msg_login, hoso_msg_submit, hoso_msg_supplement,
    hoso_msg_withdraw, hoso_msg_rating, hoso_msg_feedback, hoso_msg_paper, hoso_msg_transition,
    hoso_msg_apology, hoso_msg_bot_lookup, hoso_msg_bot_subscribe, hoso_msg_message, hoso_msg_agency_message;

/* ------------------------------------------------------------------------------------
 * Domain records. The same encoding is the stored value (storage adds encryption of
 * the personal parts) and the wire shape of docs/protocol.md.
 * ---------------------------------------------------------------------------------- */
typedef enum hoso_field_kind { HOSO_FK_TEXT = 1, HOSO_FK_NUMBER, HOSO_FK_DATE, HOSO_FK_ENUM } hoso_field_kind;

typedef struct hoso_form_field {
    hoso_str key, label;
    hoso_field_kind kind;
    int required;
    hoso_str *options; /* enum only */
    size_t noptions;
} hoso_form_field;

typedef struct hoso_paper_req {
    hoso_str type, label;
    int required;
} hoso_paper_req;

typedef struct hoso_service {
    hoso_str code, name, agency, level; /* level: "full" | "partial" */
    int64_t processing_days, fee;       /* fee in VND */
    hoso_form_field *form;
    size_t nform;
    hoso_paper_req *papers;
    size_t npapers;
} hoso_service;

/* 1 if s[0..len) is an agency's electronic identifier, NNN.NN.NN.XNN (digits, and a
 * capital letter before the last two: 000.00.12.H29; Decision 20/2020/QD-TTg). */
int hoso_agency_code_valid(const char *s, size_t len);
/* Decodes/validates a service map (catalogue import, stored value). */
int hoso_service_decode(hoso_doc *doc, const msgpack_object *root, hoso_service *out, hoso_errinfo *ei);
int hoso_service_encode(msgpack_packer *pk, const hoso_service *s);

/* Validates a submitted form map against the service: required fields present, known
 * keys only, types by kind (text: string; number: int or float; date: "YYYY-MM-DD"
 * string; enum: one of options). Field problems are named "form.<key>". */
int hoso_form_validate(const hoso_service *s, const msgpack_object *form, hoso_errinfo *ei);

typedef struct hoso_history {
    int64_t status, at;
    hoso_str by, note;
} hoso_history;

typedef struct hoso_paper {
    hoso_str id, type, number, issuer, sha256;
    int64_t valid_until, added_at; /* ms; valid_until 0 = no expiry */
    hoso_str file; /* the id of an uploaded file (a photo or scan of it), or empty */
} hoso_paper;

typedef struct hoso_dossier {
    hoso_str code, service, agency, owner, channel;
    int64_t status, version, submitted_at, due_at; /* due_at 0 until accepted */
    hoso_str form;   /* msgpack bytes of the form map (plaintext here) */
    hoso_str papers; /* msgpack bytes of the papers array */
    hoso_history *history;
    size_t nhistory;
    int rated;
    /* latest transition data, for the app's display; empty/0 when unset */
    hoso_str reason, result;
    int64_t fee;
    hoso_str papers_required; /* msgpack bytes of an array of strings, or empty */
    hoso_str result_files;    /* msgpack bytes of [{id, name, type, size}] (the move to 9), or empty */
} hoso_dossier;

/* Encodes the wire shape {code, service, agency, owner, status, version, channel,
 * submitted_at, due_at, form, papers, history, rated, reason?, result?, fee?,
 * papers_required?, result_files?}: form and papers are embedded as msgpack objects, not bytes. */
int hoso_dossier_encode(msgpack_packer *pk, const hoso_dossier *d);
/* Decodes the wire shape back (clients, tests); form/papers become msgpack bytes in
 * the doc's zone. */
int hoso_dossier_decode(hoso_doc *doc, const msgpack_object *root, hoso_dossier *out, hoso_errinfo *ei);

int hoso_paper_encode(msgpack_packer *pk, const hoso_paper *p);
int hoso_paper_decode(hoso_doc *doc, const msgpack_object *root, hoso_paper *out, hoso_errinfo *ei);

/* Packs a str / NUL-terminated string. */
static inline int hoso_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    int r = msgpack_pack_str(pk, len);
    return r ? r : msgpack_pack_str_body(pk, s, len);
}
static inline int hoso_pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return hoso_pack_str(pk, s, n);
}

/* Callback URLs (url.c). Splits "http(s)://host[:port]/path?query" (IPv6 in brackets,
 * no user@, no fragment, no spaces): https 1/0, host without brackets, the port (the
 * scheme's by default) and the path ("/" when none). Errors: BAD_REQUEST. */
int hoso_url_split(const char *url, int *https, char *host, size_t hostsz, uint16_t *port, const char **path);
struct sockaddr;
/* 1 for an address on the public internet; 0 for loopback, private, link-local,
 * carrier-NAT, multicast, documentation and other special ranges (IPv4-mapped and
 * 6to4 IPv6 judged by their IPv4). */
int hoso_addr_is_public(const struct sockaddr *sa);

/* Time: ms since epoch, and Asia/Ho_Chi_Minh (UTC+7, no DST) civil date helpers. */
int64_t hoso_now_ms(void);
/* "YYMMDD" of the Vietnam civil date of t (ms). buf >= 7. */
void hoso_vn_yymmdd(int64_t t_ms, char buf[7]);
/* "yyyyMMddHHmmss" in Vietnam time. buf >= 15. */
void hoso_vn_portal_time(int64_t t_ms, char buf[15]);
/* t + n working days (Mon..Fri, Vietnam time), keeping the time of day. */
int64_t hoso_add_working_days(int64_t t_ms, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
