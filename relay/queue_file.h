/*
 * The on-disk format of one queued message, and queue ids.
 *
 * A queue file is a text envelope, one empty line, then the message content
 * exactly as it will be re-sent: CRLF lines, not dot-stuffed, our Received:
 * header already at the top. The envelope is written by the smtp process and
 * read back by the queue process, which treats it as untrusted input: the
 * reader fails closed on anything the writer would not have produced.
 *
 * Envelope, version 1. Every line is "KEY SP VALUE LF" (LF alone, no CR):
 *
 *	airlock-queue 1			first line: magic and format version
 *	id 7KQ2M0X9ZC4TDV1R8HNB		QUEUE_ID_LEN characters, queue_id_valid()
 *	arrived 1767225600		unix seconds, decimal, no sign, no leading 0
 *	client 198.51.100.10		client address, 1..QUEUE_CLIENT_MAX octets
 *	helo mail.example.org		HELO/EHLO argument, 0..QUEUE_HELO_MAX octets
 *	tls yes				"yes" or "no"
 *	smtputf8 no			"yes" or "no"
 *	body 8bitmime			"none", "7bit" or "8bitmime"
 *	from user@example.org		reverse-path without <>; empty for <>
 *	rcpt a@example.com		forward-path without <>, once per recipient,
 *	rcpt b@example.com		1..QUEUE_RCPT_MAX of them, in RCPT order
 *	hold expired after 5 days	optional: the reason a held message is held
 *	pad ........			optional, repeatable: dots only, ignored; room
 *					kept so that the envelope can be written
 *					again in place (queue_envelope_format_size)
 *	(empty line)
 *	message content...
 *
 * The writer emits the keys in this order; the reader accepts any order of
 * the single keys (rcpt lines keep their relative order, which gives each
 * recipient its index). The reader rejects, with a message saying what and
 * on which line: a missing or wrong first line (another version is
 * "unsupported"), an unknown key, a single key given twice, a pad value
 * other than dots, a required key
 * missing, a line without the space after the key, a line longer than
 * QUEUE_LINE_MAX octets with its LF, a CR or NUL anywhere in the envelope,
 * a value out of its syntax or length, no recipient or more than
 * QUEUE_RCPT_MAX, and an envelope with no empty line within the first
 * QUEUE_ENVELOPE_MAX octets. Values are otherwise opaque octets: they were
 * checked by the SMTP parsers before they were queued.
 *
 * Values can never inject lines: the writer refuses CR, LF and NUL in every
 * value (and over-long values) instead of escaping them.
 */
#ifndef AIRLOCK_QUEUE_FILE_H
#define AIRLOCK_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_FORMAT_VERSION 1
/* Queue ids: QUEUE_ID_LEN characters of QUEUE_ID_ALPHABET (100 random bits). */
#define QUEUE_ID_LEN 20
#define QUEUE_ID_MAX QUEUE_ID_LEN
/* Crockford's base32: digits and upper-case letters without I, L, O, U. */
#define QUEUE_ID_ALPHABET "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#define QUEUE_CLIENT_MAX 63   /* octets of the client address value */
#define QUEUE_HELO_MAX	 255  /* octets of the helo value (RFC 5321 domain) */
#define QUEUE_VALUE_MAX	 1000 /* octets of from, each rcpt, hold */
#define QUEUE_LINE_MAX	 1024 /* octets of one envelope line, LF included */
#define QUEUE_RCPT_MAX	 1000 /* recipients per message */
/* Envelope size cap for readers: every line at its longest, plus the empty line. */
#define QUEUE_ENVELOPE_MAX ((QUEUE_RCPT_MAX + 16) * QUEUE_LINE_MAX)

enum queue_body { QUEUE_BODY_NONE = 0, QUEUE_BODY_7BIT, QUEUE_BODY_8BITMIME };

/*
 * One message's envelope. Strings are NUL-terminated. Every pointer member
 * is owned by the struct and released by queue_envelope_free() with free():
 * an envelope filled by queue_envelope_parse() or queue_msg_open() owns its
 * memory; one built by a caller must use malloc'd strings (the setters below
 * do that) if it is to be freed with queue_envelope_free().
 */
struct queue_envelope {
	char id[QUEUE_ID_MAX + 1];
	int64_t arrived; /* unix seconds */
	char client_addr[QUEUE_CLIENT_MAX + 1];
	char helo[QUEUE_HELO_MAX + 1];
	bool tls;
	char *from;   /* "" for the null reverse-path <> */
	char **rcpts; /* nrcpts strings */
	size_t nrcpts;
	bool smtputf8;
	enum queue_body body;
	char *hold_reason; /* NULL unless the message is held */
	/*
	 * Delivery progress, filled only by queue_msg_open(): nrcpts flags,
	 * rcpt_done[i] true when rcpts[i] was already delivered. NULL elsewhere;
	 * never written to the file.
	 */
	bool *rcpt_done;
};

/* Frees every pointer member and zeroes *env. NULL is accepted. */
void queue_envelope_free(struct queue_envelope *env);

/*
 * Setters that copy their argument into malloc'd memory owned by env.
 * Return 0, or -1 (errno ENOMEM, or EINVAL when QUEUE_RCPT_MAX recipients
 * are already there). They do not check the value; queue_envelope_format()
 * does.
 */
int queue_envelope_set_from(struct queue_envelope *env, const char *from);
int queue_envelope_add_rcpt(struct queue_envelope *env, const char *rcpt);
int queue_envelope_set_hold_reason(struct queue_envelope *env, const char *reason);

/*
 * Writes the envelope of env, including its ending empty line, into a new
 * malloc'd buffer: *out gets owned by the caller (free()), *len is its length
 * (no NUL is counted; one follows). Returns 0, or -1 with errno EINVAL when
 * a value contains CR, LF or NUL, is too long or empty where it must not be,
 * the id is not valid, arrived is negative, body is out of range, or there
 * is no recipient or more than QUEUE_RCPT_MAX; ENOMEM. On -1, *out is NULL.
 * rcpt_done is ignored.
 */
int queue_envelope_format(const struct queue_envelope *env, char **out, size_t *len);

/* Octets of the shortest pad line: "pad", SP, no dot, LF. */
#define QUEUE_PAD_LINE_MIN 5

/*
 * The same, padded with pad lines (before the empty line) to exactly size
 * octets. Fails with errno ENOSPC when that cannot be done: size is 0, less
 * than the unpadded envelope, more than QUEUE_ENVELOPE_MAX, or leaves 1 to
 * QUEUE_PAD_LINE_MIN - 1 octets (too few for a pad line); else as above.
 */
int queue_envelope_format_size(const struct queue_envelope *env, size_t size, char **out,
			       size_t *len);

/*
 * The same, with pad octets of pad lines (0: none, as
 * queue_envelope_format(); 1 to QUEUE_PAD_LINE_MIN - 1 are rounded up to
 * QUEUE_PAD_LINE_MIN). ENOSPC when the whole would pass QUEUE_ENVELOPE_MAX.
 */
int queue_envelope_format_pad(const struct queue_envelope *env, size_t pad, char **out,
			      size_t *len);

/*
 * Parses the envelope at the start of buf[0..len) (which may go on with the
 * content; only the first QUEUE_ENVELOPE_MAX octets are looked at). On
 * success returns 0, fills *env (owned by the caller, release with
 * queue_envelope_free(); rcpt_done is NULL) and sets *content_offset to the
 * first octet after the empty line. On failure returns -1, leaves *env
 * zeroed and writes a one-line reason into err (errlen octets, may be 0);
 * the reason quotes no input octets other than [a-z0-9-] and digits.
 */
int queue_envelope_parse(const char *buf, size_t len, struct queue_envelope *env,
			 size_t *content_offset, char *err, size_t errlen);

/* A new random queue id (libsodium randombytes), NUL-terminated. */
void queue_id_new(char out[QUEUE_ID_MAX + 1]);

/*
 * True when id is exactly QUEUE_ID_LEN characters of QUEUE_ID_ALPHABET,
 * which makes it safe as a file name and in a log line. NULL is invalid.
 */
bool queue_id_valid(const char *id);

#endif
