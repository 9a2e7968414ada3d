/*
 * Collecting a tunnel_status snapshot over VICI: one query after another on
 * the command connection, each step started from the previous one's reply.
 */
#include "tunnel/tunnel_status.h"

#include "common/clock.h"
#include "common/log.h"
#include "tunnel/tunnel_socket.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum fetch_step { FETCH_VERSION, FETCH_STATS, FETCH_CONNS, FETCH_SAS, FETCH_CERTS, FETCH_DONE };

struct fetch {
	struct vici_client *client;
	struct tunnel_status *st;
	enum fetch_step step;
	struct vici_node **sa_events; /* list-sa events, replaced into the table at the end */
	size_t nsa_events, cap_sa_events;
	tunnel_status_cb cb;
	void *arg;
};

static void fetch_next(struct fetch *f);

static struct tunnel_status *status_new(const char *uri)
{
	struct tunnel_status *st = calloc(1, sizeof(*st));
	if (!st || !(st->sas = sa_table_new()))
		fatal("out of memory");
	snprintf(st->uri, sizeof(st->uri), "%s", uri);
	st->collected_at = time(NULL);
	return st;
}

struct tunnel_status *tunnel_status_unreachable(const char *uri, const char *error)
{
	struct tunnel_status *st = status_new(uri);
	snprintf(st->error, sizeof(st->error), "%s", error);
	return st;
}

void tunnel_status_free(struct tunnel_status *st)
{
	if (!st)
		return;
	free(st->conns);
	free(st->certs);
	sa_table_free(st->sas);
	free(st);
}

static void fetch_finish(struct fetch *f, const char *error)
{
	struct tunnel_status *st = f->st;
	if (error) {
		st->reachable = 0;
		snprintf(st->error, sizeof(st->error), "%s", error);
	} else {
		st->reachable = 1;
	}
	for (size_t i = 0; i < f->nsa_events; i++)
		vici_node_free(f->sa_events[i]);
	free(f->sa_events);
	tunnel_status_cb cb = f->cb;
	void *arg = f->arg;
	free(f);
	cb(st, arg);
}

/* Common reply check: transport failure or success=no ends the fetch. */
static int fetch_reply_ok(struct fetch *f, const char *what, enum vici_status vs,
			  const struct vici_node *reply)
{
	char err[512];
	if (vs != VICI_OK) {
		snprintf(err, sizeof(err), "%s: %s", what,
			 vs == VICI_DISCONNECTED ? vici_client_error(f->client)
						 : vici_status_str(vs));
		fetch_finish(f, err);
		return 0;
	}
	const char *success = vici_str(reply, "success");
	if (success && strcmp(success, "no") == 0) {
		const char *msg = vici_str(reply, "errmsg");
		snprintf(err, sizeof(err), "%s: %s", what, msg ? msg : "failed");
		fetch_finish(f, err);
		return 0;
	}
	return 1;
}

static void join_list(const struct vici_node *list, char *out, size_t outsz)
{
	out[0] = '\0';
	if (!list || list->type != VICI_NODE_LIST)
		return;
	size_t used = 0;
	for (const struct vici_node *i = list->first; i; i = i->next) {
		if (memchr(i->value, '\0', i->value_len))
			continue;
		int n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "",
				 (const char *)i->value);
		if (n < 0 || (size_t)n >= outsz - used) {
			out[used] = '\0';
			return;
		}
		used += (size_t)n;
	}
}

static void copy_str(char *out, size_t outsz, const char *s)
{
	snprintf(out, outsz, "%s", s ? s : "");
}

static void version_reply(enum vici_status vs, const struct vici_node *reply, void *arg)
{
	struct fetch *f = arg;
	if (!fetch_reply_ok(f, "version", vs, reply))
		return;
	snprintf(f->st->daemon, sizeof(f->st->daemon), "%s %s",
		 vici_str(reply, "daemon") ? vici_str(reply, "daemon") : "charon",
		 vici_str(reply, "version") ? vici_str(reply, "version") : "?");
	f->step = FETCH_STATS;
	fetch_next(f);
}

static void stats_reply(enum vici_status vs, const struct vici_node *reply, void *arg)
{
	struct fetch *f = arg;
	if (!fetch_reply_ok(f, "stats", vs, reply))
		return;
	/* The same detection the hub's gate uses; shown as charon names its plugins. */
	switch (tunnel_backend_detect(reply)) {
	case TUNNEL_BACKEND_LIBIPSEC:
		copy_str(f->st->backend, sizeof(f->st->backend), "kernel-libipsec");
		break;
	case TUNNEL_BACKEND_XFRM:
		copy_str(f->st->backend, sizeof(f->st->backend), "kernel-netlink");
		break;
	case TUNNEL_BACKEND_UNKNOWN:
		copy_str(f->st->backend, sizeof(f->st->backend), "");
		break;
	}
	f->step = FETCH_CONNS;
	fetch_next(f);
}

/* The first auth round's id of a list-conn section: local-1 { id = ... }. */
static const char *conn_auth_id(const struct vici_node *conn, const char *prefix)
{
	char name[32];
	snprintf(name, sizeof(name), "%s-1", prefix);
	return vici_str(vici_child(conn, name), "id");
}

static void conn_event(const struct vici_node *event, void *arg)
{
	struct fetch *f = arg;
	struct tunnel_status *st = f->st;
	for (const struct vici_node *c = event->first; c; c = c->next) {
		if (c->type != VICI_NODE_SECTION || st->nconns >= TUNNEL_MAX_CONNS)
			continue;
		struct tunnel_conn *nc = realloc(st->conns, (st->nconns + 1) * sizeof(*nc));
		if (!nc)
			fatal("out of memory");
		st->conns = nc;
		struct tunnel_conn *tc = &st->conns[st->nconns++];
		memset(tc, 0, sizeof(*tc));
		copy_str(tc->name, sizeof(tc->name), c->name);
		join_list(vici_child(c, "local_addrs"), tc->local_addrs, sizeof(tc->local_addrs));
		join_list(vici_child(c, "remote_addrs"), tc->remote_addrs,
			  sizeof(tc->remote_addrs));
		copy_str(tc->version, sizeof(tc->version), vici_str(c, "version"));
		copy_str(tc->local_id, sizeof(tc->local_id), conn_auth_id(c, "local"));
		copy_str(tc->remote_id, sizeof(tc->remote_id), conn_auth_id(c, "remote"));
		uint64_t v;
		if (vici_u64(c, "rekey_time", &v) == 0)
			tc->rekey_time = v;
		if (vici_u64(c, "reauth_time", &v) == 0)
			tc->reauth_time = v;
		const struct vici_node *children = vici_child(c, "children");
		size_t used = 0;
		for (const struct vici_node *ch = children ? children->first : NULL; ch;
		     ch = ch->next) {
			int n = snprintf(tc->children + used, sizeof(tc->children) - used, "%s%s",
					 used ? "," : "", ch->name);
			if (n < 0 || (size_t)n >= sizeof(tc->children) - used) {
				tc->children[used] = '\0';
				break;
			}
			used += (size_t)n;
		}
	}
}

static void conns_reply(enum vici_status vs, const struct vici_node *reply, void *arg)
{
	struct fetch *f = arg;
	if (!fetch_reply_ok(f, "list-conns", vs, reply))
		return;
	f->step = FETCH_SAS;
	fetch_next(f);
}

static void sa_event(const struct vici_node *event, void *arg)
{
	struct fetch *f = arg;
	if (f->nsa_events >= SA_TABLE_MAX_IKE)
		return;
	if (f->nsa_events == f->cap_sa_events) {
		f->cap_sa_events = f->cap_sa_events ? f->cap_sa_events * 2 : 8;
		f->sa_events = realloc(f->sa_events, f->cap_sa_events * sizeof(*f->sa_events));
		if (!f->sa_events)
			fatal("out of memory");
	}
	f->sa_events[f->nsa_events++] = vici_node_dup(event);
}

static void sas_reply(enum vici_status vs, const struct vici_node *reply, void *arg)
{
	struct fetch *f = arg;
	if (!fetch_reply_ok(f, "list-sas", vs, reply))
		return;
	sa_table_replace(f->st->sas, (const struct vici_node *const *)f->sa_events, f->nsa_events,
			 clock_mono_s(), NULL);
	f->step = FETCH_CERTS;
	fetch_next(f);
}

static void cert_event(const struct vici_node *event, void *arg)
{
	struct fetch *f = arg;
	struct tunnel_status *st = f->st;
	const char *flag = vici_str(event, "flag");
	const struct vici_node *data = vici_child(event, "data");
	if (st->ncerts >= TUNNEL_MAX_CERTS || !data || data->type != VICI_NODE_VALUE ||
	    (flag && strcmp(flag, "NONE") != 0))
		return;
	struct cert_info ci;
	if (cert_info_from_der(data->value, data->value_len, &ci) < 0)
		return;
	ci.has_private_key = vici_yes(event, "has_privkey");
	struct cert_info *nc = realloc(st->certs, (st->ncerts + 1) * sizeof(*nc));
	if (!nc)
		fatal("out of memory");
	st->certs = nc;
	st->certs[st->ncerts++] = ci;
}

static void certs_reply(enum vici_status vs, const struct vici_node *reply, void *arg)
{
	struct fetch *f = arg;
	if (!fetch_reply_ok(f, "list-certs", vs, reply))
		return;
	fetch_finish(f, NULL);
}

static void fetch_next(struct fetch *f)
{
	int rc = -1;
	struct vici_builder *args = NULL;
	switch (f->step) {
	case FETCH_VERSION:
		rc = vici_request(f->client, "version", NULL, version_reply, f);
		break;
	case FETCH_STATS:
		rc = vici_request(f->client, "stats", NULL, stats_reply, f);
		break;
	case FETCH_CONNS:
		rc = vici_request_stream(f->client, "list-conns", NULL, "list-conn", conn_event,
					 conns_reply, f);
		break;
	case FETCH_SAS:
		/* blocking, as sa_monitor: "noblock" leaves out the IKE_SAs in use */
		rc = vici_request_stream(f->client, "list-sas", NULL, "list-sa", sa_event,
					 sas_reply, f);
		break;
	case FETCH_CERTS:
		args = vici_builder_new();
		vici_add_kv(args, "type", "X509");
		rc = vici_request_stream(f->client, "list-certs", args, "list-cert", cert_event,
					 certs_reply, f);
		break;
	case FETCH_DONE:
		return;
	}
	if (rc < 0)
		fetch_finish(f, vici_client_error(f->client)[0] ? vici_client_error(f->client)
								: "not connected");
}

int tunnel_status_fetch(struct vici_client *c, tunnel_status_cb cb, void *arg)
{
	if (!vici_client_connected(c))
		return -1;
	struct fetch *f = calloc(1, sizeof(*f));
	if (!f)
		fatal("out of memory");
	f->client = c;
	f->cb = cb;
	f->arg = arg;
	f->st = status_new(vici_client_uri(c));
	f->step = FETCH_VERSION;
	fetch_next(f);
	return 0;
}
