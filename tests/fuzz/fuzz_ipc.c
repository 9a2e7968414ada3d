/*
 * Fuzz target: the IPC message reader. The input is written, as the peer
 * would send it, into a socketpair whose other end is a channel; everything
 * is then read at once with ipc_chan_read_now. Each delivered message is
 * read with a getter sequence chosen by its type, and whatever the getters
 * accept must re-encode, through the writer, to exactly the payload bytes.
 * The channel must close exactly once and never crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "relay/ipc.h"

struct run {
	struct ipc_chan *chan;
	int closed;
};

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
	return 0;
}
