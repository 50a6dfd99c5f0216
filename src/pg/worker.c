/*
 * worker.c — the background worker: relays the requests of the calls in
 * the slots to the engine process, up to max_batch at a time, and its
 * answers back, keeps the counters, and supervises that process; and the
 * same for the embedding model's engine process, when one is set
 * (deepseek_r1.embedding_model).  A call goes to one of the two by its
 * requests' kind; each engine is started, watched and restarted on its own,
 * so that a failure of one model leaves the other serving.
 *
 * Single-threaded and event driven: it sleeps on its latch (set by
 * backends, by shm_mq when a queue has room, by signals and barriers) and
 * on the engine sockets, readable always and writeable while frames wait
 * in their outgoing queue.  It never blocks on the engine: frames are queued and
 * written as the socket takes them, and whatever the engine sends is read
 * at every wake-up, so neither side can wait for the other forever.
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
#include "storage/procsignal.h"
#include "storage/shm_mq.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "deepseek_r1.h"

/* Where a request of a call is, as the worker sees it. */
typedef enum RequestState
{
	REQ_QUEUED,					/* not handed to the engine yet */
	REQ_IN_ENGINE,
	REQ_ENDED					/* its DONE or ERROR came */
} RequestState;

typedef struct WorkerRequest
{
	RequestState state;
	int32		generated;		/* tokens so far (TOKEN frames) */
	int32		prefilled;		/* prompt tokens so far (PREFILLED frames) */
} WorkerRequest;

/*
 * The worker's side of a call, indexed like the slots.  Its answers go to
 * the backend in the order they come; those that do not fit in the queue
 * yet wait in replies[reply_head .. reply_tail).  A call has at most one
 * answer per request, or an error after which nothing more is queued, so
 * n + 1 entries always suffice.
 */
typedef struct WorkerCall
{
	uint64		id;				/* the first request's id; 0: none */
	DR1Role		role;			/* the engine its requests go to */
	int32		n;				/* requests */
	dsm_segment *seg;
	DR1CallShm *shm;
	shm_mq_handle *mqh;
	WorkerRequest *reqs;
	int32		next;			/* the next request to hand to the engine */
	int32		in_engine;		/* handed over, not ended */
	int32		n_ended;
	bool		failed;			/* an error was queued: the call is over */
	char	  **replies;
	Size	   *reply_lens;
	int32		reply_head;
	int32		reply_tail;
} WorkerCall;

/* A model's engine process and the worker's supervision of it. */
typedef struct ModelEngine
{
	DR1Role		role;
	DR1Engine	e;
	struct dr1_stats stats;		/* the last STATS of the running engine */
	bool		load_failed;	/* wait for a reload before retrying */
	TimestampTz restart_at;		/* when to start the engine again */
	TimestampTz last_start;
	int			backoff_ms;
	int			load_deaths;	/* engines in a row that died while loading */
} ModelEngine;

static WorkerCall *calls;
static ModelEngine engines[DR1_N_ROLES] = {
	{.role = DR1_ROLE_GENERATE, .e = {.fd = -1}},
	{.role = DR1_ROLE_EMBED, .e = {.fd = -1}},
};
static volatile sig_atomic_t got_sigterm = false;

/* The shared state of an engine's model. */
#define MODEL(me) (&dr1_shared->models[(me)->role])

/* After this many, the worker stops trying until a reload (docs/architecture.md,
 * "Load failures are bounded": state failed with the reason, calls get 55000
 * at once). */
#define MAX_LOAD_DEATHS 3

/* When an engine ends, one that ran RESTART_BACKOFF_RESET_MS or more is
 * restarted at once; one that ended sooner waits 1 s, then twice as long
 * after each further quick death, up to 30 s, so that an engine that keeps
 * dying does not spin. */
#define RESTART_BACKOFF_FIRST_MS 1000
#define RESTART_BACKOFF_MAX_MS 30000
#define RESTART_BACKOFF_RESET_MS 30000

/* The loop wakes at least this often, for its clocks (watchdog, load
 * timeout, restart) when nothing else sets its latch. */
#define WAKE_MAX_MS 1000

/* SUBMITs are queued for the engine only while less than this waits to be
 * written: the worker's memory for them stays about one frame. */
#define DISPATCH_QUEUE_MAX ((Size) 1 << 20)

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

	for (int r = 0; r < DR1_N_ROLES; r++)
		dr1_engine_stop(&engines[r].e, why, sizeof why);
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->worker_pid = 0;
	dr1_shared->worker_latch = NULL;
	for (int r = 0; r < DR1_N_ROLES; r++)
	{
		DR1Model   *m = &dr1_shared->models[r];

		m->engine_pid = 0;
		m->engine_in_flight = 0;
		if (m->state != DR1_STATE_FAILED)
			m->state = DR1_STATE_STARTING;
	}
	SpinLockRelease(&dr1_shared->mutex);
}

/* Take over the shared state: calls a previous worker had taken are
 * lost (their backends saw the queue detached), new ones are kept. */
static void
attach_shared(void)
{
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->worker_pid = MyProcPid;
	dr1_shared->worker_latch = MyLatch;
	for (int r = 0; r < DR1_N_ROLES; r++)
		dr1_shared->models[r].engine_in_flight = 0;
	for (int i = 0; i < dr1_shared->n_slots; i++)
	{
		DR1Slot    *s = &dr1_shared->slots[i];

		if (s->state == DR1_SLOT_ACTIVE)
			s->state = DR1_SLOT_DONE;
		else if (s->state == DR1_SLOT_ABANDONED)
			s->state = DR1_SLOT_FREE;
	}
	SpinLockRelease(&dr1_shared->mutex);
	calls = MemoryContextAllocZero(TopMemoryContext, sizeof(WorkerCall) * dr1_shared->n_slots);
}

/* The call that request id belongs to (-1: none), and the request's index. */
static int
find_call(uint64 id, int32 *k)
{
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (calls[i].id && id >= calls[i].id && id - calls[i].id < (uint64) calls[i].n)
		{
			*k = (int32) (id - calls[i].id);
			return i;
		}
	return -1;
}

/* The call is over (answered, or nobody waits for it): let the slot go. */
static void
finish_call(int i)
{
	WorkerCall *c = &calls[i];
	DR1Slot    *s = &dr1_shared->slots[i];

	if (c->mqh)
		shm_mq_detach(c->mqh);	/* frees the handle: dsm_detach would not */
	if (c->seg)
		dsm_detach(c->seg);
	for (int r = c->reply_head; r < c->reply_tail; r++)
		pfree(c->replies[r]);
	if (c->reqs)
	{
		pfree(c->reqs);
		pfree(c->replies);
		pfree(c->reply_lens);
	}
	SpinLockAcquire(&dr1_shared->mutex);
	if (s->id == c->id)
		s->state = s->state == DR1_SLOT_ABANDONED ? DR1_SLOT_FREE : DR1_SLOT_DONE;
	SpinLockRelease(&dr1_shared->mutex);
	memset(c, 0, sizeof *c);
}

/* Stop the call's requests that the engine still runs. */
static void
cancel_in_engine(int i)
{
	WorkerCall *c = &calls[i];
	DR1Engine  *e = &engines[c->role].e;

	for (int k = 0; k < c->next; k++)
		if (c->reqs[k].state == REQ_IN_ENGINE && e->pid > 0)
			dr1_engine_send(e, DR1_CANCEL, c->id + k, NULL, 0);
}

static void
count_canceled(int n)
{
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->requests_canceled += n;
	SpinLockRelease(&dr1_shared->mutex);
}

/* Pass queued answers on while the queue has room; finish the call when
 * it is over and everything was delivered. */
static void
try_reply(int i)
{
	WorkerCall *c = &calls[i];

	while (c->reply_head < c->reply_tail)
	{
		shm_mq_result res = shm_mq_send(c->mqh, c->reply_lens[c->reply_head],
										c->replies[c->reply_head], true, true);

		if (res == SHM_MQ_WOULD_BLOCK)
			return;
		if (res == SHM_MQ_DETACHED)
		{
			/* the backend left: the rest of the call is wasted work */
			cancel_in_engine(i);
			count_canceled(c->n - c->n_ended);
			finish_call(i);
			return;
		}
		pfree(c->replies[c->reply_head++]);
	}
	if (c->failed || c->n_ended == c->n)
		finish_call(i);
}

/* Queue a frame (header and payload) for the call's backend. */
static void
reply(int i, uint32 type, uint64 id, const char *payload, Size len)
{
	WorkerCall *c = &calls[i];
	struct dr1_frame h = {(uint32) len, type, id};
	char	   *frame = MemoryContextAlloc(TopMemoryContext, sizeof h + len);

	memcpy(frame, &h, sizeof h);
	memcpy(frame + sizeof h, payload, len);
	c->replies[c->reply_tail] = frame;
	c->reply_lens[c->reply_tail++] = sizeof h + len;
	try_reply(i);
}

/* End the call with an error frame (id 0: the worker's own error) and
 * cancel what the engine still runs of it: nothing more is sent. */
static void
fail_call(int i, uint64 id, const char *payload, Size len)
{
	calls[i].failed = true;
	cancel_in_engine(i);
	reply(i, DR1_ERROR, id, payload, len);
}

/* The worker's own error for a call: every request not answered failed. */
static void
reply_error(int i, uint32 code, const char *msg)
{
	StringInfoData b;

	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->requests_failed += calls[i].n - calls[i].n_ended;
	SpinLockRelease(&dr1_shared->mutex);
	initStringInfo(&b);
	appendBinaryStringInfo(&b, (const char *) &code, sizeof code);
	appendStringInfoString(&b, msg);
	fail_call(i, 0, b.data, b.len);
	pfree(b.data);
}

/* A new engine process (or none: pid 0) starts with nothing in flight. */
static void
set_engine_pid(ModelEngine *me, int pid)
{
	memset(&me->stats, 0, sizeof me->stats);
	SpinLockAcquire(&dr1_shared->mutex);
	MODEL(me)->engine_pid = pid;
	MODEL(me)->engine_in_flight = 0;
	MODEL(me)->kv_blocks_used = MODEL(me)->kv_blocks_total = 0;
	SpinLockRelease(&dr1_shared->mutex);
}

static void
start_engine(ModelEngine *me)
{
	char		err[512];
	const char *path = dr1_role_model(me->role);

	me->restart_at = 0;
	if (!path[0])
	{
		snprintf(err, sizeof err, "%s is not set", dr1_role_setting(me->role));
		dr1_set_state(me->role, DR1_STATE_FAILED, err);
		me->load_failed = true;
		return;
	}
	SpinLockAcquire(&dr1_shared->mutex);
	strlcpy(MODEL(me)->model_path, path, MAXPGPATH);
	MODEL(me)->model_info[0] = '\0';
	MODEL(me)->kv_cache_type = dr1_kv_cache_type;
	SpinLockRelease(&dr1_shared->mutex);
	if (!dr1_engine_start(&me->e, me->role, err, sizeof err))
	{
		ereport(LOG, (errmsg("deepseek_r1: %s", err)));
		dr1_set_state(me->role, DR1_STATE_FAILED, err);
		me->load_failed = true;
		return;
	}
	me->last_start = GetCurrentTimestamp();
	set_engine_pid(me, me->e.pid);
	SpinLockAcquire(&dr1_shared->mutex);
	MODEL(me)->engine_starts++;
	SpinLockRelease(&dr1_shared->mutex);
	dr1_set_state(me->role, DR1_STATE_LOADING, NULL);
}

/* Stop the engine process and fail the calls it held requests of with a
 * clear message. */
static void
stop_engine(ModelEngine *me, const char *context)
{
	char		why[128];
	char		msg[512];
	int			pid = me->e.pid;

	dr1_engine_stop(&me->e, why, sizeof why);
	set_engine_pid(me, 0);
	snprintf(msg, sizeof msg, "the deepseek_r1 %sengine process %s %s",
			 me->role == DR1_ROLE_EMBED ? "embedding " : "", why, context);
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (calls[i].role == me->role && calls[i].in_engine > 0 && !calls[i].failed)
			reply_error(i, DR1_ERR_ENGINE, msg);
	if (pid > 0)
		ereport(LOG, (errmsg("deepseek_r1: engine process %d %s", pid, why)));
}

/*
 * Stop the engine process (what went wrong is in context) and start another
 * after a backoff, unless it died while loading MAX_LOAD_DEATHS times in a
 * row: then its model is failed until a reload.
 */
static void
restart_engine(ModelEngine *me, const char *context)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		loading = !me->e.ready;
	char		reason[DR1_REASON_MAX];

	stop_engine(me, context);
	if (me->load_failed)
		return;					/* it said why; a reload retries */
	if (loading && ++me->load_deaths >= MAX_LOAD_DEATHS)
	{
		snprintf(reason, sizeof reason,
				 "the engine process ended while loading the model %d times in a row "
				 "(see the server log); reload the configuration to try again", me->load_deaths);
		ereport(LOG, (errmsg("deepseek_r1: %s", reason)));
		dr1_set_state(me->role, DR1_STATE_FAILED, reason);
		me->load_failed = true;
		return;
	}
	if (TimestampDifferenceExceeds(me->last_start, now, RESTART_BACKOFF_RESET_MS))
		me->backoff_ms = 0;
	else
		me->backoff_ms = me->backoff_ms ? Min(me->backoff_ms * 2, RESTART_BACKOFF_MAX_MS)
			: RESTART_BACKOFF_FIRST_MS;
	me->restart_at = TimestampTzPlusMilliseconds(now, me->backoff_ms);
	snprintf(reason, sizeof reason, "the engine process ended; restarting in %d ms", me->backoff_ms);
	dr1_set_state(me->role, DR1_STATE_STARTING, reason);
}

/*
 * The watchdog: an engine that holds requests must send something (it
 * sends STATS at least every second while it works, protocol.h); one that
 * stays silent longer than deepseek_r1.engine_watchdog is stuck (stopped,
 * deadlocked, swapping) and is replaced, its callers told why.  Loading
 * sends nothing until READY and may legitimately take minutes, so it has
 * its own, larger bound (deepseek_r1.load_timeout): past it the start
 * counts as a death while loading, and MAX_LOAD_DEATHS of them fail the
 * model, so callers waiting for it are never left waiting on a hung load.
 */
static void
check_watchdog(ModelEngine *me)
{
	int			in_flight;
	char		context[128];

	if (me->e.pid > 0 && !me->e.ready && dr1_load_timeout > 0 &&
		TimestampDifferenceExceeds(me->last_start, GetCurrentTimestamp(), dr1_load_timeout))
	{
		ereport(LOG, (errmsg("deepseek_r1: engine process %d did not load the model within %d ms; restarting it",
							 me->e.pid, dr1_load_timeout)));
		snprintf(context, sizeof context,
				 "because it did not load the model within %d ms (deepseek_r1.load_timeout)", dr1_load_timeout);
		restart_engine(me, context);
		return;
	}
	if (me->e.pid <= 0 || dr1_engine_watchdog <= 0)
		return;
	SpinLockAcquire(&dr1_shared->mutex);
	in_flight = MODEL(me)->engine_in_flight;
	SpinLockRelease(&dr1_shared->mutex);
	if (in_flight == 0 ||
		!TimestampDifferenceExceeds(me->e.heard_at, GetCurrentTimestamp(), dr1_engine_watchdog))
		return;
	ereport(LOG, (errmsg("deepseek_r1: engine process %d sent nothing for %d ms while it held %d requests; restarting it",
						 me->e.pid, dr1_engine_watchdog, in_flight)));
	snprintf(context, sizeof context,
			 "after it made no progress for %d ms (deepseek_r1.engine_watchdog)", dr1_engine_watchdog);
	restart_engine(me, context);
}

static void
on_ready(ModelEngine *me, const char *json, Size len)
{
	SpinLockAcquire(&dr1_shared->mutex);
	memcpy(MODEL(me)->model_info, json, Min(len, DR1_INFO_MAX - 1));
	MODEL(me)->model_info[Min(len, DR1_INFO_MAX - 1)] = '\0';
	MODEL(me)->ready_since = GetCurrentTimestamp();
	SpinLockRelease(&dr1_shared->mutex);
	me->e.ready = true;
	me->load_deaths = 0;
	dr1_set_state(me->role, DR1_STATE_READY, NULL);
	ereport(LOG, (errmsg("deepseek_r1: model \"%s\" loaded by engine process %d",
						 dr1_role_model(me->role), me->e.pid)));
}

static void
on_load_failed(ModelEngine *me, const char *msg, Size len)
{
	char		reason[DR1_REASON_MAX];

	snprintf(reason, sizeof reason, "%.*s", (int) len, msg);
	ereport(LOG, (errmsg("deepseek_r1: cannot load model \"%s\": %s", dr1_role_model(me->role), reason)));
	/* it exits now: reap it first, so that status() never shows a failed
	 * model with an engine process */
	stop_engine(me, "after the load failed");
	dr1_set_state(me->role, DR1_STATE_FAILED, reason);
	me->load_failed = true;
}

/* The engine's counters: the running figures as they are, the totals as
 * what was added since the last frame (they start again at 0 with each
 * engine process, ours since the server started). */
static void
on_stats(ModelEngine *me, const char *payload, Size len)
{
	struct dr1_stats st;

	if (!dr1_stats_decode(payload, len, &st))
		return;
	SpinLockAcquire(&dr1_shared->mutex);
	MODEL(me)->kv_blocks_used = st.kv_blocks_used;
	MODEL(me)->kv_blocks_total = st.kv_blocks_total;
	dr1_shared->prefill_tokens += st.prefill_tokens - me->stats.prefill_tokens;
	dr1_shared->preemptions += st.preemptions - me->stats.preemptions;
	SpinLockRelease(&dr1_shared->mutex);
	me->stats = st;
}

/* Progress of a request (STARTED, PREFILLED, TOKEN), summed per call for
 * the requests view. */
static void
on_progress(const struct dr1_frame *h, const char *payload)
{
	int32		k;
	int			i = find_call(h->id, &k);
	int32		v;
	int32		delta = 0;
	DR1Slot    *s;

	if (i < 0 || !dr1_int_decode(payload, h->len, &v))
		return;
	if (h->type == DR1_TOKEN)
	{
		delta = v - calls[i].reqs[k].generated;
		calls[i].reqs[k].generated = v;
	}
	else if (h->type == DR1_PREFILLED)
	{
		delta = v - calls[i].reqs[k].prefilled;
		calls[i].reqs[k].prefilled = v;
	}
	s = &dr1_shared->slots[i];
	SpinLockAcquire(&dr1_shared->mutex);
	if (s->id == calls[i].id && h->type == DR1_STARTED)
	{
		s->n_prompt += v;
		if (!s->started)
			s->started = GetCurrentTimestamp();
	}
	else if (s->id == calls[i].id && h->type == DR1_PREFILLED)
		s->n_prefilled += delta;
	else if (s->id == calls[i].id)
		s->n_generated += delta;
	SpinLockRelease(&dr1_shared->mutex);
}

/* A request ended in engine me: count it and pass the answer on.  A
 * request's error ends its whole call. */
static void
on_end(ModelEngine *me, const struct dr1_frame *h, const char *payload)
{
	int32		k;
	int			i = find_call(h->id, &k);
	struct dr1_done d = {0};
	WorkerCall *c;

	if (h->type == DR1_DONE && h->len >= sizeof d)
		memcpy(&d, payload, sizeof d);
	SpinLockAcquire(&dr1_shared->mutex);
	if (MODEL(me)->engine_in_flight > 0)
		MODEL(me)->engine_in_flight--;
	if (h->type == DR1_DONE)
	{
		/* a canceled request was counted when its backend left */
		if (d.finish != DR1_FINISH_CANCEL)
			dr1_shared->requests++;
		dr1_shared->prompt_tokens += d.n_prompt;
		dr1_shared->generated_tokens += d.n_generated;
		dr1_shared->last_engine_seconds = d.engine_seconds;
		dr1_shared->engine_seconds += d.engine_seconds;
	}
	else if (i >= 0)
		dr1_shared->requests_failed++;
	if (i >= 0 && dr1_shared->slots[i].id == calls[i].id)
		dr1_shared->slots[i].n_done++;
	SpinLockRelease(&dr1_shared->mutex);
	if (i < 0)
		return;
	c = &calls[i];
	c->reqs[k].state = REQ_ENDED;
	c->in_engine--;
	c->n_ended++;
	if (c->failed)
		try_reply(i);			/* it may be over now */
	else if (h->type == DR1_DONE)
		reply(i, h->type, h->id, payload, h->len);
	else
	{
		count_canceled(c->n - c->n_ended);
		fail_call(i, h->id, payload, h->len);
	}
}

/* The engine's answer is not one a backend can read: fail the request as
 * if the engine had said so (an ERROR frame of the worker's making). */
static void
end_with_error(ModelEngine *me, const struct dr1_frame *h, uint32 code, const char *msg)
{
	struct dr1_buf b = {0};
	struct dr1_frame e = {0, DR1_ERROR, h->id};

	dr1_error_encode(&b, code, msg, strlen(msg));
	if (b.failed)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	e.len = (uint32) b.len;
	on_end(me, &e, b.data);
	dr1_buf_free(&b);
}

/* A DONE or ERROR goes to the backend only if it decodes. */
static void
on_answer(ModelEngine *me, const struct dr1_frame *h, const char *payload)
{
	struct dr1_done_msg done;
	uint32		code;
	struct dr1_str msg;

	if (h->type == DR1_DONE ? dr1_done_decode(payload, h->len, &done)
		: dr1_error_decode(payload, h->len, &code, &msg))
		on_end(me, h, payload);
	else
		end_with_error(me, h, DR1_ERR_ENGINE, "the engine process sent a malformed answer");
}

static void
handle_frame(ModelEngine *me, const struct dr1_frame *h, const char *payload)
{
	switch (h->type)
	{
		case DR1_READY:
			on_ready(me, payload, h->len);
			break;
		case DR1_LOAD_FAILED:
			on_load_failed(me, payload, h->len);
			break;
		case DR1_STATS:
			on_stats(me, payload, h->len);
			break;
		case DR1_STARTED:
		case DR1_PREFILLED:
		case DR1_TOKEN:
			on_progress(h, payload);
			break;
		case DR1_DONE:
		case DR1_ERROR:
			on_answer(me, h, payload);
			break;
		default:
			break;
	}
}

/* Read what the engine sent and handle every whole frame; a frame over
 * the limit fails its request (protocol.h). */
static void
poll_engine(ModelEngine *me)
{
	int			rc = dr1_engine_read(&me->e);
	struct dr1_frame h;
	const char *payload;
	enum dr1_in_result r;

	/* a frame may stop the engine (LOAD_FAILED): its buffer is gone then */
	while (me->e.pid > 0 && (r = dr1_engine_next_frame(&me->e, &h, &payload)) != DR1_IN_NONE)
	{
		if (r == DR1_IN_FRAME)
			handle_frame(me, &h, payload);
		else if (h.type == DR1_DONE || h.type == DR1_ERROR)
		{
			char		msg[128];

			snprintf(msg, sizeof msg, "the answer is %u bytes, more than the limit of %u bytes",
					 h.len, DR1_FRAME_MAX);
			end_with_error(me, &h, DR1_ERR_TOO_LONG, msg);
		}
	}
	if (me->e.pid > 0 && (rc < 0 || !dr1_engine_flush(&me->e)))
		restart_engine(me, "while running this request");
}

/* Attach to a call a backend has just put in slot i. */
static void
take_call(int i, uint64 id, int32 n, DR1Role role, dsm_handle handle)
{
	WorkerCall *c = &calls[i];
	shm_mq	   *mq;

	c->id = id;
	c->n = n;
	c->role = role;
	c->seg = dsm_attach(handle);
	if (!c->seg)
	{
		finish_call(i);			/* its backend already gave up */
		return;
	}
	dsm_pin_mapping(c->seg);
	c->shm = dsm_segment_address(c->seg);
	c->reqs = MemoryContextAllocZero(TopMemoryContext, sizeof(WorkerRequest) * n);
	c->replies = MemoryContextAlloc(TopMemoryContext, sizeof(char *) * (n + 1));
	c->reply_lens = MemoryContextAlloc(TopMemoryContext, sizeof(Size) * (n + 1));
	mq = (shm_mq *) ((char *) c->shm + c->shm->mq_offset);
	shm_mq_set_sender(mq, MyProc);
	c->mqh = shm_mq_attach(mq, c->seg, NULL);
}

/* A backend gave up on slot i (error, cancel, timeout). */
static void
drop_call(int i, uint64 id)
{
	WorkerCall *c = &calls[i];

	if (c->id == id)
	{
		cancel_in_engine(i);
		if (!c->failed)
			count_canceled(c->n - c->n_ended);
		finish_call(i);
		return;
	}
	count_canceled(dr1_shared->slots[i].n_requests);
	SpinLockAcquire(&dr1_shared->mutex);
	if (dr1_shared->slots[i].id == id)
		dr1_shared->slots[i].state = DR1_SLOT_FREE;
	SpinLockRelease(&dr1_shared->mutex);
}

static void
scan_slots(void)
{
	for (int i = 0; i < dr1_shared->n_slots; i++)
	{
		DR1Slot    *s = &dr1_shared->slots[i];
		DR1SlotState state;
		uint64		id;
		int32		n;
		DR1Role		role;
		dsm_handle	handle;

		SpinLockAcquire(&dr1_shared->mutex);
		state = s->state;
		id = s->id;
		n = s->n_requests;
		role = s->role;
		handle = s->handle;
		if (state == DR1_SLOT_NEW)
			s->state = DR1_SLOT_ACTIVE;
		SpinLockRelease(&dr1_shared->mutex);
		if (state == DR1_SLOT_NEW)
			take_call(i, id, n, role, handle);
		else if (state == DR1_SLOT_ABANDONED)
			drop_call(i, id);
	}
}

/* Request k of call i is over the frame limit: it fails its call, as an
 * engine error would, and is never sent. */
static void
refuse_request(int i, int32 k, Size len)
{
	WorkerCall *c = &calls[i];
	struct dr1_frame h = {0, DR1_ERROR, c->id + k};
	char		msg[160];

	snprintf(msg, sizeof msg, "the request is %zu bytes, more than the limit of %u bytes",
			 (size_t) len, DR1_FRAME_MAX);
	c->reqs[k].state = REQ_IN_ENGINE;	/* on_end takes it from there */
	c->in_engine++;
	c->next++;
	SpinLockAcquire(&dr1_shared->mutex);
	dr1_shared->models[c->role].engine_in_flight++;
	SpinLockRelease(&dr1_shared->mutex);
	end_with_error(&engines[c->role], &h, DR1_ERR_TOO_LONG, msg);
}

/*
 * Hand queued requests to engine me while it holds fewer than max_batch
 * (the embedding engine: DR1_EMBED_BATCH, one pass of it).
 * Each free place goes to the call with the fewest requests in the engine,
 * the oldest among equals (request ids follow submission order): a lone
 * batch fills the engine, but a long one does not shut out the calls of
 * other sessions, which get the next places that free up.
 */
static void
dispatch(ModelEngine *me)
{
	DR1State	state;
	int			in_flight;
	char		reason[DR1_REASON_MAX];

	SpinLockAcquire(&dr1_shared->mutex);
	state = MODEL(me)->state;
	strlcpy(reason, MODEL(me)->reason, sizeof reason);
	in_flight = MODEL(me)->engine_in_flight;
	SpinLockRelease(&dr1_shared->mutex);
	for (;;)
	{
		int			next = -1;
		WorkerCall *c;
		int32		k;
		Size		len;

		for (int i = 0; i < dr1_shared->n_slots; i++)
			if (calls[i].mqh && calls[i].role == me->role && !calls[i].failed &&
				calls[i].next < calls[i].n &&
				(next < 0 || calls[i].in_engine < calls[next].in_engine ||
				 (calls[i].in_engine == calls[next].in_engine &&
				  calls[i].id + calls[i].next < calls[next].id + calls[next].next)))
				next = i;
		if (next < 0)
			return;
		if (state == DR1_STATE_FAILED)
		{
			reply_error(next, DR1_ERR_UNAVAILABLE, reason);
			continue;
		}
		if (!me->e.ready ||
			in_flight >= (me->role == DR1_ROLE_EMBED ? DR1_EMBED_BATCH : dr1_max_batch) ||
			dr1_outq_pending(&me->e.out) >= DISPATCH_QUEUE_MAX)
			return;
		c = &calls[next];
		k = c->next;
		len = c->shm->offsets[k + 1] - c->shm->offsets[k];
		if (len > DR1_FRAME_MAX)
		{
			refuse_request(next, k, len);
			continue;
		}
		if (!dr1_engine_send(&me->e, DR1_SUBMIT, c->id + k, (char *) c->shm + c->shm->offsets[k], len))
			return;
		if (in_flight == 0)
			me->e.heard_at = GetCurrentTimestamp();	/* the watchdog starts now */
		c->reqs[k].state = REQ_IN_ENGINE;
		c->in_engine++;
		c->next++;
		in_flight++;
		SpinLockAcquire(&dr1_shared->mutex);
		MODEL(me)->engine_in_flight++;
		SpinLockRelease(&dr1_shared->mutex);
	}
}

static void
retry_replies(void)
{
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (calls[i].id && calls[i].reply_head < calls[i].reply_tail)
			try_reply(i);
}

/* SIGHUP: restart an engine when one of its load settings changed, or
 * retry a failed load. */
static void
reload(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	for (int r = 0; r < DR1_N_ROLES; r++)
	{
		ModelEngine *me = &engines[r];
		char		settings[sizeof me->e.settings];

		dr1_engine_settings(me->role, settings, sizeof settings);
		/* an unset model stays failed: nothing to retry */
		if (strcmp(settings, me->e.settings) == 0 &&
			(!me->load_failed || !dr1_role_model(me->role)[0]))
			continue;
		ereport(LOG, (errmsg("deepseek_r1: settings of %s changed, (re)starting its engine process",
							 dr1_role_setting(me->role))));
		if (me->e.pid > 0)
			stop_engine(me, "because the configuration changed");
		strlcpy(me->e.settings, settings, sizeof me->e.settings);
		me->load_failed = false;
		me->load_deaths = 0;
		me->backoff_ms = 0;
		start_engine(me);
	}
}

static void
shutdown_worker(void)
{
	for (int r = 0; r < DR1_N_ROLES; r++)
		stop_engine(&engines[r], "because the deepseek_r1 worker is shutting down");
	for (int i = 0; i < dr1_shared->n_slots; i++)
		if (calls[i].id)
			finish_call(i);
	ereport(LOG, (errmsg("deepseek_r1: worker shutting down")));
	proc_exit(1);				/* 1: the postmaster starts it again */
}

/*
 * Sleep until the latch is set, an engine socket is ready, or timeout_ms
 * pass.  The set is built for each wait: which engines run changes, and
 * building it costs one epoll descriptor, next to the work a wake-up does.
 */
static void
wait_for_events(long timeout_ms)
{
	WaitEventSet *set;
	WaitEvent	ev;

#if PG_VERSION_NUM >= 170000
	set = CreateWaitEventSet(NULL, 2 + DR1_N_ROLES);
#else
	set = CreateWaitEventSet(CurrentMemoryContext, 2 + DR1_N_ROLES);
#endif
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int r = 0; r < DR1_N_ROLES; r++)
	{
		DR1Engine  *e = &engines[r].e;

		if (e->pid > 0)
			AddWaitEventToSet(set, WL_SOCKET_READABLE |
							  (dr1_outq_pending(&e->out) ? WL_SOCKET_WRITEABLE : 0),
							  e->fd, NULL, NULL);
		else if (engines[r].restart_at)
			timeout_ms = Max(1, Min(timeout_ms,
									TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
																	engines[r].restart_at)));
	}
	(void) WaitEventSetWait(set, timeout_ms, &ev, 1, PG_WAIT_EXTENSION);
	FreeWaitEventSet(set);
	ResetLatch(MyLatch);
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
	for (int r = 0; r < DR1_N_ROLES; r++)
	{
		dr1_engine_settings(engines[r].role, engines[r].e.settings, sizeof engines[r].e.settings);
		start_engine(&engines[r]);
	}

	for (;;)
	{
		wait_for_events(WAKE_MAX_MS);
		/*
		 * DROP DATABASE and DROP TABLESPACE wait until every process has
		 * absorbed their barrier.  Not CHECK_FOR_INTERRUPTS: a SIGINT
		 * (pg_cancel_backend) would end the worker with an ERROR there.
		 */
		if (ProcSignalBarrierPending)
			ProcessProcSignalBarrier();
		if (got_sigterm)
			shutdown_worker();
		if (ConfigReloadPending)
			reload();
		for (int r = 0; r < DR1_N_ROLES; r++)
		{
			ModelEngine *me = &engines[r];

			if (me->e.pid > 0)
				poll_engine(me);
			else if (me->restart_at && GetCurrentTimestamp() >= me->restart_at)
				start_engine(me);
		}
		scan_slots();
		for (int r = 0; r < DR1_N_ROLES; r++)
		{
			dispatch(&engines[r]);
			if (!dr1_engine_flush(&engines[r].e))
				restart_engine(&engines[r], "while running this request");
		}
		retry_replies();
		for (int r = 0; r < DR1_N_ROLES; r++)
			check_watchdog(&engines[r]);
	}
}
