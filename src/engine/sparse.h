/*
 * sparse.h — dynamic sparse attention for decode: which blocks of its
 * context a query attends to (attention_sparse, attention.h, then reads
 * only those), and the settings that say when.
 */
#ifndef DR1_SPARSE_H
#define DR1_SPARSE_H

#include <stdint.h>

#include "kv_cache.h"

/*
 * Dynamic sparse attention for a sequence's tokens (attention_select): the
 * token at position p attends to about budget positions of its context
 * when p + 1 >= min_context and the context exceeds the budget; dense
 * otherwise, and always when budget is 0.
 */
struct sparse_config
{
	int32_t		budget;			/* tokens; 0: dense */
	int32_t		min_context;
};

enum sparse_mode
{
	SPARSE_OFF,
	SPARSE_ON,					/* whenever the context exceeds the budget */
	SPARSE_AUTO					/* from min_context on */
};

/* The config a mode gives with these settings. */
static inline struct sparse_config
sparse_config_of(enum sparse_mode mode, int32_t budget, int32_t min_context)
{
	return (struct sparse_config) {
		mode == SPARSE_OFF ? 0 : budget, mode == SPARSE_AUTO ? min_context : 0
	};
}

/* The budget of a sequence's token at pos under config c: 0 when it
 * attends densely. */
static inline int32_t
sparse_token_budget(const struct sparse_config *c, int32_t pos)
{
	int32_t		n_ctx = pos + 1;

	return c->budget > 0 && n_ctx >= c->min_context && n_ctx > c->budget ? c->budget : 0;
}

/* "off", "on" or "auto"; -1 for anything else. */
int			sparse_mode_parse(const char *s, enum sparse_mode *mode);

/*
 * Dynamic sparse attention's choice of blocks for one KV head and one query
 * (Quest's query-aware selection).  Every block of positions 0..n_ctx-1 is
 * scored by an upper bound of the summed score of the group's query heads
 * (q: group heads of head_dim, taken as attention reads them:
 * attention_query_as_read),
 * taken from the block's key min/max summary; then the first block (the
 * attention sink), the most recent blocks (1/SPARSE_RECENT_SHARE of the
 * budget, at least one) and the blocks with the highest bounds (ties to the
 * earlier block) are kept, budget_tokens in all (rounded down to whole
 * blocks, at least two).  A block whose bound is NaN (an infinite key) is
 * never among the highest.  Writes the chosen block indices ascending to
 * blocks and returns their count: every block when the budget covers the
 * context.  bounds is scratch of twice the number of blocks.
 */
int32_t		attention_select(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq,
							 int32_t n_ctx, int32_t kv_head, int32_t head_dim, const float *q,
							 int32_t group, int32_t budget_tokens, int32_t *blocks, float *bounds);

/* The budget's share given to the most recent blocks: 1 / SPARSE_RECENT_SHARE. */
#define SPARSE_RECENT_SHARE 8

/* The bound of one block on the group's summed q.k: sum_d pos[d] * kmax[d]
 * + neg[d] * kmin[d], where pos[d] / neg[d] sum the group's positive and
 * negative query elements (each head's own bound, added: it never falls
 * below the block's largest summed score). */
float		attention_block_bound(const float *pos, const float *neg, const float *kmin,
								  const float *kmax, int32_t head_dim);

#endif
