/* Unit tests of server/push/index.c: a hub's subscriptions by (kind, key), checked
 * against a plain array of the same subscriptions. */
#include "../unit.h"
#include "push/push.h"

typedef struct found {
    hoso_hub_member *seen[4096];
    size_t n;
} found;

static void collect(void *ctx, hoso_hub_member *m)
{
    found *f = ctx;
    f->seen[f->n++] = m;
}

static size_t lookup(hoso_sub_index *ix, int kind, const char *key, found *f)
{
    f->n = 0;
    hoso__index_each(ix, kind, key, collect, f);
    return f->n;
}

static void test_add_find_remove(void)
{
    hoso_sub_index ix;
    hoso_hub_member a, b, c;
    found f;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    EXPECT_INT(hoso__index_init(&ix), 0);
    EXPECT_INT(hoso__index_add(&ix, &a, HOSO_SUB_OWNER, "00112233445566778899aabbccddeeff"), 1);
    EXPECT_INT(hoso__index_add(&ix, &b, HOSO_SUB_OWNER, "00112233445566778899aabbccddeeff"), 1);
    /* The same key under the other kind is another subscription. */
    EXPECT_INT(hoso__index_add(&ix, &c, HOSO_SUB_AGENCY, "00112233445566778899aabbccddeeff"), 1);
    EXPECT_INT(ix.n, 3);
    EXPECT_INT(lookup(&ix, HOSO_SUB_OWNER, "00112233445566778899aabbccddeeff", &f), 2);
    EXPECT_INT(lookup(&ix, HOSO_SUB_AGENCY, "00112233445566778899aabbccddeeff", &f), 1);
    EXPECT(f.seen[0] == &c);
    EXPECT_INT(lookup(&ix, HOSO_SUB_OWNER, "00112233445566778899aabbccddeefe", &f), 0);
    /* A member keeps its first subscription. */
    EXPECT_INT(hoso__index_add(&ix, &a, HOSO_SUB_AGENCY, "X"), 0);
    EXPECT_INT(lookup(&ix, HOSO_SUB_AGENCY, "X", &f), 0);
    EXPECT_INT(hoso__index_remove(&ix, &a), 1);
    EXPECT_INT(hoso__index_remove(&ix, &a), 0);
    EXPECT_INT(lookup(&ix, HOSO_SUB_OWNER, "00112233445566778899aabbccddeeff", &f), 1);
    EXPECT(f.seen[0] == &b);
    EXPECT_INT(ix.n, 2);
    hoso__index_remove(&ix, &b);
    hoso__index_remove(&ix, &c);
    EXPECT_INT(ix.n, 0);
    hoso__index_dispose(&ix);
}

/* Many members over few keys: the table grows several times and every lookup still
 * finds exactly the members of its key. */
static void test_growth_matches_model(void)
{
    enum { MEMBERS = 3000, KEYS = 700 };
    static hoso_hub_member m[MEMBERS];
    static int key_of[MEMBERS];
    hoso_sub_index ix;
    found f;
    char key[48];

    EXPECT_INT(hoso__index_init(&ix), 0);
    size_t first_buckets = ix.nbuckets;
    memset(m, 0, sizeof(m));
    for (int i = 0; i < MEMBERS; i++) {
        key_of[i] = (i * 7919) % KEYS;
        snprintf(key, sizeof(key), "owner-%d", key_of[i]);
        EXPECT_INT(hoso__index_add(&ix, &m[i], i % 5 == 0 ? HOSO_SUB_AGENCY : HOSO_SUB_OWNER, key), 1);
    }
    EXPECT(ix.nbuckets > first_buckets);
    EXPECT_INT(ix.nbuckets & (ix.nbuckets - 1), 0);
    /* Remove every third member, then compare each key with the model. */
    for (int i = 0; i < MEMBERS; i += 3)
        EXPECT_INT(hoso__index_remove(&ix, &m[i]), 1);
    for (int k = 0; k < KEYS; k++) {
        for (int kind = HOSO_SUB_OWNER; kind <= HOSO_SUB_AGENCY; kind++) {
            size_t want = 0;
            snprintf(key, sizeof(key), "owner-%d", k);
            for (int i = 0; i < MEMBERS; i++)
                want += i % 3 != 0 && key_of[i] == k && (i % 5 == 0) == (kind == HOSO_SUB_AGENCY);
            EXPECT_INT(lookup(&ix, kind, key, &f), want);
            for (size_t j = 0; j < f.n; j++) {
                size_t i = (size_t)(f.seen[j] - m);
                EXPECT_INT(key_of[i], k);
                EXPECT(i % 3 != 0);
            }
        }
    }
    hoso__index_dispose(&ix);
}

UNIT_MAIN(UNIT(test_add_find_remove), UNIT(test_growth_matches_model))
