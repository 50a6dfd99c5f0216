/*
 * fuzz_tokenizer.c — libFuzzer target for the tokenizer with hostile
 * vocabularies and hostile text.
 *
 * The input's first bytes describe a vocabulary: byte 0 the number of
 * tokens, byte 1 the number of merges, byte 2 flags (bit 0: add the 256
 * GPT-2 byte tokens, so that BPE has something to merge), then each token
 * and merge as a length byte and that many bytes, and one type byte per
 * token.  It is written as a GGUF file in memory and loaded; a refusal
 * must come with a one-line message.  When it loads, the rest of the input
 * is encoded with and without special-token parsing, the ids are decoded
 * back, and so are the rest's bytes taken as ids: the decoded text must
 * always be valid UTF-8 without NUL (what the extension relies on).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf_write.h"
#include "detokenizer.h"
#include "tokenizer.h"
#include "utf8.h"

struct reader
{
	const uint8_t *p;
	const uint8_t *end;
};

static uint8_t
next_byte(struct reader *r)
{
	return r->p < r->end ? *r->p++ : 0;
}

/* A string: a length byte, then at most that many bytes of what is left. */
static size_t
next_str(struct reader *r, const uint8_t **s)
{
	size_t		n = next_byte(r);

	if (n > (size_t) (r->end - r->p))
		n = (size_t) (r->end - r->p);
	*s = r->p;
	r->p += n;
	return n;
}

/* The GPT-2 byte encoding of byte b (as tokenizer.c builds it). */
static size_t
byte_text(int b, char *out)
{
	int			cp = b;

	if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE))
	{
		cp = 256;
		for (int i = 0; i < b; i++)
			if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE))
				cp++;
	}
	return (size_t) utf8_encode((uint32_t) cp, out);
}

static void
put_strings_head(struct buf *b, const char *key, uint64_t n)
{
	put_key(b, key, GGUF_ARRAY);
	put_u32(b, GGUF_STRING);
	put_u64(b, n);
}

/* Write the vocabulary the input describes; r is left at the text. */
static void
build_vocab(struct reader *r, struct buf *b)
{
	size_t		n_tok = next_byte(r);
	size_t		n_merge = next_byte(r);
	bool		bytes = next_byte(r) & 1;
	size_t		n_all = n_tok + (bytes ? 256 : 0);
	const uint8_t *s;

	put_header(b);
	put_key(b, "tokenizer.ggml.model", GGUF_STRING);
	put_str(b, "gpt2");
	put_strings_head(b, "tokenizer.ggml.tokens", n_all);
	for (size_t i = 0; i < n_tok; i++)
	{
		size_t		n = next_str(r, &s);

		put_bytes(b, s, n);
	}
	for (int i = 0; bytes && i < 256; i++)
	{
		char		t[4];

		put_bytes(b, t, byte_text(i, t));
	}
	put_strings_head(b, "tokenizer.ggml.merges", n_merge);
	for (size_t i = 0; i < n_merge; i++)
	{
		size_t		n = next_str(r, &s);

		put_bytes(b, s, n);
	}
	put_key(b, "tokenizer.ggml.token_type", GGUF_ARRAY);
	put_u32(b, GGUF_INT32);
	put_u64(b, n_all);
	for (size_t i = 0; i < n_all; i++)
		put_u32(b, i < n_tok ? (uint32_t) (int8_t) next_byte(r) : 1);
	put_key(b, "tokenizer.ggml.eos_token_id", GGUF_UINT32);
	put_u32(b, next_byte(r));
	patch_u64(b, GGUF_N_KV_AT, 5);
}

static void
check_text(const struct text_buf *t)
{
	if (t->len && (utf8_valid_prefix(t->s, t->len) != t->len || memchr(t->s, '\0', t->len)))
		abort();				/* the engine promised text without NUL */
}

static void
decode(const struct tokenizer *t, const int32_t *ids, size_t n, bool with_special)
{
	struct detokenizer d;
	struct text_buf out = {0};

	detokenizer_init(&d, t, with_special);
	for (size_t i = 0; i < n; i++)
		detokenizer_push(&d, ids[i], &out);
	detokenizer_flush(&d, &out);
	check_text(&out);
	text_buf_free(&out);
}

static void
exercise(const struct tokenizer *t, const uint8_t *text, size_t len)
{
	char		err[ERR_MAX];
	int32_t    *as_ids = malloc(len / 4 * sizeof *as_ids + 1);

	for (int special = 0; special < 2; special++)
	{
		struct token_list ids = {0};

		if (tokenizer_encode(t, (const char *) text, len, special, &ids, err) == 0)
		{
			for (size_t i = 0; i < ids.n; i++)
				if (ids.ids[i] < 0 || ids.ids[i] >= tokenizer_n_vocab(t))
					abort();	/* the encoder made up an id */
			decode(t, ids.ids, ids.n, special);
		}
		token_list_free(&ids);
	}
	if (as_ids == NULL)
		abort();
	for (size_t i = 0; i < len / 4; i++)
	{
		memcpy(&as_ids[i], text + 4 * i, 4);
		as_ids[i] %= tokenizer_n_vocab(t) + 2;	/* mostly in range, some not */
	}
	decode(t, as_ids, len / 4, true);
	decode(t, as_ids, len / 4, false);
	free(as_ids);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, data + size};
	struct buf	b = {0};
	char		err[ERR_MAX] = "";
	struct gguf_file *g;
	struct tokenizer *t;

	build_vocab(&r, &b);
	g = open_buf(&b, err);
	free(b.p);
	if (g == NULL)
		abort();				/* we wrote a well-formed file */
	t = tokenizer_load(g, err);
	gguf_close(g);
	if (t == NULL)
	{
		if (err[0] == '\0' || memchr(err, '\n', strnlen(err, ERR_MAX)))
			abort();			/* messages are one non-empty line */
		return 0;
	}
	exercise(t, r.p, (size_t) (r.end - r.p));
	tokenizer_free(t);
	return 0;
}
