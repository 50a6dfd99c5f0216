/*
 * test_embed.c — embeddings (embed.h) against their references.
 *
 * all-MiniLM-L6-v2 (bert; F32, F16, Q8_0 from scripts/fetch-models.sh
 * minilm) against llama.cpp on the same file (test/golden/
 * embed-minilm-llama.tsv, make-embed-goldens.py) and against
 * sentence-transformers on the original safetensors (embed-minilm-st.tsv,
 * make-st-goldens.py); SmolLM2 (a decoder, last-token pooling) against
 * llama.cpp (embed-smollm2-llama.tsv).  For every text our input ids must
 * be the reference's, and every cosine at least the threshold; the minimum
 * and mean are printed.  Besides: an input's embedding is the same alone
 * and batched, decoder inputs longer than a pass, truncation, and the
 * errors.  A missing model is check_missing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "embed.h"
#include "error.h"
#include "model.h"

/* A golden line: reference, text as hex, ids, the embedding. */
struct golden
{
	char		ref[32];
	char	   *text;
	size_t		len;
	struct token_list ids;
	float	   *emb;
	int			dim;
};

struct golden_set
{
	struct golden *g;
	int			n;
};

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool
parse_line(char *line, struct golden *g)
{
	char	   *f[4];
	char	   *p = line;
	char	   *end;

	for (int i = 0; i < 4; i++)
	{
		f[i] = p;
		p = strchr(p, i < 3 ? '\t' : '\n');
		if (!p && i < 3)
			return false;
		if (p)
			*p++ = '\0';
	}
	snprintf(g->ref, sizeof g->ref, "%s", f[0]);
	g->len = strlen(f[1]) / 2;
	g->text = malloc(g->len + 1);
	for (size_t i = 0; i < g->len; i++)
		g->text[i] = (char) (hexval(f[1][2 * i]) * 16 + hexval(f[1][2 * i + 1]));
	g->text[g->len] = '\0';
	g->ids = (struct token_list) {0};
	for (p = f[2]; *p; p = end)
	{
		long		v = strtol(p, &end, 10);

		if (end == p)
			break;
		token_list_push(&g->ids, (int32_t) v);
	}
	g->emb = NULL;
	g->dim = 0;
	for (p = f[3]; *p; p = end)
	{
		float		v = strtof(p, &end);

		if (end == p)
			break;
		g->emb = realloc(g->emb, (g->dim + 1) * sizeof(float));
		g->emb[g->dim++] = v;
	}
	return g->dim > 0;
}

/* The lines of a golden file whose reference is ref. */
static struct golden_set
read_golden(const char *path, const char *ref)
{
	struct golden_set s = {NULL, 0};
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		cap = 0;

	CHECK(f != NULL, "cannot open %s", path);
	while (f && getline(&line, &cap, f) > 0)
	{
		struct golden g;

		if (!parse_line(line, &g))
		{
			CHECK(false, "%s: malformed line", path);
			break;
		}
		if (strcmp(g.ref, ref) != 0)
		{
			free(g.text);
			token_list_free(&g.ids);
			free(g.emb);
			continue;
		}
		s.g = realloc(s.g, (s.n + 1) * sizeof *s.g);
		s.g[s.n++] = g;
	}
	free(line);
	if (f)
		fclose(f);
	return s;
}

static void
free_golden(struct golden_set *s)
{
	for (int i = 0; i < s->n; i++)
	{
		free(s->g[i].text);
		token_list_free(&s->g[i].ids);
		free(s->g[i].emb);
	}
	free(s->g);
}

static double
cosine(const float *a, const float *b, int d)
{
	double		ab = 0,
				aa = 0,
				bb = 0;

	for (int i = 0; i < d; i++)
	{
		ab += (double) a[i] * b[i];
		aa += (double) a[i] * a[i];
		bb += (double) b[i] * b[i];
	}
	return ab / sqrt(aa * bb);
}

static bool
same_ids(const struct token_list *a, const struct token_list *b)
{
	return a->n == b->n && memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0;
}

/* A model and its context; NULL (after check_missing) when the file is absent. */
static struct infer_ctx *
open_model(const char *file, int32_t max_batch_tokens)
{
	char		path[1024];
	char		err[ERR_MAX];
	struct model *m;
	struct infer_ctx *ic;

	check_model_path(path, sizeof path, file);
	if (access(path, R_OK) != 0)
	{
		check_missing("%s not found (scripts/fetch-models.sh)", path);
		return NULL;
	}
	m = model_load(path, err);
	CHECK(m != NULL, "load %s: %s", file, err);
	if (!m)
		return NULL;
	ic = infer_new(m, &(struct infer_config) {.n_threads = 2, .max_batch_tokens = max_batch_tokens,
				   .device = INFER_DEVICE_CPU}, err);
	CHECK(ic != NULL, "context for %s: %s", file, err);
	if (!ic)
		model_free(m);
	return ic;
}

static void
close_model(struct infer_ctx *ic)
{
	struct model *m = ic->model;

	infer_free(ic);
	model_free(m);
}

/*
 * Our ids and embeddings for every text of set against the reference's,
 * all texts in one embed_batch (several passes); the first `alone` inputs
 * are embedded again one by one and must come out bit for bit the same.
 */
static void
compare(struct infer_ctx *ic, const char *label, const struct golden_set *set, double min_cos, double max_diff,
		int alone)
{
	int			d = embed_dim(ic->model);
	struct token_list *in = calloc(set->n, sizeof *in);
	float	   *out = malloc((size_t) set->n * d * sizeof(float));
	float	   *one = malloc(d * sizeof(float));
	char		err[ERR_MAX];
	int			same = 0;
	double		lo = 2.0,
				sum = 0.0,
				far = 0.0;

	CHECK(set->n >= 1 && set->g[0].dim == d, "%s: golden of dimension %d", label, d);
	for (int i = 0; i < set->n; i++)
	{
		CHECK(embed_tokenize(ic->model, set->g[i].text, set->g[i].len, &in[i], err) == 0,
			  "%s: tokenize: %s", label, err);
		same += same_ids(&in[i], &set->g[i].ids);
		if (!same_ids(&in[i], &set->g[i].ids))
			fprintf(stderr, "%s: ids differ from the reference's for %s\n", label, set->g[i].text);
	}
	CHECK(same == set->n, "%s: %d of %d inputs with the reference's ids", label, same, set->n);
	CHECK(embed_batch(ic, in, set->n, out, err) == 0, "%s: embed_batch: %s", label, err);
	for (int i = 0; i < set->n && set->g[i].dim == d; i++)
	{
		double		c = cosine(out + (size_t) i * d, set->g[i].emb, d);

		lo = c < lo ? c : lo;
		sum += c;
		for (int j = 0; j < d; j++)
			far = fmax(far, fabs((double) out[(size_t) i * d + j] - set->g[i].emb[j]));
		if (c < min_cos)
			fprintf(stderr, "%s: cosine %.6f for %s\n", label, c, set->g[i].text);
	}
	CHECK(lo >= min_cos, "%s: minimum cosine %.6f below %.4f", label, lo, min_cos);
	CHECK(max_diff == 0.0 || far <= max_diff, "%s: an element %.3g from the reference's", label, far);
	printf("  %s: %d texts, ids identical %d, cosine min %.7f mean %.7f, largest difference %.3g\n",
		   label, set->n, same, lo, sum / set->n, far);
	for (int i = 0; i < alone && i < set->n; i++)
		CHECK(embed_batch(ic, &in[i], 1, one, err) == 0 &&
			  memcmp(one, out + (size_t) i * d, d * sizeof(float)) == 0,
			  "%s: input %d alone equals it batched", label, i);
	for (int i = 0; i < set->n; i++)
		token_list_free(&in[i]);
	free(in);
	free(out);
	free(one);
}

/*
 * Against llama.cpp every float step is its own bit for bit, Q8_0 included
 * (whose 8-bit activations would amplify any last-bit difference), except
 * mean pooling's summation order (llama.cpp multiplies by a 1/n column; we
 * sum and scale once): the elements differ by an ulp or two, hence
 * max_diff.  Against sentence-transformers the weights' own rounding is
 * most of the distance.
 */
static const struct
{
	const char *file;
	const char *llama_ref;
	double		llama_min;
	double		st_min;			/* against sentence-transformers (F32 weights) */
}			minilm[] = {
	{"all-MiniLM-L6-v2-F32.gguf", "llama-F32", 0.999999, 0.99999},
	{"all-MiniLM-L6-v2-F16.gguf", "llama-F16", 0.999999, 0.99999},
	{"all-MiniLM-L6-v2-Q8_0.gguf", "llama-Q8_0", 0.999999, 0.998},
};

/* an element of our embedding and llama.cpp's: two ulps of a value near 0.3 */
static const double llama_max_diff = 1e-6;

/* Truncation keeps [SEP]; empty, too long and foreign inputs are refused;
 * the encoder does not generate. */
static void
check_bert_edges(struct infer_ctx *ic)
{
	struct token_list l = {0};
	float	   *out = malloc(embed_dim(ic->model) * sizeof(float));
	char		err[ERR_MAX];
	struct kv_seq seq = {0};
	int32_t		tok = 101;

	CHECK(embed_pooling(ic->model) == POOLING_MEAN && !strcmp(pooling_name(POOLING_MEAN), "mean") &&
		  embed_dim(ic->model) == 384 && embed_max_tokens(ic->model) == 512, "MiniLM: mean, 384, 512");
	for (int i = 0; i < 600; i++)
		token_list_push(&l, 1000 + i);
	token_list_push(&l, 102);
	CHECK(embed_batch(ic, &l, 1, out, err) == -1 && strstr(err, "at most 512"), "too long refused: %s", err);
	embed_truncate(ic->model, &l, 512);
	CHECK(l.n == 512 && l.ids[511] == 102 && l.ids[510] == 1510, "truncation keeps [SEP]");
	CHECK(embed_batch(ic, &l, 1, out, err) == 0, "a truncated input embeds: %s", err);
	l.n = 0;
	CHECK(embed_batch(ic, &l, 1, out, err) == -1 && strstr(err, "no tokens"), "empty input refused");
	token_list_push(&l, 30522);
	CHECK(embed_batch(ic, &l, 1, out, err) == -1 && strstr(err, "outside the vocabulary"),
		  "foreign id refused: %s", err);
	CHECK(embed_tokenize(ic->model, "\xC3", 1, &l, err) == -1, "invalid UTF-8 refused");
	CHECK(infer_forward(ic, &(struct seq_batch) {&seq, &tok, 1, true, {0}}, 1, out, err) == -1 &&
		  strstr(err, "encoder"), "the encoder does not generate: %s", err);
	token_list_free(&l);
	free(out);
}

static void
check_minilm(void)
{
	struct golden_set st = read_golden("test/golden/embed-minilm-st.tsv", "sentence-transformers");

	for (size_t k = 0; k < sizeof minilm / sizeof minilm[0]; k++)
	{
		struct infer_ctx *ic = open_model(minilm[k].file, 2048);
		struct golden_set ref;
		char		label[128];

		if (!ic)
			continue;
		ref = read_golden("test/golden/embed-minilm-llama.tsv", minilm[k].llama_ref);
		CHECK(ref.n >= 100 && st.n >= 100, "%s: at least 100 golden texts", minilm[k].file);
		snprintf(label, sizeof label, "%s vs llama.cpp", minilm[k].file);
		compare(ic, label, &ref, minilm[k].llama_min, llama_max_diff, 8);
		snprintf(label, sizeof label, "%s vs sentence-transformers", minilm[k].file);
		compare(ic, label, &st, minilm[k].st_min, 0.0, 0);
		if (k == 0)
			check_bert_edges(ic);
		free_golden(&ref);
		close_model(ic);
	}
	free_golden(&st);
}

/*
 * A decoder input longer than a pass goes in pieces, the KV cache carrying
 * it: the same embedding whether batched with others or alone, at a pass
 * of 512 tokens or of 2048.
 */
static void
check_long_decoder_input(struct infer_ctx *ic, const struct golden_set *set)
{
	struct infer_ctx *small = open_model("SmolLM2-135M-Instruct-Q4_1.gguf", 512);
	int			d = embed_dim(ic->model);
	struct token_list in[3] = {{0}};
	float	   *a = malloc(3 * (size_t) d * sizeof(float));
	float	   *b = malloc((size_t) d * sizeof(float));
	char		err[ERR_MAX];

	for (int i = 0; i < set->n; i++)
		for (size_t j = 0; j < set->g[i].ids.n; j++)
			token_list_push(&in[1], set->g[i].ids.ids[j]);
	token_list_push(&in[0], 1);
	token_list_push(&in[2], 2);
	CHECK(in[1].n > 512, "a long decoder input (%zu tokens)", in[1].n);
	CHECK(small && embed_batch(small, in, 3, a, err) == 0, "long input, passes of 512: %s", err);
	CHECK(embed_batch(ic, &in[1], 1, b, err) == 0 && memcmp(a + d, b, d * sizeof(float)) == 0,
		  "long input: the same alone at passes of 2048");
	CHECK(fabs(cosine(b, b, d) - 1.0) < 1e-6, "long input: normalised");
	for (int i = 0; i < 3; i++)
		token_list_free(&in[i]);
	free(a);
	free(b);
	if (small)
		close_model(small);
}

static void
check_smollm2(void)
{
	struct infer_ctx *ic = open_model("SmolLM2-135M-Instruct-Q4_1.gguf", 2048);
	struct golden_set ref;

	if (!ic)
		return;
	ref = read_golden("test/golden/embed-smollm2-llama.tsv", "llama-Q4_1");
	CHECK(embed_pooling(ic->model) == POOLING_LAST, "SmolLM2 (no pooling_type): last");
	CHECK(ref.n >= 20, "SmolLM2: at least 20 golden texts");
	compare(ic, "SmolLM2-135M-Instruct-Q4_1.gguf vs llama.cpp", &ref, 0.999999, llama_max_diff, 8);
	check_long_decoder_input(ic, &ref);
	free_golden(&ref);
	close_model(ic);
}

int
main(void)
{
	check_minilm();
	check_smollm2();
	return check_done("embed");
}
