/*
 * cuda_testing.h — single kernels run on host data, for test/gpu/test_cuda.c
 * (plain C; linked into the tests only, not into the program).
 *
 * Each function copies its inputs to the device, runs one kernel family
 * with the launcher the backend uses, copies the result back and
 * synchronises; 0, or -1 with err set.
 */
#ifndef DR1_CUDA_TESTING_H
#define DR1_CUDA_TESTING_H

#include <stdbool.h>
#include <stdint.h>

#include "dtype.h"
#include "kv_cache.h"

#ifdef __cplusplus
extern "C"
{
#endif

/* x [T][n] -> T rows of dtype_row_bytes(act, n) bytes */
int			cuda_test_quantize_act(enum dtype act, const float *x, int T, int64_t n, void *out,
								   char *err);

/* x [T][n] -> the dense cuBLAS operand, widened back to float */
int			cuda_test_act_dense(enum dtype act, const float *x, int T, int64_t n, float *out,
								char *err);

/* out [T][rows] = x [T][cols] . w^T + bias, through the mat-vec kernels
 * (gemm false) or cuBLAS (gemm true), activations quantized on the device */
int			cuda_test_linear(enum dtype type, const void *w, int64_t rows, int64_t cols,
							 const float *x, int T, const float *bias, bool gemm, float *out,
							 char *err);

/* every row of w to F32 (the embedding kernel) and to F16 (the cuBLAS copy) */
int			cuda_test_dequant(enum dtype type, const void *w, int64_t rows, int64_t cols,
							  float *f32, uint16_t *f16, char *err);

int			cuda_test_rmsnorm(const float *x, const float *w, int T, int n, float eps, float *y,
							  char *err);

/* q [T][n_q * head_dim] and k [T][n_k * head_dim] rotated in place;
 * table: [n_ctx][rope_dim / 2] (cos, sin) pairs */
int			cuda_test_rope(float *q, int n_q, float *k, int n_k, int T, int head_dim,
						   int rope_dim, const float *table, int n_ctx, const int32_t *pos,
						   bool neox, char *err);

int			cuda_test_swiglu(const float *gate, const float *up, int64_t n, float *h, char *err);

/* The activation rows as a fused conversion writes them (quantized
 * bytes): of swiglu(x, aux) (aux [T][n], down's input), or with norm of
 * rmsnorm(x) * aux (aux [n]; a Q8 format). */
int			cuda_test_quantize_fused(enum dtype act, const float *x, const float *aux, bool norm,
									 float eps, int T, int64_t n, void *out, char *err);

int			cuda_test_argmax(const float *x, int n_rows, int64_t n, int32_t *out, char *err);

/* What cuda_test_attention copies back from the device besides its output
 * (each NULL when not wanted): the layer's cache, [n_blocks][32][kv_dim]
 * halves, and its key summaries, [n_blocks][kv_dim] floats. */
struct cuda_test_cache
{
	uint16_t   *k;
	uint16_t   *v;
	float	   *kmin;
	float	   *kmax;
};

/*
 * One layer of attention for a batch: sequence i brings n_new[i] tokens
 * whose keys and values (k, v: [T][kv_dim]) the KV store kernel writes into
 * a device copy of layer `layer` of kv, widening a copy of its key
 * summaries (the other positions come from kv's host arrays); then the
 * blocks of the tokens with a budget (budgets [T] as sparse_token_budget
 * gives them; NULL: every token dense) are chosen, and out [T][n_head *
 * head_dim] = attention of q [T][...].  n_splits 0: as the backend chooses.
 */
int			cuda_test_attention(const struct kv_cache *kv, int32_t layer, int32_t n_head,
								int32_t n_kv_head, int32_t head_dim,
								struct kv_seq *const *seqs, const int32_t *n_new, int n_seqs,
								const float *k, const float *v, const float *q,
								const int32_t *budgets, int n_splits, float *out,
								const struct cuda_test_cache *back, char *err);

#ifdef __cplusplus
}
#endif

#endif
