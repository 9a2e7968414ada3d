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
#include <unistd.h>
#include <sys/un.h>

#include "common/config_scan.h"
#include "common/config_schema.h"
#include "common/netaddr.h"

#define NKEYS		config_nkeys
#define CONFIG_MAX_KEYS 128

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
	for (size_t i = 0; i < config_nsections; i++)
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
		} else if (k->type == KEY_BOOL) {
			if (k->size != sizeof(bool))
				fatal("config: bad schema row %s.%s", k->section, k->name);
			*(bool *)field = k->def_int != 0;
		} else if (k->type == KEY_CUSTOM) {
			if (k->size != sizeof(void *))
				fatal("config: bad schema row %s.%s", k->section, k->name);
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
		} else if (k->type == KEY_BOOL) {
			fprintf(out, "boolean | `%s` | ", k->def_int ? "true" : "false");
		} else if (k->type == KEY_CUSTOM) {
			fputs("list of groups | empty | ", out);
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

/* ---- keys built by other modules ---- */

#define MAX_CUSTOM 4

static struct custom_hook {
	const struct config_key *key;
	config_custom_build_fn build;
	config_custom_free_fn destroy;
} custom_hooks[MAX_CUSTOM];

static const struct custom_hook *custom_find(const struct config_key *k)
{
	for (size_t i = 0; i < MAX_CUSTOM; i++)
		if (custom_hooks[i].key == k)
			return &custom_hooks[i];
	return NULL;
}

int config_setting_error(char *err, size_t errlen, const struct config_setting_t *at,
			 const char *file_default, const char *where, const char *fmt, va_list ap)
{
	if (errlen == 0)
		return -1;
	char msg[768];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *file = config_setting_source_file(at);
	if (!file)
		file = file_default ? file_default : "(config)";
	snprintf(err, errlen, "%s:%u: %s: %s", file, (unsigned)config_setting_source_line(at),
		 where, msg);
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

int config_set_custom(const char *key, config_custom_build_fn build, config_custom_free_fn destroy)
{
	const char *dot = key ? strchr(key, '.') : NULL;
	char section[64];
	if (!dot || (size_t)(dot - key) >= sizeof(section) || !build || !destroy)
		return -1;
	memcpy(section, key, (size_t)(dot - key));
	section[dot - key] = '\0';
	const struct config_key *k = key_find(section, dot + 1);
	if (!k || k->type != KEY_CUSTOM)
		return -1;
	struct custom_hook *free_slot = NULL;
	for (size_t i = 0; i < MAX_CUSTOM; i++) {
		if (custom_hooks[i].key == k || (!custom_hooks[i].key && !free_slot))
			free_slot = &custom_hooks[i];
	}
	if (!free_slot)
		return -1;
	*free_slot = (struct custom_hook){k, build, destroy};
	return 0;
}

void config_release(struct airlock_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		void **field = (void **)((char *)cfg + k->offset);
		if (k->type != KEY_CUSTOM || !*field)
			continue;
		const struct custom_hook *h = custom_find(k);
		if (!h)
			fatal("config: %s.%s is set but has no builder", k->section, k->name);
		h->destroy(*field);
		*field = NULL;
	}
}

static int store_custom(struct config_scan *sc, const struct config_key *k, config_setting_t *s,
			void *field)
{
	const struct custom_hook *h = custom_find(k);
	int type = config_setting_type(s);
	if (!h) {
		if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
			return config_scan_fail(sc, "%s:%u: %s.%s: must be %s", file_of(sc, s),
						config_setting_source_line(s), k->section, k->name,
						k->expect);
		return 0;
	}
	char err[512] = "";
	void *obj = h->build(s, sc->src[0].path, err, sizeof(err));
	if (!obj)
		return config_scan_fail(sc, "%s", err[0] ? err : "cannot build");
	*(void **)field = obj;
	return 0;
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
	if (k->type == KEY_BOOL) {
		if (type != CONFIG_TYPE_BOOL)
			return config_scan_fail(sc, "%s:%u: %s.%s: must be true or false", file,
						line, k->section, k->name);
		*(bool *)field = config_setting_get_bool(s) != 0;
		return 0;
	}
	if (k->type == KEY_CUSTOM)
		return store_custom(sc, k, s, field);
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
	config_setting_t *seen[CONFIG_MAX_KEYS] = {0};
	if (NKEYS > CONFIG_MAX_KEYS)
		fatal("config: more than %d schema rows", CONFIG_MAX_KEYS);
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
	if (rc != 0)
		config_release(cfg);
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

int config_parse_cmdline(int argc, char **argv, const char **path, bool *check_only,
			 void (*usage)(FILE *out))
{
	int opt;
	*check_only = false;
	optind = 1;
	while ((opt = getopt(argc, argv, "c:nh")) != -1) {
		switch (opt) {
		case 'c':
			*path = optarg;
			break;
		case 'n':
			*check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}
