/*
 * matvec_plan.h — how the decode mat-vec (matvec.cu) divides the work, in
 * plain C shared by the kernel and the CPU emulation test
 * (test/gpu/test_cuda_emul.c).
 *
 * A weight row is a list of units (qblock.h).  A thread block of
 * MV_BLOCK_WARPS warps serves MV_BLOCK_WARPS / split rows; the split warps
 * of a row each take one contiguous slice of its units (split-K), so that a
 * matrix of few rows (wk, wv: 256 of them in the 1.5B shape) still gives
 * every SM several warps.  Within a slice lane l takes groups of
 * mv_group(type) consecutive units: groups l, l + 32, ... — one unit each
 * (a warp reads 128 contiguous bytes of quants per step), or for Q4_K and
 * Q5_K four units, whose 16 bytes of quants one 16-byte load brings
 * (qb_group_q4_K).  The kernel's loop is unrolled 4 times, so that as many
 * groups' loads per lane are in flight.
 *
 * Sums: each lane adds its units' terms in order; the warp sums its lanes
 * (the xor butterfly of warp_sum); the row's result is split 0's sum plus
 * split 1's, ... in split order.  The split depends on the matrix shape and
 * the GPU only, never on the tokens, so a row gives the same bits alone or
 * batched; the integer sum inside each unit is quant_ref.c's, the float
 * order across units differs from the CPU's (docs/cuda.md).
 */
#ifndef DR1_MATVEC_PLAN_H
#define DR1_MATVEC_PLAN_H

#include <stdint.h>

#include "dtype.h"

#ifdef __CUDACC__
#define MV_FN static __host__ __device__ __forceinline__
#else
#define MV_FN static inline
#endif

#define MV_BLOCK_WARPS 4		/* warps of a thread block */
#define MV_MAX_SPLIT 4			/* warps a row may be split over: one block */
#define MV_WARPS_PER_SM 16		/* splitting stops once the matrix gives this many */
#define MV_MIN_SPLIT_UNITS 128	/* a split keeps at least 4 units per lane */

/* Units a lane takes at once: 4 where they are 16 aligned bytes of quants. */
MV_FN int
mv_group(int type)
{
	return type == DTYPE_Q4_K || type == DTYPE_Q5_K ? 4 : 1;
}

/* Warps per row for a matrix of rows x n_units on n_sm SMs: doubled while
 * the matrix gives too few warps and each split keeps enough units. */
MV_FN int
mv_choose_split(int64_t rows, int64_t n_units, int n_sm)
{
	int			split = 1;

	while (split < MV_MAX_SPLIT && rows * split < (int64_t) n_sm * MV_WARPS_PER_SM &&
		   n_units / (2 * split) >= MV_MIN_SPLIT_UNITS)
		split *= 2;
	return split;
}

/*
 * Split s's units [*begin, *end): equal slices, whole groups (n_units is a
 * multiple of the units of a block, which group divides).
 */
MV_FN void
mv_split_range(int64_t n_units, int split, int s, int group, int64_t *begin, int64_t *end)
{
	int64_t		per = (n_units + split - 1) / split;

	per = (per + group - 1) / group * group;
	*begin = s * per < n_units ? s * per : n_units;
	*end = *begin + per < n_units ? *begin + per : n_units;
}

#endif
