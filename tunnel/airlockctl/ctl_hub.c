/*
 * The hub section of `airlockctl status`: what airlock-hub's control socket
 * (hub.control_socket) reports about its gate, the attestation check and the
 * proxy to the internal MTA, for a person or under "hub" in --json.
 */
#include "tunnel/airlockctl/ctl.h"

#include "common/control_client.h"

#include <string.h>
#include <unistd.h>

#define CTL_HUB_TIMEOUT_MS 5000

bool ctl_hub_wanted(const struct ctl_opts *o)
{
	return o->cfg.hub.nlisten > 0 ||
	       (o->cfg.hub.control_socket[0] && access(o->cfg.hub.control_socket, F_OK) == 0);
}

json_t *ctl_hub_from_reply(json_t *reply, char *err, size_t errlen)
{
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		snprintf(err, errlen, "hub refused status: %s", e ? e : "unknown error");
		return NULL;
	}
	json_t *hub = json_object_get(reply, "hub");
	if (!json_is_object(hub)) {
		snprintf(err, errlen, "hub status reply has no \"hub\" object");
		return NULL;
	}
	return json_incref(hub);
}

json_t *ctl_hub_request(const struct ctl_opts *o, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s}", "cmd", "status");
	json_t *rep =
		control_request(o->cfg.hub.control_socket, req, CTL_HUB_TIMEOUT_MS, err, errlen);
	json_decref(req);
	if (!rep)
		return NULL;
	json_t *hub = ctl_hub_from_reply(rep, err, errlen);
	json_decref(rep);
	return hub;
}

/* A counter, or -1 when the daemon did not report it (printed as "?"). */
static long long count(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static const char *count_text(json_t *obj, const char *key, char *out, size_t outsz)
{
	long long n = count(obj, key);
	if (n < 0)
		snprintf(out, outsz, "?");
	else
		snprintf(out, outsz, "%lld", n);
	return out;
}

static const char *text(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && s[0] ? s : "?";
}

static const char *uptime_text(long long s, char *out, size_t outsz)
{
	if (s < 0)
		snprintf(out, outsz, "?");
	else if (s >= 86400)
		snprintf(out, outsz, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, outsz, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, outsz, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(out, outsz, "%llds", s);
	return out;
}

/* " (no-sa 3, vici-down 1)" for the non-zero counts of a by-reason object; "" if none. */
static void render_reasons(FILE *out, json_t *by)
{
	const char *name;
	json_t *v;
	int any = 0;
	json_object_foreach(by, name, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) == 0)
			continue;
		fprintf(out, "%s%s %lld", any ? ", " : " (", name,
			(long long)json_integer_value(v));
		any = 1;
	}
	if (any)
		fputc(')', out);
}

static void render_gate(FILE *out, json_t *g)
{
	char a[24], r[24], t[24];
	if (!json_is_object(g)) {
		fputs("  gate   not reported\n", out);
		return;
	}
	json_t *vici = json_object_get(g, "vici_connected");
	const char *table = text(g, "sa_table");
	fprintf(out, "  gate   backend %s (device %s), VICI %s, SA table %s\n", text(g, "backend"),
		text(g, "device"),
		json_is_true(vici)    ? "connected"
		: json_is_false(vici) ? "DOWN"
				      : "?",
		strcmp(table, "fresh") == 0 ? "fresh" : table);
	fprintf(out, "         accepted %s, rejected %s, tempfailed %s",
		count_text(g, "accepted", a, sizeof(a)), count_text(g, "rejected", r, sizeof(r)),
		count_text(g, "tempfailed", t, sizeof(t)));
	render_reasons(out, json_object_get(g, "by_reason"));
	fputc('\n', out);
	json_t *last = json_object_get(g, "last_refused");
	if (json_is_object(last))
		fprintf(out, "         last refused %s (%s)\n", text(last, "peer"),
			text(last, "reason"));
	else
		fputs("         last refused: none\n", out);
}

static void render_attestation(FILE *out, json_t *at)
{
	char v[24], r[24], k[24];
	if (!json_is_object(at)) {
		fputs("  attest not reported\n", out);
		return;
	}
	long long keys = count(at, "trusted_keys");
	fprintf(out, "  attest verified %s, refused %s", count_text(at, "verified", v, sizeof(v)),
		count_text(at, "refused", r, sizeof(r)));
	render_reasons(out, json_object_get(at, "by_result"));
	fprintf(out, "; %s trusted key%s%s\n", count_text(at, "trusted_keys", k, sizeof(k)),
		keys == 1 ? "" : "s", keys == 0 ? " (NO EDGE CAN DELIVER)" : "");
}

static void render_proxy(FILE *out, json_t *p)
{
	char d[24], t[24], r[24];
	if (!json_is_object(p)) {
		fputs("  proxy  not reported\n", out);
		return;
	}
	fprintf(out, "  proxy  internal MTA %s: delivered %s, tempfailed %s, rejected %s\n",
		text(p, "internal_mta"), count_text(p, "delivered", d, sizeof(d)),
		count_text(p, "tempfailed", t, sizeof(t)), count_text(p, "rejected", r, sizeof(r)));
	if (json_object_get(p, "duplicates")) {
		char n[24];
		fprintf(out,
			"         duplicates %s (retries of delivered mail, not delivered again)\n",
			count_text(p, "duplicates", n, sizeof(n)));
	}
	if (json_object_get(p, "sessions_opened")) {
		char o[24], u[24], i[24];
		fprintf(out, "         sessions opened %s, reused %s, idle %s\n",
			count_text(p, "sessions_opened", o, sizeof(o)),
			count_text(p, "sessions_reused", u, sizeof(u)),
			count_text(p, "idle", i, sizeof(i)));
	}
}

void ctl_render_hub(FILE *out, json_t *hub, const char *why)
{
	char up[32], pid[24];
	if (!json_is_object(hub)) {
		fprintf(out, "\nhub daemon: not running (%s)\n", why && why[0] ? why : "no answer");
		return;
	}
	fprintf(out, "\nhub daemon: pid %s  up %s  listening",
		count_text(hub, "pid", pid, sizeof(pid)),
		uptime_text(count(hub, "uptime"), up, sizeof(up)));
	size_t i;
	json_t *l;
	json_t *listen = json_object_get(hub, "listen");
	json_array_foreach(listen, i, l)
	{
		fprintf(out, "%s%s", i ? ", " : " ",
			json_string_value(l) ? json_string_value(l) : "?");
	}
	if (json_array_size(listen) == 0)
		fputs(" nowhere", out);
	fputc('\n', out);
	render_gate(out, json_object_get(hub, "gate"));
	render_attestation(out, json_object_get(hub, "attestation"));
	render_proxy(out, json_object_get(hub, "proxy"));
}
