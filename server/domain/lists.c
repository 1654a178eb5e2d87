/*
 * lists.c - paged lists: the query of a list route, and items packed while a storage
 * walk counts them (dossiers, papers, services).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domain.h"

int hoso__parse_paging(hoso_req *r, int *status, char *cursor, size_t cursor_sz, unsigned *limit)
{
    char buf[32];
    uint64_t v;
    const char *s;

    *status = 0;
    *limit = 20;
    cursor[0] = '\0';
    if ((s = hoso_req_query(r, "status", buf, sizeof(buf))) != NULL && s[0]) {
        if (hoso_parse_u64(s, HOSO_ST_MAX, &v) != 0 || v < HOSO_ST_MIN)
            return hoso_fail_field(&r->err, "status", "must be a status code 1..10");
        *status = (int)v;
    }
    if ((s = hoso_req_query(r, "limit", buf, sizeof(buf))) != NULL && s[0]) {
        if (hoso_parse_u64(s, 1000000, &v) != 0 || v < 1)
            return hoso_fail_field(&r->err, "limit", "must be 1..100");
        *limit = v > 100 ? 100 : (unsigned)v;
    }
    if (hoso_req_query(r, "cursor", cursor, cursor_sz) == NULL)
        cursor[0] = '\0';
    return 0;
}

void hoso__items_init(hoso__items *it)
{
    memset(it, 0, sizeof(*it));
    msgpack_sbuffer_init(&it->buf);
    msgpack_packer_init(&it->pk, &it->buf, msgpack_sbuffer_write);
}

void hoso__items_destroy(hoso__items *it)
{
    msgpack_sbuffer_destroy(&it->buf);
}

int hoso__items_add_dossier(void *ctx, const hoso_dossier *d)
{
    hoso__items *it = ctx;
    if (hoso_dossier_encode(&it->pk, d) != 0)
        return HOSO_ENOMEM;
    it->n++;
    return 0;
}

int hoso__items_add_paper(void *ctx, const hoso_paper *p)
{
    hoso__items *it = ctx;
    if (hoso_paper_encode(&it->pk, p) != 0)
        return HOSO_ENOMEM;
    it->n++;
    return 0;
}

int hoso__items_add_service(void *ctx, const hoso_service *svc)
{
    hoso__items *it = ctx;
    if (hoso_service_encode(&it->pk, svc) != 0)
        return HOSO_ENOMEM;
    it->n++;
    return 0;
}

int hoso__items_pack(msgpack_packer *pk, const char *key, const hoso__items *it)
{
    if (hoso_pack_cstr(pk, key) || msgpack_pack_array(pk, it->n))
        return HOSO_ENOMEM;
    if (it->buf.size && pk->callback(pk->data, it->buf.data, it->buf.size))
        return HOSO_ENOMEM;
    return 0;
}

int hoso__reply_dossier_list(hoso_req *r, hoso__list_fn list, const char *who, int status, const char *cursor,
                             unsigned limit)
{
    hoso__items c;
    hoso_doc doc;
    char next[128] = "";
    msgpack_sbuffer out;
    msgpack_packer pk;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0)
        return ret;
    hoso__items_init(&c);
    msgpack_sbuffer_init(&out);
    ret = list(r->rtxn, who, status, cursor, limit, &doc, hoso__items_add_dossier, &c, next);
    if (ret == HOSO_EBAD_REQUEST) {
        hoso_fail_field(&r->err, "cursor", "not a cursor of this list");
        ret = HOSO_EVALIDATION_FAILED;
    }
    if (ret != 0)
        goto Exit;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    if ((ret = hoso__items_pack(&pk, "dossiers", &c)) != 0)
        goto Exit;
    hoso_pack_kcstr(&pk, "next", next);
    ret = hoso_reply(r, 200, out.data, out.size);
Exit:
    hoso_doc_destroy(&doc);
    hoso__items_destroy(&c);
    msgpack_sbuffer_destroy(&out);
    return ret;
}

/* ---------------------------------------------------------------------------------- */
/* The agency's overdue dossiers, the longest overdue first. The cursor is
 * "<due_at>.<code>" of the last one listed. */

typedef struct overdue_list {
    hoso_txn *t;
    hoso_doc *doc;
    hoso_dossier_fn fn;
    void *ctx;
    unsigned n;
    int64_t last_due;
    char last_code[96];
} overdue_list;

static int overdue_one(void *ctx, const char *code, int64_t due_at)
{
    overdue_list *l = ctx;
    hoso_dossier d;
    int ret = hoso_dossier_get(l->t, code, l->doc, &d);
    if (ret == HOSO_ENOT_FOUND)
        return 0;
    if (ret != 0 || (ret = l->fn(l->ctx, &d)) != 0)
        return ret;
    l->n++;
    l->last_due = due_at;
    snprintf(l->last_code, sizeof l->last_code, "%s", code);
    return 0;
}

int hoso__dossier_list_overdue(hoso_txn *t, const char *agency, int status, const char *cursor, unsigned limit,
                               hoso_doc *doc, hoso_dossier_fn fn, void *ctx, char next_buf[128])
{
    overdue_list l = {t, doc, fn, ctx, 0, 0, ""};
    int64_t after_due = 0;
    const char *after_code = NULL;
    (void)status;
    next_buf[0] = '\0';
    if (cursor != NULL && cursor[0] != '\0') {
        char *end;
        after_due = strtoll(cursor, &end, 10);
        if (*end != '.' || end[1] == '\0' || after_due <= 0)
            return HOSO_EBAD_REQUEST;
        after_code = end + 1;
    }
    int ret = hoso_overdue_each(t, agency, after_due, after_code, limit, overdue_one, &l);
    if (ret == 0 && l.n == limit)
        snprintf(next_buf, 128, "%lld.%s", (long long)l.last_due, l.last_code);
    return ret;
}
