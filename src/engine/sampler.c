/*
 * sampler.c — penalties, the choice mask, greedy and stochastic sampling.
 *
 * The candidates (token id and logit) live in a scratch array of n_vocab
 * entries owned by the sampler.  The cut-offs never sort the vocabulary:
 * top-k keeps a heap of its k best, top-p finds its cut with a histogram
 * and sorts only the tokens at the edge.  Candidates are ordered by logit,
 * then by id, so every cut-off and every draw is a function of the logits
 * and the seed alone.
 */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "dr1_limits.h"
#include "error.h"

struct cand
{
	int32_t		id;
	float		logit;
	float		w;				/* unnormalised probability, scratch */
};

/* Probability mass and number of tokens in one top-p histogram bucket. */
struct bucket
{
	double		mass;
	size_t		count;
};

struct sampler
{
	struct sampler_params p;
	int32_t		n_vocab;
	uint64_t	rng[4];			/* xoshiro256** state */
	struct cand *cand;			/* n_vocab scratch entries */
	int32_t    *count;			/* n_vocab occurrence counts, kept at zero */
	struct bucket *buckets;		/* TOP_P_BUCKETS + 1 */
};

/*
 * Top-p's histogram: TOP_P_BUCKETS buckets cover logits down to TOP_P_SPAN
 * below the maximum (a probability ratio of 1e-14), 1/128 of a logit each,
 * so the boundary bucket holds few tokens for any realistic distribution.
 */
#define TOP_P_BUCKETS 4096
#define TOP_P_SPAN 32.0f

void
sampler_params_default(struct sampler_params *p)
{
	p->temperature = 0.0f;
	p->top_k = 0;
	p->top_p = 1.0f;
	p->min_p = 0.0f;
	p->repeat_penalty = 1.0f;
	p->presence_penalty = 0.0f;
	p->frequency_penalty = 0.0f;
	p->penalty_last_n = 64;
	p->seed = 0;
}

/* NaN fails every comparison, so it is rejected by each range check. */
static bool
in_range(double v, double lo, bool lo_open, double hi)
{
	if (lo_open ? !(v > lo) : !(v >= lo))
		return false;
	return v <= hi;
}

int
sampler_params_check(const struct sampler_params *p, char *err)
{
	if (!in_range(p->temperature, 0, false, DR1_TEMPERATURE_MAX))
		return err_set(err, "temperature must be in [0, %d], got %g", DR1_TEMPERATURE_MAX,
					   p->temperature);
	if (p->top_k < 0 || p->top_k > DR1_TOP_K_MAX)
		return err_set(err, "top_k must be in [0, %d], got %d", DR1_TOP_K_MAX, (int) p->top_k);
	if (!in_range(p->top_p, 0, true, 1))
		return err_set(err, "top_p must be in (0, 1], got %g", p->top_p);
	if (!in_range(p->min_p, 0, false, 1))
		return err_set(err, "min_p must be in [0, 1], got %g", p->min_p);
	if (!in_range(p->repeat_penalty, 0, true, 10))
		return err_set(err, "repeat_penalty must be in (0, 10], got %g", p->repeat_penalty);
	if (!in_range(p->presence_penalty, -2, false, 2))
		return err_set(err, "presence_penalty must be in [-2, 2], got %g", p->presence_penalty);
	if (!in_range(p->frequency_penalty, -2, false, 2))
		return err_set(err, "frequency_penalty must be in [-2, 2], got %g", p->frequency_penalty);
	if (p->penalty_last_n < 0 || p->penalty_last_n > 1000000)
		return err_set(err, "penalty_last_n must be in [0, 1000000], got %d",
					   (int) p->penalty_last_n);
	return 0;
}

/* splitmix64: spreads one 64-bit seed over the generator's 256-bit state. */
static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline uint64_t
rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t	result = rotl64(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double
rng_uniform(uint64_t *s)
{
	return (double) (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

struct sampler *
sampler_new(const struct sampler_params *p, int32_t n_vocab)
{
	struct sampler *s;
	uint64_t	x;

	if (p == NULL || n_vocab <= 0)
		return NULL;
	/* sized by the vocabulary already loaded: the checked allocator (alloc.h) */
	s = xcalloc(1, sizeof(*s));
	s->p = *p;
	s->n_vocab = n_vocab;
	s->cand = xmalloc((size_t) n_vocab * sizeof(*s->cand));
	s->count = xcalloc((size_t) n_vocab, sizeof(*s->count));
	s->buckets = xmalloc((TOP_P_BUCKETS + 1) * sizeof(*s->buckets));
	x = p->seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	return s;
}

void
sampler_free(struct sampler *s)
{
	if (s == NULL)
		return;
	free(s->cand);
	free(s->count);
	free(s->buckets);
	free(s);
}

/*
 * Repetition, frequency and presence penalties over the last penalty_last_n
 * tokens, as llama.cpp applies them: the repeat penalty divides a positive
 * logit and multiplies a non-positive one (dividing a negative logit would
 * make the token more likely); frequency counts every occurrence, presence
 * counts once.  count[] is returned to all zeros before leaving.
 */
static void
apply_penalties(struct sampler *s, float *logits, const int32_t *history, size_t n_history)
{
	const struct sampler_params *p = &s->p;
	size_t		n = n_history;
	const int32_t *w;

	if (p->penalty_last_n <= 0 || history == NULL || n == 0)
		return;
	if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f &&
		p->presence_penalty == 0.0f)
		return;
	if (n > (size_t) p->penalty_last_n)
		n = (size_t) p->penalty_last_n;
	w = history + (n_history - n);

	for (size_t i = 0; i < n; i++)
		if (w[i] >= 0 && w[i] < s->n_vocab)
			s->count[w[i]]++;

	for (size_t i = 0; i < n; i++)
	{
		int32_t		id = w[i];
		int32_t		c;
		float	   *l;

		if (id < 0 || id >= s->n_vocab || s->count[id] == 0)
			continue;
		c = s->count[id];
		s->count[id] = 0;		/* once per distinct token */
		l = &logits[id];
		if (*l <= 0.0f)
			*l *= p->repeat_penalty;
		else
			*l /= p->repeat_penalty;
		*l -= (float) c * p->frequency_penalty + p->presence_penalty;
	}
}

int32_t
logits_argmax(const float *logits, int32_t n_vocab, const bool *allowed)
{
	int32_t		best = -1;

	for (int32_t i = 0; i < n_vocab; i++)
	{
		if (allowed && !allowed[i])
			continue;
		if (best < 0 || logits[i] > logits[best] || isnan(logits[best]))
			best = i;
	}
	return best;
}

/* True when a comes before b: higher logit first, then lower id. */
static inline bool
cand_before(const struct cand *a, const struct cand *b)
{
	return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int
cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x;
	const struct cand *b = y;

	if (cand_before(a, b))
		return -1;
	return cand_before(b, a) ? 1 : 0;
}

static inline void
cand_swap(struct cand *a, struct cand *b)
{
	struct cand t = *a;

	*a = *b;
	*b = t;
}

/* Every token with a finite or +inf logit, in id order: -inf (masked) and
 * NaN logits are never candidates. */
static size_t
collect_all(struct sampler *s, const float *logits)
{
	size_t		n = 0;

	for (int32_t i = 0; i < s->n_vocab; i++)
		if (logits[i] > -INFINITY)
		{
			s->cand[n].id = i;
			s->cand[n].logit = logits[i];
			n++;
		}
	return n;
}

/* Restore the heap below i, whose root is the worst candidate. */
static void
heap_down(struct cand *h, size_t m, size_t i)
{
	for (;;)
	{
		size_t		worst = i;
		size_t		l = 2 * i + 1;

		if (l < m && cand_before(&h[worst], &h[l]))
			worst = l;
		if (l + 1 < m && cand_before(&h[worst], &h[l + 1]))
			worst = l + 1;
		if (worst == i)
			return;
		cand_swap(&h[i], &h[worst]);
		i = worst;
	}
}

static void
heap_up(struct cand *h, size_t i)
{
	while (i > 0 && cand_before(&h[(i - 1) / 2], &h[i]))
	{
		cand_swap(&h[(i - 1) / 2], &h[i]);
		i = (i - 1) / 2;
	}
}

/*
 * Top-k: the k best candidates, sorted, through a heap of k whose root is
 * the worst kept so far.  Most tokens lose to the root at once, so this is
 * one cheap pass over the vocabulary for the usual small k.
 */
static size_t
collect_top_k(struct sampler *s, const float *logits, size_t k)
{
	struct cand *h = s->cand;
	size_t		m = 0;

	for (int32_t i = 0; i < s->n_vocab; i++)
	{
		struct cand x = {i, logits[i], 0.0f};

		if (!(x.logit > -INFINITY))
			continue;
		if (m < k)
		{
			h[m] = x;
			heap_up(h, m++);
		}
		else if (cand_before(&x, &h[0]))
		{
			h[0] = x;
			heap_down(h, m, 0);
		}
	}
	qsort(h, m, sizeof(*h), cand_cmp);
	return m;
}

/* Top-p over candidates sorted best first: the shortest prefix whose
 * probability at temperature 1 reaches p. */
static size_t
top_p_sorted(struct cand *c, size_t n, float top_p, float max)
{
	double		total = 0.0;
	double		cum = 0.0;

	for (size_t i = 0; i < n; i++)
	{
		c[i].w = expf(c[i].logit - max);
		total += c[i].w;
	}
	for (size_t i = 0; i < n; i++)
	{
		cum += c[i].w;
		if (cum >= top_p * total)
			return i + 1;
	}
	return n;
}

/* Histogram bucket of a logit: its distance below the maximum in steps of
 * TOP_P_SPAN / TOP_P_BUCKETS; everything farther shares the last bucket. */
static inline size_t
bucket_of(float logit, float max)
{
	float		d = max - logit;

	if (!(d < TOP_P_SPAN))
		return TOP_P_BUCKETS;
	return (size_t) (d * ((float) TOP_P_BUCKETS / TOP_P_SPAN));
}

static bool
is_sorted(const struct cand *c, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (cand_before(&c[i], &c[i - 1]))
			return false;
	return true;
}

/*
 * Top-p straight from the logits, without sorting the vocabulary: a
 * histogram of the probability mass by logit finds the bucket where the
 * cumulative mass reaches p.  The tokens of the buckets before it are all
 * kept, in id order; only the boundary bucket's few tokens are sorted to
 * find the exact cut.  The kept set is the one a full sort would give (up
 * to the rounding of the sums, which add up in another order).
 */
static size_t
collect_top_p(struct sampler *s, const float *logits, float top_p, float max)
{
	struct bucket *bk = s->buckets;
	struct cand *c = s->cand;
	double		total = 0.0;
	double		target;
	double		cum = 0.0;
	size_t		b = 0;
	size_t		inside = 0;
	size_t		edge = 0;
	size_t		n_inside;
	size_t		n_edge;

	memset(bk, 0, (TOP_P_BUCKETS + 1) * sizeof(*bk));
	for (int32_t i = 0; i < s->n_vocab; i++)
	{
		float		w;
		size_t		k;

		if (!(logits[i] > -INFINITY))
			continue;
		w = expf(logits[i] - max);
		k = bucket_of(logits[i], max);
		bk[k].mass += w;
		bk[k].count++;
		total += w;
	}
	target = top_p * total;
	for (n_inside = 0; b < TOP_P_BUCKETS && cum + bk[b].mass < target; b++)
	{
		cum += bk[b].mass;
		n_inside += bk[b].count;
	}
	n_edge = bk[b].count;

	/* the kept buckets first, then the boundary one, each in id order */
	for (int32_t i = 0; i < s->n_vocab; i++)
	{
		size_t		k;

		if (!(logits[i] > -INFINITY) || (k = bucket_of(logits[i], max)) > b)
			continue;
		if (k < b)
			c[inside++] = (struct cand) {i, logits[i], 0.0f};
		else
			c[n_inside + edge++] = (struct cand) {i, logits[i], expf(logits[i] - max)};
	}

	/* equal logits are already in order: a flat distribution needs no sort */
	if (!is_sorted(c + n_inside, n_edge))
		qsort(c + n_inside, n_edge, sizeof(*c), cand_cmp);
	for (size_t i = n_inside; i < n_inside + n_edge; i++)
	{
		cum += c[i].w;
		if (cum >= target)
			return i + 1;
	}
	return n_inside + n_edge;
}

/* Min-p: keep candidates whose probability is at least min_p times the
 * largest, i.e. logit >= max + log(min_p); the order is kept. */
static size_t
apply_min_p(struct cand *c, size_t n, float min_p, float max)
{
	float		floor_logit = max + logf(min_p);
	size_t		kept = 0;

	for (size_t i = 0; i < n; i++)
		if (c[i].logit >= floor_logit)
			c[kept++] = c[i];
	return kept;
}

/* Softmax at the given temperature and one draw from it. */
static int32_t
draw(struct sampler *s, struct cand *c, size_t n, float temperature, float max)
{
	double		total = 0.0;
	double		u;

	for (size_t i = 0; i < n; i++)
	{
		c[i].w = expf((c[i].logit - max) / temperature);
		total += c[i].w;
	}
	u = rng_uniform(s->rng) * total;
	for (size_t i = 0; i < n; i++)
	{
		u -= c[i].w;
		if (u < 0.0)
			return c[i].id;
	}
	return c[n - 1].id;
}

/* What every path shares after its cut-offs: min-p, then the draw. */
static int32_t
finish_draw(struct sampler *s, size_t n, float max)
{
	if (s->p.min_p > 0.0f)
		n = apply_min_p(s->cand, n, s->p.min_p, max);
	return draw(s, s->cand, n, s->p.temperature, max);
}

/* Top-k applies when it keeps fewer than the vocabulary. */
static bool
top_k_cuts(const struct sampler *s)
{
	return s->p.top_k > 0 && s->p.top_k < s->n_vocab;
}

int32_t
sampler_sample(struct sampler *s, float *logits,
			   const int32_t *history, size_t n_history,
			   const bool *allowed)
{
	const struct sampler_params *p = &s->p;
	int32_t		best;
	float		max;
	size_t		n;

	apply_penalties(s, logits, history, n_history);
	if (allowed)
		for (int32_t i = 0; i < s->n_vocab; i++)
			if (!allowed[i])
				logits[i] = -INFINITY;

	best = logits_argmax(logits, s->n_vocab, allowed);
	if (p->temperature <= 0.0f || best < 0 || !isfinite(logits[best]))
		return best;
	max = logits[best];			/* every cut-off keeps it */

	if (top_k_cuts(s))
	{
		n = collect_top_k(s, logits, (size_t) p->top_k);
		if (p->top_p < 1.0f)
			n = top_p_sorted(s->cand, n, p->top_p, max);
	}
	else if (p->top_p < 1.0f)
		n = collect_top_p(s, logits, p->top_p, max);
	else
		n = collect_all(s, logits);
	return finish_draw(s, n, max);
}

/*
 * Without penalties or a mask the logits reach the cut-offs unchanged, and
 * greedy needs the first token only, top-k its k first: the rest of the
 * vocabulary cannot change the choice.  Top-p alone (top_k 0), or no
 * cut-off at all, normalises over the whole vocabulary, so it needs the
 * row; so do penalties (they move tokens that may be anywhere in the row)
 * and masks.
 */
int32_t
sampler_top_needed(const struct sampler *s, bool masked)
{
	const struct sampler_params *p = &s->p;
	bool		penalties = p->penalty_last_n > 0 &&
		(p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f);

	if (masked || penalties)
		return 0;
	if (p->temperature <= 0.0f)
		return 1;
	return top_k_cuts(s) && p->top_k <= TOP_LOGITS_MAX ? p->top_k : 0;
}

/*
 * sampler_sample's steps on the row's first candidates: its argmax is the
 * first (top_logits.h's order), collect_top_k's heap would keep the first
 * top_k that are above -inf, in that order; the same floats then go
 * through the same top-p, min-p and draw, with the same random numbers.
 */
int32_t
sampler_sample_top(struct sampler *s, const struct top_logits *t)
{
	const struct sampler_params *p = &s->p;
	int32_t		best = t->n > 0 ? t->id[0] : -1;
	float		max;
	size_t		n = 0;

	if (p->temperature <= 0.0f || best < 0 || !isfinite(t->logit[0]))
		return best;
	max = t->logit[0];
	for (int32_t i = 0; i < t->n && i < p->top_k; i++)
		if (t->logit[i] > -INFINITY)
		{
			s->cand[n].id = t->id[i];
			s->cand[n].logit = t->logit[i];
			n++;
		}
	if (p->top_p < 1.0f)
		n = top_p_sorted(s->cand, n, p->top_p, max);
	return finish_draw(s, n, max);
}
