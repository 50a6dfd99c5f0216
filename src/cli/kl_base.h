/*
 * kl_base.h — the file `deepseek-r1 perplexity --kl-base-save` writes and
 * `--kl-base` compares against: a reference model's next-token
 * distributions over a text, cut to their top k entries.
 *
 * Layout, every field little-endian:
 *   header (40 bytes): magic "DR1KLBAS", u32 version (1), u32 n_vocab,
 *     u32 ctx, u32 k, u32 chunks, u32 positions, u64 tokens_hash
 *   then one record per scored position, in order (8 + 8k bytes):
 *     f32 logp of the text's next token, f32 log of the mass outside the
 *     top k (-inf if none), k x (u32 id, f32 logp), largest first
 * positions = chunks * (ctx - 1 - ctx/2); tokens_hash is FNV-1a over the
 * ids of every window as evaluated (BOS in place), so a base made from
 * another text, tokenizer or window is refused.  Everything read is
 * checked: a truncated or damaged file is an error, never a crash.
 */
#ifndef DR1_KL_BASE_H
#define DR1_KL_BASE_H

#include <stdint.h>
#include <stdio.h>

#include "perplexity.h"

#define KL_BASE_HEADER_BYTES 40

struct kl_base_header
{
	uint32_t	n_vocab;
	uint32_t	ctx;
	uint32_t	k;
	uint32_t	chunks;
	uint32_t	positions;
	uint64_t	tokens_hash;
};

/* One position: top has header.k entries (the caller's array). */
struct kl_base_record
{
	float		target_logp;
	float		log_rest;
	struct ppl_entry *top;
};

/* FNV-1a over the ids, continuing from h (start with KL_HASH_INIT). */
#define KL_HASH_INIT 0xcbf29ce484222325ULL
uint64_t	kl_hash_ids(uint64_t h, const int32_t *ids, int32_t n);

/* Scored positions of a window of ctx tokens (llama-perplexity's). */
int32_t		kl_positions_per_chunk(int32_t ctx);

/*
 * Writing: kl_base_create writes the header, kl_base_put one record.
 * Each returns 0 or -1 with err set.
 */
FILE	   *kl_base_create(const char *path, const struct kl_base_header *h, char *err);
int			kl_base_put(FILE *f, const struct kl_base_record *r, uint32_t k, char *err);

/*
 * Reading: kl_base_open checks the header and the file's size against it
 * (n_vocab: the model's), kl_base_get reads and checks one record.
 */
FILE	   *kl_base_open(const char *path, int32_t n_vocab, struct kl_base_header *h, char *err);
int			kl_base_get(FILE *f, const struct kl_base_header *h, struct kl_base_record *r,
						char *err);

#endif
