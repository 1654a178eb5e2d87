/* Unit tests of protocol/decode.c: hoso_decode and every v1 request descriptor. */
#include "../unit.h"
#include "hoso_protocol.h"

typedef struct fixture {
    hoso_doc doc;
    hoso_errinfo ei;
    int rc;
} fixture;

/* Decodes JSON text (single quotes stand for double quotes) with desc into out. */
static void run(fixture *f, const hoso_msg_desc *desc, const char *text, void *out)
{
    char buf[4096];
    size_t n = strlen(text);
    EXPECT(n < sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    memset(&f->ei, 0, sizeof(f->ei));
    if (hoso_doc_from_json(&f->doc, buf, n, NULL, &f->ei) != 0)
        UNIT__FAIL("bad test JSON %s: %s", buf, f->ei.message);
    f->rc = hoso_decode(desc, &f->doc, &f->doc.root, out, &f->ei);
}

static const char *problem(const fixture *f, const char *field)
{
    for (size_t i = 0; i < f->ei.nfields; i++)
        if (strcmp(f->ei.fields[i].field, field) == 0)
            return f->ei.fields[i].problem;
    return NULL;
}

#define EXPECT_PROBLEM(f, field, part)                                                   \
    do {                                                                                 \
        const char *p_ = problem(f, field);                                              \
        if (p_ == NULL || strstr(p_, part) == NULL)                                      \
            UNIT__FAIL("field %s: problem \"%s\", expected \"%s\"", field, p_ ? p_ : "(none)", part); \
    } while (0)

/* Expects exactly one problem, on `field`. */
static void reject(const hoso_msg_desc *desc, const char *text, const char *field, const char *part)
{
    fixture f;
    char out[512];
    run(&f, desc, text, out);
    if (f.rc != HOSO_EVALIDATION_FAILED || f.ei.nfields != 1)
        UNIT__FAIL("%s: rc %d with %zu problems (first %s: %s), expected one on %s", text, f.rc, f.ei.nfields,
                   f.ei.nfields ? f.ei.fields[0].field : "-", f.ei.nfields ? f.ei.fields[0].problem : "-", field);
    EXPECT_INT(f.ei.err, HOSO_EVALIDATION_FAILED);
    EXPECT_PROBLEM(&f, field, part);
    hoso_doc_destroy(&f.doc);
}

static void accept_ok(const hoso_msg_desc *desc, const char *text)
{
    fixture f;
    char out[512];
    run(&f, desc, text, out);
    if (f.rc != 0)
        UNIT__FAIL("%s: rc %d, first problem %s: %s (%s)", text, f.rc, f.ei.nfields ? f.ei.fields[0].field : "-",
                   f.ei.nfields ? f.ei.fields[0].problem : "-", f.ei.message);
    hoso_doc_destroy(&f.doc);
}

#define REG_OK "'id_number':'001203004567','full_name':'Nguyễn Văn An','phone':'0912345678','password':'12345678'"

static void test_register(void)
{
    fixture f;
    hoso_req_register r;
    run(&f, &hoso_msg_register, "{" REG_OK "}", &r);
    EXPECT_INT(f.rc, 0);
    EXPECT_STR(r.id_number.ptr, "001203004567");
    EXPECT_INT(r.id_number.len, 12);
    EXPECT_STR(r.full_name.ptr, "Nguyễn Văn An");
    EXPECT_STR(r.password.ptr, "12345678");
    hoso_doc_destroy(&f.doc);

    accept_ok(&hoso_msg_register, "{'id_number':'123456789','full_name':'A','phone':'+84912345678','password':'12345678'}");
    reject(&hoso_msg_register, "{'id_number':'12345678','full_name':'A','phone':'0912345678','password':'12345678'}",
           "id_number", "too short");
    reject(&hoso_msg_register, "{'id_number':'1234567890123','full_name':'A','phone':'0912345678','password':'12345678'}",
           "id_number", "too long");
    reject(&hoso_msg_register, "{'id_number':'00120300456x','full_name':'A','phone':'0912345678','password':'12345678'}",
           "id_number", "digits only");
    reject(&hoso_msg_register, "{'id_number':'001203004567','full_name':'','phone':'0912345678','password':'12345678'}",
           "full_name", "must not be empty");
    reject(&hoso_msg_register, "{'id_number':'001203004567','full_name':'A','phone':'09-1234-5678','password':'12345678'}",
           "phone", "digits");
    reject(&hoso_msg_register, "{'id_number':'001203004567','full_name':'A','phone':'0912345678','password':'1234567'}",
           "password", "too short");
    reject(&hoso_msg_register, "{'id_number':'001203004567','full_name':'A','phone':'0912345678'}", "password",
           "required");
    reject(&hoso_msg_register, "{" REG_OK ",'role':'admin'}", "role", "unknown field");
    reject(&hoso_msg_register, "{'id_number':1203004567,'full_name':'A','phone':'0912345678','password':'12345678'}",
           "id_number", "must be a string");
}

static void test_register_reports_all_problems(void)
{
    fixture f;
    hoso_req_register r;
    run(&f, &hoso_msg_register, "{'id_number':5,'full_name':'','extra':1,'phone':null}", &r);
    EXPECT_INT(f.rc, HOSO_EVALIDATION_FAILED);
    EXPECT_INT(f.ei.nfields, 5);
    EXPECT_PROBLEM(&f, "extra", "unknown field");
    EXPECT_PROBLEM(&f, "id_number", "must be a string");
    EXPECT_PROBLEM(&f, "full_name", "must not be empty");
    EXPECT_PROBLEM(&f, "phone", "required");
    EXPECT_PROBLEM(&f, "password", "required");
    hoso_doc_destroy(&f.doc);
}

static void test_root_must_be_map(void)
{
    fixture f;
    hoso_req_login l;
    run(&f, &hoso_msg_login, "['id_number']", &l);
    EXPECT_INT(f.rc, HOSO_EBAD_REQUEST);
    EXPECT_INT(f.ei.err, HOSO_EBAD_REQUEST);
    EXPECT_INT(f.ei.nfields, 0);
    hoso_doc_destroy(&f.doc);
    run(&f, &hoso_msg_login, "'x'", &l);
    EXPECT_INT(f.rc, HOSO_EBAD_REQUEST);
    hoso_doc_destroy(&f.doc);
}

static void test_strings_are_checked_and_copied(void)
{
    /* NUL and invalid UTF-8 reach hoso_decode only through msgpack. */
    hoso_doc doc;
    hoso_errinfo ei = {0};
    hoso_req_withdraw w;
    static const char nul[] = "\x82\xa6reason\xa3" "a\0b" "\xa5op_id\xa1x";
    EXPECT_INT(hoso_doc_from_msgpack(&doc, nul, sizeof(nul) - 1, NULL, &ei), 0);
    EXPECT_INT(hoso_decode(&hoso_msg_withdraw, &doc, &doc.root, &w, &ei), HOSO_EVALIDATION_FAILED);
    EXPECT_STR(ei.fields[0].field, "reason");
    EXPECT_STR(ei.fields[0].problem, "must be valid UTF-8 without NUL bytes");
    hoso_doc_destroy(&doc);

    memset(&ei, 0, sizeof(ei));
    static const char bad[] = "\x82\xa6reason\xa2\xc3\x28\xa5op_id\xa1x";
    EXPECT_INT(hoso_doc_from_msgpack(&doc, bad, sizeof(bad) - 1, NULL, &ei), 0);
    EXPECT_INT(hoso_decode(&hoso_msg_withdraw, &doc, &doc.root, &w, &ei), HOSO_EVALIDATION_FAILED);
    EXPECT_STR(ei.fields[0].field, "reason");
    hoso_doc_destroy(&doc);

    memset(&ei, 0, sizeof(ei));
    static const char ok[] = "\x82\xa6reason\xa3" "abc" "\xa5op_id\xa1x";
    EXPECT_INT(hoso_doc_from_msgpack(&doc, ok, sizeof(ok) - 1, NULL, &ei), 0);
    EXPECT_INT(hoso_decode(&hoso_msg_withdraw, &doc, &doc.root, &w, &ei), 0);
    EXPECT_STR(w.reason.ptr, "abc");
    EXPECT_INT(w.reason.ptr[3], 0);
    EXPECT(w.reason.ptr != doc.root.via.map.ptr[0].val.via.str.ptr);
    EXPECT_INT(w.has_base_version, 0);
    hoso_doc_destroy(&doc);
}

static void test_login(void)
{
    fixture f;
    hoso_req_login l;
    run(&f, &hoso_msg_login, "{'username':'officer1','password':'pw'}", &l);
    EXPECT_INT(f.rc, 0);
    EXPECT_STR(l.username.ptr, "officer1");
    EXPECT(l.id_number.ptr == NULL);
    hoso_doc_destroy(&f.doc);
    accept_ok(&hoso_msg_login, "{'id_number':'001203004567','password':'pw'}");
    accept_ok(&hoso_msg_login, "{'id_number':'001203004567','username':null,'password':'pw'}");
    reject(&hoso_msg_login, "{'password':'pw'}", "id_number", "required");
    reject(&hoso_msg_login, "{'id_number':'001203004567','username':'u','password':'pw'}", "username", "not both");
    reject(&hoso_msg_login, "{'username':'u'}", "password", "required");
    reject(&hoso_msg_login, "{'username':'u','password':''}", "password", "must not be empty");
}

static void test_submit(void)
{
    fixture f;
    hoso_req_submit s;
    run(&f, &hoso_msg_submit,
        "{'service':'1.001','form':{'full_name':'A'},'papers':[{'type':'cccd','number':'1','sha256':"
        "'0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef'},{'id':'p1','type':'giay_khai_sinh'}],"
        "'op_id':'op-1','channel':'zalo'}",
        &s);
    EXPECT_INT(f.rc, 0);
    EXPECT_STR(s.service.ptr, "1.001");
    EXPECT_STR(s.channel.ptr, "zalo");
    EXPECT(s.form != NULL && s.form->type == MSGPACK_OBJECT_MAP);
    EXPECT(s.papers != NULL && s.papers->via.array.size == 2);
    hoso_doc_destroy(&f.doc);

    run(&f, &hoso_msg_submit, "{'service':'1.001','form':{},'op_id':'op-1'}", &s);
    EXPECT_INT(f.rc, 0);
    EXPECT(s.papers == NULL);
    EXPECT(s.channel.ptr == NULL);
    hoso_doc_destroy(&f.doc);

    reject(&hoso_msg_submit, "{'service':'1.001','op_id':'x'}", "form", "required");
    reject(&hoso_msg_submit, "{'service':'1.001','form':[],'op_id':'x'}", "form", "must be a map");
    reject(&hoso_msg_submit, "{'service':'1.001','form':{}}", "op_id", "required");
    reject(&hoso_msg_submit,
           "{'service':'1.001','form':{},'op_id':'01234567890123456789012345678901234567890123456789012345678901234'}",
           "op_id", "too long");
    reject(&hoso_msg_submit, "{'service':'1.001','form':{},'papers':{},'op_id':'x'}", "papers", "must be an array");
    reject(&hoso_msg_submit, "{'service':'1.001','form':{},'papers':[{'type':'a'},{'type':'b'},{'number':'1'}],'op_id':'x'}",
           "papers[2].type", "required");
    reject(&hoso_msg_submit, "{'service':'1.001','form':{},'papers':[{'type':'a','color':'red'}],'op_id':'x'}",
           "papers[0].color", "unknown field");
    reject(&hoso_msg_submit, "{'service':'1.001','form':{},'papers':[{'type':'a','sha256':'abc'}],'op_id':'x'}",
           "papers[0].sha256", "too short");
    reject(&hoso_msg_submit,
           "{'service':'1.001','form':{},'papers':[{'type':'a','sha256':"
           "'g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}],'op_id':'x'}",
           "papers[0].sha256", "hexadecimal");
    reject(&hoso_msg_submit, "{'service':'1.001','form':{},'papers':['cccd'],'op_id':'x'}", "papers[0]",
           "must be a map");
    reject(&hoso_msg_submit, "{'service':'','form':{},'op_id':'x'}", "service", "must not be empty");
}

static void test_supplement(void)
{
    fixture f;
    hoso_req_supplement s;
    run(&f, &hoso_msg_supplement, "{'op_id':'x','base_version':3,'form':{'a':1}}", &s);
    EXPECT_INT(f.rc, 0);
    EXPECT_INT(s.has_base_version, 1);
    EXPECT_INT(s.base_version, 3);
    EXPECT(s.papers == NULL);
    hoso_doc_destroy(&f.doc);
    accept_ok(&hoso_msg_supplement, "{'op_id':'x'}");
    reject(&hoso_msg_supplement, "{'form':{}}", "op_id", "required");
    reject(&hoso_msg_supplement, "{'op_id':'x','base_version':0}", "base_version", "at least 1");
    reject(&hoso_msg_supplement, "{'op_id':'x','base_version':1.5}", "base_version", "integer");
    reject(&hoso_msg_supplement, "{'op_id':'x','papers':[{}]}", "papers[0].type", "required");
    accept_ok(&hoso_msg_supplement, "{'op_id':'x','papers':[{'id':'0a1b'}]}");
}

static void test_withdraw(void)
{
    fixture f;
    hoso_req_withdraw w;
    run(&f, &hoso_msg_withdraw, "{'reason':'Nộp nhầm','op_id':'x','base_version':9}", &w);
    EXPECT_INT(f.rc, 0);
    EXPECT_STR(w.reason.ptr, "Nộp nhầm");
    EXPECT_INT(w.base_version, 9);
    EXPECT_INT(w.has_base_version, 1);
    hoso_doc_destroy(&f.doc);
    reject(&hoso_msg_withdraw, "{'op_id':'x'}", "reason", "required");
    reject(&hoso_msg_withdraw, "{'reason':'','op_id':'x'}", "reason", "must not be empty");
    reject(&hoso_msg_withdraw, "{'reason':'r','op_id':''}", "op_id", "must not be empty");
    reject(&hoso_msg_withdraw, "{'reason':'r','op_id':'x','base_version':'2'}", "base_version", "integer");
}

static void test_rating(void)
{
    fixture f;
    hoso_req_rating r;
    run(&f, &hoso_msg_rating, "{'answers':{'q1':5,'q2':1},'op_id':'x'}", &r);
    EXPECT_INT(f.rc, 0);
    EXPECT_INT(r.answers->via.map.size, 2);
    hoso_doc_destroy(&f.doc);
    reject(&hoso_msg_rating, "{'op_id':'x'}", "answers", "required");
    reject(&hoso_msg_rating, "{'answers':{},'op_id':'x'}", "answers", "between 1 and 64");
    reject(&hoso_msg_rating, "{'answers':{'q1':6},'op_id':'x'}", "answers.q1", "between 1 and 5");
    reject(&hoso_msg_rating, "{'answers':{'q1':'5'},'op_id':'x'}", "answers.q1", "between 1 and 5");
    reject(&hoso_msg_rating, "{'answers':{'q1':3}}", "op_id", "required");
}

static void test_feedback(void)
{
    fixture f;
    hoso_req_feedback fb;
    run(&f, &hoso_msg_feedback, "{'text':'Tốt','op_id':'x'}", &fb);
    EXPECT_INT(f.rc, 0);
    EXPECT(fb.service.ptr == NULL);
    hoso_doc_destroy(&f.doc);
    accept_ok(&hoso_msg_feedback, "{'text':'t','service':'1.001','op_id':'x'}");
    reject(&hoso_msg_feedback, "{'text':'','op_id':'x'}", "text", "must not be empty");
    reject(&hoso_msg_feedback, "{'text':'t','service':5,'op_id':'x'}", "service", "string");
    reject(&hoso_msg_feedback, "{'text':'t'}", "op_id", "required");

    char big[4200 + 64];
    memcpy(big, "{'op_id':'x','text':'", 21);
    memset(big + 21, 'a', 4001);
    strcpy(big + 21 + 4001, "'}");
    reject(&hoso_msg_feedback, big, "text", "at most 4000");
}

static void test_paper(void)
{
    fixture f;
    hoso_req_paper p;
    run(&f, &hoso_msg_paper,
        "{'type':'cccd','number':'001203004567','issuer':'Cục CS QLHC','valid_until':1900000000000,'op_id':'x'}", &p);
    EXPECT_INT(f.rc, 0);
    EXPECT_INT(p.valid_until, 1900000000000LL);
    EXPECT_INT(p.has_valid_until, 1);
    EXPECT(p.sha256.ptr == NULL);
    hoso_doc_destroy(&f.doc);
    reject(&hoso_msg_paper, "{'number':'1','issuer':'i','op_id':'x'}", "type", "required");
    reject(&hoso_msg_paper, "{'type':'t','issuer':'i','op_id':'x'}", "number", "required");
    reject(&hoso_msg_paper, "{'type':'t','number':'1','op_id':'x'}", "issuer", "required");
    reject(&hoso_msg_paper, "{'type':'t','number':'1','issuer':'i','valid_until':-1,'op_id':'x'}", "valid_until",
           "at least 0");
    reject(&hoso_msg_paper, "{'type':'t','number':'1','issuer':'i','sha256':'zz','op_id':'x'}", "sha256", "too short");
    reject(&hoso_msg_paper, "{'type':'t','number':'1','issuer':'i'}", "op_id", "required");
}

static void test_transition(void)
{
    fixture f;
    hoso_req_transition t;
    run(&f, &hoso_msg_transition, "{'to':5,'version':3,'note':'','papers_required':['cccd','so_ho_khau'],'fee':0}", &t);
    EXPECT_INT(f.rc, 0);
    EXPECT_INT(t.to, 5);
    EXPECT_INT(t.version, 3);
    EXPECT_INT(t.has_fee, 1);
    EXPECT_INT(t.has_due_at, 0);
    EXPECT_STR(t.note.ptr, "");
    EXPECT_INT(t.papers_required->via.array.size, 2);
    hoso_doc_destroy(&f.doc);
    accept_ok(&hoso_msg_transition, "{'to':2,'version':1,'due_at':1795000000000,'op_id':'t'}");
    reject(&hoso_msg_transition, "{'version':1}", "to", "required");
    reject(&hoso_msg_transition, "{'to':0,'version':1}", "to", "between 1 and 10");
    reject(&hoso_msg_transition, "{'to':11,'version':1}", "to", "between 1 and 10");
    reject(&hoso_msg_transition, "{'to':4}", "version", "required");
    reject(&hoso_msg_transition, "{'to':4,'version':0}", "version", "at least 1");
    reject(&hoso_msg_transition, "{'to':6,'version':1,'fee':-5}", "fee", "at least 0");
    reject(&hoso_msg_transition, "{'to':5,'version':1,'papers_required':[]}", "papers_required", "between 1 and 100");
    reject(&hoso_msg_transition, "{'to':5,'version':1,'papers_required':['a',7]}", "papers_required[1]",
           "non-empty");
    reject(&hoso_msg_transition, "{'to':3,'version':1,'reason':''}", "reason", "must not be empty");
    reject(&hoso_msg_transition, "{'to':3,'version':1,'reason':'r','why':'r'}", "why", "unknown field");

    /* A uint64 past INT64_MAX only arrives through msgpack. */
    hoso_doc doc;
    hoso_errinfo ei = {0};
    static const char big[] = "\x82\xa2to\x03\xa7version\xcf\xff\xff\xff\xff\xff\xff\xff\xff";
    EXPECT_INT(hoso_doc_from_msgpack(&doc, big, sizeof(big) - 1, NULL, &ei), 0);
    EXPECT_INT(hoso_decode(&hoso_msg_transition, &doc, &doc.root, &t, &ei), HOSO_EVALIDATION_FAILED);
    EXPECT_STR(ei.fields[0].field, "version");
    EXPECT_STR(ei.fields[0].problem, "must be an integer");
    hoso_doc_destroy(&doc);
}

static void test_apology(void)
{
    fixture f;
    hoso_req_apology a;
    run(&f, &hoso_msg_apology, "{'new_due_at':1795000000000,'reason':'Xin lỗi vì trễ hạn'}", &a);
    EXPECT_INT(f.rc, 0);
    EXPECT_INT(a.new_due_at, 1795000000000LL);
    hoso_doc_destroy(&f.doc);
    reject(&hoso_msg_apology, "{'reason':'r'}", "new_due_at", "required");
    reject(&hoso_msg_apology, "{'new_due_at':1}", "reason", "required");
    reject(&hoso_msg_apology, "{'new_due_at':'tomorrow','reason':'r'}", "new_due_at", "integer");
}

static void test_custom_descriptor(void)
{
    typedef struct {
        int64_t n;
        int flag, has_n;
        const msgpack_object *any;
    } rec;
    static const hoso_field fields[] = {
        {"n", HOSO_F_INT, 0, offsetof(rec, n), offsetof(rec, has_n), -5, 5, NULL},
        {"flag", HOSO_F_BOOL, 1, offsetof(rec, flag), (size_t)-1, 0, 0, NULL},
        {"any", HOSO_F_ANY, 0, offsetof(rec, any), (size_t)-1, 0, 0, NULL},
    };
    static const hoso_msg_desc desc = {"custom", fields, 3, NULL, HOSO_DESC_OPEN, sizeof(rec)};
    fixture f;
    rec r;
    run(&f, &desc, "{'n':-5,'flag':true,'any':[1],'other':1}", &r);
    EXPECT_INT(f.rc, 0);
    EXPECT_INT(r.n, -5);
    EXPECT_INT(r.has_n, 1);
    EXPECT_INT(r.flag, 1);
    EXPECT_INT(r.any->type, MSGPACK_OBJECT_ARRAY);
    hoso_doc_destroy(&f.doc);
    reject(&desc, "{'flag':1}", "flag", "true or false");
    reject(&desc, "{'flag':false,'n':-6}", "n", "between -5 and 5");
}

UNIT_MAIN(UNIT(test_register), UNIT(test_register_reports_all_problems), UNIT(test_root_must_be_map),
          UNIT(test_strings_are_checked_and_copied), UNIT(test_login), UNIT(test_submit), UNIT(test_supplement),
          UNIT(test_withdraw), UNIT(test_rating), UNIT(test_feedback), UNIT(test_paper), UNIT(test_transition),
          UNIT(test_apology), UNIT(test_custom_descriptor))
