/*
 * airlockctl's view of the local daemon, through its control socket:
 * `airlockctl queue`, `airlockctl quarantine` and the daemon section of
 * `airlockctl status`.
 */
#include "tunnel/airlockctl/ctl.h"

#include "common/control_client.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CTL_CONTROL_TIMEOUT_MS 5000

json_t *ctl_daemon_request(const struct ctl_opts *o, const char *cmd, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd);
	json_t *rep = ctl_daemon_call(o, req, err, errlen);
	json_decref(req);
	return rep;
}

json_t *ctl_daemon_call(const struct ctl_opts *o, json_t *req, char *err, size_t errlen)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	json_t *rep = control_request(o->cfg.edge.control_socket, req, CTL_CONTROL_TIMEOUT_MS, err,
				      errlen);
	if (rep && !json_is_true(json_object_get(rep, "ok"))) {
		const char *e = json_string_value(json_object_get(rep, "error"));
		snprintf(err, errlen, "daemon refused %s: %s", cmd ? cmd : "?",
			 e ? e : "unknown error");
		json_decref(rep);
		return NULL;
	}
	return rep;
}

static json_int_t num(json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static const char *age_text(json_int_t s, char *out, size_t outsz)
{
	if (s >= 86400)
		snprintf(out, outsz, "%lldd%02lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, outsz, "%lldh%02lldm", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(out, outsz, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(out, outsz, "%llds", (long long)s);
	return out;
}

void ctl_render_daemon(FILE *out, json_t *d)
{
	char a[32];
	if (!d) {
		fputs("\nedge daemon: not running (no control socket)\n", out);
		return;
	}
	fprintf(out, "\nedge daemon: %s pid %lld  up %s\n",
		json_string_value(json_object_get(d, "hostname")), (long long)num(d, "pid"),
		age_text(num(d, "uptime_s"), a, sizeof(a)));
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(d, "processes"), i, p)
	{
		fprintf(out, "  process %-6s pid %-7lld restarts %lld%s\n",
			json_string_value(json_object_get(p, "name")), (long long)num(p, "pid"),
			(long long)num(p, "restarts"),
			json_is_true(json_object_get(p, "crash_loop")) ? "  CRASH LOOP" : "");
	}
	json_t *s = json_object_get(d, "smtp");
	if (json_is_object(s))
		fprintf(out,
			"  smtp   connections %lld now, %lld total, %lld refused by cap; messages "
			"%lld accepted, %lld rejected, %lld tempfailed; spool %s\n",
			(long long)num(s, "connections_now"),
			(long long)num(s, "connections_total"), (long long)num(s, "refused_by_cap"),
			(long long)num(s, "messages_accepted"),
			(long long)num(s, "messages_rejected"),
			(long long)num(s, "messages_tempfailed"),
			json_is_true(json_object_get(s, "spool_space_ok")) ? "ok" : "FULL");
	else
		fputs("  smtp   not answering\n", out);
	json_t *q = json_object_get(d, "queue");
	if (json_is_object(q)) {
		fprintf(out,
			"  queue  %lld queued (%lld active, %lld deferred), oldest %s; %lld "
			"delivered; %lld in hold\n",
			(long long)num(q, "queued"), (long long)num(q, "active"),
			(long long)num(q, "deferred"),
			age_text(num(q, "oldest_age_s"), a, sizeof(a)),
			(long long)num(q, "delivered"), (long long)num(q, "hold_area"));
		/* One line per hub the queue forwards to, preferred first as configured. */
		size_t k;
		json_t *h;
		json_array_foreach(json_object_get(q, "hubs"), k, h)
		{
			const char *addr = json_string_value(json_object_get(h, "address"));
			const char *conn = json_string_value(json_object_get(h, "connection"));
			const char *st = json_string_value(json_object_get(h, "state"));
			fprintf(out, "  hub    %s priority %lld via %s: %s\n", addr ? addr : "?",
				(long long)num(h, "priority"), conn ? conn : "?", st ? st : "?");
		}
	} else
		fputs("  queue  not answering\n", out);
	/* "scan" is absent when scanning is off, null when the scan process did not answer. */
	json_t *sc = json_object_get(d, "scan");
	char db[48], when[32];
	if (json_is_object(sc)) {
		if (num(sc, "db_version") > 0)
			snprintf(db, sizeof(db), "db %lld", (long long)num(sc, "db_version"));
		else
			snprintf(db, sizeof(db), "local db");
		if (num(sc, "last_reload") > 0)
			snprintf(when, sizeof(when), "last reload %s ago",
				 age_text(time(NULL) - num(sc, "last_reload"), a, sizeof(a)));
		else
			snprintf(when, sizeof(when), "not reloaded");
		fprintf(out,
			"  scanner  ClamAV %s, %s, %lld signatures, db age %s, %s%s; %lld scanned, "
			"%lld infected, %lld rejected, %lld errors\n",
			json_string_value(json_object_get(sc, "engine_version")), db,
			(long long)num(sc, "signatures"),
			num(sc, "db_age_s") >= 0 ? age_text(num(sc, "db_age_s"), a, sizeof(a))
						 : "?",
			when, json_is_true(json_object_get(sc, "reloading")) ? " (reloading)" : "",
			(long long)num(sc, "scans"), (long long)num(sc, "infected"),
			(long long)num(sc, "rejected"), (long long)num(sc, "errors"));
	} else if (sc) {
		fputs("  scanner  not answering\n", out);
	}
}

int ctl_cmd_queue(struct ctl_opts *o)
{
	char err[512];
	json_t *rep = ctl_daemon_request(o, "queue", err, sizeof(err));
	if (!rep) {
		fprintf(stderr, "airlockctl: %s\n", err);
		return 1;
	}
	if (o->json) {
		json_object_del(rep, "ok");
		char *text = json_dumps(rep, JSON_INDENT(2));
		if (text)
			puts(text);
		free(text);
		json_decref(rep);
		return 0;
	}
	json_t *msgs = json_object_get(rep, "messages");
	printf("%-20s %8s %9s %5s %8s  %-30s %s\n", "ID", "AGE", "SIZE", "RCPT", "NEXT", "FROM",
	       "STATUS");
	size_t i;
	json_t *m;
	json_array_foreach(msgs, i, m)
	{
		char age[32], next[32];
		const char *from = json_string_value(json_object_get(m, "from"));
		const char *reason = json_string_value(json_object_get(m, "reason"));
		int active = json_is_true(json_object_get(m, "active"));
		printf("%-20s %8s %9lld %2lld/%-2lld %8s  %-30s %s\n",
		       json_string_value(json_object_get(m, "id")),
		       age_text(num(m, "age_s"), age, sizeof(age)), (long long)num(m, "size"),
		       (long long)num(m, "delivered_rcpts"), (long long)num(m, "recipients"),
		       active ? "now" : age_text(num(m, "next_attempt_in_s"), next, sizeof(next)),
		       from ? (from[0] ? from : "<>") : "?",
		       active		     ? "delivering"
		       : reason && reason[0] ? reason
					     : "queued");
	}
	printf("%lld message%s%s\n", (long long)num(rep, "total"),
	       num(rep, "total") == 1 ? "" : "s",
	       json_is_true(json_object_get(rep, "truncated")) ? " (list truncated)" : "");
	json_decref(rep);
	return 0;
}

static const char *jstr(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

static void print_quarantine_list(json_t *rep)
{
	char age[32];
	size_t i;
	json_t *m;
	printf("%-20s %8s %9s %5s  %-30s %s\n", "ID", "AGE", "SIZE", "RCPT", "FROM", "REASON");
	json_array_foreach(json_object_get(rep, "messages"), i, m)
	{
		if (json_object_get(m, "error")) {
			printf("%-20s %s\n", jstr(m, "id"), jstr(m, "error"));
			continue;
		}
		printf("%-20s %8s %9lld %5lld  %-30s %s\n", jstr(m, "id"),
		       age_text(num(m, "age_s"), age, sizeof(age)), (long long)num(m, "size"),
		       (long long)num(m, "recipients"), jstr(m, "from")[0] ? jstr(m, "from") : "<>",
		       jstr(m, "reason"));
	}
	printf("%lld quarantined message%s%s\n", (long long)num(rep, "total"),
	       num(rep, "total") == 1 ? "" : "s",
	       json_is_true(json_object_get(rep, "truncated")) ? " (list truncated)" : "");
}

static void print_quarantine_show(json_t *rep)
{
	char when[64], age[32];
	time_t t = (time_t)num(rep, "arrived");
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	printf("id:      %s\n", jstr(rep, "id"));
	printf("held:    %s (%s ago)\n", when, age_text(time(NULL) - t, age, sizeof(age)));
	printf("reason:  %s\n", jstr(rep, "reason"));
	printf("from:    <%s>\n", jstr(rep, "from"));
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(rep, "rcpts"), i, r)
	{
		printf("%s <%s>\n", i == 0 ? "to:     " : "        ", json_string_value(r));
	}
	if ((size_t)num(rep, "recipients") > json_array_size(json_object_get(rep, "rcpts")))
		printf("         ... %lld recipients in all\n", (long long)num(rep, "recipients"));
	printf("client:  %s (helo %s, tls %s)\n\n", jstr(rep, "client"), jstr(rep, "helo"),
	       json_is_true(json_object_get(rep, "tls")) ? "yes" : "no");
	/* The header section as it would be delivered, CRLF shown as LF. */
	for (const char *h = jstr(rep, "headers"); *h; h++)
		if (*h != '\r')
			putchar(*h);
	if (json_is_true(json_object_get(rep, "headers_cut")))
		puts("[header section cut]");
}

int ctl_cmd_quarantine(struct ctl_opts *o, int nargs, char **args)
{
	const char *op = nargs > 0 ? args[0] : "";
	bool list = strcmp(op, "list") == 0;
	bool one =
		strcmp(op, "show") == 0 || strcmp(op, "release") == 0 || strcmp(op, "delete") == 0;
	if (!(list && nargs == 1) && !(one && nargs == 2)) {
		fprintf(stderr, "airlockctl: usage: quarantine list | show ID | release ID | "
				"delete ID\n");
		return 3;
	}
	char err[512];
	json_t *req = json_pack("{s:s, s:s, s:s}", "cmd", "quarantine", "op", op, "id",
				one ? args[1] : "");
	json_t *rep = ctl_daemon_call(o, req, err, sizeof(err));
	json_decref(req);
	if (!rep) {
		fprintf(stderr, "airlockctl: %s\n", err);
		return 1;
	}
	if (o->json) {
		json_object_del(rep, "ok");
		char *text = json_dumps(rep, JSON_INDENT(2));
		if (text)
			puts(text);
		free(text);
	} else if (list) {
		print_quarantine_list(rep);
	} else if (strcmp(op, "show") == 0) {
		print_quarantine_show(rep);
	} else {
		printf("%s %s\n", jstr(rep, "id"), jstr(rep, "done"));
	}
	json_decref(rep);
	return 0;
}
