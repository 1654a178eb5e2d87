/*
 * catalogue.c - the services catalogue: decoding a catalogue file (JSON, an array of
 * services or {services: [...]}; the format is docs/operations.md's) and importing it
 * in one transaction.
 */
#include <stdio.h>
#include <string.h>
#include "tools.h"

typedef struct import_job {
    hoso_service *svcs;
    size_t n;
    int only_absent;
    size_t imported;
} import_job;

static int apply_import(hoso_wop *op, hoso_txn *txn)
{
    import_job *job = op->data;
    for (size_t i = 0; i < job->n; i++) {
        const hoso_service *svc = &job->svcs[i];
        if (job->only_absent) {
            hoso_doc d;
            hoso_service old;
            memset(&d, 0, sizeof(d));
            int e = hoso_service_get(txn, svc->code.ptr, &d, &old);
            hoso_doc_destroy(&d);
            if (e == 0)
                continue;
            if (e != HOSO_ENOT_FOUND)
                return hoso_wop_fail(op, e, "reading service %s failed", svc->code.ptr);
        }
        int err = hoso_service_put(txn, svc);
        if (err != 0)
            return hoso_wop_fail(op, err, "storing service %s failed", svc->code.ptr);
        job->imported++;
    }
    return 0;
}

/* Decodes every service of the JSON text (an array, or {services: [...]}) into svcs,
 * whose strings live in doc. */
static int decode_catalogue(hoso_doc *doc, const void *json, size_t len, hoso_service **svcs, size_t *n,
                            hoso_errinfo *ei)
{
    hoso_limits lim;
    const msgpack_object *arr;
    int err;

    hoso_limits_default(&lim);
    lim.max_body = len + 1;
    lim.max_array = 100000;
    lim.max_str = 1 << 20;
    if ((err = hoso_doc_from_json(doc, json, len, &lim, ei)) != 0)
        return err;
    arr = &doc->root;
    if (arr->type == MSGPACK_OBJECT_MAP)
        arr = hoso_map_get(arr, "services");
    if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY) {
        err = hoso_fail(ei, HOSO_EBAD_REQUEST, "expected an array of services or {\"services\": [...]}");
        goto Error;
    }
    *n = arr->via.array.size;
    *svcs = msgpack_zone_malloc(&doc->zone, (*n + 1) * sizeof(**svcs));
    if (*svcs == NULL) {
        err = HOSO_ENOMEM;
        goto Error;
    }
    for (size_t i = 0; i < *n; i++) {
        if ((err = hoso_service_decode(doc, &arr->via.array.ptr[i], &(*svcs)[i], ei)) != 0) {
            char msg[sizeof(ei->message) + 32];
            snprintf(msg, sizeof(msg), "services[%zu]: %s", i,
                     ei->message[0] != '\0' ? ei->message : hoso_err_message(err));
            /* Truncation is fine: the index comes first. */
            memcpy(ei->message, msg, sizeof(ei->message) - 1);
            ei->message[sizeof(ei->message) - 1] = '\0';
            goto Error;
        }
    }
    return 0;
Error:
    hoso_doc_destroy(doc);
    return err;
}

int hoso__catalogue_import(hoso_store *s, const void *json, size_t len, int only_absent, size_t *count,
                           hoso_errinfo *ei)
{
    hoso_doc doc;
    import_job job;
    int err;

    memset(&job, 0, sizeof(job));
    job.only_absent = only_absent;
    if ((err = decode_catalogue(&doc, json, len, &job.svcs, &job.n, ei)) != 0)
        return err;
    hoso_errinfo why;
    err = hoso_run_job(s, apply_import, &job, hoso_now_ms(), &why);
    if (err != 0 && ei != NULL && ei->err == 0)
        *ei = why;
    hoso_doc_destroy(&doc);
    if (count != NULL)
        *count = job.imported;
    return err;
}

size_t hoso__catalogue_agencies(const void *json, size_t len, char (*agencies)[48], size_t max)
{
    hoso_doc doc;
    hoso_service *svcs = NULL;
    hoso_errinfo ei;
    size_t n = 0, na = 0;

    memset(&ei, 0, sizeof(ei));
    if (decode_catalogue(&doc, json, len, &svcs, &n, &ei) != 0)
        return 0;
    for (size_t i = 0; i < n && na < max; i++) {
        size_t j;
        for (j = 0; j < na; j++)
            if (strcmp(agencies[j], svcs[i].agency.ptr) == 0)
                break;
        if (j == na && svcs[i].agency.len < 48)
            snprintf(agencies[na++], 48, "%s", svcs[i].agency.ptr);
    }
    hoso_doc_destroy(&doc);
    return na;
}
