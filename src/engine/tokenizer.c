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
 * Loading the vocabulary is vocab.c; everything is copied out of the GGUF
 * file at load, so the tokenizer does not need the file to stay open.
 */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "tokenizer_impl.h"
#include "utf8.h"
#include "wordpiece.h"

/* Symbol indexes are int32_t and a byte-encoded word is twice its text. */
#define MAX_TEXT		(1 << 30)

/* ---- token pieces ---- */

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

/* A WordPiece token's text: the phantom space that marks a word's first
 * piece is a space again (as llama.cpp writes it). */
static void
decode_wordpiece(const char *s, size_t n, struct sink *out)
{
	const char *end = s + n;
	const char *m;

	while ((m = memmem(s, (size_t) (end - s), "\xe2\x96\x81", 3)) != NULL)
	{
		sink_put(out, s, (size_t) (m - s));
		sink_put(out, " ", 1);
		s = m + 3;
	}
	sink_put(out, s, (size_t) (end - s));
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

	s->heap = xgrow(s->heap, &s->cap_heap, s->n_heap, sizeof *s->heap);
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
	s->sym = xgrow(s->sym, &s->cap_sym, len, sizeof *s->sym);
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

	s->word = xgrow(s->word, &s->cap_word, 2 * len + 1, 1);
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

	s->cps = xgrow(s->cps, &s->cap_cps, len, sizeof *s->cps);
	s->cp_off = xgrow(s->cp_off, &s->cap_off, len + 1, sizeof *s->cp_off);
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
	l->f = xgrow(l->f, &l->cap, l->n + 1, sizeof *l->f);
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
		else if (t->wordpiece)
			wordpiece_encode(t, text + a.f[i].off, a.f[i].len, out);
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

int32_t
tokenizer_sep(const struct tokenizer *t)
{
	return t->sep;
}

bool
tokenizer_is_wordpiece(const struct tokenizer *t)
{
	return t->wordpiece;
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
	else if ((a & ATTR_NORMAL) && t->wordpiece)
		decode_wordpiece(s, len, &out);
	else if (a & ATTR_NORMAL)
		decode_normal(t, s, len, &out);
	else if ((a & ATTR_BYTE) && len >= 5)
	{
		char		b = (char) (hex_digit(s[3]) * 16 + hex_digit(s[4]));

		sink_put(&out, &b, 1);
	}
	return out.len;
}
