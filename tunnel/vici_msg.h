/*
 * VICI wire codec: messages (sections, key/values, lists) and packets
 * (a type byte, an optional name, a message), as spoken by strongSwan's
 * charon on its VICI socket. See shared notes on VICI for the layout.
 *
 * The reader fails closed: it rejects unbalanced sections, items outside
 * lists, key/values inside lists, nested lists, truncated lengths, nesting
 * deeper than VICI_MAX_DEPTH, and trailing bytes. Frames larger than
 * VICI_MAX_FRAME are refused before anything is allocated.
 */
#ifndef AIRLOCK_VICI_MSG_H
#define AIRLOCK_VICI_MSG_H

#include <stddef.h>
#include <stdint.h>

/* charon refuses requests larger than this and silently drops larger replies. */
#define VICI_MAX_FRAME (512 * 1024)
/* Deepest section nesting the reader accepts; charon's own messages use < 10. */
#define VICI_MAX_DEPTH 32

enum vici_packet_type {
	VICI_CMD_REQUEST = 0,
	VICI_CMD_RESPONSE = 1,
	VICI_CMD_UNKNOWN = 2,
	VICI_EVENT_REGISTER = 3,
	VICI_EVENT_UNREGISTER = 4,
	VICI_EVENT_CONFIRM = 5,
	VICI_EVENT_UNKNOWN = 6,
	VICI_EVENT = 7,
};

enum vici_elem {
	VICI_SECTION_START = 1,
	VICI_SECTION_END = 2,
	VICI_KEY_VALUE = 3,
	VICI_LIST_START = 4,
	VICI_LIST_ITEM = 5,
	VICI_LIST_END = 6,
};

/* ---- parsed messages ------------------------------------------------- */

enum vici_node_type { VICI_NODE_SECTION, VICI_NODE_VALUE, VICI_NODE_LIST };

/*
 * One element of a parsed message. The root of a message is a SECTION with
 * an empty name. A SECTION's children and a LIST's items hang off first,
 * linked by next, in wire order. List items are VALUE nodes with an empty
 * name. A VALUE's bytes are NUL-terminated (value[value_len] == 0) so text
 * values can be used as C strings; they may contain NULs themselves, which
 * vici_str() refuses.
 */
struct vici_node {
	enum vici_node_type type;
	char *name;
	uint8_t *value;
	size_t value_len;
	struct vici_node *first;
	struct vici_node *last;
	struct vici_node *next;
};

/*
 * Parses a message of len bytes. On success returns 0 and *out is a new tree
 * (free with vici_node_free). On failure returns -1, *out is NULL and *err,
 * if err is not NULL, points to a static description.
 */
int vici_msg_parse(const uint8_t *buf, size_t len, struct vici_node **out, const char **err);

/* Frees a tree returned by vici_msg_parse. NULL is allowed. */
void vici_node_free(struct vici_node *node);

/* A deep copy of node and its children (not its siblings); gets owned by the caller. */
struct vici_node *vici_node_dup(const struct vici_node *node);

/* The first direct child of a SECTION named name, or NULL. */
const struct vici_node *vici_child(const struct vici_node *section, const char *name);

/*
 * The text of the VALUE child name of section, or NULL if it is absent, not
 * a VALUE, or contains a NUL byte. Internal data of the tree.
 */
const char *vici_str(const struct vici_node *section, const char *name);

/*
 * Parses the VALUE child name as an unsigned decimal number. Returns 0 and
 * sets *out, or -1 if absent or not a number (out is left unchanged).
 */
int vici_u64(const struct vici_node *section, const char *name, uint64_t *out);

/* True if the VALUE child name is "yes". */
int vici_yes(const struct vici_node *section, const char *name);

/* ---- building messages ----------------------------------------------- */

struct vici_builder;

struct vici_builder *vici_builder_new(void);
void vici_builder_free(struct vici_builder *b);

/*
 * Appending elements. Names longer than 255 bytes or values longer than
 * 65535 bytes mark the builder failed (reported by vici_builder_finish);
 * ending a section or list that is not open is a caller bug (fatal).
 */
void vici_add_kv(struct vici_builder *b, const char *key, const char *value);
void vici_add_kv_bin(struct vici_builder *b, const char *key, const void *value, size_t len);
void vici_add_kvf(struct vici_builder *b, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vici_begin_section(struct vici_builder *b, const char *name);
void vici_end_section(struct vici_builder *b);
void vici_begin_list(struct vici_builder *b, const char *name);
void vici_add_list_item(struct vici_builder *b, const char *value);
void vici_add_list_item_bin(struct vici_builder *b, const void *value, size_t len);
void vici_end_list(struct vici_builder *b);

/*
 * Finishes the message. Returns 0 with *data and *len describing the encoded
 * message (internal data of the builder, valid until it is freed), or -1 if
 * a name or value was too long, the message exceeds VICI_MAX_FRAME, or a
 * section or list is still open.
 */
int vici_builder_finish(struct vici_builder *b, const uint8_t **data, size_t *len);

/* ---- packets ---------------------------------------------------------- */

/* A decoded packet; name and msg point into the frame it was parsed from. */
struct vici_packet {
	enum vici_packet_type type;
	char name[256];
	const uint8_t *msg;
	size_t msg_len;
};

/*
 * Decodes one frame payload (the bytes after the 4-byte length). Checks the
 * type, the name field where the type has one, and that types without a
 * message carry no trailing bytes. The message itself is not parsed.
 * Returns 0, or -1 with *err set.
 */
int vici_packet_parse(const uint8_t *frame, size_t len, struct vici_packet *out, const char **err);

/*
 * Encodes a complete frame (length header included) into a new buffer
 * (gets owned by the caller, free()). name is required for the types that
 * carry one and must be at most 255 bytes. Returns 0, or -1 if the name is
 * bad or the frame would exceed VICI_MAX_FRAME.
 */
int vici_packet_encode(enum vici_packet_type type, const char *name, const uint8_t *msg,
		       size_t msg_len, uint8_t **out, size_t *out_len);

#endif
