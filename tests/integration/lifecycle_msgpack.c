/*
 * lifecycle_msgpack.c - one dossier from submission to rating over msgpack, the app's
 * wire (the scenario itself is in tests/support/scenario.c).
 */
#include "hoso_test.h"

static void test_lifecycle_msgpack(void)
{
    ht_lifecycle(HT_MSGPACK);
}

UNIT_MAIN(UNIT(test_lifecycle_msgpack))
