/*
 * kv_cache.h — the paged key/value cache.
 *
 * One pool of fixed-size blocks shared by every sequence; a sequence owns
 * a table of block ids.  Keys and values are stored as F16 (what llama.cpp
 * stores by default, which keeps attention numerically the same) or, on
 * request, in llama.cpp's q8_0 blocks.  Blocks are reference counted so
 * that sequences can share a common prefix.
 *
 * A latent cache (deepseek2's multi-head latent attention) keeps one row per
 * position and layer, the compressed KV latent followed by the RoPE part of
 * the key: attention reads it as the key, and its leading elements as the
 * value, so there are no value rows.
 *
 * Each block also keeps, per layer, the element-wise minimum and maximum of
 * the keys written into it (after RoPE, as stored): the summary that sparse
 * attention uses to bound q.k for the whole block without reading it.
 *
 * Prefix sharing: a full block of prompt tokens can be registered under a
 * hash of all the tokens before and in it; a later sequence whose prompt
 * starts the same finds it and shares it instead of computing it again.  A
 * registered block that no sequence uses any more stays cached (least
 * recently freed first out) until its space is needed.
 */
#ifndef DR1_KV_CACHE_H
#define DR1_KV_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dr1_limits.h"
#include "qblocks.h"

#define KV_BLOCK_TOKENS DR1_KV_BLOCK_TOKENS

/* How keys and values are stored: F16 (llama.cpp's default), or in
 * llama.cpp's q8_0 blocks (32 int8 and one F16 scale), half the memory. */
enum kv_type
{
	KV_F16,
	KV_Q8_0
};

/* "f16" or "q8_0"; -1 for anything else. */
int			kv_type_parse(const char *s, enum kv_type *type);
const char *kv_type_name(enum kv_type type);

struct kv_cache
{
	int32_t		n_layer;
	int32_t		kv_dim;			/* n_head_kv * head_dim */
	int32_t		n_blocks;
	enum kv_type type;
	bool		latent;			/* key rows only: v and v_q8_0 are NULL */
	/* the rows of one type, the other pair NULL */
	uint16_t   *k;				/* F16: [n_layer][n_blocks][KV_BLOCK_TOKENS][kv_dim] */
	uint16_t   *v;				/* same layout */
	struct block_q8_0 *k_q8_0;	/* q8_0: the same rows, kv_dim / QK8_0 blocks each */
	struct block_q8_0 *v_q8_0;
	float	   *kmin;			/* [n_layer][n_blocks][kv_dim] */
	float	   *kmax;
	int32_t    *refcount;		/* [n_blocks]; 0 = free */
	int32_t    *free_list;		/* stack of free blocks holding no prefix */
	int32_t		n_clean;		/* entries in free_list */
	int32_t		n_free;			/* free blocks: clean ones and cached prefixes */

	/* prefix index: see kv_prefix_register */
	uint64_t   *hash;			/* [n_blocks]; 0 = not registered */
	int32_t    *tokens;			/* [n_blocks][KV_BLOCK_TOKENS], to confirm a hash match */
	int32_t    *bucket;			/* [n_buckets] first block of each hash chain, -1 */
	int32_t    *chain;			/* [n_blocks] next block in the same chain, -1 */
	int32_t		n_buckets;		/* a power of two */
	int32_t    *lru_prev;		/* [n_blocks] free registered blocks, oldest first */
	int32_t    *lru_next;
	int32_t		lru_head;
	int32_t		lru_tail;
};

/* A sequence's view of the cache: positions 0..n_tokens-1 live in
 * blocks[pos / KV_BLOCK_TOKENS] at slot pos % KV_BLOCK_TOKENS. */
struct kv_seq
{
	int32_t    *blocks;
	int32_t		n_blocks;
	int32_t		cap;
	int32_t		n_tokens;
};

/* Bytes one block takes for a model shape and a type; used to size the pool. */
size_t		kv_block_bytes(int32_t n_layer, int32_t kv_dim, enum kv_type type);

/* The same for a latent cache of rows of row_dim elements. */
size_t		kv_latent_block_bytes(int32_t n_layer, int32_t row_dim, enum kv_type type);

/* q8_0 needs kv_dim a multiple of QK8_0 (and attention a head_dim that is). */
struct kv_cache *kv_cache_new(int32_t n_layer, int32_t kv_dim, int32_t n_blocks,
							  enum kv_type type, char *err);
struct kv_cache *kv_cache_new_latent(int32_t n_layer, int32_t row_dim, int32_t n_blocks,
									 enum kv_type type, char *err);
void		kv_cache_free(struct kv_cache *kv);

int32_t		kv_block_alloc(struct kv_cache *kv);	/* -1 when the pool is empty */
void		kv_block_release(struct kv_cache *kv, int32_t block);
int32_t		kv_blocks_in_use(const struct kv_cache *kv);

/* Make room for n_tokens positions in total.  All or nothing: -1 leaves the
 * sequence unchanged when the pool has too few free blocks. */
int			kv_seq_reserve(struct kv_cache *kv, struct kv_seq *seq, int32_t n_tokens);
void		kv_seq_release(struct kv_cache *kv, struct kv_seq *seq);

/* Where position pos of a sequence keeps its key / value row in a layer, in
 * elements: an index into k and v, or QK8_0 times one into k_q8_0, v_q8_0. */
static inline size_t
kv_row_offset(const struct kv_cache *kv, int32_t layer, const struct kv_seq *seq, int32_t pos)
{
	size_t		block = (size_t) seq->blocks[pos / KV_BLOCK_TOKENS];

	return (((size_t) layer * kv->n_blocks + block) * KV_BLOCK_TOKENS
			+ pos % KV_BLOCK_TOKENS) * kv->kv_dim;
}

/* Give a sequence one more block (already retained by the caller), holding
 * its next KV_BLOCK_TOKENS positions. */
int			kv_seq_append_block(struct kv_seq *seq, int32_t block);

/* The hash of a block of tokens following a prefix whose hash is parent
 * (0 for the first block).  Never 0. */
uint64_t	kv_prefix_hash(uint64_t parent, const int32_t *tokens);

/* Register a full block of a sequence under hash (its tokens given for
 * confirmation).  A block already registered, or a hash already present,
 * is left as it is. */
void		kv_prefix_register(struct kv_cache *kv, int32_t block, uint64_t hash, const int32_t *tokens);

/* The block registered under hash with these tokens, retained for the
 * caller; -1 if none. */
int32_t		kv_prefix_lookup(struct kv_cache *kv, uint64_t hash, const int32_t *tokens);

/* Write the key and value of one position (kv_dim floats each), rounding to
 * F16 or quantizing to q8_0, and widen the block's key summary over the key
 * as stored.  A latent cache takes the row as key and value NULL. */
void		kv_store(struct kv_cache *kv, int32_t layer, const struct kv_seq *seq, int32_t pos,
					 const float *key, const float *value);

#endif
