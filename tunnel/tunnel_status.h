/*
 * A snapshot of one charon's state as airlock reports it: the configured
 * connections, the live SAs, the certificates, and the daemon itself; and the
 * health check computed from it. Used by `airlockctl status|check` and by the
 * daemons' control sockets.
 */
#ifndef AIRLOCK_TUNNEL_STATUS_H
#define AIRLOCK_TUNNEL_STATUS_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "tunnel/cert_info.h"
#include "tunnel/sa_table.h"
#include "tunnel/vici_client.h"

#define TUNNEL_MAX_CONNS 256
#define TUNNEL_MAX_CERTS 256

/* A connection as loaded in charon (list-conns). */
struct tunnel_conn {
	char name[256];
	char local_addrs[256]; /* comma separated, as configured */
	char remote_addrs[256];
	char version[16];   /* "IKEv2", "IKEv1", "0" = any */
	char local_id[256]; /* first local auth round's id, "" if none */
	char remote_id[256];
	unsigned long rekey_time, reauth_time; /* seconds, 0 = off */
	char children[512];		       /* CHILD_SA config names, comma separated */
};

struct tunnel_status {
	char uri[256];
	int reachable;		   /* 1 if every query succeeded */
	char error[512];	   /* why not, "" otherwise */
	char daemon[64];	   /* "charon 5.9.8" */
	char backend[32];	   /* "kernel-libipsec" or "kernel-netlink" or "" */
	struct tunnel_conn *conns; /* owned */
	size_t nconns;
	struct sa_table *sas;	 /* owned, never NULL */
	struct cert_info *certs; /* owned: X.509 end-entity certificates */
	size_t ncerts;
	time_t collected_at; /* wall clock */
};

/*
 * Called once a snapshot is complete or has failed; st gets owned by the
 * callback (free with tunnel_status_free). On failure st->reachable is 0,
 * st->error says why, and whatever was collected before is kept.
 */
typedef void (*tunnel_status_cb)(struct tunnel_status *st, void *arg);

/*
 * Collects a snapshot over c (which must be connected): version, stats,
 * list-conns, list-sas, list-certs, one after another. Returns 0 and cb runs
 * exactly once, or -1 if the client is not connected (cb never runs).
 */
int tunnel_status_fetch(struct vici_client *c, tunnel_status_cb cb, void *arg);

/* A snapshot for a charon that could not be reached; gets owned. */
struct tunnel_status *tunnel_status_unreachable(const char *uri, const char *error);

void tunnel_status_free(struct tunnel_status *st);

/* Monitoring-plugin levels: these are also airlockctl check's exit codes. */
enum tunnel_check_level {
	TUNNEL_CHECK_OK = 0,
	TUNNEL_CHECK_WARNING = 1,
	TUNNEL_CHECK_CRITICAL = 2,
};

/* What check looks for; strings may be "" (then not checked / any). */
struct tunnel_check_params {
	const char *connection;	   /* IKE connection name */
	const char *child;	   /* CHILD_SA name */
	const char *local_address; /* inner addresses the SA must cover */
	const char *remote_address;
	int cert_warn_days;
};

struct tunnel_check {
	enum tunnel_check_level level;
	char text[512]; /* one line, without the level prefix */
};

/*
 * The health check, a pure function of a snapshot: CRITICAL when charon was
 * unreachable or no INSTALLED CHILD_SA of the connection (covering the
 * addresses, when given) exists; WARNING when a local certificate expires
 * within cert_warn_days (or has expired); OK otherwise.
 */
void tunnel_check_eval(const struct tunnel_status *st, const struct tunnel_check_params *p,
		       time_t now, struct tunnel_check *out);

/* "OK", "WARNING", "CRITICAL". */
const char *tunnel_check_level_str(enum tunnel_check_level level);

/*
 * The documented, stable JSON form of a snapshot and its check (schema in
 * the README, "airlockctl status --json"). now is the wall clock used for
 * ages and days left. Returns a new reference.
 */
json_t *tunnel_status_json(const struct tunnel_status *st, const struct tunnel_check *check,
			   time_t now);

#endif
