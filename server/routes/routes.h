/*
 * routes.h - every route handler of hosod. The table that maps method and path to
 * these is in routes.c; each handler lives in the route_*.c file for its area.
 * All run on the worker thread that owns the request (see internal.h).
 */
#ifndef HOSO_ROUTES_H
#define HOSO_ROUTES_H

#include "internal.h"

/* route_ops.c: operations */
int hoso_route_healthz(hoso_req *r);
int hoso_route_metrics(hoso_req *r);
int hoso_route_stats(hoso_req *r);

/* route_auth.c */
int hoso_route_register(hoso_req *r);
int hoso_route_login(hoso_req *r);
int hoso_route_logout(hoso_req *r);

/* route_services.c */
int hoso_route_services_list(hoso_req *r);
int hoso_route_service_get(hoso_req *r);

/* route_dossier.c: the citizen's side */
int hoso_route_dossier_submit(hoso_req *r);
int hoso_route_dossier_list(hoso_req *r);
int hoso_route_dossier_get(hoso_req *r);
int hoso_route_dossier_supplement(hoso_req *r);
int hoso_route_dossier_withdraw(hoso_req *r);
int hoso_route_dossier_rating(hoso_req *r);
int hoso_route_feedback(hoso_req *r);

/* route_papers.c */
int hoso_route_papers_list(hoso_req *r);
int hoso_route_paper_add(hoso_req *r);

/* route_agency.c: officers and integrations */
int hoso_route_agency_list(hoso_req *r);
int hoso_route_agency_transition(hoso_req *r);
int hoso_route_agency_apology(hoso_req *r);

/* route_sync.c: offline sync */
int hoso_route_sync_read(hoso_req *r);
int hoso_route_sync_snapshot(hoso_req *r);
int hoso_route_sync_apply(hoso_req *r);

/* ws.c: the push channel (upgrades to WebSocket) */
int hoso_route_ws(hoso_req *r);

#endif
