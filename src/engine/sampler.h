/*
 * sampler.h — choosing the next token from logits.
 *
 * The order of operations is llama.cpp's common one: penalties, top-k,
 * top-p, min-p, temperature, then a draw from the distribution.  Temperature
 * 0 is greedy (argmax, lowest id on ties).  Each sampler has its own random
 * generator seeded from the request, so the same seed and prompt give the
 * same tokens whatever else runs at the same time.
 */
#ifndef DR1_SAMPLER_H
#define DR1_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "top_logits.h"

struct sampler_params
{
	float		temperature;	/* 0 = greedy; [0, 100] */
	int32_t		top_k;			/* 0 = off */
	float		top_p;			/* 1 = off; (0, 1] */
	float		min_p;			/* 0 = off; [0, 1] */
	float		repeat_penalty; /* 1 = off; > 0 */
	float		presence_penalty;	/* 0 = off */
	float		frequency_penalty;	/* 0 = off */
	int32_t		penalty_last_n; /* tokens of history the penalties look at; 64 */
	uint64_t	seed;
};

void		sampler_params_default(struct sampler_params *p);

/* Check ranges; -1 with a message naming the parameter and its valid range. */
int			sampler_params_check(const struct sampler_params *p, char *err);

struct sampler;

/* NULL only without params or vocabulary (memory: alloc.h). */
struct sampler *sampler_new(const struct sampler_params *p, int32_t n_vocab);
void		sampler_free(struct sampler *s);

/* Pick a token.  logits (n_vocab) may be modified.  history holds the tokens
 * so far (prompt and generated) for the penalties.  allowed, when not NULL,
 * is a mask of n_vocab booleans: only those tokens may be chosen (choice
 * constraint); at least one must be set (else the result is -1). */
int32_t		sampler_sample(struct sampler *s, float *logits,
						   const int32_t *history, size_t n_history,
						   const bool *allowed);

/*
 * How much of the logits row sampling needs: 0 the whole row; k > 0 only
 * its k first candidates (top_logits.h), from which sampler_sample_top
 * chooses what sampler_sample would over the row, same random draws
 * included: 1 for greedy, top_k for top-k (up to TOP_LOGITS_MAX).  masked:
 * the request has a choice mask (which needs the row, as penalties do).
 */
int32_t		sampler_top_needed(const struct sampler *s, bool masked);

/* Pick a token from the first sampler_top_needed(s, false) candidates of a
 * row (t->n >= 1), exactly as sampler_sample with no history and no mask. */
int32_t		sampler_sample_top(struct sampler *s, const struct top_logits *t);

/* Highest logit among allowed tokens (allowed NULL: all), lowest id on
 * ties, NaN losing to anything; -1 when none is allowed.  An allowed token
 * wins even if every allowed logit is -inf.  Greedy sampling's choice. */
int32_t		logits_argmax(const float *logits, int32_t n_vocab, const bool *allowed);

#endif
