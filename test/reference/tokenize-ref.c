/*
 * tokenize-ref.c — token ids from llama.cpp, for the golden files.
 *
 *   tokenize-ref MODEL.gguf TEXTS.hex > tokens.tsv
 *
 * TEXTS.hex holds one text a line as hex of its UTF-8 bytes, so every byte
 * reaches the tokenizer exactly.  For each text two lines are written:
 * "<hex>\t0\t<ids>" without and "<hex>\t1\t<ids>" with special-token
 * parsing; never BOS/EOS.  Built by make-token-goldens.sh against libllama;
 * only the vocabulary is loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void
quiet(enum ggml_log_level level, const char *text, void *data)
{
	(void) level;
	(void) text;
	(void) data;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a hex line in place; returns the byte count or -1. */
static long
unhex(char *line, size_t n)
{
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2)
	{
		int			hi = hexval(line[i]),
					lo = hexval(line[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		line[i / 2] = (char) (hi * 16 + lo);
	}
	return (long) (n / 2);
}

static void
emit(const struct llama_vocab *vocab, const char *hex, const char *text,
	 long len, int special)
{
	int32_t		cap = (int32_t) len + 16;
	llama_token *ids = malloc(sizeof *ids * cap);
	int32_t		n = llama_tokenize(vocab, text, (int32_t) len, ids, cap, false, special);

	if (n < 0)
	{
		cap = -n;
		ids = realloc(ids, sizeof *ids * cap);
		n = llama_tokenize(vocab, text, (int32_t) len, ids, cap, false, special);
	}
	printf("%s\t%d\t", hex, special);
	for (int32_t i = 0; i < n; i++)
		printf(i ? " %d" : "%d", ids[i]);
	putchar('\n');
	free(ids);
}

int
main(int argc, char **argv)
{
	struct llama_model_params mp;
	struct llama_model *model;
	FILE	   *in;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		got;

	if (argc != 3)
	{
		fprintf(stderr, "usage: %s MODEL.gguf TEXTS.hex\n", argv[0]);
		return 2;
	}
	llama_log_set(quiet, NULL);
	llama_backend_init();
	mp = llama_model_default_params();
	mp.vocab_only = true;
	model = llama_model_load_from_file(argv[1], mp);
	if (model == NULL)
	{
		fprintf(stderr, "cannot load %s\n", argv[1]);
		return 1;
	}
	in = fopen(argv[2], "r");
	if (in == NULL)
	{
		perror(argv[2]);
		return 1;
	}
	while ((got = getline(&line, &cap, in)) >= 0)
	{
		char	   *hex;
		long		len;

		if (got > 0 && line[got - 1] == '\n')
			line[--got] = '\0';
		hex = strdup(line);
		len = unhex(line, (size_t) got);
		if (len < 0)
		{
			fprintf(stderr, "bad hex line: %s\n", hex);
			return 1;
		}
		emit(llama_model_get_vocab(model), hex, line, len, 0);
		emit(llama_model_get_vocab(model), hex, line, len, 1);
		free(hex);
	}
	free(line);
	fclose(in);
	llama_model_free(model);
	llama_backend_free();
	return 0;
}
