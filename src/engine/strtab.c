/*
 * strtab.c — a set of strings in one arena with a hash index (see strtab.h).
 */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

static uint32_t
hash_bytes(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char) s[i]) * 16777619u;
	return h;
}

static uint32_t
hash_final(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

/* Hash of a, or of "a b" when b is given (how merges are keyed). */
uint32_t
strtab_hash(const char *a, size_t alen, const char *b, size_t blen)
{
	uint32_t	h = hash_bytes(2166136261u, a, alen);

	if (b)
	{
		h = hash_bytes(h, " ", 1);
		h = hash_bytes(h, b, blen);
	}
	return hash_final(h);
}

static bool
entry_equals(const struct strtab *t, uint32_t e, const char *a, size_t alen,
			 const char *b, size_t blen)
{
	const char *s = t->arena + t->off[e];
	size_t		n = t->off[e + 1] - t->off[e];

	if (b == NULL)
		return n == alen && memcmp(s, a, alen) == 0;
	return n == alen + 1 + blen && memcmp(s, a, alen) == 0 &&
		s[alen] == ' ' && memcmp(s + alen + 1, b, blen) == 0;
}

/* Entry holding a (or "a b"), whose strtab_hash is h, or -1. */
int64_t
strtab_find_hashed(const struct strtab *t, uint32_t h, const char *a, size_t alen,
				   const char *b, size_t blen)
{
	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask)
	{
		uint32_t	e = t->slot[i].entry;

		if (e == 0)
			return -1;
		if (t->slot[i].hash == h && entry_equals(t, e - 1, a, alen, b, blen))
			return e - 1;
	}
}

/* Entry holding a (or "a b"), or -1. */
int64_t
strtab_find(const struct strtab *t, const char *a, size_t alen,
			const char *b, size_t blen)
{
	return strtab_find_hashed(t, strtab_hash(a, alen, b, blen), a, alen, b, blen);
}

/*
 * Index every entry.  For a text present more than once, the index points
 * at the last copy when last_wins (llama.cpp's token map), else at the first
 * (its merge ranks).  The hashes are computed first so that the slot each
 * insert will probe can be prefetched: the table is larger than the caches,
 * and waiting for each slot in turn would dominate the load time.
 */
bool
strtab_index(struct strtab *t, bool last_wins)
{
	const uint32_t ahead = 16;
	uint32_t	cap = 16;
	uint32_t   *hash;

	while (cap < 2 * (uint64_t) t->n + 2)
		cap *= 2;
	t->slot = calloc(cap, sizeof *t->slot);
	hash = malloc(((size_t) t->n + 1) * sizeof *hash);
	if (t->slot == NULL || hash == NULL)
	{
		free(hash);
		return false;
	}
	t->mask = cap - 1;
	for (uint32_t e = 0; e < t->n; e++)
		hash[e] = strtab_hash(t->arena + t->off[e], t->off[e + 1] - t->off[e], NULL, 0);
	for (uint32_t e = 0; e < t->n; e++)
	{
		const char *s = t->arena + t->off[e];
		size_t		n = t->off[e + 1] - t->off[e];
		uint32_t	h = hash[e];
		uint32_t	i = h & t->mask;

		if (e + ahead < t->n)
			__builtin_prefetch(&t->slot[hash[e + ahead] & t->mask], 1);
		for (; t->slot[i].entry != 0; i = (i + 1) & t->mask)
			if (t->slot[i].hash == h && entry_equals(t, t->slot[i].entry - 1, s, n, NULL, 0))
				break;
		if (t->slot[i].entry == 0 || last_wins)
			t->slot[i].entry = e + 1;
		t->slot[i].hash = h;
	}
	free(hash);
	return true;
}

void
strtab_free(struct strtab *t)
{
	free(t->arena);
	free(t->off);
	free(t->slot);
}

const char *
strtab_str(const struct strtab *t, uint32_t e, size_t *len)
{
	*len = t->off[e + 1] - t->off[e];
	return t->arena + t->off[e];
}
