/*
 * quant_avx2.c — AVX2+FMA+F16C versions of the hot kernels.
 *
 * Only functions carry the target attribute, so this file builds with
 * portable flags and nothing here runs unless quant_avx2_usable() says the
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
 */
#include "quant.h"

#include <stddef.h>
#include <string.h>

#include "f16.h"
#include "quant_kernels.h"

#if defined(__x86_64__) || defined(__i386__)

#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/*
 * __builtin_cpu_supports("avx2") also checks that the OS saves the AVX
 * registers; F16C is asked of cpuid directly because not every compiler
 * knows its name.
 */
int
quant_avx2_usable(void)
{
	unsigned int eax;
	unsigned int ebx;
	unsigned int ecx;
	unsigned int edx;

	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
		return 0;
	return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

/* ---- helpers ---- */

AVX2 static inline float
hsum_ps(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2 static inline int
hsum_epi32(__m256i v)
{
	__m128i		s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
	return _mm_cvtsi128_si32(s);
}

AVX2 static inline float
hmax_ps(__m256 v)
{
	__m128		m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

AVX2 static inline float
half(f16_t h)
{
	return _cvtsh_ss(h);
}

/* 8 sums of 4 products of unsigned bytes u with signed bytes s. */
AVX2 static inline __m256i
dot_u8_s8(__m256i u, __m256i s)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The same for two signed operands; y must not hold -128 (activations never do). */
AVX2 static inline __m256i
dot_s8_s8(__m256i x, __m256i y)
{
	return dot_u8_s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The 32 nibbles of a 32-element block, element order: low nibbles first. */
AVX2 static inline __m256i
nibbles32(const uint8_t *qs)
{
	__m128i		raw = _mm_loadu_si128((const __m128i *) qs);

	return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw),
							_mm256_set1_epi8(0x0f));
}

/* 0x10 in byte e where bit e of the 32-bit little-endian qh is set. */
AVX2 static inline __m256i
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
AVX2 static inline __m128i
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
AVX2 static inline __m256i
k_scale(__m256i scales, int k)
{
	return _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short) ((2 * k + 1) << 8 | 2 * k)));
}

/*
 * 8 partial sums of sc*q*y over sub-blocks 2j (low nibbles of the 32 bytes
 * qs[32j..]) and 2j+1 (their high nibbles); fifth_lo and fifth_hi hold
 * each element's fifth bit (0x10) for Q5_K, or zeros.
 */
AVX2 static inline __m256i
k_pair(const uint8_t *qs, __m256i fifth_lo, __m256i fifth_hi, const int8_t *qy,
	   __m256i scales, int j)
{
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	__m256i		q = _mm256_loadu_si256((const __m256i *) (qs + 32 * j));
	__m256i		lo = _mm256_or_si256(_mm256_and_si256(q, low4), fifth_lo);
	__m256i		hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4), fifth_hi);
	__m256i		plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *) (qy + 64 * j)));
	__m256i		phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *) (qy + 64 * j + 32)));

	return _mm256_add_epi32(_mm256_madd_epi16(plo, k_scale(scales, 2 * j)),
							_mm256_madd_epi16(phi, k_scale(scales, 2 * j + 1)));
}

/* 0x10 in each byte of qh whose bit b is set. */
AVX2 static inline __m256i
k_fifth_bits(__m256i qh, int b)
{
	const __m256i mask = _mm256_set1_epi8((char) (1 << b));

	return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, mask), mask),
							_mm256_set1_epi8(0x10));
}

/* k_pair for Q5_K: bit 2j (2j+1) of qh[l] is the fifth bit of element l of
 * sub-block 2j (2j+1). */
AVX2 static inline __m256i
k_pair5(const uint8_t *qs, __m256i qh, const int8_t *qy, __m256i scales, int j)
{
	return k_pair(qs, k_fifth_bits(qh, 2 * j), k_fifth_bits(qh, 2 * j + 1), qy, scales, j);
}

/* ---- dot products ---- */

AVX2 static inline __m256
load_f16x8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
}

AVX2 static inline __m256
load_bf16x8(const uint16_t *p)
{
	__m256i		v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p));

	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* Elements i..i+7 of a float row of type t, as floats. */
AVX2 static inline __m256
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
AVX2 static inline __m256
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
AVX2 static inline float
hadd_sum(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_hadd_ps(s, s);
	return _mm_cvtss_f32(_mm_hadd_ps(s, s));
}

AVX2 static float
dot_f32(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;

	return f32_dot_tail(w, a, np, n, hadd_sum(ggml_lanes(DTYPE_F32, np, w, a)));
}

AVX2 static float
dot_f16(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;

	return half_dot_tail(DTYPE_F16, w, a, np, n, hadd_sum(ggml_lanes(DTYPE_F16, np, w, a)));
}

/* ggml's BF16 vec_dot ends with the horizontal sum tinyBLAS uses. */
AVX2 static float
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
AVX2 static inline __m256i
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

AVX2 static inline __attribute__((always_inline)) void
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
 * R rows x 4 activations, the same arithmetic as dot32_tile with the
 * scalar steps done four pairs at a time: dy[b] and sy[b] hold the d and s
 * of block b of the four activations, so one multiply gives the four
 * d_w * d_a and one multiply and one add the four mins updates.  Lane by
 * lane these are the very products and sums of the scalar code.
 */
AVX2 static inline __attribute__((always_inline)) void
dot32_quad(enum dtype t, int R, int64_t n, const uint8_t *w, size_t w_stride,
		   const uint8_t *a, size_t a_stride, const __m128 *dy, const __m128 *sy,
		   float *out, size_t out_stride)
{
	bool		has_min = block32_has_min(t);
	size_t		wb = block32_bytes(t);
	size_t		ab = has_min ? sizeof(struct block_q8_1) : sizeof(struct block_q8_0);
	size_t		qs_off = has_min ? offsetof(struct block_q8_1, qs) : offsetof(struct block_q8_0, qs);
	__m256		acc[2][4];
	__m128		mins[2];

#pragma GCC unroll 2
	for (int r = 0; r < R; r++)
	{
		mins[r] = _mm_setzero_ps();
#pragma GCC unroll 4
		for (int c = 0; c < 4; c++)
			acc[r][c] = _mm256_setzero_ps();
	}
	for (int64_t b = 0; b < n / 32; b++)
	{
#pragma GCC unroll 2
		for (int r = 0; r < R; r++)
		{
			const uint8_t *xb = w + r * w_stride + b * wb;
			const f16_t *xd = (const f16_t *) xb;
			__m256i		qx = block32_weights(t, xb);
			__m128		d4 = _mm_mul_ps(_mm_set1_ps(half(xd[0])), dy[b]);
			__m256		d8 = _mm256_set_m128(d4, d4);

			if (R > 1)
				_mm_prefetch((const char *) xb + 256, _MM_HINT_T0);
			if (has_min)
				mins[r] = _mm_add_ps(mins[r], _mm_mul_ps(_mm_set1_ps(half(xd[1])), sy[b]));
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++)
			{
				__m256i		qy = _mm256_loadu_si256((const __m256i *) (a + c * a_stride + b * ab + qs_off));
				__m256i		isum = has_min ? dot_u8_s8(qx, qy) : dot_s8_s8(qx, qy);
				__m256		d;

				switch (c)		/* the permute needs a constant */
				{
					case 0:
						d = _mm256_permute_ps(d8, 0x00);
						break;
					case 1:
						d = _mm256_permute_ps(d8, 0x55);
						break;
					case 2:
						d = _mm256_permute_ps(d8, 0xaa);
						break;
					default:
						d = _mm256_permute_ps(d8, 0xff);
						break;
				}
				acc[r][c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc[r][c]);
			}
		}
	}
#pragma GCC unroll 2
	for (int r = 0; r < R; r++)
	{
		float		m[4];

		_mm_storeu_ps(m, mins[r]);
#pragma GCC unroll 4
		for (int c = 0; c < 4; c++)
			out[c * out_stride + r] = has_min ? hsum_ps(acc[r][c]) + m[c] : hsum_ps(acc[r][c]);
	}
}

/* The d (and s) of every block of four activation rows, lane k for row k. */
AVX2 static inline void
quad_scales(enum dtype t, int64_t nb, const uint8_t *a, size_t a_stride, __m128 *dy, __m128 *sy)
{
	for (int64_t b = 0; b < nb; b++)
	{
		float		d[4];
		float		s[4];

		for (int k = 0; k < 4; k++)
		{
			if (block32_has_min(t))
			{
				const struct block_q8_1 *y = (const struct block_q8_1 *) (a + k * a_stride) + b;

				d[k] = half(y->d);
				s[k] = half(y->s);
			}
			else
			{
				d[k] = half(((const struct block_q8_0 *) (a + k * a_stride))[b].d);
				s[k] = 0.0f;
			}
		}
		dy[b] = _mm_loadu_ps(d);
		sy[b] = _mm_loadu_ps(s);
	}
}

/* Rows longer than this (in blocks) take the plain tiles: the quad scales
 * live on the stack. */
#define QUAD_MAX_BLOCKS 1024

/*
 * Any block of rows x activations: 2x4 tiles while 4 activations remain
 * (the unpacked weights serve 4 of them, the activations' scales are
 * converted once for all rows), then one pair at a time.  Tiles of several
 * rows defeat the hardware prefetcher on long matrices, hence the software
 * prefetch in them; for a lone activation (decode), where the product is
 * bound by memory, one row at a time streams best (4-row tiles decoded
 * SmolLM2 at 65-70 tok/s, single rows at 98-107 on 2 threads).
 */
AVX2 static inline __attribute__((always_inline)) void
dot32_block(enum dtype t, int64_t n, const uint8_t *w, size_t w_stride, int n_rows,
			const uint8_t *a, size_t a_stride, int n_acts, float *out, size_t out_stride)
{
	int64_t		nb = n / 32;
	int			c = 0;

	if (nb <= QUAD_MAX_BLOCKS)
	{
		__m128		dy[QUAD_MAX_BLOCKS];
		__m128		sy[QUAD_MAX_BLOCKS];

		for (; c + 4 <= n_acts; c += 4)
		{
			int			r = 0;

			quad_scales(t, nb, a + c * a_stride, a_stride, dy, sy);
			for (; r + 2 <= n_rows; r += 2)
				dot32_quad(t, 2, n, w + r * w_stride, w_stride, a + c * a_stride, a_stride,
						   dy, sy, out + c * out_stride + r, out_stride);
			for (; r < n_rows; r++)
				dot32_quad(t, 1, n, w + r * w_stride, w_stride, a + c * a_stride, a_stride,
						   dy, sy, out + c * out_stride + r, out_stride);
		}
	}
	for (; c + 4 <= n_acts; c += 4)
		DOT32_ROWS(t, 2, 4);
	for (; c < n_acts; c++)
		for (int r = 0; r < n_rows; r++)
			dot32_tile(t, 1, 1, n, w + r * w_stride, w_stride, a + c * a_stride, a_stride,
					   out + c * out_stride + r, out_stride);
}

/* For each type, vec_dot (a 1x1 tile) and the block kernel. */
#define DOT32_KERNELS(name, type) \
AVX2 static float \
dot_##name(int64_t n, const void *w, const void *a) \
{ \
	float		out; \
\
	dot32_tile(type, 1, 1, n, w, 0, a, 0, &out, 0); \
	return out; \
} \
\
AVX2 static void \
dot_block_##name(int64_t n, const uint8_t *w, size_t w_stride, int n_rows, \
				 const uint8_t *a, size_t a_stride, int n_acts, float *out, size_t out_stride) \
{ \
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
AVX2 static float
dot_q4_K(int64_t n, const void *w, const void *a)
{
	const struct block_q4_K *x = w;
	const struct block_q8_K *y = a;
	const __m256i none = _mm256_setzero_si256();
	__m256		acc = _mm256_setzero_ps();
	__m128		accm = _mm_setzero_ps();

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		__m128i		sm = k_scales_mins(x[b].scales);
		__m256i		scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
		__m256i		mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
		const int8_t *qy = y[b].qs;
		__m256i		isum;
		__m256i		msum;
		__m128i		mpairs;

		isum = _mm256_add_epi32(_mm256_add_epi32(k_pair(x[b].qs, none, none, qy, scales, 0),
												 k_pair(x[b].qs, none, none, qy, scales, 1)),
								_mm256_add_epi32(k_pair(x[b].qs, none, none, qy, scales, 2),
												 k_pair(x[b].qs, none, none, qy, scales, 3)));
		msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *) y[b].bsums), mins);
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

AVX2 static float
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
AVX2 static inline __m256i
q6_quarter(__m256i q, const int8_t *qy, __m128i sc8, int g)
{
	const __m128i pair = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
	__m128i		idx = _mm_add_epi8(pair, _mm_set1_epi8((char) g));
	__m256i		scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, idx));

	return _mm256_madd_epi16(_mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *) qy)), scale);
}

/*
 * Half h of a Q6_K block: quarter k takes the low (k < 2) or high nibbles
 * of ql[32*(k%2)..] and bits 2k..2k+1 of qh.
 */
AVX2 static inline __m256i
q6_half(const struct block_q6_K *x, const int8_t *qy, __m128i sc8, int h)
{
	const __m256i low4 = _mm256_set1_epi8(0x0f);
	const uint8_t *ql = x->ql + 64 * h;
	__m256i		l0 = _mm256_loadu_si256((const __m256i *) ql);
	__m256i		l1 = _mm256_loadu_si256((const __m256i *) (ql + 32));
	__m256i		hb = _mm256_loadu_si256((const __m256i *) (x->qh + 32 * h));
	__m256i		q0 = _mm256_or_si256(_mm256_and_si256(l0, low4),
									 _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x03)), 4));
	__m256i		q1 = _mm256_or_si256(_mm256_and_si256(l1, low4),
									 _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x0c)), 2));
	__m256i		q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
									 _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
	__m256i		q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
									 _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char) 0xc0)), 2));

	qy += 128 * h;
	return _mm256_add_epi32(_mm256_add_epi32(q6_quarter(q0, qy, sc8, 8 * h),
											 q6_quarter(q1, qy + 32, sc8, 8 * h + 2)),
							_mm256_add_epi32(q6_quarter(q2, qy + 64, sc8, 8 * h + 4),
											 q6_quarter(q3, qy + 96, sc8, 8 * h + 6)));
}

AVX2 static float
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
AVX2 static inline void
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

/* As dot_q4_K_x8 in quant_ref.c: one term per `pairs` pairs of sub-blocks. */
AVX2 static inline float
dot_q4_K_x8(int64_t n, const void *w, const void *a, int pairs)
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
		for (int p = 0; p < 4; p += pairs)
		{
			int			is = 0;
			int			im = 0;

			for (int k = p; k < p + pairs; k++)
			{
				is += isum[k];
				im += imin[k];
			}
			acc = fmaf((float) is, dd, acc);
			accm = fmaf((float) im, dm, accm);
		}
	}
	return acc - accm;
}

AVX2 static float
dot_q4_K_x8_gemv(int64_t n, const void *w, const void *a)
{
	return dot_q4_K_x8(n, w, a, 4);
}

AVX2 static float
dot_q4_K_x8_gemm(int64_t n, const void *w, const void *a)
{
	return dot_q4_K_x8(n, w, a, 1);
}

/* As dot_k_tiled in quant_ref.c. */
AVX2 static float
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

AVX2 static float
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
AVX2 static float
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
AVX2 static inline float
dot_tinyblas(enum dtype t, int64_t n, const void *w, const void *a)
{
	__m256		acc = _mm256_setzero_ps();

	for (int64_t i = 0; i < n; i += 8)
		acc = _mm256_fmadd_ps(load_x8(t, w, i), load_x8(t, a, i), acc);
	return hsum_ps(acc);
}

AVX2 static float
dot_f32_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_F32, n, w, a);
}

AVX2 static float
dot_f16_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_F16, n, w, a);
}

AVX2 static float
dot_bf16_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_BF16, n, w, a);
}

/* ---- quantization of activations ---- */

/* Round 8 floats to nearest even and convert to int32. */
AVX2 static inline __m256i
round_even(__m256 v)
{
	return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* Pack 4x8 int32 in [-128, 127] to 32 bytes, in order. */
AVX2 static inline void
store_i8x32(int8_t *dst, __m256i i0, __m256i i1, __m256i i2, __m256i i3)
{
	__m256i		p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));

	/* packs works per 128-bit lane: restore the order of the 4-byte groups */
	p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *) dst, p);
}

/* One Q8_0/Q8_1 block, as q8_block() in quant_ref.c. */
AVX2 static float
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

AVX2 static void
quantize_q8_0(const float *src, void *dst, int64_t n)
{
	struct block_q8_0 *y = dst;

	for (int64_t b = 0; b < n / QK8_0; b++)
	{
		int			sum;

		y[b].d = f32_to_f16(q8_block(src + b * QK8_0, y[b].qs, &sum));
	}
}

AVX2 static void
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
AVX2 static float
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
AVX2 static void
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
AVX2 static void
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

const struct quant_kernels quant_kernels_avx2 = {
	.name = "avx2",
	.quantize = {
		[DTYPE_F16] = quantize_f16,
		[DTYPE_Q8_0] = quantize_q8_0,
		[DTYPE_Q8_1] = quantize_q8_1,
		[DTYPE_Q8_K] = quantize_q8_K,
	},
	.vec_dot = {
		[DTYPE_F32] = dot_f32,
		[DTYPE_F16] = dot_f16,
		[DTYPE_BF16] = dot_bf16,
		[DTYPE_Q4_0] = dot_q4_0,
		[DTYPE_Q4_1] = dot_q4_1,
		[DTYPE_Q5_0] = dot_q5_0,
		[DTYPE_Q5_1] = dot_q5_1,
		[DTYPE_Q8_0] = dot_q8_0,
		[DTYPE_Q4_K] = dot_q4_K,
		[DTYPE_Q5_K] = dot_q5_K,
		[DTYPE_Q6_K] = dot_q6_K,
	},
	.vec_dot_x8_gemv = {[DTYPE_Q4_K] = dot_q4_K_x8_gemv},
	.vec_dot_x8_gemm = {[DTYPE_Q4_K] = dot_q4_K_x8_gemm},
	.vec_dot_tiled = {
		[DTYPE_Q4_K] = dot_q4_K_tiled,
		[DTYPE_Q5_K] = dot_q5_K_tiled,
		[DTYPE_Q6_K] = dot_q6_K_tiled,
	},
	.vec_dot_tinyblas = {
		[DTYPE_F32] = dot_f32_tinyblas,
		[DTYPE_F16] = dot_f16_tinyblas,
		[DTYPE_BF16] = dot_bf16_tinyblas,
	},
	.vec_dot_block = {
		[DTYPE_Q4_0] = dot_block_q4_0,
		[DTYPE_Q4_1] = dot_block_q4_1,
		[DTYPE_Q5_0] = dot_block_q5_0,
		[DTYPE_Q5_1] = dot_block_q5_1,
		[DTYPE_Q8_0] = dot_block_q8_0,
	},
};

#else							/* not x86: no fast kernels */

int
quant_avx2_usable(void)
{
	return 0;
}

const struct quant_kernels quant_kernels_avx2 = {.name = "avx2"};

#endif
