/* Unit tests of protocol/url.c: splitting callback URLs and the public-address check
 * that keeps bot webhooks out of the operator's network. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include "../unit.h"
#include "hoso_protocol.h"

static int public_addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, text, &a->sin6_addr) != 1) return -1;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        if (inet_pton(AF_INET, text, &a->sin_addr) != 1) return -1;
    }
    return hoso_addr_is_public((struct sockaddr *)&ss);
}

static void test_public_addresses(void)
{
    static const char *const yes[] = {"8.8.8.8", "203.0.114.1", "172.32.0.1", "100.128.0.1", "2001:4860::8888",
                                      "::ffff:8.8.8.8", "2002:0808:0808::1"};
    static const char *const no[] = {"127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1",
                                     "198.51.100.7", "203.0.113.9", "198.18.0.1", "::1", "::", "fe80::1",
                                     "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.1.1.1", "2001:db8::1",
                                     "2002:0a00:0001::1"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (public_addr(yes[i]) != 1) UNIT__FAIL("%s should be public", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (public_addr(no[i]) != 0) UNIT__FAIL("%s should not be public", no[i]);
}

static void test_split(void)
{
    char host[256];
    uint16_t port;
    const char *path;
    int https;
    EXPECT_INT(hoso_url_split("https://bot.example.vn/hooks/zalo?x=1", &https, host, sizeof host, &port, &path), 0);
    EXPECT_INT(https, 1);
    EXPECT_STR(host, "bot.example.vn");
    EXPECT_INT(port, 443);
    EXPECT_STR(path, "/hooks/zalo?x=1");
    EXPECT_INT(hoso_url_split("http://127.0.0.1:8090", &https, host, sizeof host, &port, &path), 0);
    EXPECT_INT(https, 0);
    EXPECT_STR(host, "127.0.0.1");
    EXPECT_INT(port, 8090);
    EXPECT_STR(path, "/");
    EXPECT_INT(hoso_url_split("https://[2001:db8::1]:8443/h", &https, host, sizeof host, &port, &path), 0);
    EXPECT_STR(host, "2001:db8::1");
    EXPECT_INT(port, 8443);
    static const char *const bad[] = {"ftp://x/", "https://", "https://:443/", "https://u:p@host/", "https://host:0/",
                                      "https://host:70000/", "https://host:12a/", "https://ho st/", "https://host/#frag",
                                      "https://[::1/", "https://host?q", "//host/", "https://host/\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hoso_url_split(bad[i], &https, host, sizeof host, &port, &path) == 0) UNIT__FAIL("%s should be refused", bad[i]);
}

UNIT_MAIN(UNIT(test_public_addresses), UNIT(test_split))
