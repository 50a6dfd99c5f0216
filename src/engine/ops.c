/*
 * ops.c — element-wise kernels (see ops.h for the numerics contract).
 */
#include "ops.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "exp_poly.h"
#include "f16.h"

/*
 * On x86 the loops that call fmaf are also compiled for CPUs with FMA, the
 * version picked when the program loads: there fmaf is one instruction
 * instead of a call into libm.  The results are the same (fmaf rounds once
 * either way, and -std=c11 fuses nothing else).  Not with clang (the fuzz
 * build, test/fuzz/run-fuzz.sh): clang 14 leaves the plain name of a clone
 * undefined when its prototype lacks the attribute, and libm's fmaf gives
 * the same results.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define FMA_CLONES
#endif

void
rmsnorm(float *y, const float *x, const float *w, int n, float eps)
{
	double		sum = 0.0;
	float		scale;

	for (int i = 0; i < n; i++)
		sum += (double) (x[i] * x[i]);
	scale = 1.0f / sqrtf((float) (sum / n) + eps);
	for (int i = 0; i < n; i++)
		y[i] = (x[i] * scale) * w[i];
}

void
layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps)
{
	double		sum = 0.0;
	double		var = 0.0;
	float		mean;
	float		scale;
	int			i = 0;

	for (int k = 0; k < n; k++)
		sum += (double) x[k];
	mean = (float) sum / (float) n;
	for (; i + 8 <= n; i += 8)
	{
		float		v[8];

		for (int l = 0; l < 8; l++)
		{
			y[i + l] = x[i + l] - mean;
			v[l] = y[i + l] * y[i + l];
		}
		var += (double) (((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])));
	}
	for (; i < n; i++)
	{
		y[i] = x[i] - mean;
		var += (double) (y[i] * y[i]);
	}
	scale = 1.0f / sqrtf((float) (var / n) + eps);
	for (int i = 0; i < n; i++)
		y[i] = (y[i] * scale) * w[i] + b[i];
}

/* GELU of every F16 value, as F16: ggml's table, filled once. */
static uint16_t gelu_table[1 << 16];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void
gelu_table_fill(void)
{
	const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;

	/*
	 * ggml's AVX2 build compiles this with -mfma, so 1 + 0.044715*v*v is
	 * contracted into one fused multiply-add; the table's F16 rounding
	 * tells (at v = -1.999), hence fmaf here.
	 */
	for (int i = 0; i < 1 << 16; i++)
	{
		float		v = f16_to_f32((uint16_t) i);
		float		cubic = fmaf(0.044715f * v, v, 1.0f);

		gelu_table[i] = f32_to_f16(0.5f * v * (1.0f + tanhf(sqrt_2_over_pi * v * cubic)));
	}
}

void
gelu(float *y, const float *x, int n)
{
	pthread_once(&gelu_once, gelu_table_fill);
	for (int i = 0; i < n; i++)
	{
		if (x[i] <= -10.0f)
			y[i] = 0.0f;
		else if (x[i] >= 10.0f)
			y[i] = x[i];
		else
			y[i] = f16_to_f32(gelu_table[f32_to_f16(x[i])]);
	}
}

void
rope_yarn_corr_dims(int rope_dim, int32_t n_ctx_orig, float base, float beta_fast,
					float beta_slow, float dims[2])
{
	/* the dimension whose wavelength fits beta times into n_ctx_orig */
	float		lo = rope_dim * logf(n_ctx_orig / (beta_fast * 2 * (float) M_PI)) / (2 * logf(base));
	float		hi = rope_dim * logf(n_ctx_orig / (beta_slow * 2 * (float) M_PI)) / (2 * logf(base));

	dims[0] = fmaxf(0.0f, floorf(lo));
	dims[1] = fminf((float) (rope_dim - 1), ceilf(hi));
}

/*
 * One angle as ggml's rope_yarn computes it, GCC having fused its
 * interp * (1 - mix) + extrap * mix and 1 + 0.1 * log(...) (ggml-cpu is built
 * with FMA).
 */
FMA_CLONES static void
yarn_angle(float theta_extrap, int i, const struct rope_scaling *sc, float *c, float *s)
{
	float		theta_interp = sc->freq_scale * theta_extrap;
	float		theta = theta_interp;
	float		mscale = sc->attn_factor;

	if (sc->ext_factor != 0.0f)
	{
		float		y = ((float) i - sc->corr_dims[0]) / fmaxf(0.001f, sc->corr_dims[1] - sc->corr_dims[0]);
		float		mix = (1.0f - fminf(1.0f, fmaxf(0.0f, y))) * sc->ext_factor;

		theta = fmaf(theta_interp, 1.0f - mix, theta_extrap * mix);
		mscale *= fmaf(0.1f, logf(1.0f / sc->freq_scale), 1.0f);
	}
	*c = cosf(theta) * mscale;
	*s = sinf(theta) * mscale;
}

void
rope_angles_scaled(float *cs, float *sn, int rope_dim, int32_t pos, float base,
				   const float *freq_factors, const struct rope_scaling *sc)
{
	float		theta_scale = powf(base, -2.0f / rope_dim);
	float		theta = (float) pos;

	for (int i = 0; i < rope_dim / 2; i++)
	{
		yarn_angle(freq_factors ? theta / freq_factors[i] : theta, i, sc, &cs[i], &sn[i]);
		theta *= theta_scale;
	}
}

void
rope_angles(float *cs, float *sn, int rope_dim, int32_t pos, float base,
			const float *freq_factors)
{
	rope_angles_scaled(cs, sn, rope_dim, pos, base, freq_factors, &ROPE_UNSCALED);
}

FMA_CLONES void
rope_rotate(float *x, int n_head, int head_dim, int rope_dim, const float *cs,
			const float *sn, enum rope_style style)
{
	int			half = rope_dim / 2;

	for (int h = 0; h < n_head; h++)
	{
		float	   *xh = x + (size_t) h * head_dim;

		for (int i = 0; i < half; i++)
		{
			/* which two elements of a head this frequency rotates */
			int			a = style == ROPE_NEOX ? i : 2 * i;
			int			b = style == ROPE_NEOX ? i + half : 2 * i + 1;
			float		x0 = xh[a];
			float		x1 = xh[b];

			/* fused as GCC contracts ggml's x0*c - x1*s */
			xh[a] = fmaf(x0, cs[i], -(x1 * sn[i]));
			xh[b] = fmaf(x0, sn[i], x1 * cs[i]);
		}
	}
}

void
rope(float *x, int n_head, int head_dim, int rope_dim, int32_t pos,
	 float base, const float *freq_factors, enum rope_style style)
{
	float		cs[MODEL_MAX_HEAD_DIM / 2];
	float		sn[MODEL_MAX_HEAD_DIM / 2];

	rope_angles(cs, sn, rope_dim, pos, base, freq_factors);
	rope_rotate(x, n_head, head_dim, rope_dim, cs, sn, style);
}

float
expf_poly(float x)
{
	return exp_poly(x);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

/* exp_poly (exp_poly.h) on 8 lanes: lane by lane the same operations
 * (c - a*b is fmaf(-a, b, c) since negation is exact), the two-step scaling
 * blended in only for the lanes that need it. */
AVX2 static inline __m256
exp_steps8(__m256 x)
{
	const __m256 shift = _mm256_set1_ps(0x1.8p23f);
	const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256		z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
	__m256		n = _mm256_sub_ps(z, shift);
	__m256		b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
									 _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
	__m256i		e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
	__m256		k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
	__m256		u = _mm256_mul_ps(b, b);
	__m256		j = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b,
																	_mm256_set1_ps(0x1.573e2ep-5f)),
											  u,
											  _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b,
															  _mm256_set1_ps(0x1.fffdb6p-2f))),
									u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
	__m256		an = _mm256_and_ps(n, abs_mask);
	__m256		big = _mm256_cmp_ps(an, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
	__m256		r = _mm256_fmadd_ps(j, k, k);

	if (_mm256_movemask_ps(big))
	{
		__m256i		g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
										 _mm256_set1_epi32((int) 0x82000000u));
		__m256		s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
		__m256		s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
		__m256		huge = _mm256_cmp_ps(an, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
		__m256		two_step = _mm256_blendv_ps(_mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1),
												_mm256_mul_ps(s1, s1), huge);

		r = _mm256_blendv_ps(r, two_step, big);
	}
	return r;
}

AVX2 static void
swiglu_avx2(float *h, const float *gate, const float *up, int n)
{
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		g = _mm256_loadu_ps(gate + i);
		__m256		e = exp_steps8(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));

		_mm256_storeu_ps(h + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)),
											   _mm256_loadu_ps(up + i)));
	}
	for (; i < n; i++)
		h[i] = gate[i] / (1.0f + exp_poly(-gate[i])) * up[i];
}

/* x[i] = exp(x[i] - max) */
AVX2 static void
exp_shifted_avx2(float *x, int n, float max)
{
	int			i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, exp_steps8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(max))));
	for (; i < n; i++)
		x[i] = exp_poly(x[i] - max);
}

static bool
have_avx2(void)
{
	static atomic_int known = -1;	/* benign race: every thread finds the same */
	int			v = atomic_load_explicit(&known, memory_order_relaxed);

	if (v < 0)
	{
		__builtin_cpu_init();
		v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		atomic_store_explicit(&known, v, memory_order_relaxed);
	}
	return v;
}
#else
#define have_avx2() false
#define swiglu_avx2(h, gate, up, n) ((void) 0)
#define exp_shifted_avx2(x, n, max) ((void) 0)
#endif

/* The loops below have 8-lane versions on x86 (equal lane by lane). */
FMA_CLONES void
swiglu(float *h, const float *gate, const float *up, int n)
{
	if (have_avx2())
	{
		swiglu_avx2(h, gate, up, n);
		return;
	}
	for (int i = 0; i < n; i++)
		h[i] = gate[i] / (1.0f + exp_poly(-gate[i])) * up[i];
}

void
vec_add(float *y, const float *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] += x[i];
}

FMA_CLONES void
softmax(float *x, int n)
{
	float		max = -INFINITY;
	double		sum = 0.0;
	float		inv;

	for (int i = 0; i < n; i++)
		max = x[i] > max ? x[i] : max;	/* ggml's MAX, not fmaxf */
	if (have_avx2())
		exp_shifted_avx2(x, n, max);
	else
		for (int i = 0; i < n; i++)
			x[i] = exp_poly(x[i] - max);
	/* groups of 8 summed pairwise in float, then into the double total:
	 * the order of ggml's AVX2 softmax, whose rows are padded with zeros */
	for (int i = 0; i < n; i += 8)
	{
		float		v[8] = {0};

		for (int l = 0; l < 8 && i + l < n; l++)
			v[l] = x[i + l];
		sum += (double) (((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])));
	}
	inv = (float) (1.0 / sum);
	for (int i = 0; i < n; i++)
		x[i] *= inv;
}

void
softmax_unpadded(float *x, int n)
{
	int			n8 = n - n % 8;
	float		max = -INFINITY;
	double		sum = 0.0;
	float		inv;

	for (int i = 0; i < n; i++)
		max = x[i] > max ? x[i] : max;
	if (have_avx2())
		exp_shifted_avx2(x, n8, max);
	else
		for (int i = 0; i < n8; i++)
			x[i] = exp_poly(x[i] - max);
	for (int i = 0; i < n8; i += 8)
		sum += (double) (((x[i] + x[i + 4]) + (x[i + 2] + x[i + 6])) +
						 ((x[i + 1] + x[i + 5]) + (x[i + 3] + x[i + 7])));
	for (int i = n8; i < n; i++)
	{
		x[i] = expf(x[i] - max);
		sum += (double) x[i];
	}
	inv = (float) (1.0 / sum);
	for (int i = 0; i < n; i++)
		x[i] *= inv;
}
