/*
 * airlockctl: status and health of the tunnel (and, later, of the daemons).
 */
#include "tunnel/airlockctl/ctl.h"

#include "common/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTL_DEFAULT_CONFIG CONFIG_DEFAULT_PATH

static void usage(FILE *out)
{
	fprintf(out, "usage: airlockctl [-c FILE] [-s URI] COMMAND [options]\n"
		     "\n"
		     "commands:\n"
		     "  status [--json] [--watch [--interval N]]\n"
		     "        SAs, connections and certificates of the local charon, and the\n"
		     "        local edge or hub daemon (counters, queue, gate)\n"
		     "  check [--warn-days N]\n"
		     "        one line and exit 0 OK, 1 WARNING, 2 CRITICAL (monitoring plugin)\n"
		     "  queue [--json]\n"
		     "        messages in the edge's queue, with the reason of each deferral\n"
		     "  quarantine list | show ID | release ID | delete ID [--json]\n"
		     "        messages held by a quarantine rule: list them, show one's envelope\n"
		     "        and headers, release one for delivery, or delete it\n"
		     "\n"
		     "options:\n"
		     "  -c FILE   configuration (default " CTL_DEFAULT_CONFIG ", if it exists)\n"
		     "  -s URI    VICI socket, overrides tunnel.vici (e.g. "
		     "unix:///var/run/charon.vici)\n"
		     "  -h        this help\n");
}

void ctl_check_params(const struct ctl_opts *o, struct tunnel_check_params *p)
{
	p->connection = o->cfg.tunnel.connection;
	p->child = o->cfg.tunnel.child;
	p->local_address = o->cfg.tunnel.local_address;
	p->remote_address = o->cfg.tunnel.remote_address;
	p->cert_warn_days = o->warn_days >= 0 ? o->warn_days : o->cfg.tunnel.cert_warn_days;
}

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

int main(int argc, char **argv)
{
	struct ctl_opts o = {.interval_s = 2, .warn_days = -1};
	const char *socket_uri = NULL;
	int opt;

	log_init("airlockctl", LOG_LEVEL_WARNING, LOG_TARGET_STDERR);
	config_defaults(&o.cfg);
	while ((opt = getopt(argc, argv, "+c:s:h")) != -1) {
		switch (opt) {
		case 'c':
			o.config_path = optarg;
			break;
		case 's':
			socket_uri = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 3;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 3;
	}
	const char *cmd = argv[optind];

	const char *path = o.config_path;
	if (!path && access(CTL_DEFAULT_CONFIG, F_OK) == 0)
		path = CTL_DEFAULT_CONFIG;
	if (path) {
		char err[512];
		if (config_load_file(path, &o.cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "airlockctl: %s\n", err);
			return 3;
		}
	}
	if (socket_uri) {
		if (strlen(socket_uri) >= sizeof(o.cfg.tunnel.vici)) {
			fprintf(stderr, "airlockctl: -s: URI too long\n");
			return 3;
		}
		snprintf(o.cfg.tunnel.vici, sizeof(o.cfg.tunnel.vici), "%s", socket_uri);
	}

	static const struct option long_opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"watch", no_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'i'},
		{"warn-days", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	optind++;
	int sub_argc = argc - optind + 1;
	char **sub_argv = argv + optind - 1;
	optind = 0; /* 0, not 1: glibc starts over (and permutes) only then */
	while ((opt = getopt_long(sub_argc, sub_argv, "h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			o.json = 1;
			break;
		case 'w':
			o.watch = 1;
			break;
		case 'i':
			if (parse_int(optarg, 1, 3600, &o.interval_s) < 0) {
				fprintf(stderr,
					"airlockctl: --interval: expected 1..3600 seconds\n");
				return 3;
			}
			break;
		case 'd':
			if (parse_int(optarg, 0, 3650, &o.warn_days) < 0) {
				fprintf(stderr, "airlockctl: --warn-days: expected 0..3650\n");
				return 3;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 3;
		}
	}
	if (strcmp(cmd, "quarantine") == 0) {
		if (o.watch) {
			fprintf(stderr, "airlockctl: quarantine takes only --json\n");
			return 3;
		}
		return ctl_cmd_quarantine(&o, sub_argc - optind, sub_argv + optind);
	}
	if (optind < sub_argc) {
		fprintf(stderr, "airlockctl: %s: unexpected argument '%s'\n", cmd,
			sub_argv[optind]);
		return 3;
	}

	if (strcmp(cmd, "status") == 0)
		return ctl_cmd_status(&o);
	if (strcmp(cmd, "queue") == 0) {
		if (o.watch) {
			fprintf(stderr, "airlockctl: queue takes only --json\n");
			return 3;
		}
		return ctl_cmd_queue(&o);
	}
	if (strcmp(cmd, "check") == 0) {
		if (o.json || o.watch) {
			fprintf(stderr, "airlockctl: check takes only --warn-days\n");
			return 3;
		}
		return ctl_cmd_check(&o);
	}
	fprintf(stderr, "airlockctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 3;
}
