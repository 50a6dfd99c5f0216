/*
 * model_mla.c — the hyper-parameters and weights of deepseek2 (DeepSeek-V3,
 * R1): multi-head latent attention and mixture of experts, under the names
 * and keys llama.cpp's converter writes today.
 *
 * The converter stores attn_kv_b split for the absorbed attention: attn_k_b
 * (per head, kv_lora_rank rows of qk_nope values: K's no-RoPE part,
 * transposed) and attn_v_b (per head, v_head_dim rows of kv_lora_rank).
 * Older files with attn_kv_b whole are refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "model_impl.h"

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

int
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

int
mla_load_layer(struct model *m, int il, char *err)
{
	if (load_mla_attention(m, il, err))
		return -1;
	return il < m->hp.mla->n_dense_lead ? load_dense_ffn(m, il, err) : load_moe(m, il, err);
}
