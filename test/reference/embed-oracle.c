/*
 * embed-oracle.c — reference embeddings from llama.cpp (our own program
 * linking against an out-of-tree llama.cpp build; see build-llama-cpp.sh).
 *
 *   embed-oracle MODEL mean|cls|last ids|text|tokens < inputs
 *
 * ids: each line of stdin is one input's token ids, space-separated,
 * exactly as the model is fed (with [CLS]/[SEP] or BOS), so that the oracle
 * compares the forward pass and the pooling only.  text: each line is a
 * text as hex, tokenized by llama.cpp (its special tokens added as the file
 * says, none parsed in the text); tokens: only print those ids, one input a
 * line.  Each input is decoded alone (one sequence, every token an output, flash
 * attention off, as our CPU backend computes), pooled by llama.cpp as
 * asked, and L2-normalised as llama-embedding does (common_embd_normalize,
 * norm 2).  Prints one JSON array per line, %.9g.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void
quiet_log(enum ggml_log_level level, const char *text, void *data)
{
	(void) data;
	if (level == GGML_LOG_LEVEL_ERROR)
		fputs(text, stderr);
}

/* The ids of one line; returns their count (at most cap). */
static int
parse_ids(char *line, llama_token *ids, int cap)
{
	int			n = 0;

	for (char *tok = strtok(line, " \t\n"); tok && n < cap; tok = strtok(NULL, " \t\n"))
		ids[n++] = (llama_token) atoi(tok);
	return n;
}

/* The ids llama.cpp gives the hex-encoded text of one line. */
static int
tokenize_hex(const struct llama_vocab *vocab, const char *line, llama_token *ids, int cap)
{
	static char text[1 << 19];
	int			len = 0;
	unsigned	byte;

	while (sscanf(line + 2 * len, "%2x", &byte) == 1 && len < (int) sizeof text)
		text[len++] = (char) byte;
	return llama_tokenize(vocab, text, len, ids, cap, true, false);
}

static void
print_normalized(const float *e, int d)
{
	double		sum = 0.0;
	float		norm;

	for (int i = 0; i < d; i++)
		sum += (double) e[i] * e[i];
	sum = sqrt(sum);
	norm = sum > 0.0 ? (float) (1.0 / sum) : 0.0f;
	putchar('[');
	for (int i = 0; i < d; i++)
		printf(i ? ",%.9g" : "%.9g", e[i] * norm);
	fputs("]\n", stdout);
}

int
main(int argc, char **argv)
{
	enum llama_pooling_type pooling;
	struct llama_model_params mp;
	struct llama_context_params cp;
	struct llama_model *model;
	struct llama_context *ctx;
	static char line[1 << 20];
	static llama_token ids[1 << 16];
	int			n_ctx;
	const char *mode;

	if (argc != 4)
	{
		fprintf(stderr, "usage: embed-oracle MODEL mean|cls|last ids|text|tokens < inputs\n");
		return 2;
	}
	mode = argv[3];
	pooling = !strcmp(argv[2], "mean") ? LLAMA_POOLING_TYPE_MEAN
		: !strcmp(argv[2], "cls") ? LLAMA_POOLING_TYPE_CLS : LLAMA_POOLING_TYPE_LAST;
	llama_log_set(quiet_log, NULL);
	llama_backend_init();
	mp = llama_model_default_params();
	model = llama_model_load_from_file(argv[1], mp);
	if (!model)
		return 1;
	n_ctx = llama_model_n_ctx_train(model) < 8192 ? llama_model_n_ctx_train(model) : 8192;
	cp = llama_context_default_params();
	cp.n_ctx = n_ctx;
	cp.n_batch = n_ctx;
	cp.n_ubatch = n_ctx;
	cp.n_seq_max = 1;
	cp.embeddings = true;
	cp.pooling_type = pooling;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	cp.n_threads = cp.n_threads_batch = 2;
	ctx = llama_init_from_model(model, cp);
	if (!ctx)
		return 1;
	while (fgets(line, sizeof line, stdin))
	{
		int			n = !strcmp(mode, "ids") ? parse_ids(line, ids, n_ctx)
			: tokenize_hex(llama_model_get_vocab(model), line, ids, n_ctx);
		const float *e;

		if (!strcmp(mode, "tokens"))
		{
			for (int i = 0; i < n; i++)
				printf(i ? " %d" : "%d", ids[i]);
			putchar('\n');
			continue;
		}
		llama_memory_clear(llama_get_memory(ctx), true);
		if (n == 0 || llama_decode(ctx, llama_batch_get_one(ids, n)) != 0 ||
			(e = llama_get_embeddings_seq(ctx, 0)) == NULL)
		{
			fprintf(stderr, "embed-oracle: decoding an input of %d tokens failed\n", n);
			return 1;
		}
		print_normalized(e, llama_model_n_embd(model));
	}
	llama_free(ctx);
	llama_model_free(model);
	return 0;
}
