/*
 * decoders.h - what both fuzz targets do with a document their decoder accepted: run
 * every request descriptor and record decoder over it. None may crash or read out of
 * bounds, whatever the document holds.
 */
#ifndef HOSO_FUZZ_DECODERS_H
#define HOSO_FUZZ_DECODERS_H

#include <string.h>
#include "hoso_protocol.h"

static const hoso_msg_desc *const fuzz_descs[] = {
    &hoso_msg_register, &hoso_msg_login,    &hoso_msg_submit,   &hoso_msg_supplement, &hoso_msg_withdraw,
    &hoso_msg_rating,   &hoso_msg_feedback, &hoso_msg_paper,    &hoso_msg_transition, &hoso_msg_apology,
};

static void fuzz_decode_all(hoso_doc *doc)
{
    union {
        hoso_req_register reg;
        hoso_req_login login;
        hoso_req_submit submit;
        hoso_req_supplement supplement;
        hoso_req_withdraw withdraw;
        hoso_req_rating rating;
        hoso_req_feedback feedback;
        hoso_req_paper paper;
        hoso_req_transition transition;
        hoso_req_apology apology;
        hoso_service svc;
        hoso_dossier dossier;
        hoso_paper p;
    } out;
    hoso_errinfo ei;

    for (size_t i = 0; i < sizeof(fuzz_descs) / sizeof(fuzz_descs[0]); i++) {
        memset(&ei, 0, sizeof(ei));
        hoso_decode(fuzz_descs[i], doc, &doc->root, &out, &ei);
    }
    memset(&ei, 0, sizeof(ei));
    hoso_service_decode(doc, &doc->root, &out.svc, &ei);
    memset(&ei, 0, sizeof(ei));
    hoso_dossier_decode(doc, &doc->root, &out.dossier, &ei);
    memset(&ei, 0, sizeof(ei));
    hoso_paper_decode(doc, &doc->root, &out.p, &ei);
}

#endif
