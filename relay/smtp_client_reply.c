/*
 * SMTP reply parser and EHLO keyword reader; see smtp_client_reply.h.
 */
#include "relay/smtp_client_reply.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The first n (<= 3) digits of a reply code: 2..5, 0..5, 0..9. */
static bool reply_code_prefix_ok(const char *p, size_t n)
{
	static const char lo[3] = {'2', '0', '0'}, hi[3] = {'5', '5', '9'};

	for (size_t i = 0; i < n; i++)
		if (p[i] < lo[i] || p[i] > hi[i])
			return false;
	return true;
}

/* HT and printable octets, 8-bit included; everything else is refused. */
static bool reply_text_octet_ok(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

enum smtp_reply_status smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *out,
					size_t *used)
{
	size_t pos = 0;
	int code = 0;

	*used = 0;
	out->nlines = 0;
	out->text_len = 0;
	out->text[0] = '\0';
	for (;;) {
		const char *line = buf + pos;
		size_t avail = len - pos;
		size_t scan = avail < SMTP_REPLY_LINE_MAX ? avail : SMTP_REPLY_LINE_MAX;
		const char *lf = memchr(line, '\n', scan);

		if (out->nlines == SMTP_REPLY_LINES_MAX)
			return SMTP_REPLY_MALFORMED;
		/* Check what is there already, so garbage fails before its line ends. */
		size_t have = lf ? (size_t)(lf - line) : scan;
		if (!reply_code_prefix_ok(line, have < 3 ? have : 3))
			return SMTP_REPLY_MALFORMED;
		if (have >= 4 && line[3] != '-' && line[3] != ' ' && line[3] != '\r')
			return SMTP_REPLY_MALFORMED;
		if (!lf) {
			if (avail >= SMTP_REPLY_LINE_MAX)
				return SMTP_REPLY_MALFORMED;
			/* Only a CR may stand last while the LF is still to come. */
			for (size_t i = 4; i < have; i++)
				if (!reply_text_octet_ok((unsigned char)line[i]) &&
				    !(line[i] == '\r' && i + 1 == have))
					return SMTP_REPLY_MALFORMED;
			return SMTP_REPLY_NEED_MORE;
		}
		size_t n = (size_t)(lf - line); /* octets before the LF */
		if (n < 4 || line[n - 1] != '\r')
			return SMTP_REPLY_MALFORMED; /* bare LF, or a line shorter than "ddd" CRLF
						      */
		n--;				     /* without CR */
		bool more = n > 3 && line[3] == '-';
		if (n > 3 && line[3] == '\r')
			return SMTP_REPLY_MALFORMED;
		int this_code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (out->nlines > 0 && this_code != code)
			return SMTP_REPLY_MALFORMED;
		code = this_code;
		const char *text = n > 3 ? line + 4 : line + 3;
		size_t tlen = n > 3 ? n - 4 : 0;
		for (size_t i = 0; i < tlen; i++)
			if (!reply_text_octet_ok((unsigned char)text[i]))
				return SMTP_REPLY_MALFORMED;
		if (out->nlines > 0)
			out->text[out->text_len++] = '\n';
		out->line_off[out->nlines++] = (uint16_t)out->text_len;
		memcpy(out->text + out->text_len, text, tlen);
		out->text_len += tlen;
		out->text[out->text_len] = '\0';
		pos += (size_t)(lf - line) + 1;
		if (!more) {
			out->code = code;
			*used = pos;
			return SMTP_REPLY_DONE;
		}
	}
}

const char *smtp_reply_line(const struct smtp_reply *r, unsigned i, size_t *len)
{
	size_t start = r->line_off[i];
	size_t end = i + 1 < r->nlines ? (size_t)r->line_off[i + 1] - 1 : r->text_len;
	*len = end - start;
	return r->text + start;
}

void smtp_reply_format(const struct smtp_reply *r, char *out, size_t outsz)
{
	size_t pos;
	int n = snprintf(out, outsz, "%03d", r->code);

	if (n < 0 || (size_t)n >= outsz)
		return;
	pos = (size_t)n;
	for (unsigned i = 0; i < r->nlines && pos + 1 < outsz; i++) {
		size_t len;
		const char *line = smtp_reply_line(r, i, &len);
		const char *sep = i == 0 ? " " : " / ";
		size_t seplen = strlen(sep);
		if (len == 0 && i == 0)
			continue;
		if (pos + seplen >= outsz)
			break;
		memcpy(out + pos, sep, seplen);
		pos += seplen;
		size_t room = outsz - 1 - pos;
		if (len > room)
			len = room;
		memcpy(out + pos, line, len);
		pos += len;
	}
	out[pos] = '\0';
}

/* Case-insensitive keyword match: the whole keyword, then end or a space. */
static bool caps_keyword(const char *line, size_t len, const char *kw, const char **param,
			 size_t *plen)
{
	size_t kl = strlen(kw);

	if (len < kl || strncasecmp(line, kw, kl) != 0)
		return false;
	if (len > kl && line[kl] != ' ')
		return false;
	*param = len > kl ? line + kl + 1 : line + len;
	*plen = len > kl ? len - kl - 1 : 0;
	return true;
}

static uint64_t caps_size_value(const char *p, size_t len)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return v;
}

void smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	for (unsigned i = 1; i < r->nlines; i++) {
		size_t len, plen;
		const char *param;
		const char *line = smtp_reply_line(r, i, &len);

		if (caps_keyword(line, len, "PIPELINING", &param, &plen))
			caps->pipelining = true;
		else if (caps_keyword(line, len, "CHUNKING", &param, &plen))
			caps->chunking = true;
		else if (caps_keyword(line, len, "8BITMIME", &param, &plen))
			caps->eightbitmime = true;
		else if (caps_keyword(line, len, "SMTPUTF8", &param, &plen))
			caps->smtputf8 = true;
		else if (caps_keyword(line, len, "STARTTLS", &param, &plen))
			caps->starttls = true;
		else if (caps_keyword(line, len, "ENHANCEDSTATUSCODES", &param, &plen))
			caps->enhanced = true;
		else if (caps_keyword(line, len, "SIZE", &param, &plen)) {
			caps->size = true;
			caps->size_max = caps_size_value(param, plen);
		}
	}
}
