/*
 * test_ops.c — the element-wise kernels: their vector versions equal the
 * scalar steps lane by lane (expf_poly is the scalar exp), over inputs that
 * reach every branch of the exp (normal, two-step scaling, overflow to
 * infinity, underflow to zero), and the exp itself stays within a few ulp
 * of libm's.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops.h"

#define N 1037					/* not a multiple of 8: the scalar tail too */

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static float
rnd(float lo, float hi)
{
	return lo + (hi - lo) * (float) (check_rng_next(&rng) >> 40) / (float) (1 << 24);
}

static void
fill(float *x, float lo, float hi)
{
	for (int i = 0; i < N; i++)
		x[i] = rnd(lo, hi);
}

static void
test_swiglu(float lo, float hi)
{
	float		gate[N];
	float		up[N];
	float		h[N];
	int			bad = 0;

	fill(gate, lo, hi);
	fill(up, -3.0f, 3.0f);
	gate[5] = 0.0f;
	gate[6] = -0.0f;
	swiglu(h, gate, up, N);
	for (int i = 0; i < N; i++)
	{
		float		want = gate[i] / (1.0f + expf_poly(-gate[i])) * up[i];

		bad += memcmp(&want, &h[i], sizeof want) != 0;
	}
	CHECK(bad == 0, "swiglu on [%g, %g]: %d of %d differ from the scalar steps", lo, hi, bad, N);
}

static void
test_softmax(float lo, float hi)
{
	float		x[N];
	float		y[N];
	float		max = -INFINITY;
	double		sum = 0.0;
	float		inv;
	int			bad = 0;

	fill(x, lo, hi);
	memcpy(y, x, sizeof x);
	softmax(y, N);
	for (int i = 0; i < N; i++)
		max = x[i] > max ? x[i] : max;
	for (int i = 0; i < N; i++)
		x[i] = expf_poly(x[i] - max);
	for (int i = 0; i < N; i += 8)
	{
		float		v[8] = {0};

		for (int l = 0; l < 8 && i + l < N; l++)
			v[l] = x[i + l];
		sum += (double) (((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7])));
	}
	inv = (float) (1.0 / sum);
	for (int i = 0; i < N; i++)
	{
		x[i] *= inv;
		bad += memcmp(&x[i], &y[i], sizeof x[i]) != 0;
	}
	CHECK(bad == 0, "softmax on [%g, %g]: %d of %d differ from the scalar steps", lo, hi, bad, N);
}

static void
test_exp_accuracy(void)
{
	double		worst = 0.0;

	for (float x = -87.0f; x < 88.0f; x += 0.0137f)
	{
		double		want = exp((double) x);
		double		rel = fabs(expf_poly(x) - want) / want;

		worst = rel > worst ? rel : worst;
	}
	CHECK(worst < 4e-7, "expf_poly within a few ulp of exp: worst relative error %g", worst);
	CHECK(expf_poly(-200.0f) == 0.0f && isinf(expf_poly(200.0f)) && expf_poly(0.0f) == 1.0f,
		  "expf_poly limits: exp(-200) = 0, exp(200) = inf, exp(0) = 1");
}

int
main(void)
{
	static const float ranges[][2] = {
		{-10, 10}, {-90, 90}, {-130, 130}, {-200, 200}, {-1e4f, 1e4f},
	};

	for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
	{
		test_swiglu(ranges[r][0], ranges[r][1]);
		test_softmax(ranges[r][0], ranges[r][1]);
	}
	test_exp_accuracy();
	return check_done("ops");
}
