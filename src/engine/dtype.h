/*
 * dtype.h — tensor element types as numbered in GGUF files.
 *
 * The numbers are the file format's, so a value read from a tensor info
 * record can be compared directly.  Only the types listed in dtype_traits
 * (quant.c) are supported; the others are named for error messages.
 */
#ifndef DR1_DTYPE_H
#define DR1_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dtype
{
	DTYPE_F32 = 0,
	DTYPE_F16 = 1,
	DTYPE_Q4_0 = 2,
	DTYPE_Q4_1 = 3,
	DTYPE_Q5_0 = 6,
	DTYPE_Q5_1 = 7,
	DTYPE_Q8_0 = 8,
	DTYPE_Q8_1 = 9,
	DTYPE_Q2_K = 10,
	DTYPE_Q3_K = 11,
	DTYPE_Q4_K = 12,
	DTYPE_Q5_K = 13,
	DTYPE_Q6_K = 14,
	DTYPE_Q8_K = 15,
	DTYPE_BF16 = 30,
	DTYPE_COUNT = 40			/* upper bound of the file format's numbering */
};

/* Elements per block (1 for plain float types); 0 when unsupported. */
int			dtype_block_elems(uint32_t type);

/* Bytes per block; 0 when unsupported. */
size_t		dtype_block_bytes(uint32_t type);

/* "Q4_K", "F32", ... or "type 17" style for unknown numbers (static buffer
 * for known names only; unknown ones return "unknown"). */
const char *dtype_name(uint32_t type);

/* True for the types a model weight may have (dequantize + dot product). */
bool		dtype_is_weight_type(uint32_t type);

/* Bytes of a row of n elements; n must be a multiple of the block size. */
size_t		dtype_row_bytes(uint32_t type, int64_t n);

#endif
