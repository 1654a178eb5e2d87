/*
 * clients/cli/ - the `hoso` command, on the SDK.
 *
 * cli.h - what the files of the `hoso` command share: the run context and the output
 * helpers (human text in Vietnamese, or JSON for scripts).
 */
#ifndef HOSO_CLI_H
#define HOSO_CLI_H

#include <stdio.h>
#include "hoso_client.h"

typedef struct cli {
    hoso_client *c;
    uv_loop_t loop;
    int json;
    int done;  /* the current call has completed */
    int rc;    /* exit status so far: 0, 1 (error) */
    /* watch */
    long count, seen;
    int watching;
    int syncing; /* report each op's outcome (hoso sync) */
    int offline; /* the server could not be reached: answer from the local copy */
    hoso_client_error last_err;
} cli;

/* 1 when a token is stored; else prints "run hoso login", sets rc = 1 and returns 0. */
int cli_signed_in(cli *x);
/* Prints an error as "hoso: CODE: message" on stderr and sets rc = 1. */
void cli_error(cli *x, const hoso_client_error *e);
/* Prints obj as one line of compact JSON on stdout. */
void cli_print_json(const msgpack_object *obj);
/* Human output. */
void cli_print_services(const hoso_client_reply *r);
void cli_print_dossier(const hoso_dossier *d, int with_history);
void cli_print_dossier_line(const hoso_dossier *d);
void cli_print_event(const hoso_client_event *ev);
/* Prints a dossier of the local copy (msgpack bytes): the same as online, and for
 * --json {"dossier": ..., "cached": true}. as_line: one list line. Returns 0, or -1
 * if the bytes are not a dossier. */
int cli_print_cached(const cli *x, const void *buf, size_t len, int as_line);
/* "2026-11-23 14:05:09" in local time; buf >= 32. */
const char *cli_time(int64_t ms, char *buf, size_t cap);

#endif
