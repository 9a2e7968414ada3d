/*
 * Traffic selector parsing and matching; the grammar is described in ts.h.
 */
#include "tunnel/ts.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>

#define PROTO_ICMP   1
#define PROTO_ICMPV6 58
/* Protocol and service names in /etc/protocols and /etc/services are short. */
#define TS_NAME_MAX 64

/* Strict decimal: 1..len digits, no sign, no leading zero unless "0", <= max. */
static int parse_dec(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
		return -1;
	unsigned long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return len > 0;
}

/* Names as they appear in /etc/protocols and /etc/services. */
static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len >= TS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '+'))
			return false;
	}
	return true;
}

/* Parses an address of len bytes; the family follows from the text. */
static int parse_addr(const char *s, size_t len, int *family, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		      c == ':' || c == '.'))
			return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	uint8_t tmp[16] = {0};
	int fam = memchr(buf, ':', len) ? AF_INET6 : AF_INET;
	if (inet_pton(fam, buf, tmp) != 1)
		return -1;
	*family = fam;
	memcpy(addr, tmp, 16);
	return 0;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* "ADDR/BITS" or "ADDR..ADDR". */
static int parse_range(const char *s, size_t len, struct ts *out)
{
	const char *dots = NULL;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] == '.' && s[i + 1] == '.') {
			dots = s + i;
			break;
		}
	}
	if (dots) {
		int fam_to;
		if (parse_addr(s, (size_t)(dots - s), &out->family, out->from) < 0 ||
		    parse_addr(dots + 2, len - (size_t)(dots - s) - 2, &fam_to, out->to) < 0 ||
		    fam_to != out->family || memcmp(out->from, out->to, addr_len(out->family)) > 0)
			return -1;
		return 0;
	}
	const char *slash = memchr(s, '/', len);
	if (!slash)
		return -1;
	if (parse_addr(s, (size_t)(slash - s), &out->family, out->from) < 0)
		return -1;
	size_t alen = addr_len(out->family);
	unsigned long bits;
	if (parse_dec(slash + 1, len - (size_t)(slash - s) - 1, alen * 8, &bits) < 0)
		return -1;
	memcpy(out->to, out->from, alen);
	for (size_t i = 0; i < alen; i++) {
		size_t first_bit = i * 8;
		uint8_t host_mask;
		if (bits >= first_bit + 8)
			host_mask = 0;
		else if (bits <= first_bit)
			host_mask = 0xff;
		else
			host_mask = (uint8_t)(0xff >> (bits - first_bit));
		/* charon prints the network address: host bits set are not its output */
		if (out->from[i] & host_mask)
			return -1;
		out->to[i] |= host_mask;
	}
	return 0;
}

/* ICMP "TYPE" or "TYPE(CODE)" as type << 8 | code. */
static int parse_icmp(const char *s, size_t len, uint16_t *out)
{
	const char *paren = memchr(s, '(', len);
	unsigned long type, code = 0;
	if (!paren) {
		if (parse_dec(s, len, 255, &type) < 0)
			return -1;
		*out = (uint16_t)(type << 8);
		return 0;
	}
	size_t tlen = (size_t)(paren - s);
	if (s[len - 1] != ')' || parse_dec(s, tlen, 255, &type) < 0 ||
	    parse_dec(paren + 1, len - tlen - 2, 255, &code) < 0)
		return -1;
	*out = (uint16_t)(type << 8 | code);
	return 0;
}

static int lookup_service(const char *name, size_t len, const char *proto_name, uint16_t *port)
{
	char nbuf[TS_NAME_MAX];
	char buf[4096];
	struct servent ent, *res = NULL;
	if (!valid_name(name, len))
		return -1;
	memcpy(nbuf, name, len);
	nbuf[len] = '\0';
	if (getservbyname_r(nbuf, proto_name, &ent, buf, sizeof(buf), &res) != 0 || !res)
		return -1;
	*port = ntohs((uint16_t)res->s_port);
	return 0;
}

static int parse_ports(const char *s, size_t len, const char *proto_name, struct ts *out)
{
	if (len == 6 && memcmp(s, "OPAQUE", 6) == 0) {
		out->from_port = 0xffff;
		out->to_port = 0;
		return 0;
	}
	const char *dash = NULL;
	if (out->proto == PROTO_ICMP || out->proto == PROTO_ICMPV6) {
		dash = memchr(s, '-', len);
		if (!dash) {
			if (parse_icmp(s, len, &out->from_port) < 0)
				return -1;
			out->to_port = out->from_port;
			return 0;
		}
		if (parse_icmp(s, (size_t)(dash - s), &out->from_port) < 0 ||
		    parse_icmp(dash + 1, len - (size_t)(dash - s) - 1, &out->to_port) < 0)
			return -1;
		return out->from_port <= out->to_port ? 0 : -1;
	}
	unsigned long from, to;
	if (all_digits(s, len)) {
		if (parse_dec(s, len, 65535, &from) < 0)
			return -1;
		out->from_port = out->to_port = (uint16_t)from;
		return 0;
	}
	dash = memchr(s, '-', len);
	if (dash && all_digits(s, (size_t)(dash - s))) {
		size_t flen = (size_t)(dash - s);
		if (parse_dec(s, flen, 65535, &from) < 0 ||
		    parse_dec(dash + 1, len - flen - 1, 65535, &to) < 0 || from > to)
			return -1;
		out->from_port = (uint16_t)from;
		out->to_port = (uint16_t)to;
		return 0;
	}
	/* a single port that /etc/services names (names may contain '-') */
	if (lookup_service(s, len, proto_name, &out->from_port) < 0)
		return -1;
	out->to_port = out->from_port;
	return 0;
}

/* The text between '[' and ']'. */
static int parse_proto_ports(const char *s, size_t len, struct ts *out, char *pname,
			     size_t pname_size)
{
	const char *slash = memchr(s, '/', len);
	size_t plen = slash ? (size_t)(slash - s) : len;
	const char *proto_name = NULL; /* charon looks services up under the proto's name */
	unsigned long num;

	if (all_digits(s, plen)) {
		if (parse_dec(s, plen, 255, &num) < 0)
			return -1;
		out->proto = (uint8_t)num;
	} else {
		char nbuf[TS_NAME_MAX];
		char buf[1024];
		struct protoent ent, *res = NULL;
		if (!valid_name(s, plen))
			return -1;
		memcpy(nbuf, s, plen);
		nbuf[plen] = '\0';
		if (getprotobyname_r(nbuf, &ent, buf, sizeof(buf), &res) != 0 || !res ||
		    res->p_proto <= 0 || res->p_proto > 255 || strlen(res->p_name) >= pname_size)
			return -1;
		out->proto = (uint8_t)res->p_proto;
		strcpy(pname, res->p_name);
		proto_name = pname;
	}
	if (!slash) {
		/* "[0]" is never printed: protocol and ports both "any" print nothing */
		return out->proto == 0 ? -1 : 0;
	}
	return parse_ports(slash + 1, len - plen - 1, proto_name, out);
}

int ts_parse(const char *text, struct ts *out)
{
	memset(out, 0, sizeof(*out));
	if (!text)
		return -1;
	size_t len = strnlen(text, TS_TEXT_MAX + 1);
	if (len > TS_TEXT_MAX)
		return -1;

	struct ts t = {.from_port = 0, .to_port = 0xffff};
	const char *open = memchr(text, '[', len);
	size_t range_len = open ? (size_t)(open - text) : len;
	if (parse_range(text, range_len, &t) < 0)
		return -1;
	if (open) {
		if (len < range_len + 2 || text[len - 1] != ']')
			return -1;
		size_t inner = len - range_len - 2;
		char pname[TS_NAME_MAX];
		if (memchr(open + 1, '[', inner) || memchr(open + 1, ']', inner) ||
		    parse_proto_ports(open + 1, inner, &t, pname, sizeof(pname)) < 0)
			return -1;
	}
	*out = t;
	return 0;
}

bool ts_contains(const struct ts *ts, int family, const uint8_t addr[16], uint8_t proto,
		 uint16_t port)
{
	if (family != ts->family || (family != AF_INET && family != AF_INET6))
		return false;
	size_t alen = addr_len(family);
	if (memcmp(addr, ts->from, alen) < 0 || memcmp(addr, ts->to, alen) > 0)
		return false;
	if (proto != 0 && ts->proto != 0 && proto != ts->proto)
		return false;
	if (port != 0 && (port < ts->from_port || port > ts->to_port))
		return false; /* also refuses every asked-for port under OPAQUE */
	return true;
}

int ts_addr_parse(const char *text, int *family, uint8_t addr[16])
{
	if (!text)
		return -1;
	size_t len = strnlen(text, INET6_ADDRSTRLEN);
	if (len >= INET6_ADDRSTRLEN)
		return -1;
	return parse_addr(text, len, family, addr);
}

int ts_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, int *family, uint8_t addr[16],
			  uint16_t *port)
{
	if (!sa || len < (socklen_t)sizeof(sa_family_t))
		return -1;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;
		memcpy(&sin, sa, sizeof(sin));
		memset(addr, 0, 16);
		memcpy(addr, &sin.sin_addr, 4);
		*family = AF_INET;
		if (port)
			*port = ntohs(sin.sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, sa, sizeof(sin6));
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			memset(addr, 0, 16);
			memcpy(addr, sin6.sin6_addr.s6_addr + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(addr, sin6.sin6_addr.s6_addr, 16);
			*family = AF_INET6;
		}
		if (port)
			*port = ntohs(sin6.sin6_port);
		return 0;
	}
	return -1;
}
