/*
 * Archive listings for the MIME walk: the names (and true types) of the files
 * inside zip, tar, 7z, rar, cab, iso, cpio archives and gzip/bzip2/xz
 * streams, read with libarchive from memory, recursing into archives inside
 * archives up to the walk's limits.
 *
 * This is the walk's inner half: mime_walk.c calls it and it appends entries
 * to the walk through mime_walk_append(). Nothing outside those two files
 * should include it.
 */
#ifndef AIRLOCK_MIME_ARCHIVE_H
#define AIRLOCK_MIME_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <magic.h>

#include "policy/mime_walk.h"

/* What one walk of one message shares between the MIME and archive halves. */
struct mime_walk_ctx {
	struct mime_walk *walk;		       /* being built */
	const struct mime_walk_limits *limits; /* the walker's */
	magic_t magic;			       /* the walker's */
	size_t cap;			       /* allocated length of walk->parts */
	unsigned mime_parts;		       /* MIME parts listed so far */
	bool nomem;			       /* an allocation failed: the walk is void */
};

/*
 * Appends a zeroed part (parent SIZE_MAX) to ctx->walk and returns its index,
 * or SIZE_MAX (with ctx->nomem set) when memory runs out. Pointers into
 * walk->parts are invalidated by it. Defined in mime_walk.c.
 */
size_t mime_walk_append(struct mime_walk_ctx *ctx);

/*
 * The libmagic MIME type of data[0..len) (only the first
 * mime_walk_sniff_want() octets are looked at), as a new string, or NULL if
 * libmagic fails or memory runs out. Defined in mime_walk.c.
 */
char *mime_walk_sniff(struct mime_walk_ctx *ctx, const uint8_t *data, size_t len);

/*
 * How many octets of content starting with data[0..len) libmagic needs (see
 * "True types" in mime_walk.h): MIME_WALK_SNIFF_DEEP_BYTES for content
 * starting with "MZ" or an OLE signature, else MIME_WALK_SNIFF_BYTES.
 * Defined in mime_walk.c.
 */
size_t mime_walk_sniff_want(const uint8_t *data, size_t len);

/*
 * True if a part with this true type (may be NULL) or file name (may be NULL)
 * should be listed as an archive.
 */
bool mime_archive_is_candidate(const char *true_type, const char *name);

/*
 * Lists the archive data[0..len), which is part or entry number holder of the
 * walk, appending its entries (depth = holder's depth + 1) and recursing into
 * archives among them. Limits reached and read errors become flags on the
 * holder and the walk. Returns false if data turned out to be no archive at
 * all (plain data behind a matching name); holder is then not marked.
 */
bool mime_archive_list(struct mime_walk_ctx *ctx, size_t holder, const uint8_t *data, size_t len);

#endif
