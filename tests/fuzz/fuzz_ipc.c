/*
 * Fuzz target: the IPC message reader. The input is written, as the peer
 * would send it, into a socketpair whose other end is a channel; everything
 * is then read at once with ipc_chan_read_now. Each delivered message is
 * read with a getter sequence chosen by its type, and whatever the getters
 * accept must re-encode, through the writer, to exactly the payload bytes.
 * The channel must close exactly once and never crash. The same bytes are
 * then read message by message with ipc_read_msg(), the reader of a worker
 * without a channel: it frames them exactly as the channel does (no
 * descriptors are sent here), so the channel's messages are the first of its
 * own, and the payloads are the same.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/ipc.h"

#define MAX_SEEN 64

struct run {
	struct ipc_chan *chan;
	int closed;
	size_t nseen;
	uint16_t type[MAX_SEEN];
	uint32_t len[MAX_SEEN];
	uint32_t sum[MAX_SEEN];
};

static uint32_t sum_of(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* One getter chosen by sel, and the matching put of what it read. */
static int read_one(unsigned sel, int alloc, struct ipc_reader *r, struct ipc_writer *w)
{
	uint8_t v8;
	uint32_t v32;
	uint64_t v64;
	char buf[64];
	char *s = NULL;
	int rc;
	switch (sel) {
	case 0:
		return ipc_get_u8(r, &v8) != 0 ? -1 : ipc_put_u8(w, v8);
	case 1:
		return ipc_get_u32(r, &v32) != 0 ? -1 : ipc_put_u32(w, v32);
	case 2:
		return ipc_get_u64(r, &v64) != 0 ? -1 : ipc_put_u64(w, v64);
	default:
		if (!alloc)
			return ipc_get_str(r, buf, sizeof(buf)) != 0 ? -1 : ipc_put_str(w, buf);
		rc = ipc_get_str_alloc(r, 4096, &s) != 0 ? -1 : ipc_put_str(w, s);
		free(s);
		return rc;
	}
}

/* Reads the payload with the getters picked by type; re-encodes what it read. */
static int read_payload(uint16_t type, struct ipc_reader *r)
{
	struct ipc_writer w;
	ipc_writer_init(&w);
	int rc = 0;
	for (unsigned step = 0; step < 16 && rc == 0 && r->off < r->len; step++)
		rc = read_one((type >> (step % 8 * 2)) & 3, type & 0x8000, r, &w);
	if (rc == 0 && r->off < r->len) {
		size_t n = r->len - r->off;
		uint8_t *rest = malloc(n);
		rc = !rest || ipc_get_bytes(r, rest, n) != 0 ? -1 : ipc_put_bytes(&w, rest, n);
		free(rest);
	}
	if (rc == 0)
		rc = ipc_get_end(r);
	if (rc == 0 && (w.len != r->len || (w.len && memcmp(w.buf, r->p, w.len) != 0)))
		abort();
	ipc_writer_free(&w);
	return rc;
}

static int handler(void *arg, uint16_t type, struct ipc_reader *r, int fd)
{
	struct run *run = arg;
	if (fd != -1)
		close(fd);
	if (type == IPC_CLOSED) {
		if (run->closed++)
			abort();
		return 0;
	}
	if (run->closed)
		abort();
	if (run->nseen < MAX_SEEN) {
		run->type[run->nseen] = type;
		run->len[run->nseen] = (uint32_t)r->len;
		run->sum[run->nseen++] = sum_of(r->p, r->len);
	}
	return read_payload(type, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct event_base *base;
	if (!base) {
		log_init("fuzz_ipc", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
		base = event_base_new();
	}
	/* Within one socket buffer, so the write never blocks. */
	if (size > 100000)
		return 0;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	int sndbuf = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	struct run run = {0};
	run.chan = ipc_chan_new(base, sv[0], handler, &run);
	if (!run.chan)
		abort();
	size_t off = 0;
	while (off < size) {
		ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(sv[1]);
	ipc_chan_read_now(run.chan);
	if (run.closed != 1 || !ipc_chan_closed(run.chan))
		abort();
	ipc_chan_free(run.chan);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (off = 0; off < size;) {
		ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(sv[1]);
	static uint8_t payload[IPC_MAX_PAYLOAD];
	size_t k = 0;
	for (;;) {
		uint16_t type;
		size_t len;
		int fd;
		const char *why;
		int rc = ipc_read_msg(sv[0], &type, payload, &len, &fd, &why);
		if (rc <= 0) {
			if (rc < 0 && (errno != EPROTO || !why))
				abort();
			break;
		}
		if (fd != -1 || type == IPC_CLOSED || len > IPC_MAX_PAYLOAD)
			abort();
		if (k < run.nseen && (type != run.type[k] || len != run.len[k] ||
				      sum_of(payload, len) != run.sum[k]))
			abort();
		k++;
	}
	if (k < run.nseen && run.nseen < MAX_SEEN)
		abort(); /* the channel delivered a message the reader did not */
	close(sv[0]);
	return 0;
}
