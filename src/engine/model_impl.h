/*
 * model_impl.h — the loader's steps shared by model.c (every architecture)
 * and model_mla.c (deepseek2).  Not for other files: they use model.h.
 */
#ifndef DR1_MODEL_IMPL_H
#define DR1_MODEL_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

/* "{arch}.{suffix}" as an int in 1..2^24 (float: a positive one); a key
 * that is absent takes dflt, or is an error when required. */
int			hp_int(const struct gguf_file *f, const char *arch, const char *suffix,
				   int32_t dflt, bool required, int32_t *out, char *err);
int			hp_float(const struct gguf_file *f, const char *arch, const char *suffix,
					 float dflt, float *out, char *err);

/* A weight of n_mat matrices of rows x cols (0: one, a 2-D tensor). */
int			load_weights(struct model *m, struct weight *w, const char *name, int64_t cols,
						 int64_t rows, int64_t n_mat, char *err);
int			load_weight(struct model *m, struct weight *w, const char *name, int64_t cols,
						int64_t rows, char *err);
int			load_vector(struct model *m, float **out, const char *name, int64_t n, bool optional,
						char *err);

/* Layer il's ffn_norm and dense SwiGLU block of hp.n_ff. */
int			load_dense_ffn(struct model *m, int il, char *err);

/* hp.rope_scaling from {arch}.rope.scaling.* (log_mul: deepseek2's YaRN log
 * multiplier, 0 for the others). */
int			load_rope_scaling(struct model *m, const char *arch, float log_mul, char *err);
float		yarn_attn_factor(float factor, float log_mul, bool mla);

/* deepseek2 (model_mla.c) */
int			mla_load_hparams(struct model *m, const char *arch, char *err);
int			mla_load_layer(struct model *m, int il, char *err);

#endif
