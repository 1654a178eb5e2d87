/*
 * monthly.c - the monthly report (Decree 42/2022 art. 16, Decision 766/QĐ-TTg): per
 * agency and service, the month's indicators from the monitoring counters and the
 * satisfaction aggregates, never from the dossiers themselves, so a month of a million
 * dossiers costs a read of its counter rows. One computation, three forms: msgpack
 * (the API, JSON on request), CSV (the ministry's consolidation) and one
 * self-contained HTML page (inline CSS and SVG, no script) an officer can print.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domain/domain.h"
#include "reports/reports.h"

#define DAY_MS 86400000.0
#define MIN_RATINGS 5 /* a satisfaction cell under this is never shown (Decree 42 art. 13) */
#define put hoso_sbuf_printf /* the text forms write many pieces */

enum { CH_APP, CH_BOT, CH_COUNTER, NCH };
static const char *const CHANNELS[NCH] = {"app", "bot", "counter"};

typedef struct question {
    char name[64];
    uint64_t count, sum, dist[5];
} question;

typedef struct line {
    char agency[48], service[64], name[160];
    uint64_t c[HOSO_STAT_N], days[HOSO_STAT_DAYS], by_channel[NCH];
    int64_t overdue_open;
    question *q;
    size_t nq;
    int seen; /* has something in the month */
} line;

struct hoso_report {
    char month[8];
    line *lines;
    size_t n, cap;
    char (*questions)[64]; /* every question of the month, sorted */
    size_t nquestions;
};

/* ---------------------------------------------------------------------------------- */
/* Reading the counters */

static int valid_month(const char *m)
{
    return m != NULL && strlen(m) == 7 && strspn(m, "0123456789") == 4 && m[4] == '-' && m[5] >= '0' &&
           m[5] <= '1' && m[6] >= '0' && m[6] <= '9' && strcmp(m + 5, "01") >= 0 && strcmp(m + 5, "12") <= 0;
}

static int channel_of(const char *ch)
{
    if (ch[0] == '\0' || strcmp(ch, "app") == 0) return CH_APP;
    if (strcmp(ch, "counter") == 0) return CH_COUNTER;
    return CH_BOT; /* a chatbot's channel: zalo, messenger, ... */
}

static int line_cmp(const void *a, const void *b)
{
    const line *x = a, *y = b;
    int r = strcmp(x->agency, y->agency);
    return r != 0 ? r : strcmp(x->service, y->service);
}

static line *line_append(hoso_report *rep, const line *key);

static line *line_get(hoso_report *rep, const char *agency, const char *service, int sorted)
{
    line key;
    snprintf(key.agency, sizeof key.agency, "%s", agency);
    snprintf(key.service, sizeof key.service, "%s", service);
    if (sorted && rep->n > 0) {
        line *l = bsearch(&key, rep->lines, rep->n, sizeof *l, line_cmp);
        if (l != NULL) return l;
    } else if (rep->n > 0 && line_cmp(&rep->lines[rep->n - 1], &key) == 0) {
        return &rep->lines[rep->n - 1]; /* counter rows come in (agency, service) order */
    }
    return line_append(rep, &key);
}

/* A new line of key's agency and service at the end (the order is the caller's). */
static line *line_append(hoso_report *rep, const line *key)
{
    if (rep->n == rep->cap) {
        size_t cap = rep->cap ? rep->cap * 2 : 64;
        line *nl = realloc(rep->lines, cap * sizeof *nl);
        if (nl == NULL) return NULL;
        rep->lines = nl;
        rep->cap = cap;
    }
    line *l = &rep->lines[rep->n++];
    memset(l, 0, sizeof *l);
    memcpy(l->agency, key->agency, sizeof l->agency);
    memcpy(l->service, key->service, sizeof l->service);
    return l;
}

typedef struct reader {
    hoso_report *rep;
    char from[9], to[9];
    int nomem;
} reader;

static int on_counters(void *ctx, const hoso_stat_row *row)
{
    reader *rd = ctx;
    line *l = line_get(rd->rep, row->agency, row->service, 0);
    if (l == NULL) {
        rd->nomem = 1;
        return HOSO_ENOMEM;
    }
    /* Overdue marks still open at the month's end: every one set minus every one
     * ended, up to that day. */
    l->overdue_open += (int64_t)row->c[HOSO_STAT_OVERDUE] - (int64_t)row->c[HOSO_STAT_OVERDUE_CLEARED];
    if (strcmp(row->day, rd->from) < 0) return 0;
    l->seen = 1;
    for (int i = 0; i < HOSO_STAT_N; i++) l->c[i] += row->c[i];
    for (int i = 0; i < HOSO_STAT_DAYS; i++) l->days[i] += row->days[i];
    l->by_channel[channel_of(row->channel)] += row->c[HOSO_STAT_RECEIVED];
    return 0;
}

static int on_rating(void *ctx, const hoso_satisfaction_row *row)
{
    reader *rd = ctx;
    line *l = line_get(rd->rep, row->agency, row->service, 1);
    size_t i;
    if (l == NULL) goto NoMem;
    l->seen = 1;
    for (i = 0; i < l->nq && strcmp(l->q[i].name, row->question) != 0; i++)
        ;
    if (i == l->nq) {
        question *nq = realloc(l->q, (l->nq + 1) * sizeof *nq);
        if (nq == NULL) goto NoMem;
        l->q = nq;
        memset(&l->q[i], 0, sizeof l->q[i]);
        snprintf(l->q[i].name, sizeof l->q[i].name, "%s", row->question);
        l->nq++;
    }
    l->q[i].count += row->count;
    l->q[i].sum += row->sum;
    for (int k = 0; k < 5; k++) l->q[i].dist[k] += row->dist[k];
    /* A line added here breaks the order bsearch needs: sort again. */
    if (l == &rd->rep->lines[rd->rep->n - 1] && rd->rep->n > 1 &&
        line_cmp(&rd->rep->lines[rd->rep->n - 2], l) > 0)
        qsort(rd->rep->lines, rd->rep->n, sizeof *l, line_cmp);
    return 0;
NoMem:
    rd->nomem = 1;
    return HOSO_ENOMEM;
}

static int qname_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* The month's questions, for the CSV columns and the HTML legend. */
static int collect_questions(hoso_report *rep)
{
    for (size_t i = 0; i < rep->n; i++)
        for (size_t j = 0; j < rep->lines[i].nq; j++) {
            const char *name = rep->lines[i].q[j].name;
            size_t k;
            for (k = 0; k < rep->nquestions && strcmp(rep->questions[k], name) != 0; k++)
                ;
            if (k < rep->nquestions) continue;
            char(*nq)[64] = realloc(rep->questions, (rep->nquestions + 1) * sizeof *nq);
            if (nq == NULL) return HOSO_ENOMEM;
            rep->questions = nq;
            snprintf(rep->questions[rep->nquestions++], 64, "%s", name);
        }
    if (rep->nquestions > 1) qsort(rep->questions, rep->nquestions, sizeof rep->questions[0], qname_cmp);
    return 0;
}

void hoso_report_free(hoso_report *rep)
{
    if (rep == NULL) return;
    for (size_t i = 0; i < rep->n; i++) free(rep->lines[i].q);
    free(rep->lines);
    free(rep->questions);
    free(rep);
}

int hoso_report_build(hoso_txn *t, const char *month, const char *agency, hoso_report **out, hoso_errinfo *ei)
{
    hoso_report *rep;
    reader rd;
    int rc;
    *out = NULL;
    if (!valid_month(month)) return hoso_fail_field(ei, "month", "must be a month YYYY-MM");
    if ((rep = calloc(1, sizeof *rep)) == NULL) return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
    memcpy(rep->month, month, 8);
    memset(&rd, 0, sizeof rd);
    rd.rep = rep;
    snprintf(rd.from, sizeof rd.from, "%.4s%.2s01", month, month + 5);
    snprintf(rd.to, sizeof rd.to, "%.4s%.2s31", month, month + 5);
    const char *a = agency != NULL && agency[0] != '\0' ? agency : NULL;
    if ((rc = hoso_stats_each(t, a, rd.to, on_counters, &rd)) != 0) goto Fail;
    /* Services with nothing in the month and no overdue left open are not listed. */
    size_t keep = 0;
    for (size_t i = 0; i < rep->n; i++)
        if (rep->lines[i].seen || rep->lines[i].overdue_open > 0) rep->lines[keep++] = rep->lines[i];
    rep->n = keep;
    if ((rc = hoso_satisfaction_each(t, month, a, on_rating, &rd)) != 0) goto Fail;
    if ((rc = collect_questions(rep)) != 0) goto Fail;
    /* The catalogue's names, for people reading the report. */
    for (size_t i = 0; i < rep->n; i++) {
        hoso_doc doc;
        hoso_service svc;
        memset(&doc, 0, sizeof doc);
        if (hoso_service_get(t, rep->lines[i].service, &doc, &svc) == 0 && svc.name.ptr != NULL)
            snprintf(rep->lines[i].name, sizeof rep->lines[i].name, "%.*s", (int)svc.name.len, svc.name.ptr);
        hoso_doc_destroy(&doc);
    }
    *out = rep;
    return 0;
Fail:
    hoso_report_free(rep);
    return hoso_fail(ei, rd.nomem ? HOSO_ENOMEM : rc, "cannot read the monitoring counters");
}

/* ---------------------------------------------------------------------------------- */
/* The counters between cluster nodes: each node's report of its shards, summed */

int hoso_report_raw(const hoso_report *rep, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int r = msgpack_pack_array(&pk, 2) || hoso_pack_cstr(&pk, rep->month) || msgpack_pack_array(&pk, rep->n);
    for (size_t i = 0; r == 0 && i < rep->n; i++) {
        const line *l = &rep->lines[i];
        r |= msgpack_pack_array(&pk, 9) || hoso_pack_cstr(&pk, l->agency) || hoso_pack_cstr(&pk, l->service) ||
             hoso_pack_cstr(&pk, l->name) || msgpack_pack_int(&pk, l->seen) || msgpack_pack_int64(&pk, l->overdue_open);
        r |= msgpack_pack_array(&pk, HOSO_STAT_N);
        for (int k = 0; k < HOSO_STAT_N; k++) r |= msgpack_pack_uint64(&pk, l->c[k]);
        r |= msgpack_pack_array(&pk, HOSO_STAT_DAYS);
        for (int k = 0; k < HOSO_STAT_DAYS; k++) r |= msgpack_pack_uint64(&pk, l->days[k]);
        r |= msgpack_pack_array(&pk, NCH);
        for (int k = 0; k < NCH; k++) r |= msgpack_pack_uint64(&pk, l->by_channel[k]);
        r |= msgpack_pack_array(&pk, l->nq);
        for (size_t j = 0; j < l->nq; j++) {
            r |= msgpack_pack_array(&pk, 4) || hoso_pack_cstr(&pk, l->q[j].name) ||
                 msgpack_pack_uint64(&pk, l->q[j].count) || msgpack_pack_uint64(&pk, l->q[j].sum) ||
                 msgpack_pack_array(&pk, 5);
            for (int d = 0; d < 5; d++) r |= msgpack_pack_uint64(&pk, l->q[j].dist[d]);
        }
    }
    return r ? HOSO_ENOMEM : 0;
}

static int raw_str(const msgpack_object *o, char *out, size_t n)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= n) return -1;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

static int raw_u64s(const msgpack_object *o, uint64_t *dst, size_t n)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n) return -1;
    for (size_t k = 0; k < n; k++) {
        if (o->via.array.ptr[k].type != MSGPACK_OBJECT_POSITIVE_INTEGER) return -1;
        dst[k] += o->via.array.ptr[k].via.u64;
    }
    return 0;
}

/* The line of (agency, service) among the first n0 (sorted), or a new one at the end. */
static line *part_line(hoso_report *rep, size_t n0, const char *agency, const char *service)
{
    line key;
    snprintf(key.agency, sizeof key.agency, "%s", agency);
    snprintf(key.service, sizeof key.service, "%s", service);
    line *l = n0 > 0 ? bsearch(&key, rep->lines, n0, sizeof *l, line_cmp) : NULL;
    return l != NULL ? l : line_append(rep, &key);
}

static int add_line(hoso_report *rep, size_t n0, const msgpack_object *o)
{
    const msgpack_object *a = o->via.array.ptr;
    char agency[48], service[64], name[160];
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 9 || raw_str(&a[0], agency, sizeof agency) ||
        raw_str(&a[1], service, sizeof service) || raw_str(&a[2], name, sizeof name) ||
        a[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        (a[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER && a[4].type != MSGPACK_OBJECT_NEGATIVE_INTEGER) ||
        a[8].type != MSGPACK_OBJECT_ARRAY)
        return HOSO_ECORRUPT;
    line *l = part_line(rep, n0, agency, service);
    if (l == NULL) return HOSO_ENOMEM;
    if (l->name[0] == '\0') memcpy(l->name, name, sizeof l->name);
    l->seen |= a[3].via.u64 != 0;
    l->overdue_open += a[4].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)a[4].via.u64 : a[4].via.i64;
    if (raw_u64s(&a[5], l->c, HOSO_STAT_N) || raw_u64s(&a[6], l->days, HOSO_STAT_DAYS) ||
        raw_u64s(&a[7], l->by_channel, NCH))
        return HOSO_ECORRUPT;
    for (uint32_t j = 0; j < a[8].via.array.size; j++) {
        const msgpack_object *q = &a[8].via.array.ptr[j];
        char qname[64];
        if (q->type != MSGPACK_OBJECT_ARRAY || q->via.array.size != 4 || raw_str(&q->via.array.ptr[0], qname, sizeof qname) ||
            q->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            q->via.array.ptr[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return HOSO_ECORRUPT;
        size_t k;
        for (k = 0; k < l->nq && strcmp(l->q[k].name, qname) != 0; k++)
            ;
        if (k == l->nq) {
            question *nq = realloc(l->q, (l->nq + 1) * sizeof *nq);
            if (nq == NULL) return HOSO_ENOMEM;
            l->q = nq;
            memset(&l->q[k], 0, sizeof l->q[k]);
            memcpy(l->q[k].name, qname, sizeof qname);
            l->nq++;
        }
        l->q[k].count += q->via.array.ptr[1].via.u64;
        l->q[k].sum += q->via.array.ptr[2].via.u64;
        if (raw_u64s(&q->via.array.ptr[3], l->q[k].dist, 5)) return HOSO_ECORRUPT;
    }
    return 0;
}

int hoso_report_empty(const char *month, hoso_report **out, hoso_errinfo *ei)
{
    *out = NULL;
    if (!valid_month(month)) return hoso_fail_field(ei, "month", "must be a month YYYY-MM");
    if ((*out = calloc(1, sizeof **out)) == NULL) return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
    memcpy((*out)->month, month, 8);
    return 0;
}

int hoso_report_add_raw(hoso_report *rep, const void *raw, size_t len)
{
    msgpack_unpacked u;
    int rc = HOSO_ECORRUPT;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, raw, len, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_ARRAY &&
        u.data.via.array.size == 2 && u.data.via.array.ptr[1].type == MSGPACK_OBJECT_ARRAY) {
        const msgpack_object *lines = &u.data.via.array.ptr[1];
        size_t n0 = rep->n; /* the lines of the parts before, sorted */
        rc = 0;
        for (uint32_t i = 0; rc == 0 && i < lines->via.array.size; i++)
            rc = add_line(rep, n0, &lines->via.array.ptr[i]);
        /* A part lists each line once, so its new lines never meet each other. */
        if (rep->n > 1) qsort(rep->lines, rep->n, sizeof *rep->lines, line_cmp);
    }
    msgpack_unpacked_destroy(&u);
    if (rc == 0) {
        /* The questions of every part. */
        free(rep->questions);
        rep->questions = NULL;
        rep->nquestions = 0;
        rc = collect_questions(rep);
    }
    return rc;
}

void hoso_reports_query_pack(msgpack_sbuffer *out, const char *kind, const char *const *kv, size_t nkv)
{
    msgpack_packer pk;
    size_t n = 0;
    for (size_t i = 0; i + 1 < nkv; i += 2)
        n += kv[i + 1] != NULL;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1 + n);
    hoso_pack_kcstr(&pk, "q", kind);
    for (size_t i = 0; i + 1 < nkv; i += 2)
        if (kv[i + 1] != NULL)
            hoso_pack_kcstr(&pk, kv[i], kv[i + 1]);
}

int hoso_reports_query(hoso_store *s, const msgpack_object *q, msgpack_sbuffer *out, char *why, size_t whysz)
{
    char kind[16], month[16] = "", agency[48] = "", from[16] = "", to[16] = "";
    const msgpack_object *k = hoso_map_get(q, "q"), *m = hoso_map_get(q, "month"), *a = hoso_map_get(q, "agency"),
                         *f = hoso_map_get(q, "from"), *t2 = hoso_map_get(q, "to");
    hoso_errinfo ei;
    hoso_report *rep = NULL;
    hoso_txn *t = NULL;
    int err;
    memset(&ei, 0, sizeof ei);
    if (k == NULL || raw_str(k, kind, sizeof kind) || (m != NULL && raw_str(m, month, sizeof month)) ||
        (a != NULL && raw_str(a, agency, sizeof agency)) || (f != NULL && raw_str(f, from, sizeof from)) ||
        (t2 != NULL && raw_str(t2, to, sizeof to)) ||
        (strcmp(kind, "report") != 0 && strcmp(kind, "stats") != 0 && strcmp(kind, "satisfaction") != 0)) {
        snprintf(why, whysz, "not a query this node knows");
        return HOSO_EBAD_REQUEST;
    }
    if ((err = hoso_txn_read(s, &t)) != 0) {
        snprintf(why, whysz, "cannot read the store");
        return err;
    }
    if (strcmp(kind, "stats") == 0) {
        err = hoso_stats_raw(t, from[0] ? from : NULL, to[0] ? to : NULL, agency, out);
    } else if (strcmp(kind, "satisfaction") == 0) {
        err = hoso_satisfaction_raw(t, month, agency[0] ? agency : NULL, out);
    } else if ((err = hoso_report_build(t, month, agency, &rep, &ei)) == 0) {
        err = hoso_report_raw(rep, out);
    }
    hoso_txn_abort(t);
    if (err != 0)
        snprintf(why, whysz, "%s", ei.message[0] ? ei.message : hoso_err_message(err));
    hoso_report_free(rep);
    return err;
}

/* ---------------------------------------------------------------------------------- */
/* Indicators */

/* Sums lines [from, to) into *sum (satisfaction merged per question). */
static int sum_lines(const line *lines, size_t from, size_t to, line *sum)
{
    memset(sum, 0, sizeof *sum);
    for (size_t i = from; i < to; i++) {
        const line *l = &lines[i];
        for (int k = 0; k < HOSO_STAT_N; k++) sum->c[k] += l->c[k];
        for (int k = 0; k < HOSO_STAT_DAYS; k++) sum->days[k] += l->days[k];
        for (int k = 0; k < NCH; k++) sum->by_channel[k] += l->by_channel[k];
        sum->overdue_open += l->overdue_open;
        for (size_t j = 0; j < l->nq; j++) {
            size_t k;
            for (k = 0; k < sum->nq && strcmp(sum->q[k].name, l->q[j].name) != 0; k++)
                ;
            if (k == sum->nq) {
                question *nq = realloc(sum->q, (sum->nq + 1) * sizeof *nq);
                if (nq == NULL) return HOSO_ENOMEM;
                sum->q = nq;
                memset(&sum->q[k], 0, sizeof sum->q[k]);
                memcpy(sum->q[k].name, l->q[j].name, sizeof sum->q[k].name);
                sum->nq++;
            }
            sum->q[k].count += l->q[j].count;
            sum->q[k].sum += l->q[j].sum;
            for (int d = 0; d < 5; d++) sum->q[k].dist[d] += l->q[j].dist[d];
        }
    }
    return 0;
}

static double ratio(uint64_t num, uint64_t den, double scale) { return den ? (double)num * scale / (double)den : NAN; }
static double round_to(double v, double unit) { return isnan(v) ? v : round(v / unit) * unit; }

typedef struct indicators {
    uint64_t finished;
    double share_online, share_on_time, supplements_per_100, paper_reuse_rate, share_synced;
    double avg_days;
    int64_t p90_days; /* -1: none finished */
} indicators;

static void compute(const line *l, indicators *x)
{
    uint64_t received = l->c[HOSO_STAT_RECEIVED], n = 0;
    x->finished = l->c[HOSO_STAT_EARLY] + l->c[HOSO_STAT_ON_TIME] + l->c[HOSO_STAT_LATE];
    x->share_online = round_to(ratio(l->by_channel[CH_APP] + l->by_channel[CH_BOT], received, 1), 1e-4);
    x->share_on_time = round_to(ratio(l->c[HOSO_STAT_EARLY] + l->c[HOSO_STAT_ON_TIME], x->finished, 1), 1e-4);
    x->supplements_per_100 = round_to(ratio(l->c[HOSO_STAT_SUPPLEMENTS], received, 100), 1e-2);
    x->paper_reuse_rate = round_to(
        ratio(l->c[HOSO_STAT_PAPERS_REUSED], l->c[HOSO_STAT_PAPERS_REUSED] + l->c[HOSO_STAT_PAPERS_GIVEN], 1), 1e-4);
    x->share_synced = round_to(ratio(l->c[HOSO_STAT_PORTAL_SYNCED], received, 1), 1e-4);
    x->avg_days = round_to(ratio(l->c[HOSO_STAT_RESOLVE_MS], l->c[HOSO_STAT_RESOLVE_N], 1.0 / DAY_MS), 1e-2);
    /* Nearest rank: the smallest d with at least ceil(0.9 n) dossiers done in d days. */
    x->p90_days = -1;
    for (int d = 0; d < HOSO_STAT_DAYS; d++) n += l->days[d];
    if (n > 0) {
        uint64_t rank = (9 * n + 9) / 10, cum = 0;
        for (int d = 0; d < HOSO_STAT_DAYS && x->p90_days < 0; d++)
            if ((cum += l->days[d]) >= rank) x->p90_days = d;
    }
}

static const struct {
    const char *name;
    int ms, n;
} STEPS[] = {
    {"reception", HOSO_STAT_RECEPTION_MS, HOSO_STAT_RECEPTION_N},
    {"processing", HOSO_STAT_PROCESSING_MS, HOSO_STAT_PROCESSING_N},
    {"supplement_wait", HOSO_STAT_SUPPLEMENT_MS, HOSO_STAT_SUPPLEMENT_N},
    {"payment_wait", HOSO_STAT_PAYMENT_MS, HOSO_STAT_PAYMENT_N},
    {"return_wait", HOSO_STAT_RETURN_MS, HOSO_STAT_RETURN_N},
};
#define NSTEPS (sizeof STEPS / sizeof STEPS[0])

/* ---------------------------------------------------------------------------------- */
/* msgpack (the API; JSON through the runtime or hoso_msgpack_to_json) */

static int pack_num(msgpack_packer *pk, const char *key, double v)
{
    if (hoso_pack_cstr(pk, key)) return -1;
    return isnan(v) ? msgpack_pack_nil(pk) : msgpack_pack_double(pk, v);
}

static int pack_u(msgpack_packer *pk, const char *key, uint64_t v)
{
    return hoso_pack_cstr(pk, key) || msgpack_pack_uint64(pk, v);
}

static int pack_line(msgpack_packer *pk, const line *l, int with_service)
{
    indicators x;
    int r = 0;
    compute(l, &x);
    r |= msgpack_pack_map(pk, 28 + (with_service ? 2 : 0));
    if (with_service) {
        r |= hoso_pack_kcstr(pk, "service", l->service);
        r |= hoso_pack_kcstr(pk, "name", l->name);
    }
    r |= pack_u(pk, "received", l->c[HOSO_STAT_RECEIVED]);
    r |= hoso_pack_cstr(pk, "by_channel") || msgpack_pack_map(pk, NCH);
    for (int i = 0; i < NCH; i++) r |= pack_u(pk, CHANNELS[i], l->by_channel[i]);
    r |= pack_u(pk, "accepted", l->c[HOSO_STAT_ACCEPTED]);
    r |= pack_u(pk, "refused", l->c[HOSO_STAT_REFUSED]);
    r |= pack_u(pk, "withdrawn", l->c[HOSO_STAT_WITHDRAWN]);
    r |= pack_u(pk, "stopped", l->c[HOSO_STAT_STOPPED]);
    r |= pack_u(pk, "finished_early", l->c[HOSO_STAT_EARLY]);
    r |= pack_u(pk, "finished_on_time", l->c[HOSO_STAT_ON_TIME]);
    r |= pack_u(pk, "finished_late", l->c[HOSO_STAT_LATE]);
    r |= pack_u(pk, "returned", l->c[HOSO_STAT_RETURNED]);
    r |= pack_u(pk, "overdue", l->c[HOSO_STAT_OVERDUE]);
    r |= pack_u(pk, "overdue_open", l->overdue_open > 0 ? (uint64_t)l->overdue_open : 0);
    r |= pack_num(pk, "avg_processing_days", x.avg_days);
    r |= hoso_pack_cstr(pk, "p90_processing_days");
    r |= x.p90_days < 0 ? msgpack_pack_nil(pk) : msgpack_pack_int64(pk, x.p90_days);
    r |= hoso_pack_cstr(pk, "processing_days") || msgpack_pack_array(pk, HOSO_STAT_DAYS);
    for (int d = 0; d < HOSO_STAT_DAYS; d++) r |= msgpack_pack_uint64(pk, l->days[d]);
    r |= pack_u(pk, "supplements", l->c[HOSO_STAT_SUPPLEMENTS]);
    r |= pack_u(pk, "fee_requests", l->c[HOSO_STAT_FEE_REQUESTS]);
    r |= pack_u(pk, "papers_reused", l->c[HOSO_STAT_PAPERS_REUSED]);
    r |= pack_u(pk, "papers_given", l->c[HOSO_STAT_PAPERS_GIVEN]);
    r |= pack_u(pk, "portal_synced", l->c[HOSO_STAT_PORTAL_SYNCED]);
    r |= pack_u(pk, "feedback", l->c[HOSO_STAT_FEEDBACK]);
    r |= pack_num(pk, "share_online", x.share_online);
    r |= pack_num(pk, "share_on_time", x.share_on_time);
    r |= pack_num(pk, "supplements_per_100", x.supplements_per_100);
    r |= pack_num(pk, "paper_reuse_rate", x.paper_reuse_rate);
    r |= pack_num(pk, "share_synced", x.share_synced);
    r |= hoso_pack_cstr(pk, "steps") || msgpack_pack_map(pk, NSTEPS);
    for (size_t i = 0; i < NSTEPS; i++) {
        r |= hoso_pack_cstr(pk, STEPS[i].name) || msgpack_pack_map(pk, 3);
        r |= pack_u(pk, "count", l->c[STEPS[i].n]);
        r |= pack_u(pk, "total_ms", l->c[STEPS[i].ms]);
        r |= pack_num(pk, "avg_days", round_to(ratio(l->c[STEPS[i].ms], l->c[STEPS[i].n], 1.0 / DAY_MS), 1e-2));
    }
    r |= hoso_pack_cstr(pk, "satisfaction") || msgpack_pack_map(pk, (uint32_t)l->nq);
    for (size_t i = 0; i < l->nq; i++) {
        const question *q = &l->q[i];
        r |= hoso_pack_cstr(pk, q->name);
        if (q->count < MIN_RATINGS) {
            r |= msgpack_pack_map(pk, 2) || pack_u(pk, "count", q->count) || hoso_pack_cstr(pk, "suppressed") ||
                 msgpack_pack_true(pk);
            continue;
        }
        r |= msgpack_pack_map(pk, 3) || pack_u(pk, "count", q->count) ||
             pack_num(pk, "avg", round_to((double)q->sum / (double)q->count, 1e-2)) || hoso_pack_cstr(pk, "dist") ||
             msgpack_pack_array(pk, 5);
        for (int k = 0; k < 5; k++) r |= msgpack_pack_uint64(pk, q->dist[k]);
    }
    return r ? HOSO_ENOMEM : 0;
}

/* Calls fn for each agency: lines [from, to). */
static int each_agency(const hoso_report *rep, int (*fn)(void *ctx, size_t from, size_t to), void *ctx)
{
    for (size_t i = 0; i < rep->n;) {
        size_t j = i + 1;
        while (j < rep->n && strcmp(rep->lines[j].agency, rep->lines[i].agency) == 0) j++;
        int rc = fn(ctx, i, j);
        if (rc) return rc;
        i = j;
    }
    return 0;
}

static size_t count_agencies(const hoso_report *rep)
{
    size_t n = 0;
    for (size_t i = 0; i < rep->n; i++) n += i == 0 || strcmp(rep->lines[i].agency, rep->lines[i - 1].agency) != 0;
    return n;
}

typedef struct packer {
    const hoso_report *rep;
    msgpack_packer *pk;
} packer;

static int pack_agency(void *ctx, size_t from, size_t to)
{
    packer *p = ctx;
    line sum;
    int rc = sum_lines(p->rep->lines, from, to, &sum);
    if (rc == 0 && (msgpack_pack_map(p->pk, 3) || hoso_pack_kcstr(p->pk, "agency", p->rep->lines[from].agency) ||
                    hoso_pack_cstr(p->pk, "services") || msgpack_pack_array(p->pk, (uint32_t)(to - from))))
        rc = HOSO_ENOMEM;
    for (size_t i = from; i < to && rc == 0; i++) rc = pack_line(p->pk, &p->rep->lines[i], 1);
    if (rc == 0 && hoso_pack_cstr(p->pk, "totals")) rc = HOSO_ENOMEM;
    if (rc == 0) rc = pack_line(p->pk, &sum, 0);
    free(sum.q);
    return rc;
}

int hoso_report_msgpack(const hoso_report *rep, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    packer p = {rep, &pk};
    line all;
    int rc;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, 4) || hoso_pack_kcstr(&pk, "month", rep->month) ||
        hoso_pack_kint(&pk, "min_ratings", MIN_RATINGS) || hoso_pack_cstr(&pk, "agencies") ||
        msgpack_pack_array(&pk, (uint32_t)count_agencies(rep)))
        return HOSO_ENOMEM;
    if ((rc = each_agency(rep, pack_agency, &p)) != 0) return rc;
    if ((rc = sum_lines(rep->lines, 0, rep->n, &all)) == 0) {
        rc = hoso_pack_cstr(&pk, "totals") ? HOSO_ENOMEM : pack_line(&pk, &all, 0);
        free(all.q);
    }
    return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Text forms */

static void put_num(msgpack_sbuffer *b, double v, const char *fmt)
{
    if (!isnan(v)) put(b, fmt, v);
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void csv_field(msgpack_sbuffer *b, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        put(b, "%s", s);
        return;
    }
    put(b, "\"");
    for (const char *p = s; *p; p++)
        msgpack_sbuffer_write(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    put(b, "\"");
}

static void csv_line(msgpack_sbuffer *b, const hoso_report *rep, const char *kind, const char *agency, const line *l)
{
    indicators x;
    compute(l, &x);
    put(b, "%s,%s,", rep->month, kind);
    csv_field(b, agency);
    put(b, ",");
    csv_field(b, l->service);
    put(b, ",");
    csv_field(b, l->name);
    put(b, ",%llu", (unsigned long long)l->c[HOSO_STAT_RECEIVED]);
    for (int i = 0; i < NCH; i++) put(b, ",%llu", (unsigned long long)l->by_channel[i]);
    static const int cols[] = {HOSO_STAT_ACCEPTED, HOSO_STAT_REFUSED,  HOSO_STAT_WITHDRAWN, HOSO_STAT_STOPPED,
                               HOSO_STAT_EARLY,    HOSO_STAT_ON_TIME, HOSO_STAT_LATE,      HOSO_STAT_RETURNED,
                               HOSO_STAT_OVERDUE};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) put(b, ",%llu", (unsigned long long)l->c[cols[i]]);
    put(b, ",%lld,", (long long)(l->overdue_open > 0 ? l->overdue_open : 0));
    put_num(b, x.avg_days, "%.2f");
    put(b, ",");
    if (x.p90_days >= 0) put(b, "%lld", (long long)x.p90_days);
    static const int cols2[] = {HOSO_STAT_SUPPLEMENTS,   HOSO_STAT_FEE_REQUESTS,  HOSO_STAT_PAPERS_REUSED,
                                HOSO_STAT_PAPERS_GIVEN,  HOSO_STAT_PORTAL_SYNCED, HOSO_STAT_FEEDBACK};
    for (size_t i = 0; i < sizeof cols2 / sizeof cols2[0]; i++) put(b, ",%llu", (unsigned long long)l->c[cols2[i]]);
    double shares[] = {x.share_online, x.share_on_time, x.supplements_per_100, x.paper_reuse_rate, x.share_synced};
    for (size_t i = 0; i < sizeof shares / sizeof shares[0]; i++) {
        put(b, ",");
        put_num(b, shares[i], "%.4g");
    }
    for (size_t i = 0; i < NSTEPS; i++) {
        put(b, ",%llu,", (unsigned long long)l->c[STEPS[i].n]);
        put_num(b, round_to(ratio(l->c[STEPS[i].ms], l->c[STEPS[i].n], 1.0 / DAY_MS), 1e-2), "%.2f");
    }
    for (size_t k = 0; k < rep->nquestions; k++) {
        const question *q = NULL;
        for (size_t j = 0; j < l->nq; j++)
            if (strcmp(l->q[j].name, rep->questions[k]) == 0) q = &l->q[j];
        if (q == NULL) {
            put(b, ",0,,");
        } else if (q->count < MIN_RATINGS) {
            put(b, ",%llu,suppressed,", (unsigned long long)q->count);
        } else {
            put(b, ",%llu,%.2f,%llu/%llu/%llu/%llu/%llu", (unsigned long long)q->count,
                round_to((double)q->sum / (double)q->count, 1e-2), (unsigned long long)q->dist[0],
                (unsigned long long)q->dist[1], (unsigned long long)q->dist[2], (unsigned long long)q->dist[3],
                (unsigned long long)q->dist[4]);
        }
    }
    put(b, "\r\n");
}

typedef struct texter {
    const hoso_report *rep;
    msgpack_sbuffer *b;
} texter;

static int csv_agency(void *ctx, size_t from, size_t to)
{
    texter *tx = ctx;
    line sum;
    for (size_t i = from; i < to; i++) csv_line(tx->b, tx->rep, "service", tx->rep->lines[i].agency, &tx->rep->lines[i]);
    if (sum_lines(tx->rep->lines, from, to, &sum) != 0) return HOSO_ENOMEM;
    csv_line(tx->b, tx->rep, "agency_total", tx->rep->lines[from].agency, &sum);
    free(sum.q);
    return 0;
}

int hoso_report_csv(const hoso_report *rep, msgpack_sbuffer *b)
{
    texter tx = {rep, b};
    line all;
    put(b, "month,row,agency,service,name,received,app,bot,counter,accepted,refused,withdrawn,stopped,"
           "finished_early,finished_on_time,finished_late,returned,overdue,overdue_open,avg_processing_days,"
           "p90_processing_days,supplements,fee_requests,papers_reused,papers_given,portal_synced,feedback,"
           "share_online,share_on_time,supplements_per_100,paper_reuse_rate,share_synced");
    for (size_t i = 0; i < NSTEPS; i++) put(b, ",%s_count,%s_avg_days", STEPS[i].name, STEPS[i].name);
    for (size_t k = 0; k < rep->nquestions; k++) {
        char col[80];
        for (int part = 0; part < 3; part++) {
            snprintf(col, sizeof col, "satisfaction_%s_%s", rep->questions[k],
                     part == 0 ? "count" : part == 1 ? "avg" : "dist");
            put(b, ",");
            csv_field(b, col);
        }
    }
    put(b, "\r\n");
    if (each_agency(rep, csv_agency, &tx) != 0 || sum_lines(rep->lines, 0, rep->n, &all) != 0) return HOSO_ENOMEM;
    csv_line(b, rep, "total", "", &all);
    free(all.q);
    return b->data == NULL ? HOSO_ENOMEM : 0;
}

static void html_text(msgpack_sbuffer *b, const char *s)
{
    for (const char *p = s; *p; p++) switch (*p) {
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '&': put(b, "&amp;"); break;
        case '"': put(b, "&quot;"); break;
        case '\'': put(b, "&#39;"); break;
        default: msgpack_sbuffer_write(b, p, 1);
        }
}

static void html_cell_num(msgpack_sbuffer *b, double v, const char *fmt)
{
    put(b, "<td>");
    if (isnan(v)) put(b, "–");
    else put(b, fmt, v);
    put(b, "</td>");
}

static void html_row(msgpack_sbuffer *b, const line *l, const char *label, int total)
{
    indicators x;
    compute(l, &x);
    put(b, total ? "<tr class=total><th>" : "<tr><th>");
    html_text(b, label);
    if (!total && l->name[0]) {
        put(b, "<br><small>");
        html_text(b, l->name);
        put(b, "</small>");
    }
    put(b, "</th><td>%llu</td><td>%llu / %llu / %llu</td><td>%llu / %llu</td>", (unsigned long long)l->c[HOSO_STAT_RECEIVED],
        (unsigned long long)l->by_channel[CH_APP], (unsigned long long)l->by_channel[CH_BOT],
        (unsigned long long)l->by_channel[CH_COUNTER], (unsigned long long)l->c[HOSO_STAT_ACCEPTED],
        (unsigned long long)l->c[HOSO_STAT_REFUSED]);
    put(b, "<td>%llu / %llu / %llu</td>", (unsigned long long)l->c[HOSO_STAT_EARLY],
        (unsigned long long)l->c[HOSO_STAT_ON_TIME], (unsigned long long)l->c[HOSO_STAT_LATE]);
    html_cell_num(b, x.share_on_time * 100, "%.1f%%");
    put(b, "<td>%lld</td>", (long long)(l->overdue_open > 0 ? l->overdue_open : 0));
    html_cell_num(b, x.avg_days, "%.2f");
    if (x.p90_days >= 0) put(b, "<td>%lld</td>", (long long)x.p90_days);
    else put(b, "<td>–</td>");
    html_cell_num(b, x.supplements_per_100, "%.1f");
    put(b, "<td>%llu / %llu</td>", (unsigned long long)l->c[HOSO_STAT_WITHDRAWN], (unsigned long long)l->c[HOSO_STAT_STOPPED]);
    html_cell_num(b, x.paper_reuse_rate * 100, "%.1f%%");
    html_cell_num(b, x.share_synced * 100, "%.1f%%");
    put(b, "<td>%llu</td></tr>\n", (unsigned long long)l->c[HOSO_STAT_FEEDBACK]);
}

/* On time (early + on the day) against late, one bar per service. */
static void svg_on_time(msgpack_sbuffer *b, const line *lines, size_t from, size_t to)
{
    uint64_t max = 1;
    for (size_t i = from; i < to; i++) {
        uint64_t f = lines[i].c[HOSO_STAT_EARLY] + lines[i].c[HOSO_STAT_ON_TIME] + lines[i].c[HOSO_STAT_LATE];
        if (f > max) max = f;
    }
    unsigned h = (unsigned)(to - from) * 22 + 24;
    put(b, "<figure><figcaption>Đúng hạn / trễ hạn (on time / late)</figcaption>"
           "<svg xmlns='http://www.w3.org/2000/svg' width='560' height='%u' role='img'>", h);
    for (size_t i = from; i < to; i++) {
        const line *l = &lines[i];
        uint64_t ok = l->c[HOSO_STAT_EARLY] + l->c[HOSO_STAT_ON_TIME], late = l->c[HOSO_STAT_LATE];
        double wok = 380.0 * (double)ok / (double)max, wlate = 380.0 * (double)late / (double)max;
        unsigned y = (unsigned)(i - from) * 22 + 4;
        put(b, "<text x='0' y='%u' class=lbl>", y + 14);
        html_text(b, l->service);
        put(b, "</text><rect x='140' y='%u' width='%.1f' height='16' class=ok/>"
               "<rect x='%.1f' y='%u' width='%.1f' height='16' class=late/>"
               "<text x='%.1f' y='%u' class=lbl>%llu / %llu</text>",
            y, wok, 140 + wok, y, wlate, 146 + wok + wlate, y + 13, (unsigned long long)ok, (unsigned long long)late);
    }
    put(b, "</svg></figure>");
}

/* Days from acceptance to result, the agency's month. */
static void svg_days(msgpack_sbuffer *b, const line *sum)
{
    int last = 0;
    uint64_t max = 1;
    for (int d = 0; d < HOSO_STAT_DAYS; d++)
        if (sum->days[d]) {
            last = d;
            if (sum->days[d] > max) max = sum->days[d];
        }
    int cols = last + 1 < 8 ? 8 : last + 1;
    double w = 520.0 / cols;
    put(b, "<figure><figcaption>Số ngày giải quyết (processing days)</figcaption>"
           "<svg xmlns='http://www.w3.org/2000/svg' width='560' height='150' role='img'>");
    for (int d = 0; d < cols; d++) {
        double hgt = 110.0 * (double)sum->days[d] / (double)max;
        put(b, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' class=bar><title>%d%s: %llu</title></rect>",
            20 + d * w, 120 - hgt, w * 0.8, hgt, d, d == HOSO_STAT_DAYS - 1 ? "+" : "", (unsigned long long)sum->days[d]);
        if (cols <= 32 || d % 4 == 0)
            put(b, "<text x='%.1f' y='138' class=lbl>%d%s</text>", 20 + d * w, d, d == HOSO_STAT_DAYS - 1 ? "+" : "");
    }
    put(b, "</svg></figure>");
}

/* Average score per question, 1 to 5; cells under MIN_RATINGS are not drawn. */
static void svg_satisfaction(msgpack_sbuffer *b, const line *sum)
{
    if (sum->nq == 0) {
        put(b, "<p class=note>Chưa có đánh giá (no ratings this month).</p>");
        return;
    }
    put(b, "<figure><figcaption>Mức độ hài lòng (satisfaction, 1–5)</figcaption>"
           "<svg xmlns='http://www.w3.org/2000/svg' width='560' height='%u' role='img'>",
        (unsigned)sum->nq * 22 + 8);
    for (size_t i = 0; i < sum->nq; i++) {
        const question *q = &sum->q[i];
        unsigned y = (unsigned)i * 22 + 4;
        put(b, "<text x='0' y='%u' class=lbl>", y + 14);
        html_text(b, q->name);
        put(b, "</text>");
        if (q->count < MIN_RATINGS) {
            put(b, "<text x='140' y='%u' class=lbl>quá ít để hiển thị (too few to show: %llu)</text>", y + 14,
                (unsigned long long)q->count);
            continue;
        }
        double avg = (double)q->sum / (double)q->count;
        put(b, "<rect x='140' y='%u' width='%.1f' height='16' class=bar/>"
               "<text x='%.1f' y='%u' class=lbl>%.2f (n=%llu)</text>",
            y, 76.0 * avg, 146 + 76.0 * avg, y + 13, avg, (unsigned long long)q->count);
    }
    put(b, "</svg></figure>");
}

static int html_agency(void *ctx, size_t from, size_t to)
{
    texter *tx = ctx;
    const line *lines = tx->rep->lines;
    line sum;
    if (sum_lines(lines, from, to, &sum) != 0) return HOSO_ENOMEM;
    put(tx->b, "<section><h2>");
    html_text(tx->b, lines[from].agency);
    put(tx->b, "</h2><table><thead><tr><th>Thủ tục (service)</th><th>Tiếp nhận</th><th>App / bot / quầy</th>"
               "<th>Nhận / từ chối</th><th>Sớm / đúng / trễ hạn</th><th>Đúng hạn</th><th>Quá hạn chưa xong</th>"
               "<th>Ngày TB</th><th>Ngày P90</th><th>Bổ sung /100</th><th>Rút / dừng</th><th>Tái sử dụng giấy tờ</th>"
               "<th>Đồng bộ Cổng QG</th><th>Phản ánh</th></tr></thead><tbody>\n");
    for (size_t i = from; i < to; i++) html_row(tx->b, &lines[i], lines[i].service, 0);
    html_row(tx->b, &sum, "Tổng (total)", 1);
    put(tx->b, "</tbody></table><h3>Thời gian chờ theo bước (days per step, average)</h3><p class=steps>");
    for (size_t i = 0; i < NSTEPS; i++) {
        double avg = round_to(ratio(sum.c[STEPS[i].ms], sum.c[STEPS[i].n], 1.0 / DAY_MS), 1e-2);
        put(tx->b, "%s%s: ", i ? " · " : "", STEPS[i].name);
        if (isnan(avg)) put(tx->b, "–");
        else put(tx->b, "%.2f (n=%llu)", avg, (unsigned long long)sum.c[STEPS[i].n]);
    }
    put(tx->b, "</p><div class=charts>");
    svg_on_time(tx->b, lines, from, to);
    svg_days(tx->b, &sum);
    svg_satisfaction(tx->b, &sum);
    put(tx->b, "</div></section>\n");
    free(sum.q);
    return 0;
}

int hoso_report_html(const hoso_report *rep, msgpack_sbuffer *b)
{
    texter tx = {rep, b};
    put(b, "<!DOCTYPE html>\n<html lang=vi><head><meta charset=utf-8>"
           "<title>Báo cáo tháng %s (monthly report)</title><style>"
           "body{font:14px/1.4 sans-serif;margin:24px;color:#222}"
           "table{border-collapse:collapse;width:100%%;margin:8px 0}"
           "th,td{border:1px solid #bbb;padding:4px 6px;text-align:right;vertical-align:top}"
           "thead th{background:#eef;text-align:center}tbody th{text-align:left;font-weight:normal}"
           "tr.total{font-weight:bold;background:#f6f6f6}.charts{display:flex;flex-wrap:wrap;gap:16px}"
           "figure{margin:0}figcaption{font-weight:bold}.ok{fill:#2e7d32}.late{fill:#c62828}.bar{fill:#1565c0}"
           ".lbl{font:12px sans-serif;fill:#222}.note{color:#666}"
           "section{page-break-inside:avoid;margin-bottom:32px}"
           "@media print{body{margin:0}}</style></head><body>\n",
        rep->month);
    put(b, "<h1>Báo cáo tháng %s</h1><p class=note>Theo dõi, đánh giá dịch vụ công trực tuyến (Nghị định "
           "42/2022/NĐ-CP, Điều 16). Số ngày tính theo giờ Việt Nam; ô đánh giá dưới %d lượt không hiển thị.</p>\n",
        rep->month, MIN_RATINGS);
    if (rep->n == 0) put(b, "<p>Không có số liệu trong tháng (nothing recorded this month).</p>\n");
    if (each_agency(rep, html_agency, &tx) != 0) return HOSO_ENOMEM;
    put(b, "</body></html>\n");
    return b->data == NULL ? HOSO_ENOMEM : 0;
}

int hoso_report_format(const char *name)
{
    if (name == NULL || strcmp(name, "json") == 0) return HOSO_REPORT_JSON;
    if (strcmp(name, "csv") == 0) return HOSO_REPORT_CSV;
    if (strcmp(name, "html") == 0) return HOSO_REPORT_HTML;
    if (strcmp(name, "msgpack") == 0) return HOSO_REPORT_MSGPACK;
    return -1;
}

int hoso_report_render(const hoso_report *rep, int format, msgpack_sbuffer *out)
{
    switch (format) {
    case HOSO_REPORT_CSV: return hoso_report_csv(rep, out);
    case HOSO_REPORT_HTML: return hoso_report_html(rep, out);
    case HOSO_REPORT_MSGPACK: return hoso_report_msgpack(rep, out);
    default: break;
    }
    msgpack_sbuffer mp;
    char *json = NULL;
    size_t len = 0;
    msgpack_sbuffer_init(&mp);
    int rc = hoso_report_msgpack(rep, &mp);
    if (rc == 0) rc = hoso_msgpack_to_json(mp.data, mp.size, &json, &len);
    if (rc == 0) {
        msgpack_sbuffer_write(out, json, len);
        msgpack_sbuffer_write(out, "\n", 1);
    }
    free(json);
    msgpack_sbuffer_destroy(&mp);
    return rc;
}
