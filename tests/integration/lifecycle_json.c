/*
 * lifecycle_json.c - the same lifecycle in JSON, as bots and curl users speak it: once
 * through the test client and once through the real curl binary.
 */
#include "hoso_test.h"

static void test_lifecycle_json(void)
{
    ht_lifecycle(HT_JSON);
}

static void test_lifecycle_curl(void)
{
    ht_lifecycle(HT_CURL);
}

UNIT_MAIN(UNIT(test_lifecycle_json), UNIT(test_lifecycle_curl))
