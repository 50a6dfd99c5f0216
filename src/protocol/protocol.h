/*
 * protocol.h — the wire protocol between the extension's background worker
 * and the engine process (`deepseek-r1 serve`).
 *
 * Plain C with no PostgreSQL or engine include: both sides use it.  The two
 * ends are always the same build on the same machine (the worker execs the
 * program installed with the module), so integers travel in native byte
 * order and the fixed parts are plain structs.
 *
 * A frame is a struct dr1_frame followed by len bytes of payload.  Requests
 * carry a 64-bit id chosen by the worker; every event names the request it
 * belongs to.  Several requests may be in flight: the engine queues what it
 * cannot run yet, and ends every request it accepted with exactly one DONE
 * or ERROR frame (a CANCEL for a request it still knows gives DONE with
 * finish "cancel" or ERROR DR1_ERR_CANCELED; a CANCEL for one that already
 * ended is ignored).
 *
 *   worker -> engine   SUBMIT   struct dr1_submit, then strings, then ids
 *                      CANCEL   (no payload)
 *   engine -> worker   READY    model description, JSON text (id 0)
 *                      LOAD_FAILED  the load error, text (id 0)
 *                      STARTED  int32 prompt tokens: the request left the queue
 *                      PREFILLED int32 prompt tokens in its KV cache so far
 *                               (after each prompt chunk)
 *                      TOKEN    int32 tokens generated so far
 *                      DONE     struct dr1_done, then ids, then floats, then 3 strings
 *                      ERROR    uint32 code, then the message text
 *                      STATS    struct dr1_stats (id 0)
 *
 * A string is a uint32 byte length and that many bytes of UTF-8 (no NUL).
 *
 * Neither side ever blocks writing: each queues its frames (dr1_outq) and
 * reads whatever the other sent (dr1_inbuf) whenever it waits.  While the
 * engine holds any request it sends a frame (STATS at the least) every
 * second, so that the worker can tell a stuck engine from a busy one.
 *
 * The worker passes DR1_PROTOCOL_VERSION to the program (`serve --protocol
 * N`), which refuses to serve another version with LOAD_FAILED: a module
 * and a program from different builds fail with a clear reason rather than
 * misreading each other's frames.
 *
 * Version 2: SUBMIT carries choices; STATS.
 * Version 3: EMBED and CHUNK requests (an embedding model's engine process,
 * `serve --embedding`); DONE carries floats.
 * Version 4: SUBMIT carries the sparse attention of a COMPLETE; PREFILLED.
 * Version 5: SUBMIT may carry a JSON Schema (DR1_FLAG_SCHEMA).
 */
#ifndef DR1_PROTOCOL_H
#define DR1_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DR1_PROTOCOL_VERSION 5
/*
 * The largest payload either side sends or accepts.  It bounds what one
 * request costs the worker and the engine in memory (a frame is held whole
 * at each end); 64 MB is far beyond any context (a tokenize of a 64 MB text
 * is the largest request).  The backend refuses bigger requests (54000), the
 * worker refuses to forward them, and each side answers a bigger frame from
 * its peer with an ERROR for its id (skipping its bytes) instead of giving
 * up on the connection.
 */
#define DR1_FRAME_MAX ((uint32_t) 64 << 20)

/*
 * What generate_json (SQL) and `generate --schema` add after the prompt, then
 * the schema's text: the mask makes the answer fit the schema whatever the
 * model knows, the words make what it writes inside it sensible.
 */
#define DR1_SCHEMA_INSTRUCTION "\n\nAnswer with one JSON value only, compact, that matches this JSON Schema:\n"


enum dr1_frame_type
{
	DR1_SUBMIT = 1,
	DR1_CANCEL,
	DR1_READY,
	DR1_LOAD_FAILED,
	DR1_STARTED,
	DR1_TOKEN,
	DR1_DONE,
	DR1_ERROR,
	DR1_STATS,
	DR1_PREFILLED
};

struct dr1_frame
{
	uint32_t	len;			/* payload bytes after this header */
	uint32_t	type;			/* enum dr1_frame_type */
	uint64_t	id;
};

enum dr1_request_kind
{
	DR1_REQ_COMPLETE = 1,		/* messages in, text out */
	DR1_REQ_TOKENIZE,			/* one string in, ids out */
	DR1_REQ_DETOKENIZE,			/* ids in, text out */
	DR1_REQ_EMBED,				/* one string in, its embedding (floats) out */
	DR1_REQ_CHUNK				/* one string in, its chunks out: ids holds
								 * (start, end) byte offsets, a pair a chunk */
};

#define DR1_FLAG_RAW 1			/* one message: its content is a plain prompt */
#define DR1_FLAG_TRUNCATE 2		/* EMBED: cut an input over the model's limit */
#define DR1_FLAG_SCHEMA 4		/* COMPLETE: one more string, a JSON Schema the
								 * answer fits (json_schema.h) */

/*
 * SUBMIT payload: this struct, then n_messages pairs of strings (role,
 * content), then n_stops strings, then n_choices strings, then the schema
 * (with DR1_FLAG_SCHEMA), then n_ids int32.
 * TOKENIZE sends its text as the content of a single message.  With
 * choices the answer is exactly one of them and max_tokens does not apply
 * (a choice ends by itself).  EMBED, TOKENIZE and CHUNK send their text as
 * the content of a single message; CHUNK's chunks have at most max_tokens
 * tokens of the embedding model, and each after the first repeats the last
 * chunk_overlap tokens of the one before (in whole words).
 */
struct dr1_submit
{
	uint32_t	kind;			/* enum dr1_request_kind */
	uint32_t	flags;
	int32_t		max_tokens;
	int32_t		top_k;
	float		temperature;
	float		top_p;
	uint64_t	seed;
	uint32_t	n_messages;
	uint32_t	n_stops;
	uint32_t	n_ids;
	uint32_t	n_choices;
	int32_t		chunk_overlap;
	int32_t		sparse_budget;	/* COMPLETE: decode's sparse attention, 0: dense */
	int32_t		sparse_min_context;
};

/* DONE payload: this struct, then n_ids int32 (tokenize, chunk), then
 * n_floats float (embed: the L2-normalised embedding), then the strings
 * text (all of it), content (after the reasoning) and reasoning. */
enum dr1_finish
{
	DR1_FINISH_LENGTH,			/* max_tokens or the context reached */
	DR1_FINISH_STOP,			/* end of turn or a stop string */
	DR1_FINISH_CANCEL
};

struct dr1_done
{
	uint32_t	finish;			/* enum dr1_finish */
	int32_t		n_prompt;
	int32_t		n_generated;
	uint32_t	n_ids;
	uint32_t	n_floats;
	double		prefill_seconds;
	double		decode_seconds;
	double		engine_seconds; /* from receiving SUBMIT to sending DONE */
};

/*
 * STATS payload: the engine scheduler's state and its counters since the
 * engine process started.  Sent after READY, then after scheduler steps
 * when something changed, at most every DR1_STATS_INTERVAL_MS while
 * requests run, and always when the last request has ended, so that the
 * figures of an idle engine are exact (a cancelled request's KV blocks are
 * seen freed).
 */
#define DR1_STATS_INTERVAL_MS 100

struct dr1_stats
{
	int32_t		kv_blocks_used;
	int32_t		kv_blocks_total;
	int32_t		waiting;		/* requests queued in the scheduler */
	int32_t		running;
	int64_t		prompt_tokens;	/* submitted */
	int64_t		prefill_tokens; /* computed: not taken from the prefix cache,
								 * counted again when recomputed after a
								 * preemption */
	int64_t		generated_tokens;
	int64_t		preemptions;
};

enum dr1_error_code
{
	DR1_ERR_ARGUMENT = 1,		/* a bad parameter or input */
	DR1_ERR_TOO_LONG,			/* the prompt does not fit the context */
	DR1_ERR_CANCELED,			/* a CANCEL came while serve still tokenized it;
								 * the worker cancels only calls whose backend
								 * left or failed, so it goes no further */
	DR1_ERR_UNAVAILABLE,		/* no model loaded (sent by the worker) */
	DR1_ERR_ENGINE				/* anything else */
};

/*
 * Reading a payload: a cursor that never reads past the end.  Every getter
 * returns false (and leaves the cursor failed) when the payload is short.
 */
struct dr1_cursor
{
	const char *p;
	const char *end;
	bool		ok;
};

static inline void
dr1_cursor_init(struct dr1_cursor *c, const void *data, size_t len)
{
	c->p = (const char *) data;
	c->end = c->p + len;
	c->ok = true;
}

static inline bool
dr1_get(struct dr1_cursor *c, void *dst, size_t n)
{
	if (!c->ok || (size_t) (c->end - c->p) < n)
		return c->ok = false;
	if (n)
		memcpy(dst, c->p, n);
	c->p += n;
	return true;
}

/* A string: *s points into the payload (not NUL-terminated). */
static inline bool
dr1_get_str(struct dr1_cursor *c, const char **s, uint32_t *len)
{
	if (!dr1_get(c, len, sizeof *len) || (size_t) (c->end - c->p) < *len)
		return c->ok = false;
	*s = c->p;
	c->p += *len;
	return true;
}

/* ---- protocol.c -------------------------------------------------------- */

/* A string of a payload, not NUL-terminated. */
struct dr1_str
{
	const char *s;
	uint32_t	len;
};

/*
 * Where the buffers get their memory: malloc and free unless a caller
 * gives its own (a PostgreSQL backend passes palloc-based functions).
 * realloc_fn gets NULL to allocate and returns NULL on failure.
 */
struct dr1_allocator
{
	void	   *(*realloc_fn) (void *ptr, size_t size);
	void		(*free_fn) (void *ptr);
};

/*
 * A growable byte buffer.  Zero-initialised it is empty and uses malloc.
 * An allocation failure sets failed and drops every later append, so a
 * writer checks once at the end.
 */
struct dr1_buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		failed;
	const struct dr1_allocator *alloc;	/* NULL: malloc */
};

extern bool dr1_buf_put(struct dr1_buf *b, const void *data, size_t len);
extern bool dr1_buf_put_str(struct dr1_buf *b, const char *s, size_t len);
extern void dr1_buf_free(struct dr1_buf *b);

/*
 * Payload encoders: each appends one payload to b (which the caller checks
 * for failed).  strs of a SUBMIT are its n_messages (role, content) pairs,
 * then its stops, then its choices, then its schema (DR1_FLAG_SCHEMA).
 */
extern void dr1_submit_encode(struct dr1_buf *b, const struct dr1_submit *h,
							  const struct dr1_str *strs, const int32_t *ids);
extern void dr1_done_encode(struct dr1_buf *b, const struct dr1_done *d, const int32_t *ids,
							const float *floats, struct dr1_str text, struct dr1_str content,
							struct dr1_str reasoning);
extern void dr1_error_encode(struct dr1_buf *b, uint32_t code, const char *msg, size_t len);

/*
 * Payload decoders: each checks the whole payload (lengths, counts, enum
 * values, nothing left over) and returns false when it is malformed.  What
 * they return points into the payload; ids are unaligned int32 (copy them
 * out with memcpy).
 */
struct dr1_submit_msg
{
	struct dr1_submit h;
	uint32_t	n_strings;		/* 2 * n_messages + n_stops + n_choices (+ 1: schema) */
	struct dr1_cursor strings;	/* at the first: dr1_get_str n_strings times */
	const char *ids;
};

struct dr1_done_msg
{
	struct dr1_done d;
	const char *ids;
	const char *floats;			/* unaligned too */
	struct dr1_str text;
	struct dr1_str content;
	struct dr1_str reasoning;
};

extern bool dr1_submit_decode(const void *payload, size_t len, struct dr1_submit_msg *m);
extern bool dr1_done_decode(const void *payload, size_t len, struct dr1_done_msg *m);
extern bool dr1_error_decode(const void *payload, size_t len, uint32_t *code, struct dr1_str *msg);
extern bool dr1_stats_decode(const void *payload, size_t len, struct dr1_stats *st);
extern bool dr1_int_decode(const void *payload, size_t len, int32_t *v);

/* "length", "stop" or "cancel": the OpenAI names, for chat() and the CLI */
extern const char *dr1_finish_name(uint32_t finish);

/*
 * The outgoing queue of one side: frames are built in place (begin, the
 * payload encoders on the returned buffer, end) and written without ever
 * blocking; what the socket does not take waits for the next write.
 */
struct dr1_outq
{
	struct dr1_buf b;
	size_t		head;			/* bytes before it are written */
	size_t		frame;			/* start of the frame being built */
};

enum dr1_out_result
{
	DR1_OUT_OK,
	DR1_OUT_TOO_LONG,			/* the payload is over DR1_FRAME_MAX: dropped */
	DR1_OUT_NO_MEMORY			/* dropped */
};

extern struct dr1_buf *dr1_outq_begin(struct dr1_outq *q, uint32_t type, uint64_t id);
extern enum dr1_out_result dr1_outq_end(struct dr1_outq *q);
extern enum dr1_out_result dr1_outq_frame(struct dr1_outq *q, uint32_t type, uint64_t id,
										  const void *payload, size_t len);
extern int	dr1_outq_write(struct dr1_outq *q, int fd);
extern void dr1_outq_free(struct dr1_outq *q);

static inline size_t
dr1_outq_pending(const struct dr1_outq *q)
{
	return q->b.len - q->head;
}

/*
 * The incoming buffer of one side.  Bytes go in through dr1_in_space and
 * dr1_in_commit (dr1_in_read does both from a socket); dr1_in_next hands
 * out complete frames.  A frame over DR1_FRAME_MAX is reported once
 * (DR1_IN_TOO_LONG, with its header) and its payload skipped as it comes,
 * never buffered.  A payload stays valid until the next dr1_in_space.
 */
struct dr1_inbuf
{
	struct dr1_buf b;
	size_t		off;			/* start of the next frame in b */
	uint64_t	skip;			/* bytes of a refused frame still to drop */
};

enum dr1_in_result
{
	DR1_IN_NONE,				/* no complete frame yet */
	DR1_IN_FRAME,
	DR1_IN_TOO_LONG
};

extern char *dr1_in_space(struct dr1_inbuf *in, size_t *avail);
extern void dr1_in_commit(struct dr1_inbuf *in, size_t n);
extern int	dr1_in_read(struct dr1_inbuf *in, int fd, size_t max);
extern enum dr1_in_result dr1_in_next(struct dr1_inbuf *in, struct dr1_frame *h,
									  const char **payload);
extern void dr1_in_free(struct dr1_inbuf *in);

#endif
