/*
 * Transport rules engine: building checked rules, and evaluating them on a
 * message given as plain data. See transport_rules.h.
 */
#include "policy/transport_rules.h"

#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

struct rules_cond {
	enum rules_field field;
	enum rules_match match;
	bool negate;
	bool compiled; /* re holds a compiled regex */
	char *header;
	char *pattern;
	uint64_t size;
	regex_t re;
};

struct transport_rule {
	char *name;
	bool stop;
	bool final; /* holds a reject */
	struct rules_cond conds[TRANSPORT_RULES_MAX_CONDITIONS];
	size_t nconds;
	struct rules_action acts[TRANSPORT_RULES_MAX_ACTIONS];
	size_t nacts;
};

struct transport_rules {
	struct transport_rule *rule[TRANSPORT_RULES_MAX_RULES];
	size_t nrules;
	size_t nactions;
};

static const char *const verdicts[] = {"clean", "infected", "limits", "unscanned"};

/* ---- messages ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	if (errlen == 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* Values quoted in the message come from the configuration: one line. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

/* ---- checks on what a rule holds ---- */

static bool is_field_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TRANSPORT_RULES_FIELD_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126 || *s == ':')
			return false;
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Text that goes into a header, a reply line or a log line. */
static int check_text(const char *what, const char *s, char *err, size_t errlen)
{
	if (!s || !*s)
		return fail(err, errlen, "%s must not be empty", what);
	if (strlen(s) > TRANSPORT_RULES_TEXT_MAX)
		return fail(err, errlen, "%s is longer than %d octets", what,
			    TRANSPORT_RULES_TEXT_MAX);
	for (const char *p = s; *p; p++) {
		if (*p == '\r' || *p == '\n')
			return fail(err, errlen, "%s must not contain CR or LF", what);
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return fail(err, errlen, "%s must be printable ASCII", what);
	}
	return 0;
}

static bool is_domain(const char *d)
{
	size_t n = strlen(d), label = 0;
	if (n == 0 || n > 253)
		return false;
	for (const char *p = d;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-' || p[-(ptrdiff_t)label] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') || *p == '-') {
			label++;
		} else {
			return false;
		}
	}
}

/* A plain local@domain: no brackets, quotes, spaces or comments. */
static bool is_address(const char *s)
{
	const char *at = strrchr(s, '@');
	if (!at || at == s || at - s > 64 || strlen(s) > TRANSPORT_RULES_ADDR_MAX)
		return false;
	for (const char *p = s; p < at; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("<>()[],;:\"\\@", *p))
			return false;
	return is_domain(at + 1);
}

/* After a '[' that opens a bracket expression: past its closing ']'. */
static const char *skip_bracket(const char *p)
{
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (*p == '[' && p[1] && strchr(":=.", p[1])) {
			const char *end = strchr(p + 2, p[1]);
			while (end && end[1] != ']')
				end = strchr(end + 1, p[1]);
			if (end) {
				p = end + 2;
				continue;
			}
		}
		p++;
	}
	return *p ? p + 1 : p;
}

/* A bound {m}, {,n}, {m,} or {m,n} at *pp: the copies regcomp makes of its atom, or 0. */
static unsigned long bound_copies(const char **pp)
{
	const char *p = *pp + 1;
	char *end = (char *)p;
	unsigned long m = 0, n;
	if (*p >= '0' && *p <= '9')
		m = strtoul(p, &end, 10);
	else if (*p != ',')
		return 0;
	n = m;
	if (*end == ',') {
		end++;
		n = *end >= '0' && *end <= '9' ? strtoul(end, &end, 10) : m + 1;
	}
	if (*end != '}')
		return 0;
	*pp = end + 1;
	return (n > m ? n : m) + 1;
}

/*
 * glibc's regcomp copies an atom once for each count of a bound, so nested
 * bounds multiply: "((a{1,100}){1,100}){1,100}" takes over 1 GiB. Estimates
 * the atoms a pattern expands to (an upper bound, saturating), and finds
 * back-references, which are not ERE and can make matching exponential.
 */
static int check_regex(const char *p, char *err, size_t errlen)
{
	unsigned long size[TRANSPORT_RULES_REGEX_DEPTH + 1] = {0}, last = 0, cap = 1UL << 40;
	int depth = 0;
	while (*p) {
		unsigned long copies;
		if (*p == '\\' && p[1] >= '1' && p[1] <= '9')
			return fail(err, errlen, "back-references are not supported in a regex");
		if (*p == '(') {
			if (depth == TRANSPORT_RULES_REGEX_DEPTH)
				return fail(err, errlen, "regex nests groups over %d deep",
					    TRANSPORT_RULES_REGEX_DEPTH);
			size[++depth] = 0;
			last = 0;
			p++;
			continue;
		}
		if (*p == ')' && depth > 0) {
			last = size[depth--];
			size[depth] += last;
			p++;
			continue;
		}
		if (*p == '{' && (copies = bound_copies(&p)) != 0) {
			last = last > cap / copies ? cap : last * copies;
			size[depth] = size[depth] > cap - last ? cap : size[depth] + last;
			continue;
		}
		if (*p == '[')
			p = skip_bracket(p + 1);
		else
			p += *p == '\\' && p[1] ? 2 : 1;
		last = 1;
		size[depth]++;
	}
	while (depth > 0) {
		depth--;
		size[depth] += size[depth + 1];
	}
	if (size[0] > TRANSPORT_RULES_REGEX_ATOMS)
		return fail(err, errlen,
			    "regex is too large once its bounds are expanded (over %d)",
			    TRANSPORT_RULES_REGEX_ATOMS);
	return 0;
}

static bool is_enhanced(const char *s, int code)
{
	if (s[0] != '0' + code / 100 || s[1] != '.')
		return false;
	s += 2;
	for (int part = 0; part < 2; part++) {
		size_t n = strspn(s, "0123456789");
		if (n < 1 || n > 3)
			return false;
		s += n;
		if (part == 0 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

/* ---- building ---- */

struct transport_rules *transport_rules_new(void)
{
	return calloc(1, sizeof(struct transport_rules));
}

static void action_free(struct rules_action *a)
{
	switch (a->kind) {
	case RULES_ACT_REJECT:
		free((char *)a->reject.enhanced);
		free((char *)a->reject.text);
		break;
	case RULES_ACT_ADD_HEADER:
		free((char *)a->add_header.name);
		free((char *)a->add_header.value);
		break;
	case RULES_ACT_REMOVE_HEADER:
		free((char *)a->remove_header.name);
		break;
	case RULES_ACT_PREPEND_SUBJECT:
		free((char *)a->prepend_subject.text);
		break;
	case RULES_ACT_REDIRECT:
		free((char *)a->redirect.to);
		break;
	case RULES_ACT_BCC:
		free((char *)a->bcc.to);
		break;
	case RULES_ACT_QUARANTINE:
		free((char *)a->quarantine.reason);
		break;
	case RULES_ACT_LOG:
		free((char *)a->log.text);
		break;
	}
}

static void cond_free(struct rules_cond *c)
{
	if (c->compiled)
		regfree(&c->re);
	free(c->header);
	free(c->pattern);
}

void transport_rules_free(struct transport_rules *rules)
{
	if (!rules)
		return;
	for (size_t i = 0; i < rules->nrules; i++) {
		struct transport_rule *r = rules->rule[i];
		for (size_t c = 0; c < r->nconds; c++)
			cond_free(&r->conds[c]);
		for (size_t a = 0; a < r->nacts; a++)
			action_free(&r->acts[a]);
		free(r->name);
		free(r);
	}
	free(rules);
}

struct transport_rule *transport_rules_add(struct transport_rules *rules, const char *name,
					   bool stop, char *err, size_t errlen)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > TRANSPORT_RULES_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
		    n) {
		fail(err, errlen, "a rule name is 1 to %d letters, digits, '.', '_' or '-'",
		     TRANSPORT_RULES_NAME_MAX);
		return NULL;
	}
	for (size_t i = 0; i < rules->nrules; i++) {
		if (strcmp(rules->rule[i]->name, name) == 0) {
			fail(err, errlen, "rule name \"%s\" is used twice", name);
			return NULL;
		}
	}
	if (rules->nrules == TRANSPORT_RULES_MAX_RULES) {
		fail(err, errlen, "at most %d rules", TRANSPORT_RULES_MAX_RULES);
		return NULL;
	}
	struct transport_rule *r = calloc(1, sizeof(*r));
	if (!r || !(r->name = strdup(name))) {
		free(r);
		fail(err, errlen, "out of memory");
		return NULL;
	}
	r->stop = stop;
	rules->rule[rules->nrules++] = r;
	return r;
}

static int check_pattern(const struct rules_condition_spec *s, char *err, size_t errlen)
{
	if (s->field == RULES_SIZE_OVER)
		return 0;
	if (s->field == RULES_HEADER && (!s->header || !is_field_name(s->header)))
		return fail(err, errlen, "header name \"%s\" is not a valid field name",
			    s->header ? s->header : "");
	if (s->field == RULES_VERDICT) {
		for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
			if (s->pattern && strcmp(s->pattern, verdicts[i]) == 0)
				return 0;
		return fail(err, errlen,
			    "verdict \"%s\" is not one of clean, infected, limits, unscanned",
			    s->pattern ? s->pattern : "");
	}
	if (s->match == RULES_MATCH_PRESENT)
		return s->field == RULES_HEADER
			       ? 0
			       : fail(err, errlen, "only a header condition may omit the pattern");
	if (s->match != RULES_MATCH_CONTAINS && s->match != RULES_MATCH_REGEX &&
	    s->match != RULES_MATCH_GLOB)
		return fail(err, errlen, "unknown match kind");
	if (!s->pattern || !*s->pattern)
		return fail(err, errlen, "the pattern must not be empty");
	if (strlen(s->pattern) > TRANSPORT_RULES_PATTERN_MAX)
		return fail(err, errlen, "the pattern is longer than %d octets",
			    TRANSPORT_RULES_PATTERN_MAX);
	if (has_control(s->pattern))
		return fail(err, errlen, "the pattern must not contain control characters");
	return s->match == RULES_MATCH_REGEX ? check_regex(s->pattern, err, errlen) : 0;
}

int transport_rule_add_condition(struct transport_rule *rule,
				 const struct rules_condition_spec *spec, char *err, size_t errlen)
{
	if (rule->nconds == TRANSPORT_RULES_MAX_CONDITIONS)
		return fail(err, errlen, "at most %d conditions in a rule",
			    TRANSPORT_RULES_MAX_CONDITIONS);
	if ((unsigned)spec->field > RULES_VERDICT)
		return fail(err, errlen, "unknown condition");
	if (check_pattern(spec, err, errlen) != 0)
		return -1;
	struct rules_cond *c = &rule->conds[rule->nconds];
	memset(c, 0, sizeof(*c));
	c->field = spec->field;
	c->negate = spec->negate;
	c->size = spec->size;
	c->match = spec->match;
	if (spec->field == RULES_SIZE_OVER || spec->field == RULES_VERDICT)
		c->match = RULES_MATCH_CONTAINS; /* not used */
	bool text = spec->field != RULES_SIZE_OVER && c->match != RULES_MATCH_PRESENT;
	if ((spec->field == RULES_HEADER && !(c->header = strdup(spec->header))) ||
	    (text && !(c->pattern = strdup(spec->pattern)))) {
		cond_free(c);
		return fail(err, errlen, "out of memory");
	}
	if (spec->field != RULES_VERDICT && c->match == RULES_MATCH_REGEX) {
		int rc = regcomp(&c->re, c->pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (rc != 0) {
			char why[256];
			regerror(rc, &c->re, why, sizeof(why));
			fail(err, errlen, "bad regex \"%s\": %s", c->pattern, why);
			cond_free(c);
			return -1;
		}
		c->compiled = true;
	}
	rule->nconds++;
	return 0;
}

static int copy_text(const char *what, const char *src, const char **dst, char *err, size_t errlen)
{
	if (check_text(what, src, err, errlen) != 0)
		return -1;
	if (!(*dst = strdup(src)))
		return fail(err, errlen, "out of memory");
	return 0;
}

static int copy_field(const char *src, const char **dst, char *err, size_t errlen)
{
	if (!src || !is_field_name(src))
		return fail(err, errlen, "header name \"%s\" is not a valid field name",
			    src ? src : "");
	/* The scan attestation and its kin are airlock's own; rules do not forge or drop them. */
	if (strncasecmp(src, "X-Airlock-", 10) == 0)
		return fail(err, errlen, "header %s is reserved for airlock", src);
	if (!(*dst = strdup(src)))
		return fail(err, errlen, "out of memory");
	return 0;
}

static int copy_address(const char *src, const char **dst, char *err, size_t errlen)
{
	if (!src || !is_address(src))
		return fail(err, errlen, "address \"%s\" is not a plain local@domain",
			    src ? src : "");
	if (!(*dst = strdup(src)))
		return fail(err, errlen, "out of memory");
	return 0;
}

static int copy_reject(const struct rules_action *in, struct rules_action *a, char *err,
		       size_t errlen)
{
	int code = in->reject.code;
	if (code < 400 || code > 599)
		return fail(err, errlen, "reject code %d is not 4xx or 5xx", code);
	a->reject.code = code;
	char dflt[8];
	snprintf(dflt, sizeof(dflt), "%d.7.1", code / 100);
	const char *enh = in->reject.enhanced ? in->reject.enhanced : dflt;
	if (!is_enhanced(enh, code))
		return fail(err, errlen, "enhanced code \"%s\" does not match %d (want %d.N.N)",
			    enh, code, code / 100);
	if (!(a->reject.enhanced = strdup(enh)))
		return fail(err, errlen, "out of memory");
	return copy_text("reject text", in->reject.text, &a->reject.text, err, errlen);
}

static int copy_action(const struct rules_action *in, struct rules_action *a, char *err,
		       size_t errlen)
{
	switch (in->kind) {
	case RULES_ACT_REJECT:
		return copy_reject(in, a, err, errlen);
	case RULES_ACT_ADD_HEADER:
		if (copy_field(in->add_header.name, &a->add_header.name, err, errlen) != 0)
			return -1;
		return copy_text("header value", in->add_header.value, &a->add_header.value, err,
				 errlen);
	case RULES_ACT_REMOVE_HEADER:
		return copy_field(in->remove_header.name, &a->remove_header.name, err, errlen);
	case RULES_ACT_PREPEND_SUBJECT:
		return copy_text("subject prefix", in->prepend_subject.text,
				 &a->prepend_subject.text, err, errlen);
	case RULES_ACT_REDIRECT:
		return copy_address(in->redirect.to, &a->redirect.to, err, errlen);
	case RULES_ACT_BCC:
		return copy_address(in->bcc.to, &a->bcc.to, err, errlen);
	case RULES_ACT_QUARANTINE:
		return copy_text("quarantine reason", in->quarantine.reason, &a->quarantine.reason,
				 err, errlen);
	case RULES_ACT_LOG:
		return copy_text("log text", in->log.text, &a->log.text, err, errlen);
	}
	return fail(err, errlen, "unknown action");
}

int transport_rule_add_action(struct transport_rule *rule, const struct rules_action *act,
			      char *err, size_t errlen)
{
	if (rule->nacts == TRANSPORT_RULES_MAX_ACTIONS)
		return fail(err, errlen, "at most %d actions in a rule",
			    TRANSPORT_RULES_MAX_ACTIONS);
	struct rules_action *a = &rule->acts[rule->nacts];
	memset(a, 0, sizeof(*a));
	a->kind = act->kind;
	if (copy_action(act, a, err, errlen) != 0) {
		action_free(a);
		return -1;
	}
	a->rule = rule->name;
	if (a->kind == RULES_ACT_REJECT)
		rule->final = true;
	rule->nacts++;
	return 0;
}

size_t transport_rules_count(const struct transport_rules *rules)
{
	return rules->nrules;
}

size_t transport_rules_max_actions(const struct transport_rules *rules)
{
	size_t n = 0;
	for (size_t i = 0; i < rules->nrules; i++)
		n += rules->rule[i]->nacts;
	return n;
}

const char *transport_rules_action_name(enum rules_action_kind kind)
{
	static const char *const names[] = {
		[RULES_ACT_REJECT] = "reject",
		[RULES_ACT_ADD_HEADER] = "add_header",
		[RULES_ACT_REMOVE_HEADER] = "remove_header",
		[RULES_ACT_PREPEND_SUBJECT] = "prepend_subject",
		[RULES_ACT_REDIRECT] = "redirect",
		[RULES_ACT_BCC] = "bcc",
		[RULES_ACT_QUARANTINE] = "quarantine",
		[RULES_ACT_LOG] = "log",
	};
	if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
		fatal("unknown transport rule action %d", (int)kind);
	return names[kind];
}

/* ---- evaluation ---- */

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static bool text_matches(const struct rules_cond *c, const char *s)
{
	s = str_or_empty(s);
	switch (c->match) {
	case RULES_MATCH_CONTAINS:
		return strcasestr(s, c->pattern) != NULL;
	case RULES_MATCH_REGEX:
		return regexec(&c->re, s, 0, NULL, 0) == 0;
	case RULES_MATCH_GLOB:
		return fnmatch(c->pattern, s, FNM_CASEFOLD) == 0;
	case RULES_MATCH_PRESENT:
		return true;
	}
	fatal("transport rule condition with match kind %d", (int)c->match);
}

static bool any_matches(const struct rules_cond *c, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (text_matches(c, list[i]))
			return true;
	return false;
}

static bool header_matches(const struct rules_cond *c, const struct rules_msg *m, const char *name,
			   bool first_only)
{
	for (size_t i = 0; i < m->nheaders; i++) {
		if (strcasecmp(str_or_empty(m->headers[i].name), name) != 0)
			continue;
		if (text_matches(c, m->headers[i].value))
			return true;
		if (first_only)
			return false;
	}
	/* The subject of a message without one is "". */
	return first_only && text_matches(c, "");
}

static bool cond_holds(const struct rules_cond *c, const struct rules_msg *m)
{
	bool r = false;
	switch (c->field) {
	case RULES_SENDER:
		r = text_matches(c, m->from);
		break;
	case RULES_RECIPIENT:
		r = any_matches(c, m->rcpts, m->nrcpts);
		break;
	case RULES_SUBJECT:
		r = header_matches(c, m, "Subject", true);
		break;
	case RULES_HEADER:
		r = header_matches(c, m, c->header, false);
		break;
	case RULES_ATTACHMENT:
		r = any_matches(c, m->attachment_names, m->nattach);
		break;
	case RULES_SIZE_OVER:
		r = m->size > c->size;
		break;
	case RULES_VERDICT:
		r = strcmp(m->verdict ? m->verdict : "unscanned", c->pattern) == 0;
		break;
	}
	return r != c->negate;
}

size_t transport_rules_eval(const struct transport_rules *rules, const struct rules_msg *msg,
			    const struct rules_action **out, size_t outlen)
{
	size_t n = 0;
	for (size_t i = 0; i < rules->nrules; i++) {
		const struct transport_rule *r = rules->rule[i];
		bool match = true;
		for (size_t c = 0; c < r->nconds && match; c++)
			match = cond_holds(&r->conds[c], msg);
		if (!match)
			continue;
		for (size_t a = 0; a < r->nacts; a++, n++)
			if (n < outlen)
				out[n] = &r->acts[a];
		if (r->stop || r->final)
			break;
	}
	return n;
}
