/*
 * text_buf.h — a growable string, and a list of byte ranges of a text.
 */
#ifndef DR1_TEXT_BUF_H
#define DR1_TEXT_BUF_H

#include <stddef.h>

/* Bytes s[0..len), always followed by a NUL (once something is appended). */
struct text_buf
{
	char	   *s;
	size_t		len;
	size_t		cap;
};

/* Grows with the checked allocator (alloc.h): cannot fail. */
void		text_buf_append(struct text_buf *b, const char *s, size_t n);
void		text_buf_free(struct text_buf *b);

/* Byte ranges [start, end) of a text, in increasing order. */
struct text_span
{
	size_t		start;
	size_t		end;
};

struct text_spans
{
	struct text_span *span;
	size_t		n;
	size_t		cap;
};

#endif
