/*
 * quant_ref.c — scalar reference kernels: dequantization, quantization of
 * activations and dot products, for every supported type.
 *
 * The formulas are ggml's (llama.cpp's CPU backend), so that results agree
 * with it to float rounding: integer sums inside a block, one float term
 * per block (or per K-quant super-block), accumulated in float.  Float
 * weights, having no block, are summed in ggml's AVX2 lane order instead,
 * equal to the fast kernels bit for bit.  Written for clarity; these are
 * also the kernels used on CPUs without AVX2.
 *
 * Each weight format has one unpacking function that turns a block's packed
 * quants into plain int8 values; dequantization scales them and the dot
 * products sum their products with the activation's int8 quants.
 */
#include "quant.h"

#include <math.h>
#include <string.h>

#include "f16.h"
#include "quant_kernels.h"

/* ---- unpacking of the packed quants ---- */

/* 32 nibbles minus offset: the low nibbles are elements 0..15. */
static void
unpack_nibbles(const uint8_t *qs, int offset, int8_t *q)
{
	for (int j = 0; j < 16; j++)
	{
		q[j] = (int8_t) ((qs[j] & 0x0f) - offset);
		q[j + 16] = (int8_t) ((qs[j] >> 4) - offset);
	}
}

/* Q5_0/Q5_1: nibbles plus bit e of the 32-bit qh as bit 4 of element e. */
static void
unpack_five_bits(const uint8_t *qs, const uint8_t *qh4, int offset, int8_t *q)
{
	uint32_t	qh;

	memcpy(&qh, qh4, sizeof qh);
	for (int e = 0; e < 32; e++)
	{
		int			low4 = e < 16 ? qs[e] & 0x0f : qs[e - 16] >> 4;

		q[e] = (int8_t) ((low4 | (int) ((qh >> e) & 1) << 4) - offset);
	}
}

/*
 * Q4_K/Q5_K: 128 bytes of nibbles; each 32 bytes hold two sub-blocks of 32,
 * the low nibbles first.  For Q5_K, bit j of qh[l] is the fifth bit of
 * element l of sub-block j (qh NULL for Q4_K).
 */
static void
unpack_k(const uint8_t *qs, const uint8_t *qh, int8_t *q)
{
	for (int p = 0; p < QK_K / 64; p++)
		for (int l = 0; l < 32; l++)
		{
			q[64 * p + l] = (int8_t) (qs[32 * p + l] & 0x0f);
			q[64 * p + 32 + l] = (int8_t) (qs[32 * p + l] >> 4);
		}
	if (qh)
		for (int j = 0; j < QK_K / 32; j++)
			for (int l = 0; l < 32; l++)
				q[32 * j + l] |= (int8_t) (((qh[l] >> j) & 1) << 4);
}

/*
 * Q6_K, values -32..31.  Each half of 128 elements has 64 ql bytes and 32
 * qh bytes; element l of quarter k takes the low (k < 2) or high (k >= 2)
 * nibble of ql[l + 32*(k%2)] and bits 2k..2k+1 of qh[l].
 */
static void
unpack_q6_K(const struct block_q6_K *b, int8_t *q)
{
	for (int h = 0; h < 2; h++)
	{
		const uint8_t *ql = b->ql + 64 * h;
		const uint8_t *qh = b->qh + 32 * h;
		int8_t	   *out = q + 128 * h;

		for (int l = 0; l < 32; l++)
		{
			out[l] = (int8_t) (((ql[l] & 0x0f) | (qh[l] & 3) << 4) - 32);
			out[l + 32] = (int8_t) (((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32);
			out[l + 64] = (int8_t) (((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
			out[l + 96] = (int8_t) (((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
		}
	}
}

static int
dot_i8(const int8_t *x, const int8_t *y, int n)
{
	int			sum = 0;

	for (int i = 0; i < n; i++)
		sum += x[i] * y[i];
	return sum;
}

/* ---- dequantization ---- */

static void
dequant_f32(const void *src, float *dst, int64_t n)
{
	memcpy(dst, src, (size_t) n * sizeof(float));
}

static void
dequant_f16(const void *src, float *dst, int64_t n)
{
	const uint16_t *x = src;

	for (int64_t i = 0; i < n; i++)
		dst[i] = f16_to_f32(x[i]);
}

static void
dequant_bf16(const void *src, float *dst, int64_t n)
{
	const uint16_t *x = src;

	for (int64_t i = 0; i < n; i++)
		dst[i] = bf16_to_f32(x[i]);
}

/* q * d, or q * d + m when the block has a min. */
static void
scale_block(const int8_t *q, int len, float d, float m, bool has_min, float *dst)
{
	for (int e = 0; e < len; e++)
		dst[e] = has_min ? q[e] * d + m : q[e] * d;
}

static void
dequant_q4_0(const void *src, float *dst, int64_t n)
{
	const struct block_q4_0 *x = src;
	int8_t		q[QK4_0];

	for (int64_t b = 0; b < n / QK4_0; b++, dst += QK4_0)
	{
		unpack_nibbles(x[b].qs, 8, q);
		scale_block(q, QK4_0, f16_to_f32(x[b].d), 0.0f, false, dst);
	}
}

static void
dequant_q4_1(const void *src, float *dst, int64_t n)
{
	const struct block_q4_1 *x = src;
	int8_t		q[QK4_1];

	for (int64_t b = 0; b < n / QK4_1; b++, dst += QK4_1)
	{
		unpack_nibbles(x[b].qs, 0, q);
		scale_block(q, QK4_1, f16_to_f32(x[b].d), f16_to_f32(x[b].m), true, dst);
	}
}

static void
dequant_q5_0(const void *src, float *dst, int64_t n)
{
	const struct block_q5_0 *x = src;
	int8_t		q[QK5_0];

	for (int64_t b = 0; b < n / QK5_0; b++, dst += QK5_0)
	{
		unpack_five_bits(x[b].qs, x[b].qh, 16, q);
		scale_block(q, QK5_0, f16_to_f32(x[b].d), 0.0f, false, dst);
	}
}

static void
dequant_q5_1(const void *src, float *dst, int64_t n)
{
	const struct block_q5_1 *x = src;
	int8_t		q[QK5_1];

	for (int64_t b = 0; b < n / QK5_1; b++, dst += QK5_1)
	{
		unpack_five_bits(x[b].qs, x[b].qh, 0, q);
		scale_block(q, QK5_1, f16_to_f32(x[b].d), f16_to_f32(x[b].m), true, dst);
	}
}

static void
dequant_q8_0(const void *src, float *dst, int64_t n)
{
	const struct block_q8_0 *x = src;

	for (int64_t b = 0; b < n / QK8_0; b++, dst += QK8_0)
		scale_block(x[b].qs, QK8_0, f16_to_f32(x[b].d), 0.0f, false, dst);
}

static void
dequant_q8_1(const void *src, float *dst, int64_t n)
{
	const struct block_q8_1 *x = src;

	for (int64_t b = 0; b < n / QK8_1; b++, dst += QK8_1)
		scale_block(x[b].qs, QK8_1, f16_to_f32(x[b].d), 0.0f, false, dst);
}

static void
dequant_q8_K(const void *src, float *dst, int64_t n)
{
	const struct block_q8_K *x = src;

	for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K)
		scale_block(x[b].qs, QK_K, x[b].d, 0.0f, false, dst);
}

/* Sub-block j of a Q4_K/Q5_K block: (d * sc_j) * q - dmin * mn_j. */
static void
dequant_k_block(const uint8_t *scales, float d, float dmin, const int8_t *q, float *dst)
{
	for (int j = 0; j < QK_K / 32; j++)
	{
		uint8_t		sc;
		uint8_t		mn;
		float		dj;
		float		mj;

		k_scale_min(scales, j, &sc, &mn);
		dj = d * sc;
		mj = dmin * mn;
		for (int l = 0; l < 32; l++)
			dst[32 * j + l] = dj * q[32 * j + l] - mj;
	}
}

static void
dequant_q4_K(const void *src, float *dst, int64_t n)
{
	const struct block_q4_K *x = src;
	int8_t		q[QK_K];

	for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K)
	{
		unpack_k(x[b].qs, NULL, q);
		dequant_k_block(x[b].scales, f16_to_f32(x[b].d), f16_to_f32(x[b].dmin), q, dst);
	}
}

static void
dequant_q5_K(const void *src, float *dst, int64_t n)
{
	const struct block_q5_K *x = src;
	int8_t		q[QK_K];

	for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K)
	{
		unpack_k(x[b].qs, x[b].qh, q);
		dequant_k_block(x[b].scales, f16_to_f32(x[b].d), f16_to_f32(x[b].dmin), q, dst);
	}
}

/* (d * scale of the 16-element group) * q */
static void
dequant_q6_K(const void *src, float *dst, int64_t n)
{
	const struct block_q6_K *x = src;
	int8_t		q[QK_K];

	for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K)
	{
		float		d = f16_to_f32(x[b].d);

		unpack_q6_K(&x[b], q);
		for (int e = 0; e < QK_K; e++)
			dst[e] = d * x[b].scales[e / 16] * q[e];
	}
}

/* ---- quantization of activations ---- */

static float
abs_max(const float *x, int n)
{
	float		amax = 0.0f;

	for (int i = 0; i < n; i++)
		amax = fmaxf(amax, fabsf(x[i]));
	return amax;
}

static void
quantize_f32(const float *src, void *dst, int64_t n)
{
	memcpy(dst, src, (size_t) n * sizeof(float));
}

static void
quantize_f16(const float *src, void *dst, int64_t n)
{
	uint16_t   *y = dst;

	for (int64_t i = 0; i < n; i++)
		y[i] = f32_to_f16(src[i]);
}

static void
quantize_bf16(const float *src, void *dst, int64_t n)
{
	uint16_t   *y = dst;

	for (int64_t i = 0; i < n; i++)
		y[i] = f32_to_bf16(src[i]);
}

/*
 * Q8_0 and Q8_1 follow ggml's x86 SIMD path (what llama.cpp runs on AVX
 * machines), which differs from its scalar quantize_row_q8_0_ref in two
 * details: the inverse scale is 127/amax rather than 1/(amax/127), and
 * rounding is to nearest even rather than half away from zero.  rintf()
 * rounds to nearest even in the default rounding mode.
 */
static float
q8_block(const float *x, int8_t *qs, int n, int *sum)
{
	float		amax = abs_max(x, n);
	float		id = q8_inverse_scale(amax);

	*sum = 0;
	for (int i = 0; i < n; i++)
	{
		qs[i] = (int8_t) rintf(x[i] * id);
		*sum += qs[i];
	}
	return amax / 127.0f;
}

static void
quantize_q8_0(const float *src, void *dst, int64_t n)
{
	struct block_q8_0 *y = dst;

	for (int64_t b = 0; b < n / QK8_0; b++)
	{
		int			sum;

		y[b].d = f32_to_f16(q8_block(src + b * QK8_0, y[b].qs, QK8_0, &sum));
	}
}

/* As Q8_0, plus s = d * sum(qs) with d before its rounding to half. */
static void
quantize_q8_1(const float *src, void *dst, int64_t n)
{
	struct block_q8_1 *y = dst;

	for (int64_t b = 0; b < n / QK8_1; b++)
	{
		int			sum;
		float		d = q8_block(src + b * QK8_1, y[b].qs, QK8_1, &sum);

		y[b].d = f32_to_f16(d);
		y[b].s = f32_to_f16(d * (float) sum);
	}
}

/*
 * Q8_K as ggml's quantize_row_q8_K_ref, which its x86 backend runs: the
 * scale comes from the signed value of largest magnitude (the first one, on
 * ties), iscale = -127/max, rounding to nearest even, d = 1/iscale kept in
 * float, and bsums are sums of 16 consecutive quants.
 */
static void
quantize_q8_K(const float *src, void *dst, int64_t n)
{
	struct block_q8_K *y = dst;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		const float *x = src + b * QK_K;
		float		amax = 0.0f;
		float		max = 0.0f;
		float		iscale;

		for (int i = 0; i < QK_K; i++)
			if (fabsf(x[i]) > amax)
			{
				amax = fabsf(x[i]);
				max = x[i];
			}
		memset(&y[b], 0, sizeof y[b]);
		iscale = q8_K_inverse_scale(max);
		if (iscale == 0.0f)
			continue;
		for (int i = 0; i < QK_K; i++)
		{
			float		v = rintf(iscale * x[i]);

			y[b].qs[i] = (int8_t) (v > 127.0f ? 127.0f : v);
			y[b].bsums[i / 16] += y[b].qs[i];
		}
		y[b].d = 1.0f / iscale;
	}
}


/* ---- dot products ---- */

/*
 * Float weights sum in the order of ggml's AVX2 vec_dot (vec.cpp): element
 * i goes to lane i % 32 by fused multiply-add over the first n & ~31
 * elements, lane j being lane j % 8 of accumulator j / 8; the rest is
 * f32_dot_tail's or half_dot_tail's.  elem() reads element i as a float.
 */
static float
elem(enum dtype t, const void *row, int64_t i)
{
	if (t == DTYPE_F16)
		return f16_to_f32(((const uint16_t *) row)[i]);
	if (t == DTYPE_BF16)
		return bf16_to_f32(((const uint16_t *) row)[i]);
	return ((const float *) row)[i];
}

/* The 4 accumulators of 8 lanes over n elements, added (0+2)+(1+3). */
static void
ggml_lanes(enum dtype t, int64_t n, const void *w, const void *a, float v[8])
{
	float		acc[32] = {0};

	for (int64_t i = 0; i < n; i++)
		acc[i % 32] = fmaf(elem(t, w, i), elem(t, a, i), acc[i % 32]);
	for (int j = 0; j < 8; j++)
		v[j] = (acc[j] + acc[16 + j]) + (acc[8 + j] + acc[24 + j]);
}

/* GGML_F32x8_REDUCE's end, for F32 and F16: the halves added, two hadds. */
static float
hadd_sum8(const float v[8])
{
	return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* The horizontal sum of tinyBLAS and of ggml's BF16 vec_dot. */
static float
hsum8(const float v[8])
{
	return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

static float
dot_f32(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;
	float		v[8];

	ggml_lanes(DTYPE_F32, np, w, a, v);
	return f32_dot_tail(w, a, np, n, hadd_sum8(v));
}

static float
dot_f16(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;
	float		v[8];

	ggml_lanes(DTYPE_F16, np, w, a, v);
	return half_dot_tail(DTYPE_F16, w, a, np, n, hadd_sum8(v));
}

static float
dot_bf16(int64_t n, const void *w, const void *a)
{
	int64_t		np = n & ~(int64_t) 31;
	float		v[8];

	ggml_lanes(DTYPE_BF16, np, w, a, v);
	return half_dot_tail(DTYPE_BF16, w, a, np, n, hsum8(v));
}

static float
dot_q4_0(int64_t n, const void *w, const void *a)
{
	const struct block_q4_0 *x = w;
	const struct block_q8_0 *y = a;
	float		sum = 0.0f;
	int8_t		q[QK4_0];

	for (int64_t b = 0; b < n / QK4_0; b++)
	{
		unpack_nibbles(x[b].qs, 8, q);
		sum += f16_to_f32(x[b].d) * f16_to_f32(y[b].d) * (float) dot_i8(q, y[b].qs, QK4_0);
	}
	return sum;
}

/* sum((q*dx + m) * qy*dy) = dx*dy*sum(q*qy) + m*s, s = dy*sum(qy). */
static float
dot_q4_1(int64_t n, const void *w, const void *a)
{
	const struct block_q4_1 *x = w;
	const struct block_q8_1 *y = a;
	float		sum = 0.0f;
	int8_t		q[QK4_1];

	for (int64_t b = 0; b < n / QK4_1; b++)
	{
		unpack_nibbles(x[b].qs, 0, q);
		sum += f16_to_f32(x[b].d) * f16_to_f32(y[b].d) * (float) dot_i8(q, y[b].qs, QK4_1) +
			f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
	}
	return sum;
}

static float
dot_q5_0(int64_t n, const void *w, const void *a)
{
	const struct block_q5_0 *x = w;
	const struct block_q8_0 *y = a;
	float		sum = 0.0f;
	int8_t		q[QK5_0];

	for (int64_t b = 0; b < n / QK5_0; b++)
	{
		unpack_five_bits(x[b].qs, x[b].qh, 16, q);
		sum += f16_to_f32(x[b].d) * f16_to_f32(y[b].d) * (float) dot_i8(q, y[b].qs, QK5_0);
	}
	return sum;
}

static float
dot_q5_1(int64_t n, const void *w, const void *a)
{
	const struct block_q5_1 *x = w;
	const struct block_q8_1 *y = a;
	float		sum = 0.0f;
	int8_t		q[QK5_1];

	for (int64_t b = 0; b < n / QK5_1; b++)
	{
		unpack_five_bits(x[b].qs, x[b].qh, 0, q);
		sum += f16_to_f32(x[b].d) * f16_to_f32(y[b].d) * (float) dot_i8(q, y[b].qs, QK5_1) +
			f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
	}
	return sum;
}

static float
dot_q8_0(int64_t n, const void *w, const void *a)
{
	const struct block_q8_0 *x = w;
	const struct block_q8_0 *y = a;
	float		sum = 0.0f;

	for (int64_t b = 0; b < n / QK8_0; b++)
		sum += f16_to_f32(x[b].d) * f16_to_f32(y[b].d) * (float) dot_i8(x[b].qs, y[b].qs, QK8_0);
	return sum;
}

/*
 * A Q4_K/Q5_K super-block against a Q8_K one:
 *   sum((d*sc_j*q - dmin*mn_j) * qy*dy)
 *     = d*dy * sum_j sc_j*sum(q*qy) - dmin*dy * sum_j mn_j*sum(qy),
 * where sum(qy) over sub-block j comes from the bsums of 16.
 */
static float
dot_k_block(f16_t d, f16_t dmin, const uint8_t *scales, const int8_t *q,
			const struct block_q8_K *y)
{
	int			isum = 0;
	int			imins = 0;

	for (int j = 0; j < QK_K / 32; j++)
	{
		uint8_t		sc;
		uint8_t		mn;

		k_scale_min(scales, j, &sc, &mn);
		isum += sc * dot_i8(q + 32 * j, y->qs + 32 * j, 32);
		imins += mn * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
	}
	return f16_to_f32(d) * y->d * (float) isum - f16_to_f32(dmin) * y->d * (float) imins;
}

static float
dot_q4_K(int64_t n, const void *w, const void *a)
{
	const struct block_q4_K *x = w;
	const struct block_q8_K *y = a;
	float		sum = 0.0f;
	int8_t		q[QK_K];

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		unpack_k(x[b].qs, NULL, q);
		sum += dot_k_block(x[b].d, x[b].dmin, x[b].scales, q, &y[b]);
	}
	return sum;
}

static float
dot_q5_K(int64_t n, const void *w, const void *a)
{
	const struct block_q5_K *x = w;
	const struct block_q8_K *y = a;
	float		sum = 0.0f;
	int8_t		q[QK_K];

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		unpack_k(x[b].qs, x[b].qh, q);
		sum += dot_k_block(x[b].d, x[b].dmin, x[b].scales, q, &y[b]);
	}
	return sum;
}

/* d*dy * sum_g scale_g * sum(q*qy over the 16 elements of group g) */
static float
dot_q6_K(int64_t n, const void *w, const void *a)
{
	const struct block_q6_K *x = w;
	const struct block_q8_K *y = a;
	float		sum = 0.0f;
	int8_t		q[QK_K];

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		int			isum = 0;

		unpack_q6_K(&x[b], q);
		for (int g = 0; g < QK_K / 16; g++)
			isum += x[b].scales[g] * dot_i8(q + 16 * g, y[b].qs + 16 * g, 16);
		sum += f16_to_f32(x[b].d) * y[b].d * (float) isum;
	}
	return sum;
}

/* ---- dot products in llama.cpp's other summation orders (quant.h) ---- */

/*
 * The integer sums of Q4_K/Q5_K super-block b, per sub-block j of 32:
 * isum[j] = sc_j * sum(q*qy) and imin[j] = mn_j * sum(qy); with its scales.
 */
static void
k_block_sums(enum dtype t, const void *w, int64_t b, const struct block_q8_K *y,
			 int isum[QK_K / 32], int imin[QK_K / 32], float *d, float *dmin)
{
	const uint8_t *scales;
	int8_t		q[QK_K];

	if (t == DTYPE_Q5_K)
	{
		const struct block_q5_K *x = (const struct block_q5_K *) w + b;

		unpack_k(x->qs, x->qh, q);
		scales = x->scales;
		*d = f16_to_f32(x->d);
		*dmin = f16_to_f32(x->dmin);
	}
	else
	{
		const struct block_q4_K *x = (const struct block_q4_K *) w + b;

		unpack_k(x->qs, NULL, q);
		scales = x->scales;
		*d = f16_to_f32(x->d);
		*dmin = f16_to_f32(x->dmin);
	}
	for (int j = 0; j < QK_K / 32; j++)
	{
		uint8_t		sc;
		uint8_t		mn;

		k_scale_min(scales, j, &sc, &mn);
		isum[j] = sc * dot_i8(q + 32 * j, y->qs + 32 * j, 32);
		imin[j] = mn * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
	}
}

/*
 * Q4_K repacked by 8 rows: one fused multiply-add of d*dy per `group`
 * sub-blocks (8 for gemv, 2 for gemm), the mins accumulated apart with
 * dmin*dy and subtracted at the end.
 */
static float
dot_q4_K_x8(int64_t n, const void *w, const void *a, int group)
{
	const struct block_q8_K *y = a;
	float		acc = 0.0f;
	float		accm = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		int			isum[QK_K / 32];
		int			imin[QK_K / 32];
		float		d;
		float		dmin;

		k_block_sums(DTYPE_Q4_K, w, b, &y[b], isum, imin, &d, &dmin);
		for (int j = 0; j < QK_K / 32; j += group)
		{
			int			is = 0;
			int			im = 0;

			for (int k = j; k < j + group; k++)
			{
				is += isum[k];
				im += imin[k];
			}
			acc = fmaf((float) is, d * y[b].d, acc);
			accm = fmaf((float) im, dmin * y[b].d, accm);
		}
	}
	return acc - accm;
}

static float
dot_q4_K_x8_gemv(int64_t n, const void *w, const void *a)
{
	return dot_q4_K_x8(n, w, a, QK_K / 32);
}

static float
dot_q4_K_x8_gemm(int64_t n, const void *w, const void *a)
{
	return dot_q4_K_x8(n, w, a, 2);
}

/* Tiled Q4_K/Q5_K: per super-block (d*isum - dmin*imin) times dy, accumulated. */
static float
dot_k_tiled(enum dtype t, int64_t n, const void *w, const void *a)
{
	const struct block_q8_K *y = a;
	float		acc = 0.0f;

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		int			isum[QK_K / 32];
		int			imin[QK_K / 32];
		int			is = 0;
		int			im = 0;
		float		d;
		float		dmin;

		k_block_sums(t, w, b, &y[b], isum, imin, &d, &dmin);
		for (int j = 0; j < QK_K / 32; j++)
		{
			is += isum[j];
			im += imin[j];
		}
		acc = fmaf(fmaf(-dmin, (float) im, d * (float) is), y[b].d, acc);
	}
	return acc;
}

static float
dot_q4_K_tiled(int64_t n, const void *w, const void *a)
{
	return dot_k_tiled(DTYPE_Q4_K, n, w, a);
}

static float
dot_q5_K_tiled(int64_t n, const void *w, const void *a)
{
	return dot_k_tiled(DTYPE_Q5_K, n, w, a);
}

/* Tiled Q6_K: per super-block (d*isum) times dy, accumulated. */
static float
dot_q6_K_tiled(int64_t n, const void *w, const void *a)
{
	const struct block_q6_K *x = w;
	const struct block_q8_K *y = a;
	float		acc = 0.0f;
	int8_t		q[QK_K];

	for (int64_t b = 0; b < n / QK_K; b++)
	{
		int			isum = 0;

		unpack_q6_K(&x[b], q);
		for (int g = 0; g < QK_K / 16; g++)
			isum += x[b].scales[g] * dot_i8(q + 16 * g, y[b].qs + 16 * g, 16);
		acc = fmaf(f16_to_f32(x[b].d) * (float) isum, y[b].d, acc);
	}
	return acc;
}

/* tinyBLAS: element i fused into lane i % 8 (n a multiple of 8), then hsum. */
static float
dot_tinyblas(enum dtype t, int64_t n, const void *w, const void *a)
{
	float		acc[8] = {0};

	for (int64_t i = 0; i < n; i++)
		acc[i % 8] = fmaf(elem(t, w, i), elem(t, a, i), acc[i % 8]);
	return hsum8(acc);
}

static float
dot_f32_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_F32, n, w, a);
}

static float
dot_f16_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_F16, n, w, a);
}

static float
dot_bf16_tinyblas(int64_t n, const void *w, const void *a)
{
	return dot_tinyblas(DTYPE_BF16, n, w, a);
}

const struct quant_kernels quant_kernels_ref = {
	.name = "scalar",
	.dequant = {
		[DTYPE_F32] = dequant_f32,
		[DTYPE_F16] = dequant_f16,
		[DTYPE_BF16] = dequant_bf16,
		[DTYPE_Q4_0] = dequant_q4_0,
		[DTYPE_Q4_1] = dequant_q4_1,
		[DTYPE_Q5_0] = dequant_q5_0,
		[DTYPE_Q5_1] = dequant_q5_1,
		[DTYPE_Q8_0] = dequant_q8_0,
		[DTYPE_Q8_1] = dequant_q8_1,
		[DTYPE_Q4_K] = dequant_q4_K,
		[DTYPE_Q5_K] = dequant_q5_K,
		[DTYPE_Q6_K] = dequant_q6_K,
		[DTYPE_Q8_K] = dequant_q8_K,
	},
	.quantize = {
		[DTYPE_F32] = quantize_f32,
		[DTYPE_F16] = quantize_f16,
		[DTYPE_BF16] = quantize_bf16,
		[DTYPE_Q8_0] = quantize_q8_0,
		[DTYPE_Q8_1] = quantize_q8_1,
		[DTYPE_Q8_K] = quantize_q8_K,
	},
	QUANT_KERNELS_DOT_TABLES,
};
