/*
 * pretokenizer.h — splitting text into words before byte-level BPE.
 *
 * Which split a vocabulary uses is named by tokenizer.ggml.pre.  Each kind
 * reproduces the pattern of the original tokenizer as llama.cpp applies it
 * (its hand-written matchers for the GPT-2, Llama 3 and Qwen2 patterns), so
 * ids agree with llama.cpp on the same file:
 *
 *   gpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   smollm  every \p{N} on its own first, then gpt2 on the pieces between
 *   qwen2   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
 *           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   llama3  as qwen2 but \p{N}{1,3}
 *
 * Unicode categories come from utf8proc.
 */
#ifndef DR1_PRETOKENIZER_H
#define DR1_PRETOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pretok_kind
{
	PRETOK_GPT2,
	PRETOK_SMOLLM,
	PRETOK_QWEN2,
	PRETOK_LLAMA3
};

/* What a tokenizer.ggml.pre name stands for. */
struct pretok_info
{
	enum pretok_kind kind;
	bool		ignore_merges;	/* a word that is a whole token skips BPE */
	bool		add_bos;		/* default when add_bos_token is absent */
};

/* An unknown (or empty) name gives GPT-2 splitting. */
struct pretok_info pretok_lookup(const char *name, size_t len);

/* Word lengths, in code points, in text order. */
struct pretok_words
{
	size_t	   *len;
	size_t		n;
	size_t		cap;
};

/* Split cps[0..n) into words, appending their lengths to out. */
void		pretok_split(enum pretok_kind kind, const uint32_t *cps, size_t n,
						 struct pretok_words *out);

void		pretok_words_free(struct pretok_words *w);

#endif
