/*
 * cli_officer.c - `hoso officer move CODE STATUS ...`: reads the dossier's current
 * version, then asks for the move with it, so that a move made meanwhile by someone
 * else is refused (VERSION_CONFLICT) instead of silently overridden.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct move {
    cli *x;
    int done;
    int64_t version, from;
    int got;
} move;

static void on_current(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    move *m = ud;
    m->done = 1;
    if (r->error.err) return cli_error(m->x, &r->error);
    if (!r->dossier) return;
    m->version = r->dossier->version;
    m->from = r->dossier->status;
    m->got = 1;
}

static void on_moved(hoso_client *c, const hoso_client_reply *r, void *ud)
{
    move *m = ud;
    m->done = 1;
    if (r->error.err) return cli_error(m->x, &r->error);
    if (m->x->json) {
        cli_print_json(r->body);
    } else if (r->dossier) {
        printf("%s: %" PRId64 " %s → %" PRId64 " %s (phiên bản %" PRId64 ")\n", r->dossier->code.ptr, m->from,
               hoso_status_name_vi((int)m->from), r->dossier->status, hoso_status_name_vi((int)r->dossier->status),
               r->dossier->version);
    }
}

/* STATUS as a number 1..10 or an English slug ("accepted"). */
static int parse_status(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end) return n >= HOSO_ST_MIN && n <= HOSO_ST_MAX ? (int)n : 0;
    for (int st = HOSO_ST_MIN; st <= HOSO_ST_MAX; st++)
        if (strcmp(hoso_status_slug(st), s) == 0) return st;
    return 0;
}

/* MS since the epoch, or YYYY-MM-DD as 17:00 Vietnam time (end of office hours). */
static int64_t parse_time(const char *s)
{
    int y, m, d;
    char *end;
    long long n = strtoll(s, &end, 10);
    if (*s && !*end) return n;
    if (!hoso_date_parse(s, strlen(s), &y, &m, &d)) return -1;
    /* days from civil (Howard Hinnant's algorithm) */
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (unsigned)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097 + (long long)doe - 719468;
    return (days * 86400 + 17 * 3600 - 7 * 3600) * 1000;
}

static int usage2(const char *why)
{
    fprintf(stderr, "hoso: %s\nusage: hoso officer move CODE STATUS [--note T] [--reason T] [--fee VND]\n"
                    "         [--result T] [--papers-required a,b] [--due-at MS|YYYY-MM-DD]\n",
            why);
    return 2;
}

int cli_officer(cli *x, int argc, char **argv)
{
    hoso_client_transition t;
    const char *papers[32];
    char pbuf[2048];
    move m = {.x = x};
    memset(&t, 0, sizeof(t));
    if (argc < 3 || strcmp(argv[0], "move") != 0) return usage2("officer move CODE STATUS");
    const char *code = argv[1];
    if (!(t.to = parse_status(argv[2]))) return usage2("STATUS is 1..10 or a status name (accepted, ...)");
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc) {
            char why[160];
            snprintf(why, sizeof(why), "officer move: %s needs a value", o);
            return usage2(why);
        }
        const char *v = argv[++i];
        if (strcmp(o, "--note") == 0) t.note = v;
        else if (strcmp(o, "--reason") == 0) t.reason = v;
        else if (strcmp(o, "--result") == 0) t.result = v;
        else if (strcmp(o, "--fee") == 0) {
            char *end;
            t.fee = strtoll(v, &end, 10);
            if (!*v || *end || t.fee <= 0) return usage2("--fee is a positive number of VND");
        } else if (strcmp(o, "--due-at") == 0) {
            if ((t.due_at = parse_time(v)) <= 0) return usage2("--due-at is MS or YYYY-MM-DD");
        } else if (strcmp(o, "--papers-required") == 0) {
            char *save = NULL;
            snprintf(pbuf, sizeof(pbuf), "%s", v);
            for (char *s = strtok_r(pbuf, ",", &save); s && t.npapers_required < 32; s = strtok_r(NULL, ",", &save))
                papers[t.npapers_required++] = s;
            t.papers_required = papers;
        } else {
            char why[160];
            snprintf(why, sizeof(why), "officer move: unknown option %s", o);
            return usage2(why);
        }
    }
    if (!cli_signed_in(x)) return 1;
    int rc = hoso_client_get(x->c, code, on_current, &m);
    if (rc) {
        fprintf(stderr, "hoso: %s: %s\n", hoso_err_code(rc), hoso_err_message(rc));
        return 1;
    }
    if (hoso_client_run_until(x->c, &m.done, 60000) || !m.got) {
        if (!x->rc) fprintf(stderr, "hoso: TIMEOUT: no answer\n");
        return 1;
    }
    t.version = m.version;
    m.done = 0;
    if ((rc = hoso_client_transition_send(x->c, code, &t, on_moved, &m))) {
        fprintf(stderr, "hoso: %s: %s\n", hoso_err_code(rc), hoso_err_message(rc));
        return 1;
    }
    if (hoso_client_run_until(x->c, &m.done, 60000) && !x->rc) {
        fprintf(stderr, "hoso: TIMEOUT: no answer\n");
        return 1;
    }
    return x->rc;
}
