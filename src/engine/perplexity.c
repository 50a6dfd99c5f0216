/*
 * perplexity.c — a window's logits and the statistics of its rows (see
 * perplexity.h).
 */
#include "perplexity.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "error.h"

void
ppl_row_stats(const float *logits, int32_t n_vocab, struct ppl_row *r)
{
	float		max = logits[0];
	double		sum = 0.0;

	for (int32_t i = 1; i < n_vocab; i++)
		max = logits[i] > max ? logits[i] : max;
	for (int32_t i = 0; i < n_vocab; i++)
		sum += expf(logits[i] - max);
	r->max = max;
	r->sum = sum;
	r->log_sum = log(sum);
}

/* llama-perplexity's log_softmax: the float difference, then the double log */
double
ppl_logp(const float *logits, const struct ppl_row *r, int32_t tok)
{
	return (double) (logits[tok] - r->max) - r->log_sum;
}

static int
cmp_id(const void *a, const void *b)
{
	int32_t		x = *(const int32_t *) a;
	int32_t		y = *(const int32_t *) b;

	return (x > y) - (x < y);
}

/*
 * The log of the mass of the row outside the k ids of set (any order):
 * the terms of r->sum that are not theirs, added in the same order, so
 * that a tail of 1e-9 is not lost in 1 - (sum of the top).
 */
static double
log_rest(const float *logits, int32_t n_vocab, const struct ppl_row *r,
		 const struct ppl_entry *set, int32_t k)
{
	int32_t		ids[PPL_TOP_MAX];
	double		rest = 0.0;
	int32_t		j = 0;

	for (int32_t i = 0; i < k; i++)
		ids[i] = set[i].id;
	qsort(ids, k, sizeof ids[0], cmp_id);
	for (int32_t i = 0; i < n_vocab; i++)
	{
		if (j < k && ids[j] == i)
		{
			while (j < k && ids[j] == i)
				j++;
			continue;
		}
		rest += expf(logits[i] - r->max);
	}
	return rest > 0.0 ? log(rest) - r->log_sum : -INFINITY;
}

double
ppl_top_k(const float *logits, int32_t n_vocab, const struct ppl_row *r, int32_t k,
		  struct ppl_entry *out)
{
	int32_t		n = 0;

	if (k > PPL_TOP_MAX)
		k = PPL_TOP_MAX;
	/* insertion into a sorted array: after the first few hundred ids, few
	 * logits beat the k-th and the scan is a comparison per id */
	for (int32_t i = 0; i < n_vocab; i++)
	{
		float		v = logits[i];
		int32_t		at;

		if (n == k && !(v > logits[out[k - 1].id]))
			continue;
		at = n < k ? n++ : k - 1;
		/* strictly greater moves ahead: equal logits keep the lower id first */
		while (at > 0 && logits[out[at - 1].id] < v)
		{
			out[at] = out[at - 1];
			at--;
		}
		out[at].id = i;
	}
	for (int32_t i = 0; i < n; i++)
		out[i].logp = (float) ppl_logp(logits, r, out[i].id);
	return log_rest(logits, n_vocab, r, out, n);
}

/*
 * Each log-probability is rounded to float before the difference, as the
 * saved one was: a row compared with itself gives exactly 0.
 */
double
ppl_kl_topk(const struct ppl_entry *p, int32_t k, double p_log_rest, const float *logits,
			int32_t n_vocab, const struct ppl_row *q)
{
	double		kl = 0.0;
	double		q_rest;

	if (k > PPL_TOP_MAX)
		k = PPL_TOP_MAX;
	for (int32_t i = 0; i < k; i++)
	{
		double		lp = p[i].logp;
		double		lq = (float) ppl_logp(logits, q, p[i].id);

		kl += exp(lp) * (lp - lq);
	}
	if (p_log_rest > -INFINITY)
	{
		p_log_rest = (float) p_log_rest;
		q_rest = (float) log_rest(logits, n_vocab, q, p, k);
		/* a rest that underflowed: the smallest double, not an infinite KL */
		if (q_rest < log(DBL_MIN))
			q_rest = log(DBL_MIN);
		kl += exp(p_log_rest) * (p_log_rest - q_rest);
	}
	return kl;
}

int32_t
ppl_window_rows(const struct infer_ctx *ic, int32_t n, int32_t first)
{
	int32_t		rows = n - first;

	if (rows < 1)
		return 1;
	return rows < ic->max_batch_tokens ? rows : ic->max_batch_tokens;
}

static int
window_chunks(struct infer_ctx *ic, struct kv_seq *seq, const int32_t *tokens, int32_t n,
			  int32_t first, const struct sparse_config *sparse, float *buf, ppl_row_fn fn,
			  void *arg, char *err)
{
	int32_t		n_vocab = ic->model->hp.n_vocab;

	for (int32_t c0 = 0; c0 < n; c0 += ic->max_batch_tokens)
	{
		int32_t		len = n - c0 < ic->max_batch_tokens ? n - c0 : ic->max_batch_tokens;
		int32_t		out_from = first - c0;
		int			rc;

		out_from = out_from < 0 ? 0 : out_from > len ? len : out_from;
		rc = infer_forward_rows(ic, &(struct seq_batch) {
			.seq = seq, .tokens = tokens + c0, .n_tokens = len, .sparse = *sparse
		}, out_from, buf, err);
		if (rc == FORWARD_NO_KV_SPACE)
			return err_set(err, "perplexity: the KV cache cannot hold a window of %d tokens", n);
		if (rc != 0)
			return -1;
		for (int32_t r = 0; r < len - out_from; r++)
			if (fn(arg, c0 + out_from + r, buf + (size_t) r * n_vocab, err) != 0)
				return -1;
	}
	return 0;
}

int
ppl_window(struct infer_ctx *ic, const int32_t *tokens, int32_t n, int32_t first,
		   const struct sparse_config *sparse, float *buf, ppl_row_fn fn, void *arg, char *err)
{
	struct kv_seq seq = {0};
	int			rc;

	if (n < 1 || first < 0)
		return err_set(err, "perplexity: empty window");
	rc = window_chunks(ic, &seq, tokens, n, first, sparse, buf, fn, arg, err);
	kv_seq_release(ic->kv, &seq);
	return rc;
}
