/*
 * scan_job: one spooled message through libclamav (a signature database
 * generated at test time), the attachment policy and transport rules, with
 * the exact verdicts, replies and rewritten bytes.
 */
#include "test_scan_engine_fixture.h"

#include <libconfig.h>

#include "policy/transport_rules_config.h"
#include "relay/queue_file.h"
#include "relay/scan_job.h"

static struct mime_walker *walker;

/* A spool file: envelope, then content. */
static int spool_fd(const char *content, size_t clen)
{
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	queue_id_new(env.id);
	env.arrived = 1767225600;
	snprintf(env.client_addr, sizeof(env.client_addr), "198.51.100.10");
	assert_int_equal(queue_envelope_set_from(&env, "a@example.org"), 0);
	assert_int_equal(queue_envelope_add_rcpt(&env, "b@example.com"), 0);
	char *text;
	size_t len;
	assert_int_equal(queue_envelope_format(&env, &text, &len), 0);
	queue_envelope_free(&env);
	char *all = malloc(len + clen);
	memcpy(all, text, len);
	memcpy(all + len, content, clen);
	int fd = mem_fd(all, len + clen);
	free(all);
	free(text);
	return fd;
}

static char *with_attachment(const char *name, const void *data, size_t len, const char *subject)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t cap = len * 2 + 1024;
	char *m = malloc(cap);
	int n = snprintf(m, cap,
			 "Subject: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
			 "boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nkeep me\r\n"
			 "--b\r\nContent-Type: application/octet-stream\r\n"
			 "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
			 "filename=\"%s\"\r\n\r\n",
			 subject, name);
	size_t o = (size_t)n;
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		m[o++] = b64[v >> 18 & 63];
		m[o++] = b64[v >> 12 & 63];
		m[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		m[o++] = i + 2 < len ? b64[v & 63] : '=';
		if ((i / 3 + 1) % 19 == 0 || i + 3 >= len) {
			m[o++] = '\r';
			m[o++] = '\n';
		}
	}
	o += (size_t)snprintf(m + o, cap - o, "--b--\r\n");
	return m;
}

static struct attach_policy_options attach;
static struct scan_job_opts opts;

static int setup(void **state)
{
	(void)state;
	attach_policy_options_default(&attach);
	opts = (struct scan_job_opts){.engine = eng,
				      .attach = &attach,
				      .on_limits = ATTACH_REJECT,
				      .max_file_bytes = 1 << 24};
	return 0;
}

/* The content fd's bytes (NULL for -1), closing it. */
static char *take_content(int cfd)
{
	if (cfd < 0)
		return NULL;
	struct stat st;
	assert_int_equal(fstat(cfd, &st), 0);
	char *text = calloc(1, (size_t)st.st_size + 1);
	assert_int_equal(pread(cfd, text, (size_t)st.st_size, 0), st.st_size);
	close(cfd);
	return text;
}

/* A reply and its content fd (closed here) are the ones scan_job_run() gave. */
static void assert_same(const struct scan_reply *got, int cfd, const struct scan_reply *want,
			const char *text)
{
	assert_memory_equal(got, want, sizeof(*got));
	char *t = take_content(cfd);
	assert_int_equal(text == NULL, t == NULL);
	if (text)
		assert_string_equal(t, text);
	free(t);
}

/*
 * scan_job_run(), and the same message in steps with the walk before
 * libclamav (as the scan process may run them): the same reply and content.
 */
static int run(const char *content, struct scan_reply *r, char **rewritten)
{
	int fd = spool_fd(content, strlen(content)), cfd;
	r->seq = 9;
	scan_job_run(&opts, walker, fd, r, &cfd);
	assert_int_equal(r->seq, 9);
	assert_int_equal(r->has_content, cfd >= 0);
	char *text = take_content(cfd);

	struct scan_job j;
	struct scan_reply r2 = {.seq = 9};
	if (scan_job_begin(&j, &opts, fd, &r2) == 0) {
		scan_job_walk(&j, walker);
		scan_job_clamav(&j, &r2);
	}
	scan_job_finish(&j, &r2, &cfd);
	assert_same(&r2, cfd, r, text);

	/* As the scan process runs it: scan_job_ntasks() tasks, the last one first. */
	struct scan_reply r3 = {.seq = 9};
	if (scan_job_begin(&j, &opts, fd, &r3) == 0) {
		unsigned n = scan_job_ntasks(&j);
		assert_int_equal(n, strlen(content) <= SCAN_JOB_SPLIT_MIN ? 1 : SCAN_JOB_NTASKS);
		while (n-- > 0)
			scan_job_task(&j, n, &r3, walker);
	}
	scan_job_finish(&j, &r3, &cfd);
	assert_same(&r3, cfd, r, text);
	close(fd);
	if (rewritten)
		*rewritten = text;
	else
		free(text);
	return r->has_content;
}

static void test_clean_and_virus(void **state)
{
	(void)state;
	struct scan_reply r;
	assert_int_equal(run("Subject: hi\r\n\r\nhello\r\n", &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_ACCEPT);
	assert_string_equal(r.log, " verdict=clean");
	assert_int_equal(r.finding, SCAN_FINDING_NONE);
	assert_true(strncmp(r.engine, "ClamAV 1.", 9) == 0);
	assert_true(strncmp(r.db, "local-", 6) == 0);
	size_t len;
	void *exe = read_all(TESTFILES "/clam.exe", &len);
	char *m = with_attachment("notes.txt", exe, len, "virus");
	assert_int_equal(run(m, &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Message rejected: virus found (" CLAM_SIG ")");
	assert_string_equal(r.log, " verdict=infected virus=" CLAM_SIG);
	assert_int_equal(r.finding, SCAN_FINDING_INFECTED);
	free(m);
	free(exe);
}

static void test_attachments(void **state)
{
	(void)state;
	struct scan_reply r;
	char *m = with_attachment("invoice.pdf.exe", "harmless\r\n", 10, "double");
	assert_int_equal(run(m, &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Message rejected: attachment invoice.pdf.exe not "
				     "allowed (double-extension)");
	free(m);
	/* Over SCAN_JOB_SPLIT_MIN: the walk and libclamav as two tasks, the same verdict. */
	char *big = calloc(1, SCAN_JOB_SPLIT_MIN);
	m = with_attachment("invoice.pdf.exe", big, SCAN_JOB_SPLIT_MIN, "double");
	assert_true(strlen(m) > SCAN_JOB_SPLIT_MIN);
	assert_int_equal(run(m, &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Message rejected: attachment invoice.pdf.exe not "
				     "allowed (double-extension)");
	free(m);
	free(big);
	attach.builtin_action = ATTACH_STRIP;
	m = with_attachment("tool.exe", "harmless\r\n", 10, "strip");
	char *out = NULL;
	assert_int_equal(run(m, &r, &out), 1);
	assert_int_equal(r.action, SCAN_REPLY_ACCEPT);
	assert_non_null(strstr(out, "\r\n\r\nkeep me\r\n--b\r\n"));
	assert_non_null(strstr(out, "Name: tool.exe"));
	assert_null(strstr(out, "aGFybWxlc3MNCg")); /* the base64 of the part is gone */
	assert_non_null(strstr(r.log, "stripped=\"tool.exe\" policy=default-extension"));
	free(out);
	free(m);
	attach.builtin_action = ATTACH_REJECT;
}

static struct transport_rules *rules_from(const char *text)
{
	config_t c;
	config_init(&c);
	assert_int_equal(config_read_string(&c, text), CONFIG_TRUE);
	char err[256];
	struct transport_rules *tr = transport_rules_from_setting(config_lookup(&c, "rules"),
								  "t.conf", err, sizeof(err));
	if (!tr)
		fail_msg("%s", err);
	config_destroy(&c);
	return tr;
}

static void test_rules(void **state)
{
	(void)state;
	struct transport_rules *tr = rules_from(
		"rules = ( { name = \"tag\"; if = ( { subject = { contains = \"hello\"; }; } );"
		" then = ( { prepend_subject = \"[EXT] \"; }, { remove_header = \"X-Old\"; },"
		" { add_header = { name = \"X-Tag\"; value = \"ext\"; }; }, { bcc = "
		"\"c@example.com\"; } ); },"
		" { name = \"no\"; if = ( { recipient = { glob = \"b@*\"; }; },"
		" { subject = { contains = \"block\"; }; } );"
		" then = ( { reject = { code = 554; text = \"Not here\"; }; } ); } );");
	opts.rules = tr;
	struct scan_reply r;
	char *out = NULL;
	assert_int_equal(run("X-Old: 1\r\nSubject: hello\r\n\r\nbody\r\n", &r, &out), 1);
	assert_int_equal(r.action, SCAN_REPLY_ACCEPT);
	assert_string_equal(out, "X-Tag: ext\r\nSubject: [EXT] hello\r\n\r\nbody\r\n");
	assert_string_equal(r.log, " verdict=clean rule=tag action=prepend_subject rule=tag "
				   "action=remove_header rule=tag action=add_header rule=tag "
				   "action=bcc to=c@example.com");
	free(out);
	assert_int_equal(run("Subject: block this\r\n\r\nbody\r\n", &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply, "554 5.7.1 Not here");
	opts.rules = NULL;
	transport_rules_free(tr);
}

static void test_limits_and_errors(void **state)
{
	(void)state;
	struct scan_limits l;
	scan_limits_default(&l);
	l.max_file_size = 100;
	struct scan_engine *small = engine_with(base_db, &l);
	opts.engine = small;
	struct scan_reply r;
	char big[400];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "Subject: big\r\n\r\n", 16);
	assert_int_equal(run(big, &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply,
			    "550 5.7.1 Message rejected: scan limit exceeded (max_file_size)");
	opts.on_limits = ATTACH_TEMPFAIL;
	assert_int_equal(run(big, &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_TEMPFAIL);
	opts.on_limits = ATTACH_ACCEPT;
	assert_int_equal(run(big, &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_ACCEPT_UNSCANNED);
	assert_string_equal(r.log, " verdict=limits limit=max_file_size");
	assert_int_equal(r.finding, SCAN_FINDING_LIMITS);
	opts.on_limits = ATTACH_REJECT;
	opts.engine = eng;
	scan_engine_free(small);
	/* not a spool file, and one over the size cap: the scan failed, never clean */
	int fd = mem_fd("garbage\n\n", 9), cfd;
	scan_job_run(&opts, walker, fd, &r, &cfd);
	close(fd);
	assert_int_equal(r.action, SCAN_REPLY_FAILED);
	assert_int_equal(cfd, -1);
	opts.max_file_bytes = 10;
	assert_int_equal(run("Subject: x\r\n\r\nbody\r\n", &r, NULL), 0);
	assert_int_equal(r.action, SCAN_REPLY_FAILED);
	opts.max_file_bytes = 1 << 24;
}

static int job_group_setup(void **state)
{
	walker = mime_walker_new(NULL);
	return walker ? group_setup(state) : -1;
}

static int job_group_teardown(void **state)
{
	mime_walker_free(walker);
	return group_teardown(state);
}

static int each(void **state)
{
	return need_db(state) || setup(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_clean_and_virus, each),
		cmocka_unit_test_setup(test_attachments, each),
		cmocka_unit_test_setup(test_rules, each),
		cmocka_unit_test_setup(test_limits_and_errors, each),
	};
	return cmocka_run_group_tests(tests, job_group_setup, job_group_teardown);
}
