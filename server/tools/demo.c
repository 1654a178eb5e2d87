/*
 * demo.c - the seed of `hosod serve`. The catalogue in server/tools/demo/services.json
 * is compiled in, so a fresh data dir serves the public catalogue without any file;
 * `--demo` also creates demo officer and admin accounts once and prints their random
 * passwords.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "tools.h"

#define MAX_AGENCIES 32

static void random_password(char *out, size_t n)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (size_t i = 0; i + 1 < n; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[n - 1] = '\0';
}

/* Whether this node makes the demo account `login`: it is not there yet, and in
 * cluster mode this node's shards hold it (each demo account lives on one node). */
static int makes(hoso_store *s, const hoso_config *cfg, const char *login)
{
    char id[33];
    hoso_account_id_for(s, login, id);
    return (cfg->holds_account == NULL || cfg->holds_account(id)) && !hoso__account_exists(s, login);
}

static int seed_accounts(hoso_store *s, const hoso_config *cfg)
{
    char agencies[MAX_AGENCIES][48];
    char users[MAX_AGENCIES + 1][32], pw[MAX_AGENCIES + 1][17], agency_of[MAX_AGENCIES + 1][48];
    size_t na, nu = 0;
    const char *data_dir = cfg->data_dir;
    FILE *f = NULL;
    int err = 0;

    /* Each account is made once, and its password shown then only. */
    na = hoso__catalogue_agencies(hoso_demo_services_json, hoso_demo_services_json_len, agencies, MAX_AGENCIES);
    for (size_t i = 0; i <= na; i++) {
        char id[33];
        int admin = i == na;
        if (admin)
            snprintf(users[nu], sizeof(users[nu]), "admin");
        else if (i == 0)
            snprintf(users[nu], sizeof(users[nu]), "officer");
        else
            snprintf(users[nu], sizeof(users[nu]), "officer-%zu", i + 1);
        if (!makes(s, cfg, users[nu]))
            continue;
        random_password(pw[nu], sizeof(pw[nu]));
        snprintf(agency_of[nu], sizeof(agency_of[nu]), "%.47s", admin ? "-" : agencies[i]);
        if ((err = hoso__account_create(s, admin ? HOSO_ROLE_ADMIN : HOSO_ROLE_OFFICER, users[nu], pw[nu],
                                        admin ? NULL : agencies[i], NULL, admin ? "Demo admin" : "Demo officer", id,
                                        NULL, 0)) != 0) {
            if (err == HOSO_EALREADY_EXISTS)
                continue;
            return err;
        }
        nu++;
    }
    if (nu == 0)
        return 0;

    if (data_dir != NULL) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/demo-credentials.txt", data_dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0 && (f = fdopen(fd, "w")) == NULL)
            close(fd);
        if (f == NULL)
            fprintf(stderr, "hosod: cannot write %s: %s\n", path, strerror(errno));
    }
    printf("hosod demo accounts (shown once, also in %s/demo-credentials.txt):\n", data_dir ? data_dir : ".");
    for (size_t i = 0; i < nu; i++) {
        const char *agency = agency_of[i];
        printf("  %-12s password %s  agency %s\n", users[i], pw[i], agency);
        if (f != NULL)
            fprintf(f, "%s %s %s\n", users[i], pw[i], agency);
    }
    fflush(stdout);
    if (f != NULL)
        fclose(f);
    sodium_memzero(pw, sizeof(pw));
    return 0;
}

int hoso__seed(hoso_store *s, const hoso_config *cfg)
{
    hoso_errinfo ei;
    size_t n = 0;
    int err;

    memset(&ei, 0, sizeof(ei));
    if ((err = hoso__catalogue_import(s, hoso_demo_services_json, hoso_demo_services_json_len, 1, &n, &ei)) != 0) {
        fprintf(stderr, "hosod: the embedded catalogue does not import: %s\n",
                ei.message[0] != '\0' ? ei.message : hoso_err_message(err));
        return err;
    }
    if (cfg->demo)
        err = seed_accounts(s, cfg);
    return err;
}
