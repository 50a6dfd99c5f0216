/*
 * backend.h — what a GPU backend of the forward pass provides (docs/architecture.md, "Numerics").
 *
 * The CPU forward pass (forward.c) is the reference and the default.  A
 * GPU backend runs the same batches with the same semantics: infer_forward
 * checks a batch and reserves its KV blocks (the block pool and the
 * sequences' block tables stay on the host, so block ids mean the same on
 * both sides), hands the batch to the backend, which reads and writes its
 * own copy of the cache, and then advances the sequences.
 *
 * The engine library holds no GPU code: a front end that links a backend
 * passes its ops in (kernels/cuda_backend.h declares cuda_backend_ops).
 */
#ifndef DR1_BACKEND_H
#define DR1_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "top_logits.h"

struct model;
struct seq_batch;

struct backend_params
{
	int32_t		n_ctx;			/* most positions one sequence may hold */
	int32_t		n_kv_blocks;	/* blocks in the host kv_cache's pool */
	int32_t		max_batch_tokens;	/* most tokens one forward call may carry */
};

struct backend_ops
{
	const char *name;

	/* Whether the backend can run here; if not, why says why (ERR_MAX). */
	bool		(*available) (char *why);

	/* Load the model onto the device; NULL with err set on failure. */
	void	   *(*create) (const struct model *m, const struct backend_params *p, char *err);

	/*
	 * Run a batch that infer_forward has checked and reserved KV blocks for
	 * (each seq->n_tokens is still the position of its first new token).
	 * Output row r (the r-th sequence with want_logits, in batch order) is
	 * n_vocab floats at logits + r * n_vocab; or, when top is not NULL and
	 * top[r].n is k > 0 on entry, it may be its k first candidates in
	 * top[r] instead (top[r].n = k on return; 0 says the row is in
	 * logits).  0 or -1.
	 */
	int			(*forward) (void *be, const struct seq_batch *batch, int n_seqs,
							float *logits, struct top_logits *top, char *err);

	/* The device, for logs ("NVIDIA H200, 139 GiB"). */
	const char *(*describe) (void *be);

	void		(*destroy) (void *be);
};

#endif
