/*
 * Unit tests: configuration loading (common/config.c). Every error is
 * checked as the exact line a user would see.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libconfig.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/config_schema.h"
#include "relay/forward_hubs.h"

#include <sys/socket.h>

static char dir[256];
static char err[512];

static int make_dir(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/test_config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int remove_dir(void **state)
{
	(void)state;
	return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes name (relative to dir) and returns its full path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Loads text that must fail; returns the message. */
static const char *load_fails(const char *text)
{
	struct airlock_config cfg;
	memset(err, 0, sizeof(err));
	assert_int_equal(config_load_string(text, "t.conf", &cfg, err, sizeof(err)), -1);
	return err;
}

static void load_ok(const char *text, struct airlock_config *cfg)
{
	err[0] = '\0';
	int rc = config_load_string(text, "t.conf", cfg, err, sizeof(err));
	if (rc != 0)
		fail_msg("unexpected error: %s", err);
}

static void test_defaults(void **state)
{
	(void)state;
	struct airlock_config cfg;
	memset(&cfg, 0xa5, sizeof(cfg));
	config_defaults(&cfg);
	assert_int_equal(cfg.log.level, LOG_LEVEL_INFO);
	assert_int_equal(cfg.log.target, LOG_TARGET_STDERR);
	assert_string_equal(cfg.tunnel.vici, "unix:///var/run/charon.vici");
	assert_string_equal(cfg.tunnel.connection, "airlock");
	assert_string_equal(cfg.tunnel.child, "airlock");
	assert_string_equal(cfg.tunnel.local_address, "");
	assert_string_equal(cfg.tunnel.remote_address, "");
	assert_int_equal(cfg.tunnel.request_timeout, 10);
	assert_int_equal(cfg.tunnel.refresh_interval, 10);
	assert_int_equal(cfg.tunnel.stale_after, 30);
	assert_int_equal(cfg.tunnel.cert_warn_days, 30);
}

static void test_empty_text_gives_defaults(void **state)
{
	(void)state;
	struct airlock_config cfg, def;
	config_defaults(&def);
	load_ok("", &cfg);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
	load_ok("# only a comment\nedge = {};\nhub = {};\nscan = {};\npolicy = {};\nqueue = {};\n",
		&cfg);
	assert_memory_equal(&cfg, &def, sizeof(cfg));
}

static void test_full_file(void **state)
{
	(void)state;
	struct airlock_config cfg;
	const char *path =
		write_file("airlock.conf", "edge = { };\n"
					   "hub = { };\n"
					   "tunnel = {\n"
					   "\tvici = \"unix:///run/charon.vici\";\n"
					   "\tconnection = \"edge-hub\";\n"
					   "\tchild = \"mail\";\n"
					   "\tlocal_address = \"192.0.2.1\";\n"
					   "\tremote_address = \"2001:db8::2\";\n"
					   "\trequest_timeout = 5;\n"
					   "\trefresh_interval = 0x3c;\n"
					   "\tstale_after = 180L;\n"
					   "\tcert_warn_days = 0;\n"
					   "};\n"
					   "scan = { };\npolicy = { };\nqueue = { };\n"
					   "log: { level: \"debug\"; target: \"syslog\" }\n");
	if (config_load_file(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(cfg.log.level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg.log.target, LOG_TARGET_SYSLOG);
	assert_string_equal(cfg.tunnel.vici, "unix:///run/charon.vici");
	assert_string_equal(cfg.tunnel.connection, "edge-hub");
	assert_string_equal(cfg.tunnel.child, "mail");
	assert_string_equal(cfg.tunnel.local_address, "192.0.2.1");
	assert_string_equal(cfg.tunnel.remote_address, "2001:db8::2");
	assert_int_equal(cfg.tunnel.request_timeout, 5);
	assert_int_equal(cfg.tunnel.refresh_interval, 60);
	assert_int_equal(cfg.tunnel.stale_after, 180);
	assert_int_equal(cfg.tunnel.cert_warn_days, 0);
}

static void test_range_edges_accepted(void **state)
{
	(void)state;
	struct airlock_config cfg;
	load_ok("tunnel = { request_timeout = 600; refresh_interval = 3600; stale_after = 86400;"
		" cert_warn_days = 3650; };",
		&cfg);
	assert_int_equal(cfg.tunnel.request_timeout, 600);
	assert_int_equal(cfg.tunnel.refresh_interval, 3600);
	assert_int_equal(cfg.tunnel.stale_after, 86400);
	assert_int_equal(cfg.tunnel.cert_warn_days, 3650);
	load_ok("tunnel = { request_timeout = 1; refresh_interval = 1; stale_after = 2; };", &cfg);
	assert_int_equal(cfg.tunnel.request_timeout, 1);
	assert_int_equal(cfg.tunnel.stale_after, 2);
	load_ok("log = { level = \"error\"; target = \"stderr\"; };", &cfg);
	assert_int_equal(cfg.log.level, LOG_LEVEL_ERROR);
	load_ok("log = { level = \"warning\"; };", &cfg);
	assert_int_equal(cfg.log.level, LOG_LEVEL_WARNING);
	load_ok("tunnel = { vici = \"unix://\" \"/run/x.vici\"; connection = \"a\"; };", &cfg);
	assert_string_equal(cfg.tunnel.vici, "unix:///run/x.vici");
	assert_string_equal(cfg.tunnel.connection, "a");
}

#define INT_MSG(key, lo, hi) key ": must be an integer between " #lo " and " #hi
#define NAME_MSG(key)                                                                              \
	key ": must be a name of 1 to 255 characters without spaces or control characters"
#define ADDR_MSG(key) key ": must be an IPv4 or IPv6 address"
#define VICI_MSG                                                                                   \
	"tunnel.vici: must be \"unix://\" followed by an absolute socket path of at most 107 "     \
	"bytes"

/* Each value is set on line 3 of its section. */
static const struct bad_value {
	const char *section, *assignment, *message;
} bad_values[] = {
	{"tunnel", "request_timeout = \"10\"", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "request_timeout = 10.0", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "request_timeout = true", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "request_timeout = [ 10 ]", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "request_timeout = { }", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "request_timeout = 0", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "request_timeout = 601", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "request_timeout = 4294967306", INT_MSG("tunnel.request_timeout", 1, 600)},
	{"tunnel", "refresh_interval = \"10\"", INT_MSG("tunnel.refresh_interval", 1, 3600)},
	{"tunnel", "refresh_interval = 1e1", INT_MSG("tunnel.refresh_interval", 1, 3600)},
	{"tunnel", "refresh_interval = 0", INT_MSG("tunnel.refresh_interval", 1, 3600)},
	{"tunnel", "refresh_interval = 3601", INT_MSG("tunnel.refresh_interval", 1, 3600)},
	{"tunnel", "refresh_interval = -5", INT_MSG("tunnel.refresh_interval", 1, 3600)},
	{"tunnel", "stale_after = \"30\"", INT_MSG("tunnel.stale_after", 2, 86400)},
	{"tunnel", "stale_after = 30.5", INT_MSG("tunnel.stale_after", 2, 86400)},
	{"tunnel", "stale_after = 1", INT_MSG("tunnel.stale_after", 2, 86400)},
	{"tunnel", "stale_after = 86401", INT_MSG("tunnel.stale_after", 2, 86400)},
	{"tunnel", "stale_after = 4294967326L", INT_MSG("tunnel.stale_after", 2, 86400)},
	{"tunnel", "stale_after = 0x10000001E", INT_MSG("tunnel.stale_after", 2, 86400)},
	{"tunnel", "cert_warn_days = \"30\"", INT_MSG("tunnel.cert_warn_days", 0, 3650)},
	{"tunnel", "cert_warn_days = 30.0", INT_MSG("tunnel.cert_warn_days", 0, 3650)},
	{"tunnel", "cert_warn_days = -1", INT_MSG("tunnel.cert_warn_days", 0, 3650)},
	{"tunnel", "cert_warn_days = 3651", INT_MSG("tunnel.cert_warn_days", 0, 3650)},
	{"tunnel", "cert_warn_days = -4294967266", INT_MSG("tunnel.cert_warn_days", 0, 3650)},
	{"tunnel", "vici = 5", "tunnel.vici: must be a string"},
	{"tunnel", "vici = \"/var/run/charon.vici\"", VICI_MSG},
	{"tunnel", "vici = \"unix://var/run/charon.vici\"", VICI_MSG},
	{"tunnel", "vici = \"unix://\"", VICI_MSG},
	{"tunnel", "vici = \"tcp://127.0.0.1:4502\"", VICI_MSG},
	{"tunnel", "vici = \"unix:///run/a\\nb\"", VICI_MSG},
	{"tunnel", "connection = 1", "tunnel.connection: must be a string"},
	{"tunnel", "connection = \"\"", NAME_MSG("tunnel.connection")},
	{"tunnel", "connection = \"edge hub\"", NAME_MSG("tunnel.connection")},
	{"tunnel", "connection = \"edge\\thub\"", NAME_MSG("tunnel.connection")},
	{"tunnel", "child = false", "tunnel.child: must be a string"},
	{"tunnel", "child = \"\"", NAME_MSG("tunnel.child")},
	{"tunnel", "child = \"a\\x7f\"", NAME_MSG("tunnel.child")},
	{"tunnel", "local_address = 192", "tunnel.local_address: must be a string"},
	{"tunnel", "local_address = \"garbage\"", ADDR_MSG("tunnel.local_address")},
	{"tunnel", "remote_address = ( \"192.0.2.2\" )", "tunnel.remote_address: must be a string"},
	{"tunnel", "remote_address = \"192.0.2.2/32\"", ADDR_MSG("tunnel.remote_address")},
	{"log", "level = 3", "log.level: must be a string"},
	{"log", "level = \"verbose\"",
	 "log.level: must be one of \"error\", \"warning\", \"info\", \"debug\""},
	{"log", "level = \"INFO\"",
	 "log.level: must be one of \"error\", \"warning\", \"info\", \"debug\""},
	{"log", "target = true", "log.target: must be a string"},
	{"log", "target = \"stdout\"", "log.target: must be \"stderr\" or \"syslog\""},
};

static void test_bad_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const struct bad_value *b = &bad_values[i];
		char text[512], want[512];
		snprintf(text, sizeof(text), "%s = {\n\n\t%s;\n};\n", b->section, b->assignment);
		snprintf(want, sizeof(want), "t.conf:3: %s", b->message);
		const char *got = load_fails(text);
		if (strcmp(got, want) != 0)
			fail_msg("for \"%s\":\n got: %s\nwant: %s", b->assignment, got, want);
	}
}

static void test_too_long_strings(void **state)
{
	(void)state;
	char text[1024], name[300];
	memset(name, 'n', 256);
	name[256] = '\0';
	snprintf(text, sizeof(text), "tunnel = {\n\tconnection = \"%s\";\n};", name);
	assert_string_equal(load_fails(text),
			    "t.conf:2: tunnel.connection: must be at most 255 characters");
	snprintf(text, sizeof(text), "tunnel = {\n\tchild = \"%s\";\n};", name);
	assert_string_equal(load_fails(text),
			    "t.conf:2: tunnel.child: must be at most 255 characters");
	/* 255 characters fit exactly */
	struct airlock_config cfg;
	name[255] = '\0';
	snprintf(text, sizeof(text), "tunnel = {\n\tchild = \"%s\";\n};", name);
	load_ok(text, &cfg);
	assert_string_equal(cfg.tunnel.child, name);
	/* sun_path holds 107 bytes and a NUL */
	char path[200] = "/";
	memset(path + 1, 'p', 106);
	path[107] = '\0';
	snprintf(text, sizeof(text), "tunnel = { vici = \"unix://%s\"; };", path);
	load_ok(text, &cfg);
	assert_string_equal(cfg.tunnel.vici + 7, path);
	strcat(path, "p");
	snprintf(text, sizeof(text), "tunnel = { vici = \"unix://%s\"; };", path);
	assert_string_equal(load_fails(text), "t.conf:1: " VICI_MSG);
	memset(name, 'a', 256);
	snprintf(text, sizeof(text), "tunnel = { vici = \"unix:///%s\"; };", name);
	assert_string_equal(load_fails(text),
			    "t.conf:1: tunnel.vici: must be at most 255 characters");
	snprintf(text, sizeof(text), "tunnel = { local_address = \"%.70s\"; };", name);
	assert_string_equal(load_fails(text), "t.conf:1: " ADDR_MSG("tunnel.local_address"));
}

static void test_addresses(void **state)
{
	(void)state;
	static const char *const good[] = {"192.0.2.1",
					   "0.0.0.0",
					   "255.255.255.255",
					   "2001:db8::2",
					   "::1",
					   "::",
					   "fe80::1",
					   "::ffff:192.0.2.1",
					   "2001:0db8:0000:0000:0000:ff00:0042:8329"};
	static const char *const bad[] = {"garbage",	  "",
					  "1.2.3",	  "192.0.2.256",
					  " 192.0.2.1",	  "192.0.2.1 ",
					  "192.0.2.1/32", "2001:db8::2::1",
					  "::1%lo",	  "[::1]",
					  "0x7f.1",	  "example.com",
					  "192.0.2.1:25", "2001:db8:::1"};
	char text[256], want[256];
	struct airlock_config cfg;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text),
			 "tunnel = { local_address = \"%s\"; remote_address = \"%s\"; };", good[i],
			 good[i]);
		load_ok(text, &cfg);
		assert_string_equal(cfg.tunnel.local_address, good[i]);
		assert_string_equal(cfg.tunnel.remote_address, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "tunnel = {\n remote_address = \"%s\";\n};", bad[i]);
		snprintf(want, sizeof(want), "t.conf:2: %s", ADDR_MSG("tunnel.remote_address"));
		const char *got = load_fails(text);
		if (strcmp(got, want) != 0)
			fail_msg("for \"%s\": got %s", bad[i], got);
	}
}

static void test_unknown_key_in_each_section(void **state)
{
	(void)state;
	static const char *const sections[] = {"edge",	 "hub",	  "tunnel", "scan",
					       "policy", "queue", "log"};
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		char text[256], want[256];
		snprintf(text, sizeof(text), "# airlock\n%s = {\n\tretries = 3;\n};\n",
			 sections[i]);
		snprintf(want, sizeof(want), "t.conf:3: %s.retries: unknown key", sections[i]);
		assert_string_equal(load_fails(text), want);
	}
	/* a key of another section is unknown here */
	assert_string_equal(load_fails("log = {\n\tstale_after = 30;\n};"),
			    "t.conf:2: log.stale_after: unknown key");
	/* so is a nested group */
	assert_string_equal(load_fails("tunnel = {\n\tlimits = { x = 1; };\n};"),
			    "t.conf:2: tunnel.limits: unknown key");
}

static void test_unknown_and_malformed_sections(void **state)
{
	(void)state;
	assert_string_equal(load_fails("log = { };\n\ntunnels = { };\n"),
			    "t.conf:3: tunnels: unknown section");
	assert_string_equal(load_fails("level = \"debug\";"), "t.conf:1: level: unknown section");
	assert_string_equal(load_fails("edge = {};\ntunnel = 5;"),
			    "t.conf:2: tunnel: must be a group: tunnel = { ... };");
	assert_string_equal(load_fails("log = ( );"),
			    "t.conf:1: log: must be a group: log = { ... };");
}

static void test_syntax_errors(void **state)
{
	(void)state;
	assert_string_equal(
		load_fails("tunnel = {\n\trequest_timeout = 10;\n\trefresh_interval = = 5;\n};"),
		"t.conf:3: syntax error");
	assert_string_equal(load_fails("log = {\n\tlevel = \"info\" \"debug;\n};\n"),
			    "t.conf:2: unterminated string");
	assert_string_equal(load_fails("log = { };\n\n/* no end\n"),
			    "t.conf:3: unterminated comment");
	assert_string_equal(load_fails("log = {\n\tlevel = debug;\n};"), "t.conf:2: syntax error");
	assert_string_equal(load_fails("log = {\n\n"), "t.conf:3: syntax error");
	/* a '#' comment needs a newline after it */
	assert_string_equal(load_fails("log = { };\n# end"), "t.conf:2: syntax error");
}

static void test_duplicates(void **state)
{
	(void)state;
	assert_string_equal(
		load_fails("tunnel = {\n\tstale_after = 30;\n\n\tstale_after = 40;\n};"),
		"t.conf:4: tunnel.stale_after: defined twice (first at line 2)");
	assert_string_equal(load_fails("log = { };\nedge = { };\nlog = { level = \"info\"; };"),
			    "t.conf:3: log: defined twice (first at line 1)");
	assert_string_equal(
		load_fails("log = { level = \"info\"; target = \"stderr\"; level = \"debug\"; };"),
		"t.conf:1: log.level: defined twice (first at line 1)");
	/* libconfig stops at the name, before "=" */
	assert_string_equal(load_fails("log = { };\nlog\n= { };"),
			    "t.conf:2: log: defined twice (first at line 1)");
	assert_string_equal(load_fails("log = { };\nlog"),
			    "t.conf:2: log: defined twice (first at line 1)");
}

static void test_stale_after_cross_check(void **state)
{
	(void)state;
	struct airlock_config cfg;
	assert_string_equal(
		load_fails("tunnel = {\n\tstale_after = 60;\n\trefresh_interval = 60;\n};"),
		"t.conf:2: tunnel.stale_after: must be greater than tunnel.refresh_interval (60)");
	assert_string_equal(
		load_fails("tunnel = {\n\trefresh_interval = 120;\n\n\tstale_after = 100;\n};"),
		"t.conf:4: tunnel.stale_after: must be greater than tunnel.refresh_interval (120)");
	assert_string_equal(load_fails("tunnel = { stale_after = 5; };"),
			    "t.conf:1: tunnel.stale_after: must be greater than "
			    "tunnel.refresh_interval (10)");
	assert_string_equal(load_fails("tunnel = {\n\n\trefresh_interval = 30;\n};"),
			    "t.conf:3: tunnel.refresh_interval: must be less than "
			    "tunnel.stale_after (30)");
	load_ok("tunnel = { refresh_interval = 29; };", &cfg);
	assert_int_equal(cfg.tunnel.refresh_interval, 29);
	load_ok("tunnel = { refresh_interval = 60; stale_after = 61; };", &cfg);
	assert_int_equal(cfg.tunnel.stale_after, 61);
}

static void test_unreadable_files(void **state)
{
	(void)state;
	struct airlock_config cfg;
	char path[512], want[1024];
	snprintf(path, sizeof(path), "%s/nonexistent.conf", dir);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "cannot read %s: No such file or directory", path);
	assert_string_equal(err, want);

	assert_int_equal(config_load_file(dir, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "cannot read %s: Is a directory", dir);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite("log = { };\0tunnel = 5;\n", 1, 23, f);
	fclose(f);
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "cannot read %s: contains a NUL byte", path);
	assert_string_equal(err, want);

	assert_int_equal(config_load_file("/dev/null", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "cannot read /dev/null: not a regular file");
}

static void test_include_works(void **state)
{
	(void)state;
	struct airlock_config cfg;
	char want[1024];
	write_file("tunnel.inc", "refresh_interval = 20;\nstale_after = 50;\n");
	mkdir(strcat(strcpy(want, dir), "/sub"), 0700);
	write_file("sub/log.inc", "log = { level = \"debug\"; };\n");
	/* names are relative to the main file's directory, not the working one */
	const char *path = write_file("main.conf", "tunnel = {\n"
						   "@include \"tunnel.inc\"\n"
						   "\tcert_warn_days = 7;\n"
						   "};\n"
						   "@include \"sub/log.inc\"\n");
	if (config_load_file(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
	assert_int_equal(cfg.tunnel.refresh_interval, 20);
	assert_int_equal(cfg.tunnel.stale_after, 50);
	assert_int_equal(cfg.tunnel.cert_warn_days, 7);
	assert_int_equal(cfg.log.level, LOG_LEVEL_DEBUG);

	/* lines after an include are still counted in the including file */
	path = write_file("main.conf", "tunnel = {\n"
				       "@include \"tunnel.inc\"\n"
				       "\tcert_warn_days = 7000;\n"
				       "};\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/main.conf:3: %s", dir,
		 INT_MSG("tunnel.cert_warn_days", 0, 3650));
	assert_string_equal(err, want);
}

static void test_include_errors_name_the_included_file(void **state)
{
	(void)state;
	struct airlock_config cfg;
	char want[1024];
	write_file("tunnel.inc", "refresh_interval = 20;\n\nstale_after = 5000000;\n");
	const char *path =
		write_file("main.conf", "# main\ntunnel = {\n@include \"tunnel.inc\"\n};\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/tunnel.inc:3: %s", dir,
		 INT_MSG("tunnel.stale_after", 2, 86400));
	assert_string_equal(err, want);

	write_file("tunnel.inc", "refresh_interval = 20;\nstale_after = ;\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/tunnel.inc:2: syntax error", dir);
	assert_string_equal(err, want);

	write_file("tunnel.inc", "refresh_interval = 20;\nstale_after = 40;\n");
	path = write_file("main.conf",
			  "tunnel = {\n\tstale_after = 30;\n@include \"tunnel.inc\"\n};\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s/tunnel.inc:2: tunnel.stale_after: defined twice (first at %s/main.conf:2)",
		 dir, dir);
	assert_string_equal(err, want);

	path = write_file("main.conf", "log = { };\n@include \"nope.conf\"\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
		 "%s/main.conf:2: cannot include %s/nope.conf: No such file or directory", dir,
		 dir);
	assert_string_equal(err, want);
}

/* libconfig 1.5 exits the process when it includes a directory; the loader must not. */
static void test_include_of_directory_or_device(void **state)
{
	(void)state;
	struct airlock_config cfg;
	char want[1024];
	char sub[512];
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	mkdir(sub, 0700);
	const char *path = write_file("main.conf", "log = { };\n\n  @include \"conf.d\"\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/main.conf:3: cannot include %s/conf.d: Is a directory",
		 dir, dir);
	assert_string_equal(err, want);

	path = write_file("main.conf", "@include \"\"\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/main.conf:1: cannot include %s/: Is a directory", dir,
		 dir);
	assert_string_equal(err, want);

	/* an include name with a leading '/' is still relative to the directory */
	path = write_file("main.conf", "@include \"/conf.d\"\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/main.conf:1: cannot include %s/conf.d: Is a directory",
		 dir, dir);
	assert_string_equal(err, want);

	assert_string_equal(load_fails("@include \"/dev/null\"\n"),
			    "t.conf:1: cannot include /dev/null: not a regular file");
	/* an include inside a comment or a string is not one */
	load_ok("/*\n@include \"/dev/null\"\n*/\n", &cfg);
	assert_string_equal(load_fails("log = { level = \"\n@include \"; };\n"),
			    "t.conf:1: log.level: must be one of \"error\", \"warning\", \"info\", "
			    "\"debug\"");
}

static void test_include_nesting(void **state)
{
	(void)state;
	struct airlock_config cfg;
	char want[1024];
	const char *path = write_file("loop.conf", "# loops\n@include \"loop.conf\"\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/loop.conf:2: include file nesting too deep", dir);
	assert_string_equal(err, want);

	path = write_file("main.conf", "log = { };\n@include \"main.conf\n");
	assert_int_equal(config_load_file(path, &cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/main.conf:2: unterminated @include", dir);
	assert_string_equal(err, want);
}

static void test_messages_stay_on_one_line(void **state)
{
	(void)state;
	assert_string_equal(load_fails("log = { };\n@include \"no\nsuch\"\n"),
			    "t.conf:3: cannot include no?such: No such file or directory");
}

static void test_error_buffer(void **state)
{
	(void)state;
	struct airlock_config cfg;
	char small[10];
	memset(small, 'x', sizeof(small));
	assert_int_equal(config_load_string("tunnels = {};", "t.conf", &cfg, small, sizeof(small)),
			 -1);
	assert_string_equal(small, "t.conf:1:");
	assert_int_equal(config_load_string("tunnels = {};", "t.conf", &cfg, NULL, 0), -1);
	assert_int_equal(config_load_string("", "t.conf", &cfg, NULL, 0), 0);
}

static void test_reference(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	assert_non_null(out);
	config_print_reference(out);
	fclose(out);
	assert_non_null(
		strstr(buf, "| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |\n"));
	assert_int_equal(strncmp(buf, "| Key |", 7), 0);
	assert_non_null(strstr(buf, "\n| `tunnel.stale_after` | integer, 2 to 86400 | `30` | "));
	assert_non_null(
		strstr(buf, "\n| `tunnel.vici` | string | `\"unix:///var/run/charon.vici\"` | "));
	assert_non_null(strstr(buf, "\n| `tunnel.local_address` | string | unset | "));
	assert_non_null(strstr(buf, "\n| `log.level` | string | `\"info\"` | "));
	assert_non_null(strstr(buf, "\n| `tunnel.cert_warn_days` | integer, 0 to 3650 | `30` | "));
	/* one row per key, each with four cells */
	size_t rows = 0;
	for (char *line = buf; (line = strstr(line, "\n| `")); line++) {
		rows++;
		size_t bars = 0;
		for (char *p = line + 1; *p && *p != '\n'; p++)
			bars += *p == '|' && p[-1] != '\\';
		assert_int_equal(bars, 5);
	}
	assert_int_equal(rows, config_nkeys);
	assert_non_null(strstr(buf, "\n| `scan.enabled` | boolean | `false` | "));
	assert_non_null(strstr(buf, "\n| `policy.rules` | list of groups | empty | "));
	assert_non_null(strstr(buf, "\n| `edge.listen` | list of strings, at most 8 | "
				    "`\"0.0.0.0:25\"`, `\"[::]:25\"` | "));
	assert_int_equal(buf[len - 1], '\n');
	free(buf);
}

struct edge_case {
	const char *text;
	const char *err; /* NULL: must load */
};

static void test_edge_and_queue_keys(void **state)
{
	(void)state;
	struct airlock_config cfg;
	char msg[512];
	config_defaults(&cfg);
	assert_int_equal(cfg.edge.nlisten, 2);
	assert_string_equal(cfg.edge.listen[1], "[::]:25");
	assert_int_equal(cfg.edge.nrelay_domains, 0);
	assert_string_equal(cfg.queue.directory, "/var/spool/airlock");
	assert_string_equal(cfg.edge.bare_newlines, "reject");

	const char *good = "edge = {\n"
			   "  listen = [\"198.51.100.25:25\", \"[2001:db8::25]:2525\"];\n"
			   "  relay_domains = [\"Example.COM\", \".example.net\"];\n"
			   "  hubs = ( { address = \"192.0.2.2:25\"; } );\n"
			   "  hostname = \"mx.example.com\";\n"
			   "  bare_newlines = \"normalise\";\n"
			   "};\n"
			   "queue = { retry_min = 10; retry_max = 10; tls = \"none\"; };\n";
	assert_int_equal(config_load_string(good, "t.conf", &cfg, msg, sizeof(msg)), 0);
	assert_int_equal(cfg.edge.nlisten, 2);
	assert_string_equal(cfg.edge.listen[0], "198.51.100.25:25");
	assert_string_equal(cfg.edge.listen[1], "[2001:db8::25]:2525");
	assert_int_equal(cfg.edge.nrelay_domains, 2);
	assert_string_equal(cfg.edge.relay_domains[0], "example.com");
	assert_string_equal(cfg.edge.relay_domains[1], ".example.net");
	assert_null(cfg.edge.hubs); /* no builder registered yet: only the shape is checked */
	assert_int_equal(cfg.queue.retry_max, 10);

	const struct edge_case bad[] = {
		{"edge = { listen = \"0.0.0.0:25\"; };",
		 "t.conf:1: edge.listen: must be a list: [\"...\", ...]"},
		{"edge = { listen = [\"0.0.0.0\"]; };",
		 "t.conf:1: edge.listen: entry 1 must be a list of \"address:port\" (IPv6 in "
		 "brackets)"},
		{"edge = {\n listen = [\"1.2.3.4:25\", \"::1:25\"]; };",
		 "t.conf:2: edge.listen: entry 2 must be a list of \"address:port\" (IPv6 in "
		 "brackets)"},
		{"edge = { listen = [\"1.2.3.4:0\"]; };", NULL},
		{"edge = { listen = [\"1.2.3.4:65536\"]; };", NULL},
		{"edge = { listen = [1]; };", "t.conf:1: edge.listen: entry 1 must be a string"},
		{"edge = { relay_domains = [\"exa mple.com\"]; };", NULL},
		{"edge = { relay_domains = [\"-example.com\"]; };", NULL},
		{"edge = { relay_domains = [\"example..com\"]; };", NULL},
		{"edge = { relay_domains = [\"example.com.\"]; };", NULL},
		{"edge = { hostname = \".example.com\"; };",
		 "t.conf:1: edge.hostname: must be a host name"},
		{"edge = { next_hop = \"192.0.2.2:25\"; };",
		 "t.conf:1: edge.next_hop: unknown key"},
		{"edge = {\n hubs = \"192.0.2.2:25\"; };",
		 "t.conf:2: edge.hubs: must be a list of hub groups"},
		{"edge = { bare_newlines = \"accept\"; };",
		 "t.conf:1: edge.bare_newlines: must be \"reject\" or \"normalise\""},
		{"edge = { tls_key = \"relative.pem\"; };",
		 "t.conf:1: edge.tls_key: must be an absolute path"},
		{"queue = { tls = \"maybe\"; };",
		 "t.conf:1: queue.tls: must be \"none\", \"opportunistic\" or \"required\""},
		{"queue = {\n retry_min = 100;\n retry_max = 50; };",
		 "t.conf:3: queue.retry_max: must be at least queue.retry_min (100)"},
		{"queue = { max_parallel = 0; };",
		 "t.conf:1: queue.max_parallel: must be an integer between 1 and 1000"},
		{"edge = { max_recipients = 99; };",
		 "t.conf:1: edge.max_recipients: must be an integer between 100 and 100000"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = config_load_string(bad[i].text, "t.conf", &cfg, msg, sizeof(msg));
		if (rc != -1 || (bad[i].err && strcmp(msg, bad[i].err) != 0))
			fail_msg("case %zu '%s': rc=%d err='%s'", i, bad[i].text, rc,
				 rc ? msg : "");
	}
	/* Too many list entries. */
	char many[2048] = "edge = { relay_domains = [";
	for (int i = 0; i < CONFIG_MAX_DOMAINS + 1; i++)
		strcat(many, i ? ",\"a.b\"" : "\"a.b\"");
	strcat(many, "]; };");
	assert_int_equal(config_load_string(many, "t.conf", &cfg, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "t.conf:1: edge.relay_domains: at most 64 entries");
}

static void test_scan_policy_keys(void **state)
{
	(void)state;
	struct airlock_config cfg;
	load_ok("", &cfg);
	assert_false(cfg.scan.enabled);
	assert_string_equal(cfg.scan.database_dir, "/var/lib/clamav");
	assert_int_equal(cfg.scan.max_scan_size, 419430400);
	assert_int_equal(cfg.scan.max_recursion, 17);
	assert_int_equal(cfg.scan.timeout, 120);
	assert_string_equal(cfg.scan.reload, "background");
	assert_string_equal(cfg.scan.on_scanner_failure, "tempfail");
	assert_string_equal(cfg.scan.on_limits, "reject");
	assert_int_equal(cfg.scan.threads, 4);
	assert_string_equal(cfg.edge.state_dir, "/var/lib/airlock");
	assert_string_equal(cfg.policy.attachment_action, "reject");
	assert_true(cfg.policy.attachment_builtin_list);
	assert_null(cfg.policy.rules);
	load_ok("scan = { enabled = true; database_dir = \"/tmp/db\"; heuristic_macros = true;\n"
		"reload = \"blocking\"; on_limits = \"accept\"; threads = 2; };\n"
		"policy = { attachment_action = \"strip\"; attachment_builtin_list = false; };",
		&cfg);
	assert_true(cfg.scan.enabled);
	assert_true(cfg.scan.heuristic_macros);
	assert_false(cfg.scan.heuristic_encrypted_doc);
	assert_string_equal(cfg.scan.database_dir, "/tmp/db");
	assert_string_equal(cfg.scan.reload, "blocking");
	assert_string_equal(cfg.scan.on_limits, "accept");
	assert_int_equal(cfg.scan.threads, 2);
	assert_string_equal(cfg.policy.attachment_action, "strip");
	assert_false(cfg.policy.attachment_builtin_list);
	assert_string_equal(load_fails("scan = {\n enabled = 1; };"),
			    "t.conf:2: scan.enabled: must be true or false");
	assert_string_equal(
		load_fails("scan = { on_limits = \"drop\"; };"),
		"t.conf:1: scan.on_limits: must be \"reject\", \"tempfail\" or \"accept\"");
	assert_string_equal(load_fails("policy = { attachment_action = \"accept\"; };"),
			    "t.conf:1: policy.attachment_action: must be \"reject\" or \"strip\"");
	assert_string_equal(load_fails("scan = { threads = 0; };"),
			    "t.conf:1: scan.threads: must be an integer between 1 and 64");
}

static void test_quarantine_and_result_header(void **state)
{
	(void)state;
	struct airlock_config cfg;
	load_ok("", &cfg);
	assert_string_equal(cfg.queue.quarantine_dir, "");
	assert_string_equal(cfg.scan.on_infected, "reject");
	assert_string_equal(cfg.scan.result_header, "X-Virus-Status");
	load_ok("queue = { quarantine_dir = \"/srv/q\"; };\n"
		"scan = { on_infected = \"quarantine\"; result_header = \"X-Scanned\"; };",
		&cfg);
	assert_string_equal(cfg.queue.quarantine_dir, "/srv/q");
	assert_string_equal(cfg.scan.on_infected, "quarantine");
	assert_string_equal(cfg.scan.result_header, "X-Scanned");
	load_ok("scan = { result_header = \"\"; };", &cfg);
	assert_string_equal(cfg.scan.result_header, "");
	assert_string_equal(load_fails("queue = { quarantine_dir = \"q\"; };"),
			    "t.conf:1: queue.quarantine_dir: must be an absolute path");
	assert_string_equal(load_fails("scan = { on_infected = \"accept\"; };"),
			    "t.conf:1: scan.on_infected: must be \"reject\" or \"quarantine\"");
	const char *bad_names[] = {"X-Airlock-Status", "x-airlock-scan", "X Status", "X:Status",
				   "X-St\u00e4tus"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "scan = { result_header = \"%s\"; };", bad_names[i]);
		assert_string_equal(load_fails(text),
				    "t.conf:1: scan.result_header: must be a header field name of "
				    "at most 79 characters, not X-Airlock-*, or \"\"");
	}
}

static int built, freed;

static void *fake_build(const struct config_setting_t *s, const char *file, char *e, size_t elen)
{
	const config_setting_t *list = (const config_setting_t *)s;
	if (config_setting_length(list) > 1) {
		snprintf(e, elen, "%s:%u: policy.rules: too many", file,
			 config_setting_source_line(list));
		return NULL;
	}
	built++;
	return malloc(1);
}

static void fake_free(void *obj)
{
	freed++;
	free(obj);
}

static void test_custom_key(void **state)
{
	(void)state;
	struct airlock_config cfg;
	/* without a builder: only the shape is checked */
	load_ok("policy = { rules = ( { name = \"a\"; } ); };", &cfg);
	assert_null(cfg.policy.rules);
	assert_string_equal(load_fails("policy = {\n rules = 5; };"),
			    "t.conf:2: policy.rules: must be a list of rule groups");
	assert_int_equal(config_set_custom("policy.nothing", fake_build, fake_free), -1);
	assert_int_equal(config_set_custom("scan.threads", fake_build, fake_free), -1);
	assert_int_equal(config_set_custom("policy.rules", fake_build, fake_free), 0);
	load_ok("policy = { rules = ( { name = \"a\"; } ); };", &cfg);
	assert_non_null(cfg.policy.rules);
	assert_int_equal(built, 1);
	config_release(&cfg);
	assert_null(cfg.policy.rules);
	assert_int_equal(freed, 1);
	/* the builder's message is the load's; a later bad key frees what was built */
	assert_string_equal(load_fails("policy = {\n rules = ( {}, {} ); };"),
			    "t.conf:2: policy.rules: too many");
	assert_string_equal(load_fails("policy = { rules = ( {} ); };\nscan = { threads = 99; };"),
			    "t.conf:2: scan.threads: must be an integer between 1 and 64");
	assert_int_equal(built, 2);
	assert_int_equal(freed, 2);
	config_release(NULL);
}

static void *hubs_build(const struct config_setting_t *s, const char *file, char *e, size_t elen)
{
	return forward_hubs_from_setting(s, file, e, elen);
}

static void hubs_free(void *obj)
{
	forward_hubs_free(obj);
}

/* edge.hubs as airlock-edge builds it (relay/forward_hubs.c). */
static void test_edge_hubs(void **state)
{
	(void)state;
	struct airlock_config cfg;
	assert_int_equal(config_set_custom("edge.hubs", hubs_build, hubs_free), 0);
	load_ok("tunnel = { connection = \"c0\"; child = \"k0\"; };\n"
		"edge = { hubs = (\n"
		"  { address = \"192.0.2.2:25\"; priority = 10; },\n"
		"  { address = \"192.0.2.3:2526\"; priority = 20; connection = \"airlock-hub2\";\n"
		"    child = \"airlock-hub2\"; },\n"
		"  { address = \"[2001:db8::2]:25\"; } ); };",
		&cfg);
	struct forward_hubs *h = cfg.edge.hubs;
	assert_non_null(h);
	assert_int_equal(h->n, 3);
	assert_string_equal(h->hub[0].address, "192.0.2.2:25");
	assert_int_equal(h->hub[0].priority, 10);
	assert_string_equal(h->hub[0].connection, "");
	assert_int_equal(h->hub[1].priority, 20);
	assert_string_equal(h->hub[1].connection, "airlock-hub2");
	assert_string_equal(h->hub[1].child, "airlock-hub2");
	assert_int_equal(h->hub[2].priority, FORWARD_HUB_DEFAULT_PRIORITY);
	assert_int_equal(h->hub[2].addr.ss_family, AF_INET6);
	forward_hubs_set_defaults(h, cfg.tunnel.connection, cfg.tunnel.child);
	assert_string_equal(h->hub[0].connection, "c0");
	assert_string_equal(h->hub[0].child, "k0");
	assert_string_equal(h->hub[1].connection, "airlock-hub2");
	config_release(&cfg);
	assert_null(cfg.edge.hubs);

	const struct edge_case bad[] = {
		{"edge = {\n hubs = 5; };", "t.conf:2: edge.hubs: must be a list of groups: ( { "
					    "address = \"...\"; } )"},
		{"edge = {\n hubs = (); };", "t.conf:2: edge.hubs: must name at least one hub"},
		{"edge = { hubs = (\n \"192.0.2.2:25\" ); };",
		 "t.conf:2: edge.hubs[0]: must be a group: { address = \"192.0.2.2:25\"; priority "
		 "= 10; }"},
		{"edge = { hubs = (\n { priority = 1; } ); };",
		 "t.conf:2: edge.hubs[0]: address is missing"},
		{"edge = { hubs = ( { address = \"192.0.2.2:25\"; },\n"
		 " { address = \"hub.example.com:25\"; } ); };",
		 "t.conf:2: edge.hubs[1].address: must be \"address:port\" (numeric, IPv6 in "
		 "brackets)"},
		{"edge = { hubs = ( { address = \"192.0.2.2\"; } ); };",
		 "t.conf:1: edge.hubs[0].address: must be \"address:port\" (numeric, IPv6 in "
		 "brackets)"},
		{"edge = { hubs = ( { address = \"192.0.2.2:25\";\n\n priority = -1; } ); };",
		 "t.conf:3: edge.hubs[0].priority: must be an integer between 0 and 65535"},
		{"edge = { hubs = ( { address = \"192.0.2.2:25\"; priority = \"1\"; } ); };",
		 "t.conf:1: edge.hubs[0].priority: must be an integer between 0 and 65535"},
		{"edge = { hubs = ( { address = \"192.0.2.2:25\";\n port = 25; } ); };",
		 "t.conf:2: edge.hubs[0].port: unknown key (address, priority, connection, child)"},
		{"edge = { hubs = ( { address = \"192.0.2.2:25\"; connection = \"\"; } ); };",
		 "t.conf:1: edge.hubs[0].connection: must be 1 to 255 characters"},
		{"edge = { hubs = ( { address = \"192.0.2.2:25\"; child = \"a b\"; } ); };",
		 "t.conf:1: edge.hubs[0].child: must not contain spaces or control characters"},
		{"edge = { hubs = ( { address = \"192.0.2.2:25\"; },\n"
		 "\t{ address = \"192.0.2.2:25\"; priority = 5; } ); };",
		 "t.conf:2: edge.hubs[1].address: 192.0.2.2:25 is already hub 0"},
	};
	char msg[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = config_load_string(bad[i].text, "t.conf", &cfg, msg, sizeof(msg));
		if (rc != -1 || strcmp(msg, bad[i].err) != 0)
			fail_msg("case %zu '%s': rc=%d err='%s'", i, bad[i].text, rc,
				 rc ? msg : "");
	}
	/* The line of an included file is that file's. */
	write_file("hubs.conf", "\n\nhubs = ( { address = \"192.0.2.2\"; } );\n");
	char text[600];
	snprintf(text, sizeof(text), "edge = {\n@include \"%s/hubs.conf\"\n};\n", dir);
	assert_int_equal(config_load_string(text, "t.conf", &cfg, msg, sizeof(msg)), -1);
	char want[600];
	snprintf(want, sizeof(want),
		 "%s/hubs.conf:3: edge.hubs[0].address: must be \"address:port\" (numeric, IPv6 "
		 "in brackets)",
		 dir);
	assert_string_equal(msg, want);
	/* Too many hubs. */
	char many[4096] = "edge = { hubs = (";
	for (int i = 0; i <= FORWARD_HUBS_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 "%s{ address = \"192.0.2.%d:25\"; }", i ? "," : "", i + 1);
	strcat(many, "); };");
	assert_int_equal(config_load_string(many, "t.conf", &cfg, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "t.conf:1: edge.hubs: at most 16 hubs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_edge_and_queue_keys),
		cmocka_unit_test(test_empty_text_gives_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_range_edges_accepted),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_too_long_strings),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_unknown_key_in_each_section),
		cmocka_unit_test(test_unknown_and_malformed_sections),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_stale_after_cross_check),
		cmocka_unit_test(test_unreadable_files),
		cmocka_unit_test(test_include_works),
		cmocka_unit_test(test_include_errors_name_the_included_file),
		cmocka_unit_test(test_include_of_directory_or_device),
		cmocka_unit_test(test_include_nesting),
		cmocka_unit_test(test_messages_stay_on_one_line),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_scan_policy_keys),
		cmocka_unit_test(test_quarantine_and_result_header),
		cmocka_unit_test(test_custom_key),
		cmocka_unit_test(test_edge_hubs),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
