/*
 * chunk.h — a document cut into pieces that each fit an embedding model's
 * input, on the model's own tokens (SQL chunk(), DESIGN.md §3.8).
 */
#ifndef DR1_CHUNK_H
#define DR1_CHUNK_H

#include <stddef.h>
#include <stdint.h>

struct model;

/* A chunk: the bytes start .. end of the document. */
struct chunk_span
{
	int32_t		start;
	int32_t		end;
};

/*
 * Cut text (len bytes of UTF-8, under 2 GB) into chunks of whole words
 * whose input (embed_tokenize, with the model's special tokens) has at most
 * max_tokens tokens; each chunk after the first starts with the words that
 * end the one before, as many as fit in overlap tokens.  A word longer than
 * a chunk is cut between characters.  Whitespace-only text has no chunk.
 * *out (malloc'ed, *n_out entries) is in document order.  Returns -1 with
 * err set for invalid UTF-8 or limits the model cannot meet.
 */
int			chunk_text(const struct model *m, const char *text, size_t len, int32_t max_tokens,
					   int32_t overlap, struct chunk_span **out, int32_t *n_out, char *err);

#endif
