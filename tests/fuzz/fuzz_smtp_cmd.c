/*
 * Fuzz target for relay/smtp_cmd (and smtp_addr through MAIL/RCPT). The
 * first octet gives the session flags, the rest is one command line.
 * Invariants: every error comes with the reply of its code, parsed fields
 * agree with each other, and a parsed MAIL/RCPT rebuilt from its fields
 * parses to the same result.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/smtp_cmd.h"

#include "fuzz_check.h"

/* Rebuilds a MAIL line from the parsed fields; it must parse the same. */
static void check_mail_rebuilt(const struct smtp_cmd *cmd, unsigned flags)
{
	static const char *const body[] = {"", " BODY=7BIT", " BODY=8BITMIME"};
	char line[SMTP_CMD_TEXT_MAX + 64];
	char size[40] = "";
	struct smtp_cmd again;

	if (cmd->params.has_size)
		snprintf(size, sizeof(size), " SIZE=%" PRIu64, cmd->params.size);
	int n = snprintf(line, sizeof(line), "MAIL FROM:<%s>%s%s%s", cmd->path.mailbox, size,
			 body[cmd->params.body], cmd->params.smtputf8 ? " SMTPUTF8" : "");
	CHECK(n > 0 && (size_t)n < sizeof(line));
	CHECK(smtp_cmd_parse(line, (size_t)n, flags, &again) == SMTP_OK);
	CHECK(strcmp(again.path.mailbox, cmd->path.mailbox) == 0);
	CHECK(again.params.has_size == cmd->params.has_size);
	CHECK(again.params.size == cmd->params.size);
	CHECK(again.params.body == cmd->params.body);
	CHECK(again.params.smtputf8 == cmd->params.smtputf8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] &
			 (SMTP_CMD_F_ESMTP | SMTP_CMD_F_SMTPUTF8_OFFERED | SMTP_CMD_F_SMTPUTF8_TXN);
	const char *line = (const char *)data + 1;
	size_t len = size - 1;
	struct smtp_cmd cmd;

	enum smtp_err err = smtp_cmd_parse(line, len, flags, &cmd);
	CHECK(err == cmd.err && (unsigned)err < SMTP_ERR_COUNT);
	CHECK((unsigned)cmd.verb < SMTP_VERB_COUNT);
	CHECK(cmd.arg_len <= SMTP_CMD_TEXT_MAX && cmd.arg[cmd.arg_len] == '\0');
	if (err != SMTP_OK) {
		char code[8];
		CHECK(cmd.reply != NULL && strlen(cmd.reply) > 10);
		snprintf(code, sizeof(code), "%d ", smtp_err_code(err));
		CHECK(memcmp(cmd.reply, code, 4) == 0);
		return 0;
	}
	CHECK(cmd.reply == NULL);
	CHECK(len <= SMTP_CMD_TEXT_MAX);
	CHECK(cmd.verb != SMTP_VERB_UNKNOWN);
	CHECK(strlen(cmd.arg) == cmd.arg_len); /* no NUL got through */
	CHECK(memchr(line, '\r', len) == NULL && memchr(line, '\n', len) == NULL);
	if (cmd.verb != SMTP_VERB_MAIL)
		CHECK(len <= SMTP_CMD_LINE_MAX - 2);

	switch (cmd.verb) {
	case SMTP_VERB_MAIL:
		CHECK(!cmd.path.postmaster);
		CHECK(!cmd.path.utf8 || cmd.params.smtputf8);
		CHECK(!cmd.params.smtputf8 || (flags & SMTP_CMD_F_SMTPUTF8_OFFERED));
		CHECK((flags & SMTP_CMD_F_ESMTP) || (!cmd.params.has_size && !cmd.params.smtputf8 &&
						     cmd.params.body == SMTP_BODY_TYPE_NONE));
		check_mail_rebuilt(&cmd, flags);
		break;
	case SMTP_VERB_RCPT:
		CHECK(!cmd.path.null_path);
		CHECK(!cmd.path.utf8 || (flags & SMTP_CMD_F_SMTPUTF8_TXN));
		break;
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		CHECK(cmd.arg_len == 0);
		break;
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
	case SMTP_VERB_AUTH:
		CHECK(cmd.arg_len > 0);
		break;
	default:
		break;
	}
	return 0;
}
