/*
 * Fuzz target: arbitrary bytes as configuration text, read by libconfig;
 * when it holds edge.hubs, the hub list is built from it. A build either
 * fails with one line "fuzz.conf:LINE: edge.hubs...: message", or succeeds
 * with 1..FORWARD_HUBS_MAX hubs, each with a parsed address whose text fits,
 * a priority in 0..65535 and no two alike.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "relay/forward_hubs.h"

/* libconfig 1.5 leaks the pending token when a syntax error aborts its parser. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static void check_hubs(const struct forward_hubs *h)
{
	if (h->n == 0 || h->n > FORWARD_HUBS_MAX)
		abort();
	for (size_t i = 0; i < h->n; i++) {
		const struct forward_hub *x = &h->hub[i];
		if (!x->address[0] || x->addr_len == 0 || x->priority < 0 || x->priority > 65535)
			abort();
		if (x->addr.ss_family != AF_INET && x->addr.ss_family != AF_INET6)
			abort();
		for (size_t j = 0; j < i; j++)
			if (h->hub[j].addr_len == x->addr_len &&
			    memcmp(&h->hub[j].addr, &x->addr, x->addr_len) == 0)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* @include would read files of this host (and libconfig 1.5 exits on a directory). */
	if (size > 64 * 1024 || memmem(data, size, "@include", 8))
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_t cfg;
	config_init(&cfg);
	if (config_read_string(&cfg, text) == CONFIG_TRUE) {
		config_setting_t *list = config_lookup(&cfg, "edge.hubs");
		if (list) {
			char err[512];
			memset(err, 'x', sizeof(err));
			struct forward_hubs *h =
				forward_hubs_from_setting(list, "fuzz.conf", err, sizeof(err));
			if (h) {
				if (err[0] != '\0')
					abort();
				check_hubs(h);
				forward_hubs_set_defaults(h, "airlock", "airlock");
				forward_hubs_free(h);
			} else {
				size_t len = strnlen(err, sizeof(err));
				if (len == 0 || len == sizeof(err) ||
				    strncmp(err, "fuzz.conf:", 10) != 0 ||
				    !strstr(err, ": edge.hubs"))
					abort();
				for (size_t i = 0; i < len; i++)
					if ((unsigned char)err[i] < 0x20)
						abort();
			}
		}
	}
	config_destroy(&cfg);
	free(text);
	return 0;
}
