/*
 * test_kv_cache.c — the paged KV cache on its own (kv_cache.c): the block
 * pool (alloc, release, exhaustion), reference counts, sequences reserving
 * blocks all or nothing, the prefix index (register, lookup, a hash that
 * matches with other tokens), the order in which freed indexed blocks are
 * evicted (least recently freed first, clean blocks before any of them),
 * the key summary over the F16-rounded keys, and the q8_0 cache: its rows
 * those of the reference quantization, its summary over the dequantized
 * keys, its size.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "f16.h"
#include "kv_cache.h"
#include "quant.h"

#define N_BLOCKS 6

/* The tokens of block i of a test prompt: distinct per block. */
static void
block_tokens(int i, int32_t *out)
{
	for (int t = 0; t < KV_BLOCK_TOKENS; t++)
		out[t] = 1000 * (i + 1) + t;
}

static struct kv_cache *
new_pool(int32_t n_blocks)
{
	char		err[ERR_MAX];
	struct kv_cache *kv = kv_cache_new(2, 4, n_blocks, KV_F16, err);

	CHECK(kv != NULL, "kv_cache_new(%d blocks): %s", n_blocks, kv ? "" : err);
	return kv;
}

static void
test_new(void)
{
	char		err[ERR_MAX] = "";
	struct kv_cache *kv = kv_cache_new(2, 4, 0, KV_F16, err);

	CHECK(kv == NULL && strstr(err, "at least one block"), "an empty pool is refused: '%s'", err);
	kv = kv_cache_new(2, 48, 1, KV_Q8_0, err);
	CHECK(kv == NULL && strstr(err, "q8_0") && strstr(err, "48"),
		  "q8_0 rows that are not whole blocks are refused: '%s'", err);
	kv = new_pool(N_BLOCKS);
	if (!kv)
		return;
	CHECK(kv_blocks_in_use(kv) == 0, "a new pool is free");
	CHECK(kv->type == KV_F16 && kv->k && kv->v && !kv->k_q8_0 && !kv->v_q8_0,
		  "an F16 pool has F16 rows only");
	CHECK(kv_block_bytes(2, 4, KV_F16) == 2 * 4 * (2 * KV_BLOCK_TOKENS * 2 + 2 * 4),
		  "block bytes: F16 keys and values, F32 min and max");
	kv_cache_free(kv);
}

/* q8_0 rows take 34 bytes per 32 elements, F16 ones 64: 0.53 of the data. */
static void
test_q8_0_block_bytes(void)
{
	size_t		summary = 2 * 64 * 2 * sizeof(float);
	size_t		f16 = kv_block_bytes(2, 64, KV_F16) - summary;
	size_t		q8_0 = kv_block_bytes(2, 64, KV_Q8_0) - summary;

	CHECK(q8_0 == 2 * 2 * KV_BLOCK_TOKENS * 2 * sizeof(struct block_q8_0),
		  "q8_0 block bytes: two blocks of 34 bytes a row, %zu", q8_0);
	CHECK(fabs((double) q8_0 / f16 - 0.53) < 0.005, "q8_0 data is %.4f of F16's", (double) q8_0 / f16);
}

/*
 * A latent cache keeps one row per position and layer, no value rows: for
 * DeepSeek-R1 (61 layers, kv_lora_rank 512 + 64 RoPE values) 70,272 bytes a
 * token in F16, where expanded K and V (128 heads of 192 and 128) would take
 * 4,997,120.  Its rows are stored as keys.
 */
static void
test_latent(void)
{
	char		err[ERR_MAX];
	size_t		summary = 61 * 576 * 2 * sizeof(float);
	size_t		r1 = kv_latent_block_bytes(61, 576, KV_F16) - summary;
	struct kv_cache *kv = kv_cache_new_latent(2, 64, 2, KV_F16, err);
	struct kv_seq s = {0};
	float		row[64];
	bool		same = true;

	CHECK(r1 == (size_t) 70272 * KV_BLOCK_TOKENS, "R1's latent rows: %zu bytes a token",
		  r1 / KV_BLOCK_TOKENS);
	CHECK(kv_latent_block_bytes(2, 64, KV_F16) * 2 - kv_block_bytes(2, 64, KV_F16) == 2 * 64 * 2 * sizeof(float),
		  "a latent block is half a keys-and-values one, the summary aside");
	CHECK(kv && kv->latent && kv->k && !kv->v, "a latent cache: %s", kv ? "" : err);
	if (!kv || kv_seq_reserve(kv, &s, 1) != 0)
	{
		kv_cache_free(kv);
		return;
	}
	for (int i = 0; i < 64; i++)
		row[i] = 0.1f * (float) (i - 30);
	kv_store(kv, 1, &s, 0, row, NULL);
	for (int i = 0; i < 64; i++)
		same &= kv->k[kv_row_offset(kv, 1, &s, 0) + i] == f32_to_f16(row[i]);
	CHECK(same, "a latent row is stored as its key, in F16");
	kv_seq_release(kv, &s);
	kv_cache_free(kv);
}

static void
test_alloc_release(void)
{
	struct kv_cache *kv = new_pool(N_BLOCKS);
	int32_t		b[N_BLOCKS];
	bool		seen[N_BLOCKS] = {false};
	bool		distinct = true;

	if (!kv)
		return;
	for (int i = 0; i < N_BLOCKS; i++)
	{
		b[i] = kv_block_alloc(kv);
		if (b[i] < 0 || b[i] >= N_BLOCKS || seen[b[i]])
			distinct = false;
		else
			seen[b[i]] = true;
	}
	CHECK(distinct, "every block handed out once");
	CHECK(kv_blocks_in_use(kv) == N_BLOCKS, "all in use: %d", kv_blocks_in_use(kv));
	CHECK(kv_block_alloc(kv) == -1, "an exhausted pool gives -1");
	CHECK(kv->refcount[b[0]] == 1, "a new block has one reference");

	kv_block_release(kv, b[2]);
	CHECK(kv_blocks_in_use(kv) == N_BLOCKS - 1 && kv->refcount[b[2]] == 0, "released");
	CHECK(kv_block_alloc(kv) == b[2], "a released block is handed out again");
	CHECK(kv_block_alloc(kv) == -1, "and the pool is exhausted again");
	for (int i = 0; i < N_BLOCKS; i++)
		kv_block_release(kv, b[i]);
	CHECK(kv_blocks_in_use(kv) == 0, "all free again: %d", kv_blocks_in_use(kv));
	kv_cache_free(kv);
}

/* A block looked up in the index is shared: it returns to the pool only
 * when its last user releases it. */
static void
test_refcounts(void)
{
	struct kv_cache *kv = new_pool(N_BLOCKS);
	int32_t		tok[KV_BLOCK_TOKENS];
	uint64_t	h;
	int32_t		b,
				again;

	if (!kv)
		return;
	block_tokens(0, tok);
	h = kv_prefix_hash(0, tok);
	b = kv_block_alloc(kv);
	kv_prefix_register(kv, b, h, tok);
	again = kv_prefix_lookup(kv, h, tok);
	CHECK(again == b && kv->refcount[b] == 2, "lookup shares the block: %d, refcount %d", again,
		  kv->refcount[b]);
	CHECK(kv_blocks_in_use(kv) == 1, "one block in use for two users");
	kv_block_release(kv, b);
	CHECK(kv->refcount[b] == 1 && kv_blocks_in_use(kv) == 1, "still held by the other user");
	kv_block_release(kv, b);
	CHECK(kv->refcount[b] == 0 && kv_blocks_in_use(kv) == 0, "free after the last release");

	/* freed but indexed: a lookup takes it back from the cache */
	again = kv_prefix_lookup(kv, h, tok);
	CHECK(again == b && kv->refcount[b] == 1 && kv_blocks_in_use(kv) == 1,
		  "a freed indexed block is found and retained: %d", again);
	kv_block_release(kv, b);
	kv_cache_free(kv);
}

static void
test_prefix_index(void)
{
	struct kv_cache *kv = new_pool(N_BLOCKS);
	int32_t		t0[KV_BLOCK_TOKENS],
				t1[KV_BLOCK_TOKENS],
				other[KV_BLOCK_TOKENS];
	uint64_t	h0,
				h1;
	int32_t		b0,
				b1,
				dup;

	if (!kv)
		return;
	block_tokens(0, t0);
	block_tokens(1, t1);
	h0 = kv_prefix_hash(0, t0);
	h1 = kv_prefix_hash(h0, t1);
	CHECK(h0 != 0 && h1 != 0 && h0 != h1, "hashes are never 0 and chain");
	CHECK(kv_prefix_hash(0, t1) != h1, "a block's hash depends on its prefix");
	CHECK(kv_prefix_hash(h0, t1) == h1, "and only on it and its tokens");

	CHECK(kv_prefix_lookup(kv, h0, t0) == -1, "an empty index finds nothing");
	b0 = kv_block_alloc(kv);
	b1 = kv_block_alloc(kv);
	kv_prefix_register(kv, b0, h0, t0);
	kv_prefix_register(kv, b1, h1, t1);
	CHECK(kv_prefix_lookup(kv, h0, t0) == b0, "first block found");
	CHECK(kv_prefix_lookup(kv, h1, t1) == b1, "second block found under the chained hash");
	CHECK(kv_prefix_lookup(kv, h1, t0) == -1, "the right hash with other tokens is no match");
	memcpy(other, t1, sizeof other);
	other[KV_BLOCK_TOKENS - 1]++;
	CHECK(kv_prefix_lookup(kv, h1, other) == -1, "one token different is no match");

	/* a second block with the same content is not registered again */
	dup = kv_block_alloc(kv);
	kv_prefix_register(kv, dup, h0, t0);
	CHECK(kv->hash[dup] == 0, "a hash already present is left as it is");
	CHECK(kv_prefix_lookup(kv, h0, t0) == b0, "the first registration stays");
	/* a registered block keeps its first registration */
	kv_prefix_register(kv, b0, h1, t1);
	CHECK(kv->hash[b0] == h0, "a block already registered is left as it is");

	CHECK(kv->refcount[b0] == 3 && kv->refcount[b1] == 2, "each lookup took a reference: %d %d",
		  kv->refcount[b0], kv->refcount[b1]);
	kv_block_release(kv, dup);
	for (int i = 0; i < 3; i++)
		kv_block_release(kv, b0);
	for (int i = 0; i < 2; i++)
		kv_block_release(kv, b1);
	CHECK(kv_blocks_in_use(kv) == 0, "all free: %d", kv_blocks_in_use(kv));
	kv_cache_free(kv);
}

/* Freed indexed blocks stay cached; allocation takes clean blocks first,
 * then evicts cached ones least recently freed first, and an evicted
 * block leaves the index. */
static void
test_eviction_order(void)
{
	struct kv_cache *kv = new_pool(4);
	int32_t		tok[3][KV_BLOCK_TOKENS];
	uint64_t	h[3];
	int32_t		b[4];
	int32_t		got;

	if (!kv)
		return;
	for (int i = 0; i < 4; i++)
		b[i] = kv_block_alloc(kv);
	for (int i = 0; i < 3; i++)
	{
		block_tokens(i, tok[i]);
		h[i] = kv_prefix_hash(i ? h[i - 1] : 0, tok[i]);
		kv_prefix_register(kv, b[i], h[i], tok[i]);
	}
	/* freed in the order 1, 0, 2; b[3] (not indexed) last */
	kv_block_release(kv, b[1]);
	kv_block_release(kv, b[0]);
	kv_block_release(kv, b[2]);
	kv_block_release(kv, b[3]);
	CHECK(kv_blocks_in_use(kv) == 0, "all four free (three cached)");

	got = kv_block_alloc(kv);
	CHECK(got == b[3], "a clean block before any cached prefix: %d, want %d", got, b[3]);
	CHECK(kv_prefix_lookup(kv, h[1], tok[1]) == b[1], "nothing evicted yet");
	kv_block_release(kv, b[1]);	/* freed again: now the most recent */

	got = kv_block_alloc(kv);
	CHECK(got == b[0], "then the least recently freed prefix: %d, want %d", got, b[0]);
	CHECK(kv_prefix_lookup(kv, h[0], tok[0]) == -1 && kv->hash[b[0]] == 0,
		  "an evicted block leaves the index");
	got = kv_block_alloc(kv);
	CHECK(got == b[2], "then the next: %d, want %d", got, b[2]);
	got = kv_block_alloc(kv);
	CHECK(got == b[1], "the block freed last goes last: %d, want %d", got, b[1]);
	CHECK(kv_block_alloc(kv) == -1, "then the pool is exhausted");
	CHECK(kv_prefix_lookup(kv, h[1], tok[1]) == -1 && kv_prefix_lookup(kv, h[2], tok[2]) == -1,
		  "every evicted prefix is gone from the index");
	kv_cache_free(kv);
}

static void
test_sequences(void)
{
	struct kv_cache *kv = new_pool(N_BLOCKS);
	struct kv_seq a = {0},
				b = {0};
	int32_t		shared;

	if (!kv)
		return;
	CHECK(kv_seq_reserve(kv, &a, 1) == 0 && a.n_blocks == 1, "one token takes one block");
	CHECK(kv_seq_reserve(kv, &a, KV_BLOCK_TOKENS) == 0 && a.n_blocks == 1, "a full block still one");
	CHECK(kv_seq_reserve(kv, &a, KV_BLOCK_TOKENS + 1) == 0 && a.n_blocks == 2, "one more token, two");
	CHECK(kv_seq_reserve(kv, &a, 10) == 0 && a.n_blocks == 2, "reserving less never shrinks");
	CHECK(kv_seq_reserve(kv, &b, 5 * KV_BLOCK_TOKENS) == -1 && b.n_blocks == 0 &&
		  kv_blocks_in_use(kv) == 2, "too few free blocks: all or nothing, nothing taken");
	CHECK(kv_seq_reserve(kv, &b, 4 * KV_BLOCK_TOKENS) == 0 && b.n_blocks == 4 &&
		  kv_blocks_in_use(kv) == N_BLOCKS, "exactly what is free");
	CHECK(kv_seq_reserve(kv, &a, 3 * KV_BLOCK_TOKENS) == -1 && a.n_blocks == 2,
		  "an exhausted pool refuses growth and leaves the sequence as it was");

	/* share a's first block into a new sequence, as a prefix lookup would */
	shared = a.blocks[0];
	kv_seq_release(kv, &b);
	{
		struct kv_seq c = {0};
		int32_t		tok[KV_BLOCK_TOKENS];
		uint64_t	h;

		block_tokens(0, tok);
		h = kv_prefix_hash(0, tok);
		kv_prefix_register(kv, shared, h, tok);
		CHECK(kv_seq_append_block(&c, kv_prefix_lookup(kv, h, tok)) == 0 &&
			  c.n_blocks == 1 && c.blocks[0] == shared && c.n_tokens == KV_BLOCK_TOKENS,
			  "an appended block holds the next KV_BLOCK_TOKENS positions");
		CHECK(kv->refcount[shared] == 2, "shared by two sequences");
		kv_seq_release(kv, &a);
		CHECK(kv->refcount[shared] == 1 && kv_blocks_in_use(kv) == 1, "a released, c keeps it");
		kv_seq_release(kv, &c);
		CHECK(c.blocks == NULL && c.n_blocks == 0 && c.n_tokens == 0, "a released sequence is empty");
	}
	CHECK(kv_blocks_in_use(kv) == 0, "all free: %d", kv_blocks_in_use(kv));
	kv_cache_free(kv);
}

/* kv_store writes F16 and widens the block's summary over exactly the
 * F16-rounded keys; a reallocated block starts a new summary. */
static void
test_store_summary(void)
{
	struct kv_cache *kv = new_pool(2);
	struct kv_seq s = {0};
	const float k0[4] = {0.1f, -2.0f, 3.3333f, 0.0f},
				k1[4] = {-0.7f, 5.0f, 1.0f, -1e-3f},
				v[4] = {1, 2, 3, 4};
	bool		ok = true;

	if (!kv)
		return;
	if (kv_seq_reserve(kv, &s, 2) != 0)
	{
		CHECK(false, "reserve two positions");
		kv_cache_free(kv);
		return;
	}
	s.n_tokens = 2;
	kv_store(kv, 1, &s, 0, k0, v);
	kv_store(kv, 1, &s, 1, k1, v);
	for (int i = 0; i < 4; i++)
	{
		size_t		sum = ((size_t) 1 * kv->n_blocks + s.blocks[0]) * kv->kv_dim + i;
		float		r0 = f16_to_f32(f32_to_f16(k0[i])),
					r1 = f16_to_f32(f32_to_f16(k1[i]));

		if (kv->kmin[sum] != fminf(r0, r1) || kv->kmax[sum] != fmaxf(r0, r1) ||
			kv->k[kv_row_offset(kv, 1, &s, 1) + i] != f32_to_f16(k1[i]) ||
			kv->v[kv_row_offset(kv, 1, &s, 0) + i] != f32_to_f16(v[i]))
			ok = false;
	}
	CHECK(ok, "keys and values in F16, the summary over the rounded keys");
	kv_seq_release(kv, &s);
	CHECK(kv_seq_reserve(kv, &s, 1) == 0, "reserve again");
	{
		size_t		sum = ((size_t) 1 * kv->n_blocks + s.blocks[0]) * kv->kv_dim;

		CHECK(isinf(kv->kmin[sum]) && kv->kmin[sum] > 0 && isinf(kv->kmax[sum]) && kv->kmax[sum] < 0,
			  "a new block's summary is empty");
	}
	kv_seq_release(kv, &s);
	kv_cache_free(kv);
}

/* A key row of 64 spanning several magnitudes, and a value row. */
static void
q8_0_rows(int pos, float *key, float *value)
{
	for (int i = 0; i < 64; i++)
	{
		key[i] = (float) ((i % 7 - 3) * (1 + pos)) * powf(10.0f, (float) (i / 16 - 2)) + 0.01f * i;
		value[i] = sinf((float) (pos * 64 + i));
	}
}

/* kv_store under q8_0: rows bit for bit those of the reference quantizer,
 * the summary the min and max of the reference dequantization. */
static void
test_store_q8_0(void)
{
	char		err[ERR_MAX];
	struct kv_cache *kv = kv_cache_new(2, 64, 2, KV_Q8_0, err);
	struct kv_seq s = {0};
	struct block_q8_0 want_k[3][2];
	struct block_q8_0 want_v[3][2];
	float		lo[64];
	float		hi[64];
	bool		rows_ok = true;
	bool		summary_ok = true;

	CHECK(kv != NULL, "a q8_0 pool: %s", kv ? "" : err);
	if (!kv)
		return;
	CHECK(kv->type == KV_Q8_0 && kv->k_q8_0 && kv->v_q8_0 && !kv->k && !kv->v,
		  "a q8_0 pool has q8_0 rows only");
	if (kv_seq_reserve(kv, &s, 3) != 0)
	{
		CHECK(false, "reserve three positions");
		kv_cache_free(kv);
		return;
	}
	s.n_tokens = 3;
	for (int i = 0; i < 64; i++)
	{
		lo[i] = INFINITY;
		hi[i] = -INFINITY;
	}
	for (int pos = 0; pos < 3; pos++)
	{
		float		key[64];
		float		value[64];
		float		stored[64];

		q8_0_rows(pos, key, value);
		kv_store(kv, 1, &s, pos, key, value);
		quantize_row_act_ref(DTYPE_Q8_0, key, want_k[pos], 64);
		quantize_row_act_ref(DTYPE_Q8_0, value, want_v[pos], 64);
		dequantize_row_ref(DTYPE_Q8_0, want_k[pos], stored, 64);
		for (int i = 0; i < 64; i++)
		{
			lo[i] = fminf(lo[i], stored[i]);
			hi[i] = fmaxf(hi[i], stored[i]);
		}
	}
	for (int pos = 0; pos < 3; pos++)
	{
		size_t		row = kv_row_offset(kv, 1, &s, pos) / QK8_0;

		rows_ok &= memcmp(kv->k_q8_0 + row, want_k[pos], sizeof want_k[pos]) == 0 &&
			memcmp(kv->v_q8_0 + row, want_v[pos], sizeof want_v[pos]) == 0;
	}
	for (int i = 0; i < 64; i++)
	{
		size_t		sum = ((size_t) 1 * kv->n_blocks + s.blocks[0]) * kv->kv_dim + i;

		summary_ok &= kv->kmin[sum] == lo[i] && kv->kmax[sum] == hi[i];
	}
	CHECK(rows_ok, "q8_0 keys and values are the reference quantizer's");
	CHECK(summary_ok, "the q8_0 summary bounds the dequantized keys exactly");
	kv_seq_release(kv, &s);
	kv_cache_free(kv);
}

int
main(void)
{
	test_new();
	test_q8_0_block_bytes();
	test_latent();
	test_alloc_release();
	test_refcounts();
	test_prefix_index();
	test_eviction_order();
	test_sequences();
	test_store_summary();
	test_store_q8_0();
	return check_done("test_kv_cache");
}
