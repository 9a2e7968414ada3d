/*
 * The scan process's decision for one message.
 */
#include "relay/scan_job.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/queue_file.h"
#include "relay/scan_rewrite.h"

#define JOB_MAX_ATTACH	  256 /* attachment names given to the rules */
#define JOB_STACK_ACTIONS 64  /* rule actions kept on the stack */

int scan_job_memfd(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return fd;
}

static void appendf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

void scan_job_walk_limits(struct mime_walk_limits *l)
{
	mime_walk_limits_default(l);
	l->skip_sizes = true;
}

/* Octets of a spool file read at first for its envelope: most envelopes fit. */
#define JOB_ENVELOPE_GUESS 8192

/* Reads len octets at off of fd into buf; 0, or -1 (errno; EIO for a short file). */
static int pread_all(int fd, char *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/*
 * Parses the envelope of the spool file open on fd (size octets) into *env
 * and sets *off to the first octet of the content. Reads only the envelope's
 * neighbourhood: JOB_ENVELOPE_GUESS octets, or up to QUEUE_ENVELOPE_MAX when
 * that was not enough. Returns 0, or -1 with a reason in err.
 */
static int read_envelope(int fd, uint64_t size, struct queue_envelope *env, size_t *off, char *err,
			 size_t errlen)
{
	char guess[JOB_ENVELOPE_GUESS];
	size_t n = size < sizeof(guess) ? (size_t)size : sizeof(guess);
	if (pread_all(fd, guess, n, 0) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (queue_envelope_parse(guess, n, env, off, err, errlen) == 0)
		return 0;
	if (n == size)
		return -1;
	/* A long envelope (many recipients): read as much as one may take. */
	size_t big = size < QUEUE_ENVELOPE_MAX ? (size_t)size : QUEUE_ENVELOPE_MAX;
	char *buf = malloc(big);
	if (!buf || pread_all(fd, buf, big, 0) < 0) {
		snprintf(err, errlen, "%s", buf ? strerror(errno) : "out of memory");
		free(buf);
		return -1;
	}
	int rc = queue_envelope_parse(buf, big, env, off, err, errlen);
	free(buf);
	return rc;
}

/* The content, [off, off + len) of fd, in a new buffer; NULL on error. */
static char *read_content(int fd, size_t off, size_t len)
{
	char *buf = malloc(len ? len : 1);
	if (buf && pread_all(fd, buf, len, off) < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void set_engine(struct scan_engine *e, struct scan_reply *out)
{
	struct scan_engine_info info;
	scan_engine_info(e, &info);
	snprintf(out->engine, sizeof(out->engine), "ClamAV %s", info.engine_version);
	if (info.db_version)
		snprintf(out->db, sizeof(out->db), "%u", info.db_version);
	else
		snprintf(out->db, sizeof(out->db), "local-%lld", (long long)info.db_time);
}

static void limits_verdict(enum attach_action on_limits, const char *which, struct scan_reply *out)
{
	out->finding = SCAN_FINDING_LIMITS;
	appendf(out->log, sizeof(out->log), " verdict=limits limit=%s", which);
	if (on_limits == ATTACH_ACCEPT) {
		out->action = SCAN_REPLY_ACCEPT_UNSCANNED;
	} else if (on_limits == ATTACH_TEMPFAIL) {
		out->action = SCAN_REPLY_TEMPFAIL;
		snprintf(out->reply, sizeof(out->reply),
			 "451 4.7.1 Message deferred: scan limit exceeded (%s)", which);
	} else {
		out->action = SCAN_REPLY_REJECT;
		snprintf(out->reply, sizeof(out->reply),
			 "550 5.7.1 Message rejected: scan limit exceeded (%s)", which);
	}
}

/* libclamav on the content, read in place from fd; returns 1 when the decision is made. */
static int run_clamav(const struct scan_job_opts *o, int fd, size_t off, size_t clen,
		      struct scan_reply *out)
{
	struct scan_verdict v;
	int rc = scan_engine_scan_range(o->engine, fd, off, clen, &v);
	if (rc < 0 || v.result == SCAN_ERROR) {
		out->action = SCAN_REPLY_FAILED;
		appendf(out->log, sizeof(out->log), " verdict=error reason=\"%s\"", v.detail);
		return 1;
	}
	if (v.result == SCAN_INFECTED)
		out->finding = SCAN_FINDING_INFECTED;
	if (v.result == SCAN_INFECTED && o->quarantine_infected) {
		out->action = SCAN_REPLY_QUARANTINE;
		out->clean = false;
		snprintf(out->quarantine, sizeof(out->quarantine), "virus %s", v.name);
		appendf(out->log, sizeof(out->log), " verdict=infected virus=%s action=quarantine",
			v.name);
		return 1;
	}
	if (v.result == SCAN_INFECTED) {
		out->action = SCAN_REPLY_REJECT;
		snprintf(out->reply, sizeof(out->reply),
			 "550 5.7.1 Message rejected: virus found (%s)", v.name);
		appendf(out->log, sizeof(out->log), " verdict=infected virus=%s", v.name);
		return 1;
	}
	if (v.result == SCAN_LIMITS) {
		limits_verdict(o->on_limits, v.name, out);
		return out->action != SCAN_REPLY_ACCEPT_UNSCANNED;
	}
	return 0;
}

/* A bcc recipient for the envelope: once, and at most SCAN_REPLY_BCC_MAX of them. */
static void add_bcc(struct scan_reply *out, const char *rule, const char *to)
{
	for (unsigned i = 0; i < out->nbcc; i++)
		if (strcasecmp(out->bcc[i], to) == 0)
			return;
	if (out->nbcc == SCAN_REPLY_BCC_MAX) {
		appendf(out->log, sizeof(out->log), " rule=%s bcc-dropped=%s", rule, to);
		return;
	}
	snprintf(out->bcc[out->nbcc++], sizeof(out->bcc[0]), "%s", to);
	appendf(out->log, sizeof(out->log), " rule=%s action=bcc to=%s", rule, to);
}

/* Transport rules; returns 1 when they rejected. *cur may be replaced. */
static int run_rules(const struct scan_job_opts *o, const struct queue_envelope *env,
		     const struct mime_walk *walk, char **cur, size_t *curlen, bool *changed,
		     struct scan_reply *out)
{
	struct scan_headers h;
	if (scan_headers_parse(*cur, *curlen, &h) < 0) {
		out->action = SCAN_REPLY_FAILED;
		return 1;
	}
	const char *names[JOB_MAX_ATTACH];
	size_t nnames = 0;
	for (size_t i = 0; walk && i < walk->nparts && nnames < JOB_MAX_ATTACH; i++)
		if (walk->parts[i].filename)
			names[nnames++] = walk->parts[i].filename;
	struct rules_msg m = {
		.from = env->from ? env->from : "",
		.rcpts = (const char *const *)env->rcpts,
		.nrcpts = env->nrcpts,
		.headers = h.fields,
		.nheaders = h.nfields,
		.size = *curlen,
		.attachment_names = names,
		.nattach = nnames,
		.verdict = out->action == SCAN_REPLY_ACCEPT_UNSCANNED ? "limits" : "clean",
	};
	size_t max = transport_rules_max_actions(o->rules);
	/* The usual rule set fits on the stack: no allocation per message. */
	const struct rules_action *few[JOB_STACK_ACTIONS];
	const struct rules_action **acts =
		max <= JOB_STACK_ACTIONS ? few : calloc(max, sizeof(*acts));
	if (!acts) {
		scan_headers_free(&h);
		out->action = SCAN_REPLY_FAILED;
		return 1;
	}
	size_t n = transport_rules_eval(o->rules, &m, acts, max);
	scan_headers_free(&h);
	int rejected = 0;
	bool quarantined = false;
	for (size_t i = 0; i < n && i < max; i++) {
		const struct rules_action *a = acts[i];
		switch (a->kind) {
		case RULES_ACT_REJECT:
			out->action =
				a->reject.code >= 500 ? SCAN_REPLY_REJECT : SCAN_REPLY_TEMPFAIL;
			snprintf(out->reply, sizeof(out->reply), "%d %s %s", a->reject.code,
				 a->reject.enhanced, a->reject.text);
			appendf(out->log, sizeof(out->log), " rule=%s action=reject", a->rule);
			rejected = 1;
			break;
		case RULES_ACT_LOG:
			appendf(out->log, sizeof(out->log), " rule=%s log=\"%s\"", a->rule,
				a->log.text);
			break;
		case RULES_ACT_REDIRECT:
			if (!out->redirect[0])
				snprintf(out->redirect, sizeof(out->redirect), "%s",
					 a->redirect.to);
			appendf(out->log, sizeof(out->log), " rule=%s action=redirect to=%s",
				a->rule, a->redirect.to);
			break;
		case RULES_ACT_BCC:
			add_bcc(out, a->rule, a->bcc.to);
			break;
		case RULES_ACT_QUARANTINE:
			if (!out->quarantine[0])
				snprintf(out->quarantine, sizeof(out->quarantine), "rule %s: %s",
					 a->rule, a->quarantine.reason);
			appendf(out->log, sizeof(out->log), " rule=%s action=quarantine", a->rule);
			quarantined = true;
			break;
		default:
			appendf(out->log, sizeof(out->log), " rule=%s action=%s", a->rule,
				transport_rules_action_name(a->kind));
			break;
		}
	}
	if (!rejected) {
		char *nbuf;
		size_t nlen;
		int applied =
			scan_rewrite_headers(*cur, *curlen, acts, n < max ? n : max, &nbuf, &nlen);
		if (applied < 0) {
			out->action = SCAN_REPLY_FAILED;
			rejected = 1;
		} else if (applied == 0) {
			free(nbuf);
		} else {
			free(*cur);
			*cur = nbuf;
			*curlen = nlen;
			*changed = true;
		}
	}
	if (acts != few)
		free(acts);
	if (rejected) {
		out->redirect[0] = '\0';
		out->nbcc = 0;
	} else if (quarantined) {
		out->clean = out->action == SCAN_REPLY_ACCEPT;
		out->action = SCAN_REPLY_QUARANTINE;
	}
	return rejected;
}

/* Attachment policy; returns 1 when it decided. *cur may be replaced by the stripped message. */
static int run_attach(const struct scan_job_opts *o, struct mime_walk *walk, char **cur,
		      size_t *curlen, bool *changed, struct scan_reply *out)
{
	struct attach_verdict av;
	attach_policy_check(o->attach, walk, &av);
	int decided = 0;
	if (av.action == ATTACH_REJECT || av.action == ATTACH_TEMPFAIL) {
		out->action = av.action == ATTACH_REJECT ? SCAN_REPLY_REJECT : SCAN_REPLY_TEMPFAIL;
		snprintf(out->reply, sizeof(out->reply), "%s", av.reply);
		appendf(out->log, sizeof(out->log), " attachment=\"%s\" policy=%s reason=\"%s\"",
			av.name, av.rule, av.reason);
		decided = 1;
	} else if (av.action == ATTACH_STRIP) {
		char *nbuf;
		size_t nlen;
		if (attach_policy_strip(walk->message, av.strip, av.nstrip, &nbuf, &nlen) < 0) {
			out->action = SCAN_REPLY_FAILED;
			decided = 1;
		} else {
			free(*cur);
			*cur = nbuf;
			*curlen = nlen;
			*changed = true;
			for (size_t i = 0; i < av.nstrip; i++)
				appendf(out->log, sizeof(out->log), " stripped=\"%s\" policy=%s",
					av.strip[i].name, av.strip[i].rule);
		}
	}
	attach_verdict_clear(&av);
	return decided;
}

int scan_job_begin(struct scan_job *j, const struct scan_job_opts *o, int fd,
		   struct scan_reply *out)
{
	uint32_t seq = out->seq;
	memset(out, 0, sizeof(*out));
	out->seq = seq;
	out->action = SCAN_REPLY_ACCEPT;
	memset(j, 0, sizeof(*j));
	j->o = o;
	j->fd = fd;
	atomic_init(&j->decided, false);
	set_engine(o->engine, out);
	char err[160];
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((uint64_t)st.st_size > o->max_file_bytes)
		why = strerror(EFBIG);
	else if (read_envelope(fd, (uint64_t)st.st_size, &j->env, &j->off, err, sizeof(err)) < 0)
		why = "envelope";
	if (why) {
		out->action = SCAN_REPLY_FAILED;
		appendf(out->log, sizeof(out->log), " verdict=error reason=\"%s\"", why);
		atomic_store(&j->decided, true);
		return -1;
	}
	j->clen = (size_t)st.st_size - j->off;
	return 0;
}

void scan_job_clamav(struct scan_job *j, struct scan_reply *out)
{
	if (run_clamav(j->o, j->fd, j->off, j->clen, out))
		atomic_store(&j->decided, true);
}

void scan_job_walk(struct scan_job *j, struct mime_walker *walker)
{
	/* Nothing to walk for once libclamav decided (when it ran first). */
	if (atomic_load(&j->decided))
		return;
	j->walk = mime_walk_fd_range(walker, j->fd, j->off, j->clen);
	j->walked = true;
}

unsigned scan_job_ntasks(const struct scan_job *j)
{
	return j->clen <= SCAN_JOB_SPLIT_MIN ? 1 : SCAN_JOB_NTASKS;
}

void scan_job_task(struct scan_job *j, enum scan_job_task task, struct scan_reply *out,
		   struct mime_walker *walker)
{
	if (task == SCAN_JOB_CLAMAV)
		scan_job_clamav(j, out);
	if (task == SCAN_JOB_WALK || scan_job_ntasks(j) == 1)
		scan_job_walk(j, walker);
}

void scan_job_finish(struct scan_job *j, struct scan_reply *out, int *content_fd)
{
	*content_fd = -1;
	struct mime_walk *walk = j->walk;
	j->walk = NULL;
	if (atomic_load(&j->decided))
		goto done;
	if (!walk) { /* it failed, or (a caller's bug) never ran: never a clean verdict */
		out->action = SCAN_REPLY_FAILED;
		if (!j->walked)
			appendf(out->log, sizeof(out->log), " verdict=error reason=\"not walked\"");
		goto done;
	}
	/* The content is never copied unless the rules need it as a buffer. */
	char *cur = NULL; /* the content as it will be kept, when it is needed or changed */
	size_t curlen = j->clen;
	bool changed = false;
	if (out->action == SCAN_REPLY_ACCEPT)
		appendf(out->log, sizeof(out->log), " verdict=clean");
	if (!run_attach(j->o, walk, &cur, &curlen, &changed, out) && j->o->rules) {
		if (!cur && !(cur = read_content(j->fd, j->off, j->clen)))
			out->action = SCAN_REPLY_FAILED;
		else
			run_rules(j->o, &j->env, walk, &cur, &curlen, &changed, out);
	}
	if (changed &&
	    (out->action == SCAN_REPLY_ACCEPT || out->action == SCAN_REPLY_ACCEPT_UNSCANNED ||
	     out->action == SCAN_REPLY_QUARANTINE)) {
		*content_fd = scan_job_memfd("airlock-content", cur, curlen);
		if (*content_fd < 0)
			out->action = SCAN_REPLY_FAILED;
		else
			out->has_content = true;
	}
	free(cur);
done:
	mime_walk_free(walk);
	queue_envelope_free(&j->env);
}

void scan_job_run(const struct scan_job_opts *o, struct mime_walker *walker, int fd,
		  struct scan_reply *out, int *content_fd)
{
	struct scan_job j;
	if (scan_job_begin(&j, o, fd, out) == 0) {
		scan_job_clamav(&j, out);
		scan_job_walk(&j, walker);
	}
	scan_job_finish(&j, out, content_fd);
}
