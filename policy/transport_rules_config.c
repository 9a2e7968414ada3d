/*
 * Building transport rules from the libconfig setting policy.rules. The
 * syntax is documented in transport_rules_config.h; this file checks the
 * structure and the types, and leaves the checks on values to the engine
 * (transport_rules.c), whose messages it prefixes with file:line: path.
 */
#include "policy/transport_rules_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"

struct load {
	const char *file;
	char *err;
	size_t errlen;
};

static const struct {
	const char *key;
	enum rules_field field;
} cond_keys[] = {
	{"sender", RULES_SENDER},	  {"recipient", RULES_RECIPIENT},
	{"subject", RULES_SUBJECT},	  {"header", RULES_HEADER},
	{"attachment", RULES_ATTACHMENT}, {"size_over", RULES_SIZE_OVER},
	{"verdict", RULES_VERDICT},
};

static const struct {
	const char *key;
	enum rules_match match;
} match_keys[] = {
	{"contains", RULES_MATCH_CONTAINS},
	{"regex", RULES_MATCH_REGEX},
	{"glob", RULES_MATCH_GLOB},
};

static const enum rules_action_kind action_kinds[] = {
	RULES_ACT_REJECT,	   RULES_ACT_ADD_HEADER, RULES_ACT_REMOVE_HEADER,
	RULES_ACT_PREPEND_SUBJECT, RULES_ACT_REDIRECT,	 RULES_ACT_BCC,
	RULES_ACT_QUARANTINE,	   RULES_ACT_LOG,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- messages ---- */

static void setting_path(const config_setting_t *s, char *buf, size_t size)
{
	const config_setting_t *parent = config_setting_parent(s);
	if (!parent) {
		buf[0] = '\0';
		return;
	}
	setting_path(parent, buf, size);
	size_t used = strlen(buf);
	if (config_setting_name(s))
		snprintf(buf + used, size - used, "%s%s", used ? "." : "", config_setting_name(s));
	else
		snprintf(buf + used, size - used, "[%d]", config_setting_index(s));
}

/*
 * Writes "file:line: path: message", the line from at, the path from
 * where (often the same setting). Always returns -1.
 */
__attribute__((format(printf, 4, 5))) static int fail(struct load *ld, const config_setting_t *at,
						      const config_setting_t *where,
						      const char *fmt, ...)
{
	if (ld->errlen == 0)
		return -1;
	char path[512];
	setting_path(where, path, sizeof(path));
	va_list ap;
	va_start(ap, fmt);
	config_setting_error(ld->err, ld->errlen, at, ld->file, path, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- typed values ---- */

static int get_string(struct load *ld, const config_setting_t *s, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(ld, s, s, "must be a string in double quotes");
	*out = config_setting_get_string(s);
	return 0;
}

static int get_group(struct load *ld, const config_setting_t *s, const char *example)
{
	if (!config_setting_is_group(s))
		return fail(ld, s, s, "must be a group: %s", example);
	return 0;
}

/* A list of at most max entries; an empty array [] counts as an empty list. */
static int get_list(struct load *ld, const config_setting_t *s, int max, const char *what)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && !config_setting_length(s)))
		return fail(ld, s, s, "must be a list: ( { ... }, { ... } )");
	if (config_setting_length(s) > max)
		return fail(ld, s, s, "at most %d %s", max, what);
	return 0;
}

/* ---- conditions ---- */

/* The { contains | regex | glob = "..."; } of a text condition (and header's name). */
static int load_matcher(struct load *ld, const config_setting_t *s,
			struct rules_condition_spec *spec, const config_setting_t **at)
{
	if (get_group(ld, s, "{ contains = \"...\"; } (or regex, glob)") != 0)
		return -1;
	const config_setting_t *pattern = NULL, *name = NULL;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *key = config_setting_name(m);
		size_t k = 0;
		while (k < NELEM(match_keys) && strcmp(key, match_keys[k].key) != 0)
			k++;
		if (spec->field == RULES_HEADER && strcmp(key, "name") == 0) {
			name = m;
			if (get_string(ld, m, &spec->header) != 0)
				return -1;
		} else if (k == NELEM(match_keys)) {
			return fail(ld, m, s, "unknown key \"%s\" (contains, regex or glob%s)", key,
				    spec->field == RULES_HEADER ? ", and name" : "");
		} else if (pattern) {
			return fail(ld, m, s, "only one of contains, regex or glob");
		} else {
			pattern = m;
			spec->match = match_keys[k].match;
			if (get_string(ld, m, &spec->pattern) != 0)
				return -1;
		}
	}
	if (spec->field == RULES_HEADER && !name)
		return fail(ld, s, s, "name is required");
	if (!pattern && spec->field != RULES_HEADER)
		return fail(ld, s, s, "needs one of contains, regex or glob");
	if (!pattern)
		spec->match = RULES_MATCH_PRESENT;
	*at = pattern ? pattern : name;
	return 0;
}

static int load_condition(struct load *ld, struct transport_rule *rule, const config_setting_t *e)
{
	if (get_group(ld, e, "{ subject = { contains = \"...\"; }; }") != 0)
		return -1;
	struct rules_condition_spec spec = {0};
	const config_setting_t *which = NULL;
	for (int i = 0; i < config_setting_length(e); i++) {
		const config_setting_t *m = config_setting_get_elem(e, (unsigned)i);
		const char *key = config_setting_name(m);
		size_t k = 0;
		while (k < NELEM(cond_keys) && strcmp(key, cond_keys[k].key) != 0)
			k++;
		if (strcmp(key, "not") == 0) {
			if (config_setting_type(m) != CONFIG_TYPE_BOOL)
				return fail(ld, m, m, "must be true or false");
			spec.negate = config_setting_get_bool(m);
		} else if (k == NELEM(cond_keys)) {
			return fail(ld, m, e, "unknown condition \"%s\"", key);
		} else if (which) {
			return fail(ld, m, e, "one condition per entry, found \"%s\" and \"%s\"",
				    config_setting_name(which), key);
		} else {
			which = m;
			spec.field = cond_keys[k].field;
		}
	}
	if (!which)
		return fail(ld, e, e, "no condition");
	const config_setting_t *at = which;
	if (spec.field == RULES_SIZE_OVER) {
		int type = config_setting_type(which);
		long long v = config_setting_get_int64(which);
		if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) || v < 0)
			return fail(ld, which, which, "must be a number of octets, 0 or more");
		spec.size = (uint64_t)v;
	} else if (spec.field == RULES_VERDICT) {
		if (get_string(ld, which, &spec.pattern) != 0)
			return -1;
	} else if (load_matcher(ld, which, &spec, &at) != 0) {
		return -1;
	}
	char why[512];
	if (transport_rule_add_condition(rule, &spec, why, sizeof(why)) != 0)
		return fail(ld, at, at, "%s", why);
	return 0;
}

/* ---- actions ---- */

static int load_reject(struct load *ld, const config_setting_t *s, struct rules_action *a)
{
	if (get_group(ld, s, "{ code = 550; enhanced = \"5.7.1\"; text = \"...\"; }") != 0)
		return -1;
	bool have_code = false;
	a->reject.text = TRANSPORT_RULES_DEFAULT_REJECT_TEXT;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *key = config_setting_name(m);
		if (strcmp(key, "code") == 0) {
			int type = config_setting_type(m);
			long long v = config_setting_get_int64(m);
			if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) || v < 400 ||
			    v > 599)
				return fail(ld, m, m, "must be a reply code from 400 to 599");
			a->reject.code = (int)v;
			have_code = true;
		} else if (strcmp(key, "enhanced") == 0) {
			if (get_string(ld, m, &a->reject.enhanced) != 0)
				return -1;
		} else if (strcmp(key, "text") == 0) {
			if (get_string(ld, m, &a->reject.text) != 0)
				return -1;
		} else {
			return fail(ld, m, s, "unknown key \"%s\" (code, enhanced, text)", key);
		}
	}
	if (!have_code)
		return fail(ld, s, s, "code is required");
	return 0;
}

static int load_add_header(struct load *ld, const config_setting_t *s, struct rules_action *a)
{
	if (get_group(ld, s, "{ name = \"X-...\"; value = \"...\"; }") != 0)
		return -1;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *key = config_setting_name(m);
		if (strcmp(key, "name") == 0) {
			if (get_string(ld, m, &a->add_header.name) != 0)
				return -1;
		} else if (strcmp(key, "value") == 0) {
			if (get_string(ld, m, &a->add_header.value) != 0)
				return -1;
		} else {
			return fail(ld, m, s, "unknown key \"%s\" (name, value)", key);
		}
	}
	if (!a->add_header.name || !a->add_header.value)
		return fail(ld, s, s, "name and value are required");
	return 0;
}

static int load_action(struct load *ld, struct transport_rule *rule, const config_setting_t *e)
{
	if (get_group(ld, e, "{ log = \"...\"; }") != 0)
		return -1;
	if (config_setting_length(e) == 0)
		return fail(ld, e, e, "no action");
	const config_setting_t *m = config_setting_get_elem(e, 0);
	const char *key = config_setting_name(m);
	size_t k = 0;
	while (k < NELEM(action_kinds) && strcmp(key, transport_rules_action_name(action_kinds[k])))
		k++;
	if (k == NELEM(action_kinds))
		return fail(ld, m, e, "unknown action \"%s\"", key);
	if (config_setting_length(e) > 1) {
		const config_setting_t *m2 = config_setting_get_elem(e, 1);
		return fail(ld, m2, e, "one action per entry, found \"%s\" and \"%s\"", key,
			    config_setting_name(m2));
	}
	struct rules_action a = {.kind = action_kinds[k]};
	int rc = 0;
	switch (a.kind) {
	case RULES_ACT_REJECT:
		rc = load_reject(ld, m, &a);
		break;
	case RULES_ACT_ADD_HEADER:
		rc = load_add_header(ld, m, &a);
		break;
	case RULES_ACT_REMOVE_HEADER:
		rc = get_string(ld, m, &a.remove_header.name);
		break;
	case RULES_ACT_PREPEND_SUBJECT:
		rc = get_string(ld, m, &a.prepend_subject.text);
		break;
	case RULES_ACT_REDIRECT:
		rc = get_string(ld, m, &a.redirect.to);
		break;
	case RULES_ACT_BCC:
		rc = get_string(ld, m, &a.bcc.to);
		break;
	case RULES_ACT_QUARANTINE:
		rc = get_string(ld, m, &a.quarantine.reason);
		break;
	case RULES_ACT_LOG:
		rc = get_string(ld, m, &a.log.text);
		break;
	}
	char why[512];
	if (rc == 0 && transport_rule_add_action(rule, &a, why, sizeof(why)) != 0)
		return fail(ld, m, m, "%s", why);
	return rc;
}

/* ---- rules ---- */

static int load_rule(struct load *ld, struct transport_rules *rules, const config_setting_t *g)
{
	if (get_group(ld, g, "{ name = \"...\"; if = ( ... ); then = ( ... ); }") != 0)
		return -1;
	const config_setting_t *name = NULL, *conds = NULL, *acts = NULL, *stop = NULL;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(m);
		if (strcmp(key, "name") == 0)
			name = m;
		else if (strcmp(key, "if") == 0)
			conds = m;
		else if (strcmp(key, "then") == 0)
			acts = m;
		else if (strcmp(key, "stop") == 0)
			stop = m;
		else
			return fail(ld, m, g, "unknown key \"%s\" (name, if, then, stop)", key);
	}
	const char *name_text = NULL;
	if (!name)
		return fail(ld, g, g, "name is required");
	if (get_string(ld, name, &name_text) != 0)
		return -1;
	if (stop && config_setting_type(stop) != CONFIG_TYPE_BOOL)
		return fail(ld, stop, stop, "must be true or false");
	bool stops = stop && config_setting_get_bool(stop);
	if (conds && get_list(ld, conds, TRANSPORT_RULES_MAX_CONDITIONS, "conditions") != 0)
		return -1;
	if (acts && get_list(ld, acts, TRANSPORT_RULES_MAX_ACTIONS, "actions") != 0)
		return -1;
	if ((!acts || config_setting_length(acts) == 0) && !stops)
		return fail(ld, acts ? acts : g, g, "needs an action in then, or stop = true");
	char why[512];
	struct transport_rule *rule =
		transport_rules_add(rules, name_text, stops, why, sizeof(why));
	if (!rule)
		return fail(ld, name, name, "%s", why);
	for (int i = 0; conds && i < config_setting_length(conds); i++)
		if (load_condition(ld, rule, config_setting_get_elem(conds, (unsigned)i)) != 0)
			return -1;
	for (int i = 0; acts && i < config_setting_length(acts); i++)
		if (load_action(ld, rule, config_setting_get_elem(acts, (unsigned)i)) != 0)
			return -1;
	return 0;
}

struct transport_rules *transport_rules_from_setting(const config_setting_t *list, const char *file,
						     char *err, size_t errlen)
{
	struct load ld = {.file = file, .err = errlen ? err : NULL, .errlen = errlen};
	if (errlen)
		err[0] = '\0';
	if (list && get_list(&ld, list, TRANSPORT_RULES_MAX_RULES, "rules") != 0)
		return NULL;
	struct transport_rules *rules = transport_rules_new();
	if (!rules) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; list && i < config_setting_length(list); i++) {
		if (load_rule(&ld, rules, config_setting_get_elem(list, (unsigned)i)) != 0) {
			transport_rules_free(rules);
			return NULL;
		}
	}
	return rules;
}
