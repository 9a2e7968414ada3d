/*
 * Internal to the configuration loader (config.c): the files of one load,
 * and the pre-scan that re-reads their text by libconfig 1.5's scanner
 * rules before libconfig parses it. Not an API for other modules; they use
 * config.h.
 *
 * libconfig 1.5 (Debian) has two traps that the pre-scan closes:
 *  - "@include" of a directory, FIFO or unreadable file makes its flex scanner
 *    call exit(2); so every include is opened and read here first;
 *  - integer literals that do not fit in 32 bits wrap silently
 *    (4294967306 reads as 10); so literals are lexed and counted here, and
 *    config.c rejects the setting that holds the first overflowing one.
 * It also reports a string or comment still open at the end, which
 * libconfig drops without a word. It mirrors libconfig's scanner (start
 * conditions, longest match); the fuzz target checks that it counts the
 * same integers.
 */
#ifndef AIRLOCK_CONFIG_SCAN_H
#define AIRLOCK_CONFIG_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_SCAN_MAX_FILE_SIZE (1024 * 1024)
#define CONFIG_SCAN_MAX_INCLUDES  64
#define CONFIG_SCAN_INCLUDE_DEPTH 10 /* libconfig 1.5's MAX_INCLUDE_DEPTH */
/* The characters of a setting name, as libconfig's scanner takes them. */
#define CONFIG_SCAN_NAME_CHARS "-_*0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* One file of a load: src[0] is the top-level text, the others its includes. */
struct config_scan_source {
	char *name; /* as libconfig reports it; NULL for the top-level text */
	char *path; /* as shown in messages */
	char *text; /* NULL if it could not be read */
	bool owned; /* text is ours to free */
	int read_error;
};

/* flex's start condition in libconfig's scanner. */
enum config_scan_state { CONFIG_SCAN_INITIAL, CONFIG_SCAN_COMMENT, CONFIG_SCAN_STRING };

/*
 * One load: its files, what the pre-scan found in them, and where the one
 * error message goes. Set up with config_scan_init; the caller then fills
 * src[0] (nsrc = 1) and include_dir, and frees it with config_scan_free.
 */
struct config_scan {
	const char *include_dir; /* where @include names are resolved; NULL: the working dir */
	struct config_scan_source src[CONFIG_SCAN_MAX_INCLUDES + 1];
	size_t nsrc;
	size_t nincludes;
	enum config_scan_state state; /* shared across files, as in flex */
	size_t open_src;	      /* where the last string or comment started */
	int open_line;
	unsigned long nint;    /* 32-bit integer literals seen */
	unsigned long ovf_int; /* 1-based index of the first that overflowed, or 0 */
	size_t ovf_src;
	int ovf_line;
	char *err;
	size_t errlen;
};

/*
 * Empties *sc and makes err (errlen bytes, may be NULL when errlen is 0) the
 * place for its error message, which starts empty.
 */
void config_scan_init(struct config_scan *sc, char *err, size_t errlen);

/*
 * Frees what the load allocated: the include files, and src[0].text when
 * owned. Not sc itself, nor src[0].path.
 */
void config_scan_free(struct config_scan *sc);

/*
 * Writes the load's one-line error message (control characters, which file
 * names taken from the text may hold, become '?'), truncated to the
 * caller's buffer. Always returns -1.
 */
int config_scan_fail(struct config_scan *sc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Reads the whole regular file at path into a new NUL-terminated string,
 * stored in *out (gets owned by the caller). Anything but a regular file is
 * refused before it is opened: opening a FIFO blocks, opening a device may
 * act. Returns 0, an errno value, or a negative code for a file that is not
 * regular, larger than CONFIG_SCAN_MAX_FILE_SIZE or holds a NUL byte; on
 * failure *out is left alone.
 */
int config_scan_read_file(const char *path, char **out);

/* Short fixed text for a config_scan_read_file() result other than 0. */
const char *config_scan_read_error_text(int code);

/*
 * Pre-scans src[0] and, in place, every file it includes: reads each
 * include (at most CONFIG_SCAN_MAX_INCLUDES, nested at most
 * CONFIG_SCAN_INCLUDE_DEPTH deep) into src[], and counts the integer
 * literals (nint), noting the first that does not fit in 32 bits (ovf_*).
 * Returns 0, or -1 with the error message written: an include that cannot
 * be read or is malformed, too many includes, a string or comment still
 * open at the end.
 */
int config_scan_run(struct config_scan *sc);

#endif
