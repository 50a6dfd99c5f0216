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

/* RoPE scaling as ggml's rope op takes it: frequencies interpolated by
 * freq_scale, YaRN's ramp between interpolation and extrapolation over the
 * correction dims when ext_factor is not 0, cos and sin times attn_factor. */
struct rope_scaling
{
	float		freq_scale;
	float		ext_factor;
	float		attn_factor;
	float		corr_dims[2];
};

#define ROPE_UNSCALED ((struct rope_scaling) {1.0f, 0.0f, 1.0f, {0.0f, 0.0f}})

/* YaRN's correction dims for a rope of rope_dim dims (ggml_rope_yarn_corr_dims). */
void		rope_yarn_corr_dims(int rope_dim, int32_t n_ctx_orig, float base, float beta_fast,
								float beta_slow, float dims[2]);

/* rope_angles under a scaling (rope_angles is this with ROPE_UNSCALED). */
void		rope_angles_scaled(float *cs, float *sn, int rope_dim, int32_t pos, float base,
							   const float *freq_factors, const struct rope_scaling *sc);

/* Rotate the first rope_dim dims of each of n_head heads (head_dim apart) of
 * one token by the angles rope_angles gave for its position. */
void		rope_rotate(float *x, int n_head, int head_dim, int rope_dim, const float *cs,
						const float *sn, enum rope_style style);

/* Both steps for one token at position pos. */
void		rope(float *x, int n_head, int head_dim, int rope_dim, int32_t pos,
				 float base, const float *freq_factors, enum rope_style style);

/* y = ((x - mean) / sqrt(var + eps)) * w + b, for one row of n (BERT's
 * LayerNorm), summed as ggml_norm on AVX2: the mean in double, rounded to
 * float; the squares 8 at a time, each group's horizontal sum into a
 * double. */
void		layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps);

/* y = gelu(x), the tanh form, through F16 as ggml's CPU GELU (its table of
 * F16 results indexed by the F16 input; identity from 10, 0 from -10). */
void		gelu(float *y, const float *x, int n);

/* h = silu(gate) * up */
void		swiglu(float *h, const float *gate, const float *up, int n);

/* y += x */
void		vec_add(float *y, const float *x, int n);

/* exp(x) computed as ggml's SIMD kernels compute it (exp_poly.h). */
float		expf_poly(float x);

/* In place: x = softmax(x), max subtracted, sum in double. */
void		softmax(float *x, int n);

/* The same for a row ggml does not pad (BERT's attention scores): its last
 * n % 8 take libm's expf and join the double sum one by one. */
void		softmax_unpadded(float *x, int n);

#endif
