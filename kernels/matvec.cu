/*
 * matvec.cu — weight matrix times a few activation rows, reading the GGUF
 * blocks in place: the decode path, where the weights' bytes are the cost.
 *
 * matvec_plan.h says who reads what: split warps per row (split-K for
 * matrices of few rows), each lane a group of 1 or 4 consecutive units at a
 * time (qblock.h; 16-byte loads for Q4_K and Q5_K), the loop unrolled so
 * that several groups' loads are in flight; each unit is dotted with the
 * matching part of every activation row, so the row's bytes are read once
 * for up to QB_MAX_T tokens.  The warps' sums meet in shared memory and are
 * added in split order.  Each token's sum is independent of the others in
 * the call: a row gives the same result alone or batched.
 */
#include "cuda_kernels.h"

#include "matvec_plan.h"

/* Units u..u + mv_group(TYPE) - 1 of a block (qb_group, one type). */
template <int TYPE>
__device__ __forceinline__ void
group(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
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
		qb_group_q4_K(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q5_K)
		qb_group_q5_K(wb, u, ab, astride, T, acc);
	else if constexpr (TYPE == DTYPE_Q6_K)
		qb_unit_q6_K(wb, u, ab, astride, T, acc);
	else
		qb_unit_plain(TYPE, wb, u, ab, astride, T, acc);
}

/* The group at unit u of row wr. */
template <int TYPE>
__device__ __forceinline__ void
group_at(const struct matvec_args &a, const uint8_t *wr, int64_t u, float *acc)
{
	const struct qb_shape s = qb_shape_of(TYPE);
	int64_t		b = u / s.units;

	group<TYPE>(wr + (size_t) b * s.block_bytes, (int) (u % s.units),
				a.act + (size_t) b * s.act_bytes, a.act_row_bytes, a.T, acc);
}

template <int TYPE>
__global__ void __launch_bounds__(WARP * MV_BLOCK_WARPS)
matvec_kernel(const struct matvec_args a)
{
	__shared__ float part[MV_BLOCK_WARPS][QB_MAX_T];
	const struct qb_shape s = qb_shape_of(TYPE);
	const int	g = mv_group(TYPE);
	int			split = a.split;
	int			w = threadIdx.y;
	int64_t		row = (int64_t) blockIdx.x * (MV_BLOCK_WARPS / split) + w / split;
	int			lane = threadIdx.x;
	int64_t		n_units = a.cols / s.block_elems * s.units;
	int64_t		begin,
				end;
	const uint8_t *wr;
	float		acc[QB_MAX_T];

#pragma unroll
	for (int t = 0; t < QB_MAX_T; t++)
		acc[t] = 0.0f;
	mv_split_range(n_units, split, w % split, g, &begin, &end);
	wr = a.w + (row < a.rows ? row : 0) * a.row_bytes;
	/* a 16-byte group is 4 units' loads already; more would spill */
	if constexpr (TYPE == DTYPE_Q4_K || TYPE == DTYPE_Q5_K)
		for (int64_t u = begin + g * lane; row < a.rows && u < end; u += WARP * g)
			group_at<TYPE>(a, wr, u, acc);
	else
	{
#pragma unroll 4
		for (int64_t u = begin + g * lane; row < a.rows && u < end; u += WARP * g)
			group_at<TYPE>(a, wr, u, acc);
	}
#pragma unroll
	for (int t = 0; t < QB_MAX_T; t++)
		if (t < a.T)
		{
			float		v = warp_sum(acc[t]);

			if (lane == 0)
				part[w][t] = v;
		}
	__syncthreads();
	if (row >= a.rows || w % split != 0 || lane >= a.T)
		return;
	{
		int			t = lane;
		float		v = part[w][t];
		float	   *o = a.out + t * a.out_stride + row;

		for (int k = 1; k < split; k++)
			v += part[w + k][t];
		if (a.bias)
			v += a.bias[row];
		*o = a.accumulate ? *o + v : v;
	}
}

int
launch_matvec(const struct matvec_args *a, cudaStream_t st, char *err)
{
	dim3		block(WARP, MV_BLOCK_WARPS);
	unsigned	grid;

	if (a->T < 1 || a->T > QB_MAX_T)
		return err_set(err, "cuda: matvec of %d rows (1..%d)", a->T, QB_MAX_T);
	if (a->split < 1 || a->split > MV_MAX_SPLIT || MV_BLOCK_WARPS % a->split != 0)
		return err_set(err, "cuda: matvec split %d", a->split);
	grid = div_up(a->rows, MV_BLOCK_WARPS / a->split);
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
