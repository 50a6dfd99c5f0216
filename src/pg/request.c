/*
 * request.c — the backend side of a call: a DSM segment with its requests
 * and a queue for the answers, a slot that tells the worker, and a wait
 * that query cancel, statement_timeout and request_timeout end.
 *
 * All the requests of a call are handed over at once, so the worker can
 * give the engine as many as it may run together.  The slot is released
 * by a DSM detach callback, so it is released on every path out: the
 * answers read, an error, a cancel.  If the worker still holds requests of
 * the call then, it cancels them in the engine.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "utils/timestamp.h"

#include "deepseek_r1.h"

static uint64 my_call_id = 0;	/* a backend runs one call at a time */

/* the ids of a text tokenize takes fit in the answer's frame */
StaticAssertDecl(4 * (uint64) DR1_MAX_TEXT_BYTES + 4096 <= DR1_FRAME_MAX,
				 "DR1_MAX_TEXT_BYTES too large for DR1_FRAME_MAX");

void
dr1_check_available(void)
{
	if (!dr1_shared)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deepseek_r1 is not loaded through shared_preload_libraries"),
				 errhint("Add deepseek_r1 to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Append a protocol string; convert from the database encoding when asked.
 * Every text of a request comes here, so this is where its size is checked
 * (DR1_MAX_TEXT_BYTES, in UTF-8 as the engine counts it).
 */
void
dr1_put_str(StringInfo buf, const char *s, int len, bool convert)
{
	char	   *utf8 = convert ? pg_server_to_any(s, len, PG_UTF8) : (char *) s;
	uint32		n = utf8 == s ? (uint32) len : (uint32) strlen(utf8);

	if (n > DR1_MAX_TEXT_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("deepseek_r1 takes texts of at most %d bytes, not %u", DR1_MAX_TEXT_BYTES, n),
				 errdetail("The limit applies to each prompt, message, system prompt, stop string and choice, counted in UTF-8.")));
	appendBinaryStringInfo(buf, (const char *) &n, sizeof n);
	appendBinaryStringInfo(buf, utf8, n);
	if (utf8 != s)
		pfree(utf8);
}

static void
check_deadline(TimestampTz deadline)
{
	if (deadline && GetCurrentTimestamp() >= deadline)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("canceling deepseek_r1 request due to deepseek_r1.request_timeout (%d ms)",
						dr1_request_timeout)));
}

static void
wait_a_little(TimestampTz deadline)
{
	long		ms = 100;

	if (deadline)
		ms = Max(1, Min(ms, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline)));
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * The postmaster restarts the worker within seconds; if none runs for
 * longer, something is wrong with it and waiting would hang the query.
 */
#define WORKER_GONE_MS 10000

static void
check_worker(TimestampTz *gone_since)
{
	int			pid;

	SpinLockAcquire(&dr1_shared->mutex);
	pid = dr1_shared->worker_pid;
	SpinLockRelease(&dr1_shared->mutex);
	if (pid != 0)
		*gone_since = 0;
	else if (*gone_since == 0)
		*gone_since = GetCurrentTimestamp();
	else if (TimestampDifferenceExceeds(*gone_since, GetCurrentTimestamp(), WORKER_GONE_MS))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the deepseek_r1 worker is not running"),
				 errhint("See the server log for why it stopped.")));
}

static void
raise_unavailable(DR1Role role, const char *reason)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the deepseek_r1 %smodel is not available", role == DR1_ROLE_EMBED ? "embedding " : ""),
			 errdetail("%s", reason),
			 errhint("Set %s to a readable GGUF file and reload the configuration.",
					 dr1_role_setting(role))));
}

/* Wait while the worker starts or loads the role's model; fail if it failed. */
static void
wait_ready(DR1Role role, TimestampTz deadline)
{
	TimestampTz gone_since = 0;

	for (;;)
	{
		DR1State	state;
		char		reason[DR1_REASON_MAX];

		SpinLockAcquire(&dr1_shared->mutex);
		state = dr1_shared->models[role].state;
		strlcpy(reason, dr1_shared->models[role].reason, sizeof reason);
		SpinLockRelease(&dr1_shared->mutex);
		if (state == DR1_STATE_READY)
			return;
		if (state == DR1_STATE_FAILED)
			raise_unavailable(role, dr1_text_from_engine(reason, strlen(reason)));
		check_worker(&gone_since);
		check_deadline(deadline);
		wait_a_little(deadline);
	}
}

static void
release_slot(dsm_segment *seg, Datum arg)
{
	DR1Slot    *s = &dr1_shared->slots[DatumGetInt32(arg)];
	bool		wake = false;

	SpinLockAcquire(&dr1_shared->mutex);
	if (s->id == my_call_id && s->pid == MyProcPid)
	{
		if (s->state == DR1_SLOT_ACTIVE)
		{
			s->state = DR1_SLOT_ABANDONED;
			wake = true;
		}
		else if (s->state == DR1_SLOT_NEW || s->state == DR1_SLOT_DONE)
			s->state = DR1_SLOT_FREE;
	}
	SpinLockRelease(&dr1_shared->mutex);
	if (wake)
		dr1_wake_worker();
}

static int
claim_slot(dsm_segment *seg, int n, DR1Role role, const DR1Task *task)
{
	int			slot = -1;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&dr1_shared->mutex);
	for (int i = 0; i < dr1_shared->n_slots && slot < 0; i++)
		if (dr1_shared->slots[i].state == DR1_SLOT_FREE)
		{
			DR1Slot    *s = &dr1_shared->slots[i];

			slot = i;
			s->id = my_call_id = dr1_shared->next_id + 1;
			dr1_shared->next_id += n;
			s->n_requests = n;
			s->role = role;
			s->pid = MyProcPid;
			s->userid = GetUserId();
			s->handle = dsm_segment_handle(seg);
			s->submitted = now;
			s->started = 0;
			s->n_prompt = s->n_prefilled = s->n_generated = s->n_done = 0;
			if (task)
				s->task = *task;
			else
				memset(&s->task, 0, sizeof s->task);
			s->state = DR1_SLOT_NEW;
		}
	SpinLockRelease(&dr1_shared->mutex);
	if (slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many deepseek_r1 requests in flight")));
	return slot;
}

/* Input of one conversion call: bounds its output buffer. */
#define CONVERT_CHUNK 65536

/*
 * Append len bytes of valid UTF-8 in the database encoding; a character
 * the encoding cannot represent becomes '?' (every server encoding has
 * it), so that one such character does not fail the answer, or a whole
 * batch with it.
 */
static void
append_in_db_encoding(StringInfo out, const char *s, int len)
{
	static Oid	proc = InvalidOid;
	int			enc = GetDatabaseEncoding();

	if (enc == PG_UTF8 || enc == PG_SQL_ASCII)
	{
		appendBinaryStringInfo(out, s, len);
		return;
	}
	if (!OidIsValid(proc))
		proc = FindDefaultConversionProc(PG_UTF8, enc);
	if (!OidIsValid(proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("no conversion from UTF8 to the database encoding %s", pg_encoding_to_char(enc))));
	while (len > 0)
	{
		int			chunk = Min(len, CONVERT_CHUNK);
		int			room = chunk * MAX_CONVERSION_GROWTH + 1;
		int			done;

		/* whole characters, so that the conversion stops early only at one
		 * it cannot represent */
		while (chunk < len && (s[chunk] & 0xC0) == 0x80)
			chunk--;
		enlargeStringInfo(out, room);
		done = pg_do_encoding_conversion_buf(proc, PG_UTF8, enc, (unsigned char *) s, chunk,
											 (unsigned char *) out->data + out->len, room, true);
		out->len += strlen(out->data + out->len);
		s += done;
		len -= done;
		if (done < chunk)
		{
			int			skip = pg_utf_mblen((const unsigned char *) s);

			appendStringInfoChar(out, '?');
			s += skip;
			len -= skip;
		}
	}
}

/*
 * Text from the engine (UTF-8, len bytes) in the database encoding,
 * palloc'd.  The engine sends only valid UTF-8 without NUL (its
 * detokenizer replaces anything else by U+FFFD); the backend checks it
 * anyway and replaces each offending byte the same way, so that no engine
 * bug can put invalid text into the database, and an error message the
 * engine cut in the middle of a character still reaches the user.
 */
char *
dr1_text_from_engine(const char *s, Size len)
{
	StringInfoData out;

	initStringInfo(&out);
	while (len > 0)
	{
		int			valid = pg_encoding_verifymbstr(PG_UTF8, s, (int) len);

		append_in_db_encoding(&out, s, valid);
		s += valid;
		len -= valid;
		if (len > 0)
		{
			append_in_db_encoding(&out, "\xEF\xBF\xBD", 3);
			s++;
			len--;
		}
	}
	return out.data;
}

static void
raise_malformed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("deepseek_r1: malformed answer from the worker")));
}

/* An ERROR frame; label, when >= 0, names the request in the caller's array. */
static void
raise_engine_error(DR1Role role, const char *payload, Size len, int label)
{
	uint32		code;
	struct dr1_str text;
	char	   *msg;
	int			sqlstate;

	if (!dr1_error_decode(payload, len, &code, &text))
		raise_malformed();
	msg = dr1_text_from_engine(text.s, text.len);
	switch (code)
	{
		case DR1_ERR_ARGUMENT:
			sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case DR1_ERR_TOO_LONG:
			sqlstate = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
			break;
		case DR1_ERR_CANCELED:
			sqlstate = ERRCODE_QUERY_CANCELED;
			break;
		case DR1_ERR_UNAVAILABLE:
			raise_unavailable(role, msg);
			return;
		default:
			sqlstate = ERRCODE_INTERNAL_ERROR;
			break;
	}
	ereport(ERROR, (errcode(sqlstate), errmsg("%s", msg),
					label >= 0 ? errcontext("prompts[%d]", label) : 0));
}

static void
parse_done(const char *payload, Size len, DR1Result *res)
{
	struct dr1_done_msg m;

	if (!dr1_done_decode(payload, len, &m))
		raise_malformed();
	res->done = m.d;
	res->ids = palloc(sizeof(int32) * (m.d.n_ids + 1));
	memcpy(res->ids, m.ids, sizeof(int32) * m.d.n_ids);	/* unaligned in the payload */
	res->floats = palloc(sizeof(float4) * (m.d.n_floats + 1));
	memcpy(res->floats, m.floats, sizeof(float4) * m.d.n_floats);
	res->text = dr1_text_from_engine(m.text.s, m.text.len);
	res->content = dr1_text_from_engine(m.content.s, m.content.len);
	res->reasoning = dr1_text_from_engine(m.reasoning.s, m.reasoning.len);
}

/* Wait for the next answer on the queue and copy it out. */
static void
receive(shm_mq_handle *mqh, TimestampTz deadline, struct dr1_frame *h, char **payload)
{
	TimestampTz gone_since = 0;

	for (;;)
	{
		Size		n;
		void	   *data;
		shm_mq_result r = shm_mq_receive(mqh, &n, &data, true);

		if (r == SHM_MQ_SUCCESS && n >= sizeof *h)
		{
			memcpy(h, data, sizeof *h);
			*payload = palloc(n - sizeof *h + 1);
			memcpy(*payload, (char *) data + sizeof *h, n - sizeof *h);
			h->len = (uint32) (n - sizeof *h);
			return;
		}
		if (r != SHM_MQ_WOULD_BLOCK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("the deepseek_r1 worker ended the request without an answer"),
					 errdetail("The worker was restarted or stopped while the request ran.")));
		check_worker(&gone_since);
		check_deadline(deadline);
		wait_a_little(deadline);
	}
}

/* Lay the call's requests out in a new DSM segment (DR1CallShm). */
static dsm_segment *
create_call(StringInfoData *submits, int n)
{
	Size		head = offsetof(DR1CallShm, offsets) + sizeof(Size) * (n + 1);
	Size		end = head;
	dsm_segment *seg;
	DR1CallShm *call;

	for (int k = 0; k < n; k++)
		end = add_size(end, submits[k].len);
	seg = dsm_create(add_size(MAXALIGN(end), DR1_MQ_SIZE), 0);
	call = dsm_segment_address(seg);
	call->mq_offset = MAXALIGN(end);
	call->offsets[0] = head;
	for (int k = 0; k < n; k++)
	{
		memcpy((char *) call + call->offsets[k], submits[k].data, submits[k].len);
		call->offsets[k + 1] = call->offsets[k] + submits[k].len;
	}
	return seg;
}

/*
 * Run n requests (SUBMIT payloads) as one call and wait for all their
 * answers; results[k] is request k's.  The first error ends the call (the
 * worker cancels the rest); labels[k], when labels is given, is the
 * position of request k in the caller's array, for the error's context.
 * task, when given, is shown by the requests view.  The call goes to the
 * model its requests' kind needs (all of a call are of one role).
 */
void
dr1_run(StringInfoData *submits, int n, DR1Result *results, const DR1Task *task,
		const int *labels)
{
	TimestampTz deadline = 0;
	dsm_segment *seg;
	DR1CallShm *call;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	bool	   *answered;
	uint64		first;
	DR1Role		role;

	if (n == 0)
		return;
	Assert(n <= DR1_MAX_PROMPTS);
	for (int k = 0; k < n; k++)
		if ((Size) submits[k].len > DR1_FRAME_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a deepseek_r1 request may hold at most %u bytes, not %d",
							DR1_FRAME_MAX, submits[k].len),
					 errdetail("The request's texts count in UTF-8, with 4 bytes more for each.")));
	dr1_check_available();
	role = dr1_role_of_kind(((const struct dr1_submit *) submits[0].data)->kind);
	if (dr1_request_timeout > 0)
		deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), dr1_request_timeout);
	wait_ready(role, deadline);

	seg = create_call(submits, n);
	call = dsm_segment_address(seg);
	mq = shm_mq_create((char *) call + call->mq_offset, DR1_MQ_SIZE);
	shm_mq_set_receiver(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	on_dsm_detach(seg, release_slot, Int32GetDatum(claim_slot(seg, n, role, task)));
	first = my_call_id;
	dr1_wake_worker();

	answered = palloc0(sizeof(bool) * n);
	for (int got = 0; got < n; got++)
	{
		struct dr1_frame h;
		char	   *payload;
		uint64		k;

		receive(mqh, deadline, &h, &payload);
		k = h.id - first;
		if (h.type == DR1_ERROR)
		{
			dsm_detach(seg);
			/* id 0 (the worker's own error) wraps past n: no label */
			raise_engine_error(role, payload, h.len, labels && k < (uint64) n ? labels[k] : -1);
		}
		if (h.type != DR1_DONE || k >= (uint64) n || answered[k])
			elog(ERROR, "deepseek_r1: unexpected answer %u for request " UINT64_FORMAT " from the worker",
				 h.type, h.id);
		answered[k] = true;
		memset(&results[k], 0, sizeof results[k]);
		parse_done(payload, h.len, &results[k]);
		pfree(payload);
	}
	dsm_detach(seg);
	pfree(answered);
}
