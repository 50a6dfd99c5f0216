/*
 * threadpool.c — worker threads waiting on a generation counter.
 *
 * Each run bumps the generation under the mutex and broadcasts; workers
 * wait for a new generation, run their share, and the last one to finish
 * signals the caller.  One mutex round trip per run is cheap next to a
 * matrix product.
 */
#include "threadpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct threadpool
{
	int			n;				/* workers including the caller */
	pthread_t  *threads;
	pthread_mutex_t mu;
	pthread_cond_t start;
	pthread_cond_t done;
	unsigned long generation;
	int			pending;		/* workers still running this generation */
	bool		stop;
	threadpool_fn fn;
	void	   *ctx;
};

struct worker_arg
{
	struct threadpool *pool;
	int			index;
};

static void *
worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct threadpool *p = wa->pool;
	int			index = wa->index;
	unsigned long seen = 0;

	free(wa);
	pthread_mutex_lock(&p->mu);
	for (;;)
	{
		threadpool_fn fn;
		void	   *ctx;

		while (p->generation == seen && !p->stop)
			pthread_cond_wait(&p->start, &p->mu);
		if (p->stop)
			break;
		seen = p->generation;
		fn = p->fn;
		ctx = p->ctx;
		pthread_mutex_unlock(&p->mu);

		fn(ctx, index, p->n);

		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct threadpool *
threadpool_new(int n_threads)
{
	struct threadpool *p = calloc(1, sizeof *p);

	if (!p)
		return NULL;
	p->n = n_threads < 1 ? 1 : n_threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->start, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = calloc(p->n, sizeof(pthread_t));
	if (!p->threads)
	{
		free(p);
		return NULL;
	}
	for (int i = 1; i < p->n; i++)
	{
		struct worker_arg *wa = malloc(sizeof *wa);

		if (!wa)
			break;
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
	p->stop = true;
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
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->pending = p->n - 1;
	p->generation++;
	pthread_cond_broadcast(&p->start);
	pthread_mutex_unlock(&p->mu);

	fn(ctx, 0, p->n);

	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
