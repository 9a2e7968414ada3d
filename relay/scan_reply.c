/*
 * Encoding of the scan process's answers.
 */
#include "relay/scan_reply.h"

#include <string.h>

const char *scan_reply_action_name(enum scan_reply_action a)
{
	switch (a) {
	case SCAN_REPLY_ACCEPT:
		return "accept";
	case SCAN_REPLY_ACCEPT_UNSCANNED:
		return "accept-unscanned";
	case SCAN_REPLY_REJECT:
		return "reject";
	case SCAN_REPLY_TEMPFAIL:
		return "tempfail";
	case SCAN_REPLY_FAILED:
		return "failed";
	}
	return "?";
}

int scan_reply_put(struct ipc_writer *w, const struct scan_reply *r)
{
	ipc_put_u32(w, r->seq);
	ipc_put_u8(w, (uint8_t)r->action);
	ipc_put_str(w, r->reply);
	ipc_put_str(w, r->engine);
	ipc_put_str(w, r->db);
	ipc_put_str(w, r->log);
	ipc_put_u8(w, r->has_content ? 1 : 0);
	return w->failed ? -1 : 0;
}

int scan_reply_get(struct ipc_reader *rd, struct scan_reply *r)
{
	uint8_t action, has;
	memset(r, 0, sizeof(*r));
	if (ipc_get_u32(rd, &r->seq) < 0 || ipc_get_u8(rd, &action) < 0 ||
	    ipc_get_str(rd, r->reply, sizeof(r->reply)) < 0 ||
	    ipc_get_str(rd, r->engine, sizeof(r->engine)) < 0 ||
	    ipc_get_str(rd, r->db, sizeof(r->db)) < 0 ||
	    ipc_get_str(rd, r->log, sizeof(r->log)) < 0 || ipc_get_u8(rd, &has) < 0 ||
	    ipc_get_end(rd) < 0)
		return -1;
	if (action < SCAN_REPLY_ACCEPT || action > SCAN_REPLY_ACTION_LAST || has > 1)
		return -1;
	r->action = (enum scan_reply_action)action;
	r->has_content = has == 1;
	if (r->action == SCAN_REPLY_REJECT && r->reply[0] != '5')
		return -1;
	if (r->action == SCAN_REPLY_TEMPFAIL && r->reply[0] != '4')
		return -1;
	return 0;
}
