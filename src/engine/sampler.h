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
 * Constrained choice: the output must be exactly one of a list of strings.
 * Each choice is tokenized; at each step only tokens that continue some
 * choice whose prefix matches what was generated are allowed, and the end
 * token is allowed once a choice is complete.
 */
struct choice_set;
struct tokenizer;

struct choice_set *choice_set_new(const struct tokenizer *t, const char *const *choices,
								  size_t n, char *err);
void		choice_set_free(struct choice_set *c);

/* The same from choices already tokenized: ids[i][0..lens[i]) is choice i,
 * every id in [0, n_vocab).  choice_set_new tokenizes and calls this. */
struct choice_set *choice_set_from_ids(const int32_t *const *ids, const size_t *lens,
									   size_t n, int32_t n_vocab, char *err);

/* Fill allowed[n_vocab] for the next token after generated[0..n).  Returns
 * false when the generation must stop (a choice is complete and no longer
 * choice continues it, or nothing matches). eog is the token allowed to end. */
bool		choice_set_allowed(const struct choice_set *c, const int32_t *generated, size_t n,
							   int32_t eog, bool *allowed);

/*
 * Stop strings: find the earliest occurrence of any stop string in text.
 * Returns its offset, or -1.  Also reports, through partial, the length of
 * the longest suffix of text that is a proper prefix of some stop string, so
 * a streaming caller knows how much to hold back.
 */
long		stop_find(const char *text, size_t len, const char *const *stops, size_t n_stops,
					  size_t *partial);

#endif
