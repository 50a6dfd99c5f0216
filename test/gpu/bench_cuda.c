/*
 * bench_cuda.c — decode speed of the CUDA backend against the memory
 * roofline, and throughput with many sequences.
 *
 *   bench_cuda MODEL.gguf [HBM_GB_PER_S]
 *
 * One JSON line per measurement on stdout:
 *   copy      device-to-device copy bandwidth (bytes read + written), the
 *             measured ceiling
 *   prefill   one 512-token prompt
 *   decode    one sequence, greedy on the device (argmax), 128 steps after
 *             a 256-token prompt and 16 steps of warm-up (so that the steps
 *             timed replay one CUDA graph): tok/s, and the roofline = HBM bandwidth /
 *             weight bytes per token (every layer's matrices and the output
 *             matrix, read once per step; default 4800 GB/s, the H200's)
 *   batch     N sequences (1, 8, 64, 256) of 128-token prompts decoding
 *             together for 64 steps: aggregate tok/s
 * Times are wall-clock around cuda_forward, which synchronises, so they
 * include the batch upload and the copy back.
 */
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"
#include "error.h"
#include "forward.h"
#include "generate.h"
#include "model.h"

#define DECODE_WARMUP 16
#define DECODE_STEPS 128
#define DECODE_PROMPT 256
#define BATCH_PROMPT 128
#define BATCH_STEPS 64
#define MAX_SEQS 256

static double
weight_bytes(const struct model *m)
{
	double		b = (double) m->output.row_bytes * m->output.rows;

	for (int il = 0; il < m->hp.n_layer; il++)
	{
		const struct layer *l = &m->layers[il];
		const struct weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};

		for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
			b += (double) ws[i]->row_bytes * ws[i]->rows;
	}
	return b;
}

/* Device-to-device copy of 2 GiB, best of 5: bytes read plus written. */
static double
copy_bandwidth(void)
{
	size_t		bytes = (size_t) 1 << 31;
	void	   *a = NULL,
			   *b = NULL;
	cudaEvent_t e0,
				e1;
	float		best = 1e30f;

	if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess)
		return 0;
	cudaMemset(a, 1, bytes);
	cudaEventCreate(&e0);
	cudaEventCreate(&e1);
	for (int i = 0; i < 6; i++)
	{
		float		ms;

		cudaEventRecord(e0, 0);
		cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
		cudaEventRecord(e1, 0);
		cudaEventSynchronize(e1);
		cudaEventElapsedTime(&ms, e0, e1);
		if (i > 0 && ms < best)
			best = ms;
	}
	cudaFree(a);
	cudaFree(b);
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	return 2.0 * bytes / (best * 1e-3) / 1e9;
}

struct bench
{
	struct model *m;
	struct cuda_backend *cb;
	struct kv_cache *kv;
	int32_t    *ids;
};

static int
run(struct bench *b, struct seq_batch *batch, int n, int32_t *picks, char *err)
{
	for (int i = 0; i < n; i++)
		if (kv_seq_reserve(b->kv, batch[i].seq, batch[i].seq->n_tokens + batch[i].n_tokens) != 0)
			return err_set(err, "bench: the KV pool is too small");
	if (cuda_forward(b->cb, batch, n, NULL, picks, err) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		batch[i].seq->n_tokens += batch[i].n_tokens;
	return 0;
}

static int
bench_prefill(struct bench *b, const char *name, char *err)
{
	struct kv_seq seq = {0};
	struct seq_batch sb = {&seq, b->ids, 512, true, {0}};
	int32_t		pick;
	double		t0;
	int			rc;

	rc = run(b, &sb, 1, &pick, err);	/* warm-up */
	kv_seq_release(b->kv, &seq);
	t0 = clock_seconds();
	if (rc == 0)
		rc = run(b, &sb, 1, &pick, err);
	if (rc == 0)
		printf("{\"model\":\"%s\",\"what\":\"prefill\",\"tokens\":512,\"tok_s\":%.1f}\n",
			   name, 512 / (clock_seconds() - t0));
	kv_seq_release(b->kv, &seq);
	return rc;
}

static int
bench_decode(struct bench *b, const char *name, double hbm_gbs, char *err)
{
	struct kv_seq seq = {0};
	struct seq_batch prompt = {&seq, b->ids, DECODE_PROMPT, true, {0}};
	int32_t		tok;
	double		t0 = 0;
	double		bytes = weight_bytes(b->m);
	int			rc = run(b, &prompt, 1, &tok, err);

	for (int step = 0; rc == 0 && step < DECODE_WARMUP + DECODE_STEPS; step++)
	{
		struct seq_batch sb = {&seq, &tok, 1, true, {0}};

		if (step == DECODE_WARMUP)
			t0 = clock_seconds();
		rc = run(b, &sb, 1, &tok, err);
	}
	if (rc == 0)
	{
		double		tok_s = DECODE_STEPS / (clock_seconds() - t0);
		double		roof = hbm_gbs * 1e9 / bytes;

		printf("{\"model\":\"%s\",\"what\":\"decode\",\"tok_s\":%.1f,\"weight_bytes\":%.0f,"
			   "\"hbm_gb_s\":%.0f,\"roofline_tok_s\":%.1f,\"fraction\":%.3f}\n",
			   name, tok_s, bytes, hbm_gbs, roof, tok_s / roof);
	}
	kv_seq_release(b->kv, &seq);
	return rc;
}

static int
bench_batch(struct bench *b, const char *name, int n, char *err)
{
	struct kv_seq *seqs = calloc(n, sizeof(struct kv_seq));
	struct seq_batch *sb = calloc(n, sizeof(struct seq_batch));
	int32_t    *picks = calloc(n, sizeof(int32_t));
	int32_t    *toks = calloc(n, sizeof(int32_t));
	double		t0 = 0;
	int			rc = seqs && sb && picks && toks ? 0 : err_set(err, "out of memory");

	/* prompts, as many sequences per call as the batch capacity allows */
	for (int first = 0; rc == 0 && first < n; first += 512 / BATCH_PROMPT)
	{
		int			k = n - first < 512 / BATCH_PROMPT ? n - first : 512 / BATCH_PROMPT;

		for (int i = 0; i < k; i++)
			sb[first + i] = (struct seq_batch) {&seqs[first + i], b->ids + first + i, BATCH_PROMPT, true, {0}};
		rc = run(b, sb + first, k, picks + first, err);
	}
	for (int step = 0; rc == 0 && step < BATCH_STEPS + 4; step++)
	{
		if (step == 4)
			t0 = clock_seconds();
		for (int i = 0; i < n; i++)
		{
			toks[i] = picks[i];
			sb[i] = (struct seq_batch) {&seqs[i], &toks[i], 1, true, {0}};
		}
		rc = run(b, sb, n, picks, err);
	}
	if (rc == 0)
		printf("{\"model\":\"%s\",\"what\":\"batch\",\"seqs\":%d,\"steps\":%d,\"tok_s\":%.1f}\n",
			   name, n, BATCH_STEPS, (double) n * BATCH_STEPS / (clock_seconds() - t0));
	for (int i = 0; seqs && i < n; i++)
		kv_seq_release(b->kv, &seqs[i]);
	free(seqs);
	free(sb);
	free(picks);
	free(toks);
	return rc;
}

int
main(int argc, char **argv)
{
	static const int seq_counts[] = {1, 8, 64, MAX_SEQS};
	struct bench b = {0};
	struct cuda_options o;
	struct backend_params p = {1024, 0, 512};
	double		hbm = argc > 2 ? atof(argv[2]) : 4800.0;
	const char *name;
	char		err[ERR_MAX];
	int			rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
	{
		fprintf(stderr, "usage: bench_cuda MODEL.gguf [HBM_GB_PER_S]\n");
		return 2;
	}
	if (!cuda_available(err))
	{
		printf("SKIP: no CUDA device (%s)\n", err);
		return 0;
	}
	name = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
	b.m = model_load(argv[1], err);
	if (!b.m)
	{
		fprintf(stderr, "bench_cuda: %s\n", err);
		return 1;
	}
	/* enough blocks for 256 sequences of 128 + 68 positions */
	p.n_kv_blocks = MAX_SEQS * 7 + 64;
	cuda_options_default(&o, &p);
	b.kv = kv_cache_new(b.m->hp.n_layer, b.m->hp.n_head_kv * b.m->hp.head_dim, p.n_kv_blocks,
						KV_F16, err);
	b.cb = b.kv ? cuda_backend_new(b.m, &o, err) : NULL;
	b.ids = malloc(1024 * sizeof(int32_t));
	if (!b.cb || !b.ids)
	{
		fprintf(stderr, "bench_cuda: %s\n", b.cb ? "out of memory" : err);
		return 1;
	}
	for (int i = 0; i < 1024; i++)
		b.ids[i] = (int32_t) ((i * 7919u + 13u) % (uint32_t) b.m->hp.n_vocab);
	printf("{\"model\":\"%s\",\"what\":\"device\",\"device\":\"%s\",\"copy_gb_s\":%.0f}\n",
		   name, cuda_backend_describe(b.cb), copy_bandwidth());
	rc = bench_prefill(&b, name, err);
	if (rc == 0)
		rc = bench_decode(&b, name, hbm, err);
	for (size_t i = 0; rc == 0 && i < sizeof seq_counts / sizeof seq_counts[0]; i++)
		rc = bench_batch(&b, name, seq_counts[i], err);
	if (rc != 0)
		fprintf(stderr, "bench_cuda: %s\n", err);
	cuda_backend_free(b.cb);
	kv_cache_free(b.kv);
	model_free(b.m);
	free(b.ids);
	return rc != 0;
}
