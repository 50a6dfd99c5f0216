/*
 * sparse_plan.h — dynamic sparse attention on the GPU (sparse.h's rule), in
 * plain C shared by the kernels, the host code that lays out a batch and
 * the CPU emulation test (test/gpu/test_cuda_emul.c).
 *
 * Key summaries.  kv_store (kv_cache.c) widens a block's element-wise key
 * minimum and maximum over each key as stored; kv_block_alloc resets them.
 * The device sees no allocation, but a block is always written from its
 * first slot on after it is allocated (positions are appended in order; a
 * shared prefix block is full and never written), so a write to slot 0
 * resets the summary instead.  Per element, the first of a batch's tokens
 * in a block (kv_run_starts) folds the whole run of its sequence's tokens
 * in that block, in position order, as kv_store would one by one.
 *
 * Selection.  For a (token, KV head): the group's query heads rounded to
 * F16 summed into positive and negative parts, each middle block's bound
 * with attention_block_bound's operations in its order, then the rule of
 * attention_select: a middle block is kept when fewer than n_top middle
 * blocks rank before it (a higher bound, or the same and an earlier index),
 * which is "the n_top highest, ties to the earlier block" without a sort.
 */
#ifndef DR1_SPARSE_PLAN_H
#define DR1_SPARSE_PLAN_H

#include "attn_plan.h"
#include "qblock.h"
#include "sparse.h"

/* How attention_select spends a budget on a context of n_all blocks: block
 * 0, middle blocks 1..n_mid competing for n_top places, the last n_recent
 * blocks; n_chosen blocks in all (n_all: every block, dense). */
struct sparse_plan
{
	int32_t		n_all;
	int32_t		n_chosen;
	int32_t		n_recent;
	int32_t		n_top;
	int32_t		n_mid;
};

AP_FN struct sparse_plan
sparse_plan_make(int32_t n_ctx, int32_t budget_tokens)
{
	struct sparse_plan p;
	int32_t		budget = budget_tokens / KV_BLOCK_TOKENS;

	budget = budget < 2 ? 2 : budget;
	p.n_all = (n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
	p.n_chosen = p.n_all;
	p.n_recent = p.n_top = p.n_mid = 0;
	if (budget >= p.n_all || budget_tokens >= n_ctx)
		return p;
	p.n_chosen = budget;
	p.n_recent = budget / SPARSE_RECENT_SHARE > 1 ? budget / SPARSE_RECENT_SHARE : 1;
	p.n_top = budget - 1 - p.n_recent;
	p.n_mid = p.n_all - 1 - p.n_recent;
	return p;
}

/* The blocks the token at pos reads under budget (sparse_token_budget):
 * its plan's choice, or 0 when that is every block (it attends densely). */
AP_FN int32_t
sparse_list_len(int32_t pos, int32_t budget)
{
	struct sparse_plan p;

	if (budget <= 0)
		return 0;
	p = sparse_plan_make(pos + 1, budget);
	return p.n_chosen < p.n_all ? p.n_chosen : 0;
}

/* The per-token arrays a batch's selection and tiles read. */
struct sparse_batch
{
	int32_t    *budget;			/* [T] as the selection reads it: 0 when dense */
	int32_t    *n_list;			/* [T] blocks the token reads sparsely, 0 when dense */
	int32_t    *list_off;		/* [T] where its lists (one per KV head) start */
	int32_t		n_lists;		/* list entries of the tokens so far */
};

/* Batch token t at position pos with budget (sparse_token_budget) into sb,
 * its lists after those of the tokens before it.  Returns the positions
 * whose blocks it reads, as attn_choose_splits counts them. */
AP_FN int32_t
sparse_batch_add(struct sparse_batch *sb, int32_t t, int32_t pos, int32_t budget,
				 int32_t n_kv_head)
{
	int32_t		n = sparse_list_len(pos, budget);

	sb->budget[t] = n > 0 ? budget : 0;
	sb->n_list[t] = n;
	sb->list_off[t] = sb->n_lists;
	sb->n_lists += n_kv_head * n;
	return n > 0 ? n * KV_BLOCK_TOKENS : pos + 1;
}

/* Element x of a group's query head, as attention reads it, into the
 * positive and negative sums (attention_select). */
AP_FN void
sparse_fold(float x, float *pos, float *neg)
{
	*pos += x >= 0 ? x : 0;
	*neg += x < 0 ? x : 0;
}

/* attention_block_bound: the same operations, unfused, in the same order. */
AP_FN float
sparse_block_bound(const float *pos, const float *neg, const float *kmin, const float *kmax,
				   int32_t head_dim)
{
	float		bound = 0.0f;

	for (int32_t d = 0; d < head_dim; d++)
		bound = qb_add(bound, qb_add(qb_mul(pos[d], kmax[d]), qb_mul(neg[d], kmin[d])));
	return bound != bound ? -INFINITY : bound;
}

/* Whether middle block i + 1 (of bounds mid[0..n_mid)) is among the n_top
 * highest, ties to the earlier block. */
AP_FN int
sparse_keeps(const float *mid, int32_t n_mid, int32_t n_top, int32_t i)
{
	float		x = mid[i];
	int32_t		before = 0;

	for (int32_t c = 0; c < n_mid && before < n_top; c++)
		before += mid[c] > x || (mid[c] == x && c < i);
	return before < n_top;
}

#define SPARSE_SELECT_THREADS 1024	/* of a selection's thread block */

/* The middle blocks [lo, hi) that thread j of a selection ranks and writes:
 * contiguous, so its kept blocks follow those of threads 0..j-1. */
AP_FN void
sparse_thread_range(int32_t n_mid, int32_t j, int32_t *lo, int32_t *hi)
{
	int32_t		per = (n_mid + SPARSE_SELECT_THREADS - 1) / SPARSE_SELECT_THREADS;

	*lo = j * per < n_mid ? j * per : n_mid;
	*hi = *lo + per < n_mid ? *lo + per : n_mid;
}

/* Whether batch token t (positions pos, block table offsets table_off: a
 * sequence's tokens are consecutive) is the batch's first in its KV block. */
AP_FN int
kv_run_starts(const int32_t *pos, const int32_t *table_off, int32_t t)
{
	return t == 0 || table_off[t - 1] != table_off[t]
		|| pos[t - 1] / KV_BLOCK_TOKENS != pos[t] / KV_BLOCK_TOKENS;
}

/*
 * Element i of the key summary (*kmin, *kmax) of the block that batch token
 * t starts a run in (kv_run_starts), widened by element i of the run's keys
 * (k: [T][kv_dim] floats) as stored in F16; reset first when the run
 * begins at the block's first slot.
 */
AP_FN void
kv_summary_run(const float *k, int32_t kv_dim, const int32_t *pos, const int32_t *table_off,
			   int32_t T, int32_t t, int32_t i, float *kmin, float *kmax)
{
	float		lo = pos[t] % KV_BLOCK_TOKENS == 0 ? INFINITY : *kmin;
	float		hi = pos[t] % KV_BLOCK_TOKENS == 0 ? -INFINITY : *kmax;

	for (int32_t u = t; u < T && (u == t || !kv_run_starts(pos, table_off, u)); u++)
	{
		float		stored = attn_round_f16(k[(size_t) u * kv_dim + i]);

		lo = fminf(lo, stored);
		hi = fmaxf(hi, stored);
	}
	*kmin = lo;
	*kmax = hi;
}

#endif
