/*
 * attn_plan.h — how the CUDA attention divides its work, in plain C shared
 * by the kernels, the host code that launches them and the CPU emulation
 * test (test/gpu/test_cuda_emul.c).
 *
 * A thread block serves one tile of queries against one range of KV blocks:
 * a tile is up to ATTN_QUERIES (token, head) pairs of one sequence that
 * read the same KV head, so each KV block it loads serves them all (the
 * heads of a GQA group, and for prefill several consecutive tokens).  The
 * range is one of n_splits slices of the blocks the tile reads (split-K):
 * decode with few sequences needs many blocks to fill the GPU.  A tile
 * reads every block of its context, or, for a token that attends sparsely
 * (sparse_plan.h), the blocks chosen for it, in ascending order: such a
 * token is a tile alone, since another token's choice differs.
 *
 * Numerics are the CPU's (attention.c): the softmax is two-pass, so the
 * probabilities are normalised before they are rounded to F16 and weight
 * the values.  Pass one gives each (query, split) the maximum m_s of its
 * scores and l_s, the sum of exp(score - m_s); pass two combines those into
 * the global m and 1/l, recomputes the scores and sums
 * f16(exp(score - m) / l) * v; a last step adds the splits' partial sums.
 */
#ifndef DR1_ATTN_PLAN_H
#define DR1_ATTN_PLAN_H

#include <math.h>
#include <stdint.h>

#include "exp_poly.h"
#include "f16.h"
#include "kv_cache.h"

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define AP_FN static __host__ __device__ __forceinline__
#else
#define AP_FN static inline
#endif

#define ATTN_QUERIES 16			/* queries of one tile */
#define ATTN_WARPS 8			/* warps of a thread block; each takes queries w, w + 8 */
#define ATTN_MAX_SPLITS 64
#define ATTN_MAX_HEAD_DIM 256

AP_FN uint32_t
attn_bits(float f)
{
#ifdef __CUDA_ARCH__
	return __float_as_uint(f);
#else
	return f32_to_bits(f);
#endif
}

AP_FN float
attn_from_bits(uint32_t u)
{
#ifdef __CUDA_ARCH__
	return __uint_as_float(u);
#else
	return f32_from_bits(u);
#endif
}

/* f rounded to F16 and back (to nearest even, as f16.h) */
AP_FN float
attn_round_f16(float f)
{
#ifdef __CUDA_ARCH__
	return __half2float(__float2half_rn(f));
#else
	return f16_to_f32(f32_to_f16(f));
#endif
}

/* Tokens [t_first, t_first + n_tok) of one sequence, whose block table
 * starts at table_off in the batch's flat table array.  A sparse tile (one
 * token) reads n_list blocks: the indices into its sequence's table at
 * list_off + kv_head * n_list of the batch's lists; n_list 0: every block. */
struct attn_tile
{
	int32_t		t_first;
	int32_t		n_tok;
	int32_t		table_off;
	int32_t		seq;
	int32_t		n_list;
	int32_t		list_off;
};

struct attn_shape
{
	int32_t		n_head;
	int32_t		n_kv_head;
	int32_t		head_dim;
	int32_t		group;			/* query heads per KV head */
	int32_t		heads;			/* heads of a tile (of one group) */
	int32_t		tokens;			/* tokens of a tile */
	int32_t		chunks;			/* tiles per group when it has more heads than a tile */
};

AP_FN struct attn_shape
attn_shape_make(int32_t n_head, int32_t n_kv_head, int32_t head_dim)
{
	struct attn_shape s;

	s.n_head = n_head;
	s.n_kv_head = n_kv_head;
	s.head_dim = head_dim;
	s.group = n_head / n_kv_head;
	s.heads = s.group < ATTN_QUERIES ? s.group : ATTN_QUERIES;
	s.tokens = ATTN_QUERIES / s.heads;
	s.chunks = (s.group + s.heads - 1) / s.heads;
	return s;
}

/* Whether batch token t attends sparsely (n_list NULL: no token does). */
AP_FN int
attn_token_sparse(const int32_t *n_list, int32_t t)
{
	return n_list && n_list[t] > 0;
}

/*
 * Cut each sequence's tokens of a batch into tiles.  Sequence i brought
 * n_tok[i] tokens starting at batch index first[i]; its block table starts
 * at table_off[i].  Batch token t reads n_list[t] blocks of its own, at
 * list_off[t] (attn_tile), or every block when n_list[t] is 0 (n_list NULL:
 * every token does).  Consecutive dense tokens share tiles, a sparse token
 * has its own.  Returns the number of tiles (at most the token count).
 */
AP_FN int32_t
attn_make_tiles(const struct attn_shape *s, const int32_t *first, const int32_t *n_tok,
				const int32_t *table_off, int32_t n_seqs, const int32_t *n_list,
				const int32_t *list_off, struct attn_tile *tiles)
{
	int32_t		n = 0;

	for (int32_t i = 0; i < n_seqs; i++)
		for (int32_t t = first[i], end = first[i] + n_tok[i]; t < end; n++)
		{
			int			sparse = attn_token_sparse(n_list, t);
			int32_t		k = 1;

			while (!sparse && k < s->tokens && t + k < end && !attn_token_sparse(n_list, t + k))
				k++;
			tiles[n].t_first = t;
			tiles[n].n_tok = k;
			tiles[n].table_off = table_off[i];
			tiles[n].seq = i;
			tiles[n].n_list = sparse ? n_list[t] : 0;
			tiles[n].list_off = sparse ? list_off[t] : 0;
			t += k;
		}
	return n;
}

/* How many KV blocks a tile whose last token sees n_ctx positions reads. */
AP_FN int32_t
attn_tile_blocks(const struct attn_tile *t, int32_t n_ctx)
{
	return t->n_list > 0 ? t->n_list : (n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
}

/* The i-th KV block (an index into its sequence's table) a tile reads for
 * KV head kvh. */
AP_FN int32_t
attn_tile_block(const struct attn_tile *t, const int32_t *lists, int32_t kvh, int32_t i)
{
	return t->n_list > 0 ? lists[t->list_off + kvh * t->n_list + i] : i;
}

/*
 * Query qi of a tile of n_tok tokens in chunk `chunk` of KV head kvh: its
 * token (offset in the tile) and head.  0 when the tile has no such query.
 */
AP_FN int
attn_query(const struct attn_shape *s, int32_t n_tok, int32_t kvh, int32_t chunk, int32_t qi,
		   int32_t *tok, int32_t *head)
{
	int32_t		first = chunk * s->heads;
	int32_t		nh = s->group - first < s->heads ? s->group - first : s->heads;

	*tok = qi / nh;
	*head = kvh * s->group + first + qi % nh;
	return *tok < n_tok;
}

/* The tile's blocks [kb0, kb1) of the n_kb it reads (attn_tile_blocks)
 * that split `split` of n_splits covers (empty when they are few). */
AP_FN void
attn_split_range(int32_t n_kb, int32_t n_splits, int32_t split, int32_t *kb0, int32_t *kb1)
{
	int32_t		per = (n_kb + n_splits - 1) / n_splits;
	int32_t		a = split * per;

	*kb0 = a < n_kb ? a : n_kb;
	*kb1 = *kb0 + per < n_kb ? *kb0 + per : n_kb;
}

/*
 * Splits for a call: enough thread blocks to fill the device (target), no
 * more splits than the tile that reads the most KV blocks reads (max_ctx:
 * those blocks' positions), and no more partial results than the scratch
 * holds (max_pairs (query, split) pairs).
 */
AP_FN int32_t
attn_choose_splits(int32_t n_tiles, const struct attn_shape *s, int32_t T, int32_t max_ctx,
				   int32_t target, int64_t max_pairs)
{
	int64_t		blocks = (int64_t) n_tiles * s->n_kv_head * s->chunks;
	int32_t		n = (int32_t) ((target + blocks - 1) / blocks);
	int32_t		n_kb = (max_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
	int64_t		fit = max_pairs / ((int64_t) T * s->n_head);

	if (n > n_kb)
		n = n_kb;
	if (n > ATTN_MAX_SPLITS)
		n = ATTN_MAX_SPLITS;
	if (n > fit)
		n = (int32_t) fit;
	return n < 1 ? 1 : n;
}

/* exp(x) as the CPU computes it (exp_poly.h, ggml's SIMD exp), so that
 * scores give the CPU's probabilities bit for bit. */
AP_FN float
attn_exp(float x)
{
	return exp_poly(x);
}

/* Merge a split's (m_s, l_s) into the running (m, l) of a query. */
AP_FN void
attn_merge_stats(float *m, float *l, float m_s, float l_s)
{
	if (l_s == 0.0f)
		return;
	if (*l == 0.0f)
	{
		*m = m_s;
		*l = l_s;
	}
	else if (m_s > *m)
	{
		*l = *l * attn_exp(*m - m_s) + l_s;
		*m = m_s;
	}
	else
		*l += l_s * attn_exp(m_s - *m);
}

/* The probability that weights a value: rounded to F16 as attention.c does. */
AP_FN float
attn_prob(float score, float m, float inv_l)
{
	return attn_round_f16(attn_exp(score - m) * inv_l);
}

#endif
