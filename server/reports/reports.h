/*
 * server/reports/ - monitoring (Decree 42/2022 art. 16): what hosod watches on its
 * own. Today: the overdue scheduler.
 */
#ifndef HOSO_SERVER_REPORTS_H
#define HOSO_SERVER_REPORTS_H

#include "core/internal.h"

/* Starts the overdue scheduler: at each open dossier's due time (and at start, for the
 * due times that passed while hosod was down) a writer op appends dossier.overdue to
 * the owner's feed and the log and lists the dossier as overdue, exactly once per due
 * date. Registers an event sink on srv that wakes it when due dates may have changed.
 * Errors: INTERNAL, NOMEM. */
int hoso_overdue_start(hoso_server *srv);
/* Before the writer stops. */
void hoso_overdue_stop(void);

#endif
