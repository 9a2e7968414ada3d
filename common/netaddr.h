/*
 * "address:port" text as written in airlock.conf: "192.0.2.1:25",
 * "[2001:db8::1]:25", "0.0.0.0:25", "[::]:25". Addresses are numeric only:
 * nothing here resolves names, so parsing never blocks and never depends on
 * DNS.
 */
#ifndef AIRLOCK_NETADDR_H
#define AIRLOCK_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Parses text into *ss / *len. Returns 0, or -1 if it is not a numeric IPv4
 * address or a bracketed IPv6 address followed by ":" and a port 1..65535.
 */
int netaddr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* Formats a socket address as netaddr_parse accepts it; out gets at most outsz bytes. */
const char *netaddr_format(const struct sockaddr *sa, socklen_t len, char *out, size_t outsz);

#endif
