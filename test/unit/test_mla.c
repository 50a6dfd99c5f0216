/*
 * test_mla.c — the latent cache against the expanded attention it replaces.
 *
 * deepseek2's absorbed attention keeps per token one latent row and turns
 * attention into MQA over it (mla.c).  Here a reference forward pass of a
 * synthetic deepseek2 model (F32 weights, so no activation quantization on
 * either side) computes attention the expanded way: from each token's
 * latent, every head's K (attn_k_b's product, then the shared RoPE part)
 * and V (attn_v_b's product) are formed and cached, and each head attends
 * over its own K and V, in double.  The engine, run over the same tokens in
 * two passes (a prompt, then a decode step over the cache it left), must
 * give the same logits within what its F16 cache and F16-rounded query and
 * probabilities allow.  The experts each token took come from the engine's
 * route_hook (routing is checked against llama.cpp by test_moe_routing), so
 * the two differ in attention only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "forward.h"
#include "model.h"
#include "ops.h"

#define NAME "deepseek2-f32-mla"
#define ARGS "--arch deepseek2 --wtype F32 --seed 61 --weight-std 0.08"
#define N_TOK 40
/* the engine rounds the latent row, the query and the probabilities to F16
 * (2^-11 relative) as llama.cpp does; a 5% error in the score scale moves
 * these logits by 0.19 */
#define TOLERANCE 1e-2
#define MAX_LAYERS 8

/* The experts the engine chose, per layer, for each token in order. */
struct choices
{
	int32_t		n_used;
	int32_t		n_rows[MAX_LAYERS];
	int32_t		chosen[MAX_LAYERS][N_TOK * 16];
};

static void
record(void *arg, int32_t layer, int32_t T, int32_t n_used, const int32_t *chosen)
{
	struct choices *c = arg;

	c->n_used = n_used;
	memcpy(c->chosen[layer] + c->n_rows[layer] * n_used, chosen, (size_t) T * n_used * sizeof(int32_t));
	c->n_rows[layer] += T;
}

/* y[rows] = w . x, in double */
static void
product(const struct weight *w, const float *x, float *y)
{
	float	   *row = malloc(w->cols * sizeof(float));

	for (int64_t r = 0; r < w->rows; r++)
	{
		double		sum = 0;

		weight_row_f32(w, r, row);
		for (int64_t c = 0; c < w->cols; c++)
			sum += (double) row[c] * x[c];
		y[r] = (float) sum;
	}
	free(row);
}

static void
swiglu_block(const struct weight *gate, const struct weight *up, const struct weight *down,
			 const float *x, float *out)
{
	float	   *g = malloc(gate->rows * sizeof(float));
	float	   *u = malloc(up->rows * sizeof(float));

	product(gate, x, g);
	product(up, x, u);
	for (int64_t i = 0; i < gate->rows; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
	product(down, g, out);
	free(g);
	free(u);
}

/* The expanded per-head keys and values of every token of one layer. */
struct expanded
{
	double	   *k;				/* [N_TOK][n_head][qk_nope + rope] */
	double	   *v;				/* [N_TOK][n_head][v_head] */
};

/* Token t's query heads and its expanded K and V (from its latent). */
static void
attention_inputs(const struct model *m, const struct layer *l, const float *xn, int32_t t,
				 float *q, struct expanded *ex)
{
	const struct hparams *hp = &m->hp;
	const struct mla_hparams *mla = hp->mla;
	int32_t		q_head = mla->qk_nope_dim + hp->rope_dim;
	float		q_a[1024];
	float		kv[MODEL_MAX_HEAD_DIM];
	float		cs[MODEL_MAX_HEAD_DIM / 2];
	float		sn[MODEL_MAX_HEAD_DIM / 2];
	float	   *row = malloc(mla->kv_lora_rank * sizeof(float));

	product(&l->wq_a, xn, q_a);
	rmsnorm(q_a, q_a, l->q_a_norm, mla->q_lora_rank, hp->rms_eps);
	product(&l->wq_b, q_a, q);
	product(&l->wkv_a, xn, kv);
	rmsnorm(kv, kv, l->kv_a_norm, mla->kv_lora_rank, hp->rms_eps);
	rope_angles_scaled(cs, sn, hp->rope_dim, t, hp->rope_base, NULL, &hp->rope_scaling);
	rope_rotate(kv + mla->kv_lora_rank, 1, hp->rope_dim, hp->rope_dim, cs, sn, m->arch->rope);
	rope_rotate(q + mla->qk_nope_dim, hp->n_head, q_head, hp->rope_dim, cs, sn, m->arch->rope);
	for (int32_t h = 0; h < hp->n_head; h++)
	{
		struct weight kb = weight_matrix(&l->wk_b, h);
		struct weight vb = weight_matrix(&l->wv_b, h);
		double	   *k = ex->k + ((size_t) t * hp->n_head + h) * q_head;
		double	   *v = ex->v + ((size_t) t * hp->n_head + h) * mla->v_head_dim;

		/* K's no-RoPE part: attn_k_b holds it transposed (rows: the latent) */
		for (int32_t j = 0; j < mla->qk_nope_dim; j++)
			k[j] = 0;
		for (int32_t r = 0; r < mla->kv_lora_rank; r++)
		{
			weight_row_f32(&kb, r, row);
			for (int32_t j = 0; j < mla->qk_nope_dim; j++)
				k[j] += (double) row[j] * kv[r];
		}
		for (int32_t i = 0; i < hp->rope_dim; i++)
			k[mla->qk_nope_dim + i] = kv[mla->kv_lora_rank + i];
		for (int32_t i = 0; i < mla->v_head_dim; i++)
		{
			weight_row_f32(&vb, i, row);
			v[i] = 0;
			for (int32_t r = 0; r < mla->kv_lora_rank; r++)
				v[i] += (double) row[r] * kv[r];
		}
	}
	free(row);
}

/* Token t's attention output (n_head * v_head) over tokens 0..t. */
static void
attend_expanded(const struct hparams *hp, const float *q, const struct expanded *ex, int32_t t,
				float *out)
{
	const struct mla_hparams *mla = hp->mla;
	int32_t		q_head = mla->qk_nope_dim + hp->rope_dim;
	double		s[N_TOK];

	for (int32_t h = 0; h < hp->n_head; h++)
	{
		double		max = -INFINITY;
		double		sum = 0;

		for (int32_t p = 0; p <= t; p++)
		{
			const double *k = ex->k + ((size_t) p * hp->n_head + h) * q_head;

			s[p] = 0;
			for (int32_t j = 0; j < q_head; j++)
				s[p] += q[h * q_head + j] * k[j];
			s[p] *= hp->kq_scale;
			max = s[p] > max ? s[p] : max;
		}
		for (int32_t p = 0; p <= t; p++)
			sum += s[p] = exp(s[p] - max);
		for (int32_t i = 0; i < mla->v_head_dim; i++)
		{
			double		o = 0;

			for (int32_t p = 0; p <= t; p++)
				o += s[p] / sum * ex->v[((size_t) p * hp->n_head + h) * mla->v_head_dim + i];
			out[h * mla->v_head_dim + i] = (float) o;
		}
	}
}

/* The MoE block for one token, its experts as the engine chose them. */
static void
moe_expanded(const struct model *m, const struct layer *l, const float *xn, const int32_t *chosen,
			 float *out)
{
	const struct mla_hparams *mla = m->hp.mla;
	int32_t		d = m->hp.n_embd;
	float		prob[256];
	float		w[16];
	float	   *e_out = malloc(d * sizeof(float));
	double		total = 0;

	product(&l->gate_inp, xn, prob);
	for (int32_t k = 0; k < mla->n_expert_used; k++)
		total += w[k] = 1.0f / (1.0f + expf(-prob[chosen[k]]));
	swiglu_block(&l->gate_shexp, &l->up_shexp, &l->down_shexp, xn, out);
	for (int32_t k = 0; k < mla->n_expert_used; k++)
	{
		struct weight g = weight_matrix(&l->gate_exps, chosen[k]);
		struct weight u = weight_matrix(&l->up_exps, chosen[k]);
		struct weight dn = weight_matrix(&l->down_exps, chosen[k]);
		double		scale = w[k] / total * mla->expert_weights_scale;

		swiglu_block(&g, &u, &dn, xn, e_out);
		for (int32_t i = 0; i < d; i++)
			out[i] += (float) (scale * e_out[i]);
	}
	free(e_out);
}

/* The reference pass over ids; logits of the last token. */
static void
reference_logits(const struct model *m, const int32_t *ids, const struct choices *c, float *logits)
{
	const struct hparams *hp = &m->hp;
	int32_t		d = hp->n_embd;
	size_t		q_dim = (size_t) hp->n_head * (hp->mla->qk_nope_dim + hp->rope_dim);
	float	   *x = malloc((size_t) N_TOK * d * sizeof(float));
	float	   *xn = malloc(d * sizeof(float));
	float	   *q = malloc(N_TOK * q_dim * sizeof(float));
	float	   *att = malloc((size_t) hp->n_head * hp->mla->v_head_dim * sizeof(float));
	float	   *y = malloc(d * sizeof(float));
	struct expanded ex = {malloc(N_TOK * q_dim * sizeof(double)),
	malloc((size_t) N_TOK * hp->n_head * hp->mla->v_head_dim * sizeof(double))};

	for (int32_t t = 0; t < N_TOK; t++)
		weight_row_f32(&m->tok_embd, ids[t], x + (size_t) t * d);
	for (int32_t il = 0; il < hp->n_layer; il++)
	{
		const struct layer *l = &m->layers[il];

		for (int32_t t = 0; t < N_TOK; t++)
		{
			rmsnorm(xn, x + (size_t) t * d, l->attn_norm, d, hp->rms_eps);
			attention_inputs(m, l, xn, t, q + t * q_dim, &ex);
		}
		for (int32_t t = 0; t < N_TOK; t++)
		{
			attend_expanded(hp, q + t * q_dim, &ex, t, att);
			product(&l->wo, att, y);
			vec_add(x + (size_t) t * d, y, d);
		}
		/* the last layer's block only for the token whose logits we want */
		for (int32_t t = il == hp->n_layer - 1 ? N_TOK - 1 : 0; t < N_TOK; t++)
		{
			int32_t		row = il == hp->n_layer - 1 ? 0 : t;

			rmsnorm(xn, x + (size_t) t * d, l->ffn_norm, d, hp->rms_eps);
			if (l->gate_inp.data)
				moe_expanded(m, l, xn, c->chosen[il] + row * c->n_used, y);
			else
				swiglu_block(&l->w_gate, &l->w_up, &l->w_down, xn, y);
			vec_add(x + (size_t) t * d, y, d);
		}
	}
	rmsnorm(xn, x + (size_t) (N_TOK - 1) * d, m->output_norm, d, hp->rms_eps);
	product(&m->output, xn, logits);
	free(x);
	free(xn);
	free(q);
	free(att);
	free(y);
	free(ex.k);
	free(ex.v);
}

int
main(void)
{
	char		path[512];
	char		err[ERR_MAX];
	int32_t		ids[N_TOK];
	struct choices *c = calloc(1, sizeof *c);
	struct kv_seq seq = {0};
	struct model *m;
	struct infer_ctx *ic;
	bool		shape_ok;

	for (int32_t t = 0; t < N_TOK; t++)
		ids[t] = (t * 37 + 11) % 256;
	if (check_synthetic_model(NAME, ARGS, path, sizeof path) != 0)
	{
		check_missing(NAME ": cannot generate the model (python3 with numpy and gguf needed)");
		return check_done("mla");
	}
	m = model_load(path, err);
	shape_ok = m && m->hp.mla && m->hp.n_layer <= MAX_LAYERS && m->hp.mla->n_expert <= 256 &&
		m->hp.mla->n_expert_used <= 16 && m->hp.mla->q_lora_rank <= 1024;
	CHECK(shape_ok, NAME ": %s", m ? "not the deepseek2 shape this test expects" : err);
	ic = shape_ok ? infer_new(m, &(struct infer_config) {.n_threads = 2, .n_ctx = 256}, err) : NULL;
	CHECK(ic != NULL || !shape_ok, NAME ": %s", err);
	if (ic)
	{
		float	   *ours = malloc(m->hp.n_vocab * sizeof(float));
		float	   *ref = malloc(m->hp.n_vocab * sizeof(float));
		struct seq_batch prompt = {&seq, ids, N_TOK - 1, false, {0}};
		struct seq_batch step = {&seq, ids + N_TOK - 1, 1, true, {0}};
		double		max_diff = 0;

		ic->route_hook = record;
		ic->route_hook_arg = c;
		CHECK(ic->kv->latent && ic->kv->kv_dim == m->hp.mla->kv_lora_rank + m->hp.rope_dim,
			  "the cache holds one latent row per token and layer");
		CHECK(infer_forward(ic, &prompt, 1, NULL, err) == 0, "prompt: %s", err);
		CHECK(infer_forward(ic, &step, 1, ours, err) == 0, "decode: %s", err);
		reference_logits(m, ids, c, ref);
		for (int32_t i = 0; i < m->hp.n_vocab; i++)
			max_diff = fmax(max_diff, fabs((double) ours[i] - ref[i]));
		CHECK(max_diff <= TOLERANCE, "latent attention's logits differ from the expanded "
			  "attention's by %g", max_diff);
		printf("%-28s max |latent - expanded| = %.3g\n", NAME, max_diff);
		free(ours);
		free(ref);
		kv_seq_release(ic->kv, &seq);
	}
	infer_free(ic);
	model_free(m);
	free(c);
	return check_done("mla");
}
