/*
 * JSON replies from a child to the parent.
 */
#include "relay/edge/edge.h"

#include "relay/ipc.h"

#include <stdlib.h>
#include <string.h>

int edge_send_json(struct ipc_chan *chan, uint16_t type, uint32_t req, json_t *obj)
{
	if (!chan) {
		json_decref(obj);
		return -1;
	}
	char *text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text || strlen(text) > EDGE_JSON_MAX) {
		free(text);
		text = strdup("{\"error\":\"reply too large\"}");
		if (!text)
			return -1;
	}
	struct ipc_writer w;
	ipc_writer_init(&w);
	ipc_put_u32(&w, req);
	ipc_put_str(&w, text);
	int rc = ipc_send_writer(chan, type, &w, -1);
	ipc_writer_free(&w);
	free(text);
	return rc < 0 ? -1 : 0;
}
