/*
 * quant_kernels.h — the kernel tables behind quant.h (internal to quant*.c).
 *
 * quant_ref.c fills a complete table with the scalar reference kernels;
 * quant_avx2.c (built twice: AVX2, and AVX-512 by quant_avx512.c) fills
 * only the entries it accelerates.  quant.c merges one of them over the
 * reference once at start-up.  Lengths are in elements and are multiples
 * of the type's block size.
 */
#ifndef DR1_QUANT_KERNELS_H
#define DR1_QUANT_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "f16.h"
#include "mm_path.h"
#include "qblocks.h"

typedef void (*dequant_fn) (const void *src, float *dst, int64_t n);
typedef void (*quantize_fn) (const float *src, void *dst, int64_t n);
typedef float (*vec_dot_fn) (int64_t n, const void *w, const void *a);
typedef void (*vec_dot_block_fn) (enum mm_path p, int64_t n, const uint8_t *w, size_t w_stride,
								  int n_rows, const uint8_t *a, size_t a_stride, int n_acts,
								  float *out, size_t out_stride);

struct quant_kernels
{
	const char *name;
	dequant_fn	dequant[DTYPE_COUNT];
	quantize_fn quantize[DTYPE_COUNT];
	vec_dot_fn	vec_dot[DTYPE_COUNT];
	vec_dot_fn	vec_dot_x8_gemv[DTYPE_COUNT];	/* enum mm_path in quant.h */
	vec_dot_fn	vec_dot_x8_gemm[DTYPE_COUNT];
	vec_dot_fn	vec_dot_tiled[DTYPE_COUNT];
	vec_dot_fn	vec_dot_tinyblas[DTYPE_COUNT];	/* n a multiple of 8 */
	vec_dot_block_fn vec_dot_block[DTYPE_COUNT];	/* vec_dot_block (quant.h) in any order */
};

extern const struct quant_kernels quant_kernels_ref;

/*
 * The SIMD tables, only meaningful when their usable() says so; NULL
 * entries mean "no fast version, use the reference".  The AVX-512 table is
 * the AVX2 one built for a wider target and gives the same bits.
 */
extern const struct quant_kernels quant_kernels_avx2;
extern const struct quant_kernels quant_kernels_avx512;

/* True when the kernels were compiled in and the CPU runs them. */
int			quant_avx2_usable(void);
int			quant_avx512_usable(void);

/*
 * Inverse scale of a Q8_0/Q8_1 block of largest magnitude amax (ggml's x86
 * formula).  A block of zeros, or of values so small that 127/amax
 * overflows, quantizes to zeros: its scale rounds to 0 in half precision
 * anyway.
 */
static inline float
q8_inverse_scale(float amax)
{
	float		id = amax != 0.0f ? 127.0f / amax : 0.0f;

	return isinf(id) ? 0.0f : id;
}

/*
 * Q8_K's signed inverse scale from the value of largest magnitude; 0 (an
 * all-zero block) where it is zero or too small to invert.
 */
static inline float
q8_K_inverse_scale(float max)
{
	float		iscale = max != 0.0f ? -127.0f / max : 0.0f;

	return isinf(iscale) ? 0.0f : iscale;
}

/*
 * The 6-bit scale and min of sub-block j (0..7) of a Q4_K or Q5_K block.
 * Sub-blocks 0..3 keep theirs in the low 6 bits of bytes j and j+4; 4..7
 * keep the low 4 bits in byte j+4 and the top 2 bits in the spare top bits
 * of bytes j-4 (scale) and j (min).
 */
static inline void
k_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *mn)
{
	if (j < 4)
	{
		*sc = s[j] & 63;
		*mn = s[j + 4] & 63;
	}
	else
	{
		*sc = (uint8_t) ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
		*mn = (uint8_t) ((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
	}
}

/*
 * The elements from `from` (a multiple of 32) to n of ggml's float
 * vec_dots, after their 32-lane loop.  ggml_vec_dot_f32 adds x*y to a
 * float: GCC (-O3 -march=native) vectorizes that loop by 8, then 4
 * elements, with the products rounded, and fuses the last n % 4 into FMAs
 * (our -std=c11 leaves `sum + x*y` unfused).  The F16 and BF16 versions add the float products (exact) to a double.
 * Shared by both kernel tables so that their tails are the same code.
 */
static inline float
f32_dot_tail(const float *x, const float *y, int64_t from, int64_t n, float sum)
{
	for (int64_t i = from; i < n; i++)
		sum = i < n - n % 4 ? sum + x[i] * y[i] : fmaf(x[i], y[i], sum);
	return sum;
}

static inline float
half_dot_tail(enum dtype t, const uint16_t *x, const uint16_t *y, int64_t from, int64_t n,
			  double sum)
{
	for (int64_t i = from; i < n; i++)
		if (t == DTYPE_BF16)
			sum += (double) (bf16_to_f32(x[i]) * bf16_to_f32(y[i]));
		else
			sum += (double) (f16_to_f32(x[i]) * f16_to_f32(y[i]));
	return (float) sum;
}

/*
 * The dot-product entries that both tables fill, with the same names for
 * each file's own static kernels (dot_f32, dot_q4_K_tiled, ...): one list,
 * so that a kernel added to one file cannot be forgotten in the other.
 */
#define QUANT_KERNELS_DOT_TABLES \
	.vec_dot = { \
		[DTYPE_F32] = dot_f32, \
		[DTYPE_F16] = dot_f16, \
		[DTYPE_BF16] = dot_bf16, \
		[DTYPE_Q4_0] = dot_q4_0, \
		[DTYPE_Q4_1] = dot_q4_1, \
		[DTYPE_Q5_0] = dot_q5_0, \
		[DTYPE_Q5_1] = dot_q5_1, \
		[DTYPE_Q8_0] = dot_q8_0, \
		[DTYPE_Q4_K] = dot_q4_K, \
		[DTYPE_Q5_K] = dot_q5_K, \
		[DTYPE_Q6_K] = dot_q6_K, \
	}, \
	.vec_dot_x8_gemv = {[DTYPE_Q4_K] = dot_q4_K_x8_gemv}, \
	.vec_dot_x8_gemm = {[DTYPE_Q4_K] = dot_q4_K_x8_gemm}, \
	.vec_dot_tiled = { \
		[DTYPE_Q4_K] = dot_q4_K_tiled, \
		[DTYPE_Q5_K] = dot_q5_K_tiled, \
		[DTYPE_Q6_K] = dot_q6_K_tiled, \
	}, \
	.vec_dot_tinyblas = { \
		[DTYPE_F32] = dot_f32_tinyblas, \
		[DTYPE_F16] = dot_f16_tinyblas, \
		[DTYPE_BF16] = dot_bf16_tinyblas, \
	}

#endif
