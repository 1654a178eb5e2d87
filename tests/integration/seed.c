/*
 * seed.c - hoso-seed, the bench's population: it refuses a data dir that hosod serves,
 * one without a catalogue and one it seeded already (but adds sessions to that one);
 * what it writes is what the API
 * shows afterwards (each path through the status machine, the citizens' lists and
 * feeds, sign-in with the seeded password, the sessions it hands out).
 */
#include <sys/stat.h>
#include "hoso_test.h"

static const char *seed_path(void)
{
    const char *p = getenv("HOSO_SEED");
    if (!p || !p[0]) ht_fail("HOSO_SEED is not set");
    return p;
}

/* One line of the tokens file: "TOKEN CODE". */
static void token_line(const char *file, int n, char *token, size_t tn, char *code, size_t cn)
{
    char *out = NULL;
    if (ht_sh(&out, "sed -n %dp '%s'", n, file) != 0 || out == NULL) ht_fail("cannot read %s", file);
    char *sp = strchr(out, ' ');
    if (sp == NULL) ht_fail("line %d of %s: %s", n, file, out);
    *sp = '\0';
    snprintf(token, tn, "%s", out);
    snprintf(code, cn, "%s", sp + 1);
    code[strcspn(code, "\n")] = '\0';
    free(out);
}

static void expect_dossier(ht_conn *c, const char *token, const char *code, int status, int history, int version)
{
    ht_resp r;
    EXPECT_INT(ht_get_dossier(c, token, code, &r), 0);
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *d = ht_dossier_of(&r);
    EXPECT_INT(ht_jint(d, "status"), status);
    EXPECT_INT(ht_jint(d, "version"), version);
    EXPECT_INT(json_array_size(ht_j(d, "history")), history);
    ht_resp_free(&r);
}

static void test_seed(void)
{
    ht_server s;
    ht_conn c;
    ht_resp r;
    char tokens[PATH_MAX + 16], token[128], code[128], *out = NULL;
    ht_server_start(&s, "--demo");
    snprintf(tokens, sizeof tokens, "%s/tokens.txt", s.dir);

    /* Served: refused, nothing written. */
    EXPECT_INT(ht_sh(&out, "'%s' --data '%s' --citizens 3 --dossiers 5 2>&1", seed_path(), s.dir), 1);
    EXPECT(out != NULL && strstr(out, "is being served") != NULL);
    free(out);
    ht_server_stop(&s);

    /* 30 citizens, 200 dossiers (every path of twenty, ten times), 20 sessions. */
    EXPECT_INT(ht_sh(&out, "'%s' --data '%s' --citizens 30 --dossiers 200 --sessions 20 --tokens '%s' --batch 7",
                     seed_path(), s.dir, tokens),
               0);
    EXPECT(out != NULL && strstr(out, "RESULT citizens=30 dossiers=200 ops=690 sessions=20") != NULL);
    free(out);
    EXPECT_INT(ht_sh(&out, "wc -l < '%s'", tokens), 0);
    EXPECT_INT(atoi(out), 20);
    free(out);

    ht_server_restart(&s);
    ht_conn_init(&c, s.port);
    /* Line k+1 holds citizen k's first dossier, dossier k: path k of twenty. */
    token_line(tokens, 1, token, sizeof token, code, sizeof code);
    expect_dossier(&c, token, code, 1, 1, 1); /* stays submitted */
    EXPECT_INT(ht_count_list(&c, token, "/v1/dossiers"), 7); /* dossiers 0, 30, ..., 180 */
    ht_mp_call(&c, "GET", "/v1/sync?since=0&limit=1000", token, NULL, &r);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(json_array_size(ht_j(r.json, "events")) >= 7);
    ht_resp_free(&r);
    token_line(tokens, 2, token, sizeof token, code, sizeof code);
    expect_dossier(&c, token, code, 7, 2, 2); /* withdrawn by the citizen */
    token_line(tokens, 3, token, sizeof token, code, sizeof code);
    expect_dossier(&c, token, code, 3, 2, 2); /* refused */
    token_line(tokens, 11, token, sizeof token, code, sizeof code);
    expect_dossier(&c, token, code, 6, 4, 4); /* asked to pay */
    token_line(tokens, 16, token, sizeof token, code, sizeof code);
    expect_dossier(&c, token, code, 10, 5, 5); /* returned */
    /* Someone else's token does not read it. */
    char other[128], unused[128];
    token_line(tokens, 1, other, sizeof other, unused, sizeof unused);
    EXPECT_INT(ht_get_dossier(&c, other, code, &r), 0);
    HT_EXPECT_REPLY(&r, 404, "NOT_FOUND");
    ht_resp_free(&r);

    /* A seeded citizen signs in with the seeded password. */
    json_t *login = ht_jsonf("{\"id_number\":\"001095000029\",\"password\":\"Bench-Passw0rd-2026\"}");
    ht_mp_callj(&c, "POST", "/v1/auth/login", NULL, login, &r);
    json_decref(login);
    HT_EXPECT_REPLY(&r, 200, NULL);
    EXPECT(ht_jstr(r.json, "token") != NULL);
    ht_resp_free(&r);
    ht_conn_close(&c);
    ht_server_stop(&s);

    /* Twice: refused, the first population stays as it is. */
    EXPECT_INT(ht_sh(&out, "'%s' --data '%s' --citizens 3 --dossiers 5 2>&1", seed_path(), s.dir), 1);
    EXPECT(out != NULL && strstr(out, "seeded already") != NULL);
    free(out);
    /* ... but it takes more sessions for the citizens it seeded, and only those. */
    EXPECT_INT(ht_sh(&out, "'%s' --data '%s' --dossiers 0 --citizens 31 --sessions 5 --tokens '%s.more' 2>&1",
                     seed_path(), s.dir, tokens),
               1);
    EXPECT(out != NULL && strstr(out, "fewer than --citizens 31") != NULL);
    free(out);
    EXPECT_INT(ht_sh(NULL, "'%s' --data '%s' --dossiers 0 --citizens 30 --sessions 5 --tokens '%s.more' >/dev/null",
                     seed_path(), s.dir, tokens),
               0);
    char more[PATH_MAX + 32];
    snprintf(more, sizeof more, "%s.more", tokens);
    token_line(more, 2, token, sizeof token, code, sizeof code);
    EXPECT_STR(code, "-");
    /* ... from any citizen on, within those it seeded */
    EXPECT_INT(ht_sh(NULL, "'%s' --data '%s' --dossiers 0 --citizens 30 --first 26 --sessions 5 --tokens '%s.x' 2>/dev/null",
                     seed_path(), s.dir, tokens),
               1);
    EXPECT_INT(ht_sh(NULL, "'%s' --data '%s' --dossiers 0 --citizens 30 --first 25 --sessions 5 --tokens '%s.25' >/dev/null",
                     seed_path(), s.dir, tokens),
               0);
    char from25[PATH_MAX + 32], token25[128];
    snprintf(from25, sizeof from25, "%s.25", tokens);
    token_line(from25, 1, token25, sizeof token25, code, sizeof code);
    ht_server_restart(&s);
    ht_conn_init(&c, s.port);
    EXPECT_INT(ht_count_list(&c, token, "/v1/dossiers"), 7);   /* citizen 1: dossiers 1, 31, ..., 181 */
    EXPECT_INT(ht_count_list(&c, token25, "/v1/dossiers"), 6); /* citizen 25: dossiers 25, 55, ..., 175 */
    ht_conn_close(&c);
    ht_server_stop(&s);

    /* A dir without a store: refused, and not made. */
    char empty[PATH_MAX + 16];
    snprintf(empty, sizeof empty, "%s/not-a-store", s.dir);
    EXPECT_INT(mkdir(empty, 0700), 0);
    EXPECT_INT(ht_sh(&out, "'%s' --data '%s' --dossiers 5 2>&1", seed_path(), empty), 1);
    EXPECT(out != NULL && strstr(out, "hosod serve --create --demo") != NULL);
    free(out);
    EXPECT_INT(ht_sh(NULL, "test -e '%s/lmdb/data.mdb'", empty) != 0, 1);
    /* Bad arguments: usage, exit 2. */
    EXPECT_INT(ht_sh(NULL, "'%s' --data '%s' --sessions 3 2>/dev/null", seed_path(), s.dir), 2);
    EXPECT_INT(ht_sh(NULL, "'%s' --data '%s' --citizens 0 2>/dev/null", seed_path(), s.dir), 1);
}

UNIT_MAIN(UNIT(test_seed))
