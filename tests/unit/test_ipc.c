/*
 * IPC channels over socketpairs in one process: payload round trips, file
 * descriptor passing, the fail-closed reader, and a sender whose peer does
 * not read. Misbehaving peers are raw sockets writing crafted bytes. Every
 * loop run is bounded by a timer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/ipc.h"

enum { MSG_ALL = 1, MSG_PIPE, MSG_SEQ, MSG_U32 };

#define MAX_SEEN 4096

struct side {
	struct event_base *base;
	struct ipc_chan *chan;
	int closed;		/* IPC_CLOSED calls */
	int messages;		/* other calls */
	int fail_next;		/* handler returns -1 */
	int free_on_message;	/* handler frees the channel on the first message */
	int free_on_close;	/* handler frees the channel on IPC_CLOSED */
	int read_u32_only;	/* handler reads one u32 and returns 0 without ipc_get_end */
	uint32_t seq[MAX_SEEN]; /* MSG_SEQ payloads in arrival order */
	int fds_written;	/* MSG_PIPE: descriptors written to */
	uint64_t last_u64;
	uint32_t last_u32;
	uint8_t last_u8;
	char last_str[64];
	char *last_alloc;
	uint8_t last_bytes[5];
};

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

static int handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct side *s = arg;
	if (type == IPC_CLOSED) {
		assert_null(r);
		assert_int_equal(fd, -1);
		s->closed++;
		if (s->free_on_close) {
			ipc_chan_free(s->chan);
			s->chan = NULL;
		}
		return 0;
	}
	s->messages++;
	if (s->free_on_message) {
		ipc_chan_free(s->chan);
		s->chan = NULL;
		if (fd != -1)
			close(fd);
		return 0;
	}
	if (s->fail_next) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (s->read_u32_only) {
		if (fd != -1)
			close(fd);
		return ipc_get_u32(r, &s->last_u32);
	}
	switch (type) {
	case MSG_ALL:
		free(s->last_alloc);
		s->last_alloc = NULL;
		if (ipc_get_u8(r, &s->last_u8) || ipc_get_u32(r, &s->last_u32) ||
		    ipc_get_u64(r, &s->last_u64) ||
		    ipc_get_str(r, s->last_str, sizeof(s->last_str)) ||
		    ipc_get_str_alloc(r, 1000, &s->last_alloc) ||
		    ipc_get_bytes(r, s->last_bytes, sizeof(s->last_bytes)) || ipc_get_end(r))
			return -1;
		assert_int_equal(fd, -1);
		return 0;
	case MSG_PIPE: {
		uint32_t idx;
		if (ipc_get_u32(r, &idx) || ipc_get_end(r) || fd == -1) {
			if (fd != -1)
				close(fd);
			return -1;
		}
		char text[16];
		int n = snprintf(text, sizeof(text), "pipe-%u", idx);
		assert_int_equal(write(fd, text, (size_t)n), n);
		close(fd);
		s->fds_written++;
		return 0;
	}
	case MSG_SEQ: {
		uint32_t v;
		uint8_t pad[4096];
		if (ipc_get_u32(r, &v) || ipc_get_bytes(r, pad, r->len - 4) || ipc_get_end(r))
			return -1;
		if (s->messages <= MAX_SEEN)
			s->seq[s->messages - 1] = v;
		assert_int_equal(fd, -1);
		return 0;
	}
	default:
		if (fd != -1)
			close(fd);
		return -1;
	}
}

struct pair {
	struct event_base *base;
	struct side a, b;
	int raw; /* the peer end when b is a raw socket, else -1 */
};

/* Two channels a <-> b, or (raw) a channel a and a plain socket. */
static void pair_setup(struct pair *p, int raw)
{
	memset(p, 0, sizeof(*p));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->base = event_base_new();
	assert_non_null(p->base);
	p->a.base = p->b.base = p->base;
	p->a.chan = ipc_chan_new(p->base, sv[0], handler, &p->a);
	assert_non_null(p->a.chan);
	p->raw = -1;
	if (raw) {
		p->raw = sv[1];
	} else {
		p->b.chan = ipc_chan_new(p->base, sv[1], handler, &p->b);
		assert_non_null(p->b.chan);
	}
}

static void pair_teardown(struct pair *p)
{
	ipc_chan_free(p->a.chan);
	ipc_chan_free(p->b.chan);
	if (p->raw != -1)
		close(p->raw);
	free(p->a.last_alloc);
	free(p->b.last_alloc);
	event_base_free(p->base);
}

/* ---- payload codec ------------------------------------------------------ */

static void test_header_codec(void **state)
{
	(void)state;
	struct ipc_hdr h = {.type = 0x1234, .version = IPC_VERSION, .flags = 1, .len = 0x8203};
	uint8_t raw[IPC_HDR_LEN];
	ipc_hdr_encode(&h, raw);
	const uint8_t want[] = {0x12, 0x34, 1, 1, 0, 0, 0x82, 3};
	assert_memory_equal(raw, want, sizeof(want));
	struct ipc_hdr back;
	ipc_hdr_decode(raw, &back);
	assert_int_equal(back.type, 0x1234);
	assert_int_equal(back.len, 0x8203);
	const char *why;
	assert_int_equal(ipc_hdr_check(&back, &why), 0);
	back.version = 2;
	assert_int_equal(ipc_hdr_check(&back, &why), -1);
	assert_string_equal(why, "unknown version");
	back.version = IPC_VERSION;
	back.flags = 2;
	assert_int_equal(ipc_hdr_check(&back, &why), -1);
	back.flags = 0;
	back.len = IPC_MAX_PAYLOAD + 1;
	assert_int_equal(ipc_hdr_check(&back, &why), -1);
	assert_string_equal(why, "payload too long");
	back.len = IPC_MAX_PAYLOAD;
	back.type = 0;
	assert_int_equal(ipc_hdr_check(&back, &why), -1);
}

static void test_reader_fails_closed(void **state)
{
	(void)state;
	struct ipc_reader r;
	uint32_t v32;
	uint64_t v64;
	uint8_t v8;
	char buf[8];
	char *alloc = NULL;

	const uint8_t three[] = {1, 2, 3};
	ipc_reader_init(&r, three, sizeof(three));
	assert_int_equal(ipc_get_u32(&r, &v32), -1);
	/* Failure is sticky: even a byte that is there is refused now. */
	assert_int_equal(ipc_get_u8(&r, &v8), -1);
	assert_int_equal(ipc_get_end(&r), -1);

	ipc_reader_init(&r, three, sizeof(three));
	assert_int_equal(ipc_get_u64(&r, &v64), -1);

	/* Trailing bytes. */
	ipc_reader_init(&r, three, sizeof(three));
	assert_int_equal(ipc_get_u8(&r, &v8), 0);
	assert_int_equal(v8, 1);
	assert_int_equal(ipc_get_end(&r), -1);

	/* A string longer than the buffer, one with a NUL, one cut short. */
	const uint8_t long_str[] = {0, 0, 0, 8, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
	ipc_reader_init(&r, long_str, sizeof(long_str));
	assert_int_equal(ipc_get_str(&r, buf, sizeof(buf)), -1);
	ipc_reader_init(&r, long_str, sizeof(long_str));
	assert_int_equal(ipc_get_str_alloc(&r, 7, &alloc), -1);
	assert_null(alloc);
	const uint8_t nul_str[] = {0, 0, 0, 3, 'a', 0, 'b'};
	ipc_reader_init(&r, nul_str, sizeof(nul_str));
	assert_int_equal(ipc_get_str(&r, buf, sizeof(buf)), -1);
	const uint8_t short_str[] = {0, 0, 0, 5, 'a', 'b'};
	ipc_reader_init(&r, short_str, sizeof(short_str));
	assert_int_equal(ipc_get_str(&r, buf, sizeof(buf)), -1);
	/* A huge announced length is refused before any allocation. */
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'x'};
	ipc_reader_init(&r, huge, sizeof(huge));
	assert_int_equal(ipc_get_str_alloc(&r, SIZE_MAX, &alloc), -1);
	assert_null(alloc);

	/* An exact fit works. */
	const uint8_t fit[] = {0, 0, 0, 7, 'a', 'b', 'c', 'd', 'e', 'f', 'g'};
	ipc_reader_init(&r, fit, sizeof(fit));
	assert_int_equal(ipc_get_str(&r, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(ipc_get_end(&r), 0);
}

static void test_writer_limits(void **state)
{
	(void)state;
	struct ipc_writer w;
	ipc_writer_init(&w);
	static uint8_t big[IPC_MAX_PAYLOAD];
	assert_int_equal(ipc_put_bytes(&w, big, sizeof(big)), 0);
	assert_int_equal(w.len, IPC_MAX_PAYLOAD);
	assert_int_equal(ipc_put_u8(&w, 1), -1);
	assert_true(w.failed);
	/* A failed writer stays failed. */
	assert_int_equal(ipc_put_bytes(&w, big, 0), -1);

	struct pair p;
	pair_setup(&p, 0);
	assert_int_equal(ipc_send_writer(p.a.chan, MSG_ALL, &w, -1), -1);
	assert_int_equal(ipc_send(p.a.chan, MSG_ALL, big, IPC_MAX_PAYLOAD + 1, -1), -1);
	assert_int_equal(ipc_send(p.a.chan, IPC_CLOSED, NULL, 0, -1), -1);
	assert_int_equal(ipc_chan_queued(p.a.chan), 0);
	pair_teardown(&p);
	ipc_writer_free(&w);
}

/* ---- channels ------------------------------------------------------------ */

static void test_round_trip_every_getter(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 0);
	struct ipc_writer w;
	ipc_writer_init(&w);
	const uint8_t id[5] = {0xde, 0xad, 0, 0xbe, 0xef};
	assert_int_equal(ipc_put_u8(&w, 0xa5), 0);
	assert_int_equal(ipc_put_u32(&w, 0xfedcba98u), 0);
	assert_int_equal(ipc_put_u64(&w, 0x0123456789abcdefull), 0);
	assert_int_equal(ipc_put_str(&w, "queue id 42"), 0);
	assert_int_equal(ipc_put_str(&w, ""), 0);
	assert_int_equal(ipc_put_bytes(&w, id, sizeof(id)), 0);
	assert_int_equal(w.len, 1 + 4 + 8 + 4 + 11 + 4 + 0 + 5);
	assert_int_equal(ipc_send_writer(p.a.chan, MSG_ALL, &w, -1), 0);
	assert_int_equal(ipc_send_writer(p.b.chan, MSG_ALL, &w, -1), 0);
	ipc_writer_free(&w);

	RUN_UNTIL(p.base, p.a.messages == 1 && p.b.messages == 1, 2000);
	for (int i = 0; i < 2; i++) {
		struct side *s = i ? &p.b : &p.a;
		assert_int_equal(s->messages, 1);
		assert_int_equal(s->closed, 0);
		assert_int_equal(s->last_u8, 0xa5);
		assert_int_equal(s->last_u32, 0xfedcba98u);
		assert_true(s->last_u64 == 0x0123456789abcdefull);
		assert_string_equal(s->last_str, "queue id 42");
		assert_string_equal(s->last_alloc, "");
		assert_memory_equal(s->last_bytes, id, sizeof(id));
	}
	assert_false(ipc_chan_closed(p.a.chan));
	pair_teardown(&p);
}

static void test_fd_passing_matches_messages(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 0);
	/* Messages with and without descriptors, interleaved. */
	int pipes[6][2];
	int sent_seq = 0;
	for (uint32_t i = 0; i < 6; i++) {
		assert_int_equal(pipe2(pipes[i], O_CLOEXEC), 0);
		uint8_t msg[8] = {0, 0, 0, (uint8_t)i};
		assert_int_equal(ipc_send(p.a.chan, MSG_SEQ, msg, sizeof(msg), -1), 0);
		sent_seq++;
		uint8_t idx[4] = {0, 0, 0, (uint8_t)i};
		assert_int_equal(ipc_send(p.a.chan, MSG_PIPE, idx, sizeof(idx), pipes[i][1]), 0);
		/* The channel holds its own duplicate: closing ours changes nothing. */
		close(pipes[i][1]);
	}
	RUN_UNTIL(p.base, p.b.fds_written == 6, 2000);
	assert_int_equal(p.b.fds_written, 6);
	assert_int_equal(p.b.messages, 12);
	assert_int_equal(p.b.closed, 0);
	for (int i = 0; i < 6; i++) {
		char buf[32] = {0};
		char want[16];
		snprintf(want, sizeof(want), "pipe-%d", i);
		ssize_t n = read(pipes[i][0], buf, sizeof(buf) - 1);
		assert_int_equal(n, (ssize_t)strlen(want));
		assert_string_equal(buf, want);
		/* Every copy of the write end is closed: the reader sees EOF. */
		assert_int_equal(read(pipes[i][0], buf, sizeof(buf)), 0);
		close(pipes[i][0]);
	}
	pair_teardown(&p);
}

/* ipc_write_msg: straight to the socket, with descriptors, read back by a channel. */
static void test_write_msg(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	static uint8_t pad[4000];
	int pipes[3][2];
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(pipe2(pipes[i], O_CLOEXEC), 0);
		struct ipc_writer w;
		ipc_writer_init(&w);
		ipc_put_u32(&w, i);
		assert_int_equal(ipc_write_msg(p.raw, MSG_PIPE, &w, pipes[i][1], 1000), 0);
		ipc_writer_free(&w);
		close(pipes[i][1]); /* the receiver got its own copy */
		ipc_writer_init(&w);
		ipc_put_u32(&w, 100 + i);
		ipc_put_bytes(&w, pad, sizeof(pad));
		assert_int_equal(ipc_write_msg(p.raw, MSG_SEQ, &w, -1, 1000), 0);
		ipc_writer_free(&w);
	}
	RUN_UNTIL(p.base, p.a.messages == 6, 2000);
	assert_int_equal(p.a.messages, 6);
	assert_int_equal(p.a.closed, 0);
	assert_int_equal(p.a.fds_written, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p.a.seq[2 * i + 1], 100 + i);
		char buf[16] = {0}, want[16];
		snprintf(want, sizeof(want), "pipe-%d", i);
		assert_int_equal(read(pipes[i][0], buf, sizeof(buf) - 1), (ssize_t)strlen(want));
		assert_string_equal(buf, want);
		close(pipes[i][0]);
	}
	/* A failed writer is refused. */
	struct ipc_writer bad;
	ipc_writer_init(&bad);
	bad.failed = 1;
	errno = 0;
	assert_int_equal(ipc_write_msg(p.raw, MSG_SEQ, &bad, -1, 10), -1);
	assert_int_equal(errno, EINVAL);
	/* A peer that reads nothing (the loop does not run): ETIMEDOUT after the timeout. */
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_u32(&w, 7);
	ipc_put_bytes(&w, pad, sizeof(pad));
	int rc = 0, n = 0;
	long long t0 = now_ms();
	while (n < 100000 && (rc = ipc_write_msg(p.raw, MSG_SEQ, &w, -1, 50)) == 0)
		n++;
	assert_int_equal(rc, -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(now_ms() - t0 >= 50);
	ipc_writer_free(&w);
	/* The peer gone: EPIPE, no signal. */
	ipc_chan_free(p.a.chan);
	p.a.chan = NULL;
	ipc_writer_init(&w);
	ipc_put_u32(&w, 8);
	errno = 0;
	assert_int_equal(ipc_write_msg(p.raw, MSG_SEQ, &w, -1, 50), -1);
	assert_true(errno == EPIPE || errno == ECONNRESET);
	ipc_writer_free(&w);
	pair_teardown(&p);
}

/* Writes a raw message: header fields as given, then payload. */
static void raw_write(int fd, uint16_t type, uint8_t version, uint8_t flags, uint32_t len,
		      const void *payload, size_t paylen, int pass_fd)
{
	uint8_t buf[IPC_HDR_LEN + 64];
	struct ipc_hdr h = {.type = type, .version = version, .flags = flags, .len = len};
	ipc_hdr_encode(&h, buf);
	assert_true(paylen <= 64);
	if (paylen)
		memcpy(buf + IPC_HDR_LEN, payload, paylen);
	struct iovec iov = {buf, IPC_HDR_LEN + paylen};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	if (pass_fd != -1) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)(IPC_HDR_LEN + paylen));
}

/* The channel must close, tell its handler exactly once, and refuse to send. */
static void assert_closed_once(struct pair *p, int max_messages)
{
	RUN_UNTIL(p->base, p->a.closed > 0, 2000);
	run_ms(p->base, 20);
	assert_int_equal(p->a.closed, 1);
	assert_true(p->a.messages <= max_messages);
	assert_true(ipc_chan_closed(p->a.chan));
	assert_int_equal(ipc_send(p->a.chan, MSG_U32, "abcd", 4, -1), -1);
	/* The peer sees the channel go away. */
	char b;
	ssize_t n;
	do {
		n = recv(p->raw, &b, 1, MSG_DONTWAIT);
	} while (n > 0);
	/* EOF, or a reset when the channel closed with bytes it had not read. */
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

static void test_unknown_version_rejected(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	raw_write(p.raw, MSG_U32, IPC_VERSION + 1, 0, 4, "abcd", 4, -1);
	assert_closed_once(&p, 0);
	pair_teardown(&p);
}

static void test_oversize_rejected_before_payload(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	/* Only the header is sent: the length alone must close the channel. */
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0, IPC_MAX_PAYLOAD + 1, NULL, 0, -1);
	assert_closed_once(&p, 0);
	pair_teardown(&p);
}

static void test_reserved_type_and_flags_rejected(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	raw_write(p.raw, IPC_CLOSED, IPC_VERSION, 0, 0, NULL, 0, -1);
	assert_closed_once(&p, 0);
	pair_teardown(&p);

	pair_setup(&p, 1);
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0x80, 4, "abcd", 4, -1);
	assert_closed_once(&p, 0);
	pair_teardown(&p);
}

static void test_truncated_payload_rejected(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	/* A well-framed message whose payload is too short for its type. */
	p.a.read_u32_only = 1;
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0, 2, "ab", 2, -1);
	assert_closed_once(&p, 1);
	assert_int_equal(p.a.messages, 1);
	pair_teardown(&p);
}

static void test_trailing_bytes_rejected(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	/* The handler reads a u32 and returns 0 without ipc_get_end: the channel checks. */
	p.a.read_u32_only = 1;
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0, 4, "abcd", 4, -1);
	RUN_UNTIL(p.base, p.a.messages == 1, 2000);
	assert_int_equal(p.a.closed, 0);
	assert_int_equal(p.a.last_u32, 0x61626364);
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0, 5, "abcde", 5, -1);
	assert_closed_once(&p, 2);
	pair_teardown(&p);
}

static void test_handler_refusal_closes(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	p.a.fail_next = 1;
	raw_write(p.raw, 77, IPC_VERSION, 0, 0, NULL, 0, -1);
	raw_write(p.raw, 77, IPC_VERSION, 0, 0, NULL, 0, -1);
	/* The second message is never delivered. */
	assert_closed_once(&p, 1);
	pair_teardown(&p);
}

static void test_message_without_its_fd_rejected(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	raw_write(p.raw, MSG_PIPE, IPC_VERSION, IPC_FLAG_FD, 4, "\0\0\0\1", 4, -1);
	assert_closed_once(&p, 0);
	pair_teardown(&p);
}

static void test_fd_without_message_rejected(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	int pf[2];
	assert_int_equal(pipe2(pf, O_CLOEXEC), 0);
	/* A descriptor rides on a message that does not announce one. */
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0, 4, "abcd", 4, pf[1]);
	close(pf[1]);
	p.a.read_u32_only = 1;
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0, 4, "efgh", 4, -1);
	assert_closed_once(&p, 1);
	/* The stray descriptor was closed by the channel: the pipe has no writer left. */
	char b;
	assert_int_equal(read(pf[0], &b, 1), 0);
	close(pf[0]);
	pair_teardown(&p);
}

/* ipc_read_msg() on one end of a fresh socketpair; the raw writer on the other. */
static int read_one(int sock, uint16_t *type, size_t *len, int *fd, const char **why)
{
	static uint8_t payload[IPC_MAX_PAYLOAD];
	return ipc_read_msg(sock, type, payload, len, fd, why);
}

/*
 * ipc_read_msg(): messages written by ipc_write_msg() come back one by one
 * with their descriptors, from a blocking or a non-blocking socket, the
 * second message left in the socket for the next call; every protocol error
 * a channel refuses is EPROTO with its reason, and EOF between messages is 0.
 */
static void test_read_msg(void **state)
{
	(void)state;
	int sv[2], pf[2];
	uint16_t type;
	size_t len;
	int fd;
	const char *why;
	static uint8_t pad[5000];
	for (int nonblock = 0; nonblock < 2; nonblock++) {
		assert_int_equal(
			socketpair(AF_UNIX,
				   SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0,
				   sv),
			0);
		assert_int_equal(pipe2(pf, O_CLOEXEC), 0);
		struct ipc_writer w;
		ipc_writer_init(&w);
		ipc_put_u32(&w, 7);
		ipc_put_bytes(&w, pad, sizeof(pad));
		assert_int_equal(ipc_write_msg(sv[1], MSG_PIPE, &w, pf[1], 1000), 0);
		assert_int_equal(ipc_write_msg(sv[1], MSG_SEQ, &w, -1, 1000), 0);
		ipc_writer_free(&w);
		close(pf[1]);
		assert_int_equal(read_one(sv[0], &type, &len, &fd, &why), 1);
		assert_int_equal(type, MSG_PIPE);
		assert_int_equal(len, 4 + sizeof(pad));
		assert_true(fd >= 0);
		close(fd);
		char b;
		assert_int_equal(read(pf[0], &b, 1), 0); /* that was the pipe's last writer */
		close(pf[0]);
		assert_int_equal(read_one(sv[0], &type, &len, &fd, &why), 1);
		assert_int_equal(type, MSG_SEQ);
		assert_int_equal(fd, -1);
		close(sv[1]);
		assert_int_equal(read_one(sv[0], &type, &len, &fd, &why), 0);
		close(sv[0]);
	}

	static const struct {
		uint16_t type;
		uint8_t version, flags;
		uint32_t len;
		size_t paylen; /* then EOF */
		bool pass_fd;
		const char *why;
	} bad[] = {
		{MSG_U32, IPC_VERSION + 1, 0, 4, 4, false, NULL},
		{MSG_U32, IPC_VERSION, 0, IPC_MAX_PAYLOAD + 1, 0, false, NULL},
		{MSG_U32, IPC_VERSION, IPC_FLAG_FD, 4, 4, false, "message without its descriptor"},
		{MSG_U32, IPC_VERSION, 0, 4, 4, true, "descriptor without a message"},
		{MSG_U32, IPC_VERSION, 0, 8, 4, false, "peer closed mid-message"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		assert_int_equal(pipe2(pf, O_CLOEXEC), 0);
		raw_write(sv[1], bad[i].type, bad[i].version, bad[i].flags, bad[i].len, "abcd",
			  bad[i].paylen, bad[i].pass_fd ? pf[1] : -1);
		close(pf[1]);
		close(sv[1]);
		errno = 0;
		assert_int_equal(read_one(sv[0], &type, &len, &fd, &why), -1);
		assert_int_equal(errno, EPROTO);
		assert_int_equal(fd, -1);
		assert_non_null(why);
		if (bad[i].why && strcmp(why, bad[i].why) != 0)
			fail_msg("case %zu: \"%s\", want \"%s\"", i, why, bad[i].why);
		char b;
		assert_int_equal(read(pf[0], &b, 1), 0); /* a descriptor that came was closed */
		close(pf[0]);
		close(sv[0]);
	}
	/* A header cut short by EOF. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], "\0\1\1", 3), 3);
	close(sv[1]);
	assert_int_equal(read_one(sv[0], &type, &len, &fd, &why), -1);
	assert_string_equal(why, "peer closed mid-message");
	close(sv[0]);
}

static void test_peer_close_reported_once_and_free_in_handler(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 0);
	p.a.free_on_close = 1;
	ipc_chan_free(p.b.chan);
	p.b.chan = NULL;
	RUN_UNTIL(p.base, p.a.closed > 0, 2000);
	run_ms(p.base, 20);
	assert_int_equal(p.a.closed, 1);
	assert_null(p.a.chan);
	pair_teardown(&p);

	/* Freed from inside a message handler, with more messages behind it. */
	pair_setup(&p, 0);
	p.b.free_on_message = 1;
	for (int i = 0; i < 5; i++)
		assert_int_equal(ipc_send(p.a.chan, MSG_U32, "abcd", 4, -1), 0);
	RUN_UNTIL(p.base, p.b.messages > 0, 2000);
	run_ms(p.base, 20);
	assert_int_equal(p.b.messages, 1);
	assert_int_equal(p.b.closed, 0);
	assert_null(p.b.chan);
	RUN_UNTIL(p.base, p.a.closed > 0, 2000);
	assert_int_equal(p.a.closed, 1);
	pair_teardown(&p);
}

static void test_many_queued_while_peer_does_not_read(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	enum { N = 2000, SIZE = 4096 };
	static uint8_t msg[SIZE];
	long long t0 = now_ms();
	for (uint32_t i = 0; i < N; i++) {
		msg[0] = (uint8_t)(i >> 24);
		msg[1] = (uint8_t)(i >> 16);
		msg[2] = (uint8_t)(i >> 8);
		msg[3] = (uint8_t)i;
		assert_int_equal(ipc_send(p.a.chan, MSG_SEQ, msg, sizeof(msg), -1), 0);
	}
	/* Queuing never waited for the peer. */
	assert_true(now_ms() - t0 < 2000);
	run_ms(p.base, 50);
	size_t stuck = ipc_chan_queued(p.a.chan);
	/* More than any socket buffer holds is still queued, and nothing closed. */
	assert_true(stuck > 0);
	assert_true(stuck < (size_t)N * (SIZE + IPC_HDR_LEN));
	assert_int_equal(p.a.closed, 0);

	/* The peer starts reading: everything arrives, in order. */
	p.b.chan = ipc_chan_new(p.base, p.raw, handler, &p.b);
	p.raw = -1;
	assert_non_null(p.b.chan);
	RUN_UNTIL(p.base, p.b.messages == N, 10000);
	assert_int_equal(p.b.messages, N);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(p.b.seq[i], i);
	assert_int_equal(ipc_chan_queued(p.a.chan), 0);
	assert_int_equal(p.b.closed, 0);
	pair_teardown(&p);
}

static void test_queue_limit(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	static uint8_t msg[IPC_MAX_PAYLOAD];
	size_t sent = 0;
	int refused = 0;
	while (sent < 2 * (size_t)IPC_MAX_QUEUED && !refused) { /* the socket takes some */
		if (ipc_send(p.a.chan, MSG_SEQ, msg, sizeof(msg), -1) != 0)
			refused = 1;
		else
			sent += sizeof(msg) + IPC_HDR_LEN;
	}
	/* The socket took the first messages at once; the queue holds the rest, up to its cap. */
	assert_true(refused);
	size_t queued = ipc_chan_queued(p.a.chan);
	assert_true(queued <= IPC_MAX_QUEUED);
	assert_true(queued > IPC_MAX_QUEUED - (IPC_MAX_PAYLOAD + IPC_HDR_LEN));
	assert_true(sent >= queued);
	/* Refusal does not close the channel: smaller traffic may follow once it drains. */
	assert_false(ipc_chan_closed(p.a.chan));
	pair_teardown(&p);
}

/*
 * A message sent while nothing waits is written at once, with its descriptor,
 * before the loop runs again; a write error there is left to the loop, which
 * closes the channel, never inside ipc_send().
 */
static void test_send_writes_at_once(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	int pf[2];
	assert_int_equal(pipe(pf), 0);
	assert_int_equal(ipc_send(p.a.chan, MSG_SEQ, "abcd", 4, pf[1]), 0);
	assert_int_equal(ipc_chan_queued(p.a.chan), 0);
	uint8_t buf[64];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	ssize_t n = recvmsg(p.raw, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	assert_int_equal(n, IPC_HDR_LEN + 4);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
	int got;
	memcpy(&got, CMSG_DATA(cm), sizeof(int));
	assert_int_equal(write(got, "x", 1), 1); /* the pipe's write end came across */
	char c;
	assert_int_equal(read(pf[0], &c, 1), 1);
	close(got);
	close(pf[0]);
	close(pf[1]);

	close(p.raw);
	p.raw = -1;
	assert_int_equal(ipc_send(p.a.chan, MSG_SEQ, "abcd", 4, -1), 0);
	assert_int_equal(p.a.closed, 0);
	RUN_UNTIL(p.base, p.a.closed == 1, 3000);
	assert_int_equal(p.a.closed, 1);
	pair_teardown(&p);
}

static void test_read_now_delivers_last_words(void **state)
{
	(void)state;
	struct pair p;
	pair_setup(&p, 1);
	p.a.read_u32_only = 1;
	raw_write(p.raw, MSG_U32, IPC_VERSION, 0, 4, "wxyz", 4, -1);
	close(p.raw);
	p.raw = -1;
	/* Without running the loop. */
	ipc_chan_read_now(p.a.chan);
	assert_int_equal(p.a.messages, 1);
	assert_int_equal(p.a.last_u32, 0x7778797a);
	assert_int_equal(p.a.closed, 1);
	pair_teardown(&p);
}

int main(void)
{
	log_init("test_ipc", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_codec),
		cmocka_unit_test(test_reader_fails_closed),
		cmocka_unit_test(test_writer_limits),
		cmocka_unit_test(test_round_trip_every_getter),
		cmocka_unit_test(test_fd_passing_matches_messages),
		cmocka_unit_test(test_write_msg),
		cmocka_unit_test(test_read_msg),
		cmocka_unit_test(test_unknown_version_rejected),
		cmocka_unit_test(test_oversize_rejected_before_payload),
		cmocka_unit_test(test_reserved_type_and_flags_rejected),
		cmocka_unit_test(test_truncated_payload_rejected),
		cmocka_unit_test(test_trailing_bytes_rejected),
		cmocka_unit_test(test_handler_refusal_closes),
		cmocka_unit_test(test_message_without_its_fd_rejected),
		cmocka_unit_test(test_fd_without_message_rejected),
		cmocka_unit_test(test_peer_close_reported_once_and_free_in_handler),
		cmocka_unit_test(test_many_queued_while_peer_does_not_read),
		cmocka_unit_test(test_queue_limit),
		cmocka_unit_test(test_send_writes_at_once),
		cmocka_unit_test(test_read_now_delivers_last_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
