/*
 * matvec.cu — weight matrix times a few activation rows, reading the GGUF
 * blocks in place: the decode path, where the weights' bytes are the cost.
 *
 * One warp per weight row; lane l takes units l, l + 32, ... of the row
 * (qblock.h) and dots each with the matching part of every activation row,
 * so the row's bytes are read once for up to QB_MAX_T tokens.  Each token's
 * sum is independent of the others in the call: a row gives the same result
 * alone or batched.
 */
#include "cuda_kernels.h"

#define MV_WARPS 4

template <int TYPE>
__device__ __forceinline__ void
unit(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	if constexpr (TYPE == DTYPE_Q4_0)
		qb_unit_q4_0(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q4_1)
		qb_unit_q4_1(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q5_0)
		qb_unit_q5_0(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q5_1)
		qb_unit_q5_1(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q8_0)
		qb_unit_q8_0(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q4_K)
		qb_unit_q4_K(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q5_K)
		qb_unit_q5_K(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q6_K)
		qb_unit_q6_K(wb, u, ab, astride, T, acc);
	else
		qb_unit_plain(TYPE, wb, u, ab, astride, T, acc);
}

template <int TYPE>
__global__ void __launch_bounds__(WARP * MV_WARPS)
matvec_kernel(const struct matvec_args a)
{
	const struct qb_shape s = qb_shape_of(TYPE);
	int64_t		row = (int64_t) blockIdx.x * MV_WARPS + threadIdx.y;
	int			lane = threadIdx.x;
	const uint8_t *wr;
	int			n_units;
	float		acc[QB_MAX_T];

	if (row >= a.rows)
		return;
	wr = a.w + row * a.row_bytes;
	n_units = (int) (a.cols / s.block_elems) * s.units;
#pragma unroll
	for (int t = 0; t < QB_MAX_T; t++)
		acc[t] = 0.0f;
	for (int u = lane; u < n_units; u += WARP)
	{
		int			b = u / s.units;

		unit<TYPE>(wr + (size_t) b * s.block_bytes, u % s.units,
				   a.act + (size_t) b * s.act_bytes, a.act_row_bytes, a.T, acc);
	}
#pragma unroll
	for (int t = 0; t < QB_MAX_T; t++)
	{
		if (t < a.T)
		{
			float		v = warp_sum(acc[t]);

			if (lane == 0)
			{
				float	   *o = a.out + t * a.out_stride + row;

				if (a.bias)
					v += a.bias[row];
				*o = a.accumulate ? *o + v : v;
			}
		}
	}
}

int
launch_matvec(const struct matvec_args *a, cudaStream_t st, char *err)
{
	dim3		block(WARP, MV_WARPS);
	unsigned	grid = div_up(a->rows, MV_WARPS);

	if (a->T < 1 || a->T > QB_MAX_T)
		return err_set(err, "cuda: matvec of %d rows (1..%d)", a->T, QB_MAX_T);
	switch (a->type)
	{
#define MV_CASE(t) case t: matvec_kernel<t> <<<grid, block, 0, st>>> (*a); break
			MV_CASE(DTYPE_F32);
			MV_CASE(DTYPE_F16);
			MV_CASE(DTYPE_BF16);
			MV_CASE(DTYPE_Q4_0);
			MV_CASE(DTYPE_Q4_1);
			MV_CASE(DTYPE_Q5_0);
			MV_CASE(DTYPE_Q5_1);
			MV_CASE(DTYPE_Q8_0);
			MV_CASE(DTYPE_Q4_K);
			MV_CASE(DTYPE_Q5_K);
			MV_CASE(DTYPE_Q6_K);
#undef MV_CASE
		default:
			return err_set(err, "cuda: no mat-vec kernel for %s", dtype_name(a->type));
	}
	CUDA_LAUNCHED(err);
	return 0;
}
