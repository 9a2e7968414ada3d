/*
 * Building edge.hubs from its libconfig setting; see forward_hubs.h.
 */
#include "relay/forward_hubs.h"

#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/netaddr.h"

struct load {
	const char *file;
	char *err;
	size_t errlen;
};

static int load_fail(const struct load *ld, const config_setting_t *at, int index, const char *key,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int load_fail(const struct load *ld, const config_setting_t *at, int index, const char *key,
		     const char *fmt, ...)
{
	if (!ld->errlen)
		return -1;
	char where[320];
	if (index < 0)
		snprintf(where, sizeof(where), "edge.hubs");
	else if (!key)
		snprintf(where, sizeof(where), "edge.hubs[%d]", index);
	else
		snprintf(where, sizeof(where), "edge.hubs[%d].%s", index, key);
	va_list ap;
	va_start(ap, fmt);
	config_setting_error(ld->err, ld->errlen, at, ld->file, where, fmt, ap);
	va_end(ap);
	return -1;
}

static int load_name(const struct load *ld, const config_setting_t *s, int index, const char *key,
		     char *out, size_t size)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return load_fail(ld, s, index, key, "must be a string");
	const char *v = config_setting_get_string(s);
	size_t len = strlen(v);
	if (len == 0 || len >= size)
		return load_fail(ld, s, index, key, "must be 1 to %zu characters", size - 1);
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return load_fail(ld, s, index, key,
					 "must not contain spaces or control characters");
	memcpy(out, v, len + 1);
	return 0;
}

static int load_hub(const struct load *ld, const config_setting_t *g, int index,
		    struct forward_hub *h)
{
	if (!config_setting_is_group(g))
		return load_fail(ld, g, index, NULL,
				 "must be a group: { address = \"192.0.2.2:25\"; priority = 10; }");
	memset(h, 0, sizeof(*h));
	h->priority = FORWARD_HUB_DEFAULT_PRIORITY;
	bool have_address = false;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(s);
		if (strcmp(key, "address") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_STRING)
				return load_fail(ld, s, index, key, "must be a string");
			const char *v = config_setting_get_string(s);
			if (strlen(v) >= sizeof(h->address) ||
			    netaddr_parse(v, &h->addr, &h->addr_len) != 0)
				return load_fail(ld, s, index, key,
						 "must be \"address:port\" (numeric, IPv6 in "
						 "brackets)");
			snprintf(h->address, sizeof(h->address), "%s", v);
			have_address = true;
		} else if (strcmp(key, "priority") == 0) {
			int type = config_setting_type(s);
			long long v = config_setting_get_int64(s);
			if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) || v < 0 ||
			    v > 65535)
				return load_fail(ld, s, index, key,
						 "must be an integer between 0 and 65535");
			h->priority = (int)v;
		} else if (strcmp(key, "connection") == 0) {
			if (load_name(ld, s, index, key, h->connection, sizeof(h->connection)))
				return -1;
		} else if (strcmp(key, "child") == 0) {
			if (load_name(ld, s, index, key, h->child, sizeof(h->child)))
				return -1;
		} else {
			return load_fail(ld, s, index, key,
					 "unknown key (address, priority, connection, child)");
		}
	}
	if (!have_address)
		return load_fail(ld, g, index, NULL, "address is missing");
	return 0;
}

struct forward_hubs *forward_hubs_from_setting(const config_setting_t *list, const char *file,
					       char *err, size_t errlen)
{
	struct load ld = {file, errlen ? err : NULL, errlen};
	if (errlen)
		err[0] = '\0';
	if (!list)
		return NULL;
	int type = config_setting_type(list);
	int n = config_setting_length(list);
	if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && n == 0)) {
		load_fail(&ld, list, -1, NULL,
			  "must be a list of groups: ( { address = \"...\"; } )");
		return NULL;
	}
	if (n == 0) {
		load_fail(&ld, list, -1, NULL, "must name at least one hub");
		return NULL;
	}
	if (n > FORWARD_HUBS_MAX) {
		load_fail(&ld, list, -1, NULL, "at most %d hubs", FORWARD_HUBS_MAX);
		return NULL;
	}
	struct forward_hubs *h = calloc(1, sizeof(*h));
	if (!h) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		if (load_hub(&ld, g, i, &h->hub[i]) != 0)
			goto fail;
		for (int j = 0; j < i; j++) {
			if (h->hub[j].addr_len == h->hub[i].addr_len &&
			    memcmp(&h->hub[j].addr, &h->hub[i].addr, h->hub[i].addr_len) == 0) {
				load_fail(&ld, g, i, "address", "%s is already hub %d",
					  h->hub[i].address, j);
				goto fail;
			}
		}
		h->n++;
	}
	return h;
fail:
	free(h);
	return NULL;
}

void forward_hubs_free(struct forward_hubs *h)
{
	free(h);
}

void forward_hubs_set_defaults(struct forward_hubs *h, const char *connection, const char *child)
{
	for (size_t i = 0; h && i < h->n; i++) {
		if (!h->hub[i].connection[0])
			snprintf(h->hub[i].connection, sizeof(h->hub[i].connection), "%s",
				 connection);
		if (!h->hub[i].child[0])
			snprintf(h->hub[i].child, sizeof(h->hub[i].child), "%s", child);
	}
}
