/*
 * deepseek_r1.h — what the extension's files share: settings, the shared
 * memory layout, and the entry points of the worker and the backend side.
 *
 * Process model (docs/architecture.md, "The extension"): backends hand
 * requests to the background worker through request slots in fixed shared
 * memory and one DSM segment per call; the worker relays them to the engine process over a socketpair
 * (src/protocol/protocol.h).  A call is what one SQL function call submits at
 * once: one request (generate, chat, tokenize) or up to DR1_MAX_PROMPTS
 * (generate_batch, a batch of enrich).
 */
#ifndef DEEPSEEK_R1_H
#define DEEPSEEK_R1_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/dsm.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/guc.h"

#include "dr1_limits.h"	/* the limits of one call (README) */
#include "protocol.h"

/* settings (pg_init.c) */
extern char *dr1_model;
extern char *dr1_embedding_model;
extern int	dr1_device;
extern int	dr1_threads;
extern int	dr1_context_length;
extern int	dr1_kv_cache_memory;	/* kB, 0 = max_batch whole contexts */
extern int	dr1_max_batch;
extern int	dr1_max_tokens_limit;
extern int	dr1_request_timeout;	/* ms, 0 = none */
extern bool dr1_prefix_sharing;
extern int	dr1_kv_cache_type;	/* enum dr1_kv_cache_type */
extern int	dr1_sparse_attention;	/* enum dr1_sparse_mode */
extern int	dr1_sparse_budget;	/* tokens */
extern int	dr1_sparse_min_context; /* tokens */
extern char *dr1_engine_program;	/* "" = deepseek-r1 next to postgres */
extern int	dr1_engine_watchdog;	/* ms, 0 = off */
extern int	dr1_load_timeout;	/* ms, 0 = off */


enum dr1_device
{
	DR1_DEVICE_AUTO,
	DR1_DEVICE_CPU,
	DR1_DEVICE_CUDA
};

/* deepseek_r1.kv_cache_type: serve --kv-type */
enum dr1_kv_cache_type
{
	DR1_KV_F16,
	DR1_KV_Q8_0
};


/* deepseek_r1.sparse_attention and the sparse argument of generate; the
 * values of the engine's enum sparse_mode */
enum dr1_sparse_mode
{
	DR1_SPARSE_OFF,
	DR1_SPARSE_ON,
	DR1_SPARSE_AUTO
};

/* The names and values of the enum settings above (pg_init.c): the name of
 * a value ("?" for none), the value of a name (exactly as written; -1 for
 * none). */
extern const struct config_enum_entry dr1_device_options[];
extern const struct config_enum_entry dr1_kv_cache_type_options[];
extern const struct config_enum_entry dr1_sparse_options[];
extern const char *dr1_option_name(const struct config_enum_entry *options, int value);
extern int	dr1_option_value(const struct config_enum_entry *options, const char *name);

/*
 * The two resident models, each served by its own engine process
 * (docs/architecture.md, "The embedding model"): a request goes to one of
 * them by its kind (dr1_role_of_kind).
 */
typedef enum DR1Role
{
	DR1_ROLE_GENERATE,			/* deepseek_r1.model */
	DR1_ROLE_EMBED,				/* deepseek_r1.embedding_model */
	DR1_N_ROLES
} DR1Role;

static inline DR1Role
dr1_role_of_kind(uint32 kind)
{
	return kind == DR1_REQ_EMBED || kind == DR1_REQ_CHUNK ? DR1_ROLE_EMBED : DR1_ROLE_GENERATE;
}

/* A model's state, as status() shows it. */
typedef enum DR1State
{
	DR1_STATE_STARTING,			/* no engine process yet, or restarting one */
	DR1_STATE_LOADING,			/* the engine process is loading the model */
	DR1_STATE_READY,
	DR1_STATE_FAILED			/* the load failed; reason says why */
} DR1State;

/*
 * A call's slot.  The backend owns a slot from claiming it (FREE -> NEW)
 * until its DSM segment is detached; the worker takes NEW slots (-> ACTIVE)
 * and marks them DONE once every answer is sent.  Whichever side finishes
 * second frees the slot: the backend's detach callback frees a NEW or DONE
 * slot and turns an ACTIVE one into ABANDONED, which the worker then
 * cancels in the engine (every request of the call) and frees.
 */
typedef enum DR1SlotState
{
	DR1_SLOT_FREE,
	DR1_SLOT_NEW,
	DR1_SLOT_ACTIVE,
	DR1_SLOT_DONE,
	DR1_SLOT_ABANDONED
} DR1SlotState;

/* What a call is part of, for the requests view: enrich's progress. */
#define DR1_TASK_MAX 128

typedef struct DR1Task
{
	char		name[DR1_TASK_MAX]; /* "" when the call is on its own */
	int64		done;
	int64		total;
} DR1Task;

typedef struct DR1Slot
{
	DR1SlotState state;
	int			pid;			/* backend */
	Oid			userid;			/* its role then: who may see the call */
	DR1Role		role;			/* the model its requests go to */
	uint64		id;				/* the call's first request id; its requests are
								 * id .. id + n_requests - 1, unique for the
								 * server's life */
	int32		n_requests;
	dsm_handle	handle;
	TimestampTz submitted;
	TimestampTz started;		/* when the engine began one of them; 0 while queued */
	int32		n_prompt;		/* summed over the call's requests */
	int32		n_prefilled;	/* prompt tokens in the KV cache, before the first token */
	int32		n_generated;
	int32		n_done;			/* requests answered */
	DR1Task		task;
} DR1Slot;

#define DR1_REASON_MAX 1024
#define DR1_INFO_MAX 4096

/* One model and the engine process that serves it. */
typedef struct DR1Model
{
	int			engine_pid;
	DR1State	state;
	char		reason[DR1_REASON_MAX]; /* why failed / restarting */
	char		model_path[MAXPGPATH];
	char		model_info[DR1_INFO_MAX];	/* JSON from the engine */
	TimestampTz ready_since;
	uint64		engine_starts;
	int32		kv_blocks_used; /* of the running engine (STATS frames) */
	int32		kv_blocks_total;
	int			kv_cache_type;	/* enum dr1_kv_cache_type the engine started with */
	int			engine_in_flight;	/* requests the engine still holds */
} DR1Model;

typedef struct DR1Shared
{
	slock_t		mutex;			/* protects everything below */
	int			worker_pid;		/* 0 while no worker runs */
	Latch	   *worker_latch;
	DR1Model	models[DR1_N_ROLES];
	uint64		next_id;
	/* counters since the server started */
	uint64		requests;
	uint64		requests_failed;
	uint64		requests_canceled;
	uint64		prompt_tokens;
	uint64		generated_tokens;
	uint64		prefill_tokens; /* prompt tokens the engine computed */
	uint64		preemptions;
	double		last_engine_seconds;	/* the engine's own time, last request */
	double		engine_seconds;		/* its sum over all requests */
	int			n_slots;
	DR1Slot		slots[FLEXIBLE_ARRAY_MEMBER];
} DR1Shared;

extern DR1Shared *dr1_shared;	/* NULL unless preloaded */

/* shmem.c */
extern Size dr1_shmem_size(void);
extern void dr1_shmem_startup(void);
extern const char *dr1_state_name(DR1State s);
extern void dr1_set_state(DR1Role role, DR1State s, const char *reason);
extern const char *dr1_role_setting(DR1Role role);
extern void dr1_wake_worker(void);

/* worker.c */
extern PGDLLEXPORT void dr1_worker_main(Datum arg);

/* engine_proc.c: the worker's handle on the engine process */
typedef struct DR1Engine
{
	int			pid;			/* 0 when not running */
	int			fd;				/* the worker's end of the socketpair */
	bool		ready;			/* READY received */
	struct dr1_inbuf in;		/* bytes received, not yet handled */
	struct dr1_outq out;		/* frames not yet written */
	TimestampTz heard_at;		/* when bytes last came (the watchdog) */
	char		settings[2 * MAXPGPATH + 256];	/* what it was started with */
} DR1Engine;

extern const char *dr1_role_model(DR1Role role);
extern void dr1_engine_settings(DR1Role role, char *buf, Size size);
extern bool dr1_engine_start(DR1Engine *e, DR1Role role, char *err, Size errsize);
extern void dr1_engine_stop(DR1Engine *e, char *why, Size whysize);
extern bool dr1_engine_send(DR1Engine *e, uint32 type, uint64 id, const void *payload, Size len);
extern bool dr1_engine_flush(DR1Engine *e);
extern int	dr1_engine_read(DR1Engine *e);
extern enum dr1_in_result dr1_engine_next_frame(DR1Engine *e, struct dr1_frame *h,
												const char **payload);

/*
 * The DSM segment of one call: the SUBMIT payloads its backend wrote
 * (request k's is the bytes offsets[k] .. offsets[k + 1] from the start of
 * the segment), then the shm_mq the worker answers on: one message per
 * request, a DONE or ERROR frame (header included) whose id names the
 * request.  An ERROR with id 0 is the worker's own and fails the whole call.
 */
typedef struct DR1CallShm
{
	Size		mq_offset;
	Size		offsets[FLEXIBLE_ARRAY_MEMBER]; /* the slot's n_requests + 1 */
} DR1CallShm;

#define DR1_MQ_SIZE 65536

/* request.c: the backend side of a call */
typedef struct DR1Result
{
	struct dr1_done done;
	int32	   *ids;
	char	   *text;			/* all three in the database encoding */
	char	   *content;
	char	   *reasoning;
	float4	   *floats;			/* embed: done.n_floats of them */
} DR1Result;

extern void dr1_check_available(void);
extern void dr1_put_str(StringInfo buf, const char *s, int len, bool convert);
extern char *dr1_text_from_engine(const char *s, Size len);
extern void dr1_run(StringInfoData *submits, int n, DR1Result *results, const DR1Task *task,
					const int *labels);

/*
 * functions.c: the arguments generate, generate_batch and enrich share
 * (max_tokens, temperature, top_p, top_k, seed, stop, system, raw,
 * include_reasoning, choices, sparse, sparse_budget, and for the last two
 * schema), checked once, and the run of many prompts with them.  With a
 * schema each answer is JSON text that fits it, and an answer max_tokens
 * cut short is an ERROR (54000).
 */
typedef struct DR1GenerateArgs
{
	struct dr1_submit h;		/* sampling, flags, counts */
	bool		random_seed;	/* seed NULL: each prompt draws its own */
	bool		has_system;
	Datum		system;
	Datum	   *stops;
	Datum	   *choices;
	char	   *schema;			/* JSON Schema text (database encoding) or NULL */
	bool		want_text;		/* the whole text, not the answer after the reasoning */
} DR1GenerateArgs;

extern void dr1_generate_args(FunctionCallInfo fcinfo, int first, DR1GenerateArgs *ga);
extern void dr1_schema_arg(FunctionCallInfo fcinfo, int i, DR1GenerateArgs *ga);
extern void dr1_bad_argument(const char *fmt,...) pg_attribute_printf(1, 2);
extern void dr1_generate_many(const DR1GenerateArgs *ga, const Datum *prompts, const bool *nulls,
							  int n, Datum *answers, bool *answer_nulls, const int *labels,
							  const DR1Task *task);

/* embed.c: the embeddings of many texts (real[]), NULL for NULL */
extern void dr1_embed_many(const Datum *texts, const bool *nulls, int n, bool truncate, Datum *out,
						   bool *out_nulls, const int *labels, const DR1Task *task);

/*
 * citus.c: enrich and embed_table on Citus tables.  How fill_table names a
 * row between its SELECT and its UPDATE: name (a text[]) and xmin are
 * select-list items; match is the UPDATE's condition on the name, $2.
 */
typedef struct DR1RowName
{
	const char *name;
	const char *xmin;
	const char *match;
} DR1RowName;

extern bool dr1_citus_fill(FunctionCallInfo fcinfo, const char *name, Oid relid,
						   const char *relname);
extern void dr1_citus_row_name(const char *name, Oid relid, const char *relname,
							   DR1RowName *row);

#endif
