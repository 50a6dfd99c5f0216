/*
 * cmd_perplexity.c — `deepseek-r1 perplexity -m FILE -f TEXT [-c CTX]
 * [-t THREADS] [--chunks N] [--kl-base-save FILE [--kl-top K] | --kl-base FILE]`
 *
 * Teacher-forced scoring as llama.cpp's llama-perplexity does it, so the
 * two programs' figures can be set side by side: the whole text is
 * tokenized raw (BOS first if the vocabulary adds one, no control tokens
 * parsed), cut into windows of CTX tokens (default 512; --chunks caps
 * their number), each window a fresh sequence whose first token is
 * replaced by BOS when the model adds one.  A window's positions from
 * CTX/2 on are computed as its outputs and positions CTX/2 .. CTX-2 are
 * scored (each with at least half a window of context): ppl =
 * exp(mean NLL of the next token).
 *
 * The two KL flags follow llama-perplexity's pair (--kl-divergence-base
 * FILE writes, --kl-divergence with it reads) with one flag each, so that
 * a typo cannot turn a comparison into an overwrite:
 *   --kl-base-save FILE  writes, per scored position, the top K (--kl-top,
 *                        default 32) entries of the distribution, the log
 *                        of the mass outside them and the log-probability
 *                        of the text's token (kl_base.h);
 *   --kl-base FILE       compares with such a file (its CTX, chunks and K
 *                        apply; a different text or tokenization is an
 *                        error): KL(base || this run) over the K entries
 *                        plus one bucket for the rest, a lower bound of
 *                        the full KL (perplexity.h).
 *
 * Output: one JSON object on stdout: ctx, chunks, tokens (scored), nll_mean,
 * ppl; with --kl-base also kl_top, base_ppl, kld_mean, kld_p99 (the
 * nearest-rank 99th percentile), kld_max, top1_agree (the share of
 * positions where the argmax is the base's first entry) and rms_dp (the
 * root mean square of p(token) - p_base(token) for the text's next token,
 * llama.cpp's "RMS Δp").
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "error.h"
#include "kl_base.h"
#include "perplexity.h"
#include "sampler.h"
#include "tokenizer.h"

#define PPL_DEFAULT_CTX 512
#define PPL_DEFAULT_TOP 32

struct ppl_run
{
	struct infer_ctx *ic;
	int32_t		n_vocab;
	int32_t		ctx;
	int32_t		chunks;
	int32_t		k;
	struct sparse_config sparse;
	const int32_t *win;			/* the window being scored */
	struct ppl_entry *top;		/* [k] */
	double		nll;
	int64_t		count;
	FILE	   *save;			/* --kl-base-save */
	FILE	   *base;			/* --kl-base */
	struct kl_base_header bh;
	double	   *kld;			/* [positions] with --kl-base */
	int64_t		top1;
	double		dp2;
	double		base_nll;
};

/* The text's tokens as llama-perplexity has them: raw, BOS first if the model adds one. */
static int
text_tokens(const struct model *m, const char *path, struct token_list *out)
{
	char		err[ERR_MAX];
	char	   *text;
	size_t		len;
	int			rc;

	if (cli_read_text(path, &text, &len) != 0)
		return 1;
	if (tokenizer_add_bos(m->tok) && tokenizer_bos(m->tok) >= 0)
		token_list_push(out, tokenizer_bos(m->tok));
	rc = tokenizer_encode(m->tok, text, len, false, out, err);
	free(text);
	return rc != 0 ? cli_fail("%s: %s", path, err) : 0;
}

/* Window c of the text, as evaluated: its first token replaced by BOS when the model adds one. */
static void
window_ids(const struct model *m, const struct token_list *t, int32_t ctx, int32_t c, int32_t *win)
{
	memcpy(win, t->ids + (size_t) c * ctx, (size_t) ctx * sizeof *win);
	if (tokenizer_add_bos(m->tok) && tokenizer_bos(m->tok) >= 0)
		win[0] = tokenizer_bos(m->tok);
}

static uint64_t
windows_hash(const struct model *m, const struct token_list *t, int32_t ctx, int32_t chunks, int32_t *win)
{
	uint64_t	h = KL_HASH_INIT;

	for (int32_t c = 0; c < chunks; c++)
	{
		window_ids(m, t, ctx, c, win);
		h = kl_hash_ids(h, win, ctx);
	}
	return h;
}

/* Compare one row with the base's record for the same position. */
static int
compare_row(struct ppl_run *r, const float *logits, const struct ppl_row *q, double lp, char *err)
{
	struct kl_base_record rec = {.top = r->top};
	double		dp;

	if (kl_base_get(r->base, &r->bh, &rec, err) != 0)
		return -1;
	r->kld[r->count - 1] = ppl_kl_topk(rec.top, r->k, rec.log_rest, logits, r->n_vocab, q);
	r->top1 += logits_argmax(logits, r->n_vocab, NULL) == rec.top[0].id;
	/* at the base's precision: a run against its own base gives exactly 0 */
	dp = exp((float) lp) - exp(rec.target_logp);
	r->dp2 += dp * dp;
	r->base_nll -= rec.target_logp;
	return 0;
}

/* ppl_row_fn: score the row at pos (the window's last row predicts nothing). */
static int
score_row(void *arg, int32_t pos, const float *logits, char *err)
{
	struct ppl_run *r = arg;
	struct ppl_row q;
	double		lp;

	if (pos >= r->ctx - 1)
		return 0;
	ppl_row_stats(logits, r->n_vocab, &q);
	lp = ppl_logp(logits, &q, r->win[pos + 1]);
	r->nll -= lp;
	r->count++;
	if (r->save)
	{
		struct kl_base_record rec = {.target_logp = (float) lp, .top = r->top};

		rec.log_rest = (float) ppl_top_k(logits, r->n_vocab, &q, r->k, r->top);
		return kl_base_put(r->save, &rec, (uint32_t) r->k, err);
	}
	return r->base ? compare_row(r, logits, &q, lp, err) : 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static void
print_result(struct ppl_run *r)
{
	double		n = (double) r->count;

	printf("{\"ctx\":%d,\"chunks\":%d,\"tokens\":%lld,\"nll_mean\":%.9g,\"ppl\":%.9g",
		   r->ctx, r->chunks, (long long) r->count, r->nll / n, exp(r->nll / n));
	if (r->base)
	{
		double		sum = 0;
		int64_t		p99 = (int64_t) ceil(0.99 * n) - 1;

		for (int64_t i = 0; i < r->count; i++)
			sum += r->kld[i];
		qsort(r->kld, r->count, sizeof *r->kld, cmp_double);
		printf(",\"kl_top\":%d,\"base_ppl\":%.9g,\"kld_mean\":%.9g,\"kld_p99\":%.9g,\"kld_max\":%.9g,"
			   "\"top1_agree\":%.9g,\"rms_dp\":%.9g", r->k, exp(r->base_nll / n), sum / n,
			   r->kld[p99], r->kld[r->count - 1], r->top1 / n, sqrt(r->dp2 / n));
	}
	fputs("}\n", stdout);
}

/* Every window through the model; 0 or 1 after cli_fail. */
static int
run_windows(struct ppl_run *r, const struct model *m, const struct token_list *t, int32_t *win)
{
	char		err[ERR_MAX];
	float	   *buf = malloc((size_t) ppl_window_rows(r->ic, r->ctx, r->ctx / 2) * r->n_vocab * sizeof(float));

	if (!buf)
		return cli_fail("out of memory for %d rows of logits", ppl_window_rows(r->ic, r->ctx, r->ctx / 2));
	r->win = win;
	for (int32_t c = 0; c < r->chunks; c++)
	{
		window_ids(m, t, r->ctx, c, win);
		if (ppl_window(r->ic, win, r->ctx, r->ctx / 2, &r->sparse, buf, score_row, r, err) != 0)
		{
			free(buf);
			return cli_fail("%s", err);
		}
	}
	free(buf);
	if (r->save && fflush(r->save) != 0)
		return cli_fail("cannot write the KL base: %s", strerror(errno));
	return 0;
}

/* ctx, chunks and k from the options, or from the base being compared with. */
static int
settle_shape(const struct cli_opts *o, struct ppl_run *r, size_t n_tokens)
{
	int64_t		max_chunks;

	if (r->base)
	{
		if ((o->ctx && (uint32_t) o->ctx != r->bh.ctx) || (o->chunks && (uint32_t) o->chunks != r->bh.chunks))
			return cli_fail("%s was saved with -c %u --chunks %u: give the same or none",
							o->kl_base, r->bh.ctx, r->bh.chunks);
		if (o->kl_top)
			return cli_fail("--kl-top is the base's (%u) when comparing", r->bh.k);
		r->ctx = (int32_t) r->bh.ctx;
		r->k = (int32_t) r->bh.k;
	}
	else
	{
		r->ctx = o->ctx ? o->ctx : PPL_DEFAULT_CTX;
		r->k = o->kl_top ? o->kl_top : PPL_DEFAULT_TOP;
		if (r->k > r->n_vocab)
			return cli_fail("--kl-top %d exceeds the vocabulary (%d tokens)", r->k, r->n_vocab);
	}
	max_chunks = (int64_t) (n_tokens / (size_t) r->ctx);
	if (max_chunks < 1)
		return cli_fail("the text has %zu tokens, less than one window of %d", n_tokens, r->ctx);
	if (r->base && r->bh.chunks > max_chunks)
		return cli_fail("%s has %u windows of %d tokens; this text has only %lld: a different text",
						o->kl_base, r->bh.chunks, r->ctx, (long long) max_chunks);
	r->chunks = r->base ? (int32_t) r->bh.chunks
		: o->chunks && o->chunks < max_chunks ? o->chunks : (int32_t) max_chunks;
	return 0;
}

/* Open the base to read (its shape first: it decides ctx) or create the one to write. */
static int
open_base(const struct cli_opts *o, const struct model *m, struct ppl_run *r, const struct token_list *t,
		  int32_t **win)
{
	char		err[ERR_MAX];
	uint64_t	h;

	if (o->kl_base && !(r->base = kl_base_open(o->kl_base, m->hp.n_vocab, &r->bh, err)))
		return cli_fail("%s", err);
	if (settle_shape(o, r, t->n) != 0)
		return 1;
	*win = malloc((size_t) r->ctx * sizeof **win);
	r->top = malloc((size_t) r->k * sizeof *r->top);
	r->kld = r->base ? malloc((size_t) r->bh.positions * sizeof *r->kld) : NULL;
	if (!*win || !r->top || (r->base && !r->kld))
		return cli_fail("out of memory");
	h = windows_hash(m, t, r->ctx, r->chunks, *win);
	if (r->base && h != r->bh.tokens_hash)
		return cli_fail("%s was saved from a different text or tokenization (token hash differs)",
						o->kl_base);
	if (o->kl_base_save)
	{
		struct kl_base_header bh = {m->hp.n_vocab, r->ctx, r->k, r->chunks,
		r->chunks * kl_positions_per_chunk(r->ctx), h};

		if (!(r->save = kl_base_create(o->kl_base_save, &bh, err)))
			return cli_fail("%s", err);
	}
	return 0;
}

static int
perplexity(const struct cli_opts *o, struct model *m)
{
	char		err[ERR_MAX];
	struct token_list t = {0};
	struct ppl_run r = {.n_vocab = m->hp.n_vocab, .sparse = cli_sparse(o)};
	int32_t    *win = NULL;
	int			rc = text_tokens(m, o->file, &t);

	if (rc == 0)
		rc = open_base(o, m, &r, &t, &win);
	if (rc == 0)
	{
		/* the CPU: infer_forward_rows is not a GPU backend's pass */
		r.ic = infer_new(m, &(struct infer_config) {.n_threads = o->threads, .n_ctx = r.ctx,
						 .kv_type = o->kv_type, .device = INFER_DEVICE_CPU}, err);
		rc = r.ic ? run_windows(&r, m, &t, win) : cli_fail("%s", err);
	}
	if (rc == 0)
		print_result(&r);
	if (r.save && fclose(r.save) != 0 && rc == 0)
		rc = cli_fail("cannot write %s: %s", o->kl_base_save, strerror(errno));
	if (rc != 0 && r.save)
		unlink(o->kl_base_save);	/* no half-written base left to compare with */
	if (r.base)
		fclose(r.base);
	infer_free(r.ic);
	free(r.kld);
	free(r.top);
	free(win);
	token_list_free(&t);
	return rc;
}

int
cmd_perplexity(const struct cli_opts *o)
{
	char		err[ERR_MAX];
	struct model *m;
	int			rc;

	if (!o->file)
		return cli_fail("perplexity needs -f TEXT_FILE");
	if (o->prompt)
		return cli_fail("perplexity reads its text from -f FILE, not -p");
	if (o->kl_base && o->kl_base_save)
		return cli_fail("--kl-base (compare) and --kl-base-save (write) exclude each other");
	if (o->kl_top && !o->kl_base_save && !o->kl_base)
		return cli_fail("--kl-top needs --kl-base-save FILE");
	m = model_load(o->model, err);
	if (!m)
		return cli_fail("%s", err);
	if (m->arch->encoder)
		rc = cli_fail("%s is an encoder: it has no next-token distribution", m->arch->name);
	else
		rc = perplexity(o, m);
	model_free(m);
	return rc;
}
