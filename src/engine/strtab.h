/*
 * strtab.h — a set of strings kept in one arena, with an open-addressing
 * hash index from text to entry number: the tokenizer's vocabulary (entry
 * i is token i) and its merges (entries "left right", looked up by their
 * two halves without building the string).
 *
 * The owner fills arena, off and n, then calls strtab_index.
 */
#ifndef DR1_STRTAB_H
#define DR1_STRTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strtab_slot
{
	uint32_t	entry;			/* entry + 1; 0 = empty */
	uint32_t	hash;
};

struct strtab
{
	char	   *arena;
	uint32_t   *off;			/* n + 1 offsets into arena */
	uint32_t	n;
	struct strtab_slot *slot;
	uint32_t	mask;
};

/* Hash of a, or of "a b" when b is given (how merges are keyed). */
uint32_t	strtab_hash(const char *a, size_t alen, const char *b, size_t blen);

/* Entry holding a (or "a b"), or -1; _hashed when strtab_hash is known. */
int64_t		strtab_find(const struct strtab *t, const char *a, size_t alen,
						const char *b, size_t blen);
int64_t		strtab_find_hashed(const struct strtab *t, uint32_t h, const char *a, size_t alen,
							   const char *b, size_t blen);

/* Start loading the slot a lookup of hash h will probe first. */
static inline void
strtab_prefetch(const struct strtab *t, uint32_t h)
{
	__builtin_prefetch(&t->slot[h & t->mask]);
}

/*
 * Index every entry.  For a text present more than once, the index points
 * at the last copy when last_wins, else at the first.  False when out of
 * memory (the size is the file's: the caller reports it).
 */
bool		strtab_index(struct strtab *t, bool last_wins);

/* Text of entry e and its length. */
const char *strtab_str(const struct strtab *t, uint32_t e, size_t *len);

void		strtab_free(struct strtab *t);

#endif
