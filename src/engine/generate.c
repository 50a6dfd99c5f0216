/*
 * generate.c — one request run to completion, through the scheduler.
 */
#include "generate.h"

#include <string.h>

#include "error.h"
#include "scheduler.h"

struct single
{
	struct gen_result *out;
	bool		finished;
	char	   *err;
	int			rc;
};

static bool
single_event(void *ctx, struct sched_request *req, enum sched_event ev,
			 struct gen_result *r, const char *error)
{
	struct single *one = ctx;

	(void) req;
	if (ev == SCHED_TOKEN || ev == SCHED_PREFILL)
		return true;
	one->finished = true;
	if (ev != SCHED_DONE)
		one->rc = err_set(one->err, "%s", error);
	/* take the buffers: the scheduler frees the request after this */
	*one->out = *r;
	memset(r, 0, sizeof *r);
	return true;
}

int
generate(struct infer_ctx *ic, const struct token_list *prompt,
		 const struct gen_params *p, struct gen_result *r, char *err)
{
	struct single one = {.out = r, .err = err};
	struct scheduler_config cfg = {.max_seqs = 1, .on_event = single_event, .on_event_ctx = &one};
	struct scheduler *s;

	memset(r, 0, sizeof *r);
	s = scheduler_new(ic, &cfg, err);
	if (!s)
		return -1;
	if (!scheduler_submit(s, prompt, p, NULL, err))
		one.rc = -1;
	else
		while (!one.finished)
			if (scheduler_step(s, err) != 0)
			{
				one.rc = -1;
				break;
			}
	scheduler_free(s);
	return one.rc;
}
