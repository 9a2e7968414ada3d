/*
 * Fuzz target: the MIME walk (GMime, libmagic, libarchive) and the attachment
 * policy on arbitrary bytes, and stripping whatever the policy would strip.
 * Invariants: the walk always answers; every entry sits under an earlier part
 * one level deeper with the same MIME path, every MIME part can be found again
 * by its path, the walk's flags cover its parts' flags, the limits hold; the
 * verdict's reply is printable ASCII; a strip succeeds and ends in CRLF.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/attach_policy.h"
#include "policy/mime_walk.h"

#include "fuzz_check.h"

/* Small limits keep each run fast; the checks are the same at any size. */
#define FUZZ_MAX_INPUT (256 * 1024)

static struct mime_walker *walker;
static struct mime_walk_limits limits;
/* The same limits with skip_sizes, as the scan process walks. */
static struct mime_walker *quick;

/* Flags after which the two walks may list differently (one read further than the other). */
#define PARTIAL_FLAGS                                                                              \
	(MIME_WALK_ARCHIVE_ERROR | MIME_WALK_LIMIT_PARTS | MIME_WALK_LIMIT_MIME_DEPTH |            \
	 MIME_WALK_LIMIT_ARCHIVE_DEPTH | MIME_WALK_LIMIT_ARCHIVE_ENTRIES |                         \
	 MIME_WALK_LIMIT_ARCHIVE_BYTES | MIME_WALK_LIMIT_MESSAGE_BYTES)

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_walk(const struct mime_walk *w);

/* A walk that decodes only what the sniff needs lists the same parts with the same types. */
static void check_quick(const struct mime_walk *full, const uint8_t *data, size_t size)
{
	struct mime_walk *q = mime_walk_mem(quick, data, size);
	CHECK(q != NULL);
	check_walk(q);
	if (!(full->flags & PARTIAL_FLAGS) && !(q->flags & PARTIAL_FLAGS)) {
		CHECK(q->nparts == full->nparts);
		for (size_t i = 0; i < q->nparts; i++) {
			CHECK(same_text(q->parts[i].path, full->parts[i].path));
			CHECK(same_text(q->parts[i].filename, full->parts[i].filename));
			CHECK(same_text(q->parts[i].true_type, full->parts[i].true_type));
			CHECK(q->parts[i].is_archive == full->parts[i].is_archive);
			CHECK(q->parts[i].size <= full->parts[i].size);
		}
	}
	mime_walk_free(q);
}

static void check_walk(const struct mime_walk *w)
{
	unsigned flags = 0, mime_parts = 0;
	for (size_t i = 0; i < w->nparts; i++) {
		const struct mime_part *p = &w->parts[i];
		flags |= p->flags;
		CHECK(p->path[0] != '\0' && strlen(p->path) < MIME_PATH_MAX);
		if (p->kind == MIME_PART_ARCHIVE_ENTRY) {
			CHECK(p->parent < i);
			const struct mime_part *h = &w->parts[p->parent];
			CHECK(h->is_archive);
			CHECK(p->depth == h->depth + 1 && p->depth <= limits.max_archive_depth);
			CHECK(strcmp(p->path, h->path) == 0);
			CHECK(p->content_type == NULL && p->filename != NULL);
		} else {
			mime_parts++;
			CHECK(p->parent == SIZE_MAX && p->depth == 0);
			CHECK(p->content_type != NULL);
			CHECK(mime_walk_find(w->message, p->path, NULL, NULL, NULL) != NULL);
		}
	}
	CHECK((w->flags & flags) == flags);
	CHECK(mime_parts <= limits.max_parts);
	CHECK(w->archive_entries <= limits.max_archive_entries);
	CHECK(w->archive_bytes <= limits.max_archive_bytes);
}

static void check_text(const char *text)
{
	for (const char *c = text; *c; c++)
		CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (walker == NULL) {
		mime_walk_limits_default(&limits);
		limits.max_parts = 200;
		limits.max_archive_entries = 200;
		limits.max_archive_bytes = 4u << 20;
		walker = mime_walker_new(&limits);
		CHECK(walker != NULL);
		struct mime_walk_limits ql = limits;
		ql.skip_sizes = true;
		quick = mime_walker_new(&ql);
		CHECK(quick != NULL);
	}
	if (size > FUZZ_MAX_INPUT)
		return 0;
	struct mime_walk *w = mime_walk_mem(walker, data, size);
	CHECK(w != NULL);
	check_walk(w);
	check_quick(w, data, size);

	struct attach_policy_options o;
	attach_policy_options_default(&o);
	o.builtin_action = ATTACH_STRIP;
	o.on_limit = ATTACH_ACCEPT;
	o.on_ambiguous = ATTACH_ACCEPT;
	struct attach_verdict v;
	CHECK(attach_policy_check(&o, w, &v) == 0);
	CHECK(v.action == ATTACH_ACCEPT || v.action == ATTACH_STRIP);
	check_text(v.name);
	check_text(v.reason);
	check_text(v.reply);
	for (size_t i = 0; i < v.nstrip; i++)
		check_text(v.strip[i].name);
	if (v.action == ATTACH_STRIP) {
		char *out = NULL;
		size_t outlen = 0;
		CHECK(attach_policy_strip(w->message, v.strip, v.nstrip, &out, &outlen) == 0);
		CHECK(outlen >= 2 && out[outlen - 2] == '\r' && out[outlen - 1] == '\n');
		free(out);
	}
	attach_verdict_clear(&v);

	attach_policy_options_default(&o);
	CHECK(attach_policy_check(&o, w, &v) == 0);
	CHECK(v.action != ATTACH_REJECT || strncmp(v.reply, "550 5.7.1 ", 10) == 0);
	check_text(v.reply);
	attach_verdict_clear(&v);
	mime_walk_free(w);
	return 0;
}
