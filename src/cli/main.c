/*
 * main.c — the deepseek-r1 program: dispatch to its commands (options.c
 * parses their options).
 *
 *   deepseek-r1 info     -m FILE
 *   deepseek-r1 tokenize -m FILE [--special]             (text on stdin)
 *   deepseek-r1 embed    -m FILE [-t THREADS] [-c CTX] [--truncate]  (a text per line on stdin)
 *   deepseek-r1 generate -m FILE (-p TEXT | -f FILE) [-n N] [--temp T] [--seed S] [-t THREADS]
 *                        [--schema JSON|FILE] [--parallel N] [--timings]
 *                        [--system TEXT] [--raw] [--ids] [-c CTX]
 *   deepseek-r1 bench    -m FILE [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-t THREADS] [--parallel N] [-c CTX]
 *                        [-d DEPTH]
 *   deepseek-r1 perplexity -m FILE -f TEXT [-c CTX] [-t THREADS] [--chunks N]
 *                        [--kl-base-save OUT [--kl-top K] | --kl-base IN]
 *   (generate, bench, perplexity: [--sparse off|on|auto] [--sparse-budget N]
 *    [--sparse-min-context N] [--kv-type f16|q8_0])
 *   deepseek-r1 serve    --fd N -m FILE ...     (started by the extension's worker)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "dr1_limits.h"
#include "options.h"

#define CPP_STR_(x) #x
#define CPP_STR(x) CPP_STR_(x)

static const char usage[] =
	"usage: deepseek-r1 info -m FILE\n"
	"       deepseek-r1 tokenize -m FILE [--special]   (reads text from stdin)\n"
	"       deepseek-r1 embed -m FILE [-t THREADS] [-c CTX] [--truncate]   (a text per line of stdin)\n"
	"       deepseek-r1 generate -m FILE (-p TEXT | -f FILE) [-n N] [--temp T] [--seed S] [-t THREADS]\n"
	"                            [--system TEXT] [--raw] [--ids] [-c CTX] [--device auto|cpu|cuda]\n"
	"                            [--schema JSON|FILE] [--parallel N] [--timings]   (JSON that fits\n"
	"                            the schema; N answers, seeds S..S+N-1, one a line; times on stderr)\n"
	"       deepseek-r1 bench -m FILE [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-t THREADS] [--parallel N] [-c CTX]\n"
	"                            [-d DEPTH [--random-kv]]   (decode after DEPTH tokens of context,\n"
	"                            prefilled or random)\n"
	"       deepseek-r1 perplexity -m FILE -f TEXT [-c CTX (512)] [-t THREADS] [--chunks N]\n"
	"                            [--kl-base-save OUT [--kl-top K (32)] | --kl-base IN]\n"
	"           as llama-perplexity: windows of CTX tokens, the second half of each scored;\n"
	"           --kl-base-save writes the top-K distributions (llama's --kl-divergence-base),\n"
	"           --kl-base compares with them: KL, top-1 agreement, RMS dp (one JSON line)\n"
	"   generate, bench and perplexity also take:\n"
	"       --sparse off|on|auto   dynamic sparse attention while decoding (perplexity: for every\n"
	"                              token, as if decoded); auto from --sparse-min-context\n"
	"       --sparse-budget TOKENS (" CPP_STR(DR1_SPARSE_BUDGET_DEFAULT) ")  --sparse-min-context TOKENS ("
	CPP_STR(DR1_SPARSE_MIN_CONTEXT_DEFAULT) ")\n"
	"       --kv-type f16|q8_0     how the KV cache stores keys and values\n";

int
main(int argc, char **argv)
{
	struct cli_opts o = {.n_predict = -1, .temperature = 0.0f, .n_prompt = -1, .parallel = 1,
		.sparse_budget = DR1_SPARSE_BUDGET_DEFAULT,
	.sparse_min_context = DR1_SPARSE_MIN_CONTEXT_DEFAULT};
	const char *cmd = argc > 1 ? argv[1] : "";
	long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	o.threads = ncpu > 0 ? (int) ncpu : 1;
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
	{
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc, argv);	/* the extension's engine process */
	if (strcmp(cmd, "info") && strcmp(cmd, "tokenize") && strcmp(cmd, "embed") &&
		strcmp(cmd, "generate") && strcmp(cmd, "bench") && strcmp(cmd, "perplexity"))
	{
		fputs(usage, stderr);
		return cli_fail("unknown command '%s'", cmd);
	}
	if (cli_parse_opts(argc, argv, !strcmp(cmd, "bench"), &o))
		return 1;
	if (!strcmp(cmd, "info"))
		return cmd_info(&o);
	if (!strcmp(cmd, "tokenize"))
		return cmd_tokenize(&o);
	if (!strcmp(cmd, "embed"))
		return cmd_embed(&o);
	if (!strcmp(cmd, "generate"))
		return cmd_generate(&o);
	if (!strcmp(cmd, "perplexity"))
		return cmd_perplexity(&o);
	return cmd_bench(&o);
}
