/*
 * server/reports/ - monitoring (Decree 42/2022 art. 16): what hosod watches on its
 * own and reports: the overdue scheduler (overdue.c) and the monthly report from the
 * monitoring counters (monthly.c).
 */
#ifndef HOSO_SERVER_REPORTS_H
#define HOSO_SERVER_REPORTS_H

#include "core/internal.h"

/* Starts the overdue scheduler: at each open dossier's due time (and at start, for the
 * due times that passed while hosod was down) a writer op appends dossier.overdue to
 * the owner's feed and the log and lists the dossier as overdue, exactly once per due
 * date. Registers an event sink on srv that wakes it when due dates may have changed.
 * Errors: INTERNAL, NOMEM. */
int hoso_overdue_start(hoso_server *srv);
/* Before the writer stops. */
void hoso_overdue_stop(void);

/* The monthly report of month "YYYY-MM" (all agencies when agency is NULL or ""),
 * read from the counters and satisfaction aggregates in t (a read txn is enough).
 * Errors: BAD_REQUEST (month, with ei), NOMEM, CORRUPT, IO. */
typedef struct hoso_report hoso_report;
int hoso_report_build(hoso_txn *t, const char *month, const char *agency, hoso_report **out, hoso_errinfo *ei);
void hoso_report_free(hoso_report *rep);

/* Cluster mode: each node's counters for the month (hoso_report_raw, msgpack), summed
 * into one report on the node that answers (an empty one first, then every part). */
int hoso_report_raw(const hoso_report *rep, msgpack_sbuffer *out);
int hoso_report_empty(const char *month, hoso_report **out, hoso_errinfo *ei);
/* Errors: CORRUPT (not a part of a report), NOMEM. */
int hoso_report_add_raw(hoso_report *rep, const void *raw, size_t len);
/* The cluster's query executor (hoso_broker_set_query): {q: "report", month, agency?},
 * {q: "stats", from?, to?, agency?} or {q: "satisfaction", month, agency?} -> this
 * node's raw part. Errors: BAD_REQUEST (why), storage's. */
int hoso_reports_query(hoso_store *s, const msgpack_object *q, msgpack_sbuffer *out, char *why, size_t whysz);
/* The query hoso_reports_query answers: {q: kind, key: value...} from the pairs
 * kv[0..nkv) (key, value; a NULL value is left out), appended to out. */
void hoso_reports_query_pack(msgpack_sbuffer *out, const char *kind, const char *const *kv, size_t nkv);

/* tables.c: GET /v1/stats and /v1/stats/satisfaction in two steps: a node's raw part
 * (msgpack) from its store, then the reply body from the parts of every node (one part
 * on a single node), summed. Days "YYYYMMDD" (NULL: open), agency NULL for all.
 * Errors: storage's, CORRUPT (a part that is not one), NOMEM. */
int hoso_stats_raw(hoso_txn *t, const char *from, const char *to, const char *agency, msgpack_sbuffer *out);
int hoso_stats_table(const void *const *parts, const size_t *lens, size_t n, msgpack_sbuffer *out);
int hoso_satisfaction_raw(hoso_txn *t, const char *month, const char *agency, msgpack_sbuffer *out);
int hoso_satisfaction_table(const char *month, const void *const *parts, const size_t *lens, size_t n,
                            msgpack_sbuffer *out);

enum { HOSO_REPORT_JSON, HOSO_REPORT_CSV, HOSO_REPORT_HTML, HOSO_REPORT_MSGPACK };
/* "json" (or NULL), "csv", "html", "msgpack" -> HOSO_REPORT_*, or -1. */
int hoso_report_format(const char *name);
/* Appends the report in format to out: {month, min_ratings, agencies: [{agency,
 * services: [{service, name, received, by_channel, ...}], totals}], totals} as msgpack
 * or JSON; CSV with one row per service, agency total and the month's total; one
 * self-contained HTML page. Errors: NOMEM. */
int hoso_report_render(const hoso_report *rep, int format, msgpack_sbuffer *out);
int hoso_report_msgpack(const hoso_report *rep, msgpack_sbuffer *out);
int hoso_report_csv(const hoso_report *rep, msgpack_sbuffer *out);
int hoso_report_html(const hoso_report *rep, msgpack_sbuffer *out);

#endif
