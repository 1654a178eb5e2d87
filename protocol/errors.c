/*
 * errors.c - the error vocabulary: wire codes, HTTP statuses, messages, and the one
 * error reply shape.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hoso_protocol.h"

typedef struct err_row {
    const char *code;
    int http;
    const char *message;
} err_row;

static const err_row err_table[HOSO__ERR_COUNT] = {
    [0] = {"INTERNAL", 500, "internal error"},
#define ROW(name, wire, status, msg) [HOSO__ERRNO_##name] = {wire, status, msg},
    HOSO_ERRORS(ROW)
#undef ROW
};

static const err_row *err_lookup(int err)
{
    if (err >= 0 || -err >= HOSO__ERR_COUNT)
        return &err_table[HOSO__ERRNO_INTERNAL];
    return &err_table[-err];
}

const char *hoso_err_code(int err)
{
    return err_lookup(err)->code;
}

int hoso_err_http_status(int err)
{
    return err_lookup(err)->http;
}

const char *hoso_err_message(int err)
{
    return err_lookup(err)->message;
}

int hoso_fail(hoso_errinfo *ei, int err, const char *fmt, ...)
{
    if (ei == NULL)
        return err;
    ei->err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ei->message, sizeof(ei->message), fmt, ap);
    va_end(ap);
    return err;
}

int hoso_fail_field(hoso_errinfo *ei, const char *field, const char *problem)
{
    if (ei == NULL)
        return HOSO_EVALIDATION_FAILED;
    if (ei->err == 0)
        ei->err = HOSO_EVALIDATION_FAILED;
    if (ei->nfields < HOSO_ERRINFO_MAX_FIELDS) {
        snprintf(ei->fields[ei->nfields].field, sizeof(ei->fields[0].field), "%s", field);
        snprintf(ei->fields[ei->nfields].problem, sizeof(ei->fields[0].problem), "%s", problem);
        ei->nfields++;
    }
    return HOSO_EVALIDATION_FAILED;
}

int hoso_encode_error(msgpack_packer *pk, int err, const hoso_errinfo *ei)
{
    if (err >= 0 && ei != NULL && ei->err < 0)
        err = ei->err;
    const char *message = (ei != NULL && ei->message[0]) ? ei->message : hoso_err_message(err);
    int has_details = ei != NULL && ei->nfields > 0;
    int r = 0;

    r |= msgpack_pack_map(pk, 1);
    r |= hoso_pack_cstr(pk, "error");
    r |= msgpack_pack_map(pk, has_details ? 3 : 2);
    r |= hoso_pack_cstr(pk, "code");
    r |= hoso_pack_cstr(pk, hoso_err_code(err));
    r |= hoso_pack_cstr(pk, "message");
    r |= hoso_pack_cstr(pk, message);
    if (has_details) {
        size_t n = ei->nfields < HOSO_ERRINFO_MAX_FIELDS ? ei->nfields : HOSO_ERRINFO_MAX_FIELDS;
        r |= hoso_pack_cstr(pk, "details");
        r |= msgpack_pack_map(pk, 1);
        r |= hoso_pack_cstr(pk, "fields");
        r |= msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
            r |= msgpack_pack_map(pk, 2);
            r |= hoso_pack_cstr(pk, "field");
            r |= hoso_pack_cstr(pk, ei->fields[i].field);
            r |= hoso_pack_cstr(pk, "problem");
            r |= hoso_pack_cstr(pk, ei->fields[i].problem);
        }
    }
    return r ? HOSO_ENOMEM : 0;
}
