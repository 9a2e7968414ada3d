/*
 * VICI codec: round trips, golden vectors, and every malformed input class.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tunnel/vici_msg.h"

static void test_golden_version_request(void **state)
{
	(void)state;
	uint8_t *frame;
	size_t len;
	assert_int_equal(vici_packet_encode(VICI_CMD_REQUEST, "version", NULL, 0, &frame, &len), 0);
	static const uint8_t want[] = {0, 0, 0, 9, 0, 7, 'v', 'e', 'r', 's', 'i', 'o', 'n'};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(frame, want, sizeof(want));
	struct vici_packet pkt;
	assert_int_equal(vici_packet_parse(frame + 4, len - 4, &pkt, NULL), 0);
	assert_int_equal(pkt.type, VICI_CMD_REQUEST);
	assert_string_equal(pkt.name, "version");
	assert_int_equal(pkt.msg_len, 0);
	free(frame);
}

static void test_golden_event_confirm(void **state)
{
	(void)state;
	uint8_t *frame;
	size_t len;
	assert_int_equal(vici_packet_encode(VICI_EVENT_CONFIRM, NULL, NULL, 0, &frame, &len), 0);
	static const uint8_t want[] = {0, 0, 0, 1, 5};
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(frame, want, sizeof(want));
	free(frame);
}

/* The exact bytes of { key=val, sec { list [a, ""] } } as strongSwan encodes them. */
static const uint8_t golden_msg[] = {
	3, 3, 'k', 'e', 'y', 0,	  3, 'v', 'a', 'l', /* key = val */
	1, 3, 's', 'e', 'c',			    /* sec { */
	4, 4, 'l', 'i', 's', 't',		    /* list [ */
	5, 0, 1,   'a',				    /* a */
	5, 0, 0,				    /* "" */
	6,					    /* ] */
	2,					    /* } */
};

static void test_builder_golden(void **state)
{
	(void)state;
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, "key", "val");
	vici_begin_section(b, "sec");
	vici_begin_list(b, "list");
	vici_add_list_item(b, "a");
	vici_add_list_item(b, "");
	vici_end_list(b);
	vici_end_section(b);
	const uint8_t *data;
	size_t len;
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);
	assert_int_equal(len, sizeof(golden_msg));
	assert_memory_equal(data, golden_msg, sizeof(golden_msg));
	vici_builder_free(b);
}

static void test_parse_golden(void **state)
{
	(void)state;
	struct vici_node *root;
	assert_int_equal(vici_msg_parse(golden_msg, sizeof(golden_msg), &root, NULL), 0);
	assert_string_equal(vici_str(root, "key"), "val");
	const struct vici_node *sec = vici_child(root, "sec");
	assert_non_null(sec);
	assert_int_equal(sec->type, VICI_NODE_SECTION);
	const struct vici_node *list = vici_child(sec, "list");
	assert_non_null(list);
	assert_int_equal(list->type, VICI_NODE_LIST);
	assert_string_equal((const char *)list->first->value, "a");
	assert_int_equal(list->first->next->value_len, 0);
	assert_null(list->first->next->next);
	assert_null(vici_str(root, "missing"));
	assert_null(vici_str(root, "sec"));

	/* A deep copy is independent of the original and holds the same data. */
	struct vici_node *copy = vici_node_dup(root);
	vici_node_free(root);
	assert_string_equal(vici_str(copy, "key"), "val");
	list = vici_child(vici_child(copy, "sec"), "list");
	assert_string_equal((const char *)list->first->value, "a");
	assert_int_equal(list->first->next->value_len, 0);
	vici_node_free(copy);
}

static void test_round_trip_nested(void **state)
{
	(void)state;
	struct vici_builder *b = vici_builder_new();
	vici_begin_section(b, "airlock");
	vici_add_kv(b, "uniqueid", "42");
	vici_add_kv(b, "state", "ESTABLISHED");
	vici_begin_section(b, "child-sas");
	vici_begin_section(b, "airlock-7");
	vici_add_kvf(b, "bytes-in", "%llu", 18446744073709551615ULL);
	static const uint8_t bin[] = {0, 1, 2, 0xff};
	vici_add_kv_bin(b, "spi-in", bin, sizeof(bin));
	vici_begin_list(b, "local-ts");
	vici_add_list_item(b, "192.0.2.1/32");
	vici_end_list(b);
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	const uint8_t *data;
	size_t len;
	assert_int_equal(vici_builder_finish(b, &data, &len), 0);

	struct vici_node *root;
	assert_int_equal(vici_msg_parse(data, len, &root, NULL), 0);
	const struct vici_node *ike = vici_child(root, "airlock");
	uint64_t v = 0;
	assert_int_equal(vici_u64(ike, "uniqueid", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(vici_u64(ike, "state", &v), -1);
	const struct vici_node *child = vici_child(vici_child(ike, "child-sas"), "airlock-7");
	assert_int_equal(vici_u64(child, "bytes-in", &v), 0);
	assert_true(v == 18446744073709551615ULL);
	/* A value holding a NUL byte is not a string. */
	assert_null(vici_str(child, "spi-in"));
	const struct vici_node *spi = vici_child(child, "spi-in");
	assert_int_equal(spi->value_len, 4);
	assert_memory_equal(spi->value, bin, 4);
	assert_string_equal((const char *)vici_child(child, "local-ts")->first->value,
			    "192.0.2.1/32");
	vici_node_free(root);
	vici_builder_free(b);
}

static void test_empty_message(void **state)
{
	(void)state;
	struct vici_node *root;
	assert_int_equal(vici_msg_parse((const uint8_t *)"", 0, &root, NULL), 0);
	assert_null(root->first);
	vici_node_free(root);
}

struct bad_case {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	const char *err;
};

#define BAD(what, err, ...)                                                                        \
	{                                                                                          \
		what, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), err  \
	}

static void test_malformed_rejected(void **state)
{
	(void)state;
	const struct bad_case cases[] = {
		BAD("unbalanced section end", "unbalanced section end", 2),
		BAD("section never closed", "unterminated section", 1, 1, 'a'),
		BAD("item outside list", "list item outside a list", 5, 0, 1, 'x'),
		BAD("list end outside list", "list end outside a list", 6),
		BAD("key/value inside list", "key/value inside a list", 4, 1, 'l', 3, 1, 'k', 0, 0),
		BAD("section inside list", "section inside a list", 4, 1, 'l', 1, 1, 's'),
		BAD("nested list", "nested list", 4, 1, 'l', 4, 1, 'm'),
		BAD("unterminated list", "unterminated list", 4, 1, 'l', 5, 0, 0),
		BAD("truncated name", "truncated key/value", 3, 5, 'a', 'b'),
		BAD("truncated value length", "truncated key/value", 3, 1, 'k', 0),
		BAD("value longer than message", "truncated key/value", 3, 1, 'k', 0, 9, 'x'),
		BAD("truncated list item", "truncated list item", 4, 1, 'l', 5, 0, 4, 'a'),
		BAD("unknown element", "unknown element type", 9),
		BAD("element type zero", "unknown element type", 0),
		BAD("NUL in name", "truncated key/value", 3, 2, 'a', 0, 0, 0),
		BAD("trailing bytes after a complete message", "unbalanced section end", 3, 1, 'k',
		    0, 1, 'v', 2),
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vici_node *root = (struct vici_node *)1;
		const char *err = NULL;
		int rc = vici_msg_parse(cases[i].bytes, cases[i].len, &root, &err);
		if (rc != -1 || root != NULL || !err || strcmp(err, cases[i].err) != 0)
			fail_msg("case '%s': rc=%d err=%s, expected '%s'", cases[i].what, rc,
				 err ? err : "(none)", cases[i].err);
	}
}

static void test_depth_limit(void **state)
{
	(void)state;
	uint8_t buf[(VICI_MAX_DEPTH + 1) * 3 + (VICI_MAX_DEPTH + 1)];
	size_t len = 0;
	for (int i = 0; i < VICI_MAX_DEPTH + 1; i++) {
		buf[len++] = 1;
		buf[len++] = 1;
		buf[len++] = 's';
	}
	for (int i = 0; i < VICI_MAX_DEPTH + 1; i++)
		buf[len++] = 2;
	struct vici_node *root;
	const char *err;
	assert_int_equal(vici_msg_parse(buf, len, &root, &err), -1);
	assert_string_equal(err, "sections nested too deeply");
	/* Exactly the maximum depth is fine. */
	uint8_t ok[VICI_MAX_DEPTH * 4];
	len = 0;
	for (int i = 0; i < VICI_MAX_DEPTH; i++) {
		ok[len++] = 1;
		ok[len++] = 1;
		ok[len++] = 's';
	}
	for (int i = 0; i < VICI_MAX_DEPTH; i++)
		ok[len++] = 2;
	assert_int_equal(vici_msg_parse(ok, len, &root, &err), 0);
	vici_node_free(root);
}

static void test_oversize_refused(void **state)
{
	(void)state;
	struct vici_node *root;
	const char *err;
	/* The size check comes before any read: the buffer is never touched. */
	assert_int_equal(vici_msg_parse((const uint8_t *)"", VICI_MAX_FRAME + 1, &root, &err), -1);
	assert_string_equal(err, "message too large");
	struct vici_packet pkt;
	assert_int_equal(vici_packet_parse((const uint8_t *)"", VICI_MAX_FRAME + 1, &pkt, &err),
			 -1);
	assert_string_equal(err, "frame too large");

	struct vici_builder *b = vici_builder_new();
	static char big[60000];
	memset(big, 'x', sizeof(big) - 1);
	for (int i = 0; i < 10; i++)
		vici_add_kv(b, "k", big);
	const uint8_t *data;
	size_t len;
	assert_int_equal(vici_builder_finish(b, &data, &len), -1);
	vici_builder_free(b);
}

static void test_builder_limits(void **state)
{
	(void)state;
	char name[300];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	struct vici_builder *b = vici_builder_new();
	vici_add_kv(b, name, "v");
	const uint8_t *data;
	size_t len;
	assert_int_equal(vici_builder_finish(b, &data, &len), -1);
	vici_builder_free(b);

	b = vici_builder_new();
	vici_begin_section(b, "open");
	assert_int_equal(vici_builder_finish(b, &data, &len), -1);
	vici_builder_free(b);

	uint8_t *frame;
	assert_int_equal(vici_packet_encode(VICI_CMD_REQUEST, name, NULL, 0, &frame, &len), -1);
	assert_int_equal(vici_packet_encode(VICI_EVENT, NULL, NULL, 0, &frame, &len), -1);
}

static void test_packets_malformed(void **state)
{
	(void)state;
	struct vici_packet pkt;
	const char *err;
	assert_int_equal(vici_packet_parse((const uint8_t *)"", 0, &pkt, &err), -1);
	assert_string_equal(err, "empty frame");
	assert_int_equal(vici_packet_parse((const uint8_t[]){8}, 1, &pkt, &err), -1);
	assert_string_equal(err, "unknown packet type");
	assert_int_equal(vici_packet_parse((const uint8_t[]){0, 5, 'a'}, 3, &pkt, &err), -1);
	assert_string_equal(err, "truncated packet name");
	assert_int_equal(vici_packet_parse((const uint8_t[]){7}, 1, &pkt, &err), -1);
	assert_string_equal(err, "truncated packet name");
	assert_int_equal(vici_packet_parse((const uint8_t[]){5, 0}, 2, &pkt, &err), -1);
	assert_string_equal(err, "trailing bytes after packet");
	assert_int_equal(vici_packet_parse((const uint8_t[]){3, 2, 'a', 'b', 'c'}, 5, &pkt, &err),
			 -1);
	assert_string_equal(err, "trailing bytes after packet");
	assert_int_equal(vici_packet_parse((const uint8_t[]){7, 2, 'a', 0}, 4, &pkt, &err), -1);
	assert_string_equal(err, "NUL in packet name");
	/* An event with a name and a message. */
	assert_int_equal(vici_packet_parse((const uint8_t[]){7, 3, 'l', 'o', 'g', 3, 1, 'k', 0, 0},
					   10, &pkt, &err),
			 0);
	assert_int_equal(pkt.type, VICI_EVENT);
	assert_string_equal(pkt.name, "log");
	assert_int_equal(pkt.msg_len, 5);
	/* A response: no name, the rest is the message. */
	assert_int_equal(vici_packet_parse((const uint8_t[]){1, 3, 1, 'k', 0, 0}, 6, &pkt, &err),
			 0);
	assert_int_equal(pkt.type, VICI_CMD_RESPONSE);
	assert_int_equal(pkt.msg_len, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_version_request),
		cmocka_unit_test(test_golden_event_confirm),
		cmocka_unit_test(test_builder_golden),
		cmocka_unit_test(test_parse_golden),
		cmocka_unit_test(test_round_trip_nested),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_malformed_rejected),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_oversize_refused),
		cmocka_unit_test(test_builder_limits),
		cmocka_unit_test(test_packets_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
