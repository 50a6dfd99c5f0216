/*
 * kv_cache.c — block pool, reference counts and per-block key summaries.
 */
#include "kv_cache.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "f16.h"

size_t
kv_block_bytes(int32_t n_layer, int32_t kv_dim)
{
	/* keys and values in F16, plus the min/max summary in F32 */
	return (size_t) n_layer * kv_dim * (2 * KV_BLOCK_TOKENS * sizeof(uint16_t) + 2 * sizeof(float));
}

struct kv_cache *
kv_cache_new(int32_t n_layer, int32_t kv_dim, int32_t n_blocks, char *err)
{
	struct kv_cache *kv = calloc(1, sizeof *kv);
	size_t		rows = (size_t) n_layer * n_blocks * KV_BLOCK_TOKENS * kv_dim;
	size_t		sums = (size_t) n_layer * n_blocks * kv_dim;

	if (n_blocks < 1)
	{
		free(kv);
		err_set(err, "kv cache: the pool needs at least one block");
		return NULL;
	}
	if (kv)
	{
		kv->n_layer = n_layer;
		kv->kv_dim = kv_dim;
		kv->n_blocks = n_blocks;
		kv->k = malloc(rows * sizeof(uint16_t));
		kv->v = malloc(rows * sizeof(uint16_t));
		kv->kmin = malloc(sums * sizeof(float));
		kv->kmax = malloc(sums * sizeof(float));
		kv->refcount = calloc(n_blocks, sizeof(int32_t));
		kv->free_list = malloc(n_blocks * sizeof(int32_t));
	}
	if (!kv || !kv->k || !kv->v || !kv->kmin || !kv->kmax || !kv->refcount || !kv->free_list)
	{
		kv_cache_free(kv);
		err_set(err, "kv cache: out of memory for %d blocks", n_blocks);
		return NULL;
	}
	/* hand out low block ids first */
	for (int32_t i = 0; i < n_blocks; i++)
		kv->free_list[i] = n_blocks - 1 - i;
	kv->n_free = n_blocks;
	return kv;
}

void
kv_cache_free(struct kv_cache *kv)
{
	if (!kv)
		return;
	free(kv->k);
	free(kv->v);
	free(kv->kmin);
	free(kv->kmax);
	free(kv->refcount);
	free(kv->free_list);
	free(kv);
}

int32_t
kv_block_alloc(struct kv_cache *kv)
{
	int32_t		b;

	if (kv->n_free == 0)
		return -1;
	b = kv->free_list[--kv->n_free];
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
kv_block_retain(struct kv_cache *kv, int32_t block)
{
	kv->refcount[block]++;
}

void
kv_block_release(struct kv_cache *kv, int32_t block)
{
	if (--kv->refcount[block] == 0)
		kv->free_list[kv->n_free++] = block;
}

int32_t
kv_blocks_in_use(const struct kv_cache *kv)
{
	return kv->n_blocks - kv->n_free;
}

int
kv_seq_reserve(struct kv_cache *kv, struct kv_seq *seq, int32_t n_tokens)
{
	int32_t		need = (n_tokens + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;

	if (need <= seq->n_blocks)
		return 0;
	if (need - seq->n_blocks > kv->n_free)
		return -1;
	if (need > seq->cap)
	{
		int32_t		cap = need < 2 * seq->cap ? 2 * seq->cap : need;
		int32_t    *blocks = realloc(seq->blocks, cap * sizeof(int32_t));

		if (!blocks)
			return -1;
		seq->blocks = blocks;
		seq->cap = cap;
	}
	while (seq->n_blocks < need)
		seq->blocks[seq->n_blocks++] = kv_block_alloc(kv);
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

void
kv_store(struct kv_cache *kv, int32_t layer, const struct kv_seq *seq, int32_t pos,
		 const float *key, const float *value)
{
	size_t		row = kv_row_offset(kv, layer, seq, pos);
	size_t		sum = ((size_t) layer * kv->n_blocks + seq->blocks[pos / KV_BLOCK_TOKENS]) * kv->kv_dim;
	uint16_t   *k = kv->k + row;
	uint16_t   *v = kv->v + row;
	float	   *kmin = kv->kmin + sum;
	float	   *kmax = kv->kmax + sum;

	for (int32_t i = 0; i < kv->kv_dim; i++)
	{
		float		stored;

		k[i] = f32_to_f16(key[i]);
		v[i] = f32_to_f16(value[i]);
		/* the summary bounds what attention will actually read */
		stored = f16_to_f32(k[i]);
		kmin[i] = fminf(kmin[i], stored);
		kmax[i] = fmaxf(kmax[i], stored);
	}
}
