/*
 * rmsnorm.cu — y = x / rms(x) * w per row, with ops.c's arithmetic
 * (rmsnorm.h).  The double sum of float squares is exact in all but
 * extreme rows, so the result is the CPU's bit for bit.
 */
#include "cuda_kernels.h"

#include "rmsnorm.h"

#define NORM_THREADS 256

__global__ void __launch_bounds__(NORM_THREADS)
rmsnorm_kernel(const float *x, const float *w, const int32_t *rows, int n, float eps, float *y)
{
	__shared__ double part[NORM_THREADS / WARP];
	int			t = blockIdx.x;
	const float *xr = x + (size_t) (rows ? rows[t] : t) * n;
	float	   *yr = y + (size_t) t * n;
	double		sum = 0.0;
	float		scale;

	for (int i = threadIdx.x; i < n; i += NORM_THREADS)
		sum += rms_square(xr[i]);
#pragma unroll
	for (int off = WARP / 2; off > 0; off /= 2)
		sum += __shfl_xor_sync(0xffffffffu, sum, off);
	if (threadIdx.x % WARP == 0)
		part[threadIdx.x / WARP] = sum;
	__syncthreads();
	sum = 0.0;
	for (int i = 0; i < NORM_THREADS / WARP; i++)
		sum += part[i];
	scale = rms_scale(sum, n, eps);
	for (int i = threadIdx.x; i < n; i += NORM_THREADS)
		yr[i] = rms_elem(xr[i], scale, w[i]);
}

int
launch_rmsnorm(const float *x, const float *w, const int32_t *rows, int T, int n, float eps,
			   float *y, cudaStream_t st, char *err)
{
	rmsnorm_kernel<<<T, NORM_THREADS, 0, st>>> (x, w, rows, n, eps, y);
	CUDA_LAUNCHED(err);
	return 0;
}
