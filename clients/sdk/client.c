/*
 * client.c - the client's lifetime (new/free), its base URL, the session and feed
 * position kept in the store, and the helpers that run the loop for tools.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "internal.h"

static int parse_url(hoso_client *c, const char *url)
{
    const char *p;
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "ws://", 5) == 0) {
        c->tls = 0;
        c->port = 80;
    } else if (strncmp(url, "https://", 8) == 0 || strncmp(url, "wss://", 6) == 0) {
        c->tls = 1;
        c->port = 443;
    } else {
        return HOSO_EBAD_REQUEST;
    }
    p = strstr(url, "://") + 3;
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof(c->host)) return HOSO_EBAD_REQUEST;
    memcpy(c->host, p, hl);
    c->host[hl] = 0;
    p += hl;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535) return HOSO_EBAD_REQUEST;
        c->port = (int)port;
        p = end;
    }
    if (*p && *p != '/') return HOSO_EBAD_REQUEST;
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/') pl--;
    if (pl >= sizeof(c->prefix)) return HOSO_EBAD_REQUEST;
    memcpy(c->prefix, p, pl);
    c->prefix[pl] = 0;
    return 0;
}

static void load_state(hoso_client *c)
{
    char seq[32];
    hoso__store_meta_get(&c->store, "token", c->token, sizeof(c->token));
    hoso__store_meta_get(&c->store, "account", c->account_id, sizeof(c->account_id));
    hoso__store_meta_get(&c->store, "role", c->role, sizeof(c->role));
    hoso__store_meta_get(&c->store, "epoch", c->epoch, sizeof(c->epoch));
    hoso__store_meta_get(&c->store, "seq", seq, sizeof(seq));
    c->last_seq = strtoull(seq, NULL, 10);
}

int hoso_client_new(hoso_client **out, uv_loop_t *loop, const hoso_client_options *opt,
                    const hoso_client_callbacks *cbs)
{
    int rc;
    *out = NULL;
    if (!loop || !opt || !opt->base_url || !opt->state_dir) return HOSO_EBAD_REQUEST;
    hoso_client *c = calloc(1, sizeof(*c));
    if (!c) return HOSO_ENOMEM;
    c->loop = loop;
    if (cbs) c->cbs = *cbs;
    c->opt = *opt;
    c->opt.base_url = NULL; /* not kept: the caller's string */
    c->opt.state_dir = NULL;
    c->opt.ca_file = NULL;
    if (opt->ca_file != NULL && snprintf(c->ca_file, sizeof(c->ca_file), "%s", opt->ca_file) >= (int)sizeof(c->ca_file)) {
        free(c);
        return HOSO_EBAD_REQUEST;
    }
    if (snprintf(c->state_dir, sizeof(c->state_dir), "%s", opt->state_dir) >= (int)sizeof(c->state_dir)) {
        free(c);
        return HOSO_EBAD_REQUEST;
    }
    if (!c->opt.request_timeout_ms) c->opt.request_timeout_ms = 15000;
    if (!c->opt.batch_size) c->opt.batch_size = 50;
    if (c->opt.batch_size > 500) c->opt.batch_size = 500;
    if (!c->opt.backoff_min_ms) c->opt.backoff_min_ms = 500;
    if (!c->opt.backoff_max_ms) c->opt.backoff_max_ms = 30000;
    if ((rc = parse_url(c, opt->base_url))) goto Exit;
    if ((rc = hoso__store_open(&c->store, opt->state_dir))) goto Exit;
    load_state(c);
    if ((rc = hoso__lws_init(c))) goto Exit;
    uv_timer_init(loop, &c->flush_timer);
    c->flush_timer.data = c;
    c->open_handles++;
Exit:
    if (rc) {
        hoso__store_close(&c->store);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    hoso_client *c = h->data;
    c->open_handles--;
}

void hoso_client_free(hoso_client *c)
{
    if (!c) return;
    c->freeing = 1;
    hoso_client_push_stop(c);
    hoso__outbox_cancel(c);
    hoso__http_drop_all(c);
    uv_close((uv_handle_t *)&c->flush_timer, on_handle_closed);
    /* Let the cancelled requests run their callbacks and close their timers. */
    uint64_t deadline = uv_now(c->loop) + 2000;
    for (int i = 0; i < 100000 && c->open_handles > 0 && uv_now(c->loop) < deadline; i++) {
        uv_run(c->loop, UV_RUN_NOWAIT);
        uv_update_time(c->loop);
    }
    hoso__lws_destroy(c);
    hoso__store_close(&c->store);
    free(c);
}

const char *hoso_client_token(const hoso_client *c)
{
    return c->token[0] ? c->token : NULL;
}
const char *hoso_client_account_id(const hoso_client *c)
{
    return c->account_id;
}
const char *hoso_client_role(const hoso_client *c)
{
    return c->role;
}
uint64_t hoso_client_last_seq(const hoso_client *c)
{
    return c->last_seq;
}
const char *hoso_client_epoch(const hoso_client *c)
{
    return c->epoch;
}
size_t hoso_client_outbox_len(hoso_client *c)
{
    return hoso__store_outbox_count(&c->store);
}

void hoso__set_seq(hoso_client *c, uint64_t seq)
{
    char buf[32];
    c->last_seq = seq;
    snprintf(buf, sizeof(buf), "%" PRIu64, seq);
    hoso__store_meta_put(&c->store, "seq", buf);
}

void hoso__set_epoch(hoso_client *c, const char *epoch)
{
    if (strcmp(c->epoch, epoch) == 0) return;
    snprintf(c->epoch, sizeof(c->epoch), "%s", epoch);
    hoso__store_meta_put(&c->store, "epoch", c->epoch);
}

unsigned hoso__backoff_ms(const hoso_client *c, unsigned attempt)
{
    uint64_t d = c->opt.backoff_min_ms;
    for (unsigned i = 0; i < attempt && d < c->opt.backoff_max_ms; i++) d *= 2;
    if (d > c->opt.backoff_max_ms) d = c->opt.backoff_max_ms;
    /* +-20 % so that many phones coming back together do not retry in step. */
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r)) r = (uint32_t)uv_hrtime();
    double f = 0.8 + 0.4 * ((double)r / 4294967295.0);
    return (unsigned)((double)d * f);
}

void hoso__make_op_id(char out[HOSO__OPID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[HOSO__OPID_LEN / 2];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* Never fails for 16 bytes once the pool is ready; keep ids unique anyway. */
        uint64_t t = uv_hrtime();
        for (size_t i = 0; i < sizeof(b); i++) b[i] ^= (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)i;
    }
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[HOSO__OPID_LEN] = 0;
}

static void on_run_timeout(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

int hoso_client_run_until(hoso_client *c, const int *done, unsigned timeout_ms)
{
    uv_timer_t t;
    int timed_out = 0;
    uv_timer_init(c->loop, &t);
    t.data = &timed_out;
    if (timeout_ms) uv_timer_start(&t, on_run_timeout, timeout_ms, 0);
    /* uv_run returns 0 once nothing is left that could set *done: stop then too. */
    while (!*done && !timed_out)
        if (!uv_run(c->loop, UV_RUN_ONCE) && !*done) break;
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(c->loop, UV_RUN_NOWAIT); /* runs the close callback: t lives on this stack */
    return *done ? 0 : HOSO_EUNAVAILABLE;
}

void hoso_client_run_for(hoso_client *c, unsigned ms)
{
    int never = 0;
    hoso_client_run_until(c, &never, ms ? ms : 1);
}

int hoso_client_cached_dossier(hoso_client *c, const char *code, void **buf, size_t *len)
{
    return hoso__store_dossier_get(&c->store, code, buf, len);
}

int hoso_client_cached_each(hoso_client *c, void (*fn)(const void *buf, size_t len, void *ud), void *ud)
{
    return hoso__store_dossier_each(&c->store, fn, ud);
}

void hoso_client_drop_connections(hoso_client *c)
{
    hoso__http_drop_all(c);
    hoso__push_drop(c);
}
