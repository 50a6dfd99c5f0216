/*
 * test_gguf.c — the GGUF reader on real models and on small files written
 * here: good ones (v2, v3, custom alignment, a split model) must open with
 * every value intact, and malformed ones must fail with a message naming
 * the problem.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "gguf.h"
#include "gguf_write.h"

/* ---- the standard test file ---- */

struct tspec
{
	const char *name;
	uint32_t	n_dims;
	uint64_t	ne[4];
	uint32_t	type;
	uint64_t	nbytes;			/* bytes written for it */
};

static const struct tspec tensors[] = {
	{"ta", 2, {8, 3, 1, 1}, DTYPE_F32, 96},
	{"tb", 2, {64, 2, 1, 1}, DTYPE_Q8_0, 136},
	{"tc", 1, {256, 1, 1, 1}, DTYPE_Q4_K, 144},
	{"td", 3, {5, 1, 2, 1}, DTYPE_F16, 20},
	{"te", 1, {256, 1, 1, 1}, DTYPE_Q2_K, 84},	/* unsupported: recorded only */
};
#define N_TENSORS 5

struct opts
{
	uint32_t	version;
	uint32_t	alignment;		/* 0: no general.alignment key */
	enum gguf_type align_type;
	uint32_t	split_no;		/* split_count 0: no split keys */
	uint32_t	split_count;
	int			first;			/* tensors[first .. first + count - 1] */
	int			count;
};

/* Where the fields that the malformed variants change were written. */
struct layout
{
	size_t		header_end;
	size_t		val_name_len;	/* length of the general.name value */
	size_t		type_u8;		/* value type of test.u8 */
	size_t		key_k2;			/* text of the key "test.k2" */
	size_t		arr_elem;		/* element type of test.i32s */
	size_t		arr_count;
	size_t		sarr_count;		/* count of tokenizer.ggml.tokens */
	size_t		kv_end;
	size_t		ti[N_TENSORS];	/* start of each tensor info record */
	size_t		ti_end;
	size_t		data[N_TENSORS];
};

static const struct opts defaults = {3, 0, GGUF_UINT32, 0, 0, 0, N_TENSORS};

static int
n_kv_for(const struct opts *o)
{
	return 18 + (o->alignment ? 1 : 0) + (o->split_count ? 3 : 0);
}

static void
put_scalars(struct buf *b, struct layout *l)
{
	put_key(b, "general.architecture", GGUF_STRING);
	put_str(b, "llama");
	put_key(b, "general.name", GGUF_STRING);
	l->val_name_len = b->n;
	put_str(b, "tiny");
	put_key(b, "test.u8", GGUF_UINT8);
	l->type_u8 = b->n - 4;
	put(b, &(uint8_t) {200}, 1);
	put_key(b, "test.i8", GGUF_INT8);
	put(b, &(int8_t) {-5}, 1);
	put_key(b, "test.u16", GGUF_UINT16);
	put(b, &(uint16_t) {65000}, 2);
	put_key(b, "test.i16", GGUF_INT16);
	put(b, &(int16_t) {-300}, 2);
	put_key(b, "test.u32", GGUF_UINT32);
	put_u32(b, 4000000000u);
	put_key(b, "test.i32", GGUF_INT32);
	put(b, &(int32_t) {-7}, 4);
	put_key(b, "test.f32", GGUF_FLOAT32);
	put(b, &(float) {1.5f}, 4);
	put_key(b, "test.bool", GGUF_BOOL);
	put(b, &(uint8_t) {1}, 1);
	put_key(b, "test.u64", GGUF_UINT64);
	put_u64(b, 1ULL << 40);
	put_key(b, "test.i64", GGUF_INT64);
	put_u64(b, (uint64_t) -(1LL << 40));
	put_key(b, "test.f64", GGUF_FLOAT64);
	put(b, &(double) {2.25}, 8);
	put_key(b, "test.k1", GGUF_UINT32);
	put_u32(b, 1);
	put_key(b, "test.k2", GGUF_UINT32);
	l->key_k2 = b->n - 4 - 7;
	put_u32(b, 2);
}

static void
put_arrays(struct buf *b, struct layout *l)
{
	static const char *const toks[] = {"a", "bc", "", "def"};
	int			i;

	put_key(b, "test.i32s", GGUF_ARRAY);
	l->arr_elem = b->n;
	put_u32(b, GGUF_INT32);
	l->arr_count = b->n;
	put_u64(b, 3);
	put(b, (int32_t[]) {1, -2, 3}, 12);
	put_key(b, "test.empty", GGUF_ARRAY);
	put_u32(b, GGUF_FLOAT32);
	put_u64(b, 0);
	put_key(b, "tokenizer.ggml.tokens", GGUF_ARRAY);
	put_u32(b, GGUF_STRING);
	l->sarr_count = b->n;
	put_u64(b, 4);
	for (i = 0; i < 4; i++)
		put_str(b, toks[i]);
}

static void
put_options(struct buf *b, const struct opts *o)
{
	if (o->alignment)
	{
		put_key(b, "general.alignment", o->align_type);
		if (o->align_type == GGUF_UINT64)
			put_u64(b, o->alignment);
		else
			put_u32(b, o->alignment);
	}
	if (o->split_count)
	{
		put_key(b, "split.no", GGUF_UINT16);
		put(b, &(uint16_t) {(uint16_t) o->split_no}, 2);
		put_key(b, "split.count", GGUF_UINT16);
		put(b, &(uint16_t) {(uint16_t) o->split_count}, 2);
		put_key(b, "split.tensors.count", GGUF_INT32);
		put(b, &(int32_t) {N_TENSORS}, 4);
	}
}

static uint64_t
pad(uint64_t n, uint32_t align)
{
	return (n + align - 1) / align * align;
}

static void
put_tensor_infos(struct buf *b, const struct opts *o, struct layout *l,
				 uint32_t align)
{
	uint64_t	offset = 0;
	int			i;
	uint32_t	d;

	for (i = o->first; i < o->first + o->count; i++)
	{
		const struct tspec *t = &tensors[i];

		l->ti[i] = b->n;
		put_str(b, t->name);
		put_u32(b, t->n_dims);
		for (d = 0; d < t->n_dims; d++)
			put_u64(b, t->ne[d]);
		put_u32(b, t->type);
		put_u64(b, offset);
		offset += pad(t->nbytes, align);
	}
}

static void
put_tensor_data(struct buf *b, const struct opts *o, struct layout *l,
				uint32_t align)
{
	static const uint8_t zeros[4096];
	int			i;
	uint64_t	j;

	put(b, zeros, pad(b->n, align) - b->n);
	for (i = o->first; i < o->first + o->count; i++)
	{
		l->data[i] = b->n;
		for (j = 0; j < tensors[i].nbytes; j++)
			put(b, &(uint8_t) {(uint8_t) (j * 7 + i)}, 1);
		put(b, zeros, pad(b->n, align) - b->n);
	}
}

static struct buf
build(const struct opts *o, struct layout *l)
{
	struct buf	b = {0};
	uint32_t	align = o->alignment ? o->alignment : 32;

	memset(l, 0, sizeof *l);
	put(&b, "GGUF", 4);
	put_u32(&b, o->version);
	put_u64(&b, (uint64_t) o->count);
	put_u64(&b, (uint64_t) n_kv_for(o));
	l->header_end = b.n;
	put_scalars(&b, l);
	put_arrays(&b, l);
	put_options(&b, o);
	l->kv_end = b.n;
	put_tensor_infos(&b, o, l, align);
	l->ti_end = b.n;
	put_tensor_data(&b, o, l, align);
	return b;
}

/* ---- files ---- */

static char tmpdir[] = "/tmp/test_gguf_XXXXXX";

static const char *
path_of(const char *name)
{
	static char path[4][512];
	static int	next;
	char	   *p = path[next++ % 4];

	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

static const char *
write_file(const char *name, const void *data, size_t n)
{
	const char *path = path_of(name);
	FILE	   *fp = fopen(path, "wb");

	if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp) != 0)
	{
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	return path;
}

/* Open a file that must fail with a message containing want. */
static void
expect_fail(const char *path, const char *want, const char *what)
{
	char		err[ERR_MAX] = "";
	struct gguf_file *f = gguf_open(path, err);

	CHECK(f == NULL, "%s: opened a malformed file", what);
	CHECK(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'",
		  what, err, want);
	CHECK(strchr(err, '\n') == NULL, "%s: message has a newline", what);
	gguf_close(f);
}

static void
expect_buf_fails(const struct buf *b, size_t n, const char *want,
				 const char *what)
{
	expect_fail(write_file("bad.gguf", b->p, n), want, what);
}

/* ---- good files ---- */

static void
check_scalars(const struct gguf_file *f)
{
	uint32_t	u32;
	int32_t		i32;
	uint64_t	u64;
	float		f32;
	bool		b;
	struct gguf_str s;

	CHECK(gguf_get_u32(f, "test.u8", &u32) && u32 == 200, "u8 as u32");
	CHECK(gguf_get_i32(f, "test.i8", &i32) && i32 == -5, "i8 as i32");
	CHECK(!gguf_get_u32(f, "test.i8", &u32), "negative i8 as u32");
	CHECK(gguf_get_i32(f, "test.i16", &i32) && i32 == -300, "i16");
	CHECK(gguf_get_u32(f, "test.u16", &u32) && u32 == 65000, "u16");
	CHECK(gguf_get_u32(f, "test.u32", &u32) && u32 == 4000000000u, "u32");
	CHECK(!gguf_get_i32(f, "test.u32", &i32), "u32 over INT32_MAX as i32");
	CHECK(gguf_get_i32(f, "test.i32", &i32) && i32 == -7, "i32");
	CHECK(!gguf_get_u32(f, "test.u64", &u32), "u64 over 2^32 as u32");
	CHECK(gguf_get_u64(f, "test.u64", &u64) && u64 == 1ULL << 40, "u64");
	CHECK(!gguf_get_u64(f, "test.i64", &u64), "negative i64 as u64");
	CHECK(!gguf_get_i32(f, "test.i64", &i32), "i64 below INT32_MIN as i32");
	CHECK(gguf_get_f32(f, "test.f32", &f32) && f32 == 1.5f, "f32");
	CHECK(gguf_get_f32(f, "test.f64", &f32) && f32 == 2.25f, "f64 as f32");
	CHECK(!gguf_get_f32(f, "test.u32", &f32), "u32 as f32");
	CHECK(gguf_get_bool(f, "test.bool", &b) && b, "bool");
	CHECK(!gguf_get_bool(f, "test.u8", &b), "u8 as bool");
	CHECK(gguf_get_str(f, "general.name", &s) && s.len == 4 &&
		  memcmp(s.ptr, "tiny", 4) == 0, "string");
	CHECK(!gguf_get_str(f, "test.u32", &s), "u32 as string");
	CHECK(!gguf_get_u32(f, "no.such.key", &u32) &&
		  gguf_kv_find(f, "no.such.key") == NULL, "absent key");
	CHECK(gguf_kv_find(f, "test.k2") == gguf_kv_at(f, 14), "find = at");
	CHECK(gguf_kv_at(f, gguf_kv_count(f)) == NULL, "kv_at past the end");
}

static void
check_arrays(const struct gguf_file *f)
{
	const struct gguf_kv *a = gguf_get_arr(f, "test.i32s");
	const struct gguf_kv *t = gguf_get_arr(f, "tokenizer.ggml.tokens");
	const struct gguf_kv *e = gguf_get_arr(f, "test.empty");
	struct gguf_str s;
	int32_t		v[3];

	CHECK(a && a->elem_type == GGUF_INT32 && a->n == 3, "i32 array");
	if (a)
	{
		memcpy(v, a->data, sizeof v);
		CHECK(v[0] == 1 && v[1] == -2 && v[2] == 3, "i32 array values");
		CHECK(gguf_arr_str(f, a, 0).ptr == NULL, "arr_str on i32 array");
	}
	CHECK(e && e->n == 0 && e->elem_type == GGUF_FLOAT32, "empty array");
	CHECK(gguf_get_arr(f, "general.name") == NULL, "string is not array");
	CHECK(t && t->elem_type == GGUF_STRING && t->n == 4, "string array");
	if (!t)
		return;
	s = gguf_arr_str(f, t, 3);
	CHECK(s.len == 3 && memcmp(s.ptr, "def", 3) == 0, "string array [3]");
	s = gguf_arr_str(f, t, 1);
	CHECK(s.len == 2 && memcmp(s.ptr, "bc", 2) == 0, "string array [1]");
	CHECK(gguf_arr_str(f, t, 2).len == 0, "empty string element");
	CHECK(gguf_arr_str(f, t, 4).ptr == NULL, "string array out of range");
}

static void
check_tensor(const struct gguf_file *f, int i, uint32_t align)
{
	const struct tspec *ts = &tensors[i];
	const struct gguf_tensor *t = gguf_tensor_find(f, ts->name);
	const uint8_t *d;
	uint32_t	k;

	CHECK(t != NULL, "tensor %s found", ts->name);
	if (!t)
		return;
	CHECK(t->name.len == strlen(ts->name) && t->n_dims == ts->n_dims &&
		  t->type == ts->type, "tensor %s info", ts->name);
	for (k = 0; k < 4; k++)
		CHECK(t->ne[k] == (int64_t) (k < ts->n_dims ? ts->ne[k] : 1),
			  "tensor %s ne[%u]", ts->name, k);
	if (ts->type == DTYPE_Q2_K)
	{
		CHECK(t->data == NULL && t->nbytes == 0, "unsupported type recorded");
		return;
	}
	d = t->data;
	CHECK(d && t->nbytes == ts->nbytes, "tensor %s size %lu", ts->name,
		  (unsigned long) t->nbytes);
	CHECK(d && (uintptr_t) d % align == 0, "tensor %s aligned", ts->name);
	CHECK(d && d[0] == (uint8_t) i &&
		  d[t->nbytes - 1] == (uint8_t) ((t->nbytes - 1) * 7 + i),
		  "tensor %s data", ts->name);
}

static void
check_good(const struct opts *o, const char *what)
{
	struct layout l;
	struct buf	b = build(o, &l);
	const char *path = write_file("good.gguf", b.p, b.n);
	char		err[ERR_MAX] = "";
	struct gguf_file *f = gguf_open(path, err);
	int			i;

	CHECK(f != NULL, "%s: open failed: %s", what, err);
	free(b.p);
	if (!f)
		return;
	CHECK(gguf_version(f) == o->version, "%s: version", what);
	CHECK(gguf_file_size(f) == b.n, "%s: file size", what);
	CHECK(gguf_kv_count(f) == (uint64_t) n_kv_for(o), "%s: kv count", what);
	CHECK(gguf_tensor_count(f) == N_TENSORS, "%s: tensor count", what);
	check_scalars(f);
	check_arrays(f);
	for (i = 0; i < N_TENSORS; i++)
		check_tensor(f, i, o->alignment ? o->alignment : 32);
	CHECK(gguf_tensor_find(f, "t") == NULL && gguf_tensor_at(f, 5) == NULL,
		  "%s: absent tensor", what);
	gguf_close(f);
}

static void
test_good(void)
{
	struct opts o = defaults;
	char		key[64];

	check_good(&o, "v3");
	o.version = 2;
	check_good(&o, "v2");
	o.version = 3;
	o.alignment = 64;
	check_good(&o, "alignment 64");
	o.alignment = 1;
	check_good(&o, "alignment 1");
	o.alignment = 4096;
	check_good(&o, "alignment 4096");
	gguf_arch_key(key, sizeof key, "qwen2", "block_count");
	CHECK(strcmp(key, "qwen2.block_count") == 0, "arch key");
}

/* ---- split models ---- */

static void
write_split(const char *base, int n_parts, const int *no_override)
{
	int			k;

	for (k = 0; k < n_parts; k++)
	{
		struct opts o = defaults;
		struct layout l;
		struct buf	b;
		char		name[128];

		o.split_no = no_override ? (uint32_t) no_override[k] : (uint32_t) k;
		o.split_count = (uint32_t) n_parts;
		o.first = k == 0 ? 0 : 2;
		o.count = k == 0 ? 2 : N_TENSORS - 2;
		b = build(&o, &l);
		snprintf(name, sizeof name, "%s-%05d-of-%05d.gguf", base, k + 1,
				 n_parts);
		write_file(name, b.p, b.n);
		free(b.p);
	}
}

static void
test_split(void)
{
	char		err[ERR_MAX] = "";
	struct gguf_file *f;
	struct stat st1,
				st2;
	int			i;

	write_split("sp", 2, NULL);
	f = gguf_open(path_of("sp-00001-of-00002.gguf"), err);
	CHECK(f != NULL, "split open: %s", err);
	if (f)
	{
		stat(path_of("sp-00001-of-00002.gguf"), &st1);
		stat(path_of("sp-00002-of-00002.gguf"), &st2);
		CHECK(gguf_tensor_count(f) == N_TENSORS, "split tensor count");
		CHECK(gguf_file_size(f) == (uint64_t) (st1.st_size + st2.st_size),
			  "split file size sums parts");
		for (i = 0; i < N_TENSORS; i++)
			check_tensor(f, i, 32);
		check_scalars(f);
		gguf_close(f);
	}
	expect_fail(path_of("sp-00002-of-00002.gguf"), "open the first part",
				"opening part 2");
	unlink(path_of("sp-00002-of-00002.gguf"));
	expect_fail(path_of("sp-00001-of-00002.gguf"),
				"split part 2 of 2 missing: ", "missing split part");
	write_split("sn", 2, (const int[]) {0, 0});
	expect_fail(path_of("sn-00001-of-00002.gguf"), "wrong split.no",
				"wrong split.no");
	write_split("sx", 3, NULL);
	rename(path_of("sx-00001-of-00003.gguf"), path_of("sx.gguf"));
	expect_fail(path_of("sx.gguf"), "does not end in -00001-of-00003.gguf",
				"split file misnamed");
}

/* ---- malformed files ---- */

static void
test_truncated(void)
{
	struct layout l;
	struct buf	b = build(&defaults, &l);
	size_t		cuts[] = {
		2, 6, 12, 20, l.header_end, l.header_end + 5, l.val_name_len + 4,
		l.arr_count + 8, l.kv_end - 3, l.kv_end, l.ti[1] + 3, l.ti[2],
		l.ti_end - 4, l.ti_end, l.data[0], l.data[2] + 100, l.data[3] + 19
	};
	size_t		i;

	for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
	{
		char		err[ERR_MAX] = "";
		const char *path = write_file("cut.gguf", b.p, cuts[i]);
		struct gguf_file *f = gguf_open(path, err);

		CHECK(f == NULL && (strstr(err, "truncated") ||
							strstr(err, "impossible") ||
							strstr(err, "past end of file")),
			  "cut at %zu: '%s'", cuts[i], err);
		gguf_close(f);
	}
	expect_buf_fails(&b, 6, "file truncated in version", "cut in version");
	expect_buf_fails(&b, l.ti[1] + 3, "truncated in tensor name",
					 "cut in tensor info");
	expect_buf_fails(&b, l.data[2] + 100, "'tc' data (offset",
					 "cut in tensor data");
	/* without tensors, the metadata is the end of the file */
	patch_u64(&b, 8, 0);
	patch_u64(&b, 16, 19);
	expect_buf_fails(&b, l.kv_end, "truncated in metadata key",
					 "one key more than written");
	patch_u64(&b, 16, 18);
	expect_buf_fails(&b, l.kv_end - 1,
					 "key 'tokenizer.ggml.tokens' string element length 3",
					 "last string cut");
	patch_u64(&b, l.sarr_count, 5);
	expect_buf_fails(&b, l.kv_end, "array of 5 strings cannot fit",
					 "one string more than written");
	free(b.p);
}

/* Build the standard file, change one field, and expect an error. */
#define MUTATE(stmt, want, what) \
	do { \
		struct layout l; \
		struct buf	b = build(&defaults, &l); \
		stmt; \
		expect_buf_fails(&b, b.n, want, what); \
		free(b.p); \
	} while (0)

static void
test_header(void)
{
	MUTATE(b.p[0] = 'X', "bad magic", "bad magic");
	MUTATE(patch_u32(&b, 4, 1), "version 1 files are not supported", "v1");
	MUTATE(patch_u32(&b, 4, 4), "unsupported version 4", "v4");
	MUTATE(patch_u32(&b, 4, 3u << 24), "big-endian", "big-endian");
	MUTATE(patch_u64(&b, 8, UINT64_MAX), "tensor count 18446744073709551615 is impossible",
		   "huge tensor count");
	MUTATE(patch_u64(&b, 8, 1000000), "tensor count 1000000 is impossible",
		   "large tensor count");
	MUTATE(patch_u64(&b, 16, 1ULL << 60), "metadata count", "huge kv count");
	expect_fail(write_file("empty.gguf", "", 0), "is empty", "empty file");
	expect_fail(tmpdir, "is a directory", "directory");
	expect_fail(path_of("absent.gguf"), "No such file", "nonexistent path");
	expect_fail(write_file("text.gguf", "hi\n", 3), "bad magic", "text file");
}

static void
test_metadata(void)
{
	MUTATE(patch_u64(&b, l.header_end, 1ULL << 62), "past end of file",
		   "huge key length");
	MUTATE(patch_u64(&b, l.val_name_len, b.n - l.val_name_len - 7),
		   "past end of file", "string length just past EOF");
	MUTATE(patch_u32(&b, l.type_u8, 13), "invalid value type 13",
		   "bad value type");
	MUTATE(patch_u32(&b, l.type_u8, UINT32_MAX), "invalid value type",
		   "value type 2^32-1");
	MUTATE(patch_u32(&b, l.arr_elem, 99), "invalid array element type 99",
		   "bad array elem type");
	MUTATE(patch_u32(&b, l.arr_elem, GGUF_ARRAY), "array of arrays",
		   "nested array");
	MUTATE(patch_u64(&b, l.arr_count, 1ULL << 60), "extends past",
		   "huge array count");
	MUTATE(patch_u64(&b, l.arr_count, UINT64_MAX), "extends past",
		   "array count 2^64-1");
	MUTATE(patch_u64(&b, l.sarr_count, 1ULL << 61), "cannot fit",
		   "huge string array count");
	MUTATE(b.p[l.key_k2 + 6] = '1', "duplicate key 'test.k1'",
		   "duplicate key");
}

static void
test_alignment(void)
{
	struct opts o = defaults;
	struct layout l;
	struct buf	b;
	uint32_t	bad[] = {0, 3, 48};
	size_t		i;

	for (i = 0; i < 3; i++)
	{
		o.alignment = bad[i];
		b = build(&o, &l);
		if (bad[i] == 0)		/* build() leaves the key out for 0: add it */
		{
			free(b.p);
			o.alignment = 32;
			b = build(&o, &l);
			patch_u32(&b, l.kv_end - 4, 0);
		}
		expect_buf_fails(&b, b.n, "is not a power of two", "bad alignment");
		free(b.p);
	}
	o.alignment = 32;
	o.align_type = GGUF_UINT64;
	b = build(&o, &l);
	expect_buf_fails(&b, b.n, "general.alignment has type u64", "u64 alignment");
	free(b.p);
}

static void
test_tensor_infos(void)
{
	/* tb: name "tb", so n_dims at +10, ne at +14, +22; type, offset after */
	MUTATE(patch_u32(&b, l.ti[1] + 10, 0), "has 0 dimensions", "n_dims 0");
	MUTATE(patch_u32(&b, l.ti[1] + 10, 5), "has 5 dimensions", "n_dims 5");
	MUTATE(patch_u64(&b, l.ti[1] + 22, 0), "'tb' has ne[1] = 0", "ne 0");
	MUTATE(patch_u64(&b, l.ti[1] + 22, 1ULL << 63), "must be 1 to",
		   "ne over INT64_MAX");
	MUTATE((patch_u64(&b, l.ti[1] + 14, 1ULL << 32),
			patch_u64(&b, l.ti[1] + 22, 1ULL << 32)),
		   "'tb' element count overflows", "ne product overflow");
	MUTATE((patch_u64(&b, l.ti[0] + 14, 1ULL << 62),
			patch_u64(&b, l.ti[0] + 22, 1)),
		   "'ta' byte size overflows", "byte size overflow");
	MUTATE(patch_u64(&b, l.ti[1] + 14, 48), "not a multiple of the Q8_0 block",
		   "ne[0] not a multiple of the block");
	MUTATE(patch_u64(&b, l.ti[2] + 10 + 4 + 8 + 4, 8),
		   "'tc' offset 8 is not a multiple of the alignment 32",
		   "misaligned offset");
	MUTATE(patch_u64(&b, l.ti[2] + 26, b.n), "'tc' data (offset",
		   "offset past EOF");
	MUTATE(patch_u64(&b, l.ti[2] + 26, UINT64_MAX - 31), "extends past end",
		   "offset near 2^64");
	MUTATE(patch_u64(&b, l.ti[0] + 14, 1ULL << 40), "'ta' data (offset 0, ",
		   "tensor larger than file");
	MUTATE(b.p[l.ti[1] + 9] = 'a', "duplicate tensor 'ta'", "duplicate tensor");
	MUTATE(patch_u64(&b, l.ti[3], 1ULL << 50), "tensor name length",
		   "huge tensor name length");
}

/* ---- real models ---- */

static const char *
model_path(const char *name)
{
	static char path[1024];
	const char *dir = getenv("DR1_MODEL_CACHE");
	const char *home = getenv("HOME");

	if (dir)
		snprintf(path, sizeof path, "%s/%s", dir, name);
	else
		snprintf(path, sizeof path, "%s/.cache/deepseek_r1/models/%s",
				 home ? home : "", name);
	return access(path, R_OK) == 0 ? path : NULL;
}

/* Every supported tensor's bytes lie in one span no larger than the file. */
static void
check_all_tensors(const struct gguf_file *f, const char *what)
{
	uintptr_t	lo = UINTPTR_MAX,
				hi = 0;
	uint64_t	i;
	int			bad = 0;

	for (i = 0; i < gguf_tensor_count(f); i++)
	{
		const struct gguf_tensor *t = gguf_tensor_at(f, i);
		int64_t		rows = t->ne[1] * t->ne[2] * t->ne[3];
		char		name[128];

		snprintf(name, sizeof name, "%.*s", (int) t->name.len, t->name.ptr);
		if (!t->data ||
			t->nbytes != dtype_row_bytes(t->type, t->ne[0]) * (uint64_t) rows ||
			gguf_tensor_find(f, name) != t)
			bad++;
		if (t->data && (uintptr_t) t->data < lo)
			lo = (uintptr_t) t->data;
		if (t->data && (uintptr_t) t->data + t->nbytes > hi)
			hi = (uintptr_t) t->data + t->nbytes;
	}
	CHECK(bad == 0, "%s: %d tensors without data or with a wrong size", what,
		  bad);
	CHECK(hi > lo && hi - lo <= gguf_file_size(f), "%s: data within file",
		  what);
}

static void
check_tensor_shape(const struct gguf_file *f, const char *name, uint32_t type,
				   int64_t ne0, int64_t ne1)
{
	const struct gguf_tensor *t = gguf_tensor_find(f, name);

	CHECK(t && t->type == type && t->ne[0] == ne0 && t->ne[1] == ne1,
		  "tensor %s: type %s [%ld, %ld]", name, t ? dtype_name(t->type) : "-",
		  t ? (long) t->ne[0] : 0L, t ? (long) t->ne[1] : 0L);
}

static void
check_str(const struct gguf_file *f, const char *key, const char *want)
{
	struct gguf_str s;

	CHECK(gguf_get_str(f, key, &s) && s.len == strlen(want) &&
		  memcmp(s.ptr, want, s.len) == 0, "%s = %s", key, want);
}

static void
check_token(const struct gguf_file *f, uint64_t id, const char *want)
{
	const struct gguf_kv *t = gguf_get_arr(f, "tokenizer.ggml.tokens");
	struct gguf_str s = t ? gguf_arr_str(f, t, id) : (struct gguf_str) {0};

	CHECK(s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0,
		  "token %lu = %s", (unsigned long) id, want);
}

static void
test_qwen(void)
{
	const char *path = model_path("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf");
	char		err[ERR_MAX] = "";
	struct gguf_file *f;
	uint32_t	v;

	if (!path)
	{
		check_missing("test_gguf: Qwen2.5-Coder-0.5B absent (scripts/fetch-models.sh qwen2)");
		return;
	}
	f = gguf_open(path, err);
	CHECK(f != NULL, "qwen: %s", err);
	if (!f)
		return;
	check_str(f, "general.architecture", "qwen2");
	check_str(f, "tokenizer.ggml.pre", "qwen2");
	CHECK(gguf_get_u32(f, "qwen2.block_count", &v) && v == 24, "qwen layers");
	CHECK(gguf_get_u32(f, "qwen2.embedding_length", &v) && v == 896, "qwen dim");
	CHECK(gguf_get_u32(f, "qwen2.attention.head_count_kv", &v) && v == 2,
		  "qwen kv heads");
	CHECK(gguf_tensor_count(f) == 291, "qwen tensor count");
	check_token(f, 0, "!");
	check_token(f, 151643, "<|endoftext|>");
	check_tensor_shape(f, "token_embd.weight", DTYPE_Q5_0, 896, 151936);
	check_tensor_shape(f, "output.weight", DTYPE_Q8_0, 896, 151936);
	check_tensor_shape(f, "blk.0.ffn_down.weight", DTYPE_Q6_K, 4864, 896);
	check_tensor_shape(f, "blk.23.attn_q.bias", DTYPE_F32, 896, 1);
	check_all_tensors(f, "qwen");
	gguf_close(f);
}

static void
test_smollm(void)
{
	const char *path = model_path("SmolLM2-135M-Instruct-Q4_1.gguf");
	char		err[ERR_MAX] = "";
	struct gguf_file *f;
	uint32_t	v;

	if (!path)
	{
		check_missing("test_gguf: SmolLM2-135M absent (scripts/fetch-models.sh smollm2)");
		return;
	}
	f = gguf_open(path, err);
	CHECK(f != NULL, "smollm: %s", err);
	if (!f)
		return;
	check_str(f, "general.architecture", "llama");
	check_str(f, "tokenizer.ggml.pre", "smollm");
	CHECK(gguf_get_u32(f, "llama.block_count", &v) && v == 30, "smollm layers");
	CHECK(gguf_get_u32(f, "llama.attention.head_count", &v) && v == 9,
		  "smollm heads");
	check_token(f, 0, "<|endoftext|>");
	check_tensor_shape(f, "token_embd.weight", DTYPE_Q8_0, 576, 49152);
	check_tensor_shape(f, "blk.29.ffn_down.weight", DTYPE_Q4_1, 1536, 576);
	CHECK(gguf_tensor_find(f, "output.weight") == NULL, "smollm output tied");
	check_all_tensors(f, "smollm");
	gguf_close(f);
}

static void
test_r1_partial(void)
{
	const char *path = model_path("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf.partial");

	if (!path)
	{
		check_missing("test_gguf: R1 7B partial absent (scripts/fetch-models.sh r1-header)");
		return;
	}
	expect_fail(path, "extends past end of file", "truncated R1 7B");
}

/* ---- main ---- */

static void
remove_tmpdir(void)
{
	char		cmd[64];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_gguf: cannot remove %s\n", tmpdir);
}

int
main(void)
{
	if (!mkdtemp(tmpdir))
	{
		perror("mkdtemp");
		return 1;
	}
	test_good();
	test_split();
	test_truncated();
	test_header();
	test_metadata();
	test_alignment();
	test_tensor_infos();
	test_qwen();
	test_smollm();
	test_r1_partial();
	remove_tmpdir();
	return check_done("test_gguf");
}
