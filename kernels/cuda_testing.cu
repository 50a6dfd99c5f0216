/*
 * cuda_testing.cu — the hooks of cuda_testing.h: one kernel family at a
 * time on host data, on the default stream.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_kernels.h"

extern "C"
{
#include "cuda_testing.h"
}

#define MAX_BUFS 24

/* Device buffers of one test call, freed together. */
struct bufs
{
	void	   *p[MAX_BUFS];
	int			n;
};

static void *
buf_new(struct bufs *b, size_t bytes, const void *init, char *err)
{
	void	   *p = NULL;

	if (b->n == MAX_BUFS || cudaMalloc(&p, bytes > 0 ? bytes : 1) != cudaSuccess)
	{
		err_set(err, "cuda: cannot allocate %zu bytes", bytes);
		return NULL;
	}
	b->p[b->n++] = p;
	if (init && cudaMemcpy(p, init, bytes, cudaMemcpyHostToDevice) != cudaSuccess)
	{
		err_set(err, "cuda: cannot copy %zu bytes to the device", bytes);
		return NULL;
	}
	return p;
}

/* Wait for the kernels, copy the result back, free everything. */
static int
finish(struct bufs *b, int rc, void *host, const void *dev, size_t bytes, char *err)
{
	cudaError_t e = cudaDeviceSynchronize();

	if (rc == 0 && e != cudaSuccess)
		rc = err_set(err, "cuda: kernel failed: %s", cudaGetErrorString(e));
	if (rc == 0 && host && cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
		rc = err_set(err, "cuda: cannot copy %zu bytes back", bytes);
	for (int i = 0; i < b->n; i++)
		cudaFree(b->p[i]);
	b->n = 0;
	return rc;
}

extern "C" int
cuda_test_quantize_act(enum dtype act, const float *x, int T, int64_t n, void *out, char *err)
{
	struct bufs b = {{0}, 0};
	size_t		row_bytes = dtype_row_bytes(act, n);
	float	   *dx = (float *) buf_new(&b, T * n * sizeof(float), x, err);
	uint8_t    *dout = (uint8_t *) buf_new(&b, T * row_bytes, NULL, err);
	int			rc = dx && dout ? launch_quantize_act(act, dx, T, n, dout, row_bytes, 0, err) : -1;

	return finish(&b, rc, out, dout, T * row_bytes, err);
}

extern "C" int
cuda_test_quantize_fused(enum dtype act, const float *x, const float *aux, bool norm, float eps,
						 int T, int64_t n, void *out, char *err)
{
	struct bufs b = {{0}, 0};
	size_t		row_bytes = dtype_row_bytes(act, n);
	float	   *dx = (float *) buf_new(&b, T * n * sizeof(float), x, err);
	float	   *da = (float *) buf_new(&b, (norm ? 1 : T) * n * sizeof(float), aux, err);
	uint8_t    *dout = (uint8_t *) buf_new(&b, T * row_bytes, NULL, err);
	int			rc = -1;

	if (dx && da && dout)
		rc = norm ? launch_quantize_act_norm(act, dx, da, eps, T, n, dout, row_bytes, 0, err)
			: launch_act_swiglu(act, false, dx, da, T, n, dout, row_bytes, 0, err);
	return finish(&b, rc, out, dout, T * row_bytes, err);
}

__global__ void
widen(const void *src, enum dtype t, int64_t n, float *dst)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		dst[i] = t == DTYPE_F32 ? ((const float *) src)[i]
			: t == DTYPE_BF16 ? __bfloat162float(((const __nv_bfloat16 *) src)[i])
			: __half2float(((const __half *) src)[i]);
}

extern "C" int
cuda_test_act_dense(enum dtype act, const float *x, int T, int64_t n, float *out, char *err)
{
	struct bufs b = {{0}, 0};
	float	   *dx = (float *) buf_new(&b, T * n * sizeof(float), x, err);
	void	   *dense = buf_new(&b, T * n * sizeof(float), NULL, err);
	float	   *dout = (float *) buf_new(&b, T * n * sizeof(float), NULL, err);
	int			rc = dx && dense && dout ? launch_act_dense(act, dx, T, n, dense, 0, err) : -1;
	enum dtype	dt = act == DTYPE_F32 || act == DTYPE_BF16 ? act : DTYPE_F16;

	if (rc == 0)
	{
		widen<<<div_up(T * n, 256), 256>>> (dense, dt, T * n, dout);
		rc = cudaGetLastError() == cudaSuccess ? 0 : err_set(err, "cuda: widen failed");
	}
	return finish(&b, rc, out, dout, T * n * sizeof(float), err);
}

static int
linear_gemm(enum dtype type, const uint8_t *dw, size_t row_bytes, int64_t rows, int64_t cols,
			const float *dx, int T, float *dout, struct bufs *b, char *err)
{
	enum dtype	gt = gemm_type(type);
	const void *wd = dw;
	void	   *act = buf_new(b, T * cols * sizeof(float), NULL, err);
	cublasHandle_t h;
	int			rc;

	if (!act)
		return -1;
	if (gt != type)
	{
		__half	   *copy = (__half *) buf_new(b, rows * cols * sizeof(__half), NULL, err);

		if (!copy || launch_dequant_f16(type, dw, row_bytes, rows, cols, copy, 0, err) != 0)
			return -1;
		wd = copy;
	}
	if (launch_act_dense(quant_act_type(type), dx, T, cols, act, 0, err) != 0)
		return -1;
	if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS)
		return err_set(err, "cublas: cannot create a handle");
	rc = gemm_rows(h, gt, wd, rows, cols, act, T, dout, false, err);
	cudaDeviceSynchronize();
	cublasDestroy(h);
	return rc;
}

extern "C" int
cuda_test_linear(enum dtype type, const void *w, int64_t rows, int64_t cols, const float *x,
				 int T, const float *bias, bool gemm, float *out, char *err)
{
	struct bufs b = {{0}, 0};
	enum dtype	at = quant_act_type(type);
	size_t		row_bytes = dtype_row_bytes(type, cols);
	size_t		act_row_bytes = dtype_row_bytes(at, cols);
	uint8_t    *dw = (uint8_t *) buf_new(&b, rows * row_bytes, w, err);
	float	   *dx = (float *) buf_new(&b, T * cols * sizeof(float), x, err);
	float	   *dbias = bias ? (float *) buf_new(&b, rows * sizeof(float), bias, err) : NULL;
	uint8_t    *dact = (uint8_t *) buf_new(&b, T * act_row_bytes, NULL, err);
	float	   *dout = (float *) buf_new(&b, T * rows * sizeof(float), NULL, err);
	int			rc = dw && dx && dact && dout && (dbias || !bias) ? 0 : -1;

	if (rc == 0 && gemm)
	{
		rc = linear_gemm(type, dw, row_bytes, rows, cols, dx, T, dout, &b, err);
		if (rc == 0 && bias)
			rc = launch_add_bias(dout, dbias, T, rows, 0, err);
	}
	else if (rc == 0)
	{
		int			n_sm = 1;

		if (cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess)
			rc = err_set(err, "cuda: cannot read the SM count");
		if (rc == 0)
			rc = launch_quantize_act(at, dx, T, cols, dact, act_row_bytes, 0, err);
		for (int t0 = 0; rc == 0 && t0 < T; t0 += QB_MAX_T)
		{
			struct matvec_args a;

			a.type = type;
			a.w = dw;
			a.row_bytes = row_bytes;
			a.rows = rows;
			a.cols = cols;
			a.act = dact + t0 * act_row_bytes;
			a.act_row_bytes = act_row_bytes;
			a.T = T - t0 < QB_MAX_T ? T - t0 : QB_MAX_T;
			a.out = dout + t0 * rows;
			a.out_stride = rows;
			a.bias = dbias;
			a.accumulate = false;
			a.split = mv_choose_split(rows, cols / qb_shape_of(type).block_elems *
									  qb_shape_of(type).units, n_sm);
			rc = launch_matvec(&a, 0, err);
		}
	}
	return finish(&b, rc, out, dout, T * rows * sizeof(float), err);
}

extern "C" int
cuda_test_dequant(enum dtype type, const void *w, int64_t rows, int64_t cols, float *f32,
				  uint16_t *f16, char *err)
{
	struct bufs b = {{0}, 0};
	size_t		row_bytes = dtype_row_bytes(type, cols);
	int32_t    *ids = (int32_t *) malloc(rows * sizeof(int32_t));
	uint8_t    *dw = (uint8_t *) buf_new(&b, rows * row_bytes, w, err);
	int32_t    *dids;
	float	   *dx = (float *) buf_new(&b, rows * cols * sizeof(float), NULL, err);
	__half	   *dh = (__half *) buf_new(&b, rows * cols * sizeof(__half), NULL, err);
	int			rc = -1;

	for (int64_t r = 0; ids && r < rows; r++)
		ids[r] = (int32_t) r;
	dids = ids ? (int32_t *) buf_new(&b, rows * sizeof(int32_t), ids, err) : NULL;
	if (dw && dids && dx && dh)
		rc = launch_embed(type, dw, row_bytes, cols, dids, (int) rows, dx, 0, err) ||
			launch_dequant_f16(type, dw, row_bytes, rows, cols, dh, 0, err) ? -1 : 0;
	free(ids);
	if (rc == 0 && cudaMemcpy(f16, dh, rows * cols * sizeof(__half), cudaMemcpyDeviceToHost) != cudaSuccess)
		rc = err_set(err, "cuda: cannot copy back");
	return finish(&b, rc, f32, dx, rows * cols * sizeof(float), err);
}

extern "C" int
cuda_test_rmsnorm(const float *x, const float *w, int T, int n, float eps, float *y, char *err)
{
	struct bufs b = {{0}, 0};
	float	   *dx = (float *) buf_new(&b, (size_t) T * n * sizeof(float), x, err);
	float	   *dw = (float *) buf_new(&b, n * sizeof(float), w, err);
	float	   *dy = (float *) buf_new(&b, (size_t) T * n * sizeof(float), NULL, err);
	int			rc = dx && dw && dy ? launch_rmsnorm(dx, dw, NULL, T, n, eps, dy, 0, err) : -1;

	return finish(&b, rc, y, dy, (size_t) T * n * sizeof(float), err);
}

extern "C" int
cuda_test_rope(float *q, int n_q, float *k, int n_k, int T, int head_dim, int rope_dim,
			   const float *table, int n_ctx, const int32_t *pos, bool neox, char *err)
{
	struct bufs b = {{0}, 0};
	size_t		q_bytes = (size_t) T * n_q * head_dim * sizeof(float);
	size_t		k_bytes = (size_t) T * n_k * head_dim * sizeof(float);
	float	   *dq = (float *) buf_new(&b, q_bytes, q, err);
	float	   *dk = (float *) buf_new(&b, k_bytes, k, err);
	float2	   *dt = (float2 *) buf_new(&b, (size_t) n_ctx * (rope_dim / 2) * sizeof(float2), table, err);
	int32_t    *dp = (int32_t *) buf_new(&b, T * sizeof(int32_t), pos, err);
	int			rc = dq && dk && dt && dp
		? launch_rope(dq, n_q, dk, n_k, T, head_dim, rope_dim, dt, dp, neox, 0, err) : -1;

	if (rc == 0 && cudaMemcpy(k, dk, k_bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
		rc = err_set(err, "cuda: cannot copy back");
	return finish(&b, rc, q, dq, q_bytes, err);
}

extern "C" int
cuda_test_swiglu(const float *gate, const float *up, int64_t n, float *h, char *err)
{
	struct bufs b = {{0}, 0};
	float	   *dg = (float *) buf_new(&b, n * sizeof(float), gate, err);
	float	   *du = (float *) buf_new(&b, n * sizeof(float), up, err);
	float	   *dh = (float *) buf_new(&b, n * sizeof(float), NULL, err);
	int			rc = dg && du && dh ? launch_swiglu(dh, dg, du, n, 0, err) : -1;

	return finish(&b, rc, h, dh, n * sizeof(float), err);
}

extern "C" int
cuda_test_argmax(const float *x, int n_rows, int64_t n, int32_t *out, char *err)
{
	struct bufs b = {{0}, 0};
	float	   *dx = (float *) buf_new(&b, n_rows * n * sizeof(float), x, err);
	int32_t    *dout = (int32_t *) buf_new(&b, n_rows * sizeof(int32_t), NULL, err);
	int			rc = dx && dout ? launch_argmax(dx, n_rows, n, dout, 0, err) : -1;

	return finish(&b, rc, out, dout, n_rows * sizeof(int32_t), err);
}

/* The batch's block tables, positions, sparse lists and tiles, as
 * describe_batch builds them in cuda_backend.cu. */
struct test_batch
{
	int32_t    *pos;
	int32_t    *tok_off;
	struct sparse_batch sb;
	int32_t    *table;
	struct attn_tile *tiles;
	int32_t		T;
	int32_t		n_table;
	int32_t		n_tiles;
	int32_t		max_ctx;		/* positions of the most blocks a tile reads */
	int32_t		max_blocks;		/* blocks of the longest context */
};

static void
test_batch_free(struct test_batch *tb)
{
	free(tb->pos);
	free(tb->tok_off);
	free(tb->sb.budget);
	free(tb->sb.n_list);
	free(tb->sb.list_off);
	free(tb->table);
	free(tb->tiles);
}

static int
test_batch_make(const struct attn_shape *s, struct kv_seq *const *seqs, const int32_t *n_new,
				int n_seqs, const int32_t *budgets, struct test_batch *tb)
{
	int32_t    *first = (int32_t *) malloc(2 * n_seqs * sizeof(int32_t));
	int32_t    *off = first + n_seqs;

	memset(tb, 0, sizeof *tb);
	for (int i = 0; i < n_seqs; i++)
	{
		tb->T += n_new[i];
		tb->n_table += seqs[i]->n_blocks;
	}
	tb->pos = (int32_t *) malloc(tb->T * sizeof(int32_t));
	tb->tok_off = (int32_t *) malloc(tb->T * sizeof(int32_t));
	tb->sb.budget = (int32_t *) malloc(tb->T * sizeof(int32_t));
	tb->sb.n_list = (int32_t *) malloc(tb->T * sizeof(int32_t));
	tb->sb.list_off = (int32_t *) malloc(tb->T * sizeof(int32_t));
	tb->table = (int32_t *) malloc((tb->n_table + 1) * sizeof(int32_t));
	tb->tiles = (struct attn_tile *) malloc(tb->T * sizeof(struct attn_tile));
	if (!first || !tb->pos || !tb->tok_off || !tb->sb.budget || !tb->sb.n_list || !tb->sb.list_off ||
		!tb->table || !tb->tiles)
	{
		free(first);
		test_batch_free(tb);
		return -1;
	}
	for (int i = 0, t = 0, n = 0; i < n_seqs; i++)
	{
		first[i] = t;
		off[i] = n;
		memcpy(tb->table + n, seqs[i]->blocks, seqs[i]->n_blocks * sizeof(int32_t));
		n += seqs[i]->n_blocks;
		for (int32_t j = 0; j < n_new[i]; j++, t++)
		{
			int32_t		p = seqs[i]->n_tokens + j;
			int32_t		reads = sparse_batch_add(&tb->sb, t, p, budgets ? budgets[t] : 0,
												 s->n_kv_head);

			tb->pos[t] = p;
			tb->tok_off[t] = off[i];
			tb->max_ctx = reads > tb->max_ctx ? reads : tb->max_ctx;
		}
		if (seqs[i]->n_blocks > tb->max_blocks)
			tb->max_blocks = seqs[i]->n_blocks;
	}
	tb->n_tiles = attn_make_tiles(s, first, n_new, off, n_seqs, tb->sb.n_list, tb->sb.list_off,
								  tb->tiles);
	free(first);
	return 0;
}

/* The device's choice of blocks for the batch's sparse tokens (none: no launch). */
static int
test_select(const struct attention_args *at, const struct kv_store_args *st,
			const struct test_batch *tb, struct bufs *b, int32_t **lists, char *err)
{
	struct sparse_select_args sel;

	*lists = NULL;
	if (tb->sb.n_lists == 0)
		return 0;
	sel.shape = at->shape;
	sel.q = at->q;
	sel.kmin = st->kmin;
	sel.kmax = st->kmax;
	sel.kv_dim = st->kv_dim;
	sel.T = tb->T;
	sel.max_blocks = tb->max_blocks;
	sel.pos = st->pos;
	sel.table_off = st->table_off;
	sel.table = st->table;
	sel.budget = (const int32_t *) buf_new(b, tb->T * sizeof(int32_t), tb->sb.budget, err);
	sel.list_off = (const int32_t *) buf_new(b, tb->T * sizeof(int32_t), tb->sb.list_off, err);
	sel.lists = *lists = (int32_t *) buf_new(b, tb->sb.n_lists * sizeof(int32_t), NULL, err);
	if (!sel.budget || !sel.list_off || !sel.lists ||
		sparse_select_setup(tb->max_blocks, at->shape.head_dim, err) != 0)
		return -1;
	return launch_sparse_select(&sel, 0, err);
}

/* The layer's cache and key summaries back into the host buffers given. */
static int
copy_back(const struct cuda_test_cache *back, const struct kv_store_args *st, size_t layer_elems,
		  size_t sum_elems, char *err)
{
	if (!back)
		return 0;
	if ((back->k && cudaMemcpy(back->k, st->k_cache, layer_elems * 2, cudaMemcpyDeviceToHost) != cudaSuccess) ||
		(back->v && cudaMemcpy(back->v, st->v_cache, layer_elems * 2, cudaMemcpyDeviceToHost) != cudaSuccess) ||
		(back->kmin && cudaMemcpy(back->kmin, st->kmin, sum_elems * 4, cudaMemcpyDeviceToHost) != cudaSuccess) ||
		(back->kmax && cudaMemcpy(back->kmax, st->kmax, sum_elems * 4, cudaMemcpyDeviceToHost) != cudaSuccess))
		return err_set(err, "cuda: cannot copy the cache back");
	return 0;
}

extern "C" int
cuda_test_attention(const struct kv_cache *kv, int32_t layer, int32_t n_head, int32_t n_kv_head,
					int32_t head_dim, struct kv_seq *const *seqs, const int32_t *n_new,
					int n_seqs, const float *k, const float *v, const float *q,
					const int32_t *budgets, int n_splits, float *out,
					const struct cuda_test_cache *back, char *err)
{
	struct bufs b = {{0}, 0};
	struct attention_args at;
	struct kv_store_args st;
	struct test_batch tb;
	size_t		layer_elems = (size_t) kv->n_blocks * KV_BLOCK_TOKENS * kv->kv_dim;
	size_t		sum_elems = (size_t) kv->n_blocks * kv->kv_dim;
	int32_t    *lists = NULL;
	int			n_sm = 0;
	int			rc;

	if (test_batch_make(&(at.shape = attn_shape_make(n_head, n_kv_head, head_dim)),
						seqs, n_new, n_seqs, budgets, &tb) != 0)
		return err_set(err, "out of memory");
	cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, 0);
	at.n_splits = n_splits > 0 ? n_splits
		: attn_choose_splits(tb.n_tiles, &at.shape, tb.T, tb.max_ctx, 2 * n_sm,
							 (int64_t) tb.T * n_head * 4);
	st.k = (const float *) buf_new(&b, (size_t) tb.T * kv->kv_dim * sizeof(float), k, err);
	st.v = (const float *) buf_new(&b, (size_t) tb.T * kv->kv_dim * sizeof(float), v, err);
	st.T = tb.T;
	st.kv_dim = kv->kv_dim;
	st.pos = (const int32_t *) buf_new(&b, tb.T * sizeof(int32_t), tb.pos, err);
	st.table_off = (const int32_t *) buf_new(&b, tb.T * sizeof(int32_t), tb.tok_off, err);
	st.table = (const int32_t *) buf_new(&b, (tb.n_table + 1) * sizeof(int32_t), tb.table, err);
	st.k_cache = (__half *) buf_new(&b, layer_elems * 2, kv->k + layer * layer_elems, err);
	st.v_cache = (__half *) buf_new(&b, layer_elems * 2, kv->v + layer * layer_elems, err);
	st.kmin = (float *) buf_new(&b, sum_elems * 4, kv->kmin + layer * sum_elems, err);
	st.kmax = (float *) buf_new(&b, sum_elems * 4, kv->kmax + layer * sum_elems, err);
	at.q = (const float *) buf_new(&b, (size_t) tb.T * n_head * head_dim * sizeof(float), q, err);
	at.k_cache = st.k_cache;
	at.v_cache = st.v_cache;
	at.kv_dim = kv->kv_dim;
	at.pos = st.pos;
	at.table = st.table;
	at.tiles = (const struct attn_tile *) buf_new(&b, tb.n_tiles * sizeof(struct attn_tile), tb.tiles, err);
	at.n_tiles = tb.n_tiles;
	at.T = tb.T;
	at.scale = 1.0f / sqrtf((float) head_dim);
	at.stats = (float2 *) buf_new(&b, (size_t) tb.T * n_head * at.n_splits * sizeof(float2), NULL, err);
	at.partial = (float *) buf_new(&b, (size_t) tb.T * n_head * at.n_splits * head_dim * sizeof(float), NULL, err);
	at.out = (float *) buf_new(&b, (size_t) tb.T * n_head * head_dim * sizeof(float), NULL, err);
	rc = st.k && st.v && st.pos && st.table_off && st.table && st.k_cache && st.v_cache &&
		st.kmin && st.kmax && at.q && at.tiles && at.stats && at.partial && at.out ? 0 : -1;
	if (rc == 0)
		rc = launch_kv_store(&st, 0, err) || test_select(&at, &st, &tb, &b, &lists, err) ? -1 : 0;
	at.lists = lists;
	if (rc == 0)
		rc = launch_attention(&at, 0, err) || copy_back(back, &st, layer_elems, sum_elems, err) ? -1 : 0;
	test_batch_free(&tb);
	return finish(&b, rc, out, at.out, (size_t) tb.T * n_head * head_dim * sizeof(float), err);
}
