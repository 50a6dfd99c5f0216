/*
 * options.h — the command lines of the deepseek-r1 program: the options of
 * info, tokenize, embed, generate, bench and perplexity (struct cli_opts, cli.h) and those of
 * serve, the extension's engine process.  Every numeric value is parsed by
 * cli_parse_int or cli_parse_float (cli_util.h) against its range.
 */
#ifndef DR1_OPTIONS_H
#define DR1_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "perplexity.h"

/* perplexity --kl-top: the most top entries a base keeps per position */
#define KL_TOP_MAX PPL_TOP_MAX

/* argv[2..argc) of info, tokenize, embed, generate, bench or perplexity (bench: -p is the
 * prompt length, --parallel is allowed).  0, or 1 after cli_fail. */
int			cli_parse_opts(int argc, char **argv, bool bench, struct cli_opts *o);

struct serve_opts
{
	int			fd;				/* --fd, required */
	const char *model;			/* -m, required */
	const char *device;			/* --device, checked when the model loads */
	int			threads;		/* -t; 0: one per core */
	int32_t		ctx;			/* -c; 0: the model's own */
	long long	kv_bytes;		/* --kv-bytes; 0: max_batch full contexts */
	int			max_batch;		/* --max-batch */
	int			protocol;		/* --protocol, checked when the model loads */
	bool		prefix_sharing; /* --prefix-sharing on|off */
	bool		embedding;		/* --role embed: serve an embedding model */
	enum kv_type kv_type;		/* --kv-type f16|q8_0 */
};

/* Ranges of serve's options: those of the settings the worker passes
 * (pg_init.c: deepseek_r1.threads, context_length, max_batch). */
#define SERVE_THREADS_MAX 1024
#define SERVE_CTX_MAX (1 << 24)
#define SERVE_MAX_BATCH_MAX 1024

/* serve's defaults, before its options are parsed. */
#define SERVE_OPTS_INIT {.fd = -1, .max_batch = 1, .prefix_sharing = true}

/* argv[2..argc) of serve; o holds the defaults.  0, or 1 after cli_fail. */
int			serve_parse_opts(int argc, char **argv, struct serve_opts *o);

#endif
