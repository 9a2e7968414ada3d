/*
 * The replies an SMTP server sends when a command line, an address or the
 * message content fails to parse: one error enum shared by smtp_cmd,
 * smtp_addr and smtp_body, and one table that maps it to the exact reply
 * line (RFC 5321 reply code plus RFC 3463 enhanced status code).
 *
 * Keeping the table here means the protocol table of the server never
 * spells a parse-error reply itself, and tests can assert on the text.
 */
#ifndef AIRLOCK_SMTP_CMD_REPLY_H
#define AIRLOCK_SMTP_CMD_REPLY_H

#include <stdbool.h>

enum smtp_err {
	SMTP_OK = 0,

	/* Command line (smtp_cmd). */
	SMTP_ERR_LINE_TOO_LONG,	    /* over SMTP_CMD_LINE_MAX (or the MAIL limit) */
	SMTP_ERR_LINE_BARE_NEWLINE, /* CR or LF inside a command line; closes */
	SMTP_ERR_LINE_NUL,	    /* NUL inside a command line */
	SMTP_ERR_CMD_UNKNOWN,	    /* verb not recognised */
	SMTP_ERR_CMD_SYNTAX,	    /* arguments malformed, missing or unexpected */
	SMTP_ERR_PARAM_UNKNOWN,	    /* MAIL/RCPT parameter we do not support */
	SMTP_ERR_PARAM_SYNTAX,	    /* malformed parameter or unsupported value */
	SMTP_ERR_PARAM_DUPLICATE,   /* the same parameter twice */
	SMTP_ERR_PARAM_TOO_MANY,    /* over SMTP_CMD_PARAMS_MAX parameters */
	SMTP_ERR_BDAT_SYNTAX,	    /* BDAT size unreadable; input cannot be resynced; closes */

	/* Addresses (smtp_addr); the reply depends on the role. */
	SMTP_ERR_ADDR_SYNTAX,
	SMTP_ERR_ADDR_LOCAL_TOO_LONG,	/* local part over 64 octets */
	SMTP_ERR_ADDR_DOMAIN_TOO_LONG,	/* domain over 255 octets or a label over 63 */
	SMTP_ERR_ADDR_PATH_TOO_LONG,	/* path over 256 octets */
	SMTP_ERR_ADDR_UTF8_MALFORMED,	/* ill-formed UTF-8 (overlong, surrogate...) */
	SMTP_ERR_ADDR_UTF8_NOT_ALLOWED, /* non-ASCII without SMTPUTF8 */

	/* Message content (smtp_body). */
	SMTP_ERR_BODY_BARE_NEWLINE, /* bare CR or LF in DATA or BDAT content */
	SMTP_ERR_BODY_LINE_TOO_LONG,
	SMTP_ERR_BODY_TOO_BIG, /* also the answer to MAIL SIZE= over the limit */
	SMTP_ERR_BODY_WRITE,   /* the sink (spool writer) failed */

	/* Decided by the server from parse results, listed so the text lives here. */
	SMTP_ERR_TOO_MANY_HOPS, /* more than SMTP_BODY_HOPS_MAX Received: fields */

	SMTP_ERR_COUNT
};

/* Which address an address error is about: selects 5.1.7 or 5.1.3. */
enum smtp_role { SMTP_ROLE_SENDER = 0, SMTP_ROLE_RECIPIENT };

/*
 * The reply line for err, without CRLF, e.g. "501 5.1.3 Bad recipient address
 * syntax". role only matters for the SMTP_ERR_ADDR_* errors. Returns a static
 * string; NULL for SMTP_OK. An out-of-range err is our bug: fatal().
 */
const char *smtp_err_reply(enum smtp_err err, enum smtp_role role);

/* The three-digit reply code of err (e.g. 555); 0 for SMTP_OK. */
int smtp_err_code(enum smtp_err err);

/*
 * True when the server must close the connection after sending the reply:
 * a bare CR/LF in a command line (521, RFC 7504) and an unreadable BDAT size
 * (the length of the chunk that follows is unknown, so the rest of the input
 * can never be read as commands again).
 */
bool smtp_err_closes_session(enum smtp_err err);

/* A short stable name for logs ("addr-path-too-long"); never NULL. */
const char *smtp_err_name(enum smtp_err err);

#endif
