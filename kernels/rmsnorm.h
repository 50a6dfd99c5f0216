/*
 * rmsnorm.h — RMSNorm's arithmetic as ops.c's rmsnorm does it, in plain C
 * shared by the kernels that apply it (rmsnorm.cu, and the quantization of
 * a product's input, which fuses it) and the CPU emulation test: squares
 * rounded to float and summed in double (exact for any row whose squares
 * span fewer than 29 binades, so the order of the sum does not matter),
 * the scale 1 / sqrtf(mean + eps) in float, then (x * scale) * w.
 */
#ifndef DR1_RMSNORM_H
#define DR1_RMSNORM_H

#include <math.h>

#include "attn_plan.h"

AP_FN double
rms_square(float x)
{
#ifdef __CUDA_ARCH__
	return (double) __fmul_rn(x, x);
#else
	return (double) (x * x);
#endif
}

AP_FN float
rms_scale(double sum_squares, int n, float eps)
{
	return 1.0f / sqrtf((float) (sum_squares / n) + eps);
}

AP_FN float
rms_elem(float x, float scale, float w)
{
#ifdef __CUDA_ARCH__
	return __fmul_rn(__fmul_rn(x, scale), w);
#else
	return (x * scale) * w;
#endif
}

#endif
