/*
 * Fuzz target: the control socket's request parser. Whatever it accepts
 * must be an object with a string "cmd", and must survive a round trip
 * through the encoder the server uses for replies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "relay/control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	const char *cmd = NULL;
	json_t *req = control_parse_request((const char *)data, size, &cmd, err, sizeof(err));
	if (!req) {
		if (err[0] == '\0' || !memchr(err, '\0', sizeof(err)))
			abort();
		return 0;
	}
	if (!json_is_object(req) || !cmd || cmd != json_string_value(json_object_get(req, "cmd")))
		abort();
	char *text = json_dumps(req, JSON_COMPACT);
	if (!text)
		abort();
	/* The server writes one reply per line: encoded text never holds a newline. */
	if (strchr(text, '\n'))
		abort();
	const char *cmd2 = NULL;
	json_t *again = control_parse_request(text, strlen(text), &cmd2, err, sizeof(err));
	if (!again || !json_equal(req, again) || strcmp(cmd, cmd2) != 0)
		abort();
	json_decref(again);
	free(text);
	json_decref(req);
	return 0;
}
