/*
 * test_scheduler.c — continuous batching on synthetic models (always: llama,
 * and deepseek2 with its latent cache and experts) and on a real one
 * (SmolLM2-135M): batch invariance, preemption, cancellation, prefix
 * sharing, choices.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "forward.h"
#include "generate.h"
#include "model.h"
#include "prompt.h"
#include "scheduler.h"
#include "top_logits.h"

#define N_PROMPTS 16
#define N_TOKENS 16
/* random weights, byte-level vocabulary: the numerics of SmolLM2's type */
#define SYNTHETIC_ARGS "--arch llama --wtype Q4_1 --seed 5 --layers 2 --dim 128 --ff 256 --heads 4 --kv-heads 2"
/* deepseek2: the same over a latent cache, tokens routed to experts */
#define DEEPSEEK2_ARGS "--arch deepseek2 --wtype Q8_0 --seed 7"

static const char *const prompts[N_PROMPTS] = {
	"The capital of France is", "Write a haiku about the ocean.", "What is 17 times 23?",
	"def fibonacci(n):", "List three primary colors.", "Once upon a time,",
	"SELECT name FROM users WHERE", "Why is the sky blue?", "The quick brown fox",
	"In machine learning, overfitting means", "1, 2, 3, 5, 8,", "Hello! How are you?",
	"Describe a cat.", "Tell me a joke.", "What does an index do?", "Summarize Hamlet.",
};

struct collected
{
	struct gen_result results[64];
	bool		finished[64];
	bool		cancelled[64];	/* still running when cancel was asked */
	int32_t		prefilled[64];	/* the last SCHED_PREFILL's count */
	bool		prefill_late[64];	/* a SCHED_PREFILL after a token, or going back */
	int			done;
	int			failed;
};

static bool
collect(void *ctx, struct sched_request *req, enum sched_event ev, struct gen_result *r, const char *error)
{
	struct collected *c = ctx;
	int			i = (int) (intptr_t) sched_request_user(req);

	if (ev == SCHED_PREFILL)
	{
		c->prefill_late[i] |= r->tokens.n > 0 || sched_request_prefilled(req) <= c->prefilled[i];
		c->prefilled[i] = sched_request_prefilled(req);
		return true;
	}
	if (ev == SCHED_TOKEN)
		return true;
	if (ev != SCHED_DONE)
	{
		fprintf(stderr, "request %d failed: %s\n", i, error);
		c->failed++;
	}
	c->results[i] = *r;
	memset(r, 0, sizeof *r);
	c->finished[i] = true;
	c->done++;
	return true;
}

static struct infer_ctx *
context(struct model *m, size_t kv_bytes)
{
	char		err[ERR_MAX];
	struct infer_ctx *ic = infer_new(m, &(struct infer_config) {
		.n_threads = 2, .n_ctx = 1024, .max_batch_tokens = SCHED_PROMPT_CHUNK + 64, .kv_bytes = kv_bytes}, err);

	CHECK(ic != NULL, "infer_new: %s", err);
	return ic;
}

/* Run texts[0..n) through one scheduler; results land in c. */
static void
run_batch(struct infer_ctx *ic, const char *const *texts, int n, const struct gen_params *gp,
		  bool sharing, struct collected *c, struct sched_stats *stats, int cancel_after)
{
	char		err[ERR_MAX];
	struct scheduler_config cfg = {.max_seqs = 64, .prefix_sharing = sharing,
	.on_event = collect, .on_event_ctx = c};
	struct scheduler *s = scheduler_new(ic, &cfg, err);
	struct sched_request *reqs[64];
	int			steps = 0;

	memset(c, 0, sizeof *c);
	for (int i = 0; i < n; i++)
	{
		struct token_list prompt = {0};

		CHECK(prompt_tokens(ic->model, texts[i], NULL, true, &prompt, err) == 0, "prompt: %s", err);
		reqs[i] = scheduler_submit(s, &prompt, gp, (void *) (intptr_t) i, err);
		CHECK(reqs[i] != NULL, "submit: %s", err);
		token_list_free(&prompt);
	}
	while (!scheduler_idle(s))
	{
		if (++steps == cancel_after)
			for (int i = 0; i < n; i++)
				if (!c->finished[i])
				{
					scheduler_cancel(s, reqs[i]);
					c->cancelled[i] = true;
				}
		CHECK(scheduler_step(s, err) == 0, "step: %s", err);
	}
	scheduler_stats(s, stats);
	scheduler_free(s);
}

static bool
same_tokens(const struct gen_result *a, const struct gen_result *b)
{
	return a->tokens.n == b->tokens.n &&
		(a->tokens.n == 0 || memcmp(a->tokens.ids, b->tokens.ids, a->tokens.n * sizeof(int32_t)) == 0);
}

static void
free_results(struct collected *c, int n)
{
	for (int i = 0; i < n; i++)
		gen_result_free(&c->results[i]);
}

static void
test_invariance_and_preemption(struct model *m, const struct gen_params *gp)
{
	struct infer_ctx *ic = context(m, 0);
	static struct collected alone, batched, tight;
	struct sched_stats st;
	char		err[ERR_MAX];

	for (int i = 0; i < N_PROMPTS; i++)
	{
		struct token_list prompt = {0};

		prompt_tokens(m, prompts[i], NULL, true, &prompt, err);
		CHECK(generate(ic, &prompt, gp, &alone.results[i], err) == 0, "generate: %s", err);
		token_list_free(&prompt);
	}
	run_batch(ic, prompts, N_PROMPTS, gp, false, &batched, &st, 0);
	for (int i = 0; i < N_PROMPTS; i++)
	{
		CHECK(same_tokens(&alone.results[i], &batched.results[i]),
			  "prompt %d: batch of %d differs from alone", i, N_PROMPTS);
		/* progress: rising counts before the first token, ending at the whole prompt */
		CHECK(batched.prefilled[i] == batched.results[i].n_prompt && !batched.prefill_late[i],
			  "prompt %d: prefill progress ended at %d of %d tokens%s", i, batched.prefilled[i],
			  batched.results[i].n_prompt, batched.prefill_late[i] ? ", not rising before the first token" : "");
	}
	CHECK(st.kv_blocks_used == 0, "%d KV blocks still in use after the batch", st.kv_blocks_used);
	infer_free(ic);

	/* a pool of 12 blocks cannot hold 16 sequences: preemption must happen */
	ic = context(m, 12 * infer_kv_block_bytes(m, KV_F16));
	run_batch(ic, prompts, N_PROMPTS, gp, false, &tight, &st, 0);
	CHECK(st.preemptions > 0, "no preemption with a 12-block pool");
	CHECK(tight.failed == 0, "%d requests failed with a tight pool", tight.failed);
	for (int i = 0; i < N_PROMPTS; i++)
		CHECK(same_tokens(&alone.results[i], &tight.results[i]), "prompt %d differs after preemption", i);
	printf("preemption: %lld preemptions, outputs identical\n", (long long) st.preemptions);
	infer_free(ic);
	free_results(&alone, N_PROMPTS);
	free_results(&batched, N_PROMPTS);
	free_results(&tight, N_PROMPTS);
}

static void
test_cancel(struct model *m, const struct gen_params *gp)
{
	struct infer_ctx *ic = context(m, 0);
	static struct collected c;
	struct sched_stats st;

	run_batch(ic, prompts, N_PROMPTS, gp, true, &c, &st, 3);
	CHECK(st.kv_blocks_used == 0, "cancel left %d KV blocks in use", st.kv_blocks_used);
	CHECK(c.done == N_PROMPTS, "%d of %d requests reported", c.done, N_PROMPTS);
	for (int i = 0; i < N_PROMPTS; i++)
		CHECK(!c.cancelled[i] || c.results[i].finish == FINISH_CANCEL,
			  "request %d finished with %d, not cancel", i, c.results[i].finish);
	free_results(&c, N_PROMPTS);
	infer_free(ic);
}

static void
test_prefix_sharing(struct model *m, const struct gen_params *gp)
{
	static const char *const items[8] = {"I loved it!", "Terrible service.", "It was fine.",
	"Best purchase ever.", "Broke after a day.", "Okay, nothing special.", "Would buy again.",
	"Never again."};
	const char *instruction =
		"You are a careful assistant that labels customer reviews. Read the review below and "
		"answer with exactly one word: positive, negative or neutral. Do not explain your answer. "
		"Consider sarcasm, mixed feelings and the overall tone of the text before you decide. "
		"Reviews may be short or long, formal or informal, and may contain spelling mistakes. Review: ";
	char	   *texts[8];
	static struct collected with, without;
	struct sched_stats st_with, st_without;
	struct infer_ctx *ic = context(m, 0);

	for (int i = 0; i < 8; i++)
	{
		texts[i] = malloc(strlen(instruction) + strlen(items[i]) + 1);
		strcpy(texts[i], instruction);
		strcat(texts[i], items[i]);
	}
	run_batch(ic, (const char *const *) texts, 8, gp, false, &without, &st_without, 0);
	run_batch(ic, (const char *const *) texts, 8, gp, true, &with, &st_with, 0);
	for (int i = 0; i < 8; i++)
		CHECK(same_tokens(&with.results[i], &without.results[i]), "review %d differs with prefix sharing", i);
	CHECK(st_with.reused_tokens > 0, "no prompt tokens were reused");
	CHECK(st_with.prefill_tokens * 100 <= st_without.prefill_tokens * 40,
		  "prefix sharing computed %lld of %lld prompt tokens", (long long) st_with.prefill_tokens,
		  (long long) st_without.prefill_tokens);
	printf("prefix sharing: %lld prompt tokens computed with, %lld without (%lld reused)\n",
		   (long long) st_with.prefill_tokens, (long long) st_without.prefill_tokens,
		   (long long) st_with.reused_tokens);
	for (int i = 0; i < 8; i++)
		free(texts[i]);
	free_results(&with, 8);
	free_results(&without, 8);
	infer_free(ic);
}

static void
test_choices_and_stops(struct model *m)
{
	static const char *const labels[] = {"positive", "negative", "neutral"};
	static const char *const stops[] = {"\n"};
	struct infer_ctx *ic = context(m, 0);
	struct gen_params gp = {.max_tokens = 16, .choices = labels, .n_choices = 3};
	struct token_list prompt = {0};
	struct gen_result r;
	char		err[ERR_MAX];

	sampler_params_default(&gp.sampling);
	for (int t = 0; t < 3; t++)
	{
		const char *text[] = {"Review: I loved it! Sentiment:", "Review: awful. Sentiment:",
		"Is the sky green?"};
		bool		listed = false;

		gp.sampling.temperature = t == 2 ? 1.0f : 0.0f;
		prompt.n = 0;
		prompt_tokens(m, text[t], NULL, false, &prompt, err);
		CHECK(generate(ic, &prompt, &gp, &r, err) == 0, "generate: %s", err);
		for (int i = 0; i < 3; i++)
			listed |= r.text.len == strlen(labels[i]) && memcmp(r.text.s, labels[i], r.text.len) == 0;
		CHECK(listed, "choice output '%.*s' is not a label", (int) r.text.len, r.text.s ? r.text.s : "");
		gen_result_free(&r);
	}
	gp = (struct gen_params) {.max_tokens = 64, .stops = stops, .n_stops = 1};
	sampler_params_default(&gp.sampling);
	prompt.n = 0;
	prompt_tokens(m, "Write two short lines about rain.", NULL, false, &prompt, err);
	CHECK(generate(ic, &prompt, &gp, &r, err) == 0, "generate: %s", err);
	CHECK(r.finish != FINISH_STOP || memchr(r.text.s, '\n', r.text.len) == NULL,
		  "text continues past the stop string");
	gen_result_free(&r);
	token_list_free(&prompt);
	infer_free(ic);
}

/*
 * A backend that answers as a GPU one may: the pass itself is a second CPU
 * context's (its pool as large as the host's, so the host's block ids
 * index it; the host reserves and advances, so the sequences' lengths are
 * put back), and every row whose sampler asked for candidates comes as
 * its first ones (top_logits_of_row) instead of logits.  With it the
 * scheduler's side is checked without a GPU: what each request asks, in
 * output-row order, and sampling from candidates.
 */
struct cand_backend
{
	struct infer_ctx *cpu;
	int64_t		rows_as_candidates;
	int64_t		rows_whole;
};

static int64_t cand_rows;		/* totals of the last backend freed */
static int64_t whole_rows;

static bool
cand_available(char *why)
{
	(void) why;
	return true;
}

static void *
cand_create(const struct model *m, const struct backend_params *p, char *err)
{
	struct cand_backend *b = calloc(1, sizeof *b);
	size_t		block = kv_block_bytes(m->hp.n_layer, m->hp.n_head_kv * m->hp.head_dim, KV_F16);

	b->cpu = infer_new((struct model *) m, &(struct infer_config) {
		.n_threads = 2, .n_ctx = p->n_ctx, .max_batch_tokens = p->max_batch_tokens,
	.kv_bytes = (size_t) p->n_kv_blocks * block}, err);
	if (!b->cpu)
	{
		free(b);
		return NULL;
	}
	return b;
}

static int
cand_forward(void *be, const struct seq_batch *batch, int n_seqs, float *logits,
			 struct top_logits *top, char *err)
{
	struct cand_backend *b = be;
	int32_t		n_vocab = b->cpu->model->hp.n_vocab;
	int32_t		lens[64];
	int32_t		asked[64];
	int32_t		n_out = 0;
	int			rc;

	if (n_seqs > 64)
		return err_set(err, "test backend: %d sequences (64 at most)", n_seqs);
	for (int i = 0; i < n_seqs; i++)
	{
		lens[i] = batch[i].seq->n_tokens;
		if (batch[i].want_logits)
		{
			asked[n_out] = top ? top[n_out].n : 0;
			n_out++;
		}
	}
	rc = infer_forward_top(b->cpu, (struct seq_batch *) batch, n_seqs, logits, top, err);
	for (int i = 0; i < n_seqs; i++)
		batch[i].seq->n_tokens = lens[i];
	for (int32_t r = 0; rc == 0 && r < n_out; r++)
	{
		if (asked[r] > 0)
			top_logits_of_row(logits + (size_t) r * n_vocab, n_vocab, asked[r], &top[r]);
		b->rows_as_candidates += asked[r] > 0;
		b->rows_whole += asked[r] == 0;
	}
	return rc;
}

static const char *
cand_describe(void *be)
{
	(void) be;
	return "candidates from the CPU";
}

static void
cand_destroy(void *be)
{
	struct cand_backend *b = be;

	cand_rows = b->rows_as_candidates;
	whole_rows = b->rows_whole;
	infer_free(b->cpu);
	free(b);
}

static const struct backend_ops cand_ops = {
	"candidates", cand_available, cand_create, cand_forward, cand_describe, cand_destroy,
};

/*
 * The 16 prompts batched through the candidates backend give what each
 * gives alone on the CPU: greedy (one candidate), top-k 40 at temperature
 * 0.8 (forty), and with a repeat penalty (the row), all seeded.
 */
static void
test_candidates(struct model *m)
{
	static struct collected alone, batched;
	struct gen_params gp = {.max_tokens = N_TOKENS};
	struct infer_ctx *cpu = context(m, 0);
	char		err[ERR_MAX];

	sampler_params_default(&gp.sampling);
	gp.sampling.seed = 7;
	for (int v = 0; v < 3; v++)
	{
		struct infer_ctx *ic = infer_new(m, &(struct infer_config) {
			.n_threads = 2, .n_ctx = 1024, .max_batch_tokens = SCHED_PROMPT_CHUNK + 64,
		.device = INFER_DEVICE_GPU, .gpu_ops = &cand_ops}, err);
		struct sched_stats st;

		CHECK(ic != NULL, "infer_new with the candidates backend: %s", err);
		if (!ic)
			break;
		gp.sampling.temperature = v == 0 ? 0.0f : 0.8f;
		gp.sampling.top_k = v == 0 ? 0 : 40;
		gp.sampling.repeat_penalty = v == 2 ? 1.3f : 1.0f;
		for (int i = 0; i < N_PROMPTS; i++)
		{
			struct token_list prompt = {0};

			prompt_tokens(m, prompts[i], NULL, true, &prompt, err);
			CHECK(generate(cpu, &prompt, &gp, &alone.results[i], err) == 0, "generate: %s", err);
			token_list_free(&prompt);
		}
		run_batch(ic, prompts, N_PROMPTS, &gp, false, &batched, &st, 0);
		for (int i = 0; i < N_PROMPTS; i++)
			CHECK(same_tokens(&alone.results[i], &batched.results[i]),
				  "candidates, case %d: prompt %d differs from the CPU alone", v, i);
		infer_free(ic);
		CHECK(v == 2 ? cand_rows == 0 && whole_rows > 0 : cand_rows > 0 && whole_rows == 0,
			  "case %d: %lld rows as candidates, %lld whole", v, (long long) cand_rows,
			  (long long) whole_rows);
		free_results(&alone, N_PROMPTS);
		free_results(&batched, N_PROMPTS);
	}
	infer_free(cpu);
}

/* Every scheduler test on one model. */
static void
test_model(struct model *m)
{
	struct gen_params gp = {.max_tokens = N_TOKENS};

	sampler_params_default(&gp.sampling);
	test_invariance_and_preemption(m, &gp);
	gp.sampling.temperature = 0.8f;
	gp.sampling.seed = 42;
	test_invariance_and_preemption(m, &gp);	/* seeded sampling too */
	gp.sampling.temperature = 0.0f;
	test_cancel(m, &gp);
	test_prefix_sharing(m, &gp);
	test_choices_and_stops(m);
	if (m->arch->gpu)			/* the device path exists only where CUDA runs the arch */
		test_candidates(m);
}

/* Load the model at path (absent: why) and run every test on it. */
static void
test_file(const char *label, const char *path, const char *absent)
{
	char		err[ERR_MAX];
	struct model *m;

	if (absent)
	{
		check_missing("scheduler tests on %s: %s", label, absent);
		return;
	}
	m = model_load(path, err);
	CHECK(m != NULL, "%s: %s", label, err);
	if (!m)
		return;
	printf("%s:\n", label);
	test_model(m);
	model_free(m);
}

int
main(void)
{
	char		path[1024];

	/* a synthetic model needs no download: the scheduler is always tested */
	test_file("synthetic llama Q4_1", path,
			  check_synthetic_model("scheduler-llama-q4_1", SYNTHETIC_ARGS, path, sizeof path) != 0
			  ? "cannot generate the model (python3 with numpy and gguf needed)" : NULL);
	test_file("synthetic deepseek2 Q8_0", path,
			  check_synthetic_model("scheduler-deepseek2-q8_0", DEEPSEEK2_ARGS, path, sizeof path) != 0
			  ? "cannot generate the model (python3 with numpy and gguf needed)" : NULL);
	check_model_path(path, sizeof path, "SmolLM2-135M-Instruct-Q4_1.gguf");
	test_file("SmolLM2-135M", path, access(path, R_OK) != 0 ? "model absent (scripts/fetch-models.sh)" : NULL);
	return check_done("scheduler");
}
