/*
 * config.c - the portal mirror's settings from a file: KEY=VALUE lines, # comments.
 * The file holds the portal password, so it must be a regular file that only its
 * owner can read or write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "consumers/consumers.h"

static int set_num(const char *v, uint64_t max, unsigned *out)
{
    uint64_t n;
    if (hoso_parse_u64(v, max, &n) != 0 || n == 0)
        return -1;
    *out = (unsigned)n;
    return 0;
}

int hoso_portal_config_file(const char *path, hoso_portal_config *pc)
{
    struct stat st;
    char line[1024];
    unsigned lineno = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "hosod serve: cannot open the portal config %s: %s\n", path, strerror(errno));
        return HOSO_EIO;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        fprintf(stderr, "hosod serve: %s holds the portal password: it must be a regular file with mode 0600 "
                        "(chmod 600 %s)\n", path, path);
        fclose(f);
        return HOSO_EBAD_REQUEST;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *k = line, *v, *end;
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        while (*k == ' ' || *k == '\t')
            k++;
        if (*k == '\0' || *k == '#')
            continue;
        if ((v = strchr(k, '=')) == NULL)
            goto Bad;
        *v++ = '\0';
        for (end = v - 2; end >= k && (*end == ' ' || *end == '\t'); end--)
            *end = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t'); end--)
            end[-1] = '\0';
        struct { const char *key; char *dst; size_t n; } strs[] = {
            {"auth_url", pc->auth_url, sizeof pc->auth_url}, {"url", pc->url, sizeof pc->url},
            {"user", pc->user, sizeof pc->user},             {"password", pc->password, sizeof pc->password},
            {"agency", pc->agency, sizeof pc->agency},       {"ca_file", pc->ca_file, sizeof pc->ca_file},
        };
        /* The same limits as the flags (server/main.c). */
        struct { const char *key; unsigned *dst; uint64_t max; } nums[] = {
            {"timeout_ms", &pc->timeout_ms, 600000}, {"retry_min_ms", &pc->retry_min_ms, 3600000},
            {"retry_max_ms", &pc->retry_max_ms, 86400000}, {"max_inflight", &pc->max_inflight, 256},
        };
        int done = 0;
        for (size_t i = 0; i < sizeof strs / sizeof strs[0] && !done; i++)
            if (strcmp(k, strs[i].key) == 0) {
                if (strlen(v) >= strs[i].n)
                    goto Bad;
                snprintf(strs[i].dst, strs[i].n, "%s", v);
                done = 1;
            }
        for (size_t i = 0; i < sizeof nums / sizeof nums[0] && !done; i++)
            if (strcmp(k, nums[i].key) == 0) {
                if (set_num(v, nums[i].max, nums[i].dst) != 0)
                    goto Bad;
                done = 1;
            }
        if (!done)
            goto Bad;
    }
    fclose(f);
    return 0;
Bad:
    fprintf(stderr, "hosod serve: %s line %u: expected KEY=VALUE with KEY one of auth_url, url, user, password, "
                    "agency, ca_file, timeout_ms, retry_min_ms, retry_max_ms, max_inflight\n", path, lineno);
    fclose(f);
    return HOSO_EBAD_REQUEST;
}
