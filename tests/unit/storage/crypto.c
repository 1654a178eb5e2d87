/*
 * tests/unit/storage/crypto.c - sealing, account ids and password hashes (storage/crypto.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void test_seal_open_round_trip(void)
{
    hoso_store *s = store_new(0);
    uint8_t *ct = NULL, *pt = NULL;
    size_t clen = 0, plen = 0;
    const char *msg = "so dien thoai 0912345678";
    EXPECT_INT(hoso_seal(s, msg, strlen(msg), "AD", 2, &ct, &clen), 0);
    EXPECT_INT(clen, 24 + strlen(msg) + 16);
    EXPECT(memmem(ct, clen, "0912345678", 10) == NULL);
    EXPECT_INT(hoso_open(s, ct, clen, "AD", 2, &pt, &plen), 0);
    EXPECT_INT(plen, strlen(msg));
    EXPECT_MEM(pt, msg, plen);
    free(pt);
    /* Same plaintext twice: fresh nonce, different ciphertext. */
    uint8_t *ct2 = NULL;
    size_t clen2 = 0;
    EXPECT_INT(hoso_seal(s, msg, strlen(msg), "AD", 2, &ct2, &clen2), 0);
    EXPECT(memcmp(ct, ct2, clen) != 0);
    free(ct2);
    free(ct);
    hoso_store_close(s);
}

static void test_seal_empty(void)
{
    hoso_store *s = store_new(0);
    uint8_t *ct = NULL, *pt = NULL;
    size_t clen = 0, plen = 1;
    EXPECT_INT(hoso_seal(s, "", 0, NULL, 0, &ct, &clen), 0);
    EXPECT_INT(hoso_open(s, ct, clen, NULL, 0, &pt, &plen), 0);
    EXPECT_INT(plen, 0);
    free(pt);
    free(ct);
    hoso_store_close(s);
}

static void test_open_detects_tampering(void)
{
    hoso_store *s = store_new(0);
    uint8_t *ct = NULL, *pt = NULL;
    size_t clen = 0, plen = 0;
    EXPECT_INT(hoso_seal(s, "hello", 5, "code-1", 6, &ct, &clen), 0);
    /* Wrong associated data: a value moved to another record. */
    EXPECT_INT(hoso_open(s, ct, clen, "code-2", 6, &pt, &plen), HOSO_ECORRUPT);
    EXPECT(pt == NULL);
    for (size_t i = 0; i < clen; i++) {
        ct[i] ^= 0x01;
        EXPECT_INT(hoso_open(s, ct, clen, "code-1", 6, &pt, &plen), HOSO_ECORRUPT);
        ct[i] ^= 0x01;
    }
    EXPECT_INT(hoso_open(s, ct, clen - 1, "code-1", 6, &pt, &plen), HOSO_ECORRUPT);
    EXPECT_INT(hoso_open(s, ct, 10, "code-1", 6, &pt, &plen), HOSO_ECORRUPT);
    EXPECT_INT(hoso_open(s, ct, clen, "code-1", 6, &pt, &plen), 0);
    free(pt);
    free(ct);
    hoso_store_close(s);
}

static void test_account_id(void)
{
    hoso_store *s = store_new(0);
    char a[33], b[33], c[33];
    hoso_account_id_for(s, "079123456789", a);
    hoso_account_id_for(s, "079123456789", b);
    hoso_account_id_for(s, "079123456788", c);
    EXPECT_INT(strlen(a), 32);
    EXPECT_STR(a, b);
    EXPECT(strcmp(a, c) != 0);
    for (int i = 0; i < 32; i++) EXPECT(strchr("0123456789abcdef", a[i]) != NULL);
    hoso_store_close(s);

    /* Keyed: another data dir (another key) gives another id for the same login. */
    char first[sizeof g_dir];
    strcpy(first, g_dir);
    hoso_store *s2 = store_new(0);
    hoso_account_id_for(s2, "079123456789", c);
    EXPECT(strcmp(a, c) != 0);
    hoso_store_close(s2);
    cleanup();
    strcpy(g_dir, first);
}

static void test_password(void)
{
    char h[256];
    EXPECT_INT(hoso_password_hash("mat-khau-1", h, sizeof h), 0);
    EXPECT(strncmp(h, "$argon2id$", 10) == 0);
    EXPECT_INT(hoso_password_verify(h, "mat-khau-1"), 0);
    EXPECT_INT(hoso_password_verify(h, "mat-khau-2"), HOSO_EUNAUTHORIZED);
    EXPECT_INT(hoso_password_verify("garbage", "mat-khau-1"), HOSO_EUNAUTHORIZED);
    EXPECT_INT(hoso_password_hash("x", h, 10), HOSO_EBAD_REQUEST);
}

UNIT_MAIN(UNIT(test_seal_open_round_trip), UNIT(test_seal_empty), UNIT(test_open_detects_tampering),
          UNIT(test_account_id), UNIT(test_password))
