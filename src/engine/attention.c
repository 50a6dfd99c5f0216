/*
 * attention.c — dense attention over the paged KV cache.
 *
 * Two passes over the visible positions, block by block (no copy of the
 * cache): scores, then the softmax-weighted sum of values, by the kernels
 * of the cache's type.
 */
#include "attention.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "f16.h"
#include "model.h"
#include "ops.h"
#include "quant.h"

static inline int32_t
block_count(int32_t first, int32_t n_ctx)
{
	return n_ctx - first < KV_BLOCK_TOKENS ? n_ctx - first : KV_BLOCK_TOKENS;
}

/*
 * The order in which q.k and p.v are summed is part of the numerics contract:
 * models with massive activations (SmolLM2) turn a one-ulp difference here
 * into a flipped F16 rounding a few layers later.  We sum as llama.cpp does on
 * AVX2, which has two orders:
 *   gemm (a sequence's chunk of 2 or more tokens, its F16 GEMM): 8 lanes,
 *     element e in lane e % 8, fused multiply-adds, lanes summed as
 *     ((0+4)+(2+6)) + ((1+5)+(3+7));
 *   dot (a single token, its F16 dot product): 4 accumulators of 8 lanes,
 *     element e in accumulator (e / 8) % 4, lane e % 8; accumulators summed
 *     (0+2)+(1+3), then lanes ((0+4)+(1+5)) + ((2+6)+(3+7)).
 */
#define LANES 32				/* enough for either order */

static inline int
lane_of(int32_t e, bool gemm)
{
	return gemm ? e % 8 : e % 32;
}

static inline float
lanes_sum(const float *l, bool gemm)
{
	float		v[8];

	if (gemm)
		return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
	for (int i = 0; i < 8; i++)
		v[i] = (l[i] + l[16 + i]) + (l[8 + i] + l[24 + i]);
	return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* ---- scalar kernels: the reference ---------------------------------------- */

/* scores[j] = (q . k_j) * scale for count keys stride halves apart */
static void
scores_scalar(const float *qh, const uint16_t *k, int32_t count, int32_t stride,
			  int32_t head_dim, bool gemm, float scale, float *scores)
{
	for (int32_t j = 0; j < count; j++, k += stride)
	{
		float		lane[LANES] = {0};

		for (int32_t d = 0; d < head_dim; d++)
			lane[lane_of(d, gemm)] = fmaf(qh[d], f16_to_f32(k[d]), lane[lane_of(d, gemm)]);
		scores[j] = lanes_sum(lane, gemm) * scale;
	}
}

/* acc[lane][d] += p_j * v_j[d], position first + j going to its lane */
static void
values_scalar(const float *p, const uint16_t *v, int32_t count, int32_t stride,
			  int32_t head_dim, int32_t first, bool gemm, float *acc)
{
	for (int32_t j = 0; j < count; j++, v += stride)
	{
		float	   *a = acc + (size_t) lane_of(first + j, gemm) * head_dim;

		for (int32_t d = 0; d < head_dim; d++)
			a[d] = fmaf(p[j], f16_to_f32(v[d]), a[d]);
	}
}

static void
round_f16_scalar(float *x, int32_t n)
{
	for (int32_t i = 0; i < n; i++)
		x[i] = f16_to_f32(f32_to_f16(x[i]));
}

/* The same products over q8_0 rows: q.k as ggml's Q8_0 x Q8_0 dot,
 * integer per block, blocks summed in order (the reference vec_dot). */
static void
scores_q8_0_scalar(const struct block_q8_0 *qh, const struct block_q8_0 *k, int32_t count,
				   int32_t stride, int32_t head_dim, float scale, float *scores)
{
	for (int32_t j = 0; j < count; j++, k += stride)
		scores[j] = vec_dot_ref(DTYPE_Q8_0, head_dim, k, qh) * scale;
}

static void
values_q8_0_scalar(const float *p, const struct block_q8_0 *v, int32_t count, int32_t stride,
				   int32_t head_dim, int32_t first, bool gemm, float *acc)
{
	float		row[MODEL_MAX_HEAD_DIM];

	for (int32_t j = 0; j < count; j++, v += stride)
	{
		float	   *a = acc + (size_t) lane_of(first + j, gemm) * head_dim;

		dequantize_row_ref(DTYPE_Q8_0, v, row, head_dim);
		for (int32_t d = 0; d < head_dim; d++)
			a[d] = fmaf(p[j], row[d], a[d]);
	}
}

const struct attention_kernels attention_kernels_scalar = {
	scores_scalar, values_scalar, round_f16_scalar, scores_q8_0_scalar, values_q8_0_scalar
};

static const struct attention_kernels *fast_kernels;
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;

static void
choose_fast(void)
{
	/* the same choice as the quantized kernels' (DR1_QUANT_KERNELS=scalar) */
	fast_kernels = strcmp(quant_init(), "scalar") != 0
		? &attention_kernels_avx2 : &attention_kernels_scalar;
}

static const struct attention_kernels *
kernels_for(int32_t head_dim, bool gemm)
{
	pthread_once(&fast_once, choose_fast);
	/* the SIMD kernels take whole vectors: 8 elements, 32 for the dot order */
	if (head_dim % (gemm ? 8 : 32) != 0)
		return &attention_kernels_scalar;
	return fast_kernels;
}

/* The query head as the cache's keys meet it. */
union query_head
{
	float		f16[MODEL_MAX_HEAD_DIM];	/* rounded to F16 */
	struct block_q8_0 q8_0[MODEL_MAX_HEAD_DIM / QK8_0];
};

static void
query_prepare(const struct attention_kernels *kr, const struct kv_cache *kv, const float *q,
			  int32_t head_dim, union query_head *qh)
{
	if (kv->type == KV_Q8_0)
		quantize_row_act(DTYPE_Q8_0, q, qh->q8_0, head_dim);
	else
	{
		memcpy(qh->f16, q, sizeof(float) * head_dim);
		kr->round_f16(qh->f16, head_dim);
	}
}

void
attention_query_as_read(enum kv_type type, const float *q, int32_t head_dim, float *out)
{
	struct block_q8_0 q8_0[MODEL_MAX_HEAD_DIM / QK8_0];

	if (type == KV_Q8_0)
	{
		quantize_row_act(DTYPE_Q8_0, q, q8_0, head_dim);
		dequantize_row(DTYPE_Q8_0, q8_0, out, head_dim);
	}
	else
		for (int32_t d = 0; d < head_dim; d++)
			out[d] = f16_to_f32(f32_to_f16(q[d]));
}

/* scores of count positions whose key rows start at element row */
static void
block_scores(const struct attention_kernels *kr, const struct kv_cache *kv,
			 const union query_head *qh, size_t row, int32_t count, int32_t head_dim,
			 bool gemm, float scale, float *scores)
{
	if (kv->type == KV_Q8_0)
		kr->scores_q8_0(qh->q8_0, kv->k_q8_0 + row / QK8_0, count, kv->kv_dim / QK8_0,
						head_dim, scale, scores);
	else
		kr->scores(qh->f16, kv->k + row, count, kv->kv_dim, head_dim, gemm, scale, scores);
}

/*
 * The probabilities weight F16 values rounded to F16, as llama.cpp's F16
 * product does; q8_0 values, dequantized to F32, take them in F32 (our
 * choice: llama.cpp's CPU flash attention, the path that reads a quantized
 * V cache, dequantizes V to F32 and weights it by F32 probabilities).
 */
static void
block_values(const struct attention_kernels *kr, const struct kv_cache *kv,
			 const float *probs, size_t row, int32_t count, int32_t head_dim,
			 int32_t first, bool gemm, float *acc)
{
	float		p[KV_BLOCK_TOKENS];

	/* a latent cache's values are the leading elements of its key rows */
	if (kv->type == KV_Q8_0)
	{
		kr->values_q8_0(probs, (kv->latent ? kv->k_q8_0 : kv->v_q8_0) + row / QK8_0, count,
						kv->kv_dim / QK8_0, head_dim, first, gemm, acc);
		return;
	}
	memcpy(p, probs, sizeof(float) * count);
	kr->round_f16(p, count);
	kr->values(p, (kv->latent ? kv->k : kv->v) + row, count, kv->kv_dim, head_dim, first, gemm, acc);
}

/*
 * Attention over the blocks given (all of them when blocks is NULL):
 * scores block by block into one row, its softmax, then the values, each
 * position summed into the lane its place in the whole context gives it.
 */
/* Where a head's keys and values are, and how long they are. */
struct head_shape
{
	int32_t		off;			/* first element in a row */
	int32_t		k_dim;
	int32_t		v_dim;
};

static void
attend(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq, int32_t n_ctx,
	   const int32_t *blocks, int32_t n_blocks, struct head_shape hs,
	   const float *q, float scale, bool gemm, float *out, float *scores)
{
	const struct attention_kernels *kr = kernels_for(hs.k_dim, gemm);
	const struct attention_kernels *kr_v = kernels_for(hs.v_dim, gemm);
	union query_head qh;
	float		acc[LANES * MODEL_MAX_HEAD_DIM];
	int32_t		n_lanes = gemm ? 8 : LANES;
	int32_t		n = 0;

	query_prepare(kr, kv, q, hs.k_dim, &qh);
	for (int32_t b = 0; b < n_blocks; b++)
	{
		int32_t		first = (blocks ? blocks[b] : b) * KV_BLOCK_TOKENS;
		int32_t		count = block_count(first, n_ctx);

		block_scores(kr, kv, &qh, kv_row_offset(kv, layer, seq, first) + hs.off,
					 count, hs.k_dim, gemm, scale, scores + n);
		n += count;
	}
	softmax(scores, n);

	memset(acc, 0, sizeof(float) * n_lanes * hs.v_dim);
	n = 0;
	for (int32_t b = 0; b < n_blocks; b++)
	{
		int32_t		first = (blocks ? blocks[b] : b) * KV_BLOCK_TOKENS;
		int32_t		count = block_count(first, n_ctx);

		block_values(kr_v, kv, scores + n, kv_row_offset(kv, layer, seq, first) + hs.off,
					 count, hs.v_dim, first, gemm, acc);
		n += count;
	}
	for (int32_t d = 0; d < hs.v_dim; d++)
	{
		float		l[LANES];

		for (int32_t i = 0; i < n_lanes; i++)
			l[i] = acc[(size_t) i * hs.v_dim + d];
		out[d] = lanes_sum(l, gemm);
	}
}

void
attention_dense(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
				int32_t n_ctx, int32_t kv_head, int32_t head_dim,
				const float *q, float scale, bool gemm, float *out, float *scores)
{
	attend(kv, layer, seq, n_ctx, NULL, (n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS,
		   (struct head_shape) {kv_head * head_dim, head_dim, head_dim}, q, scale, gemm, out, scores);
}

void
attention_latent(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
				 int32_t n_ctx, int32_t v_dim, const float *q, float scale, bool gemm,
				 float *out, float *scores)
{
	attend(kv, layer, seq, n_ctx, NULL, (n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS,
		   (struct head_shape) {0, kv->kv_dim, v_dim}, q, scale, gemm, out, scores);
}

void
attention_sparse(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
				 int32_t n_ctx, const int32_t *blocks, int32_t n_blocks,
				 int32_t kv_head, int32_t head_dim, const float *q, float scale,
				 bool gemm, float *out, float *scores)
{
	attend(kv, layer, seq, n_ctx, blocks, n_blocks,
		   (struct head_shape) {kv_head * head_dim, head_dim, head_dim}, q, scale, gemm, out, scores);
}
