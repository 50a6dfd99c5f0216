/*
 * test_attention.c — the attention kernels of both KV types: AVX2 equal to
 * the scalar reference bit for bit in both summation orders, and the
 * scalar reference within float rounding of a double-precision attention;
 * sparse attention over every block equal to dense attention.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "check.h"
#include "error.h"
#include "f16.h"
#include "quant.h"
#include "sparse.h"

static float
frand(unsigned *state)
{
	*state = *state * 1103515245u + 12345u;
	return ((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void
fill_f16(uint16_t *x, size_t n, float amp, unsigned *st)
{
	for (size_t i = 0; i < n; i++)
		x[i] = f32_to_f16(amp * frand(st));
}

/* Rows of n elements, amp * random, as a cache of the type stores them. */
static void
fill_rows(enum kv_type type, void *x, size_t n, float amp, unsigned *st)
{
	float		f[32 * 128];

	if (type == KV_F16)
	{
		fill_f16(x, n, amp, st);
		return;
	}
	for (size_t i = 0; i < n; i++)
		f[i] = amp * frand(st);
	quantize_row_act_ref(DTYPE_Q8_0, f, x, (int64_t) n);
}

/* One block of keys and values through a kernel set; p from the scores,
 * in F16 where the values are. */
static void
run_kernels(const struct attention_kernels *k, enum kv_type type, const void *q,
			const void *keys, const void *vals, int32_t count, int32_t head_dim, int32_t first,
			bool gemm, float *scores, float *acc)
{
	float		p[64];

	if (type == KV_Q8_0)
		k->scores_q8_0(q, keys, count, head_dim / QK8_0, head_dim, 0.125f, scores);
	else
		k->scores(q, keys, count, head_dim, head_dim, gemm, 0.125f, scores);
	for (int32_t j = 0; j < count; j++)
		p[j] = fabsf(scores[j]) / 16;
	if (type == KV_F16)
		attention_kernels_scalar.round_f16(p, count);
	memset(acc, 0, sizeof(float) * 32 * head_dim);
	if (type == KV_Q8_0)
		k->values_q8_0(p, vals, count, head_dim / QK8_0, head_dim, first, gemm, acc);
	else
		k->values(p, vals, count, head_dim, head_dim, first, gemm, acc);
}

/* A query of head_dim, in F16-rounded floats or in q8_0 blocks. */
static void
fill_query(enum kv_type type, float amp, int32_t head_dim, unsigned *st, void *q)
{
	float		f[128];

	for (int32_t d = 0; d < head_dim; d++)
		f[d] = f16_to_f32(f32_to_f16(amp * frand(st)));
	if (type == KV_Q8_0)
		quantize_row_act_ref(DTYPE_Q8_0, f, q, head_dim);
	else
		memcpy(q, f, sizeof(float) * head_dim);
}

static void
test_simd_equals_scalar(enum kv_type type)
{
	static const int32_t dims[] = {64, 128, 96};
	unsigned	st = 7;

	if (strcmp(quant_init(), "scalar") == 0)
	{
		printf("SKIP attention AVX2 kernels: this CPU runs the scalar ones\n");
		return;
	}
	for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
		for (int g = 0; g < 2; g++)
		{
			int32_t		hd = dims[di];
			bool		gemm = g;
			int32_t		count = 32 - (int32_t) di;	/* whole groups of 4 keys, and not */
			float		q[128];
			uint16_t	keys[32 * 128];	/* F16, or fewer bytes of q8_0 */
			uint16_t	vals[32 * 128];
			float		s1[32], s2[32];
			float	   *a1 = calloc(32 * 128, sizeof(float));
			float	   *a2 = calloc(32 * 128, sizeof(float));

			if (!gemm && hd % 32 != 0)
				continue;
			fill_query(type, 40, hd, &st, q);
			/* large values, as in models with massive activations */
			fill_rows(type, keys, (size_t) count * hd, 300, &st);
			fill_rows(type, vals, (size_t) count * hd, 50, &st);
			run_kernels(&attention_kernels_scalar, type, q, keys, vals, count, hd, 32 * (int32_t) di,
						gemm, s1, a1);
			run_kernels(&attention_kernels_avx2, type, q, keys, vals, count, hd, 32 * (int32_t) di,
						gemm, s2, a2);
			CHECK(memcmp(s1, s2, sizeof(float) * count) == 0, "%s scores differ (dim %d, gemm %d, %d keys)",
				  kv_type_name(type), hd, gemm, count);
			CHECK(memcmp(a1, a2, sizeof(float) * 32 * hd) == 0, "%s values differ (dim %d, gemm %d)",
				  kv_type_name(type), hd, gemm);
			free(a1);
			free(a2);
		}
}

/* Rounding through F16 in bulk equals the scalar conversion, specials included. */
static void
test_round_f16(void)
{
	float		x[37];
	float		y[37];
	unsigned	st = 11;

	if (strcmp(quant_init(), "scalar") == 0)
		return;
	for (int i = 0; i < 37; i++)
		x[i] = 70000 * frand(&st) * frand(&st);
	x[3] = INFINITY;
	x[4] = -0.0f;
	x[5] = 65520.0f;			/* rounds up to infinity */
	x[6] = 1e-9f;				/* below the smallest subnormal half */
	x[7] = 3e-6f;				/* a subnormal half */
	memcpy(y, x, sizeof x);
	attention_kernels_scalar.round_f16(x, 37);
	attention_kernels_avx2.round_f16(y, 37);
	CHECK(memcmp(x, y, sizeof x) == 0, "round_f16: AVX2 and scalar differ");
}

static void
test_against_double(void)
{
	int32_t		hd = 64;
	unsigned	st = 11;

	for (int g = 0; g < 2; g++)
	{
		float		q[64];
		uint16_t	keys[32 * 64];
		float		s[32];
		float		acc[32 * 64];
		double		worst = 0;
		uint16_t	vals[32 * 64];

		for (int32_t d = 0; d < hd; d++)
			q[d] = f16_to_f32(f32_to_f16(frand(&st)));
		fill_f16(keys, sizeof keys / 2, 1, &st);
		fill_f16(vals, sizeof vals / 2, 1, &st);
		run_kernels(&attention_kernels_scalar, KV_F16, q, keys, vals, 32, hd, 0, g, s, acc);
		for (int32_t j = 0; j < 32; j++)
		{
			double		ref = 0;

			for (int32_t d = 0; d < hd; d++)
				ref += (double) q[d] * f16_to_f32(keys[j * hd + d]);
			ref *= 0.125;
			if (fabs(ref - s[j]) > worst)
				worst = fabs(ref - s[j]);
		}
		CHECK(worst < 1e-5, "scores off a double dot by %g (gemm %d)", worst, g);
	}
}

/* The test caches: one layer, two KV heads of HEAD_DIM, N_CTX positions
 * of one sequence, the last block partly filled. */
#define HEAD_DIM 64
#define N_CTX 100

static struct kv_cache *
filled_cache(enum kv_type type, struct kv_seq *seq)
{
	char		err[ERR_MAX];
	struct kv_cache *kv = kv_cache_new(1, 2 * HEAD_DIM, N_CTX / KV_BLOCK_TOKENS + 1, type, err);
	unsigned	st = 5;

	CHECK(kv != NULL, "a %s cache: %s", kv_type_name(type), kv ? "" : err);
	if (!kv || kv_seq_reserve(kv, seq, N_CTX) != 0)
	{
		kv_cache_free(kv);
		return NULL;
	}
	seq->n_tokens = N_CTX;
	for (int32_t pos = 0; pos < N_CTX; pos++)
	{
		float		key[2 * HEAD_DIM];
		float		value[2 * HEAD_DIM];

		for (int32_t i = 0; i < 2 * HEAD_DIM; i++)
		{
			key[i] = 2 * frand(&st);
			value[i] = frand(&st);
		}
		kv_store(kv, 0, seq, pos, key, value);
	}
	return kv;
}

/* Given every block (as attention_select gives them when the budget covers
 * the context), sparse attention is dense attention bit for bit. */
static void
test_sparse_all_blocks(enum kv_type type)
{
	struct kv_seq seq = {0};
	struct kv_cache *kv = filled_cache(type, &seq);
	unsigned	st = 3;
	float		q[HEAD_DIM];
	int32_t		blocks[N_CTX / KV_BLOCK_TOKENS + 1];
	float		bounds[2 * (N_CTX / KV_BLOCK_TOKENS + 1)];
	float		scores[N_CTX];
	int32_t		n_blocks;

	if (!kv)
		return;
	for (int32_t d = 0; d < HEAD_DIM; d++)
		q[d] = 3 * frand(&st);
	n_blocks = attention_select(kv, 0, &seq, N_CTX, 1, HEAD_DIM, q, 1, N_CTX + KV_BLOCK_TOKENS,
								blocks, bounds);
	CHECK(n_blocks == N_CTX / KV_BLOCK_TOKENS + 1, "a budget over the context selects every block");
	for (int g = 0; g < 2; g++)
	{
		float		dense[HEAD_DIM];
		float		sparse[HEAD_DIM];

		attention_dense(kv, 0, &seq, N_CTX, 1, HEAD_DIM, q, 0.125f, g, dense, scores);
		attention_sparse(kv, 0, &seq, N_CTX, blocks, n_blocks, 1, HEAD_DIM, q, 0.125f, g,
						 sparse, scores);
		CHECK(memcmp(dense, sparse, sizeof dense) == 0,
			  "%s: sparse over every block differs from dense (gemm %d)", kv_type_name(type), g);
	}
	kv_seq_release(kv, &seq);
	kv_cache_free(kv);
}

/*
 * A latent cache (deepseek2) keeps one row per position; attention_latent
 * reads the row as the key and its first v_dim elements as the value.  Over
 * the same rows in a cache with keys and values, where each value row is
 * its key row, attention_dense gives the same output in those v_dim
 * elements, bit for bit: one row serves as both.
 */
static void
test_latent_is_keys_as_values(enum kv_type type)
{
	enum
	{
		ROW = 2 * HEAD_DIM + 32, V_DIM = 2 * HEAD_DIM
	};
	char		err[ERR_MAX];
	struct kv_cache *lat = kv_cache_new_latent(1, ROW, N_CTX / KV_BLOCK_TOKENS + 1, type, err);
	struct kv_cache *full = kv_cache_new(1, ROW, N_CTX / KV_BLOCK_TOKENS + 1, type, err);
	struct kv_seq s_lat = {0};
	struct kv_seq s_full = {0};
	unsigned	st = 9;
	float		q[ROW];
	float		scores[N_CTX];

	CHECK(lat && full && lat->latent && !lat->v && !lat->v_q8_0, "a latent cache has key rows only");
	if (!lat || !full || kv_seq_reserve(lat, &s_lat, N_CTX) || kv_seq_reserve(full, &s_full, N_CTX))
		goto done;
	s_lat.n_tokens = s_full.n_tokens = N_CTX;
	for (int32_t pos = 0; pos < N_CTX; pos++)
	{
		float		row[ROW];

		for (int32_t i = 0; i < ROW; i++)
			row[i] = 2 * frand(&st);
		kv_store(lat, 0, &s_lat, pos, row, NULL);
		kv_store(full, 0, &s_full, pos, row, row);
	}
	for (int32_t d = 0; d < ROW; d++)
		q[d] = frand(&st);
	for (int g = 0; g < 2; g++)
	{
		float		latent[ROW];
		float		dense[ROW];

		attention_latent(lat, 0, &s_lat, N_CTX, V_DIM, q, 0.1f, g, latent, scores);
		attention_dense(full, 0, &s_full, N_CTX, 0, ROW, q, 0.1f, g, dense, scores);
		CHECK(memcmp(latent, dense, V_DIM * sizeof(float)) == 0,
			  "%s: latent attention differs from keys-as-values attention (gemm %d)",
			  kv_type_name(type), g);
	}
done:
	kv_seq_release(lat, &s_lat);
	kv_seq_release(full, &s_full);
	kv_cache_free(lat);
	kv_cache_free(full);
}

/* The row of head 1 at pos, dequantized from the cache. */
static void
stored_row(const struct block_q8_0 *rows, const struct kv_cache *kv, const struct kv_seq *seq,
		   int32_t pos, float *out)
{
	size_t		row = (kv_row_offset(kv, 0, seq, pos) + HEAD_DIM) / QK8_0;

	dequantize_row_ref(DTYPE_Q8_0, rows + row, out, HEAD_DIM);
}

/* q8_0 attention against one in double on the same quantized query, keys
 * and values: it differs by float rounding only. */
static void
test_q8_0_against_double(void)
{
	struct kv_seq seq = {0};
	struct kv_cache *kv = filled_cache(KV_Q8_0, &seq);
	unsigned	st = 9;
	float		q[HEAD_DIM];
	float		qd[HEAD_DIM];
	struct block_q8_0 qq[HEAD_DIM / QK8_0];
	double		p[N_CTX];
	double		ref[HEAD_DIM] = {0};
	double		max = -INFINITY;
	double		sum = 0;

	if (!kv)
		return;
	for (int32_t d = 0; d < HEAD_DIM; d++)
		q[d] = 3 * frand(&st);
	quantize_row_act_ref(DTYPE_Q8_0, q, qq, HEAD_DIM);
	dequantize_row_ref(DTYPE_Q8_0, qq, qd, HEAD_DIM);
	for (int32_t j = 0; j < N_CTX; j++)
	{
		float		k[HEAD_DIM];

		stored_row(kv->k_q8_0, kv, &seq, j, k);
		p[j] = 0;
		for (int32_t d = 0; d < HEAD_DIM; d++)
			p[j] += (double) qd[d] * k[d];
		p[j] *= 0.125;
		max = p[j] > max ? p[j] : max;
	}
	for (int32_t j = 0; j < N_CTX; j++)
	{
		float		v[HEAD_DIM];

		p[j] = exp(p[j] - max);
		sum += p[j];
		stored_row(kv->v_q8_0, kv, &seq, j, v);
		for (int32_t d = 0; d < HEAD_DIM; d++)
			ref[d] += p[j] * v[d];
	}
	for (int g = 0; g < 2; g++)
	{
		float		out[HEAD_DIM];
		float		scores[N_CTX];
		double		worst = 0;

		attention_dense(kv, 0, &seq, N_CTX, 1, HEAD_DIM, q, 0.125f, g, out, scores);
		for (int32_t d = 0; d < HEAD_DIM; d++)
			worst = fmax(worst, fabs(ref[d] / sum - out[d]));
		CHECK(worst < 1e-6, "q8_0 attention off a double one by %g (gemm %d)", worst, g);
	}
	kv_seq_release(kv, &seq);
	kv_cache_free(kv);
}

int
main(void)
{
	test_simd_equals_scalar(KV_F16);
	test_simd_equals_scalar(KV_Q8_0);
	test_round_f16();
	test_against_double();
	test_q8_0_against_double();
	test_sparse_all_blocks(KV_F16);
	test_sparse_all_blocks(KV_Q8_0);
	test_latent_is_keys_as_values(KV_F16);
	test_latent_is_keys_as_values(KV_Q8_0);
	return check_done("attention");
}
