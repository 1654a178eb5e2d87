/*
 * cursors.c - consumer positions in the global log (portal mirror, each webhook):
 * name -> seq BE64. A consumer never seen before is at 0.
 */
#include <string.h>
#include "internal.h"

int hoso_cursor_get(hoso_txn *t, const char *name, uint64_t *pos)
{
    MDB_val v;
    *pos = 0;
    if (!name || !name[0]) return HOSO_EBAD_REQUEST;
    int rc = hoso__get(t, HOSO__DB_CURSORS, name, strlen(name), &v);
    if (rc == HOSO_ENOT_FOUND) return 0;
    if (rc) return rc;
    if (v.mv_size != 8) return HOSO_ECORRUPT;
    *pos = hoso_be64_get(v.mv_data);
    return 0;
}

int hoso_cursor_put(hoso_txn *t, const char *name, uint64_t pos)
{
    uint8_t v[8];
    if (!name || !name[0]) return HOSO_EBAD_REQUEST;
    hoso_be64_put(v, pos);
    return hoso__put(t, HOSO__DB_CURSORS, name, strlen(name), v, sizeof v, 0);
}
