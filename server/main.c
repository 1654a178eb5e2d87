/*
 * main.c - the composition root of hosod: the command line, `serve` wired from
 * server/core/ (the runtime), server/routes/ (the route table) and server/tools/ (the
 * seed), and the offline subcommands of server/tools/. Nothing includes this file.
 * Usage errors exit 2, runtime failures 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "core/internal.h"
#include "broker/broker.h"
#include "consumers/consumers.h"
#include "reports/reports.h"
#include "routes/routes.h"
#include "tools/tools.h"

#define SERVE_USAGE                                                                                        \
    "hosod serve [--listen ADDR:PORT] [--data DIR] [--create] [--workers N] [--max-body BYTES] [--demo]\n"   \
    "            [--max-file BYTES] [--map-size BYTES] [--max-connections N]\n"                         \
    "            [--quiet] [--log-level L] [--log-format text|json] [--feed-max-age-days D]\n"                \
    "            [--feed-max-events N] [--trusted-proxy ADDR[/BITS]]... [--tls-cert FILE --tls-key FILE]\n"   \
    "            [--ws-max-pending BYTES] [--ws-ping MS] [--ws-idle MS] [--ws-auth-timeout MS]\n"   \
    "            [--portal-auth-url URL --portal-url URL --portal-user U --portal-password P|-\n"         \
    "             --portal-agency CODE | --portal-config FILE] [--portal-ca FILE] [--portal-timeout MS]\n" \
    "            [--portal-retry-min MS] [--portal-retry-max MS] [--portal-inflight N] [--webhook-allow-private]\n" \
    "            [--cluster FILE --node ID]\n"

#define REPORT_USAGE                                                                                       \
    "hosod report --data DIR | --cluster FILE --month YYYY-MM [--agency CODE] [--format json|csv|html]\n"   \
    "            [--out FILE]\n"

static void usage(FILE *f)
{
    fprintf(f, "usage:\n  " SERVE_USAGE);
    hoso__tools_usage(f);
    fprintf(f, "  " REPORT_USAGE);
    fprintf(f, "  hosod cluster status --cluster FILE [--json]\n");
    fprintf(f, "  hosod version | --help\n"
               "Each command has --help. A password of \"-\" is read from stdin.\n");
}

static void serve_help(void)
{
    printf("usage: " SERVE_USAGE "\n"
           "Serves the v1 API and WebSocket push from the data dir DIR (default ./var).\n"
           "  --listen ADDR:PORT     where to listen (default 127.0.0.1:8080; [::1]:8080 for IPv6)\n"
           "  --data DIR             the data dir (default ./var); one hosod per data dir\n"
           "  --create               make DIR and a new store when DIR holds none (first start);\n"
           "                         without it a DIR without data is an error\n"
           "  --workers N            HTTP worker threads (default: the number of cores)\n"
           "  --max-connections N    client connections at once; more get 503 and are closed (default:\n"
           "                         the open files limit less 256, or a quarter of a limit under 1024)\n"
           "  --max-body BYTES       largest request body (default 1048576); uploads come in pieces of it\n"
           "  --max-file BYTES       largest uploaded file (default 10485760)\n"
           "  --map-size BYTES       the most the store may hold (default 17179869184, 16 GiB; sparse:\n"
           "                         the file grows with the data). Suffixes K, M, G, T. A full store\n"
           "                         answers writes with 503; restart with a larger size\n"
           "  --demo                 create the demo officers and admin once, printing their passwords\n"
           "  --quiet                no start-up line\n"
           "  --log-level L          debug, info (default: a line per request), warn or error\n"
           "  --tls-cert FILE        serve HTTPS (and WSS) with this PEM certificate chain ...\n"
           "  --tls-key FILE         ... and this PEM key; SIGHUP reloads both without dropping connections\n"
           "  --trusted-proxy A[/B]  a reverse proxy whose X-Forwarded-For names the client (repeat for\n"
           "                         more, up to 8); from other peers the header is ignored\n"
           "  --log-format F         text (default) or json, one line per entry on stderr\n"
           "  --feed-max-age-days D  owner feed entries kept this long before the newest (default 30)\n"
           "  --feed-max-events N    owner feed entries kept per citizen (default 10000)\n"
           "  --ws-max-pending BYTES bytes queued to one WebSocket before close 4008 (default 1048576)\n"
           "  --ws-ping MS           ping period (default 25000)\n"
           "  --ws-idle MS           close after this long without a frame (default 60000)\n"
           "  --ws-auth-timeout MS   close 4001 without a token by then (default 10000)\n"
           "  --webhook-allow-private  bots' callback URLs may also be http and loopback or private\n"
           "                         addresses (tests, single-host setups; off: https to public addresses only)\n"
           "Portal mirror (every status to the National Public Service Portal; off without these):\n"
           "  --portal-auth-url URL  the portal's sign-in endpoint\n"
           "  --portal-url URL       the portal's integration endpoint\n"
           "  --portal-user U        the mirror's account at the portal\n"
           "  --portal-password P    its password (\"-\" reads it from stdin)\n"
           "  --portal-agency CODE   madonvi: the agency code the portal knows this system by\n"
           "  --portal-config FILE   the same as KEY=VALUE lines (auth_url, url, user, password, agency, ...)\n"
           "                         in a file of mode 0600, so the password stays off the command line\n"
           "  --portal-ca FILE       CA bundle to verify the portal's certificate (default: the system's)\n"
           "  --portal-timeout MS    connect and reply timeout of one call (default 10000)\n"
           "  --portal-retry-min MS  first retry delay (default 500); doubles up to ...\n"
           "  --portal-retry-max MS  ... this cap (default 60000), with full jitter\n"
           "  --portal-inflight N    dossiers sent at once (default 16)\n"
           "Cluster mode (several nodes joined by NATS JetStream; docs/operations.md):\n"
           "  --cluster FILE         the cluster file: {\"nats\": \"nats://HOST:PORT\", \"shards\": S,\n"
           "                         \"nodes\": [{\"id\": \"n1\", \"shards\": \"0-21\"}, ...]}\n"
           "  --node ID              which node of FILE this one is; its data dir holds that node's shards,\n"
           "                         with the cluster's secret.key\n");
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

/* "17179869184", "16G", "512M": bytes, with an optional binary suffix. */
static int parse_size(const char *s, unsigned long long *out)
{
    char num[32];
    size_t n = strlen(s);
    unsigned shift = 0;
    if (n == 0 || n >= sizeof(num))
        return -1;
    switch (s[n - 1]) {
    case 'K': case 'k': shift = 10; break;
    case 'M': case 'm': shift = 20; break;
    case 'G': case 'g': shift = 30; break;
    case 'T': case 't': shift = 40; break;
    default: break;
    }
    memcpy(num, s, n + 1);
    if (shift != 0)
        num[n - 1] = '\0';
    uint64_t v;
    /* bounded before the shift, so that nothing wraps into range */
    if (hoso_parse_u64(num, ((uint64_t)1 << 46) >> shift, &v) != 0 || v == 0)
        return -1;
    *out = (unsigned long long)v << shift;
    return 0;
}

/* "10.0.0.5", "10.0.0.0/8", "::1", "fd00::/8" */
static int parse_proxy(const char *s, hoso_config *cfg)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
    uint64_t bits = 0;
    if (cfg->ntrusted == sizeof(cfg->trusted) / sizeof(cfg->trusted[0]) || len == 0 || len >= sizeof(addr))
        return -1;
    memcpy(addr, s, len);
    addr[len] = '\0';
    int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
    unsigned max = family == AF_INET ? 32 : 128;
    if (inet_pton(family, addr, cfg->trusted[cfg->ntrusted].addr) != 1)
        return -1;
    if (slash != NULL && (slash[1] == '\0' || hoso_parse_u64(slash + 1, max, &bits) != 0))
        return -1;
    cfg->trusted[cfg->ntrusted].family = family;
    cfg->trusted[cfg->ntrusted].bits = slash != NULL ? (unsigned)bits : max;
    cfg->ntrusted++;
    return 0;
}

/* Cluster mode: the cluster file and this node's id (--cluster, --node). */
static hoso_cluster cluster;
static char cluster_node[33];

/* The services beside the workers, as the runtime's hooks: the cluster broker (in
 * cluster mode), the delivery engine and the overdue scheduler. */
static int start_services(hoso_server *srv, void *arg)
{
    int rc = 0;
    hoso_broker_set_admin(hoso__tools_admin_exec);
    hoso_broker_set_query(hoso_reports_query);
    if (cluster.nnodes > 0 && (rc = hoso_broker_start(srv, &cluster, cluster_node)) != 0)
        return rc;
    if ((rc = hoso_engine_start(srv, arg, cluster.nnodes > 0 ? &hoso_broker_engine_hooks : NULL)) == 0 && (rc = hoso_overdue_start(srv)) != 0)
        hoso_engine_stop();
    if (rc != 0 && cluster.nnodes > 0)
        hoso_broker_stop();
    return rc;
}
static void stop_services(void *arg)
{
    (void)arg;
    hoso_overdue_stop();
    hoso_engine_stop();
    if (cluster.nnodes > 0)
        hoso_broker_stop();
}
static void quiesce_services(void *arg)
{
    (void)arg;
    if (cluster.nnodes > 0)
        hoso_broker_quiesce();
}
static void services_metrics(msgpack_sbuffer *out)
{
    hoso_engine_metrics(out);
    hoso_broker_metrics(out);
}

static int cluster_holds(const char *account)
{
    const hoso_cluster_node *n = hoso_cluster_node_get(&cluster, cluster_node);
    unsigned shard = hoso_cluster_shard_of(account, cluster.shards);
    return n != NULL && shard >= n->first && shard <= n->last;
}

/* The loopback addresses the node's relay reaches its own listener from: the client's
 * address it names in X-Forwarded-For counts. */
static void trust_relay(hoso_config *cfg)
{
    static const char *const own[] = {"127.0.0.1", "::1"};
    for (size_t i = 0; i < 2 && cfg->ntrusted < sizeof(cfg->trusted) / sizeof(cfg->trusted[0]); i++) {
        int family = strchr(own[i], ':') != NULL ? AF_INET6 : AF_INET;
        cfg->trusted[cfg->ntrusted].family = family;
        cfg->trusted[cfg->ntrusted].bits = family == AF_INET ? 32 : 128;
        inet_pton(family, own[i], cfg->trusted[cfg->ntrusted].addr);
        cfg->ntrusted++;
    }
}

/* --portal-* options: 1 when o was one (i moved past its value), 0 when not, -1 on a
 * bad value (printed). */
static int portal_option(const char *o, const char *val, hoso_portal_config *pc, int *i)
{
    struct { const char *opt; char *dst; size_t n; } strs[] = {
        {"--portal-auth-url", pc->auth_url, sizeof pc->auth_url}, {"--portal-url", pc->url, sizeof pc->url},
        {"--portal-user", pc->user, sizeof pc->user},             {"--portal-password", pc->password, sizeof pc->password},
        {"--portal-agency", pc->agency, sizeof pc->agency},       {"--portal-ca", pc->ca_file, sizeof pc->ca_file},
    };
    struct { const char *opt; unsigned *dst; unsigned long long max; } nums[] = {
        {"--portal-timeout", &pc->timeout_ms, 600000}, {"--portal-retry-min", &pc->retry_min_ms, 3600000},
        {"--portal-retry-max", &pc->retry_max_ms, 86400000}, {"--portal-inflight", &pc->max_inflight, 256},
    };
    unsigned long long v;
    if (strncmp(o, "--portal-", 9) != 0)
        return 0;
    if (val == NULL) {
        fprintf(stderr, "hosod serve: %s needs a value\n", o);
        return -1;
    }
    (*i)++;
    if (strcmp(o, "--portal-config") == 0)
        return hoso_portal_config_file(val, pc) == 0 ? 1 : -1;
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        if (strcmp(o, strs[k].opt) != 0)
            continue;
        if (strcmp(o, "--portal-password") == 0 && strcmp(val, "-") == 0) {
            if (fgets(strs[k].dst, (int)strs[k].n, stdin) == NULL) {
                fprintf(stderr, "hosod serve: no portal password on stdin\n");
                return -1;
            }
            strs[k].dst[strcspn(strs[k].dst, "\r\n")] = '\0';
            return 1;
        }
        if (strlen(val) >= strs[k].n || val[0] == '\0') {
            fprintf(stderr, "hosod serve: %s is empty or too long\n", o);
            return -1;
        }
        snprintf(strs[k].dst, strs[k].n, "%s", val);
        return 1;
    }
    for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
        if (strcmp(o, nums[k].opt) != 0)
            continue;
        if (parse_uint(val, nums[k].max, &v) != 0) {
            fprintf(stderr, "hosod serve: %s takes 1..%llu, not %s\n", o, nums[k].max, val);
            return -1;
        }
        *nums[k].dst = (unsigned)v;
        return 1;
    }
    fprintf(stderr, "hosod serve: unknown option %s (see hosod serve --help)\n", o);
    return -1;
}

static int cmd_serve(int argc, char **argv)
{
    hoso_config cfg;
    static hoso_portal_config portal;
    unsigned long long v;
    int prc;

    hoso_config_default(&cfg);
    hoso_portal_config_default(&portal);
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            serve_help();
            return 0;
        } else if (strcmp(o, "--demo") == 0) {
            cfg.demo = 1;
        } else if (strcmp(o, "--webhook-allow-private") == 0) {
            cfg.webhook_allow_private = 1;
        } else if (strcmp(o, "--create") == 0) {
            cfg.create = 1;
        } else if (strcmp(o, "--cluster") == 0 || strcmp(o, "--node") == 0) {
            if (val == NULL) {
                fprintf(stderr, "hosod serve: %s needs a value\n", o);
                return 2;
            }
            i++;
            if (strcmp(o, "--cluster") == 0 && hoso_cluster_load(val, &cluster) != 0)
                return 2;
            if (strcmp(o, "--node") == 0) {
                if (strlen(val) >= sizeof(cluster_node) || val[0] == '\0') {
                    fprintf(stderr, "hosod serve: --node takes a node id of the cluster file\n");
                    return 2;
                }
                snprintf(cluster_node, sizeof(cluster_node), "%s", val);
            }
        } else if (strcmp(o, "--tls-cert") == 0 || strcmp(o, "--tls-key") == 0) {
            if (val == NULL || strlen(val) >= sizeof(cfg.tls_cert)) {
                fprintf(stderr, "hosod serve: %s needs a file\n", o);
                return 2;
            }
            snprintf(strcmp(o, "--tls-cert") == 0 ? cfg.tls_cert : cfg.tls_key, sizeof(cfg.tls_cert), "%s", val);
            i++;
        } else if (strcmp(o, "--trusted-proxy") == 0) {
            if (val == NULL || parse_proxy(val, &cfg) != 0) {
                fprintf(stderr, "hosod serve: --trusted-proxy takes ADDR or ADDR/BITS (up to 8 of them), not %s\n",
                        val != NULL ? val : "nothing");
                return 2;
            }
            i++;
        } else if (strcmp(o, "--log-level") == 0 || strcmp(o, "--log-format") == 0) {
            if (val == NULL) {
                fprintf(stderr, "hosod serve: %s needs a value\n", o);
                return 2;
            }
            i++;
            if (strcmp(o, "--log-level") == 0 && hoso_log_level_parse(val, &cfg.log_level) != 0) {
                fprintf(stderr, "hosod serve: --log-level takes debug, info, warn or error, not %s\n", val);
                return 2;
            }
            if (strcmp(o, "--log-format") == 0) {
                if (strcmp(val, "text") == 0)
                    cfg.log_format = HOSO_LOG_TEXT;
                else if (strcmp(val, "json") == 0)
                    cfg.log_format = HOSO_LOG_JSON;
                else {
                    fprintf(stderr, "hosod serve: --log-format takes text or json, not %s\n", val);
                    return 2;
                }
            }
        } else if ((prc = portal_option(o, val, &portal, &i)) != 0) {
            if (prc < 0)
                return 2;
        } else if (strcmp(o, "--quiet") == 0) {
            cfg.quiet = 1;
        } else if (strcmp(o, "--listen") == 0 || strcmp(o, "--data") == 0 || strcmp(o, "--workers") == 0 ||
                   strcmp(o, "--ws-max-pending") == 0 || strcmp(o, "--ws-ping") == 0 ||
                   strcmp(o, "--ws-idle") == 0 || strcmp(o, "--ws-auth-timeout") == 0 ||
                   strcmp(o, "--max-body") == 0 || strcmp(o, "--max-file") == 0 || strcmp(o, "--feed-max-age-days") == 0 ||
                   strcmp(o, "--feed-max-events") == 0 || strcmp(o, "--map-size") == 0 ||
                   strcmp(o, "--max-connections") == 0) {
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
            } else if (strcmp(o, "--max-connections") == 0) {
                if (parse_uint(val, 10000000, &v) != 0) {
                    fprintf(stderr, "hosod serve: --max-connections takes 1..10000000, not %s\n", val);
                    return 2;
                }
                cfg.max_connections = (unsigned)v;
            } else if (strcmp(o, "--max-body") == 0) {
                if (parse_uint(val, (unsigned long long)1 << 30, &v) != 0) {
                    fprintf(stderr, "hosod serve: --max-body takes 1..1073741824 bytes, not %s\n", val);
                    return 2;
                }
                cfg.limits.max_body = (size_t)v;
            } else if (strcmp(o, "--max-file") == 0) {
                if (parse_uint(val, (unsigned long long)1 << 32, &v) != 0) {
                    fprintf(stderr, "hosod serve: --max-file takes 1..4294967296 bytes, not %s\n", val);
                    return 2;
                }
                cfg.max_file = v;
            } else if (strcmp(o, "--map-size") == 0) {
                if (parse_size(val, &v) != 0 || v < ((unsigned long long)1 << 20) ||
                    v > ((unsigned long long)1 << 46)) {
                    fprintf(stderr, "hosod serve: --map-size takes 1M..64T bytes (suffix K, M, G or T), not %s\n",
                            val);
                    return 2;
                }
                cfg.map_size = v;
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
            fprintf(stderr, "hosod serve: unknown option %s (see hosod serve --help)\n", o);
            return 2;
        }
    }
    if ((cfg.tls_cert[0] == '\0') != (cfg.tls_key[0] == '\0')) {
        fprintf(stderr, "hosod serve: --tls-cert and --tls-key go together\n");
        return 2;
    }
    int nportal = !!portal.auth_url[0] + !!portal.url[0] + !!portal.user[0] + !!portal.password[0] + !!portal.agency[0];
    if (nportal != 0 && nportal != 5) {
        fprintf(stderr, "hosod serve: the portal mirror needs all of --portal-auth-url, --portal-url, --portal-user, "
                        "--portal-password and --portal-agency (or a --portal-config file with them)\n");
        return 2;
    }
    if ((cluster.nnodes > 0) != (cluster_node[0] != '\0')) {
        fprintf(stderr, "hosod serve: --cluster and --node go together\n");
        return 2;
    }
    if (cluster.nnodes > 0) {
        if (hoso_cluster_node_get(&cluster, cluster_node) == NULL) {
            fprintf(stderr, "hosod serve: node %s is not in the cluster file %s\n", cluster_node, cluster.file);
            return 2;
        }
        if (cfg.tls_cert[0] != '\0') {
            fprintf(stderr, "hosod serve: a cluster node serves plain HTTP behind the load balancer that ends TLS "
                            "(--tls-cert and --cluster do not go together)\n");
            return 2;
        }
        trust_relay(&cfg);
        cfg.holds_account = cluster_holds;
    }
    if (portal.retry_min_ms > portal.retry_max_ms) {
        fprintf(stderr, "hosod serve: the portal's first retry delay (--portal-retry-min, retry_min_ms) is above its "
                        "cap (--portal-retry-max, retry_max_ms)\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "hosod: libsodium failed to initialise\n");
        return 1;
    }
    /* Password hashing runs on libuv's pool: its size bounds argon2's memory (64 MiB a
     * hash). Set before the pool exists; an operator's own setting wins. */
    setenv("UV_THREADPOOL_SIZE", "4", 0);
    hoso_app app = {hoso_routes, hoso_nroutes, hoso__seed, start_services, stop_services, services_metrics, &portal,
                    cluster.nnodes > 0 ? hoso_broker_forward : NULL, cluster.nnodes > 0 ? &hoso_broker_remote_ops : NULL,
                    quiesce_services};
    return hoso_server_run(&cfg, &app) == 0 ? 0 : 1;
}

/* hosod report: the monthly report from the data dir's counters, read-only (beside a
 * running server too: LMDB readers do not block its writer). */
/* hosod report --cluster: each node's part of the month, summed here. */
static int add_report_part(void *ctx, const char *node, const void *data, size_t len)
{
    (void)node;
    return hoso_report_add_raw(ctx, data, len);
}

static int cluster_report(const char *file, const char *month, const char *agency, hoso_report **out,
                          hoso_errinfo *ei)
{
    hoso_cluster cl;
    msgpack_sbuffer q;
    const char *kv[] = {"month", month, "agency", agency};
    int err;
    if (hoso_cluster_load(file, &cl) != 0)
        return hoso_fail(ei, HOSO_EUNAVAILABLE, "the cluster file %s is not one", file);
    if ((err = hoso_report_empty(month, out, ei)) != 0)
        return err;
    msgpack_sbuffer_init(&q);
    hoso_reports_query_pack(&q, "report", kv, 4);
    err = hoso_cluster_query(&cl, q.data, q.size, add_report_part, *out, ei->message, sizeof ei->message);
    msgpack_sbuffer_destroy(&q);
    if (err != 0) {
        /* A report short of a node's shards would be wrong, not partial. */
        hoso_report_free(*out);
        *out = NULL;
        ei->err = err;
    }
    return err;
}

static int cmd_report(int argc, char **argv)
{
    const char *data = NULL, *month = NULL, *agency = NULL, *format = NULL, *out = NULL, *cluster_file = NULL;
    hoso_store_options so;
    hoso_store *s = NULL;
    hoso_txn *t = NULL;
    hoso_report *rep = NULL;
    hoso_errinfo ei;
    msgpack_sbuffer sb;
    int err, fmt, rc = 1;
    for (int i = 0; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--data") == 0     ? &data
                            : strcmp(argv[i], "--month") == 0  ? &month
                            : strcmp(argv[i], "--agency") == 0 ? &agency
                            : strcmp(argv[i], "--format") == 0 ? &format
                            : strcmp(argv[i], "--out") == 0    ? &out
                            : strcmp(argv[i], "--cluster") == 0 ? &cluster_file
                                                               : NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: " REPORT_USAGE "\n"
                   "The month's monitoring report (Decree 42/2022 art. 16), per agency and service, read\n"
                   "from the counters hosod keeps with every change; a running server may keep running.\n"
                   "  --cluster FILE    the whole cluster's instead: every node that holds shards sends its\n"
                   "                    counters over NATS (a node down makes it fail, never a partial report)\n"
                   "  --month YYYY-MM   the month (Asia/Ho_Chi_Minh days)\n"
                   "  --agency CODE     one agency only (default: every agency)\n"
                   "  --format F        json (default), csv, or html (one self-contained page)\n"
                   "  --out FILE        write there instead of to stdout\n");
            return 0;
        }
        if (slot == NULL || i + 1 == argc) {
            fprintf(stderr, "hosod report: %s %s (see hosod report --help)\n", slot ? "missing value for" : "unknown option",
                    argv[i]);
            return 2;
        }
        *slot = argv[++i];
    }
    if ((data == NULL) == (cluster_file == NULL) || month == NULL) {
        fprintf(stderr, "hosod report: --month and one of --data or --cluster are required (see hosod report --help)\n");
        return 2;
    }
    if ((fmt = hoso_report_format(format)) < 0 || fmt == HOSO_REPORT_MSGPACK) {
        fprintf(stderr, "hosod report: --format is json, csv or html, not %s\n", format);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "hosod report: libsodium failed to initialise\n");
        return 1;
    }
    memset(&so, 0, sizeof so);
    so.read_only = 1;
    so.must_exist = 1;
    memset(&ei, 0, sizeof ei);
    msgpack_sbuffer_init(&sb);
    if (cluster_file != NULL) {
        err = cluster_report(cluster_file, month, agency, &rep, &ei);
    } else if ((err = hoso_store_open(&s, data, &so)) != 0) {
        fprintf(stderr, "hosod report: cannot open the data dir %s: %s\n", data, hoso_err_message(err));
        msgpack_sbuffer_destroy(&sb);
        return 1;
    } else if ((err = hoso_txn_read(s, &t)) == 0) {
        err = hoso_report_build(t, month, agency, &rep, &ei);
        hoso_txn_abort(t);
    }
    if (err == HOSO_EBAD_REQUEST || err == HOSO_EVALIDATION_FAILED) {
        fprintf(stderr, "hosod report: --month must be a month YYYY-MM, not %s\n", month);
        rc = 2;
        goto Exit;
    }
    if (err == 0)
        err = hoso_report_render(rep, fmt, &sb);
    if (err != 0) {
        fprintf(stderr, "hosod report: %s\n", ei.message[0] ? ei.message : hoso_err_message(err));
        goto Exit;
    }
    FILE *f = out != NULL ? fopen(out, "w") : stdout;
    if (f == NULL) {
        fprintf(stderr, "hosod report: cannot write %s: %s\n", out, strerror(errno));
        goto Exit;
    }
    if (fwrite(sb.data, 1, sb.size, f) != sb.size || (out != NULL ? fclose(f) : fflush(f)) != 0) {
        fprintf(stderr, "hosod report: cannot write %s: %s\n", out ? out : "stdout", strerror(errno));
        goto Exit;
    }
    rc = 0;
Exit:
    hoso_report_free(rep);
    msgpack_sbuffer_destroy(&sb);
    hoso_store_close(s);
    return rc;
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
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 2, argv + 2);
    if (strcmp(cmd, "cluster") == 0)
        return hoso_cluster_cmd(argc - 2, argv + 2);
    int rc = hoso__tools_run(argc - 1, argv + 1);
    if (rc >= 0)
        return rc;
    fprintf(stderr, "hosod: unknown command %s\n", cmd);
    usage(stderr);
    return 2;
}
