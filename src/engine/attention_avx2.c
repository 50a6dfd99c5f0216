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

/* The accumulator row of position pos: its lane in the order (attention.c). */
static inline float *
acc_row(float *acc, int32_t pos, bool gemm, int32_t head_dim)
{
	return acc + (size_t) (pos % (gemm ? 8 : 32)) * head_dim;
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
		float	   *a = acc_row(acc, first + j, gemm, head_dim);
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

/*
 * The exact integer dot of two q8_0 blocks' quants: |x| times y with x's
 * sign, in maddubs' unsigned x signed pairs, which cannot saturate since
 * q8_0 quants lie in -127..127.
 */
AVX2 static inline int
dot_q8_0_quants(const int8_t *x, const int8_t *y)
{
	__m256i		a = _mm256_loadu_si256((const __m256i *) x);
	__m256i		b = _mm256_loadu_si256((const __m256i *) y);
	__m256i		pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
	__m256i		sums = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
	__m128i		t = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));

	t = _mm_add_epi32(t, _mm_unpackhi_epi64(t, t));
	t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 1));
	return _mm_cvtsi128_si32(t);
}

/* The scalar kernel's float steps, each block's integer dot exact. */
AVX2 static void
scores_q8_0_avx2(const struct block_q8_0 *qh, const struct block_q8_0 *k, int32_t count,
				 int32_t stride, int32_t head_dim, float scale, float *scores)
{
	for (int32_t j = 0; j < count; j++, k += stride)
	{
		float		sum = 0.0f;

		for (int32_t b = 0; b < head_dim / QK8_0; b++)
			sum += _cvtsh_ss(k[b].d) * _cvtsh_ss(qh[b].d)
				* (float) dot_q8_0_quants(k[b].qs, qh[b].qs);
		scores[j] = sum * scale;
	}
}

/* d * q is exact in F32, as the scalar dequantization's */
AVX2 static void
values_q8_0_avx2(const float *p, const struct block_q8_0 *v, int32_t count, int32_t stride,
				 int32_t head_dim, int32_t first, bool gemm, float *acc)
{
	for (int32_t j = 0; j < count; j++, v += stride)
	{
		float	   *a = acc_row(acc, first + j, gemm, head_dim);
		__m256		pj = _mm256_set1_ps(p[j]);

		for (int32_t b = 0; b < head_dim / QK8_0; b++, a += QK8_0)
		{
			__m256		d = _mm256_set1_ps(_cvtsh_ss(v[b].d));

			for (int i = 0; i < QK8_0; i += 8)
			{
				__m128i		q8 = _mm_loadl_epi64((const __m128i *) (v[b].qs + i));
				__m256		x = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)));

				_mm256_storeu_ps(a + i, _mm256_fmadd_ps(pj, x, _mm256_loadu_ps(a + i)));
			}
		}
	}
}

const struct attention_kernels attention_kernels_avx2 = {
	scores_avx2, values_avx2, round_f16_avx2, scores_q8_0_avx2, values_q8_0_avx2
};
