/*
 * model.c — load a model from a GGUF file.
 *
 * Everything the forward pass will read is checked here, once: the
 * architecture, every hyper-parameter, the presence, shape and type of
 * every tensor.  After model_load succeeds the forward pass does no checks.
 */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "quant.h"
#include "tokenizer.h"

static int
hp_int(const struct gguf_file *f, const char *arch, const char *suffix,
	   int32_t dflt, bool required, int32_t *out, char *err)
{
	char		key[128];
	uint32_t	v;

	gguf_arch_key(key, sizeof key, arch, suffix);
	if (!gguf_get_u32(f, key, &v))
	{
		if (required)
			return err_set(err, "model: missing or invalid hyper-parameter %s", key);
		v = (uint32_t) dflt;
	}
	if (v == 0 || v > (1u << 24))
		return err_set(err, "model: hyper-parameter %s = %u is out of range", key, v);
	*out = (int32_t) v;
	return 0;
}

static int
hp_float(const struct gguf_file *f, const char *arch, const char *suffix,
		 float dflt, float *out, char *err)
{
	char		key[128];

	gguf_arch_key(key, sizeof key, arch, suffix);
	if (!gguf_get_f32(f, key, out))
		*out = dflt;
	if (!(*out > 0.0f) || *out > 1e12f)
		return err_set(err, "model: hyper-parameter %s = %g is out of range", key, *out);
	return 0;
}

/*
 * What embeddings need: the pooling (none, mean, cls, last as llama.cpp
 * numbers them; rank and others are refused, we have no such head) and,
 * for the encoder, its LayerNorm epsilon and a non-causal attention.
 */
static int
load_embedding_hparams(struct model *m, const char *arch, char *err)
{
	char		key[128];
	uint32_t	v = 0;
	bool		causal = false;

	gguf_arch_key(key, sizeof key, arch, "pooling_type");
	if (gguf_kv_find(m->file, key) && (!gguf_get_u32(m->file, key, &v) || v > 3))
		return err_set(err, "model: %s is not none (0), mean (1), cls (2) or last (3)", key);
	m->hp.pooling_type = (int32_t) v;
	if (!m->arch->encoder)
		return 0;
	gguf_arch_key(key, sizeof key, arch, "attention.causal");
	if (gguf_get_bool(m->file, key, &causal) && causal)
		return err_set(err, "model: %s is true, but a %s encoder attends both ways", key, arch);
	gguf_arch_key(key, sizeof key, arch, "attention.layer_norm_epsilon");
	if (!gguf_kv_find(m->file, key))
		return err_set(err, "model: missing hyper-parameter %s", key);
	return hp_float(m->file, arch, "attention.layer_norm_epsilon", 0.0f, &m->hp.norm_eps, err);
}

/* llama.cpp's mscale of a YaRN factor: 1 + 0.1 * mscale * ln(factor) */
static float
yarn_mscale(float factor, float mscale)
{
	return factor <= 1.0f ? 1.0f : 0.1f * mscale * logf(factor) + 1.0f;
}

/*
 * The factor ggml's rope op gets: the mscale ratio of the YaRN config
 * (deepseek2 takes mscale = mscale_all_dim, so 1), over the magnitude the op
 * multiplies in itself.
 */
static float
yarn_attn_factor(float factor, float log_mul, bool mla)
{
	float		attn;

	if (log_mul != 0.0f)
		attn = yarn_mscale(factor, mla && log_mul != 1.0f ? log_mul : 1.0f) / yarn_mscale(factor, log_mul);
	else
		attn = yarn_mscale(factor, 1.0f);
	return attn * (1.0f / (1.0f + 0.1f * logf(factor)));
}

/*
 * {arch}.rope.scaling.*: the type (none, linear, yarn; linear, as llama.cpp
 * assumes, when absent), the factor, YaRN's original context.  As llama.cpp
 * sets up its context: YaRN's ext_factor 1, beta_fast 32 and beta_slow 1
 * (its defaults; it reads no keys for them), and the attention factor that
 * cancels the magnitude ggml's rope op multiplies in.  log_mul is deepseek2's
 * rope.scaling.yarn_log_multiplier as llama.cpp reads it (0: none).
 */
static int
load_rope_scaling(struct model *m, const char *arch, float log_mul, char *err)
{
	struct hparams *hp = &m->hp;
	struct rope_scaling *sc = &hp->rope_scaling;
	struct gguf_str type = {"linear", 6};
	char		key[128];
	float		factor = 0.0f;
	float		attn = 1.0f;
	int32_t		n_ctx_orig;

	*sc = ROPE_UNSCALED;
	gguf_arch_key(key, sizeof key, arch, "rope.scaling.type");
	if (gguf_kv_find(m->file, key) && !gguf_get_str(m->file, key, &type))
		return err_set(err, "model: %s is not a string", key);
	gguf_arch_key(key, sizeof key, arch, "rope.scaling.factor");
	if (!gguf_get_f32(m->file, key, &factor))
	{
		gguf_arch_key(key, sizeof key, arch, "rope.scale_linear");
		gguf_get_f32(m->file, key, &factor);
	}
	if (factor < 0.0f || factor > 1e6f)
		return err_set(err, "model: rope scaling factor %g is out of range", factor);
	if (type.len == 4 && memcmp(type.ptr, "none", 4) == 0)
		return 0;
	if (!(type.len == 6 && memcmp(type.ptr, "linear", 6) == 0) &&
		!(type.len == 4 && memcmp(type.ptr, "yarn", 4) == 0))
		return err_set(err, "model: rope scaling '%.*s' is not supported (none, linear, yarn)",
					   (int) (type.len > 20 ? 20 : type.len), type.ptr);
	sc->freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
	if (type.len == 6)
		return 0;
	if (hp_int(m->file, arch, "rope.scaling.original_context_length", hp->n_ctx_train, false,
			   &n_ctx_orig, err) ||
		hp_float(m->file, arch, "rope.scaling.attn_factor", 1.0f, &attn, err))
		return -1;
	sc->ext_factor = 1.0f;
	factor = 1.0f / sc->freq_scale;
	sc->attn_factor = yarn_attn_factor(factor, log_mul, m->arch->mla) * attn;
	rope_yarn_corr_dims(hp->rope_dim, n_ctx_orig, hp->rope_base, 32.0f, 1.0f, sc->corr_dims);
	return 0;
}

/*
 * ---- deepseek2 (DeepSeek-V3, R1): latent attention and experts ----------
 *
 * Under the names and keys llama.cpp's converter writes today.  It stores
 * attn_kv_b split for the absorbed attention: attn_k_b (per head,
 * kv_lora_rank rows of qk_nope values: K's no-RoPE part, transposed) and
 * attn_v_b (per head, v_head_dim rows of kv_lora_rank).  Older files with
 * attn_kv_b whole are refused.
 */

/* An optional non-negative int key; absent: 0. */
static int
hp_count(const struct gguf_file *f, const char *arch, const char *suffix, int32_t *out, char *err)
{
	char		key[128];
	uint32_t	v = 0;

	gguf_arch_key(key, sizeof key, arch, suffix);
	if (gguf_kv_find(f, key) && (!gguf_get_u32(f, key, &v) || v > (1u << 24)))
		return err_set(err, "model: hyper-parameter %s is not a count", key);
	*out = (int32_t) v;
	return 0;
}

static int
load_mla_shape(struct model *m, const char *arch, struct mla_hparams *mla, char *err)
{
	const struct gguf_file *f = m->file;
	struct hparams *hp = &m->hp;
	char		key[128];
	int32_t		k_mla;
	int32_t		key_length;
	int32_t		value_length;

	if (hp_count(f, arch, "attention.q_lora_rank", &mla->q_lora_rank, err) ||
		hp_int(f, arch, "attention.kv_lora_rank", 0, true, &mla->kv_lora_rank, err) ||
		hp_int(f, arch, "rope.dimension_count", 0, true, &hp->rope_dim, err))
		return -1;
	gguf_arch_key(key, sizeof key, arch, "attention.key_length_mla");
	if (!gguf_kv_find(f, key))
		return err_set(err, "model: %s is missing: a deepseek2 file from before the absorbed "
					   "attention (attn_kv_b whole); convert it again with a current llama.cpp", key);
	if (hp_int(f, arch, "attention.key_length_mla", 0, true, &k_mla, err) ||
		hp_int(f, arch, "attention.value_length_mla", 0, true, &mla->v_head_dim, err))
		return -1;
	key_length = mla->kv_lora_rank + hp->rope_dim;
	value_length = mla->kv_lora_rank;
	if (hp_int(f, arch, "attention.key_length", key_length, false, &key_length, err) ||
		hp_int(f, arch, "attention.value_length", value_length, false, &value_length, err))
		return -1;
	mla->qk_nope_dim = k_mla - hp->rope_dim;
	if (hp->n_head_kv != 1 || key_length != mla->kv_lora_rank + hp->rope_dim ||
		value_length != mla->kv_lora_rank || mla->qk_nope_dim < 1 || hp->rope_dim % 2 != 0)
		return err_set(err, "model: deepseek2 latent attention needs head_count_kv 1, key_length "
					   "kv_lora_rank + rope dims, value_length kv_lora_rank and an even RoPE part "
					   "shorter than key_length_mla");
	hp->head_dim = key_length;
	if (hp->head_dim > MODEL_MAX_HEAD_DIM)
		return err_set(err, "model: latent row %d is longer than the supported %d",
					   hp->head_dim, MODEL_MAX_HEAD_DIM);
	return 0;
}

static int
load_moe_shape(struct model *m, const char *arch, struct mla_hparams *mla, char *err)
{
	const struct gguf_file *f = m->file;
	char		key[128];
	uint32_t	gating = 0;
	int32_t		per_group;

	if (hp_count(f, arch, "leading_dense_block_count", &mla->n_dense_lead, err) ||
		hp_int(f, arch, "expert_feed_forward_length", 0, true, &mla->n_ff_exp, err) ||
		hp_int(f, arch, "expert_count", 0, true, &mla->n_expert, err) ||
		hp_int(f, arch, "expert_used_count", 0, true, &mla->n_expert_used, err) ||
		hp_count(f, arch, "expert_shared_count", &mla->n_expert_shared, err) ||
		hp_count(f, arch, "expert_group_count", &mla->n_expert_groups, err) ||
		hp_count(f, arch, "expert_group_used_count", &mla->n_groups_used, err))
		return -1;
	gguf_arch_key(key, sizeof key, arch, "expert_weights_scale");
	if (!gguf_get_f32(f, key, &mla->expert_weights_scale))
		mla->expert_weights_scale = 0.0f;
	gguf_arch_key(key, sizeof key, arch, "expert_weights_norm");
	if (!gguf_get_bool(f, key, &mla->expert_weights_norm))
		mla->expert_weights_norm = false;
	gguf_arch_key(key, sizeof key, arch, "expert_gating_func");
	if (!gguf_get_u32(f, key, &gating) || gating != 2)
		return err_set(err, "model: %s is not sigmoid (2): only DeepSeek-V3's sigmoid router "
					   "is supported", key);
	if (mla->n_expert_groups < 2)
		mla->n_expert_groups = mla->n_groups_used = 1;
	per_group = mla->n_expert / mla->n_expert_groups;
	if (mla->n_dense_lead > m->hp.n_layer || mla->n_expert_groups > MOE_MAX_GROUPS ||
		mla->n_expert % mla->n_expert_groups != 0 ||
		per_group < 2 || mla->n_groups_used < 1 || mla->n_groups_used > mla->n_expert_groups ||
		mla->n_expert_used > mla->n_groups_used * per_group)
		return err_set(err, "model: deepseek2 experts: %d in %d groups (%d used), %d used per "
					   "token, %d dense layers of %d do not fit together", mla->n_expert,
					   mla->n_expert_groups, mla->n_groups_used, mla->n_expert_used,
					   mla->n_dense_lead, m->hp.n_layer);
	return 0;
}

/*
 * The score scale llama.cpp's deepseek2 graph pre-scales for YaRN: the
 * attention factor with the op's magnitude put back, times YaRN's
 * log-multiplied mscale, squared, over sqrt of the per-head Q/K size.
 */
static void
mla_kq_scale(struct hparams *hp, float log_mul)
{
	const struct rope_scaling *sc = &hp->rope_scaling;
	float		attn_org = sc->attn_factor * (1.0f + 0.1f * logf(1.0f / sc->freq_scale));
	float		mscale = attn_org * (1.0f + 0.1f * log_mul * logf(1.0f / sc->freq_scale));

	hp->kq_scale = 1.0f * mscale * mscale / sqrtf((float) (hp->mla->qk_nope_dim + hp->rope_dim));
}

static int
mla_load_hparams(struct model *m, const char *arch, char *err)
{
	struct hparams *hp = &m->hp;
	char		key[128];
	float		log_mul = 0.0f;

	hp->mla = calloc(1, sizeof *hp->mla);
	if (!hp->mla)
		return err_set(err, "model: out of memory");
	if (load_mla_shape(m, arch, hp->mla, err) || load_moe_shape(m, arch, hp->mla, err))
		return -1;
	/* the converter writes 0.1 * mscale_all_dim; llama.cpp cancels the 0.1 */
	gguf_arch_key(key, sizeof key, arch, "rope.scaling.yarn_log_multiplier");
	if (gguf_get_f32(m->file, key, &log_mul))
		log_mul /= 0.1f;
	if (load_rope_scaling(m, arch, log_mul, err))
		return -1;
	mla_kq_scale(hp, log_mul);
	return 0;
}

static int
load_hparams(struct model *m, const char *arch, char *err)
{
	const struct gguf_file *f = m->file;
	struct hparams *hp = &m->hp;
	int32_t		key_length;

	if (hp_int(f, arch, "block_count", 0, true, &hp->n_layer, err) ||
		hp_int(f, arch, "embedding_length", 0, true, &hp->n_embd, err) ||
		hp_int(f, arch, "feed_forward_length", 0, true, &hp->n_ff, err) ||
		hp_int(f, arch, "attention.head_count", 0, true, &hp->n_head, err) ||
		hp_int(f, arch, "attention.head_count_kv", hp->n_head, false, &hp->n_head_kv, err) ||
		hp_int(f, arch, "context_length", 2048, false, &hp->n_ctx_train, err) ||
		hp_float(f, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, err) ||
		hp_float(f, arch, "rope.freq_base", m->arch->default_rope_base, &hp->rope_base, err))
		return -1;
	if (m->arch->mla)
		return mla_load_hparams(m, arch, err);
	if (hp->n_embd % hp->n_head != 0)
		return err_set(err, "model: embedding_length %d is not a multiple of head_count %d",
					   hp->n_embd, hp->n_head);
	if (hp->n_head % hp->n_head_kv != 0)
		return err_set(err, "model: head_count %d is not a multiple of head_count_kv %d",
					   hp->n_head, hp->n_head_kv);
	if (hp_int(f, arch, "attention.key_length", hp->n_embd / hp->n_head, false, &key_length, err) ||
		hp_int(f, arch, "rope.dimension_count", key_length, false, &hp->rope_dim, err))
		return -1;
	if (key_length != hp->n_embd / hp->n_head)
		return err_set(err, "model: attention.key_length %d differs from embedding_length/head_count",
					   key_length);
	if (key_length > MODEL_MAX_HEAD_DIM)
		return err_set(err, "model: head size %d is larger than the supported %d",
					   key_length, MODEL_MAX_HEAD_DIM);
	hp->head_dim = key_length;
	if (hp->rope_dim > hp->head_dim || hp->rope_dim % 2 != 0)
		return err_set(err, "model: rope.dimension_count %d is invalid for head size %d",
					   hp->rope_dim, hp->head_dim);
	hp->kq_scale = 1.0f / sqrtf((float) hp->head_dim);
	if (!m->arch->encoder && load_rope_scaling(m, arch, 0.0f, err))
		return -1;
	return load_embedding_hparams(m, arch, err);
}

/* ne1, ne2 0: fewer dimensions */
static const struct gguf_tensor *
tensor_get(const struct model *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, char *err)
{
	const struct gguf_tensor *t = gguf_tensor_find(m->file, name);
	int64_t		want_dims = ne2 > 0 ? 3 : ne1 > 0 ? 2 : 1;

	if (!t)
	{
		err_set(err, "model: tensor '%s' is missing", name);
		return NULL;
	}
	if (!dtype_is_weight_type(t->type))
	{
		err_set(err, "model: tensor '%s' has unsupported type %s", name, dtype_name(t->type));
		return NULL;
	}
	if ((int64_t) t->n_dims != want_dims || t->ne[0] != ne0 || (ne1 > 0 && t->ne[1] != ne1) ||
		(ne2 > 0 && t->ne[2] != ne2))
	{
		err_set(err, "model: tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld]",
				name, (long long) t->ne[0], (long long) t->ne[1], (long long) t->ne[2],
				(long long) ne0, (long long) (ne1 > 0 ? ne1 : 1), (long long) (ne2 > 0 ? ne2 : 1));
		return NULL;
	}
	return t;
}

static int
load_weights(struct model *m, struct weight *w, const char *name, int64_t cols, int64_t rows,
			 int64_t n_mat, char *err)
{
	const struct gguf_tensor *t = tensor_get(m, name, cols, rows, n_mat, err);

	if (!t)
		return -1;
	w->type = t->type;
	w->rows = rows;
	w->cols = cols;
	w->row_bytes = dtype_row_bytes(t->type, cols);
	w->data = t->data;
	m->n_params += rows * cols * (n_mat > 0 ? n_mat : 1);
	return 0;
}

static int
load_weight(struct model *m, struct weight *w, const char *name, int64_t cols, int64_t rows, char *err)
{
	return load_weights(m, w, name, cols, rows, 0, err);
}

/* A vector (norm weights, biases) as owned floats, whatever its stored type. */
static int
load_vector(struct model *m, float **out, const char *name, int64_t n, bool optional, char *err)
{
	const struct gguf_tensor *t;

	if (optional && !gguf_tensor_find(m->file, name))
	{
		*out = NULL;
		return 0;
	}
	t = tensor_get(m, name, n, 0, 0, err);
	if (!t)
		return -1;
	*out = malloc(n * sizeof(float));
	if (!*out)
		return err_set(err, "model: out of memory");
	dequantize_row(t->type, t->data, *out, n);
	m->n_params += n;
	return 0;
}

/* A dense SwiGLU feed-forward block and its norm. */
static int
load_dense_ffn(struct model *m, int il, char *err)
{
	const struct hparams *hp = &m->hp;
	struct layer *l = &m->layers[il];
	int64_t		d = hp->n_embd;
	char		name[96];

#define LAYER_NAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
	if (load_vector(m, &l->ffn_norm, LAYER_NAME("ffn_norm.weight"), d, false, err) ||
		load_weight(m, &l->w_gate, LAYER_NAME("ffn_gate.weight"), d, hp->n_ff, err) ||
		load_weight(m, &l->w_up, LAYER_NAME("ffn_up.weight"), d, hp->n_ff, err) ||
		load_weight(m, &l->w_down, LAYER_NAME("ffn_down.weight"), hp->n_ff, d, err))
		return -1;
#undef LAYER_NAME
	return 0;
}

static int
load_mla_attention(struct model *m, int il, char *err)
{
	const struct hparams *hp = &m->hp;
	const struct mla_hparams *mla = hp->mla;
	struct layer *l = &m->layers[il];
	int64_t		d = hp->n_embd;
	int64_t		q_dim = (int64_t) hp->n_head * (mla->qk_nope_dim + hp->rope_dim);
	char		name[96];

#define LAYER_NAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
	if (load_vector(m, &l->attn_norm, LAYER_NAME("attn_norm.weight"), d, false, err))
		return -1;
	if (mla->q_lora_rank > 0
		? (load_weight(m, &l->wq_a, LAYER_NAME("attn_q_a.weight"), d, mla->q_lora_rank, err) ||
		   load_vector(m, &l->q_a_norm, LAYER_NAME("attn_q_a_norm.weight"), mla->q_lora_rank, false, err) ||
		   load_weight(m, &l->wq_b, LAYER_NAME("attn_q_b.weight"), mla->q_lora_rank, q_dim, err))
		: load_weight(m, &l->wq, LAYER_NAME("attn_q.weight"), d, q_dim, err))
		return -1;
	if (load_weight(m, &l->wkv_a, LAYER_NAME("attn_kv_a_mqa.weight"), d, hp->head_dim, err) ||
		load_vector(m, &l->kv_a_norm, LAYER_NAME("attn_kv_a_norm.weight"), mla->kv_lora_rank, false, err) ||
		load_weights(m, &l->wk_b, LAYER_NAME("attn_k_b.weight"), mla->qk_nope_dim,
					 mla->kv_lora_rank, hp->n_head, err) ||
		load_weights(m, &l->wv_b, LAYER_NAME("attn_v_b.weight"), mla->kv_lora_rank,
					 mla->v_head_dim, hp->n_head, err) ||
		load_weight(m, &l->wo, LAYER_NAME("attn_output.weight"),
					(int64_t) hp->n_head * mla->v_head_dim, d, err))
		return -1;
#undef LAYER_NAME
	return 0;
}

static int
load_moe(struct model *m, int il, char *err)
{
	const struct hparams *hp = &m->hp;
	const struct mla_hparams *mla = hp->mla;
	struct layer *l = &m->layers[il];
	int64_t		d = hp->n_embd;
	int64_t		ff_sh = (int64_t) mla->n_ff_exp * mla->n_expert_shared;
	char		name[96];

#define LAYER_NAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
	if (load_vector(m, &l->ffn_norm, LAYER_NAME("ffn_norm.weight"), d, false, err) ||
		load_weight(m, &l->gate_inp, LAYER_NAME("ffn_gate_inp.weight"), d, mla->n_expert, err) ||
		load_vector(m, &l->exp_probs_b, LAYER_NAME("exp_probs_b.bias"), mla->n_expert, true, err) ||
		load_weights(m, &l->gate_exps, LAYER_NAME("ffn_gate_exps.weight"), d, mla->n_ff_exp,
					 mla->n_expert, err) ||
		load_weights(m, &l->up_exps, LAYER_NAME("ffn_up_exps.weight"), d, mla->n_ff_exp,
					 mla->n_expert, err) ||
		load_weights(m, &l->down_exps, LAYER_NAME("ffn_down_exps.weight"), mla->n_ff_exp, d,
					 mla->n_expert, err))
		return -1;
	if (ff_sh > 0 &&
		(load_weight(m, &l->gate_shexp, LAYER_NAME("ffn_gate_shexp.weight"), d, ff_sh, err) ||
		 load_weight(m, &l->up_shexp, LAYER_NAME("ffn_up_shexp.weight"), d, ff_sh, err) ||
		 load_weight(m, &l->down_shexp, LAYER_NAME("ffn_down_shexp.weight"), ff_sh, d, err)))
		return -1;
#undef LAYER_NAME
	return 0;
}

static int
mla_load_layer(struct model *m, int il, char *err)
{
	if (load_mla_attention(m, il, err))
		return -1;
	return il < m->hp.mla->n_dense_lead ? load_dense_ffn(m, il, err) : load_moe(m, il, err);
}

static int	load_attention_layer(struct model *m, int il, char *err);

static int
load_layer(struct model *m, int il, char *err)
{
	if (m->arch->mla)
		return mla_load_layer(m, il, err);
	return load_attention_layer(m, il, err) || load_dense_ffn(m, il, err);
}

/* llama, qwen2, qwen3: the attention block. */
static int
load_attention_layer(struct model *m, int il, char *err)
{
	const struct hparams *hp = &m->hp;
	struct layer *l = &m->layers[il];
	int64_t		d = hp->n_embd;
	int64_t		d_kv = (int64_t) hp->n_head_kv * hp->head_dim;
	bool		bias = m->arch->qkv_bias;
	char		name[96];

#define LAYER_NAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
	if (load_vector(m, &l->attn_norm, LAYER_NAME("attn_norm.weight"), d, false, err) ||
		load_weight(m, &l->wq, LAYER_NAME("attn_q.weight"), d, d, err) ||
		load_weight(m, &l->wk, LAYER_NAME("attn_k.weight"), d, d_kv, err) ||
		load_weight(m, &l->wv, LAYER_NAME("attn_v.weight"), d, d_kv, err) ||
		load_weight(m, &l->wo, LAYER_NAME("attn_output.weight"), d, d, err))
		return -1;
	if (bias &&
		(load_vector(m, &l->bq, LAYER_NAME("attn_q.bias"), d, false, err) ||
		 load_vector(m, &l->bk, LAYER_NAME("attn_k.bias"), d_kv, false, err) ||
		 load_vector(m, &l->bv, LAYER_NAME("attn_v.bias"), d_kv, false, err)))
		return -1;
	if (m->arch->qk_norm &&
		(load_vector(m, &l->q_norm, LAYER_NAME("attn_q_norm.weight"), hp->head_dim, false, err) ||
		 load_vector(m, &l->k_norm, LAYER_NAME("attn_k_norm.weight"), hp->head_dim, false, err)))
		return -1;
#undef LAYER_NAME
	return 0;
}

/* A BERT layer: attention and feed-forward with biases, each followed by
 * its LayerNorm. */
static int
load_encoder_layer(struct model *m, int il, char *err)
{
	const struct hparams *hp = &m->hp;
	struct layer *l = &m->layers[il];
	int64_t		d = hp->n_embd;
	char		name[96];

#define LAYER_NAME(s) (snprintf(name, sizeof name, "blk.%d.%s", il, s), name)
	if (load_weight(m, &l->wq, LAYER_NAME("attn_q.weight"), d, d, err) ||
		load_weight(m, &l->wk, LAYER_NAME("attn_k.weight"), d, d, err) ||
		load_weight(m, &l->wv, LAYER_NAME("attn_v.weight"), d, d, err) ||
		load_weight(m, &l->wo, LAYER_NAME("attn_output.weight"), d, d, err) ||
		load_vector(m, &l->bq, LAYER_NAME("attn_q.bias"), d, false, err) ||
		load_vector(m, &l->bk, LAYER_NAME("attn_k.bias"), d, false, err) ||
		load_vector(m, &l->bv, LAYER_NAME("attn_v.bias"), d, false, err) ||
		load_vector(m, &l->bo, LAYER_NAME("attn_output.bias"), d, false, err) ||
		load_vector(m, &l->attn_out_norm, LAYER_NAME("attn_output_norm.weight"), d, false, err) ||
		load_vector(m, &l->attn_out_norm_b, LAYER_NAME("attn_output_norm.bias"), d, false, err) ||
		load_weight(m, &l->w_up, LAYER_NAME("ffn_up.weight"), d, hp->n_ff, err) ||
		load_vector(m, &l->b_up, LAYER_NAME("ffn_up.bias"), hp->n_ff, false, err) ||
		load_weight(m, &l->w_down, LAYER_NAME("ffn_down.weight"), hp->n_ff, d, err) ||
		load_vector(m, &l->b_down, LAYER_NAME("ffn_down.bias"), d, false, err) ||
		load_vector(m, &l->out_norm, LAYER_NAME("layer_output_norm.weight"), d, false, err) ||
		load_vector(m, &l->out_norm_b, LAYER_NAME("layer_output_norm.bias"), d, false, err))
		return -1;
#undef LAYER_NAME
	return 0;
}

/*
 * Row 0 of token_types, which every token gets: an input is one sentence
 * ("sentence A"), as llama.cpp and sentence-transformers feed it.  Optional,
 * as in llama.cpp.
 */
static int
load_type_embd(struct model *m, char *err)
{
	const struct gguf_tensor *t = gguf_tensor_find(m->file, "token_types.weight");

	if (!t)
		return 0;
	if (!dtype_is_weight_type(t->type) || t->n_dims != 2 || t->ne[0] != m->hp.n_embd || t->ne[1] < 1)
		return err_set(err, "model: tensor 'token_types.weight' is not [%d, n] of a supported type",
					   m->hp.n_embd);
	m->type_embd = malloc(m->hp.n_embd * sizeof(float));
	if (!m->type_embd)
		return err_set(err, "model: out of memory");
	dequantize_row(t->type, t->data, m->type_embd, m->hp.n_embd);
	m->n_params += t->ne[0] * t->ne[1];
	return 0;
}

static int
load_encoder_tensors(struct model *m, char *err)
{
	const struct hparams *hp = &m->hp;

	if (load_weight(m, &m->pos_embd, "position_embd.weight", hp->n_embd, hp->n_ctx_train, err) ||
		load_type_embd(m, err) ||
		load_vector(m, &m->embd_norm, "token_embd_norm.weight", hp->n_embd, false, err) ||
		load_vector(m, &m->embd_norm_b, "token_embd_norm.bias", hp->n_embd, false, err))
		return -1;
	m->layers = calloc(hp->n_layer, sizeof(struct layer));
	if (!m->layers)
		return err_set(err, "model: out of memory");
	for (int il = 0; il < hp->n_layer; il++)
		if (load_encoder_layer(m, il, err))
			return -1;
	return 0;
}

static int
load_tokenizer_and_chat(struct model *m, char *err)
{
	struct gguf_str tmpl = {NULL, 0};
	int32_t		bos;
	char		piece[256];
	size_t		n;

	m->tok = tokenizer_load(m->file, err);
	if (!m->tok)
		return -1;
	gguf_get_str(m->file, "tokenizer.chat_template", &tmpl);
	m->chat = chat_style_detect(tmpl.ptr, tmpl.len);
	m->default_system = chat_default_system(tmpl.ptr, tmpl.len);
	bos = tokenizer_bos(m->tok);
	n = bos >= 0 ? tokenizer_piece(m->tok, bos, true, piece, sizeof piece - 1) : 0;
	if (n >= sizeof piece)
		n = 0;
	piece[n] = '\0';
	m->bos_text = strdup(piece);
	return m->bos_text ? 0 : err_set(err, "model: out of memory");
}

static int
load_model_tensors(struct model *m, char *err)
{
	const struct hparams *hp = &m->hp;
	const struct gguf_tensor *embd = gguf_tensor_find(m->file, "token_embd.weight");

	if (!embd)
		return err_set(err, "model: tensor 'token_embd.weight' is missing");
	m->hp.n_vocab = (int32_t) embd->ne[1];
	if (m->hp.n_vocab != tokenizer_n_vocab(m->tok))
		return err_set(err, "model: token_embd.weight has %lld rows but the vocabulary has %d tokens",
					   (long long) embd->ne[1], tokenizer_n_vocab(m->tok));
	if (load_weight(m, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, err))
		return -1;
	if (m->arch->encoder)
		return load_encoder_tensors(m, err);
	if (load_vector(m, &m->output_norm, "output_norm.weight", hp->n_embd, false, err) ||
		load_vector(m, &m->rope_freqs, "rope_freqs.weight", hp->rope_dim / 2, true, err))
		return -1;
	m->output_tied = gguf_tensor_find(m->file, "output.weight") == NULL;
	if (m->output_tied)
		m->output = m->tok_embd;
	else if (load_weight(m, &m->output, "output.weight", hp->n_embd, hp->n_vocab, err))
		return -1;
	m->layers = calloc(hp->n_layer, sizeof(struct layer));
	if (!m->layers)
		return err_set(err, "model: out of memory");
	for (int il = 0; il < hp->n_layer; il++)
		if (load_layer(m, il, err))
			return -1;
	return 0;
}

struct model *
model_load(const char *path, char *err)
{
	struct model *m = calloc(1, sizeof *m);
	struct gguf_str arch;
	struct gguf_str name;
	char		arch_name[64];

	if (!m)
	{
		err_set(err, "model: out of memory");
		return NULL;
	}
	quant_init();
	m->file = gguf_open(path, err);
	if (!m->file)
		goto fail;
	if (!gguf_get_str(m->file, "general.architecture", &arch))
	{
		err_set(err, "model: general.architecture is missing");
		goto fail;
	}
	m->arch = arch_find(arch.ptr, arch.len);
	if (!m->arch)
	{
		err_set(err, "model: unsupported architecture '%.*s' (supported: llama, qwen2, qwen3, deepseek2, bert)",
				(int) (arch.len > 40 ? 40 : arch.len), arch.ptr);
		goto fail;
	}
	snprintf(arch_name, sizeof arch_name, "%s", m->arch->name);
	if (gguf_get_str(m->file, "general.name", &name))
		m->name = strndup(name.ptr, name.len);
	if (load_hparams(m, arch_name, err) ||
		load_tokenizer_and_chat(m, err) ||
		load_model_tensors(m, err))
		goto fail;
	return m;

fail:
	model_free(m);
	return NULL;
}

void
model_free(struct model *m)
{
	if (!m)
		return;
	if (m->layers)
	{
		for (int il = 0; il < m->hp.n_layer; il++)
		{
			struct layer *l = &m->layers[il];

			free(l->attn_norm);
			free(l->ffn_norm);
			free(l->bq);
			free(l->bk);
			free(l->bv);
			free(l->q_norm);
			free(l->k_norm);
			free(l->q_a_norm);
			free(l->kv_a_norm);
			free(l->exp_probs_b);
			free(l->attn_out_norm);
			free(l->attn_out_norm_b);
			free(l->out_norm);
			free(l->out_norm_b);
			free(l->bo);
			free(l->b_up);
			free(l->b_down);
		}
		free(m->layers);
	}
	free(m->hp.mla);
	free(m->output_norm);
	free(m->rope_freqs);
	free(m->type_embd);
	free(m->embd_norm);
	free(m->embd_norm_b);
	free(m->name);
	free(m->default_system);
	free(m->bos_text);
	if (m->tok)
		tokenizer_free(m->tok);
	if (m->file)
		gguf_close(m->file);
	free(m);
}

void
weight_row_f32(const struct weight *w, int64_t row, float *dst)
{
	dequantize_row(w->type, w->data + row * w->row_bytes, dst, w->cols);
}
