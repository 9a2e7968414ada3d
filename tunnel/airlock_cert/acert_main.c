/*
 * airlock-cert: pairing and certificate rotation between airlock's hub and
 * edges (init, bundle, enroll, sign, rotate, status). Options may follow
 * or precede the command.
 */
#include "tunnel/airlock_cert/acert_cmd.h"

#include "common/config.h"
#include "common/log.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: airlock-cert [-c FILE] [options] COMMAND [ARG]\n"
		"\n"
		"commands:\n"
		"  init --id ID --local-ts CIDR --remote-ts CIDR [--local-addr ADDR]\n"
		"        hub: private CA, hub key and certificate, swanctl/strongswan/airlock\n"
		"        fragments; loads them into charon\n"
		"  bundle EDGE-ID --edge-ts CIDR [--hub-address ADDR]... [--hub-id ID]\n"
		"        [--lifetime HOURS] [-o FILE] [--passphrase-file FILE] [--backdate HOURS]\n"
		"        hub: sealed enrollment bundle for an edge; prints the passphrase once\n"
		"  enroll BUNDLE [--passphrase-file FILE] [--dry-run]\n"
		"        edge: check, install, load over VICI, bring the CHILD_SA up\n"
		"  sign CSR [-o FILE]\n"
		"        hub: issue an edge's new certificate (admin path of rotation)\n"
		"  issue ID --key-out FILE -o FILE\n"
		"        hub: a key and certificate for an identity from the CA (no bundle)\n"
		"  rotate [--if-expiring-within DAYS] [--csr-out FILE | --install-cert FILE] "
		"[--no-hub]\n"
		"        new key and certificate, make-before-break, verify, roll back on failure\n"
		"  serve [--port N] [--device DEV | --xfrm] [--max-requests N]\n"
		"        hub: sign edges' CSRs arriving through the tunnel, for the IKE identity\n"
		"        charon authenticated (the automatic path of an edge's rotate)\n"
		"  status\n"
		"        every certificate: subject, serial, issuer, days left, charon has key\n"
		"\n"
		"paths (defaults in parentheses):\n"
		"  --swanctl-dir DIR (/etc/swanctl)   --conn-file FILE (DIR/conf.d/airlock.conf)\n"
		"  --strongswan-conf FILE (/etc/strongswan.d/airlock.conf)\n"
		"  --airlock-conf FILE (/etc/airlock/airlock-cert.conf)\n"
		"  --state-dir DIR (/var/lib/airlock)  --ca-dir DIR (STATE/ca)\n"
		"  --trusted-dir DIR (/var/lib/airlock/trusted-edges)\n"
		"  --vici URI (tunnel.vici of -c FILE, else unix:///var/run/charon.vici)\n"
		"  --no-vici  write files only     --timeout SECONDS (30)\n"
		"  --days N   certificate lifetime (365)   --force   replace existing files\n");
}

enum {
	O_SWANCTL = 256,
	O_CONN,
	O_STRONGSWAN,
	O_AIRLOCK,
	O_STATE,
	O_CA,
	O_TRUSTED,
	O_VICI,
	O_NO_VICI,
	O_TIMEOUT,
	O_ID,
	O_LOCAL_ADDR,
	O_LOCAL_TS,
	O_REMOTE_TS,
	O_HUB_ID,
	O_HUB_ADDR,
	O_EDGE_ADDR,
	O_EDGE_TS,
	O_DPD,
	O_NO_ENCAP,
	O_DAYS,
	O_LIFETIME,
	O_BACKDATE,
	O_PASSFILE,
	O_CSR_OUT,
	O_KEY_OUT,
	O_PORT,
	O_DEVICE,
	O_XFRM,
	O_MAX_REQ,
	O_NO_HUB,
	O_INSTALL,
	O_EXPIRING,
	O_DRY_RUN,
	O_FORCE,
};

static const struct option longopts[] = {
	{"swanctl-dir", required_argument, NULL, O_SWANCTL},
	{"conn-file", required_argument, NULL, O_CONN},
	{"strongswan-conf", required_argument, NULL, O_STRONGSWAN},
	{"airlock-conf", required_argument, NULL, O_AIRLOCK},
	{"state-dir", required_argument, NULL, O_STATE},
	{"ca-dir", required_argument, NULL, O_CA},
	{"trusted-dir", required_argument, NULL, O_TRUSTED},
	{"vici", required_argument, NULL, O_VICI},
	{"no-vici", no_argument, NULL, O_NO_VICI},
	{"timeout", required_argument, NULL, O_TIMEOUT},
	{"id", required_argument, NULL, O_ID},
	{"local-addr", required_argument, NULL, O_LOCAL_ADDR},
	{"local-ts", required_argument, NULL, O_LOCAL_TS},
	{"remote-ts", required_argument, NULL, O_REMOTE_TS},
	{"hub-id", required_argument, NULL, O_HUB_ID},
	{"hub-address", required_argument, NULL, O_HUB_ADDR},
	{"edge-addr", required_argument, NULL, O_EDGE_ADDR},
	{"edge-ts", required_argument, NULL, O_EDGE_TS},
	{"dpd-delay", required_argument, NULL, O_DPD},
	{"no-encap", no_argument, NULL, O_NO_ENCAP},
	{"days", required_argument, NULL, O_DAYS},
	{"lifetime", required_argument, NULL, O_LIFETIME},
	{"backdate", required_argument, NULL, O_BACKDATE},
	{"passphrase-file", required_argument, NULL, O_PASSFILE},
	{"csr-out", required_argument, NULL, O_CSR_OUT},
	{"key-out", required_argument, NULL, O_KEY_OUT},
	{"port", required_argument, NULL, O_PORT},
	{"device", required_argument, NULL, O_DEVICE},
	{"xfrm", no_argument, NULL, O_XFRM},
	{"max-requests", required_argument, NULL, O_MAX_REQ},
	{"no-hub", no_argument, NULL, O_NO_HUB},
	{"install-cert", required_argument, NULL, O_INSTALL},
	{"if-expiring-within", required_argument, NULL, O_EXPIRING},
	{"dry-run", no_argument, NULL, O_DRY_RUN},
	{"force", no_argument, NULL, O_FORCE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int parse_int(const char *text, int min, int max, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || *end || end == text || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int set(char *dst, size_t len, const char *val, const char *what, int is_path)
{
	if (strlen(val) >= len ||
	    (is_path && (!acert_path_valid(val) || strlen(val) > ACERT_PATH_OPT_MAX))) {
		fprintf(stderr, "airlock-cert: %s: bad value '%.100s'%s\n", what, val,
			is_path ? " (an absolute path without quotes or control characters)" : "");
		return -1;
	}
	snprintf(dst, len, "%s", val);
	return 0;
}

static int append(char *dst, size_t len, const char *val)
{
	size_t used = strlen(dst);
	if (used + strlen(val) + 2 > len) {
		fprintf(stderr, "airlock-cert: too many --hub-address values\n");
		return -1;
	}
	snprintf(dst + used, len - used, "%s%s", used ? "," : "", val);
	return 0;
}

int main(int argc, char **argv)
{
	struct acert_opts o;
	const char *config = NULL, *positional[2] = {NULL, NULL};
	int npos = 0, opt, bad = 0, vici_set = 0;

	log_init("airlock-cert", LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	if (sodium_init() < 0) {
		fprintf(stderr, "airlock-cert: libsodium failed to start\n");
		return 1;
	}
	acert_opts_defaults(&o);
	while ((opt = getopt_long(argc, argv, "-c:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 1:
			if (npos < 2)
				positional[npos] = optarg;
			npos++;
			break;
		case 'c':
			config = optarg;
			break;
		case 'o':
			o.out_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case O_SWANCTL:
			bad |= set(o.swanctl_dir, sizeof(o.swanctl_dir), optarg, "--swanctl-dir",
				   1);
			break;
		case O_CONN:
			bad |= set(o.conn_file, sizeof(o.conn_file), optarg, "--conn-file", 1);
			break;
		case O_STRONGSWAN:
			bad |= set(o.strongswan_conf, sizeof(o.strongswan_conf), optarg,
				   "--strongswan-conf", 1);
			break;
		case O_AIRLOCK:
			bad |= set(o.airlock_conf, sizeof(o.airlock_conf), optarg, "--airlock-conf",
				   1);
			break;
		case O_STATE:
			bad |= set(o.state_dir, sizeof(o.state_dir), optarg, "--state-dir", 1);
			break;
		case O_CA:
			bad |= set(o.ca_dir, sizeof(o.ca_dir), optarg, "--ca-dir", 1);
			break;
		case O_TRUSTED:
			bad |= set(o.trusted_dir, sizeof(o.trusted_dir), optarg, "--trusted-dir",
				   1);
			break;
		case O_VICI:
			bad |= set(o.vici, sizeof(o.vici), optarg, "--vici", 0);
			vici_set = 1;
			break;
		case O_NO_VICI:
			o.no_vici = 1;
			break;
		case O_TIMEOUT:
			bad |= parse_int(optarg, 1, 600, &o.timeout_s);
			break;
		case O_ID:
			bad |= set(o.id, sizeof(o.id), optarg, "--id", 0);
			break;
		case O_LOCAL_ADDR:
			bad |= set(o.local_addr, sizeof(o.local_addr), optarg, "--local-addr", 0);
			break;
		case O_LOCAL_TS:
			bad |= set(o.local_ts, sizeof(o.local_ts), optarg, "--local-ts", 0);
			break;
		case O_REMOTE_TS:
			bad |= set(o.remote_ts, sizeof(o.remote_ts), optarg, "--remote-ts", 0);
			break;
		case O_HUB_ID:
			bad |= set(o.hub_id, sizeof(o.hub_id), optarg, "--hub-id", 0);
			break;
		case O_HUB_ADDR:
			bad |= append(o.hub_addrs, sizeof(o.hub_addrs), optarg);
			break;
		case O_EDGE_ADDR:
			bad |= set(o.edge_addr, sizeof(o.edge_addr), optarg, "--edge-addr", 0);
			break;
		case O_EDGE_TS:
			bad |= set(o.edge_ts, sizeof(o.edge_ts), optarg, "--edge-ts", 0);
			break;
		case O_DPD:
			bad |= set(o.dpd_delay, sizeof(o.dpd_delay), optarg, "--dpd-delay", 0);
			break;
		case O_NO_ENCAP:
			o.no_encap = 1;
			break;
		case O_DAYS:
			bad |= parse_int(optarg, 1, 3650, &o.days);
			break;
		case O_LIFETIME:
			bad |= parse_int(optarg, 1, 720, &o.lifetime_h);
			break;
		case O_BACKDATE:
			bad |= parse_int(optarg, 0, 720, &o.backdate_h);
			break;
		case O_PASSFILE:
			o.passphrase_file = optarg;
			break;
		case O_CSR_OUT:
			o.csr_out = optarg;
			break;
		case O_PORT:
			bad |= parse_int(optarg, 1, 65535, &o.serve_port);
			break;
		case O_DEVICE:
			bad |= set(o.device, sizeof(o.device), optarg, "--device", 0);
			break;
		case O_XFRM:
			o.xfrm = 1;
			break;
		case O_MAX_REQ:
			bad |= parse_int(optarg, 0, 1000000, &o.max_requests);
			break;
		case O_NO_HUB:
			o.no_hub = 1;
			break;
		case O_KEY_OUT:
			o.key_out = optarg;
			break;
		case O_INSTALL:
			o.install_cert = optarg;
			break;
		case O_EXPIRING:
			bad |= parse_int(optarg, 0, 3650, &o.if_expiring_days);
			break;
		case O_DRY_RUN:
			o.dry_run = 1;
			break;
		case O_FORCE:
			o.force = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (bad) {
		fprintf(stderr, "airlock-cert: bad option value (see airlock-cert --help)\n");
		return 2;
	}
	if (npos < 1 || npos > 2) {
		usage(stderr);
		return 2;
	}
	if (config && !vici_set) {
		struct airlock_config cfg;
		char err[512];
		if (config_load_file(config, &cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "airlock-cert: %s\n", err);
			return 1;
		}
		snprintf(o.vici, sizeof(o.vici), "%s", cfg.tunnel.vici);
		config_release(&cfg);
	}
	acert_opts_finish(&o);
	const char *cmd = positional[0];
	o.arg = positional[1];
	static const struct {
		const char *name;
		int (*run)(struct acert_opts *);
		int takes_arg;
	} cmds[] = {
		{"init", acert_cmd_init, 0},	 {"bundle", acert_cmd_bundle, 1},
		{"enroll", acert_cmd_enroll, 1}, {"sign", acert_cmd_sign, 1},
		{"issue", acert_cmd_issue, 1},	 {"rotate", acert_cmd_rotate, 0},
		{"status", acert_cmd_status, 0}, {"serve", acert_cmd_serve, 0},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name) != 0)
			continue;
		if (!cmds[i].takes_arg && o.arg) {
			fprintf(stderr, "airlock-cert: %s takes no argument\n", cmd);
			return 2;
		}
		return cmds[i].run(&o);
	}
	fprintf(stderr, "airlock-cert: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
