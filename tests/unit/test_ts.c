/*
 * Traffic selectors: every form charon prints, everything else refused, and
 * matching at the edges of address and port ranges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "tunnel/ts.h"

static void addr(const char *text, uint8_t out[16])
{
	int family;
	memset(out, 0, 16);
	if (ts_addr_parse(text, &family, out) != 0)
		fail_msg("bad test address %s", text);
}

struct valid_case {
	const char *text;
	int family;
	const char *from, *to;
	uint8_t proto;
	uint16_t from_port, to_port;
};

static const struct valid_case valid[] = {
	{"192.0.2.1/32", AF_INET, "192.0.2.1", "192.0.2.1", 0, 0, 65535},
	{"10.0.0.0/24", AF_INET, "10.0.0.0", "10.0.0.255", 0, 0, 65535},
	{"10.1.2.0/23", AF_INET, "10.1.2.0", "10.1.3.255", 0, 0, 65535},
	{"10.0.0.0/8", AF_INET, "10.0.0.0", "10.255.255.255", 0, 0, 65535},
	{"0.0.0.0/0", AF_INET, "0.0.0.0", "255.255.255.255", 0, 0, 65535},
	{"192.0.2.1..192.0.2.9", AF_INET, "192.0.2.1", "192.0.2.9", 0, 0, 65535},
	{"2001:db8::/64", AF_INET6, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", 0, 0, 65535},
	{"2001:db8::/61", AF_INET6, "2001:db8::", "2001:db8:0:7:ffff:ffff:ffff:ffff", 0, 0, 65535},
	{"2001:db8::1/128", AF_INET6, "2001:db8::1", "2001:db8::1", 0, 0, 65535},
	{"::/0", AF_INET6, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 0, 65535},
	{"2001:db8::1..2001:db8::9[tcp/25]", AF_INET6, "2001:db8::1", "2001:db8::9", 6, 25, 25},
	{"10.0.0.0/24[tcp/25]", AF_INET, "10.0.0.0", "10.0.0.255", 6, 25, 25},
	{"10.0.0.0/24[tcp/smtp]", AF_INET, "10.0.0.0", "10.0.0.255", 6, 25, 25},
	{"192.0.2.1/32[udp/domain]", AF_INET, "192.0.2.1", "192.0.2.1", 17, 53, 53},
	{"192.0.2.1/32[tcp/submission]", AF_INET, "192.0.2.1", "192.0.2.1", 6, 587, 587},
	{"192.0.2.1/32[tcp]", AF_INET, "192.0.2.1", "192.0.2.1", 6, 0, 65535},
	{"192.0.2.1/32[udp]", AF_INET, "192.0.2.1", "192.0.2.1", 17, 0, 65535},
	{"192.0.2.1/32[tcp/1024-65535]", AF_INET, "192.0.2.1", "192.0.2.1", 6, 1024, 65535},
	{"192.0.2.1/32[tcp/0]", AF_INET, "192.0.2.1", "192.0.2.1", 6, 0, 0},
	{"192.0.2.1/32[0/25]", AF_INET, "192.0.2.1", "192.0.2.1", 0, 25, 25},
	{"192.0.2.1/32[0/smtp]", AF_INET, "192.0.2.1", "192.0.2.1", 0, 25, 25},
	{"192.0.2.1/32[0/1-1023]", AF_INET, "192.0.2.1", "192.0.2.1", 0, 1, 1023},
	{"192.0.2.1/32[47]", AF_INET, "192.0.2.1", "192.0.2.1", 47, 0, 65535},
	{"192.0.2.1/32[253/7]", AF_INET, "192.0.2.1", "192.0.2.1", 253, 7, 7},
	{"192.0.2.1/32[tcp/OPAQUE]", AF_INET, "192.0.2.1", "192.0.2.1", 6, 0xffff, 0},
	{"192.0.2.1/32[icmp/8]", AF_INET, "192.0.2.1", "192.0.2.1", 1, 0x0800, 0x0800},
	{"192.0.2.1/32[icmp/3(1)]", AF_INET, "192.0.2.1", "192.0.2.1", 1, 0x0301, 0x0301},
	{"192.0.2.1/32[icmp/8-8(255)]", AF_INET, "192.0.2.1", "192.0.2.1", 1, 0x0800, 0x08ff},
	{"192.0.2.1/32[1/0]", AF_INET, "192.0.2.1", "192.0.2.1", 1, 0, 0},
	{"2001:db8::/64[ipv6-icmp/128]", AF_INET6, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff",
	 58, 0x8000, 0x8000},
	{"2001:db8::/64[ipv6-icmp/1(4)-2]", AF_INET6, "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff",
	 58, 0x0104, 0x0200},
};

static void test_parse_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		const struct valid_case *c = &valid[i];
		struct ts ts;
		uint8_t from[16], to[16];
		if (ts_parse(c->text, &ts) != 0)
			fail_msg("refused valid selector %s", c->text);
		addr(c->from, from);
		addr(c->to, to);
		if (ts.family != c->family || memcmp(ts.from, from, 16) != 0 ||
		    memcmp(ts.to, to, 16) != 0 || ts.proto != c->proto ||
		    ts.from_port != c->from_port || ts.to_port != c->to_port)
			fail_msg("%s parsed to family=%d proto=%u ports=%u-%u", c->text, ts.family,
				 ts.proto, ts.from_port, ts.to_port);
	}
}

static const char *const invalid[] = {
	"",
	"dynamic",
	"dynamic[tcp/25]",
	"192.0.2.1",
	"192.0.2.1/",
	"192.0.2.1/33",
	"192.0.2.1/24", /* host bits set: charon prints the network address */
	"10.0.0.0/024", /* leading zero */
	"10.0.0.0/-1",
	"10.0.0.0/+24",
	" 10.0.0.0/24",
	"10.0.0.0/24 ",
	"10.0.0.0/24/8",
	"010.0.0.0/8",
	"10.0.0/8",
	"1.2.3.4.5/32",
	"256.0.0.0/8",
	"2001:db8::1/64",
	"2001:db8::/129",
	"2001:db8:::/64",
	"192.0.2.9..192.0.2.1",	  /* reversed */
	"192.0.2.1..2001:db8::1", /* mixed families */
	"192.0.2.1..",
	"..192.0.2.1",
	"192.0.2.1...192.0.2.9",
	"[tcp/25]",
	"10.0.0.0/24[",
	"10.0.0.0/24]",
	"10.0.0.0/24[]",
	"10.0.0.0/24[tcp",
	"10.0.0.0/24[tcp/]",
	"10.0.0.0/24[/25]",
	"10.0.0.0/24[0]", /* never printed: nothing is printed for any/any */
	"10.0.0.0/24[tcp/25]x",
	"10.0.0.0/24[[tcp/25]]",
	"10.0.0.0/24[tcp/25][udp/53]",
	"10.0.0.0/24[tcp/25/26]",
	"10.0.0.0/24[nosuchproto/25]",
	"10.0.0.0/24[tcp/nosuchservice]",
	"10.0.0.0/24[tcp/opaque]",
	"10.0.0.0/24[tcp/65536]",
	"10.0.0.0/24[tcp/100-99]",
	"10.0.0.0/24[tcp/-5]",
	"10.0.0.0/24[tcp/25-]",
	"10.0.0.0/24[tcp/025]",
	"10.0.0.0/24[tcp/ 25]",
	"10.0.0.0/24[256]",
	"10.0.0.0/24[-1]",
	"10.0.0.0/24[tc p/25]",
	"10.0.0.0/24[tcp/sm\ttp]",
	"192.0.2.1/32[icmp/256]",
	"192.0.2.1/32[icmp/8(256)]",
	"192.0.2.1/32[icmp/8(1]",
	"192.0.2.1/32[icmp/8()]",
	"192.0.2.1/32[icmp/smtp]",
	"192.0.2.1/32[icmp/9-8]",
	"192.0.2.1/32[icmp/8-]",
};

static void test_parse_invalid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct ts ts;
		memset(&ts, 0x5a, sizeof(ts));
		if (ts_parse(invalid[i], &ts) != -1)
			fail_msg("accepted invalid selector \"%s\"", invalid[i]);
		struct ts zero;
		memset(&zero, 0, sizeof(zero));
		assert_memory_equal(&ts, &zero, sizeof(ts));
	}
	struct ts ts;
	assert_int_equal(ts_parse(NULL, &ts), -1);
}

static void test_parse_length_limit(void **state)
{
	(void)state;
	char text[TS_TEXT_MAX + 2];
	struct ts ts;
	/* a valid selector padded with a long service name: refused on length alone */
	memset(text, 'a', sizeof(text));
	memcpy(text, "10.0.0.0/8[tcp/", 15);
	text[TS_TEXT_MAX] = ']';
	text[TS_TEXT_MAX + 1] = '\0';
	assert_int_equal(ts_parse(text, &ts), -1);
	/* the longest real form is well under the limit */
	const char *longest =
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0.."
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff[ipv6-icmp/255(255)-255(255)]";
	assert_true(strlen(longest) < TS_TEXT_MAX);
	assert_int_equal(ts_parse(longest, &ts), 0);
	assert_int_equal(ts.from_port, 0xffff);
	assert_int_equal(ts.to_port, 0xffff);
}

static void test_contains(void **state)
{
	(void)state;
	struct ts ts;
	uint8_t a[16];
	assert_int_equal(ts_parse("10.0.0.0/24[tcp/25]", &ts), 0);
	addr("10.0.0.0", a);
	assert_true(ts_contains(&ts, AF_INET, a, 6, 25));
	addr("10.0.0.255", a);
	assert_true(ts_contains(&ts, AF_INET, a, 6, 25));
	assert_true(ts_contains(&ts, AF_INET, a, 0, 0)); /* don't care */
	assert_true(ts_contains(&ts, AF_INET, a, 6, 0));
	assert_true(ts_contains(&ts, AF_INET, a, 0, 25));
	assert_false(ts_contains(&ts, AF_INET, a, 17, 25));
	assert_false(ts_contains(&ts, AF_INET, a, 6, 26));
	assert_false(ts_contains(&ts, AF_INET, a, 6, 24));
	assert_false(ts_contains(&ts, AF_INET6, a, 6, 25));
	addr("10.0.1.0", a);
	assert_false(ts_contains(&ts, AF_INET, a, 6, 25));
	addr("9.255.255.255", a);
	assert_false(ts_contains(&ts, AF_INET, a, 6, 25));

	assert_int_equal(ts_parse("192.0.2.1..192.0.2.9[0/1024-2048]", &ts), 0);
	addr("192.0.2.9", a);
	assert_true(ts_contains(&ts, AF_INET, a, 17, 1024));
	assert_true(ts_contains(&ts, AF_INET, a, 6, 2048));
	assert_false(ts_contains(&ts, AF_INET, a, 6, 2049));
	assert_false(ts_contains(&ts, AF_INET, a, 6, 1023));
	addr("192.0.2.10", a);
	assert_false(ts_contains(&ts, AF_INET, a, 6, 1024));
	addr("192.0.2.0", a);
	assert_false(ts_contains(&ts, AF_INET, a, 6, 1024));

	assert_int_equal(ts_parse("192.0.2.1/32[tcp/OPAQUE]", &ts), 0);
	addr("192.0.2.1", a);
	assert_true(ts_contains(&ts, AF_INET, a, 6, 0));
	assert_false(ts_contains(&ts, AF_INET, a, 6, 25));
	assert_false(ts_contains(&ts, AF_INET, a, 6, 65535));

	assert_int_equal(ts_parse("2001:db8:1::/48", &ts), 0);
	addr("2001:db8:1:ffff::25", a);
	assert_true(ts_contains(&ts, AF_INET6, a, 6, 25));
	addr("2001:db8:2::", a);
	assert_false(ts_contains(&ts, AF_INET6, a, 6, 25));
	/* an IPv4 address whose bytes happen to lie inside is another family */
	addr("32.1.13.184", a);
	assert_false(ts_contains(&ts, AF_INET, a, 0, 0));

	assert_int_equal(ts_parse("0.0.0.0/0", &ts), 0);
	addr("255.255.255.255", a);
	assert_true(ts_contains(&ts, AF_INET, a, 132, 9));
	assert_false(ts_contains(&ts, AF_INET6, a, 0, 0));
	assert_false(ts_contains(&ts, AF_UNIX, a, 0, 0));
}

static void test_addr_parse(void **state)
{
	(void)state;
	int family = -1;
	uint8_t a[16];
	assert_int_equal(ts_addr_parse("192.0.2.1", &family, a), 0);
	assert_int_equal(family, AF_INET);
	assert_memory_equal(a, ((uint8_t[16]){192, 0, 2, 1}), 16);
	assert_int_equal(ts_addr_parse("2001:db8::2", &family, a), 0);
	assert_int_equal(family, AF_INET6);
	assert_memory_equal(a, ((uint8_t[16]){0x20, 0x01, 0x0d, 0xb8, [15] = 2}), 16);
	family = -1;
	assert_int_equal(ts_addr_parse("192.0.2.1/32", &family, a), -1);
	assert_int_equal(ts_addr_parse("example.com", &family, a), -1);
	assert_int_equal(ts_addr_parse("", &family, a), -1);
	assert_int_equal(ts_addr_parse(NULL, &family, a), -1);
	assert_int_equal(family, -1);
}

static void test_addr_from_sockaddr(void **state)
{
	(void)state;
	int family;
	uint8_t a[16];
	uint16_t port;

	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(2525)};
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	assert_int_equal(
		ts_addr_from_sockaddr((struct sockaddr *)&sin, sizeof(sin), &family, a, &port), 0);
	assert_int_equal(family, AF_INET);
	assert_int_equal(port, 2525);
	assert_memory_equal(a, ((uint8_t[16]){192, 0, 2, 1}), 16);

	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(25)};
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &sin6.sin6_addr);
	assert_int_equal(
		ts_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin6), &family, a, NULL), 0);
	assert_int_equal(family, AF_INET); /* v4-mapped is IPv4 traffic */
	assert_memory_equal(a, ((uint8_t[16]){192, 0, 2, 1}), 16);

	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	assert_int_equal(
		ts_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin6), &family, a, &port),
		0);
	assert_int_equal(family, AF_INET6);
	assert_int_equal(port, 25);
	assert_memory_equal(a, &sin6.sin6_addr, 16);

	assert_int_equal(
		ts_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin), &family, a, &port),
		-1);
	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_int_equal(ts_addr_from_sockaddr(&un, sizeof(un), &family, a, &port), -1);
	assert_int_equal(ts_addr_from_sockaddr(NULL, 0, &family, a, &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_length_limit),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_addr_from_sockaddr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
