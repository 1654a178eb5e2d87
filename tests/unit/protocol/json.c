/* Unit tests of protocol/json.c: the JSON bridge both ways. */
#include "../unit.h"
#include "hoso_protocol.h"

static int from_json(const char *text, hoso_errinfo *ei)
{
    hoso_doc doc;
    memset(ei, 0, sizeof(*ei));
    int r = hoso_doc_from_json(&doc, text, strlen(text), NULL, ei);
    if (r == 0)
        hoso_doc_destroy(&doc);
    return r;
}

/* JSON -> doc -> msgpack -> JSON. */
static char *round_trip(const char *text)
{
    hoso_doc doc;
    hoso_errinfo ei = {0};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *out = NULL;
    if (hoso_doc_from_json(&doc, text, strlen(text), NULL, &ei) != 0)
        UNIT__FAIL("%s: %s", text, ei.message);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    EXPECT_INT(msgpack_pack_object(&pk, doc.root), 0);
    hoso_doc_destroy(&doc);
    size_t n = 0;
    EXPECT_INT(hoso_msgpack_to_json(sb.data, sb.size, &out, &n), 0);
    EXPECT_INT(strlen(out), n);
    msgpack_sbuffer_destroy(&sb);
    return out;
}

#define ROUND(in, want)                                                                  \
    do {                                                                                 \
        char *o_ = round_trip(in);                                                       \
        EXPECT_STR(o_, want);                                                            \
        free(o_);                                                                        \
    } while (0)

static void test_round_trips(void)
{
    ROUND("{}", "{}");
    ROUND("[]", "[]");
    ROUND(" { \"a\" : 1 , \"b\" : [ true , false , null ] } ", "{\"a\":1,\"b\":[true,false,null]}");
    ROUND("{\"z\":1,\"a\":2,\"m\":3}", "{\"z\":1,\"a\":2,\"m\":3}");
    ROUND("[-1,0,9223372036854775807,-9223372036854775808]", "[-1,0,9223372036854775807,-9223372036854775808]");
    ROUND("[1.5,-0.25,1e300,2.0]", "[1.5,-0.25,1e+300,2.0]");
    /* The shortest form that reads back the same, not %.17g's 0.10000000000000001. */
    ROUND("[0.1,0.8,0.3333333333333333]", "[0.1,0.8,0.3333333333333333]");
    ROUND("\"Hồ sơ \\u0111\\u00e3 tr\\u1ea3\"", "\"Hồ sơ đã trả\"");
    ROUND("\"tab\\tnl\\nq\\\"bs\\\\ctl\\u0001\"", "\"tab\\tnl\\nq\\\"bs\\\\ctl\\u0001\"");
    ROUND("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
    ROUND("42", "42");
}

static void test_integer_types_kept(void)
{
    hoso_doc doc;
    EXPECT_INT(hoso_doc_from_json(&doc, "[1,-1,1.0]", 10, NULL, NULL), 0);
    EXPECT_INT(doc.root.via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    EXPECT_INT(doc.root.via.array.ptr[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    EXPECT_INT(doc.root.via.array.ptr[2].type, MSGPACK_OBJECT_FLOAT64);
    hoso_doc_destroy(&doc);
}

static void test_msgpack_to_json_types(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *out;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 9);
    msgpack_pack_uint64(&pk, UINT64_MAX);
    msgpack_pack_int64(&pk, INT64_MIN);
    msgpack_pack_float(&pk, 0.5f);
    msgpack_pack_double(&pk, 3.0);
    msgpack_pack_double(&pk, 0.0 / 0.0);
    msgpack_pack_bin(&pk, 5);
    msgpack_pack_bin_body(&pk, "hello", 5);
    hoso_pack_str(&pk, "a\xff" "b", 3); /* invalid UTF-8 stays valid JSON */
    msgpack_pack_map(&pk, 2);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_true(&pk);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    EXPECT_INT(hoso_msgpack_to_json(sb.data, sb.size, &out, NULL), 0);
    EXPECT_STR(out, "[18446744073709551615,-9223372036854775808,0.5,3.0,null,\"aGVsbG8=\",\"a\\ufffdb\","
                    "{\"7\":true,\"[1]\":null},null]");
    free(out);
    msgpack_sbuffer_destroy(&sb);
}

static void test_msgpack_to_json_rejects(void)
{
    char *out = (char *)1;
    EXPECT_INT(hoso_msgpack_to_json("", 0, &out, NULL), HOSO_EBAD_REQUEST);
    EXPECT(out == NULL);
    EXPECT_INT(hoso_msgpack_to_json("\x92\x01", 2, &out, NULL), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_msgpack_to_json("\x01\x02", 2, &out, NULL), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_msgpack_to_json("\xc1", 1, &out, NULL), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_msgpack_to_json("\xdd\xff\xff\xff\xff", 5, &out, NULL), HOSO_EBAD_REQUEST);
}

static void test_rejects(void)
{
    hoso_errinfo ei;
    EXPECT_INT(from_json("", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("{", &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "line 1") != NULL);
    EXPECT_INT(from_json("{\"a\":1}x", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("{\"a\":1} {}", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("{\"a\":1,\"a\":2}", &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "duplicate") != NULL);
    EXPECT_INT(from_json("{\"a\\u0000\":1}", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("\"\xc3\x28\"", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("\"\\ud800\"", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("123456789012345678901234567890", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("NaN", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("[1,]", &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(from_json("{'a':1}", &ei), HOSO_EBAD_REQUEST);
}

static void test_limits(void)
{
    hoso_limits lim = {.max_body = 20, .max_depth = 3, .max_str = 4, .max_array = 2, .max_map = 1};
    hoso_doc doc;
    hoso_errinfo ei = {0};
#define J(s) s, sizeof(s) - 1
    EXPECT_INT(hoso_doc_from_json(&doc, J("[\"aaaa\",\"bbbb\",\"cccc\"]"), &lim, &ei), HOSO_EPAYLOAD_TOO_LARGE);
    EXPECT_INT(hoso_doc_from_json(&doc, J("\"abcde\""), &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_json(&doc, J("{\"abcde\":1}"), &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_json(&doc, J("[1,2,3]"), &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_json(&doc, J("{\"a\":1,\"b\":2}"), &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_json(&doc, J("[[[[1]]]]"), &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "deeper than 3") != NULL);
    /* Brackets inside strings are not nesting. */
    EXPECT_INT(hoso_doc_from_json(&doc, J("[[\"[[[\"]]"), &lim, &ei), 0);
    hoso_doc_destroy(&doc);
    EXPECT_INT(hoso_doc_from_json(&doc, J("[[[1]]]"), &lim, &ei), 0);
    hoso_doc_destroy(&doc);
#undef J
}

static void test_brackets_in_strings(void)
{
    hoso_doc doc;
    hoso_limits lim;
    hoso_limits_default(&lim);
    lim.max_depth = 2;
    const char *s = "[\"[[[[\\\"[[[\",{\"k\":\"{{{{\"}]";
    EXPECT_INT(hoso_doc_from_json(&doc, s, strlen(s), &lim, NULL), 0);
    hoso_doc_destroy(&doc);
}

static void test_deep_json(void)
{
    /* jansson stops at depth 2048 on its own; hoso stops at max_depth before jansson
     * starts to recurse. */
    size_t n = 10000;
    char *buf = malloc(2 * n);
    memset(buf, '[', n);
    memset(buf + n, ']', n);
    hoso_doc doc;
    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_doc_from_json(&doc, buf, 2 * n, NULL, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "deeper than 16") != NULL);
    EXPECT_INT(hoso_doc_from_json(&doc, buf + n - 16, 32, NULL, &ei), 0);
    hoso_doc_destroy(&doc);
    free(buf);
}

static void test_json_equals_msgpack(void)
{
    /* The same message through both decoders gives the same tree. */
    const char *text = "{\"service\":\"1.001\",\"form\":{\"n\":-3,\"f\":1.25,\"ok\":true,\"x\":null},\"papers\":[]}";
    hoso_doc a, b;
    msgpack_sbuffer sa, sb2;
    msgpack_packer pa, pb;
    EXPECT_INT(hoso_doc_from_json(&a, text, strlen(text), NULL, NULL), 0);
    msgpack_sbuffer_init(&sa);
    msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
    msgpack_pack_object(&pa, a.root);
    EXPECT_INT(hoso_doc_from_msgpack(&b, sa.data, sa.size, NULL, NULL), 0);
    msgpack_sbuffer_init(&sb2);
    msgpack_packer_init(&pb, &sb2, msgpack_sbuffer_write);
    msgpack_pack_object(&pb, b.root);
    EXPECT_INT(sa.size, sb2.size);
    EXPECT_MEM(sa.data, sb2.data, sa.size);
    EXPECT(msgpack_object_equal(a.root, b.root));
    msgpack_sbuffer_destroy(&sa);
    msgpack_sbuffer_destroy(&sb2);
    hoso_doc_destroy(&a);
    hoso_doc_destroy(&b);
}

static void test_nul_in_string_reaches_decoder(void)
{
    /* Like msgpack, the codec keeps "\u0000" and the schema decoder names the field. */
    hoso_doc doc;
    hoso_errinfo ei = {0};
    const char *text = "{\"text\":\"a\\u0000b\",\"op_id\":\"x\"}";
    EXPECT_INT(hoso_doc_from_json(&doc, text, strlen(text), NULL, &ei), 0);
    EXPECT_INT(hoso_map_get(&doc.root, "text")->via.str.size, 3);
    hoso_req_feedback fb;
    EXPECT_INT(hoso_decode(&hoso_msg_feedback, &doc, &doc.root, &fb, &ei), HOSO_EVALIDATION_FAILED);
    EXPECT_STR(ei.fields[0].field, "text");
    hoso_doc_destroy(&doc);
}

UNIT_MAIN(UNIT(test_nul_in_string_reaches_decoder), UNIT(test_round_trips), UNIT(test_integer_types_kept), UNIT(test_msgpack_to_json_types),
          UNIT(test_msgpack_to_json_rejects), UNIT(test_rejects), UNIT(test_limits), UNIT(test_brackets_in_strings),
          UNIT(test_deep_json), UNIT(test_json_equals_msgpack))
