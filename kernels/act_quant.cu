/*
 * act_quant.cu — activations quantized as the CPU quantizes them before a
 * matrix product (quant_ref.c): Q8_0 and Q8_1 per 32 elements, Q8_K per
 * 256, F16 and BF16 by rounding.  The same float operations in the same
 * order, so the bytes are the CPU's and the integer dot products that follow
 * give the CPU's sums.
 *
 * One warp per block of 32 (Q8_0, Q8_1) or 256 (Q8_K) elements.  In dense
 * mode the kernels write, instead of the bytes, the values the bytes stand
 * for, in F16, for the cuBLAS path.  Each kernel reads its input through
 * source(): the activations, or SwiGLU of gate and up computed on the fly.
 */
#include <type_traits>

#include "cuda_kernels.h"

#include "rmsnorm.h"
#include "swiglu.h"

#define AQ_WARPS 4

/* What is converted: the activations x, swiglu(x, aux) (down's input), or
 * rmsnorm(x) * aux (a layer's normed input): fused, so neither is written
 * out first, with the element-wise kernels' own arithmetic. */
enum act_source
{
	SRC_X,
	SRC_SWIGLU,
	SRC_NORM
};

struct act_in
{
	const float *x;				/* [T][n] */
	const float *aux;			/* SWIGLU: up [T][n]; NORM: the norm's weight [n] */
	float		eps;
};

/* NORM: the scale of row t, computed by the calling warp (each lane a
 * strided part of the squares, then the butterfly); else 1. */
template <int SRC>
__device__ __forceinline__ float
row_scale(const struct act_in &in, int64_t t, int64_t n)
{
	if constexpr (SRC == SRC_NORM)
	{
		double		sum = 0.0;

		for (int64_t j = threadIdx.x; j < n; j += WARP)
			sum += rms_square(in.x[t * n + j]);
#pragma unroll
		for (int off = WARP / 2; off > 0; off /= 2)
			sum += __shfl_xor_sync(0xffffffffu, sum, off);
		return rms_scale(sum, (int) n, in.eps);
	}
	else
		return 1.0f;
}

/* Element k of row t. */
template <int SRC>
__device__ __forceinline__ float
source(const struct act_in &in, int64_t t, int64_t n, int64_t k, float scale)
{
	if constexpr (SRC == SRC_SWIGLU)
		return swiglu_elem(in.x[t * n + k], in.aux[t * n + k]);
	else if constexpr (SRC == SRC_NORM)
		return rms_elem(in.x[t * n + k], scale, in.aux[k]);
	else
		return in.x[t * n + k];
}

/* Q8_0 (with_sum false) or Q8_1: lane i quantizes element i of its block. */
template <bool WITH_SUM, bool DENSE, int SRC>
__global__ void
quantize_q8_32(const struct act_in in, int64_t n, int64_t n_blocks, uint8_t *out, size_t row_bytes)
{
	int64_t		blk = (int64_t) blockIdx.x * AQ_WARPS + threadIdx.y;
	int			lane = threadIdx.x;
	int64_t		t = blk / (n / 32);
	int64_t		b = blk % (n / 32);
	float		v,
				amax,
				id,
				d;
	int			q;

	if (blk >= n_blocks)
		return;
	v = source<SRC>(in, t, n, b * 32 + lane, row_scale<SRC>(in, t, n));
	amax = warp_max(fabsf(v));
	id = amax != 0.0f ? 127.0f / amax : 0.0f;
	if (isinf(id))
		id = 0.0f;
	q = (int) rintf(__fmul_rn(v, id));
	d = amax / 127.0f;
	if (DENSE)
	{
		__half	   *o = (__half *) out + t * n + b * 32;

		o[lane] = __float2half_rn(__fmul_rn((float) q, __half2float(__float2half_rn(d))));
		return;
	}
	{
		uint8_t    *o = out + t * row_bytes + b * (WITH_SUM ? 36 : 34);
		int			sum = WITH_SUM ? warp_sum_int(q) : 0;

		o[(WITH_SUM ? QB_Q8_1_QS : QB_Q8_0_QS) + lane] = (uint8_t) (int8_t) q;
		if (lane == 0)
		{
			*(__half *) o = __float2half_rn(d);
			if (WITH_SUM)
				*(__half *) (o + 2) = __float2half_rn(__fmul_rn(d, (float) sum));
		}
	}
}

/*
 * Q8_K: the scale comes from the signed value of largest magnitude, the
 * first one on ties (the CPU scans in order).  Lane l holds elements
 * 32j + l, j = 0..7; the 16 bsums are half-warp sums.
 */
template <bool DENSE, int SRC>
__global__ void
quantize_q8_K(const struct act_in in, int64_t n, int64_t n_blocks, uint8_t *out, size_t row_bytes)
{
	int64_t		blk = (int64_t) blockIdx.x * AQ_WARPS + threadIdx.y;
	int			lane = threadIdx.x;
	int64_t		t = blk / (n / QK_K);
	int64_t		b = blk % (n / QK_K);
	float		scale;
	float		v[8];
	float		best_abs = 0.0f;
	float		best = 0.0f;
	int			best_i = QK_K;
	float		iscale;

	if (blk >= n_blocks)
		return;
	scale = row_scale<SRC>(in, t, n);
#pragma unroll
	for (int j = 0; j < 8; j++)
	{
		v[j] = source<SRC>(in, t, n, b * QK_K + 32 * j + lane, scale);
		if (fabsf(v[j]) > best_abs)
		{
			best_abs = fabsf(v[j]);
			best = v[j];
			best_i = 32 * j + lane;
		}
	}
#pragma unroll
	for (int off = WARP / 2; off > 0; off /= 2)
	{
		float		o_abs = __shfl_xor_sync(0xffffffffu, best_abs, off);
		float		o_val = __shfl_xor_sync(0xffffffffu, best, off);
		int			o_i = __shfl_xor_sync(0xffffffffu, best_i, off);

		if (o_abs > best_abs || (o_abs == best_abs && o_i < best_i))
		{
			best_abs = o_abs;
			best = o_val;
			best_i = o_i;
		}
	}
	iscale = best != 0.0f ? -127.0f / best : 0.0f;
	if (isinf(iscale))
		iscale = 0.0f;

	if (DENSE)
	{
		__half	   *o = (__half *) out + t * n + b * QK_K;
		float		d = iscale != 0.0f ? 1.0f / iscale : 0.0f;

#pragma unroll
		for (int j = 0; j < 8; j++)
		{
			float		q = iscale != 0.0f ? fminf(rintf(__fmul_rn(iscale, v[j])), 127.0f) : 0.0f;

			o[32 * j + lane] = __float2half_rn(__fmul_rn(q, d));
		}
		return;
	}
	{
		uint8_t    *o = out + t * row_bytes + b * sizeof(struct block_q8_K);
		int16_t    *bsums = (int16_t *) (o + QB_Q8_K_QS + QK_K);

#pragma unroll
		for (int j = 0; j < 8; j++)
		{
			int			q = iscale != 0.0f ? (int) fminf(rintf(__fmul_rn(iscale, v[j])), 127.0f) : 0;
			int			s = q;

			o[QB_Q8_K_QS + 32 * j + lane] = (uint8_t) (int8_t) q;
#pragma unroll
			for (int off = 8; off > 0; off /= 2)
				s += __shfl_xor_sync(0xffffffffu, s, off);
			if (lane % 16 == 0)
				bsums[2 * j + lane / 16] = (int16_t) s;
		}
		if (lane == 0)
			*(float *) o = iscale != 0.0f ? 1.0f / iscale : 0.0f;
	}
}

/* F16, BF16 or F32 activations: rounded (or copied) element by element. */
template <typename OUT, int SRC>
__global__ void
convert_plain(const struct act_in in, int64_t count, OUT *out)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
	float		v;

	if (i >= count)
		return;
	v = source<SRC>(in, 0, 0, i, 1.0f);
	if constexpr (sizeof(OUT) == 4)
		out[i] = v;
	else if constexpr (std::is_same<OUT, __half>::value)
		out[i] = __float2half_rn(v);
	else
		out[i] = __float2bfloat16_rn(v);
}

/* x or SwiGLU element by element (a row's norm needs the row: not here) */
template <int SRC>
static int
launch_plain(enum dtype act, const struct act_in &in, int64_t count, void *out,
			 cudaStream_t st, char *err)
{
	unsigned	grid = div_up(count, 256);

	static_assert(SRC != SRC_NORM, "plain conversions do not fuse RMSNorm");
	if (act == DTYPE_F32)
		convert_plain<float, SRC> <<<grid, 256, 0, st>>> (in, count, (float *) out);
	else if (act == DTYPE_F16)
		convert_plain<__half, SRC> <<<grid, 256, 0, st>>> (in, count, (__half *) out);
	else if (act == DTYPE_BF16)
		convert_plain<__nv_bfloat16, SRC> <<<grid, 256, 0, st>>> (in, count, (__nv_bfloat16 *) out);
	else
		return err_set(err, "cuda: no activation format %s", dtype_name(act));
	CUDA_LAUNCHED(err);
	return 0;
}

template <bool DENSE, int SRC>
static int
launch_q8(enum dtype act, const struct act_in &in, int T, int64_t n, uint8_t *out,
		  size_t row_bytes, cudaStream_t st, char *err)
{
	dim3		block(WARP, AQ_WARPS);
	int64_t		n_blocks = (int64_t) T * (n / (act == DTYPE_Q8_K ? QK_K : 32));
	unsigned	grid = div_up(n_blocks, AQ_WARPS);

	if (act == DTYPE_Q8_0)
		quantize_q8_32<false, DENSE, SRC> <<<grid, block, 0, st>>> (in, n, n_blocks, out, row_bytes);
	else if (act == DTYPE_Q8_1)
		quantize_q8_32<true, DENSE, SRC> <<<grid, block, 0, st>>> (in, n, n_blocks, out, row_bytes);
	else
		quantize_q8_K<DENSE, SRC> <<<grid, block, 0, st>>> (in, n, n_blocks, out, row_bytes);
	CUDA_LAUNCHED(err);
	return 0;
}

/* Every form of the conversion: quantized bytes or dense values, of x or
 * of SwiGLU(x, up). */
template <int SRC>
static int
convert(enum dtype act, bool dense, const struct act_in &in, int T, int64_t n, void *out,
		size_t row_bytes, cudaStream_t st, char *err)
{
	if (act == DTYPE_Q8_0 || act == DTYPE_Q8_1 || act == DTYPE_Q8_K)
		return dense ? launch_q8<true, SRC>(act, in, T, n, (uint8_t *) out, 0, st, err)
			: launch_q8<false, SRC>(act, in, T, n, (uint8_t *) out, row_bytes, st, err);
	/* plain formats: rows are contiguous, row_bytes is n elements */
	return launch_plain<SRC>(act, in, (int64_t) T * n, out, st, err);
}

int
launch_quantize_act(enum dtype act, const float *x, int T, int64_t n, uint8_t *out,
					size_t row_bytes, cudaStream_t st, char *err)
{
	return convert<SRC_X>(act, false, {x, NULL, 0.0f}, T, n, out, row_bytes, st, err);
}

int
launch_act_dense(enum dtype act, const float *x, int T, int64_t n, void *out,
				 cudaStream_t st, char *err)
{
	return convert<SRC_X>(act, true, {x, NULL, 0.0f}, T, n, out, 0, st, err);
}

int
launch_act_swiglu(enum dtype act, bool dense, const float *gate, const float *up, int T,
				  int64_t n, void *out, size_t row_bytes, cudaStream_t st, char *err)
{
	return convert<SRC_SWIGLU>(act, dense, {gate, up, 0.0f}, T, n, out, row_bytes, st, err);
}

bool
act_norm_fuses(enum dtype act)
{
	return act == DTYPE_Q8_0 || act == DTYPE_Q8_1 || act == DTYPE_Q8_K;
}

int
launch_quantize_act_norm(enum dtype act, const float *x, const float *w, float eps, int T,
						 int64_t n, uint8_t *out, size_t row_bytes, cudaStream_t st, char *err)
{
	if (!act_norm_fuses(act))
		return err_set(err, "cuda: RMSNorm is not fused into %s activations", dtype_name(act));
	return launch_q8<false, SRC_NORM>(act, {x, w, eps}, T, n, out, row_bytes, st, err);
}
