/*
 * cli_util.c — the helpers every command uses (see cli_util.h).
 */
#include "cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

int
cli_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return cli_fail("%s expects an integer in [%lld, %lld], got '%s'", opt,
						(long long) lo, (long long) hi, s);
	*out = v;
	return 0;
}

int
cli_parse_float(const char *opt, const char *s, float lo, float hi, float *out)
{
	char	   *end;

	errno = 0;
	*out = strtof(s, &end);
	if (errno || end == s || *end || !(*out >= lo && *out <= hi))
		return cli_fail("%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
	return 0;
}

int
cli_parse_u64(const char *opt, const char *s, uint64_t *out)
{
	char	   *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return cli_fail("%s expects a non-negative integer, got '%s'", opt, s);
	return 0;
}
