/*
 * functions.c — the SQL functions that run the model: generate,
 * generate_batch, generate_json, chat, rag, tokenize, detokenize, count_tokens.  Each checks
 * its arguments (22023 with the valid range), builds SUBMIT payloads and
 * runs them through request.c as one call.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "deepseek_r1.h"

#define DEFAULT_MAX_TOKENS 512
#define DEFAULT_TEMPERATURE 0.6
#define DEFAULT_TOP_P 0.95
#define DEFAULT_TOP_K 40

PG_FUNCTION_INFO_V1(dr1_generate);
PG_FUNCTION_INFO_V1(dr1_generate_batch);
PG_FUNCTION_INFO_V1(dr1_generate_json);
PG_FUNCTION_INFO_V1(dr1_chat);
PG_FUNCTION_INFO_V1(dr1_rag);
PG_FUNCTION_INFO_V1(dr1_tokenize);
PG_FUNCTION_INFO_V1(dr1_detokenize);
PG_FUNCTION_INFO_V1(dr1_count_tokens);

void
dr1_bad_argument(const char *fmt,...)
{
	char		msg[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", msg)));
}

/* A seed for a request whose seed argument is NULL. */
static uint64
random_seed(void)
{
	return pg_prng_uint64(&pg_global_prng_state) >> 1;
}

/* Decode's sparse attention for a mode and budget (auto: from the session's
 * deepseek_r1.sparse_min_context). */
static void
sparse_settings(struct dr1_submit *h, int mode, int budget)
{
	h->sparse_budget = mode == DR1_SPARSE_OFF ? 0 : budget;
	h->sparse_min_context = mode == DR1_SPARSE_AUTO ? dr1_sparse_min_context : 0;
}

/* The sparse and sparse_budget arguments at i and i + 1 (NULL: the settings). */
static void
sparse_args(FunctionCallInfo fcinfo, int i, struct dr1_submit *h)
{
	int			mode = dr1_sparse_attention;
	int			budget = PG_ARGISNULL(i + 1) ? dr1_sparse_budget : PG_GETARG_INT32(i + 1);

	if (!PG_ARGISNULL(i))
	{
		char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(i));

		if ((mode = dr1_option_value(dr1_sparse_options, s)) < 0)
			dr1_bad_argument("sparse must be off, on or auto, not \"%s\"", s);
	}
	if (budget < DR1_SPARSE_BUDGET_MIN || budget > DR1_SPARSE_BUDGET_MAX)
		dr1_bad_argument("sparse_budget must be between %d and %d tokens, not %d",
					 DR1_SPARSE_BUDGET_MIN, DR1_SPARSE_BUDGET_MAX, budget);
	sparse_settings(h, mode, budget);
}

/*
 * The sampling arguments, at positions first .. first+4: max_tokens,
 * temperature, top_p, top_k, seed.  NULL means the default (a random seed
 * for seed).  Returns whether the seed is random.
 */
static bool
sampling_args(FunctionCallInfo fcinfo, int first, struct dr1_submit *h)
{
	int32		max_tokens = PG_ARGISNULL(first) ? DEFAULT_MAX_TOKENS : PG_GETARG_INT32(first);
	double		temperature = PG_ARGISNULL(first + 1) ? DEFAULT_TEMPERATURE : PG_GETARG_FLOAT8(first + 1);
	double		top_p = PG_ARGISNULL(first + 2) ? DEFAULT_TOP_P : PG_GETARG_FLOAT8(first + 2);
	int32		top_k = PG_ARGISNULL(first + 3) ? DEFAULT_TOP_K : PG_GETARG_INT32(first + 3);
	int64		seed;

	if (max_tokens < 1 || max_tokens > dr1_max_tokens_limit)
		dr1_bad_argument("max_tokens must be between 1 and %d (deepseek_r1.max_tokens_limit), not %d",
					 dr1_max_tokens_limit, max_tokens);
	if (!(temperature >= 0 && temperature <= DR1_TEMPERATURE_MAX))
		dr1_bad_argument("temperature must be between 0 and %d, not %g", DR1_TEMPERATURE_MAX,
					 temperature);
	if (!(top_p > 0 && top_p <= 1))
		dr1_bad_argument("top_p must be greater than 0 and at most 1, not %g", top_p);
	if (top_k < 0 || top_k > DR1_TOP_K_MAX)
		dr1_bad_argument("top_k must be 0 (off) or between 1 and %d, not %d", DR1_TOP_K_MAX, top_k);
	if (PG_ARGISNULL(first + 4))
		seed = (int64) random_seed();
	else if ((seed = PG_GETARG_INT64(first + 4)) < 0)
		dr1_bad_argument("seed must be between 0 and " INT64_FORMAT ", not " INT64_FORMAT,
					 PG_INT64_MAX, seed);
	h->kind = DR1_REQ_COMPLETE;
	sparse_settings(h, dr1_sparse_attention, dr1_sparse_budget);
	h->max_tokens = max_tokens;
	h->temperature = (float) temperature;
	h->top_p = (float) top_p;
	h->top_k = top_k;
	h->seed = (uint64) seed;
	return PG_ARGISNULL(first + 4);
}

static void
check_one_dimension(ArrayType *a, const char *name)
{
	if (ARR_NDIM(a) > 1)
		dr1_bad_argument("%s must be a one-dimensional array, not one of %d dimensions", name,
					 ARR_NDIM(a));
}

/* The strings of text[] argument i, named name (NULL: none): at most max,
 * each non-empty. */
static int
strings_arg(FunctionCallInfo fcinfo, int i, const char *name, int max, Datum **elems)
{
	ArrayType  *a;
	bool	   *nulls;
	int			n;

	*elems = NULL;
	if (PG_ARGISNULL(i))
		return 0;
	a = PG_GETARG_ARRAYTYPE_P(i);
	check_one_dimension(a, name);
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, elems, &nulls, &n);
	if (n > max)
		dr1_bad_argument("%s may hold at most %d strings, not %d", name, max, n);
	for (int k = 0; k < n; k++)
		if (nulls[k] || VARSIZE_ANY_EXHDR(DatumGetPointer((*elems)[k])) == 0)
			dr1_bad_argument("every string in %s must be non-empty and not NULL", name);
	return n;
}

static void
put_text(StringInfo buf, Datum d)
{
	text	   *t = DatumGetTextPP(d);

	dr1_put_str(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true);
}

static void
put_cstr(StringInfo buf, const char *s)
{
	dr1_put_str(buf, s, strlen(s), false);
}

static void
put_texts(StringInfo buf, Datum *texts, int n)
{
	for (int k = 0; k < n; k++)
		put_text(buf, texts[k]);
}

/*
 * The schema argument at i (jsonb): a JSON object, sent as its text.  What
 * else makes a schema unusable (an unsupported keyword, a bad bound) the
 * engine says, with 22023 too.
 */
void
dr1_schema_arg(FunctionCallInfo fcinfo, int i, DR1GenerateArgs *ga)
{
	Jsonb	   *jb;

	if (PG_ARGISNULL(i))
		return;
	jb = PG_GETARG_JSONB_P(i);
	if (JB_ROOT_IS_SCALAR(jb) || !JB_ROOT_IS_OBJECT(jb))
		dr1_bad_argument("schema must be a JSON object (a JSON Schema), not %s",
					 JB_ROOT_IS_SCALAR(jb) ? "a scalar" : "an array");
	ga->schema = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	ga->h.flags |= DR1_FLAG_SCHEMA;
	ga->want_text = true;		/* the JSON is the whole answer */
}

/*
 * The arguments from max_tokens on, at positions first .. first+11:
 * max_tokens, temperature, top_p, top_k, seed, stop, system, raw,
 * include_reasoning, choices, sparse, sparse_budget; then schema at
 * first+12 where the function has it (generate_batch, enrich).
 */
void
dr1_generate_args(FunctionCallInfo fcinfo, int first, DR1GenerateArgs *ga)
{
	bool		raw = !PG_ARGISNULL(first + 7) && PG_GETARG_BOOL(first + 7);
	bool		include_reasoning = !PG_ARGISNULL(first + 8) && PG_GETARG_BOOL(first + 8);

	memset(ga, 0, sizeof *ga);
	ga->random_seed = sampling_args(fcinfo, first, &ga->h);
	ga->h.n_stops = strings_arg(fcinfo, first + 5, "stop", DR1_MAX_STOPS, &ga->stops);
	ga->has_system = !PG_ARGISNULL(first + 6);
	if (ga->has_system)
		ga->system = PG_GETARG_DATUM(first + 6);
	ga->h.n_choices = strings_arg(fcinfo, first + 9, "choices", DR1_MAX_CHOICES, &ga->choices);
	sparse_args(fcinfo, first + 10, &ga->h);
	if (!PG_ARGISNULL(first + 9) && ga->h.n_choices == 0)
		dr1_bad_argument("choices must hold at least one string");
	if (ga->h.n_choices > 0 && ga->h.n_stops > 0)
		dr1_bad_argument("stop cannot be combined with choices");
	if (raw && ga->has_system)
		dr1_bad_argument("system cannot be combined with raw => true");
	ga->h.flags = raw ? DR1_FLAG_RAW : 0;
	ga->h.n_messages = ga->has_system ? 2 : 1;
	/* a choice is returned whole, even one that looks like reasoning */
	ga->want_text = raw || include_reasoning || ga->h.n_choices > 0;
	if (PG_NARGS() > first + 12)
		dr1_schema_arg(fcinfo, first + 12, ga);
	if (ga->schema && (ga->h.n_choices > 0 || ga->h.n_stops > 0))
		dr1_bad_argument("schema cannot be combined with choices or stop");
}

static void
generate_payload(const DR1GenerateArgs *ga, Datum prompt, StringInfo buf)
{
	struct dr1_submit h = ga->h;

	if (ga->random_seed)
		h.seed = random_seed();
	initStringInfo(buf);
	appendBinaryStringInfo(buf, (const char *) &h, sizeof h);
	if (ga->has_system)
	{
		put_cstr(buf, "system");
		put_text(buf, ga->system);
	}
	put_cstr(buf, "user");
	if (ga->schema)
	{
		/* the same words as `generate --schema` (protocol.h) */
		char	   *p = psprintf("%s" DR1_SCHEMA_INSTRUCTION "%s", TextDatumGetCString(prompt),
								 ga->schema);

		dr1_put_str(buf, p, strlen(p), true);
	}
	else
		put_text(buf, prompt);
	put_texts(buf, ga->stops, h.n_stops);
	put_texts(buf, ga->choices, h.n_choices);
	if (ga->schema)
		dr1_put_str(buf, ga->schema, strlen(ga->schema), true);
}

/* With a schema, an answer that max_tokens (or the context) cut short is
 * not JSON: an error rather than a broken value. */
static void
check_schema_finished(const DR1GenerateArgs *ga, const DR1Result *res, int label)
{
	if (ga->schema && res->done.finish == DR1_FINISH_LENGTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the JSON value was not complete when max_tokens (%d) or the context ran out",
						ga->h.max_tokens),
				 errhint("Raise max_tokens, or bound the schema's strings (maxLength) and arrays (maxItems)."),
				 label >= 0 ? errcontext("prompts[%d]", label) : 0));
}

/*
 * Generate the answers to prompts[0..n) as one call.  A NULL prompt
 * (nulls[i]) gets a NULL answer and is not sent.  labels and task: see
 * dr1_run.
 */
void
dr1_generate_many(const DR1GenerateArgs *ga, const Datum *prompts, const bool *nulls, int n,
				  Datum *answers, bool *answer_nulls, const int *labels, const DR1Task *task)
{
	StringInfoData *submits = palloc(sizeof(StringInfoData) * n);
	int		   *which = palloc(sizeof(int) * n);
	int		   *sent_labels = labels ? palloc(sizeof(int) * n) : NULL;
	DR1Result  *res;
	int			m = 0;

	for (int i = 0; i < n; i++)
	{
		answer_nulls[i] = nulls && nulls[i];
		if (answer_nulls[i])
			continue;
		generate_payload(ga, prompts[i], &submits[m]);
		if (labels)
			sent_labels[m] = labels[i];
		which[m++] = i;
	}
	res = palloc(sizeof(DR1Result) * m);
	dr1_run(submits, m, res, task, sent_labels);
	for (int k = 0; k < m; k++)
	{
		check_schema_finished(ga, &res[k], sent_labels ? sent_labels[k] : -1);
		answers[which[k]] = CStringGetTextDatum(ga->want_text ? res[k].text : res[k].content);
	}
}

/* The answer to one (non-NULL) prompt. */
static Datum
generate_one(const DR1GenerateArgs *ga, Datum prompt)
{
	Datum		answer;
	bool		isnull;

	dr1_generate_many(ga, &prompt, NULL, 1, &answer, &isnull, NULL, NULL);
	return answer;
}

/*
 * generate(prompt, max_tokens, temperature, top_p, top_k, seed, stop,
 *          system, raw, include_reasoning, choices) -> text
 */
Datum
dr1_generate(PG_FUNCTION_ARGS)
{
	DR1GenerateArgs ga;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	dr1_generate_args(fcinfo, 1, &ga);
	PG_RETURN_DATUM(generate_one(&ga, PG_GETARG_DATUM(0)));
}

/*
 * generate_batch(prompts, max_tokens, ..., choices) -> text[]: the answers
 * in the order of the prompts (and with their subscripts), NULL for NULL.
 */
Datum
dr1_generate_batch(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	DR1GenerateArgs ga;
	Datum	   *prompts;
	bool	   *nulls;
	Datum	   *answers;
	bool	   *answer_nulls;
	int		   *labels;
	int			n;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	a = PG_GETARG_ARRAYTYPE_P(0);
	check_one_dimension(a, "prompts");
	dr1_generate_args(fcinfo, 1, &ga);
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &prompts, &nulls, &n);
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(TEXTOID));
	if (n > DR1_MAX_PROMPTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("generate_batch takes at most %d prompts, not %d", DR1_MAX_PROMPTS, n),
				 errhint("Split the prompts into several calls.")));
	answers = palloc(sizeof(Datum) * n);
	answer_nulls = palloc(sizeof(bool) * n);
	labels = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
		labels[i] = ARR_LBOUND(a)[0] + i;
	dr1_generate_many(&ga, prompts, nulls, n, answers, answer_nulls, labels, NULL);
	PG_RETURN_ARRAYTYPE_P(construct_md_array(answers, answer_nulls, 1, &n, ARR_LBOUND(a), TEXTOID,
											 -1, false, TYPALIGN_INT));
}

/*
 * generate_json(prompt, schema, max_tokens, temperature, top_p, top_k, seed,
 *               system) -> jsonb: an answer the schema accepts.  The prompt
 * is followed by DR1_SCHEMA_INSTRUCTION and the schema's text.
 */
Datum
dr1_generate_json(PG_FUNCTION_ARGS)
{
	DR1GenerateArgs ga;
	Datum		answer;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1))
		dr1_bad_argument("schema must not be NULL");
	memset(&ga, 0, sizeof ga);
	ga.random_seed = sampling_args(fcinfo, 2, &ga.h);
	ga.has_system = !PG_ARGISNULL(7);
	if (ga.has_system)
		ga.system = PG_GETARG_DATUM(7);
	ga.h.n_messages = ga.has_system ? 2 : 1;
	dr1_schema_arg(fcinfo, 1, &ga);
	answer = generate_one(&ga, PG_GETARG_DATUM(0));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(answer))));
}

/* A string member of a message object, or NULL. */
static JsonbValue *
message_field(JsonbContainer *obj, const char *key, int n)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);

	if (!v || v->type != jbvString)
		dr1_bad_argument("message %d must have a string \"%s\"", n, key);
	return v;
}

/* Append the messages of a chat() call; returns how many there are. */
static int
put_messages(StringInfo buf, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb) || JB_ROOT_COUNT(jb) == 0)
		dr1_bad_argument("messages must be a non-empty JSON array of {\"role\": ..., \"content\": ...} objects");
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *role;
		JsonbValue *content;

		if (tok != WJB_ELEM)
			continue;
		n++;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			dr1_bad_argument("message %d must be a JSON object", n);
		role = message_field(v.val.binary.data, "role", n);
		content = message_field(v.val.binary.data, "content", n);
		if (!(role->val.string.len == 4 && !memcmp(role->val.string.val, "user", 4)) &&
			!(role->val.string.len == 6 && !memcmp(role->val.string.val, "system", 6)) &&
			!(role->val.string.len == 9 && !memcmp(role->val.string.val, "assistant", 9)))
			dr1_bad_argument("message %d: role must be \"system\", \"user\" or \"assistant\"", n);
		dr1_put_str(buf, role->val.string.val, role->val.string.len, false);
		dr1_put_str(buf, content->val.string.val, content->val.string.len, true);
	}
	return n;
}

/* chat(messages, max_tokens, temperature, top_p, top_k, seed, stop) -> jsonb */
Datum
dr1_chat(PG_FUNCTION_ARGS)
{
	struct dr1_submit h = {0};
	StringInfoData buf;
	StringInfoData out;
	DR1Result	res;
	Datum	   *stops;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	sampling_args(fcinfo, 1, &h);
	h.n_stops = strings_arg(fcinfo, 6, "stop", DR1_MAX_STOPS, &stops);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) &h, sizeof h);
	h.n_messages = put_messages(&buf, PG_GETARG_JSONB_P(0));
	memcpy(buf.data, &h, sizeof h);
	put_texts(&buf, stops, h.n_stops);
	dr1_run(&buf, 1, &res, NULL, NULL);

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"content\": ");
	escape_json(&out, res.content);
	appendStringInfoString(&out, ", \"reasoning_content\": ");
	if (res.reasoning[0])
		escape_json(&out, res.reasoning);
	else
		appendStringInfoString(&out, "null");
	appendStringInfo(&out, ", \"finish_reason\": \"%s\", \"usage\": {\"prompt_tokens\": %d, "
					 "\"completion_tokens\": %d, \"total_tokens\": %d}}",
					 dr1_finish_name(res.done.finish), res.done.n_prompt, res.done.n_generated,
					 res.done.n_prompt + res.done.n_generated);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/*
 * rag's prompt (README, "Embeddings and RAG"): a system prompt that keeps
 * the answer to the passages, and the passages numbered [1].. before the
 * question, so that the model can cite them.
 */
#define RAG_SYSTEM \
	"Answer the question using only the numbered passages. If they do not contain the answer, " \
	"say that you do not know."
#define RAG_CITE " Cite the passages you use by their numbers in square brackets, like [1]."
#define RAG_MAX_PASSAGES 64

static Datum
rag_prompt(Datum question, const Datum *docs, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "Passages:\n");
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "[%d] %s\n", i + 1, TextDatumGetCString(docs[i]));
	appendStringInfo(&buf, "\nQuestion: %s", TextDatumGetCString(question));
	return CStringGetTextDatum(buf.data);
}

/* answer + "Sources: [i], [j]": the passages 1..n the answer cites, in order, once each. */
static char *
with_sources(const char *answer, int n)
{
	StringInfoData buf;
	bool	   *cited = palloc0(sizeof(bool) * (n + 1));
	int			found = 0;

	for (const char *p = strchr(answer, '['); p; p = strchr(p + 1, '['))
	{
		char	   *end;
		long		k = strtol(p + 1, &end, 10);

		if (end != p + 1 && *end == ']' && k >= 1 && k <= n)
			cited[k] = true;
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s\n\nSources:", answer);
	for (int k = 1; k <= n; k++)
		if (cited[k])
			appendStringInfo(&buf, "%s [%d]", found++ ? "," : "", k);
	if (!found)
		appendStringInfoString(&buf, " none");
	return buf.data;
}

/*
 * rag(question, documents, max_tokens, temperature, top_p, top_k, seed,
 *     include_sources) -> text: the generation model's answer to the
 * question from the given passages (typically the nearest rows by
 * embedding); with include_sources, followed by the passages it cited.
 */
Datum
dr1_rag(PG_FUNCTION_ARGS)
{
	DR1GenerateArgs ga;
	bool		include_sources = !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
	Datum	   *docs;
	int			n;
	Datum		answer;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		dr1_bad_argument("question must not be empty");
	if (PG_ARGISNULL(1))
		dr1_bad_argument("documents must not be NULL");
	n = strings_arg(fcinfo, 1, "documents", RAG_MAX_PASSAGES, &docs);
	if (n == 0)
		dr1_bad_argument("documents must hold at least one passage");
	memset(&ga, 0, sizeof ga);
	ga.random_seed = sampling_args(fcinfo, 2, &ga.h);
	ga.has_system = true;
	ga.system = CStringGetTextDatum(include_sources ? RAG_SYSTEM RAG_CITE : RAG_SYSTEM);
	ga.h.n_messages = 2;
	answer = generate_one(&ga, rag_prompt(PG_GETARG_DATUM(0), docs, n));
	if (include_sources)
		PG_RETURN_TEXT_P(cstring_to_text(with_sources(TextDatumGetCString(answer), n)));
	PG_RETURN_DATUM(answer);
}

static void
tokenize(text *t, DR1Result *res)
{
	struct dr1_submit h = {.kind = DR1_REQ_TOKENIZE, .n_messages = 1};
	StringInfoData buf;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) &h, sizeof h);
	put_cstr(&buf, "user");
	dr1_put_str(&buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true);
	dr1_run(&buf, 1, res, NULL, NULL);
}

Datum
dr1_tokenize(PG_FUNCTION_ARGS)
{
	DR1Result	res;
	Datum	   *elems;

	tokenize(PG_GETARG_TEXT_PP(0), &res);
	elems = palloc(sizeof(Datum) * (res.done.n_ids + 1));
	for (uint32 i = 0; i < res.done.n_ids; i++)
		elems[i] = Int32GetDatum(res.ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, res.done.n_ids, INT4OID, sizeof(int32), true,
										  TYPALIGN_INT));
}

Datum
dr1_count_tokens(PG_FUNCTION_ARGS)
{
	DR1Result	res;

	tokenize(PG_GETARG_TEXT_PP(0), &res);
	PG_RETURN_INT32((int32) res.done.n_ids);
}

Datum
dr1_detokenize(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	struct dr1_submit h = {.kind = DR1_REQ_DETOKENIZE};
	StringInfoData buf;
	DR1Result	res;
	Datum	   *elems;
	bool	   *nulls;
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

	if (n > DR1_MAX_DETOKENIZE_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("detokenize takes at most %d token ids, not %d", DR1_MAX_DETOKENIZE_IDS, n),
				 errhint("Split the ids into several calls.")));
	deconstruct_array(a, INT4OID, sizeof(int32), true, TYPALIGN_INT, &elems, &nulls, &n);
	h.n_ids = n;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) &h, sizeof h);
	for (int i = 0; i < n; i++)
	{
		int32		id;

		if (nulls[i])
			dr1_bad_argument("token ids must not be NULL");
		id = DatumGetInt32(elems[i]);
		appendBinaryStringInfo(&buf, (const char *) &id, sizeof id);
	}
	dr1_run(&buf, 1, &res, NULL, NULL);
	PG_RETURN_TEXT_P(cstring_to_text(res.text));
}
