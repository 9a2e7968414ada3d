/*
 * Configuration loading: libconfig parses, one schema table validates.
 *
 * libconfig 1.5 (Debian) has three traps that the loader closes before or
 * after it parses:
 *  - "@include" of a directory, FIFO or unreadable file makes its flex scanner
 *    call exit(2); so every include is opened and read first, by the pre-scan
 *    in config_scan.c;
 *  - integer literals that do not fit in 32 bits wrap silently
 *    (4294967306 reads as 10); so the pre-scan lexes literals too, and the
 *    setting that holds the first overflowing one is rejected here;
 *  - its message for a duplicate names neither the key nor the first
 *    definition; it is completed here.
 */
#include "common/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/config_scan.h"
#include "common/netaddr.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* ---- schema ---- */

enum key_type { KEY_INT, KEY_STRING, KEY_LIST };
enum store_result { STORE_OK = 0, STORE_BAD = -1, STORE_TOO_LONG = -2 };

struct config_key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset, size;	     /* the field in struct airlock_config */
	long long min, max, def_int; /* KEY_INT */
	const char *def_str;	     /* KEY_STRING; NULL: unset (empty) */
	int (*store)(const char *text, void *field, size_t size); /* KEY_STRING */
	const char *expect; /* KEY_STRING, KEY_LIST: completes "must be ..." */
	const char *doc;
	/* KEY_LIST: size is one element's; the count is an int at count_offset. */
	size_t count_offset;
	int max_items;
	const char *const *def_list; /* NULL-terminated; NULL: empty */
};

#define FIELD(m)                                                                                   \
	.offset = offsetof(struct airlock_config, m),                                              \
	.size = sizeof(((struct airlock_config *)0)->m)
#define INT_KEY(sec, key, lo, hi, def, text)                                                       \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_INT, FIELD(sec.key), .min = lo,         \
		.max = hi, .def_int = def, .doc = text                                             \
	}
#define LIST_KEY(sec, key, n, fn, defs, what, text)                                                \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_LIST,                                   \
		.offset = offsetof(struct airlock_config, sec.key),                                \
		.size = sizeof(((struct airlock_config *)0)->sec.key[0]),                          \
		.count_offset = offsetof(struct airlock_config, sec.n),                            \
		.max_items = (int)(sizeof(((struct airlock_config *)0)->sec.key) /                 \
				   sizeof(((struct airlock_config *)0)->sec.key[0])),              \
		.store = fn, .def_list = defs, .expect = what, .doc = text                         \
	}
#define STR_KEY(sec, key, fn, def, what, text)                                                     \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_STRING, FIELD(sec.key), .def_str = def, \
		.store = fn, .expect = what, .doc = text                                           \
	}

static int store_log_level(const char *text, void *field, size_t size)
{
	(void)size;
	return log_level_parse(text, field) == 0 ? STORE_OK : STORE_BAD;
}

static int store_log_target(const char *text, void *field, size_t size)
{
	(void)size;
	return log_target_parse(text, field) == 0 ? STORE_OK : STORE_BAD;
}

static bool has_control_or_space(const char *s, bool space_too)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || (space_too && c == ' '))
			return true;
	}
	return false;
}

static int store_copy(const char *text, void *field, size_t size)
{
	size_t len = strlen(text);
	if (len >= size)
		return STORE_TOO_LONG;
	memcpy(field, text, len + 1);
	return STORE_OK;
}

static int store_vici(const char *text, void *field, size_t size)
{
	static const char scheme[] = "unix://";
	const char *path = text + sizeof(scheme) - 1;
	if (strlen(text) >= size)
		return STORE_TOO_LONG;
	if (strncmp(text, scheme, sizeof(scheme) - 1) != 0 || path[0] != '/' ||
	    strlen(path) > SUN_PATH_MAX || has_control_or_space(path, false))
		return STORE_BAD;
	return store_copy(text, field, size);
}

static int store_name(const char *text, void *field, size_t size)
{
	if (strlen(text) >= size)
		return STORE_TOO_LONG;
	if (text[0] == '\0' || has_control_or_space(text, true))
		return STORE_BAD;
	return store_copy(text, field, size);
}

static int store_address(const char *text, void *field, size_t size)
{
	unsigned char buf[sizeof(struct in6_addr)];
	if (strlen(text) >= size ||
	    (inet_pton(AF_INET, text, buf) != 1 && inet_pton(AF_INET6, text, buf) != 1))
		return STORE_BAD;
	return store_copy(text, field, size);
}

static int store_hostport(const char *text, void *field, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (strlen(text) >= size)
		return STORE_TOO_LONG;
	if (netaddr_parse(text, &ss, &len) < 0)
		return STORE_BAD;
	return store_copy(text, field, size);
}

/* A domain name as a relay domain: LDH labels, optionally a leading "." for subdomains. */
static int store_domain(const char *text, void *field, size_t size)
{
	if (strlen(text) >= size)
		return STORE_TOO_LONG;
	const char *p = text[0] == '.' ? text + 1 : text;
	size_t label = 0;
	if (!*p)
		return STORE_BAD;
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (label == 0 || p[-1] == '-')
				return STORE_BAD;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			if (++label > 63)
				return STORE_BAD;
		} else {
			return STORE_BAD;
		}
	}
	if (label == 0 || p[-1] == '-')
		return STORE_BAD;
	int rc = store_copy(text, field, size);
	for (char *q = field; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return rc;
}

static int store_hostname(const char *text, void *field, size_t size)
{
	if (text[0] == '.')
		return STORE_BAD;
	return store_domain(text, field, size);
}

static int store_abs_path(const char *text, void *field, size_t size)
{
	if (strlen(text) >= size)
		return STORE_TOO_LONG;
	if (text[0] != '/' || has_control_or_space(text, false))
		return STORE_BAD;
	return store_copy(text, field, size);
}

static int store_bare_newlines(const char *text, void *field, size_t size)
{
	if (strcmp(text, "reject") != 0 && strcmp(text, "normalise") != 0)
		return STORE_BAD;
	return store_copy(text, field, size);
}

static int store_tls_mode(const char *text, void *field, size_t size)
{
	if (strcmp(text, "none") != 0 && strcmp(text, "opportunistic") != 0 &&
	    strcmp(text, "required") != 0)
		return STORE_BAD;
	return store_copy(text, field, size);
}

static const char *const default_listen[] = {"0.0.0.0:25", "[::]:25", NULL};

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == 108, "expect text below says 107");

static const struct config_key config_keys[] = {
	STR_KEY(tunnel, vici, store_vici, "unix:///var/run/charon.vici",
		"\"unix://\" followed by an absolute socket path of at most 107 bytes",
		"charon's VICI socket, as `unix://` followed by an absolute path."),
	STR_KEY(tunnel, connection, store_name, "airlock",
		"a name of 1 to 255 characters without spaces or control characters",
		"Name of the IKE connection in swanctl.conf that carries the mail tunnel."),
	STR_KEY(tunnel, child, store_name, "airlock",
		"a name of 1 to 255 characters without spaces or control characters",
		"Name of the CHILD_SA of that connection that carries the mail."),
	STR_KEY(tunnel, local_address, store_address, NULL, "an IPv4 or IPv6 address",
		"This host's inner address in the tunnel, IPv4 or IPv6. Optional."),
	STR_KEY(tunnel, remote_address, store_address, NULL, "an IPv4 or IPv6 address",
		"The peer's inner address in the tunnel, IPv4 or IPv6. Optional."),
	INT_KEY(tunnel, request_timeout, 1, 600, 10,
		"Seconds to wait for charon to answer a VICI request."),
	INT_KEY(tunnel, refresh_interval, 1, 3600, 10,
		"Seconds between two full listings of the SAs."),
	INT_KEY(tunnel, stale_after, 2, 86400, 30,
		"Seconds after which the SA table counts as stale if it has not been refreshed; "
		"the tunnel checks then fail closed. Must be greater than "
		"`tunnel.refresh_interval`."),
	INT_KEY(tunnel, cert_warn_days, 0, 3650, 30,
		"Days before a certificate expires from which it is reported as expiring."),
	LIST_KEY(edge, listen, nlisten, store_hostport, default_listen,
		 "a list of \"address:port\" (IPv6 in brackets)",
		 "Addresses the edge's SMTP server listens on (numeric, IPv6 in brackets)."),
	STR_KEY(edge, hostname, store_hostname, NULL, "a host name",
		"Name in the greeting, EHLO reply and Received: header. Unset: the system's host "
		"name."),
	LIST_KEY(edge, relay_domains, nrelay_domains, store_domain, NULL,
		 "a list of domain names (a leading \".\" means every subdomain)",
		 "Domains the edge accepts mail for; any other recipient gets 554 5.7.1. "
		 "`airlock-edge` refuses to start with none."),
	STR_KEY(edge, next_hop, store_hostport, NULL, "\"address:port\" (IPv6 in brackets)",
		"Where accepted mail is forwarded (numeric `address:port`). Required by "
		"`airlock-edge`."),
	INT_KEY(edge, max_message_size, 1024, 2147483647, 36700160,
		"Largest message in octets (SIZE, enforced during DATA/BDAT: 552 5.3.4)."),
	INT_KEY(edge, max_recipients, 100, 100000, 100,
		"Recipients per message; more get 452 4.5.3."),
	INT_KEY(edge, max_connections, 1, 1000000, 1000,
		"SMTP connections at once; more get 421 4.7.0."),
	INT_KEY(edge, max_connections_per_client, 1, 1000000, 20,
		"SMTP connections at once from one client address; more get 421 4.7.0."),
	INT_KEY(edge, command_timeout, 1, 3600, 300,
		"Seconds to wait for a command or for data before 421 4.4.2 (RFC 5321: at least "
		"300)."),
	INT_KEY(edge, request_deadline, 1, 86400, 600,
		"Most seconds one command line, one DATA content or one BDAT chunk may take "
		"(guards against trickling)."),
	INT_KEY(edge, min_data_rate, 0, 1000000000, 500,
		"Least octets per second during DATA/BDAT after a 10 s grace; 0: no minimum."),
	STR_KEY(edge, bare_newlines, store_bare_newlines, "reject", "\"reject\" or \"normalise\"",
		"A bare CR or LF in a message: `reject` (550 5.5.2) or `normalise` to CRLF."),
	STR_KEY(edge, tls_certificate, store_abs_path, NULL, "an absolute path",
		"PEM certificate (chain) for STARTTLS. Unset: STARTTLS is not offered."),
	STR_KEY(edge, tls_key, store_abs_path, NULL, "an absolute path",
		"PEM private key of `edge.tls_certificate`."),
	STR_KEY(edge, user, store_name, NULL,
		"a name of 1 to 63 characters without spaces or control characters",
		"Unprivileged user the `smtp` and `queue` processes run as. Unset: they keep "
		"the parent's (root): only for tests."),
	STR_KEY(edge, control_socket, store_abs_path, "/run/airlock/edge.sock",
		"an absolute path of at most 107 bytes",
		"Unix socket of the edge's control interface (`airlockctl queue`, `status`)."),
	STR_KEY(queue, directory, store_abs_path, "/var/spool/airlock", "an absolute path",
		"Spool directory (tmp/, queue/, hold/); mail stays here only until the next hop "
		"acknowledged it."),
	INT_KEY(queue, retry_min, 1, 86400, 300,
		"Seconds before the first retry of a deferred "
		"message; doubles each time."),
	INT_KEY(queue, retry_max, 1, 86400, 3600, "Longest wait between two retries, seconds."),
	INT_KEY(queue, max_lifetime, 60, 8640000, 432000,
		"Seconds from arrival after which an undeliverable message moves to hold/."),
	INT_KEY(queue, max_parallel, 1, 1000, 20, "Deliveries to the next hop at once."),
	INT_KEY(queue, min_free_mb, 0, 10000000, 100,
		"Free MiB below which the spool's file system counts as full: new mail gets "
		"452 4.3.1."),
	INT_KEY(queue, scan_interval, 1, 86400, 60,
		"Seconds between two scans of the spool for messages due."),
	STR_KEY(queue, tls, store_tls_mode, "opportunistic",
		"\"none\", \"opportunistic\" or \"required\"",
		"STARTTLS towards the next hop: never, when offered, or required (else defer)."),
	STR_KEY(log, level, store_log_level, "info",
		"one of \"error\", \"warning\", \"info\", \"debug\"",
		"Lowest severity logged: `error`, `warning`, `info` or `debug`."),
	STR_KEY(log, target, store_log_target, "stderr", "\"stderr\" or \"syslog\"",
		"Where log lines go: `stderr`, or `syslog` (facility mail)."),
};
#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *const config_sections[] = {"edge",	"hub",	 "tunnel", "scan",
					      "policy", "queue", "log"};

static const struct config_key *key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static bool section_known(const char *name)
{
	for (size_t i = 0; i < sizeof(config_sections) / sizeof(config_sections[0]); i++)
		if (strcmp(config_sections[i], name) == 0)
			return true;
	return false;
}

void config_defaults(struct airlock_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		void *field = (char *)cfg + k->offset;
		if (k->type == KEY_INT) {
			if (k->size != sizeof(int) || k->def_int < k->min || k->def_int > k->max)
				fatal("config: bad schema row %s.%s", k->section, k->name);
			*(int *)field = (int)k->def_int;
		} else if (k->type == KEY_LIST) {
			int *count = (int *)((char *)cfg + k->count_offset);
			for (int n = 0; k->def_list && k->def_list[n]; n++) {
				if (n >= k->max_items ||
				    k->store(k->def_list[n], (char *)field + (size_t)n * k->size,
					     k->size) != STORE_OK)
					fatal("config: bad default for %s.%s", k->section, k->name);
				*count = n + 1;
			}
		} else if (k->def_str && k->store(k->def_str, field, k->size) != STORE_OK) {
			fatal("config: bad default for %s.%s", k->section, k->name);
		}
	}
}

static void print_cell(FILE *out, const char *text)
{
	for (; *text; text++) {
		if (*text == '|')
			fputc('\\', out);
		fputc(*text, out);
	}
}

void config_print_reference(FILE *out)
{
	fputs("| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |\n", out);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		fprintf(out, "| `%s.%s` | ", k->section, k->name);
		if (k->type == KEY_INT) {
			fprintf(out, "integer, %lld to %lld | `%lld` | ", k->min, k->max,
				k->def_int);
		} else if (k->type == KEY_LIST) {
			fprintf(out, "list of strings, at most %d | ", k->max_items);
			if (!k->def_list || !k->def_list[0])
				fputs("empty", out);
			for (int n = 0; k->def_list && k->def_list[n]; n++)
				fprintf(out, "%s`\"%s\"`", n ? ", " : "", k->def_list[n]);
			fputs(" | ", out);
		} else if (k->def_str)
			fprintf(out, "string | `\"%s\"` | ", k->def_str);
		else
			fputs("string | unset | ", out);
		print_cell(out, k->doc);
		fputs(" |\n", out);
	}
}

/* ---- integers that overflowed ---- */

/* Marks the setting holding an overflowed literal (setting hooks are ours). */
static char overflow_mark;

/* Marks the INT setting that holds the first overflowed literal; counts INT
 * settings in document order, as libconfig created them from the tokens. */
static void mark_overflow(struct config_scan *sc, config_setting_t *s, unsigned long *count)
{
	if (config_setting_type(s) == CONFIG_TYPE_INT && ++*count == sc->ovf_int)
		config_setting_set_hook(s, &overflow_mark);
	if (config_setting_is_aggregate(s))
		for (int i = 0; i < config_setting_length(s); i++)
			mark_overflow(sc, config_setting_get_elem(s, i), count);
}

/* ---- messages for libconfig's errors ---- */

static size_t source_of(const struct config_scan *sc, const char *lcname)
{
	for (size_t i = 1; lcname && i < sc->nsrc; i++)
		if (strcmp(sc->src[i].name, lcname) == 0)
			return i;
	return 0;
}

static const char *file_of(const struct config_scan *sc, const config_setting_t *s)
{
	const char *name = config_setting_source_file(s);
	size_t i = source_of(sc, name);
	return i || !name ? sc->src[i].path : name;
}

static void setting_path(const config_setting_t *s, char *buf, size_t size)
{
	const config_setting_t *parent = config_setting_parent(s);
	if (!parent || config_setting_is_root(parent)) {
		buf[0] = '\0';
	} else {
		setting_path(parent, buf, size);
		strncat(buf, ".", size - strlen(buf) - 1);
	}
	size_t used = strlen(buf);
	if (config_setting_name(s))
		snprintf(buf + used, size - used, "%s", config_setting_name(s));
	else
		snprintf(buf + used, size - used, "[%d]", config_setting_index(s));
}

static int fail_defined_twice(struct config_scan *sc, size_t si, int line,
			      const config_setting_t *first)
{
	char path[512];
	const char *ffile = file_of(sc, first);
	setting_path(first, path, sizeof(path));
	if (strcmp(ffile, sc->src[si].path) == 0)
		return config_scan_fail(sc, "%s:%d: %s: defined twice (first at line %u)",
					sc->src[si].path, line, path,
					config_setting_source_line(first));
	return config_scan_fail(sc, "%s:%d: %s: defined twice (first at %s:%u)", sc->src[si].path,
				line, path, ffile, config_setting_source_line(first));
}

/*
 * libconfig aborts as soon as it would add a name twice and keeps what it
 * built so far, so the group being filled lies on the chain of last-added
 * settings. Find the deepest group there that already has a name set on the
 * error line.
 */
static int fail_duplicate(struct config_scan *sc, config_t *lc, size_t si, int line)
{
	const char *t = sc->src[si].text;
	for (int l = 1; l < line && t; l++) {
		t = strchr(t, '\n');
		if (t)
			t++;
	}
	config_setting_t *chain[64];
	int depth = 0;
	for (config_setting_t *g = config_root_setting(lc);
	     g && config_setting_is_aggregate(g) && depth < 64;
	     g = config_setting_length(g) ? config_setting_get_elem(g, config_setting_length(g) - 1)
					  : NULL)
		chain[depth++] = g;
	while (t && depth-- > 0) {
		if (!config_setting_is_group(chain[depth]))
			continue;
		const char *p = t;
		while (*p && *p != '\n') {
			size_t n = strspn(p, CONFIG_SCAN_NAME_CHARS), ws = strspn(p + n, " \t");
			char name[256];
			if (n == 0) {
				p++;
				continue;
			}
			if (n < sizeof(name) && strchr("=:\r\n", p[n + ws])) {
				memcpy(name, p, n);
				name[n] = '\0';
				config_setting_t *first =
					config_setting_get_member(chain[depth], name);
				if (first)
					return fail_defined_twice(sc, si, line, first);
			}
			p += n;
		}
	}
	return config_scan_fail(sc, "%s:%d: duplicate setting name", sc->src[si].path, line);
}

static int fail_parse(struct config_scan *sc, config_t *lc)
{
	size_t si = source_of(sc, config_error_file(lc));
	int line = config_error_line(lc);
	const char *text = config_error_text(lc) ? config_error_text(lc) : "cannot parse";
	if (strcmp(text, "duplicate setting name") == 0)
		return fail_duplicate(sc, lc, si, line);
	return config_scan_fail(sc, "%s:%d: %s", sc->src[si].path, line, text);
}

/* ---- validation ---- */

/* A list key: ["a", "b"] or ("a", "b"); each element checked like a string key. */
static int store_list(struct config_scan *sc, const struct config_key *k, config_setting_t *s,
		      struct airlock_config *cfg)
{
	const char *file = file_of(sc, s);
	unsigned line = config_setting_source_line(s);
	int type = config_setting_type(s);
	int n = config_setting_length(s);
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return config_scan_fail(sc, "%s:%u: %s.%s: must be a list: [\"...\", ...]", file,
					line, k->section, k->name);
	if (n > k->max_items)
		return config_scan_fail(sc, "%s:%u: %s.%s: at most %d entries", file, line,
					k->section, k->name, k->max_items);
	int *count = (int *)((char *)cfg + k->count_offset);
	*count = 0;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char *field = (char *)cfg + k->offset + (size_t)i * k->size;
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return config_scan_fail(sc, "%s:%u: %s.%s: entry %d must be a string", file,
						line, k->section, k->name, i + 1);
		int rc = k->store(config_setting_get_string(e), field, k->size);
		if (rc == STORE_TOO_LONG)
			return config_scan_fail(sc,
						"%s:%u: %s.%s: entry %d must be at most %zu "
						"characters",
						file, line, k->section, k->name, i + 1,
						k->size - 1);
		if (rc != STORE_OK)
			return config_scan_fail(sc, "%s:%u: %s.%s: entry %d must be %s", file, line,
						k->section, k->name, i + 1, k->expect);
		*count = i + 1;
	}
	return 0;
}

static int store_setting(struct config_scan *sc, const struct config_key *k, config_setting_t *s,
			 struct airlock_config *cfg)
{
	void *field = (char *)cfg + k->offset;
	const char *file = file_of(sc, s);
	unsigned line = config_setting_source_line(s);
	int type = config_setting_type(s);
	if (k->type == KEY_INT) {
		long long v = config_setting_get_int64(s);
		if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) ||
		    config_setting_get_hook(s) == &overflow_mark || v < k->min || v > k->max)
			return config_scan_fail(
				sc, "%s:%u: %s.%s: must be an integer between %lld and %lld", file,
				line, k->section, k->name, k->min, k->max);
		*(int *)field = (int)v;
		return 0;
	}
	if (k->type == KEY_LIST)
		return store_list(sc, k, s, cfg);
	if (type != CONFIG_TYPE_STRING)
		return config_scan_fail(sc, "%s:%u: %s.%s: must be a string", file, line,
					k->section, k->name);
	switch (k->store(config_setting_get_string(s), field, k->size)) {
	case STORE_OK:
		return 0;
	case STORE_TOO_LONG:
		return config_scan_fail(sc, "%s:%u: %s.%s: must be at most %zu characters", file,
					line, k->section, k->name, k->size - 1);
	default:
		return config_scan_fail(sc, "%s:%u: %s.%s: must be %s", file, line, k->section,
					k->name, k->expect);
	}
}

static config_setting_t *set_at(config_setting_t *const *seen, const char *section,
				const char *name)
{
	return seen[key_find(section, name) - config_keys];
}

/* Cross-checks name the later key's line if the file set it, else the other's. */
static int check_tunnel_timing(struct config_scan *sc, const struct airlock_config *cfg,
			       config_setting_t *const *seen)
{
	config_setting_t *stale = set_at(seen, "tunnel", "stale_after");
	config_setting_t *refresh = set_at(seen, "tunnel", "refresh_interval");
	if (cfg->tunnel.stale_after > cfg->tunnel.refresh_interval)
		return 0;
	if (!stale && !refresh)
		fatal("config: the defaults of tunnel.stale_after and refresh_interval conflict");
	if (stale)
		return config_scan_fail(sc,
					"%s:%u: tunnel.stale_after: must be greater than "
					"tunnel.refresh_interval (%d)",
					file_of(sc, stale), config_setting_source_line(stale),
					cfg->tunnel.refresh_interval);
	return config_scan_fail(
		sc, "%s:%u: tunnel.refresh_interval: must be less than tunnel.stale_after (%d)",
		file_of(sc, refresh), config_setting_source_line(refresh), cfg->tunnel.stale_after);
}

static int check_queue_retry(struct config_scan *sc, const struct airlock_config *cfg,
			     config_setting_t *const *seen)
{
	if (cfg->queue.retry_max >= cfg->queue.retry_min)
		return 0;
	config_setting_t *at = set_at(seen, "queue", "retry_max");
	if (!at)
		at = set_at(seen, "queue", "retry_min");
	return config_scan_fail(sc, "%s:%u: queue.retry_max: must be at least queue.retry_min (%d)",
				file_of(sc, at), config_setting_source_line(at),
				cfg->queue.retry_min);
}

static int (*const config_checks[])(struct config_scan *, const struct airlock_config *,
				    config_setting_t *const *) = {check_tunnel_timing,
								  check_queue_retry};

static int validate(struct config_scan *sc, config_t *lc, struct airlock_config *cfg)
{
	config_setting_t *seen[NKEYS] = {0};
	config_setting_t *root = config_root_setting(lc);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *sec = config_setting_get_elem(root, i);
		const char *sname = config_setting_name(sec);
		if (!section_known(sname))
			return config_scan_fail(sc, "%s:%u: %s: unknown section", file_of(sc, sec),
						config_setting_source_line(sec), sname);
		if (!config_setting_is_group(sec))
			return config_scan_fail(sc, "%s:%u: %s: must be a group: %s = { ... };",
						file_of(sc, sec), config_setting_source_line(sec),
						sname, sname);
		for (int j = 0; j < config_setting_length(sec); j++) {
			config_setting_t *s = config_setting_get_elem(sec, j);
			const struct config_key *k = key_find(sname, config_setting_name(s));
			if (!k)
				return config_scan_fail(sc, "%s:%u: %s.%s: unknown key",
							file_of(sc, s),
							config_setting_source_line(s), sname,
							config_setting_name(s));
			if (store_setting(sc, k, s, cfg) != 0)
				return -1;
			seen[k - config_keys] = s;
		}
	}
	for (size_t i = 0; i < sizeof(config_checks) / sizeof(config_checks[0]); i++)
		if (config_checks[i](sc, cfg, seen) != 0)
			return -1;
	return 0;
}

/* ---- entry points ---- */

static int load_text(struct config_scan *sc, struct airlock_config *cfg)
{
	config_t lc;
	int rc = -1;
	config_defaults(cfg);
	if (config_scan_run(sc) != 0)
		return -1;
	config_init(&lc);
	if (sc->include_dir)
		config_set_include_dir(&lc, sc->include_dir);
	if (config_read_string(&lc, sc->src[0].text) != CONFIG_TRUE) {
		fail_parse(sc, &lc);
		goto out;
	}
	unsigned long count = 0;
	mark_overflow(sc, config_root_setting(&lc), &count);
	if (count != sc->nint) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
		abort(); /* the pre-scan disagrees with libconfig's scanner */
#endif
		/* Cannot tell which setting holds it; still refuse the wrapped value. */
		if (sc->ovf_int) {
			config_scan_fail(sc, "%s:%d: integer does not fit in 32 bits",
					 sc->src[sc->ovf_src].path, sc->ovf_line);
			goto out;
		}
	}
	rc = validate(sc, &lc, cfg);
out:
	config_destroy(&lc);
	return rc;
}

int config_load_string(const char *text, const char *name_for_errors, struct airlock_config *cfg,
		       char *err, size_t errlen)
{
	struct config_scan sc;
	config_scan_init(&sc, err, errlen);
	const char *name = name_for_errors ? name_for_errors : "(config)";
	sc.src[0] = (struct config_scan_source){NULL, (char *)name, (char *)text, false, 0};
	sc.nsrc = 1;
	int rc = load_text(&sc, cfg);
	config_scan_free(&sc);
	return rc;
}

int config_load_file(const char *path, struct airlock_config *cfg, char *err, size_t errlen)
{
	struct config_scan sc;
	char *text = NULL, *dir = malloc(strlen(path) + 2);
	config_scan_init(&sc, err, errlen);
	if (!dir)
		return config_scan_fail(&sc, "cannot read %s: %s", path, strerror(ENOMEM));
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int rc = config_scan_read_file(path, &text);
	if (rc != 0) {
		free(dir);
		return config_scan_fail(&sc, "cannot read %s: %s", path,
					config_scan_read_error_text(rc));
	}
	sc.include_dir = dir;
	sc.src[0] = (struct config_scan_source){NULL, (char *)path, text, true, 0};
	sc.nsrc = 1;
	rc = load_text(&sc, cfg);
	config_scan_free(&sc);
	free(dir);
	return rc;
}
