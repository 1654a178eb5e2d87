/*
 * tls.c - hosod's TLS: the context every worker accepts with, built from the
 * certificate and key files, and its reload on SIGHUP.
 *
 * TLS 1.2 and 1.3 only; in TLS 1.2, ECDHE key exchange with AEAD ciphers only (forward
 * secrecy, no CBC); no compression, no renegotiation. ALPN offers h2 and http/1.1.
 * A reload builds a new context and hands it to each worker, which swaps it into its
 * accept context on its own loop: connections already open keep the context they
 * started with (each SSL holds a reference), so none is dropped.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "runtime.h"

#define TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
                      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static void log_openssl(const char *what, const char *path)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    hoso_log(HOSO_LOG_ERROR, "TLS: %s %s: %s", what, path, e != 0 ? buf : "unknown error");
    ERR_clear_error();
}

int hoso__tls_context(const char *cert, const char *key, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    *out = NULL;
    if (ctx == NULL)
        return HOSO_ENOMEM;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        log_openssl("cannot set the ciphers", "");
        goto Fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        log_openssl("cannot load the certificate", cert);
        goto Fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        log_openssl("cannot load the key", key);
        goto Fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        log_openssl("the key does not match the certificate", cert);
        goto Fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    *out = ctx;
    return 0;
Fail:
    SSL_CTX_free(ctx);
    return HOSO_EIO;
}

void hoso__tls_reload(hoso_server *srv)
{
    SSL_CTX *ctx = NULL;
    if (srv->cfg.tls_cert[0] == '\0')
        return;
    if (hoso__tls_context(srv->cfg.tls_cert, srv->cfg.tls_key, &ctx) != 0) {
        hoso_log(HOSO_LOG_ERROR, "TLS: the certificate was not reloaded; connections go on with the old one");
        return;
    }
    for (unsigned i = 0; i < srv->nworkers; i++) {
        hoso_worker *w = &srv->workers[i];
        if (!w->started)
            continue;
        SSL_CTX_up_ref(ctx);
        SSL_CTX *old = atomic_exchange(&w->tls_next, ctx);
        if (old != NULL)
            SSL_CTX_free(old); /* a reload not yet taken: replaced */
        uv_async_send(&w->ctl);
    }
    SSL_CTX_free(ctx);
    hoso_log(HOSO_LOG_INFO, "TLS: certificate %s reloaded", srv->cfg.tls_cert);
}

void hoso__tls_take(hoso_worker *w)
{
    SSL_CTX *next = atomic_exchange(&w->tls_next, NULL);
    if (next == NULL)
        return;
    SSL_CTX *old = w->accept_ctx.ssl_ctx;
    w->accept_ctx.ssl_ctx = next;
    if (old != NULL)
        SSL_CTX_free(old);
}
