/*
 * airlock-hub's parent <-> smtp messages: writers and fail-closed readers.
 */
#include "relay/hub/hub_msg.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void hub_conn_from_gate(const struct gate_result *g, struct hub_conn *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->peer, sizeof(out->peer), "%s", g->peer);
	out->peer_port = g->peer_port;
	snprintf(out->remote_id, sizeof(out->remote_id), "%s", g->remote_id);
	snprintf(out->conn, sizeof(out->conn), "%s", g->conn);
	snprintf(out->child, sizeof(out->child), "%s", g->child);
	out->ike_uniqueid = g->ike_uniqueid;
	out->child_uniqueid = g->child_uniqueid;
	if (gate_received_clause(g, out->received, sizeof(out->received)) < 0)
		out->received[0] = '\0';
}

int hub_msg_put_conn(struct ipc_writer *w, const struct hub_conn *c)
{
	ipc_put_str(w, c->peer);
	ipc_put_u32(w, c->peer_port);
	ipc_put_str(w, c->remote_id);
	ipc_put_str(w, c->conn);
	ipc_put_str(w, c->child);
	ipc_put_u32(w, c->ike_uniqueid);
	ipc_put_u32(w, c->child_uniqueid);
	ipc_put_str(w, c->received);
	return w->failed ? -1 : 0;
}

int hub_msg_put_keys(struct ipc_writer *w, const struct attest_trust *t)
{
	size_t n = attest_trust_count(t);

	ipc_put_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		ipc_put_bytes(w, attest_trust_get(t, i)->pk, ATTEST_PK_LEN);
	return w->failed ? -1 : 0;
}

int hub_msg_put_result(struct ipc_writer *w, const struct hub_result *r)
{
	ipc_put_u8(w, (uint8_t)r->attest);
	ipc_put_u8(w, (uint8_t)r->proxy);
	return w->failed ? -1 : 0;
}

int hub_msg_put_pool(struct ipc_writer *w, const struct hub_pool_stats *s)
{
	ipc_put_u64(w, s->opened);
	ipc_put_u64(w, s->reused);
	ipc_put_u32(w, s->idle);
	return w->failed ? -1 : 0;
}

static bool printable(const char *s, bool allow_empty)
{
	if (!allow_empty && !s[0])
		return false;
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	}
	return true;
}

/* "(...)" with balanced parentheses and quoted-pairs, as gate_received_clause writes it. */
static bool comment_ok(const char *s)
{
	size_t n = strlen(s);
	int depth = 0;

	if (n < 2 || s[0] != '(' || s[n - 1] != ')' || !printable(s, false))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\') {
			if (++i >= n)
				return false;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')') {
			if (--depth < 0 || (depth == 0 && i != n - 1))
				return false;
		}
	}
	return depth == 0;
}

int hub_msg_get_conn(struct ipc_reader *r, struct hub_conn *out)
{
	uint32_t port;

	memset(out, 0, sizeof(*out));
	if (ipc_get_str(r, out->peer, sizeof(out->peer)) < 0 || ipc_get_u32(r, &port) < 0 ||
	    ipc_get_str(r, out->remote_id, sizeof(out->remote_id)) < 0 ||
	    ipc_get_str(r, out->conn, sizeof(out->conn)) < 0 ||
	    ipc_get_str(r, out->child, sizeof(out->child)) < 0 ||
	    ipc_get_u32(r, &out->ike_uniqueid) < 0 || ipc_get_u32(r, &out->child_uniqueid) < 0 ||
	    ipc_get_str(r, out->received, sizeof(out->received)) < 0 || ipc_get_end(r) < 0)
		return -1;
	if (port > 65535 || !printable(out->peer, false) || !printable(out->remote_id, false) ||
	    !printable(out->conn, false) || !printable(out->child, true) ||
	    !comment_ok(out->received))
		return -1;
	out->peer_port = (uint16_t)port;
	return 0;
}

int hub_msg_get_keys(struct ipc_reader *r, struct attest_trust **out)
{
	uint32_t n;
	unsigned char pk[ATTEST_PK_LEN];

	*out = NULL;
	if (ipc_get_u32(r, &n) < 0 || n > ATTEST_TRUST_MAX ||
	    (size_t)n * ATTEST_PK_LEN != r->len - r->off)
		return -1;
	struct attest_trust *t = attest_trust_new();
	if (!t)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		if (ipc_get_bytes(r, pk, sizeof(pk)) < 0 || attest_trust_add(t, pk) < 0) {
			attest_trust_free(t);
			return -1;
		}
	}
	if (ipc_get_end(r) < 0) {
		attest_trust_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int hub_msg_get_result(struct ipc_reader *r, struct hub_result *out)
{
	uint8_t a, p;

	if (ipc_get_u8(r, &a) < 0 || ipc_get_u8(r, &p) < 0 || ipc_get_end(r) < 0)
		return -1;
	if (a > ATTEST_UNSCANNED || p >= HUB_PROXY_OUTCOME_COUNT)
		return -1;
	if ((a == ATTEST_OK) == (p == HUB_PROXY_NONE))
		return -1; /* proxied exactly when the stamp was good */
	out->attest = (enum attest_result)a;
	out->proxy = (enum hub_proxy_outcome)p;
	return 0;
}

int hub_msg_get_pool(struct ipc_reader *r, struct hub_pool_stats *out)
{
	struct hub_pool_stats s;

	if (ipc_get_u64(r, &s.opened) < 0 || ipc_get_u64(r, &s.reused) < 0 ||
	    ipc_get_u32(r, &s.idle) < 0 || ipc_get_end(r) < 0 || s.idle > HUB_POOL_IDLE_MAX)
		return -1;
	*out = s;
	return 0;
}

const char *hub_proxy_outcome_name(enum hub_proxy_outcome o)
{
	static const char *const names[HUB_PROXY_OUTCOME_COUNT] = {
		"none", "delivered", "tempfailed", "rejected", "duplicate"};
	return o < HUB_PROXY_OUTCOME_COUNT ? names[o] : "unknown";
}
