/*
 * test_quant.c — the quantized kernels (quant.h) and the half/bfloat16
 * conversions (f16.h).
 *
 * Fast kernels are checked against the scalar reference: dequantization and
 * activation quantization bit for bit, dot products within float rounding.
 * The reference is checked against a double-precision dot product of the
 * dequantized operands, and dequantization against gguf-py on rows of the
 * real models (test/golden/dequant.tsv; skipped when a model is absent).
 * The kernels summing in llama.cpp's other orders (quant.h, enum mm_path),
 * and the float types' vec_dot, must equal their reference bit for bit;
 * hand-made rows check that those orders are ggml's.  A short benchmark of the Q4_1
 * and Q4_K dot products is printed, never asserted on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "f16.h"
#include "quant.h"
#include "quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define GOLDEN_TSV "test/golden/dequant.tsv"
#define GOLDEN_VALUES 64

static const enum dtype weight_types[] = {
	DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q4_0, DTYPE_Q4_1, DTYPE_Q5_0,
	DTYPE_Q5_1, DTYPE_Q8_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K,
};

static const enum dtype act_types[] = {
	DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q8_0, DTYPE_Q8_1, DTYPE_Q8_K,
};

#define NELEMS(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* ---- random data ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd_u32(void)
{
	return (uint32_t) (check_rng_next(&rng_state) >> 16);
}

/* Uniform in [lo, hi). */
static float
rnd_uniform(float lo, float hi)
{
	return lo + (hi - lo) * (float) (rnd_u32() >> 8) / 16777216.0f;
}

/* Activation-like values: mostly small, an occasional outlier, some ties. */
static float
rnd_activation(void)
{
	uint32_t	kind = rnd_u32() % 64;

	if (kind == 0)
		return rnd_uniform(-40.0f, 40.0f);
	if (kind == 1)
		return 0.0f;
	if (kind == 2)
		return (float) ((int) (rnd_u32() % 64) - 32) + 0.5f;
	return rnd_uniform(-2.0f, 2.0f);
}

static f16_t
rnd_scale(float lo, float hi)
{
	return f32_to_f16(rnd_uniform(lo, hi));
}

/* Random blocks of weight type t with plausible scales; quants are random bytes. */
static void
random_weights(enum dtype t, void *buf, int64_t n)
{
	size_t		bytes = dtype_row_bytes(t, n);
	int64_t		nb = n / dtype_block_elems(t);

	for (size_t i = 0; i < bytes; i++)
		((uint8_t *) buf)[i] = (uint8_t) rnd_u32();
	for (int64_t b = 0; b < nb; b++)
		switch (t)
		{
			case DTYPE_F32:
				((float *) buf)[b] = rnd_uniform(-1.0f, 1.0f);
				break;
			case DTYPE_F16:
				((f16_t *) buf)[b] = f32_to_f16(rnd_uniform(-1.0f, 1.0f));
				break;
			case DTYPE_BF16:
				((uint16_t *) buf)[b] = f32_to_bf16(rnd_uniform(-1.0f, 1.0f));
				break;
			case DTYPE_Q4_0:
				((struct block_q4_0 *) buf)[b].d = rnd_scale(-0.05f, 0.05f);
				break;
			case DTYPE_Q4_1:
				((struct block_q4_1 *) buf)[b].d = rnd_scale(0.001f, 0.05f);
				((struct block_q4_1 *) buf)[b].m = rnd_scale(-0.4f, 0.1f);
				break;
			case DTYPE_Q5_0:
				((struct block_q5_0 *) buf)[b].d = rnd_scale(-0.05f, 0.05f);
				break;
			case DTYPE_Q5_1:
				((struct block_q5_1 *) buf)[b].d = rnd_scale(0.001f, 0.05f);
				((struct block_q5_1 *) buf)[b].m = rnd_scale(-0.4f, 0.1f);
				break;
			case DTYPE_Q8_0:
				((struct block_q8_0 *) buf)[b].d = rnd_scale(-0.01f, 0.01f);
				break;
			case DTYPE_Q4_K:
				((struct block_q4_K *) buf)[b].d = rnd_scale(0.0001f, 0.003f);
				((struct block_q4_K *) buf)[b].dmin = rnd_scale(0.0001f, 0.003f);
				break;
			case DTYPE_Q5_K:
				((struct block_q5_K *) buf)[b].d = rnd_scale(0.0001f, 0.003f);
				((struct block_q5_K *) buf)[b].dmin = rnd_scale(0.0001f, 0.003f);
				break;
			case DTYPE_Q6_K:
				((struct block_q6_K *) buf)[b].d = rnd_scale(-0.0003f, 0.0003f);
				break;
			default:
				break;
		}
}

/* ---- f16.h ---- */

static void
test_f16_edges(void)
{
	CHECK(f32_to_f16(0.0f) == 0x0000, "+0");
	CHECK(f32_to_f16(-0.0f) == 0x8000, "-0");
	CHECK(f32_to_f16(1.0f) == 0x3c00, "1");
	CHECK(f32_to_f16(-2.0f) == 0xc000, "-2");
	CHECK(f32_to_f16(65504.0f) == 0x7bff, "max half");
	CHECK(f32_to_f16(65519.99f) == 0x7bff, "just below the overflow tie");
	CHECK(f32_to_f16(65520.0f) == 0x7c00, "overflow tie rounds to inf");
	CHECK(f32_to_f16(1e10f) == 0x7c00, "large to inf");
	CHECK(f32_to_f16(INFINITY) == 0x7c00 && f32_to_f16(-INFINITY) == 0xfc00, "inf");
	CHECK((f32_to_f16(NAN) & 0x7e00) == 0x7e00, "nan stays a quiet nan");
	CHECK(f32_to_f16(ldexpf(1.0f, -24)) == 0x0001, "smallest subnormal");
	CHECK(f32_to_f16(ldexpf(1.0f, -25)) == 0x0000, "half the smallest subnormal ties to 0");
	CHECK(f32_to_f16(ldexpf(1.5f, -25)) == 0x0001, "above the tie");
	CHECK(f32_to_f16(ldexpf(3.0f, -25)) == 0x0002, "subnormal tie to even");
	CHECK(f32_to_f16(ldexpf(1.0f, -14)) == 0x0400, "smallest normal");
	CHECK(f32_to_f16(ldexpf(1023.5f, -24)) == 0x0400, "largest subnormal tie rounds up to normal");
	CHECK(f32_to_f16(1.0f + ldexpf(1.0f, -11)) == 0x3c00, "normal tie to even (down)");
	CHECK(f32_to_f16(1.0f + 3 * ldexpf(1.0f, -11)) == 0x3c02, "normal tie to even (up)");
	CHECK(f32_to_f16(ldexpf(1.0f, -140)) == 0x0000, "f32 subnormal to 0");
	CHECK(f16_to_f32(0x0001) == ldexpf(1.0f, -24), "decode subnormal");
	CHECK(f16_to_f32(0x83ff) == -ldexpf(1023.0f, -24), "decode negative subnormal");
	CHECK(isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0, "decode -inf");
	CHECK(isnan(f16_to_f32(0x7c01)), "decode nan");

	/* every half: decode, re-encode; every midpoint: ties to the even one */
	{
		int			bad_trip = 0;
		int			bad_tie = 0;

		for (uint32_t h = 0; h < 0x10000; h++)
		{
			float		f = f16_to_f32((uint16_t) h);

			if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
			{
				bad_trip += !isnan(f);
				continue;
			}
			bad_trip += f32_to_f16(f) != h;
			if ((h & 0x7fff) < 0x7bff)
			{
				float		next = f16_to_f32((uint16_t) (h + 1));
				uint16_t	even = (h & 1) ? (uint16_t) (h + 1) : (uint16_t) h;

				bad_tie += f32_to_f16(f + (next - f) / 2) != even;
			}
		}
		CHECK(bad_trip == 0, "%d halves do not survive decode and encode", bad_trip);
		CHECK(bad_tie == 0, "%d midpoints between halves do not round to even", bad_tie);
	}
}

static void
test_bf16_edges(void)
{
	CHECK(f32_to_bf16(1.0f) == 0x3f80, "bf16 1");
	CHECK(f32_to_bf16(f32_from_bits(0x3f808000)) == 0x3f80, "bf16 tie to even (down)");
	CHECK(f32_to_bf16(f32_from_bits(0x3f818000)) == 0x3f82, "bf16 tie to even (up)");
	CHECK(f32_to_bf16(f32_from_bits(0x3f808001)) == 0x3f81, "bf16 above tie");
	CHECK(f32_to_bf16(f32_from_bits(0x00018000)) == 0x0002, "bf16 subnormal tie");
	CHECK(f32_to_bf16(f32_from_bits(0x7f7fffff)) == 0x7f80, "bf16 max float rounds to inf");
	CHECK(f32_to_bf16(INFINITY) == 0x7f80 && f32_to_bf16(-INFINITY) == 0xff80, "bf16 inf");
	CHECK(isnan(bf16_to_f32(f32_to_bf16(f32_from_bits(0x7f800001)))), "bf16 signalling nan stays nan");
	CHECK(bf16_to_f32(0x8001) == -f32_from_bits(0x00010000), "bf16 decode subnormal");
}

#ifdef HAVE_X86
__attribute__((target("f16c")))
static uint16_t
hw_f32_to_f16(float f)
{
	return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* f32_to_f16 against the F16C instruction on random bit patterns. */
static void
test_f16_vs_f16c(void)
{
	unsigned int eax;
	unsigned int ebx;
	unsigned int ecx;
	unsigned int edx;
	int			bad = 0;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_F16C))
	{
		printf("SKIP f32_to_f16 vs F16C: CPU has no F16C\n");
		return;
	}
	for (int i = 0; i < 4000000; i++)
	{
		uint32_t	u = rnd_u32() ^ (rnd_u32() << 16);
		float		f;

		/* concentrate on the exponents where halves live */
		if (i % 2)
			u = (u & 0x807fffff) | ((uint32_t) (100 + rnd_u32() % 50) << 23);
		f = f32_from_bits(u);
		if (!isnan(f) && f32_to_f16(f) != hw_f32_to_f16(f))
			bad++;
	}
	CHECK(bad == 0, "f32_to_f16 differs from F16C on %d inputs", bad);
}
#endif

/* ---- activation quantization ---- */

static float *
random_activations(int64_t n)
{
	float	   *x = malloc((size_t) n * sizeof(float));

	for (int64_t i = 0; i < n; i++)
		x[i] = rnd_activation();
	return x;
}

/* Blocks that exercise the corners: zeros, ties, extremes, sign of the max. */
static void
fill_special_block(float *x, int len, int kind)
{
	for (int i = 0; i < len; i++)
		switch (kind)
		{
			case 0:
				x[i] = 0.0f;
				break;
			case 1:				/* amax 127: id = 1, so x.5 are exact ties */
				x[i] = i == len / 2 ? 127.0f : (float) ((int) (rnd_u32() % 200) - 100) + 0.5f;
				break;
			case 2:				/* same with the maximum negative */
				x[i] = i == 3 ? -127.0f : (float) ((int) (rnd_u32() % 200) - 100) + 0.5f;
				break;
			case 3:				/* +amax and -amax both present */
				x[i] = i == 5 ? 3.0f : i == 9 ? -3.0f : rnd_uniform(-3.0f, 3.0f);
				break;
			case 4:				/* subnormals and tiny values */
				x[i] = (i % 2 ? -1.0f : 1.0f) * ldexpf(rnd_uniform(0.5f, 1.0f), -130 - (int) (rnd_u32() % 10));
				break;
			case 5:				/* huge values */
				x[i] = rnd_uniform(-1e30f, 1e30f);
				break;
			default:			/* one outlier */
				x[i] = i == 7 ? 1000.0f : rnd_uniform(-1.0f, 1.0f);
				break;
		}
}

#define SPECIAL_KINDS 7

static void
test_quantize_same(enum dtype act, const float *x, int64_t n, const char *what)
{
	size_t		bytes = dtype_row_bytes(act, n);
	uint8_t    *r = malloc(bytes);
	uint8_t    *f = malloc(bytes);

	memset(r, 0xa5, bytes);
	memset(f, 0x5a, bytes);
	quantize_row_act_ref(act, x, r, n);
	quantize_row_act(act, x, f, n);
	CHECK(memcmp(r, f, bytes) == 0, "quantize %s %s n=%lld: fast differs from reference",
		  dtype_name(act), what, (long long) n);
	free(r);
	free(f);
}

static void
test_quantize_fast_vs_ref(void)
{
	for (int a = 0; a < NELEMS(act_types); a++)
	{
		enum dtype	act = act_types[a];
		int			be = dtype_block_elems(act);

		for (int rep = 0; rep < 200; rep++)
		{
			int64_t		n = (int64_t) be * (1 + rnd_u32() % 9) + (be == 1 ? rnd_u32() % 8 : 0);
			float	   *x = random_activations(n);

			test_quantize_same(act, x, n, "random");
			free(x);
		}
		for (int kind = 0; kind < SPECIAL_KINDS; kind++)
		{
			int			len = be == 1 ? 64 : be;
			float	   *x = malloc((size_t) len * sizeof(float));

			fill_special_block(x, len, kind);
			test_quantize_same(act, x, len, "special");
			free(x);
		}
	}
	{
		float		x[19] = {1.0f, NAN, -NAN, INFINITY, 3.0f, 65520.0f, 1e-8f, -0.0f, 5.0f};

		test_quantize_same(DTYPE_F16, x, 19, "nan/inf");
		test_quantize_same(DTYPE_BF16, x, 19, "nan/inf");
	}
}

/* Ties round to nearest even, as ggml's x86 path does. */
static void
test_quantize_ties(void)
{
	float		x[QK_K] = {0};
	struct block_q8_0 q0;
	struct block_q8_K qk;

	x[0] = 127.0f;
	x[1] = 2.5f;
	x[2] = -2.5f;
	x[3] = 3.5f;
	x[4] = 0.5f;
	x[5] = -1.5f;
	quantize_row_act_ref(DTYPE_Q8_0, x, &q0, QK8_0);
	CHECK(q0.qs[0] == 127 && q0.qs[1] == 2 && q0.qs[2] == -2 && q0.qs[3] == 4 &&
		  q0.qs[4] == 0 && q0.qs[5] == -2, "Q8_0 ties to even: %d %d %d %d %d",
		  q0.qs[1], q0.qs[2], q0.qs[3], q0.qs[4], q0.qs[5]);
	CHECK(f16_to_f32(q0.d) == 1.0f, "Q8_0 d of amax 127");
	quantize_row_act_ref(DTYPE_Q8_K, x, &qk, QK_K);
	CHECK(qk.d == -1.0f && qk.qs[0] == -127 && qk.qs[1] == -2 && qk.qs[3] == -4 && qk.qs[5] == 2,
		  "Q8_K: iscale -127/max, ties to even (d=%g, %d %d %d)", qk.d, qk.qs[1], qk.qs[3], qk.qs[5]);

	/* |max| reached twice: the first one gives the sign */
	memset(x, 0, sizeof x);
	x[10] = -4.0f;
	x[20] = 4.0f;
	quantize_row_act_ref(DTYPE_Q8_K, x, &qk, QK_K);
	CHECK(qk.d > 0 && qk.qs[10] == -127 && qk.qs[20] == 127, "Q8_K sign from the first max");
	quantize_row_act(DTYPE_Q8_K, x, &qk, QK_K);
	CHECK(qk.d > 0 && qk.qs[10] == -127 && qk.qs[20] == 127, "Q8_K fast: sign from the first max");
}

/* Quantize, dequantize, and bound the error; check Q8_1's s and Q8_K's bsums. */
static void
test_round_trip(void)
{
	const int64_t n = 7 * QK_K;
	float	   *x = random_activations(n);
	float	   *y = malloc((size_t) n * sizeof(float));
	void	   *q = malloc(dtype_row_bytes(DTYPE_Q8_K, n));
	int			bad;

	for (int a = 3; a < NELEMS(act_types); a++)
	{
		enum dtype	act = act_types[a];
		int			be = dtype_block_elems(act);

		quantize_row_act(act, x, q, n);
		dequantize_row(act, q, y, n);
		bad = 0;
		for (int64_t b = 0; b < n / be; b++)
		{
			float		amax = 0.0f;

			for (int i = 0; i < be; i++)
				amax = fmaxf(amax, fabsf(x[b * be + i]));
			/* half a step, plus the rounding of d to half precision */
			for (int i = 0; i < be; i++)
			{
				double		step = amax / 127.0;
				double		bound = 0.5 * step + amax * 1e-6 +
					(act == DTYPE_Q8_K ? 0.0 : amax * ldexp(1.0, -11));

				if (fabs((double) x[b * be + i] - y[b * be + i]) > bound)
					bad++;
			}
		}
		CHECK(bad == 0, "%s round trip: %d values beyond the bound", dtype_name(act), bad);
	}

	quantize_row_act(DTYPE_Q8_1, x, q, n);
	bad = 0;
	for (int64_t b = 0; b < n / QK8_1; b++)
	{
		const struct block_q8_1 *blk = (const struct block_q8_1 *) q + b;
		int			sum = 0;

		for (int i = 0; i < QK8_1; i++)
			sum += blk->qs[i];
		if (fabs(f16_to_f32(blk->s) - (double) f16_to_f32(blk->d) * sum) >
			fabs((double) f16_to_f32(blk->d) * sum) * ldexp(1.0, -10) + 1e-7)
			bad++;
	}
	CHECK(bad == 0, "Q8_1 s != d*sum(qs) on %d blocks", bad);

	quantize_row_act(DTYPE_Q8_K, x, q, n);
	bad = 0;
	for (int64_t b = 0; b < n / QK_K; b++)
	{
		const struct block_q8_K *blk = (const struct block_q8_K *) q + b;

		for (int g = 0; g < QK_K / 16; g++)
		{
			int			sum = 0;

			for (int i = 0; i < 16; i++)
				sum += blk->qs[16 * g + i];
			if (sum != blk->bsums[g])
				bad++;
		}
	}
	CHECK(bad == 0, "Q8_K bsums wrong in %d groups", bad);
	free(x);
	free(y);
	free(q);
}

/* ---- dequantization and dot products on random weights ---- */

/* Where s = d*sum(q) is stored in half precision, its rounding adds an error
 * that the dequantized operands do not have: bound it per block. */
static double
q8_1_sum_slack(enum dtype w, const void *wrow, const void *act, int64_t n)
{
	const struct block_q8_1 *y = act;
	double		slack = 0.0;

	if (w != DTYPE_Q4_1 && w != DTYPE_Q5_1)
		return 0.0;
	for (int64_t b = 0; b < n / QK8_1; b++)
	{
		f16_t		m = w == DTYPE_Q4_1 ? ((const struct block_q4_1 *) wrow)[b].m
			: ((const struct block_q5_1 *) wrow)[b].m;

		slack += fabs(f16_to_f32(m) * f16_to_f32(y[b].s)) * ldexp(1.0, -10);
	}
	return slack;
}

static void
test_weight_type(enum dtype w, int64_t n)
{
	enum dtype	act = quant_act_type(w);
	void	   *wrow = malloc(dtype_row_bytes(w, n));
	float	   *x = random_activations(n);
	void	   *arow = malloc(dtype_row_bytes(act, n));
	float	   *wr = malloc((size_t) n * sizeof(float));
	float	   *wf = malloc((size_t) n * sizeof(float));
	float	   *ad = malloc((size_t) n * sizeof(float));
	double		exact = 0.0;
	double		mag = 0.0;
	float		ref;
	float		fast;

	random_weights(w, wrow, n);
	dequantize_row_ref(w, wrow, wr, n);
	dequantize_row(w, wrow, wf, n);
	CHECK(memcmp(wr, wf, (size_t) n * sizeof(float)) == 0,
		  "dequantize %s n=%lld: fast differs from reference", dtype_name(w), (long long) n);

	test_quantize_same(act, x, n, "for dot");
	quantize_row_act_ref(act, x, arow, n);
	dequantize_row_ref(act, arow, ad, n);
	for (int64_t i = 0; i < n; i++)
	{
		exact += (double) wr[i] * ad[i];
		mag += fabs((double) wr[i] * ad[i]);
	}
	ref = vec_dot_ref(w, n, wrow, arow);
	fast = vec_dot(w, n, wrow, arow);
	CHECK(fabs((double) ref - fast) <= 1e-5 * mag + 1e-30,
		  "dot %s n=%lld: ref %.9g fast %.9g (magnitude %g)",
		  dtype_name(w), (long long) n, ref, fast, mag);
	CHECK(fabs(ref - exact) <= 1e-5 * mag + q8_1_sum_slack(w, wrow, arow, n) + 1e-30,
		  "dot %s n=%lld: ref %.9g, double dot of dequantized %.9g (magnitude %g)",
		  dtype_name(w), (long long) n, ref, exact, mag);
	free(wrow);
	free(x);
	free(arow);
	free(wr);
	free(wf);
	free(ad);
}

static void
test_weights(void)
{
	static const int nblocks[] = {1, 2, 7, 19};
	static const int nfloat[] = {1, 7, 8, 33, 256, 1000, 4864};

	for (int t = 0; t < NELEMS(weight_types); t++)
	{
		enum dtype	w = weight_types[t];
		int			be = dtype_block_elems(w);

		for (int rep = 0; rep < 20; rep++)
		{
			if (be == 1)
				for (int k = 0; k < NELEMS(nfloat); k++)
					test_weight_type(w, nfloat[k]);
			else
				for (int k = 0; k < NELEMS(nblocks); k++)
					test_weight_type(w, (int64_t) nblocks[k] * be);
		}
	}
}

/* A weight of all-extreme quants against an all-extreme activation: the
 * integer sums at their largest must still be exact. */
static void
test_extremes(void)
{
	for (int t = 0; t < NELEMS(weight_types); t++)
	{
		enum dtype	w = weight_types[t];
		enum dtype	act = quant_act_type(w);
		int64_t		n = 2 * QK_K;
		size_t		bytes = dtype_row_bytes(w, n);
		uint8_t    *wrow = malloc(bytes);
		void	   *arow = malloc(dtype_row_bytes(act, n));
		float	   *x = malloc((size_t) n * sizeof(float));
		float		ref;
		float		fast;

		for (int sign = -1; sign <= 1; sign += 2)
		{
			random_weights(w, wrow, n);
			/* every quant bit set, scales kept */
			switch (w)
			{
				case DTYPE_Q4_K:
					for (int b = 0; b < 2; b++)
					{
						memset(((struct block_q4_K *) wrow)[b].qs, 0xff, QK_K / 2);
						memset(((struct block_q4_K *) wrow)[b].scales, 0xff, K_SCALE_SIZE);
					}
					break;
				case DTYPE_Q8_0:
					for (int b = 0; b < n / QK8_0; b++)
						memset(((struct block_q8_0 *) wrow)[b].qs, 0x80, QK8_0);
					break;
				case DTYPE_Q6_K:
					for (int b = 0; b < 2; b++)
					{
						memset(((struct block_q6_K *) wrow)[b].ql, 0, QK_K / 2);
						memset(((struct block_q6_K *) wrow)[b].qh, 0, QK_K / 4);
						memset(((struct block_q6_K *) wrow)[b].scales, 0x80, QK_K / 16);
					}
					break;
				default:
					break;
			}
			for (int64_t i = 0; i < n; i++)
				x[i] = (float) sign;
			quantize_row_act_ref(act, x, arow, n);
			ref = vec_dot_ref(w, n, wrow, arow);
			fast = vec_dot(w, n, wrow, arow);
			CHECK(fabsf(ref - fast) <= 1e-5f * fabsf(ref) + 1e-30f,
				  "extreme dot %s sign %d: ref %.9g fast %.9g", dtype_name(w), sign, ref, fast);
		}
		free(wrow);
		free(arow);
		free(x);
	}
}

static void
test_dispatch(void)
{
	const char *name = quant_init();
	float		v[QK_K];

	CHECK(strcmp(name, "avx512") == 0 || strcmp(name, "avx2") == 0 || strcmp(name, "scalar") == 0,
		  "quant_init name %s", name);
	CHECK(strcmp(quant_init(), name) == 0, "quant_init is stable");
	printf("quant kernels: %s\n", name);
	CHECK(quant_act_type(DTYPE_Q4_1) == DTYPE_Q8_1 && quant_act_type(DTYPE_Q5_0) == DTYPE_Q8_0 &&
		  quant_act_type(DTYPE_Q6_K) == DTYPE_Q8_K && quant_act_type(DTYPE_BF16) == DTYPE_BF16 &&
		  quant_act_type(DTYPE_F16) == DTYPE_F16 && quant_act_type(DTYPE_F32) == DTYPE_F32,
		  "quant_act_type pairings");
	CHECK(quant_act_type(DTYPE_Q2_K) == DTYPE_COUNT, "no activation type for Q2_K");
	CHECK(isnan(vec_dot(DTYPE_Q2_K, QK_K, v, v)), "dot of an unsupported type is nan");
	dequantize_row(DTYPE_Q3_K, v, v, QK_K);
	CHECK(isnan(v[0]) && isnan(v[QK_K - 1]), "dequantizing an unsupported type gives nan");
}

/* ---- llama.cpp's other summation orders (mm_path) ---- */

static void
test_mm_path_for(void)
{
	int			bad = 0;

	/* repacked Q4_K: groups of 4 rows by gemm, the 0..3 left over by gemv */
	for (int32_t n = 1; n <= 13; n++)
		for (int32_t i = 0; i < n; i++)
		{
			enum mm_path want = i < n - n % 4 ? MM_X8_GEMM : MM_X8_GEMV;

			bad += mm_path_for(DTYPE_Q4_K, 896, n, i) != want;
		}
	CHECK(bad == 0, "Q4_K with 896 rows: %d rows summed in the wrong order", bad);
	CHECK(mm_path_for(DTYPE_Q4_K, 900, 7, 0) == MM_VEC_DOT &&
		  mm_path_for(DTYPE_Q4_K, 900, 8, 7) == MM_TILED,
		  "Q4_K not repackable: vec_dot below 8 rows, tiled from 8");
	CHECK(mm_path_for(DTYPE_Q6_K, 896, 7, 3) == MM_VEC_DOT &&
		  mm_path_for(DTYPE_Q6_K, 896, 8, 0) == MM_TILED &&
		  mm_path_for(DTYPE_Q5_K, 896, 1, 0) == MM_VEC_DOT &&
		  mm_path_for(DTYPE_Q5_K, 896, 300, 299) == MM_TILED,
		  "Q5_K/Q6_K: vec_dot below 8 rows, tiled from 8");
	CHECK(mm_path_for(DTYPE_Q5_0, 896, 64, 5) == MM_VEC_DOT &&
		  mm_path_for(DTYPE_Q8_0, 896, 2, 1) == MM_VEC_DOT &&
		  mm_path_for(DTYPE_Q4_1, 576, 9, 0) == MM_VEC_DOT,
		  "other types always sum as vec_dot");
	CHECK(mm_path_for(DTYPE_F16, 64, 9, 0) == MM_TINYBLAS &&
		  mm_path_for(DTYPE_F32, 896, 2, 1) == MM_TINYBLAS &&
		  mm_path_for(DTYPE_BF16, 4, 300, 299) == MM_TINYBLAS,
		  "F32/F16/BF16: tinyBLAS from 2 rows when the weight's rows are a multiple of 4");
	CHECK(mm_path_for(DTYPE_F16, 64, 1, 0) == MM_VEC_DOT &&
		  mm_path_for(DTYPE_F32, 898, 9, 0) == MM_VEC_DOT &&
		  mm_path_for(DTYPE_BF16, 151937, 40, 3) == MM_VEC_DOT,
		  "F32/F16/BF16: vec_dot for one row, or rows not a multiple of 4");
}

/*
 * One row in order p: the fast kernel must equal the reference bit for bit
 * (the point of these orders), and the reference must be the dot product.
 */
static void
test_path_row(enum mm_path p, enum dtype w, int64_t n, bool extreme)
{
	enum dtype	act = quant_act_type(w);
	void	   *wrow = malloc(dtype_row_bytes(w, n));
	float	   *x = random_activations(n);
	void	   *arow = malloc(dtype_row_bytes(act, n));
	float	   *wr = malloc((size_t) n * sizeof(float));
	float	   *ad = malloc((size_t) n * sizeof(float));
	double		exact = 0.0;
	double		mag = 0.0;
	float		ref;
	float		fast;

	random_weights(w, wrow, n);
	if (extreme)
		for (int64_t b = 0; b < n / QK_K; b++)
			switch (w)
			{
				case DTYPE_Q4_K:
					memset(((struct block_q4_K *) wrow)[b].qs, 0xff, QK_K / 2);
					memset(((struct block_q4_K *) wrow)[b].scales, 0xff, K_SCALE_SIZE);
					break;
				case DTYPE_Q5_K:
					memset(((struct block_q5_K *) wrow)[b].qs, 0xff, QK_K / 2);
					memset(((struct block_q5_K *) wrow)[b].qh, 0xff, QK_K / 8);
					memset(((struct block_q5_K *) wrow)[b].scales, 0xff, K_SCALE_SIZE);
					break;
				default:
					memset(((struct block_q6_K *) wrow)[b].ql, 0, QK_K / 2);
					memset(((struct block_q6_K *) wrow)[b].qh, 0, QK_K / 4);
					memset(((struct block_q6_K *) wrow)[b].scales, 0x80, QK_K / 16);
					break;
			}
	quantize_row_act_ref(act, x, arow, n);
	dequantize_row_ref(w, wrow, wr, n);
	dequantize_row_ref(act, arow, ad, n);
	for (int64_t i = 0; i < n; i++)
	{
		exact += (double) wr[i] * ad[i];
		mag += fabs((double) wr[i] * ad[i]);
	}
	ref = vec_dot_path_ref(p, w, n, wrow, arow);
	fast = vec_dot_path(p, w, n, wrow, arow);
	CHECK(memcmp(&ref, &fast, sizeof ref) == 0,
		  "dot %s order %d n=%lld: ref %.9g fast %.9g differ", dtype_name(w), (int) p,
		  (long long) n, ref, fast);
	CHECK(fabs(ref - exact) <= 1e-5 * mag + 1e-30,
		  "dot %s order %d n=%lld: ref %.9g, double dot of dequantized %.9g (magnitude %g)",
		  dtype_name(w), (int) p, (long long) n, ref, exact, mag);
	free(wrow);
	free(x);
	free(arow);
	free(wr);
	free(ad);
}

static void
test_path_kernels(void)
{
	static const struct
	{
		enum mm_path p;
		enum dtype	w;
	}			cases[] = {
		{MM_X8_GEMV, DTYPE_Q4_K}, {MM_X8_GEMM, DTYPE_Q4_K}, {MM_TILED, DTYPE_Q4_K},
		{MM_TILED, DTYPE_Q5_K}, {MM_TILED, DTYPE_Q6_K},
	};
	static const int nblocks[] = {1, 2, 4, 19};

	for (int c = 0; c < NELEMS(cases); c++)
	{
		for (int rep = 0; rep < 20; rep++)
			for (int k = 0; k < NELEMS(nblocks); k++)
				test_path_row(cases[c].p, cases[c].w, (int64_t) nblocks[k] * QK_K, false);
		test_path_row(cases[c].p, cases[c].w, 2 * QK_K, true);
	}
	for (int t = 0; t < 3; t++)
	{
		static const int lens[] = {1, 7, 8, 32, 33, 39, 64, 1000, 4864};

		for (int rep = 0; rep < 10; rep++)
			for (int k = 0; k < NELEMS(lens); k++)
			{
				test_path_row(MM_VEC_DOT, weight_types[t], lens[k], false);
				test_path_row(MM_TINYBLAS, weight_types[t], lens[k], false);
			}
	}
	/* a type without a kernel of its own in an order sums as vec_dot */
	{
		int64_t		n = 4 * QK8_0;
		void	   *wrow = malloc(dtype_row_bytes(DTYPE_Q8_0, n));
		float	   *x = random_activations(n);
		void	   *arow = malloc(dtype_row_bytes(DTYPE_Q8_0, n));
		float		a;
		float		b;

		random_weights(DTYPE_Q8_0, wrow, n);
		quantize_row_act(DTYPE_Q8_0, x, arow, n);
		a = vec_dot(DTYPE_Q8_0, n, wrow, arow);
		b = vec_dot_path(MM_TILED, DTYPE_Q8_0, n, wrow, arow);
		CHECK(memcmp(&a, &b, sizeof a) == 0, "Q8_0 in the tiled order is vec_dot");
		free(wrow);
		free(x);
		free(arow);
	}
	/* tinyBLAS declines rows whose length is not a multiple of 8 */
	{
		int64_t		n = 36;
		float	   *wrow = random_activations(n);
		float	   *x = random_activations(n);
		float		a = vec_dot(DTYPE_F32, n, wrow, x);
		float		b = vec_dot_path(MM_TINYBLAS, DTYPE_F32, n, wrow, x);

		CHECK(memcmp(&a, &b, sizeof a) == 0, "F32 tinyBLAS on 36 elements is vec_dot");
		free(wrow);
		free(x);
	}
}

/*
 * vec_dot_block over every shape up to 9 rows x 9 activations, and 12 to
 * 17 activations (all tile kernels and their edges: odd rows, groups of 8,
 * 4 and fewer activations), equals vec_dot_path pair by pair, bit for bit,
 * in every order; also on rows too long for the tiles' prepared
 * activations.
 */
static void
test_block_shape(enum mm_path p, enum dtype w, int64_t n)
{
	enum
	{
		MAX_ROWS = 9, MAX_ACTS = 17
	};
	static const int n_acts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 17};
	enum dtype	act = quant_act_type(w);
	size_t		wb = dtype_row_bytes(w, n);
	size_t		ab = dtype_row_bytes(act, n);
	uint8_t    *wrows = malloc(wb * MAX_ROWS);
	uint8_t    *acts = malloc(ab * MAX_ACTS);
	float		out[MAX_ACTS * MAX_ROWS];
	int			bad = 0;

	for (int r = 0; r < MAX_ROWS; r++)
		random_weights(w, wrows + r * wb, n);
	for (int c = 0; c < MAX_ACTS; c++)
	{
		float	   *x = random_activations(n);

		quantize_row_act(act, x, acts + c * ab, n);
		free(x);
	}
	for (int rows = 1; rows <= MAX_ROWS; rows++)
		for (int k = 0; k < NELEMS(n_acts); k++)
		{
			int			na = n_acts[k];

			vec_dot_block(p, w, n, wrows, wb, rows, acts, ab, na, out, MAX_ROWS);
			for (int c = 0; c < na; c++)
				for (int r = 0; r < rows; r++)
				{
					float		one = vec_dot_path(p, w, n, wrows + r * wb, acts + c * ab);

					bad += memcmp(&one, &out[c * MAX_ROWS + r], sizeof one) != 0;
				}
		}
	CHECK(bad == 0, "vec_dot_block %s order %d n=%lld: %d products differ from vec_dot_path",
		  dtype_name(w), (int) p, (long long) n, bad);
	free(wrows);
	free(acts);
}

static void
test_block_kernels(void)
{
	static const enum mm_path paths[] = {MM_VEC_DOT, MM_X8_GEMV, MM_X8_GEMM, MM_TILED, MM_TINYBLAS};

	for (int t = 0; t < NELEMS(weight_types); t++)
		for (int p = 0; p < NELEMS(paths); p++)
		{
			enum dtype	w = weight_types[t];
			bool		k_quant = w == DTYPE_Q4_K || w == DTYPE_Q5_K || w == DTYPE_Q6_K;

			test_block_shape(paths[p], w, 2 * QK_K);
			test_block_shape(paths[p], w, 7 * QK_K);
			/* past KT_MAX_BLOCKS and OCT_MAX_BLOCKS (quant_avx2.c) */
			test_block_shape(paths[p], w, k_quant ? 129 * QK_K : 1025 * 32);
		}
}

/* ---- the AVX-512 build of the SIMD kernels against the AVX2 build ---- */

#define SAME_BITS(x, y) (memcmp(&(x), &(y), sizeof(x)) == 0)

/* Every product of vec_dot_block in order p, by both tables, on rows and
 * activations of every shape the tiles distinguish. */
static int
isa_block_diffs(const struct quant_kernels *a, const struct quant_kernels *b, enum mm_path p,
				enum dtype w, int64_t n, const uint8_t *wrows, size_t wb, const uint8_t *acts,
				size_t ab)
{
	static const int n_acts[] = {1, 2, 3, 4, 5, 8, 9, 13, 17};
	float		oa[17 * 9];
	float		ob[17 * 9];
	int			bad = 0;

	for (int rows = 1; rows <= 9; rows += 2)
		for (int k = 0; k < NELEMS(n_acts); k++)
		{
			a->vec_dot_block[w] (p, n, wrows, wb, rows, acts, ab, n_acts[k], oa, 9);
			b->vec_dot_block[w] (p, n, wrows, wb, rows, acts, ab, n_acts[k], ob, 9);
			for (int c = 0; c < n_acts[k]; c++)
				for (int r = 0; r < rows; r++)
					bad += !SAME_BITS(oa[c * 9 + r], ob[c * 9 + r]);
		}
	return bad;
}

/* The pair kernels of one table entry kind, compared on every row pair. */
static int
isa_pair_diffs(vec_dot_fn fa, vec_dot_fn fb, int64_t n, const uint8_t *wrows, size_t wb,
			   const uint8_t *acts, size_t ab)
{
	int			bad = 0;

	if (!fa != !fb)
		return 1;
	for (int r = 0; fa && r < 9; r++)
		for (int c = 0; c < 17; c++)
		{
			float		x = fa(n, wrows + r * wb, acts + c * ab);
			float		y = fb(n, wrows + r * wb, acts + c * ab);

			bad += !SAME_BITS(x, y);
		}
	return bad;
}

static void
test_isa_type(const struct quant_kernels *a, const struct quant_kernels *b, enum dtype w,
			  int64_t n)
{
	static const enum mm_path paths[] = {MM_VEC_DOT, MM_X8_GEMV, MM_X8_GEMM, MM_TILED, MM_TINYBLAS};
	enum dtype	act = quant_act_type(w);
	size_t		wb = dtype_row_bytes(w, n);
	size_t		ab = dtype_row_bytes(act, n);
	uint8_t    *wrows = malloc(wb * 9);
	uint8_t    *acts = malloc(ab * 17);
	uint8_t    *qb = malloc(ab);
	float	   *da = malloc((size_t) n * sizeof(float));
	float	   *db = malloc((size_t) n * sizeof(float));
	int			bad = 0;

	for (int r = 0; r < 9; r++)
		random_weights(w, wrows + r * wb, n);
	for (int c = 0; c < 17; c++)
	{
		float	   *x = random_activations(n);

		if (a->quantize[act])
		{
			a->quantize[act] (x, acts + c * ab, n);
			b->quantize[act] (x, qb, n);
			bad += memcmp(acts + c * ab, qb, ab) != 0;
		}
		else
			quantize_row_act_ref(act, x, acts + c * ab, n);
		free(x);
	}
	CHECK(bad == 0, "avx512 vs avx2: %s activations of %s differ in %d rows",
		  dtype_name(act), dtype_name(w), bad);
	if (a->dequant[w])
	{
		a->dequant[w] (wrows, da, n);
		b->dequant[w] (wrows, db, n);
		CHECK(memcmp(da, db, (size_t) n * sizeof(float)) == 0,
			  "avx512 vs avx2: dequantized %s differ", dtype_name(w));
	}
	bad = isa_pair_diffs(a->vec_dot[w], b->vec_dot[w], n, wrows, wb, acts, ab) +
		isa_pair_diffs(a->vec_dot_x8_gemv[w], b->vec_dot_x8_gemv[w], n, wrows, wb, acts, ab) +
		isa_pair_diffs(a->vec_dot_x8_gemm[w], b->vec_dot_x8_gemm[w], n, wrows, wb, acts, ab) +
		isa_pair_diffs(a->vec_dot_tiled[w], b->vec_dot_tiled[w], n, wrows, wb, acts, ab) +
		isa_pair_diffs(a->vec_dot_tinyblas[w], b->vec_dot_tinyblas[w], n, wrows, wb, acts, ab);
	CHECK(bad == 0, "avx512 vs avx2: %d %s pair products (n=%lld) differ", bad, dtype_name(w),
		  (long long) n);
	bad = 0;
	if (a->vec_dot_block[w])
		for (int p = 0; p < NELEMS(paths); p++)
			bad += isa_block_diffs(a, b, paths[p], w, n, wrows, wb, acts, ab);
	CHECK(bad == 0, "avx512 vs avx2: %d %s block products (n=%lld) differ", bad, dtype_name(w),
		  (long long) n);
	free(wrows);
	free(acts);
	free(qb);
	free(da);
	free(db);
}

/*
 * The AVX-512 table must give the AVX2 table's bits in every entry
 * (DESIGN.md §3.9); runs where the CPU has both.
 */
static void
test_isa_tables(void)
{
	if (!quant_avx2_usable() || !quant_avx512_usable())
	{
		printf("SKIP avx512 vs avx2 kernels: this CPU lacks AVX-512 F/BW/VL/VNNI\n");
		return;
	}
	for (int t = 0; t < NELEMS(weight_types); t++)
	{
		enum dtype	w = weight_types[t];
		bool		k_quant = w == DTYPE_Q4_K || w == DTYPE_Q5_K || w == DTYPE_Q6_K;

		test_isa_type(&quant_kernels_avx2, &quant_kernels_avx512, w, 3 * QK_K);
		test_isa_type(&quant_kernels_avx2, &quant_kernels_avx512, w, k_quant ? 129 * QK_K : 1025 * 32);
	}
}

/*
 * Rows whose sum shows the order: 2^25 and -2^25 cancel only when added
 * to each other before a 1 is added to either (a 1 is lost next to 2^25).
 * Weight element i, times an activation of all 1024s, lands in vec_dot's
 * lane i % 32 and tinyBLAS's lane i % 8.
 */
static float
order_dot(enum mm_path p, enum dtype t, int64_t n, const float *wv)
{
	float		x[64];
	uint16_t	w16[64];
	uint16_t	x16[64];
	float		wf[64];

	for (int64_t i = 0; i < n; i++)
	{
		x[i] = 1024.0f;
		wf[i] = wv[i];
		w16[i] = t == DTYPE_BF16 ? f32_to_bf16(wv[i]) : f32_to_f16(wv[i]);
		x16[i] = t == DTYPE_BF16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
	}
	if (t == DTYPE_F32)
		return vec_dot_path_ref(p, t, n, wf, x);
	return vec_dot_path_ref(p, t, n, w16, x16);
}

static void
test_float_orders(void)
{
	const float big = 32768.0f;	/* times 1024: 2^25 */
	const float one = 1.0f / 1024.0f;
	float		w[64] = {big, -big, one, one};
	float		tail[64] = {0};

	/* vec_dot's lanes 0..3 meet as (0+1)+(2+3) for F32 and F16 (hadds) */
	CHECK(order_dot(MM_VEC_DOT, DTYPE_F32, 32, w) == 2.0f &&
		  order_dot(MM_VEC_DOT, DTYPE_F16, 32, w) == 2.0f,
		  "F32/F16 vec_dot end in two hadds");
	/* ... and as (0+2)+(1+3) for BF16, as in tinyBLAS's hsum */
	CHECK(order_dot(MM_VEC_DOT, DTYPE_BF16, 32, w) == 0.0f &&
		  order_dot(MM_TINYBLAS, DTYPE_F16, 32, w) == 0.0f &&
		  order_dot(MM_TINYBLAS, DTYPE_F32, 32, w) == 0.0f,
		  "BF16 vec_dot and tinyBLAS end in ((0+4)+(2+6))+((1+5)+(3+7))");
	/* lanes 0 and 16 of vec_dot (accumulators 0 and 2) meet first */
	memset(w, 0, sizeof w);
	w[0] = big;
	w[16] = -big;
	w[8] = one;
	w[24] = one;
	CHECK(order_dot(MM_VEC_DOT, DTYPE_F16, 32, w) == 2.0f &&
		  order_dot(MM_VEC_DOT, DTYPE_BF16, 32, w) == 2.0f,
		  "vec_dot adds its accumulators (0+2)+(1+3)");
	/*
	 * Elements 0, 40 and 48 share tinyBLAS's lane 0, summed in turn; in
	 * vec_dot, lane 16 (element 48) meets lane 0 before lane 8 (40) does.
	 */
	memset(w, 0, sizeof w);
	w[0] = big;
	w[40] = -big;
	w[48] = one;
	CHECK(order_dot(MM_TINYBLAS, DTYPE_F32, 56, w) == 1.0f &&
		  order_dot(MM_VEC_DOT, DTYPE_F32, 64, w) == 0.0f,
		  "tinyBLAS has 8 lanes, vec_dot 32");

	/*
	 * F32 tail past 32: the last n % 4 products are fused.  With (1 + e)^2
	 * = 1 + 2e + e^2 and e = 2^-12, the rounded product loses e^2, which a
	 * fused subtraction of it then leaves.
	 */
	{
		float		e = 1.0f + 1.0f / 4096.0f;
		float		x[40];

		for (int i = 0; i < 40; i++)
			x[i] = i >= 32 ? e : 0.0f;
		tail[32] = e;
		tail[36] = -e;
		CHECK(vec_dot_ref(DTYPE_F32, 37, tail, x) == -1.0f / 16777216.0f,
			  "F32 vec_dot fuses the last n %% 4 products");
		tail[36] = 0.0f;
		tail[35] = -e;
		CHECK(vec_dot_ref(DTYPE_F32, 37, tail, x) == 0.0f,
			  "F32 vec_dot rounds the products before the last n %% 4");
	}
}

/* ---- real model rows against gguf-py ---- */

static const char *
model_dir(char *buf, size_t len)
{
	const char *env = getenv("DR1_MODEL_CACHE");
	const char *home = getenv("HOME");

	if (env && *env)
		snprintf(buf, len, "%s", env);
	else
		snprintf(buf, len, "%s/.cache/deepseek_r1/models", home ? home : ".");
	return buf;
}

/* "# file NAME size N sha256 H": 1 when NAME is in dir with size N. */
static int
golden_file_ok(const char *line, const char *name, const char *dir)
{
	char		fname[256];
	long long	size;
	char		path[1024];
	FILE	   *f;
	long long	actual;

	if (sscanf(line, "# file %255s size %lld", fname, &size) != 2 || strcmp(fname, name) != 0)
		return -1;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	actual = ftell(f);
	fclose(f);
	return actual == size;
}

/* Looks NAME up in the header lines collected so far. */
static int
golden_model_present(char headers[][512], int nheaders, const char *name, const char *dir)
{
	for (int i = 0; i < nheaders; i++)
	{
		int			ok = golden_file_ok(headers[i], name, dir);

		if (ok >= 0)
			return ok;
	}
	return 0;
}

static void
golden_row(const char *path, char *fields[], const char *values)
{
	enum dtype	t = (enum dtype) atoi(fields[3]);
	int64_t		n = atoll(fields[4]);
	long long	offset = atoll(fields[6]);
	size_t		bytes = dtype_row_bytes(t, n);
	uint8_t    *raw = malloc(bytes);
	float	   *r = malloc((size_t) n * sizeof(float));
	float	   *f = malloc((size_t) n * sizeof(float));
	FILE	   *fp = fopen(path, "rb");
	int			bad = 0;
	const char *p = values;

	CHECK(strcmp(dtype_name(t), fields[2]) == 0, "golden type %s is number %d", fields[2], t);
	CHECK(fp && fseek(fp, offset, SEEK_SET) == 0 && fread(raw, 1, bytes, fp) == bytes,
		  "read %zu bytes at %lld of %s", bytes, offset, path);
	if (fp)
		fclose(fp);
	dequantize_row_ref(t, raw, r, n);
	dequantize_row(t, raw, f, n);
	for (int i = 0; i < GOLDEN_VALUES && i < n; i++)
	{
		char	   *end;
		float		want = strtof(p, &end);

		if (end == p || fabsf(r[i] - want) > 1e-6f * fabsf(want) || r[i] != f[i])
			bad++;
		p = end;
	}
	CHECK(bad == 0, "%s %s row %s: %d of %d values differ from gguf-py",
		  fields[1], fields[2], fields[5], bad, GOLDEN_VALUES);
	free(raw);
	free(r);
	free(f);
}

static void
test_golden(void)
{
	FILE	   *tsv = fopen(GOLDEN_TSV, "r");
	char		dir[768];
	char		headers[8][512];
	int			nheaders = 0;
	char		line[8192];
	char		skipped[4][256] = {{0}};
	int			rows = 0;

	CHECK(tsv != NULL, "cannot open %s (run from the repository root)", GOLDEN_TSV);
	if (!tsv)
		return;
	model_dir(dir, sizeof dir);
	while (fgets(line, sizeof line, tsv))
	{
		char	   *fields[7];
		char	   *p = line;
		char		path[1024];

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#')
		{
			if (strncmp(line, "# file ", 7) == 0 && nheaders < 8)
				snprintf(headers[nheaders++], sizeof headers[0], "%.511s", line);
			continue;
		}
		/* seven tab-separated fields, then the values */
		for (int i = 0; i < 7 && p; i++)
		{
			fields[i] = p;
			p = strchr(p, '\t');
			if (p)
				*p++ = '\0';
		}
		CHECK(p != NULL, "malformed line in %s", GOLDEN_TSV);
		if (!p)
			continue;
		if (!golden_model_present(headers, nheaders, fields[0], dir))
		{
			for (int i = 0; i < 4; i++)
				if (strcmp(skipped[i], fields[0]) == 0)
					break;
				else if (!skipped[i][0])
				{
					snprintf(skipped[i], sizeof skipped[i], "%s", fields[0]);
					check_missing("golden dequantization: %s/%s absent or of another size",
								  dir, fields[0]);
					break;
				}
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, fields[0]);
		golden_row(path, fields, p);
		rows++;
	}
	fclose(tsv);
	printf("golden dequantization: %d rows compared\n", rows);
}

/* ---- benchmark (printed only) ---- */

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best of a few timings of the same work, in ns per element. */
static double
time_dot(bool fast, enum dtype w, int64_t n, const uint8_t *m, int rows, const void *a)
{
	size_t		row_bytes = dtype_row_bytes(w, n);
	volatile float sink = 0.0f;
	double		best = INFINITY;

	for (int trial = 0; trial < 5; trial++)
	{
		double		start = now_seconds();

		for (int r = 0; r < rows; r++)
			sink += fast ? vec_dot(w, n, m + r * row_bytes, a)
				: vec_dot_ref(w, n, m + r * row_bytes, a);
		best = fmin(best, (now_seconds() - start) / ((double) rows * n) * 1e9);
	}
	(void) sink;
	return best;
}

static void
bench_dot(enum dtype w)
{
	const int64_t n = 4864;
	const int	rows = 512;
	enum dtype	act = quant_act_type(w);
	size_t		row_bytes = dtype_row_bytes(w, n);
	uint8_t    *m = malloc(row_bytes * rows);
	float	   *x = random_activations(n);
	void	   *a = malloc(dtype_row_bytes(act, n));
	double		ref;
	double		fast;

	for (int r = 0; r < rows; r++)
		random_weights(w, m + r * row_bytes, n);
	quantize_row_act(act, x, a, n);
	ref = time_dot(false, w, n, m, rows, a);
	fast = time_dot(true, w, n, m, rows, a);
	printf("bench %s dot (n=%lld, best of 5): reference %.3f ns/elem, %s %.3f ns/elem, x%.1f\n",
		   dtype_name(w), (long long) n, ref, quant_init(), fast, ref / fast);
	free(m);
	free(x);
	free(a);
}

int
main(void)
{
	test_dispatch();
	test_f16_edges();
	test_bf16_edges();
#ifdef HAVE_X86
	test_f16_vs_f16c();
#endif
	test_quantize_fast_vs_ref();
	test_quantize_ties();
	test_round_trip();
	test_weights();
	test_extremes();
	test_mm_path_for();
	test_path_kernels();
	test_block_kernels();
	test_isa_tables();
	test_float_orders();
	test_golden();
	bench_dot(DTYPE_Q4_1);
	bench_dot(DTYPE_Q4_K);
	return check_done("quant");
}
