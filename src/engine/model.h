/*
 * model.h — a loaded model: hyper-parameters, weights (pointing into the
 * mapped GGUF file), tokenizer and chat style.
 */
#ifndef DR1_MODEL_H
#define DR1_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "arch.h"
#include "chat.h"
#include "dtype.h"
#include "ops.h"

struct gguf_file;
struct tokenizer;


struct hparams
{
	int32_t		n_vocab;
	int32_t		n_ctx_train;
	int32_t		n_embd;
	int32_t		n_ff;
	int32_t		n_layer;
	int32_t		n_head;
	int32_t		n_head_kv;
	int32_t		head_dim;
	int32_t		rope_dim;		/* leading dims of a head that RoPE rotates */
	float		rope_base;
	float		rms_eps;
	float		norm_eps;		/* LayerNorm epsilon (bert) */
	int32_t		pooling_type;	/* {arch}.pooling_type as llama.cpp numbers it; 0: none given */
	struct rope_scaling rope_scaling;	/* {arch}.rope.scaling.*: YaRN or linear; none */
	float		kq_scale;		/* the attention's score scale */
	struct mla_hparams *mla;	/* deepseek2 (arch->mla), else NULL */
};

/*
 * deepseek2: multi-head latent attention and mixture of experts.  With MLA
 * the KV cache holds per position one row of kv_lora_rank latent values and
 * rope_dim RoPE values (hparams.head_dim is their sum, n_head_kv is 1).
 */
#define MOE_MAX_GROUPS 64

struct mla_hparams
{
	int32_t		q_lora_rank;	/* 0: Q projected directly (attn_q) */
	int32_t		kv_lora_rank;
	int32_t		qk_nope_dim;	/* per head: Q/K dims without RoPE */
	int32_t		v_head_dim;
	int32_t		n_dense_lead;	/* leading layers with a dense feed-forward block */
	int32_t		n_expert;
	int32_t		n_expert_used;
	int32_t		n_expert_shared;
	int32_t		n_expert_groups;	/* 1: no group-limited routing; at most MOE_MAX_GROUPS */
	int32_t		n_groups_used;
	int32_t		n_ff_exp;		/* one expert's hidden size */
	float		expert_weights_scale;	/* routed scaling factor; 0: none */
	bool		expert_weights_norm;	/* the chosen experts' weights normalized to sum 1 */
};

/* A weight matrix of rows x cols (GGUF ne[1] x ne[0]), rows stored one after
 * another in its quantized format. */
struct weight
{
	enum dtype	type;
	int64_t		rows;
	int64_t		cols;
	size_t		row_bytes;
	const uint8_t *data;
};

struct layer
{
	float	   *attn_norm;
	struct weight wq,
				wk,
				wv,
				wo;
	float	   *bq,
			   *bk,
			   *bv;				/* NULL without biases */
	float	   *q_norm,
			   *k_norm;			/* [head_dim] per-head RMS norms (qwen3), or NULL */
	float	   *ffn_norm;
	struct weight w_gate,
				w_up,
				w_down;
	/* deepseek2: the latent attention's projections (wk_b and wv_b hold one
	 * matrix per head, layer_matrix) and norms */
	struct weight wq_a,
				wq_b,
				wkv_a,
				wk_b,
				wv_b;
	float	   *q_a_norm,
			   *kv_a_norm;
	/* deepseek2 MoE layers: router, selection bias, experts (one matrix per
	 * expert), shared experts */
	struct weight gate_inp;
	float	   *exp_probs_b;
	struct weight gate_exps,
				up_exps,
				down_exps;
	struct weight gate_shexp,
				up_shexp,
				down_shexp;
	/* bert: the LayerNorms after attention and after the feed-forward block
	 * (post-norm; attn_norm and ffn_norm are NULL), the other biases */
	float	   *attn_out_norm,
			   *attn_out_norm_b,
			   *out_norm,
			   *out_norm_b;
	float	   *bo,
			   *b_up,
			   *b_down;
};

struct model
{
	struct gguf_file *file;
	const struct arch_info *arch;
	struct hparams hp;
	char	   *name;
	struct weight tok_embd;
	struct weight output;		/* tok_embd when the output is tied */
	bool		output_tied;
	float	   *output_norm;
	float	   *rope_freqs;		/* per-frequency divisors (Llama 3), or NULL */
	/* bert: learned positions, the type-0 row of token_types, the
	 * embeddings' LayerNorm (output is unused, output_norm NULL) */
	struct weight pos_embd;
	float	   *type_embd;
	float	   *embd_norm,
			   *embd_norm_b;
	struct layer *layers;
	int64_t		n_params;
	struct tokenizer *tok;
	enum chat_style chat;
	char	   *default_system; /* the chat template's implicit system prompt */
	char	   *bos_text;		/* text of the BOS token, for templates that write it */
};

struct model *model_load(const char *path, char *err);
void		model_free(struct model *m);

/* Matrix i of a weight that holds several of w->rows x w->cols one after
 * another (per head, per expert). */
static inline struct weight
weight_matrix(const struct weight *w, int64_t i)
{
	struct weight m = *w;

	m.data = w->data + i * w->rows * w->row_bytes;
	return m;
}

/* Copy row `row` of a weight matrix into dst (cols floats). */
void		weight_row_f32(const struct weight *w, int64_t row, float *dst);

#endif
