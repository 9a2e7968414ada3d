/*
 * The files of a configuration load and the pre-scan of their text by
 * libconfig 1.5's scanner rules; why it exists is in config_scan.h.
 */
#include "common/config_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum read_error { READ_NOT_REGULAR = -1, READ_TOO_LARGE = -2, READ_NUL = -3 };

/* ---- the load ---- */

void config_scan_init(struct config_scan *sc, char *err, size_t errlen)
{
	memset(sc, 0, sizeof(*sc));
	sc->err = errlen ? err : NULL;
	sc->errlen = errlen;
	if (errlen)
		err[0] = '\0';
}

void config_scan_free(struct config_scan *sc)
{
	for (size_t i = 0; i < sc->nsrc; i++) {
		if (sc->src[i].owned)
			free(sc->src[i].text);
		free(sc->src[i].name);
		if (i > 0)
			free(sc->src[i].path);
	}
}

int config_scan_fail(struct config_scan *sc, const char *fmt, ...)
{
	if (sc->errlen == 0)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sc->err, sc->errlen, fmt, ap);
	va_end(ap);
	/* File names come from the text; keep the message on one line. */
	for (char *p = sc->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

const char *config_scan_read_error_text(int code)
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

int config_scan_read_file(const char *path, char **out)
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
	else if (!(buf = malloc(CONFIG_SCAN_MAX_FILE_SIZE + 2)))
		rc = ENOMEM;
	while (rc == 0) {
		ssize_t n = read(fd, buf + len, CONFIG_SCAN_MAX_FILE_SIZE + 1 - len);
		if (n < 0 && errno != EINTR)
			rc = errno;
		else if (n == 0)
			break;
		else if (n > 0 && (len += (size_t)n) > CONFIG_SCAN_MAX_FILE_SIZE)
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

static int scan_source(struct config_scan *sc, size_t si, int depth);

/* Finds or reads the file that include name refers to; returns its index. */
static size_t include_source(struct config_scan *sc, const char *name)
{
	for (size_t i = 1; i < sc->nsrc; i++)
		if (strcmp(sc->src[i].name, name) == 0)
			return i;
	struct config_scan_source *s = &sc->src[sc->nsrc];
	size_t dirlen = sc->include_dir ? strlen(sc->include_dir) : 0;
	const char *rel = sc->include_dir && name[0] == '/' ? name + 1 : name;
	s->name = strdup(name);
	s->path = malloc(dirlen + strlen(rel) + 2);
	if (s->path) {
		if (sc->include_dir) /* exactly the name libconfig opens */
			sprintf(s->path, "%s/%s", sc->include_dir, rel);
		else
			strcpy(s->path, rel);
	}
	s->owned = true;
	s->read_error = s->name && s->path ? config_scan_read_file(s->path, &s->text) : ENOMEM;
	return sc->nsrc++;
}

/* Handles one @include whose name starts at *pp (after the quote). */
static int scan_include(struct config_scan *sc, size_t si, int depth, size_t *pp, int *line)
{
	const char *t = sc->src[si].text;
	size_t p = *pp, n = 0;
	char name[PATH_MAX];
	int start = *line;
	for (;; p++) {
		if (t[p] == '\0')
			return config_scan_fail(sc, "%s:%d: unterminated @include",
						sc->src[si].path, start);
		if (t[p] == '"')
			break;
		if (t[p] == '\\' && (t[p + 1] == '\\' || t[p + 1] == '"'))
			p++;
		else if (t[p] == '\\')
			return config_scan_fail(sc, "%s:%d: bad escape in @include file name",
						sc->src[si].path, *line);
		if (t[p] == '\n')
			(*line)++;
		if (n + 1 >= sizeof(name))
			return config_scan_fail(sc, "%s:%d: @include file name too long",
						sc->src[si].path, *line);
		name[n++] = t[p];
	}
	name[n] = '\0';
	*pp = p + 1;
	if (depth >= CONFIG_SCAN_INCLUDE_DEPTH)
		return 0; /* libconfig refuses it: "include file nesting too deep" */
	if (sc->nincludes++ == CONFIG_SCAN_MAX_INCLUDES)
		return config_scan_fail(sc, "%s:%d: more than %d @include directives",
					sc->src[si].path, *line, CONFIG_SCAN_MAX_INCLUDES);
	size_t ti = include_source(sc, name);
	const struct config_scan_source *target = &sc->src[ti];
	if (target->read_error != 0)
		return config_scan_fail(sc, "%s:%d: cannot include %s: %s", sc->src[si].path, *line,
					target->path,
					config_scan_read_error_text(target->read_error));
	sc->state = CONFIG_SCAN_INITIAL;
	return scan_source(sc, ti, depth + 1);
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

static int scan_source(struct config_scan *sc, size_t si, int depth)
{
	const char *t = sc->src[si].text;
	int line = 1;
	size_t p = 0;
	while (t[p]) {
		char c = t[p];
		if (c == '\n')
			line++;
		if (sc->state == CONFIG_SCAN_COMMENT) {
			if (c == '*' && t[p + 1] == '/') {
				sc->state = CONFIG_SCAN_INITIAL;
				p++;
			}
			p++;
		} else if (sc->state == CONFIG_SCAN_STRING) {
			if (c == '"')
				sc->state = CONFIG_SCAN_INITIAL;
			else if (c == '\\' && t[p + 1] && strchr("nrtf\\\"", t[p + 1]))
				p++;
			p++;
		} else if ((p == 0 || t[p - 1] == '\n') && at_include(t, &p)) {
			if (scan_include(sc, si, depth, &p, &line) != 0)
				return -1;
		} else if (c == '/' && t[p + 1] == '*') {
			sc->state = CONFIG_SCAN_COMMENT;
			sc->open_src = si;
			sc->open_line = line;
			p += 2;
		} else if (c == '"') {
			sc->state = CONFIG_SCAN_STRING;
			sc->open_src = si;
			sc->open_line = line;
			p++;
		} else if (c == '#' || (c == '/' && t[p + 1] == '/')) {
			p += strcspn(t + p, "\n");
		} else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*') {
			p += 1 + strspn(t + p + 1, CONFIG_SCAN_NAME_CHARS);
		} else {
			enum num_kind kind;
			size_t len = lex_number(t + p, &kind);
			if (kind == NUM_INT || kind == NUM_HEX) {
				sc->nint++;
				if (!int_literal_fits(t + p, len, kind == NUM_HEX) &&
				    !sc->ovf_int) {
					sc->ovf_int = sc->nint;
					sc->ovf_src = si;
					sc->ovf_line = line;
				}
			}
			p += len ? len : 1;
		}
	}
	return 0;
}

int config_scan_run(struct config_scan *sc)
{
	if (scan_source(sc, 0, 0) != 0)
		return -1;
	/* libconfig 1.5 drops an unterminated string at the end without a word */
	if (sc->state != CONFIG_SCAN_INITIAL)
		return config_scan_fail(sc, "%s:%d: unterminated %s", sc->src[sc->open_src].path,
					sc->open_line,
					sc->state == CONFIG_SCAN_STRING ? "string" : "comment");
	return 0;
}
