/*
 * choice.c — constrained choice: the output must be one of a list of strings.
 *
 * Each choice is tokenized once, on its own, and generation is steered along
 * those token sequences: a token is allowed when the generated ids followed
 * by it are still a prefix of some choice.  The model may know other
 * tokenizations of the same text; forcing the canonical one keeps the check
 * a plain prefix comparison.
 */
#include "choice.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"

struct choice_set
{
	int32_t		n_vocab;
	size_t		n;
	int32_t   **ids;			/* ids[i][0..len[i]) */
	size_t	   *len;
};

void
choice_set_free(struct choice_set *c)
{
	if (c == NULL)
		return;
	if (c->ids)
		for (size_t i = 0; i < c->n; i++)
			free(c->ids[i]);
	free(c->ids);
	free(c->len);
	free(c);
}

static bool
same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

/* Empty, out-of-vocabulary and duplicate choices are errors (1-based in
 * messages, as SQL arrays are). */
static int
check_ids(const int32_t *const *ids, const size_t *lens, size_t n, int32_t n_vocab,
		  char *err)
{
	if (ids == NULL || lens == NULL || n == 0)
		return err_set(err, "the list of choices is empty");
	for (size_t i = 0; i < n; i++)
	{
		if (ids[i] == NULL || lens[i] == 0)
			return err_set(err, "choice %zu is empty", i + 1);
		for (size_t j = 0; j < lens[i]; j++)
			if (ids[i][j] < 0 || ids[i][j] >= n_vocab)
				return err_set(err, "choice %zu has token %d outside the vocabulary of %d",
							   i + 1, (int) ids[i][j], (int) n_vocab);
		for (size_t j = 0; j < i; j++)
			if (same_ids(ids[j], lens[j], ids[i], lens[i]))
				return err_set(err, "choice %zu duplicates choice %zu", i + 1, j + 1);
	}
	return 0;
}

struct choice_set *
choice_set_from_ids(const int32_t *const *ids, const size_t *lens, size_t n,
					int32_t n_vocab, char *err)
{
	struct choice_set *c;

	if (check_ids(ids, lens, n, n_vocab, err) < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto oom;
	c->n_vocab = n_vocab;
	c->ids = calloc(n, sizeof(*c->ids));
	c->len = calloc(n, sizeof(*c->len));
	if (c->ids == NULL || c->len == NULL)
		goto oom;
	c->n = n;
	for (size_t i = 0; i < n; i++)
	{
		c->ids[i] = malloc(lens[i] * sizeof(**c->ids));
		if (c->ids[i] == NULL)
			goto oom;
		memcpy(c->ids[i], ids[i], lens[i] * sizeof(**c->ids));
		c->len[i] = lens[i];
	}
	return c;

oom:
	choice_set_free(c);
	err_set(err, "out of memory for %zu choices", n);
	return NULL;
}

struct choice_set *
choice_set_new(const struct tokenizer *t, const char *const *choices, size_t n, char *err)
{
	struct token_list *toks;
	const int32_t **ids;
	size_t	   *lens;
	struct choice_set *c = NULL;

	if (choices == NULL || n == 0)
	{
		err_set(err, "the list of choices is empty");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
	{
		if (choices[i] == NULL || choices[i][0] == '\0')
		{
			err_set(err, "choice %zu is empty", i + 1);
			return NULL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(choices[i], choices[j]) == 0)
			{
				err_set(err, "choice %zu duplicates choice %zu", i + 1, j + 1);
				return NULL;
			}
	}

	toks = calloc(n, sizeof(*toks));
	ids = calloc(n, sizeof(*ids));
	lens = calloc(n, sizeof(*lens));
	if (toks == NULL || ids == NULL || lens == NULL)
	{
		err_set(err, "out of memory for %zu choices", n);
		goto done;
	}
	for (size_t i = 0; i < n; i++)
	{
		if (tokenizer_encode(t, choices[i], strlen(choices[i]), false, &toks[i], err) < 0)
			goto done;
		ids[i] = toks[i].ids;
		lens[i] = toks[i].n;
	}
	c = choice_set_from_ids(ids, lens, n, tokenizer_n_vocab(t), err);

done:
	if (toks)
		for (size_t i = 0; i < n; i++)
			token_list_free(&toks[i]);
	free(toks);
	free(ids);
	free(lens);
	return c;
}

bool
choice_set_allowed(const struct choice_set *c, const int32_t *generated, size_t n,
				   int32_t eog, bool *allowed)
{
	bool		can_continue = false;

	memset(allowed, 0, (size_t) c->n_vocab * sizeof(*allowed));
	for (size_t i = 0; i < c->n; i++)
	{
		if (c->len[i] < n || !same_ids(c->ids[i], n, generated, n))
			continue;
		if (c->len[i] > n)
		{
			allowed[c->ids[i][n]] = true;
			can_continue = true;
		}
		else if (eog >= 0 && eog < c->n_vocab)
			allowed[eog] = true;
	}
	return can_continue;
}
