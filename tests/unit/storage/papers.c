/*
 * tests/unit/storage/papers.c - the sealed papers vault (storage/papers.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

typedef struct vault {
    char ids[8][32];
    char numbers[8][32];
    int64_t valid_until[8];
    int n;
} vault;

static int on_paper(void *ctx, const hoso_paper *p)
{
    vault *v = ctx;
    snprintf(v->ids[v->n], 32, "%s", p->id.ptr);
    snprintf(v->numbers[v->n], 32, "%s", p->number.ptr);
    v->valid_until[v->n] = p->valid_until;
    v->n++;
    return 0;
}

static hoso_paper paper(const char *id, const char *number, int64_t valid_until)
{
    hoso_paper p = {0};
    p.id = hs(id);
    p.type = hs("cccd");
    p.number = hs(number);
    p.issuer = hs("Cuc CSQLHC");
    p.valid_until = valid_until;
    p.added_at = 1000;
    return p;
}

static void test_put_each_sealed(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_doc doc = {0};
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    hoso_paper p1 = paper("p1", "079123456789", 2000000000000LL), p2 = paper("p2", "079000000001", 0);
    hoso_paper p3 = paper("p1", "079999999999", 0);
    EXPECT_INT(hoso_paper_put(t, OWNER_A, &p1), 0);
    EXPECT_INT(hoso_paper_put(t, OWNER_A, &p2), 0);
    EXPECT_INT(hoso_paper_put(t, OWNER_B, &p3), 0);
    EXPECT_INT(hoso_paper_put(t, "short", &p3), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_txn_commit(t), 0);

    vault v = {0};
    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_paper_each(t, OWNER_A, &doc, on_paper, &v), 0);
    EXPECT_INT(v.n, 2);
    EXPECT_STR(v.ids[0], "p1");
    EXPECT_STR(v.numbers[0], "079123456789");
    EXPECT_INT(v.valid_until[0], 2000000000000LL);
    EXPECT_STR(v.ids[1], "p2");
    memset(&v, 0, sizeof v);
    EXPECT_INT(hoso_paper_each(t, OWNER_B, &doc, on_paper, &v), 0);
    EXPECT_INT(v.n, 1);
    EXPECT_STR(v.numbers[0], "079999999999");
    memset(&v, 0, sizeof v);
    EXPECT_INT(hoso_paper_each(t, "00000000000000000000000000000000", &doc, on_paper, &v), 0);
    EXPECT_INT(v.n, 0);
    hoso_txn_abort(t);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
    EXPECT(!raw_contains("papers", "079123456789", NULL));
}

UNIT_MAIN(UNIT(test_put_each_sealed))
