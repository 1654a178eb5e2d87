/*
 * unit.h - the unit test harness. Each test is a function; main() runs the one named
 * on the command line in this process, or, with no argument, re-executes itself once
 * per test so that every test runs in its own process. Asserts print both values.
 *
 *   static void test_x(void) { EXPECT_INT(1 + 1, 2); }
 *   UNIT_MAIN(UNIT(test_x), UNIT(test_y))
 */
#ifndef HOSO_UNIT_H
#define HOSO_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct unit_case {
    const char *name;
    void (*fn)(void);
} unit_case;

#define UNIT(f) {#f, f}

/* A test that cannot run here (no privilege, no namespace) says why and exits with
 * this: reported as skipped, never as passed. */
#define UNIT_SKIPPED 77
#define UNIT_SKIP(...)                                                                   \
    do {                                                                                 \
        printf("skipped: ");                                                             \
        printf(__VA_ARGS__);                                                             \
        putchar('\n');                                                                   \
        fflush(stdout);                                                                  \
        exit(UNIT_SKIPPED);                                                              \
    } while (0)

#define UNIT__FAIL(...)                                                                  \
    do {                                                                                 \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                  \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        exit(1);                                                                         \
    } while (0)

#define EXPECT(cond)                                                                     \
    do {                                                                                 \
        if (!(cond)) UNIT__FAIL("expected %s", #cond);                                   \
    } while (0)
#define EXPECT_INT(got, want)                                                            \
    do {                                                                                 \
        long long g_ = (long long)(got), w_ = (long long)(want);                         \
        if (g_ != w_) UNIT__FAIL("%s == %lld, expected %s == %lld", #got, g_, #want, w_); \
    } while (0)
#define EXPECT_STR(got, want)                                                            \
    do {                                                                                 \
        const char *g_ = (got), *w_ = (want);                                            \
        if (!g_ || !w_ || strcmp(g_, w_) != 0)                                           \
            UNIT__FAIL("%s == \"%s\", expected \"%s\"", #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)
#define EXPECT_MEM(got, want, n)                                                         \
    do {                                                                                 \
        if (memcmp((got), (want), (n)) != 0) UNIT__FAIL("%s differs from %s", #got, #want); \
    } while (0)

static inline int unit__main(int argc, char **argv, const unit_case *cases, size_t n)
{
    if (argc > 1) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[1], cases[i].name) == 0) {
                cases[i].fn();
                return 0;
            }
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    size_t failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], cases[i].name, (char *)NULL);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        int skip = WIFEXITED(st) && WEXITSTATUS(st) == UNIT_SKIPPED;
        printf("%s %s\n", ok ? "ok  " : skip ? "skip" : "FAIL", cases[i].name);
        failed += !ok && !skip;
        skipped += skip;
    }
    printf("%zu passed, %zu failed, %zu skipped\n", n - failed - skipped, failed, skipped);
    /* All skipped: ctest shows the test as skipped (SKIP_RETURN_CODE), not passed. */
    return failed ? 1 : skipped == n ? UNIT_SKIPPED : 0;
}

#define UNIT_MAIN(...)                                                                   \
    int main(int argc, char **argv)                                                      \
    {                                                                                    \
        static const unit_case cases_[] = {__VA_ARGS__};                                 \
        return unit__main(argc, argv, cases_, sizeof(cases_) / sizeof(cases_[0]));       \
    }

#endif
