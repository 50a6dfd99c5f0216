/*
 * mm_path.h — which summation order llama.cpp's CPU backend uses for each
 * row of a matrix product: the kernels of quant.h mirror each order.
 */
#ifndef DR1_MM_PATH_H
#define DR1_MM_PATH_H

#include <stdint.h>

#include "dtype.h"

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

#endif
