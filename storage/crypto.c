/*
 * crypto.c - encryption at rest (XChaCha20-Poly1305 ietf), keyed account ids
 * (BLAKE2b-128) and password hashing (argon2id).
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

int hoso_seal(const hoso_store *s, const void *pt, size_t len, const void *ad, size_t adlen,
              uint8_t **out, size_t *outlen)
{
    size_t n = NONCE + len + TAG;
    uint8_t *buf = malloc(n);
    unsigned long long clen = 0;
    *out = NULL;
    *outlen = 0;
    if (!buf) return HOSO_ENOMEM;
    /* 192-bit random nonces: no counter to persist, collisions negligible. */
    randombytes_buf(buf, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf + NONCE, &clen, pt, len, ad, adlen, NULL, buf,
                                               s->seal_key);
    *out = buf;
    *outlen = NONCE + (size_t)clen;
    return 0;
}

int hoso_open(const hoso_store *s, const void *ct, size_t len, const void *ad, size_t adlen,
              uint8_t **out, size_t *outlen)
{
    const uint8_t *in = ct;
    unsigned long long plen = 0;
    *out = NULL;
    *outlen = 0;
    if (len < NONCE + TAG) return HOSO_ECORRUPT;
    /* One spare byte so an empty plaintext still gets a non-NULL buffer. */
    uint8_t *buf = malloc(len - NONCE - TAG + 1);
    if (!buf) return HOSO_ENOMEM;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &plen, NULL, in + NONCE, len - NONCE, ad, adlen,
                                                   in, s->seal_key) != 0) {
        free(buf);
        return HOSO_ECORRUPT;
    }
    *out = buf;
    *outlen = (size_t)plen;
    return 0;
}

void hoso_account_id_for(const hoso_store *s, const char *login, char out[33])
{
    uint8_t h[16];
    crypto_generichash(h, sizeof h, (const uint8_t *)login, strlen(login), s->id_key, HOSO__KEY_BYTES);
    sodium_bin2hex(out, 33, h, sizeof h);
}

int hoso_password_hash(const char *password, char *out, size_t outsz)
{
    if (outsz < crypto_pwhash_STRBYTES) return HOSO_EBAD_REQUEST;
    if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return HOSO_ENOMEM; /* argon2 fails only when it cannot get its memory */
    return 0;
}

int hoso_password_verify(const char *hash, const char *password)
{
    if (!hash || !password) return HOSO_EUNAUTHORIZED;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? 0 : HOSO_EUNAUTHORIZED;
}
