/*
 * wordpiece.c — BERT's WordPiece encoding, as HF tokenizers does it for
 * BertTokenizerFast with do_lower_case (docs/architecture.md, "WordPiece").
 *
 * 1. Normalize (BertNormalizer): drop NUL, U+FFFD and the characters of
 *    the categories Cc, Cf, Co except \t \n \r; turn whitespace into a
 *    space; put spaces around CJK ideographs; decompose (NFD) and drop the nonspacing marks
 *    (Mn), which strips accents; lowercase.
 * 2. Split (BertPreTokenizer) at whitespace, and around every punctuation
 *    character (Unicode P*, and every ASCII symbol, as BERT counts them).
 * 3. Each word: greedy longest-match-first pieces, "##" pieces after the
 *    first; a word that cannot be covered, or longer than 100 characters,
 *    is one [UNK].
 *
 * Categories, decomposition and case come from utf8proc.
 */
#include "wordpiece.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "alloc.h"
#include "text_buf.h"
#include "tokenizer_impl.h"
#include "utf8.h"

/* HF's max_input_chars_per_word: a longer word is [UNK] without a search. */
#define WORD_MAX_CHARS 100

/* The phantom space: how the GGUF vocabulary marks a word-initial piece. */
#define PHANTOM "\xe2\x96\x81"
#define PHANTOM_LEN 3

struct wp_scratch
{
	struct text_buf norm;		/* the text after step 1's first part */
	utf8proc_int32_t *cps;		/* its decomposition */
	size_t		cap_cps;
	struct text_buf word;		/* PHANTOM, then the word being built */
	size_t		word_chars;
};

/* The ideograph blocks of BERT's _is_chinese_char, as HF tokenizers has
 * them (0x2B920, not 0x2B820, as its Rust code says). */
static bool
is_cjk(uint32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
		(cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
		(cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
		(cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/*
 * Removed by clean_text: Cc, Cf, Cs and Co, except \t \n \r.  Not the
 * unassigned code points (Cn), which HF's Rust tables leave in the text
 * (Python's BasicTokenizer removes them; the fast tokenizer is the one
 * models load), so a word holding one is [UNK].
 */
static bool
is_control(uint32_t cp)
{
	if (cp == '\t' || cp == '\n' || cp == '\r')
		return false;
	switch (utf8proc_category((utf8proc_int32_t) cp))
	{
		case UTF8PROC_CATEGORY_CC:
		case UTF8PROC_CATEGORY_CF:
		case UTF8PROC_CATEGORY_CS:
		case UTF8PROC_CATEGORY_CO:
			return true;
		default:
			return false;
	}
}

static bool
is_punct(uint32_t cp)
{
	if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
		(cp >= 123 && cp <= 126))
		return true;
	switch (utf8proc_category((utf8proc_int32_t) cp))
	{
		case UTF8PROC_CATEGORY_PC:
		case UTF8PROC_CATEGORY_PD:
		case UTF8PROC_CATEGORY_PS:
		case UTF8PROC_CATEGORY_PE:
		case UTF8PROC_CATEGORY_PI:
		case UTF8PROC_CATEGORY_PF:
		case UTF8PROC_CATEGORY_PO:
			return true;
		default:
			return false;
	}
}

static void
put_cp(struct text_buf *b, uint32_t cp)
{
	char		enc[4];

	text_buf_append(b, enc, (size_t) utf8_encode(cp, enc));
}

/* Step 1 up to the decomposition: clean, whitespace, CJK, into s->norm. */
static void
clean(struct wp_scratch *s, const char *text, size_t len)
{
	const unsigned char *u = (const unsigned char *) text;

	s->norm.len = 0;
	text_buf_append(&s->norm, "", 0);
	for (size_t i = 0; i < len;)
	{
		uint32_t	cp;

		i += (size_t) utf8_decode(u + i, len - i, &cp);
		if (cp == 0 || cp == 0xFFFD || is_control(cp))
			continue;
		if (utf8_is_space(cp, UTF8_SPACE_UNICODE))
			cp = ' ';
		if (is_cjk(cp))
			text_buf_append(&s->norm, " ", 1);
		put_cp(&s->norm, cp);
		if (is_cjk(cp))
			text_buf_append(&s->norm, " ", 1);
	}
}

/* The canonical decomposition of s->norm (reordered as NFD is) into
 * s->cps; returns its length. */
static size_t
decompose(struct wp_scratch *s)
{
	utf8proc_ssize_t n;

	for (;;)
	{
		n = utf8proc_decompose((const utf8proc_uint8_t *) s->norm.s, (utf8proc_ssize_t) s->norm.len,
							   s->cps, (utf8proc_ssize_t) s->cap_cps, UTF8PROC_DECOMPOSE);
		/* the text is valid UTF-8 by now: the only failure is a short buffer */
		if (n >= 0 && (size_t) n <= s->cap_cps)
			return (size_t) n;
		s->cps = xgrow(s->cps, &s->cap_cps, n > 0 ? (size_t) n : s->cap_cps + 1, sizeof *s->cps);
	}
}

/* Greedy longest match of the word in s->word, or one [UNK]. */
static void
encode_word(const struct tokenizer *t, struct wp_scratch *s, struct token_list *out)
{
	const char *w = s->word.s + PHANTOM_LEN;
	size_t		n = s->word.len - PHANTOM_LEN;
	size_t		first = out->n;

	if (n == 0)
		return;
	if (s->word_chars > WORD_MAX_CHARS)
	{
		token_list_push(out, t->unk);
		return;
	}
	for (size_t start = 0; start < n;)
	{
		size_t		end = start + t->max_piece < n ? start + t->max_piece : n;
		int64_t		id = -1;

		for (; end > start; end--)
		{
			/* only whole characters: a UTF-8 piece ends before a lead byte */
			if (end < n && ((unsigned char) w[end] & 0xC0) == 0x80)
				continue;
			id = start == 0 ? strtab_find(&t->vocab, s->word.s, PHANTOM_LEN + end, NULL, 0)
				: strtab_find(&t->vocab, w + start, end - start, NULL, 0);
			if (id >= 0)
				break;
		}
		if (id < 0)
		{
			out->n = first;
			token_list_push(out, t->unk);
			return;
		}
		token_list_push(out, (int32_t) id);
		start = end;
	}
}

static void
end_word(const struct tokenizer *t, struct wp_scratch *s, struct token_list *out)
{
	encode_word(t, s, out);
	s->word.len = PHANTOM_LEN;
	s->word_chars = 0;
}

void
wordpiece_encode(const struct tokenizer *t, const char *text, size_t len, struct token_list *out)
{
	struct wp_scratch s = {0};
	size_t		n;

	clean(&s, text, len);
	n = decompose(&s);
	text_buf_append(&s.word, PHANTOM, PHANTOM_LEN);
	for (size_t i = 0; i < n; i++)
	{
		uint32_t	cp = (uint32_t) s.cps[i];

		if (utf8proc_category(s.cps[i]) == UTF8PROC_CATEGORY_MN)
			continue;
		cp = (uint32_t) utf8proc_tolower((utf8proc_int32_t) cp);
		if (cp == ' ')
			end_word(t, &s, out);
		else if (is_punct(cp))
		{
			end_word(t, &s, out);
			put_cp(&s.word, cp);
			end_word(t, &s, out);
		}
		else
		{
			put_cp(&s.word, cp);
			s.word_chars++;
		}
	}
	end_word(t, &s, out);
	text_buf_free(&s.norm);
	text_buf_free(&s.word);
	free(s.cps);
}
