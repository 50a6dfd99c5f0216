/*
 * forward_impl.h — the forward pass's working state and steps, shared by
 * the two files that run a model: forward.c (the decoders, and the
 * pass's context) and encoder.c (BERT).  Not for other files: they use
 * forward.h and embed.h.
 */
#ifndef DR1_FORWARD_IMPL_H
#define DR1_FORWARD_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "dtype.h"
#include "mm_path.h"

/* not forward.h: its module includes this file (no include cycle) */
struct infer_ctx;
struct kv_seq;
struct weight;

/* Activations quantized for a matrix product, kept while their source is
 * unchanged so Q, K and V (and gate and up) share one quantization. */
struct act_buf
{
	const float *src;
	enum dtype	type;
	void	   *data;
};

#define GROUP_MAX 3				/* products in one parallel loop: q, k, v */

struct forward_scratch
{
	float	   *x;				/* [T][n_embd] residual stream */
	float	   *xn;				/* [T][n_embd] normalized input of a block */
	float	   *q;				/* [T][n_embd] */
	float	   *k;				/* [T][kv_dim] */
	float	   *v;				/* [T][kv_dim] */
	float	   *att;			/* [T][n_embd] attention output */
	float	   *gate;			/* [T][n_ff] (the encoder's FFN activations) */
	float	   *up;				/* [T][n_ff]; NULL for the encoder, which has no gate */
	struct act_buf acts[2];
	int			next_act;
	float	   *scores;			/* [n_threads][n_ctx] */
	/* sparse attention: each token's budget (0: dense) and the blocks
	 * chosen for it per KV head in the current layer */
	int32_t    *tok_budget;		/* [T] */
	int32_t		n_sparse;		/* tokens with a budget in this pass */
	int32_t    *sel_blocks;		/* [T][n_head_kv][max_blocks] */
	int32_t    *sel_count;		/* [T][n_head_kv] */
	float	   *sel_bounds;		/* [n_threads][2 * max_blocks] */
	int32_t		max_blocks;		/* blocks of a full context */
	struct kv_seq **tok_seq;	/* [T] sequence of each token */
	int32_t    *tok_chunk;		/* [T] tokens its sequence brought to this pass */
	int32_t    *tok_index;		/* [T] its index among them */
	int32_t    *tok_pos;		/* [T] position of each token */
	enum mm_path *tok_path;		/* [GROUP_MAX][T] summation order in each product of a group */
	float	   *rope_cos;		/* [T][rope_dim / 2] each token's RoPE angles */
	float	   *rope_sin;
};


/*
 * fn(ic, arg, t) for every token t < T: on the pool when there are enough
 * tokens to pay for waking it, else on this thread.  Each call touches only
 * its own token's rows, so the split changes no result.
 */
typedef void (*token_fn) (struct infer_ctx *ic, const void *arg, int32_t t);

void		for_each_token(struct infer_ctx *ic, int32_t T, token_fn fn, const void *arg);

/*
 * out_k[T][w_k->rows] = x[T][cols] . w_k^T (+ bias_k) for the n products
 * of a group that read the same input, in one parallel loop, each row
 * summed in the order llama.cpp uses for its token (s->tok_chunk and
 * s->tok_index say where it is; alone: as a product of that row only).
 * linear is a group of one.
 */
void		linear_group(struct infer_ctx *ic, const struct weight *const *w, float *const *out,
						 const float *const *bias, int n, const float *x, int32_t T, bool alone);
void		linear(struct infer_ctx *ic, const struct weight *w, const float *x, int32_t T,
				   float *out, const float *bias, bool alone);

/* The source rows of the quantized activations changed: forget them. */
void		acts_forget(struct forward_scratch *s);

#endif
