/*
 * service.c - the catalogue's service definition (decode, encode) and validation of a
 * submitted form against it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct kind_row {
    hoso_field_kind kind;
    const char *name;
} kind_row;

static const kind_row kinds[] = {
    {HOSO_FK_TEXT, "text"},
    {HOSO_FK_NUMBER, "number"},
    {HOSO_FK_DATE, "date"},
    {HOSO_FK_ENUM, "enum"},
};

static int kind_of(const hoso_str *s, hoso_field_kind *out)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strlen(kinds[i].name) == s->len && memcmp(kinds[i].name, s->ptr, s->len) == 0) {
            *out = kinds[i].kind;
            return 1;
        }
    return 0;
}

static const char *kind_name(hoso_field_kind k)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "text";
}

/* ---- descriptors of the catalogue shape ------------------------------------------ */

typedef struct form_field_rec {
    hoso_str key, label, type;
    int required;
    const msgpack_object *options;
} form_field_rec;

static int check_form_field(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    char name[64];
    const msgpack_object *t = hoso_map_get(obj, "type"), *o = hoso_map_get(obj, "options");
    int r = 0;
    if (t != NULL && t->type == MSGPACK_OBJECT_STR) {
        hoso_str s = {t->via.str.ptr, t->via.str.size};
        hoso_field_kind k;
        if (!kind_of(&s, &k)) {
            hoso__field_name(name, sizeof(name), prefix, "type");
            r = hoso_fail_field(ei, name, "must be text, number, date or enum");
        } else if (k == HOSO_FK_ENUM && (o == NULL || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0)) {
            hoso__field_name(name, sizeof(name), prefix, "options");
            r = hoso_fail_field(ei, name, "required for an enum field");
        }
    }
    if (o != NULL && o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const msgpack_object *v = &o->via.array.ptr[i];
            if (v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0 ||
                !hoso_utf8_valid(v->via.str.ptr, v->via.str.size)) {
                hoso__field_name(name, sizeof(name), prefix, "options");
                r = hoso_fail_field(ei, name, "must be non-empty strings");
                break;
            }
        }
    }
    return r;
}

static const hoso_field form_field_fields[] = {
    {"key", HOSO_F_STR, 1, offsetof(form_field_rec, key), (size_t)-1, 1, 64, NULL},
    {"label", HOSO_F_STR, 1, offsetof(form_field_rec, label), (size_t)-1, 1, 500, NULL},
    {"type", HOSO_F_STR, 1, offsetof(form_field_rec, type), (size_t)-1, 1, 16, NULL},
    {"required", HOSO_F_BOOL, 0, offsetof(form_field_rec, required), (size_t)-1, 0, 0, NULL},
    {"options", HOSO_F_ARRAY, 0, offsetof(form_field_rec, options), (size_t)-1, 0, 200, NULL},
};
static const hoso_msg_desc form_field_desc = {"form field", form_field_fields, 5, check_form_field, 0,
                                              sizeof(form_field_rec)};

static const hoso_field paper_req_fields[] = {
    {"type", HOSO_F_STR, 1, offsetof(hoso_paper_req, type), (size_t)-1, 1, 64, NULL},
    {"label", HOSO_F_STR, 1, offsetof(hoso_paper_req, label), (size_t)-1, 1, 500, NULL},
    {"required", HOSO_F_BOOL, 0, offsetof(hoso_paper_req, required), (size_t)-1, 0, 0, NULL},
};
static const hoso_msg_desc paper_req_desc = {"paper requirement", paper_req_fields, 3, NULL, 0,
                                             sizeof(hoso_paper_req)};

typedef struct service_rec {
    hoso_str code, name, agency, level;
    int64_t processing_days, fee;
    const msgpack_object *form, *papers;
} service_rec;

int hoso_agency_code_valid(const char *s, size_t len)
{
    /* NNN.NN.NN.XNN: three levels of digits and the first-level unit, a capital letter
     * and two digits (Decision 20/2020/QD-TTg), e.g. 000.00.12.H29. */
    static const char shape[] = "999.99.99.A99";
    if (len != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i], want = shape[i];
        if ((want == '9' && (c < '0' || c > '9')) || (want == 'A' && (c < 'A' || c > 'Z')) ||
            (want == '.' && c != '.'))
            return 0;
    }
    return 1;
}

static int check_service(const msgpack_object *obj, const char *prefix, hoso_errinfo *ei)
{
    const msgpack_object *level = hoso_map_get(obj, "level"), *form = hoso_map_get(obj, "form");
    const msgpack_object *agency = hoso_map_get(obj, "agency");
    int r = 0;
    if (agency != NULL && agency->type == MSGPACK_OBJECT_STR &&
        !hoso_agency_code_valid(agency->via.str.ptr, agency->via.str.size))
        r = hoso_fail_field(ei, "agency", "must be an agency identifier like 000.00.12.H29 (Decision 20/2020/QĐ-TTg)");
    if (level != NULL && level->type == MSGPACK_OBJECT_STR && !hoso_obj_streq(level, "full") &&
        !hoso_obj_streq(level, "partial"))
        r = hoso_fail_field(ei, "level", "must be full or partial");
    if (form == NULL || form->type != MSGPACK_OBJECT_ARRAY)
        return r;
    /* A form key names one answer; two definitions of it would make validation
     * ambiguous. */
    for (uint32_t i = 1; i < form->via.array.size; i++) {
        const msgpack_object *ki = hoso_map_get(&form->via.array.ptr[i], "key");
        if (ki == NULL || ki->type != MSGPACK_OBJECT_STR)
            continue;
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object *kj = hoso_map_get(&form->via.array.ptr[j], "key");
            if (kj != NULL && kj->type == MSGPACK_OBJECT_STR && kj->via.str.size == ki->via.str.size &&
                memcmp(kj->via.str.ptr, ki->via.str.ptr, ki->via.str.size) == 0) {
                char name[64];
                snprintf(name, sizeof(name), "form[%u].key", (unsigned)i);
                r = hoso_fail_field(ei, name, "duplicate key");
                break;
            }
        }
    }
    return r;
}

static const hoso_field service_fields[] = {
    {"code", HOSO_F_STR, 1, offsetof(service_rec, code), (size_t)-1, 1, 64, NULL},
    {"name", HOSO_F_STR, 1, offsetof(service_rec, name), (size_t)-1, 1, 1000, NULL},
    {"agency", HOSO_F_STR, 1, offsetof(service_rec, agency), (size_t)-1, 1, 64, NULL},
    {"level", HOSO_F_STR, 1, offsetof(service_rec, level), (size_t)-1, 1, 16, NULL},
    {"processing_days", HOSO_F_INT, 1, offsetof(service_rec, processing_days), (size_t)-1, 0, 3650, NULL},
    {"fee", HOSO_F_INT, 0, offsetof(service_rec, fee), (size_t)-1, 0, INT64_MAX, NULL},
    {"form", HOSO_F_ARRAY, 0, offsetof(service_rec, form), (size_t)-1, 0, 200, &form_field_desc},
    {"papers", HOSO_F_ARRAY, 0, offsetof(service_rec, papers), (size_t)-1, 0, 100, &paper_req_desc},
};
static const hoso_msg_desc service_desc = {"service", service_fields, 8, check_service, 0, sizeof(service_rec)};

static int decode_form(hoso_doc *doc, const msgpack_object *arr, hoso_service *out, hoso_errinfo *ei)
{
    out->nform = arr->via.array.size;
    if (out->nform == 0)
        return 0;
    out->form = msgpack_zone_malloc(&doc->zone, out->nform * sizeof(*out->form));
    if (out->form == NULL)
        return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
    for (size_t i = 0; i < out->nform; i++) {
        form_field_rec rec;
        hoso_form_field *f = &out->form[i];
        int r;
        memset(&rec, 0, sizeof(rec));
        memset(f, 0, sizeof(*f));
        if ((r = hoso__decode_at(&form_field_desc, doc, &arr->via.array.ptr[i], &rec, "form", ei)) != 0)
            return r;
        f->key = rec.key;
        f->label = rec.label;
        f->required = rec.required;
        kind_of(&rec.type, &f->kind);
        if (rec.options == NULL || f->kind != HOSO_FK_ENUM)
            continue;
        f->noptions = rec.options->via.array.size;
        if ((f->options = msgpack_zone_malloc(&doc->zone, f->noptions * sizeof(hoso_str))) == NULL)
            return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        for (size_t j = 0; j < f->noptions; j++) {
            const msgpack_object *o = &rec.options->via.array.ptr[j];
            if (hoso_zone_str(&doc->zone, o->via.str.ptr, o->via.str.size, &f->options[j]) != 0)
                return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        }
    }
    return 0;
}

int hoso_service_decode(hoso_doc *doc, const msgpack_object *root, hoso_service *out, hoso_errinfo *ei)
{
    service_rec rec;
    int r;
    memset(out, 0, sizeof(*out));
    if ((r = hoso_decode(&service_desc, doc, root, &rec, ei)) != 0)
        return r;
    out->code = rec.code;
    out->name = rec.name;
    out->agency = rec.agency;
    out->level = rec.level;
    out->processing_days = rec.processing_days;
    out->fee = rec.fee;
    if (rec.form != NULL && (r = decode_form(doc, rec.form, out, ei)) != 0)
        return r;
    if (rec.papers != NULL && rec.papers->via.array.size > 0) {
        out->npapers = rec.papers->via.array.size;
        out->papers = msgpack_zone_malloc(&doc->zone, out->npapers * sizeof(*out->papers));
        if (out->papers == NULL)
            return hoso_fail(ei, HOSO_ENOMEM, "out of memory");
        for (size_t i = 0; i < out->npapers; i++)
            if ((r = hoso__decode_at(&paper_req_desc, doc, &rec.papers->via.array.ptr[i], &out->papers[i],
                                     "papers", ei)) != 0)
                return r;
    }
    return 0;
}

static int pack_hstr(msgpack_packer *pk, const hoso_str *s)
{
    return hoso_pack_str(pk, s->ptr ? s->ptr : "", s->len);
}

static int pack_bool(msgpack_packer *pk, int v)
{
    return v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

int hoso_service_encode(msgpack_packer *pk, const hoso_service *s)
{
    int r = 0;
    r |= msgpack_pack_map(pk, 8);
    r |= hoso_pack_cstr(pk, "code");
    r |= pack_hstr(pk, &s->code);
    r |= hoso_pack_cstr(pk, "name");
    r |= pack_hstr(pk, &s->name);
    r |= hoso_pack_cstr(pk, "agency");
    r |= pack_hstr(pk, &s->agency);
    r |= hoso_pack_cstr(pk, "level");
    r |= pack_hstr(pk, &s->level);
    r |= hoso_pack_cstr(pk, "processing_days");
    r |= msgpack_pack_int64(pk, s->processing_days);
    r |= hoso_pack_cstr(pk, "fee");
    r |= msgpack_pack_int64(pk, s->fee);
    r |= hoso_pack_cstr(pk, "form");
    r |= msgpack_pack_array(pk, s->nform);
    for (size_t i = 0; i < s->nform; i++) {
        const hoso_form_field *f = &s->form[i];
        int opts = f->kind == HOSO_FK_ENUM;
        r |= msgpack_pack_map(pk, opts ? 5 : 4);
        r |= hoso_pack_cstr(pk, "key");
        r |= pack_hstr(pk, &f->key);
        r |= hoso_pack_cstr(pk, "label");
        r |= pack_hstr(pk, &f->label);
        r |= hoso_pack_cstr(pk, "type");
        r |= hoso_pack_cstr(pk, kind_name(f->kind));
        r |= hoso_pack_cstr(pk, "required");
        r |= pack_bool(pk, f->required);
        if (opts) {
            r |= hoso_pack_cstr(pk, "options");
            r |= msgpack_pack_array(pk, f->noptions);
            for (size_t j = 0; j < f->noptions; j++)
                r |= pack_hstr(pk, &f->options[j]);
        }
    }
    r |= hoso_pack_cstr(pk, "papers");
    r |= msgpack_pack_array(pk, s->npapers);
    for (size_t i = 0; i < s->npapers; i++) {
        r |= msgpack_pack_map(pk, 3);
        r |= hoso_pack_cstr(pk, "type");
        r |= pack_hstr(pk, &s->papers[i].type);
        r |= hoso_pack_cstr(pk, "label");
        r |= pack_hstr(pk, &s->papers[i].label);
        r |= hoso_pack_cstr(pk, "required");
        r |= pack_bool(pk, s->papers[i].required);
    }
    return r ? HOSO_ENOMEM : 0;
}

/* ---- form validation ---------------------------------------------------------- */

static const hoso_form_field *form_field(const hoso_service *s, const msgpack_object *key)
{
    for (size_t i = 0; i < s->nform; i++)
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == s->form[i].key.len &&
            memcmp(key->via.str.ptr, s->form[i].key.ptr, s->form[i].key.len) == 0)
            return &s->form[i];
    return NULL;
}

static const char *value_problem(const hoso_form_field *f, const msgpack_object *v)
{
    switch (f->kind) {
    case HOSO_FK_NUMBER:
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER || v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            return NULL;
        if ((v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64) && isfinite(v->via.f64))
            return NULL;
        return "must be a number";
    case HOSO_FK_DATE:
        if (v->type != MSGPACK_OBJECT_STR || !hoso_date_parse(v->via.str.ptr, v->via.str.size, NULL, NULL, NULL))
            return "must be a date YYYY-MM-DD";
        return NULL;
    case HOSO_FK_ENUM:
        if (v->type == MSGPACK_OBJECT_STR)
            for (size_t i = 0; i < f->noptions; i++)
                if (v->via.str.size == f->options[i].len &&
                    memcmp(v->via.str.ptr, f->options[i].ptr, f->options[i].len) == 0)
                    return NULL;
        return "must be one of the options";
    case HOSO_FK_TEXT:
    default:
        if (v->type != MSGPACK_OBJECT_STR)
            return "must be a string";
        if (!hoso_utf8_valid(v->via.str.ptr, v->via.str.size))
            return "must be valid UTF-8 without NUL bytes";
        if (f->required && v->via.str.size == 0)
            return "required";
        return NULL;
    }
}

int hoso_form_validate(const hoso_service *s, const msgpack_object *form, hoso_errinfo *ei)
{
    char name[64];
    int bad = 0;
    if (form == NULL || form->type != MSGPACK_OBJECT_MAP)
        return hoso_fail_field(ei, "form", "must be a map");
    for (uint32_t i = 0; i < form->via.map.size; i++) {
        const msgpack_object *k = &form->via.map.ptr[i].key;
        if (form_field(s, k) != NULL)
            continue;
        if (k->type == MSGPACK_OBJECT_STR)
            snprintf(name, sizeof(name), "form.%.*s", (int)(k->via.str.size > 40 ? 40 : k->via.str.size),
                     k->via.str.ptr);
        else
            snprintf(name, sizeof(name), "form.?");
        bad = hoso_fail_field(ei, name, "unknown field");
    }
    for (size_t i = 0; i < s->nform; i++) {
        const hoso_form_field *f = &s->form[i];
        const msgpack_object *v = NULL;
        for (uint32_t j = 0; j < form->via.map.size && v == NULL; j++)
            if (form_field(s, &form->via.map.ptr[j].key) == f)
                v = &form->via.map.ptr[j].val;
        snprintf(name, sizeof(name), "form.%.*s", (int)(f->key.len > 40 ? 40 : f->key.len), f->key.ptr);
        if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
            if (f->required)
                bad = hoso_fail_field(ei, name, "required");
            continue;
        }
        const char *problem = value_problem(f, v);
        if (problem != NULL)
            bad = hoso_fail_field(ei, name, problem);
    }
    return bad ? HOSO_EVALIDATION_FAILED : 0;
}
