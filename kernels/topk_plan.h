/*
 * topk_plan.h — how the device finds a row's k best logits (sampling's
 * candidates, src/engine/top_logits.h), in plain C shared by the kernel
 * (topk.cu) and the CPU emulation test (test/gpu/test_cuda_emul.c).
 *
 * Each logit gets a 32-bit rank that orders as the sampler does: floats by
 * value (-0 ranked as +0, so they tie), -inf above NaN, NaN at 0.  A
 * thread block (TOPK_THREADS threads, one row) selects by radix: four
 * passes over the row, each a 256-bin histogram of one byte of the rank
 * among the tokens that match the bytes fixed so far, fix the rank `thr`
 * of the k-th best, and how many of the tokens of that rank are wanted
 * (k_rem).  A last pass takes every token ranked above thr, and of those
 * ranked thr the k_rem the order puts first: the lowest ids, or for NaN
 * the highest.  Thread t reads a contiguous chunk of the row, so an
 * exclusive sum of the threads' counts of rank-thr tokens gives each its
 * place in id order.  The k taken (at most TOP_LOGITS_MAX) are sorted by
 * their 64-bit key (rank, then the id's order) in shared memory.
 */
#ifndef DR1_TOPK_PLAN_H
#define DR1_TOPK_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "f16.h"
#include "top_logits.h"

#ifdef __CUDACC__
#define TK_FN static __host__ __device__ __forceinline__
#else
#define TK_FN static inline
#endif

#define TOPK_THREADS 1024
#define TOPK_BINS 256
#define TOPK_PASSES 4

TK_FN uint32_t
topk_rank(float v)
{
	uint32_t	u;

	if (v != v)
		return 0;
	if (v == 0.0f)
		v = 0.0f;				/* -0 ties with +0 */
#ifdef __CUDA_ARCH__
	u = __float_as_uint(v);
#else
	u = f32_to_bits(v);
#endif
	return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

/* Larger keys come first: rank, then the lower id (the higher for NaN). */
TK_FN uint64_t
topk_key(float v, int32_t id)
{
	uint32_t	r = topk_rank(v);

	return ((uint64_t) r << 32) | (r == 0 ? (uint32_t) id : ~(uint32_t) id);
}

TK_FN int32_t
topk_key_id(uint64_t key)
{
	uint32_t	lo = (uint32_t) key;

	return (int32_t) ((key >> 32) == 0 ? lo : ~lo);
}

/* The byte of the rank pass p looks at, most significant first. */
TK_FN uint32_t
topk_digit(uint32_t rank, int p)
{
	return (rank >> (24 - 8 * p)) & 0xffu;
}

/* Whether a rank agrees with the bytes fixed by passes before p. */
TK_FN bool
topk_matches(uint32_t rank, uint32_t prefix, int p)
{
	return p == 0 || (rank >> (32 - 8 * p)) == (prefix >> (32 - 8 * p));
}

/*
 * After pass p's histogram: the byte of the k_rem-th best among the tokens
 * that match, counting from the top bin down; *k_rem becomes its place
 * among the tokens of that byte.  The counts hold at least *k_rem tokens.
 */
TK_FN uint32_t
topk_pick(const uint32_t *hist, int32_t *k_rem)
{
	uint32_t	d = TOPK_BINS - 1;

	while (d > 0 && (int32_t) hist[d] < *k_rem)
		*k_rem -= (int32_t) hist[d--];
	return d;
}

/* Thread t's contiguous part [*begin, *end) of a row of n. */
TK_FN void
topk_chunk(int64_t n, int t, int64_t *begin, int64_t *end)
{
	int64_t		per = (n + TOPK_THREADS - 1) / TOPK_THREADS;

	*begin = t * per < n ? t * per : n;
	*end = *begin + per < n ? *begin + per : n;
}

/* Whether the token of rank thr that is the at-th in id order among the
 * n_eq such tokens is one of the k_rem taken. */
TK_FN bool
topk_take_tied(uint32_t thr, int64_t at, int64_t n_eq, int32_t k_rem)
{
	return thr != 0 ? at < k_rem : at >= n_eq - k_rem;
}

/*
 * One compare-exchange of the bitonic sort of TOP_LOGITS_MAX keys, largest
 * first: for every size 2, 4, .., TOP_LOGITS_MAX and stride size/2 .. 1,
 * each i exchanges with i ^ stride (the larger of the two does the work).
 */
TK_FN void
topk_exchange(uint64_t *keys, int i, int size, int stride)
{
	int			j = i ^ stride;
	bool		desc = (i & size) == 0;

	if (j > i && (desc ? keys[i] < keys[j] : keys[i] > keys[j]))
	{
		uint64_t	t = keys[i];

		keys[i] = keys[j];
		keys[j] = t;
	}
}

#endif
