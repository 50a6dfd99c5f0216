/*
 * arch.h — what each supported model architecture needs.
 *
 * Keyed by general.architecture.  Adding an architecture that is a variant
 * of these is one table entry in arch.c.  The decoders (llama, qwen2, qwen3,
 * deepseek2) run in forward.c; the encoder (bert, embeddings only) in
 * encoder.c.
 */
#ifndef DR1_ARCH_H
#define DR1_ARCH_H

#include <stdbool.h>
#include <stddef.h>

/* The longest attention row of any architecture: deepseek2's latent and
 * RoPE part (512 + 64). */
#define MODEL_MAX_HEAD_DIM 576

enum rope_style
{
	ROPE_ADJACENT,				/* rotate (x[2i], x[2i+1]): llama files store Q/K permuted for it */
	ROPE_NEOX					/* rotate (x[i], x[i + d/2]): qwen2 */
};

struct arch_info
{
	const char *name;
	bool		qkv_bias;		/* blk.N.attn_{q,k,v}.bias present */
	bool		qk_norm;		/* RMS norms of each Q and K head before RoPE (qwen3) */
	bool		mla;			/* deepseek2: latent attention, MoE feed-forward (forward_mla.c) */
	bool		gpu;			/* the CUDA backend runs it */
	enum rope_style rope;
	float		default_rope_base;
	bool		encoder;		/* BERT: bidirectional, post-norm, learned positions (encoder.c) */
};

/* The entry for an architecture name (not NUL-terminated), or NULL. */
const struct arch_info *arch_find(const char *name, size_t len);

#endif
