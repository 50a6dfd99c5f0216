/*
 * gguf_write.h — a tiny GGUF writer for the tests and fuzz targets: the
 * pieces of a file appended to a growable buffer, and a buffer opened as a
 * GGUF file through a memory file (no file system needed).
 */
#ifndef DR1_GGUF_WRITE_H
#define DR1_GGUF_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gguf.h"

struct buf
{
	uint8_t    *p;
	size_t		n;
	size_t		cap;
};

static inline void
put(struct buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap)
	{
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (n)
		memcpy(b->p + b->n, data, n);
	b->n += n;
}

static inline void
put_u32(struct buf *b, uint32_t v)
{
	put(b, &v, 4);
}

static inline void
put_u64(struct buf *b, uint64_t v)
{
	put(b, &v, 8);
}

/* A GGUF string: a 64-bit length and the bytes. */
static inline void
put_bytes(struct buf *b, const void *s, size_t n)
{
	put_u64(b, n);
	put(b, s, n);
}

static inline void
put_str(struct buf *b, const char *s)
{
	put_bytes(b, s, strlen(s));
}

static inline void
put_key(struct buf *b, const char *key, enum gguf_type type)
{
	put_str(b, key);
	put_u32(b, type);
}

static inline void
patch_u32(struct buf *b, size_t at, uint32_t v)
{
	memcpy(b->p + at, &v, 4);
}

static inline void
patch_u64(struct buf *b, size_t at, uint64_t v)
{
	memcpy(b->p + at, &v, 8);
}

/* The header of a version 3 file without tensors; n_kv is patched later
 * at GGUF_N_KV_AT. */
#define GGUF_N_KV_AT 16

static inline void
put_header(struct buf *b)
{
	put(b, "GGUF", 4);
	put_u32(b, 3);
	put_u64(b, 0);
	put_u64(b, 0);
}

/* Open b as a GGUF file (through a memory file, closed when f is). */
static inline struct gguf_file *
open_buf(const struct buf *b, char *err)
{
	int			fd = memfd_create("test.gguf", 0);
	char		path[64];
	struct gguf_file *f = NULL;

	if (fd < 0)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (write(fd, b->p, b->n) == (ssize_t) b->n)
		f = gguf_open(path, err);
	close(fd);					/* the reader keeps its own mapping */
	return f;
}

#endif
