/*
 * top_logits.c — the reference selection of a row's best candidates (see
 * top_logits.h); the GPU's radix selection (kernels/topk_plan.h) is checked
 * against it.
 */
#include "top_logits.h"

#include <math.h>

bool
top_logits_before(float a, int32_t ia, float b, int32_t ib)
{
	if (isnan(a) || isnan(b))
		return !isnan(a) || (isnan(b) && ia > ib);
	return a > b || (a == b && ia < ib);
}

/* One pass, insertion into the sorted list of the best so far: most tokens
 * lose to the last kept one at once. */
void
top_logits_of_row(const float *row, int32_t n_vocab, int32_t k, struct top_logits *out)
{
	int32_t		n = 0;

	if (k > n_vocab)
		k = n_vocab;
	for (int32_t i = 0; i < n_vocab; i++)
	{
		int32_t		at;

		if (n == k && !top_logits_before(row[i], i, out->logit[k - 1], out->id[k - 1]))
			continue;
		at = n < k ? n++ : k - 1;
		while (at > 0 && top_logits_before(row[i], i, out->logit[at - 1], out->id[at - 1]))
		{
			out->id[at] = out->id[at - 1];
			out->logit[at] = out->logit[at - 1];
			at--;
		}
		out->id[at] = i;
		out->logit[at] = row[i];
	}
	out->n = n;
}
