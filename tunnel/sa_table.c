/*
 * The live SA table: full refreshes with down events remembered meanwhile,
 * events, and the queries the tunnel gate asks. Reading charon's IKE_SA /
 * CHILD_SA sections into plain structs is in sa_parse.c. Message shapes are
 * described in sa_table.h.
 */
#include "tunnel/sa_table.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/log.h"
#include "tunnel/sa_parse.h"

/* The content_* functions answer in sa_parse's codes, so that one rc carries either. */
#define ERR_MALFORMED SA_PARSE_MALFORMED
#define ERR_NOMEM     SA_PARSE_NOMEM

struct sa_content {
	struct sa_ike **ike;
	size_t count, cap;
	size_t children; /* over all IKE_SAs */
};

struct sa_table {
	struct sa_content cur;

	/* a full refresh being collected */
	bool building;
	bool tainted;		  /* discard it at commit */
	bool events_during_build; /* up or rekey events it may lack */
	struct sa_content pending;
	struct sa_table_report pending_report;
	uint32_t tomb_ike[SA_TABLE_MAX_TOMBSTONES];
	uint32_t tomb_child[SA_TABLE_MAX_TOMBSTONES];
	size_t tomb_ike_count, tomb_child_count;

	bool refreshed;
	uint64_t last_refresh;
	bool disconnected;
	bool invalidated;
};

static void log_skip(const char *what, const char *name, const char *field)
{
	char q[300];
	log_warning("event=sa-table-skip sa=%s name=%s field=%s", what,
		    log_quote(q, sizeof(q), name ? name : ""), field ? field : "-");
}

/* ---- content ---------------------------------------------------------------- */

static void content_clear(struct sa_content *c)
{
	for (size_t i = 0; i < c->count; i++)
		sa_parse_ike_free(c->ike[i]);
	free(c->ike);
	memset(c, 0, sizeof(*c));
}

static ssize_t find_ike(const struct sa_content *c, uint32_t id)
{
	for (size_t i = 0; i < c->count; i++) {
		if (c->ike[i]->uniqueid == id)
			return (ssize_t)i;
	}
	return -1;
}

static struct sa_child *find_child(const struct sa_content *c, uint32_t id, struct sa_ike **owner)
{
	for (size_t i = 0; i < c->count; i++) {
		for (size_t j = 0; j < c->ike[i]->child_count; j++) {
			if (c->ike[i]->children[j].uniqueid == id) {
				if (owner)
					*owner = c->ike[i];
				return &c->ike[i]->children[j];
			}
		}
	}
	return NULL;
}

/* Appends ike (gets owned on success). */
static int content_add_ike(struct sa_content *c, struct sa_ike *ike)
{
	if (c->count >= SA_TABLE_MAX_IKE || c->children + ike->child_count > SA_TABLE_MAX_CHILD)
		return ERR_MALFORMED;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct sa_ike **n = realloc(c->ike, cap * sizeof(*n));
		if (!n)
			return ERR_NOMEM;
		c->ike = n;
		c->cap = cap;
	}
	c->ike[c->count++] = ike;
	c->children += ike->child_count;
	return 0;
}

static bool content_remove_ike(struct sa_content *c, uint32_t id)
{
	ssize_t i = find_ike(c, id);
	if (i < 0)
		return false;
	c->children -= c->ike[i]->child_count;
	sa_parse_ike_free(c->ike[i]);
	memmove(&c->ike[i], &c->ike[i + 1], (c->count - (size_t)i - 1) * sizeof(c->ike[0]));
	c->count--;
	return true;
}

static bool content_remove_child(struct sa_content *c, uint32_t id)
{
	struct sa_ike *ike = NULL;
	struct sa_child *ch = find_child(c, id, &ike);
	if (!ch)
		return false;
	size_t j = (size_t)(ch - ike->children);
	sa_parse_child_clear(ch);
	memmove(&ike->children[j], &ike->children[j + 1],
		(ike->child_count - j - 1) * sizeof(ike->children[0]));
	ike->child_count--;
	c->children--;
	return true;
}

/* Moves *ch (its content gets owned) to the end of ike's children. */
static int content_add_child(struct sa_content *c, struct sa_ike *ike, struct sa_child *ch)
{
	if (c->children >= SA_TABLE_MAX_CHILD)
		return ERR_MALFORMED;
	struct sa_child *n = realloc(ike->children, (ike->child_count + 1) * sizeof(*n));
	if (!n)
		return ERR_NOMEM;
	ike->children = n;
	ike->children[ike->child_count++] = *ch;
	memset(ch, 0, sizeof(*ch));
	c->children++;
	return 0;
}

/* Puts fresh (gets owned, has no children) at index i, taking that one's children. */
static void content_replace_at(struct sa_content *c, size_t i, struct sa_ike *fresh)
{
	struct sa_ike *old = c->ike[i];
	fresh->children = old->children;
	fresh->child_count = old->child_count;
	old->children = NULL;
	old->child_count = 0;
	sa_parse_ike_free(old);
	c->ike[i] = fresh;
}

/*
 * Puts the fields of fresh (gets owned, must have no children) in place of
 * the IKE_SA with the same uniqueid, keeping that one's children, or appends
 * it. Returns the table's IKE_SA, or NULL if it could not be added.
 */
static struct sa_ike *content_upsert_ike(struct sa_content *c, struct sa_ike *fresh)
{
	ssize_t i = find_ike(c, fresh->uniqueid);
	if (i >= 0) {
		content_replace_at(c, (size_t)i, fresh);
		return fresh;
	}
	if (content_add_ike(c, fresh) < 0) {
		sa_parse_ike_free(fresh);
		return NULL;
	}
	return fresh;
}

/* ---- table, refresh ----------------------------------------------------------- */

struct sa_table *sa_table_new(void)
{
	return calloc(1, sizeof(struct sa_table));
}

void sa_table_free(struct sa_table *t)
{
	if (!t)
		return;
	content_clear(&t->cur);
	content_clear(&t->pending);
	free(t);
}

static void build_reset(struct sa_table *t)
{
	content_clear(&t->pending);
	memset(&t->pending_report, 0, sizeof(t->pending_report));
	t->building = t->tainted = t->events_during_build = false;
	t->tomb_ike_count = t->tomb_child_count = 0;
}

void sa_table_refresh_begin(struct sa_table *t)
{
	build_reset(t);
	t->building = true;
}

void sa_table_refresh_abort(struct sa_table *t)
{
	build_reset(t);
}

int sa_table_refresh_add(struct sa_table *t, const struct vici_node *msg)
{
	struct sa_parse_ctx ctx = {.field = NULL};
	struct sa_table_report *rep = &t->pending_report;
	struct sa_ike *ike = NULL;
	if (!t->building || t->tainted)
		return -1;
	const struct vici_node *sec = sa_parse_ike_section(msg);
	const struct vici_node *csas = vici_child(sec, "child-sas");
	int rc =
		sec ? sa_parse_ike(&ctx, sec->name, sec, &ike) : sa_parse_fail(&ctx, "ike-section");
	if (rc == 0 && (!csas || csas->type != VICI_NODE_SECTION))
		rc = sa_parse_fail(&ctx, "child-sas");
	if (rc == 0 && find_ike(&t->pending, ike->uniqueid) >= 0)
		rc = sa_parse_fail(&ctx, "uniqueid-duplicate");
	if (rc == 0 && (rc = content_add_ike(&t->pending, ike)) == ERR_MALFORMED)
		ctx.field = "limit-ike";
	if (rc < 0) {
		sa_parse_ike_free(ike);
		if (rc == ERR_NOMEM)
			goto nomem;
		rep->ike_skipped++;
		log_skip("ike", sec ? sec->name : NULL, ctx.field);
		return 1;
	}
	rep->ike_added++;
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		struct sa_child ch;
		struct sa_parse_ctx cctx = {.field = NULL};
		rc = sa_parse_child(&cctx, n, &ch);
		if (rc == 0 && find_child(&t->pending, ch.uniqueid, NULL))
			rc = sa_parse_fail(&cctx, "uniqueid-duplicate");
		if (rc == 0 && (rc = content_add_child(&t->pending, ike, &ch)) == ERR_MALFORMED)
			cctx.field = "limit-child";
		if (rc < 0) {
			sa_parse_child_clear(&ch);
			if (rc == ERR_NOMEM)
				goto nomem;
			rep->child_skipped++;
			log_skip("child", n->name, cctx.field);
			continue;
		}
		rep->child_added++;
	}
	return 0;
nomem:
	t->tainted = true;
	log_error("event=sa-table-refresh-failed reason=out-of-memory");
	return -1;
}

int sa_table_refresh_commit(struct sa_table *t, uint64_t now, struct sa_table_report *report)
{
	struct sa_table_report rep = t->pending_report;
	if (!t->building) {
		if (report)
			memset(report, 0, sizeof(*report));
		return -1;
	}
	if (t->tainted) {
		rep.discarded = true;
		rep.refresh_advisable = true;
		build_reset(t);
		if (report)
			*report = rep;
		return -1;
	}
	/* down events seen while charon was listing: the listing may predate them */
	struct sa_content *p = &t->pending;
	for (size_t i = 0; i < t->tomb_ike_count; i++)
		rep.dropped_by_events += content_remove_ike(p, t->tomb_ike[i]);
	for (size_t i = 0; i < t->tomb_child_count; i++)
		rep.dropped_by_events += content_remove_child(p, t->tomb_child[i]);
	rep.refresh_advisable = t->events_during_build;
	for (size_t i = 0; i < p->count; i++) {
		p->ike[i]->reported_at = now;
		for (size_t j = 0; j < p->ike[i]->child_count; j++)
			p->ike[i]->children[j].reported_at = now;
	}

	content_clear(&t->cur);
	t->cur = t->pending;
	memset(&t->pending, 0, sizeof(t->pending));
	build_reset(t);
	t->refreshed = true;
	t->last_refresh = now;
	t->disconnected = false;
	t->invalidated = false;
	if (report)
		*report = rep;
	return 0;
}

int sa_table_replace(struct sa_table *t, const struct vici_node *const *events, size_t n,
		     uint64_t now, struct sa_table_report *report)
{
	sa_table_refresh_begin(t);
	for (size_t i = 0; i < n; i++) {
		if (sa_table_refresh_add(t, events[i]) < 0)
			break;
	}
	return sa_table_refresh_commit(t, now, report);
}

void sa_table_mark_disconnected(struct sa_table *t)
{
	t->disconnected = true;
	if (t->building)
		t->tainted = true;
}

/* ---- events ----------------------------------------------------------------- */

static void invalidate(struct sa_table *t, const char *event, const char *why)
{
	t->invalidated = true;
	if (t->building)
		t->tainted = true;
	log_warning("event=sa-table-stale reason=malformed-event vici_event=%s field=%s", event,
		    why);
}

static void tomb(struct sa_table *t, bool ike, uint32_t id)
{
	uint32_t *ids = ike ? t->tomb_ike : t->tomb_child;
	size_t *n = ike ? &t->tomb_ike_count : &t->tomb_child_count;
	if (!t->building)
		return;
	if (*n >= SA_TABLE_MAX_TOMBSTONES)
		t->tainted = true;
	else
		ids[(*n)++] = id;
}

/* Adds or updates the CHILD_SA *ch (content gets owned) under ike. */
static unsigned upsert_child(struct sa_table *t, struct sa_ike *ike, struct sa_child *ch)
{
	content_remove_child(&t->cur, ch->uniqueid);
	int rc = content_add_child(&t->cur, ike, ch);
	if (rc < 0) {
		log_skip("child", ch->name, rc == ERR_NOMEM ? "out-of-memory" : "limit-child");
		sa_parse_child_clear(ch);
		return SA_EVENT_CHANGED | SA_EVENT_REFRESH;
	}
	return SA_EVENT_CHANGED;
}

static unsigned event_ike_updown(struct sa_table *t, const struct vici_node *msg, uint64_t now)
{
	const struct vici_node *sec = sa_parse_ike_section(msg);
	struct sa_parse_ctx ctx = {.now = now};
	struct sa_ike *ike;
	uint32_t id;
	if (sa_parse_uniqueid(sec, &id) < 0) {
		invalidate(t, "ike-updown", "uniqueid");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	if (!vici_yes(msg, "up")) {
		tomb(t, true, id);
		return content_remove_ike(&t->cur, id) ? SA_EVENT_CHANGED : 0;
	}
	t->events_during_build |= t->building;
	if (sa_parse_ike(&ctx, sec->name, sec, &ike) < 0) {
		log_skip("ike", sec->name, ctx.field);
		return SA_EVENT_REFRESH;
	}
	return content_upsert_ike(&t->cur, ike) ? SA_EVENT_CHANGED : SA_EVENT_REFRESH;
}

static unsigned event_child_updown(struct sa_table *t, const struct vici_node *msg, uint64_t now)
{
	const struct vici_node *sec = sa_parse_ike_section(msg);
	const struct vici_node *csas = vici_child(sec, "child-sas");
	struct sa_parse_ctx ctx = {.now = now};
	unsigned res = 0;
	uint32_t id;
	if (!csas || csas->type != VICI_NODE_SECTION || !csas->first) {
		invalidate(t, "child-updown", "child-sas");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	if (!vici_yes(msg, "up")) {
		for (const struct vici_node *n = csas->first; n; n = n->next) {
			if (sa_parse_uniqueid(n, &id) < 0) {
				invalidate(t, "child-updown", "uniqueid");
				return res | SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
			}
			tomb(t, false, id);
			if (content_remove_child(&t->cur, id))
				res |= SA_EVENT_CHANGED;
		}
		return res;
	}
	t->events_during_build |= t->building;
	struct sa_ike *fresh, *ike;
	if (sa_parse_ike(&ctx, sec->name, sec, &fresh) < 0) {
		log_skip("ike", sec->name, ctx.field);
		return SA_EVENT_REFRESH;
	}
	if (!(ike = content_upsert_ike(&t->cur, fresh)))
		return SA_EVENT_REFRESH;
	res = SA_EVENT_CHANGED;
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		struct sa_child ch;
		if (sa_parse_child(&ctx, n, &ch) < 0) {
			log_skip("child", n->name, ctx.field);
			res |= SA_EVENT_REFRESH;
			continue;
		}
		res |= upsert_child(t, ike, &ch);
	}
	return res;
}

static unsigned event_ike_rekey(struct sa_table *t, const struct vici_node *msg, uint64_t now)
{
	const struct vici_node *sec = sa_parse_ike_section(msg);
	const struct vici_node *new_sec = vici_child(sec, "new");
	struct sa_parse_ctx ctx = {.now = now};
	struct sa_ike *fresh;
	uint32_t old_id;
	if (sa_parse_uniqueid(vici_child(sec, "old"), &old_id) < 0) {
		invalidate(t, "ike-rekey", "old-uniqueid");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	tomb(t, true, old_id);
	t->events_during_build |= t->building;
	if (sa_parse_ike(&ctx, sec->name, new_sec, &fresh) < 0) {
		/* charon moved the CHILD_SAs to an IKE_SA we cannot describe */
		log_skip("ike", sec->name, ctx.field);
		return (content_remove_ike(&t->cur, old_id) ? SA_EVENT_CHANGED : 0) |
		       SA_EVENT_REFRESH;
	}
	ssize_t oi = find_ike(&t->cur, old_id);
	ssize_t ni = find_ike(&t->cur, fresh->uniqueid);
	if (oi < 0) {
		struct sa_ike *ike = content_upsert_ike(&t->cur, fresh);
		return (ike ? SA_EVENT_CHANGED : 0) | SA_EVENT_REFRESH;
	}
	if (ni < 0 || ni == oi) {
		content_replace_at(&t->cur, (size_t)oi, fresh);
		return SA_EVENT_CHANGED;
	}
	/* a refresh already listed the new IKE_SA: give it the old one's children too */
	struct sa_ike *old = t->cur.ike[oi];
	struct sa_child *kids = old->children;
	size_t nkids = old->child_count;
	unsigned res = SA_EVENT_CHANGED;
	old->children = NULL;
	old->child_count = 0;
	t->cur.children -= nkids;
	content_replace_at(&t->cur, (size_t)ni, fresh);
	for (size_t i = 0; i < nkids; i++) {
		if (find_child(&t->cur, kids[i].uniqueid, NULL) ||
		    content_add_child(&t->cur, fresh, &kids[i]) < 0) {
			sa_parse_child_clear(&kids[i]);
			res |= SA_EVENT_REFRESH;
		}
	}
	free(kids);
	content_remove_ike(&t->cur, old_id);
	return res;
}

static unsigned event_child_rekey(struct sa_table *t, const struct vici_node *msg, uint64_t now)
{
	const struct vici_node *sec = sa_parse_ike_section(msg);
	const struct vici_node *csas = vici_child(sec, "child-sas");
	struct sa_parse_ctx ctx = {.now = now};
	unsigned res = 0;
	uint32_t old_id;
	if (!csas || csas->type != VICI_NODE_SECTION || !csas->first) {
		invalidate(t, "child-rekey", "child-sas");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		if (sa_parse_uniqueid(vici_child(n, "old"), &old_id) < 0) {
			invalidate(t, "child-rekey", "old-uniqueid");
			return res | SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
		}
		tomb(t, false, old_id);
		if (content_remove_child(&t->cur, old_id))
			res |= SA_EVENT_CHANGED;
	}
	t->events_during_build |= t->building;
	struct sa_ike *fresh, *ike;
	if (sa_parse_ike(&ctx, sec->name, sec, &fresh) < 0) {
		log_skip("ike", sec->name, ctx.field);
		return res | SA_EVENT_REFRESH;
	}
	if (!(ike = content_upsert_ike(&t->cur, fresh)))
		return res | SA_EVENT_REFRESH;
	res |= SA_EVENT_CHANGED;
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		struct sa_child ch;
		if (sa_parse_child(&ctx, vici_child(n, "new"), &ch) < 0) {
			log_skip("child", n->name, ctx.field);
			res |= SA_EVENT_REFRESH;
			continue;
		}
		res |= upsert_child(t, ike, &ch);
	}
	return res;
}

unsigned sa_table_apply_event(struct sa_table *t, const char *event_name,
			      const struct vici_node *msg, uint64_t now)
{
	static const struct {
		const char *name;
		unsigned (*apply)(struct sa_table *, const struct vici_node *, uint64_t);
	} events[] = {
		{"ike-updown", event_ike_updown},
		{"child-updown", event_child_updown},
		{"ike-rekey", event_ike_rekey},
		{"child-rekey", event_child_rekey},
	};
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		if (event_name && strcmp(event_name, events[i].name) == 0)
			return events[i].apply(t, msg, now);
	}
	return 0;
}

/* ---- freshness and queries ------------------------------------------------------ */

enum sa_freshness sa_table_freshness(const struct sa_table *t, uint64_t now, uint64_t stale_after)
{
	if (!t->refreshed)
		return SA_STALE_NEVER;
	if (t->disconnected)
		return SA_STALE_DISCONNECTED;
	if (t->invalidated)
		return SA_STALE_EVENT;
	if (now < t->last_refresh || now - t->last_refresh > stale_after)
		return SA_STALE_AGE;
	return SA_FRESH;
}

bool sa_table_is_fresh(const struct sa_table *t, uint64_t now, uint64_t stale_after)
{
	return sa_table_freshness(t, now, stale_after) == SA_FRESH;
}

bool sa_table_last_refresh(const struct sa_table *t, uint64_t *when)
{
	if (!t->refreshed)
		return false;
	*when = t->last_refresh;
	return true;
}

const char *sa_freshness_name(enum sa_freshness f)
{
	switch (f) {
	case SA_FRESH:
		return "fresh";
	case SA_STALE_NEVER:
		return "never-refreshed";
	case SA_STALE_AGE:
		return "too-old";
	case SA_STALE_DISCONNECTED:
		return "disconnected";
	case SA_STALE_EVENT:
		return "malformed-event";
	}
	return "unknown";
}

static bool usable(const struct sa_ike *ike, const struct sa_child *c)
{
	return strcmp(ike->state, "ESTABLISHED") == 0 && strcmp(c->state, "INSTALLED") == 0 &&
	       c->protocol && strcmp(c->protocol, "ESP") == 0;
}

static bool list_covers(const struct sa_ts_list *l, int family, const uint8_t *addr, uint8_t proto,
			uint16_t port)
{
	for (size_t i = 0; i < l->count; i++) {
		if (ts_contains(&l->ts[i], family, addr, proto, port))
			return true;
	}
	return false;
}

/* local NULL: only the remote side is checked. */
static enum sa_match search(const struct sa_table *t, const struct sa_flow *f, const uint8_t *local,
			    const char *conn, const struct sa_ike **ike_out,
			    const struct sa_child **child_out)
{
	const struct sa_ike *best_ike = NULL;
	const struct sa_child *best = NULL;
	bool ambiguous = false;
	if (ike_out)
		*ike_out = NULL;
	if (child_out)
		*child_out = NULL;
	if (!t->refreshed || t->disconnected || t->invalidated)
		return SA_MATCH_STALE;
	for (size_t i = 0; i < t->cur.count; i++) {
		const struct sa_ike *ike = t->cur.ike[i];
		if (conn && strcmp(ike->name, conn) != 0)
			continue;
		for (size_t j = 0; j < ike->child_count; j++) {
			const struct sa_child *c = &ike->children[j];
			if (!usable(ike, c) ||
			    !list_covers(&c->remote_ts, f->family, f->remote, f->proto,
					 f->remote_port) ||
			    (local &&
			     !list_covers(&c->local_ts, f->family, local, f->proto, f->local_port)))
				continue;
			if (best_ike && strcmp(best_ike->remote_id, ike->remote_id) != 0)
				ambiguous = true;
			if (!best || c->uniqueid > best->uniqueid) {
				best = c;
				best_ike = ike;
			}
		}
	}
	if (ambiguous)
		return SA_MATCH_AMBIGUOUS;
	if (!best)
		return SA_MATCH_NONE;
	if (ike_out)
		*ike_out = best_ike;
	if (child_out)
		*child_out = best;
	return SA_MATCH_FOUND;
}

enum sa_match sa_table_find_covering(const struct sa_table *t, const struct sa_flow *flow,
				     const char *conn, const struct sa_ike **ike,
				     const struct sa_child **child)
{
	return search(t, flow, flow->local, conn, ike, child);
}

enum sa_match sa_table_owner(const struct sa_table *t, int family, const uint8_t addr[16],
			     const struct sa_ike **ike)
{
	struct sa_flow f = {.family = family};
	memcpy(f.remote, addr, sizeof(f.remote));
	return search(t, &f, NULL, NULL, ike, NULL);
}

size_t sa_table_ike_count(const struct sa_table *t)
{
	return t->cur.count;
}

size_t sa_table_child_count(const struct sa_table *t)
{
	return t->cur.children;
}

const struct sa_ike *sa_table_ike_at(const struct sa_table *t, size_t i)
{
	return i < t->cur.count ? t->cur.ike[i] : NULL;
}
