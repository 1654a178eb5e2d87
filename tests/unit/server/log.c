/* Unit tests of server/core/log.c: every line is one valid JSON object however long
 * its text and wherever a cut falls in a multi-byte character; stdio's stderr is held
 * to a few repeats, except lines that explain a crash; a last line without its
 * newline is written at stop. */
#include <fcntl.h>
#include <jansson.h>
#include "../unit.h"
#include "core/runtime.h"

static char g_path[] = "/tmp/hoso-log-XXXXXX";
static int g_saved = -1;

/* fd 2 into a file, the log in JSON. */
static void capture(void)
{
    int fd = mkstemp(g_path);
    EXPECT(fd >= 0);
    g_saved = dup(2);
    EXPECT_INT(dup2(fd, 2), 2);
    close(fd);
    EXPECT_INT(hoso_log_setup(HOSO_LOG_DEBUG, HOSO_LOG_JSON), 0);
}

/* fd 2 back; the lines written, each checked to be a JSON object. */
static size_t lines(json_t **out, size_t max)
{
    char buf[8192];
    size_t n = 0;
    dup2(g_saved, 2);
    FILE *f = fopen(g_path, "r");
    EXPECT(f != NULL);
    while (fgets(buf, sizeof buf, f) != NULL) {
        json_error_t e;
        json_t *j = json_loads(buf, 0, &e);
        if (j == NULL || !json_is_object(j)) UNIT__FAIL("line %zu is not a JSON object (%s): %s", n + 1, e.text, buf);
        if (n < max) out[n] = j;
        else json_decref(j);
        n++;
    }
    fclose(f);
    unlink(g_path);
    return n;
}

static void drop(json_t **got, size_t n, size_t max)
{
    for (size_t i = 0; i < n && i < max; i++) json_decref(got[i]);
}

static const char *msg(json_t *j)
{
    return json_string_value(json_object_get(j, "msg"));
}

static void test_long_lines_stay_json(void)
{
    /* 3,000 bytes of two-byte characters, with an odd start so cuts fall mid-character. */
    static char text[3100];
    size_t n = 0;
    text[n++] = 'x';
    while (n + 2 < 3000) {
        memcpy(text + n, "\xc4\x83", 2); /* ă */
        n += 2;
    }
    text[n] = '\0';
    json_t *got[8];
    capture();
    hoso_log(HOSO_LOG_WARN, "%s", text);
    hoso_log(HOSO_LOG_WARN, "quote \" backslash \\ newline \n tab \t and a stray byte \xff");
    hoso_log_req r = {.id = "abc", .method = "GET", .route = text, .status = 200, .usec = 1500, .bytes = 10};
    hoso_log_request(&r);
    hoso_log_req r2 = {.id = "def", .method = "GET", .route = "healthz", .status = 200, .usec = 1500, .bytes = 10};
    hoso_log_request(&r2);
    hoso_log_thread_flush();
    fprintf(stderr, "%s\n", text); /* through stdio: one line cut at the line size */
    size_t got_n = lines(got, 8);
    EXPECT(got_n >= 5);
    EXPECT(strlen(msg(got[0])) > 500);
    EXPECT_STR(json_string_value(json_object_get(got[0], "level")), "warn");
    EXPECT(strstr(msg(got[1]), "quote \" backslash \\ newline \n tab \t") != NULL);
    EXPECT_STR(json_string_value(json_object_get(got[2], "id")), "abc");
    EXPECT_STR(json_string_value(json_object_get(got[3], "id")), "def");
    EXPECT_INT(json_integer_value(json_object_get(got[3], "status")), 200);
    EXPECT(json_real_value(json_object_get(got[3], "ms")) == 1.5);
    EXPECT_INT(json_integer_value(json_object_get(got[3], "bytes")), 10);
    drop(got, got_n, 8);
}

static void test_stderr_repeats_held_but_not_crashes(void)
{
    json_t *got[64];
    capture();
    for (int i = 0; i < 20; i++) fprintf(stderr, "h2o: unknown frame %d\n", i);
    for (int i = 0; i < 8; i++) fprintf(stderr, "hosod: x.c:%d: f: Assertion `0' failed.\n", i);
    /* Text that only quotes an assertion is held like any other. */
    for (int i = 0; i < 12; i++) fprintf(stderr, "h2o: bad path /Assertion `x' %d\n", i);
    fprintf(stderr, "the last words, no newline");
    hoso_log_flush();
    size_t n = lines(got, 64), frames = 0, asserts = 0, repeated = 0, last = 0, quoted = 0, quoted_repeated = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        const char *m = msg(got[i]);
        frames += strstr(m, "unknown frame") != NULL;
        asserts += strstr(m, "Assertion `0' failed.") != NULL;
        repeated += strstr(m, "repeated 15 more times") != NULL;
        last += strcmp(m, "the last words, no newline") == 0;
        quoted += strstr(m, "bad path /Assertion") != NULL;
        quoted_repeated += strstr(m, "repeated 7 more times") != NULL;
    }
    drop(got, n, 64);
    EXPECT_INT(frames, 5);
    EXPECT_INT(repeated, 1);
    EXPECT_INT(asserts, 8);
    EXPECT_INT(last, 1);
    EXPECT_INT(quoted, 5);
    EXPECT_INT(quoted_repeated, 1);
}

UNIT_MAIN(UNIT(test_long_lines_stay_json), UNIT(test_stderr_repeats_held_but_not_crashes))
