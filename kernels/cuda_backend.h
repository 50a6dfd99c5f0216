/*
 * cuda_backend.h — the CUDA backend of the forward pass (docs/cuda.md), as
 * the engine calls it: plain C.
 *
 * The model's weights are uploaded once, in their GGUF blocks; the KV cache
 * lives on the device with the host kv_cache's layout and block ids.  A
 * forward call uploads the batch (tokens, positions, block tables), runs the
 * layers on one stream and copies back the logits or only their argmax.
 * Decode steps (one token per sequence) are captured once per batch shape
 * as CUDA graphs and replayed.  docs/cuda.md says what each kernel does.
 *
 * Built with `make CUDA=1`; with CUDA=0, kernels/cuda_none.c provides
 * cuda_backend_ops whose available() says so.
 */
#ifndef DR1_CUDA_BACKEND_H
#define DR1_CUDA_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

#ifdef __cplusplus
extern "C"
{
#endif

struct cuda_backend;

struct cuda_options
{
	struct backend_params p;
	int			device;			/* CUDA device ordinal */

	/*
	 * Products over this many tokens or more go through cuBLAS (F16 operands,
	 * FP32 sums); fewer through the quantized mat-vec kernels, whose sums are
	 * the CPU's up to float order.  INT32_MAX: never cuBLAS.
	 */
	int32_t		gemm_min_tokens;
	bool		f16_weights;	/* keep F16 copies of quantized weights for cuBLAS
								 * (else dequantize each at use) */
	bool		graphs;			/* replay decode steps as CUDA graphs */
};

/* Defaults for p, overridden by the environment: DR1_CUDA_DEVICE,
 * DR1_CUDA_GEMM_MIN (tokens), DR1_CUDA_F16_WEIGHTS=0, DR1_CUDA_GRAPHS=0. */
void		cuda_options_default(struct cuda_options *o, const struct backend_params *p);

/* Whether a usable GPU (compute capability 8.0 or newer) is present; if
 * not, why (ERR_MAX bytes) says why. */
bool		cuda_available(char *why);

/* Upload the model (which must outlive the backend) and set up the KV
 * cache and buffers for o->p; NULL with err set on failure. */
struct cuda_backend *cuda_backend_new(const struct model *m, const struct cuda_options *o,
									  char *err);
void		cuda_backend_free(struct cuda_backend *cb);

/* backend_ops.forward's contract (backend.h): each output row r the top[r].n
 * candidates asked, selected on the device, or (0, or top NULL) its logits. */
int			cuda_forward_top(struct cuda_backend *cb, const struct seq_batch *batch, int n_seqs,
							 float *logits, struct top_logits *top, char *err);

/* The same pass for the tests and the benchmark: every output row's logits
 * (logits not NULL) and its argmax on the device (argmax not NULL). */
int			cuda_forward(struct cuda_backend *cb, const struct seq_batch *batch, int n_seqs,
						 float *logits, int32_t *argmax, char *err);

/* "NVIDIA H200 (sm_90, 132 SMs, 139.8 GiB)" */
const char *cuda_backend_describe(const struct cuda_backend *cb);

extern const struct backend_ops cuda_backend_ops;

#ifdef __cplusplus
}
#endif

#endif
