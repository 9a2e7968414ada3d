/*
 * "key=value" lines (see acert_params.h).
 */
#include "tunnel/airlock_cert/acert_params.h"

#include "common/errmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int key_valid(const char *k, size_t n)
{
	if (n == 0 || n > ACERT_PARAM_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return 0;
	return 1;
}

static int value_valid(const char *v, size_t n)
{
	if (n > ACERT_PARAM_VALUE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return 0;
	return 1;
}

static long find(const struct acert_params *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->kv[i].key, key) == 0)
			return (long)i;
	return -1;
}

int acert_params_parse(const char *text, size_t len, struct acert_params *out, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len > ACERT_PARAMS_TEXT_MAX)
		return errmsg_set(err, errlen, "parameters too large");
	size_t pos = 0;
	unsigned line = 0;
	while (pos < len) {
		line++;
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		if (!nl)
			return errmsg_set(err, errlen, "line %u: no newline at the end", line);
		size_t n = (size_t)(nl - s);
		pos += n + 1;
		if (n == 0 || s[0] == '#') {
			if (!value_valid(s, n))
				return errmsg_set(err, errlen, "line %u: control character", line);
			continue;
		}
		const char *eq = memchr(s, '=', n);
		if (!eq)
			return errmsg_set(err, errlen, "line %u: no '='", line);
		size_t klen = (size_t)(eq - s), vlen = n - klen - 1;
		if (!key_valid(s, klen))
			return errmsg_set(err, errlen, "line %u: invalid key", line);
		if (!value_valid(eq + 1, vlen))
			return errmsg_set(err, errlen, "line %u: invalid value", line);
		if (out->n >= ACERT_PARAMS_MAX)
			return errmsg_set(err, errlen, "line %u: too many parameters", line);
		char key[ACERT_PARAM_KEY_MAX + 1];
		memcpy(key, s, klen);
		key[klen] = '\0';
		if (find(out, key) >= 0)
			return errmsg_set(err, errlen, "line %u: '%s' given twice", line, key);
		memcpy(out->kv[out->n].key, key, klen + 1);
		memcpy(out->kv[out->n].value, eq + 1, vlen);
		out->kv[out->n].value[vlen] = '\0';
		out->n++;
	}
	return 0;
}

const char *acert_params_get(const struct acert_params *p, const char *key)
{
	long i = find(p, key);
	return i >= 0 ? p->kv[i].value : NULL;
}

int acert_params_set(struct acert_params *p, const char *key, const char *value, char *err,
		     size_t errlen)
{
	if (!key_valid(key, strlen(key)) || !value_valid(value, strlen(value)))
		return errmsg_set(err, errlen, "invalid parameter %s", key);
	long i = find(p, key);
	if (i < 0) {
		if (p->n >= ACERT_PARAMS_MAX)
			return errmsg_set(err, errlen, "too many parameters");
		i = (long)p->n++;
		snprintf(p->kv[i].key, sizeof(p->kv[i].key), "%s", key);
	}
	snprintf(p->kv[i].value, sizeof(p->kv[i].value), "%s", value);
	return 0;
}

char *acert_params_format(const struct acert_params *p, size_t *len)
{
	size_t cap = 1;
	for (size_t i = 0; i < p->n; i++)
		cap += strlen(p->kv[i].key) + strlen(p->kv[i].value) + 2;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->n; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s=%s\n", p->kv[i].key,
					 p->kv[i].value);
	if (len)
		*len = used;
	return out;
}
