/*
 * scheduler.c — continuous batching (see scheduler.h for the contract).
 *
 * A request's tokens are its prompt followed by what it generated; the KV
 * cache holds the first seq.n_tokens of them.  Each step feeds every running
 * request the next piece: a prompt chunk, or a single token (the last one
 * sampled, or one being recomputed after a preemption).  A request samples
 * when the cache holds all its tokens.
 */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "choice.h"
#include "detokenizer.h"
#include "dr1_limits.h"
#include "error.h"
#include "json_mask.h"
#include "sampler.h"
#include "stop.h"
#include "vocab_trie.h"

/* A compiled schema, shared by the requests that gave the same text. */
struct shared_grammar
{
	struct shared_grammar *next;
	char	   *text;
	size_t		len;
	int32_t		refs;
	struct json_grammar *g;
};

struct sched_request
{
	struct sched_request *prev;
	struct sched_request *next;
	void	   *user;
	struct gen_params params;
	struct token_list prompt;
	struct token_list history;	/* prompt then generated: what the penalties see */
	struct sampler *sampler;
	struct choice_set *choices;
	struct shared_grammar *grammar;
	struct json_state json;		/* the output so far, read by the grammar */
	bool	   *allowed;
	struct detokenizer detok;
	struct gen_result result;
	struct kv_seq seq;
	uint64_t	prefix_hash;	/* hash of the prompt's blocks indexed so far */
	int32_t		n_indexed;		/* prompt blocks indexed or shared */
	bool		cancelled;
	bool		running;
	double		t_admit;
	double		t_prefilled;
};

struct request_list
{
	struct sched_request *head;
	struct sched_request *tail;
	int32_t		n;
};

struct scheduler
{
	struct infer_ctx *ic;
	struct scheduler_config cfg;
	struct request_list waiting;
	struct request_list running;	/* oldest admission first */
	struct seq_batch *batch;
	struct sched_request **batch_req;
	float	   *logits;			/* [max_seqs][n_vocab] */
	struct top_logits *top;		/* [max_seqs] rows a backend gave as candidates */
	struct sched_stats stats;
	struct vocab_trie *trie;	/* built for the first schema */
	struct shared_grammar *grammars;
};

/* ---- lists ------------------------------------------------------------------ */

static void
list_remove(struct request_list *l, struct sched_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
	l->n--;
}

static void
list_push_back(struct request_list *l, struct sched_request *r)
{
	r->prev = l->tail;
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

static void
list_push_front(struct request_list *l, struct sched_request *r)
{
	r->prev = NULL;
	r->next = l->head;
	if (l->head)
		l->head->prev = r;
	else
		l->tail = r;
	l->head = r;
	l->n++;
}

/* ---- shared grammars ----------------------------------------------------- */

static struct shared_grammar *
grammar_acquire(struct scheduler *s, const char *text, size_t len, char *err)
{
	struct shared_grammar *sg;
	struct json_grammar *g;

	for (sg = s->grammars; sg; sg = sg->next)
		if (sg->len == len && memcmp(sg->text, text, len) == 0)
		{
			sg->refs++;
			return sg;
		}
	if (s->trie == NULL)
		s->trie = vocab_trie_new(s->ic->model->tok);
	g = json_grammar_new(text, len, s->trie, err);
	if (g == NULL)
	{
		char		why[ERR_MAX];

		memcpy(why, err, ERR_MAX);
		err_set(err, "invalid schema: %s", why);
		return NULL;
	}
	sg = xcalloc(1, sizeof(*sg));
	sg->text = xmalloc(len ? len : 1);
	memcpy(sg->text, text, len);
	sg->len = len;
	sg->refs = 1;
	sg->g = g;
	sg->next = s->grammars;
	s->grammars = sg;
	return sg;
}

static void
grammar_release(struct scheduler *s, struct shared_grammar *sg)
{
	struct shared_grammar **p;

	if (sg == NULL || --sg->refs > 0)
		return;
	for (p = &s->grammars; *p != sg; p = &(*p)->next)
		;
	*p = sg->next;
	json_grammar_free(sg->g);
	free(sg->text);
	free(sg);
}

/* ---- requests --------------------------------------------------------------- */

static int32_t
request_n_tokens(const struct sched_request *r)
{
	return (int32_t) (r->prompt.n + r->result.tokens.n);
}

static void
request_free(struct scheduler *s, struct sched_request *r)
{
	kv_seq_release(s->ic->kv, &r->seq);
	sampler_free(r->sampler);
	choice_set_free(r->choices);
	grammar_release(s, r->grammar);
	free(r->allowed);
	token_list_free(&r->prompt);
	token_list_free(&r->history);
	gen_result_free(&r->result);
	free(r);
}

/* Finish a request: tell the caller, then free it. */
static void
request_finish(struct scheduler *s, struct sched_request *r, enum sched_event ev, const char *error)
{
	struct request_list *l = r->running ? &s->running : &s->waiting;
	double		now = clock_seconds();

	list_remove(l, r);
	if (r->t_admit > 0)
	{
		double		prefilled = r->t_prefilled > 0 ? r->t_prefilled : now;

		r->result.prefill_seconds = prefilled - r->t_admit;
		r->result.decode_seconds = now - prefilled;
	}
	if (ev == SCHED_DONE && r->result.finish != FINISH_STOP)
		detokenizer_flush(&r->detok, &r->result.text);
	if (s->cfg.on_event)
		s->cfg.on_event(s->cfg.on_event_ctx, r, ev, &r->result, error);
	request_free(s, r);
}

struct sched_request *
scheduler_submit(struct scheduler *s, const struct token_list *prompt,
				 const struct gen_params *p, void *user, char *err)
{
	const struct model *m = s->ic->model;
	struct sched_request *r;

	if (prompt->n == 0)
	{
		err_set(err, "the prompt is empty");
		return NULL;
	}
	if ((int64_t) prompt->n >= s->ic->n_ctx)
	{
		err_set(err, "the prompt has %zu tokens, more than the context length %d allows",
				prompt->n, s->ic->n_ctx);
		return NULL;
	}
	if (p->max_tokens < 0)
	{
		err_set(err, "max_tokens must be >= 0, got %d", p->max_tokens);
		return NULL;
	}
	if (p->n_stops > DR1_MAX_STOPS || p->n_choices > DR1_MAX_CHOICES)
	{
		err_set(err, "at most %d stop strings and %d choices, got %zu and %zu", DR1_MAX_STOPS,
				DR1_MAX_CHOICES, p->n_stops, p->n_choices);
		return NULL;
	}
	if (sampler_params_check(&p->sampling, err) != 0)
		return NULL;
	if (p->schema && p->n_choices > 0)
	{
		err_set(err, "a schema cannot be combined with choices");
		return NULL;
	}
	if (p->sparse.budget != 0 &&
		(p->sparse.budget < DR1_SPARSE_BUDGET_MIN || p->sparse.budget > DR1_SPARSE_BUDGET_MAX ||
		 p->sparse.min_context < 0))
	{
		err_set(err, "sparse attention: the budget must be between %d and %d tokens and the "
				"minimum context at least 0, got %d and %d", DR1_SPARSE_BUDGET_MIN,
				DR1_SPARSE_BUDGET_MAX, p->sparse.budget, p->sparse.min_context);
		return NULL;
	}
	r = calloc(1, sizeof *r);
	if (!r)
	{
		err_set(err, "out of memory");
		return NULL;
	}
	r->user = user;
	r->params = *p;
	r->sampler = sampler_new(&p->sampling, m->hp.n_vocab);
	if (p->n_choices > 0)
	{
		r->choices = choice_set_new(m->tok, p->choices, p->n_choices, err);
		r->allowed = malloc(m->hp.n_vocab * sizeof(bool));
		if (!r->choices || !r->allowed)
		{
			if (r->choices)
				err_set(err, "out of memory");
			request_free(s, r);
			return NULL;
		}
	}
	if (p->schema)
	{
		r->grammar = grammar_acquire(s, p->schema, p->schema_len, err);
		if (r->grammar == NULL)
		{
			request_free(s, r);
			return NULL;
		}
		json_state_init(json_grammar_schema(r->grammar->g), &r->json);
		r->allowed = xmalloc(m->hp.n_vocab * sizeof(bool));
		r->params.schema = NULL;	/* the shared copy is the one kept */
	}
	for (size_t i = 0; i < prompt->n; i++)
	{
		token_list_push(&r->prompt, prompt->ids[i]);
		token_list_push(&r->history, prompt->ids[i]);
	}
	r->result.n_prompt = (int32_t) prompt->n;
	detokenizer_init(&r->detok, m->tok, false);
	list_push_back(&s->waiting, r);
	s->stats.prompt_tokens += prompt->n;
	return r;
}

void
scheduler_cancel(struct scheduler *s, struct sched_request *r)
{
	(void) s;
	r->cancelled = true;
}

void *
sched_request_user(const struct sched_request *r)
{
	return r->user;
}

int32_t
sched_request_prefilled(const struct sched_request *r)
{
	return r->seq.n_tokens < (int32_t) r->prompt.n ? r->seq.n_tokens : (int32_t) r->prompt.n;
}

/* ---- admission and prefix sharing ---------------------------------------- */

/*
 * Attach the blocks of the prompt already in the prefix index.  At least two
 * prompt tokens are left to compute, so that the last prompt chunk is still
 * computed as a chunk (attention.h) and yields the logits.
 */
static void
prefix_attach(struct scheduler *s, struct sched_request *r)
{
	struct kv_cache *kv = s->ic->kv;
	int32_t		limit = ((int32_t) r->prompt.n - 2) / KV_BLOCK_TOKENS;

	while (r->n_indexed < limit)
	{
		const int32_t *tokens = r->prompt.ids + (size_t) r->n_indexed * KV_BLOCK_TOKENS;
		uint64_t	h = kv_prefix_hash(r->prefix_hash, tokens);
		int32_t		b = kv_prefix_lookup(kv, h, tokens);

		if (b < 0)
			break;
		if (kv_seq_append_block(&r->seq, b) != 0)
		{
			kv_block_release(kv, b);
			break;
		}
		r->prefix_hash = h;
		r->n_indexed++;
		s->stats.reused_tokens += KV_BLOCK_TOKENS;
	}
}

/*
 * True when an earlier running request is about to compute the same next
 * prompt block as r: r then waits a step and shares it instead.
 */
static bool
waits_for_leader(const struct scheduler *s, const struct sched_request *r)
{
	size_t		at = (size_t) r->n_indexed * KV_BLOCK_TOKENS;
	const int32_t *block = r->prompt.ids + at;

	if (r->n_indexed >= ((int32_t) r->prompt.n - 2) / KV_BLOCK_TOKENS)
		return false;
	for (const struct sched_request *e = s->running.head; e && e != r; e = e->next)
		if (e->n_indexed == r->n_indexed && e->prefix_hash == r->prefix_hash &&
			e->seq.n_tokens < (int32_t) e->prompt.n && e->prompt.n >= at + KV_BLOCK_TOKENS &&
			memcmp(e->prompt.ids + at, block, KV_BLOCK_TOKENS * sizeof(int32_t)) == 0)
			return true;
	return false;
}

/* Index the prompt blocks that the last step completed. */
static void
prefix_index(struct scheduler *s, struct sched_request *r)
{
	int32_t		full = r->seq.n_tokens < (int32_t) r->prompt.n
		? r->seq.n_tokens / KV_BLOCK_TOKENS : (int32_t) r->prompt.n / KV_BLOCK_TOKENS;

	for (; r->n_indexed < full; r->n_indexed++)
	{
		const int32_t *tokens = r->prompt.ids + (size_t) r->n_indexed * KV_BLOCK_TOKENS;

		r->prefix_hash = kv_prefix_hash(r->prefix_hash, tokens);
		kv_prefix_register(s->ic->kv, r->seq.blocks[r->n_indexed], r->prefix_hash, tokens);
	}
}

static void
admit(struct scheduler *s)
{
	struct kv_cache *kv = s->ic->kv;

	while (s->waiting.head && s->running.n < s->cfg.max_seqs)
	{
		struct sched_request *r = s->waiting.head;
		int32_t		need = (request_n_tokens(r) + KV_BLOCK_TOKENS) / KV_BLOCK_TOKENS;

		/* a lone request is always admitted: it fails later if it cannot fit */
		if (s->running.n > 0 && need > kv->n_free)
			break;
		list_remove(&s->waiting, r);
		list_push_back(&s->running, r);
		r->running = true;
		if (r->t_admit == 0)
			r->t_admit = clock_seconds();
	}
}

/* Free a running request's blocks and queue it to be recomputed first. */
static void
preempt(struct scheduler *s, struct sched_request *r)
{
	kv_seq_release(s->ic->kv, &r->seq);
	r->prefix_hash = 0;
	r->n_indexed = 0;
	list_remove(&s->running, r);
	r->running = false;
	list_push_front(&s->waiting, r);
	s->stats.preemptions++;
}

/* ---- a step ------------------------------------------------------------------ */

/* The next piece of a request: a prompt chunk (cut at multiples of
 * SCHED_PROMPT_CHUNK from the prompt's start) or one token. */
static int32_t
next_piece(const struct sched_request *r)
{
	int32_t		done = r->seq.n_tokens;

	if (done < (int32_t) r->prompt.n)
	{
		int32_t		end = (done / SCHED_PROMPT_CHUNK + 1) * SCHED_PROMPT_CHUNK;

		return (end < (int32_t) r->prompt.n ? end : (int32_t) r->prompt.n) - done;
	}
	return 1;
}

/* Every running request's next single token, and prompt chunks in
 * admission order while they fit in the step's prompt budget and in what
 * the single tokens leave of the batch capacity. */
static int
build_batch(struct scheduler *s, int32_t *n_logits)
{
	int32_t		singles = 0;
	int32_t		budget;
	int			n = 0;

	for (struct sched_request *r = s->running.head; r; r = r->next)
		singles += r->seq.n_tokens >= (int32_t) r->prompt.n;
	budget = s->ic->max_batch_tokens - singles;
	if (budget > s->cfg.token_budget)
		budget = s->cfg.token_budget;
	*n_logits = 0;
	for (struct sched_request *r = s->running.head; r; r = r->next)
	{
		int32_t		piece;
		int32_t		done;

		/* nothing computed yet beyond shared blocks: share what has appeared */
		if (s->cfg.prefix_sharing && r->seq.n_tokens == r->n_indexed * KV_BLOCK_TOKENS &&
			r->seq.n_tokens < (int32_t) r->prompt.n)
		{
			prefix_attach(s, r);
			if (waits_for_leader(s, r))
				continue;
		}
		piece = next_piece(r);
		done = r->seq.n_tokens;
		if (done < (int32_t) r->prompt.n)
		{
			if (piece > budget)
				continue;
			budget -= piece;
		}
		/* a prompt chunk's tokens are contiguous; a single token is copied
		 * into the history, which holds the whole sequence */
		s->batch[n] = (struct seq_batch) {
			.seq = &r->seq,
			.tokens = done < (int32_t) r->prompt.n ? r->prompt.ids + done : r->history.ids + done,
			.n_tokens = piece,
			.want_logits = done + piece == request_n_tokens(r),
			.sparse = done < (int32_t) r->prompt.n ? (struct sparse_config) {0} : r->params.sparse,
		};
		/* what its sampler needs of the logits row (infer_forward_top);
		 * a request with a mask (choices, a schema) needs the whole row */
		if (s->batch[n].want_logits)
			s->top[(*n_logits)++].n = sampler_top_needed(r->sampler, r->allowed != NULL);
		s->batch_req[n++] = r;
	}
	return n;
}

static void
fail_request(struct scheduler *s, struct sched_request *r, const char *error)
{
	request_finish(s, r, SCHED_FAILED, error);
}

/* Sample the next token of a request whose logits are ready (its row, or
 * its first candidates when top->n > 0), and decide whether it has
 * finished.  Returns true when the request was finished. */
static bool
sample(struct scheduler *s, struct sched_request *r, float *logits, const struct top_logits *top)
{
	const struct tokenizer *tok = s->ic->model->tok;
	struct gen_result *res = &r->result;
	const bool *allowed = NULL;
	int32_t		id;
	long		stop_at;

	if (r->t_prefilled == 0)
		r->t_prefilled = clock_seconds();
	res->finish = FINISH_LENGTH;
	if ((int32_t) res->tokens.n >= r->params.max_tokens)
		goto finished;
	if (r->choices)
	{
		if (!choice_set_allowed(r->choices, res->tokens.ids, res->tokens.n, tokenizer_eos(tok), r->allowed))
		{
			res->finish = FINISH_CHOICE;
			goto finished;
		}
		allowed = r->allowed;
	}
	if (r->grammar)
	{
		/* the automaton has no dead ends (json_machine.h): never empty */
		if (json_grammar_allowed(r->grammar->g, &r->json, tokenizer_eos(tok), r->allowed) == 0)
		{
			fail_request(s, r, "no token of the vocabulary continues the JSON value");
			return true;
		}
		allowed = r->allowed;
	}
	/* candidates come only for a request that asked for them: unmasked */
	id = top->n > 0 ? sampler_sample_top(r->sampler, top)
		: sampler_sample(r->sampler, logits, r->history.ids, r->history.n, allowed);
	if (tokenizer_is_eog(tok, id))
	{
		res->finish = FINISH_EOG;
		goto finished;
	}
	if (r->grammar)
		json_grammar_advance(r->grammar->g, &r->json, tok, id);
	token_list_push(&res->tokens, id);
	token_list_push(&r->history, id);
	s->stats.generated_tokens++;
	detokenizer_push(&r->detok, id, &res->text);
	stop_at = r->params.n_stops == 0 ? -1
		: stop_find(res->text.s ? res->text.s : "", res->text.len, r->params.stops, r->params.n_stops, NULL);
	if (stop_at >= 0)
	{
		res->text.len = (size_t) stop_at;
		res->finish = FINISH_STOP;
		goto finished;
	}
	if (s->cfg.on_event && !s->cfg.on_event(s->cfg.on_event_ctx, r, SCHED_TOKEN, res, NULL))
	{
		res->finish = FINISH_CANCEL;
		goto finished;
	}
	if (r->grammar && json_closed(&r->json))
	{
		res->finish = FINISH_SCHEMA;	/* nothing but the end could follow */
		goto finished;
	}
	/* the new token still needs a position in the context */
	if ((int32_t) res->tokens.n < r->params.max_tokens && r->seq.n_tokens < s->ic->n_ctx)
		return false;

finished:
	request_finish(s, r, SCHED_DONE, NULL);
	return true;
}

static void
drop_cancelled(struct scheduler *s)
{
	struct request_list *lists[2] = {&s->waiting, &s->running};

	for (int i = 0; i < 2; i++)
		for (struct sched_request *r = lists[i]->head, *next; r; r = next)
		{
			next = r->next;
			if (r->cancelled)
			{
				r->result.finish = FINISH_CANCEL;
				request_finish(s, r, SCHED_DONE, NULL);
			}
		}
}

/* Run the forward pass, preempting the newest requests while the KV pool is
 * short.  Returns the batch size (0: nothing to run), or -1. */
static int
forward_with_preemption(struct scheduler *s, char *err)
{
	for (;;)
	{
		int32_t		n_logits;
		int			n = build_batch(s, &n_logits);
		int			rc;

		if (n == 0)
			return 0;
		rc = infer_forward_top(s->ic, s->batch, n, s->logits, s->top, err);
		if (rc == 0)
			return n;
		if (rc != FORWARD_NO_KV_SPACE)
		{
			for (int i = 0; i < n; i++)
				fail_request(s, s->batch_req[i], err);
			return -1;
		}
		if (s->running.n == 1)
		{
			request_finish(s, s->running.head, SCHED_TOO_LONG,
						   "the KV cache is too small for this request");
			return 0;
		}
		preempt(s, s->running.tail);
	}
}

int
scheduler_step(struct scheduler *s, char *err)
{
	double		t0 = clock_seconds();
	int			n;
	int			row = 0;

	drop_cancelled(s);
	admit(s);
	n = forward_with_preemption(s, err);
	if (n <= 0)
		return n;
	s->stats.steps++;
	for (int i = 0; i < n; i++)
	{
		struct sched_request *r = s->batch_req[i];
		bool		want = s->batch[i].want_logits;

		if (r->seq.n_tokens <= (int32_t) r->prompt.n)
		{
			s->stats.prefill_tokens += s->batch[i].n_tokens;
			if (s->cfg.on_event)
				s->cfg.on_event(s->cfg.on_event_ctx, r, SCHED_PREFILL, &r->result, NULL);
		}
		if (s->cfg.prefix_sharing)
			prefix_index(s, r);
		if (want)
		{
			sample(s, r, s->logits + (size_t) row * s->ic->model->hp.n_vocab, &s->top[row]);
			row++;
		}
	}
	s->stats.step_seconds = clock_seconds() - t0;
	return 0;
}

/* ---- set-up --------------------------------------------------------------- */

struct scheduler *
scheduler_new(struct infer_ctx *ic, const struct scheduler_config *cfg, char *err)
{
	struct scheduler *s = calloc(1, sizeof *s);

	if (!s)
	{
		err_set(err, "out of memory");
		return NULL;
	}
	s->ic = ic;
	s->cfg = *cfg;
	if (s->cfg.max_seqs <= 0)
		s->cfg.max_seqs = 64;
	if (s->cfg.token_budget <= 0)
		s->cfg.token_budget = SCHED_PROMPT_CHUNK;
	if (ic->max_batch_tokens < SCHED_PROMPT_CHUNK)
	{
		err_set(err, "scheduler: the batch capacity %d is below one prompt chunk (%d)",
				ic->max_batch_tokens, SCHED_PROMPT_CHUNK);
		free(s);
		return NULL;
	}
	s->batch = malloc(s->cfg.max_seqs * sizeof(struct seq_batch));
	s->batch_req = malloc(s->cfg.max_seqs * sizeof(struct sched_request *));
	s->logits = malloc((size_t) s->cfg.max_seqs * ic->model->hp.n_vocab * sizeof(float));
	s->top = malloc(s->cfg.max_seqs * sizeof(struct top_logits));
	if (!s->batch || !s->batch_req || !s->logits || !s->top)
	{
		scheduler_free(s);
		err_set(err, "out of memory for %d sequences", cfg->max_seqs);
		return NULL;
	}
	return s;
}

void
scheduler_free(struct scheduler *s)
{
	struct request_list *lists[2];

	if (!s)
		return;
	lists[0] = &s->waiting;
	lists[1] = &s->running;
	for (int i = 0; i < 2; i++)
		while (lists[i]->head)
		{
			struct sched_request *r = lists[i]->head;

			list_remove(lists[i], r);
			request_free(s, r);
		}
	free(s->batch);
	free(s->batch_req);
	free(s->logits);
	free(s->top);
	vocab_trie_free(s->trie);
	free(s);
}

bool
scheduler_idle(const struct scheduler *s)
{
	return s->waiting.n == 0 && s->running.n == 0;
}

void
scheduler_stats(const struct scheduler *s, struct sched_stats *out)
{
	*out = s->stats;
	out->waiting = s->waiting.n;
	out->running = s->running.n;
	out->kv_blocks_used = kv_blocks_in_use(s->ic->kv);
	out->kv_blocks_total = s->ic->kv->n_blocks;
}
