/*
 * Typed, versioned, length-prefixed messages between the processes of one
 * daemon, over a socketpair, with file descriptors passed alongside
 * (SCM_RIGHTS). Message bodies move as descriptors, never as copies.
 *
 * On the wire every message is an 8-byte header in network byte order
 * followed by len payload bytes:
 *
 *	uint16 type | uint8 version | uint8 flags | uint32 len | payload
 *
 * Flag bit 0 (IPC_FLAG_FD) says that exactly one descriptor accompanies the
 * message; it is sent with the message's first byte. The reader fails
 * closed: a wrong version, unknown flags, a payload over IPC_MAX_PAYLOAD,
 * type 0, a message announcing a descriptor that did not arrive with it, or
 * a descriptor that arrived without a message claiming it is a protocol
 * error. The peer is our own code in another process, so a protocol error is
 * logged at error level and the channel is closed; it never aborts the
 * receiver.
 *
 * Payloads are built with an ipc_writer and read with an ipc_reader, in the
 * manner of OpenSMTPD's m_add_* / m_get_* / m_end: every getter checks the
 * remaining length before it copies or allocates, fails on short input, and
 * ipc_get_end() fails on trailing bytes.
 */
#ifndef AIRLOCK_IPC_H
#define AIRLOCK_IPC_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#define IPC_VERSION	1
#define IPC_MAX_PAYLOAD (64 * 1024)
#define IPC_HDR_LEN	8
#define IPC_FLAG_FD	0x01

/* Bytes a channel may hold queued for sending before ipc_send refuses more. */
#define IPC_MAX_QUEUED (32 * 1024 * 1024)
/* Descriptors a channel may hold queued for sending. */
#define IPC_MAX_QUEUED_FDS 1024

/*
 * Type 0 is never sent: it is the handler's notice that the channel closed
 * (EOF, a read or write error, or a protocol error). Daemons number their own
 * types from 1.
 */
#define IPC_CLOSED 0

/* The header as it is on the wire (in network byte order there). */
struct ipc_hdr {
	uint16_t type;
	uint8_t version;
	uint8_t flags;
	uint32_t len;
};

/* ---- building payloads ---------------------------------------------- */

/*
 * A growing payload buffer. Initialise with ipc_writer_init(), release with
 * ipc_writer_free(). A put that would pass IPC_MAX_PAYLOAD (or fails to
 * allocate) fails, and the writer stays failed: ipc_send_writer() then
 * refuses it, so a caller may check once at the end.
 */
struct ipc_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int failed;
};

void ipc_writer_init(struct ipc_writer *w);
/* Releases the buffer; the writer may be initialised again. */
void ipc_writer_free(struct ipc_writer *w);

/* Each returns 0, or -1 (and marks the writer failed). Integers go big-endian. */
int ipc_put_u8(struct ipc_writer *w, uint8_t v);
int ipc_put_u32(struct ipc_writer *w, uint32_t v);
int ipc_put_u64(struct ipc_writer *w, uint64_t v);
/* A u32 length followed by the bytes of s, without the NUL. s must not be NULL. */
int ipc_put_str(struct ipc_writer *w, const char *s);
/* n raw bytes, no length prefix (fixed-size fields such as ids). */
int ipc_put_bytes(struct ipc_writer *w, const void *p, size_t n);

/* ---- reading payloads ------------------------------------------------ */

/*
 * A cursor over one received payload (internal data of the channel, valid
 * during the handler call only). A failed getter leaves the reader failed,
 * and every later getter fails too.
 */
struct ipc_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	int failed;
};

/* Starts a reader over len bytes at p (for tests and fuzzing; channels do it themselves). */
void ipc_reader_init(struct ipc_reader *r, const void *p, size_t len);

/* Each returns 0, or -1 on short input (out is then untouched). */
int ipc_get_u8(struct ipc_reader *r, uint8_t *out);
int ipc_get_u32(struct ipc_reader *r, uint32_t *out);
int ipc_get_u64(struct ipc_reader *r, uint64_t *out);
/*
 * A string written by ipc_put_str, copied into out (size outsz) with a NUL.
 * Fails if it is longer than outsz - 1, contains a NUL, or is truncated.
 */
int ipc_get_str(struct ipc_reader *r, char *out, size_t outsz);
/*
 * The same, into a new allocation (the caller frees *out). Fails, before
 * allocating, if the announced length exceeds max or the remaining bytes.
 */
int ipc_get_str_alloc(struct ipc_reader *r, size_t max, char **out);
/* Exactly n raw bytes. */
int ipc_get_bytes(struct ipc_reader *r, void *out, size_t n);
/* 0 if every byte was consumed and no getter failed, -1 otherwise. */
int ipc_get_end(struct ipc_reader *r);

/* ---- channels ---------------------------------------------------------- */

struct ipc_chan;

/*
 * Called once per complete message. r reads its payload (internal data,
 * valid during the call only). fd is the descriptor that came with it, or
 * -1; it gets owned by the handler, which must close it, whatever it
 * returns.
 *
 * Returns 0 when the message was understood, -1 when it was not (a getter
 * failed, an unknown type, a value out of range). After a return of 0 the
 * channel still checks that no getter failed and no byte was left over (so a
 * handler that forgets ipc_get_end still fails closed). Any failure is a
 * protocol error: logged, the channel closed, and the handler called once
 * more with IPC_CLOSED.
 *
 * With type IPC_CLOSED, r is NULL and fd is -1. It is the last call for the
 * channel. The handler may call ipc_chan_free (on this channel or others)
 * from any call; a channel freed inside its handler is released once the
 * handler returns, and no further calls follow.
 */
typedef int (*ipc_handler_fn)(void *arg, uint16_t type, struct ipc_reader *r, int fd);

/*
 * Creates a channel on a connected stream socket fd (gets owned: set to
 * non-blocking and closed by ipc_chan_free). Reading starts at once on base.
 * Returns NULL if fd is unusable or memory runs out (fd is then closed).
 */
struct ipc_chan *ipc_chan_new(struct event_base *base, int fd, ipc_handler_fn handler, void *arg);

/*
 * Frees the channel: closes its socket and every queued descriptor, drops
 * unsent messages. The handler is not called. NULL is allowed.
 */
void ipc_chan_free(struct ipc_chan *c);

/*
 * Queues one message; never blocks. payload may be NULL when len is 0. fd,
 * if not -1, is duplicated: the caller keeps its own copy. Returns 0, or -1
 * if the channel is closed, len exceeds IPC_MAX_PAYLOAD, type is
 * IPC_CLOSED, the queue limits are reached (the peer stopped reading), or
 * fd cannot be duplicated.
 */
int ipc_send(struct ipc_chan *c, uint16_t type, const void *payload, size_t len, int fd);

/* ipc_send with the writer's payload; -1 as well if the writer failed. */
int ipc_send_writer(struct ipc_chan *c, uint16_t type, const struct ipc_writer *w, int fd);

/*
 * Writes one message in the same format straight to the stream socket sock,
 * from any thread, without a channel: for a thread that answers on a
 * channel's socket (a duplicate of it) while the channel's event loop only
 * reads. fd, if not -1, goes with the first byte (the caller keeps its
 * copy). Waits for room at most timeout_ms in all. The caller makes sure no
 * other message is written to sock meanwhile (a mutex). Returns 0, or -1
 * with errno (EPIPE: the peer is gone; ETIMEDOUT: it read nothing for
 * timeout_ms; the stream is then unusable: part of a message may be out).
 */
int ipc_write_msg(int sock, uint16_t type, const struct ipc_writer *w, int fd, int timeout_ms);

/*
 * Reads one whole message from the stream socket sock, waiting for it (the
 * socket may be blocking or not), from any thread, without a channel: for a
 * thread that owns the reading side of a socket nobody else reads. Reads
 * exactly the message's octets, so the next message stays in the socket for
 * the next call, whichever thread makes it. payload must hold IPC_MAX_PAYLOAD
 * octets. Returns 1 with *type, *len (the payload's length) and *fd (the
 * descriptor that came with it, owned by the caller, or -1); 0 at EOF between
 * messages; -1 with errno: EPROTO with a reason in *why for what a channel
 * calls a protocol error (a bad header, a descriptor missing or not
 * announced, EOF inside a message), else the error of recvmsg() or poll().
 * On -1 the stream is unusable.
 */
int ipc_read_msg(int sock, uint16_t *type, uint8_t *payload, size_t *len, int *fd,
		 const char **why);

/* Names the channel in log lines ("smtp", "queue"); copied, truncated to 31 bytes. */
void ipc_chan_set_name(struct ipc_chan *c, const char *name);

/* Bytes queued and not yet written to the socket. */
size_t ipc_chan_queued(const struct ipc_chan *c);

/* 1 once the channel has closed (the handler got IPC_CLOSED), else 0. */
int ipc_chan_closed(const struct ipc_chan *c);

/*
 * Reads and delivers, now, everything the peer has sent, without waiting for
 * the loop. Used when the peer is known to have exited, so that its last
 * messages and the IPC_CLOSED notice come before anything that reacts to its
 * death. Same handler rules as above.
 */
void ipc_chan_read_now(struct ipc_chan *c);

/* Encodes and decodes the wire header (exposed for tests and fuzzing). */
void ipc_hdr_encode(const struct ipc_hdr *h, uint8_t out[IPC_HDR_LEN]);
void ipc_hdr_decode(const uint8_t in[IPC_HDR_LEN], struct ipc_hdr *h);

/*
 * Checks a decoded header: version, flags, length, type. Returns 0, or -1
 * with a reason in *why (a static string).
 */
int ipc_hdr_check(const struct ipc_hdr *h, const char **why);

#endif
