/*
 * Fuzz target: the VICI packet and message readers. Whatever parses must
 * re-encode to exactly the same bytes (the codec is canonical), so the
 * reader and the builder check each other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/vici_msg.h"

static void rebuild(struct vici_builder *b, const struct vici_node *sec)
{
	for (const struct vici_node *n = sec->first; n; n = n->next) {
		switch (n->type) {
		case VICI_NODE_SECTION:
			vici_begin_section(b, n->name);
			rebuild(b, n);
			vici_end_section(b);
			break;
		case VICI_NODE_VALUE:
			vici_add_kv_bin(b, n->name, n->value, n->value_len);
			break;
		case VICI_NODE_LIST:
			vici_begin_list(b, n->name);
			for (const struct vici_node *i = n->first; i; i = i->next)
				vici_add_list_item_bin(b, i->value, i->value_len);
			vici_end_list(b);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vici_packet pkt;
	if (vici_packet_parse(data, size, &pkt, NULL) == 0) {
		struct vici_node *root;
		if (vici_msg_parse(pkt.msg, pkt.msg_len, &root, NULL) == 0) {
			struct vici_builder *b = vici_builder_new();
			rebuild(b, root);
			const uint8_t *out;
			size_t len;
			if (vici_builder_finish(b, &out, &len) != 0 || len != pkt.msg_len ||
			    memcmp(out, pkt.msg, len) != 0)
				abort();
			/* The lookups must be safe on any tree. */
			(void)vici_str(root, "uniqueid");
			uint64_t v;
			(void)vici_u64(root, "uniqueid", &v);
			vici_builder_free(b);
			vici_node_free(root);
		}
	}
	return 0;
}
