/*
 * enrich.c — the procedure enrich(tbl, source, target, prompt_template,
 * batch_size, max_tokens, ..., choices): fills the NULL target column of
 * a table with the model's answer to a prompt made from the source column.
 *
 * Each batch is one transaction: lock up to batch_size rows whose target
 * is NULL and source is not (FOR UPDATE SKIP LOCKED: a concurrent run
 * takes other rows), generate their answers as one call (so the engine
 * batches them), write them, commit.  A cancel, an error or a crash loses
 * only the uncommitted batch, whose rows are still NULL and are taken
 * again by the next run; a committed row is never taken again.  Rows are
 * named by (tableoid, ctid), which the row lock keeps stable until the
 * update, so the table needs no key and may be partitioned.
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "deepseek_r1.h"

PG_FUNCTION_INFO_V1(dr1_enrich);

#define DEFAULT_BATCH_SIZE 16
#define PLACEHOLDER "{source}"

/* A run: what raise_stuck names, and its batches' transactions. */
typedef struct Run
{
	const char *relname;
	const char *target;
	HTAB	   *xids;
} Run;

static void
raise_stuck(const Run *run, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("enrich cannot fill column %s of %s: its answers do not stay written",
					quote_identifier(run->target), run->relname),
			 errdetail("%s", detail),
			 errhint("A trigger or rule on the table keeps the column NULL. The batches committed before keep their answers.")));
}

/* The rows of one batch. */
typedef struct Batch
{
	int			n;
	Datum	   *tableoids;
	Datum	   *ctids;
	Datum	   *prompts;
	Datum	   *answers;
	bool	   *answer_nulls;
} Batch;

/* tbl, source, target and prompt_template have no default. */
static void
check_required(FunctionCallInfo fcinfo)
{
	static const char *const names[] = {"tbl", "source", "target", "prompt_template"};

	for (int i = 0; i < (int) lengthof(names); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names[i])));
}

/* A user column of the table. */
static AttrNumber
column(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", name, get_rel_name(relid))));
	if (attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("enrich cannot use the system column \"%s\"", name)));
	return attnum;
}

/* The table, its columns and their types; returns the quoted table name. */
static char *
check_table(Oid relid, const char *source, const char *target)
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
	target_att = column(relid, target);
	if (column(relid, source) == target_att)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source and target must be different columns")));
	target_type = get_atttype(relid, target_att);
	if (TypeCategory(getBaseType(target_type)) != TYPCATEGORY_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("target column \"%s\" is of type %s, not a text type", target,
						format_type_be(target_type)),
				 errhint("enrich writes text: use a column of type text, varchar or char.")));
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
 * Lock the next batch and copy its rows out into cxt: tableoid, ctid, and
 * the prompt made from the source text.  The source is detoasted here,
 * under this transaction's snapshot.
 */
static void
next_batch(const Run *run, const char *select_sql, const char *template, MemoryContext cxt,
		   Batch *b)
{
	MemoryContext old;

	if (SPI_execute(select_sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "deepseek_r1: enrich: SPI_execute failed: %s", select_sql);
	old = MemoryContextSwitchTo(cxt);	/* SPI left us in its own context */
	b->n = (int) SPI_processed;
	b->tableoids = palloc(sizeof(Datum) * b->n);
	b->ctids = palloc(sizeof(Datum) * b->n);
	b->prompts = palloc(sizeof(Datum) * b->n);
	b->answers = palloc(sizeof(Datum) * b->n);
	b->answer_nulls = palloc(sizeof(bool) * b->n);
	for (int i = 0; i < b->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 4, &isnull));

		if (hash_search(run->xids, &xmin, HASH_FIND, NULL))
			raise_stuck(run, "A row that an earlier batch wrote is NULL again.");
		b->tableoids[i] = SPI_getbinval(tup, desc, 1, &isnull);
		b->ctids[i] = datumCopy(SPI_getbinval(tup, desc, 2, &isnull), false, sizeof(ItemPointerData));
		b->prompts[i] = make_prompt(template, SPI_getvalue(tup, desc, 3));
	}
	SPI_freetuptable(SPI_tuptable);
	MemoryContextSwitchTo(old);
}

/*
 * enrich(tbl regclass, source text, target text, prompt_template text,
 *        batch_size int, max_tokens, temperature, top_p, top_k, seed, stop,
 *        system, raw, include_reasoning, choices)
 */
Datum
dr1_enrich(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *source;
	char	   *target;
	char	   *template;
	int32		batch_size;
	char	   *relname;
	char	   *select_sql;
	char	   *count_sql;
	char	   *update_sql;
	DR1GenerateArgs ga;
	DR1Task		task;
	SPIPlanPtr	update;
	Run			run;
	HASHCTL		ctl = {.keysize = sizeof(TransactionId), .entrysize = sizeof(TransactionId)};
	MemoryContext batch_cxt;
	MemoryContext old;
	bool		isnull;

	check_required(fcinfo);
	relid = PG_GETARG_OID(0);
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	target = text_to_cstring(PG_GETARG_TEXT_PP(2));
	template = text_to_cstring(PG_GETARG_TEXT_PP(3));
	relname = check_table(relid, source, target);
	batch_size = PG_ARGISNULL(4) ? DEFAULT_BATCH_SIZE : PG_GETARG_INT32(4);
	if (batch_size < 1 || batch_size > DR1_MAX_PROMPTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and %d, not %d", DR1_MAX_PROMPTS, batch_size)));
	if (!strstr(template, PLACEHOLDER))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prompt_template must contain the placeholder %s", PLACEHOLDER),
				 errdetail("Each row's prompt is the template with %s replaced by its source value.",
						   PLACEHOLDER)));
	dr1_generate_args(fcinfo, 5, &ga);
	if (!fcinfo->context || !IsA(fcinfo->context, CallContext) ||
		((CallContext *) fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("enrich must be called with CALL outside a transaction block"),
				 errdetail("enrich commits after each batch.")));
	dr1_check_available();

	count_sql = psprintf("SELECT count(*) FROM %s WHERE %s IS NULL AND %s IS NOT NULL",
						 relname, quote_identifier(target), quote_identifier(source));
	select_sql = psprintf("SELECT tableoid, ctid, %s::text, xmin FROM %s WHERE %s IS NULL AND %s IS NOT NULL "
						  "LIMIT %d FOR UPDATE SKIP LOCKED",
						  quote_identifier(source), relname, quote_identifier(target),
						  quote_identifier(source), batch_size);
	update_sql = psprintf("UPDATE %s SET %s = $1 WHERE tableoid = $2 AND ctid = $3",
						  relname, quote_identifier(target));
	memset(&task, 0, sizeof task);
	snprintf(task.name, sizeof task.name, "enrich %s.%s", relname, quote_identifier(target));

	/* non-atomic: SPI's memory (and ours, below it) survives the commits */
	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "deepseek_r1: enrich: SPI_connect failed");
	update = SPI_prepare(update_sql, 3, (Oid[]) {TEXTOID, OIDOID, TIDOID});
	if (!update || SPI_keepplan(update) != 0)
		elog(ERROR, "deepseek_r1: enrich: cannot prepare %s", update_sql);
	if (SPI_execute(count_sql, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "deepseek_r1: enrich: SPI_execute failed: %s", count_sql);
	task.total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "deepseek_r1 enrich batch",
									  ALLOCSET_DEFAULT_SIZES);
	ctl.hcxt = CurrentMemoryContext;
	run.relname = relname;
	run.target = target;
	run.xids = hash_create("deepseek_r1 enrich transactions", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	for (;;)
	{
		Batch		b;
		uint64		updated = 0;
		TransactionId xid;

		MemoryContextReset(batch_cxt);
		next_batch(&run, select_sql, template, batch_cxt, &b);
		if (b.n == 0)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		dr1_generate_many(&ga, b.prompts, NULL, b.n, b.answers, b.answer_nulls, NULL, &task);
		MemoryContextSwitchTo(old);
		for (int i = 0; i < b.n; i++)
		{
			/* a rule may turn the UPDATE into other commands, or none */
			int			rc = SPI_execute_plan(update, (Datum[]) {b.answers[i], b.tableoids[i], b.ctids[i]},
											  NULL, false, 0);

			if (rc < 0)
				elog(ERROR, "deepseek_r1: enrich: SPI_execute_plan failed: %s", update_sql);
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
				(errmsg("enrich: " INT64_FORMAT " of " INT64_FORMAT " rows done", task.done, task.total)));
	}
	SPI_freeplan(update);
	SPI_finish();
	PG_RETURN_VOID();
}
