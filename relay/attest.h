/*
 * Scan attestation: the X-Airlock-Scan header the edge stamps on a scanned
 * message and the hub verifies before it accepts the message.
 *
 * Header field, version 1 (shown unfolded; tags in exactly this order):
 *
 *	X-Airlock-Scan: v=1; id=ID; t=TIME; engine=ENGINE; db=DB; verdict=VERDICT;
 *	 bh=BODYHASH; k=KEYID; s=SIGNATURE
 *
 *	v	"1"
 *	id	the edge's queue id: 1..ATTEST_ID_MAX of [A-Za-z0-9._-]
 *	t	scan time, unix seconds, decimal, no sign, no leading zero, <= 10^15
 *	engine	scanner name and version, e.g. "ClamAV 1.4.6": 1..ATTEST_TEXT_MAX
 *		printable ASCII except ';', words separated by single spaces
 *	db	signature database version, e.g. "27450": same syntax as engine
 *	verdict	"clean" (scanned, nothing found) or "unscanned" (the scanner failed
 *		and on_scanner_failure = accept let the message through). Nothing
 *		else, ever: a message that was not scanned is never stamped clean.
 *	bh	BLAKE2b-256 of the body (below), base64url without padding (43 chars)
 *	k	key id of the signing key (attest_key_id(), 16 lowercase hex digits)
 *	s	Ed25519 signature (crypto_sign_detached), base64url without padding
 *		(86 chars)
 *
 * Signed text: the octets "airlock-scan-v1\n" followed by the canonical
 * value of every tag but s, i.e. exactly
 * "v=1; id=..; t=..; engine=..; db=..; verdict=..; bh=..; k=.." with
 * "; " between tags, no trailing ';', and the values as parsed. The prefix
 * keeps these signatures from being valid for anything else signed with
 * the same key. Because the canonical text is rebuilt from the parsed
 * values, a hop that re-folds the header does not break the signature.
 *
 * Folding (RFC 5322 §2.2.3): the builder emits lines of at most
 * ATTEST_LINE_MAX octets (78) before CRLF, folding at the space after a ';'
 * and inside s, which is longer than a line (bh and s may carry folding
 * white space inside their value, which readers drop, as DKIM does for b=;
 * a folded engine or db value reads back with one space). The reader
 * unfolds (removes every CRLF that is followed by SP or HTAB), then splits on
 * ';' and trims SP/HTAB around tags and values; runs of SP/HTAB inside
 * engine and db count as one space.
 *
 * The reader rejects (fail closed): a raw value over ATTEST_VALUE_MAX
 * octets; NUL, other control characters, octets >= 0x80, CR or LF other than
 * in a fold; an empty element; an element without '='; an unknown tag; a
 * tag given twice; a tag missing; tags out of order; v other than 1; any
 * value out of its syntax; base64 of the wrong length or non-canonical.
 *
 * Body: every octet of the message after the empty line that ends the
 * header section, exactly as it is transmitted (CRLF lines, after the SMTP
 * dot-unstuffing, up to and including the CRLF before the final "."). The
 * header section ends at the first empty line: the first CRLF CRLF, or a
 * CRLF at offset 0. A message without an empty line has an empty body. Only
 * the body is hashed, not the header section: every hop (the edge's queue,
 * the hub) adds or may reorder header fields, and the header section is
 * what the stamp itself lives in. Header fields are therefore NOT covered;
 * what the stamp proves is that this body, which the scanner saw together
 * with the headers of the time, was scanned by a paired edge at time t.
 *
 * Freshness: the verifier refuses a stamp older than max_age or more than
 * max_skew in the future. If the edge stamps at scan time, max_age must be
 * longer than the edge's queue lifetime, or a message held back while the
 * hub was unreachable would be refused when it finally arrives.
 *
 * Incoming mail: attest_strip_incoming() removes every X-Airlock-* field
 * from a header section, so that only the edge's own stamp can reach the hub.
 */
#ifndef AIRLOCK_ATTEST_H
#define AIRLOCK_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "relay/attest_keys.h"

#define ATTEST_HEADER_NAME "X-Airlock-Scan"
#define ATTEST_ID_MAX	   64
#define ATTEST_TEXT_MAX	   64 /* engine, db */
#define ATTEST_TIME_MAX	   1000000000000000LL
#define ATTEST_HASH_LEN	   32	/* BLAKE2b-256 */
#define ATTEST_SIG_LEN	   64	/* crypto_sign_BYTES */
#define ATTEST_VALUE_MAX   1024 /* octets of a raw (folded) header value */
#define ATTEST_LINE_MAX	   78	/* octets of one header line the builder writes */
/* The whole header field the builder writes, CRLFs and NUL included, fits in this. */
#define ATTEST_FIELD_MAX 1024

enum attest_verdict { ATTEST_VERDICT_CLEAN = 1, ATTEST_VERDICT_UNSCANNED };

/* Every value of one stamp. Strings are NUL-terminated. */
struct attest_stamp {
	char id[ATTEST_ID_MAX + 1];
	int64_t time;
	char engine[ATTEST_TEXT_MAX + 1];
	char db[ATTEST_TEXT_MAX + 1];
	enum attest_verdict verdict;
	unsigned char body_hash[ATTEST_HASH_LEN];
	char key_id[ATTEST_KEYID_LEN + 1];
	unsigned char sig[ATTEST_SIG_LEN];
};

enum attest_result {
	ATTEST_OK = 0,
	ATTEST_MISSING,	      /* no X-Airlock-Scan field */
	ATTEST_DUPLICATE,     /* more than one X-Airlock-Scan field */
	ATTEST_MALFORMED,     /* the value does not parse */
	ATTEST_UNKNOWN_KEY,   /* no trusted key has the stamp's key id */
	ATTEST_BAD_SIGNATURE, /* no key with that id verifies the signature */
	ATTEST_STALE,	      /* older than max_age */
	ATTEST_FUTURE,	      /* more than max_skew ahead of now */
	ATTEST_BODY_MISMATCH, /* the body is not the one that was scanned */
	ATTEST_UNSCANNED,     /* valid, verdict=unscanned, and accept_unscanned is off */
};

struct attest_verify_opts {
	int64_t now;	       /* unix seconds */
	int64_t max_age;       /* seconds; a stamp with now - t > max_age is stale */
	int64_t max_skew;      /* seconds; a stamp with t - now > max_skew is refused */
	bool accept_unscanned; /* a valid verdict=unscanned stamp gives ATTEST_OK */
};

/* A short fixed name for r ("ok", "missing", "bad-signature"...), for logs. */
const char *attest_result_name(enum attest_result r);

/* "clean" / "unscanned"; NULL for a value out of range. */
const char *attest_verdict_name(enum attest_verdict v);

/*
 * Streaming reader of a whole message, fed in chunks of any size (the hub
 * feeds what it receives, the edge its spool file): hashes the body and
 * captures the X-Airlock-Scan field(s) of the header section. Lives on the
 * caller's stack; no allocation, no free needed.
 */
struct attest_stream {
	crypto_generichash_state hash;
	int state;
	size_t match;	  /* octets of "x-airlock-scan" matched at line start */
	bool capturing;	  /* inside our field (its first line or a fold) */
	unsigned nfields; /* X-Airlock-Scan fields seen */
	bool overlong;	  /* the captured value went over ATTEST_VALUE_MAX */
	size_t value_len;
	char value[ATTEST_VALUE_MAX + 2];
	bool done;
	uint64_t header_len; /* octets of the header section so far, its empty line included */
};

void attest_stream_init(struct attest_stream *s);
void attest_stream_update(struct attest_stream *s, const void *data, size_t len);

/*
 * Octets fed so far that belong to the header section, the empty line that
 * ends it included: once the body has started, the header section's length.
 */
uint64_t attest_stream_header_len(const struct attest_stream *s);

/* Ends the stream: writes the body hash into out. Call once. */
void attest_stream_body_hash(struct attest_stream *s, unsigned char out[ATTEST_HASH_LEN]);

/*
 * Ends the stream and verifies it (what attest_verify_message() does); see
 * there. Call once, instead of attest_stream_body_hash().
 */
enum attest_result attest_stream_verify(struct attest_stream *s, const struct attest_trust *trust,
					const struct attest_verify_opts *opts,
					struct attest_stamp *out, char *err, size_t errlen);

/* BLAKE2b-256 of the body of msg[0..len), as defined above. */
void attest_body_hash(const void *msg, size_t len, unsigned char out[ATTEST_HASH_LEN]);

/*
 * Signs st: sets st->key_id from signer and st->sig over the signed text.
 * Returns 0, or -1 (errno EINVAL) when a value of st is out of its syntax
 * (the caller passed a bad queue id or engine string: refuse to stamp).
 */
int attest_sign(struct attest_stamp *st, const struct attest_signer *signer);

/*
 * Writes the complete folded header field of a signed stamp,
 * "X-Airlock-Scan: v=1; ...\r\n" (its last CRLF included), into out
 * (outlen octets, NUL-terminated; ATTEST_FIELD_MAX always suffices). Returns
 * its length, or -1 (errno EINVAL for a value out of syntax, ENOSPC).
 */
int attest_format_field(const struct attest_stamp *st, char *out, size_t outlen);

/*
 * Parses a header field value (what follows "X-Airlock-Scan:", without the
 * field's final CRLF; untrusted) into *out. Returns 0, or -1 with *out
 * zeroed and a one-line reason in err (quotes no input).
 */
int attest_parse(const char *value, size_t len, struct attest_stamp *out, char *err, size_t errlen);

/*
 * Checks a parsed stamp against the hash of the body that arrived: key id
 * known, signature, then freshness, then body hash, then verdict.
 */
enum attest_result attest_verify(const struct attest_stamp *st,
				 const unsigned char body_hash[ATTEST_HASH_LEN],
				 const struct attest_trust *trust,
				 const struct attest_verify_opts *opts);

/*
 * Verifies the stamp of a whole message msg[0..len) (header section, empty
 * line, body; untrusted). out (may be NULL) gets the parsed stamp whenever
 * it parsed; err (errlen may be 0) a one-line reason when the result is not
 * ATTEST_OK.
 */
enum attest_result attest_verify_message(const void *msg, size_t len,
					 const struct attest_trust *trust,
					 const struct attest_verify_opts *opts,
					 struct attest_stamp *out, char *err, size_t errlen);

/*
 * Removes every X-Airlock-* header field (name compared case-insensitively,
 * with all its continuation lines) from the header section in buf[0..len),
 * in place. Lines end in CRLF; the first empty line ends the header section
 * and it and everything after it are kept unchanged, so the whole message
 * may be passed. A last line without CRLF is handled like any other.
 * Returns the new length; *removed (may be NULL) gets the number of fields
 * removed.
 */
size_t attest_strip_incoming(char *buf, size_t len, size_t *removed);

#endif
