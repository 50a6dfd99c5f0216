/*
 * wordpiece.h — BERT's WordPiece encoding (tokenizer.ggml.model "bert").
 *
 * What HF's BertTokenizerFast does with do_lower_case (its BertNormalizer,
 * BertPreTokenizer and WordPiece model), on a vocabulary in llama.cpp's
 * GGUF form: a word-initial piece "x" is stored as "\u2581x" (the phantom
 * space), a continuation "##x" as "x".
 */
#ifndef DR1_WORDPIECE_H
#define DR1_WORDPIECE_H

#include <stddef.h>

#include "token_list.h"

struct tokenizer;

/* Append the WordPiece ids of text (valid UTF-8 without special tokens). */
void		wordpiece_encode(const struct tokenizer *t, const char *text, size_t len,
							 struct token_list *out);

#endif
