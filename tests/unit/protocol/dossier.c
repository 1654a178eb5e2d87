/* Unit tests of protocol/dossier.c: dossier and paper wire shapes, both ways. */
#include "../unit.h"
#include "hoso_protocol.h"

#define S(lit) ((hoso_str){lit, sizeof(lit) - 1})

static hoso_str packed(msgpack_sbuffer *sb, const char *json)
{
    hoso_doc doc;
    msgpack_packer pk;
    EXPECT_INT(hoso_doc_from_json(&doc, json, strlen(json), NULL, NULL), 0);
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, doc.root);
    hoso_doc_destroy(&doc);
    return (hoso_str){sb->data, sb->size};
}

static char *to_json(const hoso_dossier *d, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    char *json;
    msgpack_sbuffer_init(out);
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    EXPECT_INT(hoso_dossier_encode(&pk, d), 0);
    EXPECT_INT(hoso_msgpack_to_json(out->data, out->size, &json, NULL), 0);
    return json;
}

static void test_minimal_shape(void)
{
    hoso_dossier d = {0};
    msgpack_sbuffer sb;
    d.code = S("000.00.12.H29-261123-0001");
    d.service = S("1.001193");
    d.agency = S("000.00.12.H29");
    d.owner = S("a1");
    d.channel = S("app");
    d.status = 1;
    d.version = 1;
    d.submitted_at = 1795392000000;
    char *json = to_json(&d, &sb);
    EXPECT_STR(json, "{\"code\":\"000.00.12.H29-261123-0001\",\"service\":\"1.001193\",\"agency\":\"000.00.12.H29\","
                     "\"owner\":\"a1\",\"status\":1,\"version\":1,\"channel\":\"app\",\"submitted_at\":1795392000000,"
                     "\"due_at\":0,\"form\":{},\"papers\":[],\"history\":[],\"rated\":false}");
    free(json);
    msgpack_sbuffer_destroy(&sb);
}

static void test_full_round_trip(void)
{
    msgpack_sbuffer fsb, psb, rsb, out, out2;
    hoso_history h[2] = {
        {1, 1795392000000, S("a1"), S("")},
        {5, 1795478400000, S("officer7"), S("Thiếu giấy chứng sinh")},
    };
    hoso_dossier d = {0};
    d.code = S("000.00.12.H29-261123-0001");
    d.service = S("1.001193");
    d.agency = S("000.00.12.H29");
    d.owner = S("a1");
    d.channel = S("zalo");
    d.status = 5;
    d.version = 2;
    d.submitted_at = 1795392000000;
    d.due_at = 1795996800000;
    d.form = packed(&fsb, "{\"ho_ten\":\"Lê Văn C\",\"so_con\":2}");
    d.papers = packed(&psb, "[{\"id\":\"p1\",\"type\":\"cccd\"}]");
    d.history = h;
    d.nhistory = 2;
    d.rated = 1;
    d.reason = S("r");
    d.result = S("kết quả");
    d.fee = 50000;
    d.papers_required = packed(&rsb, "[\"giay_chung_sinh\"]");

    char *json = to_json(&d, &out);
    EXPECT_STR(json, "{\"code\":\"000.00.12.H29-261123-0001\",\"service\":\"1.001193\",\"agency\":\"000.00.12.H29\","
                     "\"owner\":\"a1\",\"status\":5,\"version\":2,\"channel\":\"zalo\",\"submitted_at\":1795392000000,"
                     "\"due_at\":1795996800000,\"form\":{\"ho_ten\":\"Lê Văn C\",\"so_con\":2},"
                     "\"papers\":[{\"id\":\"p1\",\"type\":\"cccd\"}],\"history\":[{\"status\":1,\"at\":1795392000000,"
                     "\"by\":\"a1\",\"note\":\"\"},{\"status\":5,\"at\":1795478400000,\"by\":\"officer7\","
                     "\"note\":\"Thiếu giấy chứng sinh\"}],\"rated\":true,\"reason\":\"r\",\"result\":\"kết quả\","
                     "\"fee\":50000,\"papers_required\":[\"giay_chung_sinh\"]}");
    free(json);

    hoso_doc doc;
    hoso_dossier back;
    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_doc_from_msgpack(&doc, out.data, out.size, NULL, &ei), 0);
    EXPECT_INT(hoso_dossier_decode(&doc, &doc.root, &back, &ei), 0);
    EXPECT_STR(back.code.ptr, "000.00.12.H29-261123-0001");
    EXPECT_INT(back.status, 5);
    EXPECT_INT(back.due_at, 1795996800000);
    EXPECT_INT(back.nhistory, 2);
    EXPECT_STR(back.history[1].note.ptr, "Thiếu giấy chứng sinh");
    EXPECT_INT(back.form.len, d.form.len);
    EXPECT_MEM(back.form.ptr, d.form.ptr, d.form.len);
    EXPECT_INT(back.papers.len, d.papers.len);
    EXPECT_MEM(back.papers.ptr, d.papers.ptr, d.papers.len);
    EXPECT_INT(back.papers_required.len, d.papers_required.len);
    EXPECT_INT(back.fee, 50000);
    EXPECT_INT(back.rated, 1);

    msgpack_packer pk2;
    msgpack_sbuffer_init(&out2);
    msgpack_packer_init(&pk2, &out2, msgpack_sbuffer_write);
    EXPECT_INT(hoso_dossier_encode(&pk2, &back), 0);
    EXPECT_INT(out2.size, out.size);
    EXPECT_MEM(out2.data, out.data, out.size);
    hoso_doc_destroy(&doc);
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&out2);
    msgpack_sbuffer_destroy(&fsb);
    msgpack_sbuffer_destroy(&psb);
    msgpack_sbuffer_destroy(&rsb);
}

static void test_decode_rejects(void)
{
    static const struct {
        const char *json, *field;
    } cases[] = {
        {"{\"service\":\"s\",\"agency\":\"a\",\"owner\":\"o\",\"status\":1,\"version\":1,\"submitted_at\":1}", "code"},
        {"{\"code\":\"c\",\"service\":\"s\",\"agency\":\"a\",\"owner\":\"o\",\"status\":11,\"version\":1,\"submitted_at\":1}",
         "status"},
        {"{\"code\":\"c\",\"service\":\"s\",\"agency\":\"a\",\"owner\":\"o\",\"status\":1,\"version\":0,\"submitted_at\":1}",
         "version"},
        {"{\"code\":\"c\",\"service\":\"s\",\"agency\":\"a\",\"owner\":\"o\",\"status\":1,\"version\":1,\"submitted_at\":1,"
         "\"form\":[]}",
         "form"},
        {"{\"code\":\"c\",\"service\":\"s\",\"agency\":\"a\",\"owner\":\"o\",\"status\":1,\"version\":1,\"submitted_at\":1,"
         "\"history\":[{\"status\":1}]}",
         "history[0].at"},
        {"{\"code\":\"c\",\"service\":\"s\",\"agency\":\"a\",\"owner\":\"o\",\"status\":1,\"version\":1,\"submitted_at\":1,"
         "\"papers\":{}}",
         "papers"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hoso_doc doc;
        hoso_dossier d;
        hoso_errinfo ei = {0};
        EXPECT_INT(hoso_doc_from_json(&doc, cases[i].json, strlen(cases[i].json), NULL, NULL), 0);
        EXPECT_INT(hoso_dossier_decode(&doc, &doc.root, &d, &ei), HOSO_EVALIDATION_FAILED);
        EXPECT_INT(ei.nfields, 1);
        EXPECT_STR(ei.fields[0].field, cases[i].field);
        hoso_doc_destroy(&doc);
    }
    hoso_doc doc;
    hoso_dossier d;
    EXPECT_INT(hoso_doc_from_json(&doc, "[1]", 3, NULL, NULL), 0);
    EXPECT_INT(hoso_dossier_decode(&doc, &doc.root, &d, NULL), HOSO_EBAD_REQUEST);
    hoso_doc_destroy(&doc);
}

static void test_unknown_members_tolerated(void)
{
    const char *json = "{\"code\":\"c\",\"service\":\"s\",\"agency\":\"a\",\"owner\":\"o\",\"status\":2,\"version\":3,"
                       "\"submitted_at\":1,\"new_member\":[1,2]}";
    hoso_doc doc;
    hoso_dossier d;
    EXPECT_INT(hoso_doc_from_json(&doc, json, strlen(json), NULL, NULL), 0);
    EXPECT_INT(hoso_dossier_decode(&doc, &doc.root, &d, NULL), 0);
    EXPECT_INT(d.version, 3);
    EXPECT_INT(d.form.len, 0);
    EXPECT_INT(d.nhistory, 0);
    hoso_doc_destroy(&doc);
}

static void test_paper_round_trip(void)
{
    hoso_paper p = {S("p1"), S("cccd"), S("001203004567"), S("Cục CS QLHC"),
                    S("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), 1900000000000, 1795392000000};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *json;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    EXPECT_INT(hoso_paper_encode(&pk, &p), 0);
    EXPECT_INT(hoso_msgpack_to_json(sb.data, sb.size, &json, NULL), 0);
    EXPECT_STR(json, "{\"id\":\"p1\",\"type\":\"cccd\",\"number\":\"001203004567\",\"issuer\":\"Cục CS QLHC\","
                     "\"valid_until\":1900000000000,\"added_at\":1795392000000,"
                     "\"sha256\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}");
    free(json);
    hoso_doc doc;
    hoso_paper back;
    EXPECT_INT(hoso_doc_from_msgpack(&doc, sb.data, sb.size, NULL, NULL), 0);
    EXPECT_INT(hoso_paper_decode(&doc, &doc.root, &back, NULL), 0);
    EXPECT_STR(back.issuer.ptr, "Cục CS QLHC");
    EXPECT_INT(back.valid_until, 1900000000000);
    EXPECT_INT(back.added_at, 1795392000000);
    EXPECT_INT(back.sha256.len, 64);
    hoso_doc_destroy(&doc);

    /* Without sha256 the member is left out. */
    p.sha256 = (hoso_str){NULL, 0};
    msgpack_sbuffer_clear(&sb);
    EXPECT_INT(hoso_paper_encode(&pk, &p), 0);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, sb.data, sb.size, NULL, NULL), 0);
    EXPECT_INT(doc.root.via.map.size, 6);
    EXPECT(hoso_map_get(&doc.root, "sha256") == NULL);
    hoso_doc_destroy(&doc);

    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_doc_from_json(&doc, "{\"type\":\"cccd\"}", 15, NULL, NULL), 0);
    EXPECT_INT(hoso_paper_decode(&doc, &doc.root, &back, &ei), HOSO_EVALIDATION_FAILED);
    EXPECT_STR(ei.fields[0].field, "id");
    hoso_doc_destroy(&doc);
    msgpack_sbuffer_destroy(&sb);
}

UNIT_MAIN(UNIT(test_minimal_shape), UNIT(test_full_round_trip), UNIT(test_decode_rejects),
          UNIT(test_unknown_members_tolerated), UNIT(test_paper_round_trip))
