/*
 * main.c — the deepseek-r1 program: argument parsing and dispatch.
 *
 *   deepseek-r1 info     -m FILE
 *   deepseek-r1 tokenize -m FILE [--special]             (text on stdin)
 *   deepseek-r1 generate -m FILE -p TEXT [-n N] [--temp T] [--seed S] [-t THREADS]
 *                        [--system TEXT] [--raw] [--ids] [-c CTX]
 *   deepseek-r1 bench    -m FILE [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-t THREADS] [--parallel N]
 *   deepseek-r1 serve    --fd N -m FILE ...     (started by the extension's worker)
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
	"usage: deepseek-r1 info -m FILE\n"
	"       deepseek-r1 tokenize -m FILE [--special]   (reads text from stdin)\n"
	"       deepseek-r1 generate -m FILE -p TEXT [-n N] [--temp T] [--seed S] [-t THREADS]\n"
	"                            [--system TEXT] [--raw] [--ids] [-c CTX] [--device auto|cpu|cuda]\n"
	"       deepseek-r1 bench -m FILE [-p PROMPT_TOKENS] [-n GEN_TOKENS] [-t THREADS] [--parallel N]\n";

int
cli_fail(const char *fmt, ...)
{
	va_list		ap;

	fputs("deepseek-r1: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

void
json_string(FILE *out, const char *s, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void
print_ids(FILE *out, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, i ? " %d" : "%d", ids[i]);
	fputc('\n', out);
}

int
device_parse(const char *name, enum infer_device *out)
{
	if (!strcmp(name, "auto"))
		*out = INFER_DEVICE_AUTO;
	else if (!strcmp(name, "cpu"))
		*out = INFER_DEVICE_CPU;
	else if (!strcmp(name, "cuda"))
		*out = INFER_DEVICE_GPU;
	else
		return -1;
	return 0;
}

static int
parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
	char	   *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || end == s || *end || *out < lo || *out > hi)
		return cli_fail("%s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
	return 0;
}

static int
parse_float(const char *opt, const char *s, float lo, float hi, float *out)
{
	char	   *end;

	errno = 0;
	*out = strtof(s, &end);
	if (errno || end == s || *end || !(*out >= lo && *out <= hi))
		return cli_fail("%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
	return 0;
}

static int
parse_seed(const char *s, uint64_t *out)
{
	char	   *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return cli_fail("--seed expects a non-negative integer, got '%s'", s);
	return 0;
}

static int
parse_opts(int argc, char **argv, bool bench, struct cli_opts *o)
{
	for (int i = 2; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		long		n;
		int			rc = 0;
		bool		takes_value = true;

		if (!strcmp(a, "--raw"))
			o->raw = true, takes_value = false;
		else if (!strcmp(a, "--ids"))
			o->ids = true, takes_value = false;
		else if (!strcmp(a, "--special"))
			o->special = true, takes_value = false;
		else if (!v)
			return cli_fail("option %s needs a value (or is unknown)", a);
		else if (!strcmp(a, "-m") || !strcmp(a, "--model"))
			o->model = v;
		else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && bench)
			rc = parse_long(a, v, 1, 1 << 20, &n), o->n_prompt = (int32_t) n;
		else if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
			o->prompt = v;
		else if (!strcmp(a, "--system"))
			o->system = v;
		else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict"))
			rc = parse_long(a, v, 0, 1 << 20, &n), o->n_predict = (int32_t) n;
		else if (!strcmp(a, "--parallel") && bench)
			rc = parse_long(a, v, 1, 256, &n), o->parallel = (int32_t) n;
		else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
			rc = parse_long(a, v, 1, 1024, &n), o->threads = (int) n;
		else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
			rc = parse_long(a, v, 16, 1 << 24, &n), o->ctx = (int32_t) n;
		else if (!strcmp(a, "--temp"))
			rc = parse_float(a, v, 0.0f, 100.0f, &o->temperature);
		else if (!strcmp(a, "--seed"))
			rc = parse_seed(v, &o->seed);
		else if (!strcmp(a, "--device"))
		{
			if (device_parse(v, &o->device) != 0)
				return cli_fail("--device expects auto, cpu or cuda, got '%s'", v);
		}
		else
			return cli_fail("unknown option %s", a);
		if (rc)
			return rc;
		if (takes_value)
			i++;
	}
	if (!o->model)
		return cli_fail("-m FILE is required");
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli_opts o = {.n_predict = -1, .temperature = 0.0f, .n_prompt = -1, .parallel = 1};
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
	if (strcmp(cmd, "info") && strcmp(cmd, "tokenize") && strcmp(cmd, "generate") && strcmp(cmd, "bench"))
	{
		fputs(usage, stderr);
		return cli_fail("unknown command '%s'", cmd);
	}
	if (parse_opts(argc, argv, !strcmp(cmd, "bench"), &o))
		return 1;
	if (!strcmp(cmd, "info"))
		return cmd_info(&o);
	if (!strcmp(cmd, "tokenize"))
		return cmd_tokenize(&o);
	if (!strcmp(cmd, "generate"))
		return cmd_generate(&o);
	return cmd_bench(&o);
}
