/*
 * forward_impl.h — the forward pass's working state and steps, shared by
 * the files that run a model: forward.c (the decoders, and the pass's
 * context), mla.c and moe.c (deepseek2's attention and experts), encoder.c
 * (BERT), over the steps of pass.c.  Not for other files: they use
 * forward.h and embed.h.
 */
#ifndef DR1_FORWARD_IMPL_H
#define DR1_FORWARD_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "dtype.h"
#include "mm_path.h"

/* not forward.h: its module includes this file (no include cycle) */
struct hparams;
struct infer_ctx;
struct kv_seq;
struct layer;
struct weight;

/* Activations quantized for a matrix product, kept while their source is
 * unchanged so Q, K and V (and gate and up) share one quantization. */
struct act_buf
{
	const float *src;
	enum dtype	type;
	void	   *data;
};

/* What a thread-pool worker over one layer's T tokens needs (attention). */
struct layer_task
{
	struct infer_ctx *ic;
	int32_t		layer;
	int32_t		T;
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
	struct mla_scratch *mla;	/* deepseek2's buffers (mla.c, moe.c), or NULL */
};

/* deepseek2: latent attention's and the experts' buffers */
struct mla_scratch
{
	float	   *q_a;			/* [T][q_lora_rank] compressed Q */
	float	   *q;				/* [T][n_head][qk_nope + rope] */
	float	   *kv;				/* [T][kv_lora + rope]: the cache row */
	float	   *q_lat;			/* [T][n_head][kv_lora + rope] absorbed Q */
	float	   *lat;			/* [T][n_head][kv_lora] attention output, latent */
	float	   *head_in;		/* [T][max(qk_nope, kv_lora)] one head's rows */
	float	   *head_out;		/* [T][max(kv_lora, v_head)] */
	float	   *att;			/* [T][n_head * v_head] */
	float	   *router;			/* [T][n_expert] router logits, then probabilities */
	float	   *select;			/* [T][n_expert] selection scores */
	int32_t    *chosen;			/* [T][n_expert_used] experts, best first */
	float	   *weight;			/* [T][n_expert_used] their weights */
	int32_t    *n_rows;			/* [n_expert] (token, slot) pairs per expert */
	int32_t    *rows;			/* [n_expert][T] the pairs, t * n_expert_used + slot */
	float	   *x_e;			/* [T][n_embd] one expert's input rows */
	float	   *gate_e;			/* [T][n_ff_exp] */
	float	   *up_e;
	float	   *out_e;			/* [T][n_embd] */
	float	   *expert_out;		/* [T][n_expert_used][n_embd] each slot's expert output */
	float	   *moe_out;		/* [T][n_embd] */
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

/* The same for experts, every row summed as ggml's mul_mat_id sums it: a
 * row at a time (vec_dot's order; a repacked Q4_K's gemv), whatever the
 * number of rows. */
void		linear_group_experts(struct infer_ctx *ic, const struct weight *const *w,
								 float *const *out, int n, const float *x, int32_t T);

/* The source rows of the quantized activations changed: forget them. */
void		acts_forget(struct forward_scratch *s);

/* out[T][down->rows] = down . (silu(gate . x) * (up . x)), in s->gate and
 * s->up. */
void		swiglu_ffn(struct infer_ctx *ic, const struct weight *gate, const struct weight *up,
					   const struct weight *down, const float *x, int32_t T, bool alone,
					   float *out);

/* deepseek2 */
struct mla_scratch *mla_scratch_new(const struct hparams *hp, int32_t T);
void		mla_scratch_free(struct mla_scratch *ms);

/* Latent attention of layer il: s->xn (normalized) in, its output
 * projection in s->xn out (mla.c). */
void		mla_attention(struct infer_ctx *ic, const struct layer *l, int32_t il, int32_t T);

/* The MoE block: s->xn in, routed plus shared experts in s->xn out (moe.c). */
void		moe_ffn(struct infer_ctx *ic, const struct layer *l, int32_t T, bool alone);

#endif
