/*
 * Header fields for transport rules, and the header edits of their actions.
 */
#include "relay/scan_rewrite.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One raw field of the header section: [start, end) including its CRLFs. */
struct raw_field {
	size_t start, end;
	size_t name_len; /* octets before the colon; 0: not a field */
};

/* Length of the header section (up to and including the CRLF that ends its last line). */
static size_t header_len(const char *msg, size_t len)
{
	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
		return 0;
	for (size_t i = 0; i + 3 < len; i++) {
		if (msg[i] == '\r' && msg[i + 1] == '\n' && msg[i + 2] == '\r' &&
		    msg[i + 3] == '\n')
			return i + 2;
	}
	return len;
}

/*
 * End of the line starting at i: just past its CRLF, or hlen. A bare LF or
 * CR does not end a line, as for header_len(), so that removing a field can
 * never make an empty line appear.
 */
static size_t line_end(const char *msg, size_t hlen, size_t i)
{
	for (; i + 1 < hlen; i++)
		if (msg[i] == '\r' && msg[i + 1] == '\n')
			return i + 2;
	return hlen;
}

/* Splits the header section into fields; returns their number, or SIZE_MAX on OOM. */
static size_t split_fields(const char *msg, size_t hlen, struct raw_field **out)
{
	size_t n = 0, cap = 0;
	struct raw_field *f = NULL;
	for (size_t i = 0; i < hlen;) {
		size_t e = line_end(msg, hlen, i);
		while (e < hlen && (msg[e] == ' ' || msg[e] == '\t'))
			e = line_end(msg, hlen, e);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct raw_field *nf = realloc(f, cap * sizeof(*f));
			if (!nf) {
				free(f);
				return SIZE_MAX;
			}
			f = nf;
		}
		size_t name_len = 0;
		const char *colon = memchr(msg + i, ':', e - i);
		if (colon && colon > msg + i) {
			name_len = (size_t)(colon - (msg + i));
			for (size_t k = i; k < i + name_len; k++) {
				unsigned char c = (unsigned char)msg[k];
				if (c <= 0x20 || c >= 0x7f)
					name_len = 0;
			}
		}
		f[n++] = (struct raw_field){i, e, name_len};
		i = e;
	}
	*out = f;
	return n;
}

static bool name_is(const char *msg, const struct raw_field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(msg + f->start, name, f->name_len) == 0;
}

/* The unfolded, trimmed value of field f, cut to SCAN_HEADER_VALUE_MAX. */
static char *unfold_value(const char *msg, const struct raw_field *f)
{
	size_t i = f->start + f->name_len + 1, j = 0;
	char *v = malloc(SCAN_HEADER_VALUE_MAX + 1);
	if (!v)
		return NULL;
	for (; i < f->end && j < SCAN_HEADER_VALUE_MAX; i++) {
		char c = msg[i];
		if (c == '\r' || c == '\n' || (j == 0 && (c == ' ' || c == '\t')))
			continue;
		v[j++] = c == '\0' ? ' ' : c;
	}
	v[j] = '\0';
	while (j > 0 && (v[j - 1] == ' ' || v[j - 1] == '\t'))
		v[--j] = '\0';
	return v;
}

void scan_headers_free(struct scan_headers *h)
{
	for (size_t i = 0; i < h->nfields; i++) {
		free((char *)h->fields[i].name);
		free((char *)h->fields[i].value);
	}
	free(h->fields);
	h->fields = NULL;
	h->nfields = 0;
}

int scan_headers_parse(const char *msg, size_t len, struct scan_headers *out)
{
	out->fields = NULL;
	out->nfields = 0;
	struct raw_field *f = NULL;
	size_t n = split_fields(msg, header_len(msg, len), &f);
	if (n == SIZE_MAX)
		return -1;
	out->fields =
		calloc(n ? (n < SCAN_HEADERS_MAX ? n : SCAN_HEADERS_MAX) : 1, sizeof(*out->fields));
	if (!out->fields) {
		free(f);
		return -1;
	}
	for (size_t i = 0; i < n && out->nfields < SCAN_HEADERS_MAX; i++) {
		if (f[i].name_len == 0)
			continue;
		char *name = strndup(msg + f[i].start, f[i].name_len);
		char *value = unfold_value(msg, &f[i]);
		if (!name || !value) {
			free(name);
			free(value);
			free(f);
			scan_headers_free(out);
			return -1;
		}
		out->fields[out->nfields++] = (struct rules_header){name, value};
	}
	free(f);
	return 0;
}

/* A growing output buffer. */
struct outbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void put(struct outbuf *o, const char *s, size_t n)
{
	if (o->failed || n == 0)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n)
			cap *= 2;
		char *np = realloc(o->p, cap);
		if (!np) {
			o->failed = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct outbuf *o, const char *s)
{
	put(o, s, strlen(s));
}

static bool removed(const char *msg, const struct raw_field *f,
		    const struct rules_action *const *acts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (acts[i]->kind == RULES_ACT_REMOVE_HEADER &&
		    name_is(msg, f, acts[i]->remove_header.name))
			return true;
	return false;
}

int scan_rewrite_headers(const char *msg, size_t len, const struct rules_action *const *acts,
			 size_t n, char **out, size_t *outlen)
{
	size_t hlen = header_len(msg, len);
	struct raw_field *f = NULL;
	size_t nf = split_fields(msg, hlen, &f);
	if (nf == SIZE_MAX)
		return -1;
	struct outbuf o = {0};
	int applied = 0;
	for (size_t i = 0; i < n; i++) {
		if (acts[i]->kind == RULES_ACT_ADD_HEADER) {
			puts_(&o, acts[i]->add_header.name);
			puts_(&o, ": ");
			puts_(&o, acts[i]->add_header.value);
			puts_(&o, "\r\n");
		}
		applied += acts[i]->kind == RULES_ACT_ADD_HEADER ||
			   acts[i]->kind == RULES_ACT_REMOVE_HEADER ||
			   acts[i]->kind == RULES_ACT_PREPEND_SUBJECT;
	}
	/* Subject prefixes in action order: the first given ends up first. */
	struct outbuf prefix = {0};
	for (size_t i = 0; i < n; i++)
		if (acts[i]->kind == RULES_ACT_PREPEND_SUBJECT)
			puts_(&prefix, acts[i]->prepend_subject.text);
	bool subject_done = prefix.len == 0;
	for (size_t i = 0; i < nf; i++) {
		if (f[i].name_len && removed(msg, &f[i], acts, n))
			continue;
		if (!subject_done && name_is(msg, &f[i], "Subject")) {
			size_t v = f[i].start + f[i].name_len + 1;
			put(&o, msg + f[i].start, v - f[i].start);
			put(&o, " ", 1);
			put(&o, prefix.p, prefix.len);
			while (v < f[i].end && (msg[v] == ' ' || msg[v] == '\t'))
				v++;
			put(&o, msg + v, f[i].end - v);
			subject_done = true;
			continue;
		}
		put(&o, msg + f[i].start, f[i].end - f[i].start);
	}
	if (!subject_done) {
		/* A last header line without CRLF must be ended before a new field. */
		if (hlen > 0 && (hlen < 2 || msg[hlen - 2] != '\r' || msg[hlen - 1] != '\n'))
			puts_(&o, "\r\n");
		puts_(&o, "Subject: ");
		put(&o, prefix.p, prefix.len);
		puts_(&o, "\r\n");
	}
	put(&o, msg + hlen, len - hlen);
	free(prefix.p);
	free(f);
	if (o.failed || prefix.failed) {
		free(o.p);
		return -1;
	}
	if (!o.p)
		o.p = malloc(1);
	if (!o.p)
		return -1;
	*out = o.p;
	*outlen = o.len;
	return applied;
}
