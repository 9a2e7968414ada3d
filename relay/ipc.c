/*
 * IPC channels: framing, descriptor passing and the fail-closed reader.
 *
 * Descriptors are matched to messages by stream offset. The sender hands a
 * descriptor to sendmsg() only when the write starts exactly at the first
 * byte of the message that announces it, so the kernel attaches it to that
 * byte. A unix stream recvmsg() may glue earlier bytes in front of the
 * segment that carries a descriptor but stops right after it, so the
 * descriptor arrives with a chunk of bytes [from, to) that contains the first
 * byte of its message. A message announcing a descriptor must start inside
 * the chunk of the oldest unclaimed descriptor; a message starting past that
 * chunk means the descriptor had no message.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "relay/ipc.h"

/* Bytes asked of each recvmsg(). */
#define IPC_READ_CHUNK 65536
/* Descriptors received and not yet claimed; one per recvmsg() at most. */
#define IPC_MAX_RX_FDS 4
/* iovecs per sendmsg(). */
#define IPC_MAX_IOV 16

struct ipc_out_fd {
	int fd;
	uint64_t at; /* stream offset of the message's first byte */
};

struct ipc_in_fd {
	int fd;
	uint64_t from, to; /* stream offsets of the bytes it arrived with */
};

struct ipc_chan {
	struct event_base *base;
	int fd;
	struct event *rev;
	struct event *wev;
	ipc_handler_fn handler;
	void *arg;
	char name[32];
	int closed;
	int in_handler;
	int free_pending;

	struct evbuffer *in;
	uint64_t in_start; /* stream offset of in's first byte */
	uint64_t in_total; /* bytes received */
	struct ipc_in_fd rx_fds[IPC_MAX_RX_FDS];
	size_t n_rx_fds;

	struct evbuffer *out;
	uint64_t out_sent;   /* bytes written */
	uint64_t out_queued; /* bytes queued, including the written ones */
	struct ipc_out_fd *tx_fds;
	size_t tx_head, tx_count, tx_cap;
};

static void chan_destroy(struct ipc_chan *c);

/* ---- header ----------------------------------------------------------- */

void ipc_hdr_encode(const struct ipc_hdr *h, uint8_t out[IPC_HDR_LEN])
{
	out[0] = (uint8_t)(h->type >> 8);
	out[1] = (uint8_t)h->type;
	out[2] = h->version;
	out[3] = h->flags;
	out[4] = (uint8_t)(h->len >> 24);
	out[5] = (uint8_t)(h->len >> 16);
	out[6] = (uint8_t)(h->len >> 8);
	out[7] = (uint8_t)h->len;
}

void ipc_hdr_decode(const uint8_t in[IPC_HDR_LEN], struct ipc_hdr *h)
{
	h->type = (uint16_t)((in[0] << 8) | in[1]);
	h->version = in[2];
	h->flags = in[3];
	h->len = ((uint32_t)in[4] << 24) | ((uint32_t)in[5] << 16) | ((uint32_t)in[6] << 8) | in[7];
}

int ipc_hdr_check(const struct ipc_hdr *h, const char **why)
{
	const char *reason = NULL;
	if (h->version != IPC_VERSION)
		reason = "unknown version";
	else if (h->flags & ~IPC_FLAG_FD)
		reason = "unknown flags";
	else if (h->len > IPC_MAX_PAYLOAD)
		reason = "payload too long";
	else if (h->type == IPC_CLOSED)
		reason = "reserved type";
	if (why)
		*why = reason;
	return reason ? -1 : 0;
}

/* ---- writer ------------------------------------------------------------ */

void ipc_writer_init(struct ipc_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void ipc_writer_free(struct ipc_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

int ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n)
{
	if (w->failed || n > IPC_MAX_PAYLOAD - w->len) {
		w->failed = 1;
		return -1;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		if (cap > IPC_MAX_PAYLOAD)
			cap = IPC_MAX_PAYLOAD;
		uint8_t *nb = realloc(w->buf, cap);
		if (!nb) {
			w->failed = 1;
			return -1;
		}
		w->buf = nb;
		w->cap = cap;
	}
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

int ipc_put_u8(struct ipc_writer *w, uint8_t v)
{
	return ipc_put_bytes(w, &v, 1);
}

int ipc_put_u32(struct ipc_writer *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return ipc_put_bytes(w, b, sizeof(b));
}

int ipc_put_u64(struct ipc_writer *w, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return ipc_put_bytes(w, b, sizeof(b));
}

int ipc_put_str(struct ipc_writer *w, const char *s)
{
	size_t n = strlen(s);
	if (n > IPC_MAX_PAYLOAD) {
		w->failed = 1;
		return -1;
	}
	if (ipc_put_u32(w, (uint32_t)n) != 0)
		return -1;
	return ipc_put_bytes(w, s, n);
}

/* ---- reader ------------------------------------------------------------ */

void ipc_reader_init(struct ipc_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->failed = 0;
}

/* Whether n more bytes are there; marks the reader failed if not. */
static int reader_has(struct ipc_reader *r, size_t n)
{
	if (r->failed || n > r->len - r->off) {
		r->failed = 1;
		return 0;
	}
	return 1;
}

int ipc_get_bytes(struct ipc_reader *r, void *out, size_t n)
{
	if (!reader_has(r, n))
		return -1;
	if (n)
		memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

int ipc_get_u8(struct ipc_reader *r, uint8_t *out)
{
	return ipc_get_bytes(r, out, 1);
}

int ipc_get_u32(struct ipc_reader *r, uint32_t *out)
{
	uint8_t b[4];
	if (ipc_get_bytes(r, b, sizeof(b)) != 0)
		return -1;
	*out = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
	return 0;
}

int ipc_get_u64(struct ipc_reader *r, uint64_t *out)
{
	uint8_t b[8];
	if (ipc_get_bytes(r, b, sizeof(b)) != 0)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	*out = v;
	return 0;
}

/* Reads a string's length and checks its bytes are there and hold no NUL. */
static int reader_str_span(struct ipc_reader *r, size_t max, const uint8_t **s, size_t *n)
{
	size_t save = r->off;
	uint32_t len;
	if (ipc_get_u32(r, &len) != 0)
		return -1;
	if (len > max || !reader_has(r, len) || memchr(r->p + r->off, '\0', len)) {
		r->off = save;
		r->failed = 1;
		return -1;
	}
	*s = r->p + r->off;
	*n = len;
	r->off += len;
	return 0;
}

int ipc_get_str(struct ipc_reader *r, char *out, size_t outsz)
{
	const uint8_t *s;
	size_t n;
	if (outsz == 0) {
		r->failed = 1;
		return -1;
	}
	if (reader_str_span(r, outsz - 1, &s, &n) != 0)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int ipc_get_str_alloc(struct ipc_reader *r, size_t max, char **out)
{
	const uint8_t *s;
	size_t n;
	if (reader_str_span(r, max, &s, &n) != 0)
		return -1;
	char *copy = malloc(n + 1);
	if (!copy) {
		r->failed = 1;
		return -1;
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	*out = copy;
	return 0;
}

int ipc_get_end(struct ipc_reader *r)
{
	if (r->failed || r->off != r->len) {
		r->failed = 1;
		return -1;
	}
	return 0;
}

/* ---- closing ------------------------------------------------------------ */

static void close_queued_fds(struct ipc_chan *c)
{
	for (size_t i = 0; i < c->n_rx_fds; i++)
		close(c->rx_fds[i].fd);
	c->n_rx_fds = 0;
	for (size_t i = c->tx_head; i < c->tx_head + c->tx_count; i++)
		close(c->tx_fds[i].fd);
	c->tx_head = c->tx_count = 0;
}

/*
 * Closes the channel and tells the handler. Returns -1 if the handler freed
 * the channel (it is gone), 0 otherwise.
 */
static int chan_close(struct ipc_chan *c)
{
	if (c->closed)
		return 0;
	c->closed = 1;
	event_del(c->rev);
	event_del(c->wev);
	close(c->fd);
	c->fd = -1;
	close_queued_fds(c);
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	c->in_handler++;
	c->handler(c->arg, IPC_CLOSED, NULL, -1);
	c->in_handler--;
	if (c->free_pending && c->in_handler == 0) {
		chan_destroy(c);
		return -1;
	}
	return 0;
}

static int protocol_error(struct ipc_chan *c, const char *why, unsigned type)
{
	log_error("event=ipc-protocol-error chan=%s reason=\"%s\" type=%u", c->name, why, type);
	return chan_close(c);
}

/* ---- receiving --------------------------------------------------------- */

/*
 * Delivers every complete message in the input buffer. Returns -1 if the
 * channel is gone (freed), 0 otherwise (it may have closed).
 */
static int deliver_messages(struct ipc_chan *c)
{
	while (!c->closed) {
		uint8_t raw[IPC_HDR_LEN];
		struct ipc_hdr h;
		const char *why;
		size_t have = evbuffer_get_length(c->in);
		if (have < IPC_HDR_LEN)
			break;
		evbuffer_copyout(c->in, raw, IPC_HDR_LEN);
		ipc_hdr_decode(raw, &h);
		if (ipc_hdr_check(&h, &why) != 0)
			return protocol_error(c, why, h.type);
		size_t total = IPC_HDR_LEN + (size_t)h.len;
		if (have < total)
			break;

		uint64_t start = c->in_start;
		int fd = -1;
		if (c->n_rx_fds > 0 && c->rx_fds[0].to <= start)
			return protocol_error(c, "descriptor without a message", h.type);
		if (h.flags & IPC_FLAG_FD) {
			if (c->n_rx_fds == 0 || c->rx_fds[0].from > start)
				return protocol_error(c, "message without its descriptor", h.type);
			fd = c->rx_fds[0].fd;
			memmove(c->rx_fds, c->rx_fds + 1, --c->n_rx_fds * sizeof(c->rx_fds[0]));
		}

		const uint8_t *msg = evbuffer_pullup(c->in, (ev_ssize_t)total);
		if (!msg) {
			if (fd != -1)
				close(fd);
			log_error("event=ipc-error chan=%s reason=\"out of memory\"", c->name);
			return chan_close(c);
		}
		struct ipc_reader r;
		ipc_reader_init(&r, msg + IPC_HDR_LEN, h.len);
		c->in_handler++;
		int rc = c->handler(c->arg, h.type, &r, fd);
		c->in_handler--;
		if (c->free_pending && c->in_handler == 0) {
			chan_destroy(c);
			return -1;
		}
		if (c->closed)
			break;
		if (rc != 0 || r.failed || r.off != r.len)
			return protocol_error(c, "malformed payload", h.type);
		evbuffer_drain(c->in, total);
		c->in_start += total;
	}
	return 0;
}

/*
 * The descriptor that came with one recvmsg() into *fd (-1: none), or a
 * reason why the descriptors cannot be ours (cut short, more than one), all
 * of them then closed. The control buffer holds CMSG_SPACE of 8 ints.
 */
static const char *take_fd(struct msghdr *mh, int *fd)
{
	int fds[8];
	size_t nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && nfds < 8; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	const char *bad = mh->msg_flags & MSG_CTRUNC ? "descriptors truncated"
			  : nfds > 1		     ? "several descriptors at once"
						     : NULL;
	*fd = nfds == 1 && !bad ? fds[0] : -1;
	if (bad)
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
	return bad;
}

/*
 * One recvmsg() and the deliveries it allows. Returns 1 if bytes came, 0 if
 * none were waiting, -1 if the channel closed or is gone.
 */
static int read_once(struct ipc_chan *c)
{
	struct evbuffer_iovec v[2];
	int nv = evbuffer_reserve_space(c->in, IPC_READ_CHUNK, v, 2);
	if (nv <= 0) {
		log_error("event=ipc-error chan=%s reason=\"out of memory\"", c->name);
		chan_close(c);
		return -1;
	}
	struct iovec iov[2];
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)nv};
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0) {
		evbuffer_commit_space(c->in, v, 0);
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		log_error("event=ipc-error chan=%s reason=\"read: %s\"", c->name, strerror(errno));
		chan_close(c);
		return -1;
	}

	int fd;
	const char *bad = take_fd(&mh, &fd);
	if (!bad && fd != -1 && c->n_rx_fds == IPC_MAX_RX_FDS) {
		close(fd);
		bad = "too many unclaimed descriptors";
	}
	if (bad) {
		evbuffer_commit_space(c->in, v, 0);
		protocol_error(c, bad, 0);
		return -1;
	}
	if (fd != -1)
		c->rx_fds[c->n_rx_fds++] =
			(struct ipc_in_fd){.fd = fd, .from = c->in_total, .to = c->in_total + n};

	size_t left = (size_t)n;
	for (int i = 0; i < nv; i++) {
		size_t take = left < v[i].iov_len ? left : v[i].iov_len;
		v[i].iov_len = take;
		left -= take;
	}
	evbuffer_commit_space(c->in, v, nv);
	c->in_total += (uint64_t)n;

	if (n == 0) {
		if (evbuffer_get_length(c->in) > 0)
			log_warning("event=ipc-eof chan=%s reason=\"peer closed mid-message\"",
				    c->name);
		else if (c->n_rx_fds > 0)
			log_error("event=ipc-protocol-error chan=%s "
				  "reason=\"descriptor without a message\"",
				  c->name);
		else
			log_debug("event=ipc-eof chan=%s", c->name);
		chan_close(c);
		return -1;
	}
	if (deliver_messages(c) != 0 || c->closed)
		return -1;
	return 1;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_once(arg);
}

void ipc_chan_read_now(struct ipc_chan *c)
{
	if (!c || c->in_handler)
		return;
	while (!c->closed && read_once(c) == 1)
		;
}

/* ---- sending ------------------------------------------------------------ */

/* Room for one descriptor's SCM_RIGHTS control message. */
union fd_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int))];
};

/* Makes mh carry fd (SCM_RIGHTS) in ctl. */
static void attach_fd(struct msghdr *mh, union fd_ctl *ctl, int fd)
{
	memset(ctl, 0, sizeof(*ctl));
	mh->msg_control = ctl->buf;
	mh->msg_controllen = sizeof(ctl->buf);
	struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
}

/*
 * Writes as much as the socket takes. Returns -1 if the channel closed or is
 * gone. From ipc_send() (in_send) an error is left for the write event to
 * find, so that the channel never closes under its caller.
 */
static int flush_out(struct ipc_chan *c, bool in_send)
{
	while (!c->closed && c->out_sent < c->out_queued) {
		uint64_t limit = c->out_queued - c->out_sent;
		size_t next = c->tx_head;
		int with_fd = c->tx_count > 0 && c->tx_fds[next].at == c->out_sent;
		if (with_fd)
			next++;
		/* Stop before the next descriptor's message, so it starts a sendmsg(). */
		if (next < c->tx_head + c->tx_count && c->tx_fds[next].at - c->out_sent < limit)
			limit = c->tx_fds[next].at - c->out_sent;

		struct evbuffer_iovec v[IPC_MAX_IOV];
		int nv = evbuffer_peek(c->out, (ev_ssize_t)limit, NULL, v, IPC_MAX_IOV);
		if (nv > IPC_MAX_IOV)
			nv = IPC_MAX_IOV;
		struct iovec iov[IPC_MAX_IOV];
		size_t want = 0;
		for (int i = 0; i < nv; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			if (want + iov[i].iov_len > limit)
				iov[i].iov_len = (size_t)(limit - want);
			want += iov[i].iov_len;
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)nv};
		union fd_ctl ctl;
		if (with_fd)
			attach_fd(&mh, &ctl, c->tx_fds[c->tx_head].fd);
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || in_send) {
				event_add(c->wev, NULL);
				return 0;
			}
			log_error("event=ipc-error chan=%s reason=\"write: %s\"", c->name,
				  strerror(errno));
			chan_close(c);
			return -1;
		}
		if (with_fd) {
			close(c->tx_fds[c->tx_head].fd);
			c->tx_head++;
			c->tx_count--;
		}
		evbuffer_drain(c->out, (size_t)n);
		c->out_sent += (uint64_t)n;
	}
	if (c->tx_count == 0)
		c->tx_head = 0;
	if (!c->closed)
		event_del(c->wev);
	return 0;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_out(arg, false);
}

static int push_tx_fd(struct ipc_chan *c, int fd, uint64_t at)
{
	if (c->tx_head + c->tx_count == c->tx_cap) {
		if (c->tx_head > 0) {
			memmove(c->tx_fds, c->tx_fds + c->tx_head,
				c->tx_count * sizeof(*c->tx_fds));
			c->tx_head = 0;
		} else {
			size_t cap = c->tx_cap ? c->tx_cap * 2 : 8;
			struct ipc_out_fd *n = realloc(c->tx_fds, cap * sizeof(*n));
			if (!n)
				return -1;
			c->tx_fds = n;
			c->tx_cap = cap;
		}
	}
	c->tx_fds[c->tx_head + c->tx_count++] = (struct ipc_out_fd){.fd = fd, .at = at};
	return 0;
}

int ipc_send(struct ipc_chan *c, uint16_t type, const void *payload, size_t len, int fd)
{
	if (c->closed || type == IPC_CLOSED || len > IPC_MAX_PAYLOAD)
		return -1;
	if (ipc_chan_queued(c) + IPC_HDR_LEN + len > IPC_MAX_QUEUED ||
	    (fd != -1 && c->tx_count >= IPC_MAX_QUEUED_FDS)) {
		log_warning("event=ipc-queue-full chan=%s queued=%zu", c->name, ipc_chan_queued(c));
		return -1;
	}
	int dup_fd = -1;
	if (fd != -1) {
		dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dup_fd < 0)
			return -1;
	}
	struct ipc_hdr h = {.type = type,
			    .version = IPC_VERSION,
			    .flags = fd != -1 ? IPC_FLAG_FD : 0,
			    .len = (uint32_t)len};
	uint8_t raw[IPC_HDR_LEN];
	ipc_hdr_encode(&h, raw);
	size_t before = evbuffer_get_length(c->out);
	if ((dup_fd != -1 && push_tx_fd(c, dup_fd, c->out_queued) != 0) ||
	    evbuffer_add(c->out, raw, sizeof(raw)) != 0 ||
	    (len && evbuffer_add(c->out, payload, len) != 0)) {
		/* Out of memory: undo, so the stream stays well-formed. */
		size_t now = evbuffer_get_length(c->out);
		if (now > before)
			evbuffer_drain(c->out, now - before);
		if (dup_fd != -1) {
			if (c->tx_count && c->tx_fds[c->tx_head + c->tx_count - 1].fd == dup_fd)
				c->tx_count--;
			close(dup_fd);
		}
		return -1;
	}
	c->out_queued += IPC_HDR_LEN + len;
	/*
	 * Nothing was waiting: write now, without a trip through the event loop
	 * (a write event armed and a loop pass per message). What the socket does
	 * not take waits for the write event.
	 */
	if (before == 0)
		flush_out(c, true);
	else
		event_add(c->wev, NULL);
	return 0;
}

int ipc_send_writer(struct ipc_chan *c, uint16_t type, const struct ipc_writer *w, int fd)
{
	if (w->failed)
		return -1;
	return ipc_send(c, type, w->buf, w->len, fd);
}

int ipc_write_msg(int sock, uint16_t type, const struct ipc_writer *w, int fd, int timeout_ms)
{
	if (w->failed || type == IPC_CLOSED || w->len > IPC_MAX_PAYLOAD) {
		errno = EINVAL;
		return -1;
	}
	struct ipc_hdr h = {.type = type,
			    .version = IPC_VERSION,
			    .flags = fd != -1 ? IPC_FLAG_FD : 0,
			    .len = (uint32_t)w->len};
	uint8_t raw[IPC_HDR_LEN];
	ipc_hdr_encode(&h, raw);
	size_t total = IPC_HDR_LEN + w->len, sent = 0;
	long long deadline = clock_mono_ms() + timeout_ms;
	while (sent < total) {
		struct iovec iov[2];
		int n = 0;
		if (sent < IPC_HDR_LEN)
			iov[n++] = (struct iovec){raw + sent, IPC_HDR_LEN - sent};
		size_t poff = sent > IPC_HDR_LEN ? sent - IPC_HDR_LEN : 0;
		if (w->len > poff)
			iov[n++] = (struct iovec){w->buf + poff, w->len - poff};
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		union fd_ctl ctl;
		if (fd != -1 && sent == 0)
			attach_fd(&mh, &ctl, fd);
		ssize_t k = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k > 0) {
			sent += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		long long left = deadline - clock_mono_ms();
		struct pollfd p = {.fd = sock, .events = POLLOUT};
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
	return 0;
}

/*
 * One recvmsg() of at most len bytes into buf, waiting for them (the socket
 * may be non-blocking); a descriptor that came with them goes to *fd (-1:
 * none).
 * Returns the bytes read (0 at EOF), or -1 with errno (EPROTO and *why for
 * descriptors that cannot be ours).
 */
static ssize_t recv_waiting(int sock, uint8_t *buf, size_t len, int *fd, const char **why)
{
	for (;;) {
		struct iovec iov = {buf, len};
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 8)];
		} ctl;
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = sock, .events = POLLIN};
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return -1;
			continue;
		}
		if (n < 0)
			return -1;
		if ((*why = take_fd(&mh, fd)) != NULL) {
			errno = EPROTO;
			return -1;
		}
		return n;
	}
}

/*
 * Exactly len octets into buf, waiting for them. A descriptor may come only
 * with the first octet, and only when fd is not NULL (it goes to *fd).
 * Returns 1 when all came, 0 at EOF before the first octet when eof_ok, or
 * -1 with errno (EPROTO and *why: EOF inside, a descriptor out of place).
 */
static int recv_exact(int sock, uint8_t *buf, size_t len, bool eof_ok, int *fd, const char **why)
{
	for (size_t got = 0; got < len;) {
		int one = -1;
		ssize_t n = recv_waiting(sock, buf + got, len - got, &one, why);
		if (one != -1 && (got > 0 || !fd)) {
			close(one);
			*why = "descriptor inside a message";
			errno = EPROTO;
			return -1;
		}
		if (one != -1)
			*fd = one;
		if (n < 0)
			return -1;
		if (n == 0 && got == 0 && eof_ok)
			return 0;
		if (n == 0) {
			*why = "peer closed mid-message";
			errno = EPROTO;
			return -1;
		}
		got += (size_t)n;
	}
	return 1;
}

int ipc_read_msg(int sock, uint16_t *type, uint8_t *payload, size_t *len, int *fd, const char **why)
{
	uint8_t raw[IPC_HDR_LEN];
	struct ipc_hdr h;
	*fd = -1;
	*why = NULL;
	/* Exactly the header, then exactly the payload: nothing of the next message. */
	int rc = recv_exact(sock, raw, IPC_HDR_LEN, true, fd, why);
	if (rc <= 0)
		goto out;
	ipc_hdr_decode(raw, &h);
	rc = -1;
	errno = EPROTO;
	if (ipc_hdr_check(&h, why) != 0)
		goto out;
	bool announced = h.flags & IPC_FLAG_FD;
	if (announced != (*fd != -1)) {
		*why = *fd == -1 ? "message without its descriptor"
				 : "descriptor without a message";
		goto out;
	}
	rc = recv_exact(sock, payload, h.len, false, NULL, why);
out:
	if (rc == 1) {
		*type = h.type;
		*len = h.len;
	} else if (*fd != -1) {
		int e = errno;
		close(*fd);
		errno = e;
		*fd = -1;
	}
	return rc;
}

/* ---- life cycle ---------------------------------------------------------- */

struct ipc_chan *ipc_chan_new(struct event_base *base, int fd, ipc_handler_fn handler, void *arg)
{
	struct ipc_chan *c = calloc(1, sizeof(*c));
	if (!c || evutil_make_socket_nonblocking(fd) != 0) {
		free(c);
		close(fd);
		return NULL;
	}
	c->base = base;
	c->fd = fd;
	c->handler = handler;
	c->arg = arg;
	snprintf(c->name, sizeof(c->name), "fd%d", fd);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
	if (!c->in || !c->out || !c->rev || !c->wev || event_add(c->rev, NULL) != 0) {
		c->closed = 1;
		chan_destroy(c);
		close(fd);
		return NULL;
	}
	return c;
}

static void chan_destroy(struct ipc_chan *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (!c->closed)
		close(c->fd);
	close_queued_fds(c);
	if (c->in)
		evbuffer_free(c->in);
	if (c->out)
		evbuffer_free(c->out);
	free(c->tx_fds);
	free(c);
}

void ipc_chan_free(struct ipc_chan *c)
{
	if (!c)
		return;
	if (c->in_handler) {
		c->free_pending = 1;
		return;
	}
	chan_destroy(c);
}

void ipc_chan_set_name(struct ipc_chan *c, const char *name)
{
	snprintf(c->name, sizeof(c->name), "%s", name);
}

size_t ipc_chan_queued(const struct ipc_chan *c)
{
	return (size_t)(c->out_queued - c->out_sent);
}

int ipc_chan_closed(const struct ipc_chan *c)
{
	return c->closed;
}
