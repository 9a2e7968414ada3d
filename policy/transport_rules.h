/*
 * Transport rules: an ordered list of rules, each a set of conditions on a
 * message and the actions to take when all of them hold.
 *
 * The engine is pure. It evaluates plain data that the caller extracted from
 * the envelope, the headers, the MIME walk and the scan verdict, and returns
 * the actions in order; the caller applies them to the message and the
 * envelope. Every rule sees the message as it arrived: an action of an
 * earlier rule (prepend_subject, add_header, ...) does not change what a
 * later rule matches.
 *
 * Evaluation walks the rules in order. A rule matches when every one of its
 * conditions holds (AND; a rule without conditions matches every message).
 * The actions of a matching rule are appended to the result in the order
 * they were written. Evaluation ends after a matching rule that has
 * stop = true, or that holds a reject action (a reject is final; the
 * actions beside it in the same rule, such as log, are still returned).
 *
 * Conditions (each may be negated; a negated condition holds when the plain
 * one does not):
 *   sender      the envelope sender ("" for the null sender <>)
 *   recipient   any envelope recipient (negated: none of them)
 *   subject     the first Subject: header ("" when there is none)
 *   header      any header of the given name; without a pattern: present
 *   attachment  any attachment name (negated: none of them)
 *   size_over   the message size in octets is greater than the number
 *   verdict     the scan verdict equals "clean", "infected", "limits" or
 *               "unscanned"
 * Text is matched case-insensitively (ASCII) as a substring (contains), a
 * POSIX extended regular expression (regex, compiled once when the rule is
 * built, REG_EXTENDED | REG_ICASE | REG_NOSUB; unanchored unless written
 * with ^ and $), or a shell glob over the whole value (glob, fnmatch(3) with
 * FNM_CASEFOLD).
 *
 * Everything a rule holds is checked when it is built, so the actions the
 * engine returns are safe to apply as they are: header names are RFC 5322
 * field names (and never X-Airlock-*, which airlock itself stamps and
 * strips), no text contains CR, LF or another control character (a
 * header or a reply line cannot be injected), reject codes are 4xx or 5xx
 * with an enhanced code of the same class, addresses are local@domain.
 */
#ifndef AIRLOCK_TRANSPORT_RULES_H
#define AIRLOCK_TRANSPORT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRANSPORT_RULES_MAX_RULES      256
#define TRANSPORT_RULES_MAX_CONDITIONS 16    /* per rule */
#define TRANSPORT_RULES_MAX_ACTIONS    16    /* per rule */
#define TRANSPORT_RULES_NAME_MAX       64    /* octets in a rule name */
#define TRANSPORT_RULES_PATTERN_MAX    1024  /* octets in a pattern */
#define TRANSPORT_RULES_TEXT_MAX       900   /* octets in any action text */
#define TRANSPORT_RULES_FIELD_MAX      76    /* octets in a header field name */
#define TRANSPORT_RULES_ADDR_MAX       254   /* octets in a redirect/bcc address */
#define TRANSPORT_RULES_REGEX_ATOMS    10000 /* a regex's size with its bounds expanded */
#define TRANSPORT_RULES_REGEX_DEPTH    32    /* nested groups in a regex */

/* One header of the message: its field name and its unfolded value. */
struct rules_header {
	const char *name;
	const char *value;
};

/*
 * The message as the engine sees it. Nothing here is kept or changed by the
 * engine. Every string is NUL-terminated; arrays may be NULL when their
 * count is 0. The caller caps what it extracts (header count and length,
 * attachment count) where the message enters.
 */
struct rules_msg {
	const char *from; /* envelope sender, "" for <> */
	const char *const *rcpts;
	size_t nrcpts;
	const struct rules_header *headers; /* in message order */
	size_t nheaders;
	uint64_t size; /* octets */
	const char *const *attachment_names;
	size_t nattach;
	const char *verdict; /* "clean", "infected", "limits", "unscanned"; NULL: "unscanned" */
};

enum rules_field {
	RULES_SENDER,
	RULES_RECIPIENT,
	RULES_SUBJECT,
	RULES_HEADER,
	RULES_ATTACHMENT,
	RULES_SIZE_OVER,
	RULES_VERDICT,
};

enum rules_match {
	RULES_MATCH_CONTAINS,
	RULES_MATCH_REGEX,
	RULES_MATCH_GLOB,
	RULES_MATCH_PRESENT, /* header only: a header of that name exists */
};

/* What a condition is built from; see transport_rule_add_condition(). */
struct rules_condition_spec {
	enum rules_field field;
	bool negate;
	const char *header;	/* RULES_HEADER: the field name */
	enum rules_match match; /* text fields */
	const char
		*pattern; /* text fields except RULES_MATCH_PRESENT; RULES_VERDICT: the verdict */
	uint64_t size;	  /* RULES_SIZE_OVER: octets */
};

enum rules_action_kind {
	RULES_ACT_REJECT,	   /* answer the end of data with code, enhanced code and text */
	RULES_ACT_ADD_HEADER,	   /* add "name: value" at the top of the header */
	RULES_ACT_REMOVE_HEADER,   /* remove every header of that name */
	RULES_ACT_PREPEND_SUBJECT, /* put text before the subject (add Subject: if none) */
	RULES_ACT_REDIRECT,	   /* deliver to this address instead of the recipients */
	RULES_ACT_BCC,		   /* deliver a copy to this address too */
	RULES_ACT_QUARANTINE,	   /* hold the message in quarantine with this reason */
	RULES_ACT_LOG,		   /* write this text in the message's log line */
};

/*
 * One action. Its strings are NUL-terminated; in an action returned by
 * transport_rules_eval() they are internal data of the rules and live as
 * long as they do.
 */
struct rules_action {
	enum rules_action_kind kind;
	const char *rule; /* name of the rule it belongs to; set by the engine */
	union {
		struct {
			int code;	      /* 400..599 */
			const char *enhanced; /* "5.7.1": class digit equal to code / 100 */
			const char *text;     /* printable ASCII */
		} reject;
		struct {
			const char *name;
			const char *value;
		} add_header;
		struct {
			const char *name;
		} remove_header;
		struct {
			const char *text;
		} prepend_subject;
		struct {
			const char *to;
		} redirect, bcc;
		struct {
			const char *reason;
		} quarantine;
		struct {
			const char *text;
		} log;
	};
};

struct transport_rules;
struct transport_rule;

/* A new, empty rule list (matches nothing, returns no action). NULL when out of memory. */
struct transport_rules *transport_rules_new(void);

/* Frees the rules, their compiled patterns and their strings. NULL is allowed. */
void transport_rules_free(struct transport_rules *rules);

/*
 * Appends a rule named name (1..TRANSPORT_RULES_NAME_MAX octets of letters,
 * digits, '.', '_' and '-'; unique in the list) and returns it, internal
 * data of rules, to add conditions and actions to. stop: evaluation ends
 * after this rule when it matches. Returns NULL with a message (no
 * newline, no file or line) in err (errlen octets, always terminated when
 * errlen > 0) on a bad or duplicate name, when the list already holds
 * TRANSPORT_RULES_MAX_RULES rules, or when out of memory.
 */
struct transport_rule *transport_rules_add(struct transport_rules *rules, const char *name,
					   bool stop, char *err, size_t errlen);

/*
 * Adds a condition to rule. Everything spec points to is copied; a regex is
 * compiled here. Returns 0, or -1 with a message in err: too many
 * conditions, an empty or overlong pattern, a pattern with a control
 * character, a bad header name, an unknown verdict, a match kind the field
 * does not take, a regex with a back-reference, nested over
 * TRANSPORT_RULES_REGEX_DEPTH groups deep or larger than
 * TRANSPORT_RULES_REGEX_ATOMS once its bounds are expanded (glibc's
 * regcomp copies the atom for each count, so nested bounds multiply), or a
 * regex regcomp() refuses (the message then holds regerror()'s text).
 */
int transport_rule_add_condition(struct transport_rule *rule,
				 const struct rules_condition_spec *spec, char *err, size_t errlen);

/*
 * Adds an action to rule. The strings of act are copied; act->rule is
 * ignored. A reject's enhanced code may be NULL: it then is "4.7.1" or
 * "5.7.1" by the code's class. Returns 0, or -1 with a message in err: too
 * many actions, a code outside 400..599, an enhanced code not of the form
 * C.N.N with C the code's class, a bad header name or one starting with
 * X-Airlock- (reserved for airlock's own headers), an empty or overlong
 * text, a text with CR, LF or another control character, a reject text
 * that is not printable ASCII, an address that is not local@domain.
 */
int transport_rule_add_action(struct transport_rule *rule, const struct rules_action *act,
			      char *err, size_t errlen);

/* Number of rules. */
size_t transport_rules_count(const struct transport_rules *rules);

/* Number of actions of all rules: an out array this long never truncates. */
size_t transport_rules_max_actions(const struct transport_rules *rules);

/*
 * Evaluates the rules on msg and stores pointers to the actions to apply,
 * in order, in out (internal data of rules), at most outlen of them.
 * Returns how many actions the evaluation produced; a value above outlen
 * means out was too short and holds only the first outlen.
 */
size_t transport_rules_eval(const struct transport_rules *rules, const struct rules_msg *msg,
			    const struct rules_action **out, size_t outlen);

/* "reject", "add_header", ...: the action's name in the configuration. */
const char *transport_rules_action_name(enum rules_action_kind kind);

#endif
