/*
 * Archive listings with libarchive, bounded by the walk's limits: every byte
 * unpacked counts against max_archive_bytes (so a zip bomb stops the listing
 * instead of filling memory), every entry against max_archive_entries, and
 * archives inside archives against max_archive_depth.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <archive.h>
#include <archive_entry.h>

#include "policy/mime_archive.h"

/* libmagic types of containers libarchive can list. */
static const char *const archive_types[] = {
	"application/zip",
	"application/x-zip-compressed",
	"application/java-archive",
	"application/x-tar",
	"application/gzip",
	"application/x-gzip",
	"application/x-bzip2",
	"application/x-xz",
	"application/x-lzma",
	"application/x-lzip",
	"application/zstd",
	"application/x-compress",
	"application/x-7z-compressed",
	"application/x-rar",
	"application/vnd.rar",
	"application/x-rar-compressed",
	"application/vnd.ms-cab-compressed",
	"application/x-iso9660-image",
	"application/x-cpio",
	"application/x-lzh-compressed",
	"application/x-xar",
};

/* Names that promise an archive even when the content does not look like one. */
static const char *const archive_exts[] = {
	"zip",	"jar", "tar", "tgz", "tbz", "tbz2", "txz", "gz",   "bz2", "xz",	 "lz",
	"lzma", "zst", "z",   "7z",  "rar", "cab",  "iso", "cpio", "lzh", "lha", "xar",
};

/* Read granularity when unpacking an entry. */
#define ARCHIVE_CHUNK 65536

static void flag(struct mime_walk_ctx *ctx, size_t idx, unsigned f)
{
	ctx->walk->parts[idx].flags |= f;
	ctx->walk->flags |= f;
}

static const char *last_extension(const char *name, char *buf, size_t bufsz)
{
	const char *base = name;
	for (const char *p = name; *p; p++) {
		if (*p == '/' || *p == '\\')
			base = p + 1;
	}
	size_t len = strlen(base);
	/* Windows ignores trailing dots and spaces: "a.zip. " is a zip. */
	while (len > 0 && (base[len - 1] == '.' || base[len - 1] == ' '))
		len--;
	const char *dot = NULL;
	for (size_t i = 0; i < len; i++) {
		if (base[i] == '.')
			dot = base + i;
	}
	if (dot == NULL || dot == base)
		return NULL;
	size_t elen = len - (size_t)(dot + 1 - base);
	if (elen == 0 || elen >= bufsz)
		return NULL;
	memcpy(buf, dot + 1, elen);
	buf[elen] = '\0';
	return buf;
}

bool mime_archive_is_candidate(const char *true_type, const char *name)
{
	if (true_type != NULL) {
		for (size_t i = 0; i < sizeof(archive_types) / sizeof(archive_types[0]); i++) {
			if (strcasecmp(true_type, archive_types[i]) == 0)
				return true;
		}
	}
	char buf[16];
	const char *ext = name ? last_extension(name, buf, sizeof(buf)) : NULL;
	if (ext != NULL) {
		for (size_t i = 0; i < sizeof(archive_exts) / sizeof(archive_exts[0]); i++) {
			if (strcasecmp(ext, archive_exts[i]) == 0)
				return true;
		}
	}
	return false;
}

struct entry_data {
	uint8_t *data;
	size_t len, cap;
};

enum read_result { READ_DONE, READ_MORE, READ_ERROR, READ_LIMIT, READ_NOMEM };

/*
 * Unpacks the current entry into *ed until it holds upto octets (READ_MORE:
 * the entry may go on) or the entry ends (READ_DONE), counting every byte
 * against the limit.
 */
static enum read_result read_entry(struct mime_walk_ctx *ctx, struct archive *a, size_t idx,
				   struct entry_data *ed, size_t upto)
{
	struct mime_walk *w = ctx->walk;
	for (;;) {
		if (ed->len >= upto)
			return READ_MORE;
		if (ed->cap - ed->len < ARCHIVE_CHUNK) {
			size_t ncap = ed->cap ? ed->cap * 2 : ARCHIVE_CHUNK;
			uint8_t *n = realloc(ed->data, ncap);
			if (n == NULL)
				return READ_NOMEM;
			ed->data = n;
			ed->cap = ncap;
		}
		size_t ask = upto - ed->len < ARCHIVE_CHUNK ? upto - ed->len : ARCHIVE_CHUNK;
		la_ssize_t got = archive_read_data(a, ed->data + ed->len, ask);
		if (got == 0)
			return READ_DONE;
		if (got < 0)
			return READ_ERROR;
		if (w->archive_bytes + (uint64_t)got > ctx->limits->max_archive_bytes) {
			/* Keep what fits for sniffing, and stop. */
			size_t room = (size_t)(ctx->limits->max_archive_bytes - w->archive_bytes);
			ed->len += room;
			w->archive_bytes += room;
			w->parts[idx].size += room;
			return READ_LIMIT;
		}
		ed->len += (size_t)got;
		w->archive_bytes += (uint64_t)got;
		w->parts[idx].size += (uint64_t)got;
	}
}

static char *entry_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname_utf8(e);
	if (name == NULL)
		name = archive_entry_pathname(e);
	return strdup(name ? name : "");
}

/*
 * Lists one entry (already appended as idx) and recurses into it. Returns
 * false when listing of the holding archive must stop.
 */
static bool list_entry(struct mime_walk_ctx *ctx, struct archive *a, struct archive_entry *e,
		       size_t idx)
{
	struct mime_walk *w = ctx->walk;
	if (archive_entry_is_encrypted(e)) {
		flag(ctx, idx, MIME_WALK_ENCRYPTED);
		return true;
	}
	if (archive_entry_filetype(e) != AE_IFREG)
		return true;
	struct entry_data ed = {0};
	enum read_result rr;
	if (ctx->limits->skip_sizes && !mime_archive_is_candidate(NULL, w->parts[idx].filename)) {
		/*
		 * Only as much as the sniff needs, and the rest only if the entry
		 * turns out to be an archive: libarchive skips what is not read.
		 */
		rr = read_entry(ctx, a, idx, &ed, MIME_WALK_SNIFF_BYTES);
		size_t want = rr == READ_MORE ? mime_walk_sniff_want(ed.data, ed.len) : 0;
		if (want > ed.len)
			rr = read_entry(ctx, a, idx, &ed, want);
		if (rr == READ_MORE && ed.len > 0) {
			w->parts[idx].true_type = mime_walk_sniff(ctx, ed.data, ed.len);
			if (!ctx->nomem && mime_archive_is_candidate(w->parts[idx].true_type, NULL))
				rr = read_entry(ctx, a, idx, &ed, SIZE_MAX);
			else if (!ctx->nomem)
				rr = READ_DONE; /* a leaf: what was read is all that is needed */
		}
	} else {
		rr = read_entry(ctx, a, idx, &ed, SIZE_MAX);
	}
	bool go_on = true;
	switch (rr) {
	case READ_NOMEM:
		ctx->nomem = true;
		go_on = false;
		break;
	case READ_ERROR:
		/* The entry could not be unpacked, so neither can the archive. */
		flag(ctx, idx, MIME_WALK_ARCHIVE_ERROR);
		flag(ctx, w->parts[idx].parent, MIME_WALK_ARCHIVE_ERROR);
		go_on = false;
		break;
	case READ_LIMIT:
		flag(ctx, idx, MIME_WALK_LIMIT_ARCHIVE_BYTES);
		go_on = false;
		break;
	case READ_MORE: /* out of memory while sniffing (ctx->nomem) */
	case READ_DONE:
		break;
	}
	if (!ctx->nomem && ed.len > 0) {
		if (!w->parts[idx].true_type)
			w->parts[idx].true_type = mime_walk_sniff(ctx, ed.data, ed.len);
		if (go_on &&
		    mime_archive_is_candidate(w->parts[idx].true_type, w->parts[idx].filename))
			mime_archive_list(ctx, idx, ed.data, ed.len);
	}
	free(ed.data);
	return go_on && !ctx->nomem;
}

bool mime_archive_list(struct mime_walk_ctx *ctx, size_t holder, const uint8_t *data, size_t len)
{
	struct mime_walk *w = ctx->walk;
	if (len == 0)
		return false;
	unsigned depth = w->parts[holder].depth + 1;
	if (depth > ctx->limits->max_archive_depth) {
		w->parts[holder].is_archive = true;
		flag(ctx, holder, MIME_WALK_LIMIT_ARCHIVE_DEPTH);
		return true;
	}
	struct archive *a = archive_read_new();
	if (a == NULL) {
		ctx->nomem = true;
		return true;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	/* A lone compressed file (clam.exe.gz) is listed as one entry "data". */
	archive_read_support_format_raw(a);
	bool is_archive = true;
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		flag(ctx, holder, MIME_WALK_ARCHIVE_ERROR);
		goto out;
	}
	for (bool first = true;; first = false) {
		struct archive_entry *e;
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			flag(ctx, holder, MIME_WALK_ARCHIVE_ERROR);
			break;
		}
		if (first && archive_format(a) == ARCHIVE_FORMAT_RAW &&
		    archive_filter_count(a) <= 1) {
			/* Neither an archive nor compressed: only the name said so. */
			is_archive = false;
			break;
		}
		if (w->archive_entries >= ctx->limits->max_archive_entries) {
			flag(ctx, holder, MIME_WALK_LIMIT_ARCHIVE_ENTRIES);
			break;
		}
		w->archive_entries++;
		size_t idx = mime_walk_append(ctx);
		if (idx == SIZE_MAX)
			break;
		struct mime_part *p = &w->parts[idx];
		p->kind = MIME_PART_ARCHIVE_ENTRY;
		memcpy(p->path, w->parts[holder].path, sizeof(p->path));
		p->depth = depth;
		p->parent = holder;
		p->filename = entry_name(e);
		if (p->filename == NULL) {
			ctx->nomem = true;
			break;
		}
		if (!list_entry(ctx, a, e, idx))
			break;
	}
	if (is_archive && archive_read_has_encrypted_entries(a) > 0)
		flag(ctx, holder, MIME_WALK_ENCRYPTED);
out:
	archive_read_free(a);
	if (is_archive)
		w->parts[holder].is_archive = true;
	return is_archive;
}
