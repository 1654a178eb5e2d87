/*
 * accounts.c - accounts an operator makes: officers, bots and admins (citizens
 * register themselves over HTTP). The password is hashed here, on the calling thread:
 * these are offline commands, not requests.
 */
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "tools.h"

/* A webhook signing secret the Standard Webhooks way: "whsec_" and the base64 of 32
 * random bytes. */
static void new_secret(char *out, size_t n)
{
    uint8_t raw[32];
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, n, "whsec_%s", b64);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(b64, sizeof(b64));
}

typedef struct create_job {
    hoso_account acct;
} create_job;

static int apply_create(hoso_wop *op, hoso_txn *txn)
{
    create_job *job = op->data;
    hoso_doc d;
    hoso_account old;
    int err;

    memset(&d, 0, sizeof(d));
    err = hoso_account_get_public(txn, job->acct.id, &d, &old);
    hoso_doc_destroy(&d);
    if (err == 0)
        return hoso_wop_fail(op, HOSO_EALREADY_EXISTS, "an account named %s exists already", job->acct.login.ptr);
    if (err != HOSO_ENOT_FOUND)
        return hoso_wop_fail(op, err, "reading the account failed");
    if ((err = hoso_account_put(txn, &job->acct)) != 0)
        return hoso_wop_fail(op, err, "storing the account failed");
    return 0;
}

static hoso_str str_of(const char *s)
{
    hoso_str v = {s != NULL ? s : "", s != NULL ? strlen(s) : 0};
    return v;
}

int hoso__account_make(hoso_store *s, hoso_role role, const char *username, const char *password,
                       const char *agency, const char *scopes, const char *full_name, hoso_account *out,
                       char hash[crypto_pwhash_STRBYTES], char secret[80])
{
    int err;
    memset(out, 0, sizeof(*out));
    secret[0] = '\0';
    if ((err = hoso_password_hash(password, hash, crypto_pwhash_STRBYTES)) != 0)
        return err;
    if (role == HOSO_ROLE_BOT)
        new_secret(secret, 80);
    hoso_account_id_for(s, username, out->id);
    out->role = role;
    out->login = str_of(username);
    out->full_name = str_of(full_name != NULL ? full_name : username);
    out->phone = str_of("");
    out->agency = str_of(agency);
    out->scopes = str_of(scopes);
    out->pwhash = str_of(hash);
    out->bot_secret = str_of(secret);
    out->created_at = hoso_now_ms();
    return 0;
}

int hoso__account_insert(hoso_store *s, const hoso_account *a, hoso_errinfo *why)
{
    create_job job;
    job.acct = *a;
    memset(why, 0, sizeof(*why));
    return hoso_run_job(s, apply_create, &job, a->created_at, why);
}

int hoso__account_create(hoso_store *s, hoso_role role, const char *username, const char *password,
                         const char *agency, const char *scopes, const char *full_name, char id_out[33],
                         char *secret_out, size_t secret_sz)
{
    hoso_account acct;
    hoso_errinfo why;
    char hash[crypto_pwhash_STRBYTES];
    char secret[80] = "";
    int err;

    if ((err = hoso__account_make(s, role, username, password, agency, scopes, full_name, &acct, hash, secret)) != 0)
        return err;
    err = hoso__account_insert(s, &acct, &why);
    if (err != 0 && why.message[0] != '\0' && err != HOSO_EALREADY_EXISTS)
        fprintf(stderr, "hosod: %s\n", why.message);
    if (err == 0) {
        memcpy(id_out, acct.id, 33);
        if (secret_out != NULL && secret_sz > 0)
            snprintf(secret_out, secret_sz, "%s", secret);
    }
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(hash, sizeof(hash));
    return err;
}

int hoso__account_exists(hoso_store *s, const char *login)
{
    char id[33];
    hoso_txn *t = NULL;
    hoso_doc d;
    hoso_account a;
    int found;

    hoso_account_id_for(s, login, id);
    if (hoso_txn_read(s, &t) != 0)
        return 0;
    memset(&d, 0, sizeof(d));
    found = hoso_account_get_public(t, id, &d, &a) == 0;
    hoso_doc_destroy(&d);
    hoso_txn_abort(t);
    return found;
}

typedef struct rotate_job {
    char id[33];
    char secret[80];
} rotate_job;

static int apply_rotate(hoso_wop *op, hoso_txn *txn)
{
    rotate_job *job = op->data;
    hoso_doc d;
    hoso_account a;
    int err;

    memset(&d, 0, sizeof(d));
    if ((err = hoso_account_get(txn, job->id, &d, &a)) != 0) {
        hoso_doc_destroy(&d);
        return hoso_wop_fail(op, err, err == HOSO_ENOT_FOUND ? "no such account" : "reading the account failed");
    }
    if (a.role != HOSO_ROLE_BOT) {
        hoso_doc_destroy(&d);
        return hoso_wop_fail(op, HOSO_EBAD_REQUEST, "this account is not a bot");
    }
    a.bot_secret = (hoso_str){job->secret, strlen(job->secret)};
    err = hoso_account_put(txn, &a);
    hoso_doc_destroy(&d);
    return err != 0 ? hoso_wop_fail(op, err, "storing the account failed") : 0;
}

int hoso__bot_set_secret(hoso_store *s, const char *username, const char *secret, hoso_errinfo *why)
{
    rotate_job job;
    int err;
    memset(&job, 0, sizeof(job));
    memset(why, 0, sizeof(*why));
    hoso_account_id_for(s, username, job.id);
    snprintf(job.secret, sizeof job.secret, "%s", secret);
    err = hoso_run_job(s, apply_rotate, &job, hoso_now_ms(), why);
    sodium_memzero(&job, sizeof(job));
    return err;
}

void hoso__bot_new_secret(char *out, size_t n)
{
    new_secret(out, n);
}

int hoso__bot_rotate_secret(hoso_store *s, const char *username, char *secret_out, size_t secret_sz)
{
    char secret[80];
    hoso_errinfo why;
    new_secret(secret, sizeof(secret));
    int err = hoso__bot_set_secret(s, username, secret, &why);
    if (err != 0 && why.message[0] != '\0')
        fprintf(stderr, "hosod: %s\n", why.message);
    if (err == 0)
        snprintf(secret_out, secret_sz, "%s", secret);
    sodium_memzero(secret, sizeof(secret));
    return err;
}
