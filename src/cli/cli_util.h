/*
 * cli_util.h — what every command of the deepseek-r1 program uses: the
 * error line, JSON strings, id lists, device names, and the checked parsers
 * of option values (every numeric option goes through them, with its range).
 */
#ifndef DR1_CLI_UTIL_H
#define DR1_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "forward.h"

/* Print a one-line error to stderr; returns the exit status 1. */
int			cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write s (len bytes of UTF-8) as a JSON string literal. */
void		json_string(FILE *out, const char *s, size_t len);

/* Print ids on one line, separated by single spaces. */
void		print_ids(FILE *out, const int32_t *ids, size_t n);

/* "auto", "cpu" or "cuda"; -1 for anything else. */
int			device_parse(const char *name, enum infer_device *out);

/*
 * The whole of file path as a NUL-terminated string (*len bytes, the NUL
 * not counted), less one final newline as llama.cpp's -f reads a file; a
 * text with a NUL byte of its own is refused.  0, or 1 after cli_fail; the
 * caller frees *text.
 */
int			cli_read_text(const char *path, char **text, size_t *len);

/*
 * The value s of option opt: a whole decimal integer in [lo, hi], a number
 * in [lo, hi], a non-negative 64-bit integer.  0, or 1 after printing
 * "<opt> expects ..., got '<s>'" (cli_fail); *out is undefined then.
 */
int			cli_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
int			cli_parse_float(const char *opt, const char *s, float lo, float hi, float *out);
int			cli_parse_u64(const char *opt, const char *s, uint64_t *out);

#endif
