/*
 * print.c - output of the `hoso` command: short Vietnamese text for people (status
 * names from the national table, local times) and compact JSON for scripts.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

void cli_error(cli *x, const hoso_client_error *e)
{
    fprintf(stderr, "hoso: %s: %s%s%s%s\n", e->code[0] ? e->code : hoso_err_code(e->err), e->message,
            e->details[0] ? " (" : "", e->details, e->details[0] ? ")" : "");
    x->rc = 1;
}

void cli_print_json(const msgpack_object *obj)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *out = NULL;
    size_t n = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (obj) msgpack_pack_object(&pk, *obj);
    else msgpack_pack_nil(&pk);
    if (hoso_msgpack_to_json(sb.data, sb.size, &out, &n) == 0) {
        fwrite(out, 1, n, stdout);
        fputc('\n', stdout);
        free(out);
    }
    msgpack_sbuffer_destroy(&sb);
    fflush(stdout);
}

const char *cli_time(int64_t ms, char *buf, size_t cap)
{
    if (ms <= 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* printf's %-Ns pads by bytes, and every Vietnamese letter with a diacritic is two or
 * three bytes: columns are padded by characters instead (each code point of these
 * precomposed letters takes one column). */
static void put_col(const char *s, int width)
{
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        cols += (*p & 0xc0) != 0x80;
    fputs(s, stdout);
    for (; cols < width; cols++)
        fputc(' ', stdout);
}

void cli_print_services(const hoso_client_reply *r)
{
    for (size_t i = 0; i < r->nservices; i++) {
        const hoso_service *s = &r->services[i];
        put_col(s->code.ptr, 12);
        fputc(' ', stdout);
        put_col(s->agency.ptr, 16);
        fputc(' ', stdout);
        put_col(s->level.ptr, 7);
        printf(" %2" PRId64 " ngày  %8" PRId64 " đ  %s\n", s->processing_days, s->fee, s->name.ptr);
    }
    printf("(%zu thủ tục)\n", r->nservices);
}

void cli_print_dossier_line(const hoso_dossier *d)
{
    char t[32];
    put_col(d->code.ptr, 28);
    printf(" %2" PRId64 "  ", d->status);
    put_col(hoso_status_name_vi((int)d->status), 38);
    printf(" %s  %s\n", cli_time(d->submitted_at, t, sizeof(t)), d->service.ptr);
}

void cli_print_dossier(const hoso_dossier *d, int with_history)
{
    char t[32];
    printf("Hồ sơ       %s\n", d->code.ptr);
    printf("Thủ tục     %s (cơ quan %s)\n", d->service.ptr, d->agency.ptr);
    printf("Trạng thái  %" PRId64 " - %s (phiên bản %" PRId64 ")\n", d->status, hoso_status_name_vi((int)d->status),
           d->version);
    printf("Nộp lúc     %s\n", cli_time(d->submitted_at, t, sizeof(t)));
    if (d->due_at) printf("Hẹn trả     %s\n", cli_time(d->due_at, t, sizeof(t)));
    if (d->reason.len) printf("Lý do       %s\n", d->reason.ptr);
    if (d->result.len) printf("Kết quả     %s\n", d->result.ptr);
    if (d->fee) printf("Phí         %" PRId64 " đ\n", d->fee);
    if (!with_history) return;
    printf("Tiến trình:\n");
    for (size_t i = 0; i < d->nhistory; i++) {
        const hoso_history *h = &d->history[i];
        printf("  %s  %2" PRId64 "  %s%s%s\n", cli_time(h->at, t, sizeof(t)), h->status,
               hoso_status_name_vi((int)h->status), h->note.len ? "  — " : "", h->note.len ? h->note.ptr : "");
    }
}

void cli_print_event(const hoso_client_event *ev)
{
    char t[32];
    const hoso_dossier *d = ev->dossier;
    if (!d) {
        printf("%s  #%" PRIu64 "  %s\n", cli_time(ev->at, t, sizeof(t)), ev->seq, ev->type);
    } else {
        printf("%s  #%" PRIu64 "  %s  %2" PRId64 " %s\n", cli_time(ev->at, t, sizeof(t)), ev->seq, d->code.ptr,
               d->status, hoso_status_name_vi((int)d->status));
    }
    fflush(stdout);
}

int cli_print_cached(const cli *x, const void *buf, size_t len, int as_line)
{
    hoso_doc doc = {0};
    hoso_limits lim;
    hoso_dossier d;
    int rc = -1;
    hoso_limits_default(&lim);
    if (hoso_doc_from_msgpack(&doc, buf, len, &lim, NULL) || hoso_dossier_decode(&doc, &doc.root, &d, NULL))
        goto Exit;
    if (x->json) {
        /* {"dossier": <cached>, "cached": true}, built around the stored bytes */
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        hoso_pack_cstr(&pk, "dossier");
        msgpack_pack_object(&pk, doc.root);
        hoso_pack_cstr(&pk, "cached");
        msgpack_pack_true(&pk);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS) cli_print_json(&u.data);
        msgpack_unpacked_destroy(&u);
        msgpack_sbuffer_destroy(&sb);
    } else if (as_line) {
        cli_print_dossier_line(&d);
    } else {
        cli_print_dossier(&d, 1);
    }
    rc = 0;
Exit:
    hoso_doc_destroy(&doc);
    return rc;
}
