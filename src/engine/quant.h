/*
 * quant.h — block formats of the GGUF quantized types, and the kernels on
 * them: dequantization, quantization of activations, and dot products.
 *
 * A weight row of type T is multiplied with an activation vector that has
 * first been quantized to quant_act_type(T): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1
 * for Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16, BF16 for BF16 and F32
 * for F32.  These are the same pairings llama.cpp uses, which keeps our
 * results within float rounding of the reference implementation.
 *
 * Each kernel exists twice: a plain scalar reference (quant_ref.c), written
 * for clarity and used by the tests, and the fast version dispatched at run
 * time (AVX2+FMA where the CPU has it, otherwise the reference).
 */
#ifndef DR1_QUANT_H
#define DR1_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t f16_t;

struct block_q4_0 { f16_t d; uint8_t qs[QK4_0 / 2]; };
struct block_q4_1 { f16_t d; f16_t m; uint8_t qs[QK4_1 / 2]; };
struct block_q5_0 { f16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct block_q5_1 { f16_t d; f16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct block_q8_0 { f16_t d; int8_t qs[QK8_0]; };
struct block_q8_1 { f16_t d; f16_t s; int8_t qs[QK8_1]; };	/* s = d * sum(qs) */
struct block_q4_K { f16_t d; f16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { f16_t d; f16_t dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; f16_t d; };
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

/* The activation format a weight type is dotted with (see above). */
enum dtype	quant_act_type(enum dtype weight);

/* Dequantize n elements (a multiple of the block size) of type t to floats.
 * Supported for every weight type. */
void		dequantize_row(enum dtype t, const void *src, float *dst, int64_t n);

/* Quantize n floats to an activation type (F32, F16, BF16, Q8_0, Q8_1, Q8_K). */
void		quantize_row_act(enum dtype act, const float *src, void *dst, int64_t n);

/* Dot product of n elements of a weight row of type w with an activation row
 * already in quant_act_type(w) format. */
float		vec_dot(enum dtype w, int64_t n, const void *wrow, const void *act);

/* Scalar references of the three above, same contracts. */
void		dequantize_row_ref(enum dtype t, const void *src, float *dst, int64_t n);
void		quantize_row_act_ref(enum dtype act, const float *src, void *dst, int64_t n);
float		vec_dot_ref(enum dtype w, int64_t n, const void *wrow, const void *act);

/*
 * llama.cpp's CPU backend (x86 with AVX2, as built for our reference) sums
 * a matrix product in one of several orders, chosen by weight type and by
 * the number of activation rows in the product.  The integer sums are the
 * same; their float accumulation differs, and so do the last bits:
 *
 * MM_VEC_DOT	ggml's vec_dot, and llamafile's tinyBLAS for the quantized
 *				types (same sums per element); for F32/F16/BF16, vec_dot's
 *				32 lanes and horizontal sums, reference included
 * MM_X8_GEMV	Q4_K repacked 8 rows at a time, an activation row on its own:
 *				one float term per super-block, mins kept apart
 * MM_X8_GEMM	the same, activation rows in groups of 4: one float term per
 *				64 elements
 * MM_TILED		the tiled K-quant kernel for 8+ activation rows: per
 *				super-block d*isum (- dmin*imin), then times the row's scale
 * MM_TINYBLAS	tinyBLAS on F32/F16/BF16 weights, 2+ activation rows: 8 lanes
 *				fused over the row, one horizontal sum; rows whose length is
 *				not a multiple of 8 sum as vec_dot (tinyBLAS declines them)
 */
enum mm_path
{
	MM_VEC_DOT,
	MM_X8_GEMV,
	MM_X8_GEMM,
	MM_TILED,
	MM_TINYBLAS,
	MM_PATH_COUNT
};

/*
 * The order llama.cpp uses for row i_act of n_act activation rows times a
 * weight of type w with w_rows rows.
 */
enum mm_path mm_path_for(enum dtype w, int64_t w_rows, int32_t n_act, int32_t i_act);

/* vec_dot() summed in the order of path p (MM_VEC_DOT is vec_dot itself). */
float		vec_dot_path(enum mm_path p, enum dtype w, int64_t n, const void *wrow, const void *act);
float		vec_dot_path_ref(enum mm_path p, enum dtype w, int64_t n, const void *wrow, const void *act);

/*
 * A block of products: out[c * out_stride + r] = vec_dot_path(p, w, n, row r,
 * activation c) for r < n_rows and c < n_acts, equal to it bit for bit.
 * Weight rows lie w_stride bytes apart, activation rows a_stride.  Where a
 * kernel shares its loads across the block this is several times faster
 * than one call per pair.
 */
void		vec_dot_block(enum mm_path p, enum dtype w, int64_t n,
						  const void *wrows, size_t w_stride, int n_rows,
						  const void *acts, size_t a_stride, int n_acts,
						  float *out, size_t out_stride);

/* Select the fast kernels for this CPU ("avx2" or "scalar"); called once by
 * quant_init, also callable by tests to force the reference path. */
const char *quant_init(void);

#endif
