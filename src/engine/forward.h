/*
 * forward.h — the forward pass over a batch of sequences.
 *
 * One call runs any mix of sequences, each with its own new tokens (many
 * for a prefill chunk, one for decode), reading and extending its paged KV
 * cache, and returns logits only for the sequences that ask.  Every token's
 * arithmetic is independent of the others in the batch, so a sequence gets
 * the same logits alone or batched.
 *
 * This is the boundary a GPU backend implements with the same semantics.
 */
#ifndef DR1_FORWARD_H
#define DR1_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "kv_cache.h"
#include "model.h"
#include "sparse.h"

struct threadpool;
struct forward_scratch;

struct infer_ctx
{
	struct model *model;
	struct kv_cache *kv;
	struct threadpool *pool;
	int32_t		n_ctx;			/* most positions one sequence may hold */
	int32_t		max_batch_tokens;	/* most tokens one forward call may carry */
	struct forward_scratch *scratch;
	const struct backend_ops *gpu;	/* the backend running the pass; NULL: the CPU */
	void	   *gpu_state;
	char		device_note[256];	/* where the pass runs and why, for a log line */
	/* called between the layers of a CPU pass, so that a long one (a prompt
	 * chunk deep into a long context) can show a watchdog it is alive */
	void		(*heartbeat) (void *arg);
	void	   *heartbeat_arg;
	/* called with each MoE layer's routing of a CPU pass (deepseek2): the
	 * n_used experts of each of its T rows, best first (tests, diagnostics) */
	void		(*route_hook) (void *arg, int32_t layer, int32_t T, int32_t n_used,
							   const int32_t *chosen);
	void	   *route_hook_arg;
};

enum infer_device
{
	INFER_DEVICE_AUTO,			/* the GPU backend when one is usable, else the CPU */
	INFER_DEVICE_CPU,
	INFER_DEVICE_GPU			/* the GPU backend or an error */
};

/* The default capacity of one forward pass in tokens: llama.cpp's default
 * micro-batch, which a prompt chunk fills. */
#define INFER_DEFAULT_BATCH_TOKENS 512

struct infer_config
{
	int			n_threads;
	int32_t		n_ctx;			/* 0: the model's training context */
	int32_t		max_batch_tokens;	/* 0: INFER_DEFAULT_BATCH_TOKENS */
	size_t		kv_bytes;		/* 0: enough for one sequence of n_ctx */
	enum kv_type kv_type;
	enum infer_device device;
	const struct backend_ops *gpu_ops;	/* the GPU backend linked in (cuda_backend_ops), or NULL */
};

struct infer_ctx *infer_new(struct model *m, const struct infer_config *cfg, char *err);

/* Bytes of one KV block of the model's cache in a type (a latent cache for
 * deepseek2), for sizing a pool. */
size_t		infer_kv_block_bytes(const struct model *m, enum kv_type type);
void		infer_free(struct infer_ctx *ic);

/* One sequence's part of a batch: tokens appended at positions
 * seq->n_tokens onwards. */
struct seq_batch
{
	struct kv_seq *seq;
	const int32_t *tokens;
	int32_t		n_tokens;
	bool		want_logits;	/* logits of its last token */
	struct sparse_config sparse;	/* zero: dense attention */
};

#define FORWARD_NO_KV_SPACE (-2)

/*
 * Run the batch.  logits receives n_vocab floats for each sequence with
 * want_logits, in batch order.  Returns 0, -1 with err set (bad input), or
 * FORWARD_NO_KV_SPACE when the pool has too few free blocks (nothing is
 * changed then, so the caller can free blocks and retry).
 */
int			infer_forward(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs,
						  float *logits, char *err);

/*
 * infer_forward, where output row r may come as its first candidates
 * instead of logits in its row: on entry top[r].n says how many its sampler
 * needs (sampler_top_needed; 0: the row), on return top[r].n > 0 when they
 * are in top[r], so a GPU backend copies a few candidates per sequence,
 * not the vocabulary.  The CPU pass always gives the rows (top[r].n = 0).
 */
int			infer_forward_top(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs,
							  float *logits, struct top_logits *top, char *err);

/*
 * The same pass for embeddings: *hidden points at the final hidden state
 * (after output_norm) of every token of the batch, [tokens][n_embd] in
 * batch order, valid until the next pass.  Want_logits is ignored.  Same
 * returns; CPU only; not for an encoder (encoder.h).
 */
int			infer_forward_hidden(struct infer_ctx *ic, struct seq_batch *batch, int n_seqs,
								 const float **hidden, char *err);

/*
 * One sequence's tokens with logits for every one from index out_from on
 * (perplexity: logits receives n_tokens - out_from rows of n_vocab floats;
 * none when out_from >= n_tokens).  As llama.cpp computes a batch whose
 * outputs are those positions: the last feed-forward block and the output
 * projection run on those rows only, summed as one product over them.
 * Want_logits is ignored.  Same returns; CPU only.
 */
int			infer_forward_rows(struct infer_ctx *ic, struct seq_batch *b, int32_t out_from,
							   float *logits, char *err);

#endif
