/*
 * admin.c - the offline commands' command lines: account creation, catalogue import,
 * backup, restore and audit verification, one row each of COMMANDS (usage, help and
 * dispatch come from the row). They open the data dir themselves and never create
 * one; LMDB's lock makes them safe while a server runs on the same dir, except
 * restore, which takes the serving lock.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "broker/broker.h"
#include "tools.h"

/* ---------------------------------------------------------------------------------- */
/* Arguments: --name VALUE options, flags and positionals, the same for every command. */

typedef struct args {
    const char *data, *username, *password, *agency, *scopes, *full_name, *to, *from, *key, *cluster;
    int force, no_key, help, json;
    const char *pos[4];
    size_t npos;
} args;

typedef struct command {
    const char *name;  /* "admin create-officer", "backup" */
    const char *usage; /* the options after the name */
    const char *about; /* one or more lines */
    int (*run)(const struct command *c, const args *a);
    int role;          /* create-* commands */
} command;

static int parse_args(int argc, char **argv, args *a, const char *cmd)
{
    static const struct {
        const char *name;
        size_t off;
    } opts[] = {
        {"--data", offsetof(args, data)},         {"--username", offsetof(args, username)},
        {"--password", offsetof(args, password)}, {"--agency", offsetof(args, agency)},
        {"--scopes", offsetof(args, scopes)},     {"--full-name", offsetof(args, full_name)},
        {"--to", offsetof(args, to)},             {"--from", offsetof(args, from)},
        {"--key", offsetof(args, key)},           {"--cluster", offsetof(args, cluster)},
    };
    static const struct {
        const char *name;
        size_t off;
    } flags[] = {
        {"--force", offsetof(args, force)},
        {"--no-key", offsetof(args, no_key)},
        {"--help", offsetof(args, help)},
        {"--json", offsetof(args, json)},
        {"-h", offsetof(args, help)},
    };
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        size_t k;
        if (argv[i][0] != '-' || argv[i][1] == '\0') {
            if (a->npos == 4) {
                fprintf(stderr, "hosod %s: too many arguments (%s)\n", cmd, argv[i]);
                return -1;
            }
            a->pos[a->npos++] = argv[i];
            continue;
        }
        for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strcmp(argv[i], flags[k].name) == 0)
                break;
        if (k < sizeof(flags) / sizeof(flags[0])) {
            *(int *)((char *)a + flags[k].off) = 1;
            continue;
        }
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
            if (strcmp(argv[i], opts[k].name) == 0)
                break;
        if (k == sizeof(opts) / sizeof(opts[0])) {
            fprintf(stderr, "hosod %s: unknown option %s (see hosod %s --help)\n", cmd, argv[i], cmd);
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

static int usage_error(const command *c, const char *why)
{
    fprintf(stderr, "hosod %s: %s\nusage: hosod %s %s\n", c->name, why, c->name, c->usage);
    return 2;
}

/* Offline commands never make a data dir: a mistyped --data is an error. */
static int open_store(const char *dir, int read_only, hoso_store **s)
{
    hoso_store_options so;
    memset(&so, 0, sizeof(so));
    so.read_only = read_only;
    so.must_exist = 1;
    if (sodium_init() < 0) {
        fprintf(stderr, "hosod: libsodium failed to initialise\n");
        return HOSO_EINTERNAL;
    }
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

/* 1 if the catalogue holds a service of agency. */
static int agency_serves(void *ctx, const hoso_service *svc)
{
    return strcmp(svc->agency.ptr, (const char *)ctx) == 0;
}

static int has_services(hoso_store *s, const char *agency)
{
    hoso_txn *t = NULL;
    int found = 0;
    if (hoso_txn_read(s, &t) != 0)
        return 0;
    found = hoso_service_each(t, agency_serves, (void *)agency) == 1;
    hoso_txn_abort(t);
    return found;
}

/* --cluster FILE: the command goes to the node that holds the record (shard >= 0) or
 * to every node (-1), signed with the key of the data dir s. Returns the exit code. */
static int send_to_cluster(const command *c, const args *a, hoso_store *s, const char *account, msgpack_sbuffer *cmd)
{
    hoso_cluster cl;
    if (hoso_cluster_load(a->cluster, &cl) != 0)
        return 2;
    int shard = account != NULL ? (int)hoso_cluster_shard_of(account, cl.shards) : -1;
    return hoso_cluster_admin_send(&cl, s, shard, cmd->data, cmd->size, c->name);
}

static void pack_kstr(msgpack_packer *pk, const char *k, const char *v)
{
    hoso_pack_kcstr(pk, k, v != NULL ? v : "");
}

/* The account record as a command for its node. */
static void pack_account_cmd(msgpack_sbuffer *sb, const hoso_account *ac)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    pack_kstr(&pk, "cmd", "account");
    hoso_pack_kint(&pk, "role", (int64_t)ac->role);
    hoso_pack_kcstr(&pk, "username", ac->login.ptr);
    hoso_pack_kcstr(&pk, "full_name", ac->full_name.ptr);
    hoso_pack_kcstr(&pk, "agency", ac->agency.ptr);
    hoso_pack_kcstr(&pk, "scopes", ac->scopes.ptr);
    hoso_pack_kcstr(&pk, "pwhash", ac->pwhash.ptr);
    hoso_pack_kcstr(&pk, "bot_secret", ac->bot_secret.ptr);
    hoso_pack_kint(&pk, "created_at", ac->created_at);
}

static int create_in_cluster(const command *c, const args *a, hoso_store *s, hoso_role role, const char *password,
                             char id[33], char *secret, size_t secret_sz)
{
    hoso_account ac;
    char hash[crypto_pwhash_STRBYTES], sec[80];
    msgpack_sbuffer cmd;
    int rc;
    if (hoso__account_make(s, role, a->username, password, a->agency, a->scopes, a->full_name, &ac, hash, sec) != 0) {
        fprintf(stderr, "hosod %s: cannot hash the password\n", c->name);
        return 1;
    }
    msgpack_sbuffer_init(&cmd);
    pack_account_cmd(&cmd, &ac);
    /* A bot's record goes to every node: webhooks are signed by the node of each
     * dossier, with the bot's secret. It signs in on its own shard's node still. */
    rc = send_to_cluster(c, a, s, role == HOSO_ROLE_BOT ? NULL : ac.id, &cmd);
    msgpack_sbuffer_destroy(&cmd);
    memcpy(id, ac.id, 33);
    snprintf(secret, secret_sz, "%s", sec);
    sodium_memzero(hash, sizeof hash);
    sodium_memzero(sec, sizeof sec);
    return rc;
}

static int cmd_create(const command *c, const args *a)
{
    hoso_store *s = NULL;
    char id[33], secret[80], pwbuf[256];
    const char *password;
    hoso_role role = (hoso_role)c->role;
    int err;

    password = password_arg(a->password, pwbuf, sizeof(pwbuf));
    if (a->data == NULL || a->username == NULL || a->npos != 0)
        return usage_error(c, "--data and --username are required");
    if (password == NULL)
        return usage_error(c, a->password == NULL ? "--password is required" : "no password on stdin");
    if (role == HOSO_ROLE_OFFICER && a->agency == NULL)
        return usage_error(c, "--agency CODE is required for an officer");
    if (a->agency != NULL && !hoso_agency_code_valid(a->agency, strlen(a->agency)))
        return usage_error(c, "--agency takes an agency identifier like 000.00.12.H29");
    if (strlen(password) < 8) {
        fprintf(stderr, "hosod %s: the password needs at least 8 characters\n", c->name);
        return 2;
    }
    if (open_store(a->data, 0, &s) != 0)
        return 1;
    if (role == HOSO_ROLE_OFFICER && !has_services(s, a->agency)) {
        hoso_store_close(s);
        fprintf(stderr, "hosod %s: no service of the catalogue belongs to agency %s: import its services first "
                        "(hosod admin import-services), or check the code\n",
                c->name, a->agency);
        return 1;
    }
    if (a->cluster != NULL) {
        int rc = create_in_cluster(c, a, s, role, password, id, secret, sizeof(secret));
        hoso_store_close(s);
        sodium_memzero(pwbuf, sizeof(pwbuf));
        if (rc != 0) {
            sodium_memzero(secret, sizeof(secret));
            return rc;
        }
        err = 0;
    } else {
        err = hoso__account_create(s, role, a->username, password, a->agency, a->scopes, a->full_name, id, secret,
                                   sizeof(secret));
        hoso_store_close(s);
        sodium_memzero(pwbuf, sizeof(pwbuf));
    }
    if (err == HOSO_EALREADY_EXISTS) {
        fprintf(stderr, "hosod %s: an account named %s exists already\n", c->name, a->username);
        return 1;
    }
    if (err != 0) {
        fprintf(stderr, "hosod %s: %s\n", c->name, hoso_err_message(err));
        return 1;
    }
    if (a->json && role == HOSO_ROLE_BOT)
        printf("{\"account\":\"%s\",\"webhook_secret\":\"%s\"}\n", id, secret);
    else if (a->json)
        printf("{\"account\":\"%s\"}\n", id);
    else
        printf("%s\n", id);
    if (role == HOSO_ROLE_BOT && !a->json)
        printf("webhook secret: %s\n(shown once: keep it in the bot's configuration)\n", secret);
    sodium_memzero(secret, sizeof(secret));
    return 0;
}

static int cmd_rotate(const command *c, const args *a)
{
    hoso_store *s = NULL;
    char secret[80];
    int err;

    if (a->data == NULL || a->username == NULL || a->npos != 0)
        return usage_error(c, "--data and --username are required");
    if (open_store(a->data, 0, &s) != 0)
        return 1;
    if (a->cluster != NULL) {
        msgpack_sbuffer cmd;
        msgpack_packer pk;
        hoso__bot_new_secret(secret, sizeof(secret));
        msgpack_sbuffer_init(&cmd);
        msgpack_packer_init(&pk, &cmd, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        pack_kstr(&pk, "cmd", "rotate");
        pack_kstr(&pk, "username", a->username);
        pack_kstr(&pk, "secret", secret);
        int rc = send_to_cluster(c, a, s, NULL, &cmd); /* every node signs with it */
        msgpack_sbuffer_destroy(&cmd);
        hoso_store_close(s);
        if (rc != 0) {
            sodium_memzero(secret, sizeof(secret));
            return rc;
        }
        err = 0;
    } else {
        err = hoso__bot_rotate_secret(s, a->username, secret, sizeof(secret));
        hoso_store_close(s);
    }
    if (err != 0) {
        fprintf(stderr, "hosod %s: %s\n", c->name,
                err == HOSO_ENOT_FOUND ? "no such account" : err == HOSO_EBAD_REQUEST ? "not a bot" : hoso_err_message(err));
        return 1;
    }
    if (a->json)
        printf("{\"webhook_secret\":\"%s\"}\n", secret);
    else
        printf("webhook secret: %s\n(shown once; the old secret no longer signs anything)\n", secret);
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

static int cmd_import(const command *c, const args *a)
{
    hoso_store *s = NULL;
    hoso_errinfo ei;
    size_t len = 0, count = 0;
    char *json;
    int err;

    if (a->data == NULL || a->npos != 1)
        return usage_error(c, a->data == NULL ? "--data is required" : "give one catalogue FILE");
    if ((json = read_file(a->pos[0], &len)) == NULL) {
        perror(a->pos[0]);
        return 1;
    }
    if (open_store(a->data, 0, &s) != 0) {
        free(json);
        return 1;
    }
    if (a->cluster != NULL) {
        /* Every node keeps the whole catalogue. */
        msgpack_sbuffer cmd;
        msgpack_packer pk;
        msgpack_sbuffer_init(&cmd);
        msgpack_packer_init(&pk, &cmd, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        pack_kstr(&pk, "cmd", "import");
        hoso_pack_cstr(&pk, "json");
        msgpack_pack_bin(&pk, len);
        msgpack_pack_bin_body(&pk, json, len);
        int rc = send_to_cluster(c, a, s, NULL, &cmd);
        msgpack_sbuffer_destroy(&cmd);
        hoso_store_close(s);
        free(json);
        return rc;
    }
    memset(&ei, 0, sizeof(ei));
    err = hoso__catalogue_import(s, json, len, 0, &count, &ei);
    hoso_store_close(s);
    free(json);
    if (err != 0) {
        fprintf(stderr, "hosod %s: %s\n", c->name, ei.message[0] != '\0' ? ei.message : hoso_err_message(err));
        for (size_t i = 0; i < ei.nfields && i < HOSO_ERRINFO_MAX_FIELDS; i++)
            fprintf(stderr, "  %s: %s\n", ei.fields[i].field, ei.fields[i].problem);
        return 1;
    }
    printf("imported %zu services\n", count);
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Backup and restore */

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
    const char *what = ctx;
    double d = (double)done, t = (double)total;
    const char *unit = total >= (1u << 20) ? "MiB" : "KiB";
    double div = total >= (1u << 20) ? 1048576.0 : 1024.0;
    if (total > done)
        fprintf(stderr, "%s: %.1f %s of about %.1f %s\n", what, d / div, unit, t / div, unit);
    else
        fprintf(stderr, "%s: %.1f %s done\n", what, d / div, unit);
}

static int cmd_backup(const command *c, const args *a)
{
    hoso_store *s = NULL;
    hoso_backup_options bo;
    int err;

    if (a->data == NULL || a->to == NULL || a->npos != 0)
        return usage_error(c, "--data and --to are required");
    if (open_store(a->data, 1, &s) != 0)
        return 1;
    memset(&bo, 0, sizeof(bo));
    bo.force = a->force;
    bo.no_key = a->no_key;
    bo.progress = show_progress;
    bo.ctx = "backup";
    err = hoso_store_backup(s, a->to, &bo);
    hoso_store_close(s);
    if (err != 0) {
        fprintf(stderr, "hosod backup: %s\n", hoso_err_message(err));
        return 1;
    }
    if (a->no_key)
        printf("backup written to %s; the key file was left out: keep %s/secret.key apart, a backup is "
               "unreadable without it\n", a->to, a->data);
    else
        printf("backup written to %s (key in %s.key)\n", a->to, a->to);
    return 0;
}

static int cmd_restore(const command *c, const args *a)
{
    char epoch[33];
    int err;

    if (a->data == NULL || a->from == NULL || a->npos != 0)
        return usage_error(c, "--from and --data are required");
    if (sodium_init() < 0)
        return 1;
    if ((err = hoso_store_restore(a->from, a->key, a->data, a->force, epoch)) != 0) {
        fprintf(stderr, "hosod restore: %s\n", hoso_err_message(err));
        return 1;
    }
    printf("restored %s into %s; new epoch %s: every app reloads its snapshot\n", a->from, a->data, epoch);
    return 0;
}

/* ---------------------------------------------------------------------------------- */

static int cmd_audit(const command *c, const args *a)
{
    hoso_store *s = NULL;
    hoso_txn *t = NULL;
    uint64_t count = 0, bad = 0;
    char why[200] = "";
    int err;

    if (a->data == NULL || a->npos != 0)
        return usage_error(c, "--data is required");
    if (open_store(a->data, 1, &s) != 0)
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

/* ---------------------------------------------------------------------------------- */

static const command COMMANDS[] = {
    {"admin create-officer", "--data DIR --username U --password P|- --agency CODE [--full-name NAME] [--json]\n"
     "            [--cluster FILE]",
     "Makes an officer of an agency that has services in the catalogue.", cmd_create, HOSO_ROLE_OFFICER},
    {"admin create-bot", "--data DIR --username U --password P|- [--agency CODE] [--scopes \"a b\"] [--json]\n"
     "            [--cluster FILE]",
     "Makes a chatbot account (scopes: lookup, subscribe; --agency limits it to one agency's\n"
     "dossiers) and prints its webhook signing secret once.", cmd_create, HOSO_ROLE_BOT},
    {"admin rotate-bot-secret", "--data DIR --username U [--json] [--cluster FILE]",
     "Gives a bot a new webhook signing secret, printed once; the old one stops signing.", cmd_rotate, 0},
    {"admin create-admin", "--data DIR --username U --password P|- [--full-name NAME] [--json] [--cluster FILE]",
     "Makes an admin account.", cmd_create, HOSO_ROLE_ADMIN},
    {"admin import-services", "--data DIR FILE [--cluster FILE]",
     "Imports a catalogue file (JSON; the format is in docs/operations.md), replacing services with the\n"
     "same code.", cmd_import, 0},
    {"backup", "--data DIR --to FILE [--no-key] [--force]",
     "Writes a consistent copy of a running data dir to FILE and its key file to FILE.key (--no-key leaves\n"
     "the key out). An existing FILE is replaced only with --force.", cmd_backup, 0},
    {"restore", "--from FILE [--key FILE] --data DIR [--force]",
     "Restores a backup (with FILE.key, or --key) into DIR with a new epoch. DIR must hold no data, or\n"
     "--force puts the current data aside in DIR/replaced.<time>/. Stop the server of DIR first.",
     cmd_restore, 0},
    {"audit verify", "--data DIR", "Walks the hash chain of the global log and reports the first broken entry.",
     cmd_audit, 0},
};
#define NCOMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

void hoso__tools_usage(FILE *f)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  hosod %s %s\n", COMMANDS[i].name, COMMANDS[i].usage);
}

static void command_help(const command *c)
{
    printf("usage: hosod %s %s\n\n%s\n", c->name, c->usage, c->about);
    if (strstr(c->usage, "--password"))
        printf("A password of \"-\" is read from the first line of stdin, which keeps it out of ps.\n");
}

int hoso__tools_run(int argc, char **argv)
{
    size_t words = argc >= 2 ? 2 : 1, matched = 0;
    char name[64];
    args a;

    /* A command is one word (backup) or two (admin create-officer). */
    for (size_t w = 1; w <= words && w <= 2; w++) {
        snprintf(name, sizeof(name), "%s%s%s", argv[0], w == 2 ? " " : "", w == 2 ? argv[1] : "");
        for (size_t i = 0; i < NCOMMANDS; i++) {
            if (strcmp(COMMANDS[i].name, name) != 0)
                continue;
            if (parse_args(argc - (int)w, argv + w, &a, COMMANDS[i].name) != 0)
                return 2;
            if (a.help) {
                command_help(&COMMANDS[i]);
                return 0;
            }
            return COMMANDS[i].run(&COMMANDS[i], &a);
        }
    }
    /* The first word alone: list what it offers. */
    for (size_t i = 0; i < NCOMMANDS; i++)
        matched += strncmp(COMMANDS[i].name, argv[0], strlen(argv[0])) == 0 &&
                   (COMMANDS[i].name[strlen(argv[0])] == ' ' || COMMANDS[i].name[strlen(argv[0])] == '\0');
    if (matched == 0)
        return -1;
    int help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0);
    FILE *f = help ? stdout : stderr;
    if (!help)
        fprintf(f, argc >= 2 ? "hosod %s: unknown subcommand %s\n" : "hosod %s: which one?\n", argv[0],
                argc >= 2 ? argv[1] : "");
    fprintf(f, "usage:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strncmp(COMMANDS[i].name, argv[0], strlen(argv[0])) == 0 && COMMANDS[i].name[strlen(argv[0])] == ' ')
            fprintf(f, "  hosod %s %s\n", COMMANDS[i].name, COMMANDS[i].usage);
    return help ? 0 : 2;
}

/* ---------------------------------------------------------------------------------- */
/* Commands sent through the cluster (server/broker/admin.c), run on this node */

static const char *cmd_str(const msgpack_object *m, const char *k, char *buf, size_t n)
{
    const msgpack_object *o = hoso_map_get(m, k);
    if (o == NULL || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= n)
        return NULL;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return buf;
}

int hoso__tools_admin_exec(hoso_store *s, const msgpack_object *cmd, char *why, size_t whysz)
{
    char kind[16], username[128], full_name[256], agency[64], scopes[128], pwhash[256], secret[128];
    hoso_errinfo ei;
    int err;
    memset(&ei, 0, sizeof ei);
    if (cmd->type != MSGPACK_OBJECT_MAP || cmd_str(cmd, "cmd", kind, sizeof kind) == NULL) {
        snprintf(why, whysz, "not a command");
        return HOSO_EBAD_REQUEST;
    }
    if (strcmp(kind, "account") == 0) {
        const msgpack_object *role = hoso_map_get(cmd, "role"), *at = hoso_map_get(cmd, "created_at");
        hoso_account ac;
        memset(&ac, 0, sizeof ac);
        if (cmd_str(cmd, "username", username, sizeof username) == NULL ||
            cmd_str(cmd, "full_name", full_name, sizeof full_name) == NULL ||
            cmd_str(cmd, "agency", agency, sizeof agency) == NULL || cmd_str(cmd, "scopes", scopes, sizeof scopes) == NULL ||
            cmd_str(cmd, "pwhash", pwhash, sizeof pwhash) == NULL ||
            cmd_str(cmd, "bot_secret", secret, sizeof secret) == NULL || role == NULL ||
            role->type != MSGPACK_OBJECT_POSITIVE_INTEGER || at == NULL || at->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            snprintf(why, whysz, "an account command lacks a field");
            return HOSO_EBAD_REQUEST;
        }
        hoso_account_id_for(s, username, ac.id);
        ac.role = (hoso_role)role->via.u64;
        ac.login = (hoso_str){username, strlen(username)};
        ac.full_name = (hoso_str){full_name, strlen(full_name)};
        ac.phone = (hoso_str){"", 0};
        ac.agency = (hoso_str){agency, strlen(agency)};
        ac.scopes = (hoso_str){scopes, strlen(scopes)};
        ac.pwhash = (hoso_str){pwhash, strlen(pwhash)};
        ac.bot_secret = (hoso_str){secret, strlen(secret)};
        ac.created_at = (int64_t)at->via.u64;
        err = hoso__account_insert(s, &ac, &ei);
        if (err == HOSO_EALREADY_EXISTS)
            snprintf(why, whysz, "an account named %s exists already", username);
    } else if (strcmp(kind, "rotate") == 0) {
        if (cmd_str(cmd, "username", username, sizeof username) == NULL ||
            cmd_str(cmd, "secret", secret, sizeof secret) == NULL) {
            snprintf(why, whysz, "a rotate command lacks a field");
            return HOSO_EBAD_REQUEST;
        }
        err = hoso__bot_set_secret(s, username, secret, &ei);
    } else if (strcmp(kind, "import") == 0) {
        const msgpack_object *json = hoso_map_get(cmd, "json");
        size_t count = 0;
        if (json == NULL || json->type != MSGPACK_OBJECT_BIN) {
            snprintf(why, whysz, "an import command lacks its catalogue");
            return HOSO_EBAD_REQUEST;
        }
        err = hoso__catalogue_import(s, json->via.bin.ptr, json->via.bin.size, 0, &count, &ei);
        if (err == 0)
            snprintf(why, whysz, "imported %zu services", count);
    } else {
        snprintf(why, whysz, "unknown command %s", kind);
        return HOSO_EBAD_REQUEST;
    }
    if (err != 0 && why[0] == '\0')
        snprintf(why, whysz, "%s", ei.message[0] ? ei.message : hoso_err_message(err));
    sodium_memzero(pwhash, sizeof pwhash);
    sodium_memzero(secret, sizeof secret);
    return err;
}
