/*
 * f16.h — IEEE half and bfloat16 conversions, round to nearest even.
 *
 * Written with integer operations so that the result does not depend on the
 * compiler or on F16C being present; the SIMD kernels use F16C where they
 * can, which rounds the same way.
 */
#ifndef DR1_F16_H
#define DR1_F16_H

#include <stdint.h>
#include <string.h>

static inline float
f32_from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof f);
	return f;
}

static inline uint32_t
f32_to_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float
f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;

	if (exp == 0x1f)			/* inf or nan */
		return f32_from_bits(sign | 0x7f800000 | (mant << 13));
	if (exp == 0)
	{
		/* zero or subnormal: mant * 2^-24 */
		float v = (float) mant * (1.0f / 16777216.0f);

		return sign ? -v : v;
	}
	return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

static inline uint16_t
f32_to_f16(float f)
{
	uint32_t x = f32_to_bits(f);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t absx = x & 0x7fffffff;

	if (absx > 0x7f800000)		/* nan: keep it a quiet nan */
		return (uint16_t) (sign | 0x7e00);
	if (absx >= 0x477ff000)		/* rounds to >= 65520: inf */
		return (uint16_t) (sign | 0x7c00);
	if (absx < 0x38800000)
	{
		/* result is subnormal or zero: value / 2^-24, rounded to even */
		uint32_t shift;
		uint32_t mant;
		uint32_t half;
		uint32_t rest;
		uint32_t q;

		if (absx < 0x33000000)	/* below half the smallest subnormal */
			return (uint16_t) sign;
		mant = (absx & 0x7fffff) | 0x800000;
		shift = 126 - (absx >> 23);	/* 14 + (113 - exp) - 1 */
		q = mant >> shift;
		rest = mant & ((1u << shift) - 1);
		half = 1u << (shift - 1);
		if (rest > half || (rest == half && (q & 1)))
			q++;
		return (uint16_t) (sign | q);
	}
	/* normal: drop 13 mantissa bits with round to nearest even */
	{
		uint32_t r = absx + 0xfff + ((absx >> 13) & 1);

		return (uint16_t) (sign | ((r - 0x38000000) >> 13));
	}
}

static inline float
bf16_to_f32(uint16_t h)
{
	return f32_from_bits((uint32_t) h << 16);
}

static inline uint16_t
f32_to_bf16(float f)
{
	uint32_t x = f32_to_bits(f);

	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t) ((x >> 16) | 64);	/* quiet nan */
	return (uint16_t) ((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

#endif
