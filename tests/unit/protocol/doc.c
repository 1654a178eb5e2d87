/* Unit tests of protocol/doc.c: strict msgpack decoding and its limits. */
#include "../unit.h"
#include "hoso_protocol.h"

static int decode(const void *buf, size_t len, hoso_errinfo *ei)
{
    hoso_doc doc;
    hoso_limits lim;
    hoso_limits_default(&lim);
    memset(ei, 0, sizeof(*ei));
    int r = hoso_doc_from_msgpack(&doc, buf, len, &lim, ei);
    if (r == 0)
        hoso_doc_destroy(&doc);
    else
        EXPECT_INT(ei->err, r);
    return r;
}

#define REJECT(bytes, err, msg_part)                                                     \
    do {                                                                                 \
        hoso_errinfo e_;                                                                 \
        EXPECT_INT(decode(bytes, sizeof(bytes) - 1, &e_), err);                          \
        if (strstr(e_.message, msg_part) == NULL)                                        \
            UNIT__FAIL("message \"%s\" lacks \"%s\"", e_.message, msg_part);             \
    } while (0)

static void test_defaults(void)
{
    hoso_limits lim;
    hoso_limits_default(&lim);
    EXPECT_INT(lim.max_body, 1024 * 1024);
    EXPECT_INT(lim.max_depth, 16);
    EXPECT_INT(lim.max_str, 64 * 1024);
    EXPECT_INT(lim.max_array, 1000);
    EXPECT_INT(lim.max_map, 256);
}

static void test_accepts_every_type(void)
{
    /* {"a": [nil, true, 1, -1, 1.5, "x", bin "yz", {}, []]} with uint8..int64 and float32 forms */
    static const char in[] = "\x81\xa1" "a" "\xdc\x00\x0e"
                             "\xc0\xc3\x01\xff\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xa1x\xc4\x02yz\x80\x90"
                             "\xcc\xff\xcd\x01\x00\xd0\x80\xd3\x80\x00\x00\x00\x00\x00\x00\x00"
                             "\xca\x3f\xc0\x00\x00";
    hoso_doc doc;
    hoso_errinfo ei = {0};
    EXPECT_INT(hoso_doc_from_msgpack(&doc, in, sizeof(in) - 1, NULL, &ei), 0);
    const msgpack_object *a = hoso_map_get(&doc.root, "a");
    EXPECT(a != NULL && a->type == MSGPACK_OBJECT_ARRAY);
    EXPECT_INT(a->via.array.size, 14);
    EXPECT_INT(a->via.array.ptr[3].via.i64, -1);
    EXPECT_INT(a->via.array.ptr[9].via.u64, 255);
    EXPECT(hoso_obj_streq(&a->via.array.ptr[5], "x"));
    EXPECT(!hoso_obj_streq(&a->via.array.ptr[5], "xy"));
    EXPECT(hoso_map_get(&doc.root, "b") == NULL);
    EXPECT(hoso_map_get(a, "a") == NULL);
    hoso_doc_destroy(&doc);
}

static void test_tree_outlives_input(void)
{
    char *buf = malloc(8);
    memcpy(buf, "\x81\xa1k\xa3val", 7);
    hoso_doc doc;
    EXPECT_INT(hoso_doc_from_msgpack(&doc, buf, 7, NULL, NULL), 0);
    memset(buf, 0, 7);
    free(buf);
    EXPECT(hoso_obj_streq(hoso_map_get(&doc.root, "k"), "val"));
    hoso_doc_destroy(&doc);
}

static void test_rejects_malformed(void)
{
    REJECT("", HOSO_EBAD_REQUEST, "empty");
    REJECT("\xc1", HOSO_EBAD_REQUEST, "invalid type byte");
    REJECT("\x82\xa1" "a\x01", HOSO_EBAD_REQUEST, "truncated");
    REJECT("\xa5" "abc", HOSO_EBAD_REQUEST, "truncated");
    REJECT("\xcd\x01", HOSO_EBAD_REQUEST, "truncated");
    REJECT("\xda\x00", HOSO_EBAD_REQUEST, "truncated");
    REJECT("\x81\xa1" "a\x01\x00", HOSO_EBAD_REQUEST, "trailing bytes");
    REJECT("\xc0\xc0", HOSO_EBAD_REQUEST, "trailing bytes");
}

static void test_rejects_ext(void)
{
    REJECT("\xd4\x01\x02", HOSO_EBAD_REQUEST, "ext");
    REJECT("\x81\xa1" "a\xd8\x01" "0123456789abcdef", HOSO_EBAD_REQUEST, "ext");
    REJECT("\xc7\x01\x05x", HOSO_EBAD_REQUEST, "ext");
    /* The timestamp ext type (-1) is an ext like any other. */
    REJECT("\xd6\xff\x00\x00\x00\x01", HOSO_EBAD_REQUEST, "ext");
}

static void test_rejects_non_string_keys(void)
{
    REJECT("\x81\x01\x02", HOSO_EBAD_REQUEST, "keys must be strings");
    REJECT("\x81\xc0\x02", HOSO_EBAD_REQUEST, "keys must be strings");
    REJECT("\x81\xc4\x01k\x02", HOSO_EBAD_REQUEST, "keys must be strings");
    REJECT("\x81\xa1k\x81\x90\x01", HOSO_EBAD_REQUEST, "keys must be strings");
}

static void test_rejects_duplicate_keys(void)
{
    REJECT("\x82\xa1" "a\x01\xa1" "a\x02", HOSO_EBAD_REQUEST, "duplicate map key \"a\"");
    REJECT("\x81\xa1x\x83\xa1" "a\x01\xa1" "b\x02\xa1" "b\x03", HOSO_EBAD_REQUEST, "duplicate map key \"b\"");

    /* A map large enough for the sorted path. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    hoso_errinfo ei;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 100);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i == 99 ? 42 : i);
        hoso_pack_cstr(&pk, k);
        msgpack_pack_int(&pk, i);
    }
    EXPECT_INT(decode(sb.data, sb.size, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "k42") != NULL);
    msgpack_sbuffer_destroy(&sb);
}

static void test_size_limits(void)
{
    hoso_limits lim = {.max_body = 16, .max_depth = 4, .max_str = 3, .max_array = 2, .max_map = 1};
    hoso_doc doc;
    hoso_errinfo ei = {0};
    static const char big[] = "\xa3" "abc\xa3" "abc\xa3" "abc\xa3" "abc\xa3" "abc";
    EXPECT_INT(hoso_doc_from_msgpack(&doc, big, sizeof(big) - 1, &lim, &ei), HOSO_EPAYLOAD_TOO_LARGE);
    EXPECT_INT(hoso_err_http_status(ei.err), 413);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\xa4" "abcd", 5, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "longer than 3") != NULL);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\xc4\x04" "abcd", 6, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\x93\x01\x02\x03", 4, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "more than 2") != NULL);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\x82\xa1" "a\x01\xa1" "b\x02", 7, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\x91\x91\x91\x91\x91\xc0", 6, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "deeper than 4") != NULL);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\x91\x91\x91\x91\xc0", 5, &lim, &ei), 0);
    hoso_doc_destroy(&doc);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\x92\xa3" "abc\x81\xa1k\x90", 9, &lim, &ei), 0);
    hoso_doc_destroy(&doc);
}

static void test_huge_declared_counts(void)
{
    /* Headers that announce billions of elements must be refused from the byte count,
     * before anything reserves memory for them. */
    hoso_limits lim;
    hoso_doc doc;
    hoso_errinfo ei = {0};
    hoso_limits_default(&lim);
    lim.max_array = lim.max_map = lim.max_str = SIZE_MAX;
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\xdd\xff\xff\xff\xff", 5, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "truncated") != NULL);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\xdf\xff\xff\xff\xff\x01\x01", 7, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\xdb\xff\xff\xff\xff", 5, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\xc6\xff\xff\xff\xff", 5, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(decode("\xdd\x00\x01\x00\x00\xc0", 6, &ei), HOSO_EBAD_REQUEST);
}

static void test_deep_input(void)
{
    /* 10,000 nested arrays: msgpack-c itself stops at MSGPACK_EMBED_STACK_SIZE (32)
     * with NOMEM_ERROR rather than recursing; hoso refuses it first as BAD_REQUEST. */
    size_t n = 10000;
    char *buf = malloc(n + 1);
    memset(buf, 0x91, n);
    buf[n] = (char)0xc0;

    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_init(&z, 1024);
    EXPECT_INT(msgpack_unpack(buf, n + 1, &off, &z, &o), MSGPACK_UNPACK_NOMEM_ERROR);
    msgpack_zone_destroy(&z);

    hoso_errinfo ei = {0};
    EXPECT_INT(decode(buf, n + 1, &ei), HOSO_EBAD_REQUEST);
    EXPECT(strstr(ei.message, "deeper than 16") != NULL);

    /* Even a caller asking for more depth than msgpack-c has stays bounded. */
    hoso_limits lim;
    hoso_doc doc;
    hoso_limits_default(&lim);
    lim.max_depth = 100000;
    EXPECT_INT(hoso_doc_from_msgpack(&doc, buf, n + 1, &lim, &ei), HOSO_EBAD_REQUEST);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, buf + n - 32, 33, &lim, &ei), 0);
    hoso_doc_destroy(&doc);
    EXPECT_INT(hoso_doc_from_msgpack(&doc, buf + n - 33, 34, &lim, &ei), HOSO_EBAD_REQUEST);
    free(buf);
}

static void test_utf8(void)
{
    EXPECT(hoso_utf8_valid("", 0));
    EXPECT(hoso_utf8_valid("Nguyễn Văn An", strlen("Nguyễn Văn An")));
    EXPECT(hoso_utf8_valid("\xf0\x9f\x98\x80", 4));
    EXPECT(!hoso_utf8_valid("a\0b", 3));
    EXPECT(!hoso_utf8_valid("\xc3\x28", 2));
    EXPECT(!hoso_utf8_valid("\xc0\xaf", 2));         /* overlong */
    EXPECT(!hoso_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    EXPECT(!hoso_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    EXPECT(!hoso_utf8_valid("\xe1\x80", 2));         /* cut */
    EXPECT(!hoso_utf8_valid("\xff", 1));
}

static void test_destroy_is_idempotent(void)
{
    hoso_doc doc;
    EXPECT_INT(hoso_doc_from_msgpack(&doc, "\x80", 1, NULL, NULL), 0);
    hoso_doc_destroy(&doc);
    hoso_doc_destroy(&doc);
    hoso_doc_destroy(NULL);
}

UNIT_MAIN(UNIT(test_defaults), UNIT(test_accepts_every_type), UNIT(test_tree_outlives_input),
          UNIT(test_rejects_malformed), UNIT(test_rejects_ext), UNIT(test_rejects_non_string_keys),
          UNIT(test_rejects_duplicate_keys), UNIT(test_size_limits), UNIT(test_huge_declared_counts),
          UNIT(test_deep_input), UNIT(test_utf8), UNIT(test_destroy_is_idempotent))
