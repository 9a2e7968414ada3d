/*
 * scan_job and scan_reply: the transport rules' redirect, bcc and
 * quarantine actions, and scan.on_infected = quarantine, as the scan
 * process answers them (exact reply fields), and their wire encoding
 * (round trip, and the reader failing closed on bad envelope changes).
 */
#include "test_scan_engine_fixture.h"

#include <libconfig.h>

#include "policy/transport_rules_config.h"
#include "relay/queue_file.h"
#include "relay/scan_job.h"

#define EICAR_SIG "Airlock.Test.EICAR.UNOFFICIAL"

static struct mime_walker *walker;
static struct attach_policy_options attach;
static struct scan_job_opts opts;

static int spool_fd_rcpts(const char *content, unsigned nrcpts);

static int spool_fd(const char *content)
{
	return spool_fd_rcpts(content, 1);
}

/* A spool file with nrcpts recipients (an envelope of nrcpts * ~40 octets), then content. */
static int spool_fd_rcpts(const char *content, unsigned nrcpts)
{
	struct queue_envelope env;
	memset(&env, 0, sizeof(env));
	queue_id_new(env.id);
	env.arrived = 1767225600;
	snprintf(env.client_addr, sizeof(env.client_addr), "198.51.100.10");
	assert_int_equal(queue_envelope_set_from(&env, "a@example.org"), 0);
	if (nrcpts == 1) {
		assert_int_equal(queue_envelope_add_rcpt(&env, "b@example.com"), 0);
	} else {
		for (unsigned i = 0; i < nrcpts; i++) {
			char to[64];
			snprintf(to, sizeof(to), "recipient-number-%04u@example.com", i);
			assert_int_equal(queue_envelope_add_rcpt(&env, to), 0);
		}
	}
	char *text;
	size_t len, clen = strlen(content);
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

static int each(void **state)
{
	return need_db(state) || setup(state);
}

/* Runs content through the job; returns the rewritten content (malloc'd) or NULL. */
static char *run(const char *content, struct scan_reply *r)
{
	int fd = spool_fd(content), cfd;
	char *out = NULL;
	scan_job_run(&opts, walker, fd, r, &cfd);
	close(fd);
	assert_int_equal(r->has_content, cfd >= 0);
	if (cfd >= 0) {
		struct stat st;
		assert_int_equal(fstat(cfd, &st), 0);
		out = calloc(1, (size_t)st.st_size + 1);
		assert_int_equal(pread(cfd, out, (size_t)st.st_size, 0), st.st_size);
		close(cfd);
	}
	return out;
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

static const char RULES[] =
	"rules = ( { name = \"copy\"; if = ( { subject = { contains = \"copy\"; }; } );"
	" then = ( { bcc = \"audit@example.com\"; }, { bcc = \"AUDIT@example.com\"; },"
	" { bcc = \"legal@example.com\"; } ); },"
	" { name = \"away\"; if = ( { subject = { contains = \"away\"; }; } );"
	" then = ( { redirect = \"desk@example.com\"; }, { redirect = \"late@example.com\"; } ); },"
	" { name = \"hold\"; if = ( { subject = { contains = \"quarantine me\"; }; } );"
	" then = ( { prepend_subject = \"[Q] \"; }, { quarantine = \"suspicious subject\"; } ); },"
	" { name = \"no\"; if = ( { subject = { contains = \"block\"; }; } );"
	" then = ( { reject = { code = 550; text = \"Blocked\"; }; } ); } );";

static void test_bcc_and_redirect(void **state)
{
	(void)state;
	struct transport_rules *tr = rules_from(RULES);
	opts.rules = tr;
	struct scan_reply r;
	assert_null(run("Subject: copy\r\n\r\nbody\r\n", &r));
	assert_int_equal(r.action, SCAN_REPLY_ACCEPT);
	assert_string_equal(r.redirect, "");
	assert_int_equal(r.nbcc, 2); /* the second audit@ is the same address */
	assert_string_equal(r.bcc[0], "audit@example.com");
	assert_string_equal(r.bcc[1], "legal@example.com");
	assert_string_equal(r.log, " verdict=clean rule=copy action=bcc to=audit@example.com "
				   "rule=copy action=bcc to=legal@example.com");

	assert_null(run("Subject: away and copy\r\n\r\nbody\r\n", &r));
	assert_int_equal(r.action, SCAN_REPLY_ACCEPT);
	assert_string_equal(r.redirect, "desk@example.com"); /* the first redirect wins */
	assert_int_equal(r.nbcc, 2);

	/* a reject drops the envelope changes of earlier rules */
	assert_null(run("Subject: copy block\r\n\r\nbody\r\n", &r));
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Blocked");
	assert_int_equal(r.nbcc, 0);
	opts.rules = NULL;
	transport_rules_free(tr);
}

static void test_quarantine_rule(void **state)
{
	(void)state;
	struct transport_rules *tr = rules_from(RULES);
	opts.rules = tr;
	struct scan_reply r;
	char *out = run("Subject: quarantine me\r\n\r\nbody\r\n", &r);
	assert_int_equal(r.action, SCAN_REPLY_QUARANTINE);
	assert_true(r.clean);
	assert_string_equal(r.quarantine, "rule hold: suspicious subject");
	assert_string_equal(r.log, " verdict=clean rule=hold action=prepend_subject rule=hold "
				   "action=quarantine");
	/* the header edits are kept in what is quarantined */
	assert_string_equal(out, "Subject: [Q] quarantine me\r\n\r\nbody\r\n");
	free(out);
	/* a reject after a quarantine rule still rejects */
	assert_null(run("Subject: quarantine me, block\r\n\r\nbody\r\n", &r));
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	opts.rules = NULL;
	transport_rules_free(tr);
}

static void test_infected_quarantined(void **state)
{
	(void)state;
	static const char m[] =
		"Subject: raw\r\n\r\n"
		"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n";
	struct scan_reply r;
	opts.quarantine_infected = true;
	assert_null(run(m, &r));
	assert_int_equal(r.action, SCAN_REPLY_QUARANTINE);
	assert_false(r.clean);
	assert_string_equal(r.quarantine, "virus " EICAR_SIG);
	assert_string_equal(r.log, " verdict=infected virus=" EICAR_SIG " action=quarantine");
	assert_int_equal(r.finding, SCAN_FINDING_INFECTED);
	opts.quarantine_infected = false;
	assert_null(run(m, &r));
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Message rejected: virus found (" EICAR_SIG ")");
}

/*
 * An envelope longer than the first read of the job (8 KiB): the content is
 * still found exactly where it starts, by libclamav, the walk and the rules.
 */
static void test_long_envelope(void **state)
{
	(void)state;
	static const char eicar[] =
		"Subject: raw\r\n\r\n"
		"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n";
	struct scan_reply r;
	int cfd, fd = spool_fd_rcpts(eicar, 600);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size > 20000);
	scan_job_run(&opts, walker, fd, &r, &cfd);
	close(fd);
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_string_equal(r.reply, "550 5.7.1 Message rejected: virus found (" EICAR_SIG ")");

	static const char exe[] =
		"Subject: x\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
		"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
		"--B\r\nContent-Type: application/octet-stream; name=\"a.exe\"\r\n"
		"\r\nnot really\r\n--B--\r\n";
	fd = spool_fd_rcpts(exe, 600);
	scan_job_run(&opts, walker, fd, &r, &cfd);
	close(fd);
	assert_int_equal(r.action, SCAN_REPLY_REJECT);
	assert_non_null(strstr(r.reply, "a.exe"));

	/* the rules get the content, read after the long envelope, and rewrite it */
	struct transport_rules *tr = rules_from(RULES);
	opts.rules = tr;
	fd = spool_fd_rcpts("Subject: quarantine me\r\n\r\nbody\r\n", 600);
	scan_job_run(&opts, walker, fd, &r, &cfd);
	close(fd);
	assert_int_equal(r.action, SCAN_REPLY_QUARANTINE);
	assert_true(cfd >= 0);
	char out[128] = "";
	assert_true(pread(cfd, out, sizeof(out) - 1, 0) > 0);
	close(cfd);
	assert_string_equal(out, "Subject: [Q] quarantine me\r\n\r\nbody\r\n");
	opts.rules = NULL;
	transport_rules_free(tr);

	/* an envelope that never ends: no content to scan */
	fd = mem_fd("from a@example.org\nrcpt b@example.com\n", 38);
	scan_job_run(&opts, walker, fd, &r, &cfd);
	close(fd);
	assert_int_equal(r.action, SCAN_REPLY_FAILED);
	assert_int_equal(cfd, -1);
	assert_non_null(strstr(r.log, "verdict=error"));
}

static void test_wire(void **state)
{
	(void)state;
	struct scan_reply in = {.seq = 5, .action = SCAN_REPLY_QUARANTINE, .clean = true}, out;
	snprintf(in.quarantine, sizeof(in.quarantine), "rule hold: why");
	snprintf(in.redirect, sizeof(in.redirect), "desk@example.com");
	snprintf(in.bcc[0], sizeof(in.bcc[0]), "a@example.com");
	snprintf(in.bcc[1], sizeof(in.bcc[1]), "b@example.com");
	in.nbcc = 2;
	struct ipc_writer w;
	struct ipc_reader rd;
	ipc_writer_init(&w);
	assert_int_equal(scan_reply_put(&w, &in), 0);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), 0);
	assert_int_equal(out.action, SCAN_REPLY_QUARANTINE);
	assert_true(out.clean);
	assert_string_equal(out.quarantine, "rule hold: why");
	assert_string_equal(out.redirect, "desk@example.com");
	assert_int_equal(out.nbcc, 2);
	assert_string_equal(out.bcc[1], "b@example.com");
	assert_string_equal(scan_reply_action_name(SCAN_REPLY_QUARANTINE), "quarantine");
	ipc_writer_free(&w);

	/* fails closed: a quarantine without a reason, an address with a space or no '@' */
	struct scan_reply bad = in;
	bad.quarantine[0] = '\0';
	ipc_writer_init(&w);
	scan_reply_put(&w, &bad);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	ipc_writer_free(&w);
	bad = in;
	snprintf(bad.bcc[1], sizeof(bad.bcc[1]), "b @example.com");
	ipc_writer_init(&w);
	scan_reply_put(&w, &bad);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	ipc_writer_free(&w);
	bad = in;
	snprintf(bad.redirect, sizeof(bad.redirect), "nobody");
	ipc_writer_init(&w);
	scan_reply_put(&w, &bad);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	ipc_writer_free(&w);
	/* a bcc count over SCAN_REPLY_BCC_MAX on the wire */
	ipc_writer_init(&w);
	ipc_put_u32(&w, 1);
	ipc_put_u8(&w, SCAN_REPLY_ACCEPT);
	for (int i = 0; i < 5; i++)
		ipc_put_str(&w, "");
	ipc_put_u8(&w, 0);
	ipc_put_str(&w, "");
	ipc_put_u8(&w, SCAN_REPLY_BCC_MAX + 1);
	for (int i = 0; i <= SCAN_REPLY_BCC_MAX; i++)
		ipc_put_str(&w, "x@example.com");
	ipc_put_u8(&w, 0);
	ipc_reader_init(&rd, w.buf, w.len);
	assert_int_equal(scan_reply_get(&rd, &out), -1);
	ipc_writer_free(&w);
}

static int group(void **state)
{
	walker = mime_walker_new(NULL);
	return walker ? group_setup(state) : -1;
}

static int group_down(void **state)
{
	mime_walker_free(walker);
	return group_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_bcc_and_redirect, each),
		cmocka_unit_test_setup(test_quarantine_rule, each),
		cmocka_unit_test_setup(test_infected_quarantined, each),
		cmocka_unit_test_setup(test_long_envelope, each),
		cmocka_unit_test(test_wire),
	};
	return cmocka_run_group_tests(tests, group, group_down);
}
