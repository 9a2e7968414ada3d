/*
 * Where libclamav writes the decoded parts of the message it scans: by
 * default a tmpfs that only the scan process sees. The scan process's set-up
 * (proc_spec.setup, still root, before the user switch) enters a mount
 * namespace of its own, makes every mount in it a slave (nothing it mounts
 * goes back to the host; the host's later mounts still come in), and mounts
 * a size-limited tmpfs on STATE_DIR/scan-tmp owned by edge.user. On the host
 * that directory stays an empty directory; the tmpfs and whatever libclamav
 * left in it disappear with the process, crashes included.
 */
#include "relay/edge/edge_scan_temp.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* The choice of this process (the scan child), read by its main. */
static struct edge_scan_temp chosen;

uint64_t edge_scan_temp_size(const struct airlock_config *cfg, unsigned threads)
{
	if (cfg->scan.temp_size > 0)
		return (uint64_t)cfg->scan.temp_size << 20;
	/* what one scan may extract, plus the largest single file being written */
	uint64_t per_scan = (uint64_t)cfg->scan.max_scan_size + (uint64_t)cfg->scan.max_file_size;
	return per_scan * (threads ? threads : 1);
}

/* No private tmpfs: libclamav's own choice ($TMPDIR, else /tmp), and why in t->note. */
static void fallback(struct edge_scan_temp *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fallback(struct edge_scan_temp *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->note, sizeof(t->note), fmt, ap);
	va_end(ap);
	t->dir[0] = '\0';
	t->private_mount = false;
}

const char *edge_scan_temp_in_use(const struct edge_scan_temp *t)
{
	if (t->dir[0])
		return t->dir;
	const char *env = getenv("TMPDIR");
	return env && env[0] ? env : "/tmp";
}

void edge_scan_temp_prepare(const struct airlock_config *cfg, unsigned threads,
			    struct edge_scan_temp *t)
{
	memset(t, 0, sizeof(*t));
	if (cfg->scan.temp_dir[0]) {
		snprintf(t->dir, sizeof(t->dir), "%s", cfg->scan.temp_dir);
		return;
	}
	if (geteuid() != 0) {
		fallback(t, "not running as root");
		return;
	}
	uid_t uid = 0;
	gid_t gid = 0;
	if (cfg->edge.user[0]) {
		struct passwd *pw = getpwnam(cfg->edge.user);
		if (!pw) {
			fallback(t, "edge.user %s unknown", cfg->edge.user);
			return;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	int n = snprintf(t->dir, sizeof(t->dir), "%s/scan-tmp", cfg->edge.state_dir);
	if (n < 0 || (size_t)n >= sizeof(t->dir)) {
		fallback(t, "%s: path too long", cfg->edge.state_dir);
		return;
	}
	struct stat st;
	if (mkdir(t->dir, 0700) < 0 && errno != EEXIST) {
		fallback(t, "mkdir %s: %s", t->dir, strerror(errno));
		return;
	}
	if (lstat(t->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fallback(t, "%s is not a directory", t->dir);
		return;
	}
	if (unshare(CLONE_NEWNS) < 0) {
		fallback(t, "unshare(CLONE_NEWNS): %s", strerror(errno));
		return;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		fallback(t, "making the mounts slaves: %s", strerror(errno));
		return;
	}
	uint64_t size = edge_scan_temp_size(cfg, threads);
	char opts[128];
	snprintf(opts, sizeof(opts), "size=%" PRIu64 "k,mode=0700,uid=%u,gid=%u",
		 (size + 1023) / 1024, (unsigned)uid, (unsigned)gid);
	if (mount("airlock-scan", t->dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0) {
		fallback(t, "mounting a tmpfs on %s: %s", t->dir, strerror(errno));
		return;
	}
	t->private_mount = true;
	t->size = size;
}

int edge_scan_temp_setup(void *arg, char *err, size_t errlen)
{
	const struct edge_ctx *ctx = arg;
	(void)err;
	(void)errlen;
	edge_scan_temp_prepare(&ctx->cfg, edge_scan_threads(ctx->cfg.scan.threads), &chosen);
	return 0;
}

int edge_scan_temp_check(const struct edge_scan_temp *t, char *err, size_t errlen)
{
	char probe[1200];
	snprintf(probe, sizeof(probe), "%s/airlock-probe.XXXXXX", edge_scan_temp_in_use(t));
	if (!mkdtemp(probe)) {
		snprintf(err, errlen, "libclamav's temporary directory %s is not writable: %s",
			 edge_scan_temp_in_use(t), strerror(errno));
		return -1;
	}
	rmdir(probe);
	return 0;
}

const struct edge_scan_temp *edge_scan_temp_chosen(void)
{
	return &chosen;
}
