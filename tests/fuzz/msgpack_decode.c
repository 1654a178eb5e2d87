/*
 * msgpack_decode.c - fuzz target: strict msgpack decoding, every request descriptor,
 * the record decoders, form validation and the JSON bridge of whatever decodes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoso_protocol.h"
#include "decoders.h"

/* A small service to validate whatever "form" the input carries. */
static hoso_str opts[] = {{"nam", 3}, {"nữ", 4}};
static hoso_form_field form[] = {
    {{"full_name", 9}, {"Họ tên", 8}, HOSO_FK_TEXT, 1, NULL, 0},
    {{"birth_date", 10}, {"Ngày sinh", 10}, HOSO_FK_DATE, 1, NULL, 0},
    {{"children", 8}, {"Số con", 7}, HOSO_FK_NUMBER, 0, NULL, 0},
    {{"sex", 3}, {"Giới tính", 11}, HOSO_FK_ENUM, 0, opts, 2},
};
static const hoso_service service = {
    {"1.001", 5}, {"Đăng ký khai sinh", 19}, {"H29", 3}, {"full", 4}, 5, 0, form, 4, NULL, 0,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hoso_limits lim;
    hoso_doc doc;
    hoso_errinfo ei;

    hoso_limits_default(&lim);
    memset(&ei, 0, sizeof(ei));
    if (hoso_doc_from_msgpack(&doc, data, size, &lim, &ei) != 0) {
        if (ei.err >= 0)
            abort();
        return 0;
    }
    fuzz_decode_all(&doc);
    memset(&ei, 0, sizeof(ei));
    hoso_form_validate(&service, hoso_map_get(&doc.root, "form"), &ei);

    /* Whatever the strict decoder accepts, the JSON bridge must render. */
    char *json = NULL;
    size_t n = 0;
    if (hoso_msgpack_to_json(data, size, &json, &n) != 0 || json == NULL || strlen(json) != n)
        abort();
    hoso_doc back;
    memset(&ei, 0, sizeof(ei));
    if (hoso_doc_from_json(&back, json, n, NULL, &ei) == 0)
        hoso_doc_destroy(&back);
    free(json);
    hoso_doc_destroy(&doc);
    return 0;
}
