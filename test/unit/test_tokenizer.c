/*
 * test_tokenizer.c — the BPE tokenizer against llama.cpp's ids, the
 * WordPiece tokenizer against HF's, and the detokenizer.
 *
 * For each vocabulary whose file is present, every text of
 * test/golden/tokens-<name>.tsv (written by test/reference/
 * make-token-goldens.sh) is tokenized with and without special-token
 * parsing and must give exactly llama.cpp's ids: one check per line; the
 * ids must also detokenize back to the text.  Absent model files are skipped
 * with a message.  Besides: the streaming detokenizer on split characters,
 * invalid UTF-8 input, special and end-of-generation tokens, facts of each
 * vocabulary, the word splits of each pre-tokenizer, and the refusal of
 * other tokenizer models and of hostile vocabularies.
 *
 * WordPiece (all-MiniLM-L6-v2, scripts/fetch-models.sh minilm): every text
 * of test/golden/tokens-minilm.tsv (test/reference/make-wordpiece-goldens.py,
 * HF's BertTokenizerFast) must give HF's ids between [CLS] and [SEP].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "gguf.h"
#include "gguf_write.h"
#include "pretokenizer.h"
#include "detokenizer.h"
#include "tokenizer.h"
#include "utf8.h"

struct vocab_case
{
	const char *file;			/* in the model cache, or a repo path */
	bool		in_cache;
	const char *tsv;
	const char *pre;			/* replaces tokenizer.ggml.pre, or NULL */
};

/*
 * The last runs the R1 vocabulary under the plain GPT-2 pre-tokenizer, the
 * way make-token-goldens.sh asked llama.cpp.
 */
static const struct vocab_case cases[] = {
	{"SmolLM2-135M-Instruct-Q4_1.gguf", true, "test/golden/tokens-smollm2.tsv", NULL},
	{"Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", true, "test/golden/tokens-qwen2.tsv", NULL},
	{"test/data/deepseek-r1-qwen-vocab.gguf", false, "test/golden/tokens-deepseek-r1-qwen.tsv", NULL},
	{"test/data/deepseek-r1-qwen-vocab.gguf", false, "test/golden/tokens-gpt2.tsv", "gpt-2"},
};

static void
model_path(const struct vocab_case *c, char *buf, size_t size)
{
	const char *dir = getenv("DR1_MODEL_CACHE");
	const char *home = getenv("HOME");

	if (!c->in_cache)
		snprintf(buf, size, "%s", c->file);
	else if (dir && *dir)
		snprintf(buf, size, "%s/%s", dir, c->file);
	else
		snprintf(buf, size, "%s/.cache/deepseek_r1/models/%s", home ? home : "", c->file);
}

/* CPU time, so that other processes on the machine do not count. */
static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode hex[0..n) into out; returns the byte count or -1. */
static long
unhex(const char *hex, size_t n, char *out)
{
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2)
	{
		int			hi = hexval(hex[i]),
					lo = hexval(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (char) (hi * 16 + lo);
	}
	return (long) (n / 2);
}

static void
parse_ids(const char *s, struct token_list *l)
{
	char	   *end;

	while (*s)
	{
		long		v = strtol(s, &end, 10);

		if (end == s)
			break;
		token_list_push(l, (int32_t) v);
		s = end;
	}
}

static bool
same_ids(const struct token_list *a, const struct token_list *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->ids, b->ids, a->n * sizeof *a->ids) == 0);
}

static void
print_ids(const char *label, const struct token_list *l)
{
	fprintf(stderr, "  %s:", label);
	for (size_t i = 0; i < l->n; i++)
		fprintf(stderr, " %d", l->ids[i]);
	fputc('\n', stderr);
}

/* Detokenize ids with the streaming detokenizer. */
static void
detokenize(const struct tokenizer *t, const struct token_list *ids, bool with_special,
		   struct text_buf *out)
{
	struct detokenizer d;

	detokenizer_init(&d, t, with_special);
	for (size_t i = 0; i < ids->n; i++)
		detokenizer_push(&d, ids->ids[i], out);
	detokenizer_flush(&d, out);
}

/* The vocabulary entry for one byte under the GPT-2 byte encoding. */
static int32_t
byte_token(const struct tokenizer *t, unsigned char b)
{
	int			cp = b,
				next = 256;
	char		s[5];

	if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE))
	{
		for (int i = 0; i < b; i++)
			if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE))
				next++;
		cp = next;
	}
	s[utf8_encode((uint32_t) cp, s)] = '\0';
	return tokenizer_find(t, s);
}

/*
 * A byte with no token of its own is dropped by the tokenizer (SmolLM2 has
 * none for 0x04 or 0xFF, say): only texts free of such bytes round-trip.
 */
static bool
all_bytes_have_tokens(const struct tokenizer *t, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (byte_token(t, (unsigned char) text[i]) < 0)
			return false;
	return true;
}

/* One golden line: our ids must be llama.cpp's; the text must come back
 * through the streaming detokenizer. */
static void
check_line(const struct tokenizer *t, const char *name, char *line, int *mismatch)
{
	char	   *tab1 = strchr(line, '\t');
	char	   *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
	char	   *text;
	long		len;
	bool		special;
	struct token_list want = {0},
				got = {0};
	struct text_buf back = {0};
	char		err[ERR_MAX];
	int			rc;

	if (tab2 == NULL)
	{
		CHECK(false, "%s: malformed golden line", name);
		return;
	}
	text = malloc((size_t) (tab1 - line) / 2 + 1);
	len = unhex(line, (size_t) (tab1 - line), text);
	special = tab1[1] == '1';
	parse_ids(tab2 + 1, &want);
	rc = tokenizer_encode(t, text, (size_t) len, special, &got, err);
	CHECK(rc == 0 && same_ids(&got, &want), "%s: ids differ (special=%d) for text %.*s",
		  name, special, (int) len, text);
	if (rc != 0 || !same_ids(&got, &want))
	{
		print_ids("llama.cpp", &want);
		print_ids("ours     ", &got);
		(*mismatch)++;
	}
	if (all_bytes_have_tokens(t, text, (size_t) len))
	{
		struct text_buf expect = {0};

		/* a NUL comes back as U+FFFD (detok_bytes) */
		for (long i = 0; i < len; i++)
			text_buf_append(&expect, text[i] ? text + i : "\xEF\xBF\xBD", text[i] ? 1 : 3);
		detokenize(t, &got, special, &back);
		CHECK(back.len == expect.len && (len == 0 || memcmp(back.s, expect.s, back.len) == 0),
			  "%s: round trip (special=%d) changed %.*s into %.*s", name, special,
			  (int) len, text, (int) back.len, back.s);
		text_buf_free(&expect);
	}
	text_buf_free(&back);
	token_list_free(&want);
	token_list_free(&got);
	free(text);
}

static void
check_goldens(const struct tokenizer *t, const struct vocab_case *c)
{
	FILE	   *f = fopen(c->tsv, "r");
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		got;
	int			lines = 0,
				mismatch = 0;

	CHECK(f != NULL, "cannot open %s", c->tsv);
	if (f == NULL)
		return;
	while ((got = getline(&line, &cap, f)) > 0)
	{
		if (line[got - 1] == '\n')
			line[got - 1] = '\0';
		check_line(t, c->tsv, line, &mismatch);
		lines++;
	}
	free(line);
	fclose(f);
	CHECK(lines >= 480, "%s: only %d golden lines", c->tsv, lines);
	printf("  %s: %d of %d texts identical to llama.cpp\n", c->tsv, lines - mismatch, lines);
}

static bool
valid_utf8(const struct text_buf *b)
{
	return utf8_valid_prefix(b->s ? b->s : "", b->len) == b->len;
}

static void
check_streaming(const struct tokenizer *t)
{
	static const unsigned char emoji[] = {0xF0, 0x9F, 0x98, 0x80};
	struct detokenizer d;
	struct text_buf out = {0};
	int32_t		cont = byte_token(t, 0x80);
	int32_t		a = tokenizer_find(t, "a");

	detokenizer_init(&d, t, false);
	for (int i = 0; i < 4; i++)
	{
		detokenizer_push(&d, byte_token(t, emoji[i]), &out);
		CHECK(out.len == (i < 3 ? 0 : 4), "emoji byte %d: %zu bytes out", i, out.len);
	}
	CHECK(out.len == 4 && memcmp(out.s, emoji, 4) == 0, "emoji reassembled");

	/* a byte that can never start a character becomes U+FFFD at once */
	out.len = 0;
	detokenizer_push(&d, cont, &out);
	CHECK(out.len == 3 && memcmp(out.s, "\xEF\xBF\xBD", 3) == 0, "lone 0x80 gives U+FFFD");

	/* an interrupted character is replaced, what interrupts it is kept */
	out.len = 0;
	detokenizer_push(&d, byte_token(t, 0xF0), &out);
	detokenizer_push(&d, byte_token(t, 0x9F), &out);
	CHECK(out.len == 0, "partial character held back");
	detokenizer_push(&d, a, &out);
	CHECK(out.len == 4 && memcmp(out.s, "\xEF\xBF\xBD" "a", 4) == 0, "broken character + a");

	/* a NUL byte is never text: U+FFFD, also inside a held-back character */
	out.len = 0;
	detokenizer_push(&d, byte_token(t, 0x00), &out);
	detokenizer_push(&d, a, &out);
	detokenizer_push(&d, byte_token(t, 0xE4), &out);
	detokenizer_push(&d, byte_token(t, 0x00), &out);
	CHECK(out.len == 10 && memcmp(out.s, "\xEF\xBF\xBD" "a" "\xEF\xBF\xBD\xEF\xBF\xBD", 10) == 0,
		  "NUL bytes give U+FFFD (%zu bytes)", out.len);

	/* what is still pending at the end is flushed as U+FFFD */
	out.len = 0;
	detokenizer_push(&d, byte_token(t, 0xE4), &out);
	detokenizer_flush(&d, &out);
	CHECK(out.len == 3 && memcmp(out.s, "\xEF\xBF\xBD", 3) == 0, "flush of a partial character");
	CHECK(valid_utf8(&out), "detokenizer output is valid UTF-8");

	/* every single-byte token, in any order: output always valid */
	out.len = 0;
	detokenizer_init(&d, t, false);
	for (int b = 255; b >= 0; b--)
	{
		detokenizer_push(&d, byte_token(t, (unsigned char) b), &out);
		detokenizer_push(&d, byte_token(t, (unsigned char) ((b * 37) & 0xFF)), &out);
	}
	detokenizer_flush(&d, &out);
	CHECK(valid_utf8(&out), "detokenizer output of random bytes is valid UTF-8");
	text_buf_free(&out);
}

static void
check_invalid_input(const struct tokenizer *t)
{
	static const char *const bad[] = {
		"\xFF", "abc\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
		"\xE4\xB8", "ok \xF0\x9F\x98"
	};
	struct token_list l = {0};
	char		err[ERR_MAX];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
	{
		err[0] = '\0';
		CHECK(tokenizer_encode(t, bad[i], strlen(bad[i]), true, &l, err) == -1 &&
			  strstr(err, "UTF-8") != NULL, "invalid UTF-8 #%zu rejected (%s)", i, err);
	}
	CHECK(l.n == 0, "nothing appended for invalid input");
	CHECK(tokenizer_encode(t, "", 0, true, &l, err) == 0 && l.n == 0, "empty text, no ids");
	token_list_free(&l);
}

/* Control tokens only with parse_special; end-of-generation tokens. */
static void
check_specials(const struct tokenizer *t, const char *start, const char *end)
{
	int32_t		s = tokenizer_find(t, start);
	int32_t		e = tokenizer_find(t, end);
	struct token_list l = {0};
	char		err[ERR_MAX];
	char		piece[64];

	CHECK(s >= 0 && e >= 0, "%s and %s in the vocabulary", start, end);
	tokenizer_encode(t, start, strlen(start), false, &l, err);
	CHECK(l.n > 1, "%s not parsed without parse_special (%zu ids)", start, l.n);
	for (size_t i = 0; i < l.n; i++)
		CHECK(l.ids[i] != s, "control id %d leaked", s);
	l.n = 0;
	tokenizer_encode(t, start, strlen(start), true, &l, err);
	CHECK(l.n == 1 && l.ids[0] == s, "%s parsed with parse_special", start);
	CHECK(tokenizer_is_eog(t, e), "%s is end of generation", end);
	CHECK(!tokenizer_is_eog(t, s), "%s is not end of generation", start);
	CHECK(!tokenizer_is_eog(t, tokenizer_find(t, "a")) && !tokenizer_is_eog(t, -1),
		  "ordinary tokens are not end of generation");
	CHECK(tokenizer_piece(t, s, false, piece, sizeof piece) == 0, "control piece hidden");
	CHECK(tokenizer_piece(t, s, true, piece, sizeof piece) == strlen(start) &&
		  memcmp(piece, start, strlen(start)) == 0, "control piece with_special");
	CHECK(tokenizer_piece(t, s, true, piece, 2) == strlen(start), "piece reports needed size");
	token_list_free(&l);
}

static void
check_vocab_facts(const struct tokenizer *t, const char *file)
{
	char		piece[64];
	size_t		n;

	if (strstr(file, "SmolLM2"))
	{
		CHECK(!tokenizer_add_bos(t), "SmolLM2 add_bos is false");
		CHECK(tokenizer_n_vocab(t) == 49152, "SmolLM2 vocabulary size");
		check_specials(t, "<|im_start|>", "<|im_end|>");
	}
	else if (strstr(file, "Qwen2.5"))
	{
		CHECK(!tokenizer_add_bos(t), "Qwen2.5 add_bos is false");
		check_specials(t, "<|im_start|>", "<|im_end|>");
	}
	else
	{
		n = tokenizer_piece(t, tokenizer_bos(t), true, piece, sizeof piece);
		CHECK(n == strlen("<｜begin▁of▁sentence｜>") &&
			  memcmp(piece, "<｜begin▁of▁sentence｜>", n) == 0, "R1 bos text");
		CHECK(tokenizer_add_bos(t), "R1 add_bos is true");
		CHECK(tokenizer_is_eog(t, tokenizer_eos(t)), "R1 eos is end of generation");
		check_specials(t, "<｜User｜>", "<｜end▁of▁sentence｜>");
	}
}

/*
 * Copy the GGUF at path to a temporary file with tokenizer.ggml.pre set to
 * pre; the name is left in out.  False when that fails.
 */
static bool
write_with_pre(const char *path, const char *pre, char *out)
{
	static const char key[] = "tokenizer.ggml.pre";
	uint64_t	klen = sizeof key - 1,
				vlen = strlen(pre),
				old;
	FILE	   *in = fopen(path, "rb");
	char	   *d = NULL,
			   *k;
	long		n = -1;
	int			fd;
	FILE	   *o;

	if (in && fseek(in, 0, SEEK_END) == 0 && (n = ftell(in)) > 0 &&
		fseek(in, 0, SEEK_SET) == 0 && (d = malloc((size_t) n)) != NULL &&
		fread(d, 1, (size_t) n, in) != (size_t) n)
		n = -1;
	if (in)
		fclose(in);
	k = n > 0 ? memmem(d, (size_t) n, key, klen) : NULL;
	if (k == NULL || k + klen + 12 > d + n)
	{
		free(d);
		return false;
	}
	k += klen + 4;				/* past the key and the value type */
	memcpy(&old, k, 8);
	strcpy(out, "/tmp/dr1-tok-XXXXXX");
	fd = mkstemp(out);
	o = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (o == NULL || old > (uint64_t) (d + n - (k + 8)))
	{
		if (fd >= 0)
			unlink(out);
		if (o)
			fclose(o);
		free(d);
		return false;
	}
	fwrite(d, 1, (size_t) (k - d), o);
	fwrite(&vlen, 8, 1, o);
	fwrite(pre, 1, vlen, o);
	fwrite(k + 8 + old, 1, (size_t) (d + n - (k + 8 + old)), o);
	fclose(o);
	free(d);
	return true;
}

static void
check_vocab(const struct vocab_case *c, bool *did_streaming)
{
	char		path[1024];
	char		variant[32] = "";
	char		err[ERR_MAX];
	struct gguf_file *f;
	struct tokenizer *t;
	double		t0,
				ms;

	model_path(c, path, sizeof path);
	if (access(path, R_OK) != 0)
	{
		check_missing("%s: %s not found", c->tsv, path);
		return;
	}
	if (c->pre && !write_with_pre(path, c->pre, variant))
	{
		CHECK(false, "copy of %s with pre %s", path, c->pre);
		return;
	}
	f = gguf_open(variant[0] ? variant : path, err);
	if (variant[0])
		unlink(variant);
	CHECK(f != NULL, "open %s: %s", path, err);
	if (f == NULL)
		return;
	t0 = cpu_ms();
	t = tokenizer_load(f, err);
	ms = cpu_ms() - t0;
	gguf_close(f);				/* the tokenizer keeps its own copy */
	CHECK(t != NULL, "load tokenizer of %s: %s", path, err);
	if (t == NULL)
		return;
	/* a figure to read, not a check: speed is for benchmarks, not tests */
	printf("  %s%s%s: loaded in %.1f ms of CPU\n", c->file, c->pre ? " as " : "",
		   c->pre ? c->pre : "", ms);
	check_goldens(t, c);
	if (c->pre == NULL)
		check_vocab_facts(t, c->file);
	check_invalid_input(t);
	if (!*did_streaming)
	{
		check_streaming(t);
		*did_streaming = true;
	}
	tokenizer_free(t);
}

/*
 * Word splits of each pre-tokenizer, as llama.cpp's unicode_regex_split
 * gives them (lengths in code points).  The golden ids cannot show Llama 3's
 * \p{N}{1,3}: no vocabulary at hand has tokens of several digits.
 */
struct split_case
{
	enum pretok_kind kind;
	const char *text;
	size_t		want[16];		/* ends at 0 */
};

static const struct split_case split_cases[] = {
	{PRETOK_LLAMA3, "12345678", {3, 3, 2}},
	{PRETOK_QWEN2, "12345678", {1, 1, 1, 1, 1, 1, 1, 1}},
	{PRETOK_GPT2, "12345678", {8}},
	{PRETOK_LLAMA3, "abc 1234567 x", {3, 1, 3, 3, 1, 2}},
	{PRETOK_SMOLLM, "abc 1234567 x", {3, 1, 1, 1, 1, 1, 1, 1, 1, 2}},
	{PRETOK_GPT2, "abc 1234567 x", {3, 8, 2}},
	{PRETOK_LLAMA3, "I'M you'Re WE'LL it's", {1, 2, 4, 3, 3, 3, 3, 2}},
	{PRETOK_GPT2, "I'M you'Re WE'LL it's", {1, 1, 1, 4, 1, 2, 3, 1, 2, 3, 2}},
	{PRETOK_QWEN2, "  hello   world  ", {1, 6, 2, 6, 2}},
	{PRETOK_QWEN2, "a\r\n\r\n  b", {1, 4, 1, 2}},
	{PRETOK_GPT2, "a\r\n\r\n  b", {1, 5, 2}},
	{PRETOK_LLAMA3, "x!!\n\n  y", {1, 4, 1, 2}},
	{PRETOK_GPT2, "x!!\n\n  y", {1, 2, 3, 2}},
	{PRETOK_QWEN2, "中文abc123 😀😀", {5, 1, 1, 1, 3}},
	{PRETOK_LLAMA3, "中文abc123 😀😀", {5, 3, 3}},
	{PRETOK_LLAMA3, "٣٤٥ ½²x", {3, 1, 2, 1}},
	{PRETOK_SMOLLM, "٣٤٥ ½²x", {1, 1, 1, 1, 1, 1, 1}},
	{PRETOK_QWEN2, "\ttab  \n", {4, 3}},
	{PRETOK_GPT2, "\ttab  \n", {1, 3, 3}},
};

static void
check_splits(void)
{
	for (size_t i = 0; i < sizeof split_cases / sizeof split_cases[0]; i++)
	{
		const struct split_case *c = &split_cases[i];
		const unsigned char *u = (const unsigned char *) c->text;
		size_t		len = strlen(c->text),
					n = 0,
					k = 0;
		uint32_t	cps[64];
		struct pretok_words w = {0};
		bool		same;

		for (size_t b = 0; b < len; n++)
			b += (size_t) utf8_decode(u + b, len - b, &cps[n]);
		pretok_split(c->kind, cps, n, &w);
		while (c->want[k])
			k++;
		same = w.n == k;
		for (size_t j = 0; same && j < k; j++)
			same = w.len[j] == c->want[j];
		CHECK(same, "split #%zu (kind %d) of \"%s\"", i, (int) c->kind, c->text);
		pretok_words_free(&w);
	}
}

/*
 * A small vocabulary file: the tokens "a", "b", "ab", "<s>" (control), then
 * whatever the case adds; merges "a b"; what the case changes.  Strings
 * are given with their lengths so that a case can hold a NUL.
 */
struct vocab_file
{
	const char *model;
	const char *extra_token;	/* appended as token 4, extra_len bytes */
	size_t		extra_len;
	const char *merge;			/* replaces "a b", merge_len bytes */
	size_t		merge_len;
	int32_t		type_3;			/* token_type of "<s>" */
	uint32_t	bos;
};

static void
put_kv_strs(struct buf *b, const char *key, const char *const *s, const size_t *len, size_t n)
{
	put_key(b, key, GGUF_ARRAY);
	put_u32(b, GGUF_STRING);
	put_u64(b, n);
	for (size_t i = 0; i < n; i++)
		put_bytes(b, s[i], len[i]);
}

static struct tokenizer *
load_vocab_file(const struct vocab_file *v, char *err)
{
	const char *tokens[] = {"a", "b", "ab", "<s>", v->extra_token};
	size_t		lens[] = {1, 1, 2, 3, v->extra_len};
	const char *merge = v->merge ? v->merge : "a b";
	size_t		merge_len = v->merge ? v->merge_len : 3;
	int32_t		types[] = {1, 1, 1, v->type_3, 1};
	size_t		n = v->extra_token ? 5 : 4;
	struct buf	b = {0};
	struct gguf_file *g;
	struct tokenizer *t = NULL;

	put_header(&b);
	put_key(&b, "tokenizer.ggml.model", GGUF_STRING);
	put_str(&b, v->model ? v->model : "gpt2");
	put_kv_strs(&b, "tokenizer.ggml.tokens", tokens, lens, n);
	put_kv_strs(&b, "tokenizer.ggml.merges", &merge, &merge_len, 1);
	put_key(&b, "tokenizer.ggml.token_type", GGUF_ARRAY);
	put_u32(&b, GGUF_INT32);
	put_u64(&b, n);
	put(&b, types, n * sizeof types[0]);
	put_key(&b, "tokenizer.ggml.bos_token_id", GGUF_UINT32);
	put_u32(&b, v->bos);
	patch_u64(&b, GGUF_N_KV_AT, 5);
	g = open_buf(&b, err);
	CHECK(g != NULL, "open synthetic vocabulary: %s", g ? "" : err);
	if (g)
	{
		t = tokenizer_load(g, err);
		gguf_close(g);
	}
	free(b.p);
	return t;
}

/* A vocabulary file that breaks a rule is refused with a message naming it. */
static void
check_hostile_vocab(void)
{
	static const struct
	{
		struct vocab_file v;
		const char *msg;
	}			bad[] = {
		{{"llama", NULL, 0, NULL, 0, 3, 3},
		 "unsupported tokenizer model 'llama' (byte-level BPE 'gpt2' or WordPiece 'bert')"},
		/* a control token cut out of "é" left half a character: the
		 * encoder overran its buffers */
		{{NULL, "\xA9", 1, NULL, 0, 3, 3}, "tokenizer.ggml.tokens[4] is not valid UTF-8 text"},
		{{NULL, "\xC3", 1, NULL, 0, 3, 3}, "tokenizer.ggml.tokens[4] is not valid UTF-8 text"},
		{{NULL, "x\0y", 3, NULL, 0, 3, 3}, "tokenizer.ggml.tokens[4] is not valid UTF-8 text"},
		{{NULL, NULL, 0, "a \xFF", 3, 3, 3}, "tokenizer.ggml.merges[0] is not valid UTF-8 text"},
		{{NULL, NULL, 0, "a zz", 4, 3, 3},
		 "tokenizer.ggml.merges[0] joins a string that is not a token"},
		{{NULL, NULL, 0, "ab ", 3, 3, 3},
		 "tokenizer.ggml.merges[0] joins a string that is not a token"},
		{{NULL, NULL, 0, NULL, 0, 7, 3},
		 "tokenizer.ggml.token_type[3] is 7, not a token type (0 to 6)"},
		{{NULL, NULL, 0, NULL, 0, -1, 3},
		 "tokenizer.ggml.token_type[3] is -1, not a token type (0 to 6)"},
		{{NULL, NULL, 0, NULL, 0, 3, 4},
		 "tokenizer.ggml.bos_token_id is not a token id (the vocabulary has 4 tokens)"},
	};
	struct vocab_file good = {NULL, "\xC3\xA9", 2, NULL, 0, 3, 3};
	char		err[ERR_MAX];
	struct tokenizer *t = load_vocab_file(&good, err);
	struct token_list l = {0};

	CHECK(t != NULL, "the good synthetic vocabulary loads: %s", t ? "" : err);
	if (t)
	{
		CHECK(tokenizer_encode(t, "ab<s>", 5, true, &l, err) == 0 && l.n == 2 &&
			  l.ids[0] == 2 && l.ids[1] == 3, "merge and control token of the good vocabulary");
		CHECK(tokenizer_bos(t) == 3, "bos of the good vocabulary");
		tokenizer_free(t);
	}
	token_list_free(&l);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
	{
		err[0] = '\0';
		t = load_vocab_file(&bad[i].v, err);
		CHECK(t == NULL && strcmp(err, bad[i].msg) == 0, "hostile vocabulary #%zu refused: %s",
			  i, err);
		tokenizer_free(t);
	}
}

/* One line of tokens-minilm.tsv: the text as hex, HF's ids with [CLS] and [SEP]. */
static bool
wordpiece_line_ok(const struct tokenizer *t, char *line)
{
	char	   *tab = strchr(line, '\t');
	char		err[ERR_MAX];
	struct token_list want = {0},
				got = {0};
	char	   *text;
	long		len;
	bool		ok;

	if (!tab)
		return false;
	text = malloc((size_t) (tab - line) / 2 + 1);
	len = unhex(line, (size_t) (tab - line), text);
	parse_ids(tab + 1, &want);
	token_list_push(&got, tokenizer_bos(t));
	ok = len >= 0 && tokenizer_encode(t, text, (size_t) len, false, &got, err) == 0;
	token_list_push(&got, tokenizer_sep(t));
	ok = ok && same_ids(&got, &want);
	if (!ok)
	{
		fprintf(stderr, "WordPiece differs from HF for %.*s\n", (int) len, text);
		print_ids("HF  ", &want);
		print_ids("ours", &got);
	}
	token_list_free(&want);
	token_list_free(&got);
	free(text);
	return ok;
}

/* Facts of the MiniLM vocabulary: roles, control tokens only when asked,
 * pieces with the phantom space turned back into a space. */
static void
check_wordpiece_facts(const struct tokenizer *t)
{
	char		err[ERR_MAX];
	char		piece[64];
	struct token_list l = {0};
	size_t		n;

	CHECK(tokenizer_is_wordpiece(t) && tokenizer_bos(t) == 101 && tokenizer_sep(t) == 102,
		  "MiniLM: WordPiece, [CLS] 101, [SEP] 102");
	CHECK(tokenizer_encode(t, "[CLS]", 5, true, &l, err) == 0 && l.n == 1 && l.ids[0] == 101,
		  "[CLS] parsed as the control token with parse_special");
	l.n = 0;
	CHECK(tokenizer_encode(t, "[CLS]", 5, false, &l, err) == 0 && l.n == 4 && l.ids[0] != 101,
		  "[CLS] is text without parse_special: [ cl ##s ]");
	l.n = 0;
	CHECK(tokenizer_encode(t, "unaffable", 9, false, &l, err) == 0 && l.n == 3, "unaffable: three pieces");
	n = l.n == 3 ? tokenizer_piece(t, l.ids[0], false, piece, sizeof piece) : 0;
	CHECK(n == 4 && memcmp(piece, " una", 4) == 0, "a word's first piece reads ' una'");
	n = l.n == 3 ? tokenizer_piece(t, l.ids[1], false, piece, sizeof piece) : 0;
	CHECK(n == 3 && memcmp(piece, "ffa", 3) == 0, "a continuation piece (##ffa) reads 'ffa'");
	CHECK(tokenizer_encode(t, "\xC3", 1, false, &l, err) == -1, "invalid UTF-8 refused");
	token_list_free(&l);
}

static void
check_wordpiece(void)
{
	char		path[1024];
	char		err[ERR_MAX];
	struct gguf_file *f;
	struct tokenizer *t;
	FILE	   *g;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		got;
	int			lines = 0,
				agree = 0;

	check_model_path(path, sizeof path, "all-MiniLM-L6-v2-F32.gguf");
	if (access(path, R_OK) != 0)
	{
		check_missing("WordPiece: %s not found (scripts/fetch-models.sh minilm)", path);
		return;
	}
	f = gguf_open(path, err);
	t = f ? tokenizer_load(f, err) : NULL;
	CHECK(t != NULL, "load the MiniLM vocabulary: %s", err);
	g = fopen("test/golden/tokens-minilm.tsv", "r");
	CHECK(g != NULL, "cannot open test/golden/tokens-minilm.tsv");
	while (t && g && (got = getline(&line, &cap, g)) > 0)
	{
		if (line[got - 1] == '\n')
			line[got - 1] = '\0';
		lines++;
		agree += wordpiece_line_ok(t, line);
	}
	if (t && g)
	{
		CHECK(lines >= 200 && agree == lines, "WordPiece: %d of %d texts identical to HF", agree, lines);
		printf("  test/golden/tokens-minilm.tsv: %d of %d texts identical to HF\n", agree, lines);
		check_wordpiece_facts(t);
	}
	free(line);
	if (g)
		fclose(g);
	tokenizer_free(t);
	gguf_close(f);
}

int
main(void)
{
	bool		did_streaming = false;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_vocab(&cases[i], &did_streaming);
	check_wordpiece();
	check_splits();
	check_hostile_vocab();
	return check_done("tokenizer");
}
