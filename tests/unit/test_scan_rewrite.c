/*
 * scan_rewrite: header fields for transport rules and the header edits of
 * their actions, byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/scan_rewrite.h"

static const char MSG[] = "Received: from a\r\n\tby b\r\n"
			  "Subject:  Hello\r\n"
			  "X-Tag: one\r\n"
			  "x-tag: two\r\n"
			  "  folded\r\n"
			  "\r\n"
			  "Subject: not a header\r\n";

static void rewrite(const struct rules_action *const *acts, size_t n, const char *in,
		    const char *want, int want_applied)
{
	char *out = NULL;
	size_t len = 0;
	assert_int_equal(scan_rewrite_headers(in, strlen(in), acts, n, &out, &len), want_applied);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
}

static void test_parse(void **state)
{
	(void)state;
	struct scan_headers h;
	assert_int_equal(scan_headers_parse(MSG, strlen(MSG), &h), 0);
	assert_int_equal(h.nfields, 4);
	assert_string_equal(h.fields[0].name, "Received");
	assert_string_equal(h.fields[0].value, "from a\tby b");
	assert_string_equal(h.fields[1].name, "Subject");
	assert_string_equal(h.fields[1].value, "Hello");
	assert_string_equal(h.fields[3].name, "x-tag");
	assert_string_equal(h.fields[3].value, "two  folded");
	scan_headers_free(&h);
	/* no empty line: all header; a line without colon is skipped; NUL becomes space */
	const char odd[] = "junk line\r\nA: b\0c\r\n: empty name\r\nB:";
	assert_int_equal(scan_headers_parse(odd, sizeof(odd) - 1, &h), 0);
	assert_int_equal(h.nfields, 2);
	assert_string_equal(h.fields[0].value, "b c");
	assert_string_equal(h.fields[1].name, "B");
	assert_string_equal(h.fields[1].value, "");
	scan_headers_free(&h);
	/* a message starting with the empty line has no fields */
	assert_int_equal(scan_headers_parse("\r\nA: b\r\n", 8, &h), 0);
	assert_int_equal(h.nfields, 0);
	scan_headers_free(&h);
}

static void test_parse_caps(void **state)
{
	(void)state;
	size_t n = SCAN_HEADERS_MAX + 10;
	char *buf = malloc(n * 8 + SCAN_HEADER_VALUE_MAX * 2 + 16);
	size_t len = 0;
	len += (size_t)sprintf(buf, "Long: ");
	memset(buf + len, 'v', SCAN_HEADER_VALUE_MAX * 2);
	len += SCAN_HEADER_VALUE_MAX * 2;
	len += (size_t)sprintf(buf + len, "\r\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(buf + len, "H: %02zu\r\n", i % 100);
	struct scan_headers h;
	assert_int_equal(scan_headers_parse(buf, len, &h), 0);
	assert_int_equal(h.nfields, SCAN_HEADERS_MAX);
	assert_int_equal(strlen(h.fields[0].value), SCAN_HEADER_VALUE_MAX);
	scan_headers_free(&h);
	free(buf);
}

static void test_edits(void **state)
{
	(void)state;
	struct rules_action add = {.kind = RULES_ACT_ADD_HEADER, .add_header = {"X-New", "v 1"}};
	struct rules_action rm = {.kind = RULES_ACT_REMOVE_HEADER, .remove_header = {"X-TAG"}};
	struct rules_action pre = {.kind = RULES_ACT_PREPEND_SUBJECT,
				   .prepend_subject = {"[EXT] "}};
	struct rules_action pre2 = {.kind = RULES_ACT_PREPEND_SUBJECT, .prepend_subject = {"[2] "}};
	struct rules_action log = {.kind = RULES_ACT_LOG, .log = {"x"}};
	const struct rules_action *all[] = {&log, &add, &rm, &pre, &pre2};
	rewrite(all, 5, MSG,
		"X-New: v 1\r\n"
		"Received: from a\r\n\tby b\r\n"
		"Subject: [EXT] [2] Hello\r\n"
		"\r\n"
		"Subject: not a header\r\n",
		4);
	/* nothing to do: an exact copy */
	const struct rules_action *none[] = {&log};
	rewrite(none, 1, MSG, MSG, 0);
	/* no Subject: one is added at the end of the header section */
	const struct rules_action *only_pre[] = {&pre};
	rewrite(only_pre, 1, "A: b\r\n\r\nbody\r\n", "A: b\r\nSubject: [EXT] \r\n\r\nbody\r\n", 1);
	rewrite(only_pre, 1, "A: b", "A: b\r\nSubject: [EXT] \r\n", 1);
	/* the body's look-alike fields are never touched */
	const struct rules_action *only_rm[] = {&rm};
	rewrite(only_rm, 1, "\r\nX-Tag: body\r\n", "\r\nX-Tag: body\r\n", 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_caps),
		cmocka_unit_test(test_edits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
