/*
 * Configuration loading: libconfig parses, one schema table validates.
 *
 * libconfig 1.5 (Debian) has three traps that this file closes before or
 * after it parses:
 *  - "@include" of a directory, FIFO or unreadable file makes its flex scanner
 *    call exit(2); so every include is opened and read here first;
 *  - integer literals that do not fit in 32 bits wrap silently
 *    (4294967306 reads as 10); so literals are lexed here too, and the setting
 *    that holds the first overflowing one is rejected;
 *  - its message for a duplicate names neither the key nor the first
 *    definition; it is completed here.
 * The pre-scan mirrors libconfig's scanner rules (start conditions, longest
 * match); the fuzz target checks that it counts the same integers.
 */
#include "common/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define CONFIG_MAX_INCLUDES  64
#define CONFIG_INCLUDE_DEPTH 10 /* libconfig 1.5's MAX_INCLUDE_DEPTH */
#define NAME_CHARS	     "-_*0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define SUN_PATH_MAX	     (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* ---- schema ---- */

enum key_type { KEY_INT, KEY_STRING };
enum store_result { STORE_OK = 0, STORE_BAD = -1, STORE_TOO_LONG = -2 };

struct config_key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset, size;	     /* the field in struct airlock_config */
	long long min, max, def_int; /* KEY_INT */
	const char *def_str;	     /* KEY_STRING; NULL: unset (empty) */
	int (*store)(const char *text, void *field, size_t size); /* KEY_STRING */
	const char *expect; /* KEY_STRING: completes "must be ..." */
	const char *doc;
};

#define FIELD(m)                                                                                   \
	.offset = offsetof(struct airlock_config, m),                                              \
	.size = sizeof(((struct airlock_config *)0)->m)
#define INT_KEY(sec, key, lo, hi, def, text)                                                       \
	{                                                                                          \
		.section = #sec, .name = #key, .type = KEY_INT, FIELD(sec.key), .min = lo,         \
		.max = hi, .def_int = def, .doc = text                                             \
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
		if (k->type == KEY_INT)
			fprintf(out, "integer, %lld to %lld | `%lld` | ", k->min, k->max,
				k->def_int);
		else if (k->def_str)
			fprintf(out, "string | `\"%s\"` | ", k->def_str);
		else
			fputs("string | unset | ", out);
		print_cell(out, k->doc);
		fputs(" |\n", out);
	}
}

/* ---- loading state ---- */

enum read_error { READ_NOT_REGULAR = -1, READ_TOO_LARGE = -2, READ_NUL = -3 };

struct source {
	char *name; /* as libconfig reports it; NULL for the top-level text */
	char *path; /* as shown in messages */
	char *text; /* NULL if it could not be read */
	bool owned; /* text is ours to free */
	int read_error;
};

enum lex_state { LEX_INITIAL, LEX_COMMENT, LEX_STRING };

struct load {
	const char *include_dir;
	struct source src[CONFIG_MAX_INCLUDES + 1];
	size_t nsrc;
	size_t nincludes;
	enum lex_state state; /* flex's start condition, shared across files */
	size_t open_src;      /* where the last string or comment started */
	int open_line;
	unsigned long nint;    /* 32-bit integer literals seen */
	unsigned long ovf_int; /* 1-based index of the first that overflowed, or 0 */
	size_t ovf_src;
	int ovf_line;
	char *err;
	size_t errlen;
};

/* Marks the setting holding an overflowed literal (setting hooks are ours). */
static char overflow_mark;

static int fail(struct load *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct load *ld, const char *fmt, ...)
{
	if (ld->errlen == 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ld->err, ld->errlen, fmt, ap);
	va_end(ap);
	/* File names come from the text; keep the message on one line. */
	for (char *p = ld->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

static const char *read_error_text(int code)
{
	switch (code) {
	case READ_NOT_REGULAR:
		return "not a regular file";
	case READ_TOO_LARGE:
		return "larger than 1 MiB";
	case READ_NUL:
		return "contains a NUL byte";
	default:
		return strerror(code);
	}
}

/* Reads a whole regular file into a new NUL-terminated string. Returns 0, an
 * errno value, or a read_error. Anything but a regular file is refused before
 * it is opened: opening a FIFO blocks, opening a device may act. */
static int read_text(const char *path, char **out)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? EISDIR : READ_NOT_REGULAR;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), rc = 0;
	if (fd < 0)
		return errno;
	char *buf = NULL;
	size_t len = 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) /* replaced meanwhile */
		rc = READ_NOT_REGULAR;
	else if (!(buf = malloc(CONFIG_MAX_FILE_SIZE + 2)))
		rc = ENOMEM;
	while (rc == 0) {
		ssize_t n = read(fd, buf + len, CONFIG_MAX_FILE_SIZE + 1 - len);
		if (n < 0 && errno != EINTR)
			rc = errno;
		else if (n == 0)
			break;
		else if (n > 0 && (len += (size_t)n) > CONFIG_MAX_FILE_SIZE)
			rc = READ_TOO_LARGE;
	}
	close(fd);
	if (rc == 0 && memchr(buf, '\0', len))
		rc = READ_NUL;
	if (rc != 0) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* ---- pre-scan: libconfig 1.5's scanner rules, for includes and integers ---- */

static size_t span_digits(const char *s, bool hex)
{
	size_t n = 0;
	while ((s[n] >= '0' && s[n] <= '9') ||
	       (hex && ((s[n] >= 'a' && s[n] <= 'f') || (s[n] >= 'A' && s[n] <= 'F'))))
		n++;
	return n;
}

static size_t span_exponent(const char *s)
{
	if (s[0] != 'e' && s[0] != 'E')
		return 0;
	size_t k = (s[1] == '+' || s[1] == '-') ? 2 : 1;
	size_t d = span_digits(s + k, false);
	return d ? k + d : 0;
}

static size_t span_long_suffix(const char *s)
{
	return s[0] != 'L' ? 0 : s[1] == 'L' ? 2 : 1;
}

enum num_kind { NUM_NONE, NUM_INT, NUM_HEX, NUM_OTHER };

/* Longest match among the integer, integer64, hex, hex64 and float rules. */
static size_t lex_number(const char *t, enum num_kind *kind)
{
	size_t sign = (t[0] == '+' || t[0] == '-') ? 1 : 0, best = 0, d, i;
	*kind = NUM_NONE;
	if ((d = span_digits(t + sign, false)) > 0) {
		best = sign + d;
		*kind = NUM_INT;
		if ((i = span_long_suffix(t + best)) > 0) {
			best += i;
			*kind = NUM_OTHER;
		}
	}
	if (!sign && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') &&
	    (d = span_digits(t + 2, true))) {
		i = 2 + d;
		i += span_long_suffix(t + i);
		if (i > best) {
			best = i;
			*kind = span_long_suffix(t + 2 + d) ? NUM_OTHER : NUM_HEX;
		}
	}
	/* float: [-+]?[0-9]*\.[0-9]*([eE][-+]?[0-9]+)? | [-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+ */
	i = sign + span_digits(t + sign, false);
	d = i;
	if (t[i] == '.') {
		i++;
		i += span_digits(t + i, false);
		i += span_exponent(t + i);
	} else if (d > sign) {
		i += span_exponent(t + i);
		if (i == d)
			i = 0;
	} else {
		i = 0;
	}
	if (i > best) {
		best = i;
		*kind = NUM_OTHER;
	}
	return best;
}

/* Whether libconfig stores this integer or hex token unchanged in an int. */
static bool int_literal_fits(const char *t, size_t len, bool hex)
{
	bool neg = t[0] == '-';
	size_t i = hex ? 2 : (t[0] == '+' || neg) ? 1 : 0;
	unsigned long long v = 0, limit = neg ? (unsigned long long)INT_MAX + 1 : INT_MAX;
	for (; i < len; i++) {
		unsigned c = (unsigned char)t[i];
		unsigned digit = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
		v = v * (hex ? 16 : 10) + digit;
		if (v > limit)
			return false;
	}
	return true;
}

static int scan_source(struct load *ld, size_t si, int depth);

/* Finds or reads the file that include name refers to; returns its index. */
static size_t include_source(struct load *ld, const char *name)
{
	for (size_t i = 1; i < ld->nsrc; i++)
		if (strcmp(ld->src[i].name, name) == 0)
			return i;
	struct source *s = &ld->src[ld->nsrc];
	size_t dirlen = ld->include_dir ? strlen(ld->include_dir) : 0;
	const char *rel = ld->include_dir && name[0] == '/' ? name + 1 : name;
	s->name = strdup(name);
	s->path = malloc(dirlen + strlen(rel) + 2);
	if (s->path) {
		if (ld->include_dir) /* exactly the name libconfig opens */
			sprintf(s->path, "%s/%s", ld->include_dir, rel);
		else
			strcpy(s->path, rel);
	}
	s->owned = true;
	s->read_error = s->name && s->path ? read_text(s->path, &s->text) : ENOMEM;
	return ld->nsrc++;
}

/* Handles one @include whose name starts at *pp (after the quote). */
static int scan_include(struct load *ld, size_t si, int depth, size_t *pp, int *line)
{
	const char *t = ld->src[si].text;
	size_t p = *pp, n = 0;
	char name[PATH_MAX];
	int start = *line;
	for (;; p++) {
		if (t[p] == '\0')
			return fail(ld, "%s:%d: unterminated @include", ld->src[si].path, start);
		if (t[p] == '"')
			break;
		if (t[p] == '\\' && (t[p + 1] == '\\' || t[p + 1] == '"'))
			p++;
		else if (t[p] == '\\')
			return fail(ld, "%s:%d: bad escape in @include file name", ld->src[si].path,
				    *line);
		if (t[p] == '\n')
			(*line)++;
		if (n + 1 >= sizeof(name))
			return fail(ld, "%s:%d: @include file name too long", ld->src[si].path,
				    *line);
		name[n++] = t[p];
	}
	name[n] = '\0';
	*pp = p + 1;
	if (depth >= CONFIG_INCLUDE_DEPTH)
		return 0; /* libconfig refuses it: "include file nesting too deep" */
	if (ld->nincludes++ == CONFIG_MAX_INCLUDES)
		return fail(ld, "%s:%d: more than %d @include directives", ld->src[si].path, *line,
			    CONFIG_MAX_INCLUDES);
	size_t ti = include_source(ld, name);
	const struct source *target = &ld->src[ti];
	if (target->read_error != 0)
		return fail(ld, "%s:%d: cannot include %s: %s", ld->src[si].path, *line,
			    target->path, read_error_text(target->read_error));
	ld->state = LEX_INITIAL;
	return scan_source(ld, ti, depth + 1);
}

static bool at_include(const char *t, size_t *p)
{
	size_t i = *p + strspn(t + *p, " \t");
	if (strncmp(t + i, "@include", 8) != 0)
		return false;
	i += 8;
	size_t ws = strspn(t + i, " \t");
	if (ws == 0 || t[i + ws] != '"')
		return false;
	*p = i + ws + 1;
	return true;
}

static int scan_source(struct load *ld, size_t si, int depth)
{
	const char *t = ld->src[si].text;
	int line = 1;
	size_t p = 0;
	while (t[p]) {
		char c = t[p];
		if (c == '\n')
			line++;
		if (ld->state == LEX_COMMENT) {
			if (c == '*' && t[p + 1] == '/') {
				ld->state = LEX_INITIAL;
				p++;
			}
			p++;
		} else if (ld->state == LEX_STRING) {
			if (c == '"')
				ld->state = LEX_INITIAL;
			else if (c == '\\' && t[p + 1] && strchr("nrtf\\\"", t[p + 1]))
				p++;
			p++;
		} else if ((p == 0 || t[p - 1] == '\n') && at_include(t, &p)) {
			if (scan_include(ld, si, depth, &p, &line) != 0)
				return -1;
		} else if (c == '/' && t[p + 1] == '*') {
			ld->state = LEX_COMMENT;
			ld->open_src = si;
			ld->open_line = line;
			p += 2;
		} else if (c == '"') {
			ld->state = LEX_STRING;
			ld->open_src = si;
			ld->open_line = line;
			p++;
		} else if (c == '#' || (c == '/' && t[p + 1] == '/')) {
			p += strcspn(t + p, "\n");
		} else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*') {
			p += 1 + strspn(t + p + 1, NAME_CHARS);
		} else {
			enum num_kind kind;
			size_t len = lex_number(t + p, &kind);
			if (kind == NUM_INT || kind == NUM_HEX) {
				ld->nint++;
				if (!int_literal_fits(t + p, len, kind == NUM_HEX) &&
				    !ld->ovf_int) {
					ld->ovf_int = ld->nint;
					ld->ovf_src = si;
					ld->ovf_line = line;
				}
			}
			p += len ? len : 1;
		}
	}
	return 0;
}

/* Marks the INT setting that holds the first overflowed literal; counts INT
 * settings in document order, as libconfig created them from the tokens. */
static void mark_overflow(struct load *ld, config_setting_t *s, unsigned long *count)
{
	if (config_setting_type(s) == CONFIG_TYPE_INT && ++*count == ld->ovf_int)
		config_setting_set_hook(s, &overflow_mark);
	if (config_setting_is_aggregate(s))
		for (int i = 0; i < config_setting_length(s); i++)
			mark_overflow(ld, config_setting_get_elem(s, i), count);
}

/* ---- messages for libconfig's errors ---- */

static size_t source_of(const struct load *ld, const char *lcname)
{
	for (size_t i = 1; lcname && i < ld->nsrc; i++)
		if (strcmp(ld->src[i].name, lcname) == 0)
			return i;
	return 0;
}

static const char *file_of(const struct load *ld, const config_setting_t *s)
{
	const char *name = config_setting_source_file(s);
	size_t i = source_of(ld, name);
	return i || !name ? ld->src[i].path : name;
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

static int fail_defined_twice(struct load *ld, size_t si, int line, const config_setting_t *first)
{
	char path[512];
	const char *ffile = file_of(ld, first);
	setting_path(first, path, sizeof(path));
	if (strcmp(ffile, ld->src[si].path) == 0)
		return fail(ld, "%s:%d: %s: defined twice (first at line %u)", ld->src[si].path,
			    line, path, config_setting_source_line(first));
	return fail(ld, "%s:%d: %s: defined twice (first at %s:%u)", ld->src[si].path, line, path,
		    ffile, config_setting_source_line(first));
}

/*
 * libconfig aborts as soon as it would add a name twice and keeps what it
 * built so far, so the group being filled lies on the chain of last-added
 * settings. Find the deepest group there that already has a name set on the
 * error line.
 */
static int fail_duplicate(struct load *ld, config_t *lc, size_t si, int line)
{
	const char *t = ld->src[si].text;
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
			size_t n = strspn(p, NAME_CHARS), ws = strspn(p + n, " \t");
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
					return fail_defined_twice(ld, si, line, first);
			}
			p += n;
		}
	}
	return fail(ld, "%s:%d: duplicate setting name", ld->src[si].path, line);
}

static int fail_parse(struct load *ld, config_t *lc)
{
	size_t si = source_of(ld, config_error_file(lc));
	int line = config_error_line(lc);
	const char *text = config_error_text(lc) ? config_error_text(lc) : "cannot parse";
	if (strcmp(text, "duplicate setting name") == 0)
		return fail_duplicate(ld, lc, si, line);
	return fail(ld, "%s:%d: %s", ld->src[si].path, line, text);
}

/* ---- validation ---- */

static int store_setting(struct load *ld, const struct config_key *k, config_setting_t *s,
			 struct airlock_config *cfg)
{
	void *field = (char *)cfg + k->offset;
	const char *file = file_of(ld, s);
	unsigned line = config_setting_source_line(s);
	int type = config_setting_type(s);
	if (k->type == KEY_INT) {
		long long v = config_setting_get_int64(s);
		if ((type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) ||
		    config_setting_get_hook(s) == &overflow_mark || v < k->min || v > k->max)
			return fail(ld, "%s:%u: %s.%s: must be an integer between %lld and %lld",
				    file, line, k->section, k->name, k->min, k->max);
		*(int *)field = (int)v;
		return 0;
	}
	if (type != CONFIG_TYPE_STRING)
		return fail(ld, "%s:%u: %s.%s: must be a string", file, line, k->section, k->name);
	switch (k->store(config_setting_get_string(s), field, k->size)) {
	case STORE_OK:
		return 0;
	case STORE_TOO_LONG:
		return fail(ld, "%s:%u: %s.%s: must be at most %zu characters", file, line,
			    k->section, k->name, k->size - 1);
	default:
		return fail(ld, "%s:%u: %s.%s: must be %s", file, line, k->section, k->name,
			    k->expect);
	}
}

static config_setting_t *set_at(config_setting_t *const *seen, const char *section,
				const char *name)
{
	return seen[key_find(section, name) - config_keys];
}

/* Cross-checks name the later key's line if the file set it, else the other's. */
static int check_tunnel_timing(struct load *ld, const struct airlock_config *cfg,
			       config_setting_t *const *seen)
{
	config_setting_t *stale = set_at(seen, "tunnel", "stale_after");
	config_setting_t *refresh = set_at(seen, "tunnel", "refresh_interval");
	if (cfg->tunnel.stale_after > cfg->tunnel.refresh_interval)
		return 0;
	if (!stale && !refresh)
		fatal("config: the defaults of tunnel.stale_after and refresh_interval conflict");
	if (stale)
		return fail(ld,
			    "%s:%u: tunnel.stale_after: must be greater than "
			    "tunnel.refresh_interval (%d)",
			    file_of(ld, stale), config_setting_source_line(stale),
			    cfg->tunnel.refresh_interval);
	return fail(ld, "%s:%u: tunnel.refresh_interval: must be less than tunnel.stale_after (%d)",
		    file_of(ld, refresh), config_setting_source_line(refresh),
		    cfg->tunnel.stale_after);
}

static int (*const config_checks[])(struct load *, const struct airlock_config *,
				    config_setting_t *const *) = {check_tunnel_timing};

static int validate(struct load *ld, config_t *lc, struct airlock_config *cfg)
{
	config_setting_t *seen[NKEYS] = {0};
	config_setting_t *root = config_root_setting(lc);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *sec = config_setting_get_elem(root, i);
		const char *sname = config_setting_name(sec);
		if (!section_known(sname))
			return fail(ld, "%s:%u: %s: unknown section", file_of(ld, sec),
				    config_setting_source_line(sec), sname);
		if (!config_setting_is_group(sec))
			return fail(ld, "%s:%u: %s: must be a group: %s = { ... };",
				    file_of(ld, sec), config_setting_source_line(sec), sname,
				    sname);
		for (int j = 0; j < config_setting_length(sec); j++) {
			config_setting_t *s = config_setting_get_elem(sec, j);
			const struct config_key *k = key_find(sname, config_setting_name(s));
			if (!k)
				return fail(ld, "%s:%u: %s.%s: unknown key", file_of(ld, s),
					    config_setting_source_line(s), sname,
					    config_setting_name(s));
			if (store_setting(ld, k, s, cfg) != 0)
				return -1;
			seen[k - config_keys] = s;
		}
	}
	for (size_t i = 0; i < sizeof(config_checks) / sizeof(config_checks[0]); i++)
		if (config_checks[i](ld, cfg, seen) != 0)
			return -1;
	return 0;
}

/* ---- entry points ---- */

static int load_text(struct load *ld, struct airlock_config *cfg)
{
	config_t lc;
	int rc = -1;
	config_defaults(cfg);
	if (scan_source(ld, 0, 0) != 0)
		return -1;
	/* libconfig 1.5 drops an unterminated string at the end without a word */
	if (ld->state != LEX_INITIAL)
		return fail(ld, "%s:%d: unterminated %s", ld->src[ld->open_src].path, ld->open_line,
			    ld->state == LEX_STRING ? "string" : "comment");
	config_init(&lc);
	if (ld->include_dir)
		config_set_include_dir(&lc, ld->include_dir);
	if (config_read_string(&lc, ld->src[0].text) != CONFIG_TRUE) {
		fail_parse(ld, &lc);
		goto out;
	}
	unsigned long count = 0;
	mark_overflow(ld, config_root_setting(&lc), &count);
	if (count != ld->nint) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
		abort(); /* the pre-scan disagrees with libconfig's scanner */
#endif
		/* Cannot tell which setting holds it; still refuse the wrapped value. */
		if (ld->ovf_int) {
			fail(ld, "%s:%d: integer does not fit in 32 bits",
			     ld->src[ld->ovf_src].path, ld->ovf_line);
			goto out;
		}
	}
	rc = validate(ld, &lc, cfg);
out:
	config_destroy(&lc);
	return rc;
}

static void load_free(struct load *ld)
{
	for (size_t i = 0; i < ld->nsrc; i++) {
		if (ld->src[i].owned)
			free(ld->src[i].text);
		free(ld->src[i].name);
		if (i > 0)
			free(ld->src[i].path);
	}
}

static void load_start(struct load *ld, char *err, size_t errlen)
{
	memset(ld, 0, sizeof(*ld));
	ld->err = errlen ? err : NULL;
	ld->errlen = errlen;
	if (errlen)
		err[0] = '\0';
}

int config_load_string(const char *text, const char *name_for_errors, struct airlock_config *cfg,
		       char *err, size_t errlen)
{
	struct load ld;
	load_start(&ld, err, errlen);
	const char *name = name_for_errors ? name_for_errors : "(config)";
	ld.src[0] = (struct source){NULL, (char *)name, (char *)text, false, 0};
	ld.nsrc = 1;
	int rc = load_text(&ld, cfg);
	load_free(&ld);
	return rc;
}

int config_load_file(const char *path, struct airlock_config *cfg, char *err, size_t errlen)
{
	struct load ld;
	char *text = NULL, *dir = malloc(strlen(path) + 2);
	load_start(&ld, err, errlen);
	if (!dir)
		return fail(&ld, "cannot read %s: %s", path, strerror(ENOMEM));
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int rc = read_text(path, &text);
	if (rc != 0) {
		free(dir);
		return fail(&ld, "cannot read %s: %s", path, read_error_text(rc));
	}
	ld.include_dir = dir;
	ld.src[0] = (struct source){NULL, (char *)path, text, true, 0};
	ld.nsrc = 1;
	rc = load_text(&ld, cfg);
	load_free(&ld);
	free(dir);
	return rc;
}
