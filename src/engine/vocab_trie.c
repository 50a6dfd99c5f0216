/*
 * vocab_trie.c — building the vocabulary's byte trie: the tokens are
 * sorted by their bytes, then each adds the nodes its bytes do not share
 * with the token before it.
 */
#include "vocab_trie.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "tokenizer.h"
#include "utf8.h"

struct piece
{
	int32_t		id;
	uint32_t	len;
	char	   *bytes;
};

static int
piece_cmp(const void *x, const void *y)
{
	const struct piece *a = x;
	const struct piece *b = y;
	uint32_t	n = a->len < b->len ? a->len : b->len;
	int			c = memcmp(a->bytes, b->bytes, n);

	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static struct piece *
read_pieces(const struct tokenizer *tok, int32_t n_vocab, uint32_t *n_out)
{
	struct piece *p = xcalloc((size_t) n_vocab, sizeof(*p));
	uint32_t	n = 0;
	char		small[256];

	for (int32_t id = 0; id < n_vocab; id++)
	{
		size_t		len = tokenizer_piece(tok, id, false, small, sizeof small);

		if (len == 0)
			continue;
		p[n].id = id;
		p[n].len = (uint32_t) len;
		p[n].bytes = xmalloc(len);
		if (len <= sizeof small)
			memcpy(p[n].bytes, small, len);
		else
			tokenizer_piece(tok, id, false, p[n].bytes, len);
		n++;
	}
	qsort(p, n, sizeof(*p), piece_cmp);
	*n_out = n;
	return p;
}

/*
 * Mark the ancestors of a token's node (path[0..len]): the one at depth d
 * stays plain when the token's bytes from d on are whole clean characters,
 * and learns how many.  A token that is not valid UTF-8 from its start
 * leaves none of its ancestors plain (conservative: they are walked).
 */
static void
mark_plain(struct vocab_trie *t, const uint32_t *path, const struct piece *p)
{
	bool	   *start = xcalloc(p->len + 1, sizeof(*start));
	uint32_t	clean_from = 0;
	uint32_t	at = 0;
	uint32_t	chars = 0;

	while (at < p->len)
	{
		uint32_t	cp;
		int			n = utf8_decode((const unsigned char *) p->bytes + at, p->len - at, &cp);

		if (n == 0)
			break;
		if (cp < 0x20 || cp == '"' || cp == '\\')
			clean_from = at + (uint32_t) n;
		start[at] = true;
		at += (uint32_t) n;
	}
	start[p->len] = true;
	if (at < p->len)
		clean_from = p->len + 1;
	for (uint32_t d = p->len + 1; d-- > 0;)
	{
		uint16_t   *x = &t->plain_extra[path[d]];

		chars += d < p->len && start[d];
		if (d < clean_from || !start[d])
			*x = VOCAB_TRIE_NOT_PLAIN;
		else if (*x != VOCAB_TRIE_NOT_PLAIN && chars > *x)
			*x = (uint16_t) (chars < VOCAB_TRIE_NOT_PLAIN ? chars : VOCAB_TRIE_NOT_PLAIN - 1);
	}
	free(start);
}

struct vocab_trie *
vocab_trie_new(const struct tokenizer *tok)
{
	int32_t		n_vocab = tokenizer_n_vocab(tok);
	struct vocab_trie *t = xcalloc(1, sizeof(*t));
	uint32_t	n_pieces;
	struct piece *p = read_pieces(tok, n_vocab, &n_pieces);
	size_t		total = 1;
	uint32_t   *path;			/* path[d]: the node at depth d of the last token */
	uint32_t	path_len = 1;

	for (uint32_t i = 0; i < n_pieces; i++)
	{
		total += p[i].len;
		if (p[i].len > t->max_len)
			t->max_len = p[i].len;
	}
	t->n_vocab = n_vocab;
	t->byte = xmalloc(total);
	t->end = xmalloc(total * sizeof(*t->end));
	t->tok_lo = xmalloc((total + 1) * sizeof(*t->tok_lo));
	t->plain_extra = xmalloc(total * sizeof(*t->plain_extra));
	t->ids = xmalloc((n_pieces ? n_pieces : 1) * sizeof(*t->ids));
	path = xmalloc((t->max_len + 1) * sizeof(*path));
	t->byte[0] = 0;
	t->tok_lo[0] = 0;
	t->plain_extra[0] = 0;
	t->n_nodes = 1;
	path[0] = 0;
	for (uint32_t i = 0; i < n_pieces; i++)
	{
		uint32_t	common = 0;

		if (i > 0)
			while (common < p[i].len && common < p[i - 1].len &&
				   p[i].bytes[common] == p[i - 1].bytes[common])
				common++;
		/* close the nodes of the previous token below the shared prefix */
		while (path_len > common + 1)
			t->end[path[--path_len]] = t->n_nodes;
		for (uint32_t d = common; d < p[i].len; d++)
		{
			uint32_t	node = t->n_nodes++;

			t->byte[node] = (uint8_t) p[i].bytes[d];
			t->tok_lo[node] = t->n_ids;
			t->plain_extra[node] = 0;
			path[path_len++] = node;
		}
		t->ids[t->n_ids++] = p[i].id;
		mark_plain(t, path, &p[i]);
	}
	while (path_len > 0)
		t->end[path[--path_len]] = t->n_nodes;
	t->tok_lo[t->n_nodes] = t->n_ids;
	for (uint32_t i = 0; i < n_pieces; i++)
		free(p[i].bytes);
	free(p);
	free(path);
	return t;
}

void
vocab_trie_free(struct vocab_trie *t)
{
	if (t == NULL)
		return;
	free(t->byte);
	free(t->end);
	free(t->tok_lo);
	free(t->plain_extra);
	free(t->ids);
	free(t);
}
