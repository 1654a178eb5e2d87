/*
 * ratings.c - satisfaction ratings and feedback under random ids. A rating keeps only
 * service, agency and month so the assessor stays anonymous (Decree 42/2022 art. 13);
 * feedback text may name people, so it is sealed.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

#define ID_BYTES 16

int hoso_rating_put(hoso_txn *t, const char *service, const char *agency, int64_t at,
                    const msgpack_object *answers)
{
    uint8_t id[ID_BYTES];
    char month[8];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    randombytes_buf(id, sizeof id);
    hoso__vn_month(at, month);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 4) || hoso_pack_kcstr(&pk, "service", service) ||
        hoso_pack_kcstr(&pk, "agency", agency) || hoso_pack_kcstr(&pk, "month", month) ||
        hoso_pack_cstr(&pk, "answers") || (answers ? msgpack_pack_object(&pk, *answers) : msgpack_pack_nil(&pk)))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_RATINGS, id, sizeof id, sb.data, sb.size, MDB_NOOVERWRITE);
Exit:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int hoso_feedback_put(hoso_txn *t, const char *text, const char *service, int64_t at)
{
    uint8_t id[ID_BYTES], *sealed = NULL;
    size_t slen = 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    msgpack_sbuffer_init(&sb);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    if (!text) text = "";
    randombytes_buf(id, sizeof id);
    if ((rc = hoso_seal(t->s, text, strlen(text), id, sizeof id, &sealed, &slen)) != 0) goto Exit;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 3) || hoso_pack_kbin(&pk, "text", sealed, slen) ||
        hoso_pack_kcstr(&pk, "service", service) || hoso_pack_kint(&pk, "at", at))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_FEEDBACK, id, sizeof id, sb.data, sb.size, MDB_NOOVERWRITE);
Exit:
    msgpack_sbuffer_destroy(&sb);
    free(sealed);
    return rc;
}
