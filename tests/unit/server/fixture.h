/*
 * fixture.h - what the server unit tests that need a store share: a fresh data dir per
 * test process (removed at exit) and a caller. Included by those tests.
 */
#ifndef HOSO_TEST_SERVER_FIXTURE_H
#define HOSO_TEST_SERVER_FIXTURE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#pragma GCC diagnostic ignored "-Wunused-function"
#include <ftw.h>
#include <sys/stat.h>
#include "../unit.h"
#include "core/internal.h"

#define CITIZEN "00112233445566778899aabbccddeeff"

static char g_dir[64];
static hoso_store *g_store;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

static void cleanup(void)
{
    if (g_store != NULL)
        hoso_store_close(g_store);
    if (g_dir[0])
        nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static hoso_store *store_new(void)
{
    hoso_store_options o;
    memset(&o, 0, sizeof(o));
    o.map_size = (size_t)64 << 20;
    strcpy(g_dir, "/tmp/hoso-unit-XXXXXX");
    EXPECT(mkdtemp(g_dir) != NULL);
    atexit(cleanup);
    EXPECT_INT(hoso_store_open(&g_store, g_dir, &o), 0);
    return g_store;
}

static hoso_caller citizen(void)
{
    hoso_caller who;
    memset(&who, 0, sizeof(who));
    snprintf(who.account, sizeof(who.account), "%s", CITIZEN);
    who.role = HOSO_ROLE_CITIZEN;
    return who;
}

#endif
