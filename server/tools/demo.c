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

static int seed_accounts(hoso_store *s, const char *data_dir)
{
    char agencies[MAX_AGENCIES][48];
    char users[MAX_AGENCIES + 1][32], pw[MAX_AGENCIES + 1][17];
    size_t na, nu = 0;
    FILE *f = NULL;
    int err = 0;

    /* Created once: the admin account marks that it was done. */
    if (hoso__account_exists(s, "admin"))
        return 0;
    na = hoso__catalogue_agencies(hoso_demo_services_json, hoso_demo_services_json_len, agencies, MAX_AGENCIES);
    for (size_t i = 0; i < na; i++) {
        char id[33];
        if (i == 0)
            snprintf(users[nu], sizeof(users[nu]), "officer");
        else
            snprintf(users[nu], sizeof(users[nu]), "officer-%zu", i + 1);
        random_password(pw[nu], sizeof(pw[nu]));
        if ((err = hoso__account_create(s, HOSO_ROLE_OFFICER, users[nu], pw[nu], agencies[i], NULL,
                                        "Demo officer", id, NULL, 0)) != 0 &&
            err != HOSO_EALREADY_EXISTS)
            return err;
        nu++;
    }
    {
        char id[33];
        snprintf(users[nu], sizeof(users[nu]), "admin");
        random_password(pw[nu], sizeof(pw[nu]));
        if ((err = hoso__account_create(s, HOSO_ROLE_ADMIN, users[nu], pw[nu], NULL, NULL, "Demo admin", id, NULL,
                                        0)) != 0)
            return err;
        nu++;
    }

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
        const char *agency = i < na ? agencies[i] : "-";
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
        err = seed_accounts(s, cfg->data_dir);
    return err;
}
