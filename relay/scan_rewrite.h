/*
 * The header section of a message as the scan process reads and edits it:
 * the fields a transport rule matches on, and the header edits its actions
 * ask for (add_header, remove_header, prepend_subject).
 *
 * Input is a whole message (untrusted): CRLF lines, the header section up to
 * the first empty line (the first CRLF CRLF, or a CRLF at offset 0), then
 * the body, which is never looked at and always kept byte for byte. A
 * message without an empty line is all header section. Only CRLF ends a
 * line (a bare CR or LF is part of it, as in attest.h). A field starts at a
 * line that does not begin with SP or HTAB; its continuation lines follow.
 * A line without a colon (not a valid field) is kept as it is and is not
 * listed. A last line without CRLF is handled like any other.
 */
#ifndef AIRLOCK_SCAN_REWRITE_H
#define AIRLOCK_SCAN_REWRITE_H

#include <stddef.h>

#include "policy/transport_rules.h"

/* Fields listed for the rules; more are ignored (the rules see the first ones). */
#define SCAN_HEADERS_MAX 256
/* Octets of one unfolded value kept for the rules; the rest is cut off. */
#define SCAN_HEADER_VALUE_MAX 4096

/* The fields of a header section, for struct rules_msg. */
struct scan_headers {
	struct rules_header *fields; /* nfields; names and values owned by this struct */
	size_t nfields;
};

/*
 * Lists the fields of msg[0..len): each name (without the colon) and its
 * value unfolded (every CRLF followed by SP or HTAB removed), with the white
 * space after the colon and at the end trimmed, and cut to
 * SCAN_HEADER_VALUE_MAX octets. NUL octets become spaces. Returns 0, or -1
 * when memory runs out (out is then empty). Free with scan_headers_free().
 */
int scan_headers_parse(const char *msg, size_t len, struct scan_headers *out);

void scan_headers_free(struct scan_headers *h);

/*
 * Applies the header actions among acts[0..n) (others are skipped) to
 * msg[0..len) and writes the new message to *out (malloc'd, gets owned by
 * the caller; *outlen its length). Order of effect: every remove_header
 * removes the fields of that name that arrived (case-insensitive, with their
 * continuation lines); the first prepend_subject puts its text before the
 * value of the first Subject: field that is left, or adds "Subject: TEXT"
 * when there is none (later ones go before that); every add_header adds
 * "Name: value" at the top of the header section, in the order given. The
 * actions' texts were checked when the rules were built (no CR, LF or
 * control characters). Returns the number of actions applied (0: *out is a
 * copy), or -1 when memory runs out.
 */
int scan_rewrite_headers(const char *msg, size_t len, const struct rules_action *const *acts,
			 size_t n, char **out, size_t *outlen);

#endif
