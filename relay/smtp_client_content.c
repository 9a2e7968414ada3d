/*
 * Content encoder for the SMTP client; see smtp_client_content.h.
 */
#include "relay/smtp_client_content.h"
#include "relay/smtp_octets.h"

#include <string.h>

#include <event2/buffer.h>

/* Output is built in a stack buffer: at most 2 octets out per octet in, plus CRLF. */
#define ENC_BLOCK 8192

void smtp_content_enc_init(struct smtp_content_enc *e, bool data_mode)
{
	memset(e, 0, sizeof(*e));
	e->stuff_dots = data_mode;
	e->line_start = true;
}

/*
 * Runs of ordinary octets are found with memchr and copied whole; only CR,
 * LF and a dot at a line start are looked at one by one. The same output as
 * going octet by octet (fuzz_smtp_content checks it against such an encoder).
 */
int smtp_content_enc_feed(struct smtp_content_enc *e, const char *in, size_t len,
			  struct evbuffer *out)
{
	char buf[2 * ENC_BLOCK + 4];

	while (len > 0) {
		size_t take = len < ENC_BLOCK ? len : ENC_BLOCK;
		size_t o = 0, i = 0;

		while (i < take) {
			char c = in[i];

			if (e->pending_cr) {
				e->pending_cr = false;
				buf[o++] = '\r';
				buf[o++] = '\n';
				e->line_start = true;
				if (c == '\n') {
					i++;
					continue;
				}
				e->any_newline = true; /* the CR was bare */
			}
			if (c == '\r') {
				e->pending_cr = true;
				i++;
				continue;
			}
			if (c == '\n') {
				e->any_newline = true;
				buf[o++] = '\r';
				buf[o++] = '\n';
				e->line_start = true;
				i++;
				continue;
			}
			if (e->line_start && c == '.' && e->stuff_dots)
				buf[o++] = '.';
			/* c and the ordinary octets after it, up to the next CR or LF */
			const char *stop = smtp_next_line_octet(in + i + 1, take - i - 1);
			size_t run = stop ? (size_t)(stop - (in + i)) : take - i;
			memcpy(buf + o, in + i, run);
			o += run;
			i += run;
			e->line_start = false;
		}
		if (evbuffer_add(out, buf, o) != 0)
			return -1;
		in += take;
		len -= take;
	}
	return 0;
}

int smtp_content_enc_finish(struct smtp_content_enc *e, struct evbuffer *out)
{
	if (e->pending_cr) {
		e->pending_cr = false;
		e->any_newline = true;
		e->line_start = true;
		if (evbuffer_add(out, "\r\n", 2) != 0)
			return -1;
	}
	if (!e->line_start) {
		e->line_start = true;
		if (evbuffer_add(out, "\r\n", 2) != 0)
			return -1;
	}
	if (e->stuff_dots && evbuffer_add(out, ".\r\n", 3) != 0)
		return -1;
	return 0;
}
