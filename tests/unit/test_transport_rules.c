/*
 * Unit tests: transport rules (policy/transport_rules.c) built from libconfig
 * text (policy/transport_rules_config.c). Verdicts are checked as the exact
 * list of actions a caller would apply, errors as the exact line a user
 * would see.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "policy/transport_rules.h"
#include "policy/transport_rules_config.h"

static char err[1024];

/* Builds rules from a whole configuration text; NULL with err set on failure. */
static struct transport_rules *load(const char *text)
{
	config_t cfg;
	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		snprintf(err, sizeof(err), "libconfig:%d: %s", config_error_line(&cfg),
			 config_error_text(&cfg));
		config_destroy(&cfg);
		return NULL;
	}
	config_setting_t *list = config_lookup(&cfg, "policy.rules");
	assert_non_null(list);
	memset(err, 'x', sizeof(err));
	struct transport_rules *r =
		transport_rules_from_setting(list, "airlock.conf", err, sizeof(err));
	if (r)
		assert_int_equal(err[0], '\0');
	config_destroy(&cfg); /* the rules must not point into it */
	return r;
}

/* Rules from the text between "rules = (" (line 2) and ");"; body starts on line 3. */
static struct transport_rules *load_rules(const char *body)
{
	char text[64 * 1024];
	int n = snprintf(text, sizeof(text), "policy = {\nrules = (\n%s\n);\n};\n", body);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	return load(text);
}

static const char *load_fails(const char *body)
{
	struct transport_rules *r = load_rules(body);
	assert_null(r);
	return err;
}

/* The actions of an evaluation as one line: "rule:action args|...". */
static const char *render(const struct transport_rules *rules, const struct rules_msg *m)
{
	static char buf[16384];
	const struct rules_action *acts[64];
	size_t n = transport_rules_eval(rules, m, acts, 64);
	assert_true(n <= 64);
	assert_true(n <= transport_rules_max_actions(rules));
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct rules_action *a = acts[i];
		char arg[2048];
		switch (a->kind) {
		case RULES_ACT_REJECT:
			snprintf(arg, sizeof(arg), "%d %s %s", a->reject.code, a->reject.enhanced,
				 a->reject.text);
			break;
		case RULES_ACT_ADD_HEADER:
			snprintf(arg, sizeof(arg), "%s=%s", a->add_header.name,
				 a->add_header.value);
			break;
		case RULES_ACT_REMOVE_HEADER:
			snprintf(arg, sizeof(arg), "%s", a->remove_header.name);
			break;
		case RULES_ACT_PREPEND_SUBJECT:
			snprintf(arg, sizeof(arg), "'%s'", a->prepend_subject.text);
			break;
		case RULES_ACT_REDIRECT:
			snprintf(arg, sizeof(arg), "%s", a->redirect.to);
			break;
		case RULES_ACT_BCC:
			snprintf(arg, sizeof(arg), "%s", a->bcc.to);
			break;
		case RULES_ACT_QUARANTINE:
			snprintf(arg, sizeof(arg), "%s", a->quarantine.reason);
			break;
		case RULES_ACT_LOG:
			snprintf(arg, sizeof(arg), "%s", a->log.text);
			break;
		}
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s:%s %s", i ? "|" : "",
					 a->rule, transport_rules_action_name(a->kind), arg);
		assert_true(used < sizeof(buf));
	}
	return buf;
}

/* ---- the message most tests evaluate ---- */

static const char *const base_rcpts[] = {"bob@example.com", "carol@example.com"};
static const struct rules_header base_headers[] = {
	{"Received", "from mx.example.org by edge; first"},
	{"Received", "from client by mx.example.org; second"},
	{"From", "Alice <alice@example.org>"},
	{"To", "bob@example.com"},
	{"Subject", "Invoice 12345 attached"},
	{"X-Mailer", "BulkMailer 2.0"},
	{"X-Spam", ""},
};
static const char *const base_attach[] = {"invoice.pdf.exe", "readme.txt"};

static struct rules_msg base_msg(void)
{
	struct rules_msg m = {
		.from = "alice@example.org",
		.rcpts = base_rcpts,
		.nrcpts = 2,
		.headers = base_headers,
		.nheaders = sizeof(base_headers) / sizeof(base_headers[0]),
		.size = 20000,
		.attachment_names = base_attach,
		.nattach = 2,
		.verdict = "clean",
	};
	return m;
}

/* ---- conditions, one table ---- */

struct cond_case {
	const char *cond; /* the body of if = ( ... ) */
	bool match;
};

static const struct cond_case cond_cases[] = {
	/* sender: substring ignores case, glob spans the whole value, regex does not */
	{"{ sender = { contains = \"@example.org\"; }; }", true},
	{"{ sender = { contains = \"@EXAMPLE.ORG\"; }; }", true},
	{"{ sender = { contains = \"@example.com\"; }; }", false},
	{"{ sender = { regex = \"^alice@\"; }; }", true},
	{"{ sender = { regex = \"lice@ex\"; }; }", true},
	{"{ sender = { regex = \"^bob\"; }; }", false},
	{"{ sender = { glob = \"*@example.org\"; }; }", true},
	{"{ sender = { glob = \"alice\"; }; }", false},
	{"{ sender = { contains = \"@example.org\"; }; not = true; }", false},
	{"{ sender = { contains = \"@example.com\"; }; not = true; }", true},
	{"{ sender = { contains = \"@example.com\"; }; not = false; }", false},
	/* recipient: any of them; negated, none of them */
	{"{ recipient = { contains = \"carol\"; }; }", true},
	{"{ recipient = { glob = \"dave@*\"; }; }", false},
	{"{ recipient = { regex = \"^(bob|dave)@example\\\\.com$\"; }; }", true},
	{"{ recipient = { contains = \"carol\"; }; not = true; }", false},
	{"{ recipient = { contains = \"dave\"; }; not = true; }", true},
	/* subject */
	{"{ subject = { contains = \"invoice\"; }; }", true},
	{"{ subject = { regex = \"invoice [0-9]+\"; }; }", true},
	{"{ subject = { regex = \"^invoice [0-9]+$\"; }; }", false},
	{"{ subject = { regex = \"^invoice [[:digit:]]{5} ATTACHED$\"; }; }", true},
	{"{ subject = { contains = \"invoice 1234 \"; }; }", false},
	{"{ subject = { glob = \"invoice*\"; }; }", true},
	{"{ subject = { regex = \"^(in(vo){1,2}ice ){1,3}[0-9]{5,}\"; }; }", true},
	{"{ subject = { regex = \"[]{}[:alpha:]]{7} [0-9]{6}\"; }; }", false},
	/* any header, by name in any case; without a pattern: present */
	{"{ header = { name = \"X-Mailer\"; contains = \"bulk\"; }; }", true},
	{"{ header = { name = \"x-mailer\"; regex = \"^bulkmailer [0-9.]+$\"; }; }", true},
	{"{ header = { name = \"X-Mailer\"; contains = \"Outlook\"; }; }", false},
	{"{ header = { name = \"Received\"; contains = \"second\"; }; }", true},
	{"{ header = { name = \"X-Spam\"; }; }", true},
	{"{ header = { name = \"X-Absent\"; }; }", false},
	{"{ header = { name = \"X-Absent\"; }; not = true; }", true},
	{"{ header = { name = \"X-Spam\"; regex = \"^$\"; }; }", true},
	{"{ header = { name = \"To\"; contains = \"alice\"; }; }", false},
	/* attachment names: any of them */
	{"{ attachment = { glob = \"*.exe\"; }; }", true},
	{"{ attachment = { glob = \"*.ZIP\"; }; }", false},
	{"{ attachment = { regex = \"\\\\.pdf\\\\.exe$\"; }; }", true},
	{"{ attachment = { contains = \"README\"; }; }", true},
	{"{ attachment = { glob = \"*.zip\"; }; not = true; }", true},
	{"{ attachment = { glob = \"*.txt\"; }; not = true; }", false},
	/* size over, strictly greater; 64-bit */
	{"{ size_over = 19999; }", true},
	{"{ size_over = 20000; }", false},
	{"{ size_over = 0; }", true},
	{"{ size_over = 5000000000L; }", false},
	{"{ size_over = 20000; not = true; }", true},
	/* verdict */
	{"{ verdict = \"clean\"; }", true},
	{"{ verdict = \"infected\"; }", false},
	{"{ verdict = \"clean\"; not = true; }", false},
	/* AND within a rule; no condition matches all */
	{"{ subject = { contains = \"invoice\"; }; }, { attachment = { glob = \"*.exe\"; }; }",
	 true},
	{"{ subject = { contains = \"invoice\"; }; }, { attachment = { glob = \"*.exe\"; }; },"
	 " { verdict = \"infected\"; }",
	 false},
	{"{ header = { name = \"Received\"; }; }, { header = { name = \"X-Mailer\"; }; }", true},
	{"", true},
};

static void test_conditions(void **state)
{
	(void)state;
	struct rules_msg m = base_msg();
	for (size_t i = 0; i < sizeof(cond_cases) / sizeof(cond_cases[0]); i++) {
		char body[1024];
		snprintf(body, sizeof(body),
			 "{ name = \"r\"; if = ( %s ); then = ( { log = \"hit\"; } ); }",
			 cond_cases[i].cond);
		struct transport_rules *r = load_rules(body);
		if (!r)
			fail_msg("case %zu: %s", i, err);
		const char *got = render(r, &m);
		if (strcmp(got, cond_cases[i].match ? "r:log hit" : "") != 0)
			fail_msg("case %zu (%s): got \"%s\"", i, cond_cases[i].cond, got);
		transport_rules_free(r);
	}
}

/* A message without a subject, recipients, attachments or verdict. */
static void test_empty_message(void **state)
{
	(void)state;
	struct transport_rules *r = load_rules(
		"{ name = \"empty-subject\"; if = ( { subject = { regex = \"^$\"; }; } );"
		"  then = ( { log = \"a\"; } ); },"
		"{ name = \"subject-x\"; if = ( { subject = { contains = \"x\"; }; } );"
		"  then = ( { log = \"b\"; } ); },"
		"{ name = \"no-rcpt\"; if = ( { recipient = { glob = \"*\"; }; not = true; } );"
		"  then = ( { log = \"c\"; } ); },"
		"{ name = \"attach\"; if = ( { attachment = { glob = \"*\"; }; } );"
		"  then = ( { log = \"d\"; } ); },"
		"{ name = \"unscanned\"; if = ( { verdict = \"unscanned\"; } );"
		"  then = ( { log = \"e\"; } ); },"
		"{ name = \"null-sender\"; if = ( { sender = { regex = \"^$\"; }; } );"
		"  then = ( { log = \"f\"; } ); }");
	assert_non_null(r);
	struct rules_msg m = {.from = ""};
	assert_string_equal(render(r, &m), "empty-subject:log a|no-rcpt:log c|unscanned:log "
					   "e|null-sender:log f");
	transport_rules_free(r);
}

/* Only the first Subject: counts as the subject; header conditions see all. */
static void test_first_subject_only(void **state)
{
	(void)state;
	static const struct rules_header h[] = {{"subject", "hello"}, {"Subject", "spam"}};
	struct rules_msg m = {.from = "a@example.org", .headers = h, .nheaders = 2};
	struct transport_rules *r =
		load_rules("{ name = \"s\"; if = ( { subject = { contains = \"spam\"; }; } );"
			   "  then = ( { log = \"subject\"; } ); },"
			   "{ name = \"h\"; if = ( { header = { name = \"SUBJECT\"; contains = "
			   "\"spam\"; }; } );"
			   "  then = ( { log = \"header\"; } ); }");
	assert_non_null(r);
	assert_string_equal(render(r, &m), "h:log header");
	transport_rules_free(r);
}

/* Order is kept across and within rules; stop and reject end the evaluation. */
static void test_order_and_stop(void **state)
{
	(void)state;
	struct rules_msg m = base_msg();
	struct transport_rules *r = load_rules(
		"{ name = \"one\"; then = ( { log = \"1a\"; }, { add_header = { name = \"X-One\";"
		"  value = \"1\"; }; }, { log = \"1b\"; } ); },"
		"{ name = \"miss\"; if = ( { verdict = \"infected\"; } ); stop = true;"
		"  then = ( { log = \"never\"; } ); },"
		"{ name = \"two\"; if = ( { sender = { contains = \"alice\"; }; } );"
		"  then = ( { prepend_subject = \"[EXT] \"; } ); stop = true; },"
		"{ name = \"three\"; then = ( { log = \"after stop\"; } ); }");
	assert_non_null(r);
	assert_int_equal(transport_rules_count(r), 4);
	assert_int_equal(transport_rules_max_actions(r), 6);
	assert_string_equal(render(r, &m), "one:log 1a|one:add_header X-One=1|one:log 1b|"
					   "two:prepend_subject '[EXT] '");
	/* The stop rule does not match: evaluation goes on. */
	m.from = "mallory@example.net";
	assert_string_equal(render(r, &m), "one:log 1a|one:add_header X-One=1|one:log 1b|"
					   "three:log after stop");
	/* An output array too short: the count says how many there were. */
	const struct rules_action *two[2];
	assert_int_equal(transport_rules_eval(r, &m, two, 2), 4);
	assert_string_equal(two[1]->add_header.name, "X-One");
	assert_int_equal(transport_rules_eval(r, &m, NULL, 0), 4);
	transport_rules_free(r);

	/* A reject ends evaluation after its rule; actions beside it remain. */
	r = load_rules("{ name = \"rej\"; then = ( { reject = { code = 550; }; },"
		       "  { log = \"rejected\"; } ); },"
		       "{ name = \"later\"; then = ( { bcc = \"audit@example.com\"; } ); }");
	assert_non_null(r);
	assert_string_equal(render(r, &m), "rej:reject 550 5.7.1 Message rejected by policy|"
					   "rej:log rejected");
	transport_rules_free(r);

	/* stop = true without actions: a pass rule that shields later ones. */
	r = load_rules("{ name = \"pass\"; if = ( { sender = { glob = \"*@example.net\"; }; } );"
		       "  stop = true; },"
		       "{ name = \"tag\"; then = ( { log = \"tagged\"; } ); }");
	assert_non_null(r);
	assert_string_equal(render(r, &m), "");
	m.from = "alice@example.org";
	assert_string_equal(render(r, &m), "tag:log tagged");
	transport_rules_free(r);
}

/* Every action kind, with the values the caller gets. */
static void test_all_actions(void **state)
{
	(void)state;
	struct rules_msg m = base_msg();
	struct transport_rules *r = load_rules(
		"{ name = \"all\"; then = (\n"
		"  { add_header = { name = \"X-Tag\"; value = \"external; score=1\"; }; },\n"
		"  { remove_header = \"X-Mailer\"; },\n"
		"  { prepend_subject = \"[EXT] \"; },\n"
		"  { redirect = \"security@example.com\"; },\n"
		"  { bcc = \"audit+in@mail.example.com\"; },\n"
		"  { quarantine = \"zipped invoice\"; },\n"
		"  { log = \"all actions\"; },\n"
		"  { reject = { code = 451; text = \"Try again later\"; }; },\n"
		"  { reject = { code = 554; enhanced = \"5.7.12\"; text = \"No\"; }; }\n"
		"); }");
	if (!r)
		fail_msg("%s", err);
	assert_string_equal(render(r, &m), "all:add_header X-Tag=external; score=1|"
					   "all:remove_header X-Mailer|"
					   "all:prepend_subject '[EXT] '|"
					   "all:redirect security@example.com|"
					   "all:bcc audit+in@mail.example.com|"
					   "all:quarantine zipped invoice|all:log all actions|"
					   "all:reject 451 4.7.1 Try again later|"
					   "all:reject 554 5.7.12 No");
	transport_rules_free(r);
}

/* ---- configuration errors, one table ---- */

struct error_case {
	const char *body; /* starts on line 3 */
	const char *msg;
};

#define RULE(conds, acts) "{ name = \"r\"; if = ( " conds " ); then = ( " acts " ); }"
#define LOG		  "{ log = \"x\"; }"

static const struct error_case error_cases[] = {
	/* unknown action or condition, naming the entry */
	{"{ name = \"a\"; then = ( " LOG " ); },\n{ name = \"b\";\n then = ( " LOG
	 ", { rejet = { code = 550; }; } ); }",
	 "airlock.conf:5: policy.rules[1].then[1]: unknown action \"rejet\""},
	{RULE("\n{ subjct = { contains = \"x\"; }; }", LOG),
	 "airlock.conf:4: policy.rules[0].if[0]: unknown condition \"subjct\""},
	{RULE("{ subject = { contains = \"x\"; }; sender = { contains = \"y\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0]: one condition per entry, found \"subject\" and "
	 "\"sender\""},
	{RULE("{ not = true; }", LOG), "airlock.conf:3: policy.rules[0].if[0]: no condition"},
	{RULE("{ not = 1; verdict = \"clean\"; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].not: must be true or false"},
	{RULE("", "{ log = \"x\"; bcc = \"a@example.com\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0]: one action per entry, found \"log\" and "
	 "\"bcc\""},
	{RULE("", "{ }"), "airlock.conf:3: policy.rules[0].then[0]: no action"},
	{RULE("", "\"log\""),
	 "airlock.conf:3: policy.rules[0].then[0]: must be a group: { log = \"...\"; }"},
	/* bad regex: regerror's text */
	{RULE("{ sender = { contains = \"a\"; }; },\n{ subject = {\n regex = \"(unclosed\"; }; }",
	      LOG),
	 "airlock.conf:5: policy.rules[0].if[1].subject.regex: bad regex \"(unclosed\": Unmatched "
	 "( "
	 "or \\("},
	{RULE("{ header = { name = \"X-A\"; regex = \"a{2,1}\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].header.regex: bad regex \"a{2,1}\": Invalid "
	 "content "
	 "of \\{\\}"},
	{RULE("{ subject = { regex = \"((a{1,100}){1,100}){1,100}\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject.regex: regex is too large once its bounds "
	 "are expanded (over 10000)"},
	{RULE("{ subject = { regex = \"(x{,200}[]{}]){60}\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject.regex: regex is too large once its bounds "
	 "are expanded (over 10000)"},
	{RULE("{ sender = { regex = \"^(.+)@\\\\1$\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].sender.regex: back-references are not supported in "
	 "a regex"},
	/* matchers */
	{RULE("{ subject = { equals = \"x\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject: unknown key \"equals\" (contains, regex "
	 "or "
	 "glob)"},
	{RULE("{ subject = { contains = \"x\"; regex = \"y\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject: only one of contains, regex or glob"},
	{RULE("{ subject = { }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject: needs one of contains, regex or glob"},
	{RULE("{ subject = \"x\"; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject: must be a group: { contains = \"...\"; } "
	 "(or regex, glob)"},
	{RULE("{ subject = { contains = \"\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject.contains: the pattern must not be empty"},
	{RULE("{ subject = { contains = 5; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].subject.contains: must be a string in double "
	 "quotes"},
	{RULE("{ header = { contains = \"x\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].header: name is required"},
	{RULE("{ header = { name = \"Bad:Name\"; }; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].header.name: header name \"Bad:Name\" is not a "
	 "valid field name"},
	{RULE("{ size_over = -1; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].size_over: must be a number of octets, 0 or more"},
	{RULE("{ size_over = \"10M\"; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].size_over: must be a number of octets, 0 or more"},
	{RULE("{ verdict = \"dirty\"; }", LOG),
	 "airlock.conf:3: policy.rules[0].if[0].verdict: verdict \"dirty\" is not one of clean, "
	 "infected, limits, unscanned"},
	/* reject codes */
	{RULE("", "{ reject = { code = 250; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].reject.code: must be a reply code from 400 to "
	 "599"},
	{RULE("", "{ reject = { code = 550; enhanced = \"4.7.1\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].reject: enhanced code \"4.7.1\" does not match "
	 "550 (want 5.N.N)"},
	{RULE("", "{ reject = { code = 450; enhanced = \"4.7\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].reject: enhanced code \"4.7\" does not match 450 "
	 "(want 4.N.N)"},
	{RULE("", "{ reject = { text = \"no\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].reject: code is required"},
	{RULE("", "{ reject = { code = 550; reason = \"no\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].reject: unknown key \"reason\" (code, enhanced, "
	 "text)"},
	{RULE("", "{ reject = { code = 550; text = \"Nicht \\xfcblich\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].reject: reject text must be printable ASCII"},
	/* header injection and names */
	{RULE("", "{ add_header = { name = \"X-Tag\"; value = \"a\\r\\nBcc: evil@example.net\"; }; "
		  "}"),
	 "airlock.conf:3: policy.rules[0].then[0].add_header: header value must not contain CR or "
	 "LF"},
	{RULE("", "{ add_header = { name = \"X-Tag\\nBcc\"; value = \"a\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].add_header: header name \"X-Tag?Bcc\" is not a "
	 "valid field name"},
	{RULE("", "{ add_header = { name = \"X Tag\"; value = \"a\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].add_header: header name \"X Tag\" is not a valid "
	 "field name"},
	{RULE("", "{ add_header = { name = \"x-airlock-scan\"; value = \"v=1\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].add_header: header x-airlock-scan is reserved "
	 "for "
	 "airlock"},
	{RULE("", "{ remove_header = \"X-Airlock-Scan\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].remove_header: header X-Airlock-Scan is reserved "
	 "for airlock"},
	{RULE("", "{ add_header = { name = \"X-Tag\"; }; }"),
	 "airlock.conf:3: policy.rules[0].then[0].add_header: name and value are required"},
	{RULE("", "{ prepend_subject = \"[EXT]\\n\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].prepend_subject: subject prefix must not contain "
	 "CR or LF"},
	{RULE("", "{ remove_header = \"\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].remove_header: header name \"\" is not a valid "
	 "field name"},
	{RULE("", "{ log = \"\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].log: log text must not be empty"},
	{RULE("", "{ quarantine = \"tab\\there\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].quarantine: quarantine reason must be printable "
	 "ASCII"},
	/* addresses */
	{RULE("", "{ redirect = \"Security <sec@example.com>\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].redirect: address \"Security <sec@example.com>\" "
	 "is not a plain local@domain"},
	{RULE("", "{ bcc = \"@example.com\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].bcc: address \"@example.com\" is not a plain "
	 "local@domain"},
	{RULE("", "{ bcc = \"audit@example..com\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].bcc: address \"audit@example..com\" is not a "
	 "plain local@domain"},
	{RULE("", "{ redirect = \"audit@[192.0.2.1]\"; }"),
	 "airlock.conf:3: policy.rules[0].then[0].redirect: address \"audit@[192.0.2.1]\" is not a "
	 "plain local@domain"},
	{RULE("", "{ redirect = 5; }"),
	 "airlock.conf:3: policy.rules[0].then[0].redirect: must be a string in double quotes"},
	/* rules */
	{"{ name = \"dup\"; then = ( " LOG " ); },\n{ name = \"dup\"; then = ( " LOG " ); }",
	 "airlock.conf:4: policy.rules[1].name: rule name \"dup\" is used twice"},
	{"{ then = ( " LOG " ); }", "airlock.conf:3: policy.rules[0]: name is required"},
	{"{ name = \"bad name\"; then = ( " LOG " ); }",
	 "airlock.conf:3: policy.rules[0].name: a rule name is 1 to 64 letters, digits, '.', '_' "
	 "or '-'"},
	{"{ name = \"a\";\n stpo = true; then = ( " LOG " ); }",
	 "airlock.conf:4: policy.rules[0]: unknown key \"stpo\" (name, if, then, stop)"},
	{"{ name = \"a\"; stop = \"yes\"; }", "airlock.conf:3: policy.rules[0].stop: must be true "
					      "or false"},
	{"{ name = \"a\"; if = ( { verdict = \"clean\"; } ); }",
	 "airlock.conf:3: policy.rules[0]: needs an action in then, or stop = true"},
	{"{ name = \"a\"; then = " LOG "; }",
	 "airlock.conf:3: policy.rules[0].then: must be a list: ( { ... }, { ... } )"},
	{"\"a\", { name = \"b\"; stop = true; }",
	 "airlock.conf:3: policy.rules[0]: must be a group: { name = \"...\"; if = ( ... ); "
	 "then = ( ... ); }"},
};

static void test_config_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const char *got = load_fails(error_cases[i].body);
		if (strcmp(got, error_cases[i].msg) != 0)
			fail_msg("case %zu:\n got  %s\n want %s", i, got, error_cases[i].msg);
	}
}

/* Caps: 256 rules, 16 conditions and 16 actions per rule. */
static void test_caps(void **state)
{
	(void)state;
	static char body[64 * 1024];
	size_t used = 0;
	for (int i = 0; i < 257; i++)
		used += (size_t)snprintf(body + used, sizeof(body) - used,
					 "%s{ name = \"r%d\"; stop = true; }", i ? ",\n" : "", i);
	assert_string_equal(load_fails(body), "airlock.conf:2: policy.rules: at most 256 rules");
	*strrchr(body, ',') = '\0'; /* 256 rules load */
	struct transport_rules *r = load_rules(body);
	assert_non_null(r);
	assert_int_equal(transport_rules_count(r), 256);
	transport_rules_free(r);

	char conds[2048] = "", acts[2048] = "";
	for (int i = 0; i < 17; i++) {
		strcat(conds, i ? ", { size_over = 1; }" : "{ size_over = 1; }");
		strcat(acts, i ? ", { log = \"x\"; }" : "{ log = \"x\"; }");
	}
	char one[8192];
	snprintf(one, sizeof(one), "{ name = \"c\";\n if = ( %s ); then = ( " LOG " ); }", conds);
	assert_string_equal(load_fails(one),
			    "airlock.conf:4: policy.rules[0].if: at most 16 conditions");
	snprintf(one, sizeof(one), "{ name = \"a\";\n then = ( %s ); }", acts);
	assert_string_equal(load_fails(one),
			    "airlock.conf:4: policy.rules[0].then: at most 16 actions");
}

/* The rule list itself, and an empty one. */
static void test_list_shapes(void **state)
{
	(void)state;
	struct transport_rules *r = load("policy = { rules = \"x\"; };");
	assert_null(r);
	assert_string_equal(err,
			    "airlock.conf:1: policy.rules: must be a list: ( { ... }, { ... } )");
	struct rules_msg m = base_msg();
	r = transport_rules_from_setting(NULL, "airlock.conf", err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(transport_rules_count(r), 0);
	transport_rules_free(r);
	const char *const empties[] = {"policy = { rules = ( ); };", "policy = { rules = [ ]; };"};
	for (size_t i = 0; i < 2; i++) {
		r = load(empties[i]);
		assert_non_null(r);
		assert_int_equal(transport_rules_count(r), 0);
		assert_string_equal(render(r, &m), "");
		transport_rules_free(r);
	}
}

/* A setting from an @include file is named by that file. */
static void test_include_file_named(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_transport_rules.XXXXXX", inc[512];
	assert_non_null(mkdtemp(dir));
	snprintf(inc, sizeof(inc), "%s/rules.conf", dir);
	FILE *f = fopen(inc, "w");
	assert_non_null(f);
	fputs("{ name = \"inc\";\n  then = ( { log = \"x\"; }, { bcc = \"nobody\"; } ); }\n", f);
	assert_int_equal(fclose(f), 0);
	config_t cfg;
	config_init(&cfg);
	config_set_include_dir(&cfg, dir);
	assert_int_equal(config_read_string(&cfg,
					    "policy = {\n rules = (\n@include \"rules.conf\"\n"
					    ");\n};\n"),
			 CONFIG_TRUE);
	config_setting_t *list = config_lookup(&cfg, "policy.rules");
	assert_null(transport_rules_from_setting(list, "airlock.conf", err, sizeof(err)));
	/* libconfig names an included file as its @include directive does. */
	assert_string_equal(err, "rules.conf:2: policy.rules[0].then[1].bcc: address \"nobody\" is "
				 "not a plain local@domain");
	config_destroy(&cfg);
	assert_int_equal(unlink(inc), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* Many headers: the one that matches is the last; none match in the other message. */
static void test_many_headers(void **state)
{
	(void)state;
	enum { N = 5000 };
	struct rules_header *h = calloc(N, sizeof(*h));
	char(*names)[32] = calloc(N, 32);
	assert_non_null(h);
	assert_non_null(names);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], 32, "X-Hop-%d", i);
		h[i].name = names[i];
		h[i].value = "relay.example.net";
	}
	h[N - 1].name = "X-Campaign";
	h[N - 1].value = "Spring sale 2026";
	struct transport_rules *r = load_rules(
		"{ name = \"campaign\"; if = ( { header = { name = \"x-campaign\"; regex = "
		"\"sale [0-9]{4}$\"; }; } ); then = ( { log = \"campaign\"; } ); },"
		"{ name = \"hops\"; if = ( { header = { name = \"X-Hop-4998\"; }; },"
		"  { subject = { contains = \"sale\"; }; not = true; } );"
		"  then = ( { add_header = { name = \"X-Many-Hops\"; value = \"yes\"; }; } ); }");
	assert_non_null(r);
	struct rules_msg m = {.from = "a@example.net", .headers = h, .nheaders = N};
	assert_string_equal(render(r, &m), "campaign:log campaign|hops:add_header X-Many-Hops=yes");
	m.nheaders = N - 2; /* neither X-Campaign nor X-Hop-4998 */
	assert_string_equal(render(r, &m), "");
	transport_rules_free(r);
	free(names);
	free(h);
}

/* The engine checks what it is given when built directly, too. */
static void test_engine_api(void **state)
{
	(void)state;
	struct transport_rules *rules = transport_rules_new();
	assert_non_null(rules);
	char e[256];
	struct transport_rule *r = transport_rules_add(rules, "direct", false, e, sizeof(e));
	assert_non_null(r);
	struct rules_condition_spec s = {.field = RULES_SUBJECT, .match = RULES_MATCH_PRESENT};
	assert_int_equal(transport_rule_add_condition(r, &s, e, sizeof(e)), -1);
	assert_string_equal(e, "only a header condition may omit the pattern");
	s = (struct rules_condition_spec){
		.field = RULES_SENDER, .match = RULES_MATCH_CONTAINS, .pattern = "a\tb"};
	assert_int_equal(transport_rule_add_condition(r, &s, e, sizeof(e)), -1);
	assert_string_equal(e, "the pattern must not contain control characters");
	s.pattern = "example.org";
	assert_int_equal(transport_rule_add_condition(r, &s, e, sizeof(e)), 0);
	struct rules_action a = {.kind = RULES_ACT_REJECT, .reject = {.code = 600, .text = "x"}};
	assert_int_equal(transport_rule_add_action(r, &a, e, sizeof(e)), -1);
	assert_string_equal(e, "reject code 600 is not 4xx or 5xx");
	a = (struct rules_action){.kind = RULES_ACT_REDIRECT, .redirect.to = "sec@example.com"};
	for (int i = 0; i < TRANSPORT_RULES_MAX_ACTIONS; i++)
		assert_int_equal(transport_rule_add_action(r, &a, e, sizeof(e)), 0);
	assert_int_equal(transport_rule_add_action(r, &a, e, sizeof(e)), -1);
	assert_string_equal(e, "at most 16 actions in a rule");
	assert_null(transport_rules_add(rules, "direct", false, e, sizeof(e)));
	assert_string_equal(e, "rule name \"direct\" is used twice");
	struct rules_msg m = base_msg();
	const struct rules_action *out[16];
	assert_int_equal(transport_rules_eval(rules, &m, out, 16), 16);
	assert_string_equal(out[15]->redirect.to, "sec@example.com");
	assert_string_equal(out[15]->rule, "direct");
	m.from = "x@example.net";
	assert_int_equal(transport_rules_eval(rules, &m, out, 16), 0);
	transport_rules_free(rules);
	transport_rules_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conditions),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_first_subject_only),
		cmocka_unit_test(test_order_and_stop),
		cmocka_unit_test(test_all_actions),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_list_shapes),
		cmocka_unit_test(test_include_file_named),
		cmocka_unit_test(test_many_headers),
		cmocka_unit_test(test_engine_api),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
