/*
 * offload.h — one thread that runs jobs off `serve`'s main loop.
 *
 * `serve` tokenizes on it, so that a huge prompt (tokenizing costs about a
 * second per 10 MB and a dozen bytes of memory per byte) never stops the
 * decoding of the other requests, which the main loop drives.  Jobs run
 * one at a time in the order they were pushed; a finished job waits until
 * the main loop takes it back, told by offload_fd becoming readable.
 */
#ifndef DR1_OFFLOAD_H
#define DR1_OFFLOAD_H

struct offload;

/* Embed as the first member of the caller's job. */
struct offload_job
{
	struct offload_job *next;
	void		(*run) (struct offload_job *job);	/* on the thread */
};

struct offload *offload_new(char *err);
void		offload_push(struct offload *o, struct offload_job *job);
/* A finished job, or NULL when none is. */
struct offload_job *offload_pop_done(struct offload *o);
/* Readable while a finished job waits. */
int			offload_fd(const struct offload *o);
/* Waits for the running job; jobs still queued are not run (nor freed). */
void		offload_free(struct offload *o);

#endif
