/*
 * cmd_generate.c — `deepseek-r1 generate`: one prompt, one answer.  The
 * prompt is -p TEXT or the contents of -f FILE (one of the two).
 */
#include <stdlib.h>

#include "cli.h"
#include "cli_util.h"
#include "cuda_backend.h"
#include "error.h"
#include "generate.h"
#include "prompt.h"

int
cmd_generate(const struct cli_opts *o)
{
	char		err[ERR_MAX];
	struct model *m;
	struct infer_ctx *ic = NULL;
	struct token_list prompt = {0};
	struct gen_params gp = {0};
	struct gen_result r = {0};
	char	   *file_text = NULL;
	size_t		file_len;
	const char *text = o->prompt;
	int			rc = 1;

	if (o->prompt && o->file)
		return cli_fail("generate takes -p TEXT or -f FILE, not both");
	if (!o->prompt && !o->file)
		return cli_fail("generate needs -p TEXT or -f FILE");
	if (o->file)
	{
		if (cli_read_text(o->file, &file_text, &file_len) != 0)
			return 1;
		text = file_text;
	}
	m = model_load(o->model, err);
	if (!m)
	{
		free(file_text);
		return cli_fail("%s", err);
	}
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
		sampler_params_default(&gp.sampling);
		gp.sampling.temperature = o->temperature;
		gp.sampling.seed = o->seed;
		gp.max_tokens = o->n_predict >= 0 ? o->n_predict : 256;
		gp.sparse = cli_sparse(o);
		if (generate(ic, &prompt, &gp, &r, err) != 0)
			cli_fail("%s", err);
		else
		{
			if (o->ids)
				print_ids(stdout, r.tokens.ids, r.tokens.n);
			else
			{
				if (r.text.len > 0)
					fwrite(r.text.s, 1, r.text.len, stdout);
				fputc('\n', stdout);
			}
			rc = 0;
		}
	}
	gen_result_free(&r);
	token_list_free(&prompt);
	infer_free(ic);
	model_free(m);
	free(file_text);
	return rc;
}
