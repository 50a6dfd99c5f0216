/*
 * test_moe_routing.c — each token's experts against llama.cpp's routing.
 *
 * test/golden/routing/NAME.txt holds the generator arguments of a synthetic
 * deepseek2 model, the prompt ids, then what llama.cpp's graph chose
 * (ffn_moe_topk) in each MoE layer for each token of the prompt, best
 * first: "LAYER TOKEN EXPERT..." (test/reference/make-synthetic-goldens.sh).
 * We run the same prompt and record our choice through infer_ctx.route_hook.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "error.h"
#include "forward.h"
#include "model.h"

#define GOLDEN_DIR "test/golden/routing"

/* Our choices: per (layer, row) the experts, best first. */
struct routing
{
	int32_t		n_layer;
	int32_t		n_used;
	int32_t		n_rows[64];		/* rows each layer routed */
	int32_t    *chosen[64];		/* [n_rows][n_used] */
};

static void
record(void *arg, int32_t layer, int32_t T, int32_t n_used, const int32_t *chosen)
{
	struct routing *r = arg;

	if (layer < 0 || layer >= 64)
		return;
	free(r->chosen[layer]);
	r->chosen[layer] = malloc((size_t) T * n_used * sizeof(int32_t));
	memcpy(r->chosen[layer], chosen, (size_t) T * n_used * sizeof(int32_t));
	r->n_rows[layer] = T;
	r->n_used = n_used;
}

/* The golden's rows after its two header lines (n_used experts each),
 * checked against ours. */
static void
compare(const char *name, FILE *f, const struct routing *r, int32_t n_used)
{
	int			layer;
	int			row;
	int			n_lines = 0;
	int			n_same = 0;

	while (fscanf(f, "%d %d", &layer, &row) == 2)
	{
		bool		same = layer >= 0 && layer < 64 && row >= 0 && row < r->n_rows[layer] &&
			r->n_used == n_used;

		for (int k = 0; k < n_used; k++)
		{
			int			e = -1;

			if (fscanf(f, "%d", &e) != 1)
				e = -1;
			same = same && r->chosen[layer][(size_t) row * n_used + k] == e;
		}
		n_lines++;
		n_same += same;
		CHECK(same, "%s: layer %d token %d: our experts differ from llama.cpp's", name, layer, row);
	}
	CHECK(n_lines > 0, "%s: no routing rows in the golden", name);
	printf("%-28s %d of %d routing rows as llama.cpp's\n", name, n_same, n_lines);
}

static void
check_routing(const char *name)
{
	char		path[512];
	char		args[512];
	char		line[1 << 16];
	char		err[ERR_MAX];
	struct token_list ids = {0};
	struct routing r = {0};
	struct kv_seq seq = {0};
	struct model *m = NULL;
	struct infer_ctx *ic = NULL;
	FILE	   *f;

	snprintf(path, sizeof path, "%s/%s.txt", GOLDEN_DIR, name);
	f = fopen(path, "r");
	CHECK(f && fgets(args, sizeof args, f) && fgets(line, sizeof line, f), "%s: unreadable golden", name);
	if (!f)
		return;
	args[strcspn(args, "\n")] = '\0';
	for (char *p = line, *end;; p = end)
	{
		long		v = strtol(p, &end, 10);

		if (end == p)
			break;
		token_list_push(&ids, (int32_t) v);
	}
	if (check_synthetic_model(name, args, path, sizeof path) != 0)
		check_missing("%s: cannot generate the model (python3 with numpy and gguf needed)", name);
	else if ((m = model_load(path, err)) == NULL)
		CHECK(false, "%s: %s", name, err);
	else if (!m->hp.mla)
		CHECK(false, "%s: not a mixture of experts", name);
	else if ((ic = infer_new(m, &(struct infer_config) {.n_threads = 2, .n_ctx = 512}, err)) == NULL)
		CHECK(false, "%s: %s", name, err);
	else
	{
		float	   *logits = malloc(m->hp.n_vocab * sizeof(float));
		struct seq_batch b = {&seq, ids.ids, (int32_t) ids.n, true, {0}};
		bool		ran;

		ic->route_hook = record;
		ic->route_hook_arg = &r;
		ran = infer_forward(ic, &b, 1, logits, err) == 0;
		CHECK(ran, "%s: %s", name, err);
		if (ran)
			compare(name, f, &r, m->hp.mla->n_expert_used);
		free(logits);
		kv_seq_release(ic->kv, &seq);
	}
	for (int l = 0; l < 64; l++)
		free(r.chosen[l]);
	infer_free(ic);
	model_free(m);
	token_list_free(&ids);
	fclose(f);
}

int
main(void)
{
	int			n = check_each_golden(GOLDEN_DIR, check_routing);

	CHECK(n >= 0, "cannot open %s (run from the repository root)", GOLDEN_DIR);
	CHECK(n >= 1, "no routing goldens found");
	return check_done("moe_routing");
}
