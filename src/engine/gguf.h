/*
 * gguf.h — read-only access to a GGUF model file (v2 and v3).
 *
 * The file is mapped with mmap and parsed once; every count, length, offset,
 * type and the alignment are checked against the file size, so a truncated or
 * hostile file gives an error message and never an out-of-bounds read.
 * Split models (name-00001-of-0000N.gguf with split.* keys) open as one: the
 * metadata comes from the first part, tensors from whichever part holds them.
 *
 * Strings in the file are not NUL-terminated; they are returned as
 * (pointer, length) pairs pointing into the mapping.
 */
#ifndef DR1_GGUF_H
#define DR1_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

enum gguf_type
{
	GGUF_UINT8 = 0,
	GGUF_INT8 = 1,
	GGUF_UINT16 = 2,
	GGUF_INT16 = 3,
	GGUF_UINT32 = 4,
	GGUF_INT32 = 5,
	GGUF_FLOAT32 = 6,
	GGUF_BOOL = 7,
	GGUF_STRING = 8,
	GGUF_ARRAY = 9,
	GGUF_UINT64 = 10,
	GGUF_INT64 = 11,
	GGUF_FLOAT64 = 12
};

struct gguf_str
{
	const char *ptr;
	uint64_t	len;
};

/* One metadata value.  For arrays, elem_type and n describe the elements
 * and data points at the first one in the mapping (strings in an array are
 * stored length-prefixed one after another: use gguf_arr_str). */
struct gguf_kv
{
	struct gguf_str key;
	enum gguf_type type;
	enum gguf_type elem_type;	/* arrays only */
	uint64_t	n;				/* arrays only: element count */
	const void *data;			/* scalar value, string record, or array elements */
};

struct gguf_tensor
{
	struct gguf_str name;
	uint32_t	n_dims;
	int64_t		ne[4];			/* ne[0] varies fastest; unused dims are 1 */
	uint32_t	type;			/* enum dtype */
	const void *data;			/* in the mapping, aligned */
	uint64_t	nbytes;
};

struct gguf_file;

/* Open and validate.  Returns NULL and writes err (ERR_MAX bytes) on failure. */
struct gguf_file *gguf_open(const char *path, char *err);
void		gguf_close(struct gguf_file *f);

uint32_t	gguf_version(const struct gguf_file *f);
uint64_t	gguf_file_size(const struct gguf_file *f);	/* all parts together */

/* Metadata. */
uint64_t	gguf_kv_count(const struct gguf_file *f);
const struct gguf_kv *gguf_kv_at(const struct gguf_file *f, uint64_t i);
const struct gguf_kv *gguf_kv_find(const struct gguf_file *f, const char *key);

/* Typed getters: false when the key is absent or has an incompatible type.
 * Integer getters accept any integer type whose value fits. */
bool		gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
bool		gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out);
bool		gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out);
bool		gguf_get_f32(const struct gguf_file *f, const char *key, float *out);
bool		gguf_get_bool(const struct gguf_file *f, const char *key, bool *out);
bool		gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);

/* Array access: gguf_get_arr gives the kv of an array key (NULL if absent or
 * not an array).  gguf_arr_str returns element i of a string array; it is
 * O(1) because string arrays are indexed when the file is opened. */
const struct gguf_kv *gguf_get_arr(const struct gguf_file *f, const char *key);
struct gguf_str gguf_arr_str(const struct gguf_file *f, const struct gguf_kv *arr, uint64_t i);

/* Tensors. */
uint64_t	gguf_tensor_count(const struct gguf_file *f);
const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, uint64_t i);
const struct gguf_tensor *gguf_tensor_find(const struct gguf_file *f, const char *name);

/* Helper: a key name built from the architecture, e.g. "qwen2.block_count". */
void		gguf_arch_key(char *buf, size_t size, const char *arch, const char *suffix);

#endif
