/*
 * router.c - matches a request's method and path against the route table main.c hands
 * in (server/routes/routes.c), and decodes the percent-escapes of URL parts.
 * The table is short, so a linear scan over it costs less than building a trie; the
 * scan also tells "no such path" (404) apart from "path exists, other method" (405).
 */
#include <string.h>
#include "runtime.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long hoso__url_decode(const char *s, size_t len, unsigned flags, char *out, size_t outsz)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '+' && (flags & HOSO_URL_FORM)) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1, lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                c = hi * 16 + lo;
                i += 2;
                /* A segment that decodes to a slash would let a parameter escape its
                 * position. */
                if (c == '/' && (flags & HOSO_URL_SEGMENT))
                    return -1;
            } else if (!(flags & HOSO_URL_FORM)) {
                return -1;
            }
        }
        if (c == 0 || n + 1 >= outsz)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return (long)n;
}

/* Percent-decodes one path segment into a pool copy. */
static int decode_segment(h2o_mem_pool_t *pool, const char *s, size_t len, const char **out)
{
    char *d = h2o_mem_alloc_pool(pool, len + 1);
    if (hoso__url_decode(s, len, HOSO_URL_SEGMENT, d, len + 1) < 0)
        return HOSO_EBAD_REQUEST;
    *out = d;
    return 0;
}

/* Compares pattern against path segment by segment; `{}` takes one non-empty segment.
 * On a match, fills the parameter spans. */
static int match_pattern(const char *pat, const char *path, size_t plen, const char *pstart[3], size_t plens[3],
                         size_t *np)
{
    size_t i = 0, n = 0;
    while (*pat != '\0') {
        if (pat[0] == '{' && pat[1] == '}') {
            size_t start = i;
            while (i < plen && path[i] != '/')
                i++;
            if (i == start || n == 3)
                return 0;
            pstart[n] = path + start;
            plens[n] = i - start;
            n++;
            pat += 2;
            continue;
        }
        if (i >= plen || path[i] != *pat)
            return 0;
        i++;
        pat++;
    }
    if (i != plen)
        return 0;
    *np = n;
    return 1;
}

/* Appends m to the comma-separated list in allow (once). */
static void allow_add(char *allow, size_t sz, const char *m)
{
    size_t ml = strlen(m), al = strlen(allow);
    for (const char *p = allow; (p = strstr(p, m)) != NULL; p += ml)
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || p[ml] == '\0'))
            return;
    if (al + ml + 3 > sz)
        return;
    snprintf(allow + al, sz - al, "%s%s", al > 0 ? ", " : "", m);
}

static int method_is(const char *m, size_t mlen, const char *want)
{
    return strlen(want) == mlen && memcmp(m, want, mlen) == 0;
}

int hoso__route_match(const hoso_route *routes, size_t n, const char *method, size_t mlen, const char *path,
                      size_t plen, h2o_mem_pool_t *pool, const hoso_route **out, const char *params[3],
                      size_t *nparams, char *allow, size_t allow_sz)
{
    int path_seen = 0;

    if (allow != NULL && allow_sz > 0)
        allow[0] = '\0';

    /* A trailing slash names the same resource ("/v1/services/" is "/v1/services"). */
    if (plen > 1 && path[plen - 1] == '/')
        plen--;
    for (size_t k = 0; k < n; k++) {
        const hoso_route *rt = &routes[k];
        const char *ps[3];
        size_t pl[3], np = 0;
        if (!match_pattern(rt->pattern, path, plen, ps, pl, &np))
            continue;
        /* HEAD is GET without the body (RFC 9110): the GET route answers it. */
        if (!method_is(method, mlen, rt->method) &&
            !(strcmp(rt->method, "GET") == 0 && method_is(method, mlen, "HEAD"))) {
            path_seen = 1;
            if (allow != NULL) {
                allow_add(allow, allow_sz, rt->method);
                if (strcmp(rt->method, "GET") == 0)
                    allow_add(allow, allow_sz, "HEAD");
            }
            continue;
        }
        for (size_t j = 0; j < np; j++) {
            int err = decode_segment(pool, ps[j], pl[j], &params[j]);
            if (err != 0)
                return err;
        }
        for (size_t j = np; j < 3; j++)
            params[j] = NULL;
        *nparams = np;
        *out = rt;
        return 0;
    }
    return path_seen ? HOSO_EMETHOD_NOT_ALLOWED : HOSO_ENOT_FOUND;
}
