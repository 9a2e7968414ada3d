/*
 * charon operations over VICI (see acert_charon.h).
 */
#include "tunnel/airlock_cert/acert_charon.h"

#include "common/errmsg.h"
#include "tunnel/airlock_cert/acert_vici.h"
#include "tunnel/cert_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int v_load_key(void *ctx, const char *pem, char id[ACERT_KEYID_MAX], char *err,
		      size_t errlen)
{
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "type", "any");
	vici_add_kv(b, "data", pem);
	struct vici_node *reply;
	if (acert_vici_call(ctx, "load-key", b, &reply, err, errlen) != 0)
		return -1;
	const char *kid = vici_str(reply, "id");
	snprintf(id, ACERT_KEYID_MAX, "%s", kid ? kid : "");
	vici_node_free(reply);
	if (!id[0])
		return errmsg_set(err, errlen, "load-key: charon returned no key id");
	return 0;
}

static int v_unload_key(void *ctx, const char *id, char *err, size_t errlen)
{
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "id", id);
	return acert_vici_call(ctx, "unload-key", b, NULL, err, errlen);
}

static int v_load_cert(void *ctx, const char *pem, int ca, char *err, size_t errlen)
{
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "type", "X509");
	vici_add_kv(b, "flag", ca ? "CA" : "NONE");
	vici_add_kv(b, "data", pem);
	return acert_vici_call(ctx, "load-cert", b, NULL, err, errlen);
}

static int v_load_conn(void *ctx, const struct acert_conn *c, const char *ca_pem, char *err,
		       size_t errlen)
{
	struct vici_builder *b = acert_frag_vici_conn(c, ca_pem);
	if (!b)
		return errmsg_set(err, errlen, "out of memory");
	return acert_vici_call(ctx, "load-conn", b, NULL, err, errlen);
}

static int v_initiate(void *ctx, const char *conn, const char *child, int timeout_ms, char *err,
		      size_t errlen)
{
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "ike", conn);
	vici_add_kv(b, "child", child);
	vici_add_kvf(b, "timeout", "%d", timeout_ms);
	return acert_vici_call(ctx, "initiate", b, NULL, err, errlen);
}

static int v_sa_state(void *ctx, const char *conn, const char *child, struct acert_sa *out,
		      char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "noblock", "yes");
	vici_add_kv(b, "ike", conn);
	struct vici_node **evs;
	size_t n;
	if (acert_vici_stream(ctx, "list-sas", b, "list-sa", &evs, &n, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		for (const struct vici_node *ike = evs[i]->first; ike; ike = ike->next) {
			if (ike->type != VICI_NODE_SECTION || strcmp(ike->name, conn) != 0)
				continue;
			out->nike++;
			uint64_t id;
			const char *state = vici_str(ike, "state");
			if (vici_u64(ike, "uniqueid", &id) == 0 && out->nids < ACERT_SA_IDS_MAX)
				out->ids[out->nids++] = id;
			if (vici_u64(ike, "uniqueid", &id) != 0 || !state ||
			    strcmp(state, "ESTABLISHED") != 0 || id < out->ike_id)
				continue;
			int installed = 0;
			const struct vici_node *cs = vici_child(ike, "child-sas");
			for (const struct vici_node *ch = cs ? cs->first : NULL; ch;
			     ch = ch->next) {
				const char *name = vici_str(ch, "name"),
					   *st = vici_str(ch, "state");
				if (name && st && strcmp(name, child) == 0 &&
				    strcmp(st, "INSTALLED") == 0)
					installed = 1;
			}
			/* Prefer the newest IKE_SA that carries the child. */
			if (installed || !out->child_installed) {
				out->ike_id = id;
				out->child_installed = installed;
			}
		}
	}
	acert_vici_events_free(evs, n);
	return 0;
}

static int v_reauth(void *ctx, uint64_t ike_id, char *err, size_t errlen)
{
	struct vici_builder *b = vici_builder_new();
	vici_add_kvf(b, "ike-id", "%llu", (unsigned long long)ike_id);
	vici_add_kv(b, "reauth", "yes");
	return acert_vici_call(ctx, "rekey", b, NULL, err, errlen);
}

static int v_cert_has_key(void *ctx, const char *serial, int *has_key, char *err, size_t errlen)
{
	*has_key = 0;
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "type", "X509");
	vici_add_kv(b, "flag", "NONE");
	struct vici_node **evs;
	size_t n;
	if (acert_vici_stream(ctx, "list-certs", b, "list-cert", &evs, &n, err, errlen) != 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vici_node *data = vici_child(evs[i], "data");
		struct cert_info ci;
		if (!data || data->type != VICI_NODE_VALUE ||
		    cert_info_from_der(data->value, data->value_len, &ci) != 0 ||
		    strcmp(ci.serial, serial) != 0)
			continue;
		found = 1;
		if (vici_yes(evs[i], "has_privkey"))
			*has_key = 1;
	}
	acert_vici_events_free(evs, n);
	if (!found)
		return errmsg_set(err, errlen, "charon does not list the certificate %s", serial);
	return 0;
}

/* Hands every queued event to stderr so that a reader sees the order of the switch. */
static void drain_events(struct acert_vici *v)
{
	const char *name;
	struct vici_node *ev;
	for (int n = 0; n < 256 && acert_vici_next_event(v, 0, &name, &ev) == 1; n++) {
		for (const struct vici_node *s = ev->first; s; s = s->next) {
			if (s->type != VICI_NODE_SECTION)
				continue;
			const char *uid = vici_str(s, "uniqueid");
			fprintf(stderr, "airlock-cert: event %s %s %s #%s\n", name, s->name,
				vici_yes(ev, "up") ? "up" : "down", uid ? uid : "?");
		}
		vici_node_free(ev);
	}
}

static void v_sleep(void *ctx, int ms)
{
	drain_events(ctx);
	if (ms > 0)
		acert_vici_sleep(ctx, ms);
	drain_events(ctx);
}

static const struct acert_charon_ops vici_ops = {
	.load_key = v_load_key,
	.unload_key = v_unload_key,
	.load_cert = v_load_cert,
	.load_conn = v_load_conn,
	.initiate = v_initiate,
	.sa_state = v_sa_state,
	.reauth = v_reauth,
	.cert_has_key = v_cert_has_key,
	.sleep_ms = v_sleep,
};

const struct acert_charon_ops *acert_charon_vici(void)
{
	return &vici_ops;
}

int acert_charon_wait_new_sa(const struct acert_charon_ops *ops, void *ctx, const char *conn,
			     const char *child, uint64_t old_ike_id, int timeout_ms,
			     uint64_t *new_id, char *err, size_t errlen)
{
	char why[256] = "";
	for (int waited = 0; waited <= timeout_ms; waited += 250) {
		struct acert_sa sa;
		if (ops->sa_state(ctx, conn, child, &sa, why, sizeof(why)) == 0 && sa.ike_id != 0 &&
		    sa.ike_id != old_ike_id && sa.child_installed) {
			*new_id = sa.ike_id;
			return 0;
		}
		ops->sleep_ms(ctx, 250);
	}
	return errmsg_set(err, errlen,
			  "no new IKE_SA of %s with %s INSTALLED within %d s (the peer did not "
			  "accept the new certificate?)%s%s",
			  conn, child, timeout_ms / 1000, why[0] ? ": " : "", why);
}

int acert_charon_wait_installed(const struct acert_charon_ops *ops, void *ctx, const char *conn,
				const char *child, int timeout_ms, char *err, size_t errlen)
{
	for (int waited = 0; waited <= timeout_ms; waited += 250) {
		struct acert_sa sa;
		if (ops->sa_state(ctx, conn, child, &sa, err, errlen) == 0 && sa.child_installed)
			return 0;
		ops->sleep_ms(ctx, 250);
	}
	return errmsg_set(err, errlen, "CHILD_SA %s of %s not INSTALLED within %d s", child, conn,
			  timeout_ms / 1000);
}

int acert_charon_load_all(const struct acert_charon_ops *ops, void *ctx, const char *key_pem,
			  const char *cert_pem, const char *ca_pem, const struct acert_conn *c,
			  char *err, size_t errlen)
{
	char kid[ACERT_KEYID_MAX];
	if (ops->load_key(ctx, key_pem, kid, err, errlen) != 0 ||
	    ops->load_cert(ctx, ca_pem, 1, err, errlen) != 0 ||
	    ops->load_cert(ctx, cert_pem, 0, err, errlen) != 0 ||
	    ops->load_conn(ctx, c, ca_pem, err, errlen) != 0)
		return -1;
	return 0;
}
