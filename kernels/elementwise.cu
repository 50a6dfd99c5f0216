/*
 * elementwise.cu — SwiGLU, bias, and the gather of rows, with the CPU's
 * arithmetic (ops.c): silu(g) * u = g / (1 + exp(-g)) * u with ggml's exp.
 */
#include "cuda_kernels.h"

#include "swiglu.h"

__global__ void
swiglu_kernel(float *h, const float *gate, const float *up, int64_t n)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		h[i] = swiglu_elem(gate[i], up[i]);
}

int
launch_swiglu(float *h, const float *gate, const float *up, int64_t n, cudaStream_t st, char *err)
{
	swiglu_kernel<<<div_up(n, 256), 256, 0, st>>> (h, gate, up, n);
	CUDA_LAUNCHED(err);
	return 0;
}

__global__ void
add_bias_kernel(float *y, const float *bias, int64_t n, int64_t total)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i < total)
		y[i] += bias[i % n];
}

int
launch_add_bias(float *y, const float *bias, int T, int64_t n, cudaStream_t st, char *err)
{
	add_bias_kernel<<<div_up(T * n, 256), 256, 0, st>>> (y, bias, n, T * n);
	CUDA_LAUNCHED(err);
	return 0;
}

__global__ void
gather_rows_kernel(float *dst, const float *src, const int32_t *rows, int64_t n)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
	int			r = blockIdx.y;

	if (i < n)
		dst[r * n + i] = src[(int64_t) rows[r] * n + i];
}

int
launch_gather_rows(float *dst, const float *src, const int32_t *rows, int n_rows, int64_t n,
				   cudaStream_t st, char *err)
{
	dim3		grid(div_up(n, 256), n_rows);

	gather_rows_kernel<<<grid, 256, 0, st>>> (dst, src, rows, n);
	CUDA_LAUNCHED(err);
	return 0;
}
