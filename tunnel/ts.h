/*
 * Traffic selectors as charon prints them in list-sas (local-ts / remote-ts
 * list items), parsed into address and port ranges that can be tested
 * against a connection.
 *
 * charon's printer (libstrongswan selectors/traffic_selector.c,
 * traffic_selector_printf_hook, 5.9) produces exactly:
 *
 *	ADDR/BITS | ADDR..ADDR | dynamic
 *	followed, unless protocol and ports are both "any", by
 *	"[" PROTO [ "/" PORTS ] "]"
 *
 * PROTO is the /etc/protocols name (getprotobynumber), else the number, and
 * "0" when only the ports are restricted. PORTS is one port (the
 * /etc/services name for it under that protocol, else the number), a numeric
 * range "FROM-TO", or "OPAQUE"; for ICMP and ICMPv6 the 16-bit port holds
 * type << 8 | code and is printed as "TYPE" or "TYPE(CODE)", ranges as two of
 * those joined by "-". Examples: "10.0.0.0/24[tcp/smtp]", "192.0.2.1/32[udp]",
 * "2001:db8::/64[0/1024-65535]", "192.0.2.1..192.0.2.9[ipv6-icmp/128]".
 *
 * ts_parse accepts exactly that grammar and nothing else: "dynamic" (never
 * printed for an installed CHILD_SA), host bits set behind a prefix, reversed
 * ranges, unknown protocol or service names, signs, spaces and leading zeros
 * are all refused. Protocol and service names are resolved with the local
 * /etc/protocols and /etc/services, the same files the local charon printed
 * them with.
 */
#ifndef AIRLOCK_TS_H
#define AIRLOCK_TS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest selector text ts_parse looks at; charon's longest form is ~110 bytes. */
#define TS_TEXT_MAX 160

/*
 * A parsed traffic selector. Addresses are big-endian; an IPv4 address is in
 * the first 4 bytes and the other 12 are zero. Ports: 0..65535 is "any";
 * from_port 0xffff with to_port 0 is OPAQUE (matches only when the port is
 * not asked for, see ts_contains).
 */
struct ts {
	int family; /* AF_INET or AF_INET6 */
	uint8_t from[16];
	uint8_t to[16];
	uint8_t proto; /* IP protocol number, 0 = any */
	uint16_t from_port;
	uint16_t to_port;
};

/*
 * Parses text (NUL-terminated, as charon printed it) into *out. Returns 0, or
 * -1 if the text is longer than TS_TEXT_MAX or not exactly of the grammar
 * above; *out is then zeroed.
 */
int ts_parse(const char *text, struct ts *out);

/*
 * True if the selector covers a packet of that family, address (16 bytes,
 * same layout as struct ts), protocol and port. proto 0 and port 0 mean
 * "don't care": the selector's protocol or port restriction is then not
 * checked. A caller that knows the protocol and port should pass them. An
 * OPAQUE selector covers no packet whose port is asked for.
 */
bool ts_contains(const struct ts *ts, int family, const uint8_t addr[16], uint8_t proto,
		 uint16_t port);

/*
 * Parses a plain IPv4 or IPv6 address ("192.0.2.1", "2001:db8::1") into
 * *family and addr (16 bytes, as in struct ts). Returns 0, or -1 if text is
 * not an address (nothing is written then).
 */
int ts_addr_parse(const char *text, int *family, uint8_t addr[16]);

/*
 * Extracts family, address (16 bytes, as in struct ts) and port (host order)
 * from a socket address of len bytes, as returned by accept() or
 * getsockname(). An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes
 * AF_INET, as that is the traffic the kernel's IPsec policies see. port may be
 * NULL. Returns 0, or -1 for another family or a short len.
 */
int ts_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, int *family, uint8_t addr[16],
			  uint16_t *port);

#endif
