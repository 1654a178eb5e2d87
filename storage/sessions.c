/*
 * sessions.c - sessions table: BLAKE2b-256(token) -> {account, expires_at}. The token
 * itself is never stored, so a copy of the data dir cannot be used to log in.
 */
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define TOKEN_BYTES 32

static void token_key(const char *token, uint8_t key[32])
{
    crypto_generichash(key, 32, (const uint8_t *)token, strlen(token), NULL, 0);
}

int hoso_session_create_prefixed(hoso_txn *t, const char *account, int64_t expires_at, const char *prefix,
                                 char token_out[64])
{
    uint8_t raw[TOKEN_BYTES], key[32];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t plen = strlen(prefix);
    int rc;
    token_out[0] = '\0';
    if (plen > 15) return HOSO_EBAD_REQUEST;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    randombytes_buf(raw, sizeof raw);
    memcpy(token_out, prefix, plen);
    sodium_bin2base64(token_out + plen, 64 - plen, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    token_key(token_out, key);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 2) || hoso_pack_kcstr(&pk, "account", account) ||
        hoso_pack_kint(&pk, "expires_at", expires_at))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_SESSIONS, key, sizeof key, sb.data, sb.size, 0);
Exit:
    if (rc) token_out[0] = '\0';
    sodium_memzero(raw, sizeof raw);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_session_create(hoso_txn *t, const char *account, int64_t expires_at, char token_out[48])
{
    char tok[64];
    int rc = hoso_session_create_prefixed(t, account, expires_at, "", tok);
    memcpy(token_out, tok, 48);
    token_out[47] = '\0';
    sodium_memzero(tok, sizeof tok);
    return rc;
}

int hoso_session_get(hoso_txn *t, const char *token, int64_t now_ms, hoso_session *out)
{
    uint8_t key[32];
    msgpack_unpacked u;
    MDB_val v;
    int rc;
    msgpack_unpacked_init(&u);
    memset(out, 0, sizeof *out);
    token_key(token, key);
    rc = hoso__get(t, HOSO__DB_SESSIONS, key, sizeof key, &v);
    if (rc == HOSO_ENOT_FOUND) rc = HOSO_EUNAUTHORIZED;
    if (rc) goto Exit;
    msgpack_unpacked_destroy(&u);
    if ((rc = hoso__unpack(&u, v.mv_data, v.mv_size)) != 0) goto Exit;
    const msgpack_object *acc = hoso_map_get(&u.data, "account");
    if ((rc = hoso__mint(&u.data, "expires_at", 0, &out->expires_at)) != 0) goto Exit;
    if (!acc || acc->type != MSGPACK_OBJECT_STR || acc->via.str.size >= sizeof out->account) {
        rc = HOSO_ECORRUPT;
        goto Exit;
    }
    memcpy(out->account, acc->via.str.ptr, acc->via.str.size);
    out->account[acc->via.str.size] = '\0';
    if (out->expires_at <= now_ms) {
        memset(out, 0, sizeof *out);
        rc = HOSO_EUNAUTHORIZED;
    }
Exit:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int hoso_session_delete(hoso_txn *t, const char *token)
{
    uint8_t key[32];
    token_key(token, key);
    int rc = hoso__del(t, HOSO__DB_SESSIONS, key, sizeof key);
    return rc == HOSO_ENOT_FOUND ? 0 : rc;
}
