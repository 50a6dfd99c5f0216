/*
 * test_attention.c — the attention kernels of both KV types: AVX2 equal to
 * the scalar reference bit for bit in both summation orders, and the
 * scalar reference within float rounding of a double-precision attention.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check.h"
#include "f16.h"
#include "quant.h"

static float
frand(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return ((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void
fill_f16(uint16_t *x, size_t n, float amp, unsigned *st)
{
	for (size_t i = 0; i < n; i++)
		x[i] = f32_to_f16(amp * frand(st));
}

/* Rows of n elements, amp * random, as a cache of the type stores them. */
static void
fill_rows(enum kv_type type, void *x, size_t n, float amp, unsigned *st)
{
	float		f[32 * 128];

	if (type == KV_F16)
	{
		fill_f16(x, n, amp, st);
		return;
	}
	for (size_t i = 0; i < n; i++)
		f[i] = amp * frand(st);
	quantize_row_act_ref(DTYPE_Q8_0, f, x, (int64_t) n);
}

/* One block of keys and values through a kernel set; p from the scores,
 * in F16 where the values are. */
static void
run_kernels(const struct attention_kernels *k, enum kv_type type, const void *q,
			const void *keys, const void *vals, int32_t count, int32_t head_dim, int32_t first,
			bool gemm, float *scores, float *acc)
{
	float		p[64];

	if (type == KV_Q8_0)
		k->scores_q8_0(q, keys, count, head_dim / QK8_0, head_dim, 0.125f, scores);
	else
		k->scores(q, keys, count, head_dim, head_dim, gemm, 0.125f, scores);
	for (int32_t j = 0; j < count; j++)
		p[j] = fabsf(scores[j]) / 16;
	if (type == KV_F16)
		attention_kernels_scalar.round_f16(p, count);
	memset(acc, 0, sizeof(float) * 32 * head_dim);
	if (type == KV_Q8_0)
		k->values_q8_0(p, vals, count, head_dim / QK8_0, head_dim, first, gemm, acc);
	else
		k->values(p, vals, count, head_dim, head_dim, first, gemm, acc);
}

/* A query of head_dim, in F16-rounded floats or in q8_0 blocks. */
static void
fill_query(enum kv_type type, float amp, int32_t head_dim, unsigned *st, void *q)
{
	float		f[128];

	for (int32_t d = 0; d < head_dim; d++)
		f[d] = f16_to_f32(f32_to_f16(amp * frand(st)));
	if (type == KV_Q8_0)
		quantize_row_act_ref(DTYPE_Q8_0, f, q, head_dim);
	else
		memcpy(q, f, sizeof(float) * head_dim);
}

static void
test_simd_equals_scalar(enum kv_type type)
{
	static const int32_t dims[] = {64, 128, 96};
	unsigned	st = 7;

	if (strcmp(quant_init(), "scalar") == 0)
	{
		printf("SKIP attention AVX2 kernels: this CPU runs the scalar ones\n");
		return;
	}
	for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
		for (int g = 0; g < 2; g++)
		{
			int32_t		hd = dims[di];
			bool		gemm = g;
			int32_t		count = 32 - (int32_t) di;	/* whole groups of 4 keys, and not */
			float		q[128];
			uint16_t	keys[32 * 128];	/* F16, or fewer bytes of q8_0 */
			uint16_t	vals[32 * 128];
			float		s1[32], s2[32];
			float	   *a1 = calloc(32 * 128, sizeof(float));
			float	   *a2 = calloc(32 * 128, sizeof(float));

			if (!gemm && hd % 32 != 0)
				continue;
			fill_query(type, 40, hd, &st, q);
			/* large values, as in models with massive activations */
			fill_rows(type, keys, (size_t) count * hd, 300, &st);
			fill_rows(type, vals, (size_t) count * hd, 50, &st);
			run_kernels(&attention_kernels_scalar, type, q, keys, vals, count, hd, 32 * (int32_t) di,
						gemm, s1, a1);
			run_kernels(&attention_kernels_avx2, type, q, keys, vals, count, hd, 32 * (int32_t) di,
						gemm, s2, a2);
			CHECK(memcmp(s1, s2, sizeof(float) * count) == 0, "%s scores differ (dim %d, gemm %d, %d keys)",
				  kv_type_name(type), hd, gemm, count);
			CHECK(memcmp(a1, a2, sizeof(float) * 32 * hd) == 0, "%s values differ (dim %d, gemm %d)",
				  kv_type_name(type), hd, gemm);
			free(a1);
			free(a2);
		}
}

/* Rounding through F16 in bulk equals the scalar conversion, specials included. */
static void
test_round_f16(void)
{
	float		x[37];
	float		y[37];
	unsigned	st = 11;

	if (strcmp(quant_init(), "scalar") == 0)
		return;
	for (int i = 0; i < 37; i++)
		x[i] = 70000 * frand(&st) * frand(&st);
	x[3] = INFINITY;
	x[4] = -0.0f;
	x[5] = 65520.0f;			/* rounds up to infinity */
	x[6] = 1e-9f;				/* below the smallest subnormal half */
	x[7] = 3e-6f;				/* a subnormal half */
	memcpy(y, x, sizeof x);
	attention_kernels_scalar.round_f16(x, 37);
	attention_kernels_avx2.round_f16(y, 37);
	CHECK(memcmp(x, y, sizeof x) == 0, "round_f16: AVX2 and scalar differ");
}

static void
test_against_double(void)
{
	int32_t		hd = 64;
	unsigned	st = 11;

	for (int g = 0; g < 2; g++)
	{
		float		q[64];
		uint16_t	keys[32 * 64];
		float		s[32];
		float		acc[32 * 64];
		double		worst = 0;
		uint16_t	vals[32 * 64];

		for (int32_t d = 0; d < hd; d++)
			q[d] = f16_to_f32(f32_to_f16(frand(&st)));
		fill_f16(keys, sizeof keys / 2, 1, &st);
		fill_f16(vals, sizeof vals / 2, 1, &st);
		run_kernels(&attention_kernels_scalar, KV_F16, q, keys, vals, 32, hd, 0, g, s, acc);
		for (int32_t j = 0; j < 32; j++)
		{
			double		ref = 0;

			for (int32_t d = 0; d < hd; d++)
				ref += (double) q[d] * f16_to_f32(keys[j * hd + d]);
			ref *= 0.125;
			if (fabs(ref - s[j]) > worst)
				worst = fabs(ref - s[j]);
		}
		CHECK(worst < 1e-5, "scores off a double dot by %g (gemm %d)", worst, g);
	}
}

int
main(void)
{
	test_simd_equals_scalar(KV_F16);
	test_simd_equals_scalar(KV_Q8_0);
	test_round_f16();
	test_against_double();
	return check_done("attention");
}
