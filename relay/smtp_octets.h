/*
 * relay/smtp_octets.h - finding the ends of lines in message content fast.
 *
 * The SMTP body parser and the client's content encoder both copy runs of
 * ordinary octets whole and look at CR, LF (and a dot at a line start) one by
 * one. The run ends at the first CR or LF; memchr finds it many octets at a
 * time where a loop over the octets would test each.
 */
#ifndef AIRLOCK_SMTP_OCTETS_H
#define AIRLOCK_SMTP_OCTETS_H

#include <stddef.h>
#include <string.h>

/* The first CR or LF in p[0..n), or NULL if there is none. */
static inline const char *smtp_next_line_octet(const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	const char *cr = memchr(p, '\r', lf ? (size_t)(lf - p) : n);
	return cr ? cr : lf;
}

#endif
