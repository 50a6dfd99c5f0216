/*
 * text_buf.c — a growable string (see text_buf.h).
 */
#include "text_buf.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void
text_buf_append(struct text_buf *b, const char *s, size_t n)
{
	b->s = xgrow(b->s, &b->cap, b->len + n + 1, 1);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
text_buf_free(struct text_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof *b);
}
