/*
 * server/tools/ - offline commands and what they share with `hosod serve`: accounts
 * made by an operator, the services catalogue and its import, the demo seed, and the
 * admin, backup and audit commands.
 *
 * tools.h - the commands main.c dispatches to, and the seed it hands the runtime.
 *
 * These open the data dir themselves and write through hoso_run_write, one transaction
 * each on the calling thread: never while this process's writer runs. LMDB's lock
 * makes them safe beside a server running on the same dir.
 */
#ifndef HOSO_SERVER_TOOLS_H
#define HOSO_SERVER_TOOLS_H

#include <stdio.h>
#include <sodium.h>
#include "core/internal.h"

/* The offline commands (admin.c): argv[0] is the command's first word (admin, backup,
 * restore, audit). Returns the process exit code (0 for --help, 2 for usage errors),
 * or -1 when argv[0] names no offline command. */
int hoso__tools_run(int argc, char **argv);
/* Prints one usage line per offline command to f. */
void hoso__tools_usage(FILE *f);

/* Creates an account (accounts.c): argon2id hash of password; bots also get a webhook
 * signing secret ("whsec_" and base64 of 32 random bytes), copied to secret_out.
 * id_out gets the account id.
 * Errors: ALREADY_EXISTS, STORAGE_FULL, IO, NOMEM. */
int hoso__account_create(hoso_store *s, hoso_role role, const char *username, const char *password,
                         const char *agency, const char *scopes, const char *full_name, char id_out[33],
                         char *secret_out, size_t secret_sz);
/* Gives the bot named username a new webhook signing secret (the old one stops
 * working), copied to secret_out. Errors: NOT_FOUND, BAD_REQUEST (not a bot),
 * STORAGE_FULL, IO. */
int hoso__bot_rotate_secret(hoso_store *s, const char *username, char *secret_out, size_t secret_sz);
/* The same in two steps, for a record made here and stored on another node: the
 * record (strings point into hash, secret and the arguments), then its insertion.
 * Errors: as above; insert fills why. */
int hoso__account_make(hoso_store *s, hoso_role role, const char *username, const char *password,
                       const char *agency, const char *scopes, const char *full_name, hoso_account *out,
                       char hash[crypto_pwhash_STRBYTES], char secret[80]);
int hoso__account_insert(hoso_store *s, const hoso_account *a, hoso_errinfo *why);
/* A bot's secret set to the one given (made with hoso__bot_new_secret). */
int hoso__bot_set_secret(hoso_store *s, const char *username, const char *secret, hoso_errinfo *why);
void hoso__bot_new_secret(char *out, size_t n);
/* Runs an admin command another machine sent through the cluster (the executor of
 * server/broker/admin.c): {cmd: "account"|"rotate"|"import", ...}. */
int hoso__tools_admin_exec(hoso_store *s, const msgpack_object *cmd, char *why, size_t whysz);
/* 1 if an account named login exists. */
int hoso__account_exists(hoso_store *s, const char *login);

/* The catalogue (catalogue.c). Imports a services JSON text (an array of services, or
 * {services: [...]}), replacing services with the same code; with only_absent, codes
 * already stored are left as they are. *count gets the number written.
 * Errors: BAD_REQUEST / VALIDATION_FAILED with ei naming the service, storage's. */
int hoso__catalogue_import(hoso_store *s, const void *json, size_t len, int only_absent, size_t *count,
                           hoso_errinfo *ei);
/* The distinct agencies of a catalogue JSON text, in order of appearance, at most max.
 * Returns how many. */
size_t hoso__catalogue_agencies(const void *json, size_t len, char (*agencies)[48], size_t max);
/* The catalogue compiled into hosod (tools/demo/services.json). */
extern const unsigned char hoso_demo_services_json[];
extern const size_t hoso_demo_services_json_len;

/* The seed of `hosod serve` (demo.c, hoso_app.seed): imports the embedded catalogue's
 * services that are absent and, with cfg->demo, creates the demo officers and admin
 * once, printing their passwords and writing them to DATA/demo-credentials.txt
 * (mode 0600). Errors: storage's. */
int hoso__seed(hoso_store *s, const hoso_config *cfg);

#endif
