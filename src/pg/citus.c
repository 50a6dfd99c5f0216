/*
 * citus.c — enrich and embed_table on tables that Citus distributes, and
 * citus_progress(tbl, target), their progress per node.
 *
 * A distributed table's rows live in shards, plain tables on the nodes;
 * the coordinator's table is an empty shell.  The batch loop of enrich.c
 * cannot run on it: Citus refuses FOR UPDATE in a multi-shard query and a
 * VOLATILE function in a distributed UPDATE.  So the coordinator runs the
 * same procedure on every shard, on the node that holds it:
 *   CALL deepseek_r1.enrich('public.docs_102008', <the same arguments>)
 * all shards at once through Citus's master_run_on_worker, one connection
 * each and outside a transaction block, so that each call commits its own
 * batches.  Each node's engine serves the rows of its own shards, and
 * batches its shards' concurrent calls together.  A shard's call is the
 * one-node loop on a local table, so it resumes the same way: a rerun
 * takes only the rows still NULL, on every shard.  A failed shard does not
 * stop the others; the coordinator then reports every failed shard, named
 * with its node.  Cancelling the coordinator cancels the shards' calls
 * (Citus sends a cancel on each busy connection as the transaction aborts).
 *
 * A reference table has a copy on every node, and Citus applies each
 * change to every copy; a copy's ctid means nothing on the others.  So on
 * a reference table the loop runs on the coordinator as on one node, but
 * names its rows by their key (primary key or replica identity) rather
 * than by (tableoid, ctid).
 *
 * Citus is found at run time, in its catalog (pg_dist_partition): the
 * module neither links nor includes Citus, and runs without it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "deepseek_r1.h"

PG_FUNCTION_INFO_V1(dr1_citus_progress);

/* pg_dist_partition.partmethod of reference tables and Citus's local tables */
#define CITUS_NO_SHARD_KEY 'n'
/* pg_dist_partition.repmodel of reference tables */
#define CITUS_REPLICATED_TO_ALL 't'

/*
 * Whether Citus knows relid; if so, its partition method and replication
 * model.  Runs its own SPI connection.
 */
static bool
citus_table(Oid relid, char *partmethod, char *repmodel)
{
	bool		found;
	bool		isnull;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "deepseek_r1: SPI_connect failed");
	if (SPI_execute_with_args("SELECT partmethod, repmodel FROM pg_catalog.pg_dist_partition "
							  "WHERE logicalrelid = $1",
							  1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(relid)}, NULL,
							  true, 1) != SPI_OK_SELECT)
		elog(ERROR, "deepseek_r1: cannot read pg_dist_partition");
	found = SPI_processed == 1;
	if (found)
	{
		*partmethod = DatumGetChar(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*repmodel = DatumGetChar(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
	return found;
}

static bool
is_distributed(Oid relid)
{
	char		partmethod;
	char		repmodel;

	return citus_table(relid, &partmethod, &repmodel) && partmethod != CITUS_NO_SHARD_KEY;
}

/*
 * The procedure's call with the same arguments on another table: the text
 * after the table's literal, ", 'body'::text, ... )".
 */
static char *
call_arguments(FunctionCallInfo fcinfo)
{
	Oid		   *types;
	int			nargs;
	StringInfoData buf;

	get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
	initStringInfo(&buf);
	for (int i = 1; i < nargs; i++)
	{
		Oid			out;
		bool		varlena;

		if (PG_ARGISNULL(i))
			appendStringInfoString(&buf, ", NULL");
		else
		{
			getTypeOutputInfo(types[i], &out, &varlena);
			appendStringInfo(&buf, ", %s",
							 quote_literal_cstr(OidOutputFunctionCall(out, PG_GETARG_DATUM(i))));
		}
		appendStringInfo(&buf, "::%s", format_type_be_qualified(types[i]));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

static Datum
text_array(char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
int4_array(const int32 *items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

/* The shards of relid with their one placement, ordered by node. */
typedef struct Placements
{
	int			n;
	int64	   *shardids;
	char	  **shards;			/* qualified names */
	char	  **nodes;
	int32	   *ports;
} Placements;

static void
read_placements(const char *name, Oid relid, const char *relname, Placements *p)
{
	bool		isnull;

	if (SPI_execute_with_args("SELECT s.shardid, pg_catalog.shard_name(s.logicalrelid, s.shardid, false), "
							  "p.nodename, p.nodeport, count(*) OVER (PARTITION BY s.shardid) "
							  "FROM pg_catalog.pg_dist_shard s "
							  "JOIN pg_catalog.pg_dist_shard_placement p USING (shardid) "
							  "WHERE s.logicalrelid = $1 AND p.shardstate = 1 "
							  "ORDER BY p.nodename, p.nodeport, s.shardid",
							  1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(relid)}, NULL,
							  true, 0) != SPI_OK_SELECT)
		elog(ERROR, "deepseek_r1: %s: cannot read the placements of %s", name, relname);
	p->n = (int) SPI_processed;
	p->shardids = palloc(sizeof(int64) * p->n);
	p->shards = palloc(sizeof(char *) * p->n);
	p->nodes = palloc(sizeof(char *) * p->n);
	p->ports = palloc(sizeof(int32) * p->n);
	for (int i = 0; i < p->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		p->shardids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		p->shards[i] = SPI_getvalue(tup, desc, 2);
		p->nodes[i] = SPI_getvalue(tup, desc, 3);
		p->ports[i] = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		if (DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull)) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s cannot fill %s: its shards are replicated", name, relname),
					 errdetail("Shard " INT64_FORMAT " has " INT64_FORMAT " placements; each would generate answers of its own.",
							   p->shardids[i], DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull))),
					 errhint("Distribute the table with citus.shard_replication_factor = 1.")));
	}
}

/* A failed shard's message, without libpq's "ERROR:  ". */
static const char *
remote_message(const char *result)
{
	return strncmp(result, "ERROR:  ", 8) == 0 ? result + 8 : result;
}

/*
 * Run the procedure on every shard of relid, on the shard's node, all at
 * once; report the failed shards, or the shards done per node.
 */
static void
fill_shards(FunctionCallInfo fcinfo, const char *name, Oid relid, const char *relname)
{
	Oid			fn = fcinfo->flinfo->fn_oid;
	char	   *call = psprintf("CALL %s(",
								quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)),
														   get_func_name(fn)));
	char	   *args = call_arguments(fcinfo);
	Placements	p;
	char	  **commands;
	StringInfoData failed;
	int			n_failed = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "deepseek_r1: %s: SPI_connect failed", name);
	read_placements(name, relid, relname, &p);
	commands = palloc(sizeof(char *) * Max(p.n, 1));
	for (int i = 0; i < p.n; i++)
		commands[i] = psprintf("%s%s%s", call, quote_literal_cstr(p.shards[i]), args);
	if (p.n > 0 &&
		SPI_execute_with_args("SELECT success, result FROM pg_catalog.master_run_on_worker($1, $2, $3, true) "
							  "WITH ORDINALITY ORDER BY ordinality",
							  3, (Oid[]) {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID},
							  (Datum[]) {text_array(p.nodes, p.n), int4_array(p.ports, p.n),
							  text_array(commands, p.n)},
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "deepseek_r1: %s: master_run_on_worker failed", name);
	initStringInfo(&failed);
	for (int i = 0; i < (int) SPI_processed; i++)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)))
			continue;
		appendStringInfo(&failed, "%sshard " INT64_FORMAT " (%s) on %s:%d: %s", n_failed ? "\n" : "",
						 p.shardids[i], p.shards[i], p.nodes[i], p.ports[i],
						 remote_message(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2)));
		n_failed++;
	}
	if (n_failed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s failed on %d of %d shards of %s", name, n_failed, p.n, relname),
				 errdetail("%s", failed.data),
				 errhint("The batches committed on every shard keep their values; CALL %s again to fill the rest.",
						 name)));
	for (int i = 0, first = 0; i < p.n; i++)
		if (i + 1 == p.n || strcmp(p.nodes[i + 1], p.nodes[i]) != 0 || p.ports[i + 1] != p.ports[i])
		{
			ereport(NOTICE,
					(errmsg("%s: %d shards of %s done on %s:%d", name, i + 1 - first, relname,
							p.nodes[i], p.ports[i])));
			first = i + 1;
		}
	SPI_finish();
}

/*
 * fill_table's hook: when Citus distributes relid, fill it shard by shard
 * on the shards' nodes and return true; otherwise false.
 */
bool
dr1_citus_fill(FunctionCallInfo fcinfo, const char *name, Oid relid, const char *relname)
{
	if (!is_distributed(relid))
		return false;
	fill_shards(fcinfo, name, relid, relname);
	return true;
}

/*
 * Name rows by the key of relid's replica identity index (its primary key
 * unless set otherwise): the name is the text of the key's columns.
 */
static void
key_row_name(const char *name, Oid relid, const char *relname, DR1RowName *row)
{
	Relation	rel = RelationIdGetRelation(relid);
	Oid			index = RelationGetReplicaIndex(rel);
	HeapTuple	tup;
	Form_pg_index form;
	StringInfoData names;
	StringInfoData match;

	RelationClose(rel);
	if (!OidIsValid(index))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot fill reference table %s: it has no primary key", name, relname),
				 errdetail("Citus applies each change to every node's copy of the table, so rows are named by their key."),
				 errhint("Add a primary key, or set REPLICA IDENTITY USING INDEX.")));
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "deepseek_r1: cache lookup failed for index %u", index);
	form = (Form_pg_index) GETSTRUCT(tup);
	initStringInfo(&names);
	initStringInfo(&match);
	for (int i = 0; i < form->indnkeyatts; i++)
	{
		AttrNumber	att = form->indkey.values[i];
		const char *col = quote_identifier(get_attname(relid, att, false));

		appendStringInfo(&names, "%s%s::text", i ? ", " : "", col);
		appendStringInfo(&match, "%s%s = ($2)[%d]::%s", i ? " AND " : "", col, i + 1,
						 format_type_be_qualified(get_atttype(relid, att)));
	}
	ReleaseSysCache(tup);
	row->name = psprintf("ARRAY[%s]", names.data);
	row->match = match.data;
}

/*
 * Whether this node reads relid's reference shard locally, where its rows'
 * xmin are this node's transactions.
 */
static bool
reads_locally(Oid relid)
{
	const char *local = GetConfigOption("citus.enable_local_execution", true, false);
	bool		yes;

	if (local && strcmp(local, "on") != 0)
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "deepseek_r1: SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_dist_shard s "
							  "JOIN pg_catalog.pg_dist_placement p USING (shardid) "
							  "WHERE s.logicalrelid = $1 AND p.groupid = "
							  "(SELECT groupid FROM pg_catalog.pg_dist_local_group)",
							  1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(relid)}, NULL,
							  true, 1) != SPI_OK_SELECT)
		elog(ERROR, "deepseek_r1: cannot read pg_dist_placement");
	yes = SPI_processed == 1;
	SPI_finish();
	return yes;
}

/*
 * How fill_table names a row between its SELECT and its UPDATE: by
 * (tableoid, ctid), or on a reference table by its key (see the top).
 */
void
dr1_citus_row_name(const char *name, Oid relid, const char *relname, DR1RowName *row)
{
	char		partmethod;
	char		repmodel;

	row->name = "ARRAY[tableoid::text, ctid::text]";
	row->match = "tableoid = ($2)[1]::pg_catalog.oid AND ctid = ($2)[2]::pg_catalog.tid";
	row->xmin = "xmin";
	if (!citus_table(relid, &partmethod, &repmodel) || repmodel != CITUS_REPLICATED_TO_ALL)
		return;
	key_row_name(name, relid, relname, row);
	/* the stuck check compares xmin with this node's transactions */
	if (!reads_locally(relid))
		row->xmin = "'0'::pg_catalog.xid";
}

/*
 * citus_progress(tbl regclass, target text): per node, the shards of a
 * Citus table, their rows and how many have the target set, counted on
 * the nodes (committed rows only).
 */
Datum
dr1_citus_progress(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char		partmethod;
	char		repmodel;
	StringInfoData count;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (!citus_table(relid, &partmethod, &repmodel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a Citus table", get_rel_name(relid)),
				 errhint("The requests view shows the progress of enrich on a table of this node.")));
	if (get_attnum(relid, target) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", target, get_rel_name(relid))));
	/* run_command_on_placements puts the shard's name for %s */
	initStringInfo(&count);
	appendStringInfoString(&count, "SELECT count(");
	for (const char *c = quote_identifier(target); *c; c++)
	{
		if (*c == '%')
			appendStringInfoChar(&count, '%');
		appendStringInfoChar(&count, *c);
	}
	appendStringInfoString(&count, ") || ' ' || count(*) FROM %s");

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "deepseek_r1: SPI_connect failed");
	/* the failed shards first */
	if (SPI_execute_with_args("WITH r AS MATERIALIZED (SELECT * FROM pg_catalog.run_command_on_placements($1, $2)) "
							  "SELECT nodename, nodeport, shardid, result, NULL::int, NULL::bigint, NULL::bigint "
							  "FROM r WHERE NOT success "
							  "UNION ALL SELECT nodename, nodeport, NULL, NULL, count(*)::int, "
							  "sum(split_part(result, ' ', 2)::bigint)::bigint, "
							  "sum(split_part(result, ' ', 1)::bigint)::bigint "
							  "FROM r WHERE success GROUP BY 1, 2 "
							  "ORDER BY 3 NULLS LAST, 1, 2",
							  2, (Oid[]) {REGCLASSOID, TEXTOID},
							  (Datum[]) {ObjectIdGetDatum(relid), CStringGetTextDatum(count.data)},
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "deepseek_r1: citus_progress: run_command_on_placements failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		v[5];
		bool		nulls[5] = {0};
		bool		no_shard;

		(void) SPI_getbinval(tup, desc, 3, &no_shard);
		if (!no_shard)			/* a failed shard's row */
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("citus_progress cannot count shard %s of %s on %s:%s: %s",
							SPI_getvalue(tup, desc, 3), get_rel_name(relid), SPI_getvalue(tup, desc, 1),
							SPI_getvalue(tup, desc, 2), remote_message(SPI_getvalue(tup, desc, 4)))));
		v[0] = CStringGetTextDatum(SPI_getvalue(tup, desc, 1));
		v[1] = SPI_getbinval(tup, desc, 2, &nulls[1]);
		for (int c = 2; c < 5; c++)
			v[c] = SPI_getbinval(tup, desc, c + 3, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
