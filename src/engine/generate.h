/*
 * generate.h — one request from prompt tokens to finished text: prefill in
 * chunks, then sample and decode until max tokens, an end-of-generation
 * token, a stop string or a completed choice.
 */
#ifndef DR1_GENERATE_H
#define DR1_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "forward.h"
#include "sampler.h"
#include "tokenizer.h"

enum finish_reason
{
	FINISH_LENGTH,				/* max_tokens reached */
	FINISH_EOG,					/* the model ended its turn */
	FINISH_STOP,				/* a stop string matched */
	FINISH_CHOICE,				/* a choice was completed */
	FINISH_CANCEL				/* the caller's on_token asked to stop */
};

struct gen_result;

struct gen_params
{
	int32_t		max_tokens;
	struct sampler_params sampling;
	const char *const *stops;
	size_t		n_stops;
	const char *const *choices;
	size_t		n_choices;

	/*
	 * Called after each generated token with the text so far (stop strings
	 * already cut); returning false cancels the request (finish "cancel").
	 * May be NULL.
	 */
	bool		(*on_token) (void *ctx, const struct gen_result *r);
	void	   *on_token_ctx;
};

struct gen_result
{
	struct token_list tokens;	/* generated ids (the end token excluded) */
	struct text_buf text;		/* their text, cut before a stop string */
	enum finish_reason finish;
	int32_t		n_prompt;
	double		prefill_seconds;
	double		decode_seconds;
};

void		gen_result_free(struct gen_result *r);

int			generate(struct infer_ctx *ic, const struct token_list *prompt,
					 const struct gen_params *p, struct gen_result *r, char *err);

/* Monotonic clock in seconds. */
double		clock_seconds(void);

#endif
