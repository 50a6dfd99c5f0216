/*
 * generate.c — the generation loop of a single request.
 */
#include "generate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

const char *
finish_reason_name(enum finish_reason r)
{
	/* the OpenAI names */
	if (r == FINISH_LENGTH)
		return "length";
	return r == FINISH_CANCEL ? "cancel" : "stop";
}

double
clock_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
gen_result_free(struct gen_result *r)
{
	token_list_free(&r->tokens);
	text_buf_free(&r->text);
}

/* Run the prompt through the model in chunks; logits of its last token. */
static int
prefill(struct infer_ctx *ic, struct kv_seq *seq, const struct token_list *prompt,
		float *logits, char *err)
{
	for (size_t done = 0; done < prompt->n;)
	{
		int32_t		n = prompt->n - done > (size_t) ic->max_batch_tokens
			? ic->max_batch_tokens : (int32_t) (prompt->n - done);
		struct seq_batch b = {seq, prompt->ids + done, n, done + n == prompt->n};
		int			rc = infer_forward(ic, &b, 1, logits, err);

		if (rc == FORWARD_NO_KV_SPACE)
			return err_set(err, "the KV cache is too small for a prompt of %zu tokens", prompt->n);
		if (rc != 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Append a token's text and apply the stop strings; true when one matched. */
static bool
append_text(struct detokenizer *detok, int32_t id, const struct gen_params *p, struct text_buf *text)
{
	size_t		partial;
	long		at;

	detokenizer_push(detok, id, text);
	if (p->n_stops == 0)
		return false;
	at = stop_find(text->s ? text->s : "", text->len, p->stops, p->n_stops, &partial);
	if (at < 0)
		return false;
	text->len = (size_t) at;
	return true;
}

struct gen_state
{
	struct sampler *sampler;
	struct choice_set *choices;
	bool	   *allowed;
	float	   *logits;
	struct token_list history;	/* prompt and generated, for the penalties */
};

static void
gen_state_free(struct gen_state *g)
{
	sampler_free(g->sampler);
	choice_set_free(g->choices);
	free(g->allowed);
	free(g->logits);
	token_list_free(&g->history);
}

static int
gen_state_init(struct gen_state *g, struct infer_ctx *ic, const struct token_list *prompt,
			   const struct gen_params *p, char *err)
{
	int32_t		n_vocab = ic->model->hp.n_vocab;

	memset(g, 0, sizeof *g);
	if (sampler_params_check(&p->sampling, err) != 0)
		return -1;
	g->sampler = sampler_new(&p->sampling, n_vocab);
	g->logits = malloc(n_vocab * sizeof(float));
	if (!g->sampler || !g->logits)
		return err_set(err, "out of memory");
	if (p->n_choices > 0)
	{
		g->choices = choice_set_new(ic->model->tok, p->choices, p->n_choices, err);
		g->allowed = malloc(n_vocab * sizeof(bool));
		if (!g->choices)
			return -1;
		if (!g->allowed)
			return err_set(err, "out of memory");
	}
	for (size_t i = 0; i < prompt->n; i++)
		token_list_push(&g->history, prompt->ids[i]);
	return 0;
}

static int
decode_loop(struct infer_ctx *ic, struct kv_seq *seq, struct gen_state *g,
			const struct gen_params *p, struct gen_result *r, char *err)
{
	const struct tokenizer *tok = ic->model->tok;
	int32_t		eog = tokenizer_eos(tok);
	struct detokenizer detok;
	int			rc;

	detokenizer_init(&detok, tok, false);
	r->finish = FINISH_LENGTH;
	while ((int32_t) r->tokens.n < p->max_tokens)
	{
		const bool *allowed = NULL;
		int32_t		id;
		struct seq_batch b;

		if (g->choices)
		{
			if (!choice_set_allowed(g->choices, r->tokens.ids, r->tokens.n, eog, g->allowed))
			{
				r->finish = FINISH_CHOICE;
				break;
			}
			allowed = g->allowed;
		}
		id = sampler_sample(g->sampler, g->logits, g->history.ids, g->history.n, allowed);
		if (tokenizer_is_eog(tok, id))
		{
			r->finish = FINISH_EOG;
			break;
		}
		token_list_push(&r->tokens, id);
		token_list_push(&g->history, id);
		if (append_text(&detok, id, p, &r->text))
		{
			r->finish = FINISH_STOP;
			break;
		}
		if (p->on_token && !p->on_token(p->on_token_ctx, r))
		{
			r->finish = FINISH_CANCEL;
			break;
		}
		if ((int32_t) r->tokens.n == p->max_tokens || seq->n_tokens >= ic->n_ctx)
			break;				/* finish "length" either way */
		b = (struct seq_batch) {seq, &r->tokens.ids[r->tokens.n - 1], 1, true};
		rc = infer_forward(ic, &b, 1, g->logits, err);
		if (rc == FORWARD_NO_KV_SPACE)
			return err_set(err, "the KV cache is full after %d tokens", seq->n_tokens);
		if (rc != 0)
			return -1;
	}
	if (r->finish != FINISH_STOP)
		detokenizer_flush(&detok, &r->text);
	return 0;
}

int
generate(struct infer_ctx *ic, const struct token_list *prompt,
		 const struct gen_params *p, struct gen_result *r, char *err)
{
	struct kv_seq seq = {0};
	struct gen_state g;
	double		t0;
	int			rc = -1;

	memset(r, 0, sizeof *r);
	r->n_prompt = (int32_t) prompt->n;
	if (prompt->n == 0)
		return err_set(err, "the prompt is empty");
	if ((int64_t) prompt->n >= ic->n_ctx)
		return err_set(err, "the prompt has %zu tokens, more than the context length %d allows",
					   prompt->n, ic->n_ctx);
	if (gen_state_init(&g, ic, prompt, p, err) != 0)
		goto done;
	t0 = clock_seconds();
	if (prefill(ic, &seq, prompt, g.logits, err) != 0)
		goto done;
	r->prefill_seconds = clock_seconds() - t0;
	t0 = clock_seconds();
	rc = decode_loop(ic, &seq, &g, p, r, err);
	r->decode_seconds = clock_seconds() - t0;

done:
	gen_state_free(&g);
	kv_seq_release(ic->kv, &seq);
	return rc;
}
