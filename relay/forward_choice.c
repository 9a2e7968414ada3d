/*
 * The hub choice; see forward_choice.h.
 */
#include "relay/forward_choice.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

const char *forward_hub_state_name(enum forward_hub_state s)
{
	switch (s) {
	case FORWARD_HUB_UP:
		return "up";
	case FORWARD_HUB_NO_SA:
		return "no-sa";
	case FORWARD_HUB_FAILING:
		return "failing";
	}
	return "unknown";
}

static bool hub_has_sa(const struct forward_view *v, const struct forward_hub *h)
{
	struct sa_flow flow = {.family = v->local_family, .proto = IPPROTO_TCP};
	int family;
	uint16_t port;

	if (!v->table ||
	    ts_addr_from_sockaddr((const struct sockaddr *)&h->addr, h->addr_len, &family,
				  flow.remote, &port) != 0 ||
	    family != v->local_family)
		return false;
	memcpy(flow.local, v->local, sizeof(flow.local));
	flow.remote_port = port;
	return sa_table_find_covering(v->table, &flow, h->connection, NULL, NULL) == SA_MATCH_FOUND;
}

/* Hub indexes by (priority, configuration order). */
static void hub_order(const struct forward_hubs *hubs, size_t *order)
{
	for (size_t i = 0; i < hubs->n; i++)
		order[i] = i;
	for (size_t i = 1; i < hubs->n; i++) {
		size_t x = order[i], j = i;
		while (j > 0 && hubs->hub[order[j - 1]].priority > hubs->hub[x].priority) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = x;
	}
}

void forward_choose(const struct forward_view *v, struct forward_choice *out)
{
	const struct forward_hubs *hubs = v->hubs;
	bool sa[FORWARD_HUBS_MAX] = {false};
	size_t order[FORWARD_HUBS_MAX];

	memset(out, 0, sizeof(*out));
	out->hub = -1;
	if (!hubs || hubs->n == 0) {
		snprintf(out->why, sizeof(out->why), "no hub configured");
		return;
	}
	for (size_t i = 0; i < hubs->n; i++) {
		bool failing = v->health && v->now < v->health[i].failing_until;
		out->state[i] = failing ? FORWARD_HUB_FAILING : FORWARD_HUB_NO_SA;
	}
	if (!v->vici_connected) {
		snprintf(out->why, sizeof(out->why), "VICI unreachable");
		return;
	}
	if (v->freshness != SA_FRESH) {
		snprintf(out->why, sizeof(out->why), "SA table stale (%s)",
			 sa_freshness_name(v->freshness));
		return;
	}
	hub_order(hubs, order);
	for (size_t k = 0; k < hubs->n; k++) {
		size_t i = order[k];
		sa[i] = hub_has_sa(v, &hubs->hub[i]);
		out->has_sa[i] = sa[i];
		if (sa[i] && out->state[i] != FORWARD_HUB_FAILING)
			out->state[i] = FORWARD_HUB_UP;
	}
	for (size_t k = 0; k < hubs->n; k++) {
		size_t i = order[k];
		if (out->state[i] == FORWARD_HUB_UP) {
			out->hub = (int)i;
			break;
		}
		if (!sa[i])
			out->initiate[i] = true;
	}
	if (out->hub >= 0)
		return;
	/*
	 * Every hub with an SA is failing: use the preferred one anyway rather
	 * than deferring all mail for a hold-down; each message keeps its own
	 * back-off, as with a single hub.
	 */
	for (size_t k = 0; k < hubs->n; k++) {
		size_t i = order[k];
		if (sa[i]) {
			out->hub = (int)i;
			return;
		}
	}
	const struct forward_hub *p = &hubs->hub[order[0]];
	snprintf(out->why, sizeof(out->why), "no SA to hub %s (%s/%s)", p->address, p->connection,
		 p->child);
}

void forward_health_failed(struct forward_health *h, int64_t now, unsigned hold_s, const char *why)
{
	h->failures++;
	h->failing_until = now + (int64_t)hold_s;
	snprintf(h->last_error, sizeof(h->last_error), "%s", why ? why : "");
}

void forward_health_ok(struct forward_health *h)
{
	h->failures = 0;
	h->failing_until = 0;
	h->last_error[0] = '\0';
}
