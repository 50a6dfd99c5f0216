/*
 * pg_init.c — loading the module: settings, shared memory hooks and the
 * background worker's registration.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "deepseek_r1.h"

PG_MODULE_MAGIC;

/*
 * Defaults and bounds of the settings, each written once (a variable's
 * initial value is its boot value).  The upper bounds of threads,
 * context_length and max_batch are also the ranges of the options the
 * worker passes to `deepseek-r1 serve` (src/cli/options.h): keep them equal.
 */
#define THREADS_MAX 1024			/* serve -t */
#define CONTEXT_LENGTH_DEFAULT 4096
#define CONTEXT_LENGTH_MAX (1 << 24)	/* serve -c */
#define MAX_BATCH_DEFAULT 8
#define MAX_BATCH_MAX 1024			/* serve --max-batch */
#define MAX_TOKENS_LIMIT_DEFAULT 4096
#define ENGINE_WATCHDOG_DEFAULT_MS 30000	/* 30 s: a step takes well under it */
#define LOAD_TIMEOUT_DEFAULT_MS 600000	/* 10 min: a large model loads in minutes */

char	   *dr1_model = NULL;
char	   *dr1_embedding_model = NULL;
int			dr1_device = DR1_DEVICE_AUTO;
int			dr1_threads = 0;
int			dr1_context_length = CONTEXT_LENGTH_DEFAULT;
int			dr1_kv_cache_memory = 0;
int			dr1_max_batch = MAX_BATCH_DEFAULT;
int			dr1_max_tokens_limit = MAX_TOKENS_LIMIT_DEFAULT;
int			dr1_request_timeout = 0;
bool		dr1_prefix_sharing = true;
int			dr1_kv_cache_type = DR1_KV_F16;
int			dr1_sparse_attention = DR1_SPARSE_OFF;
int			dr1_sparse_budget = DR1_SPARSE_BUDGET_DEFAULT;
int			dr1_sparse_min_context = DR1_SPARSE_MIN_CONTEXT_DEFAULT;
char	   *dr1_engine_program = NULL;
int			dr1_engine_watchdog = ENGINE_WATCHDOG_DEFAULT_MS;
int			dr1_load_timeout = LOAD_TIMEOUT_DEFAULT_MS;

const struct config_enum_entry dr1_device_options[] = {
	{"auto", DR1_DEVICE_AUTO, false},
	{"cpu", DR1_DEVICE_CPU, false},
	{"cuda", DR1_DEVICE_CUDA, false},
	{NULL, 0, false}
};

const struct config_enum_entry dr1_kv_cache_type_options[] = {
	{"f16", DR1_KV_F16, false},
	{"q8_0", DR1_KV_Q8_0, false},
	{NULL, 0, false}
};

const struct config_enum_entry dr1_sparse_options[] = {
	{"off", DR1_SPARSE_OFF, false},
	{"on", DR1_SPARSE_ON, false},
	{"auto", DR1_SPARSE_AUTO, false},
	{NULL, 0, false}
};

const char *
dr1_option_name(const struct config_enum_entry *options, int value)
{
	for (; options->name; options++)
		if (options->val == value)
			return options->name;
	return "?";
}

int
dr1_option_value(const struct config_enum_entry *options, const char *name)
{
	for (; options->name; options++)
		if (strcmp(options->name, name) == 0)
			return options->val;
	return -1;
}

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static bool
check_device(int *newval, void **extra, GucSource source)
{
#ifndef DR1_HAVE_CUDA
	if (*newval == DR1_DEVICE_CUDA)
	{
		GUC_check_errdetail("This build of deepseek_r1 has no CUDA support; use \"auto\" or \"cpu\".");
		return false;
	}
#endif
	return true;
}

static void
define_settings(void)
{
	DefineCustomStringVariable("deepseek_r1.model",
							   "Path of the GGUF model file the worker serves.",
							   NULL, &dr1_model, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("deepseek_r1.embedding_model",
							   "Path of the GGUF embedding model the worker serves beside the model.",
							   "Its own engine process serves embed(), embed_batch(), chunk() and embed_table().",
							   &dr1_embedding_model, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomEnumVariable("deepseek_r1.device",
							 "Where the engine runs the model: auto, cpu or cuda.",
							 NULL, &dr1_device, DR1_DEVICE_AUTO, dr1_device_options,
							 PGC_SIGHUP, 0, check_device, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.threads",
							"CPU threads of the engine process (0: one per core).",
							NULL, &dr1_threads, 0, 0, THREADS_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.context_length",
							"Most tokens (prompt and answer) one request may hold (0: the model's own).",
							NULL, &dr1_context_length, CONTEXT_LENGTH_DEFAULT, 0, CONTEXT_LENGTH_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.kv_cache_memory",
							"Memory for the KV cache (0: room for max_batch requests of context_length).",
							NULL, &dr1_kv_cache_memory, 0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.max_batch",
							"Most requests handed to the engine process at once; the rest wait in the worker.",
							NULL, &dr1_max_batch, MAX_BATCH_DEFAULT, 1, MAX_BATCH_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("deepseek_r1.prefix_sharing",
							 "Share the KV blocks of common prompt prefixes between requests.",
							 NULL, &dr1_prefix_sharing, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("deepseek_r1.kv_cache_type",
							 "How the KV cache stores keys and values: f16, or q8_0 (about half the memory).",
							 NULL, &dr1_kv_cache_type, DR1_KV_F16, dr1_kv_cache_type_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("deepseek_r1.sparse_attention",
							 "Dynamic sparse attention while decoding: off, on, or auto (from sparse_min_context).",
							 NULL, &dr1_sparse_attention, DR1_SPARSE_OFF, dr1_sparse_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.sparse_budget",
							"Tokens of context one decode step attends to under sparse attention.",
							NULL, &dr1_sparse_budget, DR1_SPARSE_BUDGET_DEFAULT,
							DR1_SPARSE_BUDGET_MIN, DR1_SPARSE_BUDGET_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.sparse_min_context",
							"Context from which sparse_attention = auto attends sparsely.",
							NULL, &dr1_sparse_min_context, DR1_SPARSE_MIN_CONTEXT_DEFAULT,
							0, DR1_SPARSE_BUDGET_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.max_tokens_limit",
							"Largest max_tokens a request may ask for.",
							NULL, &dr1_max_tokens_limit, MAX_TOKENS_LIMIT_DEFAULT, 1, DR1_MAX_TOKENS_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.request_timeout",
							"Longest a request may wait and run (0: no limit).",
							NULL, &dr1_request_timeout, 0, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("deepseek_r1.engine_program",
							   "Program the worker runs as its engine process (empty: deepseek-r1 beside postgres).",
							   NULL, &dr1_engine_program, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.engine_watchdog",
							"Longest the engine process may hold requests without sending anything "
							"before the worker restarts it (0: never).",
							NULL, &dr1_engine_watchdog, ENGINE_WATCHDOG_DEFAULT_MS, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("deepseek_r1.load_timeout",
							"Longest the engine process may take to load the model before the worker "
							"counts it as a failed start (0: no limit).",
							NULL, &dr1_load_timeout, LOAD_TIMEOUT_DEFAULT_MS, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("deepseek_r1");
#else
	EmitWarningsOnPlaceholders("deepseek_r1");
#endif
}

#if PG_VERSION_NUM >= 150000
static void
dr1_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(dr1_shmem_size());
}
#endif

static void
dr1_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	dr1_shmem_startup();
}

static void
register_worker(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof w);
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 1;
	strlcpy(w.bgw_library_name, "deepseek_r1", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "dr1_worker_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "deepseek_r1 worker", BGW_MAXLEN);
	strlcpy(w.bgw_type, "deepseek_r1 worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}

void
_PG_init(void)
{
	define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;					/* the SQL functions say what to do */
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = dr1_shmem_request;
#else
	RequestAddinShmemSpace(dr1_shmem_size());
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = dr1_shmem_startup_hook;
	register_worker();
}
