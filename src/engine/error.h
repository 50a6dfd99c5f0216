/*
 * error.h — how engine functions report failure.
 *
 * Every fallible engine function takes a caller-owned buffer of ERR_MAX bytes
 * and returns -1 (or NULL) after writing a one-line message into it.  The
 * engine never prints and never aborts on bad input; front ends decide how to
 * show the message (stderr for the CLI, ereport in the extension).
 *
 * Running out of memory follows one rule (docs/architecture.md, "One
 * allocation rule"): where a file or a setting chooses the size, it is an
 * error like any other; everywhere else the checked allocator (alloc.h)
 * ends the process with a message, so those functions cannot fail.
 */
#ifndef DR1_ERROR_H
#define DR1_ERROR_H

#include <stdarg.h>
#include <stdio.h>

#define ERR_MAX 256

static inline int
err_set(char *err, const char *fmt, ...)
{
	if (err)
	{
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err, ERR_MAX, fmt, ap);
		va_end(ap);
	}
	return -1;
}

#endif
