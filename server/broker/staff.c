/*
 * staff.c - requests of officers, admins and bots in cluster mode. Their account (and
 * session) lives on one shard, the dossiers they act on on any. The front node asks
 * the account's node who the caller is (hoso.auth.<shard>), finds the dossier's shard
 * (KV HOSO_LOC, cached here: a dossier never moves), and sends the request there with
 * the caller vouched for: x-hoso-caller, a MAC under a subkey of the cluster's
 * secret.key, good for a minute. An agency's list asks every node for a page and
 * merges them, with a cursor that holds each node's position.
 *
 * These steps wait for the network, so they run on threads of their own, never on a
 * worker loop; a request reaches them through a ticket (hoso_req_hand_off).
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>
#include "internal.h"

#define STAFF_THREADS 16
#define VOUCH_TTL_MS 60000
#define LOC_CACHE 4096
#define LIST_MAX_NODES HOSO_CLUSTER_MAX_NODES

typedef struct staff_job {
    hoso__qitem q;
    void (*fn)(void *arg); /* hoso__staff_run: only this */
    void *arg;
    hoso_ticket *ticket;
    unsigned home;
    int kind;
    char code[96];
    char token[160];
    char files[10][33];   /* the caller's uploads the request names (result, message) */
    unsigned nfiles;
    msgpack_sbuffer req;  /* the request as HTTP/1.1 bytes, without a voucher */
    /* the outcome: one of these */
    char *resp;           /* a reply to relay as it is */
    size_t resp_len;
    msgpack_sbuffer body; /* a merged list (msgpack) */
    int has_body;
    int err;              /* an error with its message */
    char msg[200];
} staff_job;

static struct {
    hoso__pool pool;
    /* dossier code -> shard, direct-mapped */
    pthread_mutex_t loc_lock;
    struct {
        char code[96];
        unsigned shard;
    } loc[LOC_CACHE];
} S = {.pool = HOSO__POOL_INIT, .loc_lock = PTHREAD_MUTEX_INITIALIZER};

static int fail(staff_job *j, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(staff_job *j, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof j->msg, fmt, ap);
    va_end(ap);
    j->err = err;
    return err;
}

static int64_t wall_ms(void)
{
    return hoso_now_ms();
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A query value, percent-decoded ('+' is a space); -1 when it does not fit. */
static long pct_decode(const char *s, size_t len, char *out, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            i += 2;
        }
        if (k + 1 >= n)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return (long)k;
}

/* ---------------------------------------------------------------------------------- */
/* Who the caller is */

/* The node's side of hoso.auth.<shard>: [account, role, agency, scopes], or an empty
 * reply for a token that names no live session. */
void hoso__staff_on_auth(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub, (void)closure;
    const char *reply = natsMsg_GetReply(msg);
    hoso_txn *t = NULL;
    hoso_caller who;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (reply != NULL && hoso_txn_read(hoso_server_store(hoso__broker_server()), &t) == 0) {
        if (hoso_authenticate(t, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), hoso_now_ms(), &who) == 0) {
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_array(&pk, 4);
            hoso_pack_cstr(&pk, who.account);
            msgpack_pack_int(&pk, (int)who.role);
            hoso_pack_cstr(&pk, who.agency);
            hoso_pack_cstr(&pk, who.scopes);
        }
        hoso_txn_abort(t);
    }
    if (reply != NULL)
        natsConnection_Publish(nc, reply, sb.size > 0 ? sb.data : NULL, (int)sb.size);
    msgpack_sbuffer_destroy(&sb);
    natsMsg_Destroy(msg);
}

static int str_of(const msgpack_object *o, char *out, size_t n)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= n)
        return -1;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

/* [account, role, agency, scopes] -> who */
static int caller_decode(const void *data, size_t len, hoso_caller *who)
{
    msgpack_unpacked u;
    int rc = -1;
    msgpack_unpacked_init(&u);
    memset(who, 0, sizeof(*who));
    if (msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_ARRAY &&
        u.data.via.array.size >= 4) {
        const msgpack_object *a = u.data.via.array.ptr;
        if (str_of(&a[0], who->account, sizeof who->account) == 0 && a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            str_of(&a[2], who->agency, sizeof who->agency) == 0 && str_of(&a[3], who->scopes, sizeof who->scopes) == 0) {
            who->role = (hoso_role)a[1].via.u64;
            rc = 0;
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

int hoso__staff_whoami(unsigned shard, const char *token, hoso_caller *who)
{
    if (hoso_broker_owns(shard)) {
        hoso_txn *t = NULL;
        int err = hoso_txn_read(hoso_server_store(hoso__broker_server()), &t);
        if (err == 0) {
            err = hoso_authenticate(t, token, strlen(token), hoso_now_ms(), who);
            hoso_txn_abort(t);
        }
        return err;
    }
    char subj[32];
    natsMsg *reply = NULL;
    snprintf(subj, sizeof subj, "hoso.auth.%u", shard);
    natsStatus s = hoso__request(shard, subj, token, (int)strlen(token), 2000, &reply);
    if (s != NATS_OK)
        return HOSO_EUNAVAILABLE;
    int rc = natsMsg_GetDataLength(reply) > 0 &&
             caller_decode(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), who) == 0;
    natsMsg_Destroy(reply);
    return rc ? 0 : HOSO_EUNAUTHORIZED;
}

static int whoami(staff_job *j, hoso_caller *who)
{
    int err = hoso__staff_whoami(j->home, j->token, who);
    if (err == HOSO_EUNAUTHORIZED)
        return fail(j, err, "invalid or expired token");
    if (err == HOSO_EUNAVAILABLE) {
        const hoso_cluster_node *n = hoso_cluster_shard_node(hoso__broker_cluster(), j->home);
        return fail(j, err, "shard %u (node %s) cannot be reached; retry in a moment", j->home, n ? n->id : "?");
    }
    return err != 0 ? fail(j, err, "cannot read the session") : 0;
}

/* A voucher's MAC: its purpose first, so that nothing else signed with the cluster's
 * key (admin commands) can pass for one. */
static void voucher_mac(hoso_store *s, const void *payload, size_t len, uint8_t mac[32])
{
    msgpack_sbuffer sp;
    msgpack_sbuffer_init(&sp);
    msgpack_sbuffer_write(&sp, "hoso-voucher", 13);
    msgpack_sbuffer_write(&sp, payload, len);
    hoso_store_mac(s, sp.data, sp.size, mac);
    msgpack_sbuffer_destroy(&sp);
}

/* "x-hoso-caller: <payload>.<mac>\r\n": [account, role, agency, scopes, expires] */
static void voucher(const hoso_caller *who, char *out, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t mac[32];
    char p64[512], m64[64];
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    hoso_pack_cstr(&pk, who->account);
    msgpack_pack_int(&pk, (int)who->role);
    hoso_pack_cstr(&pk, who->agency);
    hoso_pack_cstr(&pk, who->scopes);
    msgpack_pack_int64(&pk, wall_ms() + VOUCH_TTL_MS);
    voucher_mac(hoso_server_store(hoso__broker_server()), sb.data, sb.size, mac);
    sodium_bin2base64(p64, sizeof p64, (const uint8_t *)sb.data, sb.size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(m64, sizeof m64, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, n, "x-hoso-caller: %s.%s\r\n", p64, m64);
    msgpack_sbuffer_destroy(&sb);
}

int hoso__staff_vouched(hoso_req *r)
{
    char v[700], payload[512], auth[200];
    uint8_t mac[32], want[32];
    size_t plen = 0, mlen = 0;
    if (hoso_req_header(r, "x-hoso-caller", v, sizeof v) == NULL)
        return hoso_req_has_header(r, "x-hoso-caller")
                   ? hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "the cluster's voucher for the caller is not good")
                   : 0;
    char *dot = strchr(v, '.');
    if (dot == NULL)
        goto Bad;
    *dot = '\0';
    if (sodium_base642bin((uint8_t *)payload, sizeof payload, v, strlen(v), NULL, &plen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        sodium_base642bin(mac, sizeof mac, dot + 1, strlen(dot + 1), NULL, &mlen, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        mlen != sizeof mac)
        goto Bad;
    voucher_mac(hoso_server_store(r->srv), payload, plen, want);
    if (sodium_memcmp(mac, want, sizeof mac) != 0)
        goto Bad;
    {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        int ok = msgpack_unpack_next(&u, payload, plen, NULL) == MSGPACK_UNPACK_SUCCESS &&
                 u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 5;
        int64_t exp = 0, now = wall_ms();
        if (ok) {
            const msgpack_object *e = &u.data.via.array.ptr[4];
            exp = e->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)e->via.u64 : 0;
        }
        msgpack_unpacked_destroy(&u);
        if (!ok || exp < now || exp > now + 2 * VOUCH_TTL_MS || caller_decode(payload, plen, &r->who) != 0)
            goto Bad;
    }
    if (hoso_req_header(r, "authorization", auth, sizeof auth) != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
        strlen(auth + 7) < sizeof r->token)
        snprintf(r->token, sizeof r->token, "%s", auth + 7);
    r->authed = 1;
    return 1;
Bad:
    return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "the cluster's voucher for the caller is not good");
}

/* ---------------------------------------------------------------------------------- */
/* Where a dossier lives */

static unsigned loc_slot(const char *code)
{
    uint32_t h = 2166136261u;
    for (const char *p = code; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % LOC_CACHE;
}

/* 0 with *shard, NOT_FOUND, UNAVAILABLE. */
static int locate(const char *code, unsigned *shard)
{
    unsigned slot = loc_slot(code);
    pthread_mutex_lock(&S.loc_lock);
    int hit = strcmp(S.loc[slot].code, code) == 0;
    if (hit)
        *shard = S.loc[slot].shard;
    pthread_mutex_unlock(&S.loc_lock);
    if (hit)
        return 0;
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, hoso__broker_kv_loc(), code);
    if (s == NATS_NOT_FOUND)
        return HOSO_ENOT_FOUND;
    if (s != NATS_OK)
        return HOSO_EUNAVAILABLE;
    const char *v = kvEntry_ValueString(e);
    *shard = v != NULL ? (unsigned)strtoul(v, NULL, 10) : 0;
    kvEntry_Destroy(e);
    if (*shard >= hoso__broker_cluster()->shards)
        return HOSO_ENOT_FOUND;
    pthread_mutex_lock(&S.loc_lock);
    snprintf(S.loc[slot].code, sizeof S.loc[slot].code, "%s", code);
    S.loc[slot].shard = *shard;
    pthread_mutex_unlock(&S.loc_lock);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Sending */

/* The request with `line` in place of its request line (NULL: keep it) and `extra`
 * header lines added first (the first of a header is the one hosod reads). */
static void rewrite(const msgpack_sbuffer *req, const char *line, const char *extra, msgpack_sbuffer *out)
{
    const char *eol = memchr(req->data, '\n', req->size);
    size_t first = eol != NULL ? (size_t)(eol + 1 - req->data) : 0;
    if (line != NULL)
        msgpack_sbuffer_write(out, line, strlen(line));
    else
        msgpack_sbuffer_write(out, req->data, first);
    msgpack_sbuffer_write(out, extra, strlen(extra));
    msgpack_sbuffer_write(out, req->data + first, req->size - first);
}

/* Sends bytes to shard's node and returns its reply (caller destroys). */
static int rpc(staff_job *j, unsigned shard, const msgpack_sbuffer *bytes, natsMsg **reply)
{
    char subj[32];
    snprintf(subj, sizeof subj, "hoso.rpc.%u", shard);
    natsStatus s = hoso__request(shard, subj, bytes->data, (int)bytes->size, HOSO__FORWARD_TIMEOUT_MS, reply);
    if (s == NATS_OK && natsMsg_GetDataLength(*reply) == 10 && memcmp(natsMsg_GetData(*reply), "!too-large", 10) == 0) {
        natsMsg_Destroy(*reply);
        *reply = NULL;
        return fail(j, HOSO_EUNAVAILABLE, "the reply from shard %u is larger than the cluster's messages can carry "
                                          "(nats-server max_payload)", shard);
    }
    if (s == NATS_OK && natsMsg_GetDataLength(*reply) > 0)
        return 0;
    if (s == NATS_OK)
        natsMsg_Destroy(*reply);
    *reply = NULL;
    const hoso_cluster_node *n = hoso_cluster_shard_node(hoso__broker_cluster(), shard);
    return fail(j, HOSO_EUNAVAILABLE, "shard %u (node %s) %s; retry in a moment", shard, n ? n->id : "?",
                s == NATS_NO_RESPONDERS ? "is down" : s == NATS_TIMEOUT ? "did not answer in time" : "could not answer");
}

static void keep_reply(staff_job *j, natsMsg *reply)
{
    size_t len = (size_t)natsMsg_GetDataLength(reply);
    if ((j->resp = malloc(len)) == NULL) {
        fail(j, HOSO_ENOMEM, "out of memory");
    } else {
        memcpy(j->resp, natsMsg_GetData(reply), len);
        j->resp_len = len;
    }
    natsMsg_Destroy(reply);
}

/* ---------------------------------------------------------------------------------- */
/* An agency's list from every node */

typedef struct page {
    natsMsg *reply;
    msgpack_unpacked u;
    const msgpack_object *items;
    uint32_t n, used;
    char next[160];
    char cursor[160];      /* where this node's page started ("" its start, "-" done) */
} page;

static const msgpack_object *field(const msgpack_object *m, const char *k)
{
    return m->type == MSGPACK_OBJECT_MAP ? hoso_map_get(m, k) : NULL;
}

static int64_t int_of(const msgpack_object *o)
{
    if (o == NULL)
        return 0;
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)o->via.u64
           : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : 0;
}

static int code_cmp(const msgpack_object *a, const msgpack_object *b)
{
    const msgpack_object *ca = field(a, "code"), *cb = field(b, "code");
    if (ca == NULL || cb == NULL || ca->type != MSGPACK_OBJECT_STR || cb->type != MSGPACK_OBJECT_STR)
        return 0;
    size_t n = ca->via.str.size < cb->via.str.size ? ca->via.str.size : cb->via.str.size;
    int c = memcmp(ca->via.str.ptr, cb->via.str.ptr, n);
    return c != 0 ? c : (ca->via.str.size > cb->via.str.size) - (ca->via.str.size < cb->via.str.size);
}

/* < 0 when a comes first: newest first (submitted_at, code descending), or for the
 * overdue list the longest overdue first (due_at, code ascending): each node's order. */
static int item_cmp(const msgpack_object *a, const msgpack_object *b, int overdue)
{
    const char *k = overdue ? "due_at" : "submitted_at";
    int64_t x = int_of(field(a, k)), y = int_of(field(b, k));
    int c = x < y ? -1 : x > y ? 1 : code_cmp(a, b);
    return overdue ? c : -c;
}

/* The node's cursor after item (as the node itself would make it). */
static void cursor_after(const msgpack_object *item, int overdue, char *out, size_t n)
{
    const msgpack_object *code = field(item, "code");
    char c[96] = "";
    if (code != NULL)
        str_of(code, c, sizeof c);
    if (overdue) {
        snprintf(out, n, "%" PRId64 ".%s", int_of(field(item, "due_at")), c);
        return;
    }
    uint8_t raw[8 + 96];
    int64_t at = int_of(field(item, "submitted_at"));
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)((uint64_t)at >> (56 - 8 * i));
    size_t cl = strlen(c);
    memcpy(raw + 8, c, cl);
    sodium_bin2base64(out, n, raw, 8 + cl, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The merged cursor: "m" + base64url(msgpack {node: cursor}); "" at the end. */
static int cursor_decode(const char *cur, const hoso_cluster *c, page *pages)
{
    uint8_t raw[4096];
    size_t len = 0;
    if (cur[0] == '\0')
        return 0;
    if (cur[0] != 'm' || sodium_base642bin(raw, sizeof raw, cur + 1, strlen(cur + 1), NULL, &len, NULL,
                                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = msgpack_unpack_next(&u, (const char *)raw, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
                     u.data.type == MSGPACK_OBJECT_MAP
                 ? 0
                 : -1;
    for (uint32_t i = 0; rc == 0 && i < c->nnodes; i++) {
        const msgpack_object *v = hoso_map_get(&u.data, c->nodes[i].id);
        if (v == NULL || str_of(v, pages[i].cursor, sizeof pages[i].cursor) != 0)
            rc = -1;
        /* A node's cursor goes into a request line: only the characters a node's
         * cursor is made of (base64url, or "<due_at>.<code>"), so that a client can
         * never write anything else there. */
        for (const char *p = pages[i].cursor; rc == 0 && *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
                rc = -1;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* The merged cursor, malloc'ed ("" at the end); NULL when out of memory. */
static char *cursor_encode(const hoso_cluster *c, const page *pages)
{
    int done = 1;
    for (unsigned i = 0; i < c->nnodes; i++)
        done &= strcmp(pages[i].cursor, "-") == 0;
    if (done)
        return strdup("");
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, c->nnodes);
    for (unsigned i = 0; i < c->nnodes; i++) {
        hoso_pack_cstr(&pk, c->nodes[i].id);
        hoso_pack_cstr(&pk, pages[i].cursor);
    }
    size_t n = 1 + sodium_base64_ENCODED_LEN(sb.size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(n);
    if (out != NULL) {
        out[0] = 'm';
        sodium_bin2base64(out + 1, n - 1, (const uint8_t *)sb.data, sb.size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    msgpack_sbuffer_destroy(&sb);
    return out;
}

/* The query of the request line without its cursor; *limit and *overdue from it. */
static int split_target(const msgpack_sbuffer *req, char *path, size_t pn, char *query, size_t qn, char *cursor,
                        size_t cn, unsigned *limit, int *overdue)
{
    const char *sp = memchr(req->data, ' ', req->size), *eol = memchr(req->data, '\r', req->size);
    if (sp == NULL || eol == NULL || eol < sp)
        return -1;
    const char *t = sp + 1, *tend = memchr(t, ' ', (size_t)(eol - t));
    if (tend == NULL)
        return -1;
    const char *q = memchr(t, '?', (size_t)(tend - t));
    snprintf(path, pn, "%.*s", (int)((q ? q : tend) - t), t);
    query[0] = cursor[0] = '\0';
    *limit = 20;
    *overdue = 0;
    size_t ql = 0;
    for (const char *p = q ? q + 1 : tend; p < tend;) {
        const char *amp = memchr(p, '&', (size_t)(tend - p)), *pe = amp ? amp : tend;
        if (pe - p >= 7 && strncmp(p, "cursor=", 7) == 0) {
            long n = pct_decode(p + 7, (size_t)(pe - p - 7), cursor, cn);
            if (n < 0)
                return -1;
        } else if (pe > p) {
            if (pe - p > 6 && strncmp(p, "limit=", 6) == 0) {
                unsigned long v = strtoul(p + 6, NULL, 10);
                *limit = v >= 1 && v <= 100 ? (unsigned)v : v > 100 ? 100 : 20;
            }
            if (pe - p == 9 && strncmp(p, "overdue=1", 9) == 0)
                *overdue = 1;
            ql += (size_t)snprintf(query + ql, qn > ql ? qn - ql : 0, "%s%.*s", ql ? "&" : "", (int)(pe - p), p);
        }
        p = pe + 1;
    }
    return ql < qn ? 0 : -1;
}

static void run_list(staff_job *j, const char *vouch)
{
    const hoso_cluster *c = hoso__broker_cluster();
    page pages[LIST_MAX_NODES];
    char path[256], query[1024], cursor[4096], line[4096 + 512], extra[1024];
    unsigned limit;
    int overdue;
    memset(pages, 0, sizeof pages);
    if (split_target(&j->req, path, sizeof path, query, sizeof query, cursor, sizeof cursor, &limit, &overdue) != 0) {
        fail(j, HOSO_EBAD_REQUEST, "the query is too long");
        return;
    }
    if (cursor_decode(cursor, c, pages) != 0) {
        /* The answer a single node gives to a cursor that is not one of its list. */
        fail(j, HOSO_EVALIDATION_FAILED, "cursor");
        return;
    }
    snprintf(extra, sizeof extra, "%saccept: application/msgpack\r\n", vouch);
    for (unsigned i = 0; i < c->nnodes && j->err == 0 && j->resp == NULL; i++) {
        page *p = &pages[i];
        msgpack_unpacked_init(&p->u);
        if (c->nodes[i].first > c->nodes[i].last)
            snprintf(p->cursor, sizeof p->cursor, "-"); /* a node of no shard holds no dossier */
        if (strcmp(p->cursor, "-") == 0)
            continue;
        snprintf(line, sizeof line, "GET %s?%s%s%s%s HTTP/1.1\r\n", path, query, query[0] ? "&" : "",
                 p->cursor[0] ? "cursor=" : "", p->cursor);
        msgpack_sbuffer out;
        msgpack_sbuffer_init(&out);
        rewrite(&j->req, line, extra, &out);
        int err = rpc(j, c->nodes[i].first, &out, &p->reply);
        msgpack_sbuffer_destroy(&out);
        if (err != 0)
            break;
        const char *d = natsMsg_GetData(p->reply);
        size_t len = (size_t)natsMsg_GetDataLength(p->reply);
        const char *body = strstr(d, "\r\n\r\n");
        if (len < 12 || body == NULL) {
            fail(j, HOSO_EINTERNAL, "node %s sent no list", c->nodes[i].id);
            break;
        }
        if (atoi(d + 9) != 200) {
            /* The node's refusal (a bad filter, a role) is the answer, as it came. */
            natsMsg *r = p->reply;
            p->reply = NULL;
            keep_reply(j, r);
            break;
        }
        body += 4;
        const msgpack_object *items = NULL, *next = NULL;
        if (msgpack_unpack_next(&p->u, body, len - (size_t)(body - d), NULL) == MSGPACK_UNPACK_SUCCESS &&
            (items = field(&p->u.data, "dossiers")) != NULL && items->type == MSGPACK_OBJECT_ARRAY &&
            (next = field(&p->u.data, "next")) != NULL && str_of(next, p->next, sizeof p->next) == 0) {
            p->items = items->via.array.ptr;
            p->n = items->via.array.size;
        } else {
            fail(j, HOSO_EINTERNAL, "node %s sent a list hosod cannot read", c->nodes[i].id);
        }
    }
    if (j->err == 0 && j->resp == NULL) {
        msgpack_packer pk;
        msgpack_sbuffer items;
        unsigned taken = 0;
        msgpack_sbuffer_init(&items);
        msgpack_packer_init(&pk, &items, msgpack_sbuffer_write);
        while (taken < limit) {
            int best = -1;
            for (unsigned i = 0; i < c->nnodes; i++)
                if (pages[i].used < pages[i].n &&
                    (best < 0 || item_cmp(&pages[i].items[pages[i].used], &pages[best].items[pages[best].used], overdue) < 0))
                    best = (int)i;
            if (best < 0)
                break;
            msgpack_pack_object(&pk, pages[best].items[pages[best].used++]);
            taken++;
        }
        for (unsigned i = 0; i < c->nnodes; i++) {
            page *p = &pages[i];
            if (strcmp(p->cursor, "-") == 0)
                continue;
            if (p->used == p->n)
                snprintf(p->cursor, sizeof p->cursor, "%s", p->next[0] ? p->next : "-");
            else if (p->used > 0)
                cursor_after(&p->items[p->used - 1], overdue, p->cursor, sizeof p->cursor);
        }
        char *next = cursor_encode(c, pages);
        msgpack_sbuffer_init(&j->body);
        msgpack_packer_init(&pk, &j->body, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        hoso_pack_cstr(&pk, "dossiers");
        msgpack_pack_array(&pk, taken);
        msgpack_sbuffer_write(&j->body, items.data, items.size);
        hoso_pack_kcstr(&pk, "next", next != NULL ? next : "");
        j->has_body = 1;
        if (next == NULL)
            fail(j, HOSO_ENOMEM, "out of memory");
        free(next);
        msgpack_sbuffer_destroy(&items);
    }
    for (unsigned i = 0; i < c->nnodes; i++) {
        msgpack_unpacked_destroy(&pages[i].u);
        if (pages[i].reply != NULL)
            natsMsg_Destroy(pages[i].reply);
    }
}

/* ---------------------------------------------------------------------------------- */
/* A thing whose node nothing names: each node in turn, the first that has it answers */

static void run_any(staff_job *j, const char *vouch)
{
    const hoso_cluster *c = hoso__broker_cluster();
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    rewrite(&j->req, NULL, vouch, &out);
    for (unsigned i = 0; i < c->nnodes; i++) {
        const hoso_cluster_node *n = &c->nodes[i];
        natsMsg *reply = NULL;
        if (n->first > n->last)
            continue;
        if (rpc(j, n->first, &out, &reply) != 0)
            break; /* a node down may hold it: 503, not a 404 that could be wrong */
        const char *d = natsMsg_GetData(reply);
        int last = 1;
        for (unsigned k = i + 1; k < c->nnodes; k++)
            last &= c->nodes[k].first > c->nodes[k].last;
        if (natsMsg_GetDataLength(reply) >= 12 && atoi(d + 9) == 404 && !last) {
            natsMsg_Destroy(reply);
            continue;
        }
        keep_reply(j, reply);
        break;
    }
    msgpack_sbuffer_destroy(&out);
}

/* ---------------------------------------------------------------------------------- */

static void run(staff_job *j)
{
    hoso_caller who;
    char vouch[800];
    if (whoami(j, &who) != 0)
        return;
    voucher(&who, vouch, sizeof vouch);
    if (j->kind == HOSO__STAFF_LIST) {
        run_list(j, vouch);
        return;
    }
    if (j->kind == HOSO__STAFF_ANY) {
        run_any(j, vouch);
        return;
    }
    unsigned shard = j->home;
    if (j->kind == HOSO__STAFF_DOSSIER) {
        int err = locate(j->code, &shard);
        if (err == HOSO_ENOT_FOUND) {
            fail(j, err, "no dossier %s", j->code);
            return;
        }
        if (err != 0) {
            fail(j, err, "cannot find dossier %s now (the cluster's message bus); retry in a moment", j->code);
            return;
        }
        for (unsigned i = 0; i < j->nfiles; i++) {
            char why[160];
            int ferr = hoso__files_copy(j->home, shard, who.account, j->files[i], why, sizeof why);
            if (ferr != 0) {
                fail(j, HOSO_EUNAVAILABLE, "cannot bring file %s from the node of shard %u to the dossier's: %s; "
                     "retry in a moment", j->files[i], j->home, why);
                return;
            }
        }
    }
    msgpack_sbuffer out;
    natsMsg *reply = NULL;
    msgpack_sbuffer_init(&out);
    rewrite(&j->req, NULL, vouch, &out);
    if (rpc(j, shard, &out, &reply) == 0)
        keep_reply(j, reply);
    msgpack_sbuffer_destroy(&out);
}

static void *staff_main(void *arg)
{
    (void)arg;
    for (;;) {
        staff_job *j = (staff_job *)hoso__pool_take(&S.pool);
        if (j == NULL)
            break;
        if (j->fn != NULL) {
            j->fn(j->arg);
            free(j);
            continue;
        }
        run(j);
        hoso_ticket_finish(j->ticket, 0);
    }
    return NULL;
}

int hoso__staff_start(void)
{
    return hoso__pool_start(&S.pool, STAFF_THREADS, staff_main, NULL);
}

void hoso__staff_stop(void)
{
    hoso__pool_stop(&S.pool);
}

/* ---------------------------------------------------------------------------------- */
/* The worker's side */

static void job_free(void *p)
{
    staff_job *j = p;
    msgpack_sbuffer_destroy(&j->req);
    if (j->has_body)
        msgpack_sbuffer_destroy(&j->body);
    free(j->resp);
    sodium_memzero(j->token, sizeof j->token);
    free(j);
}

static int enqueue(staff_job *j)
{
    return hoso__pool_put(&S.pool, &j->q);
}

int hoso__staff_run(void (*fn)(void *arg), void *arg)
{
    staff_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return HOSO_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    int err = enqueue(j);
    if (err != 0)
        free(j);
    return err;
}

static int job_start(hoso_ticket *t, void *data)
{
    staff_job *j = data;
    j->ticket = t;
    return enqueue(j);
}

static int job_done(hoso_req *r, void *data, int result)
{
    staff_job *j = data;
    int err = result;
    if (err == 0 && j->err != 0) {
        err = j->err;
        if (err == HOSO_EVALIDATION_FAILED)
            hoso_fail_field(&r->err, "cursor", "not a cursor of this list");
        else
            hoso_fail(&r->err, err, "%s", j->msg);
        if (err == HOSO_EUNAVAILABLE)
            r->retry_after_ms = 1000;
    } else if (err == 0 && j->resp != NULL) {
        err = hoso_reply_http1(r, j->resp, j->resp_len);
    } else if (err == 0 && j->has_body) {
        err = hoso_reply(r, 200, j->body.data, j->body.size);
    } else if (err == 0) {
        err = hoso_fail(&r->err, HOSO_EINTERNAL, "no answer");
    }
    job_free(j);
    return err;
}

/* The request's body as a document (JSON or msgpack, as its Content-Type says): 0, or
 * -1 when it has none or cannot be read (the node that runs it says why). */
static int body_doc(hoso_req *r, hoso_doc *doc)
{
    const void *body;
    size_t len;
    char ctype[64];
    hoso_errinfo ei;
    hoso_req_entity(r, &body, &len);
    if (len == 0 || len > hoso_server_config(r->srv)->limits.max_body)
        return -1;
    const char *ct = hoso_req_header(r, "content-type", ctype, sizeof ctype);
    int json = ct == NULL || strncasecmp(ct, "application/json", 16) == 0;
    memset(&ei, 0, sizeof ei);
    return (json ? hoso_doc_from_json(doc, body, len, &hoso_server_config(r->srv)->limits, &ei)
                 : hoso_doc_from_msgpack(doc, body, len, &hoso_server_config(r->srv)->limits, &ei)) != 0
               ? -1
               : 0;
}

/* The file ids of the array `key` of the request's body (what an officer attaches),
 * at most 10; anything else is left to the dossier's node to refuse. */
static void body_files(hoso_req *r, const char *key, staff_job *j)
{
    hoso_doc doc;
    if (body_doc(r, &doc) != 0)
        return;
    const msgpack_object *a = hoso_map_get(&doc.root, key);
    for (uint32_t i = 0; a != NULL && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size && j->nfiles < 10; i++) {
        const msgpack_object *o = &a->via.array.ptr[i];
        if (o->type == MSGPACK_OBJECT_STR && o->via.str.size == 32)
            snprintf(j->files[j->nfiles++], sizeof j->files[0], "%.*s", 32, o->via.str.ptr);
    }
    hoso_doc_destroy(&doc);
}

/* The dossier code of a bot's request body ({code, ...}), or "" when it names none. */
static void body_code(hoso_req *r, char *out, size_t n)
{
    hoso_doc doc;
    out[0] = '\0';
    if (body_doc(r, &doc) != 0)
        return;
    const msgpack_object *c = hoso_map_get(&doc.root, "code");
    if (c != NULL)
        str_of(c, out, n);
    hoso_doc_destroy(&doc);
}

int hoso__staff_forward(hoso_req *r, unsigned home)
{
    static const char *const by_path[] = {"dossier_get", "agency_transition", "agency_apology", "agency_message_post",
                                          "agency_messages"};
    static const char *const by_body[] = {"bot_lookup", "bot_subscribe"};
    const char *name = r->route->name;
    char auth[200];
    staff_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return HOSO_ENOMEM;
    j->home = home;
    j->kind = HOSO__STAFF_HOME;
    for (size_t i = 0; i < sizeof by_path / sizeof by_path[0]; i++)
        if (strcmp(name, by_path[i]) == 0 && r->nparams > 0) {
            j->kind = HOSO__STAFF_DOSSIER;
            snprintf(j->code, sizeof j->code, "%s", r->params[0]);
        }
    for (size_t i = 0; i < sizeof by_body / sizeof by_body[0]; i++)
        if (strcmp(name, by_body[i]) == 0) {
            body_code(r, j->code, sizeof j->code);
            /* No code in the body: the account's node gives the field error. */
            j->kind = j->code[0] ? HOSO__STAFF_DOSSIER : HOSO__STAFF_HOME;
        }
    if (strcmp(name, "agency_list") == 0)
        j->kind = HOSO__STAFF_LIST;
    /* An officer's own uploads go with the request to the dossier's node. */
    if (strcmp(name, "agency_transition") == 0)
        body_files(r, "result_files", j);
    else if (strcmp(name, "agency_message_post") == 0)
        body_files(r, "files", j);
    /* A bot's subscription lives with its dossier, on a node its id does not name. */
    if (strcmp(name, "bot_subscription_get") == 0 || strcmp(name, "bot_unsubscribe") == 0 ||
        strcmp(name, "file_get") == 0)
        j->kind = HOSO__STAFF_ANY;
    /* The account's own things on this node: nothing to ask anyone. */
    if (j->kind == HOSO__STAFF_HOME && hoso_broker_owns(home)) {
        free(j);
        return 0;
    }
    if (hoso_req_header(r, "authorization", auth, sizeof auth) == NULL || strlen(auth) < 8 ||
        strlen(auth + 7) >= sizeof j->token) {
        free(j);
        return hoso_fail(&r->err, HOSO_EUNAUTHORIZED, "malformed Authorization header");
    }
    snprintf(j->token, sizeof j->token, "%s", auth + 7);
    msgpack_sbuffer_init(&j->req);
    int err = hoso_req_http1(r, &j->req);
    if (err != 0) {
        job_free(j);
        return err;
    }
    err = hoso_req_hand_off(r, job_start, job_done, job_free, j);
    if (err == HOSO_EUNAVAILABLE)
        hoso_fail(&r->err, err, "the node is stopping; retry in a moment");
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* Questions to every node: the node's side and the asking side */

static hoso_query_exec query_exec;

void hoso_broker_set_query(hoso_query_exec fn)
{
    query_exec = fn;
}

/* hoso.q.node.<id>: the query -> [true, bin answer] or [false, why]. */
void hoso__query_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub, (void)closure;
    const char *to = natsMsg_GetReply(msg);
    msgpack_unpacked u;
    msgpack_sbuffer ans, out;
    msgpack_packer pk;
    char why[200] = "";
    int err = HOSO_EBAD_REQUEST;
    msgpack_unpacked_init(&u);
    msgpack_sbuffer_init(&ans);
    msgpack_sbuffer_init(&out);
    if (to != NULL) {
        if (query_exec == NULL)
            snprintf(why, sizeof why, "the node answers no query");
        else if (msgpack_unpack_next(&u, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), NULL) !=
                     MSGPACK_UNPACK_SUCCESS ||
                 u.data.type != MSGPACK_OBJECT_MAP)
            snprintf(why, sizeof why, "not a query");
        else
            err = query_exec(hoso_server_store(hoso__broker_server()), &u.data, &ans, why, sizeof why);
        msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 2);
        if (err == 0) {
            msgpack_pack_true(&pk);
            msgpack_pack_bin(&pk, ans.size);
            msgpack_pack_bin_body(&pk, ans.data, ans.size);
        } else {
            msgpack_pack_false(&pk);
            hoso_pack_cstr(&pk, why[0] ? why : hoso_err_message(err));
        }
        natsConnection_Publish(nc, to, out.data, (int)out.size);
    }
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&ans);
    msgpack_unpacked_destroy(&u);
    natsMsg_Destroy(msg);
}

void hoso_gathered_free(void *p)
{
    hoso_gathered *g = p;
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++)
        free(g->parts[i].data);
    free(g->parts);
    msgpack_sbuffer_destroy(&g->query);
    free(g);
}

typedef struct gather_job {
    hoso_gathered *g;
    hoso_ticket *ticket;
} gather_job;

static void gather_run(void *arg)
{
    gather_job *j = arg;
    hoso_gathered *g = j->g;
    const hoso_cluster *c = hoso__broker_cluster();
    int failed = 0;
    for (unsigned i = 0; i < c->nnodes && !failed; i++) {
        const hoso_cluster_node *n = &c->nodes[i];
        if (n->first > n->last)
            continue; /* a node of no shard has nothing to count */
        char subj[64];
        natsMsg *reply = NULL;
        snprintf(subj, sizeof subj, "hoso.q.node.%s", n->id);
        natsStatus s = hoso__request(n->first, subj, g->query.data, (int)g->query.size, HOSO__FORWARD_TIMEOUT_MS, &reply);
        if (s != NATS_OK) {
            snprintf(g->why, sizeof g->why, "node %s %s; the answer would miss its shards, retry in a moment", n->id,
                     s == NATS_NO_RESPONDERS ? "is down" : "did not answer in time");
            failed = 1;
            break;
        }
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        const msgpack_object *a = NULL;
        if (msgpack_unpack_next(&u, natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), NULL) ==
                MSGPACK_UNPACK_SUCCESS &&
            u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 2)
            a = u.data.via.array.ptr;
        struct hoso_gathered_part *pt = &g->parts[g->n];
        if (a != NULL && a[0].type == MSGPACK_OBJECT_BOOLEAN && a[0].via.boolean && a[1].type == MSGPACK_OBJECT_BIN &&
            (pt->data = malloc(a[1].via.bin.size + 1)) != NULL) {
            memcpy(pt->data, a[1].via.bin.ptr, a[1].via.bin.size);
            pt->len = a[1].via.bin.size;
            snprintf(pt->node, sizeof pt->node, "%s", n->id);
            g->n++;
        } else {
            snprintf(g->why, sizeof g->why, "node %s could not answer: %.*s", n->id,
                     a != NULL && a[1].type == MSGPACK_OBJECT_STR ? (int)a[1].via.str.size : 0,
                     a != NULL && a[1].type == MSGPACK_OBJECT_STR ? a[1].via.str.ptr : "");
            failed = 1;
        }
        msgpack_unpacked_destroy(&u);
        natsMsg_Destroy(reply);
    }
    hoso_ticket_finish(j->ticket, failed ? HOSO_EUNAVAILABLE : 0);
    free(j);
}

static int gather_start(hoso_ticket *t, void *data)
{
    gather_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return HOSO_ENOMEM;
    j->g = data;
    j->ticket = t;
    int err = hoso__staff_run(gather_run, j);
    if (err != 0)
        free(j);
    return err;
}

int hoso_broker_gather(hoso_req *r, const void *query, size_t len, const char *tag, hoso_offload_done done)
{
    const hoso_cluster *c = hoso__broker_cluster();
    hoso_gathered *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->parts = calloc(c->nnodes, sizeof(*g->parts))) == NULL) {
        free(g);
        return HOSO_ENOMEM;
    }
    snprintf(g->tag, sizeof g->tag, "%s", tag);
    msgpack_sbuffer_init(&g->query);
    msgpack_sbuffer_write(&g->query, query, len);
    int err = hoso_req_hand_off(r, gather_start, done, hoso_gathered_free, g);
    if (err == HOSO_EUNAVAILABLE)
        hoso_fail(&r->err, err, "the node is stopping; retry in a moment");
    return err;
}
