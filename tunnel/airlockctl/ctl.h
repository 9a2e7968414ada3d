/*
 * airlockctl internals shared between its command files.
 */
#ifndef AIRLOCK_CTL_H
#define AIRLOCK_CTL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "common/config.h"
#include "tunnel/tunnel_status.h"

/* Options common to every command. */
struct ctl_opts {
	struct airlock_config cfg;
	const char *config_path;
	int json;
	int watch;
	int interval_s;
	int warn_days; /* -1: from config */
};

/* Check parameters from the configuration and options. */
void ctl_check_params(const struct ctl_opts *o, struct tunnel_check_params *p);

/* Human-readable status: a compact table, one block per connection. */
void ctl_render_status(FILE *out, const struct tunnel_status *st, const struct tunnel_check *chk,
		       time_t now);

/* `airlockctl status [--json] [--watch]`. Returns the exit status. */
int ctl_cmd_status(struct ctl_opts *o);

/* `airlockctl check`: one line, exit 0/1/2 (OK/WARNING/CRITICAL). */
int ctl_cmd_check(struct ctl_opts *o);

/* `airlockctl queue [--json]`: the daemon's queue. Returns the exit status. */
int ctl_cmd_queue(struct ctl_opts *o);

/*
 * Sends {"cmd": cmd} to the daemon's control socket (edge.control_socket).
 * Returns the reply (gets owned) or NULL with a one-line reason in err.
 */
json_t *ctl_daemon_request(const struct ctl_opts *o, const char *cmd, char *err, size_t errlen);

/*
 * Sends the request object req (not stolen; must hold "cmd") like
 * ctl_daemon_request(). A reply without "ok": true is an error whose
 * reason is the reply's "error".
 */
json_t *ctl_daemon_call(const struct ctl_opts *o, json_t *req, char *err, size_t errlen);

/*
 * `airlockctl quarantine list|show ID|release ID|delete ID [--json]`.
 * args are the words after "quarantine". Returns the exit status (0 ok,
 * 1 the daemon refused or is not running, 3 usage).
 */
int ctl_cmd_quarantine(struct ctl_opts *o, int nargs, char **args);

/* The daemon section of the human status; d NULL means "not running". */
void ctl_render_daemon(FILE *out, json_t *d);

/*
 * The hub section (ctl_hub.c). Wanted when hub.listen is configured or
 * hub.control_socket exists: a hub host, not an edge-only one.
 */
bool ctl_hub_wanted(const struct ctl_opts *o);

/*
 * Asks hub.control_socket for {"cmd":"status"}. Returns the reply's "hub"
 * object (gets owned), or NULL with a one-line reason in err.
 */
json_t *ctl_hub_request(const struct ctl_opts *o, char *err, size_t errlen);

/*
 * The "hub" object of a status reply (a new reference), or NULL with the
 * reason in err when the reply is not {"ok":true,"hub":{...}}.
 */
json_t *ctl_hub_from_reply(json_t *reply, char *err, size_t errlen);

/*
 * The hub section of the human status: daemon, gate, attestation and proxy
 * lines. hub NULL means not running, why says why (the request's error).
 * Fields the daemon did not report are shown as "?".
 */
void ctl_render_hub(FILE *out, json_t *hub, const char *why);

/*
 * Fetches one snapshot from the configured charon, synchronously. Never
 * returns NULL: an unreachable charon gives a snapshot with reachable = 0.
 */
struct tunnel_status *ctl_fetch_once(const struct ctl_opts *o);

#endif
