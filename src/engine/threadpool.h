/*
 * threadpool.h — a fixed set of worker threads, started once, that run
 * one parallel loop at a time.
 *
 * The forward pass calls threadpool_run once per matrix product; the
 * caller's thread takes part as worker 0, so a pool of one thread is just
 * a function call.
 */
#ifndef DR1_THREADPOOL_H
#define DR1_THREADPOOL_H

/* fn(ctx, i, n) for each worker i of n: the task splits its own range. */
typedef void (*threadpool_fn) (void *ctx, int i, int n);

struct threadpool;

/* A pool of n_threads (at least 1).  Never NULL (alloc.h); when the system
 * refuses a thread, the pool runs with the threads it could start
 * (threadpool_size says how many). */
struct threadpool *threadpool_new(int n_threads);
void		threadpool_free(struct threadpool *p);
int			threadpool_size(const struct threadpool *p);

/* Run fn on every worker and return when all have finished. */
void		threadpool_run(struct threadpool *p, threadpool_fn fn, void *ctx);

#endif
