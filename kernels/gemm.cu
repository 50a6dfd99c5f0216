/*
 * gemm.cu — the large products (prefill, big batches) through cuBLAS:
 * F16 or BF16 operands with FP32 accumulation, or FP32 throughout for F32
 * weights (no TF32: the handle keeps the default math mode).
 */
#include "cuda_kernels.h"

static cudaDataType
cuda_type(enum dtype t)
{
	return t == DTYPE_F32 ? CUDA_R_32F : t == DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
}

int
gemm_rows(cublasHandle_t h, enum dtype dense_type, const void *w, int64_t rows, int64_t cols,
		  const void *x, int T, float *out, bool accumulate, char *err)
{
	/* column-major view: out (rows x T) = W^T (rows x cols) . X (cols x T) */
	const float alpha = 1.0f;
	const float beta = accumulate ? 1.0f : 0.0f;
	cublasStatus_t rc;

	rc = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int) rows, T, (int) cols,
					  &alpha, w, cuda_type(dense_type), (int) cols,
					  x, cuda_type(dense_type), (int) cols,
					  &beta, out, CUDA_R_32F, (int) rows,
					  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
	if (rc != CUBLAS_STATUS_SUCCESS)
		return err_set(err, "cublas: GEMM %lldx%lldx%d failed: %s", (long long) rows,
					   (long long) cols, T, cublasGetStatusString(rc));
	return 0;
}
