/*
 * dtype.c — sizes and names of the GGUF tensor element types.
 */
#include "dtype.h"

#include "qblocks.h"

struct dtype_info
{
	const char *name;
	int			block_elems;
	size_t		block_bytes;
	bool		weight;			/* may hold model weights */
};

static const struct dtype_info dtype_table[DTYPE_COUNT] = {
	[DTYPE_F32] = {"F32", 1, 4, true},
	[DTYPE_F16] = {"F16", 1, 2, true},
	[DTYPE_BF16] = {"BF16", 1, 2, true},
	[DTYPE_Q4_0] = {"Q4_0", QK4_0, sizeof(struct block_q4_0), true},
	[DTYPE_Q4_1] = {"Q4_1", QK4_1, sizeof(struct block_q4_1), true},
	[DTYPE_Q5_0] = {"Q5_0", QK5_0, sizeof(struct block_q5_0), true},
	[DTYPE_Q5_1] = {"Q5_1", QK5_1, sizeof(struct block_q5_1), true},
	[DTYPE_Q8_0] = {"Q8_0", QK8_0, sizeof(struct block_q8_0), true},
	[DTYPE_Q8_1] = {"Q8_1", QK8_1, sizeof(struct block_q8_1), false},
	[DTYPE_Q4_K] = {"Q4_K", QK_K, sizeof(struct block_q4_K), true},
	[DTYPE_Q5_K] = {"Q5_K", QK_K, sizeof(struct block_q5_K), true},
	[DTYPE_Q6_K] = {"Q6_K", QK_K, sizeof(struct block_q6_K), true},
	[DTYPE_Q8_K] = {"Q8_K", QK_K, sizeof(struct block_q8_K), false},
	/* known to the format, not supported here: named for error messages */
	[DTYPE_Q2_K] = {"Q2_K", 0, 0, false},
	[DTYPE_Q3_K] = {"Q3_K", 0, 0, false},
	[16] = {"IQ2_XXS", 0, 0, false},
	[17] = {"IQ2_XS", 0, 0, false},
	[18] = {"IQ3_XXS", 0, 0, false},
	[19] = {"IQ1_S", 0, 0, false},
	[20] = {"IQ4_NL", 0, 0, false},
	[21] = {"IQ3_S", 0, 0, false},
	[22] = {"IQ2_S", 0, 0, false},
	[23] = {"IQ4_XS", 0, 0, false},
	[24] = {"I8", 0, 0, false},
	[25] = {"I16", 0, 0, false},
	[26] = {"I32", 0, 0, false},
	[27] = {"I64", 0, 0, false},
	[28] = {"F64", 0, 0, false},
	[29] = {"IQ1_M", 0, 0, false},
	[34] = {"TQ1_0", 0, 0, false},
	[35] = {"TQ2_0", 0, 0, false},
	[39] = {"MXFP4", 0, 0, false},
};

static const struct dtype_info *
dtype_lookup(uint32_t type)
{
	return type < DTYPE_COUNT ? &dtype_table[type] : NULL;
}

int
dtype_block_elems(uint32_t type)
{
	const struct dtype_info *d = dtype_lookup(type);

	return d ? d->block_elems : 0;
}

size_t
dtype_block_bytes(uint32_t type)
{
	const struct dtype_info *d = dtype_lookup(type);

	return d ? d->block_bytes : 0;
}

const char *
dtype_name(uint32_t type)
{
	const struct dtype_info *d = dtype_lookup(type);

	return d && d->name ? d->name : "unknown";
}

bool
dtype_is_weight_type(uint32_t type)
{
	const struct dtype_info *d = dtype_lookup(type);

	return d && d->weight;
}

size_t
dtype_row_bytes(uint32_t type, int64_t n)
{
	const struct dtype_info *d = dtype_lookup(type);

	if (!d || d->block_elems == 0)
		return 0;
	return (size_t) (n / d->block_elems) * d->block_bytes;
}
