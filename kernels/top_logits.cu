/*
 * top_logits.cu — sampling's candidates on the device (topk_plan.h), so
 * that a decode step copies a few (id, logit) pairs per sequence back
 * instead of the vocabulary's logits: the first one (greedy) by a max
 * reduction over the order's 64-bit keys, the k first (top-k) by radix
 * selection.  Both follow the sampler's order (top_logits.h), so the host
 * sampler chooses from them what it would from the whole row.
 */
#include "cuda_kernels.h"

#include "topk_plan.h"

#define ARGMAX_THREADS 512

/* The candidates row r asks for (no list: every row its first). */
__device__ __forceinline__ int32_t
row_k(const int32_t *k_of_row, int row)
{
	return k_of_row ? k_of_row[row] : 1;
}

__global__ void __launch_bounds__(ARGMAX_THREADS)
argmax_kernel(const float *x, int64_t n, const int32_t *k_of_row, const int32_t *off_of_row,
			  int32_t *ids, float *vals)
{
	__shared__ unsigned long long best_of_warp[ARGMAX_THREADS / WARP];
	const float *row = x + (size_t) blockIdx.x * n;
	unsigned long long best = 0;	/* no key is below it */
	int32_t		off = off_of_row ? off_of_row[blockIdx.x] : blockIdx.x;

	if (row_k(k_of_row, blockIdx.x) != 1)
		return;
	for (int64_t i = threadIdx.x; i < n; i += ARGMAX_THREADS)
	{
		unsigned long long key = (unsigned long long) topk_key(row[i], (int32_t) i);

		best = key > best ? key : best;
	}
#pragma unroll
	for (int o = WARP / 2; o > 0; o /= 2)
	{
		unsigned long long other = __shfl_xor_sync(0xffffffffu, best, o);

		best = other > best ? other : best;
	}
	if (threadIdx.x % WARP == 0)
		best_of_warp[threadIdx.x / WARP] = best;
	__syncthreads();
	if (threadIdx.x == 0)
	{
		int32_t		id;

		for (int w = 1; w < ARGMAX_THREADS / WARP; w++)
			best = best_of_warp[w] > best ? best_of_warp[w] : best;
		id = topk_key_id((uint64_t) best);
		ids[off] = id;
		if (vals)
			vals[off] = row[id];
	}
}

/* The exclusive sum of v over the block's threads in thread order; *total
 * gets the whole sum. */
__device__ int
block_exclusive_sum(int v, int *total)
{
	__shared__ int warp_sums[TOPK_THREADS / WARP];
	int			lane = threadIdx.x % WARP;
	int			w = threadIdx.x / WARP;
	int			incl = v;

#pragma unroll
	for (int o = 1; o < WARP; o *= 2)
	{
		int			up = __shfl_up_sync(0xffffffffu, incl, o);

		incl += lane >= o ? up : 0;
	}
	if (lane == WARP - 1)
		warp_sums[w] = incl;
	__syncthreads();
	if (w == 0)
	{
		int			s = warp_sums[lane];

#pragma unroll
		for (int o = 1; o < WARP; o *= 2)
		{
			int			up = __shfl_up_sync(0xffffffffu, s, o);

			s += lane >= o ? up : 0;
		}
		warp_sums[lane] = s;
	}
	__syncthreads();
	*total = warp_sums[TOPK_THREADS / WARP - 1];
	return incl - v + (w > 0 ? warp_sums[w - 1] : 0);
}

/* Sort the block's TOP_LOGITS_MAX keys, largest first (topk_exchange). */
__device__ void
sort_keys_desc(uint64_t *keys)
{
	for (int size = 2; size <= TOP_LOGITS_MAX; size *= 2)
		for (int stride = size / 2; stride > 0; stride /= 2)
		{
			for (int i = threadIdx.x; i < TOP_LOGITS_MAX; i += TOPK_THREADS)
				topk_exchange(keys, i, size, stride);
			__syncthreads();
		}
}

__global__ void __launch_bounds__(TOPK_THREADS)
topk_kernel(const float *x, int64_t n, const int32_t *k_of_row, const int32_t *off_of_row,
			int32_t *ids, float *vals)
{
	__shared__ uint32_t hist[TOPK_BINS];
	__shared__ uint64_t kept[TOP_LOGITS_MAX];
	__shared__ uint32_t prefix;
	__shared__ int32_t k_rem;
	__shared__ int n_kept;
	const float *row = x + (size_t) blockIdx.x * n;
	int32_t		k = k_of_row[blockIdx.x];
	int32_t		off = off_of_row[blockIdx.x];
	int64_t		begin,
				end;
	uint32_t	thr;
	int32_t		tied_wanted;
	int			n_tied = 0;
	int			all_tied;
	int			at;

	if (k < 2)
		return;
	k = k < n ? k : (int32_t) n;
	if (threadIdx.x == 0)
	{
		prefix = 0;
		k_rem = k;
		n_kept = 0;
	}
	for (int p = 0; p < TOPK_PASSES; p++)
	{
		uint32_t	pre;

		for (int i = threadIdx.x; i < TOPK_BINS; i += TOPK_THREADS)
			hist[i] = 0;
		__syncthreads();
		pre = prefix;
		/* the counts need no order: read coalesced */
		for (int64_t i = threadIdx.x; i < n; i += TOPK_THREADS)
		{
			uint32_t	r = topk_rank(row[i]);

			if (topk_matches(r, pre, p))
				atomicAdd(&hist[topk_digit(r, p)], 1u);
		}
		__syncthreads();
		if (threadIdx.x == 0)
		{
			int32_t		kr = k_rem;

			prefix = pre | topk_pick(hist, &kr) << (24 - 8 * p);
			k_rem = kr;
		}
		__syncthreads();
	}
	thr = prefix;
	tied_wanted = k_rem;

	/* the tokens of rank thr are taken in id order: contiguous chunks */
	topk_chunk(n, threadIdx.x, &begin, &end);
	for (int64_t i = begin; i < end; i++)
		n_tied += topk_rank(row[i]) == thr;
	at = block_exclusive_sum(n_tied, &all_tied);
	for (int64_t i = begin; i < end; i++)
	{
		uint32_t	r = topk_rank(row[i]);

		if (r > thr || (r == thr && topk_take_tied(thr, at++, all_tied, tied_wanted)))
		{
			int			slot = atomicAdd(&n_kept, 1);

			if (slot < TOP_LOGITS_MAX)	/* exactly k by the plan; never past the array */
				kept[slot] = topk_key(row[i], (int32_t) i);
		}
	}
	__syncthreads();
	for (int i = k + threadIdx.x; i < TOP_LOGITS_MAX; i += TOPK_THREADS)
		kept[i] = 0;
	__syncthreads();
	sort_keys_desc(kept);
	for (int j = threadIdx.x; j < k; j += TOPK_THREADS)
	{
		int32_t		id = topk_key_id(kept[j]);

		ids[off + j] = id;
		vals[off + j] = row[id];
	}
}

int
launch_argmax(const float *x, int n_rows, int64_t n, int32_t *out, cudaStream_t st, char *err)
{
	argmax_kernel<<<n_rows, ARGMAX_THREADS, 0, st>>> (x, n, NULL, NULL, out, NULL);
	CUDA_LAUNCHED(err);
	return 0;
}

int
launch_top_logits(const float *x, int n_rows, int64_t n, const int32_t *k_of_row,
				  const int32_t *off_of_row, int32_t *ids, float *vals, cudaStream_t st, char *err)
{
	argmax_kernel<<<n_rows, ARGMAX_THREADS, 0, st>>> (x, n, k_of_row, off_of_row, ids, vals);
	CUDA_LAUNCHED(err);
	topk_kernel<<<n_rows, TOPK_THREADS, 0, st>>> (x, n, k_of_row, off_of_row, ids, vals);
	CUDA_LAUNCHED(err);
	return 0;
}
