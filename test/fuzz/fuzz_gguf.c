/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader.
 *
 * Each input is written to a memory file and opened like a model; when it
 * opens, every key, array element, string and tensor is visited and the
 * first and last byte of each piece of data is read, so that an offset the
 * reader failed to check shows up as an AddressSanitizer report (reads
 * outside the mapping fault or land in a redzone).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "gguf.h"

static volatile unsigned char sink;

static void
touch(const void *p, uint64_t n)
{
	if (n > 0)
		sink ^= ((const unsigned char *) p)[0] ^ ((const unsigned char *) p)[n - 1];
}

/* Size of one array element of a fixed-size type. */
static uint64_t
elem_size(enum gguf_type t)
{
	static const uint64_t size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

	return (unsigned) t <= GGUF_FLOAT64 ? size[t] : 0;
}

static void
walk_getters(const struct gguf_file *f, const char *key)
{
	uint32_t	u32;
	int32_t		i32;
	uint64_t	u64;
	float		f32;
	bool		b;
	struct gguf_str s;

	sink ^= gguf_get_u32(f, key, &u32) ^ gguf_get_i32(f, key, &i32) ^
		gguf_get_u64(f, key, &u64) ^ gguf_get_f32(f, key, &f32) ^
		gguf_get_bool(f, key, &b);
	if (gguf_get_str(f, key, &s))
		touch(s.ptr, s.len);
}

static void
walk_kv(const struct gguf_file *f, const struct gguf_kv *kv)
{
	char	   *key = strndup(kv->key.ptr, kv->key.len);
	uint64_t	j;

	touch(kv->key.ptr, kv->key.len);
	if (!key || strlen(key) != kv->key.len)
	{
		free(key);				/* a NUL in the key: not reachable by name */
		return;
	}
	if (gguf_kv_find(f, key) != kv)
		abort();				/* keys are unique, so lookup finds this one */
	walk_getters(f, key);
	if (kv->type == GGUF_ARRAY && gguf_get_arr(f, key) != NULL)
	{
		if (kv->elem_type == GGUF_STRING)
			for (j = 0; j < kv->n; j++)
			{
				struct gguf_str s = gguf_arr_str(f, kv, j);

				touch(s.ptr, s.len);
			}
		else
			touch(kv->data, kv->n * elem_size(kv->elem_type));
	}
	free(key);
}

static void
walk_tensors(const struct gguf_file *f)
{
	uint64_t	i;

	for (i = 0; i < gguf_tensor_count(f); i++)
	{
		const struct gguf_tensor *t = gguf_tensor_at(f, i);
		char	   *name = strndup(t->name.ptr, t->name.len);

		touch(t->name.ptr, t->name.len);
		if (t->data)
			touch(t->data, t->nbytes);
		if (name && strlen(name) == t->name.len &&
			gguf_tensor_find(f, name) != t)
			abort();			/* names are unique, so lookup finds this one */
		free(name);
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	fd = -1;
	static char path[64];
	char		err[ERR_MAX];
	struct gguf_file *f;
	uint64_t	i;

	if (fd < 0)
	{
		fd = memfd_create("fuzz.gguf", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t) size)
		abort();
	f = gguf_open(path, err);
	if (!f)
	{
		if (memchr(err, '\n', strnlen(err, ERR_MAX)) || err[0] == '\0')
			abort();			/* messages are one non-empty line */
		return 0;
	}
	for (i = 0; i < gguf_kv_count(f); i++)
		walk_kv(f, gguf_kv_at(f, i));
	walk_tensors(f);
	gguf_close(f);
	return 0;
}
