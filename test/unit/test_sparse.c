/*
 * test_sparse.c — dynamic sparse attention (sparse.c, attention_sparse):
 *   - a block's bound (attention_block_bound over the summary kv_store
 *     keeps) is never below the group's summed score of any key stored in
 *     the block, for large mixed-sign keys, group sizes 1, 2 and 7, both KV
 *     heads, full and partial blocks, and is exact for a block of one key;
 *   - attention_select keeps exactly what a brute-force reference of its
 *     rule keeps (block 0, the recent blocks, the highest bounds with ties
 *     to the earlier block), over random contexts, budgets and tied bounds,
 *     with the query rounded to F16 first;
 *   - attention_sparse over every block is attention_dense bit for bit in
 *     both summation orders, and over a subset is a double-precision
 *     softmax attention over exactly those positions;
 *   - the --sparse mode names and the config each mode gives.
 * The sequences' blocks are interleaved with another sequence's and layer 1
 * of two is used, so that block ids, layers and KV heads all take offsets.
 * Everything runs with an F16 and with a q8_0 cache.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check.h"
#include "error.h"
#include "f16.h"
#include "kv_cache.h"
#include "quant.h"
#include "sparse.h"

#define N_LAYER 2
#define LAYER 1
#define N_KV_HEAD 2
#define MAX_GROUP 7
#define MAX_DIM 128
#define ATT_BLOCKS 10			/* the context of the attention checks, in blocks */

/* A sequence of n_ctx positions in layer LAYER of its own cache. */
struct fixture
{
	struct kv_cache *kv;
	struct kv_seq seq;
	struct kv_seq filler;		/* holds every other block */
	int32_t		head_dim;
	int32_t		n_ctx;
};

/* Uniform in [-1, 1). */
static double
unif(uint64_t *st)
{
	return (double) (check_rng_next(st) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static float
round_f16(float x)
{
	return f16_to_f32(f32_to_f16(x));
}

static int32_t
n_blocks_of(int32_t n_ctx)
{
	return (n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
}

/* The KV type the fixtures are built with: every test runs under each. */
static enum kv_type kv_type_under_test;

/* What attention reads for element off of the F16 or q8_0 rows. */
static float
stored(const struct kv_cache *kv, const uint16_t *f16, const struct block_q8_0 *q8, size_t off)
{
	if (kv->type == KV_F16)
		return f16_to_f32(f16[off]);
	return f16_to_f32(q8[off / QK8_0].d) * (float) q8[off / QK8_0].qs[off % QK8_0];
}

/* Element i of the key, or the value, at pos. */
static float
stored_key(const struct fixture *fx, int32_t pos, int32_t i)
{
	return stored(fx->kv, fx->kv->k, fx->kv->k_q8_0, kv_row_offset(fx->kv, LAYER, &fx->seq, pos) + i);
}

static float
stored_value(const struct fixture *fx, int32_t pos, int32_t i)
{
	return stored(fx->kv, fx->kv->v, fx->kv->v_q8_0, kv_row_offset(fx->kv, LAYER, &fx->seq, pos) + i);
}

/* Where block b's key summary for a KV head starts in kmin / kmax. */
static size_t
summary_offset(const struct fixture *fx, int32_t b, int32_t kv_head)
{
	return ((size_t) LAYER * fx->kv->n_blocks + fx->seq.blocks[b]) * fx->kv->kv_dim
		+ (size_t) kv_head * fx->head_dim;
}

/*
 * Keys of one block: per element an offset (up to +-offset_amp, so that
 * some elements keep one sign over the block) and a spread drawn from
 * spreads; values up to +-5.  Drawn from st alone, so that one state gives
 * one block's data.
 */
static void
block_rows(uint64_t *st, int32_t kv_dim, int32_t count, double offset_amp,
		   const double *spreads, int n_spreads, float *keys, float *values)
{
	double		offset[N_KV_HEAD * MAX_DIM];
	double		spread[N_KV_HEAD * MAX_DIM];

	for (int32_t i = 0; i < kv_dim; i++)
	{
		offset[i] = offset_amp * unif(st);
		spread[i] = spreads[check_rng_next(st) % (uint64_t) n_spreads];
	}
	for (int32_t j = 0; j < count; j++)
		for (int32_t i = 0; i < kv_dim; i++)
		{
			keys[(size_t) j * kv_dim + i] = (float) (offset[i] + spread[i] * unif(st));
			values[(size_t) j * kv_dim + i] = (float) (5 * unif(st));
		}
}

static void
fixture_free(struct fixture *fx)
{
	if (!fx->kv)
		return;
	kv_seq_release(fx->kv, &fx->seq);
	kv_seq_release(fx->kv, &fx->filler);
	kv_cache_free(fx->kv);
}

/* A cache and a sequence of n_ctx positions, nothing stored yet; NULL kv
 * when it could not be built. */
static struct fixture
fixture_alloc(int32_t head_dim, int32_t n_ctx)
{
	struct fixture fx = {.head_dim = head_dim, .n_ctx = n_ctx};
	int32_t		n_blocks = n_blocks_of(n_ctx);
	char		err[ERR_MAX];

	fx.kv = kv_cache_new(N_LAYER, N_KV_HEAD * head_dim, 2 * n_blocks, kv_type_under_test, err);
	CHECK(fx.kv != NULL, "a cache of %d blocks: %s", 2 * n_blocks, fx.kv ? "" : err);
	for (int32_t b = 0; fx.kv && b < n_blocks; b++)
		if (kv_seq_reserve(fx.kv, &fx.seq, (b + 1) * KV_BLOCK_TOKENS) != 0 ||
			kv_seq_reserve(fx.kv, &fx.filler, (b + 1) * KV_BLOCK_TOKENS) != 0)
		{
			CHECK(false, "reserve block %d", b);
			fixture_free(&fx);
			fx.kv = NULL;
		}
	fx.seq.n_tokens = n_ctx;
	return fx;
}

/*
 * A sequence of n_ctx positions whose keys are block_rows' (layer 0 gets
 * other keys).  With n_templates > 0, about half the blocks copy one of
 * n_templates template blocks, so that their summaries and bounds tie.
 */
static struct fixture
fixture_new(int32_t head_dim, int32_t n_ctx, double offset_amp, const double *spreads,
			int n_spreads, int n_templates, uint64_t seed)
{
	struct fixture fx = fixture_alloc(head_dim, n_ctx);
	int32_t		kv_dim = N_KV_HEAD * head_dim;
	float		keys[KV_BLOCK_TOKENS * N_KV_HEAD * MAX_DIM];
	float		values[KV_BLOCK_TOKENS * N_KV_HEAD * MAX_DIM];
	uint64_t	st = seed;

	for (int32_t b = 0; fx.kv && b < n_blocks_of(n_ctx); b++)
	{
		int32_t		first = b * KV_BLOCK_TOKENS;
		int32_t		count = n_ctx - first < KV_BLOCK_TOKENS ? n_ctx - first : KV_BLOCK_TOKENS;
		bool		copy = n_templates > 0 && check_rng_next(&st) % 2;
		uint64_t	template_st = copy ? 0x9e3779b97f4a7c15ull * (1 + check_rng_next(&st) % (uint64_t) n_templates) : 0;

		block_rows(&st, kv_dim, count, offset_amp, spreads, n_spreads, keys, values);
		for (int32_t j = 0; j < count; j++)
			kv_store(fx.kv, 0, &fx.seq, first + j, keys + (size_t) j * kv_dim, values + (size_t) j * kv_dim);
		block_rows(copy ? &template_st : &st, kv_dim, count, offset_amp, spreads, n_spreads, keys, values);
		for (int32_t j = 0; j < count; j++)
			kv_store(fx.kv, LAYER, &fx.seq, first + j, keys + (size_t) j * kv_dim, values + (size_t) j * kv_dim);
	}
	return fx;
}

/* group query heads of head_dim, each of its own magnitude (up to 40) */
static void
random_query(uint64_t *st, int32_t group, int32_t head_dim, float *q)
{
	static const double amps[] = {0.1, 3, 40};

	for (int32_t h = 0; h < group; h++)
	{
		double		amp = amps[check_rng_next(st) % 3];

		for (int32_t d = 0; d < head_dim; d++)
			q[(size_t) h * head_dim + d] = (float) (amp * unif(st));
	}
}

/* The query as attention meets the keys: rounded to F16, or through q8_0
 * (the reference kernels). */
static void
query_as_read(const float *q, int32_t hd, float *out)
{
	struct block_q8_0 qb[MAX_DIM / QK8_0];

	if (kv_type_under_test == KV_F16)
		for (int32_t d = 0; d < hd; d++)
			out[d] = round_f16(q[d]);
	else
	{
		quantize_row_act_ref(DTYPE_Q8_0, q, qb, hd);
		dequantize_row_ref(DTYPE_Q8_0, qb, out, hd);
	}
}

/* The sums of the group's positive and negative query elements (as
 * attention reads them), as sparse.c builds them. */
static void
group_sums(const float *q, int32_t group, int32_t head_dim, float *pos, float *neg)
{
	memset(pos, 0, sizeof(float) * head_dim);
	memset(neg, 0, sizeof(float) * head_dim);
	for (int32_t h = 0; h < group; h++)
	{
		float		x[MAX_DIM];

		query_as_read(q + (size_t) h * head_dim, head_dim, x);
		for (int32_t d = 0; d < head_dim; d++)
		{
			if (x[d] >= 0)
				pos[d] += x[d];
			else
				neg[d] += x[d];
		}
	}
}

static float
block_bound(const struct fixture *fx, int32_t b, int32_t kv_head, const float *pos, const float *neg)
{
	size_t		off = summary_offset(fx, b, kv_head);

	return attention_block_bound(pos, neg, fx->kv->kmin + off, fx->kv->kmax + off, fx->head_dim);
}

/* The group's summed score of the key at pos in double, and its scale
 * sum |q||k| for the rounding allowance. */
static double
group_score(const struct fixture *fx, const float *q, int32_t group, int32_t kv_head,
			int32_t pos, double *magnitude)
{
	double		score = 0;

	*magnitude = 0;
	for (int32_t h = 0; h < group; h++)
	{
		float		qr[MAX_DIM];

		query_as_read(q + (size_t) h * fx->head_dim, fx->head_dim, qr);
		for (int32_t d = 0; d < fx->head_dim; d++)
		{
			double		x = qr[d];
			double		k = stored_key(fx, pos, kv_head * fx->head_dim + d);

			score += x * k;
			*magnitude += fabs(x * k);
		}
	}
	return score;
}

/* ---- 1. the bound is a bound ------------------------------------------------ */

/*
 * Every block's bound against every key stored in it; n_ctx % 32 == 1 puts
 * one key in the last block, where the bound must be that key's score.
 */
static void
check_bounds(const struct fixture *fx, int32_t group, uint64_t *st)
{
	float		q[MAX_GROUP * MAX_DIM];
	float		pos[MAX_DIM], neg[MAX_DIM];
	int32_t		n_blocks = n_blocks_of(fx->n_ctx);

	for (int32_t kv_head = 0; kv_head < N_KV_HEAD; kv_head++)
		for (int trial = 0; trial < 4; trial++)
		{
			int32_t		below = 0;
			bool		single_exact = true;

			random_query(st, group, fx->head_dim, q);
			group_sums(q, group, fx->head_dim, pos, neg);
			for (int32_t p = 0; p < fx->n_ctx; p++)
			{
				int32_t		b = p / KV_BLOCK_TOKENS;
				double		magnitude;
				double		score = group_score(fx, q, group, kv_head, p, &magnitude);
				double		bound = block_bound(fx, b, kv_head, pos, neg);

				below += bound < score - 1e-4 * magnitude;
				if (fx->n_ctx % KV_BLOCK_TOKENS == 1 && b == n_blocks - 1)
					single_exact = fabs(bound - score) <= 1e-4 * magnitude;
			}
			CHECK(below == 0, "%d keys score above their block's bound (dim %d, group %d, kv head %d, %d positions)",
				  below, fx->head_dim, group, kv_head, fx->n_ctx);
			CHECK(single_exact, "a block of one key is bound by its score (dim %d, group %d, kv head %d)",
				  fx->head_dim, group, kv_head);
		}
}

static void
test_bound_is_bound(void)
{
	static const int32_t dims[] = {64, 128};
	static const int32_t n_ctxs[] = {5 * KV_BLOCK_TOKENS + 1, 6 * KV_BLOCK_TOKENS + 17};
	static const int32_t groups[] = {1, 2, 7};
	static const double spreads[] = {1, 30, 300};
	uint64_t	st = 0x5eed0001;

	for (int di = 0; di < 2; di++)
		for (int ci = 0; ci < 2; ci++)
		{
			struct fixture fx = fixture_new(dims[di], n_ctxs[ci], 300, spreads, 3, 0, st + di + 2 * ci);

			for (int gi = 0; fx.kv && gi < 3; gi++)
				check_bounds(&fx, groups[gi], &st);
			fixture_free(&fx);
		}
}

/* ---- 2. the selection rule, against a brute-force reference --------------- */

struct ranked
{
	float		bound;
	int32_t		block;
};

/* highest bound first, ties to the earlier block */
static int
by_bound(const void *a, const void *b)
{
	const struct ranked *x = a;
	const struct ranked *y = b;

	if (x->bound != y->bound)
		return x->bound > y->bound ? -1 : 1;
	return x->block - y->block;
}

/* The blocks the rule keeps, ascending, into out; their count. */
static int32_t
reference_select(const struct fixture *fx, int32_t n_ctx, int32_t kv_head, const float *q,
				 int32_t group, int32_t budget_tokens, int32_t *out)
{
	int32_t		n_all = n_blocks_of(n_ctx);
	int32_t		budget = budget_tokens / KV_BLOCK_TOKENS < 2 ? 2 : budget_tokens / KV_BLOCK_TOKENS;
	int32_t		n_recent = budget / SPARSE_RECENT_SHARE > 1 ? budget / SPARSE_RECENT_SHARE : 1;
	int32_t		n_top = budget - 1 - n_recent;
	int32_t		n_mid = n_all - 1 - n_recent;
	bool		covers = budget >= n_all || budget_tokens >= n_ctx;
	struct ranked *mid = malloc(sizeof(struct ranked) * n_all);
	bool	   *keep = calloc(n_all, sizeof(bool));
	float		pos[MAX_DIM], neg[MAX_DIM];
	int32_t		n = 0;

	group_sums(q, group, fx->head_dim, pos, neg);
	if (covers)
		n_mid = n_top = 0;
	for (int32_t b = 0; b < n_mid; b++)
		mid[b] = (struct ranked) {block_bound(fx, b + 1, kv_head, pos, neg), b + 1};
	qsort(mid, n_mid, sizeof *mid, by_bound);
	for (int32_t b = 0; b < n_all; b++)
		keep[b] = covers || b == 0 || b >= n_all - n_recent;
	for (int32_t i = 0; i < n_top; i++)
		keep[mid[i].block] = true;
	for (int32_t b = 0; b < n_all; b++)
		if (keep[b])
			out[n++] = b;
	free(mid);
	free(keep);
	return n;
}

/* Ascending, no duplicates, block 0 and the recent blocks, the budget's
 * size (every block when the budget covers the context). */
static bool
well_formed(const int32_t *blocks, int32_t n, int32_t n_ctx, int32_t budget_tokens)
{
	int32_t		n_all = n_blocks_of(n_ctx);
	int32_t		budget = budget_tokens / KV_BLOCK_TOKENS < 2 ? 2 : budget_tokens / KV_BLOCK_TOKENS;
	int32_t		n_recent = budget / SPARSE_RECENT_SHARE > 1 ? budget / SPARSE_RECENT_SHARE : 1;
	bool		covers = budget >= n_all || budget_tokens >= n_ctx;

	if (n != (covers ? n_all : budget) || blocks[0] != 0)
		return false;
	for (int32_t i = 1; i < n; i++)
		if (blocks[i] <= blocks[i - 1])
			return false;
	for (int32_t i = 0; i < n_recent && i < n; i++)
		if (blocks[n - 1 - i] != n_all - 1 - i)
			return false;
	return true;
}

/* One random case, or the given budget when budget_tokens > 0. */
static void
check_selection(const struct fixture *fx, uint64_t *st, int32_t budget_tokens)
{
	static const int32_t groups[] = {1, 2, 7};
	int32_t		n_ctx = 65 + (int32_t) (check_rng_next(st) % (uint64_t) (fx->n_ctx - 64));
	int32_t		n_all = n_blocks_of(n_ctx);
	int32_t		group = groups[check_rng_next(st) % 3];
	int32_t		kv_head = (int32_t) (check_rng_next(st) % N_KV_HEAD);
	int32_t    *got = malloc(sizeof(int32_t) * n_all);
	int32_t    *want = malloc(sizeof(int32_t) * n_all);
	float	   *bounds = malloc(sizeof(float) * 2 * n_all);
	float		q[MAX_GROUP * MAX_DIM];
	int32_t		n_got,
				n_want;

	if (budget_tokens <= 0)
		budget_tokens = 64 + (int32_t) (check_rng_next(st) % 1985);
	random_query(st, group, fx->head_dim, q);
	n_got = attention_select(fx->kv, LAYER, &fx->seq, n_ctx, kv_head, fx->head_dim, q, group,
							 budget_tokens, got, bounds);
	n_want = reference_select(fx, n_ctx, kv_head, q, group, budget_tokens, want);
	CHECK(n_got == n_want && memcmp(got, want, sizeof(int32_t) * n_want) == 0,
		  "attention_select differs from the reference: %d blocks, want %d (context %d, budget %d, group %d, kv head %d, dim %d)",
		  n_got, n_want, n_ctx, budget_tokens, group, kv_head, fx->head_dim);
	CHECK(well_formed(got, n_got, n_ctx, budget_tokens),
		  "ascending, distinct, block 0 and the recent blocks, max(2, budget / 32) of them or all (context %d, budget %d)",
		  n_ctx, budget_tokens);
	if (budget_tokens >= n_ctx || budget_tokens >= n_all * KV_BLOCK_TOKENS)
	{
		bool		all = n_got == n_all;

		for (int32_t b = 0; all && b < n_all; b++)
			all = got[b] == b;
		CHECK(all, "a budget covering the context keeps every block in order (context %d, budget %d)",
			  n_ctx, budget_tokens);
	}
	free(got);
	free(want);
	free(bounds);
}

static void
test_selection(void)
{
	/* the smallest budgets, one under a block, whole and partial blocks */
	static const int32_t fixed[] = {1, 64, 95, 256, 288, 300, 2048, 3000};
	static const double spreads[] = {0.5, 2, 8};

	for (int32_t head_dim = 64; head_dim <= 128; head_dim *= 2)
	{
		struct fixture fx = fixture_new(head_dim, 3000, 4, spreads, 3, 6, 0x5eed0002 + head_dim);
		uint64_t	st = 0x5eed0003 + head_dim;

		for (int i = 0; fx.kv && i < 300; i++)
			check_selection(&fx, &st, 0);
		for (int i = 0; fx.kv && i < 8 * 8; i++)
			check_selection(&fx, &st, fixed[i % 8]);
		fixture_free(&fx);
	}
}

/*
 * The query is rounded to F16 before its bounds, as attention rounds it:
 * 1.0002 is 1 in F16, so block 1 (1 in element 1) and block 2 (1 in
 * element 0) tie and the earlier is kept; unrounded, block 2 would win.
 */
static void
test_query_rounding(void)
{
	struct fixture fx = fixture_alloc(64, 4 * KV_BLOCK_TOKENS);
	float		key[N_KV_HEAD * 64] = {0};
	float		q[64] = {1.0002f, 1.0f};
	int32_t		got[4];
	float		bounds[8];
	int32_t		n;

	if (!fx.kv)
		return;
	for (int32_t p = 0; p < fx.n_ctx; p++)
	{
		key[64 + 0] = p / KV_BLOCK_TOKENS == 2;
		key[64 + 1] = p / KV_BLOCK_TOKENS == 1;
		kv_store(fx.kv, LAYER, &fx.seq, p, key, key);
	}
	n = attention_select(fx.kv, LAYER, &fx.seq, fx.n_ctx, 1, 64, q, 1, 3 * KV_BLOCK_TOKENS, got, bounds);
	CHECK(n == 3 && got[0] == 0 && got[1] == 1 && got[2] == 3,
		  "the query as attention reads it ties blocks 1 and 2, the earlier kept: %d blocks, the second %d", n, got[1]);
	fixture_free(&fx);
}

/* ---- 3. attention over the chosen blocks ------------------------------------ */

/*
 * Softmax attention of one head over the positions of blocks[0..n) in
 * double, from the query as attention reads it and the stored keys and
 * values; spread[d] = sum p_j |v_jd|, the scale of its rounding.
 */
static void
reference_attention(const struct fixture *fx, const int32_t *blocks, int32_t n, int32_t kv_head,
					const float *q, double scale, double *out, double *spread)
{
	int32_t		hd = fx->head_dim;
	double	   *s = malloc(sizeof(double) * n * KV_BLOCK_TOKENS);
	double		max = -INFINITY;
	double		sum = 0;
	int32_t		m = 0;
	float		qr[MAX_DIM];

	query_as_read(q, hd, qr);
	for (int32_t i = 0; i < n; i++)
		for (int32_t p = blocks[i] * KV_BLOCK_TOKENS; p < (blocks[i] + 1) * KV_BLOCK_TOKENS && p < fx->n_ctx; p++, m++)
		{
			s[m] = 0;
			for (int32_t d = 0; d < hd; d++)
				s[m] += (double) qr[d] * stored_key(fx, p, kv_head * hd + d);
			s[m] *= scale;
			max = s[m] > max ? s[m] : max;
		}
	for (int32_t j = 0; j < m; j++)
		sum += (s[j] = exp(s[j] - max));
	for (int32_t d = 0; d < hd; d++)
		out[d] = spread[d] = 0;
	m = 0;
	for (int32_t i = 0; i < n; i++)
		for (int32_t p = blocks[i] * KV_BLOCK_TOKENS; p < (blocks[i] + 1) * KV_BLOCK_TOKENS && p < fx->n_ctx; p++, m++)
			for (int32_t d = 0; d < hd; d++)
			{
				double		v = stored_value(fx, p, kv_head * hd + d);

				out[d] += s[m] / sum * v;
				spread[d] += s[m] / sum * fabs(v);
			}
	free(s);
}

/* attention_sparse over blocks[0..n) against the double reference: within
 * the F16 rounding of the probabilities; and, a true subset, not dense. */
static void
check_subset(const struct fixture *fx, const int32_t *blocks, int32_t n, const float *q,
			 float scale, bool gemm, const float *dense, float *scores)
{
	float		out[MAX_DIM];
	double		ref[MAX_DIM], spread[MAX_DIM];
	double		worst = 0;
	bool		differs = false;

	attention_sparse(fx->kv, LAYER, &fx->seq, fx->n_ctx, blocks, n, 1, fx->head_dim, q, scale,
					 gemm, out, scores);
	reference_attention(fx, blocks, n, 1, q, scale, ref, spread);
	for (int32_t d = 0; d < fx->head_dim; d++)
	{
		double		err = fabs(out[d] - ref[d]) / (spread[d] + 1e-6);

		worst = err > worst ? err : worst;
		differs |= fabs(out[d] - dense[d]) > 1e-2 * (spread[d] + 1e-6);
	}
	CHECK(worst <= 1e-3, "%d blocks: off the double softmax over them by %g of sum p|v| (dim %d, gemm %d)",
		  n, worst, fx->head_dim, gemm);
	CHECK(differs, "%d blocks of %d: not the dense result (dim %d, gemm %d)", n,
		  n_blocks_of(fx->n_ctx), fx->head_dim, gemm);
}

static void
test_sparse_attention(void)
{
	static const double spreads[] = {1, 3};
	int32_t		n_ctx = (ATT_BLOCKS - 1) * KV_BLOCK_TOKENS + 13;
	int32_t		every[ATT_BLOCKS];
	int32_t		handmade[4] = {0, 2, 3, ATT_BLOCKS - 1};
	uint64_t	st = 0x5eed0004;

	for (int32_t b = 0; b < ATT_BLOCKS; b++)
		every[b] = b;

	for (int32_t head_dim = 64; head_dim <= 128; head_dim *= 2)
	{
		struct fixture fx = fixture_new(head_dim, n_ctx, 1, spreads, 2, 0, st + head_dim);
		float		scale = 1.0f / sqrtf((float) head_dim);
		float	   *scores = malloc(sizeof(float) * n_ctx);
		float		bounds[2 * ATT_BLOCKS];
		float		q[MAX_DIM];
		float		dense[MAX_DIM], sparse[MAX_DIM];

		for (int32_t d = 0; fx.kv && d < head_dim; d++)
			q[d] = (float) (2 * unif(&st));
		for (int g = 0; fx.kv && g < 2; g++)
		{
			int32_t		chosen[ATT_BLOCKS];
			int32_t		n_chosen = attention_select(fx.kv, LAYER, &fx.seq, n_ctx, 1, head_dim, q, 1,
													4 * KV_BLOCK_TOKENS, chosen, bounds);

			attention_dense(fx.kv, LAYER, &fx.seq, n_ctx, 1, head_dim, q, scale, g, dense, scores);
			attention_sparse(fx.kv, LAYER, &fx.seq, n_ctx, every, ATT_BLOCKS, 1, head_dim, q, scale, g,
							 sparse, scores);
			CHECK(memcmp(dense, sparse, sizeof(float) * head_dim) == 0,
				  "every block: attention_sparse is attention_dense bit for bit (dim %d, gemm %d)", head_dim, g);
			check_subset(&fx, chosen, n_chosen, q, scale, g, dense, scores);
			check_subset(&fx, handmade, 4, q, scale, g, dense, scores);
		}
		free(scores);
		fixture_free(&fx);
	}
}

/* ---- 4. the settings ---------------------------------------------------------- */

static void
test_modes(void)
{
	static const char *const bad[] = {"", "ON", "yes", "of", "auto "};
	enum sparse_mode mode = SPARSE_OFF;
	struct sparse_config c;

	CHECK(sparse_mode_parse("on", &mode) == 0 && mode == SPARSE_ON, "\"on\"");
	CHECK(sparse_mode_parse("auto", &mode) == 0 && mode == SPARSE_AUTO, "\"auto\"");
	CHECK(sparse_mode_parse("off", &mode) == 0 && mode == SPARSE_OFF, "\"off\"");
	for (int i = 0; i < 5; i++)
		CHECK(sparse_mode_parse(bad[i], &mode) == -1, "\"%s\" is refused", bad[i]);

	c = sparse_config_of(SPARSE_OFF, 512, 1024);
	CHECK(c.budget == 0, "off: budget 0 (dense), got %d", c.budget);
	c = sparse_config_of(SPARSE_ON, 512, 1024);
	CHECK(c.budget == 512 && c.min_context == 0, "on: the budget from any context, got %d, %d",
		  c.budget, c.min_context);
	c = sparse_config_of(SPARSE_AUTO, 512, 1024);
	CHECK(c.budget == 512 && c.min_context == 1024, "auto: the budget from min_context, got %d, %d",
		  c.budget, c.min_context);
}

int
main(void)
{
	for (int t = KV_F16; t <= KV_Q8_0; t++)
	{
		kv_type_under_test = (enum kv_type) t;
		test_bound_is_bound();
		test_selection();
		test_query_rounding();
		test_sparse_attention();
	}
	test_modes();
	return check_done("test_sparse");
}
