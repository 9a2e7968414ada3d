/*
 * The hub's gate decision, its counters and its Received: clause. See gate.h.
 */
#include "policy/gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "tunnel/ts.h"

static const char *const reason_names[GATE_REASON_COUNT] = {
	[GATE_OK] = "ok",
	[GATE_VICI_DOWN] = "vici-down",
	[GATE_TABLE_STALE] = "table-stale",
	[GATE_LOCAL_ADDRESS] = "local-address",
	[GATE_PEER_ADDRESS] = "peer-address",
	[GATE_NO_SA] = "no-sa",
	[GATE_AMBIGUOUS] = "ambiguous",
	[GATE_NO_IDENTITY] = "no-identity",
};

const char *gate_reason_name(enum gate_reason reason)
{
	if ((unsigned)reason >= GATE_REASON_COUNT)
		return "unknown";
	return reason_names[reason];
}

const char *gate_verdict_name(enum gate_verdict verdict)
{
	switch (verdict) {
	case GATE_ACCEPT:
		return "accept";
	case GATE_TEMPFAIL:
		return "tempfail";
	case GATE_REJECT:
		return "reject";
	}
	return "unknown";
}

/* Sets the verdict fields of *out for a refusal; the text is printf-formatted. */
static void refuse(struct gate_result *out, enum gate_verdict v, enum gate_reason reason,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct gate_result *out, enum gate_verdict v, enum gate_reason reason,
		   const char *fmt, ...)
{
	va_list ap;
	out->verdict = v;
	out->reason = reason;
	out->code = v == GATE_TEMPFAIL ? 421 : 554;
	out->enhanced = v == GATE_TEMPFAIL ? "4.7.0" : "5.7.1";
	va_start(ap, fmt);
	vsnprintf(out->text, sizeof(out->text), fmt, ap);
	va_end(ap);
}

/* Copies a table string into a result field; the table caps them at SA_TABLE_MAX_STR. */
static void copy_str(char dst[GATE_STR_MAX], const char *src)
{
	snprintf(dst, GATE_STR_MAX, "%s", src ? src : "");
}

/* An identity that names an authenticated peer: present, not empty, not a wildcard. */
static bool has_identity(const struct sa_ike *ike)
{
	return ike->remote_id && ike->remote_id[0] != '\0' && strcmp(ike->remote_id, "%any") != 0;
}

static bool same_identity(const struct sa_ike *a, const struct sa_ike *b)
{
	return a->remote_id && b->remote_id && strcmp(a->remote_id, b->remote_id) == 0;
}

/* Looks the flow up under every configured connection name; see gate.h steps 4-6. */
static void lookup(const struct gate_input *in, const struct sa_flow *flow, struct gate_result *out)
{
	const struct sa_ike *best_ike = NULL;
	const struct sa_child *best_child = NULL;
	bool ambiguous = false, stale = false;

	for (size_t i = 0; i < in->conn_count; i++) {
		const struct sa_ike *ike;
		const struct sa_child *child;
		switch (sa_table_find_covering(in->table, flow, in->conns[i], &ike, &child)) {
		case SA_MATCH_FOUND:
			if (best_ike && !same_identity(best_ike, ike))
				ambiguous = true;
			if (!best_child || child->uniqueid > best_child->uniqueid) {
				best_ike = ike;
				best_child = child;
			}
			break;
		case SA_MATCH_AMBIGUOUS:
			ambiguous = true;
			break;
		case SA_MATCH_STALE:
			stale = true;
			break;
		case SA_MATCH_NONE:
			break;
		}
	}
	if (stale) {
		enum sa_freshness f = sa_table_freshness(in->table, in->now, in->stale_after);
		refuse(out, GATE_TEMPFAIL, GATE_TABLE_STALE, "SA table stale: %s",
		       sa_freshness_name(f == SA_FRESH ? SA_STALE_EVENT : f));
		return;
	}
	if (ambiguous) {
		refuse(out, GATE_REJECT, GATE_AMBIGUOUS, "%s", "ambiguous peers");
		return;
	}
	if (!best_ike) {
		refuse(out, GATE_REJECT, GATE_NO_SA, "no INSTALLED CHILD_SA covers %s", out->peer);
		return;
	}
	if (!has_identity(best_ike)) {
		refuse(out, GATE_REJECT, GATE_NO_IDENTITY, "%s", "no authenticated IKE identity");
		return;
	}
	out->verdict = GATE_ACCEPT;
	out->reason = GATE_OK;
	out->code = 0;
	out->enhanced = "";
	out->text[0] = '\0';
	copy_str(out->remote_id, best_ike->remote_id);
	copy_str(out->conn, best_ike->name);
	copy_str(out->child, best_child->name);
	out->ike_uniqueid = best_ike->uniqueid;
	out->child_uniqueid = best_child->uniqueid;
}

void gate_check(const struct gate_input *in, struct gate_result *out)
{
	int peer_family = 0, local_family = 0;
	struct sa_flow flow;

	if (!in || !out || !in->table || !in->conns || in->conn_count == 0)
		fatal("gate_check: missing input, SA table or connection names");
	for (size_t i = 0; i < in->conn_count; i++) {
		if (!in->conns[i])
			fatal("gate_check: connection name %zu is NULL", i);
	}

	memset(out, 0, sizeof(*out));
	memset(&flow, 0, sizeof(flow));
	snprintf(out->peer, sizeof(out->peer), "unknown");
	/* Fail closed until a verdict below says otherwise. */
	refuse(out, GATE_REJECT, GATE_PEER_ADDRESS, "%s", "unsupported peer address");

	bool peer_ok = in->peer && ts_addr_from_sockaddr(in->peer, in->peer_len, &peer_family,
							 flow.remote, &flow.remote_port) == 0;
	if (peer_ok)
		inet_ntop(peer_family, flow.remote, out->peer, sizeof(out->peer));
	out->peer_port = flow.remote_port;

	if (!in->vici_connected) {
		refuse(out, GATE_TEMPFAIL, GATE_VICI_DOWN, "%s", "VICI unreachable");
		return;
	}
	enum sa_freshness f = sa_table_freshness(in->table, in->now, in->stale_after);
	if (f != SA_FRESH) {
		refuse(out, GATE_TEMPFAIL, GATE_TABLE_STALE, "SA table stale: %s",
		       sa_freshness_name(f));
		return;
	}
	if (!peer_ok) {
		refuse(out, GATE_REJECT, GATE_PEER_ADDRESS, "%s", "unsupported peer address");
		return;
	}
	if (!in->local || ts_addr_from_sockaddr(in->local, in->local_len, &local_family, flow.local,
						&flow.local_port) != 0) {
		refuse(out, GATE_TEMPFAIL, GATE_LOCAL_ADDRESS, "%s", "local address unknown");
		return;
	}
	if (local_family != peer_family) {
		refuse(out, GATE_REJECT, GATE_PEER_ADDRESS, "%s", "address families differ");
		return;
	}
	flow.family = peer_family;
	flow.proto = IPPROTO_TCP;
	lookup(in, &flow, out);
}

const char *gate_reply(const struct gate_result *r, char *out, size_t outsz)
{
	if (outsz == 0)
		return out;
	if (r->verdict == GATE_ACCEPT)
		out[0] = '\0';
	else
		snprintf(out, outsz, "%d %s %s", r->code, r->enhanced, r->text);
	return out;
}

/* ---- counters ---------------------------------------------------------------- */

static void bump(uint64_t *n)
{
	if (*n != UINT64_MAX)
		(*n)++;
}

void gate_counters_note(struct gate_counters *c, const struct gate_result *r)
{
	enum gate_reason reason = (unsigned)r->reason < GATE_REASON_COUNT ? r->reason : GATE_NO_SA;
	if (r->verdict == GATE_ACCEPT) {
		bump(&c->accepted);
		bump(&c->by_reason[GATE_OK]);
		return;
	}
	if (reason == GATE_OK) /* a refusal always counts as one */
		reason = r->verdict == GATE_TEMPFAIL ? GATE_VICI_DOWN : GATE_NO_SA;
	bump(&c->by_reason[reason]);
	snprintf(c->last_refused, sizeof(c->last_refused), "%s", r->peer);
	c->last_reason = reason;
}

static bool is_tempfail_reason(enum gate_reason reason)
{
	return reason == GATE_VICI_DOWN || reason == GATE_TABLE_STALE ||
	       reason == GATE_LOCAL_ADDRESS;
}

/* Sum of the reasons that are (tempfail) or are not (reject) temporary, saturating. */
static uint64_t sum(const struct gate_counters *c, bool tempfail)
{
	uint64_t total = 0;
	for (int i = GATE_OK + 1; i < GATE_REASON_COUNT; i++) {
		if (is_tempfail_reason(i) != tempfail)
			continue;
		total = c->by_reason[i] > UINT64_MAX - total ? UINT64_MAX : total + c->by_reason[i];
	}
	return total;
}

uint64_t gate_counters_rejected(const struct gate_counters *c)
{
	return sum(c, false);
}

uint64_t gate_counters_tempfailed(const struct gate_counters *c)
{
	return sum(c, true);
}

/* ---- Received: clause ------------------------------------------------------------ */

/* Bytes one input byte takes in the clause: itself, a quoted-pair, or %XX. */
static size_t esc_len(unsigned char ch)
{
	if (ch == '(' || ch == ')' || ch == '\\' || ch == '"')
		return 2;
	if (ch == '%' || ch < 0x20 || ch >= 0x7f)
		return 3;
	return 1;
}

/* Appends the escape of ch at *pos; the caller checked the room. */
static void esc_put(char *out, size_t *pos, unsigned char ch)
{
	static const char hex[] = "0123456789ABCDEF";
	switch (esc_len(ch)) {
	case 1:
		out[(*pos)++] = (char)ch;
		break;
	case 2:
		out[(*pos)++] = '\\';
		out[(*pos)++] = (char)ch;
		break;
	default:
		out[(*pos)++] = '%';
		out[(*pos)++] = hex[ch >> 4];
		out[(*pos)++] = hex[ch & 0xf];
		break;
	}
}

/*
 * Appends text (at most GATE_STR_MAX bytes of it, the size of the result's
 * fields) escaped, as far as it fits before limit; returns false if cut.
 */
static bool esc_append(char *out, size_t *pos, size_t limit, const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	for (size_t i = 0; i < GATE_STR_MAX && p[i]; i++) {
		if (*pos + esc_len(p[i]) > limit)
			return false;
		esc_put(out, pos, p[i]);
	}
	return true;
}

static void raw_append(char *out, size_t *pos, const char *text)
{
	size_t n = strlen(text);
	memcpy(out + *pos, text, n);
	*pos += n;
}

int gate_received_clause(const struct gate_result *r, char *out, size_t outsz)
{
	static const char head[] = "(IKE identity \"";
	static const char cut[] = "...";
	/* The part after the identity; names escaped at most 3x, numbers 10 digits each. */
	char tail[3 * 2 * GATE_STR_MAX + 64];
	char num[16];
	size_t tlen = 0;

	if (outsz > 0)
		out[0] = '\0';
	if (r->verdict != GATE_ACCEPT || outsz == 0)
		return -1;

	raw_append(tail, &tlen, "\", IKE_SA ");
	esc_append(tail, &tlen, sizeof(tail), r->conn);
	snprintf(num, sizeof(num), "[%u]", (unsigned)r->ike_uniqueid);
	raw_append(tail, &tlen, num);
	raw_append(tail, &tlen, ", CHILD_SA ");
	esc_append(tail, &tlen, sizeof(tail), r->child);
	snprintf(num, sizeof(num), "{%u})", (unsigned)r->child_uniqueid);
	raw_append(tail, &tlen, num);

	/* Room for head, at least the cut marker, tail and the NUL? */
	if (outsz < sizeof(head) - 1 + sizeof(cut) - 1 + tlen + 1)
		return -1;
	size_t pos = 0;
	raw_append(out, &pos, head);
	if (!esc_append(out, &pos, outsz - 1 - tlen, r->remote_id)) {
		/* Cut: step back until the marker fits, keeping whole escapes. */
		pos = sizeof(head) - 1;
		esc_append(out, &pos, outsz - 1 - tlen - (sizeof(cut) - 1), r->remote_id);
		raw_append(out, &pos, cut);
	}
	memcpy(out + pos, tail, tlen);
	pos += tlen;
	out[pos] = '\0';
	return (int)pos;
}
