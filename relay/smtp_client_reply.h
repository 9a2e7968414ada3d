/*
 * Reading what an SMTP server answers (RFC 5321 4.2), for our client: one
 * reply, possibly multi-line, parsed out of the bytes received so far, and
 * the EHLO keywords (RFC 5321 4.1.1.1) read from a parsed EHLO reply.
 *
 * The peer is untrusted, so the parser is strict and fails closed:
 * - every line ends with CRLF; a bare CR or LF, a NUL or another control
 *   octet (HT excepted) in a line is malformed;
 * - a line is "ddd-text" (more lines follow) or "ddd text" / "ddd" (last
 *   line), with d[0] in 2..5, d[1] in 0..5, d[2] in 0..9;
 * - every line of one reply carries the same code;
 * - a line is at most SMTP_REPLY_LINE_MAX octets with its CRLF and a reply
 *   at most SMTP_REPLY_LINES_MAX lines.
 * Octets >= 0x80 are kept (RFC 6531 servers may send UTF-8 text); callers
 * quote the text before logging it.
 *
 * The parser keeps no state between calls: it is given everything received
 * and not yet consumed, and says how much of it one complete reply took. So
 * the result never depends on how the input was split into segments.
 */
#ifndef AIRLOCK_SMTP_CLIENT_REPLY_H
#define AIRLOCK_SMTP_CLIENT_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF. */
#define SMTP_REPLY_LINE_MAX 512
/* Most lines we take in one reply; EHLO answers have about a dozen. */
#define SMTP_REPLY_LINES_MAX 64
/* Room for the text of a whole reply: lines without code, joined by '\n'. */
#define SMTP_REPLY_TEXT_MAX (SMTP_REPLY_LINES_MAX * (SMTP_REPLY_LINE_MAX - 5))
/* The most input one reply can span; more without a complete reply is malformed. */
#define SMTP_REPLY_INPUT_MAX (SMTP_REPLY_LINES_MAX * SMTP_REPLY_LINE_MAX)

struct smtp_reply {
	int code;	 /* 200..559 */
	unsigned nlines; /* 1..SMTP_REPLY_LINES_MAX */
	/*
	 * The text of every line after its "ddd-" / "ddd ", joined with '\n'
	 * (no CR, no LF at the end), NUL-terminated. The first line starts at
	 * text[0]; line_off[i] is where line i starts.
	 */
	char text[SMTP_REPLY_TEXT_MAX + 1];
	size_t text_len;
	uint16_t line_off[SMTP_REPLY_LINES_MAX];
};

enum smtp_reply_status {
	SMTP_REPLY_NEED_MORE = 0, /* no complete reply yet, nothing wrong so far */
	SMTP_REPLY_DONE,	  /* *out holds one reply; *used octets belong to it */
	SMTP_REPLY_MALFORMED,	  /* the peer broke the syntax: give up on the connection */
};

/*
 * Parses the first reply in buf[0..len). On SMTP_REPLY_DONE fills *out and
 * sets *used to the octets it spanned (the caller drains them; what follows
 * is the next reply). On NEED_MORE and MALFORMED *out is unspecified and
 * *used is 0. A prefix of a valid reply is NEED_MORE only while it can
 * still become valid: a line over the limit without its CRLF, or a
 * SMTP_REPLY_LINES_MAX-th line that says more follow, is MALFORMED at once.
 * No allocation; never fails otherwise.
 */
enum smtp_reply_status smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *out,
					size_t *used);

/* The text of line i (0-based, i < nlines) of r, and its length in *len. */
const char *smtp_reply_line(const struct smtp_reply *r, unsigned i, size_t *len);

/*
 * Writes r as one line for logs and results: "code text" with the lines
 * joined by " / ", truncated to fit outsz (always NUL-terminated).
 */
void smtp_reply_format(const struct smtp_reply *r, char *out, size_t outsz);

/* What the server offers, from its EHLO reply. */
struct smtp_caps {
	bool pipelining;   /* RFC 2920 */
	bool chunking;	   /* RFC 3030 BDAT */
	bool size;	   /* RFC 1870 */
	uint64_t size_max; /* SIZE n; 0 when not given or 0 (no fixed limit) */
	bool eightbitmime; /* RFC 6152 */
	bool smtputf8;	   /* RFC 6531 */
	bool starttls;	   /* RFC 3207 */
	bool enhanced;	   /* RFC 2034 ENHANCEDSTATUSCODES */
};

/*
 * Reads the keywords from lines 1.. of a 250 EHLO reply (line 0 is the
 * server's name) into *caps, all false first. Keywords are matched without
 * regard to case; unknown ones are ignored. A SIZE value that is not a
 * decimal number, or is too big for 64 bits, counts as "no fixed limit".
 */
void smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps);

#endif
