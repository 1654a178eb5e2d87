/*
 * mirror.c - the delivery engine's consumers as operators see them: GET
 * /v1/admin/mirror and POST /v1/admin/mirror/retry (admin only). The portal mirror by
 * default; ?consumer=webhooks shows the bot webhooks the same way.
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

/* ?consumer=portal (default) or webhooks; NULL with r->err set for anything else. */
static const char *consumer_of(hoso_req *r)
{
    char buf[32];
    const char *c = hoso_req_query(r, "consumer", buf, sizeof buf);
    if (c == NULL || strcmp(c, "portal") == 0)
        return "portal";
    if (strcmp(c, "webhooks") == 0)
        return "webhooks";
    hoso_fail_field(&r->err, "consumer", "must be portal or webhooks");
    return NULL;
}

int hoso_route_mirror_status(hoso_req *r)
{
    hoso_consumer_status st;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    listing l = {&pk, 0, 0, 0, 0};
    int rc;
    const char *name = consumer_of(r);

    if (name == NULL)
        return HOSO_EVALIDATION_FAILED;
    hoso_engine_status(hoso_engine_get(), name, &st);
    if ((rc = hoso_delivery_scan(r->rtxn, name, 0, 0, each_delivery, &l)) != 0)
        return hoso_fail(&r->err, rc, "cannot read the dead letters");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* In cluster mode: whether this node is the one delivering (its lease); the
     * counters are this node's, the dead letters those it set aside. */
    rc = msgpack_pack_map(&pk, 13 + (st.cluster ? 1 : 0)) || hoso_pack_cstr(&pk, "on") ||
         (st.on ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) ||
         (st.cluster && (hoso_pack_cstr(&pk, "lease_held") ||
                         (st.held ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)))) ||
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
        rc = hoso_delivery_scan(r->rtxn, name, 0, 0, each_delivery, &l);
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
    const char *name = consumer_of(r);
    if (name == NULL)
        return HOSO_EVALIDATION_FAILED;
    if (hoso_engine_retry(hoso_engine_get(), name) != 0)
        return hoso_fail(&r->err, HOSO_EUNAVAILABLE, "the portal mirror is off (start hosod with --portal-url ...)");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_kcstr(&pk, "status", "queued");
    hoso_reply(r, 202, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
