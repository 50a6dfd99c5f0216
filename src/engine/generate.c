/*
 * generate.c — requests run to completion, through the scheduler.
 */
#include "generate.h"

#include <stdint.h>
#include <string.h>

#include "error.h"
#include "scheduler.h"

struct run
{
	struct gen_result *out;		/* one per request, indexed by the user pointer */
	size_t		n_left;
	char	   *err;
	int			rc;
};

static bool
run_event(void *ctx, struct sched_request *req, enum sched_event ev,
		  struct gen_result *r, const char *error)
{
	struct run *run = ctx;
	size_t		i = (size_t) (uintptr_t) sched_request_user(req);

	if (ev == SCHED_TOKEN || ev == SCHED_PREFILL)
		return true;
	run->n_left--;
	if (ev != SCHED_DONE && run->rc == 0)
		run->rc = err_set(run->err, "%s", error);
	/* take the buffers: the scheduler frees the request after this */
	run->out[i] = *r;
	memset(r, 0, sizeof *r);
	return true;
}

int
generate_many(struct infer_ctx *ic, const struct token_list *prompt,
			  const struct gen_params *p, size_t n, struct gen_result *r, char *err)
{
	struct run	run = {.out = r, .n_left = n, .err = err};
	struct scheduler_config cfg = {.max_seqs = (int32_t) n, .prefix_sharing = n > 1,
	.on_event = run_event, .on_event_ctx = &run};
	struct scheduler *s;

	memset(r, 0, n * sizeof *r);
	s = scheduler_new(ic, &cfg, err);
	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!scheduler_submit(s, prompt, &p[i], (void *) (uintptr_t) i, err))
		{
			scheduler_free(s);
			return -1;
		}
	while (run.n_left > 0)
		if (scheduler_step(s, err) != 0)
		{
			run.rc = -1;
			break;
		}
	scheduler_free(s);
	return run.rc;
}

int
generate(struct infer_ctx *ic, const struct token_list *prompt,
		 const struct gen_params *p, struct gen_result *r, char *err)
{
	return generate_many(ic, prompt, p, 1, r, err);
}
