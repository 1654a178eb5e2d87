/*
 * accounts.c - accounts table: id -> {role, agency, scopes, pwhash, created_at, sealed}.
 * The personal and secret parts (login, full name, phone, bot secret) are sealed with
 * the account id as associated data, so a value moved to another key fails to open.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "internal.h"

static const char *const ROLE_NAMES[] = {NULL, "citizen", "officer", "bot", "admin"};

const char *hoso_role_name(hoso_role r)
{
    return r >= HOSO_ROLE_CITIZEN && r <= HOSO_ROLE_ADMIN ? ROLE_NAMES[r] : "?";
}

int hoso_role_parse(const char *s)
{
    for (int r = HOSO_ROLE_CITIZEN; s && r <= HOSO_ROLE_ADMIN; r++)
        if (strcmp(s, ROLE_NAMES[r]) == 0) return r;
    return HOSO_EBAD_REQUEST;
}

static int pack_secret(msgpack_sbuffer *sb, const hoso_account *a)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    return msgpack_pack_map(&pk, 4) || hoso_pack_kstr(&pk, "login", &a->login) ||
           hoso_pack_kstr(&pk, "full_name", &a->full_name) || hoso_pack_kstr(&pk, "phone", &a->phone) ||
           hoso_pack_kstr(&pk, "bot_secret", &a->bot_secret);
}

int hoso_account_put(hoso_txn *t, const hoso_account *a)
{
    msgpack_sbuffer sec, val;
    msgpack_packer pk;
    uint8_t *sealed = NULL;
    size_t slen = 0, idlen = strlen(a->id);
    int rc;
    msgpack_sbuffer_init(&sec);
    msgpack_sbuffer_init(&val);
    if ((rc = hoso__writable(t)) != 0) goto Exit;
    rc = HOSO_EBAD_REQUEST;
    if (idlen == 0) goto Exit;
    rc = HOSO_ENOMEM;
    if (pack_secret(&sec, a) != 0) goto Exit;
    if ((rc = hoso_seal(t->s, sec.data, sec.size, a->id, idlen, &sealed, &slen)) != 0) goto Exit;
    msgpack_packer_init(&pk, &val, msgpack_sbuffer_write);
    rc = HOSO_ENOMEM;
    if (msgpack_pack_map(&pk, 6) || hoso_pack_kint(&pk, "role", a->role) ||
        hoso_pack_kstr(&pk, "agency", &a->agency) || hoso_pack_kstr(&pk, "scopes", &a->scopes) ||
        hoso_pack_kstr(&pk, "pwhash", &a->pwhash) || hoso_pack_kint(&pk, "created_at", a->created_at) ||
        hoso_pack_kbin(&pk, "sealed", sealed, slen))
        goto Exit;
    rc = hoso__put(t, HOSO__DB_ACCOUNTS, a->id, idlen, val.data, val.size, 0);
Exit:
    if (sec.data) sodium_memzero(sec.data, sec.size);
    msgpack_sbuffer_destroy(&sec);
    msgpack_sbuffer_destroy(&val);
    free(sealed);
    return rc;
}

/* unseal = 0 stops after the fields kept in the clear: authentication needs only those,
 * and opening the sealed part on every request was a tenth of the read path's CPU. */
static int account_get(hoso_txn *t, const char *id, hoso_doc *doc, hoso_account *out, int unseal)
{
    msgpack_unpacked val, sec;
    MDB_val v;
    uint8_t *pt = NULL;
    size_t ptlen = 0, idlen = strlen(id);
    int64_t role = 0;
    int rc;
    msgpack_unpacked_init(&val);
    msgpack_unpacked_init(&sec);
    memset(out, 0, sizeof *out);
    if ((rc = hoso__doc_ready(doc)) != 0) goto Exit;
    if (idlen == 0 || idlen >= sizeof out->id) {
        rc = HOSO_ENOT_FOUND;
        goto Exit;
    }
    if ((rc = hoso__get(t, HOSO__DB_ACCOUNTS, id, idlen, &v)) != 0) goto Exit;
    msgpack_unpacked_destroy(&val);
    if ((rc = hoso__unpack(&val, v.mv_data, v.mv_size)) != 0) goto Exit;
    const msgpack_object *m = &val.data, *sealed = hoso_map_get(m, "sealed");
    rc = HOSO_ECORRUPT;
    if (!sealed || sealed->type != MSGPACK_OBJECT_BIN) goto Exit;
    if ((rc = hoso__mint(m, "role", 0, &role)) != 0 || (rc = hoso__mint(m, "created_at", 0, &out->created_at)) != 0)
        goto Exit;
    if (role < HOSO_ROLE_CITIZEN || role > HOSO_ROLE_ADMIN) {
        rc = HOSO_ECORRUPT;
        goto Exit;
    }
    out->role = (hoso_role)role;
    memcpy(out->id, id, idlen + 1);
    if ((rc = hoso_zone_obj_str(&doc->zone, hoso_map_get(m, "agency"), &out->agency)) != 0 ||
        (rc = hoso_zone_obj_str(&doc->zone, hoso_map_get(m, "scopes"), &out->scopes)) != 0 ||
        (rc = hoso_zone_obj_str(&doc->zone, hoso_map_get(m, "pwhash"), &out->pwhash)) != 0)
        goto Exit;
    if (!unseal) goto Exit;
    if ((rc = hoso_open(t->s, sealed->via.bin.ptr, sealed->via.bin.size, id, idlen, &pt, &ptlen)) != 0)
        goto Exit;
    msgpack_unpacked_destroy(&sec);
    if ((rc = hoso__unpack(&sec, pt, ptlen)) != 0) goto Exit;
    const msgpack_object *p = &sec.data;
    if ((rc = hoso_zone_obj_str(&doc->zone, hoso_map_get(p, "login"), &out->login)) != 0 ||
        (rc = hoso_zone_obj_str(&doc->zone, hoso_map_get(p, "full_name"), &out->full_name)) != 0 ||
        (rc = hoso_zone_obj_str(&doc->zone, hoso_map_get(p, "phone"), &out->phone)) != 0 ||
        (rc = hoso_zone_obj_str(&doc->zone, hoso_map_get(p, "bot_secret"), &out->bot_secret)) != 0)
        goto Exit;
Exit:
    if (pt) {
        sodium_memzero(pt, ptlen);
        free(pt);
    }
    msgpack_unpacked_destroy(&val);
    msgpack_unpacked_destroy(&sec);
    return rc;
}

int hoso_account_get(hoso_txn *t, const char *id, hoso_doc *doc, hoso_account *out)
{
    return account_get(t, id, doc, out, 1);
}

int hoso_account_get_public(hoso_txn *t, const char *id, hoso_doc *doc, hoso_account *out)
{
    return account_get(t, id, doc, out, 0);
}
