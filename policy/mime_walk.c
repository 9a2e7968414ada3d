/*
 * The MIME walk: GMime's parse of a message, flattened into struct mime_part
 * entries with decoded names, sizes, true types and archive listings.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "policy/mime_archive.h"
#include "policy/mime_walk.h"

struct mime_walker {
	struct mime_walk_limits limits;
	magic_t magic;
};

void mime_walk_limits_default(struct mime_walk_limits *limits)
{
	limits->max_message_bytes = 64u << 20;
	limits->max_parts = 1000;
	limits->max_mime_depth = 32;
	limits->max_archive_depth = 3;
	limits->max_archive_entries = 2000;
	limits->max_archive_bytes = 128u << 20;
	limits->sniff_text_bodies = false;
	limits->skip_sizes = false;
}

struct mime_walker *mime_walker_new(const struct mime_walk_limits *limits)
{
	struct mime_walker *walker = calloc(1, sizeof(*walker));
	if (walker == NULL)
		return NULL;
	if (limits != NULL)
		walker->limits = *limits;
	else
		mime_walk_limits_default(&walker->limits);
	walker->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
	if (walker->magic == NULL || magic_load(walker->magic, NULL) != 0) {
		if (walker->magic != NULL)
			magic_close(walker->magic);
		free(walker);
		return NULL;
	}
	g_mime_init();
	return walker;
}

void mime_walker_free(struct mime_walker *walker)
{
	if (walker == NULL)
		return;
	magic_close(walker->magic);
	g_mime_shutdown();
	free(walker);
}

size_t mime_walk_append(struct mime_walk_ctx *ctx)
{
	struct mime_walk *w = ctx->walk;
	if (w->nparts == ctx->cap) {
		size_t ncap = ctx->cap ? ctx->cap * 2 : 16;
		struct mime_part *n = realloc(w->parts, ncap * sizeof(*n));
		if (n == NULL) {
			ctx->nomem = true;
			return SIZE_MAX;
		}
		w->parts = n;
		ctx->cap = ncap;
	}
	struct mime_part *p = &w->parts[w->nparts];
	memset(p, 0, sizeof(*p));
	p->parent = SIZE_MAX;
	return w->nparts++;
}

size_t mime_walk_sniff_want(const uint8_t *data, size_t len)
{
	static const uint8_t ole[] = {0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1};
	if ((len >= 2 && data[0] == 'M' && data[1] == 'Z') ||
	    (len >= sizeof(ole) && memcmp(data, ole, sizeof(ole)) == 0))
		return MIME_WALK_SNIFF_DEEP_BYTES;
	return MIME_WALK_SNIFF_BYTES;
}

char *mime_walk_sniff(struct mime_walk_ctx *ctx, const uint8_t *data, size_t len)
{
	size_t want = mime_walk_sniff_want(data, len);
	const char *type = magic_buffer(ctx->magic, data, len < want ? len : want);
	if (type == NULL)
		return NULL;
	char *copy = strdup(type);
	if (copy == NULL)
		ctx->nomem = true;
	return copy;
}

/* A malloc'd lower-case copy of text (NULL stays NULL). */
static char *lower_dup(struct mime_walk_ctx *ctx, const char *text)
{
	if (text == NULL)
		return NULL;
	char *copy = strdup(text);
	if (copy == NULL) {
		ctx->nomem = true;
		return NULL;
	}
	for (char *p = copy; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return copy;
}

static void on_parser_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
			      gpointer data)
{
	(void)offset;
	struct mime_walk *w = data;
	w->parser_warnings++;
	switch (code) {
	case GMIME_CRIT_CONFLICTING_PARAMETER:
		w->flags |= MIME_WALK_AMBIGUOUS;
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
		/* Two different Subjects are spam, two different Content-Types evasion. */
		if (item != NULL && strncasecmp(item, "Content-", 8) == 0)
			w->flags |= MIME_WALK_AMBIGUOUS;
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		w->flags |= MIME_WALK_LIMIT_MIME_DEPTH;
		break;
	case GMIME_WARN_INVALID_CONTENT_TYPE:
	case GMIME_WARN_MALFORMED_MULTIPART:
	case GMIME_WARN_TRUNCATED_MESSAGE:
	case GMIME_WARN_MALFORMED_MESSAGE:
	case GMIME_CRIT_INVALID_HEADER_NAME:
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		w->flags |= MIME_WALK_MALFORMED;
		break;
	default:
		break;
	}
}

/* Child number n under prefix; false (and a depth limit) if the path is too long. */
static bool child_path(struct mime_walk_ctx *ctx, char *out, const char *prefix, int n)
{
	int len = *prefix ? snprintf(out, MIME_PATH_MAX, "%s.%d", prefix, n)
			  : snprintf(out, MIME_PATH_MAX, "%d", n);
	if (len < 0 || len >= MIME_PATH_MAX) {
		ctx->walk->flags |= MIME_WALK_LIMIT_MIME_DEPTH;
		return false;
	}
	return true;
}

static void walk_node(struct mime_walk_ctx *ctx, GMimeObject *obj, const char *path,
		      unsigned depth);

static void walk_multipart(struct mime_walk_ctx *ctx, GMimeMultipart *mp, const char *prefix,
			   unsigned depth)
{
	if (depth > ctx->limits->max_mime_depth) {
		ctx->walk->flags |= MIME_WALK_LIMIT_MIME_DEPTH;
		return;
	}
	int n = g_mime_multipart_get_count(mp);
	for (int i = 0; i < n && !ctx->nomem; i++) {
		char path[MIME_PATH_MAX];
		if (child_path(ctx, path, prefix, i + 1))
			walk_node(ctx, g_mime_multipart_get_part(mp, i), path, depth + 1);
	}
}

/* The body of a message whose parts are numbered under prefix ("" at the top). */
static void walk_body(struct mime_walk_ctx *ctx, GMimeObject *body, const char *prefix,
		      unsigned depth)
{
	if (body == NULL)
		return;
	if (GMIME_IS_MULTIPART(body)) {
		walk_multipart(ctx, GMIME_MULTIPART(body), prefix, depth);
		return;
	}
	char path[MIME_PATH_MAX];
	if (child_path(ctx, path, prefix, 1))
		walk_node(ctx, body, path, depth);
}

/* Whether the policy can use the true type of a MIME part (see mime_walk.h). */
static bool wants_sniff(const struct mime_walk_ctx *ctx, const struct mime_part *p)
{
	if (ctx->limits->sniff_text_bodies || p->filename != NULL)
		return true;
	if (p->disposition != NULL && strcmp(p->disposition, "attachment") == 0)
		return true;
	return p->content_type == NULL || strncmp(p->content_type, "text/", 5) != 0;
}

/* The decoded content of a part as a stream (unref it), as GMime decodes it. */
static GMimeStream *decoded_stream(GMimeDataWrapper *content)
{
	GMimeStream *src = g_mime_data_wrapper_get_stream(content);
	if (src == NULL || g_mime_stream_reset(src) == -1)
		return NULL;
	GMimeStream *filtered = g_mime_stream_filter_new(src);
	switch (g_mime_data_wrapper_get_encoding(content)) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_UUENCODE: {
		GMimeFilter *dec =
			g_mime_filter_basic_new(g_mime_data_wrapper_get_encoding(content), FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), dec);
		g_object_unref(dec);
		break;
	}
	default:
		break;
	}
	return filtered;
}

/* Appends decoded octets to b until it holds max of them or the content ends. */
static void read_decoded(GMimeStream *s, GByteArray *b, size_t max, uint64_t *total)
{
	guint8 chunk[16384];
	while (b->len < max && !g_mime_stream_eos(s)) {
		size_t room = max - b->len;
		ssize_t n = g_mime_stream_read(s, (char *)chunk,
					       room < sizeof(chunk) ? room : sizeof(chunk));
		if (n < 0)
			break;
		g_byte_array_append(b, chunk, (guint)n);
		*total += (uint64_t)n;
	}
}

/*
 * Sizes the decoded content of a leaf part and, where the policy can use it,
 * sniffs its true type and lists it as an archive. Content is streamed: held
 * whole only for an archive, else only as much as libmagic needs.
 */
static void walk_leaf(struct mime_walk_ctx *ctx, size_t idx, GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	if (content == NULL)
		return;
	GMimeStream *s = decoded_stream(content);
	if (s == NULL)
		return;
	struct mime_part *p = &ctx->walk->parts[idx];
	uint64_t total = 0;
	/* Decoded content is never larger than the encoded one, which is capped. */
	GByteArray *bytes = g_byte_array_new();
	if (wants_sniff(ctx, p)) {
		read_decoded(s, bytes, MIME_WALK_SNIFF_BYTES, &total);
		size_t want = mime_walk_sniff_want(bytes->data, bytes->len);
		bool by_name = mime_archive_is_candidate(NULL, p->filename);
		if (by_name || want > bytes->len)
			read_decoded(s, bytes, by_name ? SIZE_MAX : want, &total);
		if (bytes->len > 0)
			p->true_type = mime_walk_sniff(ctx, bytes->data, bytes->len);
		if (!ctx->nomem && bytes->len > 0 &&
		    mime_archive_is_candidate(p->true_type, p->filename)) {
			read_decoded(s, bytes, SIZE_MAX, &total);
			/* (the listing appends parts: p is not used after it) */
			mime_archive_list(ctx, idx, bytes->data, bytes->len);
		}
	}
	/* The rest is only counted, if sizes are wanted. */
	guint8 chunk[16384];
	while (!ctx->limits->skip_sizes && !g_mime_stream_eos(s)) {
		ssize_t n = g_mime_stream_read(s, (char *)chunk, sizeof(chunk));
		if (n < 0)
			break;
		total += (uint64_t)n;
	}
	ctx->walk->parts[idx].size = total;
	g_byte_array_free(bytes, TRUE);
	g_object_unref(s);
	g_mime_stream_reset(g_mime_data_wrapper_get_stream(content));
}

static void walk_node(struct mime_walk_ctx *ctx, GMimeObject *obj, const char *path, unsigned depth)
{
	if (ctx->nomem)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		walk_multipart(ctx, GMIME_MULTIPART(obj), path, depth);
		return;
	}
	if (ctx->mime_parts >= ctx->limits->max_parts) {
		ctx->walk->flags |= MIME_WALK_LIMIT_PARTS;
		return;
	}
	ctx->mime_parts++;
	size_t idx = mime_walk_append(ctx);
	if (idx == SIZE_MAX)
		return;
	struct mime_part *p = &ctx->walk->parts[idx];
	snprintf(p->path, sizeof(p->path), "%s", path);
	char *type = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj));
	p->content_type = lower_dup(ctx, type);
	g_free(type);
	p->disposition = lower_dup(ctx, g_mime_object_get_disposition(obj));
	const char *name = NULL;
	if (GMIME_IS_PART(obj)) {
		name = g_mime_part_get_filename(GMIME_PART(obj));
	} else {
		name = g_mime_object_get_content_disposition_parameter(obj, "filename");
		if (name == NULL)
			name = g_mime_object_get_content_type_parameter(obj, "name");
	}
	if (name != NULL && (p->filename = strdup(name)) == NULL)
		ctx->nomem = true;
	if (ctx->nomem)
		return;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		p->kind = MIME_PART_MESSAGE;
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner != NULL) {
			if (depth >= ctx->limits->max_mime_depth) {
				ctx->walk->flags |= MIME_WALK_LIMIT_MIME_DEPTH;
				return;
			}
			walk_body(ctx, g_mime_message_get_mime_part(inner), path, depth + 1);
		}
		return;
	}
	if (GMIME_IS_PART(obj))
		walk_leaf(ctx, idx, GMIME_PART(obj));
}

/* Walks the message in stream (a reference is taken by the parser). */
static struct mime_walk *walk_stream(struct mime_walker *walker, GMimeStream *stream)
{
	struct mime_walk *walk = calloc(1, sizeof(*walk));
	if (walk == NULL)
		return NULL;
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeParserOptions *options = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(options, on_parser_warning, walk);
	walk->message = g_mime_parser_construct_message(parser, options);
	g_mime_parser_options_free(options);
	g_object_unref(parser);
	if (walk->message == NULL) {
		/* GMime gives up only on input without any header block. */
		walk->flags |= MIME_WALK_MALFORMED;
		return walk;
	}
	struct mime_walk_ctx ctx = {
		.walk = walk, .limits = &walker->limits, .magic = walker->magic};
	walk_body(&ctx, g_mime_message_get_mime_part(walk->message), "", 0);
	if (ctx.nomem) {
		mime_walk_free(walk);
		return NULL;
	}
	return walk;
}

static struct mime_walk *too_big(void)
{
	struct mime_walk *walk = calloc(1, sizeof(*walk));
	if (walk != NULL)
		walk->flags |= MIME_WALK_LIMIT_MESSAGE_BYTES;
	return walk;
}

struct mime_walk *mime_walk_mem(struct mime_walker *walker, const void *data, size_t len)
{
	if (len > walker->limits.max_message_bytes)
		return too_big();
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	struct mime_walk *walk = walk_stream(walker, stream);
	g_object_unref(stream);
	return walk;
}

struct mime_walk *mime_walk_fd_range(struct mime_walker *walker, int fd, uint64_t offset,
				     uint64_t len)
{
	if (len > walker->limits.max_message_bytes)
		return too_big();
	if (offset > INT64_MAX - len) {
		errno = EINVAL;
		return NULL;
	}
	/* GMime seeks before every read, so sharing the file offset with fd is harmless. */
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return NULL;
	GMimeStream *stream =
		g_mime_stream_fs_new_with_bounds(own, (gint64)offset, (gint64)(offset + len));
	struct mime_walk *walk = walk_stream(walker, stream);
	g_object_unref(stream);
	return walk;
}

struct mime_walk *mime_walk_fd(struct mime_walker *walker, int fd)
{
	size_t cap = 0, len = 0, max = walker->limits.max_message_bytes;
	uint8_t *buf = NULL;
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				/* Read max + 1 bytes: too big, no need for the rest. */
				free(buf);
				struct mime_walk *walk = calloc(1, sizeof(*walk));
				if (walk != NULL)
					walk->flags |= MIME_WALK_LIMIT_MESSAGE_BYTES;
				return walk;
			}
			size_t ncap = cap ? cap * 2 : 65536;
			if (ncap > max + 1)
				ncap = max + 1;
			uint8_t *n = realloc(buf, ncap);
			if (n == NULL) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = n;
			cap = ncap;
		}
		ssize_t got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int saved = errno;
			free(buf);
			errno = saved;
			return NULL;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	struct mime_walk *walk = mime_walk_mem(walker, buf, len);
	free(buf);
	return walk;
}

void mime_walk_free(struct mime_walk *walk)
{
	if (walk == NULL)
		return;
	for (size_t i = 0; i < walk->nparts; i++) {
		free(walk->parts[i].content_type);
		free(walk->parts[i].disposition);
		free(walk->parts[i].filename);
		free(walk->parts[i].true_type);
	}
	free(walk->parts);
	if (walk->message != NULL)
		g_object_unref(walk->message);
	free(walk);
}

/* Next path component ("12" of "12.3"), 1..INT_MAX; 0 if malformed. */
static int path_component(const char **cursor)
{
	const char *p = *cursor;
	long n = 0;
	if (*p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (*p - '0');
		if (n > INT_MAX)
			return 0;
		p++;
	}
	if (*p == '.' && p[1] != '\0')
		p++;
	else if (*p != '\0')
		return 0;
	*cursor = p;
	return (int)n;
}

GMimeObject *mime_walk_find(GMimeMessage *msg, const char *path, GMimeMultipart **parent,
			    int *index, GMimeMessage **message)
{
	GMimeObject *node = NULL;
	GMimeMessage *current = msg;
	GMimeMultipart *holder = NULL;
	int pos = 0;
	if (msg == NULL || path == NULL || *path == '\0')
		return NULL;
	while (*path) {
		int n = path_component(&path);
		if (n == 0)
			return NULL;
		GMimeObject *container = NULL;
		if (node == NULL) {
			container = g_mime_message_get_mime_part(current);
		} else if (GMIME_IS_MESSAGE_PART(node)) {
			current = g_mime_message_part_get_message(GMIME_MESSAGE_PART(node));
			if (current == NULL)
				return NULL;
			container = g_mime_message_get_mime_part(current);
		} else if (GMIME_IS_MULTIPART(node)) {
			container = node;
		} else {
			return NULL;
		}
		if (container == NULL)
			return NULL;
		if (GMIME_IS_MULTIPART(container)) {
			holder = GMIME_MULTIPART(container);
			if (n > g_mime_multipart_get_count(holder))
				return NULL;
			pos = n - 1;
			node = g_mime_multipart_get_part(holder, pos);
		} else {
			/* A single-part body is its message's part 1. */
			if (n != 1)
				return NULL;
			holder = NULL;
			pos = 0;
			node = container;
		}
	}
	if (parent != NULL)
		*parent = holder;
	if (index != NULL)
		*index = pos;
	if (message != NULL)
		*message = holder == NULL ? current : NULL;
	return node;
}

static const struct {
	unsigned flag;
	const char *name;
} flag_names[] = {
	{MIME_WALK_MALFORMED, "malformed"},
	{MIME_WALK_AMBIGUOUS, "ambiguous"},
	{MIME_WALK_ARCHIVE_ERROR, "archive-error"},
	{MIME_WALK_ENCRYPTED, "encrypted"},
	{MIME_WALK_LIMIT_PARTS, "limit-parts"},
	{MIME_WALK_LIMIT_MIME_DEPTH, "limit-mime-depth"},
	{MIME_WALK_LIMIT_ARCHIVE_DEPTH, "limit-archive-depth"},
	{MIME_WALK_LIMIT_ARCHIVE_ENTRIES, "limit-archive-entries"},
	{MIME_WALK_LIMIT_ARCHIVE_BYTES, "limit-archive-bytes"},
	{MIME_WALK_LIMIT_MESSAGE_BYTES, "limit-message-bytes"},
};

const char *mime_walk_flag_name(unsigned flag)
{
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (flag_names[i].flag == flag)
			return flag_names[i].name;
	}
	return "unknown";
}

const char *mime_walk_flags_text(unsigned flags, char *out, size_t outsz)
{
	size_t used = 0;
	if (outsz == 0)
		return out;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(flags & flag_names[i].flag))
			continue;
		int n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "",
				 flag_names[i].name);
		if (n < 0 || (size_t)n >= outsz - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(out, outsz, "none");
	return out;
}
