/*
 * cmd_generate.c — `deepseek-r1 generate`: one prompt, one answer (or
 * --parallel N answers, seeds S..S+N-1, one a line).  The prompt is -p TEXT
 * or the contents of -f FILE (one of the two).  --schema JSON|FILE makes
 * each answer a JSON value the schema accepts (a text starting with '{' is
 * the schema itself, anything else names its file); the schema is appended
 * to the prompt after DR1_SCHEMA_INSTRUCTION, and an answer cut short by -n
 * is an error (exit status 1) after all are printed.  --timings writes one
 * JSON line per answer to stderr: its prompt and generated tokens and the
 * seconds of prefill and decode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "cli_util.h"
#include "cuda_backend.h"
#include "error.h"
#include "generate.h"
#include "prompt.h"
#include "protocol.h"

/* The schema's text, from the option itself or from its file. */
static int
read_schema(const char *arg, char **text, size_t *len)
{
	const char *p = arg;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '{')
	{
		*text = xstrdup(arg);
		*len = strlen(arg);
		return 0;
	}
	return cli_read_text(arg, text, len);
}

/* The prompt text followed by the schema instruction and the schema. */
static char *
schema_prompt(const char *text, const char *schema, size_t schema_len)
{
	size_t		n = strlen(text);
	size_t		k = strlen(DR1_SCHEMA_INSTRUCTION);
	char	   *out = xmalloc(n + k + schema_len + 1);

	memcpy(out, text, n);
	memcpy(out + n, DR1_SCHEMA_INSTRUCTION, k);
	memcpy(out + n + k, schema, schema_len);
	out[n + k + schema_len] = '\0';
	return out;
}

static int
print_results(const struct cli_opts *o, const struct gen_result *r, size_t n)
{
	int			rc = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (o->ids)
			print_ids(stdout, r[i].tokens.ids, r[i].tokens.n);
		else
		{
			if (r[i].text.len > 0)
				fwrite(r[i].text.s, 1, r[i].text.len, stdout);
			fputc('\n', stdout);
		}
		if (o->timings)
			fprintf(stderr, "{\"prompt_tokens\":%d,\"generated_tokens\":%zu,\"prefill_s\":%.4f,"
					"\"decode_s\":%.4f}\n", r[i].n_prompt, r[i].tokens.n, r[i].prefill_seconds,
					r[i].decode_seconds);
		if (o->schema && r[i].finish != FINISH_SCHEMA && r[i].finish != FINISH_EOG)
			rc = cli_fail("answer %zu: max tokens (-n) reached before the JSON value was complete",
						  i + 1);
	}
	return rc;
}

static int
run(const struct cli_opts *o, struct model *m, const char *text, const char *schema,
	size_t schema_len)
{
	char		err[ERR_MAX];
	size_t		n = o->parallel > 0 ? (size_t) o->parallel : 1;
	struct infer_ctx *ic;
	struct token_list prompt = {0};
	struct gen_params *gp = xcalloc(n, sizeof(*gp));
	struct gen_result *r = xcalloc(n, sizeof(*r));
	int			rc = 1;

	ic = infer_new(m, &(struct infer_config) {.n_threads = o->threads, .n_ctx = o->ctx,
				   .kv_type = o->kv_type, .device = o->device, .gpu_ops = &cuda_backend_ops}, err);
	if (ic && !ic->gpu && o->device == INFER_DEVICE_AUTO)
		fprintf(stderr, "deepseek-r1: %s\n", ic->device_note);
	if (!ic)
		cli_fail("%s", err);
	else if (prompt_tokens(m, text, o->system, o->raw, &prompt, err) != 0)
		cli_fail("%s", err);
	else
	{
		for (size_t i = 0; i < n; i++)
		{
			sampler_params_default(&gp[i].sampling);
			gp[i].sampling.temperature = o->temperature;
			gp[i].sampling.seed = o->seed + i;
			gp[i].max_tokens = o->n_predict >= 0 ? o->n_predict : 256;
			gp[i].sparse = cli_sparse(o);
			gp[i].schema = schema;
			gp[i].schema_len = schema_len;
		}
		if (generate_many(ic, &prompt, gp, n, r, err) != 0)
			cli_fail("%s", err);
		else
			rc = print_results(o, r, n);
	}
	for (size_t i = 0; i < n; i++)
		gen_result_free(&r[i]);
	free(r);
	free(gp);
	token_list_free(&prompt);
	infer_free(ic);
	return rc;
}

int
cmd_generate(const struct cli_opts *o)
{
	char		err[ERR_MAX];
	struct model *m;
	char	   *file_text = NULL;
	char	   *schema = NULL;
	char	   *with_schema = NULL;
	size_t		len;
	size_t		schema_len = 0;
	const char *text = o->prompt;
	int			rc;

	if (o->prompt && o->file)
		return cli_fail("generate takes -p TEXT or -f FILE, not both");
	if (!o->prompt && !o->file)
		return cli_fail("generate needs -p TEXT or -f FILE");
	if (o->file)
	{
		if (cli_read_text(o->file, &file_text, &len) != 0)
			return 1;
		text = file_text;
	}
	if (o->schema)
	{
		if (read_schema(o->schema, &schema, &schema_len) != 0)
		{
			free(file_text);
			return 1;
		}
		text = with_schema = schema_prompt(text, schema, schema_len);
	}
	m = model_load(o->model, err);
	rc = m ? run(o, m, text, schema, schema_len) : cli_fail("%s", err);
	model_free(m);
	free(with_schema);
	free(schema);
	free(file_text);
	return rc;
}
