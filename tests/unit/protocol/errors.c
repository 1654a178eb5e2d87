/* Unit tests of protocol/errors.c: the error table and the error reply shape. */
#include "../unit.h"
#include "hoso_protocol.h"

static void test_codes_and_statuses(void)
{
    EXPECT_STR(hoso_err_code(HOSO_EBAD_REQUEST), "BAD_REQUEST");
    EXPECT_INT(hoso_err_http_status(HOSO_EBAD_REQUEST), 400);
    EXPECT_STR(hoso_err_code(HOSO_EUNAUTHORIZED), "UNAUTHORIZED");
    EXPECT_INT(hoso_err_http_status(HOSO_EUNAUTHORIZED), 401);
    EXPECT_INT(hoso_err_http_status(HOSO_EFORBIDDEN), 403);
    EXPECT_INT(hoso_err_http_status(HOSO_ENOT_FOUND), 404);
    EXPECT_INT(hoso_err_http_status(HOSO_EMETHOD_NOT_ALLOWED), 405);
    EXPECT_STR(hoso_err_code(HOSO_EILLEGAL_TRANSITION), "ILLEGAL_TRANSITION");
    EXPECT_INT(hoso_err_http_status(HOSO_EILLEGAL_TRANSITION), 409);
    EXPECT_STR(hoso_err_code(HOSO_EVERSION_CONFLICT), "VERSION_CONFLICT");
    EXPECT_INT(hoso_err_http_status(HOSO_EVERSION_CONFLICT), 409);
    EXPECT_INT(hoso_err_http_status(HOSO_EALREADY_EXISTS), 409);
    EXPECT_STR(hoso_err_code(HOSO_ECURSOR_EXPIRED), "CURSOR_EXPIRED");
    EXPECT_INT(hoso_err_http_status(HOSO_ECURSOR_EXPIRED), 410);
    EXPECT_INT(hoso_err_http_status(HOSO_EPAYLOAD_TOO_LARGE), 413);
    EXPECT_INT(hoso_err_http_status(HOSO_EUNSUPPORTED_MEDIA_TYPE), 415);
    EXPECT_STR(hoso_err_code(HOSO_EVALIDATION_FAILED), "VALIDATION_FAILED");
    EXPECT_INT(hoso_err_http_status(HOSO_EVALIDATION_FAILED), 422);
    EXPECT_INT(hoso_err_http_status(HOSO_ERATE_LIMITED), 429);
    EXPECT_INT(hoso_err_http_status(HOSO_EINTERNAL), 500);
    EXPECT_STR(hoso_err_code(HOSO_EUNAVAILABLE), "UNAVAILABLE");
    EXPECT_INT(hoso_err_http_status(HOSO_EUNAVAILABLE), 503);
}

static void test_internal_errors_share_wire_codes(void)
{
    EXPECT_STR(hoso_err_code(HOSO_ENOMEM), "INTERNAL");
    EXPECT_STR(hoso_err_code(HOSO_EIO), "INTERNAL");
    EXPECT_STR(hoso_err_code(HOSO_ECORRUPT), "INTERNAL");
    EXPECT_INT(hoso_err_http_status(HOSO_ECORRUPT), 500);
    EXPECT_STR(hoso_err_code(HOSO_ESTORAGE_FULL), "UNAVAILABLE");
    EXPECT_INT(hoso_err_http_status(HOSO_ESTORAGE_FULL), 503);
    EXPECT_STR(hoso_err_message(HOSO_ENOMEM), "out of memory");
}

static void test_unknown_values_are_internal(void)
{
    EXPECT_STR(hoso_err_code(0), "INTERNAL");
    EXPECT_STR(hoso_err_code(5), "INTERNAL");
    EXPECT_STR(hoso_err_code(-HOSO__ERR_COUNT), "INTERNAL");
    EXPECT_STR(hoso_err_code(-100000), "INTERNAL");
    EXPECT_INT(hoso_err_http_status(-100000), 500);
    EXPECT(hoso_err_message(-100000) != NULL);
}

static void test_every_error_has_a_row(void)
{
    for (int e = -1; e > -HOSO__ERR_COUNT; e--) {
        EXPECT(hoso_err_code(e)[0] != '\0');
        EXPECT(hoso_err_message(e)[0] != '\0');
        EXPECT(hoso_err_http_status(e) >= 400 && hoso_err_http_status(e) <= 599);
    }
    EXPECT_INT(HOSO_EBAD_REQUEST, -1);
}

static void test_fail_and_fail_field(void)
{
    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_fail(&ei, HOSO_ENOT_FOUND, "no dossier %s", "X-1"), HOSO_ENOT_FOUND);
    EXPECT_INT(ei.err, HOSO_ENOT_FOUND);
    EXPECT_STR(ei.message, "no dossier X-1");
    EXPECT_INT(hoso_fail(NULL, HOSO_EIO, "ignored"), HOSO_EIO);

    hoso_errinfo ef = {0};
    EXPECT_INT(hoso_fail_field(&ef, "form.birth_date", "must be a date YYYY-MM-DD"), HOSO_EVALIDATION_FAILED);
    EXPECT_INT(ef.err, HOSO_EVALIDATION_FAILED);
    EXPECT_INT(ef.nfields, 1);
    EXPECT_STR(ef.fields[0].field, "form.birth_date");
    for (int i = 0; i < 40; i++)
        hoso_fail_field(&ef, "x", "required");
    EXPECT_INT(ef.nfields, HOSO_ERRINFO_MAX_FIELDS);
}

static msgpack_object unpack(msgpack_sbuffer *sb, msgpack_zone *z)
{
    msgpack_object o;
    size_t off = 0;
    EXPECT_INT(msgpack_unpack(sb->data, sb->size, &off, z, &o), MSGPACK_UNPACK_SUCCESS);
    return o;
}

static void test_encode_error_shape(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone z;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_zone_init(&z, 1024);

    EXPECT_INT(hoso_encode_error(&pk, HOSO_ENOT_FOUND, NULL), 0);
    msgpack_object o = unpack(&sb, &z);
    const msgpack_object *e = hoso_map_get(&o, "error");
    EXPECT(e != NULL);
    EXPECT_INT(o.via.map.size, 1);
    EXPECT_INT(e->via.map.size, 2);
    EXPECT(hoso_obj_streq(hoso_map_get(e, "code"), "NOT_FOUND"));
    EXPECT(hoso_obj_streq(hoso_map_get(e, "message"), "no such resource"));
    EXPECT(hoso_map_get(e, "details") == NULL);

    char *json = NULL;
    EXPECT_INT(hoso_msgpack_to_json(sb.data, sb.size, &json, NULL), 0);
    EXPECT_STR(json, "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"no such resource\"}}");
    free(json);

    msgpack_sbuffer_clear(&sb);
    hoso_errinfo ei = {0};
    hoso_fail_field(&ei, "papers[2].type", "required");
    hoso_fail_field(&ei, "op_id", "must be a string");
    EXPECT_INT(hoso_encode_error(&pk, ei.err, &ei), 0);
    EXPECT_INT(hoso_msgpack_to_json(sb.data, sb.size, &json, NULL), 0);
    EXPECT_STR(json, "{\"error\":{\"code\":\"VALIDATION_FAILED\",\"message\":\"some fields are invalid\","
                     "\"details\":{\"fields\":[{\"field\":\"papers[2].type\",\"problem\":\"required\"},"
                     "{\"field\":\"op_id\",\"problem\":\"must be a string\"}]}}}");
    free(json);

    msgpack_sbuffer_clear(&sb);
    hoso_errinfo em = {0};
    hoso_fail(&em, HOSO_EBAD_REQUEST, "trailing bytes");
    EXPECT_INT(hoso_encode_error(&pk, HOSO_EBAD_REQUEST, &em), 0);
    EXPECT_INT(hoso_msgpack_to_json(sb.data, sb.size, &json, NULL), 0);
    EXPECT_STR(json, "{\"error\":{\"code\":\"BAD_REQUEST\",\"message\":\"trailing bytes\"}}");
    free(json);

    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

UNIT_MAIN(UNIT(test_codes_and_statuses), UNIT(test_internal_errors_share_wire_codes),
          UNIT(test_unknown_values_are_internal), UNIT(test_every_error_has_a_row), UNIT(test_fail_and_fail_field),
          UNIT(test_encode_error_shape))
