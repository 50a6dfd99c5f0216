/*
 * kv_cache.c — block pool, reference counts, per-block key summaries and
 * the prefix index.
 *
 * Free blocks are of two kinds: clean ones (a stack) and ones that still
 * hold a registered prefix (a list, least recently freed first).  Allocation
 * takes a clean block when there is one, else evicts the oldest prefix.
 */
#include "kv_cache.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "f16.h"
#include "quant.h"

int
kv_type_parse(const char *s, enum kv_type *type)
{
	if (strcmp(s, "f16") == 0)
		*type = KV_F16;
	else if (strcmp(s, "q8_0") == 0)
		*type = KV_Q8_0;
	else
		return -1;
	return 0;
}

const char *
kv_type_name(enum kv_type type)
{
	return type == KV_Q8_0 ? "q8_0" : "f16";
}

/* Bytes of one key (or value) row of kv_dim elements. */
static size_t
row_bytes(int32_t kv_dim, enum kv_type type)
{
	return type == KV_Q8_0
		? (size_t) kv_dim / QK8_0 * sizeof(struct block_q8_0)
		: (size_t) kv_dim * sizeof(uint16_t);
}

/* rows_per_position: 2 for keys and values, 1 for a latent cache */
static size_t
block_bytes(int32_t n_layer, int32_t kv_dim, enum kv_type type, int rows_per_position)
{
	/* the rows in the type, plus the min/max summary in F32 */
	return (size_t) n_layer * (rows_per_position * KV_BLOCK_TOKENS * row_bytes(kv_dim, type)
							   + (size_t) kv_dim * 2 * sizeof(float));
}

size_t
kv_block_bytes(int32_t n_layer, int32_t kv_dim, enum kv_type type)
{
	return block_bytes(n_layer, kv_dim, type, 2);
}

size_t
kv_latent_block_bytes(int32_t n_layer, int32_t row_dim, enum kv_type type)
{
	return block_bytes(n_layer, row_dim, type, 1);
}

static int
check_shape(int32_t kv_dim, int32_t n_blocks, enum kv_type type, char *err)
{
	if (n_blocks < 1)
		return err_set(err, "kv cache: the pool needs at least one block");
	if (type == KV_Q8_0 && kv_dim % QK8_0 != 0)
		return err_set(err, "kv cache: q8_0 needs rows of a multiple of %d elements, not %d",
					   QK8_0, kv_dim);
	return 0;
}

/* The key and value rows of the cache's type (keys only for a latent
 * cache); false when out of memory. */
static bool
alloc_rows(struct kv_cache *kv)
{
	size_t		bytes = (size_t) kv->n_layer * kv->n_blocks * KV_BLOCK_TOKENS
		* row_bytes(kv->kv_dim, kv->type);

	if (kv->type == KV_Q8_0)
	{
		kv->k_q8_0 = malloc(bytes);
		kv->v_q8_0 = kv->latent ? NULL : malloc(bytes);
		return kv->k_q8_0 && (kv->v_q8_0 || kv->latent);
	}
	kv->k = malloc(bytes);
	kv->v = kv->latent ? NULL : malloc(bytes);
	return kv->k && (kv->v || kv->latent);
}

static struct kv_cache *
cache_new(int32_t n_layer, int32_t kv_dim, int32_t n_blocks, enum kv_type type, bool latent,
		  char *err)
{
	struct kv_cache *kv;
	size_t		sums = (size_t) n_layer * n_blocks * kv_dim;
	bool		rows = false;

	if (check_shape(kv_dim, n_blocks, type, err) != 0)
		return NULL;
	kv = calloc(1, sizeof *kv);
	if (kv)
	{
		kv->n_layer = n_layer;
		kv->kv_dim = kv_dim;
		kv->n_blocks = n_blocks;
		kv->type = type;
		kv->latent = latent;
		rows = alloc_rows(kv);
		kv->kmin = malloc(sums * sizeof(float));
		kv->kmax = malloc(sums * sizeof(float));
		kv->refcount = calloc(n_blocks, sizeof(int32_t));
		kv->free_list = malloc(n_blocks * sizeof(int32_t));
		for (kv->n_buckets = 16; kv->n_buckets < n_blocks; kv->n_buckets *= 2)
			;
		kv->hash = calloc(n_blocks, sizeof(uint64_t));
		kv->tokens = malloc((size_t) n_blocks * KV_BLOCK_TOKENS * sizeof(int32_t));
		kv->bucket = malloc(kv->n_buckets * sizeof(int32_t));
		kv->chain = malloc(n_blocks * sizeof(int32_t));
		kv->lru_prev = malloc(n_blocks * sizeof(int32_t));
		kv->lru_next = malloc(n_blocks * sizeof(int32_t));
	}
	if (!kv || !rows || !kv->kmin || !kv->kmax || !kv->refcount || !kv->free_list ||
		!kv->hash || !kv->tokens || !kv->bucket || !kv->chain || !kv->lru_prev || !kv->lru_next)
	{
		kv_cache_free(kv);
		err_set(err, "kv cache: out of memory for %d blocks", n_blocks);
		return NULL;
	}
	/* hand out low block ids first */
	for (int32_t i = 0; i < n_blocks; i++)
		kv->free_list[i] = n_blocks - 1 - i;
	kv->n_clean = kv->n_free = n_blocks;
	for (int32_t i = 0; i < kv->n_buckets; i++)
		kv->bucket[i] = -1;
	kv->lru_head = kv->lru_tail = -1;
	return kv;
}

struct kv_cache *
kv_cache_new(int32_t n_layer, int32_t kv_dim, int32_t n_blocks, enum kv_type type, char *err)
{
	return cache_new(n_layer, kv_dim, n_blocks, type, false, err);
}

struct kv_cache *
kv_cache_new_latent(int32_t n_layer, int32_t row_dim, int32_t n_blocks, enum kv_type type, char *err)
{
	return cache_new(n_layer, row_dim, n_blocks, type, true, err);
}

void
kv_cache_free(struct kv_cache *kv)
{
	if (!kv)
		return;
	free(kv->k);
	free(kv->v);
	free(kv->k_q8_0);
	free(kv->v_q8_0);
	free(kv->kmin);
	free(kv->kmax);
	free(kv->refcount);
	free(kv->free_list);
	free(kv->hash);
	free(kv->tokens);
	free(kv->bucket);
	free(kv->chain);
	free(kv->lru_prev);
	free(kv->lru_next);
	free(kv);
}

/* ---- the prefix index ---------------------------------------------------- */

static void
lru_unlink(struct kv_cache *kv, int32_t b)
{
	int32_t		prev = kv->lru_prev[b];
	int32_t		next = kv->lru_next[b];

	if (prev >= 0)
		kv->lru_next[prev] = next;
	else
		kv->lru_head = next;
	if (next >= 0)
		kv->lru_prev[next] = prev;
	else
		kv->lru_tail = prev;
}

static void
lru_append(struct kv_cache *kv, int32_t b)
{
	kv->lru_prev[b] = kv->lru_tail;
	kv->lru_next[b] = -1;
	if (kv->lru_tail >= 0)
		kv->lru_next[kv->lru_tail] = b;
	else
		kv->lru_head = b;
	kv->lru_tail = b;
}

static int32_t *
bucket_of(struct kv_cache *kv, uint64_t hash)
{
	return &kv->bucket[hash & (uint64_t) (kv->n_buckets - 1)];
}

static void
prefix_forget(struct kv_cache *kv, int32_t b)
{
	int32_t    *link = bucket_of(kv, kv->hash[b]);

	while (*link != b)
		link = &kv->chain[*link];
	*link = kv->chain[b];
	kv->hash[b] = 0;
}

uint64_t
kv_prefix_hash(uint64_t parent, const int32_t *tokens)
{
	/* FNV-1a over the parent hash and the token ids */
	uint64_t	h = 0xcbf29ce484222325ull ^ parent;

	for (int i = 0; i < KV_BLOCK_TOKENS; i++)
		for (int byte = 0; byte < 4; byte++)
		{
			h ^= ((uint32_t) tokens[i] >> (8 * byte)) & 0xff;
			h *= 0x100000001b3ull;
		}
	return h ? h : 1;
}

static int32_t
prefix_find(struct kv_cache *kv, uint64_t hash, const int32_t *tokens)
{
	for (int32_t b = *bucket_of(kv, hash); b >= 0; b = kv->chain[b])
		if (kv->hash[b] == hash &&
			memcmp(kv->tokens + (size_t) b * KV_BLOCK_TOKENS, tokens,
				   KV_BLOCK_TOKENS * sizeof(int32_t)) == 0)
			return b;
	return -1;
}

void
kv_prefix_register(struct kv_cache *kv, int32_t block, uint64_t hash, const int32_t *tokens)
{
	int32_t    *head;

	if (kv->hash[block] != 0 || prefix_find(kv, hash, tokens) >= 0)
		return;
	memcpy(kv->tokens + (size_t) block * KV_BLOCK_TOKENS, tokens, KV_BLOCK_TOKENS * sizeof(int32_t));
	kv->hash[block] = hash;
	head = bucket_of(kv, hash);
	kv->chain[block] = *head;
	*head = block;
}

int32_t
kv_prefix_lookup(struct kv_cache *kv, uint64_t hash, const int32_t *tokens)
{
	int32_t		b = prefix_find(kv, hash, tokens);

	if (b < 0)
		return -1;
	if (kv->refcount[b] == 0)
	{
		lru_unlink(kv, b);
		kv->n_free--;
	}
	kv->refcount[b]++;
	return b;
}

/* ---- blocks ----------------------------------------------------------------- */

int32_t
kv_block_alloc(struct kv_cache *kv)
{
	int32_t		b;

	if (kv->n_clean > 0)
		b = kv->free_list[--kv->n_clean];
	else if (kv->lru_head >= 0)
	{
		b = kv->lru_head;		/* evict the oldest cached prefix */
		lru_unlink(kv, b);
		prefix_forget(kv, b);
	}
	else
		return -1;
	kv->n_free--;
	kv->refcount[b] = 1;
	for (int32_t l = 0; l < kv->n_layer; l++)
	{
		size_t		off = ((size_t) l * kv->n_blocks + b) * kv->kv_dim;

		for (int32_t i = 0; i < kv->kv_dim; i++)
		{
			kv->kmin[off + i] = INFINITY;
			kv->kmax[off + i] = -INFINITY;
		}
	}
	return b;
}

void
kv_block_release(struct kv_cache *kv, int32_t block)
{
	if (--kv->refcount[block] > 0)
		return;
	if (kv->hash[block] != 0)
		lru_append(kv, block);	/* keep the prefix until its space is needed */
	else
		kv->free_list[kv->n_clean++] = block;
	kv->n_free++;
}

int32_t
kv_blocks_in_use(const struct kv_cache *kv)
{
	return kv->n_blocks - kv->n_free;
}

static int
seq_grow(struct kv_seq *seq, int32_t need)
{
	if (need > seq->cap)
	{
		int32_t		cap = need < 2 * seq->cap ? 2 * seq->cap : need;
		int32_t    *blocks = realloc(seq->blocks, cap * sizeof(int32_t));

		if (!blocks)
			return -1;
		seq->blocks = blocks;
		seq->cap = cap;
	}
	return 0;
}

int
kv_seq_reserve(struct kv_cache *kv, struct kv_seq *seq, int32_t n_tokens)
{
	int32_t		need = (n_tokens + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;

	if (need <= seq->n_blocks)
		return 0;
	if (need - seq->n_blocks > kv->n_free || seq_grow(seq, need) != 0)
		return -1;
	while (seq->n_blocks < need)
		seq->blocks[seq->n_blocks++] = kv_block_alloc(kv);
	return 0;
}

int
kv_seq_append_block(struct kv_seq *seq, int32_t block)
{
	if (seq_grow(seq, seq->n_blocks + 1) != 0)
		return -1;
	seq->blocks[seq->n_blocks++] = block;
	seq->n_tokens = seq->n_blocks * KV_BLOCK_TOKENS;
	return 0;
}

void
kv_seq_release(struct kv_cache *kv, struct kv_seq *seq)
{
	for (int32_t i = 0; i < seq->n_blocks; i++)
		kv_block_release(kv, seq->blocks[i]);
	free(seq->blocks);
	seq->blocks = NULL;
	seq->n_blocks = seq->cap = seq->n_tokens = 0;
}

/* Widen a summary element by a key element as attention will read it. */
static inline void
widen(float *kmin, float *kmax, float stored)
{
	*kmin = fminf(*kmin, stored);
	*kmax = fmaxf(*kmax, stored);
}

static void
store_f16(struct kv_cache *kv, size_t row, const float *key, const float *value,
		  float *kmin, float *kmax)
{
	uint16_t   *k = kv->k + row;

	for (int32_t i = 0; i < kv->kv_dim; i++)
	{
		k[i] = f32_to_f16(key[i]);
		widen(kmin + i, kmax + i, f16_to_f32(k[i]));
	}
	if (value)
		for (int32_t i = 0; i < kv->kv_dim; i++)
			kv->v[row + i] = f32_to_f16(value[i]);
}

static void
store_q8_0(struct kv_cache *kv, size_t row, const float *key, const float *value,
		   float *kmin, float *kmax)
{
	struct block_q8_0 *k = kv->k_q8_0 + row / QK8_0;

	quantize_row_act(DTYPE_Q8_0, key, k, kv->kv_dim);
	if (value)
		quantize_row_act(DTYPE_Q8_0, value, kv->v_q8_0 + row / QK8_0, kv->kv_dim);
	for (int32_t b = 0; b < kv->kv_dim / QK8_0; b++)
	{
		float		stored[QK8_0];

		dequantize_row(DTYPE_Q8_0, k + b, stored, QK8_0);
		for (int32_t i = 0; i < QK8_0; i++)
			widen(kmin + b * QK8_0 + i, kmax + b * QK8_0 + i, stored[i]);
	}
}

void
kv_store(struct kv_cache *kv, int32_t layer, const struct kv_seq *seq, int32_t pos,
		 const float *key, const float *value)
{
	size_t		row = kv_row_offset(kv, layer, seq, pos);
	size_t		sum = ((size_t) layer * kv->n_blocks + seq->blocks[pos / KV_BLOCK_TOKENS]) * kv->kv_dim;

	if (kv->type == KV_Q8_0)
		store_q8_0(kv, row, key, value, kv->kmin + sum, kv->kmax + sum);
	else
		store_f16(kv, row, key, value, kv->kmin + sum, kv->kmax + sum);
}
