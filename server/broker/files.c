/*
 * files.c - an officer's upload brought to the node of the dossier it is for.
 *
 * An officer's uploads land on the officer's own node (their account's shard); the
 * result of a dossier (result_files of the move to 9) and the files of an officer's
 * message are recorded by the node of the dossier, which must have them, as one
 * hosod has every file. Before such a request goes to the dossier's node, the staff
 * thread that forwards it copies each file named in it from the officer's node
 * (hoso.file.<shard>, op "get", in pieces) to the dossier's node (op "put"): the same
 * id, owner, name, type, size and sha256, under a key of its own there. A file
 * already there is not copied again; one that is not the officer's, or expired, is
 * not copied at all, and the dossier's node then refuses the request as one hosod
 * does (422 naming the field).
 *
 * The target writes the pieces as an upload's part and records the file after the
 * last one, as an upload that completes: a copy cut short leaves a part that the
 * next start removes (hoso_blobs_tidy), never a half file. The copy is unused until
 * the request that named it records it, and expires as an unused upload does.
 *
 * Threads: the ops run on a small pool of their own (disk and writer waits); the copy
 * runs on the staff thread of the request.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include <nats/nats.h>
#include "internal.h"

#define PIECE (256 * 1024) /* well under nats-server's default max_payload (1 MB) */
#define OP_TIMEOUT_MS 10000
#define FILE_THREADS 2

typedef struct file_op {
    hoso__qitem q;
    char subject[32];
    char *reply;
    void *data;
    size_t len;
} file_op;

static hoso__pool P = HOSO__POOL_INIT;
static natsSubscription *subs[HOSO_CLUSTER_MAX_SHARDS];
static unsigned nsubs;
static int started;

static const msgpack_object *obin(const msgpack_object *m, const char *key)
{
    const msgpack_object *o = hoso_map_get(m, key);
    return o != NULL && o->type == MSGPACK_OBJECT_BIN ? o : NULL;
}

static int valid_id(const char *id)
{
    return strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

static void answer(const char *reply, msgpack_sbuffer *sb)
{
    hoso__signed_publish(reply, sb->data, sb->size);
}

/* A file's bytes cross NATS sealed under a key of the cluster's (every node derives
 * it from secret.key): nonce, then the box. */
static void transit_key(uint8_t key[32])
{
    static const char label[] = "hoso-file-transit-key";
    hoso_store_mac(hoso_server_store(hoso__broker_server()), label, sizeof label - 1, key);
}

static int seal(const uint8_t *pt, size_t n, uint8_t **out, size_t *outn)
{
    uint8_t key[32];
    *outn = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n;
    if ((*out = malloc(*outn)) == NULL)
        return HOSO_ENOMEM;
    randombytes_buf(*out, crypto_secretbox_NONCEBYTES);
    transit_key(key);
    crypto_secretbox_easy(*out + crypto_secretbox_NONCEBYTES, pt, n, *out, key);
    sodium_memzero(key, sizeof key);
    return 0;
}

/* The plain bytes of a sealed piece into a new buffer; BAD_REQUEST when it was not
 * sealed by a node of the cluster. */
static int unseal(const void *in, size_t n, uint8_t **out, size_t *outn)
{
    uint8_t key[32];
    const uint8_t *c = in;
    if (n < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return HOSO_EBAD_REQUEST;
    *outn = n - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    if ((*out = malloc(*outn > 0 ? *outn : 1)) == NULL)
        return HOSO_ENOMEM;
    transit_key(key);
    int bad = crypto_secretbox_open_easy(*out, c + crypto_secretbox_NONCEBYTES, n - crypto_secretbox_NONCEBYTES, c, key);
    sodium_memzero(key, sizeof key);
    if (bad) {
        free(*out);
        *out = NULL;
        return HOSO_EBAD_REQUEST;
    }
    return 0;
}

static void answer_err(const char *reply, const char *state, const char *why)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    hoso_pack_kcstr(&pk, "state", state);
    hoso_pack_kcstr(&pk, "why", why);
    answer(reply, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* ---------------------------------------------------------------------------------- */
/* The officer's node: a piece of one of the officer's files */

static void op_get(const char *reply, const msgpack_object *m)
{
    hoso_store *s = hoso_server_store(hoso__broker_server());
    char id[33], who[33];
    hoso_file f;
    hoso_txn *t = NULL;
    int rc, fd = -1;
    uint64_t off = hoso__map_u64(m, "off");
    if (hoso__map_str(m, "id", id, sizeof id) != 0 || hoso__map_str(m, "who", who, sizeof who) != 0 || !valid_id(id)) {
        answer_err(reply, "bad", "a file request lacks its id or caller");
        return;
    }
    memset(&f, 0, sizeof f);
    if ((rc = hoso_txn_read(s, &t)) == 0) {
        rc = hoso_file_get(t, id, &f);
        hoso_txn_abort(t);
    }
    /* Only the caller's own finished upload, not past its expiry: what the dossier's
     * node would accept. */
    if (rc == HOSO_ENOT_FOUND || (rc == 0 && (strcmp(f.owner, who) != 0 || (f.expires != 0 && f.expires <= hoso_now_ms())))) {
        sodium_memzero(&f, sizeof f);
        answer_err(reply, "none", "no finished upload of the caller's with this id here");
        return;
    }
    if (rc != 0 || off > f.size) {
        sodium_memzero(&f, sizeof f);
        answer_err(reply, "failed", rc != 0 ? hoso_err_message(rc) : "offset past the end");
        return;
    }
    size_t n = f.size - off < PIECE ? (size_t)(f.size - off) : PIECE;
    uint8_t *buf = malloc(n > 0 ? n : 1);
    ssize_t got = -1;
    if (buf != NULL && hoso_blob_open(s, id, &fd) == 0) {
        got = 0;
        while ((size_t)got < n) {
            ssize_t r = hoso_blob_read(fd, &f, off + (uint64_t)got, buf + got, n - (size_t)got);
            if (r <= 0)
                break;
            got += r;
        }
        close(fd);
    }
    if (buf == NULL || got != (ssize_t)n) {
        free(buf);
        sodium_memzero(&f, sizeof f);
        answer_err(reply, "failed", "the file's bytes cannot be read");
        return;
    }
    uint8_t *sealed = NULL;
    size_t sealed_n = 0;
    if (seal(buf, n, &sealed, &sealed_n) != 0) {
        sodium_memzero(buf, n);
        free(buf);
        sodium_memzero(&f, sizeof f);
        answer_err(reply, "failed", "out of memory");
        return;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    hoso_pack_kcstr(&pk, "state", "ok");
    hoso_pack_kcstr(&pk, "owner", f.owner);
    hoso_pack_kint(&pk, "size", (int64_t)f.size);
    hoso_pack_kbin(&pk, "sha256", f.sha256, sizeof f.sha256);
    hoso_pack_kcstr(&pk, "type", f.media_type);
    hoso_pack_kcstr(&pk, "name", f.name);
    hoso_pack_kint(&pk, "created", f.created);
    hoso_pack_kint(&pk, "expires", f.expires);
    hoso_pack_kbin(&pk, "data", sealed, sealed_n);
    answer(reply, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(sealed);
    sodium_memzero(buf, n);
    free(buf);
    sodium_memzero(&f, sizeof f);
}

/* ---------------------------------------------------------------------------------- */
/* The dossier's node: a piece of the copy, and the record after the last */

/* The copy's own key and nonce here, from the node's key and the id: every piece of
 * one copy finds them again, with no state kept between pieces. */
static void copy_key(hoso_store *s, const char *id, uint8_t key[32], uint8_t nonce[24])
{
    char label[64];
    uint8_t mac[32];
    snprintf(label, sizeof label, "hoso-file-copy-key:%s", id);
    hoso_store_mac(s, label, strlen(label), key);
    snprintf(label, sizeof label, "hoso-file-copy-nonce:%s", id);
    hoso_store_mac(s, label, strlen(label), mac);
    memcpy(nonce, mac, 24);
    sodium_memzero(mac, sizeof mac);
}

static int record_apply(hoso_wop *op, hoso_txn *t)
{
    int rc = hoso_file_put(t, op->data);
    if (rc == HOSO_EALREADY_EXISTS)
        return 0; /* copied before */
    return rc != 0 ? hoso_wop_fail(op, rc, "cannot record the file") : 0;
}

static void op_put(const char *reply, const msgpack_object *m)
{
    hoso_store *s = hoso_server_store(hoso__broker_server());
    hoso_upload u;
    hoso_file f;
    const msgpack_object *data = obin(m, "data"), *sha = obin(m, "sha256");
    uint64_t off = hoso__map_u64(m, "off"), size = hoso__map_u64(m, "size");
    hoso_txn *t = NULL;
    int rc;
    memset(&u, 0, sizeof u);
    memset(&f, 0, sizeof f);
    uint8_t *buf = NULL;
    size_t n = 0;
    if (hoso__map_str(m, "id", f.id, sizeof f.id) != 0 || !valid_id(f.id) || hoso__map_str(m, "owner", f.owner, sizeof f.owner) != 0 ||
        data == NULL || sha == NULL || sha->via.bin.size != 32 || size == 0 ||
        hoso__map_str(m, "type", f.media_type, sizeof f.media_type) != 0 || hoso__map_str(m, "name", f.name, sizeof f.name) != 0) {
        answer_err(reply, "bad", "a file piece lacks a field");
        return;
    }
    if (unseal(data->via.bin.ptr, data->via.bin.size, &buf, &n) != 0 || off + n > size) {
        if (buf != NULL)
            sodium_memzero(buf, n);
        free(buf);
        answer_err(reply, "bad", "a file piece not sealed by a node of the cluster, or past the file's end");
        return;
    }
    if (off == 0) {
        /* Here already (copied for an earlier request): nothing to send. */
        hoso_file have;
        if ((rc = hoso_txn_read(s, &t)) == 0) {
            rc = hoso_file_get(t, f.id, &have);
            hoso_txn_abort(t);
            sodium_memzero(&have, sizeof have);
        }
        if (rc == 0) {
            sodium_memzero(buf, n);
            free(buf);
            answer_err(reply, "here", "");
            return;
        }
    }
    snprintf(u.id, sizeof u.id, "%s", f.id);
    copy_key(s, f.id, u.key, u.nonce);
    rc = hoso_blob_write(s, &u, off, buf, n); /* encrypts buf in place */
    free(buf);
    if (rc == 0 && off + n == size) {
        hoso_errinfo ei;
        memset(&ei, 0, sizeof ei);
        f.size = size;
        memcpy(f.sha256, sha->via.bin.ptr, 32);
        f.created = hoso__map_i64(m, "created");
        f.expires = hoso__map_i64(m, "expires");
        memcpy(f.key, u.key, sizeof f.key);
        memcpy(f.nonce, u.nonce, sizeof f.nonce);
        if ((rc = hoso_blob_finish(s, f.id)) == 0 && (rc = hoso_run_job(s, record_apply, &f, hoso_now_ms(), &ei)) == 0)
            hoso_blob_remove(s, f.id, 1); /* the part's name, once the record is in */
    }
    sodium_memzero(&u, sizeof u);
    sodium_memzero(&f, sizeof f);
    if (rc != 0)
        answer_err(reply, "failed", hoso_err_message(rc));
    else
        answer_err(reply, "ok", "");
}

static void *file_main(void *arg)
{
    (void)arg;
    file_op *op;
    while ((op = (file_op *)hoso__pool_take(&P)) != NULL) {
        msgpack_unpacked u;
        size_t off = 0, blen = 0;
        const void *body = NULL;
        char kind[8] = "";
        msgpack_unpacked_init(&u);
        /* Files are asked for and written by nodes of the cluster only. */
        if (hoso__signed_open(op->subject, op->data, op->len, &body, &blen) != 0)
            answer_err(op->reply, "bad", "not signed by a node of the cluster");
        else if (msgpack_unpack_next(&u, body, blen, &off) != MSGPACK_UNPACK_SUCCESS || u.data.type != MSGPACK_OBJECT_MAP ||
                 hoso__map_str(&u.data, "op", kind, sizeof kind) != 0)
            answer_err(op->reply, "bad", "not a file request");
        else if (strcmp(kind, "get") == 0)
            op_get(op->reply, &u.data);
        else if (strcmp(kind, "put") == 0)
            op_put(op->reply, &u.data);
        else
            answer_err(op->reply, "bad", "unknown file op");
        msgpack_unpacked_destroy(&u);
        sodium_memzero(op->data, op->len);
        free(op->data);
        free(op->reply);
        free(op);
    }
    return NULL;
}

static void on_file(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub, (void)closure;
    file_op *op = NULL;
    const char *reply = natsMsg_GetReply(msg);
    int len = natsMsg_GetDataLength(msg);
    if (reply != NULL && len > 0 && (op = calloc(1, sizeof(*op))) != NULL && (op->reply = strdup(reply)) != NULL &&
        (op->data = malloc((size_t)len)) != NULL) {
        memcpy(op->data, natsMsg_GetData(msg), (size_t)len);
        op->len = (size_t)len;
        snprintf(op->subject, sizeof op->subject, "%s", natsMsg_GetSubject(msg));
        if (hoso__pool_put(&P, &op->q) == 0)
            op = NULL;
        else
            answer_err(reply, "failed", "the node is stopping");
    }
    if (op != NULL) {
        free(op->data);
        free(op->reply);
        free(op);
    }
    natsMsg_Destroy(msg);
}

int hoso__files_start(void)
{
    const hoso_cluster_node *me = hoso__broker_me();
    if (hoso__pool_start(&P, FILE_THREADS, file_main, NULL) != 0)
        return HOSO_EINTERNAL;
    started = 1;
    for (unsigned sh = me->first; sh <= me->last; sh++) {
        char subj[32];
        snprintf(subj, sizeof subj, "hoso.file.%u", sh);
        if (natsConnection_Subscribe(&subs[nsubs], hoso__broker_conn(), subj, on_file, NULL) != NATS_OK)
            return HOSO_EINTERNAL;
        natsSubscription_SetPendingLimits(subs[nsubs], -1, 256 * 1024 * 1024);
        nsubs++;
    }
    return 0;
}

void hoso__files_stop(void)
{
    for (unsigned i = 0; i < nsubs; i++)
        natsSubscription_Destroy(subs[i]);
    nsubs = 0;
    if (started)
        hoso__pool_stop(&P);
    started = 0;
}

/* ---------------------------------------------------------------------------------- */
/* The copy (a staff thread) */

/* A request to the node of shard; its answer unpacked into u (state in *state). u
 * points into *reply's bytes: the caller destroys both. */
static int ask(unsigned shard, msgpack_sbuffer *req, natsMsg **reply, msgpack_unpacked *u, char *state, size_t n,
               char *why, size_t whysz)
{
    char subj[32];
    size_t off = 0;
    snprintf(subj, sizeof subj, "hoso.file.%u", shard);
    msgpack_sbuffer signed_;
    msgpack_sbuffer_init(&signed_);
    hoso__signed_wrap(subj, req->data, req->size, &signed_);
    natsStatus s = hoso__request(shard, subj, signed_.data, (int)signed_.size, OP_TIMEOUT_MS, reply);
    sodium_memzero(signed_.data, signed_.size);
    msgpack_sbuffer_destroy(&signed_);
    if (s != NATS_OK) {
        snprintf(why, whysz, "%s", s == NATS_NO_RESPONDERS ? "its node is down" : "its node did not answer in time");
        return HOSO_EUNAVAILABLE;
    }
    const void *body = NULL;
    size_t blen = 0;
    if (hoso__signed_open(natsMsg_GetSubject(*reply), natsMsg_GetData(*reply), (size_t)natsMsg_GetDataLength(*reply), &body,
                          &blen) != 0) {
        snprintf(why, whysz, "an answer no node of the cluster signed");
        return HOSO_EINTERNAL;
    }
    if (msgpack_unpack_next(u, body, blen, &off) != MSGPACK_UNPACK_SUCCESS || u->data.type != MSGPACK_OBJECT_MAP ||
        hoso__map_str(&u->data, "state", state, n) != 0) {
        snprintf(why, whysz, "its node sent an answer hosod cannot read");
        return HOSO_EINTERNAL;
    }
    const msgpack_object *w = hoso_map_get(&u->data, "why");
    if (w != NULL && w->type == MSGPACK_OBJECT_STR)
        snprintf(why, whysz, "%.*s", (int)w->via.str.size, w->via.str.ptr);
    return 0;
}

int hoso__files_copy(unsigned from, unsigned to, const char *who, const char *id, char *why, size_t whysz)
{
    const hoso_cluster *c = hoso__broker_cluster();
    uint64_t off = 0, size = 1;
    crypto_hash_sha256_state st;
    uint8_t want[32], got[32];
    why[0] = '\0';
    if (hoso_cluster_shard_node(c, from) == hoso_cluster_shard_node(c, to) || !valid_id(id))
        return 0; /* the same node, or not an id: the dossier's node says what is wrong */
    crypto_hash_sha256_init(&st);
    while (off < size) {
        msgpack_sbuffer req;
        msgpack_packer pk;
        msgpack_unpacked u;
        char state[16] = "";
        int rc;
        msgpack_sbuffer_init(&req);
        msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4);
        hoso_pack_kcstr(&pk, "op", "get");
        hoso_pack_kcstr(&pk, "id", id);
        hoso_pack_kcstr(&pk, "who", who);
        hoso_pack_kint(&pk, "off", (int64_t)off);
        natsMsg *reply = NULL;
        msgpack_unpacked_init(&u);
        rc = ask(from, &req, &reply, &u, state, sizeof state, why, whysz);
        msgpack_sbuffer_destroy(&req);
        if (rc != 0 || strcmp(state, "ok") != 0) {
            msgpack_unpacked_destroy(&u);
            natsMsg_Destroy(reply);
            if (rc == 0 && strcmp(state, "none") == 0)
                return 0; /* not the caller's: the dossier's node refuses it by name */
            return rc != 0 ? rc : HOSO_EINTERNAL;
        }
        const msgpack_object *data = obin(&u.data, "data"), *sha = obin(&u.data, "sha256");
        char owner[33] = "";
        uint8_t *plain = NULL;
        size_t pn = 0;
        size = hoso__map_u64(&u.data, "size");
        /* Only the caller's own upload is carried, whatever the answer says. */
        if (data == NULL || sha == NULL || sha->via.bin.size != 32 || hoso__map_str(&u.data, "owner", owner, sizeof owner) != 0 ||
            strcmp(owner, who) != 0 || unseal(data->via.bin.ptr, data->via.bin.size, &plain, &pn) != 0 || pn == 0 ||
            off + pn > size) {
            free(plain);
            msgpack_unpacked_destroy(&u);
            natsMsg_Destroy(reply);
            snprintf(why, whysz, "its node sent a piece hosod cannot use");
            return HOSO_EINTERNAL;
        }
        memcpy(want, sha->via.bin.ptr, 32);
        crypto_hash_sha256_update(&st, plain, pn);
        sodium_memzero(plain, pn);
        free(plain);
        if (off + pn == size) {
            crypto_hash_sha256_final(&st, got);
            if (sodium_memcmp(got, want, 32) != 0) {
                msgpack_unpacked_destroy(&u);
                natsMsg_Destroy(reply);
                snprintf(why, whysz, "its bytes do not match their sha256");
                return HOSO_EINTERNAL;
            }
        }
        /* The piece as it came, to the dossier's node. */
        const char *keep[] = {"owner", "size", "sha256", "type", "name", "created", "expires", "data"};
        msgpack_sbuffer_init(&req);
        msgpack_packer_init(&pk, &req, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3 + 8);
        hoso_pack_kcstr(&pk, "op", "put");
        hoso_pack_kcstr(&pk, "id", id);
        hoso_pack_kint(&pk, "off", (int64_t)off);
        for (size_t k = 0; k < 8; k++) {
            const msgpack_object *o = hoso_map_get(&u.data, keep[k]);
            hoso_pack_cstr(&pk, keep[k]);
            if (o != NULL)
                msgpack_pack_object(&pk, *o);
            else
                msgpack_pack_nil(&pk);
        }
        off += pn;
        msgpack_unpacked_destroy(&u);
        natsMsg_Destroy(reply);
        reply = NULL;
        msgpack_unpacked_init(&u);
        rc = ask(to, &req, &reply, &u, state, sizeof state, why, whysz);
        sodium_memzero(req.data, req.size);
        msgpack_sbuffer_destroy(&req);
        msgpack_unpacked_destroy(&u);
        natsMsg_Destroy(reply);
        if (rc != 0)
            return rc;
        if (strcmp(state, "here") == 0)
            return 0;
        if (strcmp(state, "ok") != 0)
            return HOSO_EINTERNAL;
    }
    return 0;
}
