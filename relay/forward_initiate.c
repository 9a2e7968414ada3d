/*
 * `initiate` requests on a VICI connection of their own; see forward_initiate.h.
 */
#include "relay/forward_initiate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tunnel/vici_client.h"
#include "tunnel/vici_msg.h"

struct initiate_slot {
	struct forward_initiate *fi;
	size_t index;
	bool in_flight;
	bool tried;
	int64_t last_start;
	char ike[256], child[256];
};

struct forward_initiate {
	struct vici_client *vici;
	unsigned timeout_s, min_interval_s;
	forward_initiate_done_fn done;
	void *done_arg;
	struct initiate_slot slot[FORWARD_HUBS_MAX];
};

struct forward_initiate *forward_initiate_new(struct event_base *base, const char *uri,
					      unsigned timeout_s, unsigned min_interval_s)
{
	struct forward_initiate *fi = calloc(1, sizeof(*fi));
	if (!fi)
		return NULL;
	fi->timeout_s = timeout_s ? timeout_s : 1;
	fi->min_interval_s = min_interval_s;
	/* charon answers within its own timeout; leave it 5 s to say so. */
	fi->vici = vici_client_new(base, uri, (int)(fi->timeout_s + 5) * 1000);
	if (!fi->vici) {
		free(fi);
		return NULL;
	}
	for (size_t i = 0; i < FORWARD_HUBS_MAX; i++) {
		fi->slot[i].fi = fi;
		fi->slot[i].index = i;
	}
	return fi;
}

void forward_initiate_free(struct forward_initiate *fi)
{
	if (!fi)
		return;
	vici_client_free(fi->vici);
	free(fi);
}

void forward_initiate_set_done_cb(struct forward_initiate *fi, forward_initiate_done_fn fn,
				  void *arg)
{
	fi->done = fn;
	fi->done_arg = arg;
}

int forward_initiate_start(struct forward_initiate *fi)
{
	return vici_client_start(fi->vici);
}

bool forward_initiate_pending(const struct forward_initiate *fi, size_t slot)
{
	return slot < FORWARD_HUBS_MAX && fi->slot[slot].in_flight;
}

static void initiate_reply(enum vici_status st, const struct vici_node *reply, void *arg)
{
	struct initiate_slot *s = arg;
	struct forward_initiate *fi = s->fi;
	char err[300];
	bool ok = false;

	s->in_flight = false;
	if (st != VICI_OK) {
		snprintf(err, sizeof(err), "%s", vici_status_str(st));
	} else if (vici_yes(reply, "success")) {
		ok = true;
		err[0] = '\0';
	} else {
		const char *e = vici_str(reply, "errmsg");
		snprintf(err, sizeof(err), "%s", e ? e : "charon said no");
	}
	char q[340];
	if (ok)
		log_info("event=sa-initiated ike=%s child=%s", s->ike, s->child);
	else
		log_warning("event=sa-initiate-failed ike=%s child=%s reason=%s", s->ike, s->child,
			    log_quote(q, sizeof(q), err));
	if (fi->done)
		fi->done(fi->done_arg, s->index, ok, err);
}

int forward_initiate_request(struct forward_initiate *fi, size_t slot, const char *ike,
			     const char *child, int64_t now)
{
	if (slot >= FORWARD_HUBS_MAX)
		return -1;
	struct initiate_slot *s = &fi->slot[slot];
	if (s->in_flight || (s->tried && now - s->last_start < (int64_t)fi->min_interval_s))
		return 0;
	s->tried = true;
	s->last_start = now;
	snprintf(s->ike, sizeof(s->ike), "%s", ike);
	snprintf(s->child, sizeof(s->child), "%s", child);
	struct vici_builder *b = vici_builder_new();
	if (!b)
		return -1;
	vici_add_kv(b, "child", child);
	vici_add_kv(b, "ike", ike);
	vici_add_kvf(b, "timeout", "%u", fi->timeout_s * 1000);
	if (vici_request(fi->vici, "initiate", b, initiate_reply, s) != 0) {
		log_warning("event=sa-initiate-failed ike=%s child=%s reason=\"VICI not "
			    "connected: %s\"",
			    ike, child, vici_client_error(fi->vici));
		return -1;
	}
	s->in_flight = true;
	log_info("event=sa-initiate ike=%s child=%s", ike, child);
	return 1;
}
