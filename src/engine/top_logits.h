/*
 * top_logits.h — the best candidates of a row of logits: all that a
 * sampler cutting to its top k needs (sampler_top_needed), so that a GPU
 * backend can send these few instead of the vocabulary's logits.
 *
 * The order is the sampler's: the higher logit first, the lower id on ties
 * (-0 and +0 are equal); NaN after every number, and among NaNs the higher
 * id first, so that the first candidate is always logits_argmax's choice
 * (which takes the last id of an all-NaN row).
 */
#ifndef DR1_TOP_LOGITS_H
#define DR1_TOP_LOGITS_H

#include <stdbool.h>
#include <stdint.h>

/* The most candidates a row may ask for (the device selection's capacity). */
#define TOP_LOGITS_MAX 256

struct top_logits
{
	int32_t		n;				/* candidates given; 0: none, the row's logits are given instead */
	int32_t		id[TOP_LOGITS_MAX];
	float		logit[TOP_LOGITS_MAX];
};

/* Whether (a, ia) comes before (b, ib) in the order above. */
bool		top_logits_before(float a, int32_t ia, float b, int32_t ib);

/* The reference: the min(k, n_vocab) first tokens of row in that order
 * (1 <= k <= TOP_LOGITS_MAX). */
void		top_logits_of_row(const float *row, int32_t n_vocab, int32_t k, struct top_logits *out);

#endif
