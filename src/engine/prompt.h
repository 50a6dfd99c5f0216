/*
 * prompt.h — turning a request's text into prompt tokens.
 */
#ifndef DR1_PROMPT_H
#define DR1_PROMPT_H

#include <stdbool.h>

#include "model.h"
#include "tokenizer.h"

/*
 * raw: the text is a plain completion prompt, tokenized as llama.cpp does
 * (BOS iff the vocabulary's add_bos_token, no control tokens parsed).
 * Otherwise it is the user turn of the model's chat template (system may be
 * NULL: the template's default applies); the rendered template is parsed
 * with control tokens, except inside the text that came from the messages,
 * and BOS is added only if the template did not write it.
 */
int			prompt_tokens(const struct model *m, const char *text, const char *system, bool raw,
						  struct token_list *out, char *err);

/* The same for a whole conversation (chat messages), ending with the
 * assistant's turn opened. */
int			prompt_tokens_chat(const struct model *m, const struct chat_message *msgs, size_t n,
							   struct token_list *out, char *err);

#endif
