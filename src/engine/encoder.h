/*
 * encoder.h — the BERT encoder's forward pass (arch "bert"), batched over
 * inputs.
 */
#ifndef DR1_ENCODER_H
#define DR1_ENCODER_H

#include "forward.h"
#include "token_list.h"

/*
 * Run n whole inputs (ids checked by the caller: in the vocabulary, each
 * 1..ic->n_ctx tokens, together at most ic->max_batch_tokens) through the
 * encoder in one pass.  Their tokens go through each matrix product
 * together; attention is per input, over all its tokens.  Returns the last
 * layer's output, [tokens][n_embd] in input order, valid until the next
 * pass.
 */
const float *encoder_forward(struct infer_ctx *ic, const struct token_list *inputs, int n);

#endif
