/*
 * cli.h — the deepseek-r1 program's commands and their shared options.
 */
#ifndef DR1_CLI_H
#define DR1_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "forward.h"
#include "tokenizer.h"

struct cli_opts
{
	const char *model;
	const char *prompt;
	const char *system;
	int32_t		n_predict;		/* -n */
	int32_t		n_prompt;		/* bench -p */
	int32_t		parallel;		/* bench --parallel: sequences decoded at once */
	float		temperature;
	uint64_t	seed;
	int			threads;
	int32_t		ctx;
	bool		raw;
	bool		ids;
	bool		special;
	enum infer_device device;	/* --device auto|cpu|cuda */
};

/* "auto", "cpu" or "cuda"; -1 for anything else. */
int			device_parse(const char *name, enum infer_device *out);

int			cmd_info(const struct cli_opts *o);
int			cmd_tokenize(const struct cli_opts *o);
int			cmd_generate(const struct cli_opts *o);
int			cmd_bench(const struct cli_opts *o);
int			cmd_serve(int argc, char **argv);

/* Print a one-line error to stderr; returns the exit status 1. */
int			cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write s (len bytes of UTF-8) as a JSON string literal. */
void		json_string(FILE *out, const char *s, size_t len);

/* Print ids on one line, separated by single spaces. */
void		print_ids(FILE *out, const int32_t *ids, size_t n);

#endif
