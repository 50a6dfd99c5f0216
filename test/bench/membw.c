/*
 * membw.c — memory read bandwidth of this machine, the denominator of the
 * decode roofline (bytes of weights read per token / bandwidth).
 *
 *   membw [THREADS]   prints GB/s (best of several passes over 1 GiB)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BYTES (1ull << 30)

struct part
{
	const uint64_t *p;
	size_t		n;
	uint64_t	sum;
};

static void *
read_part(void *arg)
{
	struct part *pt = arg;
	uint64_t	a = 0,
				b = 0,
				c = 0,
				d = 0;

	for (size_t i = 0; i + 4 <= pt->n; i += 4)
	{
		a += pt->p[i];
		b += pt->p[i + 1];
		c += pt->p[i + 2];
		d += pt->p[i + 3];
	}
	pt->sum = a + b + c + d;
	return NULL;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
	int			nt = argc > 1 ? atoi(argv[1]) : 1;
	uint64_t   *buf = malloc(BYTES);
	size_t		words = BYTES / sizeof(uint64_t);
	double		best = 0;
	uint64_t	check = 0;

	if (!buf || nt < 1 || nt > 256)
		return 1;
	memset(buf, 1, BYTES);
	for (int pass = 0; pass < 5; pass++)
	{
		pthread_t	th[256];
		struct part parts[256];
		double		t0 = now();
		double		gbs;

		for (int i = 0; i < nt; i++)
		{
			parts[i] = (struct part) {buf + words / nt * i, words / nt, 0};
			pthread_create(&th[i], NULL, read_part, &parts[i]);
		}
		for (int i = 0; i < nt; i++)
		{
			pthread_join(th[i], NULL);
			check += parts[i].sum;
		}
		gbs = BYTES / (now() - t0) / 1e9;
		if (gbs > best)
			best = gbs;
	}
	printf("%.2f\n", best);
	return check == 0;			/* keeps the reads from being optimised away */
}
