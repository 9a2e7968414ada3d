/*
 * Control socket: the server side on libevent, the request parser, and the
 * blocking client used by airlockctl.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "relay/control.h"

/* Reading pauses while this much output waits for a client that does not read. */
#define CONTROL_MAX_OUTPUT (1024 * 1024)
/* An idle connection is closed after this long. */
#define CONTROL_IDLE_S 60

struct control_conn {
	struct control_server *s;
	struct bufferevent *bev;
	struct event *resume;	       /* processes buffered lines after an async reply */
	struct control_reply *pending; /* the request being answered, or NULL */
	int processing;		       /* inside process_lines */
	int eof;		       /* the client has finished writing */
	int finishing;		       /* close once the output is written */
	struct control_conn *next;
};

struct control_reply {
	struct control_conn *conn; /* NULL once the client has gone */
};

struct control_server {
	struct event_base *base;
	char *path;
	const struct control_command *cmds;
	size_t ncmds;
	struct evconnlistener *listener;
	dev_t dev;
	ino_t ino;
	struct control_conn *conns;
	size_t nconns;
};

/* ---- parsing ------------------------------------------------------------- */

json_t *control_parse_request(const char *line, size_t len, const char **cmd, char *err,
			      size_t errlen)
{
	if (len > CONTROL_MAX_LINE) {
		snprintf(err, errlen, "request too long");
		return NULL;
	}
	json_error_t je;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!req) {
		snprintf(err, errlen, "malformed request: %s", je.text);
		return NULL;
	}
	if (!json_is_object(req)) {
		snprintf(err, errlen, "request must be a JSON object");
		json_decref(req);
		return NULL;
	}
	json_t *c = json_object_get(req, "cmd");
	if (!json_is_string(c)) {
		snprintf(err, errlen, "missing cmd");
		json_decref(req);
		return NULL;
	}
	*cmd = json_string_value(c);
	return req;
}

/* ---- connections --------------------------------------------------------- */

static void conn_free(struct control_conn *conn)
{
	struct control_server *s = conn->s;
	for (struct control_conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == conn) {
			*pp = conn->next;
			break;
		}
	}
	s->nconns--;
	if (conn->pending)
		conn->pending->conn = NULL;
	bufferevent_free(conn->bev);
	event_free(conn->resume);
	free(conn);
}

static void write_json(struct control_conn *conn, json_t *obj)
{
	char *text = json_is_object(obj) ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (!text) {
		log_error("event=control-error reason=\"reply cannot be encoded\"");
		static const char fallback[] = "{\"ok\":false,\"error\":\"internal error\"}\n";
		bufferevent_write(conn->bev, fallback, sizeof(fallback) - 1);
		return;
	}
	bufferevent_write(conn->bev, text, strlen(text));
	bufferevent_write(conn->bev, "\n", 1);
	free(text);
}

static void write_error(struct control_conn *conn, const char *msg)
{
	json_t *obj = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
	write_json(conn, obj);
	json_decref(obj);
}

/* Frees the connection if it is done. Returns 1 if it was freed. */
static int maybe_finish(struct control_conn *conn)
{
	if (conn->finishing && !conn->pending &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
		conn_free(conn);
		return 1;
	}
	return 0;
}

static void dispatch(struct control_conn *conn, const char *line, size_t len)
{
	char err[256];
	const char *cmd;
	json_t *req = control_parse_request(line, len, &cmd, err, sizeof(err));
	if (!req) {
		write_error(conn, err);
		return;
	}
	const struct control_command *found = NULL;
	for (size_t i = 0; i < conn->s->ncmds && !found; i++)
		if (strcmp(conn->s->cmds[i].name, cmd) == 0)
			found = &conn->s->cmds[i];
	if (!found) {
		write_error(conn, "unknown command");
		json_decref(req);
		return;
	}
	struct control_reply *r = calloc(1, sizeof(*r));
	if (!r) {
		write_error(conn, "out of memory");
		json_decref(req);
		return;
	}
	r->conn = conn;
	conn->pending = r;
	bufferevent_disable(conn->bev, EV_READ);
	found->handler(found->arg, req, r);
	json_decref(req);
}

/*
 * Handles every complete line while no reply is pending and the client keeps
 * reading. Returns 1 if conn was freed.
 */
static int process_lines(struct control_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	conn->processing = 1;
	while (!conn->pending && !conn->finishing) {
		if (evbuffer_get_length(bufferevent_get_output(conn->bev)) > CONTROL_MAX_OUTPUT) {
			/* The write callback resumes once the client has read. */
			bufferevent_disable(conn->bev, EV_READ);
			conn->processing = 0;
			return 0;
		}
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (!line) {
			/* + 1: the line may still end in CR before its LF. */
			if (evbuffer_get_length(in) > CONTROL_MAX_LINE + 1) {
				write_error(conn, "request too long");
				conn->finishing = 1;
			} else if (conn->eof) {
				/* A last line without its newline is not a request. */
				conn->finishing = 1;
			}
			break;
		}
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n > CONTROL_MAX_LINE) {
			write_error(conn, "request too long");
			conn->finishing = 1;
		} else {
			dispatch(conn, line, n);
		}
		free(line);
	}
	conn->processing = 0;
	if (conn->pending || conn->finishing || conn->eof)
		bufferevent_disable(conn->bev, EV_READ);
	else
		bufferevent_enable(conn->bev, EV_READ);
	return maybe_finish(conn);
}

/* Carries on after a reply was sent or the output drained. */
static void proceed(struct control_conn *conn)
{
	if (maybe_finish(conn))
		return;
	if (!conn->pending && !conn->finishing)
		process_lines(conn);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_lines(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	proceed(arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct control_conn *conn = arg;
	if (what & BEV_EVENT_EOF) {
		/* The client finished writing: answer what it sent, then close. */
		conn->eof = 1;
		proceed(conn);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("event=control-timeout");
	conn_free(conn);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	proceed(arg);
}

void control_reply_send(struct control_reply *r, json_t *obj)
{
	struct control_conn *conn = r->conn;
	free(r);
	if (!conn) {
		json_decref(obj);
		return;
	}
	conn->pending = NULL;
	write_json(conn, obj);
	json_decref(obj);
	/* Not re-entering process_lines from inside a handler: the loop does it. */
	if (!conn->processing)
		event_active(conn->resume, EV_TIMEOUT, 0);
}

void control_reply_error(struct control_reply *r, const char *msg)
{
	control_reply_send(r, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)lis;
	(void)sa;
	(void)salen;
	struct control_server *s = arg;
	if (s->nconns >= CONTROL_MAX_CONNS) {
		log_warning("event=control-refused reason=\"too many connections\"");
		evutil_closesocket(fd);
		return;
	}
	struct control_conn *conn = calloc(1, sizeof(*conn));
	if (conn) {
		conn->s = s;
		conn->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
		conn->resume = event_new(s->base, -1, 0, on_resume, conn);
	}
	if (!conn || !conn->bev || !conn->resume) {
		log_error("event=control-error reason=\"out of memory\"");
		if (conn && conn->bev)
			bufferevent_free(conn->bev);
		else
			evutil_closesocket(fd);
		if (conn && conn->resume)
			event_free(conn->resume);
		free(conn);
		return;
	}
	conn->next = s->conns;
	s->conns = conn;
	s->nconns++;
	struct timeval idle = {CONTROL_IDLE_S, 0};
	bufferevent_set_timeouts(conn->bev, &idle, &idle);
	bufferevent_setcb(conn->bev, on_read, on_write, on_event, conn);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
}

/* ---- the listening socket -------------------------------------------------- */

/* Removes a stale socket at path; refuses a live one or anything else. */
static int clear_stale(const char *path, const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "control socket %s exists and is not a socket", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	int saved = errno;
	close(fd);
	if (rc == 0 || saved == EAGAIN) {
		snprintf(err, errlen, "another daemon is listening on control socket %s", path);
		return -1;
	}
	if (saved != ECONNREFUSED) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(saved));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale control socket %s: %s", path,
			 strerror(errno));
		return -1;
	}
	log_info("event=control-stale-removed path=%s", path);
	return 0;
}

struct control_server *control_server_new(struct event_base *base, const char *path,
					  const struct control_command *cmds, size_t ncmds,
					  char *err, size_t errlen)
{
	struct sockaddr_un sun;
	if (control_socket_addr(path, &sun, err, errlen) != 0 ||
	    clear_stale(path, &sun, err, errlen) != 0)
		return NULL;
	/* A client that hangs up before its reply must not kill the daemon. */
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	struct control_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->cmds = cmds;
	s->ncmds = ncmds;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		goto fail;
	}
	/* Created 0660 from the start, so no other user ever sees it open. */
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	int saved = errno;
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind control socket %s: %s", path, strerror(saved));
		close(fd);
		goto fail;
	}
	struct stat st;
	if (chmod(path, 0660) != 0 || lstat(path, &st) != 0 || listen(fd, 16) != 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto fail;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->listener = evconnlistener_new(base, on_accept, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!s->listener) {
		snprintf(err, errlen, "control socket %s: cannot listen", path);
		close(fd);
		unlink(path);
		goto fail;
	}
	return s;
fail:
	free(s->path);
	free(s);
	return NULL;
}

void control_server_free(struct control_server *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_free(s->conns);
	evconnlistener_free(s->listener);
	struct stat st;
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s->path);
	free(s);
}

/* ---- the blocking client ------------------------------------------------------ */
