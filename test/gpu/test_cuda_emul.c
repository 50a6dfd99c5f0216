/*
 * test_cuda_emul.c — the CUDA kernels' arithmetic, checked on the CPU.
 *
 * The kernels take their block decoding (kernels/qblock.h), their
 * attention work split (kernels/attn_plan.h) and sparse attention's key
 * summaries and block choice (kernels/sparse_plan.h) from plain C headers.
 * Here those run on the host, in the order a warp would run them, against
 * the engine's scalar references: every unit of every weight type against
 * vec_dot_ref, every dequantized element against dequantize_row_ref (bit for
 * bit), the key summaries against kv_store's and the choice against
 * attention_select (bit for bit), and the split two-pass attention, dense
 * and over chosen blocks, against attention_dense and attention_sparse.  No
 * GPU is needed; test_cuda runs the real kernels where there is one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check.h"
#include "f16.h"
#include "kv_cache.h"
#include "ops.h"
#include "quant.h"
#include "sampler.h"
#include "sparse.h"
#include "top_logits.h"

#include "../../kernels/attn_plan.h"
#include "../../kernels/matvec_plan.h"
#include "../../kernels/qblock.h"
#include "../../kernels/rmsnorm.h"
#include "../../kernels/sparse_plan.h"
#include "../../kernels/swiglu.h"
#include "../../kernels/topk_plan.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(void)
{
	return (uint32_t) (check_rng_next(&rng_state) >> 16);
}

/* uniform in [-1, 1) */
static float
rndf(void)
{
	return (float) (rnd() % 2000001) / 1000000.0f - 1.0f;
}

static void
put_f16(uint8_t *p, float v)
{
	uint16_t	h = f32_to_f16(v);

	memcpy(p, &h, 2);
}

/* A row of random blocks: random quants, scales of moderate size. */
static void
random_row(enum dtype t, uint8_t *row, int64_t cols)
{
	struct qb_shape s = qb_shape_of(t);
	int64_t		nb = cols / s.block_elems;

	if (t == DTYPE_F32 || t == DTYPE_F16 || t == DTYPE_BF16)
	{
		for (int64_t i = 0; i < cols; i++)
		{
			float		v = rndf() * 0.1f;
			uint16_t	h = t == DTYPE_F16 ? f32_to_f16(v) : f32_to_bf16(v);

			if (t == DTYPE_F32)
				memcpy(row + 4 * i, &v, 4);
			else
				memcpy(row + 2 * i, &h, 2);
		}
		return;
	}
	for (int64_t i = 0; i < nb * s.block_bytes; i++)
		row[i] = (uint8_t) rnd();
	for (int64_t b = 0; b < nb; b++)
	{
		uint8_t    *blk = row + b * s.block_bytes;

		if (t == DTYPE_Q6_K)
			put_f16(blk + QB_Q6_K_D, 0.001f + 0.002f * fabsf(rndf()));
		else
			put_f16(blk, 0.001f + 0.01f * fabsf(rndf()));
		if (t == DTYPE_Q4_1 || t == DTYPE_Q5_1 || t == DTYPE_Q4_K || t == DTYPE_Q5_K)
			put_f16(blk + 2, 0.01f * rndf());
	}
}

/*
 * The mat-vec kernel for one row split over `split` warps (matvec_plan.h):
 * each lane's groups in order, the warp's butterfly (lane 0's order), the
 * splits added in order.  Counts in seen[] how often each unit was read.
 */
static void
emulate_row(enum dtype t, const uint8_t *row, int64_t cols, const uint8_t *act,
			size_t act_row_bytes, int T, int split, int *seen, float *out)
{
	struct qb_shape s = qb_shape_of(t);
	int64_t		units = cols / s.block_elems * s.units;
	int			g = mv_group(t);
	float		part[MV_MAX_SPLIT][QB_MAX_T];

	for (int k = 0; k < split; k++)
	{
		float		lane[32][QB_MAX_T];
		int64_t		begin,
					end;

		memset(lane, 0, sizeof lane);
		mv_split_range(units, split, k, g, &begin, &end);
		for (int l = 0; l < 32; l++)
			for (int64_t u = begin + g * l; u < end; u += 32 * g)
			{
				int64_t		b = u / s.units;

				for (int j = 0; j < g; j++)
					seen[u + j]++;
				qb_group(t, row + b * s.block_bytes, (int) (u % s.units),
							  act + b * s.act_bytes, act_row_bytes, T, lane[l]);
			}
		for (int off = 16; off > 0; off /= 2)
			for (int l = 0; l < off; l++)
				for (int i = 0; i < T; i++)
					lane[l][i] += lane[l + off][i];
		memcpy(part[k], lane[0], sizeof part[k]);
	}
	for (int i = 0; i < T; i++)
	{
		out[i] = part[0][i];
		for (int k = 1; k < split; k++)
			out[i] += part[k][i];
	}
}

/* A group reads 16 aligned bytes and gives its units' terms bit for bit. */
static void
test_groups(enum dtype t, const uint8_t *row, int64_t cols, const uint8_t *act, size_t act_bytes,
			int T)
{
	struct qb_shape s = qb_shape_of(t);
	int			bad = 0;

	if (mv_group(t) == 1)
		return;
	CHECK(s.block_bytes % 16 == 0 && s.units % 4 == 0, "%s: blocks of %d bytes cannot be read "
		  "16 bytes at a time", dtype_name(t), s.block_bytes);
	for (int64_t b = 0; b < cols / s.block_elems; b++)
		for (int u = 0; u < s.units; u += 4)
		{
			float		one[QB_MAX_T] = {0},
						four[QB_MAX_T] = {0};

			qb_group(t, row + b * s.block_bytes, u, act + b * s.act_bytes, act_bytes, T, four);
			for (int j = 0; j < 4; j++)
				qb_unit(t, row + b * s.block_bytes, u + j, act + b * s.act_bytes, act_bytes, T, one);
			bad += memcmp(one, four, sizeof one) != 0;
		}
	CHECK(bad == 0, "%s: %d groups differ from their four units", dtype_name(t), bad);
}

static void
test_units(enum dtype t, int64_t cols)
{
	enum dtype	at = quant_act_type(t);
	size_t		row_bytes = dtype_row_bytes(t, cols);
	size_t		act_bytes = dtype_row_bytes(at, cols);
	int			T = 5;
	uint8_t    *row = malloc(row_bytes);
	uint8_t    *act = malloc(act_bytes * T);
	float	   *x = malloc(cols * sizeof(float));
	float	   *w = malloc(cols * sizeof(float));
	float	   *y = malloc(cols * sizeof(float));
	float		got[QB_MAX_T];
	float		one;
	int			bad_dequant = 0;

	for (int rep = 0; rep < 20; rep++)
	{
		random_row(t, row, cols);
		for (int i = 0; i < T; i++)
		{
			for (int64_t k = 0; k < cols; k++)
				x[k] = rndf() * (k % 97 == 0 ? 8.0f : 1.0f);
			quantize_row_act_ref(at, x, act + i * act_bytes, cols);
		}
		int			split = 1 << rep % 3;	/* every split the kernel takes */
		int			units = (int) (cols / qb_shape_of(t).block_elems * qb_shape_of(t).units);
		int		   *seen = calloc(units, sizeof(int));
		int			twice = 0;

		emulate_row(t, row, cols, act, act_bytes, T, split, seen, got);
		for (int u = 0; u < units; u++)
			twice += seen[u] != 1;
		CHECK(twice == 0, "%s, %d columns, split %d: %d units not read exactly once",
			  dtype_name(t), (int) cols, split, twice);
		test_groups(t, row, cols, act, act_bytes, T);
		dequantize_row_ref(t, row, w, cols);
		for (int i = 0; i < T; i++)
		{
			float		ref = vec_dot_ref(t, cols, row, act + i * act_bytes);
			double		mag = 0;

			dequantize_row_ref(at, act + i * act_bytes, y, cols);
			for (int64_t k = 0; k < cols; k++)
				mag += fabs((double) w[k] * y[k]);
			CHECK(fabs(got[i] - ref) <= 2e-6 * mag + 1e-30,
				  "%s unit dot row %d: %.9g vs reference %.9g (magnitude %.3g)",
				  dtype_name(t), i, got[i], ref, mag);
			/* a row alone gives bit for bit what it gives in a batch */
			memset(seen, 0, units * sizeof(int));
			emulate_row(t, row, cols, act + i * act_bytes, act_bytes, 1, split, seen, &one);
			CHECK(memcmp(&one, &got[i], sizeof one) == 0, "%s: batch of %d differs from alone",
				  dtype_name(t), T);
		}
		free(seen);
		for (int64_t b = 0; b < cols / qb_shape_of(t).block_elems; b++)
			for (int e = 0; e < qb_shape_of(t).block_elems; e++)
			{
				int64_t		k = b * qb_shape_of(t).block_elems + e;
				float		v = qb_dequant(t, row + b * qb_shape_of(t).block_bytes, e);

				bad_dequant += memcmp(&v, &w[k], sizeof v) != 0;
			}
	}
	CHECK(bad_dequant == 0, "%s: %d dequantized elements differ from dequantize_row_ref",
		  dtype_name(t), bad_dequant);
	free(row);
	free(act);
	free(x);
	free(w);
	free(y);
}

/*
 * mv_choose_split on the matrices of the 1.5B and 7B shapes (Q4_K rows of
 * 32 units per 256 columns) for an H200 (132 SMs) and an A100 (108): a
 * power of two the block divides, splits of at least MV_MIN_SPLIT_UNITS,
 * and the short-and-wide ones (down: 1536 x 8960) split.
 */
static void
test_split_choice(void)
{
	static const int64_t shapes[][2] = {
		{1536, 1536}, {256, 1536}, {8960, 1536}, {1536, 8960}, {151936, 1536},
		{3584, 3584}, {512, 3584}, {18944, 3584}, {3584, 18944}, {152064, 3584},
	};
	static const int sms[] = {132, 108};

	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		for (size_t j = 0; j < 2; j++)
		{
			int64_t		units = shapes[i][1] / 256 * 32;
			int			split = mv_choose_split(shapes[i][0], units, sms[j]);

			CHECK(split >= 1 && split <= MV_MAX_SPLIT && MV_BLOCK_WARPS % split == 0 &&
				  (split == 1 || units / split >= MV_MIN_SPLIT_UNITS),
				  "split %d for %lld x %lld", split, (long long) shapes[i][0],
				  (long long) shapes[i][1]);
			if (shapes[i][0] == 1536 && shapes[i][1] == 8960)
				CHECK(split > 1, "the 1.5B down matrix is not split on %d SMs", sms[j]);
		}
}

/* The SwiGLU element the kernels apply (swiglu.h; fused into down's
 * input quantization) against ops.c's swiglu, bit for bit, from tiny to
 * overflowing gates. */
static void
test_swiglu(void)
{
	enum
	{
		N = 20011
	};
	static const float odd[] = {0.0f, -0.0f, 88.7f, -88.7f, 104.0f, -104.0f, 1e-30f, INFINITY, -INFINITY};
	float	   *g = malloc(N * sizeof(float));
	float	   *u = malloc(N * sizeof(float));
	float	   *h = malloc(N * sizeof(float));
	int			bad = 0;

	for (int i = 0; i < N; i++)
	{
		g[i] = i < 9 ? odd[i] : rndf() * (i % 3 == 0 ? 120.0f : i % 3 == 1 ? 8.0f : 0.01f);
		u[i] = rndf() * 4.0f;
	}
	swiglu(h, g, u, N);
	for (int i = 0; i < N; i++)
	{
		float		e = swiglu_elem(g[i], u[i]);

		bad += memcmp(&e, &h[i], sizeof e) != 0 && !(isnan(e) && isnan(h[i]));
	}
	CHECK(bad == 0, "swiglu_elem differs from ops.c's swiglu at %d of %d elements", bad, N);
	free(g);
	free(u);
	free(h);
}

/*
 * RMSNorm fused into a quantizing warp (act_quant.cu's row_scale): each
 * lane sums the squares of elements lane, lane + 32, ... in double, the
 * warp adds them by its butterfly, then rms_scale and rms_elem; against
 * ops.c's rmsnorm bit for bit, on rows of the models' widths, values from
 * 1e-4 to 1e3 (squares over 50 binades, where the double sums are not
 * exact and only their rounding to float saves the order).
 */
static void
test_fused_rmsnorm(void)
{
	static const int widths[] = {576, 1536, 3584, 8960};
	int			bad = 0;
	int			rows = 0;

	for (size_t a = 0; a < sizeof widths / sizeof widths[0]; a++)
	{
		int			n = widths[a];
		float	   *x = malloc(n * sizeof(float));
		float	   *w = malloc(n * sizeof(float));
		float	   *y = malloc(n * sizeof(float));

		for (int rep = 0; rep < 200; rep++, rows++)
		{
			double		lane[32] = {0};
			float		scale;

			for (int k = 0; k < n; k++)
			{
				x[k] = rndf() * (k % 61 == 0 ? 1000.0f : k % 7 == 0 ? 1e-4f : 1.0f);
				w[k] = 0.5f + rndf();
			}
			rmsnorm(y, x, w, n, 1e-6f);
			for (int k = 0; k < n; k++)
				lane[k % 32] += rms_square(x[k]);
			for (int off = 16; off > 0; off /= 2)
				for (int l = 0; l < off; l++)
					lane[l] += lane[l + off];
			scale = rms_scale(lane[0], n, 1e-6f);
			for (int k = 0; k < n; k++)
			{
				float		e = rms_elem(x[k], scale, w[k]);

				bad += memcmp(&e, &y[k], sizeof e) != 0;
			}
		}
		free(x);
		free(w);
		free(y);
	}
	CHECK(bad == 0, "the fused RMSNorm differs from ops.c's at %d elements (%d rows)", bad, rows);
}

/* ---- attention ---- */

struct attn_case
{
	int32_t		n_head;
	int32_t		n_kv_head;
	int32_t		head_dim;
	int32_t		n_seqs;
	const int32_t *past;		/* positions each sequence already holds */
	const int32_t *new_tok;		/* tokens each brings to the batch */
};

struct attn_batch
{
	struct kv_cache *kv;
	struct kv_seq *seqs;
	int32_t		T;
	int32_t    *pos;			/* [T] */
	int32_t    *tok_seq;		/* [T] */
	int32_t    *tok_off;		/* [T] where its sequence's table starts */
	int32_t    *first;			/* [n_seqs] */
	int32_t    *table;			/* flat block tables */
	int32_t    *table_off;		/* [n_seqs] */
	float	   *q;				/* [T][n_head * head_dim] */
	float	   *k_new;			/* [T][kv_dim] the new tokens' keys */
	float	   *kmin_before;	/* the key summaries before they were stored */
	float	   *kmax_before;
};

static void
random_kv_row(float *key, float *val, int32_t kv_dim)
{
	for (int32_t k = 0; k < kv_dim; k++)
	{
		key[k] = rndf() * 2.0f;
		val[k] = rndf();
	}
}

/* Blocks for each sequence's past and new positions, reserved in turns so
 * that the sequences' blocks interleave (tables are not contiguous). */
static int32_t
attn_batch_reserve(const struct attn_case *c, struct attn_batch *b)
{
	int32_t		n_blocks = 0;
	int			grew = 1;

	for (int32_t i = 0; i < c->n_seqs; i++)
	{
		n_blocks += (c->past[i] + c->new_tok[i] + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
		b->T += c->new_tok[i];
	}
	b->kv = kv_cache_new(1, c->n_kv_head * c->head_dim, n_blocks + 3, KV_F16, NULL);
	b->seqs = calloc(c->n_seqs, sizeof(struct kv_seq));
	for (int32_t step = 1; grew; step++)
	{
		grew = 0;
		for (int32_t i = 0; i < c->n_seqs; i++)
		{
			int32_t		want = c->past[i] + c->new_tok[i];
			int32_t		n = step * KV_BLOCK_TOKENS < want ? step * KV_BLOCK_TOKENS : want;

			if (b->seqs[i].n_blocks * KV_BLOCK_TOKENS < want)
				grew = 1;
			kv_seq_reserve(b->kv, &b->seqs[i], n);
		}
	}
	return n_blocks;
}

/* Sequences with keys and values in a shared pool, and a query per new
 * token; the key summaries are kept as they were before the new keys. */
static void
attn_batch_make(const struct attn_case *c, struct attn_batch *b)
{
	int32_t		kv_dim = c->n_kv_head * c->head_dim;
	int32_t		n_blocks;
	int32_t		n_table = 0;
	size_t		n_sums;
	float	   *key = malloc(kv_dim * sizeof(float));
	float	   *val = malloc(kv_dim * sizeof(float));

	memset(b, 0, sizeof *b);
	n_blocks = attn_batch_reserve(c, b);
	n_sums = (size_t) b->kv->n_blocks * kv_dim;
	b->pos = malloc(b->T * sizeof(int32_t));
	b->tok_seq = malloc(b->T * sizeof(int32_t));
	b->tok_off = malloc(b->T * sizeof(int32_t));
	b->first = malloc(c->n_seqs * sizeof(int32_t));
	b->table_off = malloc(c->n_seqs * sizeof(int32_t));
	b->table = malloc(n_blocks * sizeof(int32_t));
	b->q = malloc((size_t) b->T * c->n_head * c->head_dim * sizeof(float));
	b->k_new = malloc((size_t) b->T * kv_dim * sizeof(float));
	b->kmin_before = malloc(n_sums * sizeof(float));
	b->kmax_before = malloc(n_sums * sizeof(float));
	for (int32_t i = 0, t = 0; i < c->n_seqs; t += c->new_tok[i], i++)
	{
		b->first[i] = t;
		b->table_off[i] = n_table;
		memcpy(b->table + n_table, b->seqs[i].blocks, b->seqs[i].n_blocks * sizeof(int32_t));
		n_table += b->seqs[i].n_blocks;
		for (int32_t p = 0; p < c->past[i]; p++)
		{
			random_kv_row(key, val, kv_dim);
			kv_store(b->kv, 0, &b->seqs[i], p, key, val);
		}
	}
	memcpy(b->kmin_before, b->kv->kmin, n_sums * sizeof(float));
	memcpy(b->kmax_before, b->kv->kmax, n_sums * sizeof(float));
	for (int32_t i = 0, t = 0; i < c->n_seqs; i++)
		for (int32_t j = 0; j < c->new_tok[i]; j++, t++)
		{
			b->pos[t] = c->past[i] + j;
			b->tok_seq[t] = i;
			b->tok_off[t] = b->table_off[i];
			random_kv_row(b->k_new + (size_t) t * kv_dim, val, kv_dim);
			kv_store(b->kv, 0, &b->seqs[i], b->pos[t], b->k_new + (size_t) t * kv_dim, val);
		}
	for (size_t k = 0; k < (size_t) b->T * c->n_head * c->head_dim; k++)
		b->q[k] = rndf() * 2.0f;
	free(key);
	free(val);
}

static void
attn_batch_free(struct attn_batch *b, int32_t n_seqs)
{
	for (int32_t i = 0; i < n_seqs; i++)
		kv_seq_release(b->kv, &b->seqs[i]);
	kv_cache_free(b->kv);
	free(b->seqs);
	free(b->pos);
	free(b->tok_seq);
	free(b->tok_off);
	free(b->first);
	free(b->table);
	free(b->table_off);
	free(b->q);
	free(b->k_new);
	free(b->kmin_before);
	free(b->kmax_before);
}

/*
 * The KV store kernel's key summaries: from the summaries as they were
 * before the batch, each token that starts a run in its block folds the
 * run into every element.  They must be kv_store's, bit for bit.  The
 * device never sees kv_block_alloc's reset: a block no key has reached
 * holds what its last user left there (here -3 and 3, which a missing
 * reset would keep).
 */
static void
test_summaries(const struct attn_case *c, const struct attn_batch *b)
{
	int32_t		kv_dim = b->kv->kv_dim;
	size_t		n_sums = (size_t) b->kv->n_blocks * kv_dim;
	float	   *kmin = malloc(n_sums * sizeof(float));
	float	   *kmax = malloc(n_sums * sizeof(float));
	int			bad = 0;

	for (int32_t i = 0; i < c->n_seqs; i++)
		for (int32_t k = 0; k < b->seqs[i].n_blocks * kv_dim; k++)
		{
			size_t		e = (size_t) b->seqs[i].blocks[k / kv_dim] * kv_dim + k % kv_dim;
			bool		unused = b->kmin_before[e] == INFINITY;

			kmin[e] = unused ? -3.0f : b->kmin_before[e];
			kmax[e] = unused ? 3.0f : b->kmax_before[e];
		}
	for (int32_t t = 0; t < b->T; t++)
	{
		size_t		sum = (size_t) b->table[b->tok_off[t] + b->pos[t] / KV_BLOCK_TOKENS] * kv_dim;

		if (!kv_run_starts(b->pos, b->tok_off, t))
			continue;
		for (int32_t i = 0; i < kv_dim; i++)
			kv_summary_run(b->k_new, kv_dim, b->pos, b->tok_off, b->T, t, i, kmin + sum + i,
						   kmax + sum + i);
	}
	for (int32_t i = 0; i < c->n_seqs; i++)
		for (int32_t k = 0; k < b->seqs[i].n_blocks * kv_dim; k++)
		{
			size_t		e = (size_t) b->seqs[i].blocks[k / kv_dim] * kv_dim + k % kv_dim;

			bad += memcmp(&kmin[e], &b->kv->kmin[e], sizeof(float)) != 0 ||
				memcmp(&kmax[e], &b->kv->kmax[e], sizeof(float)) != 0;
		}
	CHECK(bad == 0, "key summaries (%d kv heads, dim %d): %d elements differ from kv_store's",
		  c->n_kv_head, c->head_dim, bad);
	free(kmin);
	free(kmax);
}

/*
 * The selection kernel for one (token, KV head), its threads in turn: the
 * query's sums, the middle blocks' bounds into mid, each thread's range
 * ranked and counted, then written after block 0 and the earlier threads'.
 * q holds the token's query heads, table its sequence's blocks (layer 0).
 * Returns the blocks written to list, or 0 for a dense token.
 */
static int32_t
emulate_select(const struct attn_shape *s, const struct kv_cache *kv, const int32_t *table,
			   int32_t pos, int32_t budget, const float *q, int32_t kvh, float *mid,
			   int32_t *list)
{
	struct sparse_plan p = sparse_plan_make(pos + 1, budget);
	int32_t		hd = s->head_dim;
	float		sp[ATTN_MAX_HEAD_DIM];
	float		sn[ATTN_MAX_HEAD_DIM];
	int32_t		count[SPARSE_SELECT_THREADS];
	unsigned char *kept;
	int32_t		lo,
				hi;

	if (sparse_list_len(pos, budget) == 0)
		return 0;
	kept = malloc(p.n_mid + 1);
	for (int32_t d = 0; d < hd; d++)
	{
		sp[d] = sn[d] = 0.0f;
		for (int32_t h = 0; h < s->group; h++)
			sparse_fold(attn_round_f16(q[((size_t) kvh * s->group + h) * hd + d]), &sp[d], &sn[d]);
	}
	for (int32_t i = 0; i < p.n_mid; i++)
	{
		size_t		sum = (size_t) table[i + 1] * kv->kv_dim + (size_t) kvh * hd;

		mid[i] = sparse_block_bound(sp, sn, kv->kmin + sum, kv->kmax + sum, hd);
	}
	for (int32_t j = 0; j < SPARSE_SELECT_THREADS; j++)
	{
		sparse_thread_range(p.n_mid, j, &lo, &hi);
		count[j] = 0;
		for (int32_t i = lo; i < hi; i++)
		{
			kept[i] = (unsigned char) sparse_keeps(mid, p.n_mid, p.n_top, i);
			count[j] += kept[i];
		}
	}
	list[0] = 0;
	for (int32_t j = 0; j < SPARSE_SELECT_THREADS; j++)
	{
		int32_t		n = 1;

		sparse_thread_range(p.n_mid, j, &lo, &hi);
		for (int32_t k = 0; k < j && lo < hi; k++)
			n += count[k];
		for (int32_t i = lo; i < hi; i++)
			if (kept[i])
				list[n++] = i + 1;
	}
	for (int32_t r = 0; r < p.n_recent; r++)
		list[1 + p.n_top + r] = p.n_all - p.n_recent + r;
	free(kept);
	return p.n_chosen;
}

/* The batch's tokens under a budget from position 0 on (sparse_token_budget):
 * sb laid out as describe_batch lays it out, and the lists the selection
 * kernel writes for the sparse ones. */
static int32_t *
attn_batch_select(const struct attn_case *c, const struct attn_batch *b, int32_t budget,
				  struct sparse_batch *sb)
{
	struct attn_shape s = attn_shape_make(c->n_head, c->n_kv_head, c->head_dim);
	struct sparse_config cfg = {budget, 0};
	float	   *mid = malloc(b->kv->n_blocks * sizeof(float));
	int32_t    *lists;

	sb->budget = malloc(b->T * sizeof(int32_t));
	sb->n_list = malloc(b->T * sizeof(int32_t));
	sb->list_off = malloc(b->T * sizeof(int32_t));
	sb->n_lists = 0;
	for (int32_t t = 0; t < b->T; t++)
		sparse_batch_add(sb, t, b->pos[t], sparse_token_budget(&cfg, b->pos[t]), c->n_kv_head);
	lists = malloc((sb->n_lists + 1) * sizeof(int32_t));
	for (int32_t t = 0; t < b->T; t++)
		for (int32_t kvh = 0; kvh < c->n_kv_head && sb->n_list[t] > 0; kvh++)
			emulate_select(&s, b->kv, b->table + b->tok_off[t], b->pos[t], sb->budget[t],
						   b->q + (size_t) t * c->n_head * c->head_dim, kvh, mid,
						   lists + sb->list_off[t] + kvh * sb->n_list[t]);
	free(mid);
	return lists;
}

static void
sparse_batch_free(struct sparse_batch *sb)
{
	free(sb->budget);
	free(sb->n_list);
	free(sb->list_off);
}

/* Score of query q (F16-rounded) against key row k, as the kernel sums it. */
static float
emul_score(const float *q, const uint16_t *k, int32_t hd, float scale)
{
	float		s = 0.0f;

	for (int32_t d = 0; d < hd; d++)
		s = fmaf(attn_round_f16(q[d]), f16_to_f32(k[d]), s);
	return s * scale;
}

static const uint16_t *
emul_row(const struct attn_batch *b, const uint16_t *base, int32_t off, int32_t pos, int32_t kvh,
		 int32_t hd)
{
	int32_t		block = b->table[off + pos / KV_BLOCK_TOKENS];

	return base + ((size_t) block * KV_BLOCK_TOKENS + pos % KV_BLOCK_TOKENS) * b->kv->kv_dim
		+ (size_t) kvh * hd;
}

/*
 * The three kernels of attention.cu, one thread block at a time: per
 * (tile, KV head, chunk, split) the statistics, then the weighted values,
 * then the sum of the splits.  stats is [T * n_head][n_splits][2], part
 * [T * n_head][n_splits][hd].  sb and lists: the sparse tokens' blocks
 * (sb NULL: every token dense).
 */
static void
emulate_attention(const struct attn_case *c, const struct attn_batch *b, int32_t n_splits,
				  const struct sparse_batch *sb, const int32_t *lists, float *out)
{
	struct attn_shape s = attn_shape_make(c->n_head, c->n_kv_head, c->head_dim);
	struct attn_tile *tiles = malloc(b->T * sizeof(struct attn_tile));
	int32_t		hd = c->head_dim;
	int32_t		n_tiles;
	float		scale = 1.0f / sqrtf((float) hd);
	float	   *stats = calloc((size_t) b->T * c->n_head * n_splits * 2, sizeof(float));
	float	   *part = calloc((size_t) b->T * c->n_head * n_splits * hd, sizeof(float));
	int32_t    *n_tok = malloc(c->n_seqs * sizeof(int32_t));

	for (int32_t i = 0; i < c->n_seqs; i++)
		n_tok[i] = c->new_tok[i];
	n_tiles = attn_make_tiles(&s, b->first, n_tok, b->table_off, c->n_seqs,
							  sb ? sb->n_list : NULL, sb ? sb->list_off : NULL, tiles);
	for (int pass = 0; pass < 2; pass++)
		for (int32_t ti = 0; ti < n_tiles; ti++)
			for (int32_t z = 0; z < c->n_kv_head * s.chunks; z++)
				for (int32_t sp = 0; sp < n_splits; sp++)
				{
					const struct attn_tile *tl = &tiles[ti];
					int32_t		ctx = b->pos[tl->t_first + tl->n_tok - 1] + 1;
					int32_t		kvh = z / s.chunks;
					int32_t		i0,
								i1,
								tok,
								h;

					attn_split_range(attn_tile_blocks(tl, ctx), n_splits, sp, &i0, &i1);
					for (int32_t qi = 0; qi < ATTN_QUERIES; qi++)
					{
						int32_t		t;
						size_t		row;
						const float *q;
						float		m = -INFINITY,
									l = 0.0f,
									inv = 0.0f;

						if (!attn_query(&s, tl->n_tok, kvh, z % s.chunks, qi, &tok, &h))
							continue;
						t = tl->t_first + tok;
						row = (size_t) t * c->n_head + h;
						q = b->q + row * hd;
						if (pass == 1)
						{
							for (int32_t k = 0; k < n_splits; k++)
								attn_merge_stats(&m, &l, stats[(row * n_splits + k) * 2],
												 stats[(row * n_splits + k) * 2 + 1]);
							inv = 1.0f / l;
						}
						for (int32_t ib = i0; ib < i1; ib++)
						{
							int32_t		kb = attn_tile_block(tl, lists, kvh, ib);
							float		sc[KV_BLOCK_TOKENS];
							float		bm = -INFINITY;
							float		bs = 0.0f;

							for (int32_t j = 0; j < KV_BLOCK_TOKENS; j++)
							{
								int32_t		p = kb * KV_BLOCK_TOKENS + j;

								sc[j] = p <= b->pos[t]
									? emul_score(q, emul_row(b, b->kv->k, tl->table_off, p, kvh, hd), hd, scale)
									: -INFINITY;
								bm = fmaxf(bm, sc[j]);
							}
							if (pass == 0 && bm > -INFINITY)
							{
								float		mn = fmaxf(m, bm);

								for (int32_t j = 0; j < KV_BLOCK_TOKENS; j++)
									if (sc[j] > -INFINITY)
										bs += attn_exp(sc[j] - mn);
								l = (l > 0.0f ? l * attn_exp(m - mn) : 0.0f) + bs;
								m = mn;
							}
							for (int32_t j = 0; pass == 1 && j < KV_BLOCK_TOKENS; j++)
							{
								const uint16_t *v;

								if (sc[j] == -INFINITY)
									continue;
								v = emul_row(b, b->kv->v, tl->table_off, kb * KV_BLOCK_TOKENS + j, kvh, hd);
								for (int32_t d = 0; d < hd; d++)
									part[(row * n_splits + sp) * hd + d] +=
										attn_prob(sc[j], m, inv) * f16_to_f32(v[d]);
							}
						}
						if (pass == 0)
						{
							stats[(row * n_splits + sp) * 2] = m;
							stats[(row * n_splits + sp) * 2 + 1] = l;
						}
					}
				}
	for (size_t row = 0; row < (size_t) b->T * c->n_head; row++)
		for (int32_t d = 0; d < hd; d++)
		{
			float		sum = 0.0f;

			for (int32_t sp = 0; sp < n_splits; sp++)
				sum += part[(row * n_splits + sp) * hd + d];
			out[row * hd + d] = sum;
		}
	free(tiles);
	free(stats);
	free(part);
	free(n_tok);
}

/* What forward.c computes for the batch under a budget (0: dense):
 * attention_select's blocks and attention_sparse for a token with a
 * budget, attention_dense for the others. */
static void
reference_attention(const struct attn_case *c, const struct attn_batch *b, int32_t budget,
					float *ref)
{
	struct sparse_config cfg = {budget, 0};
	int32_t		hd = c->head_dim;
	int32_t		group = c->n_head / c->n_kv_head;
	int32_t    *blocks = malloc(b->kv->n_blocks * sizeof(int32_t));
	float	   *bounds = malloc(2 * b->kv->n_blocks * sizeof(float));
	float	   *scores = malloc(4096 * sizeof(float));
	float		scale = 1.0f / sqrtf((float) hd);

	for (int32_t t = 0; t < b->T; t++)
		for (int32_t kvh = 0; kvh < c->n_kv_head; kvh++)
		{
			const struct kv_seq *seq = &b->seqs[b->tok_seq[t]];
			const float *q = b->q + (size_t) t * c->n_head * hd;
			int32_t		tb = sparse_token_budget(&cfg, b->pos[t]);
			bool		gemm = c->new_tok[b->tok_seq[t]] >= 2;
			int32_t		n = tb > 0
				? attention_select(b->kv, 0, seq, b->pos[t] + 1, kvh, hd, q + (size_t) kvh * group * hd,
								   group, tb, blocks, bounds)
				: 0;

			for (int32_t h = kvh * group; h < (kvh + 1) * group; h++)
				if (tb > 0)
					attention_sparse(b->kv, 0, seq, b->pos[t] + 1, blocks, n, kvh, hd,
									 q + (size_t) h * hd, scale, gemm,
									 ref + ((size_t) t * c->n_head + h) * hd, scores);
				else
					attention_dense(b->kv, 0, seq, b->pos[t] + 1, kvh, hd, q + (size_t) h * hd,
									scale, gemm, ref + ((size_t) t * c->n_head + h) * hd, scores);
		}
	free(blocks);
	free(bounds);
	free(scores);
}

/*
 * Every token reading all blocks of its context as a list gives the dense
 * emulation bit for bit: always with one split, and with any split count
 * for a token alone in its sequence (a dense chunk's tile splits the last
 * token's context, a sparse tile its own).
 */
static void
test_every_block(const struct attn_case *c, const struct attn_batch *b, size_t n_out)
{
	struct sparse_batch sb;
	int32_t    *lists;
	float	   *dense = malloc(n_out * sizeof(float));
	float	   *got = malloc(n_out * sizeof(float));
	size_t		hd = c->head_dim;
	static const int32_t splits[] = {1, 3, ATTN_MAX_SPLITS};

	sb.budget = NULL;
	sb.n_list = malloc(b->T * sizeof(int32_t));
	sb.list_off = malloc(b->T * sizeof(int32_t));
	sb.n_lists = 0;
	for (int32_t t = 0; t < b->T; t++)
	{
		sb.n_list[t] = b->pos[t] / KV_BLOCK_TOKENS + 1;
		sb.list_off[t] = sb.n_lists;
		sb.n_lists += c->n_kv_head * sb.n_list[t];
	}
	lists = malloc(sb.n_lists * sizeof(int32_t));
	for (int32_t t = 0; t < b->T; t++)
		for (int32_t i = 0; i < c->n_kv_head * sb.n_list[t]; i++)
			lists[sb.list_off[t] + i] = i % sb.n_list[t];
	for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++)
	{
		int			bad = 0;

		emulate_attention(c, b, splits[k], NULL, NULL, dense);
		emulate_attention(c, b, splits[k], &sb, lists, got);
		for (size_t i = 0; i < n_out; i++)
			if (splits[k] == 1 || c->new_tok[b->tok_seq[i / hd / c->n_head]] == 1)
				bad += memcmp(&got[i], &dense[i], sizeof(float)) != 0;
		CHECK(bad == 0, "every block as a list (%d heads, %d kv, %d splits): %d values differ "
			  "from dense", c->n_head, c->n_kv_head, splits[k], bad);
	}
	sparse_batch_free(&sb);
	free(lists);
	free(dense);
	free(got);
}

/* The split attention, dense and under sparse budgets, against forward.c's
 * attention; the key summaries; every block as a list against dense. */
static void
test_attention(const struct attn_case *c)
{
	static const int32_t splits[] = {1, 3, ATTN_MAX_SPLITS};
	static const int32_t budgets[] = {0, 40, 100, 300, 1000};
	struct attn_batch b;
	size_t		n_out;
	float	   *ref;
	float	   *got;

	attn_batch_make(c, &b);
	n_out = (size_t) b.T * c->n_head * c->head_dim;
	ref = malloc(n_out * sizeof(float));
	got = malloc(n_out * sizeof(float));
	test_summaries(c, &b);
	for (size_t j = 0; j < sizeof budgets / sizeof budgets[0]; j++)
	{
		struct sparse_batch sb;
		int32_t    *lists = attn_batch_select(c, &b, budgets[j], &sb);

		reference_attention(c, &b, budgets[j], ref);
		for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++)
		{
			double		worst = 0;

			emulate_attention(c, &b, splits[k], &sb, lists, got);
			for (size_t i = 0; i < n_out; i++)
				worst = fmax(worst, fabs((double) got[i] - ref[i]));
			/* values are at most 1: a probability's F16 rounding landing on
			 * the other side (1/l differs in its last bit) moves an output
			 * by ~1e-4 */
			CHECK(worst < 2e-4, "attention (%d heads, %d kv, dim %d, budget %d, %d splits): "
				  "max error %.3g", c->n_head, c->n_kv_head, c->head_dim, budgets[j], splits[k],
				  worst);
		}
		sparse_batch_free(&sb);
		free(lists);
	}
	test_every_block(c, &b, n_out);
	free(ref);
	free(got);
	attn_batch_free(&b, c->n_seqs);
}

/* A key of the selection cache: block b repeats block 1's keys when b % 7
 * is 3 (equal bounds), holds only zeros when b % 13 is 6 (bounds 0), and an
 * infinite element in F16 when b % 11 is 5 (bounds inf, or NaN: -inf). */
static float
select_key(int32_t b, int32_t slot, int32_t k)
{
	uint64_t	h = ((uint64_t) (b % 7 == 3 ? 1 : b) << 40) ^ ((uint64_t) slot << 20) ^ (uint64_t) k;

	if (b % 13 == 6)
		return 0.0f;
	if (b % 11 == 5 && slot == 7 && k % 5 == 0)
		return k % 2 ? 70000.0f : -70000.0f;
	h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	return (float) ((h ^ (h >> 31)) >> 40) / (float) (1 << 24) * 4.0f - 2.0f;
}

/*
 * The selection kernel's choice against attention_select for one sequence
 * of select_key's keys, several contexts, budgets (multiples of 32 and
 * not, ones that cover the context) and queries; counts the NaN bounds and
 * ties met into *n_nan, *n_ties.
 */
static void
test_select(int32_t n_head, int32_t n_kv, int32_t hd, int *n_nan, int *n_ties)
{
	static const int32_t contexts[] = {65, 100, 257, 1000, 2047, 4000};
	static const int32_t budgets[] = {33, 64, 95, 100, 128, 250, 512, 1000, 4096};
	struct attn_shape s = attn_shape_make(n_head, n_kv, hd);
	int32_t		kv_dim = n_kv * hd;
	int32_t		n_max = contexts[sizeof contexts / sizeof contexts[0] - 1];
	int32_t		n_blocks = n_max / KV_BLOCK_TOKENS + 1;
	struct kv_cache *kv = kv_cache_new(1, kv_dim, n_blocks, KV_F16, NULL);
	struct kv_seq seq = {0};
	float	   *key = malloc(kv_dim * sizeof(float));
	float	   *val = calloc(kv_dim, sizeof(float));
	float	   *q = malloc((size_t) n_head * hd * sizeof(float));
	float	   *bounds = malloc(2 * n_blocks * sizeof(float));
	float	   *mid = malloc(n_blocks * sizeof(float));
	int32_t    *want = malloc(n_blocks * sizeof(int32_t));
	int32_t    *got = malloc(n_blocks * sizeof(int32_t));

	kv_seq_reserve(kv, &seq, n_max);
	for (int32_t p = 0; p < n_max; p++)
	{
		for (int32_t k = 0; k < kv_dim; k++)
			key[k] = select_key(p / KV_BLOCK_TOKENS, p % KV_BLOCK_TOKENS, k);
		kv_store(kv, 0, &seq, p, key, val);
	}
	for (int rep = 0; rep < 3; rep++)
	{
		for (int32_t k = 0; k < n_head * hd; k++)
			q[k] = rndf() * 2.0f;
		for (size_t ci = 0; ci < sizeof contexts / sizeof contexts[0]; ci++)
			for (size_t bi = 0; bi < sizeof budgets / sizeof budgets[0]; bi++)
			{
				int32_t		ctx = contexts[ci];
				struct sparse_plan p = sparse_plan_make(ctx, budgets[bi]);
				int			bad = 0;

				for (int32_t kvh = 0; kvh < n_kv; kvh++)
				{
					int32_t		n_want = attention_select(kv, 0, &seq, ctx, kvh, hd,
														  q + (size_t) kvh * s.group * hd, s.group,
														  budgets[bi], want, bounds);
					int32_t		n_got = emulate_select(&s, kv, seq.blocks, ctx - 1, budgets[bi], q,
													   kvh, mid, got);

					/* a dense token: attention_select gives every block */
					for (int32_t i = 0; n_got == 0 && i < p.n_all; i++)
						got[i] = i;
					n_got = n_got > 0 ? n_got : p.n_all;
					bad += n_got != n_want || memcmp(got, want, n_got * sizeof(int32_t)) != 0;
					for (int32_t i = 0; i < p.n_mid; i++)
					{
						*n_nan += mid[i] == -INFINITY;
						for (int32_t j = 0; j < i; j++)
							*n_ties += mid[j] == mid[i];
					}
				}
				CHECK(bad == 0, "selection (%d heads, %d kv, dim %d), context %d, budget %d: "
					  "%d KV heads differ from attention_select", n_head, n_kv, hd, ctx,
					  budgets[bi], bad);
			}
	}
	kv_seq_release(kv, &seq);
	kv_cache_free(kv);
	free(key);
	free(val);
	free(q);
	free(bounds);
	free(mid);
	free(want);
	free(got);
}

/* Dense tokens share tiles, up to a tile's worth; a sparse one is alone. */
static void
test_sparse_tiles(const struct attn_shape *s)
{
	static const int32_t first[] = {0, 5};
	static const int32_t n_tok[] = {5, 1};
	static const int32_t table_off[] = {0, 9};
	static const int32_t n_list[] = {0, 3, 0, 0, 0, 4};
	static const int32_t list_off[] = {0, 8, 0, 0, 0, 20};
	struct attn_tile t[6];
	int32_t		n = attn_make_tiles(s, first, n_tok, table_off, 2, n_list, list_off, t);

	CHECK(s->tokens == 2 && n == 5, "sparse tiles: %d tiles", n);
	CHECK(t[0].t_first == 0 && t[0].n_tok == 1 && t[0].n_list == 0 &&
		  t[1].t_first == 1 && t[1].n_tok == 1 && t[1].n_list == 3 && t[1].list_off == 8 &&
		  t[2].t_first == 2 && t[2].n_tok == 2 && t[2].n_list == 0 &&
		  t[3].t_first == 4 && t[3].n_tok == 1 && t[3].seq == 0 &&
		  t[4].t_first == 5 && t[4].n_list == 4 && t[4].list_off == 20 && t[4].table_off == 9,
		  "sparse tokens are tiles alone, dense ones share");
	CHECK(attn_tile_blocks(&t[1], 1000) == 3 && attn_tile_blocks(&t[2], 97) == 4,
		  "a tile reads its list, or its context's blocks");
}

static void
test_plan(void)
{
	struct attn_shape s = attn_shape_make(28, 4, 128);
	struct attn_shape big = attn_shape_make(32, 1, 64);
	int			covered[40];
	int32_t		tok,
				head;
	int			ok = 1;

	CHECK(s.group == 7 && s.heads == 7 && s.tokens == 2 && s.chunks == 1, "GQA 7 tile shape");
	CHECK(big.heads == 16 && big.tokens == 1 && big.chunks == 2, "a group wider than a tile");
	/* every head of a token is some query of exactly one (kv head, chunk) */
	memset(covered, 0, sizeof covered);
	for (int32_t z = 0; z < big.n_kv_head * big.chunks; z++)
		for (int32_t qi = 0; qi < ATTN_QUERIES; qi++)
			if (attn_query(&big, 1, z / big.chunks, z % big.chunks, qi, &tok, &head))
				covered[head]++;
	for (int h = 0; h < 32; h++)
		ok &= covered[h] == 1;
	CHECK(ok, "chunks cover each head once");
	/* the splits of any tile's blocks cover them once, in order */
	for (int32_t n_kb = 1; n_kb < 100; n_kb += 3)
		for (int32_t n = 1; n <= ATTN_MAX_SPLITS; n *= 2)
		{
			int32_t		next = 0;

			for (int32_t sp = 0; sp < n; sp++)
			{
				int32_t		kb0,
							kb1;

				attn_split_range(n_kb, n, sp, &kb0, &kb1);
				ok &= kb0 == next || kb0 == kb1;
				if (kb1 > kb0)
					next = kb1;
			}
			ok &= next == n_kb;
		}
	CHECK(ok, "splits cover the context once");
	test_sparse_tiles(&s);
	CHECK(attn_choose_splits(1, &s, 1, 5000, 200, 1 << 20) == 50, "splits to fill the device");
	CHECK(attn_choose_splits(1, &s, 1, 100, 264, 1 << 20) == 4, "splits capped by the context");
	CHECK(attn_choose_splits(1, &s, 1, 1 << 20, 264, 1 << 20) == ATTN_MAX_SPLITS, "splits capped");
	CHECK(attn_choose_splits(64, &s, 64, 1 << 20, 264, 1 << 20) == 2, "splits for a batch");
	CHECK(attn_choose_splits(1, &s, 1, 1 << 20, 264, 28 * 3) == 3, "splits capped by scratch");
}

static void
test_exp(void)
{
	int			bad = 0;

	for (int i = 0; i < 200000; i++)
	{
		float		x = -100.0f + 100.0f * (float) i / 200000.0f;
		float		a = attn_exp(x);
		float		b = expf_poly(x);

		bad += memcmp(&a, &b, sizeof a) != 0;
	}
	CHECK(bad == 0, "attn_exp differs from expf_poly at %d points", bad);
}

/* ---- sampling's candidates (topk_plan.h) ------------------------------------ */

/*
 * topk_kernel's steps for one row, thread by thread: the four histogram
 * passes, the tied tokens' places from the threads' exclusive sums, the
 * bitonic sort.  Returns how many tokens the last pass took.
 */
static int32_t
emulate_topk(const float *row, int64_t n, int32_t k, int32_t *ids, float *vals)
{
	static int64_t before[TOPK_THREADS];
	uint64_t	kept[TOP_LOGITS_MAX];
	uint32_t	hist[TOPK_BINS];
	uint32_t	prefix = 0;
	int32_t		k_rem;
	int64_t		all_tied = 0;
	int32_t		n_taken = 0;

	k = k < n ? k : (int32_t) n;
	k_rem = k;
	for (int p = 0; p < TOPK_PASSES; p++)
	{
		memset(hist, 0, sizeof hist);
		for (int64_t i = 0; i < n; i++)
			if (topk_matches(topk_rank(row[i]), prefix, p))
				hist[topk_digit(topk_rank(row[i]), p)]++;
		prefix |= topk_pick(hist, &k_rem) << (24 - 8 * p);
	}
	for (int t = 0; t < TOPK_THREADS; t++)
	{
		int64_t		b,
					e;

		topk_chunk(n, t, &b, &e);
		before[t] = all_tied;
		for (int64_t i = b; i < e; i++)
			all_tied += topk_rank(row[i]) == prefix;
	}
	for (int t = 0; t < TOPK_THREADS; t++)
	{
		int64_t		b,
					e,
					at = before[t];

		topk_chunk(n, t, &b, &e);
		for (int64_t i = b; i < e; i++)
		{
			uint32_t	r = topk_rank(row[i]);

			if ((r > prefix || (r == prefix && topk_take_tied(prefix, at++, all_tied, k_rem))) &&
				n_taken++ < TOP_LOGITS_MAX)
				kept[n_taken - 1] = topk_key(row[i], (int32_t) i);
		}
	}
	for (int i = n_taken; i < TOP_LOGITS_MAX; i++)
		kept[i] = 0;
	for (int size = 2; size <= TOP_LOGITS_MAX; size *= 2)
		for (int stride = size / 2; stride > 0; stride /= 2)
			for (int i = 0; i < TOP_LOGITS_MAX; i++)
				topk_exchange(kept, i, size, stride);
	for (int32_t j = 0; j < k; j++)
	{
		ids[j] = topk_key_id(kept[j]);
		vals[j] = row[ids[j]];
	}
	return n_taken;
}

/* argmax_kernel: the largest key. */
static int32_t
emulate_argmax(const float *row, int64_t n)
{
	uint64_t	best = 0;

	for (int64_t i = 0; i < n; i++)
		best = topk_key(row[i], (int32_t) i) > best ? topk_key(row[i], (int32_t) i) : best;
	return topk_key_id(best);
}

/* Logits of a few distinct values (ties), with signed zeros, masked
 * tokens, and by style infinities or NaNs, or nothing but those. */
static void
candidate_row(float *row, int64_t n, int style)
{
	static const float odd[] = {-0.0f, 0.0f, -INFINITY, INFINITY, NAN};

	for (int64_t i = 0; i < n; i++)
	{
		uint32_t	u = rnd();

		row[i] = style == 4 ? odd[2 + u % 3 / 2 * 2]	/* -inf and NaN only */
			: u % 16 == 0 ? odd[u / 16 % (style == 3 ? 5 : 3)]
			: style == 1 ? rndf() * 30.0f : (float) (int) (rnd() % 9) - 4.0f;
	}
}

static void
test_top_candidates(void)
{
	static const int64_t sizes[] = {1, 7, 300, 1023, 1024, 1025, 5000, 151936};
	static const int32_t ks[] = {2, 3, 40, 255, TOP_LOGITS_MAX};
	struct top_logits ref;
	int32_t		ids[TOP_LOGITS_MAX];
	float		vals[TOP_LOGITS_MAX];
	int			rows = 0;
	int			bad = 0;

	for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
	{
		float	   *row = malloc(sizes[a] * sizeof(float));

		for (int style = 0; style < 5; style++)
		{
			candidate_row(row, sizes[a], style);
			bad += emulate_argmax(row, sizes[a]) != logits_argmax(row, (int32_t) sizes[a], NULL);
			for (size_t b = 0; b < sizeof ks / sizeof ks[0] && (sizes[a] < 100000 || b % 2 == 0); b++)
			{
				int32_t		k = ks[b];
				int32_t		n_kept = emulate_topk(row, sizes[a], k, ids, vals);

				top_logits_of_row(row, (int32_t) sizes[a], k, &ref);
				bad += n_kept != ref.n;
				for (int32_t j = 0; j < ref.n; j++)
					bad += ids[j] != ref.id[j] || memcmp(&vals[j], &ref.logit[j], sizeof(float)) != 0;
				rows++;
			}
		}
		free(row);
	}
	CHECK(bad == 0, "the device's candidates differ from top_logits_of_row %d times (%d rows)",
		  bad, rows);
}

int
main(void)
{
	static const int32_t past_a[] = {0, 1, 31, 32, 33, 100, 257, 1000};
	static const int32_t new_a[] = {1, 1, 1, 1, 5, 1, 40, 1};
	static const int32_t past_b[] = {0, 63, 7};
	static const int32_t new_b[] = {70, 1, 2};
	static const struct attn_case cases[] = {
		{12, 2, 128, 8, past_a, new_a},	/* R1-Distill-Qwen-1.5B heads */
		{28, 4, 128, 3, past_b, new_b},	/* -7B */
		{9, 3, 64, 3, past_b, new_b},	/* SmolLM2 */
		{32, 1, 64, 3, past_b, new_b},	/* a group wider than a tile */
	};
	static const enum dtype types[] = {
		DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q4_0, DTYPE_Q4_1, DTYPE_Q5_0,
		DTYPE_Q5_1, DTYPE_Q8_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K,
	};
	int			n_nan = 0;
	int			n_ties = 0;

	quant_init();
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
	{
		test_units(types[i], 256);
		test_units(types[i], 1536);
		test_units(types[i], 8960);
	}
	test_split_choice();
	test_exp();
	test_plan();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		test_attention(&cases[i]);
		test_select(cases[i].n_head, cases[i].n_kv_head, cases[i].head_dim, &n_nan, &n_ties);
	}
	test_select(4, 4, 64, &n_nan, &n_ties);	/* group 1: a zero query sum meets inf */
	CHECK(n_nan > 0 && n_ties > 0, "the selection met %d NaN bounds and %d ties", n_nan, n_ties);
	test_top_candidates();
	test_swiglu();
	test_fused_rmsnorm();
	return check_done("test_cuda_emul");
}
