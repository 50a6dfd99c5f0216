/*
 * cmd_embed.c — `deepseek-r1 embed`: one text per line of stdin, one JSON
 * array per line of stdout (the L2-normalised embedding).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "embed.h"
#include "error.h"

/* Lines embedded together: a pass is at most the context's batch anyway. */
#define EMBED_LINES_PER_BATCH 64

struct batch
{
	struct token_list in[EMBED_LINES_PER_BATCH];
	int			n;
	size_t		tokens;
};

/* %.9g: enough digits that every float reads back as itself. */
static void
print_row(const float *v, int d)
{
	putchar('[');
	for (int i = 0; i < d; i++)
		printf(i ? ",%.9g" : "%.9g", v[i]);
	fputs("]\n", stdout);
}

static int
flush_batch(struct infer_ctx *ic, struct batch *b, float *out)
{
	char		err[ERR_MAX];
	int			d = embed_dim(ic->model);
	int			rc = 0;

	if (b->n > 0 && embed_batch(ic, b->in, b->n, out, err) != 0)
		rc = cli_fail("%s", err);
	for (int i = 0; i < b->n; i++)
	{
		if (rc == 0)
			print_row(out + (size_t) i * d, d);
		token_list_free(&b->in[i]);
	}
	b->n = 0;
	b->tokens = 0;
	return rc;
}

/* Line number lineno (text, len bytes) as an input: an error over the
 * limit unless --truncate. */
static int
add_line(const struct cli_opts *o, const struct infer_ctx *ic, long lineno, const char *text,
		 size_t len, struct token_list *ids)
{
	char		err[ERR_MAX];
	int32_t		max = embed_max_tokens(ic->model) < ic->n_ctx ? embed_max_tokens(ic->model) : ic->n_ctx;

	if (embed_tokenize(ic->model, text, len, ids, err) != 0)
		return cli_fail("line %ld: %s", lineno, err);
	if (ids->n > (size_t) max && !o->truncate)
		return cli_fail("line %ld: the input has %zu tokens; the model takes at most %d (--truncate cuts it)",
						lineno, ids->n, max);
	embed_truncate(ic->model, ids, max);
	return 0;
}

static int
embed_lines(const struct cli_opts *o, struct infer_ctx *ic)
{
	struct batch b = {.n = 0};
	float	   *out = malloc((size_t) EMBED_LINES_PER_BATCH * embed_dim(ic->model) * sizeof(float));
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long		lineno = 0;
	int			rc = 0;

	if (!out)
		return cli_fail("out of memory");
	while (rc == 0 && (len = getline(&line, &cap, stdin)) >= 0)
	{
		struct token_list *ids = &b.in[b.n];

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		*ids = (struct token_list) {0};
		rc = add_line(o, ic, ++lineno, line, (size_t) len, ids);
		if (rc != 0)
		{
			token_list_free(ids);
			break;
		}
		b.n++;
		b.tokens += ids->n;
		if (b.n == EMBED_LINES_PER_BATCH || b.tokens >= (size_t) ic->max_batch_tokens)
			rc = flush_batch(ic, &b, out);
	}
	if (rc == 0 && ferror(stdin))
		rc = cli_fail("cannot read standard input");
	if (rc == 0)
		rc = flush_batch(ic, &b, out);
	else
		for (int i = 0; i < b.n; i++)
			token_list_free(&b.in[i]);
	free(line);
	free(out);
	return rc;
}

int
cmd_embed(const struct cli_opts *o)
{
	char		err[ERR_MAX];
	struct model *m = model_load(o->model, err);
	struct infer_ctx *ic;
	int			rc;

	if (!m)
		return cli_fail("%s", err);
	/* the CPU: hidden states are not a GPU backend's output */
	ic = infer_new(m, &(struct infer_config) {.n_threads = o->threads, .n_ctx = o->ctx,
				   .device = INFER_DEVICE_CPU}, err);
	if (!ic)
	{
		model_free(m);
		return cli_fail("%s", err);
	}
	rc = embed_lines(o, ic);
	infer_free(ic);
	model_free(m);
	return rc;
}
