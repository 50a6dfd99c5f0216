/*
 * status.c — what the worker and the engine are doing: model_info(),
 * status() and the rows of the requests view.
 *
 * Who sees what follows pg_stat_activity: a call is shown to the roles
 * that have the privileges of the role that made it, and to members of
 * pg_read_all_stats (superusers have both); the model path, like SHOW
 * deepseek_r1.model, to members of pg_read_all_settings, and to those of
 * pg_read_all_stats as well.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "deepseek_r1.h"

PG_FUNCTION_INFO_V1(dr1_model_info);
PG_FUNCTION_INFO_V1(dr1_status);
PG_FUNCTION_INFO_V1(dr1_requests);

/*
 * The generation model's description, with the embedding model's under
 * "embedding" (null while none is loaded).  Both are JSON objects from the
 * engines; jsonb_in checks them.
 */
Datum
dr1_model_info(PG_FUNCTION_ARGS)
{
	DR1Model	m[DR1_N_ROLES];
	StringInfoData json;
	const DR1Model *gen = &m[DR1_ROLE_GENERATE];
	const DR1Model *emb = &m[DR1_ROLE_EMBED];
	size_t		len;

	dr1_check_available();
	SpinLockAcquire(&dr1_shared->mutex);
	memcpy(m, dr1_shared->models, sizeof m);
	SpinLockRelease(&dr1_shared->mutex);
	len = strlen(gen->model_info);
	if (gen->state != DR1_STATE_READY || len == 0 || gen->model_info[len - 1] != '}')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the deepseek_r1 model is not loaded (state %s)", dr1_state_name(gen->state)),
				 gen->reason[0] ? errdetail("%s", dr1_text_from_engine(gen->reason, strlen(gen->reason))) : 0));
	initStringInfo(&json);
	appendBinaryStringInfo(&json, gen->model_info, (int) len - 1);
	appendStringInfo(&json, ",\"embedding\":%s}",
					 emb->state == DR1_STATE_READY && emb->model_info[0] ? emb->model_info : "null");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(dr1_text_from_engine(json.data, json.len))));
}

static bool
sees_all_stats(void)
{
	return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

#define STATUS_COLS 26

Datum
dr1_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		v[STATUS_COLS];
	bool		nulls[STATUS_COLS] = {0};
	DR1Shared	s;
	const DR1Model *gen = &s.models[DR1_ROLE_GENERATE];
	const DR1Model *emb = &s.models[DR1_ROLE_EMBED];
	bool		sees_paths = sees_all_stats() ||
		has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_SETTINGS);
	int			in_flight = 0;
	int			k = 0;

	dr1_check_available();
	InitMaterializedSRF(fcinfo, 0);
	SpinLockAcquire(&dr1_shared->mutex);
	memcpy(&s, dr1_shared, offsetof(DR1Shared, slots));
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (dr1_shared->slots[i].state == DR1_SLOT_NEW || dr1_shared->slots[i].state == DR1_SLOT_ACTIVE)
			in_flight++;
	SpinLockRelease(&dr1_shared->mutex);

	v[k++] = CStringGetTextDatum(dr1_state_name(gen->state));
	nulls[k] = !gen->reason[0];
	v[k++] = CStringGetTextDatum(dr1_text_from_engine(gen->reason, strlen(gen->reason)));
	nulls[k] = !gen->model_path[0] || !sees_paths;
	v[k++] = CStringGetTextDatum(gen->model_path);
	nulls[k] = !s.worker_pid;
	v[k++] = Int32GetDatum(s.worker_pid);
	nulls[k] = !gen->engine_pid;
	v[k++] = Int32GetDatum(gen->engine_pid);
	nulls[k] = gen->state != DR1_STATE_READY;
	v[k++] = TimestampTzGetDatum(gen->ready_since);
	v[k++] = Int64GetDatum(s.requests);
	v[k++] = Int64GetDatum(s.requests_failed);
	v[k++] = Int64GetDatum(s.requests_canceled);
	v[k++] = Int32GetDatum(in_flight);
	v[k++] = Int32GetDatum(gen->engine_in_flight);
	v[k++] = Int64GetDatum(s.prompt_tokens);
	v[k++] = Int64GetDatum(s.generated_tokens);
	v[k++] = Int64GetDatum(gen->engine_starts + emb->engine_starts);
	v[k++] = Float8GetDatum(s.last_engine_seconds * 1000.0);
	v[k++] = Float8GetDatum(s.engine_seconds * 1000.0);
	v[k++] = Int64GetDatum(s.prefill_tokens);
	v[k++] = Int64GetDatum(s.preemptions);
	/* the KV pool is the running engine's */
	nulls[k] = nulls[k + 1] = gen->state != DR1_STATE_READY;
	v[k++] = Int32GetDatum(gen->kv_blocks_used);
	v[k++] = Int32GetDatum(gen->kv_blocks_total);
	v[k++] = CStringGetTextDatum(dr1_state_name(emb->state));
	nulls[k] = !emb->reason[0];
	v[k++] = CStringGetTextDatum(dr1_text_from_engine(emb->reason, strlen(emb->reason)));
	nulls[k] = !emb->model_path[0] || !sees_paths;
	v[k++] = CStringGetTextDatum(emb->model_path);
	nulls[k] = !emb->engine_pid;
	v[k++] = Int32GetDatum(emb->engine_pid);
	nulls[k] = nulls[k + 1] = gen->state != DR1_STATE_READY;
	v[k++] = CStringGetTextDatum(dr1_option_name(dr1_kv_cache_type_options, gen->kv_cache_type));
	v[k++] = Int64GetDatum((int64) gen->kv_blocks_total * DR1_KV_BLOCK_TOKENS);
	Assert(k == STATUS_COLS);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	return (Datum) 0;
}

#define REQUEST_COLS 12

Datum
dr1_requests(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n = 0;
	DR1Slot    *copy;
	TimestampTz now = GetCurrentTimestamp();
	bool		all = sees_all_stats();

	dr1_check_available();
	InitMaterializedSRF(fcinfo, 0);
	copy = palloc(sizeof(DR1Slot) * dr1_shared->n_slots);
	SpinLockAcquire(&dr1_shared->mutex);
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (dr1_shared->slots[i].state == DR1_SLOT_NEW || dr1_shared->slots[i].state == DR1_SLOT_ACTIVE)
			copy[n++] = dr1_shared->slots[i];
	SpinLockRelease(&dr1_shared->mutex);

	for (int i = 0; i < n; i++)
	{
		DR1Slot    *s = &copy[i];
		Datum		v[REQUEST_COLS];
		bool		nulls[REQUEST_COLS] = {0};
		const char *state = !s->started ? "queued" : s->n_generated ? "generating" : "prefill";

		if (!all && !has_privs_of_role(GetUserId(), s->userid))
			continue;
		v[0] = Int32GetDatum(s->pid);
		v[1] = CStringGetTextDatum(state);
		v[2] = Int32GetDatum(s->n_prompt);
		v[3] = Int32GetDatum(s->n_generated);
		nulls[4] = !s->started || now <= s->started;
		v[4] = Float8GetDatum(nulls[4] ? 0 : s->n_generated / ((now - s->started) / 1e6));
		v[5] = TimestampTzGetDatum(s->submitted);
		v[6] = Int32GetDatum(s->n_requests);
		v[7] = Int32GetDatum(s->n_done);
		nulls[8] = nulls[9] = nulls[10] = !s->task.name[0];
		v[8] = CStringGetTextDatum(s->task.name);
		v[9] = Int64GetDatum(s->task.done);
		v[10] = Int64GetDatum(s->task.total);
		nulls[11] = !s->started;
		v[11] = Int32GetDatum(s->n_prefilled);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}
