/*
 * test_cuda_emul.c — the CUDA kernels' arithmetic, checked on the CPU.
 *
 * The kernels take their block decoding (kernels/qblock.h) and their
 * attention work split (kernels/attn_plan.h) from plain C headers.  Here
 * those run on the host, in the order a warp would run them, against the
 * engine's scalar references: every unit of every weight type against
 * vec_dot_ref, every dequantized element against dequantize_row_ref (bit for
 * bit), and the split two-pass attention against attention_dense.  No GPU
 * is needed; test_cuda runs the real kernels where there is one.
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

#include "../../kernels/attn_plan.h"
#include "../../kernels/qblock.h"

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

/* The unit loop of the mat-vec kernel for one row: lane u % 32 takes unit
 * u, then the lanes are summed as a warp reduction sums them. */
static void
emulate_row(enum dtype t, const uint8_t *row, int64_t cols, const uint8_t *act,
			size_t act_row_bytes, int T, float *out)
{
	struct qb_shape s = qb_shape_of(t);
	int64_t		units = cols / s.block_elems * s.units;
	float		lane[32][QB_MAX_T];

	memset(lane, 0, sizeof lane);
	for (int64_t u = 0; u < units; u++)
	{
		int64_t		b = u / s.units;

		qb_unit(t, row + b * s.block_bytes, (int) (u % s.units), act + b * s.act_bytes,
				act_row_bytes, T, lane[u % 32]);
	}
	for (int off = 16; off > 0; off /= 2)
		for (int l = 0; l < off; l++)
			for (int i = 0; i < T; i++)
				lane[l][i] += lane[l + off][i];
	for (int i = 0; i < T; i++)
		out[i] = lane[0][i];
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
		emulate_row(t, row, cols, act, act_bytes, T, got);
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
			emulate_row(t, row, cols, act + i * act_bytes, act_bytes, 1, &one);
			CHECK(memcmp(&one, &got[i], sizeof one) == 0, "%s: batch of %d differs from alone",
				  dtype_name(t), T);
		}
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
	int32_t    *first;			/* [n_seqs] */
	int32_t    *table;			/* flat block tables */
	int32_t    *table_off;		/* [n_seqs] */
	float	   *q;				/* [T][n_head * head_dim] */
};

/* Sequences with keys and values in a shared pool, their blocks
 * interleaved (tables are not contiguous), and a query per new token. */
static void
attn_batch_make(const struct attn_case *c, struct attn_batch *b)
{
	int32_t		kv_dim = c->n_kv_head * c->head_dim;
	int32_t		n_blocks = 0;
	int32_t		n_table = 0;
	float	   *key = malloc(kv_dim * sizeof(float));
	float	   *val = malloc(kv_dim * sizeof(float));
	int			grew = 1;

	memset(b, 0, sizeof *b);
	for (int32_t i = 0; i < c->n_seqs; i++)
	{
		n_blocks += (c->past[i] + c->new_tok[i] + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
		b->T += c->new_tok[i];
	}
	b->kv = kv_cache_new(1, kv_dim, n_blocks + 3, KV_F16, NULL);
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
	b->pos = malloc(b->T * sizeof(int32_t));
	b->tok_seq = malloc(b->T * sizeof(int32_t));
	b->first = malloc(c->n_seqs * sizeof(int32_t));
	b->table_off = malloc(c->n_seqs * sizeof(int32_t));
	b->table = malloc(n_blocks * sizeof(int32_t));
	b->q = malloc((size_t) b->T * c->n_head * c->head_dim * sizeof(float));
	for (int32_t i = 0, t = 0; i < c->n_seqs; i++)
	{
		b->first[i] = t;
		b->table_off[i] = n_table;
		memcpy(b->table + n_table, b->seqs[i].blocks, b->seqs[i].n_blocks * sizeof(int32_t));
		n_table += b->seqs[i].n_blocks;
		for (int32_t p = 0; p < c->past[i] + c->new_tok[i]; p++)
		{
			for (int32_t k = 0; k < kv_dim; k++)
			{
				key[k] = rndf() * 2.0f;
				val[k] = rndf();
			}
			kv_store(b->kv, 0, &b->seqs[i], p, key, val);
		}
		for (int32_t j = 0; j < c->new_tok[i]; j++, t++)
		{
			b->pos[t] = c->past[i] + j;
			b->tok_seq[t] = i;
		}
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
	free(b->first);
	free(b->table);
	free(b->table_off);
	free(b->q);
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
 * [T * n_head][n_splits][hd].
 */
static void
emulate_attention(const struct attn_case *c, const struct attn_batch *b, int32_t n_splits, float *out)
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
	n_tiles = attn_make_tiles(&s, b->first, n_tok, b->table_off, c->n_seqs, tiles);
	for (int pass = 0; pass < 2; pass++)
		for (int32_t ti = 0; ti < n_tiles; ti++)
			for (int32_t z = 0; z < c->n_kv_head * s.chunks; z++)
				for (int32_t sp = 0; sp < n_splits; sp++)
				{
					const struct attn_tile *tl = &tiles[ti];
					int32_t		ctx = b->pos[tl->t_first + tl->n_tok - 1] + 1;
					int32_t		kvh = z / s.chunks;
					int32_t		kb0,
								kb1,
								tok,
								h;

					attn_split_range(ctx, n_splits, sp, &kb0, &kb1);
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
						for (int32_t kb = kb0; kb < kb1; kb++)
						{
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

static void
test_attention(const struct attn_case *c)
{
	struct attn_batch b;
	struct attn_shape s = attn_shape_make(c->n_head, c->n_kv_head, c->head_dim);
	int32_t		hd = c->head_dim;
	size_t		n_out;
	float	   *ref;
	float	   *got;
	float	   *scores;
	static const int32_t splits[] = {1, 3, ATTN_MAX_SPLITS};

	attn_batch_make(c, &b);
	n_out = (size_t) b.T * c->n_head * hd;
	ref = malloc(n_out * sizeof(float));
	got = malloc(n_out * sizeof(float));
	scores = malloc(4096 * sizeof(float));
	for (int32_t t = 0; t < b.T; t++)
		for (int32_t h = 0; h < c->n_head; h++)
			attention_dense(b.kv, 0, &b.seqs[b.tok_seq[t]], b.pos[t] + 1, h / s.group, hd,
							b.q + ((size_t) t * c->n_head + h) * hd, 1.0f / sqrtf((float) hd),
							c->new_tok[b.tok_seq[t]] >= 2, ref + ((size_t) t * c->n_head + h) * hd,
							scores);
	for (size_t k = 0; k < sizeof splits / sizeof splits[0]; k++)
	{
		double		worst = 0;

		emulate_attention(c, &b, splits[k], got);
		for (size_t i = 0; i < n_out; i++)
			worst = fmax(worst, fabs((double) got[i] - ref[i]));
		/* values are at most 1: a probability's F16 rounding landing on the
		 * other side (1/l differs in its last bit) moves an output by ~1e-4 */
		CHECK(worst < 2e-4, "attention (%d heads, %d kv, dim %d, %d splits): max error %.3g",
			  c->n_head, c->n_kv_head, hd, splits[k], worst);
	}
	free(ref);
	free(got);
	free(scores);
	attn_batch_free(&b, c->n_seqs);
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
	/* the splits of any context cover its blocks once, in order */
	for (int32_t ctx = 1; ctx < 3000; ctx += 37)
		for (int32_t n = 1; n <= ATTN_MAX_SPLITS; n *= 2)
		{
			int32_t		next = 0;

			for (int32_t sp = 0; sp < n; sp++)
			{
				int32_t		kb0,
							kb1;

				attn_split_range(ctx, n, sp, &kb0, &kb1);
				ok &= kb0 == next || kb0 == kb1;
				if (kb1 > kb0)
					next = kb1;
			}
			ok &= next == (ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
		}
	CHECK(ok, "splits cover the context once");
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

	quant_init();
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
	{
		test_units(types[i], 256);
		test_units(types[i], 1536);
	}
	test_exp();
	test_plan();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		test_attention(&cases[i]);
	return check_done("test_cuda_emul");
}
