/*
 * The digests sit in a ring in the order they were added (the oldest is
 * forgotten first, by age or to make room) and in a chained hash table
 * (bucket heads, a next index per entry) for lookups.
 */
#include "relay/hub/hub_dedupe.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NONE UINT32_MAX

struct entry {
	unsigned char digest[HUB_DEDUPE_DIGEST];
	int64_t added;
	uint32_t next; /* the next entry in the same bucket */
};

struct hub_dedupe {
	struct entry *ring;
	size_t cap, head, count; /* head: the oldest entry */
	uint32_t *bucket;
	size_t nbuckets; /* a power of two */
	int64_t window_s;
};

struct hub_dedupe *hub_dedupe_new(size_t cap, int64_t window_s)
{
	if (cap < 1 || cap >= NONE || window_s < 1)
		return NULL;
	if (sodium_init() < 0)
		return NULL;
	struct hub_dedupe *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cap = cap;
	d->window_s = window_s;
	for (d->nbuckets = 16; d->nbuckets < cap * 2; d->nbuckets *= 2)
		;
	d->ring = calloc(cap, sizeof(*d->ring));
	d->bucket = malloc(d->nbuckets * sizeof(*d->bucket));
	if (!d->ring || !d->bucket) {
		hub_dedupe_free(d);
		return NULL;
	}
	for (size_t i = 0; i < d->nbuckets; i++)
		d->bucket[i] = NONE;
	return d;
}

void hub_dedupe_free(struct hub_dedupe *d)
{
	if (!d)
		return;
	free(d->ring);
	free(d->bucket);
	free(d);
}

/* The digest is a keyed hash's output already: its first octets are a fine bucket number. */
static uint32_t *bucket_of(struct hub_dedupe *d, const unsigned char digest[HUB_DEDUPE_DIGEST])
{
	uint64_t h;
	memcpy(&h, digest, sizeof(h));
	return &d->bucket[h & (d->nbuckets - 1)];
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Each field with its length first, so that no two field lists hash alike. */
static void put(crypto_generichash_state *s, const void *p, size_t len)
{
	uint64_t n = len;
	crypto_generichash_update(s, (const unsigned char *)&n, sizeof(n));
	crypto_generichash_update(s, p, len);
}

void hub_dedupe_envelope(const char *from, const char *const *rcpts, size_t nrcpts,
			 unsigned char out[HUB_DEDUPE_DIGEST])
{
	const char **sorted = nrcpts ? malloc(nrcpts * sizeof(*sorted)) : NULL;
	crypto_generichash_state s;
	crypto_generichash_init(&s, NULL, 0, HUB_DEDUPE_DIGEST);
	put(&s, from, strlen(from));
	if (sorted) {
		memcpy(sorted, rcpts, nrcpts * sizeof(*sorted));
		qsort(sorted, nrcpts, sizeof(*sorted), cmp_str);
		rcpts = sorted;
	}
	/* Out of memory: unsorted, so that a retry may fail to match, never match wrongly. */
	for (size_t i = 0; i < nrcpts; i++)
		put(&s, rcpts[i], strlen(rcpts[i]));
	crypto_generichash_final(&s, out, HUB_DEDUPE_DIGEST);
	free(sorted);
}

void hub_dedupe_digest(const struct attest_stamp *st,
		       const unsigned char envelope[HUB_DEDUPE_DIGEST],
		       unsigned char out[HUB_DEDUPE_DIGEST])
{
	crypto_generichash_state s;
	crypto_generichash_init(&s, NULL, 0, HUB_DEDUPE_DIGEST);
	put(&s, st->key_id, strlen(st->key_id));
	put(&s, st->id, strlen(st->id));
	put(&s, st->body_hash, sizeof(st->body_hash));
	put(&s, envelope, HUB_DEDUPE_DIGEST);
	crypto_generichash_final(&s, out, HUB_DEDUPE_DIGEST);
}

/* Forgets the oldest entry. */
static void drop_oldest(struct hub_dedupe *d)
{
	uint32_t idx = (uint32_t)d->head;
	uint32_t *link = bucket_of(d, d->ring[idx].digest);
	while (*link != idx)
		link = &d->ring[*link].next;
	*link = d->ring[idx].next;
	d->head = (d->head + 1) % d->cap;
	d->count--;
}

bool hub_dedupe_seen(struct hub_dedupe *d, const unsigned char digest[HUB_DEDUPE_DIGEST],
		     int64_t now)
{
	for (uint32_t i = *bucket_of(d, digest); i != NONE; i = d->ring[i].next)
		if (memcmp(d->ring[i].digest, digest, HUB_DEDUPE_DIGEST) == 0 &&
		    now - d->ring[i].added < d->window_s)
			return true;
	return false;
}

void hub_dedupe_add(struct hub_dedupe *d, const unsigned char digest[HUB_DEDUPE_DIGEST],
		    int64_t now)
{
	while (d->count > 0 && (d->count == d->cap || now - d->ring[d->head].added >= d->window_s))
		drop_oldest(d);
	uint32_t idx = (uint32_t)((d->head + d->count) % d->cap);
	struct entry *e = &d->ring[idx];
	memcpy(e->digest, digest, HUB_DEDUPE_DIGEST);
	e->added = now;
	uint32_t *b = bucket_of(d, digest);
	e->next = *b; /* newest first: a lookup finds the latest copy of a digest first */
	*b = idx;
	d->count++;
}

size_t hub_dedupe_count(const struct hub_dedupe *d)
{
	return d->count;
}
