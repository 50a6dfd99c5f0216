/*
 * gen_request.h — what a generation request asks for (gen_params), what it
 * gives back (gen_result) and why it finished.  Shared by the scheduler,
 * which runs requests, and by its clients (generate, serve, the tests), so
 * that neither needs the other's header.
 */
#ifndef DR1_GEN_REQUEST_H
#define DR1_GEN_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "sampler.h"
#include "sparse.h"
#include "text_buf.h"
#include "token_list.h"

enum finish_reason
{
	FINISH_LENGTH,				/* max_tokens reached */
	FINISH_EOG,					/* the model ended its turn */
	FINISH_STOP,				/* a stop string matched */
	FINISH_CHOICE,				/* a choice was completed */
	FINISH_SCHEMA,				/* the JSON value of the schema was completed */
	FINISH_CANCEL				/* cancelled: scheduler_cancel, or the event callback said stop */
};

struct gen_params
{
	int32_t		max_tokens;
	struct sampler_params sampling;
	const char *const *stops;
	size_t		n_stops;
	const char *const *choices;
	size_t		n_choices;
	const char *schema;			/* JSON Schema text (json_schema.h) or NULL */
	size_t		schema_len;
	struct sparse_config sparse;	/* for the decode steps; the prompt is dense */
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

/* Monotonic clock in seconds: the clock gen_result's times are taken with
 * (callers timing around a request use it too). */
double		clock_seconds(void);

#endif
