/*
 * auth.c - the one authentication path: a bearer token, from an HTTP Authorization
 * header or from the WebSocket handshake or auth frame, becomes the caller. Only the
 * account's clear fields are read: authenticating never opens a citizen's sealed
 * personal data.
 */
#include <stdio.h>
#include <string.h>
#include "runtime.h"

#define TOKEN_MAX 127

int hoso_authenticate(hoso_txn *t, const char *token, size_t len, int64_t now_ms, hoso_caller *who)
{
    char tok[TOKEN_MAX + 1];
    hoso_session sess;
    hoso_account acct;
    hoso_doc doc;
    int err;

    if (len == 0 || len > TOKEN_MAX)
        return HOSO_EUNAUTHORIZED;
    memcpy(tok, token, len);
    tok[len] = '\0';
    memset(&doc, 0, sizeof(doc));
    if ((err = hoso_session_get(t, tok, now_ms, &sess)) == 0 &&
        (err = hoso_account_get_public(t, sess.account, &doc, &acct)) == 0) {
        memset(who, 0, sizeof(*who));
        snprintf(who->account, sizeof(who->account), "%s", acct.id);
        who->role = acct.role;
        /* An agency code too long to be one names no agency. */
        if (acct.agency.ptr != NULL && acct.agency.len < sizeof(who->agency))
            memcpy(who->agency, acct.agency.ptr, acct.agency.len);
        if (acct.scopes.ptr != NULL && acct.scopes.len < sizeof(who->scopes))
            memcpy(who->scopes, acct.scopes.ptr, acct.scopes.len);
    }
    hoso_doc_destroy(&doc);
    if (err == HOSO_ENOT_FOUND || err == HOSO_EUNAUTHORIZED)
        return HOSO_EUNAUTHORIZED;
    return err;
}

int hoso_caller_has_scope(const hoso_caller *who, const char *scope)
{
    size_t n = strlen(scope);
    for (const char *p = who->scopes; (p = strstr(p, scope)) != NULL; p += n)
        if ((p == who->scopes || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}
