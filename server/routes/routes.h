/*
 * server/routes/ - the route table and one file per endpoint group. A handler reads
 * the request, applies the dossier rules of server/domain/ and replies through core.
 *
 * routes.h - the one route table, which main.c hands to the runtime, and every route
 * handler it names. All run on the worker thread that owns the request (see
 * core/internal.h). GET /v1/ws is handled by server/push/ws.c.
 */
#ifndef HOSO_SERVER_ROUTES_H
#define HOSO_SERVER_ROUTES_H

#include "core/internal.h"

/* The one route table (routes.c): the router matches rows in order. */
extern const hoso_route hoso_routes[];
extern const size_t hoso_nroutes;

/* ops.c: operations */
int hoso_route_healthz(hoso_req *r);
int hoso_route_metrics(hoso_req *r);
int hoso_route_stats(hoso_req *r);
int hoso_route_stats_satisfaction(hoso_req *r);
int hoso_route_report_monthly(hoso_req *r); /* reports.c */
/* uploads.c */
int hoso_route_upload_options(hoso_req *r);
int hoso_route_upload_create(hoso_req *r);
int hoso_route_upload_head(hoso_req *r);
int hoso_route_upload_patch(hoso_req *r);
int hoso_route_upload_delete(hoso_req *r);
int hoso_route_file_get(hoso_req *r);
/* messages.c */
int hoso_route_dossier_message_post(hoso_req *r);
int hoso_route_dossier_messages(hoso_req *r);
int hoso_route_agency_message_post(hoso_req *r);
int hoso_route_agency_messages(hoso_req *r);
int hoso_route_mirror_status(hoso_req *r);
int hoso_route_mirror_retry(hoso_req *r);

/* auth.c */
int hoso_route_register(hoso_req *r);
int hoso_route_login(hoso_req *r);
int hoso_route_logout(hoso_req *r);

/* services.c */
int hoso_route_services_list(hoso_req *r);
int hoso_route_service_get(hoso_req *r);

/* dossiers.c: the citizen's side */
int hoso_route_dossier_submit(hoso_req *r);
int hoso_route_dossier_list(hoso_req *r);
int hoso_route_dossier_get(hoso_req *r);
int hoso_route_dossier_supplement(hoso_req *r);
int hoso_route_dossier_withdraw(hoso_req *r);
int hoso_route_dossier_rating(hoso_req *r);
int hoso_route_feedback(hoso_req *r);

/* papers.c */
int hoso_route_papers_list(hoso_req *r);
int hoso_route_paper_add(hoso_req *r);

/* agency.c: officers and integrations */
int hoso_route_agency_list(hoso_req *r);
int hoso_route_agency_transition(hoso_req *r);
/* The writer op of a move (op->body: the transition map, op->params[0]: the code,
 * op->who: an officer of the dossier's agency); bench/seed.c runs it in place. */
int hoso__transition_apply(hoso_wop *op, hoso_txn *t);
int hoso_route_agency_apology(hoso_req *r);

/* bots.c: chatbots */
int hoso_route_bot_lookup(hoso_req *r);
int hoso_route_bot_subscribe(hoso_req *r);
int hoso_route_bot_subscription_get(hoso_req *r);
int hoso_route_bot_unsubscribe(hoso_req *r);

/* sync.c: offline sync */
int hoso_route_sync_read(hoso_req *r);
int hoso_route_sync_snapshot(hoso_req *r);
int hoso_route_sync_apply(hoso_req *r);

#endif
