/*
 * negotiate.c - content negotiation: which body types a request may carry and which
 * one its reply takes. Pure functions of header values, so that the rules are tested
 * apart from any connection (tests/unit/server/negotiate.c).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "runtime.h"

typedef struct span {
    const char *p;
    size_t n;
} span;

/* The media type of a header item, without parameters or surrounding blanks. */
static span media_type(const char *s, size_t len)
{
    size_t b = 0, e;
    while (b < len && (s[b] == ' ' || s[b] == '\t'))
        b++;
    e = b;
    while (e < len && s[e] != ';' && s[e] != ',')
        e++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    return (span){s + b, e - b};
}

static int is_type(span t, const char *want)
{
    size_t n = strlen(want);
    return t.n == n && strncasecmp(t.p, want, n) == 0;
}

static int is_msgpack(span t)
{
    return is_type(t, "application/msgpack") || is_type(t, "application/x-msgpack") ||
           is_type(t, "application/vnd.msgpack");
}

int hoso__body_type(const char *ctype, size_t len)
{
    span t = media_type(ctype, len);
    if (is_type(t, "application/json"))
        return HOSO_BODY_JSON;
    return is_msgpack(t) ? HOSO_BODY_MSGPACK : HOSO_BODY_OTHER;
}

/* The q-value of one Accept item (1 when it carries none). */
static double item_q(const char *s, const char *end)
{
    double q = 1;
    for (const char *p = s; p + 2 < end; p++) {
        if (p[0] != ';')
            continue;
        const char *v = p + 1;
        while (v < end && *v == ' ')
            v++;
        if (v + 2 <= end && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
            char tmp[16];
            size_t n = (size_t)(end - v - 2) < sizeof(tmp) - 1 ? (size_t)(end - v - 2) : sizeof(tmp) - 1;
            memcpy(tmp, v + 2, n);
            tmp[n] = '\0';
            q = strtod(tmp, NULL);
        }
    }
    return q;
}

int hoso__wants_json(const char *accept, size_t len, unsigned route_flags, int body_is_json)
{
    /* The q-values Accept gives JSON and msgpack (-1 when not named; wildcards name
     * neither, so curl's "any type" leaves the route's default). */
    double qj = -1, qm = -1;
    const char *s = accept, *end = accept != NULL ? accept + len : NULL;
    while (s != NULL && s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *iend = comma != NULL ? comma : end;
        span t = media_type(s, (size_t)(iend - s));
        double q = item_q(s, iend);
        if (is_type(t, "application/json") && q > qj)
            qj = q;
        else if (is_msgpack(t) && q > qm)
            qm = q;
        s = comma != NULL ? comma + 1 : NULL;
    }
    if (qm > 0 && qm > qj)
        return 0;
    if (qj > 0 && qj > qm)
        return 1;
    return body_is_json || (route_flags & HOSO_R_JSON) != 0;
}
