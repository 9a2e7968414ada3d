/*
 * The libclamav engine: building a compiled engine with explicit limits,
 * scanning with a reference on it, and turning libclamav's answers into
 * verdicts. Reloading lives in scan_engine_reload.c.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <clamav.h>

#include "common/log.h"
#include "relay/scan_engine.h"
#include "relay/scan_engine_priv.h"

static pthread_once_t cl_once = PTHREAD_ONCE_INIT;
static cl_error_t cl_init_rc = CL_ERROR;

bool scan_engine_temp_failure(const char *msg)
{
	char low[512];
	size_t n = 0;
	for (; msg[n] && n + 1 < sizeof(low); n++)
		low[n] = (char)tolower((unsigned char)msg[n]);
	low[n] = '\0';
	if (!strstr(low, "temp") && !strstr(low, "tmp"))
		return false;
	if (strstr(low, "instead")) /* "... Using a randomly generated name instead." */
		return false;
	static const char *const failed[] = {"can't create",	   "can't generate", "can't write",
					     "failed to generate", "error writing",  "can't mmap"};
	for (size_t i = 0; i < sizeof(failed) / sizeof(failed[0]); i++)
		if (strstr(low, failed[i]))
			return true;
	return false;
}

/* The scan running in this thread, for libclamav's messages without a context. */
static _Thread_local struct scan_ctx *current_scan;

/* libclamav's own messages are mostly about malformed (untrusted) input: never above warning. */
static void clamav_msg(enum cl_msg severity, const char *fullmsg, const char *msg, void *context)
{
	(void)fullmsg;
	char text[512], q[600];
	snprintf(text, sizeof(text), "%s", msg ? msg : "");
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = '\0';
	/*
	 * During a scan, context is that scan's struct scan_ctx; libclamav's
	 * messages from before it set its context up come with NULL, and scans
	 * run in the calling thread: this thread's current scan.
	 */
	struct scan_ctx *ctx = context ? context : current_scan;
	if (severity == CL_MSG_ERROR && ctx && !ctx->error[0] && scan_engine_temp_failure(text))
		snprintf(ctx->error, sizeof(ctx->error), "libclamav: %s", text);
	enum log_level level = severity == CL_MSG_ERROR	 ? LOG_LEVEL_WARNING
			       : severity == CL_MSG_WARN ? LOG_LEVEL_INFO
							 : LOG_LEVEL_DEBUG;
	log_msg(level, "event=clamav-msg msg=%s", log_quote(q, sizeof(q), text));
}

static void clamav_init_once(void)
{
	cl_set_clcb_msg(clamav_msg);
	cl_init_rc = cl_init(CL_INIT_DEFAULT);
}

void scan_limits_default(struct scan_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_scan_size = 400ull * 1024 * 1024;
	l->max_file_size = 100ull * 1024 * 1024;
	l->max_recursion = 17;
	l->max_files = 10000;
	l->max_scan_time_ms = 120000;
}

static int limits_check(const struct scan_limits *l, char *err, size_t errlen)
{
	const char *bad = NULL;
	if (l->max_scan_size == 0 || l->max_scan_size > LLONG_MAX)
		bad = "max_scan_size";
	else if (l->max_file_size == 0 || l->max_file_size > LLONG_MAX)
		bad = "max_file_size";
	else if (l->max_recursion == 0)
		bad = "max_recursion";
	else if (l->max_files == 0)
		bad = "max_files";
	else if (l->max_scan_time_ms == 0)
		bad = "max_scan_time";
	if (bad)
		snprintf(err, errlen, "%s must be between 1 and %lld", bad, LLONG_MAX);
	return bad ? -1 : 0;
}

/*
 * Called by libclamav for each member of an archive it lists (zip among
 * them). A member bigger than max_file_size is truncated by libclamav
 * without any alert, so it is noted here and the verdict becomes limits.
 */
static cl_error_t meta_cb(const char *container_type, unsigned long fsize_container,
			  const char *filename, unsigned long fsize_real, int is_encrypted,
			  unsigned int filepos_container, void *context)
{
	(void)container_type;
	(void)fsize_container;
	(void)filename;
	(void)is_encrypted;
	(void)filepos_container;
	struct scan_ctx *ctx = context;
	if (!ctx || (uint64_t)fsize_real <= ctx->max_file_size)
		return CL_CLEAN;
	/*
	 * An alert, not just a note: a scan libclamav finishes with CL_CLEAN goes
	 * into its clean cache, and the same bytes would then pass unscanned.
	 */
	ctx->member_too_big = true;
	return CL_VIRUS;
}

/*
 * Called by libclamav for each alert. cl_scandesc() does not always return
 * the name with CL_VIRUS (a top-level file over max_file_size comes back
 * nameless), so the first name is kept here as a fallback.
 */
static void virus_found_cb(int fd, const char *virname, void *context)
{
	(void)fd;
	struct scan_ctx *ctx = context;
	if (ctx && virname && !ctx->found[0])
		snprintf(ctx->found, sizeof(ctx->found), "%s", virname);
}

static int64_t newest_mtime(const char *dir)
{
	int64_t newest = 0;
	scan_db_walk(dir, NULL, &newest);
	return newest;
}

struct scan_compiled *scan_compiled_new(const char *db_dir, const struct scan_limits *l, char *err,
					size_t errlen)
{
	struct cl_engine *cl = cl_engine_new();
	if (!cl) {
		snprintf(err, errlen, "cl_engine_new failed");
		return NULL;
	}
	struct {
		enum cl_engine_field field;
		long long value;
	} nums[] = {
		{CL_ENGINE_MAX_SCANSIZE, (long long)l->max_scan_size},
		{CL_ENGINE_MAX_FILESIZE, (long long)l->max_file_size},
		{CL_ENGINE_MAX_RECURSION, l->max_recursion},
		{CL_ENGINE_MAX_FILES, l->max_files},
		{CL_ENGINE_MAX_SCANTIME, l->max_scan_time_ms},
	};
	cl_error_t rc = CL_SUCCESS;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]) && rc == CL_SUCCESS; i++)
		rc = cl_engine_set_num(cl, nums[i].field, nums[i].value);
	if (rc == CL_SUCCESS && l->tmp_dir)
		rc = cl_engine_set_str(cl, CL_ENGINE_TMPDIR, l->tmp_dir);
	if (rc != CL_SUCCESS) {
		snprintf(err, errlen, "setting engine limits: %s", cl_strerror(rc));
		goto fail;
	}
	cl_engine_set_clcb_meta(cl, meta_cb);
	cl_engine_set_clcb_virus_found(cl, virus_found_cb);
	unsigned sigs = 0;
	rc = cl_load(db_dir, cl, &sigs, CL_DB_STDOPT);
	if (rc != CL_SUCCESS) {
		snprintf(err, errlen, "loading %s: %s", db_dir, cl_strerror(rc));
		goto fail;
	}
	if (sigs == 0) {
		snprintf(err, errlen, "loading %s: no signatures found", db_dir);
		goto fail;
	}
	rc = cl_engine_compile(cl);
	if (rc != CL_SUCCESS) {
		snprintf(err, errlen, "compiling %s: %s", db_dir, cl_strerror(rc));
		goto fail;
	}
	struct scan_compiled *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	c->cl = cl;
	c->refs = 1;
	c->signatures = sigs;
	int gerr = 0;
	long long v = cl_engine_get_num(cl, CL_ENGINE_DB_VERSION, &gerr);
	c->db_version = gerr == 0 && v > 0 && v <= UINT_MAX ? (unsigned)v : 0;
	long long t = cl_engine_get_num(cl, CL_ENGINE_DB_TIME, &gerr);
	c->db_time = c->db_version && gerr == 0 && t > 0 ? t : newest_mtime(db_dir);
	c->loaded_at = time(NULL);
	return c;
fail:
	cl_engine_free(cl);
	return NULL;
}

void scan_compiled_free(struct scan_compiled *c)
{
	if (!c)
		return;
	cl_engine_free(c->cl);
	free(c);
}

int scan_db_check(const char *db_dir, unsigned *sigs, char *err, size_t errlen)
{
	unsigned n = 0;
	struct stat st;
	if (stat(db_dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s", db_dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", db_dir);
		return -1;
	}
	pthread_once(&cl_once, clamav_init_once);
	if (cl_init_rc != CL_SUCCESS) {
		snprintf(err, errlen, "cl_init: %s", cl_strerror(cl_init_rc));
		return -1;
	}
	cl_error_t rc = cl_countsigs(db_dir, CL_COUNTSIGS_ALL, &n);
	if (rc != CL_SUCCESS) {
		snprintf(err, errlen, "%s: no ClamAV database readable here (%s)", db_dir,
			 cl_strerror(rc));
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s holds no ClamAV signatures", db_dir);
		return -1;
	}
	if (sigs)
		*sigs = n;
	return 0;
}

struct scan_engine *scan_engine_new(const char *db_dir, const struct scan_limits *l, char *err,
				    size_t errlen)
{
	pthread_once(&cl_once, clamav_init_once);
	if (cl_init_rc != CL_SUCCESS) {
		snprintf(err, errlen, "cl_init: %s", cl_strerror(cl_init_rc));
		return NULL;
	}
	if (limits_check(l, err, errlen) != 0)
		return NULL;
	struct scan_engine *e = calloc(1, sizeof(*e));
	if (!e || !(e->db_dir = strdup(db_dir)) ||
	    (l->tmp_dir && !(e->tmp_dir = strdup(l->tmp_dir)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	e->limits = *l;
	e->limits.tmp_dir = e->tmp_dir;
	e->fingerprint_ok = scan_db_fingerprint(db_dir, &e->fingerprint) == 0;
	e->cur = scan_compiled_new(db_dir, &e->limits, err, errlen);
	if (!e->cur)
		goto fail;
	e->live = 1;
	if (pthread_mutex_init(&e->lock, NULL) != 0 || pthread_cond_init(&e->cond, NULL) != 0)
		fatal("scan_engine_new: pthread init failed");
	return e;
fail:
	if (e) {
		free(e->db_dir);
		free(e->tmp_dir);
		free(e);
	}
	return NULL;
}

void scan_engine_free(struct scan_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	bool join = e->thread_started;
	e->thread_started = false;
	pthread_mutex_unlock(&e->lock);
	if (join)
		pthread_join(e->thread, NULL);
	if (e->cur && e->cur->refs != 1)
		fatal("scan_engine_free: %u scans still running", e->cur->refs - 1);
	scan_compiled_free(e->cur);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	free(e->db_dir);
	free(e->tmp_dir);
	free(e);
}

void scan_engine_release(struct scan_engine *e, struct scan_compiled *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&e->lock);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&e->lock);
	if (!last)
		return;
	/* Freeing a big engine takes a while: outside the lock. */
	scan_compiled_free(c);
	pthread_mutex_lock(&e->lock);
	e->live--;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/*
 * Copies text into out, printable ASCII only, space too if spaces: names come
 * from databases and end up in logs and headers.
 */
static void copy_text(char *out, size_t outsz, const char *text, bool spaces)
{
	size_t i = 0;
	for (; text && text[i] && i + 1 < outsz; i++) {
		unsigned char ch = (unsigned char)text[i];
		out[i] = (ch > 0x20 || (spaces && ch == 0x20)) && ch < 0x7f ? (char)ch : '?';
	}
	out[i] = '\0';
}

static const struct {
	const char *alert; /* after "Heuristics.Limits.Exceeded." */
	const char *name;
} limit_alerts[] = {
	{"MaxScanSize", "max_scan_size"},  {"MaxFileSize", "max_file_size"},
	{"MaxRecursion", "max_recursion"}, {"MaxFiles", "max_files"},
	{"MaxScanTime", "max_scan_time"},
};

static void verdict_set(struct scan_verdict *out, enum scan_result r, const char *name,
			const char *detail)
{
	out->result = r;
	copy_text(out->name, sizeof(out->name), name, false);
	copy_text(out->detail, sizeof(out->detail), detail, true);
}

void scan_verdict_from_cl(int rc, const char *virname, bool member_too_big,
			  struct scan_verdict *out)
{
	static const char prefix[] = "Heuristics.Limits.Exceeded";
	static const char callback_alert[] = "Detected.By.Callback";
	switch (rc) {
	case CL_CLEAN:
		if (member_too_big)
			verdict_set(out, SCAN_LIMITS, "max_file_size",
				    "archive member over max_file_size");
		else
			verdict_set(out, SCAN_CLEAN, "", "");
		return;
	case CL_VIRUS:
		/* The alert of meta_cb: libclamav names every callback's alert so. */
		if (member_too_big && (!virname || strncmp(virname, callback_alert,
							   sizeof(callback_alert) - 1) == 0)) {
			verdict_set(out, SCAN_LIMITS, "max_file_size",
				    "archive member over max_file_size");
			return;
		}
		if (!virname || !*virname) {
			verdict_set(out, SCAN_INFECTED, "unnamed", "CL_VIRUS without a name");
			return;
		}
		if (strncmp(virname, prefix, sizeof(prefix) - 1) == 0) {
			const char *which = virname + sizeof(prefix) - 1;
			const char *name = "limits";
			for (size_t i = 0; i < sizeof(limit_alerts) / sizeof(limit_alerts[0]); i++)
				if (which[0] == '.' &&
				    strcmp(which + 1, limit_alerts[i].alert) == 0)
					name = limit_alerts[i].name;
			verdict_set(out, SCAN_LIMITS, name, virname);
			return;
		}
		verdict_set(out, SCAN_INFECTED, virname, "");
		return;
	case CL_ETIMEOUT:
		verdict_set(out, SCAN_LIMITS, "max_scan_time", cl_strerror(CL_ETIMEOUT));
		return;
	case CL_EMAXREC:
		verdict_set(out, SCAN_LIMITS, "max_recursion", cl_strerror(CL_EMAXREC));
		return;
	case CL_EMAXFILES:
		verdict_set(out, SCAN_LIMITS, "max_files", cl_strerror(CL_EMAXFILES));
		return;
	case CL_EMAXSIZE:
		verdict_set(out, SCAN_LIMITS, "limits", cl_strerror(CL_EMAXSIZE));
		return;
	default:
		verdict_set(out, SCAN_ERROR, "error",
			    rc >= 0 && rc < CL_ELAST_ERROR ? cl_strerror((cl_error_t)rc)
							   : "unknown libclamav code");
		return;
	}
}

static void scan_options(const struct scan_limits *l, struct cl_scan_options *o)
{
	memset(o, 0, sizeof(*o));
	o->general = CL_SCAN_GENERAL_HEURISTICS;
	o->parse = CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_ELF | CL_SCAN_PARSE_PDF |
		   CL_SCAN_PARSE_SWF | CL_SCAN_PARSE_HWP3 | CL_SCAN_PARSE_XMLDOCS |
		   CL_SCAN_PARSE_MAIL | CL_SCAN_PARSE_OLE2 | CL_SCAN_PARSE_HTML | CL_SCAN_PARSE_PE |
		   CL_SCAN_PARSE_ONENOTE | CL_SCAN_PARSE_IMAGE | CL_SCAN_PARSE_IMAGE_FUZZY_HASH;
	o->heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX;
	if (l->heuristic_encrypted_archive)
		o->heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE;
	if (l->heuristic_encrypted_doc)
		o->heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
	if (l->heuristic_macros)
		o->heuristic |= CL_SCAN_HEURISTIC_MACROS;
}

/* The octets [base, base + len) of fd, as libclamav's fmap reads them. */
struct scan_range {
	int fd;
	uint64_t base, len;
};

/* libclamav's pread: offset is relative to the range, reads stop at its end. */
static off_t range_pread(void *handle, void *buf, size_t count, off_t offset)
{
	const struct scan_range *r = handle;
	if (offset < 0 || (uint64_t)offset >= r->len)
		return 0;
	if (count > r->len - (uint64_t)offset)
		count = (size_t)(r->len - (uint64_t)offset);
	ssize_t n;
	do
		n = pread(r->fd, buf, count, (off_t)(r->base + (uint64_t)offset));
	while (n < 0 && errno == EINTR);
	return n;
}

/* Scans fd (range NULL: the whole file) or the range of it with the current engine. */
static int scan(struct scan_engine *e, int fd, const struct scan_range *range,
		struct scan_verdict *out)
{
	pthread_mutex_lock(&e->lock);
	while (e->blocking_reload)
		pthread_cond_wait(&e->cond, &e->lock);
	struct scan_compiled *c = e->cur;
	if (c)
		c->refs++;
	pthread_mutex_unlock(&e->lock);
	if (!c) {
		verdict_set(out, SCAN_ERROR, "error", "no engine loaded (last reload failed)");
		return -1;
	}
	struct cl_scan_options opts;
	scan_options(&e->limits, &opts);
	struct scan_ctx ctx = {.max_file_size = e->limits.max_file_size};
	const char *virname = NULL;
	unsigned long scanned = 0;
	cl_error_t rc;
	current_scan = &ctx;
	if (range && range->len == 0) {
		rc = CL_CLEAN; /* what libclamav says of an empty file */
	} else if (range) {
		/* No aging: the map is read once, front to back, and dropped. */
		cl_fmap_t *map =
			cl_fmap_open_handle((void *)range, 0, (size_t)range->len, range_pread, 0);
		rc = map ? cl_scanmap_callback(map, NULL, &virname, &scanned, c->cl, &opts, &ctx)
			 : CL_EMEM;
		if (map)
			cl_fmap_close(map);
	} else {
		rc = cl_scandesc_callback(fd, NULL, &virname, &scanned, c->cl, &opts, &ctx);
	}
	current_scan = NULL;
	/* virname points into the engine: copy it before the reference is dropped. */
	scan_verdict_from_cl((int)rc, virname && *virname ? virname : ctx.found, ctx.member_too_big,
			     out);
	if (out->result == SCAN_CLEAN && ctx.error[0])
		verdict_set(out, SCAN_ERROR, "error", ctx.error);
	scan_engine_release(e, c);
	return out->result == SCAN_ERROR ? -1 : 0;
}

int scan_engine_scan_fd(struct scan_engine *e, int fd, struct scan_verdict *out)
{
	return scan(e, fd, NULL, out);
}

int scan_engine_scan_range(struct scan_engine *e, int fd, uint64_t offset, uint64_t len,
			   struct scan_verdict *out)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || offset > (uint64_t)st.st_size ||
	    len > (uint64_t)st.st_size - offset) {
		verdict_set(out, SCAN_ERROR, "error", "range outside the file");
		return -1;
	}
	struct scan_range range = {.fd = fd, .base = offset, .len = len};
	return scan(e, fd, &range, out);
}

void scan_engine_info(struct scan_engine *e, struct scan_engine_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->engine_version, sizeof(out->engine_version), "%s", cl_retver());
	pthread_mutex_lock(&e->lock);
	if (e->cur) {
		out->db_version = e->cur->db_version;
		out->db_time = e->cur->db_time;
		out->signatures = e->cur->signatures;
		out->loaded_at = e->cur->loaded_at;
	}
	out->last_reload = e->last_reload;
	out->reloads = e->reloads;
	out->reload_failures = e->reload_failures;
	out->reloading = e->reloading;
	snprintf(out->last_error, sizeof(out->last_error), "%s", e->last_error);
	pthread_mutex_unlock(&e->lock);
}
