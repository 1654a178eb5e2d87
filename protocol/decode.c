/*
 * decode.c - the descriptor walker (hoso_decode) and the v1 request descriptors.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void hoso__field_name(char *buf, size_t size, const char *prefix, const char *name)
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(buf, size, "%s", name);
    else
        snprintf(buf, size, "%s.%s", prefix, name);
}

/* Field names are cut to fit the error reply; truncation is intended here. */
static void name_printf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static int obj_int64(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return 1;
    }
    return 0;
}

/* Problems are phrased for the person reading the reply: the limits say what would
 * have been accepted. */
static int range_problem(char *buf, size_t size, const char *what, int64_t v, int64_t min, int64_t max)
{
    if (min == 0 && max == 0)
        return 0;
    if (v >= min && v <= max)
        return 0;
    if (max == INT64_MAX)
        snprintf(buf, size, "%s at least %" PRId64, what, min);
    else if (min == max)
        snprintf(buf, size, "%s exactly %" PRId64, what, min);
    else
        snprintf(buf, size, "%s between %" PRId64 " and %" PRId64, what, min, max);
    return 1;
}

static void *at(void *out, size_t off)
{
    return (char *)out + off;
}

static int decode_field(const hoso_field *f, hoso_doc *doc, const msgpack_object *v, void *out,
                        const char *name, hoso_errinfo *ei)
{
    char problem[96];
    int64_t n;

    switch (f->type) {
    case HOSO_F_STR: {
        if (v->type != MSGPACK_OBJECT_STR)
            return hoso_fail_field(ei, name, "must be a string");
        if (!hoso_utf8_valid(v->via.str.ptr, v->via.str.size))
            return hoso_fail_field(ei, name, "must be valid UTF-8 without NUL bytes");
        n = v->via.str.size;
        if (f->min > 0 && n < f->min) {
            if (f->min == 1)
                return hoso_fail_field(ei, name, "must not be empty");
            snprintf(problem, sizeof(problem), "is too short (at least %" PRId64 " bytes)", f->min);
            return hoso_fail_field(ei, name, problem);
        }
        if (f->max > 0 && n > f->max) {
            snprintf(problem, sizeof(problem), "is too long (at most %" PRId64 " bytes)", f->max);
            return hoso_fail_field(ei, name, problem);
        }
        if (out != NULL && hoso_zone_str(&doc->zone, v->via.str.ptr, v->via.str.size, at(out, f->offset)) != 0)
            return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        break;
    }
    case HOSO_F_INT:
        if (!obj_int64(v, &n))
            return hoso_fail_field(ei, name, "must be an integer");
        if (range_problem(problem, sizeof(problem), "must be", n, f->min, f->max))
            return hoso_fail_field(ei, name, problem);
        if (out != NULL)
            *(int64_t *)at(out, f->offset) = n;
        break;
    case HOSO_F_BOOL:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return hoso_fail_field(ei, name, "must be true or false");
        if (out != NULL)
            *(int *)at(out, f->offset) = v->via.boolean;
        break;
    case HOSO_F_MAP:
        if (v->type != MSGPACK_OBJECT_MAP)
            return hoso_fail_field(ei, name, "must be a map");
        if (range_problem(problem, sizeof(problem), "must have a number of entries", v->via.map.size, f->min,
                          f->max))
            return hoso_fail_field(ei, name, problem);
        if (f->elem != NULL) {
            int r = hoso__decode_at(f->elem, doc, v, NULL, name, ei);
            if (r != 0)
                return r;
        }
        if (out != NULL)
            *(const msgpack_object **)at(out, f->offset) = v;
        break;
    case HOSO_F_ARRAY:
        if (v->type != MSGPACK_OBJECT_ARRAY)
            return hoso_fail_field(ei, name, "must be an array");
        if (range_problem(problem, sizeof(problem), "must have a number of elements", v->via.array.size, f->min,
                          f->max))
            return hoso_fail_field(ei, name, problem);
        if (f->elem != NULL) {
            int r = 0;
            for (uint32_t i = 0; i < v->via.array.size; i++) {
                char elem[64];
                name_printf(elem, sizeof(elem), "%s[%" PRIu32 "]", name, i);
                int e = hoso__decode_at(f->elem, doc, &v->via.array.ptr[i], NULL, elem, ei);
                if (e == HOSO_ENOMEM)
                    return e;
                if (e != 0)
                    r = e;
            }
            if (r != 0)
                return r;
        }
        if (out != NULL)
            *(const msgpack_object **)at(out, f->offset) = v;
        break;
    case HOSO_F_ANY:
        if (out != NULL)
            *(const msgpack_object **)at(out, f->offset) = v;
        break;
    }
    if (out != NULL && f->present_off != (size_t)-1)
        *(int *)at(out, f->present_off) = 1;
    return 0;
}

int hoso__decode_at(const hoso_msg_desc *desc, hoso_doc *doc, const msgpack_object *obj, void *out,
                    const char *prefix, hoso_errinfo *ei)
{
    char name[64];
    int bad = 0;

    if (obj->type != MSGPACK_OBJECT_MAP)
        return hoso_fail_field(ei, prefix, "must be a map");
    if (!(desc->flags & HOSO_DESC_OPEN)) {
        for (uint32_t i = 0; i < obj->via.map.size; i++) {
            const msgpack_object *k = &obj->via.map.ptr[i].key;
            size_t j = 0;
            for (; j < desc->nfields; j++)
                if (hoso_obj_streq(k, desc->fields[j].name))
                    break;
            if (j < desc->nfields)
                continue;
            if (k->type == MSGPACK_OBJECT_STR) {
                char key[48];
                snprintf(key, sizeof(key), "%.*s", (int)(k->via.str.size > 40 ? 40 : k->via.str.size),
                         k->via.str.ptr);
                hoso__field_name(name, sizeof(name), prefix, key);
            } else {
                hoso__field_name(name, sizeof(name), prefix, "?");
            }
            bad = hoso_fail_field(ei, name, "unknown field");
        }
    }
    for (size_t j = 0; j < desc->nfields; j++) {
        const hoso_field *f = &desc->fields[j];
        const msgpack_object *v = hoso_map_get(obj, f->name);
        hoso__field_name(name, sizeof(name), prefix, f->name);
        if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
            if (f->required)
                bad = hoso_fail_field(ei, name, "required");
            continue;
        }
        int r = decode_field(f, doc, v, out, name, ei);
        if (r == HOSO_ENOMEM)
            return r;
        if (r != 0)
            bad = r;
    }
    if (desc->check != NULL && desc->check(obj, prefix, ei) != 0)
        bad = HOSO_EVALIDATION_FAILED;
    return bad ? HOSO_EVALIDATION_FAILED : 0;
}

int hoso_decode(const hoso_msg_desc *desc, hoso_doc *doc, const msgpack_object *root, void *out,
                hoso_errinfo *ei)
{
    hoso_errinfo local;
    if (ei == NULL) {
        memset(&local, 0, sizeof(local));
        ei = &local;
    }
    if (out != NULL && desc->size > 0)
        memset(out, 0, desc->size);
    if (root == NULL || root->type != MSGPACK_OBJECT_MAP)
        return hoso_fail(ei, HOSO_EBAD_REQUEST, "the %s body must be a map", desc->name);
    int r = hoso__decode_at(desc, doc, root, out, "", ei);
    if (r == HOSO_EVALIDATION_FAILED)
        ei->err = HOSO_EVALIDATION_FAILED;
    return r;
}

/* ---- checks that span more than one field's type and length ---------------------- */

/* The string value of key in obj when it is a string, else NULL (its type problem is
 * already reported by the field walk). */
static const msgpack_object *str_of(const msgpack_object *obj, const char *key)
{
    const msgpack_object *v = hoso_map_get(obj, key);
    return v != NULL && v->type == MSGPACK_OBJECT_STR ? v : NULL;
}

static int all_digits(const msgpack_object *v, size_t skip_plus)
{
    const char *p = v->via.str.ptr;
    size_t n = v->via.str.size, i = 0;
    if (skip_plus && n > 0 && p[0] == '+')
        i = 1;
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

static int fail_at(hoso_errinfo *ei, const char *prefix, const char *field, const char *problem)
{
    char name[64];
    hoso__field_name(name, sizeof(name), prefix, field);
    return hoso_fail_field(ei, name, problem);
}

static int check_register(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    int r = 0;
    const msgpack_object *v;
    if ((v = str_of(obj, "id_number")) != NULL && !all_digits(v, 0))
        r = fail_at(ei, prefix, "id_number", "must contain digits only");
    if ((v = str_of(obj, "phone")) != NULL && !all_digits(v, 1))
        r = fail_at(ei, prefix, "phone", "must be digits, optionally after a leading +");
    return r;
}

static int present(const msgpack_object *obj, const char *key)
{
    const msgpack_object *v = hoso_map_get(obj, key);
    return v != NULL && v->type != MSGPACK_OBJECT_NIL;
}

static int check_login(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    int id = present(obj, "id_number"), user = present(obj, "username");
    const msgpack_object *v;
    if (!id && !user)
        return fail_at(ei, prefix, "id_number", "required (or username)");
    if (id && user)
        return fail_at(ei, prefix, "username", "give id_number or username, not both");
    if ((v = str_of(obj, "id_number")) != NULL && !all_digits(v, 0))
        return fail_at(ei, prefix, "id_number", "must contain digits only");
    return 0;
}

static int check_sha256(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    const msgpack_object *v = str_of(obj, "sha256");
    if (v == NULL || v->via.str.size != 64)
        return 0;
    for (uint32_t i = 0; i < 64; i++) {
        char c = v->via.str.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return fail_at(ei, prefix, "sha256", "must be 64 hexadecimal digits");
    }
    return 0;
}

/* A new paper names its type; a reference to a vault paper may give the id alone. */
static int check_paper_elem(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    int r = check_sha256(obj, prefix, ei);
    if (!present(obj, "id") && !present(obj, "type"))
        r = fail_at(ei, prefix, "type", "required (or the id of a vault paper)");
    return r;
}

static int check_rating(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    const msgpack_object *a = hoso_map_get(obj, "answers");
    int r = 0;
    char answers[64], name[64];
    if (a == NULL || a->type != MSGPACK_OBJECT_MAP)
        return 0;
    hoso__field_name(answers, sizeof(answers), prefix, "answers");
    for (uint32_t i = 0; i < a->via.map.size; i++) {
        const msgpack_object *k = &a->via.map.ptr[i].key;
        int64_t v;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 || k->via.str.size > 64 ||
            !hoso_utf8_valid(k->via.str.ptr, k->via.str.size)) {
            r = hoso_fail_field(ei, answers, "questions must be non-empty strings of at most 64 bytes");
            continue;
        }
        name_printf(name, sizeof(name), "%s.%.*s", answers, (int)k->via.str.size, k->via.str.ptr);
        if (!obj_int64(&a->via.map.ptr[i].val, &v) || v < 1 || v > 5)
            r = hoso_fail_field(ei, name, "must be an integer between 1 and 5");
    }
    return r;
}

static int check_strings(const msgpack_object *obj, const char *prefix, const char *key, size_t max,
                         hoso_errinfo *ei)
{
    const msgpack_object *a = hoso_map_get(obj, key);
    char name[64], base[64];
    int r = 0;
    if (a == NULL || a->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    hoso__field_name(base, sizeof(base), prefix, key);
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        const msgpack_object *v = &a->via.array.ptr[i];
        name_printf(name, sizeof(name), "%s[%" PRIu32 "]", base, i);
        if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0 || v->via.str.size > max ||
            !hoso_utf8_valid(v->via.str.ptr, v->via.str.size))
            r = hoso_fail_field(ei, name, "must be a non-empty UTF-8 string of at most 200 bytes");
    }
    return r;
}

static int check_transition(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    return check_strings(obj, prefix, "papers_required", 200, ei);
}

/* ---- descriptors ---------------------------------------------------------------- */

#define NOPRES ((size_t)-1)
#define FLD(st, nm, ty, req, mn, mx) {#nm, ty, req, offsetof(st, nm), NOPRES, mn, mx, NULL}
#define FLDP(st, nm, ty, req, mn, mx, pres) {#nm, ty, req, offsetof(st, nm), offsetof(st, pres), mn, mx, NULL}
#define FLDE(st, nm, ty, req, mn, mx, el) {#nm, ty, req, offsetof(st, nm), NOPRES, mn, mx, el}
#define DESC(var, nm, st, chk, fl)                                                       \
    const hoso_msg_desc var = {nm, var##_fields, sizeof(var##_fields) / sizeof(var##_fields[0]), chk, fl, sizeof(st)}
#define OP_ID(st, req) FLD(st, op_id, HOSO_F_STR, req, 1, 64)
#define TEXT_MAX 2000

static const hoso_field hoso_msg_register_fields[] = {
    FLD(hoso_req_register, id_number, HOSO_F_STR, 1, 9, 12),
    FLD(hoso_req_register, full_name, HOSO_F_STR, 1, 1, 200),
    FLD(hoso_req_register, phone, HOSO_F_STR, 1, 8, 16),
    FLD(hoso_req_register, password, HOSO_F_STR, 1, 8, 200),
};
DESC(hoso_msg_register, "register", hoso_req_register, check_register, 0);

static const hoso_field hoso_msg_login_fields[] = {
    FLD(hoso_req_login, id_number, HOSO_F_STR, 0, 9, 12),
    FLD(hoso_req_login, username, HOSO_F_STR, 0, 1, 64),
    FLD(hoso_req_login, password, HOSO_F_STR, 1, 1, 200),
};
DESC(hoso_msg_login, "login", hoso_req_login, check_login, 0);

/* A paper inside submit/supplement: a new paper, or a vault paper named by id. It is
 * validated here and read by the server from the papers array itself. */
typedef struct paper_elem {
    hoso_str id, type, number, issuer, sha256, file;
    int64_t valid_until;
} paper_elem_rec;
static const hoso_field paper_elem_fields[] = {
    FLD(paper_elem_rec, id, HOSO_F_STR, 0, 1, 64),
    FLD(paper_elem_rec, type, HOSO_F_STR, 0, 1, 64),
    FLD(paper_elem_rec, number, HOSO_F_STR, 0, 1, 64),
    FLD(paper_elem_rec, issuer, HOSO_F_STR, 0, 1, 200),
    FLD(paper_elem_rec, valid_until, HOSO_F_INT, 0, 0, INT64_MAX),
    FLD(paper_elem_rec, sha256, HOSO_F_STR, 0, 64, 64),
    FLD(paper_elem_rec, file, HOSO_F_STR, 0, 32, 32),
};
static DESC(paper_elem, "paper", paper_elem_rec, check_paper_elem, 0);

static const hoso_field hoso_msg_submit_fields[] = {
    FLD(hoso_req_submit, service, HOSO_F_STR, 1, 1, 64),
    FLD(hoso_req_submit, form, HOSO_F_MAP, 1, 0, 0),
    FLDE(hoso_req_submit, papers, HOSO_F_ARRAY, 0, 0, 100, &paper_elem),
    OP_ID(hoso_req_submit, 1),
    FLD(hoso_req_submit, channel, HOSO_F_STR, 0, 1, 32),
};
DESC(hoso_msg_submit, "submit", hoso_req_submit, NULL, 0);

static const hoso_field hoso_msg_supplement_fields[] = {
    FLD(hoso_req_supplement, form, HOSO_F_MAP, 0, 0, 0),
    FLDE(hoso_req_supplement, papers, HOSO_F_ARRAY, 0, 0, 100, &paper_elem),
    OP_ID(hoso_req_supplement, 1),
    FLDP(hoso_req_supplement, base_version, HOSO_F_INT, 0, 1, INT64_MAX, has_base_version),
};
DESC(hoso_msg_supplement, "supplement", hoso_req_supplement, NULL, 0);

static const hoso_field hoso_msg_withdraw_fields[] = {
    FLD(hoso_req_withdraw, reason, HOSO_F_STR, 1, 1, TEXT_MAX),
    OP_ID(hoso_req_withdraw, 1),
    FLDP(hoso_req_withdraw, base_version, HOSO_F_INT, 0, 1, INT64_MAX, has_base_version),
};
DESC(hoso_msg_withdraw, "withdraw", hoso_req_withdraw, NULL, 0);

#define MESSAGE_MAX 4000
static const hoso_field hoso_msg_message_fields[] = {
    FLD(hoso_req_message, text, HOSO_F_STR, 1, 1, MESSAGE_MAX),
    OP_ID(hoso_req_message, 1),
    FLD(hoso_req_message, files, HOSO_F_ARRAY, 0, 0, 10),
};
DESC(hoso_msg_message, "message", hoso_req_message, NULL, 0);
static const hoso_field hoso_msg_agency_message_fields[] = {
    FLD(hoso_req_message, text, HOSO_F_STR, 1, 1, MESSAGE_MAX),
    OP_ID(hoso_req_message, 0),
    FLD(hoso_req_message, files, HOSO_F_ARRAY, 0, 0, 10),
};
DESC(hoso_msg_agency_message, "agency message", hoso_req_message, NULL, 0);

static const hoso_field hoso_msg_rating_fields[] = {
    FLD(hoso_req_rating, answers, HOSO_F_MAP, 1, 1, 64),
    OP_ID(hoso_req_rating, 1),
};
DESC(hoso_msg_rating, "rating", hoso_req_rating, check_rating, 0);

static int check_lookup(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    const msgpack_object *v = hoso_map_get(obj, "phone_last4");
    if (v != NULL && v->type == MSGPACK_OBJECT_STR) {
        int ok = v->via.str.size == 4;
        for (uint32_t i = 0; ok && i < 4; i++)
            ok = v->via.str.ptr[i] >= '0' && v->via.str.ptr[i] <= '9';
        if (!ok)
            return fail_at(ei, prefix, "phone_last4", "must be the last 4 digits of the phone number");
    }
    return 0;
}

static const hoso_field hoso_msg_bot_lookup_fields[] = {
    FLD(hoso_req_bot_lookup, code, HOSO_F_STR, 1, 1, 96),
    FLD(hoso_req_bot_lookup, phone_last4, HOSO_F_STR, 1, 4, 4),
};
DESC(hoso_msg_bot_lookup, "bot lookup", hoso_req_bot_lookup, check_lookup, 0);

static const hoso_field hoso_msg_bot_subscribe_fields[] = {
    FLD(hoso_req_bot_subscribe, code, HOSO_F_STR, 1, 1, 63),
    FLD(hoso_req_bot_subscribe, phone_last4, HOSO_F_STR, 1, 4, 4),
    FLD(hoso_req_bot_subscribe, chat_ref, HOSO_F_STR, 1, 1, 256),
    FLD(hoso_req_bot_subscribe, callback_url, HOSO_F_STR, 1, 8, 2048),
    OP_ID(hoso_req_bot_subscribe, 0),
};
DESC(hoso_msg_bot_subscribe, "bot subscription", hoso_req_bot_subscribe, check_lookup, 0);

static const hoso_field hoso_msg_feedback_fields[] = {
    FLD(hoso_req_feedback, text, HOSO_F_STR, 1, 1, 4000),
    FLD(hoso_req_feedback, service, HOSO_F_STR, 0, 1, 64),
    OP_ID(hoso_req_feedback, 1),
};
DESC(hoso_msg_feedback, "feedback", hoso_req_feedback, NULL, 0);

static const hoso_field hoso_msg_paper_fields[] = {
    FLD(hoso_req_paper, type, HOSO_F_STR, 1, 1, 64),
    FLD(hoso_req_paper, number, HOSO_F_STR, 1, 1, 64),
    FLD(hoso_req_paper, issuer, HOSO_F_STR, 1, 1, 200),
    FLDP(hoso_req_paper, valid_until, HOSO_F_INT, 0, 0, INT64_MAX, has_valid_until),
    FLD(hoso_req_paper, sha256, HOSO_F_STR, 0, 64, 64),
    FLD(hoso_req_paper, file, HOSO_F_STR, 0, 32, 32),
    OP_ID(hoso_req_paper, 1),
};
DESC(hoso_msg_paper, "paper", hoso_req_paper, check_sha256, 0);

static const hoso_field hoso_msg_transition_fields[] = {
    FLD(hoso_req_transition, to, HOSO_F_INT, 1, HOSO_ST_MIN, HOSO_ST_MAX),
    FLD(hoso_req_transition, version, HOSO_F_INT, 1, 1, INT64_MAX),
    FLD(hoso_req_transition, note, HOSO_F_STR, 0, 0, TEXT_MAX),
    FLDP(hoso_req_transition, due_at, HOSO_F_INT, 0, 1, INT64_MAX, has_due_at),
    FLDP(hoso_req_transition, fee, HOSO_F_INT, 0, 0, INT64_MAX, has_fee),
    FLD(hoso_req_transition, reason, HOSO_F_STR, 0, 1, TEXT_MAX),
    FLD(hoso_req_transition, result, HOSO_F_STR, 0, 1, TEXT_MAX),
    FLD(hoso_req_transition, papers_required, HOSO_F_ARRAY, 0, 1, 100),
    FLD(hoso_req_transition, result_files, HOSO_F_ARRAY, 0, 1, 10),
    OP_ID(hoso_req_transition, 0),
};
DESC(hoso_msg_transition, "transition", hoso_req_transition, check_transition, 0);

static const hoso_field hoso_msg_apology_fields[] = {
    FLD(hoso_req_apology, new_due_at, HOSO_F_INT, 1, 1, INT64_MAX),
    FLD(hoso_req_apology, reason, HOSO_F_STR, 1, 1, TEXT_MAX),
    OP_ID(hoso_req_apology, 0),
};
DESC(hoso_msg_apology, "apology", hoso_req_apology, NULL, 0);
