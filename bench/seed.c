/*
 * seed.c - hoso-seed: fills a data dir with a population to benchmark against, fast,
 * through the same writer ops hosod runs (submit, the officers' moves, withdrawals),
 * many to a transaction instead of one commit per request.
 *
 *   hoso-seed --data DIR [--citizens 100000] [--dossiers 1000000] [--sessions N
 *             --tokens FILE] [--batch 1000]
 *
 * DIR must hold a store with a catalogue (`hosod serve --create --demo` made it once)
 * and no hosod may serve it. Citizens 0010950xxxxx (password Bench-Passw0rd-2026, one
 * argon2id hash shared by all) each get dossiers in turn, over every service of the
 * catalogue; dossier i then takes one of these paths (i mod 20): stays submitted (1),
 * withdrawn by the citizen (1), refused (1), accepted (2), in processing (5), asked
 * for papers (1), asked to pay (1), done (3), returned (5) - so every status, and a
 * feed of a few events per dossier for its citizen. Times are the last D milliseconds
 * before the run, so no due date has passed. The first N citizens get a session:
 * FILE gets "TOKEN CODE" per line, CODE the citizen's first dossier. On a store it
 * seeded before, `--dossiers 0 --citizens C --sessions N [--first K]` only adds sessions,
 * for citizens K..K+N-1 (CODE "-"). With --cluster-shards S the tokens name their
 * shard as a cluster node's do ("17.xxx"), for a store one node of S shards serves.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sodium.h>
#include "broker/broker.h"
#include "domain/domain.h"
#include "routes/routes.h"

#define SEED_PASSWORD "Bench-Passw0rd-2026"

typedef struct seed_service {
    char code[64], agency[48];
    msgpack_sbuffer form, papers; /* encoded form map; papers array or empty */
} seed_service;

typedef struct seed_catalogue {
    seed_service *v;
    size_t n, cap;
} seed_catalogue;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hoso-seed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void pack_str(msgpack_packer *pk, const hoso_str *s)
{
    hoso_pack_str(pk, s->ptr ? s->ptr : "", s->len);
}

/* A value each field kind accepts (hoso_form_validate). */
static int add_service(void *ctx, const hoso_service *svc)
{
    seed_catalogue *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        if ((c->v = realloc(c->v, c->cap * sizeof(*c->v))) == NULL)
            return HOSO_ENOMEM;
    }
    seed_service *s = &c->v[c->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->code, sizeof(s->code), "%.*s", (int)svc->code.len, svc->code.ptr);
    snprintf(s->agency, sizeof(s->agency), "%.*s", (int)svc->agency.len, svc->agency.ptr);
    msgpack_sbuffer_init(&s->form);
    msgpack_sbuffer_init(&s->papers);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &s->form, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, svc->nform);
    for (size_t i = 0; i < svc->nform; i++) {
        const hoso_form_field *f = &svc->form[i];
        pack_str(&pk, &f->key);
        switch (f->kind) {
        case HOSO_FK_NUMBER: msgpack_pack_int(&pk, 2); break;
        case HOSO_FK_DATE: hoso_pack_cstr(&pk, "1990-05-17"); break;
        case HOSO_FK_ENUM:
            if (f->noptions > 0)
                pack_str(&pk, &f->options[0]);
            else
                hoso_pack_cstr(&pk, "1");
            break;
        default: hoso_pack_cstr(&pk, "Nguyễn Thị Mẫu, số 12 ngõ 34 phố Trần Duy Hưng, Cầu Giấy, Hà Nội"); break;
        }
    }
    size_t nreq = 0;
    for (size_t i = 0; i < svc->npapers; i++)
        nreq += svc->papers[i].required != 0;
    if (nreq > 0) {
        msgpack_packer_init(&pk, &s->papers, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, nreq);
        for (size_t i = 0; i < svc->npapers; i++) {
            if (!svc->papers[i].required)
                continue;
            msgpack_pack_map(&pk, 3);
            hoso_pack_cstr(&pk, "type");
            pack_str(&pk, &svc->papers[i].type);
            hoso_pack_cstr(&pk, "number");
            hoso_pack_cstr(&pk, "SEED-000123");
            hoso_pack_cstr(&pk, "issuer");
            hoso_pack_cstr(&pk, "UBND phường Dịch Vọng");
        }
    }
    return 0;
}

/* Runs one op in t the way the writer does; dies unless it gets want_status. */
static void run(hoso_txn *t, hoso_wop *op, msgpack_sbuffer *body, int want_status, const char *what)
{
    hoso_errinfo ei;
    memset(&ei, 0, sizeof(ei));
    if (hoso_doc_from_msgpack(&op->body, body->data, body->size, NULL, &ei) != 0)
        die("%s: cannot decode the body", what);
    op->has_body = 1;
    hoso_wop_run_nested(t, op);
    if (op->result != 0 || op->http_status != want_status)
        die("%s failed: %d %s", what, op->http_status, op->err.message[0] ? op->err.message : hoso_err_message(op->result));
}

/* The reply's dossier code and version. */
static int64_t reply_dossier(const hoso_wop *op, char *code, size_t n)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int64_t version = -1;
    if (msgpack_unpack_next(&u, op->reply.data, op->reply.size, NULL) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *d = hoso_map_get(&u.data, "dossier");
        const msgpack_object *c = hoso_map_get(d, "code"), *v = hoso_map_get(d, "version");
        if (c != NULL && c->type == MSGPACK_OBJECT_STR && c->via.str.size < n) {
            memcpy(code, c->via.str.ptr, c->via.str.size);
            code[c->via.str.size] = '\0';
        }
        if (v != NULL && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            version = (int64_t)v->via.u64;
    }
    msgpack_unpacked_destroy(&u);
    if (version < 0)
        die("a reply without its dossier");
    return version;
}

/* The paths of dossier i (mod 20), as the statuses it moves through after 1;
 * 7 is the citizen's withdrawal. */
static const int paths[20][5] = {
    {0}, {7}, {3}, {2}, {2, 4}, {2, 4}, {2, 4}, {2, 4}, {2, 4}, {2, 4, 5},
    {2, 4, 6}, {2, 4, 9}, {2, 4, 9}, {2, 4, 9}, {2, 4, 9, 10}, {2, 4, 9, 10}, {2, 4, 9, 10}, {2, 4, 9, 10},
    {2, 4, 9, 10}, {2},
};

static void move(hoso_txn *t, const hoso_caller *officer, const char *code, int to, int64_t version, int64_t now,
                 msgpack_sbuffer *sb)
{
    hoso_wop op;
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int extra = to == 3 || to == 5 || to == 6 || to == 9;
    msgpack_pack_map(&pk, 3 + extra);
    hoso_pack_cstr(&pk, "to");
    msgpack_pack_int(&pk, to);
    hoso_pack_cstr(&pk, "version");
    msgpack_pack_int64(&pk, version);
    hoso_pack_cstr(&pk, "note");
    hoso_pack_cstr(&pk, "Cán bộ một cửa đã xử lý");
    if (to == 3) {
        hoso_pack_cstr(&pk, "reason");
        hoso_pack_cstr(&pk, "Hồ sơ không thuộc thẩm quyền giải quyết");
    } else if (to == 5) {
        hoso_pack_cstr(&pk, "papers_required");
        msgpack_pack_array(&pk, 1);
        hoso_pack_cstr(&pk, "Bản sao giấy khai sinh");
    } else if (to == 6) {
        hoso_pack_cstr(&pk, "fee");
        msgpack_pack_int(&pk, 50000);
    } else if (to == 9) {
        hoso_pack_cstr(&pk, "result");
        hoso_pack_cstr(&pk, "Đã cấp giấy chứng nhận");
    }
    hoso_wop_init(&op, hoso__transition_apply, officer, now);
    snprintf(op.params[0], sizeof(op.params[0]), "%s", code);
    run(t, &op, sb, 200, "a move");
    hoso_wop_destroy(&op);
}

static void usage(void)
{
    fprintf(stderr, "usage: hoso-seed --data DIR [--citizens 100000] [--dossiers 1000000] [--sessions N --tokens FILE]\n"
                    "                 [--batch 1000]\n"
                    "       hoso-seed --data DIR --dossiers 0 --citizens C --sessions N --tokens FILE [--first K]\n"
                    "       (either with --cluster-shards S: tokens of a cluster node of S shards)\n");
    exit(2);
}

static unsigned long num(const char *opt, const char *v, unsigned long min, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || n < min || n > max)
        die("%s takes %lu..%lu, not %s", opt, min, max, v);
    return n;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *tokens = NULL;
    unsigned long citizens = 100000, dossiers = 1000000, sessions = 0, batch = 1000, first_session = 0, shards = 0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--data") == 0)
            data = v;
        else if (strcmp(a, "--citizens") == 0)
            citizens = num(a, v, 1, 999999);
        else if (strcmp(a, "--dossiers") == 0)
            dossiers = num(a, v, 0, 100000000);
        else if (strcmp(a, "--sessions") == 0)
            sessions = num(a, v, 0, 999999);
        else if (strcmp(a, "--tokens") == 0)
            tokens = v;
        else if (strcmp(a, "--first") == 0)
            first_session = num(a, v, 0, 999999);
        else if (strcmp(a, "--batch") == 0)
            batch = num(a, v, 1, 100000);
        else if (strcmp(a, "--cluster-shards") == 0)
            shards = num(a, v, 1, HOSO_CLUSTER_MAX_SHARDS);
        else
            usage();
    }
    if (data == NULL || (sessions > 0) != (tokens != NULL))
        usage();
    if (first_session + sessions > citizens)
        die("--first %lu --sessions %lu go past --citizens %lu", first_session, sessions, citizens);
    if (first_session > 0 && dossiers > 0)
        die("--first goes with --dossiers 0 (more sessions for a seeded store)");
    if (sodium_init() < 0)
        die("libsodium failed to initialise");

    int lock_fd;
    long holder = 0;
    int err = hoso_dir_lock(data, &lock_fd, &holder);
    if (err == HOSO_ELOCKED)
        die("%s is being served (hosod pid %ld): stop it first", data, holder);
    if (err != 0)
        die("cannot lock %s: %s", data, hoso_err_message(err));
    hoso_store *s = NULL;
    hoso_store_options so;
    memset(&so, 0, sizeof(so));
    so.must_exist = 1;
    so.map_size = (size_t)64 << 30;
    if ((err = hoso_store_open(&s, data, &so)) != 0)
        die("cannot open %s: %s (make it with hosod serve --create --demo)", data, hoso_err_message(err));

    seed_catalogue cat = {0};
    hoso_txn *t = NULL;
    if ((err = hoso_txn_read(s, &t)) != 0 || (err = hoso_service_each(t, add_service, &cat)) != 0)
        die("cannot read the catalogue: %s", hoso_err_message(err));
    hoso_txn_abort(t);
    if (cat.n == 0)
        die("%s has no catalogue (start it once with hosod serve --create --demo)", data);

    char pwhash[crypto_pwhash_STRBYTES];
    if (hoso_password_hash(SEED_PASSWORD, pwhash, sizeof(pwhash)) != 0)
        die("cannot hash the password");
    char (*ids)[33] = calloc(citizens, sizeof(*ids));
    char (*first)[96] = calloc(sessions ? sessions : 1, sizeof(*first));
    if (ids == NULL || first == NULL)
        die("out of memory");
    for (unsigned long c = 0; c < citizens; c++) {
        char login[24];
        snprintf(login, sizeof(login), "001095%06u", (unsigned)(c % 1000000));
        hoso_account_id_for(s, login, ids[c]);
    }
    /* A seeded store takes more sessions (--dossiers 0), nothing else. */
    int more_sessions = 0;
    {
        hoso_doc doc;
        hoso_account a;
        hoso_doc_init(&doc);
        if ((err = hoso_txn_read(s, &t)) != 0)
            die("cannot read: %s", hoso_err_message(err));
        err = hoso_account_get_public(t, ids[0], &doc, &a);
        int last = err == 0 ? hoso_account_get_public(t, ids[citizens - 1], &doc, &a) : err;
        hoso_txn_abort(t);
        hoso_doc_destroy(&doc);
        if (err == 0 && (dossiers > 0 || sessions == 0))
            die("%s was seeded already (citizen 001095000000 exists): seed a fresh data dir, or add sessions "
                "with --dossiers 0 --sessions N",
                data);
        if (err == 0 && last != 0)
            die("%s holds fewer than --citizens %lu seeded citizens", data, citizens);
        more_sessions = err == 0;
    }

    double t0 = now_s(), next_progress = t0 + 1;
    int64_t wall = hoso_now_ms();
    unsigned long ops = 0;

    /* Citizens. */
    for (unsigned long c = more_sessions ? citizens : 0; c < citizens;) {
        if ((err = hoso_txn_write(s, NULL, &t)) != 0)
            die("cannot write: %s", hoso_err_message(err));
        for (unsigned long k = 0; k < batch * 4 && c < citizens; k++, c++) {
            char login[24], name[64], phone[24];
            hoso_account a;
            snprintf(login, sizeof(login), "001095%06u", (unsigned)(c % 1000000));
            snprintf(name, sizeof(name), "Nguyễn Văn Mẫu %lu", c);
            snprintf(phone, sizeof(phone), "0995%06u", (unsigned)(c % 1000000));
            memset(&a, 0, sizeof(a));
            memcpy(a.id, ids[c], sizeof(a.id));
            a.role = HOSO_ROLE_CITIZEN;
            a.login = (hoso_str){login, strlen(login)};
            a.full_name = (hoso_str){name, strlen(name)};
            a.phone = (hoso_str){phone, strlen(phone)};
            a.pwhash = (hoso_str){pwhash, strlen(pwhash)};
            a.created_at = wall - (int64_t)dossiers - 1000;
            if ((err = hoso_account_put(t, &a)) != 0)
                die("cannot store citizen %lu: %s", c, hoso_err_message(err));
        }
        if ((err = hoso_txn_commit(t)) != 0)
            die("commit failed: %s", hoso_err_message(err));
        fprintf(stderr, "seed: citizens %lu/%lu\n", c, citizens);
    }

    /* Dossiers and their paths. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    unsigned long by_status[11] = {0};
    for (unsigned long i = 0; i < dossiers;) {
        if ((err = hoso_txn_write(s, NULL, &t)) != 0)
            die("cannot write: %s", hoso_err_message(err));
        for (unsigned long k = 0; k < batch && i < dossiers; k++, i++) {
            const seed_service *svc = &cat.v[i % cat.n];
            unsigned long c = i % citizens;
            int64_t now = wall - (int64_t)(dossiers - i);
            hoso_caller cit = {.role = HOSO_ROLE_CITIZEN};
            memcpy(cit.account, ids[c], sizeof(cit.account));
            hoso_caller off = {.role = HOSO_ROLE_OFFICER};
            hoso_account_id_for(s, svc->agency, off.account); /* an officer of the agency */
            snprintf(off.agency, sizeof(off.agency), "%s", svc->agency);

            hoso_wop op;
            msgpack_packer pk;
            char code[96] = "";
            msgpack_sbuffer_clear(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_map(&pk, svc->papers.size ? 4 : 3);
            hoso_wop_init(&op, hoso__citizen_ops[HOSO_OP_SUBMIT].apply, &cit, now);
            snprintf(op.op_id, sizeof(op.op_id), "seed-%lu", i);
            hoso_pack_cstr(&pk, "service");
            hoso_pack_cstr(&pk, svc->code);
            hoso_pack_cstr(&pk, "form");
            msgpack_sbuffer_write(&sb, svc->form.data, svc->form.size);
            if (svc->papers.size) {
                hoso_pack_cstr(&pk, "papers");
                msgpack_sbuffer_write(&sb, svc->papers.data, svc->papers.size);
            }
            hoso_pack_cstr(&pk, "op_id");
            hoso_pack_cstr(&pk, op.op_id);
            run(t, &op, &sb, 201, "a submission");
            int64_t version = reply_dossier(&op, code, sizeof(code));
            hoso_wop_destroy(&op);
            ops++;
            if (c < sessions && i < citizens)
                snprintf(first[c], sizeof(first[c]), "%s", code);

            int status = 1;
            for (int m = 0; m < 5 && paths[i % 20][m] != 0; m++) {
                int to = paths[i % 20][m];
                if (to == 7) {
                    msgpack_sbuffer_clear(&sb);
                    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                    msgpack_pack_map(&pk, 2);
                    hoso_pack_cstr(&pk, "reason");
                    hoso_pack_cstr(&pk, "Tôi nộp nhầm thủ tục");
                    hoso_wop_init(&op, hoso__citizen_ops[HOSO_OP_WITHDRAW].apply, &cit, now + 1 + m);
                    snprintf(op.op_id, sizeof(op.op_id), "seed-%lu-w", i);
                    hoso_pack_cstr(&pk, "op_id");
                    hoso_pack_cstr(&pk, op.op_id);
                    snprintf(op.params[0], sizeof(op.params[0]), "%s", code);
                    run(t, &op, &sb, 200, "a withdrawal");
                    hoso_wop_destroy(&op);
                } else {
                    move(t, &off, code, to, version, now + 1 + m, &sb);
                }
                version++;
                status = to;
                ops++;
            }
            by_status[status]++;
        }
        if ((err = hoso_txn_commit(t)) != 0)
            die("commit failed: %s", hoso_err_message(err));
        double tn = now_s();
        if (tn >= next_progress || i == dossiers) {
            fprintf(stderr, "seed: dossiers %lu/%lu, %.0f writer ops/s\n", i, dossiers, (double)ops / (tn - t0));
            next_progress = tn + 1;
        }
    }
    msgpack_sbuffer_destroy(&sb);

    /* Sessions. */
    FILE *out = NULL;
    if (sessions > 0 && (out = fopen(tokens, "w")) == NULL)
        die("cannot write %s: %s", tokens, strerror(errno));
    for (unsigned long c = first_session; c < first_session + sessions;) {
        if ((err = hoso_txn_write(s, NULL, &t)) != 0)
            die("cannot write: %s", hoso_err_message(err));
        for (unsigned long k = 0; k < batch * 4 && c < first_session + sessions; k++, c++) {
            char token[64], prefix[8] = "";
            if (shards > 0)
                snprintf(prefix, sizeof prefix, "%u.", hoso_cluster_shard_of(ids[c], (unsigned)shards));
            if ((err = hoso_session_create_prefixed(t, ids[c], wall + 30LL * 86400000, prefix, token)) != 0)
                die("cannot create a session: %s", hoso_err_message(err));
            fprintf(out, "%s %s\n", token, c < sessions && first[c][0] ? first[c] : "-");
        }
        if ((err = hoso_txn_commit(t)) != 0)
            die("commit failed: %s", hoso_err_message(err));
    }
    if (out != NULL && fclose(out) != 0)
        die("cannot write %s", tokens);

    hoso_store_stats st;
    memset(&st, 0, sizeof(st));
    hoso_store_stats_get(s, &st);
    double secs = now_s() - t0;
    printf("seed: %lu citizens, %lu dossiers (by status:", citizens, dossiers);
    for (int k = 1; k <= 10; k++)
        if (by_status[k])
            printf(" %d: %lu", k, by_status[k]);
    printf("), %lu writer ops, %lu sessions in %.1f s; store %.2f GiB\n", ops, sessions, secs,
           (double)st.used_bytes / (1 << 30));
    printf("RESULT citizens=%lu dossiers=%lu ops=%lu sessions=%lu seconds=%.1f used_bytes=%llu\n", citizens, dossiers,
           ops, sessions, secs, (unsigned long long)st.used_bytes);
    for (size_t k = 0; k < cat.n; k++) {
        msgpack_sbuffer_destroy(&cat.v[k].form);
        msgpack_sbuffer_destroy(&cat.v[k].papers);
    }
    free(cat.v);
    free(ids);
    free(first);
    hoso_store_close(s);
    hoso_dir_unlock(lock_fd);
    return 0;
}
