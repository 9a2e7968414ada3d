/*
 * Reading charon's IKE_SA and CHILD_SA sections into the plain structs of
 * the SA table. Each struct is described by a table of its fields (charon's
 * key, how the value is stored, whether it is required), so that parsing
 * and freeing walk the same rows.
 */
#include "tunnel/sa_parse.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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

int sa_parse_fail(struct sa_parse_ctx *ctx, const char *field)
{
	ctx->field = field;
	return SA_PARSE_MALFORMED;
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

static int take_ts_list(struct sa_parse_ctx *ctx, const struct vici_node *list, const char *key,
			struct sa_ts_list *out)
{
	size_t n = 0;
	if (!list || list->type != VICI_NODE_LIST)
		return sa_parse_fail(ctx, key);
	for (const struct vici_node *it = list->first; it; it = it->next) {
		if (++n > SA_TABLE_MAX_TS)
			return sa_parse_fail(ctx, key);
	}
	if (n == 0)
		return 0;
	out->text = calloc(n, sizeof(*out->text));
	out->ts = calloc(n, sizeof(*out->ts));
	if (!out->text || !out->ts)
		return SA_PARSE_NOMEM;
	for (const struct vici_node *it = list->first; it; it = it->next) {
		const char *s = (const char *)it->value;
		if (it->type != VICI_NODE_VALUE || !s || memchr(s, '\0', it->value_len) ||
		    ts_parse(s, &out->ts[out->count]) < 0)
			return sa_parse_fail(ctx, key);
		if (!(out->text[out->count] = strdup(s)))
			return SA_PARSE_NOMEM;
		out->count++;
	}
	return 0;
}

/* Reads one field of sec into base (a struct sa_ike or sa_child). */
static int take(struct sa_parse_ctx *ctx, const struct vici_node *sec, const struct field *f,
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
		return f->required ? sa_parse_fail(ctx, f->key) : 0;
	if (!s || n->value_len > SA_TABLE_MAX_STR || has_control_char(s))
		return sa_parse_fail(ctx, f->key);
	switch (f->kind) {
	case F_HEX:
		if (strspn(s, "0123456789abcdef") != n->value_len || n->value_len == 0 ||
		    n->value_len > 16)
			return sa_parse_fail(ctx, f->key);
		/* fall through */
	case F_STR:
		return (*(char **)p = strdup(s)) ? 0 : SA_PARSE_NOMEM;
	case F_FLAG:
		if (strcmp(s, "yes") != 0 && strcmp(s, "no") != 0)
			return sa_parse_fail(ctx, f->key);
		*(bool *)p = strcmp(s, "yes") == 0;
		return 0;
	case F_OPT_I64:
		if (!parse_num(s, true, 0, &u, &i))
			return sa_parse_fail(ctx, f->key);
		*(struct sa_opt_i64 *)p = (struct sa_opt_i64){.set = true, .value = i};
		return 0;
	default:
		break;
	}
	uint64_t max = f->kind == F_U16 ? UINT16_MAX : f->kind == F_U32 ? UINT32_MAX : UINT64_MAX;
	if (!parse_num(s, false, max, &u, &i))
		return sa_parse_fail(ctx, f->key);
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

static int take_all(struct sa_parse_ctx *ctx, const struct vici_node *sec, const struct field *f,
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

void sa_parse_child_clear(struct sa_child *c)
{
	free_all(child_fields, COUNT(child_fields), c);
	memset(c, 0, sizeof(*c));
}

/* Parses a CHILD section into *c; on failure *c is left empty. */
int sa_parse_child(struct sa_parse_ctx *ctx, const struct vici_node *sec, struct sa_child *c)
{
	memset(c, 0, sizeof(*c));
	if (!sec || sec->type != VICI_NODE_SECTION)
		return sa_parse_fail(ctx, "child-section");
	int rc = take_all(ctx, sec, child_fields, COUNT(child_fields), c);
	if (rc < 0)
		sa_parse_child_clear(c);
	c->reported_at = ctx->now;
	return rc;
}

void sa_parse_ike_free(struct sa_ike *ike)
{
	if (!ike)
		return;
	free_all(ike_fields, COUNT(ike_fields), ike);
	free(ike->name);
	for (size_t i = 0; i < ike->child_count; i++)
		sa_parse_child_clear(&ike->children[i]);
	free(ike->children);
	free(ike);
}

/* Parses the IKE_SA fields of sec, named name, into a new struct without children. */
int sa_parse_ike(struct sa_parse_ctx *ctx, const char *name, const struct vici_node *sec,
		 struct sa_ike **out)
{
	*out = NULL;
	if (!sec || sec->type != VICI_NODE_SECTION)
		return sa_parse_fail(ctx, "ike-section");
	if (name[0] == '\0' || has_control_char(name))
		return sa_parse_fail(ctx, "ike-name");
	struct sa_ike *ike = calloc(1, sizeof(*ike));
	if (!ike || !(ike->name = strdup(name))) {
		free(ike);
		return SA_PARSE_NOMEM;
	}
	ike->reported_at = ctx->now;
	int rc = take_all(ctx, sec, ike_fields, COUNT(ike_fields), ike);
	if (rc == 0 && ike->version != 1 && ike->version != 2)
		rc = sa_parse_fail(ctx, "version");
	if (rc < 0) {
		sa_parse_ike_free(ike);
		return rc;
	}
	*out = ike;
	return 0;
}

/* The one IKE section of an event message; other root keys (up) are values. */
const struct vici_node *sa_parse_ike_section(const struct vici_node *root)
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

int sa_parse_uniqueid(const struct vici_node *sec, uint32_t *id)
{
	uint64_t v;
	if (!sec || sec->type != VICI_NODE_SECTION || vici_u64(sec, "uniqueid", &v) < 0 ||
	    v > UINT32_MAX)
		return -1;
	*id = (uint32_t)v;
	return 0;
}
