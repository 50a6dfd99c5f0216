/*
 * mm_path.c — llama.cpp's choice of kernel, and so of summation order, for
 * each row of a matrix product (mm_path.h).
 */
#include "mm_path.h"

/*
 * llama.cpp on x86 with AVX2 repacks Q4_K weights whose row count is a
 * multiple of 8 (ggml-cpu/repack.cpp): activation rows are then taken 4 at
 * a time by the gemm kernel and the 0..3 left over one by one by the gemv
 * kernel.  Other K-quants go to the tiled kernel (ggml-cpu/tiled) from 8
 * activation rows.  From 2 activation rows, llamafile's tinyBLAS takes
 * weights of F32, F16 and BF16 (the activations converted to the weight's
 * type) with a row count that is a multiple of 4, and Q4_0/Q5_0/Q8_0, whose
 * sums it keeps in vec_dot's order.  Everything else is vec_dot.
 */
enum mm_path
mm_path_for(enum dtype w, int64_t w_rows, int32_t n_act, int32_t i_act)
{
	switch (w)
	{
		case DTYPE_Q4_K:
			if (w_rows % 8 == 0)
				return i_act < n_act - n_act % 4 ? MM_X8_GEMM : MM_X8_GEMV;
			/* fall through */
		case DTYPE_Q5_K:
		case DTYPE_Q6_K:
			return n_act >= 8 ? MM_TILED : MM_VEC_DOT;
		case DTYPE_F32:
		case DTYPE_F16:
		case DTYPE_BF16:
			return n_act >= 2 && w_rows % 4 == 0 ? MM_TINYBLAS : MM_VEC_DOT;
		default:
			return MM_VEC_DOT;
	}
}
