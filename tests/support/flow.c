/*
 * flow.c - the steps most tests share: accounts, choosing a service from the live
 * catalogue and building a valid form for it (so no test hard-codes the catalogue),
 * submitting, moving a dossier, counting lists.
 */
#define _GNU_SOURCE
#include "hoso_test.h"

static unsigned next_seq(void)
{
    static unsigned seq;
    return __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
}

void ht_op_id(char *buf, size_t n)
{
    snprintf(buf, n, "t-%d-%u-%lld", (int)getpid(), next_seq(), (long long)(ht_mono_ms() % 100000));
}

void ht_login(ht_conn *c, ht_user *u, int officer)
{
    json_t *b = json_pack("{s:s, s:s}", officer ? "username" : "id_number", u->login, "password", u->password);
    ht_resp r;
    if (ht_mp_callj(c, "POST", "/v1/auth/login", NULL, b, &r) != 0) ht_fail("login: no reply");
    json_decref(b);
    HT_EXPECT_REPLY(&r, 200, NULL);
    const char *t = ht_jstr(r.json, "token");
    if (!t || !*t) ht_fail("login reply has no token: %s", ht_dump(r.json));
    snprintf(u->token, sizeof(u->token), "%s", t);
    const char *id = ht_jstr(r.json, "account.id");
    snprintf(u->id, sizeof(u->id), "%s", id ? id : "");
    ht_resp_free(&r);
}

void ht_citizen_new(ht_conn *c, ht_user *u)
{
    memset(u, 0, sizeof(*u));
    unsigned n = next_seq();
    /* A citizen identity number (CCCD) has 12 digits: province, century/sex, year,
     * then a serial; the serial makes it unique within this data dir. */
    snprintf(u->login, sizeof(u->login), "001095%06u", (unsigned)((getpid() % 1000) * 1000 + n % 1000) % 1000000);
    snprintf(u->phone, sizeof(u->phone), "09%08u", (unsigned)(getpid() * 1000u + n) % 100000000u);
    snprintf(u->password, sizeof(u->password), "Mat-khau-%u-An!", n);
    json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "id_number", u->login, "full_name", "Nguyễn Văn An", "phone",
                          u->phone, "password", u->password);
    ht_resp r;
    if (ht_mp_callj(c, "POST", "/v1/auth/register", NULL, b, &r) != 0) ht_fail("register: no reply");
    json_decref(b);
    if (r.status != 200 && r.status != 201) HT_EXPECT_REPLY(&r, 201, NULL);
    ht_resp_free(&r);
    ht_login(c, u, 0);
}

void ht_officer_new(const ht_server *s, ht_conn *c, const char *agency, ht_user *u)
{
    memset(u, 0, sizeof(*u));
    unsigned n = next_seq();
    snprintf(u->login, sizeof(u->login), "canbo%u_%d", n, (int)getpid());
    snprintf(u->password, sizeof(u->password), "Can-bo-%u-Pass!", n);
    snprintf(u->agency, sizeof(u->agency), "%s", agency);
    char args[512];
    snprintf(args, sizeof(args), "create-officer --username '%s' --password '%s' --agency '%s'", u->login,
             u->password, agency);
    free(ht_admin(s, args));
    ht_login(c, u, 1);
}

/* A form can be built when every field has a type we know how to fill. */
static int form_fillable(const json_t *svc)
{
    json_t *form = json_object_get(svc, "form");
    if (!json_is_array(form)) return 0;
    size_t i;
    json_t *f;
    json_array_foreach(form, i, f) {
        const char *type = ht_jstr(f, "type");
        if (!ht_jstr(f, "key") || !type) return 0;
        if (strcmp(type, "enum") == 0) {
            if (!json_is_array(json_object_get(f, "options")) || json_array_size(json_object_get(f, "options")) == 0)
                return 0;
        } else if (strcmp(type, "text") && strcmp(type, "number") && strcmp(type, "date")) {
            return 0;
        }
    }
    return ht_jstr(svc, "code") && ht_jstr(svc, "agency");
}

void ht_service_pick(ht_conn *c, ht_service *out, int nth, const char *not_agency)
{
    memset(out, 0, sizeof(*out));
    ht_resp r;
    if (ht_mp_call(c, "GET", "/v1/services", NULL, NULL, &r) != 0) ht_fail("GET /v1/services: no reply");
    HT_EXPECT_REPLY(&r, 200, NULL);
    json_t *items = ht_items(&r, "services");
    if (!items || json_array_size(items) == 0) ht_fail("empty catalogue: %s", ht_dump(r.json));
    json_t *chosen = NULL;
    /* Past the end of the fillable services, count round again. */
    int fillable = 0;
    size_t j;
    json_t *it;
    json_array_foreach(items, j, it) fillable += form_fillable(it);
    if (fillable > 0) nth %= fillable;
    for (int pass = 0; pass < 2 && !chosen; pass++) {
        int seen = 0;
        size_t i;
        json_t *svc;
        json_array_foreach(items, i, svc) {
            if (!form_fillable(svc)) continue;
            if (pass == 0 && not_agency && strcmp(ht_jstr(svc, "agency"), not_agency) == 0) continue;
            if (seen++ == nth) {
                chosen = svc;
                break;
            }
        }
    }
    if (!chosen) ht_fail("no service in the catalogue has a form the tests can fill: %s", ht_dump(items));
    out->svc = json_incref(chosen);
    snprintf(out->code, sizeof(out->code), "%s", ht_jstr(chosen, "code"));
    snprintf(out->agency, sizeof(out->agency), "%s", ht_jstr(chosen, "agency"));
    ht_resp_free(&r);
}

void ht_service_free(ht_service *s)
{
    if (s->svc) json_decref(s->svc);
    memset(s, 0, sizeof(*s));
}

void ht_world_start(ht_world *w, const char *extra_args)
{
    ht_server_start(&w->s, extra_args);
    ht_conn_init(&w->c, w->s.port);
    ht_citizen_new(&w->c, &w->cit);
    ht_service_pick(&w->c, &w->svc, 0, NULL);
    ht_officer_new(&w->s, &w->c, w->svc.agency, &w->off);
}

void ht_world_stop(ht_world *w)
{
    ht_service_free(&w->svc);
    ht_conn_close(&w->c);
    ht_server_stop(&w->s);
}

json_t *ht_valid_form(const ht_service *s)
{
    json_t *form = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(s->svc, "form"), i, f) {
        const char *key = ht_jstr(f, "key"), *type = ht_jstr(f, "type");
        json_t *v;
        if (strcmp(type, "number") == 0) v = json_integer(2);
        else if (strcmp(type, "date") == 0) v = json_string("1995-06-15");
        /* A copy, not a reference: tests build forms on several threads, and a shared
         * jansson value's refcount is not theirs to share. */
        else if (strcmp(type, "enum") == 0) v = json_string(json_string_value(json_array_get(json_object_get(f, "options"), 0)));
        else v = json_string("Nguyễn Văn An, số 1 phố Tràng Tiền, Hà Nội");
        json_object_set_new(form, key, v);
    }
    return form;
}

json_t *ht_valid_papers(const ht_service *s)
{
    json_t *papers = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(s->svc, "papers"), i, p) {
        if (!json_is_true(json_object_get(p, "required")) || !ht_jstr(p, "type")) continue;
        char num[32];
        snprintf(num, sizeof(num), "GT-%zu-%u", i, next_seq());
        json_array_append_new(papers, json_pack("{s:s, s:s, s:s, s:s}", "type", ht_jstr(p, "type"), "number", num,
                                                "issuer", "Công an thành phố Hà Nội", "sha256",
                                                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
    }
    return papers;
}

json_t *ht_valid_submit(const ht_service *s, const char *op_id)
{
    char op[80];
    if (!op_id) {
        ht_op_id(op, sizeof(op));
        op_id = op;
    }
    return json_pack("{s:s, s:o, s:o, s:s}", "service", s->code, "form", ht_valid_form(s), "papers",
                     ht_valid_papers(s), "op_id", op_id);
}

void ht_submit(ht_conn *c, const ht_user *u, const ht_service *s, char *code, size_t n)
{
    json_t *b = ht_valid_submit(s, NULL);
    ht_resp r;
    if (ht_mp_callj(c, "POST", "/v1/dossiers", u->token, b, &r) != 0) ht_fail("submit: no reply");
    json_decref(b);
    HT_EXPECT_REPLY(&r, 201, NULL);
    const char *cd = ht_jstr(ht_dossier_of(&r), "code");
    if (!cd) ht_fail("submit reply has no dossier code: %s", ht_dump(r.json));
    snprintf(code, n, "%s", cd);
    ht_resp_free(&r);
}

int ht_submit_until_full(ht_conn *c, const ht_user *u, const ht_service *s, char (*codes)[64], int max)
{
    int n = 0;
    for (int i = 0; i < max; i++) {
        json_t *b = ht_valid_submit(s, NULL);
        ht_resp r;
        ht_mp_callj(c, "POST", "/v1/dossiers", u->token, b, &r);
        json_decref(b);
        if (r.status != 201) {
            HT_EXPECT_REPLY(&r, 503, "UNAVAILABLE");
            const char *msg = ht_jstr(r.json, "error.message");
            if (!msg || !strstr(msg, "storage is full")) ht_fail("503 without 'storage is full': %s", r.body);
            ht_resp_free(&r);
            return n;
        }
        if (n < max) snprintf(codes[n++], 64, "%s", ht_jstr(ht_dossier_of(&r), "code"));
        ht_resp_free(&r);
    }
    ht_fail("%d submissions did not fill the store", max);
}

int ht_get_dossier(ht_conn *c, const char *token, const char *code, ht_resp *out)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/dossiers/%s", code);
    return ht_mp_call(c, "GET", path, token, NULL, out);
}

int ht_transition(ht_conn *c, const ht_user *officer, const char *code, int to, long long version, ht_resp *out)
{
    if (version < 0) {
        ht_resp g;
        ht_get_dossier(c, officer->token, code, &g);
        HT_EXPECT_REPLY(&g, 200, NULL);
        version = ht_jint(ht_dossier_of(&g), "version");
        ht_resp_free(&g);
    }
    json_t *b = json_pack("{s:i, s:I, s:s}", "to", to, "version", (json_int_t)version, "note", "Cán bộ một cửa ghi chú");
    switch (to) {
    case 3:
    case 8:
        json_object_set_new(b, "reason", json_string("Hồ sơ không đủ điều kiện"));
        break;
    case 5:
        json_object_set_new(b, "papers_required", json_pack("[s]", "giay_khai_sinh"));
        break;
    case 6:
        json_object_set_new(b, "fee", json_integer(50000));
        break;
    case 9:
        json_object_set_new(b, "result", json_string("Giấy chứng nhận đã sẵn sàng tại bộ phận một cửa"));
        break;
    }
    char path[256];
    snprintf(path, sizeof(path), "/v1/agency/dossiers/%s/transitions", code);
    int rc = ht_mp_callj(c, "POST", path, officer->token, b, out);
    json_decref(b);
    return rc == 0 ? out->status : -1;
}

long ht_count_list(ht_conn *c, const char *token, const char *path)
{
    long total = 0;
    char cursor[256] = "";
    for (int page = 0; page < 1000; page++) {
        char p[600];
        if (cursor[0])
            snprintf(p, sizeof(p), "%s%scursor=%s", path, strchr(path, '?') ? "&" : "?", cursor);
        else
            snprintf(p, sizeof(p), "%s", path);
        ht_resp r;
        if (ht_mp_call(c, "GET", p, token, NULL, &r) != 0 || r.status != 200) {
            fprintf(stderr, "GET %s: %d %s\n", p, r.status, ht_dump(r.json));
            ht_resp_free(&r);
            return -1;
        }
        json_t *items = ht_items(&r, "dossiers");
        if (!items) {
            fprintf(stderr, "GET %s: no list in %s\n", p, ht_dump(r.json));
            ht_resp_free(&r);
            return -1;
        }
        total += (long)json_array_size(items);
        json_t *next = json_object_get(r.json, "next");
        cursor[0] = 0;
        if (json_is_string(next)) snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        else if (json_is_integer(next) && json_integer_value(next) > 0)
            snprintf(cursor, sizeof(cursor), "%lld", (long long)json_integer_value(next));
        int more = json_array_size(items) > 0 && cursor[0];
        ht_resp_free(&r);
        if (!more) break;
    }
    return total;
}
