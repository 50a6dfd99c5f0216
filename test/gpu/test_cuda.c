/*
 * test_cuda.c — the CUDA backend against the CPU backend.
 *
 *   test_cuda [--tokens N] [--no-kernels] [MODEL.gguf ...]
 *
 * Kernels: each family on random data against the engine's CPU kernels:
 * activation quantization and dequantization byte for byte, mat-vec per
 * weight type within float rounding (and bit for bit alone or batched),
 * cuBLAS products within F16 rounding, RMSNorm, RoPE, SwiGLU bit for bit,
 * argmax, and paged attention for many sequences of different lengths,
 * with the KV store's key summaries, dense and under sparse budgets.
 *
 * Models (each file given): greedy decoding of N tokens (default 64) on the
 * CPU, then the GPU fed the same tokens: every step's argmax must be the
 * CPU's and the logits' cosine >= 0.9999, with the mat-vec path throughout
 * (exact mode), with cuBLAS for the prompt (a flip there is allowed only at
 * a near tie, see near_tie), and with sparse attention for the decode
 * steps (exact mode); then several sequences of different lengths batched,
 * with and without CUDA graphs.
 *
 * Without a GPU it prints "SKIP: no CUDA device" and exits 0.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "check.h"
#include "cuda_backend.h"
#include "cuda_testing.h"
#include "error.h"
#include "f16.h"
#include "forward.h"
#include "model.h"
#include "ops.h"
#include "quant.h"

#define COS_MIN 0.9999

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t
rnd(void)
{
	return (uint32_t) (check_rng_next(&rng_state) >> 16);
}

static float
rndf(void)
{
	return (float) (rnd() % 2000001) / 1000000.0f - 1.0f;
}

static float *
random_floats(size_t n, float scale)
{
	float	   *x = malloc(n * sizeof(float));

	for (size_t i = 0; x && i < n; i++)
		x[i] = rndf() * scale * (i % 61 == 0 ? 6.0f : 1.0f);
	return x;
}

static const enum dtype weight_types[] = {
	DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_Q4_0, DTYPE_Q4_1, DTYPE_Q5_0,
	DTYPE_Q5_1, DTYPE_Q8_0, DTYPE_Q4_K, DTYPE_Q5_K, DTYPE_Q6_K,
};

#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

/* A random weight matrix in type t: random floats quantized by the CPU's
 * activation quantizer where the format is one of those, otherwise random
 * blocks with sane scales. */
static uint8_t *
random_weight(enum dtype t, int64_t rows, int64_t cols)
{
	size_t		row_bytes = dtype_row_bytes(t, cols);
	size_t		block_bytes = dtype_block_bytes(t);
	int			block_elems = dtype_block_elems(t);
	uint8_t    *w = malloc(rows * row_bytes);

	for (size_t i = 0; w && i < rows * row_bytes; i++)
		w[i] = (uint8_t) rnd();
	for (int64_t r = 0; w && r < rows; r++)
	{
		uint8_t    *row = w + r * row_bytes;

		if (t == DTYPE_F32 || t == DTYPE_F16 || t == DTYPE_BF16)
		{
			float	   *x = random_floats(cols, 0.05f);

			quantize_row_act_ref(t, x, row, cols);
			free(x);
			continue;
		}
		for (int64_t b = 0; b < cols / block_elems; b++)
		{
			uint8_t    *blk = row + b * block_bytes;
			uint16_t	d = f32_to_f16(0.0005f + 0.002f * fabsf(rndf()));
			uint16_t	m = f32_to_f16(0.002f * rndf());

			memcpy(t == DTYPE_Q6_K ? blk + 208 : blk, &d, 2);
			if (t == DTYPE_Q4_1 || t == DTYPE_Q5_1 || t == DTYPE_Q4_K || t == DTYPE_Q5_K)
				memcpy(blk + 2, &m, 2);
		}
	}
	return w;
}

/* ---- kernels ---- */

static void
test_quantize_act(void)
{
	static const enum dtype acts[] = {DTYPE_Q8_0, DTYPE_Q8_1, DTYPE_Q8_K, DTYPE_F16, DTYPE_BF16, DTYPE_F32};
	char		err[ERR_MAX];
	int			T = 3;
	int64_t		n = 1536;

	for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
	{
		size_t		rb = dtype_row_bytes(acts[i], n);
		float	   *x = random_floats(T * n, 3.0f);
		uint8_t    *ref = calloc(T, rb);
		uint8_t    *got = calloc(T, rb);
		float	   *dense = malloc(T * n * sizeof(float));
		float	   *deq = malloc(n * sizeof(float));
		int			bad = 0;

		/* an all-zero block, and a tie for the largest magnitude (Q8_K
		 * takes the first one's sign) */
		memset(x, 0, 256 * sizeof(float));
		x[300] = 40.0f;
		x[301] = -40.0f;
		for (int t = 0; t < T; t++)
			quantize_row_act_ref(acts[i], x + t * n, ref + t * rb, n);
		CHECK(cuda_test_quantize_act(acts[i], x, T, n, got, err) == 0, "%s", err);
		CHECK(memcmp(ref, got, T * rb) == 0, "quantize %s: bytes differ from the CPU's",
			  dtype_name(acts[i]));
		CHECK(cuda_test_act_dense(acts[i], x, T, n, dense, err) == 0, "%s", err);
		for (int t = 0; t < T; t++)
		{
			dequantize_row_ref(acts[i], ref + t * rb, deq, n);
			for (int64_t k = 0; k < n; k++)
			{
				float		want = acts[i] == DTYPE_F32 || acts[i] == DTYPE_BF16
					? deq[k] : f16_to_f32(f32_to_f16(deq[k]));

				bad += memcmp(&want, &dense[t * n + k], sizeof want) != 0;
			}
		}
		CHECK(bad == 0, "dense %s: %d values differ", dtype_name(acts[i]), bad);
		free(x);
		free(ref);
		free(got);
		free(dense);
		free(deq);
	}
}

/* The fused conversions: down's input (SwiGLU) and a block's normed input
 * (RMSNorm), bytes equal to the CPU's swiglu or rmsnorm then
 * quantize_row_act_ref. */
static void
test_quantize_fused(void)
{
	static const enum dtype acts[] = {DTYPE_Q8_0, DTYPE_Q8_1, DTYPE_Q8_K, DTYPE_F16};
	char		err[ERR_MAX];
	int			T = 3;
	int64_t		n = 8960;
	float	   *x = random_floats(T * n, 12.0f);
	float	   *aux = random_floats(T * n, 3.0f);
	float	   *h = malloc(T * n * sizeof(float));

	for (int norm = 0; norm < 2; norm++)
	{
		if (norm)
			for (int t = 0; t < T; t++)
				rmsnorm(h + t * n, x + t * n, aux, (int) n, 1e-6f);
		else
			swiglu(h, x, aux, (int) (T * n));
		for (size_t i = 0; i < sizeof acts / sizeof acts[0] - norm; i++)
		{
			size_t		rb = dtype_row_bytes(acts[i], n);
			uint8_t    *ref = calloc(T, rb);
			uint8_t    *got = calloc(T, rb);

			for (int t = 0; t < T; t++)
				quantize_row_act_ref(acts[i], h + t * n, ref + t * rb, n);
			CHECK(cuda_test_quantize_fused(acts[i], x, aux, norm, 1e-6f, T, n, got, err) == 0,
				  "%s", err);
			CHECK(memcmp(ref, got, T * rb) == 0, "quantize %s of %s: bytes differ from the CPU's",
				  dtype_name(acts[i]), norm ? "rmsnorm" : "swiglu");
			free(ref);
			free(got);
		}
	}
	free(x);
	free(aux);
	free(h);
}

static void
test_dequant(void)
{
	char		err[ERR_MAX];
	int64_t		rows = 7;
	int64_t		cols = 512;

	for (size_t i = 0; i < N_WEIGHT_TYPES; i++)
	{
		enum dtype	t = weight_types[i];
		uint8_t    *w = random_weight(t, rows, cols);
		float	   *ref = malloc(cols * sizeof(float));
		float	   *f32 = malloc(rows * cols * sizeof(float));
		uint16_t   *f16 = malloc(rows * cols * sizeof(uint16_t));
		int			bad32 = 0;
		int			bad16 = 0;

		CHECK(cuda_test_dequant(t, w, rows, cols, f32, f16, err) == 0, "%s", err);
		for (int64_t r = 0; r < rows; r++)
		{
			dequantize_row_ref(t, w + r * dtype_row_bytes(t, cols), ref, cols);
			for (int64_t k = 0; k < cols; k++)
			{
				bad32 += memcmp(&ref[k], &f32[r * cols + k], sizeof(float)) != 0;
				bad16 += f32_to_f16(ref[k]) != f16[r * cols + k];
			}
		}
		CHECK(bad32 == 0 && bad16 == 0, "dequantize %s: %d F32 and %d F16 values differ",
			  dtype_name(t), bad32, bad16);
		free(w);
		free(ref);
		free(f32);
		free(f16);
	}
}

/* Largest |got - ref| over the magnitude sum of the terms of each dot. */
static double
rel_error(const float *got, const float *ref, const float *mag, size_t n)
{
	double		worst = 0;

	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fabs((double) got[i] - ref[i]) / (mag[i] + 1e-30));
	return worst;
}

static void
test_linear(enum dtype t, int64_t rows, int64_t cols, int T)
{
	enum dtype	at = quant_act_type(t);
	size_t		rb = dtype_row_bytes(t, cols);
	size_t		arb = dtype_row_bytes(at, cols);
	uint8_t    *w = random_weight(t, rows, cols);
	float	   *x = random_floats(T * cols, 1.0f);
	float	   *bias = random_floats(rows, 0.5f);
	uint8_t    *act = malloc(T * arb);
	float	   *ref = malloc(T * rows * sizeof(float));
	float	   *mag = malloc(T * rows * sizeof(float));
	float	   *got = malloc(T * rows * sizeof(float));
	float	   *one = malloc(rows * sizeof(float));
	float	   *wf = malloc(cols * sizeof(float));
	float	   *xf = malloc(cols * sizeof(float));
	char		err[ERR_MAX];
	double		e;

	for (int i = 0; i < T; i++)
		quantize_row_act_ref(at, x + i * cols, act + i * arb, cols);
	for (int64_t r = 0; r < rows; r++)
	{
		dequantize_row_ref(t, w + r * rb, wf, cols);
		for (int i = 0; i < T; i++)
		{
			double		m = fabs(bias[r]);

			dequantize_row_ref(at, act + i * arb, xf, cols);
			for (int64_t k = 0; k < cols; k++)
				m += fabs((double) wf[k] * xf[k]);
			ref[i * rows + r] = vec_dot_ref(t, cols, w + r * rb, act + i * arb) + bias[r];
			mag[i * rows + r] = (float) m;
		}
	}
	CHECK(cuda_test_linear(t, w, rows, cols, x, T, bias, false, got, err) == 0, "%s", err);
	e = rel_error(got, ref, mag, T * rows);
	CHECK(e < 1e-5, "mat-vec %s %lldx%lld, %d tokens: relative error %.3g",
		  dtype_name(t), (long long) rows, (long long) cols, T, e);
	/* each token alone gives the same bits as in the batch */
	CHECK(cuda_test_linear(t, w, rows, cols, x + (T - 1) * cols, 1, bias, false, one, err) == 0, "%s", err);
	CHECK(memcmp(one, got + (T - 1) * rows, rows * sizeof(float)) == 0,
		  "mat-vec %s: a token alone differs from the same token in a batch", dtype_name(t));
	/* cuBLAS on F16 (BF16, F32) operands: within their rounding */
	CHECK(cuda_test_linear(t, w, rows, cols, x, T, bias, true, got, err) == 0, "%s", err);
	e = rel_error(got, ref, mag, T * rows);
	CHECK(e < (t == DTYPE_BF16 ? 1e-2 : t == DTYPE_F32 ? 1e-5 : 2e-3),
		  "cuBLAS %s %lldx%lld, %d tokens: relative error %.3g",
		  dtype_name(t), (long long) rows, (long long) cols, T, e);
	free(w);
	free(x);
	free(bias);
	free(act);
	free(ref);
	free(mag);
	free(got);
	free(one);
	free(wf);
	free(xf);
}

static void
test_rmsnorm_kernel(void)
{
	int			T = 5;
	int			n = 1536;
	float	   *x = random_floats(T * n, 4.0f);
	float	   *w = random_floats(n, 1.0f);
	float	   *ref = malloc(T * n * sizeof(float));
	float	   *got = malloc(T * n * sizeof(float));
	char		err[ERR_MAX];

	for (int t = 0; t < T; t++)
		rmsnorm(ref + t * n, x + t * n, w, n, 1e-6f);
	CHECK(cuda_test_rmsnorm(x, w, T, n, 1e-6f, got, err) == 0, "%s", err);
	CHECK(memcmp(ref, got, T * n * sizeof(float)) == 0, "rmsnorm differs from the CPU's");
	free(x);
	free(w);
	free(ref);
	free(got);
}

/* The (cos, sin) table, made as cuda_backend.cu makes it. */
static float *
rope_table(int n_ctx, int head_dim, int rope_dim, float base, const float *ff, enum rope_style st)
{
	int			half = rope_dim / 2;
	float	   *table = malloc((size_t) n_ctx * half * 2 * sizeof(float));
	float	   *x = malloc(head_dim * sizeof(float));

	for (int pos = 0; pos < n_ctx; pos++)
	{
		for (int i = 0; i < half; i++)
		{
			x[st == ROPE_NEOX ? i : 2 * i] = 1.0f;
			x[st == ROPE_NEOX ? i + half : 2 * i + 1] = 0.0f;
		}
		rope(x, 1, head_dim, rope_dim, pos, base, ff, st);
		for (int i = 0; i < half; i++)
		{
			table[((size_t) pos * half + i) * 2] = x[st == ROPE_NEOX ? i : 2 * i];
			table[((size_t) pos * half + i) * 2 + 1] = x[st == ROPE_NEOX ? i + half : 2 * i + 1];
		}
	}
	free(x);
	return table;
}

static void
test_rope_kernel(enum rope_style st, int rope_dim, bool with_ff)
{
	int			T = 6;
	int			n_q = 4;
	int			n_k = 2;
	int			hd = 128;
	int			n_ctx = 5000;
	int32_t		pos[6] = {0, 1, 17, 1000, 3333, 4999};
	float	   *ff = with_ff ? random_floats(rope_dim / 2, 0.5f) : NULL;
	float	   *q = random_floats(T * n_q * hd, 2.0f);
	float	   *k = random_floats(T * n_k * hd, 2.0f);
	float	   *ref_q = malloc(T * n_q * hd * sizeof(float));
	float	   *ref_k = malloc(T * n_k * hd * sizeof(float));
	float	   *table;
	char		err[ERR_MAX];

	for (int i = 0; ff && i < rope_dim / 2; i++)
		ff[i] += 1.5f;
	table = rope_table(n_ctx, hd, rope_dim, 1000000.0f, ff, st);
	memcpy(ref_q, q, T * n_q * hd * sizeof(float));
	memcpy(ref_k, k, T * n_k * hd * sizeof(float));
	for (int t = 0; t < T; t++)
	{
		rope(ref_q + t * n_q * hd, n_q, hd, rope_dim, pos[t], 1000000.0f, ff, st);
		rope(ref_k + t * n_k * hd, n_k, hd, rope_dim, pos[t], 1000000.0f, ff, st);
	}
	CHECK(cuda_test_rope(q, n_q, k, n_k, T, hd, rope_dim, table, n_ctx, pos, st == ROPE_NEOX,
						 err) == 0, "%s", err);
	CHECK(memcmp(ref_q, q, T * n_q * hd * sizeof(float)) == 0 &&
		  memcmp(ref_k, k, T * n_k * hd * sizeof(float)) == 0,
		  "rope (%s, %d of 128 dims%s) differs from the CPU's",
		  st == ROPE_NEOX ? "neox" : "adjacent", rope_dim, with_ff ? ", freq factors" : "");
	free(ff);
	free(q);
	free(k);
	free(ref_q);
	free(ref_k);
	free(table);
}

static void
test_swiglu_kernel(void)
{
	int64_t		n = 100000;
	float	   *g = random_floats(n, 12.0f);
	float	   *u = random_floats(n, 3.0f);
	float	   *ref = malloc(n * sizeof(float));
	float	   *got = malloc(n * sizeof(float));
	char		err[ERR_MAX];

	swiglu(ref, g, u, n);
	CHECK(cuda_test_swiglu(g, u, n, got, err) == 0, "%s", err);
	CHECK(memcmp(ref, got, n * sizeof(float)) == 0, "swiglu differs from the CPU's");
	free(g);
	free(u);
	free(ref);
	free(got);
}

static void
test_argmax_kernel(void)
{
	int64_t		n = 151936;
	float	   *x = random_floats(4 * n, 10.0f);
	int32_t		got[4];
	char		err[ERR_MAX];

	x[5000] = 50.0f;			/* row 0: a clear winner */
	x[n + 7] = 60.0f;			/* row 1: a tie, the lower index wins */
	x[n + 9000] = 60.0f;
	x[2 * n + 3] = NAN;			/* row 2: NaN loses */
	x[2 * n + 100] = 70.0f;
	for (int64_t i = 0; i < n; i++)
		x[3 * n + i] = NAN;		/* row 3: all NaN, the last (logits_argmax) */
	CHECK(cuda_test_argmax(x, 4, n, got, err) == 0, "%s", err);
	CHECK(got[0] == 5000 && got[1] == 7 && got[2] == 100 && got[3] == n - 1,
		  "argmax gave %d %d %d %d", got[0], got[1], got[2], got[3]);
	free(x);
}

/* What forward.c computes for token t of seqs[i] at position pos under a
 * sparse budget (0: dense), every head, into out [n_head][hd]. */
static void
cpu_attention(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq, int32_t pos,
			  int32_t budget, bool gemm, int32_t n_head, int32_t n_kv, int32_t hd, const float *q,
			  float *out)
{
	int32_t		group = n_head / n_kv;
	int32_t		blocks[128];
	float		bounds[256];
	float	   *scores = malloc(4096 * sizeof(float));

	for (int32_t kvh = 0; kvh < n_kv; kvh++)
	{
		int32_t		n = budget > 0
			? attention_select(kv, layer, seq, pos + 1, kvh, hd, q + (size_t) kvh * group * hd,
							   group, budget, blocks, bounds)
			: 0;

		for (int32_t h = kvh * group; h < (kvh + 1) * group; h++)
			if (budget > 0)
				attention_sparse(kv, layer, seq, pos + 1, blocks, n, kvh, hd, q + (size_t) h * hd,
								 1.0f / sqrtf((float) hd), gemm, out + (size_t) h * hd, scores);
			else
				attention_dense(kv, layer, seq, pos + 1, kvh, hd, q + (size_t) h * hd,
								1.0f / sqrtf((float) hd), gemm, out + (size_t) h * hd, scores);
	}
	free(scores);
}

/* The device's key summaries of a layer against the CPU's, over the blocks
 * of the sequences (a summary element is compared as a float: the sign of
 * a zero never changes a bound). */
static int
summaries_differ(const struct kv_cache *kv, int32_t layer, struct kv_seq *const *seqs, int n_seqs,
				 const float *kmin, const float *kmax)
{
	size_t		off = (size_t) layer * kv->n_blocks * kv->kv_dim;
	int			bad = 0;

	for (int i = 0; i < n_seqs; i++)
		for (int32_t k = 0; k < seqs[i]->n_blocks * kv->kv_dim; k++)
		{
			size_t		e = (size_t) seqs[i]->blocks[k / kv->kv_dim] * kv->kv_dim + k % kv->kv_dim;

			bad += kmin[e] != kv->kmin[off + e] || kmax[e] != kv->kmax[off + e];
		}
	return bad;
}

/*
 * Attention for many sequences of different lengths, their blocks
 * interleaved in the pool, a mix of decode tokens and prompt chunks: the
 * new keys and values stored by the device (and the key summaries widened),
 * then attention with the backend's choice of splits and with fixed ones,
 * against attention_dense over the CPU's cache; then under sparse budgets
 * (every token that may, chunks too), the device's choice and attention
 * against attention_select and attention_sparse.
 */
static void
test_attention_kernel(int32_t n_head, int32_t n_kv, int32_t hd)
{
	static const int32_t past[] = {0, 1, 31, 32, 33, 100, 257, 1000, 0, 5, 2047, 64};
	static const int32_t fresh[] = {1, 1, 1, 1, 1, 1, 1, 1, 70, 40, 1, 33};
	int			n_seqs = sizeof past / sizeof past[0];
	int32_t		kv_dim = n_kv * hd;
	int32_t		layer = 1;
	int32_t		T = 0;
	int32_t		n_blocks = 8;
	struct kv_cache *kv;
	struct kv_seq seqs[12];
	struct kv_seq *sp[12];
	float	   *k,
			   *v,
			   *q,
			   *ref,
			   *got;
	uint16_t   *ck,
			   *cv;
	float	   *kmin,
			   *kmax;
	int32_t    *budgets;
	size_t		layer_elems;
	char		err[ERR_MAX];
	static const int splits[] = {0, 1, 7, 64};
	static const int32_t sparse_budgets[] = {40, 300};

	memset(seqs, 0, sizeof seqs);
	for (int i = 0; i < n_seqs; i++)
	{
		T += fresh[i];
		n_blocks += (past[i] + fresh[i] + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
		sp[i] = &seqs[i];
	}
	kv = kv_cache_new(2, kv_dim, n_blocks, KV_F16, err);
	layer_elems = (size_t) n_blocks * KV_BLOCK_TOKENS * kv_dim;
	/* grow the sequences in turns so that their blocks interleave */
	for (int32_t step = 1; step <= 70; step++)
		for (int i = 0; i < n_seqs; i++)
		{
			int32_t		want = past[i] + fresh[i];

			kv_seq_reserve(kv, &seqs[i], step * KV_BLOCK_TOKENS < want ? step * KV_BLOCK_TOKENS : want);
		}
	k = random_floats((size_t) T * kv_dim, 2.0f);
	v = random_floats((size_t) T * kv_dim, 1.0f);
	q = random_floats((size_t) T * n_head * hd, 2.0f);
	ref = malloc((size_t) T * n_head * hd * sizeof(float));
	got = malloc((size_t) T * n_head * hd * sizeof(float));
	ck = malloc(layer_elems * 2);
	cv = malloc(layer_elems * 2);
	kmin = malloc((size_t) n_blocks * kv_dim * sizeof(float));
	kmax = malloc((size_t) n_blocks * kv_dim * sizeof(float));
	budgets = malloc(T * sizeof(int32_t));
	for (int i = 0; i < n_seqs; i++)
	{
		float	   *rk = random_floats(kv_dim, 2.0f);
		float	   *rv = random_floats(kv_dim, 1.0f);

		for (int32_t p = 0; p < past[i]; p++)
			kv_store(kv, layer, &seqs[i], p, rk, rv);
		seqs[i].n_tokens = past[i];
		free(rk);
		free(rv);
	}
	for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++)
	{
		double		worst = 0;
		int			bad_cache = 0;

		struct cuda_test_cache back = {ck, cv, kmin, kmax};

		CHECK(cuda_test_attention(kv, layer, n_head, n_kv, hd, sp, fresh, n_seqs, k, v, q, NULL,
								  splits[s], got, s == 0 ? &back : NULL, err) == 0, "%s", err);
		if (s == 0)
		{
			/* the CPU stores the same keys and values: the caches agree */
			for (int i = 0, t = 0; i < n_seqs; i++)
				for (int32_t j = 0; j < fresh[i]; j++, t++)
					kv_store(kv, layer, &seqs[i], past[i] + j, k + (size_t) t * kv_dim,
							 v + (size_t) t * kv_dim);
			bad_cache = memcmp(ck, kv->k + layer * layer_elems, layer_elems * 2) != 0 ||
				memcmp(cv, kv->v + layer * layer_elems, layer_elems * 2) != 0;
			CHECK(!bad_cache, "kv store: the device cache differs from the CPU's");
			CHECK(summaries_differ(kv, layer, sp, n_seqs, kmin, kmax) == 0,
				  "kv store: the device's key summaries differ from the CPU's");
			for (int i = 0, t = 0; i < n_seqs; i++)
				for (int32_t j = 0; j < fresh[i]; j++, t++)
					cpu_attention(kv, layer, &seqs[i], past[i] + j, 0, fresh[i] >= 2, n_head, n_kv,
								  hd, q + (size_t) t * n_head * hd, ref + (size_t) t * n_head * hd);
		}
		for (size_t i = 0; i < (size_t) T * n_head * hd; i++)
			worst = fmax(worst, fabs((double) got[i] - ref[i]));
		CHECK(worst < 2e-4, "attention %d/%d heads, dim %d, splits %d: max error %.3g",
			  n_head, n_kv, hd, splits[s], worst);
	}
	for (size_t s = 0; s < sizeof sparse_budgets / sizeof sparse_budgets[0]; s++)
	{
		struct sparse_config cfg = {sparse_budgets[s], 0};
		double		worst = 0;

		for (int i = 0, t = 0; i < n_seqs; i++)
			for (int32_t j = 0; j < fresh[i]; j++, t++)
			{
				budgets[t] = sparse_token_budget(&cfg, past[i] + j);
				cpu_attention(kv, layer, &seqs[i], past[i] + j, budgets[t], fresh[i] >= 2, n_head,
							  n_kv, hd, q + (size_t) t * n_head * hd, ref + (size_t) t * n_head * hd);
			}
		CHECK(cuda_test_attention(kv, layer, n_head, n_kv, hd, sp, fresh, n_seqs, k, v, q, budgets,
								  0, got, NULL, err) == 0, "%s", err);
		for (size_t i = 0; i < (size_t) T * n_head * hd; i++)
			worst = fmax(worst, fabs((double) got[i] - ref[i]));
		CHECK(worst < 2e-4, "sparse attention %d/%d heads, dim %d, budget %d: max error %.3g",
			  n_head, n_kv, hd, sparse_budgets[s], worst);
	}
	for (int i = 0; i < n_seqs; i++)
		kv_seq_release(kv, &seqs[i]);
	kv_cache_free(kv);
	free(k);
	free(v);
	free(q);
	free(ref);
	free(got);
	free(ck);
	free(cv);
	free(kmin);
	free(kmax);
	free(budgets);
}

static void
test_kernels(void)
{
	static const int Ts[] = {1, 3, 8, 11};

	test_quantize_act();
	test_dequant();
	for (size_t i = 0; i < N_WEIGHT_TYPES; i++)
		for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++)
			test_linear(weight_types[i], 300, 1536, Ts[j]);
	test_linear(DTYPE_Q4_K, 8960, 1536, 2);
	test_linear(DTYPE_Q6_K, 1536, 8960, 2);
	test_rmsnorm_kernel();
	test_rope_kernel(ROPE_NEOX, 128, false);
	test_rope_kernel(ROPE_ADJACENT, 128, true);
	test_rope_kernel(ROPE_NEOX, 64, false);
	test_swiglu_kernel();
	test_quantize_fused();
	test_argmax_kernel();
	test_attention_kernel(12, 2, 128);
	test_attention_kernel(28, 4, 128);
	test_attention_kernel(9, 3, 64);
	test_attention_kernel(32, 1, 64);
}

/* ---- models ---- */

static int32_t
argmax_row(const float *x, int32_t n)
{
	int32_t		best = 0;

	for (int32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static double
cosine(const float *a, const float *b, int32_t n)
{
	double		ab = 0,
				aa = 0,
				bb = 0;

	for (int32_t i = 0; i < n; i++)
	{
		ab += (double) a[i] * b[i];
		aa += (double) a[i] * a[i];
		bb += (double) b[i] * b[i];
	}
	return ab / (sqrt(aa * bb) + 1e-300);
}

/* KL(P_cpu || P_gpu) of the two rows' softmax distributions, in nats. */
static double
kl_divergence(const float *cpu, const float *gpu, int32_t n)
{
	double		mp = -INFINITY,
				mq = -INFINITY,
				zp = 0,
				zq = 0,
				kl = 0;

	for (int32_t i = 0; i < n; i++)
	{
		mp = fmax(mp, cpu[i]);
		mq = fmax(mq, gpu[i]);
	}
	for (int32_t i = 0; i < n; i++)
	{
		zp += exp(cpu[i] - mp);
		zq += exp(gpu[i] - mq);
	}
	for (int32_t i = 0; i < n; i++)
	{
		double		lp = cpu[i] - mp - log(zp);
		double		lq = gpu[i] - mq - log(zq);

		kl += exp(lp) * (lp - lq);
	}
	return kl;
}

/* The CPU's top-two margin is under 1e-3 of the logits' spread, and the
 * GPU picked the CPU's second: rounding of F16 operands may flip that. */
static bool
near_tie(const float *cpu, int32_t n, int32_t gpu_pick)
{
	int32_t		best = argmax_row(cpu, n);
	double		mean = 0,
				var = 0;
	float		second = -INFINITY;

	for (int32_t i = 0; i < n; i++)
		mean += cpu[i];
	mean /= n;
	for (int32_t i = 0; i < n; i++)
	{
		var += (cpu[i] - mean) * (cpu[i] - mean);
		if (i != best)
			second = fmaxf(second, cpu[i]);
	}
	return cpu[gpu_pick] == second && cpu[best] - second < 1e-3 * sqrt(var / n);
}

/* Prompt ids: any valid ids will do. */
static void
prompt_ids(int32_t *ids, int32_t n, int32_t n_vocab, uint32_t salt)
{
	for (int32_t i = 0; i < n; i++)
		ids[i] = (int32_t) ((i * 7919u + 13u + salt * 104729u) % (uint32_t) n_vocab);
}

/* Greedy decoding on the CPU: logits [n_gen][n_vocab] after the prompt and
 * after each of the first n_gen - 1 generated tokens, and those tokens; the
 * decode steps under sparse (the prompt dense, as the scheduler runs it). */
static int
cpu_greedy(struct model *m, const int32_t *prompt, int32_t n_prompt, int32_t n_gen,
		   struct sparse_config sparse, float *logits, int32_t *gen, char *err)
{
	long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct infer_config cfg = {
		.n_threads = ncpu > 0 ? (int) ncpu : 1,
		.n_ctx = n_prompt + n_gen + 8,
		.max_batch_tokens = n_prompt,
	};
	struct infer_ctx *ic = infer_new(m, &cfg, err);
	struct kv_seq seq = {0};
	int32_t		n_vocab = m->hp.n_vocab;
	int			rc;

	if (!ic)
		return -1;
	rc = infer_forward(ic, &(struct seq_batch) {&seq, prompt, n_prompt, true, {0}}, 1, logits, err);
	for (int32_t k = 0; rc == 0 && k < n_gen; k++)
	{
		gen[k] = argmax_row(logits + (size_t) k * n_vocab, n_vocab);
		if (k + 1 < n_gen)
			rc = infer_forward(ic, &(struct seq_batch) {&seq, &gen[k], 1, true, sparse}, 1,
							   logits + (size_t) (k + 1) * n_vocab, err);
	}
	kv_seq_release(ic->kv, &seq);
	infer_free(ic);
	return rc;
}

struct gpu
{
	struct cuda_backend *cb;
	struct kv_cache *kv;		/* the host side: blocks and tables */
};

static int
gpu_open(struct gpu *g, const struct model *m, int32_t n_ctx, int32_t max_T, int32_t n_blocks,
		 int32_t gemm_min, bool graphs, char *err)
{
	struct cuda_options o;
	struct backend_params p = {n_ctx, n_blocks, max_T};

	cuda_options_default(&o, &p);
	o.gemm_min_tokens = gemm_min;
	o.graphs = graphs;
	g->kv = kv_cache_new(m->hp.n_layer, m->hp.n_head_kv * m->hp.head_dim, n_blocks, KV_F16, err);
	g->cb = g->kv ? cuda_backend_new(m, &o, err) : NULL;
	return g->cb ? 0 : -1;
}

static void
gpu_close(struct gpu *g)
{
	cuda_backend_free(g->cb);
	kv_cache_free(g->kv);
}

/* What infer_forward does around a backend: reserve, run, advance; with
 * top, as infer_forward_top (the candidates asked in top[r].n). */
static int
gpu_forward(struct gpu *g, struct seq_batch *b, int n, float *logits, int32_t *argmax,
			struct top_logits *top, char *err)
{
	for (int i = 0; i < n; i++)
		if (kv_seq_reserve(g->kv, b[i].seq, b[i].seq->n_tokens + b[i].n_tokens) != 0)
			return err_set(err, "test: the KV pool is too small");
	if ((top ? cuda_forward_top(g->cb, b, n, logits, top, err)
		 : cuda_forward(g->cb, b, n, logits, argmax, err)) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		b[i].seq->n_tokens += b[i].n_tokens;
	return 0;
}

struct agreement
{
	int			steps;
	int			flips;			/* argmax differs from the CPU's */
	int			near_ties;		/* of which at near ties */
	double		min_cos;
	double		kl_sum;
	double		kl_max;
};

/* "top-1 agreement 99.95%, KL mean 1.2e-07 max 3e-06" of a run's steps */
static void
print_agreement(const char *what, const struct agreement *a)
{
	printf("%s: top-1 agreement %.2f%% (%d of %d steps), KL divergence mean %.3g max %.3g nats, "
		   "min cosine %.7f, %d argmax flips (%d at near ties)\n", what,
		   100.0 * (a->steps - a->flips) / (a->steps > 0 ? a->steps : 1), a->steps - a->flips,
		   a->steps, a->kl_sum / (a->steps > 0 ? a->steps : 1), a->kl_max, a->min_cos, a->flips,
		   a->near_ties);
}

static void
agree(struct agreement *a, const float *cpu, const float *gpu, int32_t gpu_pick, int32_t n_vocab)
{
	double		c = cosine(cpu, gpu, n_vocab);

	double		kl = kl_divergence(cpu, gpu, n_vocab);

	if (a->steps++ == 0 || c < a->min_cos)
		a->min_cos = c;
	a->kl_sum += kl;
	a->kl_max = fmax(a->kl_max, kl);
	if (gpu_pick != argmax_row(cpu, n_vocab))
	{
		a->flips++;
		a->near_ties += near_tie(cpu, n_vocab, gpu_pick);
	}
}

/* One sequence: the prompt, then the CPU's tokens one at a time, those
 * steps under sparse on both sides. */
static void
test_model_stream(struct model *m, const char *name, int32_t n_prompt, int32_t n_gen,
				  int32_t gemm_min, struct sparse_config sparse)
{
	int32_t		n_vocab = m->hp.n_vocab;
	int32_t    *prompt = malloc(n_prompt * sizeof(int32_t));
	int32_t    *gen = malloc(n_gen * sizeof(int32_t));
	float	   *cpu = malloc((size_t) n_gen * n_vocab * sizeof(float));
	float	   *logits = malloc((size_t) n_vocab * sizeof(float));
	struct agreement a = {0};
	struct gpu	g = {0};
	struct kv_seq seq = {0};
	bool		exact = gemm_min > n_prompt;
	char		what[300];
	char		err[ERR_MAX];
	int			rc;

	prompt_ids(prompt, n_prompt, n_vocab, 1);
	rc = cpu_greedy(m, prompt, n_prompt, n_gen, sparse, cpu, gen, err);
	CHECK(rc == 0, "%s: CPU run: %s", name, err);
	if (rc == 0)
		rc = gpu_open(&g, m, n_prompt + n_gen + 8, n_prompt, (n_prompt + n_gen) / 32 + 2,
					  gemm_min, true, err);
	CHECK(rc == 0, "%s: %s", name, err);
	for (int32_t k = 0; rc == 0 && k < n_gen; k++)
	{
		struct seq_batch b = {&seq, k == 0 ? prompt : &gen[k - 1], k == 0 ? n_prompt : 1, true,
							  k == 0 ? (struct sparse_config) {0} : sparse};
		int32_t		pick;

		rc = gpu_forward(&g, &b, 1, logits, &pick, NULL, err);
		CHECK(rc == 0, "%s: step %d: %s", name, k, err);
		if (rc == 0)
			agree(&a, cpu + (size_t) k * n_vocab, logits, pick, n_vocab);
	}
	snprintf(what, sizeof what, "%s: %s prompt %d, sparse budget %d", name,
			 exact ? "mat-vec" : "cuBLAS", n_prompt, sparse.budget);
	print_agreement(what, &a);
	CHECK(a.steps == n_gen && a.min_cos >= COS_MIN, "%s: min cosine %.7f", name, a.min_cos);
	CHECK(exact ? a.flips == 0 : a.flips == a.near_ties,
		  "%s: the GPU's greedy token differs from the CPU's at %d steps", name, a.flips);
	if (g.kv)
		kv_seq_release(g.kv, &seq);
	gpu_close(&g);
	free(prompt);
	free(gen);
	free(cpu);
	free(logits);
}

/*
 * Sequences of different lengths in one batch: their prompts together in
 * one call, then decode steps of all of them, each against a CPU run of
 * the sequence alone.  The same with graphs off must give the same bits,
 * and a third run asking each sequence for a different number of
 * candidates (the row, greedy's one, top-k's 2, 40, TOP_LOGITS_MAX) must
 * get exactly top_logits_of_row of those bits.
 */
#define BATCH_SEQS 5

static const int32_t batch_asks[BATCH_SEQS] = {0, 1, 2, 40, TOP_LOGITS_MAX};

/* Run 2's output: the candidates asked, or the row, of run 0's logits. */
static bool
candidates_match(const float *rows, const float *got_rows, const struct top_logits *got,
				 int32_t n_vocab)
{
	struct top_logits *want = malloc(sizeof *want);
	bool		ok = true;

	for (int i = 0; ok && i < BATCH_SEQS; i++)
	{
		const float *row = rows + (size_t) i * n_vocab;

		if (batch_asks[i] == 0)
		{
			ok = got[i].n == 0 && memcmp(row, got_rows + (size_t) i * n_vocab,
										 n_vocab * sizeof(float)) == 0;
			continue;
		}
		top_logits_of_row(row, n_vocab, batch_asks[i], want);
		ok = got[i].n == want->n &&
			memcmp(got[i].id, want->id, want->n * sizeof(int32_t)) == 0 &&
			memcmp(got[i].logit, want->logit, want->n * sizeof(float)) == 0;
	}
	free(want);
	return ok;
}

static void
test_model_batch(struct model *m, const char *name, int32_t n_gen)
{
	static const int32_t lens[BATCH_SEQS] = {1, 7, 33, 64, 100};
	int32_t		n_vocab = m->hp.n_vocab;
	int32_t    *prompts[BATCH_SEQS];
	int32_t    *gen[BATCH_SEQS];
	float	   *cpu[BATCH_SEQS];
	float	   *logits[3];
	int32_t		picks[2][BATCH_SEQS];
	struct top_logits *top = malloc(BATCH_SEQS * sizeof *top);
	struct gpu	g[3] = {{0}};
	struct kv_seq seqs[3][BATCH_SEQS];
	struct agreement a = {0};
	int			same = 1;
	int			cands_ok = 1;
	char		what[300];
	char		err[ERR_MAX];
	int			rc = 0;

	memset(seqs, 0, sizeof seqs);
	for (int i = 0; i < BATCH_SEQS; i++)
	{
		prompts[i] = malloc(lens[i] * sizeof(int32_t));
		gen[i] = malloc(n_gen * sizeof(int32_t));
		cpu[i] = malloc((size_t) n_gen * n_vocab * sizeof(float));
		prompt_ids(prompts[i], lens[i], n_vocab, 2 + i);
		if (rc == 0)
			rc = cpu_greedy(m, prompts[i], lens[i], n_gen, (struct sparse_config) {0}, cpu[i],
							gen[i], err);
	}
	CHECK(rc == 0, "%s: CPU run: %s", name, err);
	for (int v = 0; v < 3; v++)
	{
		logits[v] = malloc((size_t) BATCH_SEQS * n_vocab * sizeof(float));
		if (rc == 0)
			rc = gpu_open(&g[v], m, 256, 256, 64, 32, v != 1, err);
	}
	CHECK(rc == 0, "%s: %s", name, err);
	for (int32_t k = 0; rc == 0 && k < n_gen; k++)
		for (int v = 0; rc == 0 && v < 3; v++)
		{
			struct seq_batch b[BATCH_SEQS];

			for (int i = 0; i < BATCH_SEQS; i++)
			{
				b[i].seq = &seqs[v][i];
				b[i].tokens = k == 0 ? prompts[i] : &gen[i][k - 1];
				b[i].n_tokens = k == 0 ? lens[i] : 1;
				b[i].want_logits = true;
				b[i].sparse = (struct sparse_config) {0};
			}
			for (int i = 0; i < BATCH_SEQS; i++)
				top[i].n = batch_asks[i];
			rc = gpu_forward(&g[v], b, BATCH_SEQS, logits[v], v < 2 ? picks[v] : NULL,
							 v == 2 ? top : NULL, err);
			CHECK(rc == 0, "%s: batch step %d: %s", name, k, err);
			for (int i = 0; rc == 0 && v == 0 && i < BATCH_SEQS; i++)
				agree(&a, cpu[i] + (size_t) k * n_vocab, logits[0] + (size_t) i * n_vocab,
					  picks[0][i], n_vocab);
			if (rc == 0 && v == 1)
				same &= memcmp(logits[0], logits[1], (size_t) BATCH_SEQS * n_vocab * sizeof(float)) == 0;
			if (rc == 0 && v == 2)
				cands_ok &= candidates_match(logits[0], logits[2], top, n_vocab);
		}
	snprintf(what, sizeof what, "%s: %d sequences of lengths 1..100 batched", name, BATCH_SEQS);
	print_agreement(what, &a);
	CHECK(a.steps == BATCH_SEQS * n_gen && a.min_cos >= COS_MIN, "%s: batched min cosine %.7f",
		  name, a.min_cos);
	CHECK(a.flips == a.near_ties, "%s: batched greedy tokens differ from the CPU's at %d steps",
		  name, a.flips);
	CHECK(same, "%s: logits with CUDA graphs differ from logits without", name);
	CHECK(cands_ok, "%s: the device's candidates differ from top_logits_of_row of its logits", name);
	free(top);
	for (int v = 0; v < 3; v++)
	{
		for (int i = 0; g[v].kv && i < BATCH_SEQS; i++)
			kv_seq_release(g[v].kv, &seqs[v][i]);
		gpu_close(&g[v]);
		free(logits[v]);
	}
	for (int i = 0; i < BATCH_SEQS; i++)
	{
		free(prompts[i]);
		free(gen[i]);
		free(cpu[i]);
	}
}

static void
test_model(const char *path, int32_t n_gen)
{
	char		err[ERR_MAX];
	struct model *m = model_load(path, err);
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	CHECK(m != NULL, "%s", err);
	if (!m)
		return;
	test_model_stream(m, name, 48, n_gen, INT32_MAX, (struct sparse_config) {0});
	test_model_stream(m, name, 48, n_gen, 32, (struct sparse_config) {0});
	/* contexts of 9 or 10 blocks, 4 read: block 0, two of the 7 or 8 in the
	 * middle, the last */
	test_model_stream(m, name, 256, n_gen, INT32_MAX, (struct sparse_config) {128, 0});
	test_model_batch(m, name, n_gen < 16 ? n_gen : 16);
	model_free(m);
}

int
main(int argc, char **argv)
{
	char		why[ERR_MAX];
	int32_t		n_gen = 64;
	bool		kernels = true;
	int			i = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!cuda_available(why))
	{
		printf("SKIP: no CUDA device (%s)\n", why);
		return 0;
	}
	for (; i < argc && argv[i][0] == '-'; i++)
	{
		if (strcmp(argv[i], "--no-kernels") == 0)
			kernels = false;
		else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc)
			n_gen = atoi(argv[++i]);
		else
		{
			fprintf(stderr, "usage: test_cuda [--tokens N] [--no-kernels] [MODEL.gguf ...]\n");
			return 2;
		}
	}
	quant_init();
	if (kernels)
	{
		test_kernels();
		printf("kernels: %d passed, %d failed\n", check_passed, check_failed);
	}
	for (; i < argc; i++)
		test_model(argv[i], n_gen > 1 ? n_gen : 1);
	return check_done("test_cuda");
}
