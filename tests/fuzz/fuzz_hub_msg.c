/*
 * Fuzz target: the readers of airlock-hub's parent <-> smtp messages
 * (relay/hub/hub_msg.h). The first input byte picks the message type, the
 * rest is its payload. Whatever a reader accepts must re-encode, through the
 * writer, to exactly the payload bytes (so nothing was skipped or invented),
 * and an accepted connection must satisfy what the smtp process relies on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/hub/hub_msg.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static void same_bytes(const struct ipc_writer *w, const uint8_t *p, size_t n)
{
	CHECK(!w->failed && w->len == n && memcmp(w->buf, p, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_reader r;
	struct ipc_writer w;

	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	ipc_reader_init(&r, p, n);
	ipc_writer_init(&w);
	switch (data[0] % 4) {
	case 0: {
		struct hub_conn c;
		if (hub_msg_get_conn(&r, &c) == 0) {
			CHECK(c.remote_id[0] && c.peer[0] && c.conn[0]);
			CHECK(c.received[0] == '(' && strchr(c.received, '\r') == NULL &&
			      strchr(c.received, '\n') == NULL);
			hub_msg_put_conn(&w, &c);
			same_bytes(&w, p, n);
		}
		break;
	}
	case 1: {
		struct attest_trust *t = NULL;
		if (hub_msg_get_keys(&r, &t) == 0) {
			CHECK(t != NULL);
			hub_msg_put_keys(&w, t);
			/* Duplicate keys are added once, so the output may be shorter. */
			CHECK(!w.failed && w.len <= n);
			attest_trust_free(t);
		} else {
			CHECK(t == NULL);
		}
		break;
	}
	case 3: {
		struct hub_pool_stats st;
		if (hub_msg_get_pool(&r, &st) == 0) {
			CHECK(st.idle <= HUB_POOL_IDLE_MAX);
			hub_msg_put_pool(&w, &st);
			same_bytes(&w, p, n);
		}
		break;
	}
	default: {
		struct hub_result res;
		if (hub_msg_get_result(&r, &res) == 0) {
			hub_msg_put_result(&w, &res);
			same_bytes(&w, p, n);
		}
		break;
	}
	}
	ipc_writer_free(&w);
	return 0;
}
