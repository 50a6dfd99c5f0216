/*
 * cuda_backend.cu — the CUDA backend: the model on the device, and the
 * forward pass as a sequence of kernel launches on one stream.
 *
 * The pass mirrors forward.c step by step (embedding; per layer RMSNorm,
 * Q/K/V with biases, RoPE, KV store, attention, output projection added to
 * the residual, RMSNorm, gate and up, SwiGLU, down added to the residual;
 * the last layer's feed-forward only for the rows whose logits are wanted;
 * final norm and output projection), so that a reader can hold the two side
 * by side.  Every launch reads its sizes from the batch shape and its data
 * (tokens, positions, block tables, sparse budgets) from device buffers at
 * fixed addresses; that is what lets a decode step be captured once as a
 * CUDA graph and replayed with new data.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_kernels.h"

extern "C"
{
#include "cuda_backend.h"
#include "forward.h"
#include "model.h"
#include "ops.h"
}

#define MAX_GRAPHS 32
#define BLAS_WORKSPACE (32u << 20)
#define MEMORY_RESERVE (512ull << 20)	/* left free when deciding on F16 copies */

/* A weight matrix on the device. */
struct dev_weight
{
	enum dtype	type;
	int64_t		rows;
	int64_t		cols;
	size_t		row_bytes;
	uint8_t    *q;				/* the GGUF blocks */
	const void *dense;			/* what cuBLAS multiplies: q itself for F16, BF16
								 * and F32, an F16 copy, or NULL (dequantized into
								 * the scratch at each use) */
	__half	   *copy;			/* the F16 copy we own, if any */
};

struct dev_layer
{
	float	   *attn_norm;
	float	   *ffn_norm;
	float	   *bq,
			   *bk,
			   *bv;
	struct dev_weight wq,
				wk,
				wv,
				wo,
				gate,
				up,
				down;
};

/*
 * The batch as the kernels read it: small per-token arrays in one region
 * and the sequences' block tables after it, each at a fixed offset so that
 * captured graphs keep pointing at them.  Mirrored in pinned host memory.
 */
struct batch_desc
{
	int32_t    *tokens;			/* [max_T] */
	int32_t    *pos;			/* [max_T] */
	int32_t    *table_off;		/* [max_T] start of each token's block table */
	int32_t    *out_rows;		/* [max_T] rows whose logits are wanted */
	int32_t    *top_k;			/* [max_T] per output row: candidates wanted (0: none) */
	int32_t    *top_off;		/* [max_T] where its candidates go in top_ids/top_vals */
	int32_t    *budget;			/* [max_T] sparse attention (sparse_batch) */
	int32_t    *list_off;		/* [max_T] */
	struct attn_tile *tiles;	/* [max_T] */
	int32_t    *table;			/* [max_table] */
};

struct graph_entry
{
	int32_t		T;
	int32_t		n_out;
	int32_t		n_splits;
	bool		top;
	bool		sparse;
	cudaGraphExec_t exec;
	uint64_t	last_used;
};

/* The shape of one pass: what its launches depend on. */
struct pass_shape
{
	int32_t		T;
	int32_t		n_tiles;
	int32_t		n_splits;
	int32_t		n_out;
	int32_t		n_top;			/* candidates of all output rows (top_logits.cu) */
	bool		top;			/* n_top > 0: the candidate selection runs */
	bool		sparse;			/* a token attends sparsely: the selection runs */
};

/* What the caller wants of the output rows. */
enum out_mode
{
	OUT_ROWS,					/* every row's logits */
	OUT_ARGMAX,					/* every row's first candidate (and the rows if asked) */
	OUT_ASKED					/* each row r the top[r].n candidates asked, or its logits */
};

struct cuda_backend
{
	const struct model *m;
	struct cuda_options o;
	char		describe[320];
	int			n_sm;
	cudaStream_t st;
	cublasHandle_t blas;
	void	   *blas_ws;

	struct dev_weight tok_embd;
	struct dev_weight output;
	bool		output_shared;	/* tied: output.q is tok_embd.q */
	float	   *output_norm;
	struct dev_layer *layers;
	float2	   *rope_table;		/* [n_ctx][rope_dim / 2] (cos, sin) */
	struct attn_shape attn;
	float		attn_scale;
	size_t		kv_layer_elems; /* halves of one layer of the cache */
	__half	   *k_cache;		/* [n_layer][n_blocks][KV_BLOCK_TOKENS][kv_dim] */
	__half	   *v_cache;
	size_t		sum_layer_elems;	/* floats of one layer of the key summaries */
	float	   *kmin;			/* [n_layer][n_blocks][kv_dim] */
	float	   *kmax;
	int32_t    *lists;			/* sparse tokens' blocks, [max_lists] */
	int64_t		max_lists;
	int32_t		max_blocks;		/* blocks of a full context */

	/* activations */
	float	   *x;				/* [max_T][n_embd] residual stream */
	float	   *x_out;			/* [max_T][n_embd] rows kept for the output */
	float	   *xn;				/* [max_T][n_embd] */
	float	   *q;				/* [max_T][n_embd] */
	float	   *k;				/* [max_T][kv_dim] */
	float	   *v;
	float	   *att;			/* [max_T][n_embd] */
	float	   *gate;			/* [max_T][n_ff] */
	float	   *up;
	float	   *logits;			/* [max_T][n_vocab] */
	int32_t    *top_ids;		/* [max_T * TOP_LOGITS_MAX] candidates, packed by top_off */
	float	   *top_vals;
	int32_t    *top_ids_host;	/* pinned mirrors */
	float	   *top_vals_host;
	float	   *rows_host;		/* pinned staging for logits rows, rows_cap of them */
	int32_t		rows_cap;
	uint8_t    *act;			/* quantized (or dense) activations */
	__half	   *wscratch;		/* a weight dequantized for cuBLAS */
	float2	   *attn_stats;
	float	   *attn_partial;
	int64_t		attn_pairs;		/* (query, split) pairs the two hold */

	/* which activations act holds (forward.c's acts_for) */
	const float *act_src;
	const float *act_up;		/* not NULL: act holds swiglu(act_src, act_up) */
	const float *act_norm;		/* not NULL: act holds rmsnorm(act_src) * act_norm */
	/* which normed input xn holds, where the norm could not be fused */
	const float *xn_src;
	const float *xn_norm;
	enum dtype	act_type;
	bool		act_dense;

	struct batch_desc dev;
	struct batch_desc host;
	void	   *desc_dev;
	void	   *desc_host;
	size_t		small_bytes;	/* the per-token region */
	int64_t		max_table;

	struct graph_entry graphs[MAX_GRAPHS];
	int			n_graphs;
	uint64_t	clock;
};

/* ---- options and device --------------------------------------------------- */

static int
env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

extern "C" void
cuda_options_default(struct cuda_options *o, const struct backend_params *p)
{
	memset(o, 0, sizeof *o);
	o->p = *p;
	o->device = env_int("DR1_CUDA_DEVICE", 0);
	o->gemm_min_tokens = env_int("DR1_CUDA_GEMM_MIN", 32);
	o->f16_weights = env_int("DR1_CUDA_F16_WEIGHTS", 1) != 0;
	o->graphs = env_int("DR1_CUDA_GRAPHS", 1) != 0;
	if (o->gemm_min_tokens <= 0)
		o->gemm_min_tokens = INT32_MAX;
}

static bool
device_usable(int device, char *why)
{
	int			n = 0;
	cudaError_t rc = cudaGetDeviceCount(&n);
	cudaDeviceProp p;

	if (rc != cudaSuccess)
	{
		err_set(why, "no usable CUDA driver or device (%s)", cudaGetErrorString(rc));
		return false;
	}
	if (device < 0 || device >= n)
	{
		err_set(why, "CUDA device %d does not exist (%d found)", device, n);
		return false;
	}
	rc = cudaGetDeviceProperties(&p, device);
	if (rc != cudaSuccess)
	{
		err_set(why, "CUDA device %d: %s", device, cudaGetErrorString(rc));
		return false;
	}
	if (p.major < 8)
	{
		err_set(why, "%s has compute capability %d.%d; this build needs 8.0 or newer",
				p.name, p.major, p.minor);
		return false;
	}
	return true;
}

extern "C" bool
cuda_available(char *why)
{
	return device_usable(0, why);
}

/* ---- upload ---------------------------------------------------------------- */

static int
dev_alloc(void **p, size_t bytes, const char *what, char *err)
{
	cudaError_t rc = cudaMalloc(p, bytes > 0 ? bytes : 1);

	if (rc != cudaSuccess)
	{
		*p = NULL;
		return err_set(err, "cuda: no GPU memory for %s (%.1f MiB): %s", what,
					   bytes / 1048576.0, cudaGetErrorString(rc));
	}
	return 0;
}

static int
upload(void **dst, const void *src, size_t bytes, const char *what, char *err)
{
	if (dev_alloc(dst, bytes, what, err) != 0)
		return -1;
	CUDA_TRY(cudaMemcpy(*dst, src, bytes, cudaMemcpyHostToDevice), err);
	return 0;
}

static int
upload_vector(float **dst, const float *src, int64_t n, const char *what, char *err)
{
	*dst = NULL;
	if (!src)
		return 0;
	return upload((void **) dst, src, n * sizeof(float), what, err);
}

static int
upload_weight(struct dev_weight *d, const struct weight *w, const char *what, char *err)
{
	memset(d, 0, sizeof *d);
	if (qb_shape_of(w->type).block_elems == 0)
		return err_set(err, "cuda: %s has type %s, which the CUDA kernels do not read",
					   what, dtype_name(w->type));
	if (w->cols % 32 != 0)
		return err_set(err, "cuda: %s has rows of %lld, not a multiple of 32",
					   what, (long long) w->cols);
	d->type = w->type;
	d->rows = w->rows;
	d->cols = w->cols;
	d->row_bytes = w->row_bytes;
	if (upload((void **) &d->q, w->data, w->row_bytes * w->rows, what, err) != 0)
		return -1;
	if (gemm_type(w->type) == w->type)
		d->dense = d->q;
	return 0;
}

static void
free_weight(struct dev_weight *d)
{
	cudaFree(d->q);
	cudaFree(d->copy);
}

/* Each layer's weights, then the output's, in one list. */
static int
weight_list(struct cuda_backend *cb, struct dev_weight **list)
{
	int			n = 0;

	for (int il = 0; il < cb->m->hp.n_layer; il++)
	{
		struct dev_layer *l = &cb->layers[il];
		struct dev_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};

		for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
			list[n++] = ws[i];
	}
	list[n++] = &cb->output;
	return n;
}

/*
 * F16 copies of the quantized weights for the cuBLAS path, as many as fit
 * (all, on a GPU with room for them); the others are dequantized into one
 * scratch matrix when used.
 */
static int
make_dense_copies(struct cuda_backend *cb, char *err)
{
	struct dev_weight **list = (struct dev_weight **) malloc((7 * cb->m->hp.n_layer + 1) * sizeof(*list));
	int			n;
	size_t		need = 0;
	size_t		largest = 0;
	size_t		free_b,
				total_b;
	int			rc = 0;

	if (!list)
		return err_set(err, "cuda: out of memory");
	n = weight_list(cb, list);
	for (int i = 0; i < n; i++)
		if (!list[i]->dense)
		{
			size_t		bytes = (size_t) list[i]->rows * list[i]->cols * sizeof(__half);

			need += bytes;
			largest = bytes > largest ? bytes : largest;
		}
	if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess)
		free_b = 0;
	if (largest > 0 && (!cb->o.f16_weights || need + MEMORY_RESERVE > free_b))
		rc = dev_alloc((void **) &cb->wscratch, largest, "the dequantized weight scratch", err);
	for (int i = 0; rc == 0 && cb->o.f16_weights && i < n; i++)
	{
		struct dev_weight *w = list[i];
		size_t		bytes = (size_t) w->rows * w->cols * sizeof(__half);

		if (w->dense)
			continue;
		if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess || bytes + MEMORY_RESERVE > free_b ||
			cudaMalloc((void **) &w->copy, bytes) != cudaSuccess)
		{
			cudaGetLastError();
			w->copy = NULL;
			break;
		}
		rc = launch_dequant_f16(w->type, w->q, w->row_bytes, w->rows, w->cols, w->copy, cb->st, err);
		w->dense = w->copy;
	}
	for (int i = 0; rc == 0 && !cb->wscratch && i < n; i++)
		if (!list[i]->dense)
			rc = dev_alloc((void **) &cb->wscratch, largest, "the dequantized weight scratch", err);
	free(list);
	if (rc == 0)
		CUDA_TRY(cudaStreamSynchronize(cb->st), err);
	return rc;
}

static int
upload_layers(struct cuda_backend *cb, char *err)
{
	const struct hparams *hp = &cb->m->hp;
	int64_t		kv_dim = (int64_t) hp->n_head_kv * hp->head_dim;
	char		what[64];

	cb->layers = (struct dev_layer *) calloc(hp->n_layer, sizeof(struct dev_layer));
	if (!cb->layers)
		return err_set(err, "cuda: out of memory");
	for (int il = 0; il < hp->n_layer; il++)
	{
		const struct layer *l = &cb->m->layers[il];
		struct dev_layer *d = &cb->layers[il];

		snprintf(what, sizeof what, "layer %d", il);
		if (upload_vector(&d->attn_norm, l->attn_norm, hp->n_embd, what, err) ||
			upload_vector(&d->ffn_norm, l->ffn_norm, hp->n_embd, what, err) ||
			upload_vector(&d->bq, l->bq, hp->n_embd, what, err) ||
			upload_vector(&d->bk, l->bk, kv_dim, what, err) ||
			upload_vector(&d->bv, l->bv, kv_dim, what, err) ||
			upload_weight(&d->wq, &l->wq, what, err) ||
			upload_weight(&d->wk, &l->wk, what, err) ||
			upload_weight(&d->wv, &l->wv, what, err) ||
			upload_weight(&d->wo, &l->wo, what, err) ||
			upload_weight(&d->gate, &l->w_gate, what, err) ||
			upload_weight(&d->up, &l->w_up, what, err) ||
			upload_weight(&d->down, &l->w_down, what, err))
			return -1;
	}
	return 0;
}

/*
 * (cos, sin) of every position and frequency, computed by ops.c's rope()
 * itself: rotating the unit pair (1, 0) yields exactly (cos, sin), so the
 * device rotates with the CPU's values to the last bit.
 */
static int
make_rope_table(struct cuda_backend *cb, char *err)
{
	const struct model *m = cb->m;
	const struct hparams *hp = &m->hp;
	int			half = hp->rope_dim / 2;
	size_t		n = (size_t) cb->o.p.n_ctx * half;
	float2	   *table = (float2 *) malloc(n * sizeof(float2));
	float	   *x = (float *) malloc(hp->head_dim * sizeof(float));
	int			rc;

	if (!table || !x)
	{
		free(table);
		free(x);
		return err_set(err, "cuda: out of memory for the RoPE table");
	}
	for (int32_t pos = 0; pos < cb->o.p.n_ctx; pos++)
	{
		for (int i = 0; i < half; i++)
		{
			int			a = m->arch->rope == ROPE_NEOX ? i : 2 * i;
			int			b = m->arch->rope == ROPE_NEOX ? i + half : 2 * i + 1;

			x[a] = 1.0f;
			x[b] = 0.0f;
		}
		rope(x, 1, hp->head_dim, hp->rope_dim, pos, hp->rope_base, m->rope_freqs, m->arch->rope);
		for (int i = 0; i < half; i++)
		{
			int			a = m->arch->rope == ROPE_NEOX ? i : 2 * i;
			int			b = m->arch->rope == ROPE_NEOX ? i + half : 2 * i + 1;

			table[(size_t) pos * half + i] = make_float2(x[a], x[b]);
		}
	}
	rc = upload((void **) &cb->rope_table, table, n * sizeof(float2), "the RoPE table", err);
	free(table);
	free(x);
	return rc;
}

/* ---- buffers ---------------------------------------------------------------- */

static int
alloc_activations(struct cuda_backend *cb, char *err)
{
	const struct hparams *hp = &cb->m->hp;
	size_t		T = cb->o.p.max_batch_tokens;
	size_t		d = hp->n_embd;
	size_t		kv_dim = (size_t) hp->n_head_kv * hp->head_dim;
	size_t		widest = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;

	cb->attn_pairs = (int64_t) T * hp->n_head * 4;
	if (dev_alloc((void **) &cb->x, T * d * 4, "activations", err) ||
		dev_alloc((void **) &cb->x_out, T * d * 4, "activations", err) ||
		dev_alloc((void **) &cb->xn, T * d * 4, "activations", err) ||
		dev_alloc((void **) &cb->q, T * d * 4, "activations", err) ||
		dev_alloc((void **) &cb->k, T * kv_dim * 4, "activations", err) ||
		dev_alloc((void **) &cb->v, T * kv_dim * 4, "activations", err) ||
		dev_alloc((void **) &cb->att, T * d * 4, "activations", err) ||
		dev_alloc((void **) &cb->gate, T * hp->n_ff * 4, "activations", err) ||
		dev_alloc((void **) &cb->up, T * hp->n_ff * 4, "activations", err) ||
		dev_alloc((void **) &cb->logits, T * hp->n_vocab * 4, "logits", err) ||
		/* F32 is the widest activation format */
		dev_alloc((void **) &cb->act, T * widest * 4, "quantized activations", err) ||
		dev_alloc((void **) &cb->attn_stats, cb->attn_pairs * sizeof(float2), "attention", err) ||
		dev_alloc((void **) &cb->attn_partial, cb->attn_pairs * hp->head_dim * 4, "attention", err))
		return -1;
	return 0;
}

static int
alloc_kv(struct cuda_backend *cb, char *err)
{
	const struct hparams *hp = &cb->m->hp;
	size_t		kv_dim = (size_t) hp->n_head_kv * hp->head_dim;
	size_t		bytes;

	cb->kv_layer_elems = (size_t) cb->o.p.n_kv_blocks * KV_BLOCK_TOKENS * kv_dim;
	bytes = cb->kv_layer_elems * hp->n_layer * sizeof(__half);
	if (dev_alloc((void **) &cb->k_cache, bytes, "the KV cache keys", err) ||
		dev_alloc((void **) &cb->v_cache, bytes, "the KV cache values", err))
		return -1;
	/* slots are only read once written; zeros keep a stray read finite */
	CUDA_TRY(cudaMemset(cb->k_cache, 0, bytes), err);
	CUDA_TRY(cudaMemset(cb->v_cache, 0, bytes), err);
	/* a summary is reset when its block's first slot is written (sparse_plan.h) */
	cb->sum_layer_elems = (size_t) cb->o.p.n_kv_blocks * kv_dim;
	bytes = cb->sum_layer_elems * hp->n_layer * sizeof(float);
	if (dev_alloc((void **) &cb->kmin, bytes, "the KV cache key summaries", err) ||
		dev_alloc((void **) &cb->kmax, bytes, "the KV cache key summaries", err))
		return -1;
	CUDA_TRY(cudaMemset(cb->kmin, 0, bytes), err);
	CUDA_TRY(cudaMemset(cb->kmax, 0, bytes), err);
	return 0;
}

/* Carve the batch descriptor out of one block (device or pinned host). */
static void
desc_carve(struct batch_desc *d, void *base, int64_t max_T)
{
	int32_t    *p = (int32_t *) base;

	d->tokens = p;
	d->pos = p + max_T;
	d->table_off = p + 2 * max_T;
	d->out_rows = p + 3 * max_T;
	d->top_k = p + 4 * max_T;
	d->top_off = p + 5 * max_T;
	d->budget = p + 6 * max_T;
	d->list_off = p + 7 * max_T;
	d->tiles = (struct attn_tile *) (p + 8 * max_T);
	d->table = (int32_t *) (d->tiles + max_T);
}

static int
alloc_desc(struct cuda_backend *cb, char *err)
{
	int64_t		max_T = cb->o.p.max_batch_tokens;
	int64_t		per_seq = (cb->o.p.n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
	size_t		bytes;

	cb->max_table = max_T * per_seq;
	cb->small_bytes = (size_t) max_T * (8 * sizeof(int32_t) + sizeof(struct attn_tile));
	bytes = cb->small_bytes + cb->max_table * sizeof(int32_t);
	/* a sparse token reads fewer blocks than its context has, per KV head */
	cb->max_blocks = (int32_t) per_seq;
	cb->max_lists = cb->max_table * cb->m->hp.n_head_kv;
	if (dev_alloc(&cb->desc_dev, bytes, "the batch descriptor", err) != 0 ||
		dev_alloc((void **) &cb->lists, cb->max_lists * sizeof(int32_t), "sparse attention", err) ||
		sparse_select_setup(cb->max_blocks, cb->m->hp.head_dim, err) != 0)
		return -1;
	CUDA_TRY(cudaMallocHost(&cb->desc_host, bytes), err);
	if (dev_alloc((void **) &cb->top_ids, max_T * TOP_LOGITS_MAX * sizeof(int32_t), "candidates", err) ||
		dev_alloc((void **) &cb->top_vals, max_T * TOP_LOGITS_MAX * sizeof(float), "candidates", err))
		return -1;
	CUDA_TRY(cudaMallocHost((void **) &cb->top_ids_host, max_T * TOP_LOGITS_MAX * sizeof(int32_t)), err);
	CUDA_TRY(cudaMallocHost((void **) &cb->top_vals_host, max_T * TOP_LOGITS_MAX * sizeof(float)), err);
	desc_carve(&cb->dev, cb->desc_dev, max_T);
	desc_carve(&cb->host, cb->desc_host, max_T);
	return 0;
}

/*
 * Wait for the uploads and memsets: they ran on the legacy default stream,
 * which the backend's non-blocking stream does not wait for, and a copy
 * from pageable memory may return before it lands.
 */
static int
settle(char *err)
{
	CUDA_TRY(cudaDeviceSynchronize(), err);
	return 0;
}

static int
blas_setup(struct cuda_backend *cb, char *err)
{
	if (cublasSetStream(cb->blas, cb->st) != CUBLAS_STATUS_SUCCESS ||
		cublasSetWorkspace(cb->blas, cb->blas_ws, BLAS_WORKSPACE) != CUBLAS_STATUS_SUCCESS)
		return err_set(err, "cuda: cannot set up cuBLAS");
	return 0;
}

/* A tied output shares the embedding's blocks (its F16 copy is its own). */
static int
upload_output(struct cuda_backend *cb, char *err)
{
	if (!cb->m->output_tied)
		return upload_weight(&cb->output, &cb->m->output, "output", err);
	cb->output = cb->tok_embd;
	cb->output_shared = true;
	return 0;
}

extern "C" struct cuda_backend *
cuda_backend_new(const struct model *m, const struct cuda_options *o, char *err)
{
	struct cuda_backend *cb;
	const struct hparams *hp = &m->hp;
	cudaDeviceProp prop;

	if (!device_usable(o->device, err))
		return NULL;
	if (hp->head_dim % 2 != 0 || hp->head_dim > ATTN_MAX_HEAD_DIM)
	{
		err_set(err, "cuda: head size %d is not supported (even, at most %d)",
				hp->head_dim, ATTN_MAX_HEAD_DIM);
		return NULL;
	}
	if (o->p.max_batch_tokens < 1 || o->p.max_batch_tokens > 65535 || o->p.n_ctx < 1 ||
		o->p.n_kv_blocks < 1)
	{
		err_set(err, "cuda: batch of %d tokens, context %d, %d KV blocks: out of range",
				o->p.max_batch_tokens, o->p.n_ctx, o->p.n_kv_blocks);
		return NULL;
	}
	cb = (struct cuda_backend *) calloc(1, sizeof *cb);
	if (!cb)
	{
		err_set(err, "cuda: out of memory");
		return NULL;
	}
	cb->m = m;
	cb->o = *o;
	cb->attn = attn_shape_make(hp->n_head, hp->n_head_kv, hp->head_dim);
	cb->attn_scale = 1.0f / sqrtf((float) hp->head_dim);
	if (cudaSetDevice(o->device) != cudaSuccess ||
		cudaGetDeviceProperties(&prop, o->device) != cudaSuccess)
	{
		err_set(err, "cuda: cannot open device %d", o->device);
		free(cb);
		return NULL;
	}
	cb->n_sm = prop.multiProcessorCount;
	snprintf(cb->describe, sizeof cb->describe, "%.120s (sm_%d%d, %d SMs, %.1f GiB)", prop.name,
			 prop.major, prop.minor, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0);
	if (cudaStreamCreateWithFlags(&cb->st, cudaStreamNonBlocking) != cudaSuccess ||
		cublasCreate(&cb->blas) != CUBLAS_STATUS_SUCCESS)
	{
		err_set(err, "cuda: cannot create a stream and a cuBLAS handle");
		cuda_backend_free(cb);
		return NULL;
	}
	if (dev_alloc(&cb->blas_ws, BLAS_WORKSPACE, "the cuBLAS workspace", err) != 0 ||
		blas_setup(cb, err) != 0 ||
		upload_weight(&cb->tok_embd, &m->tok_embd, "token_embd", err) != 0 ||
		upload_vector(&cb->output_norm, m->output_norm, hp->n_embd, "output_norm", err) != 0 ||
		upload_output(cb, err) != 0 ||
		upload_layers(cb, err) != 0 ||
		make_rope_table(cb, err) != 0 ||
		alloc_kv(cb, err) != 0 ||
		alloc_activations(cb, err) != 0 ||
		alloc_desc(cb, err) != 0 ||
		settle(err) != 0 ||
		(o->gemm_min_tokens <= o->p.max_batch_tokens && make_dense_copies(cb, err) != 0) ||
		settle(err) != 0)
	{
		cuda_backend_free(cb);
		return NULL;
	}
	return cb;
}

extern "C" void
cuda_backend_free(struct cuda_backend *cb)
{
	if (!cb)
		return;
	cudaSetDevice(cb->o.device);
	for (int i = 0; i < cb->n_graphs; i++)
		cudaGraphExecDestroy(cb->graphs[i].exec);
	if (cb->layers)
	{
		for (int il = 0; il < cb->m->hp.n_layer; il++)
		{
			struct dev_layer *l = &cb->layers[il];

			cudaFree(l->attn_norm);
			cudaFree(l->ffn_norm);
			cudaFree(l->bq);
			cudaFree(l->bk);
			cudaFree(l->bv);
			free_weight(&l->wq);
			free_weight(&l->wk);
			free_weight(&l->wv);
			free_weight(&l->wo);
			free_weight(&l->gate);
			free_weight(&l->up);
			free_weight(&l->down);
		}
		free(cb->layers);
	}
	free_weight(&cb->tok_embd);
	if (cb->output_shared)
		cudaFree(cb->output.copy);
	else
		free_weight(&cb->output);
	cudaFree(cb->output_norm);
	cudaFree(cb->rope_table);
	cudaFree(cb->k_cache);
	cudaFree(cb->v_cache);
	cudaFree(cb->kmin);
	cudaFree(cb->kmax);
	cudaFree(cb->lists);
	cudaFree(cb->x);
	cudaFree(cb->x_out);
	cudaFree(cb->xn);
	cudaFree(cb->q);
	cudaFree(cb->k);
	cudaFree(cb->v);
	cudaFree(cb->att);
	cudaFree(cb->gate);
	cudaFree(cb->up);
	cudaFree(cb->logits);
	cudaFree(cb->top_ids);
	cudaFree(cb->top_vals);
	cudaFreeHost(cb->top_ids_host);
	cudaFreeHost(cb->top_vals_host);
	cudaFreeHost(cb->rows_host);
	cudaFree(cb->act);
	cudaFree(cb->wscratch);
	cudaFree(cb->attn_stats);
	cudaFree(cb->attn_partial);
	cudaFree(cb->desc_dev);
	cudaFreeHost(cb->desc_host);
	cudaFree(cb->blas_ws);
	if (cb->blas)
		cublasDestroy(cb->blas);
	if (cb->st)
		cudaStreamDestroy(cb->st);
	free(cb);
}

extern "C" const char *
cuda_backend_describe(const struct cuda_backend *cb)
{
	return cb->describe;
}

/* ---- the pass ---------------------------------------------------------------- */

static void
acts_forget(struct cuda_backend *cb)
{
	cb->act_src = NULL;
	cb->xn_src = NULL;
}

/* A product's input: x, swiglu(x, up) (down's), or rmsnorm(x) * norm (a
 * block's normed input). */
struct lin_in
{
	const float *x;
	const float *up;
	const float *norm;
};

/*
 * The activations a weight of type w is dotted with, for T rows of in,
 * into cb->act, converted once per input (Q, K and V share them, as do
 * gate and up).  The SwiGLU and the RMSNorm are fused into the conversion
 * (one launch where there were two), except RMSNorm for the dense
 * (cuBLAS) path and the plain formats, which convert xn, normed first.
 */
static int
acts_for(struct cuda_backend *cb, const struct dev_weight *w, const struct lin_in *in, int T,
		 char *err)
{
	const struct hparams *hp = &cb->m->hp;
	enum dtype	act_type = quant_act_type(w->type);
	bool		dense = T >= cb->o.gemm_min_tokens;
	size_t		rb = dtype_row_bytes(act_type, w->cols);
	const float *x = in->x;
	int			rc;

	if (cb->act_src == in->x && cb->act_up == in->up && cb->act_norm == in->norm &&
		cb->act_type == act_type && cb->act_dense == dense)
		return 0;
	if (in->norm && (dense || !act_norm_fuses(act_type)))
	{
		if ((cb->xn_src != in->x || cb->xn_norm != in->norm) &&
			launch_rmsnorm(in->x, in->norm, NULL, T, hp->n_embd, hp->rms_eps, cb->xn, cb->st, err))
			return -1;
		cb->xn_src = in->x;
		cb->xn_norm = in->norm;
		x = cb->xn;
	}
	if (in->norm && x == in->x)
		rc = launch_quantize_act_norm(act_type, x, in->norm, hp->rms_eps, T, w->cols, cb->act, rb,
									  cb->st, err);
	else if (in->up)
		rc = launch_act_swiglu(act_type, dense, x, in->up, T, w->cols, cb->act, rb, cb->st, err);
	else if (dense)
		rc = launch_act_dense(act_type, x, T, w->cols, cb->act, cb->st, err);
	else
		rc = launch_quantize_act(act_type, x, T, w->cols, cb->act, rb, cb->st, err);
	if (rc != 0)
		return -1;
	cb->act_src = in->x;
	cb->act_up = in->up;
	cb->act_norm = in->norm;
	cb->act_type = act_type;
	cb->act_dense = dense;
	return 0;
}

/*
 * out[T][w->rows] = in[T][w->cols] . w^T (+ bias), or += when accumulate.
 * Few tokens: the quantized activations against the GGUF blocks, QB_MAX_T
 * tokens per launch.  Many: cuBLAS on dense copies.
 */
static int
linear(struct cuda_backend *cb, const struct dev_weight *w, const struct lin_in *in, int T,
	   float *out, const float *bias, bool accumulate, char *err)
{
	enum dtype	act_type = quant_act_type(w->type);
	bool		dense = T >= cb->o.gemm_min_tokens;
	size_t		act_row_bytes = dtype_row_bytes(act_type, w->cols);

	if (acts_for(cb, w, in, T, err) != 0)
		return -1;
	if (dense)
	{
		const void *wd = w->dense;

		if (!wd)
		{
			if (launch_dequant_f16(w->type, w->q, w->row_bytes, w->rows, w->cols, cb->wscratch,
								   cb->st, err) != 0)
				return -1;
			wd = cb->wscratch;
		}
		if (gemm_rows(cb->blas, gemm_type(w->type), wd, w->rows, w->cols, cb->act, T, out,
					  accumulate, err) != 0)
			return -1;
		return bias ? launch_add_bias(out, bias, T, w->rows, cb->st, err) : 0;
	}
	for (int t0 = 0; t0 < T; t0 += QB_MAX_T)
	{
		struct matvec_args a;

		a.type = w->type;
		a.w = w->q;
		a.row_bytes = w->row_bytes;
		a.rows = w->rows;
		a.cols = w->cols;
		a.act = cb->act + (size_t) t0 * act_row_bytes;
		a.act_row_bytes = act_row_bytes;
		a.T = T - t0 < QB_MAX_T ? T - t0 : QB_MAX_T;
		a.out = out + (size_t) t0 * w->rows;
		a.out_stride = w->rows;
		a.bias = bias;
		a.accumulate = accumulate;
		a.split = mv_choose_split(w->rows, w->cols / qb_shape_of(w->type).block_elems *
								  qb_shape_of(w->type).units, cb->n_sm);
		if (launch_matvec(&a, cb->st, err) != 0)
			return -1;
	}
	return 0;
}

/* Layer il's new keys and values into the cache and its key summaries;
 * then, when a token attends sparsely, the blocks each such token reads. */
static int
kv_store_select(struct cuda_backend *cb, int il, const struct pass_shape *ps, char *err)
{
	const struct hparams *hp = &cb->m->hp;
	struct kv_store_args kv;
	struct sparse_select_args sel;

	kv.k = cb->k;
	kv.v = cb->v;
	kv.T = ps->T;
	kv.kv_dim = hp->n_head_kv * hp->head_dim;
	kv.pos = cb->dev.pos;
	kv.table_off = cb->dev.table_off;
	kv.table = cb->dev.table;
	kv.k_cache = cb->k_cache + il * cb->kv_layer_elems;
	kv.v_cache = cb->v_cache + il * cb->kv_layer_elems;
	kv.kmin = cb->kmin + il * cb->sum_layer_elems;
	kv.kmax = cb->kmax + il * cb->sum_layer_elems;
	if (launch_kv_store(&kv, cb->st, err) != 0)
		return -1;
	if (!ps->sparse)
		return 0;
	sel.shape = cb->attn;
	sel.q = cb->q;
	sel.kmin = kv.kmin;
	sel.kmax = kv.kmax;
	sel.kv_dim = kv.kv_dim;
	sel.T = ps->T;
	sel.max_blocks = cb->max_blocks;
	sel.pos = cb->dev.pos;
	sel.table_off = cb->dev.table_off;
	sel.table = cb->dev.table;
	sel.budget = cb->dev.budget;
	sel.list_off = cb->dev.list_off;
	sel.lists = cb->lists;
	return launch_sparse_select(&sel, cb->st, err);
}

static int
attention_block(struct cuda_backend *cb, int il, const struct pass_shape *ps, char *err)
{
	const struct model *m = cb->m;
	const struct hparams *hp = &m->hp;
	const struct dev_layer *l = &cb->layers[il];
	int			T = ps->T;
	bool		neox = m->arch->rope == ROPE_NEOX;
	struct lin_in normed = {cb->x, NULL, l->attn_norm};
	struct lin_in att = {cb->att, NULL, NULL};
	struct attention_args at;

	acts_forget(cb);
	if (linear(cb, &l->wq, &normed, T, cb->q, l->bq, false, err) ||
		linear(cb, &l->wk, &normed, T, cb->k, l->bk, false, err) ||
		linear(cb, &l->wv, &normed, T, cb->v, l->bv, false, err) ||
		launch_rope(cb->q, hp->n_head, cb->k, hp->n_head_kv, T, hp->head_dim, hp->rope_dim,
					cb->rope_table, cb->dev.pos, neox, cb->st, err) ||
		kv_store_select(cb, il, ps, err))
		return -1;

	at.shape = cb->attn;
	at.q = cb->q;
	at.k_cache = cb->k_cache + il * cb->kv_layer_elems;
	at.v_cache = cb->v_cache + il * cb->kv_layer_elems;
	at.kv_dim = hp->n_head_kv * hp->head_dim;
	at.pos = cb->dev.pos;
	at.table = cb->dev.table;
	at.tiles = cb->dev.tiles;
	at.lists = cb->lists;
	at.n_tiles = ps->n_tiles;
	at.T = T;
	at.n_splits = ps->n_splits;
	at.scale = cb->attn_scale;
	at.stats = cb->attn_stats;
	at.partial = cb->attn_partial;
	at.out = cb->att;
	if (launch_attention(&at, cb->st, err) != 0)
		return -1;
	acts_forget(cb);
	return linear(cb, &l->wo, &att, T, cb->x, NULL, true, err);
}

/* The feed-forward block on T rows of the residual stream x. */
static int
ffn_block(struct cuda_backend *cb, int il, float *x, int T, char *err)
{
	const struct dev_layer *l = &cb->layers[il];
	struct lin_in normed = {x, NULL, l->ffn_norm};
	struct lin_in glu = {cb->gate, cb->up, NULL};

	acts_forget(cb);
	if (linear(cb, &l->gate, &normed, T, cb->gate, NULL, false, err) ||
		linear(cb, &l->up, &normed, T, cb->up, NULL, false, err))
		return -1;
	acts_forget(cb);
	return linear(cb, &l->down, &glu, T, x, NULL, true, err);
}

/* Every launch of one forward pass; no host synchronisation inside. */
static int
run_pass(struct cuda_backend *cb, const struct pass_shape *ps, char *err)
{
	const struct model *m = cb->m;
	const struct hparams *hp = &m->hp;
	int			last = hp->n_layer - 1;
	struct lin_in normed = {cb->x_out, NULL, cb->output_norm};

	acts_forget(cb);
	if (launch_embed(cb->tok_embd.type, cb->tok_embd.q, cb->tok_embd.row_bytes, hp->n_embd,
					 cb->dev.tokens, ps->T, cb->x, cb->st, err) != 0)
		return -1;
	for (int il = 0; il < last; il++)
		if (attention_block(cb, il, ps, err) || ffn_block(cb, il, cb->x, ps->T, err))
			return -1;
	if (attention_block(cb, last, ps, err) != 0)
		return -1;
	if (ps->n_out == 0)
		return 0;
	/* as forward.c: the last feed-forward block only for the output rows */
	if (launch_gather_rows(cb->x_out, cb->x, cb->dev.out_rows, ps->n_out, hp->n_embd, cb->st, err) ||
		ffn_block(cb, last, cb->x_out, ps->n_out, err))
		return -1;
	acts_forget(cb);
	if (linear(cb, &cb->output, &normed, ps->n_out, cb->logits, NULL, false, err) != 0)
		return -1;
	return ps->top ? launch_top_logits(cb->logits, ps->n_out, hp->n_vocab, cb->dev.top_k,
									   cb->dev.top_off, cb->top_ids, cb->top_vals, cb->st, err) : 0;
}

/* ---- the batch --------------------------------------------------------------- */

/*
 * Sequence b's tokens into the host descriptor from batch index T on, each
 * with its sparse budget (forward.c's rule) into sb.  Returns the positions
 * whose blocks the token that reads the most reads (attn_choose_splits).
 */
static int32_t
describe_tokens(struct cuda_backend *cb, const struct seq_batch *b, int32_t table_off, int32_t T,
				struct sparse_batch *sb)
{
	struct batch_desc *h = &cb->host;
	int32_t		most = 0;

	for (int32_t j = 0; j < b->n_tokens; j++)
	{
		int32_t		pos = b->seq->n_tokens + j;
		int32_t		reads = sparse_batch_add(sb, T + j, pos, sparse_token_budget(&b->sparse, pos),
											 cb->attn.n_kv_head);

		h->tokens[T + j] = b->tokens[j];
		h->pos[T + j] = pos;
		h->table_off[T + j] = table_off;
		most = reads > most ? reads : most;
	}
	return most;
}

/* Output row ps->n_out (batch row `row`) and the candidates it gets. */
static void
describe_output(struct cuda_backend *cb, enum out_mode mode, const struct top_logits *asked,
				int32_t row, struct pass_shape *ps)
{
	struct batch_desc *h = &cb->host;
	int32_t		k = mode == OUT_ARGMAX ? 1 : mode == OUT_ASKED ? asked[ps->n_out].n : 0;

	if (k < 0 || k > TOP_LOGITS_MAX)
		k = 0;					/* what no sampler asks: the row */
	k = k < cb->m->hp.n_vocab ? k : cb->m->hp.n_vocab;
	h->out_rows[ps->n_out] = row;
	h->top_k[ps->n_out] = k;
	h->top_off[ps->n_out] = ps->n_top;
	ps->n_top += k;
	ps->n_out++;
}

/*
 * Fill the host descriptor from the batch and upload it.  Each sequence's
 * table is the prefix of its block list that covers its new positions.
 */
static int
describe_batch(struct cuda_backend *cb, const struct seq_batch *batch, int n_seqs,
			   enum out_mode mode, const struct top_logits *asked, struct pass_shape *ps,
			   bool *decode, char *err)
{
	struct batch_desc *h = &cb->host;
	int32_t    *first = (int32_t *) malloc((3 * (size_t) n_seqs + cb->o.p.max_batch_tokens)
										   * sizeof(int32_t));
	int32_t    *n_tok = first + n_seqs;
	int32_t    *table_off = n_tok + n_seqs;
	struct sparse_batch sb = {h->budget, table_off + n_seqs, h->list_off, 0};
	int64_t		n_table = 0;
	int32_t		T = 0;
	int32_t		max_ctx = 0;
	int32_t		reads;

	if (!first)
		return err_set(err, "cuda: out of memory");
	memset(ps, 0, sizeof *ps);
	*decode = true;
	for (int i = 0; i < n_seqs; i++)
	{
		const struct seq_batch *b = &batch[i];
		int32_t		end = b->seq->n_tokens + b->n_tokens;
		int32_t		nb = (end + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;

		if (T + b->n_tokens > cb->o.p.max_batch_tokens || n_table + nb > cb->max_table ||
			nb > b->seq->n_blocks || end > cb->o.p.n_ctx)
		{
			free(first);
			return err_set(err, "cuda: the batch exceeds what the backend was set up for");
		}
		first[i] = T;
		n_tok[i] = b->n_tokens;
		table_off[i] = (int32_t) n_table;
		memcpy(h->table + n_table, b->seq->blocks, nb * sizeof(int32_t));
		n_table += nb;
		reads = describe_tokens(cb, b, table_off[i], T, &sb);
		T += b->n_tokens;
		if (b->want_logits)
			describe_output(cb, mode, asked, T - 1, ps);
		*decode &= b->n_tokens == 1;
		max_ctx = reads > max_ctx ? reads : max_ctx;
	}
	ps->T = T;
	ps->top = ps->n_top > 0;
	ps->sparse = sb.n_lists > 0;
	ps->n_tiles = attn_make_tiles(&cb->attn, first, n_tok, table_off, n_seqs, sb.n_list,
								  sb.list_off, h->tiles);
	/* in powers of two: fewer shapes, fewer graphs, and a graph replay
	 * sums exactly as the same step run without one */
	ps->n_splits = attn_choose_splits(ps->n_tiles, &cb->attn, T, max_ctx, 2 * cb->n_sm,
									  cb->attn_pairs);
	while (ps->n_splits & (ps->n_splits - 1))
		ps->n_splits &= ps->n_splits - 1;
	free(first);
	CUDA_TRY(cudaMemcpyAsync(cb->desc_dev, cb->desc_host, cb->small_bytes,
							 cudaMemcpyHostToDevice, cb->st), err);
	CUDA_TRY(cudaMemcpyAsync(cb->dev.table, h->table, n_table * sizeof(int32_t),
							 cudaMemcpyHostToDevice, cb->st), err);
	return 0;
}

/*
 * A capture that fails turns graphs off for good: the steps run launch by
 * launch, which is slower but the same arithmetic, and describe says why.
 */
static void
graphs_off(struct cuda_backend *cb, struct graph_entry *g, const char *why)
{
	size_t		n = strlen(cb->describe);

	cudaGetLastError();
	g->exec = NULL;
	if (g == &cb->graphs[cb->n_graphs - 1])
		cb->n_graphs--;
	cb->o.graphs = false;
	snprintf(cb->describe + n, sizeof cb->describe - n, "; CUDA graphs off: %.80s", why);
}

/* The graph of a decode step of this shape, captured on first use; NULL
 * when capture fails (graphs_off). */
static cudaGraphExec_t
graph_for(struct cuda_backend *cb, const struct pass_shape *ps, char *err)
{
	struct graph_entry *g = NULL;
	cudaGraph_t graph;
	cudaError_t rc;
	int			pass_rc;

	for (int i = 0; i < cb->n_graphs; i++)
		if (cb->graphs[i].T == ps->T && cb->graphs[i].n_out == ps->n_out &&
			cb->graphs[i].n_splits == ps->n_splits && cb->graphs[i].top == ps->top &&
			cb->graphs[i].sparse == ps->sparse)
			g = &cb->graphs[i];
	if (!g)
	{
		if (cb->n_graphs < MAX_GRAPHS)
			g = &cb->graphs[cb->n_graphs++];
		else
		{
			g = &cb->graphs[0];
			for (int i = 1; i < MAX_GRAPHS; i++)
				if (cb->graphs[i].last_used < g->last_used)
					g = &cb->graphs[i];
			cudaGraphExecDestroy(g->exec);
		}
		g->exec = NULL;
		rc = cudaStreamBeginCapture(cb->st, cudaStreamCaptureModeThreadLocal);
		if (rc != cudaSuccess)
		{
			graphs_off(cb, g, cudaGetErrorString(rc));
			return NULL;
		}
		pass_rc = run_pass(cb, ps, err);
		rc = cudaStreamEndCapture(cb->st, &graph);
		if (rc == cudaSuccess)
		{
			if (pass_rc == 0)
				rc = cudaGraphInstantiate(&g->exec, graph, 0);
			cudaGraphDestroy(graph);
		}
		if (pass_rc != 0 || rc != cudaSuccess || !g->exec)
		{
			graphs_off(cb, g, pass_rc != 0 ? err : cudaGetErrorString(rc));
			return NULL;
		}
		g->T = ps->T;
		g->n_out = ps->n_out;
		g->n_splits = ps->n_splits;
		g->top = ps->top;
		g->sparse = ps->sparse;
	}
	g->last_used = ++cb->clock;
	return g->exec;
}

/* Room in the pinned staging for n rows of logits. */
static int
rows_staging(struct cuda_backend *cb, int32_t n, char *err)
{
	if (n <= cb->rows_cap)
		return 0;
	cudaFreeHost(cb->rows_host);
	cb->rows_host = NULL;
	cb->rows_cap = 0;
	CUDA_TRY(cudaMallocHost((void **) &cb->rows_host, (size_t) n * cb->m->hp.n_vocab * sizeof(float)), err);
	cb->rows_cap = n;
	return 0;
}

/* Whether output row r's logits go back: all of them for OUT_ROWS and
 * OUT_ARGMAX with a logits buffer, the rows without candidates for OUT_ASKED. */
static bool
row_wanted(const struct cuda_backend *cb, enum out_mode mode, const float *logits, int32_t r)
{
	return logits && (mode != OUT_ASKED || cb->host.top_k[r] == 0);
}

/* Queue the copies of the wanted logits rows into the staging, runs of
 * consecutive rows in one copy each. */
static int
copy_rows(struct cuda_backend *cb, enum out_mode mode, const float *logits,
		  const struct pass_shape *ps, char *err)
{
	size_t		row_bytes = (size_t) cb->m->hp.n_vocab * sizeof(float);
	int32_t		n = 0;

	for (int32_t r = 0; r < ps->n_out; r++)
		n += row_wanted(cb, mode, logits, r);
	if (n == 0)
		return 0;
	if (rows_staging(cb, ps->n_out, err) != 0)
		return -1;
	for (int32_t r = 0, run; r < ps->n_out; r += run)
	{
		for (run = 0; r + run < ps->n_out && row_wanted(cb, mode, logits, r + run); run++)
			;
		if (run == 0)
		{
			run = 1;
			continue;
		}
		CUDA_TRY(cudaMemcpyAsync((char *) cb->rows_host + r * row_bytes,
								 (const char *) cb->logits + r * row_bytes, run * row_bytes,
								 cudaMemcpyDeviceToHost, cb->st), err);
	}
	return 0;
}

/* After the stream has finished: the staged rows and candidates to the
 * caller's buffers. */
static void
deliver(struct cuda_backend *cb, enum out_mode mode, const struct pass_shape *ps, float *logits,
		int32_t *argmax, struct top_logits *top)
{
	size_t		n_vocab = cb->m->hp.n_vocab;

	for (int32_t r = 0; r < ps->n_out; r++)
	{
		int32_t		k = cb->host.top_k[r];
		int32_t		off = cb->host.top_off[r];

		if (row_wanted(cb, mode, logits, r))
			memcpy(logits + r * n_vocab, cb->rows_host + r * n_vocab, n_vocab * sizeof(float));
		if (argmax)
			argmax[r] = cb->top_ids_host[off];
		if (top)
		{
			top[r].n = k;
			memcpy(top[r].id, cb->top_ids_host + off, k * sizeof(int32_t));
			memcpy(top[r].logit, cb->top_vals_host + off, k * sizeof(float));
		}
	}
}

/*
 * One pass, replayed from a graph for a decode step, and what the caller
 * wants of its output rows: logits through the pinned staging, candidates
 * (top_logits.cu) through their pinned mirrors.
 */
static int
forward_pass(struct cuda_backend *cb, const struct seq_batch *batch, int n_seqs, enum out_mode mode,
			 float *logits, int32_t *argmax, struct top_logits *top, char *err)
{
	struct pass_shape ps;
	bool		decode = false;
	cudaGraphExec_t exec;
	cudaError_t rc;

	CUDA_TRY(cudaSetDevice(cb->o.device), err);
	if (n_seqs < 1)
		return 0;
	if (describe_batch(cb, batch, n_seqs, mode, top, &ps, &decode, err) != 0)
		return -1;
	exec = cb->o.graphs && decode ? graph_for(cb, &ps, err) : NULL;
	if (exec)
		CUDA_TRY(cudaGraphLaunch(exec, cb->st), err);
	else if (run_pass(cb, &ps, err) != 0)
		return -1;
	if (copy_rows(cb, mode, logits, &ps, err) != 0)
		return -1;
	if (ps.top)
	{
		CUDA_TRY(cudaMemcpyAsync(cb->top_ids_host, cb->top_ids, ps.n_top * sizeof(int32_t),
								 cudaMemcpyDeviceToHost, cb->st), err);
		CUDA_TRY(cudaMemcpyAsync(cb->top_vals_host, cb->top_vals, ps.n_top * sizeof(float),
								 cudaMemcpyDeviceToHost, cb->st), err);
	}
	rc = cudaStreamSynchronize(cb->st);
	if (rc != cudaSuccess)
		return err_set(err, "cuda: the forward pass failed: %s", cudaGetErrorString(rc));
	deliver(cb, mode, &ps, logits, argmax, top);
	return 0;
}

extern "C" int
cuda_forward(struct cuda_backend *cb, const struct seq_batch *batch, int n_seqs,
			 float *logits, int32_t *argmax, char *err)
{
	return forward_pass(cb, batch, n_seqs, argmax ? OUT_ARGMAX : OUT_ROWS, logits, argmax, NULL, err);
}

extern "C" int
cuda_forward_top(struct cuda_backend *cb, const struct seq_batch *batch, int n_seqs,
				 float *logits, struct top_logits *top, char *err)
{
	return forward_pass(cb, batch, n_seqs, top ? OUT_ASKED : OUT_ROWS, logits, NULL, top, err);
}

/* ---- backend_ops -------------------------------------------------------------- */

static void *
ops_create(const struct model *m, const struct backend_params *p, char *err)
{
	struct cuda_options o;

	if (!m->arch->gpu)
	{
		err_set(err, "cuda: the %s architecture runs on the CPU backend only", m->arch->name);
		return NULL;
	}
	cuda_options_default(&o, p);
	return cuda_backend_new(m, &o, err);
}

static int
ops_forward(void *be, const struct seq_batch *batch, int n_seqs, float *logits,
			struct top_logits *top, char *err)
{
	return cuda_forward_top((struct cuda_backend *) be, batch, n_seqs, logits, top, err);
}

static const char *
ops_describe(void *be)
{
	return cuda_backend_describe((const struct cuda_backend *) be);
}

static void
ops_destroy(void *be)
{
	cuda_backend_free((struct cuda_backend *) be);
}

extern "C" const struct backend_ops cuda_backend_ops = {
	"cuda", cuda_available, ops_create, ops_forward, ops_describe, ops_destroy,
};
