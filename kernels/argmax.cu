/*
 * argmax.cu — greedy sampling on the device: the index of the largest
 * logit of each row, the lowest on ties, NaN losing to any number (as
 * sampler.c's argmax), so that greedy decoding copies 4 bytes per sequence
 * back instead of the vocabulary's logits.
 */
#include "cuda_kernels.h"

#define ARGMAX_THREADS 512

/* true when (va, ia) is the better candidate */
__device__ __forceinline__ bool
better(float va, int ia, float vb, int ib)
{
	if (isnan(vb))
		return !isnan(va) || ia < ib;
	if (isnan(va))
		return false;
	return va > vb || (va == vb && ia < ib);
}

__global__ void __launch_bounds__(ARGMAX_THREADS)
argmax_kernel(const float *x, int64_t n, int32_t *out)
{
	__shared__ float vals[ARGMAX_THREADS / WARP];
	__shared__ int idxs[ARGMAX_THREADS / WARP];
	const float *row = x + (size_t) blockIdx.x * n;
	float		bv = NAN;
	int			bi = INT32_MAX;

	for (int64_t i = threadIdx.x; i < n; i += ARGMAX_THREADS)
		if (better(row[i], (int) i, bv, bi))
		{
			bv = row[i];
			bi = (int) i;
		}
#pragma unroll
	for (int off = WARP / 2; off > 0; off /= 2)
	{
		float		ov = __shfl_xor_sync(0xffffffffu, bv, off);
		int			oi = __shfl_xor_sync(0xffffffffu, bi, off);

		if (better(ov, oi, bv, bi))
		{
			bv = ov;
			bi = oi;
		}
	}
	if (threadIdx.x % WARP == 0)
	{
		vals[threadIdx.x / WARP] = bv;
		idxs[threadIdx.x / WARP] = bi;
	}
	__syncthreads();
	if (threadIdx.x == 0)
	{
		for (int w = 1; w < ARGMAX_THREADS / WARP; w++)
			if (better(vals[w], idxs[w], bv, bi))
			{
				bv = vals[w];
				bi = idxs[w];
			}
		out[blockIdx.x] = bi;
	}
}

int
launch_argmax(const float *x, int n_rows, int64_t n, int32_t *out, cudaStream_t st, char *err)
{
	argmax_kernel<<<n_rows, ARGMAX_THREADS, 0, st>>> (x, n, out);
	CUDA_LAUNCHED(err);
	return 0;
}
