/*
 * json_mask.c — the token mask of a schema (see json_mask.h).
 */
#include "json_mask.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tokenizer.h"
#include "vocab_trie.h"

/* Masks kept per grammar; the cache is emptied when it fills. */
#define MASK_CACHE_SLOTS 1024
#define MASK_CACHE_MAX 512

struct mask_entry
{
	uint64_t	hash;			/* 0: empty slot */
	struct json_state state;
	uint64_t   *bits;			/* allowed tokens, the end token excluded */
	size_t		n_allowed;
};

struct json_grammar
{
	struct json_schema *schema;
	const struct vocab_trie *trie;
	size_t		n_words;		/* of a mask */
	struct json_state *walk;	/* states along the trie walk, by depth */
	uint32_t   *next;			/* the next child to try, by depth */
	uint32_t   *parent;			/* the node whose children are tried, by depth */
	struct mask_entry *cache;
	size_t		n_cached;
	int64_t		walks;
	int64_t		hits;
};

struct json_grammar *
json_grammar_new(const char *schema_text, size_t len, const struct vocab_trie *trie, char *err)
{
	struct json_schema *schema = json_schema_compile(schema_text, len, err);
	struct json_grammar *g;

	if (schema == NULL)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->schema = schema;
	g->trie = trie;
	g->n_words = ((size_t) trie->n_vocab + 63) / 64;
	g->walk = xmalloc((trie->max_len + 2) * sizeof(*g->walk));
	g->next = xmalloc((trie->max_len + 2) * sizeof(*g->next));
	g->parent = xmalloc((trie->max_len + 2) * sizeof(*g->parent));
	g->cache = xcalloc(MASK_CACHE_SLOTS, sizeof(*g->cache));
	return g;
}

static void
cache_clear(struct json_grammar *g)
{
	for (size_t i = 0; i < MASK_CACHE_SLOTS; i++)
		free(g->cache[i].bits);
	memset(g->cache, 0, MASK_CACHE_SLOTS * sizeof(*g->cache));
	g->n_cached = 0;
}

void
json_grammar_free(struct json_grammar *g)
{
	if (g == NULL)
		return;
	cache_clear(g);
	free(g->cache);
	free(g->walk);
	free(g->next);
	free(g->parent);
	json_schema_free(g->schema);
	free(g);
}

const struct json_schema *
json_grammar_schema(const struct json_grammar *g)
{
	return g->schema;
}

static uint64_t
state_hash(const struct json_state *st)
{
	const unsigned char *p = (const unsigned char *) st;
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(*st); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h ? h : 1;
}

static size_t
mark_range(const struct vocab_trie *t, uint64_t *bits, uint32_t lo, uint32_t hi)
{
	for (uint32_t i = lo; i < hi; i++)
		bits[t->ids[i] >> 6] |= (uint64_t) 1 << (t->ids[i] & 63);
	return hi - lo;
}

/*
 * Depth-first over the trie: walk[d] is the state after the first d bytes
 * of the branch, next[d] the child of that branch's node to try next.  A
 * refused byte skips its whole subtree; an accepted one marks the node's
 * tokens, and, where the state is in a free string with room for the
 * subtree's plain text, marks the whole subtree without descending.
 */
static size_t
walk_trie(struct json_grammar *g, const struct json_state *start, uint64_t *bits)
{
	const struct vocab_trie *t = g->trie;
	const struct json_schema *s = g->schema;
	uint32_t   *parent = g->parent;
	size_t		n = 0;
	uint32_t	d = 0;

	g->walk[0] = *start;
	parent[0] = 0;
	g->next[0] = 1;
	for (;;)
	{
		uint32_t	c = g->next[d];
		struct json_state *st;

		if (c >= t->end[parent[d]])
		{
			if (d-- == 0)
				return n;
			g->next[d] = t->end[g->next[d]];
			continue;
		}
		st = &g->walk[d + 1];
		*st = g->walk[d];
		if (!json_step(s, st, t->byte[c]))
		{
			g->next[d] = t->end[c];
			continue;
		}
		if (t->plain_extra[c] != VOCAB_TRIE_NOT_PLAIN &&
			json_plain_room(s, st) >= t->plain_extra[c])
		{
			n += mark_range(t, bits, t->tok_lo[c], t->tok_lo[t->end[c]]);
			g->next[d] = t->end[c];
			continue;
		}
		n += mark_range(t, bits, t->tok_lo[c], t->tok_lo[c + 1]);
		if (c + 1 < t->end[c])
		{
			parent[++d] = c;
			g->next[d] = c + 1;
		}
		else
			g->next[d] = t->end[c];
	}
}

static struct mask_entry *
cache_lookup(struct json_grammar *g, const struct json_state *st)
{
	uint64_t	h = state_hash(st);
	size_t		i = h % MASK_CACHE_SLOTS;
	struct mask_entry *e;

	while (g->cache[i].hash != 0)
	{
		if (g->cache[i].hash == h && memcmp(&g->cache[i].state, st, sizeof(*st)) == 0)
		{
			g->hits++;
			return &g->cache[i];
		}
		i = (i + 1) % MASK_CACHE_SLOTS;
	}
	if (g->n_cached >= MASK_CACHE_MAX)
	{
		cache_clear(g);
		i = h % MASK_CACHE_SLOTS;
	}
	e = &g->cache[i];
	e->hash = h;
	e->state = *st;
	e->bits = xcalloc(g->n_words, sizeof(*e->bits));
	e->n_allowed = walk_trie(g, st, e->bits);
	g->n_cached++;
	g->walks++;
	return e;
}

size_t
json_grammar_allowed(struct json_grammar *g, const struct json_state *st, int32_t eos,
					 bool *allowed)
{
	const struct mask_entry *e = cache_lookup(g, st);
	int32_t		n_vocab = g->trie->n_vocab;
	size_t		n = e->n_allowed;

	for (int32_t i = 0; i < n_vocab; i++)
		allowed[i] = (e->bits[i >> 6] >> (i & 63)) & 1;
	if (eos >= 0 && eos < n_vocab && json_complete(g->schema, st))
	{
		n += !allowed[eos];
		allowed[eos] = true;
	}
	return n;
}

bool
json_grammar_advance(const struct json_grammar *g, struct json_state *st,
					 const struct tokenizer *tok, int32_t id)
{
	char		small[256];
	size_t		len = tokenizer_piece(tok, id, false, small, sizeof small);
	char	   *buf = small;
	bool		ok;

	if (len > sizeof small)
	{
		buf = xmalloc(len);
		tokenizer_piece(tok, id, false, buf, len);
	}
	ok = len > 0 && json_feed(g->schema, st, buf, len);
	if (buf != small)
		free(buf);
	return ok;
}

void
json_grammar_counts(const struct json_grammar *g, int64_t *walks, int64_t *hits)
{
	*walks = g->walks;
	*hits = g->hits;
}
