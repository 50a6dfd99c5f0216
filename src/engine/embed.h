/*
 * embed.h — sentence embeddings (DESIGN.md §3.8): a text's tokens through
 * the model, pooled and L2-normalised.
 *
 * bert files (all-MiniLM-L6-v2 class) run the encoder (encoder.c) on
 * [CLS] text [SEP]; decoder files (llama, qwen2) give the final hidden
 * states of their forward pass (after output_norm).  Pooling is what the
 * file's {arch}.pooling_type says; without it, mean for an encoder and the
 * last token for a decoder (docs/architecture.md, "Embeddings").
 */
#ifndef DR1_EMBED_H
#define DR1_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "forward.h"
#include "token_list.h"

struct model;

enum pooling
{
	POOLING_MEAN,
	POOLING_CLS,
	POOLING_LAST
};

int			embed_dim(const struct model *m);	/* embedding length */
enum pooling embed_pooling(const struct model *m);
const char *pooling_name(enum pooling p);	/* "mean", "cls", "last" */
int32_t		embed_max_tokens(const struct model *m);	/* most tokens one input may have, with CLS/SEP */

/*
 * The model's input tokens for one text (CLS..SEP for bert; BOS as the
 * file says for decoders), appended to out.  Control tokens in the text are
 * text.  -1 + err for invalid UTF-8.
 */
int			embed_tokenize(const struct model *m, const char *text, size_t len,
						   struct token_list *out, char *err);

/* Cut an input of more than max tokens to max, ending as the input ended:
 * a bert input keeps its [SEP]. */
void		embed_truncate(const struct model *m, struct token_list *ids, int32_t max);

/*
 * Embed n inputs (each at most embed_max_tokens) in batched passes; out
 * gets n * embed_dim floats, each row L2-normalised.  An input's embedding
 * does not depend on the others it is batched with.  -1 + err for an empty
 * or too long input, a token outside the vocabulary, or a KV cache (for a
 * decoder) that cannot hold an input.
 */
int			embed_batch(struct infer_ctx *ic, const struct token_list *inputs, int n, float *out,
						char *err);

#endif
