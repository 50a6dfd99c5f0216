/*
 * test_json.c — schema-constrained decoding: the schema compiler's
 * refusals, the byte automaton on accepted and refused texts, and the
 * token mask over real vocabularies (SmolLM2's 49,152 tokens and Qwen2.5's
 * 151,936): the trie walk gives exactly the tokens whose bytes the
 * automaton reads, and random walks of the real sampler under the mask
 * (greedy, top-k, top-p, min-p, penalties) always end in a text the
 * automaton accepts whole.  Absent models are skipped (check.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "error.h"
#include "gguf.h"
#include "json_mask.h"
#include "json_value.h"
#include "sampler.h"
#include "token_list.h"
#include "tokenizer.h"
#include "vocab_trie.h"

/* ---- the compiler ---------------------------------------------------------- */

static void
expect_refused(const char *schema, const char *needle)
{
	char		err[ERR_MAX] = "";
	struct json_schema *s = json_schema_compile(schema, strlen(schema), err);

	CHECK(s == NULL && strstr(err, needle) != NULL, "%s: want an error with '%s', got '%s'",
		  schema, needle, err);
	json_schema_free(s);
}

static void
test_compile_errors(void)
{
	expect_refused("[1]", "must be a JSON object, not array");
	expect_refused("\"x\"", "not string");
	expect_refused("{\"type\": \"string\", \"pattern\": \"a+\"}",
				   "unsupported JSON Schema keyword \"pattern\"");
	expect_refused("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"string\", "
				   "\"oneOf\": []}}}", "\"oneOf\" (at /properties/a)");
	expect_refused("{\"type\": \"integer\", \"maxLength\": 3}",
				   "\"maxLength\" does not apply to type integer");
	expect_refused("{\"type\": \"array\"}", "needs items");
	expect_refused("{\"type\": \"uuid\"}", "unknown type \"uuid\"");
	expect_refused("{\"type\": [\"string\", \"null\"]}", "use anyOf");
	expect_refused("{\"type\": \"string\", \"format\": \"email\"}", "unsupported format email");
	expect_refused("{\"type\": \"object\", \"properties\": {}, \"required\": [\"x\"]}",
				   "required property \"x\" is not in properties");
	expect_refused("{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"number\"}]}",
				   "different types");
	expect_refused("{\"type\": \"integer\", \"minimum\": 3, \"maximum\": 2}", "no value fits");
	expect_refused("{\"enum\": [\"a\", 1]}", "enum values must be strings");
	expect_refused("{\"enum\": [\"a\", \"a\"]}", "duplicate enum values");
	expect_refused("{\"type\": \"string\"", "invalid JSON");
	expect_refused("{}", "needs a type");
}

/* ---- the automaton --------------------------------------------------------- */

struct machine_case
{
	const char *schema;
	const char *text;
	int			want;			/* 2: complete, 1: a prefix only, 0: refused */
};

static const char *const ticket =
	"{\"type\":\"object\",\"properties\":{"
	"\"category\":{\"enum\":[\"billing\",\"bug\",\"billing-other\"]},"
	"\"urgent\":{\"type\":\"boolean\"},"
	"\"note\":{\"type\":\"string\",\"maxLength\":3},"
	"\"when\":{\"type\":\"string\",\"format\":\"date\"},"
	"\"score\":{\"type\":\"integer\",\"minimum\":-5,\"maximum\":120},"
	"\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1,\"maxItems\":2}},"
	"\"required\":[\"category\",\"score\"]}";

static void
test_machine(void)
{
	static const char *const num = "{\"type\":\"number\",\"minimum\":0.5,\"maximum\":2}";
	static const char *const any = "{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"string\"},"
		"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}]}";
	static const char *const dt = "{\"type\":\"string\",\"format\":\"date-time\"}";
	const struct machine_case cases[] = {
		{ticket, "{\"category\":\"bug\",\"score\":7}", 2},
		{ticket, "{\"category\":\"billing-other\",\"urgent\":false,\"score\":-5}", 2},
		{ticket, "{\"category\":\"billing\",\"score\":120,\"tags\":[\"a\",\"b\"]}", 2},
		{ticket, "{\"category\":\"billing\",\"score\":12", 1},
		{ticket, "{\"category\":\"bill", 1},
		{ticket, "{\"category\":\"bills", 0},
		{ticket, "{\"score\":1}", 0},						/* a required one skipped */
		{ticket, "{\"category\":\"bug\"}", 0},
		{ticket, "{\"category\":\"bug\",\"score\":121", 0},
		{ticket, "{\"category\":\"bug\",\"score\":-6", 0},
		{ticket, "{\"category\":\"bug\",\"score\":130", 0},
		{ticket, "{\"category\":\"bug\",\"score\":13", 1},
		{ticket, "{\"category\":\"bug\",\"score\":012", 0},
		{ticket, "{\"category\":\"bug\", \"score\":1}", 0},	/* no whitespace */
		{ticket, "{\"category\":\"bug\",\"note\":\"abc\",\"score\":1}", 2},
		{ticket, "{\"category\":\"bug\",\"note\":\"abcd", 0},
		{ticket, "{\"category\":\"bug\",\"note\":\"\\n\\\"\xc3\xa9\",\"score\":1}", 2},
		{ticket, "{\"category\":\"bug\",\"note\":\"\\u0041", 0},
		{ticket, "{\"category\":\"bug\",\"note\":\"\xc3\x28", 0},
		{ticket, "{\"category\":\"bug\",\"when\":\"2024-02-29\",\"score\":1}", 2},
		{ticket, "{\"category\":\"bug\",\"when\":\"2023-02-29", 0},
		{ticket, "{\"category\":\"bug\",\"when\":\"2023-04-3", 1},
		{ticket, "{\"category\":\"bug\",\"when\":\"2023-04-31", 0},
		{ticket, "{\"category\":\"bug\",\"when\":\"2023-13", 0},
		{ticket, "{\"category\":\"bug\",\"score\":1,\"tags\":[]", 0},
		{ticket, "{\"category\":\"bug\",\"score\":1,\"tags\":[\"a\",\"b\",", 0},
		{ticket, "{\"urgent\":true,\"category\":\"bug\"", 0},	/* schema order */
		{num, "1.5", 2}, {num, "2", 2}, {num, "0.5", 2}, {num, "0.4", 0}, {num, "2.1", 0},
		{num, "0", 1}, {num, "-", 0}, {num, "1e3", 0}, {num, "3", 0}, {num, "2.0", 2},
		{any, "null", 2}, {any, "\"x\"", 2}, {any, "[1,-2]", 2}, {any, "[1.5", 0},
		{any, "true", 0}, {any, "nul", 1},
		{dt, "\"2024-01-31T23:59:59Z\"", 2}, {dt, "\"2024-01-31T23:59:59.123+05:30\"", 2},
		{dt, "\"2024-01-31T24", 0}, {dt, "\"2024-01-31T23:59:59\"", 0},
		{dt, "\"2024-01-31T23:59:59.\"", 0}, {dt, "\"2024-01-31T23:60", 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		char		err[ERR_MAX] = "";
		struct json_schema *s = json_schema_compile(cases[i].schema, strlen(cases[i].schema), err);
		struct json_state st;
		int			got;

		CHECK(s != NULL, "compile: %s", err);
		if (s == NULL)
			continue;
		json_state_init(s, &st);
		got = !json_feed(s, &st, cases[i].text, strlen(cases[i].text)) ? 0
			: json_complete(s, &st) ? 2 : 1;
		CHECK(got == cases[i].want, "%s: got %d, want %d", cases[i].text, got, cases[i].want);
		json_schema_free(s);
	}
}

/* ---- the mask over a real vocabulary --------------------------------------- */

/* The mask of st checked token by token against feeding each token's bytes. */
static void
check_mask_exact(struct json_grammar *g, const struct tokenizer *t, const struct json_state *st,
				 const bool *allowed, const char *what)
{
	const struct json_schema *s = json_grammar_schema(g);
	int32_t		n_vocab = tokenizer_n_vocab(t);
	int			wrong = 0;
	int32_t		first = -1;

	for (int32_t id = 0; id < n_vocab; id++)
	{
		struct json_state copy = *st;
		char		piece[512];
		size_t		len = tokenizer_piece(t, id, false, piece, sizeof piece);
		bool		ok = len > 0 && len <= sizeof piece && json_feed(s, &copy, piece, len);

		if (id == tokenizer_eos(t))
			ok = json_complete(s, st);
		if (ok != allowed[id])
		{
			if (wrong++ == 0)
				first = id;
		}
	}
	CHECK(wrong == 0, "%s: %d tokens differ from feeding their bytes (first %d)", what, wrong,
		  first);
}

static double
seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The sampler settings the walks cycle through: the mask must hold under
 * each (it is applied before penalties, top-k, top-p, min-p, temperature). */
static struct sampler_params
walk_params(int w)
{
	struct sampler_params p;

	sampler_params_default(&p);
	p.seed = (uint64_t) w;
	switch (w % 4)
	{
		case 0: p.temperature = 0.7f; p.top_k = 40; break;
		case 1: p.temperature = 1.5f; p.top_p = 0.9f; break;
		case 2: p.temperature = 1.0f; p.min_p = 0.05f; p.repeat_penalty = 1.3f;
			p.frequency_penalty = 0.5f; p.presence_penalty = 0.5f; break;
		default: p.temperature = 0.0f; break;
	}
	return p;
}

/*
 * Random walks: at each step the real sampler draws from random logits
 * under the mask (the end token's logit raised so that walks finish); the
 * drawn token must be allowed, the walk must end complete, the text must be
 * JSON that the automaton accepts from scratch.  Every few steps the mask
 * is checked exactly.
 */
static void
random_walks(struct json_grammar *g, const struct tokenizer *t, const char *name, int n_walks,
			 uint64_t *rng)
{
	const struct json_schema *s = json_grammar_schema(g);
	int32_t		n_vocab = tokenizer_n_vocab(t);
	int32_t		eos = tokenizer_eos(t);
	bool	   *allowed = malloc((size_t) n_vocab);
	float	   *logits = malloc((size_t) n_vocab * sizeof(*logits));
	int			n_ended = 0;

	for (int w = 0; w < n_walks; w++)
	{
		struct sampler_params sp = walk_params(w);
		struct sampler *sampler = sampler_new(&sp, n_vocab);
		struct token_list history = {0};
		struct json_state st;
		char		text[8192];
		size_t		len = 0;
		bool		ended = false;

		json_state_init(s, &st);
		for (int step = 0; step < 200 && !ended; step++)
		{
			size_t		n_allowed = json_grammar_allowed(g, &st, eos, allowed);
			size_t		k = 0;
			int32_t		id;

			if (step % 17 == 3 && w < 3)
				check_mask_exact(g, t, &st, allowed, name);
			for (int32_t i = 0; i < n_vocab; i++)
			{
				k += allowed[i];
				logits[i] = (float) (check_rng_next(rng) % 1000) / 100.0f;
			}
			logits[eos] = 12.0f;
			CHECK(k == n_allowed && k > 0, "%s: %zu tokens allowed, counted %zu", name, k, n_allowed);
			if (k == 0)
				break;
			id = sampler_sample(sampler, logits, history.ids, history.n, allowed);
			CHECK(id >= 0 && allowed[id], "%s: the sampler drew %d, not allowed (walk %d)", name, id, w);
			if (id < 0 || !allowed[id])
				break;
			token_list_push(&history, id);
			if (id == eos)
			{
				ended = true;
				break;
			}
			len += tokenizer_piece(t, id, false, text + len, sizeof text - len - 1);
			CHECK(json_grammar_advance(g, &st, t, id), "%s: advance refused token %d", name, id);
			if (json_closed(&st))
				ended = true;
		}
		sampler_free(sampler);
		token_list_free(&history);
		if (!ended)
			continue;			/* long strings: max_tokens would end those */
		n_ended++;
		{
			struct json_state again;
			char		err[ERR_MAX] = "";
			struct json_value *v = json_parse(text, len, err);

			text[len] = '\0';
			json_state_init(s, &again);
			CHECK(json_feed(s, &again, text, len) && json_complete(s, &again),
				  "%s: walk ended incomplete: %s", name, text);
			CHECK(v != NULL, "%s: not JSON (%s): %s", name, err, text);
			json_value_free(v);
		}
	}
	CHECK(n_ended >= n_walks / 4, "%s: only %d of %d walks ended", name, n_ended, n_walks);
	printf("  %d of %d walks ended within 200 tokens\n", n_ended, n_walks);
	free(allowed);
	free(logits);
}

static const char *const walk_schemas[] = {
	"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":12},"
	"\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},\"ok\":{\"type\":\"boolean\"}},"
	"\"required\":[\"name\",\"age\"]}",
	"{\"type\":\"array\",\"items\":{\"type\":\"number\",\"minimum\":-1,\"maximum\":1},\"maxItems\":4}",
	"{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\",\"format\":\"date-time\"},"
	"\"e\":{\"enum\":[\"low\",\"lower\",\"high\"]},\"n\":{\"anyOf\":[{\"type\":\"null\"},"
	"{\"type\":\"string\",\"maxLength\":4}]}},\"required\":[\"d\",\"e\",\"n\"]}",
};

/* The cost of one mask walked from scratch (a fresh grammar: no cache) in a
 * few typical states, printed for BENCHMARKS.md. */
static void
time_masks(const struct vocab_trie *trie, const struct tokenizer *t)
{
	static const char *const schema =
		"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},"
		"\"b\":{\"type\":\"string\",\"maxLength\":200},\"c\":{\"type\":\"integer\"}},"
		"\"required\":[\"a\",\"b\",\"c\"]}";
	static const char *const prefixes[] = {"{", "{\"a\":\"", "{\"a\":\"x\",\"b\":\"abc", "{\"a\":\"x\",\"b\":\"y\",\"c\":1"};
	bool	   *allowed = malloc((size_t) tokenizer_n_vocab(t));

	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
	{
		char		err[ERR_MAX];
		const int	reps = 5;
		double		t0;
		size_t		n = 0;

		t0 = seconds_now();
		for (int r = 0; r < reps; r++)
		{
			struct json_grammar *g = json_grammar_new(schema, strlen(schema), trie, err);
			struct json_state st;

			json_state_init(json_grammar_schema(g), &st);
			json_feed(json_grammar_schema(g), &st, prefixes[i], strlen(prefixes[i]));
			n = json_grammar_allowed(g, &st, tokenizer_eos(t), allowed);
			json_grammar_free(g);
		}
		printf("  mask after '%s': %zu tokens allowed, %.2f ms uncached\n", prefixes[i], n,
			   (seconds_now() - t0) * 1e3 / reps);
	}
	free(allowed);
}

static void
test_vocab(const char *file, uint64_t seed)
{
	char		path[1024];
	char		err[ERR_MAX] = "";
	struct gguf_file *g;
	struct tokenizer *t;
	struct vocab_trie *trie;
	uint64_t	rng = seed;
	double		t0;

	check_model_path(path, sizeof path, file);
	g = gguf_open(path, err);
	if (g == NULL)
	{
		check_missing("json mask: %s absent", path);
		return;
	}
	t = tokenizer_load(g, err);
	CHECK(t != NULL, "tokenizer_load: %s", err);
	if (t == NULL)
	{
		gguf_close(g);
		return;
	}
	t0 = seconds_now();
	trie = vocab_trie_new(t);
	printf("%s: %d tokens, trie of %u nodes built in %.0f ms\n", file, tokenizer_n_vocab(t),
		   trie->n_nodes, (seconds_now() - t0) * 1e3);
	for (size_t i = 0; i < sizeof walk_schemas / sizeof walk_schemas[0]; i++)
	{
		struct json_grammar *gr = json_grammar_new(walk_schemas[i], strlen(walk_schemas[i]),
												   trie, err);
		int64_t		walks;
		int64_t		hits;

		CHECK(gr != NULL, "grammar: %s", err);
		if (gr == NULL)
			continue;
		random_walks(gr, t, file, 40, &rng);
		json_grammar_counts(gr, &walks, &hits);
		printf("  schema %zu: %lld masks walked, %lld from the cache\n", i,
			   (long long) walks, (long long) hits);
		json_grammar_free(gr);
	}
	time_masks(trie, t);
	vocab_trie_free(trie);
	tokenizer_free(t);
	gguf_close(g);
}

int
main(void)
{
	test_compile_errors();
	test_machine();
	test_vocab("SmolLM2-135M-Instruct-Q4_1.gguf", 7);
	test_vocab("Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", 11);
	return check_done("json");
}
