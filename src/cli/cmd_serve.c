/*
 * cmd_serve.c — `deepseek-r1 serve`: the engine process of the extension.
 *
 *   deepseek-r1 serve --fd N --protocol V -m FILE [-t THREADS] [-c CTX]
 *                     [--kv-bytes B] [--max-batch N] [--prefix-sharing on|off]
 *                     [--device auto|cpu|cuda]
 *
 * The background worker starts this program with one end of a socketpair
 * as fd N and speaks protocol.h over it.  The model is loaded once; then
 * completions go to one continuous-batching scheduler as they arrive (up
 * to --max-batch of them run together) and tokenize requests are answered
 * at once.  Between two scheduler steps the socket is read without
 * blocking, so a CANCEL stops its request at the next step; when nothing
 * runs the program waits on the socket.  The scheduler's counters go to
 * the worker in STATS frames (protocol.h says when).  End of file on the
 * socket (the worker went away) ends the program.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "cli.h"
#include "cuda_backend.h"
#include "error.h"
#include "generate.h"
#include "gguf.h"
#include "prompt.h"
#include "protocol.h"
#include "scheduler.h"

struct serve_opts
{
	int			fd;
	const char *model;
	const char *device;
	int			threads;
	int32_t		ctx;
	long long	kv_bytes;
	int			max_batch;
	int			protocol;
	bool		prefix_sharing;
};

/* The request's strings, copied NUL-terminated into one allocation. */
struct request
{
	struct dr1_submit h;
	char	  **str;			/* messages (role, content pairs), stops, choices */
	int32_t    *ids;
	char	   *arena;
};

/* A completion in the scheduler; its stop strings live in rq. */
struct pending
{
	struct pending *next;
	uint64_t	id;
	double		received;
	struct request rq;
	struct sched_request *req;
};

struct server
{
	int			fd;
	struct model *m;
	struct infer_ctx *ic;
	struct scheduler *sched;
	char	   *in;				/* bytes read but not yet parsed */
	size_t		in_len;
	size_t		in_cap;
	struct pending *pending;
	bool		eof;
	struct dr1_stats stats_sent;	/* the last STATS frame */
	double		stats_at;		/* when it was sent */
};

static void
send_frame(struct server *s, uint32_t type, uint64_t id, const void *payload, size_t len)
{
	struct dr1_frame h = {(uint32_t) len, type, id};
	char	   *buf = malloc(sizeof h + len);
	size_t		done = 0;

	memcpy(buf, &h, sizeof h);
	if (len)
		memcpy(buf + sizeof h, payload, len);
	while (done < sizeof h + len && !s->eof)
	{
		ssize_t		w = write(s->fd, buf + done, sizeof h + len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			s->eof = true;		/* the worker is gone: stop quietly */
		else
			done += (size_t) w;
	}
	free(buf);
}

static void
put_str(struct text_buf *b, const char *s, size_t len)
{
	uint32_t	n = (uint32_t) len;

	text_buf_append(b, (const char *) &n, sizeof n);
	text_buf_append(b, s ? s : "", len);
}

static void
send_error(struct server *s, uint64_t id, uint32_t code, const char *msg)
{
	struct text_buf b = {0};

	text_buf_append(&b, (const char *) &code, sizeof code);
	text_buf_append(&b, msg, strlen(msg));
	send_frame(s, DR1_ERROR, id, b.s, b.len);
	text_buf_free(&b);
}

static void
send_int(struct server *s, uint32_t type, uint64_t id, int32_t v)
{
	send_frame(s, type, id, &v, sizeof v);
}

static int
parse_request(const char *payload, uint32_t len, struct request *rq, char *err)
{
	struct dr1_cursor c;
	uint32_t	n_str;
	char	   *a;

	memset(rq, 0, sizeof *rq);
	dr1_cursor_init(&c, payload, len);
	if (!dr1_get(&c, &rq->h, sizeof rq->h) || rq->h.n_messages > len || rq->h.n_stops > len ||
		rq->h.n_choices > len)
		return err_set(err, "malformed request");
	n_str = rq->h.n_messages * 2 + rq->h.n_stops + rq->h.n_choices;
	rq->str = calloc(n_str + 1, sizeof(char *));
	a = rq->arena = malloc(len + n_str + 1);
	for (uint32_t i = 0; i < n_str; i++)
	{
		const char *p;
		uint32_t	slen;

		if (!dr1_get_str(&c, &p, &slen))
			return err_set(err, "malformed request");
		memcpy(a, p, slen);
		a[slen] = '\0';
		rq->str[i] = a;
		a += slen + 1;
	}
	if ((size_t) (c.end - c.p) != (size_t) rq->h.n_ids * sizeof(int32_t))
		return err_set(err, "malformed request");
	/* copied: the frame is not aligned in the input buffer */
	rq->ids = malloc(rq->h.n_ids * sizeof(int32_t) + 1);
	memcpy(rq->ids, c.p, rq->h.n_ids * sizeof(int32_t));
	return 0;
}

static void
request_free(struct request *rq)
{
	free(rq->str);
	free(rq->ids);
	free(rq->arena);
}

static void
send_done(struct server *s, uint64_t id, double received, struct dr1_done *d,
		  const int32_t *ids, const struct text_buf *text, const struct text_buf *content,
		  const struct text_buf *reasoning)
{
	struct text_buf b = {0};

	d->engine_seconds = clock_seconds() - received;
	text_buf_append(&b, (const char *) d, sizeof *d);
	if (d->n_ids)
		text_buf_append(&b, (const char *) ids, d->n_ids * sizeof(int32_t));
	put_str(&b, text->s, text->len);
	put_str(&b, content->s, content->len);
	put_str(&b, reasoning->s, reasoning->len);
	send_frame(s, DR1_DONE, id, b.s, b.len);
	text_buf_free(&b);
}

static void
run_tokenize(struct server *s, uint64_t id, double received, const struct request *rq)
{
	char		err[ERR_MAX];
	struct token_list ids = {0};
	struct text_buf none = {0};
	const char *text = rq->h.n_messages == 1 ? rq->str[1] : "";

	if (tokenizer_encode(s->m->tok, text, strlen(text), false, &ids, err) != 0)
		send_error(s, id, DR1_ERR_ARGUMENT, err);
	else
		send_done(s, id, received, &(struct dr1_done) {.n_ids = (uint32_t) ids.n}, ids.ids,
				  &none, &none, &none);
	token_list_free(&ids);
}

static void
run_detokenize(struct server *s, uint64_t id, double received, const struct request *rq)
{
	int32_t		n_vocab = tokenizer_n_vocab(s->m->tok);
	struct detokenizer d;
	struct text_buf text = {0};
	struct text_buf none = {0};

	for (uint32_t i = 0; i < rq->h.n_ids; i++)
		if (rq->ids[i] < 0 || rq->ids[i] >= n_vocab)
		{
			char		msg[128];

			snprintf(msg, sizeof msg, "token id %d is out of range: valid ids are 0 to %d",
					 rq->ids[i], n_vocab - 1);
			send_error(s, id, DR1_ERR_ARGUMENT, msg);
			return;
		}
	detokenizer_init(&d, s->m->tok, true);
	for (uint32_t i = 0; i < rq->h.n_ids; i++)
		detokenizer_push(&d, rq->ids[i], &text);
	detokenizer_flush(&d, &text);
	send_done(s, id, received, &(struct dr1_done) {0}, NULL, &text, &text, &none);
	text_buf_free(&text);
}

static int
request_prompt(const struct server *s, const struct request *rq, struct token_list *prompt,
			   char *err)
{
	struct chat_message *msgs;
	int			rc;

	if (rq->h.n_messages == 0)
		return err_set(err, "the request has no message");
	if (rq->h.flags & DR1_FLAG_RAW)
		return prompt_tokens(s->m, rq->str[1], NULL, true, prompt, err);
	msgs = calloc(rq->h.n_messages, sizeof *msgs);
	for (uint32_t i = 0; i < rq->h.n_messages; i++)
		msgs[i] = (struct chat_message) {rq->str[2 * i], rq->str[2 * i + 1]};
	rc = prompt_tokens_chat(s->m, msgs, rq->h.n_messages, prompt, err);
	free(msgs);
	return rc;
}

static uint32_t
wire_finish(enum finish_reason f)
{
	if (f == FINISH_LENGTH)
		return DR1_FINISH_LENGTH;
	return f == FINISH_CANCEL ? DR1_FINISH_CANCEL : DR1_FINISH_STOP;
}

static void
pending_free(struct server *s, struct pending *p)
{
	struct pending **pp = &s->pending;

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	request_free(&p->rq);
	free(p);
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
			  NULL, &r->text, &content, &reasoning);
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
	if (ev == SCHED_DONE)
		send_completion(s, p, r);
	else
		send_error(s, p->id, DR1_ERR_ENGINE, error);
	pending_free(s, p);
	return true;
}

/* Hand a completion to the scheduler, or answer it with an error and free p. */
static void
submit_complete(struct server *s, struct pending *p)
{
	char		err[ERR_MAX];
	struct token_list prompt = {0};
	struct gen_params gp = {0};
	const struct request *rq = &p->rq;

	if (request_prompt(s, rq, &prompt, err) != 0)
		send_error(s, p->id, DR1_ERR_ARGUMENT, err);
	else if ((int64_t) prompt.n >= s->ic->n_ctx)
	{
		snprintf(err, sizeof err, "the prompt has %zu tokens; the context length is %d",
				 prompt.n, s->ic->n_ctx);
		send_error(s, p->id, DR1_ERR_TOO_LONG, err);
	}
	else
	{
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
		p->req = scheduler_submit(s->sched, &prompt, &gp, p, err);
		if (p->req)
			send_int(s, DR1_STARTED, p->id, (int32_t) prompt.n);
		else
			send_error(s, p->id, DR1_ERR_ARGUMENT, err);
	}
	token_list_free(&prompt);
	if (p->req)
	{
		p->next = s->pending;
		s->pending = p;
	}
	else
	{
		request_free(&p->rq);
		free(p);
	}
}

static void
handle_submit(struct server *s, uint64_t id, const char *payload, uint32_t len)
{
	char		err[ERR_MAX];
	struct pending *p = calloc(1, sizeof *p);

	p->id = id;
	p->received = clock_seconds();
	if (parse_request(payload, len, &p->rq, err) != 0)
		send_error(s, id, DR1_ERR_ENGINE, err);
	else if (p->rq.h.kind == DR1_REQ_COMPLETE)
	{
		submit_complete(s, p);
		return;
	}
	else if (p->rq.h.kind == DR1_REQ_TOKENIZE)
		run_tokenize(s, id, p->received, &p->rq);
	else if (p->rq.h.kind == DR1_REQ_DETOKENIZE)
		run_detokenize(s, id, p->received, &p->rq);
	else
		send_error(s, id, DR1_ERR_ENGINE, "unknown request kind");
	request_free(&p->rq);
	free(p);
}

static void
cancel(struct server *s, uint64_t id)
{
	for (struct pending *p = s->pending; p; p = p->next)
		if (p->id == id)
			scheduler_cancel(s->sched, p->req);
}

/* Handle every complete frame in the input buffer. */
static void
parse_input(struct server *s)
{
	size_t		off = 0;

	while (s->in_len - off >= sizeof(struct dr1_frame))
	{
		struct dr1_frame h;

		memcpy(&h, s->in + off, sizeof h);
		if (h.len > DR1_FRAME_MAX)
		{
			s->eof = true;		/* not our worker: refuse to go on */
			return;
		}
		if (s->in_len - off - sizeof h < h.len)
			break;
		if (h.type == DR1_SUBMIT)
			handle_submit(s, h.id, s->in + off + sizeof h, h.len);
		else if (h.type == DR1_CANCEL)
			cancel(s, h.id);
		off += sizeof h + h.len;
	}
	memmove(s->in, s->in + off, s->in_len - off);
	s->in_len -= off;
}

/* Read what the socket holds; wait for it when block. */
static void
read_input(struct server *s, bool block)
{
	struct pollfd p = {s->fd, POLLIN, 0};

	while (!s->eof && poll(&p, 1, block ? -1 : 0) > 0)
	{
		ssize_t		r;

		if (s->in_cap - s->in_len < 65536)
		{
			s->in_cap = s->in_cap * 2 + 65536;
			s->in = realloc(s->in, s->in_cap);
		}
		r = recv(s->fd, s->in + s->in_len, s->in_cap - s->in_len, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
		{
			s->eof = true;
			return;
		}
		s->in_len += (size_t) r;
		block = false;
	}
	parse_input(s);
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
	fprintf(out, ",\"device\":");
	json_string(out, s->ic->gpu ? s->ic->gpu->describe(s->ic->gpu_state) : "cpu",
				strlen(s->ic->gpu ? s->ic->gpu->describe(s->ic->gpu_state) : "cpu"));
	fprintf(out, ",\"device_note\":");
	json_string(out, s->ic->device_note, strlen(s->ic->device_note));
	fprintf(out, ",\"threads\":%d,\"max_batch\":%d,\"prefix_sharing\":%s,\"kv_cache_bytes\":%llu}",
			o->threads, o->max_batch, o->prefix_sharing ? "true" : "false",
			(unsigned long long) s->ic->kv->n_blocks * kv_block_bytes(hp->n_layer, s->ic->kv->kv_dim));
	fclose(out);
	return buf;
}

static int
parse_serve_opts(int argc, char **argv, struct serve_opts *o)
{
	for (int i = 2; i < argc; i += 2)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			return cli_fail("serve: option %s needs a value", a);
		if (!strcmp(a, "--fd"))
			o->fd = atoi(v);
		else if (!strcmp(a, "-m") || !strcmp(a, "--model"))
			o->model = v;
		else if (!strcmp(a, "--device"))
			o->device = v;
		else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
			o->threads = atoi(v);
		else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
			o->ctx = atoi(v);
		else if (!strcmp(a, "--kv-bytes"))
			o->kv_bytes = atoll(v);
		else if (!strcmp(a, "--max-batch"))
			o->max_batch = atoi(v);
		else if (!strcmp(a, "--protocol"))
			o->protocol = atoi(v);
		else if (!strcmp(a, "--prefix-sharing"))
		{
			if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
				return cli_fail("serve: --prefix-sharing must be on or off");
			o->prefix_sharing = !strcmp(v, "on");
		}
		else
			return cli_fail("serve: unknown option %s", a);
	}
	if (o->fd < 0 || !o->model)
		return cli_fail("serve needs --fd N and -m FILE");
	if (o->max_batch < 1)
		return cli_fail("serve: --max-batch must be at least 1");
	if (o->threads <= 0)
	{
		long		ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		o->threads = ncpu > 0 ? (int) ncpu : 1;
	}
	return 0;
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
		* kv_block_bytes(hp->n_layer, hp->n_head_kv * hp->head_dim);
}

/* Send the scheduler's figures when they changed: at once when it is idle
 * (or force), else at most every DR1_STATS_INTERVAL_MS. */
static void
send_stats(struct server *s, bool force)
{
	struct sched_stats st;
	struct dr1_stats d;
	double		now = clock_seconds();

	scheduler_stats(s->sched, &st);
	d = (struct dr1_stats) {
		.kv_blocks_used = st.kv_blocks_used, .kv_blocks_total = st.kv_blocks_total,
		.waiting = st.waiting, .running = st.running,
		.prompt_tokens = st.prompt_tokens, .prefill_tokens = st.prefill_tokens,
		.generated_tokens = st.generated_tokens, .preemptions = st.preemptions};
	if (!force && memcmp(&d, &s->stats_sent, sizeof d) == 0)
		return;
	if (!force && !scheduler_idle(s->sched) && now - s->stats_at < DR1_STATS_INTERVAL_MS / 1000.0)
		return;
	send_frame(s, DR1_STATS, 0, &d, sizeof d);
	s->stats_sent = d;
	s->stats_at = now;
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
	else if ((s->m = model_load(o->model, err)) != NULL &&
			 (s->ic = infer_new(s->m, &(struct infer_config) {
				 .n_threads = o->threads, .n_ctx = o->ctx,
				 .max_batch_tokens = SCHED_PROMPT_CHUNK + o->max_batch,
				 .kv_bytes = kv_bytes(s->m, o),
				 .device = device, .gpu_ops = &cuda_backend_ops}, err)) != NULL &&
			 (s->sched = scheduler_new(s->ic, &(struct scheduler_config) {
				 .max_seqs = o->max_batch, .prefix_sharing = o->prefix_sharing,
				 .on_event = on_event, .on_event_ctx = s}, err)) != NULL)
	{
		json = model_json(s, o);
		send_frame(s, DR1_READY, 0, json, strlen(json));
		free(json);
		send_stats(s, true);
		return 0;
	}
	send_frame(s, DR1_LOAD_FAILED, 0, err, strlen(err));
	return -1;
}

int
cmd_serve(int argc, char **argv)
{
	struct serve_opts o = {.fd = -1, .max_batch = 1, .prefix_sharing = true};
	struct server s = {0};

	/* the worker sees failures on the socket; signals from the postmaster's
	 * process group (reload, notifications) are not for us */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	if (parse_serve_opts(argc, argv, &o) != 0)
		return 2;
	s.fd = o.fd;
	if (load(&s, &o) != 0)
		return 1;
	while (!s.eof)
	{
		char		err[ERR_MAX];

		read_input(&s, scheduler_idle(s.sched));
		/* an engine fault fails only the requests it hit: they were told */
		if (!s.eof && !scheduler_idle(s.sched))
			scheduler_step(s.sched, err);
		send_stats(&s, false);
	}
	scheduler_free(s.sched);
	while (s.pending)
		pending_free(&s, s.pending);
	infer_free(s.ic);
	model_free(s.m);
	return 0;
}
