/*
 * classify.c — labels and yes/no answers on the engine's constrained
 * choice: classify(input, labels) -> text, filter(input, condition) ->
 * boolean, and their batched forms classify_batch and filter_batch, which
 * submit a whole array of inputs as one call (batched by the engine).
 *
 * The prompt (README, "Classify and filter"):
 *
 *     <instructions>
 *
 *     Text: <input>
 *
 *     Answer with exactly one of: <label 1>, <label 2>, ...
 *
 * instructions defaults to "Classify the text."; filter's are "Does the
 * text satisfy this condition? <condition>" with the labels yes and no, so
 * filter(x, c) is classify(x, '{yes,no}', 'Does the text satisfy this
 * condition? ' || c) = 'yes'.  The answer is exactly one label: the
 * labels' tokens are the only ones the model may write.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "deepseek_r1.h"

PG_FUNCTION_INFO_V1(dr1_classify);
PG_FUNCTION_INFO_V1(dr1_classify_batch);
PG_FUNCTION_INFO_V1(dr1_filter);
PG_FUNCTION_INFO_V1(dr1_filter_batch);

#define DEFAULT_INSTRUCTIONS "Classify the text."
#define FILTER_INSTRUCTIONS "Does the text satisfy this condition? "

/* The labels argument: non-empty distinct strings, at most DR1_MAX_CHOICES. */
static int
labels_arg(FunctionCallInfo fcinfo, int i, Datum **labels)
{
	ArrayType  *a;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(i))
		dr1_bad_argument("labels must not be NULL");
	a = PG_GETARG_ARRAYTYPE_P(i);
	if (ARR_NDIM(a) > 1)
		dr1_bad_argument("labels must be a one-dimensional array");
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, labels, &nulls, &n);
	if (n == 0)
		dr1_bad_argument("labels must hold at least one label");
	if (n > DR1_MAX_CHOICES)
		dr1_bad_argument("labels may hold at most %d labels, not %d", DR1_MAX_CHOICES, n);
	for (int k = 0; k < n; k++)
	{
		if (nulls[k] || VARSIZE_ANY_EXHDR(DatumGetPointer((*labels)[k])) == 0)
			dr1_bad_argument("every label must be non-empty and not NULL");
		for (int j = 0; j < k; j++)
			if (strcmp(TextDatumGetCString((*labels)[j]), TextDatumGetCString((*labels)[k])) == 0)
				dr1_bad_argument("labels must not repeat: \"%s\" is given twice",
								 TextDatumGetCString((*labels)[k]));
	}
	return n;
}

/* The sampling of a choice (temperature and seed at i, i + 1; system at
 * i + 2), with the labels as its choices. */
static void
choice_args(FunctionCallInfo fcinfo, int i, Datum *labels, int n_labels, DR1GenerateArgs *ga)
{
	double		temperature = PG_ARGISNULL(i) ? 0.0 : PG_GETARG_FLOAT8(i);

	if (!(temperature >= 0 && temperature <= DR1_TEMPERATURE_MAX))
		dr1_bad_argument("temperature must be between 0 and %d, not %g", DR1_TEMPERATURE_MAX,
						 temperature);
	if (!PG_ARGISNULL(i + 1) && PG_GETARG_INT64(i + 1) < 0)
		dr1_bad_argument("seed must be between 0 and " INT64_FORMAT ", not " INT64_FORMAT,
						 PG_INT64_MAX, PG_GETARG_INT64(i + 1));
	memset(ga, 0, sizeof *ga);
	ga->h.kind = DR1_REQ_COMPLETE;
	ga->h.max_tokens = 1;		/* a choice ends by itself (protocol.h) */
	ga->h.temperature = (float) temperature;
	ga->h.top_p = 1.0f;
	ga->random_seed = PG_ARGISNULL(i + 1);
	ga->h.seed = ga->random_seed ? 0 : (uint64) PG_GETARG_INT64(i + 1);
	ga->has_system = !PG_ARGISNULL(i + 2);
	if (ga->has_system)
		ga->system = PG_GETARG_DATUM(i + 2);
	ga->h.n_messages = ga->has_system ? 2 : 1;
	ga->choices = labels;
	ga->h.n_choices = n_labels;
	ga->want_text = true;
}

static Datum
choice_prompt(const char *instructions, Datum input, const Datum *labels, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s\n\nText: %s\n\nAnswer with exactly one of: ", instructions,
					 TextDatumGetCString(input));
	for (int k = 0; k < n; k++)
		appendStringInfo(&buf, "%s%s", k ? ", " : "", TextDatumGetCString(labels[k]));
	appendStringInfoChar(&buf, '.');
	return CStringGetTextDatum(buf.data);
}

/* The answers to inputs[0..n) (NULL for NULL) as one call. */
static void
choose_many(const DR1GenerateArgs *ga, const char *instructions, const Datum *inputs,
			const bool *nulls, int n, Datum *answers, bool *answer_nulls)
{
	Datum	   *prompts = palloc(sizeof(Datum) * (n + 1));

	for (int k = 0; k < n; k++)
		prompts[k] = nulls[k] ? (Datum) 0
			: choice_prompt(instructions, inputs[k], ga->choices, (int) ga->h.n_choices);
	dr1_generate_many(ga, prompts, nulls, n, answers, answer_nulls, NULL, NULL);
}

static const char *
instructions_arg(FunctionCallInfo fcinfo, int i)
{
	return PG_ARGISNULL(i) ? DEFAULT_INSTRUCTIONS : text_to_cstring(PG_GETARG_TEXT_PP(i));
}

static const char *
condition_arg(FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(i)) == 0)
		dr1_bad_argument("condition must be a non-empty text");
	return psprintf(FILTER_INSTRUCTIONS "%s", text_to_cstring(PG_GETARG_TEXT_PP(i)));
}

/* The yes/no labels of filter. */
static Datum *
yes_no(void)
{
	Datum	   *labels = palloc(sizeof(Datum) * 2);

	labels[0] = CStringGetTextDatum("yes");
	labels[1] = CStringGetTextDatum("no");
	return labels;
}

/* One input (argument 0; NULL: NULL) into its label. */
static bool
choose_one(FunctionCallInfo fcinfo, const DR1GenerateArgs *ga, const char *instructions,
		   Datum *answer)
{
	Datum		input = PG_GETARG_DATUM(0);
	bool		input_null = false;
	bool		answer_null;

	choose_many(ga, instructions, &input, &input_null, 1, answer, &answer_null);
	return !answer_null;
}

/* The inputs array (argument 0) as datums and nulls; its lower bound. */
static int
inputs_arg(FunctionCallInfo fcinfo, Datum **inputs, bool **nulls, int *lbound)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	int			n;

	if (ARR_NDIM(a) > 1)
		dr1_bad_argument("inputs must be a one-dimensional array");
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, inputs, nulls, &n);
	if (n > DR1_MAX_PROMPTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d inputs a call, not %d", DR1_MAX_PROMPTS, n),
				 errhint("Split the inputs into several calls.")));
	*lbound = n > 0 ? ARR_LBOUND(a)[0] : 1;
	return n;
}

/* classify(input, labels, instructions, temperature, seed, system) -> text */
Datum
dr1_classify(PG_FUNCTION_ARGS)
{
	DR1GenerateArgs ga;
	Datum	   *labels;
	int			n = labels_arg(fcinfo, 1, &labels);
	Datum		answer;

	choice_args(fcinfo, 3, labels, n, &ga);
	if (PG_ARGISNULL(0) || !choose_one(fcinfo, &ga, instructions_arg(fcinfo, 2), &answer))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(answer);
}

/* filter(input, condition, temperature, seed, system) -> boolean */
Datum
dr1_filter(PG_FUNCTION_ARGS)
{
	DR1GenerateArgs ga;
	const char *instructions = condition_arg(fcinfo, 1);
	Datum		answer;

	choice_args(fcinfo, 2, yes_no(), 2, &ga);
	if (PG_ARGISNULL(0) || !choose_one(fcinfo, &ga, instructions, &answer))
		PG_RETURN_NULL();
	PG_RETURN_BOOL(strcmp(TextDatumGetCString(answer), "yes") == 0);
}

/* The batched forms: inputs[] into their answers[], as one call; labels
 * and instructions already read.  Returns the answers array. */
static ArrayType *
choose_batch(FunctionCallInfo fcinfo, const DR1GenerateArgs *ga, const char *instructions,
			 bool as_bool)
{
	Datum	   *inputs;
	bool	   *nulls;
	int			lbound;
	int			n = inputs_arg(fcinfo, &inputs, &nulls, &lbound);
	Datum	   *answers = palloc(sizeof(Datum) * (n + 1));
	bool	   *answer_nulls = palloc(sizeof(bool) * (n + 1));

	if (n == 0)
		return construct_empty_array(as_bool ? BOOLOID : TEXTOID);
	choose_many(ga, instructions, inputs, nulls, n, answers, answer_nulls);
	for (int k = 0; as_bool && k < n; k++)
		if (!answer_nulls[k])
			answers[k] = BoolGetDatum(strcmp(TextDatumGetCString(answers[k]), "yes") == 0);
	return as_bool
		? construct_md_array(answers, answer_nulls, 1, &n, &lbound, BOOLOID, 1, true, TYPALIGN_CHAR)
		: construct_md_array(answers, answer_nulls, 1, &n, &lbound, TEXTOID, -1, false,
							 TYPALIGN_INT);
}

/* classify_batch(inputs, labels, instructions, temperature, seed, system) -> text[] */
Datum
dr1_classify_batch(PG_FUNCTION_ARGS)
{
	DR1GenerateArgs ga;
	Datum	   *labels;
	int			n = labels_arg(fcinfo, 1, &labels);

	choice_args(fcinfo, 3, labels, n, &ga);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(choose_batch(fcinfo, &ga, instructions_arg(fcinfo, 2), false));
}

/* filter_batch(inputs, condition, temperature, seed, system) -> boolean[] */
Datum
dr1_filter_batch(PG_FUNCTION_ARGS)
{
	DR1GenerateArgs ga;
	const char *instructions = condition_arg(fcinfo, 1);

	choice_args(fcinfo, 2, yes_no(), 2, &ga);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(choose_batch(fcinfo, &ga, instructions, true));
}
