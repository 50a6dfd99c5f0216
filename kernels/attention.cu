/*
 * attention.cu — attention over the paged F16 KV cache, split-K, with the
 * CPU's two-pass numerics (attn_plan.h explains the plan).
 *
 * Three launches per layer:
 *   stats   per (split, tile, KV head chunk): each query's maximum score m_s
 *           and sum l_s of exp(score - m_s) over the split's positions
 *   values  the same grid: each query merges its splits' (m_s, l_s), then
 *           sums f16(exp(score - m) / l) * v over the split's positions
 *   combine the splits' partial sums added in split order (only when there
 *           is more than one split; otherwise values writes the output)
 * No atomics: the result does not depend on scheduling.  A sparse tile
 * (one token, attn_plan.h) runs the same passes over its list of blocks.
 *
 * A thread block holds its tile's queries (F16, as the CPU rounds them) and
 * one KV block (32 positions) of keys, and of values in the second pass, in
 * shared memory.  Warp w serves queries w and w + ATTN_WARPS: lane j scores
 * position j of the block; for the values lane j owns dims j, j + 32, ...
 * Key rows are padded by one word so that the 32 lanes reading 32 rows hit
 * 32 different banks.
 */
#include "cuda_kernels.h"

#define ATTN_THREADS (WARP * ATTN_WARPS)
#define QUERIES_PER_WARP (ATTN_QUERIES / ATTN_WARPS)

static size_t
smem_bytes(int head_dim, bool values)
{
	size_t		hd2 = head_dim / 2;

	return sizeof(__half2) * (ATTN_QUERIES * hd2 + KV_BLOCK_TOKENS * (hd2 + 1)
							  + (values ? KV_BLOCK_TOKENS * hd2 : 0));
}

/* Score of the F16 query q against key row k (hd2 pairs), times scale. */
__device__ __forceinline__ float
score(const __half2 *q, const __half2 *k, int hd2, float scale)
{
	float		s = 0.0f;

	for (int d = 0; d < hd2; d++)
	{
		float2		qf = __half22float2(q[d]);
		float2		kf = __half22float2(k[d]);

		s = fmaf(qf.x, kf.x, s);
		s = fmaf(qf.y, kf.y, s);
	}
	return s * scale;
}

template <int NACC, bool VALUES>
__global__ void __launch_bounds__(ATTN_THREADS)
attention_kernel(const struct attention_args a)
{
	extern __shared__ __align__(16) unsigned char smem[];
	const struct attn_shape s = a.shape;
	const int	hd = s.head_dim;
	const int	hd2 = hd / 2;
	const int	kstride = hd2 + 1;
	__half2    *q_s = (__half2 *) smem;
	__half2    *k_s = q_s + ATTN_QUERIES * hd2;
	__half2    *v_s = k_s + KV_BLOCK_TOKENS * kstride;
	const struct attn_tile tile = a.tiles[blockIdx.y];
	const int	kvh = blockIdx.z / s.chunks;
	const int	chunk = blockIdx.z % s.chunks;
	const int	split = blockIdx.x;
	const int	warp = threadIdx.x / WARP;
	const int	lane = threadIdx.x % WARP;
	const int	ctx = a.pos[tile.t_first + tile.n_tok - 1] + 1;
	int			i0,
				i1;
	int			row[QUERIES_PER_WARP];	/* token * n_head + head, or -1 */
	int			qpos[QUERIES_PER_WARP];
	float		m[QUERIES_PER_WARP];
	float		l[QUERIES_PER_WARP];	/* stats: running sum; values: 1 / total */
	float		acc[QUERIES_PER_WARP][NACC];

	attn_split_range(attn_tile_blocks(&tile, ctx), a.n_splits, split, &i0, &i1);

	/* the tile's queries, rounded to F16 */
	for (int i = threadIdx.x; i < ATTN_QUERIES * hd2; i += ATTN_THREADS)
	{
		int			qi = i / hd2;
		int			tok,
					head;
		__half2		v = __floats2half2_rn(0.0f, 0.0f);

		if (attn_query(&s, tile.n_tok, kvh, chunk, qi, &tok, &head))
		{
			const float *q = a.q + ((size_t) (tile.t_first + tok) * s.n_head + head) * hd;

			v = __floats2half2_rn(q[2 * (i % hd2)], q[2 * (i % hd2) + 1]);
		}
		q_s[i] = v;
	}
#pragma unroll
	for (int k = 0; k < QUERIES_PER_WARP; k++)
	{
		int			tok,
					head;

		row[k] = -1;
		m[k] = -INFINITY;
		l[k] = 0.0f;
#pragma unroll
		for (int i = 0; i < NACC; i++)
			acc[k][i] = 0.0f;
		if (!attn_query(&s, tile.n_tok, kvh, chunk, warp + ATTN_WARPS * k, &tok, &head))
			continue;
		row[k] = (tile.t_first + tok) * s.n_head + head;
		qpos[k] = a.pos[tile.t_first + tok];
		if constexpr (VALUES)
		{
			float		total = 0.0f;

			for (int sp = 0; sp < a.n_splits; sp++)
			{
				float2		st = a.stats[(size_t) row[k] * a.n_splits + sp];

				attn_merge_stats(&m[k], &total, st.x, st.y);
			}
			l[k] = 1.0f / total;
		}
	}

	for (int ib = i0; ib < i1; ib++)
	{
		const int	kb = attn_tile_block(&tile, a.lists, kvh, ib);
		size_t		base = (size_t) a.table[tile.table_off + kb] * KV_BLOCK_TOKENS * a.kv_dim
			+ (size_t) kvh * hd;
		const __half2 *kg = (const __half2 *) (a.k_cache + base);
		const __half2 *vg = (const __half2 *) (a.v_cache + base);
		int			n_valid = min(KV_BLOCK_TOKENS, ctx - kb * KV_BLOCK_TOKENS);

		__syncthreads();
		for (int i = threadIdx.x; i < n_valid * hd2; i += ATTN_THREADS)
		{
			int			j = i / hd2;
			int			d = i % hd2;

			k_s[j * kstride + d] = kg[(size_t) j * (a.kv_dim / 2) + d];
			if (VALUES)
				v_s[j * hd2 + d] = vg[(size_t) j * (a.kv_dim / 2) + d];
		}
		__syncthreads();

#pragma unroll
		for (int k = 0; k < QUERIES_PER_WARP; k++)
		{
			int			qi = warp + ATTN_WARPS * k;
			bool		ok;
			float		sc = -INFINITY;

			if (row[k] < 0)
				continue;
			ok = lane < n_valid && kb * KV_BLOCK_TOKENS + lane <= qpos[k];
			if (ok)
				sc = score(q_s + qi * hd2, k_s + lane * kstride, hd2, a.scale);
			if constexpr (!VALUES)
			{
				float		bm = warp_max(sc);
				float		mn,
							bs;

				if (bm == -INFINITY)
					continue;
				mn = fmaxf(m[k], bm);
				bs = warp_sum(ok ? attn_exp(sc - mn) : 0.0f);
				l[k] = (l[k] > 0.0f ? l[k] * attn_exp(m[k] - mn) : 0.0f) + bs;
				m[k] = mn;
			}
			else
			{
				const __half *vh = (const __half *) v_s;
				float		p = ok ? attn_prob(sc, m[k], l[k]) : 0.0f;

				for (int j = 0; j < n_valid; j++)
				{
					float		pj = __shfl_sync(0xffffffffu, p, j);

#pragma unroll
					for (int i = 0; i < NACC; i++)
						if (lane + WARP * i < hd)
							acc[k][i] = fmaf(pj, __half2float(vh[j * hd + lane + WARP * i]), acc[k][i]);
				}
			}
		}
	}

#pragma unroll
	for (int k = 0; k < QUERIES_PER_WARP; k++)
	{
		if (row[k] < 0)
			continue;
		if constexpr (!VALUES)
		{
			if (lane == 0)
				a.stats[(size_t) row[k] * a.n_splits + split] = make_float2(m[k], l[k]);
		}
		else
		{
#pragma unroll
			for (int i = 0; i < NACC; i++)
			{
				int			d = lane + WARP * i;

				if (d >= hd)
					continue;
				if (a.n_splits == 1)
					a.out[(size_t) row[k] * hd + d] = acc[k][i];
				else
					a.partial[((size_t) row[k] * a.n_splits + split) * hd + d] = acc[k][i];
			}
		}
	}
}

/* out = the sum of the splits' partial results, in split order */
__global__ void
combine_kernel(const float *partial, int n_splits, int hd, int64_t n, float *out)
{
	int64_t		i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
	const float *p;
	float		sum = 0.0f;

	if (i >= n)
		return;
	p = partial + (i / hd) * n_splits * hd + i % hd;
	for (int sp = 0; sp < n_splits; sp++)
		sum += p[(size_t) sp * hd];
	out[i] = sum;
}

template <int NACC>
static void
launch_pass(const struct attention_args *a, bool values, dim3 grid, cudaStream_t st)
{
	size_t		bytes = smem_bytes(a->shape.head_dim, values);

	if (values)
		attention_kernel<NACC, true> <<<grid, ATTN_THREADS, bytes, st>>> (*a);
	else
		attention_kernel<1, false> <<<grid, ATTN_THREADS, bytes, st>>> (*a);
}

int
launch_attention(const struct attention_args *a, cudaStream_t st, char *err)
{
	dim3		grid(a->n_splits, a->n_tiles, a->shape.n_kv_head * a->shape.chunks);
	int			nacc = (a->shape.head_dim + WARP - 1) / WARP;

	if (a->shape.head_dim % 2 != 0 || a->shape.head_dim > ATTN_MAX_HEAD_DIM)
		return err_set(err, "cuda: attention for head size %d is not built", a->shape.head_dim);
	for (int pass = 0; pass < 2; pass++)
	{
		switch (nacc)
		{
#define ATTN_CASE(n) case n: launch_pass<n>(a, pass == 1, grid, st); break
				ATTN_CASE(1);
				ATTN_CASE(2);
				ATTN_CASE(3);
				ATTN_CASE(4);
				ATTN_CASE(5);
				ATTN_CASE(6);
				ATTN_CASE(7);
				ATTN_CASE(8);
#undef ATTN_CASE
		}
		CUDA_LAUNCHED(err);
	}
	if (a->n_splits > 1)
	{
		int64_t		n = (int64_t) a->T * a->shape.n_head * a->shape.head_dim;

		combine_kernel<<<div_up(n, 256), 256, 0, st>>> (a->partial, a->n_splits,
														a->shape.head_dim, n, a->out);
		CUDA_LAUNCHED(err);
	}
	return 0;
}
