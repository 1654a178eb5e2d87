/* Unit tests of server/core/throttle.c: attempts count when they arrive, a right one
 * gives its count back, a key made to wait is never pushed out by a flood of other
 * keys, of its own kind or another, and IPv6 clients count by /64. */
#include <stdio.h>
#include "../unit.h"
#include "core/runtime.h"

#define T0 1000000000000LL /* a clock of our own: no test sleeps */

static int attempt(int kind, const char *key, int64_t now, int64_t *wait)
{
    int64_t w = 0;
    int rc = hoso_throttle_attempt(kind, key, now, &w);
    if (wait != NULL)
        *wait = w;
    return rc;
}

static void lock_account(const char *key, int64_t now)
{
    for (int i = 0; i < 6; i++) EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, key, now, NULL), 0);
}

static void test_attempts_count_on_arrival(void)
{
    int64_t wait = 0;
    /* Five free, the sixth is let through and sets a wait of 1 s for the next. */
    lock_account("acct-1", T0);
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "acct-1", T0, &wait), HOSO_ERATE_LIMITED);
    EXPECT_INT(wait, 1000);
    /* A refused attempt adds nothing: still 1 s, not 2. */
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "acct-1", T0 + 400, &wait), HOSO_ERATE_LIMITED);
    EXPECT_INT(wait, 600);
    /* After the wait one more, which doubles it. */
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "acct-1", T0 + 1000, NULL), 0);
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "acct-1", T0 + 1000, &wait), HOSO_ERATE_LIMITED);
    EXPECT_INT(wait, 2000);
    /* Other keys and other kinds are their own. */
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "acct-2", T0, NULL), 0);
    EXPECT_INT(attempt(HOSO_THROTTLE_ADDRESS, "acct-1", T0, NULL), 0);
}

static void test_refund_gives_back(void)
{
    /* The sixth attempt turns out right: its count comes back and so does the wait. */
    lock_account("acct-r", T0);
    hoso_throttle_refund(HOSO_THROTTLE_ACCOUNT, "acct-r");
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "acct-r", T0, NULL), 0);
    /* Only what was counted: a refund of a key never seen does nothing. */
    hoso_throttle_refund(HOSO_THROTTLE_ACCOUNT, "never-seen");
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "acct-r", T0, NULL), HOSO_ERATE_LIMITED);
    /* Clear forgets the whole count. */
    hoso_throttle_clear(HOSO_THROTTLE_ACCOUNT, "acct-r");
    lock_account("acct-r", T0);
}

/* 200,000 other keys of the same kind, and 20,000 of another each made to wait: the
 * account made to wait first still waits, and new keys are still let in. */
static void test_waiting_key_survives_a_flood(void)
{
    char key[32];
    int64_t wait = 0;
    lock_account("victim", T0);
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "other-%d", i);
        EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, key, T0 + 1, NULL), 0);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "code-%d", i);
        for (int j = 0; j < 6; j++) attempt(HOSO_THROTTLE_LOOKUP_CODE, key, T0 + 1, NULL);
    }
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "victim", T0 + 2, &wait), HOSO_ERATE_LIMITED);
    EXPECT_INT(wait, 998);
    /* And a newcomer is not refused because other keys wait. */
    EXPECT_INT(attempt(HOSO_THROTTLE_ACCOUNT, "newcomer", T0 + 2, NULL), 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "code2-%d", i);
        EXPECT_INT(attempt(HOSO_THROTTLE_LOOKUP_CODE, key, T0 + 2, NULL), 0);
    }
}

static void test_address_keys(void)
{
    char out[80];
    hoso_throttle_addr_key("2001:db8:1:2:3:4:5:6", out, sizeof out);
    EXPECT_STR(out, "2001:db8:1:2::/64");
    hoso_throttle_addr_key("2001:db8:1:2:ffff::1", out, sizeof out);
    EXPECT_STR(out, "2001:db8:1:2::/64");
    hoso_throttle_addr_key("198.51.100.7", out, sizeof out);
    EXPECT_STR(out, "198.51.100.7");
    hoso_throttle_addr_key("", out, sizeof out);
    EXPECT_STR(out, "");
}

UNIT_MAIN(UNIT(test_attempts_count_on_arrival), UNIT(test_refund_gives_back), UNIT(test_waiting_key_survives_a_flood),
          UNIT(test_address_keys))
