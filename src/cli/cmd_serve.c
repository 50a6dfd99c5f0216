/*
 * cmd_serve.c — `deepseek-r1 serve`: the engine process of the extension.
 *
 *   deepseek-r1 serve --fd N --protocol V -m FILE [-t THREADS] [-c CTX]
 *                     [--kv-bytes B] [--max-batch N] [--prefix-sharing on|off]
 *                     [--device auto|cpu|cuda] [--role generate|embed]
 *
 * The background worker starts this program with one end of a socketpair
 * as fd N and speaks protocol.h over it.  The model is loaded once; then
 * every request is tokenized on a thread of its own (offload.h), and
 * completions go on to one continuous-batching scheduler (up to
 * --max-batch of them run together) while tokenize and detokenize requests
 * are answered from there.  The main loop never blocks on the socket: it
 * reads whatever has come and writes what the socket takes between two
 * scheduler steps, frames it cannot write yet wait in its outgoing queue,
 * and while that queue is long it only reads and writes (no step adds to
 * it).  So a CANCEL stops its request at the next step, and neither this
 * program nor the worker can wait for the other forever.  When nothing
 * runs it waits on the socket.  A frame over the limit or one that does not
 * parse is answered with an ERROR for its id; nothing the worker sends ends
 * the program except end of file (the worker went away).
 *
 * With --role embed the model is an embedding model (the worker's second
 * engine process, deepseek_r1.embedding_model): it answers EMBED, CHUNK,
 * TOKENIZE and DETOKENIZE.  Embeds are tokenized on the offload thread
 * like the rest, then the main loop embeds all that are ready in batched
 * passes (up to DR1_EMBED_BATCH inputs, EMBED_BATCH_TOKENS tokens).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "chunk.h"
#include "cli.h"
#include "cli_util.h"
#include "cuda_backend.h"
#include "detokenizer.h"
#include "dr1_limits.h"
#include "embed.h"
#include "error.h"
#include "gen_request.h"
#include "gguf.h"
#include "offload.h"
#include "options.h"
#include "prompt.h"
#include "protocol.h"
#include "scheduler.h"

/* While more than this waits to be written, no step runs (it would add to it). */
#define OUT_QUEUE_HIGH ((size_t) 8 << 20)
/* Bytes read per pass of the main loop at most: steps go on while a large
 * request streams in. */
#define READ_MAX ((size_t) 4 << 20)
/* The most time between two frames while requests are held: the worker's
 * watchdog (deepseek_r1.engine_watchdog) takes silence for a hang. */
#define HEARTBEAT_SECONDS 1.0
/* One pass of the embedding model at most: the pass runs on the main loop,
 * so it is kept short enough (tens of ms) for CANCEL and STATS to flow. */
#define EMBED_BATCH_TOKENS 8192

/* The request's strings, copied NUL-terminated into one allocation. */
struct request
{
	struct dr1_submit h;
	char	  **str;			/* messages (role, content pairs), stops, choices */
	int32_t    *ids;
	char	   *arena;
};

/*
 * A request the program holds: first tokenized on the offload thread
 * (job), then, for a completion, in the scheduler (req).  Its stop strings
 * live in rq.  What the thread computed is in rc .. text.
 */
struct pending
{
	struct offload_job job;		/* first: the thread's handle on it */
	struct pending *next;
	struct pending *next_ready; /* embed: in the server's ready queue */
	struct server *s;
	uint64_t	id;
	double		received;
	struct request rq;
	struct sched_request *req;
	bool		canceled;		/* while on the thread */
	int			rc;
	uint32_t	code;			/* enum dr1_error_code when rc != 0 */
	char		err[ERR_MAX];
	struct token_list ids;		/* tokenize: the answer; complete, embed: the
								 * input; chunk: the (start, end) pairs */
	struct text_buf text;		/* detokenize: the answer */
};

struct server
{
	int			fd;
	struct model *m;
	struct infer_ctx *ic;
	struct scheduler *sched;
	struct offload *offload;
	struct dr1_inbuf in;
	struct dr1_outq out;
	struct pending *pending;
	bool		embedding;		/* --role embed: no scheduler */
	struct pending *ready;		/* embeds tokenized, in arrival order */
	struct pending **ready_tail;
	bool		eof;			/* the worker is gone, or a queue ran out of memory */
	bool		out_of_memory;
	struct dr1_stats stats_sent;	/* the last STATS frame */
	double		stats_at;		/* when it was sent */
};

/* A frame could not be queued for want of memory: the answers the worker
 * waits for would be lost, so end (the worker fails what we held). */
static void
queue_failed(struct server *s)
{
	s->out_of_memory = true;
	s->eof = true;
}

static void
send_frame(struct server *s, uint32_t type, uint64_t id, const void *payload, size_t len)
{
	if (dr1_outq_frame(&s->out, type, id, payload, len) != DR1_OUT_OK)
		queue_failed(s);
}

static void
send_error(struct server *s, uint64_t id, uint32_t code, const char *msg)
{
	dr1_error_encode(dr1_outq_begin(&s->out, DR1_ERROR, id), code, msg, strlen(msg));
	if (dr1_outq_end(&s->out) != DR1_OUT_OK)
		queue_failed(s);
}

static void
send_int(struct server *s, uint32_t type, uint64_t id, int32_t v)
{
	send_frame(s, type, id, &v, sizeof v);
}

static struct dr1_str
str_of(const struct text_buf *b)
{
	return (struct dr1_str) {b->s ? b->s : "", (uint32_t) b->len};
}

/* A DONE, or an ERROR when the answer is over the frame limit. */
static void
send_done(struct server *s, uint64_t id, double received, struct dr1_done *d,
		  const int32_t *ids, const float *floats, const struct text_buf *text,
		  const struct text_buf *content, const struct text_buf *reasoning)
{
	enum dr1_out_result rc;

	d->engine_seconds = clock_seconds() - received;
	dr1_done_encode(dr1_outq_begin(&s->out, DR1_DONE, id), d, ids, floats, str_of(text),
					str_of(content), str_of(reasoning));
	rc = dr1_outq_end(&s->out);
	if (rc == DR1_OUT_TOO_LONG)
	{
		char		msg[160];

		snprintf(msg, sizeof msg, "the answer is longer than the limit of %u bytes (%u token ids, "
				 "%zu bytes of text)", DR1_FRAME_MAX, d->n_ids, text->len);
		send_error(s, id, DR1_ERR_TOO_LONG, msg);
	}
	else if (rc != DR1_OUT_OK)
		queue_failed(s);
}

static void
request_free(struct request *rq)
{
	free(rq->str);
	free(rq->ids);
	free(rq->arena);
}

/* The SUBMIT payload, checked (protocol.c), into rq; false if it cannot be. */
static bool
parse_request(const char *payload, uint32_t len, struct request *rq)
{
	struct dr1_submit_msg m;
	char	   *a;

	memset(rq, 0, sizeof *rq);
	if (!dr1_submit_decode(payload, len, &m))
		return false;
	rq->h = m.h;
	rq->str = calloc(m.n_strings + 1, sizeof(char *));
	a = rq->arena = malloc((size_t) len + m.n_strings + 1);
	/* copied: the payload is not aligned in the input buffer */
	rq->ids = malloc((size_t) m.h.n_ids * sizeof(int32_t) + 1);
	if (!rq->str || !rq->arena || !rq->ids)
		return false;
	for (uint32_t i = 0; i < m.n_strings; i++)
	{
		const char *p;
		uint32_t	slen;

		if (!dr1_get_str(&m.strings, &p, &slen))
			return false;		/* cannot happen: decoded */
		memcpy(a, p, slen);
		a[slen] = '\0';
		rq->str[i] = a;
		a += slen + 1;
	}
	memcpy(rq->ids, m.ids, (size_t) m.h.n_ids * sizeof(int32_t));
	return true;
}

static void
pending_free(struct server *s, struct pending *p)
{
	struct pending **pp = &s->pending;

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	request_free(&p->rq);
	token_list_free(&p->ids);
	text_buf_free(&p->text);
	free(p);
}

/* ---- on the offload thread: only the model (read-only) and p ------------ */

static int
request_prompt(const struct model *m, const struct request *rq, struct token_list *prompt,
			   char *err)
{
	struct chat_message *msgs;
	int			rc;

	if (rq->h.n_messages == 0)
		return err_set(err, "the request has no message");
	if (rq->h.flags & DR1_FLAG_RAW)
		return prompt_tokens(m, rq->str[1], NULL, true, prompt, err);
	msgs = calloc(rq->h.n_messages, sizeof *msgs);
	if (!msgs)
		return err_set(err, "out of memory");
	for (uint32_t i = 0; i < rq->h.n_messages; i++)
		msgs[i] = (struct chat_message) {rq->str[2 * i], rq->str[2 * i + 1]};
	rc = prompt_tokens_chat(m, msgs, rq->h.n_messages, prompt, err);
	free(msgs);
	return rc;
}

static int
detokenize(const struct model *m, const struct request *rq, struct text_buf *text, char *err)
{
	int32_t		n_vocab = tokenizer_n_vocab(m->tok);
	struct detokenizer d;

	for (uint32_t i = 0; i < rq->h.n_ids; i++)
		if (rq->ids[i] < 0 || rq->ids[i] >= n_vocab)
			return err_set(err, "token id %d is out of range: valid ids are 0 to %d",
						   rq->ids[i], n_vocab - 1);
	detokenizer_init(&d, m->tok, true);
	for (uint32_t i = 0; i < rq->h.n_ids; i++)
		detokenizer_push(&d, rq->ids[i], text);
	detokenizer_flush(&d, text);
	return 0;
}

/*
 * An embedding input over the model's limit: an error, or with
 * DR1_FLAG_TRUNCATE its first tokens, ending as the whole input ends (a
 * BERT input keeps its [SEP]).
 */
static int
embed_input(const struct model *m, const struct request *rq, const char *text,
			struct token_list *ids, uint32_t *code, char *err)
{
	int32_t		max = embed_max_tokens(m);

	if (embed_tokenize(m, text, strlen(text), ids, err) != 0)
		return -1;
	if ((int64_t) ids->n <= max)
		return 0;
	if (!(rq->h.flags & DR1_FLAG_TRUNCATE))
	{
		*code = DR1_ERR_TOO_LONG;
		return err_set(err, "the input has %zu tokens; the embedding model takes at most %d",
					   ids->n, max);
	}
	embed_truncate(m, ids, max);
	return 0;
}

/* The chunks of a CHUNK request, as (start, end) pairs in ids. */
static int
chunk_request(const struct model *m, const struct request *rq, const char *text,
			  struct token_list *ids, char *err)
{
	struct chunk_span *spans;
	int32_t		n;

	if (chunk_text(m, text, strlen(text), rq->h.max_tokens, rq->h.chunk_overlap, &spans, &n,
				   err) != 0)
		return -1;
	for (int32_t i = 0; i < n; i++)
	{
		token_list_push(ids, spans[i].start);
		token_list_push(ids, spans[i].end);
	}
	free(spans);
	return 0;
}

/* The offload job: a request's tokenizing. */
static void
prepare(struct offload_job *job)
{
	struct pending *p = (struct pending *) job;
	const struct model *m = p->s->m;
	const struct request *rq = &p->rq;
	const char *text = rq->h.n_messages == 1 ? rq->str[1] : "";
	bool		embedding = p->s->embedding;

	p->code = DR1_ERR_ARGUMENT;
	if (rq->h.kind == DR1_REQ_TOKENIZE)
		p->rc = tokenizer_encode(m->tok, text, strlen(text), false, &p->ids, p->err);
	else if (rq->h.kind == DR1_REQ_DETOKENIZE)
		p->rc = detokenize(m, rq, &p->text, p->err);
	else if (embedding != (rq->h.kind == DR1_REQ_EMBED || rq->h.kind == DR1_REQ_CHUNK))
		p->rc = err_set(p->err, embedding ? "the embedding model does not generate text"
						: "the generation model does not serve embeddings");
	else if (rq->h.kind == DR1_REQ_EMBED)
		p->rc = embed_input(m, rq, text, &p->ids, &p->code, p->err);
	else if (rq->h.kind == DR1_REQ_CHUNK)
		p->rc = chunk_request(m, rq, text, &p->ids, p->err);
	else
		p->rc = request_prompt(m, rq, &p->ids, p->err);
}

/* ---- back on the main loop ----------------------------------------------- */

static uint32_t
wire_finish(enum finish_reason f)
{
	if (f == FINISH_LENGTH)
		return DR1_FINISH_LENGTH;
	return f == FINISH_CANCEL ? DR1_FINISH_CANCEL : DR1_FINISH_STOP;
}

static void
send_completion(struct server *s, const struct pending *p, const struct gen_result *r)
{
	struct text_buf content = {0};
	struct text_buf reasoning = {0};

	chat_split_reasoning(r->text.s ? r->text.s : "", r->text.len, false, &reasoning, &content);
	send_done(s, p->id, p->received, &(struct dr1_done) {
			  .finish = wire_finish(r->finish), .n_prompt = r->n_prompt,
			  .n_generated = (int32_t) r->tokens.n,
			  .prefill_seconds = r->prefill_seconds,
			  .decode_seconds = r->decode_seconds},
			  NULL, NULL, &r->text, &content, &reasoning);
	text_buf_free(&content);
	text_buf_free(&reasoning);
}

static bool
on_event(void *ctx, struct sched_request *req, enum sched_event ev, struct gen_result *r,
		 const char *error)
{
	struct server *s = ctx;
	struct pending *p = sched_request_user(req);

	if (ev == SCHED_TOKEN)
	{
		send_int(s, DR1_TOKEN, p->id, (int32_t) r->tokens.n);
		return true;
	}
	if (ev == SCHED_PREFILL)
	{
		send_int(s, DR1_PREFILLED, p->id, sched_request_prefilled(req));
		return true;
	}
	if (ev == SCHED_DONE)
		send_completion(s, p, r);
	else
		send_error(s, p->id, ev == SCHED_TOO_LONG ? DR1_ERR_TOO_LONG : DR1_ERR_ENGINE, error);
	pending_free(s, p);
	return true;
}

/* Hand a tokenized completion to the scheduler; false if it was refused
 * (and answered). */
static bool
submit_complete(struct server *s, struct pending *p)
{
	char		err[ERR_MAX];
	struct gen_params gp = {0};
	const struct request *rq = &p->rq;

	if ((int64_t) p->ids.n >= s->ic->n_ctx)
	{
		snprintf(err, sizeof err, "the prompt has %zu tokens; the context length is %d",
				 p->ids.n, s->ic->n_ctx);
		send_error(s, p->id, DR1_ERR_TOO_LONG, err);
		return false;
	}
	sampler_params_default(&gp.sampling);
	gp.sampling.temperature = rq->h.temperature;
	gp.sampling.top_p = rq->h.top_p;
	gp.sampling.top_k = rq->h.top_k;
	gp.sampling.seed = rq->h.seed;
	/* a choice ends by itself; max_tokens must not cut it short */
	gp.max_tokens = rq->h.n_choices > 0 ? INT32_MAX : rq->h.max_tokens;
	gp.stops = (const char *const *) rq->str + 2 * rq->h.n_messages;
	gp.n_stops = rq->h.n_stops;
	gp.choices = gp.stops + rq->h.n_stops;
	gp.n_choices = rq->h.n_choices;
	if (rq->h.flags & DR1_FLAG_SCHEMA)
	{
		gp.schema = gp.choices[gp.n_choices];
		gp.schema_len = strlen(gp.schema);
	}
	gp.sparse = (struct sparse_config) {rq->h.sparse_budget, rq->h.sparse_min_context};
	p->req = scheduler_submit(s->sched, &p->ids, &gp, p, err);
	if (!p->req)
	{
		send_error(s, p->id, DR1_ERR_ARGUMENT, err);
		return false;
	}
	send_int(s, DR1_STARTED, p->id, (int32_t) p->ids.n);
	return true;
}

/* A request is back from the offload thread: answer it, or go on to the
 * scheduler. */
static void
prepared(struct server *s, struct pending *p)
{
	struct text_buf none = {0};

	if (p->canceled)
		send_error(s, p->id, DR1_ERR_CANCELED, "the request was canceled");
	else if (p->rc != 0)
		send_error(s, p->id, p->code, p->err);
	else if (p->rq.h.kind == DR1_REQ_TOKENIZE || p->rq.h.kind == DR1_REQ_CHUNK)
		send_done(s, p->id, p->received, &(struct dr1_done) {.n_ids = (uint32_t) p->ids.n},
				  p->ids.ids, NULL, &none, &none, &none);
	else if (p->rq.h.kind == DR1_REQ_DETOKENIZE)
		send_done(s, p->id, p->received, &(struct dr1_done) {0}, NULL, NULL, &p->text, &p->text,
				  &none);
	else if (p->rq.h.kind == DR1_REQ_EMBED)
	{
		*s->ready_tail = p;
		s->ready_tail = &p->next_ready;
		return;
	}
	else if (submit_complete(s, p))
		return;
	pending_free(s, p);
}

/* The ready embeds of one pass, taken off the queue: canceled ones are
 * answered as such and dropped.  Returns how many are in batch. */
static int
take_embed_batch(struct server *s, struct pending **batch)
{
	int			n = 0;
	size_t		tokens = 0;

	while (s->ready && n < DR1_EMBED_BATCH &&
		   (n == 0 || tokens + s->ready->ids.n <= EMBED_BATCH_TOKENS))
	{
		struct pending *p = s->ready;

		s->ready = p->next_ready;
		if (!s->ready)
			s->ready_tail = &s->ready;
		if (p->canceled)
		{
			send_error(s, p->id, DR1_ERR_CANCELED, "the request was canceled");
			pending_free(s, p);
			continue;
		}
		tokens += p->ids.n;
		batch[n++] = p;
	}
	return n;
}

/* Embed one batch of the ready inputs and answer each. */
static void
embed_step(struct server *s)
{
	struct pending *batch[DR1_EMBED_BATCH];
	struct token_list inputs[DR1_EMBED_BATCH];
	int			n = take_embed_batch(s, batch);
	int			dim = embed_dim(s->m);
	float	   *out;
	char		err[ERR_MAX];
	struct text_buf none = {0};

	if (n == 0)
		return;
	for (int i = 0; i < n; i++)
		inputs[i] = batch[i]->ids;
	out = xmalloc((size_t) n * dim * sizeof(float));
	if (embed_batch(s->ic, inputs, n, out, err) != 0)
		for (int i = 0; i < n; i++)
			send_error(s, batch[i]->id, DR1_ERR_ENGINE, err);
	else
		for (int i = 0; i < n; i++)
			send_done(s, batch[i]->id, batch[i]->received, &(struct dr1_done) {
					  .finish = DR1_FINISH_STOP, .n_prompt = (int32_t) batch[i]->ids.n,
					  .n_floats = (uint32_t) dim},
					  NULL, out + (size_t) i * dim, &none, &none, &none);
	free(out);
	for (int i = 0; i < n; i++)
		pending_free(s, batch[i]);
}

static void
handle_submit(struct server *s, uint64_t id, const char *payload, uint32_t len)
{
	struct pending *p = calloc(1, sizeof *p);

	if (!p)
	{
		send_error(s, id, DR1_ERR_ENGINE, "out of memory");
		return;
	}
	p->s = s;
	p->id = id;
	p->received = clock_seconds();
	p->next = s->pending;
	s->pending = p;
	if (!parse_request(payload, len, &p->rq))
	{
		send_error(s, id, DR1_ERR_ENGINE, "malformed request");
		pending_free(s, p);
		return;
	}
	p->job.run = prepare;
	offload_push(s->offload, &p->job);
}

static void
cancel(struct server *s, uint64_t id)
{
	for (struct pending *p = s->pending; p; p = p->next)
		if (p->id == id && p->req)
			scheduler_cancel(s->sched, p->req);
		else if (p->id == id)
			p->canceled = true;
}

/* Handle every complete frame in the input buffer. */
static void
parse_input(struct server *s)
{
	struct dr1_frame h;
	const char *payload;
	enum dr1_in_result r;

	while ((r = dr1_in_next(&s->in, &h, &payload)) != DR1_IN_NONE)
	{
		if (r == DR1_IN_TOO_LONG && h.type == DR1_SUBMIT)
		{
			char		msg[128];

			snprintf(msg, sizeof msg, "the request is %u bytes, more than the limit of %u bytes",
					 h.len, DR1_FRAME_MAX);
			send_error(s, h.id, DR1_ERR_TOO_LONG, msg);
		}
		else if (r == DR1_IN_FRAME && h.type == DR1_SUBMIT)
			handle_submit(s, h.id, payload, h.len);
		else if (r == DR1_IN_FRAME && h.type == DR1_CANCEL)
			cancel(s, h.id);
	}
}

/*
 * Wait up to timeout_ms (-1: for ever) for the socket or the offload
 * thread, then read what came, take back finished jobs (unless collect is
 * false: the output queue is long) and write what the socket takes.
 */
static void
pump(struct server *s, int timeout_ms, bool collect)
{
	struct pollfd p[2] = {
		{s->fd, POLLIN | (dr1_outq_pending(&s->out) ? POLLOUT : 0), 0},
		{offload_fd(s->offload), collect ? POLLIN : 0, 0},
	};
	struct offload_job *j;

	if (poll(p, 2, timeout_ms) < 0)
	{
		if (errno != EINTR)
			s->eof = true;
		return;
	}
	if (p[0].revents & ~POLLOUT)
	{
		if (dr1_in_read(&s->in, s->fd, READ_MAX) < 0)
		{
			if (errno == ENOMEM)
				s->out_of_memory = true;
			s->eof = true;
			return;
		}
		parse_input(s);
	}
	while (collect && (j = offload_pop_done(s->offload)) != NULL)
		prepared(s, (struct pending *) j);
	if (dr1_outq_write(&s->out, s->fd) < 0)
		s->eof = true;
}

/* Write everything queued before exiting, for a bounded time. */
static void
drain(struct server *s)
{
	for (int tries = 0; tries < 50 && dr1_outq_pending(&s->out) && !s->eof; tries++)
	{
		struct pollfd p = {s->fd, POLLOUT, 0};

		(void) poll(&p, 1, 100);
		if (dr1_outq_write(&s->out, s->fd) < 0)
			break;
	}
}

/* Where the passes run, as model_info() shows it. */
static void
device_json(FILE *out, const struct infer_ctx *ic)
{
	const char *device = ic->gpu ? ic->gpu->describe(ic->gpu_state) : "cpu";

	fprintf(out, ",\"device\":");
	json_string(out, device, strlen(device));
	fprintf(out, ",\"device_note\":");
	json_string(out, ic->device_note, strlen(ic->device_note));
}

/* An embedding model's description for model_info(), as JSON. */
static char *
embedding_json(const struct server *s, const struct serve_opts *o)
{
	const struct model *m = s->m;
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *out = open_memstream(&buf, &len);

	fprintf(out, "{\"architecture\":\"%s\",\"name\":", m->arch->name);
	json_string(out, m->name ? m->name : "", m->name ? strlen(m->name) : 0);
	fprintf(out, ",\"parameters\":%lld,\"file_size\":%llu,\"embedding_length\":%d,"
			"\"pooling\":\"%s\",\"max_tokens\":%d,\"n_vocab\":%d,\"n_layer\":%d",
			(long long) m->n_params, (unsigned long long) gguf_file_size(m->file), embed_dim(m),
			pooling_name(embed_pooling(m)), embed_max_tokens(m), m->hp.n_vocab, m->hp.n_layer);
	device_json(out, s->ic);
	fprintf(out, ",\"threads\":%d}", o->threads);
	fclose(out);
	return buf;
}

/* The model description the worker shows in model_info(), as JSON. */
static char *
model_json(const struct server *s, const struct serve_opts *o)
{
	const struct model *m = s->m;
	const struct hparams *hp = &m->hp;
	struct gguf_str pre = {"", 0};
	int64_t		count[DTYPE_COUNT] = {0};
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *out = open_memstream(&buf, &len);
	bool		first = true;

	gguf_get_str(m->file, "tokenizer.ggml.pre", &pre);
	fprintf(out, "{\"architecture\":\"%s\",\"name\":", m->arch->name);
	json_string(out, m->name ? m->name : "", m->name ? strlen(m->name) : 0);
	fprintf(out, ",\"parameters\":%lld,\"file_size\":%llu,\"tensor_types\":{",
			(long long) m->n_params, (unsigned long long) gguf_file_size(m->file));
	for (uint64_t i = 0; i < gguf_tensor_count(m->file); i++)
		if (gguf_tensor_at(m->file, i)->type < DTYPE_COUNT)
			count[gguf_tensor_at(m->file, i)->type]++;
	for (int t = 0; t < DTYPE_COUNT; t++)
		if (count[t])
		{
			fprintf(out, "%s\"%s\":%lld", first ? "" : ",", dtype_name(t), (long long) count[t]);
			first = false;
		}
	fprintf(out, "},\"context_length\":%d,\"context_length_train\":%d,\"n_vocab\":%d,"
			"\"n_layer\":%d,\"n_head\":%d,\"n_head_kv\":%d,\"embedding_length\":%d,"
			"\"chat_template\":\"%s\",\"tokenizer_pre\":",
			s->ic->n_ctx, hp->n_ctx_train, hp->n_vocab, hp->n_layer, hp->n_head,
			hp->n_head_kv, hp->n_embd, chat_style_name(m->chat));
	json_string(out, pre.ptr, pre.len);
	device_json(out, s->ic);
	fprintf(out, ",\"threads\":%d,\"max_batch\":%d,\"prefix_sharing\":%s,\"kv_cache_bytes\":%llu,"
			"\"kv_cache_type\":\"%s\",\"kv_cache_tokens\":%lld}",
			o->threads, o->max_batch, o->prefix_sharing ? "true" : "false",
			(unsigned long long) s->ic->kv->n_blocks
			* infer_kv_block_bytes(m, s->ic->kv->type),
			kv_type_name(s->ic->kv->type), (long long) s->ic->kv->n_blocks * KV_BLOCK_TOKENS);
	fclose(out);
	return buf;
}

/* The KV pool: --kv-bytes, else room for max_batch sequences of the whole
 * context. */
static size_t
kv_bytes(const struct model *m, const struct serve_opts *o)
{
	const struct hparams *hp = &m->hp;
	int64_t		n_ctx = o->ctx > 0 ? o->ctx : hp->n_ctx_train;

	if (o->kv_bytes > 0)
		return (size_t) o->kv_bytes;
	return (size_t) o->max_batch * ((n_ctx + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS)
		* infer_kv_block_bytes(m, o->kv_type);
}

/* Send the scheduler's figures when they changed: at once when it is idle
 * (or force), else at most every DR1_STATS_INTERVAL_MS; and, as a
 * heartbeat, at least every HEARTBEAT_SECONDS while requests are held. */
static void
send_stats(struct server *s, bool force)
{
	struct sched_stats st;
	struct dr1_stats d;
	double		now = clock_seconds();

	if (s->sched)
		scheduler_stats(s->sched, &st);
	else
		st = (struct sched_stats) {0};
	d = (struct dr1_stats) {
		.kv_blocks_used = st.kv_blocks_used, .kv_blocks_total = st.kv_blocks_total,
		.waiting = st.waiting, .running = st.running,
		.prompt_tokens = st.prompt_tokens, .prefill_tokens = st.prefill_tokens,
		.generated_tokens = st.generated_tokens, .preemptions = st.preemptions};
	if (!force && !(s->pending && now - s->stats_at >= HEARTBEAT_SECONDS))
	{
		if (memcmp(&d, &s->stats_sent, sizeof d) == 0)
			return;
		if (s->sched && !scheduler_idle(s->sched) &&
			now - s->stats_at < DR1_STATS_INTERVAL_MS / 1000.0)
			return;
	}
	send_frame(s, DR1_STATS, 0, &d, sizeof d);
	s->stats_sent = d;
	s->stats_at = now;
}

/* Between the layers of a pass: the heartbeat, written at once (the loop
 * that usually writes waits for the pass), so that a long pass is not
 * taken for a stuck engine.  A write error is the loop's to see. */
static void
heartbeat(void *arg)
{
	struct server *s = arg;

	send_stats(s, false);
	(void) dr1_outq_write(&s->out, s->fd);
}

/* The embedding model's inference context: passes of a batch of inputs,
 * no KV cache beyond one input's.  On the CPU: the CUDA backend has no
 * encoder yet. */
static struct infer_ctx *
embedding_ctx(struct model *m, const struct serve_opts *o, char *err)
{
	int32_t		max = embed_max_tokens(m);

	return infer_new(m, &(struct infer_config) {
		.n_threads = o->threads, .n_ctx = max,
		.max_batch_tokens = max > EMBED_BATCH_TOKENS ? max : EMBED_BATCH_TOKENS,
		.device = INFER_DEVICE_CPU}, err);
}

/* Load the model; tell the worker how it went.  0 when ready. */
static int
load(struct server *s, const struct serve_opts *o)
{
	char		err[ERR_MAX];
	char	   *json;
	enum infer_device device = INFER_DEVICE_AUTO;

	if (o->protocol != DR1_PROTOCOL_VERSION)
		snprintf(err, sizeof err, "the worker speaks protocol version %d, this program version %d: "
				 "install the module and the program from the same build", o->protocol,
				 DR1_PROTOCOL_VERSION);
	else if (o->device && device_parse(o->device, &device) != 0)
		snprintf(err, sizeof err, "device \"%s\" is not auto, cpu or cuda", o->device);
	else if (s->embedding)
	{
		if ((s->m = model_load(o->model, err)) != NULL &&
			(s->offload = offload_new(err)) != NULL &&
			(s->ic = embedding_ctx(s->m, o, err)) != NULL)
		{
			json = embedding_json(s, o);
			send_frame(s, DR1_READY, 0, json, strlen(json));
			free(json);
			send_stats(s, true);
			return 0;
		}
	}
	else if ((s->m = model_load(o->model, err)) != NULL &&
			 (s->offload = offload_new(err)) != NULL &&
			 (s->ic = infer_new(s->m, &(struct infer_config) {
				 .n_threads = o->threads, .n_ctx = o->ctx,
				 .max_batch_tokens = SCHED_PROMPT_CHUNK + o->max_batch,
				 .kv_bytes = kv_bytes(s->m, o), .kv_type = o->kv_type,
				 .device = device, .gpu_ops = &cuda_backend_ops}, err)) != NULL &&
			 (s->sched = scheduler_new(s->ic, &(struct scheduler_config) {
				 .max_seqs = o->max_batch, .prefix_sharing = o->prefix_sharing,
				 .on_event = on_event, .on_event_ctx = s}, err)) != NULL)
	{
		s->ic->heartbeat = heartbeat;
		s->ic->heartbeat_arg = s;
		json = model_json(s, o);
		send_frame(s, DR1_READY, 0, json, strlen(json));
		free(json);
		send_stats(s, true);
		return 0;
	}
	send_frame(s, DR1_LOAD_FAILED, 0, err, strlen(err));
	drain(s);
	return -1;
}

/* Take the next scheduler step, or wait for something to do. */
static void
serve_loop(struct server *s)
{
	while (!s->eof)
	{
		char		err[ERR_MAX];
		bool		room = dr1_outq_pending(&s->out) < OUT_QUEUE_HIGH;
		bool		step = room && (s->sched ? !scheduler_idle(s->sched) : s->ready != NULL);

		pump(s, step ? 0 : s->pending ? (int) (HEARTBEAT_SECONDS * 1000) : -1, room);
		/* an engine fault fails only the requests it hit: they were told */
		if (step && !s->eof && s->sched)
			scheduler_step(s->sched, err);
		else if (step && !s->eof)
			embed_step(s);
		send_stats(s, false);
	}
}

int
cmd_serve(int argc, char **argv)
{
	struct serve_opts o = SERVE_OPTS_INIT;
	struct server s = {0};

	/* the worker sees failures on the socket; signals from the postmaster's
	 * process group (reload, notifications) are not for us */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	if (serve_parse_opts(argc, argv, &o) != 0)
		return 2;
	s.fd = o.fd;
	s.embedding = o.embedding;
	s.ready_tail = &s.ready;
	if (load(&s, &o) != 0)
		return 1;
	serve_loop(&s);
	if (s.out_of_memory)
		fprintf(stderr, "deepseek-r1 serve: out of memory for the connection buffers\n");
	/* the thread may still use the model and a request: stop it first */
	offload_free(s.offload);
	scheduler_free(s.sched);
	while (s.pending)
		pending_free(&s, s.pending);
	infer_free(s.ic);
	model_free(s.m);
	dr1_in_free(&s.in);
	dr1_outq_free(&s.out);
	return s.out_of_memory ? 1 : 0;
}
