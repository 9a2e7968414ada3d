/*
 * Fuzz target: the scan engine wrapper on hostile message bytes.
 *
 * An engine is built once from a tiny database written at start (a body
 * signature for a marker string, found anywhere, and one MD5 signature)
 * with small limits. Each input is
 * scanned from an in-memory file, and must give a well-formed verdict: a
 * known result, name and detail NUL-terminated printable ASCII, name empty
 * exactly when clean, -1 exactly with SCAN_ERROR, never SCAN_CLEAN for
 * bytes that start with the marker, and the same verdict when the same bytes
 * are scanned again. (A marker, not the EICAR string, so that desktop
 * scanners leave the seed corpus alone; "start with", because libclamav
 * matches some types, HTML for one, only after normalising them.) The same input, read as a
 * libclamav return code and signature name, also drives the pure verdict mapping with the same
 * checks.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/scan_engine.h"

#define MARK "AIRLOCK-FUZZ-MARK-5TQ8"

static char dir[64];
static char paths[2][128];
static struct scan_engine *e;

/*
 * libclamav keeps pointers in its own mmap'ed pools, where the leak checker
 * cannot see them: the engine is freed at exit so that nothing looks lost.
 */
static void engine_free_at_exit(void)
{
	scan_engine_free(e);
	e = NULL;
}

static void put(int i, const char *name, const char *text)
{
	snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, name);
	FILE *f = fopen(paths[i], "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static struct scan_engine *engine_new(void)
{
	snprintf(dir, sizeof(dir), "/tmp/airlock-fuzz-scan-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	char ndb[256];
	int n = snprintf(ndb, sizeof(ndb), "Airlock.Fuzz.Mark:0:*:");
	for (const char *p = MARK; *p; p++)
		n += snprintf(ndb + n, sizeof(ndb) - (size_t)n, "%02x", (unsigned char)*p);
	snprintf(ndb + n, sizeof(ndb) - (size_t)n, "\n");
	put(0, "fuzz.ndb", ndb);
	/* MD5 of the 6 bytes "virus\n". */
	put(1, "fuzz.hdb", "4f501d4f9752c0c294123291955d60f5:6:Airlock.Fuzz.HDB\n");
	struct scan_limits l;
	scan_limits_default(&l);
	l.max_scan_size = 4 << 20;
	l.max_file_size = 1 << 20;
	l.max_recursion = 8;
	l.max_files = 100;
	l.max_scan_time_ms = 5000;
	l.heuristic_encrypted_archive = l.heuristic_encrypted_doc = l.heuristic_macros = true;
	char err[256];
	struct scan_engine *eng = scan_engine_new(dir, &l, err, sizeof(err));
	/* Loaded: the files are not needed any more (this target never reloads). */
	for (int i = 0; i < 2; i++)
		unlink(paths[i]);
	rmdir(dir);
	atexit(engine_free_at_exit);
	if (!eng) {
		fprintf(stderr, "fuzz_scan_engine: %s\n", err);
		abort();
	}
	return eng;
}

static void check_text(const char *s, size_t cap, bool spaces)
{
	size_t len = strnlen(s, cap);
	if (len == cap)
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch > 0x7e || (!spaces && ch == ' '))
			abort();
	}
}

static void check_verdict(const struct scan_verdict *v)
{
	if (v->result < SCAN_CLEAN || v->result > SCAN_ERROR)
		abort();
	check_text(v->name, sizeof(v->name), false);
	check_text(v->detail, sizeof(v->detail), true);
	if ((v->result == SCAN_CLEAN) != (v->name[0] == '\0'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!e) {
		log_init("fuzz_scan_engine", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
		e = engine_new();
	}

	/* The mapping: first byte a return code, the rest a name. */
	struct scan_verdict v;
	char name[400];
	size_t nlen = size > 1 ? size - 1 : 0;
	if (nlen >= sizeof(name))
		nlen = sizeof(name) - 1;
	if (nlen)
		memcpy(name, data + 1, nlen);
	name[nlen] = '\0';
	int rc = size ? (int)(int8_t)data[0] : 0;
	memset(&v, 0x7f, sizeof(v));
	scan_verdict_from_cl(rc, size > 1 ? name : NULL, size > 2 && (data[1] & 1), &v);
	check_verdict(&v);
	if (rc == 1 && v.result != SCAN_INFECTED && v.result != SCAN_LIMITS)
		abort();

	/* The scan. */
	if (size > (2 << 20))
		return 0;
	int fd = memfd_create("fuzz-scan", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	memset(&v, 0x7f, sizeof(v));
	int r = scan_engine_scan_fd(e, fd, &v);
	check_verdict(&v);
	if ((r == -1) != (v.result == SCAN_ERROR) || (r != 0 && r != -1))
		abort();
	if (v.result == SCAN_CLEAN && size >= sizeof(MARK) - 1 &&
	    memcmp(data, MARK, sizeof(MARK) - 1) == 0)
		abort();
	/*
	 * Nothing of one scan leaks into the next: the same bytes, the same
	 * verdict. One exception: a limit and a signature both refuse the
	 * message, and which of them libclamav meets first can vary between
	 * scans of the same bytes (a zip holding an over-size member and one
	 * with the mark: limits once, infected the next time, in about half the
	 * runs, with this tree's code before and after the scan path changes).
	 */
	struct scan_verdict again;
	memset(&again, 0x7f, sizeof(again));
	int r2 = scan_engine_scan_fd(e, fd, &again);
	close(fd);
	bool refused = (v.result == SCAN_INFECTED || v.result == SCAN_LIMITS) &&
		       (again.result == SCAN_INFECTED || again.result == SCAN_LIMITS);
	if (r2 != r ||
	    (!refused && (again.result != v.result || strcmp(again.name, v.name) != 0))) {
		fprintf(stderr, "first %d %s (%s), again %d %s (%s)\n", v.result, v.name, v.detail,
			again.result, again.name, again.detail);
		abort();
	}
	return 0;
}
