/*
 * dr1_limits.h — the limits of one request, in one table that the extension
 * (argument checks before anything is sent) and the engine (its own checks
 * of what it receives) both use, so that the two can never disagree.
 *
 * Plain C with no include: the engine, the program and the PostgreSQL
 * module all include it.  (Not named limits.h: src/protocol is on the
 * include path, where it would hide the system's <limits.h>.)  README
 * lists the limits for users.
 */
#ifndef DR1_LIMITS_H
#define DR1_LIMITS_H

/* Sampling arguments.  top_p is in (0, 1]; max_tokens is bounded by the
 * setting deepseek_r1.max_tokens_limit, itself at most DR1_MAX_TOKENS_MAX. */
#define DR1_TEMPERATURE_MAX 100
#define DR1_TOP_K_MAX 1000000
#define DR1_MAX_TOKENS_MAX (1 << 24)

/* Strings of one request. */
#define DR1_MAX_STOPS 16
#define DR1_MAX_CHOICES 64

/*
 * Bytes of one text (a prompt, a message, a system prompt, a stop string,
 * a choice, the text of tokenize) in UTF-8: 8 MiB, some 2 million tokens,
 * more than real contexts hold.  The answer to tokenize (4 bytes per id,
 * at most one id per byte) must fit in one frame (request.c checks it
 * against DR1_FRAME_MAX at compile time), and the engine needs about 12
 * bytes of memory per byte while it tokenizes.
 */
#define DR1_MAX_TEXT_BYTES (8 << 20)

/* Token ids of one detokenize call: with the longest tokens of real
 * vocabularies (~250 bytes) the answer stays within a frame. */
#define DR1_MAX_DETOKENIZE_IDS (1 << 18)

/* Inputs of one pass of the embedding model; the worker hands its engine
 * this many at a time (deepseek_r1.max_batch bounds the generation
 * engine's). */
#define DR1_EMBED_BATCH 64

/* Positions of one KV cache block: the unit the pool is counted in
 * (status().kv_blocks_*), and sparse attention chooses. */
#define DR1_KV_BLOCK_TOKENS 32

/* Sparse attention's budget in tokens (deepseek_r1.sparse_budget, the
 * sparse_budget argument, the --sparse-budget option): at least two KV
 * blocks.  The defaults: a budget of DR1_SPARSE_BUDGET_DEFAULT, and auto
 * from a context of DR1_SPARSE_MIN_CONTEXT_DEFAULT. */
#define DR1_SPARSE_BUDGET_MIN 64
#define DR1_SPARSE_BUDGET_MAX (1 << 24)
#define DR1_SPARSE_BUDGET_DEFAULT 2048
#define DR1_SPARSE_MIN_CONTEXT_DEFAULT 8192

/* Requests of one call: generate_batch prompts, enrich's batch_size. */
#define DR1_MAX_PROMPTS 1024

#endif
