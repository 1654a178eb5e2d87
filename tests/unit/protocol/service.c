/* Unit tests of protocol/service.c: service round trip and form validation. */
#include "../unit.h"
#include "hoso_protocol.h"

static const char *SERVICE =
    "{\"code\":\"1.001193\",\"name\":\"Đăng ký khai sinh\",\"agency\":\"000.00.12.H29\",\"level\":\"full\","
    "\"processing_days\":3,\"fee\":8000,\"form\":["
    "{\"key\":\"ho_ten\",\"label\":\"Họ tên\",\"type\":\"text\",\"required\":true},"
    "{\"key\":\"ngay_sinh\",\"label\":\"Ngày sinh\",\"type\":\"date\",\"required\":true},"
    "{\"key\":\"so_con\",\"label\":\"Số con\",\"type\":\"number\",\"required\":false},"
    "{\"key\":\"gioi_tinh\",\"label\":\"Giới tính\",\"type\":\"enum\",\"required\":true,\"options\":[\"Nam\",\"Nữ\"]}],"
    "\"papers\":[{\"type\":\"giay_chung_sinh\",\"label\":\"Giấy chứng sinh\",\"required\":true},"
    "{\"type\":\"cccd\",\"label\":\"CCCD\",\"required\":false}]}";

static void load(hoso_doc *doc, hoso_service *s, const char *json)
{
    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_doc_from_json(doc, json, strlen(json), NULL, &ei), 0);
    int r = hoso_service_decode(doc, &doc->root, s, &ei);
    if (r != 0)
        UNIT__FAIL("service: %d %s %s", r, ei.nfields ? ei.fields[0].field : "", ei.nfields ? ei.fields[0].problem : "");
}

static void test_decode(void)
{
    hoso_doc doc;
    hoso_service s;
    load(&doc, &s, SERVICE);
    EXPECT_STR(s.code.ptr, "1.001193");
    EXPECT_STR(s.name.ptr, "Đăng ký khai sinh");
    EXPECT_STR(s.level.ptr, "full");
    EXPECT_INT(s.processing_days, 3);
    EXPECT_INT(s.fee, 8000);
    EXPECT_INT(s.nform, 4);
    EXPECT_STR(s.form[1].key.ptr, "ngay_sinh");
    EXPECT_INT(s.form[1].kind, HOSO_FK_DATE);
    EXPECT_INT(s.form[2].kind, HOSO_FK_NUMBER);
    EXPECT_INT(s.form[2].required, 0);
    EXPECT_INT(s.form[3].kind, HOSO_FK_ENUM);
    EXPECT_INT(s.form[3].noptions, 2);
    EXPECT_STR(s.form[3].options[1].ptr, "Nữ");
    EXPECT_INT(s.npapers, 2);
    EXPECT_STR(s.papers[0].type.ptr, "giay_chung_sinh");
    EXPECT_INT(s.papers[0].required, 1);
    EXPECT_INT(s.papers[1].required, 0);
    hoso_doc_destroy(&doc);
}

static void test_round_trip(void)
{
    hoso_doc doc, back;
    hoso_service s, s2;
    msgpack_sbuffer sb, sb2;
    msgpack_packer pk;
    load(&doc, &s, SERVICE);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    EXPECT_INT(hoso_service_encode(&pk, &s), 0);

    char *json;
    EXPECT_INT(hoso_msgpack_to_json(sb.data, sb.size, &json, NULL), 0);
    EXPECT_STR(json, SERVICE);
    free(json);

    EXPECT_INT(hoso_doc_from_msgpack(&back, sb.data, sb.size, NULL, NULL), 0);
    EXPECT_INT(hoso_service_decode(&back, &back.root, &s2, NULL), 0);
    msgpack_sbuffer_init(&sb2);
    msgpack_packer_init(&pk, &sb2, msgpack_sbuffer_write);
    EXPECT_INT(hoso_service_encode(&pk, &s2), 0);
    EXPECT_INT(sb.size, sb2.size);
    EXPECT_MEM(sb.data, sb2.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&sb2);
    hoso_doc_destroy(&doc);
    hoso_doc_destroy(&back);
}

static void reject_service(const char *json, const char *field, const char *part)
{
    hoso_doc doc;
    hoso_service s;
    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_doc_from_json(&doc, json, strlen(json), NULL, &ei), 0);
    EXPECT_INT(hoso_service_decode(&doc, &doc.root, &s, &ei), HOSO_EVALIDATION_FAILED);
    int found = 0;
    for (size_t i = 0; i < ei.nfields; i++)
        if (strcmp(ei.fields[i].field, field) == 0 && strstr(ei.fields[i].problem, part))
            found = 1;
    if (!found)
        UNIT__FAIL("%s: expected %s: %s, first %s: %s", json, field, part, ei.nfields ? ei.fields[0].field : "-",
                   ei.nfields ? ei.fields[0].problem : "-");
    hoso_doc_destroy(&doc);
}

#define BASE "\"code\":\"c\",\"name\":\"n\",\"agency\":\"000.00.12.H29\",\"processing_days\":1"

static void test_decode_rejects(void)
{
    reject_service("{" BASE ",\"level\":\"some\"}", "level", "full or partial");
    reject_service("{\"code\":\"c\",\"name\":\"n\",\"agency\":\"000.00.12.H29\",\"level\":\"full\"}", "processing_days",
                   "required");
    /* The agency is an electronic identifier NNN.NN.NN.XNN. */
    reject_service("{\"code\":\"c\",\"name\":\"n\",\"agency\":\"UBND Ba Dinh\",\"level\":\"full\",\"processing_days\":1}",
                   "agency", "000.00.12.H29");
    reject_service("{\"code\":\"c\",\"name\":\"n\",\"agency\":\"000.00.12.h29\",\"level\":\"full\",\"processing_days\":1}",
                   "agency", "000.00.12.H29");
    reject_service("{" BASE ",\"level\":\"full\",\"form\":[{\"key\":\"k\",\"label\":\"l\",\"type\":\"color\"}]}",
                   "form[0].type", "text, number, date or enum");
    reject_service("{" BASE ",\"level\":\"full\",\"form\":[{\"key\":\"k\",\"label\":\"l\",\"type\":\"enum\"}]}",
                   "form[0].options", "required");
    reject_service("{" BASE ",\"level\":\"full\",\"form\":[{\"key\":\"k\",\"label\":\"l\",\"type\":\"text\"},"
                   "{\"key\":\"k\",\"label\":\"m\",\"type\":\"text\"}]}",
                   "form[1].key", "duplicate");
    reject_service("{" BASE ",\"level\":\"full\",\"papers\":[{\"type\":\"t\"}]}", "papers[0].label", "required");
    reject_service("{" BASE ",\"level\":\"full\",\"tags\":[]}", "tags", "unknown field");
    reject_service("{" BASE ",\"level\":\"full\",\"fee\":-1}", "fee", "at least 0");
}

static void test_demo_catalogue(void)
{
    /* The catalogue hosod serves with --demo must decode. */
    char path[4096];
    const char *tail = strstr(__FILE__, "tests/unit/protocol/");
    if (tail == NULL)
        return; /* built from a relative path: the source tree is not known */
    snprintf(path, sizeof(path), "%.*sserver/tools/demo/services.json", (int)(tail - __FILE__), __FILE__);
    FILE *f = fopen(path, "rb");
    /* The source tree is known here: a missing catalogue is a failure, not a skip. */
    EXPECT(f != NULL);
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    hoso_doc doc;
    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_doc_from_json(&doc, buf, n, NULL, &ei), 0);
    EXPECT_INT(doc.root.type, MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; i < doc.root.via.array.size; i++) {
        hoso_service s;
        int r = hoso_service_decode(&doc, &doc.root.via.array.ptr[i], &s, &ei);
        if (r != 0)
            UNIT__FAIL("demo service %u: %s: %s", i, ei.nfields ? ei.fields[0].field : ei.message,
                       ei.nfields ? ei.fields[0].problem : "");
    }
    hoso_doc_destroy(&doc);
    free(buf);
}

static int validate(const char *form_json, hoso_errinfo *ei)
{
    hoso_doc sdoc, fdoc;
    hoso_service s;
    load(&sdoc, &s, SERVICE);
    memset(ei, 0, sizeof(*ei));
    EXPECT_INT(hoso_doc_from_json(&fdoc, form_json, strlen(form_json), NULL, ei), 0);
    int r = hoso_form_validate(&s, &fdoc.root, ei);
    hoso_doc_destroy(&fdoc);
    hoso_doc_destroy(&sdoc);
    return r;
}

static void expect_form_problem(const char *form_json, const char *field, const char *part)
{
    hoso_errinfo ei;
    EXPECT_INT(validate(form_json, &ei), HOSO_EVALIDATION_FAILED);
    for (size_t i = 0; i < ei.nfields; i++)
        if (strcmp(ei.fields[i].field, field) == 0 && strstr(ei.fields[i].problem, part))
            return;
    UNIT__FAIL("%s: no %s: %s (first %s: %s)", form_json, field, part, ei.nfields ? ei.fields[0].field : "-",
               ei.nfields ? ei.fields[0].problem : "-");
}

#define OK_FORM "\"ho_ten\":\"Lê Văn C\",\"ngay_sinh\":\"2024-02-29\",\"gioi_tinh\":\"Nữ\""

static void test_form_validate(void)
{
    hoso_errinfo ei;
    EXPECT_INT(validate("{" OK_FORM "}", &ei), 0);
    EXPECT_INT(validate("{" OK_FORM ",\"so_con\":2}", &ei), 0);
    EXPECT_INT(validate("{" OK_FORM ",\"so_con\":-2.5}", &ei), 0);
    EXPECT_INT(validate("{" OK_FORM ",\"so_con\":null}", &ei), 0);
    expect_form_problem("{\"ngay_sinh\":\"2024-02-29\",\"gioi_tinh\":\"Nam\"}", "form.ho_ten", "required");
    expect_form_problem("{\"ho_ten\":\"\",\"ngay_sinh\":\"2024-02-29\",\"gioi_tinh\":\"Nam\"}", "form.ho_ten",
                        "required");
    expect_form_problem("{\"ho_ten\":5,\"ngay_sinh\":\"2024-02-29\",\"gioi_tinh\":\"Nam\"}", "form.ho_ten", "string");
    expect_form_problem("{\"ho_ten\":\"A\",\"ngay_sinh\":\"2023-02-29\",\"gioi_tinh\":\"Nam\"}", "form.ngay_sinh",
                        "date");
    expect_form_problem("{\"ho_ten\":\"A\",\"ngay_sinh\":\"29/02/2024\",\"gioi_tinh\":\"Nam\"}", "form.ngay_sinh",
                        "date");
    expect_form_problem("{\"ho_ten\":\"A\",\"ngay_sinh\":20240229,\"gioi_tinh\":\"Nam\"}", "form.ngay_sinh", "date");
    expect_form_problem("{\"ho_ten\":\"A\",\"ngay_sinh\":\"2024-02-29\",\"gioi_tinh\":\"nam\"}", "form.gioi_tinh",
                        "one of the options");
    expect_form_problem("{" OK_FORM ",\"so_con\":\"2\"}", "form.so_con", "number");
    expect_form_problem("{" OK_FORM ",\"mau_mat\":\"đen\"}", "form.mau_mat", "unknown field");

    EXPECT_INT(validate("{}", &ei), HOSO_EVALIDATION_FAILED);
    EXPECT_INT(ei.nfields, 3);
    EXPECT_INT(ei.err, HOSO_EVALIDATION_FAILED);
    EXPECT_INT(validate("[]", &ei), HOSO_EVALIDATION_FAILED);
    EXPECT_STR(ei.fields[0].field, "form");
}

UNIT_MAIN(UNIT(test_decode), UNIT(test_round_trip), UNIT(test_decode_rejects), UNIT(test_demo_catalogue),
          UNIT(test_form_validate))
