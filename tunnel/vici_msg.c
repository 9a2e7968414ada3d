/*
 * VICI wire codec: message reader (fail closed), message builder, packets.
 */
#include "tunnel/vici_msg.h"

#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reader ------------------------------------------------------------ */

struct vici_reader {
	const uint8_t *p;
	size_t left;
};

static int rd_u8(struct vici_reader *r, uint8_t *out)
{
	if (r->left < 1)
		return -1;
	*out = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

static int rd_u16(struct vici_reader *r, uint16_t *out)
{
	if (r->left < 2)
		return -1;
	*out = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 0;
}

/* Reads len bytes into a new NUL-terminated allocation. */
static int rd_bytes(struct vici_reader *r, size_t len, uint8_t **out)
{
	if (r->left < len)
		return -1;
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		return -1;
	memcpy(buf, r->p, len);
	buf[len] = '\0';
	r->p += len;
	r->left -= len;
	*out = buf;
	return 0;
}

/* A name: 1-byte length, then that many bytes; must not contain NUL. */
static int rd_name(struct vici_reader *r, char **out)
{
	uint8_t len;
	uint8_t *name;
	if (rd_u8(r, &len) < 0 || rd_bytes(r, len, &name) < 0)
		return -1;
	if (memchr(name, '\0', len) != NULL) {
		free(name);
		return -1;
	}
	*out = (char *)name;
	return 0;
}

static struct vici_node *node_new(enum vici_node_type type)
{
	struct vici_node *n = calloc(1, sizeof(*n));
	if (n)
		n->type = type;
	return n;
}

static void node_append(struct vici_node *parent, struct vici_node *child)
{
	if (parent->last)
		parent->last->next = child;
	else
		parent->first = child;
	parent->last = child;
}

void vici_node_free(struct vici_node *node)
{
	/* Depth is bounded by VICI_MAX_DEPTH at parse time, so recursion is safe. */
	while (node) {
		struct vici_node *next = node->next;
		vici_node_free(node->first);
		free(node->name);
		free(node->value);
		free(node);
		node = next;
	}
}

struct vici_node *vici_node_dup(const struct vici_node *node)
{
	struct vici_node *n = node_new(node->type);
	if (!n || !(n->name = strdup(node->name)))
		fatal("out of memory");
	if (node->value) {
		if (!(n->value = malloc(node->value_len + 1)))
			fatal("out of memory");
		memcpy(n->value, node->value, node->value_len + 1);
		n->value_len = node->value_len;
	}
	for (const struct vici_node *c = node->first; c; c = c->next)
		node_append(n, vici_node_dup(c));
	return n;
}

static int parse_fail(const char **err, const char *why, struct vici_node *root)
{
	vici_node_free(root);
	if (err)
		*err = why;
	return -1;
}

int vici_msg_parse(const uint8_t *buf, size_t len, struct vici_node **out, const char **err)
{
	struct vici_reader r = {buf, len};
	struct vici_node *stack[VICI_MAX_DEPTH + 1];
	int depth = 0;
	struct vici_node *list = NULL; /* the open list, if any */

	*out = NULL;
	if (len > VICI_MAX_FRAME)
		return parse_fail(err, "message too large", NULL);
	struct vici_node *root = node_new(VICI_NODE_SECTION);
	if (!root || !(root->name = strdup("")))
		return parse_fail(err, "out of memory", root);
	stack[0] = root;

	while (r.left > 0) {
		uint8_t elem;
		struct vici_node *n = NULL;
		uint16_t vlen;
		rd_u8(&r, &elem);
		switch (elem) {
		case VICI_SECTION_START:
			if (list)
				return parse_fail(err, "section inside a list", root);
			if (depth >= VICI_MAX_DEPTH)
				return parse_fail(err, "sections nested too deeply", root);
			if (!(n = node_new(VICI_NODE_SECTION)))
				return parse_fail(err, "out of memory", root);
			node_append(stack[depth], n);
			if (rd_name(&r, &n->name) < 0)
				return parse_fail(err, "truncated section name", root);
			stack[++depth] = n;
			break;
		case VICI_SECTION_END:
			if (list)
				return parse_fail(err, "section end inside a list", root);
			if (depth == 0)
				return parse_fail(err, "unbalanced section end", root);
			depth--;
			break;
		case VICI_KEY_VALUE:
			if (list)
				return parse_fail(err, "key/value inside a list", root);
			if (!(n = node_new(VICI_NODE_VALUE)))
				return parse_fail(err, "out of memory", root);
			node_append(stack[depth], n);
			if (rd_name(&r, &n->name) < 0 || rd_u16(&r, &vlen) < 0 ||
			    rd_bytes(&r, vlen, &n->value) < 0)
				return parse_fail(err, "truncated key/value", root);
			n->value_len = vlen;
			break;
		case VICI_LIST_START:
			if (list)
				return parse_fail(err, "nested list", root);
			if (!(n = node_new(VICI_NODE_LIST)))
				return parse_fail(err, "out of memory", root);
			node_append(stack[depth], n);
			if (rd_name(&r, &n->name) < 0)
				return parse_fail(err, "truncated list name", root);
			list = n;
			break;
		case VICI_LIST_ITEM:
			if (!list)
				return parse_fail(err, "list item outside a list", root);
			if (!(n = node_new(VICI_NODE_VALUE)))
				return parse_fail(err, "out of memory", root);
			node_append(list, n);
			if (!(n->name = strdup("")) || rd_u16(&r, &vlen) < 0 ||
			    rd_bytes(&r, vlen, &n->value) < 0)
				return parse_fail(err, "truncated list item", root);
			n->value_len = vlen;
			break;
		case VICI_LIST_END:
			if (!list)
				return parse_fail(err, "list end outside a list", root);
			list = NULL;
			break;
		default:
			return parse_fail(err, "unknown element type", root);
		}
	}
	if (list)
		return parse_fail(err, "unterminated list", root);
	if (depth != 0)
		return parse_fail(err, "unterminated section", root);
	*out = root;
	return 0;
}

const struct vici_node *vici_child(const struct vici_node *section, const char *name)
{
	if (!section || section->type != VICI_NODE_SECTION)
		return NULL;
	for (const struct vici_node *n = section->first; n; n = n->next) {
		if (strcmp(n->name, name) == 0)
			return n;
	}
	return NULL;
}

const char *vici_str(const struct vici_node *section, const char *name)
{
	const struct vici_node *n = vici_child(section, name);
	if (!n || n->type != VICI_NODE_VALUE || memchr(n->value, '\0', n->value_len) != NULL)
		return NULL;
	return (const char *)n->value;
}

int vici_u64(const struct vici_node *section, const char *name, uint64_t *out)
{
	const char *s = vici_str(section, name);
	if (!s || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int vici_yes(const struct vici_node *section, const char *name)
{
	const char *s = vici_str(section, name);
	return s && strcmp(s, "yes") == 0;
}

/* ---- builder ----------------------------------------------------------- */

struct vici_builder {
	uint8_t *buf;
	size_t len, cap;
	int depth;
	int in_list;
	int failed;
};

struct vici_builder *vici_builder_new(void)
{
	struct vici_builder *b = calloc(1, sizeof(*b));
	if (!b)
		fatal("out of memory");
	return b;
}

void vici_builder_free(struct vici_builder *b)
{
	if (!b)
		return;
	free(b->buf);
	free(b);
}

static void put(struct vici_builder *b, const void *data, size_t len)
{
	if (b->failed)
		return;
	if (b->len + len > VICI_MAX_FRAME) {
		b->failed = 1;
		return;
	}
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *nb = realloc(b->buf, cap);
		if (!nb)
			fatal("out of memory");
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, data, len);
	b->len += len;
}

static void put_u8(struct vici_builder *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put_name(struct vici_builder *b, const char *name)
{
	size_t len = strlen(name);
	if (len > 255) {
		b->failed = 1;
		return;
	}
	put_u8(b, (uint8_t)len);
	put(b, name, len);
}

static void put_value(struct vici_builder *b, const void *value, size_t len)
{
	if (len > 65535) {
		b->failed = 1;
		return;
	}
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
	put(b, hdr, 2);
	put(b, value, len);
}

void vici_add_kv_bin(struct vici_builder *b, const char *key, const void *value, size_t len)
{
	if (b->in_list)
		fatal("vici builder: key/value %s inside a list", key);
	put_u8(b, VICI_KEY_VALUE);
	put_name(b, key);
	put_value(b, value, len);
}

void vici_add_kv(struct vici_builder *b, const char *key, const char *value)
{
	vici_add_kv_bin(b, key, value, strlen(value));
}

void vici_add_kvf(struct vici_builder *b, const char *key, const char *fmt, ...)
{
	char value[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(value)) {
		b->failed = 1;
		return;
	}
	vici_add_kv(b, key, value);
}

void vici_begin_section(struct vici_builder *b, const char *name)
{
	if (b->in_list)
		fatal("vici builder: section %s inside a list", name);
	put_u8(b, VICI_SECTION_START);
	put_name(b, name);
	b->depth++;
}

void vici_end_section(struct vici_builder *b)
{
	if (b->in_list || b->depth == 0)
		fatal("vici builder: section end without an open section");
	put_u8(b, VICI_SECTION_END);
	b->depth--;
}

void vici_begin_list(struct vici_builder *b, const char *name)
{
	if (b->in_list)
		fatal("vici builder: nested list %s", name);
	put_u8(b, VICI_LIST_START);
	put_name(b, name);
	b->in_list = 1;
}

void vici_add_list_item_bin(struct vici_builder *b, const void *value, size_t len)
{
	if (!b->in_list)
		fatal("vici builder: list item outside a list");
	put_u8(b, VICI_LIST_ITEM);
	put_value(b, value, len);
}

void vici_add_list_item(struct vici_builder *b, const char *value)
{
	vici_add_list_item_bin(b, value, strlen(value));
}

void vici_end_list(struct vici_builder *b)
{
	if (!b->in_list)
		fatal("vici builder: list end without an open list");
	put_u8(b, VICI_LIST_END);
	b->in_list = 0;
}

int vici_builder_finish(struct vici_builder *b, const uint8_t **data, size_t *len)
{
	if (b->failed || b->depth != 0 || b->in_list)
		return -1;
	*data = b->buf ? b->buf : (const uint8_t *)"";
	*len = b->len;
	return 0;
}

/* ---- packets ----------------------------------------------------------- */

static int packet_has_name(enum vici_packet_type type)
{
	return type == VICI_CMD_REQUEST || type == VICI_EVENT_REGISTER ||
	       type == VICI_EVENT_UNREGISTER || type == VICI_EVENT;
}

static int packet_has_msg(enum vici_packet_type type)
{
	return type == VICI_CMD_REQUEST || type == VICI_CMD_RESPONSE || type == VICI_EVENT;
}

int vici_packet_parse(const uint8_t *frame, size_t len, struct vici_packet *out, const char **err)
{
	const char *why = NULL;
	memset(out, 0, sizeof(*out));
	if (len > VICI_MAX_FRAME)
		why = "frame too large";
	else if (len < 1)
		why = "empty frame";
	else if (frame[0] > VICI_EVENT)
		why = "unknown packet type";
	if (why) {
		if (err)
			*err = why;
		return -1;
	}
	out->type = (enum vici_packet_type)frame[0];
	size_t off = 1;
	if (packet_has_name(out->type)) {
		if (len < 2 || len - 2 < frame[1]) {
			why = "truncated packet name";
		} else {
			size_t nlen = frame[1];
			if (memchr(frame + 2, '\0', nlen) != NULL)
				why = "NUL in packet name";
			memcpy(out->name, frame + 2, nlen);
			out->name[nlen] = '\0';
			off = 2 + nlen;
		}
	}
	if (!why && !packet_has_msg(out->type) && off != len)
		why = "trailing bytes after packet";
	if (why) {
		if (err)
			*err = why;
		return -1;
	}
	out->msg = frame + off;
	out->msg_len = len - off;
	return 0;
}

int vici_packet_encode(enum vici_packet_type type, const char *name, const uint8_t *msg,
		       size_t msg_len, uint8_t **out, size_t *out_len)
{
	size_t nlen = 0;
	if (packet_has_name(type)) {
		if (!name || (nlen = strlen(name)) > 255)
			return -1;
		nlen += 1;
	}
	if (!packet_has_msg(type))
		msg_len = 0;
	size_t body = 1 + nlen + msg_len;
	if (body > VICI_MAX_FRAME)
		return -1;
	uint8_t *buf = malloc(4 + body);
	if (!buf)
		fatal("out of memory");
	buf[0] = (uint8_t)(body >> 24);
	buf[1] = (uint8_t)(body >> 16);
	buf[2] = (uint8_t)(body >> 8);
	buf[3] = (uint8_t)body;
	buf[4] = (uint8_t)type;
	if (nlen) {
		buf[5] = (uint8_t)(nlen - 1);
		memcpy(buf + 6, name, nlen - 1);
	}
	if (msg_len)
		memcpy(buf + 5 + nlen, msg, msg_len);
	*out = buf;
	*out_len = 4 + body;
	return 0;
}
