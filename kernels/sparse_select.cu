/*
 * sparse_select.cu — dynamic sparse attention's choice of KV blocks
 * (sparse_plan.h): for each sparse token and KV head, the bound of every
 * middle block over its key summary, then attention_select's rule, written
 * as the ascending list of blocks that attention.cu reads.
 *
 * One thread block per (token, KV head).  Its threads sum the group's
 * query elements, then take one middle block at a time for its bound
 * (summed over the head's dims in order, as the CPU sums it), then rank
 * their blocks against all the others in shared memory.  Thread j owns a
 * contiguous range of the middle blocks, so the kept ones are written in
 * ascending order after a count of the kept blocks of the threads before
 * it.  Ranking costs about n_mid comparisons per middle block (a 32k
 * context has ~1000 blocks: one block per thread); no sort, no atomics.
 */
#include "cuda_kernels.h"

/* the query's positive and negative sums, the middle blocks' bounds, each
 * thread's count of kept blocks, the kept flags */
static size_t
smem_bytes(int max_blocks, int head_dim)
{
	return sizeof(float) * (2 * head_dim + max_blocks) + sizeof(int32_t) * SPARSE_SELECT_THREADS
		+ max_blocks;
}

__global__ void __launch_bounds__(SPARSE_SELECT_THREADS)
sparse_select_kernel(const struct sparse_select_args a)
{
	extern __shared__ __align__(16) float sel_smem[];
	const struct attn_shape s = a.shape;
	const int	t = blockIdx.x;
	const int	kvh = blockIdx.y;
	const int	hd = s.head_dim;
	const int32_t *table = a.table + a.table_off[t];
	float	   *pos = sel_smem;
	float	   *neg = pos + hd;
	float	   *mid = neg + hd;
	int32_t    *count = (int32_t *) (mid + a.max_blocks);
	unsigned char *kept = (unsigned char *) (count + SPARSE_SELECT_THREADS);
	struct sparse_plan p;
	int32_t    *list;
	int32_t		lo,
				hi;
	int			n = 0;

	if (sparse_list_len(a.pos[t], a.budget[t]) == 0)
		return;
	p = sparse_plan_make(a.pos[t] + 1, a.budget[t]);
	for (int d = threadIdx.x; d < hd; d += SPARSE_SELECT_THREADS)
	{
		const float *q = a.q + ((size_t) t * s.n_head + (size_t) kvh * s.group) * hd + d;
		float		sp = 0.0f;
		float		sn = 0.0f;

		for (int h = 0; h < s.group; h++)
			sparse_fold(attn_round_f16(q[(size_t) h * hd]), &sp, &sn);
		pos[d] = sp;
		neg[d] = sn;
	}
	__syncthreads();
	for (int i = threadIdx.x; i < p.n_mid; i += SPARSE_SELECT_THREADS)
	{
		size_t		sum = (size_t) table[i + 1] * a.kv_dim + (size_t) kvh * hd;

		mid[i] = sparse_block_bound(pos, neg, a.kmin + sum, a.kmax + sum, hd);
	}
	__syncthreads();

	sparse_thread_range(p.n_mid, threadIdx.x, &lo, &hi);
	for (int i = lo; i < hi; i++)
	{
		kept[i] = (unsigned char) sparse_keeps(mid, p.n_mid, p.n_top, i);
		n += kept[i];
	}
	count[threadIdx.x] = n;
	__syncthreads();

	/* block 0, the earlier threads' kept blocks, ours, the recent blocks */
	list = a.lists + a.list_off[t] + (size_t) kvh * p.n_chosen;
	if (threadIdx.x == 0)
		list[0] = 0;
	if (lo < hi)
	{
		n = 1;
		for (int j = 0; j < (int) threadIdx.x; j++)
			n += count[j];
		for (int i = lo; i < hi; i++)
			if (kept[i])
				list[n++] = i + 1;
	}
	for (int r = threadIdx.x; r < p.n_recent; r += SPARSE_SELECT_THREADS)
		list[1 + p.n_top + r] = p.n_all - p.n_recent + r;
}

/* All the device allows, so that no later backend's setup lowers what an
 * earlier one needs. */
int
sparse_select_setup(int max_blocks, int head_dim, char *err)
{
	size_t		bytes = smem_bytes(max_blocks, head_dim);
	int			device = 0;
	int			most = 0;

	CUDA_TRY(cudaGetDevice(&device), err);
	CUDA_TRY(cudaDeviceGetAttribute(&most, cudaDevAttrMaxSharedMemoryPerBlockOptin, device), err);
	if (bytes > (size_t) most)
		return err_set(err, "cuda: sparse selection over %d KV blocks needs %zu bytes of shared "
					   "memory, more than the %d the device gives a thread block",
					   max_blocks, bytes, most);
	CUDA_TRY(cudaFuncSetAttribute(sparse_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
								  most), err);
	return 0;
}

int
launch_sparse_select(const struct sparse_select_args *a, cudaStream_t st, char *err)
{
	dim3		grid(a->T, a->shape.n_kv_head);

	sparse_select_kernel<<<grid, SPARSE_SELECT_THREADS, smem_bytes(a->max_blocks, a->shape.head_dim), st>>> (*a);
	CUDA_LAUNCHED(err);
	return 0;
}
