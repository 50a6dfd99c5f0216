/*
 * functions.c — the SQL functions that run the model: generate, chat,
 * tokenize, detokenize, count_tokens.  Each checks its arguments (22023
 * with the valid range), builds a SUBMIT payload and runs it through
 * request.c.
 */
#include "postgres.h"

#include <limits.h>

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
#define MAX_STOPS 16

PG_FUNCTION_INFO_V1(dr1_generate);
PG_FUNCTION_INFO_V1(dr1_chat);
PG_FUNCTION_INFO_V1(dr1_tokenize);
PG_FUNCTION_INFO_V1(dr1_detokenize);
PG_FUNCTION_INFO_V1(dr1_count_tokens);

static void
bad_argument(const char *fmt,...) pg_attribute_printf(1, 2);

static void
bad_argument(const char *fmt,...)
{
	char		msg[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", msg)));
}

/*
 * The sampling arguments, at positions first .. first+4: max_tokens,
 * temperature, top_p, top_k, seed.  NULL means the default.
 */
static void
sampling_args(FunctionCallInfo fcinfo, int first, struct dr1_submit *h)
{
	int32		max_tokens = PG_ARGISNULL(first) ? DEFAULT_MAX_TOKENS : PG_GETARG_INT32(first);
	double		temperature = PG_ARGISNULL(first + 1) ? DEFAULT_TEMPERATURE : PG_GETARG_FLOAT8(first + 1);
	double		top_p = PG_ARGISNULL(first + 2) ? DEFAULT_TOP_P : PG_GETARG_FLOAT8(first + 2);
	int32		top_k = PG_ARGISNULL(first + 3) ? DEFAULT_TOP_K : PG_GETARG_INT32(first + 3);
	int64		seed;

	if (max_tokens < 1 || max_tokens > dr1_max_tokens_limit)
		bad_argument("max_tokens must be between 1 and %d (deepseek_r1.max_tokens_limit), not %d",
					 dr1_max_tokens_limit, max_tokens);
	if (!(temperature >= 0 && temperature <= 100))
		bad_argument("temperature must be between 0 and 100, not %g", temperature);
	if (!(top_p > 0 && top_p <= 1))
		bad_argument("top_p must be greater than 0 and at most 1, not %g", top_p);
	if (top_k < 0)
		bad_argument("top_k must be 0 (off) or between 1 and %d, not %d", INT_MAX, top_k);
	if (PG_ARGISNULL(first + 4))
		seed = (int64) (pg_prng_uint64(&pg_global_prng_state) >> 1);
	else if ((seed = PG_GETARG_INT64(first + 4)) < 0)
		bad_argument("seed must be between 0 and " INT64_FORMAT ", not " INT64_FORMAT,
					 PG_INT64_MAX, seed);
	h->kind = DR1_REQ_COMPLETE;
	h->max_tokens = max_tokens;
	h->temperature = (float) temperature;
	h->top_p = (float) top_p;
	h->top_k = top_k;
	h->seed = (uint64) seed;
}

/* The stop strings of argument i (NULL: none). */
static int
stop_args(FunctionCallInfo fcinfo, int i, Datum **elems)
{
	bool	   *nulls;
	int			n;

	*elems = NULL;
	if (PG_ARGISNULL(i))
		return 0;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(i), TEXTOID, -1, false, TYPALIGN_INT,
					  elems, &nulls, &n);
	if (n > MAX_STOPS)
		bad_argument("stop may hold at most %d strings, not %d", MAX_STOPS, n);
	for (int k = 0; k < n; k++)
		if (nulls[k] || VARSIZE_ANY_EXHDR(DatumGetPointer((*elems)[k])) == 0)
			bad_argument("stop strings must be non-empty and not NULL");
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
put_stops(StringInfo buf, Datum *stops, int n)
{
	for (int k = 0; k < n; k++)
		put_text(buf, stops[k]);
}

/*
 * generate(prompt, max_tokens, temperature, top_p, top_k, seed, stop,
 *          system, raw, include_reasoning) -> text
 */
Datum
dr1_generate(PG_FUNCTION_ARGS)
{
	struct dr1_submit h = {0};
	StringInfoData buf;
	DR1Result	res;
	Datum	   *stops;
	bool		raw = !PG_ARGISNULL(8) && PG_GETARG_BOOL(8);
	bool		include_reasoning = !PG_ARGISNULL(9) && PG_GETARG_BOOL(9);
	bool		has_system = !PG_ARGISNULL(7);

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	sampling_args(fcinfo, 1, &h);
	h.n_stops = stop_args(fcinfo, 6, &stops);
	if (raw && has_system)
		bad_argument("system cannot be combined with raw => true");
	h.flags = raw ? DR1_FLAG_RAW : 0;
	h.n_messages = has_system ? 2 : 1;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) &h, sizeof h);
	if (has_system)
	{
		put_cstr(&buf, "system");
		put_text(&buf, PG_GETARG_DATUM(7));
	}
	put_cstr(&buf, "user");
	put_text(&buf, PG_GETARG_DATUM(0));
	put_stops(&buf, stops, h.n_stops);
	dr1_request_run(&buf, &res);
	PG_RETURN_TEXT_P(cstring_to_text(raw || include_reasoning ? res.text : res.content));
}

/* A string member of a message object, or NULL. */
static JsonbValue *
message_field(JsonbContainer *obj, const char *key, int n)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), NULL);

	if (!v || v->type != jbvString)
		bad_argument("message %d must have a string \"%s\"", n, key);
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
		bad_argument("messages must be a non-empty JSON array of {\"role\": ..., \"content\": ...} objects");
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *role;
		JsonbValue *content;

		if (tok != WJB_ELEM)
			continue;
		n++;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			bad_argument("message %d must be a JSON object", n);
		role = message_field(v.val.binary.data, "role", n);
		content = message_field(v.val.binary.data, "content", n);
		if (!(role->val.string.len == 4 && !memcmp(role->val.string.val, "user", 4)) &&
			!(role->val.string.len == 6 && !memcmp(role->val.string.val, "system", 6)) &&
			!(role->val.string.len == 9 && !memcmp(role->val.string.val, "assistant", 9)))
			bad_argument("message %d: role must be \"system\", \"user\" or \"assistant\"", n);
		dr1_put_str(buf, role->val.string.val, role->val.string.len, false);
		dr1_put_str(buf, content->val.string.val, content->val.string.len, true);
	}
	return n;
}

static const char *
finish_name(uint32 finish)
{
	if (finish == DR1_FINISH_LENGTH)
		return "length";
	return finish == DR1_FINISH_CANCEL ? "cancel" : "stop";
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
	h.n_stops = stop_args(fcinfo, 6, &stops);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) &h, sizeof h);
	h.n_messages = put_messages(&buf, PG_GETARG_JSONB_P(0));
	memcpy(buf.data, &h, sizeof h);
	put_stops(&buf, stops, h.n_stops);
	dr1_request_run(&buf, &res);

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
					 finish_name(res.done.finish), res.done.n_prompt, res.done.n_generated,
					 res.done.n_prompt + res.done.n_generated);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
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
	dr1_request_run(&buf, res);
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
	struct dr1_submit h = {.kind = DR1_REQ_DETOKENIZE};
	StringInfoData buf;
	DR1Result	res;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	h.n_ids = n;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) &h, sizeof h);
	for (int i = 0; i < n; i++)
	{
		int32		id;

		if (nulls[i])
			bad_argument("token ids must not be NULL");
		id = DatumGetInt32(elems[i]);
		appendBinaryStringInfo(&buf, (const char *) &id, sizeof id);
	}
	dr1_request_run(&buf, &res);
	PG_RETURN_TEXT_P(cstring_to_text(res.text));
}
