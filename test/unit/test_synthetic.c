/*
 * test_synthetic.c — logits of synthetic models against llama.cpp's.
 *
 * test/golden/synthetic/NAME.txt holds the generator arguments, the prompt
 * ids and llama.cpp's logits after the prompt (made by
 * test/reference/make-synthetic-goldens.sh).  The model is regenerated from
 * the same arguments (check_synthetic_model).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "error.h"
#include "forward.h"
#include "model.h"

#define GOLDEN_DIR "test/golden/synthetic"
#define TOLERANCE 1e-3

struct golden
{
	char		args[512];
	struct token_list ids;
	float	   *logits;
	int			n_logits;
};

static int
golden_read(const char *path, struct golden *g)
{
	FILE	   *f = fopen(path, "r");
	char		line[1 << 16];
	char	   *p;
	char	   *end;
	int			cap = 1024;

	memset(g, 0, sizeof *g);
	if (!f || !fgets(g->args, sizeof g->args, f) || !fgets(line, sizeof line, f))
	{
		if (f)
			fclose(f);
		return -1;
	}
	g->args[strcspn(g->args, "\n")] = '\0';
	for (p = line;; p = end)
	{
		long		v = strtol(p, &end, 10);

		if (end == p)
			break;
		token_list_push(&g->ids, (int32_t) v);
	}
	g->logits = malloc(cap * sizeof(float));
	while (fgets(line, sizeof line, f))
	{
		if (g->n_logits == cap)
			g->logits = realloc(g->logits, (cap *= 2) * sizeof(float));
		g->logits[g->n_logits++] = strtof(line, NULL);
	}
	fclose(f);
	return 0;
}

static void
check_model(const char *name)
{
	char		path[512];
	char		err[ERR_MAX];
	struct golden g;
	struct model *m;
	struct infer_ctx *ic;
	struct kv_seq seq = {0};
	float	   *logits;
	double		max_diff = 0;

	snprintf(path, sizeof path, "%s/%s.txt", GOLDEN_DIR, name);
	CHECK(golden_read(path, &g) == 0, "%s: unreadable golden", name);
	if (check_synthetic_model(name, g.args, path, sizeof path) != 0)
	{
		check_missing("%s: cannot generate the model (python3 with numpy and gguf needed)", name);
		return;
	}
	m = model_load(path, err);
	CHECK(m != NULL, "%s: %s", name, err);
	if (!m)
		return;
	ic = infer_new(m, &(struct infer_config) {.n_threads = 2, .n_ctx = 512}, err);
	logits = malloc(m->hp.n_vocab * sizeof(float));
	CHECK(g.n_logits == m->hp.n_vocab, "%s: %d golden logits for %d tokens", name, g.n_logits, m->hp.n_vocab);
	if (ic && g.n_logits == m->hp.n_vocab)
	{
		struct seq_batch b = {&seq, g.ids.ids, (int32_t) g.ids.n, true, {0}};

		CHECK(infer_forward(ic, &b, 1, logits, err) == 0, "%s: %s", name, err);
		for (int i = 0; i < g.n_logits; i++)
		{
			double		d = logits[i] - g.logits[i];

			if (d < 0)
				d = -d;
			if (d > max_diff)
				max_diff = d;
		}
		CHECK(max_diff <= TOLERANCE, "%s: logits differ from llama.cpp's by %g", name, max_diff);
		printf("%-28s max |ours - llama.cpp| = %.3g\n", name, max_diff);
	}
	free(logits);
	kv_seq_release(ic->kv, &seq);
	infer_free(ic);
	model_free(m);
	token_list_free(&g.ids);
	free(g.logits);
}

int
main(void)
{
	int			n = check_each_golden(GOLDEN_DIR, check_model);

	CHECK(n >= 0, "cannot open %s (run from the repository root)", GOLDEN_DIR);
	CHECK(n >= 10, "only %d synthetic goldens found", n);
	return check_done("synthetic");
}
