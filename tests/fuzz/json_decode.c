/*
 * json_decode.c - fuzz target: JSON bodies through the bridge and every request
 * descriptor. What the JSON decoder accepts must also pass the msgpack decoder once
 * packed, under the same limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hoso_protocol.h"
#include "decoders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
    fuzz_decode_all(&doc);

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
