/*
 * exp_poly.h — exp(x) as ggml's SIMD kernels compute it, in one definition
 * that the CPU (ops.c) and the CUDA kernels (kernels/attn_plan.h) both
 * include, so that the GPU's softmax and SiLU give the CPU's values bit for
 * bit.
 *
 * Range reduction to x = n ln2 + b and a degree-5 polynomial in b (the
 * coefficients of ARM's optimized-routines expf).  ggml's SIMD softmax and
 * SiLU use this approximation, not libm's expf; it differs from it in the
 * last bit for some inputs, and models with massive activations turn such
 * bits into visible logit differences, so we evaluate the same steps, with
 * the same fused multiply-adds.  ops.c's 8-lane AVX2 version repeats these
 * operations lane by lane (test_ops compares them).
 *
 * Plain C and CUDA: under nvcc the functions are __host__ __device__.
 */
#ifndef DR1_EXP_POLY_H
#define DR1_EXP_POLY_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define EXP_POLY_FN static __host__ __device__ __forceinline__
#else
#define EXP_POLY_FN static inline
#endif

EXP_POLY_FN uint32_t
exp_poly_bits(float f)
{
#ifdef __CUDA_ARCH__
	return __float_as_uint(f);
#else
	uint32_t	u;

	memcpy(&u, &f, sizeof u);
	return u;
#endif
}

EXP_POLY_FN float
exp_poly_from_bits(uint32_t u)
{
#ifdef __CUDA_ARCH__
	return __uint_as_float(u);
#else
	float		f;

	memcpy(&f, &u, sizeof f);
	return f;
#endif
}

EXP_POLY_FN float
exp_poly(float x)
{
	const float shift = 0x1.8p23f;
	float		z = fmaf(x, 0x1.715476p+0f, shift);
	float		n = z - shift;
	float		b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
	uint32_t	e = exp_poly_bits(z) << 23;
	float		k = exp_poly_from_bits(e + exp_poly_bits(1.0f));
	float		u = b * b;
	float		j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
							  fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
						 u, 0x1.ffffecp-1f * b);

	if (fabsf(n) <= 126.0f)
		return fmaf(j, k, k);
	/* 2^n would overflow or underflow in one step: scale in two */
	{
		uint32_t	g = n <= 0.0f ? 0x82000000u : 0;
		float		s1 = exp_poly_from_bits(g + 0x7f000000u);
		float		s2 = exp_poly_from_bits(e - g);

		if (fabsf(n) > 192.0f)
			return s1 * s1;
		return fmaf(s2, j, s2) * s1;
	}
}

#endif
