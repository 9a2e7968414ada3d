/*
 * Control socket in a temporary directory: the server runs on this thread's
 * event loop, the blocking client control_request() on a second thread, and
 * raw clients write crafted lines. Every loop run is bounded by a timer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "relay/control.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_ms(struct event_base *base, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

#define RUN_UNTIL(base, cond, max_ms)                                                              \
	do {                                                                                       \
		long long deadline_ = now_ms() + (max_ms);                                         \
		while (!(cond) && now_ms() < deadline_)                                            \
			run_ms((base), 2);                                                         \
	} while (0)

/* ---- the daemon side ------------------------------------------------------- */

struct daemon {
	struct event_base *base;
	struct control_server *srv;
	char dir[64];
	char path[128];
	int status_calls;
	int slow_calls;
	struct control_reply *held; /* the "never" command's reply */
	struct event *slow_timer;
	struct control_reply *slow_reply;
};

static void status_cmd(void *arg, json_t *req, struct control_reply *r)
{
	struct daemon *d = arg;
	d->status_calls++;
	json_t *n = json_object_get(req, "n");
	json_t *obj = json_pack("{s:b, s:s}", "ok", 1, "state", "running");
	if (n)
		json_object_set(obj, "n", n);
	control_reply_send(r, obj);
}

static void slow_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *d = arg;
	struct control_reply *r = d->slow_reply;
	d->slow_reply = NULL;
	control_reply_send(r, json_pack("{s:b, s:b}", "ok", 1, "async", 1));
}

/* Answers 50 ms later, as a daemon does after asking a child over IPC. */
static void slow_cmd(void *arg, json_t *req, struct control_reply *r)
{
	(void)req;
	struct daemon *d = arg;
	d->slow_calls++;
	assert_null(d->slow_reply);
	d->slow_reply = r;
	struct timeval tv = {0, 50 * 1000};
	evtimer_add(d->slow_timer, &tv);
}

static void never_cmd(void *arg, json_t *req, struct control_reply *r)
{
	(void)req;
	struct daemon *d = arg;
	d->held = r;
}

static struct daemon D;

static const struct control_command commands[] = {
	{"status", status_cmd, &D},
	{"slow", slow_cmd, &D},
	{"never", never_cmd, &D},
};

static int setup(void **state)
{
	(void)state;
	memset(&D, 0, sizeof(D));
	snprintf(D.dir, sizeof(D.dir), "/tmp/airlock-control-XXXXXX");
	if (!mkdtemp(D.dir))
		return -1;
	snprintf(D.path, sizeof(D.path), "%s/edge.sock", D.dir);
	D.base = event_base_new();
	D.slow_timer = evtimer_new(D.base, slow_done, &D);
	char err[256];
	D.srv = control_server_new(D.base, D.path, commands, 3, err, sizeof(err));
	if (!D.srv) {
		fprintf(stderr, "control_server_new: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (D.held)
		control_reply_error(D.held, "shutting down");
	control_server_free(D.srv);
	if (D.slow_reply)
		control_reply_error(D.slow_reply, "shutting down");
	event_free(D.slow_timer);
	event_base_free(D.base);
	unlink(D.path);
	rmdir(D.dir);
	return 0;
}

/* ---- clients ---------------------------------------------------------------- */

struct call {
	char path[128];
	json_t *req;
	int timeout_ms;
	json_t *reply;
	char err[256];
	atomic_int done;
};

static void *call_thread(void *arg)
{
	struct call *c = arg;
	c->reply = control_request(c->path, c->req, c->timeout_ms, c->err, sizeof(c->err));
	atomic_store(&c->done, 1);
	return NULL;
}

/* control_request on another thread while this one runs the server. */
static json_t *call(const char *path, json_t *req, int timeout_ms, char *err, size_t errlen)
{
	struct call c = {.req = req, .timeout_ms = timeout_ms};
	snprintf(c.path, sizeof(c.path), "%s", path);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, call_thread, &c), 0);
	RUN_UNTIL(D.base, atomic_load(&c.done), timeout_ms + 3000);
	assert_int_equal(pthread_join(t, NULL), 0);
	json_decref(req);
	snprintf(err, errlen, "%s", c.err);
	return c.reply;
}

static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void raw_send(int fd, const char *text, size_t len)
{
	size_t off = 0;
	long long deadline = now_ms() + 3000;
	while (off < len && now_ms() < deadline) {
		ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else
			run_ms(D.base, 2);
	}
	assert_int_equal(off, len);
}

/*
 * Reads until `lines` lines have come (running the loop meanwhile) into out,
 * then reports whether the server closed the connection after them.
 */
static void raw_read(int fd, int lines, char *out, size_t outsz, int *eof)
{
	size_t used = 0;
	int seen = 0;
	*eof = 0;
	long long deadline = now_ms() + 3000;
	while (seen < lines && !*eof && now_ms() < deadline) {
		run_ms(D.base, 2);
		ssize_t n = recv(fd, out + used, outsz - 1 - used, 0);
		if (n == 0)
			*eof = 1;
		for (ssize_t i = 0; i < n; i++)
			seen += out[used + (size_t)i] == '\n';
		if (n > 0)
			used += (size_t)n;
	}
	if (!*eof) {
		/* Give the server a moment to show whether it closes. */
		run_ms(D.base, 20);
		ssize_t n = recv(fd, out + used, outsz - 1 - used, 0);
		if (n == 0)
			*eof = 1;
		else if (n > 0)
			used += (size_t)n;
	}
	out[used] = '\0';
}

/* ---- tests ------------------------------------------------------------------ */

static void test_status_round_trip(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(lstat(D.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);

	char err[256];
	json_t *reply = call(D.path, json_pack("{s:s, s:i}", "cmd", "status", "n", 5), 2000, err,
			     sizeof(err));
	if (!reply)
		fail_msg("control_request: %s", err);
	json_t *want = json_pack("{s:b, s:s, s:i}", "ok", 1, "state", "running", "n", 5);
	assert_true(json_equal(reply, want));
	json_decref(want);
	json_decref(reply);
	assert_int_equal(D.status_calls, 1);
}

static void test_malformed_lines_keep_connection(void **state)
{
	(void)state;
	int fd = raw_connect(D.path);
	static const char input[] = "{not json\n"
				    "[1,2]\n"
				    "42\n"
				    "{\"nocmd\":1}\n"
				    "{\"cmd\":7}\n"
				    "{\"cmd\":\"nope\"}\n"
				    "{\"cmd\":\"status\",\"cmd\":\"status\"}\n"
				    "{\"cmd\":\"status\"}\r\n";
	raw_send(fd, input, sizeof(input) - 1);
	char out[4096];
	int eof;
	raw_read(fd, 8, out, sizeof(out), &eof);
	assert_false(eof);
	char *lines[8];
	char *save = NULL;
	int n = 0;
	for (char *l = strtok_r(out, "\n", &save); l && n < 8; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	assert_int_equal(n, 8);
	assert_true(strncmp(lines[0], "{\"ok\":false,\"error\":\"malformed request: ", 40) == 0);
	assert_string_equal(lines[1], "{\"ok\":false,\"error\":\"request must be a JSON object\"}");
	assert_string_equal(lines[2], "{\"ok\":false,\"error\":\"request must be a JSON object\"}");
	assert_string_equal(lines[3], "{\"ok\":false,\"error\":\"missing cmd\"}");
	assert_string_equal(lines[4], "{\"ok\":false,\"error\":\"missing cmd\"}");
	assert_string_equal(lines[5], "{\"ok\":false,\"error\":\"unknown command\"}");
	/* Duplicate keys are refused, not resolved one way or the other. */
	assert_true(strncmp(lines[6], "{\"ok\":false,\"error\":\"malformed request: ", 40) == 0);
	assert_string_equal(lines[7], "{\"ok\":true,\"state\":\"running\"}");
	assert_int_equal(D.status_calls, 1);
	close(fd);
}

static void test_oversize_line_answered_then_closed(void **state)
{
	(void)state;
	int fd = raw_connect(D.path);
	size_t len = CONTROL_MAX_LINE + 100;
	char *big = malloc(len);
	memset(big, 'x', len);
	raw_send(fd, big, len);
	free(big);
	char out[512];
	int eof;
	raw_read(fd, 1, out, sizeof(out), &eof);
	assert_string_equal(out, "{\"ok\":false,\"error\":\"request too long\"}\n");
	assert_true(eof);
	close(fd);

	/* A line of exactly the limit is still served. */
	fd = raw_connect(D.path);
	big = malloc(CONTROL_MAX_LINE + 1);
	memset(big, ' ', CONTROL_MAX_LINE);
	memcpy(big, "{\"cmd\":\"status\"}", 16);
	big[CONTROL_MAX_LINE] = '\n';
	raw_send(fd, big, CONTROL_MAX_LINE + 1);
	free(big);
	raw_read(fd, 1, out, sizeof(out), &eof);
	assert_string_equal(out, "{\"ok\":true,\"state\":\"running\"}\n");
	assert_false(eof);
	close(fd);
}

static void test_async_reply_keeps_order(void **state)
{
	(void)state;
	int fd = raw_connect(D.path);
	static const char input[] = "{\"cmd\":\"slow\"}\n{\"cmd\":\"status\"}\n";
	raw_send(fd, input, sizeof(input) - 1);
	char out[512];
	int eof;
	raw_read(fd, 2, out, sizeof(out), &eof);
	assert_string_equal(out,
			    "{\"ok\":true,\"async\":true}\n{\"ok\":true,\"state\":\"running\"}\n");
	assert_int_equal(D.slow_calls, 1);
	close(fd);

	char err[256];
	json_t *reply = call(D.path, json_pack("{s:s}", "cmd", "slow"), 2000, err, sizeof(err));
	if (!reply)
		fail_msg("control_request: %s", err);
	assert_true(json_is_true(json_object_get(reply, "async")));
	json_decref(reply);
}

static void test_client_gone_before_async_reply(void **state)
{
	(void)state;
	int fd = raw_connect(D.path);
	raw_send(fd, "{\"cmd\":\"slow\"}\n", 15);
	RUN_UNTIL(D.base, D.slow_calls == 1, 2000);
	close(fd);
	run_ms(D.base, 20);
	/* The reply is sent into the void, without harm. */
	RUN_UNTIL(D.base, D.slow_reply == NULL, 2000);
	assert_null(D.slow_reply);
	/* And the server still answers. */
	char err[256];
	json_t *reply = call(D.path, json_pack("{s:s}", "cmd", "status"), 2000, err, sizeof(err));
	assert_non_null(reply);
	json_decref(reply);
}

static void test_client_errors(void **state)
{
	(void)state;
	char err[256];
	char missing[96];
	snprintf(missing, sizeof(missing), "%s/absent.sock", D.dir);
	json_t *req = json_pack("{s:s}", "cmd", "status");
	assert_null(control_request(missing, req, 500, err, sizeof(err)));
	char want[320];
	snprintf(want, sizeof(want), "control socket %s does not exist (is the daemon running?)",
		 missing);
	assert_string_equal(err, want);

	/* A socket file nobody listens on. */
	char stale[96];
	snprintf(stale, sizeof(stale), "%s/stale.sock", D.dir);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", stale);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	assert_null(control_request(stale, req, 500, err, sizeof(err)));
	snprintf(want, sizeof(want), "nothing is listening on control socket %s (stale socket)",
		 stale);
	assert_string_equal(err, want);
	unlink(stale);
	json_decref(req);

	/* A daemon that never answers. */
	long long t0 = now_ms();
	assert_null(call(D.path, json_pack("{s:s}", "cmd", "never"), 200, err, sizeof(err)));
	long long took = now_ms() - t0;
	snprintf(want, sizeof(want), "no reply from control socket %s within 200 ms", D.path);
	assert_string_equal(err, want);
	assert_true(took >= 190 && took < 2000);
	assert_non_null(D.held);
}

static void test_permission_denied(void **state)
{
	(void)state;
	char err[256];
	char want[320];
	snprintf(want, sizeof(want), "permission denied on control socket %s", D.path);
	if (geteuid() != 0) {
		/* Without root, take the permission away from ourselves. */
		assert_int_equal(chmod(D.path, 0), 0);
		json_t *req = json_pack("{s:s}", "cmd", "status");
		assert_null(control_request(D.path, req, 500, err, sizeof(err)));
		json_decref(req);
		assert_string_equal(err, want);
		chmod(D.path, 0660);
		return;
	}
	struct passwd *pw = getpwnam("nobody");
	if (!pw) {
		print_message("skipped: no user nobody to test the socket's permissions\n");
		skip();
	}
	/* The directory is searchable, so the socket's own mode is what refuses. */
	assert_int_equal(chmod(D.dir, 0755), 0);
	int res[2];
	assert_int_equal(pipe(res), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char cerr[256] = "";
		if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
			snprintf(cerr, sizeof(cerr), "cannot become nobody");
		else {
			json_t *req = json_pack("{s:s}", "cmd", "status");
			json_t *reply = control_request(D.path, req, 500, cerr, sizeof(cerr));
			if (reply)
				snprintf(cerr, sizeof(cerr), "unexpectedly answered");
		}
		ssize_t w = write(res[1], cerr, strlen(cerr));
		_exit(w < 0);
	}
	close(res[1]);
	char got[256] = "";
	ssize_t n = read(res[0], got, sizeof(got) - 1);
	close(res[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(n > 0);
	got[n] = '\0';
	assert_string_equal(got, want);
	assert_int_equal(D.status_calls, 0);
}

static void test_socket_path_claims(void **state)
{
	(void)state;
	char err[256];
	/* A live server already listens at D.path. */
	assert_null(control_server_new(D.base, D.path, commands, 3, err, sizeof(err)));
	char want[320];
	snprintf(want, sizeof(want), "another daemon is listening on control socket %s", D.path);
	assert_string_equal(err, want);

	/* A regular file is never removed. */
	char file[96];
	snprintf(file, sizeof(file), "%s/plain", D.dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_null(control_server_new(D.base, file, commands, 3, err, sizeof(err)));
	snprintf(want, sizeof(want), "control socket %s exists and is not a socket", file);
	assert_string_equal(err, want);
	assert_int_equal(access(file, F_OK), 0);
	unlink(file);

	/* A stale socket is replaced, and removed again when the server goes. */
	char stale[96];
	snprintf(stale, sizeof(stale), "%s/old.sock", D.dir);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", stale);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	struct control_server *second =
		control_server_new(D.base, stale, commands, 3, err, sizeof(err));
	if (!second)
		fail_msg("control_server_new on a stale socket: %s", err);
	json_t *reply = call(stale, json_pack("{s:s}", "cmd", "status"), 2000, err, sizeof(err));
	assert_non_null(reply);
	json_decref(reply);
	control_server_free(second);
	assert_int_equal(access(stale, F_OK), -1);
}

int main(void)
{
	log_init("test_control", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lines_keep_connection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oversize_line_answered_then_closed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_async_reply_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_gone_before_async_reply, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_client_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_path_claims, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
