/*
 * Fuzz target: arbitrary bytes as configuration text. A load either fails
 * with one non-empty line, or succeeds with every value inside its range.
 * The build defines FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, so config.c
 * also aborts if its integer pre-scan disagrees with libconfig's scanner.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

/*
 * libconfig 1.5 itself leaks the pending string token when a syntax error
 * aborts its parser (tens of bytes per failed load); leaks of ours would
 * not have libconfig.so on their stack.
 */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/*
	 * @include reads files of this host. Allow only names without '/',
	 * resolved in the working directory: enough to reach the directory,
	 * missing-file and nesting guards (seeds include ".") without reading
	 * anything else.
	 */
	if (strstr(text, "@include") && memchr(text, '/', size)) {
		free(text);
		return 0;
	}
	struct airlock_config cfg;
	char err[512];
	memset(err, 'x', sizeof(err));
	if (config_load_string(text, "fuzz.conf", &cfg, err, sizeof(err)) != 0) {
		size_t len = strnlen(err, sizeof(err));
		if (len == 0 || len == sizeof(err) || !strstr(err, ": "))
			abort();
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)err[i] < 0x20)
				abort();
	} else {
		const struct airlock_config *t = &cfg;
		if (t->tunnel.request_timeout < 1 || t->tunnel.request_timeout > 600 ||
		    t->tunnel.refresh_interval < 1 || t->tunnel.refresh_interval > 3600 ||
		    t->tunnel.stale_after <= t->tunnel.refresh_interval ||
		    t->tunnel.stale_after > 86400 || t->tunnel.cert_warn_days < 0 ||
		    t->tunnel.cert_warn_days > 3650 ||
		    strncmp(t->tunnel.vici, "unix:///", 8) != 0 ||
		    t->tunnel.connection[0] == '\0' || t->tunnel.child[0] == '\0' ||
		    memchr(t->tunnel.local_address, '\0', sizeof(t->tunnel.local_address)) ==
			    NULL ||
		    memchr(t->tunnel.remote_address, '\0', sizeof(t->tunnel.remote_address)) ==
			    NULL)
			abort();
	}
	free(text);
	return 0;
}
