/*
 * check.h — the unit tests' tiny harness.
 *
 * CHECK(cond, fmt, ...) counts a pass or prints a failure with its location;
 * check_done() prints "N passed, N failed" and gives main's exit status.
 */
#ifndef DR1_CHECK_H
#define DR1_CHECK_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
