/*
 * chunk.c — cutting a document for an embedding model.
 *
 * The document is first cut into units: its words (runs of characters
 * that are not White_Space), and the characters of any word too long for a
 * chunk on its own.  Each unit's token count is that of the unit alone.
 * Chunks are runs of whole units packed while their counts fit; since a
 * tokenizer may join or split differently across a boundary, every chunk
 * is tokenized again as it will be embedded, and shortened by a unit while
 * it is over.  So every chunk fits, whatever the tokenizer, at the cost of
 * one more tokenization of the document.
 */
#include "chunk.h"

#include <stdlib.h>

#include "alloc.h"
#include "embed.h"
#include "error.h"
#include "model.h"
#include "token_list.h"
#include "utf8.h"

struct unit
{
	int32_t		start;
	int32_t		end;
	int32_t		tokens;			/* of the unit alone, without special tokens */
};

struct units
{
	struct unit *u;
	size_t		n;
	size_t		cap;
};

/* Tokens of text's embedding input; -1 with err set if it cannot be encoded. */
static int64_t
input_tokens(const struct model *m, const char *text, size_t len, char *err)
{
	struct token_list t = {0};
	int64_t		n = embed_tokenize(m, text, len, &t, err) != 0 ? -1 : (int64_t) t.n;

	token_list_free(&t);
	return n;
}

static int
units_push(const struct model *m, const char *text, int32_t start, int32_t end, int64_t specials,
		   struct units *us, char *err)
{
	int64_t		n = input_tokens(m, text + start, (size_t) (end - start), err);

	if (n < 0)
		return -1;
	us->u = xgrow(us->u, &us->cap, us->n + 1, sizeof *us->u);
	us->u[us->n++] = (struct unit) {start, end, (int32_t) (n - specials)};
	return 0;
}

/* The bytes start .. end: one unit, or its characters when it is over budget. */
static int
word_units(const struct model *m, const char *text, int32_t start, int32_t end, int64_t specials,
		   int32_t budget, struct units *us, char *err)
{
	size_t		first = us->n;

	if (units_push(m, text, start, end, specials, us, err) != 0)
		return -1;
	if (us->u[first].tokens <= budget)
		return 0;
	us->n = first;
	for (int32_t i = start; i < end;)
	{
		uint32_t	cp;
		int			k = utf8_decode((const unsigned char *) text + i, (size_t) (end - i), &cp);

		if (units_push(m, text, i, i + k, specials, us, err) != 0)
			return -1;
		i += k;
	}
	return 0;
}

static int
split_units(const struct model *m, const char *text, size_t len, int64_t specials, int32_t budget,
			struct units *us, char *err)
{
	int32_t		word = -1;		/* start of the word being read */

	for (int32_t i = 0; i <= (int32_t) len;)
	{
		uint32_t	cp = ' ';
		int			k = 1;

		if (i < (int32_t) len)
			k = utf8_decode((const unsigned char *) text + i, len - (size_t) i, &cp);
		if (!utf8_is_space(cp, UTF8_SPACE_UNICODE))
		{
			if (word < 0)
				word = i;
		}
		else if (word >= 0)
		{
			if (word_units(m, text, word, i, specials, budget, us, err) != 0)
				return -1;
			word = -1;
		}
		i += k;
	}
	return 0;
}

/* The first unit of the chunk after the one of units first .. last. */
static size_t
overlap_start(const struct units *us, size_t first, size_t last, int32_t overlap)
{
	size_t		next = last + 1;
	int64_t		sum = 0;

	while (next - 1 > first && sum + us->u[next - 1].tokens <= overlap)
		sum += us->u[--next].tokens;
	return next;
}

int
chunk_text(const struct model *m, const char *text, size_t len, int32_t max_tokens,
		   int32_t overlap, struct chunk_span **out, int32_t *n_out, char *err)
{
	struct units us = {0};
	struct chunk_span *spans = NULL;
	size_t		n_spans = 0;
	size_t		cap = 0;
	int64_t		specials;
	int32_t		budget;
	int			rc = 0;

	*out = NULL;
	*n_out = 0;
	if (len >= INT32_MAX)
		return err_set(err, "the document is %zu bytes; chunk takes under 2 GB", len);
	if (utf8_valid_prefix(text, len) != len)
		return err_set(err, "the document is not valid UTF-8");
	if ((specials = input_tokens(m, "", 0, err)) < 0)
		return -1;
	if (max_tokens > embed_max_tokens(m))
		return err_set(err, "max_tokens %d is more than the embedding model's input limit of %d tokens",
					   max_tokens, embed_max_tokens(m));
	budget = (int32_t) (max_tokens - specials);
	if (budget < 1)
		return err_set(err, "max_tokens %d leaves no room for text beside the model's %lld special tokens",
					   max_tokens, (long long) specials);
	if (overlap < 0 || overlap >= budget)
		return err_set(err, "overlap must be at least 0 and less than the %d tokens of text a chunk holds",
					   budget);
	if (split_units(m, text, len, specials, budget, &us, err) != 0)
		rc = -1;
	for (size_t first = 0; rc == 0 && first < us.n;)
	{
		size_t		last = first;
		int64_t		sum = us.u[first].tokens;
		int64_t		n;

		while (last + 1 < us.n && sum + us.u[last + 1].tokens <= budget)
			sum += us.u[++last].tokens;
		while ((n = input_tokens(m, text + us.u[first].start,
								 (size_t) (us.u[last].end - us.u[first].start), err)) > max_tokens &&
			   last > first)
			last--;
		if (n > max_tokens)
			n = err_set(err, "a character of the document takes more than max_tokens %d tokens",
						max_tokens);
		if (n < 0)
		{
			rc = -1;
			break;
		}
		spans = xgrow(spans, &cap, n_spans + 1, sizeof *spans);
		spans[n_spans++] = (struct chunk_span) {us.u[first].start, us.u[last].end};
		if (last + 1 == us.n)
			break;
		first = overlap_start(&us, first, last, overlap);
	}
	free(us.u);
	if (rc != 0)
	{
		free(spans);
		return -1;
	}
	*out = spans;
	*n_out = (int32_t) n_spans;
	return 0;
}
