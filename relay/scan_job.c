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

#define JOB_MAX_ATTACH 256 /* attachment names given to the rules */

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

/* Reads the whole file; NULL on error or when over max (errno EFBIG). */
static char *read_all(int fd, size_t max, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	if ((uint64_t)st.st_size > max) {
		errno = EFBIG;
		return NULL;
	}
	size_t size = (size_t)st.st_size;
	char *buf = malloc(size + 1);
	if (!buf)
		return NULL;
	size_t off = 0;
	while (off < size) {
		ssize_t n = pread(fd, buf + off, size - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return NULL;
		}
		off += (size_t)n;
	}
	*len = size;
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

/* libclamav on the content; returns 1 when the decision is made. */
static int run_clamav(const struct scan_job_opts *o, const char *content, size_t clen,
		      struct scan_reply *out)
{
	int mfd = scan_job_memfd("airlock-scan", content, clen);
	struct scan_verdict v;
	if (mfd < 0) {
		out->action = SCAN_REPLY_FAILED;
		appendf(out->log, sizeof(out->log), " verdict=error reason=memfd");
		return 1;
	}
	int rc = scan_engine_scan_fd(o->engine, mfd, &v);
	close(mfd);
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
	const struct rules_action **acts = calloc(max ? max : 1, sizeof(*acts));
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

void scan_job_run(const struct scan_job_opts *o, struct mime_walker *walker, int fd,
		  struct scan_reply *out, int *content_fd)
{
	uint32_t seq = out->seq;
	memset(out, 0, sizeof(*out));
	out->seq = seq;
	out->action = SCAN_REPLY_ACCEPT;
	*content_fd = -1;
	set_engine(o->engine, out);
	size_t len, off;
	char err[160];
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	char *file = read_all(fd, o->max_file_bytes, &len);
	if (!file || queue_envelope_parse(file, len, &env, &off, err, sizeof(err)) < 0) {
		out->action = SCAN_REPLY_FAILED;
		appendf(out->log, sizeof(out->log), " verdict=error reason=\"%s\"",
			file ? "envelope" : strerror(errno));
		free(file);
		return;
	}
	const char *content = file + off;
	size_t clen = len - off;
	if (run_clamav(o, content, clen, out))
		goto done;
	char *cur = malloc(clen ? clen : 1);
	size_t curlen = clen;
	bool changed = false;
	if (!cur) {
		out->action = SCAN_REPLY_FAILED;
		goto done;
	}
	memcpy(cur, content, clen);
	struct mime_walk *walk = mime_walk_mem(walker, content, clen);
	if (!walk) {
		out->action = SCAN_REPLY_FAILED;
		free(cur);
		goto done;
	}
	if (out->action == SCAN_REPLY_ACCEPT)
		appendf(out->log, sizeof(out->log), " verdict=clean");
	if (!run_attach(o, walk, &cur, &curlen, &changed, out) && o->rules)
		run_rules(o, &env, walk, &cur, &curlen, &changed, out);
	mime_walk_free(walk);
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
	queue_envelope_free(&env);
	free(file);
}
