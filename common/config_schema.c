/*
 * The schema of airlock.conf: one row per key (type, default, allowed
 * values, meaning) and the functions that check and store string values.
 */
#include "common/config_schema.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/netaddr.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

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

static int store_one_of(const char *text, void *field, size_t size, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (strcmp(text, *allowed) == 0)
			return store_copy(text, field, size);
	return STORE_BAD;
}

static int store_reload(const char *text, void *field, size_t size)
{
	static const char *const v[] = {"background", "blocking", NULL};
	return store_one_of(text, field, size, v);
}

static int store_on_failure(const char *text, void *field, size_t size)
{
	static const char *const v[] = {"tempfail", "accept", NULL};
	return store_one_of(text, field, size, v);
}

static int store_on_limits(const char *text, void *field, size_t size)
{
	static const char *const v[] = {"reject", "tempfail", "accept", NULL};
	return store_one_of(text, field, size, v);
}

static int store_on_infected(const char *text, void *field, size_t size)
{
	static const char *const v[] = {"reject", "quarantine", NULL};
	return store_one_of(text, field, size, v);
}

/* An RFC 5322 field name, not X-Airlock-* (stamped and stripped by airlock); "" = none. */
static int store_field_name(const char *text, void *field, size_t size)
{
	if (strlen(text) >= size)
		return STORE_TOO_LONG;
	for (const char *p = text; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == ':')
			return STORE_BAD;
	if (strncasecmp(text, "X-Airlock-", 10) == 0)
		return STORE_BAD;
	return store_copy(text, field, size);
}

static int store_attach_action(const char *text, void *field, size_t size)
{
	static const char *const v[] = {"reject", "strip", NULL};
	return store_one_of(text, field, size, v);
}

static int store_backend(const char *text, void *field, size_t size)
{
	static const char *const v[] = {"auto", "xfrm", "libipsec", NULL};
	return store_one_of(text, field, size, v);
}

/* A network device name: 1 to IFNAMSIZ - 1 bytes, no '/', ':' or white space. */
static int store_ifname(const char *text, void *field, size_t size)
{
	size_t len = strlen(text);
	if (len == 0 || len > 15 || has_control_or_space(text, true) || strpbrk(text, "/:"))
		return STORE_BAD;
	return store_copy(text, field, size);
}

static const char *const default_listen[] = {"0.0.0.0:25", "[::]:25", NULL};

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == 108, "expect text below says 107");

const struct config_key config_keys[] = {
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
	STR_KEY(tunnel, backend, store_backend, "auto", "\"auto\", \"xfrm\" or \"libipsec\"",
		"charon's IPsec backend, which decides how sockets are pinned to the tunnel: "
		"`xfrm` (kernel IPsec: a per-socket policy requiring ESP), `libipsec` "
		"(kernel-libipsec: sockets bound to `tunnel.device`), or `auto` (read from "
		"charon's loaded plugins at start; refuses to start if it cannot tell)."),
	STR_KEY(tunnel, device, store_ifname, "ipsec0", "a network device name of 1 to 15 bytes",
		"The TUN device of the kernel-libipsec backend."),
	LIST_KEY(hub, listen, nlisten, store_hostport, NULL,
		 "a list of \"address:port\" (IPv6 in brackets)",
		 "Addresses the hub's gated acceptor listens on: the hub's inner tunnel address, "
		 "e.g. `192.0.2.2:25`. `airlock-hub` refuses to start with none."),
	STR_KEY(hub, hostname, store_hostname, NULL, "a host name",
		"Name in the hub's greeting, EHLO reply and Received: header. Unset: the "
		"system's host name."),
	LIST_KEY(hub, connections, nconnections, store_name, NULL,
		 "a list of names without spaces or control characters",
		 "IKE connections whose CHILD_SAs may carry mail to the hub (one per paired edge). "
		 "Empty: `tunnel.connection` alone."),
	STR_KEY(hub, internal_mta, store_hostport, "127.0.0.1:10025",
		"\"address:port\" (IPv6 in brackets)",
		"The internal MTA the hub proxies each transaction to (SMTP, numeric "
		"`address:port`)."),
	INT_KEY(hub, internal_timeout, 1, 3600, 300,
		"Seconds the hub waits for each reply of the internal MTA (its end-of-data reply "
		"included) before it answers the edge 451 4.4.2. Keep it below the edge's own "
		"end-of-data timeout (600)."),
	STR_KEY(hub, trusted_keys, store_abs_path, "/var/lib/airlock/trusted-edges",
		"an absolute path",
		"Attestation public keys of the paired edges: a file of "
		"`airlock-attest-ed25519 KEY [comment]` lines, or a directory whose `*.pub` "
		"files are read. `airlock-cert bundle` writes one file per edge here."),
	INT_KEY(hub, attestation_max_age, 60, 31536000, 864000,
		"Seconds a scan attestation stays valid. Must exceed the edge's "
		"`queue.max_lifetime`, or a message held back while the hub was unreachable is "
		"refused when it arrives."),
	INT_KEY(hub, attestation_max_skew, 0, 86400, 300,
		"Seconds an attestation's time may lie in the future (clock skew)."),
	BOOL_KEY(hub, accept_unscanned, 0,
		 "Accept a message the edge stamped `unscanned` (its scanner failed and "
		 "`scan.on_scanner_failure = accept`). Default: refused with 550 5.7.1."),
	INT_KEY(hub, duplicate_window, 0, 8640000, 432000,
		"Seconds the hub remembers each transaction the internal MTA accepted (the edge's "
		"queue id and body hash from the verified stamp, the signing key, sender and "
		"recipients), so that the edge's retry of one whose `250` it never received (the "
		"SA went down, or it stopped waiting) gets `250 2.0.0 Ok: already delivered (ID), "
		"not delivered again` instead of a second delivery. In memory: a restart of the "
		"hub forgets. The default is `queue.max_lifetime`'s. 0: no such check."),
	INT_KEY(hub, duplicate_memory, 1, 10000000, 100000,
		"Transactions remembered for `hub.duplicate_window` at most (about 40 octets "
		"each); beyond it the oldest are forgotten first."),
	INT_KEY(hub, max_message_size, 1024, 2147483647, 36700160,
		"Largest message in octets the hub accepts (552 5.3.4 over it)."),
	INT_KEY(hub, max_connections, 1, 1000000, 100,
		"Gated connections at once; more get 421 4.7.0."),
	INT_KEY(hub, command_timeout, 1, 3600, 300,
		"Seconds to wait for a command or for data before 421 4.4.2."),
	STR_KEY(hub, user, store_name, NULL,
		"a name of 1 to 63 characters without spaces or control characters",
		"Unprivileged user the hub's `smtp` process runs as. Unset: it keeps the parent's "
		"(root): only for tests."),
	STR_KEY(hub, control_socket, store_abs_path, "/run/airlock/hub.sock",
		"an absolute path of at most 107 bytes",
		"Unix socket of the hub's control interface (`airlockctl status`)."),
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
	CUSTOM_KEY(edge, hubs, "a list of hub groups",
		   "Where accepted mail is forwarded, only through the IPsec SA: a list of "
		   "`{ address = \"192.0.2.2:25\"; priority = 10; connection; child; }` groups "
		   "(relay/forward_hubs.h). address is the hub's inner address; the lowest "
		   "priority (default 10) whose CHILD_SA is up and which is not failing is used; "
		   "connection and child default to `tunnel.connection` / `tunnel.child`. "
		   "Required by `airlock-edge`, with `tunnel.local_address`."),
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
		"Unprivileged user the `smtp`, `scan` and `queue` processes run as. Unset: they "
		"keep "
		"the parent's (root): only for tests."),
	STR_KEY(edge, control_socket, store_abs_path, "/run/airlock/edge.sock",
		"an absolute path of at most 107 bytes",
		"Unix socket of the edge's control interface (`airlockctl queue`, `status`)."),
	STR_KEY(edge, state_dir, store_abs_path, "/var/lib/airlock", "an absolute path",
		"State directory: the scan attestation key (`attest.key`, `attest.pub`), "
		"generated on first start and read again on SIGHUP. The parent creates it, owned "
		"by `edge.user`."),
	BOOL_KEY(scan, enabled, 1,
		 "Scan every message before answering end-of-data (the `scan` process: "
		 "libclamav, attachment policy, transport rules) and stamp clean mail with a "
		 "signed `X-Airlock-Scan:` header, which a hub requires. `airlock-edge` refuses "
		 "to start when `scan.database_dir` holds no signatures. Off: mail is queued "
		 "unscanned and unstamped, and a hub refuses it (tests only)."),
	STR_KEY(scan, database_dir, store_abs_path, "/var/lib/clamav", "an absolute path",
		"ClamAV signature databases (`.cvd`, `.cld`, `.hdb`, `.ndb`...). Reloaded on "
		"SIGHUP and when its files change (checked every 30 s)."),
	INT_KEY(scan, max_scan_size, 1, 2147483647, 419430400,
		"Octets scanned per message, all parts together; more is a limits verdict."),
	INT_KEY(scan, max_file_size, 1, 2147483647, 104857600,
		"Octets of the message or of any part or archive member; more is a limits "
		"verdict."),
	INT_KEY(scan, max_recursion, 1, 1000, 17, "Container nesting depth scanned."),
	INT_KEY(scan, max_files, 1, 1000000, 10000, "Files extracted from containers per message."),
	INT_KEY(scan, max_scan_time, 1, 3600, 60,
		"Seconds one scan may take inside libclamav; more is a limits verdict."),
	BOOL_KEY(scan, heuristic_encrypted_archive, 0,
		 "Report encrypted zip, rar and 7z archives as `Heuristics.Encrypted.*` "
		 "(infected)."),
	BOOL_KEY(scan, heuristic_encrypted_doc, 0,
		 "Report encrypted PDF and Office documents as `Heuristics.Encrypted.*`."),
	BOOL_KEY(scan, heuristic_macros, 0,
		 "Report Office documents with macros as `Heuristics.OLE2.ContainsMacros`."),
	STR_KEY(scan, reload, store_reload, "background", "\"background\" or \"blocking\"",
		"Database reload: `background` compiles the new engine beside the old one "
		"(twice the memory, no pause) and swaps it in; `blocking` frees the old one "
		"first and scans wait."),
	INT_KEY(scan, timeout, 1, 540, 120,
		"Seconds the smtp process waits for a verdict before it answers 451 4.7.1 "
		"(or accepts, per `scan.on_scanner_failure`)."),
	STR_KEY(scan, on_scanner_failure, store_on_failure, "tempfail",
		"\"tempfail\" or \"accept\"",
		"Scanner down, crashed or timed out: `tempfail` (451 4.7.1) or `accept` (queued "
		"with an `X-Airlock-Scan` stamp saying `verdict=unscanned`)."),
	STR_KEY(scan, on_limits, store_on_limits, "reject",
		"\"reject\", \"tempfail\" or \"accept\"",
		"A scan stopped by a limit (size, depth, files, time): `reject` (550 5.7.1), "
		"`tempfail` (451 4.7.1) or `accept` (stamped `verdict=unscanned`)."),
	STR_KEY(scan, on_infected, store_on_infected, "reject", "\"reject\" or \"quarantine\"",
		"A virus found: `reject` (550 5.7.1, nothing kept) or `quarantine` (the client "
		"gets 250 and the message goes to `queue.quarantine_dir`, not delivered)."),
	STR_KEY(scan, result_header, store_field_name, "X-Virus-Status",
		"a header field name of at most 79 characters, not X-Airlock-*, or \"\"",
		"Header field telling the recipient the scan result, e.g. `X-Virus-Status: clean "
		"(ClamAV 1.4.6, db 27000)`, or `unscanned` when the scan did not complete. "
		"Copies arriving with the message are removed first. Empty: no such field."),
	INT_KEY(scan, threads, 0, 64, 0,
		"Scanning threads of the scan process; 0: two per online CPU (at most 64). "
		"A message's libclamav scan and its MIME walk run on two of them at once "
		"when two are free."),
	STR_KEY(scan, temp_dir, store_abs_path, NULL, "an absolute path",
		"Directory for libclamav's temporary files (the decoded parts of the message "
		"being scanned). Unset: a tmpfs private to the scan process, mounted in its own "
		"mount namespace on `STATE_DIR/scan-tmp` and owned by `edge.user`: decoded content "
		"never reaches a disk, no other process sees it, and it vanishes with the process, "
		"crashes included. Without root or mount namespaces the scan process logs "
		"`event=scan-temp-fallback` and uses `$TMPDIR` (else /tmp). The scan process does "
		"not start when it cannot create a directory there (libclamav would answer clean "
		"without scanning what needed its temporary files)."),
	INT_KEY(scan, temp_size, 0, 1048576, 0,
		"Size limit of that private tmpfs in MiB (memory is used only while files are "
		"there); 0: (`scan.max_scan_size` + `scan.max_file_size`) times the scanning "
		"threads. A scan that runs out of room is a scan error, never clean: the message "
		"is deferred (or accepted unscanned, per `scan.on_scanner_failure`)."),
	STR_KEY(policy, attachment_action, store_attach_action, "reject", "\"reject\" or \"strip\"",
		"What the built-in attachment block list does: `reject` the message "
		"(550 5.7.1) or `strip` the part (replaced by a short text part)."),
	BOOL_KEY(policy, attachment_builtin_list, 1,
		 "Use the built-in attachment block list (executables, scripts, installers, "
		 "shortcuts, double extensions such as `invoice.pdf.exe`; see "
		 "policy/attach_policy.h)."),
	CUSTOM_KEY(policy, rules, "a list of rule groups",
		   "Transport rules: an ordered list of `{ name; if = (...); then = (...); "
		   "stop; }` groups (syntax in policy/transport_rules_config.h). The edge "
		   "applies every action: reject, add_header, remove_header, prepend_subject, "
		   "log, redirect (replaces every recipient), bcc (adds one) and quarantine "
		   "(client answered 250, message kept in `queue.quarantine_dir`)."),
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
	INT_KEY(queue, connection_cache_time, 1, 300, 5,
		"Seconds a connection to the next hop stays open after a delivery, for the next "
		"message. Connections over an SA are closed at once when that SA or charon's "
		"VICI session goes away, or when the TUN device they are pinned to is gone."),
	STR_KEY(queue, tls, store_tls_mode, "opportunistic",
		"\"none\", \"opportunistic\" or \"required\"",
		"STARTTLS towards the next hop: never, when offered, or required (else defer)."),
	STR_KEY(queue, quarantine_dir, store_abs_path, NULL, "an absolute path",
		"Quarantine directory: messages held by a transport rule's `quarantine` action "
		"(or `scan.on_infected = \"quarantine\"`), each a spool file whose `hold` line "
		"says why, until `airlockctl quarantine release` or `delete`. Unset: "
		"`quarantine/` in `queue.directory`. Created by the parent, owned by `edge.user`."),
	STR_KEY(log, level, store_log_level, "info",
		"one of \"error\", \"warning\", \"info\", \"debug\"",
		"Lowest severity logged: `error`, `warning`, `info` or `debug`."),
	STR_KEY(log, target, store_log_target, "stderr", "\"stderr\" or \"syslog\"",
		"Where log lines go: `stderr`, or `syslog` (facility mail)."),
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

const char *const config_sections[] = {"edge", "hub", "tunnel", "scan", "policy", "queue", "log"};
const size_t config_nsections = sizeof(config_sections) / sizeof(config_sections[0]);
