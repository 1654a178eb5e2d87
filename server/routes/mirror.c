/*
 * mirror.c - the portal mirror's status and its dead letters, for operators:
 * GET /v1/admin/mirror and POST /v1/admin/mirror/retry (admin only).
 */
#include <stdio.h>
#include <string.h>
#include "consumers/consumers.h"
#include "routes.h"

#define MAX_LISTED 100

typedef struct listing {
    msgpack_packer *pk;
    size_t dead, waiting, listed;
    int pass; /* 0: count, 1: pack */
} listing;

static int each_delivery(void *ctx, const hoso_delivery *d)
{
    listing *l = ctx;
    if (l->pass == 0) {
        if (d->dead)
            l->dead++;
        else
            l->waiting++;
        return 0;
    }
    if (!d->dead)
        return 0;
    if (l->listed++ == MAX_LISTED)
        return 1;
    if (msgpack_pack_map(l->pk, 4) || hoso_pack_kint(l->pk, "seq", (int64_t)d->seq) ||
        hoso_pack_kcstr(l->pk, "code", d->code) || hoso_pack_kcstr(l->pk, "reason", d->reason) ||
        hoso_pack_kint(l->pk, "at", d->at))
        return HOSO_ENOMEM;
    return 0;
}

int hoso_route_mirror_status(hoso_req *r)
{
    hoso_consumer_status st;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    listing l = {&pk, 0, 0, 0, 0};
    int rc;

    hoso_engine_status(hoso_engine_get(), "portal", &st);
    if ((rc = hoso_delivery_scan(r->rtxn, "portal", 0, 0, each_delivery, &l)) != 0)
        return hoso_fail(&r->err, rc, "cannot read the dead letters");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = msgpack_pack_map(&pk, 13) || hoso_pack_cstr(&pk, "on") ||
         (st.on ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) ||
         hoso_pack_kint(&pk, "cursor", (int64_t)st.cursor) || hoso_pack_kint(&pk, "head", (int64_t)st.head) ||
         hoso_pack_kint(&pk, "lag_events", (int64_t)st.lag_events) ||
         hoso_pack_cstr(&pk, "lag_seconds") || msgpack_pack_double(&pk, (double)st.lag_ms / 1e3) ||
         hoso_pack_kint(&pk, "in_flight", st.inflight) || hoso_pack_kint(&pk, "sent", (int64_t)st.sent) ||
         hoso_pack_kint(&pk, "retried", (int64_t)st.retried) ||
         hoso_pack_kint(&pk, "session_renewals", (int64_t)st.renewals) ||
         hoso_pack_kint(&pk, "dead_letter_count", (int64_t)l.dead) ||
         hoso_pack_kint(&pk, "waiting_behind", (int64_t)l.waiting) || hoso_pack_cstr(&pk, "last_error") ||
         (st.last_error_at ? (msgpack_pack_map(&pk, 2) || hoso_pack_kcstr(&pk, "message", st.last_error) ||
                              hoso_pack_kint(&pk, "at", st.last_error_at))
                           : msgpack_pack_nil(&pk)) ||
         hoso_pack_cstr(&pk, "dead_letters") || msgpack_pack_array(&pk, l.dead < MAX_LISTED ? l.dead : MAX_LISTED);
    if (rc == 0) {
        l.pass = 1;
        rc = hoso_delivery_scan(r->rtxn, "portal", 0, 0, each_delivery, &l);
        if (rc == 1)
            rc = 0;
    }
    if (rc != 0) {
        msgpack_sbuffer_destroy(&sb);
        return hoso_fail(&r->err, rc < 0 ? rc : HOSO_ENOMEM, "cannot build the mirror status");
    }
    hoso_reply(r, 200, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

int hoso_route_mirror_retry(hoso_req *r)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    if (hoso_engine_retry(hoso_engine_get(), "portal") != 0)
        return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "the portal mirror is off (start hosod with --portal-url ...)");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_kcstr(&pk, "status", "queued");
    hoso_reply(r, 202, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
