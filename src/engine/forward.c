/*
 * forward.c — the transformer forward pass on the CPU, batched over
 * sequences.  Read top to bottom: embedding, per layer attention and
 * feed-forward with residuals, final norm and output projection.
 */
#include "forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "forward_impl.h"
#include "ops.h"
#include "quant.h"
#include "threadpool.h"

static void
scratch_free(struct forward_scratch *s)
{
	if (!s)
		return;
	free(s->x);
	free(s->xn);
	free(s->q);
	free(s->k);
	free(s->v);
	free(s->att);
	free(s->gate);
	free(s->up);
	free(s->acts[0].data);
	free(s->acts[1].data);
	free(s->scores);
	free(s->tok_budget);
	free(s->sel_blocks);
	free(s->sel_count);
	free(s->sel_bounds);
	free(s->tok_seq);
	free(s->tok_chunk);
	free(s->tok_index);
	free(s->tok_pos);
	free(s->tok_path);
	free(s->rope_cos);
	free(s->rope_sin);
	mla_scratch_free(s->mla);
	free(s);
}

/* encoder: no gate, so no up (the FFN's activations go to gate) */
static struct forward_scratch *
scratch_new(const struct hparams *hp, int32_t T, int32_t n_ctx, int n_threads, bool encoder)
{
	struct forward_scratch *s = calloc(1, sizeof *s);
	size_t		d = hp->n_embd;
	size_t		kv_dim = (size_t) hp->n_head_kv * hp->head_dim;
	size_t		n_ff = hp->n_ff;
	size_t		widest = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;

	if (!s)
		return NULL;
	if (hp->mla)
	{
		/* the widest input of a product: any of deepseek2's too */
		size_t		shared = (size_t) hp->mla->n_ff_exp * hp->mla->n_expert_shared;
		size_t		dims[] = {(size_t) hp->n_head * hp->mla->v_head_dim, hp->mla->q_lora_rank,
		hp->mla->kv_lora_rank, hp->mla->qk_nope_dim, shared};

		n_ff = shared > n_ff ? shared : n_ff;
		widest = n_ff > widest ? n_ff : widest;
		for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
			widest = dims[i] > widest ? dims[i] : widest;
		s->mla = mla_scratch_new(hp, T);
		if (!s->mla)
		{
			scratch_free(s);
			return NULL;
		}
	}
	s->x = malloc(T * d * sizeof(float));
	s->xn = malloc(T * d * sizeof(float));
	s->q = malloc(T * d * sizeof(float));
	s->k = malloc(T * kv_dim * sizeof(float));
	s->v = malloc(T * kv_dim * sizeof(float));
	s->att = malloc(T * d * sizeof(float));
	s->gate = malloc(T * n_ff * sizeof(float));
	s->up = encoder ? NULL : malloc(T * n_ff * sizeof(float));
	/* F32 is the widest activation format */
	s->acts[0].data = malloc(T * widest * sizeof(float));
	s->acts[1].data = malloc(T * widest * sizeof(float));
	s->scores = malloc((size_t) n_threads * n_ctx * sizeof(float));
	s->max_blocks = (n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
	s->tok_budget = calloc(T, sizeof(int32_t));
	s->sel_blocks = malloc((size_t) T * hp->n_head_kv * s->max_blocks * sizeof(int32_t));
	s->sel_count = malloc((size_t) T * hp->n_head_kv * sizeof(int32_t));
	s->sel_bounds = malloc((size_t) n_threads * 2 * s->max_blocks * sizeof(float));
	s->tok_seq = malloc(T * sizeof(struct kv_seq *));
	s->tok_chunk = malloc(T * sizeof(int32_t));
	s->tok_index = malloc(T * sizeof(int32_t));
	s->tok_pos = malloc(T * sizeof(int32_t));
	s->tok_path = malloc(GROUP_MAX * T * sizeof(enum mm_path));
	/* + 1: never a malloc(0) */
	s->rope_cos = malloc(T * (hp->rope_dim / 2 + 1) * sizeof(float));
	s->rope_sin = malloc(T * (hp->rope_dim / 2 + 1) * sizeof(float));
	if (!s->x || !s->xn || !s->q || !s->k || !s->v || !s->att || !s->gate || (!s->up && !encoder) ||
		!s->acts[0].data || !s->acts[1].data || !s->scores || !s->tok_budget ||
		!s->sel_blocks || !s->sel_count || !s->sel_bounds || !s->tok_seq ||
		!s->tok_chunk || !s->tok_index || !s->tok_pos || !s->tok_path || !s->rope_cos ||
		!s->rope_sin)
	{
		scratch_free(s);
		return NULL;
	}
	return s;
}

/*
 * device=auto takes the GPU backend when it is usable and falls back to the
 * CPU with a note saying why; device=gpu makes its absence an error.  The
 * GPU backend keeps an F16 cache of its own, so a q8_0 one means the CPU.
 */
static int
choose_backend(struct infer_ctx *ic, const struct infer_config *cfg, char *err)
{
	const struct backend_ops *ops = cfg->gpu_ops;
	struct backend_params p = {ic->n_ctx, ic->kv->n_blocks, ic->max_batch_tokens};
	char		why[ERR_MAX] = "no GPU backend is built in";

	snprintf(ic->device_note, sizeof ic->device_note, "running on the CPU");
	if (cfg->device == INFER_DEVICE_CPU)
		return 0;
	if (!ic->model->arch->gpu)
	{
		if (cfg->device == INFER_DEVICE_GPU)
			return err_set(err, "device=cuda: the GPU backend does not run the %s architecture",
						   ic->model->arch->name);
		snprintf(ic->device_note, sizeof ic->device_note,
				 "%s: running on the CPU (the GPU backend does not run it)", ic->model->arch->name);
		return 0;
	}
	if (ic->kv->type != KV_F16)
	{
		if (cfg->device == INFER_DEVICE_GPU)
			return err_set(err, "device=cuda: the GPU backend keeps its KV cache in F16 only, not %s",
						   kv_type_name(ic->kv->type));
		snprintf(ic->device_note, sizeof ic->device_note,
				 "a %s KV cache: running on the CPU (the GPU backend's is F16)",
				 kv_type_name(ic->kv->type));
		return 0;
	}
	if (!ops || !ops->available(why))
	{
		if (cfg->device == INFER_DEVICE_GPU)
			return err_set(err, "device=cuda: %s", why);
		snprintf(ic->device_note, sizeof ic->device_note, "no GPU (%s): running on the CPU", why);
		return 0;
	}
	ic->gpu_state = ops->create(ic->model, &p, err);
	if (!ic->gpu_state)
		return -1;
	ic->gpu = ops;
	snprintf(ic->device_note, sizeof ic->device_note, "running on %s", ops->describe(ic->gpu_state));
	return 0;
}

/*
 * An encoder (bert) needs no KV cache: each input is one pass of all its
 * tokens (encoder.c), so a pass must hold the longest input, and positions
 * end where its learned position embeddings do.  It runs on the CPU: the
 * GPU backend has no encoder.
 */
static struct infer_ctx *
encoder_ctx_init(struct infer_ctx *ic, const struct infer_config *cfg, int n_threads, char *err)
{
	const struct hparams *hp = &ic->model->hp;

	if (cfg->device == INFER_DEVICE_GPU)
	{
		err_set(err, "device=cuda: the GPU backend has no encoder (%s)", ic->model->arch->name);
		goto fail;
	}
	if (ic->n_ctx > hp->n_ctx_train)
		ic->n_ctx = hp->n_ctx_train;
	if (ic->max_batch_tokens < ic->n_ctx)
		ic->max_batch_tokens = ic->n_ctx;
	snprintf(ic->device_note, sizeof ic->device_note, "running on the CPU (an encoder)");
	ic->pool = threadpool_new(n_threads);
	ic->scratch = scratch_new(hp, ic->max_batch_tokens, ic->n_ctx, n_threads, true);
	if (!ic->scratch)
	{
		err_set(err, "out of memory for the forward pass buffers");
		goto fail;
	}
	return ic;

fail:
	infer_free(ic);
	return NULL;
}

struct infer_ctx *
infer_new(struct model *m, const struct infer_config *cfg, char *err)
{
	struct infer_ctx *ic = calloc(1, sizeof *ic);
	const struct hparams *hp = &m->hp;
	int32_t		kv_dim = hp->n_head_kv * hp->head_dim;
	size_t		block_bytes = infer_kv_block_bytes(m, cfg->kv_type);
	int64_t		n_blocks;
	int			n_threads = cfg->n_threads > 0 ? cfg->n_threads : 1;

	if (!ic)
	{
		err_set(err, "out of memory");
		return NULL;
	}
	ic->model = m;
	ic->n_ctx = cfg->n_ctx > 0 ? cfg->n_ctx : hp->n_ctx_train;
	ic->max_batch_tokens = cfg->max_batch_tokens > 0 ? cfg->max_batch_tokens : INFER_DEFAULT_BATCH_TOKENS;
	if (m->arch->encoder)
		return encoder_ctx_init(ic, cfg, n_threads, err);
	n_blocks = cfg->kv_bytes > 0
		? (int64_t) (cfg->kv_bytes / block_bytes)
		: (ic->n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
	if (n_blocks < 1 || n_blocks > INT32_MAX)
	{
		err_set(err, "kv cache: %zu bytes is less than one block (%zu bytes)", cfg->kv_bytes, block_bytes);
		goto fail;
	}
	if (cfg->kv_type == KV_Q8_0 && hp->head_dim % QK8_0 != 0)
	{
		/* a head must start at a block for attention to read it alone */
		err_set(err, "kv cache: q8_0 needs a head dimension that is a multiple of %d, not %d",
				QK8_0, hp->head_dim);
		goto fail;
	}
	if (hp->mla && cfg->kv_type == KV_Q8_0 && hp->mla->kv_lora_rank % QK8_0 != 0)
	{
		err_set(err, "kv cache: q8_0 needs a latent rank that is a multiple of %d, not %d",
				QK8_0, hp->mla->kv_lora_rank);
		goto fail;
	}
	ic->kv = hp->mla
		? kv_cache_new_latent(hp->n_layer, kv_dim, (int32_t) n_blocks, cfg->kv_type, err)
		: kv_cache_new(hp->n_layer, kv_dim, (int32_t) n_blocks, cfg->kv_type, err);
	if (!ic->kv)
		goto fail;
	ic->pool = threadpool_new(n_threads);
	ic->scratch = scratch_new(hp, ic->max_batch_tokens, ic->n_ctx, n_threads, false);
	if (!ic->pool || !ic->scratch)
	{
		err_set(err, "out of memory for the forward pass buffers");
		goto fail;
	}
	if (choose_backend(ic, cfg, err) != 0)
		goto fail;
	return ic;

fail:
	infer_free(ic);
	return NULL;
}

size_t
infer_kv_block_bytes(const struct model *m, enum kv_type type)
{
	const struct hparams *hp = &m->hp;

	if (hp->mla)
		return kv_latent_block_bytes(hp->n_layer, hp->head_dim, type);
	return kv_block_bytes(hp->n_layer, hp->n_head_kv * hp->head_dim, type);
}

void
infer_free(struct infer_ctx *ic)
{
	if (!ic)
		return;
	if (ic->gpu)
		ic->gpu->destroy(ic->gpu_state);
	if (ic->pool)
		threadpool_free(ic->pool);
	kv_cache_free(ic->kv);
	scratch_free(ic->scratch);
	free(ic);
}

/* ---- attention ---------------------------------------------------------- */

/* Sparse attention's blocks for each token with a budget and KV head. */
static void
select_worker(void *ctx, int i, int n)
{
	const struct layer_task *at = ctx;
	struct infer_ctx *ic = at->ic;
	const struct hparams *hp = &ic->model->hp;
	struct forward_scratch *s = ic->scratch;
	int32_t		group = hp->n_head / hp->n_head_kv;
	float	   *bounds = s->sel_bounds + (size_t) i * 2 * s->max_blocks;

	for (int32_t job = i; job < at->T * hp->n_head_kv; job += n)
	{
		int32_t		t = job / hp->n_head_kv;
		int32_t		kvh = job % hp->n_head_kv;

		if (s->tok_budget[t] == 0)
			continue;
		s->sel_count[job] = attention_select(ic->kv, at->layer, s->tok_seq[t], s->tok_pos[t] + 1,
											 kvh, hp->head_dim,
											 s->q + (size_t) t * hp->n_embd + (size_t) kvh * group * hp->head_dim,
											 group, s->tok_budget[t],
											 s->sel_blocks + (size_t) job * s->max_blocks, bounds);
	}
}

static void
attention_worker(void *ctx, int i, int n)
{
	const struct layer_task *at = ctx;
	struct infer_ctx *ic = at->ic;
	const struct hparams *hp = &ic->model->hp;
	struct forward_scratch *s = ic->scratch;
	int32_t		group = hp->n_head / hp->n_head_kv;
	float		scale = hp->kq_scale;
	float	   *scores = s->scores + (size_t) i * ic->n_ctx;

	for (int32_t job = i; job < at->T * hp->n_head; job += n)
	{
		int32_t		t = job / hp->n_head;
		int32_t		h = job % hp->n_head;
		size_t		off = (size_t) t * hp->n_embd + (size_t) h * hp->head_dim;
		size_t		sel = (size_t) t * hp->n_head_kv + h / group;

		if (s->tok_budget[t] > 0)
			attention_sparse(ic->kv, at->layer, s->tok_seq[t], s->tok_pos[t] + 1,
							 s->sel_blocks + sel * s->max_blocks, s->sel_count[sel],
							 h / group, hp->head_dim, s->q + off, scale, s->tok_chunk[t] >= 2,
							 s->att + off, scores);
		else
			attention_dense(ic->kv, at->layer, s->tok_seq[t], s->tok_pos[t] + 1,
							h / group, hp->head_dim, s->q + off, scale, s->tok_chunk[t] >= 2,
							s->att + off, scores);
	}
}

/* ---- the pass ----------------------------------------------------------- */

/* xn = rmsnorm(x) with the weights arg, for token t */
static void
norm_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct hparams *hp = &ic->model->hp;
	size_t		off = (size_t) t * hp->n_embd;

	rmsnorm(ic->scratch->xn + off, ic->scratch->x + off, arg, hp->n_embd, hp->rms_eps);
}

/* x += xn: a block's output joins the residual stream */
static void
residual_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	size_t		off = (size_t) t * ic->model->hp.n_embd;

	(void) arg;
	vec_add(ic->scratch->x + off, ic->scratch->xn + off, ic->model->hp.n_embd);
}

static void
rope_angles_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct model *m = ic->model;
	struct forward_scratch *s = ic->scratch;
	size_t		off = (size_t) t * (m->hp.rope_dim / 2);

	(void) arg;
	rope_angles_scaled(s->rope_cos + off, s->rope_sin + off, m->hp.rope_dim, s->tok_pos[t],
					   m->hp.rope_base, m->rope_freqs, &m->hp.rope_scaling);
}

/* Each head of n_head (head_dim apart) RMS-normalized with the weights w. */
static void
head_norms(float *x, int32_t n_head, const float *w, const struct hparams *hp)
{
	for (int32_t h = 0; h < n_head; h++)
		rmsnorm(x + (size_t) h * hp->head_dim, x + (size_t) h * hp->head_dim, w,
				hp->head_dim, hp->rms_eps);
}

/* RoPE on token t's Q and K heads, after their per-head norms (arg: the
 * layer) where the architecture has them. */
static void
rope_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct model *m = ic->model;
	const struct hparams *hp = &m->hp;
	const struct layer *l = arg;
	struct forward_scratch *s = ic->scratch;
	size_t		kv_dim = (size_t) hp->n_head_kv * hp->head_dim;
	size_t		off = (size_t) t * (hp->rope_dim / 2);

	if (l->q_norm)
	{
		head_norms(s->q + t * hp->n_embd, hp->n_head, l->q_norm, hp);
		head_norms(s->k + t * kv_dim, hp->n_head_kv, l->k_norm, hp);
	}
	rope_rotate(s->q + t * hp->n_embd, hp->n_head, hp->head_dim, hp->rope_dim,
				s->rope_cos + off, s->rope_sin + off, m->arch->rope);
	rope_rotate(s->k + t * kv_dim, hp->n_head_kv, hp->head_dim, hp->rope_dim,
				s->rope_cos + off, s->rope_sin + off, m->arch->rope);
}

/* Multi-head attention with its own K and V per KV head (llama, qwen2, qwen3). */
static void
mha_attention(struct infer_ctx *ic, const struct layer *l, int32_t il, int32_t T)
{
	const struct hparams *hp = &ic->model->hp;
	struct forward_scratch *s = ic->scratch;
	int32_t		kv_dim = hp->n_head_kv * hp->head_dim;
	struct layer_task at = {ic, il, T};

	linear_group(ic, (const struct weight *[]) {&l->wq, &l->wk, &l->wv},
				 (float *[]) {s->q, s->k, s->v}, (const float *[]) {l->bq, l->bk, l->bv},
				 3, s->xn, T, false);
	for_each_token(ic, T, rope_token, l);
	/* one thread: tokens of a block share its key summary */
	for (int32_t t = 0; t < T; t++)
		kv_store(ic->kv, il, s->tok_seq[t], s->tok_pos[t], s->k + t * kv_dim, s->v + t * kv_dim);
	if (s->n_sparse > 0)
		threadpool_run(ic->pool, select_worker, &at);
	threadpool_run(ic->pool, attention_worker, &at);
	acts_forget(s);
	linear(ic, &l->wo, s->att, T, s->xn, NULL, false);
}

static void
attention_block(struct infer_ctx *ic, const struct layer *l, int32_t il, int32_t T)
{
	for_each_token(ic, T, norm_token, l->attn_norm);
	acts_forget(ic->scratch);
	if (ic->model->arch->mla)
		mla_attention(ic, l, il, T);
	else
		mha_attention(ic, l, il, T);
	for_each_token(ic, T, residual_token, NULL);
}

/* alone: each row is its token's only one in the products (see
 * keep_output_rows).  deepseek2's MoE layers route to experts (moe.c). */
static void
ffn_block(struct infer_ctx *ic, const struct layer *l, int32_t T, bool alone)
{
	struct forward_scratch *s = ic->scratch;

	for_each_token(ic, T, norm_token, l->ffn_norm);
	acts_forget(s);
	if (l->gate_inp.data)
		moe_ffn(ic, l, T, alone);
	else
		swiglu_ffn(ic, &l->w_gate, &l->w_up, &l->w_down, s->xn, T, alone, s->xn);
	for_each_token(ic, T, residual_token, NULL);
}

/*
 * Before the last feed-forward block, keep only the rows whose logits are
 * wanted: the last token of each such sequence, moved to the front in batch
 * order.  llama.cpp does the same, so that block and the output projection
 * see one row per sequence and sum as for a single row.  Returns their count.
 */
static int32_t
keep_output_rows(struct infer_ctx *ic, const struct seq_batch *batch, int n_seqs)
{
	struct forward_scratch *s = ic->scratch;
	size_t		d = ic->model->hp.n_embd;
	int32_t		n_out = 0;
	int32_t		t_end = 0;

	for (int i = 0; i < n_seqs; i++)
	{
		t_end += batch[i].n_tokens;
		if (batch[i].want_logits)
		{
			if (t_end - 1 != n_out)
				memcpy(s->x + n_out * d, s->x + (t_end - 1) * d, d * sizeof(float));
			n_out++;
		}
	}
	return n_out;
}

/* Final norm and output projection of the n_out rows keep_output_rows kept. */
static void
output_logits(struct infer_ctx *ic, int32_t n_out, float *logits)
{
	const struct model *m = ic->model;
	struct forward_scratch *s = ic->scratch;

	for_each_token(ic, n_out, norm_token, m->output_norm);
	acts_forget(s);
	linear(ic, &m->output, s->xn, n_out, logits, NULL, true);
}

/* Check the batch and claim KV space for it, all or nothing. */
static int
batch_prepare(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs, int32_t *T_out, char *err)
{
	int32_t		T = 0;
	int32_t		new_blocks = 0;
	int32_t		n_vocab = ic->model->hp.n_vocab;

	for (int i = 0; i < n_seqs; i++)
	{
		const struct seq_batch *b = &batch[i];
		int32_t		end = b->seq->n_tokens + b->n_tokens;

		if (b->n_tokens < 1)
			return err_set(err, "forward: sequence %d has no tokens", i);

		if (end > ic->n_ctx)
			return err_set(err, "forward: %d positions exceed the context length %d", end, ic->n_ctx);
		for (int32_t j = 0; j < b->n_tokens; j++)
			if (b->tokens[j] < 0 || b->tokens[j] >= n_vocab)
				return err_set(err, "forward: token id %d is outside the vocabulary (0..%d)",
							   b->tokens[j], n_vocab - 1);
		T += b->n_tokens;
		new_blocks += (end + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS - b->seq->n_blocks;
	}
	if (T > ic->max_batch_tokens)
		return err_set(err, "forward: %d tokens exceed the batch capacity %d", T, ic->max_batch_tokens);
	if (new_blocks > ic->kv->n_free)
		return FORWARD_NO_KV_SPACE;
	for (int i = 0; i < n_seqs; i++)
		if (kv_seq_reserve(ic->kv, batch[i].seq, batch[i].seq->n_tokens + batch[i].n_tokens) != 0)
			return err_set(err, "forward: out of memory for a block table");
	*T_out = T;
	return 0;
}

/*
 * Embed the batch's T tokens and run every layer up to the last one's
 * feed-forward block, which the callers run on the rows they need.
 */
static void
run_to_last_ffn(struct infer_ctx *ic, const struct seq_batch *batch, int n_seqs, int32_t T)
{
	const struct model *m = ic->model;
	struct forward_scratch *s = ic->scratch;
	int32_t		d = m->hp.n_embd;
	int32_t		t = 0;

	s->n_sparse = 0;
	for (int i = 0; i < n_seqs; i++)
		for (int32_t j = 0; j < batch[i].n_tokens; j++, t++)
		{
			s->tok_seq[t] = batch[i].seq;
			s->tok_chunk[t] = batch[i].n_tokens;
			s->tok_index[t] = j;
			s->tok_pos[t] = batch[i].seq->n_tokens + j;
			/* the latent cache is read densely: no sparse selection over it yet */
			s->tok_budget[t] = m->arch->mla ? 0 : sparse_token_budget(&batch[i].sparse, s->tok_pos[t]);
			s->n_sparse += s->tok_budget[t] > 0;
			weight_row_f32(&m->tok_embd, batch[i].tokens[j], s->x + (size_t) t * d);
		}
	for_each_token(ic, T, rope_angles_token, NULL);

	for (int32_t il = 0; il < m->hp.n_layer - 1; il++)
	{
		attention_block(ic, &m->layers[il], il, T);
		ffn_block(ic, &m->layers[il], T, false);
		if (ic->heartbeat)
			ic->heartbeat(ic->heartbeat_arg);
	}
	attention_block(ic, &m->layers[m->hp.n_layer - 1], m->hp.n_layer - 1, T);
}

static void
advance(struct seq_batch *batch, int n_seqs)
{
	for (int i = 0; i < n_seqs; i++)
		batch[i].seq->n_tokens += batch[i].n_tokens;
}

int
infer_forward(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs, float *logits, char *err)
{
	return infer_forward_top(ic, batch, n_seqs, logits, NULL, err);
}

int
infer_forward_top(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs, float *logits,
				  struct top_logits *top, char *err)
{
	const struct model *m = ic->model;
	int32_t		T = 0;
	int32_t		n_out;
	int			rc;

	if (m->arch->encoder)
		return err_set(err, "forward: %s is an encoder: it embeds (embed.h), it does not generate",
					   m->arch->name);
	rc = batch_prepare(ic, batch, n_seqs, &T, err);
	if (rc != 0)
		return rc;
	if (ic->gpu)
	{
		if (ic->gpu->forward(ic->gpu_state, batch, n_seqs, logits, top, err) != 0)
			return -1;
		advance(batch, n_seqs);
		return 0;
	}
	run_to_last_ffn(ic, batch, n_seqs, T);
	n_out = keep_output_rows(ic, batch, n_seqs);
	for (int32_t r = 0; top && r < n_out; r++)
		top[r].n = 0;
	if (n_out > 0)
	{
		ffn_block(ic, &m->layers[m->hp.n_layer - 1], n_out, true);
		output_logits(ic, n_out, logits);
	}
	advance(batch, n_seqs);
	return 0;
}

/* The checks and set-up of the CPU-only passes below (what: their output). */
static int
cpu_pass_prepare(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs, int32_t *T,
				 const char *what, char *err)
{
	if (ic->model->arch->encoder)
		return err_set(err, "forward: %s is an encoder: it has no %s (encoder.h)",
					   ic->model->arch->name, what);
	if (ic->gpu)
		return err_set(err, "forward: %s are computed on the CPU only", what);
	return batch_prepare(ic, batch, n_seqs, T, err);
}

/*
 * As llama.cpp computes embeddings: every row goes through the last
 * feed-forward block (none is dropped, as none is for llama.cpp when all
 * are outputs), then the final norm.
 */
int
infer_forward_hidden(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs,
					 const float **hidden, char *err)
{
	const struct model *m = ic->model;
	int32_t		T = 0;
	int			rc;

	rc = cpu_pass_prepare(ic, batch, n_seqs, &T, "hidden states", err);
	if (rc != 0)
		return rc;
	run_to_last_ffn(ic, batch, n_seqs, T);
	ffn_block(ic, &m->layers[m->hp.n_layer - 1], T, false);
	for_each_token(ic, T, norm_token, m->output_norm);
	*hidden = ic->scratch->xn;
	advance(batch, n_seqs);
	return 0;
}

/*
 * Keep rows out_from..T-1 of a one-sequence pass, moved to the front, as
 * the tokens of a product of their own: llama.cpp's last feed-forward
 * block and output projection sum each output row in the order of a
 * product over the outputs (mm_path_for with their count and index).
 */
static int32_t
keep_rows_from(struct infer_ctx *ic, int32_t T, int32_t out_from)
{
	struct forward_scratch *s = ic->scratch;
	size_t		d = ic->model->hp.n_embd;
	int32_t		n_out = T - out_from;

	if (out_from > 0)
		memmove(s->x, s->x + out_from * d, n_out * d * sizeof(float));
	for (int32_t k = 0; k < n_out; k++)
	{
		s->tok_chunk[k] = n_out;
		s->tok_index[k] = k;
	}
	return n_out;
}

int
infer_forward_rows(struct infer_ctx *ic, struct seq_batch *b, int32_t out_from, float *logits,
				   char *err)
{
	const struct model *m = ic->model;
	int32_t		T = 0;
	int			rc;

	if (out_from < 0)
		return err_set(err, "forward: negative first output row %d", out_from);
	rc = cpu_pass_prepare(ic, b, 1, &T, "logits of every row", err);
	if (rc != 0)
		return rc;
	run_to_last_ffn(ic, b, 1, T);
	if (out_from < T)
	{
		int32_t		n_out = keep_rows_from(ic, T, out_from);

		ffn_block(ic, &m->layers[m->hp.n_layer - 1], n_out, false);
		for_each_token(ic, n_out, norm_token, m->output_norm);
		acts_forget(ic->scratch);
		linear(ic, &m->output, ic->scratch->xn, n_out, logits, NULL, false);
	}
	advance(b, 1);
	return 0;
}
