/*
 * json_decode.c - fuzz target: JSON bodies through the bridge and every request
 * descriptor. What the JSON decoder accepts must also pass the msgpack decoder once
 * packed, under the same limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoso_protocol.h"

static const hoso_msg_desc *const descs[] = {
    &hoso_msg_register, &hoso_msg_login,    &hoso_msg_submit,   &hoso_msg_supplement, &hoso_msg_withdraw,
    &hoso_msg_rating,   &hoso_msg_feedback, &hoso_msg_paper,    &hoso_msg_transition, &hoso_msg_apology,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    union {
        hoso_req_register reg;
        hoso_req_submit submit;
        hoso_req_transition transition;
        hoso_req_paper paper;
        hoso_dossier dossier;
        hoso_service svc;
        char any[512];
    } out;
    hoso_limits lim;
    hoso_doc doc, again;
    hoso_errinfo ei;
    msgpack_sbuffer sb;
    msgpack_packer pk;

    hoso_limits_default(&lim);
    memset(&ei, 0, sizeof(ei));
    if (hoso_doc_from_json(&doc, data, size, &lim, &ei) != 0) {
        if (ei.err >= 0)
            abort();
        return 0;
    }
    for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
        memset(&ei, 0, sizeof(ei));
        hoso_decode(descs[i], &doc, &doc.root, &out, &ei);
    }
    memset(&ei, 0, sizeof(ei));
    hoso_service_decode(&doc, &doc.root, &out.svc, &ei);
    memset(&ei, 0, sizeof(ei));
    hoso_dossier_decode(&doc, &doc.root, &out.dossier, &ei);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, doc.root) != 0)
        abort();
    /* Reals take 9 bytes in msgpack and as few as 1 in JSON: only the size may differ. */
    lim.max_body = SIZE_MAX;
    memset(&ei, 0, sizeof(ei));
    if (hoso_doc_from_msgpack(&again, sb.data, sb.size, &lim, &ei) != 0)
        abort();
    hoso_doc_destroy(&again);
    msgpack_sbuffer_destroy(&sb);
    hoso_doc_destroy(&doc);
    return 0;
}
