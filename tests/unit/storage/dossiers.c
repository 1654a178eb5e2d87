/*
 * tests/unit/storage/dossiers.c - stored dossiers, sealing of the form, daily codes (storage/dossiers.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

#include <time.h>

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void test_put_get_round_trip(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d, got;
    msgpack_sbuffer fb;
    hoso_doc doc = {0};
    make_dossier(&d, &fb, "000.00.12.H29-261123-0001", OWNER_A, "000.00.12.H29", 1700000000123LL, 2);
    d.nhistory = 2;
    d.version = 2;
    d.due_at = 1700900000000LL;
    d.rated = 1;
    d.reason = hs("");
    d.result = hs("giay phep so 12");
    d.fee = 150000;
    d.papers_required = (hoso_str){"\x91\xa3" "CMT", 5}; /* ["CMT"] */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), HOSO_EALREADY_EXISTS);
    EXPECT_INT(hoso_txn_commit(t), 0);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_get(t, "000.00.12.H29-261123-0001", &doc, &got), 0);
    EXPECT_INT(hoso_dossier_get(t, "000.00.12.H29-261123-0002", &doc, &got), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_dossier_get(t, "000.00.12.H29-261123-0001", &doc, &got), 0);
    hoso_txn_abort(t);
    EXPECT_STR(got.code.ptr, "000.00.12.H29-261123-0001");
    EXPECT_STR(got.service.ptr, "1.001");
    EXPECT_STR(got.agency.ptr, "000.00.12.H29");
    EXPECT_STR(got.owner.ptr, OWNER_A);
    EXPECT_STR(got.channel.ptr, "app");
    EXPECT_INT(got.status, 2);
    EXPECT_INT(got.version, 2);
    EXPECT_INT(got.submitted_at, 1700000000123LL);
    EXPECT_INT(got.due_at, 1700900000000LL);
    EXPECT_INT(got.rated, 1);
    EXPECT_STR(got.reason.ptr, "");
    EXPECT_STR(got.result.ptr, "giay phep so 12");
    EXPECT_INT(got.fee, 150000);
    EXPECT_INT(got.papers_required.len, 5);
    EXPECT_MEM(got.papers_required.ptr, "\x91\xa3" "CMT", 5);
    EXPECT_INT(got.form.len, d.form.len);
    EXPECT_MEM(got.form.ptr, d.form.ptr, d.form.len);
    EXPECT_INT(got.papers.len, 1);
    EXPECT_MEM(got.papers.ptr, "\x90", 1);
    EXPECT_INT(got.nhistory, 2);
    EXPECT_INT(got.history[1].status, 2);
    EXPECT_INT(got.history[1].at, 2000);
    EXPECT_STR(got.history[1].by.ptr, "officer");
    EXPECT_STR(got.history[1].note.ptr, "received at desk 3");

    /* The head: who it belongs to and its version, nothing unsealed or decoded past it. */
    hoso_dossier head;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_head(t, "000.00.12.H29-261123-0002", &doc, &head), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_dossier_head(t, "000.00.12.H29-261123-0001", &doc, &head), 0);
    hoso_txn_abort(t);
    EXPECT_STR(head.code.ptr, "000.00.12.H29-261123-0001");
    EXPECT_STR(head.service.ptr, "1.001");
    EXPECT_STR(head.agency.ptr, "000.00.12.H29");
    EXPECT_STR(head.owner.ptr, OWNER_A);
    EXPECT_INT(head.status, 2);
    EXPECT_INT(head.version, 2);
    EXPECT_INT(head.form.len, 0);
    EXPECT_INT(head.nhistory, 0);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    msgpack_sbuffer_destroy(&fb);

    size_t rows = 0;
    EXPECT(!raw_contains("dossiers", FORM_SECRET, &rows));
    EXPECT_INT(rows, 1);
    EXPECT(raw_contains("dossiers", "giay phep so 12", NULL)); /* public fields in the clear */
    EXPECT(!raw_contains("owner_dossiers", FORM_SECRET, NULL));
    EXPECT(!raw_contains("agency_dossiers", FORM_SECRET, NULL));
}

static void test_replace_keeps_indexes(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d, got;
    msgpack_sbuffer fb;
    hoso_doc doc = {0};
    make_dossier(&d, &fb, "A-261123-0001", OWNER_A, "A", 5000, 1);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
    d.status = 2;
    d.version = 2;
    d.nhistory = 2;
    EXPECT_INT(hoso_dossier_put(t, &d, 0), 0);
    EXPECT_INT(hoso_dossier_get(t, "A-261123-0001", &doc, &got), 0);
    EXPECT_INT(got.status, 2);
    EXPECT_INT(got.nhistory, 2);
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    msgpack_sbuffer_destroy(&fb);
    size_t rows = 0;
    raw_contains("owner_dossiers", "x", &rows);
    EXPECT_INT(rows, 1);
    raw_contains("agency_dossiers", "x", &rows);
    EXPECT_INT(rows, 1);
}

static void test_bad_input(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    char code[64];
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    make_dossier(&d, &fb, "A-261123-0001", "short-owner", "A", 5000, 1);
    EXPECT_INT(hoso_dossier_put(t, &d, 1), HOSO_EBAD_REQUEST);
    d.owner = hs(OWNER_A);
    d.agency = hs("");
    EXPECT_INT(hoso_dossier_put(t, &d, 1), HOSO_EBAD_REQUEST);
    d.code = hs("");
    EXPECT_INT(hoso_dossier_put(t, &d, 0), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_dossier_next_code(t, "", 0, code), HOSO_EBAD_REQUEST);
    /* Bad input is no write failure: the txn still commits. */
    EXPECT_INT(hoso_txn_commit(t), 0);
    msgpack_sbuffer_destroy(&fb);
    hoso_store_close(s);
}

static void test_next_code_across_vietnam_midnight(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    char code[64];
    int64_t before = utc_ms(2026, 11, 23, 16, 59, 59, 999); /* 23:59:59.999 on 23/11 in Hanoi */
    int64_t after = utc_ms(2026, 11, 23, 17, 0, 0, 0);      /* 00:00 on 24/11 in Hanoi */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", utc_ms(2026, 11, 23, 0, 0, 0, 0), code), 0);
    EXPECT_STR(code, "000.00.12.H29-261123-0001");
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", before, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261123-0002");
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", after, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261124-0001");
    /* Per agency: another agency starts at 1 the same day; "000.00.12.H2" is no prefix trap. */
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H2", before, code), 0);
    EXPECT_STR(code, "000.00.12.H2-261123-0001");
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", before, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261123-0003");
    EXPECT_INT(hoso_txn_commit(t), 0);

    /* Committed sequences survive; an aborted one is handed out again. */
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", after, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261124-0002");
    hoso_txn_abort(t);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    EXPECT_INT(hoso_dossier_next_code(t, "000.00.12.H29", after, code), 0);
    EXPECT_STR(code, "000.00.12.H29-261124-0002");
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
}

static void test_next_code_limit(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    char code[64];
    int64_t now = utc_ms(2026, 1, 2, 3, 0, 0, 0);
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    for (int i = 1; i <= 9999; i++) EXPECT_INT(hoso_dossier_next_code(t, "X", now, code), 0);
    EXPECT_STR(code, "X-260102-9999");
    EXPECT_INT(hoso_dossier_next_code(t, "X", now, code), 0);
    EXPECT_STR(code, "X-260102-10000");
    EXPECT_INT(hoso_dossier_next_code(t, "X", now + 86400000LL, code), 0);
    EXPECT_STR(code, "X-260103-0001");
    EXPECT_INT(hoso_txn_commit(t), 0);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_put_get_round_trip), UNIT(test_replace_keeps_indexes), UNIT(test_bad_input),
          UNIT(test_next_code_across_vietnam_midnight), UNIT(test_next_code_limit))
