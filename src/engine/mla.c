/*
 * mla.c — deepseek2's multi-head latent attention, with the absorbed
 * weights, as llama.cpp computes it.
 *
 * Per token the cache keeps one row: the KV latent (kv_lora_rank values,
 * RMS-normalized) and the RoPE part of the key (rope_dim values, shared by
 * all heads).  A head's query absorbs attn_k_b: its no-RoPE part becomes
 * kv_lora_rank values that meet the latent directly, its RoPE part meets the
 * key's; so attention is MQA over the rows, the values being their latent
 * part.  Each head's output is brought back from the latent by attn_v_b.
 * Expanded, K and V would take n_head * (qk_nope + rope + v_head) values per
 * token and layer; the row takes kv_lora_rank + rope.
 */
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "forward.h"
#include "forward_impl.h"
#include "ops.h"
#include "threadpool.h"

void
mla_scratch_free(struct mla_scratch *ms)
{
	if (!ms)
		return;
	free(ms->q_a);
	free(ms->q);
	free(ms->kv);
	free(ms->q_lat);
	free(ms->lat);
	free(ms->head_in);
	free(ms->head_out);
	free(ms->att);
	free(ms->router);
	free(ms->select);
	free(ms->chosen);
	free(ms->weight);
	free(ms->n_rows);
	free(ms->rows);
	free(ms->x_e);
	free(ms->gate_e);
	free(ms->up_e);
	free(ms->out_e);
	free(ms->expert_out);
	free(ms->moe_out);
	free(ms);
}

static size_t
max2(size_t a, size_t b)
{
	return a > b ? a : b;
}

struct mla_scratch *
mla_scratch_new(const struct hparams *hp, int32_t T)
{
	const struct mla_hparams *mla = hp->mla;
	struct mla_scratch *ms = calloc(1, sizeof *ms);
	size_t		heads = hp->n_head;
	size_t		q_head = mla->qk_nope_dim + hp->rope_dim;
	size_t		used = mla->n_expert_used;
	size_t		f = sizeof(float);

	if (!ms)
		return NULL;
	/* + 1: never a malloc(0) (no Q compression) */
	ms->q_a = malloc(T * (mla->q_lora_rank + 1) * f);
	ms->q = malloc(T * heads * q_head * f);
	ms->kv = malloc(T * hp->head_dim * f);
	ms->q_lat = malloc(T * heads * hp->head_dim * f);
	ms->lat = malloc(T * heads * mla->kv_lora_rank * f);
	ms->head_in = malloc(T * max2(mla->qk_nope_dim, mla->kv_lora_rank) * f);
	ms->head_out = malloc(T * max2(mla->kv_lora_rank, mla->v_head_dim) * f);
	ms->att = malloc(T * heads * mla->v_head_dim * f);
	ms->router = malloc(T * mla->n_expert * f);
	ms->select = malloc(T * mla->n_expert * f);
	ms->chosen = malloc(T * used * sizeof(int32_t));
	ms->weight = malloc(T * used * f);
	ms->n_rows = malloc(mla->n_expert * sizeof(int32_t));
	ms->rows = malloc((size_t) mla->n_expert * T * sizeof(int32_t));
	ms->x_e = malloc(T * hp->n_embd * f);
	ms->gate_e = malloc(T * mla->n_ff_exp * f);
	ms->up_e = malloc(T * mla->n_ff_exp * f);
	ms->out_e = malloc(T * hp->n_embd * f);
	ms->expert_out = malloc(T * used * hp->n_embd * f);
	ms->moe_out = malloc(T * hp->n_embd * f);
	if (!ms->q_a || !ms->q || !ms->kv || !ms->q_lat || !ms->lat || !ms->head_in ||
		!ms->head_out || !ms->att || !ms->router || !ms->select || !ms->chosen || !ms->weight ||
		!ms->n_rows || !ms->rows || !ms->x_e || !ms->gate_e || !ms->up_e || !ms->out_e ||
		!ms->expert_out || !ms->moe_out)
	{
		mla_scratch_free(ms);
		return NULL;
	}
	return ms;
}

/* q_a = rmsnorm(q_a) with the weights arg, for token t */
static void
q_a_norm_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct hparams *hp = &ic->model->hp;
	float	   *q_a = ic->scratch->mla->q_a + (size_t) t * hp->mla->q_lora_rank;

	rmsnorm(q_a, q_a, arg, hp->mla->q_lora_rank, hp->rms_eps);
}

/*
 * Token t's cache row (the latent normalized by arg's kv_a_norm, the RoPE
 * part rotated) and its query heads' RoPE parts, rotated into the ends of
 * the absorbed query heads.
 */
static void
latent_rope_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct model *m = ic->model;
	const struct hparams *hp = &m->hp;
	const struct mla_hparams *mla = hp->mla;
	const float *kv_a_norm = arg;
	struct forward_scratch *s = ic->scratch;
	struct mla_scratch *ms = s->mla;
	int32_t		q_head = mla->qk_nope_dim + hp->rope_dim;
	const float *cs = s->rope_cos + (size_t) t * (hp->rope_dim / 2);
	const float *sn = s->rope_sin + (size_t) t * (hp->rope_dim / 2);
	float	   *kv = ms->kv + (size_t) t * hp->head_dim;
	float	   *q = ms->q + (size_t) t * hp->n_head * q_head;
	float	   *q_lat = ms->q_lat + (size_t) t * hp->n_head * hp->head_dim;

	rmsnorm(kv, kv, kv_a_norm, mla->kv_lora_rank, hp->rms_eps);
	rope_rotate(kv + mla->kv_lora_rank, 1, hp->rope_dim, hp->rope_dim, cs, sn, m->arch->rope);
	rope_rotate(q + mla->qk_nope_dim, hp->n_head, q_head, hp->rope_dim, cs, sn, m->arch->rope);
	for (int32_t h = 0; h < hp->n_head; h++)
		memcpy(q_lat + (size_t) h * hp->head_dim + mla->kv_lora_rank,
			   q + (size_t) h * q_head + mla->qk_nope_dim, hp->rope_dim * sizeof(float));
}

/* Where the heads' rows lie in a buffer: token t's head h at t * tok + h * head. */
struct head_rows
{
	float	   *base;
	size_t		tok;
	size_t		head;
};

/*
 * For each head h, out_h = w_h . in_h over the batch's tokens: one product
 * per head, as llama.cpp's mul_mat over a stack of per-head matrices.
 */
static void
per_head_products(struct infer_ctx *ic, const struct weight *w, struct head_rows in,
				  struct head_rows out, int32_t T)
{
	struct mla_scratch *ms = ic->scratch->mla;

	for (int32_t h = 0; h < ic->model->hp.n_head; h++)
	{
		struct weight wh = weight_matrix(w, h);

		for (int32_t t = 0; t < T; t++)
			memcpy(ms->head_in + (size_t) t * wh.cols, in.base + t * in.tok + h * in.head,
				   wh.cols * sizeof(float));
		acts_forget(ic->scratch);
		linear(ic, &wh, ms->head_in, T, ms->head_out, NULL, false);
		for (int32_t t = 0; t < T; t++)
			memcpy(out.base + t * out.tok + h * out.head, ms->head_out + (size_t) t * wh.rows,
				   wh.rows * sizeof(float));
	}
}

/* Each (token, head): attention over the token's sequence's cache rows. */
static void
latent_attention_worker(void *ctx, int i, int n)
{
	const struct layer_task *lt = ctx;
	struct infer_ctx *ic = lt->ic;
	const struct hparams *hp = &ic->model->hp;
	struct forward_scratch *s = ic->scratch;
	struct mla_scratch *ms = s->mla;
	int32_t		rank = hp->mla->kv_lora_rank;
	float	   *scores = s->scores + (size_t) i * ic->n_ctx;

	for (int32_t job = i; job < lt->T * hp->n_head; job += n)
	{
		int32_t		t = job / hp->n_head;

		attention_latent(ic->kv, lt->layer, s->tok_seq[t], s->tok_pos[t] + 1, rank,
						 ms->q_lat + (size_t) job * hp->head_dim, hp->kq_scale,
						 s->tok_chunk[t] >= 2, ms->lat + (size_t) job * rank, scores);
	}
}

void
mla_attention(struct infer_ctx *ic, const struct layer *l, int32_t il, int32_t T)
{
	const struct hparams *hp = &ic->model->hp;
	const struct mla_hparams *mla = hp->mla;
	struct forward_scratch *s = ic->scratch;
	struct mla_scratch *ms = s->mla;
	size_t		heads = hp->n_head;
	size_t		q_head = mla->qk_nope_dim + hp->rope_dim;
	struct layer_task lt = {ic, il, T};

	if (mla->q_lora_rank > 0)
	{
		linear_group(ic, (const struct weight *[]) {&l->wq_a, &l->wkv_a},
					 (float *[]) {ms->q_a, ms->kv}, (const float *[]) {NULL, NULL}, 2, s->xn, T, false);
		for_each_token(ic, T, q_a_norm_token, l->q_a_norm);
		acts_forget(s);
		linear(ic, &l->wq_b, ms->q_a, T, ms->q, NULL, false);
	}
	else
		linear_group(ic, (const struct weight *[]) {&l->wq, &l->wkv_a},
					 (float *[]) {ms->q, ms->kv}, (const float *[]) {NULL, NULL}, 2, s->xn, T, false);
	for_each_token(ic, T, latent_rope_token, l->kv_a_norm);
	/* the no-RoPE part of each query head absorbs attn_k_b */
	per_head_products(ic, &l->wk_b, (struct head_rows) {ms->q, heads * q_head, q_head},
					  (struct head_rows) {ms->q_lat, heads * hp->head_dim, hp->head_dim}, T);
	/* one thread: tokens of a block share its key summary */
	for (int32_t t = 0; t < T; t++)
		kv_store(ic->kv, il, s->tok_seq[t], s->tok_pos[t], ms->kv + (size_t) t * hp->head_dim, NULL);
	threadpool_run(ic->pool, latent_attention_worker, &lt);
	/* each head's latent output through attn_v_b, then the output projection */
	per_head_products(ic, &l->wv_b,
					  (struct head_rows) {ms->lat, heads * mla->kv_lora_rank, mla->kv_lora_rank},
					  (struct head_rows) {ms->att, heads * mla->v_head_dim, mla->v_head_dim}, T);
	acts_forget(s);
	linear(ic, &l->wo, ms->att, T, s->xn, NULL, false);
}
