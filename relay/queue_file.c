/*
 * Queue file envelope: writer, fail-closed reader, queue ids. The format is
 * documented in queue_file.h.
 */
#include "relay/queue_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"

#define MAGIC "airlock-queue"

enum env_key {
	KEY_ID = 0,
	KEY_ARRIVED,
	KEY_CLIENT,
	KEY_HELO,
	KEY_TLS,
	KEY_SMTPUTF8,
	KEY_BODY,
	KEY_FROM,
	KEY_RCPT,
	KEY_HOLD,
	KEY_PAD,
	KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
	[KEY_ID] = "id",     [KEY_ARRIVED] = "arrived", [KEY_CLIENT] = "client",
	[KEY_HELO] = "helo", [KEY_TLS] = "tls",		[KEY_SMTPUTF8] = "smtputf8",
	[KEY_BODY] = "body", [KEY_FROM] = "from",	[KEY_RCPT] = "rcpt",
	[KEY_HOLD] = "hold", [KEY_PAD] = "pad",
};

static const char *const body_names[] = {
	[QUEUE_BODY_NONE] = "none",
	[QUEUE_BODY_7BIT] = "7bit",
	[QUEUE_BODY_8BITMIME] = "8bitmime",
};

void queue_id_new(char out[QUEUE_ID_MAX + 1])
{
	static const char alphabet[] = QUEUE_ID_ALPHABET;
	unsigned char rnd[13]; /* 104 bits; the first 100 become 20 characters */
	unsigned bits = 0, nbits = 0;
	size_t o = 0;

	if (sodium_init() < 0)
		fatal("sodium_init failed");
	randombytes_buf(rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd) && o < QUEUE_ID_LEN; i++) {
		bits = (bits << 8) | rnd[i];
		nbits += 8;
		while (nbits >= 5 && o < QUEUE_ID_LEN) {
			nbits -= 5;
			out[o++] = alphabet[(bits >> nbits) & 31];
		}
		bits &= (1u << nbits) - 1;
	}
	out[QUEUE_ID_LEN] = '\0';
	sodium_memzero(rnd, sizeof(rnd));
}

bool queue_id_valid(const char *id)
{
	if (id == NULL)
		return false;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++) {
		if (id[i] == '\0' || strchr(QUEUE_ID_ALPHABET, id[i]) == NULL)
			return false;
	}
	return id[QUEUE_ID_LEN] == '\0';
}

void queue_envelope_free(struct queue_envelope *env)
{
	if (env == NULL)
		return;
	free(env->from);
	for (size_t i = 0; i < env->nrcpts; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	free(env->hold_reason);
	free(env->rcpt_done);
	memset(env, 0, sizeof(*env));
}

static int set_string(char **dst, const char *src)
{
	char *copy = strdup(src);
	if (copy == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

int queue_envelope_set_from(struct queue_envelope *env, const char *from)
{
	return set_string(&env->from, from);
}

int queue_envelope_set_hold_reason(struct queue_envelope *env, const char *reason)
{
	return set_string(&env->hold_reason, reason);
}

int queue_envelope_add_rcpt(struct queue_envelope *env, const char *rcpt)
{
	if (env->nrcpts >= QUEUE_RCPT_MAX) {
		errno = EINVAL;
		return -1;
	}
	char *copy = strdup(rcpt);
	char **grown = realloc(env->rcpts, (env->nrcpts + 1) * sizeof(*grown));
	if (copy == NULL || grown == NULL) {
		free(copy);
		if (grown != NULL)
			env->rcpts = grown;
		errno = ENOMEM;
		return -1;
	}
	env->rcpts = grown;
	env->rcpts[env->nrcpts++] = copy;
	return 0;
}

/* A value the reader will accept back: no CR/LF/NUL, length in [min, max]. */
static bool value_ok(const char *v, size_t min, size_t max)
{
	if (v == NULL)
		return false;
	size_t n = strnlen(v, max + 1);
	return n >= min && n <= max && strpbrk(v, "\r\n") == NULL;
}

struct out_buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void out_add(struct out_buf *o, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value), need = o->len + kl + vl + 3;
	if (o->failed)
		return;
	if (need > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < need)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (p == NULL) {
			o->failed = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, key, kl);
	o->p[o->len + kl] = ' ';
	memcpy(o->p + o->len + kl + 1, value, vl);
	o->len += kl + vl + 1;
	o->p[o->len++] = '\n';
	o->p[o->len] = '\0';
}

/* Appends pad lines of exactly n octets (0, or QUEUE_PAD_LINE_MIN and more). */
static void out_pad(struct out_buf *o, size_t n)
{
	char v[QUEUE_LINE_MAX];
	size_t lines = (n + QUEUE_LINE_MAX - 1) / QUEUE_LINE_MAX;
	for (size_t i = 0; i < lines; i++) {
		/* n spread evenly: every line 5..QUEUE_LINE_MAX octets with its key and LF */
		size_t len = n / lines + (i < n % lines);
		memset(v, '.', len - QUEUE_PAD_LINE_MIN);
		v[len - QUEUE_PAD_LINE_MIN] = '\0';
		out_add(o, key_names[KEY_PAD], v);
	}
}

/*
 * The envelope, padded with pad lines to size octets in all, or (size 0)
 * by pad octets (0: not padded; at least QUEUE_PAD_LINE_MIN).
 */
static int format(const struct queue_envelope *env, size_t size, size_t pad, char **out,
		  size_t *len)
{
	struct out_buf o = {0};
	char num[24], ver[8];

	*out = NULL;
	*len = 0;
	bool ok = queue_id_valid(env->id) && env->arrived >= 0 &&
		  value_ok(env->client_addr, 1, QUEUE_CLIENT_MAX) &&
		  value_ok(env->helo, 0, QUEUE_HELO_MAX) &&
		  value_ok(env->from, 0, QUEUE_VALUE_MAX) &&
		  (unsigned)env->body <= QUEUE_BODY_8BITMIME && env->nrcpts >= 1 &&
		  env->nrcpts <= QUEUE_RCPT_MAX && env->rcpts != NULL &&
		  (env->hold_reason == NULL || value_ok(env->hold_reason, 1, QUEUE_VALUE_MAX));
	for (size_t i = 0; ok && i < env->nrcpts; i++)
		ok = value_ok(env->rcpts[i], 1, QUEUE_VALUE_MAX);
	if (!ok) {
		errno = EINVAL;
		return -1;
	}
	snprintf(ver, sizeof(ver), "%d", QUEUE_FORMAT_VERSION);
	snprintf(num, sizeof(num), "%" PRId64, env->arrived);
	out_add(&o, MAGIC, ver);
	out_add(&o, key_names[KEY_ID], env->id);
	out_add(&o, key_names[KEY_ARRIVED], num);
	out_add(&o, key_names[KEY_CLIENT], env->client_addr);
	out_add(&o, key_names[KEY_HELO], env->helo);
	out_add(&o, key_names[KEY_TLS], env->tls ? "yes" : "no");
	out_add(&o, key_names[KEY_SMTPUTF8], env->smtputf8 ? "yes" : "no");
	out_add(&o, key_names[KEY_BODY], body_names[env->body]);
	out_add(&o, key_names[KEY_FROM], env->from);
	for (size_t i = 0; i < env->nrcpts; i++)
		out_add(&o, key_names[KEY_RCPT], env->rcpts[i]);
	if (env->hold_reason != NULL)
		out_add(&o, key_names[KEY_HOLD], env->hold_reason);
	if ((size || pad) && !o.failed) {
		size_t bare = o.len + 1; /* the empty line ends it */
		if (size)
			pad = size >= bare ? size - bare : 0;
		if ((size && size < bare) || (pad > 0 && pad < QUEUE_PAD_LINE_MIN) ||
		    bare + pad > QUEUE_ENVELOPE_MAX) {
			free(o.p);
			errno = ENOSPC;
			return -1;
		}
		out_pad(&o, pad);
	}
	if (!o.failed && o.len + 2 > o.cap) {
		char *p = realloc(o.p, o.len + 2);
		if (p == NULL)
			o.failed = true;
		else
			o.p = p;
	}
	if (o.failed) {
		free(o.p);
		errno = ENOMEM;
		return -1;
	}
	o.p[o.len++] = '\n';
	o.p[o.len] = '\0';
	*out = o.p;
	*len = o.len;
	return 0;
}

int queue_envelope_format(const struct queue_envelope *env, char **out, size_t *len)
{
	return format(env, 0, 0, out, len);
}

int queue_envelope_format_size(const struct queue_envelope *env, size_t size, char **out,
			       size_t *len)
{
	if (size == 0) {
		*out = NULL;
		*len = 0;
		errno = ENOSPC;
		return -1;
	}
	return format(env, size, 0, out, len);
}

int queue_envelope_format_pad(const struct queue_envelope *env, size_t pad, char **out, size_t *len)
{
	return format(env, 0, pad && pad < QUEUE_PAD_LINE_MIN ? QUEUE_PAD_LINE_MIN : pad, out, len);
}

/* --- reader --- */

struct parse {
	struct queue_envelope *env;
	char *err;
	size_t errlen;
	unsigned line;
	bool seen[KEY_COUNT];
};

static int parse_fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int parse_fail(struct parse *p, const char *fmt, ...)
{
	if (p->errlen > 0) {
		int n = snprintf(p->err, p->errlen, "line %u: ", p->line);
		va_list ap;
		va_start(ap, fmt);
		if (n >= 0 && (size_t)n < p->errlen)
			vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Copies at most 32 octets of a key for an error message, replacing unsafe ones. */
static const char *safe_key(char out[40], const char *k, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < 32; i++) {
		char c = k[i];
		bool safe = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
		out[o++] = safe ? c : '?';
	}
	if (n > 32) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static char *dup_value(const char *v, size_t n)
{
	char *s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

static int parse_yes_no(struct parse *p, const char *key, const char *v, size_t n, bool *out)
{
	if (n == 3 && memcmp(v, "yes", 3) == 0)
		*out = true;
	else if (n == 2 && memcmp(v, "no", 2) == 0)
		*out = false;
	else
		return parse_fail(p, "%s must be yes or no", key);
	return 0;
}

static int parse_arrived(struct parse *p, const char *v, size_t n)
{
	int64_t t = 0;
	if (n == 0 || n > 19 || (v[0] == '0' && n > 1))
		return parse_fail(p, "bad arrived time");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return parse_fail(p, "bad arrived time");
		int d = v[i] - '0';
		if (t > (INT64_MAX - d) / 10)
			return parse_fail(p, "arrived time out of range");
		t = t * 10 + d;
	}
	p->env->arrived = t;
	return 0;
}

static int parse_value(struct parse *p, enum env_key key, const char *v, size_t n)
{
	struct queue_envelope *env = p->env;
	char **slot = NULL;

	switch (key) {
	case KEY_ID:
		if (n != QUEUE_ID_LEN)
			return parse_fail(p, "bad queue id");
		memcpy(env->id, v, n);
		env->id[n] = '\0';
		if (!queue_id_valid(env->id))
			return parse_fail(p, "bad queue id");
		return 0;
	case KEY_ARRIVED:
		return parse_arrived(p, v, n);
	case KEY_CLIENT:
		if (n == 0 || n > QUEUE_CLIENT_MAX)
			return parse_fail(p, "bad client address length");
		memcpy(env->client_addr, v, n);
		env->client_addr[n] = '\0';
		return 0;
	case KEY_HELO:
		if (n > QUEUE_HELO_MAX)
			return parse_fail(p, "helo too long");
		memcpy(env->helo, v, n);
		env->helo[n] = '\0';
		return 0;
	case KEY_TLS:
		return parse_yes_no(p, "tls", v, n, &env->tls);
	case KEY_SMTPUTF8:
		return parse_yes_no(p, "smtputf8", v, n, &env->smtputf8);
	case KEY_BODY:
		for (size_t b = 0; b < sizeof(body_names) / sizeof(body_names[0]); b++) {
			if (strlen(body_names[b]) == n && memcmp(body_names[b], v, n) == 0) {
				env->body = (enum queue_body)b;
				return 0;
			}
		}
		return parse_fail(p, "body must be none, 7bit or 8bitmime");
	case KEY_FROM:
		if (n > QUEUE_VALUE_MAX)
			return parse_fail(p, "from too long");
		slot = &env->from;
		break;
	case KEY_HOLD:
		if (n == 0 || n > QUEUE_VALUE_MAX)
			return parse_fail(p, "bad hold reason length");
		slot = &env->hold_reason;
		break;
	case KEY_PAD:
		for (size_t i = 0; i < n; i++)
			if (v[i] != '.')
				return parse_fail(p, "pad other than dots");
		return 0;
	case KEY_RCPT:
		if (n == 0 || n > QUEUE_VALUE_MAX)
			return parse_fail(p, "bad recipient length");
		if (env->nrcpts >= QUEUE_RCPT_MAX)
			return parse_fail(p, "more than %d recipients", QUEUE_RCPT_MAX);
		if ((env->nrcpts & (env->nrcpts - 1)) == 0) { /* 0, 1, 2, 4...: grow */
			size_t cap = env->nrcpts ? env->nrcpts * 2 : 1;
			char **grown = realloc(env->rcpts, cap * sizeof(*grown));
			if (grown == NULL)
				return parse_fail(p, "out of memory");
			env->rcpts = grown;
		}
		slot = &env->rcpts[env->nrcpts];
		*slot = NULL;
		break;
	case KEY_COUNT:
		fatal("bad envelope key %d", (int)key);
	}
	*slot = dup_value(v, n);
	if (*slot == NULL)
		return parse_fail(p, "out of memory");
	if (key == KEY_RCPT)
		env->nrcpts++;
	return 0;
}

static int parse_line(struct parse *p, const char *s, size_t n)
{
	char kbuf[40];

	if (memchr(s, '\r', n) != NULL || memchr(s, '\0', n) != NULL)
		return parse_fail(p, "CR or NUL in envelope");
	const char *sp = memchr(s, ' ', n);
	if (sp == NULL)
		return parse_fail(p, "no space after key \"%s\"", safe_key(kbuf, s, n));
	size_t kl = (size_t)(sp - s);
	for (int k = 0; k < KEY_COUNT; k++) {
		if (strlen(key_names[k]) != kl || memcmp(key_names[k], s, kl) != 0)
			continue;
		if (k != KEY_RCPT && k != KEY_PAD && p->seen[k])
			return parse_fail(p, "duplicate key \"%s\"", key_names[k]);
		p->seen[k] = true;
		return parse_value(p, (enum env_key)k, sp + 1, n - kl - 1);
	}
	return parse_fail(p, "unknown key \"%s\"", safe_key(kbuf, s, kl));
}

static int parse_first_line(struct parse *p, const char *s, size_t n)
{
	char want[32];
	int wl = snprintf(want, sizeof(want), "%s %d", MAGIC, QUEUE_FORMAT_VERSION);

	if ((size_t)wl == n && memcmp(s, want, n) == 0)
		return 0;
	if (n > strlen(MAGIC) && memcmp(s, MAGIC " ", strlen(MAGIC) + 1) == 0)
		return parse_fail(p, "unsupported format version");
	return parse_fail(p, "not a queue file");
}

static int parse_all(struct parse *p, const char *buf, size_t len, size_t *content_offset)
{
	size_t pos = 0, limit = len < QUEUE_ENVELOPE_MAX ? len : QUEUE_ENVELOPE_MAX;

	for (p->line = 1;; p->line++) {
		size_t room = limit - pos;
		const char *nl =
			memchr(buf + pos, '\n', room < QUEUE_LINE_MAX ? room : QUEUE_LINE_MAX);
		if (nl == NULL) {
			if (room >= QUEUE_LINE_MAX)
				return parse_fail(p, "line longer than %d octets", QUEUE_LINE_MAX);
			return parse_fail(p, "no empty line ends the envelope");
		}
		size_t n = (size_t)(nl - (buf + pos));
		const char *s = buf + pos;
		pos += n + 1;
		if (p->line == 1) {
			if (parse_first_line(p, s, n) < 0)
				return -1;
			continue;
		}
		if (n == 0)
			break;
		if (parse_line(p, s, n) < 0)
			return -1;
	}
	for (int k = 0; k < KEY_COUNT; k++) {
		if (k != KEY_HOLD && k != KEY_PAD && !p->seen[k])
			return parse_fail(p, "missing key \"%s\"", key_names[k]);
	}
	*content_offset = pos;
	return 0;
}

int queue_envelope_parse(const char *buf, size_t len, struct queue_envelope *env,
			 size_t *content_offset, char *err, size_t errlen)
{
	struct parse p = {.env = env, .err = err, .errlen = errlen};

	memset(env, 0, sizeof(*env));
	if (errlen > 0)
		err[0] = '\0';
	if (parse_all(&p, buf, len, content_offset) < 0) {
		queue_envelope_free(env);
		return -1;
	}
	return 0;
}
