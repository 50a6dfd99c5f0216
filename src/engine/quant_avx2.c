/*
 * quant_avx2.c — AVX2+FMA+F16C versions of the hot kernels, and (compiled a
 * second time by quant_avx512.c) the same kernels for AVX-512 machines.
 *
 * Only functions carry the target attribute, so this file builds with
 * portable flags and nothing here runs unless the table's usable() says the
 * CPU can.  Integer parts are exact and equal to the reference; the float
 * accumulation of the quantized vec_dots keeps ggml's 8 lanes, so their
 * sums differ from quant_ref.c only in their rounding order, while the
 * float types' vec_dot and the kernels of the other summation orders
 * (quant.h, enum mm_path) equal their reference exactly.  Activation
 * quantization is bit-identical to the reference (same float products,
 * round to nearest even on both sides).
 *
 * Integer dot products of bytes use maddubs, which multiplies unsigned by
 * signed bytes: unsigned weights (Q4_1, Q5_1, K-quants) go in directly;
 * signed ones pass their sign to the activation (|x| * sign(y, x)).  Weight
 * magnitudes stay small enough that the 16-bit pair sums never saturate.
 *
 * The AVX-512 build is this source with a wider target: the compiler gets
 * 32 vector registers and EVEX encodings, and dot_u8_s8 becomes one VNNI
 * instruction.  Every float operation is the same one, in the same order,
 * so the two builds give bit-identical results (DESIGN.md §3.9: one
 * numerics on every machine); the integer sums are exact in both, since
 * the pair sums that maddubs would saturate never reach int16's range.
 */
#include "quant.h"

#include <stddef.h>
#include <string.h>

#include "f16.h"
#include "quant_kernels.h"

#ifdef QUANT_AVX512
#define QUANT_TABLE quant_kernels_avx512
#define QUANT_USABLE quant_avx512_usable
#define QUANT_NAME "avx512"
#else
#define QUANT_TABLE quant_kernels_avx2
#define QUANT_USABLE quant_avx2_usable
#define QUANT_NAME "avx2"
#endif

#if defined(__x86_64__) || defined(__i386__)

#include <cpuid.h>
#include <immintrin.h>

#ifdef QUANT_AVX512
#define SIMD __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#else
#define SIMD __attribute__((target("avx2,fma,f16c")))
#endif

/*
 * __builtin_cpu_supports also checks that the OS saves the registers of
 * each extension; F16C is asked of cpuid directly because not every
 * compiler knows its name.
 */
int
QUANT_USABLE(void)
{
	unsigned int eax;
	unsigned int ebx;
	unsigned int ecx;
	unsigned int edx;

	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
		return 0;
#ifdef QUANT_AVX512
	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
		!__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512vnni"))
		return 0;
#endif
	return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

/* ---- helpers ---- */

SIMD static inline float
hsum_ps(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

SIMD static inline int
hsum_epi32(__m256i v)
{
	__m128i		s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
	return _mm_cvtsi128_si32(s);
}

SIMD static inline float
hmax_ps(__m256 v)
{
	__m128		m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

SIMD static inline float
half(f16_t h)
{
	return _cvtsh_ss(h);
}

/* 8 sums of 4 products of unsigned bytes u with signed bytes s. */
SIMD static inline __m256i
dot_u8_s8(__m256i u, __m256i s)
{
#ifdef QUANT_AVX512
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* The same for two signed operands; y must not hold -128 (activations never do). */
SIMD static inline __m256i
dot_s8_s8(__m256i x, __m256i y)
{
	return dot_u8_s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The 32 nibbles of a 32-element block, element order: low nibbles first. */
SIMD static inline __m256i
nibbles32(const uint8_t *qs)
{
	__m128i		raw = _mm_loadu_si128((const __m128i *) qs);

	return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
							_mm256_set1_epi8(0x0f));
}

/* 0x10 in byte e where bit e of the 32-bit little-endian qh is set. */
SIMD static inline __m256i
fifth_bits32(const uint8_t *qh4)
{
	const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
											2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
	uint32_t	qh;
	__m256i		v;

	memcpy(&qh, qh4, sizeof qh);
	v = _mm256_shuffle_epi8(_mm256_set1_epi32((int) qh), spread);
	v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
	return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/*
 * The 8 scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K/Q5_K block:
 * k_scale_min() for all sub-blocks, four bytes at a time.
 */
SIMD static inline __m128i
k_scales_mins(const uint8_t *s)
{
	uint32_t	u[3];

	memcpy(u, s, sizeof u);
	return _mm_setr_epi32((int) (u[0] & 0x3f3f3f3f),
						  (int) ((u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4),
						  (int) (u[1] & 0x3f3f3f3f),
						  (int) (((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4));
}

/* Scale k of the 8 16-bit scales held in each lane of scales, in every slot. */
SIMD static inline __m256i
k_scale(__m256i scales, int k)
{
	return _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short) ((2 * k + 1) << 8 | 2 * k)));
}

/*
 * The unsigned weights of sub-blocks 2j (low nibbles of the 32 bytes
 * qs[32j..]) and 2j+1 (their high nibbles) of a Q4_K/Q5_K block;
 * fifth_lo and fifth_hi hold each element's fifth bit (0x10) for Q5_K, or
 * zeros.
 */
SIMD static inline void
k_weights(const uint8_t *qs, __m256i fifth_lo, __m256i fifth_hi, int j, __m256i *lo, __m256i *hi)
{
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	__m256i		q = _mm256_loadu_si256((const __m256i *) (qs + 32 * j));

	*lo = _mm256_or_si256(_mm256_and_si256(q, low4), fifth_lo);
	*hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), fifth_hi);
}

/* 8 partial sums of sc*q*y over sub-blocks 2j and 2j+1 (weights lo and hi,
 * scales slo and shi as k_scale gives them) against activations qy. */
SIMD static inline __m256i
k_pair_dot(__m256i lo, __m256i hi, __m256i slo, __m256i shi, const int8_t *qy, int j)
{
	__m256i		plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *) (qy + 64 * j)));
	__m256i		phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *) (qy + 64 * j + 32)));

	return _mm256_add_epi32(_mm256_madd_epi16(plo, slo), _mm256_madd_epi16(phi, shi));
}

/* Both of the above: the partial sums of sub-blocks 2j and 2j+1. */
SIMD static inline __m256i
k_pair(const uint8_t *qs, __m256i fifth_lo, __m256i fifth_hi, const int8_t *qy,
	   __m256i scales, int j)
{
	__m256i		lo;
	__m256i		hi;

	k_weights(qs, fifth_lo, fifth_hi, j, &lo, &hi);
	return k_pair_dot(lo, hi, k_scale(scales, 2 * j), k_scale(scales, 2 * j + 1), qy, j);
}

/* 0x10 in each byte of qh whose bit b is set. */
SIMD static inline __m256i
k_fifth_bits(__m256i qh, int b)
{
	const __m256i mask = _mm256_set1_epi8((char) (1 << b));

	return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, mask), mask),
							_mm256_set1_epi8(0x10));
}

/* k_pair for Q5_K: bit 2j (2j+1) of qh[l] is the fifth bit of element l of
 * sub-block 2j (2j+1). */
SIMD static inline __m256i
k_pair5(const uint8_t *qs, __m256i qh, const int8_t *qy, __m256i scales, int j)
{
	return k_pair(qs, k_fifth_bits(qh, 2 * j), k_fifth_bits(qh, 2 * j + 1), qy, scales, j);
}

/* ---- dot products ---- */

SIMD static inline __m256
load_f16x8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
}

SIMD static inline __m256
load_bf16x8(const uint16_t *p)
{
	__m256i		v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* Elements i..i+7 of a float row of type t, as floats. */
SIMD static inline __m256
load_x8(enum dtype t, const void *row, int64_t i)
{
	if (t == DTYPE_F16)
		return load_f16x8((const uint16_t *) row + i);
	if (t == DTYPE_BF16)
		return load_bf16x8((const uint16_t *) row + i);
	return _mm256_loadu_ps((const float *) row + i);
}

/*
 * ggml's float vec_dot (quant_ref.c, ggml_lanes): 4 accumulators of 8
 * lanes over n elements (a multiple of 32), added (0+2)+(1+3).
 */
SIMD static inline __m256
ggml_lanes(enum dtype t, int64_t n, const void *w, const void *a)
{
	__m256		acc[4];

	for (int k = 0; k < 4; k++)
		acc[k] = _mm256_setzero_ps();
	for (int64_t i = 0; i < n; i += 32)
		for (int k = 0; k < 4; k++)
			acc[k] = _mm256_fmadd_ps(load_x8(t, w, i + 8 * k), load_x8(t, a, i + 8 * k), acc[k]);
	return _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
}

/* GGML_F32x8_REDUCE's end: the halves added, then two hadds. */
SIMD static inline float
hadd_sum(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_hadd_ps(s, s);
	return _mm_cvtss_f32(_mm_hadd_ps(s, s));
}

SIMD static float
dot_f32(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;

	return f32_dot_tail(w, a, np, n, hadd_sum(ggml_lanes(DTYPE_F32, np, w, a)));
}

SIMD static float
dot_f16(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;

	return half_dot_tail(DTYPE_F16, w, a, np, n, hadd_sum(ggml_lanes(DTYPE_F16, np, w, a)));
}

/* ggml's BF16 vec_dot ends with the horizontal sum tinyBLAS uses. */
SIMD static float
dot_bf16(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;

	return half_dot_tail(DTYPE_BF16, w, a, np, n, hsum_ps(ggml_lanes(DTYPE_BF16, np, w, a)));
}

/*
 * The 32-element types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), ggml's vec_dot for
 * each: per block, the integer dot product times d_w * d_a fused into 8
 * float lanes; for Q4_1/Q5_1 also the scalar sum of m_w * s_a.  One kernel
 * computes a tile of rows x activations: each pair keeps its own
 * accumulators, updated in the same order as a lone vec_dot, so a tile's
 * results equal vec_dot's bit for bit, while the weight block is unpacked
 * once per row and the activation block loaded once per column.
 */
#define TILE_MAX 4

/* The 32 weights of a block as bytes: unsigned (0..31) for the types with
 * a min, signed otherwise. */
SIMD static inline __m256i
block32_weights(enum dtype t, const void *blk)
{
	switch (t)
	{
		case DTYPE_Q4_0:
			return _mm256_sub_epi8(nibbles32(((const struct block_q4_0 *) blk)->qs),
								   _mm256_set1_epi8(8));
		case DTYPE_Q4_1:
			return nibbles32(((const struct block_q4_1 *) blk)->qs);
		case DTYPE_Q5_0:
			{
				const struct block_q5_0 *x = blk;

				return _mm256_sub_epi8(_mm256_or_si256(nibbles32(x->qs), fifth_bits32(x->qh)),
									   _mm256_set1_epi8(16));
			}
		case DTYPE_Q5_1:
			{
				const struct block_q5_1 *x = blk;

				return _mm256_or_si256(nibbles32(x->qs), fifth_bits32(x->qh));
			}
		default:
			return _mm256_loadu_si256((const __m256i *) ((const struct block_q8_0 *) blk)->qs);
	}
}

static inline size_t
block32_bytes(enum dtype t)
{
	switch (t)
	{
		case DTYPE_Q4_0:
			return sizeof(struct block_q4_0);
		case DTYPE_Q4_1:
			return sizeof(struct block_q4_1);
		case DTYPE_Q5_0:
			return sizeof(struct block_q5_0);
		case DTYPE_Q5_1:
			return sizeof(struct block_q5_1);
		default:
			return sizeof(struct block_q8_0);
	}
}

/* Every 32-element block starts with its scale d; those with a min follow
 * it with m, and pair with Q8_1 activations (d, s, qs), the others with
 * Q8_0 (d, qs). */
static inline bool
block32_has_min(enum dtype t)
{
	return t == DTYPE_Q4_1 || t == DTYPE_Q5_1;
}

SIMD static inline __attribute__((always_inline)) void
dot32_tile(enum dtype t, int R, int C, int64_t n, const uint8_t *w, size_t w_stride,
		   const uint8_t *a, size_t a_stride, float *out, size_t out_stride)
{
	bool		has_min = block32_has_min(t);
	size_t		wb = block32_bytes(t);
	size_t		ab = has_min ? sizeof(struct block_q8_1) : sizeof(struct block_q8_0);
	__m256		acc[TILE_MAX][TILE_MAX];
	float		mins[TILE_MAX][TILE_MAX];

#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
		{
			acc[r][c] = _mm256_setzero_ps();
			mins[r][c] = 0.0f;
		}
	for (int64_t b = 0; b < n / 32; b++)
	{
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
		{
			const uint8_t *xb = w + r * w_stride + b * wb;
			const f16_t *xd = (const f16_t *) xb;	/* d, then m */
			__m256i		qx = block32_weights(t, xb);
			float		dx = half(xd[0]);

			if (R > 1)		/* see dot32_block */
				_mm_prefetch((const char *) xb + 256, _MM_HINT_T0);
#pragma GCC unroll 4
			for (int c = 0; c < C; c++)
			{
				const uint8_t *yb = a + c * a_stride + b * ab;
				__m256		d;
				__m256i		isum;

				if (has_min)
				{
					const struct block_q8_1 *y = (const struct block_q8_1 *) yb;

					d = _mm256_set1_ps(dx * half(y->d));
					isum = dot_u8_s8(qx, _mm256_loadu_si256((const __m256i *) y->qs));
					mins[r][c] += half(xd[1]) * half(y->s);
				}
				else
				{
					const struct block_q8_0 *y = (const struct block_q8_0 *) yb;

					d = _mm256_set1_ps(dx * half(y->d));
					isum = dot_s8_s8(qx, _mm256_loadu_si256((const __m256i *) y->qs));
				}
				acc[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc[r][c]);
			}
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int c = 0; c < C; c++)
			out[c * out_stride + r] = has_min ? hsum_ps(acc[r][c]) + mins[r][c] : hsum_ps(acc[r][c]);
}

/* Activations c..c+C-1 against tiles of R rows, then the rows left one by one. */
#define DOT32_ROWS(t, R, C) \
	do { \
		int			r = 0; \
\
		for (; r + (R) <= n_rows; r += (R)) \
			dot32_tile(t, R, C, n, w + r * w_stride, w_stride, a + c * a_stride, a_stride, \
					   out + c * out_stride + r, out_stride); \
		for (; r < n_rows; r++) \
			dot32_tile(t, 1, C, n, w + r * w_stride, w_stride, a + c * a_stride, a_stride, \
					   out + c * out_stride + r, out_stride); \
	} while (0)

/*
 * One row x 8 activations, the same arithmetic as dot32_tile with the
 * scalar steps done for the 8 pairs at a time: lane c of dy[b] and sy[b]
 * holds the d and s of block b of activation c, so one multiply gives the
 * 8 products d_w * d_a and one multiply and one add the 8 mins updates.
 * Lane by lane these are the very products and sums of the scalar code.
 */
SIMD static inline __attribute__((always_inline)) void
dot32_oct(enum dtype t, int64_t n, const uint8_t *w, const uint8_t *a, size_t a_stride,
		  const __m256 *dy, const __m256 *sy, float *out, size_t out_stride)
{
	bool		has_min = block32_has_min(t);
	size_t		wb = block32_bytes(t);
	size_t		ab = has_min ? sizeof(struct block_q8_1) : sizeof(struct block_q8_0);
	size_t		qs_off = has_min ? offsetof(struct block_q8_1, qs) : offsetof(struct block_q8_0, qs);
	__m256		acc[8];
	__m256		mins = _mm256_setzero_ps();
	float		m[8];

#pragma GCC unroll 8
	for (int c = 0; c < 8; c++)
		acc[c] = _mm256_setzero_ps();
	for (int64_t b = 0; b < n / 32; b++)
	{
		const uint8_t *xb = w + b * wb;
		const f16_t *xd = (const f16_t *) xb;
		__m256i		qx = block32_weights(t, xb);
		__m256		d8 = _mm256_mul_ps(_mm256_set1_ps(half(xd[0])), dy[b]);
		__m256		dhalf[2];	/* the products of activations 0..3 and 4..7, twice each */

		if (has_min)
			mins = _mm256_add_ps(mins, _mm256_mul_ps(_mm256_set1_ps(half(xd[1])), sy[b]));
		dhalf[0] = _mm256_permute2f128_ps(d8, d8, 0x00);
		dhalf[1] = _mm256_permute2f128_ps(d8, d8, 0x11);
#pragma GCC unroll 8
		for (int c = 0; c < 8; c++)
		{
			__m256i		qy = _mm256_loadu_si256((const __m256i *) (a + c * a_stride + b * ab + qs_off));
			__m256i		isum = has_min ? dot_u8_s8(qx, qy) : dot_s8_s8(qx, qy);
			__m256		d;

			switch (c % 4)		/* the permute needs a constant */
			{
				case 0:
					d = _mm256_permute_ps(dhalf[c / 4], 0x00);
					break;
				case 1:
					d = _mm256_permute_ps(dhalf[c / 4], 0x55);
					break;
				case 2:
					d = _mm256_permute_ps(dhalf[c / 4], 0xaa);
					break;
				default:
					d = _mm256_permute_ps(dhalf[c / 4], 0xff);
					break;
			}
			acc[c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc[c]);
		}
	}
	_mm256_storeu_ps(m, mins);
#pragma GCC unroll 8
	for (int c = 0; c < 8; c++)
		out[c * out_stride] = has_min ? hsum_ps(acc[c]) + m[c] : hsum_ps(acc[c]);
}

/* The d (and s) of every block of 8 activation rows, lane k for row k. */
SIMD static inline void
oct_scales(enum dtype t, int64_t nb, const uint8_t *a, size_t a_stride, __m256 *dy, __m256 *sy)
{
	for (int64_t b = 0; b < nb; b++)
	{
		float		d[8];
		float		s[8];

		for (int k = 0; k < 8; k++)
		{
			const uint8_t *y = a + k * a_stride;

			if (block32_has_min(t))
			{
				d[k] = half(((const struct block_q8_1 *) y)[b].d);
				s[k] = half(((const struct block_q8_1 *) y)[b].s);
			}
			else
			{
				d[k] = half(((const struct block_q8_0 *) y)[b].d);
				s[k] = 0.0f;
			}
		}
		dy[b] = _mm256_loadu_ps(d);
		sy[b] = _mm256_loadu_ps(s);
	}
}

/* Rows longer than this (in blocks) take the plain tiles: the scales of
 * oct_scales live on the stack. */
#define OCT_MAX_BLOCKS 1024

/*
 * Any block of rows x activations: while 8 activations remain, tiles of
 * one row x 8 (the unpacked weights serve 8 of them, the activations'
 * scales are converted once for all rows: 1.2-1.3x faster than the 2 x 4
 * tiles before them), then 2x4 tiles while 4 remain, then one pair at a
 * time.  Tiles of several rows defeat the hardware prefetcher on long
 * matrices, hence the software prefetch in them; for a lone activation
 * (decode), where the product is bound by memory, one row at a time
 * streams best (4-row tiles decoded SmolLM2 at 65-70 tok/s, single rows at
 * 98-107 on 2 threads).
 */
SIMD static inline __attribute__((always_inline)) void
dot32_block(enum dtype t, int64_t n, const uint8_t *w, size_t w_stride, int n_rows,
			const uint8_t *a, size_t a_stride, int n_acts, float *out, size_t out_stride)
{
	int64_t		nb = n / 32;
	int			c = 0;

	if (nb <= OCT_MAX_BLOCKS)
	{
		__m256		dy[OCT_MAX_BLOCKS];
		__m256		sy[OCT_MAX_BLOCKS];

		for (; c + 8 <= n_acts; c += 8)
		{
			oct_scales(t, nb, a + c * a_stride, a_stride, dy, sy);
			for (int r = 0; r < n_rows; r++)
				dot32_oct(t, n, w + r * w_stride, a + c * a_stride, a_stride, dy, sy,
						  out + c * out_stride + r, out_stride);
		}
	}
	for (; c + 4 <= n_acts; c += 4)
		DOT32_ROWS(t, 2, 4);
	for (; c < n_acts; c++)
		for (int r = 0; r < n_rows; r++)
			dot32_tile(t, 1, 1, n, w + r * w_stride, w_stride, a + c * a_stride, a_stride,
					   out + c * out_stride + r, out_stride);
}

/* For each type, vec_dot (a 1x1 tile) and the block kernel, which every
 * order p reaches: these types sum as vec_dot in all of them (quant.c). */
#define DOT32_KERNELS(name, type) \
SIMD static float \
dot_##name(int64_t n, const void *w, const void *a) \
{ \
	float		out; \
\
	dot32_tile(type, 1, 1, n, w, 0, a, 0, &out, 0); \
	return out; \
} \
\
SIMD static void \
dot_block_##name(enum mm_path p, int64_t n, const uint8_t *w, size_t w_stride, int n_rows, \
				 const uint8_t *a, size_t a_stride, int n_acts, float *out, size_t out_stride) \
{ \
	(void) p;		/* every order of these types is vec_dot's */ \
	dot32_block(type, n, w, w_stride, n_rows, a, a_stride, n_acts, out, out_stride); \
}

DOT32_KERNELS(q4_0, DTYPE_Q4_0)
DOT32_KERNELS(q4_1, DTYPE_Q4_1)
DOT32_KERNELS(q5_0, DTYPE_Q5_0)
DOT32_KERNELS(q5_1, DTYPE_Q5_1)
DOT32_KERNELS(q8_0, DTYPE_Q8_0)

/*
 * Q4_K and Q5_K: the scales, widened to 16 bits in both lanes, weight the
 * sub-block sums; the mins term, sum_j mn_j * (bsums[2j] + bsums[2j+1]), is
 * one madd of the bsums with each min repeated twice (lane j: sub-block j).
 * The mins are accumulated as ggml's kernels do, to give its bits: Q4_K in
 * 4 lanes of sub-block pairs with -dmin*dy, Q5_K as one scalar sum, fused
 * (GCC contracts ggml's expression).
 */
/* The integer sums of a Q4_K super-block: isum, 8 lanes of sc*q*qy, and
 * msum, lane j: mn_j * sum(qy) of sub-block j. */
SIMD static inline void
q4_K_sums(const struct block_q4_K *x, const struct block_q8_K *y, __m256i *isum, __m256i *msum)
{
	const __m256i none = _mm256_setzero_si256();
	__m128i		sm = k_scales_mins(x->scales);
	__m256i		scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
	__m256i		mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));

	*isum = _mm256_add_epi32(_mm256_add_epi32(k_pair(x->qs, none, none, y->qs, scales, 0),
											  k_pair(x->qs, none, none, y->qs, scales, 1)),
							 _mm256_add_epi32(k_pair(x->qs, none, none, y->qs, scales, 2),
											  k_pair(x->qs, none, none, y->qs, scales, 3)));
	*msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y->bsums), mins);
}

SIMD static float
dot_q4_K(int64_t n, const void *w, const void *a)
{
	const struct block_q4_K *x = w;
	const struct block_q8_K *y = a;
	__m256		acc = _mm256_setzero_ps();
	__m128		accm = _mm_setzero_ps();

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		__m256i		isum;
		__m256i		msum;
		__m128i		mpairs;

		q4_K_sums(&x[b], &y[b], &isum, &msum);
		mpairs = _mm_hadd_epi32(_mm256_castsi256_si128(msum), _mm256_extracti128_si256(msum, 1));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(half(x[b].d) * y[b].d),
							  _mm256_cvtepi32_ps(isum), acc);
		accm = _mm_fmadd_ps(_mm_set1_ps(-(half(x[b].dmin) * y[b].d)),
							_mm_cvtepi32_ps(mpairs), accm);
	}
	accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
	accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
	return hsum_ps(acc) + _mm_cvtss_f32(accm);
}

SIMD static float
dot_q5_K(int64_t n, const void *w, const void *a)
{
	const struct block_q5_K *x = w;
	const struct block_q8_K *y = a;
	__m256		acc = _mm256_setzero_ps();
	float		summs = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		__m128i		sm = k_scales_mins(x[b].scales);
		__m256i		scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
		__m256i		mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
		__m256i		qh = _mm256_loadu_si256((const __m256i *) x[b].qh);
		const int8_t *qy = y[b].qs;
		__m256i		isum;
		__m256i		msum;

		isum = _mm256_add_epi32(_mm256_add_epi32(k_pair5(x[b].qs, qh, qy, scales, 0),
												 k_pair5(x[b].qs, qh, qy, scales, 1)),
								_mm256_add_epi32(k_pair5(x[b].qs, qh, qy, scales, 2),
												 k_pair5(x[b].qs, qh, qy, scales, 3)));
		msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[b].bsums), mins);
		acc = _mm256_fmadd_ps(_mm256_set1_ps(half(x[b].d) * y[b].d),
							  _mm256_cvtepi32_ps(isum), acc);
		summs = fmaf(-(half(x[b].dmin) * y[b].d), (float) hsum_epi32(msum), summs);
	}
	return hsum_ps(acc) + summs;
}

/*
 * Q6_K: the 6-bit values are used unsigned (0..63) and the offset of 32 is
 * taken off at the end as 32 * sum_g scale_g * bsum_g, all in integers.
 * Each 32-element vector spans two scale groups of 16, one per 128-bit lane.
 */
/* The scales of groups g and g+1 as 16 bits, in the low and high lane. */
SIMD static inline __m256i
q6_scale(__m128i sc8, int g)
{
	const __m128i pair = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);

	return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, _mm_add_epi8(pair, _mm_set1_epi8((char) g))));
}

/* 8 partial sums of scale*q*y over the 32 elements of q; scale is
 * q6_scale(sc8, g) for the groups g, g+1 they span. */
SIMD static inline __m256i
q6_quarter(__m256i q, const int8_t *qy, __m256i scale)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *) qy)), scale);
}

/*
 * Quarter k (elements 32k..32k+31) of a Q6_K block, unsigned: the low
 * (k % 4 < 2) or high nibbles of ql[64*(k/4) + 32*(k%2)..] and bits
 * 2(k%4), 2(k%4)+1 of qh[32*(k/4)..].
 */
SIMD static inline __m256i
q6_weights(const struct block_q6_K *x, int k)
{
	int			i = k % 4;
	__m256i		l = _mm256_loadu_si256((const __m256i *) (x->ql + 64 * (k / 4) + 32 * (i % 2)));
	__m256i		hb = _mm256_loadu_si256((const __m256i *) (x->qh + 32 * (k / 4)));

	l = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (i / 2)), _mm256_set1_epi8(0x0f));
	hb = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hb, 2 * i), 4), _mm256_set1_epi8(0x30));
	return _mm256_or_si256(l, hb);
}

/* Half h of a Q6_K block: its quarters 4h..4h+3. */
SIMD static inline __m256i
q6_half(const struct block_q6_K *x, const int8_t *qy, __m128i sc8, int h)
{
	__m256i		s[4];

#pragma GCC unroll 4
	for (int i = 0; i < 4; i++)
	{
		int			k = 4 * h + i;

		s[i] = q6_quarter(q6_weights(x, k), qy + 32 * k, q6_scale(sc8, 2 * k));
	}
	return _mm256_add_epi32(_mm256_add_epi32(s[0], s[1]), _mm256_add_epi32(s[2], s[3]));
}

SIMD static float
dot_q6_K(int64_t n, const void *w, const void *a)
{
	const struct block_q6_K *x = w;
	const struct block_q8_K *y = a;
	__m256		acc = _mm256_setzero_ps();

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		__m128i		sc8 = _mm_loadu_si128((const __m128i *) x[b].scales);
		__m256i		isum = _mm256_add_epi32(q6_half(&x[b], y[b].qs, sc8, 0),
											q6_half(&x[b], y[b].qs, sc8, 1));
		__m256i		offset = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[b].bsums),
											   _mm256_cvtepi8_epi16(sc8));

		isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(offset, 5));
		acc = _mm256_fmadd_ps(_mm256_set1_ps(half(x[b].d) * y[b].d),
							  _mm256_cvtepi32_ps(isum), acc);
	}
	return hsum_ps(acc);
}

/* ---- dot products in llama.cpp's other summation orders (quant.h) ---- */

/*
 * The integer sums of a Q4_K/Q5_K super-block (qh NULL for Q4_K) per pair p
 * of sub-blocks 2p and 2p+1: isum[p] = sum of sc_j * sum(q*qy) and imin[p]
 * = sum of mn_j * sum(qy).  Exact, so equal to quant_ref.c's.
 */
SIMD static inline void
k_pair_sums(const uint8_t *qs, const uint8_t *qh, const uint8_t *sc, const struct block_q8_K *y,
			int isum[4], int imin[4])
{
	const __m256i none = _mm256_setzero_si256();
	__m128i		sm = k_scales_mins(sc);
	__m256i		scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
	__m256i		mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
	__m256i		qhv = qh ? _mm256_loadu_si256((const __m256i *) qh) : none;
	int32_t		m[8];

	/* lane j: mn_j * (bsums[2j] + bsums[2j+1]) */
	_mm256_storeu_si256((__m256i *) m,
						_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y->bsums), mins));
	for (int p = 0; p < 4; p++)
	{
		__m256i		v;

		if (qh)
			v = k_pair5(qs, qhv, y->qs, scales, p);
		else
			v = k_pair(qs, none, none, y->qs, scales, p);
		isum[p] = hsum_epi32(v);
		imin[p] = m[2 * p] + m[2 * p + 1];
	}
}

/*
 * As dot_q4_K_x8_gemv in quant_ref.c: one term per super-block, the mins
 * apart.  Its integer sums are dot_q4_K's, added up: half the instructions
 * of summing each pair of sub-blocks apart, which decode (bound by this
 * kernel more than by memory) notices.
 */
SIMD static float
dot_q4_K_x8_gemv(int64_t n, const void *w, const void *a)
{
	const struct block_q4_K *x = w;
	const struct block_q8_K *y = a;
	float		acc = 0.0f;
	float		accm = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		__m256i		isum;
		__m256i		msum;

		q4_K_sums(&x[b], &y[b], &isum, &msum);
		acc = fmaf((float) hsum_epi32(isum), half(x[b].d) * y[b].d, acc);
		accm = fmaf((float) hsum_epi32(msum), half(x[b].dmin) * y[b].d, accm);
	}
	return acc - accm;
}

/* As dot_q4_K_x8_gemm in quant_ref.c: one term per pair of sub-blocks. */
SIMD static float
dot_q4_K_x8_gemm(int64_t n, const void *w, const void *a)
{
	const struct block_q4_K *x = w;
	const struct block_q8_K *y = a;
	float		acc = 0.0f;
	float		accm = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		int			isum[4];
		int			imin[4];
		float		dd = half(x[b].d) * y[b].d;
		float		dm = half(x[b].dmin) * y[b].d;

		k_pair_sums(x[b].qs, NULL, x[b].scales, &y[b], isum, imin);
		for (int p = 0; p < 4; p++)
		{
			acc = fmaf((float) isum[p], dd, acc);
			accm = fmaf((float) imin[p], dm, accm);
		}
	}
	return acc - accm;
}

/* As dot_k_tiled in quant_ref.c. */
SIMD static float
dot_q4_K_tiled(int64_t n, const void *w, const void *a)
{
	const struct block_q4_K *x = w;
	const struct block_q8_K *y = a;
	float		acc = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		int			isum[4];
		int			imin[4];
		int			is;
		int			im;

		k_pair_sums(x[b].qs, NULL, x[b].scales, &y[b], isum, imin);
		is = isum[0] + isum[1] + isum[2] + isum[3];
		im = imin[0] + imin[1] + imin[2] + imin[3];
		acc = fmaf(fmaf(-half(x[b].dmin), (float) im, half(x[b].d) * (float) is), y[b].d, acc);
	}
	return acc;
}

SIMD static float
dot_q5_K_tiled(int64_t n, const void *w, const void *a)
{
	const struct block_q5_K *x = w;
	const struct block_q8_K *y = a;
	float		acc = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		int			isum[4];
		int			imin[4];
		int			is;
		int			im;

		k_pair_sums(x[b].qs, x[b].qh, x[b].scales, &y[b], isum, imin);
		is = isum[0] + isum[1] + isum[2] + isum[3];
		im = imin[0] + imin[1] + imin[2] + imin[3];
		acc = fmaf(fmaf(-half(x[b].dmin), (float) im, half(x[b].d) * (float) is), y[b].d, acc);
	}
	return acc;
}

/* As dot_q6_K_tiled in quant_ref.c; the integer sum is dot_q6_K's. */
SIMD static float
dot_q6_K_tiled(int64_t n, const void *w, const void *a)
{
	const struct block_q6_K *x = w;
	const struct block_q8_K *y = a;
	float		acc = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		__m128i		sc8 = _mm_loadu_si128((const __m128i *) x[b].scales);
		__m256i		isum = _mm256_add_epi32(q6_half(&x[b], y[b].qs, sc8, 0),
											q6_half(&x[b], y[b].qs, sc8, 1));
		__m256i		offset = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[b].bsums),
											   _mm256_cvtepi8_epi16(sc8));

		isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(offset, 5));
		acc = fmaf(half(x[b].d) * (float) hsum_epi32(isum), y[b].d, acc);
	}
	return acc;
}

/* As dot_tinyblas in quant_ref.c: one accumulator of 8 lanes, n a multiple of 8. */
SIMD static inline float
dot_tinyblas(enum dtype t, int64_t n, const void *w, const void *a)
{
	__m256		acc = _mm256_setzero_ps();

	for (int64_t i = 0; i < n; i += 8)
		acc = _mm256_fmadd_ps(load_x8(t, w, i), load_x8(t, a, i), acc);
	return hsum_ps(acc);
}

SIMD static float
dot_f32_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_F32, n, w, a);
}

SIMD static float
dot_f16_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_F16, n, w, a);
}

SIMD static float
dot_bf16_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_BF16, n, w, a);
}

/* ---- block kernels of the K-quants ---- */

/*
 * A K-quant block of weight rows x activation rows goes in tiles that
 * unpack each weight super-block once for 4 activations, every pair
 * keeping its own accumulators, updated in the order of its per-pair
 * kernel above.  The integer sums are exact, so any way of adding them
 * gives the same values; only the float steps need to be the same
 * operations in the same order.
 *
 * For the orders whose float steps are scalar per pair (MM_X8_GEMM,
 * MM_X8_GEMV, MM_TILED) a tile is 2 rows x 4 activations, and lane 4r + c
 * of a vector holds pair (row r, activation c): one vector multiply or
 * fused multiply-add is the scalar step of all 8 pairs, lane by lane the
 * same operation.  vec_dot keeps 8 lanes per pair: its tiles are 1 row x
 * 4 activations, each pair with its own vectors.
 */
#define KT_MAX_BLOCKS 128		/* longer rows go one pair at a time */

/* An empty asm the compiler cannot see through, to keep v in a register. */
#define BARRIER(v) __asm__("" : "+x"(v))
/* The same for a pointer: loads through it are not merged with earlier ones
 * (which GCC would keep, spilled to the stack, rather than load again). */
#define FRESH(p) __asm__("" : "+r"(p))

/* Super-block b of a tile's 4 activations, prepared once for all rows. */
struct kt_acts
{
	__m256		dy;				/* lane 4r + c: d of activation c */
	__m256i		bs[4];			/* lane 4r + c: sum(qy) of sub-blocks 2p, 2p+1 of
								 * activation c, as two int16 */
};

/* Lane k: the sum of the 8 lanes of v[k]. */
SIMD static inline __m256i
hsum_8x8(const __m256i v[8])
{
	__m256i		h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
	__m256i		h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));

	return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20),
							_mm256_permute2x128_si256(h0, h1, 0x31));
}

/* The 32-bit unit u of each 128-bit lane of v, in all four of its units. */
SIMD static inline __m256i
unit32(__m256i v, int u)
{
	return _mm256_shuffle_epi8(v, _mm256_set1_epi32(0x03020100 + 0x04040404 * u));
}

/* Lanes 0..3 f16 a, lanes 4..7 f16 b, as floats. */
SIMD static inline __m256
halves2(f16_t a, f16_t b)
{
	return _mm256_set_m128(_mm_set1_ps(half(b)), _mm_set1_ps(half(a)));
}

/* ya[b] for super-blocks 0..nb-1 of activations a[0..3]. */
SIMD static void
kt_prepare(int64_t nb, const uint8_t *const a[4], struct kt_acts *ya)
{
	for (int64_t b = 0; b < nb; b++)
	{
		float		d[4];
		__m128i		s[4];
		__m128i		lo01;
		__m128i		lo23;
		__m128i		hi01;
		__m128i		hi23;

		for (int c = 0; c < 4; c++)
		{
			const struct block_q8_K *y = (const struct block_q8_K *) a[c] + b;

			d[c] = y->d;
			/* int16 j: the sum of sub-block j, |.| <= 32 * 127 */
			s[c] = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *) y->bsums),
								  _mm_loadu_si128((const __m128i *) (y->bsums + 8)));
		}
		/* unit p of activation c to lane c of bs[p] (a 4x4 transpose) */
		lo01 = _mm_unpacklo_epi32(s[0], s[1]);
		lo23 = _mm_unpacklo_epi32(s[2], s[3]);
		hi01 = _mm_unpackhi_epi32(s[0], s[1]);
		hi23 = _mm_unpackhi_epi32(s[2], s[3]);
		ya[b].bs[0] = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(lo01, lo23));
		ya[b].bs[1] = _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(lo01, lo23));
		ya[b].bs[2] = _mm256_broadcastsi128_si256(_mm_unpacklo_epi64(hi01, hi23));
		ya[b].bs[3] = _mm256_broadcastsi128_si256(_mm_unpackhi_epi64(hi01, hi23));
		ya[b].dy = _mm256_set_m128(_mm_loadu_ps(d), _mm_loadu_ps(d));
	}
}

/*
 * Q4_K/Q5_K super-blocks x[0..1] against y[0..3], lane 4r + c: is[p] =
 * sum of sc_j * sum(q*qy) and im[p] = sum of mn_j * sum(qy) over
 * sub-blocks j = 2p, 2p+1 (k_pair_sums' values); unless split, only
 * is[0] and im[0], the totals over the super-block.
 */
SIMD static inline __attribute__((always_inline)) void
kt_sums_k(bool q5, const uint8_t *const x[2], const struct block_q8_K *const y[4],
		  const struct kt_acts *ya, bool split, __m256i is[4], __m256i im[4])
{
	size_t		qs_off = q5 ? offsetof(struct block_q5_K, qs) : offsetof(struct block_q4_K, qs);
	__m256i		scales[2];
	__m256i		qh[2];
	__m128i		mn[2];
	__m256i		mins;
	__m256i		v[8];

#pragma GCC unroll 2
	for (int r = 0; r < 2; r++)
	{
		__m128i		sm = k_scales_mins(x[r] + offsetof(struct block_q4_K, scales));

		scales[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
		mn[r] = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
		qh[r] = q5 ? _mm256_loadu_si256((const __m256i *) (x[r] + offsetof(struct block_q5_K, qh)))
			: _mm256_setzero_si256();
	}
	mins = _mm256_set_m128i(mn[1], mn[0]);
#pragma GCC unroll 4
	for (int p = 0; p < 4; p++)
	{
#pragma GCC unroll 2
		for (int r = 0; r < 2; r++)
		{
			__m256i		lo;
			__m256i		hi;
			__m256i		slo = k_scale(scales[r], 2 * p);
			__m256i		shi = k_scale(scales[r], 2 * p + 1);

			k_weights(x[r] + qs_off, k_fifth_bits(qh[r], 2 * p), k_fifth_bits(qh[r], 2 * p + 1),
					  p, &lo, &hi);
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
			{
				__m256i		t = k_pair_dot(lo, hi, slo, shi, y[c]->qs, p);

				v[4 * r + c] = p == 0 || split ? t : _mm256_add_epi32(v[4 * r + c], t);
				BARRIER(v[4 * r + c]);
			}
		}
		if (split)
			is[p] = hsum_8x8(v);
		/* mn_2p * sum(qy_2p) + mn_2p+1 * sum(qy_2p+1), in one madd */
		im[p] = _mm256_madd_epi16(unit32(mins, p), ya->bs[p]);
	}
	if (!split)
	{
		is[0] = hsum_8x8(v);
		im[0] = _mm256_add_epi32(_mm256_add_epi32(im[0], im[1]), _mm256_add_epi32(im[2], im[3]));
	}
}

/* Q6_K super-blocks x[0..1] against y[0..3], lane 4r + c: the block's
 * integer sum (dot_q6_K's isum, its lanes added). */
SIMD static inline __attribute__((always_inline)) __m256i
kt_sum_q6(const uint8_t *const x[2], const struct block_q8_K *const y[4])
{
	__m256i		v[8];

#pragma GCC unroll 2
	for (int r = 0; r < 2; r++)
	{
		const struct block_q6_K *xr = (const struct block_q6_K *) x[r];
		__m128i		sc8 = _mm_loadu_si128((const __m128i *) xr->scales);
		__m256i		sc16 = _mm256_cvtepi8_epi16(sc8);
		const int8_t *qy[4];

		for (int c = 0; c < 4; c++)
		{
			qy[c] = y[c]->qs;
			FRESH(qy[c]);
		}

#pragma GCC unroll 4
		for (int c = 0; c < 4; c++)
			v[4 * r + c] = _mm256_sub_epi32(_mm256_setzero_si256(),
											_mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[c]->bsums), sc16), 5));
#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
		{
			__m256i		q = q6_weights(xr, k);
			__m256i		scale = q6_scale(sc8, 2 * k);

#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
			{
				v[4 * r + c] = _mm256_add_epi32(v[4 * r + c], q6_quarter(q, qy[c] + 32 * k, scale));
				BARRIER(v[4 * r + c]);
			}
		}
	}
	return hsum_8x8(v);
}

static inline size_t
k_block_bytes(enum dtype t)
{
	return t == DTYPE_Q4_K ? sizeof(struct block_q4_K)
		: t == DTYPE_Q5_K ? sizeof(struct block_q5_K) : sizeof(struct block_q6_K);
}

/*
 * Rows w[0..1] x activations a[0..3] in order p (not MM_VEC_DOT), lane
 * 4r + c; the float steps are those of dot_q4_K_x8, dot_q4_K_tiled,
 * dot_q5_K_tiled and dot_q6_K_tiled.
 */
SIMD static inline __attribute__((always_inline)) __m256
kt_tile(enum dtype t, enum mm_path p, int64_t nb, const uint8_t *const w[2],
		const uint8_t *const a[4], const struct kt_acts *ya)
{
	size_t		wb = k_block_bytes(t);
	__m256		acc = _mm256_setzero_ps();
	__m256		accm = _mm256_setzero_ps();

	for (int64_t b = 0; b < nb; b++)
	{
		const uint8_t *x[2] = {w[0] + b * wb, w[1] + b * wb};
		const struct block_q8_K *y[4];
		__m256i		is[4];
		__m256i		im[4];
		__m256		d;
		__m256		dmin;

		for (int c = 0; c < 4; c++)
			y[c] = (const struct block_q8_K *) a[c] + b;
		for (int r = 0; r < 2; r++)	/* see dot32_block */
			_mm_prefetch((const char *) x[r] + 4 * wb, _MM_HINT_T0);
		if (t == DTYPE_Q6_K)
		{
			d = halves2(((const struct block_q6_K *) x[0])->d, ((const struct block_q6_K *) x[1])->d);
			acc = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(kt_sum_q6(x, y))), ya[b].dy, acc);
			continue;
		}
		d = halves2(((const struct block_q4_K *) x[0])->d, ((const struct block_q4_K *) x[1])->d);
		dmin = halves2(((const struct block_q4_K *) x[0])->dmin, ((const struct block_q4_K *) x[1])->dmin);
		kt_sums_k(t == DTYPE_Q5_K, x, y, &ya[b], p == MM_X8_GEMM, is, im);
		if (p == MM_TILED)
		{
			__m256		ndmin = _mm256_xor_ps(dmin, _mm256_set1_ps(-0.0f));
			__m256		v = _mm256_fmadd_ps(ndmin, _mm256_cvtepi32_ps(im[0]),
											_mm256_mul_ps(d, _mm256_cvtepi32_ps(is[0])));

			acc = _mm256_fmadd_ps(v, ya[b].dy, acc);
			continue;
		}
		d = _mm256_mul_ps(d, ya[b].dy);
		dmin = _mm256_mul_ps(dmin, ya[b].dy);
		for (int k = 0; k < (p == MM_X8_GEMM ? 4 : 1); k++)
		{
			acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[k]), d, acc);
			accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(im[k]), dmin, accm);
		}
	}
	return p == MM_TILED ? acc : _mm256_sub_ps(acc, accm);
}

/*
 * Row w against activations a[0..3] as vec_dot sums each pair (dot_q4_K,
 * dot_q5_K, dot_q6_K), the weights unpacked once for the four.
 */
SIMD static inline __attribute__((always_inline)) void
kv_tile(enum dtype t, int64_t nb, const uint8_t *w, const uint8_t *const a[4], float res[4])
{
	size_t		wb = k_block_bytes(t);
	__m256		acc[4];
	__m128		accm[4];
	float		summs[4];

#pragma GCC unroll 4
	for (int c = 0; c < 4; c++)
	{
		acc[c] = _mm256_setzero_ps();
		accm[c] = _mm_setzero_ps();
		summs[c] = 0.0f;
	}
	for (int64_t b = 0; b < nb; b++)
	{
		const uint8_t *x = w + b * wb;
		const struct block_q8_K *y[4];
		__m256i		isum[4];

#pragma GCC unroll 4
		for (int c = 0; c < 4; c++)
			y[c] = (const struct block_q8_K *) a[c] + b;
		if (t == DTYPE_Q6_K)
		{
			const struct block_q6_K *x6 = (const struct block_q6_K *) x;
			__m128i		sc8 = _mm_loadu_si128((const __m128i *) x6->scales);
			__m256i		sc16 = _mm256_cvtepi8_epi16(sc8);

#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
				isum[c] = _mm256_sub_epi32(_mm256_setzero_si256(),
										   _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[c]->bsums), sc16), 5));
#pragma GCC unroll 8
			for (int k = 0; k < 8; k++)
			{
				__m256i		q = q6_weights(x6, k);
				__m256i		scale = q6_scale(sc8, 2 * k);

#pragma GCC unroll 4
				for (int c = 0; c < 4; c++)
				{
					isum[c] = _mm256_add_epi32(isum[c], q6_quarter(q, y[c]->qs + 32 * k, scale));
					BARRIER(isum[c]);
				}
			}
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
				acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(half(x6->d) * y[c]->d),
										 _mm256_cvtepi32_ps(isum[c]), acc[c]);
		}
		else
		{
			const struct block_q4_K *xk = (const struct block_q4_K *) x;	/* d, dmin, scales */
			size_t		qs_off = t == DTYPE_Q5_K ? offsetof(struct block_q5_K, qs) : offsetof(struct block_q4_K, qs);
			__m128i		sm = k_scales_mins(xk->scales);
			__m256i		scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
			__m256i		mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
			__m256i		qh = t == DTYPE_Q5_K
				? _mm256_loadu_si256((const __m256i *) ((const struct block_q5_K *) x)->qh)
				: _mm256_setzero_si256();

#pragma GCC unroll 4
			for (int p = 0; p < 4; p++)
			{
				__m256i		lo;
				__m256i		hi;
				__m256i		slo = k_scale(scales, 2 * p);
				__m256i		shi = k_scale(scales, 2 * p + 1);

				k_weights(x + qs_off, k_fifth_bits(qh, 2 * p), k_fifth_bits(qh, 2 * p + 1), p, &lo, &hi);
#pragma GCC unroll 4
				for (int c = 0; c < 4; c++)
				{
					__m256i		s = k_pair_dot(lo, hi, slo, shi, y[c]->qs, p);

					isum[c] = p == 0 ? s : _mm256_add_epi32(isum[c], s);
					BARRIER(isum[c]);
				}
			}
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
			{
				__m256i		msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[c]->bsums), mins);
				float		dm = -(half(xk->dmin) * y[c]->d);

				acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(half(xk->d) * y[c]->d),
										 _mm256_cvtepi32_ps(isum[c]), acc[c]);
				if (t == DTYPE_Q4_K)
				{
					__m128i		mpairs = _mm_hadd_epi32(_mm256_castsi256_si128(msum),
														_mm256_extracti128_si256(msum, 1));

					accm[c] = _mm_fmadd_ps(_mm_set1_ps(dm), _mm_cvtepi32_ps(mpairs), accm[c]);
				}
				else
					summs[c] = fmaf(dm, (float) hsum_epi32(msum), summs[c]);
			}
		}
	}
#pragma GCC unroll 4
	for (int c = 0; c < 4; c++)
	{
		__m128		m = _mm_add_ps(accm[c], _mm_movehl_ps(accm[c], accm[c]));

		m = _mm_add_ss(m, _mm_movehdup_ps(m));
		res[c] = t == DTYPE_Q4_K ? hsum_ps(acc[c]) + _mm_cvtss_f32(m)
			: t == DTYPE_Q5_K ? hsum_ps(acc[c]) + summs[c] : hsum_ps(acc[c]);
	}
}

/* The order a pair of type t sums in on path p: the paths without a kernel
 * of t's own are vec_dot's (quant.c). */
static inline enum mm_path
k_order(enum dtype t, enum mm_path p)
{
	if (p == MM_TILED || (t == DTYPE_Q4_K && (p == MM_X8_GEMM || p == MM_X8_GEMV)))
		return p;
	return MM_VEC_DOT;
}

SIMD static vec_dot_fn
k_pair_fn(enum dtype t, enum mm_path p)
{
	switch (p)
	{
		case MM_X8_GEMM:
			return dot_q4_K_x8_gemm;
		case MM_X8_GEMV:
			return dot_q4_K_x8_gemv;
		case MM_TILED:
			return t == DTYPE_Q4_K ? dot_q4_K_tiled : t == DTYPE_Q5_K ? dot_q5_K_tiled : dot_q6_K_tiled;
		default:
			return t == DTYPE_Q4_K ? dot_q4_K : t == DTYPE_Q5_K ? dot_q5_K : dot_q6_K;
	}
}

/* All rows against the activations ac[0..3] (the first nc of them real),
 * in tiles of 2 rows (an odd last row paired with itself). */
SIMD static inline __attribute__((always_inline)) void
kt_rows(enum dtype t, enum mm_path p, int64_t nb, const uint8_t *w, size_t w_stride, int n_rows,
		const uint8_t *const ac[4], int nc, float *out, size_t out_stride)
{
	struct kt_acts ya[KT_MAX_BLOCKS];

	kt_prepare(nb, ac, ya);
	for (int r0 = 0; r0 < n_rows; r0 += 2)
	{
		int			nr = n_rows - r0 < 2 ? n_rows - r0 : 2;
		const uint8_t *wr[2] = {w + r0 * w_stride, w + (r0 + nr - 1) * w_stride};
		float		res[8];

		_mm256_storeu_ps(res, kt_tile(t, p, nb, wr, ac, ya));
		for (int r = 0; r < nr; r++)
			for (int c = 0; c < nc; c++)
				out[c * out_stride + r0 + r] = res[4 * r + c];
	}
}

SIMD static inline __attribute__((always_inline)) void
kv_rows(enum dtype t, int64_t nb, const uint8_t *w, size_t w_stride, int n_rows,
		const uint8_t *const ac[4], int nc, float *out, size_t out_stride)
{
	for (int r = 0; r < n_rows; r++)
	{
		float		res[4];

		kv_tile(t, nb, w + r * w_stride, ac, res);
		for (int c = 0; c < nc; c++)
			out[c * out_stride + r] = res[c];
	}
}

/*
 * Activations in groups of 4 (the last group of 2 or 3 filled up with
 * repeats of its last activation); a lone activation (decode, bound by
 * memory) one pair at a time, which streams best (see dot32_block), and so
 * do rows too long for the prepared activations.
 */
SIMD static inline __attribute__((always_inline)) void
k_block(enum dtype t, enum mm_path p, int64_t n, const uint8_t *w, size_t w_stride, int n_rows,
		const uint8_t *a, size_t a_stride, int n_acts, float *out, size_t out_stride)
{
	int64_t		nb = n / QK_K;
	int			c0 = 0;
	vec_dot_fn	one;

	p = k_order(t, p);
	for (; nb <= KT_MAX_BLOCKS && n_acts - c0 >= 2; c0 += 4)
	{
		int			nc = n_acts - c0 < 4 ? n_acts - c0 : 4;
		const uint8_t *ac[4];
		float	   *o = out + c0 * out_stride;

		for (int c = 0; c < 4; c++)
			ac[c] = a + (c0 + (c < nc ? c : nc - 1)) * a_stride;
		switch (p)
		{
			case MM_X8_GEMM:
				kt_rows(t, MM_X8_GEMM, nb, w, w_stride, n_rows, ac, nc, o, out_stride);
				break;
			case MM_X8_GEMV:
				kt_rows(t, MM_X8_GEMV, nb, w, w_stride, n_rows, ac, nc, o, out_stride);
				break;
			case MM_TILED:
				kt_rows(t, MM_TILED, nb, w, w_stride, n_rows, ac, nc, o, out_stride);
				break;
			default:
				kv_rows(t, nb, w, w_stride, n_rows, ac, nc, o, out_stride);
				break;
		}
	}
	one = k_pair_fn(t, p);
	for (; c0 < n_acts; c0++)
		for (int r = 0; r < n_rows; r++)
			out[c0 * out_stride + r] = one(n, w + r * w_stride, a + c0 * a_stride);
}

#define K_BLOCK_KERNEL(name, type) \
SIMD static void \
dot_block_##name(enum mm_path p, int64_t n, const uint8_t *w, size_t w_stride, int n_rows, \
				 const uint8_t *a, size_t a_stride, int n_acts, float *out, size_t out_stride) \
{ \
	k_block(type, p, n, w, w_stride, n_rows, a, a_stride, n_acts, out, out_stride); \
}

K_BLOCK_KERNEL(q4_K, DTYPE_Q4_K)
K_BLOCK_KERNEL(q5_K, DTYPE_Q5_K)
K_BLOCK_KERNEL(q6_K, DTYPE_Q6_K)

/* ---- quantization of activations ---- */

/* Round 8 floats to nearest even and convert to int32. */
SIMD static inline __m256i
round_even(__m256 v)
{
	return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* Pack 4x8 int32 in [-128, 127] to 32 bytes, in order. */
SIMD static inline void
store_i8x32(int8_t *dst, __m256i i0, __m256i i1, __m256i i2, __m256i i3)
{
	__m256i		p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));

	/* packs works per 128-bit lane: restore the order of the 4-byte groups */
	p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *) dst, p);
}

/* One Q8_0/Q8_1 block, as q8_block() in quant_ref.c. */
SIMD static float
q8_block(const float *x, int8_t *qs, int *sum)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256		v[4];
	__m256		m;
	__m256i		q[4];
	float		amax;
	__m256		id;

	for (int k = 0; k < 4; k++)
		v[k] = _mm256_loadu_ps(x + 8 * k);
	m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
					  _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
	amax = hmax_ps(m);
	id = _mm256_set1_ps(q8_inverse_scale(amax));
	for (int k = 0; k < 4; k++)
		q[k] = round_even(_mm256_mul_ps(v[k], id));
	store_i8x32(qs, q[0], q[1], q[2], q[3]);
	*sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]),
									   _mm256_add_epi32(q[2], q[3])));
	return amax / 127.0f;
}

SIMD static void
quantize_q8_0(const float *src, void *dst, int64_t n)
{
	struct block_q8_0 *y = dst;

	for (int64_t b = 0; b < n / QK8_0; b++)
	{
		int			sum;

		y[b].d = f32_to_f16(q8_block(src + b * QK8_0, y[b].qs, &sum));
	}
}

SIMD static void
quantize_q8_1(const float *src, void *dst, int64_t n)
{
	struct block_q8_1 *y = dst;

	for (int64_t b = 0; b < n / QK8_1; b++)
	{
		int			sum;
		float		d = q8_block(src + b * QK8_1, y[b].qs, &sum);

		y[b].d = f32_to_f16(d);
		y[b].s = f32_to_f16(d * (float) sum);
	}
}

/* The first element of x[0..QK_K) whose magnitude is amax. */
SIMD static float
first_with_magnitude(const float *x, float amax)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256 target = _mm256_set1_ps(amax);

	for (int i = 0; i < QK_K; i += 8)
	{
		__m256		eq = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), target, _CMP_EQ_OQ);
		int			mask = _mm256_movemask_ps(eq);

		if (mask)
			return x[i + __builtin_ctz((unsigned) mask)];
	}
	return 0.0f;
}

/* As quantize_q8_K in quant_ref.c. */
SIMD static void
quantize_q8_K(const float *src, void *dst, int64_t n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256i top = _mm256_set1_epi32(127);
	struct block_q8_K *y = dst;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		const float *x = src + b * QK_K;
		__m256		m = _mm256_setzero_ps();
		float		amax;
		float		iscale;
		__m256		is;

		for (int i = 0; i < QK_K; i += 8)
			m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
		amax = hmax_ps(m);
		iscale = amax != 0.0f ? q8_K_inverse_scale(first_with_magnitude(x, amax)) : 0.0f;
		if (iscale == 0.0f)
		{
			memset(&y[b], 0, sizeof y[b]);
			continue;
		}
		is = _mm256_set1_ps(iscale);
		for (int i = 0; i < QK_K; i += 32)
		{
			__m256i		q[4];

			for (int k = 0; k < 4; k++)
				q[k] = _mm256_min_epi32(round_even(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), is)), top);
			store_i8x32(y[b].qs + i, q[0], q[1], q[2], q[3]);
			y[b].bsums[i / 16] = (int16_t) hsum_epi32(_mm256_add_epi32(q[0], q[1]));
			y[b].bsums[i / 16 + 1] = (int16_t) hsum_epi32(_mm256_add_epi32(q[2], q[3]));
		}
		y[b].d = 1.0f / iscale;
	}
}

/*
 * F16C rounds to nearest even like f32_to_f16(), but keeps NaN payloads;
 * the rare group of 8 holding a NaN is redone with the scalar conversion so
 * that the output is the same bits as the reference's.
 */
SIMD static void
quantize_f16(const float *src, void *dst, int64_t n)
{
	uint16_t   *y = dst;
	int64_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__m256		v = _mm256_loadu_ps(src + i);

		if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)))
			for (int k = 0; k < 8; k++)
				y[i + k] = f32_to_f16(src[i + k]);
		else
			_mm_storeu_si128((__m128i *) (y + i),
							 _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	}
	for (; i < n; i++)
		y[i] = f32_to_f16(src[i]);
}

const struct quant_kernels QUANT_TABLE = {
	.name = QUANT_NAME,
	.quantize = {
		[DTYPE_F16] = quantize_f16,
		[DTYPE_Q8_0] = quantize_q8_0,
		[DTYPE_Q8_1] = quantize_q8_1,
		[DTYPE_Q8_K] = quantize_q8_K,
	},
	QUANT_KERNELS_DOT_TABLES,
	.vec_dot_block = {
		[DTYPE_Q4_0] = dot_block_q4_0,
		[DTYPE_Q4_1] = dot_block_q4_1,
		[DTYPE_Q5_0] = dot_block_q5_0,
		[DTYPE_Q5_1] = dot_block_q5_1,
		[DTYPE_Q8_0] = dot_block_q8_0,
		[DTYPE_Q4_K] = dot_block_q4_K,
		[DTYPE_Q5_K] = dot_block_q5_K,
		[DTYPE_Q6_K] = dot_block_q6_K,
	},
};

#else							/* not x86: no fast kernels */

int
QUANT_USABLE(void)
{
	return 0;
}

const struct quant_kernels QUANT_TABLE = {.name = QUANT_NAME};

#endif
