/*
 * The scan process's directory for libclamav's temporary files (scan.temp_dir):
 * by default a tmpfs private to the process, see edge_scan_temp.c.
 */
#ifndef AIRLOCK_EDGE_SCAN_TEMP_H
#define AIRLOCK_EDGE_SCAN_TEMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/edge/edge.h"

struct edge_scan_temp {
	char dir[1100];	    /* for CL_ENGINE_TMPDIR; "" = libclamav's default */
	bool private_mount; /* dir is this process's own tmpfs */
	uint64_t size;	    /* its size limit, octets */
	char note[1300];    /* why there is no private tmpfs ("" when there is, or not wanted) */
};

/* The tmpfs size: scan.temp_size MiB, or (scan.max_scan_size + scan.max_file_size) x threads. */
uint64_t edge_scan_temp_size(const struct airlock_config *cfg, unsigned threads);

/*
 * Decides and sets up the directory in the calling process: scan.temp_dir
 * when set; else, as root, a new mount namespace with a tmpfs on
 * STATE_DIR/scan-tmp; else (no root, no namespaces) libclamav's default
 * with the reason in t->note.
 */
void edge_scan_temp_prepare(const struct airlock_config *cfg, unsigned threads,
			    struct edge_scan_temp *t);

/* The directory libclamav writes in: t->dir, else $TMPDIR, else /tmp. */
const char *edge_scan_temp_in_use(const struct edge_scan_temp *t);

/*
 * Whether the directory in use (edge_scan_temp_in_use) takes a new directory: libclamav
 * answers clean when it cannot create its own there, so the scan process
 * does not start without it. Returns 0, or -1 with one line in err.
 */
int edge_scan_temp_check(const struct edge_scan_temp *t, char *err, size_t errlen);

/* proc_spec.setup of the scan child (arg: struct edge_ctx): prepares the process's choice. */
int edge_scan_temp_setup(void *arg, char *err, size_t errlen);

/* The choice edge_scan_temp_setup made in this process (zeroed when it did not run). */
const struct edge_scan_temp *edge_scan_temp_chosen(void);

/* scan.threads, or with 0 two threads per online CPU (at most SCAN_POOL_MAX_THREADS). */
unsigned edge_scan_threads(int configured);

#endif
