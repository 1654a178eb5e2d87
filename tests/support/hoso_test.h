/*
 * hoso_test.h - support for the integration and fault tests: start a real hosod on a
 * free loopback port with its own data dir, talk HTTP/1.1 to it over a blocking socket,
 * build msgpack/JSON bodies and read replies, and the usual citizen/officer steps.
 *
 * Failures: functions named ht_* that cannot do their job print why and exit(1), which
 * fails the current test (tests/unit/unit.h runs each test in its own process). An exit
 * handler kills every hosod this process started, so a failing test leaves nothing
 * running; the data dirs are removed when the process exits 0 and kept (with their
 * hosod.log) when it fails. Functions that return an int return 0 or -1 where a test wants to see the
 * failure itself (I/O errors while the server is being killed, for instance).
 *
 * Threads: ht_conn, ht_resp and ht_user belong to one thread. ht_server_* may only be
 * called from the thread that runs the test. The path accessors (ht_j*) are reentrant.
 */
#ifndef HOSO_TEST_H
#define HOSO_TEST_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <msgpack.h>
#include "hoso_protocol.h"
#include "../unit/unit.h"

/* ---------------------------------------------------------------------------------- */
/* The server under test. */
typedef struct ht_server {
    pid_t pid;                /* 0 when not running */
    int port;
    char dir[PATH_MAX];       /* data dir, fresh per ht_server_start */
    char log[PATH_MAX + 16];  /* dir/hosod.log: stdout and stderr of every run */
    char extra[512];          /* extra serve arguments, kept for restarts */
    char env[512];            /* "NAME=value ..." added to hosod's environment at the
                                 next (re)start; tests may change it between runs */
} ht_server;

/* Prints "FAILED: message" and exits 1 (the test fails). */
void ht_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Path of the hosod binary ($HOSOD) and the scratch dir ($HOSO_TEST_TMP, created). */
const char *ht_hosod(void);
const char *ht_tmpdir(void);

/* Makes a fresh data dir under $HOSO_TEST_TMP and starts
 * `hosod serve --listen 127.0.0.1:PORT --data DIR --create --workers 2 --quiet EXTRA` on
 * a free port, then waits (10 s at most) until GET /healthz answers 200 (over HTTPS,
 * unchecked, when EXTRA has --tls-cert). extra_args may be NULL or "" (e.g. "--demo");
 * it is split on spaces. */
void ht_server_start(ht_server *s, const char *extra_args);
/* The same with key_file copied in as the data dir's secret.key first (cluster nodes
 * share one key). */
void ht_server_start_keyed(ht_server *s, const char *extra_args, const char *key_file);
/* A loopback port nobody listens on right now. */
int ht_free_port(void);
/* Children killed (SIGKILL) at exit unless untracked first: hosod, the fake portal. */
void ht_child_track(pid_t pid);
void ht_child_untrack(pid_t pid);

/* ---------------------------------------------------------------------------------- */
/* The fake national portal (tests/support/fake_portal), a process of its own. */
typedef struct ht_portal {
    pid_t pid;
    int port;
    char record[PATH_MAX];   /* every accepted call, one JSON line each */
    char args[256];          /* fault options of the last start */
} ht_portal;
/* Starts $HOSO_FAKE_PORTAL on port (0: a free one) with a fresh record file, or with
 * the same one on a restart (p->record already set). args: its fault options. */
void ht_portal_start(ht_portal *p, int port, const char *args);
/* SIGTERM and reap: the portal is down (connections refused) until started again. */
void ht_portal_stop(ht_portal *p);
/* POST /control with body (a JSON object, reference stolen). */
void ht_portal_control(ht_portal *p, json_t *body);
/* The hosod serve options that point the mirror at p (also fast retries for tests). */
void ht_portal_serve_args(const ht_portal *p, char *out, size_t n);
/* The record as an array of objects {service, mahoso, status, at, updating}. */
json_t *ht_portal_records(const ht_portal *p);

/* ---------------------------------------------------------------------------------- */
/* Cluster mode (tests/support/cluster.c): a real nats-server with JetStream and hosod
 * nodes joined by it. */
typedef struct ht_nats {
    pid_t pid;
    int port;
    char dir[PATH_MAX];      /* JetStream's store, kept across restarts */
    char log[PATH_MAX + 16];
} ht_nats;
/* Starts `nats-server -js` on 127.0.0.1:port (0: a free one; a restart keeps n->port
 * and n->dir) and waits until it accepts connections. */
void ht_nats_start(ht_nats *n, int port);
/* SIGTERM (or SIGKILL when hard) and reap. */
void ht_nats_stop(ht_nats *n, int hard);

#define HT_CLUSTER_MAX 4
typedef struct ht_cluster {
    ht_nats nats;
    int nnodes;          /* all nodes: those that hold shards first */
    int nholders;
    unsigned shards;
    ht_server node[HT_CLUSTER_MAX];
    char file[PATH_MAX + 32];
} ht_cluster;
/* nats-server and nnodes nodes n1.. with shards split evenly in order, all with the
 * first node's secret.key; extra as for ht_server_start (each node also gets
 * --cluster FILE --node nK). */
void ht_cluster_start(ht_cluster *c, int nnodes, unsigned shards, const char *extra);
/* The same plus nfront nodes of no shard (front nodes for connections), after them. */
void ht_cluster_start_front(ht_cluster *c, int nnodes, int nfront, unsigned shards, const char *extra);
void ht_cluster_stop(ht_cluster *c);
/* The node index holding shard. */
int ht_cluster_node_of(const ht_cluster *c, unsigned shard);
/* The shard of an account id, as hosod computes it. */
unsigned ht_cluster_shard_of(const ht_cluster *c, const char *account);
/* `hosod cluster status --json` parsed (NULL when it printed nothing); *rc its exit. */
json_t *ht_cluster_status(const ht_cluster *c, int *rc);
/* Waits (up to ms) until JetStream holds every event each node committed, each once:
 * every node's outbox caught up and the stream's count equal to the sum of the nodes'
 * log heads. Fails the test otherwise. */
void ht_cluster_wait_outbox(const ht_cluster *c, int ms);

/* clients/bot-relay, the webhook receiver (relay.c). */
typedef struct ht_relay {
    pid_t pid;
    int port;
    char out[PATH_MAX]; /* its stdout: one JSON line per accepted webhook */
} ht_relay;
/* Starts it on 127.0.0.1:port (0: any) checking signatures with secret (whsec_...). */
void ht_relay_start(ht_relay *r, int port, const char *secret);
void ht_relay_stop(ht_relay *r);
/* The statuses it passed on to the chat, in order (each line must carry chat_ref
 * zalo:4217 and a sentence about the dossier). */
int ht_relay_statuses(const ht_relay *r, int *out, int max);
/* Waits up to secs for exactly want[0..n) (fails the test otherwise). */
void ht_relay_wait(const ht_relay *r, const int *want, int n, int secs);

/* libfaketime's path when installed (package faketime), else NULL. */
const char *ht_faketime_lib(void);
/* Starts hosod again on the same data dir (new free port), same extra arguments and
 * s->env. */
void ht_server_restart(ht_server *s);
/* The same on s->port, as a phone that keeps its server address sees it. */
void ht_server_restart_same_port(ht_server *s);
/* SIGTERM, wait up to 10 s, then SIGKILL. Fails the test if hosod needed the SIGKILL,
 * exited other than 0 (or by the SIGTERM itself), or if its log holds a sanitizer
 * report. */
void ht_server_stop(ht_server *s);
/* SIGKILL and reap, as a crash would. The log is still checked for sanitizer reports
 * (anything written before the kill). */
void ht_server_kill9(ht_server *s);
/* Fails the test if the log contains "ERROR: AddressSanitizer", "runtime error:",
 * "LeakSanitizer" or "ThreadSanitizer". */
void ht_server_check_log(const ht_server *s);

/* Runs `$HOSOD admin ARGS --data DIR` and returns its stdout (malloc'ed, caller frees).
 * Fails the test unless it exits 0. */
char *ht_admin(const ht_server *s, const char *args);
/* Runs `$HOSOD ARGS` (printf-formatted) with stderr folded into *out (malloc'ed;
 * caller frees); returns its exit code. */
int ht_hosod_out(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails the test unless out contains what. */
void ht_expect_has(const char *out, const char *what);
/* Runs a shell command; returns its exit status (or -1) and, if out != NULL, its stdout
 * (malloc'ed). stderr goes to the test's stderr. */
int ht_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------------------- */
/* A blocking HTTP/1.1 client. One connection, kept alive; reconnects once when the
 * server closed it between requests. Every socket operation times out after 10 s. */
typedef struct ht_conn {
    int fd;
    int port;
    char *buf;   /* bytes read past the previous response */
    size_t len, cap;
} ht_conn;

typedef struct ht_resp {
    int status;           /* HTTP status, 0 if no response */
    char *head;           /* raw header block (status line excluded), NUL-terminated */
    char *body;           /* body, NUL-terminated (the NUL is not counted) */
    size_t len;
    char ctype[128];      /* Content-Type, lower-cased, "" if absent */
    json_t *json;         /* the body as JSON: parsed from JSON, or converted from msgpack */
    int is_msgpack;       /* the body parsed as exactly one msgpack object */
} ht_resp;

void ht_conn_init(ht_conn *c, int port);
void ht_conn_close(ht_conn *c);

/* Sends one request and reads the whole response into out (which the caller frees with
 * ht_resp_free). headers: extra "Name: value\r\n" lines or NULL. Content-Length is added
 * when body != NULL. Handles Content-Length, chunked and read-until-close replies.
 * Returns 0, or -1 on a connection error (out->status == 0). */
int ht_http(ht_conn *c, const char *method, const char *path, const char *headers, const void *body,
            size_t len, ht_resp *out);
void ht_resp_free(ht_resp *r);
/* Value of header `name` (case-insensitive) copied into buf; NULL if absent. */
const char *ht_resp_header(const ht_resp *r, const char *name, char *buf, size_t n);

/* A request with a msgpack body (Content-Type and Accept application/msgpack) and an
 * optional bearer token; body NULL sends no body. The reply is parsed into out->json. */
int ht_mp_call(ht_conn *c, const char *method, const char *path, const char *token,
               const msgpack_sbuffer *body, ht_resp *out);
/* The same with a JSON object as the body (packed as msgpack). */
int ht_mp_callj(ht_conn *c, const char *method, const char *path, const char *token, json_t *body,
                ht_resp *out);
/* A request with a JSON text body (Content-Type and Accept application/json). */
int ht_json_call(ht_conn *c, const char *method, const char *path, const char *token,
                 const char *json, ht_resp *out);

/* The same request made by the real curl binary (JSON in, JSON out). */
int ht_curl(const ht_server *s, const char *method, const char *path, const char *token,
            const char *json, ht_resp *out);

/* One client over a chosen wire, so a scenario can run over msgpack, JSON or curl. */
typedef enum ht_wire { HT_MSGPACK, HT_JSON, HT_CURL } ht_wire;
typedef struct ht_client {
    ht_conn conn;
    const ht_server *srv;
    ht_wire wire;
} ht_client;

void ht_client_init(ht_client *c, const ht_server *s, ht_wire wire);
void ht_client_close(ht_client *c);
/* body (may be NULL) is sent as msgpack or JSON text according to the wire. Over the
 * JSON wires the reply must be JSON (Content-Type application/json) when it has a body. */
int ht_call(ht_client *c, const char *method, const char *path, const char *token, const json_t *body,
            ht_resp *out);

/* ---------------------------------------------------------------------------------- */
/* Bodies and replies. */

/* Packs a JSON value as msgpack: objects become maps (key order kept), integers ints,
 * reals float64, strings str, true/false/null bool/nil. */
void ht_pack_json(msgpack_packer *pk, const json_t *v);
/* Parses a printf-formatted JSON text (fails the test if it is not JSON). */
json_t *ht_jsonf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Converts one msgpack object to JSON (bin and ext become strings of hex digits;
 * non-string keys are printed). */
json_t *ht_json_from_msgpack(const msgpack_object *o);

/* Looks up a path in a JSON value: "dossier.history.2.status" or "dossier.history[2]".
 * NULL if any step is missing. */
json_t *ht_j(const json_t *root, const char *path);
/* Integer at path, or LLONG_MIN if absent or not an integer. */
long long ht_jint(const json_t *root, const char *path);
/* String at path (borrowed from root), or NULL. */
const char *ht_jstr(const json_t *root, const char *path);
/* The reply's error.code, or "" when the reply is not an error. */
const char *ht_err_code(const ht_resp *r);
/* 1 if the reply's error.details names `field` (exactly, or as the last path part). */
int ht_err_names_field(const ht_resp *r, const char *field);
/* The dossier in a reply: root.dossier when present, else root. */
json_t *ht_dossier_of(const ht_resp *r);
/* The array of items in a list reply: the root if it is an array, else the first of
 * root.dossiers / services / items / events that is an array. NULL if none. */
json_t *ht_items(const ht_resp *r, const char *hint);
/* Compact JSON text of v (static per-thread ring of buffers, for messages). */
const char *ht_dump(const json_t *v);

/* Checks status and error code; on mismatch prints the reply body. code may be NULL
 * (success expected) or several codes separated by '|'. */
#define HT_EXPECT_REPLY(resp, want_status, want_code)                                     \
    ht__expect_reply(__FILE__, __LINE__, #resp, (resp), (want_status), (want_code))
void ht__expect_reply(const char *file, int line, const char *what, const ht_resp *r, int status,
                      const char *code);

/* ---------------------------------------------------------------------------------- */
/* Accounts and dossiers. */
typedef struct ht_user {
    char token[256];
    char login[64];     /* id_number (citizen) or username (officer) */
    char password[64];
    char phone[16];
    char agency[96];    /* officers */
    char id[96];        /* account id from the login reply, if any */
} ht_user;

/* Registers a fresh citizen (unique id_number) and logs in. */
void ht_citizen_new(ht_conn *c, ht_user *u);
/* Logs u in again (new token). */
void ht_login(ht_conn *c, ht_user *u, int officer);
/* Creates an officer of `agency` with `hosod admin create-officer` and logs in. */
void ht_officer_new(const ht_server *s, ht_conn *c, const char *agency, ht_user *u);

/* A service of the catalogue, chosen so that a valid form can be built from its fields. */
typedef struct ht_service {
    json_t *svc;        /* the service as listed (owned) */
    char code[96];
    char agency[96];
} ht_service;

/* Reads GET /v1/services and picks a service: the `nth` (0-based) among those whose
 * form we can fill (modulo their number), preferring ones of an agency different from
 * `not_agency` when not NULL. Fails the test if the catalogue is empty. */
void ht_service_pick(ht_conn *c, ht_service *out, int nth, const char *not_agency);
void ht_service_free(ht_service *s);

/* The world most tests start from: a running hosod, a citizen, a service of the
 * catalogue and an officer of that service's agency, all logged in over one
 * connection. extra_args as for ht_server_start. */
typedef struct ht_world {
    ht_server s;
    ht_conn c;
    ht_user cit, off;
    ht_service svc;
} ht_world;
void ht_world_start(ht_world *w, const char *extra_args);
void ht_world_stop(ht_world *w);
/* A valid form for the service (new reference): every field filled by its type. */
json_t *ht_valid_form(const ht_service *s);
/* Papers for every required paper of the service (new reference, an array). */
json_t *ht_valid_papers(const ht_service *s);
/* {service, form, papers, op_id} (new reference); op_id NULL makes a unique one. */
json_t *ht_valid_submit(const ht_service *s, const char *op_id);
/* Submits a valid dossier as u (msgpack) and copies its code; fails the test unless 201. */
void ht_submit(ht_conn *c, const ht_user *u, const ht_service *s, char *code, size_t n);
/* A unique op id ("t-<pid>-<counter>-<suffix>"). */
void ht_op_id(char *buf, size_t n);

/* Submits valid dossiers as u until one gets 503 "storage is full", keeping the codes
 * of those acknowledged (at most max); fails the test on any other reply or if max
 * submissions went through. Returns how many were acknowledged. */
int ht_submit_until_full(ht_conn *c, const ht_user *u, const ht_service *s, char (*codes)[64], int max);
/* GET /v1/dossiers/{code} as token; fills out. */
int ht_get_dossier(ht_conn *c, const char *token, const char *code, ht_resp *out);
/* Moves a dossier as an officer with the fields its target status needs; returns the
 * HTTP status and leaves the reply in out (caller frees). version < 0: read it first. */
int ht_transition(ht_conn *c, const ht_user *officer, const char *code, int to, long long version,
                  ht_resp *out);
/* Number of dossiers in the list at path (following `next` cursors, bounded), or -1. */
long ht_count_list(ht_conn *c, const char *token, const char *path);

/* The whole lifecycle of one dossier over `wire` (scenario.c): register, login,
 * catalogue, submit, officer 1->2->4->5, supplement 5->4, 4->9->10, rating once, the
 * history of every step, logout. Starts and stops its own server. */
void ht_lifecycle(ht_wire wire);

/* v packed as msgpack into sb and unpacked into u, so that u->data is v as a msgpack
 * object (what the SDK's calls take). Both are initialized here; the caller destroys
 * them. */
void ht_msgpack_of(const json_t *v, msgpack_sbuffer *sb, msgpack_unpacked *u);
/* A fresh state dir for an SDK client under $HOSO_TEST_TMP, and the base URL of s. */
void ht_sdk_paths(const ht_server *s, char state[PATH_MAX], char url[64]);

/* Prometheus text: the value of the first sample line that starts with prefix (a
 * metric name, or a name and the start of its labels: `name{route="x"`), or -1. */
double ht_metric_sample(const char *text, const char *prefix);
/* GET /metrics over c and the value of the sample named by prefix, or -1. */
double ht_metric(ht_conn *c, const char *prefix);

/* Milliseconds since the epoch / a monotonic clock. */
int64_t ht_now_ms(void);
int64_t ht_mono_ms(void);

#endif
