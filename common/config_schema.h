/*
 * Internal to the configuration loader: the schema table (config_schema.c)
 * that config.c loads, validates and documents. Not an API for other
 * modules; they use config.h.
 */
#ifndef AIRLOCK_CONFIG_SCHEMA_H
#define AIRLOCK_CONFIG_SCHEMA_H

#include <stddef.h>

#include "common/config.h"

enum key_type { KEY_INT, KEY_STRING, KEY_LIST, KEY_BOOL, KEY_CUSTOM };
enum store_result { STORE_OK = 0, STORE_BAD = -1, STORE_TOO_LONG = -2 };

struct config_key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset, size;	     /* the field in struct airlock_config */
	long long min, max, def_int; /* KEY_INT; KEY_BOOL: def_int 0 or 1 */
	const char *def_str;	     /* KEY_STRING; NULL: unset (empty) */
	int (*store)(const char *text, void *field, size_t size); /* KEY_STRING */
	const char *expect; /* KEY_STRING, KEY_LIST: completes "must be ..." */
	const char *doc;
	/* KEY_LIST: size is one element's; the count is an int at count_offset. */
	size_t count_offset;
	int max_items;
	const char *const *def_list; /* NULL-terminated; NULL: empty */
};

#define FIELD(m)                                                                                   \
	.offset = offsetof(struct airlock_config, m),                                              \
	.size = sizeof(((struct airlock_config *)0)->m)
#define INT_KEY(sec, key, lo, hi, def, text)                                                       \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_INT, FIELD(sec.key), .min = lo,         \
		.max = hi, .def_int = def, .doc = text                                             \
	}
#define LIST_KEY(sec, key, n, fn, defs, what, text)                                                \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_LIST,                                   \
		.offset = offsetof(struct airlock_config, sec.key),                                \
		.size = sizeof(((struct airlock_config *)0)->sec.key[0]),                          \
		.count_offset = offsetof(struct airlock_config, sec.n),                            \
		.max_items = (int)(sizeof(((struct airlock_config *)0)->sec.key) /                 \
				   sizeof(((struct airlock_config *)0)->sec.key[0])),              \
		.store = fn, .def_list = defs, .expect = what, .doc = text                         \
	}
#define BOOL_KEY(sec, key, def, text)                                                              \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_BOOL, FIELD(sec.key), .def_int = def,   \
		.doc = text                                                                        \
	}
/* A group- or list-valued key built by a registered builder (config_set_custom). */
#define CUSTOM_KEY(sec, key, what, text)                                                           \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_CUSTOM, FIELD(sec.key), .expect = what, \
		.doc = text                                                                        \
	}
#define STR_KEY(sec, key, fn, def, what, text)                                                     \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_STRING, FIELD(sec.key), .def_str = def, \
		.store = fn, .expect = what, .doc = text                                           \
	}

extern const struct config_key config_keys[];
extern const size_t config_nkeys;
extern const char *const config_sections[];
extern const size_t config_nsections;

#endif
