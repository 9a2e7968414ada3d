/*
 * The quarantine as the edge's queue process serves it to the control
 * socket (`airlockctl quarantine list|show|release|delete`): each command
 * becomes one JSON object small enough for one ipc message. The queue
 * process does the file operations because it runs as the spool's owner and
 * owns the runner that a release kicks; the root parent only routes.
 */
#include "relay/edge/edge.h"

#include "common/log.h"
#include "relay/scan_quarantine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Entries in one listing, and octets of each text in it: the answer stays under EDGE_JSON_MAX. */
#define LIST_MAX      80
#define LIST_TEXT_MAX 160
/* Octets of the header section and recipients that `show` returns. */
#define SHOW_HEADERS_MAX (24 * 1024)
#define SHOW_RCPTS_MAX	 50

void edge_quarantine_dir(const struct airlock_config *cfg, char *out, size_t size)
{
	if (cfg->queue.quarantine_dir[0])
		snprintf(out, size, "%s", cfg->queue.quarantine_dir);
	else
		snprintf(out, size, "%s/quarantine", cfg->queue.directory);
}

/* A JSON string of text[0..len) cut to max octets, bytes outside printable ASCII as '?'. */
static json_t *text_json(const char *text, size_t len, size_t max, bool keep_newlines)
{
	if (len > max)
		len = max;
	char *c = malloc(len + 1);
	if (!c)
		fatal("out of memory");
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		bool ok = (ch >= 0x20 && ch < 0x7f) ||
			  (keep_newlines && (ch == '\r' || ch == '\n' || ch == '\t'));
		c[i] = ok ? (char)ch : '?';
	}
	c[len] = '\0';
	json_t *s = json_string(c);
	free(c);
	return s;
}

static json_t *str_json(const char *s)
{
	return text_json(s, strlen(s), LIST_TEXT_MAX, false);
}

static json_t *error_json(const char *msg)
{
	return json_pack("{s:b, s:o}", "ok", 0, "error", text_json(msg, strlen(msg), 400, false));
}

struct listing {
	struct scan_quarantine *qr;
	json_t *messages;
	size_t total;
	time_t now;
};

static int list_one(void *arg, const char *id)
{
	struct listing *l = arg;
	struct scan_quarantine_info in;
	char err[256];
	if (l->total++ >= LIST_MAX)
		return 0;
	if (scan_quarantine_stat(l->qr, id, &in, err, sizeof(err)) < 0) {
		json_array_append_new(l->messages,
				      json_pack("{s:s, s:o}", "id", id, "error", str_json(err)));
		return 0;
	}
	json_array_append_new(l->messages,
			      json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:I, s:o, s:o}", "id",
					in.id, "arrived", (json_int_t)in.arrived, "age_s",
					(json_int_t)(l->now - in.arrived), "size",
					(json_int_t)in.content_size, "from", str_json(in.from),
					"first_rcpt", str_json(in.first_rcpt), "recipients",
					(json_int_t)in.nrcpts, "client", str_json(in.client),
					"reason", str_json(in.reason)));
	return 0;
}

static json_t *cmd_list(struct scan_quarantine *qr)
{
	struct listing l = {qr, json_array(), 0, time(NULL)};
	if (scan_quarantine_list(qr, list_one, &l) < 0) {
		json_decref(l.messages);
		return error_json("cannot read the quarantine directory");
	}
	return json_pack("{s:b, s:o, s:I, s:b}", "ok", 1, "messages", l.messages, "total",
			 (json_int_t)l.total, "truncated", l.total > LIST_MAX);
}

static json_t *cmd_show(struct scan_quarantine *qr, const char *id)
{
	struct queue_envelope env;
	char err[256], *hdr;
	size_t hlen;
	bool cut;
	if (scan_quarantine_headers(qr, id, &env, &hdr, &hlen, &cut, err, sizeof(err)) < 0)
		return error_json(err);
	json_t *rcpts = json_array();
	for (size_t i = 0; i < env.nrcpts && i < SHOW_RCPTS_MAX; i++)
		json_array_append_new(rcpts, str_json(env.rcpts[i]));
	json_t *o =
		json_pack("{s:b, s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:o, s:b, s:o, s:b}", "ok", 1,
			  "id", env.id, "arrived", (json_int_t)env.arrived, "reason",
			  str_json(env.hold_reason ? env.hold_reason : ""), "from",
			  str_json(env.from), "rcpts", rcpts, "recipients", (json_int_t)env.nrcpts,
			  "client", str_json(env.client_addr), "helo", str_json(env.helo), "tls",
			  env.tls, "headers", text_json(hdr, hlen, SHOW_HEADERS_MAX, true),
			  "headers_cut", cut || hlen > SHOW_HEADERS_MAX);
	free(hdr);
	queue_envelope_free(&env);
	return o;
}

json_t *edge_quarantine_command(struct scan_quarantine *qr, struct queue_spool *spool,
				const char *op, const char *id, bool *released)
{
	char err[256];
	*released = false;
	if (!qr)
		return error_json("the quarantine directory is not open");
	if (strcmp(op, "list") == 0)
		return cmd_list(qr);
	if (!queue_id_valid(id))
		return error_json("not a queue id");
	if (strcmp(op, "show") == 0)
		return cmd_show(qr, id);
	if (strcmp(op, "delete") == 0) {
		if (scan_quarantine_delete(qr, id) < 0) {
			snprintf(err, sizeof(err), "cannot delete %s: %s", id,
				 errno == ENOENT ? "no such quarantined message" : strerror(errno));
			return error_json(err);
		}
		log_info("event=quarantine-deleted id=%s", id);
		return json_pack("{s:b, s:s, s:s}", "ok", 1, "id", id, "done", "deleted");
	}
	if (strcmp(op, "release") == 0) {
		char why[320];
		if (scan_quarantine_release(qr, spool, id, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "cannot release %s: %s", id, err);
			return error_json(why);
		}
		log_info("event=quarantine-released id=%s", id);
		*released = true;
		return json_pack("{s:b, s:s, s:s}", "ok", 1, "id", id, "done", "released");
	}
	return error_json("unknown quarantine operation");
}
