/*
 * rope_kv.cu — rotary position embedding, and the store of keys and values
 * into the paged cache.
 *
 * RoPE reads (cos, sin) per position and frequency from a table the host
 * built with ops.c's rope() itself (cuda_backend.cu), then rotates with the
 * CPU's fused multiply-adds: the result is the CPU's bit for bit.
 */
#include "cuda_kernels.h"

/* Heads 0..n_q-1 are the queries' (q), the next n_k the keys' (k). */
__global__ void
rope_kernel(float *q, int n_q, float *k, int n_k, int head_dim, int rope_dim,
			const float2 *table, const int32_t *pos, bool neox)
{
	int			half = rope_dim / 2;
	int			i = blockIdx.x * blockDim.x + threadIdx.x;
	int			t = blockIdx.y;
	int			h = i / half;
	int			f = i % half;
	float	   *xh;
	float2		cs;
	float		x0,
				x1;
	int			a,
				b;

	if (h >= n_q + n_k)
		return;
	xh = h < n_q ? q + ((size_t) t * n_q + h) * head_dim
		: k + ((size_t) t * n_k + h - n_q) * head_dim;
	cs = table[(size_t) pos[t] * half + f];
	a = neox ? f : 2 * f;
	b = neox ? f + half : 2 * f + 1;
	x0 = xh[a];
	x1 = xh[b];
	xh[a] = __fmaf_rn(x0, cs.x, -__fmul_rn(x1, cs.y));
	xh[b] = __fmaf_rn(x0, cs.y, __fmul_rn(x1, cs.x));
}

int
launch_rope(float *q, int n_q, float *k, int n_k, int T, int head_dim, int rope_dim,
			const float2 *table, const int32_t *pos, bool neox, cudaStream_t st, char *err)
{
	dim3		grid(div_up((int64_t) (n_q + n_k) * (rope_dim / 2), 128), T);

	rope_kernel<<<grid, 128, 0, st>>> (q, n_q, k, n_k, head_dim, rope_dim, table, pos, neox);
	CUDA_LAUNCHED(err);
	return 0;
}

/* Token t's key and value go to slot pos % 32 of block pos / 32 of its
 * sequence: kv_row_offset's layout, one layer at a time.  The thread of the
 * batch's first token in a block also folds its run of keys into the
 * block's summary (sparse_plan.h), so no two threads write one summary. */
__global__ void
kv_store_kernel(const struct kv_store_args a)
{
	int			i = blockIdx.x * blockDim.x + threadIdx.x;
	int			t = blockIdx.y;
	int32_t		p;
	size_t		block;
	size_t		row;

	if (i >= a.kv_dim)
		return;
	p = a.pos[t];
	block = (size_t) a.table[a.table_off[t] + p / KV_BLOCK_TOKENS];
	row = (block * KV_BLOCK_TOKENS + p % KV_BLOCK_TOKENS) * a.kv_dim;
	a.k_cache[row + i] = __float2half_rn(a.k[(size_t) t * a.kv_dim + i]);
	a.v_cache[row + i] = __float2half_rn(a.v[(size_t) t * a.kv_dim + i]);
	if (kv_run_starts(a.pos, a.table_off, t))
		kv_summary_run(a.k, a.kv_dim, a.pos, a.table_off, a.T, t, i,
					   a.kmin + block * a.kv_dim + i, a.kmax + block * a.kv_dim + i);
}

int
launch_kv_store(const struct kv_store_args *a, cudaStream_t st, char *err)
{
	dim3		grid(div_up(a->kv_dim, 128), a->T);

	kv_store_kernel<<<grid, 128, 0, st>>> (*a);
	CUDA_LAUNCHED(err);
	return 0;
}
