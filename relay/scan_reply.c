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
	case SCAN_REPLY_QUARANTINE:
		return "quarantine";
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
	ipc_put_str(w, r->quarantine);
	ipc_put_u8(w, r->clean ? 1 : 0);
	ipc_put_str(w, r->redirect);
	ipc_put_u8(w, (uint8_t)(r->nbcc <= SCAN_REPLY_BCC_MAX ? r->nbcc : SCAN_REPLY_BCC_MAX));
	for (unsigned i = 0; i < r->nbcc && i < SCAN_REPLY_BCC_MAX; i++)
		ipc_put_str(w, r->bcc[i]);
	ipc_put_u8(w, r->has_content ? 1 : 0);
	return w->failed ? -1 : 0;
}

/* A mailbox as the rules let it through: printable, no space, with an '@'. */
static bool address_ok(const char *a)
{
	if (!strchr(a, '@'))
		return false;
	for (; *a; a++)
		if ((unsigned char)*a < 0x21 || (unsigned char)*a > 0x7e)
			return false;
	return true;
}

int scan_reply_get(struct ipc_reader *rd, struct scan_reply *r)
{
	uint8_t action, has, nbcc, clean;
	memset(r, 0, sizeof(*r));
	if (ipc_get_u32(rd, &r->seq) < 0 || ipc_get_u8(rd, &action) < 0 ||
	    ipc_get_str(rd, r->reply, sizeof(r->reply)) < 0 ||
	    ipc_get_str(rd, r->engine, sizeof(r->engine)) < 0 ||
	    ipc_get_str(rd, r->db, sizeof(r->db)) < 0 ||
	    ipc_get_str(rd, r->log, sizeof(r->log)) < 0 ||
	    ipc_get_str(rd, r->quarantine, sizeof(r->quarantine)) < 0 ||
	    ipc_get_u8(rd, &clean) < 0 || clean > 1 ||
	    ipc_get_str(rd, r->redirect, sizeof(r->redirect)) < 0 || ipc_get_u8(rd, &nbcc) < 0 ||
	    nbcc > SCAN_REPLY_BCC_MAX)
		return -1;
	r->nbcc = nbcc;
	r->clean = clean == 1;
	for (unsigned i = 0; i < r->nbcc; i++)
		if (ipc_get_str(rd, r->bcc[i], sizeof(r->bcc[i])) < 0 || !address_ok(r->bcc[i]))
			return -1;
	if (ipc_get_u8(rd, &has) < 0 || ipc_get_end(rd) < 0)
		return -1;
	if (r->redirect[0] && !address_ok(r->redirect))
		return -1;
	if (action == SCAN_REPLY_QUARANTINE && !r->quarantine[0])
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
