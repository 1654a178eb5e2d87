/* Unit tests of server/domain/dossier.c: the one change path. Each kind of change is
 * checked for what it must write together: history, version, stored dossier, the
 * owner's feed event, and the statistics. */
#include "fixture.h"
#include "domain/domain.h"

#define AGENCY "000.00.12.H29"
#define SERVICE "1.001193"
#define DAY_MS (24LL * 3600 * 1000)

static char g_code[64];

typedef struct step {
    hoso_change_kind kind;
    int status;
    const char *note;
    int64_t due_at; /* set on the dossier before the change when != 0 */
} step;

static int apply_step(hoso_wop *op, hoso_txn *t)
{
    const step *s = op->data;
    hoso_dossier d;
    hoso_doc doc;
    int ret;

    if ((ret = hoso_doc_init(&doc)) != 0)
        return ret;
    if (s->kind == HOSO_CHANGE_SUBMIT) {
        memset(&d, 0, sizeof(d));
        EXPECT_INT(hoso_dossier_next_code(t, AGENCY, op->now, g_code), 0);
        d.code = (hoso_str){g_code, strlen(g_code)};
        d.service = (hoso_str){SERVICE, strlen(SERVICE)};
        d.agency = (hoso_str){AGENCY, strlen(AGENCY)};
        d.owner = (hoso_str){CITIZEN, strlen(CITIZEN)};
        d.channel = (hoso_str){"app", 3};
        d.submitted_at = op->now;
    } else {
        snprintf(op->params[0], sizeof(op->params[0]), "%s", g_code);
        EXPECT_INT(hoso__wop_load_dossier(op, t, op->who.role != HOSO_ROLE_CITIZEN, &doc, &d), 0);
    }
    if (s->due_at != 0)
        d.due_at = s->due_at;
    if (s->kind == HOSO_CHANGE_FIELDS)
        d.rated = 1;
    ret = hoso__dossier_change(t, op, &doc, &d, s->kind, s->status, s->note, s->note ? strlen(s->note) : 0);
    if (ret == 0)
        ret = hoso__wop_reply_dossier(op, 200, &d);
    hoso_doc_destroy(&doc);
    return ret;
}

static void run(const step *s, hoso_role role, int64_t now)
{
    hoso_wop op;
    hoso_caller who = citizen();
    if (role != HOSO_ROLE_CITIZEN) {
        snprintf(who.account, sizeof(who.account), "ffeeddccbbaa99887766554433221100");
        who.role = role;
        snprintf(who.agency, sizeof(who.agency), "%s", AGENCY);
    }
    hoso_wop_init(&op, apply_step, &who, now);
    op.data = (void *)s;
    EXPECT_INT(hoso_run_write(g_store, &op), 0);
    hoso_wop_destroy(&op);
}

static void load(hoso_doc *doc, hoso_dossier *d)
{
    hoso_txn *t;
    EXPECT_INT(hoso_txn_read(g_store, &t), 0);
    EXPECT_INT(hoso_dossier_get(t, g_code, doc, d), 0);
    hoso_txn_abort(t);
}

typedef struct feed {
    char types[16][24];
    size_t n;
} feed;

static int on_event(void *ctx, uint64_t seq, const void *body, size_t len)
{
    feed *f = ctx;
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    EXPECT(msgpack_unpack_next(&u, body, len, &off) == MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *type = hoso_map_get(&u.data, "type");
    EXPECT(type != NULL && type->type == MSGPACK_OBJECT_STR);
    snprintf(f->types[f->n++], sizeof(f->types[0]), "%.*s", (int)type->via.str.size, type->via.str.ptr);
    msgpack_unpacked_destroy(&u);
    return 0;
}

static void read_feed(feed *f)
{
    hoso_txn *t;
    int more = 0;
    memset(f, 0, sizeof(*f));
    EXPECT_INT(hoso_txn_read(g_store, &t), 0);
    EXPECT_INT(hoso_feed_read(t, CITIZEN, 0, 16, on_event, f, &more), 0);
    hoso_txn_abort(t);
}

static int sum_row(void *ctx, const hoso_stat_row *row)
{
    hoso_stat_row *sum = ctx;
    EXPECT_STR(row->agency, AGENCY);
    EXPECT_STR(row->service, SERVICE);
    EXPECT_STR(row->channel, "app");
    for (int i = 0; i < HOSO_STAT_N; i++)
        sum->c[i] += row->c[i];
    for (int i = 0; i < 11; i++)
        sum->by_status[i] += row->by_status[i];
    for (int i = 0; i < HOSO_STAT_DAYS; i++)
        sum->days[i] += row->days[i];
    return 0;
}

static hoso_stat_row stats(void)
{
    hoso_txn *t;
    hoso_stat_row sum;
    memset(&sum, 0, sizeof(sum));
    EXPECT_INT(hoso_txn_read(g_store, &t), 0);
    EXPECT_INT(hoso_stats_each(t, NULL, NULL, sum_row, &sum), 0);
    hoso_txn_abort(t);
    return sum;
}

static void test_every_kind_writes_together(void)
{
    int64_t now = hoso_now_ms();
    hoso_doc doc;
    hoso_dossier d;
    feed f;
    hoso_stat_row st;

    store_new();
    run(&(step){HOSO_CHANGE_SUBMIT, 0, "", 0}, HOSO_ROLE_CITIZEN, now);
    memset(&doc, 0, sizeof(doc));
    load(&doc, &d);
    EXPECT_INT(d.status, HOSO_ST_SUBMITTED);
    EXPECT_INT(d.version, 1);
    EXPECT_INT(d.nhistory, 1);
    EXPECT_STR(d.history[0].by.ptr, CITIZEN);
    hoso_doc_destroy(&doc);
    st = stats();
    EXPECT_INT(st.c[HOSO_STAT_RECEIVED], 1);
    EXPECT_INT(st.by_status[HOSO_ST_SUBMITTED], 1);

    /* Accepted with a due date already past, so that the move to 9 is late. */
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_ACCEPTED, "tiếp nhận", now - DAY_MS}, HOSO_ROLE_OFFICER, now);
    run(&(step){HOSO_CHANGE_NOTE, 0, "apology: chậm", now + DAY_MS}, HOSO_ROLE_OFFICER, now + 1);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_PROCESSING, NULL, 0}, HOSO_ROLE_OFFICER, now + 2);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_DONE, "xong", now - DAY_MS}, HOSO_ROLE_OFFICER, now + 3);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_RETURNED, NULL, 0}, HOSO_ROLE_OFFICER, now + 4);
    run(&(step){HOSO_CHANGE_FIELDS, 0, NULL, 0}, HOSO_ROLE_CITIZEN, now + 5);

    memset(&doc, 0, sizeof(doc));
    load(&doc, &d);
    EXPECT_INT(d.status, HOSO_ST_RETURNED);
    EXPECT_INT(d.version, 7);
    EXPECT(d.rated);
    /* Every change but the fields-only one left a history line; the apology keeps the
     * status it was made in. */
    EXPECT_INT(d.nhistory, 6);
    EXPECT_INT(d.history[2].status, HOSO_ST_ACCEPTED);
    EXPECT_STR(d.history[2].note.ptr, "apology: chậm");
    EXPECT_INT(d.history[2].at, now + 1);
    EXPECT_STR(d.history[1].by.ptr, "ffeeddccbbaa99887766554433221100");
    EXPECT_STR(d.history[3].note.ptr, "");
    hoso_doc_destroy(&doc);

    read_feed(&f);
    EXPECT_INT(f.n, 7);
    const char *want[] = {"dossier.created", "dossier.status", "dossier.updated", "dossier.status",
                          "dossier.status",  "dossier.status", "dossier.updated"};
    for (size_t i = 0; i < 7; i++)
        EXPECT_STR(f.types[i], want[i]);

    /* Counted: the submission and each move by its status, 9 late; the apology and the
     * rating are not status changes. */
    st = stats();
    EXPECT_INT(st.c[HOSO_STAT_RECEIVED], 1);
    EXPECT_INT(st.by_status[HOSO_ST_SUBMITTED], 1);
    EXPECT_INT(st.by_status[HOSO_ST_ACCEPTED], 1);
    EXPECT_INT(st.by_status[HOSO_ST_PROCESSING], 1);
    EXPECT_INT(st.by_status[HOSO_ST_DONE], 1);
    EXPECT_INT(st.by_status[HOSO_ST_RETURNED], 1);
    EXPECT_INT(st.c[HOSO_STAT_LATE], 1);
    EXPECT_INT(st.c[HOSO_STAT_ON_TIME] + st.c[HOSO_STAT_EARLY], 0);
    EXPECT_INT(st.c[HOSO_STAT_ACCEPTED], 1);
    EXPECT_INT(st.c[HOSO_STAT_RETURNED], 1);
    /* The steps: 1 until accepted (0 ms); 2 and 4 as one span, through the apology
     * line, until 9 (3 ms); 9 until returned (1 ms); acceptance to result 3 ms. */
    EXPECT_INT(st.c[HOSO_STAT_RECEPTION_MS], 0);
    EXPECT_INT(st.c[HOSO_STAT_RECEPTION_N], 1);
    EXPECT_INT(st.c[HOSO_STAT_PROCESSING_MS], 3);
    EXPECT_INT(st.c[HOSO_STAT_PROCESSING_N], 1);
    EXPECT_INT(st.c[HOSO_STAT_RETURN_MS], 1);
    EXPECT_INT(st.c[HOSO_STAT_RETURN_N], 1);
    EXPECT_INT(st.c[HOSO_STAT_RESOLVE_MS], 3);
    EXPECT_INT(st.c[HOSO_STAT_RESOLVE_N], 1);
    EXPECT_INT(st.c[HOSO_STAT_SUPPLEMENT_N] + st.c[HOSO_STAT_PAYMENT_N], 0);
}

static void test_done_on_time(void)
{
    int64_t now = hoso_now_ms();
    store_new();
    run(&(step){HOSO_CHANGE_SUBMIT, 0, "", 0}, HOSO_ROLE_CITIZEN, now);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_ACCEPTED, NULL, now + 10 * DAY_MS}, HOSO_ROLE_OFFICER, now);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_PROCESSING, NULL, 0}, HOSO_ROLE_OFFICER, now + 1);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_DONE, NULL, 0}, HOSO_ROLE_OFFICER, now + 2);
    hoso_stat_row st = stats();
    EXPECT_INT(st.c[HOSO_STAT_EARLY], 1);
    EXPECT_INT(st.c[HOSO_STAT_ON_TIME] + st.c[HOSO_STAT_LATE], 0);
}

/* On time is the due date's own (Vietnam) day up to due_at; a minute later is late;
 * supplement and payment waits are their own steps. */
static void test_on_time_late_and_waits(void)
{
    int64_t due = 1795453199999LL - 3600 * 1000; /* 2026-11-23 22:59:59.999 in Hanoi */
    int64_t t0 = due - 5 * DAY_MS;
    store_new();
    run(&(step){HOSO_CHANGE_SUBMIT, 0, "", 0}, HOSO_ROLE_CITIZEN, t0);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_ACCEPTED, NULL, due}, HOSO_ROLE_OFFICER, t0 + 1000);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_SUPPLEMENT, "thiếu giấy", 0}, HOSO_ROLE_OFFICER, t0 + 3000);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_PROCESSING, NULL, 0}, HOSO_ROLE_CITIZEN, t0 + 10000);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_PAYMENT, "lệ phí", 0}, HOSO_ROLE_OFFICER, t0 + 11000);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_PROCESSING, NULL, 0}, HOSO_ROLE_OFFICER, t0 + 15000);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_DONE, NULL, 0}, HOSO_ROLE_OFFICER, due - 10 * 3600 * 1000);
    hoso_stat_row st = stats();
    EXPECT_INT(st.c[HOSO_STAT_ON_TIME], 1);
    EXPECT_INT(st.c[HOSO_STAT_SUPPLEMENTS], 1);
    EXPECT_INT(st.c[HOSO_STAT_FEE_REQUESTS], 1);
    EXPECT_INT(st.c[HOSO_STAT_SUPPLEMENT_MS], 7000);
    EXPECT_INT(st.c[HOSO_STAT_PAYMENT_MS], 4000);
    EXPECT_INT(st.c[HOSO_STAT_RECEPTION_MS], 1000);
    /* Processing: 2 from t0+1 s to t0+3 s, 4 from t0+10 s to t0+11 s, 4 from t0+15 s on. */
    EXPECT_INT(st.c[HOSO_STAT_PROCESSING_N], 3);
    EXPECT_INT(st.days[5], 1);

    run(&(step){HOSO_CHANGE_SUBMIT, 0, "", 0}, HOSO_ROLE_CITIZEN, t0);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_ACCEPTED, NULL, due}, HOSO_ROLE_OFFICER, t0);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_PROCESSING, NULL, 0}, HOSO_ROLE_OFFICER, t0);
    run(&(step){HOSO_CHANGE_STATUS, HOSO_ST_DONE, NULL, 0}, HOSO_ROLE_OFFICER, due + 60000);
    st = stats();
    EXPECT_INT(st.c[HOSO_STAT_ON_TIME], 1);
    EXPECT_INT(st.c[HOSO_STAT_LATE], 1);
}

static void test_visibility(void)
{
    hoso_dossier d;
    hoso_caller who;
    memset(&d, 0, sizeof(d));
    d.owner = (hoso_str){CITIZEN, strlen(CITIZEN)};
    d.agency = (hoso_str){AGENCY, strlen(AGENCY)};
    who = citizen();
    EXPECT_INT(hoso__dossier_visible(&who, &d), 1);
    who.account[0] = 'f';
    EXPECT_INT(hoso__dossier_visible(&who, &d), 0);
    who.role = HOSO_ROLE_OFFICER;
    EXPECT_INT(hoso__dossier_visible(&who, &d), 0);
    snprintf(who.agency, sizeof(who.agency), "%s", AGENCY);
    EXPECT_INT(hoso__dossier_visible(&who, &d), 1);
    /* A bot of the agency does not read dossiers by code; an admin reads every one. */
    who.role = HOSO_ROLE_BOT;
    EXPECT_INT(hoso__dossier_visible(&who, &d), 0);
    memset(&who, 0, sizeof(who));
    who.role = HOSO_ROLE_ADMIN;
    EXPECT_INT(hoso__dossier_visible(&who, &d), 1);
}

UNIT_MAIN(UNIT(test_every_kind_writes_together), UNIT(test_done_on_time), UNIT(test_on_time_late_and_waits),
          UNIT(test_visibility))
