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

/* Texts above this are refused: a perplexity text or a prompt of 1 GiB is a mistake. */
#define CLI_TEXT_MAX ((size_t) 1 << 30)

int
cli_read_text(const char *path, char **text, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		n = 0;
	size_t		got;
	int			rc = 0;

	if (!f)
		return cli_fail("cannot open %s: %s", path, strerror(errno));
	for (;;)
	{
		if (n + 1 >= cap)
		{
			char	   *grown = cap >= CLI_TEXT_MAX ? NULL : realloc(buf, cap ? cap * 2 : 65536);

			if (!grown)
			{
				rc = cli_fail("%s: %s", path, cap >= CLI_TEXT_MAX ? "larger than 1 GiB" : "out of memory");
				break;
			}
			buf = grown;
			cap = cap ? cap * 2 : 65536;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (rc == 0 && ferror(f))
		rc = cli_fail("cannot read %s", path);
	else if (rc == 0 && memchr(buf, '\0', n))
		rc = cli_fail("%s contains a NUL byte: not a text", path);
	fclose(f);
	if (rc != 0)
	{
		free(buf);
		return rc;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;					/* as llama.cpp's -f: the file's final newline is not the text's */
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}
