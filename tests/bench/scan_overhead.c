/*
 * tests/bench/scan_overhead.c - what airlock's scan process adds to libclamav,
 * per message, on generated mail (plain text, a PDF-like attachment, a zip,
 * five attachments; 10 KB to 1 MB).
 *
 * For each message, N runs, median of each:
 *   libclamav  scan_engine_scan_fd() on a memfd holding the raw message: the
 *              engine alone, with the limits of airlock.conf's defaults;
 *   airlock    what one message costs the edge's scan process: the request
 *              with the spool file's fd over a socketpair (SCM_RIGHTS,
 *              relay/ipc.h), read by the pool worker that is the reader
 *              (scan_pool.h, take), which reads the envelope and runs the
 *              message's first task itself; over 64 KiB the message is two
 *              tasks (libclamav, and the MIME walk; both reading the content
 *              in place), the walk going to another worker so that the two
 *              run side by side, else one doing both (scan_job_ntasks()); the
 *              attachment policy and the reply on the worker that ended last;
 *              the requests sent and the replies read on one event loop in
 *              this process; two workers per CPU like the edge's default
 *              scan.threads;
 *   cpu        the CPU time of this process (all threads) for "airlock" over
 *              that of "libclamav": what the scan process adds in CPU, which
 *              running the walk beside libclamav does not hide;
 *   job        scan_job_run() alone, called directly;
 *   walk+policy the MIME walk (GMime on the spool file, libmagic, archive
 *              listing) and the attachment policy alone: the part of "job" that
 *              is not libclamav;
 *   ipc+pool   the same round trip as "airlock" with a job that does nothing.
 * Below the table, the same empty round trip repeated at once (warm), and the
 * floor of any hand-off to another thread: a one-byte ping-pong with a
 * sleeping thread over a socketpair, against the 10 % budget.
 * Every run uses fresh random content, and each column has its own engine, so
 * that libclamav's clean-file cache never answers for a scan. A table, no
 * assertion. See tests/bench/README.md.
 *
 * usage: scan_overhead [-n RUNS] [-d DB_DIR]
 * Without -d the test database is built with tests/scan/make-test-db.sh.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/ipc.h"
#include "relay/queue_file.h"
#include "relay/scan_job.h"
#include "relay/scan_pool.h"
#include "relay/scan_reply.h"

#ifndef AIRLOCK_SOURCE_DIR
#define AIRLOCK_SOURCE_DIR "."
#endif

enum { MSG_REQ = 1, MSG_REP = 2 };
enum { COL_CLAM, COL_AIRLOCK, COL_JOB, COL_WALK, COL_IPC, NCOLS };
#define MAX_RUNS 201

/* ---- generated messages ---------------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(b, tmp, (size_t)n);
}

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* n octets of prose-like text, CRLF lines of at most 76. */
static void text(struct buf *b, size_t n)
{
	static const char *const words[] = {
		"the",	    "shipment", "invoice",  "meeting", "quarter",  "report",
		"please",   "review",	"budget",   "numbers", "attached", "thanks",
		"regards",  "schedule", "customer", "order",   "delivery", "pending",
		"approval", "team",	"project",  "update",  "next",	   "week"};
	size_t start = b->len, line = 0;
	while (b->len - start < n) {
		const char *w = words[rnd() % (sizeof(words) / sizeof(words[0]))];
		size_t wl = strlen(w);
		if (line + wl + 1 > 76) {
			put(b, "\r\n", 2);
			line = 0;
		} else if (line) {
			put(b, " ", 1);
			line++;
		}
		put(b, w, wl);
		line += wl;
		if (rnd() % 97 == 0)
			putf(b, " %llu", (unsigned long long)(rnd() % 100000));
	}
	put(b, "\r\n", 2);
}

static void random_bytes(struct buf *b, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd();
		put(b, &v, n - i < 8 ? n - i : 8);
	}
}

/* A PDF-like file: header, one stream object of random octets, trailer. */
static void pdf(struct buf *b, size_t n)
{
	putf(b, "%%PDF-1.4\n1 0 obj\n<< /Length %zu >>\nstream\n", n);
	random_bytes(b, n);
	putf(b, "\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%%%EOF\n");
}

/* A zip (libarchive, deflate) with a text file and a PDF-like file. */
static void zip(struct buf *b, size_t textlen, size_t pdflen)
{
	struct buf t = {0}, p = {0};
	text(&t, textlen);
	pdf(&p, pdflen);
	size_t cap = t.len + p.len + 65536, used = 0;
	char *out = malloc(cap);
	struct archive *a = archive_write_new();
	if (!out || !a || archive_write_set_format_zip(a) != ARCHIVE_OK ||
	    archive_write_open_memory(a, out, cap, &used) != ARCHIVE_OK) {
		fprintf(stderr, "scan_overhead: libarchive: cannot write a zip\n");
		exit(1);
	}
	const struct {
		const char *name;
		struct buf *data;
	} m[] = {{"minutes.txt", &t}, {"scan.pdf", &p}};
	for (size_t i = 0; i < 2; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_size(e, (la_int64_t)m[i].data->len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_mtime(e, 1767225600, 0);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, m[i].data->p, m[i].data->len) < 0) {
			fprintf(stderr, "scan_overhead: libarchive: %s\n", archive_error_string(a));
			exit(1);
		}
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	put(b, out, used);
	free(out);
	free(t.p);
	free(p.p);
}

static void base64(struct buf *b, const unsigned char *p, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		line[o++] = tab[v >> 18 & 63];
		line[o++] = tab[v >> 12 & 63];
		line[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		line[o++] = i + 2 < len ? tab[v & 63] : '=';
		if (o == 76 || i + 3 >= len) {
			line[o++] = '\r';
			line[o++] = '\n';
			put(b, line, o);
			o = 0;
		}
	}
}

static void headers(struct buf *b, unsigned run, const char *subject, bool multipart)
{
	putf(b,
	     "Received: from mail.example.org (mail.example.org [198.51.100.10])\r\n"
	     "\tby edge.example.com with ESMTP id R%u; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
	     "From: Sender <s@example.org>\r\nTo: <r@example.com>\r\nSubject: %s\r\n"
	     "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <%u.%llx@example.org>\r\n"
	     "MIME-Version: 1.0\r\n",
	     run, subject, run, (unsigned long long)rnd());
	if (multipart)
		putf(b,
		     "Content-Type: multipart/mixed; boundary=\"=-b%u\"\r\n\r\n"
		     "This is a multi-part message in MIME format.\r\n",
		     run);
	else
		putf(b, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
}

static void part_text(struct buf *b, unsigned run, size_t n)
{
	putf(b, "--=-b%u\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", run);
	text(b, n);
}

static void part_file(struct buf *b, unsigned run, const char *type, const char *name,
		      const struct buf *data)
{
	putf(b,
	     "--=-b%u\r\nContent-Type: %s; name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n"
	     "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n",
	     run, type, name, name);
	base64(b, (const unsigned char *)data->p, data->len);
}

enum kind { PLAIN, PDF, ZIP, FIVE };

struct msg_spec {
	const char *name;
	enum kind kind;
	size_t size; /* octets of the attachments' raw data, or of the body for PLAIN */
};

static const struct msg_spec specs[] = {
	{"plain text 10 KB", PLAIN, 10 * 1024},	    {"plain text 100 KB", PLAIN, 100 * 1024},
	{"plain text 1 MB", PLAIN, 1000 * 1024},    {"text + pdf 100 KB", PDF, 72 * 1024},
	{"text + pdf 1 MB", PDF, 740 * 1024},	    {"text + zip 300 KB", ZIP, 220 * 1024},
	{"5 attachments 500 KB", FIVE, 400 * 1024},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

/* Message content as the smtp process spools it (our Received: on top, CRLF). */
static void make_msg(struct buf *b, const struct msg_spec *s, unsigned run)
{
	struct buf d = {0};
	b->len = 0;
	switch (s->kind) {
	case PLAIN:
		headers(b, run, "Quarterly numbers", false);
		text(b, s->size);
		break;
	case PDF:
		headers(b, run, "Signed contract", true);
		part_text(b, run, 2048);
		pdf(&d, s->size);
		part_file(b, run, "application/pdf", "contract.pdf", &d);
		putf(b, "--=-b%u--\r\n", run);
		break;
	case ZIP:
		headers(b, run, "Archive of the minutes", true);
		part_text(b, run, 1024);
		zip(&d, s->size / 2, s->size * 7 / 8);
		part_file(b, run, "application/zip", "minutes.zip", &d);
		putf(b, "--=-b%u--\r\n", run);
		break;
	case FIVE: {
		headers(b, run, "Documents for the audit", true);
		part_text(b, run, 2048);
		size_t each = s->size / 5;
		static const struct {
			const char *type, *name;
		} f[] = {{"application/pdf", "report.pdf"},
			 {"text/plain", "notes.txt"},
			 {"text/csv", "ledger.csv"},
			 {"application/zip", "receipts.zip"},
			 {"application/pdf", "letter.pdf"}};
		for (size_t i = 0; i < 5; i++) {
			d.len = 0;
			if (strcmp(f[i].type, "application/pdf") == 0)
				pdf(&d, each);
			else if (strcmp(f[i].type, "application/zip") == 0)
				zip(&d, each, each / 4);
			else
				text(&d, each);
			part_file(b, run, f[i].type, f[i].name, &d);
		}
		putf(b, "--=-b%u--\r\n", run);
		break;
	}
	}
	free(d.p);
}

/* ---- measuring ----------------------------------------------------------------------------- */

static double clock_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* CPU time of the whole process: every thread. */
static double cpu_ms(void)
{
	return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One side of the socketpair plays smtp, the other the scan process. */
struct bench {
	struct event_base *base;
	struct ipc_chan *smtp;
	int scan_fd; /* the scan side's socket: the workers read requests and answer on it */
	struct scan_pool *pool;
	struct scan_job_opts opts;
	struct scan_reply last; /* the reply smtp received */
	bool got_reply;
};

struct job {
	struct bench *b;
	int fd;
	bool noop; /* the ipc+pool column: no scan */
	struct scan_job job;
	struct scan_reply reply;
	int content_fd;
};

static void work(void *arg, unsigned task, void *walker)
{
	struct job *j = arg;
	if (!j->noop)
		scan_job_task(&j->job, task, &j->reply, walker);
}

/*
 * On the worker that ended the job, as the scan process does: the decision,
 * the answer, and the job freed (nothing goes back to the loop).
 */
static void finish(void *arg, void *walker)
{
	(void)walker;
	struct job *j = arg;
	if (!j->noop)
		scan_job_finish(&j->job, &j->reply, &j->content_fd);
	struct ipc_writer w;
	ipc_writer_init(&w);
	scan_reply_put(&w, &j->reply);
	if (ipc_write_msg(j->b->scan_fd, MSG_REP, &w, j->content_fd, 5000) < 0) {
		fprintf(stderr, "scan_overhead: cannot send the reply\n");
		exit(1);
	}
	ipc_writer_free(&w);
	close(j->fd);
	if (j->content_fd >= 0)
		close(j->content_fd);
	free(j);
}

/*
 * The pool's source, as in the scan process (relay/edge/edge_scan.c, take):
 * the worker that is the reader reads the next request from the socket and
 * runs its first task itself.
 */
static void *take(void *arg, unsigned *ntasks, void *walker)
{
	(void)walker;
	struct bench *b = arg;
	static uint8_t payload[IPC_MAX_PAYLOAD]; /* one reader at a time */
	uint16_t type;
	size_t len;
	int fd;
	const char *why;
	uint8_t noop;
	int rc = ipc_read_msg(b->scan_fd, &type, payload, &len, &fd, &why);
	if (rc == 0)
		return NULL; /* the end of the run */
	struct ipc_reader r;
	ipc_reader_init(&r, payload, rc == 1 ? len : 0);
	struct job *j = calloc(1, sizeof(*j));
	if (rc < 0 || !j || type != MSG_REQ || fd < 0 || ipc_get_u32(&r, &j->reply.seq) < 0 ||
	    ipc_get_u8(&r, &noop) < 0 || ipc_get_end(&r) < 0) {
		fprintf(stderr, "scan_overhead: bad request\n");
		exit(1);
	}
	j->b = b;
	j->fd = fd;
	j->noop = noop;
	j->content_fd = -1;
	j->reply.action = SCAN_REPLY_ACCEPT;
	*ntasks = 1;
	if (noop)
		return j;
	if (scan_job_begin(&j->job, &b->opts, fd, &j->reply) < 0) {
		fprintf(stderr, "scan_overhead: cannot read the spool file\n");
		exit(1);
	}
	*ntasks = scan_job_ntasks(&j->job);
	return j;
}

static int smtp_side(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct bench *b = arg;
	if (fd >= 0)
		close(fd);
	if (type == IPC_CLOSED)
		return 0;
	if (type != MSG_REP || scan_reply_get(r, &b->last) < 0 || ipc_get_end(r) < 0)
		return -1;
	b->got_reply = true;
	event_base_loopbreak(b->base);
	return 0;
}

/* Request, pool, job, reply: ms from sending the request to handling the reply. */
static double round_trip(struct bench *b, int spool_fd, bool noop, uint32_t seq)
{
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_u32(&w, seq);
	ipc_put_u8(&w, noop);
	b->got_reply = false;
	double t0 = now_ms();
	if (ipc_send_writer(b->smtp, MSG_REQ, &w, spool_fd) < 0) {
		fprintf(stderr, "scan_overhead: cannot send the request\n");
		exit(1);
	}
	while (!b->got_reply)
		if (event_base_loop(b->base, EVLOOP_ONCE) < 0) {
			fprintf(stderr, "scan_overhead: event loop failed\n");
			exit(1);
		}
	double t1 = now_ms();
	ipc_writer_free(&w);
	return t1 - t0;
}

/* ---- the floor: two thread wake-ups -------------------------------------------------- */

static void *echo_thread(void *arg)
{
	int fd = *(int *)arg;
	char c;
	while (read(fd, &c, 1) == 1)
		if (write(fd, &c, 1) != 1)
			break;
	return NULL;
}

/*
 * Median ms of a one-byte request and answer between this thread and one that
 * sleeps in read(), 1 ms apart so that both are idle when it starts, as between
 * messages: the least that handing a message to another thread and getting the
 * answer back can cost (the scan process adds the fd, the envelope, the job).
 */
static double wake_floor_ms(unsigned n)
{
	int sv[2];
	pthread_t th;
	static double v[1000];
	if (n > 1000)
		n = 1000;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pthread_create(&th, NULL, echo_thread, &sv[1]) != 0)
		return -1;
	char c = 'x';
	unsigned done = 0;
	for (; done < n; done++) {
		nanosleep(&(struct timespec){0, 1000000}, NULL);
		double t0 = now_ms();
		if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
			break;
		v[done] = now_ms() - t0;
	}
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	return done == n ? median(v, n) : -1; /* only a whole series counts */
}

/* The spool file the smtp process hands over: envelope, empty line, content. */
static int spool_file(const char *dir, const struct buf *content)
{
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	queue_id_new(env.id);
	env.arrived = 1767225600;
	snprintf(env.client_addr, sizeof(env.client_addr), "198.51.100.10");
	snprintf(env.helo, sizeof(env.helo), "mail.example.org");
	env.body = QUEUE_BODY_8BITMIME;
	char *text = NULL, path[256];
	size_t len;
	if (queue_envelope_set_from(&env, "s@example.org") < 0 ||
	    queue_envelope_add_rcpt(&env, "r@example.com") < 0 ||
	    queue_envelope_format(&env, &text, &len) < 0) {
		fprintf(stderr, "scan_overhead: cannot build an envelope\n");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, env.id);
	queue_envelope_free(&env);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len ||
	    write(fd, content->p, content->len) != (ssize_t)content->len) {
		fprintf(stderr, "scan_overhead: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	unlink(path);
	free(text);
	return fd;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct scan_engine *engine(const char *db, const struct scan_limits *l)
{
	char err[512];
	struct scan_engine *e = scan_engine_new(db, l, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "scan_overhead: %s\n", err);
		exit(1);
	}
	return e;
}

int main(int argc, char **argv)
{
	unsigned runs = 21;
	const char *db = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "n:d:")) != -1) {
		if (opt == 'n' && atoi(optarg) >= 1 && atoi(optarg) <= MAX_RUNS)
			runs = (unsigned)atoi(optarg);
		else if (opt == 'd')
			db = optarg;
		else {
			fprintf(stderr, "usage: %s [-n RUNS (1..%d)] [-d DB_DIR]\n", argv[0],
				MAX_RUNS);
			return 2;
		}
	}
	log_init("scan_overhead", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	char tmp[] = "/tmp/airlock-scan-overhead.XXXXXX", dbdir[128], cmd[512];
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	if (!db) {
		snprintf(dbdir, sizeof(dbdir), "%s/db", tmp);
		snprintf(cmd, sizeof(cmd), "sh '%s/tests/scan/make-test-db.sh' '%s' >/dev/null",
			 AIRLOCK_SOURCE_DIR, dbdir);
		int rc = system(cmd);
		if (rc != 0) {
			fprintf(stderr, "scan_overhead: make-test-db.sh failed (exit %d)\n",
				WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
			nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			return WIFEXITED(rc) && WEXITSTATUS(rc) == 77 ? 77 : 1;
		}
		db = dbdir;
	}

	/* airlock.conf's defaults (README, scan.*): what the edge runs with unless configured. */
	struct scan_limits l;
	scan_limits_default(&l);
	l.max_scan_size = 419430400;
	l.max_file_size = 104857600;
	l.max_recursion = 17;
	l.max_files = 10000;
	l.max_scan_time_ms = 60 * 1000;
	/* One engine per column: a message one column scanned is never in another's cache. */
	struct scan_engine *e_clam = engine(db, &l), *e_airlock = engine(db, &l),
			   *e_job = engine(db, &l);
	struct scan_engine_info info;
	scan_engine_info(e_clam, &info);

	struct attach_policy_options attach;
	attach_policy_options_default(&attach); /* built-in list, double extensions: on */
	struct scan_job_opts job_opts = {
		.engine = e_job,
		.attach = &attach,
		.rules = NULL,
		.on_limits = ATTACH_REJECT,
		.max_file_bytes = 36700160 + QUEUE_ENVELOPE_MAX + 4096,
	};
	struct mime_walk_limits wl; /* the scan process's */
	scan_job_walk_limits(&wl);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN); /* the edge's default: two per CPU */
	unsigned nthreads = ncpu < 1 ? 2 : ncpu > 8 ? 16 : 2 * (unsigned)ncpu;
	struct mime_walker *walker = mime_walker_new(&wl), *pool_walkers[16] = {NULL};
	for (unsigned i = 0; i < nthreads; i++)
		if (!(pool_walkers[i] = mime_walker_new(&wl))) {
			fprintf(stderr, "scan_overhead: libmagic cannot load its database\n");
			return 1;
		}
	int sv[2];
	struct bench b = {.opts = job_opts};
	b.opts.engine = e_airlock;
	char err[256];
	if (!walker || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    !(b.base = event_base_new())) {
		fprintf(stderr, "scan_overhead: setup failed\n");
		return 1;
	}
	b.smtp = ipc_chan_new(b.base, sv[0], smtp_side, &b);
	b.scan_fd = sv[1];
	static const struct scan_pool_fns fns = {.work = work, .finish = finish, .take = take};
	b.pool = scan_pool_new(b.base, nthreads, (void *const *)pool_walkers, &fns, &b, err,
			       sizeof(err));
	if (!b.smtp || !b.pool) {
		fprintf(stderr, "scan_overhead: setup failed: %s\n", b.pool ? "ipc" : err);
		return 1;
	}

	static double t[NSPECS][NCOLS][MAX_RUNS];
	static double warm[NSPECS * MAX_RUNS]; /* the empty job again, right after the first */
	unsigned nwarm = 0;
	static double cpu[NSPECS][2][MAX_RUNS]; /* CPU ms of libclamav, of airlock */
	size_t bytes[NSPECS];
	const char *verdict[NSPECS];
	struct buf m = {0};
	uint32_t seq = 0;
	for (unsigned run = 0; run <= runs; run++) { /* run 0 warms up and is not counted */
		for (size_t s = 0; s < NSPECS; s++) {
			rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)run << 20 | s);
			make_msg(&m, &specs[s], run);
			bytes[s] = m.len;
			int mfd = scan_job_memfd("scan-overhead", m.p, m.len);
			int sfd_a = spool_file(tmp, &m), sfd_j = spool_file(tmp, &m),
			    sfd_w = spool_file(tmp, &m);
			if (mfd < 0) {
				perror("memfd");
				return 1;
			}
			double v[NCOLS];
			/* Rotate the order, so that no column always comes first. */
			for (unsigned k = 0; k < NCOLS; k++) {
				unsigned col = (k + run + (unsigned)s) % NCOLS;
				struct scan_verdict sv_clam;
				struct scan_reply r;
				int cfd;
				double t0 = now_ms(), c0 = cpu_ms();
				switch (col) {
				case COL_CLAM:
					scan_engine_scan_fd(e_clam, mfd, &sv_clam);
					v[col] = now_ms() - t0;
					if (run > 0)
						cpu[s][0][run - 1] = cpu_ms() - c0;
					if (sv_clam.result != SCAN_CLEAN)
						fprintf(stderr, "%s: libclamav says %s\n",
							specs[s].name, sv_clam.name);
					break;
				case COL_AIRLOCK:
					v[col] = round_trip(&b, sfd_a, false, ++seq);
					if (run > 0)
						cpu[s][1][run - 1] = cpu_ms() - c0;
					verdict[s] = scan_reply_action_name(b.last.action);
					break;
				case COL_JOB:
					r.seq = 0;
					scan_job_run(&job_opts, walker, sfd_j, &r, &cfd);
					v[col] = now_ms() - t0;
					if (cfd >= 0)
						close(cfd);
					break;
				case COL_WALK: {
					/* as scan_job_run() walks it: in place, after the envelope
					 */
					struct stat st;
					struct mime_walk *w = NULL;
					if (fstat(sfd_w, &st) == 0)
						w = mime_walk_fd_range(walker, sfd_w,
								       (uint64_t)st.st_size - m.len,
								       m.len);
					struct attach_verdict av;
					if (!w) {
						fprintf(stderr,
							"scan_overhead: mime walk failed\n");
						return 1;
					}
					attach_policy_check(&attach, w, &av);
					attach_verdict_clear(&av);
					mime_walk_free(w);
					v[col] = now_ms() - t0;
					break;
				}
				case COL_IPC:
					v[col] = round_trip(&b, sfd_j, true, ++seq);
					if (run > 0)
						warm[nwarm++] = round_trip(&b, sfd_j, true, ++seq);
					break;
				}
			}
			close(mfd);
			close(sfd_a);
			close(sfd_j);
			close(sfd_w);
			if (run > 0)
				for (unsigned c = 0; c < NCOLS; c++)
					t[s][c][run - 1] = v[c];
		}
	}

	printf("\n%-22s %9s  %-8s %12s %11s %10s %14s %8s %15s %11s\n", "message", "bytes",
	       "verdict", "libclamav ms", "airlock ms", "overhead %", "cpu overhead %", "job ms",
	       "walk+policy ms", "ipc+pool ms");
	for (size_t s = 0; s < NSPECS; s++) {
		double med[NCOLS];
		for (unsigned c = 0; c < NCOLS; c++)
			med[c] = median(t[s][c], runs);
		double cpu_clam = median(cpu[s][0], runs), cpu_airlock = median(cpu[s][1], runs);
		printf("%-22s %9zu  %-8s %12.3f %11.3f %10.1f %14.1f %8.3f %15.3f %11.3f\n",
		       specs[s].name, bytes[s], verdict[s], med[COL_CLAM], med[COL_AIRLOCK],
		       (med[COL_AIRLOCK] - med[COL_CLAM]) / med[COL_CLAM] * 100,
		       (cpu_airlock - cpu_clam) / cpu_clam * 100, med[COL_JOB], med[COL_WALK],
		       med[COL_IPC]);
	}
	double floor_ms = wake_floor_ms(500), clam_10k = median(t[0][COL_CLAM], runs);
	printf("\nipc+pool warm: the empty job's round trip right after another, %.3f ms (the"
	       " ipc+pool column is the first one, as between messages)\n",
	       median(warm, nwarm));
	if (floor_ms < 0)
		printf("floor: not measured (socketpair, thread or ping-pong failed)\n");
	else
		printf("floor: a one-byte ping-pong with a sleeping thread (two wake-ups, 500 runs"
		       " 1 ms apart): %.3f ms, %.1f %% of the %s message's libclamav time (its 10 "
		       "%%"
		       " budget: %.3f ms)\n",
		       floor_ms, floor_ms / clam_10k * 100, specs[0].name, clam_10k / 10);
	printf("\nmedians of %u runs (fresh random content each run, one engine per column);"
	       " %u scan workers (two per CPU); ClamAV %s, %u signatures"
	       " (tests/scan/make-test-db.sh), limits of airlock.conf's defaults, attachment"
	       " policy defaults, no transport rules\n",
	       runs, nthreads, info.engine_version, info.signatures);

	free(m.p);
	shutdown(b.scan_fd, SHUT_RD); /* the reader returns */
	scan_pool_free(b.pool);
	ipc_chan_free(b.smtp);
	close(b.scan_fd);
	event_base_free(b.base);
	mime_walker_free(walker);
	for (unsigned i = 0; i < nthreads; i++)
		mime_walker_free(pool_walkers[i]);
	scan_engine_free(e_clam);
	scan_engine_free(e_airlock);
	scan_engine_free(e_job);
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
