/*
 * The libclamav engine of the scan process: one compiled engine shared by
 * many scanning threads, explicit limits, and reload without a gap.
 *
 * A verdict is never SCAN_CLEAN unless cl_scandesc() completed with CL_CLEAN.
 * libclamav itself reports CL_CLEAN when it skipped content because of a
 * limit (a part too big, too deeply nested, too many files, out of time), so
 * CL_SCAN_HEURISTIC_EXCEEDS_MAX is always on and its alerts
 * ("Heuristics.Limits.Exceeded.*") become SCAN_LIMITS, as do the CL_EMAX*
 * and CL_ETIMEOUT codes; a member of a zip larger than max_file_size, which
 * libclamav would silently truncate, is caught by an archive metadata
 * callback and also becomes SCAN_LIMITS. What to do with SCAN_LIMITS
 * (reject, tempfail, accept unscanned) is the caller's configured action.
 *
 * Threading: scan_engine_scan_fd() may be called from any number of threads
 * at once. Each scan takes a reference on the compiled engine current when it
 * starts; a reload compiles a new engine and swaps it in under a mutex, and
 * the old one is freed when its last scan ends. Every other function may be
 * called from any thread too; scan_engine_free() must be the last call.
 */
#ifndef AIRLOCK_SCAN_ENGINE_H
#define AIRLOCK_SCAN_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Engine limits and optional heuristics. 0 is not "unlimited": every limit
 * must be positive (scan_engine_new() refuses 0). scan_limits_default()
 * gives libclamav 1.4's defaults.
 */
struct scan_limits {
	uint64_t max_scan_size;		  /* bytes scanned per message, all parts together */
	uint64_t max_file_size;		  /* bytes of the message and of any part or member */
	unsigned max_recursion;		  /* container nesting depth */
	unsigned max_files;		  /* files extracted from containers, per message */
	unsigned max_scan_time_ms;	  /* wall time of one scan */
	bool heuristic_encrypted_archive; /* "Heuristics.Encrypted.*" for zip, rar, 7z */
	bool heuristic_encrypted_doc;	  /* "Heuristics.Encrypted.*" for pdf, office */
	bool heuristic_macros;		  /* "Heuristics.OLE2.ContainsMacros" */
	const char *tmp_dir; /* libclamav's temporary files; NULL: its default. Copied. */
};

enum scan_result {
	SCAN_CLEAN = 0, /* completed with CL_CLEAN, nothing skipped */
	SCAN_INFECTED,	/* a signature or heuristic matched: name says which */
	SCAN_LIMITS,	/* a limit stopped the scan: name says which */
	SCAN_ERROR,	/* the scan did not complete; never treat as clean */
};

#define SCAN_NAME_MAX 256

/*
 * A verdict. name and detail are NUL-terminated printable ASCII (anything
 * else becomes '?'; a space too, in name). name:
 *   SCAN_INFECTED  the signature as libclamav reports it, e.g.
 *                  "Airlock.Test.clam.exe.UNOFFICIAL", "Heuristics.Encrypted.Zip";
 *   SCAN_LIMITS    "max_scan_size", "max_file_size", "max_recursion", "max_files",
 *                  "max_scan_time" (the config key), or "limits" if libclamav did
 *                  not say which;
 *   SCAN_ERROR     "error";
 *   SCAN_CLEAN     "".
 * detail: libclamav's alert name or error text, for the log ("" if none).
 */
struct scan_verdict {
	enum scan_result result;
	char name[SCAN_NAME_MAX];
	char detail[SCAN_NAME_MAX];
};

struct scan_engine_info {
	char engine_version[32]; /* cl_retver(), e.g. "1.4.6" */
	unsigned db_version;	 /* daily (else main) .cvd/.cld version; 0 for local dbs only */
	int64_t db_time;	 /* unix s: that cvd's build time, else newest db file mtime */
	unsigned signatures;	 /* signatures in the current engine */
	int64_t loaded_at;	 /* unix s the current engine was compiled */
	int64_t last_reload;	 /* unix s of the last successful reload; 0: none yet */
	unsigned reloads, reload_failures;
	bool reloading;			/* a background reload is running */
	char last_error[SCAN_NAME_MAX]; /* of the last failed reload; "" if none */
};

/* Fills l with libclamav 1.4's defaults: 400 MiB, 100 MiB, 17, 10000, 120 s, no heuristics. */
void scan_limits_default(struct scan_limits *l);

/*
 * Loads every database in db_dir and compiles an engine (blocking; seconds
 * for the official databases). db_dir and l are copied. A directory with no
 * signature at all is an error (scanning with it would call everything
 * clean). Returns NULL with a one-line reason in err (errlen bytes,
 * NUL-terminated) on failure.
 */
struct scan_engine *scan_engine_new(const char *db_dir, const struct scan_limits *l, char *err,
				    size_t errlen);

/*
 * Frees the engine. Waits for a background reload to finish first. No scan
 * may be running or start. NULL is ignored.
 */
void scan_engine_free(struct scan_engine *e);

/*
 * Scans the regular file open on fd (read access is enough; the file offset
 * is not used). Fills out and returns 0 when the scan produced a verdict
 * (clean, infected or limits); returns -1 with out->result SCAN_ERROR when
 * it did not (unreadable fd, libclamav error, no engine after a failed
 * blocking reload). Thread-safe.
 */
int scan_engine_scan_fd(struct scan_engine *e, int fd, struct scan_verdict *out);

/*
 * Same, on the octets [offset, offset + len) of the regular file open on fd
 * (a spool file's content after its envelope), as if they were a file of
 * their own: libclamav reads them with pread through a map of the range, no
 * copy is made, and fd's offset is not used. A range outside the file is
 * SCAN_ERROR. Thread-safe.
 */
int scan_engine_scan_range(struct scan_engine *e, int fd, uint64_t offset, uint64_t len,
			   struct scan_verdict *out);

/* Fills out with the current engine's versions and the reload history. */
void scan_engine_info(struct scan_engine *e, struct scan_engine_info *out);

/*
 * Reloads the databases of db_dir.
 *
 * blocking false: a background thread loads and compiles a new engine and
 * swaps it in; scans keep running on the old engine meanwhile (the memory
 * of two engines is needed for that time) and those in flight finish on it.
 * On failure the old engine stays. done (may be NULL) is called once on
 * the reload thread with ok 1, or ok 0 and a reason; it must be thread-safe.
 *
 * blocking true: waits for scans in flight, frees the current engine, then
 * loads and compiles the new one in the calling thread (no double memory);
 * scans starting meanwhile wait for it. On failure there is no engine and
 * every scan returns SCAN_ERROR until a reload succeeds. done is called
 * before the function returns.
 *
 * done must not call scan_engine_reload() or scan_engine_free().
 *
 * Returns 0 if the reload was started (background) or done (blocking;
 * whether it succeeded is told to done), 1 if a reload is already running
 * (done is not called), -1 if the thread could not be started.
 */
int scan_engine_reload(struct scan_engine *e, bool blocking,
		       void (*done)(void *arg, int ok, const char *err), void *arg);

/*
 * True when the files of db_dir (names, sizes, mtimes, inodes; dot-files and
 * subdirectories ignored) differ from what they were when the current engine
 * started loading, or the directory cannot be read. For a watcher that
 * reloads on change.
 */
bool scan_engine_db_changed(struct scan_engine *e);

/*
 * Whether a libclamav message says it could not create or write a temporary
 * file or directory (a full or unwritable temporary directory), after which
 * libclamav goes on and may answer clean without having scanned what needed
 * the file. Messages about malformed content are not such failures.
 */
bool scan_engine_temp_failure(const char *msg);

/*
 * Pure: a verdict from libclamav's return code rc, its virname (may be NULL),
 * and whether the metadata callback saw a member over max_file_size
 * (member_too_big; the callback then raised an alert, which libclamav names
 * "Detected.By.Callback", so that the message stays out of its clean cache).
 * Exposed for tests and the fuzz target.
 */
void scan_verdict_from_cl(int rc, const char *virname, bool member_too_big,
			  struct scan_verdict *out);

/*
 * Start-up check that db_dir holds a usable ClamAV database: counts its
 * signatures (cl_countsigs) without compiling an engine. Returns 0 with the
 * count in *sigs (may be NULL), or -1 with a one-line reason in err (no
 * such directory, unreadable, or no signatures at all).
 */
int scan_db_check(const char *db_dir, unsigned *sigs, char *err, size_t errlen);

/*
 * A fingerprint of db_dir's regular files (names, sizes, mtimes, inodes),
 * independent of directory order. Returns 0, or -1 if it cannot be read.
 */
int scan_db_fingerprint(const char *db_dir, uint64_t *out);

#endif
