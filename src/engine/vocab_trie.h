/*
 * vocab_trie.h — the model's vocabulary as a byte trie, for walking every
 * token through a byte automaton at once (the JSON token mask).
 *
 * Nodes are numbered in depth-first order, so a node's subtree is the
 * range [i, end[i]), and its tokens, listed in the same order, are
 * ids[tok_lo[i] .. tok_lo[end[i]]).  Tokens that stand for no bytes
 * (control tokens) are left out: they can never continue a text.
 */
#ifndef DR1_VOCAB_TRIE_H
#define DR1_VOCAB_TRIE_H

#include <stdint.h>

#define VOCAB_TRIE_NOT_PLAIN UINT16_MAX

struct tokenizer;

struct vocab_trie
{
	int32_t		n_vocab;
	uint32_t	n_nodes;		/* node 0 is the root, the empty prefix */
	uint8_t    *byte;			/* the byte leading to node i */
	uint32_t   *end;			/* one past the subtree of node i */
	uint32_t   *tok_lo;			/* n_nodes + 1 entries; tokens of node i itself are
								 * ids[tok_lo[i] .. tok_lo[i + 1]) */
	/* when every token below node i continues with whole valid UTF-8
	 * characters, none of them a control character, '"' or '\\': the most
	 * characters any of them adds; else VOCAB_TRIE_NOT_PLAIN */
	uint16_t   *plain_extra;
	int32_t    *ids;
	uint32_t	n_ids;
	uint32_t	max_len;		/* bytes of the longest token */
};

/* Built from the tokenizer's pieces (memory: alloc.h; cannot fail). */
struct vocab_trie *vocab_trie_new(const struct tokenizer *t);
void		vocab_trie_free(struct vocab_trie *t);

#endif
