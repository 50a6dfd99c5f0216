/*
 * test_threadpool.c — every worker runs its share of every loop exactly
 * once, whether the workers were spinning or asleep when the loop came.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "threadpool.h"

#define MAX_WORKERS 8

struct counts
{
	atomic_int	runs[MAX_WORKERS];
	atomic_int	bad_n;
	int			n;
};

static void
count_run(void *ctx, int i, int n)
{
	struct counts *c = ctx;

	if (n != c->n || i < 0 || i >= n)
		atomic_fetch_add(&c->bad_n, 1);
	else
		atomic_fetch_add(&c->runs[i], 1);
}

static void
pause_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};

	nanosleep(&ts, NULL);
}

static void
test_pool(int n_threads)
{
	struct threadpool *p = threadpool_new(n_threads);
	struct counts c;
	int			loops = 0;
	int			wrong = 0;

	CHECK(p != NULL && threadpool_size(p) == n_threads, "pool of %d threads", n_threads);
	if (!p)
		return;
	memset(&c, 0, sizeof c);
	c.n = n_threads;
	/* back to back (spinning workers), then with pauses longer than the spin */
	for (int i = 0; i < 2000; i++, loops++)
		threadpool_run(p, count_run, &c);
	for (int i = 0; i < 20; i++, loops++)
	{
		pause_ms(1 + i % 3);
		threadpool_run(p, count_run, &c);
	}
	for (int i = 0; i < n_threads; i++)
		wrong += atomic_load(&c.runs[i]) != loops;
	CHECK(wrong == 0 && atomic_load(&c.bad_n) == 0,
		  "%d threads: every worker ran each of %d loops once (%d wrong, %d bad calls)",
		  n_threads, loops, wrong, atomic_load(&c.bad_n));
	threadpool_free(p);
}

int
main(void)
{
	for (int n = 1; n <= 4; n++)
		test_pool(n);
	threadpool_free(NULL);
	return check_done("threadpool");
}
