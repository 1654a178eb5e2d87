/*
 * services.c - the public catalogue of administrative procedures.
 */
#include <string.h>
#include "domain/domain.h"
#include "routes.h"

/* Lower-case of one code point for the letters Vietnamese uses: ASCII, Latin-1 (À..Þ),
 * Latin Extended-A pairs (Đ, Ă, Ĩ, Ũ...), Ơ and Ư, and Latin Extended Additional
 * (Ạ..Ỹ), where upper and lower case sit side by side. Enough for "Đăng ký" to match
 * "đĂNG KÝ" without pulling in a Unicode library. */
static uint32_t fold_cp(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x178 && c != 0x17F) {
        /* Pairs are (even, odd) up to 0x137 and (odd, even) from 0x139 to 0x148 and
         * from 0x179; 0x14A..0x177 are (even, odd) again. */
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    if (c == 0x1A0 || c == 0x1AF) return c + 1;
    if (c >= 0x1E00 && c <= 0x1EFF) return (c & 1) ? c : c + 1;
    return c;
}

/* Case-folded copy of s into out (NUL-terminated, truncated to outsz-1 bytes at a code
 * point boundary). Invalid UTF-8 bytes are copied as they are. */
static size_t fold_utf8(const char *s, size_t len, char *out, size_t outsz)
{
    size_t i = 0, o = 0;
    while (i < len) {
        const unsigned char *p = (const unsigned char *)s + i;
        uint32_t c;
        size_t n;
        if (p[0] < 0x80) {
            c = p[0], n = 1;
        } else if ((p[0] & 0xE0) == 0xC0 && i + 1 < len && (p[1] & 0xC0) == 0x80) {
            c = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F), n = 2;
        } else if ((p[0] & 0xF0) == 0xE0 && i + 2 < len && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
            c = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F), n = 3;
        } else {
            c = 0xFFFFFFFF, n = 1; /* copied raw below */
        }
        char enc[4];
        size_t m;
        if (c == 0xFFFFFFFF || n == 1) {
            enc[0] = (char)(c == 0xFFFFFFFF ? p[0] : fold_cp(c)), m = 1;
        } else {
            c = fold_cp(c);
            if (c < 0x800) {
                enc[0] = (char)(0xC0 | (c >> 6)), enc[1] = (char)(0x80 | (c & 0x3F)), m = 2;
            } else {
                enc[0] = (char)(0xE0 | (c >> 12)), enc[1] = (char)(0x80 | ((c >> 6) & 0x3F));
                enc[2] = (char)(0x80 | (c & 0x3F)), m = 3;
            }
        }
        if (o + m >= outsz) break;
        memcpy(out + o, enc, m);
        o += m;
        i += n;
    }
    out[o] = '\0';
    return o;
}

typedef struct list_ctx {
    const char *agency; /* NULL: any */
    char q[256];        /* folded query, "" = any */
    hoso__items items;
} list_ctx;

static int contains_folded(const hoso_str *s, const char *q)
{
    char buf[1024];
    if (!s->ptr) return 0;
    fold_utf8(s->ptr, s->len, buf, sizeof(buf));
    return strstr(buf, q) != NULL;
}

static int list_one(void *ctx, const hoso_service *svc)
{
    list_ctx *c = ctx;
    if (c->agency && (!svc->agency.ptr || strcmp(c->agency, svc->agency.ptr) != 0)) return 0;
    if (c->q[0] && !contains_folded(&svc->name, c->q) && !contains_folded(&svc->code, c->q)) return 0;
    return hoso__items_add_service(&c->items, svc);
}

int hoso_route_services_list(hoso_req *r)
{
    char agency[64], q[256];
    list_ctx c;
    msgpack_sbuffer out;
    msgpack_packer pk;
    int ret;

    memset(&c, 0, sizeof(c));
    c.agency = hoso_req_query(r, "agency", agency, sizeof(agency));
    if (c.agency && !c.agency[0]) c.agency = NULL;
    if (hoso_req_query(r, "q", q, sizeof(q))) fold_utf8(q, strlen(q), c.q, sizeof(c.q));
    hoso__items_init(&c.items);
    msgpack_sbuffer_init(&out);
    if ((ret = hoso_service_each(r->rtxn, list_one, &c)) != 0) goto Exit;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    if ((ret = hoso__items_pack(&pk, "services", &c.items)) != 0) goto Exit;
    ret = hoso_reply(r, 200, out.data, out.size);
Exit:
    hoso__items_destroy(&c.items);
    msgpack_sbuffer_destroy(&out);
    return ret;
}

int hoso_route_service_get(hoso_req *r)
{
    hoso_doc doc;
    hoso_service svc;
    msgpack_sbuffer out;
    msgpack_packer pk;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0) return ret;
    msgpack_sbuffer_init(&out);
    ret = hoso_service_get(r->rtxn, r->params[0], &doc, &svc);
    if (ret == HOSO_ENOT_FOUND) {
        ret = hoso_fail(&r->err, HOSO_ENOT_FOUND, "no service with this code");
        goto Exit;
    }
    if (ret) goto Exit;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    hoso_pack_cstr(&pk, "service");
    if ((ret = hoso_service_encode(&pk, &svc)) != 0) {
        ret = HOSO_ENOMEM;
        goto Exit;
    }
    ret = hoso_reply(r, 200, out.data, out.size);
Exit:
    msgpack_sbuffer_destroy(&out);
    hoso_doc_destroy(&doc);
    return ret;
}
