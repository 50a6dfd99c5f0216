/*
 * pretokenizer.c — the word splitting that precedes byte-level BPE.
 *
 * Each pattern (see pretokenizer.h) is matched by hand, left to right, the
 * way llama.cpp's own matchers do it.  Those differ from a real regex engine
 * in a few corners, and the ids must agree with llama.cpp, so the corners are
 * kept: the lookahead of \s+(?!\S) only sees the current piece of text, and a
 * run of \p{N} splits into pieces of at most one or three code points.
 */
#include "pretokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "alloc.h"
#include "utf8.h"

/* Character classes; CF_ANY marks "inside the piece being split". */
#define CF_LETTER	0x01
#define CF_NUMBER	0x02
#define CF_SPACE	0x04
#define CF_ANY		0x08

#define NO_CP		0xFFFFFFFFu

struct name_entry
{
	const char *name;
	enum pretok_kind kind;
	bool		ignore_merges;
	bool		add_bos;
};

/* The names llama.cpp maps to these four splits. */
static const struct name_entry names[] = {
	{"gpt-2", PRETOK_GPT2, false, false},
	{"phi-2", PRETOK_GPT2, false, false},
	{"mpt", PRETOK_GPT2, false, false},
	{"olmo", PRETOK_GPT2, false, false},
	{"jais", PRETOK_GPT2, false, false},
	{"gigachat", PRETOK_GPT2, false, false},
	{"a.x-4.0", PRETOK_GPT2, false, false},
	{"mellum", PRETOK_GPT2, false, false},
	{"exaone4", PRETOK_GPT2, false, false},
	{"trillion", PRETOK_GPT2, false, false},
	{"granite-docling", PRETOK_GPT2, false, false},
	{"smollm", PRETOK_SMOLLM, false, false},
	{"starcoder", PRETOK_SMOLLM, false, false},
	{"refact", PRETOK_SMOLLM, false, false},
	{"command-r", PRETOK_SMOLLM, false, false},
	{"codeshell", PRETOK_SMOLLM, false, false},
	{"exaone", PRETOK_SMOLLM, false, false},
	{"minerva-7b", PRETOK_SMOLLM, false, false},
	{"mellum2", PRETOK_SMOLLM, false, false},
	{"qwen2", PRETOK_QWEN2, false, false},
	{"deepseek-r1-qwen", PRETOK_QWEN2, false, false},
	{"stablelm2", PRETOK_QWEN2, false, false},
	{"megrez", PRETOK_QWEN2, false, false},
	{"hunyuan", PRETOK_QWEN2, false, false},
	{"solar-open", PRETOK_QWEN2, false, false},
	{"kormo", PRETOK_QWEN2, false, false},
	{"f2llmv2", PRETOK_QWEN2, false, false},
	{"llama-bpe", PRETOK_LLAMA3, true, true},
	{"llama3", PRETOK_LLAMA3, true, true},
	{"llama-v3", PRETOK_LLAMA3, true, true},
	{"falcon3", PRETOK_LLAMA3, true, true},
	{"falcon-h1", PRETOK_LLAMA3, true, true},
	{"pixtral", PRETOK_LLAMA3, true, true},
	{"midm-2.0", PRETOK_LLAMA3, true, true},
	{"lfm2", PRETOK_LLAMA3, true, true},
	{"jina-v5-nano", PRETOK_LLAMA3, true, true},
	{"dbrx", PRETOK_LLAMA3, false, false},
	{"smaug-bpe", PRETOK_LLAMA3, false, false},
	{"chatglm-bpe", PRETOK_LLAMA3, false, false},
	{"glm4", PRETOK_LLAMA3, true, false},
	{"glm5", PRETOK_LLAMA3, true, false},
};

struct pretok_info
pretok_lookup(const char *name, size_t len)
{
	struct pretok_info info = {PRETOK_GPT2, false, false};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
	{
		if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
		{
			info.kind = names[i].kind;
			info.ignore_merges = names[i].ignore_merges;
			info.add_bos = names[i].add_bos;
			break;
		}
	}
	return info;
}

static uint8_t
cp_flags(uint32_t cp)
{
	uint8_t		f = CF_ANY;

	if (utf8_is_space(cp, UTF8_SPACE_UNICODE))
		f |= CF_SPACE;
	switch (utf8proc_category((utf8proc_int32_t) cp))
	{
		case UTF8PROC_CATEGORY_CN:
			/*
			 * CJK Unified Ideographs Extension I (Unicode 15.1) are \p{L}
			 * in llama.cpp's tables, but unassigned in utf8proc before 2.9
			 * (Debian's 2.8 is Unicode 15.0).  No utf8proc property names a
			 * block, so the range is written as the reference's Unicode
			 * defines it, and asked only where utf8proc knows nothing.
			 */
			if (cp >= 0x2EBF0 && cp <= 0x2EE5D)
				f |= CF_LETTER;
			break;
		case UTF8PROC_CATEGORY_LU:
		case UTF8PROC_CATEGORY_LL:
		case UTF8PROC_CATEGORY_LT:
		case UTF8PROC_CATEGORY_LM:
		case UTF8PROC_CATEGORY_LO:
			f |= CF_LETTER;
			break;
		case UTF8PROC_CATEGORY_ND:
		case UTF8PROC_CATEGORY_NL:
		case UTF8PROC_CATEGORY_NO:
			f |= CF_NUMBER;
			break;
		default:
			break;
	}
	return f;
}

/* One piece of text being split: code points before end, with flags. */
struct piece
{
	const uint32_t *cp;
	const uint8_t *fl;
	size_t		end;
	size_t		prev;			/* end of the last word emitted */
	struct pretok_words *out;
};

static inline uint8_t
flag_at(const struct piece *p, size_t i)
{
	return i < p->end ? p->fl[i] : 0;
}

static inline uint32_t
cp_at(const struct piece *p, size_t i)
{
	return i < p->end ? p->cp[i] : NO_CP;
}

static void
push_len(struct pretok_words *w, size_t len)
{
	if (w->n == w->cap)
	{
		size_t		cap = w->cap ? 2 * w->cap : 64;
		w->len = xrealloc(w->len, cap * sizeof *w->len);
		w->cap = cap;
	}
	w->len[w->n++] = len;
}

/* The word ends at pos. */
static void
emit(struct piece *p, size_t pos)
{
	if (pos > p->prev)
		push_len(p->out, pos - p->prev);
	p->prev = pos;
}

static uint32_t
lower(uint32_t cp, bool fold)
{
	return fold ? (uint32_t) utf8proc_tolower((utf8proc_int32_t) cp) : cp;
}

/* Length of 's 't 're 've 'm 'll 'd at pos (0 if none). */
static size_t
contraction(const struct piece *p, size_t pos, bool fold)
{
	uint32_t	a,
				b;

	if (p->cp[pos] != '\'' || pos + 1 >= p->end)
		return 0;
	a = lower(p->cp[pos + 1], fold);
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if (pos + 2 >= p->end)
		return 0;
	b = lower(p->cp[pos + 2], fold);
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return 3;
	return 0;
}

/* Whitespace at pos: \s+(?!\S) leaves the last one to start the next word
 * when more text follows inside the piece, else \s+ takes all. */
static size_t
space_run_end(const struct piece *p, size_t pos)
{
	size_t		n = 0;

	while (flag_at(p, pos + n) & CF_SPACE)
		n++;
	if (n > 1 && pos + n < p->end)
		return pos + n - 1;
	return pos + (n > 0 ? n : 1);
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void
split_gpt2(struct piece *p, size_t pos)
{
	while (pos < p->end)
	{
		uint32_t	c = p->cp[pos];
		size_t		n = contraction(p, pos, false);
		uint8_t		f2;

		if (n > 0)
		{
			emit(p, pos += n);
			continue;
		}
		f2 = c == ' ' ? flag_at(p, pos + 1) : p->fl[pos];
		if (f2 & (CF_LETTER | CF_NUMBER))
		{
			uint8_t		cls = f2 & CF_LETTER ? CF_LETTER : CF_NUMBER;

			pos += c == ' ';
			while (flag_at(p, pos) & cls)
				pos++;
		}
		else if (f2 && !(f2 & CF_SPACE))
		{
			pos += c == ' ';
			while (flag_at(p, pos) && !(flag_at(p, pos) & (CF_SPACE | CF_LETTER | CF_NUMBER)))
				pos++;
		}
		else
			pos = space_run_end(p, pos);
		emit(p, pos);
	}
}

/*
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
static void
split_qwen_llama3(struct piece *p, size_t pos, size_t max_digits)
{
	while (pos < p->end)
	{
		uint32_t	c = p->cp[pos];
		uint8_t		f = p->fl[pos];
		size_t		n = contraction(p, pos, true);
		uint8_t		f2;

		if (n > 0)
		{
			emit(p, pos += n);
			continue;
		}
		if (c != '\r' && c != '\n' && !(f & CF_NUMBER) &&
			((f & CF_LETTER) || (flag_at(p, pos + 1) & CF_LETTER)))
		{
			pos++;
			while (flag_at(p, pos) & CF_LETTER)
				pos++;
			emit(p, pos);
			continue;
		}
		if (f & CF_NUMBER)
		{
			size_t		start = pos;

			while (flag_at(p, pos) & CF_NUMBER)
			{
				if (++pos - start >= max_digits)
				{
					emit(p, pos);
					start = pos;
				}
			}
			emit(p, pos);
			continue;
		}
		f2 = c == ' ' ? flag_at(p, pos + 1) : f;
		if (!(f2 & (CF_SPACE | CF_LETTER | CF_NUMBER)))
		{
			pos += c == ' ';
			while (flag_at(p, pos) && !(flag_at(p, pos) & (CF_SPACE | CF_LETTER | CF_NUMBER)))
				pos++;
			while (cp_at(p, pos) == '\r' || cp_at(p, pos) == '\n')
				pos++;
			emit(p, pos);
			continue;
		}

		/* \s*[\r\n]+ takes whitespace through the last line break of the run */
		{
			size_t		k = 0,
						last_break = 0;

			while (flag_at(p, pos + k) & CF_SPACE)
			{
				if (p->cp[pos + k] == '\r' || p->cp[pos + k] == '\n')
					last_break = pos + k + 1;
				k++;
			}
			pos = last_break ? last_break : space_run_end(p, pos);
		}
		emit(p, pos);
	}
}

static void
split_piece(enum pretok_kind kind, const uint32_t *cps, const uint8_t *fl,
			size_t ini, size_t end, struct pretok_words *out)
{
	struct piece p = {cps, fl, end, ini, out};

	switch (kind)
	{
		case PRETOK_QWEN2:
			split_qwen_llama3(&p, ini, 1);
			break;
		case PRETOK_LLAMA3:
			split_qwen_llama3(&p, ini, 3);
			break;
		default:
			split_gpt2(&p, ini);
			break;
	}
}

/* smollm: each \p{N} is a word of its own; the text between is split by gpt2. */
static void
split_digits_first(const uint32_t *cps, const uint8_t *fl, size_t n,
				   struct pretok_words *out)
{
	size_t		start = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (!(fl[i] & CF_NUMBER))
			continue;
		if (i > start)
			split_piece(PRETOK_GPT2, cps, fl, start, i, out);
		push_len(out, 1);
		start = i + 1;
	}
	if (n > start)
		split_piece(PRETOK_GPT2, cps, fl, start, n, out);
}

void
pretok_split(enum pretok_kind kind, const uint32_t *cps, size_t n,
			 struct pretok_words *out)
{
	uint8_t		small[256];
	uint8_t    *fl = n <= sizeof small ? small : xmalloc(n);

	for (size_t i = 0; i < n; i++)
		fl[i] = cp_flags(cps[i]);
	if (kind == PRETOK_SMOLLM)
		split_digits_first(cps, fl, n, out);
	else if (n > 0)
		split_piece(kind, cps, fl, 0, n, out);
	if (fl != small)
		free(fl);
}

void
pretok_words_free(struct pretok_words *w)
{
	free(w->len);
	w->len = NULL;
	w->n = w->cap = 0;
}
