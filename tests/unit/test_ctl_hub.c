/*
 * airlockctl's hub section: rendering of canned hub control-socket replies
 * (the JSON documented in the README's airlock-hub section), the reply check, and when the section
 * is wanted. airlockctl is a program, not a library: its hub file is compiled in here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tunnel/airlockctl/ctl_hub.c"

static const char *const full_reply =
	"{\"ok\":true,\"hub\":{\"pid\":4242,\"uptime\":3725,\"listen\":[\"192.0.2.2:25\"],"
	"\"gate\":{\"backend\":\"libipsec\",\"device\":\"ipsec0\",\"vici_connected\":true,"
	"\"sa_table\":\"fresh\",\"accepted\":12,\"rejected\":3,\"tempfailed\":1,"
	"\"by_reason\":{\"ok\":12,\"no-sa\":3,\"vici-down\":1,\"stale\":0},"
	"\"last_refused\":{\"peer\":\"203.0.113.66\",\"reason\":\"no-sa\"}},"
	"\"attestation\":{\"verified\":11,\"refused\":2,"
	"\"by_result\":{\"missing\":1,\"bad-signature\":1,\"stale\":0},\"trusted_keys\":1},"
	"\"proxy\":{\"internal_mta\":\"127.0.0.1:10025\",\"delivered\":10,\"tempfailed\":1,"
	"\"rejected\":0,\"duplicates\":2,\"sessions_opened\":2,\"sessions_reused\":9,"
	"\"idle\":1}}}";

/* Renders the "hub" object of reply (or NULL) and returns the text (caller frees). */
static char *render(const char *reply, const char *why)
{
	json_t *hub = NULL;
	if (reply) {
		json_t *rep = json_loads(reply, 0, NULL);
		assert_non_null(rep);
		char err[256];
		hub = ctl_hub_from_reply(rep, err, sizeof(err));
		json_decref(rep);
		assert_non_null(hub);
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	ctl_render_hub(f, hub, why);
	fclose(f);
	json_decref(hub);
	return buf;
}

static void assert_line(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing line \"%s\" in:\n%s", line, text);
}

static void test_full_status(void **state)
{
	(void)state;
	char *t = render(full_reply, NULL);
	assert_line(t, "\nhub daemon: pid 4242  up 1h02m  listening 192.0.2.2:25\n");
	assert_line(t,
		    "  gate   backend libipsec (device ipsec0), VICI connected, SA table fresh\n");
	/* Zero counts are left out of the by-reason list. */
	assert_line(t, "         accepted 12, rejected 3, tempfailed 1 (ok 12, no-sa 3, "
		       "vici-down 1)\n");
	assert_line(t, "         last refused 203.0.113.66 (no-sa)\n");
	assert_line(t, "  attest verified 11, refused 2 (missing 1, bad-signature 1); 1 trusted "
		       "key\n");
	assert_line(t, "  proxy  internal MTA 127.0.0.1:10025: delivered 10, tempfailed 1, "
		       "rejected 0\n");
	assert_line(t, "         duplicates 2 (retries of delivered mail, not delivered again)\n");
	assert_line(t, "         sessions opened 2, reused 9, idle 1\n");
	free(t);
}

static void test_degraded(void **state)
{
	(void)state;
	char *t = render("{\"ok\":true,\"hub\":{\"pid\":7,\"uptime\":5,"
			 "\"listen\":[\"192.0.2.2:25\",\"[2001:db8::2]:25\"],"
			 "\"gate\":{\"backend\":\"xfrm\",\"device\":\"ipsec0\","
			 "\"vici_connected\":false,\"sa_table\":\"stale\",\"accepted\":0,"
			 "\"rejected\":0,\"tempfailed\":4,\"by_reason\":{\"vici-down\":4},"
			 "\"last_refused\":null},"
			 "\"attestation\":{\"verified\":0,\"refused\":0,\"by_result\":{},"
			 "\"trusted_keys\":0},"
			 "\"proxy\":{\"internal_mta\":\"127.0.0.1:10025\",\"delivered\":0,"
			 "\"tempfailed\":0,\"rejected\":0}}}",
			 NULL);
	assert_line(t, "up 5s  listening 192.0.2.2:25, [2001:db8::2]:25\n");
	assert_line(t, "backend xfrm (device ipsec0), VICI DOWN, SA table stale\n");
	assert_line(t, "accepted 0, rejected 0, tempfailed 4 (vici-down 4)\n");
	assert_line(t, "         last refused: none\n");
	assert_line(t, "; 0 trusted keys (NO EDGE CAN DELIVER)\n");
	/* An older hub without pool counters: no sessions line. */
	assert_null(strstr(t, "sessions opened"));
	free(t);
}

static void test_missing_fields(void **state)
{
	(void)state;
	/* An older or partial daemon: nothing crashes, the unknown shows as "?". */
	char *t =
		render("{\"ok\":true,\"hub\":{\"gate\":{\"accepted\":\"x\"},\"proxy\":[]}}", NULL);
	assert_line(t, "hub daemon: pid ?  up ?  listening nowhere\n");
	assert_line(t, "  gate   backend ? (device ?), VICI ?, SA table ?\n");
	assert_line(t, "         accepted ?, rejected ?, tempfailed ?\n");
	assert_line(t, "  attest not reported\n");
	assert_line(t, "  proxy  not reported\n");
	free(t);
}

static void test_not_running(void **state)
{
	(void)state;
	char *t = render(NULL, "control socket /run/airlock/hub.sock does not exist");
	assert_string_equal(t,
			    "\nhub daemon: not running (control socket /run/airlock/hub.sock does "
			    "not exist)\n");
	free(t);
}

static void test_reply_checked(void **state)
{
	(void)state;
	char err[256];
	json_t *rep = json_loads("{\"ok\":false,\"error\":\"unknown command\"}", 0, NULL);
	assert_null(ctl_hub_from_reply(rep, err, sizeof(err)));
	assert_string_equal(err, "hub refused status: unknown command");
	json_decref(rep);
	rep = json_loads("{\"ok\":true,\"edge\":{}}", 0, NULL);
	assert_null(ctl_hub_from_reply(rep, err, sizeof(err)));
	assert_string_equal(err, "hub status reply has no \"hub\" object");
	json_decref(rep);
	rep = json_loads(full_reply, 0, NULL);
	json_t *hub = ctl_hub_from_reply(rep, err, sizeof(err));
	json_decref(rep);
	/* The caller owns it: it outlives the reply. */
	assert_int_equal(json_integer_value(json_object_get(hub, "pid")), 4242);
	json_decref(hub);
}

static void test_wanted(void **state)
{
	(void)state;
	struct ctl_opts o;
	memset(&o, 0, sizeof(o));
	config_defaults(&o.cfg);
	snprintf(o.cfg.hub.control_socket, sizeof(o.cfg.hub.control_socket),
		 "/nonexistent/airlock-test/hub.sock");
	assert_false(ctl_hub_wanted(&o));
	o.cfg.hub.nlisten = 1;
	assert_true(ctl_hub_wanted(&o));
	o.cfg.hub.nlisten = 0;
	char dir[] = "/tmp/test_ctl_hub.XXXXXX";
	assert_non_null(mkdtemp(dir));
	snprintf(o.cfg.hub.control_socket, sizeof(o.cfg.hub.control_socket), "%s/hub.sock", dir);
	FILE *f = fopen(o.cfg.hub.control_socket, "w");
	assert_non_null(f);
	fclose(f);
	assert_true(ctl_hub_wanted(&o));
	unlink(o.cfg.hub.control_socket);
	rmdir(dir);
	config_release(&o.cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_status),    cmocka_unit_test(test_degraded),
		cmocka_unit_test(test_missing_fields), cmocka_unit_test(test_not_running),
		cmocka_unit_test(test_reply_checked),  cmocka_unit_test(test_wanted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
