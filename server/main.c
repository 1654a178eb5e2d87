/*
 * main.c - the composition root of hosod: the command line, `serve` wired from
 * server/core/ (the runtime), server/routes/ (the route table) and server/tools/ (the
 * seed), and the offline subcommands of server/tools/. Nothing includes this file.
 * Usage errors exit 2, runtime failures 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "core/internal.h"
#include "routes/routes.h"
#include "tools/tools.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  hosod serve [--listen ADDR:PORT] [--data DIR] [--workers N] [--max-body BYTES] [--demo] [--quiet]\n"
            "              [--feed-max-age-days D] [--feed-max-events N]\n"
            "              [--ws-max-pending BYTES] [--ws-ping MS] [--ws-idle MS] [--ws-auth-timeout MS]\n"
            "      defaults: --listen 127.0.0.1:8080 --data ./var --workers <cores>\n"
            "                --feed-max-age-days 30 --feed-max-events 10000\n"
            "  hosod admin create-officer --data DIR --username U --password P|- --agency CODE [--full-name NAME]\n"
            "  hosod admin create-bot     --data DIR --username U --password P|- [--agency CODE] [--scopes \"a b\"]\n"
            "  hosod admin create-admin   --data DIR --username U --password P|- [--full-name NAME]\n"
            "  hosod admin import-services --data DIR FILE\n"
            "  hosod backup --data DIR --to FILE\n"
            "  hosod audit verify --data DIR\n"
            "  hosod version | --help\n"
            "A password of \"-\" is read from stdin.\n");
}

/* "127.0.0.1:8080", "[::1]:8080", or ":8080" (keeps the default host). */
static int parse_listen(const char *s, hoso_config *cfg)
{
    const char *colon, *host = s;
    size_t hlen;
    char *end;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL)
            return -1;
        hlen = (size_t)(colon - s);
    }
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || colon[1] == '\0' || port > 65535 || hlen >= sizeof(cfg->host))
        return -1;
    if (hlen > 0) {
        memcpy(cfg->host, host, hlen);
        cfg->host[hlen] = '\0';
    }
    cfg->port = (uint16_t)port;
    return 0;
}

/* 1..max; 0 is never a useful value for these options. */
static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    uint64_t v;
    if (hoso_parse_u64(s, max, &v) != 0 || v == 0)
        return -1;
    *out = v;
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    hoso_config cfg;
    unsigned long long v;

    hoso_config_default(&cfg);
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--demo") == 0) {
            cfg.demo = 1;
        } else if (strcmp(o, "--quiet") == 0) {
            cfg.quiet = 1;
        } else if (strcmp(o, "--listen") == 0 || strcmp(o, "--data") == 0 || strcmp(o, "--workers") == 0 ||
                   strcmp(o, "--ws-max-pending") == 0 || strcmp(o, "--ws-ping") == 0 ||
                   strcmp(o, "--ws-idle") == 0 || strcmp(o, "--ws-auth-timeout") == 0 ||
                   strcmp(o, "--max-body") == 0 || strcmp(o, "--feed-max-age-days") == 0 ||
                   strcmp(o, "--feed-max-events") == 0) {
            if (val == NULL) {
                fprintf(stderr, "hosod serve: %s needs a value\n", o);
                return 2;
            }
            i++;
            if (strcmp(o, "--listen") == 0 && parse_listen(val, &cfg) != 0) {
                fprintf(stderr, "hosod serve: --listen takes ADDR:PORT, not %s\n", val);
                return 2;
            } else if (strcmp(o, "--data") == 0) {
                if (strlen(val) >= sizeof(cfg.data_dir)) {
                    fprintf(stderr, "hosod serve: --data path too long\n");
                    return 2;
                }
                snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", val);
            } else if (strcmp(o, "--workers") == 0) {
                if (parse_uint(val, 256, &v) != 0) {
                    fprintf(stderr, "hosod serve: --workers takes 1..256, not %s\n", val);
                    return 2;
                }
                cfg.workers = (unsigned)v;
            } else if (strcmp(o, "--max-body") == 0) {
                if (parse_uint(val, (unsigned long long)1 << 30, &v) != 0) {
                    fprintf(stderr, "hosod serve: --max-body takes 1..1073741824 bytes, not %s\n", val);
                    return 2;
                }
                cfg.limits.max_body = (size_t)v;
            } else if (strcmp(o, "--ws-max-pending") == 0) {
                if (parse_uint(val, (unsigned long long)1 << 30, &v) != 0) {
                    fprintf(stderr, "hosod serve: --ws-max-pending takes 1..1073741824 bytes, not %s\n", val);
                    return 2;
                }
                cfg.ws_max_pending = (size_t)v;
            } else if (strncmp(o, "--ws-", 5) == 0) {
                /* --ws-ping, --ws-idle, --ws-auth-timeout: milliseconds */
                if (parse_uint(val, 3600000, &v) != 0) {
                    fprintf(stderr, "hosod serve: %s takes 1..3600000 ms, not %s\n", o, val);
                    return 2;
                }
                if (strcmp(o, "--ws-ping") == 0)
                    cfg.ws_ping_ms = (unsigned)v;
                else if (strcmp(o, "--ws-idle") == 0)
                    cfg.ws_idle_ms = (unsigned)v;
                else
                    cfg.ws_auth_ms = (unsigned)v;
            } else if (strcmp(o, "--feed-max-age-days") == 0) {
                if (parse_uint(val, 36500, &v) != 0) {
                    fprintf(stderr, "hosod serve: --feed-max-age-days takes 1..36500, not %s\n", val);
                    return 2;
                }
                cfg.feed_max_age_days = (unsigned)v;
            } else if (strcmp(o, "--feed-max-events") == 0) {
                if (parse_uint(val, 1000000000ULL, &v) != 0) {
                    fprintf(stderr, "hosod serve: --feed-max-events takes 1..1000000000, not %s\n", val);
                    return 2;
                }
                cfg.feed_max_events = v;
            }
        } else {
            fprintf(stderr, "hosod serve: unknown option %s\n", o);
            usage(stderr);
            return 2;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "hosod: libsodium failed to initialise\n");
        return 1;
    }
    hoso_app app = {hoso_routes, hoso_nroutes, hoso__seed};
    return hoso_server_run(&cfg, &app) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("hosod %s\n", HOSO_VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "admin") == 0)
        return hoso__cmd_admin(argc - 2, argv + 2);
    if (strcmp(cmd, "backup") == 0)
        return hoso__cmd_backup(argc - 2, argv + 2);
    if (strcmp(cmd, "audit") == 0)
        return hoso__cmd_audit(argc - 2, argv + 2);
    fprintf(stderr, "hosod: unknown command %s\n", cmd);
    usage(stderr);
    return 2;
}
