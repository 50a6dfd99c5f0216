/*
 * tokenizer_impl.h — the tokenizer's state, shared by the two files that
 * make it: vocab.c (loading and checking a vocabulary) and tokenizer.c
 * (encoding and token pieces).  Not for other files: they use tokenizer.h.
 */
#ifndef DR1_TOKENIZER_IMPL_H
#define DR1_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pretokenizer.h"
#include "strtab.h"

/* Token attributes, as llama.cpp numbers them; ATTR_EOG is ours. */
#define ATTR_UNKNOWN	0x0001
#define ATTR_UNUSED		0x0002
#define ATTR_NORMAL		0x0004
#define ATTR_CONTROL	0x0008
#define ATTR_USER		0x0010
#define ATTR_BYTE		0x0020
#define ATTR_EOG		0x8000

#define ATTR_SPECIAL	(ATTR_UNKNOWN | ATTR_CONTROL)

/* GPT-2 maps bytes to code points below 0x144. */
#define BYTE_CP_LIMIT	0x144

struct tokenizer
{
	bool		wordpiece;		/* tokenizer.ggml.model "bert" (wordpiece.c), else BPE */
	struct strtab vocab;		/* entry i is token i */
	struct strtab merges;		/* "left right" strings (BPE) */
	int32_t    *merge_rank;		/* rank of each merges entry */
	uint16_t   *attr;
	int32_t		n_vocab;
	int32_t		bos;
	int32_t		eos;
	int32_t		unk;			/* WordPiece: [UNK]; -1 for BPE */
	int32_t		sep;			/* WordPiece: [SEP], which ends an input; -1 for BPE */
	size_t		max_piece;		/* WordPiece: bytes of the longest token */
	bool		add_bos;
	struct pretok_info pre;
	int32_t    *special;		/* special tokens, longest text first */
	size_t		n_special;
	char		byte_enc[256][2];	/* UTF-8 of each byte's code point */
	uint8_t		byte_enc_len[256];
	int16_t		byte_dec[BYTE_CP_LIMIT];	/* code point -> byte, or -1 */
};

#endif
