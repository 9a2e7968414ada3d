/*
 * Scan attestation: sign, format (folded), stream-hash, parse and verify the
 * X-Airlock-Scan header, and strip incoming X-Airlock-* fields. The format
 * is documented in attest.h.
 */
#include "relay/attest.h"
#include "common/errmsg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define SIGN_PREFIX "airlock-scan-v1\n"
#define NAME_LC	    "x-airlock-scan"
#define NAME_LEN    (sizeof(NAME_LC) - 1)
#define STRIP_LC    "x-airlock-"
#define B64_HASH    43 /* base64url characters of 32 octets */
#define B64_SIG	    86 /* ... of 64 octets */
#define CANON_MAX   512

enum tag { T_V, T_ID, T_T, T_ENGINE, T_DB, T_VERDICT, T_BH, T_K, T_S, T_COUNT };

static const char *const tag_names[T_COUNT] = {"v",	  "id", "t", "engine", "db",
					       "verdict", "bh", "k", "s"};

enum stream_state { S_LINE_START = 0, S_EMPTY_CR, S_NAME, S_LINE, S_CR, S_BODY };

const char *attest_result_name(enum attest_result r)
{
	static const char *const names[] = {
		[ATTEST_OK] = "ok",
		[ATTEST_MISSING] = "missing",
		[ATTEST_DUPLICATE] = "duplicate",
		[ATTEST_MALFORMED] = "malformed",
		[ATTEST_UNKNOWN_KEY] = "unknown-key",
		[ATTEST_BAD_SIGNATURE] = "bad-signature",
		[ATTEST_STALE] = "stale",
		[ATTEST_FUTURE] = "future",
		[ATTEST_BODY_MISMATCH] = "body-mismatch",
		[ATTEST_UNSCANNED] = "unscanned",
	};
	if ((unsigned)r >= sizeof(names) / sizeof(names[0]))
		fatal("attest result %d out of range", (int)r);
	return names[r];
}

const char *attest_verdict_name(enum attest_verdict v)
{
	return v == ATTEST_VERDICT_CLEAN       ? "clean"
	       : v == ATTEST_VERDICT_UNSCANNED ? "unscanned"
					       : NULL;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* The streaming reader: hash the body, capture our header field. */

void attest_stream_init(struct attest_stream *s)
{
	if (sodium_init() < 0)
		fatal("sodium_init failed");
	memset(s, 0, sizeof(*s));
	crypto_generichash_init(&s->hash, NULL, 0, ATTEST_HASH_LEN);
	s->state = S_LINE_START;
}

static void capture(struct attest_stream *s, char c)
{
	if (s->value_len < ATTEST_VALUE_MAX)
		s->value[s->value_len++] = c;
	else
		s->overlong = true;
}

/* One octet of an ordinary line (not its start). */
static void line_octet(struct attest_stream *s, char c)
{
	if (c == '\r') {
		s->state = S_CR;
		return;
	}
	s->state = S_LINE;
	if (s->capturing)
		capture(s, c);
}

static void header_octet(struct attest_stream *s, char c)
{
	switch (s->state) {
	case S_LINE_START:
		if (c == '\r') {
			s->state = S_EMPTY_CR;
		} else if (is_wsp(c)) { /* a fold: the field goes on */
			if (s->capturing) {
				capture(s, '\r');
				capture(s, '\n');
			}
			line_octet(s, c);
		} else {
			s->capturing = false;
			s->match = 0;
			s->state = S_NAME;
			header_octet(s, c);
		}
		break;
	case S_EMPTY_CR:
		if (c == '\n') {
			s->state = S_BODY;
		} else { /* a line starting with a bare CR: some other field */
			s->capturing = false;
			line_octet(s, c);
		}
		break;
	case S_NAME:
		if (s->match < NAME_LEN && ascii_lower(c) == NAME_LC[s->match]) {
			s->match++;
		} else if (s->match == NAME_LEN && c == ':') {
			s->capturing = true;
			s->nfields++;
			s->value_len = 0;
			s->overlong = false;
			s->state = S_LINE;
		} else if (!(s->match == NAME_LEN && is_wsp(c))) {
			line_octet(s, c);
		}
		break;
	case S_LINE:
		line_octet(s, c);
		break;
	case S_CR:
		if (c == '\n') {
			s->state = S_LINE_START;
		} else {
			if (s->capturing)
				capture(s, '\r');
			line_octet(s, c);
		}
		break;
	default:
		fatal("attest stream state %d", s->state);
	}
}

void attest_stream_update(struct attest_stream *s, const void *data, size_t len)
{
	const char *p = data;
	size_t i = 0;

	if (s->done)
		fatal("attest stream used after its end");
	while (i < len && s->state != S_BODY)
		header_octet(s, p[i++]);
	s->header_len += i;
	if (i < len)
		crypto_generichash_update(&s->hash, (const unsigned char *)p + i, len - i);
}

uint64_t attest_stream_header_len(const struct attest_stream *s)
{
	return s->header_len;
}

void attest_stream_body_hash(struct attest_stream *s, unsigned char out[ATTEST_HASH_LEN])
{
	if (s->done)
		fatal("attest stream ended twice");
	s->done = true;
	crypto_generichash_final(&s->hash, out, ATTEST_HASH_LEN);
}

void attest_body_hash(const void *msg, size_t len, unsigned char out[ATTEST_HASH_LEN])
{
	struct attest_stream s;

	attest_stream_init(&s);
	attest_stream_update(&s, msg, len);
	attest_stream_body_hash(&s, out);
}

/* Value syntax, shared by the writer (refuse to sign) and the reader. */

static bool valid_id(const char *v)
{
	size_t n = strlen(v);

	return n >= 1 && n <= ATTEST_ID_MAX &&
	       strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") == n;
}

/* Printable ASCII but ';', single spaces between words, no space at either end. */
static bool valid_text(const char *v)
{
	size_t n = strlen(v);

	if (n < 1 || n > ATTEST_TEXT_MAX || v[0] == ' ' || v[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < ' ' || v[i] > '~' || v[i] == ';' || (v[i] == ' ' && v[i + 1] == ' '))
			return false;
	}
	return true;
}

static bool valid_key_id(const char *v)
{
	return strlen(v) == ATTEST_KEYID_LEN && strspn(v, "0123456789abcdef") == ATTEST_KEYID_LEN;
}

static bool valid_stamp(const struct attest_stamp *st)
{
	return valid_id(st->id) && st->time >= 0 && st->time <= ATTEST_TIME_MAX &&
	       valid_text(st->engine) && valid_text(st->db) &&
	       attest_verdict_name(st->verdict) != NULL && valid_key_id(st->key_id);
}

/* The signed text: SIGN_PREFIX and every tag but s. Returns its length. */
static size_t signed_text(const struct attest_stamp *st, char out[CANON_MAX])
{
	char bh[B64_HASH + 1];

	sodium_bin2base64(bh, sizeof(bh), st->body_hash, ATTEST_HASH_LEN,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	int n = snprintf(out, CANON_MAX,
			 SIGN_PREFIX "v=1; id=%s; t=%" PRId64 "; engine=%s; db=%s; verdict=%s; "
				     "bh=%s; k=%s",
			 st->id, st->time, st->engine, st->db, attest_verdict_name(st->verdict), bh,
			 st->key_id);
	if (n < 0 || n >= CANON_MAX)
		fatal("signed text does not fit");
	return (size_t)n;
}

int attest_sign(struct attest_stamp *st, const struct attest_signer *signer)
{
	char text[CANON_MAX];

	memcpy(st->key_id, signer->pub.id, sizeof(st->key_id));
	if (!valid_stamp(st)) {
		errno = EINVAL;
		return -1;
	}
	size_t n = signed_text(st, text);
	crypto_sign_detached(st->sig, NULL, (const unsigned char *)text, n, signer->sk);
	return 0;
}

/* Appends s[0..n) to out at *pos, keeping room for the NUL. */
static int put(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
	if (outlen - *pos <= n)
		return -1;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
	return 0;
}

int attest_format_field(const struct attest_stamp *st, char *out, size_t outlen)
{
	char text[CANON_MAX], sig[B64_SIG + 1];
	size_t pos = 0, col = sizeof(ATTEST_HEADER_NAME);
	int rc = 0;

	if (!valid_stamp(st)) {
		errno = EINVAL;
		return -1;
	}
	sodium_bin2base64(sig, sizeof(sig), st->sig, ATTEST_SIG_LEN,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	size_t n = signed_text(st, text) - (sizeof(SIGN_PREFIX) - 1);
	char *value = text + sizeof(SIGN_PREFIX) - 1;
	if (n + 4 + B64_SIG >= CANON_MAX)
		fatal("header value does not fit");
	memcpy(value + n, "; s=", 4);
	memcpy(value + n + 4, sig, B64_SIG + 1);
	n += 4 + B64_SIG;

	rc |= put(out, outlen, &pos, ATTEST_HEADER_NAME ":", col);
	/*
	 * Greedy folding between elements ("tag=value;"): every element but s fits
	 * on a line of its own (the value caps see to that); s is cut inside its
	 * value, where readers drop white space.
	 */
	for (const char *w = value; *w != '\0';) {
		size_t wl = strcspn(w, ";");
		bool cuttable = strncmp(w, "s=", 2) == 0;

		wl += w[wl] == ';';
		if (col + 1 + wl > ATTEST_LINE_MAX) {
			if (!cuttable && 1 + wl > ATTEST_LINE_MAX)
				fatal("cannot fold a %zu-octet element", wl);
			if (!cuttable || ATTEST_LINE_MAX - col < 8) {
				rc |= put(out, outlen, &pos, "\r\n", 2);
				col = 0;
			}
		}
		while (col + 1 + wl > ATTEST_LINE_MAX) {
			size_t take = ATTEST_LINE_MAX - col - 1;
			rc |= put(out, outlen, &pos, " ", 1);
			rc |= put(out, outlen, &pos, w, take);
			rc |= put(out, outlen, &pos, "\r\n", 2);
			w += take;
			wl -= take;
			col = 0;
		}
		rc |= put(out, outlen, &pos, " ", 1);
		rc |= put(out, outlen, &pos, w, wl);
		col += 1 + wl;
		w += wl;
		w += *w == ' ';
	}
	rc |= put(out, outlen, &pos, "\r\n", 2);
	if (rc != 0) {
		errno = ENOSPC;
		return -1;
	}
	return (int)pos;
}

/* The reader. */

/* Unfolds raw into out (NUL-terminated); -1 on an octet not allowed. */
static int unfold(const char *raw, size_t len, char *out, const char **why)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '\r' && i + 2 < len && raw[i + 1] == '\n' && is_wsp(raw[i + 2])) {
			i++;
			continue;
		}
		if (c == '\r' || c == '\n') {
			*why = "CR or LF outside a fold";
			return -1;
		}
		if ((c < ' ' && c != '\t') || c >= 0x7f) {
			*why = "control or non-ASCII octet";
			return -1;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* Trims SP/HTAB at both ends of s[0..*n) in place; returns the new start. */
static char *trim(char *s, size_t *n)
{
	while (*n > 0 && is_wsp(s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && is_wsp(s[*n - 1]))
		(*n)--;
	s[*n] = '\0';
	return s;
}

/* Copies v into out (outsz) turning runs of SP/HTAB into one space. */
static void squeeze(const char *v, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *v != '\0' && o + 1 < outsz; v++) {
		if (is_wsp(*v) && (o > 0 && out[o - 1] == ' '))
			continue;
		out[o++] = is_wsp(*v) ? ' ' : *v;
	}
	out[o] = '\0';
	if (*v != '\0') /* too long: make it fail valid_text() */
		out[0] = ' ';
}

/* Decodes base64url (folding white space dropped) into exactly outlen octets. */
static int decode_b64(const char *v, unsigned char *out, size_t outlen, size_t chars)
{
	char buf[B64_SIG + 1];
	size_t n = 0, binlen = 0;
	const char *end = NULL;

	for (; *v != '\0'; v++) {
		if (is_wsp(*v))
			continue;
		if (n == chars)
			return -1;
		buf[n++] = *v;
	}
	if (n != chars)
		return -1;
	if (sodium_base642bin(out, outlen, buf, n, NULL, &binlen, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	return binlen == outlen && end == buf + n ? 0 : -1;
}

static int parse_time(const char *v, int64_t *out)
{
	size_t n = strlen(v);
	int64_t t = 0;

	if (n < 1 || n > 16 || strspn(v, "0123456789") != n || (n > 1 && v[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++)
		t = t * 10 + (v[i] - '0');
	if (t > ATTEST_TIME_MAX)
		return -1;
	*out = t;
	return 0;
}

/* Checks and stores one value; returns the reason or NULL. */
static const char *parse_value(enum tag tag, const char *v, struct attest_stamp *st)
{
	switch (tag) {
	case T_V:
		return strcmp(v, "1") == 0 ? NULL : "unsupported version";
	case T_ID:
		snprintf(st->id, sizeof(st->id), "%s", v);
		return strlen(v) <= ATTEST_ID_MAX && valid_id(v) ? NULL : "bad id";
	case T_T:
		return parse_time(v, &st->time) == 0 ? NULL : "bad t";
	case T_ENGINE:
		squeeze(v, st->engine, sizeof(st->engine));
		return valid_text(st->engine) ? NULL : "bad engine";
	case T_DB:
		squeeze(v, st->db, sizeof(st->db));
		return valid_text(st->db) ? NULL : "bad db";
	case T_VERDICT:
		st->verdict = strcmp(v, "clean") == 0	    ? ATTEST_VERDICT_CLEAN
			      : strcmp(v, "unscanned") == 0 ? ATTEST_VERDICT_UNSCANNED
							    : 0;
		return st->verdict != 0 ? NULL : "bad verdict";
	case T_BH:
		return decode_b64(v, st->body_hash, ATTEST_HASH_LEN, B64_HASH) == 0 ? NULL
										    : "bad bh";
	case T_K:
		snprintf(st->key_id, sizeof(st->key_id), "%s", v);
		return valid_key_id(v) ? NULL : "bad k";
	case T_S:
		return decode_b64(v, st->sig, ATTEST_SIG_LEN, B64_SIG) == 0 ? NULL : "bad s";
	default:
		fatal("tag %d", (int)tag);
	}
}

int attest_parse(const char *value, size_t len, struct attest_stamp *out, char *err, size_t errlen)
{
	char buf[ATTEST_VALUE_MAX + 1];
	const char *why = NULL;
	size_t next = 0;

	memset(out, 0, sizeof(*out));
	if (len > ATTEST_VALUE_MAX)
		return errmsg_set(err, errlen, "value longer than %d octets", ATTEST_VALUE_MAX);
	if (unfold(value, len, buf, &why) < 0)
		return errmsg_set(err, errlen, "%s", why);
	for (char *el = buf; el != NULL;) {
		char *semi = strchr(el, ';');
		size_t n = semi ? (size_t)(semi - el) : strlen(el);
		char *eq = memchr(el, '=', n);
		size_t tl, vl;
		unsigned tag;

		if (eq == NULL) {
			why = n > 0 ? "element without '='" : "empty element";
			break;
		}
		tl = (size_t)(eq - el);
		vl = n - tl - 1;
		char *tname = trim(el, &tl);
		char *v = trim(eq + 1, &vl);
		for (tag = 0; tag < T_COUNT && strcmp(tname, tag_names[tag]) != 0; tag++)
			;
		if (tag == T_COUNT) {
			why = "unknown tag";
			break;
		}
		if (tag < next) {
			errmsg_set(err, errlen, "duplicate tag %s", tag_names[tag]);
			goto bad;
		}
		if (tag > next) {
			errmsg_set(err, errlen, "tag %s where %s expected", tag_names[tag],
				   tag_names[next]);
			goto bad;
		}
		if ((why = parse_value(tag, v, out)) != NULL)
			break;
		next++;
		el = semi ? semi + 1 : NULL;
	}
	if (why != NULL)
		errmsg_set(err, errlen, "%s", why);
	else if (next < T_COUNT)
		errmsg_set(err, errlen, "tag %s missing", tag_names[next]);
	else
		return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}

enum attest_result attest_verify(const struct attest_stamp *st,
				 const unsigned char body_hash[ATTEST_HASH_LEN],
				 const struct attest_trust *trust,
				 const struct attest_verify_opts *opts)
{
	const struct attest_key *key;
	char text[CANON_MAX];
	bool good = false;

	if (opts->now < 0 || opts->max_age < 0 || opts->max_skew < 0)
		fatal("negative time in attest_verify_opts");
	if (!valid_stamp(st))
		return ATTEST_MALFORMED;
	if (attest_trust_find(trust, st->key_id, 0) == NULL)
		return ATTEST_UNKNOWN_KEY;
	size_t n = signed_text(st, text);
	for (size_t i = 0; !good && (key = attest_trust_find(trust, st->key_id, i)) != NULL; i++)
		good = crypto_sign_verify_detached(st->sig, (const unsigned char *)text, n,
						   key->pk) == 0;
	if (!good)
		return ATTEST_BAD_SIGNATURE;
	if (st->time > opts->now && st->time - opts->now > opts->max_skew)
		return ATTEST_FUTURE;
	if (opts->now > st->time && opts->now - st->time > opts->max_age)
		return ATTEST_STALE;
	if (sodium_memcmp(st->body_hash, body_hash, ATTEST_HASH_LEN) != 0)
		return ATTEST_BODY_MISMATCH;
	if (st->verdict != ATTEST_VERDICT_CLEAN && !opts->accept_unscanned)
		return ATTEST_UNSCANNED;
	return ATTEST_OK;
}

enum attest_result attest_stream_verify(struct attest_stream *s, const struct attest_trust *trust,
					const struct attest_verify_opts *opts,
					struct attest_stamp *out, char *err, size_t errlen)
{
	unsigned char bh[ATTEST_HASH_LEN];
	struct attest_stamp st;
	enum attest_result r;

	attest_stream_body_hash(s, bh);
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s->nfields == 0) {
		errmsg_set(err, errlen, "no %s header", ATTEST_HEADER_NAME);
		return ATTEST_MISSING;
	}
	if (s->nfields > 1) {
		errmsg_set(err, errlen, "%u %s headers", s->nfields, ATTEST_HEADER_NAME);
		return ATTEST_DUPLICATE;
	}
	if (s->overlong) {
		errmsg_set(err, errlen, "value longer than %d octets", ATTEST_VALUE_MAX);
		return ATTEST_MALFORMED;
	}
	if (attest_parse(s->value, s->value_len, &st, err, errlen) < 0)
		return ATTEST_MALFORMED;
	if (out != NULL)
		*out = st;
	r = attest_verify(&st, bh, trust, opts);
	if (r != ATTEST_OK)
		errmsg_set(err, errlen, "%s (key %s, t=%" PRId64 ")", attest_result_name(r),
			   st.key_id, st.time);
	return r;
}

enum attest_result attest_verify_message(const void *msg, size_t len,
					 const struct attest_trust *trust,
					 const struct attest_verify_opts *opts,
					 struct attest_stamp *out, char *err, size_t errlen)
{
	struct attest_stream s;

	attest_stream_init(&s);
	attest_stream_update(&s, msg, len);
	return attest_stream_verify(&s, trust, opts, out, err, errlen);
}

/* Offset just past the CRLF ending the line at from, or len for a last line without one. */
static size_t line_end(const char *buf, size_t len, size_t from)
{
	for (const char *cr; from < len && (cr = memchr(buf + from, '\r', len - from)) != NULL;) {
		size_t i = (size_t)(cr - buf);
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		from = i + 1;
	}
	return len;
}

size_t attest_strip_incoming(char *buf, size_t len, size_t *removed)
{
	size_t r = 0, w = 0, nrm = 0;
	bool dropping = false;

	while (r < len) {
		size_t end = line_end(buf, len, r);

		if (end - r == 2 && buf[r] == '\r') { /* the empty line: the body follows */
			memmove(buf + w, buf + r, len - r);
			w += len - r;
			break;
		}
		if (!is_wsp(buf[r])) {
			dropping = end - r >= sizeof(STRIP_LC) - 1 &&
				   strncasecmp(buf + r, STRIP_LC, sizeof(STRIP_LC) - 1) == 0;
			nrm += dropping;
		}
		if (!dropping) {
			memmove(buf + w, buf + r, end - r);
			w += end - r;
		}
		r = end;
	}
	if (removed != NULL)
		*removed = nrm;
	return w;
}
