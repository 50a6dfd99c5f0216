/*
 * worker.c — the background worker: relays requests from the slots to the
 * engine process and its answers back, and supervises that process.
 *
 * Single-threaded and event driven: it sleeps on its latch (set by
 * backends and by shm_mq when a queue has room) and on the engine socket.
 * Nothing here may block for long or crash: an error ends the worker with
 * exit code 1 and the postmaster starts it again.
 */
#include "postgres.h"

#include <signal.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "deepseek_r1.h"

/* The worker's side of a request, indexed like the slots. */
typedef struct WorkerRequest
{
	uint64		id;				/* 0: none */
	dsm_segment *seg;
	shm_mq_handle *mqh;
	bool		in_engine;		/* submitted to the engine process */
	char	   *reply;			/* an answer waiting for room in the queue */
	Size		reply_len;
} WorkerRequest;

static WorkerRequest *reqs;
static DR1Engine engine = {.fd = -1};
static volatile sig_atomic_t got_sigterm = false;
static bool load_failed = false;	/* wait for a reload before retrying */
static TimestampTz restart_at = 0;	/* when to start the engine again */
static TimestampTz last_start = 0;
static int	backoff_ms = 0;

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
worker_exit(int code, Datum arg)
{
	char		why[64];

	dr1_engine_stop(&engine, why, sizeof why);
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->worker_pid = 0;
	dr1_shared->worker_latch = NULL;
	dr1_shared->engine_pid = 0;
	dr1_shared->engine_in_flight = 0;
	if (dr1_shared->state != DR1_STATE_FAILED)
		dr1_shared->state = DR1_STATE_STARTING;
	SpinLockRelease(&dr1_shared->mutex);
}

/* Take over the shared state: requests a previous worker had taken are
 * lost (their backends saw the queue detached), new ones are kept. */
static void
attach_shared(void)
{
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->worker_pid = MyProcPid;
	dr1_shared->worker_latch = MyLatch;
	dr1_shared->engine_in_flight = 0;
	for (int i = 0; i < dr1_shared->n_slots; i++)
	{
		DR1Slot    *s = &dr1_shared->slots[i];

		if (s->state == DR1_SLOT_ACTIVE)
			s->state = DR1_SLOT_DONE;
		else if (s->state == DR1_SLOT_ABANDONED)
			s->state = DR1_SLOT_FREE;
	}
	SpinLockRelease(&dr1_shared->mutex);
	reqs = MemoryContextAllocZero(TopMemoryContext, sizeof(WorkerRequest) * dr1_shared->n_slots);
}

static int
find_request(uint64 id)
{
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (reqs[i].id == id)
			return i;
	return -1;
}

/* The answer was delivered (or nobody waits for it): let the slot go. */
static void
finish_request(int i)
{
	WorkerRequest *r = &reqs[i];
	DR1Slot    *s = &dr1_shared->slots[i];

	if (r->seg)
		dsm_detach(r->seg);
	if (r->reply)
		pfree(r->reply);
	SpinLockAcquire(&dr1_shared->mutex);
	if (s->id == r->id)
		s->state = s->state == DR1_SLOT_ABANDONED ? DR1_SLOT_FREE : DR1_SLOT_DONE;
	SpinLockRelease(&dr1_shared->mutex);
	memset(r, 0, sizeof *r);
}

static void
try_reply(int i)
{
	WorkerRequest *r = &reqs[i];
	shm_mq_result res = shm_mq_send(r->mqh, r->reply_len, r->reply, true, true);

	if (res != SHM_MQ_WOULD_BLOCK)
		finish_request(i);
}

/* Send a frame (header and payload) to the request's backend. */
static void
reply(int i, uint32 type, const char *payload, Size len)
{
	WorkerRequest *r = &reqs[i];
	struct dr1_frame h = {(uint32) len, type, r->id};

	r->reply = MemoryContextAlloc(TopMemoryContext, sizeof h + len);
	memcpy(r->reply, &h, sizeof h);
	memcpy(r->reply + sizeof h, payload, len);
	r->reply_len = sizeof h + len;
	try_reply(i);
}

static void
reply_error(int i, uint32 code, const char *msg)
{
	StringInfoData b;

	initStringInfo(&b);
	appendBinaryStringInfo(&b, (const char *) &code, sizeof code);
	appendStringInfoString(&b, msg);
	reply(i, DR1_ERROR, b.data, b.len);
	pfree(b.data);
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->requests_failed++;
	SpinLockRelease(&dr1_shared->mutex);
}

static void
set_engine_pid(int pid)
{
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->engine_pid = pid;
	dr1_shared->engine_in_flight = 0;
	SpinLockRelease(&dr1_shared->mutex);
}

static void
start_engine(void)
{
	char		err[512];

	restart_at = 0;
	if (!dr1_model || !dr1_model[0])
	{
		dr1_set_state(DR1_STATE_FAILED, "deepseek_r1.model is not set");
		load_failed = true;
		return;
	}
	SpinLockAcquire(&dr1_shared->mutex);
	strlcpy(dr1_shared->model_path, dr1_model, MAXPGPATH);
	dr1_shared->model_info[0] = '\0';
	SpinLockRelease(&dr1_shared->mutex);
	if (!dr1_engine_start(&engine, err, sizeof err))
	{
		ereport(LOG, (errmsg("deepseek_r1: %s", err)));
		dr1_set_state(DR1_STATE_FAILED, err);
		load_failed = true;
		return;
	}
	last_start = GetCurrentTimestamp();
	set_engine_pid(engine.pid);
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->engine_starts++;
	SpinLockRelease(&dr1_shared->mutex);
	dr1_set_state(DR1_STATE_LOADING, NULL);
}

/* Stop the engine process and fail what it held with a clear message. */
static void
stop_engine(const char *context)
{
	char		why[128];
	char		msg[512];
	int			pid = engine.pid;

	dr1_engine_stop(&engine, why, sizeof why);
	set_engine_pid(0);
	snprintf(msg, sizeof msg, "the deepseek_r1 engine process %s %s", why, context);
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (reqs[i].id && reqs[i].in_engine && !reqs[i].reply)
			reply_error(i, DR1_ERR_ENGINE, msg);
	if (pid > 0)
		ereport(LOG, (errmsg("deepseek_r1: engine process %d %s", pid, why)));
}

/* The engine process went away on its own: restart it after a backoff. */
static void
engine_died(void)
{
	TimestampTz now = GetCurrentTimestamp();
	char		reason[256];

	stop_engine("while running this request");
	if (load_failed)
		return;					/* it said why; a reload retries */
	if (TimestampDifferenceExceeds(last_start, now, 30000))
		backoff_ms = 0;
	else
		backoff_ms = backoff_ms ? Min(backoff_ms * 2, 30000) : 1000;
	restart_at = TimestampTzPlusMilliseconds(now, backoff_ms);
	snprintf(reason, sizeof reason, "the engine process ended; restarting in %d ms", backoff_ms);
	dr1_set_state(DR1_STATE_STARTING, reason);
}

static void
on_ready(const char *json, Size len)
{
	SpinLockAcquire(&dr1_shared->mutex);
	memcpy(dr1_shared->model_info, json, Min(len, DR1_INFO_MAX - 1));
	dr1_shared->model_info[Min(len, DR1_INFO_MAX - 1)] = '\0';
	dr1_shared->ready_since = GetCurrentTimestamp();
	SpinLockRelease(&dr1_shared->mutex);
	engine.ready = true;
	dr1_set_state(DR1_STATE_READY, NULL);
	ereport(LOG, (errmsg("deepseek_r1: model \"%s\" loaded by engine process %d", dr1_model, engine.pid)));
}

static void
on_load_failed(const char *msg, Size len)
{
	char		reason[DR1_REASON_MAX];

	snprintf(reason, sizeof reason, "%.*s", (int) len, msg);
	ereport(LOG, (errmsg("deepseek_r1: cannot load model \"%s\": %s", dr1_model, reason)));
	dr1_set_state(DR1_STATE_FAILED, reason);
	load_failed = true;
}

/* Progress of a request, for the requests view. */
static void
on_progress(const struct dr1_frame *h, const char *payload)
{
	int			i = find_request(h->id);
	int32		v;
	DR1Slot    *s;

	if (i < 0 || h->len != sizeof v)
		return;
	memcpy(&v, payload, sizeof v);
	s = &dr1_shared->slots[i];
	SpinLockAcquire(&dr1_shared->mutex);
	if (s->id == h->id && h->type == DR1_STARTED)
	{
		s->n_prompt = v;
		s->started = GetCurrentTimestamp();
	}
	else if (s->id == h->id)
		s->n_generated = v;
	SpinLockRelease(&dr1_shared->mutex);
}

/* A request ended in the engine: count it and pass the answer on. */
static void
on_end(const struct dr1_frame *h, const char *payload)
{
	int			i = find_request(h->id);
	struct dr1_done d = {0};

	if (h->type == DR1_DONE && h->len >= sizeof d)
		memcpy(&d, payload, sizeof d);
	SpinLockAcquire(&dr1_shared->mutex);
	if (dr1_shared->engine_in_flight > 0)
		dr1_shared->engine_in_flight--;
	if (h->type == DR1_DONE)
	{
		dr1_shared->requests++;
		dr1_shared->prompt_tokens += d.n_prompt;
		dr1_shared->generated_tokens += d.n_generated;
		dr1_shared->last_engine_seconds = d.engine_seconds;
		dr1_shared->engine_seconds += d.engine_seconds;
	}
	else if (i >= 0)
		dr1_shared->requests_failed++;
	SpinLockRelease(&dr1_shared->mutex);
	if (i >= 0 && !reqs[i].reply)
		reply(i, h->type, payload, h->len);
}

static void
handle_frame(const struct dr1_frame *h, const char *payload)
{
	switch (h->type)
	{
		case DR1_READY:
			on_ready(payload, h->len);
			break;
		case DR1_LOAD_FAILED:
			on_load_failed(payload, h->len);
			break;
		case DR1_STARTED:
		case DR1_TOKEN:
			on_progress(h, payload);
			break;
		case DR1_DONE:
		case DR1_ERROR:
			on_end(h, payload);
			break;
		default:
			break;
	}
}

static void
poll_engine(void)
{
	int			rc = dr1_engine_read(&engine);
	struct dr1_frame h;
	const char *payload;

	while (dr1_engine_next_frame(&engine, &h, &payload))
		handle_frame(&h, payload);
	if (rc < 0)
		engine_died();
}

/* Attach to a request a backend has just put in slot i. */
static void
take_request(int i, uint64 id, dsm_handle handle)
{
	WorkerRequest *r = &reqs[i];
	DR1RequestShm *rq;
	shm_mq	   *mq;

	r->id = id;
	r->seg = dsm_attach(handle);
	if (!r->seg)
	{
		finish_request(i);		/* its backend already gave up */
		return;
	}
	dsm_pin_mapping(r->seg);
	rq = dsm_segment_address(r->seg);
	mq = (shm_mq *) ((char *) rq + rq->mq_offset);
	shm_mq_set_sender(mq, MyProc);
	r->mqh = shm_mq_attach(mq, r->seg, NULL);
}

/* A backend gave up on slot i (error, cancel, timeout). */
static void
drop_request(int i, uint64 id)
{
	WorkerRequest *r = &reqs[i];

	if (r->id == id && r->in_engine && engine.pid > 0)
		dr1_engine_send(&engine, DR1_CANCEL, id, NULL, 0);
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->requests_canceled++;
	SpinLockRelease(&dr1_shared->mutex);
	if (r->id == id)
		finish_request(i);
	else
	{
		SpinLockAcquire(&dr1_shared->mutex);
		if (dr1_shared->slots[i].id == id)
			dr1_shared->slots[i].state = DR1_SLOT_FREE;
		SpinLockRelease(&dr1_shared->mutex);
	}
}

static void
scan_slots(void)
{
	for (int i = 0; i < dr1_shared->n_slots; i++)
	{
		DR1Slot    *s = &dr1_shared->slots[i];
		DR1SlotState state;
		uint64		id;
		dsm_handle	handle;

		SpinLockAcquire(&dr1_shared->mutex);
		state = s->state;
		id = s->id;
		handle = s->handle;
		if (state == DR1_SLOT_NEW)
			s->state = DR1_SLOT_ACTIVE;
		SpinLockRelease(&dr1_shared->mutex);
		if (state == DR1_SLOT_NEW)
			take_request(i, id, handle);
		else if (state == DR1_SLOT_ABANDONED)
			drop_request(i, id);
	}
}

/* Hand queued requests to the engine, oldest first, up to max_batch. */
static void
dispatch(void)
{
	DR1State	state;
	int			in_flight;

	SpinLockAcquire(&dr1_shared->mutex);
	state = dr1_shared->state;
	in_flight = dr1_shared->engine_in_flight;
	SpinLockRelease(&dr1_shared->mutex);
	for (;;)
	{
		int			next = -1;
		DR1RequestShm *rq;

		for (int i = 0; i < dr1_shared->n_slots; i++)
			if (reqs[i].id && reqs[i].mqh && !reqs[i].in_engine && !reqs[i].reply &&
				(next < 0 || reqs[i].id < reqs[next].id))
				next = i;
		if (next < 0)
			return;
		if (state == DR1_STATE_FAILED)
		{
			reply_error(next, DR1_ERR_UNAVAILABLE, dr1_shared->reason);
			continue;
		}
		if (!engine.ready || in_flight >= dr1_max_batch)
			return;
		rq = dsm_segment_address(reqs[next].seg);
		if (!dr1_engine_send(&engine, DR1_SUBMIT, reqs[next].id, rq->payload, rq->payload_len))
			return;				/* the engine is dying: poll_engine sees it */
		reqs[next].in_engine = true;
		in_flight++;
		SpinLockAcquire(&dr1_shared->mutex);
		dr1_shared->engine_in_flight++;
		SpinLockRelease(&dr1_shared->mutex);
	}
}

static void
retry_replies(void)
{
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (reqs[i].id && reqs[i].reply)
			try_reply(i);
}

/* SIGHUP: restart the engine when a load setting changed, or retry a
 * failed load. */
static void
reload(void)
{
	char		settings[sizeof engine.settings];

	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	dr1_engine_settings(settings, sizeof settings);
	if (strcmp(settings, engine.settings) == 0 && !load_failed)
		return;
	ereport(LOG, (errmsg("deepseek_r1: settings changed, (re)starting the engine process")));
	if (engine.pid > 0)
		stop_engine("because the configuration changed");
	strlcpy(engine.settings, settings, sizeof engine.settings);
	load_failed = false;
	backoff_ms = 0;
	start_engine();
}

static void
shutdown_worker(void)
{
	stop_engine("because the deepseek_r1 worker is shutting down");
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (reqs[i].id)
			finish_request(i);
	ereport(LOG, (errmsg("deepseek_r1: worker shutting down")));
	proc_exit(1);				/* 1: the postmaster starts it again */
}

void
dr1_worker_main(Datum arg)
{
	pqsignal(SIGTERM, handle_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "deepseek_r1 worker");
	before_shmem_exit(worker_exit, 0);
	attach_shared();
	dr1_engine_settings(engine.settings, sizeof engine.settings);
	start_engine();

	for (;;)
	{
		int			events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;
		long		timeout = 1000;

		if (engine.pid > 0)
			events |= WL_SOCKET_READABLE;
		else if (restart_at)
			timeout = Max(1, Min(timeout, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), restart_at)));
		(void) WaitLatchOrSocket(MyLatch, events, engine.fd, timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (got_sigterm)
			shutdown_worker();
		if (ConfigReloadPending)
			reload();
		if (engine.pid > 0)
			poll_engine();
		else if (restart_at && GetCurrentTimestamp() >= restart_at)
			start_engine();
		scan_slots();
		dispatch();
		retry_replies();
	}
}
