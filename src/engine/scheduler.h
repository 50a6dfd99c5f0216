/*
 * scheduler.h — continuous batching of many requests over one model.
 *
 * Each step runs one forward batch holding the next token of every request
 * that is decoding and whole prompt chunks of requests that are prefilling,
 * as many chunks as the step's prompt-token budget allows.  Requests are admitted
 * in arrival order while the KV pool has room; when it runs out in the
 * middle of a step, the most recently admitted request is preempted: its
 * blocks are freed and it is recomputed later, ending exactly where it was.
 *
 * Determinism: a prompt is always cut into the same chunks (SCHED_PROMPT_CHUNK
 * tokens from its start) and a generated token is always computed on its own, so a
 * request's numbers do not depend on what else runs, nor on preemption.
 * Full prompt blocks are shared between requests through the KV cache's
 * prefix index.
 */
#ifndef DR1_SCHEDULER_H
#define DR1_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "forward.h"
#include "gen_request.h"

/* Prompts are computed in chunks of this many tokens from their start, as
 * llama.cpp computes them (its default micro-batch). */
#define SCHED_PROMPT_CHUNK 512

struct scheduler;
struct sched_request;

enum sched_event
{
	SCHED_TOKEN,				/* a token was generated; r->text grew */
	SCHED_PREFILL,				/* a chunk of the prompt was computed
								 * (sched_request_prefilled), before its
								 * token if it was the last; the return is
								 * ignored */
	SCHED_DONE,					/* finished; r->finish says why */
	SCHED_FAILED,				/* could not run; error says why */
	SCHED_TOO_LONG				/* alone it needs more KV blocks than the pool has */
};

/*
 * Called for every event.  On SCHED_DONE and SCHED_FAILED the request is
 * freed when the callback returns: take what you need (the callback may move
 * r's buffers out and zero them).  For SCHED_TOKEN, returning false cancels.
 */
typedef bool (*sched_event_fn) (void *ctx, struct sched_request *req, enum sched_event ev,
								struct gen_result *r, const char *error);

struct scheduler_config
{
	int32_t		max_seqs;		/* running requests at most; 0: 64 */
	int32_t		token_budget;	/* prompt tokens per step; 0: SCHED_PROMPT_CHUNK.  Give the
								 * context a max_batch_tokens of at least one chunk plus
								 * max_seqs, or prompts wait while many requests decode */
	bool		prefix_sharing; /* share full prompt blocks between requests */
	sched_event_fn on_event;
	void	   *on_event_ctx;
};

struct sched_stats
{
	int32_t		waiting;
	int32_t		running;
	int64_t		steps;
	int64_t		prompt_tokens;	/* submitted */
	int64_t		prefill_tokens; /* computed (prompt tokens not found in the prefix cache) */
	int64_t		reused_tokens;	/* prompt tokens taken from the prefix cache */
	int64_t		generated_tokens;
	int64_t		preemptions;
	double		step_seconds;	/* of the last step */
	int32_t		kv_blocks_used;
	int32_t		kv_blocks_total;
};

struct scheduler *scheduler_new(struct infer_ctx *ic, const struct scheduler_config *cfg, char *err);

/* Frees every request still queued or running (without events). */
void		scheduler_free(struct scheduler *s);

/* Queue a request.  The prompt is copied, and so is p->schema; the strings
 * p->stops and p->choices point to must stay valid until the request is
 * done.  With a schema the output is a JSON value it accepts (json_mask.h);
 * requests with the same schema text share its compiled form and masks. */
struct sched_request *scheduler_submit(struct scheduler *s, const struct token_list *prompt,
									   const struct gen_params *p, void *user, char *err);

/* Finish a request as cancelled at the next step; its blocks are freed then. */
void		scheduler_cancel(struct scheduler *s, struct sched_request *req);

void	   *sched_request_user(const struct sched_request *req);

/* Prompt tokens in the request's KV cache so far (computed or shared). */
int32_t		sched_request_prefilled(const struct sched_request *req);

/* Run one step.  Returns -1 with err set only on an engine fault (the
 * affected requests have been failed); otherwise 0. */
int			scheduler_step(struct scheduler *s, char *err);

/* True when no request is queued or running. */
bool		scheduler_idle(const struct scheduler *s);

void		scheduler_stats(const struct scheduler *s, struct sched_stats *out);

#endif
