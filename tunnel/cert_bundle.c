/*
 * Enrollment bundle: the entry set, its plain form (writer and fail-closed
 * reader) and the clock check. Sealing and opening are in cert_bundle_seal.c.
 * Formats are documented in cert_bundle.h.
 */
#include "tunnel/cert_bundle.h"
#include "common/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/log.h"

#define PLAIN_MAGIC "ALBP"
#define TIME_MAX    INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
/* magic, version, created, expires, two string lengths, entry count */
#define PLAIN_FIXED (4 + 1 + 8 + 8 + 1 + 1 + 1)
#define ENTRY_FIXED (1 + 1 + 4)

static const char *const required[] = {
	CERT_BUNDLE_EDGE_KEY,  CERT_BUNDLE_EDGE_CERT,	CERT_BUNDLE_CA_CERT,
	CERT_BUNDLE_HUB_ADDRS, CERT_BUNDLE_ATTEST_KEY,	CERT_BUNDLE_ATTEST_PUB,
	CERT_BUNDLE_SWANCTL,   CERT_BUNDLE_AIRLOCK_CNF,
};

struct cert_bundle {
	struct cert_bundle_meta meta;
	struct cert_bundle_entry entries[CERT_BUNDLE_ENTRIES_MAX];
	size_t n;
	size_t plain_len; /* size of the plain form so far */
};

static int alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int name_ok(const unsigned char *s, size_t len)
{
	if (len == 0 || len > CERT_BUNDLE_NAME_MAX || !(alnum(s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
		if (s[i] == '.' && i + 1 < len && s[i + 1] == '.')
			return 0;
	}
	return 1;
}

int cert_bundle_name_valid(const char *name)
{
	size_t len = strnlen(name, CERT_BUNDLE_NAME_MAX + 1);
	return name_ok((const unsigned char *)name, len);
}

static int edge_ok(const unsigned char *s, size_t len)
{
	if (len == 0 || len > CERT_BUNDLE_EDGE_MAX || !alnum(s[0]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static int hub_id_ok(const unsigned char *s, size_t len)
{
	if (len == 0 || len > CERT_BUNDLE_HUB_ID_MAX || s[0] == ' ')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

static int times_ok(int64_t created, int64_t expires)
{
	return created >= 0 && expires > created && expires <= TIME_MAX &&
	       expires - created <= CERT_BUNDLE_LIFETIME_MAX;
}

struct cert_bundle *cert_bundle_new(const struct cert_bundle_meta *meta, char *err, size_t errlen)
{
	size_t elen = strnlen(meta->edge_name, sizeof(meta->edge_name));
	size_t hlen = strnlen(meta->hub_id, sizeof(meta->hub_id));
	struct cert_bundle *b;

	if (!edge_ok((const unsigned char *)meta->edge_name, elen)) {
		errmsg_set(err, errlen, "invalid edge name (1..%d of A-Z a-z 0-9 . _ -)",
			   CERT_BUNDLE_EDGE_MAX);
		return NULL;
	}
	if (!hub_id_ok((const unsigned char *)meta->hub_id, hlen)) {
		errmsg_set(err, errlen, "invalid hub identity (1..%d printable ASCII characters)",
			   CERT_BUNDLE_HUB_ID_MAX);
		return NULL;
	}
	if (!times_ok(meta->created, meta->expires)) {
		errmsg_set(err, errlen,
			   "invalid lifetime: expires must follow created by at most %d s",
			   CERT_BUNDLE_LIFETIME_MAX);
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		errmsg_set(err, errlen, "out of memory");
		return NULL;
	}
	b->meta = *meta;
	b->plain_len = PLAIN_FIXED + elen + hlen;
	return b;
}

void cert_bundle_free(struct cert_bundle *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		sodium_memzero(b->entries[i].data, b->entries[i].len);
		free(b->entries[i].data);
	}
	sodium_memzero(b, sizeof(*b));
	free(b);
}

/*
 * Adds an entry whose name is name[0..nlen), already known to be valid.
 * Returns 0, -1 when the entry is refused, -2 when out of memory.
 */
static int add_entry(struct cert_bundle *b, const unsigned char *name, size_t nlen, unsigned flags,
		     const unsigned char *data, size_t len, char *err, size_t errlen)
{
	struct cert_bundle_entry *e;

	for (size_t i = 0; i < b->n; i++)
		if (strlen(b->entries[i].name) == nlen &&
		    memcmp(b->entries[i].name, name, nlen) == 0)
			return errmsg_set(err, errlen, "entry %.*s present twice", (int)nlen, name);
	if ((flags & ~CERT_BUNDLE_SECRET) != 0)
		return errmsg_set(err, errlen, "entry %.*s: unknown flags 0x%02x", (int)nlen, name,
				  flags);
	if (len > CERT_BUNDLE_ENTRY_MAX)
		return errmsg_set(err, errlen, "entry %.*s: %zu octets, more than %d", (int)nlen,
				  name, len, CERT_BUNDLE_ENTRY_MAX);
	if (b->n >= CERT_BUNDLE_ENTRIES_MAX)
		return errmsg_set(err, errlen, "more than %d entries", CERT_BUNDLE_ENTRIES_MAX);
	if (b->plain_len + ENTRY_FIXED + nlen + len > CERT_BUNDLE_PLAIN_MAX)
		return errmsg_set(err, errlen, "bundle larger than %d octets",
				  CERT_BUNDLE_PLAIN_MAX);
	e = &b->entries[b->n];
	e->data = malloc(len > 0 ? len : 1);
	if (e->data == NULL) {
		errmsg_set(err, errlen, "out of memory");
		return -2;
	}
	if (len > 0)
		memcpy(e->data, data, len);
	memcpy(e->name, name, nlen);
	e->name[nlen] = '\0';
	e->flags = flags;
	e->len = len;
	b->n++;
	b->plain_len += ENTRY_FIXED + nlen + len;
	return 0;
}

int cert_bundle_add(struct cert_bundle *b, const char *name, unsigned flags, const void *data,
		    size_t len, char *err, size_t errlen)
{
	char q[CERT_BUNDLE_NAME_MAX * 4 + 8];

	if (!cert_bundle_name_valid(name))
		return errmsg_set(err, errlen, "invalid entry name %s",
				  log_quote(q, sizeof(q), name));
	if (add_entry(b, (const unsigned char *)name, strlen(name), flags, data, len, err, errlen) <
	    0)
		return -1;
	return 0;
}

const struct cert_bundle_meta *cert_bundle_meta(const struct cert_bundle *b)
{
	return &b->meta;
}

size_t cert_bundle_count(const struct cert_bundle *b)
{
	return b->n;
}

const struct cert_bundle_entry *cert_bundle_entry_at(const struct cert_bundle *b, size_t idx)
{
	return idx < b->n ? &b->entries[idx] : NULL;
}

const struct cert_bundle_entry *cert_bundle_find(const struct cert_bundle *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->entries[i].name, name) == 0)
			return &b->entries[i];
	return NULL;
}

const char *cert_bundle_missing(const struct cert_bundle *b)
{
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (cert_bundle_find(b, required[i]) == NULL)
			return required[i];
	return NULL;
}

static unsigned char *put_be(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	return p + n;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t lenbytes)
{
	size_t len = strlen(s);

	p = put_be(p, len, lenbytes);
	memcpy(p, s, len);
	return p + len;
}

int cert_bundle_serialize(const struct cert_bundle *b, unsigned char **out, size_t *outlen)
{
	unsigned char *buf = malloc(b->plain_len), *p = buf;

	if (buf == NULL)
		return -1;
	memcpy(p, PLAIN_MAGIC, 4);
	p = put_be(p + 4, CERT_BUNDLE_VERSION, 1);
	p = put_be(p, (uint64_t)b->meta.created, 8);
	p = put_be(p, (uint64_t)b->meta.expires, 8);
	p = put_str(p, b->meta.edge_name, 1);
	p = put_str(p, b->meta.hub_id, 1);
	p = put_be(p, b->n, 1);
	for (size_t i = 0; i < b->n; i++) {
		p = put_str(p, b->entries[i].name, 1);
		p = put_be(p, b->entries[i].flags, 1);
		p = put_be(p, b->entries[i].len, 4);
		memcpy(p, b->entries[i].data, b->entries[i].len);
		p += b->entries[i].len;
	}
	if ((size_t)(p - buf) != b->plain_len)
		fatal("bundle plain form is %zu octets, expected %zu", (size_t)(p - buf),
		      b->plain_len);
	*out = buf;
	*outlen = b->plain_len;
	return 0;
}

/* Reader over untrusted octets: every read checks what is left first. */
struct reader {
	const unsigned char *p;
	size_t left;
};

static int get_be(struct reader *r, size_t n, uint64_t *v)
{
	if (r->left < n)
		return -1;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | r->p[i];
	r->p += n;
	r->left -= n;
	return 0;
}

static int get_bytes(struct reader *r, size_t n, const unsigned char **p)
{
	if (r->left < n)
		return -1;
	*p = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

/* Reads a u8-length string into dst (size > 255) after checking it with ok(). */
static int get_str(struct reader *r, char *dst, int (*ok)(const unsigned char *, size_t))
{
	uint64_t len;
	const unsigned char *s;

	if (get_be(r, 1, &len) < 0 || get_bytes(r, len, &s) < 0 || !ok(s, len))
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

static enum cert_bundle_status malformed(char *err, size_t errlen, const char *what)
{
	errmsg_set(err, errlen, "%s", what);
	return CERT_BUNDLE_MALFORMED;
}

static enum cert_bundle_status parse_entries(struct reader *r, struct cert_bundle *b, char *err,
					     size_t errlen)
{
	uint64_t count, nlen, flags, len;
	const unsigned char *name, *data;

	if (get_be(r, 1, &count) < 0 || count > CERT_BUNDLE_ENTRIES_MAX)
		return malformed(err, errlen, "bad entry count");
	for (uint64_t i = 0; i < count; i++) {
		if (get_be(r, 1, &nlen) < 0 || get_bytes(r, nlen, &name) < 0)
			return malformed(err, errlen, "truncated entry name");
		if (!name_ok(name, nlen))
			return malformed(err, errlen, "invalid entry name");
		if (get_be(r, 1, &flags) < 0 || get_be(r, 4, &len) < 0)
			return malformed(err, errlen, "truncated entry header");
		if (len > CERT_BUNDLE_ENTRY_MAX || get_bytes(r, len, &data) < 0)
			return malformed(err, errlen, "entry data too long or truncated");
		switch (add_entry(b, name, nlen, (unsigned)flags, data, len, err, errlen)) {
		case 0:
			break;
		case -2:
			return CERT_BUNDLE_NO_MEMORY;
		default:
			return CERT_BUNDLE_MALFORMED;
		}
	}
	if (r->left != 0)
		return malformed(err, errlen, "trailing octets after the last entry");
	return CERT_BUNDLE_OK;
}

enum cert_bundle_status cert_bundle_parse_plain(const unsigned char *buf, size_t len,
						struct cert_bundle **out, char *err, size_t errlen)
{
	struct reader r = {buf, len};
	struct cert_bundle_meta meta;
	struct cert_bundle *b;
	const unsigned char *magic;
	uint64_t version, created, expires;
	enum cert_bundle_status st;

	*out = NULL;
	memset(&meta, 0, sizeof(meta));
	if (len > CERT_BUNDLE_PLAIN_MAX)
		return malformed(err, errlen, "larger than the size limit");
	if (get_bytes(&r, 4, &magic) < 0 || memcmp(magic, PLAIN_MAGIC, 4) != 0)
		return malformed(err, errlen, "bad magic");
	if (get_be(&r, 1, &version) < 0 || version != CERT_BUNDLE_VERSION)
		return malformed(err, errlen, "unknown content version");
	if (get_be(&r, 8, &created) < 0 || get_be(&r, 8, &expires) < 0)
		return malformed(err, errlen, "truncated times");
	meta.created = (int64_t)created;
	meta.expires = (int64_t)expires;
	if (!times_ok(meta.created, meta.expires))
		return malformed(err, errlen, "invalid created/expires times");
	if (get_str(&r, meta.edge_name, edge_ok) < 0)
		return malformed(err, errlen, "invalid edge name");
	if (get_str(&r, meta.hub_id, hub_id_ok) < 0)
		return malformed(err, errlen, "invalid hub identity");
	b = cert_bundle_new(&meta, err, errlen);
	if (b == NULL)
		return CERT_BUNDLE_NO_MEMORY; /* meta was checked above */
	st = parse_entries(&r, b, err, errlen);
	if (st != CERT_BUNDLE_OK) {
		cert_bundle_free(b);
		return st;
	}
	*out = b;
	return CERT_BUNDLE_OK;
}

static void format_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "@%lld", (long long)t);
}

enum cert_bundle_status cert_bundle_check_time(const struct cert_bundle_meta *meta, int64_t now,
					       int64_t max_skew, char *err, size_t errlen)
{
	char when[64];
	uint64_t skew = max_skew > 0 ? (uint64_t)max_skew : 0;

	if (now >= meta->expires) {
		format_time(meta->expires, when, sizeof(when));
		errmsg_set(err, errlen, "bundle expired at %s", when);
		return CERT_BUNDLE_EXPIRED;
	}
	/* unsigned difference: cannot overflow, and meta->created > now here */
	if (meta->created > now && (uint64_t)meta->created - (uint64_t)now > skew) {
		format_time(meta->created, when, sizeof(when));
		errmsg_set(err, errlen, "bundle created at %s, in the future: check the clock",
			   when);
		return CERT_BUNDLE_FUTURE;
	}
	return CERT_BUNDLE_OK;
}

const char *cert_bundle_status_name(enum cert_bundle_status s)
{
	static const char *const names[] = {
		"ok",	     "not-bundle", "unsupported", "bad-params", "unreadable",
		"malformed", "expired",	   "future",	  "no-memory",
	};
	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}
