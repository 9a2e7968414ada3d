/*
 * Unit tests for relay/smtp_cmd: verbs, argument rules, line limits,
 * MAIL/RCPT paths and ESMTP parameters, BDAT, and the replies sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "relay/smtp_cmd.h"

#define S(lit) lit, sizeof(lit) - 1

#define ESMTP	 SMTP_CMD_F_ESMTP
#define OFFERED	 (SMTP_CMD_F_ESMTP | SMTP_CMD_F_SMTPUTF8_OFFERED)
#define UTF8_TXN (SMTP_CMD_F_ESMTP | SMTP_CMD_F_SMTPUTF8_OFFERED | SMTP_CMD_F_SMTPUTF8_TXN)

struct cmd_case {
	const char *line;
	size_t len;
	unsigned flags;
	enum smtp_err err;
	enum smtp_verb verb;
	const char *arg; /* expected cmd.arg, NULL: not checked */
};

static const struct cmd_case cmd_cases[] = {
	/* every verb, case variants */
	{S("HELO mx.example.org"), 0, SMTP_OK, SMTP_VERB_HELO, "mx.example.org"},
	{S("helo mx.example.org"), 0, SMTP_OK, SMTP_VERB_HELO, "mx.example.org"},
	{S("EHLO [192.0.2.1]"), 0, SMTP_OK, SMTP_VERB_EHLO, "[192.0.2.1]"},
	{S("eHlO client"), 0, SMTP_OK, SMTP_VERB_EHLO, "client"},
	{S("EHLO   spaced   "), 0, SMTP_OK, SMTP_VERB_EHLO, "spaced"},
	{S("MAIL FROM:<a@example.org>"), 0, SMTP_OK, SMTP_VERB_MAIL, "FROM:<a@example.org>"},
	{S("RCPT TO:<b@example.com>"), 0, SMTP_OK, SMTP_VERB_RCPT, "TO:<b@example.com>"},
	{S("DATA"), 0, SMTP_OK, SMTP_VERB_DATA, ""},
	{S("data"), 0, SMTP_OK, SMTP_VERB_DATA, ""},
	{S("DATA  "), 0, SMTP_OK, SMTP_VERB_DATA, ""},
	{S("BDAT 100"), 0, SMTP_OK, SMTP_VERB_BDAT, "100"},
	{S("RSET"), 0, SMTP_OK, SMTP_VERB_RSET, ""},
	{S("rset\t"), 0, SMTP_OK, SMTP_VERB_RSET, ""},
	{S("NOOP"), 0, SMTP_OK, SMTP_VERB_NOOP, ""},
	{S("NOOP anything at all"), 0, SMTP_OK, SMTP_VERB_NOOP, "anything at all"},
	{S("QUIT"), 0, SMTP_OK, SMTP_VERB_QUIT, ""},
	{S("Quit"), 0, SMTP_OK, SMTP_VERB_QUIT, ""},
	{S("VRFY postmaster"), 0, SMTP_OK, SMTP_VERB_VRFY, "postmaster"},
	{S("EXPN staff"), 0, SMTP_OK, SMTP_VERB_EXPN, "staff"},
	{S("HELP"), 0, SMTP_OK, SMTP_VERB_HELP, ""},
	{S("HELP MAIL"), 0, SMTP_OK, SMTP_VERB_HELP, "MAIL"},
	{S("STARTTLS"), 0, SMTP_OK, SMTP_VERB_STARTTLS, ""},
	{S("StartTLS"), 0, SMTP_OK, SMTP_VERB_STARTTLS, ""},
	{S("AUTH PLAIN AGFsaWNlAHNlY3JldA=="), 0, SMTP_OK, SMTP_VERB_AUTH,
	 "PLAIN AGFsaWNlAHNlY3JldA=="},
	/* argument rules */
	{S("HELO"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_HELO, NULL},
	{S("EHLO   "), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_EHLO, NULL},
	{S("VRFY"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_VRFY, NULL},
	{S("EXPN"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_EXPN, NULL},
	{S("AUTH"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_AUTH, NULL},
	{S("DATA now"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_DATA, NULL},
	{S("RSET x"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_RSET, NULL},
	{S("QUIT now"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_QUIT, NULL},
	{S("STARTTLS x"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_STARTTLS, NULL},
	/* unknown */
	{S(""), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("   "), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("FOO"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("LHLO x"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S(" DATA"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("DATAX"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("DAT"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("MAILFROM:<a@example.org>"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("MAIL:FROM:<a@example.org>"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	{S("DATA\tx"), 0, SMTP_ERR_CMD_UNKNOWN, SMTP_VERB_UNKNOWN, NULL},
	/* CR, LF, NUL inside the line */
	{S("NOOP\r"), 0, SMTP_ERR_LINE_BARE_NEWLINE, SMTP_VERB_UNKNOWN, NULL},
	{S("NO\nOP"), 0, SMTP_ERR_LINE_BARE_NEWLINE, SMTP_VERB_UNKNOWN, NULL},
	{S("DATA\n.\nMAIL FROM:<x@example.org>"), 0, SMTP_ERR_LINE_BARE_NEWLINE, SMTP_VERB_UNKNOWN,
	 NULL},
	{S("NOOP\0hidden"), 0, SMTP_ERR_LINE_NUL, SMTP_VERB_UNKNOWN, NULL},
	/* BDAT */
	{S("BDAT 0 LAST"), 0, SMTP_OK, SMTP_VERB_BDAT, NULL},
	{S("bdat 10 last"), 0, SMTP_OK, SMTP_VERB_BDAT, NULL},
	{S("BDAT 10  LAST"), 0, SMTP_OK, SMTP_VERB_BDAT, NULL},
	{S("BDAT"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT x"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT -1"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT +1"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT 1x"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT 10 FIRST"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT 10 LAST x"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT 18446744073709551615"), 0, SMTP_OK, SMTP_VERB_BDAT, NULL},
	{S("BDAT 18446744073709551616"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	{S("BDAT 123456789012345678901"), 0, SMTP_ERR_BDAT_SYNTAX, SMTP_VERB_BDAT, NULL},
	/* MAIL */
	{S("mail from:<a@example.org>"), 0, SMTP_OK, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM: <a@example.org>"), 0, SMTP_OK, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<>"), 0, SMTP_OK, SMTP_VERB_MAIL, NULL},
	{S("MAIL"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL TO:<a@example.org>"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:"), 0, SMTP_ERR_ADDR_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:a@example.org"), 0, SMTP_ERR_ADDR_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org>x"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SIZE=1"), 0, SMTP_ERR_PARAM_UNKNOWN, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org>  SIZE=10   BODY=8BITMIME"), ESMTP, SMTP_OK, SMTP_VERB_MAIL,
	 NULL},
	{S("MAIL FROM:<a@example.org> SIZE="), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SIZE"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SIZE=12a"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL,
	 NULL},
	{S("MAIL FROM:<a@example.org> SIZE=-1"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL,
	 NULL},
	{S("MAIL FROM:<a@example.org> SIZE=123456789012345678901"), ESMTP, SMTP_ERR_PARAM_SYNTAX,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SIZE=1 SIZE=2"), ESMTP, SMTP_ERR_PARAM_DUPLICATE,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> BODY=7BIT body=8bitmime"), ESMTP, SMTP_ERR_PARAM_DUPLICATE,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> BODY=BINARYMIME"), ESMTP, SMTP_ERR_PARAM_SYNTAX,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> BODY"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SMTPUTF8"), ESMTP, SMTP_ERR_PARAM_UNKNOWN, SMTP_VERB_MAIL,
	 NULL},
	{S("MAIL FROM:<a@example.org> SMTPUTF8=yes"), OFFERED, SMTP_ERR_PARAM_SYNTAX,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SMTPUTF8 smtputf8"), OFFERED, SMTP_ERR_PARAM_DUPLICATE,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> AUTH=<>"), ESMTP, SMTP_ERR_PARAM_UNKNOWN, SMTP_VERB_MAIL,
	 NULL},
	{S("MAIL FROM:<a@example.org> RET=HDRS ENVID=x"), ESMTP, SMTP_ERR_PARAM_UNKNOWN,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> X-FOO"), ESMTP, SMTP_ERR_PARAM_UNKNOWN, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> -FOO"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> FO_O=1"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> =1"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> FOO=a=b"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL,
	 NULL},
	{S("MAIL FROM:<a@example.org> FOO=a\x01"), ESMTP, SMTP_ERR_PARAM_SYNTAX, SMTP_VERB_MAIL,
	 NULL},
	{S("MAIL FROM:<a@example.org> A B C D E F G H"), ESMTP, SMTP_ERR_PARAM_UNKNOWN,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> A B C D E F G H I"), ESMTP, SMTP_ERR_PARAM_TOO_MANY,
	 SMTP_VERB_MAIL, NULL},
	/* SMTPUTF8 and UTF-8 in paths and values (RFC 6531) */
	{S("MAIL FROM:<pel\xc3\xa9@example.org> SMTPUTF8"), OFFERED, SMTP_OK, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<pel\xc3\xa9@example.org>"), OFFERED, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<pel\xc3\xa9@example.org> SMTPUTF8"), ESMTP, SMTP_ERR_PARAM_UNKNOWN,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<@b\xc3\xbc"
	   "cher.example:a@example.org>"),
	 OFFERED, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<@b\xc3\xbc"
	   "cher.example:a@example.org> SMTPUTF8"),
	 OFFERED, SMTP_OK, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<pel\xed\xa0\x80@example.org> SMTPUTF8"), OFFERED,
	 SMTP_ERR_ADDR_UTF8_MALFORMED, SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> FOO=\xc3\xa9"), OFFERED, SMTP_ERR_PARAM_SYNTAX,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SMTPUTF8 FOO=\xc3\xa9"), OFFERED, SMTP_ERR_PARAM_UNKNOWN,
	 SMTP_VERB_MAIL, NULL},
	{S("MAIL FROM:<a@example.org> SMTPUTF8 FOO=\xc0\xaf"), OFFERED, SMTP_ERR_PARAM_SYNTAX,
	 SMTP_VERB_MAIL, NULL},
	/* RCPT */
	{S("rcpt to:<b@example.com>"), 0, SMTP_OK, SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:  <b@example.com>"), 0, SMTP_OK, SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:<Postmaster>"), 0, SMTP_OK, SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:<>"), 0, SMTP_ERR_ADDR_SYNTAX, SMTP_VERB_RCPT, NULL},
	{S("RCPT FROM:<b@example.com>"), 0, SMTP_ERR_CMD_SYNTAX, SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:<b@example.com> NOTIFY=NEVER"), ESMTP, SMTP_ERR_PARAM_UNKNOWN, SMTP_VERB_RCPT,
	 NULL},
	{S("RCPT TO:<b@example.com> ORCPT=rfc822;b@example.com"), ESMTP, SMTP_ERR_PARAM_UNKNOWN,
	 SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:<b@example.com> SIZE=10"), ESMTP, SMTP_ERR_PARAM_UNKNOWN, SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:<pel\xc3\xa9@example.com>"), OFFERED, SMTP_ERR_ADDR_UTF8_NOT_ALLOWED,
	 SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:<pel\xc3\xa9@example.com>"), UTF8_TXN, SMTP_OK, SMTP_VERB_RCPT, NULL},
	{S("RCPT TO:<pel\xc3\xa9@example.com> SMTPUTF8"), UTF8_TXN, SMTP_ERR_PARAM_UNKNOWN,
	 SMTP_VERB_RCPT, NULL},
};

static void test_cmd_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct smtp_cmd cmd;
		enum smtp_err err = smtp_cmd_parse(c->line, c->len, c->flags, &cmd);
		if (err != c->err || cmd.verb != c->verb)
			fail_msg("case %zu \"%s\": err %s verb %s, want %s %s", i, c->line,
				 smtp_err_name(err), smtp_verb_name(cmd.verb),
				 smtp_err_name(c->err), smtp_verb_name(c->verb));
		assert_int_equal(cmd.err, err);
		if (err == SMTP_OK)
			assert_null(cmd.reply);
		else
			assert_string_equal(cmd.reply,
					    smtp_err_reply(err, c->verb == SMTP_VERB_RCPT
									? SMTP_ROLE_RECIPIENT
									: SMTP_ROLE_SENDER));
		if (c->arg) {
			assert_string_equal(cmd.arg, c->arg);
			assert_int_equal(cmd.arg_len, strlen(c->arg));
		}
	}
}

static void test_exact_replies(void **state)
{
	struct smtp_cmd cmd;

	(void)state;
	smtp_cmd_parse(S("FOO"), 0, &cmd);
	assert_string_equal(cmd.reply, "500 5.5.2 Command not recognized");
	smtp_cmd_parse(S("DATA x"), 0, &cmd);
	assert_string_equal(cmd.reply, "501 5.5.4 Syntax error in parameters or arguments");
	smtp_cmd_parse(S("MAIL FROM:<a@example.org> FOO=1"), ESMTP, &cmd);
	assert_string_equal(cmd.reply, "555 5.5.4 Unsupported parameter");
	smtp_cmd_parse(S("MAIL FROM:<a@example.org> SIZE=x"), ESMTP, &cmd);
	assert_string_equal(cmd.reply, "501 5.5.4 Invalid parameter");
	smtp_cmd_parse(S("MAIL FROM:<a@@example.org>"), ESMTP, &cmd);
	assert_string_equal(cmd.reply, "501 5.1.7 Bad sender address syntax");
	smtp_cmd_parse(S("RCPT TO:<b@@example.com>"), ESMTP, &cmd);
	assert_string_equal(cmd.reply, "501 5.1.3 Bad recipient address syntax");
	smtp_cmd_parse(S("RCPT TO:<pel\xc3\xa9@example.com>"), OFFERED, &cmd);
	assert_string_equal(cmd.reply, "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8");
	smtp_cmd_parse(S("NOOP\nQUIT"), 0, &cmd);
	assert_string_equal(cmd.reply, "521 5.5.2 Bare CR or LF received");
	assert_true(smtp_err_closes_session(cmd.err));
	smtp_cmd_parse(S("BDAT x"), 0, &cmd);
	assert_string_equal(cmd.reply, "501 5.5.4 Syntax: BDAT size [LAST]");
	assert_true(smtp_err_closes_session(cmd.err));
	assert_false(smtp_err_closes_session(SMTP_ERR_CMD_SYNTAX));
	assert_false(smtp_err_closes_session(SMTP_ERR_PARAM_UNKNOWN));
}

static void test_mail_params(void **state)
{
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(
		smtp_cmd_parse(S("MAIL FROM:<a@Example.org> SIZE=1000 BODY=8BITMIME"), ESMTP, &cmd),
		SMTP_OK);
	assert_string_equal(cmd.path.mailbox, "a@example.org");
	assert_string_equal(cmd.path.domain, "example.org");
	assert_true(cmd.params.has_size);
	assert_int_equal(cmd.params.size, 1000);
	assert_int_equal(cmd.params.body, SMTP_BODY_TYPE_8BITMIME);
	assert_false(cmd.params.smtputf8);

	assert_int_equal(smtp_cmd_parse(S("MAIL FROM:<> size=0 body=7bit"), ESMTP, &cmd), SMTP_OK);
	assert_true(cmd.path.null_path);
	assert_true(cmd.params.has_size);
	assert_int_equal(cmd.params.size, 0);
	assert_int_equal(cmd.params.body, SMTP_BODY_TYPE_7BIT);

	assert_int_equal(smtp_cmd_parse(S("MAIL FROM:<a@example.org>"), ESMTP, &cmd), SMTP_OK);
	assert_false(cmd.params.has_size);
	assert_int_equal(cmd.params.body, SMTP_BODY_TYPE_NONE);

	/* SIZE: the largest uint64 is exact; larger 20-digit values saturate */
	assert_int_equal(smtp_cmd_parse(S("MAIL FROM:<a@example.org> SIZE=18446744073709551615"),
					ESMTP, &cmd),
			 SMTP_OK);
	assert_int_equal(cmd.params.size, UINT64_MAX);
	assert_int_equal(smtp_cmd_parse(S("MAIL FROM:<a@example.org> SIZE=18446744073709551614"),
					ESMTP, &cmd),
			 SMTP_OK);
	assert_int_equal(cmd.params.size, UINT64_MAX - 1);
	assert_int_equal(smtp_cmd_parse(S("MAIL FROM:<a@example.org> SIZE=18446744073709551616"),
					ESMTP, &cmd),
			 SMTP_OK);
	assert_int_equal(cmd.params.size, UINT64_MAX);
	assert_int_equal(smtp_cmd_parse(S("MAIL FROM:<a@example.org> SIZE=99999999999999999999"),
					ESMTP, &cmd),
			 SMTP_OK);
	assert_int_equal(cmd.params.size, UINT64_MAX);

	assert_int_equal(
		smtp_cmd_parse(S("MAIL FROM:<pel\xc3\xa9@Example.org> SMTPUTF8"), OFFERED, &cmd),
		SMTP_OK);
	assert_true(cmd.params.smtputf8);
	assert_true(cmd.path.utf8);
	assert_string_equal(cmd.path.mailbox, "pel\xc3\xa9@example.org");

	/* source route dropped, quoted local part normalised */
	assert_int_equal(
		smtp_cmd_parse(S("MAIL FROM:<@relay.example:\"joe\"@example.org>"), ESMTP, &cmd),
		SMTP_OK);
	assert_string_equal(cmd.path.mailbox, "joe@example.org");
}

static void test_rcpt(void **state)
{
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_cmd_parse(S("RCPT TO:<postmaster>"), ESMTP, &cmd), SMTP_OK);
	assert_true(cmd.path.postmaster);
	assert_string_equal(cmd.path.mailbox, "Postmaster");
	assert_int_equal(smtp_cmd_parse(S("RCPT TO:<\"a b\"@[IPv6:2001:DB8::25]>"), ESMTP, &cmd),
			 SMTP_OK);
	assert_string_equal(cmd.path.mailbox, "\"a b\"@[IPv6:2001:db8::25]");
	assert_true(cmd.path.literal);
}

static void test_bdat(void **state)
{
	struct smtp_cmd cmd;

	(void)state;
	assert_int_equal(smtp_cmd_parse(S("BDAT 4096"), 0, &cmd), SMTP_OK);
	assert_int_equal(cmd.bdat_size, 4096);
	assert_false(cmd.bdat_last);
	assert_int_equal(smtp_cmd_parse(S("BDAT 0 LAST"), 0, &cmd), SMTP_OK);
	assert_int_equal(cmd.bdat_size, 0);
	assert_true(cmd.bdat_last);
	assert_int_equal(smtp_cmd_parse(S("BDAT 18446744073709551615 last"), 0, &cmd), SMTP_OK);
	assert_int_equal(cmd.bdat_size, UINT64_MAX);
	assert_true(cmd.bdat_last);
}

static void test_size_parser(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(smtp_cmd_parse_size(S("0"), false, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(smtp_cmd_parse_size(S("00000000000000000001"), false, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(smtp_cmd_parse_size(S(""), true, &v), -1);
	assert_int_equal(smtp_cmd_parse_size(S("1 "), true, &v), -1);
	assert_int_equal(smtp_cmd_parse_size(S("184467440737095516150"), true, &v), -1);
	assert_int_equal(smtp_cmd_parse_size(S("18446744073709551616"), false, &v), -1);
	assert_int_equal(smtp_cmd_parse_size(S("18446744073709551616"), true, &v), 0);
	assert_int_equal(v, UINT64_MAX);
}

/* A line of exactly len octets: verb prefix, then spaces, then a final tail. */
static enum smtp_err parse_padded(const char *head, const char *tail, size_t len, unsigned flags)
{
	char buf[1024];
	size_t h = strlen(head), t = strlen(tail);
	memcpy(buf, head, h);
	memset(buf + h, ' ', len - h - t);
	memcpy(buf + len - t, tail, t);
	struct smtp_cmd cmd;
	return smtp_cmd_parse(buf, len, flags, &cmd);
}

static void test_line_limits(void **state)
{
	(void)state;
	/* 512 with CRLF: 510 octets of text are fine, 511 are not */
	assert_int_equal(parse_padded("NOOP ", "x", 510, 0), SMTP_OK);
	assert_int_equal(parse_padded("NOOP ", "x", 511, 0), SMTP_ERR_LINE_TOO_LONG);
	assert_int_equal(parse_padded("RCPT TO:<b@example.com>", "NOTIFY=NEVER", 510, ESMTP),
			 SMTP_ERR_PARAM_UNKNOWN);
	assert_int_equal(parse_padded("RCPT TO:<b@example.com>", "", 511, ESMTP),
			 SMTP_ERR_LINE_TOO_LONG);
	/* MAIL gets the room of SIZE, BODY and SMTPUTF8 */
	assert_int_equal(parse_padded("MAIL FROM:<a@example.org>", "SIZE=1", 560, ESMTP), SMTP_OK);
	assert_int_equal(parse_padded("MAIL FROM:<a@example.org>", "SIZE=1", 561, ESMTP),
			 SMTP_ERR_LINE_TOO_LONG);
	assert_int_equal(parse_padded("XYZZY ", "x", 600, 0), SMTP_ERR_LINE_TOO_LONG);
	assert_int_equal(parse_padded("XYZZY ", "x", 510, 0), SMTP_ERR_CMD_UNKNOWN);
	assert_int_equal(SMTP_CMD_TEXT_MAX, 560);

	struct smtp_cmd cmd;
	char buf[600];
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "NOOP ", 5);
	smtp_cmd_parse(buf, 511, 0, &cmd);
	assert_string_equal(cmd.reply, "500 5.5.2 Line too long");
	assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
}

static void test_verb_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
	assert_string_equal(smtp_verb_name(SMTP_VERB_COUNT), "UNKNOWN");
	/* each name parses back to its verb */
	for (int v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
		char line[32];
		struct smtp_cmd cmd;
		size_t n = strlen(smtp_verb_name((enum smtp_verb)v));
		memcpy(line, smtp_verb_name((enum smtp_verb)v), n);
		smtp_cmd_parse(line, n, 0, &cmd);
		assert_int_equal(cmd.verb, v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_table),   cmocka_unit_test(test_exact_replies),
		cmocka_unit_test(test_mail_params), cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_bdat),	    cmocka_unit_test(test_size_parser),
		cmocka_unit_test(test_line_limits), cmocka_unit_test(test_verb_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
