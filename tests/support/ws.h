/*
 * ws.h - a small blocking WebSocket client for the push tests: the HTTP/1.1 upgrade
 * with a checked Sec-WebSocket-Accept, masked client frames, frames read with a
 * timeout, pings answered, and the close code the server sent.
 *
 * Failures: ht_ws_connect returns -1 (and keeps the HTTP status) instead of failing
 * the test, so tests can check refusals. Every other function returns what happened.
 *
 * Threads: an ht_ws belongs to one thread.
 */
#ifndef HOSO_TEST_WS_H
#define HOSO_TEST_WS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum { HT_WS_TEXT = 1, HT_WS_BINARY = 2, HT_WS_CLOSE = 8, HT_WS_PING = 9, HT_WS_PONG = 10 };

typedef struct ht_ws {
    int fd;               /* -1 when not connected */
    int status;           /* HTTP status of the upgrade reply */
    int json;             /* send text JSON frames instead of binary msgpack */
    uint8_t *buf;         /* bytes read and not consumed */
    size_t len, cap;
    int close_code;       /* close frame received: its code (1005 without one), else 0 */
    char close_reason[128];
    int eof;              /* the server closed the TCP connection */
    unsigned pings;       /* pings answered */
} ht_ws;

typedef struct ht_ws_frame {
    int opcode;
    uint8_t *data;        /* malloc'ed, NUL-terminated; ht_ws_frame_free */
    size_t len;
} ht_ws_frame;

/* Connects to 127.0.0.1:port and upgrades GET /v1/ws. token: sent as Authorization:
 * Bearer (NULL: none). src: source address to bind ("127.0.0.5"), or NULL. rcvbuf:
 * SO_RCVBUF before connecting (0: default). Returns 0, or -1 when the connection or
 * the upgrade failed (ws->status holds the HTTP status, 0 if none). */
int ht_ws_connect(ht_ws *ws, int port, const char *token, const char *src, int rcvbuf);
/* Sends one masked frame. 0 or -1. */
int ht_ws_send(ht_ws *ws, int opcode, const void *data, size_t len);
/* Sends a JSON value as a binary msgpack frame, or as text when ws->json. */
int ht_ws_send_json(ht_ws *ws, const json_t *msg);
/* The next data frame: answers pings, records the close frame. Returns 1 with a
 * frame, 0 on timeout, -1 once closed (close frame or EOF) or on an error. */
int ht_ws_recv(ht_ws *ws, ht_ws_frame *f, int timeout_ms);
void ht_ws_frame_free(ht_ws_frame *f);
/* A data frame as JSON (msgpack converted; text parsed); fails the test when it is
 * neither. The caller decrefs. */
json_t *ht_ws_frame_json(const ht_ws_frame *f);
/* The next data frame as JSON (msgpack converted; text parsed), NULL on timeout or
 * close. The caller decrefs. */
json_t *ht_ws_recv_json(ht_ws *ws, int timeout_ms);
/* Reads (and drops) frames until the close frame; returns its code, 0 on EOF without
 * one, -1 on timeout. */
int ht_ws_wait_close(ht_ws *ws, int timeout_ms);
/* 1 if bytes are buffered (a frame may be ready without the socket being readable). */
int ht_ws_buffered(const ht_ws *ws);
/* Sends close 1000 (best effort) and closes the socket. */
void ht_ws_close(ht_ws *ws);
/* Closes the socket without a close frame (a client that vanished). */
void ht_ws_drop(ht_ws *ws);

/* Test steps: the next data frame must have `type` (fails the test otherwise, with
 * the frame or the close code); returns it (caller decrefs). */
json_t *ht_ws_expect(ht_ws *ws, const char *type, int timeout_ms);
/* Sends {type: subscribe, since} (since < 0: no since; epoch may be NULL) and returns
 * the `subscribed` reply. */
json_t *ht_ws_subscribe(ht_ws *ws, long long since, const char *epoch);
/* Connects with the token in the header and subscribes; fails the test if refused. */
json_t *ht_ws_open_subscribed(ht_ws *ws, int port, const char *token, long long since);

#endif
