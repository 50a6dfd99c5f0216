/*
 * check.h — the unit tests' tiny harness.
 *
 * CHECK(cond, fmt, ...) counts a pass or prints a failure with its location;
 * check_done() prints "N passed, N failed" and gives main's exit status.
 */
#ifndef DR1_CHECK_H
#define DR1_CHECK_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int	check_passed;
static int	check_failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			check_passed++; \
		else \
		{ \
			check_failed++; \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

static inline int
check_done(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

/*
 * The tests' data generator: xorshift64 (shifts 13, 7, 17), independent of
 * the sampler's.  Each suite keeps its own state and seed, so its data is
 * the data its assertions were written against; it takes the bits it needs
 * from the returned value.
 */
static inline uint64_t
check_rng_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/*
 * A prerequisite of some checks (a model file, a Python package) is absent.
 * With DR1_REQUIRE_ALL set (test/run-all.sh sets it: it fetches every
 * prerequisite first) that is a failure, so that no suite passes by
 * skipping; elsewhere the checks are skipped with a visible SKIP line.
 */
static inline void
check_missing(const char *fmt,...)
{
	const char *require = getenv("DR1_REQUIRE_ALL");
	bool		fail = require && require[0] && require[0] != '0';
	va_list		ap;

	va_start(ap, fmt);
	if (fail)
	{
		check_failed++;
		fputs("FAIL missing prerequisite: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	else
	{
		fputs("SKIP ", stdout);
		vprintf(fmt, ap);
		fputc('\n', stdout);
	}
	va_end(ap);
}

/* The path of a test model in $DR1_MODEL_CACHE, or ~/.cache/deepseek_r1/models. */
static inline void
check_model_path(char *buf, size_t size, const char *file)
{
	const char *dir = getenv("DR1_MODEL_CACHE");
	const char *home = getenv("HOME");

	if (dir)
		snprintf(buf, size, "%s/%s", dir, file);
	else
		snprintf(buf, size, "%s/.cache/deepseek_r1/models/%s", home ? home : ".", file);
}

/*
 * The synthetic model that test/gen/gguf_gen.py writes for args, as
 * $DR1_SYNTH_DIR/name.gguf (default build/synthetic), generated on first
 * use: the generator is deterministic, so a file already there is the same.
 * 0 when the file is there.
 */
static inline int
check_synthetic_model(const char *name, const char *args, char *path, size_t size)
{
	const char *dir = getenv("DR1_SYNTH_DIR") ? getenv("DR1_SYNTH_DIR") : "build/synthetic";
	char		cmd[8192];
	struct stat st;

	snprintf(path, size, "%s/%s.gguf", dir, name);
	if (stat(path, &st) == 0)
		return 0;
	snprintf(cmd, sizeof cmd, "mkdir -p '%s' && python3 test/gen/gguf_gen.py %s --out '%s.tmp' >/dev/null"
			 " && mv '%s.tmp' '%s'", dir, args, path, path, path);
	return system(cmd) == 0 ? 0 : -1;
}

/* fn(NAME) for every NAME.txt of a golden directory; their count, -1 when
 * the directory cannot be read. */
static inline int
check_each_golden(const char *dir, void (*fn) (const char *name))
{
	DIR		   *d = opendir(dir);
	struct dirent *e;
	int			n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
	{
		size_t		len = strlen(e->d_name);
		char		name[256];

		if (len < 5 || strcmp(e->d_name + len - 4, ".txt") != 0 || len - 4 >= sizeof name)
			continue;
		memcpy(name, e->d_name, len - 4);
		name[len - 4] = '\0';
		fn(name);
		n++;
	}
	closedir(d);
	return n;
}

#endif
