/*
 * pass.c — the steps every forward pass is made of (forward_impl.h): the
 * per-token loops, the matrix products in llama.cpp's summation orders, the
 * SwiGLU block.  forward.c (the decoders), mla.c and moe.c (deepseek2) and
 * encoder.c (BERT) run their layers with them.
 */
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "forward_impl.h"
#include "ops.h"
#include "quant.h"
#include "threadpool.h"

/* ---- per-token steps ---------------------------------------------------- */

struct token_task
{
	struct infer_ctx *ic;
	token_fn	fn;
	const void *arg;
	int32_t		T;
};

static void
token_worker(void *ctx, int i, int n)
{
	const struct token_task *tt = ctx;

	for (int32_t t = (int32_t) ((int64_t) tt->T * i / n); t < (int32_t) ((int64_t) tt->T * (i + 1) / n); t++)
		tt->fn(tt->ic, tt->arg, t);
}

/* Fewer tokens than this run their per-token steps on the calling thread:
 * waking the pool costs more than it saves (decode steps). */
#define POOL_MIN_TOKENS 4

void
for_each_token(struct infer_ctx *ic, int32_t T, token_fn fn, const void *arg)
{
	struct token_task tt = {ic, fn, arg, T};

	if (T >= POOL_MIN_TOKENS)
		threadpool_run(ic->pool, token_worker, &tt);
	else
		token_worker(&tt, 0, 1);
}

/* ---- matrix products ---------------------------------------------------- */

struct quantize_job
{
	const float *src;
	void	   *dst;
	int64_t		cols;
	enum dtype	type;
};

static void
quantize_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	const struct quantize_job *q = arg;
	size_t		row_bytes = dtype_row_bytes(q->type, q->cols);

	(void) ic;
	quantize_row_act(q->type, q->src + t * q->cols, (uint8_t *) q->dst + t * row_bytes, q->cols);
}

static const void *
acts_for(struct infer_ctx *ic, const float *src, int32_t T, int64_t cols, enum dtype type)
{
	struct forward_scratch *s = ic->scratch;
	struct act_buf *a;

	for (int i = 0; i < 2; i++)
		if (s->acts[i].src == src && s->acts[i].type == type)
			return s->acts[i].data;
	a = &s->acts[s->next_act];
	s->next_act ^= 1;
	for_each_token(ic, T, quantize_token, &(struct quantize_job) {src, a->data, cols, type});
	a->src = src;
	a->type = type;
	return a->data;
}

void
acts_forget(struct forward_scratch *s)
{
	s->acts[0].src = s->acts[1].src = NULL;
}

/* One product of a group that shares its input (linear_group). */
struct product
{
	const struct weight *w;
	float	   *out;			/* [T][w->rows] */
	const float *bias;
	const enum mm_path *path;	/* [T] */
	const uint8_t *act;
	size_t		act_row_bytes;
};

struct matmul_task
{
	struct product p[GROUP_MAX];
	int			n;
	int32_t		T;
};

#define PANEL_BYTES 16384		/* weight rows that stay in L1 (32 KB) */
#define TOKEN_BLOCK_BYTES 262144	/* activations that stay in L2 (512 KB) */

/*
 * Rows [r0, r1) of a product: the tokens a block at a time, whose
 * activations (up to 256 KB) stay in the L2 cache while the rows pass over
 * them, a panel of rows at a time (small enough to stay in the L1 cache
 * while every token of the block passes over it), each panel over the runs
 * of tokens that share a summation path.  Without the token blocks, a long
 * prompt's activations came from memory again for every panel.
 */
static void
matmul_rows(const struct product *p, int32_t T, int64_t r0, int64_t r1)
{
	const struct weight *w = p->w;
	int64_t		panel = PANEL_BYTES / (int64_t) w->row_bytes;
	int64_t		block = TOKEN_BLOCK_BYTES / (int64_t) p->act_row_bytes;

	panel = panel < 4 ? 4 : panel & ~(int64_t) 3;
	block = block < 4 ? 4 : block & ~(int64_t) 3;
	for (int32_t b0 = 0; b0 < T; b0 += (int32_t) block)
	{
		int32_t		b1 = b0 + block < T ? b0 + (int32_t) block : T;

		for (int64_t p0 = r0; p0 < r1; p0 += panel)
		{
			int			rows = (int) (p0 + panel < r1 ? panel : r1 - p0);

			for (int32_t t0 = b0, t1; t0 < b1; t0 = t1)
			{
				for (t1 = t0 + 1; t1 < b1 && p->path[t1] == p->path[t0]; t1++)
					;
				vec_dot_block(p->path[t0], w->type, w->cols, w->data + p0 * w->row_bytes,
							  w->row_bytes, rows, p->act + t0 * p->act_row_bytes,
							  p->act_row_bytes, t1 - t0, p->out + t0 * w->rows + p0, w->rows);
			}
		}
	}
	if (p->bias)
		for (int32_t t = 0; t < T; t++)
			for (int64_t r = r0; r < r1; r++)
				p->out[t * w->rows + r] += p->bias[r];
}

/* Worker i of n takes the i-th share of the rows of every product. */
static void
matmul_worker(void *ctx, int i, int n)
{
	const struct matmul_task *mt = ctx;

	for (int k = 0; k < mt->n; k++)
	{
		int64_t		rows = mt->p[k].w->rows;

		matmul_rows(&mt->p[k], mt->T, rows * i / n, rows * (i + 1) / n);
	}
}

/*
 * out_k[T][w_k->rows] = x[T][cols] . w_k^T (+ bias_k) for the n products
 * of a group that read the same input, in one parallel loop.  Each row is
 * summed in the order llama.cpp would use for its token in a product over
 * the tokens its sequence brought (quant.h, mm_path_for), or over that row
 * alone.  The activations are quantized once per type; a group needing more
 * types than acts_for keeps (2) runs one product at a time.
 */
enum path_rule
{
	PATH_CHUNK,					/* its token's place among its sequence's */
	PATH_ALONE,					/* a product of its row alone */
	PATH_MUL_MAT_ID				/* ggml's mul_mat_id: one row at a time */
};

static enum mm_path
path_for(const struct forward_scratch *s, const struct weight *w, int32_t t, enum path_rule rule)
{
	switch (rule)
	{
		case PATH_CHUNK:
			return mm_path_for(w->type, w->rows, s->tok_chunk[t], s->tok_index[t]);
		case PATH_ALONE:
			return mm_path_for(w->type, w->rows, 1, 0);
		case PATH_MUL_MAT_ID:
			break;
	}
	/* mul_mat_id runs a repacked Q4_K expert through its gemv, row by row,
	 * everything else through vec_dot, whatever the row count */
	return mm_path_for(w->type, w->rows, 1, 0) == MM_X8_GEMV ? MM_X8_GEMV : MM_VEC_DOT;
}

static void
products_run(struct infer_ctx *ic, const struct weight *const *w, float *const *out,
			 const float *const *bias, int n, const float *x, int32_t T, enum path_rule rule)
{
	struct forward_scratch *s = ic->scratch;
	struct matmul_task mt = {.n = n, .T = T};
	enum dtype	types[GROUP_MAX];
	int			n_types = 0;

	for (int k = 0; k < n; k++)
	{
		enum dtype	t = quant_act_type(w[k]->type);
		int			j = 0;

		while (j < n_types && types[j] != t)
			j++;
		if (j == n_types)
			types[n_types++] = t;
	}
	if (n_types > 2)
	{
		for (int k = 0; k < n; k++)
			products_run(ic, &w[k], &out[k], &bias[k], 1, x, T, rule);
		return;
	}
	for (int k = 0; k < n; k++)
	{
		enum dtype	act_type = quant_act_type(w[k]->type);
		enum mm_path *path = s->tok_path + (size_t) k * ic->max_batch_tokens;

		for (int32_t t = 0; t < T; t++)
			path[t] = path_for(s, w[k], t, rule);
		mt.p[k] = (struct product) {
			.w = w[k],
			.out = out[k],
			.bias = bias[k],
			.path = path,
			.act = acts_for(ic, x, T, w[k]->cols, act_type),
			.act_row_bytes = dtype_row_bytes(act_type, w[k]->cols),
		};
	}
	threadpool_run(ic->pool, matmul_worker, &mt);
}

void
linear_group(struct infer_ctx *ic, const struct weight *const *w, float *const *out,
			 const float *const *bias, int n, const float *x, int32_t T, bool alone)
{
	products_run(ic, w, out, bias, n, x, T, alone ? PATH_ALONE : PATH_CHUNK);
}

void
linear_group_experts(struct infer_ctx *ic, const struct weight *const *w, float *const *out,
					 int n, const float *x, int32_t T)
{
	const float *no_bias[GROUP_MAX] = {NULL};

	products_run(ic, w, out, no_bias, n, x, T, PATH_MUL_MAT_ID);
}

void
linear(struct infer_ctx *ic, const struct weight *w, const float *x, int32_t T,
	   float *out, const float *bias, bool alone)
{
	linear_group(ic, &w, &out, &bias, 1, x, T, alone);
}

/* ---- the SwiGLU block ----------------------------------------------------- */

/* arg: the hidden width */
static void
swiglu_token(struct infer_ctx *ic, const void *arg, int32_t t)
{
	struct forward_scratch *s = ic->scratch;
	int32_t		n_ff = *(const int32_t *) arg;
	size_t		off = (size_t) t * n_ff;

	swiglu(s->gate + off, s->gate + off, s->up + off, n_ff);
}

void
swiglu_ffn(struct infer_ctx *ic, const struct weight *gate, const struct weight *up,
		   const struct weight *down, const float *x, int32_t T, bool alone, float *out)
{
	struct forward_scratch *s = ic->scratch;
	int32_t		n_ff = (int32_t) gate->rows;

	linear_group(ic, (const struct weight *[]) {gate, up},
				 (float *[]) {s->gate, s->up}, (const float *[]) {NULL, NULL}, 2, x, T, alone);
	for_each_token(ic, T, swiglu_token, &n_ff);
	acts_forget(s);
	linear(ic, down, s->gate, T, out, NULL, alone);
}
