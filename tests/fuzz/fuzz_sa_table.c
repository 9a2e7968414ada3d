/*
 * Fuzz target: the SA table fed with arbitrary VICI messages, as list-sa
 * refresh events and as each kind of SA event, then queried. The first byte
 * picks the event kind; the rest is the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/sa_table.h"

static const char *const kinds[] = {"list-sa", "ike-updown", "child-updown", "ike-rekey",
				    "child-rekey"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct vici_node *msg;
	if (vici_msg_parse(data + 1, size - 1, &msg, NULL) < 0)
		return 0;
	struct sa_table *t = sa_table_new();
	const char *kind = kinds[data[0] % 5];
	if (strcmp(kind, "list-sa") == 0) {
		const struct vici_node *evs[] = {msg, msg};
		sa_table_replace(t, evs, 2, 10, NULL);
	} else {
		const struct vici_node *none[] = {NULL};
		sa_table_replace(t, none, 0, 10, NULL);
		sa_table_apply_event(t, kind, msg, 11);
	}
	struct sa_flow flow = {.family = AF_INET};
	memcpy(flow.local, (const uint8_t[]){192, 0, 2, 1}, 4);
	memcpy(flow.remote, (const uint8_t[]){192, 0, 2, 2}, 4);
	(void)sa_table_find_covering(t, &flow, NULL, NULL, NULL);
	const struct sa_ike *ike;
	(void)sa_table_owner(t, AF_INET, flow.remote, &ike);
	for (size_t i = 0; i < sa_table_ike_count(t); i++) {
		const struct sa_ike *s = sa_table_ike_at(t, i);
		if (s->child_count > SA_TABLE_MAX_CHILD)
			abort();
	}
	sa_table_free(t);
	vici_node_free(msg);
	return 0;
}
