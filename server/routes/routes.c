/*
 * routes.c - the one route table. The router (server/core/router.c) matches method and
 * path against these rows in order; `{}` matches one path segment, handed to the
 * handler in r->params.
 */
#include "push/push.h"
#include "routes.h"

#define CIT HOSO_R_CITIZEN
#define OFF HOSO_R_OFFICER
#define BOT HOSO_R_BOT
#define ADM HOSO_R_ADMIN
#define AUTH HOSO_R_AUTH
#define BODY HOSO_R_BODY

const hoso_route hoso_routes[] = {
    {"GET", "/healthz", hoso_route_healthz, HOSO_R_JSON, "healthz"},
    {"GET", "/metrics", hoso_route_metrics, 0, "metrics"},
    {"GET", "/v1/stats", hoso_route_stats, AUTH | OFF | ADM, "stats"},
    {"GET", "/v1/stats/satisfaction", hoso_route_stats_satisfaction, AUTH | OFF | ADM, "stats_satisfaction"},
    {"GET", "/v1/reports/monthly", hoso_route_report_monthly, AUTH | OFF | ADM, "report_monthly"},
    {"GET", "/v1/admin/mirror", hoso_route_mirror_status, AUTH | ADM | HOSO_R_JSON, "mirror_status"},
    {"POST", "/v1/admin/mirror/retry", hoso_route_mirror_retry, AUTH | ADM | HOSO_R_JSON, "mirror_retry"},

    {"POST", "/v1/auth/register", hoso_route_register, BODY, "auth_register"},
    {"POST", "/v1/auth/login", hoso_route_login, BODY, "auth_login"},
    {"POST", "/v1/auth/logout", hoso_route_logout, AUTH, "auth_logout"},

    {"GET", "/v1/services", hoso_route_services_list, 0, "services_list"},
    {"GET", "/v1/services/{}", hoso_route_service_get, 0, "service_get"},

    {"POST", "/v1/dossiers", hoso_route_dossier_submit, AUTH | BODY | CIT, "dossier_submit"},
    {"GET", "/v1/dossiers", hoso_route_dossier_list, AUTH | CIT, "dossier_list"},
    {"GET", "/v1/dossiers/{}", hoso_route_dossier_get, AUTH | CIT | OFF | ADM, "dossier_get"},
    {"POST", "/v1/dossiers/{}/supplement", hoso_route_dossier_supplement, AUTH | BODY | CIT, "dossier_supplement"},
    {"POST", "/v1/dossiers/{}/withdraw", hoso_route_dossier_withdraw, AUTH | BODY | CIT, "dossier_withdraw"},
    {"POST", "/v1/dossiers/{}/rating", hoso_route_dossier_rating, AUTH | BODY | CIT, "dossier_rating"},
    {"POST", "/v1/dossiers/{}/messages", hoso_route_dossier_message_post, AUTH | BODY | CIT, "dossier_message_post"},
    {"GET", "/v1/dossiers/{}/messages", hoso_route_dossier_messages, AUTH | CIT, "dossier_messages"},
    {"POST", "/v1/feedback", hoso_route_feedback, AUTH | BODY | CIT, "feedback"},

    {"OPTIONS", "/v1/uploads", hoso_route_upload_options, 0, "upload_options"},
    {"POST", "/v1/uploads", hoso_route_upload_create, AUTH | CIT | OFF, "upload_create"},
    {"HEAD", "/v1/uploads/{}", hoso_route_upload_head, AUTH | CIT | OFF, "upload_head"},
    {"PATCH", "/v1/uploads/{}", hoso_route_upload_patch, AUTH | HOSO_R_RAW | CIT | OFF, "upload_patch"},
    {"DELETE", "/v1/uploads/{}", hoso_route_upload_delete, AUTH | CIT | OFF, "upload_delete"},
    {"GET", "/v1/files/{}", hoso_route_file_get, AUTH | CIT | OFF | ADM, "file_get"},

    {"GET", "/v1/papers", hoso_route_papers_list, AUTH | CIT, "papers_list"},
    {"POST", "/v1/papers", hoso_route_paper_add, AUTH | BODY | CIT, "paper_add"},

    {"GET", "/v1/agency/dossiers", hoso_route_agency_list, AUTH | OFF | BOT | ADM, "agency_list"},
    {"POST", "/v1/agency/dossiers/{}/transitions", hoso_route_agency_transition, AUTH | BODY | OFF | ADM,
     "agency_transition"},
    {"POST", "/v1/agency/dossiers/{}/apology", hoso_route_agency_apology, AUTH | BODY | OFF | ADM, "agency_apology"},
    {"POST", "/v1/agency/dossiers/{}/messages", hoso_route_agency_message_post, AUTH | BODY | OFF | ADM,
     "agency_message_post"},
    {"GET", "/v1/agency/dossiers/{}/messages", hoso_route_agency_messages, AUTH | OFF | ADM, "agency_messages"},

    {"POST", "/v1/bot/lookup", hoso_route_bot_lookup, AUTH | BODY | HOSO_R_JSON | BOT, "bot_lookup"},
    {"POST", "/v1/bot/subscriptions", hoso_route_bot_subscribe, AUTH | BODY | HOSO_R_JSON | BOT, "bot_subscribe"},
    {"GET", "/v1/bot/subscriptions/{}", hoso_route_bot_subscription_get, AUTH | HOSO_R_JSON | BOT,
     "bot_subscription_get"},
    {"DELETE", "/v1/bot/subscriptions/{}", hoso_route_bot_unsubscribe, AUTH | HOSO_R_JSON | BOT,
     "bot_unsubscribe"},

    {"GET", "/v1/sync", hoso_route_sync_read, AUTH | CIT, "sync_read"},
    {"GET", "/v1/sync/snapshot", hoso_route_sync_snapshot, AUTH | CIT, "sync_snapshot"},
    {"POST", "/v1/sync", hoso_route_sync_apply, AUTH | BODY | CIT, "sync_apply"},
    {"GET", "/v1/ws", hoso_route_ws, 0, "ws"},
};

const size_t hoso_nroutes = sizeof(hoso_routes) / sizeof(hoso_routes[0]);
