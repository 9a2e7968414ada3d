/*
 * Message content reader for DATA (RFC 5321 4.1.1.4, 4.5.2) and BDAT
 * (RFC 3030): a streaming state machine, fed arbitrary chunks of the input
 * (down to one octet at a time), that passes the message octets to a sink
 * and says exactly where the content ended, so that the bytes after it (the
 * next pipelined commands) are neither lost nor eaten. Results never depend
 * on how the input was split.
 *
 * DATA: end of data is exactly CRLF "." CRLF. The CRLF that ended the DATA
 * command counts as the first CRLF, so content ".\r\n" is an empty message.
 * A line starting with "." has that "." removed unless the line is just
 * "." (RFC 5321 4.5.2), so "..foo" becomes ".foo". Only a CRLF starts a
 * line: a "." after a bare CR or LF is content, never a terminator and never
 * unstuffed.
 *
 * BDAT: each chunk is exactly the announced number of octets, no dot
 * handling; the message ends with the chunk marked LAST. A CRLF may be split
 * across chunks. A CR that is the last octet of the LAST chunk is bare.
 *
 * Bare CR and bare LF (a CR not followed by LF, an LF not preceded by CR):
 * - strict (default): the message is rejected with SMTP_ERR_BODY_BARE_NEWLINE
 *   (550 5.5.2);
 * - normalise: each bare LF and each bare CR is stored as CRLF. Bare CR is
 *   treated like bare LF (Postfix keeps bare CR as data; we do not) so that
 *   no lone CR or LF ever reaches the spool, and so no hop after us can be
 *   tricked by one. Normalising never changes where the content ends.
 *
 * Lines longer than SMTP_BODY_LINE_MAX octets with CRLF (RFC 5321
 * 4.5.3.1.6, counted after unstuffing): rejected with
 * SMTP_ERR_BODY_LINE_TOO_LONG (550 5.5.2) unless allow_long_lines is set,
 * in which case they are stored unchanged and flagged in the result (our
 * client never truncates or folds them).
 *
 * Size: the stored octets (after unstuffing and normalising, CRLF counted
 * as two, RFC 1870) are counted against max_size; going over gives
 * SMTP_ERR_BODY_TOO_BIG (552 5.3.4).
 *
 * After any error the machine stops calling the sink and stops counting,
 * but keeps reading to the end of the content (CRLF.CRLF, or the end of the
 * current chunk) so the session stays in sync; the first error is kept.
 * The caller discards whatever the sink already received.
 *
 * All other octets (NUL and 8-bit included) are content and pass unchanged;
 * checking them against BODY=7BIT or MIME rules is not done here.
 *
 * Hops: "Received:" fields are counted in the header section, which ends
 * at the first empty line; the caller compares with SMTP_BODY_HOPS_MAX.
 */
#ifndef AIRLOCK_SMTP_BODY_H
#define AIRLOCK_SMTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/smtp_cmd_reply.h"

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define SMTP_BODY_LINE_MAX 1000
/* notes/smtp.md: more Received: fields than this is a loop, 554 5.4.0. */
#define SMTP_BODY_HOPS_MAX 50

enum smtp_body_mode { SMTP_BODY_DATA = 0, SMTP_BODY_BDAT };

struct smtp_body_opts {
	uint64_t max_size;     /* octets; 0 means no limit */
	bool normalise;	       /* bare CR/LF become CRLF instead of an error */
	bool allow_long_lines; /* lines over SMTP_BODY_LINE_MAX are flagged, not refused */
};

/*
 * Receives message octets, in order, in pieces of any size. Returns 0, or
 * -1 when it cannot take them (disk full...): the message then fails with
 * SMTP_ERR_BODY_WRITE and the sink is not called again.
 */
typedef int (*smtp_body_sink_fn)(void *arg, const char *data, size_t len);

struct smtp_body;

enum smtp_body_status {
	SMTP_BODY_MORE = 0,   /* all input consumed, the content goes on */
	SMTP_BODY_CHUNK_DONE, /* BDAT: the current (not LAST) chunk is complete */
	SMTP_BODY_END,	      /* the message is complete (CRLF.CRLF, or LAST chunk) */
};

struct smtp_body_result {
	enum smtp_err err;	/* SMTP_OK or the first error */
	uint64_t size;		/* octets stored before any error */
	unsigned received;	/* Received: fields in the header section, saturating */
	bool long_lines;	/* a line over SMTP_BODY_LINE_MAX was stored (allow_long_lines) */
	uint64_t bare_newlines; /* bare CR/LF turned into CRLF (normalise) */
	bool ended;		/* SMTP_BODY_END has been returned */
};

/*
 * Creates a reader for one message. opts is copied; NULL means defaults
 * (strict, no size limit, long lines refused). sink may be NULL to discard
 * the content (after an earlier refusal, say); sink_arg is passed to it.
 * Returns NULL if memory is exhausted. Free with smtp_body_free().
 */
struct smtp_body *smtp_body_new(enum smtp_body_mode mode, const struct smtp_body_opts *opts,
				smtp_body_sink_fn sink, void *sink_arg);

/* Frees b (NULL is fine). Nothing is flushed to the sink. */
void smtp_body_free(struct smtp_body *b);

/*
 * BDAT mode: announces the next chunk of size octets (last: it carried
 * LAST). Call it for every BDAT command, also after an error, so that the
 * chunk is read and discarded. Calling it in DATA mode, while a chunk is
 * still incomplete, or after the message ended is our bug: fatal().
 */
void smtp_body_bdat_chunk(struct smtp_body *b, uint64_t size, bool last);

/*
 * Feeds len octets of input. Sets *consumed to how many of them belong to
 * the content; data[*consumed..len) is the start of what follows (the
 * next commands) and must be kept by the caller. Before returning, every
 * octet that can be known to be content is passed to the sink (a CR is
 * held back until the next octet shows whether it starts a CRLF, and the
 * "." of a line start until the line is known not to be the terminator).
 *
 * Returns SMTP_BODY_MORE when everything was consumed and more is needed,
 * SMTP_BODY_CHUNK_DONE / SMTP_BODY_END as described above. A zero-octet
 * BDAT chunk completes on the first call, even with len 0. Feeding after
 * SMTP_BODY_END, or in BDAT mode without an announced chunk, is our bug:
 * fatal().
 */
enum smtp_body_status smtp_body_feed(struct smtp_body *b, const char *data, size_t len,
				     size_t *consumed);

/*
 * Current totals and the first error; final once SMTP_BODY_END was
 * returned. The reply for result->err is smtp_err_reply(err, SMTP_ROLE_SENDER).
 */
void smtp_body_result(const struct smtp_body *b, struct smtp_body_result *result);

#endif
