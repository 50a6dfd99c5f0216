/*
 * encoder.c — the BERT forward pass on the CPU, as llama.cpp's graph for
 * arch "bert" computes it.  Read top to bottom: embeddings (token + type 0
 * + position) and their LayerNorm, then per layer attention with biases
 * over the whole input (no mask, no cache), output projection, residual
 * and LayerNorm, feed-forward up, GELU, down, residual and LayerNorm
 * (post-norm).
 *
 * The products are forward.c's (forward_impl.h): every token of the pass
 * in one product, each row summed in the order llama.cpp uses for a batch
 * of its input's length, so an input's result does not depend on the
 * others it is batched with.  Attention is in plain float, as llama.cpp's
 * without flash attention on F32 keys (there is no F16 cache here).
 */
#include "encoder.h"

#include <math.h>

#include "forward_impl.h"
#include "ops.h"
#include "quant.h"
#include "threadpool.h"

/* x[t] = LayerNorm(xn[t] + x[t]) with the weights and biases norm[0], norm[1] */
static void
residual_norm_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const float *const *norm = arg;
	struct forward_scratch *s = ic->scratch;
	int			d = ic->model->hp.n_embd;
	float	   *x = s->x + (size_t) t * d;

	vec_add(s->xn + (size_t) t * d, x, d);
	layernorm(x, s->xn + (size_t) t * d, norm[0], norm[1], d, ic->model->hp.norm_eps);
}

/* x[t] = LayerNorm(tok_embd[id] + type_embd + pos_embd[pos]) */
static void
embed_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const int32_t *ids = arg;
	const struct model *m = ic->model;
	struct forward_scratch *s = ic->scratch;
	int			d = m->hp.n_embd;
	float	   *x = s->x + (size_t) t * d;
	float	   *pos = s->xn + (size_t) t * d;

	weight_row_f32(&m->tok_embd, ids[t], x);
	if (m->type_embd)
		vec_add(x, m->type_embd, d);
	weight_row_f32(&m->pos_embd, s->tok_index[t], pos);
	vec_add(pos, x, d);
	layernorm(x, pos, m->embd_norm, m->embd_norm_b, d, m->hp.norm_eps);
}

static void
gelu_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	float	   *h = ic->scratch->gate + (size_t) t * ic->model->hp.n_ff;

	(void) arg;
	gelu(h, h, ic->model->hp.n_ff);
}

/*
 * V of input head h transposed, [head_dim][n] from row t0 of s->v, into
 * s->gate (free during attention): llama.cpp multiplies the probabilities
 * with a contiguous V^T, so its sums run along the keys.
 */
static void
transpose_v(const struct hparams *hp, struct forward_scratch *s, int32_t t0, int32_t n, int32_t h)
{
	size_t		d = hp->n_embd;
	int			hd = hp->head_dim;
	float	   *vt = s->gate + t0 * d + (size_t) h * hd * n;

	for (int32_t j = 0; j < n; j++)
		for (int i = 0; i < hd; i++)
			vt[(size_t) i * n + j] = s->v[(t0 + j) * d + (size_t) h * hd + i];
}

/*
 * Head h of token t over the n keys and values of its input (from t0), in
 * the orders of llama.cpp's attention without flash attention: q.k by
 * vec_dot (its Q is a permuted view, so tinyBLAS declines), scaled, the
 * softmax of an unpadded row, and V^T times the probabilities as a
 * product over the input's n tokens (tinyBLAS from 2).
 */
static void
attend(const struct hparams *hp, struct forward_scratch *s, int32_t t, int32_t h, float *scores)
{
	size_t		d = hp->n_embd;
	int			hd = hp->head_dim;
	int32_t		t0 = t - s->tok_index[t];
	int32_t		n = s->tok_chunk[t];
	float		scale = 1.0f / sqrtf((float) hd);
	const float *q = s->q + t * d + (size_t) h * hd;
	const float *vt = s->gate + t0 * d + (size_t) h * hd * n;
	float	   *out = s->att + t * d + (size_t) h * hd;
	enum mm_path pv = mm_path_for(DTYPE_F32, hd, n, s->tok_index[t]);

	for (int32_t j = 0; j < n; j++)
		scores[j] = vec_dot_path(MM_VEC_DOT, DTYPE_F32, hd, s->k + (t0 + j) * d + (size_t) h * hd, q) * scale;
	softmax_unpadded(scores, n);
	for (int i = 0; i < hd; i++)
		out[i] = vec_dot_path(pv, DTYPE_F32, n, vt + (size_t) i * n, scores);
}

struct attention_task
{
	struct infer_ctx *ic;
	int32_t		T;
};

/* Worker i of n: V^T of its share of the (input, head) pairs. */
static void
transpose_worker(void *ctx, int i, int n)
{
	const struct attention_task *at = ctx;
	const struct hparams *hp = &at->ic->model->hp;
	struct forward_scratch *s = at->ic->scratch;
	int			job = 0;

	for (int32_t t0 = 0; t0 < at->T; t0 += s->tok_chunk[t0])
		for (int32_t h = 0; h < hp->n_head; h++, job++)
			if (job % n == i)
				transpose_v(hp, s, t0, s->tok_chunk[t0], h);
}

static void
attention_worker(void *ctx, int i, int n)
{
	const struct attention_task *at = ctx;
	const struct hparams *hp = &at->ic->model->hp;
	struct forward_scratch *s = at->ic->scratch;
	float	   *scores = s->scores + (size_t) i * at->ic->n_ctx;

	for (int32_t job = i; job < at->T * hp->n_head; job += n)
		attend(hp, s, job / hp->n_head, job % hp->n_head, scores);
}

static void
encoder_layer(struct infer_ctx *ic, const struct layer *l, int32_t T)
{
	struct forward_scratch *s = ic->scratch;
	struct attention_task at = {ic, T};

	acts_forget(s);
	linear_group(ic, (const struct weight *[]) {&l->wq, &l->wk, &l->wv},
				 (float *[]) {s->q, s->k, s->v}, (const float *[]) {l->bq, l->bk, l->bv},
				 3, s->x, T, false);
	threadpool_run(ic->pool, transpose_worker, &at);
	threadpool_run(ic->pool, attention_worker, &at);
	acts_forget(s);
	linear(ic, &l->wo, s->att, T, s->xn, l->bo, false);
	for_each_token(ic, T, residual_norm_token, (const float *[]) {l->attn_out_norm, l->attn_out_norm_b});
	acts_forget(s);
	linear(ic, &l->w_up, s->x, T, s->gate, l->b_up, false);
	for_each_token(ic, T, gelu_token, NULL);
	acts_forget(s);
	linear(ic, &l->w_down, s->gate, T, s->xn, l->b_down, false);
	for_each_token(ic, T, residual_norm_token, (const float *[]) {l->out_norm, l->out_norm_b});
}

const float *
encoder_forward(struct infer_ctx *ic, const struct token_list *inputs, int n)
{
	const struct model *m = ic->model;
	struct forward_scratch *s = ic->scratch;
	int32_t		T = 0;
	int32_t    *ids = s->tok_pos;	/* an encoder's position is tok_index: tok_pos holds the ids */

	for (int i = 0; i < n; i++)
		for (size_t j = 0; j < inputs[i].n; j++, T++)
		{
			s->tok_chunk[T] = (int32_t) inputs[i].n;
			s->tok_index[T] = (int32_t) j;
			ids[T] = inputs[i].ids[j];
		}
	for_each_token(ic, T, embed_token, ids);
	for (int32_t il = 0; il < m->hp.n_layer; il++)
		encoder_layer(ic, &m->layers[il], T);
	return s->x;
}
