/*
 * attention_avx2.c — the attention kernels with AVX2, FMA and F16C, equal
 * bit for bit to the scalar ones in attention.c: each lane of a vector is
 * one of the scalar lanes, fed the same fused multiply-adds in the same
 * order.  Compiled with target attributes, chosen at run time.
 */
#include <immintrin.h>

#include "attention.h"
#include "f16.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline __m256
load_f16x8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
}

/* ((0+4)+(2+6)) + ((1+5)+(3+7)) */
AVX2 static inline float
sum_gemm(__m256 x)
{
	__m128		t = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));

	t = _mm_add_ps(t, _mm_movehl_ps(t, t));
	t = _mm_add_ss(t, _mm_movehdup_ps(t));
	return _mm_cvtss_f32(t);
}

/* accumulators (0+2)+(1+3), then lanes ((0+4)+(1+5)) + ((2+6)+(3+7)) */
AVX2 static inline float
sum_dot(const __m256 *acc)
{
	__m256		x = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
	__m128		t = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));

	t = _mm_hadd_ps(t, t);
	t = _mm_hadd_ps(t, t);
	return _mm_cvtss_f32(t);
}

/* The gemm order: 8 lanes fused along the head; four keys at a time so
 * that four independent chains hide the latency of the fused adds. */
AVX2 static void
scores_gemm(const float *qh, const uint16_t *k, int32_t count, int32_t stride,
			int32_t head_dim, float scale, float *scores)
{
	int32_t		j = 0;

	for (; j + 4 <= count; j += 4, k += 4 * stride)
	{
		__m256		acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
		_mm256_setzero_ps(), _mm256_setzero_ps()};

		for (int32_t d = 0; d < head_dim; d += 8)
		{
			__m256		q = _mm256_loadu_ps(qh + d);

			for (int a = 0; a < 4; a++)
				acc[a] = _mm256_fmadd_ps(q, load_f16x8(k + a * stride + d), acc[a]);
		}
		for (int a = 0; a < 4; a++)
			scores[j + a] = sum_gemm(acc[a]) * scale;
	}
	for (; j < count; j++, k += stride)
	{
		__m256		acc = _mm256_setzero_ps();

		for (int32_t d = 0; d < head_dim; d += 8)
			acc = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), load_f16x8(k + d), acc);
		scores[j] = sum_gemm(acc) * scale;
	}
}

AVX2 static void
scores_avx2(const float *qh, const uint16_t *k, int32_t count, int32_t stride,
			int32_t head_dim, bool gemm, float scale, float *scores)
{
	if (gemm)
	{
		scores_gemm(qh, k, count, stride, head_dim, scale, scores);
		return;
	}
	for (int32_t j = 0; j < count; j++, k += stride)
	{
		__m256		acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
		_mm256_setzero_ps(), _mm256_setzero_ps()};

		for (int32_t d = 0; d < head_dim; d += 32)
			for (int a = 0; a < 4; a++)
				acc[a] = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d + 8 * a),
										 load_f16x8(k + d + 8 * a), acc[a]);
		scores[j] = sum_dot(acc) * scale;
	}
}

AVX2 static void
values_avx2(const float *p, const uint16_t *v, int32_t count, int32_t stride,
			int32_t head_dim, int32_t first, bool gemm, float *acc)
{
	for (int32_t j = 0; j < count; j++, v += stride)
	{
		float	   *a = acc + (size_t) ((first + j) % (gemm ? 8 : 32)) * head_dim;
		__m256		pj = _mm256_set1_ps(p[j]);

		for (int32_t d = 0; d < head_dim; d += 8)
			_mm256_storeu_ps(a + d, _mm256_fmadd_ps(pj, load_f16x8(v + d), _mm256_loadu_ps(a + d)));
	}
}

/* F16C rounds to nearest even, as f32_to_f16 does (test_quant checks) */
AVX2 static void
round_f16_avx2(float *x, int32_t n)
{
	int32_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i),
																_MM_FROUND_TO_NEAREST_INT)));
	for (; i < n; i++)
		x[i] = f16_to_f32(f32_to_f16(x[i]));
}

const struct attention_kernels attention_kernels_avx2 = {
	scores_avx2, values_avx2, round_f16_avx2
};
