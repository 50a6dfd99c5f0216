/*
 * fuzz_chat.c — libFuzzer target for the chat-template renderer and the
 * reasoning split.
 *
 * The input is cut at NUL bytes: the first piece is the template text
 * (its style and default system prompt are taken from it), each further
 * piece a message whose first byte picks the role and whose rest is the
 * content.  The conversation is rendered in every style, with and without
 * the generation prompt; the caller spans must be in order and inside the
 * text, and the rendered text and the input are split into reasoning and
 * answer, which must be pieces of the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

#define MAX_MESSAGES 16

static const char *const roles[] = {"system", "user", "assistant"};

static void
check_spans(const struct text_buf *text, const struct text_spans *spans)
{
	size_t		end = 0;

	for (size_t i = 0; i < spans->n; i++)
	{
		if (spans->span[i].start < end || spans->span[i].end < spans->span[i].start ||
			spans->span[i].end > text->len)
			abort();			/* spans out of order or outside the text */
		end = spans->span[i].end;
	}
}

static void
check_split(const char *text, size_t len, bool started_in_think)
{
	struct text_buf reasoning = {0};
	struct text_buf answer = {0};

	chat_split_reasoning(text, len, started_in_think, &reasoning, &answer);
	if (reasoning.len + answer.len > len)
		abort();				/* the split only ever drops text */
	text_buf_free(&reasoning);
	text_buf_free(&answer);
}

static void
render_all(const char *tmpl, size_t tmpl_len, const struct chat_message *msgs, size_t n)
{
	char	   *default_system = chat_default_system(tmpl, tmpl_len);

	(void) chat_style_detect(tmpl, tmpl_len);
	for (int s = CHAT_CHATML; s <= CHAT_LLAMA3; s++)
		for (int gen = 0; gen < 2; gen++)
		{
			struct text_buf out = {0};
			struct text_spans spans = {0};

			chat_render_marked((enum chat_style) s, msgs, n, gen, default_system, "<s>", &out,
							   &spans);
			check_spans(&out, &spans);
			check_split(out.s, out.len, gen);
			free(spans.span);
			text_buf_free(&out);
		}
	free(default_system);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in = malloc(size + 1);
	struct chat_message msgs[MAX_MESSAGES];
	size_t		n = 0;
	char	   *p;
	char	   *end;

	if (in == NULL)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	end = in + size;
	check_split(in, size, size > 0 && (in[0] & 1));
	/* the pieces: template, then messages */
	p = in + strlen(in) + 1;
	while (p < end && n < MAX_MESSAGES)
	{
		msgs[n].role = roles[(unsigned char) *p % 3];
		msgs[n].content = *p ? p + 1 : p;
		n++;
		p += strlen(p) + 1;
	}
	render_all(in, strlen(in), msgs, n);
	free(in);
	return 0;
}
