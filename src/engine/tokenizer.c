/*
 * tokenizer.c — byte-level BPE (GPT-2 style) from a GGUF vocabulary.
 *
 * Encoding: the text is cut at special tokens, each remaining piece is split
 * into words (pretokenizer.c), each word's bytes are mapped to the printable
 * code points of the GPT-2 byte encoding, and BPE merges are applied by rank
 * inside the word.  Every rule that decides which ids come out (which tokens
 * count as special, the order special tokens are looked for, what happens to
 * a merge result missing from the vocabulary) follows llama.cpp, so ids are
 * identical on the same file.
 *
 * Everything is copied out of the GGUF file at load: the tokenizer does not
 * need the file to stay open.
 */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "pretokenizer.h"
#include "utf8.h"

/* Token attributes, as llama.cpp numbers them; ATTR_EOG is ours. */
#define ATTR_UNKNOWN	0x0001
#define ATTR_UNUSED		0x0002
#define ATTR_NORMAL		0x0004
#define ATTR_CONTROL	0x0008
#define ATTR_USER		0x0010
#define ATTR_BYTE		0x0020
#define ATTR_EOG		0x8000

#define ATTR_SPECIAL	(ATTR_UNKNOWN | ATTR_CONTROL)

/* Symbol indexes are int32_t and a byte-encoded word is twice its text. */
#define MAX_TEXT		(1 << 30)

/* GPT-2 maps bytes to code points below 0x144. */
#define BYTE_CP_LIMIT	0x144

/*
 * A set of strings kept in one arena, with an open-addressing hash index
 * from text to entry number.
 */
struct strtab_slot
{
	uint32_t	entry;			/* entry + 1; 0 = empty */
	uint32_t	hash;
};

struct strtab
{
	char	   *arena;
	uint32_t   *off;			/* n + 1 offsets into arena */
	uint32_t	n;
	struct strtab_slot *slot;
	uint32_t	mask;
};

struct tokenizer
{
	struct strtab vocab;		/* entry i is token i */
	struct strtab merges;		/* "left right" strings */
	int32_t    *merge_rank;		/* rank of each merges entry */
	uint16_t   *attr;
	int32_t		n_vocab;
	int32_t		bos;
	int32_t		eos;
	bool		add_bos;
	struct pretok_info pre;
	int32_t    *special;		/* special tokens, longest text first */
	size_t		n_special;
	char		byte_enc[256][2];	/* UTF-8 of each byte's code point */
	uint8_t		byte_enc_len[256];
	int16_t		byte_dec[BYTE_CP_LIMIT];	/* code point -> byte, or -1 */
};

/* ---- growable arrays ---- */

static void *
grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t		c = *cap ? *cap : 16;

	if (need <= *cap)
		return p;
	while (c < need)
		c *= 2;
	p = realloc(p, c * elem);
	if (p == NULL)
		abort();				/* out of memory is not bad input */
	*cap = c;
	return p;
}

void
token_list_push(struct token_list *l, int32_t id)
{
	l->ids = grow(l->ids, &l->cap, l->n + 1, sizeof *l->ids);
	l->ids[l->n++] = id;
}

void
token_list_free(struct token_list *l)
{
	free(l->ids);
	memset(l, 0, sizeof *l);
}

void
text_buf_append(struct text_buf *b, const char *s, size_t n)
{
	b->s = grow(b->s, &b->cap, b->len + n + 1, 1);
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

/* ---- string table ---- */

static uint32_t
hash_bytes(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char) s[i]) * 16777619u;
	return h;
}

static uint32_t
hash_final(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

/* Hash of a, or of "a b" when b is given (how merges are keyed). */
static uint32_t
key_hash(const char *a, size_t alen, const char *b, size_t blen)
{
	uint32_t	h = hash_bytes(2166136261u, a, alen);

	if (b)
	{
		h = hash_bytes(h, " ", 1);
		h = hash_bytes(h, b, blen);
	}
	return hash_final(h);
}

static bool
entry_equals(const struct strtab *t, uint32_t e, const char *a, size_t alen,
			 const char *b, size_t blen)
{
	const char *s = t->arena + t->off[e];
	size_t		n = t->off[e + 1] - t->off[e];

	if (b == NULL)
		return n == alen && memcmp(s, a, alen) == 0;
	return n == alen + 1 + blen && memcmp(s, a, alen) == 0 &&
		s[alen] == ' ' && memcmp(s + alen + 1, b, blen) == 0;
}

/* Entry holding a (or "a b"), whose key_hash is h, or -1. */
static int64_t
strtab_find_hashed(const struct strtab *t, uint32_t h, const char *a, size_t alen,
				   const char *b, size_t blen)
{
	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask)
	{
		uint32_t	e = t->slot[i].entry;

		if (e == 0)
			return -1;
		if (t->slot[i].hash == h && entry_equals(t, e - 1, a, alen, b, blen))
			return e - 1;
	}
}

/* Entry holding a (or "a b"), or -1. */
static int64_t
strtab_find(const struct strtab *t, const char *a, size_t alen,
			const char *b, size_t blen)
{
	return strtab_find_hashed(t, key_hash(a, alen, b, blen), a, alen, b, blen);
}

/*
 * Index every entry.  For a text present more than once, the index points
 * at the last copy when last_wins (llama.cpp's token map), else at the first
 * (its merge ranks).  The hashes are computed first so that the slot each
 * insert will probe can be prefetched: the table is larger than the caches,
 * and waiting for each slot in turn would dominate the load time.
 */
static bool
strtab_index(struct strtab *t, bool last_wins)
{
	const uint32_t ahead = 16;
	uint32_t	cap = 16;
	uint32_t   *hash;

	while (cap < 2 * (uint64_t) t->n + 2)
		cap *= 2;
	t->slot = calloc(cap, sizeof *t->slot);
	hash = malloc(((size_t) t->n + 1) * sizeof *hash);
	if (t->slot == NULL || hash == NULL)
	{
		free(hash);
		return false;
	}
	t->mask = cap - 1;
	for (uint32_t e = 0; e < t->n; e++)
		hash[e] = key_hash(t->arena + t->off[e], t->off[e + 1] - t->off[e], NULL, 0);
	for (uint32_t e = 0; e < t->n; e++)
	{
		const char *s = t->arena + t->off[e];
		size_t		n = t->off[e + 1] - t->off[e];
		uint32_t	h = hash[e];
		uint32_t	i = h & t->mask;

		if (e + ahead < t->n)
			__builtin_prefetch(&t->slot[hash[e + ahead] & t->mask], 1);
		for (; t->slot[i].entry != 0; i = (i + 1) & t->mask)
			if (t->slot[i].hash == h && entry_equals(t, t->slot[i].entry - 1, s, n, NULL, 0))
				break;
		if (t->slot[i].entry == 0 || last_wins)
			t->slot[i].entry = e + 1;
		t->slot[i].hash = h;
	}
	free(hash);
	return true;
}

static void
strtab_free(struct strtab *t)
{
	free(t->arena);
	free(t->off);
	free(t->slot);
}

static const char *
strtab_str(const struct strtab *t, uint32_t e, size_t *len)
{
	*len = t->off[e + 1] - t->off[e];
	return t->arena + t->off[e];
}

/* ---- loading ----
 *
 * A vocabulary comes from a file we do not trust, and everything the
 * encoder and decoder do assumes what is checked here: token texts and
 * merges are valid UTF-8 without NUL (a special token is cut out of
 * valid text, so the pieces around it stay whole characters), merges join
 * two tokens of the vocabulary, token types are known and the role ids
 * (bos, eos, ...) name tokens.  A file that breaks one is refused.
 */

/* Whether s[0..n) is valid UTF-8 without NUL. */
static bool
is_text(const char *s, size_t n)
{
	return utf8_valid_prefix(s, n) == n && memchr(s, '\0', n) == NULL;
}

/* The GPT-2 byte encoding: printable Latin-1 bytes stand for themselves,
 * the others take code points from 256 up, in byte order. */
static void
init_byte_maps(struct tokenizer *t)
{
	int			next = 256;

	for (int i = 0; i < BYTE_CP_LIMIT; i++)
		t->byte_dec[i] = -1;
	for (int b = 0; b < 256; b++)
	{
		bool		self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
			(b >= 0xAE && b <= 0xFF);
		int			cp = self ? b : next++;

		t->byte_enc_len[b] = (uint8_t) utf8_encode((uint32_t) cp, t->byte_enc[b]);
		t->byte_dec[cp] = (int16_t) b;
	}
}

/* Copy the tokens into the vocab table; an empty token is named
 * "[EMPTY_<id>]" as llama.cpp names it. */
static int
load_vocab(struct tokenizer *t, const struct gguf_file *f,
		   const struct gguf_kv *arr, char *err)
{
	struct strtab *v = &t->vocab;
	uint64_t	total = 0;
	uint32_t	n = (uint32_t) arr->n;

	for (uint32_t i = 0; i < n; i++)
	{
		struct gguf_str s = gguf_arr_str(f, arr, i);

		if (!is_text(s.ptr, s.len))
			return err_set(err, "tokenizer.ggml.tokens[%u] is not valid UTF-8 text", i);
		total += s.len ? s.len : 24;
	}
	if (total >= UINT32_MAX)
		return err_set(err, "tokenizer vocabulary too large");
	v->n = n;
	v->arena = malloc(total + 1);
	v->off = malloc(((size_t) n + 1) * sizeof *v->off);
	if (v->arena == NULL || v->off == NULL)
		return err_set(err, "out of memory loading the vocabulary");
	v->off[0] = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		struct gguf_str s = gguf_arr_str(f, arr, i);
		char	   *dst = v->arena + v->off[i];
		size_t		len = s.len;

		if (len == 0)
			len = (size_t) snprintf(dst, 24, "[EMPTY_%u]", i);
		else
			memcpy(dst, s.ptr, len);
		v->off[i + 1] = v->off[i] + (uint32_t) len;
	}
	if (!strtab_index(v, true))
		return err_set(err, "out of memory loading the vocabulary");
	return 0;
}

/* The space that splits merge s ("left right"): its first after the first
 * byte, or NULL when it has none (such a merge is not kept). */
static const char *
merge_space(struct gguf_str s)
{
	return s.len >= 3 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
}

/*
 * Both halves of every kept merge are tokens.  As in strtab_index, the
 * halves' hashes are computed first and the vocabulary slots prefetched:
 * one cache miss per lookup would double the load time.
 */
static int
check_merge_halves(const struct tokenizer *t, char *err)
{
	const uint32_t ahead = 16;
	const struct strtab *m = &t->merges;
	struct gguf_str *half = malloc((2 * (size_t) m->n + 1) * sizeof *half);
	uint32_t   *hash = malloc((2 * (size_t) m->n + 1) * sizeof *hash);
	int			rc = 0;

	if (half == NULL || hash == NULL)
		rc = err_set(err, "out of memory loading the merges");
	for (uint32_t e = 0; rc == 0 && e < m->n; e++)
	{
		struct gguf_str s = {m->arena + m->off[e], m->off[e + 1] - m->off[e]};
		const char *sp = merge_space(s);

		half[2 * e] = (struct gguf_str) {s.ptr, (uint64_t) (sp - s.ptr)};
		half[2 * e + 1] = (struct gguf_str) {sp + 1, (uint64_t) (s.ptr + s.len - sp - 1)};
		for (int k = 0; k < 2; k++)
			hash[2 * e + k] = key_hash(half[2 * e + k].ptr, half[2 * e + k].len, NULL, 0);
	}
	for (uint32_t i = 0; rc == 0 && i < 2 * m->n; i++)
	{
		if (i + ahead < 2 * m->n)
			__builtin_prefetch(&t->vocab.slot[hash[i + ahead] & t->vocab.mask]);
		if (strtab_find_hashed(&t->vocab, hash[i], half[i].ptr, half[i].len, NULL, 0) < 0)
			rc = err_set(err, "tokenizer.ggml.merges[%d] joins a string that is not a token",
						 t->merge_rank[i / 2]);
	}
	free(half);
	free(hash);
	return rc;
}

/*
 * A merge without a space after its first byte can never apply and is left
 * out (llama.cpp keeps it with an empty right half, which never matches).
 */
static int
load_merges(struct tokenizer *t, const struct gguf_file *f,
			const struct gguf_kv *arr, char *err)
{
	struct strtab *m = &t->merges;
	uint64_t	total = 0;
	uint32_t	n = 0;

	if (arr->n > INT32_MAX)
		return err_set(err, "too many tokenizer merges");
	for (uint64_t i = 0; i < arr->n; i++)
	{
		struct gguf_str s = gguf_arr_str(f, arr, i);

		if (!is_text(s.ptr, s.len))
			return err_set(err, "tokenizer.ggml.merges[%llu] is not valid UTF-8 text",
						   (unsigned long long) i);
		total += s.len;
	}
	if (total >= UINT32_MAX)
		return err_set(err, "tokenizer merges too large");
	m->arena = malloc(total + 1);
	m->off = malloc((arr->n + 1) * sizeof *m->off);
	t->merge_rank = malloc((arr->n + 1) * sizeof *t->merge_rank);
	if (m->arena == NULL || m->off == NULL || t->merge_rank == NULL)
		return err_set(err, "out of memory loading the merges");
	m->off[0] = 0;
	for (uint64_t i = 0; i < arr->n; i++)
	{
		struct gguf_str s = gguf_arr_str(f, arr, i);

		if (merge_space(s) == NULL)
			continue;
		memcpy(m->arena + m->off[n], s.ptr, s.len);
		m->off[n + 1] = m->off[n] + (uint32_t) s.len;
		t->merge_rank[n++] = (int32_t) i;
	}
	m->n = n;
	if (!strtab_index(m, false))
		return err_set(err, "out of memory loading the merges");
	return check_merge_halves(t, err);
}

/* llama.cpp's token types 0 (undefined) to 6 (byte), as attributes. */
#define N_TOKEN_TYPES 7

static const uint16_t attr_of_type[N_TOKEN_TYPES] = {
	0, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_CONTROL, ATTR_USER, ATTR_UNUSED, ATTR_BYTE
};

static int
load_attrs(struct tokenizer *t, const struct gguf_file *f, char *err)
{
	const struct gguf_kv *types = gguf_get_arr(f, "tokenizer.ggml.token_type");

	t->attr = malloc(((size_t) t->n_vocab + 1) * sizeof *t->attr);
	if (t->attr == NULL)
		return err_set(err, "out of memory loading the vocabulary");
	if (types && (types->elem_type != GGUF_INT32 || types->n < (uint64_t) t->n_vocab))
		return err_set(err, "invalid tokenizer.ggml.token_type");
	for (int32_t i = 0; i < t->n_vocab; i++)
	{
		int32_t		type = 1;

		if (types)
			memcpy(&type, (const char *) types->data + 4 * (size_t) i, 4);
		if (type < 0 || type >= N_TOKEN_TYPES)
			return err_set(err, "tokenizer.ggml.token_type[%d] is %d, not a token type (0 to %d)",
						   i, type, N_TOKEN_TYPES - 1);
		t->attr[i] = attr_of_type[type];
	}
	return 0;
}

/* The keys that name a token by its id. */
static const char *const id_keys[] = {
	"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
	"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
	"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
	"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
	"tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id", NULL
};

/* Each id key present holds an id of the vocabulary. */
static int
check_id_keys(const struct tokenizer *t, const struct gguf_file *f, char *err)
{
	for (const char *const *k = id_keys; *k; k++)
	{
		uint32_t	id;

		if (gguf_kv_find(f, *k) && (!gguf_get_u32(f, *k, &id) || id >= (uint32_t) t->n_vocab))
			return err_set(err, "%s is not a token id (the vocabulary has %d tokens)", *k,
						   t->n_vocab);
	}
	return 0;
}

/* Id stored under key (checked by check_id_keys), or -1 when absent. */
static int32_t
key_token(const struct gguf_file *f, const char *key)
{
	uint32_t	id;

	return gguf_get_u32(f, key, &id) ? (int32_t) id : -1;
}

/* Id of the token whose text is s (the last one, if several), or -1. */
static int32_t
lookup(const struct tokenizer *t, const char *s)
{
	return (int32_t) strtab_find(&t->vocab, s, strlen(s), NULL, 0);
}

/* Texts by which llama.cpp recognises tokens the metadata did not name. */
static const char *const eot_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
	"<end_of_utterance>", NULL
};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {
	"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
	"▁<PRE>", "<|code_prefix|>", "<|prefix|>", NULL
};
static const char *const fim_suf_texts[] = {
	"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>",
	"▁<SUF>", "<|code_suffix|>", "<|suffix|>", NULL
};
static const char *const fim_mid_texts[] = {
	"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
	"▁<MID>", "<|code_middle|>", "<|middle|>", NULL
};
static const char *const fim_pad_texts[] = {
	"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL
};
static const char *const fim_rep_texts[] = {
	"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL
};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
static const char *const eog_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
	"<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
	"_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
	"<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[", NULL
};

/*
 * A role the metadata left unnamed goes to the lowest-numbered token
 * carrying one of its texts, which then counts as a control token (so it is
 * only ever parsed as special when asked).
 */
static int32_t
detect_role(struct tokenizer *t, int32_t id, const char *const *texts)
{
	if (id >= 0)
		return id;
	for (; *texts; texts++)
	{
		int32_t		k = lookup(t, *texts);

		if (k >= 0 && (id < 0 || k < id))
			id = k;
	}
	if (id >= 0)
		t->attr[id] |= ATTR_CONTROL;
	return id;
}

static void
mark_eog(struct tokenizer *t, int32_t id)
{
	if (id >= 0)
		t->attr[id] |= ATTR_EOG | ATTR_CONTROL;
}

/* End-of-generation tokens: eos, eot, eom, the FIM pad/repo/file-separator
 * tokens, and every token whose text is a known end marker. */
static void
load_roles(struct tokenizer *t, const struct gguf_file *f)
{
	int32_t		eog[6];

	t->bos = key_token(f, "tokenizer.ggml.bos_token_id");
	t->eos = key_token(f, "tokenizer.ggml.eos_token_id");
	detect_role(t, key_token(f, "tokenizer.ggml.fim_pre_token_id"), fim_pre_texts);
	detect_role(t, key_token(f, "tokenizer.ggml.fim_suf_token_id"), fim_suf_texts);
	detect_role(t, key_token(f, "tokenizer.ggml.fim_mid_token_id"), fim_mid_texts);
	eog[0] = t->eos;
	eog[1] = detect_role(t, key_token(f, "tokenizer.ggml.eot_token_id"), eot_texts);
	eog[2] = detect_role(t, key_token(f, "tokenizer.ggml.eom_token_id"), eom_texts);
	eog[3] = detect_role(t, key_token(f, "tokenizer.ggml.fim_pad_token_id"), fim_pad_texts);
	eog[4] = detect_role(t, key_token(f, "tokenizer.ggml.fim_rep_token_id"), fim_rep_texts);
	eog[5] = detect_role(t, key_token(f, "tokenizer.ggml.fim_sep_token_id"), fim_sep_texts);

	for (const char *const *e = eog_texts; *e; e++)
		mark_eog(t, lookup(t, *e));
	for (int i = 0; i < 6; i++)
		if (eog[i] >= 0)
			t->attr[eog[i]] |= ATTR_EOG;
}

static int
cmp_special(const void *a, const void *b, void *arg)
{
	const struct strtab *v = arg;
	int32_t		x = *(const int32_t *) a,
				y = *(const int32_t *) b;
	uint32_t	lx = v->off[x + 1] - v->off[x];
	uint32_t	ly = v->off[y + 1] - v->off[y];

	if (lx != ly)
		return lx > ly ? -1 : 1;
	return x < y ? -1 : (x > y);
}

/* Tokens matched in raw text before splitting, longest first. */
static int
load_specials(struct tokenizer *t, char *err)
{
	size_t		n = 0;

	t->special = malloc(((size_t) t->n_vocab + 1) * sizeof *t->special);
	if (t->special == NULL)
		return err_set(err, "out of memory loading the vocabulary");
	for (int32_t i = 0; i < t->n_vocab; i++)
		if (t->attr[i] & (ATTR_CONTROL | ATTR_USER | ATTR_UNKNOWN))
			t->special[n++] = i;
	t->n_special = n;
	qsort_r(t->special, n, sizeof *t->special, cmp_special, &t->vocab);
	return 0;
}

/*
 * Where a piece is written: at most cap bytes go to buf, len counts them
 * all, so that a short buffer still learns the size it needs.
 */
struct sink
{
	char	   *buf;
	size_t		cap;
	size_t		len;
};

static void
sink_put(struct sink *k, const char *s, size_t n)
{
	if (k->len < k->cap)
		memcpy(k->buf + k->len, s, n < k->cap - k->len ? n : k->cap - k->len);
	k->len += n;
}

/* The bytes a normal token's text stands for; a code point outside the
 * byte encoding is written the way llama.cpp writes it. */
static void
decode_normal(const struct tokenizer *t, const char *s, size_t n, struct sink *out)
{
	const unsigned char *u = (const unsigned char *) s;

	for (size_t i = 0; i < n;)
	{
		uint32_t	cp = 0xFFFD;
		int			k = utf8_decode(u + i, n - i, &cp);
		char		enc[4],
					hex[3];
		int			elen;

		i += k ? (size_t) k : 1;
		if (cp < BYTE_CP_LIMIT && t->byte_dec[cp] >= 0)
		{
			char		b = (char) t->byte_dec[cp];

			sink_put(out, &b, 1);
			continue;
		}
		sink_put(out, "[UNK_BYTE_0x", 12);
		elen = utf8_encode(cp, enc);
		for (int j = 0; j < elen; j++)
		{
			snprintf(hex, sizeof hex, "%02x", (unsigned char) enc[j]);
			sink_put(out, hex, 2);
		}
		sink_put(out, s, n);
		sink_put(out, "]", 1);
	}
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 0;
}

static int
load_model_kind(const struct gguf_file *f, char *err)
{
	struct gguf_str model;

	if (!gguf_get_str(f, "tokenizer.ggml.model", &model))
		return err_set(err, "model has no tokenizer (tokenizer.ggml.model missing)");
	if (model.len != 4 || memcmp(model.ptr, "gpt2", 4) != 0)
		return err_set(err, "unsupported tokenizer model '%.*s' (only byte-level BPE 'gpt2')",
					   (int) (model.len > 64 ? 64 : model.len), model.ptr);
	return 0;
}

static int
load_all(struct tokenizer *t, const struct gguf_file *f, char *err)
{
	const struct gguf_kv *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens");
	const struct gguf_kv *merges = gguf_get_arr(f, "tokenizer.ggml.merges");
	struct gguf_str pre = {"", 0};
	bool		add_bos;

	if (load_model_kind(f, err) < 0)
		return -1;
	if (tokens == NULL || tokens->elem_type != GGUF_STRING || tokens->n == 0)
		return err_set(err, "tokenizer.ggml.tokens missing or not a string array");
	if (tokens->n > INT32_MAX)
		return err_set(err, "tokenizer vocabulary too large");
	if (merges == NULL || merges->elem_type != GGUF_STRING)
		return err_set(err, "tokenizer.ggml.merges missing or not a string array");
	gguf_get_str(f, "tokenizer.ggml.pre", &pre);
	t->pre = pretok_lookup(pre.ptr, pre.len);
	t->n_vocab = (int32_t) tokens->n;
	init_byte_maps(t);
	if (load_vocab(t, f, tokens, err) < 0 || load_merges(t, f, merges, err) < 0 ||
		load_attrs(t, f, err) < 0 || check_id_keys(t, f, err) < 0)
		return -1;
	load_roles(t, f);
	t->add_bos = t->pre.add_bos;
	if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos))
		t->add_bos = add_bos;
	return load_specials(t, err);
}

struct tokenizer *
tokenizer_load(const struct gguf_file *f, char *err)
{
	struct tokenizer *t = calloc(1, sizeof *t);

	if (t == NULL)
	{
		err_set(err, "out of memory loading the tokenizer");
		return NULL;
	}
	if (load_all(t, f, err) < 0)
	{
		tokenizer_free(t);
		return NULL;
	}
	return t;
}

void
tokenizer_free(struct tokenizer *t)
{
	if (t == NULL)
		return;
	strtab_free(&t->vocab);
	strtab_free(&t->merges);
	free(t->merge_rank);
	free(t->attr);
	free(t->special);
	free(t);
}

/* ---- encoding ---- */

struct bpe_sym
{
	uint32_t	off;			/* in the encoded word */
	uint32_t	n;				/* 0 once merged into its left neighbour */
	int32_t		prev;
	int32_t		next;
};

/* A possible merge of two neighbours, valid while both keep their length. */
struct bpe_cand
{
	int32_t		rank;
	int32_t		left;
	int32_t		right;
	uint32_t	nl;
	uint32_t	nr;
};

struct scratch
{
	uint32_t   *cps;
	size_t	   *cp_off;
	size_t		cap_cps;
	size_t		cap_off;
	char	   *word;
	size_t		cap_word;
	struct bpe_sym *sym;
	size_t		cap_sym;
	struct bpe_cand *heap;
	size_t		n_heap;
	size_t		cap_heap;
	struct pretok_words words;
};

/* Lowest rank first; among equal ranks the leftmost pair. */
static bool
cand_before(const struct bpe_cand *a, const struct bpe_cand *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void
heap_push(struct scratch *s, struct bpe_cand c)
{
	size_t		i = s->n_heap++;

	s->heap = grow(s->heap, &s->cap_heap, s->n_heap, sizeof *s->heap);
	while (i > 0 && cand_before(&c, &s->heap[(i - 1) / 2]))
	{
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = c;
}

static struct bpe_cand
heap_pop(struct scratch *s)
{
	struct bpe_cand top = s->heap[0];
	struct bpe_cand last = s->heap[--s->n_heap];
	size_t		i = 0;

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= s->n_heap)
			break;
		if (c + 1 < s->n_heap && cand_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!cand_before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->n_heap > 0)
		s->heap[i] = last;
	return top;
}

static void
add_candidate(const struct tokenizer *t, struct scratch *s, int32_t l, int32_t r)
{
	struct bpe_sym *a,
			   *b;
	int64_t		e;

	if (l < 0 || r < 0)
		return;
	a = &s->sym[l];
	b = &s->sym[r];
	e = strtab_find(&t->merges, s->word + a->off, a->n, s->word + b->off, b->n);
	if (e >= 0)
		heap_push(s, (struct bpe_cand) {t->merge_rank[e], l, r, a->n, b->n});
}

/* Emit the token for symbol text; if the vocabulary lacks it, each of its
 * bytes that is a token by itself (llama.cpp's fallback). */
static void
emit_symbol(const struct tokenizer *t, const char *s, size_t n, struct token_list *out)
{
	int64_t		id = strtab_find(&t->vocab, s, n, NULL, 0);

	if (id >= 0)
	{
		token_list_push(out, (int32_t) id);
		return;
	}
	for (size_t i = 0; i < n; i++)
	{
		id = strtab_find(&t->vocab, s + i, 1, NULL, 0);
		if (id >= 0)
			token_list_push(out, (int32_t) id);
	}
}

/* BPE over one byte-encoded word of len bytes in s->word. */
static void
bpe_word(const struct tokenizer *t, struct scratch *s, size_t len, struct token_list *out)
{
	int32_t		n = 0;

	if (t->pre.ignore_merges && strtab_find(&t->vocab, s->word, len, NULL, 0) >= 0)
	{
		emit_symbol(t, s->word, len, out);
		return;
	}
	s->sym = grow(s->sym, &s->cap_sym, len, sizeof *s->sym);
	for (size_t off = 0; off < len; n++)
	{
		uint32_t	k = ((unsigned char) s->word[off] & 0xE0) == 0xC0 ? 2 : 1;

		s->sym[n] = (struct bpe_sym) {(uint32_t) off, k, n - 1, -1};
		if (n > 0)
			s->sym[n - 1].next = n;
		off += k;
	}
	s->n_heap = 0;
	for (int32_t i = 1; i < n; i++)
		add_candidate(t, s, i - 1, i);
	while (s->n_heap > 0)
	{
		struct bpe_cand c = heap_pop(s);
		struct bpe_sym *l = &s->sym[c.left];
		struct bpe_sym *r = &s->sym[c.right];

		if (l->n != c.nl || r->n != c.nr || l->next != c.right)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			s->sym[r->next].prev = c.left;
		add_candidate(t, s, l->prev, c.left);
		add_candidate(t, s, c.left, l->next);
	}
	for (int32_t i = 0; i >= 0 && n > 0; i = s->sym[i].next)
		emit_symbol(t, s->word + s->sym[i].off, s->sym[i].n, out);
}

/* Byte-encode text[0..len) into s->word; returns its length. */
static size_t
encode_bytes(const struct tokenizer *t, struct scratch *s, const char *text, size_t len)
{
	size_t		o = 0;

	s->word = grow(s->word, &s->cap_word, 2 * len + 1, 1);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char b = (unsigned char) text[i];

		memcpy(s->word + o, t->byte_enc[b], t->byte_enc_len[b]);
		o += t->byte_enc_len[b];
	}
	return o;
}

/* Tokenize text that holds no special token (valid UTF-8). */
static void
encode_plain(const struct tokenizer *t, struct scratch *s, const char *text,
			 size_t len, struct token_list *out)
{
	const unsigned char *u = (const unsigned char *) text;
	size_t		n = 0,
				cp_start = 0;

	s->cps = grow(s->cps, &s->cap_cps, len, sizeof *s->cps);
	s->cp_off = grow(s->cp_off, &s->cap_off, len + 1, sizeof *s->cp_off);
	for (size_t i = 0; i < len; n++)
	{
		s->cp_off[n] = i;
		i += (size_t) utf8_decode(u + i, len - i, &s->cps[n]);
	}
	s->cp_off[n] = len;
	s->words.n = 0;
	pretok_split(t->pre.kind, s->cps, n, &s->words);
	for (size_t w = 0; w < s->words.n; w++)
	{
		size_t		from = s->cp_off[cp_start];
		size_t		to = s->cp_off[cp_start + s->words.len[w]];
		size_t		wlen = encode_bytes(t, s, text + from, to - from);

		bpe_word(t, s, wlen, out);
		cp_start += s->words.len[w];
	}
}

/* A piece of the input: raw text (id < 0) or one special token. */
struct frag
{
	int32_t		id;
	size_t		off;
	size_t		len;
};

struct frag_list
{
	struct frag *f;
	size_t		n;
	size_t		cap;
};

static void
frag_push(struct frag_list *l, int32_t id, size_t off, size_t len)
{
	l->f = grow(l->f, &l->cap, l->n + 1, sizeof *l->f);
	l->f[l->n++] = (struct frag) {id, off, len};
}

/* Whether [at, at + len) overlaps a guarded span. */
static bool
overlaps_guarded(const struct text_spans *g, size_t at, size_t len)
{
	for (size_t i = 0; g && i < g->n; i++)
		if (at < g->span[i].end && g->span[i].start < at + len)
			return true;
	return false;
}

/* Cut every raw fragment of in at each occurrence of special token id
 * (control tokens not where they overlap a guarded span). */
static void
cut_at_special(const struct tokenizer *t, int32_t id, const char *text,
			   const struct frag_list *in, const struct text_spans *guarded,
			   struct frag_list *out)
{
	bool		control = (t->attr[id] & ATTR_SPECIAL) != 0;
	size_t		slen;
	const char *stext = strtab_str(&t->vocab, (uint32_t) id, &slen);

	out->n = 0;
	for (size_t i = 0; i < in->n; i++)
	{
		size_t		off = in->f[i].off,
					end = off + in->f[i].len;
		const char *m;

		if (in->f[i].id >= 0)
		{
			frag_push(out, in->f[i].id, 0, 0);
			continue;
		}
		for (size_t from = off; (m = memmem(text + from, end - from, stext, slen)) != NULL;)
		{
			size_t		at = (size_t) (m - text);

			if (control && overlaps_guarded(guarded, at, slen))
			{
				from = at + 1;	/* plain text here: keep looking after it */
				continue;
			}
			if (at > off)
				frag_push(out, -1, off, at - off);
			frag_push(out, id, 0, 0);
			off = from = at + slen;
		}
		if (end > off)
			frag_push(out, -1, off, end - off);
	}
}

/*
 * Special tokens are looked for one at a time, longest first (equal lengths
 * by id), each over the raw text the earlier ones left.  Control and unknown
 * tokens take part only with parse_special; user-defined ones always do, as
 * in llama.cpp (<think> of the R1 vocabulary, <tool_call> of Qwen2.5).
 */
static void
split_specials(const struct tokenizer *t, const char *text, size_t len, bool parse_special,
			   const struct text_spans *guarded, struct frag_list *a, struct frag_list *b)
{
	frag_push(a, -1, 0, len);
	for (size_t i = 0; i < t->n_special; i++)
	{
		int32_t		id = t->special[i];
		struct frag_list tmp;

		if (!parse_special && (t->attr[id] & ATTR_SPECIAL))
			continue;
		cut_at_special(t, id, text, a, guarded, b);
		tmp = *a;
		*a = *b;
		*b = tmp;
	}
}

static int
encode(const struct tokenizer *t, const char *text, size_t len, bool parse_special,
	   const struct text_spans *guarded, struct token_list *out, char *err)
{
	size_t		bad = utf8_valid_prefix(text, len);
	struct frag_list a = {0},
				b = {0};
	struct scratch s = {0};

	if (bad < len)
		return err_set(err, "text is not valid UTF-8 (at byte %zu)", bad);
	if (len > MAX_TEXT)
		return err_set(err, "text too long to tokenize (%zu bytes, at most %d)", len, MAX_TEXT);
	if (len == 0)
		return 0;
	split_specials(t, text, len, parse_special, guarded, &a, &b);
	for (size_t i = 0; i < a.n; i++)
	{
		if (a.f[i].id >= 0)
			token_list_push(out, a.f[i].id);
		else
			encode_plain(t, &s, text + a.f[i].off, a.f[i].len, out);
	}
	free(a.f);
	free(b.f);
	free(s.cps);
	free(s.cp_off);
	free(s.word);
	free(s.sym);
	free(s.heap);
	pretok_words_free(&s.words);
	return 0;
}

int
tokenizer_encode(const struct tokenizer *t, const char *text, size_t len,
				 bool parse_special, struct token_list *out, char *err)
{
	return encode(t, text, len, parse_special, NULL, out, err);
}

int
tokenizer_encode_guarded(const struct tokenizer *t, const char *text, size_t len,
						 const struct text_spans *guarded, struct token_list *out, char *err)
{
	return encode(t, text, len, true, guarded, out, err);
}

/* ---- queries ---- */

int32_t
tokenizer_n_vocab(const struct tokenizer *t)
{
	return t->n_vocab;
}

int32_t
tokenizer_bos(const struct tokenizer *t)
{
	return t->bos;
}

int32_t
tokenizer_eos(const struct tokenizer *t)
{
	return t->eos;
}

bool
tokenizer_add_bos(const struct tokenizer *t)
{
	return t->add_bos;
}

bool
tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab && (t->attr[id] & ATTR_EOG);
}

int32_t
tokenizer_find(const struct tokenizer *t, const char *text)
{
	return (int32_t) strtab_find(&t->vocab, text, strlen(text), NULL, 0);
}

size_t
tokenizer_piece(const struct tokenizer *t, int32_t id, bool with_special,
				char *buf, size_t cap)
{
	struct sink out = {buf, cap, 0};
	size_t		len;
	const char *s;
	uint16_t	a;

	if (id < 0 || id >= t->n_vocab)
		return 0;
	a = t->attr[id];
	s = strtab_str(&t->vocab, (uint32_t) id, &len);
	if (a & ATTR_SPECIAL)
	{
		if (with_special)
			sink_put(&out, s, len);
	}
	else if (a & ATTR_USER)
		sink_put(&out, s, len);
	else if (a & ATTR_NORMAL)
		decode_normal(t, s, len, &out);
	else if ((a & ATTR_BYTE) && len >= 5)
	{
		char		b = (char) (hex_digit(s[3]) * 16 + hex_digit(s[4]));

		sink_put(&out, &b, 1);
	}
	return out.len;
}

/* ---- streaming detokenizer ---- */

void
detokenizer_init(struct detokenizer *d, const struct tokenizer *t, bool with_special)
{
	d->tok = t;
	d->with_special = with_special;
	d->n_pending = 0;
}

static const char replacement[] = "\xEF\xBF\xBD";

/* Length of the maximal prefix of s that could begin a valid character
 * (at least 1): what one U+FFFD replaces. */
static size_t
invalid_run(const unsigned char *s, size_t n)
{
	size_t		k = 1;

	while (k < n && k < 4 && utf8_prefix_len(s, k + 1) != 0)
		k++;
	return k;
}

/*
 * Emit the complete characters of s[0..n), keep an incomplete tail.  Every
 * text the engine produces from ids passes here, so this is where its
 * promise is kept: the output is valid UTF-8 without NUL.  A NUL byte (a
 * byte token, or the GPT-2 code point of byte 0) becomes U+FFFD like any
 * other byte that cannot be text: PostgreSQL's text cannot hold it, and
 * replacing rather than dropping keeps the position visible.
 */
static void
detok_bytes(struct detokenizer *d, const unsigned char *s, size_t n, struct text_buf *out)
{
	size_t		i = 0,
				run = 0;

	while (i < n)
	{
		uint32_t	cp;
		int			k = s[i] == 0 ? 0 : s[i] < 0x80 ? 1 : utf8_decode(s + i, n - i, &cp);
		int			need;

		if (k > 0)
		{
			i += (size_t) k;
			continue;
		}
		text_buf_append(out, (const char *) s + run, i - run);
		need = utf8_prefix_len(s + i, n - i);
		if (need > (int) (n - i))
		{
			memcpy(d->pending, s + i, n - i);
			d->n_pending = n - i;
			return;
		}
		text_buf_append(out, replacement, 3);
		i += invalid_run(s + i, n - i);
		run = i;
	}
	text_buf_append(out, (const char *) s + run, n - run);
}

void
detokenizer_push(struct detokenizer *d, int32_t id, struct text_buf *out)
{
	char		small[256];
	size_t		len = tokenizer_piece(d->tok, id, d->with_special, NULL, 0);
	size_t		n = d->n_pending + len;
	char	   *buf = n <= sizeof small ? small : malloc(n);

	if (buf == NULL)
		abort();				/* out of memory */
	memcpy(buf, d->pending, d->n_pending);
	tokenizer_piece(d->tok, id, d->with_special, buf + d->n_pending, len);
	d->n_pending = 0;
	detok_bytes(d, (const unsigned char *) buf, n, out);
	if (buf != small)
		free(buf);
}

void
detokenizer_flush(struct detokenizer *d, struct text_buf *out)
{
	if (d->n_pending > 0)
		text_buf_append(out, replacement, 3);
	d->n_pending = 0;
}
