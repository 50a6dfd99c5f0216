/*
 * chat.c — the chat styles we render in place of the templates' Jinja, and
 * the split of R1 output into reasoning and answer.
 *
 * Each renderer reproduces, byte for byte, what its template renders for
 * system, user and assistant messages (test/reference/render-chat.py makes
 * the golden files that prove it): SmolLM2 and Qwen2.5 for ChatML, the
 * DeepSeek-R1 distills' template, and Meta's Llama 3 template.
 */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "utf8.h"

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"

static const char *
find(const char *hay, size_t len, const char *needle)
{
	if (hay == NULL)
		return NULL;
	return memmem(hay, len, needle, strlen(needle));
}

enum chat_style
chat_style_detect(const char *tmpl, size_t len)
{
	if (find(tmpl, len, "<｜User｜>") || find(tmpl, len, "<｜Assistant｜>"))
		return CHAT_DEEPSEEK_R1;
	if (find(tmpl, len, "<|start_header_id|>"))
		return CHAT_LLAMA3;
	if (find(tmpl, len, "<|im_start|>") && find(tmpl, len, "reasoning_content"))
		return CHAT_QWEN3;
	return CHAT_CHATML;
}

const char *
chat_style_name(enum chat_style s)
{
	switch (s)
	{
		case CHAT_CHATML:
			return "chatml";
		case CHAT_DEEPSEEK_R1:
			return "deepseek-r1";
		case CHAT_LLAMA3:
			return "llama3";
		case CHAT_QWEN3:
			return "qwen3";
	}
	return "unknown";
}

/* Where a renderer writes: the text, and the spans of it that came from the
 * caller (contents, roles) rather than from the template. */
struct chat_sink
{
	struct text_buf *text;
	struct text_spans *caller;	/* may be NULL */
};

static void
mark(struct chat_sink *out, size_t from)
{
	struct text_spans *sp = out->caller;

	if (!sp || out->text->len == from)
		return;
	if (sp->n == sp->cap)
	{
		sp->cap = sp->cap ? 2 * sp->cap : 8;
		sp->span = xrealloc(sp->span, sp->cap * sizeof *sp->span);
	}
	sp->span[sp->n].start = from;
	sp->span[sp->n++].end = out->text->len;
}

/* Template text. */
static void
put(struct chat_sink *out, const char *s)
{
	if (s)
		text_buf_append(out->text, s, strlen(s));
}

/* Text the caller gave. */
static void
put_caller(struct chat_sink *out, const char *s)
{
	size_t		from = out->text->len;

	put(out, s);
	mark(out, from);
}

/* n bytes of text the caller gave. */
static void
put_caller_n(struct chat_sink *out, const char *s, size_t n)
{
	size_t		from = out->text->len;

	text_buf_append(out->text, s, n);
	mark(out, from);
}

static bool
is_role(const struct chat_message *m, const char *role)
{
	return m->role && strcmp(m->role, role) == 0;
}

/*
 * ChatML as SmolLM2 and Qwen2.5 write it.  Both insert their default system
 * message before a first message that is not a system one, and write any
 * other system message where it stands.  An empty conversation gets no
 * default system message (SmolLM2's behaviour; Qwen2.5 would write one).
 */
static void
render_chatml(const struct chat_message *msgs, size_t n, bool add_generation_prompt,
			  const char *default_system, struct chat_sink *out)
{
	for (size_t i = 0; i < n; i++)
	{
		if (i == 0 && !is_role(&msgs[0], "system") && default_system && default_system[0])
		{
			put(out, "<|im_start|>system\n");
			put(out, default_system);
			put(out, "<|im_end|>\n");
		}
		put(out, "<|im_start|>");
		put_caller(out, msgs[i].role);
		put(out, "\n");
		put_caller(out, msgs[i].content);
		put(out, "<|im_end|>\n");
	}
	if (add_generation_prompt)
		put(out, "<|im_start|>assistant\n");
}

/*
 * DeepSeek-R1: BOS, then the last system message's text with no markers,
 * then the turns.  An assistant turn keeps only what follows its last
 * </think>, untrimmed.  Other roles write nothing.
 */
static void
render_deepseek_r1(const struct chat_message *msgs, size_t n, bool add_generation_prompt,
				   const char *bos_text, struct chat_sink *out)
{
	const char *system = NULL;

	for (size_t i = 0; i < n; i++)
		if (is_role(&msgs[i], "system"))
			system = msgs[i].content;
	put(out, bos_text);
	put_caller(out, system);
	for (size_t i = 0; i < n; i++)
	{
		const char *content = msgs[i].content ? msgs[i].content : "";

		if (is_role(&msgs[i], "user"))
		{
			put(out, "<｜User｜>");
			put_caller(out, content);
		}
		else if (is_role(&msgs[i], "assistant"))
		{
			const char *p;

			while ((p = strstr(content, THINK_CLOSE)) != NULL)
				content = p + strlen(THINK_CLOSE);
			put(out, "<｜Assistant｜>");
			put_caller(out, content);
			put(out, "<｜end▁of▁sentence｜>");
		}
	}
	if (add_generation_prompt)
		put(out, "<｜Assistant｜>");
}

/* The last user turn that is not a tool's response: Qwen3's "query". */
static size_t
qwen3_last_query(const struct chat_message *msgs, size_t n)
{
	for (size_t i = n; i-- > 0;)
	{
		const char *c = msgs[i].content ? msgs[i].content : "";
		size_t		len = strlen(c);
		bool		tool = len >= 31 && strncmp(c, "<tool_response>", 15) == 0 &&
			strcmp(c + len - 16, "</tool_response>") == 0;

		if (is_role(&msgs[i], "user") && !tool)
			return i;
	}
	return n - 1;
}

/*
 * A Qwen3 assistant turn: a content with </think> splits into the
 * reasoning (before the first </think>, after its last <think>, newlines
 * trimmed) and the answer (after the last </think>, leading newlines
 * dropped).  After the last query, the last turn and any with reasoning
 * keep it in a <think> block; others write the answer only.
 */
static void
render_qwen3_assistant(const char *content, bool after_query, bool last, struct chat_sink *out)
{
	const char *close = strstr(content, THINK_CLOSE);
	const char *answer = content;
	const char *r = content;
	const char *r_end = content;
	const char *p;

	if (close)
	{
		for (p = close; p; p = strstr(p + 1, THINK_CLOSE))
			answer = p + strlen(THINK_CLOSE);
		while (*answer == '\n')
			answer++;
		r_end = close;
		while (r_end > content && r_end[-1] == '\n')
			r_end--;
		for (p = content; (p = memmem(p, r_end - p, THINK_OPEN, strlen(THINK_OPEN))) != NULL; p++)
			r = p + strlen(THINK_OPEN);
		while (r < r_end && *r == '\n')
			r++;
	}
	put(out, "<|im_start|>assistant\n");
	if (after_query && (last || r_end > r))
	{
		put(out, "<think>\n");
		put_caller_n(out, r, r_end - r);
		put(out, "\n</think>\n\n");
		while (*answer == '\n')
			answer++;
	}
	put_caller(out, answer);
	put(out, "<|im_end|>\n");
}

/*
 * Qwen3's template: ChatML, a first system message first, other system
 * and user turns where they stand, assistant turns as above; roles other
 * than these write nothing.  No default system message.
 */
static void
render_qwen3(const struct chat_message *msgs, size_t n, bool add_generation_prompt,
			 struct chat_sink *out)
{
	size_t		last_query = n > 0 ? qwen3_last_query(msgs, n) : 0;

	for (size_t i = 0; i < n; i++)
	{
		const char *content = msgs[i].content ? msgs[i].content : "";

		if (is_role(&msgs[i], "user") || is_role(&msgs[i], "system"))
		{
			put(out, "<|im_start|>");
			put_caller(out, msgs[i].role);
			put(out, "\n");
			put_caller(out, content);
			put(out, "<|im_end|>\n");
		}
		else if (is_role(&msgs[i], "assistant"))
			render_qwen3_assistant(content, i > last_query, i == n - 1, out);
	}
	if (add_generation_prompt)
		put(out, "<|im_start|>assistant\n");
}

/* Whether a Python str.isspace() character starts at s (n bytes left); its
 * length in *len.  Bytes that are not valid UTF-8 are one non-space byte
 * each (text from Python is always valid). */
static bool
py_space_at(const unsigned char *s, size_t n, size_t *len)
{
	uint32_t	cp;
	int			k = utf8_decode(s, n, &cp);

	*len = k > 0 ? (size_t) k : 1;
	return k > 0 && utf8_is_space(cp, UTF8_SPACE_PYTHON);
}

/* Append the caller's s trimmed as Jinja's `| trim` does. */
static void
put_caller_trimmed(struct chat_sink *out, const char *s)
{
	size_t		from = out->text->len;
	const unsigned char *b = (const unsigned char *) (s ? s : "");
	size_t		start = 0;
	size_t		end = strlen((const char *) b);
	size_t		clen;

	while (start < end && py_space_at(b + start, end - start, &clen))
		start += clen;
	while (end > start)
	{
		size_t		k = end - 1;

		while (k > start && (b[k] & 0xC0) == 0x80 && end - k < 4)
			k--;
		if (!py_space_at(b + k, end - k, &clen) || k + clen != end)
			break;
		end = k;
	}
	text_buf_append(out->text, (const char *) b + start, end - start);
	mark(out, from);
}

/* Meta's Llama 3 template: BOS before the first message, contents trimmed. */
static void
render_llama3(const struct chat_message *msgs, size_t n, bool add_generation_prompt,
			  const char *bos_text, struct chat_sink *out)
{
	for (size_t i = 0; i < n; i++)
	{
		if (i == 0)
			put(out, bos_text);
		put(out, "<|start_header_id|>");
		put_caller(out, msgs[i].role);
		put(out, "<|end_header_id|>\n\n");
		put_caller_trimmed(out, msgs[i].content);
		put(out, "<|eot_id|>");
	}
	if (add_generation_prompt)
		put(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

void
chat_render(enum chat_style s, const struct chat_message *msgs, size_t n,
			bool add_generation_prompt, const char *default_system,
			const char *bos_text, struct text_buf *text)
{
	chat_render_marked(s, msgs, n, add_generation_prompt, default_system, bos_text, text, NULL);
}

void
chat_render_marked(enum chat_style s, const struct chat_message *msgs, size_t n,
				   bool add_generation_prompt, const char *default_system,
				   const char *bos_text, struct text_buf *text, struct text_spans *caller)
{
	struct chat_sink sink = {text, caller};
	struct chat_sink *out = &sink;

	switch (s)
	{
		case CHAT_CHATML:
			render_chatml(msgs, n, add_generation_prompt, default_system, out);
			break;
		case CHAT_DEEPSEEK_R1:
			render_deepseek_r1(msgs, n, add_generation_prompt, bos_text, out);
			break;
		case CHAT_LLAMA3:
			render_llama3(msgs, n, add_generation_prompt, bos_text, out);
			break;
		case CHAT_QWEN3:
			render_qwen3(msgs, n, add_generation_prompt, out);
			break;
	}
}

/* The character a Python escape \c stands for, or 0 to keep it as written. */
static char
unescape(char c)
{
	switch (c)
	{
		case 'n':
			return '\n';
		case 't':
			return '\t';
		case 'r':
			return '\r';
		case '\\':
		case '\'':
		case '"':
			return c;
	}
	return 0;
}

/*
 * Decode the rest of a Jinja string literal from p (somewhere inside it) up
 * to its closing quote.  Escapes are Python's; the common ones are decoded,
 * any other is kept as written.  Returns a malloc'd string, or NULL when the
 * literal does not close.
 */
static char *
literal_rest(const char *p, const char *end, char quote)
{
	char	   *s = xmalloc((size_t) (end - p) + 1);
	size_t		n = 0;

	while (p < end && *p != quote)
	{
		if (*p == '\\' && p + 1 < end && unescape(p[1]))
		{
			s[n++] = unescape(p[1]);
			p += 2;
		}
		else if (*p == '\\' && p + 1 < end)
		{
			s[n++] = *p++;
			s[n++] = *p++;
		}
		else
			s[n++] = *p++;
	}
	if (p == end)
	{
		free(s);
		return NULL;
	}
	s[n] = '\0';
	return s;
}

/*
 * The default system prompt is the first string literal that carries text
 * after '<|im_start|>system' and a newline (a real one or "\n"), up to
 * '<|im_end|>' or the literal's end.  Literals that end right after the
 * newline are the template writing the caller's system message, not a
 * default.
 */
char *
chat_default_system(const char *tmpl, size_t len)
{
	static const char marker[] = "<|im_start|>system";
	const char *end = tmpl + len;
	const char *p = tmpl;
	const char *hit;

	if (tmpl == NULL)
		return NULL;
	while ((hit = find(p, (size_t) (end - p), marker)) != NULL)
	{
		char		quote = hit > tmpl ? hit[-1] : '\0';
		char	   *s;
		char	   *im_end;

		p = hit + strlen(marker);
		if (quote != '\'' && quote != '"')
			continue;
		s = literal_rest(p, end, quote);
		if (s == NULL)
			continue;
		im_end = strstr(s, "<|im_end|>");
		if (im_end)
			*im_end = '\0';
		if (s[0] == '\n' && s[1] != '\0')
		{
			memmove(s, s + 1, strlen(s));
			return s;
		}
		free(s);
	}
	return NULL;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
put_trimmed(struct text_buf *out, const char *s, const char *e)
{
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	text_buf_append(out, s, (size_t) (e - s));
}

/*
 * The reasoning is what lies between an opening <think> (written by the
 * model at the very start, after blanks, or by the prompt when
 * started_in_think) and </think>, trimmed of blanks (space, tab, CR, LF) at
 * both ends; the answer is what follows </think>, with its leading blanks
 * dropped.  A </think> splits the text even when no <think> opened it
 * (the caller may not know that the prompt did).  A think never closed
 * (the model ran out of tokens) is all reasoning.  Text with neither
 * marker is all answer, untouched.
 */
void
chat_split_reasoning(const char *text, size_t len, bool started_in_think,
					 struct text_buf *reasoning, struct text_buf *answer)
{
	const char *end;
	const char *body = text;
	const char *close;
	bool		opened = started_in_think;

	if (text == NULL)
		return;
	end = text + len;
	while (body < end && is_blank(*body))
		body++;
	if ((size_t) (end - body) >= strlen(THINK_OPEN) &&
		memcmp(body, THINK_OPEN, strlen(THINK_OPEN)) == 0)
	{
		body += strlen(THINK_OPEN);
		opened = true;
	}
	else
		body = text;

	close = find(body, (size_t) (end - body), THINK_CLOSE);
	if (close)
	{
		const char *a = close + strlen(THINK_CLOSE);

		put_trimmed(reasoning, body, close);
		while (a < end && is_blank(*a))
			a++;
		text_buf_append(answer, a, (size_t) (end - a));
	}
	else if (opened)
		put_trimmed(reasoning, body, end);
	else
		text_buf_append(answer, text, len);
}
