/*
 * prompt.c — prompt text to tokens, plain or through the chat template.
 */
#include "prompt.h"

#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "error.h"
#include "tokenizer.h"

int
prompt_tokens_chat(const struct model *m, const struct chat_message *msgs, size_t n,
				   struct token_list *out, char *err)
{
	struct text_buf text = {0};
	struct text_spans caller = {0};
	int32_t		bos = tokenizer_bos(m->tok);
	size_t		start = out->n;
	int			rc;

	/* control tokens come from the template only, never from the messages */
	chat_render_marked(m->chat, msgs, n, true, m->default_system, m->bos_text, &text, &caller);
	rc = tokenizer_encode_guarded(m->tok, text.s ? text.s : "", text.len, &caller, out, err);
	text_buf_free(&text);
	free(caller.span);
	if (rc != 0)
		return -1;
	if (tokenizer_add_bos(m->tok) && bos >= 0 && (out->n == start || out->ids[start] != bos))
	{
		token_list_push(out, 0);
		memmove(out->ids + start + 1, out->ids + start, (out->n - start - 1) * sizeof(int32_t));
		out->ids[start] = bos;
	}
	return 0;
}

int
prompt_tokens(const struct model *m, const char *text, const char *system, bool raw,
			  struct token_list *out, char *err)
{
	struct chat_message msgs[2];
	size_t		n = 0;

	if (raw)
	{
		if (tokenizer_add_bos(m->tok) && tokenizer_bos(m->tok) >= 0)
			token_list_push(out, tokenizer_bos(m->tok));
		return tokenizer_encode(m->tok, text, strlen(text), false, out, err);
	}
	if (system)
		msgs[n++] = (struct chat_message) {"system", system};
	msgs[n++] = (struct chat_message) {"user", text};
	return prompt_tokens_chat(m, msgs, n, out, err);
}
