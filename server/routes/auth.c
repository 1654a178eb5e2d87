/*
 * route_auth.c - register, login, logout.
 *
 * Argon2id takes ~0.1 s by design. Hashing and verifying run on libuv's thread pool
 * (hoso_req_offload), never on a worker's event loop, where it would stall every other
 * request of that worker, nor on the writer, which only stores the result.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "broker/broker.h"
#include "domain/domain.h"
#include "routes.h"

#define BAD_LOGIN "wrong id number, username or password"

/* What the register op needs, copied from the body: the body is gone once the hash is
 * ready. Limits follow hoso_msg_register. */
typedef struct register_data {
    char id[33];
    char id_number[16];
    char full_name[256];
    char phone[32];
    char password[256]; /* wiped once hashed */
    char pwhash[crypto_pwhash_STRBYTES];
} register_data;

typedef struct login_data {
    char id[33];
    char addr[64];      /* the client's address: throttling */
    int found;
    char pwhash[crypto_pwhash_STRBYTES];
    char password[256]; /* wiped once verified */
    hoso_role role;
    char full_name[256];
    char agency[48];
    int64_t expires_at;
} login_data;

typedef struct logout_data {
    char token[64];
} logout_data;

static void free_wiped(void *p, size_t n)
{
    if (!p) return;
    sodium_memzero(p, n);
    free(p);
}
static void free_register(void *p)
{
    free_wiped(p, sizeof(register_data));
}
static void free_login(void *p)
{
    free_wiped(p, sizeof(login_data));
}
static void free_logout(void *p)
{
    free_wiped(p, sizeof(logout_data));
}

static int copy_str(char *dst, size_t sz, const hoso_str *s)
{
    size_t n = s->ptr ? s->len : 0;
    if (n >= sz) return -1;
    if (n) memcpy(dst, s->ptr, n);
    dst[n] = '\0';
    return 0;
}

/* Counts an attempt of key: 0, or RATE_LIMITED with r->retry_after_ms while the key
 * must wait. */
static int throttled(hoso_req *r, int kind, const char *key, const char *by)
{
    int64_t wait = 0;
    if (key[0] == '\0' || hoso_throttle_attempt(kind, key, hoso_now_ms(), &wait) == 0)
        return 0;
    r->retry_after_ms = wait;
    hoso_metrics_throttled(by);
    return hoso_fail(&r->err, HOSO_ERATE_LIMITED, "too many attempts; try again in %lld s",
                     (long long)((wait + 999) / 1000));
}

/* {id, role, full_name?, agency?}: never the hash, the phone or the id number. */
static void pack_account(msgpack_packer *pk, const char *id, hoso_role role, const char *full_name,
                         const char *agency)
{
    int n = 2 + (full_name && full_name[0]) + (agency && agency[0]);
    msgpack_pack_map(pk, n);
    hoso_pack_cstr(pk, "id");
    hoso_pack_cstr(pk, id);
    hoso_pack_cstr(pk, "role");
    hoso_pack_cstr(pk, hoso_role_name(role));
    if (full_name && full_name[0]) {
        hoso_pack_cstr(pk, "full_name");
        hoso_pack_cstr(pk, full_name);
    }
    if (agency && agency[0]) {
        hoso_pack_cstr(pk, "agency");
        hoso_pack_cstr(pk, agency);
    }
}

static int all_digits(const hoso_str *s)
{
    for (size_t i = 0; i < s->len; i++)
        if (!isdigit((unsigned char)s->ptr[i])) return 0;
    return s->len > 0;
}

/* The descriptor checks lengths and characters; an identity number is moreover
 * either the 12-digit CCCD or the older 9-digit CMND, nothing in between. */
static int check_register(const hoso_req_register *q, hoso_errinfo *ei)
{
    if (!all_digits(&q->id_number) || (q->id_number.len != 12 && q->id_number.len != 9))
        return hoso_fail_field(ei, "id_number", "must be 12 digits (CCCD) or 9 digits (CMND)");
    return 0;
}

static int register_apply(hoso_wop *op, hoso_txn *t)
{
    register_data *rd = op->data;
    hoso_account a, old;
    hoso_doc doc;
    msgpack_packer pk;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return hoso_wop_fail(op, ret, "out of memory");
    ret = hoso_account_get(t, rd->id, &doc, &old);
    if (ret == 0) {
        ret = hoso_wop_fail(op, HOSO_EALREADY_EXISTS, "this id number is already registered");
        goto Exit;
    }
    if (ret != HOSO_ENOT_FOUND) {
        ret = hoso_wop_fail(op, ret, "cannot read accounts");
        goto Exit;
    }
    memset(&a, 0, sizeof(a));
    memcpy(a.id, rd->id, sizeof(a.id));
    a.role = HOSO_ROLE_CITIZEN;
    a.login = (hoso_str){rd->id_number, strlen(rd->id_number)};
    a.full_name = (hoso_str){rd->full_name, strlen(rd->full_name)};
    a.phone = (hoso_str){rd->phone, strlen(rd->phone)};
    a.pwhash = (hoso_str){rd->pwhash, strlen(rd->pwhash)};
    a.created_at = op->now;
    if ((ret = hoso_account_put(t, &a)) != 0) {
        ret = hoso_wop_fail(op, ret, "cannot store the account");
        goto Exit;
    }
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "account");
    pack_account(&pk, a.id, a.role, rd->full_name, NULL);
    op->http_status = 201;
Exit:
    hoso_doc_destroy(&doc);
    return ret;
}

/* Thread pool. */
static int register_hash(void *data)
{
    register_data *rd = data;
    int ret = hoso_password_hash(rd->password, rd->pwhash, sizeof(rd->pwhash));
    sodium_memzero(rd->password, sizeof(rd->password));
    return ret;
}

/* Back on the worker, the request still alive. */
static int register_hashed(hoso_req *r, void *data, int result)
{
    register_data *rd = data;
    hoso_wop *op;
    if (result != 0) {
        free_register(rd);
        return hoso_fail(&r->err, result, "cannot hash the password");
    }
    if (!(op = hoso_wop_new(r, register_apply))) {
        free_register(rd);
        return HOSO_ENOMEM;
    }
    op->data = rd;
    op->free_data = free_register;
    return hoso_writer_submit(r, op);
}

/* Cluster mode: an account is made and signed in only on the node of its shard (the
 * forward hook sends it there; this holds even when that went wrong). */
static int holds(const char *account)
{
    return !hoso_broker_active() || hoso_broker_owns(hoso_broker_shard_of(account));
}

static int not_here(hoso_req *r)
{
    r->retry_after_ms = 1000;
    return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "this node does not hold the account's shard; retry in a moment");
}

int hoso_route_register(hoso_req *r)
{
    hoso_req_register q;
    register_data *rd = NULL;
    hoso_account old;
    hoso_doc doc;
    int ret;

    if ((ret = hoso_decode(&hoso_msg_register, &r->body, &r->body.root, &q, &r->err)) != 0) return ret;
    if ((ret = check_register(&q, &r->err)) != 0) return ret;
    if (!(rd = calloc(1, sizeof(*rd)))) return HOSO_ENOMEM;
    hoso_account_id_for(hoso_server_store(r->srv), q.id_number.ptr, rd->id);
    if (!holds(rd->id)) {
        ret = not_here(r);
        goto Exit;
    }

    /* Refuse a known id number before paying for the hash; the writer checks again. */
    if ((ret = hoso_doc_init(&doc)) != 0) goto Exit;
    ret = hoso_account_get(r->rtxn, rd->id, &doc, &old);
    hoso_doc_destroy(&doc);
    if (ret == 0) {
        ret = hoso_fail(&r->err, HOSO_EALREADY_EXISTS, "this id number is already registered");
        goto Exit;
    }
    if (ret != HOSO_ENOT_FOUND) goto Exit;

    if (copy_str(rd->id_number, sizeof(rd->id_number), &q.id_number) ||
        copy_str(rd->full_name, sizeof(rd->full_name), &q.full_name) ||
        copy_str(rd->phone, sizeof(rd->phone), &q.phone) ||
        copy_str(rd->password, sizeof(rd->password), &q.password)) {
        ret = hoso_fail(&r->err, HOSO_EVALIDATION_FAILED, "a field is longer than allowed");
        goto Exit;
    }
    {
        char peer[64], addr[72];
        hoso_req_peer(r, peer, sizeof(peer));
        hoso_throttle_addr_key(peer, addr, sizeof(addr));
        if ((ret = throttled(r, HOSO_THROTTLE_REGISTER, addr, "registrations")) != 0)
            goto Exit;
        ret = hoso_req_offload(r, HOSO_OFFLOAD_REGISTER, register_hash, register_hashed, free_register, rd);
        if (ret != HOSO_ASYNC && addr[0] != '\0')
            hoso_throttle_refund(HOSO_THROTTLE_REGISTER, addr); /* not taken: it does not count */
        return ret;
    }
Exit:
    free_register(rd);
    return ret;
}

/* A hash to verify against when the account does not exist, so that a missing
 * account costs as much time as a wrong password and the two cannot be told apart. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void make_dummy(void)
{
    unsigned char pw[16];
    char hex[33];
    randombytes_buf(pw, sizeof(pw));
    sodium_bin2hex(hex, sizeof(hex), pw, sizeof(pw));
    if (hoso_password_hash(hex, dummy_hash, sizeof(dummy_hash)) != 0) dummy_hash[0] = '\0';
}

static int login_apply(hoso_wop *op, hoso_txn *t)
{
    login_data *ld = op->data;
    char token[64], prefix[8];
    msgpack_packer pk;
    int ret;

    /* In cluster mode the token names its account's shard in clear, so that any node
     * can send the request to the node that holds the session. */
    hoso_broker_token_prefix(ld->id, ld->role, prefix);
    if ((ret = hoso_session_create_prefixed(t, ld->id, ld->expires_at, prefix, token)) != 0)
        return hoso_wop_fail(op, ret, "cannot create the session");
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "token");
    hoso_pack_cstr(&pk, token);
    hoso_pack_cstr(&pk, "expires_at");
    msgpack_pack_int64(&pk, ld->expires_at);
    hoso_pack_cstr(&pk, "account");
    pack_account(&pk, ld->id, ld->role, ld->full_name, ld->agency);
    sodium_memzero(token, sizeof(token));
    return 0;
}

/* Thread pool. A missing account is verified against a dummy hash, so that it costs as
 * much time as a wrong password and the two cannot be told apart. The attempt was
 * counted when it arrived; the right password gives it back here, whether or not the
 * client waits for the answer. */
static int login_verify(void *data)
{
    login_data *ld = data;
    int ok;
    if (ld->found) {
        ok = hoso_password_verify(ld->pwhash, ld->password) == 0;
    } else {
        pthread_once(&dummy_once, make_dummy);
        if (dummy_hash[0]) hoso_password_verify(dummy_hash, ld->password);
        ok = 0;
    }
    sodium_memzero(ld->password, sizeof(ld->password));
    if (ok) {
        hoso_throttle_clear(HOSO_THROTTLE_ACCOUNT, ld->id);
        if (ld->addr[0] != '\0')
            hoso_throttle_refund(HOSO_THROTTLE_ADDRESS, ld->addr);
    }
    return ok ? 0 : HOSO_EUNAUTHORIZED;
}


/* Back on the worker, the request still alive. */
static int login_verified(hoso_req *r, void *data, int result)
{
    login_data *ld = data;
    hoso_wop *op;
    if (result != 0) {
        free_login(ld);
        return hoso_fail(&r->err, result == HOSO_EUNAUTHORIZED ? result : HOSO_EUNAVAILABLE,
                         result == HOSO_EUNAUTHORIZED ? BAD_LOGIN : "cannot verify the password now");
    }
    if (!(op = hoso_wop_new(r, login_apply))) {
        free_login(ld);
        return HOSO_ENOMEM;
    }
    op->data = ld;
    op->free_data = free_login;
    return hoso_writer_submit(r, op);
}

int hoso_route_login(hoso_req *r)
{
    hoso_req_login q;
    hoso_account a;
    hoso_doc doc;
    login_data *ld = NULL;
    char id[sizeof(ld->id)] = "", addr[sizeof(ld->addr)] = "";
    int ret, counted = 0; /* attempts counted: 1 the address's, 2 the account's too */

    if ((ret = hoso_decode(&hoso_msg_login, &r->body, &r->body.root, &q, &r->err)) != 0) return ret;
    int by_id = hoso__has(&q.id_number), by_user = hoso__has(&q.username);
    if (by_id == by_user) {
        hoso_fail_field(&r->err, by_id ? "username" : "id_number", "give exactly one of id_number or username");
        return HOSO_EVALIDATION_FAILED;
    }
    if (!q.password.ptr) return hoso_fail_field(&r->err, "password", "required");
    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    if (!(ld = calloc(1, sizeof(*ld)))) {
        ret = HOSO_ENOMEM;
        goto Exit;
    }
    if (copy_str(ld->password, sizeof(ld->password), &q.password)) {
        ret = hoso_fail(&r->err, HOSO_EUNAUTHORIZED, BAD_LOGIN);
        goto Exit;
    }
    hoso_account_id_for(hoso_server_store(r->srv), by_id ? q.id_number.ptr : q.username.ptr, ld->id);
    if (!holds(ld->id)) {
        ret = not_here(r);
        goto Exit;
    }
    {
        char peer[64];
        hoso_req_peer(r, peer, sizeof(peer));
        hoso_throttle_addr_key(peer, ld->addr, sizeof(ld->addr));
    }
    /* Throttled before any hashing: the wait is the answer, whatever the password. The
     * address first, so that an address made to wait adds nothing to the account's
     * count. An attempt that ends before its password is checked (the account's wait,
     * a storage error, hashing too busy) gives its counts back. */
    memcpy(id, ld->id, sizeof(id));
    memcpy(addr, ld->addr, sizeof(addr));
    if ((ret = throttled(r, HOSO_THROTTLE_ADDRESS, addr, "address")) != 0)
        goto Exit;
    counted = 1;
    if ((ret = throttled(r, HOSO_THROTTLE_ACCOUNT, id, "account")) != 0)
        goto Exit;
    counted = 2;
    ret = hoso_account_get(r->rtxn, ld->id, &doc, &a);
    if (ret && ret != HOSO_ENOT_FOUND) goto Exit;
    /* Citizens sign in with their id number, staff accounts with a username: the two
     * namespaces never cross. */
    ld->found = ret == 0 && by_id == (a.role == HOSO_ROLE_CITIZEN) && a.pwhash.ptr &&
                copy_str(ld->pwhash, sizeof(ld->pwhash), &a.pwhash) == 0;
    if (ld->found) {
        ld->role = a.role;
        copy_str(ld->full_name, sizeof(ld->full_name), &a.full_name);
        copy_str(ld->agency, sizeof(ld->agency), &a.agency);
    }
    int64_t ttl = hoso_server_config(r->srv)->session_ttl_ms;
    ld->expires_at = hoso_now_ms() + (ttl > 0 ? ttl : (int64_t)30 * 24 * 3600 * 1000);
    ret = hoso_req_offload(r, HOSO_OFFLOAD_LOGIN, login_verify, login_verified, free_login, ld);
    ld = NULL; /* owned by the offload now, whatever it returned */
    if (ret == HOSO_ASYNC)
        counted = 0; /* the password will be checked: the attempt stands */
Exit:
    if (counted >= 1 && addr[0] != '\0')
        hoso_throttle_refund(HOSO_THROTTLE_ADDRESS, addr);
    if (counted >= 2)
        hoso_throttle_refund(HOSO_THROTTLE_ACCOUNT, id);
    free_login(ld);
    hoso_doc_destroy(&doc);
    return ret;
}

static int logout_apply(hoso_wop *op, hoso_txn *t)
{
    logout_data *ld = op->data;
    msgpack_packer pk;
    int ret = hoso_session_delete(t, ld->token);
    /* A token already gone (expired, logged out twice) is the state asked for. */
    if (ret && ret != HOSO_ENOT_FOUND && ret != HOSO_EUNAUTHORIZED)
        return hoso_wop_fail(op, ret, "cannot end the session");
    msgpack_packer_init(&pk, &op->reply, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "ok");
    msgpack_pack_true(&pk);
    return 0;
}

int hoso_route_logout(hoso_req *r)
{
    logout_data *ld = calloc(1, sizeof(*ld));
    hoso_wop *op;
    if (!ld) return HOSO_ENOMEM;
    memcpy(ld->token, r->token, sizeof(ld->token));
    ld->token[sizeof(ld->token) - 1] = '\0';
    if (!(op = hoso_wop_new(r, logout_apply))) {
        free_logout(ld);
        return HOSO_ENOMEM;
    }
    op->data = ld;
    op->free_data = free_logout;
    return hoso_writer_submit(r, op);
}
