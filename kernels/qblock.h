/*
 * qblock.h — the GGUF block formats as the CUDA kernels read them.
 *
 * Plain C that nvcc compiles for the device and gcc for the host, so that
 * test/gpu/test_cuda_emul.c can check every index and bit operation of the
 * kernels against the CPU reference without a GPU.
 *
 * Dot products.  A row of a quantized weight is cut into units; one GPU
 * thread takes one unit at a time and dots it with the matching elements of
 * up to QB_MAX_T activation rows (already quantized, in the CPU's byte
 * layout: Q8_0, Q8_1 or Q8_K, see quant.h).  Integer sums inside a unit, one
 * float term per unit: the same terms as quant_ref.c, summed in another
 * order.  A unit is 4 bytes of quants in every format, so a warp reads 128
 * contiguous bytes of nibbles at a time (Q4_K) or one block per 4 threads
 * (32-element formats):
 *
 *   format      elements  units/block  unit u covers
 *   Q4_0..Q5_1  32        4            elements 4u..4u+3 and 16+4u..16+4u+3
 *   Q8_0        32        4            elements 8u..8u+7
 *   Q4_K, Q5_K  256       32           4 elements of sub-blocks 2p and 2p+1
 *   Q6_K        256       16           4 elements in each quarter of a half
 *   F32/F16/BF16 32       4            elements 8u..8u+7
 *
 * Dequantization.  qb_dequant_<fmt>(block, e) is element e of a block,
 * computed with exactly the float operations of dequantize_row_ref, so the
 * results are bit for bit the CPU's.
 */
#ifndef DR1_QBLOCK_H
#define DR1_QBLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dtype.h"
#include "f16.h"
#include "quant.h"

#ifdef __CUDACC__
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#define QB_FN static __host__ __device__ __forceinline__
#else
#define QB_FN static inline
#endif

#ifdef __CUDA_ARCH__
#define QB_UNROLL _Pragma("unroll")
#else
#define QB_UNROLL
#endif

#define QB_MAX_T 8				/* activation rows one pass of a unit serves */
#define QB_UNIT_ELEMS_32 8		/* elements a unit covers in 32-element formats */

/* ---- loads and arithmetic that differ between device and host ---- */

/* 16 bits at a 2-aligned address */
QB_FN uint32_t
qb_ld16(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
	return *(const uint16_t *) p;
#else
	uint16_t	v;

	memcpy(&v, p, sizeof v);
	return v;
#endif
}

/* 32 bits at a 2-aligned address (blocks of 18, 22, 34, 210 bytes) */
QB_FN uint32_t
qb_ld32_a2(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
	const uint16_t *h = (const uint16_t *) p;

	return (uint32_t) h[0] | (uint32_t) h[1] << 16;
#else
	uint32_t	v;

	memcpy(&v, p, sizeof v);
	return v;
#endif
}

/* 32 bits at a 4-aligned address */
QB_FN uint32_t
qb_ld32(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
	return *(const uint32_t *) p;
#else
	uint32_t	v;

	memcpy(&v, p, sizeof v);
	return v;
#endif
}

/* 4 x 32 bits at a 16-aligned address: one 16-byte load on the device */
QB_FN void
qb_ld128(const uint8_t *p, uint32_t *w)
{
#ifdef __CUDA_ARCH__
	uint4		v = *(const uint4 *) p;

	w[0] = v.x;
	w[1] = v.y;
	w[2] = v.z;
	w[3] = v.w;
#else
	memcpy(w, p, 4 * sizeof(uint32_t));
#endif
}

QB_FN float
qb_ldf32(const uint8_t *p)
{
#ifdef __CUDA_ARCH__
	return *(const float *) p;
#else
	float		v;

	memcpy(&v, p, sizeof v);
	return v;
#endif
}

QB_FN float
qb_f16(uint32_t h)
{
#ifdef __CUDA_ARCH__
	return __half2float(__ushort_as_half((unsigned short) h));
#else
	return f16_to_f32((uint16_t) h);
#endif
}

QB_FN float
qb_bf16(uint32_t h)
{
#ifdef __CUDA_ARCH__
	return __uint_as_float(h << 16);
#else
	return bf16_to_f32((uint16_t) h);
#endif
}

/* c + the sum of the products of the four signed bytes of a and b */
QB_FN int
qb_dp4a(uint32_t a, uint32_t b, int c)
{
#ifdef __CUDA_ARCH__
	return __dp4a((int) a, (int) b, c);
#else
	for (int i = 0; i < 4; i++)
		c += (int8_t) (a >> (8 * i)) * (int8_t) (b >> (8 * i));
	return c;
#endif
}

/* sum of the four signed bytes of a */
QB_FN int
qb_bsum(uint32_t a)
{
	return qb_dp4a(a, 0x01010101u, 0);
}

/* Products rounded one by one: the CPU reference does not fuse them, and
 * nvcc would. */
QB_FN float
qb_mul(float a, float b)
{
#ifdef __CUDA_ARCH__
	return __fmul_rn(a, b);
#else
	return a * b;
#endif
}

QB_FN float
qb_add(float a, float b)
{
#ifdef __CUDA_ARCH__
	return __fadd_rn(a, b);
#else
	return a + b;
#endif
}

QB_FN float
qb_sub(float a, float b)
{
#ifdef __CUDA_ARCH__
	return __fsub_rn(a, b);
#else
	return a - b;
#endif
}

/* Bits 0..3 of b moved to bit 4 of bytes 0..3 (the fifth bit of Q5 quants). */
QB_FN uint32_t
qb_spread4(uint32_t b)
{
	return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}

/* 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (quant_kernels.h
 * k_scale_min: the format's packing). */
QB_FN void
qb_k_scale_min(const uint8_t *s, int j, int *sc, int *mn)
{
	if (j < 4)
	{
		*sc = s[j] & 63;
		*mn = s[j + 4] & 63;
	}
	else
	{
		*sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
		*mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
	}
}

/* ---- block layouts (byte offsets; quant.h has the structs) ---- */

#define QB_Q8_0_QS 2			/* block_q8_0: d, qs[32] */
#define QB_Q8_1_QS 4			/* block_q8_1: d, s, qs[32] */
#define QB_Q8_K_QS 4			/* block_q8_K: float d, qs[256], bsums[16] */
#define QB_K_SCALES 4			/* block_q4_K/q5_K: d, dmin, scales[12], ... */
#define QB_Q4_K_QS 16
#define QB_Q5_K_QH 16
#define QB_Q5_K_QS 48
#define QB_Q6_K_QH 128			/* block_q6_K: ql[128], qh[64], scales[16], d */
#define QB_Q6_K_SC 192
#define QB_Q6_K_D 208

/* ---- units: weight unit u of a block against up to T activation blocks ----
 *
 * wb: the weight block; ab: the first activation row's matching block, the
 * others astride bytes apart; acc[t] += the unit's term for row t.
 */

/* Q4_0/Q4_1/Q5_0/Q5_1: the unit's two groups of 4 quants as bytes */
QB_FN void
qb_nibbles(const uint8_t *qs, int u, uint32_t *lo, uint32_t *hi, int aligned4)
{
	uint32_t	w = aligned4 ? qb_ld32(qs + 4 * u) : qb_ld32_a2(qs + 4 * u);

	*lo = w & 0x0F0F0F0Fu;
	*hi = (w >> 4) & 0x0F0F0F0Fu;
}

/*
 * Shared by the four 32-element nibble formats: lo/hi are quants 0..31,
 * offset what they are stored above their value (8, 16, or 0 with a min),
 * d the block scale; with a min, unit 0 adds m * s (the activation's
 * d * sum of quants, quant.h's Q8_1).
 */
QB_FN void
qb_unit_small(uint32_t lo, uint32_t hi, int u, int offset, float d, int has_min, float m,
			  const uint8_t *ab, size_t astride, int act_qs, int T, float *acc)
{
	QB_UNROLL
	for (int t = 0; t < QB_MAX_T; t++)
	{
		if (t < T)
		{
			const uint8_t *a = ab + t * astride;
			uint32_t	ylo = qb_ld32_a2(a + act_qs + 4 * u);
			uint32_t	yhi = qb_ld32_a2(a + act_qs + 16 + 4 * u);
			int			sumi = qb_dp4a(lo, ylo, qb_dp4a(hi, yhi, 0))
				- offset * (qb_bsum(ylo) + qb_bsum(yhi));
			float		term = d * qb_f16(qb_ld16(a)) * (float) sumi;

			if (has_min && u == 0)
				term += m * qb_f16(qb_ld16(a + 2));
			acc[t] += term;
		}
	}
}

QB_FN void
qb_unit_q4_0(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	uint32_t	lo,
				hi;

	qb_nibbles(wb + 2, u, &lo, &hi, 0);
	qb_unit_small(lo, hi, u, 8, qb_f16(qb_ld16(wb)), 0, 0.0f, ab, astride, QB_Q8_0_QS, T, acc);
}

QB_FN void
qb_unit_q4_1(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	uint32_t	lo,
				hi;

	qb_nibbles(wb + 4, u, &lo, &hi, 1);
	qb_unit_small(lo, hi, u, 0, qb_f16(qb_ld16(wb)), 1, qb_f16(qb_ld16(wb + 2)),
				  ab, astride, QB_Q8_1_QS, T, acc);
}

QB_FN void
qb_unit_q5_0(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	uint32_t	qh = qb_ld32_a2(wb + 2);
	uint32_t	lo,
				hi;

	qb_nibbles(wb + 6, u, &lo, &hi, 0);
	lo |= qb_spread4(qh >> (4 * u));
	hi |= qb_spread4(qh >> (16 + 4 * u));
	qb_unit_small(lo, hi, u, 16, qb_f16(qb_ld16(wb)), 0, 0.0f, ab, astride, QB_Q8_0_QS, T, acc);
}

QB_FN void
qb_unit_q5_1(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	uint32_t	qh = qb_ld32(wb + 4);
	uint32_t	lo,
				hi;

	qb_nibbles(wb + 8, u, &lo, &hi, 1);
	lo |= qb_spread4(qh >> (4 * u));
	hi |= qb_spread4(qh >> (16 + 4 * u));
	qb_unit_small(lo, hi, u, 0, qb_f16(qb_ld16(wb)), 1, qb_f16(qb_ld16(wb + 2)),
				  ab, astride, QB_Q8_1_QS, T, acc);
}

QB_FN void
qb_unit_q8_0(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	uint32_t	w0 = qb_ld32_a2(wb + QB_Q8_0_QS + 8 * u);
	uint32_t	w1 = qb_ld32_a2(wb + QB_Q8_0_QS + 8 * u + 4);
	float		d = qb_f16(qb_ld16(wb));

	QB_UNROLL
	for (int t = 0; t < QB_MAX_T; t++)
	{
		if (t < T)
		{
			const uint8_t *a = ab + t * astride;
			int			sumi = qb_dp4a(w0, qb_ld32_a2(a + QB_Q8_0_QS + 8 * u),
									   qb_dp4a(w1, qb_ld32_a2(a + QB_Q8_0_QS + 8 * u + 4), 0));

			acc[t] += d * qb_f16(qb_ld16(a)) * (float) sumi;
		}
	}
}

/*
 * Q4_K/Q5_K: unit u is 4 bytes of quants in chunk p = u / 8 (elements l..l+3,
 * l = 4 * (u % 8), of sub-blocks 2p in the low and 2p+1 in the high nibbles).
 * Term: d*dy * (sc_a*dot_a + sc_b*dot_b) - dmin*dy * (mn_a*sum_a + mn_b*sum_b).
 */
QB_FN void
qb_unit_k(const uint8_t *wb, int u, uint32_t lo, uint32_t hi,
		  const uint8_t *ab, size_t astride, int T, float *acc)
{
	int			p = u / 8;
	int			l = 4 * (u % 8);
	float		d = qb_f16(qb_ld16(wb));
	float		dmin = qb_f16(qb_ld16(wb + 2));
	int			sc_a,
				mn_a,
				sc_b,
				mn_b;

	qb_k_scale_min(wb + QB_K_SCALES, 2 * p, &sc_a, &mn_a);
	qb_k_scale_min(wb + QB_K_SCALES, 2 * p + 1, &sc_b, &mn_b);
	QB_UNROLL
	for (int t = 0; t < QB_MAX_T; t++)
	{
		if (t < T)
		{
			const uint8_t *a = ab + t * astride;
			uint32_t	ya = qb_ld32(a + QB_Q8_K_QS + 64 * p + l);
			uint32_t	yb = qb_ld32(a + QB_Q8_K_QS + 64 * p + 32 + l);
			int			isum = sc_a * qb_dp4a(lo, ya, 0) + sc_b * qb_dp4a(hi, yb, 0);
			int			imin = mn_a * qb_bsum(ya) + mn_b * qb_bsum(yb);
			float		dy = qb_ldf32(a);

			acc[t] += d * dy * (float) isum - dmin * dy * (float) imin;
		}
	}
}

QB_FN void
qb_unit_q4_K(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	uint32_t	w = qb_ld32(wb + QB_Q4_K_QS + 32 * (u / 8) + 4 * (u % 8));

	qb_unit_k(wb, u, w & 0x0F0F0F0Fu, (w >> 4) & 0x0F0F0F0Fu, ab, astride, T, acc);
}

QB_FN void
qb_unit_q5_K(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	int			p = u / 8;
	int			l = 4 * (u % 8);
	uint32_t	w = qb_ld32(wb + QB_Q5_K_QS + 32 * p + l);
	uint32_t	qh = qb_ld32(wb + QB_Q5_K_QH + l);
	uint32_t	lo = (w & 0x0F0F0F0Fu) | (((qh >> (2 * p)) & 0x01010101u) << 4);
	uint32_t	hi = ((w >> 4) & 0x0F0F0F0Fu) | (((qh >> (2 * p + 1)) & 0x01010101u) << 4);

	qb_unit_k(wb, u, lo, hi, ab, astride, T, acc);
}

/*
 * Groups: units u..u+3 (u a multiple of 4) of a Q4_K or Q5_K block, whose
 * quants (and Q5_K's high bits) are 16 contiguous bytes at a 16-aligned
 * offset (blocks of 144 and 176 bytes), so a lane reads them with one
 * 16-byte load; then each unit's term as qb_unit_q4_K/q5_K computes it, in
 * unit order.
 */
QB_FN void
qb_group_q4_K(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	uint32_t	w[4];

	qb_ld128(wb + QB_Q4_K_QS + 32 * (u / 8) + 4 * (u % 8), w);
	QB_UNROLL
	for (int j = 0; j < 4; j++)
		qb_unit_k(wb, u + j, w[j] & 0x0F0F0F0Fu, (w[j] >> 4) & 0x0F0F0F0Fu, ab, astride, T, acc);
}

QB_FN void
qb_group_q5_K(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	int			p = u / 8;
	uint32_t	w[4];
	uint32_t	qh[4];

	qb_ld128(wb + QB_Q5_K_QS + 32 * p + 4 * (u % 8), w);
	qb_ld128(wb + QB_Q5_K_QH + 4 * (u % 8), qh);
	QB_UNROLL
	for (int j = 0; j < 4; j++)
		qb_unit_k(wb, u + j, (w[j] & 0x0F0F0F0Fu) | (((qh[j] >> (2 * p)) & 0x01010101u) << 4),
				  ((w[j] >> 4) & 0x0F0F0F0Fu) | (((qh[j] >> (2 * p + 1)) & 0x01010101u) << 4),
				  ab, astride, T, acc);
}

/*
 * Q6_K: unit u is l = 4 * (u % 8) of half h = u / 8; it covers elements
 * 128h + 32r + l .. +3 for the four quarters r (quant_ref.c unpack_q6_K),
 * each inside one group of 16 with its own scale.
 */
QB_FN void
qb_unit_q6_K(const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	int			h = u / 8;
	int			l = 4 * (u % 8);
	uint32_t	ql_a = qb_ld32_a2(wb + 64 * h + l);
	uint32_t	ql_b = qb_ld32_a2(wb + 64 * h + 32 + l);
	uint32_t	qh = qb_ld32_a2(wb + QB_Q6_K_QH + 32 * h + l);
	uint32_t	v[4];
	int			sc[4];
	float		d = qb_f16(qb_ld16(wb + QB_Q6_K_D));

	v[0] = (ql_a & 0x0F0F0F0Fu) | ((qh & 0x03030303u) << 4);
	v[1] = (ql_b & 0x0F0F0F0Fu) | (((qh >> 2) & 0x03030303u) << 4);
	v[2] = ((ql_a >> 4) & 0x0F0F0F0Fu) | (((qh >> 4) & 0x03030303u) << 4);
	v[3] = ((ql_b >> 4) & 0x0F0F0F0Fu) | (((qh >> 6) & 0x03030303u) << 4);
	QB_UNROLL
	for (int r = 0; r < 4; r++)
		sc[r] = (int8_t) wb[QB_Q6_K_SC + 8 * h + 2 * r + l / 16];
	QB_UNROLL
	for (int t = 0; t < QB_MAX_T; t++)
	{
		if (t < T)
		{
			const uint8_t *a = ab + t * astride + QB_Q8_K_QS + 128 * h + l;
			int			isum = 0;

			QB_UNROLL
			for (int r = 0; r < 4; r++)
			{
				uint32_t	y = qb_ld32(a + 32 * r);

				isum += sc[r] * (qb_dp4a(v[r], y, 0) - 32 * qb_bsum(y));
			}
			acc[t] += d * qb_ldf32(ab + t * astride) * (float) isum;
		}
	}
}

/* F32/F16/BF16 weights against activations of the same type: a "block" is
 * 32 elements, unit u its elements 8u..8u+7. */
QB_FN float
qb_plain(int type, const uint8_t *p, int i)
{
	if (type == DTYPE_F32)
		return qb_ldf32(p + 4 * i);
	return type == DTYPE_F16 ? qb_f16(qb_ld16(p + 2 * i)) : qb_bf16(qb_ld16(p + 2 * i));
}

QB_FN void
qb_unit_plain(int type, const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	float		w[QB_UNIT_ELEMS_32];

	QB_UNROLL
	for (int i = 0; i < QB_UNIT_ELEMS_32; i++)
		w[i] = qb_plain(type, wb, 8 * u + i);
	QB_UNROLL
	for (int t = 0; t < QB_MAX_T; t++)
	{
		if (t < T)
		{
			float		s = 0.0f;

			QB_UNROLL
			for (int i = 0; i < QB_UNIT_ELEMS_32; i++)
				s += w[i] * qb_plain(type, ab + t * astride, 8 * u + i);
			acc[t] += s;
		}
	}
}

/* ---- the shape of each weight type for the unit loop ---- */

struct qb_shape
{
	int			block_elems;	/* elements of a weight block */
	int			block_bytes;	/* bytes of a weight block */
	int			units;			/* units per block */
	int			act_bytes;		/* bytes of the matching activation block */
};

QB_FN struct qb_shape
qb_shape_make(int block_elems, int block_bytes, int units, int act_bytes)
{
	struct qb_shape s;

	s.block_elems = block_elems;
	s.block_bytes = block_bytes;
	s.units = units;
	s.act_bytes = act_bytes;
	return s;
}

/* All zero for a type the kernels do not read. */
QB_FN struct qb_shape
qb_shape_of(int type)
{
	switch (type)
	{
		case DTYPE_Q4_0:
			return qb_shape_make(32, 18, 4, 34);
		case DTYPE_Q4_1:
			return qb_shape_make(32, 20, 4, 36);
		case DTYPE_Q5_0:
			return qb_shape_make(32, 22, 4, 34);
		case DTYPE_Q5_1:
			return qb_shape_make(32, 24, 4, 36);
		case DTYPE_Q8_0:
			return qb_shape_make(32, 34, 4, 34);
		case DTYPE_Q4_K:
			return qb_shape_make(256, 144, 32, 292);
		case DTYPE_Q5_K:
			return qb_shape_make(256, 176, 32, 292);
		case DTYPE_Q6_K:
			return qb_shape_make(256, 210, 16, 292);
		case DTYPE_F32:
			return qb_shape_make(32, 128, 4, 128);
		case DTYPE_F16:
		case DTYPE_BF16:
			return qb_shape_make(32, 64, 4, 64);
		default:
			return qb_shape_make(0, 0, 0, 0);
	}
}

/* One unit of any supported type (the kernels instantiate one type each;
 * this switch is for the host emulation and generic code). */
QB_FN void
qb_unit(int type, const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	switch (type)
	{
		case DTYPE_Q4_0:
			qb_unit_q4_0(wb, u, ab, astride, T, acc);
			break;
		case DTYPE_Q4_1:
			qb_unit_q4_1(wb, u, ab, astride, T, acc);
			break;
		case DTYPE_Q5_0:
			qb_unit_q5_0(wb, u, ab, astride, T, acc);
			break;
		case DTYPE_Q5_1:
			qb_unit_q5_1(wb, u, ab, astride, T, acc);
			break;
		case DTYPE_Q8_0:
			qb_unit_q8_0(wb, u, ab, astride, T, acc);
			break;
		case DTYPE_Q4_K:
			qb_unit_q4_K(wb, u, ab, astride, T, acc);
			break;
		case DTYPE_Q5_K:
			qb_unit_q5_K(wb, u, ab, astride, T, acc);
			break;
		case DTYPE_Q6_K:
			qb_unit_q6_K(wb, u, ab, astride, T, acc);
			break;
		default:
			qb_unit_plain(type, wb, u, ab, astride, T, acc);
			break;
	}
}

/* What the mat-vec kernel reads at once from unit u (matvec_plan.h's
 * mv_group): four units of Q4_K and Q5_K, one of the others. */
QB_FN void
qb_group(int type, const uint8_t *wb, int u, const uint8_t *ab, size_t astride, int T, float *acc)
{
	if (type == DTYPE_Q4_K)
		qb_group_q4_K(wb, u, ab, astride, T, acc);
	else if (type == DTYPE_Q5_K)
		qb_group_q5_K(wb, u, ab, astride, T, acc);
	else
		qb_unit(type, wb, u, ab, astride, T, acc);
}

/* ---- dequantization: element e of a block, as dequantize_row_ref ---- */

QB_FN int
qb_nibble(const uint8_t *qs, int e)
{
	return e < 16 ? qs[e] & 0x0f : qs[e - 16] >> 4;
}

QB_FN float
qb_dequant(int type, const uint8_t *b, int e)
{
	switch (type)
	{
		case DTYPE_Q4_0:
			return qb_mul((float) (qb_nibble(b + 2, e) - 8), qb_f16(qb_ld16(b)));
		case DTYPE_Q4_1:
			return qb_add(qb_mul((float) qb_nibble(b + 4, e), qb_f16(qb_ld16(b))),
						  qb_f16(qb_ld16(b + 2)));
		case DTYPE_Q5_0:
			{
				int			q = qb_nibble(b + 6, e) | (int) ((qb_ld32_a2(b + 2) >> e) & 1) << 4;

				return qb_mul((float) (q - 16), qb_f16(qb_ld16(b)));
			}
		case DTYPE_Q5_1:
			{
				int			q = qb_nibble(b + 8, e) | (int) ((qb_ld32(b + 4) >> e) & 1) << 4;

				return qb_add(qb_mul((float) q, qb_f16(qb_ld16(b))), qb_f16(qb_ld16(b + 2)));
			}
		case DTYPE_Q8_0:
			return qb_mul((float) (int8_t) b[QB_Q8_0_QS + e], qb_f16(qb_ld16(b)));
		case DTYPE_Q4_K:
		case DTYPE_Q5_K:
			{
				/* element e: sub-block j, chunk p = j / 2, position l */
				int			j = e / 32;
				int			l = e % 32;
				int			qs_off = type == DTYPE_Q4_K ? QB_Q4_K_QS : QB_Q5_K_QS;
				int			byte = b[qs_off + 32 * (j / 2) + l];
				int			q = j % 2 ? byte >> 4 : byte & 0x0f;
				int			sc,
							mn;

				if (type == DTYPE_Q5_K)
					q |= ((b[QB_Q5_K_QH + l] >> j) & 1) << 4;
				qb_k_scale_min(b + QB_K_SCALES, j, &sc, &mn);
				return qb_sub(qb_mul(qb_mul(qb_f16(qb_ld16(b)), (float) sc), (float) q),
							  qb_mul(qb_f16(qb_ld16(b + 2)), (float) mn));
			}
		case DTYPE_Q6_K:
			{
				int			h = e / 128;
				int			r = (e % 128) / 32;
				int			l = e % 32;
				int			ql = b[64 * h + 32 * (r % 2) + l];
				int			qh = b[QB_Q6_K_QH + 32 * h + l];
				int			q = ((r < 2 ? ql & 0x0f : ql >> 4) | ((qh >> (2 * r)) & 3) << 4) - 32;

				return qb_mul(qb_mul(qb_f16(qb_ld16(b + QB_Q6_K_D)), (float) (int8_t) b[QB_Q6_K_SC + e / 16]),
							  (float) q);
			}
		default:
			return qb_plain(type, b, e);
	}
}

#endif
