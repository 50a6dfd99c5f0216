/*
 * chat.h — chat templates and the reasoning split.
 *
 * A GGUF carries its chat template as Jinja text (tokenizer.chat_template).
 * We do not run Jinja: we recognise which of the known styles the template is
 * and render that style ourselves, producing exactly what the template
 * renders for plain system/user/assistant conversations.
 */
#ifndef DR1_CHAT_H
#define DR1_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "tokenizer.h"			/* text_buf.h, and the tokenizer for model.h users */

enum chat_style
{
	CHAT_CHATML,				/* <|im_start|>role\n...<|im_end|>\n (SmolLM2, Qwen2.5) */
	CHAT_DEEPSEEK_R1,			/* <｜begin▁of▁sentence｜>sys<｜User｜>..<｜Assistant｜> */
	CHAT_LLAMA3,				/* <|start_header_id|>role<|end_header_id|>\n\n..<|eot_id|> */
	CHAT_QWEN3					/* ChatML, assistant turns split at </think> (Qwen3) */
};

struct chat_message
{
	const char *role;			/* "system", "user" or "assistant" */
	const char *content;
};

/* The style a template text belongs to; NULL/unknown templates give ChatML. */
enum chat_style chat_style_detect(const char *tmpl, size_t len);
const char *chat_style_name(enum chat_style s);

/* Render a conversation, ending with the assistant's turn opened when
 * add_generation_prompt.  default_system is what the template inserts when
 * the conversation has no system message (SmolLM2's "You are a helpful AI
 * assistant named SmolLM..."), extracted by chat_default_system; may be NULL.
 * bos_text is the BOS token's text for styles that write it themselves. */
void		chat_render(enum chat_style s, const struct chat_message *msgs, size_t n,
						bool add_generation_prompt, const char *default_system,
						const char *bos_text, struct text_buf *out);

/*
 * The same, also recording in caller the byte ranges of the text that came
 * from the messages (contents and roles) rather than from the template, so
 * that the tokenizer can refuse control tokens there (tokenizer_encode_guarded).
 * caller may be NULL; the caller frees caller->span.
 */
void		chat_render_marked(enum chat_style s, const struct chat_message *msgs, size_t n,
							   bool add_generation_prompt, const char *default_system,
							   const char *bos_text, struct text_buf *out,
							   struct text_spans *caller);

/* The default system prompt a ChatML template writes when there is none
 * (malloc'd, or NULL when the template has none). */
char	   *chat_default_system(const char *tmpl, size_t len);

/* Split generated text at <think>…</think>: reasoning is what is inside
 * (trimmed of surrounding newlines), answer is what follows.  Without a
 * </think> the whole text is the answer and reasoning is empty, except when
 * started_in_think (the prompt opened <think>) or the text opens with
 * <think>: then all of it is reasoning.  chat.c says exactly what is trimmed. */
void		chat_split_reasoning(const char *text, size_t len, bool started_in_think,
								 struct text_buf *reasoning, struct text_buf *answer);

#endif
