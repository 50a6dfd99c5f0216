/*
 * quant.c — run-time choice of the quantized kernels, and the entry points
 * of quant.h.
 *
 * The active table is the reference table with the fastest usable SIMD
 * table laid over it: AVX-512+VNNI, else AVX2 (with FMA and F16C).  Both
 * SIMD tables compute the same bits (quant_avx2.c), so the choice changes
 * speed only.  It is made once (pthread_once) on first use; afterwards each
 * call costs one atomic load and an indirect call.  DR1_QUANT_KERNELS in the
 * environment caps the choice (scalar, avx2, avx512), to compare whole runs
 * of two paths on one machine.
 */
#include "quant.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "quant_kernels.h"

static struct quant_kernels active_table;
static _Atomic(const struct quant_kernels *) active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

/* The fastest table the CPU runs, no faster than DR1_QUANT_KERNELS allows;
 * NULL for the reference alone. */
static const struct quant_kernels *
fastest_allowed(void)
{
	const char *cap = getenv("DR1_QUANT_KERNELS");

	if (cap && strcmp(cap, "scalar") == 0)
		return NULL;
	if (quant_avx512_usable() && !(cap && strcmp(cap, "avx2") == 0))
		return &quant_kernels_avx512;
	if (quant_avx2_usable())
		return &quant_kernels_avx2;
	return NULL;
}

#define OVERLAY(field) \
	do { \
		if (fast->field[t]) \
			active_table.field[t] = fast->field[t]; \
	} while (0)

static void
select_kernels(void)
{
	const struct quant_kernels *fast = fastest_allowed();

	active_table = quant_kernels_ref;
	if (fast)
	{
		active_table.name = fast->name;
		for (int t = 0; t < DTYPE_COUNT; t++)
		{
			OVERLAY(dequant);
			OVERLAY(quantize);
			OVERLAY(vec_dot);
			OVERLAY(vec_dot_x8_gemv);
			OVERLAY(vec_dot_x8_gemm);
			OVERLAY(vec_dot_tiled);
			OVERLAY(vec_dot_tinyblas);
			OVERLAY(vec_dot_block);
		}
	}
	atomic_store_explicit(&active, &active_table, memory_order_release);
}

const char *
quant_init(void)
{
	pthread_once(&active_once, select_kernels);
	return atomic_load_explicit(&active, memory_order_acquire)->name;
}

static inline const struct quant_kernels *
kernels(void)
{
	const struct quant_kernels *k;

	k = atomic_load_explicit(&active, memory_order_acquire);
	if (k == NULL)
	{
		quant_init();
		k = atomic_load_explicit(&active, memory_order_acquire);
	}
	return k;
}

enum dtype
quant_act_type(enum dtype weight)
{
	switch (weight)
	{
		case DTYPE_F32:
		case DTYPE_F16:
		case DTYPE_BF16:
			return weight;
		case DTYPE_Q4_0:
		case DTYPE_Q5_0:
		case DTYPE_Q8_0:
			return DTYPE_Q8_0;
		case DTYPE_Q4_1:
		case DTYPE_Q5_1:
			return DTYPE_Q8_1;
		case DTYPE_Q4_K:
		case DTYPE_Q5_K:
		case DTYPE_Q6_K:
			return DTYPE_Q8_K;
		default:
			return DTYPE_COUNT; /* not a weight type */
	}
}

/*
 * Unsupported types are a caller's bug (the model loader rejects them):
 * they give NaNs rather than a crash, so the mistake shows in the output.
 */
static void
dequantize_with(const struct quant_kernels *k, enum dtype t,
				const void *src, float *dst, int64_t n)
{
	if ((unsigned) t < DTYPE_COUNT && k->dequant[t])
		k->dequant[t] (src, dst, n);
	else
		for (int64_t i = 0; i < n; i++)
			dst[i] = NAN;
}

static void
quantize_with(const struct quant_kernels *k, enum dtype act,
			  const float *src, void *dst, int64_t n)
{
	if ((unsigned) act < DTYPE_COUNT && k->quantize[act])
		k->quantize[act] (src, dst, n);
}

static float
vec_dot_with(const struct quant_kernels *k, enum dtype w, int64_t n,
			 const void *wrow, const void *act)
{
	if ((unsigned) w < DTYPE_COUNT && k->vec_dot[w])
		return k->vec_dot[w] (n, wrow, act);
	return NAN;
}

void
dequantize_row(enum dtype t, const void *src, float *dst, int64_t n)
{
	dequantize_with(kernels(), t, src, dst, n);
}

void
quantize_row_act(enum dtype act, const float *src, void *dst, int64_t n)
{
	quantize_with(kernels(), act, src, dst, n);
}

float
vec_dot(enum dtype w, int64_t n, const void *wrow, const void *act)
{
	return vec_dot_with(kernels(), w, n, wrow, act);
}

void
dequantize_row_ref(enum dtype t, const void *src, float *dst, int64_t n)
{
	dequantize_with(&quant_kernels_ref, t, src, dst, n);
}

void
quantize_row_act_ref(enum dtype act, const float *src, void *dst, int64_t n)
{
	quantize_with(&quant_kernels_ref, act, src, dst, n);
}

float
vec_dot_ref(enum dtype w, int64_t n, const void *wrow, const void *act)
{
	return vec_dot_with(&quant_kernels_ref, w, n, wrow, act);
}

/*
 * A path without a kernel of its own for type w sums as vec_dot does, and
 * so does tinyBLAS on rows whose length is not a multiple of its 8 lanes.
 */
static float
vec_dot_path_with(const struct quant_kernels *k, enum mm_path p, enum dtype w,
				  int64_t n, const void *wrow, const void *act)
{
	const vec_dot_fn *table;

	if ((unsigned) w >= DTYPE_COUNT)
		return NAN;
	switch (p)
	{
		case MM_X8_GEMV:
			table = k->vec_dot_x8_gemv;
			break;
		case MM_X8_GEMM:
			table = k->vec_dot_x8_gemm;
			break;
		case MM_TILED:
			table = k->vec_dot_tiled;
			break;
		case MM_TINYBLAS:
			table = n % 8 == 0 ? k->vec_dot_tinyblas : k->vec_dot;
			break;
		default:
			table = k->vec_dot;
			break;
	}
	if (table[w])
		return table[w] (n, wrow, act);
	return vec_dot_with(k, w, n, wrow, act);
}

float
vec_dot_path(enum mm_path p, enum dtype w, int64_t n, const void *wrow, const void *act)
{
	return vec_dot_path_with(kernels(), p, w, n, wrow, act);
}

float
vec_dot_path_ref(enum mm_path p, enum dtype w, int64_t n, const void *wrow, const void *act)
{
	return vec_dot_path_with(&quant_kernels_ref, p, w, n, wrow, act);
}

void
vec_dot_block(enum mm_path p, enum dtype w, int64_t n,
			  const void *wrows, size_t w_stride, int n_rows,
			  const void *acts, size_t a_stride, int n_acts,
			  float *out, size_t out_stride)
{
	const struct quant_kernels *k = kernels();
	const uint8_t *wr = wrows;
	const uint8_t *ar = acts;

	if ((unsigned) w < DTYPE_COUNT && k->vec_dot_block[w])
	{
		k->vec_dot_block[w] (p, n, wr, w_stride, n_rows, ar, a_stride, n_acts, out, out_stride);
		return;
	}
	for (int c = 0; c < n_acts; c++)
		for (int r = 0; r < n_rows; r++)
			out[c * out_stride + r] =
				vec_dot_path_with(k, p, w, n, wr + r * w_stride, ar + c * a_stride);
}
