/*
 * test_sampler.c — sampling, penalties, parameter checks, constrained
 * choice and stop strings.
 *
 * Stochastic checks draw many times and test what must always or never
 * happen (an excluded token is never drawn) or what holds within 3 sigma.
 * The one test that needs the real tokenizer runs only when the SmolLM2
 * model is in $DR1_MODEL_CACHE (default ~/.cache/deepseek_r1/models).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "choice.h"
#include "error.h"
#include "gguf.h"
#include "sampler.h"
#include "stop.h"
#include "detokenizer.h"
#include "tokenizer.h"

#define SMOLLM2_FILE "SmolLM2-135M-Instruct-Q4_1.gguf"

/* The tests' own data generator, independent of the sampler's. */
static uint64_t test_rng = 88172645463325252ULL;

static double
test_uniform(void)
{
	return (double) (check_rng_next(&test_rng) >> 11) / 9007199254740992.0;
}

static void
random_logits(float *l, int32_t n, float lo, float hi)
{
	for (int32_t i = 0; i < n; i++)
		l[i] = lo + (hi - lo) * (float) test_uniform();
}

static struct sampler_params
params_with(float temperature, int32_t top_k, float top_p, float min_p, uint64_t seed)
{
	struct sampler_params p;

	sampler_params_default(&p);
	p.temperature = temperature;
	p.top_k = top_k;
	p.top_p = top_p;
	p.min_p = min_p;
	p.seed = seed;
	return p;
}

/* One draw from a copy of logits (sampling may change its input). */
static int32_t
sample_copy(struct sampler *s, const float *logits, int32_t n, const bool *allowed)
{
	float	   *copy = malloc((size_t) n * sizeof(*copy));
	int32_t		id;

	memcpy(copy, logits, (size_t) n * sizeof(*copy));
	id = sampler_sample(s, copy, NULL, 0, allowed);
	free(copy);
	return id;
}

static void
test_defaults_and_check(void)
{
	struct sampler_params p;
	char		err[ERR_MAX];

	sampler_params_default(&p);
	CHECK(p.temperature == 0.0f && p.top_k == 0 && p.top_p == 1.0f && p.min_p == 0.0f &&
		  p.repeat_penalty == 1.0f && p.presence_penalty == 0.0f &&
		  p.frequency_penalty == 0.0f && p.penalty_last_n == 64 && p.seed == 0,
		  "defaults");
	CHECK(sampler_params_check(&p, err) == 0, "defaults rejected");

#define EXPECT_BAD(field, value, message) \
	do { \
		struct sampler_params q = p; \
		q.field = value; \
		err[0] = '\0'; \
		CHECK(sampler_params_check(&q, err) == -1 && strcmp(err, message) == 0, \
			  #field " = " #value ": \"%s\"", err); \
	} while (0)
#define EXPECT_GOOD(field, value) \
	do { \
		struct sampler_params q = p; \
		q.field = value; \
		CHECK(sampler_params_check(&q, err) == 0, #field " = " #value ": \"%s\"", err); \
	} while (0)

	EXPECT_BAD(top_p, 1.5f, "top_p must be in (0, 1], got 1.5");
	EXPECT_BAD(top_p, 0.0f, "top_p must be in (0, 1], got 0");
	EXPECT_BAD(temperature, -0.5f, "temperature must be in [0, 100], got -0.5");
	EXPECT_BAD(temperature, 101.0f, "temperature must be in [0, 100], got 101");
	EXPECT_BAD(temperature, NAN, "temperature must be in [0, 100], got nan");
	EXPECT_BAD(top_k, -1, "top_k must be in [0, 1000000], got -1");
	EXPECT_BAD(top_k, 1000001, "top_k must be in [0, 1000000], got 1000001");
	EXPECT_BAD(min_p, 1.25f, "min_p must be in [0, 1], got 1.25");
	EXPECT_BAD(min_p, NAN, "min_p must be in [0, 1], got nan");
	EXPECT_BAD(repeat_penalty, 0.0f, "repeat_penalty must be in (0, 10], got 0");
	EXPECT_BAD(repeat_penalty, 11.0f, "repeat_penalty must be in (0, 10], got 11");
	EXPECT_BAD(presence_penalty, 2.5f, "presence_penalty must be in [-2, 2], got 2.5");
	EXPECT_BAD(frequency_penalty, -3.0f, "frequency_penalty must be in [-2, 2], got -3");
	EXPECT_BAD(frequency_penalty, INFINITY, "frequency_penalty must be in [-2, 2], got inf");
	EXPECT_BAD(penalty_last_n, -1, "penalty_last_n must be in [0, 1000000], got -1");
	EXPECT_GOOD(temperature, 100.0f);
	EXPECT_GOOD(top_p, 1e-6f);
	EXPECT_GOOD(min_p, 1.0f);
	EXPECT_GOOD(repeat_penalty, 10.0f);
	EXPECT_GOOD(presence_penalty, -2.0f);
	EXPECT_GOOD(penalty_last_n, 0);
	EXPECT_GOOD(top_k, 1000000);
#undef EXPECT_BAD
#undef EXPECT_GOOD
}

static void
test_greedy(void)
{
	struct sampler_params p = params_with(0.0f, 0, 1.0f, 0.0f, 0);
	struct sampler *s = sampler_new(&p, 6);
	float		ties[6] = {1.0f, 3.0f, -2.0f, 3.0f, 2.9f, 3.0f};
	float		neg[6] = {-5.0f, -INFINITY, -1.5f, -1.25f, -7.0f, -1.25f};
	float		all_inf[6] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
	float		with_nan[6] = {NAN, 0.5f, NAN, 2.0f, 1.0f, NAN};
	bool		mask[6] = {true, false, true, false, true, false};
	bool		none[6] = {false};

	CHECK(s != NULL, "sampler_new");
	CHECK(sample_copy(s, ties, 6, NULL) == 1, "ties go to the lowest id");
	CHECK(sample_copy(s, neg, 6, NULL) == 3, "negative logits");
	CHECK(sample_copy(s, all_inf, 6, NULL) == 0, "all -inf");
	CHECK(sample_copy(s, with_nan, 6, NULL) == 3, "NaN never wins");
	CHECK(sample_copy(s, ties, 6, mask) == 4, "mask respected by greedy");
	CHECK(sample_copy(s, all_inf, 6, mask) == 0, "masked, all -inf: first allowed");
	CHECK(sample_copy(s, ties, 6, none) == -1, "empty mask gives -1");
	sampler_free(s);

	CHECK(sampler_new(&p, 0) == NULL, "n_vocab 0 refused");
	CHECK(sampler_new(NULL, 10) == NULL, "NULL params refused");
	sampler_free(NULL);
}

static void
draw_sequence(uint64_t seed, const float *logits, int32_t n, int32_t *out, int count)
{
	struct sampler_params p = params_with(0.8f, 0, 0.9f, 0.0f, seed);
	struct sampler *s = sampler_new(&p, n);

	for (int i = 0; i < count; i++)
		out[i] = sample_copy(s, logits, n, NULL);
	sampler_free(s);
}

static void
test_seeds(void)
{
	enum
	{
		N = 500, DRAWS = 1000
	};
	float		logits[N];
	int32_t		a[DRAWS];
	int32_t		b[DRAWS];
	int32_t		c[DRAWS];
	int			distinct = 0;
	bool		seen[N] = {false};

	random_logits(logits, N, -3.0f, 3.0f);
	draw_sequence(42, logits, N, a, DRAWS);
	draw_sequence(42, logits, N, b, DRAWS);
	draw_sequence(43, logits, N, c, DRAWS);
	CHECK(memcmp(a, b, sizeof(a)) == 0, "same seed, same draws");
	CHECK(memcmp(a, c, sizeof(a)) != 0, "different seed, different draws");
	for (int i = 0; i < DRAWS; i++)
		if (!seen[a[i]])
		{
			seen[a[i]] = true;
			distinct++;
		}
	CHECK(distinct > 100, "only %d distinct tokens in %d draws", distinct, DRAWS);
}

static void
test_top_k_1_is_greedy(void)
{
	enum
	{
		N = 2000
	};
	struct sampler_params p = params_with(1.5f, 1, 1.0f, 0.0f, 7);
	struct sampler *s = sampler_new(&p, N);
	struct sampler_params g = params_with(0.0f, 0, 1.0f, 0.0f, 7);
	struct sampler *greedy = sampler_new(&g, N);
	float		logits[N];
	int			same = 0;

	for (int round = 0; round < 200; round++)
	{
		random_logits(logits, N, -4.0f, 4.0f);
		if (round % 2)
			logits[N - 1] = logits[N / 2] = 10.0f;	/* a tie at the top */
		same += sample_copy(s, logits, N, NULL) == sample_copy(greedy, logits, N, NULL);
	}
	CHECK(same == 200, "top-k 1 agreed with greedy %d times in 200", same);
	sampler_free(s);
	sampler_free(greedy);
}

/* Draw many times; every count within 3 sigma of probs[i] * draws. */
static void
check_frequencies(struct sampler *s, const float *logits, const double *probs, int32_t n,
				  int draws, const char *what)
{
	int		   *count = calloc((size_t) n, sizeof(*count));

	for (int i = 0; i < draws; i++)
	{
		int32_t		id = sample_copy(s, logits, n, NULL);

		if (id >= 0 && id < n)
			count[id]++;
	}
	for (int32_t i = 0; i < n; i++)
	{
		double		mean = probs[i] * draws;
		double		sigma = sqrt(draws * probs[i] * (1.0 - probs[i]));

		CHECK(fabs(count[i] - mean) <= 3.0 * sigma,
			  "%s: token %d drawn %d times, expected %.1f +- %.1f", what, (int) i,
			  count[i], mean, 3.0 * sigma);
	}
	free(count);
}

static void
test_distribution(void)
{
	float		logits[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
	double		probs[3] = {0.5, 0.3, 0.2};
	struct sampler_params p = params_with(1.0f, 0, 1.0f, 0.0f, 1234);
	struct sampler *s = sampler_new(&p, 3);

	check_frequencies(s, logits, probs, 3, 20000, "temperature 1");
	sampler_free(s);

	/* temperature 0.5 squares the probabilities before normalising */
	{
		double		z = 0.25 + 0.09 + 0.04;
		double		sq[3] = {0.25 / z, 0.09 / z, 0.04 / z};

		p = params_with(0.5f, 0, 1.0f, 0.0f, 99);
		s = sampler_new(&p, 3);
		check_frequencies(s, logits, sq, 3, 20000, "temperature 0.5");
		sampler_free(s);
	}
}

/* Draw often; the drawn set must equal want[] (every wanted token seen,
 * no other ever). */
static void
check_support(const struct sampler_params *p, const float *logits, int32_t n,
			  const bool *want, int draws, const char *what)
{
	struct sampler *s = sampler_new(p, n);
	bool	   *seen = calloc((size_t) n, sizeof(*seen));
	int			bad = 0;
	int			missing = 0;

	for (int i = 0; i < draws; i++)
	{
		int32_t		id = sample_copy(s, logits, n, NULL);

		if (id < 0 || id >= n || !want[id])
			bad++;
		else
			seen[id] = true;
	}
	for (int32_t i = 0; i < n; i++)
		if (want[i] && !seen[i])
			missing++;
	CHECK(bad == 0, "%s: %d draws outside the expected set", what, bad);
	CHECK(missing == 0, "%s: %d expected tokens never drawn", what, missing);
	free(seen);
	sampler_free(s);
}

static void
test_cutoffs_small(void)
{
	float		l[4] = {logf(0.4f), logf(0.3f), logf(0.2f), logf(0.1f)};
	bool		first2[4] = {true, true, false, false};
	bool		first3[4] = {true, true, true, false};
	bool		first1[4] = {true, false, false, false};
	struct sampler_params p;

	p = params_with(1.0f, 0, 0.65f, 0.0f, 1);
	check_support(&p, l, 4, first2, 4000, "top_p 0.65");
	p = params_with(1.0f, 0, 0.75f, 0.0f, 2);
	check_support(&p, l, 4, first3, 4000, "top_p 0.75");
	p = params_with(1.0f, 0, 0.3f, 0.0f, 3);
	check_support(&p, l, 4, first1, 1000, "top_p 0.3 keeps at least one");
	/* min-p: a floor at min_p times the best probability, 0.4 */
	p = params_with(1.0f, 0, 1.0f, 0.6f, 4);
	check_support(&p, l, 4, first2, 4000, "min_p 0.6");
	p = params_with(1.0f, 0, 1.0f, 0.3f, 5);
	check_support(&p, l, 4, first3, 4000, "min_p 0.3");
	p = params_with(1.0f, 2, 1.0f, 0.0f, 6);
	check_support(&p, l, 4, first2, 4000, "top_k 2");
	p = params_with(1.0f, 3, 0.65f, 0.0f, 9);
	check_support(&p, l, 4, first2, 4000, "top_k 3 then top_p 0.65");
	/* top-p measures probability at temperature 1, before temperature */
	p = params_with(5.0f, 0, 0.65f, 0.0f, 7);
	check_support(&p, l, 4, first2, 4000, "top_p 0.65 at temperature 5");
	/* min-p after top-p: top-p keeps 3, min-p 0.8 of the best keeps 1 */
	p = params_with(1.0f, 0, 0.75f, 0.8f, 8);
	check_support(&p, l, 4, first1, 1000, "top_p then min_p");
}

struct ranked
{
	int32_t		id;
	float		logit;
};

static int
ranked_cmp(const void *x, const void *y)
{
	const struct ranked *a = x;
	const struct ranked *b = y;

	if (a->logit != b->logit)
		return a->logit > b->logit ? -1 : 1;
	return a->id < b->id ? -1 : 1;
}

/* Candidates ranked the plain way (full sort), for reference. */
static struct ranked *
rank_all(const float *l, int32_t n)
{
	struct ranked *r = malloc((size_t) n * sizeof(*r));

	for (int32_t i = 0; i < n; i++)
	{
		r[i].id = i;
		r[i].logit = l[i];
	}
	qsort(r, (size_t) n, sizeof(*r), ranked_cmp);
	return r;
}

/* cum[i]: probability of the i+1 best tokens at temperature 1. */
static double *
cumulative(const struct ranked *r, int32_t n)
{
	double	   *cum = malloc((size_t) n * sizeof(*cum));
	double		total = 0.0;
	double		acc = 0.0;

	for (int32_t i = 0; i < n; i++)
		total += exp((double) r[i].logit - r[0].logit);
	for (int32_t i = 0; i < n; i++)
	{
		acc += exp((double) r[i].logit - r[0].logit);
		cum[i] = acc / total;
	}
	return cum;
}

/* The sampler's nucleus against the reference's best `kept` tokens. */
static void
check_nucleus(const float *l, int32_t n, const struct ranked *r, int32_t kept,
			  float top_p, const char *what)
{
	bool	   *want = calloc((size_t) n, sizeof(*want));
	struct sampler_params p = params_with(1.0f, 0, top_p, 0.0f, (uint64_t) kept);

	for (int32_t i = 0; i < kept; i++)
		want[r[i].id] = true;
	check_support(&p, l, n, want, 80 * kept, what);
	free(want);
}

/*
 * Nuclei of larger vocabularies against a full sort: one with many exact
 * ties (ordered by id), one whose cut falls inside a cluster of distinct
 * logits closer together than top-p's histogram buckets.
 */
static void
test_cutoffs_large(void)
{
	enum
	{
		N = 3000, TOP = 10, CLUSTER = 50
	};
	float	   *l = malloc(N * sizeof(*l));
	int32_t    *perm = malloc(N * sizeof(*perm));
	struct ranked *r;
	double	   *cum;
	int32_t		kept = 0;

	for (int32_t i = 0; i < N; i++)
		l[i] = (float) (int) (test_uniform() * 40.0) * 0.1f;
	r = rank_all(l, N);
	cum = cumulative(r, N);
	while (cum[kept] < 0.3)
		kept++;
	kept++;
	CHECK(kept > 64 && kept < N, "nucleus of %d tokens: test too easy", (int) kept);
	check_nucleus(l, N, r, kept, 0.3f, "top_p 0.3, many ties");
	{
		bool	   *want = calloc(N, sizeof(*want));
		struct sampler_params p = params_with(1.0f, 40, 1.0f, 0.0f, 12);

		for (int32_t i = 0; i < 40; i++)
			want[r[i].id] = true;
		check_support(&p, l, N, want, 4000, "top_k 40 over 3000 tokens");
		free(want);
	}
	free(r);
	free(cum);

	/* TOP tokens at 0, a cluster just below -1, the rest far below;
	 * ids shuffled so that id order says nothing */
	for (int32_t i = 0; i < N; i++)
		perm[i] = i;
	for (int32_t i = N - 1; i > 0; i--)
	{
		int32_t		j = (int32_t) (test_uniform() * (i + 1));
		int32_t		t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int32_t i = 0; i < N; i++)
	{
		int32_t		rank = perm[i];

		if (rank < TOP)
			l[i] = 0.0f;
		else if (rank < TOP + CLUSTER)
			l[i] = -1.0f - 1e-4f * (float) rank;
		else
			l[i] = -20.0f - (float) test_uniform();
	}
	r = rank_all(l, N);
	cum = cumulative(r, N);
	kept = TOP + CLUSTER / 2;
	check_nucleus(l, N, r, kept, (float) ((cum[kept - 2] + cum[kept - 1]) / 2),
				  "top_p cut inside a tight cluster");
	free(r);
	free(cum);
	free(perm);
	free(l);
}

static void
test_penalties(void)
{
	struct sampler_params p = params_with(0.0f, 0, 1.0f, 0.0f, 0);
	float		base[10] = {1.0f, 2.0f, -1.0f, 3.0f, 0.5f, 2.0f, -2.0f, 4.0f, 0.0f, 1.0f};
	float		l[10];
	float		want[10];
	/* last 7: 0 2 -1 2 99 5 8; tokens 3 and 7 are older; -1 and 99 are ignored */
	int32_t		history[] = {3, 7, 0, 2, -1, 2, 99, 5, 8};
	struct sampler *s;
	int32_t		id;

	p.repeat_penalty = 2.0f;
	p.frequency_penalty = 0.5f;
	p.presence_penalty = 0.25f;
	p.penalty_last_n = 7;
	s = sampler_new(&p, 10);
	for (int round = 0; round < 2; round++)	/* counts must not leak */
	{
		memcpy(l, base, sizeof(l));
		memcpy(want, base, sizeof(want));
		want[0] = 1.0f / 2.0f - (1 * 0.5f + 0.25f);	/* positive: divided */
		want[2] = -1.0f * 2.0f - (2 * 0.5f + 0.25f);	/* negative: multiplied */
		want[5] = 2.0f / 2.0f - (1 * 0.5f + 0.25f);
		want[8] = 0.0f * 2.0f - (1 * 0.5f + 0.25f);
		id = sampler_sample(s, l, history, sizeof(history) / sizeof(history[0]), NULL);
		CHECK(id == 7, "greedy after penalties: %d", (int) id);
		for (int i = 0; i < 10; i++)
			CHECK(fabsf(l[i] - want[i]) < 1e-6f, "round %d: logit %d is %g, want %g",
				  round, i, l[i], want[i]);
	}
	sampler_free(s);

	/* the penalty moves greedy off a repeated token */
	p.penalty_last_n = 64;
	p.frequency_penalty = 0.0f;
	p.presence_penalty = 0.0f;
	p.repeat_penalty = 1.5f;
	s = sampler_new(&p, 10);
	{
		float		two[10] = {0, 3.0f, 2.5f, 0, 0, 0, 0, 0, 0, 0};
		int32_t		h[] = {1};

		CHECK(sampler_sample(s, two, h, 1, NULL) == 2, "repeat penalty changes the choice");
	}
	sampler_free(s);

	/* penalty_last_n 0 turns penalties off */
	p.penalty_last_n = 0;
	s = sampler_new(&p, 10);
	memcpy(l, base, sizeof(l));
	sampler_sample(s, l, history, sizeof(history) / sizeof(history[0]), NULL);
	CHECK(memcmp(l, base, sizeof(l)) == 0, "penalty_last_n 0 changed logits");
	sampler_free(s);
}

static void
test_mask_sampling(void)
{
	enum
	{
		N = 1000
	};
	float		l[N];
	bool		allowed[N] = {false};
	bool		want[N] = {false};
	struct sampler_params p = params_with(1.0f, 0, 0.95f, 0.0f, 5);

	random_logits(l, N, -2.0f, 2.0f);
	l[10] = 20.0f;				/* the best token is not allowed */
	allowed[3] = allowed[500] = allowed[999] = true;
	l[3] = l[500] = l[999] = 0.0f;
	memcpy(want, allowed, sizeof(want));
	{
		struct sampler *s = sampler_new(&p, N);
		bool	   *seen = calloc(N, sizeof(*seen));
		int			bad = 0;

		for (int i = 0; i < 3000; i++)
		{
			int32_t		id = sample_copy(s, l, N, allowed);

			if (id < 0 || !want[id])
				bad++;
			else
				seen[id] = true;
		}
		CHECK(bad == 0, "%d draws outside the mask", bad);
		CHECK(seen[3] && seen[500] && seen[999], "allowed tokens all drawn");
		free(seen);
		sampler_free(s);
	}
}

/* Choices {1 2 3}, {1 2 4}, {1 2}, {5}, {6 6}; eog 9. */
static void
check_allowed(const struct choice_set *c, const int32_t *gen, size_t n, bool want_more,
			  const int32_t *want, size_t n_want, const char *what)
{
	bool		allowed[10];
	bool		more = choice_set_allowed(c, gen, n, 9, allowed);
	int			wrong = 0;

	for (int32_t id = 0; id < 10; id++)
	{
		bool		w = false;

		for (size_t k = 0; k < n_want; k++)
			w |= want[k] == id;
		wrong += allowed[id] != w;
	}
	CHECK(more == want_more, "%s: returned %d", what, (int) more);
	CHECK(wrong == 0, "%s: %d tokens wrongly allowed or refused", what, wrong);
}

static void
test_choice_prefix(void)
{
	static const int32_t c0[] = {1, 2, 3};
	static const int32_t c1[] = {1, 2, 4};
	static const int32_t c2[] = {1, 2};
	static const int32_t c3[] = {5};
	static const int32_t c4[] = {6, 6};
	const int32_t *ids[] = {c0, c1, c2, c3, c4};
	size_t		lens[] = {3, 3, 2, 1, 2};
	char		err[ERR_MAX];
	struct choice_set *c = choice_set_from_ids(ids, lens, 5, 10, err);

	CHECK(c != NULL, "choice_set_from_ids: %s", err);
	if (c == NULL)
		return;
	check_allowed(c, NULL, 0, true, (int32_t[]){1, 5, 6}, 3, "nothing generated");
	check_allowed(c, (int32_t[]){1}, 1, true, (int32_t[]){2}, 1, "[1]");
	check_allowed(c, (int32_t[]){1, 2}, 2, true, (int32_t[]){3, 4, 9}, 3,
				  "[1 2]: complete and continued");
	check_allowed(c, (int32_t[]){1, 2, 3}, 3, false, (int32_t[]){9}, 1, "[1 2 3]: complete");
	check_allowed(c, (int32_t[]){5}, 1, false, (int32_t[]){9}, 1, "[5]: complete");
	check_allowed(c, (int32_t[]){6}, 1, true, (int32_t[]){6}, 1, "[6]: repeated token");
	check_allowed(c, (int32_t[]){6, 6}, 2, false, (int32_t[]){9}, 1, "[6 6]");
	check_allowed(c, (int32_t[]){7}, 1, false, NULL, 0, "[7]: no match");
	check_allowed(c, (int32_t[]){1, 3}, 2, false, NULL, 0, "[1 3]: diverged");
	check_allowed(c, (int32_t[]){1, 2, 3, 4}, 4, false, NULL, 0, "past every choice");
	choice_set_free(c);

	/* errors */
	{
		const int32_t *dup[] = {c0, c3, c0};
		size_t		dup_lens[] = {3, 1, 3};
		const int32_t *with_null[] = {c0, NULL};
		size_t		zero_lens[] = {3, 0};

		CHECK(choice_set_from_ids(NULL, NULL, 0, 10, err) == NULL &&
			  strcmp(err, "the list of choices is empty") == 0, "empty list: %s", err);
		CHECK(choice_set_from_ids(dup, dup_lens, 3, 10, err) == NULL &&
			  strcmp(err, "choice 3 duplicates choice 1") == 0, "duplicate: %s", err);
		CHECK(choice_set_from_ids(with_null, lens, 2, 10, err) == NULL &&
			  strcmp(err, "choice 2 is empty") == 0, "NULL choice: %s", err);
		CHECK(choice_set_from_ids(ids, zero_lens, 2, 10, err) == NULL &&
			  strcmp(err, "choice 2 is empty") == 0, "empty choice: %s", err);
		CHECK(choice_set_from_ids(ids, lens, 5, 6, err) == NULL &&
			  strcmp(err, "choice 5 has token 6 outside the vocabulary of 6") == 0,
			  "out of vocabulary: %s", err);
		choice_set_free(NULL);
	}
}

/* Generation under the mask always ends on exactly one choice. */
static void
test_choice_sampling(void)
{
	static const int32_t c0[] = {1, 2, 3};
	static const int32_t c1[] = {1, 2};
	static const int32_t c2[] = {4};
	const int32_t *ids[] = {c0, c1, c2};
	size_t		lens[] = {3, 2, 1};
	char		err[ERR_MAX];
	struct choice_set *c = choice_set_from_ids(ids, lens, 3, 10, err);
	struct sampler_params p = params_with(1.0f, 0, 1.0f, 0.0f, 77);
	struct sampler *s = sampler_new(&p, 10);
	int			ended[3] = {0};
	int			bad = 0;

	for (int round = 0; round < 600; round++)
	{
		int32_t		gen[8];
		size_t		n = 0;
		bool		allowed[10];
		float		l[10];
		int			which = -1;

		while (n < 8)
		{
			int32_t		id;

			random_logits(l, 10, -1.0f, 1.0f);
			if (!choice_set_allowed(c, gen, n, 9, allowed))
				break;
			id = sampler_sample(s, l, gen, n, allowed);
			if (id == 9)
				break;
			gen[n++] = id;
		}
		for (int k = 0; k < 3; k++)
			if (n == lens[k] && memcmp(gen, ids[k], n * sizeof(int32_t)) == 0)
				which = k;
		if (which < 0)
			bad++;
		else
			ended[which]++;
	}
	CHECK(bad == 0, "%d generations outside the choices", bad);
	CHECK(ended[0] > 0 && ended[1] > 0 && ended[2] > 0, "choices reached: %d %d %d",
		  ended[0], ended[1], ended[2]);
	sampler_free(s);
	choice_set_free(c);
}

static struct gguf_file *
open_model(const char *file, char *path, size_t size, char *err)
{
	const char *cache = getenv("DR1_MODEL_CACHE");
	const char *home = getenv("HOME");
	FILE	   *f;

	if (cache && cache[0])
		snprintf(path, size, "%s/%s", cache, file);
	else
		snprintf(path, size, "%s/.cache/deepseek_r1/models/%s", home ? home : "", file);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fclose(f);
	return gguf_open(path, err);
}

/* The real tokenizer: greedy generation under the mask spells a choice. */
static void
test_choice_tokenizer(void)
{
	static const char *const choices[] = {"positive", "negative", "neutral", "not sure"};
	char		path[1024];
	char		err[ERR_MAX] = "";
	struct gguf_file *g = open_model(SMOLLM2_FILE, path, sizeof(path), err);
	struct tokenizer *t;
	struct choice_set *c;
	int32_t		n_vocab;
	int32_t		eos;
	bool	   *allowed;
	float	   *l;
	struct sampler_params p = params_with(0.0f, 0, 1.0f, 0.0f, 0);
	struct sampler *s;

	if (g == NULL)
	{
		if (err[0])
			CHECK(false, "%s: %s", path, err);
		else
			check_missing("choice with the real tokenizer: %s absent", path);
		return;
	}
	t = tokenizer_load(g, err);
	CHECK(t != NULL, "tokenizer_load: %s", err);
	if (t == NULL)
	{
		gguf_close(g);
		return;
	}
	n_vocab = tokenizer_n_vocab(t);
	eos = tokenizer_eos(t);
	CHECK(eos >= 0 && eos < n_vocab, "%s: no end token", path);
	if (eos < 0 || eos >= n_vocab)
	{
		tokenizer_free(t);
		gguf_close(g);
		return;
	}
	c = choice_set_new(t, choices, 4, err);
	CHECK(c != NULL, "choice_set_new: %s", err);
	allowed = malloc((size_t) n_vocab * sizeof(*allowed));
	l = malloc((size_t) n_vocab * sizeof(*l));
	s = sampler_new(&p, n_vocab);

	/* steer greedy generation toward each choice by boosting its tokens */
	for (int k = 0; c && k < 4; k++)
	{
		struct token_list want = {0};
		struct token_list gen = {0};
		struct text_buf text = {0};
		struct detokenizer d;

		tokenizer_encode(t, choices[k], strlen(choices[k]), false, &want, err);
		while (choice_set_allowed(c, gen.ids, gen.n, eos, allowed))
		{
			int32_t		id;

			random_logits(l, n_vocab, -1.0f, 1.0f);
			if (gen.n < want.n)
				l[want.ids[gen.n]] = 5.0f;
			else
				l[eos] = 5.0f;
			id = sampler_sample(s, l, gen.ids, gen.n, allowed);
			if (id == eos)
				break;
			token_list_push(&gen, id);
		}
		detokenizer_init(&d, t, false);
		for (size_t i = 0; i < gen.n; i++)
			detokenizer_push(&d, gen.ids[i], &text);
		detokenizer_flush(&d, &text);
		CHECK(text.len == strlen(choices[k]) && memcmp(text.s, choices[k], text.len) == 0,
			  "steered to \"%s\", got \"%.*s\"", choices[k], (int) text.len,
			  text.s ? text.s : "");
		token_list_free(&want);
		token_list_free(&gen);
		text_buf_free(&text);
	}

	/* with adversarial logits the output is still one of the choices */
	for (int round = 0; c && round < 20; round++)
	{
		struct token_list gen = {0};
		struct text_buf text = {0};
		struct detokenizer d;
		bool		found = false;

		while (gen.n < 16 && choice_set_allowed(c, gen.ids, gen.n, eos, allowed))
		{
			int32_t		id;

			random_logits(l, n_vocab, -8.0f, 8.0f);
			id = sampler_sample(s, l, gen.ids, gen.n, allowed);
			if (id == eos)
				break;
			token_list_push(&gen, id);
		}
		detokenizer_init(&d, t, false);
		for (size_t i = 0; i < gen.n; i++)
			detokenizer_push(&d, gen.ids[i], &text);
		detokenizer_flush(&d, &text);
		for (int k = 0; k < 4; k++)
			found |= text.len == strlen(choices[k]) &&
				memcmp(text.s, choices[k], text.len) == 0;
		CHECK(found, "round %d: \"%.*s\" is no choice", round, (int) text.len,
			  text.s ? text.s : "");
		token_list_free(&gen);
		text_buf_free(&text);
	}

	{
		static const char *const dup[] = {"yes", "no", "yes"};
		static const char *const empty[] = {"yes", ""};

		CHECK(choice_set_new(t, dup, 3, err) == NULL &&
			  strcmp(err, "choice 3 duplicates choice 1") == 0, "duplicate: %s", err);
		CHECK(choice_set_new(t, empty, 2, err) == NULL &&
			  strcmp(err, "choice 2 is empty") == 0, "empty: %s", err);
		CHECK(choice_set_new(t, NULL, 0, err) == NULL, "no choices");
	}
	sampler_free(s);
	free(allowed);
	free(l);
	choice_set_free(c);
	tokenizer_free(t);
	gguf_close(g);
}

static void
check_stop(const char *text, const char *const *stops, size_t n, long want, size_t want_partial)
{
	size_t		partial = 12345;
	long		got = stop_find(text, strlen(text), stops, n, &partial);

	CHECK(got == want && partial == want_partial,
		  "stop_find(\"%s\"): offset %ld partial %zu, want %ld and %zu", text, got, partial,
		  want, want_partial);
}

static void
test_stop(void)
{
	static const char *const sql[] = {"\n\n", "```", "END"};
	static const char *const overlap[] = {"abcd", "bc"};
	static const char *const nested[] = {"aab", "ab"};
	static const char *const utf8[] = {"→fin", "。"};
	static const char *const ignored[] = {"", NULL, "x"};

	check_stop("SELECT 1;", sql, 3, -1, 0);
	check_stop("SELECT 1;\n\nmore```", sql, 3, 9, 2);
	check_stop("SELECT 1;```\n\n", sql, 3, 9, 1);
	check_stop("SELECT 1;\n", sql, 3, -1, 1);		/* "\n" may become "\n\n" */
	check_stop("SELECT 1; ``", sql, 3, -1, 2);
	check_stop("SELECT 1; EN", sql, 3, -1, 2);
	check_stop("SELECT 1; END", sql, 3, 10, 0);
	check_stop("", sql, 3, -1, 0);
	/* the earliest, whichever stop string it is */
	check_stop("xxabcdxx", overlap, 2, 2, 0);
	check_stop("xabc", overlap, 2, 2, 3);	/* "abc" still may become "abcd" */
	check_stop("aaab", nested, 2, 1, 0);
	check_stop("aaa", nested, 2, -1, 2);
	/* UTF-8: a partial character is held back byte by byte */
	check_stop("done \xe2\x86", utf8, 2, -1, 2);
	check_stop("done \xe2\x86\x92" "fi", utf8, 2, -1, 5);
	check_stop("done\xe3\x80\x82 \xe2\x86\x92" "fin", utf8, 2, 4, 0);
	check_stop("done \xe2\x86\x92" "fin", utf8, 2, 5, 0);
	/* empty and NULL stop strings are ignored */
	check_stop("abc", ignored, 3, -1, 0);
	check_stop("abxc", ignored, 3, 2, 0);
	check_stop("abc", NULL, 0, -1, 0);
	CHECK(stop_find("abc", 3, sql, 3, NULL) == -1, "partial may be NULL");
	/* only len bytes are searched */
	CHECK(stop_find("abENDc", 3, sql, 3, NULL) == -1, "length respected");
}

/*
 * A row with the features the candidates' order must get right: ties
 * (logits on a coarse grid), -0 beside +0, -inf (masked), and now and then
 * +inf or NaN.
 */
static void
awkward_logits(float *l, int32_t n, int round)
{
	for (int32_t i = 0; i < n; i++)
		l[i] = (float) (int) (test_uniform() * 24.0 - 12.0) * 0.5f;
	for (int32_t i = 0; i < n / 8; i++)
		l[(int32_t) (test_uniform() * n)] = test_uniform() < 0.5 ? -0.0f : 0.0f;
	for (int32_t i = 0; i < n / 4; i++)
		l[(int32_t) (test_uniform() * n)] = -INFINITY;
	if (round % 7 == 3)
		l[(int32_t) (test_uniform() * n)] = NAN;
	if (round % 11 == 5)
		l[(int32_t) (test_uniform() * n)] = INFINITY;
	if (round % 13 == 6)			/* nothing but -inf and NaN */
		for (int32_t i = 0; i < n; i++)
			l[i] = i % 3 ? -INFINITY : NAN;
	if (round % 17 == 8)
		for (int32_t i = 0; i < n; i++)
			l[i] = NAN;
}

/* top_logits_of_row against a full sort in top_logits_before's order,
 * which must be the sampler's (logits_argmax first). */
static int
cand_order(const void *x, const void *y, void *row)
{
	int32_t		a = *(const int32_t *) x;
	int32_t		b = *(const int32_t *) y;
	const float *l = row;

	return top_logits_before(l[a], a, l[b], b) ? -1 : top_logits_before(l[b], b, l[a], a) ? 1 : 0;
}

static void
test_top_logits_ref(void)
{
	enum
	{
		N = 700
	};
	float		l[N];
	int32_t		order[N];
	struct top_logits t;
	int			bad = 0;

	for (int round = 0; round < 300; round++)
	{
		int32_t		k = 1 + round % 37 * 7;

		awkward_logits(l, N, round);
		for (int32_t i = 0; i < N; i++)
			order[i] = i;
		qsort_r(order, N, sizeof(int32_t), cand_order, l);
		top_logits_of_row(l, N, k, &t);
		bad += t.n != k || order[0] != logits_argmax(l, N, NULL);
		for (int32_t i = 0; i < t.n; i++)
			bad += t.id[i] != order[i] || memcmp(&t.logit[i], &l[order[i]], sizeof(float)) != 0;
	}
	top_logits_of_row(l, 5, 9, &t);
	CHECK(t.n == 5, "k above the vocabulary gives the vocabulary, not %d", t.n);
	CHECK(bad == 0, "%d differences from the sorted order", bad);
	CHECK(top_logits_before(-0.0f, 1, 0.0f, 2) && !top_logits_before(0.0f, 2, -0.0f, 1),
		  "-0 and +0 tie");
	CHECK(top_logits_before(-INFINITY, 9, NAN, 1) && top_logits_before(NAN, 9, NAN, 1),
		  "NaN after -inf, the higher id first among NaNs");
}

/* Which requests may sample from candidates, and how many they need. */
static void
test_top_needed(void)
{
	struct sampler_params p = params_with(0.0f, 0, 1.0f, 0.0f, 1);
	struct
	{
		float		temperature;
		int32_t		top_k;
		float		top_p;
		float		repeat_penalty;
		float		presence_penalty;
		int32_t		penalty_last_n;
		bool		masked;
		int32_t		want;
	}			cases[] = {
		{0.0f, 0, 1.0f, 1.0f, 0.0f, 64, false, 1},	/* greedy: the first */
		{0.0f, 40, 0.9f, 1.0f, 0.0f, 64, false, 1},
		{0.0f, 0, 1.0f, 1.1f, 0.0f, 64, false, 0},	/* penalties move tokens */
		{0.0f, 0, 1.0f, 1.1f, 0.0f, 0, false, 1},	/* ... over no history */
		{0.0f, 0, 1.0f, 1.0f, -0.5f, 64, false, 0},
		{0.0f, 0, 1.0f, 1.0f, 0.0f, 64, true, 0},	/* a mask */
		{0.8f, 40, 1.0f, 1.0f, 0.0f, 64, false, 40},
		{0.8f, 40, 0.95f, 1.0f, 0.0f, 64, false, 40},
		{0.8f, TOP_LOGITS_MAX, 1.0f, 1.0f, 0.0f, 64, false, TOP_LOGITS_MAX},
		{0.8f, TOP_LOGITS_MAX + 1, 1.0f, 1.0f, 0.0f, 64, false, 0},
		{0.8f, 0, 0.95f, 1.0f, 0.0f, 64, false, 0},	/* top-p normalises over the row */
		{0.8f, 0, 1.0f, 1.0f, 0.0f, 64, false, 0},
		{0.8f, 1000, 1.0f, 1.0f, 0.0f, 64, false, 0},	/* top_k >= n_vocab: no cut */
		{0.8f, 40, 1.0f, 1.0f, 0.0f, 64, true, 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		struct sampler *s;
		int32_t		got;

		p.temperature = cases[i].temperature;
		p.top_k = cases[i].top_k;
		p.top_p = cases[i].top_p;
		p.repeat_penalty = cases[i].repeat_penalty;
		p.presence_penalty = cases[i].presence_penalty;
		p.penalty_last_n = cases[i].penalty_last_n;
		s = sampler_new(&p, 1000);
		got = sampler_top_needed(s, cases[i].masked);
		CHECK(got == cases[i].want, "case %zu: needs %d candidates, not %d", i, cases[i].want, got);
		sampler_free(s);
	}
}

/*
 * Where sampler_top_needed says k candidates suffice, sampling from the k
 * first gives what sampling the row gives, draw after draw (so the random
 * generators stay in step): greedy and top-k, with top-p and min-p after
 * it, at several temperatures, over awkward rows.
 */
static void
test_sample_from_top(void)
{
	enum
	{
		N = 3000,
		DRAWS = 40
	};
	float		temps[] = {0.0f, 0.3f, 1.0f, 2.5f};
	int32_t		ks[] = {1, 2, 5, 40, 97, TOP_LOGITS_MAX};
	float		top_ps[] = {1.0f, 0.9f, 0.3f};
	float		min_ps[] = {0.0f, 0.05f};
	float	   *l = malloc(N * sizeof(float));
	struct top_logits *t = malloc(sizeof *t);
	int			cases = 0;
	int			differ = 0;

	for (size_t a = 0; a < 4; a++)
		for (size_t b = 0; b < 6; b++)
			for (size_t c = 0; c < 3; c++)
				for (size_t d = 0; d < 2; d++)
				{
					struct sampler_params p = params_with(temps[a], ks[b], top_ps[c], min_ps[d],
														  cases + 1);
					struct sampler *row = sampler_new(&p, N);
					struct sampler *cand = sampler_new(&p, N);
					int32_t		k = sampler_top_needed(cand, false);

					CHECK(k == (temps[a] > 0 ? ks[b] : 1), "case %d: needs %d", cases, k);
					for (int i = 0; i < DRAWS; i++)
					{
						int32_t		want;

						awkward_logits(l, N, cases * DRAWS + i);
						if (i % 3 == 0)
							random_logits(l, N, -5.0f, 5.0f);
						top_logits_of_row(l, N, k, t);
						want = sample_copy(row, l, N, NULL);
						differ += sampler_sample_top(cand, t) != want;
					}
					sampler_free(row);
					sampler_free(cand);
					cases++;
				}
	CHECK(differ == 0, "sampling from the candidates differed %d times in %d", differ,
		  cases * DRAWS);
	free(l);
	free(t);
}

int
main(void)
{
	test_defaults_and_check();
	test_greedy();
	test_seeds();
	test_top_k_1_is_greedy();
	test_top_logits_ref();
	test_top_needed();
	test_sample_from_top();
	test_distribution();
	test_cutoffs_small();
	test_cutoffs_large();
	test_penalties();
	test_mask_sampling();
	test_choice_prefix();
	test_choice_sampling();
	test_choice_tokenizer();
	test_stop();
	return check_done("sampler");
}
