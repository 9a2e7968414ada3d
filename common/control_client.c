/*
 * Blocking control-socket client.
 */
#include "common/clock.h"
#include "common/control_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int control_socket_addr(const char *path, struct sockaddr_un *sun, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "control socket path %s is too long", path);
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Waits for events on fd until deadline. Returns 1 when ready, 0 on timeout, -1 on error. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - clock_mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int client_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	if (control_socket_addr(path, &sun, err, errlen) != 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	int e = errno;
	close(fd);
	if (e == ENOENT)
		snprintf(err, errlen, "control socket %s does not exist (is the daemon running?)",
			 path);
	else if (e == EACCES || e == EPERM)
		snprintf(err, errlen, "permission denied on control socket %s", path);
	else if (e == ECONNREFUSED)
		snprintf(err, errlen, "nothing is listening on control socket %s (stale socket)",
			 path);
	else if (e == EAGAIN)
		snprintf(err, errlen, "control socket %s is busy", path);
	else
		snprintf(err, errlen, "cannot connect to control socket %s: %s", path, strerror(e));
	return -1;
}

static int client_send(int fd, const char *path, const char *buf, size_t len, long long deadline,
		       int timeout_ms, char *err, size_t errlen)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "control socket %s: send: %s", path, strerror(errno));
			return -1;
		}
		if (wait_fd(fd, POLLOUT, deadline) != 1) {
			snprintf(err, errlen, "no reply from control socket %s within %d ms", path,
				 timeout_ms);
			return -1;
		}
	}
	return 0;
}

/* Reads up to the first newline. Returns the line (without it; caller frees), or NULL. */
static char *client_read_line(int fd, const char *path, long long deadline, int timeout_ms,
			      size_t *len, char *err, size_t errlen)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	while (buf) {
		char *nl = used ? memchr(buf, '\n', used) : NULL;
		if (nl) {
			*len = (size_t)(nl - buf);
			return buf;
		}
		if (used == cap) {
			if (cap >= CONTROL_MAX_REPLY) {
				snprintf(err, errlen, "reply from control socket %s is too long",
					 path);
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + used, cap - used, 0);
		if (n > 0) {
			used += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(err, errlen,
				 "control socket %s closed the connection without a reply", path);
			break;
		}
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "control socket %s: recv: %s", path, strerror(errno));
			break;
		}
		if (wait_fd(fd, POLLIN, deadline) != 1) {
			snprintf(err, errlen, "no reply from control socket %s within %d ms", path,
				 timeout_ms);
			break;
		}
	}
	free(buf);
	return NULL;
}

json_t *control_request(const char *path, const json_t *req, int timeout_ms, char *err,
			size_t errlen)
{
	long long deadline = clock_mono_ms() + timeout_ms;
	char *text = json_dumps(req, JSON_COMPACT);
	if (!text || !json_is_object(req)) {
		free(text);
		snprintf(err, errlen, "request is not a JSON object");
		return NULL;
	}
	int fd = client_connect(path, err, errlen);
	if (fd < 0) {
		free(text);
		return NULL;
	}
	size_t tlen = strlen(text);
	int rc = client_send(fd, path, text, tlen, deadline, timeout_ms, err, errlen);
	if (rc == 0)
		rc = client_send(fd, path, "\n", 1, deadline, timeout_ms, err, errlen);
	free(text);
	size_t len = 0;
	char *line = rc == 0 ? client_read_line(fd, path, deadline, timeout_ms, &len, err, errlen)
			     : NULL;
	close(fd);
	if (!line)
		return NULL;
	json_error_t je;
	json_t *reply = json_loadb(line, len, 0, &je);
	free(line);
	if (!reply || !json_is_object(reply)) {
		snprintf(err, errlen, "malformed reply from control socket %s", path);
		json_decref(reply);
		return NULL;
	}
	return reply;
}
