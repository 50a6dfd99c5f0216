/*
 * threadpool.c — worker threads that spin briefly, then sleep, between
 * parallel loops.
 *
 * A forward pass runs a few hundred loops per token, each a fraction of a
 * millisecond during decode, so waking sleeping threads through the kernel
 * for each one would cost a large part of the token.  Instead a worker that
 * finished a loop watches the generation counter for SPIN_NS before it
 * sleeps on the condition variable, and the caller watches the count of
 * workers still running the same way.  Between requests everything sleeps.
 *
 * No wake-up is lost: the generation changes and the sleepers are woken
 * under the mutex, and a sleeper checks the generation under it; the last
 * worker to finish signals under the mutex, and the caller checks the count
 * under it before it sleeps.
 */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"

#define SPIN_NS 200000			/* 0.2 ms */

struct threadpool
{
	int			n;				/* workers including the caller */
	pthread_t  *threads;
	pthread_mutex_t mu;
	pthread_cond_t start;
	pthread_cond_t done;
	atomic_ulong generation;
	atomic_int	pending;		/* workers still running this generation */
	atomic_bool stop;
	threadpool_fn fn;			/* written before generation moves on */
	void	   *ctx;
};

struct worker_arg
{
	struct threadpool *pool;
	int			index;
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Spin until ready(p, arg) or SPIN_NS have passed; true when ready. */
static bool
spin_until(bool (*ready) (struct threadpool *p, unsigned long arg), struct threadpool *p,
		   unsigned long arg)
{
	int64_t		deadline = now_ns() + SPIN_NS;

	for (;;)
	{
		for (int i = 0; i < 64; i++)
		{
			if (ready(p, arg))
				return true;
			cpu_relax();
		}
		if (now_ns() > deadline)
			return false;
		/* when the machine is oversubscribed, let the thread we wait for run */
		sched_yield();
	}
}

static bool
new_generation(struct threadpool *p, unsigned long seen)
{
	return atomic_load(&p->generation) != seen || atomic_load(&p->stop);
}

static bool
all_done(struct threadpool *p, unsigned long unused)
{
	(void) unused;
	return atomic_load(&p->pending) == 0;
}

static void *
worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct threadpool *p = wa->pool;
	int			index = wa->index;
	unsigned long seen = 0;

	free(wa);
	for (;;)
	{
		if (!spin_until(new_generation, p, seen))
		{
			pthread_mutex_lock(&p->mu);
			while (!new_generation(p, seen))
				pthread_cond_wait(&p->start, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->stop))
			break;
		seen = atomic_load(&p->generation);

		p->fn(p->ctx, index, p->n);

		if (atomic_fetch_sub(&p->pending, 1) == 1)
		{
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
	return NULL;
}

struct threadpool *
threadpool_new(int n_threads)
{
	struct threadpool *p = xcalloc(1, sizeof *p);

	p->n = n_threads < 1 ? 1 : n_threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->start, NULL);
	pthread_cond_init(&p->done, NULL);
	atomic_init(&p->generation, 0);
	atomic_init(&p->pending, 0);
	atomic_init(&p->stop, false);
	p->threads = xcalloc(p->n, sizeof(pthread_t));
	for (int i = 1; i < p->n; i++)
	{
		struct worker_arg *wa = xmalloc(sizeof *wa);

		wa->pool = p;
		wa->index = i;
		if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0)
		{
			free(wa);
			p->n = i;			/* run with the threads we got */
			break;
		}
	}
	return p;
}

void
threadpool_free(struct threadpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, true);
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->start);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}

int
threadpool_size(const struct threadpool *p)
{
	return p->n;
}

void
threadpool_run(struct threadpool *p, threadpool_fn fn, void *ctx)
{
	if (p->n == 1)
	{
		fn(ctx, 0, 1);
		return;
	}
	p->fn = fn;
	p->ctx = ctx;
	atomic_store(&p->pending, p->n - 1);
	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->generation, 1);
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);

	fn(ctx, 0, p->n);

	if (!spin_until(all_done, p, 0))
	{
		pthread_mutex_lock(&p->mu);
		while (atomic_load(&p->pending) > 0)
			pthread_cond_wait(&p->done, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
}
