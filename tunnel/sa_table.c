/*
 * The live SA table: parsing charon's IKE_SA / CHILD_SA sections into plain
 * structs, full refreshes with down events remembered meanwhile, events, and
 * the queries the tunnel gate asks. Message shapes are described in
 * sa_table.h.
 */
#include "tunnel/sa_table.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/log.h"

#define ERR_MALFORMED -1
#define ERR_NOMEM     -2

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

/* ---- field parsing ---------------------------------------------------------- */

/* Why a section was refused: the field at fault, for the log. */
struct parse_ctx {
	const char *field;
	uint64_t now;
};

/* How a field is stored; the tables below map charon's keys onto the structs. */
enum field_kind { F_STR, F_HEX, F_U16, F_U32, F_U64, F_OPT_U64, F_OPT_I64, F_FLAG, F_TS };

struct field {
	const char *key;
	enum field_kind kind;
	bool required;
	size_t offset;
};

#define IKE_F(key, kind, req, member)                                                              \
	{                                                                                          \
		key, kind, req, offsetof(struct sa_ike, member)                                    \
	}
#define CHILD_F(key, kind, req, member)                                                            \
	{                                                                                          \
		key, kind, req, offsetof(struct sa_child, member)                                  \
	}

/* list_ike() in vici_query.c; "name" is the section name, set apart. */
static const struct field ike_fields[] = {
	IKE_F("uniqueid", F_U32, true, uniqueid),
	IKE_F("version", F_U32, true, version),
	IKE_F("state", F_STR, true, state),
	IKE_F("local-host", F_STR, true, local_host),
	IKE_F("local-port", F_U16, false, local_port),
	IKE_F("local-id", F_STR, true, local_id),
	IKE_F("remote-host", F_STR, true, remote_host),
	IKE_F("remote-port", F_U16, false, remote_port),
	IKE_F("remote-id", F_STR, true, remote_id),
	IKE_F("initiator", F_FLAG, false, initiator),
	IKE_F("initiator-spi", F_HEX, false, initiator_spi),
	IKE_F("responder-spi", F_HEX, false, responder_spi),
	IKE_F("encr-alg", F_STR, false, encr_alg),
	IKE_F("encr-keysize", F_U32, false, encr_keysize),
	IKE_F("integ-alg", F_STR, false, integ_alg),
	IKE_F("prf-alg", F_STR, false, prf_alg),
	IKE_F("dh-group", F_STR, false, dh_group),
	IKE_F("established", F_OPT_I64, false, established),
	IKE_F("rekey-time", F_OPT_I64, false, rekey_time),
	IKE_F("reauth-time", F_OPT_I64, false, reauth_time),
};

/* list_child() in vici_query.c. */
static const struct field child_fields[] = {
	CHILD_F("name", F_STR, true, name),
	CHILD_F("uniqueid", F_U32, true, uniqueid),
	CHILD_F("reqid", F_U32, true, reqid),
	CHILD_F("state", F_STR, true, state),
	CHILD_F("mode", F_STR, true, mode),
	CHILD_F("protocol", F_STR, false, protocol),
	CHILD_F("encap", F_FLAG, false, encap),
	CHILD_F("spi-in", F_HEX, false, spi_in),
	CHILD_F("spi-out", F_HEX, false, spi_out),
	CHILD_F("encr-alg", F_STR, false, encr_alg),
	CHILD_F("encr-keysize", F_U32, false, encr_keysize),
	CHILD_F("integ-alg", F_STR, false, integ_alg),
	CHILD_F("dh-group", F_STR, false, dh_group),
	CHILD_F("bytes-in", F_U64, false, bytes_in),
	CHILD_F("bytes-out", F_U64, false, bytes_out),
	CHILD_F("packets-in", F_U64, false, packets_in),
	CHILD_F("packets-out", F_U64, false, packets_out),
	CHILD_F("use-in", F_OPT_U64, false, use_in),
	CHILD_F("use-out", F_OPT_U64, false, use_out),
	CHILD_F("install-time", F_OPT_I64, false, install_time),
	CHILD_F("rekey-time", F_OPT_I64, false, rekey_time),
	CHILD_F("life-time", F_OPT_I64, false, life_time),
	CHILD_F("local-ts", F_TS, true, local_ts),
	CHILD_F("remote-ts", F_TS, true, remote_ts),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool has_control_char(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static int fail(struct parse_ctx *ctx, const char *field)
{
	ctx->field = field;
	return ERR_MALFORMED;
}

/* Decimal as charon prints %u / PRIu64 / PRId64; signed allows a leading '-'. */
static bool parse_num(const char *s, bool is_signed, uint64_t max, uint64_t *u, int64_t *i)
{
	const char *digits = is_signed && s[0] == '-' ? s + 1 : s;
	char *end;
	if (*digits < '0' || *digits > '9')
		return false;
	errno = 0;
	if (is_signed)
		*i = strtoll(s, &end, 10);
	else
		*u = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && (is_signed || *u <= max);
}

static void ts_list_clear(struct sa_ts_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->text[i]);
	free(l->text);
	free(l->ts);
	memset(l, 0, sizeof(*l));
}

static int take_ts_list(struct parse_ctx *ctx, const struct vici_node *list, const char *key,
			struct sa_ts_list *out)
{
	size_t n = 0;
	if (!list || list->type != VICI_NODE_LIST)
		return fail(ctx, key);
	for (const struct vici_node *it = list->first; it; it = it->next) {
		if (++n > SA_TABLE_MAX_TS)
			return fail(ctx, key);
	}
	if (n == 0)
		return 0;
	out->text = calloc(n, sizeof(*out->text));
	out->ts = calloc(n, sizeof(*out->ts));
	if (!out->text || !out->ts)
		return ERR_NOMEM;
	for (const struct vici_node *it = list->first; it; it = it->next) {
		const char *s = (const char *)it->value;
		if (it->type != VICI_NODE_VALUE || !s || memchr(s, '\0', it->value_len) ||
		    ts_parse(s, &out->ts[out->count]) < 0)
			return fail(ctx, key);
		if (!(out->text[out->count] = strdup(s)))
			return ERR_NOMEM;
		out->count++;
	}
	return 0;
}

/* Reads one field of sec into base (a struct sa_ike or sa_child). */
static int take(struct parse_ctx *ctx, const struct vici_node *sec, const struct field *f,
		void *base)
{
	void *p = (char *)base + f->offset;
	const struct vici_node *n = vici_child(sec, f->key);
	const char *s = vici_str(sec, f->key);
	uint64_t u = 0;
	int64_t i = 0;
	if (f->kind == F_TS)
		return take_ts_list(ctx, n, f->key, p);
	if (!n)
		return f->required ? fail(ctx, f->key) : 0;
	if (!s || n->value_len > SA_TABLE_MAX_STR || has_control_char(s))
		return fail(ctx, f->key);
	switch (f->kind) {
	case F_HEX:
		if (strspn(s, "0123456789abcdef") != n->value_len || n->value_len == 0 ||
		    n->value_len > 16)
			return fail(ctx, f->key);
		/* fall through */
	case F_STR:
		return (*(char **)p = strdup(s)) ? 0 : ERR_NOMEM;
	case F_FLAG:
		if (strcmp(s, "yes") != 0 && strcmp(s, "no") != 0)
			return fail(ctx, f->key);
		*(bool *)p = strcmp(s, "yes") == 0;
		return 0;
	case F_OPT_I64:
		if (!parse_num(s, true, 0, &u, &i))
			return fail(ctx, f->key);
		*(struct sa_opt_i64 *)p = (struct sa_opt_i64){.set = true, .value = i};
		return 0;
	default:
		break;
	}
	uint64_t max = f->kind == F_U16 ? UINT16_MAX : f->kind == F_U32 ? UINT32_MAX : UINT64_MAX;
	if (!parse_num(s, false, max, &u, &i))
		return fail(ctx, f->key);
	if (f->kind == F_U16)
		*(uint16_t *)p = (uint16_t)u;
	else if (f->kind == F_U32)
		*(uint32_t *)p = (uint32_t)u;
	else if (f->kind == F_U64)
		*(uint64_t *)p = u;
	else
		*(struct sa_opt_u64 *)p = (struct sa_opt_u64){.set = true, .value = u};
	return 0;
}

static int take_all(struct parse_ctx *ctx, const struct vici_node *sec, const struct field *f,
		    size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		int rc = take(ctx, sec, &f[i], base);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void free_all(const struct field *f, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		void *p = (char *)base + f[i].offset;
		if (f[i].kind == F_STR || f[i].kind == F_HEX)
			free(*(char **)p);
		else if (f[i].kind == F_TS)
			ts_list_clear(p);
	}
}

static void child_clear(struct sa_child *c)
{
	free_all(child_fields, COUNT(child_fields), c);
	memset(c, 0, sizeof(*c));
}

/* Parses a CHILD section into *c; on failure *c is left empty. */
static int child_parse(struct parse_ctx *ctx, const struct vici_node *sec, struct sa_child *c)
{
	memset(c, 0, sizeof(*c));
	if (!sec || sec->type != VICI_NODE_SECTION)
		return fail(ctx, "child-section");
	int rc = take_all(ctx, sec, child_fields, COUNT(child_fields), c);
	if (rc < 0)
		child_clear(c);
	c->reported_at = ctx->now;
	return rc;
}

static void ike_free(struct sa_ike *ike)
{
	if (!ike)
		return;
	free_all(ike_fields, COUNT(ike_fields), ike);
	free(ike->name);
	for (size_t i = 0; i < ike->child_count; i++)
		child_clear(&ike->children[i]);
	free(ike->children);
	free(ike);
}

/* Parses the IKE_SA fields of sec, named name, into a new struct without children. */
static int ike_parse(struct parse_ctx *ctx, const char *name, const struct vici_node *sec,
		     struct sa_ike **out)
{
	*out = NULL;
	if (!sec || sec->type != VICI_NODE_SECTION)
		return fail(ctx, "ike-section");
	if (name[0] == '\0' || has_control_char(name))
		return fail(ctx, "ike-name");
	struct sa_ike *ike = calloc(1, sizeof(*ike));
	if (!ike || !(ike->name = strdup(name))) {
		free(ike);
		return ERR_NOMEM;
	}
	ike->reported_at = ctx->now;
	int rc = take_all(ctx, sec, ike_fields, COUNT(ike_fields), ike);
	if (rc == 0 && ike->version != 1 && ike->version != 2)
		rc = fail(ctx, "version");
	if (rc < 0) {
		ike_free(ike);
		return rc;
	}
	*out = ike;
	return 0;
}

/* The one IKE section of an event message; other root keys (up) are values. */
static const struct vici_node *ike_section(const struct vici_node *root)
{
	const struct vici_node *found = NULL;
	if (!root || root->type != VICI_NODE_SECTION)
		return NULL;
	for (const struct vici_node *n = root->first; n; n = n->next) {
		if (n->type != VICI_NODE_SECTION)
			continue;
		if (found)
			return NULL;
		found = n;
	}
	return found;
}

static int uniqueid_of(const struct vici_node *sec, uint32_t *id)
{
	uint64_t v;
	if (!sec || sec->type != VICI_NODE_SECTION || vici_u64(sec, "uniqueid", &v) < 0 ||
	    v > UINT32_MAX)
		return -1;
	*id = (uint32_t)v;
	return 0;
}

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
		ike_free(c->ike[i]);
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
	ike_free(c->ike[i]);
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
	child_clear(ch);
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
	ike_free(old);
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
		ike_free(fresh);
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
	struct parse_ctx ctx = {.field = NULL};
	struct sa_table_report *rep = &t->pending_report;
	struct sa_ike *ike = NULL;
	if (!t->building || t->tainted)
		return -1;
	const struct vici_node *sec = ike_section(msg);
	const struct vici_node *csas = vici_child(sec, "child-sas");
	int rc = sec ? ike_parse(&ctx, sec->name, sec, &ike) : fail(&ctx, "ike-section");
	if (rc == 0 && (!csas || csas->type != VICI_NODE_SECTION))
		rc = fail(&ctx, "child-sas");
	if (rc == 0 && find_ike(&t->pending, ike->uniqueid) >= 0)
		rc = fail(&ctx, "uniqueid-duplicate");
	if (rc == 0 && (rc = content_add_ike(&t->pending, ike)) == ERR_MALFORMED)
		ctx.field = "limit-ike";
	if (rc < 0) {
		ike_free(ike);
		if (rc == ERR_NOMEM)
			goto nomem;
		rep->ike_skipped++;
		log_skip("ike", sec ? sec->name : NULL, ctx.field);
		return 1;
	}
	rep->ike_added++;
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		struct sa_child ch;
		struct parse_ctx cctx = {.field = NULL};
		rc = child_parse(&cctx, n, &ch);
		if (rc == 0 && find_child(&t->pending, ch.uniqueid, NULL))
			rc = fail(&cctx, "uniqueid-duplicate");
		if (rc == 0 && (rc = content_add_child(&t->pending, ike, &ch)) == ERR_MALFORMED)
			cctx.field = "limit-child";
		if (rc < 0) {
			child_clear(&ch);
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
		child_clear(ch);
		return SA_EVENT_CHANGED | SA_EVENT_REFRESH;
	}
	return SA_EVENT_CHANGED;
}

static unsigned event_ike_updown(struct sa_table *t, const struct vici_node *msg, uint64_t now)
{
	const struct vici_node *sec = ike_section(msg);
	struct parse_ctx ctx = {.now = now};
	struct sa_ike *ike;
	uint32_t id;
	if (uniqueid_of(sec, &id) < 0) {
		invalidate(t, "ike-updown", "uniqueid");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	if (!vici_yes(msg, "up")) {
		tomb(t, true, id);
		return content_remove_ike(&t->cur, id) ? SA_EVENT_CHANGED : 0;
	}
	t->events_during_build |= t->building;
	if (ike_parse(&ctx, sec->name, sec, &ike) < 0) {
		log_skip("ike", sec->name, ctx.field);
		return SA_EVENT_REFRESH;
	}
	return content_upsert_ike(&t->cur, ike) ? SA_EVENT_CHANGED : SA_EVENT_REFRESH;
}

static unsigned event_child_updown(struct sa_table *t, const struct vici_node *msg, uint64_t now)
{
	const struct vici_node *sec = ike_section(msg);
	const struct vici_node *csas = vici_child(sec, "child-sas");
	struct parse_ctx ctx = {.now = now};
	unsigned res = 0;
	uint32_t id;
	if (!csas || csas->type != VICI_NODE_SECTION || !csas->first) {
		invalidate(t, "child-updown", "child-sas");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	if (!vici_yes(msg, "up")) {
		for (const struct vici_node *n = csas->first; n; n = n->next) {
			if (uniqueid_of(n, &id) < 0) {
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
	if (ike_parse(&ctx, sec->name, sec, &fresh) < 0) {
		log_skip("ike", sec->name, ctx.field);
		return SA_EVENT_REFRESH;
	}
	if (!(ike = content_upsert_ike(&t->cur, fresh)))
		return SA_EVENT_REFRESH;
	res = SA_EVENT_CHANGED;
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		struct sa_child ch;
		if (child_parse(&ctx, n, &ch) < 0) {
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
	const struct vici_node *sec = ike_section(msg);
	const struct vici_node *new_sec = vici_child(sec, "new");
	struct parse_ctx ctx = {.now = now};
	struct sa_ike *fresh;
	uint32_t old_id;
	if (uniqueid_of(vici_child(sec, "old"), &old_id) < 0) {
		invalidate(t, "ike-rekey", "old-uniqueid");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	tomb(t, true, old_id);
	t->events_during_build |= t->building;
	if (ike_parse(&ctx, sec->name, new_sec, &fresh) < 0) {
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
			child_clear(&kids[i]);
			res |= SA_EVENT_REFRESH;
		}
	}
	free(kids);
	content_remove_ike(&t->cur, old_id);
	return res;
}

static unsigned event_child_rekey(struct sa_table *t, const struct vici_node *msg, uint64_t now)
{
	const struct vici_node *sec = ike_section(msg);
	const struct vici_node *csas = vici_child(sec, "child-sas");
	struct parse_ctx ctx = {.now = now};
	unsigned res = 0;
	uint32_t old_id;
	if (!csas || csas->type != VICI_NODE_SECTION || !csas->first) {
		invalidate(t, "child-rekey", "child-sas");
		return SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
	}
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		if (uniqueid_of(vici_child(n, "old"), &old_id) < 0) {
			invalidate(t, "child-rekey", "old-uniqueid");
			return res | SA_EVENT_MALFORMED | SA_EVENT_REFRESH;
		}
		tomb(t, false, old_id);
		if (content_remove_child(&t->cur, old_id))
			res |= SA_EVENT_CHANGED;
	}
	t->events_during_build |= t->building;
	struct sa_ike *fresh, *ike;
	if (ike_parse(&ctx, sec->name, sec, &fresh) < 0) {
		log_skip("ike", sec->name, ctx.field);
		return res | SA_EVENT_REFRESH;
	}
	if (!(ike = content_upsert_ike(&t->cur, fresh)))
		return res | SA_EVENT_REFRESH;
	res |= SA_EVENT_CHANGED;
	for (const struct vici_node *n = csas->first; n; n = n->next) {
		struct sa_child ch;
		if (child_parse(&ctx, vici_child(n, "new"), &ch) < 0) {
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
