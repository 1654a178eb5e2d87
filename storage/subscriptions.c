/*
 * subscriptions.c - bot webhook subscriptions: id -> msgpack {from_seq, bot, code, chat
 * (sealed chat_ref, the id as associated data), url, created_at, ended_at, end_reason}, and the
 * index code_subscriptions: code + NUL + id -> empty, for the active ones only.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

static int hex32(const char *s)
{
    if (strlen(s) != 32) return 0;
    for (int i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static int index_key(const char *code, const char *id, uint8_t *key, size_t *len)
{
    size_t n = strlen(code);
    if (n == 0 || n >= 64) return HOSO_EBAD_REQUEST;
    memcpy(key, code, n);
    key[n] = '\0';
    memcpy(key + n + 1, id, 32);
    *len = n + 1 + 32;
    return 0;
}

int hoso_subscription_put(hoso_txn *t, const hoso_subscription *s)
{
    uint8_t key[64 + 33], *chat = NULL;
    size_t klen, chatlen = 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    if (!hex32(s->id) || (rc = index_key(s->code, s->id, key, &klen)) != 0) return HOSO_EBAD_REQUEST;
    if ((rc = hoso_seal(t->s, s->chat_ref, strlen(s->chat_ref), s->id, 32, &chat, &chatlen)) != 0) return rc;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 8) || hoso_pack_kint(&pk, "from_seq", (int64_t)s->from_seq) || hoso_pack_kcstr(&pk, "bot", s->bot) || hoso_pack_kcstr(&pk, "code", s->code) ||
        hoso_pack_kbin(&pk, "chat", chat, chatlen) || hoso_pack_kcstr(&pk, "url", s->callback_url) ||
        hoso_pack_kint(&pk, "created_at", s->created_at) || hoso_pack_kint(&pk, "ended_at", s->ended_at) ||
        hoso_pack_kcstr(&pk, "end_reason", s->end_reason))
        rc = HOSO_ENOMEM;
    if (rc == 0) rc = hoso__put(t, HOSO__DB_SUBSCRIPTIONS, s->id, 32, sb.data, sb.size, 0);
    if (rc == 0) {
        if (s->ended_at == 0)
            rc = hoso__put(t, HOSO__DB_CODE_SUBSCRIPTIONS, key, klen, "", 0, 0);
        else if ((rc = hoso__del(t, HOSO__DB_CODE_SUBSCRIPTIONS, key, klen)) == HOSO_ENOT_FOUND)
            rc = 0;
    }
    msgpack_sbuffer_destroy(&sb);
    free(chat);
    return rc;
}

int hoso_subscription_get(hoso_txn *t, const char *id, hoso_subscription *out)
{
    MDB_val v;
    msgpack_unpacked u;
    int64_t from = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!hex32(id)) return HOSO_ENOT_FOUND;
    if ((rc = hoso__get(t, HOSO__DB_SUBSCRIPTIONS, id, 32, &v)) != 0) return rc;
    msgpack_unpacked_init(&u);
    if ((rc = hoso__unpack(&u, v.mv_data, v.mv_size)) == 0 &&
        (rc = hoso__mint(&u.data, "created_at", 0, &out->created_at)) == 0 &&
        (rc = hoso__mint(&u.data, "ended_at", 0, &out->ended_at)) == 0 &&
        (rc = hoso__mint(&u.data, "from_seq", 0, &from)) == 0) {
        out->from_seq = (uint64_t)from;
        memcpy(out->id, id, 32);
        (void)hoso__mcopy(&u.data, "bot", out->bot, sizeof out->bot);
        (void)hoso__mcopy(&u.data, "code", out->code, sizeof out->code);
        (void)hoso__mcopy(&u.data, "url", out->callback_url, sizeof out->callback_url);
        (void)hoso__mcopy(&u.data, "end_reason", out->end_reason, sizeof out->end_reason);
        const msgpack_object *c = hoso_map_get(&u.data, "chat");
        uint8_t *pt = NULL;
        size_t ptlen = 0;
        if (!c || c->type != MSGPACK_OBJECT_BIN) rc = HOSO_ECORRUPT;
        else if ((rc = hoso_open(t->s, c->via.bin.ptr, c->via.bin.size, id, 32, &pt, &ptlen)) == 0) {
            if (ptlen >= sizeof out->chat_ref) rc = HOSO_ECORRUPT;
            else {
                memcpy(out->chat_ref, pt, ptlen);
                out->chat_ref[ptlen] = '\0';
            }
            sodium_memzero(pt, ptlen);
            free(pt);
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

int hoso_subscription_each_active(hoso_txn *t, const char *code,
                                  int (*fn)(void *ctx, const hoso_subscription *s), void *ctx)
{
    uint8_t key[64 + 33];
    size_t n = strlen(code);
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc, mrc;
    if (n == 0 || n >= 64) return HOSO_EBAD_REQUEST;
    memcpy(key, code, n);
    key[n] = '\0';
    if ((rc = hoso__cursor(t, HOSO__DB_CODE_SUBSCRIPTIONS, &c)) != 0) return rc;
    k.mv_size = n + 1;
    k.mv_data = key;
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        hoso_subscription s;
        char id[33];
        if (k.mv_size != n + 1 + 32 || memcmp(k.mv_data, key, n + 1) != 0) break;
        memcpy(id, (const uint8_t *)k.mv_data + n + 1, 32);
        id[32] = '\0';
        if ((rc = hoso_subscription_get(t, id, &s)) != 0 || (rc = fn(ctx, &s)) != 0) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}
