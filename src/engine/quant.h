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
#include "mm_path.h"
#include "qblocks.h"

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
