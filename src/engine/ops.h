/*
 * ops.h — the element-wise CPU kernels of the forward pass.
 *
 * Their arithmetic follows ggml's CPU backend step by step (sum of squares
 * in double, RoPE angles by repeated multiplication, ...) so that our logits
 * stay within float rounding of llama.cpp's on the same file.
 */
#ifndef DR1_OPS_H
#define DR1_OPS_H

#include <stdint.h>

#include "arch.h"

/* y = (x / rms(x)) * w, for one row of n. */
void		rmsnorm(float *y, const float *x, const float *w, int n, float eps);

/* cos and sin of the rope_dim/2 angles of position pos, as ggml computes
 * them.  freq_factors (rope_dim/2) may be NULL. */
void		rope_angles(float *cs, float *sn, int rope_dim, int32_t pos, float base,
						const float *freq_factors);

/* Rotate the first rope_dim dims of each of n_head heads (head_dim apart) of
 * one token by the angles rope_angles gave for its position. */
void		rope_rotate(float *x, int n_head, int head_dim, int rope_dim, const float *cs,
						const float *sn, enum rope_style style);

/* Both steps for one token at position pos. */
void		rope(float *x, int n_head, int head_dim, int rope_dim, int32_t pos,
				 float base, const float *freq_factors, enum rope_style style);

/* h = silu(gate) * up */
void		swiglu(float *h, const float *gate, const float *up, int n);

/* y += x */
void		vec_add(float *y, const float *x, int n);

/* exp(x) computed as ggml's SIMD kernels compute it (exp_poly.h). */
float		expf_poly(float x);

/* In place: x = softmax(x), max subtracted, sum in double. */
void		softmax(float *x, int n);

#endif
