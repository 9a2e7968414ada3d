/*
 * "key=value" lines: the hub's saved init parameters (CA_DIR/hub.params)
 * and the connection parameters an enrollment bundle carries (conn.params),
 * from which enroll builds the VICI load-conn request.
 *
 * Reader (untrusted input, fails closed): at most ACERT_PARAMS_MAX lines of
 * at most ACERT_PARAM_VALUE_MAX octets; a key is [a-z0-9_]{1,31}; a value is
 * printable ASCII (0x20..0x7e); empty lines and lines starting with '#' are
 * skipped; every line ends with LF; a key may appear once; no NUL, CR or
 * other control character anywhere.
 */
#ifndef AIRLOCK_ACERT_PARAMS_H
#define AIRLOCK_ACERT_PARAMS_H

#include <stddef.h>

#define ACERT_PARAMS_MAX      32
#define ACERT_PARAM_KEY_MAX   31
#define ACERT_PARAM_VALUE_MAX 1024
#define ACERT_PARAMS_TEXT_MAX (ACERT_PARAMS_MAX * (ACERT_PARAM_KEY_MAX + ACERT_PARAM_VALUE_MAX + 2))

struct acert_params {
	size_t n;
	struct {
		char key[ACERT_PARAM_KEY_MAX + 1];
		char value[ACERT_PARAM_VALUE_MAX + 1];
	} kv[ACERT_PARAMS_MAX];
};

/* Parses text[0..len) into *out (cleared first). Returns 0, or -1 with "line N: why" in err. */
int acert_params_parse(const char *text, size_t len, struct acert_params *out, char *err,
		       size_t errlen);

/* The value of key (internal data), or NULL. */
const char *acert_params_get(const struct acert_params *p, const char *key);

/* Sets key (replacing a previous value). Returns 0, or -1 with err (bad key or value, full). */
int acert_params_set(struct acert_params *p, const char *key, const char *value, char *err,
		     size_t errlen);

/* The text form (parses back to the same set) in a new buffer (free()), or NULL when out of memory.
 */
char *acert_params_format(const struct acert_params *p, size_t *len);

#endif
