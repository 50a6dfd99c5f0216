/*
 * cuda_kernels.h — the kernel launchers, one family per .cu file (C++,
 * internal to kernels/).
 *
 * Every launcher queues its work on the given stream and returns 0, or -1
 * with err set when the launch itself fails.  Matrices are row-major; a
 * token's row of activations is contiguous.  Nothing here synchronises, so
 * a sequence of launches can be captured into a CUDA graph.
 */
#ifndef DR1_CUDA_KERNELS_H
#define DR1_CUDA_KERNELS_H

#include <cublas_v2.h>

#include "cuda_common.cuh"
#include "matvec_plan.h"

/* act_quant.cu: x [T][n] -> the activation rows a weight of type w is dotted
 * with (quant_act_type(w): Q8_0, Q8_1, Q8_K, F16, BF16 or F32), byte for
 * byte what quantize_row_act_ref writes, row_bytes apart. */
int			launch_quantize_act(enum dtype act, const float *x, int T, int64_t n,
								uint8_t *out, size_t row_bytes, cudaStream_t st, char *err);

/* act_quant.cu: x [T][n] -> the values those activation rows stand for, as
 * a dense [T][n] matrix for cuBLAS: F16 for the quantized and F16 weights,
 * BF16 for BF16, F32 for F32 (gemm_type). */
int			launch_act_dense(enum dtype act, const float *x, int T, int64_t n, void *out,
							 cudaStream_t st, char *err);

/* act_quant.cu: either of the two above (dense or not) for the values
 * swiglu(gate, up) [T][n] (swiglu.h), never written out: down's input. */
int			launch_act_swiglu(enum dtype act, bool dense, const float *gate, const float *up, int T,
							  int64_t n, void *out, size_t row_bytes, cudaStream_t st, char *err);

/* act_quant.cu: launch_quantize_act's bytes for rmsnorm(x) * w (rmsnorm.h),
 * the norm fused: each quantizing warp computes its row's scale.  Only
 * for the block formats (act_norm_fuses: Q8_0, Q8_1, Q8_K). */
bool		act_norm_fuses(enum dtype act);
int			launch_quantize_act_norm(enum dtype act, const float *x, const float *w, float eps,
									 int T, int64_t n, uint8_t *out, size_t row_bytes,
									 cudaStream_t st, char *err);

/* matvec.cu: out[t][r] (out_stride apart) = row r of w . activation row t
 * (+ bias[r]), or += that when accumulate; T <= QB_MAX_T; split warps per
 * row (matvec_plan.h: mv_choose_split of the shape and the GPU). */
struct matvec_args
{
	enum dtype	type;
	const uint8_t *w;
	size_t		row_bytes;
	int64_t		rows;
	int64_t		cols;
	const uint8_t *act;
	size_t		act_row_bytes;
	int			T;
	float	   *out;
	int64_t		out_stride;
	const float *bias;
	bool		accumulate;
	int			split;
};

int			launch_matvec(const struct matvec_args *a, cudaStream_t st, char *err);

/* dequant.cu: a whole weight to F16 (the GEMM path), and the embedding rows
 * of tokens[T] to F32 (bit for bit dequantize_row_ref). */
int			launch_dequant_f16(enum dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
							   int64_t cols, __half *out, cudaStream_t st, char *err);
int			launch_embed(enum dtype type, const uint8_t *w, size_t row_bytes, int64_t cols,
						 const int32_t *tokens, int T, float *x, cudaStream_t st, char *err);

/* gemm.cu: out[T][rows] = X[T][cols] . W[rows][cols]^T (+= when
 * accumulate), W and X dense of one type (F16, BF16 or F32), FP32 sums. */
int			gemm_rows(cublasHandle_t h, enum dtype dense_type, const void *w, int64_t rows,
					  int64_t cols, const void *x, int T, float *out, bool accumulate, char *err);

/* rmsnorm.cu: y[t] = x[row] / rms(x[row]) * w, row = rows ? rows[t] : t. */
int			launch_rmsnorm(const float *x, const float *w, const int32_t *rows, int T, int n,
						   float eps, float *y, cudaStream_t st, char *err);

/* rope_kv.cu: rotate the first rope_dim dims of each head of the queries
 * q [T][n_q * head_dim] and keys k [T][n_k * head_dim] (k may be NULL with
 * n_k 0) at position pos[t]; table [n_ctx][rope_dim/2] holds (cos, sin) as
 * ops.c computes them. */
int			launch_rope(float *q, int n_q, float *k, int n_k, int T, int head_dim, int rope_dim,
						const float2 *table, const int32_t *pos, bool neox,
						cudaStream_t st, char *err);

/* rope_kv.cu: store the keys and values of T tokens (kv_dim floats each)
 * into one layer of the paged cache, rounding to F16, and widen the blocks'
 * key summaries over the keys as stored (sparse_plan.h); token t's
 * sequence's block table starts at table[table_off[t]]. */
struct kv_store_args
{
	const float *k;
	const float *v;
	int			T;
	int			kv_dim;
	const int32_t *pos;
	const int32_t *table_off;
	const int32_t *table;
	__half	   *k_cache;		/* this layer: [n_blocks][KV_BLOCK_TOKENS][kv_dim] */
	__half	   *v_cache;
	float	   *kmin;			/* this layer: [n_blocks][kv_dim] */
	float	   *kmax;
};

int			launch_kv_store(const struct kv_store_args *a, cudaStream_t st, char *err);

/* sparse_select.cu: the blocks each sparse token reads, per KV head
 * (sparse_plan.h): token t with budget[t] > 0 gets sparse_list_len blocks,
 * ascending indices into its table, at lists[list_off[t] + kv_head * len].
 * One thread block per (token, KV head); a dense token's return at once. */
struct sparse_select_args
{
	struct attn_shape shape;
	const float *q;				/* [T][n_head * head_dim], after RoPE */
	const float *kmin;			/* this layer: [n_blocks][kv_dim] */
	const float *kmax;
	int			kv_dim;
	int			T;
	int			max_blocks;		/* blocks of the longest context */
	const int32_t *pos;			/* [T] */
	const int32_t *table_off;	/* [T] */
	const int32_t *table;
	const int32_t *budget;		/* [T] 0: dense */
	const int32_t *list_off;	/* [T] */
	int32_t    *lists;
};

/* Before the first launch on a device: lets the kernel take the shared
 * memory contexts of max_blocks need (-1 with err set if the device has
 * too little). */
int			sparse_select_setup(int max_blocks, int head_dim, char *err);
int			launch_sparse_select(const struct sparse_select_args *a, cudaStream_t st, char *err);

/* attention.cu: out [T][n_head * head_dim] = softmax(q.K * scale) V over
 * each token's positions 0..pos[t], or over the blocks chosen for it
 * (attn_plan.h says how). */
struct attention_args
{
	struct attn_shape shape;
	const float *q;				/* [T][n_head * head_dim] */
	const __half *k_cache;		/* this layer */
	const __half *v_cache;
	int			kv_dim;
	const int32_t *pos;			/* [T] */
	const int32_t *table;
	const struct attn_tile *tiles;
	const int32_t *lists;		/* sparse tiles' blocks (sparse_select) */
	int			n_tiles;
	int			T;
	int			n_splits;
	float		scale;
	float2	   *stats;			/* [T * n_head][n_splits] (m, l) */
	float	   *partial;		/* [T * n_head][n_splits][head_dim] */
	float	   *out;
};

int			launch_attention(const struct attention_args *a, cudaStream_t st, char *err);

/* elementwise.cu */
int			launch_swiglu(float *h, const float *gate, const float *up, int64_t n,
						  cudaStream_t st, char *err);
int			launch_add_bias(float *y, const float *bias, int T, int64_t n,
							cudaStream_t st, char *err);
int			launch_gather_rows(float *dst, const float *src, const int32_t *rows, int n_rows,
							   int64_t n, cudaStream_t st, char *err);

/* top_logits.cu: out[r] = the index of the largest of x[r][0..n), the
 * lowest on ties, NaN losing to anything (sampler.c's logits_argmax). */
int			launch_argmax(const float *x, int n_rows, int64_t n, int32_t *out,
						  cudaStream_t st, char *err);

/* top_logits.cu: the k_of_row[r] first candidates of row r (top_logits.h's
 * order; k 0: none) at ids + off_of_row[r] and vals + off_of_row[r];
 * k <= TOP_LOGITS_MAX, min(k, n) written. */
int			launch_top_logits(const float *x, int n_rows, int64_t n, const int32_t *k_of_row,
							  const int32_t *off_of_row, int32_t *ids, float *vals,
							  cudaStream_t st, char *err);

/* The dense type cuBLAS multiplies for a weight type (dequantized weights
 * are F16). */
static inline enum dtype
gemm_type(enum dtype w)
{
	return w == DTYPE_F32 || w == DTYPE_BF16 ? w : DTYPE_F16;
}

#endif
