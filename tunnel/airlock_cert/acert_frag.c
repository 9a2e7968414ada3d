/*
 * Configuration fragments (see acert_frag.h).
 */
#include "tunnel/airlock_cert/acert_frag.h"

#include "common/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void acert_conn_defaults(struct acert_conn *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", ACERT_CONN_NAME);
	snprintf(c->child, sizeof(c->child), "%s", ACERT_CONN_NAME);
	snprintf(c->start_action, sizeof(c->start_action), "none");
	snprintf(c->dpd_delay, sizeof(c->dpd_delay), "30s");
	c->encap = 1;
}

static int charset_ok(const char *s, const char *extra)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr(extra, ch)))
			return 0;
	}
	return 1;
}

static int field(const char *v, const char *what, const char *extra, char *err, size_t errlen)
{
	if (!v[0])
		return errmsg_set(err, errlen, "%s is not set", what);
	if (!charset_ok(v, extra))
		return errmsg_set(err, errlen, "%s '%.80s' has characters that are not allowed",
				  what, v);
	return 0;
}

int acert_conn_check(const struct acert_conn *c, char *err, size_t errlen)
{
	if (field(c->name, "connection name", "_-", err, errlen) ||
	    field(c->child, "child name", "_-", err, errlen) ||
	    field(c->local_addrs, "local addresses", ".:,%-", err, errlen) ||
	    field(c->remote_addrs, "remote addresses", ".:,%-", err, errlen) ||
	    field(c->local_id, "local identity", ".:-@", err, errlen) ||
	    field(c->remote_id, "remote identity", ".:-@%", err, errlen) ||
	    field(c->local_ts, "local traffic selector", ".:/,", err, errlen) ||
	    field(c->remote_ts, "remote traffic selector", ".:/,", err, errlen) ||
	    field(c->dpd_delay, "dpd delay", "", err, errlen))
		return -1;
	if (strcmp(c->start_action, "none") && strcmp(c->start_action, "trap") &&
	    strcmp(c->start_action, "start"))
		return errmsg_set(err, errlen, "start action must be none, trap or start");
	return 0;
}

int acert_conn_to_params(const struct acert_conn *c, struct acert_params *p, char *err,
			 size_t errlen)
{
	if (acert_conn_check(c, err, errlen) != 0)
		return -1;
	return (acert_params_set(p, "conn", c->name, err, errlen) ||
		acert_params_set(p, "child", c->child, err, errlen) ||
		acert_params_set(p, "local_addrs", c->local_addrs, err, errlen) ||
		acert_params_set(p, "remote_addrs", c->remote_addrs, err, errlen) ||
		acert_params_set(p, "local_id", c->local_id, err, errlen) ||
		acert_params_set(p, "remote_id", c->remote_id, err, errlen) ||
		acert_params_set(p, "local_ts", c->local_ts, err, errlen) ||
		acert_params_set(p, "remote_ts", c->remote_ts, err, errlen) ||
		acert_params_set(p, "start_action", c->start_action, err, errlen) ||
		acert_params_set(p, "dpd_delay", c->dpd_delay, err, errlen) ||
		acert_params_set(p, "encap", c->encap ? "yes" : "no", err, errlen))
		       ? -1
		       : 0;
}

static int take(const struct acert_params *p, const char *key, char *out, size_t outlen, char *err,
		size_t errlen)
{
	const char *v = acert_params_get(p, key);
	if (!v)
		return errmsg_set(err, errlen, "connection parameter %s missing", key);
	if (strlen(v) >= outlen)
		return errmsg_set(err, errlen, "connection parameter %s too long", key);
	snprintf(out, outlen, "%s", v);
	return 0;
}

int acert_conn_from_params(const struct acert_params *p, struct acert_conn *c, char *err,
			   size_t errlen)
{
	acert_conn_defaults(c);
	char encap[8];
	if (take(p, "conn", c->name, sizeof(c->name), err, errlen) ||
	    take(p, "child", c->child, sizeof(c->child), err, errlen) ||
	    take(p, "local_addrs", c->local_addrs, sizeof(c->local_addrs), err, errlen) ||
	    take(p, "remote_addrs", c->remote_addrs, sizeof(c->remote_addrs), err, errlen) ||
	    take(p, "local_id", c->local_id, sizeof(c->local_id), err, errlen) ||
	    take(p, "remote_id", c->remote_id, sizeof(c->remote_id), err, errlen) ||
	    take(p, "local_ts", c->local_ts, sizeof(c->local_ts), err, errlen) ||
	    take(p, "remote_ts", c->remote_ts, sizeof(c->remote_ts), err, errlen) ||
	    take(p, "start_action", c->start_action, sizeof(c->start_action), err, errlen) ||
	    take(p, "dpd_delay", c->dpd_delay, sizeof(c->dpd_delay), err, errlen) ||
	    take(p, "encap", encap, sizeof(encap), err, errlen))
		return -1;
	if (strcmp(encap, "yes") && strcmp(encap, "no"))
		return errmsg_set(err, errlen, "connection parameter encap must be yes or no");
	c->encap = strcmp(encap, "yes") == 0;
	return acert_conn_check(c, err, errlen);
}

/* A growing text buffer; on out of memory it stays failed and yields NULL. */
struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	if (t->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->cap + (size_t)(n > 0 ? n : 0) + 1) * 2;
		char *nb = n < 0 ? NULL : realloc(t->buf, cap);
		if (!nb) {
			t->failed = 1;
			return;
		}
		t->buf = nb;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static char *finish(struct text *t)
{
	if (t->failed) {
		free(t->buf);
		return NULL;
	}
	return t->buf;
}

char *acert_frag_swanctl(const struct acert_conn *c)
{
	struct text t = {0};
	put(&t, "# IKE connection %s: %s <-> %s.\n", c->name, c->local_id, c->remote_id);
	put(&t, "# Generated by airlock-cert; airlock-cert rotate depends on it: do not pin\n"
		"# local.certs here (charon picks the newest certificate for local.id that has\n"
		"# a private key, which is what make-before-break reauthentication needs).\n");
	put(&t, "connections {\n\t%s {\n\t\tversion = 2\n", c->name);
	put(&t, "\t\tlocal_addrs = %s\n\t\tremote_addrs = %s\n", c->local_addrs, c->remote_addrs);
	if (c->encap)
		put(&t, "\t\t# kernel-libipsec before 5.9.11 has no raw ESP.\n\t\tencap = yes\n");
	put(&t, "\t\tmobike = no\n\t\tproposals = aes256gcm16-prfsha256-ecp256\n");
	put(&t, "\t\tdpd_delay = %s\n", c->dpd_delay);
	put(&t, "\t\tlocal {\n\t\t\tauth = pubkey\n\t\t\tid = %s\n\t\t}\n", c->local_id);
	put(&t, "\t\tremote {\n\t\t\tauth = pubkey\n\t\t\tid = %s\n\t\t\tcacerts = %s\n\t\t}\n",
	    c->remote_id, ACERT_CA_FILE);
	put(&t, "\t\tchildren {\n\t\t\t%s {\n\t\t\t\tmode = tunnel\n", c->child);
	put(&t, "\t\t\t\tlocal_ts = %s\n\t\t\t\tremote_ts = %s\n", c->local_ts, c->remote_ts);
	put(&t, "\t\t\t\tesp_proposals = aes256gcm16\n\t\t\t\tstart_action = %s\n",
	    c->start_action);
	put(&t, "\t\t\t\tdpd_action = clear\n\t\t\t}\n\t\t}\n\t}\n}\n");
	return finish(&t);
}

/* A comma separated value as a VICI list. */
static void add_list(struct vici_builder *b, const char *name, const char *csv)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", csv);
	vici_begin_list(b, name);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		vici_add_list_item(b, tok);
	vici_end_list(b);
}

struct vici_builder *acert_frag_vici_conn(const struct acert_conn *c, const char *ca_pem)
{
	struct vici_builder *b = vici_builder_new();
	if (!b)
		return NULL;
	vici_begin_section(b, c->name);
	vici_add_kv(b, "version", "2");
	add_list(b, "local_addrs", c->local_addrs);
	add_list(b, "remote_addrs", c->remote_addrs);
	vici_add_kv(b, "encap", c->encap ? "yes" : "no");
	vici_add_kv(b, "mobike", "no");
	add_list(b, "proposals", "aes256gcm16-prfsha256-ecp256");
	vici_add_kv(b, "dpd_delay", c->dpd_delay);
	vici_begin_section(b, "local");
	vici_add_kv(b, "auth", "pubkey");
	vici_add_kv(b, "id", c->local_id);
	vici_end_section(b);
	vici_begin_section(b, "remote");
	vici_add_kv(b, "auth", "pubkey");
	vici_add_kv(b, "id", c->remote_id);
	vici_begin_list(b, "cacerts");
	vici_add_list_item(b, ca_pem);
	vici_end_list(b);
	vici_end_section(b);
	vici_begin_section(b, "children");
	vici_begin_section(b, c->child);
	vici_add_kv(b, "mode", "tunnel");
	add_list(b, "local_ts", c->local_ts);
	add_list(b, "remote_ts", c->remote_ts);
	add_list(b, "esp_proposals", "aes256gcm16");
	vici_add_kv(b, "start_action", c->start_action);
	vici_add_kv(b, "dpd_action", "clear");
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	return b;
}

const char *acert_frag_strongswan(void)
{
	return "# Generated by airlock-cert. Certificate rotation re-authenticates the IKE_SA;\n"
	       "# make-before-break builds the new IKE_SA and CHILD_SAs before the old ones go\n"
	       "# (the default only from strongSwan 6.0 on).\n"
	       "charon {\n\tmake_before_break = yes\n}\n";
}

void acert_ts_address(const char *ts, char *out, size_t outlen)
{
	size_t n = strcspn(ts, "/,");
	snprintf(out, outlen, "%.*s", (int)n, ts);
}

char *acert_frag_airlock_hub(const struct acert_conn *c, const char *trusted_dir)
{
	char inner[64];
	acert_ts_address(c->local_ts, inner, sizeof(inner));
	struct text t = {0};
	put(&t, "# airlock.conf fragment for the hub, generated by airlock-cert init.\n"
		"# Merge its settings into the groups of the same name in airlock.conf: libconfig\n"
		"# cannot define a group twice (@include works only into a file without them).\n");
	put(&t, "tunnel = {\n\tconnection = \"%s\";\n\tchild = \"%s\";\n", c->name, c->child);
	put(&t, "\tlocal_address = \"%s\";\n};\n", inner);
	put(&t, "hub = {\n\tlisten = [\"%s%s%s:25\"];\n", strchr(inner, ':') ? "[" : "", inner,
	    strchr(inner, ':') ? "]" : "");
	put(&t, "\tconnections = [\"%s\"];\n\ttrusted_keys = \"%s\";\n};\n", c->name, trusted_dir);
	return finish(&t);
}

char *acert_frag_airlock_edge(const struct acert_conn *c, const char *state_dir)
{
	char inner[64], hub[64];
	acert_ts_address(c->local_ts, inner, sizeof(inner));
	acert_ts_address(c->remote_ts, hub, sizeof(hub));
	int v6 = strchr(hub, ':') != NULL;
	struct text t = {0};
	put(&t, "# airlock.conf fragment for the edge, generated by airlock-cert bundle.\n"
		"# Merge its settings into the groups of the same name in airlock.conf: libconfig\n"
		"# cannot define a group twice (@include works only into a file without them).\n");
	put(&t, "tunnel = {\n\tconnection = \"%s\";\n\tchild = \"%s\";\n", c->name, c->child);
	put(&t, "\tlocal_address = \"%s\";\n};\n", inner);
	put(&t, "edge = {\n\tstate_dir = \"%s\";\n", state_dir);
	put(&t, "\thubs = ( { address = \"%s%s%s:25\"; priority = 10; } );\n};\n", v6 ? "[" : "",
	    hub, v6 ? "]" : "");
	return finish(&t);
}
