/*
 * offload.c — one thread that runs jobs off serve's main loop (offload.h).
 */
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"

struct job_list
{
	struct offload_job *head;
	struct offload_job *tail;
};

struct offload
{
	pthread_t	thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job_list todo;
	struct job_list done;
	bool		stop;
	int			fd;				/* eventfd: counts finished jobs not yet taken */
};

static void
list_push(struct job_list *l, struct offload_job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct offload_job *
list_pop(struct job_list *l)
{
	struct offload_job *j = l->head;

	if (j && !(l->head = j->next))
		l->tail = NULL;
	return j;
}

static void *
offload_main(void *arg)
{
	struct offload *o = arg;

	pthread_mutex_lock(&o->mu);
	for (;;)
	{
		struct offload_job *j;

		while (!o->stop && !o->todo.head)
			pthread_cond_wait(&o->cv, &o->mu);
		if (o->stop)
			break;
		j = list_pop(&o->todo);
		pthread_mutex_unlock(&o->mu);
		j->run(j);
		pthread_mutex_lock(&o->mu);
		list_push(&o->done, j);
		/* cannot fail short of the counter's 2^64 - 2 */
		(void) !write(o->fd, &(uint64_t) {1}, sizeof(uint64_t));
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

struct offload *
offload_new(char *err)
{
	struct offload *o = calloc(1, sizeof *o);
	int			rc;

	if (!o)
	{
		err_set(err, "out of memory");
		return NULL;
	}
	o->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
	if (o->fd < 0)
	{
		err_set(err, "eventfd: %s", strerror(errno));
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	if ((rc = pthread_create(&o->thread, NULL, offload_main, o)) != 0)
	{
		err_set(err, "cannot start the tokenizer thread: %s", strerror(rc));
		close(o->fd);
		free(o);
		return NULL;
	}
	return o;
}

void
offload_push(struct offload *o, struct offload_job *job)
{
	pthread_mutex_lock(&o->mu);
	list_push(&o->todo, job);
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

struct offload_job *
offload_pop_done(struct offload *o)
{
	struct offload_job *j;
	uint64_t	one;

	/* a semaphore eventfd: each read takes one finished job's count */
	if (read(o->fd, &one, sizeof one) != (ssize_t) sizeof one)
		return NULL;
	pthread_mutex_lock(&o->mu);
	j = list_pop(&o->done);
	pthread_mutex_unlock(&o->mu);
	return j;
}

int
offload_fd(const struct offload *o)
{
	return o->fd;
}

void
offload_free(struct offload *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->stop = true;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->thread, NULL);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	close(o->fd);
	free(o);
}
