/*
 * dequant.cu — weights to plain numbers: whole matrices to F16 for the
 * cuBLAS path, and embedding rows to F32.  Each element is qb_dequant, the
 * CPU reference's arithmetic, so embedding rows are bit for bit the CPU's.
 */
#include "cuda_kernels.h"

template <int TYPE>
__device__ __forceinline__ float
element(const uint8_t *row, int64_t c)
{
	const struct qb_shape s = qb_shape_of(TYPE);

	return qb_dequant(TYPE, row + (c / s.block_elems) * s.block_bytes, (int) (c % s.block_elems));
}

template <int TYPE>
__global__ void
dequant_f16_kernel(const uint8_t *w, size_t row_bytes, int64_t rows, int64_t cols, __half *out)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i >= rows * cols)
		return;
	out[i] = __float2half_rn(element<TYPE>(w + (i / cols) * row_bytes, i % cols));
}

template <int TYPE>
__global__ void
embed_kernel(const uint8_t *w, size_t row_bytes, int64_t cols, const int32_t *tokens, float *x)
{
	int64_t		c = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
	int			t = blockIdx.y;

	if (c >= cols)
		return;
	x[t * cols + c] = element<TYPE>(w + (size_t) tokens[t] * row_bytes, c);
}

#define DQ_TYPES(X) \
	X(DTYPE_F32) X(DTYPE_F16) X(DTYPE_BF16) X(DTYPE_Q4_0) X(DTYPE_Q4_1) X(DTYPE_Q5_0) \
	X(DTYPE_Q5_1) X(DTYPE_Q8_0) X(DTYPE_Q4_K) X(DTYPE_Q5_K) X(DTYPE_Q6_K)

int
launch_dequant_f16(enum dtype type, const uint8_t *w, size_t row_bytes, int64_t rows,
				   int64_t cols, __half *out, cudaStream_t st, char *err)
{
	unsigned	grid = div_up(rows * cols, 256);

	switch (type)
	{
#define DQ_CASE(t) case t: dequant_f16_kernel<t> <<<grid, 256, 0, st>>> (w, row_bytes, rows, cols, out); break;
			DQ_TYPES(DQ_CASE)
#undef DQ_CASE
		default:
			return err_set(err, "cuda: cannot dequantize %s", dtype_name(type));
	}
	CUDA_LAUNCHED(err);
	return 0;
}

int
launch_embed(enum dtype type, const uint8_t *w, size_t row_bytes, int64_t cols,
			 const int32_t *tokens, int T, float *x, cudaStream_t st, char *err)
{
	dim3		grid(div_up(cols, 256), T);

	switch (type)
	{
#define DQ_CASE(t) case t: embed_kernel<t> <<<grid, 256, 0, st>>> (w, row_bytes, cols, tokens, x); break;
			DQ_TYPES(DQ_CASE)
#undef DQ_CASE
		default:
			return err_set(err, "cuda: cannot dequantize %s", dtype_name(type));
	}
	CUDA_LAUNCHED(err);
	return 0;
}
