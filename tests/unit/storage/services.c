/*
 * tests/unit/storage/services.c - the services catalogue (storage/services.c)
 */
#define _GNU_SOURCE
#include "../unit.h"
#include "hoso_storage.h"

#include "fixture.h"

static void make_service(hoso_service *svc, hoso_form_field *f, hoso_paper_req *p, hoso_str *opts, const char *code)
{
    memset(svc, 0, sizeof *svc);
    opts[0] = hs("nam");
    opts[1] = hs("nu");
    f[0] = (hoso_form_field){hs("full_name"), hs("Ho va ten"), HOSO_FK_TEXT, 1, NULL, 0};
    f[1] = (hoso_form_field){hs("sex"), hs("Gioi tinh"), HOSO_FK_ENUM, 0, opts, 2};
    p[0] = (hoso_paper_req){hs("cccd"), hs("Can cuoc cong dan"), 1};
    svc->code = hs(code);
    svc->name = hs("Dang ky khai sinh");
    svc->agency = hs("000.00.12.H29");
    svc->level = hs("full");
    svc->processing_days = 3;
    svc->fee = 8000;
    svc->form = f;
    svc->nform = 2;
    svc->papers = p;
    svc->npapers = 1;
}

static int count_services(void *ctx, const hoso_service *svc)
{
    char *seen = ctx;
    strcat(seen, svc->code.ptr);
    strcat(seen, ";");
    return 0;
}

static int stop_at_first(void *ctx, const hoso_service *svc)
{
    return 7;
}

static void test_put_get_each(void)
{
    hoso_store *s = store_new(0);
    hoso_txn *t = NULL;
    hoso_service svc, got;
    hoso_form_field f[2];
    hoso_paper_req p[1];
    hoso_str opts[2];
    hoso_doc doc = {0};
    EXPECT_INT(hoso_txn_write(s, NULL, &t), 0);
    make_service(&svc, f, p, opts, "1.002");
    EXPECT_INT(hoso_service_put(t, &svc), 0);
    make_service(&svc, f, p, opts, "1.001");
    EXPECT_INT(hoso_service_put(t, &svc), 0);
    EXPECT_INT(hoso_txn_commit(t), 0);

    EXPECT_INT(hoso_txn_read(s, &t), 0);
    EXPECT_INT(hoso_service_get(t, "1.001", &doc, &got), 0);
    EXPECT_INT(hoso_service_get(t, "9.999", &doc, &got), HOSO_ENOT_FOUND);
    EXPECT_INT(hoso_service_get(t, "1.001", &doc, &got), 0);
    char seen[64] = "";
    EXPECT_INT(hoso_service_each(t, count_services, seen), 0);
    EXPECT_STR(seen, "1.001;1.002;");
    EXPECT_INT(hoso_service_each(t, stop_at_first, NULL), 7);
    hoso_txn_abort(t);
    EXPECT_STR(got.code.ptr, "1.001");
    EXPECT_STR(got.name.ptr, "Dang ky khai sinh");
    EXPECT_STR(got.agency.ptr, "000.00.12.H29");
    EXPECT_STR(got.level.ptr, "full");
    EXPECT_INT(got.processing_days, 3);
    EXPECT_INT(got.fee, 8000);
    EXPECT_INT(got.nform, 2);
    EXPECT_STR(got.form[1].key.ptr, "sex");
    EXPECT_INT(got.form[1].kind, HOSO_FK_ENUM);
    EXPECT_INT(got.form[1].noptions, 2);
    EXPECT_STR(got.form[1].options[1].ptr, "nu");
    EXPECT_INT(got.npapers, 1);
    EXPECT_STR(got.papers[0].type.ptr, "cccd");
    EXPECT_INT(got.papers[0].required, 1);
    hoso_doc_destroy(&doc);
    hoso_store_close(s);
}

UNIT_MAIN(UNIT(test_put_get_each))
