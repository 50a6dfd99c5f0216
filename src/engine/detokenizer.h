/*
 * detokenizer.h — streaming detokenizer: feed ids one at a time, get back
 * only complete, valid UTF-8 without NUL.
 *
 * Bytes of a character split across tokens are held until the character is
 * complete; a sequence that can never become valid, and a NUL byte, are
 * replaced by U+FFFD.  Every text the engine makes from ids passes here.
 */
#ifndef DR1_DETOKENIZER_H
#define DR1_DETOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text_buf.h"

struct tokenizer;

struct detokenizer
{
	const struct tokenizer *tok;
	bool		with_special;
	char		pending[8];
	size_t		n_pending;
};

void		detokenizer_init(struct detokenizer *d, const struct tokenizer *t, bool with_special);

/* Append the text completed by token id to out. */
void		detokenizer_push(struct detokenizer *d, int32_t id, struct text_buf *out);

/* Flush what is still pending at the end of generation (as U+FFFD). */
void		detokenizer_flush(struct detokenizer *d, struct text_buf *out);

#endif
