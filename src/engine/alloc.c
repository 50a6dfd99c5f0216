/*
 * alloc.c — the checked allocator (see alloc.h for when to use it).
 */
#include "alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
out_of_memory(size_t n)
{
	fprintf(stderr, "deepseek-r1 engine: out of memory (allocating %zu bytes)\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		out_of_memory(n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	   *p;

	if (size && n > SIZE_MAX / size)
		out_of_memory(SIZE_MAX);
	p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void	   *q = realloc(p, n ? n : 1);

	if (q == NULL)
		out_of_memory(n);
	return q;
}

char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

void *
xgrow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t		c = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (c < need)
	{
		if (c > SIZE_MAX / 2 / elem)
			out_of_memory(SIZE_MAX);
		c *= 2;
	}
	p = xrealloc(p, c * elem);
	*cap = c;
	return p;
}
