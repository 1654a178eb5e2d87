/*
 * events.c - owner feeds: feed (owner + seq BE64 -> event body), feed_head (owner ->
 * last seq), written together with the global log entry in one transaction.
 *
 * The feed value is sealed (ad = its key): the body carries the wire dossier, form
 * and papers included, which must not rest in the clear. Readers get the plaintext.
 *
 * Retention: each append trims the owner's oldest entries by the store's limits
 * (feed.c); a cursor before the first retained entry, or from the future (since >
 * head, e.g. from another data dir), is CURSOR_EXPIRED.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000

static const char *const TYPE_NAMES[] = {
    NULL, "dossier.created", "dossier.status", "dossier.updated", "paper.added", "message", "dossier.overdue",
};

const char *hoso_event_type_name(hoso_event_type t)
{
    return t >= HOSO_EV_DOSSIER_CREATED && t <= HOSO_EV_LAST ? TYPE_NAMES[t] : "?";
}

int hoso_feed_head(hoso_txn *t, const char *owner, uint64_t *head)
{
    uint64_t first;
    return hoso__feed_head_get(t, owner, head, &first);
}

/* {seq, at, type, dossier}, or {seq, at, type, paper} for a paper event, or {seq, at,
 * type, message} for a message. */
static int pack_body(msgpack_sbuffer *sb, uint64_t seq, int64_t at, hoso_event_type type, const hoso_dossier *d,
                     const hoso_paper *p, const hoso_message *m)
{
    msgpack_packer pk;
    int rc;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 4) || hoso_pack_kint(&pk, "seq", (int64_t)seq) || hoso_pack_kint(&pk, "at", at) ||
        hoso_pack_kcstr(&pk, "type", hoso_event_type_name(type)) ||
        hoso_pack_cstr(&pk, m ? "message" : p ? "paper" : "dossier"))
        return HOSO_ENOMEM;
    if (m)
        rc = hoso_message_encode(&pk, m);
    else if (p)
        rc = hoso_paper_encode(&pk, p);
    else if (d)
        rc = hoso_dossier_encode(&pk, d);
    else
        return msgpack_pack_nil(&pk) ? HOSO_ENOMEM : 0;
    return rc == 0 ? 0 : rc < 0 && rc > -HOSO__ERR_COUNT ? rc : HOSO_ENOMEM;
}

static int append(hoso_txn *t, const char *owner, const char *agency, hoso_event_type type, int64_t at,
                  const hoso_dossier *d, const hoso_paper *p, const hoso_message *m, uint64_t *seq_out)
{
    msgpack_sbuffer sb;
    uint8_t key[HOSO__ID_HEX + 8];
    uint64_t seq = 0, first = 1, gseq = 0;
    uint8_t *sealed = NULL;
    size_t slen = 0;
    hoso_event ev;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    rc = HOSO_EBAD_REQUEST;
    if (!agency) agency = "";
    if (strlen(agency) >= sizeof ev.agency || type < HOSO_EV_DOSSIER_CREATED || type > HOSO_EV_LAST) goto Exit;
    if ((rc = hoso__feed_head_get(t, owner, &seq, &first)) != 0) goto Exit;
    seq++;
    if ((rc = pack_body(&sb, seq, at, type, d, p, m)) != 0) goto Exit;
    memcpy(key, owner, HOSO__ID_HEX);
    hoso_be64_put(key + HOSO__ID_HEX, seq);
    if ((rc = hoso_seal(t->s, sb.data, sb.size, key, sizeof key, &sealed, &slen)) != 0) goto Exit;
    if ((rc = hoso__put(t, HOSO__DB_FEED, key, sizeof key, sealed, slen, 0)) != 0 ||
        (rc = hoso__feed_trim(t, owner, seq, at, &first, NULL)) != 0 ||
        (rc = hoso__feed_head_put(t, owner, seq, first)) != 0 ||
        (rc = hoso__log_append(t, owner, agency, type, at, d, m ? m->seq : 0, &gseq)) != 0)
        goto Exit;

    memset(&ev, 0, sizeof ev);
    ev.gseq = gseq;
    ev.seq = seq;
    memcpy(ev.owner, owner, HOSO__ID_HEX);
    strcpy(ev.agency, agency);
    ev.type = type;
    ev.at = at;
    ev.body_len = sb.size;
    /* The sbuffer's memory becomes the event body. */
    ev.body = (uint8_t *)msgpack_sbuffer_release(&sb);
    if (!ev.body && (ev.body = malloc(1)) == NULL) {
        rc = hoso__fail(t, HOSO_ENOMEM);
        goto Exit;
    }
    if ((rc = hoso__txn_add_event(t, &ev)) != 0) goto Exit;
    if (seq_out) *seq_out = seq;
Exit:
    free(sealed);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_event_append(hoso_txn *t, const char *owner, const char *agency, hoso_event_type type,
                      int64_t at, const hoso_dossier *d, uint64_t *seq_out)
{
    return append(t, owner, agency, type, at, d, NULL, NULL, seq_out);
}

int hoso_event_append_message(hoso_txn *t, const hoso_dossier *d, int64_t at, const hoso_message *m,
                              uint64_t *seq_out)
{
    if (!d || !m || !d->owner.ptr) return HOSO_EBAD_REQUEST;
    return append(t, d->owner.ptr, d->agency.ptr, HOSO_EV_MESSAGE, at, d, NULL, m, seq_out);
}

int hoso_event_append_paper(hoso_txn *t, const char *owner, int64_t at, const hoso_paper *p, uint64_t *seq_out)
{
    if (!p) return HOSO_EBAD_REQUEST;
    return append(t, owner, "", HOSO_EV_PAPER_ADDED, at, NULL, p, NULL, seq_out);
}

int hoso_feed_read(hoso_txn *t, const char *owner, uint64_t since, unsigned limit,
                   int (*fn)(void *ctx, uint64_t seq, const void *body, size_t len), void *ctx,
                   int *more)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint8_t key[HOSO__ID_HEX + 8];
    uint64_t head = 0, first = 1;
    unsigned n = 0;
    int rc, mrc;
    if (more) *more = 0;
    if ((rc = hoso__feed_head_get(t, owner, &head, &first)) != 0) return rc;
    if (since > head || since + 1 < first) return HOSO_ECURSOR_EXPIRED;
    if (since == head) return 0;
    if (limit == 0) limit = DEFAULT_LIMIT;
    if (limit > MAX_LIMIT) limit = MAX_LIMIT;
    memcpy(key, owner, HOSO__ID_HEX);
    hoso_be64_put(key + HOSO__ID_HEX, since + 1);
    if ((rc = hoso__cursor(t, HOSO__DB_FEED, &c)) != 0) return rc;
    k = (MDB_val){sizeof key, key};
    for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != sizeof key || memcmp(k.mv_data, owner, HOSO__ID_HEX) != 0) break;
        if (n == limit) {
            if (more) *more = 1;
            break;
        }
        uint8_t *body = NULL;
        size_t blen = 0;
        n++;
        if ((rc = hoso_open(t->s, v.mv_data, v.mv_size, k.mv_data, k.mv_size, &body, &blen)) != 0) goto Exit;
        rc = fn(ctx, hoso_be64_get((const uint8_t *)k.mv_data + HOSO__ID_HEX), body, blen);
        free(body);
        if (rc) goto Exit;
    }
    rc = mrc == 0 || mrc == MDB_NOTFOUND ? 0 : hoso__mdb_err(mrc);
Exit:
    mdb_cursor_close(c);
    return rc;
}
