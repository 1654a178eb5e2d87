/*
 * tests/unit/storage/accounts.c - accounts with sealed personal fields, roles (storage/accounts.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void sample_account(hoso_store *s, hoso_account *a)
{
    memset(a, 0, sizeof *a);
    hoso_account_id_for(s, "079123456789", a->id);
    a->role = HOSO_ROLE_CITIZEN;
    a->login = hs("079123456789");
    a->full_name = hs("Tran Thi Mai");
    a->phone = hs("0912345678");
    a->pwhash = hs("$argon2id$v=19$m=65536,t=2,p=1$fake");
    a->created_at = 1700000000000LL;
}

static void test_put_get(void)
{
    hoso_store *s = store_new(0);
    hoso_account a, got;
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    sample_account(s, &a);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_account_put(t, &a), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_account_get(t, a.id, &doc, &got), 0);
    hoso_txn_abort(t);
    /* The strings live in doc, not in LMDB memory. */
    EXPECT_STR(got.id, a.id);
    EXPECT_INT(got.role, HOSO_ROLE_CITIZEN);
    EXPECT_STR(got.login.ptr, "079123456789");
    EXPECT_STR(got.full_name.ptr, "Tran Thi Mai");
    EXPECT_INT(got.full_name.len, 12);
    EXPECT_STR(got.phone.ptr, "0912345678");
    EXPECT_STR(got.pwhash.ptr, a.pwhash.ptr);
    EXPECT_STR(got.agency.ptr, "");
    EXPECT_STR(got.bot_secret.ptr, "");
    EXPECT_INT(got.created_at, 1700000000000LL);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);

    size_t rows = 0;
    EXPECT(!raw_contains("accounts", "0912345678", &rows));
    EXPECT(!raw_contains("accounts", "Tran Thi Mai", NULL));
    EXPECT(!raw_contains("accounts", "079123456789", NULL));
    EXPECT_INT(rows, 1);
}

static void test_officer_and_bot(void)
{
    hoso_store *s = store_new(0);
    hoso_account a, got;
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    memset(&a, 0, sizeof a);
    hoso_account_id_for(s, "bot-zalo", a.id);
    a.role = HOSO_ROLE_BOT;
    a.login = hs("bot-zalo");
    a.agency = hs("000.00.12.H29");
    a.scopes = hs("lookup subscribe");
    a.bot_secret = hs("s3cr3t-hmac-key");
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_account_put(t, &a), 0);
    EXPECT_INT(hoso_account_get(t, a.id, &doc, &got), 0);
    EXPECT_INT(got.role, HOSO_ROLE_BOT);
    EXPECT_STR(got.agency.ptr, "000.00.12.H29");
    EXPECT_STR(got.scopes.ptr, "lookup subscribe");
    EXPECT_STR(got.bot_secret.ptr, "s3cr3t-hmac-key");
    EXPECT_INT(hoso_account_get(t, "00000000000000000000000000000000", &doc, &got), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    EXPECT(!raw_contains("accounts", "s3cr3t-hmac-key", NULL));
}

/* A sealed value copied under another id no longer opens. */
static void test_moved_value_is_corrupt(void)
{
    hoso_store *s = store_new(0);
    hoso_account a, got;
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    sample_account(s, &a);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_account_put(t, &a), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);

    char path[128];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {32, a.id}, v, k2 = {32, "ffffffffffffffffffffffffffffffff"};
    snprintf(path, sizeof path, "%s/lmdb", g_dir);
    EXPECT_INT(mdb_env_create(&env), 0);
    EXPECT_INT(mdb_env_set_maxdbs(env, 32), 0);
    EXPECT_INT(mdb_env_open(env, path, 0, 0600), 0);
    EXPECT_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    EXPECT_INT(mdb_dbi_open(txn, "accounts", 0, &dbi), 0);
    EXPECT_INT(mdb_get(txn, dbi, &k, &v), 0);
    EXPECT_INT(mdb_put(txn, dbi, &k2, &v, 0), 0);
    EXPECT_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    s = store_open(0);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_account_get(t, "ffffffffffffffffffffffffffffffff", &doc, &got), HOSO_ECORRUPT);
    EXPECT_INT(hoso_account_get(t, a.id, &doc, &got), 0);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

static void test_roles(void)
{
    EXPECT_STR(hoso_role_name(HOSO_ROLE_CITIZEN), "citizen");
    EXPECT_STR(hoso_role_name(HOSO_ROLE_OFFICER), "officer");
    EXPECT_STR(hoso_role_name(HOSO_ROLE_BOT), "bot");
    EXPECT_STR(hoso_role_name(HOSO_ROLE_ADMIN), "admin");
    EXPECT_INT(hoso_role_parse("officer"), HOSO_ROLE_OFFICER);
    EXPECT_INT(hoso_role_parse("admin"), HOSO_ROLE_ADMIN);
    EXPECT_INT(hoso_role_parse("root"), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_role_parse(NULL), HOSO_EBAD_REQUEST);
}

/* Authentication reads only the clear fields: the personal ones are not opened. */
static void test_get_public(void)
{
    hoso_store *s = store_new(0);
    hoso_account a, got;
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    sample_account(s, &a);
    a.role = HOSO_ROLE_OFFICER;
    a.agency = hs("000.00.12.H29");
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_account_put(t, &a), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_account_get_public(t, a.id, &doc, &got), 0);
    hoso_account none;
    EXPECT_INT(hoso_account_get_public(t, "0000000000000000000000000000dead", &doc, &none), HOSO_ENOT_FOUND);
    hoso_txn_abort(t);
    EXPECT_STR(got.id, a.id);
    EXPECT_INT(got.role, HOSO_ROLE_OFFICER);
    EXPECT_STR(got.agency.ptr, "000.00.12.H29");
    EXPECT_INT(got.created_at, 1700000000000LL);
    EXPECT(got.login.ptr == NULL && got.full_name.ptr == NULL && got.phone.ptr == NULL);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_get_public), UNIT(test_put_get), UNIT(test_officer_and_bot), UNIT(test_moved_value_is_corrupt), UNIT(test_roles))
