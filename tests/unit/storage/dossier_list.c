/*
 * tests/unit/storage/dossier_list.c - owner and agency listings with cursors (storage/dossier_list.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

typedef struct page {
    char codes[64][64];
    int64_t status[64];
    int n;
} page;

static int collect(void *ctx, const hoso_dossier *d)
{
    page *p = ctx;
    EXPECT(p->n < 64);
    snprintf(p->codes[p->n], 64, "%s", d->code.ptr);
    p->status[p->n] = d->status;
    /* Every listed dossier is complete, form included. */
    EXPECT(memmem(d->form.ptr, d->form.len, FORM_SECRET, strlen(FORM_SECRET)) != NULL);
    p->n++;
    return 0;
}

/* Owner A: 7 dossiers at t = 1000..7000 (status 1 for odd i, 2 for even); owner B: 2.
 * Agency "A" gets A's, agency "AB" gets B's (a prefix of the other's name). */
static hoso_store *seed(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    for (int i = 1; i <= 7; i++) {
        hoso_dossier d;
        msgpack_sbuffer fb;
        char code[64];
        snprintf(code, sizeof code, "A-261123-%04d", i);
        make_dossier(&d, &fb, code, OWNER_A, "A", i * 1000, i % 2 ? 1 : 2);
        EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
        msgpack_sbuffer_destroy(&fb);
    }
    for (int i = 1; i <= 2; i++) {
        hoso_dossier d;
        msgpack_sbuffer fb;
        char code[64];
        snprintf(code, sizeof code, "AB-261123-%04d", i);
        make_dossier(&d, &fb, code, OWNER_B, "AB", i * 1000, 1);
        EXPECT_INT(hoso_dossier_put(t, &d, 1), 0);
        msgpack_sbuffer_destroy(&fb);
    }
    EXPECT_INT(hoso_txn_commit(t), 0);
    return s;
}

static void test_owner_pages_newest_first(void)
{
    hoso_store *s = seed();
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    page p = {0};
    char next[128], cur[128];
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, NULL, 3, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 3);
    EXPECT_STR(p.codes[0], "A-261123-0007");
    EXPECT_STR(p.codes[2], "A-261123-0005");
    EXPECT(next[0] != '\0');
    strcpy(cur, next);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, cur, 3, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 6);
    EXPECT_STR(p.codes[3], "A-261123-0004");
    EXPECT_STR(p.codes[5], "A-261123-0002");
    strcpy(cur, next);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, cur, 3, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 7);
    EXPECT_STR(p.codes[6], "A-261123-0001");
    EXPECT_STR(next, "");
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);

    /* Exactly one full page: no empty page after it. */
    memset(&p, 0, sizeof p);
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_B, 0, "", 2, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 2);
    EXPECT_STR(p.codes[0], "AB-261123-0002");
    EXPECT_STR(next, "");
    /* An owner with nothing. */
    EXPECT_INT(hoso_dossier_list_owner(t, "00000000000000000000000000000000", 0, "", 2, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 2);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

static void test_cursor_stable_under_inserts(void)
{
    hoso_store *s = seed();
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    page p = {0};
    char next[128];
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, NULL, 2, &doc, collect, &p, next), 0);
    hoso_txn_reset(t);

    hoso_txn *w = NULL;
    hoso_dossier d;
    msgpack_sbuffer fb;
    make_dossier(&d, &fb, "A-261123-0008", OWNER_A, "A", 8000, 1);
    EXPECT_INT(hoso_txn_write(s, NULL, &w), 0);
    EXPECT_INT(hoso_dossier_put(w, &d, 1), 0);
    EXPECT_INT(hoso_txn_commit(w), 0);
    msgpack_sbuffer_destroy(&fb);

    EXPECT_INT(hoso_txn_renew(t), 0);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, next, 2, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 4);
    EXPECT_STR(p.codes[2], "A-261123-0005");
    EXPECT_STR(p.codes[3], "A-261123-0004");
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

static void test_status_filter(void)
{
    hoso_store *s = seed();
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    page p = {0};
    char next[128], cur[128];
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    /* Status 2: dossiers 6, 4, 2. */
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 2, NULL, 2, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 2);
    EXPECT_STR(p.codes[0], "A-261123-0006");
    EXPECT_STR(p.codes[1], "A-261123-0004");
    EXPECT(next[0] != '\0');
    strcpy(cur, next);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 2, cur, 2, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 3);
    EXPECT_STR(p.codes[2], "A-261123-0002");
    EXPECT_STR(next, "");
    /* Status 1 with limit 3 leaves 1 (dossier 1) for the next page. */
    memset(&p, 0, sizeof p);
    EXPECT_INT(hoso_dossier_list_agency(t, "A", 1, NULL, 3, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 3);
    for (int i = 0; i < 3; i++) EXPECT_INT(p.status[i], 1);
    EXPECT(next[0] != '\0');
    /* Status 2 with limit 3: exactly all, nothing after. */
    memset(&p, 0, sizeof p);
    EXPECT_INT(hoso_dossier_list_agency(t, "A", 2, NULL, 3, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 3);
    EXPECT_STR(next, "");
    memset(&p, 0, sizeof p);
    EXPECT_INT(hoso_dossier_list_agency(t, "A", 9, NULL, 3, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 0);
    EXPECT_STR(next, "");
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

static void test_agency_prefix_does_not_collide(void)
{
    hoso_store *s = seed();
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    page p = {0};
    char next[128];
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_list_agency(t, "A", 0, NULL, 0, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 7);
    for (int i = 0; i < p.n; i++) EXPECT(strncmp(p.codes[i], "A-", 2) == 0);
    EXPECT_STR(next, "");
    memset(&p, 0, sizeof p);
    EXPECT_INT(hoso_dossier_list_agency(t, "AB", 0, NULL, 0, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 2);
    EXPECT_STR(p.codes[0], "AB-261123-0002");
    memset(&p, 0, sizeof p);
    EXPECT_INT(hoso_dossier_list_agency(t, "ABC", 0, NULL, 0, &doc, collect, &p, next), 0);
    EXPECT_INT(p.n, 0);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

static int stop_after_one(void *ctx, const hoso_dossier *d)
{
    (*(int *)ctx)++;
    return 42;
}

static void test_bad_cursor_and_stop(void)
{
    hoso_store *s = seed();
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    page p = {0};
    char next[128];
    int calls = 0;
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, "!!not base64!!", 3, &doc, collect, &p, next), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, "AAAA", 3, &doc, collect, &p, next), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_dossier_list_owner(t, "nope", 0, NULL, 3, &doc, collect, &p, next), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_dossier_list_agency(t, "", 0, NULL, 3, &doc, collect, &p, next), HOSO_EBAD_REQUEST);
    EXPECT_INT(p.n, 0);
    EXPECT_INT(hoso_dossier_list_owner(t, OWNER_A, 0, NULL, 3, &doc, stop_after_one, &calls, next), 42);
    EXPECT_INT(calls, 1);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_owner_pages_newest_first), UNIT(test_cursor_stable_under_inserts), UNIT(test_status_filter),
          UNIT(test_agency_prefix_does_not_collide), UNIT(test_bad_cursor_and_stop))
