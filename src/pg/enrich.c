/*
 * enrich.c — the procedures that fill a table's column in committed
 * batches: enrich(tbl, source, target, prompt_template, batch_size,
 * max_tokens, ..., choices) with the model's answer to a prompt made from
 * the source column, and embed_table(tbl, source, target, batch_size,
 * truncate) with the embedding of the source column.
 *
 * Each batch is one transaction: lock up to batch_size rows whose target
 * is NULL and source is not (FOR UPDATE SKIP LOCKED: a concurrent run
 * takes other rows), generate their answers as one call (so the engine
 * batches them), write them, commit.  A cancel, an error or a crash loses
 * only the uncommitted batch, whose rows are still NULL and are taken
 * again by the next run; a committed row is never taken again.  Rows are
 * named by (tableoid, ctid), which the row lock keeps stable until the
 * update, so the table needs no key and may be partitioned.  On a table
 * that Citus distributes, the coordinator runs the procedure on each
 * shard, on its node, instead; on a Citus reference table rows are named
 * by their key (citus.c).
 *
 * A trigger or rule can keep the target NULL (a BEFORE trigger setting
 * it, one returning NULL, a DO INSTEAD rule, a later update): the rows
 * would be taken again forever.  enrich stops with 55000 instead when a
 * batch's updates changed no row, or when a batch takes a row that an
 * earlier batch of this run wrote (its xmin is one of this run's
 * transactions).
 *
 * Written in C rather than PL/pgSQL so that the call can show its progress
 * in the requests view, and so that the checks raise their own SQLSTATEs.
 * embed_table differs only in what a row's value is (an embedding, real[],
 * which a pgvector column takes by assignment) and skips empty sources.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "deepseek_r1.h"

PG_FUNCTION_INFO_V1(dr1_enrich);
PG_FUNCTION_INFO_V1(dr1_embed_table);

#define DEFAULT_BATCH_SIZE 16
#define DEFAULT_EMBED_BATCH_SIZE 64
#define PLACEHOLDER "{source}"

typedef struct Batch Batch;

/* What one procedure fills its column with. */
typedef struct Filler
{
	const char *name;			/* "enrich", "embed_table" */
	const char *values_noun;	/* "answers", "embeddings" */
	Oid			value_type;		/* of the values written: TEXTOID, FLOAT4ARRAYOID */
	const char *template;		/* enrich: the prompt; NULL: the source as it is */
	bool		skip_empty;		/* leave rows with an empty source alone */
	/* the values of the batch's sources (or prompts) */
	void		(*values) (const struct Filler *f, Batch *b, const DR1Task *task);
	DR1GenerateArgs ga;			/* enrich */
	bool		truncate;		/* embed_table */
} Filler;

/* A run: what raise_stuck names, and its batches' transactions. */
typedef struct Run
{
	const char *name;
	const char *values_noun;
	const char *relname;
	const char *target;
	HTAB	   *xids;
} Run;

static void
raise_stuck(const Run *run, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s cannot fill column %s of %s: its %s do not stay written",
					run->name, quote_identifier(run->target), run->relname, run->values_noun),
			 errdetail("%s", detail),
			 errhint("A trigger or rule on the table keeps the column NULL. The batches committed before keep their %s.",
					 run->values_noun)));
}

/* The rows of one batch. */
struct Batch
{
	int			n;
	Datum	   *names;			/* text[], see DR1RowName */
	Datum	   *prompts;
	Datum	   *answers;
	bool	   *answer_nulls;
};

/* The first n arguments (tbl, source, target, prompt_template) have no default. */
static void
check_required(FunctionCallInfo fcinfo, int n)
{
	static const char *const names[] = {"tbl", "source", "target", "prompt_template"};

	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i])));
}

/* A user column of the table. */
static AttrNumber
column(const Filler *f, Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", name, get_rel_name(relid))));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("%s cannot use the system column \"%s\"", f->name, name)));
	return attnum;
}

/* The table, its columns and their types; returns the quoted table name. */
static char *
check_table(const Filler *f, Oid relid, const char *source, const char *target)
{
	char		relkind = get_rel_relkind(relid);
	AttrNumber	target_att;
	Oid			target_type;

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid))));
	target_att = column(f, relid, target);
	if (column(f, relid, source) == target_att)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source and target must be different columns")));
	target_type = get_atttype(relid, target_att);
	if (f->value_type == TEXTOID && TypeCategory(getBaseType(target_type)) != TYPCATEGORY_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" is of type %s, not a text type", target,
						format_type_be(target_type)),
				 errhint("enrich writes text: use a column of type text, varchar or char.")));
	if (f->value_type != TEXTOID &&
		!can_coerce_type(1, &f->value_type, &target_type, COERCION_ASSIGNMENT))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" is of type %s, which cannot take %s", target,
						format_type_be(target_type), format_type_be(f->value_type)),
				 errhint("%s writes real[]: use a column of type real[] or pgvector's vector.",
						 f->name)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* The template with every {source} replaced by value. */
static Datum
make_prompt(const char *template, const char *value)
{
	StringInfoData buf;
	const char *p = template;
	const char *hit;

	initStringInfo(&buf);
	while ((hit = strstr(p, PLACEHOLDER)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, value);
		p = hit + strlen(PLACEHOLDER);
	}
	appendStringInfoString(&buf, p);
	return PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * Lock the next batch and copy its rows out into cxt: their names and
 * the prompts made from the source text.  The source is detoasted here,
 * under this transaction's snapshot.
 */
static void
next_batch(const Run *run, const char *select_sql, const Filler *f, MemoryContext cxt,
		   Batch *b)
{
	MemoryContext old;

	if (SPI_execute(select_sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "deepseek_r1: enrich: SPI_execute failed: %s", select_sql);
	old = MemoryContextSwitchTo(cxt);	/* SPI left us in its own context */
	b->n = (int) SPI_processed;
	b->names = palloc(sizeof(Datum) * b->n);
	b->prompts = palloc(sizeof(Datum) * b->n);
	b->answers = palloc(sizeof(Datum) * b->n);
	b->answer_nulls = palloc(sizeof(bool) * b->n);
	for (int i = 0; i < b->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 3, &isnull));

		if (hash_search(run->xids, &xmin, HASH_FIND, NULL))
			raise_stuck(run, "A row that an earlier batch wrote is NULL again.");
		b->names[i] = datumCopy(SPI_getbinval(tup, desc, 1, &isnull), false, -1);
		b->prompts[i] = f->template ? make_prompt(f->template, SPI_getvalue(tup, desc, 2))
			: datumCopy(SPI_getbinval(tup, desc, 2, &isnull), false, -1);
	}
	SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(old);
}

/*
 * Fill column target of relid from column source in batches of
 * batch_size rows, each committed (see the top of the file).
 */
static void
fill_table(FunctionCallInfo fcinfo, const Filler *f, Oid relid, const char *source,
		   const char *target, int32 batch_size)
{
	char	   *relname = check_table(f, relid, source, target);
	const char *empty = f->skip_empty ? psprintf(" AND %s::text <> ''", quote_identifier(source)) : "";
	char	   *select_sql;
	char	   *count_sql;
	char	   *update_sql;
	DR1Task		task;
	DR1RowName	row;
	SPIPlanPtr	update;
	Run			run;
	HASHCTL		ctl = {.keysize = sizeof(TransactionId), .entrysize = sizeof(TransactionId)};
	MemoryContext batch_cxt;
	MemoryContext old;
	bool		isnull;

	if (batch_size < 1 || batch_size > DR1_MAX_PROMPTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and %d, not %d", DR1_MAX_PROMPTS, batch_size)));
	if (!fcinfo->context || !IsA(fcinfo->context, CallContext) ||
		((CallContext *) fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("%s must be called with CALL outside a transaction block", f->name),
				 errdetail("%s commits after each batch.", f->name)));
	if (dr1_citus_fill(fcinfo, f->name, relid, relname))
		return;
	dr1_check_available();
	dr1_citus_row_name(f->name, relid, relname, &row);

	count_sql = psprintf("SELECT count(*) FROM %s WHERE %s IS NULL AND %s IS NOT NULL%s",
						 relname, quote_identifier(target), quote_identifier(source), empty);
	select_sql = psprintf("SELECT %s, %s::text, %s FROM %s WHERE %s IS NULL AND %s IS NOT NULL%s "
						  "LIMIT %d FOR UPDATE SKIP LOCKED",
						  row.name, quote_identifier(source), row.xmin, relname,
						  quote_identifier(target), quote_identifier(source), empty, batch_size);
	update_sql = psprintf("UPDATE %s SET %s = $1 WHERE %s", relname, quote_identifier(target),
						  row.match);
	memset(&task, 0, sizeof task);
	snprintf(task.name, sizeof task.name, "%s %s.%s", f->name, relname, quote_identifier(target));

	/* non-atomic: SPI's memory (and ours, below it) survives the commits */
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "deepseek_r1: %s: SPI_connect failed", f->name);
	update = SPI_prepare(update_sql, 2, (Oid[]) {f->value_type, TEXTARRAYOID});
	if (!update || SPI_keepplan(update) != 0)
		elog(ERROR, "deepseek_r1: %s: cannot prepare %s", f->name, update_sql);
	if (SPI_execute(count_sql, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "deepseek_r1: %s: SPI_execute failed: %s", f->name, count_sql);
	task.total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "deepseek_r1 fill batch",
									  ALLOCSET_DEFAULT_SIZES);
	ctl.hcxt = CurrentMemoryContext;
	run.name = f->name;
	run.values_noun = f->values_noun;
	run.relname = relname;
	run.target = target;
	run.xids = hash_create("deepseek_r1 fill transactions", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	for (;;)
	{
		Batch		b;
		uint64		updated = 0;
		TransactionId xid;

		MemoryContextReset(batch_cxt);
		next_batch(&run, select_sql, f, batch_cxt, &b);
		if (b.n == 0)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		f->values(f, &b, &task);
		MemoryContextSwitchTo(old);
		for (int i = 0; i < b.n; i++)
		{
			/* a rule may turn the UPDATE into other commands, or none */
			int			rc = SPI_execute_plan(update, (Datum[]) {b.answers[i], b.names[i]}, NULL, false, 0);

			if (rc < 0)
				elog(ERROR, "deepseek_r1: %s: SPI_execute_plan failed: %s", f->name, update_sql);
			if (rc == SPI_OK_UPDATE)
				updated += SPI_processed;
		}
		if (updated == 0)
			raise_stuck(&run, "No update of the batch changed a row.");
		/* the xmin of the rows it wrote */
		xid = GetTopTransactionId();
		(void) hash_search(run.xids, &xid, HASH_ENTER, NULL);
		SPI_commit();
		task.done += b.n;
		task.total = Max(task.total, task.done);	/* rows may have been added */
		ereport(NOTICE,
				(errmsg("%s: " INT64_FORMAT " of " INT64_FORMAT " rows done", f->name, task.done,
						task.total)));
	}
	SPI_freeplan(update);
	SPI_finish();
}

static void
generate_values(const Filler *f, Batch *b, const DR1Task *task)
{
	dr1_generate_many(&f->ga, b->prompts, NULL, b->n, b->answers, b->answer_nulls, NULL, task);
	/* with a schema the answers are JSON, written as jsonb */
	for (int i = 0; f->ga.schema && i < b->n; i++)
		b->answers[i] = DirectFunctionCall1(jsonb_in,
											CStringGetDatum(TextDatumGetCString(b->answers[i])));
}

static void
embed_values(const Filler *f, Batch *b, const DR1Task *task)
{
	dr1_embed_many(b->prompts, NULL, b->n, f->truncate, b->answers, b->answer_nulls, NULL, task);
}

/*
 * enrich(tbl regclass, source text, target text, prompt_template text,
 *        batch_size int, max_tokens, temperature, top_p, top_k, seed, stop,
 *        system, raw, include_reasoning, choices, sparse, sparse_budget, schema)
 */
Datum
dr1_enrich(PG_FUNCTION_ARGS)
{
	Filler		f = {.name = "enrich", .values_noun = "answers", .value_type = TEXTOID,
	.values = generate_values};

	check_required(fcinfo, 4);
	f.template = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!strstr(f.template, PLACEHOLDER))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prompt_template must contain the placeholder %s", PLACEHOLDER),
				 errdetail("Each row's prompt is the template with %s replaced by its source value.",
						   PLACEHOLDER)));
	dr1_generate_args(fcinfo, 5, &f.ga);
	if (f.ga.schema)
		f.value_type = JSONBOID;
	fill_table(fcinfo, &f, PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
			   text_to_cstring(PG_GETARG_TEXT_PP(2)),
			   PG_ARGISNULL(4) ? DEFAULT_BATCH_SIZE : PG_GETARG_INT32(4));
	PG_RETURN_VOID();
}

/* embed_table(tbl regclass, source text, target text, batch_size int, truncate boolean) */
Datum
dr1_embed_table(PG_FUNCTION_ARGS)
{
	Filler		f = {.name = "embed_table", .values_noun = "embeddings",
		.value_type = FLOAT4ARRAYOID, .skip_empty = true, .values = embed_values};

	check_required(fcinfo, 3);
	f.truncate = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	fill_table(fcinfo, &f, PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
			   text_to_cstring(PG_GETARG_TEXT_PP(2)),
			   PG_ARGISNULL(3) ? DEFAULT_EMBED_BATCH_SIZE : PG_GETARG_INT32(3));
	PG_RETURN_VOID();
}
