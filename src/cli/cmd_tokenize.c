/*
 * cmd_tokenize.c — `deepseek-r1 tokenize`: stdin, verbatim, to token ids.
 */
#include <stdlib.h>

#include "cli.h"
#include "cli_util.h"
#include "error.h"
#include "gguf.h"
#include "tokenizer.h"

static int
read_all(FILE *in, struct text_buf *b)
{
	char		chunk[65536];
	size_t		n;

	while ((n = fread(chunk, 1, sizeof chunk, in)) > 0)
		text_buf_append(b, chunk, n);
	return ferror(in) ? -1 : 0;
}

int
cmd_tokenize(const struct cli_opts *o)
{
	char		err[ERR_MAX];
	struct gguf_file *f;
	struct tokenizer *tok;
	struct text_buf text = {0};
	struct token_list ids = {0};
	int			rc = 1;

	/* only the vocabulary is needed: no weights are checked or touched */
	f = gguf_open(o->model, err);
	if (!f)
		return cli_fail("%s", err);
	tok = tokenizer_load(f, err);
	if (!tok)
	{
		gguf_close(f);
		return cli_fail("%s", err);
	}
	if (read_all(stdin, &text) != 0)
		cli_fail("cannot read standard input");
	else if (tokenizer_encode(tok, text.s ? text.s : "", text.len, o->special, &ids, err) != 0)
		cli_fail("%s", err);
	else
	{
		print_ids(stdout, ids.ids, ids.n);
		rc = 0;
	}
	token_list_free(&ids);
	text_buf_free(&text);
	tokenizer_free(tok);
	gguf_close(f);
	return rc;
}
