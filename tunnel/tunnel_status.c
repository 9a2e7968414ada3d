/*
 * The health check and the JSON form of a tunnel snapshot.
 */
#include "tunnel/tunnel_status.h"

#include <stdio.h>
#include <string.h>

const char *tunnel_check_level_str(enum tunnel_check_level level)
{
	switch (level) {
	case TUNNEL_CHECK_OK:
		return "OK";
	case TUNNEL_CHECK_WARNING:
		return "WARNING";
	case TUNNEL_CHECK_CRITICAL:
		return "CRITICAL";
	}
	return "UNKNOWN";
}

static int str_is(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static int set_or_any(const char *s)
{
	return s && s[0];
}

static const struct tunnel_conn *find_conn(const struct tunnel_status *st, const char *name)
{
	for (size_t i = 0; i < st->nconns; i++) {
		if (strcmp(st->conns[i].name, name) == 0)
			return &st->conns[i];
	}
	return NULL;
}

/* The usable CHILD_SA the check wants, or NULL with the reason in why. */
static const struct sa_child *check_find_child(const struct tunnel_status *st,
					       const struct tunnel_check_params *p,
					       const struct sa_ike **ike_out, char *why,
					       size_t whysz)
{
	const char *conn = set_or_any(p->connection) ? p->connection : NULL;
	if (set_or_any(p->local_address) && set_or_any(p->remote_address)) {
		struct sa_flow flow = {0};
		int rfamily;
		if (ts_addr_parse(p->local_address, &flow.family, flow.local) < 0 ||
		    ts_addr_parse(p->remote_address, &rfamily, flow.remote) < 0 ||
		    rfamily != flow.family) {
			snprintf(why, whysz, "bad addresses %s === %s", p->local_address,
				 p->remote_address);
			return NULL;
		}
		const struct sa_child *child;
		enum sa_match m = sa_table_find_covering(st->sas, &flow, conn, ike_out, &child);
		if (m == SA_MATCH_FOUND && (!set_or_any(p->child) || str_is(child->name, p->child)))
			return child;
		snprintf(why, whysz, "no INSTALLED CHILD_SA%s%s covers %s === %s%s",
			 set_or_any(p->child) ? " " : "", set_or_any(p->child) ? p->child : "",
			 p->local_address, p->remote_address,
			 m == SA_MATCH_AMBIGUOUS ? " (ambiguous: several peers)" : "");
		return NULL;
	}
	for (size_t i = 0; i < sa_table_ike_count(st->sas); i++) {
		const struct sa_ike *ike = sa_table_ike_at(st->sas, i);
		if ((conn && !str_is(ike->name, conn)) || !str_is(ike->state, "ESTABLISHED"))
			continue;
		for (size_t j = 0; j < ike->child_count; j++) {
			const struct sa_child *c = &ike->children[j];
			if (str_is(c->state, "INSTALLED") &&
			    (!set_or_any(p->child) || str_is(c->name, p->child))) {
				*ike_out = ike;
				return c;
			}
		}
	}
	snprintf(why, whysz, "no INSTALLED CHILD_SA%s%s%s%s", set_or_any(p->child) ? " " : "",
		 set_or_any(p->child) ? p->child : "", conn ? " of connection " : "",
		 conn ? conn : "");
	return NULL;
}

static void join_ts(const struct sa_ts_list *l, char *out, size_t outsz)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < l->count; i++) {
		int n = snprintf(out + used, outsz - used, "%s%s", i ? "," : "", l->text[i]);
		if (n < 0 || (size_t)n >= outsz - used)
			return;
		used += (size_t)n;
	}
}

void tunnel_check_eval(const struct tunnel_status *st, const struct tunnel_check_params *p,
		       time_t now, struct tunnel_check *out)
{
	out->level = TUNNEL_CHECK_OK;
	out->text[0] = '\0';
	if (!st->reachable) {
		out->level = TUNNEL_CHECK_CRITICAL;
		snprintf(out->text, sizeof(out->text), "charon unreachable: %.400s", st->error);
		return;
	}
	if (set_or_any(p->connection) && !find_conn(st, p->connection)) {
		out->level = TUNNEL_CHECK_CRITICAL;
		snprintf(out->text, sizeof(out->text), "connection %s is not loaded in charon",
			 p->connection);
		return;
	}
	char why[256];
	const struct sa_ike *ike = NULL;
	const struct sa_child *child = check_find_child(st, p, &ike, why, sizeof(why));
	if (!child) {
		out->level = TUNNEL_CHECK_CRITICAL;
		snprintf(out->text, sizeof(out->text), "%s", why);
		return;
	}

	/* The soonest-expiring certificate charon holds a private key for. */
	const struct cert_info *soonest = NULL;
	for (size_t i = 0; i < st->ncerts; i++) {
		if (st->certs[i].has_private_key &&
		    (!soonest || st->certs[i].not_after < soonest->not_after))
			soonest = &st->certs[i];
	}
	char certtext[300] = "";
	if (soonest) {
		long days = cert_info_days_left(soonest, now);
		if (days < 0) {
			out->level = TUNNEL_CHECK_CRITICAL;
			snprintf(certtext, sizeof(certtext),
				 "; certificate %.200s EXPIRED %ld days ago", soonest->subject,
				 -days);
		} else {
			if (days <= p->cert_warn_days)
				out->level = TUNNEL_CHECK_WARNING;
			snprintf(certtext, sizeof(certtext),
				 "; certificate %.200s expires in %ld days", soonest->subject,
				 days);
		}
	}
	char lts[128], rts[128];
	join_ts(&child->local_ts, lts, sizeof(lts));
	join_ts(&child->remote_ts, rts, sizeof(rts));
	snprintf(out->text, sizeof(out->text),
		 "%.64s up to %.128s, CHILD_SA %.64s #%u INSTALLED %.40s === %.40s%.100s",
		 ike->name, ike->remote_id ? ike->remote_id : "?", child->name, child->uniqueid,
		 lts, rts, certtext);
}

/* ---- JSON -------------------------------------------------------------------- */

static json_t *json_str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *json_opt_i64(struct sa_opt_i64 v)
{
	return v.set ? json_integer(v.value) : json_null();
}

static json_t *json_opt_u64(struct sa_opt_u64 v)
{
	return v.set ? json_integer((json_int_t)v.value) : json_null();
}

/* A comma-separated list as a JSON array of strings. */
static json_t *json_split(const char *csv)
{
	json_t *a = json_array();
	const char *p = csv;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		json_array_append_new(a, json_stringn(p, n));
		p = comma ? comma + 1 : NULL;
	}
	return a;
}

static json_t *json_ts(const struct sa_ts_list *l)
{
	json_t *a = json_array();
	for (size_t i = 0; i < l->count; i++)
		json_array_append_new(a, json_string(l->text[i]));
	return a;
}

static json_t *child_json(const struct sa_child *c)
{
	return json_pack(
		"{s:o, s:I, s:I, s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:I, s:o, s:o, s:I, s:I, "
		"s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"name", json_str_or_null(c->name), "uniqueid", (json_int_t)c->uniqueid, "reqid",
		(json_int_t)c->reqid, "state", json_str_or_null(c->state), "mode",
		json_str_or_null(c->mode), "protocol", json_str_or_null(c->protocol), "encap",
		c->encap, "spi_in", json_str_or_null(c->spi_in), "spi_out",
		json_str_or_null(c->spi_out), "encr_alg", json_str_or_null(c->encr_alg),
		"encr_keysize", (json_int_t)c->encr_keysize, "integ_alg",
		json_str_or_null(c->integ_alg), "dh_group", json_str_or_null(c->dh_group),
		"bytes_in", (json_int_t)c->bytes_in, "bytes_out", (json_int_t)c->bytes_out,
		"packets_in", (json_int_t)c->packets_in, "packets_out", (json_int_t)c->packets_out,
		"last_in_ago_s", json_opt_u64(c->use_in), "last_out_ago_s",
		json_opt_u64(c->use_out), "installed_ago_s", json_opt_i64(c->install_time),
		"rekey_in_s", json_opt_i64(c->rekey_time), "expires_in_s",
		json_opt_i64(c->life_time), "local_ts", json_ts(&c->local_ts), "remote_ts",
		json_ts(&c->remote_ts));
}

static json_t *ike_json(const struct sa_ike *ike)
{
	json_t *children = json_array();
	for (size_t i = 0; i < ike->child_count; i++)
		json_array_append_new(children, child_json(&ike->children[i]));
	return json_pack(
		"{s:I, s:I, s:o, s:o, s:I, s:o, s:o, s:I, s:o, s:b, s:o, s:I, s:o, s:o, "
		"s:o, s:o, s:o, s:o, s:o}",
		"uniqueid", (json_int_t)ike->uniqueid, "version", (json_int_t)ike->version, "state",
		json_str_or_null(ike->state), "local_host", json_str_or_null(ike->local_host),
		"local_port", (json_int_t)ike->local_port, "local_id",
		json_str_or_null(ike->local_id), "remote_host", json_str_or_null(ike->remote_host),
		"remote_port", (json_int_t)ike->remote_port, "remote_id",
		json_str_or_null(ike->remote_id), "initiator", ike->initiator, "encr_alg",
		json_str_or_null(ike->encr_alg), "encr_keysize", (json_int_t)ike->encr_keysize,
		"integ_alg", json_str_or_null(ike->integ_alg), "prf_alg",
		json_str_or_null(ike->prf_alg), "dh_group", json_str_or_null(ike->dh_group),
		"established_ago_s", json_opt_i64(ike->established), "rekey_in_s",
		json_opt_i64(ike->rekey_time), "reauth_in_s", json_opt_i64(ike->reauth_time),
		"child_sas", children);
}

static json_t *conn_json(const struct tunnel_status *st, const struct tunnel_conn *c,
			 const char *name)
{
	json_t *sas = json_array();
	for (size_t i = 0; i < sa_table_ike_count(st->sas); i++) {
		const struct sa_ike *ike = sa_table_ike_at(st->sas, i);
		if (str_is(ike->name, name))
			json_array_append_new(sas, ike_json(ike));
	}
	if (!c)
		return json_pack("{s:s, s:b, s:o}", "name", name, "loaded", 0, "ike_sas", sas);
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o}", "name", name,
			 "loaded", 1, "version", json_str_or_null(c->version), "local_addrs",
			 json_split(c->local_addrs), "remote_addrs", json_split(c->remote_addrs),
			 "local_id", json_str_or_null(c->local_id), "remote_id",
			 json_str_or_null(c->remote_id), "rekey_time_s", (json_int_t)c->rekey_time,
			 "reauth_time_s", (json_int_t)c->reauth_time, "children",
			 json_split(c->children), "ike_sas", sas);
}

static void iso_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *tunnel_status_json(const struct tunnel_status *st, const struct tunnel_check *check,
			   time_t now)
{
	json_t *conns = json_array();
	for (size_t i = 0; i < st->nconns; i++)
		json_array_append_new(conns, conn_json(st, &st->conns[i], st->conns[i].name));
	/* SAs of connections that are no longer loaded still show up. */
	for (size_t i = 0; i < sa_table_ike_count(st->sas); i++) {
		const struct sa_ike *ike = sa_table_ike_at(st->sas, i);
		int seen = find_conn(st, ike->name) != NULL;
		for (size_t j = 0; j < i && !seen; j++)
			seen = str_is(sa_table_ike_at(st->sas, j)->name, ike->name);
		if (!seen)
			json_array_append_new(conns, conn_json(st, NULL, ike->name));
	}

	json_t *certs = json_array();
	for (size_t i = 0; i < st->ncerts; i++) {
		const struct cert_info *ci = &st->certs[i];
		char nb[32], na[32];
		iso_time(ci->not_before, nb, sizeof(nb));
		iso_time(ci->not_after, na, sizeof(na));
		json_array_append_new(
			certs, json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:b}", "subject",
					 ci->subject, "issuer", ci->issuer, "serial", ci->serial,
					 "san", json_split(ci->san), "not_before", nb, "not_after",
					 na, "days_left", (json_int_t)cert_info_days_left(ci, now),
					 "has_private_key", ci->has_private_key));
	}

	char gen[32];
	iso_time(st->collected_at, gen, sizeof(gen));
	json_t *root = json_pack(
		"{s:i, s:s, s:{s:s, s:b, s:o, s:o, s:o}, s:o, s:o}", "schema", 1, "generated", gen,
		"vici", "uri", st->uri, "reachable", st->reachable, "error",
		json_str_or_null(st->error), "daemon", json_str_or_null(st->daemon), "backend",
		json_str_or_null(st->backend), "connections", conns, "certificates", certs);
	if (check)
		json_object_set_new(root, "check",
				    json_pack("{s:s, s:i, s:s}", "status",
					      tunnel_check_level_str(check->level), "code",
					      (int)check->level, "message", check->text));
	return root;
}
