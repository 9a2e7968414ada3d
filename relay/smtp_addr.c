/*
 * RFC 5321 Path / Mailbox parser with RFC 6531 UTF-8 support. A cursor walks
 * the input once; each production checks its own limit as it goes, so no
 * input is ever copied into a buffer it could overflow.
 */
#include "relay/smtp_addr.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

struct addr_cursor {
	const unsigned char *p;
	const unsigned char *end;
	bool utf8_ok;
};

/* RFC 5322 atext. */
static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char ascii_lower(unsigned char c)
{
	return (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
}

size_t smtp_addr_utf8_char_len(const unsigned char *s, size_t len)
{
	size_t n;

	if (len == 0 || s[0] < 0xC2) /* ASCII, continuation, or overlong C0/C1 lead */
		return 0;
	if (s[0] < 0xE0)
		n = 2;
	else if (s[0] < 0xF0)
		n = 3;
	else if (s[0] < 0xF5)
		n = 4;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	}
	if (s[0] == 0xE0 && s[1] < 0xA0) /* overlong 3-octet form */
		return 0;
	if (s[0] == 0xED && s[1] > 0x9F) /* UTF-16 surrogates U+D800..U+DFFF */
		return 0;
	if (s[0] == 0xF0 && s[1] < 0x90) /* overlong 4-octet form */
		return 0;
	if (s[0] == 0xF4 && s[1] > 0x8F) /* above U+10FFFF */
		return 0;
	return n;
}

/*
 * At a non-ASCII octet: checks that UTF-8 is allowed and well-formed and
 * returns its length in *n.
 */
static enum smtp_err take_utf8(struct addr_cursor *c, size_t *n)
{
	if (!c->utf8_ok)
		return SMTP_ERR_ADDR_UTF8_NOT_ALLOWED;
	*n = smtp_addr_utf8_char_len(c->p, (size_t)(c->end - c->p));
	if (*n == 0)
		return SMTP_ERR_ADDR_UTF8_MALFORMED;
	return SMTP_OK;
}

static bool has_non_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

/* True when value[0..len) is a Dot-string (uDot-string: UTF-8 already checked). */
static bool is_dot_string(const char *value, size_t len)
{
	bool atom_start = true;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)value[i];
		if (ch == '.') {
			if (atom_start)
				return false;
			atom_start = true;
		} else if (is_atext(ch) || ch >= 0x80) {
			atom_start = false;
		} else {
			return false;
		}
	}
	return !atom_start;
}

/*
 * Local-part = Dot-string / Quoted-string. Writes the normalised form to
 * out (SMTP_ADDR_LOCAL_MAX + 1 octets).
 */
static enum smtp_err parse_local(struct addr_cursor *c, char *out)
{
	const unsigned char *start = c->p;
	char value[SMTP_ADDR_LOCAL_MAX];
	size_t vlen = 0, n;
	enum smtp_err err;

	if (c->p < c->end && *c->p == '"') {
		c->p++;
		for (;;) {
			if (c->p >= c->end)
				return SMTP_ERR_ADDR_SYNTAX;
			unsigned char ch = *c->p;
			if (ch == '"')
				break;
			n = 1;
			if (ch == '\\') {
				if (c->end - c->p < 2 || c->p[1] < 32 || c->p[1] > 126)
					return SMTP_ERR_ADDR_SYNTAX;
				c->p++;
				ch = *c->p;
			} else if (ch >= 0x80) {
				if ((err = take_utf8(c, &n)) != SMTP_OK)
					return err;
			} else if (ch < 32 || ch > 126) {
				return SMTP_ERR_ADDR_SYNTAX;
			}
			/* Raw octets so far plus the closing quote must fit. */
			if ((size_t)(c->p + n - start) + 1 > SMTP_ADDR_LOCAL_MAX)
				return SMTP_ERR_ADDR_LOCAL_TOO_LONG;
			memcpy(value + vlen, c->p, n);
			vlen += n;
			c->p += n;
		}
		c->p++; /* closing quote */
	} else {
		bool atom_start = true;
		while (c->p < c->end) {
			unsigned char ch = *c->p;
			n = 1;
			if (ch == '.') {
				if (atom_start)
					return SMTP_ERR_ADDR_SYNTAX;
				atom_start = true;
			} else if (is_atext(ch)) {
				atom_start = false;
			} else if (ch >= 0x80) {
				if ((err = take_utf8(c, &n)) != SMTP_OK)
					return err;
				atom_start = false;
			} else {
				break;
			}
			if (vlen + n > SMTP_ADDR_LOCAL_MAX)
				return SMTP_ERR_ADDR_LOCAL_TOO_LONG;
			memcpy(value + vlen, c->p, n);
			vlen += n;
			c->p += n;
		}
		if (atom_start) /* empty, or ends with '.' */
			return SMTP_ERR_ADDR_SYNTAX;
	}

	/*
	 * Quote only where needed. The result is never longer than the input:
	 * a quoted input escaped at least the '"' and '\\' we escape.
	 */
	bool dot_string = is_dot_string(value, vlen);
	size_t need = vlen, o = 0;
	if (!dot_string) {
		need += 2;
		for (size_t i = 0; i < vlen; i++)
			need += value[i] == '"' || value[i] == '\\';
	}
	if (need > SMTP_ADDR_LOCAL_MAX)
		fatal("normalised local part would grow to %zu octets", need);
	if (dot_string) {
		memcpy(out, value, vlen);
		o = vlen;
	} else {
		out[o++] = '"';
		for (size_t i = 0; i < vlen; i++) {
			if (value[i] == '"' || value[i] == '\\')
				out[o++] = '\\';
			out[o++] = value[i];
		}
		out[o++] = '"';
	}
	out[o] = '\0';
	return SMTP_OK;
}

/* address-literal: "[" IPv4 / "IPv6:" IPv6 "]"; general literals are refused. */
static enum smtp_err parse_literal(struct addr_cursor *c, char *out)
{
	const unsigned char *content = ++c->p;
	char text[INET6_ADDRSTRLEN + 8];
	unsigned char bin[sizeof(struct in6_addr)];

	while (c->p < c->end && *c->p != ']') {
		unsigned char ch = *c->p;
		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\') /* dcontent */
			return SMTP_ERR_ADDR_SYNTAX;
		c->p++;
	}
	if (c->p >= c->end)
		return SMTP_ERR_ADDR_SYNTAX;
	size_t clen = (size_t)(c->p - content);
	c->p++; /* ']' */
	if (clen == 0 || clen >= sizeof(text))
		return SMTP_ERR_ADDR_SYNTAX;
	memcpy(text, content, clen);
	text[clen] = '\0';

	if (clen > 5 && strncasecmp(text, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, text + 5, bin) != 1)
			return SMTP_ERR_ADDR_SYNTAX;
		out[0] = '[';
		memcpy(out + 1, "IPv6:", 5);
		for (size_t i = 5; i < clen; i++)
			out[i + 1] = ascii_lower((unsigned char)text[i]);
	} else {
		if (inet_pton(AF_INET, text, bin) != 1)
			return SMTP_ERR_ADDR_SYNTAX;
		out[0] = '[';
		memcpy(out + 1, text, clen);
	}
	out[clen + 1] = ']';
	out[clen + 2] = '\0';
	return SMTP_OK;
}

/*
 * Domain = sub-domain *("." sub-domain), each a Let-dig [Ldh-str] or, with
 * utf8_ok, a U-label. With allow_literal, an address literal instead.
 * Writes the lowercased domain to out (SMTP_ADDR_DOMAIN_MAX + 1 octets).
 */
static enum smtp_err parse_domain(struct addr_cursor *c, bool allow_literal, char *out,
				  bool *literal)
{
	size_t o = 0, label = 0, n;
	unsigned char last = 0;
	enum smtp_err err;

	*literal = false;
	if (c->p < c->end && *c->p == '[') {
		if (!allow_literal)
			return SMTP_ERR_ADDR_SYNTAX;
		*literal = true;
		return parse_literal(c, out);
	}
	while (c->p < c->end) {
		unsigned char ch = *c->p;
		n = 1;
		if (ch == '.') {
			if (label == 0 || last == '-')
				return SMTP_ERR_ADDR_SYNTAX;
			label = 0;
		} else if (is_alnum(ch) || ch == '-') {
			if (label == 0 && ch == '-')
				return SMTP_ERR_ADDR_SYNTAX;
			label++;
		} else if (ch >= 0x80) {
			if ((err = take_utf8(c, &n)) != SMTP_OK)
				return err;
			label += n;
		} else {
			break;
		}
		if (label > SMTP_ADDR_LABEL_MAX || o + n > SMTP_ADDR_DOMAIN_MAX)
			return SMTP_ERR_ADDR_DOMAIN_TOO_LONG;
		for (size_t i = 0; i < n; i++)
			out[o++] = ascii_lower(c->p[i]);
		last = ch;
		c->p += n;
	}
	if (label == 0 || last == '-') /* empty, trailing '.' or trailing '-' */
		return SMTP_ERR_ADDR_SYNTAX;
	out[o] = '\0';
	return SMTP_OK;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ), into out. */
static enum smtp_err parse_mailbox(struct addr_cursor *c, struct smtp_addr *out)
{
	enum smtp_err err;

	if ((err = parse_local(c, out->local)) != SMTP_OK)
		return err;
	if (c->p >= c->end || *c->p != '@')
		return SMTP_ERR_ADDR_SYNTAX;
	c->p++;
	if ((err = parse_domain(c, true, out->domain, &out->literal)) != SMTP_OK)
		return err;
	size_t llen = strlen(out->local), dlen = strlen(out->domain);
	if (llen + 1 + dlen >= sizeof(out->mailbox))
		return SMTP_ERR_ADDR_PATH_TOO_LONG;
	memcpy(out->mailbox, out->local, llen);
	out->mailbox[llen] = '@';
	memcpy(out->mailbox + llen + 1, out->domain, dlen + 1);
	return SMTP_OK;
}

/* A-d-l ":" with A-d-l = At-domain *( "," At-domain ): checked, then dropped. */
static enum smtp_err skip_source_route(struct addr_cursor *c)
{
	char scratch[SMTP_ADDR_DOMAIN_MAX + 1];
	bool literal;
	enum smtp_err err;

	for (;;) {
		if (c->p >= c->end || *c->p != '@')
			return SMTP_ERR_ADDR_SYNTAX;
		c->p++;
		if ((err = parse_domain(c, false, scratch, &literal)) != SMTP_OK)
			return err;
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == ':') {
			c->p++;
			return SMTP_OK;
		}
		return SMTP_ERR_ADDR_SYNTAX;
	}
}

static enum smtp_err parse_path(struct addr_cursor *c, enum smtp_role role, struct smtp_addr *out)
{
	static const char postmaster[] = "Postmaster";
	const size_t pmlen = sizeof(postmaster) - 1;
	enum smtp_err err;

	if (c->p >= c->end || *c->p != '<')
		return SMTP_ERR_ADDR_SYNTAX;
	c->p++;
	if (c->p < c->end && *c->p == '>') {
		if (role != SMTP_ROLE_SENDER)
			return SMTP_ERR_ADDR_SYNTAX;
		c->p++;
		out->null_path = true;
		return SMTP_OK;
	}
	if (role == SMTP_ROLE_RECIPIENT && (size_t)(c->end - c->p) > pmlen &&
	    strncasecmp((const char *)c->p, postmaster, pmlen) == 0 && c->p[pmlen] == '>') {
		c->p += pmlen + 1;
		out->postmaster = true;
		memcpy(out->mailbox, postmaster, pmlen + 1);
		memcpy(out->local, postmaster, pmlen + 1);
		return SMTP_OK;
	}
	if (c->p < c->end && *c->p == '@' && (err = skip_source_route(c)) != SMTP_OK)
		return err;
	if ((err = parse_mailbox(c, out)) != SMTP_OK)
		return err;
	if (c->p >= c->end || *c->p != '>')
		return SMTP_ERR_ADDR_SYNTAX;
	c->p++;
	return SMTP_OK;
}

enum smtp_err smtp_addr_parse_path(const char *s, size_t len, enum smtp_role role, bool utf8_ok,
				   struct smtp_addr *out, size_t *consumed)
{
	struct addr_cursor c = {(const unsigned char *)s, (const unsigned char *)s + len, utf8_ok};
	enum smtp_err err;

	memset(out, 0, sizeof(*out));
	*consumed = 0;
	err = parse_path(&c, role, out);
	if (err == SMTP_OK && c.p - (const unsigned char *)s > SMTP_ADDR_PATH_MAX)
		err = SMTP_ERR_ADDR_PATH_TOO_LONG;
	if (err != SMTP_OK) {
		memset(out, 0, sizeof(*out));
		return err;
	}
	out->utf8 = has_non_ascii(out->mailbox);
	*consumed = (size_t)(c.p - (const unsigned char *)s);
	return SMTP_OK;
}

enum smtp_err smtp_addr_parse_mailbox(const char *s, size_t len, bool utf8_ok,
				      struct smtp_addr *out)
{
	struct addr_cursor c = {(const unsigned char *)s, (const unsigned char *)s + len, utf8_ok};
	enum smtp_err err;

	memset(out, 0, sizeof(*out));
	err = parse_mailbox(&c, out);
	if (err == SMTP_OK && c.p != c.end)
		err = SMTP_ERR_ADDR_SYNTAX;
	if (err == SMTP_OK && len + 2 > SMTP_ADDR_PATH_MAX)
		err = SMTP_ERR_ADDR_PATH_TOO_LONG;
	if (err != SMTP_OK) {
		memset(out, 0, sizeof(*out));
		return err;
	}
	out->utf8 = has_non_ascii(out->mailbox);
	return SMTP_OK;
}

enum smtp_err smtp_addr_check_domain(const char *s, size_t len, bool utf8_ok)
{
	struct addr_cursor c = {(const unsigned char *)s, (const unsigned char *)s + len, utf8_ok};
	char scratch[SMTP_ADDR_DOMAIN_MAX + 1];
	bool literal;
	enum smtp_err err;

	err = parse_domain(&c, true, scratch, &literal);
	if (err == SMTP_OK && c.p != c.end)
		err = SMTP_ERR_ADDR_SYNTAX;
	return err;
}
