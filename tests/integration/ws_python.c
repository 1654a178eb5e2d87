/*
 * ws_python.c - interoperability of the push channel with an independent client: the
 * Python `websockets` library (run by /usr/bin/python3, tests/support/ws_interop.py)
 * subscribes in JSON text frames, reads the replay and receives a live event after an
 * officer's move. Skipped, with a message, when that library is not installed.
 */
#define _GNU_SOURCE
#include <libgen.h>
#include "hoso_test.h"

static void test_python_websockets(void)
{
    if (ht_sh(NULL, "/usr/bin/python3 -c 'import websockets' 2>/dev/null") != 0) {
        printf("SKIP: /usr/bin/python3 has no websockets module (apt install python3-websockets)\n");
        return;
    }
    char src[PATH_MAX], script[PATH_MAX + 64];
    snprintf(src, sizeof(src), "%s", __FILE__);
    snprintf(script, sizeof(script), "%s/../support/ws_interop.py", dirname(src));
    if (access(script, R_OK) != 0) ht_fail("cannot read %s", script);

    ht_server s;
    ht_conn c;
    ht_service svc;
    ht_user cit, off;
    char code[128], cmd[PATH_MAX + 512], line[512];
    ht_server_start(&s, NULL);
    ht_conn_init(&c, s.port);
    ht_service_pick(&c, &svc, 0, NULL);
    ht_citizen_new(&c, &cit);
    ht_officer_new(&s, &c, svc.agency, &off);
    ht_submit(&c, &cit, &svc, code, sizeof(code));

    snprintf(cmd, sizeof(cmd), "timeout 30 /usr/bin/python3 '%s' %d '%s'", script, s.port, cit.token);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) ht_fail("popen: %s", cmd);
    int subscribed = 0, ready = 0, event = 0, pong = 0;
    long long head = -1;
    while (fgets(line, sizeof(line), p)) {
        fprintf(stderr, "python: %s", line);
        if (sscanf(line, "SUBSCRIBED %lld", &head) == 1) {
            subscribed = 1;
        } else if (strncmp(line, "READY", 5) == 0) {
            ready = 1;
            ht_resp r;
            ht_transition(&c, &off, code, 2, -1, &r);
            HT_EXPECT_REPLY(&r, 200, NULL);
            ht_resp_free(&r);
        } else if (strncmp(line, "EVENT", 5) == 0) {
            char want[128];
            snprintf(want, sizeof(want), "EVENT event %lld dossier.status 2\n", head + 1);
            if (strcmp(line, want) != 0) ht_fail("python saw %s, expected %s", line, want);
            event = 1;
        } else if (strncmp(line, "PONG", 4) == 0) {
            pong = 1;
        }
    }
    int st = pclose(p);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    EXPECT(subscribed && head >= 1 && ready && event && pong);
    ht_service_free(&svc);
    ht_conn_close(&c);
    ht_server_stop(&s);
}

UNIT_MAIN(UNIT(test_python_websockets))
