/*
 * embed.c — the SQL functions of the embedding model: embed, embed_batch
 * and chunk.  Their requests go to the embedding model's engine process
 * (deepseek_r1.embedding_model), never to the generation model's, so an
 * embed does not wait behind a long generation.
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "deepseek_r1.h"

PG_FUNCTION_INFO_V1(dr1_embed);
PG_FUNCTION_INFO_V1(dr1_embed_batch);
PG_FUNCTION_INFO_V1(dr1_chunk);

#define DEFAULT_CHUNK_TOKENS 256
#define DEFAULT_CHUNK_OVERLAP 32

/* A request of one text: EMBED or CHUNK (h says which). */
static void
text_payload(const struct dr1_submit *h, text *t, StringInfo buf)
{
	initStringInfo(buf);
	appendBinaryStringInfo(buf, (const char *) h, sizeof *h);
	dr1_put_str(buf, "user", 4, false);
	dr1_put_str(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), true);
}

/* Without detoasting it: the size of the text it will be. */
static void
check_not_empty(Datum t, const char *name, int label)
{
	if (toast_raw_datum_size(t) <= VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", name),
				 label >= 0 ? errcontext("inputs[%d]", label) : 0));
}

static Datum
floats_to_array(const float4 *v, uint32 n)
{
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));

	for (uint32 i = 0; i < n; i++)
		elems[i] = Float4GetDatum(v[i]);
	return PointerGetDatum(construct_array(elems, (int) n, FLOAT4OID, sizeof(float4), true,
										   TYPALIGN_INT));
}

/*
 * The embeddings of texts[0..n) as real[], NULL for NULL; calls of at most
 * DR1_MAX_PROMPTS inputs, each batched by the engine.  labels (the
 * positions in the caller's array, for error context) and task as
 * dr1_run's.  An empty text is an error.
 */
void
dr1_embed_many(const Datum *texts, const bool *nulls, int n, bool truncate, Datum *out,
			   bool *out_nulls, const int *labels, const DR1Task *task)
{
	struct dr1_submit h = {.kind = DR1_REQ_EMBED, .n_messages = 1,
	.flags = truncate ? DR1_FLAG_TRUNCATE : 0};
	StringInfoData *submits = palloc(sizeof(StringInfoData) * Min(n, DR1_MAX_PROMPTS));
	int		   *which = palloc(sizeof(int) * Min(n, DR1_MAX_PROMPTS));
	int		   *sent_labels = palloc(sizeof(int) * Min(n, DR1_MAX_PROMPTS));
	DR1Result  *res = palloc(sizeof(DR1Result) * Min(n, DR1_MAX_PROMPTS));

	for (int i = 0; i < n; i++)
		if (!nulls || !nulls[i])
			check_not_empty(texts[i], "an input to embed",
							labels ? labels[i] : -1);
	for (int first = 0; first < n;)
	{
		int			m = 0;

		for (; first < n && m < DR1_MAX_PROMPTS; first++)
		{
			out_nulls[first] = nulls && nulls[first];
			if (out_nulls[first])
				continue;
			text_payload(&h, DatumGetTextPP(texts[first]), &submits[m]);
			sent_labels[m] = labels ? labels[first] : first + 1;
			which[m++] = first;
		}
		dr1_run(submits, m, res, task, labels ? sent_labels : NULL);
		for (int k = 0; k < m; k++)
		{
			out[which[k]] = floats_to_array(res[k].floats, res[k].done.n_floats);
			pfree(submits[k].data);
		}
	}
}

/* embed(input text, truncate boolean) -> real[] */
Datum
dr1_embed(PG_FUNCTION_ARGS)
{
	Datum		input;
	Datum		out;
	bool		isnull;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	input = PG_GETARG_DATUM(0);
	dr1_embed_many(&input, NULL, 1, !PG_ARGISNULL(1) && PG_GETARG_BOOL(1), &out, &isnull, NULL,
				   NULL);
	PG_RETURN_DATUM(out);
}

/* embed_batch(inputs text[], truncate boolean) -> SETOF real[], one row
 * per input in order (NULL for NULL): use WITH ORDINALITY to number them. */
Datum
dr1_embed_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *a;
	Datum	   *inputs;
	bool	   *nulls;
	Datum	   *out;
	bool	   *out_nulls;
	int		   *labels;
	int			n;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	a = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inputs must be a one-dimensional array, not one of %d dimensions",
						ARR_NDIM(a))));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &inputs, &nulls, &n);
	out = palloc(sizeof(Datum) * (n + 1));
	out_nulls = palloc(sizeof(bool) * (n + 1));
	labels = palloc(sizeof(int) * (n + 1));
	for (int i = 0; i < n; i++)
		labels[i] = ARR_NDIM(a) ? ARR_LBOUND(a)[0] + i : i + 1;
	dr1_embed_many(inputs, nulls, n, !PG_ARGISNULL(1) && PG_GETARG_BOOL(1), out, out_nulls,
				   labels, NULL);
	for (int i = 0; i < n; i++)
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &out[i], &out_nulls[i]);
	return (Datum) 0;
}

/*
 * chunk(document text, max_tokens integer, overlap integer) -> SETOF (ord,
 * text): the document in pieces of whole words whose embedding input has
 * at most max_tokens tokens of the embedding model, each after the first
 * starting with overlap tokens' worth of the words ending the one before.
 */
Datum
dr1_chunk(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	struct dr1_submit h = {.kind = DR1_REQ_CHUNK, .n_messages = 1};
	StringInfoData buf;
	DR1Result	res;
	text	   *doc;
	char	   *utf8;
	int32		len;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	h.max_tokens = PG_ARGISNULL(1) ? DEFAULT_CHUNK_TOKENS : PG_GETARG_INT32(1);
	h.chunk_overlap = PG_ARGISNULL(2) ? DEFAULT_CHUNK_OVERLAP : PG_GETARG_INT32(2);
	if (h.max_tokens < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be at least 1, not %d", h.max_tokens)));
	if (h.chunk_overlap < 0 || h.chunk_overlap >= h.max_tokens)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("overlap must be at least 0 and less than max_tokens (%d), not %d",
						h.max_tokens, h.chunk_overlap)));
	doc = PG_GETARG_TEXT_PP(0);
	text_payload(&h, doc, &buf);
	dr1_run(&buf, 1, &res, NULL, NULL);
	/* the offsets are into the UTF-8 the engine got */
	utf8 = pg_server_to_any(VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc), PG_UTF8);
	len = utf8 == VARDATA_ANY(doc) ? (int32) VARSIZE_ANY_EXHDR(doc) : (int32) strlen(utf8);
	for (uint32 k = 0; k + 1 < res.done.n_ids; k += 2)
	{
		int32		start = res.ids[k];
		int32		end = res.ids[k + 1];
		Datum		v[2];
		bool		nulls[2] = {false, false};

		if (start < 0 || end < start || end > len)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("deepseek_r1: the engine returned a chunk outside the document")));
		v[0] = Int32GetDatum((int32) (k / 2 + 1));
		v[1] = CStringGetTextDatum(dr1_text_from_engine(utf8 + start, end - start));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}
