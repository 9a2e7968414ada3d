/*
 * Reply table for SMTP parse errors. Codes follow notes/smtp.md: syntax
 * 501 5.5.4, unknown parameter 555 5.5.4, sender/recipient syntax
 * 501 5.1.7/5.1.3, UTF-8 without SMTPUTF8 553 5.6.7, bare newline 521/550
 * 5.5.2, too big 552 5.3.4, write error 451 4.3.0, hops 554 5.4.0.
 */
#include "relay/smtp_cmd_reply.h"

#include "common/log.h"

struct smtp_err_row {
	const char *name;
	int code;
	bool closes;
	const char *sender;    /* reply for SMTP_ROLE_SENDER (and all non-address errors) */
	const char *recipient; /* reply for SMTP_ROLE_RECIPIENT; NULL: same as sender */
};

static const struct smtp_err_row smtp_err_table[SMTP_ERR_COUNT] = {
	[SMTP_OK] = {"ok", 0, false, NULL, NULL},
	[SMTP_ERR_LINE_TOO_LONG] = {"line-too-long", 500, false, "500 5.5.2 Line too long", NULL},
	[SMTP_ERR_LINE_BARE_NEWLINE] = {"line-bare-newline", 521, true,
					"521 5.5.2 Bare CR or LF received", NULL},
	[SMTP_ERR_LINE_NUL] = {"line-nul", 500, false, "500 5.5.2 NUL character in command", NULL},
	[SMTP_ERR_CMD_UNKNOWN] = {"cmd-unknown", 500, false, "500 5.5.2 Command not recognized",
				  NULL},
	[SMTP_ERR_CMD_SYNTAX] = {"cmd-syntax", 501, false,
				 "501 5.5.4 Syntax error in parameters or arguments", NULL},
	[SMTP_ERR_PARAM_UNKNOWN] = {"param-unknown", 555, false, "555 5.5.4 Unsupported parameter",
				    NULL},
	[SMTP_ERR_PARAM_SYNTAX] = {"param-syntax", 501, false, "501 5.5.4 Invalid parameter", NULL},
	[SMTP_ERR_PARAM_DUPLICATE] = {"param-duplicate", 501, false,
				      "501 5.5.4 Duplicate parameter", NULL},
	[SMTP_ERR_PARAM_TOO_MANY] = {"param-too-many", 501, false, "501 5.5.4 Too many parameters",
				     NULL},
	[SMTP_ERR_BDAT_SYNTAX] = {"bdat-syntax", 501, true, "501 5.5.4 Syntax: BDAT size [LAST]",
				  NULL},
	[SMTP_ERR_ADDR_SYNTAX] = {"addr-syntax", 501, false, "501 5.1.7 Bad sender address syntax",
				  "501 5.1.3 Bad recipient address syntax"},
	[SMTP_ERR_ADDR_LOCAL_TOO_LONG] = {"addr-local-too-long", 501, false,
					  "501 5.1.7 Sender local part too long",
					  "501 5.1.3 Recipient local part too long"},
	[SMTP_ERR_ADDR_DOMAIN_TOO_LONG] = {"addr-domain-too-long", 501, false,
					   "501 5.1.7 Sender domain too long",
					   "501 5.1.3 Recipient domain too long"},
	[SMTP_ERR_ADDR_PATH_TOO_LONG] = {"addr-path-too-long", 501, false,
					 "501 5.1.7 Sender path too long",
					 "501 5.1.3 Recipient path too long"},
	[SMTP_ERR_ADDR_UTF8_MALFORMED] = {"addr-utf8-malformed", 501, false,
					  "501 5.1.7 Malformed UTF-8 in sender address",
					  "501 5.1.3 Malformed UTF-8 in recipient address"},
	[SMTP_ERR_ADDR_UTF8_NOT_ALLOWED] = {"addr-utf8-not-allowed", 553, false,
					    "553 5.6.7 Non-ASCII sender address requires SMTPUTF8",
					    "553 5.6.7 Non-ASCII recipient address requires "
					    "SMTPUTF8"},
	[SMTP_ERR_BODY_BARE_NEWLINE] = {"body-bare-newline", 550, false,
					"550 5.5.2 Bare CR or LF in message content", NULL},
	[SMTP_ERR_BODY_LINE_TOO_LONG] = {"body-line-too-long", 550, false,
					 "550 5.5.2 Message line longer than 1000 octets", NULL},
	[SMTP_ERR_BODY_TOO_BIG] = {"body-too-big", 552, false,
				   "552 5.3.4 Message size exceeds fixed limit", NULL},
	[SMTP_ERR_BODY_WRITE] = {"body-write", 451, false, "451 4.3.0 Error writing message", NULL},
	[SMTP_ERR_TOO_MANY_HOPS] = {"too-many-hops", 554, false,
				    "554 5.4.0 Too many hops (mail loop?)", NULL},
};

static const struct smtp_err_row *smtp_err_row(enum smtp_err err)
{
	if ((unsigned)err >= SMTP_ERR_COUNT)
		fatal("smtp_err %d out of range", (int)err);
	return &smtp_err_table[err];
}

const char *smtp_err_reply(enum smtp_err err, enum smtp_role role)
{
	const struct smtp_err_row *row = smtp_err_row(err);

	if (role == SMTP_ROLE_RECIPIENT && row->recipient)
		return row->recipient;
	return row->sender;
}

int smtp_err_code(enum smtp_err err)
{
	return smtp_err_row(err)->code;
}

bool smtp_err_closes_session(enum smtp_err err)
{
	return smtp_err_row(err)->closes;
}

const char *smtp_err_name(enum smtp_err err)
{
	if ((unsigned)err >= SMTP_ERR_COUNT)
		return "invalid";
	return smtp_err_table[err].name;
}
