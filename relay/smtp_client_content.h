/*
 * Message content as our SMTP client puts it on the wire: a streaming
 * encoder fed the spooled octets in pieces of any size.
 *
 * Whatever the spool holds, every line goes out ending in CRLF: a bare LF,
 * a bare CR (one not followed by LF) and a CR as the very last octet each
 * become CRLF, so no lone CR or LF can pass through us and be read as a
 * line end by a hop after us (SMTP smuggling). Content that does not end
 * with a line end gets a final CRLF. Nothing else changes: long lines are
 * neither folded nor truncated, NUL and 8-bit octets pass.
 *
 * DATA mode also stuffs dots (RFC 5321 4.5.2: a line starting with "."
 * gets another ".") and ends with ".\r\n", so the wire always ends with
 * CRLF "." CRLF. BDAT mode does neither; its output is counted for the
 * chunk sizes by the caller.
 *
 * Output goes to a libevent evbuffer. Results never depend on how the
 * input was split.
 */
#ifndef AIRLOCK_SMTP_CLIENT_CONTENT_H
#define AIRLOCK_SMTP_CLIENT_CONTENT_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

struct smtp_content_enc {
	bool stuff_dots;  /* DATA mode */
	bool line_start;  /* the next octet starts a line */
	bool pending_cr;  /* the last octet seen was a CR; its LF may come next */
	bool any_newline; /* a bare CR or LF was turned into CRLF */
};

/* Starts a message; dot stuffing and the ".\r\n" trailer only when data_mode. */
void smtp_content_enc_init(struct smtp_content_enc *e, bool data_mode);

/* Encodes in[0..len) onto out. Returns 0, or -1 if out cannot grow (ENOMEM). */
int smtp_content_enc_feed(struct smtp_content_enc *e, const char *in, size_t len,
			  struct evbuffer *out);

/* Ends the message: the pending CR, a final CRLF, and ".\r\n" in DATA mode. */
int smtp_content_enc_finish(struct smtp_content_enc *e, struct evbuffer *out);

#endif
