/*
 * Configuration: /etc/airlock/airlock.conf in libconfig syntax.
 *
 * The file has the top-level sections edge, hub, tunnel, scan, policy, queue
 * and log. One schema table in config.c describes every key (type, default,
 * allowed values, meaning); loading fills struct airlock_config from it, and
 * config_print_reference() prints the same table as documentation.
 *
 * Loading is strict: an unknown section or key, a value of the wrong type or
 * out of range, and every libconfig syntax error fail the whole load with one
 * line of the form
 *
 *	/etc/airlock/airlock.conf:12: tunnel.refresh_interval: must be an integer between 1 and 3600
 *
 * naming the file (an included file when the problem is in one), the line and
 * the key.
 */
#ifndef AIRLOCK_CONFIG_H
#define AIRLOCK_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/log.h"

#define CONFIG_DEFAULT_PATH "/etc/airlock/airlock.conf"

/* Most entries of list-valued keys. */
#define CONFIG_MAX_LISTEN  8
#define CONFIG_MAX_DOMAINS 64

/*
 * The loaded configuration. Plain data but for policy.rules and edge.hubs (see
 * config_set_custom()): it may be copied and compared freely. Strings are
 * NUL-terminated; an optional string that is not set is empty.
 */
struct airlock_config {
	struct {
		enum log_level level;
		enum log_target target;
	} log;
	struct {
		char vici[256];		 /* "unix://" + absolute socket path */
		char connection[256];	 /* IKE connection name */
		char child[256];	 /* CHILD_SA name */
		char local_address[64];	 /* IPv4/IPv6 text, or empty */
		char remote_address[64]; /* IPv4/IPv6 text, or empty */
		int request_timeout;	 /* seconds */
		int refresh_interval;	 /* seconds between full SA listings */
		int stale_after;	 /* seconds; > refresh_interval */
		int cert_warn_days;	 /* days */
		char backend[16];	 /* "auto", "xfrm" or "libipsec" */
		char device[16];	 /* kernel-libipsec TUN device */
	} tunnel;
	struct {
		char listen[CONFIG_MAX_LISTEN][64]; /* "192.0.2.1:25", "[::]:25" */
		int nlisten;
		char hostname[256]; /* "" = the system's host name */
		char relay_domains[CONFIG_MAX_DOMAINS][256];
		int nrelay_domains;
		/*
		 * edge.hubs as built by the builder registered with
		 * config_set_custom() (a struct forward_hubs * for the edge),
		 * or NULL when unset or when no builder is registered. Owned
		 * by the configuration: config_release().
		 */
		void *hubs;
		int max_message_size; /* octets */
		int max_recipients;
		int max_connections;
		int max_connections_per_client;
		int command_timeout;	    /* seconds */
		int request_deadline;	    /* seconds */
		int min_data_rate;	    /* octets per second, 0 = no minimum */
		char bare_newlines[16];	    /* "reject" or "normalise" */
		char tls_certificate[1024]; /* PEM file; "" = no STARTTLS */
		char tls_key[1024];
		char user[64]; /* "" = children keep the parent's user */
		char control_socket[108];
		char state_dir[1024]; /* attestation key; created by the parent */
	} edge;
	struct {
		char listen[CONFIG_MAX_LISTEN][64]; /* inner tunnel address(es) */
		int nlisten;
		char hostname[256]; /* "" = the system's host name */
		char connections[CONFIG_MAX_LISTEN]
				[256]; /* IKE connections; none = tunnel.connection */
		int nconnections;
		char internal_mta[64];	 /* "127.0.0.1:10025" */
		int internal_timeout;	 /* seconds per internal MTA reply */
		char trusted_keys[1024]; /* file or directory of edge attestation keys */
		int attestation_max_age, attestation_max_skew; /* seconds */
		bool accept_unscanned;
		int duplicate_window; /* seconds; 0: no duplicate check */
		int duplicate_memory; /* transactions remembered */
		int max_message_size; /* octets */
		int max_connections;
		int command_timeout; /* seconds */
		char user[64];	     /* "" = the smtp process keeps the parent's user */
		char control_socket[108];
	} hub;
	struct {
		bool enabled;
		char database_dir[1024];
		int max_scan_size, max_file_size; /* octets */
		int max_recursion, max_files;
		int max_scan_time; /* seconds */
		bool heuristic_encrypted_archive, heuristic_encrypted_doc, heuristic_macros;
		char reload[16];	     /* "background" or "blocking" */
		int timeout;		     /* seconds the smtp process waits for a verdict */
		char on_scanner_failure[16]; /* "tempfail" or "accept" */
		char on_limits[16];	     /* "reject", "tempfail" or "accept" */
		char on_infected[16];	     /* "reject" or "quarantine" */
		char result_header[80];	     /* field name for the recipient; "" = none */
		int threads;
		char temp_dir[1024]; /* libclamav's temporary files; "" = a private tmpfs */
		int temp_size;	     /* MiB of that tmpfs; 0 = max_scan_size x threads */
	} scan;
	struct {
		char attachment_action[16]; /* "reject" or "strip" */
		bool attachment_builtin_list;
		/*
		 * policy.rules as built by the builder registered with
		 * config_set_custom() (a struct transport_rules * for the edge),
		 * or NULL when unset or when no builder is registered. Owned by
		 * the configuration: config_release().
		 */
		void *rules;
	} policy;
	struct {
		char directory[1024];
		int retry_min, retry_max, max_lifetime; /* seconds */
		int max_parallel;
		int min_free_mb;
		int scan_interval;	   /* seconds */
		int connection_cache_time; /* seconds */
		char tls[16];		   /* "none", "opportunistic", "required" */
		char quarantine_dir[1024]; /* "" = directory/quarantine */
	} queue;
};

/*
 * Group- or list-valued keys ("policy.rules", "edge.hubs") are interpreted by
 * a module above common/: a program that uses them registers a builder
 * before loading. build gets the setting and the name of the top-level file
 * (for its messages) and returns the object, or NULL with one line
 * "FILE:LINE: KEY: what" in err; destroy frees it. Without a builder the key
 * is only checked to be a list and stored as NULL. Returns 0, or -1 for a
 * key that is not a custom key. Not thread-safe: call it at start.
 */
struct config_setting_t;
typedef void *(*config_custom_build_fn)(const struct config_setting_t *s, const char *file,
					char *err, size_t errlen);
typedef void (*config_custom_free_fn)(void *obj);
int config_set_custom(const char *key, config_custom_build_fn build, config_custom_free_fn destroy);

/*
 * For custom-key builders: writes "FILE:LINE: where: message" into err, the
 * line (and file; else file_default, else "(config)") from at, and every
 * control character of the result (text quoted from the file) replaced by
 * '?', so that it stays one line. Nothing when errlen is 0. Returns -1.
 */
int config_setting_error(char *err, size_t errlen, const struct config_setting_t *at,
			 const char *file_default, const char *where, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

/*
 * Frees what a loaded configuration owns (policy.rules, edge.hubs) and sets those
 * pointers to NULL; the rest stays valid. NULL is allowed.
 */
void config_release(struct airlock_config *cfg);

/* Fills cfg with the default of every key. Cannot fail; owns nothing afterwards. */
void config_defaults(struct airlock_config *cfg);

/*
 * Reads the configuration file at path over the defaults.
 *
 * @include directives are resolved against the directory that holds path
 * (libconfig treats a leading '/' in an include name as relative to it too);
 * they nest at most 10 deep, and at most 64 files are included in all.
 * Every file must be a regular file of at most 1 MiB without NUL bytes.
 *
 * Returns 0 on success, with cfg holding the defaults overridden by the
 * file's values. Returns -1 on any error, with one line and no newline in
 * err (always NUL-terminated, truncated to errlen; err may be NULL when
 * errlen is 0): "FILE:LINE: KEY: what is wrong" for a bad value,
 * "FILE:LINE: message" for a syntax error, "cannot read PATH: reason" when
 * the file itself cannot be read. cfg is unspecified after a failure: keep
 * using the previous configuration (nothing is then owned by it). On success
 * cfg may own policy.rules: config_release().
 */
int config_load_file(const char *path, struct airlock_config *cfg, char *err, size_t errlen);

/*
 * As config_load_file(), but the configuration is the NUL-terminated text;
 * name_for_errors stands for the file name in messages. @include names are
 * resolved against the current working directory. text is only read.
 */
int config_load_string(const char *text, const char *name_for_errors, struct airlock_config *cfg,
		       char *err, size_t errlen);

/*
 * Writes the reference of every key as a Markdown table (columns key, type,
 * default, meaning), in schema order, to out. Used to generate the README.
 */
void config_print_reference(FILE *out);

/*
 * The daemons' command line, "[-c FILE] [-n] [-h]": sets *path (left as it
 * is without -c; points into argv) and *check_only (-n). Returns -1 when the
 * daemon should go on, else the exit status to return at once: 0 after
 * printing usage for -h to stdout, 2 after printing it to stderr for an
 * unknown option or a stray argument.
 */
int config_parse_cmdline(int argc, char **argv, const char **path, bool *check_only,
			 void (*usage)(FILE *out));

#endif
