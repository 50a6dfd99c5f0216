/*
 * perplexity.h — teacher-forced scoring of a text, as llama.cpp's
 * llama-perplexity does it: a window of tokens is one fresh sequence, the
 * logits of its second half are computed in one pass, and each row is
 * turned into the log-probability of the token that follows, or into the
 * top entries of its distribution for a KL-divergence comparison
 * (`deepseek-r1 perplexity`, docs/architecture.md "Perplexity and KL
 * divergence").
 */
#ifndef DR1_PERPLEXITY_H
#define DR1_PERPLEXITY_H

#include <stdint.h>

#include "forward.h"

/* The largest k ppl_top_k and ppl_kl_topk take (their id arrays are on the stack). */
#define PPL_TOP_MAX 1024

/* One entry of a distribution: a token and its log-probability. */
struct ppl_entry
{
	int32_t		id;
	float		logp;
};

/*
 * A row's log-softmax as llama-perplexity computes it: log p(i) =
 * (logits[i] - max) - log_sum, where log_sum = log of the sum, in double,
 * of expf(logits[j] - max).  The same rounding as theirs, so that the
 * perplexities agree to the digits the logits do.
 */
struct ppl_row
{
	float		max;
	double		sum;			/* sum of expf(logits[j] - max) */
	double		log_sum;
};

void		ppl_row_stats(const float *logits, int32_t n_vocab, struct ppl_row *r);
double		ppl_logp(const float *logits, const struct ppl_row *r, int32_t tok);

/*
 * The k largest entries of the row, largest first (equal logits: lower id
 * first), into out[k]; returns the log of the mass outside them (-inf
 * when there is none).  k <= n_vocab; above PPL_TOP_MAX, PPL_TOP_MAX.
 */
double		ppl_top_k(const float *logits, int32_t n_vocab, const struct ppl_row *r, int32_t k,
					  struct ppl_entry *out);

/*
 * KL(P || Q) of a saved distribution P (its top k entries and the log of
 * the mass outside them) and the row Q, over k + 1 buckets: the k tokens
 * and one bucket for all the others.  Merging outcomes can only lower a
 * divergence, so this is a lower bound of the full KL, equal to it when P
 * has no mass outside its top k; with k = 32 the rest of P is small on a
 * real text and the gap with it.
 */
double		ppl_kl_topk(const struct ppl_entry *p, int32_t k, double p_log_rest, const float *logits,
						int32_t n_vocab, const struct ppl_row *q);

/*
 * Logits rows of a window, handed to fn one at a time: pos is the row's
 * position in the window (first..n-1; row pos predicts tokens[pos + 1]).
 * fn returns 0, or -1 with err set, which ends the window.
 */
typedef int (*ppl_row_fn) (void *arg, int32_t pos, const float *logits, char *err);

/* How many rows of n_vocab floats ppl_window's buf must hold. */
int32_t		ppl_window_rows(const struct infer_ctx *ic, int32_t n, int32_t first);

/*
 * tokens[0..n) as one fresh sequence in chunks of at most the context's
 * batch capacity (llama.cpp's micro-batches: its default 512 is ours), the
 * rows from position first on computed as that sequence's outputs
 * (infer_forward_rows).  Sparse attention as sparse says, for every token
 * of the window: teacher forcing measures it as decode would use it.
 * Returns 0 or -1 with err set; the sequence is released either way.
 * CPU only.
 */
int			ppl_window(struct infer_ctx *ic, const int32_t *tokens, int32_t n, int32_t first,
					   const struct sparse_config *sparse, float *buf, ppl_row_fn fn, void *arg,
					   char *err);

#endif
