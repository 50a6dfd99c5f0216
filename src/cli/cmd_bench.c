/*
 * cmd_bench.c — `deepseek-r1 bench`: prefill and decode speed, measured as
 * llama-bench does (pp: one batch of PROMPT_TOKENS in a fresh sequence;
 * tg: GEN_TOKENS single-token steps from an empty sequence).  With
 * --parallel N, tg decodes N sequences in lockstep, one batch of N tokens a
 * step, and reports their aggregate rate: the gain of batched decoding.
 * -c CTX sizes the context (and each sequence's KV cache) as a run with
 * that context would have it; by default it is just large enough.  With
 * -d DEPTH the decode steps start after a context of DEPTH tokens
 * (prefilled first, not timed), where --sparse and --kv-type show;
 * --random-kv fills that context with random keys and values instead, for
 * the speed of decode deep into contexts whose prefill would take long.
 */
#include <stdlib.h>

#include "cli.h"
#include "cli_util.h"
#include "error.h"
#include "forward.h"
#include "gen_request.h"

/* Tokens for the benchmark: any valid ids will do, as in llama-bench. */
static int32_t *
bench_tokens(int32_t n, int32_t n_vocab)
{
	int32_t    *ids = malloc(n * sizeof(int32_t));

	for (int32_t i = 0; ids && i < n; i++)
		ids[i] = (int32_t) ((i * 7919u + 13u) % (uint32_t) n_vocab);
	return ids;
}

/* ids[from..to) into each of n_seqs sequences, step tokens a pass */
static int
feed(struct infer_ctx *ic, struct kv_seq *seqs, struct seq_batch *b, const int32_t *ids,
	 int32_t from, int32_t to, int32_t step, int32_t n_seqs, const struct sparse_config *sparse,
	 float *logits, char *err)
{
	int			rc = 0;

	for (int32_t done = from; done < to && rc == 0; done += step)
	{
		int32_t		k = to - done < step ? to - done : step;

		for (int32_t i = 0; i < n_seqs; i++)
			b[i] = (struct seq_batch) {&seqs[i], ids + done, k, true, *sparse};
		rc = infer_forward(ic, b, n_seqs, logits, err);
		if (rc == FORWARD_NO_KV_SPACE)
			rc = err_set(err, "the KV cache is too small for the benchmark");
	}
	return rc;
}

/*
 * depth positions of random keys and values in every layer of seq, as if a
 * prompt had been computed: the decode steps after it do the same work as
 * after a real one (a sparse step reads its budget whatever the keys), in
 * seconds instead of the prefill's minutes.  The answers mean nothing.
 */
static int
fill_random(struct infer_ctx *ic, struct kv_seq *seq, int32_t depth, char *err)
{
	int32_t		kv_dim = ic->kv->kv_dim;
	float	   *row = malloc(2 * sizeof(float) * kv_dim);
	uint32_t	x = 12345u;

	if (!row)
		return err_set(err, "out of memory");
	if (kv_seq_reserve(ic->kv, seq, depth) != 0)
	{
		free(row);
		return err_set(err, "the KV cache is too small for the benchmark");
	}
	for (int32_t pos = 0; pos < depth; pos++)
		for (int32_t l = 0; l < ic->kv->n_layer; l++)
		{
			for (int32_t i = 0; i < 2 * kv_dim; i++)
				row[i] = (float) ((x = x * 1664525u + 1013904223u) >> 8) / (1 << 23) - 1.0f;
			kv_store(ic->kv, l, seq, pos, row, row + kv_dim);
		}
	seq->n_tokens = depth;
	free(row);
	return 0;
}

/* n tokens into each of n_seqs sequences holding depth tokens already
 * (a dense prefill, or random with random_kv; not timed), step tokens a pass */
static int
run_steps(struct infer_ctx *ic, const int32_t *ids, int32_t depth, bool random_kv, int32_t n,
		  int32_t step, int32_t n_seqs, const struct sparse_config *sparse, float *logits,
		  double *seconds, char *err)
{
	struct kv_seq *seqs = calloc(n_seqs, sizeof *seqs);
	struct seq_batch *b = calloc(n_seqs, sizeof *b);
	double		t0 = 0;
	int			rc = seqs && b ? 0 : err_set(err, "out of memory");

	for (int32_t i = 0; i < n_seqs && rc == 0; i++)
		rc = random_kv ? fill_random(ic, &seqs[i], depth, err)
			: feed(ic, &seqs[i], b, ids, 0, depth, ic->max_batch_tokens, 1,
				   &(struct sparse_config) {0}, logits, err);
	t0 = clock_seconds();
	if (rc == 0)
		rc = feed(ic, seqs, b, ids, depth, depth + n, step, n_seqs, sparse, logits, err);
	*seconds = clock_seconds() - t0;
	for (int32_t i = 0; seqs && i < n_seqs; i++)
		kv_seq_release(ic->kv, &seqs[i]);
	free(seqs);
	free(b);
	return rc;
}

/* A pass holds the prompt, a step of every sequence, and a chunk of the depth's prefill. */
static int32_t
batch_tokens(int32_t n_pp, int32_t n_par, int32_t depth)
{
	int32_t		n = n_pp > n_par ? n_pp : n_par;

	return depth > 0 && n < INFER_DEFAULT_BATCH_TOKENS ? INFER_DEFAULT_BATCH_TOKENS : n;
}

int
cmd_bench(const struct cli_opts *o)
{
	char		err[ERR_MAX];
	int32_t		n_pp = o->n_prompt > 0 ? o->n_prompt : 128;
	int32_t		n_tg = o->n_predict > 0 ? o->n_predict : 32;
	int32_t		n_ctx = o->depth + (n_pp > n_tg ? n_pp : n_tg) + 1;
	struct sparse_config sparse = cli_sparse(o);
	struct model *m = model_load(o->model, err);
	struct infer_ctx *ic;
	int32_t    *ids;
	float	   *logits;
	double		t_pp = 0;
	double		t_tg = 0;
	int			rc = 1;

	if (!m)
		return cli_fail("%s", err);
	if (o->ctx > 0 && (n_pp > o->ctx || o->depth + n_tg > o->ctx))
	{
		model_free(m);
		return cli_fail("bench: %d prompt or %d + %d generated tokens do not fit a context of %d",
						n_pp, o->depth, n_tg, o->ctx);
	}
	if (o->ctx > 0)
		n_ctx = o->ctx;
	int32_t		n_par = o->parallel;
	size_t		seq_kv = infer_kv_block_bytes(m, o->kv_type)
		* ((n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS);

	ic = infer_new(m, &(struct infer_config) {.n_threads = o->threads, .n_ctx = n_ctx,
				   .max_batch_tokens = batch_tokens(n_pp, n_par, o->depth),
				   .kv_bytes = seq_kv * n_par, .kv_type = o->kv_type}, err);
	ids = bench_tokens(n_ctx, m->hp.n_vocab);
	logits = malloc((size_t) n_par * m->hp.n_vocab * sizeof(float));
	if (!ic)
		cli_fail("%s", err);
	else if (!ids || !logits)
		cli_fail("out of memory");
	else if (run_steps(ic, ids, 0, false, n_pp, n_pp, 1, &(struct sparse_config) {0}, logits, &t_pp, err) != 0 ||
			 run_steps(ic, ids, o->depth, o->random_kv, n_tg, 1, n_par, &sparse, logits, &t_tg, err) != 0)
		cli_fail("%s", err);
	else
	{
		printf("{\"model\":\"%s\",\"threads\":%d,\"prefill_tokens\":%d,\"prefill_tok_s\":%.3f,"
			   "\"parallel\":%d,\"depth\":%d,\"random_kv\":%s,\"sparse_budget\":%d,\"kv_type\":\"%s\","
			   "\"decode_tokens\":%d,\"decode_tok_s\":%.3f}\n",
			   m->arch->name, o->threads, n_pp, n_pp / t_pp, n_par, o->depth,
			   o->random_kv ? "true" : "false",
			   sparse.budget, kv_type_name(o->kv_type), n_tg, (double) n_par * n_tg / t_tg);
		rc = 0;
	}
	free(ids);
	free(logits);
	infer_free(ic);
	model_free(m);
	return rc;
}
