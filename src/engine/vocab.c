/*
 * vocab.c — loading a tokenizer from the tokenizer.ggml.* metadata: the
 * tokens and merges (copied out of the file into string tables), token
 * types, the role ids (bos, eos, eot, ...) and end-of-generation tokens,
 * and the list of special tokens the encoder cuts out first.  Every rule
 * follows llama.cpp, so the same file gives the same tokenizer.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "gguf.h"
#include "tokenizer.h"
#include "tokenizer_impl.h"
#include "utf8.h"

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
			hash[2 * e + k] = strtab_hash(half[2 * e + k].ptr, half[2 * e + k].len, NULL, 0);
	}
	for (uint32_t i = 0; rc == 0 && i < 2 * m->n; i++)
	{
		if (i + ahead < 2 * m->n)
			strtab_prefetch(&t->vocab, hash[i + ahead]);
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

/* Byte-level BPE ("gpt2") or WordPiece ("bert"). */
static int
load_model_kind(struct tokenizer *t, const struct gguf_file *f, char *err)
{
	struct gguf_str model;

	if (!gguf_get_str(f, "tokenizer.ggml.model", &model))
		return err_set(err, "model has no tokenizer (tokenizer.ggml.model missing)");
	t->wordpiece = model.len == 4 && memcmp(model.ptr, "bert", 4) == 0;
	if (!t->wordpiece && (model.len != 4 || memcmp(model.ptr, "gpt2", 4) != 0))
		return err_set(err, "unsupported tokenizer model '%.*s' (byte-level BPE 'gpt2' or WordPiece 'bert')",
					   (int) (model.len > 64 ? 64 : model.len), model.ptr);
	return 0;
}

/*
 * A WordPiece vocabulary names [UNK], which a word without pieces becomes,
 * and [SEP], which ends every input (llama.cpp's key names; like llama.cpp,
 * the tokens' texts when the keys are absent).
 */
static int
load_wordpiece_roles(struct tokenizer *t, const struct gguf_file *f, char *err)
{
	static const char *const keys[] = {"tokenizer.ggml.unknown_token_id",
	"tokenizer.ggml.seperator_token_id"};
	int32_t    *roles[] = {&t->unk, &t->sep};
	static const char *const texts[] = {"[UNK]", "[SEP]"};

	for (int i = 0; i < 2; i++)
	{
		uint32_t	id;

		if (gguf_kv_find(f, keys[i]) && (!gguf_get_u32(f, keys[i], &id) || id >= (uint32_t) t->n_vocab))
			return err_set(err, "%s is not a token id (the vocabulary has %d tokens)", keys[i],
						   t->n_vocab);
		*roles[i] = gguf_kv_find(f, keys[i]) ? (int32_t) id : lookup(t, texts[i]);
		if (*roles[i] < 0)
			return err_set(err, "WordPiece vocabulary without %s (%s)", texts[i], keys[i]);
	}
	for (int32_t i = 0; i < t->n_vocab; i++)
	{
		size_t		len;

		strtab_str(&t->vocab, (uint32_t) i, &len);
		if (len > t->max_piece)
			t->max_piece = len;
	}
	return 0;
}

static int
load_all(struct tokenizer *t, const struct gguf_file *f, char *err)
{
	const struct gguf_kv *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens");
	const struct gguf_kv *merges = gguf_get_arr(f, "tokenizer.ggml.merges");
	struct gguf_str pre = {"", 0};
	bool		add_bos;

	if (load_model_kind(t, f, err) < 0)
		return -1;
	if (tokens == NULL || tokens->elem_type != GGUF_STRING || tokens->n == 0)
		return err_set(err, "tokenizer.ggml.tokens missing or not a string array");
	if (tokens->n > INT32_MAX)
		return err_set(err, "tokenizer vocabulary too large");
	if (!t->wordpiece && (merges == NULL || merges->elem_type != GGUF_STRING))
		return err_set(err, "tokenizer.ggml.merges missing or not a string array");
	gguf_get_str(f, "tokenizer.ggml.pre", &pre);
	t->pre = pretok_lookup(pre.ptr, pre.len);
	t->n_vocab = (int32_t) tokens->n;
	t->unk = t->sep = -1;
	init_byte_maps(t);
	if (load_vocab(t, f, tokens, err) < 0 ||
		(!t->wordpiece && load_merges(t, f, merges, err) < 0) ||
		load_attrs(t, f, err) < 0 || check_id_keys(t, f, err) < 0 ||
		(t->wordpiece && load_wordpiece_roles(t, f, err) < 0))
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
	struct tokenizer *t = xcalloc(1, sizeof *t);

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
