/* Unit tests of server/core/negotiate.c: which body types a request may carry, and
 * whether its reply is JSON or msgpack. */
#include "../unit.h"
#include "core/runtime.h"

static int body(const char *ct)
{
    return hoso__body_type(ct, strlen(ct));
}

static int json(const char *accept, unsigned flags, int body_is_json)
{
    return hoso__wants_json(accept, accept != NULL ? strlen(accept) : 0, flags, body_is_json);
}

static void test_body_types(void)
{
    EXPECT_INT(body("application/json"), HOSO_BODY_JSON);
    EXPECT_INT(body("Application/JSON; charset=utf-8"), HOSO_BODY_JSON);
    EXPECT_INT(body("  application/json  "), HOSO_BODY_JSON);
    EXPECT_INT(body("application/msgpack"), HOSO_BODY_MSGPACK);
    EXPECT_INT(body("application/x-msgpack"), HOSO_BODY_MSGPACK);
    EXPECT_INT(body("application/vnd.msgpack"), HOSO_BODY_MSGPACK);
    EXPECT_INT(body("text/plain"), HOSO_BODY_OTHER);
    EXPECT_INT(body("application/jsonx"), HOSO_BODY_OTHER);
    EXPECT_INT(body(""), HOSO_BODY_OTHER);
}

static void test_accept_decides(void)
{
    EXPECT_INT(json("application/json", 0, 0), 1);
    EXPECT_INT(json("application/msgpack", HOSO_R_JSON, 1), 0);
    /* q-values: the higher wins, whatever the order. */
    EXPECT_INT(json("application/json;q=0.5, application/msgpack", 0, 0), 0);
    EXPECT_INT(json("application/msgpack;q=0.2, application/json;q=0.9", 0, 0), 1);
    EXPECT_INT(json("application/msgpack; q=0.9, application/json; Q=0.3", HOSO_R_JSON, 1), 0);
    /* q=0 refuses a type. */
    EXPECT_INT(json("application/json;q=0", 0, 0), 0);
}

static void test_defaults(void)
{
    /* No Accept, or only wildcards (curl sends * / *): the body's type, then the
     * route's default. */
    EXPECT_INT(json(NULL, 0, 0), 0);
    EXPECT_INT(json(NULL, 0, 1), 1);
    EXPECT_INT(json(NULL, HOSO_R_JSON, 0), 1);
    EXPECT_INT(json("*/*", 0, 0), 0);
    EXPECT_INT(json("*/*", HOSO_R_JSON, 0), 1);
    EXPECT_INT(json("text/html, */*;q=0.8", 0, 1), 1);
    /* Equal q-values name no preference either. */
    EXPECT_INT(json("application/json, application/msgpack", 0, 0), 0);
    EXPECT_INT(json("application/json, application/msgpack", HOSO_R_JSON, 0), 1);
}

UNIT_MAIN(UNIT(test_body_types), UNIT(test_accept_decides), UNIT(test_defaults))
