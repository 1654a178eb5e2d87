/*
 * internal.h - helpers shared by the files of libhoso_protocol. Not installed, not part
 * of the contract; callers outside protocol/ use hoso_protocol.h only.
 */
#ifndef HOSO_PROTOCOL_INTERNAL_H
#define HOSO_PROTOCOL_INTERNAL_H

#include "hoso_protocol.h"

/* msgpack-c keeps the containers it is inside on a fixed stack of this many entries and
 * fails with NOMEM_ERROR past it; the scanner rejects deeper input first. */
#define HOSO__MSGPACK_MAX_DEPTH 32

/* Flags of hoso__msgpack_scan. */
enum { HOSO__SCAN_ANY_KEYS = 1 };

/* Walks encoded msgpack without allocating and without recursion, before msgpack-c
 * sees it: exactly one object spanning len bytes, depth, string and container limits,
 * no ext types, string keys (unless HOSO__SCAN_ANY_KEYS). Containers may not declare
 * more elements than bytes remain, so msgpack-c never reserves memory for elements the
 * input cannot hold. Returns 0 or HOSO_EBAD_REQUEST with ei->message set. */
int hoso__msgpack_scan(const uint8_t *p, size_t len, const hoso_limits *lim, unsigned flags,
                       hoso_errinfo *ei);

/* Rejects maps with duplicate keys anywhere in the tree (depth already bounded). */
int hoso__check_duplicates(const msgpack_object *o, hoso_errinfo *ei);

/* hoso_decode with field names prefixed by `prefix` ("papers[2]"), appending to ei
 * without resetting it; out may be NULL to validate only. Returns 0,
 * HOSO_EVALIDATION_FAILED or HOSO_ENOMEM. */
int hoso__decode_at(const hoso_msg_desc *desc, hoso_doc *doc, const msgpack_object *obj, void *out,
                    const char *prefix, hoso_errinfo *ei);

/* Formats "prefix.name" (or "name" with no prefix) into buf. */
void hoso__field_name(char *buf, size_t size, const char *prefix, const char *name);

#endif
