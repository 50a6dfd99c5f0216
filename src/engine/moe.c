/*
 * moe.c — deepseek2's mixture-of-experts block, as llama.cpp's
 * build_moe_ffn computes it for DeepSeek-V3.
 *
 * Routing, per token: sigmoid of the router's logits; for the choice only,
 * plus the per-expert correction bias (exp_probs_b); the experts split into
 * groups, a group scored by the sum of its two best, only the best groups'
 * experts eligible; the top experts among them, best first.  Their weights
 * are the unbiased sigmoid scores, normalized to sum 1 and times the routed
 * scaling factor.  Each expert then runs once, on the rows of the tokens
 * that chose it (each row summed as ggml's mul_mat_id sums it alone); a
 * token's output is its experts' weighted outputs added in their order,
 * plus the shared experts' SwiGLU block.
 */
#include <math.h>
#include <string.h>

#include "forward.h"
#include "forward_impl.h"
#include "ops.h"

/* The k best of x[0..n) into best[], highest first, ties to the lower index
 * (llama.cpp sorts with std::sort, which leaves ties in no set order). */
static void
top_k(const float *x, int32_t n, int32_t k, int32_t *best)
{
	for (int32_t j = 0; j < k; j++)
	{
		int32_t		b = -1;

		for (int32_t i = 0; i < n; i++)
		{
			bool		taken = false;

			for (int32_t p = 0; p < j && !taken; p++)
				taken = best[p] == i;
			if (!taken && (b < 0 || x[i] > x[b]))
				b = i;
		}
		best[j] = b;
	}
}

/* Only the experts of the best groups stay eligible: the others' scores
 * become -inf.  A group scores the sum of its two best. */
static void
mask_groups(float *sel, const struct mla_hparams *mla)
{
	int32_t		per = mla->n_expert / mla->n_expert_groups;
	float		group_score[MOE_MAX_GROUPS] = {0};
	int32_t		kept[MOE_MAX_GROUPS];

	for (int32_t g = 0; g < mla->n_expert_groups; g++)
	{
		int32_t		two[2];

		top_k(sel + g * per, per, 2, two);
		group_score[g] = (float) ((double) sel[g * per + two[0]] + (double) sel[g * per + two[1]]);
	}
	top_k(group_score, mla->n_expert_groups, mla->n_groups_used, kept);
	for (int32_t g = 0; g < mla->n_expert_groups; g++)
	{
		bool		keep = false;

		for (int32_t j = 0; j < mla->n_groups_used; j++)
			keep = keep || kept[j] == g;
		for (int32_t i = 0; !keep && i < per; i++)
			sel[g * per + i] = -INFINITY;
	}
}

/* Token t's experts and their weights, from its router logits (arg: the layer). */
static void
route_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct layer *l = arg;
	const struct mla_hparams *mla = ic->model->hp.mla;
	struct mla_scratch *ms = ic->scratch->mla;
	int32_t		n_used = mla->n_expert_used;
	float	   *prob = ms->router + (size_t) t * mla->n_expert;
	float	   *sel = ms->select + (size_t) t * mla->n_expert;
	int32_t    *chosen = ms->chosen + (size_t) t * n_used;
	float	   *w = ms->weight + (size_t) t * n_used;

	for (int32_t e = 0; e < mla->n_expert; e++)
	{
		prob[e] = 1.0f / (1.0f + expf(-prob[e]));
		sel[e] = l->exp_probs_b ? prob[e] + l->exp_probs_b[e] : prob[e];
	}
	if (mla->n_expert_groups > 1)
		mask_groups(sel, mla);
	top_k(sel, mla->n_expert, n_used, chosen);
	for (int32_t k = 0; k < n_used; k++)
		w[k] = prob[chosen[k]];
	if (mla->expert_weights_norm)
	{
		double		sum = 0.0;
		float		total;

		for (int32_t k = 0; k < n_used; k++)
			sum += (double) w[k];
		/* clamped as llama.cpp does, to the smallest normal F16 */
		total = fmaxf((float) sum, 6.103515625e-5f);
		for (int32_t k = 0; k < n_used; k++)
			w[k] = w[k] / total;
	}
	if (mla->expert_weights_scale != 0.0f && mla->expert_weights_scale != 1.0f)
		for (int32_t k = 0; k < n_used; k++)
			w[k] = w[k] * mla->expert_weights_scale;
}

/* Expert e on the rows of the tokens that chose it: their outputs go to
 * expert_out at each token's slot. */
static void
run_expert(struct infer_ctx *ic, const struct layer *l, int32_t e)
{
	const struct hparams *hp = &ic->model->hp;
	const struct mla_hparams *mla = hp->mla;
	struct mla_scratch *ms = ic->scratch->mla;
	int32_t		n = ms->n_rows[e];
	const int32_t *rows = ms->rows + (size_t) e * ic->max_batch_tokens;
	struct weight gate = weight_matrix(&l->gate_exps, e);
	struct weight up = weight_matrix(&l->up_exps, e);
	struct weight down = weight_matrix(&l->down_exps, e);
	size_t		d = hp->n_embd;

	for (int32_t r = 0; r < n; r++)
		memcpy(ms->x_e + r * d, ic->scratch->xn + (size_t) (rows[r] / mla->n_expert_used) * d,
			   d * sizeof(float));
	acts_forget(ic->scratch);
	linear_group_experts(ic, (const struct weight *[]) {&gate, &up},
						 (float *[]) {ms->gate_e, ms->up_e}, 2, ms->x_e, n);
	for (int32_t r = 0; r < n; r++)
		swiglu(ms->gate_e + (size_t) r * mla->n_ff_exp, ms->gate_e + (size_t) r * mla->n_ff_exp,
			   ms->up_e + (size_t) r * mla->n_ff_exp, mla->n_ff_exp);
	acts_forget(ic->scratch);
	linear_group_experts(ic, (const struct weight *[]) {&down}, (float *[]) {ms->out_e}, 1,
						 ms->gate_e, n);
	for (int32_t r = 0; r < n; r++)
		memcpy(ms->expert_out + (size_t) rows[r] * d, ms->out_e + r * d, d * sizeof(float));
}

/* moe_out of token t: its experts' outputs times their weights, added in
 * slot order (ggml_mul, then one ggml_add per slot). */
static void
combine_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct hparams *hp = &ic->model->hp;
	struct mla_scratch *ms = ic->scratch->mla;
	int32_t		n_used = hp->mla->n_expert_used;
	size_t		d = hp->n_embd;
	float	   *out = ms->moe_out + t * d;
	const float *w = ms->weight + (size_t) t * n_used;

	(void) arg;
	for (int32_t k = 0; k < n_used; k++)
	{
		const float *e = ms->expert_out + ((size_t) t * n_used + k) * d;

		for (size_t i = 0; i < d; i++)
		{
			float		v = e[i] * w[k];

			out[i] = k == 0 ? v : out[i] + v;
		}
	}
}

/* s->xn = moe_out + the shared experts' output (arg: that, or NULL) */
static void
join_shared_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	size_t		d = ic->model->hp.n_embd;
	float	   *xn = ic->scratch->xn + t * d;
	const float *moe = ic->scratch->mla->moe_out + t * d;

	for (size_t i = 0; i < d; i++)
		xn[i] = arg ? moe[i] + xn[i] : moe[i];
}

void
moe_ffn(struct infer_ctx *ic, const struct layer *l, int32_t T, bool alone)
{
	const struct mla_hparams *mla = ic->model->hp.mla;
	struct forward_scratch *s = ic->scratch;
	struct mla_scratch *ms = s->mla;
	int32_t		n_used = mla->n_expert_used;

	linear(ic, &l->gate_inp, s->xn, T, ms->router, NULL, alone);
	for_each_token(ic, T, route_token, l);
	if (ic->route_hook)
		ic->route_hook(ic->route_hook_arg, (int32_t) (l - ic->model->layers), T, n_used, ms->chosen);
	memset(ms->n_rows, 0, mla->n_expert * sizeof(int32_t));
	for (int32_t p = 0; p < T * n_used; p++)
	{
		int32_t		e = ms->chosen[p];

		ms->rows[(size_t) e * ic->max_batch_tokens + ms->n_rows[e]++] = p;
	}
	for (int32_t e = 0; e < mla->n_expert; e++)
		if (ms->n_rows[e] > 0)
			run_expert(ic, l, e);
	for_each_token(ic, T, combine_token, NULL);
	if (mla->n_expert_shared > 0)
	{
		acts_forget(s);
		swiglu_ffn(ic, &l->gate_shexp, &l->up_shexp, &l->down_shexp, s->xn, T, alone, s->xn);
	}
	for_each_token(ic, T, join_shared_token, mla->n_expert_shared > 0 ? s : NULL);
}
