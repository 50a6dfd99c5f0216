/*
 * cli.h — the deepseek-r1 program's commands, as main dispatches them, and
 * the options they share (parsed by options.c; the helpers every command
 * uses are cli_util.h).
 */
#ifndef DR1_CLI_H
#define DR1_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "forward.h"

struct cli_opts
{
	const char *model;
	const char *prompt;
	const char *system;
	const char *file;			/* -f: generate's prompt, perplexity's text */
	int32_t		n_predict;		/* -n */
	int32_t		n_prompt;		/* bench -p */
	int32_t		parallel;		/* bench, generate --parallel: sequences decoded at once */
	const char *schema;			/* generate --schema: a JSON Schema's text or file */
	bool		timings;		/* generate --timings: a JSON line of times per answer */
	float		temperature;
	uint64_t	seed;
	int			threads;
	int32_t		ctx;
	bool		raw;
	bool		ids;
	bool		special;
	bool		truncate;		/* embed --truncate */
	int32_t		chunks;			/* perplexity --chunks; 0: all */
	int32_t		kl_top;			/* perplexity --kl-top; 0: the default */
	const char *kl_base;		/* perplexity --kl-base: compare with this base */
	const char *kl_base_save;	/* perplexity --kl-base-save: write this base */
	enum infer_device device;	/* --device auto|cpu|cuda */
	int32_t		depth;			/* bench -d: context before the decode steps */
	bool		random_kv;		/* bench --random-kv: that context random, not prefilled */
	enum sparse_mode sparse;	/* --sparse off|on|auto */
	int32_t		sparse_budget;	/* --sparse-budget TOKENS */
	int32_t		sparse_min_context; /* --sparse-min-context TOKENS (auto) */
	enum kv_type kv_type;		/* --kv-type f16|q8_0 */
};

/* The sparse attention the options ask for. */
static inline struct sparse_config
cli_sparse(const struct cli_opts *o)
{
	return sparse_config_of(o->sparse, o->sparse_budget, o->sparse_min_context);
}

int			cmd_info(const struct cli_opts *o);
int			cmd_tokenize(const struct cli_opts *o);
int			cmd_embed(const struct cli_opts *o);
int			cmd_generate(const struct cli_opts *o);
int			cmd_bench(const struct cli_opts *o);
int			cmd_perplexity(const struct cli_opts *o);
int			cmd_serve(int argc, char **argv);

#endif
