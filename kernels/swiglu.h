/*
 * swiglu.h — SwiGLU's element with ops.c's arithmetic, g / (1 + exp(-g)) * u
 * with ggml's exp, in plain C shared by the kernels that apply it (the
 * element-wise kernel, and the quantization of down's input, which fuses
 * it) and the CPU emulation test, which checks it against swiglu().
 */
#ifndef DR1_SWIGLU_H
#define DR1_SWIGLU_H

#include "attn_plan.h"

AP_FN float
swiglu_elem(float g, float u)
{
#ifdef __CUDA_ARCH__
	/* the _rn operations: no contraction into fused multiply-adds */
	return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, attn_exp(-g))), u);
#else
	return g / (1.0f + attn_exp(-g)) * u;
#endif
}

#endif
