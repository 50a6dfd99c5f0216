/*
 * attention.h — attention of one query head over a sequence's cached keys
 * and values.
 */
#ifndef DR1_ATTENTION_H
#define DR1_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_cache.h"

/*
 * Dense attention for one head: out (head_dim) = softmax(q.K * scale) V over
 * positions 0..n_ctx-1 of seq in layer, reading the keys and values of KV
 * head kv_head.  scores is scratch of n_ctx floats.
 *
 * Numerics follow llama.cpp's CPU path with flash attention off: q rounded
 * to F16 before q.k, the softmax with ggml's exp and summation order, the
 * probabilities rounded to F16 before they weight the F16 values, and both
 * products summed in the order llama.cpp uses: gemm for a token that came
 * in a chunk of two or more of its sequence, else its dot order (attention.c).
 *
 * A q8_0 cache (head_dim then a multiple of QK8_0) is read as llama.cpp
 * reads a q8_0 K cache: q quantized to q8_0, each block's q.k an exact
 * integer dot times both scales, the blocks summed in order; the values
 * dequantized and weighted by the F32 probabilities in the lanes above.
 */
void		attention_dense(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
							int32_t n_ctx, int32_t kv_head, int32_t head_dim,
							const float *q, float scale, bool gemm, float *out, float *scores);

/*
 * Attention of one query head over a latent cache (kv->latent, deepseek2's
 * multi-head latent attention as llama.cpp computes it with the absorbed
 * weights, MQA with one KV head): q has the cache's row length, the keys are
 * the rows and the values their first v_dim elements; out gets v_dim.  The
 * same numerics as attention_dense.
 */
void		attention_latent(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
							 int32_t n_ctx, int32_t v_dim, const float *q, float scale,
							 bool gemm, float *out, float *scores);

/*
 * The same over the chosen blocks only (blocks[0..n_blocks), ascending, as
 * attention_select gives them): the softmax spans their positions alone.
 * Given every block it is attention_dense, bit for bit.
 */
void		attention_sparse(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
							 int32_t n_ctx, const int32_t *blocks, int32_t n_blocks,
							 int32_t kv_head, int32_t head_dim, const float *q, float scale,
							 bool gemm, float *out, float *scores);

/* The query head as attention multiplies it with a cache's keys, in
 * floats: rounded to F16, or through q8_0. */
void		attention_query_as_read(enum kv_type type, const float *q, int32_t head_dim, float *out);

/* The kernels of one attention pass, per KV block (attention.c): rows
 * stride elements (q8_0: blocks) apart. */
struct attention_kernels
{
	void		(*scores) (const float *qh, const uint16_t *k, int32_t count, int32_t stride,
						   int32_t head_dim, bool gemm, float scale, float *scores);
	void		(*values) (const float *p, const uint16_t *v, int32_t count, int32_t stride,
						   int32_t head_dim, int32_t first, bool gemm, float *acc);
	/* x = (float) (half) x: the query and the probabilities meet F16 data */
	void		(*round_f16) (float *x, int32_t n);
	/* the same two products over a q8_0 cache, the query in q8_0 */
	void		(*scores_q8_0) (const struct block_q8_0 *qh, const struct block_q8_0 *k,
								int32_t count, int32_t stride, int32_t head_dim, float scale,
								float *scores);
	void		(*values_q8_0) (const float *p, const struct block_q8_0 *v, int32_t count,
								int32_t stride, int32_t head_dim, int32_t first, bool gemm,
								float *acc);
};

extern const struct attention_kernels attention_kernels_scalar;
extern const struct attention_kernels attention_kernels_avx2;	/* needs AVX2+FMA+F16C */

#endif
