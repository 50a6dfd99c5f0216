/*
 * test_cli_options.c — the option parsing of the deepseek-r1 program
 * (src/cli/options.c, cli_util.c): serve's options as the worker passes
 * them, and those of the other commands; valid values, values out of
 * range, values that are not numbers, missing values, unknown options.
 * Every refusal returns 1 with one line naming the option and its range.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cli_util.h"
#include "options.h"

#define MAX_ARGS 32

static char message[512];

static FILE *capture_file;
static int	capture_saved = -1;

/* Catch what goes to stderr from here to capture_end in message. */
static void
capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	capture_saved = dup(STDERR_FILENO);
	if (capture_file)
		dup2(fileno(capture_file), STDERR_FILENO);
}

static void
capture_end(void)
{
	size_t		n = 0;

	fflush(stderr);
	dup2(capture_saved, STDERR_FILENO);
	close(capture_saved);
	if (capture_file)
	{
		rewind(capture_file);
		n = fread(message, 1, sizeof message - 1, capture_file);
		fclose(capture_file);
	}
	message[n] = '\0';
}

/* Run a parser on "deepseek-r1 CMD args..." with stderr caught in message. */
static int
run(const char *cmd, const char *const *args, struct cli_opts *co, struct serve_opts *so)
{
	char	   *argv[MAX_ARGS];
	int			argc = 0;
	int			rc;

	argv[argc++] = (char *) "deepseek-r1";
	argv[argc++] = (char *) cmd;
	for (; *args; args++)
		argv[argc++] = (char *) *args;
	argv[argc] = NULL;
	capture_begin();
	rc = so ? serve_parse_opts(argc, argv, so) : cli_parse_opts(argc, argv, !strcmp(cmd, "bench"), co);
	capture_end();
	return rc;
}

static int
serve(const char *const *args, struct serve_opts *o)
{
	*o = (struct serve_opts) SERVE_OPTS_INIT;
	return run("serve", args, NULL, o);
}

static int
cli(const char *cmd, const char *const *args, struct cli_opts *o)
{
	*o = (struct cli_opts) {.n_predict = -1, .n_prompt = -1, .parallel = 1, .threads = 1};
	return run(cmd, args, o, NULL);
}

/* A refusal: rc 1 and a message containing want. */
#define REFUSED(rc, want, what) \
	CHECK((rc) == 1 && strstr(message, (want)) != NULL, "%s: rc %d, message '%s', want '%s'", \
		  (what), (rc), message, (want))

static void
test_serve_valid(void)
{
	struct serve_opts o;
	int			rc;

	/* what engine_proc.c passes */
	rc = serve((const char *[]) {"--fd", "3", "--protocol", "2", "-m", "/m.gguf", "--device", "cpu",
								 "-t", "4", "-c", "4096", "--kv-bytes", "1073741824",
								 "--max-batch", "8", "--prefix-sharing", "off", NULL}, &o);
	CHECK(rc == 0 && message[0] == '\0', "the worker's command line: rc %d '%s'", rc, message);
	CHECK(o.fd == 3 && o.protocol == 2 && !strcmp(o.model, "/m.gguf") && !strcmp(o.device, "cpu") &&
		  o.threads == 4 && o.ctx == 4096 && o.kv_bytes == 1073741824LL && o.max_batch == 8 &&
		  !o.prefix_sharing && !o.embedding, "every value taken");
	rc = serve((const char *[]) {"--fd", "3", "-m", "/e.gguf", "--role", "embed", NULL}, &o);
	CHECK(rc == 0 && o.embedding, "--role embed: rc %d '%s'", rc, message);
	rc = serve((const char *[]) {"--fd", "3", "-m", "/e.gguf", "--role", "generate", NULL}, &o);
	CHECK(rc == 0 && !o.embedding, "--role generate");

	rc = serve((const char *[]) {"--fd", "0", "--model", "x", "--threads", "0", "--ctx-size", "0",
								 "--kv-bytes", "0", NULL}, &o);
	CHECK(rc == 0 && o.fd == 0 && o.ctx == 0 && o.kv_bytes == 0 && o.max_batch == 1 &&
		  o.prefix_sharing && o.threads >= 1, "zeros mean defaults; threads 0 becomes the cores: %d",
		  o.threads);
	rc = serve((const char *[]) {"--fd", "5", "-m", "x", "-t", "1024", "-c", "16777216",
								 "--max-batch", "1024", "--kv-bytes", "9223372036854775807", NULL}, &o);
	CHECK(rc == 0 && o.threads == 1024 && o.ctx == 1 << 24 && o.max_batch == 1024 &&
		  o.kv_bytes == 9223372036854775807LL, "the upper bounds are allowed");
	CHECK(SERVE_THREADS_MAX == 1024 && SERVE_CTX_MAX == 1 << 24 && SERVE_MAX_BATCH_MAX == 1024,
		  "the bounds are those of the settings");
}

static void
test_serve_refused(void)
{
	struct serve_opts o;

	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--role", "rerank", NULL}, &o),
			"serve: --role must be generate or embed", "unknown role");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--max-batch", "0", NULL}, &o),
			"--max-batch expects an integer in [1, 1024], got '0'", "max-batch 0");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--max-batch", "1025", NULL}, &o),
			"--max-batch expects an integer in [1, 1024]", "max-batch over");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "-t", "-1", NULL}, &o),
			"-t expects an integer in [0, 1024], got '-1'", "negative threads");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "-t", "2000", NULL}, &o),
			"-t expects an integer in [0, 1024]", "threads over");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "-c", "16777217", NULL}, &o),
			"-c expects an integer in [0, 16777216]", "context over");
	REFUSED(serve((const char *[]) {"--fd", "-2", "-m", "x", NULL}, &o),
			"--fd expects an integer in [0, 2147483647], got '-2'", "negative fd");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--kv-bytes", "-1", NULL}, &o),
			"--kv-bytes expects an integer in [0, 9223372036854775807]", "negative kv bytes");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--kv-bytes", "99999999999999999999", NULL}, &o),
			"--kv-bytes expects an integer", "kv bytes past 64 bits");

	/* not numbers: atoi would have taken these as 0 or 12 */
	REFUSED(serve((const char *[]) {"--fd", "three", "-m", "x", NULL}, &o),
			"--fd expects an integer in [0, 2147483647], got 'three'", "fd not a number");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "-t", "12abc", NULL}, &o),
			"-t expects an integer in [0, 1024], got '12abc'", "trailing garbage");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "-c", "", NULL}, &o),
			"-c expects an integer in [0, 16777216], got ''", "empty value");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--max-batch", "2.5", NULL}, &o),
			"--max-batch expects an integer", "a fraction");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--protocol", "v2", NULL}, &o),
			"--protocol expects an integer", "protocol not a number");

	/* missing values and options */
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", NULL}, &o),
			"serve: option -m needs a value", "missing value");
	REFUSED(serve((const char *[]) {"-m", "x", "--fd", NULL}, &o),
			"serve: option --fd needs a value", "missing fd value");
	REFUSED(serve((const char *[]) {"-m", "x", NULL}, &o), "serve needs --fd N and -m FILE", "no fd");
	REFUSED(serve((const char *[]) {"--fd", "3", NULL}, &o), "serve needs --fd N and -m FILE", "no model");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--bogus", "1", NULL}, &o),
			"serve: unknown option --bogus", "unknown option");
	REFUSED(serve((const char *[]) {"--fd", "3", "-m", "x", "--prefix-sharing", "yes", NULL}, &o),
			"serve: --prefix-sharing must be on or off", "prefix sharing");
}

static void
test_commands(void)
{
	struct cli_opts o;
	int			rc;

	rc = cli("generate", (const char *[]) {"-m", "f", "-p", "hi", "-n", "7", "--temp", "0.5",
										   "--seed", "42", "-t", "2", "-c", "64", "--raw", "--ids",
										   "--device", "cpu", "--system", "s", NULL}, &o);
	CHECK(rc == 0 && !strcmp(o.model, "f") && !strcmp(o.prompt, "hi") && o.n_predict == 7 &&
		  o.temperature == 0.5f && o.seed == 42 && o.threads == 2 && o.ctx == 64 && o.raw && o.ids &&
		  o.device == INFER_DEVICE_CPU && !strcmp(o.system, "s"), "generate: every value taken (%d '%s')",
		  rc, message);
	rc = cli("bench", (const char *[]) {"-m", "f", "-p", "128", "--parallel", "4", NULL}, &o);
	CHECK(rc == 0 && o.n_prompt == 128 && o.parallel == 4, "bench: -p is a length");
	rc = cli("tokenize", (const char *[]) {"-m", "f", "--special", NULL}, &o);
	CHECK(rc == 0 && o.special, "tokenize --special");
	rc = cli("embed", (const char *[]) {"-m", "f", "-t", "3", "--truncate", NULL}, &o);
	CHECK(rc == 0 && o.truncate && o.threads == 3, "embed -t 3 --truncate");
	rc = cli("embed", (const char *[]) {"-m", "f", NULL}, &o);
	CHECK(rc == 0 && !o.truncate, "embed without --truncate");
	rc = cli("perplexity", (const char *[]) {"-m", "f", "-f", "t.txt", "-c", "256", "--chunks", "3",
											 "--kl-base-save", "b", "--kl-top", "1024", NULL}, &o);
	CHECK(rc == 0 && !strcmp(o.file, "t.txt") && o.ctx == 256 && o.chunks == 3 &&
		  !strcmp(o.kl_base_save, "b") && o.kl_top == 1024 && !o.kl_base, "perplexity: every value taken");
	rc = cli("perplexity", (const char *[]) {"-m", "f", "--file", "t.txt", "--kl-base", "b", NULL}, &o);
	CHECK(rc == 0 && !strcmp(o.kl_base, "b") && !o.kl_base_save && o.kl_top == 0 && o.chunks == 0,
		  "perplexity --kl-base");
	rc = cli("generate", (const char *[]) {"-m", "f", "-f", "prompt.txt", NULL}, &o);
	CHECK(rc == 0 && !strcmp(o.file, "prompt.txt") && !o.prompt, "generate -f");
	rc = cli("bench", (const char *[]) {"-m", "f", "-c", "4096", NULL}, &o);
	CHECK(rc == 0 && o.ctx == 4096, "bench -c");

	REFUSED(cli("generate", (const char *[]) {"-m", "f", "-n", "-1", NULL}, &o),
			"-n expects an integer in [0, 1048576], got '-1'", "negative -n");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "-c", "8", NULL}, &o),
			"-c expects an integer in [16, 16777216], got '8'", "context under 16");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "-t", "0", NULL}, &o),
			"-t expects an integer in [1, 1024], got '0'", "no threads");
	REFUSED(cli("bench", (const char *[]) {"-m", "f", "--parallel", "257", NULL}, &o),
			"--parallel expects an integer in [1, 256]", "parallel over");
	REFUSED(cli("bench", (const char *[]) {"-m", "f", "-p", "many", NULL}, &o),
			"-p expects an integer in [1, 1048576], got 'many'", "bench -p not a number");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "--temp", "101", NULL}, &o),
			"--temp expects a number in [0, 100], got '101'", "temperature over");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "--temp", "nan", NULL}, &o),
			"--temp expects a number in [0, 100], got 'nan'", "temperature NaN");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "--seed", "-5", NULL}, &o),
			"--seed expects a non-negative integer, got '-5'", "negative seed");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "--seed", "1x", NULL}, &o),
			"--seed expects a non-negative integer, got '1x'", "seed not a number");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "--device", "tpu", NULL}, &o),
			"--device expects auto, cpu or cuda, got 'tpu'", "device");
	REFUSED(cli("generate", (const char *[]) {"-m", "f", "-n", NULL}, &o),
			"option -n needs a value (or is unknown)", "missing value");
	REFUSED(cli("generate", (const char *[]) {"-p", "x", NULL}, &o), "-m FILE is required", "no model");
	REFUSED(cli("perplexity", (const char *[]) {"-m", "f", "--kl-top", "1025", NULL}, &o),
			"--kl-top expects an integer in [1, 1024], got '1025'", "--kl-top over");
	REFUSED(cli("perplexity", (const char *[]) {"-m", "f", "--chunks", "0", NULL}, &o),
			"--chunks expects an integer in [1, 16777216], got '0'", "no chunks");
	REFUSED(cli("perplexity", (const char *[]) {"-m", "f", "--parallel", "2", NULL}, &o),
			"unknown option --parallel", "--parallel is bench's and generate's");
	REFUSED(cli("bench", (const char *[]) {"-m", "f", "--schema", "{}", NULL}, &o),
			"unknown option --schema", "--schema is generate's");
}

static void
test_value_parsers(void)
{
	int64_t		n = 0;
	uint64_t	u = 0;
	float		f = 0;
	int			rc;

	CHECK(cli_parse_int("-x", "  12", 0, 20, &n) == 0 && n == 12, "leading blanks as strtoll");
	CHECK(cli_parse_int("-x", "-20", -20, 20, &n) == 0 && n == -20, "the lower bound is allowed");
	capture_begin();
	rc = cli_parse_int("-x", "0x10", 0, 100, &n);
	capture_end();
	REFUSED(rc, "deepseek-r1: -x expects an integer in [0, 100], got '0x10'\n", "decimal only");
	CHECK(cli_parse_u64("--seed", "18446744073709551615", &u) == 0 && u == UINT64_MAX, "full 64-bit seed");
	capture_begin();
	rc = cli_parse_u64("--seed", "18446744073709551616", &u);
	capture_end();
	REFUSED(rc, "--seed expects a non-negative integer", "a seed past 64 bits");
	CHECK(cli_parse_float("--temp", "1e-3", 0, 100, &f) == 0 && f == 1e-3f, "exponent form");
	capture_begin();
	rc = cli_parse_float("--temp", "-0.1", 0, 100, &f);
	capture_end();
	REFUSED(rc, "--temp expects a number in [0, 100], got '-0.1'", "under the range");
}

int
main(void)
{
	test_serve_valid();
	test_serve_refused();
	test_commands();
	test_value_parsers();
	return check_done("test_cli_options");
}
