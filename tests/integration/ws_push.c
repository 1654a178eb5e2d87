/*
 * ws_push.c - the live push channel, GET /v1/ws, against a real hosod: subscribe and
 * live events, replay after `since`, JSON text frames, expired cursors, agency
 * streams and their authorization, unauthorized clients, hostile frames, pings and
 * the idle close, metrics, and a stop with connections open.
 */
#include "hoso_test.h"
#include "ws.h"

typedef ht_world world;
#define world_start ht_world_start
#define world_stop ht_world_stop

/* Moves code to `to` as the officer; fails unless 200. */
static void move(world *w, const char *code, int to)
{
    ht_resp r;
    ht_transition(&w->c, &w->off, code, to, -1, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
}

static void expect_event(ht_ws *ws, long long seq, const char *event)
{
    json_t *e = ht_ws_expect(ws, "event", 10000);
    if (ht_jint(e, "seq") != seq || (event && strcmp(ht_jstr(e, "event") ? ht_jstr(e, "event") : "", event) != 0))
        ht_fail("expected event seq %lld %s, got %s", seq, event ? event : "", ht_dump(e));
    EXPECT(ht_jint(e, "at") > 0);
    json_decref(e);
}

/* The citizen's feed head, from a subscription with a cursor far ahead. */
static long long head_of(world *w)
{
    ht_ws ws;
    json_t *sub = ht_ws_open_subscribed(&ws, w->s.port, w->cit.token, 1LL << 40);
    long long h = ht_jint(sub, "head");
    json_decref(sub);
    ht_ws_close(&ws);
    return h;
}

/* Skips the replayed events up to seq `upto`, checking their order. */
static void skip_to(ht_ws *ws, long long upto)
{
    for (long long s = 1; s <= upto; s++) {
        json_t *e = ht_ws_expect(ws, "event", 10000);
        if (ht_jint(e, "seq") != s) ht_fail("replay: expected seq %lld, got %s", s, ht_dump(e));
        json_decref(e);
    }
}

static void expect_quiet(ht_ws *ws, int ms)
{
    json_t *j = ht_ws_recv_json(ws, ms);
    if (j) ht_fail("expected no frame, got %s", ht_dump(j));
}

/* ---------------------------------------------------------------------------------- */

static void test_subscribe_live(void)
{
    world w;
    ht_ws ws;
    char code[128];
    world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    long long h = head_of(&w); /* the submit's events: dossier.created, papers */
    EXPECT(h >= 1);

    json_t *sub = ht_ws_open_subscribed(&ws, w.s.port, w.cit.token, 0);
    EXPECT_INT(ht_jint(sub, "head"), h);
    EXPECT(json_is_true(ht_j(sub, "recovered")));
    EXPECT(ht_jstr(sub, "epoch") && strlen(ht_jstr(sub, "epoch")) == 32);
    json_decref(sub);
    skip_to(&ws, h);

    /* An officer's move reaches the owner live, with the dossier after the move. */
    move(&w, code, 2);
    json_t *e = ht_ws_expect(&ws, "event", 10000);
    EXPECT_INT(ht_jint(e, "seq"), h + 1);
    EXPECT_STR(ht_jstr(e, "event"), "dossier.status");
    EXPECT_STR(ht_jstr(e, "dossier.code"), code);
    EXPECT_INT(ht_jint(e, "dossier.status"), 2);
    EXPECT(ht_j(e, "owner") == NULL && ht_j(e, "gseq") == NULL);
    json_decref(e);
    move(&w, code, 4);
    expect_event(&ws, h + 2, "dossier.status");

    /* Acks are accepted; app-level ping gets a pong. */
    json_t *ack = json_pack("{s:s, s:I}", "type", "ack", "seq", (json_int_t)(h + 2));
    EXPECT_INT(ht_ws_send_json(&ws, ack), 0);
    json_decref(ack);
    json_t *ping = json_pack("{s:s}", "type", "ping");
    EXPECT_INT(ht_ws_send_json(&ws, ping), 0);
    json_decref(ping);
    json_decref(ht_ws_expect(&ws, "pong", 5000));

    EXPECT_INT(ht_metric(&w.c, "hoso_ws_connections"), 1);
    EXPECT_INT(ht_metric(&w.c, "hoso_ws_subscriptions"), 1);
    EXPECT(ht_metric(&w.c, "hoso_ws_events_delivered_total") >= 3);
    EXPECT(ht_metric(&w.c, "hoso_ws_acks_total") >= 1);
    EXPECT(ht_metric(&w.c, "hoso_ws_replay_events_count") >= 1);
    /* the two moves went out live, and only they: each one's delay from its commit is
     * counted once (the replayed events are not live deliveries) */
    EXPECT_INT(ht_metric(&w.c, "hoso_ws_push_delay_seconds_count"), 2);
    ht_ws_close(&ws);
    world_stop(&w);
}

static void test_replay_since_json(void)
{
    world w;
    ht_ws ws;
    char code[128];
    world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    long long h = head_of(&w);
    move(&w, code, 2);
    move(&w, code, 4);
    move(&w, code, 6);
    /* A client at h+1 gets h+2 and h+3, in JSON text frames after a text auth. */
    if (ht_ws_connect(&ws, w.s.port, NULL, NULL, 0) != 0) ht_fail("upgrade failed: %d", ws.status);
    ws.json = 1;
    json_t *auth = json_pack("{s:s, s:s}", "type", "auth", "token", w.cit.token);
    ht_ws_send_json(&ws, auth);
    json_decref(auth);
    json_t *sub = ht_ws_subscribe(&ws, h + 1, NULL);
    EXPECT_INT(ht_jint(sub, "head"), h + 3);
    EXPECT(json_is_true(ht_j(sub, "recovered")));
    const char *epoch = ht_jstr(sub, "epoch");
    ht_ws_frame f;
    EXPECT_INT(ht_ws_recv(&ws, &f, 10000), 1);
    EXPECT_INT(f.opcode, HT_WS_TEXT);
    json_t *e = json_loads((char *)f.data, 0, NULL);
    ht_ws_frame_free(&f);
    EXPECT_INT(ht_jint(e, "seq"), h + 2);
    EXPECT_STR(ht_jstr(e, "type"), "event");
    json_decref(e);
    expect_event(&ws, h + 3, "dossier.status");
    expect_quiet(&ws, 200);

    /* The same epoch and a cursor at head: nothing to replay, then live. */
    ht_ws ws2;
    if (ht_ws_connect(&ws2, w.s.port, w.cit.token, NULL, 0) != 0) ht_fail("upgrade failed");
    json_t *sub2 = ht_ws_subscribe(&ws2, h + 3, epoch);
    EXPECT(json_is_true(ht_j(sub2, "recovered")));
    json_decref(sub2);
    json_decref(sub);
    expect_quiet(&ws2, 150);
    move(&w, code, 4);
    expect_event(&ws, h + 4, "dossier.status");
    expect_event(&ws2, h + 4, "dossier.status");
    ht_ws_close(&ws);
    ht_ws_close(&ws2);
    world_stop(&w);
}

static void test_recovered_false(void)
{
    world w;
    ht_ws ws;
    char code[128];
    world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    move(&w, code, 2);
    long long h = head_of(&w);
    /* A cursor ahead of head (another data dir), then one from another epoch: the
     * client must fetch the snapshot; the stream goes on from head. */
    json_t *sub = ht_ws_open_subscribed(&ws, w.s.port, w.cit.token, h + 50);
    EXPECT(json_is_false(ht_j(sub, "recovered")));
    EXPECT_INT(ht_jint(sub, "head"), h);
    json_decref(sub);
    expect_quiet(&ws, 150);
    move(&w, code, 4);
    expect_event(&ws, h + 1, "dossier.status");
    ht_ws_close(&ws);

    if (ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0) != 0) ht_fail("upgrade failed");
    sub = ht_ws_subscribe(&ws, 1, "0123456789abcdef0123456789abcdef");
    EXPECT(json_is_false(ht_j(sub, "recovered")));
    EXPECT_INT(ht_jint(sub, "head"), h + 1);
    json_decref(sub);
    expect_quiet(&ws, 150);
    ht_ws_close(&ws);
    world_stop(&w);

    /* A cursor older than the retained feed. */
    world_start(&w, "--feed-max-events 3");
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    move(&w, code, 2);
    move(&w, code, 4);
    move(&w, code, 6);
    h = head_of(&w);
    sub = ht_ws_open_subscribed(&ws, w.s.port, w.cit.token, 0);
    EXPECT(json_is_false(ht_j(sub, "recovered")));
    EXPECT_INT(ht_jint(sub, "head"), h);
    json_decref(sub);
    ht_ws_close(&ws);
    /* The newest three are still served. */
    sub = ht_ws_open_subscribed(&ws, w.s.port, w.cit.token, h - 3);
    EXPECT(json_is_true(ht_j(sub, "recovered")));
    json_decref(sub);
    for (long long q = h - 2; q <= h; q++) expect_event(&ws, q, NULL);
    ht_ws_close(&ws);
    world_stop(&w);
}

/* One error frame with `code`, then the close code. */
static void expect_refused(ht_ws *ws, const char *code, int close_code)
{
    json_t *e = ht_ws_expect(ws, "error", 10000);
    EXPECT_STR(ht_jstr(e, "code"), code);
    EXPECT(ht_jstr(e, "message") != NULL);
    json_decref(e);
    EXPECT_INT(ht_ws_wait_close(ws, 10000), close_code);
}

static void send_text(ht_ws *ws, const char *json)
{
    EXPECT_INT(ht_ws_send(ws, HT_WS_TEXT, json, strlen(json)), 0);
}

static void test_unauthorized(void)
{
    world w;
    ht_ws ws;
    world_start(&w, "--ws-auth-timeout 400");
    /* A bad token in the header. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, "not-a-token", NULL, 0), 0);
    expect_refused(&ws, "UNAUTHORIZED", 4001);
    ht_ws_drop(&ws);
    /* A bad token in the auth frame. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, NULL, NULL, 0), 0);
    send_text(&ws, "{\"type\":\"auth\",\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}");
    expect_refused(&ws, "UNAUTHORIZED", 4001);
    ht_ws_drop(&ws);
    /* Subscribing before authenticating. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, NULL, NULL, 0), 0);
    send_text(&ws, "{\"type\":\"subscribe\",\"since\":0}");
    expect_refused(&ws, "UNAUTHORIZED", 4001);
    ht_ws_drop(&ws);
    /* Saying nothing until the auth deadline. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, NULL, NULL, 0), 0);
    int64_t t0 = ht_mono_ms();
    expect_refused(&ws, "UNAUTHORIZED", 4001);
    EXPECT(ht_mono_ms() - t0 >= 300);
    ht_ws_drop(&ws);
    /* A logged-out token. */
    ht_resp r;
    ht_mp_call(&w.c, "POST", "/v1/auth/logout", w.cit.token, NULL, &r);
    ht_resp_free(&r);
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0), 0);
    expect_refused(&ws, "UNAUTHORIZED", 4001);
    ht_ws_drop(&ws);
    /* Not a WebSocket handshake at all: a plain HTTP error. */
    ht_mp_call(&w.c, "GET", "/v1/ws", NULL, NULL, &r);
    HT_EXPECT_REPLY(&r, 400, "BAD_REQUEST");
    ht_resp_free(&r);
    world_stop(&w);
}

static void test_agency_stream(void)
{
    world w;
    ht_ws ws, cws;
    char code[128];
    world_start(&w, NULL);
    /* A citizen asking for an agency stream. */
    EXPECT_INT(ht_ws_connect(&cws, w.s.port, w.cit.token, NULL, 0), 0);
    json_t *m = json_pack("{s:s, s:s}", "type", "subscribe", "agency", w.svc.agency);
    ht_ws_send_json(&cws, m);
    expect_refused(&cws, "FORBIDDEN", 4003);
    ht_ws_drop(&cws);
    /* An officer asking for another agency. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.off.token, NULL, 0), 0);
    json_t *other = json_pack("{s:s, s:s}", "type", "subscribe", "agency", "000.00.99.Z99");
    ht_ws_send_json(&ws, other);
    json_decref(other);
    expect_refused(&ws, "FORBIDDEN", 4003);
    ht_ws_drop(&ws);
    /* The officer's own agency: live events with owner and global seq. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.off.token, NULL, 0), 0);
    ht_ws_send_json(&ws, m);
    json_decref(m);
    json_t *sub = ht_ws_expect(&ws, "subscribed", 10000);
    EXPECT_STR(ht_jstr(sub, "agency"), w.svc.agency);
    EXPECT(json_is_false(ht_j(sub, "recovered")));
    json_decref(sub);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    json_t *e = ht_ws_expect(&ws, "event", 10000);
    EXPECT_STR(ht_jstr(e, "event"), "dossier.created");
    EXPECT_STR(ht_jstr(e, "dossier.code"), code);
    EXPECT(ht_jstr(e, "owner") && strlen(ht_jstr(e, "owner")) == 32);
    long long g1 = ht_jint(e, "gseq");
    EXPECT(g1 > 0);
    json_decref(e);
    move(&w, code, 2);
    e = ht_ws_expect(&ws, "event", 10000);
    EXPECT(ht_jint(e, "gseq") > g1);
    EXPECT_INT(ht_jint(e, "dossier.status"), 2);
    json_decref(e);
    ht_ws_close(&ws);
    world_stop(&w);
}

static void test_hostile_frames(void)
{
    world w;
    ht_ws ws;
    world_start(&w, NULL);
    static const struct {
        int opcode;
        const char *data;
        const char *code;
        int close;
    } cases[] = {
        {HT_WS_BINARY, "\xc1\xc1\xc1", "BAD_REQUEST", 1007},                 /* not msgpack */
        {HT_WS_BINARY, "\x93\x01\x02\x03", "BAD_REQUEST", 1007},             /* not a map */
        {HT_WS_TEXT, "{\"type\":", "BAD_REQUEST", 1007},                      /* broken JSON */
        {HT_WS_TEXT, "{\"type\":\"launch\"}", "BAD_REQUEST", 1007},           /* unknown type */
        {HT_WS_TEXT, "{\"type\":7}", "BAD_REQUEST", 1007},                    /* wrong type of type */
        {HT_WS_TEXT, "{\"type\":\"subscribe\",\"since\":\"x\"}", "VALIDATION_FAILED", 1007},
        {HT_WS_TEXT, "{\"type\":\"subscribe\",\"since\":-1}", "VALIDATION_FAILED", 1007},
        {HT_WS_TEXT, "{\"type\":\"ack\"}", "VALIDATION_FAILED", 1007},
        {HT_WS_TEXT, "{\"type\":\"subscribe\",\"since\":0,\"extra\":1}", "VALIDATION_FAILED", 1007},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0), 0);
        EXPECT_INT(ht_ws_send(&ws, cases[i].opcode, cases[i].data, strlen(cases[i].data)), 0);
        json_t *e = ht_ws_recv_json(&ws, 10000);
        if (!e || strcmp(ht_jstr(e, "code") ? ht_jstr(e, "code") : "", cases[i].code) != 0)
            ht_fail("case %zu: expected error %s, got %s (close %d)", i, cases[i].code, e ? ht_dump(e) : "nothing",
                    ws.close_code);
        json_decref(e);
        EXPECT_INT(ht_ws_wait_close(&ws, 10000), cases[i].close);
        ht_ws_drop(&ws);
    }
    /* Over 64 KiB: error, then 1009. */
    size_t big = 70 * 1024;
    char *blob = malloc(big);
    memset(blob, 'a', big);
    memcpy(blob, "{\"type\":\"ping\",\"pad\":\"", 22);
    memcpy(blob + big - 2, "\"}", 2);
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0), 0);
    EXPECT_INT(ht_ws_send(&ws, HT_WS_TEXT, blob, big), 0);
    expect_refused(&ws, "PAYLOAD_TOO_LARGE", 1009);
    ht_ws_drop(&ws);
    free(blob);
    /* A flood of frames: closed with 1008 (or reset while still sending). */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0), 0);
    int sent = 0;
    for (int i = 0; i < 3000; i++, sent++)
        if (ht_ws_send(&ws, HT_WS_TEXT, "{\"type\":\"ping\"}", 15) != 0) break;
    int code = ht_ws_wait_close(&ws, 10000);
    if (code != 1008 && code != 0) ht_fail("flood of %d frames: close %d", sent, code);
    ht_ws_drop(&ws);
    /* The server is fine afterwards. */
    json_t *sub = ht_ws_open_subscribed(&ws, w.s.port, w.cit.token, 0);
    json_decref(sub);
    ht_ws_close(&ws);
    world_stop(&w);
}

static void test_ping_idle(void)
{
    world w;
    ht_ws ws;
    world_start(&w, "--ws-ping 100 --ws-idle 500");
    json_decref(ht_ws_open_subscribed(&ws, w.s.port, w.cit.token, 0));
    /* Answering pings keeps the connection open well past the idle limit. */
    int64_t until = ht_mono_ms() + 1200;
    while (ht_mono_ms() < until) {
        ht_ws_frame f;
        if (ht_ws_recv(&ws, &f, 50) < 0) ht_fail("closed while answering pings: %d", ws.close_code);
    }
    EXPECT(ws.pings >= 5);
    /* Silence: closed with 4000. */
    usleep(900 * 1000);
    EXPECT_INT(ht_ws_wait_close(&ws, 5000), 4000);
    ht_ws_drop(&ws);
    world_stop(&w);
}

static void test_stop_with_open_connections(void)
{
    world w;
    ht_ws ws[6];
    char code[128];
    world_start(&w, NULL);
    ht_submit(&w.c, &w.cit, &w.svc, code, sizeof(code));
    for (int i = 0; i < 4; i++) json_decref(ht_ws_open_subscribed(&ws[i], w.s.port, w.cit.token, i % 2 ? 0 : -1 + 2));
    EXPECT_INT(ht_ws_connect(&ws[4], w.s.port, NULL, NULL, 0), 0); /* not authenticated */
    EXPECT_INT(ht_ws_connect(&ws[5], w.s.port, w.cit.token, NULL, 4096), 0); /* never reads */
    json_t *m = json_pack("{s:s, s:i}", "type", "subscribe", "since", 0);
    ht_ws_send_json(&ws[5], m);
    json_decref(m);
    move(&w, code, 2);
    /* hosod must stop cleanly (exit 0, no sanitizer report) with all of them open. */
    ht_server_stop(&w.s);
    for (int i = 0; i < 5; i++) {
        int c = ht_ws_wait_close(&ws[i], 5000);
        if (c != 1001 && c != 0) ht_fail("connection %d: close %d after the stop", i, c);
        ht_ws_drop(&ws[i]);
    }
    ht_ws_drop(&ws[5]);
    ht_service_free(&w.svc);
    ht_conn_close(&w.c);
}

/* Frames that break RFC 6455 itself: the close code is 1002, whatever came before them
 * on the stream. */
static void test_protocol_violations(void)
{
    world w;
    ht_ws ws;
    world_start(&w, NULL);
    /* Masked client frames: FIN+opcode, 0x80|len, mask key, payload. */
    static const uint8_t ping126[] = {0x89, 0x80 | 126, 0, 126, 1, 2, 3, 4};
    static const uint8_t frag_ping[] = {0x09, 0x82, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2};
    static const uint8_t top_bit[] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4};
    /* Lengths in more bytes than they need: 5 written in 16 bits, then in 64. */
    static const uint8_t long16[] = {0x82, 0x80 | 126, 0, 5, 1, 2, 3, 4, 0, 0, 0, 0, 0};
    static const uint8_t long64[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 0, 0, 0, 0, 0};
    /* Not masked; an RSV bit without an extension; a continuation of nothing; an
     * opcode RFC 6455 reserves. */
    static const uint8_t unmasked[] = {0x81, 2, '{', '}'};
    static const uint8_t rsv1[] = {0xC1, 0x82, 1, 2, 3, 4, '{' ^ 1, '}' ^ 2};
    static const uint8_t orphan[] = {0x80, 0x82, 1, 2, 3, 4, '{' ^ 1, '}' ^ 2};
    static const uint8_t op3[] = {0x83, 0x82, 1, 2, 3, 4, '{' ^ 1, '}' ^ 2};
    static const struct {
        const uint8_t *b;
        size_t n;
    } cases[] = {{ping126, sizeof ping126}, {frag_ping, sizeof frag_ping}, {top_bit, sizeof top_bit},
                 {long16, sizeof long16},   {long64, sizeof long64},       {unmasked, sizeof unmasked},
                 {rsv1, sizeof rsv1},       {orphan, sizeof orphan},       {op3, sizeof op3}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int split = 0; split < 2; split++) {
            EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0), 0);
            /* A good ping first, so the violation is not at the start of the stream. */
            EXPECT_INT(ht_ws_send(&ws, HT_WS_PING, "hi", 2), 0);
            if (split) {
                /* The header in two writes: the check holds across reads. */
                EXPECT_INT(write(ws.fd, cases[i].b, 1), 1);
                usleep(50 * 1000);
                EXPECT_INT(write(ws.fd, cases[i].b + 1, cases[i].n - 1), (ssize_t)cases[i].n - 1);
            } else {
                EXPECT_INT(write(ws.fd, cases[i].b, cases[i].n), (ssize_t)cases[i].n);
            }
            int code = ht_ws_wait_close(&ws, 10000);
            if (code != 1002) ht_fail("case %zu split %d: close %d, expected 1002", i, split, code);
            ht_ws_drop(&ws);
        }
    }
    /* A message in three fragments, a ping between them (allowed: control frames may
     * interleave), is one message: it is answered. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0), 0);
    static const char whole[] = "{\"type\":\"ping\"}";
    const uint8_t mask[4] = {9, 8, 7, 6};
    size_t cut[4] = {0, 5, 9, sizeof whole - 1};
    for (int k = 0; k < 3; k++) {
        uint8_t f[64];
        size_t n = cut[k + 1] - cut[k], h = 0;
        f[h++] = (uint8_t)((k == 2 ? 0x80 : 0) | (k == 0 ? 1 : 0));
        f[h++] = (uint8_t)(0x80 | n);
        memcpy(f + h, mask, 4);
        h += 4;
        for (size_t j = 0; j < n; j++) f[h + j] = (uint8_t)whole[cut[k] + j] ^ mask[j & 3];
        EXPECT_INT(write(ws.fd, f, h + n), (ssize_t)(h + n));
        if (k == 0) EXPECT_INT(ht_ws_send(&ws, HT_WS_PING, "x", 1), 0);
    }
    json_t *pong = ht_ws_recv_json(&ws, 10000);
    EXPECT(pong != NULL && strcmp(ht_jstr(pong, "type") ? ht_jstr(pong, "type") : "", "pong") == 0);
    json_decref(pong);
    ht_ws_drop(&ws);
    /* Over 256 KiB in one frame: 1009 at once, the frame unread. */
    EXPECT_INT(ht_ws_connect(&ws, w.s.port, w.cit.token, NULL, 0), 0);
    static const uint8_t huge[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4};
    EXPECT_INT(write(ws.fd, huge, sizeof huge), (ssize_t)sizeof huge);
    EXPECT_INT(ht_ws_wait_close(&ws, 10000), 1009);
    ht_ws_drop(&ws);
    /* The server goes on serving others. */
    json_t *sub = ht_ws_open_subscribed(&ws, w.s.port, w.cit.token, 0);
    json_decref(sub);
    ht_ws_close(&ws);
    world_stop(&w);
}

UNIT_MAIN(UNIT(test_subscribe_live), UNIT(test_replay_since_json), UNIT(test_recovered_false),
          UNIT(test_unauthorized), UNIT(test_agency_stream), UNIT(test_hostile_frames), UNIT(test_ping_idle),
          UNIT(test_stop_with_open_connections), UNIT(test_protocol_violations))
