/*
 * admin.c - the offline subcommands' command lines: account creation, catalogue
 * import, backup and audit verification. They open the data dir themselves; LMDB's
 * lock file makes them safe while a server runs on the same dir.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "tools.h"

/* ---------------------------------------------------------------------------------- */
/* Argument parsing shared by the subcommands: --key VALUE pairs and positionals. */

typedef struct args {
    const char *data, *username, *password, *agency, *scopes, *full_name, *to;
    const char *pos[4];
    size_t npos;
} args;

static int parse_args(int argc, char **argv, args *a, const char *cmd)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--data", offsetof(args, data)},         {"--username", offsetof(args, username)},
        {"--password", offsetof(args, password)}, {"--agency", offsetof(args, agency)},
        {"--scopes", offsetof(args, scopes)},     {"--full-name", offsetof(args, full_name)},
        {"--to", offsetof(args, to)},
    };
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        size_t k;
        if (argv[i][0] != '-' || argv[i][1] == '\0') {
            if (a->npos == 4) {
                fprintf(stderr, "hosod %s: too many arguments\n", cmd);
                return -1;
            }
            a->pos[a->npos++] = argv[i];
            continue;
        }
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
            if (strcmp(argv[i], opts[k].name) == 0)
                break;
        if (k == sizeof(opts) / sizeof(opts[0])) {
            fprintf(stderr, "hosod %s: unknown option %s\n", cmd, argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "hosod %s: %s needs a value\n", cmd, argv[i]);
            return -1;
        }
        *(const char **)((char *)a + opts[k].off) = argv[++i];
    }
    return 0;
}

static int open_store(const char *dir, int read_only, hoso_store **s)
{
    hoso_store_options so;
    memset(&so, 0, sizeof(so));
    so.read_only = read_only;
    int err = hoso_store_open(s, dir, &so);
    if (err != 0)
        fprintf(stderr, "hosod: cannot open the data dir %s: %s\n", dir, hoso_err_message(err));
    return err;
}

/* "-" reads the password from the first line of stdin, to keep it out of `ps`. */
static const char *password_arg(const char *p, char *buf, size_t bufsz)
{
    if (p == NULL || strcmp(p, "-") != 0)
        return p;
    if (fgets(buf, (int)bufsz, stdin) == NULL)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

static int cmd_create(const char *sub, hoso_role role, int argc, char **argv)
{
    args a;
    hoso_store *s = NULL;
    char id[33], secret[80], pwbuf[256];
    const char *password;
    int err;

    if (parse_args(argc, argv, &a, sub) != 0)
        return 2;
    password = password_arg(a.password, pwbuf, sizeof(pwbuf));
    if (a.data == NULL || a.username == NULL || password == NULL || a.npos != 0) {
        fprintf(stderr, "usage: hosod admin %s --data DIR --username U --password P|- [--agency CODE] "
                        "[--scopes \"a b\"] [--full-name NAME]\n",
                sub);
        return 2;
    }
    if (role == HOSO_ROLE_OFFICER && a.agency == NULL) {
        fprintf(stderr, "hosod admin %s: --agency CODE is required for an officer\n", sub);
        return 2;
    }
    if (strlen(password) < 8) {
        fprintf(stderr, "hosod admin %s: the password needs at least 8 characters\n", sub);
        return 2;
    }
    if (sodium_init() < 0 || open_store(a.data, 0, &s) != 0)
        return 1;
    err = hoso__account_create(s, role, a.username, password, a.agency, a.scopes, a.full_name, id, secret,
                               sizeof(secret));
    hoso_store_close(s);
    sodium_memzero(pwbuf, sizeof(pwbuf));
    if (err == HOSO_EALREADY_EXISTS) {
        fprintf(stderr, "hosod admin %s: an account named %s exists already\n", sub, a.username);
        return 1;
    }
    if (err != 0) {
        fprintf(stderr, "hosod admin %s: %s\n", sub, hoso_err_message(err));
        return 1;
    }
    printf("%s\n", id);
    if (role == HOSO_ROLE_BOT)
        printf("webhook secret: %s\n", secret);
    sodium_memzero(secret, sizeof(secret));
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap);
            if (nb == NULL || ncap > ((size_t)256 << 20)) {
                free(nb != NULL ? nb : buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int cmd_import(int argc, char **argv)
{
    args a;
    hoso_store *s = NULL;
    hoso_errinfo ei;
    size_t len = 0, count = 0;
    char *json;
    int err;

    if (parse_args(argc, argv, &a, "admin import-services") != 0)
        return 2;
    if (a.data == NULL || a.npos != 1) {
        fprintf(stderr, "usage: hosod admin import-services --data DIR FILE\n");
        return 2;
    }
    if ((json = read_file(a.pos[0], &len)) == NULL) {
        perror(a.pos[0]);
        return 1;
    }
    if (sodium_init() < 0 || open_store(a.data, 0, &s) != 0) {
        free(json);
        return 1;
    }
    memset(&ei, 0, sizeof(ei));
    err = hoso__catalogue_import(s, json, len, 0, &count, &ei);
    hoso_store_close(s);
    free(json);
    if (err != 0) {
        fprintf(stderr, "hosod admin import-services: %s\n", ei.message[0] != '\0' ? ei.message : hoso_err_message(err));
        for (size_t i = 0; i < ei.nfields && i < HOSO_ERRINFO_MAX_FIELDS; i++)
            fprintf(stderr, "  %s: %s\n", ei.fields[i].field, ei.fields[i].problem);
        return 1;
    }
    printf("imported %zu services\n", count);
    return 0;
}

int hoso__cmd_admin(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: hosod admin create-officer|create-bot|create-admin|import-services ...\n");
        return 2;
    }
    if (strcmp(argv[0], "create-officer") == 0)
        return cmd_create(argv[0], HOSO_ROLE_OFFICER, argc - 1, argv + 1);
    if (strcmp(argv[0], "create-bot") == 0)
        return cmd_create(argv[0], HOSO_ROLE_BOT, argc - 1, argv + 1);
    if (strcmp(argv[0], "create-admin") == 0)
        return cmd_create(argv[0], HOSO_ROLE_ADMIN, argc - 1, argv + 1);
    if (strcmp(argv[0], "import-services") == 0)
        return cmd_import(argc - 1, argv + 1);
    fprintf(stderr, "hosod admin: unknown subcommand %s\n", argv[0]);
    return 2;
}

/* ---------------------------------------------------------------------------------- */

int hoso__cmd_backup(int argc, char **argv)
{
    args a;
    hoso_store *s = NULL;
    int err;

    if (parse_args(argc, argv, &a, "backup") != 0)
        return 2;
    if (a.data == NULL || a.to == NULL || a.npos != 0) {
        fprintf(stderr, "usage: hosod backup --data DIR --to FILE\n");
        return 2;
    }
    if (sodium_init() < 0 || open_store(a.data, 1, &s) != 0)
        return 1;
    err = hoso_store_backup(s, a.to);
    hoso_store_close(s);
    if (err != 0) {
        fprintf(stderr, "hosod backup: %s\n", hoso_err_message(err));
        return 1;
    }
    printf("backup written to %s (key in %s.key)\n", a.to, a.to);
    return 0;
}

int hoso__cmd_audit(int argc, char **argv)
{
    args a;
    hoso_store *s = NULL;
    hoso_txn *t = NULL;
    uint64_t count = 0, bad = 0;
    char why[200] = "";
    int err;

    if (argc < 1 || strcmp(argv[0], "verify") != 0) {
        fprintf(stderr, "usage: hosod audit verify --data DIR\n");
        return 2;
    }
    if (parse_args(argc - 1, argv + 1, &a, "audit verify") != 0)
        return 2;
    if (a.data == NULL || a.npos != 0) {
        fprintf(stderr, "usage: hosod audit verify --data DIR\n");
        return 2;
    }
    if (sodium_init() < 0 || open_store(a.data, 1, &s) != 0)
        return 1;
    if ((err = hoso_txn_read(s, &t)) == 0) {
        err = hoso_log_verify(t, &count, &bad, why, sizeof(why));
        hoso_txn_abort(t);
    }
    hoso_store_close(s);
    if (err == HOSO_ECORRUPT) {
        printf("broken: entry %llu: %s\n", (unsigned long long)bad, why[0] != '\0' ? why : "hash chain mismatch");
        return 1;
    }
    if (err != 0) {
        fprintf(stderr, "hosod audit verify: %s\n", hoso_err_message(err));
        return 1;
    }
    printf("ok: %llu entries\n", (unsigned long long)count);
    return 0;
}
