/*
 * calls.c - the v1 calls: requests sent at once (login, catalogue, reads, officer
 * moves) and the citizen changes that go through the outbox (their op is built here
 * in the POST /v1/sync shape and handed to outbox.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

typedef enum call_kind { CALL_PLAIN = 0, CALL_LOGIN, CALL_LOGOUT } call_kind;

typedef struct call {
    hoso_client_cb cb;
    void *ud;
    call_kind kind;
} call;

/* Percent-encodes s into out (RFC 3986 unreserved characters kept). */
static int url_enc(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                   *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (n + 4 >= cap) return HOSO_EBAD_REQUEST;
        if (keep) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = 0;
    return 0;
}

static void remember_login(hoso_client *c, const msgpack_object *body)
{
    const msgpack_object *acct = hoso_map_get(body, "account");
    hoso__obj_cstr(hoso_map_get(body, "token"), c->token, sizeof(c->token));
    hoso__obj_cstr(hoso_map_get(acct, "id"), c->account_id, sizeof(c->account_id));
    hoso__obj_cstr(hoso_map_get(acct, "role"), c->role, sizeof(c->role));
    hoso__store_meta_put(&c->store, "token", c->token);
    hoso__store_meta_put(&c->store, "account", c->account_id);
    hoso__store_meta_put(&c->store, "role", c->role);
}

static void forget_login(hoso_client *c)
{
    c->token[0] = c->account_id[0] = c->role[0] = 0;
    hoso__store_meta_put(&c->store, "token", "");
    hoso__store_meta_put(&c->store, "account", "");
    hoso__store_meta_put(&c->store, "role", "");
}

static void on_reply(hoso_client *c, int err, const char *why, int status, const char *body, size_t len, void *ud)
{
    call *k = ud;
    hoso__reply r;
    hoso__reply_from_http(&r, err, why, status, body, len);
    if (!r.pub.error.err && r.pub.body) {
        if (k->kind == CALL_LOGIN) {
            /* Another account's feed position and cached dossiers are not ours. */
            char old[sizeof(c->account_id)];
            snprintf(old, sizeof(old), "%s", c->account_id);
            remember_login(c, r.pub.body);
            if (old[0] && strcmp(old, c->account_id) != 0) {
                hoso__store_dossier_clear(&c->store);
                hoso__set_seq(c, 0);
                hoso__set_epoch(c, "");
            }
            /* Ops that waited for a valid token can go now. */
            if (hoso__store_outbox_count(&c->store) > 0) hoso__outbox_kick(c);
        }
        hoso__cache_dossier_obj(c, hoso_map_get(r.pub.body, "dossier"));
        const msgpack_object *list = hoso_map_get(r.pub.body, "dossiers");
        if (list && list->type == MSGPACK_OBJECT_ARRAY && strcmp(c->role, "citizen") == 0)
            for (uint32_t i = 0; i < list->via.array.size; i++) hoso__cache_dossier_obj(c, &list->via.array.ptr[i]);
    }
    if (k->kind == CALL_LOGOUT) forget_login(c);
    if (k->cb) k->cb(c, &r.pub, k->ud);
    hoso__reply_destroy(&r);
    free(k);
}

static int send_call(hoso_client *c, const char *method, const char *path, const msgpack_sbuffer *body, int auth,
                     call_kind kind, hoso_client_cb cb, void *ud)
{
    call *k = calloc(1, sizeof(*k));
    if (!k) return HOSO_ENOMEM;
    k->cb = cb;
    k->ud = ud;
    k->kind = kind;
    int rc = hoso__http_send(c, method, path, body ? body->data : NULL, body ? body->size : 0, auth, on_reply, k);
    if (rc) free(k);
    return rc;
}

/* Packs "key": cstr. */
static void kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    hoso_pack_cstr(pk, k);
    hoso_pack_cstr(pk, v);
}
static void kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    hoso_pack_cstr(pk, k);
    msgpack_pack_int64(pk, v);
}

int hoso_client_login(hoso_client *c, const char *id_number, const char *username, const char *password,
                      hoso_client_cb cb, void *ud)
{
    if ((!id_number) == (!username) || !password) return HOSO_EBAD_REQUEST;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    if (id_number) kv_str(&pk, "id_number", id_number);
    else kv_str(&pk, "username", username);
    kv_str(&pk, "password", password);
    int rc = send_call(c, "POST", "/v1/auth/login", &sb, 0, CALL_LOGIN, cb, ud);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_client_logout(hoso_client *c, hoso_client_cb cb, void *ud)
{
    return send_call(c, "POST", "/v1/auth/logout", NULL, 1, CALL_LOGOUT, cb, ud);
}

int hoso_client_services(hoso_client *c, const char *agency, const char *q, hoso_client_cb cb, void *ud)
{
    char path[1024], ea[256] = "", eq[512] = "";
    if ((agency && url_enc(ea, sizeof(ea), agency)) || (q && url_enc(eq, sizeof(eq), q))) return HOSO_EBAD_REQUEST;
    snprintf(path, sizeof(path), "/v1/services%s%s%s%s%s", agency || q ? "?" : "", agency ? "agency=" : "", ea,
             agency && q ? "&" : "", q ? "q=" : "");
    strncat(path, eq, sizeof(path) - strlen(path) - 1);
    return send_call(c, "GET", path, NULL, 0, CALL_PLAIN, cb, ud);
}

int hoso_client_service_get(hoso_client *c, const char *code, hoso_client_cb cb, void *ud)
{
    char path[512], ec[384];
    if (!code || !code[0] || url_enc(ec, sizeof(ec), code)) return HOSO_EBAD_REQUEST;
    snprintf(path, sizeof(path), "/v1/services/%s", ec);
    return send_call(c, "GET", path, NULL, 0, CALL_PLAIN, cb, ud);
}

int hoso_client_get(hoso_client *c, const char *code, hoso_client_cb cb, void *ud)
{
    char path[512], ec[384];
    if (!code || !code[0] || url_enc(ec, sizeof(ec), code)) return HOSO_EBAD_REQUEST;
    snprintf(path, sizeof(path), "/v1/dossiers/%s", ec);
    return send_call(c, "GET", path, NULL, 1, CALL_PLAIN, cb, ud);
}

int hoso_client_messages(hoso_client *c, const char *code, uint64_t after, unsigned limit, hoso_client_cb cb,
                         void *ud)
{
    char path[600], ec[384];
    if (!code || !code[0] || url_enc(ec, sizeof(ec), code)) return HOSO_EBAD_REQUEST;
    snprintf(path, sizeof(path), "/v1/dossiers/%s/messages?after=%llu&limit=%u", ec, (unsigned long long)after,
             limit ? limit : 100);
    return send_call(c, "GET", path, NULL, 1, CALL_PLAIN, cb, ud);
}

static int list_path(char *path, size_t cap, const char *base, int status, const char *cursor, unsigned limit)
{
    char ec[512] = "";
    if (cursor && url_enc(ec, sizeof(ec), cursor)) return HOSO_EBAD_REQUEST;
    int n = snprintf(path, cap, "%s?limit=%u", base, limit ? limit : 20);
    if (status) n += snprintf(path + n, cap - (size_t)n, "&status=%d", status);
    if (cursor && cursor[0]) snprintf(path + n, cap - (size_t)n, "&cursor=%s", ec);
    return 0;
}

int hoso_client_list(hoso_client *c, int status, const char *cursor, unsigned limit, hoso_client_cb cb, void *ud)
{
    char path[1024];
    if (list_path(path, sizeof(path), "/v1/dossiers", status, cursor, limit)) return HOSO_EBAD_REQUEST;
    return send_call(c, "GET", path, NULL, 1, CALL_PLAIN, cb, ud);
}

int hoso_client_agency_list(hoso_client *c, int status, const char *cursor, unsigned limit, hoso_client_cb cb,
                            void *ud)
{
    char path[1024];
    if (list_path(path, sizeof(path), "/v1/agency/dossiers", status, cursor, limit)) return HOSO_EBAD_REQUEST;
    return send_call(c, "GET", path, NULL, 1, CALL_PLAIN, cb, ud);
}

int hoso_client_transition_send(hoso_client *c, const char *code, const hoso_client_transition *t,
                                hoso_client_cb cb, void *ud)
{
    char path[512], ec[384];
    if (!code || !t || url_enc(ec, sizeof(ec), code)) return HOSO_EBAD_REQUEST;
    snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", ec);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint32_t n = 2 + !!t->note + !!t->reason + !!t->result + !!t->fee + !!t->due_at + !!t->npapers_required;
    msgpack_pack_map(&pk, n);
    kv_int(&pk, "to", t->to);
    kv_int(&pk, "version", t->version);
    if (t->note) kv_str(&pk, "note", t->note);
    if (t->reason) kv_str(&pk, "reason", t->reason);
    if (t->result) kv_str(&pk, "result", t->result);
    if (t->fee) kv_int(&pk, "fee", t->fee);
    if (t->due_at) kv_int(&pk, "due_at", t->due_at);
    if (t->npapers_required) {
        hoso_pack_cstr(&pk, "papers_required");
        msgpack_pack_array(&pk, (uint32_t)t->npapers_required);
        for (size_t i = 0; i < t->npapers_required; i++) hoso_pack_cstr(&pk, t->papers_required[i]);
    }
    int rc = send_call(c, "POST", path, &sb, 1, CALL_PLAIN, cb, ud);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Outbox calls: {op_id, kind, code?, ...fields}. */

static void op_begin(msgpack_packer *pk, uint32_t nfields, const char *op_id, const char *kind, const char *code)
{
    msgpack_pack_map(pk, nfields + 2 + (code ? 1 : 0));
    kv_str(pk, "op_id", op_id);
    kv_str(pk, "kind", kind);
    if (code) kv_str(pk, "code", code);
}

static int op_finish(hoso_client *c, msgpack_sbuffer *sb, const char *op_id, hoso_client_cb cb, void *ud)
{
    int rc = hoso__outbox_enqueue(c, sb, op_id, cb, ud);
    msgpack_sbuffer_destroy(sb);
    return rc;
}

int hoso_client_submit(hoso_client *c, const char *service, const msgpack_object *form,
                       const msgpack_object *papers, hoso_client_cb cb, void *ud)
{
    char op_id[HOSO__OPID_LEN + 1];
    if (!service || !form || form->type != MSGPACK_OBJECT_MAP) return HOSO_EBAD_REQUEST;
    if (papers && papers->type != MSGPACK_OBJECT_ARRAY) return HOSO_EBAD_REQUEST;
    hoso__make_op_id(op_id);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    op_begin(&pk, 2 + !!papers, op_id, "submit", NULL);
    kv_str(&pk, "service", service);
    hoso_pack_cstr(&pk, "form");
    msgpack_pack_object(&pk, *form);
    if (papers) {
        hoso_pack_cstr(&pk, "papers");
        msgpack_pack_object(&pk, *papers);
    }
    return op_finish(c, &sb, op_id, cb, ud);
}

int hoso_client_supplement(hoso_client *c, const char *code, const msgpack_object *form,
                           const msgpack_object *papers, int64_t base_version, hoso_client_cb cb, void *ud)
{
    char op_id[HOSO__OPID_LEN + 1];
    if (!code || (!form && !papers)) return HOSO_EBAD_REQUEST;
    if ((form && form->type != MSGPACK_OBJECT_MAP) || (papers && papers->type != MSGPACK_OBJECT_ARRAY))
        return HOSO_EBAD_REQUEST;
    hoso__make_op_id(op_id);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    op_begin(&pk, !!form + !!papers + !!base_version, op_id, "supplement", code);
    if (form) {
        hoso_pack_cstr(&pk, "form");
        msgpack_pack_object(&pk, *form);
    }
    if (papers) {
        hoso_pack_cstr(&pk, "papers");
        msgpack_pack_object(&pk, *papers);
    }
    if (base_version) kv_int(&pk, "base_version", base_version);
    return op_finish(c, &sb, op_id, cb, ud);
}

int hoso_client_withdraw(hoso_client *c, const char *code, const char *reason, int64_t base_version,
                         hoso_client_cb cb, void *ud)
{
    char op_id[HOSO__OPID_LEN + 1];
    if (!code || !reason) return HOSO_EBAD_REQUEST;
    hoso__make_op_id(op_id);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    op_begin(&pk, 1 + !!base_version, op_id, "withdraw", code);
    kv_str(&pk, "reason", reason);
    if (base_version) kv_int(&pk, "base_version", base_version);
    return op_finish(c, &sb, op_id, cb, ud);
}

int hoso_client_rate(hoso_client *c, const char *code, const msgpack_object *answers, hoso_client_cb cb, void *ud)
{
    char op_id[HOSO__OPID_LEN + 1];
    if (!code || !answers || answers->type != MSGPACK_OBJECT_MAP) return HOSO_EBAD_REQUEST;
    hoso__make_op_id(op_id);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    op_begin(&pk, 1, op_id, "rate", code);
    hoso_pack_cstr(&pk, "answers");
    msgpack_pack_object(&pk, *answers);
    return op_finish(c, &sb, op_id, cb, ud);
}

int hoso_client_message(hoso_client *c, const char *code, const char *text, const char *const *files,
                        size_t nfiles, hoso_client_cb cb, void *ud)
{
    char op_id[HOSO__OPID_LEN + 1];
    if (!code || !text || nfiles > 10 || (nfiles && !files)) return HOSO_EBAD_REQUEST;
    for (size_t i = 0; i < nfiles; i++)
        if (!files[i]) return HOSO_EBAD_REQUEST;
    hoso__make_op_id(op_id);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    op_begin(&pk, 1 + !!nfiles, op_id, "message", code);
    kv_str(&pk, "text", text);
    if (nfiles) {
        hoso_pack_cstr(&pk, "files");
        msgpack_pack_array(&pk, (uint32_t)nfiles);
        for (size_t i = 0; i < nfiles; i++) hoso_pack_cstr(&pk, files[i]);
    }
    return op_finish(c, &sb, op_id, cb, ud);
}

int hoso_client_feedback(hoso_client *c, const char *text, const char *service, hoso_client_cb cb, void *ud)
{
    char op_id[HOSO__OPID_LEN + 1];
    if (!text) return HOSO_EBAD_REQUEST;
    hoso__make_op_id(op_id);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    op_begin(&pk, 1 + !!service, op_id, "feedback", NULL);
    kv_str(&pk, "text", text);
    if (service) kv_str(&pk, "service", service);
    return op_finish(c, &sb, op_id, cb, ud);
}
