/*
 * messages.c - the thread of a dossier (see hoso_storage.h): code \0 seq BE64 ->
 * sealed {from, by, text, at}, the key as associated data, so a value cannot be moved
 * to another dossier or position. The next seq is found from the last key of the code.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define CODE_MAX 80
#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000

static int message_key(const char *code, size_t clen, uint64_t seq, uint8_t *key, size_t *klen)
{
    if (clen == 0 || clen > CODE_MAX || memchr(code, '\0', clen) != NULL) return HOSO_EBAD_REQUEST;
    memcpy(key, code, clen);
    key[clen] = '\0';
    hoso_be64_put(key + clen + 1, seq);
    *klen = clen + 1 + 8;
    return 0;
}

static int pack_files(msgpack_packer *pk, const hoso_str *files)
{
    if (files->ptr == NULL || files->len == 0) return msgpack_pack_array(pk, 0);
    return pk->callback(pk->data, files->ptr, files->len); /* already an array, as stored */
}

int hoso_message_encode(msgpack_packer *pk, const hoso_message *m)
{
    return msgpack_pack_map(pk, 6) || hoso_pack_kstr(pk, "code", &m->code) ||
                   hoso_pack_kint(pk, "seq", (int64_t)m->seq) || hoso_pack_kcstr(pk, "from", m->from) ||
                   hoso_pack_kstr(pk, "text", &m->text) || hoso_pack_cstr(pk, "files") || pack_files(pk, &m->files) ||
                   hoso_pack_kint(pk, "at", m->at)
               ? HOSO_ENOMEM
               : 0;
}

/* The last seq of code (0 when it has no message). */
static int last_seq(hoso_txn *t, const hoso_str *code, uint64_t *seq)
{
    uint8_t key[CODE_MAX + 9];
    size_t klen;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rc, mrc;
    *seq = 0;
    if ((rc = message_key(code->ptr, code->len, UINT64_MAX, key, &klen)) != 0) return rc;
    if ((rc = hoso__cursor(t, HOSO__DB_MESSAGES, &c)) != 0) return rc;
    k = (MDB_val){klen, key};
    mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    mrc = mrc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mrc == MDB_NOTFOUND ? mdb_cursor_get(c, &k, &v, MDB_LAST)
                                                                                : mrc;
    if (mrc == 0 && k.mv_size == klen && memcmp(k.mv_data, key, klen - 8) == 0)
        *seq = hoso_be64_get((const uint8_t *)k.mv_data + klen - 8);
    else if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = hoso__mdb_err(mrc);
    mdb_cursor_close(c);
    return rc;
}

int hoso_message_put(hoso_txn *t, hoso_message *m)
{
    uint8_t key[CODE_MAX + 9], *sealed = NULL;
    size_t klen, slen = 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint64_t seq;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    rc = HOSO_EBAD_REQUEST;
    if (m->from == NULL || (strcmp(m->from, "citizen") != 0 && strcmp(m->from, "officer") != 0) || !m->code.ptr)
        goto Exit;
    if ((rc = last_seq(t, &m->code, &seq)) != 0 || (rc = message_key(m->code.ptr, m->code.len, seq + 1, key, &klen)) != 0)
        goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 5) || hoso_pack_kcstr(&pk, "from", m->from) || hoso_pack_kstr(&pk, "by", &m->by) ||
        hoso_pack_kstr(&pk, "text", &m->text) || hoso_pack_kint(&pk, "at", m->at) || hoso_pack_cstr(&pk, "files") ||
        pack_files(&pk, &m->files))
        goto Exit;
    if ((rc = hoso_seal(t->s, sb.data, sb.size, key, klen, &sealed, &slen)) != 0) goto Exit;
    if ((rc = hoso__put(t, HOSO__DB_MESSAGES, key, klen, sealed, slen, MDB_NOOVERWRITE)) != 0) goto Exit;
    m->seq = seq + 1;
Exit:
    if (sb.data) sodium_memzero(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    free(sealed);
    return rc;
}

/* One stored value into m (strings in u, valid until it is destroyed). */
static int decode(const msgpack_object *o, hoso_message *m)
{
    const msgpack_object *from = hoso_map_get(o, "from"), *by = hoso_map_get(o, "by"),
                         *text = hoso_map_get(o, "text");
    if (!from || from->type != MSGPACK_OBJECT_STR || !text || text->type != MSGPACK_OBJECT_STR) return HOSO_ECORRUPT;
    m->from = from->via.str.size == 7 && memcmp(from->via.str.ptr, "citizen", 7) == 0 ? "citizen" : "officer";
    m->text = (hoso_str){text->via.str.ptr, text->via.str.size};
    m->by = by && by->type == MSGPACK_OBJECT_STR ? (hoso_str){by->via.str.ptr, by->via.str.size} : (hoso_str){"", 0};
    return hoso__mint(o, "at", 0, &m->at);
}

/* The stored "files" array back to msgpack bytes (into sb, which m->files points at). */
static int repack_files(const msgpack_object *o, msgpack_sbuffer *sb, hoso_message *m)
{
    const msgpack_object *f = hoso_map_get(o, "files");
    msgpack_packer pk;
    sb->size = 0;
    m->files = (hoso_str){NULL, 0};
    if (f == NULL || f->type != MSGPACK_OBJECT_ARRAY || f->via.array.size == 0) return 0;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *f)) return HOSO_ENOMEM;
    m->files = (hoso_str){sb->data, sb->size};
    return 0;
}

int hoso_message_list(hoso_txn *t, const char *code, uint64_t after, unsigned limit,
                      int (*fn)(void *ctx, const hoso_message *m), void *ctx, int *more)
{
    uint8_t key[CODE_MAX + 9];
    size_t klen, clen = strlen(code);
    MDB_cursor *c = NULL;
    MDB_val k, v;
    unsigned n = 0;
    msgpack_sbuffer files;
    int rc, mrc;
    if (more) *more = 0;
    if (limit == 0) limit = DEFAULT_LIMIT;
    if (limit > MAX_LIMIT) limit = MAX_LIMIT;
    if (after == UINT64_MAX) return 0;
    if ((rc = message_key(code, clen, after + 1, key, &klen)) != 0) return rc;
    if ((rc = hoso__cursor(t, HOSO__DB_MESSAGES, &c)) != 0) return rc;
    msgpack_sbuffer_init(&files);
    k = (MDB_val){klen, key};
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != klen || memcmp(k.mv_data, key, clen + 1) != 0) break;
        if (n == limit) {
            if (more) *more = 1;
            break;
        }
        uint8_t *pt = NULL;
        size_t ptlen = 0;
        msgpack_unpacked u;
        hoso_message m;
        n++;
        if ((rc = hoso_open(t->s, v.mv_data, v.mv_size, k.mv_data, k.mv_size, &pt, &ptlen)) != 0) break;
        memset(&m, 0, sizeof m);
        m.code = (hoso_str){code, clen};
        m.seq = hoso_be64_get((const uint8_t *)k.mv_data + clen + 1);
        if ((rc = hoso__unpack(&u, pt, ptlen)) == 0 && (rc = decode(&u.data, &m)) == 0 &&
            (rc = repack_files(&u.data, &files, &m)) == 0)
            rc = fn(ctx, &m);
        msgpack_unpacked_destroy(&u);
        sodium_memzero(pt, ptlen);
        free(pt);
        if (rc) break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND) rc = hoso__mdb_err(mrc);
    msgpack_sbuffer_destroy(&files);
    mdb_cursor_close(c);
    return rc;
}
