/*
 * cuda_common.cuh — what every kernel file shares: the engine's C headers,
 * error checks, warp reductions.
 */
#ifndef DR1_CUDA_COMMON_CUH
#define DR1_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

extern "C"
{
#include "error.h"
#include "dtype.h"
#include "quant.h"
#include "sparse.h"
}

#include "qblock.h"
#include "attn_plan.h"
#include "sparse_plan.h"

/* Record the first failure of a CUDA call in err and make the caller
 * return -1 (every launcher and host step returns 0 or -1). */
#define CUDA_TRY(call, err) \
	do { \
		cudaError_t cuda_try_rc_ = (call); \
		if (cuda_try_rc_ != cudaSuccess) \
			return err_set((err), "cuda: %s: %s (%s:%d)", #call, \
						   cudaGetErrorString(cuda_try_rc_), __FILE__, __LINE__); \
	} while (0)

/* After a launch: a bad configuration shows here, a fault at the next
 * synchronisation. */
#define CUDA_LAUNCHED(err) CUDA_TRY(cudaGetLastError(), err)

#define WARP 32

__device__ __forceinline__ float
warp_sum(float v)
{
#pragma unroll
	for (int off = WARP / 2; off > 0; off /= 2)
		v += __shfl_xor_sync(0xffffffffu, v, off);
	return v;
}

__device__ __forceinline__ int
warp_sum_int(int v)
{
#pragma unroll
	for (int off = WARP / 2; off > 0; off /= 2)
		v += __shfl_xor_sync(0xffffffffu, v, off);
	return v;
}

__device__ __forceinline__ float
warp_max(float v)
{
#pragma unroll
	for (int off = WARP / 2; off > 0; off /= 2)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
	return v;
}

static inline unsigned
div_up(int64_t a, int64_t b)
{
	return (unsigned) ((a + b - 1) / b);
}

#endif
