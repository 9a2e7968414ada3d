/*
 * SMTP command line parsing (RFC 5321 4.1, RFC 1870, RFC 6152, RFC 6531,
 * RFC 3030): one line in, a verb and its checked arguments out, or an error
 * with the exact reply to send (see smtp_cmd_reply.h).
 *
 * The input is one line WITHOUT its CRLF: the framing layer splits the
 * stream at CRLF and refuses bare CR/LF itself; a CR, LF or NUL that still
 * reaches the parser is refused here too.
 *
 * Meant for a server written as a protocol table: the server looks up the
 * row of cmd.verb ({verb, check(), proceed()}), and check()/proceed() read
 * the already parsed fields, so no row ever parses text again.
 *
 * Decisions, so that a reader need not guess:
 * - Verbs are matched case-insensitively; "MAIL FROM:" and "RCPT TO:" too.
 * - Between "FROM:"/"TO:" and the path, spaces are tolerated (a common client
 *   mistake that is not ambiguous); between parameters, runs of spaces too.
 *   Trailing spaces and tabs at the end of a line are ignored.
 * - MAIL parameters: SIZE=n (1*20DIGIT; values above UINT64_MAX saturate so
 *   the size check answers 552 5.3.4), BODY=7BIT|8BITMIME (other values:
 *   501 5.5.4; BINARYMIME is not offered), SMTPUTF8 (no value; only when the
 *   server offers it). Any other keyword, including AUTH, RET, ENVID: 555.
 * - RCPT parameters: none. NOTIFY and ORCPT are refused with 555 because we
 *   do not offer DSN; accepting and ignoring them would silently break the
 *   client's delivery-notification request.
 * - After HELO (no ESMTP), any MAIL/RCPT parameter is refused with 555.
 * - esmtp-value may hold UTF-8 (RFC 6531 3.3) only when the transaction uses
 *   SMTPUTF8; it must be well-formed.
 * - Duplicate parameters: 501. More than SMTP_CMD_PARAMS_MAX: 501.
 */
#ifndef AIRLOCK_SMTP_CMD_H
#define AIRLOCK_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/smtp_addr.h"
#include "relay/smtp_cmd_reply.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF. */
#define SMTP_CMD_LINE_MAX 512
/*
 * Extra room for MAIL FROM granted by the extensions we offer: SIZE 26
 * octets (RFC 1870), BODY 14 (RFC 6152), SMTPUTF8 10 (RFC 6531).
 */
#define SMTP_CMD_MAIL_PARAM_ROOM (26 + 14 + 10)
#define SMTP_CMD_MAIL_LINE_MAX	 (SMTP_CMD_LINE_MAX + SMTP_CMD_MAIL_PARAM_ROOM)
/*
 * The longest line without CRLF that any command may have. The framing
 * layer must be able to buffer this much; a longer line is refused with
 * SMTP_ERR_LINE_TOO_LONG by the framing layer or by smtp_cmd_parse().
 */
#define SMTP_CMD_TEXT_MAX (SMTP_CMD_MAIL_LINE_MAX - 2)
/* Most ESMTP parameters one MAIL or RCPT may carry. */
#define SMTP_CMD_PARAMS_MAX 8
/* SIZE and BDAT sizes have at most this many digits (RFC 1870 size-value). */
#define SMTP_CMD_SIZE_DIGITS_MAX 20

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_COUNT
};

/* Session facts the parser needs, or'ed into the flags argument. */
enum smtp_cmd_flags {
	SMTP_CMD_F_ESMTP = 1 << 0,	      /* the client said EHLO: parameters allowed */
	SMTP_CMD_F_SMTPUTF8_OFFERED = 1 << 1, /* we advertised SMTPUTF8 */
	SMTP_CMD_F_SMTPUTF8_TXN = 1 << 2,     /* this transaction's MAIL carried SMTPUTF8 */
};

enum smtp_body_type { SMTP_BODY_TYPE_NONE = 0, SMTP_BODY_TYPE_7BIT, SMTP_BODY_TYPE_8BITMIME };

/* Parameters of MAIL FROM we support; all zero when absent. */
struct smtp_mail_params {
	bool has_size;
	uint64_t size; /* SIZE=; UINT64_MAX when the value did not fit */
	enum smtp_body_type body;
	bool smtputf8;
};

/*
 * A parsed command. Owns all its data (no pointers into the input line),
 * so the line buffer may be reused at once.
 */
struct smtp_cmd {
	enum smtp_verb verb; /* set even when err != SMTP_OK, if recognised */
	/*
	 * Text after the verb and its separating space, trailing blanks
	 * removed, NUL-terminated: the EHLO/HELO domain, the VRFY/EXPN/HELP/
	 * NOOP/AUTH argument, the whole "FROM:<...> ..." of MAIL.
	 */
	char arg[SMTP_CMD_TEXT_MAX + 1];
	size_t arg_len;
	struct smtp_addr path;		/* MAIL (reverse-path), RCPT (forward-path) */
	struct smtp_mail_params params; /* MAIL */
	uint64_t bdat_size;		/* BDAT */
	bool bdat_last;			/* BDAT ... LAST */
	enum smtp_err err;
	/*
	 * The reply line to send for err, without CRLF (static string, from
	 * smtp_err_reply() with the role of the command); NULL when err is
	 * SMTP_OK. Check smtp_err_closes_session(err) after sending it.
	 */
	const char *reply;
};

/*
 * Parses one command line line[0..len) (no CRLF, need not be NUL-terminated)
 * into *cmd, given the session facts in flags (enum smtp_cmd_flags).
 *
 * Returns cmd->err: SMTP_OK, or the first error found. On error the other
 * fields of *cmd hold what was parsed before it (verb in particular) and
 * must not be acted on. Never fails for any other reason; no allocation.
 *
 * Argument rules per verb: EHLO, HELO, VRFY, EXPN, AUTH need an argument
 * (not checked further; see smtp_addr_check_domain() for EHLO); NOOP and
 * HELP take an optional one; DATA, RSET, QUIT, STARTTLS take none.
 */
enum smtp_err smtp_cmd_parse(const char *line, size_t len, unsigned flags, struct smtp_cmd *cmd);

/* The verb as the RFC spells it ("EHLO"), "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/*
 * Parses a decimal number of 1 to SMTP_CMD_SIZE_DIGITS_MAX digits spanning
 * s[0..len). Values above UINT64_MAX saturate when saturate is true, else
 * fail. Returns 0 and sets *out, or -1 (empty, non-digit, too many digits,
 * overflow without saturate).
 */
int smtp_cmd_parse_size(const char *s, size_t len, bool saturate, uint64_t *out);

#endif
