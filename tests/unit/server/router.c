/* Unit tests of server/core/router.c: matching a method and path against a route
 * table, path parameters, 404 against 405, and the percent-decoding of URL parts. */
#include "../unit.h"
#include "core/runtime.h"

static int h(hoso_req *r)
{
    return 0;
}

static const hoso_route table[] = {
    {"GET", "/healthz", h, 0, "healthz"},
    {"GET", "/v1/dossiers", h, 0, "list"},
    {"POST", "/v1/dossiers", h, 0, "submit"},
    {"GET", "/v1/dossiers/{}", h, 0, "get"},
    {"POST", "/v1/dossiers/{}/supplement", h, 0, "supplement"},
    {"GET", "/v1/a/{}/b/{}", h, 0, "two"},
};
#define N (sizeof(table) / sizeof(table[0]))

typedef struct match {
    int err;
    const char *name;
    const char *params[3];
    size_t n;
    char allow[48];
} match;

static match run(const char *method, const char *path, h2o_mem_pool_t *pool)
{
    match m;
    const hoso_route *rt = NULL;
    memset(&m, 0, sizeof(m));
    m.err = hoso__route_match(table, N, method, strlen(method), path, strlen(path), pool, &rt, m.params, &m.n,
                              m.allow, sizeof(m.allow));
    m.name = m.err == 0 ? rt->name : NULL;
    return m;
}

static void test_exact_and_params(void)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    match m = run("GET", "/healthz", &pool);
    EXPECT_INT(m.err, 0);
    EXPECT_STR(m.name, "healthz");
    EXPECT_INT(m.n, 0);
    m = run("GET", "/v1/dossiers/000.00.12.H29-261123-0001", &pool);
    EXPECT_INT(m.err, 0);
    EXPECT_STR(m.name, "get");
    EXPECT_INT(m.n, 1);
    EXPECT_STR(m.params[0], "000.00.12.H29-261123-0001");
    m = run("POST", "/v1/dossiers/X1/supplement", &pool);
    EXPECT_STR(m.name, "supplement");
    EXPECT_STR(m.params[0], "X1");
    m = run("GET", "/v1/a/one/b/two", &pool);
    EXPECT_STR(m.name, "two");
    EXPECT_INT(m.n, 2);
    EXPECT_STR(m.params[0], "one");
    EXPECT_STR(m.params[1], "two");
    EXPECT(m.params[2] == NULL);
    h2o_mem_clear_pool(&pool);
}

static void test_same_path_other_method(void)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    EXPECT_STR(run("POST", "/v1/dossiers", &pool).name, "submit");
    EXPECT_STR(run("GET", "/v1/dossiers", &pool).name, "list");
    EXPECT_INT(run("DELETE", "/v1/dossiers", &pool).err, HOSO_EMETHOD_NOT_ALLOWED);
    EXPECT_INT(run("POST", "/healthz", &pool).err, HOSO_EMETHOD_NOT_ALLOWED);
    EXPECT_INT(run("GET", "/nope", &pool).err, HOSO_ENOT_FOUND);
    /* {} takes exactly one non-empty segment. */
    EXPECT_INT(run("GET", "/v1/dossiers/a/b", &pool).err, HOSO_ENOT_FOUND);
    EXPECT_INT(run("GET", "/v1/a//b/x", &pool).err, HOSO_ENOT_FOUND);
    /* The method is compared whole, not as a prefix. */
    EXPECT_INT(run("GE", "/healthz", &pool).err, HOSO_EMETHOD_NOT_ALLOWED);
    h2o_mem_clear_pool(&pool);
}

static void test_trailing_slash(void)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    EXPECT_STR(run("GET", "/v1/dossiers/", &pool).name, "list");
    EXPECT_STR(run("GET", "/v1/dossiers/X/", &pool).name, "get");
    h2o_mem_clear_pool(&pool);
}

static void test_parameter_decoding(void)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    match m = run("GET", "/v1/dossiers/a%20b%2d", &pool);
    EXPECT_INT(m.err, 0);
    EXPECT_STR(m.params[0], "a b-");
    /* A parameter may not escape its segment, carry a NUL, or hold a broken escape. */
    EXPECT_INT(run("GET", "/v1/dossiers/a%2Fb", &pool).err, HOSO_EBAD_REQUEST);
    EXPECT_INT(run("GET", "/v1/dossiers/a%00", &pool).err, HOSO_EBAD_REQUEST);
    EXPECT_INT(run("GET", "/v1/dossiers/a%zz", &pool).err, HOSO_EBAD_REQUEST);
    EXPECT_INT(run("GET", "/v1/dossiers/a%4", &pool).err, HOSO_EBAD_REQUEST);
    /* '+' means a space only in query strings. */
    EXPECT_STR(run("GET", "/v1/dossiers/a+b", &pool).params[0], "a+b");
    h2o_mem_clear_pool(&pool);
}

static void test_url_decode_form(void)
{
    char out[16];
    EXPECT_INT(hoso__url_decode("a+b%41", 6, HOSO_URL_FORM, out, sizeof(out)), 4);
    EXPECT_STR(out, "a bA");
    /* A broken escape in a query is kept as it is; a slash is fine there. */
    EXPECT_INT(hoso__url_decode("%zz%2F", 6, HOSO_URL_FORM, out, sizeof(out)), 4);
    EXPECT_STR(out, "%zz/");
    EXPECT_INT(hoso__url_decode("%00", 3, HOSO_URL_FORM, out, sizeof(out)), -1);
    /* Too long for the buffer: refused rather than cut. */
    EXPECT_INT(hoso__url_decode("0123456789abcdef", 16, HOSO_URL_FORM, out, sizeof(out)), -1);
    EXPECT_INT(hoso__url_decode("0123456789abcde", 15, HOSO_URL_FORM, out, sizeof(out)), 15);
}

static void test_head_and_allow(void)
{
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    /* HEAD is answered by the GET route. */
    match m = run("HEAD", "/v1/dossiers/X", &pool);
    EXPECT_INT(m.err, 0);
    EXPECT_STR(m.name, "get");
    /* A 405 names what the path takes, HEAD with every GET. */
    m = run("DELETE", "/v1/dossiers", &pool);
    EXPECT_INT(m.err, HOSO_EMETHOD_NOT_ALLOWED);
    EXPECT_STR(m.allow, "GET, HEAD, POST");
    m = run("GET", "/v1/dossiers/X/supplement", &pool);
    EXPECT_STR(m.allow, "POST");
    m = run("HEAD", "/v1/dossiers/X/supplement", &pool);
    EXPECT_INT(m.err, HOSO_EMETHOD_NOT_ALLOWED);
    EXPECT_STR(m.allow, "POST");
    h2o_mem_clear_pool(&pool);
}

UNIT_MAIN(UNIT(test_exact_and_params), UNIT(test_same_path_other_method), UNIT(test_trailing_slash),
          UNIT(test_parameter_decoding), UNIT(test_url_decode_form), UNIT(test_head_and_allow))
