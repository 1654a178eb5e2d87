/*
 * malformed.c - hostile and broken bodies on every mutating route. Each row of the
 * table is one request with the error it must get (the HTTP status follows from the
 * code). Afterwards nothing was stored: the dossiers are at the same version, the
 * lists are the same length, no account was created and a rating is still possible.
 * Part of the table is also sent by the real curl binary.
 */
#define _GNU_SOURCE
#include "hoso_test.h"

typedef struct fixture {
    ht_server s;
    ht_conn c;
    ht_user cit, off;
    ht_service svc;
    char code1[128], code5[128], code10[128]; /* dossiers at status 1, 5 and 10 */
    long long v1, v5, v10;
    /* keys of the chosen service's form by type ("" when it has none) */
    char textkey[64], datekey[64], numkey[64], enumkey[64], reqkey[64];
} fixture;

enum route { R_SUBMIT, R_TRANSITION, R_SUPPLEMENT, R_WITHDRAW, R_RATING, R_REGISTER, R_PAPER, R_FEEDBACK };
enum mode {
    M_MP,    /* JSON template packed as msgpack */
    M_JSON,  /* JSON template sent as text */
    M_FORM,  /* valid submit with one form key changed: key kind in `tpl`, value in `value` */
    M_FN,    /* raw bytes from a builder */
};

typedef struct mcase {
    const char *name;
    enum route route;
    enum mode mode;
    const char *tpl;      /* M_MP/M_JSON: body; M_FORM: "text"|"date"|"number"|"enum"|"required"|"unknown" */
    const char *value;    /* M_FORM: JSON value, NULL removes the key */
    void (*build)(fixture *f, msgpack_sbuffer *sb);
    const char *ctype;    /* NULL: the mode's own */
    const char *codes;    /* accepted error codes, '|'-separated */
    const char *field;    /* must be named in details (VALIDATION_FAILED), may use $KEY */
} mcase;

/* ---------------------------------------------------------------------------------- */
/* Raw msgpack builders. */

static void pack_submit(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    json_t *b = ht_valid_submit(&f->svc, NULL);
    ht_pack_json(&pk, b);
    json_decref(b);
}

static void b_truncated(fixture *f, msgpack_sbuffer *sb)
{
    pack_submit(f, sb);
    sb->size -= 3;
}

static void b_trailing_object(fixture *f, msgpack_sbuffer *sb)
{
    pack_submit(f, sb);
    msgpack_sbuffer_write(sb, "\xc0", 1);
}

static void b_trailing_garbage(fixture *f, msgpack_sbuffer *sb)
{
    pack_submit(f, sb);
    msgpack_sbuffer_write(sb, "GARBAGE\xc1\xff", 9);
}

static void b_empty(fixture *f, msgpack_sbuffer *sb)
{
}

static void b_reserved_byte(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_write(sb, "\xc1", 1);
}

/* A map header that announces 10 pairs and holds one. */
static void b_map_len_lie(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_write(sb, "\x8a\xa7service\xa1x", 11);
}

/* A str header announcing 4 GiB. */
static void b_str_len_lie(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_write(sb, "\x81\xa7service\xdb\xff\xff\xff\xf0" "abc", 17);
}

/* An array header announcing 4 billion elements (must not be preallocated). */
static void b_array_len_lie(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_write(sb, "\x81\xa6papers\xdd\xff\xff\xff\xff\xc0", 14);
}

static void begin_submit(fixture *f, msgpack_packer *pk, size_t extra)
{
    msgpack_pack_map(pk, 3 + extra);
    hoso_pack_cstr(pk, "service");
    hoso_pack_cstr(pk, f->svc.code);
    hoso_pack_cstr(pk, "op_id");
    char op[80];
    ht_op_id(op, sizeof(op));
    hoso_pack_cstr(pk, op);
    hoso_pack_cstr(pk, "papers");
    json_t *p = ht_valid_papers(&f->svc);
    ht_pack_json(pk, p);
    json_decref(p);
}

static void b_deep(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    begin_submit(f, &pk, 1);
    hoso_pack_cstr(&pk, "form");
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, f->textkey);
    for (int i = 0; i < 500; i++) msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
}

static void b_ext(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    begin_submit(f, &pk, 1);
    hoso_pack_cstr(&pk, "form");
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, f->textkey);
    msgpack_pack_ext(&pk, 4, 7);
    msgpack_pack_ext_body(&pk, "abcd", 4);
}

static void b_int_key(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    begin_submit(f, &pk, 1);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_int(&pk, 42);
}

static void b_huge_key(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    begin_submit(f, &pk, 1);
    size_t n = 100 * 1024;
    char *k = malloc(n);
    memset(k, 'k', n);
    hoso_pack_str(&pk, k, n);
    msgpack_pack_int(&pk, 1);
    free(k);
}

static void pack_form_with(fixture *f, msgpack_sbuffer *sb, const char *key, const char *val, size_t len, int bin)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    begin_submit(f, &pk, 1);
    hoso_pack_cstr(&pk, "form");
    json_t *form = ht_valid_form(&f->svc);
    json_object_del(form, key);
    msgpack_pack_map(&pk, json_object_size(form) + 1);
    const char *k;
    json_t *v;
    json_object_foreach(form, k, v) {
        hoso_pack_cstr(&pk, k);
        ht_pack_json(&pk, v);
    }
    json_decref(form);
    hoso_pack_cstr(&pk, key);
    if (bin) {
        msgpack_pack_bin(&pk, len);
        msgpack_pack_bin_body(&pk, val, len);
    } else {
        hoso_pack_str(&pk, val, len);
    }
}

static void b_huge_text(fixture *f, msgpack_sbuffer *sb)
{
    size_t n = 100 * 1024;
    char *v = malloc(n);
    memset(v, 'a', n);
    pack_form_with(f, sb, f->textkey, v, n, 0);
    free(v);
}

static void b_over_limit(fixture *f, msgpack_sbuffer *sb)
{
    size_t n = 1100 * 1024;
    char *v = malloc(n);
    memset(v, 'a', n);
    pack_form_with(f, sb, f->textkey, v, n, 0);
    free(v);
}

/* A body of exactly `total` bytes: a form text sized to fill it (str32 header). */
static void pack_sized(fixture *f, msgpack_sbuffer *sb, size_t total)
{
    size_t n0 = 70000;
    char *v = malloc(total);
    memset(v, 'a', total);
    pack_form_with(f, sb, f->textkey, v, n0, 0);
    size_t base = sb->size - n0;
    sb->size = 0;
    pack_form_with(f, sb, f->textkey, v, total - base, 0);
    free(v);
    if (sb->size != total) ht_fail("sized body is %zu bytes, wanted %zu", sb->size, total);
}

/* At the limit the size is fine: the error is the 64 KiB string inside. */
static void b_at_limit(fixture *f, msgpack_sbuffer *sb)
{
    pack_sized(f, sb, 1048576);
}

static void b_just_over(fixture *f, msgpack_sbuffer *sb)
{
    pack_sized(f, sb, 1048577);
}

static void b_8mib(fixture *f, msgpack_sbuffer *sb)
{
    pack_sized(f, sb, 8u << 20);
}

static void b_bad_utf8(fixture *f, msgpack_sbuffer *sb)
{
    pack_form_with(f, sb, f->textkey, "Nguy\xff\xfe\xc3", 7, 0);
}

static void b_overlong_utf8(fixture *f, msgpack_sbuffer *sb)
{
    /* "/" encoded in two bytes: the classic filter bypass. */
    pack_form_with(f, sb, f->textkey, "a\xc0\xaf" "b", 4, 0);
}

static void b_nul_text(fixture *f, msgpack_sbuffer *sb)
{
    pack_form_with(f, sb, f->textkey, "Nguyễn\0<script>", 17, 0);
}

static void b_bin_text(fixture *f, msgpack_sbuffer *sb)
{
    pack_form_with(f, sb, f->textkey, "Nguyen", 6, 1);
}

static void b_big_array(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    hoso_pack_cstr(&pk, "service");
    hoso_pack_cstr(&pk, f->svc.code);
    hoso_pack_cstr(&pk, "op_id");
    hoso_pack_cstr(&pk, "malformed-big-array");
    hoso_pack_cstr(&pk, "form");
    json_t *form = ht_valid_form(&f->svc);
    ht_pack_json(&pk, form);
    json_decref(form);
    hoso_pack_cstr(&pk, "papers");
    msgpack_pack_array(&pk, 5000);
    for (int i = 0; i < 5000; i++) msgpack_pack_nil(&pk);
}

static void b_big_map(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    begin_submit(f, &pk, 1);
    hoso_pack_cstr(&pk, "form");
    msgpack_pack_map(&pk, 1000);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        hoso_pack_cstr(&pk, k);
        msgpack_pack_int(&pk, i);
    }
}

static void b_nul_service(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "service");
    /* The real code followed by a NUL and more: a C string compare would accept it. */
    char svc[160];
    size_t n = (size_t)snprintf(svc, sizeof(svc), "%s", f->svc.code);
    memcpy(svc + n, "\0evil", 5);
    hoso_pack_str(&pk, svc, n + 5);
    hoso_pack_cstr(&pk, "op_id");
    hoso_pack_cstr(&pk, "malformed-nul-service");
    hoso_pack_cstr(&pk, "form");
    json_t *form = ht_valid_form(&f->svc);
    ht_pack_json(&pk, form);
    json_decref(form);
}

static void b_to_u64max(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "to");
    msgpack_pack_uint64(&pk, UINT64_MAX);
    hoso_pack_cstr(&pk, "version");
    msgpack_pack_int64(&pk, f->v1);
    hoso_pack_cstr(&pk, "note");
    hoso_pack_cstr(&pk, "x");
}

static void b_version_u64max(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "to");
    msgpack_pack_int(&pk, 2);
    hoso_pack_cstr(&pk, "version");
    /* 2^64 - 1 + ... wraps to v1 in a careless uint64 -> int64 cast of v1 + 2^64. */
    msgpack_pack_uint64(&pk, (uint64_t)f->v1 + 0x8000000000000000ULL);
    hoso_pack_cstr(&pk, "note");
    hoso_pack_cstr(&pk, "x");
}

static void b_float_to(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "to");
    msgpack_pack_double(&pk, 2.0);
    hoso_pack_cstr(&pk, "version");
    msgpack_pack_int64(&pk, f->v1);
    hoso_pack_cstr(&pk, "note");
    hoso_pack_cstr(&pk, "x");
}

static void b_huge_note(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    hoso_pack_cstr(&pk, "to");
    msgpack_pack_int(&pk, 2);
    hoso_pack_cstr(&pk, "version");
    msgpack_pack_int64(&pk, f->v1);
    hoso_pack_cstr(&pk, "note");
    size_t n = 200 * 1024;
    char *v = malloc(n);
    memset(v, 'n', n);
    hoso_pack_str(&pk, v, n);
    free(v);
}

static void b_json_over_limit(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_write(sb, "{\"service\":\"", 12);
    for (int i = 0; i < 1100; i++) {
        char k[1024];
        memset(k, 'x', sizeof(k));
        msgpack_sbuffer_write(sb, k, sizeof(k));
    }
    msgpack_sbuffer_write(sb, "\"}", 2);
}

static void b_json_deep(fixture *f, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_write(sb, "{\"service\":", 11);
    for (int i = 0; i < 3000; i++) msgpack_sbuffer_write(sb, "[", 1);
    for (int i = 0; i < 3000; i++) msgpack_sbuffer_write(sb, "]", 1);
    msgpack_sbuffer_write(sb, "}", 1);
}

static void b_json_bad_utf8(fixture *f, msgpack_sbuffer *sb)
{
    char *t = NULL;
    int n = asprintf(&t, "{\"service\":\"%s\",\"op_id\":\"x\xff\xfe\",\"form\":{}}", f->svc.code);
    msgpack_sbuffer_write(sb, t, (size_t)n);
    free(t);
}

/* ---------------------------------------------------------------------------------- */
/* The table. $SVC, $OP, $V1, $V5, $TEXTKEY... are filled in from the fixture. */

#define SUBMIT_REST "\"form\":$FORM,\"papers\":$PAPERS,\"op_id\":\"$OP\""
static const mcase cases[] = {
    /* msgpack framing */
    {"truncated msgpack", R_SUBMIT, M_FN, .build = b_truncated, .codes = "BAD_REQUEST"},
    {"trailing object", R_SUBMIT, M_FN, .build = b_trailing_object, .codes = "BAD_REQUEST"},
    {"trailing garbage", R_SUBMIT, M_FN, .build = b_trailing_garbage, .codes = "BAD_REQUEST"},
    {"empty msgpack body", R_SUBMIT, M_FN, .build = b_empty, .codes = "BAD_REQUEST"},
    {"reserved byte 0xc1", R_SUBMIT, M_FN, .build = b_reserved_byte, .codes = "BAD_REQUEST"},
    {"map length lie", R_SUBMIT, M_FN, .build = b_map_len_lie, .codes = "BAD_REQUEST"},
    {"str length 4 GiB", R_SUBMIT, M_FN, .build = b_str_len_lie, .codes = "BAD_REQUEST"},
    {"array length 4G", R_SUBMIT, M_FN, .build = b_array_len_lie, .codes = "BAD_REQUEST"},
    {"nesting 500 deep", R_SUBMIT, M_FN, .build = b_deep, .codes = "BAD_REQUEST"},
    {"ext type", R_SUBMIT, M_FN, .build = b_ext, .codes = "BAD_REQUEST"},
    {"integer map key", R_SUBMIT, M_FN, .build = b_int_key, .codes = "BAD_REQUEST"},
    {"100 KiB map key", R_SUBMIT, M_FN, .build = b_huge_key, .codes = "BAD_REQUEST"},
    {"100 KiB string", R_SUBMIT, M_FN, .build = b_huge_text, .codes = "BAD_REQUEST"},
    {"body of exactly 1 MiB", R_SUBMIT, M_FN, .build = b_at_limit, .codes = "BAD_REQUEST"},
    {"body of 1 MiB + 1 byte", R_SUBMIT, M_FN, .build = b_just_over, .codes = "PAYLOAD_TOO_LARGE"},
    {"body of 1.1 MiB", R_SUBMIT, M_FN, .build = b_over_limit, .codes = "PAYLOAD_TOO_LARGE"},
    {"body of 8 MiB", R_SUBMIT, M_FN, .build = b_8mib, .codes = "PAYLOAD_TOO_LARGE"},
    {"5000 papers", R_SUBMIT, M_FN, .build = b_big_array, .codes = "BAD_REQUEST"},
    {"form of 1000 keys", R_SUBMIT, M_FN, .build = b_big_map, .codes = "BAD_REQUEST"},
    /* root and field types */
    {"root is an array", R_SUBMIT, M_MP, "[\"$SVC\"]", .codes = "BAD_REQUEST"},
    {"root is a string", R_SUBMIT, M_MP, "\"$SVC\"", .codes = "BAD_REQUEST"},
    {"root is nil", R_SUBMIT, M_MP, "null", .codes = "BAD_REQUEST"},
    {"root is an integer", R_TRANSITION, M_MP, "2", .codes = "BAD_REQUEST"},
    {"service is a number", R_SUBMIT, M_MP, "{\"service\":123," SUBMIT_REST "}", .codes = "VALIDATION_FAILED",
     .field = "service"},
    {"form is a string", R_SUBMIT, M_MP, "{\"service\":\"$SVC\",\"form\":\"x\",\"op_id\":\"$OP\"}",
     .codes = "VALIDATION_FAILED", .field = "form"},
    {"papers is a map", R_SUBMIT, M_MP, "{\"service\":\"$SVC\",\"form\":$FORM,\"papers\":{\"a\":1},\"op_id\":\"$OP\"}",
     .codes = "VALIDATION_FAILED", .field = "papers"},
    {"op_id is a number", R_SUBMIT, M_MP, "{\"service\":\"$SVC\",\"form\":$FORM,\"papers\":$PAPERS,\"op_id\":7}",
     .codes = "VALIDATION_FAILED", .field = "op_id"},
    {"unknown root field", R_SUBMIT, M_MP, "{\"service\":\"$SVC\"," SUBMIT_REST ",\"status\":10}",
     .codes = "VALIDATION_FAILED", .field = "status"},
    {"owner smuggled in", R_SUBMIT, M_MP, "{\"service\":\"$SVC\"," SUBMIT_REST ",\"owner\":\"someone\"}",
     .codes = "VALIDATION_FAILED", .field = "owner"},
    {"missing service", R_SUBMIT, M_MP, "{" SUBMIT_REST "}", .codes = "VALIDATION_FAILED", .field = "service"},
    {"unknown service", R_SUBMIT, M_MP, "{\"service\":\"KHONG.TON.TAI\"," SUBMIT_REST "}",
     .codes = "VALIDATION_FAILED", .field = "service"},
    {"NUL after the service code", R_SUBMIT, M_FN, .build = b_nul_service, .codes = "VALIDATION_FAILED", .field = "service"},
    {"service with path characters", R_SUBMIT, M_MP, "{\"service\":\"../../$SVC\"," SUBMIT_REST "}",
     .codes = "VALIDATION_FAILED", .field = "service"},
    /* the form against the service's fields */
    {"text field is a number", R_SUBMIT, M_FORM, "text", "42", .codes = "VALIDATION_FAILED", .field = "form.$TEXTKEY"},
    {"text field is a map", R_SUBMIT, M_FORM, "text", "{\"a\":1}", .codes = "VALIDATION_FAILED", .field = "form.$TEXTKEY"},
    {"text field is bin", R_SUBMIT, M_FN, .build = b_bin_text, .codes = "VALIDATION_FAILED", .field = "form.$TEXTKEY"},
    {"text field has NUL", R_SUBMIT, M_FN, .build = b_nul_text, .codes = "VALIDATION_FAILED", .field = "form.$TEXTKEY"},
    {"text field invalid UTF-8", R_SUBMIT, M_FN, .build = b_bad_utf8, .codes = "VALIDATION_FAILED", .field = "form.$TEXTKEY"},
    {"text field overlong UTF-8", R_SUBMIT, M_FN, .build = b_overlong_utf8, .codes = "VALIDATION_FAILED", .field = "form.$TEXTKEY"},
    {"date 2023-02-30", R_SUBMIT, M_FORM, "date", "\"2023-02-30\"", .codes = "VALIDATION_FAILED", .field = "form.$DATEKEY"},
    {"date 2023-13-01", R_SUBMIT, M_FORM, "date", "\"2023-13-01\"", .codes = "VALIDATION_FAILED", .field = "form.$DATEKEY"},
    {"date 15/06/1995", R_SUBMIT, M_FORM, "date", "\"15/06/1995\"", .codes = "VALIDATION_FAILED", .field = "form.$DATEKEY"},
    {"date with time", R_SUBMIT, M_FORM, "date", "\"1995-06-15T00:00:00Z\"", .codes = "VALIDATION_FAILED",
     .field = "form.$DATEKEY"},
    {"date as integer", R_SUBMIT, M_FORM, "date", "19950615", .codes = "VALIDATION_FAILED", .field = "form.$DATEKEY"},
    {"date empty", R_SUBMIT, M_FORM, "date", "\"\"", .codes = "VALIDATION_FAILED", .field = "form.$DATEKEY"},
    {"number field is text", R_SUBMIT, M_FORM, "number", "\"hai\"", .codes = "VALIDATION_FAILED", .field = "form.$NUMKEY"},
    {"number field is bool", R_SUBMIT, M_FORM, "number", "true", .codes = "VALIDATION_FAILED", .field = "form.$NUMKEY"},
    {"unknown enum value", R_SUBMIT, M_FORM, "enum", "\"khong_co\"", .codes = "VALIDATION_FAILED", .field = "form.$ENUMKEY"},
    {"enum as number", R_SUBMIT, M_FORM, "enum", "1", .codes = "VALIDATION_FAILED", .field = "form.$ENUMKEY"},
    {"required field missing", R_SUBMIT, M_FORM, "required", NULL, .codes = "VALIDATION_FAILED", .field = "form.$REQKEY"},
    {"required field null", R_SUBMIT, M_FORM, "required", "null", .codes = "VALIDATION_FAILED", .field = "form.$REQKEY"},
    {"unknown form key", R_SUBMIT, M_FORM, "unknown", "\"x\"", .codes = "VALIDATION_FAILED", .field = "form.truong_la"},
    {"paper type not a slug", R_SUBMIT, M_MP,
     "{\"service\":\"$SVC\",\"form\":$FORM,\"op_id\":\"$OP\",\"papers\":[{\"type\":\"Giấy tờ!\",\"number\":\"1\","
     "\"issuer\":\"CA\"}]}",
     .codes = "VALIDATION_FAILED", .field = "papers"},
    {"paper sha256 not hex", R_SUBMIT, M_MP,
     "{\"service\":\"$SVC\",\"form\":$FORM,\"op_id\":\"$OP\",\"papers\":[{\"type\":\"cccd\",\"number\":\"1\","
     "\"issuer\":\"CA\",\"sha256\":\"zz\"}]}",
     .codes = "VALIDATION_FAILED", .field = "papers"},
    {"paper negative valid_until", R_SUBMIT, M_MP,
     "{\"service\":\"$SVC\",\"form\":$FORM,\"op_id\":\"$OP\",\"papers\":[{\"type\":\"cccd\",\"number\":\"1\","
     "\"issuer\":\"CA\",\"valid_until\":-5}]}",
     .codes = "VALIDATION_FAILED", .field = "papers"},
    /* JSON */
    {"invalid JSON", R_SUBMIT, M_JSON, "{\"service\": \"$SVC\", ", .codes = "BAD_REQUEST"},
    {"JSON trailing text", R_SUBMIT, M_JSON, "{\"service\":\"$SVC\"," SUBMIT_REST "} {}", .codes = "BAD_REQUEST"},
    {"JSON duplicate keys", R_SUBMIT, M_JSON, "{\"service\":\"$SVC\",\"service\":\"$SVC\"," SUBMIT_REST "}",
     .codes = "BAD_REQUEST"},
    {"JSON single quotes", R_SUBMIT, M_JSON, "{'service':'$SVC'}", .codes = "BAD_REQUEST"},
    {"JSON NUL escape in service", R_SUBMIT, M_JSON, "{\"service\":\"$SVC\\u0000x\"," SUBMIT_REST "}",
     .codes = "VALIDATION_FAILED", .field = "service"},
    {"JSON invalid UTF-8", R_SUBMIT, M_FN, .build = b_json_bad_utf8, .ctype = "application/json", .codes = "BAD_REQUEST"},
    {"JSON nesting 3000 deep", R_SUBMIT, M_FN, .build = b_json_deep, .ctype = "application/json", .codes = "BAD_REQUEST"},
    {"JSON over 1 MiB", R_SUBMIT, M_FN, .build = b_json_over_limit, .ctype = "application/json",
     .codes = "PAYLOAD_TOO_LARGE"},
    {"JSON huge integer", R_TRANSITION, M_JSON, "{\"to\":2,\"version\":123456789012345678901234567890,\"note\":\"x\"}",
     .codes = "BAD_REQUEST|VALIDATION_FAILED"},
    /* content types */
    {"text/plain", R_SUBMIT, M_JSON, "{\"service\":\"$SVC\"," SUBMIT_REST "}", .ctype = "text/plain",
     .codes = "UNSUPPORTED_MEDIA_TYPE"},
    {"application/xml", R_SUBMIT, M_MP, "{\"service\":\"$SVC\"," SUBMIT_REST "}", .ctype = "application/xml",
     .codes = "UNSUPPORTED_MEDIA_TYPE"},
    {"form-urlencoded", R_SUBMIT, M_JSON, "service=$SVC", .ctype = "application/x-www-form-urlencoded",
     .codes = "UNSUPPORTED_MEDIA_TYPE"},
    {"msgpack labelled JSON", R_SUBMIT, M_MP, "{\"service\":\"$SVC\"," SUBMIT_REST "}", .ctype = "application/json",
     .codes = "BAD_REQUEST"},
    /* transitions */
    {"status 0", R_TRANSITION, M_MP, "{\"to\":0,\"version\":$V1,\"note\":\"x\"}",
     .codes = "VALIDATION_FAILED", .field = "to"},
    {"status 11", R_TRANSITION, M_MP, "{\"to\":11,\"version\":$V1,\"note\":\"x\"}",
     .codes = "VALIDATION_FAILED", .field = "to"},
    {"status -2", R_TRANSITION, M_MP, "{\"to\":-2,\"version\":$V1,\"note\":\"x\"}",
     .codes = "VALIDATION_FAILED", .field = "to"},
    {"status 2^32+2", R_TRANSITION, M_MP, "{\"to\":4294967298,\"version\":$V1,\"note\":\"x\"}",
     .codes = "VALIDATION_FAILED", .field = "to"},
    {"status 2^64-1", R_TRANSITION, M_FN, .build = b_to_u64max, .codes = "VALIDATION_FAILED", .field = "to"},
    {"status as string", R_TRANSITION, M_MP, "{\"to\":\"2\",\"version\":$V1,\"note\":\"x\"}", .codes = "VALIDATION_FAILED",
     .field = "to"},
    {"status as float", R_TRANSITION, M_FN, .build = b_float_to, .codes = "VALIDATION_FAILED", .field = "to"},
    {"status by slug", R_TRANSITION, M_MP, "{\"to\":\"accepted\",\"version\":$V1,\"note\":\"x\"}",
     .codes = "VALIDATION_FAILED", .field = "to"},
    {"version negative", R_TRANSITION, M_MP, "{\"to\":2,\"version\":-1,\"note\":\"x\"}",
     .codes = "VALIDATION_FAILED", .field = "version"},
    {"version 0", R_TRANSITION, M_MP, "{\"to\":2,\"version\":0,\"note\":\"x\"}", .codes = "VALIDATION_FAILED",
     .field = "version"},
    {"note over 2000 bytes", R_TRANSITION, M_MP, "{\"to\":2,\"version\":$V1,\"note\":\"$LONG\"}",
     .codes = "VALIDATION_FAILED", .field = "note"},
    {"version above 2^63", R_TRANSITION, M_FN, .build = b_version_u64max, .codes = "VALIDATION_FAILED",
     .field = "version"},
    {"version as string", R_TRANSITION, M_MP, "{\"to\":2,\"version\":\"$V1\",\"note\":\"x\"}", .codes = "VALIDATION_FAILED",
     .field = "version"},
    {"reason is a number", R_TRANSITION, M_MP, "{\"to\":3,\"version\":$V1,\"note\":\"x\",\"reason\":12}",
     .codes = "VALIDATION_FAILED", .field = "reason"},
    {"due_at negative", R_TRANSITION, M_MP, "{\"to\":2,\"version\":$V1,\"note\":\"x\",\"due_at\":-86400000}",
     .codes = "VALIDATION_FAILED", .field = "due_at"},
    {"papers_required a string", R_TRANSITION, M_MP,
     "{\"to\":2,\"version\":$V1,\"note\":\"x\",\"papers_required\":\"cccd\"}", .codes = "VALIDATION_FAILED",
     .field = "papers_required"},
    {"unknown transition field", R_TRANSITION, M_MP, "{\"to\":2,\"version\":$V1,\"note\":\"x\",\"agency\":\"khac\"}",
     .codes = "VALIDATION_FAILED", .field = "agency"},
    {"200 KiB note", R_TRANSITION, M_FN, .build = b_huge_note, .codes = "BAD_REQUEST"},
    /* the citizen's other changes */
    {"supplement form is an array", R_SUPPLEMENT, M_MP, "{\"form\":[1,2],\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED",
     .field = "form"},
    {"supplement wrong form type", R_SUPPLEMENT, M_MP, "{\"form\":{\"$TEXTKEY\":[]},\"op_id\":\"$OP\"}",
     .codes = "VALIDATION_FAILED", .field = "form.$TEXTKEY"},
    {"supplement base_version text", R_SUPPLEMENT, M_MP, "{\"form\":$FORM,\"base_version\":\"1\",\"op_id\":\"$OP\"}",
     .codes = "VALIDATION_FAILED", .field = "base_version"},
    {"supplement with nothing", R_SUPPLEMENT, M_MP, "{\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED"},
    {"supplement without op_id", R_SUPPLEMENT, M_MP, "{\"form\":$FORM}", .codes = "VALIDATION_FAILED",
     .field = "op_id"},
    {"submit op_id of 65 bytes", R_SUBMIT, M_MP, "{\"service\":\"$SVC\",\"form\":$FORM,\"op_id\":\"$OP65\"}",
     .codes = "VALIDATION_FAILED", .field = "op_id"},
    {"submit channel not a slug", R_SUBMIT, M_MP, "{\"service\":\"$SVC\"," SUBMIT_REST ",\"channel\":\"Zalo OA!\"}",
     .codes = "VALIDATION_FAILED", .field = "channel"},
    {"withdraw reason is a map", R_WITHDRAW, M_MP, "{\"reason\":{},\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED",
     .field = "reason"},
    {"withdraw without reason", R_WITHDRAW, M_MP, "{\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED", .field = "reason"},
    {"rating 7 of 5", R_RATING, M_MP, "{\"answers\":{\"overall\":7},\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED",
     .field = "answers"},
    {"rating 0", R_RATING, M_MP, "{\"answers\":{\"overall\":0},\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED",
     .field = "answers"},
    {"rating negative", R_RATING, M_MP, "{\"answers\":{\"overall\":-3},\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED",
     .field = "answers"},
    {"rating as text", R_RATING, M_MP, "{\"answers\":\"tuyệt vời\",\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED",
     .field = "answers"},
    {"rating score text", R_RATING, M_MP, "{\"answers\":{\"overall\":\"5\"},\"op_id\":\"$OP\"}",
     .codes = "VALIDATION_FAILED", .field = "answers"},
    {"rating 65 questions", R_RATING, M_MP, "$RATING65", .codes = "VALIDATION_FAILED", .field = "answers"},
    {"feedback unknown service", R_FEEDBACK, M_MP, "{\"text\":\"tốt\",\"service\":\"KHONG.CO\",\"op_id\":\"$OP\"}",
     .codes = "VALIDATION_FAILED", .field = "service"},
    {"feedback text a number", R_FEEDBACK, M_MP, "{\"text\":5,\"op_id\":\"$OP\"}", .codes = "VALIDATION_FAILED",
     .field = "text"},
    {"paper valid_until a date string", R_PAPER, M_MP,
     "{\"type\":\"cccd\",\"number\":\"001095000001\",\"issuer\":\"CA\",\"valid_until\":\"2030-01-01\",\"op_id\":\"$OP\"}",
     .codes = "VALIDATION_FAILED", .field = "valid_until"},
    /* registration: nothing may create an account */
    {"register as admin", R_REGISTER, M_MP,
     "{\"id_number\":\"001095777777\",\"full_name\":\"A\",\"phone\":\"0912000000\",\"password\":\"Mat-khau-dai-123\","
     "\"role\":\"admin\"}",
     .codes = "VALIDATION_FAILED", .field = "role"},
    {"register with agency", R_REGISTER, M_MP,
     "{\"id_number\":\"001095777777\",\"full_name\":\"A\",\"phone\":\"0912000000\",\"password\":\"Mat-khau-dai-123\","
     "\"agency\":\"$AGENCY\"}",
     .codes = "VALIDATION_FAILED", .field = "agency"},
    {"register password number", R_REGISTER, M_MP,
     "{\"id_number\":\"001095777777\",\"full_name\":\"A\",\"phone\":\"0912000000\",\"password\":12345678}",
     .codes = "VALIDATION_FAILED", .field = "password"},
    {"register id_number letters", R_REGISTER, M_MP,
     "{\"id_number\":\"00109577777A\",\"full_name\":\"A\",\"phone\":\"0912000000\",\"password\":\"Mat-khau-dai-123\"}",
     .codes = "VALIDATION_FAILED", .field = "id_number"},
    {"register password too short", R_REGISTER, M_MP,
     "{\"id_number\":\"001095777777\",\"full_name\":\"A\",\"phone\":\"0912000000\",\"password\":\"1234567\"}",
     .codes = "VALIDATION_FAILED", .field = "password"},
    {"register phone with letters", R_REGISTER, M_MP,
     "{\"id_number\":\"001095777777\",\"full_name\":\"A\",\"phone\":\"09-CALL-ME\",\"password\":\"Mat-khau-dai-123\"}",
     .codes = "VALIDATION_FAILED", .field = "phone"},
    {"register without id_number", R_REGISTER, M_MP,
     "{\"full_name\":\"A\",\"phone\":\"0912000000\",\"password\":\"Mat-khau-dai-123\"}", .codes = "VALIDATION_FAILED",
     .field = "id_number"},
};

/* ---------------------------------------------------------------------------------- */

static char *subst(fixture *f, const char *tpl)
{
    char op[80], v1[32], v5[32];
    ht_op_id(op, sizeof(op));
    snprintf(v1, sizeof(v1), "%lld", f->v1);
    snprintf(v5, sizeof(v5), "%lld", f->v5);
    json_t *form = ht_valid_form(&f->svc), *papers = ht_valid_papers(&f->svc);
    char *fj = json_dumps(form, JSON_COMPACT), *pj = json_dumps(papers, JSON_COMPACT);
    char long_note[2100], op65[66];
    memset(long_note, 'n', 2001);
    long_note[2001] = 0;
    memset(op65, 'o', 65);
    op65[65] = 0;
    char *rating65 = NULL;
    {
        json_t *ans = json_object();
        for (int i = 0; i < 65; i++) {
            char q[16];
            snprintf(q, sizeof(q), "cau_%d", i);
            json_object_set_new(ans, q, json_integer(5));
        }
        json_t *rb = json_pack("{s:o, s:s}", "answers", ans, "op_id", op);
        rating65 = json_dumps(rb, JSON_COMPACT);
        json_decref(rb);
    }
    const char *from[] = {"$LONG", "$OP65", "$RATING65", "$SVC", "$OP", "$V1", "$V5", "$FORM", "$PAPERS", "$TEXTKEY", "$DATEKEY", "$NUMKEY",
                          "$ENUMKEY", "$REQKEY", "$AGENCY"};
    const char *to[] = {long_note, op65, rating65, f->svc.code, op, v1, v5, fj, pj, f->textkey, f->datekey, f->numkey, f->enumkey, f->reqkey,
                        f->svc.agency};
    size_t cap = strlen(tpl) * 2 + strlen(fj) * 4 + strlen(pj) * 4 + 8192, n = 0;
    char *out = malloc(cap);
    for (const char *p = tpl; *p;) {
        size_t k;
        for (k = 0; k < sizeof(from) / sizeof(from[0]); k++)
            if (strncmp(p, from[k], strlen(from[k])) == 0) break;
        if (k < sizeof(from) / sizeof(from[0])) {
            size_t l = strlen(to[k]);
            if (n + l + 1 >= cap) out = realloc(out, cap = (n + l) * 2 + 64);
            memcpy(out + n, to[k], l);
            n += l;
            p += strlen(from[k]);
        } else {
            if (n + 2 >= cap) out = realloc(out, cap *= 2);
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    free(fj);
    free(pj);
    free(rating65);
    json_decref(form);
    json_decref(papers);
    return out;
}

static const char *route_path(fixture *f, enum route r, char *buf, size_t n, const char **token)
{
    *token = f->cit.token;
    switch (r) {
    case R_SUBMIT: return "/v1/dossiers";
    case R_TRANSITION:
        *token = f->off.token;
        snprintf(buf, n, "/v1/agency/dossiers/%s/transitions", f->code1);
        return buf;
    case R_SUPPLEMENT: snprintf(buf, n, "/v1/dossiers/%s/supplement", f->code5); return buf;
    case R_WITHDRAW: snprintf(buf, n, "/v1/dossiers/%s/withdraw", f->code5); return buf;
    case R_RATING: snprintf(buf, n, "/v1/dossiers/%s/rating", f->code10); return buf;
    case R_REGISTER: *token = NULL; return "/v1/auth/register";
    case R_PAPER: return "/v1/papers";
    case R_FEEDBACK: return "/v1/feedback";
    }
    return "/";
}

/* Builds the body of a case; returns 0 when the chosen service lacks what the case
 * needs (a form field of that type). */
static int build(fixture *f, const mcase *mc, msgpack_sbuffer *sb, const char **ctype)
{
    *ctype = mc->mode == M_JSON || (mc->mode == M_FN && mc->ctype) ? "application/json" : "application/msgpack";
    if (mc->ctype) *ctype = mc->ctype;
    if (mc->mode == M_FN) {
        if (!f->textkey[0]) return 0;
        mc->build(f, sb);
        return 1;
    }
    if (mc->mode == M_FORM) {
        const char *key = strcmp(mc->tpl, "text") == 0     ? f->textkey
                        : strcmp(mc->tpl, "date") == 0     ? f->datekey
                        : strcmp(mc->tpl, "number") == 0   ? f->numkey
                        : strcmp(mc->tpl, "enum") == 0     ? f->enumkey
                        : strcmp(mc->tpl, "required") == 0 ? f->reqkey
                                                           : "truong_la";
        if (!key[0]) return 0;
        json_t *b = ht_valid_submit(&f->svc, NULL);
        json_t *form = json_object_get(b, "form");
        if (mc->value) json_object_set_new(form, key, ht_jsonf("%s", mc->value));
        else json_object_del(form, key);
        msgpack_packer pk;
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        ht_pack_json(&pk, b);
        json_decref(b);
        return 1;
    }
    if ((strstr(mc->tpl, "$TEXTKEY") && !f->textkey[0])) return 0;
    char *txt = subst(f, mc->tpl);
    if (mc->mode == M_JSON) {
        msgpack_sbuffer_write(sb, txt, strlen(txt));
    } else {
        json_t *v = ht_jsonf("%s", txt);
        msgpack_packer pk;
        msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
        ht_pack_json(&pk, v);
        json_decref(v);
    }
    free(txt);
    return 1;
}

static int code_status(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } t[] = {{"BAD_REQUEST", 400},         {"VALIDATION_FAILED", 422}, {"PAYLOAD_TOO_LARGE", 413},
             {"UNSUPPORTED_MEDIA_TYPE", 415}, {"NOT_FOUND", 404},      {"ILLEGAL_TRANSITION", 409},
             {"VERSION_CONFLICT", 409},   {"UNAUTHORIZED", 401}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(t[i].code, code) == 0) return t[i].status;
    return -1;
}

static int code_accepted(const char *codes, const char *got)
{
    size_t gl = strlen(got);
    for (const char *p = codes; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == gl && strncmp(p, got, n) == 0) return 1;
        p += n + (bar ? 1 : 0);
    }
    return 0;
}

static void choose_keys(fixture *f)
{
    size_t i;
    json_t *fld;
    json_array_foreach(json_object_get(f->svc.svc, "form"), i, fld) {
        const char *t = ht_jstr(fld, "type"), *k = ht_jstr(fld, "key");
        char *dst = strcmp(t, "text") == 0 ? f->textkey
                  : strcmp(t, "date") == 0 ? f->datekey
                  : strcmp(t, "number") == 0 ? f->numkey
                  : strcmp(t, "enum") == 0 ? f->enumkey : NULL;
        if (dst && !dst[0]) snprintf(dst, 64, "%s", k);
        if (json_is_true(json_object_get(fld, "required")) && !f->reqkey[0]) snprintf(f->reqkey, 64, "%s", k);
    }
}

/* The service whose form has the most kinds of field, so most rows apply. */
static void pick_rich_service(fixture *f)
{
    int best = -1;
    for (int nth = 0; nth < 64; nth++) {
        ht_resp r;
        ht_mp_call(&f->c, "GET", "/v1/services", NULL, NULL, &r);
        json_t *items = ht_items(&r, "services");
        size_t count = json_array_size(items);
        ht_resp_free(&r);
        if ((size_t)nth >= count) break;
        ht_service s;
        ht_service_pick(&f->c, &s, nth, NULL);
        fixture tmp;
        memset(&tmp, 0, sizeof(tmp));
        tmp.svc = s;
        choose_keys(&tmp);
        int score = !!tmp.textkey[0] * 4 + !!tmp.datekey[0] + !!tmp.numkey[0] + !!tmp.enumkey[0] + !!tmp.reqkey[0];
        if (score > best) {
            if (best >= 0) ht_service_free(&f->svc);
            best = score;
            f->svc = s;
        } else {
            ht_service_free(&s);
        }
        if ((size_t)nth + 1 >= count) break;
    }
    choose_keys(f);
    if (!f->textkey[0]) ht_fail("no service with a text field in the catalogue");
}

static long long version_of(fixture *f, const char *code)
{
    ht_resp r;
    ht_get_dossier(&f->c, f->cit.token, code, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    long long v = ht_jint(ht_dossier_of(&r), "version");
    ht_resp_free(&r);
    return v;
}

static void setup(fixture *f)
{
    memset(f, 0, sizeof(*f));
    ht_server_start(&f->s, NULL);
    ht_conn_init(&f->c, f->s.port);
    ht_citizen_new(&f->c, &f->cit);
    pick_rich_service(f);
    ht_officer_new(&f->s, &f->c, f->svc.agency, &f->off);
    ht_submit(&f->c, &f->cit, &f->svc, f->code1, sizeof(f->code1));
    ht_submit(&f->c, &f->cit, &f->svc, f->code5, sizeof(f->code5));
    ht_submit(&f->c, &f->cit, &f->svc, f->code10, sizeof(f->code10));
    static const int to5[] = {2, 4, 5}, to10[] = {2, 4, 9, 10};
    ht_resp r;
    for (int i = 0; i < 3; i++) {
        ht_transition(&f->c, &f->off, f->code5, to5[i], -1, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        ht_resp_free(&r);
    }
    for (int i = 0; i < 4; i++) {
        ht_transition(&f->c, &f->off, f->code10, to10[i], -1, &r);
        HT_EXPECT_REPLY(&r, 200, NULL);
        ht_resp_free(&r);
    }
    f->v1 = version_of(f, f->code1);
    f->v5 = version_of(f, f->code5);
    f->v10 = version_of(f, f->code10);
}

static long count_papers(fixture *f)
{
    ht_resp r;
    ht_mp_call(&f->c, "GET", "/v1/papers", f->cit.token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    long n = (long)json_array_size(ht_items(&r, "papers"));
    ht_resp_free(&r);
    return n;
}

/* Nothing the table sent was stored. */
static void expect_unchanged(fixture *f, long papers)
{
    EXPECT_INT(ht_count_list(&f->c, f->cit.token, "/v1/dossiers"), 3);
    EXPECT_INT(ht_count_list(&f->c, f->off.token, "/v1/agency/dossiers"), 3);
    EXPECT_INT(version_of(f, f->code1), f->v1);
    EXPECT_INT(version_of(f, f->code5), f->v5);
    EXPECT_INT(version_of(f, f->code10), f->v10);
    EXPECT_INT(count_papers(f), papers);
    ht_resp r;
    json_t *b = json_pack("{s:s, s:s}", "id_number", "001095777777", "password", "Mat-khau-dai-123");
    ht_mp_callj(&f->c, "POST", "/v1/auth/login", NULL, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 401, "UNAUTHORIZED");
    ht_resp_free(&r);
}

static void test_malformed_table(void)
{
    fixture f;
    setup(&f);
    long papers = count_papers(&f);
    int ran = 0, failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const mcase *mc = &cases[i];
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        const char *ctype, *token;
        if (!build(&f, mc, &sb, &ctype)) {
            fprintf(stderr, "skip %-32s (the service has no such field)\n", mc->name);
            msgpack_sbuffer_destroy(&sb);
            continue;
        }
        char pbuf[256];
        const char *path = route_path(&f, mc->route, pbuf, sizeof(pbuf), &token);
        char hdr[512];
        int hn = snprintf(hdr, sizeof(hdr), "Accept: application/msgpack\r\nContent-Type: %s\r\n", ctype);
        if (token) snprintf(hdr + hn, sizeof(hdr) - (size_t)hn, "Authorization: Bearer %s\r\n", token);
        ht_resp r;
        int rc = ht_http(&f.c, "POST", path, hdr, sb.data ? sb.data : "", sb.size, &r);
        ran++;
        const char *got = ht_err_code(&r);
        int ok = rc == 0 && code_accepted(mc->codes, got) && r.status == code_status(got);
        char field[128] = "";
        if (ok && mc->field && strcmp(got, "VALIDATION_FAILED") == 0) {
            char *fs = subst(&f, mc->field);
            snprintf(field, sizeof(field), "%s", fs);
            free(fs);
            ok = ht_err_names_field(&r, field);
        }
        if (!ok) {
            failed++;
            fprintf(stderr, "FAIL %-32s POST %s (%zu bytes %s): got %d %s, want %s%s%s\n    %.400s\n", mc->name, path,
                    sb.size, ctype, r.status, *got ? got : "(no code)", mc->codes, field[0] ? " naming " : "", field,
                    r.json ? ht_dump(r.json) : (r.body ? r.body : "(no reply)"));
        }
        ht_resp_free(&r);
        msgpack_sbuffer_destroy(&sb);
    }
    fprintf(stderr, "%d rows sent, %d wrong\n", ran, failed);
    EXPECT(ran >= 30);
    expect_unchanged(&f, papers);
    EXPECT_INT(failed, 0);

    /* The dossiers still take valid changes: the rating was not used up. */
    char path[256], op[80];
    snprintf(path, sizeof(path), "/v1/dossiers/%s/rating", f.code10);
    ht_op_id(op, sizeof(op));
    json_t *b = json_pack("{s:{s:i}, s:s}", "answers", "overall", 4, "op_id", op);
    ht_resp r;
    ht_mp_callj(&f.c, "POST", path, f.cit.token, b, &r);
    json_decref(b);
    HT_EXPECT_REPLY(&r, 200, NULL);
    ht_resp_free(&r);
    ht_service_free(&f.svc);
    ht_conn_close(&f.c);
    ht_server_stop(&f.s);
}

/* A few rows again through curl, a client that frames requests its own way. */
static void test_malformed_curl(void)
{
    fixture f;
    setup(&f);
    static const struct {
        const char *json;
        int status;
        const char *code;
    } rows[] = {
        {"{\"service\": ", 400, "BAD_REQUEST"},
        {"[1,2,3]", 400, "BAD_REQUEST"},
        {"{\"service\":\"$SVC\",\"form\":\"x\",\"op_id\":\"$OP\"}", 422, "VALIDATION_FAILED"},
        {"{\"service\":\"$SVC\",\"service\":\"$SVC\"," SUBMIT_REST "}", 400, "BAD_REQUEST"},
        {"{\"service\":\"$SVC\"," SUBMIT_REST ",\"status\":10}", 422, "VALIDATION_FAILED"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *txt = subst(&f, rows[i].json);
        ht_resp r;
        if (ht_curl(&f.s, "POST", "/v1/dossiers", f.cit.token, txt, &r) != 0) ht_fail("curl failed");
        if (r.status != rows[i].status) fprintf(stderr, "row %zu: %s\n", i, txt);
        HT_EXPECT_REPLY(&r, rows[i].status, rows[i].code);
        EXPECT(strstr(r.ctype, "application/json") != NULL);
        ht_resp_free(&r);
        free(txt);
    }
    expect_unchanged(&f, count_papers(&f));
    ht_service_free(&f.svc);
    ht_conn_close(&f.c);
    ht_server_stop(&f.s);
}

UNIT_MAIN(UNIT(test_malformed_table), UNIT(test_malformed_curl))
