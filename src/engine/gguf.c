/*
 * gguf.c — the GGUF reader: map a model file and check every field of it.
 *
 * The header is walked with a cursor that never moves past the end of the
 * mapping.  Every count is bounded by the bytes left before anything is
 * allocated for it, so memory use stays proportional to the file size
 * whatever the counts say.  Each part of a split model is opened and checked
 * on its own; the first part then adopts the tensors of the others.
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define KV_MIN_BYTES 13			/* key length, empty key, type, 1-byte value */
#define TENSOR_MIN_BYTES 32		/* name length, n_dims, one ne, type, offset */
#define SHOW_MAX 72				/* bytes of a file string quoted in a message */
#define SPLIT_SUFFIX_LEN 20		/* strlen("-00001-of-00004.gguf") */

/* Slot of an open-addressing hash table from names to array indices. */
struct name_slot
{
	const char *ptr;			/* NULL: empty slot */
	uint64_t	len;
	uint64_t	idx;
};

struct name_index
{
	struct name_slot *slots;
	uint64_t	mask;
};

struct gguf_file
{
	const uint8_t *map;
	uint64_t	size;
	uint32_t	version;
	uint32_t	alignment;
	struct gguf_kv *kv;
	uint64_t	n_kv;
	struct gguf_str **kv_strs;	/* per kv: index of a string array, or NULL */
	struct name_index kv_index;
	struct gguf_tensor *tensors;
	uint64_t	n_tensors;
	struct name_index tensor_index;
	struct gguf_file **parts;	/* split parts 2..N, which own their mappings */
	uint32_t	n_parts;
};

/* Reading position in one mapped part. */
struct cursor
{
	const uint8_t *base;
	uint64_t	size;
	uint64_t	pos;
	char	   *err;
};

static const char *const type_names[] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
	"array", "u64", "i64", "f64"
};

/* Size of a fixed-size value type; 0 for strings, arrays and bad types. */
static uint64_t
scalar_size(uint32_t type)
{
	switch (type)
	{
		case GGUF_UINT8:
		case GGUF_INT8:
		case GGUF_BOOL:
			return 1;
		case GGUF_UINT16:
		case GGUF_INT16:
			return 2;
		case GGUF_UINT32:
		case GGUF_INT32:
		case GGUF_FLOAT32:
			return 4;
		case GGUF_UINT64:
		case GGUF_INT64:
		case GGUF_FLOAT64:
			return 8;
		default:
			return 0;
	}
}

static const char *
type_name(uint32_t type)
{
	return type <= GGUF_FLOAT64 ? type_names[type] : "invalid";
}

/*
 * Quote a string from the file in a message: control and non-ASCII bytes
 * become '?' so that a hostile name cannot break the one-line, valid-UTF-8
 * promise of error messages, and long names are cut.
 */
static const char *
show(char *buf, struct gguf_str s)
{
	uint64_t	n = s.len < SHOW_MAX ? s.len : SHOW_MAX;
	uint64_t	i;

	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s.ptr[i];

		buf[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
	}
	if (s.len > SHOW_MAX)
		memcpy(buf + n - 3, "...", 3);
	buf[n] = '\0';
	return buf;
}

/* Write a message and give false, for the many checks that end a parse. */
static bool
fail(char *err, const char *fmt,...)
__attribute__((format(printf, 2, 3)));

static bool
fail(char *err, const char *fmt,...)
{
	va_list		ap;

	if (err)
	{
		va_start(ap, fmt);
		vsnprintf(err, ERR_MAX, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* ---- cursor ---- */

static bool
cur_need(struct cursor *c, uint64_t n, const char *what)
{
	if (n <= c->size - c->pos)
		return true;
	return fail(c->err, "gguf: file truncated in %s (needs %" PRIu64
				" bytes at offset %" PRIu64 ", file size %" PRIu64 ")",
				what, n, c->pos, c->size);
}

static bool
cur_u32(struct cursor *c, uint32_t *v, const char *what)
{
	if (!cur_need(c, 4, what))
		return false;
	memcpy(v, c->base + c->pos, 4);
	c->pos += 4;
	return true;
}

static bool
cur_u64(struct cursor *c, uint64_t *v, const char *what)
{
	if (!cur_need(c, 8, what))
		return false;
	memcpy(v, c->base + c->pos, 8);
	c->pos += 8;
	return true;
}

static bool
cur_str(struct cursor *c, struct gguf_str *s, const char *what)
{
	uint64_t	len;

	if (!cur_u64(c, &len, what))
		return false;
	if (len > c->size - c->pos)
		return fail(c->err, "gguf: %s length %" PRIu64 " at offset %" PRIu64
					" extends past end of file (size %" PRIu64 ")",
					what, len, c->pos - 8, c->size);
	s->ptr = (const char *) c->base + c->pos;
	s->len = len;
	c->pos += len;
	return true;
}

/* ---- name index ---- */

static uint64_t
name_hash(const char *p, uint64_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	uint64_t	i;

	for (i = 0; i < len; i++)
	{
		h ^= (unsigned char) p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static bool
index_init(struct name_index *ix, uint64_t n)
{
	uint64_t	cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	ix->slots = calloc(cap, sizeof(struct name_slot));
	ix->mask = cap - 1;
	return ix->slots != NULL;
}

static const struct name_slot *
index_find(const struct name_index *ix, const char *p, uint64_t len)
{
	uint64_t	i;

	if (!ix->slots)
		return NULL;
	for (i = name_hash(p, len) & ix->mask;; i = (i + 1) & ix->mask)
	{
		const struct name_slot *s = &ix->slots[i];

		if (!s->ptr)
			return NULL;
		if (s->len == len && memcmp(s->ptr, p, len) == 0)
			return s;
	}
}

/* Insert a name; false if it is already there.  The table never fills:
 * it was sized for twice the names it will hold. */
static bool
index_add(struct name_index *ix, struct gguf_str name, uint64_t idx)
{
	uint64_t	i;

	for (i = name_hash(name.ptr, name.len) & ix->mask;; i = (i + 1) & ix->mask)
	{
		struct name_slot *s = &ix->slots[i];

		if (!s->ptr)
		{
			s->ptr = name.ptr;
			s->len = name.len;
			s->idx = idx;
			return true;
		}
		if (s->len == name.len && memcmp(s->ptr, name.ptr, name.len) == 0)
			return false;
	}
}

/* ---- metadata ---- */

/* Walk a string array, recording where each element lies. */
static bool
parse_str_array(struct cursor *c, struct gguf_file *f, uint64_t i,
				const char *key)
{
	struct gguf_kv *kv = &f->kv[i];
	struct gguf_str *strs;
	char		what[SHOW_MAX + 48];
	uint64_t	j;

	if (kv->n > (c->size - c->pos) / 8)
		return fail(c->err, "gguf: key '%s': array of %" PRIu64
					" strings cannot fit in the file (size %" PRIu64 ")",
					key, kv->n, c->size);
	strs = malloc((kv->n ? kv->n : 1) * sizeof(struct gguf_str));
	if (!strs)
		return fail(c->err, "gguf: out of memory for key '%s'", key);
	f->kv_strs[i] = strs;
	snprintf(what, sizeof what, "key '%s' string element", key);
	for (j = 0; j < kv->n; j++)
		if (!cur_str(c, &strs[j], what))
			return false;
	return true;
}

static bool
parse_array(struct cursor *c, struct gguf_file *f, uint64_t i, const char *key)
{
	struct gguf_kv *kv = &f->kv[i];
	uint32_t	elem;
	uint64_t	esize;

	if (!cur_u32(c, &elem, "array element type") ||
		!cur_u64(c, &kv->n, "array element count"))
		return false;
	kv->elem_type = (enum gguf_type) elem;
	kv->data = c->base + c->pos;
	if (elem == GGUF_ARRAY)
		return fail(c->err, "gguf: key '%s' is an array of arrays (not supported)",
					key);
	if (elem == GGUF_STRING)
		return parse_str_array(c, f, i, key);
	esize = scalar_size(elem);
	if (esize == 0)
		return fail(c->err, "gguf: key '%s' has invalid array element type %u",
					key, elem);
	if (kv->n > (c->size - c->pos) / esize)
		return fail(c->err, "gguf: key '%s': array of %" PRIu64 " %s extends past"
					" end of file (size %" PRIu64 ")",
					key, kv->n, type_name(elem), c->size);
	c->pos += kv->n * esize;
	return true;
}

static bool
parse_value(struct cursor *c, struct gguf_file *f, uint64_t i, const char *key)
{
	struct gguf_kv *kv = &f->kv[i];
	char		what[SHOW_MAX + 24];
	uint64_t	size;
	struct gguf_str s;

	kv->data = c->base + c->pos;
	if (kv->type == GGUF_ARRAY)
		return parse_array(c, f, i, key);
	snprintf(what, sizeof what, "value of key '%s'", key);
	if (kv->type == GGUF_STRING)
		return cur_str(c, &s, what);
	size = scalar_size(kv->type);
	if (size == 0)
		return fail(c->err, "gguf: key '%s' has invalid value type %u",
					key, (unsigned) kv->type);
	if (!cur_need(c, size, what))
		return false;
	c->pos += size;
	return true;
}

static bool
parse_kv(struct cursor *c, struct gguf_file *f)
{
	uint64_t	i;

	if (!index_init(&f->kv_index, f->n_kv))
		return fail(c->err, "gguf: out of memory");
	for (i = 0; i < f->n_kv; i++)
	{
		struct gguf_kv *kv = &f->kv[i];
		char		key[SHOW_MAX + 1];
		uint32_t	type;

		if (!cur_str(c, &kv->key, "metadata key"))
			return false;
		show(key, kv->key);
		if (!index_add(&f->kv_index, kv->key, i))
			return fail(c->err, "gguf: duplicate key '%s'", key);
		if (!cur_u32(c, &type, "metadata value type"))
			return false;
		kv->type = (enum gguf_type) type;
		if (!parse_value(c, f, i, key))
			return false;
	}
	return true;
}

static bool
read_alignment(struct gguf_file *f, char *err)
{
	const struct gguf_kv *kv = gguf_kv_find(f, "general.alignment");
	uint32_t	a;

	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (!kv)
		return true;
	if (kv->type != GGUF_UINT32)
		return fail(err, "gguf: general.alignment has type %s, expected u32",
					type_name(kv->type));
	memcpy(&a, kv->data, 4);
	if (a == 0 || (a & (a - 1)) != 0)
		return fail(err, "gguf: general.alignment %u is not a power of two", a);
	f->alignment = a;
	return true;
}

/* ---- tensors ---- */

static bool
parse_shape(struct cursor *c, struct gguf_tensor *t, const char *name)
{
	int64_t		total = 1;
	uint32_t	d;

	if (!cur_u32(c, &t->n_dims, "tensor dimension count"))
		return false;
	if (t->n_dims < 1 || t->n_dims > 4)
		return fail(c->err, "gguf: tensor '%s' has %u dimensions (expected 1 to 4)",
					name, t->n_dims);
	for (d = 0; d < 4; d++)
		t->ne[d] = 1;
	for (d = 0; d < t->n_dims; d++)
	{
		uint64_t	ne;

		if (!cur_u64(c, &ne, "tensor shape"))
			return false;
		if (ne == 0 || ne > INT64_MAX)
			return fail(c->err, "gguf: tensor '%s' has ne[%u] = %" PRIu64
						" (must be 1 to 2^63-1)", name, d, ne);
		t->ne[d] = (int64_t) ne;
		if (__builtin_mul_overflow(total, t->ne[d], &total))
			return fail(c->err, "gguf: tensor '%s' element count overflows", name);
	}
	return true;
}

/* Read one tensor info record; the data offset is kept in nbytes until the
 * data section's start is known. */
static bool
parse_tensor_info(struct cursor *c, struct gguf_tensor *t)
{
	char		name[SHOW_MAX + 1];

	if (!cur_str(c, &t->name, "tensor name"))
		return false;
	show(name, t->name);
	return parse_shape(c, t, name) &&
		cur_u32(c, &t->type, "tensor type") &&
		cur_u64(c, &t->nbytes, "tensor data offset");
}

/* Bytes of a tensor of a supported type; false on overflow. */
static bool
tensor_bytes(const struct gguf_tensor *t, uint64_t *out)
{
	int			block = dtype_block_elems(t->type);
	uint64_t	n = (uint64_t) (t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);

	return !__builtin_mul_overflow(n / (uint64_t) block,
								   (uint64_t) dtype_block_bytes(t->type), out);
}

/* Check a tensor's type, offset and size against the data section and set
 * its data pointer. */
static bool
place_tensor(struct gguf_file *f, struct gguf_tensor *t, uint64_t data_start,
			 char *err)
{
	uint64_t	offset = t->nbytes;
	uint64_t	avail = f->size - data_start;
	int			block = dtype_block_elems(t->type);
	char		name[SHOW_MAX + 1];

	show(name, t->name);
	t->nbytes = 0;
	t->data = NULL;
	if (offset % f->alignment != 0)
		return fail(err, "gguf: tensor '%s' offset %" PRIu64 " is not a"
					" multiple of the alignment %u", name, offset,
					f->alignment);
	if (block > 0 && t->ne[0] % block != 0)
		return fail(err, "gguf: tensor '%s' has ne[0] = %" PRId64 ", not a"
					" multiple of the %s block size %d", name, t->ne[0],
					dtype_name(t->type), block);
	if (block > 0 && !tensor_bytes(t, &t->nbytes))
		return fail(err, "gguf: tensor '%s' byte size overflows", name);
	if (offset > avail || t->nbytes > avail - offset)
		return fail(err, "gguf: tensor '%s' data (offset %" PRIu64 ", %"
					PRIu64 " bytes) extends past end of file (size %"
					PRIu64 ")", name, offset, t->nbytes, f->size);
	if (block > 0)
		t->data = f->map + data_start + offset;
	return true;
}

static bool
parse_tensors(struct cursor *c, struct gguf_file *f)
{
	uint64_t	data_start;
	uint64_t	i;

	for (i = 0; i < f->n_tensors; i++)
		if (!parse_tensor_info(c, &f->tensors[i]))
			return false;
	if (!read_alignment(f, c->err))
		return false;
	data_start = c->pos + (f->alignment - c->pos % f->alignment) % f->alignment;
	if (f->n_tensors > 0 && data_start > f->size)
		return fail(c->err, "gguf: file truncated before the data section (starts"
					" at %" PRIu64 ", file size %" PRIu64 ")", data_start, f->size);
	for (i = 0; i < f->n_tensors; i++)
		if (!place_tensor(f, &f->tensors[i], data_start, c->err))
			return false;
	return true;
}

/* ---- one part ---- */

static bool
parse_header(struct cursor *c, struct gguf_file *f)
{
	uint32_t	version;

	if (memcmp(c->base, "GGUF", c->size < 4 ? c->size : 4) != 0)
		return fail(c->err, "gguf: not a GGUF file (bad magic)");
	if (!cur_need(c, 4, "magic"))
		return false;
	c->pos = 4;
	if (!cur_u32(c, &version, "version"))
		return false;
	f->version = version;
	if (version == 1)
		return fail(c->err, "gguf: version 1 files are not supported"
					" (only versions 2 and 3)");
	if (version != 2 && version != 3)
		return fail(c->err, "gguf: unsupported version %u%s", version,
					(version & 0xffff) == 0 ?
					" (big-endian file?)" : "");
	return cur_u64(c, &f->n_tensors, "tensor count") &&
		cur_u64(c, &f->n_kv, "metadata count");
}

/* Refuse counts the rest of the file could not hold, then allocate. */
static bool
alloc_tables(struct cursor *c, struct gguf_file *f)
{
	uint64_t	left = c->size - c->pos;

	if (f->n_kv > left / KV_MIN_BYTES)
		return fail(c->err, "gguf: metadata count %" PRIu64 " is impossible"
					" for a file of %" PRIu64 " bytes", f->n_kv, c->size);
	left -= f->n_kv * KV_MIN_BYTES;
	if (f->n_tensors > left / TENSOR_MIN_BYTES)
		return fail(c->err, "gguf: tensor count %" PRIu64 " is impossible"
					" for a file of %" PRIu64 " bytes", f->n_tensors,
					c->size);
	f->kv = calloc(f->n_kv + 1, sizeof(struct gguf_kv));
	f->kv_strs = calloc(f->n_kv + 1, sizeof(struct gguf_str *));
	f->tensors = calloc(f->n_tensors + 1, sizeof(struct gguf_tensor));
	if (!f->kv || !f->kv_strs || !f->tensors)
		return fail(c->err, "gguf: out of memory");
	return true;
}

/* Why an open descriptor cannot be mapped as a model, or NULL if it can. */
static const char *
unmappable(int fd, struct stat *st)
{
	if (fstat(fd, st) != 0)
		return strerror(errno);
	if (S_ISDIR(st->st_mode))
		return "is a directory";
	if (!S_ISREG(st->st_mode))
		return "is not a regular file";
	if (st->st_size == 0)
		return "is empty";
	return NULL;
}

static bool
map_file(struct gguf_file *f, const char *path, char *err)
{
	struct stat st;
	const char *why;
	void	   *map;
	int			fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(err, "gguf: cannot open %s: %s", path, strerror(errno));
	why = unmappable(fd, &st);
	if (why)
	{
		close(fd);
		return fail(err, "gguf: %s %s", path, why);
	}
	map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return fail(err, "gguf: cannot map %s: %s", path, strerror(errno));
	f->map = map;
	f->size = (uint64_t) st.st_size;
	return true;
}

/* Open, map and validate a single file, without following split parts. */
static struct gguf_file *
open_part(const char *path, char *err)
{
	struct gguf_file *f = calloc(1, sizeof *f);
	struct cursor c;

	if (!f)
	{
		fail(err, "gguf: out of memory");
		return NULL;
	}
	if (!map_file(f, path, err))
	{
		free(f);
		return NULL;
	}
	c.base = f->map;
	c.size = f->size;
	c.pos = 0;
	c.err = err;
	if (parse_header(&c, f) && alloc_tables(&c, f) && parse_kv(&c, f) &&
		parse_tensors(&c, f))
		return f;
	gguf_close(f);
	return NULL;
}

/* ---- split models ---- */

static bool
all_digits(const char *p, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* Find "-NNNNN-of-MMMMM.gguf" at the end of path: the part number and count. */
static bool
split_name(const char *path, uint32_t *no, uint32_t *count)
{
	size_t		len = strlen(path);
	const char *s;

	if (len < SPLIT_SUFFIX_LEN)
		return false;
	s = path + len - SPLIT_SUFFIX_LEN;
	if (s[0] != '-' || !all_digits(s + 1, 5) || memcmp(s + 6, "-of-", 4) != 0 ||
		!all_digits(s + 10, 5) || strcmp(s + 15, ".gguf") != 0)
		return false;
	*no = (uint32_t) strtoul(s + 1, NULL, 10);
	*count = (uint32_t) strtoul(s + 10, NULL, 10);
	return true;
}

static bool
check_split_name(const char *path, uint32_t count, char *err)
{
	uint32_t	no,
				name_count;

	if (!split_name(path, &no, &name_count) || name_count != count)
		return fail(err, "gguf: split.count is %u but the file name does"
					" not end in -00001-of-%05u.gguf", count, count);
	if (no != 1)
		return fail(err, "gguf: this is split part %u of %u; open the first"
					" part", no, count);
	return true;
}

/* A part must agree with the first one about the split it belongs to. */
static bool
check_part_keys(const struct gguf_file *p, uint32_t no, uint32_t count,
				char *err)
{
	uint32_t	v;

	if (gguf_kv_find(p, "split.no") &&
		(!gguf_get_u32(p, "split.no", &v) || v != no - 1))
		return fail(err, "gguf: split part %u of %u has a wrong split.no",
					no, count);
	if (gguf_kv_find(p, "split.count") &&
		(!gguf_get_u32(p, "split.count", &v) || v != count))
		return fail(err, "gguf: split part %u of %u has a wrong split.count",
					no, count);
	return true;
}

/* Move a part's tensors to the end of the first part's list. */
static bool
adopt_tensors(struct gguf_file *f, struct gguf_file *p, char *err)
{
	struct gguf_tensor *t;

	t = realloc(f->tensors, (f->n_tensors + p->n_tensors + 1) * sizeof *t);
	if (!t)
		return fail(err, "gguf: out of memory");
	memcpy(t + f->n_tensors, p->tensors, p->n_tensors * sizeof *t);
	f->tensors = t;
	f->n_tensors += p->n_tensors;
	return true;
}

static bool
open_one_split_part(struct gguf_file *f, char *ppath, uint32_t no,
					uint32_t count, char *err)
{
	size_t		len = strlen(ppath);
	struct gguf_file *p;
	char		perr[ERR_MAX];
	struct stat st;

	snprintf(ppath + len - SPLIT_SUFFIX_LEN, SPLIT_SUFFIX_LEN + 1,
			 "-%05u-of-%05u.gguf", no, count);
	if (stat(ppath, &st) != 0 && errno == ENOENT)
		return fail(err, "gguf: split part %u of %u missing: %s", no, count,
					ppath);
	p = open_part(ppath, perr);
	if (!p)
		return fail(err, "gguf: split part %u of %u: %s", no, count,
					strncmp(perr, "gguf: ", 6) == 0 ? perr + 6 : perr);
	f->parts[f->n_parts++] = p;
	return check_part_keys(p, no, count, err) && adopt_tensors(f, p, err);
}

static bool
open_split(struct gguf_file *f, const char *path, char *err)
{
	uint32_t	count;
	uint32_t	no;
	char	   *ppath;
	uint64_t	expect;
	bool		ok = true;

	if (!gguf_get_u32(f, "split.count", &count) || count <= 1)
		return true;
	if (!check_split_name(path, count, err) || !check_part_keys(f, 1, count, err))
		return false;
	f->parts = calloc(count, sizeof(struct gguf_file *));
	ppath = strdup(path);
	if (!f->parts || !ppath)
	{
		free(ppath);
		return fail(err, "gguf: out of memory");
	}
	for (no = 2; ok && no <= count; no++)
		ok = open_one_split_part(f, ppath, no, count, err);
	free(ppath);
	if (ok && gguf_get_u64(f, "split.tensors.count", &expect) &&
		expect != f->n_tensors)
		return fail(err, "gguf: split.tensors.count is %" PRIu64 " but the"
					" parts hold %" PRIu64 " tensors", expect, f->n_tensors);
	return ok;
}

static bool
index_tensors(struct gguf_file *f, char *err)
{
	uint64_t	i;

	if (!index_init(&f->tensor_index, f->n_tensors))
		return fail(err, "gguf: out of memory");
	for (i = 0; i < f->n_tensors; i++)
	{
		char		name[SHOW_MAX + 1];

		if (!index_add(&f->tensor_index, f->tensors[i].name, i))
			return fail(err, "gguf: duplicate tensor '%s'",
						show(name, f->tensors[i].name));
	}
	return true;
}

/* ---- public interface ---- */

struct gguf_file *
gguf_open(const char *path, char *err)
{
	struct gguf_file *f = open_part(path, err);

	if (!f)
		return NULL;
	if (open_split(f, path, err) && index_tensors(f, err))
		return f;
	gguf_close(f);
	return NULL;
}

void
gguf_close(struct gguf_file *f)
{
	uint64_t	i;

	if (!f)
		return;
	for (i = 0; i < f->n_parts; i++)
		gguf_close(f->parts[i]);
	free(f->parts);
	if (f->kv_strs)
		for (i = 0; i < f->n_kv; i++)
			free(f->kv_strs[i]);
	free(f->kv_strs);
	free(f->kv);
	free(f->kv_index.slots);
	free(f->tensors);
	free(f->tensor_index.slots);
	if (f->map)
		munmap((void *) f->map, (size_t) f->size);
	free(f);
}

uint32_t
gguf_version(const struct gguf_file *f)
{
	return f->version;
}

uint64_t
gguf_file_size(const struct gguf_file *f)
{
	uint64_t	size = f->size;
	uint32_t	i;

	for (i = 0; i < f->n_parts; i++)
		size += f->parts[i]->size;
	return size;
}

uint64_t
gguf_kv_count(const struct gguf_file *f)
{
	return f->n_kv;
}

const struct gguf_kv *
gguf_kv_at(const struct gguf_file *f, uint64_t i)
{
	return i < f->n_kv ? &f->kv[i] : NULL;
}

const struct gguf_kv *
gguf_kv_find(const struct gguf_file *f, const char *key)
{
	const struct name_slot *s = index_find(&f->kv_index, key, strlen(key));

	return s ? &f->kv[s->idx] : NULL;
}

/*
 * Read an integer value of any width: a negative one comes back in *neg_val
 * with *neg set, any other in *val.
 */
static bool
kv_int(const struct gguf_kv *kv, uint64_t *val, int64_t *neg_val, bool *neg)
{
	int64_t		s;

	*val = 0;
	*neg = false;
	switch (kv->type)
	{
		case GGUF_UINT8:
			*val = *(const uint8_t *) kv->data;
			return true;
		case GGUF_UINT16:
			{
				uint16_t	v;

				memcpy(&v, kv->data, 2);
				*val = v;
				return true;
			}
		case GGUF_UINT32:
			{
				uint32_t	v;

				memcpy(&v, kv->data, 4);
				*val = v;
				return true;
			}
		case GGUF_UINT64:
			memcpy(val, kv->data, 8);
			return true;
		case GGUF_INT8:
			s = *(const int8_t *) kv->data;
			break;
		case GGUF_INT16:
			{
				int16_t		v;

				memcpy(&v, kv->data, 2);
				s = v;
				break;
			}
		case GGUF_INT32:
			{
				int32_t		v;

				memcpy(&v, kv->data, 4);
				s = v;
				break;
			}
		case GGUF_INT64:
			memcpy(&s, kv->data, 8);
			break;
		default:
			return false;
	}
	*neg = s < 0;
	*neg_val = s;
	*val = s < 0 ? 0 : (uint64_t) s;
	return true;
}

bool
gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out)
{
	const struct gguf_kv *kv = gguf_kv_find(f, key);
	uint64_t	v;
	int64_t		nv;
	bool		neg;

	if (!kv || !kv_int(kv, &v, &nv, &neg) || neg || v > UINT32_MAX)
		return false;
	*out = (uint32_t) v;
	return true;
}

bool
gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out)
{
	const struct gguf_kv *kv = gguf_kv_find(f, key);
	uint64_t	v;
	int64_t		nv;
	bool		neg;

	if (!kv || !kv_int(kv, &v, &nv, &neg))
		return false;
	if (neg ? nv < INT32_MIN : v > INT32_MAX)
		return false;
	*out = neg ? (int32_t) nv : (int32_t) v;
	return true;
}

bool
gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out)
{
	const struct gguf_kv *kv = gguf_kv_find(f, key);
	uint64_t	v;
	int64_t		nv;
	bool		neg;

	if (!kv || !kv_int(kv, &v, &nv, &neg) || neg)
		return false;
	*out = v;
	return true;
}

bool
gguf_get_f32(const struct gguf_file *f, const char *key, float *out)
{
	const struct gguf_kv *kv = gguf_kv_find(f, key);
	double		d;

	if (!kv)
		return false;
	if (kv->type == GGUF_FLOAT32)
	{
		memcpy(out, kv->data, 4);
		return true;
	}
	if (kv->type == GGUF_FLOAT64)
	{
		memcpy(&d, kv->data, 8);
		*out = (float) d;
		return true;
	}
	return false;
}

bool
gguf_get_bool(const struct gguf_file *f, const char *key, bool *out)
{
	const struct gguf_kv *kv = gguf_kv_find(f, key);

	if (!kv || kv->type != GGUF_BOOL)
		return false;
	*out = *(const uint8_t *) kv->data != 0;
	return true;
}

bool
gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out)
{
	const struct gguf_kv *kv = gguf_kv_find(f, key);

	if (!kv || kv->type != GGUF_STRING)
		return false;
	memcpy(&out->len, kv->data, 8);
	out->ptr = (const char *) kv->data + 8;
	return true;
}

const struct gguf_kv *
gguf_get_arr(const struct gguf_file *f, const char *key)
{
	const struct gguf_kv *kv = gguf_kv_find(f, key);

	return kv && kv->type == GGUF_ARRAY ? kv : NULL;
}

struct gguf_str
gguf_arr_str(const struct gguf_file *f, const struct gguf_kv *arr, uint64_t i)
{
	struct gguf_str none = {NULL, 0};
	uintptr_t	a = (uintptr_t) arr;
	uintptr_t	first = (uintptr_t) f->kv;
	uint64_t	k;

	if (a < first || a >= first + f->n_kv * sizeof(struct gguf_kv))
		return none;
	k = (a - first) / sizeof(struct gguf_kv);
	if (!f->kv_strs[k] || i >= f->kv[k].n)
		return none;
	return f->kv_strs[k][i];
}

uint64_t
gguf_tensor_count(const struct gguf_file *f)
{
	return f->n_tensors;
}

const struct gguf_tensor *
gguf_tensor_at(const struct gguf_file *f, uint64_t i)
{
	return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const struct gguf_tensor *
gguf_tensor_find(const struct gguf_file *f, const char *name)
{
	const struct name_slot *s = index_find(&f->tensor_index, name,
										   strlen(name));

	return s ? &f->tensors[s->idx] : NULL;
}

void
gguf_arch_key(char *buf, size_t size, const char *arch, const char *suffix)
{
	snprintf(buf, size, "%s.%s", arch, suffix);
}
