/*
 * url.c - callback URLs of bot webhooks: splitting one, and telling whether an address
 * is one a server may call on the public internet (the server-side request forgery
 * check). Pure functions, no I/O.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "hoso_protocol.h"

int hoso_url_split(const char *url, int *https, char *host, size_t hostsz, uint16_t *port, const char **path)
{
    const char *p, *end;
    size_t hlen;
    if (strncmp(url, "https://", 8) == 0) {
        *https = 1;
        p = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        *https = 0;
        p = url + 7;
    } else {
        return HOSO_EBAD_REQUEST;
    }
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) return HOSO_EBAD_REQUEST; /* spaces, controls */
    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)) != NULL) return HOSO_EBAD_REQUEST; /* no user:password@ */
    *path = *end == '/' ? end : "/";
    if (*end == '?' || *end == '#') return HOSO_EBAD_REQUEST;
    if (strchr(*path, '#') != NULL) return HOSO_EBAD_REQUEST;
    const char *hend = end, *colon = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL) return HOSO_EBAD_REQUEST;
        hlen = (size_t)(close - p - 1);
        if (hlen == 0 || hlen >= hostsz) return HOSO_EBAD_REQUEST;
        memcpy(host, p + 1, hlen);
        if (close + 1 < end) {
            if (close[1] != ':') return HOSO_EBAD_REQUEST;
            colon = close + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hend = colon ? colon : end;
        hlen = (size_t)(hend - p);
        if (hlen == 0 || hlen >= hostsz) return HOSO_EBAD_REQUEST;
        memcpy(host, p, hlen);
    }
    host[hlen] = '\0';
    *port = *https ? 443 : 80;
    if (colon != NULL) {
        char *e;
        unsigned long v = strtoul(colon + 1, &e, 10);
        if (e != end || colon + 1 == end || v == 0 || v > 65535) return HOSO_EBAD_REQUEST;
        *port = (uint16_t)v;
    }
    return 0;
}

static int v4_public(const uint8_t *a)
{
    if (a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224) return 0;   /* this, private, loopback, multicast, reserved */
    if (a[0] == 100 && (a[1] & 0xC0) == 64) return 0;                     /* 100.64/10 carrier NAT */
    if (a[0] == 169 && a[1] == 254) return 0;                             /* link-local, cloud metadata */
    if (a[0] == 172 && (a[1] & 0xF0) == 16) return 0;                     /* 172.16/12 */
    if (a[0] == 192 && a[1] == 168) return 0;                             /* 192.168/16 */
    if (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) return 0;   /* IETF, TEST-NET-1 */
    if (a[0] == 198 && (a[1] & 0xFE) == 18) return 0;                     /* 198.18/15 benchmarking */
    if (a[0] == 198 && a[1] == 51 && a[2] == 100) return 0;               /* TEST-NET-2 */
    if (a[0] == 203 && a[1] == 0 && a[2] == 113) return 0;                /* TEST-NET-3 */
    return 1;
}

int hoso_addr_is_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_public((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family != AF_INET6) return 0;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) return v4_public(a + 12);
    if ((a[0] & 0xE0) != 0x20) return 0; /* only global unicast 2000::/3 */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return 0; /* documentation */
    if (a[0] == 0x20 && a[1] == 0x02) return v4_public(a + 2);                  /* 6to4 wraps a v4 */
    return 1;
}
