/*
 * sparse.c — block selection for dynamic sparse attention: a bound of the
 * query's score over each block from the block's key summary, and the
 * blocks with the highest bounds within a budget.
 */
#include "sparse.h"

#include <math.h>
#include <string.h>

#include "attention.h"
#include "model.h"

int
sparse_mode_parse(const char *s, enum sparse_mode *mode)
{
	static const char *const names[] = {"off", "on", "auto"};

	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0)
		{
			*mode = (enum sparse_mode) i;
			return 0;
		}
	return -1;
}

float
attention_block_bound(const float *pos, const float *neg, const float *kmin,
					  const float *kmax, int32_t head_dim)
{
	float		bound = 0.0f;

	/* q.k <= sum_d (q_d >= 0 ? q_d * kmax_d : q_d * kmin_d), summed over the group */
	for (int32_t d = 0; d < head_dim; d++)
		bound += pos[d] * kmax[d] + neg[d] * kmin[d];
	return bound != bound ? -INFINITY : bound;
}

/* The k-th largest of x[0..n) (k in 1..n); x is reordered. */
static float
kth_largest(float *x, int32_t n, int32_t k)
{
	int32_t		lo = 0;
	int32_t		hi = n - 1;
	int32_t		want = k - 1;

	while (lo < hi)
	{
		float		pivot = x[lo + (hi - lo) / 2];
		int32_t		i = lo;
		int32_t		j = hi;

		while (i <= j)
		{
			while (x[i] > pivot)
				i++;
			while (x[j] < pivot)
				j--;
			if (i <= j)
			{
				float		t = x[i];

				x[i++] = x[j];
				x[j--] = t;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break;
	}
	return x[want];
}

int32_t
attention_select(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
				 int32_t n_ctx, int32_t kv_head, int32_t head_dim, const float *q,
				 int32_t group, int32_t budget_tokens, int32_t *blocks, float *bounds)
{
	int32_t		n_all = (n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
	int32_t		budget = budget_tokens / KV_BLOCK_TOKENS;
	int32_t		n_recent;
	int32_t		n_top;
	int32_t		n_mid;
	int32_t		n = 0;
	float		pos[MODEL_MAX_HEAD_DIM] = {0};
	float		neg[MODEL_MAX_HEAD_DIM] = {0};
	float	   *work = bounds + n_all;
	float		threshold;
	int32_t		n_above = 0;
	int32_t		ties;

	budget = budget < 2 ? 2 : budget;
	if (budget >= n_all || budget_tokens >= n_ctx)
	{
		for (int32_t b = 0; b < n_all; b++)
			blocks[b] = b;
		return n_all;
	}
	n_recent = budget / SPARSE_RECENT_SHARE > 1 ? budget / SPARSE_RECENT_SHARE : 1;
	n_top = budget - 1 - n_recent;
	n_mid = n_all - 1 - n_recent;

	for (int32_t h = 0; h < group; h++)
	{
		float		x[MODEL_MAX_HEAD_DIM];

		attention_query_as_read(kv->type, q + (size_t) h * head_dim, head_dim, x);
		for (int32_t d = 0; d < head_dim; d++)
		{
			pos[d] += x[d] >= 0 ? x[d] : 0;
			neg[d] += x[d] < 0 ? x[d] : 0;
		}
	}
	for (int32_t b = 1; b <= n_mid; b++)
	{
		size_t		sum = ((size_t) layer * kv->n_blocks + seq->blocks[b]) * kv->kv_dim
			+ (size_t) kv_head * head_dim;

		bounds[b] = attention_block_bound(pos, neg, kv->kmin + sum, kv->kmax + sum, head_dim);
		work[b - 1] = bounds[b];
	}

	/* the n_top highest bounds of blocks 1..n_mid; ties go to the earlier block */
	threshold = n_top > 0 ? kth_largest(work, n_mid, n_top) : INFINITY;
	for (int32_t b = 1; b <= n_mid; b++)
		n_above += bounds[b] > threshold;
	ties = n_top - n_above;
	blocks[n++] = 0;
	for (int32_t b = 1; b <= n_mid; b++)
		if (bounds[b] > threshold || (bounds[b] == threshold && ties-- > 0))
			blocks[n++] = b;
	for (int32_t b = n_all - n_recent; b < n_all; b++)
		blocks[n++] = b;
	return n;
}
