/*
 * Reloading the scan engine's databases: in the background with an atomic
 * swap (scans never pause), or in place (no double memory), and noticing
 * when the database directory changed on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/scan_engine.h"
#include "relay/scan_engine_priv.h"

/* FNV-1a, 64 bits. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A final mix, so that summing entries does not let changes cancel out. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

int scan_db_walk(const char *db_dir, uint64_t *fp, int64_t *newest)
{
	int dfd = open(db_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -1;
	}
	uint64_t sum = 0, count = 0;
	int64_t latest = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(dfd, de->d_name, &st, 0) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		uint64_t h = 0xcbf29ce484222325ull;
		h = fnv(h, de->d_name, strlen(de->d_name) + 1);
		int64_t vals[5] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
				   (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ino,
				   (int64_t)st.st_dev};
		h = fnv(h, vals, sizeof(vals));
		sum += mix(h);
		count++;
		if (st.st_mtim.tv_sec > latest)
			latest = st.st_mtim.tv_sec;
		errno = 0;
	}
	int rc = errno != 0 ? -1 : 0;
	closedir(d);
	if (fp)
		*fp = mix(sum ^ mix(count));
	if (newest)
		*newest = latest;
	return rc;
}

int scan_db_fingerprint(const char *db_dir, uint64_t *out)
{
	return scan_db_walk(db_dir, out, NULL);
}

bool scan_engine_db_changed(struct scan_engine *e)
{
	uint64_t now;
	if (scan_db_fingerprint(e->db_dir, &now) != 0)
		return true;
	pthread_mutex_lock(&e->lock);
	bool changed = !e->fingerprint_ok || now != e->fingerprint;
	pthread_mutex_unlock(&e->lock);
	return changed;
}

/*
 * Loads a new engine and installs it: the common part of both reload kinds.
 * Called with reloading set and the lock not held. Returns the engine it
 * replaced (the caller drops the reference that made it current), or NULL.
 */
static struct scan_compiled *load_and_install(struct scan_engine *e, int *ok, char *err,
					      size_t errlen)
{
	char q[2 * SCAN_NAME_MAX];
	uint64_t fp = 0;
	bool fp_ok = scan_db_fingerprint(e->db_dir, &fp) == 0;
	struct scan_compiled *c = scan_compiled_new(e->db_dir, &e->limits, err, errlen);
	pthread_mutex_lock(&e->lock);
	struct scan_compiled *old = NULL;
	if (c) {
		old = e->cur;
		e->cur = c;
		e->live++;
		e->fingerprint = fp;
		e->fingerprint_ok = fp_ok;
		e->last_reload = time(NULL);
		e->reloads++;
		e->last_error[0] = '\0';
	} else {
		e->reload_failures++;
		snprintf(e->last_error, sizeof(e->last_error), "%s", err);
	}
	*ok = c != NULL;
	pthread_mutex_unlock(&e->lock);
	if (c)
		log_info("event=scan-reload ok=1 signatures=%u db_version=%u", c->signatures,
			 c->db_version);
	else
		log_warning("event=scan-reload ok=0 error=%s", log_quote(q, sizeof(q), err));
	return old;
}

static void *reload_thread(void *arg)
{
	struct scan_engine *e = arg;
	char err[SCAN_NAME_MAX] = "";
	int ok;
	pthread_setname_np(pthread_self(), "scan-reload");
	struct scan_compiled *old = load_and_install(e, &ok, err, sizeof(err));
	/* Read before reloading is cleared: a new reload may replace them after that. */
	pthread_mutex_lock(&e->lock);
	void (*done)(void *, int, const char *) = e->done;
	void *done_arg = e->done_arg;
	pthread_mutex_unlock(&e->lock);
	/* Scans still on the old engine keep it alive; the last one frees it. */
	scan_engine_release(e, old);
	pthread_mutex_lock(&e->lock);
	e->reloading = false;
	pthread_mutex_unlock(&e->lock);
	if (done)
		done(done_arg, ok, ok ? NULL : err);
	return NULL;
}

static int reload_blocking(struct scan_engine *e, void (*done)(void *, int, const char *),
			   void *arg)
{
	pthread_mutex_lock(&e->lock);
	e->blocking_reload = true;
	struct scan_compiled *old = e->cur;
	e->cur = NULL;
	pthread_mutex_unlock(&e->lock);
	scan_engine_release(e, old);
	/* Every engine gone (the last scan on it freed it) before the new one loads. */
	pthread_mutex_lock(&e->lock);
	while (e->live > 0)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);

	char err[SCAN_NAME_MAX] = "";
	int ok;
	load_and_install(e, &ok, err, sizeof(err));
	pthread_mutex_lock(&e->lock);
	e->blocking_reload = false;
	e->reloading = false;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (done)
		done(arg, ok, ok ? NULL : err);
	return 0;
}

int scan_engine_reload(struct scan_engine *e, bool blocking,
		       void (*done)(void *arg, int ok, const char *err), void *arg)
{
	pthread_mutex_lock(&e->lock);
	if (e->reloading) {
		pthread_mutex_unlock(&e->lock);
		return 1;
	}
	e->reloading = true;
	bool join = e->thread_started;
	e->thread_started = false;
	pthread_mutex_unlock(&e->lock);
	/* The previous reload thread has cleared reloading: it is finishing or finished. */
	if (join)
		pthread_join(e->thread, NULL);
	if (blocking)
		return reload_blocking(e, done, arg);

	pthread_mutex_lock(&e->lock);
	e->done = done;
	e->done_arg = arg;
	int rc = pthread_create(&e->thread, NULL, reload_thread, e);
	if (rc == 0)
		e->thread_started = true;
	else
		e->reloading = false;
	pthread_mutex_unlock(&e->lock);
	if (rc != 0) {
		log_error("event=scan-reload ok=0 error=\"pthread_create: %s\"", strerror(rc));
		return -1;
	}
	return 0;
}
