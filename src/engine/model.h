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

struct gguf_file;
struct tokenizer;

#define MODEL_MAX_HEAD_DIM 512

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

/* Copy row `row` of a weight matrix into dst (cols floats). */
void		weight_row_f32(const struct weight *w, int64_t row, float *dst);

#endif
