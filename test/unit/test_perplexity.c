/*
 * test_perplexity.c — the scoring behind `deepseek-r1 perplexity`
 * (perplexity.h, infer_forward_rows): a row's statistics and top-k against
 * brute force, the bucketed KL against its definition, and, on SmolLM2, a
 * window's NLL against one computed independently from infer_forward's
 * last-token logits of every prefix (so from the generation path), and
 * infer_forward_rows with one output row against infer_forward bit for
 * bit.  test/scripts/test-perplexity.sh checks the command itself.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "forward.h"
#include "perplexity.h"
#include "sampler.h"
#include "tokenizer.h"

#define SMOLLM2 "SmolLM2-135M-Instruct-Q4_1.gguf"

static const char text[] =
	"The lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a can of oil "
	"and a rag. For thirty years he had trimmed the wick and polished the great lens, and in all "
	"that time the light had never once failed. Ships passing the headland at night saw its beam "
	"sweep across the water every ten seconds, and the sailors said that as long as the old man "
	"lived, no vessel would be lost on the rocks below. When the government finally installed an "
	"electric lamp, the keeper stayed on, because nobody had told him to leave.";

/* log p(tok) of a row in plain double arithmetic: nothing shared with perplexity.c */
static double
plain_logp(const float *logits, int32_t n, int32_t tok)
{
	double		max = logits[0];
	double		sum = 0;

	for (int32_t i = 1; i < n; i++)
		max = logits[i] > max ? logits[i] : max;
	for (int32_t i = 0; i < n; i++)
		sum += exp(logits[i] - max);
	return logits[tok] - max - log(sum);
}

static void
test_row_stats(void)
{
	float		row[40];
	struct ppl_row r;
	struct ppl_entry top[8];
	double		lr;
	double		mass = 0;
	uint64_t	rng = 0x5eed;

	for (int i = 0; i < 40; i++)
		row[i] = (float) (check_rng_next(&rng) % 1000) / 100.0f - 5.0f;
	row[7] = row[30] = 6.0f;	/* a tie at the top: the lower id first */
	ppl_row_stats(row, 40, &r);
	CHECK(fabs(ppl_logp(row, &r, 3) - plain_logp(row, 40, 3)) < 1e-6, "logp against plain");
	CHECK(logits_argmax(row, 40, NULL) == 7, "argmax: the lower id of a tie, got %d", logits_argmax(row, 40, NULL));
	lr = ppl_top_k(row, 40, &r, 8, top);
	CHECK(top[0].id == 7 && top[1].id == 30, "top: tie order %d %d", top[0].id, top[1].id);
	for (int i = 0; i < 8; i++)
	{
		int			above = 0;

		for (int j = 0; j < 40; j++)
			above += row[j] > row[top[i].id];
		CHECK(above <= i, "top entry %d (id %d) has %d larger logits", i, top[i].id, above);
		mass += exp(top[i].logp);
	}
	CHECK(fabs(exp(lr) - (1 - mass)) < 1e-6, "rest mass %g against 1 - top %g", exp(lr), 1 - mass);
}

static void
test_kl(void)
{
	float		p[50],
				q[50];
	struct ppl_row rp,
				rq;
	struct ppl_entry top[50];
	double		lr,
				kl10,
				full = 0;
	uint64_t	rng = 0xab;

	for (int i = 0; i < 50; i++)
	{
		p[i] = (float) (check_rng_next(&rng) % 800) / 100.0f;
		q[i] = p[i] + (float) (check_rng_next(&rng) % 100) / 200.0f;
	}
	ppl_row_stats(p, 50, &rp);
	ppl_row_stats(q, 50, &rq);
	lr = ppl_top_k(p, 50, &rp, 10, top);
	CHECK(ppl_kl_topk(top, 10, lr, p, 50, &rp) == 0.0, "a row against itself: exactly 0");
	for (int i = 0; i < 50; i++)
		full += exp(plain_logp(p, 50, i)) * (plain_logp(p, 50, i) - plain_logp(q, 50, i));
	kl10 = ppl_kl_topk(top, 10, lr, q, 50, &rq);
	CHECK(kl10 > 0 && kl10 <= full + 1e-6, "top-10 KL %g within (0, full %g]", kl10, full);
	lr = ppl_top_k(p, 50, &rp, 50, top);
	CHECK(lr == -INFINITY, "no rest with k = n_vocab: %g", lr);
	CHECK(fabs(ppl_kl_topk(top, 50, lr, q, 50, &rq) - full) < 1e-5, "k = n_vocab: the full KL %g, got %g",
		  full, ppl_kl_topk(top, 50, lr, q, 50, &rq));
}

struct window_nll
{
	const int32_t *ids;
	int32_t		n_vocab;
	int32_t		n;
	double		nll;
	int			count;
	float	   *last;			/* the logits of position n - 1 */
};

static int
add_row(void *arg, int32_t pos, const float *logits, char *err)
{
	struct window_nll *w = arg;
	struct ppl_row r;

	(void) err;
	if (pos == w->n - 1)
	{
		memcpy(w->last, logits, w->n_vocab * sizeof(float));
		return 0;
	}
	ppl_row_stats(logits, w->n_vocab, &r);
	w->nll -= ppl_logp(logits, &r, w->ids[pos + 1]);
	w->count++;
	return 0;
}

/* NLL of positions first..n-2 from the last-token logits of each prefix. */
static double
prefix_nll(struct infer_ctx *ic, const int32_t *ids, int32_t n, int32_t first, float *logits,
		   float *last)
{
	char		err[ERR_MAX];
	double		nll = 0;

	for (int32_t p = first; p < n; p++)
	{
		struct kv_seq seq = {0};
		int			rc = 0;

		/* a prompt's prefill: chunks of the batch capacity, logits of the last */
		for (int32_t c0 = 0; c0 <= p && rc == 0; c0 += ic->max_batch_tokens)
		{
			int32_t		len = p + 1 - c0 < ic->max_batch_tokens ? p + 1 - c0 : ic->max_batch_tokens;

			rc = infer_forward(ic, &(struct seq_batch) {&seq, ids + c0, len, c0 + len == p + 1, {0}}, 1,
							   logits, err);
		}
		kv_seq_release(ic->kv, &seq);
		CHECK(rc == 0, "prefix %d: %s", p + 1, err);
		if (p < n - 1)
			nll -= plain_logp(logits, ic->model->hp.n_vocab, ids[p + 1]);
		else
			memcpy(last, logits, ic->model->hp.n_vocab * sizeof(float));
	}
	return nll;
}

static void
test_window(struct infer_ctx *ic, const int32_t *ids, int32_t n)
{
	char		err[ERR_MAX];
	int32_t		nv = ic->model->hp.n_vocab;
	int32_t		first = n / 2;
	float	   *buf = malloc((size_t) ppl_window_rows(ic, n, first) * nv * sizeof(float));
	float	   *logits = malloc(nv * sizeof(float));
	float	   *last_prefix = malloc(nv * sizeof(float));
	struct window_nll w = {ids, nv, n, 0, 0, malloc(nv * sizeof(float))};
	double		ref;

	CHECK(ppl_window(ic, ids, n, first, &(struct sparse_config) {0}, buf, add_row, &w, err) == 0, "window: %s", err);
	CHECK(w.count == n - 1 - first, "%d positions scored, want %d", w.count, n - 1 - first);
	ref = prefix_nll(ic, ids, n, first, logits, last_prefix);
	CHECK(isfinite(w.nll) && exp(w.nll / w.count) > 1, "ppl %g finite and above 1", exp(w.nll / w.count));
	CHECK(fabs(exp(w.nll / w.count) - exp(ref / w.count)) < 2e-3 * exp(ref / w.count),
		  "ppl %.6f against %.6f from the prefixes' logits", exp(w.nll / w.count), exp(ref / w.count));
	CHECK(ic->kv->n_free == ic->kv->n_blocks, "the window's blocks are released");

	/* one output row, in the same chunks: the generation path's own arithmetic, bit for bit */
	w.count = 0;
	CHECK(ppl_window(ic, ids, n, n - 1, &(struct sparse_config) {0}, buf, add_row, &w, err) == 0 && w.count == 0, "one row: %s", err);
	CHECK(memcmp(w.last, last_prefix, nv * sizeof(float)) == 0,
		  "one output row equals infer_forward's logits");
	free(w.last);
	free(last_prefix);
	free(logits);
	free(buf);
}

static void
test_smollm2(void)
{
	char		path[1024];
	char		err[ERR_MAX];
	struct model *m;
	struct infer_ctx *ic = NULL;
	struct token_list t = {0};

	check_model_path(path, sizeof path, SMOLLM2);
	if (access(path, R_OK) != 0)
	{
		check_missing("%s not found (scripts/fetch-models.sh)", path);
		return;
	}
	m = model_load(path, err);
	CHECK(m != NULL, "load: %s", err);
	if (!m)
		return;
	/* batches of 24: a window of 64 is three chunks, the outputs across two */
	ic = infer_new(m, &(struct infer_config) {.n_threads = 2, .n_ctx = 64, .max_batch_tokens = 24,
				   .device = INFER_DEVICE_CPU}, err);
	CHECK(ic != NULL, "context: %s", err);
	if (tokenizer_add_bos(m->tok) && tokenizer_bos(m->tok) >= 0)
		token_list_push(&t, tokenizer_bos(m->tok));
	CHECK(tokenizer_encode(m->tok, text, strlen(text), false, &t, err) == 0, "encode: %s", err);
	CHECK(t.n >= 64, "the text has %zu tokens", t.n);
	if (ic && t.n >= 64)
		test_window(ic, t.ids, 64);
	token_list_free(&t);
	infer_free(ic);
	model_free(m);
}

int
main(void)
{
	test_row_stats();
	test_kl();
	test_smollm2();
	return check_done("test_perplexity");
}
