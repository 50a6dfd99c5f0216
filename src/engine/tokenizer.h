/*
 * tokenizer.h — byte-level BPE (GPT-2 style) or BERT's WordPiece
 * (tokenizer.ggml.model "bert", wordpiece.h) from a GGUF vocabulary.
 *
 * Loaded from the tokenizer.ggml.* metadata: tokens, token_type, merges, pre
 * (which pre-tokenizer splits the text before BPE), bos/eos/eot ids and
 * add_bos_token.  Encoding never adds BOS by itself; callers do, following
 * tokenizer_add_bos().  Control tokens (<|im_start|>, <｜User｜>, ...) are
 * recognised in the input only when parse_special is true, so user text can
 * never inject them.
 */
#ifndef DR1_TOKENIZER_H
#define DR1_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text_buf.h"
#include "token_list.h"

struct gguf_file;
struct tokenizer;

struct tokenizer *tokenizer_load(const struct gguf_file *f, char *err);
void		tokenizer_free(struct tokenizer *t);

/* Append the ids of text (len bytes of UTF-8) to out.  Returns -1 with err
 * set when text is not valid UTF-8. */
int			tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
							 bool parse_special, struct token_list *out, char *err);

/*
 * As tokenizer_encode with parse_special, except that no control token is
 * recognised where it would overlap one of the guarded spans: text a user
 * wrote, placed inside a chat template, cannot inject "<|im_end|>".  The
 * text around and inside the spans is otherwise cut and merged exactly as
 * tokenizer_encode does.
 */
int			tokenizer_encode_guarded(const struct tokenizer *t, const char *text, size_t len,
									 const struct text_spans *guarded, struct token_list *out,
									 char *err);

int32_t		tokenizer_n_vocab(const struct tokenizer *t);
int32_t		tokenizer_bos(const struct tokenizer *t);	/* -1 if none */
int32_t		tokenizer_eos(const struct tokenizer *t);	/* -1 if none */
int32_t		tokenizer_sep(const struct tokenizer *t);	/* WordPiece's [SEP]; -1 for BPE */
bool		tokenizer_is_wordpiece(const struct tokenizer *t);
bool		tokenizer_add_bos(const struct tokenizer *t);

/* True for end-of-generation tokens (eos, eot, <|im_end|>, <|eot_id|>, ...). */
bool		tokenizer_is_eog(const struct tokenizer *t, int32_t id);

/* Id of a token given its exact text, or -1. */
int32_t		tokenizer_find(const struct tokenizer *t, const char *text);

/* The bytes a token stands for (byte-level decoding undone).  Control tokens
 * give their text only when with_special is true, else nothing.  Returns the
 * number of bytes written (at most cap) or the needed size when larger. */
size_t		tokenizer_piece(const struct tokenizer *t, int32_t id, bool with_special,
							char *buf, size_t cap);

#endif
