/*
 * Keeps an sa_table live for one charon: a full list-sas when the VICI
 * session comes up, after every reconnect and every refresh_interval seconds,
 * and the ike-updown, child-updown, ike-rekey and child-rekey events applied
 * as they arrive (a down event takes effect at once). While the event
 * connection is lost the table is marked stale, so callers that ask
 * sa_monitor_freshness() fail closed.
 */
#ifndef AIRLOCK_SA_MONITOR_H
#define AIRLOCK_SA_MONITOR_H

#include <event2/event.h>

#include "tunnel/sa_table.h"
#include "tunnel/vici_client.h"

struct sa_monitor;

/*
 * Called after the table changed or the connection state changed. what is a
 * short fixed text: "refresh", "event", "connected", "disconnected".
 */
typedef void (*sa_monitor_cb)(struct sa_monitor *m, const char *what, void *arg);

/*
 * Creates a monitor for the VICI socket uri on base. timeout_ms bounds each
 * request; refresh_interval_s is the period of full listings. Returns NULL if
 * the URI is unusable. Does not connect until sa_monitor_start.
 */
struct sa_monitor *sa_monitor_new(struct event_base *base, const char *uri, int timeout_ms,
				  int refresh_interval_s);
void sa_monitor_free(struct sa_monitor *m);

void sa_monitor_set_cb(struct sa_monitor *m, sa_monitor_cb cb, void *arg);

/*
 * Connects (and keeps reconnecting with back-off). Returns 0, or -1 if the
 * first attempt failed (the error is in vici_client_error of
 * sa_monitor_client; retries continue).
 */
int sa_monitor_start(struct sa_monitor *m);

/* The live table (internal data; changes whenever the callback runs). */
const struct sa_table *sa_monitor_table(const struct sa_monitor *m);

/* The table's freshness now, given how old a full listing may be. */
enum sa_freshness sa_monitor_freshness(const struct sa_monitor *m, uint64_t stale_after_s);

/* The monitor's VICI client, for other queries on the same session (internal data). */
struct vici_client *sa_monitor_client(struct sa_monitor *m);

/* Counters, for status output. */
struct sa_monitor_stats {
	unsigned long refreshes;      /* full listings committed */
	unsigned long refresh_errors; /* listings that failed or were discarded */
	unsigned long events;	      /* SA events applied */
	unsigned long reconnects;     /* times the session came up again after a loss */
};
void sa_monitor_get_stats(const struct sa_monitor *m, struct sa_monitor_stats *out);

#endif
