/*
 * demo.c - the services catalogue import and the demo seed. The catalogue in
 * server/demo/services.json is compiled in, so a fresh data dir serves the public
 * catalogue without any file; `--demo` also creates demo officer and admin accounts
 * once and prints their random passwords.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "runtime.h"

extern const unsigned char hoso_demo_services_json[];
extern const size_t hoso_demo_services_json_len;

#define MAX_AGENCIES 32

typedef struct import_job {
    hoso_service *svcs;
    size_t n;
    int only_absent;
    size_t imported;
} import_job;

static int apply_import(hoso_wop *op, hoso_txn *txn)
{
    import_job *job = op->data;
    for (size_t i = 0; i < job->n; i++) {
        const hoso_service *svc = &job->svcs[i];
        if (job->only_absent) {
            hoso_doc d;
            hoso_service old;
            msgpack_zone_init(&d.zone, 1024);
            int e = hoso_service_get(txn, svc->code.ptr, &d, &old);
            hoso_doc_destroy(&d);
            if (e == 0)
                continue;
            if (e != HOSO_ENOT_FOUND)
                return hoso_wop_fail(op, e, "reading service %s failed", svc->code.ptr);
        }
        int err = hoso_service_put(txn, svc);
        if (err != 0)
            return hoso_wop_fail(op, err, "storing service %s failed", svc->code.ptr);
        job->imported++;
    }
    return 0;
}

/* Decodes every service of the JSON text (an array, or {services: [...]}) into svcs,
 * whose strings live in doc. */
static int decode_catalogue(hoso_doc *doc, const void *json, size_t len, hoso_service **svcs, size_t *n,
                            hoso_errinfo *ei)
{
    hoso_limits lim;
    const msgpack_object *arr;
    int err;

    hoso_limits_default(&lim);
    lim.max_body = len + 1;
    lim.max_array = 100000;
    lim.max_str = 1 << 20;
    if ((err = hoso_doc_from_json(doc, json, len, &lim, ei)) != 0)
        return err;
    arr = &doc->root;
    if (arr->type == MSGPACK_OBJECT_MAP)
        arr = hoso_map_get(arr, "services");
    if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY) {
        err = hoso_fail(ei, HOSO_EBAD_REQUEST, "expected an array of services or {\"services\": [...]}");
        goto Error;
    }
    *n = arr->via.array.size;
    *svcs = msgpack_zone_malloc(&doc->zone, (*n + 1) * sizeof(**svcs));
    if (*svcs == NULL) {
        err = HOSO_ENOMEM;
        goto Error;
    }
    for (size_t i = 0; i < *n; i++) {
        if ((err = hoso_service_decode(doc, &arr->via.array.ptr[i], &(*svcs)[i], ei)) != 0) {
            char msg[sizeof(ei->message) + 32];
            snprintf(msg, sizeof(msg), "services[%zu]: %s", i,
                     ei->message[0] != '\0' ? ei->message : hoso_err_message(err));
            /* Truncation is fine: the index comes first. */
            memcpy(ei->message, msg, sizeof(ei->message) - 1);
            ei->message[sizeof(ei->message) - 1] = '\0';
            goto Error;
        }
    }
    return 0;
Error:
    hoso_doc_destroy(doc);
    return err;
}

static int import(hoso_store *s, const void *json, size_t len, int only_absent, size_t *count, hoso_errinfo *ei)
{
    hoso_doc doc;
    hoso_wop op;
    import_job job;
    int err;

    memset(&job, 0, sizeof(job));
    job.only_absent = only_absent;
    if ((err = decode_catalogue(&doc, json, len, &job.svcs, &job.n, ei)) != 0)
        return err;
    memset(&op, 0, sizeof(op));
    op.apply = apply_import;
    op.data = &job;
    msgpack_sbuffer_init(&op.reply);
    err = hoso_run_write(s, &op);
    if (err != 0 && ei != NULL && ei->err == 0)
        *ei = op.err;
    msgpack_sbuffer_destroy(&op.reply);
    hoso_doc_destroy(&doc);
    if (count != NULL)
        *count = job.imported;
    return err;
}

int hoso_import_services(hoso_store *s, const void *json, size_t len, size_t *count, hoso_errinfo *ei)
{
    return import(s, json, len, 0, count, ei);
}

/* ---------------------------------------------------------------------------------- */
/* Demo accounts */

static void random_password(char *out, size_t n)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (size_t i = 0; i + 1 < n; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[n - 1] = '\0';
}

/* The distinct agencies of the embedded catalogue, in order of appearance. */
static size_t catalogue_agencies(char agencies[MAX_AGENCIES][48])
{
    hoso_doc doc;
    hoso_service *svcs = NULL;
    hoso_errinfo ei;
    size_t n = 0, na = 0;

    memset(&ei, 0, sizeof(ei));
    if (decode_catalogue(&doc, hoso_demo_services_json, hoso_demo_services_json_len, &svcs, &n, &ei) != 0)
        return 0;
    for (size_t i = 0; i < n && na < MAX_AGENCIES; i++) {
        size_t j;
        for (j = 0; j < na; j++)
            if (strcmp(agencies[j], svcs[i].agency.ptr) == 0)
                break;
        if (j == na && svcs[i].agency.len < 48)
            snprintf(agencies[na++], 48, "%s", svcs[i].agency.ptr);
    }
    hoso_doc_destroy(&doc);
    return na;
}

static int account_exists(hoso_store *s, const char *login)
{
    char id[33];
    hoso_txn *t = NULL;
    hoso_doc d;
    hoso_account a;
    int found = 0;

    hoso_account_id_for(s, login, id);
    if (hoso_txn_read(s, &t) != 0)
        return 0;
    msgpack_zone_init(&d.zone, 512);
    found = hoso_account_get(t, id, &d, &a) == 0;
    hoso_doc_destroy(&d);
    hoso_txn_abort(t);
    return found;
}

static int seed_accounts(hoso_store *s, const char *data_dir)
{
    char agencies[MAX_AGENCIES][48];
    char users[MAX_AGENCIES + 1][32], pw[MAX_AGENCIES + 1][17];
    size_t na, nu = 0;
    FILE *f = NULL;
    int err = 0;

    /* Created once: the admin account marks that it was done. */
    if (account_exists(s, "admin"))
        return 0;
    na = catalogue_agencies(agencies);
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
        char path[PATH_MAX];
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

int hoso__demo_seed_in(hoso_store *s, int with_accounts, const char *data_dir)
{
    hoso_errinfo ei;
    size_t n = 0;
    int err;

    memset(&ei, 0, sizeof(ei));
    if ((err = import(s, hoso_demo_services_json, hoso_demo_services_json_len, 1, &n, &ei)) != 0) {
        fprintf(stderr, "hosod: the embedded catalogue does not import: %s\n",
                ei.message[0] != '\0' ? ei.message : hoso_err_message(err));
        return err;
    }
    if (with_accounts)
        err = seed_accounts(s, data_dir);
    return err;
}

int hoso_demo_seed(hoso_store *s, int with_accounts)
{
    return hoso__demo_seed_in(s, with_accounts, NULL);
}
