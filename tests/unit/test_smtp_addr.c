/*
 * Unit tests for relay/smtp_addr: RFC 5321 paths, RFC 6531 UTF-8, limits,
 * normalisation, and the reply each error maps to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "relay/smtp_addr.h"

#define S(lit) lit, sizeof(lit) - 1

#define SND SMTP_ROLE_SENDER
#define RCP SMTP_ROLE_RECIPIENT

struct path_case {
	const char *in;
	size_t len;
	enum smtp_role role;
	bool utf8_ok;
	enum smtp_err err;
	const char *mailbox; /* expected on success */
	const char *domain;
};

static const struct path_case path_cases[] = {
	/* null reverse-path, sender only */
	{S("<>"), SND, false, SMTP_OK, "", ""},
	{S("<>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	/* plain mailboxes; domain lowercased, local part case kept */
	{S("<user@example.com>"), SND, false, SMTP_OK, "user@example.com", "example.com"},
	{S("<User.Name@Example.COM>"), RCP, false, SMTP_OK, "User.Name@example.com", "example.com"},
	{S("<first.last+tag@sub.example.org>"), SND, false, SMTP_OK,
	 "first.last+tag@sub.example.org", "sub.example.org"},
	{S("<!#$%&'*+-/=?^_`{|}~@example.net>"), RCP, false, SMTP_OK,
	 "!#$%&'*+-/=?^_`{|}~@example.net", "example.net"},
	{S("<u@localhost>"), RCP, false, SMTP_OK, "u@localhost", "localhost"},
	{S("<u@123.example>"), RCP, false, SMTP_OK, "u@123.example", "123.example"},
	{S("<u@a-b--c.example>"), RCP, false, SMTP_OK, "u@a-b--c.example", "a-b--c.example"},
	/* source routes: accepted and discarded (RFC 5321 4.1.2, C) */
	{S("<@a.example:user@example.com>"), SND, false, SMTP_OK, "user@example.com",
	 "example.com"},
	{S("<@a.example,@B.example:user@example.com>"), RCP, false, SMTP_OK, "user@example.com",
	 "example.com"},
	{S("<@a.example,user@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<@a.example user@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<@[192.0.2.1]:user@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<@:user@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	/* quoted local parts: kept quoted only where needed */
	{S("<\"john\"@example.com>"), SND, false, SMTP_OK, "john@example.com", "example.com"},
	{S("<\"j\\o\\hn\"@example.com>"), SND, false, SMTP_OK, "john@example.com", "example.com"},
	{S("<\"john doe\"@example.com>"), SND, false, SMTP_OK, "\"john doe\"@example.com",
	 "example.com"},
	{S("<\"john\\ doe\"@example.com>"), SND, false, SMTP_OK, "\"john doe\"@example.com",
	 "example.com"},
	{S("<\"a\\\"b\"@example.com>"), RCP, false, SMTP_OK, "\"a\\\"b\"@example.com",
	 "example.com"},
	{S("<\"a\\\\b\"@example.com>"), RCP, false, SMTP_OK, "\"a\\\\b\"@example.com",
	 "example.com"},
	{S("<\"a..b\"@example.com>"), RCP, false, SMTP_OK, "\"a..b\"@example.com", "example.com"},
	{S("<\".a\"@example.com>"), RCP, false, SMTP_OK, "\".a\"@example.com", "example.com"},
	{S("<\"\"@example.com>"), RCP, false, SMTP_OK, "\"\"@example.com", "example.com"},
	{S("<\"a>b\"@example.com>"), RCP, false, SMTP_OK, "\"a>b\"@example.com", "example.com"},
	{S("<\"a@b\"@example.com>"), RCP, false, SMTP_OK, "\"a@b\"@example.com", "example.com"},
	{S("<\"unterminated@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<\"tab\there\"@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<\"ctl\\\x01\"@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<\"a\"b@example.com>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	/* address literals */
	{S("<user@[192.0.2.1]>"), SND, false, SMTP_OK, "user@[192.0.2.1]", "[192.0.2.1]"},
	{S("<user@[IPv6:2001:DB8::1]>"), SND, false, SMTP_OK, "user@[IPv6:2001:db8::1]",
	 "[IPv6:2001:db8::1]"},
	{S("<user@[ipv6:::1]>"), SND, false, SMTP_OK, "user@[IPv6:::1]", "[IPv6:::1]"},
	{S("<user@[IPv6:::ffff:192.0.2.1]>"), SND, false, SMTP_OK, "user@[IPv6:::ffff:192.0.2.1]",
	 "[IPv6:::ffff:192.0.2.1]"},
	{S("<user@[192.0.2.256]>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[192.0.2]>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[192.0.2.1.5]>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[IPv6:2001:db8::g]>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[IPv6:192.0.2.1]>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[x-tag:foo]>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[]>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[192.0.2.1>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@[192.0.2.1]x>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	/* Postmaster without domain: recipient only, any case */
	{S("<Postmaster>"), RCP, false, SMTP_OK, "Postmaster", ""},
	{S("<postMASTER>"), RCP, false, SMTP_OK, "Postmaster", ""},
	{S("<Postmaster>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<Postmaster@Example.com>"), RCP, false, SMTP_OK, "Postmaster@example.com",
	 "example.com"},
	{S("<Postmasters>"), RCP, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	/* malformed */
	{S(""), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("user@example.com"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@example.com"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<@example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@@example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<.user@example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user.@example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<us..er@example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<us er@example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<us(er@example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@-example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@example-.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@example.com->"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@example..com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@example.com.>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@.example.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@exa_mple.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@example.com >"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	{S("<user@exa\0mple.com>"), SND, false, SMTP_ERR_ADDR_SYNTAX, NULL, NULL},
	/* RFC 6531: UTF-8 only with SMTPUTF8, and only well-formed */
	{S("<pel\xc3\xa9@example.com>"), SND, true, SMTP_OK, "pel\xc3\xa9@example.com",
	 "example.com"},
	{S("<pel\xc3\xa9@example.com>"), SND, false, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, NULL, NULL},
	{S("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>"), RCP,
	 true, SMTP_OK,
	 "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	 "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a"},
	{S("<a@B\xc3\xbc"
	   "cher.Example>"),
	 RCP, true, SMTP_OK,
	 "a@b\xc3\xbc"
	 "cher.example",
	 "b\xc3\xbc"
	 "cher.example"},
	{S("<a@b\xc3\xbc"
	   "cher.example>"),
	 RCP, false, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, NULL, NULL},
	{S("<\"pel\xc3\xa9 x\"@example.com>"), RCP, true, SMTP_OK, "\"pel\xc3\xa9 x\"@example.com",
	 "example.com"},
	{S("<\"pel\xc3\xa9\"@example.com>"), RCP, true, SMTP_OK, "pel\xc3\xa9@example.com",
	 "example.com"},
	{S("<\"pel\xc3\xa9\"@example.com>"), RCP, false, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, NULL,
	 NULL},
	/* a UTF-8 source route is checked, then dropped: the mailbox is ASCII */
	{S("<@b\xc3\xbc"
	   "cher.example:a@example.com>"),
	 RCP, true, SMTP_OK, "a@example.com", "example.com"},
	{S("<@b\xc3\xbc"
	   "cher.example:a@example.com>"),
	 RCP, false, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, NULL, NULL},
	{S("<a\xc0\xaf@example.com>"), RCP, true, SMTP_ERR_ADDR_UTF8_MALFORMED, NULL, NULL},
	{S("<a\xe0\x80\xaf@example.com>"), RCP, true, SMTP_ERR_ADDR_UTF8_MALFORMED, NULL, NULL},
	{S("<a\xed\xa0\x80@example.com>"), RCP, true, SMTP_ERR_ADDR_UTF8_MALFORMED, NULL, NULL},
	{S("<a\xf4\x90\x80\x80@example.com>"), RCP, true, SMTP_ERR_ADDR_UTF8_MALFORMED, NULL, NULL},
	{S("<a\x80@example.com>"), RCP, true, SMTP_ERR_ADDR_UTF8_MALFORMED, NULL, NULL},
	{S("<a\xc3@example.com>"), RCP, true, SMTP_ERR_ADDR_UTF8_MALFORMED, NULL, NULL},
	{S("<a@ex\xff.com>"), RCP, true, SMTP_ERR_ADDR_UTF8_MALFORMED, NULL, NULL},
	{S("<a\xc0\xaf@example.com>"), RCP, false, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, NULL, NULL},
};

static void test_path_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct smtp_addr a;
		size_t used = 99;
		enum smtp_err err =
			smtp_addr_parse_path(c->in, c->len, c->role, c->utf8_ok, &a, &used);
		if (err != c->err)
			fail_msg("case %zu (%s): err %s, want %s", i, c->in, smtp_err_name(err),
				 smtp_err_name(c->err));
		if (c->err != SMTP_OK) {
			assert_int_equal(used, 0);
			assert_string_equal(a.mailbox, "");
			continue;
		}
		assert_int_equal(used, c->len);
		assert_string_equal(a.mailbox, c->mailbox);
		assert_string_equal(a.domain, c->domain);
		assert_int_equal(a.null_path, c->len == 2);
		assert_int_equal(a.postmaster, strcmp(c->mailbox, "Postmaster") == 0);
		assert_int_equal(a.literal, c->domain[0] == '[');
		bool nonascii = false;
		for (const char *p = c->mailbox; *p; p++)
			nonascii |= (unsigned char)*p >= 0x80;
		assert_int_equal(a.utf8, nonascii);
	}
}

static void test_path_stops_at_closing_bracket(void **state)
{
	struct smtp_addr a;
	size_t used;

	(void)state;
	assert_int_equal(smtp_addr_parse_path(S("<a@b.example> SIZE=10"), SND, false, &a, &used),
			 SMTP_OK);
	assert_int_equal(used, 13);
	assert_int_equal(smtp_addr_parse_path(S("<\"x>y\"@b.example>>"), SND, false, &a, &used),
			 SMTP_OK);
	assert_int_equal(used, 17);
	assert_string_equal(a.mailbox, "\"x>y\"@b.example");
}

/* Builds "<" local "@" domain ">" with the given part lengths. */
static size_t build_path(char *buf, size_t route, size_t local, size_t label, size_t labels)
{
	size_t n = 0;
	buf[n++] = '<';
	if (route) {
		buf[n++] = '@';
		memset(buf + n, 'r', route);
		for (size_t i = 50; i + 1 < route; i += 50)
			buf[n + i] = '.'; /* labels of at most 50 octets */
		n += route;
		buf[n++] = ':';
	}
	memset(buf + n, 'l', local);
	n += local;
	buf[n++] = '@';
	for (size_t i = 0; i < labels; i++) {
		if (i)
			buf[n++] = '.';
		memset(buf + n, 'd', label);
		n += label;
	}
	buf[n++] = '>';
	return n;
}

static enum smtp_err parse_built(size_t route, size_t local, size_t label, size_t labels)
{
	char buf[2048];
	struct smtp_addr a;
	size_t used;
	size_t n = build_path(buf, route, local, label, labels);
	return smtp_addr_parse_path(buf, n, RCP, false, &a, &used);
}

static void test_limits(void **state)
{
	(void)state;
	/* local part 64 */
	assert_int_equal(parse_built(0, 64, 10, 1), SMTP_OK);
	assert_int_equal(parse_built(0, 65, 10, 1), SMTP_ERR_ADDR_LOCAL_TOO_LONG);
	assert_int_equal(parse_built(0, 500, 10, 1), SMTP_ERR_ADDR_LOCAL_TOO_LONG);
	/* label 63 */
	assert_int_equal(parse_built(0, 1, 63, 1), SMTP_OK);
	assert_int_equal(parse_built(0, 1, 64, 1), SMTP_ERR_ADDR_DOMAIN_TOO_LONG);
	/* domain 255: 4 labels of 63 + 3 dots = 255; 256 with one more octet */
	{
		char d[300];
		memset(d, 'd', sizeof(d));
		d[63] = d[127] = d[191] = '.';
		assert_int_equal(smtp_addr_check_domain(d, 255, false), SMTP_OK);
		d[255] = 'd';
		assert_int_equal(smtp_addr_check_domain(d, 256, false),
				 SMTP_ERR_ADDR_DOMAIN_TOO_LONG);
		assert_int_equal(smtp_addr_check_domain(d, 280, false),
				 SMTP_ERR_ADDR_DOMAIN_TOO_LONG);
	}
	/* local and domain each within limits, the path over 256: 3 + 254 + 1 */
	assert_int_equal(parse_built(0, 1, 50, 5), SMTP_ERR_ADDR_PATH_TOO_LONG);
	assert_int_equal(parse_built(0, 1, 50, 4), SMTP_OK);
}

static void test_path_limit_exact(void **state)
{
	char buf[400];
	struct smtp_addr a;
	size_t used;

	(void)state;
	/* domain of 4 labels: 63.63.63.x; vary x to hit path length 256 / 257 */
	for (size_t last = 55; last <= 63; last++) {
		size_t n = 0;
		buf[n++] = '<';
		buf[n++] = 'a';
		buf[n++] = '@';
		for (int l = 0; l < 3; l++) {
			memset(buf + n, 'd', 63);
			n += 63;
			buf[n++] = '.';
		}
		memset(buf + n, 'e', last);
		n += last;
		buf[n++] = '>';
		enum smtp_err err = smtp_addr_parse_path(buf, n, SND, false, &a, &used);
		if (n <= SMTP_ADDR_PATH_MAX)
			assert_int_equal(err, SMTP_OK);
		else
			assert_int_equal(err, SMTP_ERR_ADDR_PATH_TOO_LONG);
		if (n == 256)
			assert_int_equal(strlen(a.mailbox), 254);
	}
	/* a long source route makes a short mailbox's path too long */
	assert_int_equal(parse_built(200, 10, 50, 1), SMTP_ERR_ADDR_PATH_TOO_LONG);
	assert_int_equal(parse_built(100, 10, 50, 1), SMTP_OK);
}

static void test_quoted_local_limit(void **state)
{
	char buf[200];
	struct smtp_addr a;
	size_t used;

	(void)state;
	/* a quoted local part of exactly 64 octets, quotes included */
	for (size_t raw = 63; raw <= 66; raw++) {
		size_t n = 0;
		buf[n++] = '<';
		buf[n++] = '"';
		memset(buf + n, ' ', raw - 2);
		n += raw - 2;
		buf[n++] = '"';
		memcpy(buf + n, "@x.example>", 11);
		n += 11;
		enum smtp_err err = smtp_addr_parse_path(buf, n, SND, false, &a, &used);
		assert_int_equal(err, raw <= 64 ? SMTP_OK : SMTP_ERR_ADDR_LOCAL_TOO_LONG);
		if (err == SMTP_OK)
			assert_int_equal(strlen(a.local), raw);
	}
}

static void test_mailbox_and_domain(void **state)
{
	struct smtp_addr a;

	(void)state;
	assert_int_equal(smtp_addr_parse_mailbox(S("Joe@Example.ORG"), false, &a), SMTP_OK);
	assert_string_equal(a.mailbox, "Joe@example.org");
	assert_string_equal(a.local, "Joe");
	assert_int_equal(smtp_addr_parse_mailbox(S("joe@example.org>"), false, &a),
			 SMTP_ERR_ADDR_SYNTAX);
	assert_int_equal(smtp_addr_parse_mailbox(S("<joe@example.org>"), false, &a),
			 SMTP_ERR_ADDR_SYNTAX);
	assert_int_equal(smtp_addr_check_domain(S("mx.example.org"), false), SMTP_OK);
	assert_int_equal(smtp_addr_check_domain(S("[192.0.2.1]"), false), SMTP_OK);
	assert_int_equal(smtp_addr_check_domain(S("[IPv6:::1]"), false), SMTP_OK);
	assert_int_equal(smtp_addr_check_domain(S("my_host"), false), SMTP_ERR_ADDR_SYNTAX);
	assert_int_equal(smtp_addr_check_domain(S("host example"), false), SMTP_ERR_ADDR_SYNTAX);
	assert_int_equal(smtp_addr_check_domain(S(""), false), SMTP_ERR_ADDR_SYNTAX);
	assert_int_equal(smtp_addr_check_domain(S("b\xc3\xbc"
						  "cher.example"),
						false),
			 SMTP_ERR_ADDR_UTF8_NOT_ALLOWED);
	assert_int_equal(smtp_addr_check_domain(S("b\xc3\xbc"
						  "cher.example"),
						true),
			 SMTP_OK);
}

static void test_utf8_char_len(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		size_t want;
	} cases[] = {
		{S("A"), 0},
		{S("\xc2\x80"), 2},
		{S("\xdf\xbf"), 2},
		{S("\xe0\xa0\x80"), 3},
		{S("\xed\x9f\xbf"), 3},
		{S("\xee\x80\x80"), 3},
		{S("\xef\xbf\xbf"), 3},
		{S("\xf0\x90\x80\x80"), 4},
		{S("\xf4\x8f\xbf\xbf"), 4},
		{S("\xc0\x80"), 0},	    /* overlong NUL */
		{S("\xc1\xbf"), 0},	    /* overlong */
		{S("\xe0\x9f\xbf"), 0},	    /* overlong */
		{S("\xed\xa0\x80"), 0},	    /* surrogate D800 */
		{S("\xed\xbf\xbf"), 0},	    /* surrogate DFFF */
		{S("\xf0\x8f\xbf\xbf"), 0}, /* overlong */
		{S("\xf4\x90\x80\x80"), 0}, /* above U+10FFFF */
		{S("\xf5\x80\x80\x80"), 0},
		{S("\xff"), 0},
		{S("\x80"), 0},
		{S("\xe2\x82"), 0}, /* truncated */
		{S("\xc3\x28"), 0}, /* bad continuation */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got =
			smtp_addr_utf8_char_len((const unsigned char *)cases[i].s, cases[i].len);
		if (got != cases[i].want)
			fail_msg("utf8 case %zu: got %zu want %zu", i, got, cases[i].want);
	}
}

static void test_replies_by_role(void **state)
{
	(void)state;
	assert_string_equal(smtp_err_reply(SMTP_ERR_ADDR_SYNTAX, SMTP_ROLE_SENDER),
			    "501 5.1.7 Bad sender address syntax");
	assert_string_equal(smtp_err_reply(SMTP_ERR_ADDR_SYNTAX, SMTP_ROLE_RECIPIENT),
			    "501 5.1.3 Bad recipient address syntax");
	assert_string_equal(smtp_err_reply(SMTP_ERR_ADDR_PATH_TOO_LONG, SMTP_ROLE_RECIPIENT),
			    "501 5.1.3 Recipient path too long");
	assert_string_equal(smtp_err_reply(SMTP_ERR_ADDR_LOCAL_TOO_LONG, SMTP_ROLE_SENDER),
			    "501 5.1.7 Sender local part too long");
	assert_string_equal(smtp_err_reply(SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, SMTP_ROLE_SENDER),
			    "553 5.6.7 Non-ASCII sender address requires SMTPUTF8");
	assert_int_equal(smtp_err_code(SMTP_ERR_ADDR_UTF8_NOT_ALLOWED), 553);
	assert_int_equal(smtp_err_code(SMTP_ERR_ADDR_UTF8_MALFORMED), 501);
	assert_null(smtp_err_reply(SMTP_OK, SMTP_ROLE_SENDER));
	/* every error has a reply with its code first */
	for (int e = SMTP_OK + 1; e < SMTP_ERR_COUNT; e++) {
		for (int r = SMTP_ROLE_SENDER; r <= SMTP_ROLE_RECIPIENT; r++) {
			const char *reply = smtp_err_reply((enum smtp_err)e, (enum smtp_role)r);
			char code[8];
			assert_non_null(reply);
			snprintf(code, sizeof(code), "%d ", smtp_err_code((enum smtp_err)e));
			assert_memory_equal(reply, code, 4);
			assert_true(strlen(reply) < 512 - 2);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_path_stops_at_closing_bracket),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_path_limit_exact),
		cmocka_unit_test(test_quoted_local_limit),
		cmocka_unit_test(test_mailbox_and_domain),
		cmocka_unit_test(test_utf8_char_len),
		cmocka_unit_test(test_replies_by_role),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
