/*
 * Fuzz target: the traffic selector parser. Whatever parses must be a
 * consistent range, and containment checks on it must be safe.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/ts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[TS_TEXT_MAX + 8];
	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct ts ts;
	if (ts_parse(text, &ts) == 0) {
		size_t alen = ts.family == AF_INET ? 4 : 16;
		if (memcmp(ts.from, ts.to, alen) > 0)
			abort();
		(void)ts_contains(&ts, ts.family, ts.from, 6, 25);
		(void)ts_contains(&ts, ts.family, ts.to, 0, 0);
	}
	return 0;
}
